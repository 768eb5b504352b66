/* replay.h - replays, from Redis, what a resuming client missed: for each stream it follows, the
 * entries in (from, upto] (upto: the broker position when it joined, so live events carry on
 * exactly after), fetched in chunks of a few dozen entries only as the client drains (never
 * the whole backlog in memory: a storm of resuming clients costs chunks, not streams), merged
 * across streams in stream-id order, filtered to the client's job or filter. What cannot be
 * delivered is reported as a gap (trimmed away, Redis unavailable), never dropped silently.
 * It does no socket I/O: the transport pulls items with rp_next() and writes them.
 *
 * Threads: a replay belongs to one event loop; every function runs on that loop's thread.
 * Redis answers come back from the command thread as tasks posted to the loop. */
#ifndef REPLAY_H
#define REPLAY_H

#include <stdatomic.h>
#include <stdint.h>

#include "broker.h"
#include "cursor.h"
#include "loop.h"
#include "msg.h"
#include "redis.h"

typedef struct rp rp_t;

typedef struct rp_spec {
    rds_t *rds;
    el_t *loop;
    int nstreams;
    const char *const *names; /* stream names, for gap events */
    uint32_t follow;          /* streams to replay: those with from < upto */
    cur_t from, upto;
    /* 1 when the client wants it (its job, its rooms' filters); called on the loop thread */
    int (*keep)(void *ud, const rds_item_t *it);
    int chunk;                /* entries per Redis read */
    int timeout_ms;           /* per Redis read */
    void (*wake)(void *ud);   /* a chunk arrived: rp_next() has more to say */
    void *ud;
    struct rp_stats *stats;   /* shared counters, or NULL */
} rp_spec_t;

/* Counters shared by the replays of a server. Thread: any (atomics). */
typedef struct rp_stats {
    _Atomic uint64_t started, chunks, gaps, items;
    _Atomic uint64_t gaps_trimmed, gaps_unavailable; /* gaps by reason (trimmed, redis_unavailable) */
    atomic_int active;
} rp_stats_t;

/* Starts fetching the first chunk of every stream in spec->follow. NULL on ENOMEM. */
rp_t *rp_new(const rp_spec_t *spec);

enum rp_next_result {
    RP_ITEM = 0, /* *m is the next event (the caller owns the reference) */
    RP_GAP,      /* *gap is a gap event's JSON {"reason":...,"streams":[...]}, valid until the next call */
    RP_WAIT,     /* a chunk is being fetched: wake() is called when rp_next() can go on */
    RP_DONE      /* every stream replayed up to upto */
};
/* The next thing to send. A gap of trimmed entries comes before any item. */
int rp_next(rp_t *r, msg_t **m, const char **gap);

/* Frees the replay; requests still in flight are discarded when they come back. */
void rp_free(rp_t *r);

#endif
