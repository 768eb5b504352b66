/* server.c - composes the HTTP side: CivetWeb with its handlers (/health, /ready, /metrics,
 * /sse/, Socket.IO, the hand-off self-test, static files), the accept gate, the event loops and the
 * transports, and their shutdown. It owns no protocol: each piece is in its own module. */
#include "server.h"

#include <civetweb.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acl.h"
#include "admit.h"
#include "auth.h"
#include "conn.h"
#include "dg.h"
#include "expo.h"
#include "gate.h"
#include "handoff.h"
#include "httpx.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "replay.h"
#include "sio_http.h"
#include "sse_http.h"
#include "sse_stream.h"

#define SELFTEST_PATH "/.dualgate/handoff-selftest"
#define GATE_BODY_MAX (64 * 1024) /* POST bodies the gate waits for before a worker sees them */
#define CIVETWEB_TIMEOUT_MS 1000  /* one blocking CivetWeb read or write, at most */
#define STOP_WAIT_MS 1500         /* connections get this long to close at shutdown */

struct srv {
    const cfg_t *cfg;
    bk_t *bk;
    rds_t *rds;
    adm_t adm;
    httpx_t hx;
    cn_env_t cn;
    sst_stats_t sse_stats;
    rp_stats_t rp_stats;
    sst_env_t sse_env;
    auth_verifier_t *verifier; /* NULL with auth = off */
    acl_t acl;
    auth_stats_t auth_stats;   /* every transport counts here */
    el_group_t *loops;
    gt_t *gate;
    sse_http_t *sse;
    sio_t *sio;
    struct mg_context *ctx;
    time_t started;
    atomic_int selftest_open;
    int ho_ready;
};

/* ---------------------------------------------------------------- health */

static json_t *closed_json(const cn_totals_t *st)
{
    json_t *o = json_object();
    for (int k = 0; k < CN_KINDS; k++) {
        json_t *byr = json_object();
        for (int r = 1; r < CN_REASON_COUNT; r++)
            json_object_set_new(byr, cn_reason_name(r), json_integer((json_int_t)st->closed[k][r]));
        json_object_set_new(o, cn_kind_name(k), byr);
    }
    return o;
}

