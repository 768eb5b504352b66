/* rds_int.h - private to the Redis modules (redis.c, rds_*.c): shared types, constants
 * and helpers. Never included outside them, so hiredis stays behind include/redis.h.
 *
 * Threads and locks:
 *   - reader i owns readers[i].conn.ctx; rds_stop() only shutdown()s its fd, under conn.lock.
 *     A routed channel's reader has no thread or connection of its own: the channel thread
 *     (rds_chan.c) owns chan_conn and updates those readers' counters, last and error.
 *   - the command thread owns its context alone (non-blocking, polled with the wake eventfd);
 *     qlock guards the log queue, the request queue and the flags below it in struct rds.
 *   - stop_lock/stop_cond only carry the stop signal to readers sleeping in their backoff.
 *   Locks are never nested, nothing logs while holding qlock (the log hook, rds_publish_log,
 *   takes qlock), and no callback runs under a lock. */
#ifndef RDS_INT_H
#define RDS_INT_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#include "buf.h"
#include "decode.h"
#include "redis.h"
#include "route.h"

#define RDS_LOGQ_MAX 4096         /* queued log entries before dropping */
#define RDS_LOGQ_BYTES (4u << 20) /* ... and queued bytes */
#define RDS_LOG_BATCH 256         /* XADDs pipelined per round trip */
#define RDS_XREAD_COUNT "1000"
#define RDS_XREAD_MAX 1000      /* the same, as a number */
#define RDS_XREAD_BLOCK "2000"  /* ms; also bounds how stale a stop flag can get */
#define RDS_XREAD_BLOCK_MS 2000 /* the same, as a number */
#define RDS_BACKOFF_MIN_MS 100
#define RDS_BACKOFF_MAX_MS 5000
#define RDS_TIMEOUT_DEFAULT_MS 2000 /* redis_timeout_ms when the cfg has none */
#define RDS_PING_DEFAULT_MS 1000    /* redis_ping_interval_ms likewise */
#define RDS_DEAD_FACTOR 3 /* TCP_USER_TIMEOUT of the command connection, in redis_timeout_ms */
#define RDS_STOP_FLUSH_TIMEOUT_MS 1000
#define RDS_RANGE_MAX 10000         /* entries per rds_range call */
#define RDS_THREAD_STACK (4u << 20) /* jansson recursion on 2048-deep JSON needs room */
#define RDS_REQ_MAX 65536           /* requests queued or in flight before DG_ELIMIT */
#define RDS_REQ_MAX_REPLIES 24      /* replies one request may expect */
#define RDS_INFLIGHT_MAX 1024       /* reply groups in flight on the command connection */

/* ------------------------------------------------------------------------------------------ */
/* Types                                                                                      */
/* ------------------------------------------------------------------------------------------ */

typedef struct rds_conn {
    pthread_mutex_t lock; /* guards ctx against rds_stop()'s shutdown() */
    redisContext *ctx;
} rds_conn_t;

typedef struct rds_follow rds_follow_t; /* rds_reader.c: a reader following on a loop */

typedef struct rds_reader {
    rds_t *r;
    int index;
    char key[CFG_STR_MAX];
    const char *queue; /* NULL for the log stream and routes */
    const route_t *route; /* routes only: into r->routes */
    pthread_t thread;
    int thread_ok;
    rds_conn_t conn;
    cur_id_t last;   /* under conn.lock: read by rds_get_health */
    char error[128]; /* under conn.lock: why the stream is not read now ("" when it is) */
    int have_start;  /* reader thread only */
    rds_follow_t *follow; /* under r->follow_lock: set while a loop reads for this reader */
    el_task_t leave;      /* rds_use_loops(NULL) posts it to that loop ... */
    int leaving;          /* ... under r->follow_lock: until it has run */
    atomic_int connected, ever;
    _Atomic uint64_t entries, published, skipped, malformed, reconnects, errors;
    _Atomic uint64_t delivered; /* deliveries its publishes made (routes' health) */
} rds_reader_t;

/* One read's worth of broker steps, published in one go (one broker lock, one wake-up per
 * subscriber). Room names live in `rooms`, referenced by offset until the batch is sent. */
typedef struct rds_batch {
    bk_pub_t pubs[RDS_XREAD_MAX];
    size_t room_off[RDS_XREAD_MAX][3];
    int n;
    buf_t rooms;
} rds_batch_t;

typedef struct rds_logent {
    char *json;
    size_t len;
} rds_logent_t;

typedef struct rds_req rds_req_t;

/* What one kind of request does. Every hook runs on the command thread, without locks
 * (rds_stop may run deliver/destroy on its own thread when the command thread never ran). */
