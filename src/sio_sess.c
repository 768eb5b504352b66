/* sio_sess.c - Engine.IO sessions of the Socket.IO transport: the sid table and the FIFO of
 * sessions still waiting for their Socket.IO CONNECT, outbound queues fed by the broker, the
 * per-session timer on its loop (heartbeats, timeouts from eio_session.c, the soft output
 * limit), input dispatch to sio_app.c, and teardown. Transports are in sio_ws.c / sio_poll.c,
 * CivetWeb handlers in sio_http.c; see sio_int.h for threads and locks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"
#include "log.h"
#include "sio_int.h"
#include "wsframe.h"

/* ================================================================ lifetime */

void sess_ref(sess_t *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void sess_unref(sess_t *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    sio_t *h = s->h;
    sio_app_free(&s->app);
    rec_free(s);
    oq_clear(&s->q);
    pthread_mutex_destroy(&s->lock);
    free(s);
    atomic_fetch_sub(&h->nsessions, 1);
}

/* ================================================================ the sid table */

int sess_insert(sess_t *s)
{
    sio_t *h = s->h;
    sess_t *evict = NULL;
    int rc = DG_OK;
    pthread_mutex_lock(&h->tab_lock);
    if ((int)h->sids.n >= h->cfg->max_connections) {
        rc = DG_ELIMIT;
    } else if (!s->echo && h->nunconnected >= h->cfg->max_pending_sessions) {
        /* Real clients send CONNECT within a round trip; one that waited a second gives way,
         * so handshakes that never CONNECT cannot lock new clients out. */
        sess_t *old = DG_CONTAINER_OF(list_first(&h->unconnected), sess_t, unode);
        if (s->created - old->created >= SIO_EVICT_AGE_MS) {
            list_unlink(&old->unode);
            h->nunconnected--;
            sess_ref(old);
            evict = old;
        } else {
            rc = DG_ELIMIT;
        }
    }
    if (rc == DG_OK) {
        sess_ref(s);
        ht_insert(&h->sids, &s->node, s->sid);
        s->in_table = 1;
        if (!s->echo) {
            list_push(&h->unconnected, &s->unode);
            h->nunconnected++;
        }
    }
    pthread_mutex_unlock(&h->tab_lock);
    if (evict) {
        atomic_fetch_add(&h->evicted, 1);
        sess_close_async(evict, EIO_REASON_CONNECT_TIMEOUT);
        sess_unref(evict);
    }
    return rc;
}

sess_t *sess_find(sio_t *h, const char *sid)
{
    pthread_mutex_lock(&h->tab_lock);
    ht_node_t *n = ht_find(&h->sids, sid);
    sess_t *s = n ? DG_CONTAINER_OF(n, sess_t, node) : NULL;
    if (s)
        sess_ref(s);
    pthread_mutex_unlock(&h->tab_lock);
    return s;
}

static void connected(sess_t *s)
{
    sio_t *h = s->h;
    pthread_mutex_lock(&h->tab_lock);
    if (list_linked(&s->unode)) {
        list_unlink(&s->unode);
        h->nunconnected--;
    }
    pthread_mutex_unlock(&h->tab_lock);
}

static void table_remove(sess_t *s)
{
    sio_t *h = s->h;
    int was = 0;
    pthread_mutex_lock(&h->tab_lock);
    if (s->in_table) {
        ht_remove(&h->sids, &s->node);
        s->in_table = 0;
        was = 1;
    }
    if (list_linked(&s->unode)) {
        list_unlink(&s->unode);
        h->nunconnected--;
    }
    pthread_mutex_unlock(&h->tab_lock);
    if (was)
        sess_unref(s);
}

/* ================================================================ queue and wake-ups */

/* Asks the loop to look at the session (overflow, close request). Session lock held. */
static void schedule_locked(sess_t *s)
{
    sess_ref(s);
    if (!el_schedule(s->loop, &s->ready))
        sess_unref(s); /* the loop has stopped; the table still holds a reference */
}

void sess_wake_locked(sess_t *s)
{
    if (s->es.transport == EIO_TRANSPORT_WEBSOCKET && s->ws)
        cn_wake(s->ws);
    else if (s->get)
        cn_wake(s->get);
}

void sess_limit_locked(sess_t *s, int limit)
{
    if (!s->limit)
        s->limit = limit;
}

/* Queues m without waking. Session lock held. */
static int push_locked(sess_t *s, msg_t *m)
{
    if (s->torn || s->limit || eio_sess_closed(&s->es)) {
        s->dropped++;
        return DG_ECLOSED;
    }
    int rc = oq_push(&s->q, m, m->ws_len);
    if (rc != DG_OK) {
        /* over the hard limit: closed by its loop, never from here */
        sess_limit_locked(s, CN_CLOSE_HARD_LIMIT);
        s->dropped += s->q.len + 1;
        schedule_locked(s);
    } else if (s->q.soft_bytes && s->q.bytes > s->q.soft_bytes &&
               oq_soft_check(&s->q, 0, el_now_ms()) == OQ_SOFT_EXPIRED) {
        sess_limit_locked(s, CN_CLOSE_SOFT_LIMIT); /* over it for too long: a stalled client */
        schedule_locked(s);
    }
    return rc;
}

int sess_enqueue(sess_t *s, msg_t *m)
{
    pthread_mutex_lock(&s->lock);
    int rc = push_locked(s, m);
    if (rc == DG_OK)
        sess_wake_locked(s);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* out[n] = m with its offset tail (an offset into s->rec.tails until the end of sess_pop). */
static size_t pop_add(sess_t *s, sess_out_t *out, size_t *tail_at, int n, msg_t *m)
{
    size_t at = s->rec.tails.len;
    out[n].m = m;
    out[n].tail = NULL;
    out[n].tail_len = rec_tail(s, m, &s->rec.tails) ? s->rec.tails.len - at : 0;
    tail_at[n] = at;
    return m->ws_len + out[n].tail_len;
}

int sess_pop(sess_t *s, sess_out_t *out, int max, size_t max_bytes, int *more)
{
    size_t tail_at[SESS_POP_MAX], bytes = 0;
    int n = 0, r = REC_NONE;
    msg_t *m;
    if (max > SESS_POP_MAX)
        max = SESS_POP_MAX;
    buf_reset(&s->rec.tails);
    while (n < max && bytes < max_bytes && (r = rec_next(s, &m)) == REC_ITEM)
        bytes += pop_add(s, out, tail_at, n++, m);
    if (r == REC_NONE && !rec_holding(s) && n < max && bytes < max_bytes) {
        msg_t *batch[SESS_POP_MAX];
        pthread_mutex_lock(&s->lock);
        int k = oq_pop_batch(&s->q, batch, max - n, max_bytes - bytes);
        pthread_mutex_unlock(&s->lock);
        for (int i = 0; i < k; i++) {
            if (rec_seen(s, batch[i])) { /* a replay sent it already */
                atomic_fetch_add_explicit(&s->h->deduped, 1, memory_order_relaxed);
                msg_unref(batch[i]);
                continue;
            }
            bytes += pop_add(s, out, tail_at, n++, batch[i]);
        }
    }
    for (int i = 0; i < n; i++)
        if (out[i].tail_len)
            out[i].tail = s->rec.tails.data + tail_at[i];
    *more = sess_has_output(s);
    return n;
}

int sess_has_output(sess_t *s)
{
    if (rec_ready(s))
        return 1;
    if (rec_holding(s))
        return 0;
    pthread_mutex_lock(&s->lock);
    int queued = s->q.len > 0;
    pthread_mutex_unlock(&s->lock);
    return queued;
}

/* Broker callbacks (broker lock held): deliver only queues; wake runs once per batch. */
static void deliver(bk_sub_t *sub, msg_t *m)
{
    sess_t *s = sub->owner;
    if (m->kind == MSG_RELAY && m->ns && strcmp(m->ns, s->sid) == 0)
        return; /* this session's own relayed event came back through Redis */
    pthread_mutex_lock(&s->lock);
    push_locked(s, m);
    pthread_mutex_unlock(&s->lock);
}

static void wake(bk_sub_t *sub)
{
    sess_t *s = sub->owner;
    pthread_mutex_lock(&s->lock);
    if (!s->torn && s->q.len)
        sess_wake_locked(s);
    pthread_mutex_unlock(&s->lock);
}

void sess_close_async(sess_t *s, int reason)
{
    pthread_mutex_lock(&s->lock);
    if (!s->close_req)
        s->close_req = reason;
    schedule_locked(s);
    pthread_mutex_unlock(&s->lock);
}

static void ready_run(el_ready_t *r)
{
    sess_t *s = DG_CONTAINER_OF(r, sess_t, ready);
    pthread_mutex_lock(&s->lock);
    int reason = s->limit ? EIO_REASON_SLOW : s->close_req;
    pthread_mutex_unlock(&s->lock);
    if (reason)
        sess_teardown(s, reason);
    sess_unref(s);
}

/* ================================================================ timer */

/* How long a session whose token expired waits for its DISCONNECT to go out before it closes
 * (socket.io-client closes by itself on a server DISCONNECT of its last namespace). */
#define SIO_EXPIRE_GRACE_MS 1000

/* The application's next token deadline (epoch seconds) on the loop's clock, -1 for none.
 * Only for a live session (arm_timer returns first for a torn one). */
static int64_t auth_deadline_ms(const sess_t *s)
{
    long long at = s->echo ? 0 : sio_app_auth_deadline(&s->app);
    if (!at)
        return -1;
    int64_t in = (int64_t)at * 1000 - el_wall_ms();
    return el_now_ms() + (in > 0 ? in : 0);
}

/* Re-arms the session timer for its next deadline; a torn-down session has none (its memory
 * may go with its last reference, and an armed timer would outlive it in the loop's heap).
 * Thread: s's loop. */
static void arm_timer(sess_t *s)
{
    pthread_mutex_lock(&s->lock);
    int torn = s->torn;
    int64_t at = eio_sess_deadline(&s->es);
    int64_t soft = oq_soft_deadline(&s->q);
    pthread_mutex_unlock(&s->lock);
    if (torn) {
        el_timer_cancel(s->loop, &s->timer);
        return;
    }
    if (soft >= 0 && (at < 0 || soft < at))
        at = soft;
    if (s->deferred && (at < 0 || s->grace_until < at))
        at = s->grace_until;
    if (s->drain_at && (at < 0 || s->drain_at < at))
        at = s->drain_at;
    int64_t save = rec_deadline(s);
    if (save >= 0 && (at < 0 || save < at))
        at = save;
    int64_t tok = auth_deadline_ms(s);
    if (tok >= 0 && (at < 0 || tok < at))
        at = tok;
    if (s->expire_at && (at < 0 || s->expire_at < at))
        at = s->expire_at;
    if (at < 0)
        el_timer_cancel(s->loop, &s->timer);
    else
        el_timer_arm(s->loop, &s->timer, at);
}

static void timer_run(sess_t *s)
{
    sio_t *h = s->h;
    int64_t now = el_now_ms();
    if (s->deferred && now >= s->grace_until)
        sess_release_deferred(s);
    if (s->drain_at && now >= s->drain_at) {
        sess_teardown(s, EIO_REASON_SERVER);
        return;
    }
    if (s->expire_at && now >= s->expire_at) {
        sess_teardown(s, EIO_REASON_SERVER);
        return;
    }
    if (!s->torn && !s->echo && sio_app_auth_deadline(&s->app) &&
        sio_app_auth_timer(&s->app, (long long)(el_wall_ms() / 1000)) && !s->expire_at)
        s->expire_at = now + SIO_EXPIRE_GRACE_MS;
    if (!s->torn)
        rec_timer(s, now);
    cn_t *probe = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->torn) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    int act = eio_sess_timer(&s->es, now);
    if ((act & EIO_ACT_PING) && push_locked(s, h->m_ping) == DG_OK)
        sess_wake_locked(s);
    if ((act & EIO_ACT_DROP_PROBE) && s->probe) {
        probe = s->probe; /* the session's reference moves to us */
        s->probe = NULL;
    }
    int reason = (act & EIO_ACT_CLOSE) ? s->es.reason : 0;
    oq_shrink(&s->q); /* a burst's ring goes back while idle, not after every write */
    if (!s->q.len)
        buf_free(&s->rec.tails); /* so do the offsets of its last batch */
    /* the WebSocket is on this loop: what it and the kernel have not sent counts too (one
     * non-blocking ioctl at most, under the lock) */
    cn_t *ws = s->es.transport == EIO_TRANSPORT_WEBSOCKET ? s->ws : NULL;
    if (!reason && oq_soft_check(&s->q, ws ? cn_unsent(ws) : 0, now) == OQ_SOFT_EXPIRED) {
        sess_limit_locked(s, CN_CLOSE_SOFT_LIMIT);
        reason = EIO_REASON_SLOW;
    }
    pthread_mutex_unlock(&s->lock);
    if (probe) {
        sio_ws_close(probe, WS_CLOSE_NORMAL, CN_CLOSE_TIMEOUT);
        cn_unref(probe);
    }
    if (reason)
        sess_teardown(s, reason);
    else
        arm_timer(s);
}

/* Input released from the grace can tear the session down and drop what may be its last
 * reference (the held-back input's): the timer keeps its own until it is done with s. */
static void timer_cb(el_timer_t *t)
{
    sess_t *s = DG_CONTAINER_OF(t, sess_t, timer);
    sess_ref(s);
    timer_run(s);
    sess_unref(s);
}

static void start_timer_task(void *arg, int cancelled)
{
    sess_t *s = arg;
    if (!cancelled)
        arm_timer(s);
    sess_unref(s);
}

static void drain_task(void *arg, int cancelled)
{
    sess_t *s = arg;
    if (!cancelled && !s->torn) {
        s->drain_at = el_now_ms() + s->drain_in;
        arm_timer(s);
    }
    sess_unref(s);
}

void sess_drain_in(sess_t *s, int64_t delay_ms)
{
    s->drain_in = delay_ms;
    s->drain_task = (el_task_t){NULL, drain_task, s};
    sess_ref(s);
    el_post_task(s->loop, &s->drain_task);
}

void sess_start_timer(sess_t *s)
{
    sess_ref(s);
    if (el_post(s->loop, start_timer_task, s) != DG_OK)
        sess_unref(s); /* out of memory: the transport's next state change arms it */
}

/* ================================================================ teardown */

/* What a session's close means for its connections (EIO_REASON_SLOW: the limit it passed, s->limit,
 * which sess_teardown reads). */
static int conn_reason(int eio_reason)
{
    switch (eio_reason) {
    case EIO_REASON_CLIENT: return CN_CLOSE_DONE;
    case EIO_REASON_TRANSPORT: return CN_CLOSE_PEER;
    case EIO_REASON_PING_TIMEOUT:
    case EIO_REASON_CONNECT_TIMEOUT: return CN_CLOSE_TIMEOUT;
    case EIO_REASON_PROTOCOL:
    case EIO_REASON_OVERLAP: return CN_CLOSE_PROTOCOL;
    case EIO_REASON_WRITE: return CN_CLOSE_STALL;
    default: return CN_CLOSE_SHUTDOWN;
    }
}

static void free_input(sess_input_t *in)
{
    sess_unref(in->s);
    free(in->pkts);
    free(in->buf);
    free(in);
}

void sess_teardown(sess_t *s, int reason)
{
    sio_t *h = s->h;
    pthread_mutex_lock(&s->lock);
    if (s->torn) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    sess_ref(s); /* the table's reference may be the last: keep s until the end */
    s->torn = 1;
    eio_sess_close(&s->es, reason);
    reason = s->es.reason; /* a close the state machine recorded first wins */
    uint64_t dropped = s->dropped + s->q.len;
    int kind = s->es.transport == EIO_TRANSPORT_WEBSOCKET ? CN_KIND_WEBSOCKET : CN_KIND_POLLING;
    int limit = s->limit ? s->limit : CN_CLOSE_HARD_LIMIT; /* which one, for EIO_REASON_SLOW */
    oq_clear(&s->q);
    cn_t *ws = s->ws, *probe = s->probe, *get = s->get;
    s->ws = s->probe = NULL;
    if (get)
        cn_ref(get); /* it detaches itself when it answers */
    pthread_mutex_unlock(&s->lock);

    if (!s->echo)
        sio_app_closing(&s->app);
    bk_leave_all(h->d.bk, &s->sub);
    rec_teardown(s);
    table_remove(s);
    el_timer_cancel(s->loop, &s->timer);
    while (s->deferred) {
        sess_input_t *in = s->deferred;
        s->deferred = in->next;
        free_input(in);
    }
    int cr = reason == EIO_REASON_SLOW ? limit : conn_reason(reason);
    int code = atomic_load(&h->stopping) || atomic_load(&h->draining) ? WS_CLOSE_GOING_AWAY
                                                                       : WS_CLOSE_NORMAL;
    if (ws) {
        sio_ws_close(ws, code, cr);
        cn_unref(ws);
    }
    if (probe) {
        sio_ws_close(probe, code, cr);
        cn_unref(probe);
    }
    if (get) {
        sio_poll_answer(get); /* "1": the server closed; "6" after a client close */
        cn_unref(get);
    }

    atomic_fetch_add(&h->closed[reason], 1);
    if (reason == EIO_REASON_SLOW || reason == EIO_REASON_WRITE) {
        atomic_fetch_add(&h->dropped, dropped);
        atomic_fetch_add(&h->dropped_by[kind], dropped);
        atomic_fetch_add(&h->slow_by[kind], 1);
        log_warn("sio", "closed a slow client (%s): %llu messages dropped",
                 reason == EIO_REASON_WRITE      ? "write stalled"
                 : limit == CN_CLOSE_SOFT_LIMIT ? "over the soft output limit for too long"
                                                : "outbound queue over its hard limit",
                 (unsigned long long)dropped);
    } else {
        log_debug("sio", "session closed: %s", eio_sess_reason_name(reason));
    }
    sess_unref(s);
}

/* ================================================================ input */

static int app_send(void *ud, const char *pkt, size_t len, int binary)
{
    sess_t *s = ud;
    msg_t *m = msg_new_packet(pkt, len, binary);
    if (!m)
        return DG_ENOMEM;
    int rc = sess_enqueue(s, m);
    msg_unref(m);
    return rc;
}

static int app_join(void *ud, const char *room, const bk_filter_t *f)
{
    sess_t *s = ud;
    /* input and teardown both run on the session's loop: a torn session takes no input */
    int rc = bk_join(s->h->d.bk, &s->sub, room, f, NULL);
    if (rc == DG_OK)
        rec_room_joined(s, room, f);
    return rc;
}

static int app_leave(void *ud, const char *room)
{
    sess_t *s = ud;
    rec_room_left(s, room);
    return bk_leave(s->h->d.bk, &s->sub, room);
}

static void app_leave_all(void *ud)
{
    sess_t *s = ud;
    rec_room_left(s, NULL);
    bk_leave_all(s->h->d.bk, &s->sub);
}

static int app_restore(void *ud, unsigned bit, const char *pid, const char *offset)
{
    return rec_restore(ud, bit, pid, offset);
}

static void app_fresh(void *ud, unsigned bit, char *pid)
{
    rec_fresh(ud, bit, pid);
}

static void app_forget(void *ud, unsigned bit)
{
    rec_forget(ud, bit);
}

static void app_job_state(void *ud, const char *job_id, int queue)
{
    rec_job_state(ud, job_id, queue);
}

static void app_job_access(void *ud, const char *job_id, int queue, long ack_id)
{
    rec_job_access(ud, job_id, queue, ack_id);
}

static int app_publish_log(void *ud, int level, const char *ns, const char *json, size_t len)
{
    sess_t *s = ud;
    return rds_publish_log(s->h->d.rds, level, ns, json, len);
}

static int h_auth_on(const sess_t *s)
{
    return s->h->auth.verifier != NULL;
}

/* Relayed client events go through Redis to every instance (this one included: the channel
 * thread publishes them to the room); the sender skips its own by the origin sid. */
static int app_relay(void *ud, const char *room, const char *event, const char *json, size_t len)
{
    sess_t *s = ud;
    return rds_relay_publish(s->h->d.rds, room, event, s->sid, json, len);
}

void sess_auth_header(sess_t *s, const char *value)
{
    const char *tok = NULL;
    size_t len = 0;
    if (!value || !h_auth_on(s) || s->echo)
        return;
    int rc = auth_bearer(value, strlen(value), &tok, &len);
    if (rc == DG_OK)
        sio_app_set_token(&s->app, tok, len, 0);
    else if (rc != DG_ENOTFOUND)
        sio_app_set_token(&s->app, NULL, 0, 1);
}

int sess_input_packet(sess_t *s, const eio_packet_t *p)
{
    pthread_mutex_lock(&s->lock);
    if (s->torn) {
        pthread_mutex_unlock(&s->lock);
        return DG_ECLOSED;
    }
    int act = eio_sess_packet(&s->es, p->type, p->data, p->len, el_now_ms());
    if ((act & EIO_ACT_RELEASE_GET) && s->get)
        cn_wake(s->get);
    int reason = (act & EIO_ACT_CLOSE) ? s->es.reason : 0;
    pthread_mutex_unlock(&s->lock);
    if (reason) {
        sess_teardown(s, reason);
        return DG_ECLOSED;
    }
    if (act & EIO_ACT_RESCHEDULE)
        arm_timer(s);
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
        sess_teardown(s, EIO_REASON_PROTOCOL);
        return DG_ECLOSED;
    }
    if (!s->app_connected && sio_app_connected(&s->app)) {
        s->app_connected = 1;
        connected(s);
        pthread_mutex_lock(&s->lock);
        eio_sess_app_connected(&s->es);
        pthread_mutex_unlock(&s->lock);
        arm_timer(s);
    } else if (h_auth_on(s)) {
        arm_timer(s); /* a CONNECT with a token may bring a deadline */
    }
    return DG_OK;
}

