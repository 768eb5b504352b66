// The dashboard (www/) in headless Chromium against a real redis-server, real BullMQ jobs and
// dualgate, once over Socket.IO and once over EventSource: completed job with its return value,
// failed job with its reason, progress moving, log lines (filter, pause), a queue follow, and a
// dualgate restart the page must survive. Waits on page conditions only; screenshots go to
// $DG_BUILD_DIR/screenshots/ (DG_UPDATE_SCREENSHOT=1 also refreshes www/screenshot.png).
'use strict';
const FULL_EVENTS = ['added', 'waiting', 'active', 'progress', 'progress', 'completed'];
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Queue, Worker } = require('bullmq');
const lib = require('../integration/lib');
const h = require('./helpers');

const QUEUES = ['http', 'sparql', 'techstack', 'analyzer'];
const GW_ENV = { DUALGATE_HEARTBEAT_MS: '1000', DUALGATE_SSE_RETRY_MS: '1000' };
const missing = h.chromiumMissing();
// Skipping is for a developer without Chromium; CI installs it, so there it must run.
if (missing && process.env.CI) throw new Error(`CI without Chromium: ${missing}`);
let redis, gw, port, rc, browser;
const queues = {}, workers = {};
const steer = h.steeredProcessor();
const enc = encodeURIComponent;

test.before(async () => {
  if (missing) return;
  redis = await lib.startRedis();
  port = await lib.freePort();
  gw = await h.startGatewayAt(redis.url, port, { env: GW_ENV });
  rc = lib.redisClient(redis.url);
  const connection = { host: '127.0.0.1', port: redis.port };
  for (const q of QUEUES) {
    queues[q] = new Queue(q, { connection });
    workers[q] = new Worker(q, steer.processor, { connection, concurrency: 4 });
  }
  await Promise.all(Object.values(workers).map((w) => w.waitUntilReady()));
  browser = await h.launchBrowser();
});

test.after(async () => {
  if (browser) await browser.close();
  // force: a failed run may leave a steered job waiting at a gate forever.
  await Promise.all(Object.values(workers).map((w) => w.close(true)));
  await Promise.all(Object.values(queues).map((q) => q.close()));
  if (rc) rc.disconnect();
  if (gw) await stopGateway();
  await lib.stop(redis);
});

// dualgate must exit 0 on SIGTERM (under ASan a leak or an error report makes it non-zero).
async function stopGateway() {
  const g = gw;
  gw = null;
  const r = await lib.stop(g);
  if (r) assert.equal(r.code, 0, `dualgate exit ${JSON.stringify(r)}: ${g.stderrText.slice(-3000)}`);
}

const card = (id, queue) => `article.job[data-job-id="${id}"][data-queue="${queue}"]`;
const text = (page, sel) => page.$eval(sel, (e) => e.textContent);

// Every follow chip reports its subscription live (SSE stream open / Socket.IO ack received).
async function allLive(page, n) {
  await page.waitForFunction((count) => {
    const chips = [...document.querySelectorAll('#follows li.follow')];
    return chips.length === count && chips.every((c) => c.classList.contains('live'));
  }, n, { timeout: 20000 });
}

async function logShown(page, msg, timeout = 15000) {
  await page.waitForFunction((m) => [...document.querySelectorAll('#log-list li.log .msg')]
    .some((x) => x.textContent === m), msg, { timeout });
}

function xlog(level, ns, msg) {
  return rc.xadd('dualgate:logs', '*', 'ts', new Date().toISOString(), 'level', level, 'ns', ns, 'msg', msg);
}

async function followByForm(page, id, queue) {
  await page.fill('#job-id', id);
  await page.selectOption('#queue', queue);
  await page.click('#follow-job');
  await page.waitForSelector(`#follows li[data-key="${`j:${queue || '*'}:${id}`}"]`);
}

