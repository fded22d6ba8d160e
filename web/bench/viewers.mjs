// The engine's extra CPU per dashboard viewer: `orion up` with one stream (the asset video,
// looped, no pipeline), then 0, 1, 4, 16 dashboard pages watching it in headless Chromium;
// orion's CPU (utime + stime from /proc) over each window of W seconds, beside the 0-viewer
// baseline measured in the same run.
//   node web/bench/viewers.mjs ORION_BINARY WEB_ROOT VIDEO [W=15]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [binary, webRoot, video, wArg] = process.argv.slice(2);
const W = Number(wArg || 15);
const work = mkdtempSync(join(tmpdir(), 'orion-web-viewers-'));
writeFileSync(join(work, 'orion.yaml'), `streams:\n  - {name: cam, url: "${video}", loop: true}\n`);
const orion = spawn(binary, ['up', '--db', `sqlite://${join(work, 'v.db')}`, '--config', join(work, 'orion.yaml'), '--http-port', '0', '--rtsp-port', '0', '--quiet', '--web-root', webRoot], { stdio: ['ignore', 'pipe', 'inherit'] });
// A failed run (a timeout throws) must not leave the engine running: stop it whenever node exits.
process.on('exit', () => orion.exitCode === null && orion.signalCode === null && orion.kill('SIGKILL'));
const base = await new Promise((res, rej) => {
  let out = '';
  orion.stdout.on('data', (d) => {
    out += d;
    const m = /orion up: API\s+(http:\/\/[^/\s]+)\/api\/v1/.exec(out);
    if (m) res(m[1]);
  });
  orion.on('exit', () => rej(new Error(out)));
});
const ticks = () => {
  const f = readFileSync(`/proc/${orion.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100 Hz)
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const args = process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [];
const browser = await chromium.launch({ executablePath: process.env.ORION_CHROMIUM || '/usr/bin/chromium', args });
const ctx = await browser.newContext({ viewport: { width: 640, height: 480 } });
const pages = [];
const rows = [];
await sleep(3000); // the stream starts
for (const n of [0, 1, 4, 16]) {
  while (pages.length < n) {
    const p = await ctx.newPage();
    await p.goto(`${base}/`);
    pages.push(p);
  }
  await sleep(3000); // viewers settle
  const c0 = ticks();
  const t0 = Date.now();
  const f0 = await Promise.all(pages.map((p) => p.evaluate(() => Number(document.querySelector('.tile')?.dataset.frames || 0))));
  await sleep(W * 1000);
  const cpu = ((ticks() - c0) / 100 / ((Date.now() - t0) / 1000)) * 100;
  const f1 = await Promise.all(pages.map((p) => p.evaluate(() => Number(document.querySelector('.tile')?.dataset.frames || 0))));
  const fps = pages.length ? f1.reduce((a, b, i) => a + (b - f0[i]), 0) / pages.length / W : 0;
  const mode = pages.length ? await pages[0].evaluate(() => window.orionDashboard.mode('cam')) : null;
  rows.push({ viewers: n, orion_cpu_percent: Number(cpu.toFixed(1)), pictures_per_s_per_viewer: Number(fps.toFixed(1)), mode });
  console.log(JSON.stringify(rows[rows.length - 1]));
}
const baseCpu = rows[0].orion_cpu_percent;
for (const r of rows.slice(1)) console.log(`${r.viewers} viewers: +${(r.orion_cpu_percent - baseCpu).toFixed(1)} % of a core over 0 viewers (${((r.orion_cpu_percent - baseCpu) / r.viewers).toFixed(1)} per viewer), ${r.pictures_per_s_per_viewer} pictures/s each, path ${r.mode}`);
await browser.close();
orion.kill('SIGTERM');
await new Promise((r) => orion.once('exit', r));
rmSync(work, { recursive: true, force: true });
