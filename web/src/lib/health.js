// What the page concludes from the API's numbers: a tile's state, a pipeline's rates between
// two /api/v1/stats samples, and whether a critical pipeline misses its SLA. Pure functions.

// A status row older than this is an engine that stopped reporting: "stalled".
export const STATUS_STALE_S = 10;
// No new picture on a live tile for this long: "stalled" as the viewer sees it.
export const PICTURE_STALE_MS = 3000;
// A critical pipeline whose newest result is older than this misses its SLA.
export const SLA_RESULT_AGE_S = 2;

// state of a tile: {state: live|connecting|retrying|stalled|failed|disabled|unknown, detail}
//   stream:  the API's stream record (enabled, state, last_error)
//   status:  its row of /api/v1/stats (state, last_error, age_s), or undefined
//   lastPictureAgeMs: how long since the tile last showed a new picture (NaN: never)
export function tileState(stream, status, lastPictureAgeMs) {
  if (stream && stream.enabled === false) return { state: 'disabled', detail: 'disabled' };
  const s = (status && status.state) || (stream && stream.state) || null;
  const err = (status && status.last_error) || (stream && stream.last_error) || '';
  if (!s) return { state: 'unknown', detail: 'no engine reports this stream yet' };
  if (status && Number.isFinite(status.age_s) && status.age_s > STATUS_STALE_S) {
    return { state: 'stalled', detail: `engine last reported ${Math.round(status.age_s)} s ago` };
  }
  if (s === 'retrying') return { state: 'retrying', detail: err || 'retrying' };
  if (s === 'failed') return { state: 'failed', detail: err || 'failed' };
  if (s === 'stalled') return { state: 'stalled', detail: err || 'no frames from the source' };
  if (s === 'connecting') return { state: 'connecting', detail: 'connecting' };
  if (s === 'live') {
    if (Number.isFinite(lastPictureAgeMs) && lastPictureAgeMs > PICTURE_STALE_MS) {
      return { state: 'stalled', detail: `no new picture for ${(lastPictureAgeMs / 1000).toFixed(0)} s` };
    }
    return { state: 'live', detail: '' };
  }
  return { state: s, detail: err };
}

// Rates of a pipeline between two stats rows of it (prev may be undefined): per second offered,
// taken, dropped, and the drop rate (dropped / (taken + dropped)) over that interval; over the
// whole run when there is no previous sample.
export function pipelineRates(cur, prev, dtS) {
  const d = (k) => (prev ? Math.max(0, (cur[k] || 0) - (prev[k] || 0)) : cur[k] || 0);
  const offered = d('offered');
  const taken = d('taken');
  const dropped = d('dropped');
  const handled = taken + dropped;
  const per = prev && dtS > 0 ? 1 / dtS : NaN;
  return {
    offered_per_s: offered * per,
    taken_per_s: taken * per,
    dropped_per_s: dropped * per,
    drop_rate: handled > 0 ? dropped / handled : 0,
    interval: Boolean(prev),
  };
}

// Why a critical pipeline misses its SLA now (list of reasons; empty: it holds). Best-effort
// pipelines never miss (they may drop by design).
//   pipeline: the API's pipeline record (sla); cur: its stats row; rates: pipelineRates()
export function slaMisses(pipeline, cur, rates) {
  if (!pipeline || pipeline.sla !== 'critical' || !cur) return [];
  const why = [];
  if (cur.state && cur.state !== 'running') why.push(`worker ${cur.state}`);
  if (rates && rates.interval && rates.dropped_per_s > 0) why.push(`dropping ${(rates.drop_rate * 100).toFixed(1)}% of frames`);
  if (Number.isFinite(cur.last_result_age_s) && cur.last_result_age_s > SLA_RESULT_AGE_S) {
    why.push(`newest result ${cur.last_result_age_s.toFixed(1)} s old`);
  }
  return why;
}

// "crashed 2, hung 1" from {crashed: 2, hung: 1}; "" when none.
export function reasonsText(reasons) {
  return Object.entries(reasons || {})
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

// Latency figures a stats row carries, whatever their names (`latency_ms`, `latency_p50_ms`,
// `hops: {...}`): [[label, ms]]. Today's API has none; the page shows what appears.
export function latencyHops(row) {
  const out = [];
  if (!row) return out;
  for (const [k, v] of Object.entries(row)) {
    if (/latency|_ms$/.test(k) && typeof v === 'number') out.push([k, v]);
    if ((k === 'hops' || k === 'latency') && v && typeof v === 'object') {
      for (const [hk, hv] of Object.entries(v)) if (typeof hv === 'number') out.push([hk, hv]);
    }
  }
  return out;
}

// A fixed-size history of samples for the charts: times (s) and one array per series.
export class History {
  constructor(series, capacity = 300) {
    this.capacity = capacity;
    this.t = [];
    this.data = Object.fromEntries(series.map((s) => [s, []]));
  }
  add(tS, values) {
    this.t.push(tS);
    for (const k of Object.keys(this.data)) this.data[k].push(values[k] ?? null);
    if (this.t.length > this.capacity) {
      this.t.shift();
      for (const k of Object.keys(this.data)) this.data[k].shift();
    }
  }
  // uPlot's form: [times, series1, series2, ...]
  columns() {
    return [this.t, ...Object.values(this.data)];
  }
}
