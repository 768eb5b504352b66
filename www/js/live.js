// live.js - the health strip's live view: polls GET /metrics, keeps js/metrics.js's history
// and draws four SVG sparkline tiles (events/s per queue, connections by transport, delivery
// latency p50/p99, drops and slow-consumer closes) over the last minutes. Hidden while the
// gateway has no /metrics (404); marked stale (not cleared) while it does not answer.
import { parseExposition, readDashboard, MetricsHistory, sparkPath, seriesMax, formatRate, formatSeconds }
  from './metrics.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 160, H = 36;
const ABSENT_RETRY_MS = 60000; // a gateway without /metrics may be upgraded under the page
const TRANSPORTS = ['sse', 'websocket', 'polling'];
const NAMES = { sse: 'SSE', websocket: 'WS', polling: 'polling', p50: 'p50', p99: 'p99',
  dropped: 'drops', slowCloses: 'slow closes' };

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// One tile: caption, an SVG with one path per series, a legend with each series' last value.
class Tile {
  constructor(root, metric, title) {
    this.fig = el('figure', 'tile');
    this.fig.dataset.metric = metric;
    const cap = el('figcaption');
    cap.append(el('b', null, title), ' ', (this.value = el('span', 'val', '…')));
    this.svg = document.createElementNS(SVG, 'svg');
    this.svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    this.svg.setAttribute('preserveAspectRatio', 'none');
    this.svg.setAttribute('role', 'img');
    this.svg.setAttribute('aria-label', title);
    this.max = el('span', 'max');
    this.legend = el('ul', 'legend');
    const plot = el('div', 'plot');
    plot.append(this.svg, this.max);
    this.fig.append(cap, plot, this.legend);
    root.append(this.fig);
  }

  // lines: [{ key, label, series, text }]; fmt formats the scale's top value.
  draw(lines, { t0, t1, value, fmt }) {
    const max = seriesMax(...lines.map((l) => l.series));
    this.svg.replaceChildren(...lines.map((l, i) => {
      const p = document.createElementNS(SVG, 'path');
      p.setAttribute('class', `s${i % 6}`);
      p.setAttribute('d', sparkPath(l.series, { width: W, height: H, t0, t1, max }));
      p.dataset.key = l.key;
      return p;
    }));
    this.max.textContent = max > 0 ? fmt(max) : '';
    this.legend.replaceChildren(...lines.map((l, i) => {
      const li = el('li', `s${i % 6}`, `${l.label} ${l.text}`);
      li.dataset.key = l.key;
      return li;
    }));
    this.value.textContent = value;
    const latest = {};
    for (const l of lines) latest[l.key] = l.last ?? null;
    this.fig.dataset.latest = JSON.stringify(latest);
  }
}

const lastOf = (series) => (series.length ? series[series.length - 1].v : null);

export class LiveView {
  // root: the (hidden) section to fill; base: the gateway origin ('' = this page's).
  constructor(root, base, { intervalMs = 5000, windowMs = 5 * 60 * 1000 } = {}) {
    this.root = root;
    this.base = base;
    this.intervalMs = intervalMs;
    this.windowMs = windowMs;
    this.history = new MetricsHistory({ windowMs, maxGapMs: Math.max(4 * intervalMs, 20000) });
    this.timer = null;
    this.tiles = null;
  }

  start() {
    this.poll();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
  }

  async poll() {
    let next = this.intervalMs;
    const ctl = new AbortController();
    const abort = setTimeout(() => ctl.abort(), Math.min(2500, this.intervalMs));
    try {
      const r = await fetch(`${this.base}/metrics`, { cache: 'no-store', signal: ctl.signal });
      if (r.status === 404) {
        this.setState('absent');
        this.history.clear();
        next = ABSENT_RETRY_MS;
      } else if (!r.ok) {
        this.setState('stale');
      } else {
        const parsed = parseExposition(await r.text());
        this.history.push(Date.now(), readDashboard(parsed));
        this.setState('live');
        this.render();
      }
    } catch {
      // Unreachable (restarting) or, for another origin, refused by CORS: a view that was
      // live goes stale; one never shown stays hidden and asks again rarely.
      if (this.root.hidden) next = ABSENT_RETRY_MS;
      this.setState(this.root.hidden ? 'absent' : 'stale');
    } finally {
      clearTimeout(abort);
    }
    this.timer = setTimeout(() => this.poll(), next);
  }

  setState(s) {
    this.root.dataset.state = s;
    this.root.hidden = s === 'absent';
  }

  render() {
    if (!this.tiles) {
      this.root.replaceChildren();
      this.tiles = {
        events: new Tile(this.root, 'events', 'events/s'),
        connections: new Tile(this.root, 'connections', 'connections'),
        latency: new Tile(this.root, 'latency', 'delivery latency'),
        drops: new Tile(this.root, 'drops', 'drops · slow closes'),
      };
      this.note = el('span', 'live-note');
      this.root.append(this.note);
    }
    const h = this.history;
    // Until the window is full the lines span what there is, so the first minute is readable.
    const t1 = h.last.at;
    const t0 = h.points.length ? Math.max(t1 - this.windowMs, h.points[0].at - h.points[0].dt * 1000) : t1 - 1;
    const box = { t0, t1 };
    const span = (t1 - t0) / 1000;
    this.note.textContent = h.points.length
      ? `last ${span >= 90 ? `${Math.round(span / 60)} min` : `${Math.round(span)} s`}, every ${Math.round(this.intervalMs / 1000)} s`
      : 'collecting…';

    const line = (key, label, pick, fmt) => {
      const series = h.series(pick);
      const last = lastOf(series);
      return { key, label, series, last, text: fmt(last) };
    };

    const streams = h.keys('eventsPerSec');
    const ev = streams.map((s) => line(s, s, (p) => p.eventsPerSec[s] ?? 0, formatRate));
    const evTotal = ev.reduce((a, l) => a + (l.last || 0), 0);
    this.tiles.events.draw(ev, { ...box, value: h.points.length ? formatRate(evTotal) : '…', fmt: formatRate });

    const transports = [...new Set([...TRANSPORTS, ...h.keys('connections')])];
    const conns = transports.map((t) => line(t, NAMES[t] || t, (p) => p.connections[t] ?? 0, (v) => String(v ?? 0)));
    const cur = h.last.snap.connections || {};
    this.tiles.connections.draw(conns, { ...box, fmt: String,
      value: String(Object.values(cur).reduce((a, b) => a + b, 0)) });

    const lat = ['p50', 'p99'].map((q) => line(q, q, (p) => p[q], formatSeconds));
    const lastLat = (q) => {
      for (let i = h.points.length - 1; i >= 0; i--) if (h.points[i][q] !== null) return h.points[i][q];
      return null;
    };
    for (const l of lat) l.text = formatSeconds(lastLat(l.key)); // the last interval that had deliveries
    this.tiles.latency.draw(lat, { ...box, fmt: formatSeconds,
      value: h.points.length ? `p99 ${formatSeconds(lastLat('p99'))}` : '…' });

    // Counts over the lines' span, not rates: any drop is worth seeing.
    const bad = ['dropped', 'slowCloses'].map((k) => line(k, NAMES[k], (p) => p[k], (v) => String(v ?? 0)));
    for (const l of bad) l.text = String(h.sum(l.key));
    this.tiles.drops.draw(bad, { ...box, fmt: String,
      value: `${h.sum('dropped')} · ${h.sum('slowCloses')}` });
  }
}
