// Socket.IO connection-state recovery with the unmodified socket.io-client 4.8: the transport
// dropped mid-stream (by the network, by the client), the gateway restarted, the client moved to
// a second instance on the same Redis: events XADDed meanwhile arrive exactly once, in order, and
// socket.recovered is true. Past the window, or after Redis trimmed the stream, recovered is
// false and a `gap` event says so. A TCP proxy in front of the gateways plays the network: it can
// cut every connection, refuse new ones for a while, and point at another instance.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const { startRedis, startGateway, stop, redisClient, waitFor, startProxy, SseClient, get } = require('./lib');

let redis, gwA, gwB, short, rc;
const sockets = [];
const proxies = [];
const openProxy = async (port) => { const p = await startProxy(port); proxies.push(p); return p; };

test.before(async () => {
  redis = await startRedis();
  rc = redisClient(redis.url);
  gwA = await startGateway(redis.url);
  gwB = await startGateway(redis.url);
  short = await startGateway(redis.url, { env: { DUALGATE_RECOVERY_MAX_DISCONNECT_MS: '1000' } });
});

test.after(async () => {
  for (const s of sockets) s.close();
  for (const p of proxies) { p.cut(); p.server.close(); }
  if (rc) rc.disconnect();
  for (const g of [gwA, gwB, short]) if (g && g.exitCode === null) await stop(g);
  await stop(redis);
});

// A socket that records the `data` of every progress event of job `job` and the gaps.
async function follow(url, job, opts = {}) {
  const s = io(url, { forceNew: true, reconnectionDelay: 50, reconnectionDelayMax: 100, ...opts });
  sockets.push(s);
  s.seen = [];
  s.gaps = [];
  s.connects = [];
  s.on('progress', (e, offset) => { if (e.jobId === job) s.seen.push({ n: e.data, offset }); });
  s.on('gap', (g) => s.gaps.push(g));
  s.on('connect', () => s.connects.push(s.recovered));
  await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('connect_error', reject); });
  const ack = await s.timeout(5000).emitWithAck('subscribe-job', { jobId: job, queue: 'http' });
  assert.deepEqual(ack, { success: true, room: `job:${job}` });
  return s;
}

// Writes progress events from..to for job as BullMQ does.
async function emit(job, from, to) {
  const p = rc.pipeline();
  for (let n = from; n <= to; n++) p.xadd('bull:http:events', '*', 'event', 'progress', 'jobId', job, 'data', String(n));
  await p.exec();
}
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const numbers = (s) => s.seen.map((x) => x.n);

// Events 1..5 live, then drop(s) while new connections are refused, 6..10 meanwhile, then
// reconnect and 11..15 live: 1..15 exactly once, in order, recovered.
async function scenario(proxy, s, job, drop, { after } = {}) {
  await emit(job, 1, 5);
  await waitFor(() => s.seen.length >= 5, { what: 'events before the drop' });
  proxy.hold();
  const gone = new Promise((r) => s.once('disconnect', r));
  await drop();
  await gone;
  await emit(job, 6, 10);
  if (after) await after();
  const back = new Promise((r) => s.once('connect', r));
  proxy.release();
  await back;
  assert.equal(s.recovered, true, 'socket.recovered');
  await emit(job, 11, 15);
  await waitFor(() => s.seen.length >= 15, { what: `15 events (have ${numbers(s)})` });
  assert.deepEqual(numbers(s), range(1, 15));
  assert.deepEqual(s.gaps, []);
}

for (const transports of [['websocket'], ['polling']]) {
  test(`${transports[0]}: dropped by the network mid-stream, recovered with every event once`, async () => {
    const proxy = await openProxy(gwA.port);
    const job = `net-${transports[0]}`;
    const s = await follow(proxy.url, job, { transports });
    await scenario(proxy, s, job, () => proxy.cut());
    s.close();
  });
}

test('client side: engine closed by the client, recovered', async () => {
  const proxy = await openProxy(gwA.port);
  const s = await follow(proxy.url, 'client-close', { transports: ['websocket'] });
  await scenario(proxy, s, 'client-close', () => s.io.engine.close());
  s.close();
});

test('the gateway restarted: the new process restores the session from Redis', async () => {
  const first = await startGateway(redis.url);
  const proxy = await openProxy(first.port);
  const s = await follow(proxy.url, 'restart', { transports: ['websocket'] });
  let second;
  await scenario(proxy, s, 'restart', async () => {
    assert.equal((await stop(first)).code, 0);
  }, { after: async () => { second = await startGateway(redis.url); proxy.target = second.port; } });
  s.close();
  await stop(second);
});

