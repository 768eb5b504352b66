/* redis.c - the Redis side: one reader thread per stream (blocking XREAD -> decode -> broker)
 * and one command thread (log XADDs, replay XRANGEs, stream info) fed by a request queue.
 * The only file that includes hiredis. It does not interpret entries itself: decode.c does.
 *
 * Threads and locks:
 *   - reader i owns readers[i].conn.ctx; rds_stop() only shutdown()s its fd, under conn.lock.
 *   - the command thread owns cmd.ctx the same way; qlock guards the log queue and requests.
 *   - stop_lock/stop_cond only carry the stop signal to readers sleeping in their backoff.
 *   Locks are never nested, and nothing logs while holding qlock: the log hook
 *   (rds_publish_log) takes qlock, so logging there would deadlock. */
#include "redis.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "buf.h"
#include "dg.h"
#include "log.h"

#define RDS_LOGQ_MAX 4096           /* queued log entries before dropping */
#define RDS_LOGQ_BYTES (4u << 20)   /* ... and queued bytes */
#define RDS_LOG_BATCH 256           /* XADDs pipelined per round trip */
#define RDS_XREAD_COUNT "1000"
#define RDS_XREAD_MAX 1000          /* the same, as a number */
#define RDS_XREAD_BLOCK "2000"      /* ms; also bounds how stale a stop flag can get */
#define RDS_BACKOFF_MIN_MS 100
#define RDS_BACKOFF_MAX_MS 5000
#define RDS_CONNECT_TIMEOUT_MS 2000
#define RDS_READER_TIMEOUT_MS 7000  /* > XREAD BLOCK: a silent socket this long is dead */
#define RDS_CMD_TIMEOUT_MS 5000
#define RDS_STOP_FLUSH_TIMEOUT_MS 1000
#define RDS_RANGE_MAX 10000         /* entries per rds_range call */
#define RDS_THREAD_STACK (4u << 20) /* jansson recursion on 2048-deep JSON needs room */

/* ------------------------------------------------------------------------------------------ */
/* Types                                                                                      */
/* ------------------------------------------------------------------------------------------ */

typedef struct rds_conn {
    pthread_mutex_t lock; /* guards ctx against rds_stop()'s shutdown() */
    redisContext *ctx;
} rds_conn_t;

typedef struct rds_reader {
    rds_t *r;
    int index;
    char key[CFG_STR_MAX];
    const char *queue; /* NULL for the log stream */
    pthread_t thread;
    int thread_ok;
    rds_conn_t conn;
    cur_id_t last;    /* under conn.lock: read by rds_get_health */
    int have_start;   /* reader thread only */
    atomic_int connected, ever;
    _Atomic uint64_t entries, published, skipped, malformed, reconnects;
} rds_reader_t;

typedef struct rds_logent {
    char *json;
    size_t len;
} rds_logent_t;

enum rds_req_type { REQ_RANGE, REQ_INFO };

/* A caller's request. Two references (caller, command thread), counted under qlock, so a
 * caller that times out simply drops its reference and the command thread frees the rest. */
typedef struct rds_req {
    struct rds_req *next;
    int type;
    int refs, done, status;
    int tries; /* command thread: sent this many times (read-only, so one retry is safe) */
    char err[128];
    pthread_cond_t cond;
    /* REQ_RANGE */
    int stream;
    cur_id_t after, upto;
    int count;
    rds_range_t range;
    /* REQ_INFO: last-generated-id per stream */
    cur_id_t lgid[CFG_MAX_QUEUES + 1];
    int lgid_state[CFG_MAX_QUEUES + 1]; /* 1 known, 0 unknown, 2 stream does not exist */
} rds_req_t;

struct rds {
    const cfg_t *cfg;
    bk_t *bk;
    int nstreams;
    rds_reader_t readers[CFG_MAX_QUEUES + 1];
    const char *names[CFG_MAX_QUEUES + 2];

    atomic_int stopping;
    int started, stopped;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;

    pthread_t cmd_thread;
    int cmd_ok;
    rds_conn_t cmd;
    atomic_int cmd_connected;

    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    rds_logent_t logq[RDS_LOGQ_MAX];
    size_t logq_head, logq_n, logq_bytes;
    rds_req_t *req_head, *req_tail;
    int closed; /* under qlock: the command thread is gone, nothing more is accepted */
    rds_logent_t batch[RDS_LOG_BATCH]; /* command thread only */
    _Atomic uint64_t logs_published, logs_dropped;
};

