// End to end: the dashboard in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) against a real `orion up` started here on an asset video (looped) with a
// YOLOX person pipeline. CTest web_e2e_test, label system.
//
// Checks: the API demands a token (ORION_API_TOKEN): the page asks once and keeps it for the tab
// (a reload does not ask again); the grid shows the stream live and its picture changes; the frame-age figure is
// there and below 1 s; a stream added through the form goes live; a bad URL is refused next
// to the url field; a concurrent edit surfaces the 409; a person-detection event appears;
// deleting the stream removes it; phone-size layout. Screenshots go to $ORION_E2E_ARTIFACTS
// (CTest: <build>/web-e2e). Prints the page's frame-age figures and which live path served them.
//
// Needs Chromium and the assets vtest_480x360.mp4 + yolox_nano.onnx ($ORION_ASSETS or
// ../shared/assets): without them it FAILS when CI=true, else skips (exit 77).
// Never sleeps to synchronise: every step waits on a condition with a deadline; a watchdog
// SIGKILLs orion and ends the test at 150 s.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const CI = process.env.CI === 'true';
const CHROMIUM = process.env.ORION_CHROMIUM || '/usr/bin/chromium';
const started = Date.now();
const TOKEN = `e2e-${process.pid}-${Math.random().toString(36).slice(2)}`;
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);

function skipOrFail(why) {
  if (CI) {
    console.error(`web_e2e_test: ${why} (CI=true: failing)`);
    process.exit(1);
  }
  console.log(`web_e2e_test: SKIPPED: ${why}`);
  process.exit(77);
}

function assetsDir() {
  const candidates = [process.env.ORION_ASSETS, process.env.ORION_SOURCE_DIR && join(process.env.ORION_SOURCE_DIR, '..', 'shared', 'assets'), join('..', 'shared', 'assets')];
  return candidates.filter(Boolean).map((p) => resolve(p)).find((p) => existsSync(p));
}

const binary = process.env.ORION_BINARY;
const webRoot = process.env.ORION_WEB_ROOT;
if (!binary || !existsSync(binary)) {
  console.error(`web_e2e_test: ORION_BINARY (${binary}) is not the orion binary`);
  process.exit(1);
}
if (!existsSync(CHROMIUM)) skipOrFail(`Chromium not found at ${CHROMIUM} (apt-get install chromium)`);
const assets = assetsDir();
const video = assets && join(assets, 'vtest_480x360.mp4');
const model = assets && join(assets, 'yolox_nano.onnx');
if (!video || !existsSync(video) || !existsSync(model)) skipOrFail('test assets vtest_480x360.mp4 / yolox_nano.onnx not found; set ORION_ASSETS');

const { chromium } = await import('playwright-core');
const artifacts = resolve(process.env.ORION_E2E_ARTIFACTS || 'web-e2e');
mkdirSync(artifacts, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'orion-web-e2e-'));
let orion = null;
let browser = null;

const watchdog = setTimeout(() => {
  console.error('web_e2e_test: watchdog: 150 s passed, killing orion');
  if (orion) orion.kill('SIGKILL');
  process.exit(1);
}, 150_000 + Number(process.env.ORION_E2E_HOLD_S || 0) * 1000);

