// Shared helpers for dualgate's integration tests: real redis-server and dualgate processes on
// free loopback ports, an SSE client that parses the stream the way EventSource does, and
// waits on conditions (never fixed sleeps). Every process started here is stopped by PID.
'use strict';
const { spawn } = require('node:child_process');
const http = require('node:http');
const crypto = require('node:crypto');
const net = require('node:net');
const path = require('node:path');
const { once, EventEmitter } = require('node:events');
const Redis = require('ioredis');

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = process.env.DUALGATE_BIN || path.join(ROOT, 'build', 'dualgate');

async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

// Resolves when pred() returns a truthy value (polled every `every` ms), rejects after timeout.
async function waitFor(pred, { timeout = 10000, every = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

const children = new Set();
process.on('exit', () => { for (const c of children) try { process.kill(c.pid, 'SIGKILL'); } catch {} });
// Sanitizer builds (DG_SANITIZER=asan|tsan) use several times the memory for the same work.
const MEM_FACTOR = ['asan', 'tsan'].includes(process.env.DG_SANITIZER) ? 4 : 1;

// A test that fails before stopping its processes must not hang this file: the children and
// their pipes do not keep it alive (the exit handler above kills what is left).
function track(child) {
  child.unref();
  for (const p of [child.stdout, child.stderr]) if (p && p.unref) p.unref();
  children.add(child);
  child.exited = once(child, 'exit');
  child.exited.then(() => children.delete(child));
  return child;
}

async function stop(child, signal = 'SIGTERM') {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.ref(); /* waiting for its exit keeps this process alive again */
  process.kill(child.pid, signal);
  const [code, sig] = await child.exited;
  return { code, sig };
}

async function startRedis(port) {
  port = port || (await freePort());
  const child = track(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1',
    '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  await waitFor(() => /Ready to accept connections/.test(out) || child.exitCode !== null, { what: 'redis-server' });
  if (child.exitCode !== null) throw new Error('redis-server exited: ' + out);
  child.port = port;
  child.url = `redis://127.0.0.1:${port}`;
  return child;
}

// The environment every dualgate a test starts gets: PATH and the sanitizers' options (CI sets
// them for the ASan and TSan builds: suppressions, halt on error), nothing else of ours.
function baseEnv() {
  const env = { PATH: process.env.PATH };
  for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS', 'TSAN_OPTIONS'])
    if (process.env[k]) env[k] = process.env[k];
  return env;
}

// Every SIGTERM drains; a short window keeps a test's teardown short while still going through
// the drain (drain.test.js sets its own).
const DRAIN_MS = '500';

// Starts dualgate; resolves once it listens. opts.env adds environment; opts.ready waits for /ready.
async function startGateway(redisUrl, { env = {}, ready = true, args = [], port } = {}) {
  port = port || (await freePort());
  const child = track(spawn(BIN, args, {
    stdio: ['ignore', 'inherit', 'pipe'],
    env: { ...baseEnv(), PORT: String(port), REDIS_URL: redisUrl,
      DUALGATE_BIND: '127.0.0.1', DUALGATE_LOG_LEVEL: 'debug', DUALGATE_DRAIN_MS: DRAIN_MS, ...env },
  }));
  child.port = port;
  child.base = `http://127.0.0.1:${port}`;
  child.logs = [];
  let partial = '';
  child.stderr.on('data', (d) => {
    partial += d;
    let i;
    while ((i = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, i);
      partial = partial.slice(i + 1);
      try { child.logs.push(JSON.parse(line)); } catch { child.logs.push({ raw: line }); }
      if (process.env.DG_TEST_VERBOSE) process.stderr.write(line + '\n');
    }
  });
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`dualgate exited with ${child.exitCode}`);
    try { return (await get(child.base + '/health')).status === 200; } catch { return false; }
  }, { what: 'dualgate to listen' });
  if (ready) await waitFor(async () => (await get(child.base + '/ready')).status === 200, { what: '/ready' });
  return child;
}

// A plain request; resolves {status, headers, body}.
function get(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

// An SSE client that keeps the raw bytes and parses events per the WHATWG rules.
class SseClient extends EventEmitter {
  constructor(url, headers = {}) {
    super();
    this.events = [];
    this.comments = [];
    this.raw = '';
    this.closed = false;
    this.lastId = '';
    this.req = http.get(url, { headers: { Accept: 'text/event-stream', ...headers }, agent: false });
    this.response = new Promise((resolve, reject) => {
      this.req.on('response', (res) => {
        this.res = res;
        this.status = res.statusCode;
        this.headers = res.headers;
        res.setEncoding('utf8');
        let buf = '', ev = { data: [], event: 'message', id: null };
        res.on('data', (chunk) => {
          this.raw += chunk;
          buf += chunk;
          let i;
          while ((i = buf.search(/\r\n|\r|\n/)) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + (buf[i] === '\r' && buf[i + 1] === '\n' ? 2 : 1));
            if (line === '') {
              if (ev.data.length) {
                const e = { event: ev.event, data: ev.data.join('\n'), id: this.lastId };
                this.events.push(e);
                this.emit('event', e);
              }
              ev = { data: [], event: 'message', id: null };
              continue;
            }
            if (line[0] === ':') { this.comments.push(line.slice(1).trim()); continue; }
            const c = line.indexOf(':');
            const field = c < 0 ? line : line.slice(0, c);
            let value = c < 0 ? '' : line.slice(c + 1);
            if (value[0] === ' ') value = value.slice(1);
            if (field === 'data') ev.data.push(value);
            else if (field === 'event') ev.event = value;
            else if (field === 'id') this.lastId = value;
            else if (field === 'retry') this.retry = Number(value);
          }
        });
        res.on('end', () => { this.closed = true; this.emit('close'); });
        res.on('error', () => { this.closed = true; this.emit('close'); });
        resolve(res);
      });
      this.req.on('error', (e) => { this.closed = true; this.error = e; this.emit('close'); reject(e); });
    });
  }
  // BullMQ's events (not gaps, not the `state` a late job subscriber gets first), as parsed
  // JSON, optionally filtered by event name.
  jobEvents(name) {
    return this.events.filter((e) => e.event !== 'gap' && e.event !== 'state' && (!name || e.event === name))
      .map((e) => ({ event: e.event, ...JSON.parse(e.data) }));
  }
  async waitEvents(n, timeout = 15000) {
    await waitFor(() => this.events.length >= n, { timeout, what: `${n} SSE events (have ${this.events.length})` });
    return this.events;
  }
  close() { this.req.destroy(); this.closed = true; }
}

