// sse.js - the EventSource transport: one stream per followed job or queue plus /sse/logs,
// resumed by the browser itself with Last-Event-ID. It is not the model: events go to a sink.
//
// Browsers open at most 6 HTTP/1.1 connections per host and CivetWeb speaks no HTTP/2, so every
// EventSource holds one of those 6. Past `budget` streams the jobs are served by their queues'
// streams instead (filtered by the model), and a switch resumes from the streams it replaces.
import { JOB_EVENTS, mergeCursors, parseCursor } from './model.js';

const enc = encodeURIComponent;
const jobPath = (f) => `/sse/jobs/${enc(f.id)}${f.queue ? `?queue=${enc(f.queue)}` : ''}`;
const queuePath = (q) => `/sse/queues/${enc(q)}`;

// sink: { jobEvent(name, payload, {dedup}), log(entry), gap(data, where), state(s),
//         followStatus(key, {live, error}), recovery(recovered) (Socket.IO only) }
export class SseTransport {
  constructor(base, sink, { budget = 5, retryMs = 3000, maxRetryMs = 10000 } = {}) {
    this.base = base;
    this.sink = sink;
    this.budget = budget;
    this.retryMs = retryMs;
    this.maxRetryMs = maxRetryMs;
    this.streams = new Map(); // path -> stream record
    this.coalesced = false;
    this.closed = false;
    this.lastState = '';
  }

  get name() { return 'sse'; }

  // Opens, keeps or closes streams so that `follows` (JobStore follows) are all covered.
  sync(follows, knownQueues) {
    const { plan, overflow } = this._plan(follows, knownQueues);
    const retired = [];
    for (const [path, st] of this.streams) {
      if (plan.has(path)) continue;
      this._close(st);
      this.streams.delete(path);
      retired.push(st);
      // Not live until the stream taking over is open (a retained one says so just below).
      this._status(st, { live: false, error: null });
    }
    for (const [path, covers] of plan) {
      const st = this.streams.get(path);
      if (st) {
        st.covers = covers;
        // A follow joining an open stream is live at once; it would get no onopen of its own.
        if (st.state === 'open') this._status(st, { live: true, error: null });
        continue;
      }
      // Resume where the streams that covered the same follows left off.
      const from = mergeCursors(retired.filter((r) => r.lastId && [...r.covers].some((k) => covers.has(k)))
        .map((r) => r.lastId));
      const rec = { path, covers, es: null, lastId: '', state: 'connecting', everOpen: false,
        attempts: 0, timer: null, closed: false };
      this.streams.set(path, rec);
      this._open(rec, from);
    }
    for (const f of overflow) {
      this.sink.followStatus(f.key, { live: false,
        error: 'over the browser\'s 6 connections per host: unfollow something or use Socket.IO' });
    }
    this._report();
  }

  close() {
    this.closed = true;
    for (const st of this.streams.values()) this._close(st);
    this.streams.clear();
  }

  // Map path -> Set(followKey), and the follows no stream could take.
  _plan(follows, known) {
    const plan = new Map();
    const add = (path, key) => {
      if (!plan.has(path)) plan.set(path, new Set());
      plan.get(path).add(key);
    };
    add('/sse/logs', 'logs');
    const followedQueues = new Set(follows.filter((f) => f.kind === 'queue').map((f) => f.name));
    for (const q of followedQueues) add(queuePath(q), `q:${q}`);
    const jobs = [];
    for (const f of follows) {
      if (f.kind !== 'job') continue;
      if (f.queue && followedQueues.has(f.queue)) add(queuePath(f.queue), f.key);
      else jobs.push(f);
    }
    const overflow = [];
    this.coalesced = plan.size + jobs.length > this.budget;
    if (!this.coalesced) {
      for (const f of jobs) add(jobPath(f), f.key);
    } else {
      for (const f of jobs) {
        const qs = f.queue ? [f.queue] : known;
        if (!qs.length) overflow.push(f);
        for (const q of qs) add(queuePath(q), f.key);
      }
    }
    if (plan.size > this.budget) {
      for (const path of [...plan.keys()].slice(this.budget)) {
        for (const key of plan.get(path)) {
          const f = follows.find((x) => x.key === key);
          if (f && !overflow.includes(f)) overflow.push(f);
        }
        plan.delete(path);
      }
    }
    return { plan, overflow };
  }

