// model.js - the dashboard's state: what is followed, every job seen (state timeline, progress,
// result) and the bounded log buffer. No DOM and no network: transports feed it events, views
// read it, and node:test exercises it directly (tests/e2e/model.test.js).

export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

// BullMQ's job-scoped event names. EventSource has no catch-all listener, so the SSE transport
// registers each of these; Socket.IO uses onAny and is not limited to them.
export const JOB_EVENTS = ['added', 'waiting', 'waiting-children', 'active', 'progress', 'completed',
  'failed', 'delayed', 'stalled', 'retries-exhausted', 'removed', 'duplicated', 'deduplicated',
  'debounced', 'cleaned', 'drained', 'paused', 'resumed'];

// Events that move a job to a new state (the rest annotate the timeline only).
const STATE_OF = {
  added: 'added', waiting: 'waiting', 'waiting-children': 'waiting-children', delayed: 'delayed',
  active: 'active', completed: 'completed', failed: 'failed', removed: 'removed', stalled: 'stalled',
};
const TERMINAL = new Set(['completed', 'failed', 'removed']);

// The stages drawn as the timeline, in order; `failed` shares the last slot with `completed`.
export const STAGES = ['waiting', 'active', 'progress', 'done'];

// Queue names are [A-Za-z0-9_.-] (gateway config), so ':' cannot occur in them; '*' = any queue.
export function followKey(f) {
  return f.kind === 'queue' ? `q:${f.name}` : `j:${f.queue || '*'}:${f.id}`;
}

export function jobKey(queue, jobId) {
  return `${queue}:${jobId}`;
}

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const clamp = (v) => Math.max(0, Math.min(100, v));

// Percentage for a progress payload: a number, or an object with a recognisable shape. null
// when the job reports something else (the view then shows the JSON and an indeterminate bar).
export function progressPercent(d) {
  if (isNum(d)) return clamp(d);
  if (!d || typeof d !== 'object') return null;
  for (const k of ['percent', 'percentage', 'progress', 'pct']) if (isNum(d[k])) return clamp(d[k]);
  for (const [a, b] of [['step', 'of'], ['current', 'total'], ['done', 'total'], ['value', 'max']]) {
    if (isNum(d[a]) && isNum(d[b]) && d[b] > 0) return clamp((100 * d[a]) / d[b]);
  }
  return null;
}

