/* sio_sess.c - Engine.IO sessions of the Socket.IO transport: the sid table, outbound queues
 * fed by the broker, the timer thread (heartbeats and timeouts from eio_session.c), the
 * WebSocket flusher threads, input dispatch to sio_app.c, and teardown. The CivetWeb
 * handlers that create and feed sessions are in sio_http.c; see sio_sess.h for threads. */
#include "sio_sess.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dg.h"
#include "log.h"
#include "wsframe.h"

int64_t sess_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ================================================================ sessions */

void sess_ref(sess_t *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void sess_unref(sess_t *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    struct sio_http *h = s->h;
    sio_app_free(&s->app);
    oq_clear(&s->q);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->in_lock);
    free(s);
    atomic_fetch_sub(&h->nsessions, 1);
}

static uint32_t sid_hash(const char *sid)
{
    uint32_t x = 2166136261u; /* FNV-1a; sids are random already */
    for (; *sid; sid++)
        x = (x ^ (uint8_t)*sid) * 16777619u;
    return x;
}

static void table_grow(struct sio_http *h)
{
    uint32_t n = h->nbuckets * 2;
    sess_t **nb = calloc(n, sizeof(*nb));
    if (!nb)
        return; /* longer chains, still correct */
    for (uint32_t i = 0; i < h->nbuckets; i++) {
        sess_t *s = h->buckets[i];
        while (s) {
            sess_t *next = s->tab_next;
            uint32_t b = sid_hash(s->sid) & (n - 1);
            s->tab_next = nb[b];
            nb[b] = s;
            s = next;
        }
    }
    free(h->buckets);
    h->buckets = nb;
    h->nbuckets = n;
}

/* The table takes its own reference. */
void sess_insert(struct sio_http *h, sess_t *s)
{
    sess_ref(s);
    pthread_mutex_lock(&h->tab_lock);
    if ((uint32_t)atomic_load(&h->ntab) >= h->nbuckets)
        table_grow(h);
    uint32_t b = sid_hash(s->sid) & (h->nbuckets - 1);
    s->tab_next = h->buckets[b];
    h->buckets[b] = s;
    atomic_fetch_add(&h->ntab, 1);
    pthread_mutex_unlock(&h->tab_lock);
}

/* Returns the session with a reference, or NULL. */
sess_t *sess_find(struct sio_http *h, const char *sid)
{
    pthread_mutex_lock(&h->tab_lock);
    sess_t *s = h->buckets[sid_hash(sid) & (h->nbuckets - 1)];
    while (s && strcmp(s->sid, sid) != 0)
        s = s->tab_next;
    if (s)
        sess_ref(s);
    pthread_mutex_unlock(&h->tab_lock);
    return s;
}

/* Removes s and drops the table's reference (the caller holds one of its own). */
static void table_remove(struct sio_http *h, sess_t *s)
{
    int found = 0;
    pthread_mutex_lock(&h->tab_lock);
    for (sess_t **pp = &h->buckets[sid_hash(s->sid) & (h->nbuckets - 1)]; *pp;
         pp = &(*pp)->tab_next) {
        if (*pp == s) {
            *pp = s->tab_next;
            atomic_fetch_sub(&h->ntab, 1);
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&h->tab_lock);
    if (found)
        sess_unref(s);
}

/* ================================================================ timer thread */

static int heap_less(const tentry_t *a, const tentry_t *b)
{
    return a->at < b->at;
}

/* Returns 0 or DG_ENOMEM (e not queued). */
static int heap_push(struct sio_http *h, tentry_t e)
{
    if (h->nheap == h->heap_cap) {
        size_t cap = h->heap_cap ? h->heap_cap * 2 : 256;
        tentry_t *p = realloc(h->heap, cap * sizeof(*p));
        if (!p)
            return DG_ENOMEM;
        h->heap = p;
        h->heap_cap = cap;
    }
    size_t i = h->nheap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(&e, &h->heap[parent]))
            break;
        h->heap[i] = h->heap[parent];
        i = parent;
    }
    h->heap[i] = e;
    return DG_OK;
}

