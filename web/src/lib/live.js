// One tile's live picture, by the best path the server answers (feature-detected per tile,
// remembered for the page for a minute):
//   1. "ws":       WebSocket GET /api/v1/streams/{name}/live?token=T — the engine's H.264 as
//                  fMP4 into Media Source Extensions; each frame's capture time comes in a text
//                  message before its media segment, and requestVideoFrameCallback says when
//                  the browser presents it.
//   2. "mjpeg":    GET /api/v1/streams/{name}/mjpeg (multipart/x-mixed-replace), read with
//                  fetch() (so the token travels in the Authorization header); each part has
//                  X-Orion-Capture-Unix-Us.
//   3. "snapshot": GET /api/v1/streams/{name}/snapshot.jpg again and again (one at a time, at
//                  most one per snapshotIntervalMs()), with X-Orion-Capture-Unix-Us.
// Every shown picture calls onFrame(ageMs, atMs): age = wall-clock time of display − capture
// time (NaN when the server sent no capture time). start()/stop() are idempotent; stop()
// closes every connection (a tile off screen costs the server nothing).

import { MultipartParser, boundaryOf } from './multipart.js';

const caps = { ws: { ok: null, at: 0 }, mjpeg: { ok: null, at: 0 } };
const RETEST_MS = 60_000;
const WS_OPEN_TIMEOUT_MS = 3000;
const WS_INIT_TIMEOUT_MS = 15000;

// A browser opens at most 6 HTTP/1.1 connections to one host, and an MJPEG response holds one
// for as long as it streams: past 4 MJPEG tiles the rest of the page (the API polls, snapshot
// requests, other tiles) would wait for a connection. Tiles beyond the cap poll snapshots.
// (WebSockets are not under that limit.)
export const MJPEG_AT_ONCE = 4;

// A count of things held at once, up to `capacity`: take() is true and counts one when there
// is room, false otherwise; give() returns one.
export class Slots {
  constructor(capacity) {
    this.capacity = capacity;
    this.held = 0;
  }
  take() {
    if (this.held >= this.capacity) return false;
    this.held++;
    return true;
  }
  give() {
    if (this.held > 0) this.held--;
  }
}
const mjpegSlots = new Slots(MJPEG_AT_ONCE);

// What a WebSocket attempt that ended says about the path. `unsupported` (skip it for the page
// for a minute) only when the server did not take the upgrade (closed or silent before it
// opened) or the browser cannot play the codec; an open socket that then ended, or brought no
// init segment in time (a loaded machine, a camera not yet showing a picture), is this tile's
// attempt ending: it starts over on the same path.
export function wsOutcome({ opened, initSeen, codecRefused = false }) {
  if (codecRefused) return 'unsupported';
  if (initSeen || opened) return 'ended';
  return 'unsupported';
}

function usable(c, now) {
  return c.ok !== false || now - c.at > RETEST_MS;
}
function remember(c, ok) {
  c.ok = ok;
  c.at = Date.now();
}

// The wall-clock time (ms) of the next paint, via requestAnimationFrame.
function nextPaintWallMs() {
  return new Promise((resolve) => requestAnimationFrame((t) => resolve(performance.timeOrigin + t)));
}

// Frame identities by media time, for the MSE path: the newest `capacity` frames.
export class FrameClock {
  constructor(capacity = 600) {
    this.capacity = capacity;
    this.entries = []; // [{t, captureUs, seq}] in arrival order
  }
  add(mediaTime, captureUs, seq) {
    this.entries.push({ t: mediaTime, captureUs, seq });
    if (this.entries.length > this.capacity) this.entries.shift();
  }
  // The frame whose media time is nearest to t (within toleranceS), or null.
  find(t, toleranceS = 0.02) {
    let best = null;
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i];
      const d = Math.abs(e.t - t);
      if (d <= toleranceS && (!best || d < Math.abs(best.t - t))) best = e;
    }
    return best;
  }
}

// ws(s)://host/api/v1/streams/NAME/live?token=T for the page's origin.
export function liveUrl(loc, name, token) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = token ? `?token=${encodeURIComponent(token)}` : '';
  return `${scheme}//${loc.host}/api/v1/streams/${encodeURIComponent(name)}/live${q}`;
}

export class LiveView {
  // snapshotIntervalMs(): the least time between two snapshot requests of this tile (the page
  // spreads a budget of requests over the tiles that poll).
  constructor({ api, name, video, img, onFrame = () => {}, onMode = () => {}, onProblem = () => {}, snapshotIntervalMs = () => 80 }) {
    Object.assign(this, { api, name, video, img, onFrame, onMode, onProblem, snapshotIntervalMs });
    this.running = false;
    this.generation = 0;
    this.mode = null;
    this.cleanup = [];
  }

  start() {
    if (this.running) return;
    this.running = true;
    const gen = ++this.generation;
    this.#run(gen);
  }

