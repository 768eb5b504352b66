// The dashboard's browser-free parts (www/js/model.js, SseTransport's stream plan, the live
// view's www/js/metrics.js) under plain node:test: follow matching, state timeline, dedup,
// eviction bounds, log filters, cursors; /metrics parsing, rates, quantiles, sparklines.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');

let m, mx, SseTransport;
test.before(async () => {
  m = await import('../../www/js/model.js');
  mx = await import('../../www/js/metrics.js');
  ({ SseTransport } = await import('../../www/js/sse.js'));
});

function clockStore(opts = {}) {
  let t = 1000;
  const store = new m.JobStore({ now: () => t, ...opts });
  return { store, tick: (d = 1) => { t += d; return t; } };
}

test('events reach only followed jobs; timeline, progress, result', () => {
  const { store, tick } = clockStore();
  store.follow({ kind: 'job', id: '42' });
  assert.equal(store.follow({ kind: 'job', id: '42' }), null, 'following twice is a no-op');
  assert.equal(store.apply('added', { queue: 'http', jobId: '7', name: 'x' }), null);
  const seq = [
    ['added', { name: 'crawl' }], ['waiting', {}], ['active', { prev: 'waiting' }],
    ['progress', { data: 40 }], ['progress', { data: { step: 3, of: 4 } }],
    ['completed', { returnvalue: { ok: true }, prev: 'active' }],
  ];
  const at = {};
  for (const [ev, p] of seq) {
    at[ev] = tick();
    assert.ok(store.apply(ev, { queue: 'http', jobId: '42', ...p }, { at: at[ev] }));
  }
  const [j] = store.cards();
  assert.equal(j.key, 'http:42');
  assert.equal(j.name, 'crawl');
  assert.equal(j.state, 'completed');
  assert.equal(j.percent, 100);
  assert.deepEqual(j.progress, { step: 3, of: 4 });
  assert.deepEqual(j.returnvalue, { ok: true });
  assert.deepEqual(j.stages, { waiting: at.added, active: at.active, progress: at.progress, done: at.completed });
  assert.deepEqual(j.events.map((e) => e.event), seq.map((s) => s[0]));
  assert.equal(j.events[3].summary, '40');
  assert.equal(j.events[5].summary, 'returned {"ok":true}');
});

test('failed keeps the reason verbatim; the same id on another queue is another card', () => {
  const { store } = clockStore();
  store.follow({ kind: 'job', id: '1' });
  store.apply('failed', { queue: 'sparql', jobId: '1', failedReason: 'boom\n"x"', prev: 'active' });
  store.apply('retries-exhausted', { queue: 'sparql', jobId: '1', attemptsMade: 3 });
  store.apply('completed', { queue: 'http', jobId: '1', returnvalue: null });
  const cards = store.cards();
  assert.deepEqual(cards.map((c) => c.key).sort(), ['http:1', 'sparql:1']);
  const f = store.jobs.get('sparql:1');
  assert.equal(f.state, 'failed');
  assert.equal(f.failedReason, 'boom\n"x"');
  assert.equal(f.attemptsMade, 3);
  const c = store.jobs.get('http:1');
  assert.equal(c.hasReturn, true);
  assert.equal(c.returnvalue, null);
});

test('queue-pinned follows, queue follows, unfollow drops what nothing wants', () => {
  const { store } = clockStore();
  const kj = store.follow({ kind: 'job', id: '5', queue: 'http' });
  const kq = store.follow({ kind: 'queue', name: 'sparql' });
  assert.equal(kj, 'j:http:5');
  assert.equal(kq, 'q:sparql');
  assert.equal(store.apply('added', { queue: 'analyzer', jobId: '5' }), null);
  assert.ok(store.apply('added', { queue: 'http', jobId: '5' }));
  assert.ok(store.apply('added', { queue: 'sparql', jobId: 'anything' }));
  store.unfollow(kq);
  assert.deepEqual([...store.jobs.keys()], ['http:5']);
});

test('placeholders until the first event; newest first keeps the follow time', () => {
  const { store, tick } = clockStore();
  store.follow({ kind: 'job', id: 'a' });
  tick();
  store.follow({ kind: 'job', id: 'b' });
  let cards = store.cards();
  assert.deepEqual(cards.map((c) => c.placeholder && c.follow.id), ['b', 'a']);
  tick();
  store.apply('added', { queue: 'http', jobId: 'a' }, { at: tick() });
  cards = store.cards();
  assert.deepEqual(cards.map((c) => (c.placeholder ? `p:${c.follow.id}` : c.key)), ['p:b', 'http:a']);
});

