/* sio_http.c - the Socket.IO transport on CivetWeb: Engine.IO v4 over HTTP long-polling and
 * WebSocket at cfg->sio_path (plus a plain Engine.IO echo endpoint at /engine.io/ in
 * conformance mode), the client library files, and the /health counters. Sessions, queues,
 * timers and flushers are in sio_sess.c; protocol decisions in eio_session.c (Engine.IO)
 * and sio_app.c (namespaces). */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dg.h"
#include "log.h"
#include "sio_sess.h"
#include "wsframe.h"

#define READ_CHUNK 16384
#define CLOSE_GET_GRACE_MS 50
#define EIO_PATH "/engine.io/"

enum { EP_SOCKETIO = 0, EP_ENGINEIO = 1 };
static const int ep_socketio = EP_SOCKETIO, ep_engineio = EP_ENGINEIO;

/* One WebSocket connection (CivetWeb user connection data), owned by its worker thread. */
typedef struct wsconn {
    struct sio_http *h; /* holds a reference */
    sess_t *s;          /* holds a reference once attached */
    int echo;
    int probe;   /* 1 while it probes an upgrade */
    int closing; /* a close frame was sent: the data handler ends the connection */
    char sid[EIO_SID_LEN + 1];
    ws_asm_t as;
} wsconn_t;

/* ================================================================ transport object lifetime */

/* srv->sio is freed by whoever drops its last reference: sio_http_stop() drops the owner's,
 * and WebSocket close handlers may still run inside mg_stop() afterwards. */
static struct sio_http *h_acquire(struct srv *srv)
{
    pthread_mutex_lock(&srv->wait_lock);
    struct sio_http *h = srv->sio;
    if (h)
        h->refs++;
    pthread_mutex_unlock(&srv->wait_lock);
    return h;
}

static void h_free(struct sio_http *h)
{
    sess_core_free(h);
    free(h->js);
    free(h->js_min);
    free(h);
}

static void h_release(struct sio_http *h)
{
    struct srv *srv = h->srv;
    pthread_mutex_lock(&srv->wait_lock);
    int last = --h->refs == 0;
    if (last)
        srv->sio = NULL;
    pthread_mutex_unlock(&srv->wait_lock);
    if (last)
        h_free(h);
}

/* ================================================================ HTTP answers */

static void send_eio_error(struct sio_http *h, struct mg_connection *c, int code)
{
    char body[EIO_ERROR_BODY_MAX];
    int n = eio_error_body(body, sizeof(body), code);
    int status = eio_error_status(code);
    atomic_fetch_add(&h->srv->bad_requests, 1);
    httpx_send(h->srv, c, status, "application/json", body, n > 0 ? (size_t)n : 0, NULL);
}

static int handshake(struct sio_http *h, struct mg_connection *c, int echo)
{
    if (atomic_load(&h->ntab) >= h->cfg->max_connections) {
        atomic_fetch_add(&h->srv->refused, 1);
        httpx_send_error(h->srv, c, 503, "over_capacity", "too many sessions, retry later", NULL);
        return 503;
    }
    sess_t *s = sess_new(h, EIO_TRANSPORT_POLLING, echo);
    if (!s) {
        httpx_send_error(h->srv, c, 503, "unavailable", "out of memory", NULL);
        return 503;
    }
    char open[EIO_OPEN_MAX];
    int n =
        eio_open_encode(open, sizeof(open), s->sid, 1, (unsigned long)h->cfg->ping_interval_ms,
                        (unsigned long)h->cfg->ping_timeout_ms, (unsigned long)h->cfg->max_payload);
    sess_insert(h, s);
    pthread_mutex_lock(&s->lock);
    sess_schedule_locked(s);
    pthread_mutex_unlock(&s->lock);
    httpx_send(h->srv, c, 200, "text/plain; charset=UTF-8", open, n > 0 ? (size_t)n : 0, NULL);
    sess_unref(s);
    return 200;
}

