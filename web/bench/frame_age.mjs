// Frame age at display in headless Chromium, measured per picture by the dashboard itself
// (requestVideoFrameCallback: the frame's capture time, sent with the video, against the time
// the browser presented it): `orion up` with one stream, one dashboard page, W seconds, then the
// tile's p50/p99 over the last minute and the live path it used.
//   node web/bench/frame_age.mjs ORION_BINARY WEB_ROOT URL [W=30]
// e.g. URL = 'test://ball?width=1280&height=720&fps=25' (720p25, no pipeline).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [binary, webRoot, url, wArg] = process.argv.slice(2);
if (!binary || !webRoot || !url) {
  console.error('usage: node web/bench/frame_age.mjs ORION_BINARY WEB_ROOT URL [SECONDS]');
  process.exit(2);
}
const W = Number(wArg || 30);
const work = mkdtempSync(join(tmpdir(), 'orion-web-age-'));
writeFileSync(join(work, 'orion.yaml'), `streams:\n  - {name: cam, url: "${url}", loop: true}\n`);
const orion = spawn(binary, ['up', '--db', `sqlite://${join(work, 'a.db')}`, '--config', join(work, 'orion.yaml'), '--http-port', '0', '--rtsp-port', '0', '--quiet', '--web-root', webRoot], { stdio: ['ignore', 'pipe', 'inherit'] });
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
const args = process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [];
const browser = await chromium.launch({ executablePath: process.env.ORION_CHROMIUM || '/usr/bin/chromium', args });
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await page.goto(`${base}/`);
  const deadline = Date.now() + 20_000;
  while ((await page.evaluate(() => window.orionDashboard?.frameAge('cam')?.count || 0)) === 0) {
    if (Date.now() > deadline) throw new Error('no picture shown within 20 s');
    await page.waitForTimeout(200);
  }
  await page.waitForTimeout(W * 1000);
  const age = await page.evaluate(() => window.orionDashboard.frameAge('cam'));
  const mode = await page.evaluate(() => window.orionDashboard.mode('cam'));
  console.log(JSON.stringify({ url, seconds: W, path: mode, p50_ms: Math.round(age.p50), p99_ms: Math.round(age.p99), pictures: age.count }));
} finally {
  await browser.close();
  orion.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