static json_t *health_json(struct srv *s)
{
    rds_health_t rh;
    bk_stats_t bs;
    gt_stats_t gs;
    ho_stats_t hs;
    rds_get_health(s->rds, &rh, 500);
    bk_get_stats(s->bk, &bs);
    gt_get_stats(s->gate, &gs);
    ho_get_stats(&hs);
    json_t *streams = json_array();
    for (int i = 0; i < rh.nstreams; i++) {
        const rds_stream_health_t *st = &rh.streams[i];
        char id[CUR_ID_STR_MAX];
        cur_id_format(st->last_id, id);
        json_array_append_new(
            streams, json_pack("{s:s,s:b,s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "key", st->key,
                               "connected", st->connected, "last_id", id, "lag_ms",
                               (json_int_t)st->lag_ms, "entries", (json_int_t)st->entries,
                               "published", (json_int_t)st->published, "skipped",
                               (json_int_t)st->skipped, "malformed", (json_int_t)st->malformed,
                               "reconnects", (json_int_t)st->reconnects));
    }
    json_t *routes = json_array();
    for (int i = 0; i < rh.nroutes; i++) {
        const rds_route_health_t *rt = &rh.routes[i];
        json_array_append_new(
            routes, json_pack("{s:s,s:s,s:s,s:s,s:b,s:I,s:I,s:I,s:I}", "kind",
                              rt->kind == ROUTE_STREAM ? "stream" : "channel", "key", rt->key,
                              "event", rt->event, "room", rt->room, "connected", rt->connected,
                              "received", (json_int_t)rt->received, "published",
                              (json_int_t)rt->published, "delivered", (json_int_t)rt->delivered,
                              "malformed", (json_int_t)rt->malformed));
    }
    cn_totals_t tot;
    cn_env_totals(&s->cn, &tot);
    const cn_totals_t *cs = &tot;
    json_t *sio = sio_health_json(s->sio);
    json_t *sio_closed = json_object_get(sio, "closed");
    json_int_t slow = (json_int_t)atomic_load(&s->sse_stats.slow_closed) +
                      json_integer_value(json_object_get(sio_closed, "slow_consumer"));
    json_int_t stalls = 0;
    for (int k = 0; k < CN_KINDS; k++)
        stalls += (json_int_t)cs->closed[k][CN_CLOSE_STALL];
    json_int_t dropped = (json_int_t)atomic_load(&s->sse_stats.dropped) +
                         json_integer_value(json_object_get(sio, "dropped_messages"));
    json_t *redis = json_pack("{s:b,s:b,s:b,s:I,s:I,s:I,s:o,s:o}", "connected", rh.connected,
                              "responsive", rh.responsive, "ready", rh.ready, "ping_rtt_ms",
                              (json_int_t)rh.ping_rtt_ms, "logs_published",
                              (json_int_t)rh.logs_published, "logs_dropped",
                              (json_int_t)rh.logs_dropped, "streams", streams, "routes", routes);
    json_t *relays = json_pack("{s:I,s:I,s:I}", "published", (json_int_t)rh.relays_published,
                               "received", (json_int_t)rh.relays_received, "malformed",
                               (json_int_t)rh.relays_malformed);
    if (redis)
        json_object_set_new(redis, "relays", relays);
    else
        json_decref(relays);
    json_t *conns = json_pack(
        "{s:s,s:I,s:I,s:I,s:i,s:i,s:i,s:I,s:i,s:i,s:{s:I,s:I,s:I}}", "mode",
        "event-loop (hand-off from CivetWeb)", "sse", (json_int_t)cs->open[CN_KIND_SSE],
        "websocket", (json_int_t)cs->open[CN_KIND_WEBSOCKET], "polling",
        (json_int_t)cs->open[CN_KIND_POLLING], "post_bodies",
        atomic_load(&s->adm.active[ADM_POST]), "total", atomic_load(&s->adm.total), "max",
        s->adm.max, "refused", (json_int_t)atomic_load(&s->adm.refused), "io_threads",
        elg_size(s->loops), "http_threads", s->cfg->http_threads, "deliveries", "sse",
        (json_int_t)cs->deliveries[CN_KIND_SSE], "websocket",
        (json_int_t)cs->deliveries[CN_KIND_WEBSOCKET], "polling",
        (json_int_t)cs->deliveries[CN_KIND_POLLING]);
    json_t *closed = json_pack("{s:I,s:I,s:I,s:I,s:o}", "slow_consumer", slow, "write_failed",
                               stalls, "dropped_messages", dropped, "bad_requests",
                               (json_int_t)atomic_load(&s->adm.bad_requests), "by_transport",
                               closed_json(cs));
    json_t *gate = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:i}", "accepted",
                             (json_int_t)gs.accepted, "passed", (json_int_t)gs.passed, "timed_out",
                             (json_int_t)gs.timed_out, "evicted", (json_int_t)gs.evicted,
                             "refused", (json_int_t)gs.refused, "left", (json_int_t)gs.left,
                             "pending", gs.pending, "queued", gs.queued);
    json_t *handoff = json_pack("{s:I,s:I}", "accepted", (json_int_t)hs.accepted, "taken",
                                (json_int_t)hs.taken);
    json_t *replay = json_pack("{s:I,s:I,s:I,s:i}", "started",
                               (json_int_t)atomic_load(&s->rp_stats.started), "chunks",
                               (json_int_t)atomic_load(&s->rp_stats.chunks), "gaps",
                               (json_int_t)atomic_load(&s->rp_stats.gaps), "active",
                               atomic_load(&s->rp_stats.active));
    json_t *broker = json_pack("{s:i,s:i,s:I,s:I}", "rooms", bs.rooms, "members", bs.members,
                               "published", (json_int_t)bs.published, "deliveries",
                               (json_int_t)bs.deliveries);
    json_t *refused = json_object();
    for (int f = AUTH_MISSING; f < AUTH_NFAIL; f++)
        json_object_set_new(refused, auth_fail_name(f),
                            json_integer((json_int_t)atomic_load(&s->auth_stats.refused[f])));
    json_t *auth = json_pack("{s:s,s:I,s:o,s:I,s:I}", "mode", cfg_auth_name(s->cfg->auth),
                             "accepted", (json_int_t)atomic_load(&s->auth_stats.accepted),
                             "refused", refused, "forbidden",
                             (json_int_t)atomic_load(&s->auth_stats.forbidden), "expired_closed",
                             (json_int_t)atomic_load(&s->auth_stats.expired_closed));
    const char *status = adm_draining(&s->adm) ? "draining" : rh.connected ? "ok" : "degraded";
    return json_pack("{s:s,s:s,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "status", status,
                     "version", DG_VERSION, "uptime_s",
                     (json_int_t)(time(NULL) - s->started), "redis", redis, "connections", conns,
                     "closed", closed, "gate", gate, "handoff", handoff, "replay", replay,
                     "broker", broker, "auth", auth, "socketio", sio);
}