// An SSE stream that, whenever it ends, opens again at base() + path with Last-Event-ID (as
// EventSource does, but at once and wherever base() points: another instance, or a proxy).
// msgs: the JSON data of every event of every connection, in order; ends: when each ended.
class ResumingSse extends EventEmitter {
  constructor(base, path) {
    super();
    this.base = base;
    this.path = path;
    this.msgs = [];
    this.ends = [];
    this.statuses = [];
    this.lastId = '';
    this.stopped = false;
    this.open();
  }
  open() {
    const c = new SseClient(this.base() + this.path, this.lastId ? { 'Last-Event-ID': this.lastId } : {});
    this.client = c;
    c.on('event', (e) => { if (e.event !== 'gap') this.msgs.push(JSON.parse(e.data)); this.lastId = c.lastId || this.lastId; });
    c.response.then(() => { this.statuses.push(c.status); this.emit('response', c.status); }, () => {});
    c.on('close', () => {
      if (c.lastId) this.lastId = c.lastId;
      this.ends.push(Date.now());
      this.emit('end');
      if (this.stopped) return;
      // A refusal (503 from a draining instance) is retried a moment later, not in a loop.
      setTimeout(() => { if (!this.stopped) this.open(); }, c.status === 200 ? 0 : 100);
    });
  }
  close() { this.stopped = true; this.client.close(); }
}

const QUEUES = ['http', 'sparql', 'techstack', 'analyzer'];

// The job the integration tests run: progress 50 and 100, then fail when data.fail, else return
// data.ret or {ok, n, text} (text with the quote, newline and non-ASCII the wire capture has).
async function jobProcessor(job) {
  await job.updateProgress(50);
  await job.updateProgress(job.data.objProgress ? { step: 2, of: 2 } : 100);
  if (job.data.fail) throw new Error(`boom: "bad" thing\nfor ${job.id}`);
  return job.data.ret !== undefined ? job.data.ret : { ok: true, n: job.data.n, text: 'héllo "quoted"\nline2' };
}

// A real BullMQ producer and worker per queue on redis; resolves once the workers are ready.
async function startBull(redis, processor = jobProcessor) {
  const { Queue, Worker } = require('bullmq');
  const connection = { host: '127.0.0.1', port: redis.port };
  const queues = {}, workers = {};
  for (const q of QUEUES) {
    queues[q] = new Queue(q, { connection });
    workers[q] = new Worker(q, processor, { connection, concurrency: 4 });
  }
  await Promise.all(Object.values(workers).map((w) => w.waitUntilReady()));
  const close = async () => {
    await Promise.all(Object.values(workers).map((w) => w.close()));
    await Promise.all(Object.values(queues).map((q) => q.close()));
  };
  return { queues, workers, close };
}

// A loopback TCP proxy standing in for the network (or a load balancer): cut() drops every
// connection (both sides), hold() refuses new ones until release(), and new connections go to
// p.target, which a test may point at another instance. close() stops it.
async function startProxy(target) {
  const p = { target, conns: new Set(), held: false };
  p.server = net.createServer((c) => {
    if (p.held) return c.destroy();
    const up = net.connect(p.target, '127.0.0.1');
    const pair = { c, up };
    p.conns.add(pair);
    const end = () => { c.destroy(); up.destroy(); p.conns.delete(pair); };
    c.on('error', end); up.on('error', end); c.on('close', end); up.on('close', end);
    c.pipe(up); up.pipe(c);
  });
  p.port = await freePort();
  await new Promise((r) => p.server.listen(p.port, '127.0.0.1', r));
  p.url = `http://127.0.0.1:${p.port}`;
  p.cut = () => { for (const { c, up } of p.conns) { c.destroy(); up.destroy(); } p.conns.clear(); };
  p.hold = () => { p.held = true; };
  p.release = () => { p.held = false; };
  p.close = () => { p.cut(); p.server.close(); };
  return p;
}

// An HS256 JWT of claims signed with secret, as an auth server would issue it: iat now and exp
// `life` seconds ahead unless claims set them.
function hs256(secret, claims, { life = 600 } = {}) {
  const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const head = b64({ alg: 'HS256', typ: 'JWT' });
  const body = b64({ iat: now, exp: now + life, ...claims });
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

function redisClient(url) {
  return new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false });
}

module.exports = { hs256, startProxy, ROOT, BIN, QUEUES, MEM_FACTOR, baseEnv, freePort, waitFor, startRedis, startGateway, stop, get, SseClient, ResumingSse,
  redisClient, jobProcessor, startBull };