typedef struct rds_req_ops {
    /* Appends the request's commands to c's output buffer; returns how many replies they
     * produce (at most RDS_REQ_MAX_REPLIES), or -1 (out of memory: the pipeline is unusable).
     * Not called for q->local requests. */
    int (*append)(rds_t *r, redisContext *c, rds_req_t *q);
    /* Turns the n replies (n 0 for local requests) into the outcome: q->status, q->err and
     * the kind's result. The replies stay owned by the request machinery. */
    void (*decode)(rds_t *r, rds_req_t *q, redisReply **reps, int n);
    /* Hands the outcome (q->status 0 with the result, or a DG_* code with q->err) to the
     * caller's callback. Called exactly once per request that was queued. */
    void (*deliver)(rds_t *r, rds_req_t *q);
    /* Frees q and whatever of its result the callback did not take. */
    void (*destroy)(rds_req_t *q);
    int retry; /* 1: safe to send again after a lost connection (reads, idempotent writes) */
} rds_req_ops_t;

/* The common head of every request; a kind embeds it first. Private to the command thread
 * once rds_req_submit() returned 0. */
struct rds_req {
    rds_req_t *next;
    const rds_req_ops_t *ops;
    int64_t deadline; /* CLOCK_MONOTONIC ms; the request fails with DG_EIO then */
    int timeout_ms;
    int local;  /* answered without Redis (e.g. an empty range) */
    int status; /* outcome for deliver() */
    int done;   /* deliver() was called */
    int tries;  /* times sent */
    int nreps, got;
    redisReply *reps[RDS_REQ_MAX_REPLIES];
    char err[128];
};

struct rds {
    const cfg_t *cfg;
    bk_t *bk;
    int nstreams;
    rds_reader_t readers[CUR_MAX_STREAMS];
    const char *names[CUR_MAX_STREAMS + 1];
    route_table_t routes;      /* parsed cfg->routes; route i is stream index nqueues + 1 + i */
    char route_names[ROUTE_MAX][3 * ROUTE_KEY_MAX + 16];
    uint32_t route_streams;    /* stream indexes of routed streams */
    int nchannels;             /* routed channels: the channel thread runs when > 0 */
    pthread_t chan_thread;
    int chan_ok;
    rds_conn_t chan_conn;      /* the channel thread's SUBSCRIBE connection */
    int relay_on;              /* client rooms or relay_events: the channel thread reads relays */
    char relay_channel[CFG_NAME_MAX + 32]; /* "<prefix>:dualgate:relay" */
    _Atomic uint64_t relays_received, relays_malformed, relays_published;

    atomic_int stopping;
    int started, stopped;
    /* Readers on event loops (rds_use_loops): the loops to follow on, and the hand-over of a
     * connection between a reader's thread and its loop. */
    pthread_mutex_t follow_lock;
    pthread_cond_t follow_cond;
    el_group_t *loops; /* under follow_lock */
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;

    pthread_t cmd_thread;
    int cmd_ok;
    int wake_fd;                 /* eventfd: work queued, or stopping */
    atomic_int cmd_connected;    /* handshake done, connection up */
    atomic_int cmd_responsive;   /* ... and Redis answers (nothing owed longer than the timeout) */
    _Atomic int64_t ping_rtt_ms; /* last PING round trip, -1 before the first */

    pthread_mutex_t qlock;
    rds_logent_t logq[RDS_LOGQ_MAX];
    size_t logq_head, logq_n, logq_bytes;
    rds_req_t *req_head, *req_tail;
    int wake_pending; /* under qlock: wake_fd was written and not yet consumed */
    int req_closed;   /* under qlock: requests are refused (stop drained them) */
    int closed;       /* under qlock: logs are refused too (the command thread is gone) */
    atomic_int req_live;
    _Atomic uint64_t logs_published, logs_dropped;
};

/* rds_relay.c: one message of the relay channel (channel thread): published to its room. */
void rds_relay_message(rds_t *r, const char *s, size_t len);

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
/* Called first by every Redis thread: blocks SIGPIPE in it, so a write to a connection the
 * server (or rds_stop's shutdown) closed fails with EPIPE instead of killing the process;
 * hiredis writes with write(2), not send(MSG_NOSIGNAL). */
void rds_thread_init(void);
/* The next backoff after ms (0: the first), doubling up to RDS_BACKOFF_MAX_MS. */
int rds_backoff_next(int ms);
/* redis_timeout_ms and redis_ping_interval_ms, or their defaults for a cfg without them. */
int rds_timeout_ms(const rds_t *r);
int rds_ping_ms(const rds_t *r);

/* The commands that open every connection: AUTH (when configured), SELECT (db > 0), and,
 * with ping, PING. Returns how many were written to argc/argv (argv points into cfg and
 * into db, which must outlive their use). */
typedef struct rds_hello {
    int n;
    int argc[3];
    const char *argv[3][3];
    char db[16];
} rds_hello_t;
void rds_hello_build(const cfg_t *cfg, int ping, rds_hello_t *h);

