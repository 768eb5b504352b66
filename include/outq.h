/* outq.h - a connection's bounded outbound queue of shared msgs.
 * Not thread-safe: the owning connection's lock guards it. The ring is allocated on first use
 * (8 slots), doubles under backlog up to max_msgs and shrinks back via oq_shrink(); bytes counts the queued payload. */
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
} oq_t;

void oq_init(oq_t *q, uint32_t max_msgs, size_t max_bytes);
/* Queues m (taking a reference) accounting size bytes. Returns 0, DG_ELIMIT when a limit
 * would be exceeded (m not queued) or DG_ENOMEM. */
int oq_push(oq_t *q, msg_t *m, size_t size);
/* Removes the oldest msg; the caller owns its reference. NULL when empty. */
msg_t *oq_pop(oq_t *q);
/* Frees a grown ring once the queue is empty again (call when idle, not per message). */
void oq_shrink(oq_t *q);
/* Drops every queued msg and frees the ring. */
void oq_clear(oq_t *q);

#endif
