/* sio_ws.c - a Socket.IO WebSocket as a connection transport (conn.h), after CivetWeb's 101:
 * frames read with the server-side reader (masking, fragments, control frames between them,
 * UTF-8, max_payload checked on each header before anything is buffered), ping answered with
 * pong, the close handshake echoed, Engine.IO packets handed to the session; frames written
 * from the session's queue of shared msgs (one pre-built frame serves every subscriber). An
 * upgrade probe is the same connection until the client's "5" makes it the session's
 * transport. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dg.h"
#include "log.h"
#include "sio_int.h"
#include "wsframe.h"

#define LIVE_BATCH 32

typedef struct wsc {
    sess_t *s; /* holds a reference */
    int probe; /* still probing an upgrade */
    int closing; /* our close frame is out (or the connection is being reset) */
    ws_reader_t rd;
} wsc_t;

static wsc_t *of(cn_t *c)
{
    return cn_data(c);
}

/* Queues one unmasked server frame. */
static int write_frame(cn_t *c, int opcode, const void *payload, size_t len)
{
    unsigned char hdr[WS_HDR_MAX];
    size_t hl = ws_frame_header(hdr, opcode, len);
    int rc = cn_write(c, hdr, hl);
    if (rc == DG_OK && len)
        rc = cn_write(c, payload, len);
    return rc;
}

static int abortive(int reason)
{
    return reason == CN_CLOSE_HARD_LIMIT || reason == CN_CLOSE_SOFT_LIMIT ||
           reason == CN_CLOSE_STALL || reason == CN_CLOSE_ERROR;
}

void sio_ws_close(cn_t *c, int code, int reason)
{
    wsc_t *w = of(c);
    if (w->closing || cn_closed(c))
        return;
    w->closing = 1;
    if (abortive(reason)) {
        cn_close(c, reason); /* a stalled peer gets nothing more: reset */
        return;
    }
    unsigned char pl[WS_CONTROL_MAX];
    size_t n = 0;
    ws_close_encode(pl, code, NULL, 0, &n);
    write_frame(c, WS_OP_CLOSE, pl, n);
    cn_finish(c, reason);
}

/* The active transport failed under the session (not a probe). */
static void fail(cn_t *c, int code, int eio_reason)
{
    wsc_t *w = of(c);
    sio_ws_close(c, code, CN_CLOSE_PROTOCOL);
    if (!w->probe)
        sess_teardown(w->s, eio_reason);
}

/* ---------------------------------------------------------------- upgrade probe */

/* A packet on a probing WebSocket. */
static void probe_packet(cn_t *c, const eio_packet_t *p)
{
    wsc_t *w = of(c);
    sess_t *s = w->s;
    cn_t *dropped = NULL;
    pthread_mutex_lock(&s->lock);
    int act = s->torn ? 0 : eio_sess_probe_packet(&s->es, p->type, p->data, p->len, el_now_ms());
    if ((act & EIO_ACT_RELEASE_GET) && s->get)
        cn_wake(s->get);
    if ((act & EIO_ACT_UPGRADED) && s->probe == c) {
        s->ws = c; /* the probe's reference becomes the transport's */
        s->probe = NULL;
        w->probe = 0;
        /* what queued during the upgrade goes out on the new transport: live events, and
         * what recovery or a state read put in front (not in s->q, so no test of q.len) */
        cn_wake(c);
        atomic_fetch_add(&s->h->upgrades, 1);
    }
    if ((act & EIO_ACT_DROP_PROBE) && s->probe == c) {
        s->probe = NULL;
        dropped = c;
    }
    pthread_mutex_unlock(&s->lock);
    if (act & EIO_ACT_PROBE_PONG)
        write_frame(c, WS_OP_TEXT, "3probe", 6);
    if (!act || (act & EIO_ACT_DROP_PROBE))
        sio_ws_close(c, WS_CLOSE_NORMAL, CN_CLOSE_PROTOCOL);
    if (dropped)
        cn_unref(dropped);
}

/* ---------------------------------------------------------------- connection ops */