test('dedup keys drop a replayed or doubly delivered entry', () => {
  const { store } = clockStore();
  store.follow({ kind: 'job', id: 'x' });
  const p = { queue: 'http', jobId: 'x', data: 10 };
  assert.ok(store.apply('progress', p, { dedup: 'http:1-0' }));
  assert.equal(store.apply('progress', p, { dedup: 'http:1-0' }), null);
  assert.ok(store.apply('progress', p, { dedup: 'http:1-1' }));
  assert.equal(store.jobs.get('http:x').events.length, 2);
});

test('bounds: events per job, jobs seen through a queue; a job id used again starts a new run', () => {
  const { store } = clockStore({ maxJobs: 3, maxEventsPerJob: 4 });
  store.follow({ kind: 'queue', name: 'q' });
  store.follow({ kind: 'job', id: 'keep' });
  store.apply('added', { queue: 'q', jobId: 'keep' }, { at: 1 });
  for (let i = 0; i < 10; i++) store.apply('added', { queue: 'q', jobId: `j${i}` }, { at: 10 + i });
  assert.equal(store.jobs.size, 3);
  assert.ok(store.jobs.has('q:keep'), 'explicitly followed job survives eviction');
  assert.deepEqual([...store.jobs.keys()].sort(), ['q:j8', 'q:j9', 'q:keep']);
  for (let i = 0; i < 6; i++) store.apply('progress', { queue: 'q', jobId: 'keep', data: i });
  const k = store.jobs.get('q:keep');
  assert.equal(k.events.length, 4);
  assert.equal(k.dropped, 3);
  store.apply('completed', { queue: 'q', jobId: 'keep', returnvalue: 1 });
  store.apply('added', { queue: 'q', jobId: 'keep' });
  assert.equal(k.runs, 2);
  assert.equal(k.hasReturn, false);
  assert.equal(k.percent, null);
});

test('progressPercent understands numbers and common object shapes', () => {
  const pp = m.progressPercent;
  assert.equal(pp(42), 42);
  assert.equal(pp(150), 100);
  assert.equal(pp(-3), 0);
  assert.equal(pp({ percent: 12 }), 12);
  assert.equal(pp({ step: 1, of: 4 }), 25);
  assert.equal(pp({ current: 3, total: 6 }), 50);
  assert.equal(pp({ step: 1, of: 0 }), null);
  assert.equal(pp({ stage: 'x' }), null);
  assert.equal(pp('50'), null);
  assert.equal(pp(null), null);
});

test('log buffer is bounded; filters by minimum level and namespace', () => {
  const b = new m.LogBuffer(3);
  const ev = [];
  for (const [level, ns] of [['info', 'api'], ['debug', 'api'], ['warn', 'worker'], ['error', 'redis']]) {
    ev.push(b.push({ ts: '2026-01-01T00:00:00.000Z', level, ns, msg: `${level} ${ns}` }));
  }
  assert.equal(b.entries.length, 3);
  assert.equal(b.evicted, 1);
  assert.equal(ev[3].evicted.msg, 'info api');
  const shown = (f) => b.entries.filter((e) => m.logMatches(e, f)).map((e) => e.msg);
  assert.deepEqual(shown({}), ['debug api', 'warn worker', 'error redis']);
  assert.deepEqual(shown({ minLevel: 'warn' }), ['warn worker', 'error redis']);
  assert.deepEqual(shown({ ns: 'api' }), ['debug api']);
  assert.deepEqual(shown({ ns: 'work*, redis' }), ['warn worker', 'error redis']);
  assert.deepEqual(shown({ ns: 'ap' }), [], 'exact unless it ends in *');
  b.clear();
  assert.equal(b.entries.length, 0);
});

test('cursors: parse, and merge to the earliest position per stream', () => {
  assert.deepEqual([...m.parseCursor('http:10-1,sparql:9-0,bad,x:1')], [['http', '10-1'], ['sparql', '9-0']]);
  assert.equal(m.mergeCursors(['http:10-1,sparql:9-0', 'http:10-0,techstack:5-5', '']),
    'http:10-0,sparql:9-0,techstack:5-5');
  assert.equal(m.mergeCursors(['http:18446744073709551615-2', 'http:18446744073709551615-10']),
    'http:18446744073709551615-2', 'ids compare as 64-bit numbers');
  assert.equal(m.mergeCursors([]), '');
});