static int is_method(const struct mg_connection *c, const char *m)
{
    return strcmp(mg_get_request_info(c)->request_method, m) == 0;
}

/* GET/HEAD endpoints: answers OPTIONS and other methods itself; returns the status it sent,
 * or 0 when the handler should go on. */
static int get_only(struct srv *s, struct mg_connection *c)
{
    if (is_method(c, "OPTIONS"))
        return httpx_preflight(&s->hx, c, "GET, HEAD, OPTIONS");
    if (!is_method(c, "GET") && !is_method(c, "HEAD"))
        return httpx_send_error(&s->hx, c, 405, "method_not_allowed", "use GET",
                                "Allow: GET, HEAD, OPTIONS\r\n");
    return 0;
}

static int health_handler(struct mg_connection *c, void *ud)
{
    struct srv *s = ud;
    int done = get_only(s, c);
    if (done)
        return done;
    json_t *h = health_json(s);
    char *body = h ? json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(h);
    if (!body)
        return httpx_send_error(&s->hx, c, 500, "internal", "out of memory", NULL);
    httpx_send(&s->hx, c, 200, "application/json", body, is_method(c, "HEAD") ? 0 : strlen(body),
               NULL);
    free(body);
    return 200;
}

static int ready_handler(struct mg_connection *c, void *ud)
{
    struct srv *s = ud;
    int done = get_only(s, c);
    if (done)
        return done;
    int ready = rds_ready(s->rds) && !adm_draining(&s->adm);
    const char *body = ready ? "{\"ready\":true}" : "{\"ready\":false}";
    httpx_send(&s->hx, c, ready ? 200 : 503, "application/json", body, strlen(body), NULL);
    return ready ? 200 : 503;
}

static int metrics_handler(struct mg_connection *c, void *ud)
{
    struct srv *s = ud;
    int done = get_only(s, c);
    if (done)
        return done;
    ex_sources_t src = {.cn = &s->cn, .adm = &s->adm, .gate = s->gate, .sse = &s->sse_stats,
                        .rp = &s->rp_stats, .sio = s->sio, .rds = s->rds,
                        .redis_timeout_ms = 500};
    buf_t b = BUF_INIT;
    char why[160];
    if (ex_render(&src, &b, why, sizeof(why)) != DG_OK) {
        buf_free(&b);
        log_error("http", "/metrics: %s", why);
        return httpx_send_error(&s->hx, c, 500, "internal", why, NULL);
    }
    httpx_send(&s->hx, c, 200, MT_CONTENT_TYPE, b.data, is_method(c, "HEAD") ? 0 : b.len, NULL);
    buf_free(&b);
    return 200;
}

/* The self-test's server half: only while srv_start runs it. */
static int selftest_handler(struct mg_connection *c, void *ud)
{
    struct srv *s = ud;
    if (!atomic_load(&s->selftest_open))
        return httpx_send_error(&s->hx, c, 404, "not_found", "no such endpoint or file", NULL);
    const struct mg_request_info *ri = mg_get_request_info(c);
    char why[160];
    int fd = ho_take(ri->remote_addr, ri->remote_port, why, sizeof(why));
    if (fd < 0)
        return httpx_send_error(&s->hx, c, 500, "internal", why, NULL);
    ho_selftest_answer(fd);
    return 200;
}

