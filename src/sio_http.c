/* sio_http.c - the CivetWeb side of Socket.IO: Engine.IO handshakes, polling POST bodies (read
 * with a total deadline, counted by admission), polling GETs and WebSockets taken over and
 * handed to the session's loop, the client library files, and the counters for /health.
 * Every refusal is an HTTP answer, also for a WebSocket refused before its 101. */
#include <civetweb.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dg.h"
#include "handoff.h"
#include "log.h"
#include "sio_int.h"
#include "wsframe.h"

#define READ_CHUNK 16384
#define EIO_PATH "/engine.io/"
#define CORS_MAX 512

typedef struct endpoint {
    sio_t *h;
    int echo; /* the plain Engine.IO echo endpoint */
} endpoint_t;

/* What ws_connect learned for ws_ready (CivetWeb's user connection data). */
typedef struct wsinfo {
    char sid[EIO_SID_LEN + 1];
    int echo;
    char *authz; /* the upgrade request's Authorization header (malloc'd), NULL for none */
} wsinfo_t;

static void wsinfo_free(wsinfo_t *w)
{
    if (w && w->authz) {
        memset(w->authz, 0, strlen(w->authz));
        free(w->authz);
    }
    free(w);
}

static endpoint_t ep_sio, ep_eio;

/* ================================================================ answers */

static int send_eio_error(sio_t *h, struct mg_connection *c, int code)
{
    char body[EIO_ERROR_BODY_MAX];
    int n = eio_error_body(body, sizeof(body), code);
    int status = eio_error_status(code);
    atomic_fetch_add(&h->d.hx.adm->bad_requests, 1);
    httpx_send(&h->d.hx, c, status, "application/json", body, n > 0 ? (size_t)n : 0, NULL);
    return status;
}

static void cors_of(sio_t *h, const struct mg_connection *c, char *out)
{
    buf_t b = BUF_INIT;
    httpx_cors(h->cfg, mg_get_header(c, "Origin"), &b);
    snprintf(out, CORS_MAX, "%s", b.data && b.len < CORS_MAX ? b.data : "");
    buf_free(&b);
}

/* ================================================================ polling */

static int handshake(sio_t *h, struct mg_connection *c, int echo)
{
    sess_t *s = sess_new(h, EIO_TRANSPORT_POLLING, echo);
    if (!s)
        return httpx_send_error(&h->d.hx, c, 503, "unavailable", "out of memory", NULL);
    sess_auth_header(s, mg_get_header(c, "Authorization"));
    if (sess_insert(s) != DG_OK) {
        sess_unref(s);
        adm_count_refused(h->d.hx.adm, 0);
        return httpx_send_busy(&h->d.hx, c, "too many sessions, retry later");
    }
    char open[EIO_OPEN_MAX];
    int n =
        eio_open_encode(open, sizeof(open), s->sid, 1, (unsigned long)h->cfg->ping_interval_ms,
                        (unsigned long)h->cfg->ping_timeout_ms, (unsigned long)h->cfg->max_payload);
    sess_start_timer(s);
    httpx_send(&h->d.hx, c, 200, "text/plain; charset=UTF-8", open, n > 0 ? (size_t)n : 0, NULL);
    sess_unref(s);
    return 200;
}

static int poll_get(sio_t *h, struct mg_connection *c, sess_t *s)
{
    if (adm_admit(h->d.hx.adm, ADM_POLLING) != DG_OK)
        return httpx_send_busy(&h->d.hx, c, "too many connections, retry later");
    char cors[CORS_MAX], why[160];
    cors_of(h, c, cors);
    const struct mg_request_info *ri = mg_get_request_info(c);
    int fd = ho_take(ri->remote_addr, ri->remote_port, why, sizeof(why));
    if (fd < 0) {
        adm_release(h->d.hx.adm, ADM_POLLING);
        log_error("sio", "cannot take the connection over: %s", why);
        return httpx_send_error(&h->d.hx, c, 500, "internal", "connection hand-off failed", NULL);
    }
    /* From here the socket is the session loop's: no more mg_* calls on c. */
    sio_poll_start(s, fd, cors);
    return 200;
}

