// metrics.js - what the dashboard's live view reads from GET /metrics: a parser for the
// Prometheus text exposition format (0.0.4), the few numbers the view draws, and their history
// over the last minutes as rates and latency quantiles. No DOM and no network (js/live.js draws,
// tests/e2e/model.test.js runs this under node).
//
// Families read (the gateway's contract, include/metrics.h):
//   dualgate_events_total{stream}                 events per second per queue ("logs" apart)
//   dualgate_connections{transport}               connections by transport
//   dualgate_delivery_latency_seconds (histogram) p50 / p99 of each interval, all transports
//   dualgate_dropped_messages_total, dualgate_slow_consumer_closes_total   per interval

// ---------------------------------------------------------------- text format

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const SUFFIXES = { histogram: ['_bucket', '_sum', '_count'], summary: ['_sum', '_count'] };

// Go's ParseFloat spellings as Prometheus writes them; Number() alone misreads "+Inf" and takes
// "" or "0x10" for numbers.
export function parseValue(s) {
  const t = s.toLowerCase();
  if (t === 'nan') return NaN;
  if (t === '+inf' || t === 'inf') return Infinity;
  if (t === '-inf') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) return null;
  return Number(s);
}

function unescapeHelp(s) {
  return s.replace(/\\(\\|n)/g, (m, c) => (c === 'n' ? '\n' : '\\'));
}

// Parses `{name="value",...}` at text[i] (text[i] === '{'); returns { labels, end } or throws.
function parseLabels(text, i) {
  const labels = {};
  i++;
  for (;;) {
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (text[i] === '}') return { labels, end: i + 1 };
    const m = LABEL.exec(text.slice(i));
    if (!m) throw new Error('bad label name');
    const name = m[0];
    i += name.length;
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (text[i] !== '=' || text[i + 1] !== '"') throw new Error(`label ${name}: expected ="`);
    i += 2;
    let v = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new Error(`label ${name}: unterminated value`);
      if (c === '"') break;
      if (c === '\\') {
        const e = text[i + 1];
        if (e === 'n') v += '\n';
        else if (e === '\\' || e === '"') v += e;
        else throw new Error(`label ${name}: bad escape \\${e ?? ''}`);
        i += 2;
      } else {
        v += c;
        i++;
      }
    }
    if (Object.prototype.hasOwnProperty.call(labels, name)) throw new Error(`label ${name} repeated`);
    labels[name] = v;
    i++;
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new Error(`label ${name}: expected , or }`);
  }
}

// Returns { families: Map(name -> { name, type, help, samples: [{ name, labels, value }] }),
// errors: [{ line, message }] }. A bad line is reported and skipped, never thrown: one odd
// sample must not blank the whole view.
export function parseExposition(text) {
  const families = new Map();
  const errors = [];
  const family = (name) => {
    let f = families.get(name);
    if (!f) {
      f = { name, type: 'untyped', help: '', samples: [] };
      families.set(name, f);
    }
    return f;
  };
  // The family a sample name belongs to: itself, or a histogram/summary it is a suffix of.
  const owner = (name) => {
    for (const [type, sfx] of Object.entries(SUFFIXES)) {
      for (const s of sfx) {
        if (!name.endsWith(s)) continue;
        const f = families.get(name.slice(0, -s.length));
        if (f && f.type === type) return f;
      }
    }
    return family(name);
  };
  const lines = String(text).split('\n');
  lines.forEach((raw, idx) => {
    const line = raw.trim();
    if (!line) return;
    try {
      if (line[0] === '#') {
        const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
        if (!m) return; // a plain comment
        if (!NAME.test(m[2]) || NAME.exec(m[2])[0] !== m[2]) throw new Error(`bad metric name ${m[2]}`);
        if (m[1] === 'HELP') {
          family(m[2]).help = unescapeHelp(m[3] ?? '');
          return;
        }
        const type = (m[3] ?? '').trim();
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type)) throw new Error(`bad type ${type}`);
        family(m[2]).type = type;
        return;
      }
      const m = NAME.exec(line);
      if (!m) throw new Error('bad metric name');
      let i = m[0].length;
      let labels = {};
      if (line[i] === '{') ({ labels, end: i } = parseLabels(line, i));
      const rest = line.slice(i).trim().split(/\s+/);
      if (rest.length < 1 || rest.length > 2 || rest[0] === '') throw new Error('expected a value');
      const value = parseValue(rest[0]);
      if (value === null) throw new Error(`bad value ${rest[0]}`);
      owner(m[0]).samples.push({ name: m[0], labels, value });
    } catch (e) {
      errors.push({ line: idx + 1, message: e.message });
    }
  });
  return { families, errors };
}

