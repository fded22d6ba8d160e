// Orion's dashboard (docs/design/dashboard.md): live grid, health, configuration forms and
// events, over the REST API of the server that serves this page. No framework: a few DOM
// helpers, one poll loop for /api/v1/stats and the lists, and a LiveView per visible tile.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { Api, ApiError, KINDS } from './lib/api.js';
import { FIELDS, bodyFrom, displayValue, placeError } from './lib/forms.js';
import { History, latencyHops, pipelineRates, reasonsText, slaMisses, tileState } from './lib/health.js';
import { LiveView } from './lib/live.js';
import { RateMeter, RollingWindow, formatMs } from './lib/stats.js';

// ---- DOM helpers --------------------------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}
const $ = (sel, root = document) => root.querySelector(sel);

// ---- token prompt -------------------------------------------------------------------------------
function askToken(why) {
  return new Promise((resolve) => {
    const dlg = $('#token-dialog');
    $('#token-why').textContent = why;
    const input = $('#token-input');
    input.value = '';
    const done = (v) => {
      dlg.close();
      resolve(v);
    };
    $('#token-form').onsubmit = (e) => {
      e.preventDefault();
      done(input.value.trim() || null);
    };
    $('#token-cancel').onclick = () => done(null);
    dlg.showModal();
    input.focus();
  });
}

const api = new Api({ storage: window.sessionStorage, askToken });

// ---- shared state -------------------------------------------------------------------------------
const state = {
  streams: [], // API records
  models: [],
  pipelines: [],
  stats: { streams: [], pipelines: [] },
  prevStats: null,
  prevStatsAt: 0,
  rates: new Map(), // pipeline name → pipelineRates()
  history: null, // History of drop rate % and result age per pipeline
  tiles: new Map(), // stream name → Tile
  apiDown: null,
};

function statusOf(kind, name) {
  return (state.stats[kind] || []).find((r) => r.name === name);
}

// ---- live grid ----------------------------------------------------------------------------------
const visibility = new IntersectionObserver(
  (entries) => {
    for (const e of entries) {
      const tile = e.target.tile;
      if (!tile) continue;
      tile.visible = e.isIntersecting;
      tile.sync();
    }
  },
  { rootMargin: '100px' },
);

// Snapshot polling shares a budget of SNAPSHOTS_PER_S requests a second among the tiles that
// poll (each at most ~12 a second): 1 tile 80 ms apart, 15 tiles 250 ms, 64 tiles ~1 s.
const SNAPSHOTS_PER_S = 60;
function snapshotInterval() {
  let polling = 0;
  for (const t of state.tiles.values()) if (t.view.running && t.view.mode === 'snapshot') polling++;
  return Math.max(80, (polling * 1000) / SNAPSHOTS_PER_S);
}