/* ------------------------------------------------------------------------------------------ */
/* Time and waiting                                                                           */
/* ------------------------------------------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec deadline_ts(int64_t at_ms)
{
    struct timespec ts = {.tv_sec = at_ms / 1000, .tv_nsec = (at_ms % 1000) * 1000000};
    return ts;
}

static struct timeval ms_tv(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static int cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t a;
    if (pthread_condattr_init(&a) != 0)
        return -1;
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

/* Sleeps up to ms unless rds_stop() is called. Returns 1 if stopping. */
static int wait_stop(rds_t *r, int ms)
{
    int64_t until = now_ms() + ms;
    pthread_mutex_lock(&r->stop_lock);
    while (!atomic_load(&r->stopping) && now_ms() < until) {
        struct timespec ts = deadline_ts(until);
        pthread_cond_timedwait(&r->stop_cond, &r->stop_lock, &ts);
    }
    pthread_mutex_unlock(&r->stop_lock);
    return atomic_load(&r->stopping);
}

static int backoff_next(int ms)
{
    if (ms <= 0)
        return RDS_BACKOFF_MIN_MS;
    return ms * 2 > RDS_BACKOFF_MAX_MS ? RDS_BACKOFF_MAX_MS : ms * 2;
}

/* ------------------------------------------------------------------------------------------ */
/* Connections                                                                                */
/* ------------------------------------------------------------------------------------------ */

static void conn_close(rds_conn_t *cn)
{
    pthread_mutex_lock(&cn->lock);
    redisContext *c = cn->ctx;
    cn->ctx = NULL;
    pthread_mutex_unlock(&cn->lock);
    if (c)
        redisFree(c);
}

/* Makes a blocked read on the connection return at once; the owner then sees the stop flag. */
static void conn_interrupt(rds_conn_t *cn)
{
    pthread_mutex_lock(&cn->lock);
    if (cn->ctx && cn->ctx->fd >= 0)
        shutdown(cn->ctx->fd, SHUT_RDWR);
    pthread_mutex_unlock(&cn->lock);
}