static int ws_open(cn_t *c)
{
    wsc_t *w = of(c);
    sess_t *s = w->s;
    sio_t *h = s->h;
    if (!w->probe) {
        char open[EIO_OPEN_MAX];
        int n = eio_open_encode(open, sizeof(open), s->sid, 0,
                                (unsigned long)h->cfg->ping_interval_ms,
                                (unsigned long)h->cfg->ping_timeout_ms,
                                (unsigned long)h->cfg->max_payload);
        /* Queued before the session can queue anything: the first frame on the wire. */
        if (n <= 0 || write_frame(c, WS_OP_TEXT, open, (size_t)n) != DG_OK)
            return CN_CLOSE_ERROR;
        pthread_mutex_lock(&s->lock);
        int torn = s->torn;
        if (!torn) {
            cn_ref(c);
            s->ws = c;
        }
        pthread_mutex_unlock(&s->lock);
        if (torn)
            sio_ws_close(c, WS_CLOSE_GOING_AWAY, CN_CLOSE_SHUTDOWN);
        else
            sess_start_timer(s);
        return 0;
    }
    pthread_mutex_lock(&s->lock);
    int err = s->torn ? EIO_ERR_UNKNOWN_SID : eio_sess_probe_attach(&s->es, el_now_ms());
    if (err == EIO_ERR_NONE) {
        cn_ref(c);
        s->probe = c;
    }
    pthread_mutex_unlock(&s->lock);
    if (err != EIO_ERR_NONE)
        sio_ws_close(c, WS_CLOSE_POLICY, CN_CLOSE_PROTOCOL);
    else
        sess_start_timer(s); /* the upgrade deadline */
    return 0;
}

static int ws_read(cn_t *c, const char *data, size_t len)
{
    wsc_t *w = of(c);
    sess_t *s = w->s;
    ws_msg_t m;
    int rc;
    if (w->closing)
        return 0;
    ws_reader_feed(&w->rd, data, len);
    while (!w->closing && (rc = ws_reader_next(&w->rd, &m)) == DG_OK) {
        switch (m.opcode) {
        case WS_OP_CLOSE: {
            /* Echo the client's status (RFC 6455 5.5.1) unless this answers our own close. */
            int code;
            const char *reason;
            size_t rlen;
            if (ws_close_parse(m.data, m.len, &code, &reason, &rlen) != DG_OK) {
                fail(c, WS_CLOSE_PROTOCOL, EIO_REASON_PROTOCOL);
                return 0;
            }
            w->closing = 1;
            write_frame(c, WS_OP_CLOSE, m.data, m.len < 2 ? 0 : 2);
            cn_finish(c, CN_CLOSE_DONE);
            if (!w->probe)
                sess_teardown(s, EIO_REASON_TRANSPORT);
            return 0;
        }
        case WS_OP_PING:
            write_frame(c, WS_OP_PONG, m.data, m.len);
            continue;
        case WS_OP_PONG:
            continue;
        default:
            break;
        }
        eio_packet_t p;
        if (eio_packet_decode((const char *)m.data, m.len, m.opcode == WS_OP_BINARY, NULL, 0,
                              &p) != DG_OK) {
            fail(c, WS_CLOSE_PROTOCOL, EIO_REASON_PROTOCOL);
            return 0;
        }
        if (w->probe)
            probe_packet(c, &p);
        else if (sess_input_packet(s, &p) != DG_OK)
            return 0; /* the session closed (and with it, this connection) */
    }
    if (!w->closing && rc != DG_EAGAIN) {
        log_debug("sio", "bad WebSocket frame: %s", ws_reader_errstr(&w->rd));
        fail(c, ws_reader_close_code(&w->rd), EIO_REASON_PROTOCOL);
    }
    return 0;
}

/* Adds one item: the shared frame as it is, or (an offset to append) a private header, the
 * shared packet without its final ']' and the private tail. */
static void out_item(cn_out_t *o, const sess_out_t *it)
{
    msg_t *m = it->m;
    if (!it->tail) {
        cn_out_msg(o, m, m->ws, m->ws_len);
        return;
    }
    const unsigned char *pkt = m->ws + m->ws_hdr_len;
    size_t plen = m->ws_len - m->ws_hdr_len - 1;
    unsigned char hdr[WS_HDR_MAX];
    size_t hl = ws_frame_header(hdr, WS_OP_TEXT, plen + it->tail_len);
    cn_out_copy(o, hdr, hl);
    cn_out_msg(o, m, pkt, plen);
    cn_out_copy(o, it->tail, it->tail_len);
}

