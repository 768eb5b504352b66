// Conformance mode (dualgate --conformance): the cases of the official Engine.IO v4 test suite
// (plain echo server at /engine.io/) and Socket.IO v5 test suite (/socket.io/, namespaces "/"
// and "/custom", "auth" on connect, message-back, message-with-ack), byte-exact over raw HTTP
// and raw WebSocket, with the suites' timings: pingInterval 300 ms, pingTimeout 200 ms,
// connectTimeout 1000 ms. Where a case is about a deadline it waits exactly as the official
// suite does (the deadline is what is under test); everything else waits on events.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { startRedis, startGateway, stop } = require('./lib');

const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;
let redis, gw, URL, WS_URL;

test.before(async () => {
  redis = await startRedis();
  gw = await startGateway(redis.url, { args: ['--conformance'], env: {
    DUALGATE_PING_INTERVAL_MS: String(PING_INTERVAL), DUALGATE_PING_TIMEOUT_MS: String(PING_TIMEOUT),
    DUALGATE_CONNECT_TIMEOUT_MS: '1000', DUALGATE_LOG_LEVEL: 'info',
    // the suites' reference server runs without connectionStateRecovery (no pid in CONNECT)
    DUALGATE_RECOVERY: 'false' } });
  URL = gw.base;
  WS_URL = URL.replace('http', 'ws');
});

test.after(async () => {
  const r = gw && await stop(gw);
  await stop(redis);
  assert.equal(r && r.code, 0, 'dualgate exits 0 on SIGTERM');
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A WebSocket whose messages are read in order: next() resolves with the next one (text as a
// string, binary as a Buffer); closed resolves on close.
class Ws {
  constructor(url) {
    this.ws = new WebSocket(url);
    this.queue = [];
    this.waiting = [];
    this.ws.on('message', (d, isBinary) => {
      const v = isBinary ? Buffer.from(d) : d.toString();
      if (this.waiting.length) this.waiting.shift()(v); else this.queue.push(v);
    });
    this.ws.on('error', () => {});
    this.opened = new Promise((r) => this.ws.once('open', r));
    this.closed = new Promise((r) => this.ws.once('close', (code) => r(code)));
    // A handshake answered without a 101: the HTTP status and body the server sent instead.
    this.refused = new Promise((r) => this.ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => { r({ status: res.statusCode, body }); this.ws.terminate(); });
    }));
  }
  next() {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((r) => this.waiting.push(r));
  }
  async packets(n) { // the next n messages, pings left out (the suite's waitForPackets)
    const out = [];
    while (out.length < n) { const m = await this.next(); if (m !== '2') out.push(m); }
    return out;
  }
  send(d) { this.ws.send(d); }
  close() { this.ws.close(); }
}

const bytes = (...b) => Buffer.from(b);

async function initLongPollingSession(path) {
  const response = await fetch(`${URL}${path}?EIO=4&transport=polling`);
  const content = await response.text();
  return JSON.parse(content.substring(1)).sid;
}

async function initSocketIOConnection() {
  const socket = new Ws(`${WS_URL}/socket.io/?EIO=4&transport=websocket`);
  await socket.next(); // Engine.IO handshake
  socket.send('40');
  await socket.next(); // Socket.IO handshake
  await socket.next(); // "auth" packet
  return socket;
}

// ================================================================ Engine.IO (both endpoints)

