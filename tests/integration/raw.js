// Raw protocol clients for the hostile and stalled-client tests: a WebSocket over a plain TCP
// socket (masked client frames, unmasked server frames parsed by hand) and raw HTTP / SSE
// sockets, so a test can stop reading, trickle bytes, announce huge frames or stay silent,
// which real client libraries never do. Every socket is destroyed by the test that opened it.
'use strict';
const net = require('node:net');
const crypto = require('node:crypto');
const { EventEmitter } = require('node:events');

// A TCP connection that records whether it ended with EOF or a reset.
function dial(port) {
  const s = net.connect({ port, host: '127.0.0.1' });
  s.ended = new Promise((resolve) => {
    let how = null;
    s.on('error', (e) => { how = how || (e.code === 'ECONNRESET' ? 'reset' : e.code); });
    s.on('end', () => { how = how || 'eof'; });
    s.on('close', () => resolve(how || 'closed'));
  });
  s.opened = new Promise((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
  return s;
}

// Server frames from a byte stream: {fin, opcode, payload}.
class FrameReader {
  constructor() { this.buf = Buffer.alloc(0); }
  push(chunk) {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out = [];
    for (;;) {
      if (this.buf.length < 2) break;
      const b0 = this.buf[0], b1 = this.buf[1];
      let len = b1 & 0x7f, off = 2;
      if (len === 126) { if (this.buf.length < 4) break; len = this.buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (this.buf.length < 10) break; len = Number(this.buf.readBigUInt64BE(2)); off = 10; }
      if (this.buf.length < off + len) break;
      out.push({ fin: !!(b0 & 0x80), opcode: b0 & 0x0f, payload: this.buf.subarray(off, off + len) });
      this.buf = this.buf.subarray(off + len);
    }
    return out;
  }
}

// A masked client frame header for a payload of len bytes (len may be huge: only the header).
function frameHeader(opcode, len, { fin = true, mask = Buffer.from([1, 2, 3, 4]) } = {}) {
  let h;
  if (len < 126) { h = Buffer.alloc(2); h[1] = 0x80 | len; }
  else if (len < 65536) { h = Buffer.alloc(4); h[1] = 0x80 | 126; h.writeUInt16BE(len, 2); }
  else { h = Buffer.alloc(10); h[1] = 0x80 | 127; h.writeBigUInt64BE(BigInt(len), 2); }
  h[0] = (fin ? 0x80 : 0) | opcode;
  return Buffer.concat([h, mask]);
}

function maskedFrame(opcode, payload, opts) {
  const mask = crypto.randomBytes(4);
  const data = Buffer.from(payload);
  for (let i = 0; i < data.length; i++) data[i] ^= mask[i & 3];
  return Buffer.concat([frameHeader(opcode, data.length, { ...opts, mask }), data]);
}

// A WebSocket client on a raw socket. Emits 'frame' {opcode, payload}; texts are collected in
// .texts; .status is the HTTP status of the handshake answer.
class RawWs extends EventEmitter {
  constructor(port, path) {
    super();
    this.sock = dial(port);
    this.texts = [];
    this.closeCode = null;
    this.head = '';
    const reader = new FrameReader();
    let raw = Buffer.alloc(0), inHead = true;
    this.ready = new Promise((resolve, reject) => {
      this.sock.once('error', reject);
      this.sock.on('data', (d) => {
        if (inHead) {
          raw = Buffer.concat([raw, d]);
          const i = raw.indexOf('\r\n\r\n');
          if (i < 0) return;
          this.head = raw.subarray(0, i).toString();
          this.status = Number(this.head.split(' ')[1]);
          inHead = false;
          d = raw.subarray(i + 4);
          if (this.status !== 101) { this.body = d.toString(); resolve(this); return; }
          resolve(this);
        }
        for (const f of reader.push(d)) {
          if (f.opcode === 1) this.texts.push(f.payload.toString());
          if (f.opcode === 8) this.closeCode = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
          this.emit('frame', f);
        }
      });
    });
    this.sock.opened.then(() => {
      this.sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    }, () => {});
  }
  // Resolves with the next text frame (waiting for it), rejects after timeout ms.
  async nextText(timeout = 5000) {
    if (this.texts.length) return this.texts.shift();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.off('frame', on); reject(new Error('no text frame')); }, timeout);
      const on = () => { if (this.texts.length) { clearTimeout(t); this.off('frame', on); resolve(this.texts.shift()); } };
      this.on('frame', on);
    });
  }
  sendText(s) { this.sock.write(maskedFrame(1, s)); }
  write(b) { this.sock.write(b); }
  pause() { this.sock.pause(); }
  destroy() { this.sock.destroy(); }
  get ended() { return this.sock.ended; }
}

// Opens a Socket.IO session over a raw WebSocket and connects namespace "/": resolves once the
// CONNECT answer came. Optionally subscribes to a job.
async function rawSocketIo(port, { job, path = '/socket.io/?EIO=4&transport=websocket' } = {}) {
  const ws = new RawWs(port, path);
  await ws.ready;
  if (ws.status !== 101) throw new Error(`handshake answered ${ws.status}`);
  const open = await ws.nextText();
  ws.sid = JSON.parse(open.slice(1)).sid;
  ws.sendText('40');
  for (;;) { const t = await ws.nextText(); if (t.startsWith('40')) break; }
  if (job) ws.sendText(`42["subscribe-job","${job}"]`);
  return ws;
}

// A raw HTTP request on its own socket; .response resolves with the whole answer text (to EOF).
function rawHttp(port, text) {
  const s = dial(port);
  let out = '';
  s.on('data', (d) => { out += d; });
  s.response = s.ended.then(() => out);
  s.opened.then(() => { if (text) s.write(text); }, () => {});
  return s;
}

module.exports = { dial, RawWs, rawSocketIo, rawHttp, frameHeader, maskedFrame, FrameReader };