/* Runs a command with C-string arguments; NULL with err filled on I/O or error replies. */
static redisReply *run(redisContext *c, int argc, const char **argv, const size_t *lens,
                       char *err, size_t errlen)
{
    redisReply *rep = redisCommandArgv(c, argc, argv, lens);
    if (!rep) {
        snprintf(err, errlen, "%s", c->err ? c->errstr : "no reply");
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s: %.*s", argv[0], (int)rep->len, rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

/* Connects, publishes the context (so rds_stop can interrupt it), then AUTH and SELECT. */
static redisContext *conn_open(rds_t *r, rds_conn_t *cn, int timeout_ms, char *err, size_t errlen)
{
    const cfg_t *cfg = r->cfg;
    const char *host = cfg->redis_host[0] ? cfg->redis_host : "127.0.0.1";
    int port = cfg->redis_port > 0 ? cfg->redis_port : 6379;
    redisReply *rep;

    redisContext *c = redisConnectWithTimeout(host, port, ms_tv(RDS_CONNECT_TIMEOUT_MS));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (c->err) {
        snprintf(err, errlen, "%.128s:%d: %.100s", host, port, c->errstr);
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, ms_tv(timeout_ms));
    redisEnableKeepAlive(c);
    pthread_mutex_lock(&cn->lock);
    if (atomic_load(&r->stopping)) {
        pthread_mutex_unlock(&cn->lock);
        redisFree(c);
        snprintf(err, errlen, "stopping");
        return NULL;
    }
    cn->ctx = c;
    pthread_mutex_unlock(&cn->lock);

    if (cfg->redis_password[0]) {
        const char *argv[3] = {"AUTH", cfg->redis_user, cfg->redis_password};
        int argc = 3;
        if (!cfg->redis_user[0]) {
            argv[1] = cfg->redis_password;
            argc = 2;
        }
        if (!(rep = run(c, argc, argv, NULL, err, errlen)))
            goto fail;
        freeReplyObject(rep);
    }
    if (cfg->redis_db > 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", cfg->redis_db);
        const char *argv[2] = {"SELECT", db};
        if (!(rep = run(c, 2, argv, NULL, err, errlen)))
            goto fail;
        freeReplyObject(rep);
    }
    return c;
fail:
    conn_close(cn);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Reply helpers                                                                              */
/* ------------------------------------------------------------------------------------------ */

static int reply_id(const redisReply *rep, cur_id_t *out)
{
    return rep && rep->type == REDIS_REPLY_STRING && cur_id_parse(rep->str, rep->len, out) == 0
               ? 0
               : -1;
}

/* Looks up name in an XINFO STREAM reply (a flat name/value array in RESP2). */
static const redisReply *info_get(const redisReply *info, const char *name)
{
    if (!info || info->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < info->elements; i += 2) {
        const redisReply *k = info->element[i];
        if (k && k->type == REDIS_REPLY_STRING && k->len == strlen(name) &&
            memcmp(k->str, name, k->len) == 0)
            return info->element[i + 1];
    }
    return NULL;
}

static int is_no_such_key(const redisReply *rep)
{
    return rep && rep->type == REDIS_REPLY_ERROR && rep->str && strstr(rep->str, "no such key");
}

/* Field arrays for one entry, sized for the largest entry decode accepts. */
typedef struct rds_fields {
    const char *name[DEC_FIELDS_MAX];
    size_t name_len[DEC_FIELDS_MAX];
    const char *value[DEC_FIELDS_MAX];
    size_t value_len[DEC_FIELDS_MAX];
} rds_fields_t;

/* Fills f from an entry's field array; -1 if it is not a flat list of string pairs. */
static int entry_fields(const redisReply *arr, rds_fields_t *fb, dec_fields_t *f, char *err,
                        size_t errlen)
{
    if (!arr || arr->type != REDIS_REPLY_ARRAY || arr->elements % 2 != 0) {
        snprintf(err, errlen, "fields are not a list of pairs");
        return -1;
    }
    if (arr->elements / 2 > DEC_FIELDS_MAX) {
        snprintf(err, errlen, "more than %d fields", DEC_FIELDS_MAX);
        return -1;
    }
    for (size_t i = 0; i < arr->elements; i++) {
        const redisReply *e = arr->element[i];
        if (!e || e->type != REDIS_REPLY_STRING) {
            snprintf(err, errlen, "field %zu is not a string", i / 2);
            return -1;
        }
        if (i % 2 == 0) {
            fb->name[i / 2] = e->str;
            fb->name_len[i / 2] = e->len;
        } else {
            fb->value[i / 2] = e->str;
            fb->value_len[i / 2] = e->len;
        }
    }
    *f = (dec_fields_t){fb->name, fb->name_len, fb->value, fb->value_len, arr->elements / 2};
    return 0;
}

/* Outcome of decoding one entry, shared by the live readers and replays. */
enum { ENT_MSG, ENT_SKIP, ENT_BAD, ENT_NOMEM };

/* Decodes one entry of stream into a message (*m, with job_id filled for job streams).
 * ENT_BAD leaves the reason in err (never the payload). */
static int entry_decode(rds_t *r, int stream, cur_id_t id, const redisReply *fields,
                        rds_fields_t *fb, msg_t **m, char *job_id, char *err, size_t errlen)
{
    dec_fields_t f;
    dec_event_t ev;
    int rc;

    *m = NULL;
    if (entry_fields(fields, fb, &f, err, errlen) != 0)
        return ENT_BAD;
    if (stream < r->cfg->nqueues) {
        rc = dec_job_entry(r->cfg->queues[stream], &f, &ev, err, errlen);
        if (rc == DG_ENOTFOUND || (rc == 0 && !cfg_event_forwarded(r->cfg, ev.event))) {
            dec_event_clear(&ev);
            return ENT_SKIP;
        }
        if (rc == 0) {
            *m = msg_new(MSG_JOB, (uint8_t)stream, id, ev.event, ev.json, ev.json_len, "/", 0,
                         NULL);
            memcpy(job_id, ev.job_id, sizeof(ev.job_id));
        }
    } else {
        rc = dec_log_entry(&f, &ev, err, errlen);
        if (rc == 0) {
            *m = msg_new(MSG_LOG, (uint8_t)stream, id, "log", ev.json, ev.json_len, "/logs",
                         (uint8_t)ev.level, ev.ns);
            job_id[0] = '\0';
        }
    }
    dec_event_clear(&ev);
    if (rc == DG_ENOMEM || (rc == 0 && !*m)) {
        snprintf(err, errlen, "out of memory");
        return ENT_NOMEM;
    }
    return rc == 0 ? ENT_MSG : ENT_BAD;
}

/* ------------------------------------------------------------------------------------------ */
/* Reader threads                                                                             */
/* ------------------------------------------------------------------------------------------ */

/* Where a fresh reader starts: the stream's last-generated-id, 0-0 if the key is missing. */
static int stream_start(redisContext *c, const char *key, cur_id_t *out, char *err, size_t errlen)
{
    const char *argv[3] = {"XINFO", "STREAM", key};
    redisReply *rep = redisCommandArgv(c, 3, argv, NULL);
    int rc = -1;
    if (!rep) {
        snprintf(err, errlen, "%s", c->errstr);
        return -1;
    }
    if (is_no_such_key(rep)) {
        *out = (cur_id_t){0, 0};
        rc = 0;
    } else if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "XINFO STREAM: %.*s", (int)rep->len, rep->str);
    } else if (reply_id(info_get(rep, "last-generated-id"), out) == 0) {
        rc = 0;
    } else {
        snprintf(err, errlen, "XINFO STREAM: no last-generated-id");
    }
    freeReplyObject(rep);
    return rc;
}

static void reader_set_last(rds_reader_t *rd, cur_id_t id)
{
    pthread_mutex_lock(&rd->conn.lock);
    rd->last = id;
    pthread_mutex_unlock(&rd->conn.lock);
}

/* One XREAD reply's worth of broker steps, published in one go (one broker lock, one wake-up
 * per subscriber). Room names live in `rooms`, referenced by offset until the batch is sent. */
typedef struct rds_batch {
    bk_pub_t pubs[RDS_XREAD_MAX];
    size_t room_off[RDS_XREAD_MAX][2];
    int n;
    buf_t rooms;
} rds_batch_t;

static void batch_send(rds_reader_t *rd, rds_batch_t *b)
{
    for (int i = 0; i < b->n; i++)
        for (int k = 0; k < b->pubs[i].nrooms; k++)
            b->pubs[i].rooms[k] = b->rooms.data + b->room_off[i][k];
    bk_publish_batch(rd->r->bk, b->pubs, b->n);
    for (int i = 0; i < b->n; i++)
        msg_unref(b->pubs[i].msg);
    b->n = 0;
    buf_reset(&b->rooms);
}

static void batch_room(rds_batch_t *b, int k, const char *prefix, const char *name)
{
    b->room_off[b->n][k] = b->rooms.len;
    buf_append_str(&b->rooms, prefix);
    buf_append(&b->rooms, name, strlen(name) + 1); /* keeps the NUL */
}

static void reader_entry(rds_reader_t *rd, const redisReply *entry, cur_id_t id,
                         rds_fields_t *fb, rds_batch_t *b)
{
    rds_t *r = rd->r;
    char err[160], idbuf[CUR_ID_STR_MAX], job_id[DEC_JOBID_MAX];
    msg_t *m;

    atomic_fetch_add(&rd->entries, 1);
    int rc = entry_decode(r, rd->index, id, entry->element[1], fb, &m, job_id, err, sizeof(err));
    bk_pub_t *p = &b->pubs[b->n];
    *p = (bk_pub_t){.stream = rd->index, .id = id};
    if (rc == ENT_MSG) {
        p->msg = m;
        if (rd->queue) {
            batch_room(b, 0, "job:", job_id);
            batch_room(b, 1, "queue:", rd->queue);
            p->nrooms = 2;
        } else {
            batch_room(b, 0, "", "logs");
            p->nrooms = 1;
        }
        atomic_fetch_add(&rd->published, 1);
    } else if (rc == ENT_SKIP) {
        /* Skipped or broken, the position still moves so cursors stay exact. */
        atomic_fetch_add(&rd->skipped, 1);
    } else {
        atomic_fetch_add(&rd->malformed, 1);
        cur_id_format(id, idbuf);
        log_warn("redis", "%s %s: entry skipped: %s", rd->key, idbuf, err);
    }
    b->n++;
}

/* Follows the stream until the connection fails or rds_stop(); err says why it returned. */
static void reader_loop(rds_reader_t *rd, redisContext *c, rds_fields_t *fb, rds_batch_t *b,
                        char *err, size_t errlen)
{
    rds_t *r = rd->r;
    char idbuf[CUR_ID_STR_MAX];
    cur_id_t last = rd->last; /* only this thread writes it */

    while (!atomic_load(&r->stopping)) {
        cur_id_format(last, idbuf);
        const char *argv[8] = {"XREAD",   "COUNT", RDS_XREAD_COUNT, "BLOCK",
                               RDS_XREAD_BLOCK, "STREAMS", rd->key, idbuf};
        redisReply *rep = redisCommandArgv(c, 8, argv, NULL);
        if (!rep) {
            snprintf(err, errlen, "%s", c->errstr);
            return;
        }
        if (rep->type == REDIS_REPLY_NIL) { /* BLOCK timed out: nothing new */
            freeReplyObject(rep);
            continue;
        }
        if (rep->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "XREAD: %.*s", (int)rep->len, rep->str);
            freeReplyObject(rep);
            return;
        }
        const redisReply *entries = NULL;
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
            rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements == 2 &&
            rep->element[0]->element[1]->type == REDIS_REPLY_ARRAY)
            entries = rep->element[0]->element[1];
        if (!entries) {
            snprintf(err, errlen, "XREAD: unexpected reply shape");
            freeReplyObject(rep);
            return;
        }
        for (size_t i = 0; i < entries->elements; i++) {
            const redisReply *e = entries->element[i];
            cur_id_t id;
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                reply_id(e->element[0], &id) != 0 || cur_id_cmp(id, last) <= 0) {
                /* Without a usable, increasing id we cannot move past it: resync. */
                snprintf(err, errlen, "XREAD: entry without a valid id");
                batch_send(rd, b);
                reader_set_last(rd, last);
                freeReplyObject(rep);
                return;
            }
            if (b->n == RDS_XREAD_MAX)
                batch_send(rd, b);
            reader_entry(rd, e, id, fb, b);
            last = id;
        }
        batch_send(rd, b);
        reader_set_last(rd, last);
        freeReplyObject(rep);
    }
    snprintf(err, errlen, "stopping");
}