function short(v, max = 120) {
  let s;
  try { s = typeof v === 'string' ? v : JSON.stringify(v); } catch { s = String(v); }
  if (s === undefined) s = 'undefined';
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

// One line describing an event for the per-job event list.
export function summarize(event, p) {
  switch (event) {
    case 'added': return p.name ? `name ${short(p.name, 60)}` : '';
    case 'progress': return short(p.data);
    case 'completed': return `returned ${short(p.returnvalue)}`;
    case 'failed': return short(String(p.failedReason ?? '').split('\n')[0]);
    case 'delayed': return isNum(Number(p.delay)) ? `until ${new Date(Number(p.delay)).toISOString()}` : '';
    case 'retries-exhausted': return p.attemptsMade !== undefined ? `after ${p.attemptsMade} attempts` : '';
    case 'active': case 'removed': case 'waiting': return p.prev ? `from ${p.prev}` : '';
    case 'deduplicated': return p.deduplicatedJobId ? `kept ${short(p.deduplicatedJobId, 60)}` : '';
    case 'state': return `${p.state}${p.error ? ` (${p.error})` : ''} when subscribed`;
    default: return '';
  }
}

// Parses an SSE resume cursor "NAME:MS-SEQ,NAME:MS-SEQ" into a Map name -> "MS-SEQ".
export function parseCursor(s) {
  const m = new Map();
  if (!s) return m;
  for (const part of String(s).split(',')) {
    const i = part.lastIndexOf(':');
    if (i > 0 && /^\d+-\d+$/.test(part.slice(i + 1))) m.set(part.slice(0, i), part.slice(i + 1));
  }
  return m;
}

function cmpId(a, b) {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  return am === bm ? (as < bs ? -1 : as > bs ? 1 : 0) : am < bm ? -1 : 1;
}

// The earliest position per stream over several cursors: resuming from it misses nothing any
// of them had not seen yet (duplicates are dropped by JobStore's dedup keys). '' if none.
export function mergeCursors(cursors) {
  const out = new Map();
  for (const c of cursors) {
    for (const [name, id] of parseCursor(c)) {
      if (!out.has(name) || cmpId(id, out.get(name)) < 0) out.set(name, id);
    }
  }
  return [...out].map(([n, id]) => `${n}:${id}`).join(',');
}

// ---------------------------------------------------------------- jobs

export class JobStore {
  constructor({ maxJobs = 200, maxEventsPerJob = 100, now = () => Date.now() } = {}) {
    this.maxJobs = maxJobs;
    this.maxEventsPerJob = maxEventsPerJob;
    this.now = now;
    this.follows = new Map(); // followKey -> {kind, id?, queue?, name?, at, error?}
    this.jobs = new Map();    // jobKey -> job record
    this.seq = 0;             // creation order, breaks ties between equal timestamps
  }

  // Adds a follow; returns its key, or null when it was followed already.
  follow(f) {
    const rec = f.kind === 'queue' ? { kind: 'queue', name: f.name }
      : { kind: 'job', id: String(f.id), queue: f.queue || null };
    const key = followKey(rec);
    if (this.follows.has(key)) return null;
    rec.key = key;
    rec.at = this.now();
    rec.seq = ++this.seq;
    rec.error = null;
    rec.live = false;
    rec.unknown = null; // a `state` said no queue holds the job: {at, error}
    this.follows.set(key, rec);
    return key;
  }

  // Removes a follow and every job no remaining follow accepts. Returns true if it existed.
  unfollow(key) {
    if (!this.follows.delete(key)) return false;
    for (const [k, j] of this.jobs) if (!this.accepts(j.queue, j.jobId)) this.jobs.delete(k);
    return true;
  }

  // Records what the transport says about a follow: live (subscribed and receiving) and the
  // error that stopped it. Returns true when something changed.
  setStatus(key, { live = false, error = null } = {}) {
    const f = this.follows.get(key);
    if (!f || (f.live === live && f.error === error)) return false;
    f.live = live;
    f.error = error;
    return true;
  }

  followList(kind) {
    return [...this.follows.values()].filter((f) => !kind || f.kind === kind);
  }

  accepts(queue, jobId) {
    for (const f of this.follows.values()) {
      if (f.kind === 'queue' ? f.name === queue : f.id === jobId && (!f.queue || f.queue === queue)) return true;
    }
    return false;
  }

  // Applies one event. opts.at is the arrival time; opts.dedup a key unique per stream entry
  // (SSE) so an event delivered twice (overlapping streams, replay) counts once. Returns the
  // job record it changed, or null when nothing followed wants it (or it was a duplicate).
  // A `state` (what a late subscriber hears first: the job as BullMQ holds it now) sets the
  // card at once; an "unknown" one (no queue holds the job, or Redis could not say) marks the
  // follow instead, so its placeholder says so.
  apply(event, payload, { at = this.now(), dedup = null } = {}) {
    if (!payload || typeof payload !== 'object' || payload.jobId === undefined) return null;
    if (event === 'state' && (payload.queue === null || payload.state === 'unknown')) {
      this._unknownEverywhere(String(payload.jobId), payload, at);
      return null;
    }
    const queue = String(payload.queue ?? '');
    const jobId = String(payload.jobId);
    if (!this.accepts(queue, jobId)) return null;
    const key = jobKey(queue, jobId);
    let j = this.jobs.get(key);
    if (!j) {
      j = this._create(queue, jobId, at);
      this.jobs.set(key, j);
      this._evict();
    }
    if (dedup) {
      if (j.seen.has(dedup)) return null;
      j.seen.add(dedup);
      if (j.seen.size > 4 * this.maxEventsPerJob) j.seen.delete(j.seen.values().next().value);
    }
    this._update(j, event, payload, at);
    return j;
  }

  _create(queue, jobId, at) {
    // An explicit follow created before any event keeps its place in the newest-first order.
    let createdAt = at, seq = ++this.seq;
    for (const f of this.follows.values()) {
      if (f.kind === 'job' && f.id === jobId && (!f.queue || f.queue === queue) && !this._hasCardFor(f)) {
        createdAt = f.at;
        seq = f.seq;
      }
    }
    return {
      key: jobKey(queue, jobId), queue, jobId, name: null, createdAt, seq, updatedAt: at,
      state: 'unknown', stages: {}, progress: null, percent: null, hasReturn: false,
      returnvalue: undefined, failedReason: null, attemptsMade: null, events: [], dropped: 0,
      seen: new Set(), runs: 1,
    };
  }

  _hasCardFor(f) {
    for (const j of this.jobs.values()) if (j.jobId === f.id && (!f.queue || f.queue === j.queue)) return true;
    return false;
  }

  _unknownEverywhere(jobId, p, at) {
    for (const f of this.follows.values()) {
      if (f.kind === 'job' && f.id === jobId) f.unknown = { at, error: p.error ? String(p.error) : null };
    }
  }

  // The job hash's view: timestamps are BullMQ's (ms since the epoch), members absent are left.
  _state(j, p, at) {
    if (typeof p.state === 'string') j.state = p.state === 'prioritized' ? 'waiting' : p.state;
    if (p.name !== undefined) j.name = String(p.name);
    const t = (v) => (isNum(v) ? v : at);
    if (isNum(p.timestamp)) j.stages.waiting = p.timestamp;
    if (isNum(p.processedOn)) j.stages.active = p.processedOn;
    if (p.progress !== undefined && p.progress !== 0) {
      j.stages.progress ??= t(p.processedOn);
      j.progress = p.progress;
      j.percent = progressPercent(p.progress);
    }
    if (p.state === 'completed') {
      j.stages.done = t(p.finishedOn);
      j.hasReturn = true;
      j.returnvalue = p.returnvalue;
      j.percent = 100;
    }
    if (p.failedReason !== undefined && p.state === 'failed') {
      j.stages.done = t(p.finishedOn);
      j.failedReason = String(p.failedReason);
    }
    if (p.attemptsMade !== undefined) j.attemptsMade = p.attemptsMade;
  }

  _update(j, event, p, at) {
    // A job id used again (removed, then added anew) starts a fresh run on the same card.
    if (event === 'added' && (TERMINAL.has(j.state) || j.state === 'delayed' && j.stages.failed)) {
      j.runs++;
      j.stages = {};
      j.progress = null;
      j.percent = null;
      j.hasReturn = false;
      j.returnvalue = undefined;
      j.failedReason = null;
    }
    j.updatedAt = at;
    if (event === 'state') {
      this._state(j, p, at);
      this._push(j, event, p, at);
      return;
    }
    if (p.name !== undefined && event === 'added') j.name = String(p.name);
    const st = STATE_OF[event];
    if (st) j.state = st;
    if (event === 'waiting' || event === 'added' || event === 'delayed') j.stages.waiting ??= at;
    if (event === 'active') j.stages.active = at;
    if (event === 'progress') {
      if (j.state === 'unknown' || j.state === 'waiting') j.state = 'active';
      j.stages.progress = at;
      j.progress = p.data;
      j.percent = progressPercent(p.data);
    }
    if (event === 'completed') {
      j.stages.done = at;
      j.hasReturn = true;
      j.returnvalue = p.returnvalue;
      j.percent = 100;
    }
    if (event === 'failed') {
      j.stages.done = at;
      j.failedReason = String(p.failedReason ?? '');
    }
    if (event === 'retries-exhausted' && p.attemptsMade !== undefined) j.attemptsMade = p.attemptsMade;
    this._push(j, event, p, at);
  }

  _push(j, event, p, at) {
    j.events.push({ event, at, summary: summarize(event, p) });
    if (j.events.length > this.maxEventsPerJob) {
      j.events.shift();
      j.dropped++;
    }
  }

  // Jobs seen only through a queue follow are dropped oldest first past maxJobs; jobs followed
  // by id are kept (the user asked for them).
  _evict() {
    if (this.jobs.size <= this.maxJobs) return;
    const byAge = [...this.jobs.values()].sort((a, b) => a.updatedAt - b.updatedAt || a.seq - b.seq);
    for (const j of byAge) {
      if (this.jobs.size <= this.maxJobs) break;
      if (!this._followedById(j)) this.jobs.delete(j.key);
    }
  }

  _followedById(j) {
    for (const f of this.follows.values()) {
      if (f.kind === 'job' && f.id === j.jobId && (!f.queue || f.queue === j.queue)) return true;
    }
    return false;
  }

  // What the jobs view draws, newest first: job cards, plus a placeholder for each job follow
  // that has no card yet ({placeholder: true, follow}).
  cards() {
    const out = [...this.jobs.values()];
    for (const f of this.follows.values()) {
      if (f.kind === 'job' && !this._hasCardFor(f)) out.push({ placeholder: true, follow: f, createdAt: f.at, seq: f.seq });
    }
    return out.sort((a, b) => b.createdAt - a.createdAt || b.seq - a.seq);
  }
}

// ---------------------------------------------------------------- logs

// Keeps the newest `max` entries; the page renders from here, so it never grows without bound.
export class LogBuffer {
  constructor(max = 500) {
    this.max = max;
    this.entries = [];
    this.evicted = 0;
    this.seq = 0;
    this.namespaces = new Set();
  }

  // Returns {entry, evicted}: the stored entry and the one pushed out (or null).
  push(raw, at = Date.now()) {
    const entry = {
      seq: ++this.seq, at,
      ts: String(raw.ts ?? ''), level: LEVELS.includes(raw.level) ? raw.level : String(raw.level ?? 'info'),
      ns: String(raw.ns ?? ''), msg: String(raw.msg ?? ''),
    };
    if (entry.ns && this.namespaces.size < 200) this.namespaces.add(entry.ns);
    this.entries.push(entry);
    let evicted = null;
    if (this.entries.length > this.max) {
      evicted = this.entries.shift();
      this.evicted++;
    }
    return { entry, evicted };
  }

  clear() {
    this.evicted += this.entries.length;
    this.entries = [];
  }
}

// Level at or above minLevel; ns a comma list of exact names or prefixes ending in '*'.
export function logMatches(e, { minLevel = 'trace', ns = '' } = {}) {
  const want = LEVELS.indexOf(minLevel);
  const have = LEVELS.indexOf(e.level);
  if (want > 0 && have >= 0 && have < want) return false;
  const terms = ns.split(',').map((t) => t.trim()).filter(Boolean);
  if (!terms.length) return true;
  return terms.some((t) => (t.endsWith('*') ? e.ns.startsWith(t.slice(0, -1)) : e.ns === t));
}

// Queue names from /health's stream keys: "<prefix>:<queue>:events" (the log stream has no
// ":events" suffix and is left out).
export function queuesFromHealth(h) {
  const streams = h && h.redis && Array.isArray(h.redis.streams) ? h.redis.streams : [];
  const out = [];
  for (const s of streams) {
    const parts = String(s.key || '').split(':');
    if (parts.length >= 3 && parts[parts.length - 1] === 'events') out.push(parts[parts.length - 2]);
  }
  return out;
}