/* Appends the polling form of m: the bare packet, or "b" + base64 for a binary message. */
static void payload_append(buf_t *b, const msg_t *m)
{
    const char *pkt = (const char *)m->ws + m->ws_hdr_len;
    size_t len = m->ws_len - m->ws_hdr_len;
    if (b->len)
        buf_append(b, "\x1e", 1);
    if (m->kind != MSG_PACKET_BIN) {
        buf_append(b, pkt, len);
        return;
    }
    size_t enc = eio_b64_len(len);
    if (buf_reserve(b, enc + 2) != DG_OK)
        return;
    b->data[b->len++] = 'b';
    int w = eio_b64_encode(pkt, len, b->data + b->len, enc + 1);
    if (w > 0)
        b->len += (size_t)w;
}

static int poll_get(struct sio_http *h, struct mg_connection *c, sess_t *s)
{
    if (httpx_admit(h->srv, HX_POLLING) != DG_OK) {
        httpx_send_error(h->srv, c, 503, "over_capacity", "too many connections, retry later",
                         NULL);
        return 503;
    }
    pthread_mutex_lock(&s->lock);
    int err = eio_sess_get_begin(&s->es);
    if (err != EIO_ERR_NONE) {
        int overlap = !s->torn && eio_sess_closed(&s->es);
        pthread_mutex_unlock(&s->lock);
        httpx_release(h->srv, HX_POLLING);
        if (overlap)
            sess_teardown(s, EIO_REASON_OVERLAP, NULL);
        send_eio_error(h, c, err);
        return eio_error_status(err);
    }
    pthread_cond_broadcast(&s->cond); /* a POST may wait for this GET (await_racing_get) */
    int reply;
    for (;;) {
        reply = eio_sess_get_reply(&s->es, s->q.len > 0);
        if (reply == EIO_GET_WAIT && (s->doomed || atomic_load(&h->stopping)))
            reply = EIO_GET_CLOSE;
        if (reply != EIO_GET_WAIT)
            break;
        pthread_cond_wait(&s->cond, &s->lock);
    }
    buf_t body = BUF_INIT;
    if (reply == EIO_GET_QUEUED) {
        msg_t *m;
        while ((m = oq_pop(&s->q))) {
            payload_append(&body, m);
            msg_unref(m);
        }
        oq_shrink(&s->q);
    } else {
        buf_append(&body, reply == EIO_GET_NOOP ? "6" : "1", 1);
    }
    eio_sess_get_end(&s->es);
    pthread_mutex_unlock(&s->lock);
    if (body.oom)
        httpx_send_error(h->srv, c, 500, "internal", "out of memory", NULL);
    else
        httpx_send(h->srv, c, 200, "text/plain; charset=UTF-8", body.data, body.len, NULL);
    buf_free(&body);
    httpx_release(h->srv, HX_POLLING);
    return 200;
}

/* A client closing over polling has a GET pending, which must get the noop. A GET sent at
 * the same moment as the close may still be on its way (another worker thread): give it a
 * moment to be held, so the answer does not depend on which thread ran first. */
static void await_racing_get(sess_t *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += CLOSE_GET_GRACE_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    while (!s->es.get_held && !s->torn && s->es.transport == EIO_TRANSPORT_POLLING)
        if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) != 0)
            break;
    pthread_mutex_unlock(&s->lock);
}

/* Reads the body and feeds its packets to the session. Returns the HTTP status to answer. */
static int post_body(struct sio_http *h, struct mg_connection *c, sess_t *s)
{
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *ctype = mg_get_header(c, "Content-Type");
    size_t max = (size_t)h->cfg->max_payload;
    if (ctype && strncmp(ctype, "application/octet-stream", 24) == 0) {
        /* Binary POST bodies are Engine.IO v3 only. */
        sess_teardown(s, EIO_REASON_PROTOCOL, NULL);
        return 400;
    }
    if (ri->content_length > (long long)max)
        return 413;
    eio_pdec_t d;
    eio_pdec_init(&d, max);
    char *chunk = malloc(READ_CHUNK);
    int rc = chunk ? DG_OK : DG_ENOMEM, n, status = 200;
    while (rc == DG_OK && (n = mg_read(c, chunk, READ_CHUNK)) > 0)
        rc = eio_pdec_feed(&d, chunk, (size_t)n);
    free(chunk);
    if (rc == DG_OK)
        rc = eio_pdec_finish(&d);
    if (rc == DG_ELIMIT) {
        status = 413;
    } else if (rc != DG_OK) {
        status = 503;
    } else {
        eio_packet_t p;
        int closed = 0;
        pthread_mutex_lock(&s->in_lock);
        while (!closed && (rc = eio_pdec_next(&d, &p)) == DG_OK) {
            if (p.type == EIO_CLOSE)
                await_racing_get(s);
            closed = sess_input(s, &p, NULL) != DG_OK;
        }
        pthread_mutex_unlock(&s->in_lock);
        if (!closed && rc != DG_ECLOSED) {
            log_debug("sio", "bad polling payload: %s", eio_pdec_errstr(&d));
            sess_teardown(s, EIO_REASON_PROTOCOL, NULL);
            status = 400;
        }
    }
    eio_pdec_free(&d);
    return status;
}

