// GET /metrics on a live gateway: after SSE and Socket.IO (WebSocket and polling) traffic the
// answer passes `promtool check metrics` (Debian package prometheus; missing promtool fails
// under CI), and the counters move as they should: deliveries and bytes per transport after
// events, closed reasons after disconnects, events per stream, the latency histogram's count.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { io } = require('socket.io-client');
const lib = require('./lib');

const PROMTOOL = process.env.PROMTOOL || 'promtool';
const havePromtool = spawnSync(PROMTOOL, ['--version']).status === 0;
if (!havePromtool && process.env.CI) throw new Error('CI without promtool: apt-get install -y prometheus');
const PROMETHEUS = process.env.PROMETHEUS || 'prometheus';
const havePrometheus = spawnSync(PROMETHEUS, ['--version']).status === 0;
if (!havePrometheus && process.env.CI) throw new Error('CI without prometheus: apt-get install -y prometheus');

let redis, gw, rc;
const sockets = [];

test.before(async () => {
  redis = await lib.startRedis();
  gw = await lib.startGateway(redis.url, { env: { DUALGATE_LOG_LEVEL: 'info' } });
  rc = lib.redisClient(redis.url);
});

test.after(async () => {
  for (const s of sockets) s.close();
  rc.disconnect();
  const r = await lib.stop(gw);
  await lib.stop(redis);
  assert.equal(r.code, 0);
});

// {family: [{labels, value}]} from a text exposition (enough of the format for these checks).
function parse(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    (out[m[1]] = out[m[1]] || []).push({ labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape() {
  const r = await lib.get(`${gw.base}/metrics`);
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  return { text: r.body, m: parse(r.body) };
}

// The value of family{labels...}, 0 when the series is absent.
function value(m, family, labels = {}) {
  const s = (m[family] || []).find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s ? s.value : 0;
}

const xlog = (msg) => rc.xadd('dualgate:logs', '*', 'ts', new Date().toISOString(), 'level', 'info', 'ns', 'mt', 'msg', msg);

async function connect(opts) {
  const s = io(`${gw.base}/logs`, { reconnection: false, forceNew: true, ...opts });
  sockets.push(s);
  s.logs = [];
  s.on('log', (e) => { if (e.ns === 'mt') s.logs.push(e.msg); });
  await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('connect_error', reject); });
  return s;
}

test('after traffic, /metrics passes promtool and its counters move as expected', async (t) => {
  const before = (await scrape()).m;
  const sse = new lib.SseClient(`${gw.base}/sse/logs?ns=mt`);
  await sse.response;
  await lib.waitFor(() => sse.raw.includes(': connected'), { what: 'SSE preamble' });
  const ws = await connect({ transports: ['websocket'] });
  const poll = await connect({ transports: ['polling'] });
  const N = 5;
  for (let i = 0; i < N; i++) await xlog(`m-${i}`);
  await lib.waitFor(() => sse.events.filter((e) => JSON.parse(e.data).ns === 'mt').length >= N &&
    ws.logs.length >= N && poll.logs.length >= N, { what: 'every transport got the events' });

  const open = (await scrape()).m;
  for (const t of ['sse', 'websocket']) assert.equal(value(open, 'dualgate_connections', { transport: t }), 1, t);
  for (const t of ['sse', 'websocket', 'polling']) {
    const d = value(open, 'dualgate_deliveries_total', { transport: t }) - value(before, 'dualgate_deliveries_total', { transport: t });
    assert.ok(d >= N, `${t} deliveries moved by ${d}`);
    assert.ok(value(open, 'dualgate_delivered_bytes_total', { transport: t }) > value(before, 'dualgate_delivered_bytes_total', { transport: t }), `${t} bytes`);
    assert.ok(value(open, 'dualgate_delivery_latency_seconds_count', { transport: t }) >= N, `${t} latency count`);
  }
  assert.ok(value(open, 'dualgate_events_total', { stream: 'logs' }) >= N);
  assert.equal(value(open, 'dualgate_redis_up'), 1);
  assert.equal(value(open, 'dualgate_redis_reader_connected', { stream: 'logs' }), 1);
  assert.ok(value(open, 'process_resident_memory_bytes') > 0);
  assert.ok(value(open, 'process_threads') > 4);
  assert.ok(value(open, 'process_open_fds') > 0);

  // Disconnects: the SSE client goes away (peer_closed), the WebSocket session closes (done).
  sse.close();
  ws.close();
  await lib.waitFor(async () => {
    const m = (await scrape()).m;
    return value(m, 'dualgate_connections', { transport: 'sse' }) === 0 && value(m, 'dualgate_connections', { transport: 'websocket' }) === 0;
  }, { what: 'the connections to close' });
  const { text, m: after } = await scrape();
  const closed = (t, r) => value(after, 'dualgate_connections_closed_total', { transport: t, reason: r }) -
    value(before, 'dualgate_connections_closed_total', { transport: t, reason: r });
  assert.equal(closed('sse', 'peer_closed'), 1);
  assert.equal(closed('websocket', 'done') + closed('websocket', 'peer_closed'), 1);
  assert.equal(value(after, 'dualgate_connections_opened_total', { transport: 'sse' }) -
    value(before, 'dualgate_connections_opened_total', { transport: 'sse' }), 1);

  if (!havePromtool) return t.skip('promtool missing (under CI this file fails instead)');
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, `promtool check metrics: ${r.stdout}${r.stderr}`);
});

test('HEAD and other methods on /metrics', async () => {
  assert.equal((await lib.get(`${gw.base}/metrics`, { method: 'HEAD' })).status, 200);
  assert.equal((await lib.get(`${gw.base}/metrics`, { method: 'POST' })).status, 405);
});

test('/health reports whether Redis answers and the PING round trip', async () => {
  const h = JSON.parse((await lib.get(`${gw.base}/health`)).body);
  assert.equal(h.redis.responsive, true);
  await lib.waitFor(async () => JSON.parse((await lib.get(`${gw.base}/health`)).body).redis.ping_rtt_ms >= 0,
    { what: 'a first PING answer' });
});

test('a real Prometheus scrapes /metrics: the target is up and dualgate\'s series are stored', async (t) => {
  if (!havePrometheus) return t.skip('prometheus missing (under CI this file fails instead)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dg-prom-'));
  const port = await lib.freePort();
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n` +
    `  - job_name: dualgate\n    static_configs:\n      - targets: ['127.0.0.1:${gw.port}']\n`);
  const prom = spawn(PROMETHEUS, [`--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  let errText = '';
  prom.stderr.on('data', (d) => { errText += d; });
  const query = async (q) => {
    const r = await lib.get(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
    return r.status === 200 ? JSON.parse(r.body).data.result : [];
  };
  try {
    await lib.waitFor(async () => {
      if (prom.exitCode !== null) throw new Error(`prometheus exited: ${errText.slice(-500)}`);
      try { return (await query('up{job="dualgate"}')).some((x) => x.value[1] === '1'); } catch { return false; }
    }, { timeout: 20000, what: 'Prometheus to scrape dualgate' });
    const series = await query('dualgate_connections_opened_total');
    assert.ok(series.length >= 3, `stored series: ${JSON.stringify(series)}`);
    assert.ok((await query('dualgate_delivery_latency_seconds_bucket')).length > 0);
    const health = await query('scrape_samples_scraped{job="dualgate"}');
    assert.ok(Number(health[0].value[1]) > 50, 'a full scrape');
  } finally {
    prom.kill('SIGTERM');
    await new Promise((r) => (prom.exitCode !== null ? r() : prom.once('exit', r)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