/* Reads the body (total deadline body_timeout_ms) and decodes its packets into in. Returns
 * 200, or the status to answer: 400 (bad payload), 408 (too slow), 413 (over maxPayload). */
static int read_body(sio_t *h, struct mg_connection *c, sess_input_t *in)
{
    const struct mg_request_info *ri = mg_get_request_info(c);
    size_t max = (size_t)h->cfg->max_payload;
    if (ri->content_length > (long long)max)
        return 413;
    eio_pdec_t d;
    eio_pdec_init(&d, max);
    char *chunk = malloc(READ_CHUNK);
    int64_t deadline = el_now_ms() + h->cfg->body_timeout_ms;
    long long want = ri->content_length; /* -1: chunked, read to the end */
    long long got = 0;
    int rc = chunk ? DG_OK : DG_ENOMEM, status = 200;
    /* mg_read() blocks until it has every byte asked for, so ask only for what has arrived:
     * a body trickling in then meets its deadline (give or take one CivetWeb read timeout). */
    int fd = httpx_body_may_trickle(&h->d.hx, c) ? ho_peer_fd(ri->remote_addr, ri->remote_port) : -1;
    while (rc == DG_OK && (want < 0 || got < want)) {
        int avail = READ_CHUNK;
        if (fd >= 0 && (ioctl(fd, FIONREAD, &avail) != 0 || avail < 1))
            avail = 1; /* CivetWeb's own buffer, or one byte when it comes */
        int n = mg_read(c, chunk, avail < READ_CHUNK ? (size_t)avail : READ_CHUNK);
        if (n <= 0)
            break;
        got += n;
        rc = eio_pdec_feed(&d, chunk, (size_t)n);
        if (el_now_ms() > deadline && (want < 0 || got < want)) {
            status = 408; /* a body trickling in: its worker is wanted elsewhere */
            break;
        }
    }
    free(chunk);
    if (status == 200 && want >= 0 && got < want)
        status = 408; /* the client stopped sending before the end */
    if (status == 200 && rc == DG_OK)
        rc = eio_pdec_finish(&d);
    if (status != 200) {
        /* answered below */
    } else if (rc == DG_ELIMIT) {
        status = 413;
    } else if (rc != DG_OK) {
        status = rc == DG_ENOMEM ? 503 : 400;
        if (status == 400)
            log_debug("sio", "bad polling payload: %s", eio_pdec_errstr(&d));
    } else {
        /* copy the packets: they go to the session's loop */
        eio_packet_t p;
        size_t total = 0, cap = 8;
        in->pkts = malloc(cap * sizeof(*in->pkts));
        in->buf = malloc(max + 1);
        while (in->pkts && in->buf && (rc = eio_pdec_next(&d, &p)) == DG_OK) {
            if ((size_t)in->n == cap) {
                eio_packet_t *np = realloc(in->pkts, 2 * cap * sizeof(*np));
                if (!np)
                    break;
                in->pkts = np;
                cap *= 2;
            }
            if (p.len)
                memcpy(in->buf + total, p.data, p.len);
            p.data = in->buf + total;
            total += p.len;
            in->pkts[in->n++] = p;
        }
        if (!in->pkts || !in->buf || rc == DG_OK)
            status = 503;
        else if (rc != DG_ECLOSED && rc != DG_EAGAIN) {
            log_debug("sio", "bad polling payload: %s", eio_pdec_errstr(&d));
            status = 400;
        }
    }
    eio_pdec_free(&d);
    return status;
}