async function scenario(mode, switchTo) {
  const P = `e2e-${mode}-`;
  const ids = { ok: `${P}ok`, bad: `${P}bad`, slow: `${P}slow`, typed: `${P}typed`, inq: `${P}inq`,
    down: `${P}down`, after: `${P}after` };
  const errors = [];
  const page = await browser.newPage({ viewport: { width: 1440, height: 1100 } });
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    // Followed from the URL: two jobs on any queue, one pinned to http, the sparql queue.
    await page.goto(`${gw.base}/?job=${enc(ids.ok)}&job=${enc(ids.bad)}&qjob=http:${enc(ids.slow)}` +
      `&queue=sparql&transport=${mode}`);
    await page.waitForSelector(`article.job.placeholder[data-job-id="${ids.ok}"]`);
    await page.waitForSelector('#conn[data-phase="connected"]', { timeout: 20000 });
    const via = await page.$eval('#conn', (e) => e.dataset.transport);
    assert.ok(mode === 'sse' ? via === 'sse' : ['websocket', 'polling'].includes(via), `transport shown: ${via}`);
    await allLive(page, 4);
    // More follows typed into the form; over SSE this passes the per-host connection budget, so
    // the page moves its jobs onto per-queue streams.
    await followByForm(page, ids.typed, 'techstack');
    await followByForm(page, ids.after, '');
    await followByForm(page, ids.down, '');
    await allLive(page, 7);
    if (mode === 'sse') assert.match(await text(page, '#conn'), /by queue/);
    assert.match(page.url(), /qjob=techstack%3Ae2e-/, 'the address is a share link of the follows');

    const ret = { ok: true, mode, text: 'héllo "quoted"\nline2' };
    const reason = `boom (${mode}): "bad" thing\nsecond line`;
    await queues.http.add('e2e-ok', { ret }, { jobId: ids.ok });
    await queues.analyzer.add('e2e-bad', { fail: reason }, { jobId: ids.bad });
    await queues.http.add('e2e-slow', { steps: [30, 60], ret: 'slow done' }, { jobId: ids.slow });
    await queues.techstack.add('e2e-typed', { ret: 42 }, { jobId: ids.typed });
    await queues.sparql.add('e2e-inq', { ret: { q: 'sparql' } }, { jobId: ids.inq });
    await xlog('warn', 'e2e', `log line ${mode} 1`);

    // A completed job: its return value and a full timeline.
    const ok = card(ids.ok, 'http');
    await page.waitForSelector(`${ok}[data-state="completed"] .returnvalue`, { timeout: 20000 });
    assert.deepEqual(JSON.parse(await text(page, `${ok} .returnvalue`)), ret);
    assert.equal(await page.$eval(ok, (e) => e.dataset.progress), '100');
    const stages = await page.$$eval(`${ok} .timeline li.reached`, (l) => l.map((x) => x.dataset.stage));
    assert.deepEqual(stages, ['waiting', 'active', 'progress', 'done']);
    const evs = await page.$$eval(`${ok} .events li[data-event]`, (l) => l.map((x) => x.dataset.event));
    assert.deepEqual(evs, ['added', 'waiting', 'active', 'progress', 'progress', 'completed']);
    assert.match(await text(page, `${ok} .events li[data-event="completed"] time`), /^\d\d:\d\d:\d\d\.\d{3}$/);

    // A failed job: its reason, verbatim.
    const bad = card(ids.bad, 'analyzer');
    await page.waitForSelector(`${bad}[data-state="failed"] .failed-reason`);
    assert.equal(await text(page, `${bad} .failed-reason`), reason);
    await page.waitForSelector(`${bad} .events li[data-event="retries-exhausted"]`, { state: 'attached' });

    // Progress moving: the worker waits at each step until the page has shown it.
    const slow = card(ids.slow, 'http');
    await page.waitForSelector(`${slow}[data-state="active"][data-progress="30"]`);
    assert.equal(await page.$eval(`${slow} .bar`, (e) => e.style.width), '30%');
    steer.release(ids.slow, 30);
    await page.waitForSelector(`${slow}[data-state="active"][data-progress="60"]`);
    steer.release(ids.slow, 60);
    await page.waitForSelector(`${slow}[data-state="completed"] .returnvalue`);
    assert.equal(await text(page, `${slow} .returnvalue`), '"slow done"');

    // The typed follow and a job seen only through the queue follow.
    await page.waitForSelector(`${card(ids.typed, 'techstack')}[data-state="completed"]`);
    assert.equal(await text(page, `${card(ids.typed, 'techstack')} .returnvalue`), '42');
    await page.waitForSelector(`${card(ids.inq, 'sparql')}[data-state="completed"]`);

    // Newest first: the typed follows were made last, the URL ones first.
    const order = await page.$$eval('#job-list > article.job', (l) => l.map((x) => x.dataset.jobId));
    assert.ok(order.indexOf(ids.typed) < order.indexOf(ids.ok), order.join(' '));

    // Logs: colour by level, level and namespace filters, pause and resume.
    await logShown(page, `log line ${mode} 1`);
    const row = `#log-list li.log[data-ns="e2e"]`;
    assert.ok(await page.$eval(row, (e) => e.classList.contains('lvl-warn')));
    await page.selectOption('#log-level', 'error');
    assert.equal(await page.$(row), null, 'warn hidden at level >= error');
    await page.selectOption('#log-level', 'trace');
    await page.fill('#log-ns', 'other');
    assert.equal(await page.$(row), null, 'hidden by namespace');
    await page.fill('#log-ns', 'e2e');
    await page.waitForSelector(row);
    await page.click('#log-pause');
    await xlog('error', 'e2e', `log line ${mode} 2`);
    await page.waitForFunction(() => /paused, 1 new/.test(document.getElementById('log-stats').textContent));
    assert.equal(await page.$$eval(`${row}`, (l) => l.length), 1, 'nothing drawn while paused');
    await page.click('#log-pause');
    await logShown(page, `log line ${mode} 2`);
    assert.match(await text(page, `${row}.lvl-error .msg`), new RegExp(`log line ${mode} 2`));
    await page.fill('#log-ns', '');
    await page.screenshot({ path: h.shotPath(`dashboard-${mode}.png`) });

    // dualgate restarts on the same port: the page notices, reconnects, follows again.
    await stopGateway();
    await page.waitForSelector('#conn[data-phase="reconnecting"]', { timeout: 20000 });
    {
      // Runs while nobody forwards it: EventSource's Last-Event-ID resume, Socket.IO's
      // connection-state recovery (the session is in Redis) must bring it back.
      await queues.techstack.add('e2e-down', { ret: 'while down' }, { jobId: ids.down });
      await lib.waitFor(async () => (await queues.techstack.getJobState(ids.down)) === 'completed',
        { what: 'job run while dualgate is down' });
    }
    gw = await h.startGatewayAt(redis.url, port, { env: GW_ENV });
    await page.waitForSelector('#conn[data-phase="connected"]', { timeout: 30000 });
    await allLive(page, 7);
    if (mode === 'socketio') {
      // The page says how it came back: the session was recovered (socket.recovered).
      await page.waitForSelector('#recovery:not([hidden])');
      assert.match(await text(page, '#recovery'), /^reconnected \d\d:\d\d:\d\d\.\d{3}, nothing missed$/);
    }
    {
      const down = card(ids.down, 'techstack');
      await page.waitForSelector(`${down}[data-state="completed"]`);
      assert.equal(await text(page, `${down} .returnvalue`), '"while down"');
      // every event it missed, once each, replayed rather than summed up by a state
      const evs = await page.$$eval(`${down} .events li[data-event]`, (l) => l.map((x) => x.dataset.event));
      assert.deepEqual(evs.filter((e) => e !== 'state'), FULL_EVENTS, evs.join(' '));
    }
    await queues.analyzer.add('e2e-after', { ret: { after: 'restart' } }, { jobId: ids.after });
    await page.waitForSelector(`${card(ids.after, 'analyzer')}[data-state="completed"]`, { timeout: 20000 });
    assert.deepEqual(JSON.parse(await text(page, `${card(ids.after, 'analyzer')} .returnvalue`)), { after: 'restart' });
    await xlog('info', 'e2e', `log line ${mode} after restart`);
    await logShown(page, `log line ${mode} after restart`);
    // The health strip counts this page's connections on the new instance.
    await page.waitForFunction((m) => {
      const d = document.getElementById('health').dataset;
      return d.status === 'ok' && (m === 'sse' ? Number(d.sse) >= 5 : Number(d.websocket) + Number(d.polling) >= 1);
    }, mode, { timeout: 15000 });
    await page.$eval('#log-ns', (e) => e.blur());
    await page.screenshot({ path: h.shotPath(`dashboard-${mode}-after-restart.png`), fullPage: true });

    if (switchTo) {
      // The transport switch: same follows over the other transport; a job id run again shows
      // as a second run on its card.
      await page.click(`#t-${switchTo}`);
      await page.waitForFunction((want) => {
        const c = document.getElementById('conn');
        return c.dataset.phase === 'connected' && (want === 'sse') === (c.dataset.transport === 'sse');
      }, switchTo, { timeout: 20000 });
      await allLive(page, 7);
      assert.match(page.url(), new RegExp(`transport=${switchTo}`));
      await queues.analyzer.remove(ids.after);
      await queues.analyzer.add('e2e-after', { ret: { after: 'switch' } }, { jobId: ids.after });
      const after = card(ids.after, 'analyzer');
      await page.waitForFunction((sel) => /"switch"/.test(document.querySelector(`${sel} .returnvalue`)?.textContent || ''),
        after, { timeout: 20000 });
      assert.match(await text(page, `${after} .job-state`), /completed · run 2/);
    }

    // The same page on a phone-sized screen stays usable (one column).
    await page.setViewportSize({ width: 420, height: 900 });
    await page.screenshot({ path: h.shotPath(`dashboard-${mode}-narrow.png`) });
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
  } catch (e) {
    // What the page showed when it went wrong, for CI logs.
    await page.screenshot({ path: h.shotPath(`dashboard-${mode}-failure.png`), fullPage: true }).catch(() => {});
    const state = await page.evaluate(() => ({
      conn: document.getElementById('conn').textContent,
      follows: [...document.querySelectorAll('#follows li')].map((x) => `${x.className} ${x.textContent}`),
      notices: document.getElementById('notices').textContent,
    })).catch(() => ({}));
    e.message += `\npage: ${JSON.stringify(state)}\npage errors: ${JSON.stringify(errors)}`;
    throw e;
  } finally {
    await page.close();
  }
}

