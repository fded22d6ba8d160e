// Unit tests of the dashboard's pure modules (node --test; CTest web_unit_test, label unit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RollingWindow, RateMeter, percentile, formatMs } from '../src/lib/stats.js';
import { MultipartParser, boundaryOf } from '../src/lib/multipart.js';
import { tileState, pipelineRates, slaMisses, reasonsText, latencyHops, History } from '../src/lib/health.js';
import { FIELDS, bodyFrom, convert, displayValue, fieldOf, placeError } from '../src/lib/forms.js';
import { Api, ApiError, errorFrom, TOKEN_KEY } from '../src/lib/api.js';
import { FrameClock, liveUrl, MJPEG_AT_ONCE, Slots, wsOutcome } from '../src/lib/live.js';

test('percentile is nearest-rank', () => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(v, 50), 50);
  assert.equal(percentile(v, 99), 99);
  assert.equal(percentile(v, 100), 100);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test('RollingWindow keeps the last minute only', () => {
  const w = new RollingWindow(60_000);
  for (let i = 0; i < 60; i++) w.add(1000, i * 100); // old and slow: out of the window below
  for (let i = 0; i < 100; i++) w.add(i < 98 ? 50 : 400, 61_000 + i * 100);
  const s = w.summary(61_000 + 99 * 100);
  assert.equal(s.count, 100);
  assert.equal(s.p50, 50);
  assert.equal(s.p99, 400);
  assert.equal(s.max, 400);
  const later = w.summary(200_000);
  assert.equal(later.count, 0);
  assert.ok(Number.isNaN(later.p50));
  w.add(NaN, 200_000);
  assert.equal(w.count(200_000), 0);
});

test('RateMeter measures frames per second', () => {
  const m = new RateMeter(2000);
  for (let i = 0; i <= 50; i++) m.tick(i * 40); // 25 fps for 2 s
  assert.ok(Math.abs(m.rate(2000) - 25) < 0.01, String(m.rate(2000)));
  assert.equal(m.rate(10_000), 0);
  assert.equal(formatMs(42.4), '42 ms');
  assert.equal(formatMs(1300), '1.3 s');
  assert.equal(formatMs(NaN), '—');
});