// ---------------------------------------------------------------- what the view reads

function sumBy(parsed, name, label) {
  const out = {};
  const f = parsed.families.get(name);
  if (!f) return null;
  for (const s of f.samples) {
    if (s.name !== name || !Number.isFinite(s.value)) continue;
    const k = label ? s.labels[label] ?? '' : '';
    out[k] = (out[k] || 0) + s.value;
  }
  return out;
}

const total = (o) => (o ? Object.values(o).reduce((a, b) => a + b, 0) : null);

// The sum of a histogram's series (every label set): { buckets: [{ le, count }] by le, count, sum }.
export function mergeHistogram(parsed, name) {
  const f = parsed.families.get(name);
  if (!f || f.type !== 'histogram') return null;
  const byLe = new Map();
  let count = 0, sum = 0;
  for (const s of f.samples) {
    if (s.name === `${name}_bucket`) {
      const le = parseValue(s.labels.le ?? '');
      if (le === null || Number.isNaN(le)) continue;
      byLe.set(le, (byLe.get(le) || 0) + s.value);
    } else if (s.name === `${name}_count`) count += s.value;
    else if (s.name === `${name}_sum`) sum += s.value;
  }
  const buckets = [...byLe].sort((a, b) => a[0] - b[0]).map(([le, c]) => ({ le, count: c }));
  return { buckets, count, sum };
}

// One scrape reduced to what the live view draws; null fields where the family is absent.
export function readDashboard(parsed) {
  return {
    events: sumBy(parsed, 'dualgate_events_total', 'stream'),
    connections: sumBy(parsed, 'dualgate_connections', 'transport'),
    dropped: total(sumBy(parsed, 'dualgate_dropped_messages_total')),
    slowCloses: total(sumBy(parsed, 'dualgate_slow_consumer_closes_total')),
    latency: mergeHistogram(parsed, 'dualgate_delivery_latency_seconds'),
  };
}

