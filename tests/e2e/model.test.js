// The dashboard's browser-free parts (www/js/model.js, SseTransport's stream plan) under plain
// node:test: follow matching, state timeline, dedup, eviction bounds, log filters, cursors.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');

let m, SseTransport;
test.before(async () => {
  m = await import('../../www/js/model.js');
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
