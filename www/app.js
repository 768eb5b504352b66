// app.js - the dashboard's wiring and views: reads the URL, keeps one transport (Socket.IO or
// EventSource) fed with the model's follows, draws jobs, logs, connection state and /health.
// State lives in js/model.js; the transports in js/sse.js and js/sio.js.
//
// URL parameters (all optional, the page keeps them current so the address is a share link):
//   job=<id>          follow a job id on any queue (repeatable)
//   qjob=<queue>:<id> follow a job id on one queue (repeatable)
//   queue=<name>      follow every job of a queue (repeatable)
//   transport=socketio|sse
//   gateway=http://host:port   another origin serving the API (CORS must allow this page)
//   logmax=<n>        lines kept in the log buffer (50..5000, default 500)
//   metricsms=<n>     how often the live view reads /metrics (1000..60000 ms, default 5000)
import { JobStore, LogBuffer, LEVELS, STAGES, logMatches, progressPercent, queuesFromHealth } from './js/model.js';
import { SseTransport } from './js/sse.js';
import { SioTransport } from './js/sio.js';
import { LiveView } from './js/live.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);
const HEALTH_MS = 3000;
const ID_MAX = 256;

function intParam(name, min, max, dflt) {
  const n = Number.parseInt(params.get(name) ?? '', 10);
  return Number.isFinite(n) ? Math.max(min, Math.min(max, n)) : dflt;
}

// Only an origin is taken from ?gateway=: paths and credentials in it would be surprising.
function gatewayBase() {
  const g = params.get('gateway');
  if (!g) return '';
  try {
    const u = new URL(g);
    if (u.protocol === 'http:' || u.protocol === 'https:') return u.origin;
  } catch { /* reported below */ }
  queueMicrotask(() => notice(`Ignoring ?gateway=${g}: not an http(s) URL; using this page's origin.`, 'warn'));
  return '';
}

const base = gatewayBase();
const store = new JobStore({ maxJobs: 200, maxEventsPerJob: 100 });
const logs = new LogBuffer(intParam('logmax', 50, 5000, 500));
let transport = null;
let transportName = ['socketio', 'sse'].includes(params.get('transport')) ? params.get('transport') : 'socketio';
let knownQueues = [];
let healthTimer = null;
const health = { busy: false, again: false };

// ---------------------------------------------------------------- formatting

