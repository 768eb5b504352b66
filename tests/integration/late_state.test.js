// Late subscribers: /sse/jobs/:id without a resume cursor, and Socket.IO `subscribe-job`, start
// with one `state` event read from BullMQ's own keys, then live events. Jobs are made by a real
// BullMQ Queue + Worker in every state: completed (returnvalue), failed (failedReason), active
// with progress (the worker waits on a promise the test holds), waiting (a queue without a
// worker, and a paused queue), delayed, and removed / never added (unknown).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const { startRedis, startGateway, stop, SseClient, waitFor } = require('./lib');

let redis, gw, queues = {}, workers = [], held = {};
const sockets = [];
const CURSOR = /^(\w+:\d+-\d+)(,\w+:\d+-\d+)*$/;

// http and techstack have a worker; sparql has none (its jobs stay waiting / delayed).
async function processor(job) {
  if (job.data.hold) {
    await job.updateProgress(42);
    await new Promise((resolve) => { held[job.id] = resolve; });
    return { released: true };
  }
  if (job.data.fail) throw new Error(`boom: "bad" thing for ${job.id}`);
  return { ok: true, n: job.data.n };
}

test.before(async () => {
  const { Queue, Worker } = require('bullmq');
  redis = await startRedis();
  gw = await startGateway(redis.url);
  const connection = { host: '127.0.0.1', port: redis.port };
  for (const q of ['http', 'sparql', 'techstack']) queues[q] = new Queue(q, { connection });
  for (const q of ['http', 'techstack']) workers.push(new Worker(q, processor, { connection, concurrency: 4 }));
  await Promise.all(workers.map((w) => w.waitUntilReady()));
});

test.after(async () => {
  for (const s of sockets) s.close();
  for (const r of Object.values(held)) r();
  await Promise.all(workers.map((w) => w.close()));
  await Promise.all(Object.values(queues).map((q) => q.close()));
  const r = await stop(gw);
  await stop(redis);
  assert.equal(r.code, 0, 'dualgate exits 0 on SIGTERM');
});

// ---- helpers ----

const stateOf = (q, id) => queues[q].getJobState(id);
async function jobIn(q, id, state) {
  await waitFor(async () => (await stateOf(q, id)) === state, { what: `${q}:${id} ${state}` });
}

// Opens /sse/jobs/:id, waits for its first event; returns the client and that event.
async function sseLate(id, queue, headers) {
  const c = new SseClient(`${gw.base}/sse/jobs/${encodeURIComponent(id)}${queue ? `?queue=${queue}` : ''}`, headers);
  await c.response;
  assert.equal(c.status, 200);
  await c.waitEvents(1);
  return { c, first: c.events[0], state: JSON.parse(c.events[0].data) };
}

// Events after the state, by name.
const after = (c) => c.events.slice(1).map((e) => e.event);

// Numbers the hash holds are numbers; BullMQ's own getState agrees with ours.
function checkCommon(s, q, id, state, name) {
  assert.equal(s.queue, q);
  assert.equal(s.jobId, id);
  assert.equal(s.state, state);
  assert.equal(s.name, name);
  assert.equal(typeof s.timestamp, 'number');
}

// ---- SSE ----