function mjpegBytes(boundary, parts, withLength = true) {
  const enc = new TextEncoder();
  const chunks = [];
  for (const p of parts) {
    const len = withLength ? `Content-Length: ${p.body.length}\r\n` : '';
    chunks.push(enc.encode(`--${boundary}\r\nContent-Type: image/jpeg\r\n${len}X-Orion-Capture-Unix-Us: ${p.capture}\r\n\r\n`), p.body, enc.encode('\r\n'));
  }
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

test('MultipartParser splits parts however the bytes arrive', () => {
  assert.equal(boundaryOf('multipart/x-mixed-replace; boundary=orionframe'), 'orionframe');
  assert.equal(boundaryOf('multipart/x-mixed-replace;boundary="--b1"'), 'b1');
  assert.equal(boundaryOf('image/jpeg'), null);
  const bodies = [new Uint8Array([0xff, 0xd8, 1, 2, 3, 0xff, 0xd9]), new Uint8Array([0xff, 0xd8, 0x2d, 0x2d, 0xff, 0xd9])];
  for (const withLength of [true, false]) {
    const bytes = mjpegBytes('orionframe', bodies.map((body, i) => ({ body, capture: 1000 + i })), withLength);
    for (const step of [1, 3, 7, bytes.length]) {
      const p = new MultipartParser('orionframe');
      const got = [];
      for (let i = 0; i < bytes.length; i += step) got.push(...p.push(bytes.subarray(i, i + step)));
      got.push(...p.push(new TextEncoder().encode('--orionframe\r\n'))); // the next part begins
      assert.equal(got.length, 2, `step ${step} length ${withLength}`);
      assert.deepEqual([...got[0].body], [...bodies[0]]);
      assert.deepEqual([...got[1].body], [...bodies[1]]);
      assert.equal(got[1].headers['x-orion-capture-unix-us'], '1001');
    }
  }
});

test('MultipartParser refuses a part over its limit', () => {
  const p = new MultipartParser('b', { maxPartBytes: 10 });
  assert.throws(() => p.push(new TextEncoder().encode('--b\r\nContent-Length: 11\r\n\r\n')), /over the limit/);
  const q = new MultipartParser('b', { maxPartBytes: 10 });
  assert.throws(() => q.push(new Uint8Array(20000)), /no boundary/);
});

test('tileState: live, retrying with its error, stalled, failed, disabled', () => {
  const rec = { name: 'c', enabled: true };
  assert.equal(tileState(rec, { state: 'live', age_s: 1 }, 100).state, 'live');
  const r = tileState(rec, { state: 'retrying', last_error: 'rtsp: connection refused', age_s: 1 }, NaN);
  assert.deepEqual(r, { state: 'retrying', detail: 'rtsp: connection refused' });
  assert.equal(tileState(rec, { state: 'live', age_s: 30 }, 100).state, 'stalled');
  assert.equal(tileState(rec, { state: 'live', age_s: 1 }, 5000).state, 'stalled');
  assert.equal(tileState(rec, { state: 'failed', age_s: 1 }, NaN).detail, 'failed');
  assert.equal(tileState({ enabled: false }, { state: 'live' }, 0).state, 'disabled');
  assert.equal(tileState(rec, undefined, NaN).state, 'unknown');
});

test('pipelineRates and SLA misses of a critical pipeline', () => {
  const prev = { offered: 100, taken: 90, dropped: 10, state: 'running', last_result_age_s: 0.1 };
  const cur = { offered: 150, taken: 130, dropped: 20, state: 'running', last_result_age_s: 0.1 };
  const r = pipelineRates(cur, prev, 2);
  assert.equal(r.offered_per_s, 25);
  assert.equal(r.dropped_per_s, 5);
  assert.equal(r.drop_rate, 10 / 50);
  assert.deepEqual(slaMisses({ sla: 'best_effort' }, cur, r), []);
  assert.match(slaMisses({ sla: 'critical' }, cur, r)[0], /dropping 20.0%/);
  const steady = pipelineRates({ ...cur, offered: 160, taken: 140 }, cur, 1);
  assert.deepEqual(slaMisses({ sla: 'critical' }, { ...cur, taken: 140 }, steady), []);
  const late = slaMisses({ sla: 'critical' }, { state: 'backoff', last_result_age_s: 5 }, pipelineRates(cur, undefined, 0));
  assert.deepEqual(late, ['worker backoff', 'newest result 5.0 s old']);
  assert.equal(pipelineRates(cur, undefined, 0).drop_rate, 20 / 150);
  assert.equal(reasonsText({ crashed: 2, hung: 0, exited: 1 }), 'crashed 2, exited 1');
  assert.deepEqual(latencyHops({ name: 'p', latency_ms: 12, hops: { infer_ms: 8 } }), [['latency_ms', 12], ['infer_ms', 8]]);
  assert.deepEqual(latencyHops({ offered: 3 }), []);
});

test('History keeps a bounded window of columns', () => {
  const h = new History(['a', 'b'], 3);
  for (let i = 0; i < 5; i++) h.add(i, { a: i, b: i % 2 ? null : 2 * i });
  assert.deepEqual(h.columns(), [[2, 3, 4], [2, 3, 4], [4, null, 8]]);
});

test('forms: create bodies carry what was filled in, typed', () => {
  const body = bodyFrom('pipelines', { name: 'people', stream: 'cam', model: 'yolox', sla: 'critical', min_score: ' 0.3 ', iou: '', classes: 'person, car', enabled: true, motion_gate: false });
  assert.deepEqual(body, { name: 'people', stream: 'cam', model: 'yolox', sla: 'critical', min_score: 0.3, classes: ['person', 'car'] });
  assert.throws(() => convert(FIELDS.models.find((f) => f.name === 'threads'), '2.5'), (e) => e.field === 'threads');
  assert.deepEqual(bodyFrom('models', { name: 'g', kind: 'torch_yolox', path: '/m/y.pt', device: ' cuda:1 ', threads: '' }), { name: 'g', kind: 'torch_yolox', path: '/m/y.pt', device: 'cuda:1' });
  assert.deepEqual(bodyFrom('streams', { name: 'c', url: 'test://ball', enabled: false, loop: true, tls_verify: true }), { name: 'c', url: 'test://ball', enabled: false, loop: true });
});

test('forms: change bodies carry only what differs; cleared fields reset', () => {
  const rec = { name: 'people', stream: 'cam', model: 'yolox', sla: 'critical', min_score: 0.3, iou: 0.45, classes: ['person'], enabled: true, motion_gate: { enabled: false }, version: 4 };
  const values = Object.fromEntries(FIELDS.pipelines.map((f) => [f.name, displayValue(f, rec)]));
  assert.deepEqual(bodyFrom('pipelines', values, rec), {});
  values.classes = '';
  values.motion_gate = true;
  values.min_score = '0.5';
  assert.deepEqual(bodyFrom('pipelines', values, rec), { min_score: 0.5, classes: null, motion_gate: true });
});

test('forms: API errors go next to the field they name; a 409 says nothing was overwritten', () => {
  assert.equal(fieldOf('events.min_score'), 'events');
  assert.equal(fieldOf('classes[3]'), 'classes');
  assert.equal(fieldOf(null), null);
  const e = new ApiError(400, 'api.invalid_field', "request body: url: scheme 'http' is not allowed", 'url');
  assert.deepEqual(placeError('streams', e), { field: 'url', message: e.message, code: 'api.invalid_field' });
  const c = placeError('streams', new ApiError(409, 'store.version_conflict', 'stream cam: version 3 is not the current version 4', ''));
  assert.equal(c.field, null);
  assert.match(c.message, /changed this stream meanwhile.*nothing was overwritten/);
  assert.equal(placeError('streams', new ApiError(400, 'x', 'm', 'worker_command')).field, null);
});

class MemoryStorage {
  constructor() {
    this.m = new Map();
  }
  getItem(k) {
    return this.m.has(k) ? this.m.get(k) : null;
  }
  setItem(k, v) {
    this.m.set(k, String(v));
  }
  removeItem(k) {
    this.m.delete(k);
  }
}

test('Api asks for the token once, keeps it for the tab, forgets a refused one', async () => {
  const storage = new MemoryStorage();
  const seen = [];
  const fetchImpl = async (url, init) => {
    seen.push([url, init.headers.Authorization || '']);
    if (init.headers.Authorization !== 'Bearer right') {
      return new Response(JSON.stringify({ error: { code: 'api.unauthorized', message: 'token', field: null } }), { status: 401 });
    }
    return new Response(JSON.stringify({ streams: [{ name: 'a' }] }), { status: 200 });
  };
  const answers = ['wrong', 'right'];
  let asked = 0;
  const api = new Api({ storage, fetchImpl, askToken: async () => (asked++, answers.shift()) });
  const [a, b] = await Promise.all([api.list('streams'), api.list('streams')]);
  assert.deepEqual(a, [{ name: 'a' }]);
  assert.deepEqual(b, [{ name: 'a' }]);
  assert.equal(asked, 2); // wrong, then right; the concurrent request waited on the same prompt
  assert.equal(storage.getItem(TOKEN_KEY), 'right');
  await api.stats().catch(() => {});
  assert.equal(asked, 2);
  const cancelled = new Api({ storage: new MemoryStorage(), fetchImpl, askToken: async () => null });
  await assert.rejects(cancelled.list('streams'), (e) => e instanceof ApiError && e.status === 401 && e.code === 'api.unauthorized');
});

test('Api sends versions as If-Match and turns errors into ApiError', async () => {
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push({ url, method: init.method, headers: init.headers, body: init.body });
    return new Response(JSON.stringify({ error: { code: 'store.version_conflict', message: 'version 1 is not 2', field: 'version' } }), { status: 409 });
  };
  const api = new Api({ fetchImpl });
  await assert.rejects(api.patch('streams', 'cam 1', { enabled: false }, 1), (e) => e.status === 409 && e.code === 'store.version_conflict' && e.field === 'version');
  assert.equal(calls[0].url, '/api/v1/streams/cam%201');
  assert.equal(calls[0].method, 'PATCH');
  assert.equal(calls[0].headers['If-Match'], '"1"');
  assert.equal(calls[0].headers['Content-Type'], 'application/json');
  assert.equal(calls[0].body, '{"enabled":false}');
  assert.equal(errorFrom(502, 'not json').code, 'http.502');
  const ev = new Api({ fetchImpl: async (url) => (calls.push({ url }), new Response('{"events":[],"next_after":0}')) });
  await ev.events({ stream: 'cam', after: 0, pipeline: '' });
  assert.equal(calls[calls.length - 1].url, '/api/v1/events?stream=cam&after=0');
});