class Tile {
  constructor(name) {
    this.name = name;
    this.visible = false;
    this.age = new RollingWindow(60_000);
    this.fps = new RateMeter(2000);
    this.frames = 0;
    this.lastFrameAt = NaN;
    this.video = h('video', { muted: true, playsinline: true, autoplay: true, class: 'pic' });
    this.img = h('img', { alt: `stream ${name}`, class: 'pic' });
    this.badge = h('span', { class: 'badge' }, '…');
    this.figures = h('div', { class: 'figures' });
    this.detail = h('div', { class: 'detail' });
    this.el = h(
      'article',
      { class: 'tile', dataset: { stream: name } },
      h('header', {}, h('strong', { class: 'name' }, name), this.badge),
      h('div', { class: 'frame' }, this.video, this.img),
      this.figures,
      this.detail,
    );
    this.el.tile = this;
    this.view = new LiveView({
      api,
      name,
      video: this.video,
      img: this.img,
      onFrame: (ageMs, at) => this.frame(ageMs, at),
      onMode: (m) => {
        this.el.dataset.mode = m || '';
      },
      onProblem: (msg) => {
        this.detail.textContent = msg;
      },
      snapshotIntervalMs: snapshotInterval,
    });
    visibility.observe(this.el);
  }
  frame(ageMs, at) {
    this.frames++;
    this.lastFrameAt = at;
    this.fps.tick(at);
    if (Number.isFinite(ageMs)) this.age.add(ageMs, at);
    this.el.dataset.frames = String(this.frames);
  }
  sync() {
    const rec = state.streams.find((s) => s.name === this.name);
    const wanted = this.visible && rec && rec.enabled !== false && !document.hidden;
    if (wanted) this.view.start();
    else this.view.stop();
  }
  render(now) {
    const rec = state.streams.find((s) => s.name === this.name);
    const st = statusOf('streams', this.name);
    const sinceFrame = Number.isFinite(this.lastFrameAt) ? now - this.lastFrameAt : NaN;
    const ts = tileState(rec, st, this.view.running ? sinceFrame : NaN);
    this.el.dataset.state = ts.state;
    this.badge.textContent = ts.state;
    this.badge.className = `badge s-${ts.state}`;
    const a = this.age.summary(now);
    this.el.dataset.ageP50 = Number.isFinite(a.p50) ? String(Math.round(a.p50)) : '';
    this.el.dataset.ageP99 = Number.isFinite(a.p99) ? String(Math.round(a.p99)) : '';
    const engineFps = st && Number.isFinite(st.fps_out) ? st.fps_out.toFixed(1) : '—';
    this.figures.replaceChildren(
      h('span', { title: 'pictures per second shown here / the engine\'s output rate' }, `${this.fps.rate(now).toFixed(1)} fps shown · ${engineFps} out`),
      h('span', { class: 'age', title: 'frame age at display (capture → paint), last minute' }, `age p50 ${formatMs(a.p50)} · p99 ${formatMs(a.p99)}`),
      h('span', { class: 'mode' }, this.view.mode || (this.visible ? '…' : 'paused')),
    );
    this.detail.textContent = ts.detail || '';
  }
  destroy() {
    this.view.stop();
    visibility.unobserve(this.el);
    this.el.remove();
  }
}

function renderGrid() {
  const grid = $('#grid');
  const names = state.streams.map((s) => s.name);
  for (const [name, tile] of state.tiles) {
    if (!names.includes(name)) {
      tile.destroy();
      state.tiles.delete(name);
    }
  }
  for (const name of names) {
    if (!state.tiles.has(name)) {
      const t = new Tile(name);
      state.tiles.set(name, t);
      grid.append(t.el);
    }
  }
  // keep the order of the list (by name)
  names.forEach((n, i) => {
    const el = state.tiles.get(n).el;
    if (grid.children[i] !== el) grid.insertBefore(el, grid.children[i] || null);
  });
  $('#grid-empty').hidden = names.length > 0;
  const now = Date.now();
  for (const t of state.tiles.values()) {
    t.sync();
    t.render(now);
  }
}

document.addEventListener('visibilitychange', () => {
  for (const t of state.tiles.values()) t.sync();
});

// ---- health -------------------------------------------------------------------------------------
let chart = null;
let chartSeries = '';