/* Runs in->pkts from in->start on. A client closing over polling has a GET pending, which must
 * be answered with a noop; a GET sent at the same moment as the close may still be on its way
 * (another worker, another hop to this loop): the close waits up to SIO_CLOSE_GRACE_MS for it,
 * so the answer does not depend on which request won the race. Returns 1 when in was kept. */
static int run_input(sess_t *s, sess_input_t *in, int start)
{
    for (int i = start; i < in->n; i++) {
        const eio_packet_t *p = &in->pkts[i];
        if (p->type == EIO_CLOSE && !s->deferred) {
            pthread_mutex_lock(&s->lock);
            int wait = !s->torn && !s->es.get_held && s->es.transport == EIO_TRANSPORT_POLLING &&
                       s->grace_until == 0;
            pthread_mutex_unlock(&s->lock);
            if (wait) {
                in->n -= i; /* keep what is left, from the close on */
                memmove(in->pkts, in->pkts + i, (size_t)in->n * sizeof(*in->pkts));
                in->next = NULL;
                s->deferred = in;
                s->grace_until = el_now_ms() + SIO_CLOSE_GRACE_MS;
                arm_timer(s);
                return 1;
            }
        }
        if (sess_input_packet(s, p) != DG_OK)
            break;
    }
    return 0;
}

