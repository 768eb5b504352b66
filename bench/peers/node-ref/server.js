'use strict';
// node-ref: the Node original gateway, kept as the benchmark reference for dualgate.
// socket.io 4.8 + bullmq QueueEvents forwarding every job event to room job:<jobId>, a /logs
// namespace, and SSE (/sse/jobs/:id, /sse/logs) added the simplest idiomatic way. Not tuned.
//
// Env: PORT (8081), REDIS_URL (redis://127.0.0.1:6379), BULL_PREFIX (bull),
//      QUEUES (http,sparql,techstack,analyzer), LOG_STREAM (dualgate:logs).

const http = require('node:http');
const { Server } = require('socket.io');
const { QueueEvents } = require('bullmq');
const IORedis = require('ioredis');

const PORT = Number(process.env.PORT || 8081);
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const PREFIX = process.env.BULL_PREFIX || 'bull';
const QUEUES = (process.env.QUEUES || 'http,sparql,techstack,analyzer').split(',');
const LOG_STREAM = process.env.LOG_STREAM || 'dualgate:logs';

// Every job-scoped event QueueEvents emits (drained, paused, resumed, cleaned carry no jobId).
const JOB_EVENTS = [
  'added', 'waiting', 'waiting-children', 'active', 'progress', 'completed', 'failed',
  'delayed', 'stalled', 'removed', 'duplicated', 'deduplicated', 'debounced',
  'retries-exhausted',
];

const redisOpts = { maxRetriesPerRequest: null };

// ---- SSE ----
const sseJobs = new Map(); // jobId -> Set<res>
const sseLogs = new Set();

function sseOpen(req, res) {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'Access-Control-Allow-Origin': '*',
    'X-Accel-Buffering': 'no',
  });
  res.write(': connected\n\n');
}

function sseFrame(event, payload) {
  return `event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`;
}

function onRequest(req, res) {
  const url = new URL(req.url, 'http://localhost');
  const m = /^\/sse\/jobs\/([^/]+)$/.exec(url.pathname);
  if (req.method === 'GET' && m) {
    const jobId = decodeURIComponent(m[1]);
    sseOpen(req, res);
    let set = sseJobs.get(jobId);
    if (!set) sseJobs.set(jobId, (set = new Set()));
    set.add(res);
    req.on('close', () => {
      set.delete(res);
      if (set.size === 0 && sseJobs.get(jobId) === set) sseJobs.delete(jobId);
    });
    return;
  }
  if (req.method === 'GET' && url.pathname === '/sse/logs') {
    sseOpen(req, res);
    sseLogs.add(res);
    req.on('close', () => sseLogs.delete(res));
    return;
  }
  if (url.pathname === '/ready') {
    res.writeHead(ready ? 200 : 503, { 'Content-Type': 'text/plain' });
    res.end(ready ? 'ready\n' : 'starting\n');
    return;
  }
  if (url.pathname === '/health') {
    let sse = 0;
    for (const set of sseJobs.values()) sse += set.size;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({
      status: 'ok',
      socketio: io.engine.clientsCount,
      sse_jobs: sse,
      sse_logs: sseLogs.size,
      rss: process.memoryUsage().rss,
    }));
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('Not found\n');
}

const server = http.createServer(onRequest);
const io = new Server(server, { cors: { origin: '*' } });

io.on('connection', (socket) => {
  socket.on('subscribe-job', (jobId) => socket.join(`job:${jobId}`));
  socket.on('unsubscribe-job', (jobId) => socket.leave(`job:${jobId}`));
});

const logs = io.of('/logs');

function fanOutLog(entry) {
  logs.emit('log', entry);
  if (sseLogs.size) {
    const frame = sseFrame('log', entry);
    for (const res of sseLogs) res.write(frame);
  }
}

logs.on('connection', (socket) => {
  socket.on('log', (entry) => fanOutLog(entry));
});

// ---- BullMQ job events ----
const queueEvents = QUEUES.map((queue) => {
  const qe = new QueueEvents(queue, { prefix: PREFIX, connection: new IORedis(REDIS_URL, redisOpts) });
  for (const event of JOB_EVENTS) {
    qe.on(event, (args) => {
      if (!args || args.jobId === undefined) return;
      const payload = { queue, ...args };
      io.to(`job:${args.jobId}`).emit(event, payload);
      const set = sseJobs.get(String(args.jobId));
      if (set) {
        const frame = sseFrame(event, payload);
        for (const res of set) res.write(frame);
      }
    });
  }
  qe.on('error', (err) => console.error(`[queue-events ${queue}]`, err.message));
  return qe;
});

// ---- Log stream (XADD ts level ns msg) ----
const logRedis = new IORedis(REDIS_URL, redisOpts);
let stopping = false;
let logReaderUp = false;

async function readLogs() {
  let lastId = '$';
  while (!stopping) {
    try {
      const res = await logRedis.xread('BLOCK', 10000, 'STREAMS', LOG_STREAM, lastId);
      logReaderUp = true;
      if (!res) continue;
      for (const [, entries] of res) {
        for (const [id, fields] of entries) {
          lastId = id;
          const f = {};
          for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
          fanOutLog({ ts: f.ts, level: f.level, ns: f.ns, msg: f.msg });
        }
      }
    } catch (err) {
      if (stopping) return;
      console.error('[logs]', err.message);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

let ready = false;

async function main() {
  logRedis.once('ready', () => { logReaderUp = true; });
  readLogs();
  await Promise.all(queueEvents.map((qe) => qe.waitUntilReady()));
  await new Promise((r) => (logReaderUp ? r() : logRedis.once('ready', r)));
  server.listen(PORT, () => {
    ready = true;
    console.log(`node-ref listening on ${PORT} (pid ${process.pid})`);
  });
}

async function shutdown() {
  if (stopping) return;
  stopping = true;
  for (const set of sseJobs.values()) for (const res of set) res.end();
  for (const res of sseLogs) res.end();
  io.close();
  await Promise.allSettled(queueEvents.map((qe) => qe.close()));
  logRedis.disconnect();
  process.exit(0);
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
