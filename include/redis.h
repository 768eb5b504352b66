/* redis.h - the only module that talks to Redis (hiredis stays behind this header).
 * One reader thread per stream (each BullMQ queue's "<prefix>:<queue>:events" and the log
 * stream) follows it with blocking XREAD, decodes entries and publishes them to the broker.
 * One command thread serves everything else through one request queue, pipelined: log XADDs
 * (fire and forget, bounded), replays, stream info, key/value session state, job state.
 * Stream index i < nqueues is queue i; index nqueues is the log stream; then one index per
 * route of the `routes` key (route.h), in configured order: a routed stream has its own reader
 * thread like a queue (resumable: cursors and replays work as for job streams), and one more
 * thread SUBSCRIBEs to every routed channel on its own connection (fire and forget: a channel
 * message gets a local id, later than the route's previous one, so cursors stay ordered, but
 * it cannot be replayed). Each entry or message becomes a MSG_ROUTE msg with the route's event
 * and the payload JSON, published to the room its template names ("all" for `all`); a
 * malformed one (not JSON, template value missing) is logged without its payload, counted
 * and skipped, and a routed stream's position still moves past it.
 *
 * Asynchronous requests (rds_*_async) never block the caller. Each returns 0 when queued;
 * then its callback runs EXACTLY once, on the command thread, with status 0 and the result,
 * or DG_EIO (Redis down, an error reply, or timeout_ms passed: the deadline holds even if
 * Redis never answers), DG_ENOMEM, DG_ECLOSED (rds_stop completes every pending request so
 * before it returns) and a short err text. When a request cannot be queued the function
 * returns DG_EINVAL, DG_ENOMEM, DG_ECLOSED (not started, or stopping) or DG_ELIMIT (65536
 * requests pending) and never calls back. Callbacks must not block (post to your own loop),
 * must not call rds_stop/rds_free or a blocking rds_* function, and may queue new requests;
 * what they log goes to stderr only (the command thread never feeds the log stream).
 * Requests reach Redis in the order they were queued; one answered without Redis (an empty
 * range) may be called back before earlier ones. Pointers handed to a callback are valid
 * only during it unless said otherwise. */
#ifndef REDIS_H
#define REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "config.h"
#include "cursor.h"
#include "decode.h"
#include "loop.h"
#include "msg.h"
#include "route.h"

typedef struct rds rds_t;

/* cfg and broker must outlive the rds. NULL on ENOMEM. Thread: main. */
rds_t *rds_new(const cfg_t *cfg, bk_t *broker);
/* Starts the reader threads and the command thread (they connect, and reconnect with capped
 * backoff, on their own). Returns 0 or DG_ENOMEM. Thread: main. */
int rds_start(rds_t *r);
/* Stops and joins every thread (blocked XREADs are interrupted). Every request still pending
 * is called back with DG_ECLOSED before it returns (a frozen Redis cannot delay that; queued
 * logs get at most 1 s to reach Redis). Thread: main, never from a callback. */
void rds_stop(rds_t *r);
void rds_free(rds_t *r);

/* With g, every stream reader follows its stream from event loop i mod n of g from its next
 * read on: the XREAD replies are read, decoded and published on that loop, so an event reaches
 * that loop's subscribers with no thread hop. A reader's own thread still connects, reconnects
 * and backs off, and takes the connection back when it fails. With g NULL, the readers leave
 * their loops (each reconnects in its thread) and the call returns once none is on a loop.
 * g must keep running until the readers have left it, by this call or by rds_stop.
 * Thread: main, after rds_start. */
void rds_use_loops(rds_t *r, el_group_t *g);

/* 1 once every reader has connected at least once and while the command connection is up and
 * Redis answers on it (nothing owed longer than redis_timeout_ms): what /ready reports. A
 * frozen Redis (sockets open, no answers) makes it 0 within redis_timeout_ms, and 1 again
 * as soon as Redis answers. Thread: any. */
int rds_ready(rds_t *r);

/* Queues a log entry (a normalized {ts,level,ns,msg} JSON object) for XADD to the log stream
 * with MAXLEN ~ log_stream_maxlen. Never blocks, never logs; json is copied. Returns 0, or
 * DG_ELIMIT when the queue (4096 entries / 4 MiB) is full or json is over DEC_LOG_MAX,
 * DG_ENOMEM, DG_ECLOSED after rds_stop (each drop is counted). Thread: any. */
int rds_publish_log(rds_t *r, int level, const char *ns, const char *json, size_t len);

/* ---- Relayed client events (relay.h), to every instance --------------------------------- */

/* PUBLISHes {room, event, origin, data} on the relay channel "<prefix>:dualgate:relay", which
 * the channel thread of every instance on this Redis SUBSCRIBEs to (when client_rooms or
 * relay_events is set) and publishes to the broker as a MSG_RELAY msg: EVENT event(data) to
 * room's members except the session whose sid is origin. data: one JSON value (copied, at most
 * ROUTE_PAYLOAD_MAX bytes). Fire and forget: never blocks, nothing is called back, lost while
 * Redis is down. Returns 0 when queued, DG_EINVAL (empty or overlong room, event or origin;
 * relay off), DG_ENOMEM, DG_ECLOSED, DG_ELIMIT. Thread: any. */
