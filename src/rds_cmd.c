/* rds_cmd.c - the command thread: one connection serving a request queue (log XADDs,
 * replay ranges, stream info), pipelined in batches. Callers queue and wait on their request;
 * logs are fire and forget into a bounded queue. */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"
#include "log.h"
#include "rds_int.h"

/* ------------------------------------------------------------------------------------------ */
/* Requests                                                                                   */
/* ------------------------------------------------------------------------------------------ */

void rds_req_free(rds_req_t *q)
{
    rds_range_free(&q->range);
    pthread_cond_destroy(&q->cond);
    free(q);
}

/* Marks q done and drops the command thread's reference. Call with qlock held; returns 1 if
 * the caller must free q after unlocking (its waiter is gone). */
static int req_complete_locked(rds_req_t *q, int status, const char *err)
{
    q->status = status;
    if (err)
        snprintf(q->err, sizeof(q->err), "%s", err);
    q->done = 1;
    pthread_cond_signal(&q->cond);
    return --q->refs == 0;
}

static void req_complete(rds_t *r, rds_req_t *q, int status, const char *err)
{
    pthread_mutex_lock(&r->qlock);
    int dead = req_complete_locked(q, status, err);
    pthread_mutex_unlock(&r->qlock);
    if (dead)
        rds_req_free(q);
}

/* Queues q and waits for it; returns 1 when done, 0 on timeout or when the command thread is
 * gone (q then belongs to the command thread, or is freed here). */
int rds_req_submit_wait(rds_t *r, rds_req_t *q, int timeout_ms)
{
    int64_t until = rds_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&r->qlock);
    if (r->closed || !r->started) {
        pthread_mutex_unlock(&r->qlock);
        snprintf(q->err, sizeof(q->err), "redis client is not running");
        q->status = DG_EIO;
        return 1;
    }
    q->refs = 2;
    if (r->req_tail)
        r->req_tail->next = q;
    else
        r->req_head = q;
    r->req_tail = q;
    pthread_cond_signal(&r->qcond);
    while (!q->done && rds_now_ms() < until) {
        struct timespec ts = rds_deadline_ts(until);
        pthread_cond_timedwait(&q->cond, &r->qlock, &ts);
    }
    int done = q->done;
    int dead = --q->refs == 0;
    pthread_mutex_unlock(&r->qlock);
    if (!done) {
        if (dead) /* cannot happen while undone, kept for symmetry */
            rds_req_free(q);
        return 0;
    }
    return 1;
}

rds_req_t *rds_req_new(int type)
{
    rds_req_t *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    if (rds_cond_init_mono(&q->cond) != 0) {
        free(q);
        return NULL;
    }
    q->type = type;
    q->refs = 1;
    return q;
}
/* ------------------------------------------------------------------------------------------ */
/* Command thread                                                                             */
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

/* Appends the commands of q to the pipeline. */
static int req_append(rds_t *r, redisContext *c, rds_req_t *q)
{
    if (q->type == REQ_RANGE) {
        const char *key = r->readers[q->stream].key;
        char from[CUR_ID_STR_MAX + 1], to[CUR_ID_STR_MAX], cnt[16];
        from[0] = '(';
        cur_id_format(q->after, from + 1);
        cur_id_format(q->upto, to);
        snprintf(cnt, sizeof(cnt), "%d", q->count);
        const char *multi[1] = {"MULTI"}, *exec[1] = {"EXEC"};
        const char *info[3] = {"XINFO", "STREAM", key};
        const char *range[6] = {"XRANGE", key, from, to, "COUNT", cnt};
        /* One transaction, so the gap check and the entries see the same stream. */
        if (redisAppendCommandArgv(c, 1, multi, NULL) != REDIS_OK ||
            redisAppendCommandArgv(c, 3, info, NULL) != REDIS_OK ||
            redisAppendCommandArgv(c, 6, range, NULL) != REDIS_OK ||
            redisAppendCommandArgv(c, 1, exec, NULL) != REDIS_OK)
            return -1;
        return 0;
    }
    for (int s = 0; s < r->nstreams; s++) {
        const char *info[3] = {"XINFO", "STREAM", r->readers[s].key};
        if (redisAppendCommandArgv(c, 3, info, NULL) != REDIS_OK)
            return -1;
    }
    return 0;
}

/* Reads q's replies and completes it. Returns -1, leaving q pending, if the connection failed. */
static int req_finish(rds_t *r, redisContext *c, rds_req_t *q, char *err, size_t errlen)
{
    redisReply *reps[CFG_MAX_QUEUES + 1] = {0};
    int n = q->type == REQ_RANGE ? 4 : r->nstreams, got = 0, rc = 0;

    for (; got < n; got++) {
        if (redisGetReply(c, (void **)&reps[got]) != REDIS_OK) {
            snprintf(err, errlen, "%s", c->errstr);
            rc = -1;
            break;
        }
    }
    if (rc == 0) {
        if (q->type == REQ_RANGE)
            rds_range_decode(r, q, reps[3]);
        else
            rds_info_decode(r, q, reps);
    }
    for (int i = 0; i < got; i++)
        freeReplyObject(reps[i]);
    if (rc == 0)
        req_complete(r, q, q->status, NULL);
    return rc;
}