static tentry_t heap_pop(struct sio_http *h)
{
    tentry_t top = h->heap[0], last = h->heap[--h->nheap];
    size_t i = 0, n = h->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_less(&h->heap[c + 1], &h->heap[c]))
            c++;
        if (!heap_less(&h->heap[c], &last))
            break;
        h->heap[i] = h->heap[c];
        i = c;
    }
    if (n)
        h->heap[i] = last;
    return top;
}

/* Arms the timer for the session's next deadline. Session lock held. */
void sess_schedule_locked(sess_t *s)
{
    struct sio_http *h = s->h;
    int64_t d = eio_sess_deadline(&s->es);
    if (d < 0 || s->torn || (s->t_armed && d == s->t_at))
        return;
    pthread_mutex_lock(&h->t_lock);
    if (!h->t_stop) {
        s->tgen++;
        sess_ref(s);
        if (heap_push(h, (tentry_t){d, s, s->tgen}) == DG_OK) {
            s->t_at = d;
            s->t_armed = 1;
            if (h->heap[0].s == s && h->heap[0].gen == s->tgen)
                pthread_cond_signal(&h->t_cond); /* new earliest deadline */
        } else {
            /* Out of memory: the next state change tries again; a session that never
             * changes again is reaped when its WebSocket or held GET fails. */
            s->t_armed = 0;
            sess_unref(s);
        }
    }
    pthread_mutex_unlock(&h->t_lock);
}

/* Wakes whoever writes the session's transport. Session lock held. */
void sess_list_locked(sess_t *s)
{
    struct sio_http *h = s->h;
    if (s->listed)
        return;
    pthread_mutex_lock(&h->f_lock);
    if (!h->f_stop) {
        s->listed = 1;
        sess_ref(s);
        s->ready_next = NULL;
        if (h->ready_tail)
            h->ready_tail->ready_next = s;
        else
            h->ready_head = s;
        h->ready_tail = s;
        pthread_cond_signal(&h->f_cond);
    }
    pthread_mutex_unlock(&h->f_lock);
}

static void wake_writer_locked(sess_t *s)
{
    if (s->es.transport == EIO_TRANSPORT_WEBSOCKET && s->ws)
        sess_list_locked(s);
    else
        pthread_cond_broadcast(&s->cond);
}

/* Marks s for closing from a thread that must not tear it down; a flusher does it. */
static void doom_locked(sess_t *s, int reason)
{
    if (s->doomed || s->torn)
        return;
    s->doomed = reason;
    pthread_cond_broadcast(&s->cond);
    sess_list_locked(s);
}

/* Queues m (taking a reference) without waking the writer. Session lock held. */
static int push_locked(sess_t *s, msg_t *m)
{
    if (s->torn || s->doomed || eio_sess_closed(&s->es)) {
        s->dropped++;
        return DG_ECLOSED;
    }
    int rc = oq_push(&s->q, m, m->ws_len);
    if (rc != DG_OK) {
        s->dropped += s->q.len + 1;
        doom_locked(s, EIO_REASON_SLOW);
        return rc;
    }
    return DG_OK;
}

/* Queues m (taking a reference) and wakes the writer. Session lock held. */
static int enqueue_locked(sess_t *s, msg_t *m)
{
    int rc = push_locked(s, m);
    if (rc == DG_OK)
        wake_writer_locked(s);
    return rc;
}

/* Writes a close frame to conn, one of s's WebSockets, from a flusher (not conn's own
 * thread): the caller raised s->writing, which keeps conn's close handler (and so conn)
 * waiting until this is done. */
static void close_frame_guarded(sess_t *s, struct mg_connection *conn, int code)
{
    unsigned char pl[WS_CONTROL_MAX];
    size_t n = 0;
    ws_close_encode(pl, code, NULL, 0, &n);
    mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, (const char *)pl, n);
    pthread_mutex_lock(&s->lock);
    if (--s->writing == 0)
        pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void on_timer(struct sio_http *h, tentry_t e)
{
    sess_t *s = e.s;
    int close_reason = 0;
    pthread_mutex_lock(&s->lock);
    if (e.gen == s->tgen && !s->torn) {
        s->t_armed = 0;
        int act = eio_sess_timer(&s->es, sess_now_ms());
        if (act & EIO_ACT_PING)
            enqueue_locked(s, h->m_ping);
        if ((act & EIO_ACT_DROP_PROBE) && s->probe) {
            s->drop_probe = 1;
            sess_list_locked(s);
        }
        if (act & EIO_ACT_CLOSE)
            close_reason = s->es.reason;
        else
            sess_schedule_locked(s);
    }
    pthread_mutex_unlock(&s->lock);
    if (close_reason)
        sess_teardown(s, close_reason, NULL);
    sess_unref(s);
}

