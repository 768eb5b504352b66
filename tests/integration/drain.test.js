// Drain on SIGTERM: 200 clients (SSE, socket.io-client over WebSocket and over polling) on one
// instance with drain_ms 3000, events XADDed all the while. From the SIGTERM on /ready answers
// 503 and new SSE streams, handshakes and upgrades get 503 with Retry-After; the open clients are
// ended spread over the window (not all within one 100 ms window), Socket.IO ones with a close
// that socket.io-client reconnects after; the process exits by drain_ms + a margin; SSE clients
// resuming with Last-Event-ID on a second instance on the same Redis lose no event, and neither do
// socket.io-clients that reconnect there (through a proxy now pointing at it) and recover.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const lib = require('./lib');

const DRAIN_MS = 3000;
const MARGIN_MS = 2500; // the exit after the window: last closes, then the normal stop
const N_SSE = 100, N_WS = 60, N_POLL = 40, N_REC = 20;

let redis, a, b, rc, proxy;
const sockets = [], streams = [];

test.before(async () => {
  redis = await lib.startRedis();
  const env = { DUALGATE_LOG_LEVEL: 'info', DUALGATE_DRAIN_MS: String(DRAIN_MS) };
  [a, b] = await Promise.all([lib.startGateway(redis.url, { env }), lib.startGateway(redis.url, { env })]);
  rc = lib.redisClient(redis.url);
});

test.after(async () => {
  for (const s of sockets) s.close();
  for (const s of streams) s.close();
  if (proxy) proxy.close();
  if (rc) rc.disconnect();
  await lib.stop(a, 'SIGKILL');
  const r = await lib.stop(b, 'SIGINT');
  await lib.stop(redis);
  if (r) assert.equal(r.code, 0);
});

function connect(transports) {
  const s = io(`${a.base}/logs`, { reconnection: false, forceNew: true, transports });
  sockets.push(s);
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
    s.once('disconnect', (reason) => { s.closedAt = Date.now(); s.reason = reason; });
  });
}

// 250 ms buckets of the times since t0, as "from-to ms: count" lines.
function histogram(times, t0, width = 250) {
  const n = {};
  for (const t of times) { const k = Math.floor((t - t0) / width); n[k] = (n[k] || 0) + 1; }
  return Object.keys(n).map(Number).sort((x, y) => x - y)
    .map((k) => `${k * width}-${(k + 1) * width} ms: ${n[k]}`).join('\n');
}