test('dashboard over EventSource', { skip: missing || false, timeout: 180000 }, async () => {
  await scenario('sse', 'socketio');
  if (process.env.DG_UPDATE_SCREENSHOT === '1') {
    fs.copyFileSync(h.shotPath('dashboard-sse-after-restart.png'), path.join(lib.ROOT, 'www', 'screenshot.png'));
  }
});

test('dashboard over Socket.IO', { skip: missing || false, timeout: 180000 }, async () => {
  await scenario('socketio', 'sse');
});

test('page on another origin (?gateway=, CORS); an unknown queue is reported on its follow',
  { skip: missing || false, timeout: 60000 }, async () => {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    try {
      // localhost and 127.0.0.1 are different origins to the browser.
      await page.goto(`http://localhost:${port}/?gateway=${enc(gw.base)}&queue=nope&job=x-origin&transport=sse`);
      await page.waitForSelector('#follows li.live[data-key="j:*:x-origin"]', { timeout: 20000 });
      await page.waitForSelector('#follows li.error[data-key="q:nope"]', { timeout: 20000 });
      assert.match(await text(page, '#follows li.error[data-key="q:nope"] .follow-error'), /unknown queue/);
      await page.waitForSelector('#health[data-status="ok"]');
      assert.equal(await text(page, '#h-gateway'), gw.base);
      await queues.sparql.add('x', { ret: 'cross-origin' }, { jobId: 'x-origin' });
      await page.waitForSelector(`${card('x-origin', 'sparql')}[data-state="completed"]`);
      await page.click('#t-socketio');
      await page.waitForSelector('#follows li.live[data-key="j:*:x-origin"]', { timeout: 20000 });
      await page.waitForSelector('#follows li.error[data-key="q:nope"]', { timeout: 20000 });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

// A page opened on jobs that ran before it: each card shows at once what BullMQ holds (the
// `state` a late subscriber gets first), then carries on live.
async function lateScenario(mode) {
  const P = `late-${mode}-`;
  const ids = { ok: `${P}ok`, bad: `${P}bad`, held: `${P}held`, none: `${P}none` };
  const ret = { late: true, mode };
  await queues.http.add('late-ok', { ret }, { jobId: ids.ok });
  await queues.sparql.add('late-bad', { fail: `late failure (${mode})` }, { jobId: ids.bad });
  await queues.techstack.add('late-held', { steps: [40], ret: 'held done' }, { jobId: ids.held });
  await lib.waitFor(async () => (await queues.http.getJobState(ids.ok)) === 'completed' &&
    (await queues.sparql.getJobState(ids.bad)) === 'failed' &&
    (await queues.techstack.getJob(ids.held))?.progress === 40, { what: 'jobs run before the page opens' });
  const errors = [];
  const page = await browser.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    await page.goto(`${gw.base}/?qjob=http:${enc(ids.ok)}&job=${enc(ids.bad)}&qjob=techstack:${enc(ids.held)}` +
      `&job=${enc(ids.none)}&transport=${mode}`);
    const ok = card(ids.ok, 'http');
    await page.waitForSelector(`${ok}[data-state="completed"] .returnvalue`, { timeout: 20000 });
    assert.deepEqual(JSON.parse(await text(page, `${ok} .returnvalue`)), ret);
    assert.deepEqual(await page.$$eval(`${ok} .events li[data-event]`, (l) => l.map((x) => x.dataset.event)), ['state']);
    assert.deepEqual(await page.$$eval(`${ok} .timeline li.reached`, (l) => l.map((x) => x.dataset.stage)),
      ['waiting', 'active', 'progress', 'done']);
    const bad = card(ids.bad, 'sparql');
    await page.waitForSelector(`${bad}[data-state="failed"] .failed-reason`);
    assert.equal(await text(page, `${bad} .failed-reason`), `late failure (${mode})`);
    const held = card(ids.held, 'techstack');
    await page.waitForSelector(`${held}[data-state="active"][data-progress="40"]`);
    // No queue holds this one: its placeholder says so, and it stays followed.
    const none = `article.job.placeholder[data-job-id="${ids.none}"]`;
    await page.waitForSelector(`${none}[data-state="unknown"]`);
    assert.match(await text(page, `${none} .state-note`), /no queue holds this job/);
    // Live after the state: the held job finishes, the unknown one is added and runs.
    await allLive(page, 4);
    steer.release(ids.held, 40);
    await page.waitForSelector(`${held}[data-state="completed"] .returnvalue`, { timeout: 20000 });
    assert.equal(await text(page, `${held} .returnvalue`), '"held done"');
    await queues.analyzer.add('late-none', { ret: 'now it exists' }, { jobId: ids.none });
    await page.waitForSelector(`${card(ids.none, 'analyzer')}[data-state="completed"]`, { timeout: 20000 });
    await page.screenshot({ path: h.shotPath(`dashboard-late-${mode}.png`), fullPage: true });
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
  } finally {
    await page.close();
  }
}

test('a page opened on finished jobs shows their results at once (state), over EventSource',
  { skip: missing || false, timeout: 90000 }, async () => {
    await lateScenario('sse');
  });

// Needs the server side of `state` on subscribe-job (issue 9, Socket.IO part).
test('a page opened on finished jobs shows their results at once (state), over Socket.IO',
  { skip: missing || false, timeout: 90000 }, async () => {
    await lateScenario('socketio');
  });

test('the live view appears with /metrics and its numbers move with the traffic',
  { skip: missing || false, timeout: 60000 }, async () => {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    let producing = true;
    try {
      await page.goto(`${gw.base}/?transport=sse&metricsms=300`);
      await page.waitForSelector('#live[data-state="live"]:not([hidden])', { timeout: 20000 });
      const latest = (metric) => page.$eval(`#live [data-metric="${metric}"]`, (e) => JSON.parse(e.dataset.latest || '{}'));
      // Log lines keep coming: the events tile's rate for "logs" rises above 0.
      const producer = (async () => {
        for (let i = 0; producing; i++) {
          await xlog('info', 'live', `live ${i}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      await page.waitForFunction(() => {
        const e = document.querySelector('#live [data-metric="events"]');
        const v = e && e.dataset.latest ? JSON.parse(e.dataset.latest) : {};
        return Object.values(v).some((x) => typeof x === 'number' && x > 0);
      }, null, { timeout: 20000 });
      const conns = await latest('connections');
      assert.ok(Object.values(conns).some((x) => x >= 1), `connections shown: ${JSON.stringify(conns)}`);
      producing = false;
      await producer;
      assert.deepEqual(errors, []);
    } finally {
      producing = false;
      await page.close();
    }
  });