static int poll_post(struct sio_http *h, struct mg_connection *c, sess_t *s)
{
    pthread_mutex_lock(&s->lock);
    int err = eio_sess_post_begin(&s->es);
    int overlap = err != EIO_ERR_NONE && !s->torn && eio_sess_closed(&s->es);
    pthread_mutex_unlock(&s->lock);
    if (err != EIO_ERR_NONE) {
        if (overlap)
            sess_teardown(s, EIO_REASON_OVERLAP, NULL);
        send_eio_error(h, c, err);
        return eio_error_status(err);
    }
    int status = post_body(h, c, s);
    /* Done before answering: the client may send its next POST as soon as it has the answer. */
    pthread_mutex_lock(&s->lock);
    eio_sess_post_end(&s->es);
    pthread_mutex_unlock(&s->lock);
    if (status == 200)
        /* text/html, not text/plain, as engine.io: no download dialog in old browsers */
        httpx_send(h->srv, c, 200, "text/html", "ok", 2, NULL);
    else if (status == 400)
        send_eio_error(h, c, EIO_ERR_BAD_REQUEST);
    else if (status == 413)
        httpx_send_error(h->srv, c, 413, "payload_too_large", "body over maxPayload", NULL);
    else
        httpx_send_error(h->srv, c, 503, "unavailable", "out of memory", NULL);
    return status;
}

static int serve_js(struct sio_http *h, struct mg_connection *c, const char *js, size_t len)
{
    if (!js) {
        httpx_send_error(h->srv, c, 404, "not_found", "client library not installed", NULL);
        return 404;
    }
    int head = strcmp(mg_get_request_info(c)->request_method, "HEAD") == 0;
    httpx_send(h->srv, c, 200, "application/javascript; charset=utf-8", js, head ? 0 : len, NULL);
    return 200;
}

static int http_handler(struct mg_connection *c, void *cbdata)
{
    struct srv *srv = mg_get_user_data(mg_get_context(c));
    int echo = *(const int *)cbdata == EP_ENGINEIO;
    struct sio_http *h = h_acquire(srv);
    if (!h) {
        httpx_send_error(srv, c, 503, "unavailable", "shutting down", NULL);
        return 503;
    }
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *path = echo ? EIO_PATH : h->cfg->sio_path;
    size_t plen = strlen(path);
    const char *uri = ri->local_uri ? ri->local_uri : "";
    int status;
    if (strncmp(uri, path, plen) != 0 || (uri[plen] && echo)) {
        httpx_send_error(srv, c, 404, "not_found", "no such endpoint", NULL);
        status = 404;
    } else if (strcmp(uri + plen, "socket.io.js") == 0) {
        status = serve_js(h, c, h->js, h->js_len);
    } else if (strcmp(uri + plen, "socket.io.min.js") == 0) {
        status = serve_js(h, c, h->js_min, h->js_min_len);
    } else if (uri[plen]) {
        httpx_send_error(srv, c, 404, "not_found", "no such endpoint", NULL);
        status = 404;
    } else if (strcmp(ri->request_method, "OPTIONS") == 0) {
        httpx_send(srv, c, 204, NULL, NULL, 0,
                   "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
                   "Access-Control-Allow-Headers: Content-Type\r\n"
                   "Access-Control-Max-Age: 600\r\n");
        status = 204;
    } else if (atomic_load(&h->stopping)) {
        httpx_send_error(srv, c, 503, "unavailable", "shutting down", NULL);
        status = 503;
    } else {
        eio_query_t q;
        const char *qs = ri->query_string ? ri->query_string : "";
        sess_t *s = NULL;
        int st = EIO_TRANSPORT_UNKNOWN, err;
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
        if (err != EIO_ERR_NONE) {
            send_eio_error(h, c, err);
            status = eio_error_status(err);
        } else if (!s) {
            status = handshake(h, c, echo);
        } else if (strcmp(ri->request_method, "GET") == 0) {
            status = poll_get(h, c, s);
        } else if (strcmp(ri->request_method, "POST") == 0) {
            status = poll_post(h, c, s);
        } else {
            send_eio_error(h, c, EIO_ERR_BAD_REQUEST);
            status = 400;
        }
        sess_unref(s);
    }
    h_release(h);
    return status;
}

