/* conn.h - a long-lived client connection owned by one event loop (loop.h): a non-blocking
 * socket dualgate took over from CivetWeb (handoff.h), read and written only by its loop. Writes
 * are non-blocking sendmsg() of pre-encoded bytes: a transport's fill() hands over segments that
 * point into shared msgs (no copy), what the kernel does not take is kept in a private pending
 * buffer, EPOLLOUT resumes it, and each turn writes at most CN_TURN_BYTES before the connection
 * goes to the back of the loop's ready list, so one busy client cannot starve the others.
 * A connection that makes no write progress for write_timeout_ms is closed (a stalled client
 * costs its own queue, never another client's latency); so is one whose private pending output
 * passes pending_max. It is not a protocol: SSE and Socket.IO transports are built on it.
 *
 * Threads: everything is the loop thread's except cn_start, cn_ref/cn_unref, cn_wake and
 * cn_close_async, which any thread may call (the broker wakes connections, CivetWeb's workers
 * create them). Memory is refcounted: the loop holds one reference from cn_start until the
 * connection is closed (released after the current loop iteration, so events already fetched
 * for it find it closed, not freed); others take their own. */
#ifndef CONN_H
#define CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "list.h"
#include "loop.h"
#include "metrics.h"
#include "msg.h"

typedef struct cn cn_t;

/* Why a connection closed (counted per transport in /health). */
enum cn_reason {
    CN_CLOSE_NONE = 0,
    CN_CLOSE_PEER,       /* the client closed or reset the connection */
    CN_CLOSE_DONE,       /* the exchange ended normally (a poll answered, a close handshake) */
    CN_CLOSE_PROTOCOL,   /* the client broke the protocol */
    CN_CLOSE_TIMEOUT,    /* a protocol deadline passed (ping timeout, connect timeout, ...) */
    CN_CLOSE_HARD_LIMIT, /* output over the hard limit (messages or bytes queued) */
    CN_CLOSE_SOFT_LIMIT, /* output over the soft limit for longer than allowed */
    CN_CLOSE_STALL,      /* no write progress for write_timeout_ms */
    CN_CLOSE_ERROR,      /* socket error or out of memory */
    CN_CLOSE_SHUTDOWN,   /* the server is stopping */
    CN_REASON_COUNT
};

enum cn_kind { CN_KIND_SSE = 0, CN_KIND_WEBSOCKET, CN_KIND_POLLING, CN_KINDS };

/* snake_case names for /health keys and logs. */
const char *cn_reason_name(int reason);
const char *cn_kind_name(int kind);

#define CN_SHARDS 64 /* event loops that keep counters apart: io_threads at most */

/* One loop's counters: only that loop's thread writes them (no cache line shared between
 * loops on the hot path); readers sum the shards (cn_env_totals). Thread: any (atomics). */
typedef struct cn_stats {
    _Alignas(64) _Atomic int64_t open[CN_KINDS];
    _Atomic uint64_t opened[CN_KINDS];
    _Atomic uint64_t closed[CN_KINDS][CN_REASON_COUNT];
    _Atomic uint64_t bytes[CN_KINDS];      /* bytes handed to the kernel */
    _Atomic uint64_t deliveries[CN_KINDS]; /* events (msgs with a stream id) written */
    mt_hist_t latency[CN_KINDS];           /* Redis entry id time -> bytes written */
} cn_stats_t;

/* The sum of every shard. */
typedef struct cn_totals {
    int64_t open[CN_KINDS];
    uint64_t opened[CN_KINDS];
    uint64_t closed[CN_KINDS][CN_REASON_COUNT];
    uint64_t bytes[CN_KINDS];
    uint64_t deliveries[CN_KINDS];
} cn_totals_t;

/* Settings and the registry shared by the connections of a server; must outlive them. */
typedef struct cn_env {
    int64_t write_timeout_ms; /* public: no write progress this long: CN_CLOSE_STALL */
    int64_t linger_ms;        /* public: after a graceful close, wait this long for the FIN */
    size_t pending_max;       /* public: private pending bytes above this: CN_CLOSE_HARD_LIMIT */
    /* public: cn_unsent() reads the kernel's unsent bytes again after this many are written
     * (a slow client's autotuned send buffer takes MBs off the transport's queue, and its soft
     * limit must see them); 0: never read, cn_unsent() is cn_pending(). */
    size_t unsent_every;
    cn_stats_t stats[CN_SHARDS]; /* read-only: shard i is loop i's (el_index) */
    /* private: every open connection, for closing them all at shutdown */
    pthread_mutex_t lock;
    pthread_cond_t idle;
    list_t all;
    int nopen;
} cn_env_t;

/* Prepares env (settings zeroed: set them after). Thread: main. */
void cn_env_init(cn_env_t *env);
/* Sums the shards into out. Thread: any. */
void cn_env_totals(const cn_env_t *env, cn_totals_t *out);
void cn_env_destroy(cn_env_t *env);
/* Asks every open connection of kind (or every kind, for -1) to close for reason; graceful
 * reasons flush what is queued first. Thread: any. */
void cn_env_close_all(cn_env_t *env, int kind, int reason);
/* Drains every open connection of kind: each is ended (ops->drain) at its own random moment
 * within window_ms, so clients reconnect as a ramp, not all at once. Thread: any. */
void cn_env_drain(cn_env_t *env, int kind, int64_t window_ms);
/* Waits until no connection is open or deadline_ms (el_now_ms clock) passes. Returns the
 * number still open. Thread: any but a loop's. */
int cn_env_wait_idle(cn_env_t *env, int64_t deadline_ms);

#define CN_TURN_BYTES (64 * 1024) /* written per connection per turn */
#define CN_IOV_MAX 64             /* segments per sendmsg() */