static int poll_post(sio_t *h, struct mg_connection *c, sess_t *s)
{
    const char *ctype = mg_get_header(c, "Content-Type");
    if (ctype && strncmp(ctype, "application/octet-stream", 24) == 0) {
        /* Binary POST bodies are Engine.IO v3 only. */
        sess_close_async(s, EIO_REASON_PROTOCOL);
        return send_eio_error(h, c, EIO_ERR_BAD_REQUEST);
    }
    pthread_mutex_lock(&s->lock);
    int err = eio_sess_post_begin(&s->es);
    int overlap = err != EIO_ERR_NONE && !s->torn && eio_sess_closed(&s->es);
    pthread_mutex_unlock(&s->lock);
    if (err != EIO_ERR_NONE) {
        if (overlap)
            sess_close_async(s, EIO_REASON_OVERLAP);
        return send_eio_error(h, c, err);
    }
    int status;
    sess_input_t *in = calloc(1, sizeof(*in));
    /* A small body is whole already (the gate waited for it); a large one holds this worker
     * while it arrives, so those are capped and counted. */
    int slow = httpx_body_may_trickle(&h->d.hx, c);
    if (slow && adm_admit(h->d.hx.adm, ADM_POST) != DG_OK) {
        status = 503;
    } else {
        status = in ? read_body(h, c, in) : 503;
        if (slow)
            adm_release(h->d.hx.adm, ADM_POST);
    }
    if (status == 200) {
        sess_ref(s);
        in->s = s;
        sess_post_input(in); /* in order with the session's other input, on its loop */
        in = NULL;
    } else if (status == 400) {
        sess_close_async(s, EIO_REASON_PROTOCOL);
    }
    if (in) {
        free(in->pkts);
        free(in->buf);
        free(in);
    }
    /* Done before answering: the client may send its next POST as soon as it has the answer. */
    pthread_mutex_lock(&s->lock);
    eio_sess_post_end(&s->es);
    pthread_mutex_unlock(&s->lock);
    if (status == 200)
        /* text/html, not text/plain, as engine.io: no download dialog in old browsers */
        httpx_send(&h->d.hx, c, 200, "text/html", "ok", 2, NULL);
    else if (status == 400)
        send_eio_error(h, c, EIO_ERR_BAD_REQUEST);
    else if (status == 408)
        httpx_send_error(&h->d.hx, c, 408, "request_timeout", "body not received in time", NULL);
    else if (status == 413)
        httpx_send_error(&h->d.hx, c, 413, "payload_too_large", "body over maxPayload", NULL);
    else
        httpx_send_busy(&h->d.hx, c, "too many uploads, retry later");
    return status;
}

static int serve_js(sio_t *h, struct mg_connection *c, const char *js, size_t len)
{
    if (!js)
        return httpx_send_error(&h->d.hx, c, 404, "not_found", "client library not installed",
                                NULL);
    int head = strcmp(mg_get_request_info(c)->request_method, "HEAD") == 0;
    httpx_send(&h->d.hx, c, 200, "application/javascript; charset=utf-8", js, head ? 0 : len, NULL);
    return 200;
}

