/* sse_stream.h - one Server-Sent-Events stream on an event loop, once CivetWeb has parsed the
 * request and dualgate took the socket over: the response head, `retry:`, a resume replayed from
 * Redis in chunks (replay.h) up to the broker position taken when it joined its room, or, for a
 * job stream without a cursor, the job's `state` events (catchup.h, with the join position as
 * their id), then live events from the broker, each with the stream's cursor as its `id:`, heartbeats, and the
 * output limits (hard: queue_max_msgs / queue_max_bytes; soft: queue_soft_bytes for
 * queue_soft_ms; the connection's write-stall deadline). It is not the request parser: the
 * CivetWeb handler (sse_http.c) fills an sst_req_t.
 *
 * Threads: sst_start from a CivetWeb worker; the stream lives on its loop; the broker delivers
 * from reader threads (lock order: broker -> stream). */
#ifndef SSE_STREAM_H
#define SSE_STREAM_H

#include <stdatomic.h>
#include <stdint.h>

#include "admit.h"
#include "broker.h"
#include "config.h"
#include "conn.h"
#include "cursor.h"
#include "decode.h"
#include "redis.h"
#include "replay.h"

/* Counters shared by every stream of a server. Thread: any (atomics). */
typedef struct sst_stats {
    _Atomic uint64_t dropped;      /* events dropped with closed slow clients */
    _Atomic uint64_t slow_closed;  /* closed by an output limit or a write stall */
    _Atomic uint64_t resumes;      /* streams that resumed from a cursor */
    _Atomic uint64_t invalid_cursors; /* resumes whose cursor did not parse */
} sst_stats_t;

/* What every stream of a server shares; must outlive the streams. */
typedef struct sst_env {
    const cfg_t *cfg;
    bk_t *bk;
    rds_t *rds;
    adm_t *adm;            /* the stream holds one ADM_SSE admission, released when it closes */
    cn_env_t *cn;
    const char *const *names; /* stream names (queues, then "logs") */
    int nstreams;
    sst_stats_t *stats;
    rp_stats_t *rp_stats;
    struct auth_stats *auth_stats; /* expired_closed counted here; NULL for none */
} sst_env_t;

#define SST_ROOM_MAX (DEC_JOBID_MAX + 16)
#define SST_HEADERS_MAX 512

/* One request, as the CivetWeb handler parsed it. */
typedef struct sst_req {
    char room[SST_ROOM_MAX];
    char job_id[DEC_JOBID_MAX]; /* job streams: replay keeps this job's entries only (routed
                                 * rooms: the room's) */
    int job_stream;             /* /sse/jobs/:id: without a cursor, the job's state is sent
                                 * first (job_id UTF-8: catchup.h) */
    uint32_t follow;            /* stream bits the room carries */
    bk_filter_t filter;
    int resume;                 /* the client sent a cursor */
    int cursor_ok;              /* ... and it parsed */
    cur_t from;
    char headers[SST_HEADERS_MAX]; /* extra response header lines (CORS), each ending in CRLF */
    /* the token's deadlines (auth.h), seconds since the epoch, 0: none: token_expiring_soon
     * {expiresIn} at warn_at, the end of the stream at close_at (after what was queued) */
    long long warn_at, close_at, exp;
} sst_req_t;

/* Starts a stream on loop l for fd (taken over, non-blocking) holding one ADM_SSE admission:
 * from here the loop owns fd and the admission. Returns 0, or DG_ENOMEM (fd closed, admission
 * released). Thread: any. */
int sst_start(const sst_env_t *env, el_t *l, int fd, const sst_req_t *req);

#endif
