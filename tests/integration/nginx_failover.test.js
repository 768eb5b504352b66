// Two dualgates on one Redis behind Debian's nginx (conf/nginx.conf templated onto free ports, run
// unprivileged with a scratch prefix): SSE and socket.io-client (WebSocket and polling) through
// nginx get every event; then one instance is drained (SIGTERM) and killed: its SSE clients come
// back through nginx on the other with Last-Event-ID and lose nothing, and socket.io-clients
// reconnect by themselves, recover their sessions there (connection-state recovery) and lose
// nothing either.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { io } = require('socket.io-client');
const lib = require('./lib');
const { missing, nginxFront } = require('./nginx');

const N_SSE = 20;
let redis, gws = [], ngx, base, prefix, rc;
const sockets = [], streams = [];

test.before(async () => {
  if (missing) return;
  redis = await lib.startRedis();
  rc = lib.redisClient(redis.url);
  const env = { DUALGATE_LOG_LEVEL: 'info', DUALGATE_DRAIN_MS: '2000' };
  gws = await Promise.all([lib.startGateway(redis.url, { env }), lib.startGateway(redis.url, { env })]);
  ({ ngx, base, prefix } = await nginxFront(gws));
});

test.after(async () => {
  for (const s of sockets) s.close();
  for (const s of streams) s.close();
  if (rc) rc.disconnect();
  if (ngx) await lib.stop(ngx, 'SIGTERM'); // fast shutdown: a graceful one waits for idle upgraded sockets
  for (const g of gws) await lib.stop(g, 'SIGKILL');
  await lib.stop(redis);
  if (prefix) fs.rmSync(prefix, { recursive: true, force: true });
});

const xlog = (msg) => rc.xadd('dualgate:logs', '*', 'ts', new Date().toISOString(), 'level', 'info', 'ns', 'fo', 'msg', msg);
const health = async (g) => JSON.parse((await lib.get(`${g.base}/health`)).body).connections;

async function connect(opts) {
  const s = io(`${base}/logs`, { forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 500, ...opts });
  sockets.push(s);
  s.logs = [];
  s.connects = 0;
  s.recoveries = [];
  s.on('connect', () => { if (s.connects++) s.recoveries.push(s.recovered); });
  s.on('log', (e) => { if (e.ns === 'fo') s.logs.push(e.msg); });
  await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('connect_error', reject); });
  return s;
}

test('every transport through nginx gets every event; a drained, killed instance loses no SSE event', { skip: missing || false }, async () => {
  for (let i = 0; i < N_SSE; i++) streams.push(new lib.ResumingSse(() => base, '/sse/logs?ns=fo'));
  const ws = await Promise.all([0, 1, 2, 3].map(() => connect({ transports: ['websocket'] })));
  const poll = await connect({ transports: ['polling'] });
  await lib.waitFor(() => streams.every((s) => s.client.raw.includes(': connected')), { what: 'SSE through nginx' });
  const per = await Promise.all(gws.map(health));
  assert.ok(per.every((c) => c.sse > 0), `SSE on both instances: ${JSON.stringify(per)}`);

  const sent = [];
  const send = async (n) => { for (let i = 0; i < n; i++) { const m = `f-${sent.length}`; await xlog(m); sent.push(m); } };
  await send(10);
  await lib.waitFor(() => [...ws, poll].every((s) => s.logs.length >= 10) && streams.every((s) => s.msgs.length >= 10),
    { what: 'every client got the first events' });
  for (const s of [...ws, poll]) assert.deepEqual(s.logs, sent);

  // Drain a (events keep coming), let its clients leave, then kill it.
  const [a] = gws;
  const onA = (await health(a)).sse;
  let producing = true;
  const producer = (async () => { while (producing) { await send(1); await new Promise((r) => setTimeout(r, 10)); } })();
  process.kill(a.pid, 'SIGTERM');
  await lib.waitFor(async () => { try { return (await health(a)).sse === 0; } catch { return true; } },
    { timeout: 5000, what: `a's ${onA} SSE streams to end` });
  await lib.stop(a, 'SIGKILL');
  await lib.waitFor(async () => (await health(gws[1])).sse === N_SSE, { what: 'every SSE stream on b' });
  await lib.waitFor(() => ws.every((s) => s.connected), { what: 'WebSocket clients reconnected' });
  await send(5);
  producing = false;
  await producer;
  await lib.waitFor(() => streams.every((s) => s.msgs.length >= sent.length), { timeout: 10000,
    what: `every event on every SSE client (least ${Math.min(...streams.map((s) => s.msgs.length))} of ${sent.length})` });
  for (const s of streams) assert.deepEqual(s.msgs.map((m) => m.msg).slice(0, sent.length), sent);
  assert.ok(streams.filter((s) => s.ends.length > 0).length >= onA, 'the drained streams came back');
  // Socket.IO: whoever was on a reconnected on b and recovered; every client has every event once.
  await lib.waitFor(() => [...ws, poll].every((s) => s.connected && s.logs.length >= sent.length), { timeout: 15000,
    what: `every event on every Socket.IO client (least ${Math.min(...[...ws, poll].map((s) => s.logs.length))} of ${sent.length})` });
  for (const s of [...ws, poll]) {
    assert.ok(s.recoveries.every((r) => r === true), `reconnects recovered: ${s.recoveries}`);
    assert.deepEqual(s.logs.slice(0, sent.length), sent, 'in order, no loss, no duplicate');
  }
  assert.ok([...ws, poll].some((s) => s.recoveries.length > 0), 'some client moved from a to b');
});