static void *timer_main(void *arg)
{
    struct sio_http *h = arg;
    log_thread_no_publish();
    pthread_mutex_lock(&h->t_lock);
    while (!h->t_stop) {
        if (!h->nheap) {
            pthread_cond_wait(&h->t_cond, &h->t_lock);
            continue;
        }
        int64_t now = sess_now_ms();
        if (h->heap[0].at > now) {
            int64_t at = h->heap[0].at;
            struct timespec ts = {.tv_sec = at / 1000, .tv_nsec = (at % 1000) * 1000000};
            pthread_cond_timedwait(&h->t_cond, &h->t_lock, &ts);
            continue;
        }
        tentry_t e = heap_pop(h);
        pthread_mutex_unlock(&h->t_lock);
        on_timer(h, e);
        pthread_mutex_lock(&h->t_lock);
    }
    pthread_mutex_unlock(&h->t_lock);
    return NULL;
}

/* ================================================================ WebSocket flushers */

/* 1 when a flusher has something to do for s. Session lock held. */
static int needs_flush(const sess_t *s)
{
    if (s->torn)
        return s->close_pending;
    return s->drop_probe || s->doomed ||
           (s->q.len && s->es.transport == EIO_TRANSPORT_WEBSOCKET && s->ws);
}

static void flush_one(struct sio_http *h, sess_t *s, buf_t *out)
{
    msg_t *batch[FLUSH_BATCH_MSGS];
    struct mg_connection *closing[3], *conn = NULL;
    int n = 0, nclose = 0, doomed = 0;
    size_t bytes = 0;
    pthread_mutex_lock(&s->lock);
    s->listed = 0;
    if (s->flushing) {
        /* Another flusher is writing this session; it re-lists it when done, so frames
         * are never written by two threads at once (out of order). */
        pthread_mutex_unlock(&s->lock);
        return;
    }
    if (s->drop_probe) {
        s->drop_probe = 0;
        if (s->probe)
            closing[nclose++] = s->probe;
        s->probe = NULL;
    }
    if (s->torn) {
        if (s->close_pending) {
            s->close_pending = 0;
            if (s->ws && s->ws != s->close_skip)
                closing[nclose++] = s->ws;
            if (s->probe && s->probe != s->close_skip)
                closing[nclose++] = s->probe;
        }
    } else if (s->doomed) {
        doomed = s->doomed;
    } else if (s->es.transport == EIO_TRANSPORT_WEBSOCKET && s->ws) {
        conn = s->ws;
        while (n < FLUSH_BATCH_MSGS && bytes < FLUSH_BATCH_BYTES && (batch[n] = oq_pop(&s->q)))
            bytes += batch[n++]->ws_len;
        if (!s->q.len)
            oq_shrink(&s->q);
    }
    s->writing += nclose + (n > 0);
    s->flushing = 1;
    pthread_mutex_unlock(&s->lock);

    int ok = 1;
    for (int i = 0; i < nclose; i++)
        close_frame_guarded(s, closing[i],
                            atomic_load(&h->stopping) ? WS_CLOSE_GOING_AWAY : WS_CLOSE_NORMAL);
    if (n) {
        buf_reset(out);
        for (int i = 0; i < n; i++) {
            buf_append(out, batch[i]->ws, batch[i]->ws_len);
            msg_unref(batch[i]);
        }
        ok = !out->oom;
        if (ok) {
            mg_lock_connection(conn);
            ok = mg_write(conn, out->data, out->len) == (int)out->len;
            mg_unlock_connection(conn);
        }
        if (out->cap > 4 * FLUSH_BATCH_BYTES)
            buf_free(out);
    }

    pthread_mutex_lock(&s->lock);
    s->flushing = 0;
    if (n && --s->writing == 0)
        pthread_cond_broadcast(&s->cond);
    if (ok && !doomed && needs_flush(s))
        sess_list_locked(s); /* more to do: back of the line, so one busy client cannot hog */
    pthread_mutex_unlock(&s->lock);
    if (doomed)
        sess_teardown(s, doomed, NULL); /* lists s again for its close frame */
    if (!ok) {
        /* A short write leaves a truncated frame: the connection is unusable. */
        atomic_fetch_add(&h->srv->write_failed, 1);
        sess_teardown(s, EIO_REASON_WRITE, NULL);
    }
}