// PromQL's histogram_quantile over cumulative buckets [{ le, count }] (ascending, +Inf last):
// linear within the bucket the rank falls in, 0 as the first bucket's lower edge, and the
// highest finite bound when the rank is in +Inf. null when there are no observations.
export function histogramQuantile(q, buckets) {
  if (!buckets || !buckets.length) return null;
  const n = buckets[buckets.length - 1].count;
  if (!(n > 0)) return null;
  const rank = q * n;
  let prevLe = 0, prevCount = 0;
  for (let i = 0; i < buckets.length; i++) {
    const { le, count } = buckets[i];
    if (count >= rank) {
      if (le === Infinity) return i > 0 ? buckets[i - 1].le : null;
      if (count === prevCount || count === rank) return le; // exact at the edge, no rounding
      return prevLe + ((le - prevLe) * (rank - prevCount)) / (count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return null;
}

// ---------------------------------------------------------------- history

// A counter's increase from a to b; a counter that went down was reset (gateway restart), so
// the increase is b itself, as Prometheus' rate() takes it.
const increase = (a, b) => (b >= a ? b - a : b);

function histDelta(prev, cur) {
  if (!cur) return null;
  if (!prev || cur.count < prev.count) return cur.buckets;
  const before = new Map(prev.buckets.map((b) => [b.le, b.count]));
  return cur.buckets.map((b) => ({ le: b.le, count: increase(before.get(b.le) ?? 0, b.count) }));
}

// Scrapes in, points out: each point describes the interval since the scrape before it.
//   { at, dt (s), eventsPerSec: { stream: r }, connections: { transport: n }, p50, p99 (s or
//     null: no deliveries in the interval), dropped, slowCloses (counts in the interval) }
// Points older than windowMs are dropped; a gap longer than maxGapMs (gateway unreachable)
// starts over, so one rate never spans an outage.
export class MetricsHistory {
  constructor({ windowMs = 5 * 60 * 1000, maxGapMs = 60 * 1000 } = {}) {
    this.windowMs = windowMs;
    this.maxGapMs = maxGapMs;
    this.points = [];
    this.last = null; // { at, snap }
  }

  push(at, snap) {
    const prev = this.last;
    this.last = { at, snap };
    if (!prev || at - prev.at > this.maxGapMs || at <= prev.at) return null;
    const dt = (at - prev.at) / 1000;
    const eventsPerSec = {};
    for (const [k, v] of Object.entries(snap.events || {})) {
      eventsPerSec[k] = increase(prev.snap.events?.[k] ?? 0, v) / dt;
    }
    const delta = histDelta(prev.snap.latency, snap.latency);
    const inc = (k) => (snap[k] === null ? null : increase(prev.snap[k] ?? 0, snap[k]));
    const point = {
      at, dt, eventsPerSec, connections: { ...(snap.connections || {}) },
      p50: histogramQuantile(0.5, delta), p99: histogramQuantile(0.99, delta),
      dropped: inc('dropped'), slowCloses: inc('slowCloses'),
    };
    this.points.push(point);
    while (this.points.length && this.points[0].at < at - this.windowMs) this.points.shift();
    return point;
  }

  // [{ at, v }] of one value picked from each point (v may be null: a gap in the line).
  series(pick) {
    return this.points.map((p) => ({ at: p.at, v: pick(p) }));
  }

  // The keys seen under a point field (streams, transports) in the window, sorted.
  keys(field) {
    const s = new Set();
    for (const p of this.points) for (const k of Object.keys(p[field] || {})) s.add(k);
    return [...s].sort();
  }

  // Sum of a per-interval count over the window (drops, slow closes).
  sum(field) {
    return this.points.reduce((a, p) => a + (p[field] || 0), 0);
  }

  clear() {
    this.points = [];
    this.last = null;
  }
}

// ---------------------------------------------------------------- drawing helpers

// An SVG path for series [{ at, v }] in a width x height box, time from t0 to t1 left to right,
// values from 0 (bottom) to max (top). A null v breaks the line. '' when nothing to draw.
export function sparkPath(series, { width, height, t0, t1, max }) {
  const span = t1 - t0 || 1;
  const top = max > 0 ? max : 1;
  let d = '', pen = false;
  for (const { at, v } of series) {
    if (v === null || v === undefined || !Number.isFinite(v)) {
      pen = false;
      continue;
    }
    const x = ((at - t0) / span) * width;
    const y = height - (Math.min(v, top) / top) * height;
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)} ${y.toFixed(1)}`;
    pen = true;
  }
  return d;
}

// The largest finite v of several series (0 when none), for a shared scale.
export function seriesMax(...all) {
  let m = 0;
  for (const s of all) for (const { v } of s) if (Number.isFinite(v) && v > m) m = v;
  return m;
}

export function formatRate(r) {
  if (r === null || r === undefined || !Number.isFinite(r)) return '—';
  if (r === 0) return '0/s';
  if (r < 10) return `${r.toFixed(1)}/s`;
  if (r < 10000) return `${Math.round(r)}/s`;
  return `${(r / 1000).toFixed(1)}k/s`;
}

export function formatSeconds(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—';
  if (s < 0.001) return `${Math.round(s * 1e6)} µs`;
  if (s < 1) return `${(s * 1000).toFixed(s < 0.01 ? 1 : 0)} ms`;
  return `${s.toFixed(s < 10 ? 2 : 1)} s`;
}
