// SSE endpoints against a real redis-server and real BullMQ producers/workers.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { QUEUES, startRedis, startGateway, startBull, stop, get, SseClient, redisClient, waitFor } = require('./lib');

let redis, gw, rc, bull, queues;

test.before(async () => {
  redis = await startRedis();
  gw = await startGateway(redis.url, { env: { DUALGATE_HEARTBEAT_MS: '500' } });
  rc = redisClient(redis.url);
  bull = await startBull(redis);
  queues = bull.queues;
});

test.after(async () => {
  await bull.close();
  rc.disconnect();
  const r = await stop(gw);
  assert.equal(r.code, 0, 'dualgate exits 0 on SIGTERM');
  await stop(redis);
});

const seq = (c) => c.jobEvents().map((e) => e.event);

// Sends raw bytes, resolves with everything the server answered until it closed.
function rawRequest(port, raw) {
  return new Promise((resolve, reject) => {
    const sock = require('node:net').connect(port, '127.0.0.1', () => sock.end(raw));
    let out = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => { out += d; });
    sock.on('close', () => resolve(out));
    sock.on('error', reject);
  });
}

test('a completed and a failed job on every queue arrive in order, with QueueEvents payloads', async () => {
  const clients = {};
  for (const q of QUEUES) {
    clients[`${q}-ok`] = new SseClient(`${gw.base}/sse/jobs/${q}-ok`);
    clients[`${q}-bad`] = new SseClient(`${gw.base}/sse/jobs/${q}-bad`);
  }
  await Promise.all(Object.values(clients).map((c) => c.response));
  for (const c of Object.values(clients)) {
    assert.equal(c.status, 200);
    assert.match(c.headers['content-type'], /^text\/event-stream/);
    assert.equal(c.headers['cache-control'], 'no-store');
    assert.equal(c.headers['x-accel-buffering'], 'no');
    assert.equal(c.headers['access-control-allow-origin'], '*');
  }
  for (const q of QUEUES) {
    await queues[q].add(`${q}-job`, { n: 7 }, { jobId: `${q}-ok` });
    await queues[q].add(`${q}-job`, { fail: true }, { jobId: `${q}-bad` });
  }
  for (const q of QUEUES) {
    const ok = clients[`${q}-ok`], bad = clients[`${q}-bad`];
    await waitFor(() => seq(ok).includes('completed'), { what: `${q}-ok completed` });
    await waitFor(() => seq(bad).includes('retries-exhausted'), { what: `${q}-bad retries-exhausted` });
    assert.deepEqual(seq(ok), ['added', 'waiting', 'active', 'progress', 'progress', 'completed']);
    assert.deepEqual(seq(bad), ['added', 'waiting', 'active', 'progress', 'progress', 'failed', 'retries-exhausted']);
    const e = ok.jobEvents();
    assert.deepEqual(e[0], { event: 'added', queue: q, jobId: `${q}-ok`, name: `${q}-job` });
    assert.deepEqual(e[2], { event: 'active', queue: q, jobId: `${q}-ok`, prev: 'waiting' });
    assert.deepEqual(e[3], { event: 'progress', queue: q, jobId: `${q}-ok`, data: 50 });
    assert.deepEqual(e[5], { event: 'completed', queue: q, jobId: `${q}-ok`,
      returnvalue: { ok: true, n: 7, text: 'héllo "quoted"\nline2' }, prev: 'active' });
    // Wire bytes: same JSON text as the Node original sent.
    assert.ok(ok.raw.includes(`event: completed\ndata: {"queue":"${q}","jobId":"${q}-ok","returnvalue":{"ok":true,"n":7,"text":"héllo \\"quoted\\"\\nline2"},"prev":"active"}\n\n`));
    const f = bad.jobEvents('failed')[0];
    assert.deepEqual(f, { event: 'failed', queue: q, jobId: `${q}-bad`, failedReason: `boom: "bad" thing\nfor ${q}-bad`, prev: 'active' });
    // Every event has an id (the resume cursor) and ids never repeat.
    const ids = ok.events.map((x) => x.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(ids.every((id) => /^(\w+:\d+-\d+)(,\w+:\d+-\d+)*$/.test(id)), ids.join(' '));
  }
  assert.equal(clients['http-ok'].retry, 3000, 'retry hint first');
  for (const c of Object.values(clients)) c.close();
});

test('job ids repeat across queues: ?queue= keeps one, no filter gets all; queue streams', async () => {
  const all = new SseClient(`${gw.base}/sse/jobs/shared-1`);
  const onlySparql = new SseClient(`${gw.base}/sse/jobs/shared-1?queue=sparql`);
  const qstream = new SseClient(`${gw.base}/sse/queues/techstack`);
  await Promise.all([all.response, onlySparql.response, qstream.response]);
  for (const q of QUEUES) await queues[q].add('x', { n: 1 }, { jobId: 'shared-1' });
  await waitFor(() => all.jobEvents('completed').length === 4, { what: '4 completions' });
  await waitFor(() => onlySparql.jobEvents('completed').length === 1, { what: 'sparql completion' });
  await waitFor(() => qstream.jobEvents('completed').length === 1, { what: 'techstack completion' });
  assert.deepEqual([...new Set(all.jobEvents().map((e) => e.queue))].sort(), [...QUEUES].sort());
  assert.ok(onlySparql.jobEvents().every((e) => e.queue === 'sparql'));
  assert.deepEqual(seq(onlySparql), ['added', 'waiting', 'active', 'progress', 'progress', 'completed']);
  assert.ok(qstream.jobEvents().every((e) => e.queue === 'techstack' && e.jobId === 'shared-1'));
  // progress data stays an object when the job reports one
  all.close(); onlySparql.close(); qstream.close();
});

test('two clients on the same job both receive every event; object progress is JSON', async () => {
  const a = new SseClient(`${gw.base}/sse/jobs/twin`);
  const b = new SseClient(`${gw.base}/sse/jobs/twin`);
  await Promise.all([a.response, b.response]);
  await queues.http.add('x', { objProgress: true, ret: 'plain string result' }, { jobId: 'twin' });
  await waitFor(() => seq(a).includes('completed') && seq(b).includes('completed'), { what: 'twin completions' });
  assert.deepEqual(a.jobEvents(), b.jobEvents());
  assert.deepEqual(a.jobEvents('progress')[1].data, { step: 2, of: 2 });
  assert.equal(a.jobEvents('completed')[0].returnvalue, 'plain string result');
  a.close(); b.close();
});

test('resume with Last-Event-ID: every missed event, in order, no duplicates, then live', async () => {
  const first = new SseClient(`${gw.base}/sse/jobs/resume-1`);
  await first.response;
  await queues.http.add('x', { n: 1 }, { jobId: 'resume-1' });
  await waitFor(() => seq(first).includes('active'), { what: 'active' });
  const cut = first.events.findIndex((e) => e.event === 'active');
  const lastId = first.events[cut].id;
  first.close();
  // Let the job finish while nobody listens, then resume from the 'active' event.
  await waitFor(async () => (await queues.http.getJobState('resume-1')) === 'completed', { what: 'job completed' });
  const again = new SseClient(`${gw.base}/sse/jobs/resume-1`, { 'Last-Event-ID': lastId });
  await again.response;
  await waitFor(() => seq(again).includes('completed'), { what: 'replayed completion' });
  assert.deepEqual(seq(again), ['progress', 'progress', 'completed']);
  // then live: a second run of the same id arrives after the replay
  await queues.http.remove('resume-1');
  await queues.http.add('x', { n: 2 }, { jobId: 'resume-1' });
  await waitFor(() => seq(again).filter((e) => e === 'completed').length === 2, { what: 'live completion' });
  const ids = again.events.map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, 'no duplicate ids');
  assert.deepEqual(seq(again).slice(0, 3), ['progress', 'progress', 'completed']);
  assert.ok(seq(again).slice(3).includes('removed'));
  again.close();
  // ?lastEventId= does the same for curl users
  const curl = new SseClient(`${gw.base}/sse/jobs/resume-1?lastEventId=${encodeURIComponent(lastId)}`);
  await waitFor(() => seq(curl).filter((e) => e === 'completed').length === 2, { what: 'query resume' });
  assert.deepEqual(seq(curl).slice(0, 3), ['progress', 'progress', 'completed']);
  curl.close();
});

