/* outq.h - a connection's bounded outbound queue of shared msgs, with the two output limits of
 * Redis's client-output-buffer-limit: a hard limit (max_msgs / max_bytes: a push over it fails,
 * the owner closes the connection at once) and a soft limit (more than soft_bytes queued for
 * longer than soft_ms: oq_soft_check says when that is the case).
 * Not thread-safe: the owning connection's lock guards it. The ring is allocated on first use
 * (8 slots), doubles under backlog up to max_msgs and shrinks back via oq_shrink(); bytes counts
 * the queued payload. */
#ifndef OUTQ_H
#define OUTQ_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

typedef struct oq_item {
    msg_t *m;
    uint32_t size;
} oq_item_t;

typedef struct oq {
    oq_item_t *ring;   /* private */
    uint32_t cap;      /* private */
    uint32_t head;     /* private */
    uint32_t len;      /* read-only: queued messages */
    size_t bytes;      /* read-only: queued payload bytes */
    uint32_t max_msgs; /* public: hard limit on messages */
    size_t max_bytes;  /* public: hard limit on bytes */
    size_t soft_bytes; /* public: soft limit on bytes, 0 = none */
    int64_t soft_ms;   /* public: how long the soft limit may be exceeded */
    int64_t soft_since; /* private: when bytes went over soft_bytes, 0 when under */
} oq_t;

/* An empty queue with hard limits and no soft limit. */
void oq_init(oq_t *q, uint32_t max_msgs, size_t max_bytes);
/* Sets the soft limit: more than bytes queued for ms milliseconds. */
void oq_set_soft(oq_t *q, size_t bytes, int64_t ms);

enum { OQ_UNDER = 0, OQ_SOFT_OVER = 1, OQ_SOFT_EXPIRED = 2 };
/* Checks the soft limit against q->bytes + extra (bytes the owner holds elsewhere, e.g. unsent
 * bytes of its socket) at time now (ms, any one clock): OQ_UNDER, OQ_SOFT_OVER (over, and since
 * less than soft_ms: see oq_soft_deadline) or OQ_SOFT_EXPIRED (close the connection). */
int oq_soft_check(oq_t *q, size_t extra, int64_t now);
/* When the soft limit expires if nothing drains, or -1 while under it. */
int64_t oq_soft_deadline(const oq_t *q);
/* Queues m (taking a reference) accounting size bytes. Returns 0, DG_ELIMIT when a limit
 * would be exceeded (m not queued) or DG_ENOMEM. */
int oq_push(oq_t *q, msg_t *m, size_t size);
/* Removes the oldest msg; the caller owns its reference. NULL when empty. */
msg_t *oq_pop(oq_t *q);
/* Removes up to max of the oldest msgs into out[], stopping once their sizes add up to
 * max_bytes or more (at least one is taken when there is one); the caller owns their
 * references. Returns how many. */
int oq_pop_batch(oq_t *q, msg_t **out, int max, size_t max_bytes);
/* Frees a grown ring once the queue is empty again. Call it from an idle timer, not after
 * each write: a ring freed and grown again on every burst is malloc churn on the hot path. */
void oq_shrink(oq_t *q);
/* Drops every queued msg and frees the ring. */
void oq_clear(oq_t *q);

#endif
