// Tokens, user rooms, client rooms and relay over Socket.IO with real socket.io-client: two
// dualgate instances on one Redis, HS256 tokens made here (lib.hs256),
// tokens from CONNECT's auth.token and from the handshake's Authorization header, routed stream
// and channel feeding user rooms, `typing` relayed across instances, forbidden subscriptions, and
// token_expiring_soon then the close for a short-lived token (Socket.IO and SSE).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const { startRedis, startGateway, stop, get, SseClient, redisClient, waitFor, startProxy, hs256 } = require('./lib');

const SECRET = 'auth-sio-test-secret-0123456789-abcdefghij';
const AUD = 'dualgate-test';
const ROUTES = 'stream:app:user-status=user-status-changed@user:{user_id},' +
  'channel:notifications=notification-received@user:{user_id}';

let redis, gws = [], rc;
const sockets = [];

const token = (claims, { secret = SECRET, life = 600 } = {}) => hs256(secret, { aud: AUD, ...claims }, { life });
async function health(gw) {
  return JSON.parse((await get(gw.base + '/health')).body);
}

// A socket that records every event; resolves once `connected` arrived (rooms joined by then),
// rejects with the connect_error. opts: { token } (auth.token) or { header } (Bearer).
function connect(gw, { token: t, header, nsp = '/' } = {}) {
  const opts = { reconnection: false, forceNew: true, transports: ['websocket'] };
  if (t) opts.auth = { token: t };
  if (header) opts.extraHeaders = { Authorization: `Bearer ${header}` };
  const s = io(gw.base + nsp, opts);
  sockets.push(s);
  s.received = [];
  s.onAny((event, ...args) => s.received.push({ event, args }));
  return new Promise((resolve, reject) => {
    s.once(nsp === '/' ? 'connected' : 'connect', (info) => { s.info = info; resolve(s); });
    s.once('connect_error', (e) => { s.close(); reject(e); });
  });
}
const got = (s, name) => s.received.filter((e) => e.event === name).map((e) => e.args[0]);
const ack = (s, ev, arg) => s.timeout(5000).emitWithAck(ev, arg);

test.before(async () => {
  redis = await startRedis();
  const env = { DUALGATE_AUTH: 'required', DUALGATE_JWT_SECRET: SECRET, DUALGATE_JWT_AUDIENCE: AUD,
    DUALGATE_JWT_CLOCK_SKEW_S: '0', DUALGATE_TOKEN_EXPIRY_WARNING_S: '2', DUALGATE_ROUTES: ROUTES,
    DUALGATE_CLIENT_ROOMS: 'chat', DUALGATE_RELAY_EVENTS: 'typing,stop_typing',
    DUALGATE_RELAY_RATE: '5/s', DUALGATE_RELAY_BURST: '3',
    DUALGATE_ACCESS_QUEUES: 'scope:jobs:admin', DUALGATE_ACCESS_LOGS: 'scope:logs' };
  gws = [await startGateway(redis.url, { env }), await startGateway(redis.url, { env })];
  rc = redisClient(redis.url);
  for (const gw of gws)
    await waitFor(async () => (await health(gw)).redis.routes.every((r) => r.connected),
      { what: 'routes subscribed' });
});

test.after(async () => {
  for (const s of sockets) s.close();
  rc.disconnect();
  for (const gw of gws) {
    const r = await stop(gw);
    assert.equal(r.code, 0, 'dualgate exits 0 on SIGTERM');
  }
  await stop(redis);
});