/* What a transport's fill() adds output to. Segments point into msgs (a reference each, dropped
 * once written or copied) or into a per-loop-thread scratch area (private bytes: SSE id lines,
 * HTTP heads). Fields are private; use the functions below. */
typedef struct cn_out {
    struct iovec iov[CN_IOV_MAX];
    msg_t *msg[CN_IOV_MAX];
    int n;
    size_t bytes;
    size_t budget;
    char *scratch;
    size_t scratch_len, scratch_cap;
} cn_out_t;

/* Adds len bytes at p, which lie inside m; takes a reference on m. Returns 0, or DG_ELIMIT
 * when every segment is used. The budget is advice: check cn_out_full() before taking more
 * messages off a queue; what was taken can always be added while segments remain. */
int cn_out_msg(cn_out_t *o, msg_t *m, const void *p, size_t len);
/* Adds a private copy of p[0..len). Returns 0 or DG_ELIMIT (segments or scratch full). */
int cn_out_copy(cn_out_t *o, const void *p, size_t len);
/* Room for up to want private bytes at the returned pointer (NULL: stop filling); then
 * cn_out_commit() the number actually written (<= want). */
char *cn_out_room(cn_out_t *o, size_t want);
void cn_out_commit(cn_out_t *o, size_t n);
/* 1 when the budget is spent or the segments are full. */
int cn_out_full(const cn_out_t *o);
/* Segments still free. */
int cn_out_free_segments(const cn_out_t *o);

/* A transport: callbacks run on the connection's loop thread. */
typedef struct cn_ops {
    int kind; /* enum cn_kind, for the counters */
    /* On the loop and watched: queue the first bytes, join rooms. Return 0, or a reason to close. */
    int (*open)(cn_t *c);
    /* Bytes arrived (valid during the call only). Return 0, or a reason to close. */
    int (*read)(cn_t *c, const char *data, size_t len);
    /* The socket can take more: add up to o->budget bytes of queued output. Return 1 when more
     * remains queued after what was added, 0 when the transport's queue is empty. */
    int (*fill)(cn_t *c, cn_out_t *o);
    /* Closed (socket gone, no more callbacks but free): leave rooms, drop references. */
    void (*close)(cn_t *c, int reason);
    /* The last reference is going: destroy what the transport data holds (locks). Optional. */
    void (*free)(cn_t *c);
    /* The server drains: end this connection the transport's way (SSE: a jittered retry:, then
     * the end). Optional: without it the connection finishes with CN_CLOSE_SHUTDOWN. */
    void (*drain)(cn_t *c);
} cn_ops_t;

/* A connection for fd (non-blocking, now ours) on loop l, with data_size zeroed bytes of
 * transport data (cn_data). One reference for the caller, handed to the loop by cn_start.
 * NULL on ENOMEM (fd untouched). Thread: any. */
cn_t *cn_new(el_t *l, int fd, const cn_ops_t *ops, cn_env_t *env, size_t data_size);
/* Hands c to its loop (the caller's reference becomes the loop's): watched from the next
 * iteration, then ops->open. If the loop has stopped, the fd is closed and c freed without any
 * callback but free. Thread: any. */
void cn_start(cn_t *c);

void cn_ref(cn_t *c);
void cn_unref(cn_t *c);

void *cn_data(cn_t *c);
el_t *cn_loop(const cn_t *c);
int cn_fd(const cn_t *c); /* -1 once closed */

/* Counts m as delivered on c (events only: msgs with a stream id) and observes its latency
 * from the Redis entry id's time. Connections do it themselves for every msg segment they
 * write; a transport that copies msgs into private bytes (a polling answer) calls it. */
void cn_delivered(cn_t *c, const msg_t *m);

/* Asks for a write turn (fill() will be called). Thread: any. */
void cn_wake(cn_t *c);
/* Asks the loop to close c for reason (a hard limit seen by the broker, shutdown). The first
 * reason wins; a graceful reason (DONE, TIMEOUT, PROTOCOL, SHUTDOWN) flushes what is queued
 * first, as cn_finish. Thread: any. */
void cn_close_async(cn_t *c, int reason);

/* Queues private bytes (copied) ahead of any further fill(). Returns 0, DG_ECLOSED, or
 * DG_ELIMIT/DG_ENOMEM (then c is being closed). Thread: loop. */
int cn_write(cn_t *c, const void *p, size_t len);
/* Writes what is queued (no more fill()), then closes gracefully for reason: FIN, then up to
 * linger_ms for the client's FIN. Thread: loop. */
void cn_finish(cn_t *c, int reason);
/* Closes now. Reasons HARD_LIMIT, SOFT_LIMIT, STALL and ERROR reset the connection (nothing more
 * is written, the kernel drops what it holds); the others close normally. Thread: loop. */
void cn_close(cn_t *c, int reason);

/* 0 while open, else the close reason. */
int cn_closed(const cn_t *c);
/* 1 once cn_finish was called. */
int cn_finishing(const cn_t *c);
/* Private bytes queued and not yet taken by the kernel. Thread: loop. */
size_t cn_pending(const cn_t *c);
/* Bytes written to c but not sent yet: cn_pending() plus what the kernel holds unsent
 * (SIOCOUTQNSD, bytes in flight to the peer not counted) at its last reading (see unsent_every).
 * For a transport's soft output limit; after the kernel took more than unsent_every, c gets one
 * more fill() even with nothing queued, so the limit sees the bytes then. Thread: loop. */
size_t cn_unsent(cn_t *c);
/* el_now_ms() of the last write that moved bytes (or of the start). Thread: loop. */
int64_t cn_last_write_ms(const cn_t *c);

#endif