test('FrameClock finds the frame a presented media time belongs to', () => {
  const c = new FrameClock(3);
  c.add(0.0, 1_000_000, 1);
  c.add(0.04, 1_040_000, 2);
  c.add(0.08, 1_080_000, 3);
  c.add(0.12, 1_120_000, 4);
  assert.equal(c.find(0.0), null); // dropped: capacity 3
  assert.equal(c.find(0.081).seq, 3);
  assert.equal(c.find(0.5), null);
  assert.equal(liveUrl({ protocol: 'https:', host: 'h:1' }, 'a b', 't/k'), 'wss://h:1/api/v1/streams/a%20b/live?token=t%2Fk');
  assert.equal(liveUrl({ protocol: 'http:', host: 'h' }, 'c', ''), 'ws://h/api/v1/streams/c/live');
});

test('MJPEG tiles are capped below the browser limit of 6 connections per host', () => {
  assert.ok(MJPEG_AT_ONCE >= 1 && MJPEG_AT_ONCE <= 4);
  const slots = new Slots(2);
  assert.equal(slots.take(), true);
  assert.equal(slots.take(), true);
  assert.equal(slots.take(), false); // full: this tile polls snapshots instead
  slots.give();
  assert.equal(slots.take(), true);
  slots.give();
  slots.give();
  slots.give(); // more gives than takes never go below zero
  assert.equal(slots.held, 0);
});

test('a WebSocket is skipped for the page only when the server refused it or the codec cannot play', () => {
  assert.equal(wsOutcome({ opened: false, initSeen: false }), 'unsupported');
  assert.equal(wsOutcome({ opened: true, initSeen: false }), 'ended');
  assert.equal(wsOutcome({ opened: true, initSeen: true }), 'ended');
  assert.equal(wsOutcome({ opened: true, initSeen: false, codecRefused: true }), 'unsupported');
});