/* Everything CivetWeb answers itself (missing files, malformed requests) gets a JSON body too. */
static int http_error_cb(struct mg_connection *c, int status, const char *msg)
{
    struct srv *s = mg_get_user_data(mg_get_context(c));
    (void)msg;
    const char *code = status == 404 ? "not_found" : status == 405 ? "method_not_allowed"
                       : status == 413 ? "payload_too_large" : status < 500 ? "bad_request"
                                                                           : "internal";
    const char *text = status == 404 ? "no such endpoint or file" : httpx_status_text(status);
    httpx_send_error(&s->hx, c, status, code, text, NULL);
    return 0;
}

static int log_message_cb(const struct mg_connection *c, const char *message)
{
    (void)c;
    log_debug("http", "civetweb: %s", message);
    return 1;
}

/* ---------------------------------------------------------------- lifecycle */

srv_t *srv_new(const cfg_t *cfg, bk_t *broker, rds_t *rds)
{
    struct srv *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cfg = cfg;
    s->bk = broker;
    s->rds = rds;
    adm_init(&s->adm, cfg->max_connections, cfg->http_threads / 2);
    s->hx = (httpx_t){cfg, &s->adm, GATE_BODY_MAX};
    cn_env_init(&s->cn);
    s->cn.write_timeout_ms = cfg->write_timeout_ms;
    s->cn.linger_ms = 2000;
    s->cn.pending_max = (size_t)cfg->queue_max_bytes + (1u << 20);
    /* the soft limit counts the kernel's unsent bytes: read them every half of it written */
    s->cn.unsent_every = (size_t)cfg->queue_soft_bytes / 2;
    s->sse_env = (sst_env_t){.cfg = cfg, .bk = broker, .rds = rds, .adm = &s->adm, .cn = &s->cn,
                             .names = rds_stream_names(rds), .nstreams = rds_nstreams(rds),
                             .stats = &s->sse_stats, .rp_stats = &s->rp_stats, .auth_stats = &s->auth_stats};
    return s;
}

static int ncores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

int srv_start(srv_t *s, char *errstr, size_t errlen)
{
    const cfg_t *cfg = s->cfg;
    char ports[CFG_STR_MAX + 16], threads[16], timeout[16];
    snprintf(ports, sizeof(ports), "%s:%d", cfg->bind, cfg->port);
    snprintf(threads, sizeof(threads), "%d", cfg->http_threads);
    snprintf(timeout, sizeof(timeout), "%d",
             cfg->body_timeout_ms < CIVETWEB_TIMEOUT_MS ? cfg->body_timeout_ms : CIVETWEB_TIMEOUT_MS);
    s->started = time(NULL);
    int arc = acl_init(&s->acl, cfg, errstr, errlen);
    if (arc == DG_OK && cfg->auth != CFG_AUTH_OFF)
        arc = auth_verifier_new(cfg, &s->verifier, errstr, errlen);
    if (arc != DG_OK)
        return arc;
    if (ho_init(errstr, errlen) != DG_OK)
        return DG_ENOMEM;
    s->ho_ready = 1;
    if (!(s->loops = elg_new(cfg->io_threads ? cfg->io_threads : ncores(), errstr, errlen)) ||
        elg_start(s->loops) != DG_OK)
        goto fail_mem;
    gt_cfg_t gc = {cfg->header_timeout_ms, cfg->max_pending_heads, 16384, GATE_BODY_MAX};
    sio_deps_t sd = {s->hx,          s->bk,     s->rds,          s->loops, &s->cn,
                     &s->rp_stats,   s->verifier, &s->acl,      &s->auth_stats};
    sse_auth_t sa = {s->verifier, &s->acl, &s->auth_stats};
    if (!(s->gate = gt_new(elg_get(s->loops, 0), &gc)) ||
        !(s->sse = sse_http_new(&s->hx, &s->sse_env, s->loops, &sa)) || !(s->sio = sio_new(&sd)))
        goto fail_mem;
    const char *opts[] = {"listening_ports", ports,
                          "num_threads", threads,
                          "request_timeout_ms", timeout,
                          "document_root", cfg->document_root,
                          "enable_keep_alive", "no",
                          "enable_directory_listing", "no",
                          "tcp_nodelay", "1",
                          "connection_queue", "256",
                          "listen_backlog", "4096",
                          "max_request_size", "16384",
                          /* CORS is ours: CivetWeb's own preflight answer would ignore the
                           * configured origin list. Static files get "*" only when allowed. */
                          "access_control_allow_methods", "",
                          "access_control_allow_origin", cfg->cors_any ? "*" : "",
                          NULL};
    struct mg_callbacks cb = {0};
    cb.http_error = http_error_cb;
    cb.log_message = log_message_cb;
    s->ctx = mg_start(&cb, s, opts);
    if (!s->ctx) {
        snprintf(errstr, errlen, "cannot listen on %s (in use, or not allowed)", ports);
        srv_stop(s);
        return DG_EIO;
    }
    mg_set_request_handler(s->ctx, "/health$", health_handler, s);
    mg_set_request_handler(s->ctx, "/ready$", ready_handler, s);
    mg_set_request_handler(s->ctx, "/metrics$", metrics_handler, s);
    mg_set_request_handler(s->ctx, "/sse/", sse_http_handler, s->sse);
    mg_set_request_handler(s->ctx, SELFTEST_PATH "$", selftest_handler, s);
    sio_register(s->sio, s->ctx);
    int rc = gt_attach(s->gate, cfg->port, errstr, errlen);
    if (rc == DG_OK) {
        atomic_store(&s->selftest_open, 1);
        rc = ho_selftest(cfg->port, SELFTEST_PATH, errstr, errlen);
        atomic_store(&s->selftest_open, 0);
    }
    if (rc != DG_OK) {
        size_t n = strlen(errstr);
        snprintf(errstr + n, errlen - n, " (connection hand-off self-test failed: dualgate needs "
                                         "Debian's CivetWeb 1.15 and plain HTTP)");
        srv_stop(s);
        return DG_EIO;
    }
    if (s->rds)
        rds_use_loops(s->rds, s->loops); /* events are read where their subscribers live */
    log_info("http", "listening on http://%s (%d CivetWeb workers, %d event loops, "
             "max_connections %d)", ports, cfg->http_threads, elg_size(s->loops),
             cfg->max_connections);
    return DG_OK;
fail_mem:
    if (!errstr[0])
        snprintf(errstr, errlen, "out of memory");
    srv_stop(s);
    return DG_ENOMEM;
}