static int http_handler(struct mg_connection *c, void *cbdata)
{
    const endpoint_t *ep = cbdata;
    sio_t *h = ep->h;
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *path = ep->echo ? EIO_PATH : h->cfg->sio_path;
    size_t plen = strlen(path);
    const char *uri = ri->local_uri ? ri->local_uri : "";
    if (strncmp(uri, path, plen) != 0 || (uri[plen] && ep->echo))
        return httpx_send_error(&h->d.hx, c, 404, "not_found", "no such endpoint", NULL);
    if (strcmp(uri + plen, "socket.io.js") == 0)
        return serve_js(h, c, h->js, h->js_len);
    if (strcmp(uri + plen, "socket.io.min.js") == 0)
        return serve_js(h, c, h->js_min, h->js_min_len);
    if (uri[plen])
        return httpx_send_error(&h->d.hx, c, 404, "not_found", "no such endpoint", NULL);
    if (strcmp(ri->request_method, "OPTIONS") == 0) {
        httpx_send(&h->d.hx, c, 204, NULL, NULL, 0,
                   "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
                   "Access-Control-Allow-Headers: Content-Type, Authorization\r\n"
                   "Access-Control-Max-Age: 600\r\n");
        return 204;
    }
    if (atomic_load(&h->stopping))
        return httpx_send_busy(&h->d.hx, c, "shutting down");
    eio_query_t q;
    const char *qs = ri->query_string ? ri->query_string : "";
    sess_t *s = NULL;
    int st = EIO_TRANSPORT_UNKNOWN, err, status;
    if (eio_query_parse(qs, strlen(qs), &q) != DG_OK) {
        err = EIO_ERR_BAD_REQUEST;
    } else {
        if (q.sid[0] && (s = sess_find(h, q.sid))) {
            pthread_mutex_lock(&s->lock);
            st = eio_sess_closed(&s->es) ? EIO_TRANSPORT_UNKNOWN : s->es.transport;
            pthread_mutex_unlock(&s->lock);
        }
        err = eio_request_check(&q, ri->request_method, 0, st);
        if (err == EIO_ERR_NONE && !cfg_origin_allowed(h->cfg, mg_get_header(c, "Origin")))
            err = EIO_ERR_FORBIDDEN;
        if (err == EIO_ERR_NONE && q.has_j)
            err = EIO_ERR_BAD_REQUEST; /* JSONP polling is gone in Engine.IO v4 */
    }
    if (err != EIO_ERR_NONE)
        status = send_eio_error(h, c, err);
    else if (!s && atomic_load(&h->draining)) {
        adm_count_refused(h->d.hx.adm, 1); /* sessions that exist go on until their moment */
        status = httpx_send_busy(&h->d.hx, c, "draining, connect to another instance");
    } else if (!s)
        status = handshake(h, c, ep->echo);
    else if (strcmp(ri->request_method, "GET") == 0)
        status = poll_get(h, c, s);
    else if (strcmp(ri->request_method, "POST") == 0)
        status = poll_post(h, c, s);
    else
        status = send_eio_error(h, c, EIO_ERR_BAD_REQUEST);
    sess_unref(s);
    return status;
}

/* ================================================================ WebSocket */

/* Refuses an upgrade with a proper HTTP answer (CivetWeb itself would drop the socket). */
static int ws_refuse(sio_t *h, const struct mg_connection *cc, int status, int eio_code)
{
    struct mg_connection *c = (struct mg_connection *)cc; /* nothing sent yet: ours to answer */
    if (status == 503) {
        int draining = atomic_load(&h->stopping) || atomic_load(&h->draining);
        adm_count_refused(h->d.hx.adm, draining);
        httpx_send_busy(&h->d.hx, c, draining ? "draining, connect to another instance"
                                              : "too many connections, retry later");
    } else {
        send_eio_error(h, c, eio_code);
    }
    return 1;
}

/* Validates the upgrade before the 101 answer. */
static int ws_connect(const struct mg_connection *c, void *cbdata)
{
    const endpoint_t *ep = cbdata;
    sio_t *h = ep->h;
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *path = ep->echo ? EIO_PATH : h->cfg->sio_path;
    const char *qs = ri->query_string ? ri->query_string : "";
    eio_query_t q;
    int st = EIO_TRANSPORT_UNKNOWN;
    if (atomic_load(&h->stopping) || atomic_load(&h->draining))
        return ws_refuse(h, c, 503, 0);
    if (!ri->local_uri || strcmp(ri->local_uri, path) != 0)
        return ws_refuse(h, c, 400, EIO_ERR_BAD_REQUEST);
    if (eio_query_parse(qs, strlen(qs), &q) != DG_OK)
        return ws_refuse(h, c, 400, EIO_ERR_BAD_REQUEST);
    if (q.sid[0]) {
        sess_t *s = sess_find(h, q.sid);
        if (s) {
            pthread_mutex_lock(&s->lock);
            /* engine.io refuses a second upgrade and one after the upgrade happened */
            if (!eio_sess_closed(&s->es) && s->es.upgrade == EIO_UPG_NONE)
                st = s->es.transport;
            pthread_mutex_unlock(&s->lock);
            sess_unref(s);
        }
        if (st != EIO_TRANSPORT_POLLING)
            return ws_refuse(h, c, 400, s ? EIO_ERR_BAD_REQUEST : EIO_ERR_UNKNOWN_SID);
    }
    int err = eio_request_check(&q, ri->request_method, 1, st);
    if (err == EIO_ERR_NONE && !cfg_origin_allowed(h->cfg, mg_get_header(c, "Origin")))
        err = EIO_ERR_FORBIDDEN;
    if (err != EIO_ERR_NONE)
        return ws_refuse(h, c, 400, err);
    wsinfo_t *w = calloc(1, sizeof(*w));
    if (!w || adm_admit(h->d.hx.adm, ADM_WEBSOCKET) != DG_OK) {
        free(w);
        return ws_refuse(h, c, 503, 0);
    }
    memcpy(w->sid, q.sid, sizeof(w->sid) - 1);
    w->echo = ep->echo;
    const char *authz = mg_get_header(c, "Authorization");
    if (authz && !q.sid[0] && h->auth.verifier)
        w->authz = strdup(authz); /* NULL on ENOMEM: the CONNECT's own token still works */
    mg_set_user_connection_data(c, w);
    return 0;
}

