// Hostile and broken clients must not get in anyone's way: silent WebSockets are freed within
// the Engine.IO ping timeout; a frame announcing 2,000,000,000 bytes is refused (1009) before
// anything is buffered; resumes abandoned at once cost bounded memory and stop when their
// client goes, and resumes in flight do not delay SIGTERM; slow POSTs, handshakes that never
// CONNECT, idle sockets and slow-header sockets cannot lock out /health or new clients.
// Waits are on events and polled conditions with deadlines; the deadlines under test are
// the gateway's own (ping timeout, header timeout, body timeout).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { io } = require('socket.io-client');
const { startRedis, startGateway, stop, get, SseClient, redisClient, waitFor, MEM_FACTOR } = require('./lib');
const { dial, RawWs, rawSocketIo, rawHttp, frameHeader } = require('./raw');

let redis, rc;
test.before(async () => { redis = await startRedis(); rc = redisClient(redis.url); });
test.after(async () => { rc.disconnect(); await stop(redis); });

const health = async (gw) => JSON.parse((await get(`${gw.base}/health`)).body);
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

// Times an async call.
async function timed(fn) {
  const t0 = Date.now();
  const v = await fn();
  return { v, ms: Date.now() - t0 };
}

// A socket.io-client that must connect within ms (default transports: polling, then upgrade).
async function sioConnects(base, ms, opts = {}) {
  const s = io(base, { forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 200, ...opts });
  try {
    const t0 = Date.now();
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`socket.io client not connected in ${ms} ms`)), ms);
      s.once('connect', () => { clearTimeout(t); resolve(); });
    });
    return Date.now() - t0;
  } finally { s.close(); }
}

// An SSE client whose response head must arrive within ms.
async function sseConnects(base, ms) {
  const c = new SseClient(`${base}/sse/jobs/probe`);
  try {
    const { ms: took } = await timed(() => Promise.race([c.response,
      new Promise((_, j) => setTimeout(() => j(new Error(`no SSE head in ${ms} ms`)), ms))]));
    assert.equal(c.status, 200);
    return took;
  } finally { c.close(); }
}

test('silent WebSockets (CONNECT, then no pong, no close) are freed within the ping timeout', async () => {
  const gw = await startGateway(redis.url, { env: { DUALGATE_PING_INTERVAL_MS: '500', DUALGATE_PING_TIMEOUT_MS: '500',
    DUALGATE_LOG_LEVEL: 'info' } });
  const N = 300;
  const silent = [];
  for (let i = 0; i < N; i += 50) silent.push(...await Promise.all(Array.from({ length: 50 }, () => rawSocketIo(gw.port))));
  const h0 = await health(gw);
  assert.equal(h0.connections.websocket, N);
  assert.equal(h0.socketio.sessions, N);
  const t0 = Date.now();
  await waitFor(async () => { const h = await health(gw); return h.socketio.sessions === 0 && h.connections.websocket === 0; },
    { timeout: 5000, what: 'every silent session closed' });
  const took = Date.now() - t0;
  const h = await health(gw);
  assert.ok(h.socketio.closed.ping_timeout >= N, JSON.stringify(h.socketio.closed));
  assert.ok(took <= 500 + 500 + 1500, `freed after ${took} ms (ping interval + timeout = 1000 ms)`);
  // their sockets were closed by the gateway, not left open
  const ends = await Promise.all(silent.map((w) => Promise.race([w.ended, new Promise((r) => setTimeout(() => r('open'), 3000))])));
  assert.equal(ends.filter((e) => e === 'open').length, 0);
  assert.ok(await sioConnects(gw.base, 3000, { transports: ['websocket'] }) < 3000);
  assert.equal((await stop(gw)).code, 0);
});