static int ws_fill(cn_t *c, cn_out_t *o)
{
    wsc_t *w = of(c);
    sess_t *s = w->s;
    sess_out_t batch[LIVE_BATCH];
    int more = 0;
    while (!cn_out_full(o) && !w->closing) {
        int room = cn_out_free_segments(o) / 3, n; /* up to three segments an item */
        if (room > LIVE_BATCH)
            room = LIVE_BATCH;
        if (room == 0) {
            more = 1;
            break;
        }
        pthread_mutex_lock(&s->lock);
        int mine = s->ws == c && !s->torn;
        pthread_mutex_unlock(&s->lock);
        if (!mine)
            break;
        n = sess_pop(s, batch, room, o->budget - o->bytes, &more);
        for (int i = 0; i < n; i++) {
            out_item(o, &batch[i]);
            msg_unref(batch[i].m);
        }
        if (!n || !more)
            break;
    }
    /* Soft limit: what waits in the session plus what the socket and the kernel have not sent. */
    size_t unsent = cn_unsent(c);
    pthread_mutex_lock(&s->lock);
    int soft = s->ws == c ? oq_soft_check(&s->q, unsent, el_now_ms()) : OQ_UNDER;
    if (soft == OQ_SOFT_EXPIRED)
        sess_limit_locked(s, CN_CLOSE_SOFT_LIMIT);
    pthread_mutex_unlock(&s->lock);
    if (soft == OQ_SOFT_EXPIRED) {
        sess_teardown(s, EIO_REASON_SLOW);
        return 0;
    }
    if (soft == OQ_SOFT_OVER)
        sess_start_timer(s); /* the timer watches the soft deadline */
    return more;
}

static void ws_close_cb(cn_t *c, int reason)
{
    wsc_t *w = of(c);
    sess_t *s = w->s;
    cn_t *ours = NULL;
    int active = 0;
    pthread_mutex_lock(&s->lock);
    if (s->ws == c) {
        s->ws = NULL;
        ours = c;
        active = 1;
        if (reason == CN_CLOSE_HARD_LIMIT || reason == CN_CLOSE_SOFT_LIMIT)
            sess_limit_locked(s, reason); /* the connection's own limit (pending_max) */
    }
    if (s->probe == c) {
        s->probe = NULL;
        eio_sess_probe_detach(&s->es);
        ours = c;
    }
    pthread_mutex_unlock(&s->lock);
    if (active) {
        int r = reason == CN_CLOSE_STALL                                        ? EIO_REASON_WRITE
                : reason == CN_CLOSE_HARD_LIMIT || reason == CN_CLOSE_SOFT_LIMIT ? EIO_REASON_SLOW
                                                                                 : EIO_REASON_TRANSPORT;
        sess_teardown(s, r);
    }
    if (ours)
        cn_unref(ours);
    ws_reader_free(&w->rd);
}

/* Runs once even for a connection whose loop had stopped before it could open. */
static void ws_free(cn_t *c)
{
    wsc_t *w = of(c);
    ws_reader_free(&w->rd);
    adm_release(w->s->h->d.hx.adm, ADM_WEBSOCKET);
    sess_unref(w->s);
}

static const cn_ops_t ws_ops = {CN_KIND_WEBSOCKET, ws_open, ws_read, ws_fill, ws_close_cb, ws_free,
                                NULL};

int sio_ws_start(sess_t *s, int fd, int probe)
{
    cn_t *c = cn_new(s->loop, fd, &ws_ops, s->h->d.cn, sizeof(wsc_t));
    if (!c) {
        close(fd);
        adm_release(s->h->d.hx.adm, ADM_WEBSOCKET);
        return DG_ENOMEM;
    }
    wsc_t *w = of(c);
    sess_ref(s);
    w->s = s;
    w->probe = probe;
    ws_reader_init(&w->rd, (size_t)s->h->cfg->max_payload);
    cn_start(c);
    return DG_OK;
}