test('queue names from /health stream keys', () => {
  const h = { redis: { streams: [{ key: 'bull:http:events' }, { key: 'my:pre:fix:sparql:events' }, { key: 'dualgate:logs' }] } };
  assert.deepEqual(m.queuesFromHealth(h), ['http', 'sparql']);
  assert.deepEqual(m.queuesFromHealth({}), []);
});

test('SSE plan: one stream per follow within the budget, per-queue streams past it', () => {
  const { store } = clockStore();
  const t = new SseTransport('', null, { budget: 5 });
  store.follow({ kind: 'job', id: 'a' });
  store.follow({ kind: 'job', id: 'b/c d', queue: 'http' });
  store.follow({ kind: 'queue', name: 'sparql' });
  store.follow({ kind: 'job', id: 'in-sparql', queue: 'sparql' });
  let { plan, overflow } = t._plan(store.followList(), ['http', 'sparql', 'techstack']);
  assert.deepEqual([...plan.keys()], ['/sse/logs', '/sse/queues/sparql', '/sse/jobs/a', '/sse/jobs/b%2Fc%20d?queue=http']);
  assert.deepEqual([...plan.get('/sse/queues/sparql')], ['q:sparql', 'j:sparql:in-sparql']);
  assert.equal(t.coalesced, false);
  store.follow({ kind: 'job', id: 'e' });
  store.follow({ kind: 'job', id: 'f', queue: 'techstack' });
  ({ plan, overflow } = t._plan(store.followList(), ['http', 'sparql', 'techstack']));
  assert.equal(t.coalesced, true);
  assert.deepEqual([...plan.keys()], ['/sse/logs', '/sse/queues/sparql', '/sse/queues/http', '/sse/queues/techstack']);
  assert.deepEqual([...plan.get('/sse/queues/techstack')], ['j:*:a', 'j:*:e', 'j:techstack:f']);
  assert.deepEqual(overflow, []);
  // More queues than the budget: what does not fit is reported, not silently dropped.
  ({ plan, overflow } = t._plan(store.followList(), ['http', 'sparql', 'techstack', 'q4', 'q5']));
  assert.equal(plan.size, 5);
  assert.deepEqual(overflow.map((f) => f.key), ['j:*:a', 'j:*:e']);
});

// ---------------------------------------------------------------- live view (js/metrics.js)

// What dualgate's writer (src/metrics.c) renders: families in order, HELP/TYPE once, escapes.
const LE = ['5e-05', '0.0001', '0.00025', '0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05',
  '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'];
function exposition({ events = {}, conns = {}, dropped = 0, slow = 0, lat = {} } = {}) {
  const out = [];
  out.push('# HELP dualgate_connections Open client connections by transport.', '# TYPE dualgate_connections gauge');
  for (const [t, n] of Object.entries(conns)) out.push(`dualgate_connections{transport="${t}"} ${n}`);
  out.push('# HELP dualgate_events_total Events published to the broker, by stream (queue name or "logs").',
    '# TYPE dualgate_events_total counter');
  for (const [s, n] of Object.entries(events)) out.push(`dualgate_events_total{stream="${s}"} ${n}`);
  out.push('# TYPE dualgate_dropped_messages_total counter', `dualgate_dropped_messages_total{transport="sse"} ${dropped}`,
    'dualgate_dropped_messages_total{transport="websocket"} 0');
  out.push('# TYPE dualgate_slow_consumer_closes_total counter', `dualgate_slow_consumer_closes_total{transport="polling"} ${slow}`);
  out.push('# HELP dualgate_delivery_latency_seconds Time from a Redis entry\'s id time to the write of its bytes to a client.',
    '# TYPE dualgate_delivery_latency_seconds histogram');
  // lat: { transport: cumulative counts per LE }
  for (const [t, counts] of Object.entries(lat)) {
    LE.forEach((le, i) => out.push(`dualgate_delivery_latency_seconds_bucket{transport="${t}",le="${le}"} ${counts[i]}`));
    out.push(`dualgate_delivery_latency_seconds_sum{transport="${t}"} 0.5`,
      `dualgate_delivery_latency_seconds_count{transport="${t}"} ${counts[LE.length - 1]}`);
  }
  out.push('# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.',
    '# TYPE process_cpu_seconds_total counter', 'process_cpu_seconds_total 1.25');
  return `${out.join('\n')}\n`;
}
// Cumulative counts with `n` observations at or below each bound from index `from` on.
const cum = (spec) => LE.map((_, i) => spec.reduce((a, [from, n]) => a + (i >= from ? n : 0), 0));