/* ================================================================ WebSocket handlers */

static void ws_close_self(wsconn_t *w, struct mg_connection *conn, int code)
{
    unsigned char pl[WS_CONTROL_MAX];
    size_t n = 0;
    if (w->closing)
        return;
    w->closing = 1;
    ws_close_encode(pl, code, NULL, 0, &n);
    mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, (const char *)pl, n);
}

/* Validates the upgrade before the 101 answer; refusing closes the socket. */
static int ws_connect(const struct mg_connection *c, void *cbdata)
{
    struct srv *srv = mg_get_user_data(mg_get_context(c));
    int echo = *(const int *)cbdata == EP_ENGINEIO;
    struct sio_http *h = h_acquire(srv);
    if (!h)
        return 1;
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *path = echo ? EIO_PATH : h->cfg->sio_path;
    const char *qs = ri->query_string ? ri->query_string : "";
    eio_query_t q;
    int st = EIO_TRANSPORT_UNKNOWN, ok = 0;
    if (atomic_load(&h->stopping) || !ri->local_uri || strcmp(ri->local_uri, path) != 0 ||
        eio_query_parse(qs, strlen(qs), &q) != DG_OK)
        goto out;
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
            goto out;
    } else if (atomic_load(&h->ntab) >= h->cfg->max_connections) {
        atomic_fetch_add(&srv->refused, 1);
        goto out;
    }
    if (eio_request_check(&q, ri->request_method, 1, st) != EIO_ERR_NONE ||
        !cfg_origin_allowed(h->cfg, mg_get_header(c, "Origin")))
        goto out;
    if (httpx_admit(srv, HX_WEBSOCKET) != DG_OK)
        goto out;
    wsconn_t *w = calloc(1, sizeof(*w));
    if (!w) {
        httpx_release(srv, HX_WEBSOCKET);
        goto out;
    }
    w->h = h;
    w->echo = echo;
    memcpy(w->sid, q.sid, sizeof(w->sid) - 1);
    ws_asm_init(&w->as, (size_t)h->cfg->max_payload);
    mg_set_user_connection_data(c, w);
    ok = 1;
out:
    if (!ok) {
        atomic_fetch_add(&srv->bad_requests, 1);
        h_release(h);
    }
    return ok ? 0 : 1;
}

static void ws_ready(struct mg_connection *c, void *cbdata)
{
    (void)cbdata;
    wsconn_t *w = mg_get_user_connection_data(c);
    if (!w)
        return;
    struct sio_http *h = w->h;
    if (w->sid[0]) {
        sess_t *s = sess_find(h, w->sid);
        int err = EIO_ERR_UNKNOWN_SID;
        if (s) {
            pthread_mutex_lock(&s->lock);
            err = s->torn ? EIO_ERR_UNKNOWN_SID : eio_sess_probe_attach(&s->es, sess_now_ms());
            if (err == EIO_ERR_NONE) {
                s->probe = c;
                sess_schedule_locked(s);
            }
            pthread_mutex_unlock(&s->lock);
        }
        if (err != EIO_ERR_NONE) {
            sess_unref(s);
            ws_close_self(w, c, WS_CLOSE_POLICY);
            return;
        }
        w->s = s;
        w->probe = 1;
        return;
    }
    sess_t *s = sess_new(h, EIO_TRANSPORT_WEBSOCKET, w->echo);
    if (!s) {
        ws_close_self(w, c, WS_CLOSE_INTERNAL);
        return;
    }
    char open[EIO_OPEN_MAX];
    int n =
        eio_open_encode(open, sizeof(open), s->sid, 0, (unsigned long)h->cfg->ping_interval_ms,
                        (unsigned long)h->cfg->ping_timeout_ms, (unsigned long)h->cfg->max_payload);
    /* Written before the session is reachable, so it is the first frame on the wire. */
    mg_websocket_write(c, MG_WEBSOCKET_OPCODE_TEXT, open, n > 0 ? (size_t)n : 0);
    w->s = s;
    sess_insert(h, s);
    pthread_mutex_lock(&s->lock);
    s->ws = c;
    sess_schedule_locked(s);
    pthread_mutex_unlock(&s->lock);
}