/* Connects (blocking; connect and handshake bounded by redis_timeout_ms), publishes the context
 * in cn (so rds_stop can interrupt it), then AUTH, SELECT and PING, so the connection is known
 * to be answered. Later reads time out after read_timeout_ms. NULL with err filled on failure.
 * Thread: cn's owner. */
redisContext *rds_conn_open(rds_t *r, rds_conn_t *cn, int read_timeout_ms, char *err,
                            size_t errlen);
void rds_conn_close(rds_conn_t *cn);
/* Makes a blocked read on the connection return at once; the owner then sees the stop flag. */
void rds_conn_interrupt(rds_conn_t *cn);
/* Starts a non-blocking connect; the caller polls for POLLOUT and checks SO_ERROR. Data
 * unacknowledged for RDS_DEAD_FACTOR * redis_timeout_ms breaks the connection (a peer gone
 * from the network; a frozen Redis still acknowledges, so its connection stays). */
redisContext *rds_conn_start_nb(rds_t *r, char *err, size_t errlen);
/* Runs a command; NULL with err filled on I/O or error replies. */
redisReply *rds_run(redisContext *c, int argc, const char **argv, const size_t *lens, char *err,
                    size_t errlen);

int rds_reply_id(const redisReply *rep, cur_id_t *out);
/* Looks up name in an XINFO STREAM reply (a flat name/value array in RESP2). */
const redisReply *rds_info_get(const redisReply *info, const char *name);
int rds_is_no_such_key(const redisReply *rep);

/* ------------------------------------------------------------------------------------------ */
/* rds_reply.c: a reply's objects from one arena (the stream readers' XREADs)                 */
/* ------------------------------------------------------------------------------------------ */

/* hiredis reply functions that build ordinary redisReply trees in one arena per reply. Put in
 * a reader's fn while it reads XREADs; each such reply, and one the reader still holds when
 * the context is freed, goes with rds_reply_free (hiredis does it for the latter through fn),
 * never freeReplyObject. Thread: any (no shared state). */
redisReplyObjectFunctions *rds_reply_arena(void);
void rds_reply_free(void *reply);

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

/* Decodes one entry of stream into a message (*m, with job_id filled for job streams, and
 * for routed streams with the room: "all" for the template `all`). RDS_ENT_BAD leaves the
 * reason in err (never the payload). */
int rds_entry_decode(rds_t *r, int stream, cur_id_t id, const redisReply *fields, rds_fields_t *fb,
                     msg_t **m, char *job_id, char *err, size_t errlen);

/* ------------------------------------------------------------------------------------------ */
/* Threads, the request queue (rds_cmd.c)                                                     */
/* ------------------------------------------------------------------------------------------ */

void *rds_reader_main(void *arg); /* arg: rds_reader_t */
void *rds_chan_main(void *arg);   /* arg: rds_t; every routed channel (rds_chan.c) */

/* Health of reader rd: Redis answered (connected again, error cleared, *backoff 0), or it
 * failed with err (not connected, one more error). Thread: whichever thread reads for rd. */
void rds_reader_ok(rds_reader_t *rd, int *backoff);
void rds_reader_failed(rds_reader_t *rd, const char *err);

/* Adds the room prefix+name (copied) as room k of the batch's next step. */
void rds_batch_room(rds_batch_t *b, int k, const char *prefix, const char *name);
/* Publishes the batch's steps, drops their msgs and empties it; returns the deliveries. */
int rds_batch_send(rds_t *r, rds_batch_t *b);
void *rds_cmd_main(void *arg);    /* arg: rds_t */

/* Fills q's common head; timeout_ms > 0 sets the deadline when it is submitted. */
void rds_req_init(rds_req_t *q, const rds_req_ops_t *ops, int timeout_ms);
/* Hands q to the command thread: 0 (q is the thread's; deliver() will run exactly once),
 * DG_ECLOSED (not started, or stopping) or DG_ELIMIT (RDS_REQ_MAX pending); on an error q
 * is still the caller's to destroy and nothing is delivered. Never blocks. Thread: any. */
int rds_req_submit(rds_t *r, rds_req_t *q);
/* Wakes the command thread (work queued, or stopping). Thread: any. */
void rds_cmd_wake(rds_t *r);
/* Completes every request still queued with DG_ECLOSED and refuses new ones (rds_stop,
 * after the command thread is gone). */
void rds_cmd_close(rds_t *r);

/* A one-shot wait for a callback, for the blocking wrappers over the async API. */
typedef struct rds_waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
} rds_waiter_t;
void rds_waiter_init(rds_waiter_t *w);
/* From the callback; w must not be touched after it returns. */
void rds_waiter_wake(rds_waiter_t *w);
/* Blocks until woken, then releases w. */
void rds_waiter_wait(rds_waiter_t *w);

#endif