int rds_relay_publish(rds_t *r, const char *room, const char *event, const char *origin,
                      const char *data, size_t len);

/* One decoded entry of a replay. */
typedef struct rds_item {
    msg_t *msg;                 /* owned reference */
    char job_id[DEC_JOBID_MAX]; /* "" for log entries; a routed stream's entries: their room
                                   ("all" for the template `all`), so a replay can keep one room */
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
 * entries are skipped but advance last; a routed channel has nothing to replay: DG_EINVAL
 * like no such stream). Blocks the caller until the command thread answers
 * or timeout_ms passes (rds_range_async and a wait). Returns 0, DG_EIO (Redis down, timeout,
 * stopped; errstr says), DG_ENOMEM or DG_EINVAL (no such stream, or called on the command
 * thread). gap may report a trimmed `after` even when nothing beyond it was trimmed (Redis
 * cannot tell). Thread: any but the command thread; never on an event loop. */
int rds_range(rds_t *r, int stream, cur_id_t after, cur_id_t upto, int count, int timeout_ms,
              rds_range_t *out, char *errstr, size_t errlen);
void rds_range_free(rds_range_t *out);

/* res (status 0 only, else NULL): the callback owns res's items and msgs and must release
 * them with rds_range_free(res) before it returns, or copy *res (the struct itself is the
 * command thread's) and rds_range_free the copy later. Thread: the command thread. */
typedef void (*rds_range_cb)(void *ud, int status, rds_range_t *res, const char *err);

/* rds_range without blocking: the same range, decoding, gap and errors, delivered to cb (see
 * the async contract at the top). An empty interval (after >= upto) is answered with an empty
 * range without asking Redis. DG_EINVAL: no such stream, timeout_ms <= 0 or cb NULL.
 * Thread: any. */
int rds_range_async(rds_t *r, int stream, cur_id_t after, cur_id_t upto, int count,
                    int timeout_ms, rds_range_cb cb, void *ud);

/* ---- Key/value state with a TTL (Socket.IO connection-state recovery) ------------------- */

#define RDS_KV_KEY_MAX 1024        /* key bytes */
#define RDS_KV_VALUE_MAX (1u << 20) /* value bytes */

/* val/len: the value for a GET (binary-safe, NUL-terminated for convenience), NULL/0 else;
 * valid during the callback. Thread: the command thread. */
typedef void (*rds_value_cb)(void *ud, int status, const char *val, size_t len, const char *err);

/* SET key val [PX ttl_ms]: ttl_ms > 0 expires the key after that long, 0 keeps it. key (a C
 * string) and val (binary-safe) are copied. Status 0 once Redis stored it. cb may be NULL (nothing is called back).
 * DG_EINVAL: key empty or over RDS_KV_KEY_MAX, val NULL with len > 0, len over
 * RDS_KV_VALUE_MAX, ttl_ms < 0, timeout_ms <= 0. Thread: any. */
int rds_kv_set_async(rds_t *r, const char *key, const char *val, size_t len, int64_t ttl_ms,
                     int timeout_ms, rds_value_cb cb, void *ud);
/* GET key: status 0 with the value, DG_ENOTFOUND when the key does not exist (or expired).
 * A key holding another type is DG_EIO (WRONGTYPE). Thread: any. */
int rds_kv_get_async(rds_t *r, const char *key, int timeout_ms, rds_value_cb cb, void *ud);
/* DEL key: status 0 when a key was removed, DG_ENOTFOUND when there was none. cb may be NULL.
 * Thread: any. */
int rds_kv_del_async(rds_t *r, const char *key, int timeout_ms, rds_value_cb cb, void *ud);

/* ---- A job's current state, from BullMQ's own keys (late subscribers) ------------------- */

/* json/len: the payload of a `state` event (status 0 only), valid during the callback:
 *   {"queue","jobId","state","name","progress","returnvalue"|"failedReason","timestamp",
 *    "processedOn","finishedOn","attemptsMade","delay","priority"}
 * state is what BullMQ's Job.getState() says: "completed", "failed", "delayed",
 * "prioritized", "active", "waiting" (also a paused queue's), "waiting-children", or
 * "unknown" (no such job: never added, or removed; then only queue, jobId and state).
 * progress and returnvalue are the parsed JSON BullMQ stored (progress 0 until first set,
 * returnvalue only for completed jobs), failedReason the plain text of the last failure (for
 * failed jobs and for retried ones), numbers are numbers, members absent from the job hash
 * are left out. owner: see rds_job_state_async, NULL when absent; valid during the callback.
 * On an error json and owner are NULL. Thread: the command thread. */
typedef void (*rds_job_cb)(void *ud, int status, const char *json, size_t len,
                           const char *owner, const char *err);