test('exposition parser: families, HELP/TYPE, escapes, special values, histogram suffixes', () => {
  const text = [
    '# a plain comment',
    '# HELP x:y back\\\\slash\\nnew "quoted"',
    '# TYPE x:y untyped',
    'x:y{v="a\\\\b\\"c\\nd",w=""} 0.25',
    'x:y{v="t",} -2 1795314435000',
    '',
    '  # TYPE h histogram',
    'h_bucket{le="0.1"} 1',
    'h_bucket{le="+Inf"} 3',
    'h_sum 0.7',
    'h_count 3',
    'g NaN',
    'g2 +Inf',
    'g3 -Inf',
    'g4 1e+21',
    'no_type_count 4',
  ].join('\n');
  const { families, errors } = mx.parseExposition(text);
  assert.deepEqual(errors, []);
  const xy = families.get('x:y');
  assert.equal(xy.type, 'untyped');
  assert.equal(xy.help, 'back\\slash\nnew "quoted"');
  assert.deepEqual(xy.samples, [
    { name: 'x:y', labels: { v: 'a\\b"c\nd', w: '' }, value: 0.25 },
    { name: 'x:y', labels: { v: 't' }, value: -2 },
  ]);
  const h = families.get('h');
  assert.equal(h.type, 'histogram');
  assert.deepEqual(h.samples.map((s) => s.name), ['h_bucket', 'h_bucket', 'h_sum', 'h_count']);
  assert.deepEqual(h.samples[1].labels, { le: '+Inf' });
  assert.ok(Number.isNaN(families.get('g').samples[0].value));
  assert.equal(families.get('g2').samples[0].value, Infinity);
  assert.equal(families.get('g3').samples[0].value, -Infinity);
  assert.equal(families.get('g4').samples[0].value, 1e21);
  // Not a histogram's: its own untyped family.
  assert.equal(families.get('no_type_count').type, 'untyped');
  assert.equal(families.has('h_bucket'), false);
});

test('exposition parser: a bad line is reported and skipped, the rest still read', () => {
  const bad = [
    'a{v="x\\q"} 1', // bad escape
    'a{v="x} 1', // unterminated
    'a{v="1",v="2"} 1', // repeated label
    'a{9="1"} 1', // bad label name
    'a 0x10', // not a Prometheus number
    'a', // no value
    'a 1 2 3', // too many fields
    '# TYPE a thing', // bad type
    '9a 1', // bad metric name
  ];
  const { families, errors } = mx.parseExposition(['ok 1', ...bad, 'ok2 2'].join('\n'));
  assert.deepEqual(errors.map((e) => e.line), bad.map((_, i) => i + 2));
  assert.equal(errors[0].message, 'label v: bad escape \\q');
  assert.equal(errors[2].message, 'label v repeated');
  assert.equal(families.get('ok').samples[0].value, 1);
  assert.equal(families.get('ok2').samples[0].value, 2);
  assert.equal(families.get('a'), undefined);
});

test('the dashboard numbers of one scrape; histograms summed over transports', () => {
  const text = exposition({
    events: { http: 10, sparql: 0, logs: 4 }, conns: { sse: 3, websocket: 2, polling: 0 }, dropped: 5, slow: 1,
    lat: { sse: cum([[4, 6], [7, 3], [17, 1]]), websocket: cum([[0, 10]]) },
  });
  const d = mx.readDashboard(mx.parseExposition(text));
  assert.deepEqual(d.events, { http: 10, sparql: 0, logs: 4 });
  assert.deepEqual(d.connections, { sse: 3, websocket: 2, polling: 0 });
  assert.equal(d.dropped, 5);
  assert.equal(d.slowCloses, 1);
  assert.equal(d.latency.count, 20);
  assert.equal(d.latency.sum, 1);
  assert.equal(d.latency.buckets.length, 18);
  assert.deepEqual(d.latency.buckets[0], { le: 0.00005, count: 10 });
  assert.deepEqual(d.latency.buckets[4], { le: 0.001, count: 16 });
  assert.deepEqual(d.latency.buckets[17], { le: Infinity, count: 20 });
  // A gateway without these families yet: nulls, not zeros.
  const none = mx.readDashboard(mx.parseExposition('process_threads 9\n'));
  assert.deepEqual(none, { events: null, connections: null, dropped: null, slowCloses: null, latency: null });
});

