/* rds_int.h - private to the Redis modules (redis.c, rds_*.c): shared types, constants
 * and helpers. Never included outside them, so hiredis stays behind include/redis.h.
 *
 * Threads and locks:
 *   - reader i owns readers[i].conn.ctx; rds_stop() only shutdown()s its fd, under conn.lock.
 *   - the command thread owns cmd.ctx the same way; qlock guards the log queue and requests.
 *   - stop_lock/stop_cond only carry the stop signal to readers sleeping in their backoff.
 *   Locks are never nested, and nothing logs while holding qlock: the log hook
 *   (rds_publish_log) takes qlock, so logging there would deadlock. */
#ifndef RDS_INT_H
#define RDS_INT_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#include "decode.h"
#include "redis.h"

#define RDS_LOGQ_MAX 4096         /* queued log entries before dropping */
#define RDS_LOGQ_BYTES (4u << 20) /* ... and queued bytes */
#define RDS_LOG_BATCH 256         /* XADDs pipelined per round trip */
#define RDS_XREAD_COUNT "1000"
#define RDS_XREAD_MAX 1000     /* the same, as a number */
#define RDS_XREAD_BLOCK "2000" /* ms; also bounds how stale a stop flag can get */
#define RDS_BACKOFF_MIN_MS 100
#define RDS_BACKOFF_MAX_MS 5000
#define RDS_CONNECT_TIMEOUT_MS 2000
#define RDS_READER_TIMEOUT_MS 7000 /* > XREAD BLOCK: a silent socket this long is dead */
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
    cur_id_t last;  /* under conn.lock: read by rds_get_health */
    int have_start; /* reader thread only */
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
/* rds_conn.c: time, waiting, connections, replies                                            */
/* ------------------------------------------------------------------------------------------ */

int64_t rds_now_ms(void); /* CLOCK_MONOTONIC */
struct timespec rds_deadline_ts(int64_t at_ms);
struct timeval rds_ms_tv(int ms);
/* A condition variable timed on CLOCK_MONOTONIC. 0 or -1. */
int rds_cond_init_mono(pthread_cond_t *c);
/* Sleeps up to ms unless rds_stop() is called. Returns 1 if stopping. */
int rds_wait_stop(rds_t *r, int ms);
/* The next backoff after ms (0: the first), doubling up to RDS_BACKOFF_MAX_MS. */
int rds_backoff_next(int ms);

/* Connects, publishes the context in cn (so rds_stop can interrupt it), then AUTH and
 * SELECT. NULL with err filled on failure. Thread: cn's owner. */
redisContext *rds_conn_open(rds_t *r, rds_conn_t *cn, int timeout_ms, char *err, size_t errlen);
void rds_conn_close(rds_conn_t *cn);
/* Makes a blocked read on the connection return at once; the owner then sees the stop flag. */
void rds_conn_interrupt(rds_conn_t *cn);
/* An idle connection with something to read was closed by the server (CLIENT KILL, timeout,
 * restart): find out before sending, not from a failed request. */
int rds_conn_stale(redisContext *c);
/* Runs a command; NULL with err filled on I/O or error replies. */
redisReply *rds_run(redisContext *c, int argc, const char **argv, const size_t *lens, char *err,
                    size_t errlen);

int rds_reply_id(const redisReply *rep, cur_id_t *out);
/* Looks up name in an XINFO STREAM reply (a flat name/value array in RESP2). */
const redisReply *rds_info_get(const redisReply *info, const char *name);
int rds_is_no_such_key(const redisReply *rep);

/* ------------------------------------------------------------------------------------------ */
/* rds_entry.c: one stream entry -> one message                                               */
/* ------------------------------------------------------------------------------------------ */

/* Field arrays for one entry, sized for the largest entry decode accepts. */
typedef struct rds_fields {
    const char *name[DEC_FIELDS_MAX];
    size_t name_len[DEC_FIELDS_MAX];
    const char *value[DEC_FIELDS_MAX];
    size_t value_len[DEC_FIELDS_MAX];
} rds_fields_t;

/* Outcome of decoding one entry, shared by the live readers and replays. */
enum { RDS_ENT_MSG, RDS_ENT_SKIP, RDS_ENT_BAD, RDS_ENT_NOMEM };

/* Decodes one entry of stream into a message (*m, with job_id filled for job streams).
 * RDS_ENT_BAD leaves the reason in err (never the payload). */
int rds_entry_decode(rds_t *r, int stream, cur_id_t id, const redisReply *fields, rds_fields_t *fb,
                     msg_t **m, char *job_id, char *err, size_t errlen);

/* ------------------------------------------------------------------------------------------ */
/* Threads and requests                                                                       */
/* ------------------------------------------------------------------------------------------ */

void *rds_reader_main(void *arg); /* arg: rds_reader_t */
void *rds_cmd_main(void *arg);    /* arg: rds_t */

rds_req_t *rds_req_new(int type);
void rds_req_free(rds_req_t *q);
/* Queues q and waits for it; returns 1 when done, 0 on timeout or when the command thread is
 * gone (q then belongs to the command thread, or is freed here). */
int rds_req_submit_wait(rds_t *r, rds_req_t *q, int timeout_ms);
/* Fails every queued request. qlock held. Returns those to free (rds_free_req_list). */
rds_req_t *rds_fail_requests_locked(rds_t *r, const char *why);
void rds_free_req_list(rds_req_t *q);

/* Decodes a replay's EXEC reply [XINFO STREAM, XRANGE] into q->range (rds_range.c). */
void rds_range_decode(rds_t *r, rds_req_t *q, const redisReply *exec);
/* Decodes XINFO STREAM replies, one per stream, into q->lgid (redis.c). */
void rds_info_decode(rds_t *r, rds_req_t *q, redisReply **reps);

#endif