function renderHealth() {
  const now = Date.now();
  const sBody = $('#health-streams tbody');
  sBody.replaceChildren(
    ...state.streams.map((rec) => {
      const st = statusOf('streams', rec.name) || {};
      const tile = state.tiles.get(rec.name);
      const ts = tileState(rec, statusOf('streams', rec.name), NaN);
      const a = tile ? tile.age.summary(now) : { p50: NaN, p99: NaN };
      return h(
        'tr',
        { dataset: { stream: rec.name } },
        h('td', {}, rec.name),
        h('td', {}, h('span', { class: `badge s-${ts.state}` }, ts.state), ts.detail ? h('div', { class: 'detail' }, ts.detail) : null),
        h('td', { class: 'num' }, fmt(st.fps_in, 1)),
        h('td', { class: 'num' }, fmt(st.fps_out, 1)),
        h('td', { class: 'num' }, fmt(st.frames_in)),
        h('td', { class: 'num' }, fmt(st.frames_out)),
        h('td', { class: 'num' }, fmt(st.reconnects)),
        h('td', { class: 'num' }, `${formatMs(a.p50)} / ${formatMs(a.p99)}`),
        h('td', { class: 'num' }, Number.isFinite(st.age_s) ? `${st.age_s.toFixed(1)} s` : '—'),
      );
    }),
  );
  const pBody = $('#health-pipelines tbody');
  const misses = [];
  pBody.replaceChildren(
    ...state.pipelines.map((p) => {
      const st = statusOf('pipelines', p.name);
      const r = state.rates.get(p.name);
      const why = slaMisses(p, st, r);
      if (why.length) misses.push(`${p.name}: ${why.join('; ')}`);
      const hops = latencyHops(st);
      const s = st || {};
      return h(
        'tr',
        { class: why.length ? 'sla-miss' : '', dataset: { pipeline: p.name } },
        h('td', {}, p.name, h('div', { class: 'detail' }, `${p.stream} · ${p.model}`)),
        h('td', {}, h('span', { class: `sla sla-${p.sla}` }, p.sla), why.length ? h('div', { class: 'miss' }, '⚠ misses SLA: ' + why.join('; ')) : null),
        h('td', {}, s.state || '—', s.last_error ? h('div', { class: 'detail' }, s.last_error) : null),
        h('td', { class: 'num' }, fmt(s.offered), r && r.interval ? h('div', { class: 'detail' }, `${fmt(r.offered_per_s, 1)}/s`) : null),
        h('td', { class: 'num' }, fmt(s.taken)),
        h('td', { class: 'num' }, fmt(s.dropped)),
        h('td', { class: 'num' }, r ? `${(r.drop_rate * 100).toFixed(1)}%` : '—'),
        h('td', { class: 'num' }, Number.isFinite(s.last_result_age_s) ? `${(s.last_result_age_s * 1000).toFixed(0)} ms` : '—'),
        h('td', { class: 'num' }, fmt(s.restarts), reasonsText(s.restart_reasons) ? h('div', { class: 'detail' }, reasonsText(s.restart_reasons)) : null),
        h('td', {}, hops.length ? hops.map(([k, v]) => h('div', {}, `${k} ${formatMs(v)}`)) : '—'),
      );
    }),
  );
  const banner = $('#sla-banner');
  banner.hidden = misses.length === 0;
  banner.textContent = misses.length ? `Critical pipeline${misses.length > 1 ? 's' : ''} missing SLA — ${misses.join(' | ')}` : '';
  renderChart();
}

function fmt(v, digits = 0) {
  return Number.isFinite(v) ? (digits ? v.toFixed(digits) : String(v)) : '—';
}

function recordHistory() {
  const names = state.pipelines.map((p) => p.name);
  const key = names.join(',');
  if (!state.history || state.historyKey !== key) {
    state.history = new History(names.flatMap((n) => [`${n} drop %`, `${n} result age ms`]), 300);
    state.historyKey = key;
  }
  const values = {};
  for (const n of names) {
    const st = statusOf('pipelines', n);
    const r = state.rates.get(n);
    values[`${n} drop %`] = r && r.interval ? r.drop_rate * 100 : null;
    values[`${n} result age ms`] = st && Number.isFinite(st.last_result_age_s) ? st.last_result_age_s * 1000 : null;
  }
  state.history.add(Date.now() / 1000, values);
}

function renderChart() {
  const box = $('#health-chart');
  if (!state.history || box.offsetParent === null) return; // hidden tab: nothing to draw
  const key = state.historyKey;
  const width = Math.max(280, box.clientWidth - 8);
  if (!chart || chartSeries !== key) {
    if (chart) chart.destroy();
    const colours = ['#e4572e', '#29335c', '#f3a712', '#669bbc', '#a8c686', '#8e44ad'];
    const series = [{}];
    Object.keys(state.history.data).forEach((label, i) => {
      series.push({ label, stroke: colours[Math.floor(i / 2) % colours.length], dash: i % 2 ? [4, 4] : undefined, scale: i % 2 ? 'ms' : '%', width: 1.5 });
    });
    chart = new uPlot(
      {
        width,
        height: 180,
        series,
        axes: [{}, { scale: '%', label: 'drop %' }, { scale: 'ms', side: 1, label: 'result age ms', grid: { show: false } }],
        scales: { '%': { range: [0, 100] } },
        legend: { live: false },
      },
      state.history.columns(),
      box,
    );
    chartSeries = key;
  } else {
    if (Math.abs(chart.width - width) > 4) chart.setSize({ width, height: 180 });
    chart.setData(state.history.columns());
  }
}

