/* server.c - CivetWeb set-up and the small endpoints: routing, admission control, CORS, JSON
 * error answers, /health and /ready. The long-lived transports live in sse_http.c and
 * sio_http.c; static files (the dashboard) are CivetWeb's own document_root serving. */
#include "server.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"
#include "httpx.h"
#include "log.h"

#define SPARE_THREADS 16

/* ---------------------------------------------------------------- helpers */

const char *httpx_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

int httpx_admit(struct srv *s, int t)
{
    if (atomic_load(&s->stopping))
        return DG_ELIMIT;
    if (atomic_fetch_add(&s->active_total, 1) >= s->cfg->max_connections) {
        atomic_fetch_sub(&s->active_total, 1);
        atomic_fetch_add(&s->refused, 1);
        return DG_ELIMIT;
    }
    atomic_fetch_add(&s->active[t], 1);
    atomic_fetch_add(&s->accepted[t], 1);
    return DG_OK;
}

void httpx_release(struct srv *s, int t)
{
    atomic_fetch_sub(&s->active[t], 1);
    atomic_fetch_sub(&s->active_total, 1);
}

void httpx_waiter_add(struct srv *s, httpx_waiter_t *w)
{
    pthread_mutex_lock(&s->wait_lock);
    w->prev = NULL;
    w->next = s->waiters;
    if (s->waiters)
        s->waiters->prev = w;
    s->waiters = w;
    pthread_mutex_unlock(&s->wait_lock);
}

void httpx_waiter_remove(struct srv *s, httpx_waiter_t *w)
{
    pthread_mutex_lock(&s->wait_lock);
    if (w->prev)
        w->prev->next = w->next;
    else
        s->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&s->wait_lock);
}