static void *reader_main(void *arg)
{
    rds_reader_t *rd = arg;
    rds_t *r = rd->r;
    char err[256];
    int backoff = 0, outage = 0;
    rds_fields_t *fb = malloc(sizeof(*fb));
    rds_batch_t *batch = calloc(1, sizeof(*batch));

    if (!fb || !batch) {
        log_error("redis", "%s: out of memory, reader not started", rd->key);
        free(fb);
        free(batch);
        return NULL;
    }
    while (!atomic_load(&r->stopping)) {
        redisContext *c = conn_open(r, &rd->conn, RDS_READER_TIMEOUT_MS, err, sizeof(err));
        if (c && !rd->have_start) {
            cur_id_t start;
            if (stream_start(c, rd->key, &start, err, sizeof(err)) == 0) {
                rd->have_start = 1;
                reader_set_last(rd, start);
                bk_set_position(r->bk, rd->index, start);
            } else {
                conn_close(&rd->conn);
                c = NULL;
            }
        }
        if (!c) {
            if (atomic_load(&r->stopping))
                break;
            if (!outage)
                log_warn("redis", "%s: cannot connect: %s; retrying", rd->key, err);
            outage = 1;
            backoff = backoff_next(backoff);
            wait_stop(r, backoff);
            continue;
        }
        if (atomic_load(&rd->ever))
            atomic_fetch_add(&rd->reconnects, 1);
        if (outage)
            log_info("redis", "%s: connected", rd->key);
        outage = 0;
        backoff = 0;
        atomic_store(&rd->connected, 1);
        atomic_store(&rd->ever, 1);

        reader_loop(rd, c, fb, batch, err, sizeof(err));

        atomic_store(&rd->connected, 0);
        conn_close(&rd->conn);
        if (atomic_load(&r->stopping))
            break;
        log_warn("redis", "%s: connection lost: %s; reconnecting", rd->key, err);
        outage = 1;
        backoff = backoff_next(backoff);
        wait_stop(r, backoff);
    }
    buf_free(&batch->rooms);
    free(batch);
    free(fb);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Requests                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void req_free(rds_req_t *q)
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
        req_free(q);
}