/* Writes a close frame straight onto a socket nobody else has yet, and closes it. */
static void close_raw(int fd, int code)
{
    unsigned char frame[WS_HDR_MAX + WS_CONTROL_MAX];
    size_t n = 0;
    ws_close_encode(frame + 2, code, NULL, 0, &n);
    ws_frame_header(frame, WS_OP_CLOSE, n);
    if (send(fd, frame, n + 2, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* best effort */
    }
    close(fd);
}

/* After the 101: the socket becomes the session loop's. */
static void ws_ready(struct mg_connection *c, void *cbdata)
{
    const endpoint_t *ep = cbdata;
    sio_t *h = ep->h;
    wsinfo_t *w = mg_get_user_connection_data(c);
    if (!w)
        return;
    mg_set_user_connection_data(c, NULL);
    const struct mg_request_info *ri = mg_get_request_info(c);
    char why[160];
    int fd = ho_take(ri->remote_addr, ri->remote_port, why, sizeof(why));
    if (fd < 0) {
        log_error("sio", "cannot take the WebSocket over: %s", why);
        adm_release(h->d.hx.adm, ADM_WEBSOCKET);
        wsinfo_free(w);
        return; /* CivetWeb keeps it and closes it (no data handler) */
    }
    sess_t *s;
    if (w->sid[0]) {
        s = sess_find(h, w->sid);
        if (!s) {
            adm_release(h->d.hx.adm, ADM_WEBSOCKET);
            close_raw(fd, WS_CLOSE_POLICY);
            wsinfo_free(w);
            return;
        }
        sio_ws_start(s, fd, 1);
    } else {
        s = sess_new(h, EIO_TRANSPORT_WEBSOCKET, w->echo);
        if (!s || sess_insert(s) != DG_OK) {
            adm_release(h->d.hx.adm, ADM_WEBSOCKET);
            close_raw(fd, 1013); /* try again later */
            sess_unref(s);
            wsinfo_free(w);
            return;
        }
        sess_auth_header(s, w->authz);
        sio_ws_start(s, fd, 0);
    }
    sess_unref(s);
    wsinfo_free(w);
}

static int ws_data(struct mg_connection *c, int flags, char *data, size_t len, void *cbdata)
{
    (void)c;
    (void)flags;
    (void)data;
    (void)len;
    (void)cbdata;
    return 0; /* taken over: CivetWeb only ever reads the dead socket's EOF */
}

static void ws_close(const struct mg_connection *c, void *cbdata)
{
    const endpoint_t *ep = cbdata;
    wsinfo_t *w = mg_get_user_connection_data(c);
    if (!w)
        return; /* taken over, nothing of ours left here */
    /* CivetWeb reuses connection structs: forget this one before returning. */
    mg_set_user_connection_data(c, NULL);
    adm_release(ep->h->d.hx.adm, ADM_WEBSOCKET);
    wsinfo_free(w);
}

/* ================================================================ lifecycle, health */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = path && path[0] ? fopen(path, "rb") : NULL;
    if (!f)
        return NULL;
    char *data = NULL;
    long n;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (data = malloc((size_t)n + 1)) != NULL) {
        if (fread(data, 1, (size_t)n, f) != (size_t)n) {
            free(data);
            data = NULL;
        } else {
            *len = (size_t)n;
        }
    }
    fclose(f);
    return data;
}

