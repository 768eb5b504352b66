// Capacity and slow consumers: 503 past max_connections with health still answering, and a
// client that stops reading is closed (counted) without slowing the others or losing their events.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startRedis, startGateway, stop, get, SseClient, redisClient, waitFor } = require('./lib');

let redis, rc;
test.before(async () => { redis = await startRedis(); rc = redisClient(redis.url); });
test.after(async () => { rc.disconnect(); await stop(redis); });

const health = async (gw) => JSON.parse((await get(`${gw.base}/health`)).body);

test('past max_connections a new stream gets 503 at once; /health and /ready still answer', async () => {
  const gw = await startGateway(redis.url, { env: { DUALGATE_MAX_CONNECTIONS: '3', DUALGATE_HEARTBEAT_MS: '500' } });
  const open = [1, 2, 3].map((i) => new SseClient(`${gw.base}/sse/jobs/cap-${i}`));
  await Promise.all(open.map((c) => c.response));
  const r = await get(`${gw.base}/sse/jobs/cap-4`);
  assert.equal(r.status, 503);
  assert.equal(JSON.parse(r.body).error, 'over_capacity');
  assert.equal((await get(`${gw.base}/ready`)).status, 200);
  const h = await health(gw);
  assert.equal(h.connections.sse, 3);
  assert.equal(h.connections.max, 3);
  assert.ok(h.connections.refused >= 1);
  open[0].close();
  await waitFor(async () => (await health(gw)).connections.sse === 2, { what: 'slot freed' });
  const again = new SseClient(`${gw.base}/sse/jobs/cap-5`);
  await again.response;
  assert.equal(again.status, 200);
  for (const c of [...open, again]) c.close();
  assert.equal((await stop(gw)).code, 0);
});

test('a client that stops reading is closed and counted; a reading client gets everything', async () => {
  const gw = await startGateway(redis.url, {
    env: { DUALGATE_QUEUE_MAX_MSGS: '2000', DUALGATE_WRITE_TIMEOUT_MS: '1000', DUALGATE_LOG_PUBLISH_LEVEL: 'off' },
  });
  const reader = new SseClient(`${gw.base}/sse/logs?ns=flood`);
  const stalled = new SseClient(`${gw.base}/sse/logs?ns=flood`);
  await Promise.all([reader.response, stalled.response]);
  stalled.res.pause(); // stops reading: kernel buffers fill, then the gateway's queue
  const N = 20000, msg = 'x'.repeat(1000);
  for (let i = 0; i < N; i += 500) {
    const p = rc.pipeline();
    for (let k = i; k < i + 500; k++) p.xadd('dualgate:logs', '*', 'ts', '2026-01-01T00:00:00.000Z', 'level', 'info', 'ns', 'flood', 'msg', `${k} ${msg}`);
    await p.exec();
  }
  await waitFor(() => reader.events.length >= N, { timeout: 60000, what: `reader got ${N} (has ${reader.events.length})` });
  const got = reader.jobEvents('log').map((e) => Number(e.msg.split(' ')[0]));
  assert.deepEqual(got, Array.from({ length: N }, (_, i) => i), 'in order, none lost, none twice');
  await waitFor(async () => (await health(gw)).closed.slow_consumer >= 1, { timeout: 20000, what: 'slow consumer closed' });
  const h = await health(gw);
  assert.ok(h.closed.dropped_messages > 0);
  assert.ok(gw.logs.some((l) => l.level === 'warn' && l.ns === 'sse' && /slow client/.test(l.msg)));
  reader.close(); stalled.close();
  assert.equal((await stop(gw)).code, 0);
});