/* Sends the batch (logs, then requests) in one pipeline and completes everything in it.
 * Returns -1 when the connection failed: logs not confirmed are dropped, requests sent once
 * go to *retry (they only read, so asking again is safe), the others fail. */
static int cmd_batch(rds_t *r, redisContext *c, rds_logent_t *logs, size_t nlogs, rds_req_t *reqs,
                     rds_req_t **retry, char *err, size_t errlen)
{
    rds_req_t **retry_tail = retry;
    unsigned char sent[RDS_LOG_BATCH];
    int rc = 0;
    xadd_t x;

    for (size_t i = 0; i < nlogs; i++) {
        sent[i] = 0;
        if (xadd_build(r, &x, &logs[i]) != 0) {
            atomic_fetch_add(&r->logs_dropped, 1); /* not a log object: nothing to send */
        } else if (rc == 0 && redisAppendCommandArgv(c, x.argc, x.argv, x.lens) == REDIS_OK) {
            sent[i] = 1;
        } else {
            rc = -1;
        }
        json_decref(x.obj); /* hiredis copied the arguments */
    }
    for (rds_req_t *q = reqs; q && rc == 0; q = q->next)
        if (req_append(r, c, q) != 0)
            rc = -1;
    if (rc != 0) /* a half-built pipeline cannot be read back in step: drop the connection */
        snprintf(err, errlen, "out of memory building a pipeline");

    for (size_t i = 0; i < nlogs; i++) {
        redisReply *rep = NULL;
        if (!sent[i])
            continue;
        if (rc == 0 && redisGetReply(c, (void **)&rep) != REDIS_OK) {
            snprintf(err, errlen, "%s", c->errstr);
            rc = -1;
        }
        if (rc == 0 && rep && rep->type != REDIS_REPLY_ERROR)
            atomic_fetch_add(&r->logs_published, 1);
        else
            atomic_fetch_add(&r->logs_dropped, 1);
        if (rep)
            freeReplyObject(rep);
    }
    for (size_t i = 0; i < nlogs; i++)
        free(logs[i].json);
    while (reqs) {
        rds_req_t *q = reqs;
        reqs = q->next;
        q->next = NULL;
        q->tries++;
        if (rc == 0)
            rc = req_finish(r, c, q, err, errlen); /* on success q may be freed already */
        if (rc != 0) {                             /* q is still pending */
            if (q->tries < 2 && retry) {
                *retry_tail = q;
                retry_tail = &q->next;
            } else {
                req_complete(r, q, DG_EIO, "connection to redis lost");
            }
        }
    }
    return rc;
}

/* Puts requests back at the head of the queue, in order. qlock held. */
static void requeue_locked(rds_t *r, rds_req_t *list)
{
    if (!list)
        return;
    rds_req_t *tail = list;
    while (tail->next)
        tail = tail->next;
    tail->next = r->req_head;
    r->req_head = list;
    if (!r->req_tail)
        r->req_tail = tail;
}

/* Fails every queued request (Redis is down). qlock held. Returns those to free. */
rds_req_t *rds_fail_requests_locked(rds_t *r, const char *why)
{
    rds_req_t *dead = NULL;
    while (r->req_head) {
        rds_req_t *q = r->req_head;
        r->req_head = q->next;
        q->next = NULL;
        if (req_complete_locked(q, DG_EIO, why)) {
            q->next = dead;
            dead = q;
        }
    }
    r->req_tail = NULL;
    return dead;
}

void rds_free_req_list(rds_req_t *q)
{
    while (q) {
        rds_req_t *next = q->next;
        rds_req_free(q);
        q = next;
    }
}

/* Moves up to RDS_LOG_BATCH logs and every live request out of the queue. qlock held. */
static size_t take_work_locked(rds_t *r, rds_logent_t *logs, rds_req_t **reqs, rds_req_t **dead)
{
    size_t n = 0;
    while (r->logq_n && n < RDS_LOG_BATCH) {
        logs[n++] = r->logq[r->logq_head];
        r->logq_bytes -= r->logq[r->logq_head].len;
        r->logq_head = (r->logq_head + 1) % RDS_LOGQ_MAX;
        r->logq_n--;
    }
    rds_req_t *head = NULL, *tail = NULL;
    while (r->req_head) {
        rds_req_t *q = r->req_head;
        r->req_head = q->next;
        q->next = NULL;
        if (q->refs == 1) { /* its caller gave up already: do not even ask Redis */
            q->refs = 0;
            q->next = *dead;
            *dead = q;
            continue;
        }
        if (tail)
            tail->next = q;
        else
            head = q;
        tail = q;
    }
    r->req_tail = NULL;
    *reqs = head;
    return n;
}