void httpx_cors_headers(struct srv *s, const struct mg_connection *c, buf_t *h)
{
    const char *origin = mg_get_header(c, "Origin");
    if (s->cfg->cors_any) {
        buf_append_str(h, "Access-Control-Allow-Origin: *\r\n");
    } else if (origin && cfg_origin_allowed(s->cfg, origin) && !strpbrk(origin, "\r\n")) {
        buf_appendf(h, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n", origin);
        buf_append_str(h, "Access-Control-Allow-Credentials: true\r\n");
    }
}

void httpx_send(struct srv *s, struct mg_connection *c, int status, const char *ctype,
                const char *body, size_t len, const char *extra)
{
    buf_t h = BUF_INIT;
    buf_appendf(&h, "HTTP/1.1 %d %s\r\n", status, httpx_status_text(status));
    if (ctype)
        buf_appendf(&h, "Content-Type: %s\r\n", ctype);
    buf_appendf(&h, "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n", len);
    httpx_cors_headers(s, c, &h);
    if (extra)
        buf_append_str(&h, extra);
    buf_append(&h, "\r\n", 2);
    if (!h.oom) {
        mg_write(c, h.data, h.len);
        if (len)
            mg_write(c, body, len);
    }
    buf_free(&h);
}

void httpx_send_error(struct srv *s, struct mg_connection *c, int status, const char *code,
                      const char *msg, const char *extra)
{
    json_t *o = json_pack("{s:s,s:s}", "error", code, "message", msg);
    char *body = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (status >= 400 && status < 500)
        atomic_fetch_add(&s->bad_requests, 1);
    httpx_send(s, c, status, "application/json", body ? body : "{}", body ? strlen(body) : 2,
               extra);
    free(body);
}

int httpx_copy_id(const char *id, char *out, size_t outlen, int max)
{
    size_t n = strlen(id);
    if (n == 0 || n > (size_t)max || n >= outlen)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
            return -1;
    memcpy(out, id, n + 1);
    return (int)n;
}

int httpx_query(const struct mg_connection *c, const char *name, char *out, size_t outlen)
{
    const char *q = mg_get_request_info(c)->query_string;
    if (!q)
        return -1;
    int n = mg_get_var(q, strlen(q), name, out, outlen);
    return n < 0 ? -1 : n;
}

/* ---------------------------------------------------------------- health */

static json_t *health_json(struct srv *s)
{
    rds_health_t rh;
    bk_stats_t bs;
    rds_get_health(s->rds, &rh, 500);
    bk_get_stats(s->bk, &bs);
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
    return json_pack(
        "{s:s,s:s,s:I,s:{s:b,s:b,s:I,s:I,s:o},s:{s:i,s:i,s:i,s:i,s:i,s:I,s:I},"
        "s:{s:I,s:I,s:I,s:I},s:{s:i,s:i,s:I,s:I}}",
        "status", rh.connected ? "ok" : "degraded", "version", DG_VERSION, "uptime_s",
        (json_int_t)(time(NULL) - s->started), "redis", "connected", rh.connected, "ready",
        rh.ready, "logs_published", (json_int_t)rh.logs_published, "logs_dropped",
        (json_int_t)rh.logs_dropped, "streams", streams, "connections", "sse",
        atomic_load(&s->active[HX_SSE]), "websocket", atomic_load(&s->active[HX_WEBSOCKET]),
        "polling", atomic_load(&s->active[HX_POLLING]), "total", atomic_load(&s->active_total),
        "max", s->cfg->max_connections, "refused", (json_int_t)atomic_load(&s->refused),
        "sse_slow_lane", (json_int_t)atomic_load(&s->slow_lane), "closed",
        "slow_consumer", (json_int_t)atomic_load(&s->slow_closed), "write_failed",
        (json_int_t)atomic_load(&s->write_failed), "dropped_messages",
        (json_int_t)atomic_load(&s->dropped_msgs), "bad_requests",
        (json_int_t)atomic_load(&s->bad_requests), "broker", "rooms", bs.rooms, "members",
        bs.members, "published", (json_int_t)bs.published, "deliveries",
        (json_int_t)bs.deliveries);
}

static int is_method(const struct mg_connection *c, const char *m)
{
    return strcmp(mg_get_request_info(c)->request_method, m) == 0;
}

int httpx_preflight(struct srv *s, struct mg_connection *c, const char *methods)
{
    char extra[256];
    snprintf(extra, sizeof(extra),
             "Access-Control-Allow-Methods: %s\r\n"
             "Access-Control-Allow-Headers: Content-Type, Last-Event-ID, Cache-Control\r\n"
             "Access-Control-Max-Age: 600\r\n",
             methods);
    httpx_send(s, c, 204, NULL, NULL, 0, extra);
    return 204;
}

/* GET/HEAD endpoints: answers OPTIONS and other methods itself; returns the status it sent,
 * or 0 when the handler should go on. */
static int get_only(struct srv *s, struct mg_connection *c)
{
    if (is_method(c, "OPTIONS"))
        return httpx_preflight(s, c, "GET, HEAD, OPTIONS");
    if (!is_method(c, "GET") && !is_method(c, "HEAD")) {
        httpx_send_error(s, c, 405, "method_not_allowed", "use GET", "Allow: GET, HEAD, OPTIONS\r\n");
        return 405;
    }
    return 0;
}

static int health_handler(struct mg_connection *c, void *ud)
{
    struct srv *s = ud;
    int done = get_only(s, c);
    if (done)
        return done;
    json_t *h = health_json(s);
    json_object_set_new(h, "socketio", sio_http_health_json(s));
    char *body = h ? json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(h);
    if (!body) {
        httpx_send_error(s, c, 500, "internal", "out of memory", NULL);
        return 500;
    }
    httpx_send(s, c, 200, "application/json", body, is_method(c, "HEAD") ? 0 : strlen(body), NULL);
    free(body);
    return 200;
}

static int ready_handler(struct mg_connection *c, void *ud)
{
    struct srv *s = ud;
    int done = get_only(s, c);
    if (done)
        return done;
    int ready = rds_ready(s->rds) && !atomic_load(&s->stopping);
    const char *body = ready ? "{\"ready\":true}" : "{\"ready\":false}";
    httpx_send(s, c, ready ? 200 : 503, "application/json", body, strlen(body), NULL);
    return ready ? 200 : 503;
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
    httpx_send_error(s, c, status, code, text, NULL);
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
    pthread_mutex_init(&s->wait_lock, NULL);
    const char *const *names = rds_stream_names(rds);
    s->nstreams = cfg->nqueues + 1;
    for (int i = 0; i < s->nstreams; i++)
        s->stream_names[i] = names[i];
    return s;
}

int srv_start(srv_t *s, char *errstr, size_t errlen)
{
    char ports[CFG_STR_MAX + 16], threads[16], timeout[16], ws_timeout[16];
    snprintf(ports, sizeof(ports), "%s:%d", s->cfg->bind, s->cfg->port);
    int nthreads = s->cfg->http_threads ? s->cfg->http_threads
                                        : s->cfg->max_connections + SPARE_THREADS;
    snprintf(threads, sizeof(threads), "%d", nthreads);
    snprintf(timeout, sizeof(timeout), "%d", s->cfg->write_timeout_ms);
    snprintf(ws_timeout, sizeof(ws_timeout), "%d",
             s->cfg->ping_interval_ms + s->cfg->ping_timeout_ms);
    const char *opts[] = {"listening_ports", ports,
                          "num_threads", threads,
                          "request_timeout_ms", timeout,
                          "document_root", s->cfg->document_root,
                          "enable_keep_alive", "no",
                          "enable_directory_listing", "no",
                          "tcp_nodelay", "1",
                          "connection_queue", "64",
                          "listen_backlog", "1024",
                          "max_request_size", "16384",
                          /* A half-open WebSocket peer would hold its worker forever: CivetWeb
                           * pings a socket silent this long and drops it after a few misses
                           * (Engine.IO's own heartbeat ends the session; this frees the thread). */
                          "enable_websocket_ping_pong", "yes",
                          "websocket_timeout_ms", ws_timeout,
                          /* CORS is ours: CivetWeb's own preflight answer would ignore the
                           * configured origin list. Static files get "*" only when allowed. */
                          "access_control_allow_methods", "",
                          "access_control_allow_origin", s->cfg->cors_any ? "*" : "",
                          NULL};
    struct mg_callbacks cb = {0};
    cb.http_error = http_error_cb;
    cb.log_message = log_message_cb;
    s->started = time(NULL);
    if (sse_http_start(s) != DG_OK) {
        snprintf(errstr, errlen, "cannot start the SSE writer threads");
        return DG_ENOMEM;
    }
    s->ctx = mg_start(&cb, s, opts);
    if (!s->ctx) {
        sse_http_stop(s);
        snprintf(errstr, errlen, "cannot listen on %s (in use, or not allowed)", ports);
        return DG_EIO;
    }
    mg_set_request_handler(s->ctx, "/health$", health_handler, s);
    mg_set_request_handler(s->ctx, "/ready$", ready_handler, s);
    mg_set_request_handler(s->ctx, "/sse/", sse_http_handler, s);
    if (sio_http_start(s) != DG_OK) {
        snprintf(errstr, errlen, "cannot start the Socket.IO transport");
        mg_stop(s->ctx);
        s->ctx = NULL;
        sse_http_stop(s);
        return DG_ENOMEM;
    }
    log_info("http", "listening on http://%s (threads %d, max_connections %d)", ports, nthreads,
             s->cfg->max_connections);
    return DG_OK;
}

void srv_stop(srv_t *s)
{
    if (!s->ctx)
        return;
    atomic_store(&s->stopping, 1);
    sio_http_stop(s);
    pthread_mutex_lock(&s->wait_lock);
    for (httpx_waiter_t *w = s->waiters; w; w = w->next)
        w->wake(w);
    pthread_mutex_unlock(&s->wait_lock);
    mg_stop(s->ctx);
    s->ctx = NULL;
    sse_http_stop(s); /* every SSE handler has returned */
}

void srv_free(srv_t *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->wait_lock);
    free(s);
}