  stop() {
    if (!this.running) return;
    this.running = false;
    this.generation++;
    for (const fn of this.cleanup.splice(0)) {
      try {
        fn();
      } catch {
        /* closing what is already closed */
      }
    }
    this.#setMode(null);
  }

  #alive(gen) {
    return this.running && gen === this.generation;
  }
  #setMode(m) {
    if (this.mode !== m) {
      this.mode = m;
      this.onMode(m);
    }
  }

  async #run(gen) {
    while (this.#alive(gen)) {
      const now = Date.now();
      let ended = 'none';
      if (usable(caps.ws, now) && typeof MediaSource !== 'undefined') {
        ended = await this.#runWs(gen);
        if (ended === 'unsupported') remember(caps.ws, false);
      }
      if (ended === 'none' || ended === 'unsupported') {
        if (this.#alive(gen) && usable(caps.mjpeg, Date.now()) && mjpegSlots.take()) {
          try {
            ended = await this.#runMjpeg(gen);
          } finally {
            mjpegSlots.give();
          }
          if (ended === 'unsupported') remember(caps.mjpeg, false);
        }
      }
      if (ended === 'none' || ended === 'unsupported') {
        if (this.#alive(gen)) ended = await this.#runSnapshots(gen);
      }
      // A path that worked and then ended (server restart, stream gone): start over soon.
      if (this.#alive(gen)) await new Promise((r) => setTimeout(r, 1000));
    }
  }

  // ---- 1. WebSocket + MSE ---------------------------------------------------------------------
  #runWs(gen) {
    return new Promise((resolve) => {
      let opened = false;
      let initSeen = false;
      let settled = false;
      const ws = new WebSocket(liveUrl(location, this.name, this.api.token));
      ws.binaryType = 'arraybuffer';
      const clock = new FrameClock();
      let ms = null;
      let sb = null;
      let objectUrl = null;
      const queue = [];
      let pendingMeta = null;
      let codec = null;
      let rvfcHandle = 0;
      const finish = (how) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          ws.close();
        } catch {
          /* already closed */
        }
        if (rvfcHandle && this.video.cancelVideoFrameCallback) this.video.cancelVideoFrameCallback(rvfcHandle);
        this.video.removeAttribute('src');
        this.video.load();
        if (objectUrl) URL.revokeObjectURL(objectUrl);
        resolve(how);
      };
      this.cleanup.push(() => finish('stopped'));
      // The upgrade must be answered within WS_OPEN_TIMEOUT_MS; once it is, the init segment
      // comes with the encoder's next key picture: wait up to WS_INIT_TIMEOUT_MS for it, then
      // start over on the same path.
      // A slow handshake on a path that already worked on this page is a loaded server, not a
      // missing path: start over on it.
      let timer = setTimeout(() => {
        if (!opened) finish(caps.ws.ok === true ? 'ended' : wsOutcome({ opened, initSeen }));
      }, WS_OPEN_TIMEOUT_MS);

      const pump = () => {
        if (!sb || sb.updating || queue.length === 0) return;
        try {
          sb.appendBuffer(queue.shift());
        } catch (e) {
          this.onProblem(`live video: ${e.message}`);
          finish('ended');
        }
      };
      const keepLive = () => {
        const v = this.video;
        if (!sb || sb.updating || v.buffered.length === 0) return;
        const end = v.buffered.end(v.buffered.length - 1);
        const start = v.buffered.start(0);
        if (v.currentTime < start || end - v.currentTime > 0.3) v.currentTime = Math.max(start, end - 0.04);
        if (v.paused) v.play().catch(() => {});
        if (v.currentTime - start > 4) {
          try {
            sb.remove(start, v.currentTime - 2);
          } catch {
            /* busy: next time */
          }
        }
      };
      const onVideoFrame = (_now, meta) => {
        if (!this.#alive(gen) || settled) return;
        const f = clock.find(meta.mediaTime);
        const at = performance.timeOrigin + (meta.expectedDisplayTime || performance.now());
        this.onFrame(f ? at - f.captureUs / 1000 : NaN, Date.now());
        rvfcHandle = this.video.requestVideoFrameCallback(onVideoFrame);
      };

      ws.onopen = () => {
        opened = true;
        clearTimeout(timer);
        timer = setTimeout(() => {
          if (!initSeen) finish('ended');
        }, WS_INIT_TIMEOUT_MS);
      };
      ws.onerror = () => {};
      ws.onclose = () => finish(wsOutcome({ opened, initSeen }));
      ws.onmessage = (ev) => {
        if (!this.#alive(gen)) return finish('stopped');
        if (typeof ev.data === 'string') {
          let m;
          try {
            m = JSON.parse(ev.data);
          } catch {
            return;
          }
          if (m.type === 'init') {
            codec = m.codec;
            const type = `video/mp4; codecs="${codec}"`;
            if (!MediaSource.isTypeSupported(type)) {
              this.onProblem(`this browser cannot play ${type}`);
              return finish(wsOutcome({ opened, initSeen, codecRefused: true }));
            }
            initSeen = true;
            remember(caps.ws, true);
            ms = new MediaSource();
            objectUrl = URL.createObjectURL(ms);
            this.video.src = objectUrl;
            ms.addEventListener('sourceopen', () => {
              if (settled) return;
              sb = ms.addSourceBuffer(type);
              sb.mode = 'segments';
              sb.addEventListener('updateend', () => {
                keepLive();
                pump();
              });
              pump();
            });
            this.video.muted = true;
            this.video.playsInline = true;
            this.video.play().catch(() => {});
            if (this.video.requestVideoFrameCallback) rvfcHandle = this.video.requestVideoFrameCallback(onVideoFrame);
            this.#setMode('ws');
          } else if (m.type === 'frame') {
            pendingMeta = m;
          }
          return;
        }
        // Binary: the init segment (before any frame message), then one media segment per frame.
        if (pendingMeta) {
          // capture_unix_us 0 (or absent): the server did not know this picture's frame; its
        // age is unknown, never "now − 0".
        const captureUs = Number(pendingMeta.capture_unix_us);
        if (captureUs > 0) clock.add(Number(pendingMeta.media_time), captureUs, pendingMeta.seq);
          pendingMeta = null;
          if (!this.video.requestVideoFrameCallback) this.onFrame(NaN, Date.now());
        }
        queue.push(ev.data);
        if (queue.length > 60) queue.splice(1, queue.length - 30); // far behind: keep the newest
        pump();
      };
    });
  }

  // ---- 2. MJPEG over fetch --------------------------------------------------------------------
  async #runMjpeg(gen) {
    const ctrl = new AbortController();
    this.cleanup.push(() => ctrl.abort());
    let res;
    try {
      res = await this.api.raw(`/api/v1/streams/${encodeURIComponent(this.name)}/mjpeg`, { signal: ctrl.signal });
    } catch {
      return this.#alive(gen) ? 'unsupported' : 'stopped';
    }
    const boundary = boundaryOf(res.headers.get('Content-Type'));
    if (!res.ok || !boundary || !res.body) {
      ctrl.abort();
      return res.status === 404 || res.status === 405 || !boundary ? 'unsupported' : 'ended';
    }
    remember(caps.mjpeg, true);
    this.#setMode('mjpeg');
    const parser = new MultipartParser(boundary);
    const reader = res.body.getReader();
    try {
      while (this.#alive(gen)) {
        const { value, done } = await reader.read();
        if (done) break;
        const parts = parser.push(value);
        const last = parts[parts.length - 1]; // behind: show only the newest
        if (last) await this.#show(gen, last.body, last.headers['x-orion-capture-unix-us']);
      }
    } catch (e) {
      if (this.#alive(gen)) this.onProblem(`mjpeg: ${e.message}`);
    } finally {
      ctrl.abort();
    }
    return this.#alive(gen) ? 'ended' : 'stopped';
  }

  // ---- 3. snapshot polling --------------------------------------------------------------------
  async #runSnapshots(gen) {
    this.#setMode('snapshot');
    let failures = 0;
    let ctrl = null;
    this.cleanup.push(() => ctrl && ctrl.abort());
    while (this.#alive(gen)) {
      ctrl = new AbortController();
      const t0 = performance.now();
      try {
        const res = await this.api.raw(`/api/v1/streams/${encodeURIComponent(this.name)}/snapshot.jpg`, {
          signal: ctrl.signal,
          cache: 'no-store',
        });
        if (res.ok) {
          const body = new Uint8Array(await res.arrayBuffer());
          await this.#show(gen, body, res.headers.get('X-Orion-Capture-Unix-Us'));
          failures = 0;
        } else {
          failures++;
          await res.text().catch(() => '');
        }
      } catch {
        if (!this.#alive(gen)) break;
        failures++;
      }
      // One request in flight per tile, at most one per snapshotIntervalMs(); slower while it fails.
      const wait = failures ? Math.min(5000, 500 * failures) : Math.max(0, this.snapshotIntervalMs() - (performance.now() - t0));
      await new Promise((r) => setTimeout(r, wait));
    }
    return 'stopped';
  }

  async #show(gen, jpegBytes, captureUsText) {
    const url = URL.createObjectURL(new Blob([jpegBytes], { type: 'image/jpeg' }));
    const img = this.img;
    const old = img.dataset.url;
    img.src = url;
    img.dataset.url = url;
    try {
      await img.decode();
    } catch {
      /* a broken picture: the next one replaces it */
    }
    if (old) URL.revokeObjectURL(old);
    if (!this.#alive(gen)) return;
    const shownAt = await nextPaintWallMs();
    const captureUs = Number(captureUsText);
    this.onFrame(Number.isFinite(captureUs) && captureUs > 0 ? shownAt - captureUs / 1000 : NaN, Date.now());
  }
}