void *rds_cmd_main(void *arg)
{
    rds_t *r = arg;
    redisContext *c = NULL;
    int backoff = 0, outage = 0;
    int64_t next_try = 0;
    char err[256];
    rds_logent_t *logs = r->batch;

    log_thread_no_publish(); /* this thread writes the log stream: never feed it back */
    for (;;) {
        rds_req_t *reqs = NULL, *dead = NULL, *retry = NULL;
        size_t nlogs = 0;
        int stop, stale = 0;

        pthread_mutex_lock(&r->qlock);
        for (;;) {
            stop = atomic_load(&r->stopping);
            if (stop)
                break;
            if (!c && rds_now_ms() >= next_try)
                break;
            if (!c) {
                /* Down and waiting to retry: answer callers now rather than at their timeout. */
                if (outage && r->req_head) {
                    rds_req_t *d = rds_fail_requests_locked(r, "redis unavailable");
                    pthread_mutex_unlock(&r->qlock);
                    rds_free_req_list(d);
                    pthread_mutex_lock(&r->qlock);
                    continue;
                }
                struct timespec ts = rds_deadline_ts(next_try);
                pthread_cond_timedwait(&r->qcond, &r->qlock, &ts);
                continue;
            }
            if (r->logq_n || r->req_head) {
                stale = rds_conn_stale(c);
                break;
            }
            pthread_cond_wait(&r->qcond, &r->qlock);
        }
        if (c && !stale)
            nlogs = take_work_locked(r, logs, &reqs, &dead);
        pthread_mutex_unlock(&r->qlock);
        rds_free_req_list(dead);
        dead = NULL;
        if (stale) { /* reconnect now; the queued work waits for the new connection */
            atomic_store(&r->cmd_connected, 0);
            rds_conn_close(&r->cmd);
            c = NULL;
            log_warn("redis", "command connection closed by the server; reconnecting");
            outage = 1;
            next_try = 0;
            continue;
        }

        if (stop) {
            /* Best effort: what is queued at shutdown still reaches the stream, briefly. */
            if (c) {
                redisSetTimeout(c, rds_ms_tv(RDS_STOP_FLUSH_TIMEOUT_MS));
                /* Bounded: other threads may keep logging while we stop. */
                for (int round = 0; (nlogs || reqs) && round <= RDS_LOGQ_MAX / RDS_LOG_BATCH;
                     round++) {
                    if (cmd_batch(r, c, logs, nlogs, reqs, NULL, err, sizeof(err)) != 0) {
                        nlogs = 0;
                        reqs = NULL;
                        break;
                    }
                    pthread_mutex_lock(&r->qlock);
                    nlogs = take_work_locked(r, logs, &reqs, &dead);
                    pthread_mutex_unlock(&r->qlock);
                    rds_free_req_list(dead);
                    dead = NULL;
                }
            }
            for (size_t i = 0; i < nlogs; i++) { /* taken but never sent */
                free(logs[i].json);
                atomic_fetch_add(&r->logs_dropped, 1);
            }
            while (reqs) {
                rds_req_t *q = reqs;
                reqs = q->next;
                q->next = NULL;
                req_complete(r, q, DG_EIO, "redis client stopped");
            }
            break;
        }
        if (!c) {
            c = rds_conn_open(r, &r->cmd, RDS_CMD_TIMEOUT_MS, err, sizeof(err));
            if (!c) {
                if (!outage)
                    log_warn("redis", "command connection: cannot connect: %s; retrying", err);
                outage = 1;
                backoff = rds_backoff_next(backoff);
                next_try = rds_now_ms() + backoff;
                continue;
            }
            if (outage)
                log_info("redis", "command connection: connected");
            outage = 0;
            backoff = 0;
            atomic_store(&r->cmd_connected, 1);
            continue;
        }
        if (cmd_batch(r, c, logs, nlogs, reqs, &retry, err, sizeof(err)) != 0) {
            atomic_store(&r->cmd_connected, 0);
            rds_conn_close(&r->cmd);
            c = NULL;
            pthread_mutex_lock(&r->qlock);
            requeue_locked(r, retry);
            pthread_mutex_unlock(&r->qlock);
            if (atomic_load(&r->stopping))
                break;
            log_warn("redis", "command connection lost: %s; reconnecting", err);
            outage = 1;
            next_try = 0; /* once at once; backoff starts if that attempt fails */
        }
    }
    atomic_store(&r->cmd_connected, 0);
    rds_conn_close(&r->cmd);
    pthread_mutex_lock(&r->qlock);
    r->closed = 1;
    rds_req_t *d = rds_fail_requests_locked(r, "redis client stopped");
    pthread_mutex_unlock(&r->qlock);
    rds_free_req_list(d);
    return NULL;
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
    int rc = 0;
    pthread_mutex_lock(&r->qlock);
    if (r->closed) {
        rc = DG_ECLOSED;
    } else if (r->logq_n >= RDS_LOGQ_MAX || r->logq_bytes + len > RDS_LOGQ_BYTES) {
        rc = DG_ELIMIT;
    } else {
        r->logq[(r->logq_head + r->logq_n) % RDS_LOGQ_MAX] = (rds_logent_t){copy, len};
        r->logq_n++;
        r->logq_bytes += len;
        pthread_cond_signal(&r->qcond);
    }
    pthread_mutex_unlock(&r->qlock);
    if (rc != 0) {
        free(copy);
        atomic_fetch_add(&r->logs_dropped, 1);
    }
    return rc;
}
