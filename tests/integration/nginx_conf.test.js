// conf/nginx.conf with Debian's nginx: the file as shipped passes `nginx -t`; templated onto free
// ports in front of two dualgates on one Redis, it serves the page and client, streams SSE
// unbuffered, carries WebSocket-only, polling-only and upgraded Socket.IO sessions, and keeps
// each polling session on one instance (its requests would get "Session ID unknown" elsewhere).
// Failover and drain through nginx are tested elsewhere; templateNginx() is what they can reuse.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const { once } = require('node:events');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { io } = require('socket.io-client');
const lib = require('./lib');

const CONF = path.join(lib.ROOT, 'conf', 'nginx.conf');
const NGINX = process.env.NGINX_PATH || '/usr/sbin/nginx';
const missing = fs.existsSync(NGINX) ? null : `${NGINX} not found: apt-get install -y nginx (or set NGINX_PATH)`;
// Skipping is for a developer without nginx; CI installs it, so there it must run.
if (missing && process.env.CI) throw new Error(`CI without nginx: ${missing}`);

// conf/nginx.conf with the public listener on `listen` and one upstream server line per port in
// every upstream block (the file lists 8081 and 8082; 8080 is the listener).
function templateNginx(text, listen, ports) {
  let out = text.replace(/^(\s*)listen 127\.0\.0\.1:8080;/m, `$1listen 127.0.0.1:${listen};`);
  out = out.replace(/^(\s*)server 127\.0\.0\.1:8081( [^\n]*)?$/gm,
    (m, indent, rest = '') => ports.map((p) => `${indent}server 127.0.0.1:${p}${rest}`).join('\n'));
  out = out.replace(/^\s*server 127\.0\.0\.1:8082( [^\n]*)?\n/gm, '');
  const settings = out.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');
  if (/:808[0-2]\b/.test(settings)) throw new Error('conf/nginx.conf: a port the template does not know');
  return out;
}

function scratchPrefix() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dg-nginx-'));
  fs.chmodSync(d, 0o755); // run as root, nginx's workers (nobody) write proxy_temp under it
  return d;
}

let redis, gws = [], ngx, base, prefix, rc;
const sockets = [];

async function startNginx(conf) {
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), conf);
  const child = spawn(NGINX, ['-p', prefix, '-e', 'stderr', '-c', path.join(prefix, 'nginx.conf'), '-g', 'daemon off;'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  child.exited = once(child, 'exit');
  child.stderrText = '';
  child.stderr.on('data', (d) => { child.stderrText += d; });
  return child;
}

test.before(async () => {
  if (missing) return;
  redis = await lib.startRedis();
  rc = lib.redisClient(redis.url);
  // Short pings so a polling session makes many round trips during the test.
  const env = { DUALGATE_PING_INTERVAL_MS: '400', DUALGATE_PING_TIMEOUT_MS: '2000', DUALGATE_HEARTBEAT_MS: '500' };
  gws = [await lib.startGateway(redis.url, { env }), await lib.startGateway(redis.url, { env })];
  prefix = scratchPrefix();
  const listen = await lib.freePort();
  ngx = await startNginx(templateNginx(fs.readFileSync(CONF, 'utf8'), listen, gws.map((g) => g.port)));
  base = `http://127.0.0.1:${listen}`;
  await lib.waitFor(async () => {
    if (ngx.exitCode !== null) throw new Error(`nginx exited ${ngx.exitCode}: ${ngx.stderrText}`);
    try { return (await lib.get(`${base}/ready`)).status === 200; } catch { return false; }
  }, { what: 'nginx in front of dualgate' });
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