test('histogram quantiles as PromQL histogram_quantile computes them', () => {
  const b = [{ le: 0.001, count: 50 }, { le: 0.01, count: 90 }, { le: Infinity, count: 100 }];
  assert.equal(mx.histogramQuantile(0.5, b), 0.001);
  assert.ok(Math.abs(mx.histogramQuantile(0.75, b) - 0.006625) < 1e-12);
  assert.equal(mx.histogramQuantile(0.9, b), 0.01);
  assert.equal(mx.histogramQuantile(0.99, b), 0.01, 'in +Inf: the highest finite bound');
  assert.equal(mx.histogramQuantile(0.25, b), 0.0005, 'first bucket: from 0');
  assert.equal(mx.histogramQuantile(0.5, [{ le: 1, count: 0 }, { le: Infinity, count: 0 }]), null);
  assert.equal(mx.histogramQuantile(0.5, []), null);
  assert.equal(mx.histogramQuantile(0.5, [{ le: Infinity, count: 3 }]), null);
});

test('history: per-interval rates, quantiles of the interval only, resets, gaps, window', () => {
  const h = new mx.MetricsHistory({ windowMs: 20000, maxGapMs: 12000 });
  const snap = (o) => mx.readDashboard(mx.parseExposition(exposition(o)));
  const lat0 = cum([[4, 100]]); // 100 old deliveries at <= 1 ms
  assert.equal(h.push(0, snap({ events: { http: 100 }, conns: { sse: 1 }, lat: { sse: lat0 } })), null, 'first scrape: no interval');
  // In 5 s: 50 http events, 10 new sparql, 2 drops, 10 deliveries between 10 and 25 ms.
  let p = h.push(5000, snap({ events: { http: 150, sparql: 10 }, conns: { sse: 2, websocket: 1 }, dropped: 2,
    lat: { sse: cum([[4, 100], [8, 10]]) } }));
  assert.equal(p.dt, 5);
  assert.deepEqual(p.eventsPerSec, { http: 10, sparql: 2 });
  assert.deepEqual(p.connections, { sse: 2, websocket: 1 });
  assert.equal(p.dropped, 2);
  assert.equal(p.slowCloses, 0);
  assert.ok(Math.abs(p.p50 - 0.0175) < 1e-12, `p50 of the interval, not of all time: ${p.p50}`);
  assert.ok(Math.abs(p.p99 - 0.02485) < 1e-12, String(p.p99));
  // Nothing delivered: no latency (a gap in the line), not 0.
  p = h.push(10000, snap({ events: { http: 150, sparql: 10 }, lat: { sse: cum([[4, 100], [8, 10]]) } }));
  assert.equal(p.p50, null);
  assert.equal(p.eventsPerSec.http, 0);
  // Restarted gateway: counters start over, the increase is the new value.
  p = h.push(15000, snap({ events: { http: 20 }, dropped: 1, lat: { sse: cum([[0, 4]]) } }));
  assert.equal(p.eventsPerSec.http, 4);
  assert.equal(p.dropped, 1);
  assert.equal(p.p50, 0.000025);
  assert.deepEqual(h.points.map((x) => x.at), [5000, 10000, 15000]);
  assert.deepEqual(h.keys('eventsPerSec'), ['http', 'sparql']);
  assert.equal(h.sum('dropped'), 3);
  assert.deepEqual(h.series((x) => x.eventsPerSec.http), [{ at: 5000, v: 10 }, { at: 10000, v: 0 }, { at: 15000, v: 4 }]);
  // The window keeps 20 s.
  h.push(26000, snap({ events: { http: 30 } }));
  assert.deepEqual(h.points.map((x) => x.at), [10000, 15000, 26000]);
  // An outage longer than maxGapMs: no rate across it.
  assert.equal(h.push(50000, snap({ events: { http: 1000 } })), null);
  assert.equal(h.push(55000, snap({ events: { http: 1005 } })).eventsPerSec.http, 1);
});