test('SSE: a completed job starts with its state (returnvalue); live events follow', async () => {
  await queues.http.add('late', { n: 7 }, { jobId: 'c1' });
  await jobIn('http', 'c1', 'completed');
  const { c, first, state } = await sseLate('c1', 'http');
  assert.equal(first.event, 'state');
  assert.match(first.id, CURSOR, 'the state carries the stream cursor');
  assert.match(c.raw, /\n\nid: [^\n]+\nevent: state\ndata: \{"queue":"http","jobId":"c1","state":"completed",/);
  checkCommon(state, 'http', 'c1', 'completed', 'late');
  assert.deepEqual(state.returnvalue, { ok: true, n: 7 });
  assert.equal(state.attemptsMade, 1);
  assert.ok(state.finishedOn >= state.processedOn && state.processedOn >= state.timestamp);
  assert.equal(state.failedReason, undefined);
  // Live: the job is removed; its `removed` event comes after the state.
  await (await queues.http.getJob('c1')).remove();
  await waitFor(() => after(c).includes('removed'), { what: 'removed after state' });
  assert.deepEqual(after(c), ['removed']);
  c.close();
  // Now BullMQ has no such job: unknown, on the named queue.
  const gone = await sseLate('c1', 'http');
  assert.deepEqual(gone.state, { queue: 'http', jobId: 'c1', state: 'unknown' });
  gone.c.close();
});

test('SSE: a failed job starts with its failedReason', async () => {
  await queues.http.add('late', { fail: true }, { jobId: 'f1' });
  await jobIn('http', 'f1', 'failed');
  const { c, first, state } = await sseLate('f1', 'http');
  assert.equal(first.event, 'state');
  checkCommon(state, 'http', 'f1', 'failed', 'late');
  assert.equal(state.failedReason, 'boom: "bad" thing for f1');
  assert.equal(state.returnvalue, undefined);
  assert.equal(state.attemptsMade, 1);
  assert.equal(typeof state.finishedOn, 'number');
  c.close();
});

test('SSE: an active job starts with its progress; its completion arrives live after the state', async () => {
  await queues.http.add('late', { hold: true }, { jobId: 'a1' });
  await jobIn('http', 'a1', 'active');
  await waitFor(async () => (await queues.http.getJob('a1')).progress === 42, { what: 'progress 42' });
  const { c, first, state } = await sseLate('a1', 'http');
  const nq = await sseLate('a1'); // no queue named: the one queue that holds it answers
  assert.equal(first.event, 'state');
  checkCommon(state, 'http', 'a1', 'active', 'late');
  assert.equal(state.progress, 42);
  assert.equal(typeof state.processedOn, 'number');
  assert.equal(state.finishedOn, undefined);
  assert.deepEqual(nq.state, state);
  await waitFor(() => held.a1, { what: 'the worker holding a1' });
  held.a1();
  await waitFor(() => after(c).includes('completed') && after(nq.c).includes('completed'), { what: 'completed after state' });
  assert.deepEqual(after(c), ['completed']);
  assert.equal(nq.c.events.filter((e) => e.event === 'state').length, 1, 'exactly one state without ?queue=');
  assert.deepEqual(JSON.parse(c.events[1].data).returnvalue, { released: true });
  // Resuming from the state's id: no state, only what came after it, replayed.
  const again = new SseClient(`${gw.base}/sse/jobs/a1?queue=http`, { 'Last-Event-ID': first.id });
  await again.waitEvents(1);
  assert.deepEqual(again.events.map((e) => e.event), ['completed']);
  for (const x of [c, nq.c, again]) x.close();
});

test('SSE: a waiting job (no worker), a delayed one promoted live, a paused queue resumed live', async () => {
  await queues.sparql.add('late', { n: 1 }, { jobId: 'w1' });
  const w = await sseLate('w1', 'sparql');
  checkCommon(w.state, 'sparql', 'w1', 'waiting', 'late');
  assert.equal(w.state.progress, 0);
  assert.equal(w.state.processedOn, undefined);
  w.c.close();

  await queues.sparql.add('late', { n: 2 }, { jobId: 'd1', delay: 600000 });
  const d = await sseLate('d1', 'sparql');
  checkCommon(d.state, 'sparql', 'd1', 'delayed', 'late');
  assert.equal(d.state.delay, 600000);
  await (await queues.sparql.getJob('d1')).promote();
  await waitFor(() => after(d.c).includes('waiting'), { what: 'waiting after promote' });
  assert.equal(d.c.events[0].event, 'state');
  d.c.close();

  await queues.techstack.pause();
  await queues.techstack.add('late', { n: 3 }, { jobId: 'p1' });
  const p = await sseLate('p1', 'techstack');
  checkCommon(p.state, 'techstack', 'p1', 'waiting', 'late');
  await queues.techstack.resume();
  await waitFor(() => after(p.c).includes('completed'), { what: 'completed after resume' });
  assert.ok(!after(p.c).includes('added'), 'nothing from before the state');
  assert.deepEqual(JSON.parse(p.c.events.find((e) => e.event === 'completed').data).returnvalue, { ok: true, n: 3 });
  p.c.close();
});

test('SSE: a job no queue holds is one unknown with queue null; added later, it arrives live', async () => {
  const { c, first, state } = await sseLate('never-1');
  assert.equal(first.event, 'state');
  assert.match(first.id, CURSOR);
  assert.deepEqual(state, { queue: null, jobId: 'never-1', state: 'unknown' });
  await queues.http.add('late', { n: 9 }, { jobId: 'never-1' });
  await waitFor(() => after(c).includes('completed'), { what: 'the job added after the subscriber' });
  assert.deepEqual(after(c), ['added', 'waiting', 'active', 'completed']);
  assert.equal(c.events.filter((e) => e.event === 'state').length, 1);
  c.close();
  const named = await sseLate('never-2', 'analyzer');
  assert.deepEqual(named.state, { queue: 'analyzer', jobId: 'never-2', state: 'unknown' });
  named.c.close();
  // With a cursor there is no state: the replay says what happened.
  const resumed = new SseClient(`${gw.base}/sse/jobs/never-2`, { 'Last-Event-ID': named.first.id });
  await resumed.response;
  await waitFor(() => resumed.raw.includes('id: '), { what: 'the resumed stream' });
  assert.equal(resumed.events.length, 0);
  resumed.close();
});

test('SSE: a frozen Redis gives state unknown with an error within redis_timeout_ms, not a hang', async () => {
  const r2 = await startRedis();
  const g2 = await startGateway(r2.url, { env: { DUALGATE_REDIS_TIMEOUT_MS: '500' } });
  try {
    process.kill(r2.pid, 'SIGSTOP');
    const t0 = Date.now();
    const c = new SseClient(`${g2.base}/sse/jobs/x1?queue=http`);
    await c.waitEvents(1, 5000);
    assert.ok(Date.now() - t0 < 4000, `answered after ${Date.now() - t0} ms`);
    assert.equal(c.events[0].event, 'state');
    assert.deepEqual(JSON.parse(c.events[0].data), { queue: 'http', jobId: 'x1', state: 'unknown', error: 'redis_unavailable' });
    c.close();
  } finally {
    process.kill(r2.pid, 'SIGCONT');
    await stop(g2);
    await stop(r2);
  }
});

// ---- Socket.IO: the same states through subscribe-job (the server side lands with the lead's
// work on issue 9; until then these fail by timing out) ----

async function sioLate(jobId, queue) {
  const s = io(gw.base, { transports: ['websocket'], reconnection: false, forceNew: true });
  sockets.push(s);
  const got = [];
  s.onAny((event, payload) => { if (payload && payload.jobId === jobId) got.push({ event, payload }); });
  await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('connect_error', reject); });
  s.emit('subscribe-job', queue ? { jobId, queue } : jobId);
  await waitFor(() => got.length > 0, { timeout: 3000, what: `a first event for ${jobId} over Socket.IO` });
  return { s, got };
}

