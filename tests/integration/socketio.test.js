// Socket.IO transport against a real redis-server, real BullMQ jobs and an unmodified
// socket.io-client 4.8: WebSocket-only, polling-only and the default polling -> websocket
// upgrade; job and queue rooms, acks, /logs both ways, SSE parity, heartbeat and connect
// timeouts, slow consumers, CORS and the Engine.IO error answers. Waits on events, not sleeps.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const WebSocket = require('ws');
const { QUEUES, startRedis, startGateway, startBull, stop, get, SseClient, redisClient, waitFor } = require('./lib');

const ORIGIN = 'http://allowed.example';
let redis, gw, tight, slow, plain, rc, bull, queues;
const sockets = [];

test.before(async () => {
  redis = await startRedis();
  gw = await startGateway(redis.url);
  // Short heartbeat and connect timeout, an origin list, a small maxPayload.
  tight = await startGateway(redis.url, { env: { DUALGATE_PING_INTERVAL_MS: '300', DUALGATE_PING_TIMEOUT_MS: '200',
    DUALGATE_CONNECT_TIMEOUT_MS: '400', SOCKETS_CORS_ORIGIN: ORIGIN, DUALGATE_MAX_PAYLOAD: '1000' } });
  // Tiny outbound queues: a client that does not read is closed as a slow consumer.
  slow = await startGateway(redis.url, { env: { DUALGATE_QUEUE_MAX_BYTES: '300' } });
  // Connection-state recovery and the `connected` event off: the Node original's bytes exactly.
  plain = await startGateway(redis.url, { env: { DUALGATE_RECOVERY: 'false', DUALGATE_CONNECTED_EVENT: 'false' } });
  rc = redisClient(redis.url);
  bull = await startBull(redis);
  queues = bull.queues;
});

test.after(async () => {
  for (const s of sockets) s.close();
  await bull.close();
  if (rc) rc.disconnect();
  const codes = [];
  for (const g of [gw, tight, slow, plain]) if (g) codes.push((await stop(g)).code);
  await stop(redis);
  assert.deepEqual(codes, [0, 0, 0, 0], 'dualgate exits 0 on SIGTERM');
});

// ---- helpers ----

// A socket.io-client socket that records every event it receives but the `connected` greeting
// (connected_event, sent once on connect; checked in the wire-bytes test with recovery).
async function connect(url, opts = {}) {
  const s = io(url, { reconnection: false, forceNew: true, ...opts });
  sockets.push(s);
  s.received = [];
  s.onAny((event, ...args) => { if (event !== 'connected') s.received.push({ event, args }); });
  await new Promise((resolve, reject) => {
    s.once('connect', resolve);
    s.once('connect_error', reject);
  });
  return s;
}

// Job events as the Node original sent them: the `state` a subscribe-job sends first and the
// offset that connection-state recovery appends as a last argument are checked on their own.
const jobEvents = (s, jobId) => s.received.filter((e) => e.event !== 'state' && e.args[0] &&
  (!jobId || e.args[0].jobId === jobId)).map((e) => ({ event: e.event, ...e.args[0] }));
const OFFSET = /^http:\d+-\d+,sparql:\d+-\d+,techstack:\d+-\d+,analyzer:\d+-\d+$/;
const seq = (s, jobId) => jobEvents(s, jobId).map((e) => e.event);
const ack = (s, event, ...args) => s.timeout(5000).emitWithAck(event, ...args);