test('valid tokens connect (auth.token and Bearer); missing, expired, wrongly signed, wrong audience get unauthorized', async () => {
  const before = (await health(gws[0])).auth;
  const a = await connect(gws[0], { token: token({ sub: 'u1' }) });
  assert.deepEqual(a.info, { socketId: a.id, userId: 'u1' });
  const b = await connect(gws[0], { header: token({ sub: 42 }) });
  assert.deepEqual(b.info, { socketId: b.id, userId: '42' });
  // ping / pong, as the MetaRGB client does it: an ack when asked, else an event
  const p = await ack(a, 'ping');
  assert.ok(Math.abs(p.timestamp - Date.now()) < 5000);
  a.emit('ping');
  await waitFor(() => got(a, 'pong').length === 1, { what: 'pong' });

  const bad = [
    ['missing', {}],
    ['expired', { token: token({ sub: 'u1' }, { life: -60 }) }],
    ['signature', { token: token({ sub: 'u1' }, { secret: 'another-secret-0123456789-abcdefghijkl' }) }],
    ['audience', { header: hs256(SECRET, { aud: 'other', sub: 'u1' }, { life: 60 }) }],
  ];
  for (const [why, opts] of bad) {
    await assert.rejects(connect(gws[0], opts), (e) => e.message === 'unauthorized', why);
  }
  const after = (await health(gws[0])).auth;
  assert.equal(after.accepted - before.accepted, 2);
  for (const [why] of bad) assert.equal(after.refused[why] - before.refused[why], 1, why);
  // no token, signature or secret in any log line (debug level included)
  const secrets = [SECRET, ...bad.map(([, o]) => (o.token || o.header || '').split('.')[2]).filter(Boolean)];
  for (const g of gws) for (const l of g.logs) for (const x of secrets) assert.ok(!JSON.stringify(l).includes(x), JSON.stringify(l));
  a.close();
  b.close();
});

test('user rooms fed by a routed stream and a routed channel reach only their user, on both instances', async () => {
  const s42 = [await connect(gws[0], { token: token({ sub: '42' }) }), await connect(gws[1], { header: token({ sub: '42' }) })];
  const s7 = [await connect(gws[0], { header: token({ sub: 7 }) }), await connect(gws[1], { token: token({ sub: 7 }) })];
  await rc.xadd('app:user-status', '*', 'data', JSON.stringify({ user_id: 42, online: true }));
  await rc.publish('notifications', JSON.stringify({ user_id: 7, text: 'yo' }));
  await rc.publish('notifications', JSON.stringify({ user_id: '42', text: 'hi' }));
  for (const s of [...s42, ...s7])
    await waitFor(() => got(s, 'user-status-changed').length + got(s, 'notification-received').length >= (s7.includes(s) ? 1 : 2),
      { what: 'routed events' });
  // one more for 7 through the stream, after which nothing else for anyone can be in flight
  await rc.xadd('app:user-status', '*', 'user_id', '7', 'status', 'away');
  for (const s of s7) await waitFor(() => got(s, 'user-status-changed').length === 1, { what: '7 status' });
  for (const s of s42) {
    assert.deepEqual(got(s, 'user-status-changed'), [{ user_id: 42, online: true }]);
    assert.deepEqual(got(s, 'notification-received'), [{ user_id: '42', text: 'hi' }]);
  }
  for (const s of s7) {
    assert.deepEqual(got(s, 'notification-received'), [{ user_id: 7, text: 'yo' }]);
    assert.deepEqual(got(s, 'user-status-changed'), [{ user_id: '7', status: 'away' }]);
  }
  for (const s of [...s42, ...s7]) s.close();
});