static void *flusher_main(void *arg)
{
    struct sio_http *h = arg;
    buf_t out = BUF_INIT;
    log_thread_no_publish();
    for (;;) {
        pthread_mutex_lock(&h->f_lock);
        while (!h->ready_head && !h->f_stop)
            pthread_cond_wait(&h->f_cond, &h->f_lock);
        sess_t *s = h->ready_head;
        if (!s) {
            pthread_mutex_unlock(&h->f_lock);
            break;
        }
        h->ready_head = s->ready_next;
        if (!h->ready_head)
            h->ready_tail = NULL;
        pthread_mutex_unlock(&h->f_lock);
        flush_one(h, s, &out);
        sess_unref(s);
    }
    buf_free(&out);
    return NULL;
}

/* ================================================================ session lifecycle */

/* Broker callbacks (broker lock held): deliver() only queues; wake() runs once per publish
 * batch, so a burst of events costs one flusher wake-up or one GET wake-up. */
static void deliver(bk_sub_t *sub, msg_t *m)
{
    sess_t *s = sub->owner;
    pthread_mutex_lock(&s->lock);
    push_locked(s, m);
    pthread_mutex_unlock(&s->lock);
}

static void wake(bk_sub_t *sub)
{
    sess_t *s = sub->owner;
    pthread_mutex_lock(&s->lock);
    if (!s->torn && !s->doomed && s->q.len)
        wake_writer_locked(s);
    pthread_mutex_unlock(&s->lock);
}

static int app_send(void *ud, const char *pkt, size_t len, int binary)
{
    sess_t *s = ud;
    msg_t *m = msg_new_packet(pkt, len, binary);
    if (!m)
        return DG_ENOMEM;
    pthread_mutex_lock(&s->lock);
    int rc = enqueue_locked(s, m);
    pthread_mutex_unlock(&s->lock);
    msg_unref(m);
    return rc;
}

static int app_join(void *ud, const char *room, const bk_filter_t *f)
{
    sess_t *s = ud;
    bk_t *bk = s->h->srv->bk;
    int rc = bk_join(bk, &s->sub, room, f, NULL);
    /* teardown marks the session torn before it leaves every room: a join that raced with
     * it is undone here, so a dead session never stays a member. */
    pthread_mutex_lock(&s->lock);
    int dead = s->torn;
    pthread_mutex_unlock(&s->lock);
    if (dead && rc == DG_OK) {
        bk_leave(bk, &s->sub, room);
        rc = DG_ECLOSED;
    }
    return rc;
}

static int app_leave(void *ud, const char *room)
{
    sess_t *s = ud;
    return bk_leave(s->h->srv->bk, &s->sub, room);
}

static void app_leave_all(void *ud)
{
    sess_t *s = ud;
    bk_leave_all(s->h->srv->bk, &s->sub);
}

static int app_publish_log(void *ud, int level, const char *ns, const char *json, size_t len)
{
    sess_t *s = ud;
    return rds_publish_log(s->h->srv->rds, level, ns, json, len);
}

