// Stalled clients cost their own queue, never another client's latency: the same burst of
// events of ~2 KB runs twice into one job room, first with normal clients only (the baseline),
// then with stalled clients beside them (raw WebSockets and SSE sockets that stop reading after
// the warm-up). Normal clients, over SSE and Socket.IO, must get every event in order both
// times, with latency within a small factor of the baseline; every stalled client must be
// closed by the gateway and counted. Waits are on events with deadlines.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const { startRedis, startGateway, stop, get, SseClient, redisClient, waitFor } = require('./lib');
const { rawSocketIo, dial } = require('./raw');

let redis, rc, gw;
test.before(async () => {
  redis = await startRedis();
  rc = redisClient(redis.url);
  gw = await startGateway(redis.url, { env: { DUALGATE_LOG_PUBLISH_LEVEL: 'off', DUALGATE_LOG_LEVEL: 'info' } });
});
test.after(async () => {
  rc.disconnect();
  assert.equal((await stop(gw)).code, 0);
  await stop(redis);
});

const health = async (g = gw) => JSON.parse((await get(`${g.base}/health`)).body);
// clients closed for their output (hard limit, soft limit or write stall), both transports
const closedNow = (hh) => ['sse', 'websocket'].reduce((a, k) => a + ['hard_limit', 'soft_limit', 'write_stall']
  .reduce((b, r) => b + hh.closed.by_transport[k][r], 0), 0);
const PAD = 'p'.repeat(2000);
const N = 3000;

function p99(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))];
}

// Normal clients of job: 4 SSE streams and 4 socket.io-clients over WebSocket; each records
// the seq and latency (receive time - the event's own time) of every progress event.
async function normalClients(job) {
  const out = [];
  for (let i = 0; i < 4; i++) {
    const c = new SseClient(`${gw.base}/sse/jobs/${job}`);
    await c.response;
    c.seqs = []; c.lat = [];
    c.on('event', (e) => {
      if (e.event !== 'progress') return;
      const d = JSON.parse(e.data).data;
      c.seqs.push(d.seq); c.lat.push(Date.now() - d.t);
    });
    out.push(c);
  }
  for (let i = 0; i < 4; i++) {
    const s = io(gw.base, { transports: ['websocket'], forceNew: true, reconnection: false });
    await new Promise((r, j) => { s.once('connect', r); s.once('connect_error', j); });
    s.seqs = []; s.lat = [];
    s.on('progress', (p) => { s.seqs.push(p.data.seq); s.lat.push(Date.now() - p.data.t); });
    await s.timeout(5000).emitWithAck('subscribe-job', job);
    out.push(s);
  }
  return out;
}

// Stalled clients of job: WebSockets (Socket.IO subscribed) and SSE sockets that read until the
// warm-up event reached them, then never read again.
async function stalledClients(job, n, g = gw) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const w = await rawSocketIo(g.port, { job });
    // subscribed once the job's `state` (sent on subscribe-job) came back
    await waitFor(() => w.texts.some((t) => t.startsWith('42["state"')), { what: 'a stalled WebSocket subscribed' });
    out.push({ kind: 'websocket', sock: w.sock, ready: () => w.texts.some((t) => t.includes('"warm"')) });
    const s = dial(g.port);
    let got = '';
    s.on('data', (d) => { got += d; });
    await s.opened;
    s.write(`GET /sse/jobs/${job} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`);
    // subscribed once the head is out (the warm-up published before that would never reach it)
    await waitFor(() => got.includes(': connected'), { what: 'a stalled SSE stream open' });
    out.push({ kind: 'sse', sock: s, ready: () => got.includes('"warm"') });
  }
  return out;
}