test('a user room fed by a routed stream is recovered: what was published while away arrives once', async () => {
  const proxy = await startProxy(gws[0].port);
  try {
    const t = token({ sub: 'rec-9' });
    const s = io(proxy.url, { forceNew: true, transports: ['websocket'], auth: { token: t },
      reconnectionDelay: 50, reconnectionDelayMax: 100 });
    sockets.push(s);
    s.statuses = [];
    s.on('user-status-changed', (e, offset) => s.statuses.push({ n: e.n, offset }));
    await new Promise((resolve, reject) => { s.once('connected', resolve); s.once('connect_error', reject); });
    await rc.xadd('app:user-status', '*', 'data', JSON.stringify({ user_id: 'rec-9', n: 1 }));
    await waitFor(() => s.statuses.length === 1, { what: 'the first status' });
    assert.match(s.statuses[0].offset, /stream\/app%3Auser-status:\d+-\d+/, 'the offset names the routed stream');
    proxy.hold();
    const gone = new Promise((r) => s.once('disconnect', r));
    proxy.cut();
    await gone;
    for (const n of [2, 3]) await rc.xadd('app:user-status', '*', 'data', JSON.stringify({ user_id: 'rec-9', n }));
    await rc.xadd('app:user-status', '*', 'data', JSON.stringify({ user_id: 'someone-else', n: 99 }));
    proxy.target = gws[1].port; // and on the other instance
    const back = new Promise((r) => s.once('connect', r));
    proxy.release();
    await back;
    assert.equal(s.recovered, true);
    await rc.xadd('app:user-status', '*', 'data', JSON.stringify({ user_id: 'rec-9', n: 4 }));
    await waitFor(() => s.statuses.length >= 4, { what: 'the missed and the live statuses' });
    assert.deepEqual(s.statuses.map((x) => x.n), [1, 2, 3, 4]);
    s.close();
  } finally {
    proxy.close();
  }
});

test('a client room joined before a reconnect still relays once the session is recovered', async () => {
  const proxy = await startProxy(gws[0].port);
  try {
    const a = io(proxy.url, { forceNew: true, transports: ['websocket'], auth: { token: token({ sub: 'ra' }) },
      reconnectionDelay: 50, reconnectionDelayMax: 100 });
    sockets.push(a);
    await new Promise((resolve, reject) => { a.once('connected', resolve); a.once('connect_error', reject); });
    const b = await connect(gws[1], { token: token({ sub: 'rb' }) });
    assert.deepEqual(await ack(a, 'join_room', 'chat:rec'), { success: true, room: 'chat:rec' });
    assert.deepEqual(await ack(b, 'join_room', 'chat:rec'), { success: true, room: 'chat:rec' });
    const gone = new Promise((r) => a.once('disconnect', r));
    proxy.cut();
    await gone;
    await new Promise((r) => a.once('connect', r));
    assert.equal(a.recovered, true);
    assert.deepEqual(await ack(a, 'typing', { room: 'chat:rec' }), { success: true, room: 'chat:rec' });
    await waitFor(() => got(b, 'typing').length === 1, { what: 'typing from the recovered socket' });
    a.close();
    b.close();
  } finally {
    proxy.close();
  }
});

test('join_room / leave_room with acks, user_joined / user_left, typing relayed across instances, rate-limited', async () => {
  const a = await connect(gws[0], { token: token({ sub: 'alice' }) });
  const b = await connect(gws[1], { token: token({ sub: 'bob' }) });
  const c = await connect(gws[1], { token: token({ sub: 'carol' }) });
  assert.deepEqual(await ack(a, 'join_room', { room: 'chat:1' }), { success: true, room: 'chat:1' });
  assert.deepEqual(await ack(b, 'join_room', 'chat:1'), { success: true, room: 'chat:1' });
  assert.deepEqual(await ack(c, 'join_room', 'trip:1'), { success: false, error: 'unknown room type' });
  assert.deepEqual(await ack(c, 'join_room', 'chat:'), { success: false, error: 'invalid room' });
  await waitFor(() => got(a, 'user_joined').length === 1, { what: 'user_joined on the other instance' });
  assert.deepEqual(got(a, 'user_joined'), [{ room: 'chat:1', userId: 'bob', socketId: b.id }]);

  assert.deepEqual(await ack(b, 'typing', { room: 'chat:1', text: 'hel', userId: 'forged' }),
    { success: true, room: 'chat:1' });
  await waitFor(() => got(a, 'typing').length === 1, { what: 'typing relayed' });
  assert.deepEqual(got(a, 'typing'), [{ room: 'chat:1', text: 'hel', userId: 'bob', socketId: b.id }]);
  // not a member: refused; not relayed back to the sender, nor to a socket outside the room
  assert.deepEqual(await ack(c, 'typing', { room: 'chat:1' }), { success: false, error: 'not in room' });
  a.emit('stop_typing', { room: 'chat:1' });
  await waitFor(() => got(b, 'stop_typing').length === 1, { what: 'stop_typing relayed' });
  assert.equal(got(b, 'typing').length, 0);
  assert.equal(got(c, 'typing').length + got(c, 'stop_typing').length, 0);
  // burst 3: b has used one; the fourth in a row is over the limit
  const acks = [];
  for (let i = 0; i < 4; i++) acks.push(await ack(b, 'typing', { room: 'chat:1' }));
  assert.deepEqual(acks.at(-1), { success: false, error: 'rate limited' });
  // counted: relays out of b's instance, in on a's, and the one over the limit
  const [ha, hb] = [await health(gws[0]), await health(gws[1])];
  assert.ok(hb.socketio.rooms.relayed >= 3 && hb.socketio.rooms.relay_limited >= 1, JSON.stringify(hb.socketio.rooms));
  assert.ok(hb.redis.relays.published >= 3 && ha.redis.relays.received >= 3, JSON.stringify([ha.redis.relays, hb.redis.relays]));

  assert.deepEqual(await ack(b, 'leave_room', 'chat:1'), { success: true, room: 'chat:1' });
  await waitFor(() => got(a, 'user_left').length === 1, { what: 'user_left' });
  assert.deepEqual(got(a, 'user_left'), [{ room: 'chat:1', userId: 'bob', socketId: b.id }]);
  for (const s of [a, b, c]) s.close();
});