// ---- configuration forms ------------------------------------------------------------------------
const editing = { streams: null, models: null, pipelines: null }; // record being changed

function renderConfig() {
  for (const kind of KINDS) {
    const list = $(`#list-${kind}`);
    list.replaceChildren(
      ...state[kind].map((rec) =>
        h(
          'li',
          { dataset: { name: rec.name } },
          h('span', { class: 'name' }, rec.name),
          h('span', { class: 'detail' }, summary(kind, rec)),
          h('button', { type: 'button', class: 'edit', onclick: () => fillForm(kind, rec) }, 'Edit'),
          h('button', { type: 'button', class: 'delete', onclick: () => removeRecord(kind, rec) }, 'Delete'),
        ),
      ),
    );
  }
}

function summary(kind, r) {
  if (kind === 'streams') return `${r.url}${r.enabled === false ? ' (disabled)' : ''}`;
  if (kind === 'models') {
    const on = r.device && r.device !== 'cpu' ? ` on ${r.device}` : '';
    return `${r.kind}${r.path ? ' ' + r.path.split('/').pop() : ''}${on}`;
  }
  return `${r.stream} → ${r.model}, ${r.sla}`;
}

function buildForm(kind) {
  const form = $(`#form-${kind}`);
  const fields = FIELDS[kind].map((f) => {
    const id = `${kind}-${f.name}`;
    let input;
    if (f.type === 'bool') input = h('input', { type: 'checkbox', id, name: f.name, checked: f.default });
    else if (f.type === 'select') input = h('select', { id, name: f.name }, f.options.map((o) => h('option', { value: o }, o)));
    else input = h('input', { type: 'text', id, name: f.name, placeholder: f.hint || '', autocomplete: 'off', required: f.required });
    return h(
      'div',
      { class: `field f-${f.type}`, dataset: { field: f.name } },
      h('label', { for: id }, f.name),
      input,
      h('div', { class: 'field-error', role: 'alert', id: `${id}-error` }),
    );
  });
  form.replaceChildren(
    h('h3', { class: 'form-title' }, `Add ${kind.slice(0, -1)}`),
    ...fields,
    h('div', { class: 'form-error', role: 'alert' }),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'save' }, 'Save'), h('button', { type: 'button', class: 'cancel', onclick: () => fillForm(kind, null) }, 'New')),
  );
  form.onsubmit = (e) => {
    e.preventDefault();
    submitForm(kind);
  };
}

function clearErrors(form) {
  form.querySelectorAll('.field-error, .form-error').forEach((el) => (el.textContent = ''));
  form.querySelectorAll('.invalid').forEach((el) => el.classList.remove('invalid'));
}

function showError(kind, err) {
  const form = $(`#form-${kind}`);
  const placed = placeError(kind, err);
  const slot = placed.field ? form.querySelector(`[data-field="${placed.field}"] .field-error`) : null;
  if (slot) {
    slot.textContent = placed.message;
    slot.parentElement.classList.add('invalid');
  } else {
    const fe = form.querySelector('.form-error');
    fe.textContent = placed.message;
    fe.dataset.code = placed.code || '';
  }
}

function fillForm(kind, rec) {
  editing[kind] = rec;
  const form = $(`#form-${kind}`);
  clearErrors(form);
  form.querySelector('.form-title').textContent = rec ? `Change ${kind.slice(0, -1)} ${rec.name} (version ${rec.version})` : `Add ${kind.slice(0, -1)}`;
  for (const f of FIELDS[kind]) {
    const input = form.elements[f.name];
    const v = displayValue(f, rec);
    if (f.type === 'bool') input.checked = v;
    else input.value = v || (f.type === 'select' ? f.options[0] : '');
    input.readOnly = Boolean(rec && f.fixed);
  }
}