test('a WebSocket frame announcing 2,000,000,000 bytes is refused with 1009 before any buffering', async () => {
  const gw = await startGateway(redis.url);
  const before = rssKb(gw.pid);
  const ws = await rawSocketIo(gw.port);
  const closed = new Promise((r) => ws.on('frame', (f) => { if (f.opcode === 8) r(f.payload.readUInt16BE(0)); }));
  ws.write(frameHeader(1, 2000000000));
  ws.write(Buffer.alloc(4 << 20, 0x61)); // 4 MiB of the "payload": must not be kept
  assert.equal(await closed, 1009);
  assert.notEqual(await ws.ended, 'open');
  const grew = rssKb(gw.pid) - before;
  assert.ok(grew < 16 * 1024 * MEM_FACTOR, `RSS grew by ${grew} KiB`);
  await waitFor(async () => (await health(gw)).socketio.closed.protocol_error >= 1, { what: 'counted as a protocol close' });
  assert.equal((await stop(gw)).code, 0);
});

test('abandoned resumes cost bounded memory and stop with their client; resumes in flight do not delay SIGTERM', async (t) => {
  const gw = await startGateway(redis.url, { env: { DUALGATE_LOG_PUBLISH_LEVEL: 'off' } });
  // 20,000 entries of ~1 KB in one queue's stream: what a resume from 0-0 must go through
  const pad = 'x'.repeat(900);
  for (let i = 0; i < 20000; i += 1000) {
    const p = rc.pipeline();
    for (let k = i; k < i + 1000; k++)
      p.xadd('bull:http:events', '*', 'event', 'progress', 'jobId', `ab-${k % 50}`, 'data', JSON.stringify({ k, pad }));
    await p.exec();
  }
  const before = rssKb(gw.pid);
  let peak = before;
  const sampler = setInterval(() => { try { peak = Math.max(peak, rssKb(gw.pid)); } catch {} }, 20);
  // 50 clients resume the whole queue from 0-0 and leave at once
  const gone = Array.from({ length: 50 }, () => rawHttp(gw.port,
    'GET /sse/queues/http?lastEventId=http:0-0 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n'));
  await Promise.all(gone.map((s) => s.opened));
  for (const s of gone) s.destroy();
  await waitFor(async () => { const h = await health(gw); return h.connections.sse === 0 && h.replay.active === 0; },
    { timeout: 5000, what: 'abandoned replays stopped' });
  clearInterval(sampler);
  const h = await health(gw);
  t.diagnostic(`RSS peak +${peak - before} KiB for 50 abandoned resumes; ${h.replay.chunks} chunks fetched`);
  assert.ok(peak - before < 64 * 1024 * MEM_FACTOR, `RSS peak +${peak - before} KiB for 50 abandoned resumes`);
  // each replay fetched a few chunks, not the 20,000 entries: it stopped when the client went
  assert.ok(h.replay.chunks < 50 * 20, `${h.replay.chunks} chunks fetched`);

  // 20 resumes in flight whose clients do not read, then SIGTERM: the exit is prompt
  const slow = Array.from({ length: 20 }, () => {
    const s = dial(gw.port);
    s.opened.then(() => { s.write('GET /sse/queues/http?lastEventId=http:0-0 HTTP/1.1\r\nHost: x\r\n\r\n'); s.pause(); });
    return s;
  });
  await waitFor(async () => (await health(gw)).connections.sse === 20, { what: '20 resumes in flight' });
  const { v: exit, ms } = await timed(() => stop(gw));
  t.diagnostic(`SIGTERM with 20 resumes in flight: exit after ${ms} ms`);
  assert.equal(exit.code, 0);
  assert.ok(ms < 4000, `SIGTERM took ${ms} ms with 20 resumes in flight`);
  for (const s of slow) s.destroy();
});