test('sparkline paths, scales and number formats', () => {
  const s = [{ at: 0, v: 0 }, { at: 50, v: 5 }, { at: 100, v: 10 }];
  assert.equal(mx.sparkPath(s, { width: 100, height: 20, t0: 0, t1: 100, max: 10 }), 'M0.0 20.0L50.0 10.0L100.0 0.0');
  // A null breaks the line; values over max stay at the top.
  const g = [{ at: 0, v: 1 }, { at: 25, v: null }, { at: 50, v: 4 }, { at: 100, v: 8 }];
  assert.equal(mx.sparkPath(g, { width: 100, height: 10, t0: 0, t1: 100, max: 4 }), 'M0.0 7.5M50.0 0.0L100.0 0.0');
  assert.equal(mx.sparkPath([], { width: 100, height: 10, t0: 0, t1: 100, max: 0 }), '');
  assert.equal(mx.seriesMax(s, g), 10);
  assert.equal(mx.seriesMax([{ at: 0, v: null }]), 0);
  assert.deepEqual([0, 0.25, 12.4, 9999, 12345, null].map(mx.formatRate), ['0/s', '0.3/s', '12/s', '9999/s', '12.3k/s', '—']);
  assert.deepEqual([0.000025, 0.0042, 0.0175, 0.5, 2.5, 12, null].map(mx.formatSeconds),
    ['25 µs', '4.2 ms', '18 ms', '500 ms', '2.50 s', '12.0 s', '—']);
});

test('state: a late subscriber\'s first event sets the card; unknown marks the follow; live goes on', () => {
  const { store, tick } = clockStore();
  store.follow({ kind: 'job', id: 'c' });
  store.follow({ kind: 'job', id: 'f', queue: 'sparql' });
  store.follow({ kind: 'job', id: 'n' });
  const c = store.apply('state', { queue: 'http', jobId: 'c', state: 'completed', name: 'crawl', progress: 100,
    returnvalue: { ok: 1 }, timestamp: 10, processedOn: 20, finishedOn: 30, attemptsMade: 1 }, { at: tick() });
  assert.equal(c.state, 'completed');
  assert.equal(c.name, 'crawl');
  assert.deepEqual(c.returnvalue, { ok: 1 });
  assert.ok(c.hasReturn);
  assert.equal(c.percent, 100);
  assert.deepEqual(c.stages, { waiting: 10, active: 20, progress: 20, done: 30 });
  assert.deepEqual(c.events.map((e) => [e.event, e.summary]), [['state', 'completed when subscribed']]);
  const f = store.apply('state', { queue: 'sparql', jobId: 'f', state: 'failed', failedReason: 'boom\nline 2',
    timestamp: 10, processedOn: 20, finishedOn: 30, attemptsMade: 3, progress: 0 });
  assert.equal(f.failedReason, 'boom\nline 2');
  assert.equal(f.attemptsMade, 3);
  assert.equal(f.progress, null, 'progress 0 (never set) shows no progress');
  // Active with progress; then the live completion.
  store.follow({ kind: 'job', id: 'a' });
  const a = store.apply('state', { queue: 'http', jobId: 'a', state: 'active', progress: { step: 1, of: 4 }, processedOn: 5 });
  assert.equal(a.percent, 25);
  store.apply('completed', { queue: 'http', jobId: 'a', returnvalue: 'done', prev: 'active' });
  assert.equal(a.state, 'completed');
  assert.deepEqual(a.events.map((e) => e.event), ['state', 'completed']);
  // No queue holds it: no card, the follow says so; a failed read says why.
  assert.equal(store.apply('state', { queue: null, jobId: 'n', state: 'unknown' }), null);
  assert.equal(store.follows.get('j:*:n').unknown.error, null);
  assert.equal(store.apply('state', { queue: 'http', jobId: 'n', state: 'unknown', error: 'redis_unavailable' }), null);
  assert.equal(store.follows.get('j:*:n').unknown.error, 'redis_unavailable');
  assert.ok(store.cards().some((x) => x.placeholder && x.follow.id === 'n'));
  // prioritized shows as waiting; a state for a job nobody follows is ignored.
  store.follow({ kind: 'job', id: 'p' });
  assert.equal(store.apply('state', { queue: 'http', jobId: 'p', state: 'prioritized', timestamp: 1 }).state, 'waiting');
  assert.equal(store.apply('state', { queue: 'http', jobId: 'zzz', state: 'completed' }), null);
});
