// conf/nginx.conf with Debian's nginx: the file as shipped passes `nginx -t`; templated onto free
// ports in front of two dualgates on one Redis, it serves the page and client, streams SSE
// unbuffered, carries WebSocket-only, polling-only and upgraded Socket.IO sessions, and keeps
// each polling session on one instance (its requests would get "Session ID unknown" elsewhere).
// Failover and drain through nginx are in nginx_failover.test.js; the helpers are in nginx.js.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const { io } = require('socket.io-client');
const lib = require('./lib');

const { CONF, NGINX, missing, scratchPrefix, nginxFront } = require('./nginx');

let redis, gws = [], ngx, base, prefix, rc;
const sockets = [];

test.before(async () => {
  if (missing) return;
  redis = await lib.startRedis();
  rc = lib.redisClient(redis.url);
  // Short pings so a polling session makes many round trips during the test.
  const env = { DUALGATE_PING_INTERVAL_MS: '400', DUALGATE_PING_TIMEOUT_MS: '2000', DUALGATE_HEARTBEAT_MS: '500' };
  gws = [await lib.startGateway(redis.url, { env }), await lib.startGateway(redis.url, { env })];
  ({ ngx, base, prefix } = await nginxFront(gws));
});

test.after(async () => {
  for (const s of sockets) s.close();
  if (rc) rc.disconnect();
  if (ngx) await lib.stop(ngx, 'SIGQUIT');
  const codes = [];
  for (const g of gws) codes.push((await lib.stop(g)).code);
  await lib.stop(redis);
  if (prefix) fs.rmSync(prefix, { recursive: true, force: true });
  assert.ok(codes.every((c) => c === 0), `dualgate exit codes ${codes}`);
});

const health = async (g) => JSON.parse((await lib.get(`${g.base}/health`)).body).connections;
const xlog = (msg) => rc.xadd('dualgate:logs', '*', 'ts', new Date().toISOString(), 'level', 'info', 'ns', 'ngx', 'msg', msg);

async function connect(url, opts) {
  const s = io(url, { reconnection: false, forceNew: true, ...opts });
  sockets.push(s);
  s.logs = [];
  s.on('log', (e) => s.logs.push(e.msg));
  await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('connect_error', reject); });
  return s;
}

test('the shipped file passes nginx -t', { skip: missing || false }, () => {
  const p = scratchPrefix();
  try {
    const r = spawnSync(NGINX, ['-t', '-p', p, '-e', 'stderr', '-c', CONF], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /test is successful/);
  } finally {
    fs.rmSync(p, { recursive: true, force: true });
  }
});

test('page, client and /health through nginx', { skip: missing || false }, async () => {
  const index = await lib.get(`${base}/`);
  assert.equal(index.status, 200);
  assert.match(index.body, /<title>dualgate dashboard<\/title>/);
  const js = await lib.get(`${base}/socket.io/socket.io.js`);
  assert.equal(js.status, 200);
  assert.ok(js.body.length > 50000);
  assert.equal((await lib.get(`${base}/health`)).status, 200);
});

test('SSE streams through nginx without buffering', { skip: missing || false }, async () => {
  const c = new lib.SseClient(`${base}/sse/logs?ns=ngx`);
  await c.response;
  assert.equal(c.status, 200);
  assert.match(c.headers['content-type'], /^text\/event-stream/);
  await lib.waitFor(() => c.raw.includes(': connected'), { what: 'the SSE preamble through nginx' });
  for (let i = 0; i < 3; i++) {
    await xlog(`sse-${i}`);
    // One at a time: a buffering proxy would hold each event back.
    await lib.waitFor(() => c.events.some((e) => JSON.parse(e.data).msg === `sse-${i}`), { what: `sse-${i}` });
  }
  c.close();
});

test('Socket.IO: WebSocket-only, polling-only and upgraded sessions through nginx', { skip: missing || false }, async () => {
  const ws = await connect(`${base}/logs`, { transports: ['websocket'] });
  const poll = await connect(`${base}/logs`, { transports: ['polling'] });
  const up = await connect(`${base}/logs`);
  await lib.waitFor(() => up.io.engine.transport.name === 'websocket', { what: 'polling -> websocket upgrade' });
  assert.equal(ws.io.engine.transport.name, 'websocket');
  const pollSid = poll.io.engine.id;
  // The polling session on exactly one instance, across many GET/POST round trips and acks.
  for (let i = 0; i < 8; i++) {
    const ack = await poll.timeout(5000).emitWithAck('log', { level: 'info', ns: 'ngx', msg: `poll-${i}` });
    assert.ok(ack && ack.success !== false, `ack ${JSON.stringify(ack)}`);
  }
  await xlog('to-all');
  for (const s of [ws, poll, up]) {
    await lib.waitFor(() => s.logs.includes('to-all') && (s !== poll || s.logs.includes('poll-7')),
      { what: 'logs over every transport' });
  }
  assert.equal(poll.connected, true);
  assert.equal(poll.io.engine.id, pollSid);
  const per = await Promise.all(gws.map(health));
  assert.deepEqual(per.map((c) => c.polling).sort(), [0, 1], `polling per instance ${JSON.stringify(per)}`);
  assert.equal(per.reduce((n, c) => n + c.websocket, 0), 2);
});