/* A packet on a WebSocket that probes an upgrade. Returns 1 to keep it, 0 to close it. */
static int ws_probe_packet(wsconn_t *w, struct mg_connection *c, const eio_packet_t *p)
{
    sess_t *s = w->s;
    struct sio_http *h = w->h;
    pthread_mutex_lock(&s->lock);
    int act = s->torn ? 0 : eio_sess_probe_packet(&s->es, p->type, p->data, p->len, sess_now_ms());
    if (act & EIO_ACT_RELEASE_GET)
        pthread_cond_broadcast(&s->cond);
    if (act & EIO_ACT_UPGRADED) {
        s->ws = c;
        s->probe = NULL;
        w->probe = 0;
        if (s->q.len)
            sess_list_locked(s); /* what queued during the upgrade goes out on the new transport */
        atomic_fetch_add(&h->upgrades, 1);
    }
    if (act & EIO_ACT_DROP_PROBE && s->probe == c)
        s->probe = NULL;
    if (act & EIO_ACT_RESCHEDULE)
        sess_schedule_locked(s);
    pthread_mutex_unlock(&s->lock);
    if (act & EIO_ACT_PROBE_PONG)
        mg_websocket_write(c, MG_WEBSOCKET_OPCODE_TEXT, "3probe", 6);
    if (!act || (act & EIO_ACT_DROP_PROBE)) {
        ws_close_self(w, c, WS_CLOSE_NORMAL);
        return 0;
    }
    return 1;
}

static int ws_data(struct mg_connection *c, int flags, char *data, size_t len, void *cbdata)
{
    (void)cbdata;
    wsconn_t *w = mg_get_user_connection_data(c);
    if (!w || w->closing || !w->s)
        return 0;
    ws_msg_t m;
    int rc = ws_asm_feed(&w->as, flags, data, len, &m);
    if (rc == DG_EAGAIN)
        return 1;
    if (rc != DG_OK) {
        log_debug("sio", "bad WebSocket frame: %s", ws_asm_errstr(&w->as));
        ws_close_self(w, c, ws_asm_close_code(&w->as));
        if (!w->probe)
            sess_teardown(w->s, EIO_REASON_PROTOCOL, c);
        return 0;
    }
    switch (m.opcode) {
    case WS_OP_CLOSE: {
        /* CivetWeb does not answer a close frame: echo its status so the client sees a
         * clean close instead of 1006 (unless this is the answer to ours: a torn session's
         * WebSocket already got one). */
        pthread_mutex_lock(&w->s->lock);
        int answered = !w->probe && w->s->torn;
        pthread_mutex_unlock(&w->s->lock);
        if (!w->closing && !answered)
            mg_websocket_write(c, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, (const char *)m.data,
                               m.len);
        w->closing = 1;
        if (!w->probe)
            sess_teardown(w->s, EIO_REASON_TRANSPORT, c);
        return 0;
    }
    case WS_OP_PING:
        mg_websocket_write(c, MG_WEBSOCKET_OPCODE_PONG, (const char *)m.data, m.len);
        return 1;
    case WS_OP_PONG:
        return 1;
    default:
        break;
    }
    eio_packet_t p;
    if (eio_packet_decode((const char *)m.data, m.len, m.opcode == WS_OP_BINARY, NULL, 0, &p) !=
        DG_OK) {
        ws_close_self(w, c, WS_CLOSE_PROTOCOL);
        if (!w->probe)
            sess_teardown(w->s, EIO_REASON_PROTOCOL, c);
        return 0;
    }
    if (w->probe)
        return ws_probe_packet(w, c, &p);
    pthread_mutex_lock(&w->s->in_lock);
    rc = sess_input(w->s, &p, c);
    pthread_mutex_unlock(&w->s->in_lock);
    if (rc != DG_OK) {
        ws_close_self(w, c, WS_CLOSE_NORMAL);
        return 0;
    }
    return 1;
}