const pad = (n, w = 2) => String(n).padStart(w, '0');
function clock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function pretty(v) {
  if (v === undefined) return 'undefined';
  try { return JSON.stringify(v, null, 2); } catch { return String(v); }
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('data-')) e.setAttribute(k, String(v));
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function duration(s) {
  if (typeof s !== 'number') return '?';
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d`;
}

// ---------------------------------------------------------------- notices

function notice(text, level = 'info', { key = null, ttlMs = 0 } = {}) {
  const box = $('notices');
  if (key) box.querySelector(`[data-key="${CSS.escape(key)}"]`)?.remove();
  const n = el('div', { class: `notice ${level}`, role: level === 'error' ? 'alert' : 'status', 'data-key': key },
    el('span', { text: `${clock(Date.now())}  ${text}` }));
  const close = el('button', { type: 'button', class: 'dismiss', title: 'Dismiss', text: '×' });
  close.addEventListener('click', () => n.remove());
  n.append(close);
  box.prepend(n);
  while (box.children.length > 5) box.lastElementChild.remove();
  if (ttlMs) setTimeout(() => n.remove(), ttlMs);
}

// ---------------------------------------------------------------- jobs view

const cardEls = new Map(); // job key or placeholder follow key -> element
const dirty = new Set();
let renderQueued = false;

let allDirty = false; // follows changed: every card's unfollow button may have to change

function scheduleRender(key) {
  if (key) dirty.add(key);
  else allDirty = true;
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(renderJobs, 16);
}

function stageInfo(j, stage) {
  const at = j.stages[stage];
  if (stage === 'done') {
    const label = j.failedReason !== null ? 'failed' : j.hasReturn ? 'completed' : 'completed / failed';
    return { label, at, cls: j.failedReason !== null ? 'failed' : 'completed' };
  }
  if (stage === 'progress') {
    const pct = progressPercent(j.progress);
    return { label: pct !== null ? `progress ${Math.round(pct)}%` : 'progress', at, cls: 'progress' };
  }
  return { label: stage, at, cls: stage };
}

function fillCard(e, j) {
  e.dataset.key = j.key;
  e.dataset.queue = j.queue;
  e.dataset.jobId = j.jobId;
  e.dataset.state = j.state;
  e.dataset.progress = j.percent === null ? '' : String(Math.round(j.percent));
  e.className = `job state-${j.state}`;
  e.querySelector('.job-queue').textContent = j.queue;
  e.querySelector('.job-id').textContent = j.jobId;
  e.querySelector('.job-name').textContent = j.name ? `(${j.name})` : '';
  e.querySelector('.job-state').textContent = j.state + (j.runs > 1 ? ` · run ${j.runs}` : '');
  const followed = store.followList('job').filter((f) => f.id === j.jobId && (!f.queue || f.queue === j.queue));
  const unf = e.querySelector('.unfollow');
  unf.hidden = followed.length === 0;
  unf.onclick = () => { for (const f of followed) unfollow(f.key); };

  const tl = e.querySelector('.timeline');
  tl.replaceChildren(...STAGES.map((s) => {
    const info = stageInfo(j, s);
    return el('li', { class: `stage st-${info.cls}${info.at ? ' reached' : ''}`, 'data-stage': s },
      el('span', { class: 'stage-name', text: info.label }),
      el('time', { text: info.at ? clock(info.at) : '—' }));
  }));

  const bar = e.querySelector('.bar');
  const prog = e.querySelector('.progress');
  prog.classList.toggle('indeterminate', j.percent === null && j.progress !== null);
  prog.classList.toggle('failed', j.failedReason !== null);
  bar.style.width = j.percent === null ? (j.progress !== null ? '100%' : '0') : `${j.percent}%`;
  prog.setAttribute('role', 'progressbar');
  prog.setAttribute('aria-valuemin', '0');
  prog.setAttribute('aria-valuemax', '100');
  if (j.percent !== null) prog.setAttribute('aria-valuenow', String(Math.round(j.percent)));
  let pt = '';
  if (j.progress !== null) pt = typeof j.progress === 'number' ? `${j.progress}%` : JSON.stringify(j.progress);
  if (j.hasReturn && j.progress !== 100) pt = pt ? `done (last progress ${pt})` : 'done';
  e.querySelector('.progress-text').textContent = pt;

  const res = e.querySelector('.result');
  if (j.failedReason !== null) {
    res.replaceChildren(el('span', { class: 'result-label', text: j.attemptsMade !== null
      ? `failed after ${j.attemptsMade} attempt(s):` : 'failed:' }),
    el('pre', { class: 'failed-reason', text: j.failedReason }));
  } else if (j.hasReturn) {
    res.replaceChildren(el('span', { class: 'result-label', text: 'returned:' }),
      el('pre', { class: 'returnvalue', text: pretty(j.returnvalue) }));
  } else {
    res.replaceChildren();
  }

  const evs = e.querySelector('.events');
  evs.replaceChildren(...j.events.map((x) => el('li', { 'data-event': x.event },
    el('time', { text: clock(x.at) }), el('b', { text: x.event }), el('span', { text: x.summary }))));
  if (j.dropped) evs.prepend(el('li', { class: 'muted', text: `${j.dropped} older events not kept` }));
  e.querySelector('.events-box summary').textContent = `${j.events.length + j.dropped} events, last ${clock(j.updatedAt)}`;
}

function fillPlaceholder(e, f) {
  e.className = 'job placeholder';
  e.dataset.key = f.key;
  e.dataset.jobId = f.id;
  const unknown = !f.error && f.unknown;
  e.dataset.state = f.error ? 'error' : unknown ? 'unknown' : 'following';
  e.querySelector('.job-queue').textContent = f.queue || 'any queue';
  e.querySelector('.job-id').textContent = f.id;
  e.querySelector('.job-name').textContent = '';
  e.querySelector('.job-state').textContent = f.error ? 'error' : unknown ? 'unknown' : 'waiting for events';
  const unf = e.querySelector('.unfollow');
  unf.hidden = false;
  unf.onclick = () => unfollow(f.key);
  e.querySelector('.timeline').replaceChildren();
  e.querySelector('.progress').hidden = true;
  e.querySelector('.events-box').hidden = true;
  let text = `following since ${clock(f.at)}`;
  if (unknown && unknown.error) text = `Redis could not say where this job stands (${unknown.error}); ${text}`;
  else if (unknown) text = `no ${f.queue ? `job ${f.id} on ${f.queue}` : 'queue holds this job'} (not added yet, or removed); ${text}`;
  e.querySelector('.result').replaceChildren(f.error
    ? el('pre', { class: 'follow-error', text: f.error })
    : el('span', { class: 'muted state-note', text }));
}

function renderJobs() {
  renderQueued = false;
  const cards = store.cards();
  const list = $('job-list');
  const keep = new Set();
  const ordered = [];
  for (const c of cards) {
    const key = c.placeholder ? `p:${c.follow.key}` : c.key;
    keep.add(key);
    let e = cardEls.get(key);
    const fresh = !e;
    if (fresh) {
      e = $('job-card').content.firstElementChild.cloneNode(true);
      cardEls.set(key, e);
    }
    if (fresh || allDirty || dirty.has(key) || c.placeholder) {
      if (c.placeholder) fillPlaceholder(e, c.follow);
      else fillCard(e, c);
    }
    ordered.push(e);
  }
  for (const [k, e] of cardEls) {
    if (!keep.has(k)) {
      e.remove();
      cardEls.delete(k);
    }
  }
  dirty.clear();
  allDirty = false;
  // Reorder only when needed, so open <details> and text selections survive updates.
  const current = [...list.querySelectorAll(':scope > article.job')];
  if (current.length !== ordered.length || current.some((e, i) => e !== ordered[i])) {
    list.replaceChildren(...ordered);
  }
  if (!ordered.length) list.replaceChildren(el('p', { class: 'empty', text: 'Follow a job id or a whole queue to see its events here, newest first.' }));
}

function renderFollows() {
  const ul = $('follows');
  ul.replaceChildren(...store.followList().map((f) => {
    const label = f.kind === 'queue' ? `queue ${f.name}` : `job ${f.id}${f.queue ? ` on ${f.queue}` : ''}`;
    const x = el('button', { type: 'button', class: 'unfollow', title: `Stop following ${label}`, text: '×' });
    x.addEventListener('click', () => unfollow(f.key));
    const cls = `follow kind-${f.kind}${f.error ? ' error' : ''}${f.live ? ' live' : ''}`;
    return el('li', { class: cls, 'data-key': f.key, title: f.error || (f.live ? 'live' : 'subscribing…') },
      el('span', { text: label }), f.error ? el('span', { class: 'follow-error', text: f.error }) : null, x);
  }));
}

// ---------------------------------------------------------------- logs view

const logView = { minLevel: 'trace', ns: '', paused: false, pending: 0 };

function logRow(e) {
  let when = e.ts;
  const t = Date.parse(e.ts);
  if (Number.isFinite(t)) when = clock(t);
  return el('li', { class: `log lvl-${LEVELS.includes(e.level) ? e.level : 'other'}`, 'data-seq': e.seq,
    'data-level': e.level, 'data-ns': e.ns, title: `${e.ts} (arrived ${clock(e.at)})` },
  el('time', { text: when }), el('span', { class: 'lvl', text: e.level }),
  el('span', { class: 'ns', text: e.ns }), el('span', { class: 'msg', text: e.msg }));
}

function renderLogStats() {
  const shown = $('log-list').children.length;
  let s = `${shown} shown · ${logs.entries.length} buffered (max ${logs.max})`;
  if (logs.evicted) s += ` · ${logs.evicted} older dropped`;
  if (logView.paused) s += ` · paused, ${logView.pending} new`;
  $('log-stats').textContent = s;
}

function renderLogs() {
  const list = $('log-list');
  list.replaceChildren(...logs.entries.filter((e) => logMatches(e, logView)).map(logRow));
  logView.pending = 0;
  list.scrollTop = list.scrollHeight;
  renderLogStats();
}

const nsListed = new Set(); // namespaces offered in the filter's datalist
function addLog(raw) {
  const { entry, evicted } = logs.push(raw);
  if (logs.namespaces.has(entry.ns) && !nsListed.has(entry.ns)) {
    nsListed.add(entry.ns);
    $('log-ns-list').append(el('option', { value: entry.ns }));
  }
  if (logView.paused) {
    logView.pending++;
  } else {
    const list = $('log-list');
    if (evicted) list.querySelector(`li[data-seq="${evicted.seq}"]`)?.remove();
    if (logMatches(entry, logView)) {
      const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      list.append(logRow(entry));
      if (atBottom) list.scrollTop = list.scrollHeight;
    }
  }
  renderLogStats();
}

// ---------------------------------------------------------------- connection + health

function setConn(s) {
  const c = $('conn');
  // A (re)connect changes what /health reports: refresh the strip soon rather than in 3 s.
  if (s.phase === 'connected' && c.dataset.phase !== 'connected') {
    clearTimeout(healthTimer);
    healthTimer = setTimeout(pollHealth, 300);
  }
  c.dataset.phase = s.phase;
  c.dataset.transport = s.transport;
  const names = { websocket: 'WebSocket', polling: 'long-polling', sse: 'SSE', socketio: 'Socket.IO' };
  const via = names[s.transport] || s.transport;
  const text = {
    connecting: `connecting (${transportName === 'sse' ? 'SSE' : 'Socket.IO'})…`,
    connected: `connected over ${via}`,
    reconnecting: `reconnecting (${transportName === 'sse' ? 'SSE' : 'Socket.IO'})…`,
    failed: 'not connected',
    idle: 'not connected',
  }[s.phase] || s.phase;
  c.textContent = s.detail && s.transport !== s.detail ? `${text} · ${s.detail}` : text;
}

async function fetchHealth() {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 2500);
  try {
    const r = await fetch(`${base}/health`, { cache: 'no-store', signal: ctl.signal });
    return await r.json();
  } finally {
    clearTimeout(timer);
  }
}

function renderHealth(h, err) {
  const box = $('health');
  $('h-gateway').textContent = base || window.location.origin;
  if (err || !h) {
    box.dataset.status = 'unreachable';
    $('h-status').textContent = 'unreachable';
    for (const id of ['h-redis', 'h-lag', 'h-conns', 'h-uptime']) $(id).textContent = '—';
    return;
  }
  box.dataset.status = h.status || 'unknown';
  $('h-status').textContent = h.status ?? '?';
  const r = h.redis || {};
  box.dataset.redis = r.connected ? 'connected' : 'down';
  $('h-redis').textContent = `${r.connected ? 'connected' : 'DOWN'}${r.ready ? ', ready' : ', not ready'}`;
  const streams = Array.isArray(r.streams) ? r.streams : [];
  const lag = streams.reduce((m, s) => Math.max(m, Number(s.lag_ms) || 0), 0);
  const down = streams.filter((s) => !s.connected).length;
  $('h-lag').textContent = `${lag} ms${down ? ` · ${down}/${streams.length} streams down` : ''}`;
  const c = h.connections || {};
  for (const k of ['sse', 'websocket', 'polling', 'total']) box.dataset[k] = String(c[k] ?? '');
  $('h-conns').textContent = `${c.total ?? '?'}/${c.max ?? '?'} (SSE ${c.sse ?? 0}, WS ${c.websocket ?? 0}, polling ${c.polling ?? 0})${c.refused ? ` · ${c.refused} refused` : ''}`;
  $('h-uptime').textContent = duration(h.uptime_s);
  $('h-version').textContent = h.version ?? '?';
  const qs = queuesFromHealth(h);
  if (qs.join() !== knownQueues.join()) {
    knownQueues = qs;
    renderQueueSelect();
    if (transport) transport.sync(store.followList(), knownQueues);
  }
}

// One poll loop: a refresh asked for while a request is in flight runs right after it.
async function pollHealth() {
  clearTimeout(healthTimer);
  healthTimer = null;
  if (health.busy) {
    health.again = true;
    return;
  }
  health.busy = true;
  try {
    renderHealth(await fetchHealth());
  } catch (e) {
    renderHealth(null, e);
  }
  health.busy = false;
  healthTimer = setTimeout(pollHealth, health.again ? 0 : HEALTH_MS);
  health.again = false;
}

function renderQueueSelect() {
  const sel = $('queue');
  const v = sel.value;
  sel.replaceChildren(el('option', { value: '', text: 'any queue' }),
    ...knownQueues.map((q) => el('option', { value: q, text: q })));
  sel.value = knownQueues.includes(v) ? v : '';
}

// ---------------------------------------------------------------- follows, transport, URL

const sink = {
  jobEvent(name, payload, meta) {
    const j = store.apply(name, payload, { dedup: meta.dedup });
    if (j) scheduleRender(j.key);
    else if (name === 'state') scheduleRender(); // an "unknown" marks the follow's placeholder
  },
  log: addLog,
  gap(d, where) {
    const streams = Array.isArray(d && d.streams) ? d.streams.join(', ') : '?';
    notice(`Events were missed on ${where}: the resume could not be complete (${d && d.reason}; streams ${streams}).`, 'warn',
      { key: `gap:${where}` });
  },
  // Socket.IO after a reconnect: recovered (the server restored the session and replayed what
  // was missed) or a fresh session (subscribed again; each job's state is read anew).
  recovery(recovered) {
    const r = $('recovery');
    r.hidden = false;
    r.dataset.recovered = String(recovered);
    r.textContent = recovered ? `reconnected ${clock(Date.now())}, nothing missed` : `reconnected ${clock(Date.now())}, fresh session`;
    if (!recovered) notice('Reconnected in a fresh session: events sent while away were not replayed; job states were read again.', 'warn', { key: 'recovery' });
  },
  state: setConn,
  followStatus(key, { live, error }) {
    if (!store.setStatus(key, { live, error })) return;
    renderFollows();
    scheduleRender();
  },
};

function syncTransport() {
  if (transport) transport.sync(store.followList(), knownQueues);
  renderFollows();
  scheduleRender();
  updateUrl();
}

function follow(f) {
  if (store.follow(f)) syncTransport();
}

function unfollow(key) {
  if (store.unfollow(key)) syncTransport();
}

// fallback: on a failed Socket.IO start, use EventSource instead of only saying so (the first
// start, when the URL did not ask for a transport).
async function startTransport(name, { fallback = false } = {}) {
  if (transport) transport.close();
  transport = null;
  transportName = name;
  for (const f of store.followList()) store.setStatus(f.key, { live: false, error: null });
  renderFollows();
  $(`t-${name}`).checked = true;
  setConn({ phase: 'connecting', transport: name, detail: '' });
  updateUrl();
  const t = name === 'sse' ? new SseTransport(base, sink) : new SioTransport(base, sink);
  transport = t;
  if (t.start) {
    try {
      await t.start();
    } catch (e) {
      if (transport !== t) return;
      if (fallback) {
        notice(`Socket.IO unavailable (${e.message}); using EventSource.`, 'warn', { key: 'transport' });
        return startTransport('sse');
      }
      notice(`Socket.IO unavailable: ${e.message}. Choose EventSource above.`, 'error', { key: 'transport' });
      return;
    }
  }
  if (transport === t) t.sync(store.followList(), knownQueues);
}

function updateUrl() {
  const p = new URLSearchParams();
  for (const f of store.followList()) {
    if (f.kind === 'queue') p.append('queue', f.name);
    else if (f.queue) p.append('qjob', `${f.queue}:${f.id}`);
    else p.append('job', f.id);
  }
  p.set('transport', transportName);
  for (const k of ['gateway', 'logmax', 'metricsms']) if (params.has(k)) p.set(k, params.get(k));
  const url = `${window.location.pathname}?${p}`;
  window.history.replaceState(null, '', url);
  $('share').href = url;
}

function validId(s) {
  // eslint-disable-next-line no-control-regex
  return s.length > 0 && s.length <= ID_MAX && !/[\u0000-\u001f\u007f]/.test(s);
}

function bindControls() {
  $('follow-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const id = $('job-id').value.trim();
    if (!validId(id)) {
      notice(`A job id is 1 to ${ID_MAX} characters without control characters.`, 'warn', { key: 'input', ttlMs: 8000 });
      return;
    }
    follow({ kind: 'job', id, queue: $('queue').value || null });
    $('job-id').value = '';
  });
  $('follow-queue').addEventListener('click', () => {
    const q = $('queue').value;
    if (!q) {
      notice('Pick a queue to follow.', 'warn', { key: 'input', ttlMs: 8000 });
      return;
    }
    follow({ kind: 'queue', name: q });
  });
  for (const r of document.querySelectorAll('input[name="transport"]')) {
    r.addEventListener('change', () => { if (r.checked && r.value !== transportName) startTransport(r.value); });
  }
  $('log-level').addEventListener('change', (e) => { logView.minLevel = e.target.value; renderLogs(); });
  $('log-ns').addEventListener('input', (e) => { logView.ns = e.target.value; renderLogs(); });
  $('log-pause').addEventListener('click', (e) => {
    logView.paused = !logView.paused;
    e.target.textContent = logView.paused ? 'Resume' : 'Pause';
    e.target.setAttribute('aria-pressed', String(logView.paused));
    $('log-list').classList.toggle('paused', logView.paused);
    if (logView.paused) renderLogStats();
    else renderLogs();
  });
  $('log-clear').addEventListener('click', () => { logs.clear(); renderLogs(); });
}

function followsFromUrl() {
  for (const id of params.getAll('job')) if (validId(id)) store.follow({ kind: 'job', id });
  for (const v of params.getAll('qjob')) {
    const i = v.indexOf(':');
    if (i > 0 && validId(v.slice(i + 1))) store.follow({ kind: 'job', id: v.slice(i + 1), queue: v.slice(0, i) });
  }
  for (const q of params.getAll('queue')) if (q) store.follow({ kind: 'queue', name: q });
}

async function main() {
  bindControls();
  followsFromUrl();
  renderFollows();
  renderJobs();
  renderLogStats();
  // Known queues first: the queue picker and SSE's per-queue fallback need them.
  await pollHealth();
  new LiveView($('live'), base, { intervalMs: intParam('metricsms', 1000, 60000, 5000) }).start();
  await startTransport(transportName, { fallback: !params.has('transport') });
}

main();