test('all-jobs: every job event of every queue, ?queue=a,b keeps some, resumes by Last-Event-ID', async () => {
  const mine = (c) => c.jobEvents().filter((e) => e.jobId.startsWith('aj-'));
  const done = (c, id) => mine(c).some((e) => e.jobId === id && e.event === 'completed');
  const all = new SseClient(`${gw.base}/sse/all-jobs`);
  const some = new SseClient(`${gw.base}/sse/all-jobs?queue=sparql,analyzer`);
  await Promise.all([all.response, some.response]);
  assert.equal(all.status, 200);
  assert.match(all.headers['content-type'], /^text\/event-stream/);
  await queues.http.add('x', { n: 1 }, { jobId: 'aj-1' });
  await queues.sparql.add('x', { n: 2 }, { jobId: 'aj-2' });
  await queues.analyzer.add('x', { n: 3 }, { jobId: 'aj-3' });
  await waitFor(() => ['aj-1', 'aj-2', 'aj-3'].every((id) => done(all, id)) && done(some, 'aj-2') && done(some, 'aj-3'),
    { what: 'all-jobs completions' });
  assert.deepEqual([...new Set(mine(all).map((e) => e.queue))].sort(), ['analyzer', 'http', 'sparql']);
  assert.ok(mine(some).every((e) => e.queue !== 'http'), 'http filtered out');
  assert.deepEqual(mine(some).filter((e) => e.jobId === 'aj-2').map((e) => e.event),
    ['added', 'waiting', 'active', 'progress', 'progress', 'completed']);
  assert.ok(!all.events.some((e) => e.event === 'state'), 'no state on all-jobs');
  assert.match(some.lastId, /^sparql:\d+-\d+,analyzer:\d+-\d+$/, 'the cursor names the queues followed');
  const lastId = some.lastId;
  some.close();
  // Missed while away: aj-4 (sparql) comes back on resume, aj-5 (http) does not.
  await queues.sparql.add('x', { n: 4 }, { jobId: 'aj-4' });
  await queues.http.add('x', { n: 5 }, { jobId: 'aj-5' });
  await waitFor(() => done(all, 'aj-4') && done(all, 'aj-5'), { what: 'aj-4 and aj-5' });
  const again = new SseClient(`${gw.base}/sse/all-jobs?queue=sparql,analyzer`, { 'Last-Event-ID': lastId });
  await waitFor(() => done(again, 'aj-4'), { what: 'replayed aj-4' });
  assert.deepEqual([...new Set(mine(again).map((e) => e.jobId))], ['aj-4']);
  all.close(); again.close();
  for (const [q, status] of [['', 400], ['sparql,,http', 400], ['sparql,', 400], ['nope', 404], ['http,nope', 404]]) {
    const r = await get(`${gw.base}/sse/all-jobs?queue=${q}`);
    assert.equal(r.status, status, `?queue=${q}`);
    assert.equal(JSON.parse(r.body).error, status === 400 ? 'bad_request' : 'not_found');
  }
});