static void ws_close(const struct mg_connection *c, void *cbdata)
{
    (void)cbdata;
    wsconn_t *w = mg_get_user_connection_data(c);
    if (!w)
        return;
    /* CivetWeb reuses connection structs: forget this one everywhere before returning. */
    mg_set_user_connection_data(c, NULL);
    struct sio_http *h = w->h;
    sess_t *s = w->s;
    if (s) {
        pthread_mutex_lock(&s->lock);
        int active = s->ws == c;
        if (active)
            s->ws = NULL;
        if (s->probe == c) {
            s->probe = NULL;
            eio_sess_probe_detach(&s->es);
        }
        while (s->writing)
            pthread_cond_wait(&s->cond, &s->lock);
        pthread_mutex_unlock(&s->lock);
        if (active)
            sess_teardown(s, EIO_REASON_TRANSPORT, c);
        sess_unref(s);
    }
    ws_asm_free(&w->as);
    free(w);
    httpx_release(h->srv, HX_WEBSOCKET);
    h_release(h);
}

/* ================================================================ start / stop / health */

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

static void load_client(struct sio_http *h)
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

int sio_http_start(struct srv *s)
{
    const cfg_t *cfg = s->cfg;
    struct sio_http *h = calloc(1, sizeof(*h));
    if (!h)
        return DG_ENOMEM;
    h->srv = s;
    h->cfg = cfg;
    h->refs = 1;
    if (sess_core_start(h) != DG_OK) {
        h_free(h);
        return DG_ENOMEM;
    }
    load_client(h);
    s->sio = h;
    mg_set_websocket_handler(s->ctx, cfg->sio_path, ws_connect, ws_ready, ws_data, ws_close,
                             (void *)&ep_socketio);
    mg_set_request_handler(s->ctx, cfg->sio_path, http_handler, (void *)&ep_socketio);
    if (cfg->conformance) {
        mg_set_websocket_handler(s->ctx, EIO_PATH, ws_connect, ws_ready, ws_data, ws_close,
                                 (void *)&ep_engineio);
        mg_set_request_handler(s->ctx, EIO_PATH, http_handler, (void *)&ep_engineio);
        log_info("sio", "conformance mode: / and /custom echo, Engine.IO echo at %s", EIO_PATH);
    }
    return DG_OK;
}

void sio_http_stop(struct srv *srv)
{
    struct sio_http *h = h_acquire(srv);
    if (!h)
        return;
    sess_core_stop(h);
    h_release(h); /* ours from h_acquire */
    h_release(h); /* the owner's: the last handler out (a WebSocket close handler inside
                   * mg_stop, maybe) frees h */
}

json_t *sio_http_health_json(struct srv *srv)
{
    struct sio_http *h = h_acquire(srv);
    if (!h)
        return json_object();
    json_t *closed = json_object();
    for (int r = 1; r < EIO_REASON_COUNT; r++)
        json_object_set_new(closed, eio_sess_reason_name(r),
                            json_integer((json_int_t)atomic_load(&h->closed[r])));
    sio_app_stats_t *a = &h->app_stats;
#define U(x) ((json_int_t)atomic_load(&(x)))
    int nsess = atomic_load(&h->ntab);
    json_t *o =
        json_pack("{s:i,s:{s:I,s:I,s:I},s:o,s:{s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I},s:I}", "sessions",
                  nsess, "opened", "polling", U(h->opened_polling), "websocket",
                  U(h->opened_websocket), "upgrades", U(h->upgrades), "closed", closed,
                  "namespaces", "connects", U(a->connects), "invalid_namespace", U(a->invalid_nsp),
                  "subscriptions", U(a->subscribes), "subscription_errors", U(a->sub_errors),
                  "client_logs", "accepted", U(a->logs_accepted), "invalid", U(a->logs_invalid),
                  "rejected", U(a->logs_rejected), "protocol_errors", U(a->protocol_errors));
#undef U
    h_release(h);
    return o;
}
