// Page load with many streams: `orion up` with N test-pattern streams (small), the dashboard in
// headless Chromium; prints the time to the first paint of the grid with N tiles, the time until
// every tile on screen shows a picture, and the same after scrolling to the bottom, plus the
// page's long tasks (main thread blocked > 50 ms) meanwhile.
//   node web/bench/page_load.mjs ORION_BINARY WEB_ROOT [N=64]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [binary, webRoot, nArg] = process.argv.slice(2);
const N = Number(nArg || 64);
const work = mkdtempSync(join(tmpdir(), 'orion-web-bench-'));
const lines = ['streams:'];
for (let i = 0; i < N; i++) lines.push(`  - {name: t${String(i).padStart(2, '0')}, url: "test://ball?width=160&height=96&fps=5"}`);
writeFileSync(join(work, 'orion.yaml'), lines.join('\n') + '\n');
const orion = spawn(binary, ['up', '--db', `sqlite://${join(work, 'b.db')}`, '--config', join(work, 'orion.yaml'), '--http-port', '0', '--rtsp-port', '0', '--quiet', '--web-root', webRoot], { stdio: ['ignore', 'pipe', 'inherit'] });
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
async function until(fn, ms = 60000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 50));
  }
}
// Every stream live in the API first, so the figure is the page's, not the engine's start.
await until(async () => {
  const s = await (await fetch(`${base}/api/v1/stats`)).json();
  return s.streams.length === N && s.streams.every((x) => x.state === 'live');
}, 120000);
const args = process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [];
const browser = await chromium.launch({ executablePath: process.env.ORION_CHROMIUM || '/usr/bin/chromium', args });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
await page.addInitScript(() => {
  window.__long = [];
  new PerformanceObserver((l) => window.__long.push(...l.getEntries().map((e) => e.duration))).observe({ type: 'longtask', buffered: true });
});
const t0 = Date.now();
await page.goto(`${base}/`);
await page.waitForFunction((n) => document.querySelectorAll('.tile').length === n, N, { timeout: 60000 });
const tGrid = Date.now() - t0;
const onScreen = () => page.evaluate(() => [...document.querySelectorAll('.tile')].filter((t) => { const r = t.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; }).map((t) => Number(t.dataset.frames || 0)));
await until(async () => (await onScreen()).every((f) => f >= 1));
const tVisible = Date.now() - t0;
const visibleCount = (await onScreen()).length;
const t1 = Date.now();
await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
await until(async () => (await onScreen()).every((f) => f >= 1));
const tScroll = Date.now() - t1;
const streaming = await page.evaluate(() => [...document.querySelectorAll('.tile')].filter((t) => t.tile.view.running).length);
const long = await page.evaluate(() => window.__long);
console.log(JSON.stringify({ streams: N, grid_ms: tGrid, visible_tiles: visibleCount, visible_pictures_ms: tVisible, after_scroll_pictures_ms: tScroll, tiles_streaming_after_scroll: streaming, long_tasks: long.length, longest_task_ms: Math.round(Math.max(0, ...long)), mode: await page.evaluate(() => window.orionDashboard.mode('t63') || window.orionDashboard.mode('t00')) }));
await browser.close();
orion.kill('SIGTERM');
await new Promise((r) => orion.once('exit', r));
rmSync(work, { recursive: true, force: true });