test('resume older than what Redis holds sends event: gap first', async () => {
  const c = new SseClient(`${gw.base}/sse/queues/analyzer`);
  await c.response;
  await queues.analyzer.add('x', { n: 1 }, { jobId: 'gap-1' });
  await waitFor(() => seq(c).includes('completed'), { what: 'gap-1 completed' });
  const oldId = c.events[0].id;
  c.close();
  await rc.xtrim('bull:analyzer:events', 'MAXLEN', 0);
  await queues.analyzer.add('x', { n: 2 }, { jobId: 'gap-2' });
  const probe = new SseClient(`${gw.base}/sse/jobs/gap-2`);
  await probe.response;
  await waitFor(async () => (await queues.analyzer.getJobState('gap-2')) === 'completed');
  probe.close();
  const r = new SseClient(`${gw.base}/sse/queues/analyzer`, { 'Last-Event-ID': oldId });
  await waitFor(() => r.events.length >= 1, { what: 'gap event' });
  assert.equal(r.events[0].event, 'gap');
  assert.deepEqual(JSON.parse(r.events[0].data), { reason: 'trimmed', streams: ['analyzer'] });
  r.close();
  // A malformed cursor is reported the same way, then the stream goes on live.
  const bad = new SseClient(`${gw.base}/sse/queues/analyzer`, { 'Last-Event-ID': 'garbage' });
  await waitFor(() => bad.events.length >= 1, { what: 'invalid cursor gap' });
  assert.equal(JSON.parse(bad.events[0].data).reason, 'invalid_cursor');
  bad.close();
});

