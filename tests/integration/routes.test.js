// Routed sources and user rooms over SSE, with tokens: two dualgate instances on one Redis, a
// routed stream and a routed channel feeding user rooms, HS256 tokens made here
// (lib.hs256), refused tokens (401), forbidden rooms (403), malformed payloads counted and skipped.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startRedis, startGateway, stop, get, SseClient, redisClient, waitFor, hs256 } = require('./lib');

const SECRET = 'routes-test-secret-0123456789-abcdefghij';
const AUD = 'dualgate-test';
const ROUTES = 'stream:app:user-status=user-status-changed@user:{user_id},' +
  'channel:notifications=notification-received@user:{user_id},channel:news=news@all';

let redis, gws = [], rc;

const token = (claims, { secret = SECRET } = {}) => hs256(secret, { aud: AUD, ...claims });
const bearer = (t) => ({ Authorization: `Bearer ${t}` });

async function health(gw) {
  return JSON.parse((await get(gw.base + '/health')).body);
}

// Opens /sse/users/me (or a room) and waits for the stream to be open.
async function open(gw, path, headers = {}) {
  const c = new SseClient(gw.base + path, headers);
  await c.response;
  assert.equal(c.status, 200, `${path} on :${gw.port}`);
  await waitFor(() => c.comments.includes('connected'), { what: 'the stream to open' });
  return c;
}

test.before(async () => {
  redis = await startRedis();
  const env = { DUALGATE_AUTH: 'required', DUALGATE_JWT_SECRET: SECRET, DUALGATE_JWT_AUDIENCE: AUD,
    DUALGATE_ROUTES: ROUTES, DUALGATE_HEARTBEAT_MS: '1000' };
  gws = [await startGateway(redis.url, { env }), await startGateway(redis.url, { env })];
  rc = redisClient(redis.url);
  for (const gw of gws)
    await waitFor(async () => (await health(gw)).redis.routes.every((r) => r.connected),
      { what: 'routes subscribed' });
});

test.after(async () => {
  rc.disconnect();
  for (const gw of gws) {
    const r = await stop(gw);
    assert.equal(r.code, 0, 'dualgate exits 0 on SIGTERM');
  }
  await stop(redis);
});

test('a routed stream and a routed channel reach only their user, on both instances', async () => {
  const t42 = token({ sub: '42' }), t7 = token({ sub: 7 });
  const c42 = [await open(gws[0], '/sse/users/me', bearer(t42)),
    await open(gws[1], `/sse/users/me?access_token=${t42}`)];
  const c7 = [await open(gws[0], `/sse/users/me?access_token=${t7}`),
    await open(gws[1], '/sse/users/me', bearer(t7))];

  await rc.xadd('app:user-status', '*', 'data', JSON.stringify({ user_id: 42, online: true }));
  await rc.xadd('app:user-status', '*', 'user_id', '7', 'status', 'away');
  await rc.publish('notifications', JSON.stringify({ user_id: '42', text: 'hi' }));
  await rc.publish('notifications', JSON.stringify({ user_id: 7, text: 'yo' }));
  for (const c of [...c42, ...c7]) await c.waitEvents(2);

  for (const c of c42) {
    const evs = c.jobEvents().sort((a, b) => a.event.localeCompare(b.event));
    assert.deepEqual(evs, [{ event: 'notification-received', user_id: '42', text: 'hi' },
      { event: 'user-status-changed', user_id: 42, online: true }]);
  }
  for (const c of c7) {
    const evs = c.jobEvents().sort((a, b) => a.event.localeCompare(b.event));
    assert.deepEqual(evs, [{ event: 'notification-received', user_id: 7, text: 'yo' },
      { event: 'user-status-changed', user_id: '7', status: 'away' }]);
  }
  // the stream's events carry a cursor naming the routed stream
  const sid = c42[0].events.find((e) => e.event === 'user-status-changed').id;
  assert.match(sid, /stream\/app%3Auser-status:\d+-\d+/);

  // Resume from the routed stream's cursor: only this user's entries are replayed.
  const resumeFrom = c42[1].lastId;
  c42[1].close();
  await rc.xadd('app:user-status', '*', 'data', JSON.stringify({ user_id: 7, online: false }));
  await rc.xadd('app:user-status', '*', 'data', JSON.stringify({ user_id: 42, online: false }));
  await c7[0].waitEvents(3);
  const again = await open(gws[1], '/sse/users/me', { ...bearer(t42), 'Last-Event-ID': resumeFrom });
  await again.waitEvents(1);
  assert.deepEqual(again.jobEvents(), [{ event: 'user-status-changed', user_id: 42, online: false }]);

  // A shared room from a channel routed to `all`.
  const all = await open(gws[1], '/sse/rooms/all', bearer(t7));
  await rc.publish('news', JSON.stringify({ title: 'hello' }));
  await all.waitEvents(1);
  assert.deepEqual(all.jobEvents(), [{ event: 'news', title: 'hello' }]);
  for (const c of [...c42, ...c7, again, all]) c.close();
});

