// sio.js - the Socket.IO transport: one Manager (one Engine.IO connection) carrying namespace
// "/" for job and queue rooms and "/logs" for the log stream. After a reconnect the server may
// recover the session (connection-state recovery: socket.recovered, its rooms restored and the
// missed events replayed); otherwise it is a fresh session and every follow is subscribed
// again. Room events carry the server's offset as a trailing argument: listeners take only
// what they need and ignore it. Not the model: events go to a sink.
//
// The client library is the gateway's own /socket.io/socket.io.js, loaded on first use so that
// EventSource mode works even where the Socket.IO endpoint is absent.

let loading = null;

export function loadSocketIo(base) {
  if (window.io) return Promise.resolve(window.io);
  if (loading) return loading;
  loading = new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = `${base}/socket.io/socket.io.js`;
    s.onload = () => (window.io ? resolve(window.io) : reject(new Error('socket.io.js defined no io')));
    s.onerror = () => {
      loading = null;
      s.remove();
      reject(new Error(`cannot load ${s.src}`));
    };
    document.head.appendChild(s);
  });
  return loading;
}

function subscribeArgs(f) {
  if (f.kind === 'queue') return ['subscribe-queue', 'unsubscribe-queue', f.name];
  return ['subscribe-job', 'unsubscribe-job', f.queue ? { jobId: f.id, queue: f.queue } : f.id];
}

// sink: same shape as SseTransport's.
export class SioTransport {
  constructor(base, sink, { path = '/socket.io/', ackTimeoutMs = 5000 } = {}) {
    this.base = base;
    this.sink = sink;
    this.path = path;
    this.ackTimeoutMs = ackTimeoutMs;
    this.follows = new Map(); // key -> follow, what should be subscribed
    this.session = new Map(); // key -> follow, what the server's session has subscribed
    this.everConnected = false;
    this.closed = false;
    this.attempt = 0;
    this.lastState = '';
  }

  get name() { return 'socketio'; }

  async start() {
    this._state('connecting', 'loading client');
    let io;
    try {
      io = await loadSocketIo(this.base);
    } catch (e) {
      this._state('failed', e.message);
      throw e;
    }
    if (this.closed) return;
    this.manager = new io.Manager(this.base || window.location.origin, {
      path: this.path,
      transports: ['polling', 'websocket'],
      reconnectionDelay: 500,
      reconnectionDelayMax: 3000,
      timeout: 5000,
    });
    this.socket = this.manager.socket('/');
    this.logs = this.manager.socket('/logs');
    const mgr = this.manager;
    mgr.on('open', () => {
      mgr.engine.on('upgrade', () => this._connected());
    });
    mgr.on('reconnect_attempt', (n) => {
      this.attempt = n;
      this._state('reconnecting', `attempt ${n}`);
    });
    this.socket.on('connect', () => {
      this.attempt = 0;
      const recovered = this.socket.recovered === true;
      if (!recovered) this.session.clear();
      // A recovered session kept its rooms: only what changed while away is sent.
      for (const [key, f] of this.session) {
        if (this.follows.has(key)) continue;
        this.session.delete(key);
        this.socket.emit(subscribeArgs(f)[1], subscribeArgs(f)[2]);
      }
      for (const f of this.follows.values()) {
        if (this.session.has(f.key)) this.sink.followStatus(f.key, { live: true, error: null });
        else this._subscribe(f);
      }
      if (this.everConnected && this.sink.recovery) this.sink.recovery(recovered);
      this.everConnected = true;
      this._connected();
    });
    this.socket.on('disconnect', (reason) => {
      if (this.closed) return;
      for (const key of this.follows.keys()) this.sink.followStatus(key, { live: false, error: null });
      this._state('reconnecting', reason);
    });
    this.socket.on('connect_error', (err) => {
      if (this.socket.active) this._state(this.attempt ? 'reconnecting' : 'connecting', err.message);
      else this._state('failed', err.message); // refused by the server's middleware: no retry
    });
    this.socket.onAny((name, payload /* , offset: ignored */) => {
      if (name === 'gap') this.sink.gap(payload, 'socket.io');
      else if (payload && typeof payload === 'object' && payload.jobId !== undefined) this.sink.jobEvent(name, payload, {});
    });
    this.logs.on('log', (e) => {
      if (e && typeof e === 'object') this.sink.log(e);
    });
  }

  sync(follows) {
    const want = new Map(follows.map((f) => [f.key, f]));
    for (const [key, f] of this.follows) {
      if (!want.has(key)) {
        this.follows.delete(key);
        if (this.socket && this.socket.connected) {
          this.session.delete(key);
          this.socket.emit(subscribeArgs(f)[1], subscribeArgs(f)[2]);
        }
      }
    }
    for (const [key, f] of want) {
      if (this.follows.has(key)) continue;
      this.follows.set(key, f);
      if (this.socket && this.socket.connected) this._subscribe(f);
    }
  }

  close() {
    this.closed = true;
    if (this.socket) this.socket.disconnect();
    if (this.logs) this.logs.disconnect();
  }

  _subscribe(f) {
    const [ev, , arg] = subscribeArgs(f);
    this.session.set(f.key, f);
    this.socket.timeout(this.ackTimeoutMs).emit(ev, arg, (err, res) => {
      if (this.closed || !this.follows.has(f.key)) return;
      if (err || (res && res.success === false)) this.session.delete(f.key);
      if (err) this.sink.followStatus(f.key, { live: false, error: `no answer to ${ev}` });
      else if (res && res.success === false) this.sink.followStatus(f.key, { live: false, error: String(res.error || 'refused') });
      else this.sink.followStatus(f.key, { live: true, error: null });
    });
  }

  _connected() {
    const eng = this.manager && this.manager.engine;
    const t = eng && eng.transport ? eng.transport.name : '?';
    this._state('connected', t, t);
  }

  _state(phase, detail, transport = '') {
    if (this.closed) return;
    const key = `${phase} ${detail} ${transport}`;
    if (key === this.lastState) return;
    this.lastState = key;
    this.sink.state({ phase, transport: transport || 'socketio', detail });
  }
}