/* A new session with one reference for the caller; not in the table yet. */
sess_t *sess_new(struct sio_http *h, int transport, int echo)
{
    sess_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (eio_sid_generate(s->sid) != DG_OK) {
        free(s);
        return NULL;
    }
    s->h = h;
    s->echo = echo;
    atomic_init(&s->refs, 1);
    s->sub.deliver = deliver;
    s->sub.wake = wake;
    s->sub.owner = s;
    pthread_mutex_init(&s->in_lock, NULL);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    eio_sess_init(&s->es, transport, echo ? &h->scfg_eio : &h->scfg_sio, sess_now_ms());
    oq_init(&s->q, (uint32_t)h->cfg->queue_max_msgs, (size_t)h->cfg->queue_max_bytes);
    sio_app_ops_t ops = {s, app_send, app_join, app_leave, app_leave_all, app_publish_log};
    sio_app_init(&s->app, h->cfg, &ops, &h->app_stats);
    atomic_fetch_add(&h->nsessions, 1);
    atomic_fetch_add(transport == EIO_TRANSPORT_POLLING ? &h->opened_polling : &h->opened_websocket,
                     1);
    return s;
}

/* Closes s for good: marks it torn, answers a held GET, leaves every room, leaves the sid
 * table, and has a flusher send a close frame to its WebSockets except self (the calling
 * data handler's own connection, which closes itself by returning 0). Any thread holding no
 * session or broker lock; the caller holds a reference. */
void sess_teardown(sess_t *s, int reason, const struct mg_connection *self)
{
    struct sio_http *h = s->h;
    pthread_mutex_lock(&s->lock);
    if (s->torn) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    s->torn = 1;
    eio_sess_close(&s->es, reason);
    reason = s->es.reason; /* a close the state machine recorded first wins */
    uint64_t dropped = s->dropped + s->q.len;
    oq_clear(&s->q);
    if ((s->ws && s->ws != self) || (s->probe && s->probe != self)) {
        s->close_pending = 1;
        s->close_skip = self;
        sess_list_locked(s);
    }
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);

    bk_leave_all(h->srv->bk, &s->sub);
    table_remove(h, s);

    atomic_fetch_add(&h->closed[reason], 1);
    if (reason == EIO_REASON_SLOW) {
        atomic_fetch_add(&h->srv->slow_closed, 1);
        atomic_fetch_add(&h->srv->dropped_msgs, dropped);
        log_warn("sio",
                 "closed a slow client: outbound queue over its limit (%d msgs / %ld bytes), "
                 "%llu messages dropped",
                 h->cfg->queue_max_msgs, h->cfg->queue_max_bytes, (unsigned long long)dropped);
    } else if (reason == EIO_REASON_WRITE) {
        atomic_fetch_add(&h->srv->dropped_msgs, dropped);
        log_debug("sio", "client gone or write timed out, %llu messages dropped",
                  (unsigned long long)dropped);
    } else {
        log_debug("sio", "session closed: %s", eio_sess_reason_name(reason));
    }
}

/* One Engine.IO packet from the session's live transport. in_lock held. Returns 0, or
 * DG_ECLOSED when the session is (now) closed: self's data handler then ends its socket. */
int sess_input(sess_t *s, const eio_packet_t *p, const struct mg_connection *self)
{
    pthread_mutex_lock(&s->lock);
    if (s->torn || s->doomed) {
        pthread_mutex_unlock(&s->lock);
        return DG_ECLOSED;
    }
    int act = eio_sess_packet(&s->es, p->type, p->data, p->len, sess_now_ms());
    if (act & EIO_ACT_RELEASE_GET)
        pthread_cond_broadcast(&s->cond);
    if (act & EIO_ACT_RESCHEDULE)
        sess_schedule_locked(s);
    int reason = (act & EIO_ACT_CLOSE) ? s->es.reason : 0;
    pthread_mutex_unlock(&s->lock);
    if (reason) {
        sess_teardown(s, reason, self);
        return DG_ECLOSED;
    }
    if (!(act & EIO_ACT_DELIVER))
        return DG_OK;
    if (s->echo) {
        /* The Engine.IO test suite's server writes every message back as it came. */
        if (p->is_binary) {
            app_send(s, p->data, p->len, 1);
        } else {
            char *pkt = malloc(p->len + 1);
            if (pkt) {
                pkt[0] = '4';
                if (p->len)
                    memcpy(pkt + 1, p->data, p->len);
                app_send(s, pkt, p->len + 1, 0);
                free(pkt);
            }
        }
        return DG_OK;
    }
    if (sio_app_message(&s->app, p->data, p->len, p->is_binary) != DG_OK) {
        log_debug("sio", "closing a client: %s", sio_app_errstr(&s->app));
        sess_teardown(s, EIO_REASON_PROTOCOL, self);
        return DG_ECLOSED;
    }
    if (!s->app_connected && sio_app_connected(&s->app)) {
        s->app_connected = 1;
        pthread_mutex_lock(&s->lock);
        eio_sess_app_connected(&s->es);
        pthread_mutex_unlock(&s->lock);
    }
    return DG_OK;
}

