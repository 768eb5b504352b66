/* rds_cmd.c - the command thread: one non-blocking connection, polled together with a wake
 * eventfd, serving one request queue. Every kind of request (replays, stream info, key/value,
 * job state: rds_req_ops_t) and the log XADDs go through it, pipelined: what is queued while
 * a batch is on the wire goes out in the next write, replies are matched in order. Requests
 * carry a deadline the loop enforces itself, so a Redis that stops answering cannot hold a
 * caller past it. Not a general event loop: one connection, one thread. */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dg.h"
#include "log.h"
#include "rds_int.h"

/* ------------------------------------------------------------------------------------------ */
/* Waiting for a callback (the blocking wrappers)                                             */
/* ------------------------------------------------------------------------------------------ */

void rds_waiter_init(rds_waiter_t *w)
{
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->done = 0;
}

void rds_waiter_wake(rds_waiter_t *w)
{
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void rds_waiter_wait(rds_waiter_t *w)
{
    /* No timeout of its own: the command thread delivers every request by its deadline. */
    pthread_mutex_lock(&w->lock);
    while (!w->done)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
}

/* ------------------------------------------------------------------------------------------ */
/* The queue (any thread)                                                                     */
/* ------------------------------------------------------------------------------------------ */

void rds_req_init(rds_req_t *q, const rds_req_ops_t *ops, int timeout_ms)
{
    memset(q, 0, sizeof(*q));
    q->ops = ops;
    q->timeout_ms = timeout_ms;
}

void rds_cmd_wake(rds_t *r)
{
    uint64_t one = 1;
    ssize_t w = write(r->wake_fd, &one, sizeof(one)); /* EAGAIN: a wake-up is pending anyway */
    (void)w;
}

int rds_req_submit(rds_t *r, rds_req_t *q)
{
    int rc = 0, wake = 0;
    q->next = NULL;
    q->deadline = rds_now_ms() + q->timeout_ms;
    pthread_mutex_lock(&r->qlock);
    if (!r->started || r->req_closed) {
        rc = DG_ECLOSED;
    } else if (atomic_load(&r->req_live) >= RDS_REQ_MAX) {
        rc = DG_ELIMIT;
    } else {
        atomic_fetch_add(&r->req_live, 1);
        if (r->req_tail)
            r->req_tail->next = q;
        else
            r->req_head = q;
        r->req_tail = q;
        if (!r->wake_pending)
            r->wake_pending = wake = 1;
    }
    pthread_mutex_unlock(&r->qlock);
    if (wake)
        rds_cmd_wake(r);
    return rc;
}

int rds_publish_log(rds_t *r, int level, const char *ns, const char *json, size_t len)
{
    (void)level; /* the JSON carries level and ns; the hook signature has them for filters */
    (void)ns;
    if (!r || !json)
        return DG_EINVAL;
    if (len > DEC_LOG_MAX) {
        atomic_fetch_add(&r->logs_dropped, 1);
        return DG_ELIMIT;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        atomic_fetch_add(&r->logs_dropped, 1);
        return DG_ENOMEM;
    }
    memcpy(copy, json, len);
    copy[len] = '\0';
    int rc = 0, wake = 0;
    pthread_mutex_lock(&r->qlock);
    if (r->closed) {
        rc = DG_ECLOSED;
    } else if (r->logq_n >= RDS_LOGQ_MAX || r->logq_bytes + len > RDS_LOGQ_BYTES) {
        rc = DG_ELIMIT;
    } else {
        r->logq[(r->logq_head + r->logq_n) % RDS_LOGQ_MAX] = (rds_logent_t){copy, len};
        r->logq_n++;
        r->logq_bytes += len;
        if (r->started && !r->wake_pending)
            r->wake_pending = wake = 1;
    }
    pthread_mutex_unlock(&r->qlock);
    if (wake)
        rds_cmd_wake(r);
    if (rc != 0) {
        free(copy);
        atomic_fetch_add(&r->logs_dropped, 1);
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Completing requests (command thread)                                                       */
/* ------------------------------------------------------------------------------------------ */

static void req_release(rds_req_t *q)
{
    for (int i = 0; i < q->got; i++)
        freeReplyObject(q->reps[i]);
    q->got = 0;
    q->ops->destroy(q);
}

static void req_deliver(rds_t *r, rds_req_t *q)
{
    if (q->done)
        return;
    q->done = 1;
    q->ops->deliver(r, q);
    atomic_fetch_sub(&r->req_live, 1);
}

static void req_fail(rds_t *r, rds_req_t *q, int status, const char *err)
{
    if (q->done)
        return;
    q->status = status;
    snprintf(q->err, sizeof(q->err), "%s", err);
    req_deliver(r, q);
}

static void req_timeout(rds_t *r, rds_req_t *q)
{
    char err[64];
    snprintf(err, sizeof(err), "redis did not answer within %d ms", q->timeout_ms);
    req_fail(r, q, DG_EIO, err);
}

/* Answers a request that needs no round trip. */
static void req_local(rds_t *r, rds_req_t *q)
{
    q->ops->decode(r, q, NULL, 0);
    req_deliver(r, q);
    req_release(q);
}

void rds_cmd_close(rds_t *r)
{
    pthread_mutex_lock(&r->qlock);
    r->req_closed = r->closed = 1;
    rds_req_t *q = r->req_head;
    r->req_head = r->req_tail = NULL;
    pthread_mutex_unlock(&r->qlock);
    while (q) {
        rds_req_t *next = q->next;
        req_fail(r, q, DG_ECLOSED, "redis client stopped");
        req_release(q);
        q = next;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Log XADDs                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* Argument vector for one log XADD, pointing into a parsed JSON object. */
typedef struct xadd {
    const char *argv[16];
    size_t lens[16];
    int argc;
    json_t *obj;
    char maxlen[24];
} xadd_t;

static int xadd_build(rds_t *r, xadd_t *x, const rds_logent_t *le)
{
    json_error_t je;
    static const char *const keys[4] = {"ts", "level", "ns", "msg"};
    memset(x, 0, sizeof(*x));
    x->obj = json_loadb(le->json, le->len, JSON_ALLOW_NUL, &je);
    if (!json_is_object(x->obj))
        return -1;
#define ARG(s, n) (x->argv[x->argc] = (s), x->lens[x->argc++] = (n))
    ARG("XADD", 4);
    ARG(r->cfg->log_stream, strlen(r->cfg->log_stream));
    if (r->cfg->log_stream_maxlen > 0) {
        snprintf(x->maxlen, sizeof(x->maxlen), "%ld", r->cfg->log_stream_maxlen);
        ARG("MAXLEN", 6);
        ARG("~", 1);
        ARG(x->maxlen, strlen(x->maxlen));
    }
    ARG("*", 1);
    for (int k = 0; k < 4; k++) {
        json_t *v = json_object_get(x->obj, keys[k]);
        if (!json_is_string(v))
            return -1;
        ARG(keys[k], strlen(keys[k]));
        ARG(json_string_value(v), json_string_length(v));
    }
    /* Members beyond the four only survive in the whole object. */
    if (json_object_size(x->obj) > 4) {
        ARG("json", 4);
        ARG(le->json, le->len);
    }
#undef ARG
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The connection and what is in flight on it                                                 */
/* ------------------------------------------------------------------------------------------ */

enum { ST_DOWN, ST_CONNECTING, ST_HELLO, ST_UP };
enum { SLOT_LOG, SLOT_HELLO, SLOT_REQ, SLOT_PING };

/* One expected reply group, in the order the commands were written. */
typedef struct slot {
    int kind;
    rds_req_t *q; /* SLOT_REQ */
    int64_t sent;
} slot_t;

typedef struct cmd {
    rds_t *r;
    redisContext *c;
    int state;
    int64_t phase_end; /* ST_CONNECTING / ST_HELLO must be over by then */
    int64_t next_try;  /* ST_DOWN: when to connect again */
    int backoff;
    int outage;      /* lost or failing since the last good handshake (logged once) */
    int failing;     /* an attempt failed since then: requests fail fast until one succeeds */
    int hello_left;  /* ST_HELLO: handshake replies still to come */
    int want_write;  /* the output buffer is not flushed */
    int logs_flying; /* SLOT_LOG entries in slots */
    int ping_flying; /* a SLOT_PING is in slots */
    int64_t next_ping;
    int64_t last_rx;             /* when Redis last sent a reply */
    int responsive;              /* ST_UP: nothing owed for longer than redis_timeout_ms */
    rds_req_t *pend, *pend_tail; /* taken from the queue, not sent yet */
    slot_t slots[RDS_INFLIGHT_MAX];
    size_t s_head, s_n;
    rds_logent_t logs[RDS_LOG_BATCH];
    size_t nlogs;
} cmd_t;

static void slot_push(cmd_t *cm, int kind, rds_req_t *q)
{
    cm->slots[(cm->s_head + cm->s_n) % RDS_INFLIGHT_MAX] = (slot_t){kind, q, rds_now_ms()};
    cm->s_n++;
    if (kind == SLOT_LOG)
        cm->logs_flying++;
    else if (kind == SLOT_PING)
        cm->ping_flying = 1;
}

static slot_t slot_pop(cmd_t *cm)
{
    slot_t s = cm->slots[cm->s_head];
    cm->s_head = (cm->s_head + 1) % RDS_INFLIGHT_MAX;
    cm->s_n--;
    if (s.kind == SLOT_LOG)
        cm->logs_flying--;
    else if (s.kind == SLOT_PING)
        cm->ping_flying = 0;
    return s;
}

static size_t slot_room(const cmd_t *cm)
{
    return RDS_INFLIGHT_MAX - cm->s_n;
}

static void pend_push(cmd_t *cm, rds_req_t *q)
{
    q->next = NULL;
    if (cm->pend_tail)
        cm->pend_tail->next = q;
    else
        cm->pend = q;
    cm->pend_tail = q;
}

static void pend_fail_all(cmd_t *cm, int status, const char *why)
{
    rds_req_t *q = cm->pend;
    cm->pend = cm->pend_tail = NULL;
    while (q) {
        rds_req_t *next = q->next;
        req_fail(cm->r, q, status, why);
        req_release(q);
        q = next;
    }
}

/* Closes the connection. What was in flight: logs are dropped (not confirmed), requests
 * sent once that may be repeated go back to the head of the queue, the rest fail. */
static void conn_drop(cmd_t *cm, const char *why)
{
    rds_t *r = cm->r;
    rds_req_t *again = NULL, *again_last = NULL;
    int was_up = cm->state == ST_UP, stopping = atomic_load(&r->stopping);

    if (cm->c)
        redisFree(cm->c);
    cm->c = NULL;
    cm->responsive = 0;
    atomic_store(&r->cmd_connected, 0);
    atomic_store(&r->cmd_responsive, 0);
    cm->want_write = cm->hello_left = 0;
    while (cm->s_n) {
        slot_t s = slot_pop(cm);
        if (s.kind == SLOT_LOG) {
            atomic_fetch_add(&r->logs_dropped, 1);
        } else if (s.kind == SLOT_REQ) {
            rds_req_t *q = s.q;
            for (int i = 0; i < q->got; i++)
                freeReplyObject(q->reps[i]);
            q->got = 0;
            if (!q->done && !stopping && q->ops->retry && q->tries < 2) {
                q->next = NULL;
                if (again_last)
                    again_last->next = q;
                else
                    again = q;
                again_last = q;
                continue;
            }
            req_fail(r, q, DG_EIO, "connection to redis lost");
            req_release(q);
        }
    }
    cm->s_head = 0;
    if (again) { /* ahead of the rest, in their order */
        again_last->next = cm->pend;
        if (!cm->pend)
            cm->pend_tail = again_last;
        cm->pend = again;
    }
    cm->state = ST_DOWN;
    if (stopping)
        return;
    if (was_up) {
        log_warn("redis", "command connection lost: %s; reconnecting", why);
        cm->next_try = rds_now_ms(); /* once at once; backoff starts if that attempt fails */
    } else {
        if (!cm->failing)
            log_warn("redis", "command connection: cannot connect: %s; retrying", why);
        cm->backoff = rds_backoff_next(cm->backoff);
        cm->next_try = rds_now_ms() + cm->backoff;
        cm->failing = 1;
    }
    cm->outage = 1;
}

static void conn_flush(cmd_t *cm)
{
    int done = 0;
    if (redisBufferWrite(cm->c, &done) != REDIS_OK) {
        char why[128];
        snprintf(why, sizeof(why), "%s", cm->c->errstr);
        conn_drop(cm, why);
        return;
    }
    cm->want_write = !done;
}

static void conn_start(cmd_t *cm)
{
    char err[256];
    cm->c = rds_conn_start_nb(cm->r, err, sizeof(err));
    if (!cm->c) {
        conn_drop(cm, err);
        return;
    }
    cm->state = ST_CONNECTING;
    cm->phase_end = rds_now_ms() + rds_timeout_ms(cm->r);
}

/* The socket is writable: connected, or failed. Sends the handshake, PING last, so the
 * connection counts as up only once Redis has answered on it. */
static void conn_connected(cmd_t *cm)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(cm->c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        soerr = errno;
    if (soerr) {
        char why[160];
        snprintf(why, sizeof(why), "%.100s:%d: %s", cm->r->cfg->redis_host, cm->r->cfg->redis_port,
                 strerror(soerr));
        conn_drop(cm, why);
        return;
    }
    rds_hello_t h;
    rds_hello_build(cm->r->cfg, 1, &h);
    for (int i = 0; i < h.n; i++) {
        if (redisAppendCommandArgv(cm->c, h.argc[i], h.argv[i], NULL) != REDIS_OK) {
            conn_drop(cm, "out of memory");
            return;
        }
        slot_push(cm, SLOT_HELLO, NULL);
    }
    cm->hello_left = h.n;
    cm->state = ST_HELLO;
    conn_flush(cm);
}

static void conn_up(cmd_t *cm, int64_t rtt)
{
    cm->state = ST_UP;
    cm->backoff = 0; /* only a connection Redis answered on resets it */
    cm->responsive = 1;
    cm->next_ping = rds_now_ms() + rds_ping_ms(cm->r);
    atomic_store(&cm->r->ping_rtt_ms, rtt);
    atomic_store(&cm->r->cmd_connected, 1);
    atomic_store(&cm->r->cmd_responsive, 1);
    if (cm->outage)
        log_info("redis", "command connection: connected");
    cm->outage = cm->failing = 0;
}

/* A PING every redis_ping_interval_ms (one at a time): without traffic, nothing else would
 * notice that Redis stopped answering while the socket stays open. */
static void ping_maybe(cmd_t *cm, int64_t now)
{
    if (cm->ping_flying || now < cm->next_ping || slot_room(cm) == 0)
        return;
    const char *argv[1] = {"PING"};
    if (redisAppendCommandArgv(cm->c, 1, argv, NULL) != REDIS_OK) {
        conn_drop(cm, "out of memory");
        return;
    }
    slot_push(cm, SLOT_PING, NULL);
    cm->next_ping = now + rds_ping_ms(cm->r);
    conn_flush(cm);
}

/* Redis owes a reply and has sent nothing for redis_timeout_ms: it is not answering (frozen,
 * overloaded, or the network is gone while the socket stays open). Requests then fail at once
 * rather than at their deadline, and health says so. The connection stays: a frozen or busy
 * Redis answers on it the moment it runs again (a reconnect could only wait longer), and a
 * dead peer is found by TCP_USER_TIMEOUT (rds_conn_start_nb). Returns when to look again,
 * or -1. */
static int64_t watch_answers(cmd_t *cm, int64_t now)
{
    if (cm->state != ST_UP || cm->s_n == 0)
        return -1;
    int64_t since = cm->slots[cm->s_head].sent;
    if (cm->last_rx > since)
        since = cm->last_rx; /* a long reply still arriving is an answer */
    int64_t t = rds_timeout_ms(cm->r);
    if (cm->responsive && now - since >= t) {
        cm->responsive = 0;
        atomic_store(&cm->r->cmd_responsive, 0);
        log_warn("redis",
                 "command connection: no answer for %lld ms; failing requests until "
                 "redis answers",
                 (long long)(now - since));
    }
    return cm->responsive ? since + t : -1;
}

/* One reply, for the oldest slot. */
static void on_reply(cmd_t *cm, redisReply *rep)
{
    rds_t *r = cm->r;
    if (cm->s_n == 0) {
        freeReplyObject(rep);
        conn_drop(cm, "reply to no command");
        return;
    }
    slot_t *s = &cm->slots[cm->s_head];
    int64_t now = rds_now_ms();
    cm->last_rx = now;
    if (cm->state == ST_UP && !cm->responsive) {
        cm->responsive = 1;
        atomic_store(&r->cmd_responsive, 1);
        log_info("redis", "command connection: redis answers again");
    }
    if (s->kind == SLOT_PING) {
        atomic_store(&r->ping_rtt_ms, now - s->sent);
        freeReplyObject(rep);
        slot_pop(cm);
    } else if (s->kind == SLOT_LOG) {
        atomic_fetch_add(rep->type == REDIS_REPLY_ERROR ? &r->logs_dropped : &r->logs_published, 1);
        freeReplyObject(rep);
        slot_pop(cm);
    } else if (s->kind == SLOT_HELLO) {
        int64_t sent = s->sent;
        slot_pop(cm);
        if (rep->type == REDIS_REPLY_ERROR) {
            char why[160];
            snprintf(why, sizeof(why), "handshake: %.*s", (int)rep->len, rep->str);
            freeReplyObject(rep);
            conn_drop(cm, why);
            return;
        }
        freeReplyObject(rep);
        if (--cm->hello_left == 0)
            conn_up(cm, now - sent);
    } else {
        rds_req_t *q = s->q;
        q->reps[q->got++] = rep;
        if (q->got < q->nreps)
            return;
        slot_pop(cm);
        if (!q->done) {
            q->ops->decode(r, q, q->reps, q->got);
            req_deliver(r, q);
        }
        req_release(q);
    }
}

static void conn_read(cmd_t *cm)
{
    if (redisBufferRead(cm->c) != REDIS_OK) {
        char why[128];
        snprintf(why, sizeof(why), "%s", cm->c->errstr);
        conn_drop(cm, why);
        return;
    }
    while (cm->c) {
        void *rep = NULL;
        if (redisGetReplyFromReader(cm->c, &rep) != REDIS_OK) {
            char why[128];
            snprintf(why, sizeof(why), "%s", cm->c->errstr);
            conn_drop(cm, why);
            return;
        }
        if (!rep)
            break;
        on_reply(cm, rep);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The loop                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Moves queued requests to the private list (answering local ones at once) and, when the
 * connection can take them, up to a batch of logs. Returns 1 if more logs are waiting. */
static int take_work(cmd_t *cm, int logs)
{
    rds_t *r = cm->r;
    int more = 0;
    pthread_mutex_lock(&r->qlock);
    r->wake_pending = 0;
    rds_req_t *q = r->req_head;
    r->req_head = r->req_tail = NULL;
    size_t room = slot_room(cm);
    while (logs && r->logq_n && cm->nlogs < RDS_LOG_BATCH && cm->nlogs < room) {
        cm->logs[cm->nlogs++] = r->logq[r->logq_head];
        r->logq_bytes -= r->logq[r->logq_head].len;
        r->logq_head = (r->logq_head + 1) % RDS_LOGQ_MAX;
        r->logq_n--;
    }
    more = r->logq_n > 0;
    pthread_mutex_unlock(&r->qlock);
    while (q) {
        rds_req_t *next = q->next;
        if (q->local)
            req_local(r, q);
        else
            pend_push(cm, q);
        q = next;
    }
    return more;
}

/* Writes the taken logs and as many pending requests as the slots allow. */
static void send_work(cmd_t *cm)
{
    rds_t *r = cm->r;
    xadd_t x;
    for (size_t i = 0; i < cm->nlogs; i++) {
        rds_logent_t *le = &cm->logs[i];
        if (xadd_build(r, &x, le) != 0) {
            atomic_fetch_add(&r->logs_dropped, 1); /* not a log object: nothing to send */
        } else if (cm->c && redisAppendCommandArgv(cm->c, x.argc, x.argv, x.lens) == REDIS_OK) {
            slot_push(cm, SLOT_LOG, NULL);
        } else {
            atomic_fetch_add(&r->logs_dropped, 1);
        }
        json_decref(x.obj); /* hiredis copied the arguments */
        free(le->json);
    }
    cm->nlogs = 0;
    while (cm->c && cm->pend && slot_room(cm) > 0) {
        rds_req_t *q = cm->pend;
        cm->pend = q->next;
        if (!cm->pend)
            cm->pend_tail = NULL;
        q->next = NULL;
        int n = q->ops->append(r, cm->c, q);
        if (n == 0) {
            req_local(r, q);
            continue;
        }
        if (n < 0 || n > RDS_REQ_MAX_REPLIES) {
            /* A half-built pipeline cannot be read back in step: drop the connection. */
            req_fail(r, q, DG_ENOMEM, "out of memory building a pipeline");
            req_release(q);
            conn_drop(cm, "out of memory building a pipeline");
            return;
        }
        q->nreps = n;
        q->tries++;
        slot_push(cm, SLOT_REQ, q);
    }
    if (cm->c)
        conn_flush(cm);
}

/* Fails requests whose deadline passed (queued or on the wire: the latter stay in their slot
 * until their replies arrive or the connection goes). Returns the next deadline, or -1. */
static int64_t expire(cmd_t *cm, int64_t now)
{
    int64_t next = -1;
    rds_req_t **pp = &cm->pend, *prev = NULL;
    while (*pp) {
        rds_req_t *q = *pp;
        if (q->deadline <= now) {
            *pp = q->next;
            req_timeout(cm->r, q);
            req_release(q);
            continue;
        }
        if (next < 0 || q->deadline < next)
            next = q->deadline;
        prev = q;
        pp = &q->next;
    }
    cm->pend_tail = prev;
    for (size_t i = 0; i < cm->s_n; i++) {
        slot_t *s = &cm->slots[(cm->s_head + i) % RDS_INFLIGHT_MAX];
        if (s->kind != SLOT_REQ || s->q->done)
            continue;
        if (s->q->deadline <= now)
            req_timeout(cm->r, s->q);
        else if (next < 0 || s->q->deadline < next)
            next = s->q->deadline;
    }
    return next;
}

static int64_t min_time(int64_t a, int64_t b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* Sends what is left in the log queue (best effort, bounded: other threads may keep logging
 * while we stop), then closes. Requests were completed with DG_ECLOSED already. */
static void stop_flush(cmd_t *cm)
{
    int64_t end = rds_now_ms() + RDS_STOP_FLUSH_TIMEOUT_MS;
    for (int round = 0; cm->c && cm->state == ST_UP; round++) {
        int64_t now = rds_now_ms();
        if (now >= end)
            break;
        if (round <= RDS_LOGQ_MAX / RDS_LOG_BATCH) {
            take_work(cm, 1);
            pend_fail_all(cm, DG_ECLOSED, "redis client stopped");
            send_work(cm);
        }
        if (!cm->c || (!cm->logs_flying && !cm->want_write))
            break;
        struct pollfd p = {.fd = cm->c->fd, .events = POLLIN | (cm->want_write ? POLLOUT : 0)};
        if (poll(&p, 1, (int)(end - now)) <= 0)
            continue;
        if (p.revents & (POLLIN | POLLERR | POLLHUP))
            conn_read(cm);
        if (cm->c && cm->want_write && (p.revents & POLLOUT))
            conn_flush(cm);
    }
    conn_drop(cm, "stopping");
}

void *rds_cmd_main(void *arg)
{
    rds_t *r = arg;
    cmd_t *cm = calloc(1, sizeof(*cm));
    if (!cm) {
        log_error("redis", "command thread: out of memory");
        rds_cmd_close(r);
        return NULL;
    }
    cm->r = r;
    rds_thread_init();
    log_thread_no_publish(); /* this thread writes the log stream: never feed it back */

    while (!atomic_load(&r->stopping)) {
        int64_t now = rds_now_ms();
        watch_answers(cm, now);
        int answering = cm->state == ST_UP && cm->responsive;
        int more = take_work(cm, answering); /* logs wait in their bounded queue otherwise */
        if (cm->state == ST_DOWN && now >= cm->next_try)
            conn_start(cm);
        if ((cm->state == ST_CONNECTING || cm->state == ST_HELLO) && now >= cm->phase_end)
            conn_drop(cm, "redis did not answer the handshake in time");
        /* Answer callers now rather than at their deadline when Redis is known not to. */
        if (cm->state != ST_UP && cm->failing)
            pend_fail_all(cm, DG_EIO, "redis unavailable");
        if (cm->state == ST_UP && !cm->responsive)
            pend_fail_all(cm, DG_EIO, "redis is not answering");
        answering = cm->state == ST_UP && cm->responsive;
        if (answering) {
            send_work(cm);
            if (cm->c)
                ping_maybe(cm, now);
        }

        int64_t wake_at = min_time(expire(cm, now), watch_answers(cm, now));
        if (cm->state == ST_DOWN)
            wake_at = min_time(wake_at, cm->next_try);
        else if (cm->state != ST_UP)
            wake_at = min_time(wake_at, cm->phase_end);
        else if (!cm->ping_flying)
            wake_at = min_time(wake_at, cm->next_ping);
        int timeout = -1;
        if (more && answering && slot_room(cm) > 0)
            timeout = 0;
        else if (wake_at >= 0)
            timeout = wake_at > now ? (int)(wake_at - now) : 0;

        struct pollfd p[2] = {{.fd = r->wake_fd, .events = POLLIN}, {.fd = -1}};
        if (cm->c) {
            p[1].fd = cm->c->fd;
            p[1].events =
                cm->state == ST_CONNECTING ? POLLOUT : POLLIN | (cm->want_write ? POLLOUT : 0);
        }
        if (poll(p, 2, timeout) < 0 && errno != EINTR) {
            log_error("redis", "command thread: poll: %s", strerror(errno));
            break;
        }
        if (p[0].revents & POLLIN) {
            uint64_t n;
            ssize_t rd = read(r->wake_fd, &n, sizeof(n));
            (void)rd;
        }
        if (!cm->c || !p[1].revents)
            continue;
        if (cm->state == ST_CONNECTING) {
            conn_connected(cm);
            continue;
        }
        if (p[1].revents & (POLLIN | POLLERR | POLLHUP))
            conn_read(cm);
        if (cm->c && cm->want_write && (p[1].revents & POLLOUT))
            conn_flush(cm);
    }

    /* Stop: refuse and fail every request first, so rds_stop's promise holds, then flush. */
    pthread_mutex_lock(&r->qlock);
    r->req_closed = 1;
    pthread_mutex_unlock(&r->qlock);
    take_work(cm, 0);
    pend_fail_all(cm, DG_ECLOSED, "redis client stopped");
    for (size_t i = 0; i < cm->s_n; i++) {
        slot_t *s = &cm->slots[(cm->s_head + i) % RDS_INFLIGHT_MAX];
        if (s->kind == SLOT_REQ)
            req_fail(r, s->q, DG_ECLOSED, "redis client stopped");
    }
    stop_flush(cm);
    for (size_t i = 0; i < cm->nlogs; i++) { /* taken but never sent */
        free(cm->logs[i].json);
        atomic_fetch_add(&r->logs_dropped, 1);
    }
    rds_cmd_close(r);
    free(cm);
    return NULL;
}