static void load_client(sio_t *h)
{
    const char *path = h->cfg->client_js;
    h->js = read_file(path, &h->js_len);
    size_t n = strlen(path);
    if (n > 3 && strcmp(path + n - 3, ".js") == 0) {
        char min[CFG_STR_MAX + 8];
        snprintf(min, sizeof(min), "%.*s.min.js", (int)(n - 3), path);
        h->js_min = read_file(min, &h->js_min_len);
    }
    if (!h->js)
        log_warn("sio", "socket.io client library not found at %s: %ssocket.io.js answers 404",
                 path, h->cfg->sio_path);
}

sio_t *sio_new(const sio_deps_t *deps)
{
    sio_t *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->d = *deps;
    h->cfg = deps->hx.cfg;
    /* `all` rooms exist when a route's template is `all` */
    const route_table_t *rt = rds_routes(deps->rds);
    int join_all = 0;
    for (int i = 0; rt && i < rt->n; i++)
        join_all |= rt->route[i].room.all;
    h->auth = (sio_app_auth_t){deps->verifier, deps->acl, deps->auth_stats, join_all};
    const cfg_t *cfg = h->cfg;
    h->scfg_sio = (eio_sess_cfg_t){cfg->ping_interval_ms, cfg->ping_timeout_ms,
                                   cfg->connect_timeout_ms, SIO_UPGRADE_TIMEOUT_MS};
    h->scfg_eio = h->scfg_sio;
    h->scfg_eio.connect_timeout_ms = 0; /* plain Engine.IO has no Socket.IO CONNECT */
    h->names = rds_stream_names(deps->rds);
    h->nstreams = rds_nstreams(deps->rds);
    h->route_streams = rds_route_streams(deps->rds);
    pthread_mutex_init(&h->tab_lock, NULL);
    list_init(&h->unconnected);
    h->m_ping = msg_new_packet("2", 1, 0);
    if (ht_init(&h->sids, 1024) != DG_OK || !h->m_ping) {
        sio_free(h);
        return NULL;
    }
    load_client(h);
    return h;
}

void sio_register(sio_t *h, struct mg_context *ctx)
{
    ep_sio = (endpoint_t){h, 0};
    ep_eio = (endpoint_t){h, 1};
    mg_set_websocket_handler(ctx, h->cfg->sio_path, ws_connect, ws_ready, ws_data, ws_close,
                             &ep_sio);
    mg_set_request_handler(ctx, h->cfg->sio_path, http_handler, &ep_sio);
    if (h->cfg->conformance) {
        mg_set_websocket_handler(ctx, EIO_PATH, ws_connect, ws_ready, ws_data, ws_close, &ep_eio);
        mg_set_request_handler(ctx, EIO_PATH, http_handler, &ep_eio);
        log_info("sio", "conformance mode: / and /custom echo, Engine.IO echo at %s", EIO_PATH);
    }
}

/* Every session in the table, each with a reference; *n says how many. The table lock is a
 * leaf: callers act on the sessions after it is released. */
static sess_t **all_sessions(sio_t *h, size_t *nout)
{
    pthread_mutex_lock(&h->tab_lock);
    size_t n = h->sids.n, k = 0;
    sess_t **all = n ? malloc(n * sizeof(*all)) : NULL;
    ht_iter_t it;
    ht_iter_init(&h->sids, &it);
    for (ht_node_t *e; all && k < n && (e = ht_iter_next(&h->sids, &it));) {
        all[k] = DG_CONTAINER_OF(e, sess_t, node);
        sess_ref(all[k++]);
    }
    pthread_mutex_unlock(&h->tab_lock);
    *nout = k;
    return all;
}