// A raw WebSocket that queues what it receives (text as strings, binary as Buffers).
class RawWs {
  constructor(url, headers = {}) {
    this.ws = new WebSocket(url, { headers });
    this.msgs = [];
    this.waiters = [];
    this.ws.on('message', (d, isBinary) => {
      this.msgs.push(isBinary ? Buffer.from(d) : d.toString());
      this.waiters.splice(0).forEach((w) => w());
    });
    this.ws.on('error', () => {});
    this.closed = new Promise((r) => this.ws.on('close', (code, reason) => r({ code, reason: String(reason), at: Date.now() })));
    this.opened = new Promise((r, j) => { this.ws.on('open', r); this.ws.on('unexpected-response', j); this.ws.on('close', j); });
  }
  async next(timeout = 5000) {
    const deadline = Date.now() + timeout;
    while (!this.msgs.length) {
      if (Date.now() > deadline) throw new Error('no message');
      await new Promise((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
    return this.msgs.shift();
  }
  // Next message that is not an Engine.IO ping.
  async nextData(timeout) {
    for (;;) { const m = await this.next(timeout); if (m !== '2') return m; }
  }
  send(d) { this.ws.send(d); }
  close() { this.ws.close(); }
}

const post = (base, sid, body, headers = {}) => get(`${base}/socket.io/?EIO=4&transport=polling&sid=${sid}`,
  { method: 'POST', body, headers: { 'Content-Type': 'text/plain;charset=UTF-8', ...headers } });
const poll = (base, sid, headers = {}) => get(`${base}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { headers });
async function handshake(base, headers = {}) {
  const r = await get(`${base}/socket.io/?EIO=4&transport=polling`, { headers });
  assert.equal(r.status, 200, r.body);
  return { ...JSON.parse(r.body.slice(1)), res: r };
}
const health = async (g) => JSON.parse((await get(`${g.base}/health`)).body);

const FULL = ['added', 'waiting', 'active', 'progress', 'progress', 'completed'];

// ---- the three transports with real jobs ----

for (const [label, transports] of [['websocket only', ['websocket']], ['polling only', ['polling']],
  ['default: polling upgraded to websocket', undefined]]) {
  test(`${label}: subscribe-job gets that job's events only, unsubscribe stops them`, async () => {
    const tag = label.split(/[ :]/)[0];
    const s = await connect(gw.base, transports ? { transports } : {});
    const other = await connect(gw.base, transports ? { transports } : {});
    assert.deepEqual(await ack(s, 'subscribe-job', `${tag}-1`), { success: true, room: `job:${tag}-1` });
    assert.deepEqual(await ack(other, 'subscribe-job', `${tag}-2`), { success: true, room: `job:${tag}-2` });
    await queues.http.add('http-job', { n: 7 }, { jobId: `${tag}-1` });
    await queues.sparql.add('sparql-job', { fail: true }, { jobId: `${tag}-2` });
    await waitFor(() => seq(s).includes('completed'), { what: `${tag}-1 completed` });
    await waitFor(() => seq(other).includes('retries-exhausted'), { what: `${tag}-2 failed` });
    assert.deepEqual(seq(s), FULL);
    assert.deepEqual(seq(other), ['added', 'waiting', 'active', 'progress', 'progress', 'failed', 'retries-exhausted']);
    // a late subscriber hears the job's state first: here it did not exist yet
    const first = s.received.find((x) => x.args[0] && x.args[0].jobId === `${tag}-1`);
    assert.deepEqual(first, { event: 'state', args: [{ queue: null, jobId: `${tag}-1`, state: 'unknown' }] });
    // every room event carries its offset (dualgate's stream cursor) as a last argument
    const roomEvents = s.received.filter((x) => x.event !== 'state' && x.args[0] && x.args[0].jobId === `${tag}-1`);
    assert.ok(roomEvents.every((x) => x.args.length === 2 && OFFSET.test(x.args[1])), JSON.stringify(roomEvents[0]));
    const e = jobEvents(s);
    assert.deepEqual(e[0], { event: 'added', queue: 'http', jobId: `${tag}-1`, name: 'http-job' });
    assert.deepEqual(e[2], { event: 'active', queue: 'http', jobId: `${tag}-1`, prev: 'waiting' });
    assert.deepEqual(e[3], { event: 'progress', queue: 'http', jobId: `${tag}-1`, data: 50 });
    assert.deepEqual(e[5], { event: 'completed', queue: 'http', jobId: `${tag}-1`,
      returnvalue: { ok: true, n: 7, text: 'héllo "quoted"\nline2' }, prev: 'active' });
    assert.deepEqual(jobEvents(other, `${tag}-2`).find((x) => x.event === 'failed'), { event: 'failed', queue: 'sparql',
      jobId: `${tag}-2`, failedReason: `boom: "bad" thing\nfor ${tag}-2`, prev: 'active' });
    if (!transports || transports[0] === 'websocket') {
      await waitFor(() => s.io.engine.transport.name === 'websocket', { what: 'upgrade' });
    } else {
      assert.equal(s.io.engine.transport.name, 'polling');
    }
    // unsubscribe: the job's next run is not delivered to s, still to a fresh subscriber
    assert.deepEqual(await ack(s, 'unsubscribe-job', `${tag}-1`), { success: true, room: `job:${tag}-1` });
    const watcher = await connect(gw.base);
    await ack(watcher, 'subscribe-job', `${tag}-1`);
    await queues.http.remove(`${tag}-1`);
    await queues.http.add('http-job', { n: 8 }, { jobId: `${tag}-1` });
    await waitFor(() => seq(watcher).includes('completed'), { what: 'second run seen by the watcher' });
    assert.equal(s.received.filter((x) => x.event === 'completed').length, 1, 'no event after unsubscribe');
    s.close(); other.close(); watcher.close();
  });
}

test('wire bytes: the same Socket.IO frames as the Node original (recovery off)', async () => {
  const w = new RawWs(`ws://127.0.0.1:${plain.port}/socket.io/?EIO=4&transport=websocket`);
  const open = JSON.parse((await w.next()).slice(1));
  assert.deepEqual(Object.keys(open), ['sid', 'upgrades', 'pingInterval', 'pingTimeout', 'maxPayload']);
  assert.deepEqual(open.upgrades, []);
  assert.equal(open.pingInterval, 25000);
  assert.equal(open.pingTimeout, 20000);
  assert.equal(open.maxPayload, 1000000);
  assert.match(open.sid, /^[A-Za-z0-9_-]{20}$/);
  w.send('40');
  w.send('40/logs,');
  assert.match(await w.nextData(), /^40\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
  assert.match(await w.nextData(), /^40\/logs,\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
  w.send('42["subscribe-job","wire-42"]');
  w.send('42["subscribe-job",42]');
  // the subscriptions are in place once a later packet on the same socket was answered;
  // the one addition to the original's bytes: each subscribe-job's `state` comes first
  w.send('427["subscribe-queue","analyzer"]');
  const states = new Set([await w.nextData(), await w.nextData()]);
  assert.deepEqual(states, new Set(['42["state",{"queue":null,"jobId":"wire-42","state":"unknown"}]',
    '42["state",{"queue":null,"jobId":"42","state":"unknown"}]']));
  assert.equal(await w.nextData(), '437[{"success":true,"room":"queue:analyzer"}]');
  await queues.http.add('x', { ret: { ok: true, n: 1, text: 'héllo "quoted"\nline2' } }, { jobId: 'wire-42' });
  // BullMQ refuses numeric custom ids; its own ids are numeric: write that entry as BullMQ does
  await rc.xadd('bull:techstack:events', '*', 'event', 'completed', 'jobId', '42', 'returnvalue', 'null', 'prev', 'active');
  const want = new Set([
    '42["completed",{"queue":"http","jobId":"wire-42","returnvalue":{"ok":true,"n":1,"text":"héllo \\"quoted\\"\\nline2"},"prev":"active"}]',
    '42["completed",{"queue":"techstack","jobId":"42","returnvalue":null,"prev":"active"}]',
  ]);
  const seen = [];
  while (want.size) {
    const m = await w.nextData(15000);
    seen.push(m);
    want.delete(m);
  }
  assert.ok(seen.every((m) => m.startsWith('42["')), seen.join('\n'));
  w.close();
  assert.equal((await w.closed).code, 1005, 'our close frame is echoed');
});

test('wire bytes with recovery: pid in CONNECT, the offset appended to room events only', async () => {
  const w = new RawWs(`ws://127.0.0.1:${gw.port}/socket.io/?EIO=4&transport=websocket`);
  await w.next();
  w.send('40');
  const [, sid, pid] = (await w.nextData()).match(/^40\{"sid":"([A-Za-z0-9_-]{20})","pid":"([A-Za-z0-9_-]{20})"\}$/);
  assert.ok(pid);
  // connected_event (on by default): the socket's id, no user without a token
  assert.equal(await w.nextData(), `42["connected",{"socketId":"${sid}","userId":null}]`);
  w.send('421["subscribe-job",{"jobId":"wire-rec","queue":"http"}]');
  // the state comes first (it holds the queue), then the ack
  assert.equal(await w.nextData(), '42["state",{"queue":"http","jobId":"wire-rec","state":"unknown"}]');
  assert.equal(await w.nextData(), '431[{"success":true,"room":"job:wire-rec"}]');
  await rc.xadd('bull:http:events', '*', 'event', 'completed', 'jobId', 'wire-rec', 'returnvalue', '1', 'prev', 'active');
  const m = await w.nextData(15000);
  const id = (await rc.xrevrange('bull:http:events', '+', '-', 'COUNT', 1))[0][0];
  const [, offset] = m.match(/^42\["completed",\{"queue":"http","jobId":"wire-rec","returnvalue":1,"prev":"active"\},"([^"]+)"\]$/);
  assert.match(offset, OFFSET);
  assert.ok(offset.startsWith(`http:${id},`), `${offset} names ${id}`);
  w.close();
});

test('acks: ids as string, number or {jobId, queue}; validation errors; queue rooms', async () => {
  const s = await connect(gw.base, { transports: ['websocket'] });
  assert.deepEqual(await ack(s, 'subscribe-job', 77), { success: true, room: 'job:77' });
  assert.deepEqual(await ack(s, 'subscribe-job', { jobId: 'q-1', queue: 'sparql' }), { success: true, room: 'job:q-1' });
  assert.deepEqual(await ack(s, 'subscribe-job', { jobId: 'q-1', queue: 'nope' }), { success: false, error: 'unknown queue' });
  assert.deepEqual(await ack(s, 'subscribe-job', ''), { success: false, error: 'id is empty' });
  assert.deepEqual(await ack(s, 'subscribe-job', 'x'.repeat(257)), { success: false, error: 'id is longer than max_id_len' });
  assert.deepEqual(await ack(s, 'subscribe-job', 'a\u0001b'), { success: false, error: 'id holds control characters' });
  assert.deepEqual(await ack(s, 'subscribe-job', true), { success: false, error: 'id must be a string or a number' });
  assert.deepEqual(await ack(s, 'subscribe-job'), { success: false, error: 'jobId is required' });
  assert.deepEqual(await ack(s, 'subscribe-queue', 'nope'), { success: false, error: 'unknown queue' });
  assert.deepEqual(await ack(s, 'subscribe-queue', 'techstack'), { success: true, room: 'queue:techstack' });
  // {jobId, queue}: the same id on another queue is filtered out
  await queues.http.add('x', { n: 1 }, { jobId: 'q-1' });
  await queues.sparql.add('x', { n: 1 }, { jobId: 'q-1' });
  await queues.techstack.add('x', { n: 1 }, { jobId: 'qt-1' });
  await waitFor(() => seq(s, 'q-1').includes('completed') && seq(s, 'qt-1').includes('completed'), { what: 'completions' });
  await waitFor(async () => (await queues.http.getJobState('q-1')) === 'completed');
  assert.ok(jobEvents(s, 'q-1').every((e) => e.queue === 'sparql'), 'queue filter');
  assert.deepEqual(seq(s, 'qt-1'), FULL, 'queue room');
  // numeric ids join the same room as their string form (BullMQ ids are strings)
  await rc.xadd('bull:analyzer:events', '*', 'event', 'completed', 'jobId', '77', 'returnvalue', '{"n":77}', 'prev', 'active');
  await waitFor(() => seq(s, '77').includes('completed'), { what: 'job 77' });
  assert.deepEqual(jobEvents(s, '77')[0], { event: 'completed', queue: 'analyzer', jobId: '77', returnvalue: { n: 77 }, prev: 'active' });
  assert.deepEqual(await ack(s, 'unsubscribe-queue', 'techstack'), { success: true, room: 'queue:techstack' });
  // emits without an ack callback are fine too (the Node original had none)
  s.emit('subscribe-job', 'no-ack');
  assert.deepEqual(await ack(s, 'unsubscribe-job', 'no-ack'), { success: true, room: 'job:no-ack' });
  const h = await health(gw);
  assert.ok(h.socketio.namespaces.subscription_errors >= 7);
  s.close();
});

test('subscribe-all-jobs: every job event of the chosen queues (the NestJS all-jobs room)', async () => {
  const all = await connect(gw.base, { transports: ['websocket'] });
  const some = await connect(gw.base, { transports: ['polling'] });
  assert.deepEqual(await ack(all, 'subscribe-all-jobs'), { success: true, room: 'all-jobs' });
  assert.deepEqual(await ack(some, 'subscribe-all-jobs', { queues: ['sparql', 'analyzer'] }), { success: true, room: 'all-jobs' });
  assert.deepEqual(await ack(some, 'subscribe-all-jobs', { queue: 'nope' }), { success: false, error: 'unknown queue' });
  assert.deepEqual(await ack(some, 'subscribe-all-jobs', 'sparql'), { success: false, error: 'an object {queue} or {queues} is expected' });
  const ids = { http: 'aj-h', sparql: 'aj-s', analyzer: 'aj-a' };
  for (const [q, id] of Object.entries(ids)) await rc.xadd(`bull:${q}:events`, '*', 'event', 'completed', 'jobId', id, 'returnvalue', '1', 'prev', 'active');
  await waitFor(() => Object.values(ids).every((id) => seq(all, id).includes('completed')) &&
    seq(some, ids.sparql).includes('completed') && seq(some, ids.analyzer).includes('completed'), { what: 'all-jobs events' });
  assert.deepEqual(jobEvents(all).map((e) => e.queue).sort(), ['analyzer', 'http', 'sparql']);
  assert.ok(!jobEvents(some).some((e) => e.queue === 'http'), 'the queue filter');
  assert.ok(!all.received.some((e) => e.event === 'state'), 'no state for all-jobs');
  assert.deepEqual(await ack(all, 'unsubscribe-all-jobs'), { success: true, room: 'all-jobs' });
  await rc.xadd('bull:http:events', '*', 'event', 'completed', 'jobId', 'aj-after', 'returnvalue', '1', 'prev', 'active');
  await rc.xadd('bull:sparql:events', '*', 'event', 'completed', 'jobId', 'aj-after', 'returnvalue', '1', 'prev', 'active');
  await waitFor(() => seq(some, 'aj-after').includes('completed'), { what: 'a later event' });
  assert.deepEqual(seq(all, 'aj-after'), [], 'nothing after unsubscribe');
  all.close(); some.close();
});

test('unknown namespace: CONNECT_ERROR "Invalid namespace", the connection stays usable', async () => {
  const main = await connect(gw.base, { transports: ['websocket'] });
  const bad = io(`${gw.base}/nope`, { transports: ['websocket'], reconnection: false });
  sockets.push(bad);
  const err = await new Promise((resolve) => bad.once('connect_error', resolve));
  assert.equal(err.message, 'Invalid namespace');
  assert.deepEqual(await ack(main, 'subscribe-job', 'still-here'), { success: true, room: 'job:still-here' });
  // raw: the answer is byte-exact and the socket stays open
  const w = new RawWs(`ws://127.0.0.1:${gw.port}/socket.io/?EIO=4&transport=websocket`);
  await w.next();
  w.send('40/random,');
  assert.equal(await w.nextData(), '44/random,{"message":"Invalid namespace"}');
  w.send('40');
  assert.match(await w.nextData(), /^40\{"sid":/);
  w.close();
  bad.close(); main.close();
});

test('/logs: two clients see each other\'s entries and dualgate\'s own; invalid entries refused', async () => {
  const a = await connect(`${gw.base}/logs`, { transports: ['websocket'] });
  const b = await connect(`${gw.base}/logs`, { transports: ['polling'] });
  const logs = (s) => s.received.filter((e) => e.event === 'log').map((e) => e.args[0]);
  assert.deepEqual(await ack(a, 'log', { level: 'warn', ns: 'alice', msg: 'hello from a', ts: '2026-01-01T00:00:00.000Z' }),
    { success: true });
  b.emit('log', { ns: 'bob', msg: 'hello from b' });
  for (const s of [a, b]) {
    await waitFor(() => logs(s).some((e) => e.ns === 'alice') && logs(s).some((e) => e.ns === 'bob'), { what: 'both entries' });
    assert.deepEqual(logs(s).find((e) => e.ns === 'alice'), { ts: '2026-01-01T00:00:00.000Z', level: 'warn', ns: 'alice', msg: 'hello from a' });
    const fromB = logs(s).find((e) => e.ns === 'bob');
    assert.equal(fromB.level, 'info');
    assert.match(fromB.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  // an SSE /logs client sees the client's entry too (one stream, every transport)
  const sse = new SseClient(`${gw.base}/sse/logs`);
  await sse.response;
  await ack(a, 'log', { ns: 'alice', msg: 'to sse too' });
  await waitFor(() => sse.jobEvents('log').some((e) => e.msg === 'to sse too'), { what: 'SSE copy' });
  sse.close();
  // dualgate's own log lines: a malformed stream entry is logged (warn, ns "redis")
  await rc.xadd('bull:http:events', '*', 'foo', 'bar');
  for (const s of [a, b]) await waitFor(() => logs(s).some((e) => e.ns === 'redis' && e.level === 'warn'), { what: 'own log line' });
  const before = (await health(gw)).socketio.client_logs.invalid;
  const bad = await ack(a, 'log', { level: 'loud', msg: 'x' });
  assert.equal(bad.success, false);
  assert.equal(typeof bad.error, 'string');
  assert.equal((await ack(a, 'log', 'not an object')).success, false);
  a.emit('log', { ns: 'no-msg' }); // no ack: dropped and counted
  await waitFor(async () => (await health(gw)).socketio.client_logs.invalid === before + 3, { what: 'invalid counted' });
  assert.ok(!logs(b).some((e) => e.ns === 'no-msg'));
  a.close(); b.close();
});

test('a socket.io client and an SSE client on the same job receive the same events', async () => {
  const s = await connect(gw.base);
  const sse = new SseClient(`${gw.base}/sse/jobs/parity-1`);
  await sse.response;
  await ack(s, 'subscribe-job', 'parity-1');
  await queues.analyzer.add('x', { n: 3 }, { jobId: 'parity-1' });
  await waitFor(() => seq(s).includes('completed') && sse.jobEvents().some((e) => e.event === 'completed'), { what: 'both' });
  assert.deepEqual(jobEvents(s), sse.jobEvents());
  sse.close(); s.close();
});

test('subscriptions live with the socket: its rooms are left when it disconnects', async () => {
  const h0 = await health(gw);
  const s = await connect(gw.base, { transports: ['polling'] });
  await ack(s, 'subscribe-job', 'gone-1');
  await ack(s, 'subscribe-queue', 'http');
  const h1 = await health(gw);
  assert.equal(h1.socketio.sessions, h0.socketio.sessions + 1);
  assert.ok(h1.broker.members >= 2);
  s.close();
  // (SSE clients of earlier tests may still be leaving, so compare with <=)
  await waitFor(async () => { const h = await health(gw); return h.socketio.sessions === h0.socketio.sessions &&
    h.broker.members <= h1.broker.members - 2; }, { what: 'session and memberships released' });
});

// ---- heartbeat, timeouts, slow consumers ----

test('heartbeat: a client that answers pings stays; one that stops is closed after pingTimeout', async () => {
  const good = await connect(tight.base, { transports: ['websocket'] });
  const goodPoll = await connect(tight.base, { transports: ['polling'] });
  let gone = false;
  good.on('disconnect', () => { gone = true; });
  goodPoll.on('disconnect', () => { gone = true; });
  // raw WebSocket that never answers "2"
  const w = new RawWs(`ws://127.0.0.1:${tight.port}/socket.io/?EIO=4&transport=websocket`);
  const opened = Date.now();
  const open = JSON.parse((await w.next()).slice(1));
  assert.equal(open.pingInterval, 300);
  assert.equal(open.pingTimeout, 200);
  w.send('40');
  const { at } = await w.closed;
  assert.equal(w.msgs.filter((m) => m === '2').length, 1, 'one ping, then closed');
  assert.ok(at - opened >= 450 && at - opened < 1500, `closed after ${at - opened} ms`);
  // raw polling session that never answers: the GET gets the ping, then the session is gone
  const { sid } = await handshake(tight.base);
  await post(tight.base, sid, '40');
  const packets = [];
  while (!packets.includes('2')) packets.push(...(await poll(tight.base, sid)).body.split('\x1e'));
  assert.match(packets[0], /^40\{"sid"/);
  await waitFor(async () => (await poll(tight.base, sid)).status === 400, { timeout: 2000, what: 'ping timeout' });
  const again = await poll(tight.base, sid);
  assert.deepEqual(JSON.parse(again.body), { code: 1, message: 'Session ID unknown' });
  assert.equal(gone, false, 'answering clients are kept');
  const h = await health(tight);
  assert.ok(h.socketio.closed.ping_timeout >= 2);
  good.close(); goodPoll.close();
});

test('connect timeout: no Socket.IO CONNECT closes the connection', async () => {
  const w = new RawWs(`ws://127.0.0.1:${tight.port}/socket.io/?EIO=4&transport=websocket`);
  const t0 = Date.now();
  await w.next();
  let pongs = 0;
  w.ws.on('message', (d) => { if (String(d) === '2') { w.send('3'); pongs++; } });
  const { at } = await w.closed;
  assert.ok(at - t0 >= 350 && at - t0 < 1500, `closed after ${at - t0} ms`);
  assert.ok((await health(tight)).socketio.closed.connect_timeout >= 1);
});

test('malformed packets close the connection', async () => {
  for (const bad of ['4abc', '42{}', '42abc["x"]', '40/logs,[1]', '41/logs,', 'x', '2']) {
    const w = new RawWs(`ws://127.0.0.1:${gw.port}/socket.io/?EIO=4&transport=websocket`);
    await w.next();
    w.send('40');
    await w.nextData();
    w.send(bad);
    await w.closed;
  }
  // over polling: 400, then the sid is unknown
  const { sid } = await handshake(gw.base);
  const r = await post(gw.base, sid, 'abc');
  assert.equal(r.status, 400);
  assert.equal((await poll(gw.base, sid)).status, 400);
});

test('slow consumer: a polling client that never polls is closed, counted, its messages dropped', async () => {
  const { sid } = await handshake(slow.base);
  assert.equal((await post(slow.base, sid, '40\x1e42["subscribe-job","slow-1"]')).status, 200);
  await queues.http.add('x', { n: 1 }, { jobId: 'slow-1' });
  await waitFor(async () => (await health(slow)).closed.slow_consumer >= 1, { what: 'slow consumer closed' });
  const h = await health(slow);
  assert.ok(h.closed.dropped_messages >= 1);
  assert.ok(h.socketio.closed.slow_consumer >= 1);
  assert.equal((await poll(slow.base, sid)).status, 400);
});

// ---- HTTP answers: errors, CORS, limits, the client library ----

test('Engine.IO error answers: status, {code,message}, CORS on every one', async () => {
  const base = `${gw.base}/socket.io/`;
  const cases = [
    ['?EIO=4&transport=tobi', 'GET', 400, 0, 'Transport unknown'],
    ['?EIO=4', 'GET', 400, 0, 'Transport unknown'],
    ['?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA', 'GET', 400, 1, 'Session ID unknown'],
    ['?EIO=4&transport=polling', 'POST', 400, 2, 'Bad handshake method'],
    ['?EIO=4&transport=polling', 'PUT', 400, 2, 'Bad handshake method'],
    ['?EIO=4&transport=websocket', 'GET', 400, 3, 'Bad request'],
    ['?EIO=3&transport=polling', 'GET', 400, 5, 'Unsupported protocol version'],
    ['?transport=polling', 'GET', 400, 5, 'Unsupported protocol version'],
  ];
  for (const [qs, method, status, code, message] of cases) {
    const r = await get(base + qs, { method, body: method === 'GET' ? undefined : 'x' });
    assert.equal(r.status, status, qs);
    assert.deepEqual(JSON.parse(r.body), { code, message }, qs);
    assert.match(r.headers['content-type'], /application\/json/);
    assert.equal(r.headers['access-control-allow-origin'], '*', qs);
  }
  // a second concurrent GET closes the session: the first answers "1", the second 400
  await waitFor(async () => (await health(gw)).connections.polling === 0, { what: 'no GET held' });
  const { sid } = await handshake(gw.base);
  const first = poll(gw.base, sid);
  await waitFor(async () => (await health(gw)).connections.polling === 1, { what: 'GET held' });
  const second = await poll(gw.base, sid);
  assert.equal(second.status, 400);
  assert.equal((await first).body, '1');
  assert.equal((await poll(gw.base, sid)).status, 400);
  // after an upgrade, polling with that sid is refused
  const h2 = await handshake(gw.base);
  const w = new RawWs(`ws://127.0.0.1:${gw.port}/socket.io/?EIO=4&transport=websocket&sid=${h2.sid}`);
  await w.opened;
  w.send('2probe');
  assert.equal(await w.next(), '3probe');
  w.send('5');
  w.send('40');
  assert.match(await w.nextData(), /^40\{"sid"/);
  const after = await poll(gw.base, h2.sid);
  assert.deepEqual([after.status, JSON.parse(after.body).code], [400, 3]);
  // a second WebSocket with the same sid is refused
  const w2 = new RawWs(`ws://127.0.0.1:${gw.port}/socket.io/?EIO=4&transport=websocket&sid=${h2.sid}`);
  await assert.rejects(w2.opened);
  w.close();
});

// What recovery sends first is made when the transport pulls it (the CONNECT answer once the
// replay's first chunk is in). Restored between the probe and the "5" (the GET released, the
// WebSocket not yet the transport: nobody to pull), it must go out on the WebSocket once that
// is upgraded, with nothing live queued to wake it.
test('a session restored during the WebSocket upgrade gets its CONNECT and replay on the WebSocket', async () => {
  const a = new RawWs(`ws://127.0.0.1:${gw.port}/socket.io/?EIO=4&transport=websocket`);
  await a.opened;
  assert.match(await a.next(), /^0\{/);
  a.send('40');
  const { pid } = JSON.parse((await a.nextData()).slice(2));
  assert.match(pid, /^[\w-]{20}$/);
  a.send('420["subscribe-job","upg-1"]');
  for (;;) if ((await a.nextData()).startsWith('430')) break; // the ack
  a.ws.terminate(); // the transport lost, not a disconnect: the session is kept in Redis
  const key = `dualgate:sio:${pid}`;
  await waitFor(async () => JSON.parse((await rc.get(key)) || '{"left":0}').left > 0, { what: 'session left' });
  await rc.xadd('bull:http:events', '*', 'event', 'progress', 'jobId', 'upg-1', 'data', '7');

  const { sid } = await handshake(gw.base);
  const w = new RawWs(`ws://127.0.0.1:${gw.port}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
  await w.opened;
  w.send('2probe');
  assert.equal(await w.next(), '3probe');
  const chunks = (await health(gw)).replay.chunks;
  assert.equal((await post(gw.base, sid, `40${JSON.stringify({ pid })}`)).status, 200);
  // the replay's chunk asked for, and Redis has answered it: a round trip behind it
  await waitFor(async () => (await health(gw)).replay.chunks > chunks, { what: 'replay started' });
  await rc.ping();
  w.send('5');
  const connect = await w.nextData();
  assert.match(connect, /^40\{"sid"/);
  assert.equal(JSON.parse(connect.slice(2)).pid, pid);
  const ev = JSON.parse((await w.nextData()).slice(2));
  assert.deepEqual(ev.slice(0, 2), ['progress', { jobId: 'upg-1', queue: 'http', data: 7 }]);
  w.close();
});

test('CORS with an origin list: allowed origin echoed, others get 403 code 4; preflight', async () => {
  const ok = await handshake(tight.base, { Origin: ORIGIN });
  assert.equal(ok.res.headers['access-control-allow-origin'], ORIGIN);
  assert.equal(ok.res.headers['access-control-allow-credentials'], 'true');
  assert.match(ok.res.headers['content-type'], /^text\/plain; charset=UTF-8/);
  const r = await post(tight.base, ok.sid, '40', { Origin: ORIGIN });
  assert.deepEqual([r.status, r.body, r.headers['access-control-allow-origin']], [200, 'ok', ORIGIN]);
  const p = await poll(tight.base, ok.sid, { Origin: ORIGIN });
  assert.equal(p.headers['access-control-allow-origin'], ORIGIN);
  const err = await get(`${tight.base}/socket.io/?EIO=4&transport=tobi`, { headers: { Origin: ORIGIN } });
  assert.equal(err.status, 400);
  assert.equal(err.headers['access-control-allow-origin'], ORIGIN);
  const evil = await get(`${tight.base}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: 'http://evil.example' } });
  assert.equal(evil.status, 403);
  assert.deepEqual(JSON.parse(evil.body), { code: 4, message: 'Forbidden' });
  assert.equal(evil.headers['access-control-allow-origin'], undefined);
  const w = new RawWs(`ws://127.0.0.1:${tight.port}/socket.io/?EIO=4&transport=websocket`, { Origin: 'http://evil.example' });
  await assert.rejects(w.opened);
  // (CivetWeb answers preflights that carry Access-Control-Request-Method itself, before any
  // handler; this one reaches the Engine.IO handler.)
  const pre = await get(`${tight.base}/socket.io/?EIO=4&transport=polling`, { method: 'OPTIONS',
    headers: { Origin: ORIGIN } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-origin'], ORIGIN);
  assert.match(pre.headers['access-control-allow-methods'], /POST/);
});

test('maxPayload: a POST body over it gets 413, the session stays', async () => {
  const { sid, maxPayload } = await handshake(tight.base);
  assert.equal(maxPayload, 1000);
  const r = await post(tight.base, sid, '4' + 'x'.repeat(1200));
  assert.equal(r.status, 413);
  assert.equal((await post(tight.base, sid, '40')).status, 200);
  assert.match((await poll(tight.base, sid)).body, /^40\{"sid"/);
});

test('the client library is served with CORS at <path>socket.io.js and .min.js', async () => {
  for (const f of ['socket.io.js', 'socket.io.min.js']) {
    const r = await get(`${gw.base}/socket.io/${f}`);
    assert.equal(r.status, 200, f);
    assert.match(r.headers['content-type'], /^application\/javascript/);
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.match(r.body, /Socket\.IO v4\.\d+\.\d+/);
  }
  assert.equal((await get(`${gw.base}/socket.io/nope.js`)).status, 404);
});