static void defer_tail(sess_t *s, sess_input_t *in)
{
    sess_input_t **tail = &s->deferred;
    while (*tail)
        tail = &(*tail)->next;
    in->next = NULL;
    *tail = in;
}

static void input_task(void *arg, int cancelled)
{
    sess_input_t *in = arg;
    sess_t *s = in->s;
    if (cancelled || s->torn) {
        free_input(in);
        return;
    }
    if (s->deferred) { /* behind held-back input: keep the order */
        defer_tail(s, in);
        return;
    }
    if (!run_input(s, in, 0))
        free_input(in);
}

void sess_post_input(sess_input_t *in)
{
    in->task.fn = input_task;
    in->task.arg = in;
    el_post_task(in->s->loop, &in->task);
}

void sess_release_deferred(sess_t *s)
{
    sess_input_t *in = s->deferred;
    s->deferred = NULL;
    s->grace_until = -1; /* the grace is spent: a later close does not wait again */
    while (in) {
        sess_input_t *next = in->next;
        if (s->torn)
            free_input(in);
        else if (!run_input(s, in, 0))
            free_input(in);
        in = next;
    }
}

/* ================================================================ creation */

sess_t *sess_new(sio_t *h, int transport, int echo)
{
    sess_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (eio_sid_generate(s->sid) != DG_OK) {
        free(s);
        return NULL;
    }
    s->h = h;
    s->loop = elg_pick(h->d.loops);
    s->echo = echo;
    s->created = el_now_ms();
    atomic_init(&s->refs, 1);
    s->sub.deliver = deliver;
    s->sub.wake = wake;
    s->sub.owner = s;
    s->timer.cb = timer_cb;
    s->ready.run = ready_run;
    pthread_mutex_init(&s->lock, NULL);
    eio_sess_init(&s->es, transport, echo ? &h->scfg_eio : &h->scfg_sio, s->created);
    oq_init(&s->q, (uint32_t)h->cfg->queue_max_msgs, (size_t)h->cfg->queue_max_bytes);
    oq_set_soft(&s->q, (size_t)h->cfg->queue_soft_bytes, h->cfg->queue_soft_ms);
    sio_app_ops_t ops = {.ud = s, .send = app_send, .join = app_join, .leave = app_leave,
                         .leave_all = app_leave_all, .publish_log = app_publish_log};
    if (h->cfg->recovery && !echo) {
        ops.restore = app_restore;
        ops.fresh = app_fresh;
        ops.forget = app_forget;
    }
    if (!echo) {
        ops.job_state = app_job_state;
        ops.job_access = app_job_access;
    }
    if (!echo && (h->cfg->nrelay_events || h->cfg->nclient_rooms))
        ops.relay = app_relay;
    sio_app_init(&s->app, h->cfg, &ops, &h->app_stats);
    sio_app_set_auth(&s->app, &h->auth);
    rec_init(s);
    atomic_fetch_add(&h->nsessions, 1);
    atomic_fetch_add(transport == EIO_TRANSPORT_POLLING ? &h->opened_polling : &h->opened_websocket,
                     1);
    return s;
}
