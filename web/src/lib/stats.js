// Rolling statistics the tiles and the health panel show: samples kept for a time window
// (frame age at display over the last minute), percentiles, and a frame-rate meter.
// Pure: every method takes the time it runs at (ms), so tests need no clock.

// Nearest-rank percentile of an ascending array (p in [0, 100]); NaN when empty.
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

// Samples (value, at) kept while younger than windowMs, at most maxSamples (oldest dropped).
export class RollingWindow {
  constructor(windowMs = 60_000, maxSamples = 6000) {
    this.windowMs = windowMs;
    this.maxSamples = maxSamples;
    this.values = [];
    this.times = [];
  }
  add(value, atMs) {
    if (!Number.isFinite(value)) return;
    this.values.push(value);
    this.times.push(atMs);
    if (this.values.length > this.maxSamples) {
      this.values.shift();
      this.times.shift();
    }
  }
  prune(nowMs) {
    let n = 0;
    while (n < this.times.length && nowMs - this.times[n] > this.windowMs) n++;
    if (n > 0) {
      this.values.splice(0, n);
      this.times.splice(0, n);
    }
  }
  count(nowMs) {
    this.prune(nowMs);
    return this.values.length;
  }
  // {count, p50, p99, max}; p50/p99/max NaN when there is no sample in the window.
  summary(nowMs) {
    this.prune(nowMs);
    const sorted = [...this.values].sort((a, b) => a - b);
    return {
      count: sorted.length,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted.length ? sorted[sorted.length - 1] : NaN,
    };
  }
}

// Frames per second over the last windowMs (default 2 s) of ticks.
export class RateMeter {
  constructor(windowMs = 2000) {
    this.windowMs = windowMs;
    this.ticks = [];
  }
  tick(atMs) {
    this.ticks.push(atMs);
    this.#prune(atMs);
  }
  #prune(nowMs) {
    while (this.ticks.length && nowMs - this.ticks[0] > this.windowMs) this.ticks.shift();
  }
  rate(nowMs) {
    this.#prune(nowMs);
    if (this.ticks.length < 2) return 0;
    const span = Math.max(nowMs - this.ticks[0], this.ticks[this.ticks.length - 1] - this.ticks[0]);
    return span > 0 ? ((this.ticks.length - 1) * 1000) / span : 0;
  }
  last() {
    return this.ticks.length ? this.ticks[this.ticks.length - 1] : NaN;
  }
}

// "42 ms", "1.3 s", "—" for NaN.
export function formatMs(ms) {
  if (!Number.isFinite(ms)) return '—';
  if (Math.abs(ms) < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}