test('CLIENT KILL of dualgate\'s Redis connections mid-stream loses nothing', async () => {
  const N = 30;
  const c = new SseClient(`${gw.base}/sse/queues/sparql`);
  await c.response;
  const before = JSON.parse((await get(`${gw.base}/health`)).body).redis.streams.reduce((a, s) => a + s.reconnects, 0);
  const adds = [];
  for (let i = 0; i < N; i++) {
    adds.push(queues.sparql.add('x', { n: i }, { jobId: `kill-${i}` }));
    if (i === 10 || i === 20) await rc.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes').catch(() => {});
  }
  await Promise.all(adds);
  await waitFor(() => c.jobEvents('completed').length === N, { timeout: 30000, what: `${N} completions (have ${c.jobEvents('completed').length})` });
  for (let i = 0; i < N; i++) {
    const mine = c.jobEvents().filter((e) => e.jobId === `kill-${i}`).map((e) => e.event);
    assert.deepEqual(mine, ['added', 'waiting', 'active', 'progress', 'progress', 'completed'], `kill-${i}`);
  }
  const h = JSON.parse((await get(`${gw.base}/health`)).body);
  assert.ok(h.redis.streams.reduce((a, s) => a + s.reconnects, 0) > before, 'reconnects counted');
  assert.equal(h.redis.connected, true);
  c.close();
});

test('logs: entries from the stream and dualgate\'s own, with level and ns filters', async () => {
  const all = new SseClient(`${gw.base}/sse/logs`);
  const warn = new SseClient(`${gw.base}/sse/logs?level=warn`);
  const api = new SseClient(`${gw.base}/sse/logs?ns=api`);
  try {
    await Promise.all([all.response, warn.response, api.response]);
    await rc.xadd('dualgate:logs', '*', 'ts', '2026-01-01T00:00:00.000Z', 'level', 'info', 'ns', 'api', 'msg', 'hello\nworld');
    await rc.xadd('dualgate:logs', '*', 'ts', '2026-01-01T00:00:01.000Z', 'level', 'error', 'ns', 'worker', 'msg', 'bad');
    const mine = (c) => c.jobEvents('log').filter((e) => e.ns === 'api' || e.ns === 'worker');
    await waitFor(() => mine(all).length === 2, { what: 'two logs' });
    await waitFor(() => mine(warn).length === 1 && mine(api).length === 1, { what: 'filtered logs' });
    assert.deepEqual(mine(all)[0], { event: 'log', ts: '2026-01-01T00:00:00.000Z', level: 'info', ns: 'api', msg: 'hello\nworld' });
    assert.equal(mine(warn)[0].msg, 'bad');
    assert.equal(mine(api)[0].msg, 'hello\nworld');
    // dualgate's own logs reach the stream too: a malformed stream entry is logged (warn, ns
    // redis). (Not the lost-connection warning of a CLIENT KILL: the test before this one spends
    // that call site's rate-limit burst, and lines logged while the connection is down are late.)
    await rc.xadd('bull:http:events', '*', 'foo', 'bar');
    await waitFor(() => warn.jobEvents('log').some((e) => e.ns === 'redis'), { what: 'own warn log line' });
    await waitFor(() => all.jobEvents('log').some((e) => e.ns === 'redis'), { what: 'own log line, unfiltered' });
    assert.ok(warn.jobEvents('log').every((e) => e.level === 'warn' || e.level === 'error' || e.level === 'fatal'));
    const bogus = await get(`${gw.base}/sse/logs?level=loud`);
    assert.equal(bogus.status, 400);
  } finally {
    all.close(); warn.close(); api.close(); // a failure here must not fail the tests after it
  }
});