test('forbidden subscriptions are refused; a granted scope is allowed', async () => {
  const before = (await health(gws[0])).auth.forbidden;
  const plain = await connect(gws[0], { token: token({ sub: 'u1' }) });
  const admin = await connect(gws[0], { token: token({ sub: 'root', scope: 'jobs:admin logs' }) });
  assert.deepEqual(await ack(plain, 'subscribe-queue', 'http'), { success: false, error: 'forbidden' });
  assert.deepEqual(await ack(plain, 'subscribe-all-jobs'), { success: false, error: 'forbidden' });
  assert.deepEqual(await ack(admin, 'subscribe-queue', 'http'), { success: true, room: 'queue:http' });
  assert.deepEqual(await ack(plain, 'subscribe-job', 'j1'), { success: true, room: 'job:j1' });
  await assert.rejects(connect(gws[0], { token: token({ sub: 'u1' }), nsp: '/logs' }),
    (e) => e.message === 'forbidden');
  await connect(gws[0], { token: token({ sub: 'root', scope: 'logs' }), nsp: '/logs' });
  assert.equal((await health(gws[0])).auth.forbidden - before, 3);
  plain.close();
  admin.close();
});

test('a short-lived token: token_expiring_soon, then the server disconnects (Socket.IO) or ends the stream (SSE)', async () => {
  const before = (await health(gws[1])).auth.expired_closed;
  const t = token({ sub: 'brief' }, { life: 4 });
  const s = await connect(gws[1], { token: t });
  const reason = new Promise((resolve) => s.once('disconnect', resolve));
  const sse = new SseClient(gws[1].base + '/sse/users/me', { Authorization: `Bearer ${t}` });
  await sse.response;
  assert.equal(sse.status, 200);
  await waitFor(() => got(s, 'token_expiring_soon').length === 1, { what: 'token_expiring_soon', timeout: 8000 });
  const { expiresIn } = got(s, 'token_expiring_soon')[0];
  assert.ok(expiresIn >= 0 && expiresIn <= 2, `expiresIn ${expiresIn}`);
  assert.equal(await reason, 'io server disconnect');
  await waitFor(() => sse.closed, { what: 'the SSE stream to end', timeout: 8000 });
  const warn = sse.events.filter((e) => e.event === 'token_expiring_soon').map((e) => JSON.parse(e.data));
  assert.equal(warn.length, 1);
  assert.ok(warn[0].expiresIn >= 0 && warn[0].expiresIn <= 2);
  await waitFor(async () => (await health(gws[1])).auth.expired_closed - before === 2, { what: 'expired_closed' });
});