test('moved to a second instance on the same Redis: recovered there', async () => {
  const proxy = await openProxy(gwA.port);
  const s = await follow(proxy.url, 'moved', { transports: ['websocket'] });
  await scenario(proxy, s, 'moved', () => proxy.cut(), { after: () => { proxy.target = gwB.port; } });
  // one cursor: the last offset resumes an SSE stream on either instance: nothing replayed
  // (the client has it all), no state, then what comes next
  const offset = s.seen[s.seen.length - 1].offset;
  assert.match(offset, /^http:\d+-\d+,sparql:\d+-\d+,techstack:\d+-\d+,analyzer:\d+-\d+$/);
  const sse = [gwA, gwB].map((g) => new SseClient(`${g.base}/sse/jobs/moved`, { 'Last-Event-ID': offset }));
  await Promise.all(sse.map((c) => c.response));
  await waitFor(() => sse.every((c) => c.comments.includes('connected')), { what: 'SSE resumed' });
  await emit('moved', 16, 16);
  await waitFor(() => s.seen.length >= 16 && sse.every((c) => c.events.length >= 1), { what: 'event 16' });
  for (const c of sse) {
    assert.deepEqual(c.events.map((e) => [e.event, JSON.parse(e.data).data]), [['progress', 16]]);
    c.close();
  }
  // and the SSE cursor after it is the Socket.IO offset after it: one cursor
  assert.equal(sse[0].events[0].id, s.seen[15].offset);
  s.close();
});

test('past recovery_max_disconnect_ms: a fresh session, told by a gap event', async () => {
  const proxy = await openProxy(short.port);
  const s = await follow(proxy.url, 'late', { transports: ['websocket'] });
  await emit('late', 1, 2);
  await waitFor(() => s.seen.length >= 2, { what: 'events before the drop' });
  proxy.hold();
  proxy.cut();
  const left = Date.now();
  await emit('late', 3, 4);
  await waitFor(() => Date.now() - left > 1300, { timeout: 5000, what: 'the window to pass' });
  const back = new Promise((r) => s.once('connect', r));
  proxy.release();
  await back;
  assert.equal(s.recovered, false);
  await waitFor(() => s.gaps.length === 1, { what: 'a gap event' });
  assert.ok(['session_expired', 'session_unknown'].includes(s.gaps[0].reason), JSON.stringify(s.gaps[0]));
  s.close();
});

test('the stream was trimmed meanwhile: not recovered, a gap event, rooms kept and live events flow', async () => {
  const proxy = await openProxy(gwA.port);
  const s = await follow(proxy.url, 'trimmed', { transports: ['websocket'] });
  await emit('trimmed', 1, 2);
  await waitFor(() => s.seen.length >= 2, { what: 'events before the drop' });
  proxy.hold();
  const gone = new Promise((r) => s.once('disconnect', r));
  proxy.cut();
  await gone;
  await emit('trimmed', 3, 5);
  await rc.xtrim('bull:http:events', 'MAXLEN', 1); // the client's offset and 3, 4 are gone
  const back = new Promise((r) => s.once('connect', r));
  proxy.release();
  await back;
  assert.equal(s.recovered, false);
  await waitFor(() => s.gaps.length === 1 && s.seen.length >= 3, { what: 'gap and what remains' });
  assert.equal(s.gaps[0].reason, 'trimmed');
  assert.deepEqual(numbers(s), [1, 2, 5]);
  await emit('trimmed', 6, 6);
  await waitFor(() => s.seen.length >= 4, { what: 'live after the gap' });
  assert.deepEqual(numbers(s), [1, 2, 5, 6]);
  s.close();
});

test('an explicit disconnect forgets the session; what recovery costs', async () => {
  const proxy = await openProxy(gwA.port);
  const s = await follow(proxy.url, 'cost', { transports: ['websocket'] });
  const pid = s._pid;
  assert.match(pid, /^[A-Za-z0-9_-]{20}$/);
  await waitFor(async () => (await rc.exists(`dualgate:sio:${pid}`)) === 1, { what: 'state in Redis' });
  // 1,000 events missed: replayed at reconnect
  proxy.hold();
  const gone = new Promise((r) => s.once('disconnect', r));
  proxy.cut();
  await gone;
  await waitFor(async () => JSON.parse(await rc.get(`dualgate:sio:${pid}`)).left > 0, { what: 'state saved at teardown' });
  const bytes = await rc.memory('USAGE', `dualgate:sio:${pid}`);
  const ttl = await rc.pttl(`dualgate:sio:${pid}`);
  assert.ok(ttl > 0 && ttl <= 120000, `TTL ${ttl}`);
  for (let i = 0; i < 10; i++) await emit('cost', i * 100 + 1, i * 100 + 100);
  const t0 = process.hrtime.bigint();
  proxy.release();
  await waitFor(() => s.seen.length >= 1000, { timeout: 20000, what: '1,000 replayed events' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.equal(s.recovered, true);
  assert.deepEqual(numbers(s), range(1, 1000));
  console.log(`# recovery cost: ${bytes} bytes of Redis per disconnected session (MEMORY USAGE, 1 room), ` +
    `1,000 missed events replayed in ${ms.toFixed(0)} ms (reconnect included)`);
  // counted in /metrics
  const m = (await get(`${gwA.base}/metrics`)).body;
  assert.match(m, /dualgate_socketio_recoveries_total\{result="recovered"\} [1-9]/);
  assert.match(m, /dualgate_replay_requests_total\{transport="socketio"\} [1-9]/);
  // socket.disconnect(): the state goes
  s.disconnect();
  await waitFor(async () => (await rc.exists(`dualgate:sio:${pid}`)) === 0, { what: 'state deleted' });
});
