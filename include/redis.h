/* redis.h - the only module that talks to Redis (hiredis stays behind this header).
 * One reader thread per stream (each BullMQ queue's "<prefix>:<queue>:events" and the log
 * stream) follows it with blocking XREAD, decodes entries and publishes them to the broker.
 * One command thread serves everything else through a request queue: log XADDs (fire and
 * forget, bounded), replay XRANGEs and stream info (the caller waits for the answer).
 * Stream index i < nqueues is queue i; index nqueues is the log stream. */
#ifndef REDIS_H
#define REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "config.h"
#include "cursor.h"
#include "decode.h"
#include "msg.h"

typedef struct rds rds_t;

/* cfg and broker must outlive the rds. NULL on ENOMEM. Thread: main. */
rds_t *rds_new(const cfg_t *cfg, bk_t *broker);
/* Starts the reader threads and the command thread (they connect, and reconnect with capped
 * backoff, on their own). Returns 0 or DG_ENOMEM. Thread: main. */
int rds_start(rds_t *r);
/* Stops and joins every thread (blocked XREADs are interrupted). Thread: main. */
void rds_stop(rds_t *r);
void rds_free(rds_t *r);

/* 1 once every reader has connected at least once (what /ready reports). Thread: any. */
int rds_ready(rds_t *r);

/* Queues a log entry (a normalized {ts,level,ns,msg} JSON object) for XADD to the log stream
 * with MAXLEN ~ log_stream_maxlen. Never blocks, never logs; json is copied. Returns 0, or
 * DG_ELIMIT when the queue (4096 entries / 4 MiB) is full or json is over DEC_LOG_MAX,
 * DG_ENOMEM, DG_ECLOSED after rds_stop (each drop is counted). Thread: any. */
int rds_publish_log(rds_t *r, int level, const char *ns, const char *json, size_t len);

/* One decoded entry of a replay. */
typedef struct rds_item {
    msg_t *msg;                 /* owned reference */
    char job_id[DEC_JOBID_MAX]; /* "" for log entries */
} rds_item_t;

typedef struct rds_range {
    rds_item_t *items; /* malloc'd; rds_range_free() releases items and msgs */
    int n;
    cur_id_t last;     /* id of the last entry read (also when skipped); where to continue */
    int more;          /* 1 if (last, upto] may hold more entries */
    int gap;           /* 1 if entries after `after` were trimmed or deleted before this read */
} rds_range_t;

/* Reads up to count (1..10000) entries of stream with ids in (after, upto], decoded like live
 * ones on the command thread (entries without a jobId, events not forwarded and malformed
 * entries are skipped but advance last). Blocks the caller until the command thread answers
 * or timeout_ms passes. Returns 0, DG_EIO (Redis down or timeout; errstr says), DG_ENOMEM or
 * DG_EINVAL (no such stream). gap may report a trimmed `after` even when nothing beyond it
 * was trimmed (Redis cannot tell). Thread: any but a reader's or the command thread. */
int rds_range(rds_t *r, int stream, cur_id_t after, cur_id_t upto, int count, int timeout_ms,
              rds_range_t *out, char *errstr, size_t errlen);
void rds_range_free(rds_range_t *out);

/* Health of one stream. */
typedef struct rds_stream_health {
    char key[CFG_STR_MAX];
    int connected;          /* reader connected now */
    cur_id_t last_id;       /* last id the reader read */
    uint64_t entries;       /* entries read since start */
    uint64_t published;     /* messages published to the broker */
    uint64_t skipped;       /* entries without jobId / events not forwarded */
    uint64_t malformed;     /* entries logged and skipped */
    uint64_t reconnects;
    int64_t lag_ms;         /* last-generated-id.ms - last_id.ms, -1 if unknown */
} rds_stream_health_t;

typedef struct rds_health {
    int connected;          /* every reader and the command connection up */
    int ready;
    int nstreams;
    rds_stream_health_t streams[CFG_MAX_QUEUES + 1];
    uint64_t logs_published; /* log entries XADDed */
    uint64_t logs_dropped;   /* log entries dropped (queue full, Redis down) */
} rds_health_t;

/* Fills h; lag needs the command connection (waits at most timeout_ms, -1 lag otherwise).
 * Thread: any but a reader's or the command thread. */
void rds_get_health(rds_t *r, rds_health_t *h, int timeout_ms);

/* Stream names for cursors: queue names, and "logs" for the log stream. */
const char *const *rds_stream_names(rds_t *r);

#endif