test('Socket.IO: subscribe-job starts with the same state (completed, failed, waiting, unknown)', async () => {
  await queues.http.add('late', { n: 5 }, { jobId: 'sc1' });
  await queues.http.add('late', { fail: true }, { jobId: 'sf1' });
  await queues.sparql.add('late', { n: 6 }, { jobId: 'sw1' });
  await jobIn('http', 'sc1', 'completed');
  await jobIn('http', 'sf1', 'failed');
  for (const [id, q] of [['sc1', 'http'], ['sf1', 'http'], ['sw1', 'sparql'], ['snone', 'http']]) {
    const sse = await sseLate(id, q);
    sse.c.close();
    const { s, got } = await sioLate(id, q);
    assert.equal(got[0].event, 'state', `${id}: first event`);
    assert.deepEqual(got[0].payload, sse.state, `${id}: same payload as SSE`);
    s.close();
  }
  const { s, got } = await sioLate('snone2');
  assert.deepEqual(got[0], { event: 'state', payload: { queue: null, jobId: 'snone2', state: 'unknown' } });
  s.close();
});

test('Socket.IO: an active job starts with its progress, then completed arrives live', async () => {
  await queues.http.add('late', { hold: true }, { jobId: 'sa1' });
  await jobIn('http', 'sa1', 'active');
  await waitFor(async () => (await queues.http.getJob('sa1')).progress === 42, { what: 'progress 42' });
  await waitFor(() => held.sa1, { what: 'the worker holding sa1' });
  try {
    const { s, got } = await sioLate('sa1', 'http');
    assert.equal(got[0].event, 'state');
    assert.equal(got[0].payload.state, 'active');
    assert.equal(got[0].payload.progress, 42);
    held.sa1();
    await waitFor(() => got.some((e) => e.event === 'completed'), { what: 'completed after state' });
    assert.deepEqual(got.map((e) => e.event), ['state', 'completed']);
    s.close();
  } finally {
    held.sa1();
  }
});