for (const path of ['/engine.io/', '/socket.io/']) {
  test(`${path} handshake over HTTP long-polling`, async () => {
    const response = await fetch(`${URL}${path}?EIO=4&transport=polling`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/plain; charset=UTF-8');
    assert.equal(response.headers.get('access-control-allow-origin'), '*');
    const content = await response.text();
    assert.ok(content.startsWith('0'));
    const value = JSON.parse(content.substring(1));
    assert.deepEqual(Object.keys(value), ['sid', 'upgrades', 'pingInterval', 'pingTimeout', 'maxPayload']);
    assert.equal(typeof value.sid, 'string');
    assert.deepEqual(value.upgrades, ['websocket']);
    assert.equal(value.pingInterval, PING_INTERVAL);
    assert.equal(value.pingTimeout, PING_TIMEOUT);
    assert.equal(value.maxPayload, 1000000);
    assert.equal(content, `0{"sid":"${value.sid}","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}`);
    // invalid EIO, invalid transport, invalid method
    for (const [qs, method, code] of [['?transport=polling', 'GET', 5], ['?EIO=abc&transport=polling', 'GET', 5],
      ['?EIO=4', 'GET', 0], ['?EIO=4&transport=abc', 'GET', 0],
      ['?EIO=4&transport=polling', 'POST', 2], ['?EIO=4&transport=polling', 'PUT', 2]]) {
      const r = await fetch(`${URL}${path}${qs}`, { method });
      assert.equal(r.status, 400, `${method} ${qs}`);
      assert.equal((await r.json()).code, code, `${method} ${qs}`);
    }
  });

  test(`${path} handshake over WebSocket`, async () => {
    const socket = new Ws(`${WS_URL}${path}?EIO=4&transport=websocket`);
    const data = await socket.next();
    const value = JSON.parse(data.substring(1));
    assert.deepEqual(Object.keys(value), ['sid', 'upgrades', 'pingInterval', 'pingTimeout', 'maxPayload']);
    assert.deepEqual(value.upgrades, []);
    assert.equal(data, `0{"sid":"${value.sid}","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}`);
    socket.close();
    for (const qs of ['?transport=websocket', '?EIO=abc&transport=websocket', '?EIO=4', '?EIO=4&transport=abc']) {
      const bad = new Ws(`${WS_URL}${path}${qs}`);
      await bad.closed;
    }
  });

  test(`${path} heartbeat over HTTP long-polling: ping/pong, then ping timeout`, async () => {
    const sid = await initLongPollingSession(path);
    for (let i = 0; i < 3; i++) {
      const pollResponse = await fetch(`${URL}${path}?EIO=4&transport=polling&sid=${sid}`);
      assert.equal(pollResponse.status, 200);
      assert.equal(await pollResponse.text(), '2');
      const pushResponse = await fetch(`${URL}${path}?EIO=4&transport=polling&sid=${sid}`, { method: 'post', body: '3' });
      assert.equal(pushResponse.status, 200);
    }
    const sid2 = await initLongPollingSession(path);
    await sleep(PING_INTERVAL + PING_TIMEOUT); // the deadline under test, as the official suite
    const pollResponse = await fetch(`${URL}${path}?EIO=4&transport=polling&sid=${sid2}`);
    assert.equal(pollResponse.status, 400);
  });

  test(`${path} heartbeat over WebSocket: ping/pong, then ping timeout`, async () => {
    const socket = new Ws(`${WS_URL}${path}?EIO=4&transport=websocket`);
    await socket.next(); // handshake
    for (let i = 0; i < 3; i++) {
      assert.equal(await socket.next(), '2');
      socket.send('3');
    }
    socket.close();
    const silent = new Ws(`${WS_URL}${path}?EIO=4&transport=websocket`);
    const t0 = Date.now();
    await silent.closed;
    const dt = Date.now() - t0;
    assert.ok(dt >= PING_INTERVAL + PING_TIMEOUT - 20 && dt < PING_INTERVAL + PING_TIMEOUT + 300, `closed after ${dt} ms`);
  });

  test(`${path} close: a close packet ends the session`, async () => {
    const sid = await initLongPollingSession(path);
    const [pollResponse] = await Promise.all([
      fetch(`${URL}${path}?EIO=4&transport=polling&sid=${sid}`),
      fetch(`${URL}${path}?EIO=4&transport=polling&sid=${sid}`, { method: 'post', body: '1' }),
    ]);
    assert.equal(pollResponse.status, 200);
    assert.equal(await pollResponse.text(), '6');
    const pollResponse2 = await fetch(`${URL}${path}?EIO=4&transport=polling&sid=${sid}`);
    assert.equal(pollResponse2.status, 400);
    const socket = new Ws(`${WS_URL}${path}?EIO=4&transport=websocket`);
    await socket.next();
    socket.send('1');
    await socket.closed;
  });

  test(`${path} upgrade from HTTP long-polling to WebSocket`, async () => {
    const sid = await initLongPollingSession(path);
    const socket = new Ws(`${WS_URL}${path}?EIO=4&transport=websocket&sid=${sid}`);
    await socket.opened;
    socket.send('2probe');
    assert.equal(await socket.next(), '3probe');
    const pollResponse = await fetch(`${URL}${path}?EIO=4&transport=polling&sid=${sid}`);
    assert.equal(pollResponse.status, 200);
    assert.equal(await pollResponse.text(), '6'); // noop: the polling request ends cleanly
    socket.send('5');
    if (path === '/engine.io/') {
      socket.send('4hello');
      assert.equal(await socket.next(), '4hello');
    }
    // ignores HTTP requests and WebSocket connections with the same sid after the upgrade
    const after = await fetch(`${URL}${path}?EIO=4&transport=polling&sid=${sid}`);
    assert.equal(after.status, 400);
    const socket2 = new Ws(`${WS_URL}${path}?EIO=4&transport=websocket&sid=${sid}`);
    // ... with a proper HTTP answer (engine.io's Bad request), and the upgraded session goes on
    const refused = await socket2.refused;
    assert.equal(refused.status, 400);
    assert.deepEqual(JSON.parse(refused.body), { code: 3, message: 'Bad request' });
    await socket2.closed;
    if (path === '/engine.io/') {
      socket.send('4hello');
      assert.equal(await socket.next(), '4hello');
    }
    socket.close();
  });
}

// ================================================================ Engine.IO echo (/engine.io/)

const EIO = '/engine.io/';

test('engine.io: polling payloads of text and binary packets are echoed', async () => {
  for (const body of ['4hello', '4test1\x1e4test2\x1e4test3', '4hello\x1ebAQIDBA==']) {
    const sid = await initLongPollingSession(EIO);
    const pushResponse = await fetch(`${URL}${EIO}?EIO=4&transport=polling&sid=${sid}`, { method: 'post', body });
    assert.equal(pushResponse.status, 200);
    assert.equal(await pushResponse.text(), 'ok');
    assert.equal(pushResponse.headers.get('content-type'), 'text/html');
    const pollResponse = await fetch(`${URL}${EIO}?EIO=4&transport=polling&sid=${sid}`);
    assert.equal(pollResponse.status, 200);
    assert.equal(await pollResponse.text(), body);
  }
});

test('engine.io: invalid packets, duplicate and cancelled polls close the session', async () => {
  let sid = await initLongPollingSession(EIO);
  const push = await fetch(`${URL}${EIO}?EIO=4&transport=polling&sid=${sid}`, { method: 'post', body: 'abc' });
  assert.equal(push.status, 400);
  assert.equal((await fetch(`${URL}${EIO}?EIO=4&transport=polling&sid=${sid}`)).status, 400);

  sid = await initLongPollingSession(EIO);
  const pollResponses = await Promise.all([
    fetch(`${URL}${EIO}?EIO=4&transport=polling&sid=${sid}`),
    sleep(5).then(() => fetch(`${URL}${EIO}?EIO=4&transport=polling&sid=${sid}&t=burst`)),
  ]);
  assert.equal(pollResponses[0].status, 200);
  assert.equal(await pollResponses[0].text(), '1');
  assert.equal(pollResponses[1].status, 400);
  assert.equal((await fetch(`${URL}${EIO}?EIO=4&transport=polling&sid=${sid}`)).status, 400);

  sid = await initLongPollingSession(EIO);
  const controller = new AbortController();
  fetch(`${URL}${EIO}?EIO=4&transport=polling&sid=${sid}`, { signal: controller.signal }).catch(() => {});
  await sleep(5);
  controller.abort();
  assert.equal((await fetch(`${URL}${EIO}?EIO=4&transport=polling&sid=${sid}`)).status, 400);
});

test('engine.io: WebSocket text and binary echo; an invalid packet closes', async () => {
  const socket = new Ws(`${WS_URL}${EIO}?EIO=4&transport=websocket`);
  await socket.opened;
  await socket.next(); // handshake
  socket.send('4hello');
  assert.equal(await socket.next(), '4hello');
  socket.send(Uint8Array.from([1, 2, 3, 4]));
  assert.deepEqual(await socket.next(), bytes(1, 2, 3, 4));
  socket.send('abc');
  await socket.closed;
});

// ================================================================ Socket.IO (/socket.io/)

test('socket.io connect: main and custom namespace, with and without a payload', async () => {
  for (const [send, prefix, auth] of [['40', '40', '42["auth",{}]'], ['40{"token":"123"}', '40', '42["auth",{"token":"123"}]'],
    ['40/custom,', '40/custom,', '42/custom,["auth",{}]'],
    ['40/custom,{"token":"abc"}', '40/custom,', '42/custom,["auth",{"token":"abc"}]']]) {
    const socket = new Ws(`${WS_URL}/socket.io/?EIO=4&transport=websocket`);
    await socket.next(); // Engine.IO handshake
    socket.send(send);
    const data = await socket.next();
    assert.ok(data.startsWith(prefix), data);
    const handshake = JSON.parse(data.substring(prefix.length));
    assert.deepEqual(Object.keys(handshake), ['sid']);
    assert.equal(typeof handshake.sid, 'string');
    assert.equal(await socket.next(), auth);
    socket.close();
  }
});

test('socket.io connect: unknown namespace, invalid handshake, no handshake', async () => {
  let socket = new Ws(`${WS_URL}/socket.io/?EIO=4&transport=websocket`);
  await socket.next();
  socket.send('40/random');
  assert.equal(await socket.next(), '44/random,{"message":"Invalid namespace"}');
  socket.close();
  socket = new Ws(`${WS_URL}/socket.io/?EIO=4&transport=websocket`);
  await socket.next();
  socket.send('4abc');
  await socket.closed;
  socket = new Ws(`${WS_URL}/socket.io/?EIO=4&transport=websocket`);
  const t0 = Date.now();
  socket.ws.on('message', (d) => { if (String(d) === '2') socket.send('3'); }); // alive, just silent
  await socket.closed; // connectTimeout
  assert.ok(Date.now() - t0 >= 950 && Date.now() - t0 < 1300, `closed after ${Date.now() - t0} ms`);
});

test('socket.io disconnect: from "/" (the connection stays), from "/custom"', async () => {
  let socket = await initSocketIOConnection();
  socket.send('41');
  assert.equal(await socket.next(), '2');
  socket.close();
  socket = await initSocketIOConnection();
  assert.equal(await socket.next(), '2'); // ping
  socket.send('40/custom');
  await socket.next(); // Socket.IO handshake
  await socket.next(); // auth packet
  socket.send('41/custom');
  socket.send('42["message","message to main namespace"]');
  assert.equal(await socket.next(), '42["message-back","message to main namespace"]');
  socket.close();
});

test('socket.io messages: plain, binary attachments, acks, binary acks', async () => {
  let socket = await initSocketIOConnection();
  socket.send('42["message",1,"2",{"3":[true]}]');
  assert.equal(await socket.next(), '42["message-back",1,"2",{"3":[true]}]');
  socket.close();

  socket = await initSocketIOConnection();
  socket.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
  socket.send(Uint8Array.from([1, 2, 3]));
  socket.send(Uint8Array.from([4, 5, 6]));
  assert.deepEqual(await socket.packets(3), [
    '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', bytes(1, 2, 3), bytes(4, 5, 6)]);
  socket.close();

  socket = await initSocketIOConnection();
  socket.send('42456["message-with-ack",1,"2",{"3":[false]}]');
  assert.equal(await socket.next(), '43456[1,"2",{"3":[false]}]');
  socket.close();

  socket = await initSocketIOConnection();
  socket.send('452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
  socket.send(Uint8Array.from([1, 2, 3]));
  socket.send(Uint8Array.from([4, 5, 6]));
  assert.deepEqual(await socket.packets(3), [
    '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', bytes(1, 2, 3), bytes(4, 5, 6)]);
  socket.close();
});

test('socket.io: invalid formats close the connection', async () => {
  for (const bad of ['4abc', '42{}', '42abc["message-with-ack",1,"2",{"3":[false]}]']) {
    const socket = await initSocketIOConnection();
    socket.send(bad);
    await socket.closed;
  }
});

test('socket.io over polling: auth, message-back and binary attachments as base64', async () => {
  const sid = await initLongPollingSession('/socket.io/');
  const at = `${URL}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  const p1 = await fetch(at, { method: 'post', body: '40/custom,{"token":"t"}' });
  assert.equal(await p1.text(), 'ok');
  const r1 = (await (await fetch(at)).text()).split('\x1e');
  assert.match(r1[0], /^40\/custom,\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
  assert.equal(r1[1], '42/custom,["auth",{"token":"t"}]');
  await fetch(at, { method: 'post', body: '451-/custom,["message",{"_placeholder":true,"num":0}]\x1ebAQID' });
  const r2 = (await (await fetch(at)).text()).split('\x1e').filter((p) => p !== '2');
  assert.deepEqual(r2, ['451-/custom,["message-back",{"_placeholder":true,"num":0}]', 'bAQID']);
});
