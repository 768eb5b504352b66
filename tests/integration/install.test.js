// `cmake --install` into a scratch prefix: the layout, the generated config and systemd unit
// (paths of that prefix), and the installed binary, started from elsewhere against its own
// redis-server, serving the installed page and socket.io client (not the source tree's).
// Also a DESTDIR-staged install for /usr/local (config under /etc) and a re-install that keeps
// an operator's edited config.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const { once } = require('node:events');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const lib = require('./lib');

const BUILD = path.resolve(lib.ROOT, process.env.DG_BUILD_DIR || 'build');
const scratch = [];
let redis;

function mkscratch(tag) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `dg-${tag}-`));
  scratch.push(d);
  return d;
}

function install(prefix, env = {}) {
  return execFileSync('cmake', ['--install', BUILD, '--prefix', prefix],
    { env: { ...process.env, ...env }, encoding: 'utf8' });
}

// Files under dir, relative, sorted.
function files(dir, base = dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p, base) : [path.relative(base, p)];
  }).sort();
}

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const confValue = (text, key) => {
  const m = text.match(new RegExp(`^${key} = "?([^"\\n]*)"?$`, 'm'));
  return m && m[1];
};

test.before(async () => { redis = await lib.startRedis(); });
test.after(async () => {
  await lib.stop(redis);
  for (const d of scratch) fs.rmSync(d, { recursive: true, force: true });
});

test('install into a scratch prefix: layout, config and unit with that prefix', async (t) => {
  const p = mkscratch('prefix');
  install(p);
  const bin = path.join(p, 'bin', 'dualgate');
  fs.accessSync(bin, fs.constants.X_OK);
  const www = path.join(p, 'share', 'dualgate', 'www');
  const srcWww = files(path.join(lib.ROOT, 'www')).filter((f) => f !== 'screenshot.png');
  assert.deepEqual(files(www), srcWww);
  for (const f of srcWww) {
    assert.ok(fs.readFileSync(path.join(www, f)).equals(fs.readFileSync(path.join(lib.ROOT, 'www', f))), f);
  }
  for (const f of ['socket.io.js', 'socket.io.min.js']) {
    assert.ok(fs.readFileSync(path.join(p, 'share', 'dualgate', f)).equals(fs.readFileSync(path.join(BUILD, f))), f);
  }
  for (const f of ['README.md', 'nginx.conf', 'dualgate.conf']) fs.accessSync(path.join(p, 'share', 'doc', 'dualgate', f));

  const confPath = path.join(p, 'etc', 'dualgate', 'dualgate.conf');
  const conf = fs.readFileSync(confPath, 'utf8');
  assert.equal(confValue(conf, 'document_root'), www);
  assert.equal(confValue(conf, 'socketio_client_js'), path.join(p, 'share', 'dualgate', 'socket.io.js'));
  const check = execFileSync(bin, ['--check-config', '--config', confPath], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  assert.match(check, new RegExp(`^document_root = "?${esc(www)}"?$`, 'm'));

  const unitPath = path.join(p, 'lib', 'systemd', 'system', 'dualgate.service');
  const unit = fs.readFileSync(unitPath, 'utf8');
  assert.match(unit, new RegExp(`^ExecStart=${esc(bin)} --config ${esc(confPath)}$`, 'm'));
  assert.match(unit, new RegExp(`^EnvironmentFile=-${esc(path.join(p, 'etc', 'dualgate', 'dualgate.env'))}$`, 'm'));
  const settings = unit.split('\n').filter((l) => l && !l.startsWith('#')).join('\n');
  assert.doesNotMatch(settings, /\/usr\/local\/|[= ]\/etc\/dualgate/, 'every path is the prefix\'s');
  const sa = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8' });
  if (sa.error) t.diagnostic('systemd-analyze not available: unit not verified');
  else assert.equal(sa.status, 0, `systemd-analyze verify: ${sa.stdout}${sa.stderr}`);
});

test('the installed binary serves the installed page and client', async () => {
  const p = mkscratch('serve');
  install(p);
  const www = path.join(p, 'share', 'dualgate', 'www');
  // Only the installed tree has this file: it proves which document_root is served.
  fs.writeFileSync(path.join(www, 'installed-marker.txt'), `installed in ${p}\n`);
  const port = await lib.freePort();
  const gw = spawn(path.join(p, 'bin', 'dualgate'), ['--config', path.join(p, 'etc', 'dualgate', 'dualgate.conf')], {
    cwd: os.tmpdir(),
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...lib.baseEnv(), PORT: String(port), REDIS_URL: redis.url },
  });
  gw.exited = once(gw, 'exit');
  let stderr = '';
  gw.stderr.on('data', (d) => { stderr += d; });
  const base = `http://127.0.0.1:${port}`;
  try {
    await lib.waitFor(async () => {
      if (gw.exitCode !== null) throw new Error(`installed dualgate exited ${gw.exitCode}: ${stderr}`);
      try { return (await lib.get(`${base}/ready`)).status === 200; } catch { return false; }
    }, { what: 'installed dualgate ready' });
    const marker = await lib.get(`${base}/installed-marker.txt`);
    assert.equal(marker.status, 200);
    assert.equal(marker.body, `installed in ${p}\n`);
    const index = await lib.get(`${base}/`);
    assert.equal(index.status, 200);
    assert.equal(index.body, fs.readFileSync(path.join(www, 'index.html'), 'utf8'));
    const model = await lib.get(`${base}/js/model.js`);
    assert.equal(model.status, 200);
    for (const f of ['socket.io.js', 'socket.io.min.js']) {
      const r = await lib.get(`${base}/socket.io/${f}`);
      assert.equal(r.status, 200, f);
      assert.match(r.headers['content-type'], /javascript/);
      assert.equal(r.body, fs.readFileSync(path.join(p, 'share', 'dualgate', f), 'utf8'), f);
    }
    assert.doesNotMatch(stderr, /client library not found/);
  } finally {
    const r = await lib.stop(gw);
    if (r) assert.equal(r.code, 0, `installed dualgate exit ${JSON.stringify(r)}: ${stderr.slice(-2000)}`);
  }
});

test('a staged install for /usr/local puts the config under /etc and keeps edited configs', () => {
  const dest = mkscratch('destdir');
  install('/usr/local', { DESTDIR: dest });
  const conf = path.join(dest, 'etc', 'dualgate', 'dualgate.conf');
  assert.equal(confValue(fs.readFileSync(conf, 'utf8'), 'document_root'), '/usr/local/share/dualgate/www');
  const unit = fs.readFileSync(path.join(dest, 'usr', 'local', 'lib', 'systemd', 'system', 'dualgate.service'), 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/local\/bin\/dualgate --config \/etc\/dualgate\/dualgate.conf$/m);
  fs.accessSync(path.join(dest, 'usr', 'local', 'bin', 'dualgate'), fs.constants.X_OK);

  fs.appendFileSync(conf, 'max_connections = 5000\n');
  const edited = fs.readFileSync(conf, 'utf8');
  const out = install('/usr/local', { DESTDIR: dest });
  assert.match(out, /keeping \/etc\/dualgate\/dualgate.conf/);
  assert.equal(fs.readFileSync(conf, 'utf8'), edited);
  assert.equal(confValue(fs.readFileSync(`${conf}.new`, 'utf8'), 'max_connections'), '1000');
});