void srv_drain(srv_t *s, int64_t window_ms)
{
    adm_drain(&s->adm); /* /ready answers 503 and new SSE streams are refused from here */
    if (s->sio)
        sio_drain(s->sio, window_ms);
    cn_env_drain(&s->cn, CN_KIND_SSE, window_ms);
    log_info("http", "draining: %d connections and %d Socket.IO sessions end within %lld ms",
             srv_open(s) - (s->sio ? sio_sessions(s->sio) : 0),
             s->sio ? sio_sessions(s->sio) : 0, (long long)window_ms);
}

int srv_open(srv_t *s)
{
    return cn_env_wait_idle(&s->cn, 0) + (s->sio ? sio_sessions(s->sio) : 0);
}

void srv_stop(srv_t *s)
{
    adm_stop(&s->adm);
    if (s->gate)
        gt_stop(s->gate);
    if (s->sio)
        sio_stop(s->sio);
    cn_env_close_all(&s->cn, CN_KIND_SSE, CN_CLOSE_SHUTDOWN);
    if (s->loops) {
        int left = cn_env_wait_idle(&s->cn, el_now_ms() + STOP_WAIT_MS);
        if (left)
            log_warn("http", "%d connections still open after %d ms: closing them", left,
                     STOP_WAIT_MS);
        cn_env_close_all(&s->cn, -1, CN_CLOSE_ERROR); /* reset what is left */
        cn_env_wait_idle(&s->cn, el_now_ms() + 500);
    }
    if (s->ctx) {
        gt_release_master(s->gate);
        mg_stop(s->ctx); /* CivetWeb's workers finish what they hold (POST bodies, answers) */
        s->ctx = NULL;
    }
    if (s->rds && s->loops)
        rds_use_loops(s->rds, NULL); /* the readers go back to their threads */
    elg_stop(s->loops);
}

void srv_free(srv_t *s)
{
    if (!s)
        return;
    sio_free(s->sio);
    sse_http_free(s->sse);
    gt_free(s->gate);
    elg_free(s->loops);
    if (s->ho_ready)
        ho_shutdown();
    cn_env_destroy(&s->cn);
    auth_verifier_free(s->verifier);
    free(s);
}