async function until(what, fn, timeoutMs = 20_000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function startOrion() {
  const config = join(work, 'orion.yaml');
  writeFileSync(
    config,
    [
      'streams:',
      `  - {name: lobby, url: "${video}", loop: true}`,
      'models:',
      `  - {name: yolox, kind: yolox, path: "${model}", threads: 1}`,
      'pipelines:',
      '  - {name: people, stream: lobby, model: yolox, sla: critical, min_score: 0.3, classes: [person], events: {min_score: 0.3, min_interval_ms: 200}}',
      '',
    ].join('\n'),
  );
  const args = ['up', '--db', `sqlite://${join(work, 'e2e.db')}`, '--config', config, '--http-port', '0', '--rtsp-port', '0', '--quiet', '--web-root', webRoot];
  log('starting', binary, args.join(' '));
  const env = { ...process.env, ORION_API_TOKEN: TOKEN };
  orion = spawn(binary, args, { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  orion.stderr.on('data', (d) => process.stderr.write(d));
  return new Promise((resolveUrl, reject) => {
    orion.stdout.on('data', (d) => {
      out += d.toString();
      const m = /orion up: API\s+(http:\/\/[^/\s]+)\/api\/v1/.exec(out);
      if (m) resolveUrl(m[1]);
    });
    orion.on('exit', (code, sig) => reject(new Error(`orion up exited (${code ?? sig}) before serving:\n${out}`)));
  });
}

async function shot(page, name) {
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  log('screenshot', path);
}

let failed = false;
try {
  const base = await startOrion();
  log('orion up serves', base);
  const args = typeof process.getuid === 'function' && process.getuid() === 0 ? ['--no-sandbox'] : [];
  browser = await chromium.launch({ executablePath: CHROMIUM, args: [...args, '--autoplay-policy=no-user-gesture-required'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('dialog', (d) => d.accept());
  page.on('pageerror', (e) => log('page error:', e.message));
  const t0 = Date.now();
  await page.goto(`${base}/`);
  // The API demands a token: the page asks once, then keeps it for the tab.
  await page.locator('#token-dialog[open]').waitFor({ timeout: 20_000 });
  await page.locator('#token-input').fill(TOKEN);
  await page.locator('#token-form button[type="submit"]').click();
  await page.waitForSelector('#api-status.up', { timeout: 20_000 });
  log(`page loaded, token given, API answered in ${Date.now() - t0} ms`);
  await page.reload();
  await page.waitForSelector('#api-status.up', { timeout: 20_000 });
  if (await page.locator('#token-dialog[open]').count()) throw new Error('the page asked for the token again after a reload');

  // 1. The grid shows the stream, live, and its picture changes.
  const lobby = page.locator('.tile[data-stream="lobby"]');
  await until('tile lobby live with pictures', async () => (await lobby.getAttribute('data-state')) === 'live' && Number(await lobby.getAttribute('data-frames')) >= 3, 40_000);
  const first = await lobby.locator('.frame').screenshot();
  await until('the picture of lobby to change', async () => !(await lobby.locator('.frame').screenshot()).equals(first), 10_000, 250);
  const mode = await page.evaluate(() => window.orionDashboard.mode('lobby'));
  log(`lobby is live (path: ${mode}) and its picture changes`);
  await shot(page, '1-grid-live');

  // 2. Frame age at display: present, below 1 s.
  const age = await until('a frame-age figure for lobby', async () => {
    const a = await page.evaluate(() => window.orionDashboard.frameAge('lobby'));
    return a && a.count >= 10 ? a : null;
  }, 20_000);
  // The tile's text is redrawn once a second: wait for it to show the figure.
  const ageText = await until('the frame-age figure on the tile', async () => {
    const t = await lobby.locator('.age').textContent();
    return /age p50 \d+ ms/.test(t) ? t : null;
  }, 5000);
  log(`frame age at display (${mode}): p50 ${age.p50.toFixed(0)} ms, p99 ${age.p99.toFixed(0)} ms over ${age.count} pictures; tile says "${ageText}"`);
  if (!(age.p50 < 1000)) throw new Error(`frame age p50 ${age.p50} ms is not below 1 s`);

  // 3. Add a stream through the form; it goes live.
  await page.goto(`${base}/#config`);
  // Tiles not on screen stream nothing.
  await until('no tile streaming while the grid is not shown', async () => (await page.evaluate(() => window.orionDashboard.streaming())).length === 0, 5000);
  const form = page.locator('#form-streams');
  await form.locator('input[name="name"]').fill('cam2');
  await form.locator('input[name="url"]').fill('test://ball?width=320&height=180&fps=10');
  await form.locator('button.save').click();
  await page.locator('#list-streams li[data-name="cam2"]').waitFor({ timeout: 10_000 });
  await page.goto(`${base}/#live`);
  const cam2 = page.locator('.tile[data-stream="cam2"]');
  await until('tile cam2 live with pictures', async () => (await cam2.getAttribute('data-state')) === 'live' && Number(await cam2.getAttribute('data-frames')) >= 2, 30_000);
  log('cam2, added through the form, is live');
  await shot(page, '2-grid-two-streams');

  // 4. A bad URL is refused next to the url field.
  await page.goto(`${base}/#config`);
  await form.locator('input[name="name"]').fill('bad');
  await form.locator('input[name="url"]').fill('http://example.com/cam');
  await form.locator('button.save').click();
  const urlError = form.locator('[data-field="url"] .field-error');
  await until('the url error', async () => /url/i.test((await urlError.textContent()) || ''), 10_000);
  log(`bad URL refused next to the field: "${await urlError.textContent()}"`);
  await shot(page, '3-bad-url');

  // 5. A concurrent edit: the form holds version N, someone else changes the stream, saving
  //    surfaces the 409 and overwrites nothing.
  await page.locator('#list-streams li[data-name="cam2"] button.edit').click();
  const other = await page.evaluate(async () => {
    const auth = { Authorization: `Bearer ${sessionStorage.getItem('orion.token')}` };
    const cur = await (await fetch('/api/v1/streams/cam2', { headers: auth })).json();
    const r = await fetch('/api/v1/streams/cam2', { method: 'PATCH', headers: { ...auth, 'Content-Type': 'application/json', 'If-Match': `"${cur.version}"` }, body: JSON.stringify({ loop: true }) });
    return r.status;
  });
  if (other !== 200) throw new Error(`the concurrent PATCH answered ${other}`);
  await form.locator('input[name="enabled"]').uncheck();
  await form.locator('button.save').click();
  const formError = form.locator('.form-error');
  await until('the 409 on the form', async () => /meanwhile/.test((await formError.textContent()) || ''), 10_000);
  const still = await page.evaluate(async () => (await (await fetch('/api/v1/streams/cam2', { headers: { Authorization: `Bearer ${sessionStorage.getItem('orion.token')}` } })).json()).enabled);
  if (still !== true) throw new Error('the stale form overwrote the concurrent change');
  log(`concurrent edit surfaced: "${await formError.textContent()}"`);

  // 6. A person-detection event appears, with its frame identity.
  await page.goto(`${base}/#events`);
  const ev = page.locator('#events-list .event[data-class-name="person"]').first();
  await ev.waitFor({ timeout: 40_000 });
  log(`person event: "${(await ev.textContent()).replace(/\s+/g, ' ')}"`);
  await shot(page, '4-events');

  // 7. The health view: the pipeline's counters and its SLA class.
  await page.goto(`${base}/#health`);
  const row = page.locator('#health-pipelines tr[data-pipeline="people"]');
  await until('pipeline people with counters', async () => /critical/.test((await row.textContent()) || '') && !/^—$/.test(await row.locator('td').nth(3).textContent()), 10_000);
  await shot(page, '5-health');

  // 8. Delete the stream through the page (reloaded: the list it shows holds cam2's version as
  //    of its last refresh, and the concurrent edit above changed it).
  await page.goto(`${base}/#config`);
  await page.reload();
  await page.locator('#list-streams li[data-name="cam2"]').waitFor({ timeout: 10_000 });
  await page.locator('#list-streams li[data-name="cam2"] button.delete').click();
  await until('cam2 deleted', async () => (await page.locator('#list-streams li[data-name="cam2"]').count()) === 0, 10_000);
  const gone = await page.evaluate(async () => (await fetch('/api/v1/streams/cam2', { headers: { Authorization: `Bearer ${sessionStorage.getItem('orion.token')}` } })).status);
  if (gone !== 404) throw new Error(`GET cam2 after delete answered ${gone}`);
  await page.goto(`${base}/#live`);
  await until('tile cam2 gone', async () => (await page.locator('.tile[data-stream="cam2"]').count()) === 0, 10_000);
  log('cam2 deleted');

  // 9. Phone-size layout: one column, the tile as wide as the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  const box = await until('tile laid out for a phone', async () => {
    const b = await lobby.boundingBox();
    return b && b.width > 300 && b.width <= 390 ? b : null;
  }, 5000);
  log(`phone layout: tile ${Math.round(box.width)} px wide`);
  const before = Number(await lobby.getAttribute('data-frames'));
  await until('lobby streaming on the phone layout', async () => Number(await lobby.getAttribute('data-frames')) >= before + 3, 10_000);
  await shot(page, '6-phone');
  // ORION_E2E_HOLD_S=N: watch the live grid N seconds more for the frame-age figure.
  const hold = Number(process.env.ORION_E2E_HOLD_S || 0);
  if (hold > 0) {
    await page.setViewportSize({ width: 1280, height: 800 });
    const end = Date.now() + hold * 1000;
    await until(`${hold} s of live view`, async () => Date.now() >= end, hold * 1000 + 5000, 500);
  }
  const final = await page.evaluate(() => window.orionDashboard.frameAge('lobby'));
  log(`FIGURE frame age at display (${mode}, last minute): p50 ${final.p50.toFixed(0)} ms p99 ${final.p99.toFixed(0)} ms n=${final.count}`);
} catch (e) {
  failed = true;
  console.error(`web_e2e_test: FAILED: ${e.stack || e}`);
  if (browser) {
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages[0]) await pages[0].screenshot({ path: join(artifacts, 'failure.png') }).catch(() => {});
  }
} finally {
  if (browser) await browser.close().catch(() => {});
  if (orion && orion.exitCode === null) {
    const exited = new Promise((r) => orion.once('exit', r));
    orion.kill('SIGTERM');
    const t = setTimeout(() => orion.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
  clearTimeout(watchdog);
  rmSync(work, { recursive: true, force: true });
}
log(failed ? 'FAILED' : 'passed');
process.exit(failed ? 1 : 0);
