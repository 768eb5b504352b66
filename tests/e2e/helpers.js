// Helpers for the dashboard's browser tests: Debian's headless Chromium driven by playwright-core,
// a dualgate that can be restarted on the same port (the page must reconnect to where it was),
// BullMQ workers whose progress the test releases step by step, and screenshot paths.
// Everything else (redis-server, waits, HTTP) comes from tests/integration/lib.js.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { once } = require('node:events');
const lib = require('../integration/lib');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const BUILD_DIR = path.resolve(lib.ROOT, process.env.DG_BUILD_DIR || 'build');
const SHOT_DIR = path.join(BUILD_DIR, 'screenshots');

function chromiumMissing() {
  try {
    fs.accessSync(CHROMIUM, fs.constants.X_OK);
    return null;
  } catch {
    return `${CHROMIUM} not found: apt-get install -y chromium (or set CHROMIUM_PATH)`;
  }
}

async function launchBrowser() {
  const { chromium } = require('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

// lib.startGateway picks a new free port on every start; a restart must keep the port the page
// knows, so this starts dualgate on a given one, with lib's conventions (env, readiness, logs).
const children = new Set();
process.on('exit', () => { for (const c of children) try { process.kill(c.pid, 'SIGKILL'); } catch {} });

async function startGatewayAt(redisUrl, port, { env = {} } = {}) {
  const child = spawn(lib.BIN, [], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...lib.baseEnv(), PORT: String(port), REDIS_URL: redisUrl, DUALGATE_BIND: '127.0.0.1',
      DUALGATE_LOG_LEVEL: 'info', DUALGATE_DRAIN_MS: '500', DUALGATE_DOCUMENT_ROOT: path.join(lib.ROOT, 'www'), ...env },
  });
  children.add(child);
  child.exited = once(child, 'exit');
  child.exited.then(() => children.delete(child));
  child.port = port;
  child.base = `http://127.0.0.1:${port}`;
  child.stderrText = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    if (child.stderrText.length < 1 << 20) child.stderrText += d;
    if (process.env.DG_TEST_VERBOSE) process.stderr.write(d);
  });
  await lib.waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`dualgate exited with ${child.exitCode}: ${child.stderrText.slice(-2000)}`);
    try { return (await lib.get(`${child.base}/ready`)).status === 200; } catch { return false; }
  }, { timeout: 15000, what: `dualgate ready on port ${port}` });
  return child;
}

// A BullMQ processor the test steers: data.steps lists progress values; after reporting each one
// the job waits until the test calls release(jobId, value). Without steps it reports 50 and 100.
// data.fail throws that message; otherwise data.ret is returned.
function steeredProcessor() {
  const gates = new Map();
  const gate = (key) => {
    if (!gates.has(key)) {
      let resolve;
      const p = new Promise((r) => { resolve = r; });
      gates.set(key, { p, resolve });
    }
    return gates.get(key);
  };
  async function processor(job) {
    const steps = job.data.steps || [50, 100];
    for (const s of steps) {
      await job.updateProgress(s);
      if (job.data.steps) await gate(`${job.id}:${JSON.stringify(s)}`).p;
    }
    if (job.data.fail) throw new Error(job.data.fail);
    return job.data.ret;
  }
  const release = (jobId, step) => gate(`${jobId}:${JSON.stringify(step)}`).resolve();
  return { processor, release };
}

function shotPath(name) {
  fs.mkdirSync(SHOT_DIR, { recursive: true });
  return path.join(SHOT_DIR, name);
}

module.exports = { CHROMIUM, BUILD_DIR, SHOT_DIR, chromiumMissing, launchBrowser, startGatewayAt,
  steeredProcessor, shotPath };