  _open(st, resumeFrom) {
    if (this.closed || st.closed) return;
    let url = this.base + st.path;
    // A stream opened anew (not EventSource's own retry) passes its cursor in the query; the
    // browser's Last-Event-ID header wins over it on its later retries.
    if (resumeFrom) url += `${url.includes('?') ? '&' : '?'}lastEventId=${enc(resumeFrom)}`;
    const es = new EventSource(url);
    st.es = es;
    st.url = url;
    es.onopen = () => {
      if (st.es !== es) return;
      st.state = 'open';
      st.everOpen = true;
      st.attempts = 0;
      this._status(st, { live: true, error: null });
      this._report();
    };
    es.onerror = () => {
      if (st.es !== es || st.closed) return;
      if (es.readyState === EventSource.CLOSED) {
        this._failed(st, es);
      } else {
        st.state = 'retrying';
        this._status(st, { live: false, error: null });
        this._report();
      }
    };
    const onEvent = (ev) => this._onEvent(st, ev);
    for (const name of JOB_EVENTS) es.addEventListener(name, onEvent);
    es.addEventListener('message', onEvent);
    es.addEventListener('log', onEvent);
    es.addEventListener('gap', onEvent);
    es.addEventListener('state', onEvent); // a job stream opened without a cursor says this first
  }

  _onEvent(st, ev) {
    if (st.es !== ev.target) return;
    if (ev.lastEventId) st.lastId = ev.lastEventId;
    let data;
    try {
      data = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (ev.type === 'gap') {
      this.sink.gap(data, decodeURIComponent(st.path));
    } else if (ev.type === 'log') {
      this.sink.log(data);
    } else if (data && typeof data === 'object') {
      // The cursor's component for the event's own queue is that entry's stream id: a key that
      // is the same on every stream that delivers this entry.
      // A `state` carries the join position, which is no entry of its own: never a duplicate.
      const pos = ev.type === 'state' ? null : parseCursor(ev.lastEventId).get(String(data.queue));
      this.sink.jobEvent(ev.type, data, { dedup: pos ? `${data.queue}:${pos}` : null });
    }
  }

  // EventSource gives up for good on a non-200 answer (a restarting gateway may send 503). Ask
  // what the answer was: a 4xx is final (unknown queue, bad id) and shown on the follows; other
  // failures are retried with backoff, resuming from the last id seen.
  async _failed(st, es) {
    es.close();
    st.state = 'retrying';
    this._status(st, { live: false, error: null });
    this._report();
    let status = 0, message = '';
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 4000);
    try {
      const r = await fetch(st.url, { signal: ctl.signal, cache: 'no-store' });
      status = r.status;
      if (status !== 200) {
        const body = await r.json().catch(() => ({}));
        message = body.message || body.error || `HTTP ${status}`;
      }
    } catch {
      status = 0;
    } finally {
      clearTimeout(timer);
      ctl.abort();
    }
    if (st.closed || this.closed) return;
    if (status >= 400 && status < 500 && status !== 429) {
      st.state = 'failed';
      this._status(st, { live: false, error: message });
      this._report();
      return;
    }
    const delay = Math.min(this.maxRetryMs, this.retryMs * 2 ** st.attempts);
    st.attempts++;
    st.timer = setTimeout(() => {
      st.timer = null;
      this._open(st, st.lastId);
    }, status === 200 ? 0 : delay);
  }

  _status(st, s) {
    for (const key of st.covers) if (key !== 'logs') this.sink.followStatus(key, s);
  }

  _close(st) {
    st.closed = true;
    if (st.timer) clearTimeout(st.timer);
    if (st.es) st.es.close();
  }

  _report() {
    if (this.closed) return;
    const all = [...this.streams.values()].filter((s) => s.state !== 'failed');
    let phase;
    if (!all.length && this.streams.size) phase = 'failed';
    else if (all.length && all.every((s) => s.state === 'open')) phase = 'connected';
    else if (all.some((s) => s.everOpen && s.state !== 'open')) phase = 'reconnecting';
    else phase = 'connecting';
    const open = all.filter((s) => s.state === 'open').length;
    const detail = phase === 'failed' ? 'every stream was refused (see the follows)'
      : `${open}/${all.length} streams${this.coalesced ? ', by queue' : ''}`;
    const key = `${phase} ${detail}`;
    if (key === this.lastState) return;
    this.lastState = key;
    this.sink.state({ phase, transport: 'sse', detail });
  }
}
