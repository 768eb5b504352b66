/* sio_poll.c - a held Engine.IO polling GET as a connection transport (conn.h): taken over
 * from CivetWeb after the request was parsed, held on the session's loop until the session has
 * something to say (queued packets, a ping, a noop during an upgrade, the close), then answered
 * with a whole HTTP response (status, Content-Length, CORS) and closed. A client that goes away
 * while its GET is held closes the session, as engine.io does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "dg.h"
#include "httpx.h"
#include "sio_int.h"

typedef struct pollc {
    sess_t *s; /* holds a reference */
    int answered;
    char cors[512];
} pollc_t;

static pollc_t *of(cn_t *c)
{
    return cn_data(c);
}

/* Appends the polling form of an item: the bare packet (its offset tail instead of the final
 * ']' if it has one), or "b" + base64 for a binary message. */
static void payload_append(buf_t *b, const sess_out_t *it)
{
    const msg_t *m = it->m;
    const char *pkt = (const char *)m->ws + m->ws_hdr_len;
    size_t len = m->ws_len - m->ws_hdr_len;
    if (b->len)
        buf_append(b, "\x1e", 1);
    if (it->tail) {
        buf_append(b, pkt, len - 1);
        buf_append(b, it->tail, it->tail_len);
        return;
    }
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

static void respond(cn_t *c, int status, const char *ctype, const char *body, size_t len)
{
    buf_t out = BUF_INIT;
    if (httpx_response(&out, status, ctype, of(c)->cors, body, len) == DG_OK)
        cn_write(c, out.data, out.len);
    buf_free(&out);
    cn_finish(c, CN_CLOSE_DONE);
}

void sio_poll_answer(cn_t *c)
{
    pollc_t *p = of(c);
    sess_t *s = p->s;
    if (p->answered || cn_closed(c))
        return;
    buf_t body = BUF_INIT;
    int has = sess_has_output(s);
    pthread_mutex_lock(&s->lock);
    if (s->get != c) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    int reply = eio_sess_get_reply(&s->es, has);
    if (reply == EIO_GET_WAIT && (s->limit || atomic_load(&s->h->stopping)))
        reply = EIO_GET_CLOSE;
    pthread_mutex_unlock(&s->lock);
    if (reply == EIO_GET_WAIT)
        return;
    if (reply == EIO_GET_QUEUED) {
        /* taken off the session on this loop only: nothing else pops meanwhile */
        sess_out_t items[SESS_POP_MAX];
        int more = 1;
        while (more && body.len < SIO_POLL_MAX_BYTES) {
            int n = sess_pop(s, items, SESS_POP_MAX, SIO_POLL_MAX_BYTES - body.len, &more);
            for (int i = 0; i < n; i++) {
                payload_append(&body, &items[i]);
                cn_delivered(c, items[i].m);
                msg_unref(items[i].m);
            }
            if (!n)
                break;
        }
        if (!body.len) {
            buf_free(&body);
            return; /* all of it was duplicates: the GET waits on */
        }
    } else {
        buf_append(&body, reply == EIO_GET_NOOP ? "6" : "1", 1);
    }
    pthread_mutex_lock(&s->lock);
    eio_sess_get_end(&s->es);
    s->get = NULL;
    p->answered = 1;
    pthread_mutex_unlock(&s->lock);
    if (body.oom) {
        static const char oom[] = "{\"error\":\"internal\",\"message\":\"out of memory\"}";
        respond(c, 500, "application/json", oom, sizeof(oom) - 1);
    } else {
        respond(c, 200, "text/plain; charset=UTF-8", body.data, body.len);
    }
    buf_free(&body);
    cn_unref(c); /* the session's reference */
}

static int poll_open(cn_t *c)
{
    pollc_t *p = of(c);
    sess_t *s = p->s;
    pthread_mutex_lock(&s->lock);
    int err = s->torn ? EIO_ERR_UNKNOWN_SID : eio_sess_get_begin(&s->es);
    int overlap = err != EIO_ERR_NONE && !s->torn && eio_sess_closed(&s->es);
    if (err == EIO_ERR_NONE) {
        cn_ref(c);
        s->get = c;
    }
    pthread_mutex_unlock(&s->lock);
    if (err != EIO_ERR_NONE) {
        char body[EIO_ERROR_BODY_MAX];
        int n = eio_error_body(body, sizeof(body), err);
        p->answered = 1;
        atomic_fetch_add(&s->h->d.hx.adm->bad_requests, 1);
        if (overlap)
            sess_teardown(s, EIO_REASON_OVERLAP); /* answers the GET held before this one */
        respond(c, eio_error_status(err), "application/json", body, n > 0 ? (size_t)n : 0);
        return 0;
    }
    if (s->deferred)
        sess_release_deferred(s); /* a close that waited for this GET */
    sio_poll_answer(c);
    return 0;
}

static int poll_read(cn_t *c, const char *data, size_t len)
{
    (void)c;
    (void)data;
    (void)len;
    return 0; /* nothing more is expected on a GET: ignored */
}

static int poll_fill(cn_t *c, cn_out_t *o)
{
    (void)o;
    sio_poll_answer(c); /* the whole answer goes through cn_write */
    return 0;
}

static void poll_close(cn_t *c, int reason)
{
    pollc_t *p = of(c);
    sess_t *s = p->s;
    int detached = 0;
    (void)reason;
    pthread_mutex_lock(&s->lock);
    if (s->get == c) {
        s->get = NULL;
        eio_sess_get_end(&s->es);
        detached = 1;
    }
    pthread_mutex_unlock(&s->lock);
    if (detached) {
        cn_unref(c);
        sess_teardown(s, EIO_REASON_TRANSPORT); /* a poll cancelled by the client */
    }
}

static void poll_free(cn_t *c)
{
    pollc_t *p = of(c);
    adm_release(p->s->h->d.hx.adm, ADM_POLLING);
    sess_unref(p->s);
}

static const cn_ops_t poll_ops = {CN_KIND_POLLING, poll_open, poll_read, poll_fill, poll_close,
                                  poll_free, NULL};

int sio_poll_start(sess_t *s, int fd, const char *cors)
{
    cn_t *c = cn_new(s->loop, fd, &poll_ops, s->h->d.cn, sizeof(pollc_t));
    if (!c) {
        close(fd);
        adm_release(s->h->d.hx.adm, ADM_POLLING);
        return DG_ENOMEM;
    }
    pollc_t *p = of(c);
    sess_ref(s);
    p->s = s;
    snprintf(p->cors, sizeof(p->cors), "%s", cors ? cors : "");
    cn_start(c);
    return DG_OK;
}