test('missing, expired, wrongly signed and wrong-audience tokens are refused with 401', async () => {
  const gw = gws[0];
  const before = (await health(gw)).auth.refused;
  const now = Math.floor(Date.now() / 1000);
  const cases = [
    ['missing', {}],
    ['expired', bearer(token({ sub: '42', exp: now - 3600, iat: now - 7200 }))],
    ['signature', bearer(token({ sub: '42' }, { secret: 'another-secret-0123456789-abcdefghijkl' }))],
    ['audience', bearer(token({ sub: '42', aud: 'someone-else' }))],
    ['malformed', { Authorization: 'Bearer not.a.jwt!' }],
  ];
  for (const [why, headers] of cases) {
    for (const path of ['/sse/users/me', '/sse/queues/http', '/sse/rooms/all']) {
      const r = await get(gw.base + path, { headers });
      assert.equal(r.status, 401, `${why} ${path}`);
      assert.equal(JSON.parse(r.body).error, 'unauthorized');
      assert.match(r.headers['www-authenticate'], /^Bearer/);
    }
  }
  const after = (await health(gw)).auth.refused;
  for (const [why] of cases) assert.equal(after[why] - before[why], 3, why);
  // no token ever reaches a log line
  const t = token({ sub: 'logged?' });
  await get(gw.base + `/sse/rooms/user:1?access_token=${t}`);
  assert.ok(!gw.logs.some((l) => JSON.stringify(l).includes(t.split('.')[2])));
});

test('rooms the access rules refuse are 403 forbidden', async () => {
  const gw = gws[1];
  const t42 = token({ sub: '42' });
  const before = (await health(gw)).auth.forbidden;
  for (const room of ['user:7', 'job:1', 'queue:http', 'logs']) {
    const r = await get(gw.base + `/sse/rooms/${encodeURIComponent(room)}`, { headers: bearer(t42) });
    assert.equal(r.status, 403, room);
    assert.equal(JSON.parse(r.body).error, 'forbidden');
  }
  assert.equal((await health(gw)).auth.forbidden - before, 4);
  // one's own room by its name is allowed
  const own = await open(gw, '/sse/rooms/user:42', bearer(t42));
  own.close();
});

test('malformed payloads are counted in /health and skipped', async () => {
  const t42 = token({ sub: '42' });
  const cs = [await open(gws[0], '/sse/users/me', bearer(t42)), await open(gws[1], '/sse/users/me', bearer(t42))];
  const routes0 = await Promise.all(gws.map(async (gw) => (await health(gw)).redis.routes));
  await rc.publish('notifications', 'not json at all');
  await rc.publish('notifications', JSON.stringify({ text: 'no user' }));
  await rc.xadd('app:user-status', '*', 'data', '{"user_id":');
  await rc.xadd('app:user-status', '*', 'data', JSON.stringify({ user_id: 42, online: 'after' }));
  await rc.publish('notifications', JSON.stringify({ user_id: 42, text: 'after' }));
  for (const c of cs) {
    await c.waitEvents(2);
    const evs = c.jobEvents().sort((a, b) => a.event.localeCompare(b.event));
    assert.deepEqual(evs, [{ event: 'notification-received', user_id: 42, text: 'after' },
      { event: 'user-status-changed', user_id: 42, online: 'after' }]);
  }
  for (let i = 0; i < gws.length; i++) {
    const routes = (await health(gws[i])).redis.routes;
    const byKey = (rs, kind, key) => rs.find((r) => r.kind === kind && r.key === key);
    const st = byKey(routes, 'stream', 'app:user-status'), st0 = byKey(routes0[i], 'stream', 'app:user-status');
    const ch = byKey(routes, 'channel', 'notifications'), ch0 = byKey(routes0[i], 'channel', 'notifications');
    assert.equal(st.malformed - st0.malformed, 1);
    assert.equal(ch.malformed - ch0.malformed, 2);
    assert.equal(st.room, 'user:{user_id}');
    assert.ok(st.delivered >= 1 && ch.delivered >= 1);
    assert.ok(gws[i].logs.some((l) => /channel notifications: message skipped/.test(l.msg || '')));
    assert.ok(!gws[i].logs.some((l) => /not json at all/.test(JSON.stringify(l))), 'no payload in logs');
  }
  for (const c of cs) c.close();
});