/* ================================================================ start / stop */

static void close_all(struct sio_http *h)
{
    for (;;) {
        sess_t *s = NULL;
        pthread_mutex_lock(&h->tab_lock);
        for (uint32_t i = 0; i < h->nbuckets && !s; i++)
            s = h->buckets[i];
        if (s)
            sess_ref(s);
        pthread_mutex_unlock(&h->tab_lock);
        if (!s)
            break;
        sess_teardown(s, EIO_REASON_SERVER, NULL);
        sess_unref(s);
    }
}

static void stop_threads(struct sio_http *h)
{
    pthread_mutex_lock(&h->t_lock);
    h->t_stop = 1;
    pthread_cond_signal(&h->t_cond);
    pthread_mutex_unlock(&h->t_lock);
    if (h->timer_started)
        pthread_join(h->timer_th, NULL);
    h->timer_started = 0;
    while (h->nheap)
        sess_unref(heap_pop(h).s);
    /* Flushers drain the ready list (close frames included) before they exit. */
    pthread_mutex_lock(&h->f_lock);
    h->f_stop = 1;
    pthread_cond_broadcast(&h->f_cond);
    pthread_mutex_unlock(&h->f_lock);
    for (int i = 0; i < h->nflushers; i++)
        pthread_join(h->flush_th[i], NULL);
    h->nflushers = 0;
}

int sess_core_start(struct sio_http *h)
{
    const cfg_t *cfg = h->cfg;
    h->scfg_sio = (eio_sess_cfg_t){cfg->ping_interval_ms, cfg->ping_timeout_ms,
                                   cfg->connect_timeout_ms, UPGRADE_TIMEOUT_MS};
    h->scfg_eio = h->scfg_sio;
    h->scfg_eio.connect_timeout_ms = 0; /* plain Engine.IO has no Socket.IO CONNECT */
    h->nbuckets = 1024;
    h->buckets = calloc(h->nbuckets, sizeof(*h->buckets));
    if (!h->buckets)
        h->nbuckets = 0;
    h->m_ping = msg_new_packet("2", 1, 0);
    pthread_mutex_init(&h->tab_lock, NULL);
    pthread_mutex_init(&h->t_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->t_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&h->f_lock, NULL);
    pthread_cond_init(&h->f_cond, NULL);
    h->core_started = 1;
    if (!h->buckets || !h->m_ping)
        return DG_ENOMEM;
    if (pthread_create(&h->timer_th, NULL, timer_main, h) != 0)
        return DG_ENOMEM;
    h->timer_started = 1;
    for (; h->nflushers < NFLUSHERS; h->nflushers++)
        if (pthread_create(&h->flush_th[h->nflushers], NULL, flusher_main, h) != 0)
            return DG_ENOMEM;
    return DG_OK;
}

void sess_core_stop(struct sio_http *h)
{
    atomic_store(&h->stopping, 1);
    close_all(h);
    stop_threads(h);
}

void sess_core_free(struct sio_http *h)
{
    if (!h->core_started)
        return;
    stop_threads(h); /* after a failed start */
    close_all(h);    /* sessions made while stopping, after sess_core_stop's sweep */
    free(h->buckets);
    free(h->heap);
    msg_unref(h->m_ping);
    pthread_mutex_destroy(&h->tab_lock);
    pthread_mutex_destroy(&h->t_lock);
    pthread_cond_destroy(&h->t_cond);
    pthread_mutex_destroy(&h->f_lock);
    pthread_cond_destroy(&h->f_cond);
}