function formValues(kind) {
  const form = $(`#form-${kind}`);
  const out = {};
  for (const f of FIELDS[kind]) {
    const input = form.elements[f.name];
    out[f.name] = f.type === 'bool' ? input.checked : input.value;
  }
  return out;
}

async function submitForm(kind) {
  const form = $(`#form-${kind}`);
  clearErrors(form);
  const rec = editing[kind];
  let body;
  try {
    body = bodyFrom(kind, formValues(kind), rec);
  } catch (e) {
    showError(kind, new ApiError(400, 'page.invalid_field', e.message, e.field));
    return;
  }
  try {
    if (rec) {
      if (Object.keys(body).length === 0) {
        form.querySelector('.form-error').textContent = 'Nothing changed.';
        return;
      }
      await api.patch(kind, rec.name, body, rec.version);
    } else {
      await api.create(kind, body);
    }
    fillForm(kind, null);
    form.querySelector('.form-error').textContent = '';
    flash(`${rec ? 'Changed' : 'Added'} ${kind.slice(0, -1)} ${rec ? rec.name : body.name}`);
    await refreshLists();
  } catch (e) {
    if (e instanceof ApiError) showError(kind, e);
    else showError(kind, new ApiError(0, 'page.network', `The API did not answer: ${e.message}`));
  }
}

async function removeRecord(kind, rec) {
  if (!window.confirm(`Delete ${kind.slice(0, -1)} ${rec.name}?`)) return;
  try {
    await api.remove(kind, rec.name, rec.version);
    flash(`Deleted ${kind.slice(0, -1)} ${rec.name}`);
    if (editing[kind] && editing[kind].name === rec.name) fillForm(kind, null);
    await refreshLists();
  } catch (e) {
    showError(kind, e instanceof ApiError ? e : new ApiError(0, 'page.network', e.message));
  }
}

function flash(text) {
  const el = $('#flash');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => (el.hidden = true), 4000);
}

// ---- events -------------------------------------------------------------------------------------
const events = { after: 0, rows: [], max: 200, started: false };

async function pollEvents() {
  // First page: the newest events (the last 10 minutes), then follow with the cursor.
  const params = { after: events.after, limit: 200 };
  if (!events.started) params.since = Date.now() - 10 * 60_000;
  const page = await api.events(params);
  events.started = true;
  events.after = page.next_after;
  if (page.events.length) {
    events.rows.push(...page.events);
    if (events.rows.length > events.max) events.rows.splice(0, events.rows.length - events.max);
    renderEvents();
  }
}

function renderEvents() {
  const fStream = $('#ev-stream').value;
  const fPipeline = $('#ev-pipeline').value.trim();
  const fClass = $('#ev-class').value.trim().toLowerCase();
  const rows = events.rows
    .filter((e) => (!fStream || e.stream === fStream) && (!fPipeline || e.pipeline === fPipeline) && (!fClass || String(e.class_name).toLowerCase().includes(fClass)))
    .slice(-100)
    .reverse();
  $('#events-list').replaceChildren(
    ...rows.map((e) => {
      const crop = h('div', { class: 'crop' }, h('button', { type: 'button', onclick: () => loadCrop(e, crop) }, 'crop'));
      return h(
        'li',
        { class: 'event', dataset: { stream: e.stream, className: e.class_name, seq: String(e.sequence) } },
        h('span', { class: 'when' }, e.time.replace('T', ' ').replace('Z', '')),
        h('span', { class: 'name' }, e.stream),
        h('span', {}, e.pipeline),
        h('span', { class: 'cls' }, `${e.class_name} ${(e.score * 100).toFixed(0)}%`),
        h('span', { class: 'ident', title: 'frame identity: stream / sequence / pts' }, `#${e.sequence} pts ${(e.pts_ns / 1e9).toFixed(3)} s`),
        crop,
      );
    }),
  );
  $('#events-empty').hidden = rows.length > 0;
}