test('slow POSTs (1 MB announced, a byte at a time) cannot hold every worker: /health and new clients still get in', async () => {
  const gw = await startGateway(redis.url, { env: { DUALGATE_BODY_TIMEOUT_MS: '3000', DUALGATE_HTTP_THREADS: '16' } });
  const sids = [];
  for (let i = 0; i < 100; i++) {
    const r = await get(`${gw.base}/socket.io/?EIO=4&transport=polling`);
    sids.push(JSON.parse(r.body.slice(1)).sid);
  }
  const posts = sids.map((sid) => rawHttp(gw.port, `POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\n` +
    'Host: x\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 1000000\r\n\r\n4'));
  const trickle = setInterval(() => { for (const p of posts) if (!p.destroyed) p.write('x'); }, 300);
  try {
    await waitFor(async () => (await health(gw)).connections.post_bodies >= 8, { what: 'POST bodies being read' });
    const { ms } = await timed(() => get(`${gw.base}/health`));
    assert.ok(ms < 1000, `/health took ${ms} ms`);
    assert.ok(await sseConnects(gw.base, 2000) < 2000);
    assert.ok(await sioConnects(gw.base, 2000) < 2000);
    // every POST gets an answer: 503 over the upload cap at once, 408 at the body deadline
    const answers = await Promise.all(posts.map((p) => Promise.race([p.response,
      new Promise((r) => setTimeout(() => r('no answer'), 8000))])));
    const status = answers.map((a) => (/^HTTP\/1\.1 (\d+)/.exec(a) || [0, a])[1]);
    assert.ok(status.every((s) => s === '408' || s === '503'), JSON.stringify([...new Set(status)]));
    assert.ok(status.includes('408') && status.includes('503'));
  } finally {
    clearInterval(trickle);
    for (const p of posts) p.destroy();
  }
  assert.equal((await stop(gw)).code, 0);
});

test('handshakes that never send CONNECT are capped and give way: a new client gets in', async () => {
  const gw = await startGateway(redis.url, { env: { DUALGATE_MAX_PENDING_SESSIONS: '100' } });
  for (let i = 0; i < 300; i += 50)
    await Promise.all(Array.from({ length: 50 }, () => get(`${gw.base}/socket.io/?EIO=4&transport=polling`)));
  const h = await health(gw);
  assert.ok(h.socketio.awaiting_connect <= 100, `${h.socketio.awaiting_connect} waiting`);
  assert.ok(await sioConnects(gw.base, 3000) < 3000);
  assert.ok(await sioConnects(gw.base, 3000, { transports: ['websocket'] }) < 3000);
  await waitFor(async () => (await health(gw)).socketio.evicted_unconnected >= 1, { what: 'the oldest gave way' });
  assert.equal((await stop(gw)).code, 0);
});

test('500 idle sockets and 100 slow-header sockets: /health answers, new SSE and Socket.IO clients connect', async () => {
  const gw = await startGateway(redis.url, { env: { DUALGATE_HEADER_TIMEOUT_MS: '3000', DUALGATE_HTTP_THREADS: '16' } });
  const idle = [];
  for (let i = 0; i < 500; i += 100) {
    const batch = Array.from({ length: 100 }, () => dial(gw.port));
    await Promise.all(batch.map((s) => s.opened));
    idle.push(...batch);
  }
  const slowHead = Array.from({ length: 100 }, () => rawHttp(gw.port, 'GET /health HTTP/1.1\r\n'));
  const drip = setInterval(() => { for (const s of slowHead) if (!s.destroyed) s.write('X-a: b\r\n'); }, 300);
  try {
    await waitFor(async () => (await health(gw)).gate.pending >= 550, { what: 'the flood held in the gate' });
    const { ms } = await timed(() => get(`${gw.base}/health`));
    assert.ok(ms < 1000, `/health took ${ms} ms`);
    assert.ok(await sseConnects(gw.base, 2000) < 2000);
    assert.ok(await sioConnects(gw.base, 2000) < 2000);
    // at the header deadline every one of them is answered 408, not dropped
    const answers = await Promise.all([...idle.slice(0, 50), ...slowHead.slice(0, 50)].map((s) =>
      Promise.race([s.response || new Promise((r) => { let out = ''; s.on('data', (d) => { out += d; }); s.ended.then(() => r(out)); }),
        new Promise((r) => setTimeout(() => r('no answer'), 8000))])));
    assert.ok(answers.every((a) => /^HTTP\/1\.1 408 /.test(a)), answers.find((a) => !/^HTTP\/1\.1 408 /.test(a)));
    const h = await health(gw);
    assert.ok(h.gate.timed_out >= 100, JSON.stringify(h.gate));
  } finally {
    clearInterval(drip);
    for (const s of [...idle, ...slowHead]) s.destroy();
  }
  assert.equal((await stop(gw)).code, 0);
});