async function burst(job, clients, stalled, n = N) {
  // warm-up: one event every client sees, so all are surely subscribed
  await rc.xadd('bull:http:events', '*', 'event', 'progress', 'jobId', job, 'data', JSON.stringify({ warm: true, seq: -1, t: Date.now() }));
  await waitFor(() => clients.every((c) => c.seqs.includes(-1)) && stalled.every((s) => s.ready()), { what: 'warm-up seen' });
  for (const s of stalled) s.sock.pause(); // from here they never read
  for (const c of clients) { c.seqs.length = 0; c.lat.length = 0; }
  for (let i = 0; i < n; i += 500) {
    const p = rc.pipeline();
    for (let k = i; k < Math.min(n, i + 500); k++)
      p.xadd('bull:http:events', '*', 'event', 'progress', 'jobId', job, 'data', JSON.stringify({ seq: k, t: Date.now(), PAD }));
    await p.exec();
  }
  await waitFor(() => clients.every((c) => c.seqs.length >= n), { timeout: 60000,
    what: `every normal client got ${n} (${clients.map((c) => c.seqs.length)})` });
  for (const c of clients) assert.deepEqual(c.seqs, Array.from({ length: n }, (_, i) => i), 'in order, none lost, none twice');
  return p99(clients.flatMap((c) => c.lat));
}

test('stalled clients in the room of a burst: normal clients lose nothing and keep their latency; stalled ones are closed and counted', async (t) => {
  const base = await normalClients('burst-base');
  const baseP99 = await burst('burst-base', base, []);
  for (const c of base) c.close();

  const h0 = await health();
  const normal = await normalClients('burst-hot');
  const stalled = await stalledClients('burst-hot', 4);
  const withP99 = await burst('burst-hot', normal, stalled);
  // each stalled client is owed ~6 MB: the gateway closes it (hard limit, soft limit or write
  // stall) and counts it
  await waitFor(async () => closedNow(await health()) - closedNow(h0) >= stalled.length,
    { timeout: 20000, what: 'every stalled client closed and counted' });
  const h = await health();
  assert.ok(h.closed.slow_consumer >= 1 || h.closed.write_failed >= 1, JSON.stringify(h.closed));
  // and they really are closed: reading again, each sees the end of its connection
  for (const st of stalled) st.sock.on('data', () => {}).resume();
  const ends = await Promise.all(stalled.map((st) => Promise.race([st.sock.ended.then(() => 'closed'),
    new Promise((r) => setTimeout(() => r('open'), 10000))])));
  assert.deepEqual(ends.filter((e) => e === 'open'), [], 'every stalled socket ended');
  t.diagnostic(`normal clients' p99: ${baseP99} ms without stalled clients, ${withP99} ms with ${stalled.length}`);
  // the normal clients' p99 stays within a small factor of the same burst without them
  assert.ok(withP99 <= 3 * baseP99 + 250, `p99 ${withP99} ms with stalled clients, ${baseP99} ms without`);
  for (const c of normal) c.close();
});

// Owed 2 MB, which an autotuned kernel send buffer takes whole: nothing stays in dualgate's
// queue, yet the soft limit counts what the kernel holds unsent, so these stalled clients are
// closed too instead of sitting on kernel memory (queue_soft_ms shortened to keep it quick).
test('stalled clients owed less than the kernel buffers are closed by the soft limit', async () => {
  const g = await startGateway(redis.url, { env: { DUALGATE_QUEUE_SOFT_MS: '1000', DUALGATE_LOG_PUBLISH_LEVEL: 'off' } });
  try {
    const h0 = await health(g);
    const stalled = await stalledClients('burst-small', 2, g);
    await burst('burst-small', [], stalled, 1000);
    // within a few seconds of queue_soft_ms, not at the next heartbeat or ping (15 s, 25 s)
    await waitFor(async () => closedNow(await health(g)) - closedNow(h0) >= stalled.length,
      { timeout: 6000, what: 'every stalled client closed and counted' });
    const h = await health(g);
    assert.equal(['sse', 'websocket'].reduce((a, k) => a + h.closed.by_transport[k].soft_limit, 0), stalled.length,
      JSON.stringify(h.closed.by_transport));
    for (const st of stalled) st.sock.on('data', () => {}).resume();
    await Promise.all(stalled.map((st) => st.sock.ended));
  } finally {
    assert.equal((await stop(g)).code, 0);
  }
});