// The event's frame from the engine (GET /api/v1/streams/{name}/frames/{seq}.jpg, while it is
// still held), cut to the detection's box.
async function loadCrop(e, slot) {
  slot.textContent = '…';
  try {
    const res = await api.raw(`/api/v1/streams/${encodeURIComponent(e.stream)}/frames/${e.sequence}.jpg`);
    if (!res.ok) {
      const body = await res.json().catch(() => null);
      const code = body && body.error ? body.error.code : '';
      slot.textContent = code === 'api.no_route' ? 'this server keeps no event frames' : res.status === 404 ? 'frame no longer held' : `HTTP ${res.status}`;
      return;
    }
    const bitmap = await createImageBitmap(await res.blob());
    const b = e.box;
    const pad = 8;
    const x = Math.max(0, b.x1 - pad);
    const y = Math.max(0, b.y1 - pad);
    const w = Math.min(bitmap.width - x, b.x2 - b.x1 + 2 * pad);
    const hh = Math.min(bitmap.height - y, b.y2 - b.y1 + 2 * pad);
    const c = h('canvas', { width: Math.max(1, Math.round(w)), height: Math.max(1, Math.round(hh)) });
    c.getContext('2d').drawImage(bitmap, x, y, w, hh, 0, 0, c.width, c.height);
    slot.replaceChildren(c);
  } catch (err) {
    slot.textContent = `no crop: ${err.message}`;
  }
}

// ---- polling ------------------------------------------------------------------------------------
async function refreshLists() {
  const [streams, models, pipelines] = await Promise.all(KINDS.map((k) => api.list(k)));
  Object.assign(state, { streams, models, pipelines });
  const sel = $('#ev-stream');
  const cur = sel.value;
  sel.replaceChildren(h('option', { value: '' }, 'all streams'), ...streams.map((s) => h('option', { value: s.name }, s.name)));
  sel.value = streams.some((s) => s.name === cur) ? cur : '';
  renderGrid();
  renderConfig();
}

async function refreshStats() {
  const stats = await api.stats();
  const now = performance.now();
  const dt = state.prevStats ? (now - state.prevStatsAt) / 1000 : 0;
  state.rates = new Map(
    stats.pipelines.map((p) => {
      const prev = state.prevStats && state.prevStats.pipelines.find((q) => q.name === p.name);
      return [p.name, pipelineRates(p, prev, dt)];
    }),
  );
  state.prevStats = stats;
  state.prevStatsAt = now;
  state.stats = stats;
  recordHistory();
}

function setApiStatus(err) {
  const el = $('#api-status');
  state.apiDown = err;
  el.textContent = err ? `API: ${err.message}` : 'API connected';
  el.className = err ? 'down' : 'up';
}

async function tick(n) {
  try {
    if (n % 3 === 0) await refreshLists();
    await refreshStats();
    if (n % 2 === 0) await pollEvents();
    setApiStatus(null);
  } catch (e) {
    setApiStatus(e);
  }
  const now = Date.now();
  for (const t of state.tiles.values()) t.render(now);
  if (!$('#tab-health').hidden) renderHealth();
}

// ---- tabs ---------------------------------------------------------------------------------------
function showTab() {
  const tab = (location.hash || '#live').slice(1);
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== `tab-${tab}`;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('href') === `#${tab}`);
  if (tab === 'health') renderHealth();
  for (const t of state.tiles.values()) t.sync();
}

// ---- start --------------------------------------------------------------------------------------
function main() {
  for (const kind of KINDS) buildForm(kind);
  for (const id of ['ev-stream', 'ev-pipeline', 'ev-class']) $(`#${id}`).addEventListener('input', renderEvents);
  $('#token-forget').onclick = () => {
    api.token = '';
    flash('Token forgotten for this tab');
  };
  window.addEventListener('hashchange', showTab);
  showTab();
  let n = 0;
  const loop = async () => {
    await tick(n++);
    setTimeout(loop, 1000);
  };
  loop();
  // For tests and the curious: the page's own figures.
  window.orionDashboard = {
    state,
    frameAge: (name) => state.tiles.get(name)?.age.summary(Date.now()),
    mode: (name) => state.tiles.get(name)?.view.mode ?? null,
    streaming: () => [...state.tiles.values()].filter((t) => t.view.running).map((t) => t.name),
  };
}

main();
