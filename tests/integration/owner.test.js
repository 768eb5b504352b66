// Who may follow a job: `access_jobs = owner:userId | scope:jobs:admin` with real BullMQ jobs.
// The job's data (BullMQ's job hash) decides: its owner's token may subscribe (Socket.IO
// subscribe-job, SSE /sse/jobs/:id), another user's is refused ({success:false,
// error:"forbidden"} / 403), an admin scope may follow any job, a job that does not exist has no
// owner yet (refused unless the token's scope allows).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const { startRedis, startGateway, stop, get, startBull, hs256 } = require('./lib');

const SECRET = 'owner-test-secret-0123456789-abcdefghijkl';
let redis, gw, bull;
const sockets = [];

const token = (claims) => hs256(SECRET, claims);

test.before(async () => {
  redis = await startRedis();
  gw = await startGateway(redis.url, { env: { DUALGATE_AUTH: 'required', DUALGATE_JWT_SECRET: SECRET,
    DUALGATE_ACCESS_JOBS: 'owner:userId | scope:jobs:admin' } });
  bull = await startBull(redis);
  await bull.queues.http.add('mine', { userId: '42', n: 1 }, { jobId: 'owned-42' });
  await bull.queues.sparql.add('nested', { userId: 7, n: 2 }, { jobId: 'owned-7' });
});

test.after(async () => {
  for (const s of sockets) s.close();
  await bull.close();
  const r = await stop(gw);
  await stop(redis);
  assert.equal(r.code, 0);
});

async function connect(t) {
  const s = io(gw.base, { reconnection: false, forceNew: true, transports: ['websocket'], auth: { token: t } });
  sockets.push(s);
  s.states = [];
  s.on('state', (st) => s.states.push(st));
  await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('connect_error', reject); });
  return s;
}
const ack = (s, arg) => s.timeout(5000).emitWithAck('subscribe-job', arg);

test('Socket.IO: the owner may subscribe, another user may not, the admin scope may', async () => {
  const u42 = await connect(token({ sub: '42' }));
  const u7 = await connect(token({ sub: '7' }));
  const admin = await connect(token({ sub: '1', scope: 'jobs:admin' }));
  assert.deepEqual(await ack(u42, 'owned-42'), { success: true, room: 'job:owned-42' });
  assert.equal(u42.states.length, 1, 'the state came before the ack');
  assert.equal(u42.states[0].jobId, 'owned-42');
  assert.deepEqual(await ack(u42, { jobId: 'owned-42', queue: 'http' }), { success: true, room: 'job:owned-42' });
  assert.deepEqual(await ack(u42, 'owned-7'), { success: false, error: 'forbidden' });
  assert.deepEqual(await ack(u7, 'owned-7'), { success: true, room: 'job:owned-7' }, 'a numeric owner matches its string sub');
  assert.deepEqual(await ack(u7, 'owned-42'), { success: false, error: 'forbidden' });
  assert.deepEqual(await ack(u7, { jobId: 'owned-7', queue: 'http' }), { success: false, error: 'forbidden' }, 'not on that queue');
  assert.deepEqual(await ack(u42, 'no-such-job'), { success: false, error: 'forbidden' });
  assert.deepEqual(await ack(admin, 'owned-42'), { success: true, room: 'job:owned-42' });
  assert.deepEqual(await ack(admin, 'no-such-job'), { success: true, room: 'job:no-such-job' });
  const h = JSON.parse((await get(`${gw.base}/health`)).body);
  assert.ok(h.auth.forbidden >= 4, `forbidden counted: ${h.auth.forbidden}`);
});

test('SSE: /sse/jobs/:id for the owner, 403 for another user', async () => {
  const url = (id, t) => `${gw.base}/sse/jobs/${id}?access_token=${t}`;
  const t42 = token({ sub: '42' }), t7 = token({ sub: '7' });
  const denied = await get(url('owned-42', t7));
  assert.equal(denied.status, 403);
  assert.equal(JSON.parse(denied.body).error, 'forbidden');
  assert.equal((await get(url('no-such-job', t42))).status, 403);
  // allowed: the stream opens with the job's state (read the head and the first event, then go)
  const body = await new Promise((resolve, reject) => {
    const req = require('node:http').get(url('owned-42', t42), (res) => {
      let text = '';
      res.on('data', (d) => { text += d; if (text.includes('event: state')) { req.destroy(); resolve({ status: res.statusCode, text }); } });
    });
    req.on('error', reject);
  });
  assert.equal(body.status, 200);
  assert.match(body.text, /event: state\ndata: \{"queue":"http","jobId":"owned-42"/);
});

test('a session is recovered only for the user it belongs to (a pid is no credential)', async () => {
  const owner = await connect(token({ sub: '42' }));
  assert.deepEqual(await ack(owner, 'owned-42'), { success: true, room: 'job:owned-42' });
  const pid = owner._pid;
  assert.ok(pid);
  owner.io.engine.close(); // the transport goes (no DISCONNECT): the session state stays in Redis
  const tryWith = async (claims) => {
    const s = io(gw.base, { reconnection: false, forceNew: true, transports: ['websocket'], autoConnect: false,
      auth: { token: token(claims) } });
    sockets.push(s);
    s.gaps = [];
    s.on('gap', (g) => s.gaps.push(g));
    s._pid = pid; // what socket.io-client sends after a reconnect: {pid, offset}
    s.connect();
    await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('connect_error', reject); });
    return s;
  };
  const thief = await tryWith({ sub: '7' });
  assert.equal(thief.recovered, false, 'another user does not get the session');
  await new Promise((r) => (thief.gaps.length ? r() : thief.once('gap', r)));
  assert.equal(thief.gaps[0].reason, 'session_unknown');
  const back = await tryWith({ sub: '42' });
  assert.equal(back.recovered, true, 'its user does');
});