test('bad input: JSON errors with the right status; CORS on every answer; preflight', async () => {
  const long = 'x'.repeat(300);
  const cases = [
    ['/nope', 404], ['/sse/jobs/', 400], [`/sse/jobs/${long}`, 400], ['/sse/jobs/a%01b', 400],
    ['/sse/jobs/a%7Fb', 400], ['/sse/queues/unknown', 404], ['/sse/queues/http/x', 404],
    ['/sse/jobs/1?queue=unknown', 404], ['/sse/other', 404], ['/sse/logs/x', 404],
    ['/sse/logs?ns=' + 'n'.repeat(80), 400], ['/sse/logs?level=loud', 400],
  ];
  for (const [p, status] of cases) {
    const r = await get(gw.base + p);
    assert.equal(r.status, status, p);
    assert.match(r.headers['content-type'], /application\/json/, p);
    const body = JSON.parse(r.body);
    assert.equal(typeof body.error, 'string', p);
    assert.equal(r.headers['access-control-allow-origin'], '*', p);
  }
  // Malformed and oversized requests: CivetWeb rejects them, still with a JSON body.
  for (const raw of ['GARBAGE\r\n\r\n', `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`]) {
    const text = await rawRequest(gw.port, raw);
    assert.match(text, /^HTTP\/1\.1 400 /, raw.slice(0, 20));
    assert.match(text, /\r\n\r\n\{"error":"bad_request"/);
  }
  const post = await get(gw.base + '/sse/jobs/1', { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.match(post.headers.allow, /GET/);
  const pre = await get(gw.base + '/sse/jobs/1', { method: 'OPTIONS', headers: { Origin: 'http://a.example', 'Access-Control-Request-Method': 'GET' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-origin'], '*');
  assert.match(pre.headers['access-control-allow-headers'], /Last-Event-ID/);
  // URL-decoded ids: an id is everything after /sse/jobs/, slashes and '?' included when encoded
  const enc = new SseClient(`${gw.base}/sse/jobs/${encodeURIComponent('a/b c?d')}`);
  await enc.response;
  await queues.http.add('x', { n: 3 }, { jobId: 'a/b c?d' });
  await waitFor(() => seq(enc).includes('completed'), { what: 'encoded id completion' });
  enc.close();
});

test('health and a disconnecting client being released promptly', async () => {
  const c = new SseClient(`${gw.base}/sse/jobs/h-1`);
  await c.response;
  let h = JSON.parse((await get(`${gw.base}/health`)).body);
  assert.equal(h.version.length > 0, true);
  assert.ok(h.connections.sse >= 1);
  assert.equal(h.redis.streams.length, 5);
  assert.ok(h.redis.streams.every((s) => s.connected && /^\d+-\d+$/.test(s.last_id)));
  assert.ok(typeof h.uptime_s === 'number');
  c.close();
  // Every client of this file is closed now; heartbeat is 500 ms here, so each handler notices
  // its client is gone within two heartbeats and releases its thread.
  await waitFor(async () => JSON.parse((await get(`${gw.base}/health`)).body).connections.sse === 0,
    { timeout: 5000, what: 'connections released' });
});