void sio_stop(sio_t *h)
{
    atomic_store(&h->stopping, 1);
    size_t n;
    sess_t **all = all_sessions(h, &n);
    for (size_t i = 0; i < n; i++) {
        sess_close_async(all[i], EIO_REASON_SERVER);
        sess_unref(all[i]);
    }
    free(all);
}

void sio_drain(sio_t *h, int64_t window_ms)
{
    atomic_store(&h->draining, 1);
    size_t n;
    sess_t **all = all_sessions(h, &n);
    unsigned seed = (unsigned)el_now_ms();
    for (size_t i = 0; i < n; i++) {
        sess_drain_in(all[i], window_ms > 0 ? (int64_t)(rand_r(&seed) % (unsigned)window_ms) : 0);
        sess_unref(all[i]);
    }
    free(all);
}

void sio_get_stats(sio_t *h, sio_stats_t *out)
{
    for (int k = 0; k < CN_KINDS; k++) {
        out->dropped[k] = atomic_load(&h->dropped_by[k]);
        out->slow_closed[k] = atomic_load(&h->slow_by[k]);
    }
    out->restores = atomic_load(&h->restores);
    out->recovered = atomic_load(&h->app_stats.recovered);
    out->not_recovered = atomic_load(&h->restore_failed);
}

int sio_sessions(sio_t *h)
{
    return atomic_load(&h->nsessions);
}

void sio_free(sio_t *h)
{
    if (!h)
        return;
    ht_free(&h->sids);
    msg_unref(h->m_ping);
    free(h->js);
    free(h->js_min);
    pthread_mutex_destroy(&h->tab_lock);
    free(h);
}

json_t *sio_health_json(sio_t *h)
{
    json_t *closed = json_object();
    for (int r = 1; r < EIO_REASON_COUNT; r++)
        json_object_set_new(closed, eio_sess_reason_name(r),
                            json_integer((json_int_t)atomic_load(&h->closed[r])));
    sio_app_stats_t *a = &h->app_stats;
#define U(x) ((json_int_t)atomic_load(&(x)))
    pthread_mutex_lock(&h->tab_lock);
    int nsess = (int)h->sids.n, waiting = h->nunconnected;
    pthread_mutex_unlock(&h->tab_lock);
    json_t *o = json_pack(
        "{s:i,s:i,s:{s:I,s:I,s:I},s:I,s:o,s:I,s:{s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I},s:I}",
        "sessions", nsess, "awaiting_connect", waiting, "opened", "polling", U(h->opened_polling),
        "websocket", U(h->opened_websocket), "upgrades", U(h->upgrades), "evicted_unconnected",
        U(h->evicted), "closed", closed, "dropped_messages",
        U(h->dropped), "namespaces", "connects", U(a->connects), "invalid_namespace",
        U(a->invalid_nsp), "subscriptions", U(a->subscribes), "subscription_errors",
        U(a->sub_errors), "client_logs", "accepted", U(a->logs_accepted), "invalid",
        U(a->logs_invalid), "rejected", U(a->logs_rejected), "protocol_errors",
        U(a->protocol_errors));
    /* connection-state recovery, late subscribers, client rooms and relays */
    json_t *more = json_pack(
        "{s:{s:I,s:I,s:I,s:I},s:I,s:{s:I,s:I,s:I}}", "recovery", "restores", U(h->restores),
        "recovered", U(a->recovered), "not_recovered", U(h->restore_failed), "duplicates_skipped",
        U(h->deduped), "job_states", U(h->job_states), "rooms", "joins", U(a->room_joins),
        "relayed", U(a->relayed), "relay_limited", U(a->relay_limited));
    if (o && more)
        json_object_update(o, more);
    json_decref(more);
#undef U
    return o;
}