/* Reads job job_id of queue (index into cfg->queues) in one MULTI/EXEC: the hash
 * <prefix>:<queue>:<id> and the lists/zsets wait, paused, active, completed, failed, delayed,
 * prioritized, waiting-children beside it (LPOS: Redis >= 6.0.6, as BullMQ itself uses).
 * owner_field (NULL for none): the top-level member of the job's `data` JSON handed to cb as
 * owner, a string as it is, a number formatted (42 -> "42", 1.5 -> "1.5"); NULL when data
 * lacks it or it is another type. A removed job is status 0 with state "unknown". Async
 * contract at the top; DG_EINVAL: queue out of range, job_id empty, 256 bytes or longer or
 * not UTF-8, owner_field empty or over 256 bytes, timeout_ms <= 0, cb NULL. Thread: any. */
int rds_job_state_async(rds_t *r, int queue, const char *job_id, const char *owner_field,
                        int timeout_ms, rds_job_cb cb, void *ud);

/* owner_field RDS_JOB_DATA: owner is the job's whole `data` JSON text (what acl_allows' owner
 * terms read), NULL when the job has none. */
#define RDS_JOB_DATA "*"

/* The job's data (RDS_JOB_DATA) of queue, blocking until Redis answers or timeout_ms: 0 with
 * *data malloc'd (the caller frees it) or NULL when the job or its data does not exist;
 * DG_EIO (Redis down, timeout), DG_ENOMEM, DG_EINVAL (bad arguments, or on the command thread).
 * Thread: any but the command thread; never on an event loop (CivetWeb workers). */
int rds_job_data(rds_t *r, int queue, const char *job_id, int timeout_ms, char **data);

/* Health of one stream. */
typedef struct rds_stream_health {
    char key[CFG_STR_MAX];
    int connected;          /* reader connected and its last read answered */
    cur_id_t last_id;       /* last id the reader read */
    uint64_t entries;       /* entries read since start */
    uint64_t published;     /* messages published to the broker */
    uint64_t skipped;       /* entries without jobId / events not forwarded */
    uint64_t malformed;     /* entries logged and skipped */
    uint64_t reconnects;
    uint64_t errors;        /* failed connects, lost connections, error replies (WRONGTYPE) */
    char error[128];        /* why the stream is not read now; "" while it is */
    int64_t lag_ms;         /* last-generated-id.ms - last_id.ms, -1 if unknown */
} rds_stream_health_t;

/* Health of one route (what /health lists under routes). */
typedef struct rds_route_health {
    int kind;                    /* ROUTE_STREAM or ROUTE_CHANNEL */
    char key[ROUTE_KEY_MAX];     /* stream key or channel name */
    char event[ROUTE_EVENT_MAX];
    char room[ROUTE_ROOM_MAX];   /* the template */
    int stream;                  /* its stream index */
    int connected;               /* stream: as its reader; channel: subscribed on a live connection */
    uint64_t received;           /* entries / messages read */
    uint64_t published;          /* messages published to the broker */
    uint64_t delivered;          /* deliveries to subscribers those publishes made */
    uint64_t malformed;          /* logged and skipped */
} rds_route_health_t;

typedef struct rds_health {
    int connected;          /* every reader and the command connection up, and Redis answering */
    int responsive;         /* Redis answers the command connection (PING every
                               redis_ping_interval_ms; nothing owed longer than redis_timeout_ms) */
    int64_t ping_rtt_ms;    /* last PING round trip, -1 before the first */
    int ready;
    int nstreams;
    rds_stream_health_t streams[CUR_MAX_STREAMS]; /* routed channels: lag_ms -1, last_id local */
    uint64_t logs_published; /* log entries XADDed */
    uint64_t logs_dropped;   /* log entries dropped (queue full, Redis down) */
    uint64_t relays_published, relays_received, relays_malformed; /* client events relayed
                                                                     through Redis */
    int nroutes;
    rds_route_health_t routes[ROUTE_MAX];
} rds_health_t;

/* Fills h; lag needs the command connection (waits at most timeout_ms, and not at all while
 * Redis is known not to answer; lag -1 then). Thread: any but the command thread. */
void rds_get_health(rds_t *r, rds_health_t *h, int timeout_ms);

/* Stream names for cursors, NULL-terminated: queue names, "logs" for the log stream, then
 * "stream/KEY" and "channel/NAME" for routes (':' and '%' in keys percent-escaped, since a
 * cursor separates names from ids with ':'). Thread: any. */
const char *const *rds_stream_names(rds_t *r);

/* How many stream indexes there are (queues, the log stream, routes): every cursor's n.
 * Thread: any. */
int rds_nstreams(const rds_t *r);

/* Bit mask of the stream indexes of routed streams (not channels): what a stream of routed
 * rooms follows and may replay. Thread: any. */
uint32_t rds_route_streams(const rds_t *r);

/* The route table the readers follow (parsed from cfg->routes at rds_new); valid until
 * rds_free. Thread: any. */
const route_table_t *rds_routes(const rds_t *r);

#endif