/* Queues q and waits for it; returns 1 when done, 0 on timeout or when the command thread is
 * gone (q then belongs to the command thread, or is freed here). */
static int req_submit_wait(rds_t *r, rds_req_t *q, int timeout_ms)
{
    int64_t until = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
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
    while (!q->done && now_ms() < until) {
        struct timespec ts = deadline_ts(until);
        pthread_cond_timedwait(&q->cond, &r->qlock, &ts);
    }
    int done = q->done;
    int dead = --q->refs == 0;
    pthread_mutex_unlock(&r->qlock);
    if (!done) {
        if (dead) /* cannot happen while undone, kept for symmetry */
            req_free(q);
        return 0;
    }
    return 1;
}

static rds_req_t *req_new(int type)
{
    rds_req_t *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    if (cond_init_mono(&q->cond) != 0) {
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

/* Decodes a replay's EXEC reply [XINFO STREAM, XRANGE] into q->range. */
static void range_decode(rds_t *r, rds_req_t *q, const redisReply *exec)
{
    rds_range_t *out = &q->range;
    const redisReply *info, *xr;
    char err[160];

    out->last = q->after;
    if (!exec || exec->type != REDIS_REPLY_ARRAY || exec->elements != 2) {
        q->status = DG_EIO;
        snprintf(q->err, sizeof(q->err), "replay transaction failed");
        return;
    }
    info = exec->element[0];
    xr = exec->element[1];
    if (xr->type == REDIS_REPLY_ERROR) {
        q->status = DG_EIO;
        snprintf(q->err, sizeof(q->err), "XRANGE: %.*s", (int)xr->len, xr->str);
        return;
    }
    if (xr->type != REDIS_REPLY_ARRAY) {
        q->status = DG_EIO;
        snprintf(q->err, sizeof(q->err), "XRANGE: unexpected reply");
        return;
    }

    /* Gap: something after `after` was deleted (max-deleted-entry-id), or trimmed away: the
     * stream lost entries and its oldest survivor (or, empty, its newest id) is past after.
     * A trimmed `after` with nothing trimmed beyond it cannot be told apart and counts too. */
    if (info->type == REDIS_REPLY_ARRAY) {
        cur_id_t maxdel, first, lastgen;
        const redisReply *added = info_get(info, "entries-added");
        const redisReply *length = info_get(info, "length");
        const redisReply *fe = info_get(info, "first-entry");
        int lost = 1;
        if (added && length && added->type == REDIS_REPLY_INTEGER &&
            length->type == REDIS_REPLY_INTEGER)
            lost = added->integer > length->integer;
        if (reply_id(info_get(info, "max-deleted-entry-id"), &maxdel) == 0 &&
            cur_id_cmp(maxdel, q->after) > 0)
            out->gap = 1;
        if (lost && fe && fe->type == REDIS_REPLY_ARRAY && fe->elements == 2 &&
            reply_id(fe->element[0], &first) == 0 && cur_id_cmp(first, q->after) > 0)
            out->gap = 1;
        if (lost && (!fe || fe->type != REDIS_REPLY_ARRAY) &&
            reply_id(info_get(info, "last-generated-id"), &lastgen) == 0 &&
            cur_id_cmp(lastgen, q->after) > 0)
            out->gap = 1;
    }

    out->more = (int)xr->elements >= q->count;
    if (xr->elements == 0)
        return;
    out->items = calloc(xr->elements, sizeof(*out->items));
    rds_fields_t *fb = malloc(sizeof(*fb));
    if (!out->items || !fb) {
        free(fb);
        q->status = DG_ENOMEM;
        snprintf(q->err, sizeof(q->err), "out of memory");
        return;
    }
    for (size_t i = 0; i < xr->elements; i++) {
        const redisReply *e = xr->element[i];
        cur_id_t id;
        msg_t *m;
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || reply_id(e->element[0], &id) != 0)
            continue;
        out->last = id;
        rds_item_t *it = &out->items[out->n];
        int rc = entry_decode(r, q->stream, id, e->element[1], fb, &m, it->job_id, err,
                              sizeof(err));
        if (rc == ENT_MSG) {
            it->msg = m;
            out->n++;
        } else if (rc == ENT_NOMEM) {
            q->status = DG_ENOMEM;
            snprintf(q->err, sizeof(q->err), "out of memory");
            break;
        }
    }
    free(fb);
}

static void info_decode(rds_t *r, rds_req_t *q, redisReply **reps)
{
    for (int s = 0; s < r->nstreams; s++) {
        if (is_no_such_key(reps[s]))
            q->lgid_state[s] = 2;
        else if (reply_id(info_get(reps[s], "last-generated-id"), &q->lgid[s]) == 0)
            q->lgid_state[s] = 1;
    }
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
            range_decode(r, q, reps[3]);
        else
            info_decode(r, q, reps);
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
static int cmd_batch(rds_t *r, redisContext *c, rds_logent_t *logs, size_t nlogs,
                     rds_req_t *reqs, rds_req_t **retry, char *err, size_t errlen)
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

/* An idle connection with something to read was closed by the server (CLIENT KILL, timeout,
 * restart): find out before sending, not from a failed request. */
static int conn_stale(redisContext *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    return poll(&p, 1, 0) != 0;
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
static rds_req_t *fail_requests_locked(rds_t *r, const char *why)
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

static void free_req_list(rds_req_t *q)
{
    while (q) {
        rds_req_t *next = q->next;
        req_free(q);
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

static void *cmd_main(void *arg)
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
            if (!c && now_ms() >= next_try)
                break;
            if (!c) {
                /* Down and waiting to retry: answer callers now rather than at their timeout. */
                if (outage && r->req_head) {
                    rds_req_t *d = fail_requests_locked(r, "redis unavailable");
                    pthread_mutex_unlock(&r->qlock);
                    free_req_list(d);
                    pthread_mutex_lock(&r->qlock);
                    continue;
                }
                struct timespec ts = deadline_ts(next_try);
                pthread_cond_timedwait(&r->qcond, &r->qlock, &ts);
                continue;
            }
            if (r->logq_n || r->req_head) {
                stale = conn_stale(c);
                break;
            }
            pthread_cond_wait(&r->qcond, &r->qlock);
        }
        if (c && !stale)
            nlogs = take_work_locked(r, logs, &reqs, &dead);
        pthread_mutex_unlock(&r->qlock);
        free_req_list(dead);
        dead = NULL;
        if (stale) { /* reconnect now; the queued work waits for the new connection */
            atomic_store(&r->cmd_connected, 0);
            conn_close(&r->cmd);
            c = NULL;
            log_warn("redis", "command connection closed by the server; reconnecting");
            outage = 1;
            next_try = 0;
            continue;
        }

        if (stop) {
            /* Best effort: what is queued at shutdown still reaches the stream, briefly. */
            if (c) {
                redisSetTimeout(c, ms_tv(RDS_STOP_FLUSH_TIMEOUT_MS));
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
                    free_req_list(dead);
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
            c = conn_open(r, &r->cmd, RDS_CMD_TIMEOUT_MS, err, sizeof(err));
            if (!c) {
                if (!outage)
                    log_warn("redis", "command connection: cannot connect: %s; retrying", err);
                outage = 1;
                backoff = backoff_next(backoff);
                next_try = now_ms() + backoff;
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
            conn_close(&r->cmd);
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
    conn_close(&r->cmd);
    pthread_mutex_lock(&r->qlock);
    r->closed = 1;
    rds_req_t *d = fail_requests_locked(r, "redis client stopped");
    pthread_mutex_unlock(&r->qlock);
    free_req_list(d);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Public API                                                                                 */
/* ------------------------------------------------------------------------------------------ */

rds_t *rds_new(const cfg_t *cfg, bk_t *broker)
{
    if (!cfg || !broker || cfg->nqueues < 0 || cfg->nqueues > CFG_MAX_QUEUES ||
        cfg->nqueues + 1 > CUR_MAX_STREAMS)
        return NULL;
    rds_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->cfg = cfg;
    r->bk = broker;
    r->nstreams = cfg->nqueues + 1;
    pthread_mutex_init(&r->stop_lock, NULL);
    pthread_mutex_init(&r->qlock, NULL);
    pthread_mutex_init(&r->cmd.lock, NULL);
    if (cond_init_mono(&r->stop_cond) != 0 || cond_init_mono(&r->qcond) != 0) {
        free(r);
        return NULL;
    }
    for (int i = 0; i < r->nstreams; i++) {
        rds_reader_t *rd = &r->readers[i];
        rd->r = r;
        rd->index = i;
        pthread_mutex_init(&rd->conn.lock, NULL);
        if (i < cfg->nqueues) {
            rd->queue = cfg->queues[i];
            snprintf(rd->key, sizeof(rd->key), "%s:%s:events", cfg->prefix, cfg->queues[i]);
            r->names[i] = cfg->queues[i];
        } else {
            snprintf(rd->key, sizeof(rd->key), "%s", cfg->log_stream);
            r->names[i] = "logs";
        }
    }
    r->names[r->nstreams] = NULL;
    return r;
}

static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    pthread_attr_t a;
    if (pthread_attr_init(&a) != 0)
        return -1;
    pthread_attr_setstacksize(&a, RDS_THREAD_STACK);
    int rc = pthread_create(t, &a, fn, arg);
    pthread_attr_destroy(&a);
    return rc == 0 ? 0 : -1;
}

int rds_start(rds_t *r)
{
    if (!r || r->started)
        return DG_EINVAL;
    pthread_mutex_lock(&r->qlock);
    r->started = 1;
    pthread_mutex_unlock(&r->qlock);
    if (start_thread(&r->cmd_thread, cmd_main, r) != 0)
        goto fail;
    r->cmd_ok = 1;
    for (int i = 0; i < r->nstreams; i++) {
        if (start_thread(&r->readers[i].thread, reader_main, &r->readers[i]) != 0)
            goto fail;
        r->readers[i].thread_ok = 1;
    }
    return 0;
fail:
    rds_stop(r);
    return DG_ENOMEM;
}

void rds_stop(rds_t *r)
{
    if (!r || !r->started || r->stopped)
        return;
    r->stopped = 1;
    atomic_store(&r->stopping, 1);
    pthread_mutex_lock(&r->stop_lock);
    pthread_cond_broadcast(&r->stop_cond);
    pthread_mutex_unlock(&r->stop_lock);
    pthread_mutex_lock(&r->qlock);
    pthread_cond_broadcast(&r->qcond);
    pthread_mutex_unlock(&r->qlock);
    for (int i = 0; i < r->nstreams; i++)
        conn_interrupt(&r->readers[i].conn);
    for (int i = 0; i < r->nstreams; i++) {
        if (r->readers[i].thread_ok)
            pthread_join(r->readers[i].thread, NULL);
        r->readers[i].thread_ok = 0;
    }
    if (r->cmd_ok)
        pthread_join(r->cmd_thread, NULL);
    r->cmd_ok = 0;
    pthread_mutex_lock(&r->qlock);
    r->closed = 1;
    rds_req_t *d = fail_requests_locked(r, "redis client stopped");
    pthread_mutex_unlock(&r->qlock);
    free_req_list(d);
}

void rds_free(rds_t *r)
{
    if (!r)
        return;
    rds_stop(r);
    while (r->logq_n) {
        free(r->logq[r->logq_head].json);
        r->logq_head = (r->logq_head + 1) % RDS_LOGQ_MAX;
        r->logq_n--;
    }
    for (int i = 0; i < r->nstreams; i++)
        pthread_mutex_destroy(&r->readers[i].conn.lock);
    pthread_mutex_destroy(&r->cmd.lock);
    pthread_mutex_destroy(&r->qlock);
    pthread_mutex_destroy(&r->stop_lock);
    pthread_cond_destroy(&r->qcond);
    pthread_cond_destroy(&r->stop_cond);
    free(r);
}

int rds_ready(rds_t *r)
{
    if (!r)
        return 0;
    for (int i = 0; i < r->nstreams; i++)
        if (!atomic_load(&r->readers[i].ever))
            return 0;
    return 1;
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

int rds_range(rds_t *r, int stream, cur_id_t after, cur_id_t upto, int count, int timeout_ms,
              rds_range_t *out, char *errstr, size_t errlen)
{
    if (!out)
        return DG_EINVAL;
    memset(out, 0, sizeof(*out));
    out->last = after;
    if (!r || stream < 0 || stream >= r->nstreams) {
        if (errstr && errlen)
            snprintf(errstr, errlen, "no such stream");
        return DG_EINVAL;
    }
    if (cur_id_cmp(after, upto) >= 0)
        return 0;
    rds_req_t *q = req_new(REQ_RANGE);
    if (!q) {
        if (errstr && errlen)
            snprintf(errstr, errlen, "out of memory");
        return DG_ENOMEM;
    }
    q->stream = stream;
    q->after = after;
    q->upto = upto;
    q->count = count < 1 ? 1 : count > RDS_RANGE_MAX ? RDS_RANGE_MAX : count;
    if (!req_submit_wait(r, q, timeout_ms)) {
        if (errstr && errlen)
            snprintf(errstr, errlen, "redis did not answer within %d ms", timeout_ms);
        return DG_EIO; /* q now belongs to the command thread */
    }
    int rc = q->status;
    if (rc == 0) {
        *out = q->range;
        memset(&q->range, 0, sizeof(q->range));
    } else if (errstr && errlen) {
        snprintf(errstr, errlen, "%s", q->err);
    }
    req_free(q);
    return rc == 0 ? 0 : rc == DG_ENOMEM ? DG_ENOMEM : DG_EIO;
}

void rds_range_free(rds_range_t *out)
{
    if (!out)
        return;
    for (int i = 0; i < out->n; i++)
        msg_unref(out->items[i].msg);
    free(out->items);
    out->items = NULL;
    out->n = 0;
}

void rds_get_health(rds_t *r, rds_health_t *h, int timeout_ms)
{
    memset(h, 0, sizeof(*h));
    if (!r)
        return;
    h->nstreams = r->nstreams;
    h->ready = rds_ready(r);
    h->connected = atomic_load(&r->cmd_connected);
    h->logs_published = atomic_load(&r->logs_published);
    h->logs_dropped = atomic_load(&r->logs_dropped);

    /* Lag needs the command connection; without an answer in time it stays -1. */
    rds_req_t *q = timeout_ms > 0 ? req_new(REQ_INFO) : NULL;
    int answered = q ? req_submit_wait(r, q, timeout_ms) : 0; /* 0: q is the thread's now */
    int have_info = answered && q->status == 0;

    for (int i = 0; i < r->nstreams; i++) {
        rds_reader_t *rd = &r->readers[i];
        rds_stream_health_t *s = &h->streams[i];
        snprintf(s->key, sizeof(s->key), "%s", rd->key);
        s->connected = atomic_load(&rd->connected);
        if (!s->connected)
            h->connected = 0;
        pthread_mutex_lock(&rd->conn.lock);
        s->last_id = rd->last;
        pthread_mutex_unlock(&rd->conn.lock);
        s->entries = atomic_load(&rd->entries);
        s->published = atomic_load(&rd->published);
        s->skipped = atomic_load(&rd->skipped);
        s->malformed = atomic_load(&rd->malformed);
        s->reconnects = atomic_load(&rd->reconnects);
        s->lag_ms = -1;
        if (have_info && q->lgid_state[i] == 2)
            s->lag_ms = 0; /* no stream yet: nothing to be behind on */
        else if (have_info && q->lgid_state[i] == 1)
            s->lag_ms = q->lgid[i].ms > s->last_id.ms ? (int64_t)(q->lgid[i].ms - s->last_id.ms)
                                                      : 0;
    }
    if (answered)
        req_free(q);
}

const char *const *rds_stream_names(rds_t *r)
{
    return r ? r->names : NULL;
}