test('SIGTERM drains 200 clients as a ramp, refuses new ones, exits in time, SSE loses nothing', async (t) => {
  // SSE clients on a, each moving to b (with Last-Event-ID) when its stream ends.
  let target = a;
  for (let i = 0; i < N_SSE; i++) streams.push(new lib.ResumingSse(() => target.base, '/sse/logs?ns=drain'));
  const ws = [], poll = [];
  for (let i = 0; i < N_WS; i++) ws.push(connect(['websocket']));
  for (let i = 0; i < N_POLL; i++) poll.push(connect(['polling']));
  const sio = await Promise.all([...ws, ...poll]);
  // Recovering clients: through a proxy (the load balancer) that sends new connections to b once
  // a drains; they record every drain entry they get, and whether each reconnect recovered.
  proxy = await lib.startProxy(a.port);
  const rec = await Promise.all(Array.from({ length: N_REC }, (_, i) => new Promise((resolve, reject) => {
    const s = io(`${proxy.url}/logs`, { forceNew: true, reconnectionDelay: 50, reconnectionDelayMax: 200,
      transports: i % 2 ? ['polling'] : ['websocket'] });
    sockets.push(s);
    s.msgs = [];
    s.recoveries = [];
    s.on('log', (e) => { if (e.ns === 'drain') s.msgs.push(e.msg); });
    s.on('connect', () => { if (s.msgs.connected) s.recoveries.push(s.recovered); s.msgs.connected = true; });
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  })));
  await lib.waitFor(() => streams.every((s) => s.client.raw.includes(': connected')), { what: 'SSE streams open' });
  target = b; // from now on every stream that ends comes back on b
  proxy.target = b.port;

  // A producer that XADDs an event every 10 ms until told to stop.
  const sent = [];
  let producing = true;
  const producer = (async () => {
    for (let i = 0; producing; i++) {
      await rc.xadd('dualgate:logs', '*', 'ts', new Date().toISOString(), 'level', 'info', 'ns', 'drain', 'msg', `d-${i}`);
      sent.push(`d-${i}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  await lib.waitFor(() => sent.length >= 5, { what: 'the producer' });

  const t0 = Date.now();
  process.kill(a.pid, 'SIGTERM');
  a.ref();
  await lib.waitFor(async () => (await lib.get(`${a.base}/ready`)).status === 503, { timeout: 1000, what: '/ready 503' });
  const refused = await lib.get(`${a.base}/sse/logs`);
  assert.equal(refused.status, 503);
  assert.ok(Number(refused.headers['retry-after']) >= 1, 'Retry-After on a refused SSE stream');
  const hs = await lib.get(`${a.base}/socket.io/?EIO=4&transport=polling`);
  assert.equal(hs.status, 503, 'a new Socket.IO handshake is refused');
  assert.ok(hs.headers['retry-after']);
  const up = await lib.get(`${a.base}/socket.io/?EIO=4&transport=websocket`, { headers: {
    Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
  assert.equal(up.status, 503, 'a new WebSocket upgrade is refused');
  assert.ok(up.headers['retry-after']);
  const health = JSON.parse((await lib.get(`${a.base}/health`)).body);
  assert.equal(health.status, 'draining');

  const [code] = await a.exited;
  const exitMs = Date.now() - t0;
  assert.equal(code, 0);
  assert.ok(exitMs <= DRAIN_MS + MARGIN_MS, `exited ${exitMs} ms after SIGTERM`);

  // Every client was ended by the server, spread over the window.
  await lib.waitFor(() => sio.every((s) => s.closedAt), { timeout: 2000, what: 'every Socket.IO client closed' });
  for (const s of sio) assert.notEqual(s.reason, 'io server disconnect', 'socket.io-client would not reconnect');
  const ends = [...streams.map((s) => s.ends[0]), ...sio.map((s) => s.closedAt)];
  assert.equal(ends.filter(Boolean).length, N_SSE + N_WS + N_POLL);
  const sorted = ends.map((x) => x - t0).sort((x, y) => x - y);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i] - sorted[j] >= 100) j++;
    most = Math.max(most, i - j + 1);
  }
  t.diagnostic('close times after SIGTERM (250 ms buckets):');
  for (const line of histogram(ends, t0).split('\n')) t.diagnostic(line);
  t.diagnostic(`socket.io-client disconnect reasons: ${[...new Set(sio.map((s) => s.reason))].join(', ')}`);
  t.diagnostic(`most closes within one 100 ms window: ${most}; exit after ${exitMs} ms`);
  assert.ok(most <= 40, `${most} of ${sorted.length} clients closed within one 100 ms window`);
  assert.ok(sorted[sorted.length - 1] - sorted[0] >= DRAIN_MS / 2, 'the closes cover the window');

  // The SSE clients are on b now; a few more events, then every one must have every event.
  await lib.waitFor(() => streams.every((s) => s.statuses.length >= 2 && s.statuses[s.statuses.length - 1] === 200 &&
    s.client.raw.includes(': connected')), { what: 'SSE clients resumed on b' });
  const last = sent.length + 5;
  await lib.waitFor(() => sent.length >= last, { what: 'more events' });
  producing = false;
  await producer;
  await lib.waitFor(() => streams.every((s) => s.msgs.length >= sent.length), { timeout: 10000,
    what: `every event on every SSE client (least: ${Math.min(...streams.map((s) => s.msgs.length))} of ${sent.length})` });
  for (const s of streams) {
    const got = s.msgs.map((m) => m.msg);
    assert.deepEqual(got.slice(0, sent.length), sent, 'in order, no loss, no duplicate');
  }
  // The recovering Socket.IO clients moved to b and recovered there: every event, once, in order.
  await lib.waitFor(() => rec.every((s) => s.msgs.length >= sent.length), { timeout: 10000,
    what: `every event on every recovered client (least: ${Math.min(...rec.map((s) => s.msgs.length))} of ${sent.length})` });
  for (const s of rec) {
    assert.deepEqual(s.recoveries, [true], 'one reconnect, recovered');
    assert.deepEqual(s.msgs.slice(0, sent.length), sent, 'in order, no loss, no duplicate');
  }
});
