/* expo.h - dualgate's GET /metrics answer: gathers the counters the modules keep (connections,
 * admission, the accept gate, SSE and Socket.IO, replays, the Redis readers, the log stream, the
 * process) and renders the families listed in metrics.h through its writer. No HTTP and no
 * state of its own: the caller sends the bytes; every number is read when the answer is made. */
#ifndef EXPO_H
#define EXPO_H

#include <stddef.h>

#include "admit.h"
#include "buf.h"
#include "conn.h"
#include "gate.h"
#include "redis.h"
#include "replay.h"
#include "sio_http.h"
#include "sse_stream.h"

/* Where the counters are; all must outlive the call. gate and sio may be NULL (not started). */
typedef struct ex_sources {
    const cn_env_t *cn;
    adm_t *adm;
    gt_t *gate;
    const sst_stats_t *sse;
    const rp_stats_t *rp;
    sio_t *sio;
    rds_t *rds;
    int redis_timeout_ms; /* how long the stream lags may take to fetch (rds_get_health) */
} ex_sources_t;

/* Appends one complete /metrics answer (Content-Type MT_CONTENT_TYPE) to out. Returns 0, or the
 * writer's error (DG_ENOMEM; DG_EINVAL would be a bug here) with errstr; out then holds a
 * partial answer that must not be served. Blocks up to redis_timeout_ms for the lags.
 * Thread: any but a loop's or a Redis thread's. */
int ex_render(const ex_sources_t *src, buf_t *out, char *errstr, size_t errlen);

#endif
