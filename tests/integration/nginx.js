// Debian's nginx for the integration tests: conf/nginx.conf templated onto free loopback ports,
// run unprivileged in the foreground with a scratch prefix (pid file, temp paths) of its own.
'use strict';
const { spawn } = require('node:child_process');
const { once } = require('node:events');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const lib = require('./lib');

const CONF = path.join(lib.ROOT, 'conf', 'nginx.conf');
const NGINX = process.env.NGINX_PATH || '/usr/sbin/nginx';
const missing = fs.existsSync(NGINX) ? null : `${NGINX} not found: apt-get install -y nginx (or set NGINX_PATH)`;
// Skipping is for a developer without nginx; CI installs it, so there it must run.
if (missing && process.env.CI) throw new Error(`CI without nginx: ${missing}`);

// conf/nginx.conf with the public listener on `listen` and one upstream server line per port in
// every upstream block (the file lists 8081 and 8082; 8080 is the listener).
function templateNginx(text, listen, ports) {
  let out = text.replace(/^(\s*)listen 127\.0\.0\.1:8080;/m, `$1listen 127.0.0.1:${listen};`);
  out = out.replace(/^(\s*)server 127\.0\.0\.1:8081( [^\n]*)?$/gm,
    (m, indent, rest = '') => ports.map((p) => `${indent}server 127.0.0.1:${p}${rest}`).join('\n'));
  out = out.replace(/^\s*server 127\.0\.0\.1:8082( [^\n]*)?\n/gm, '');
  const settings = out.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');
  if (/:808[0-2]\b/.test(settings)) throw new Error('conf/nginx.conf: a port the template does not know');
  return out;
}

function scratchPrefix() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dg-nginx-'));
  fs.chmodSync(d, 0o755); // run as root, nginx's workers (nobody) write proxy_temp under it
  return d;
}

// Starts nginx with conf under prefix; child.exited resolves at its exit. Stop it with SIGQUIT.
function startNginx(prefix, conf) {
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), conf);
  const child = spawn(NGINX, ['-p', prefix, '-e', 'stderr', '-c', path.join(prefix, 'nginx.conf'), '-g', 'daemon off;'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  child.exited = once(child, 'exit');
  child.stderrText = '';
  child.stderr.on('data', (d) => { child.stderrText += d; });
  return child;
}

// nginx in front of the given gateways on a free port; resolves {ngx, base, prefix} once its
// /ready answers 200.
async function nginxFront(gws) {
  const prefix = scratchPrefix();
  const listen = await lib.freePort();
  const ngx = startNginx(prefix, templateNginx(fs.readFileSync(CONF, 'utf8'), listen, gws.map((g) => g.port)));
  const base = `http://127.0.0.1:${listen}`;
  await lib.waitFor(async () => {
    if (ngx.exitCode !== null) throw new Error(`nginx exited ${ngx.exitCode}: ${ngx.stderrText}`);
    try { return (await lib.get(`${base}/ready`)).status === 200; } catch { return false; }
  }, { what: 'nginx in front of dualgate' });
  return { ngx, base, prefix };
}

module.exports = { CONF, NGINX, missing, templateNginx, scratchPrefix, startNginx, nginxFront };
