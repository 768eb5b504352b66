/* wpool.h - a small pool of writer threads serving a ready list: a connection with output is
 * scheduled once (however many messages it got) and one pool thread calls flush() for it, so
 * fan-out costs no thread wake-up per connection. It knows nothing of sockets or protocols.
 * Lock order: the pool lock is a leaf; schedule() may be called with any other lock held. */
#ifndef WPOOL_H
#define WPOOL_H

#include "buf.h"

/* Embedded in the owner. Fields are private to the pool. */
typedef struct wp_item {
    struct wp_item *next;
    int queued; /* on the ready list */
    int busy;   /* a pool thread is inside flush() for it */
    int again;  /* scheduled while busy: queued again when that flush() returns */
} wp_item_t;

typedef struct wpool wpool_t;

/* flush(it, scratch, ud) runs on a pool thread, never concurrently for one item; scratch is
 * that thread's reusable buffer (empty on entry). */
typedef void (*wp_flush_fn)(wp_item_t *it, buf_t *scratch, void *ud);

/* Starts nthreads threads. NULL on failure. Thread: main. */
wpool_t *wp_new(int nthreads, wp_flush_fn flush, void *ud);
/* Puts it on the ready list unless it is there already (or, while it is being flushed, once
 * that flush returns: one item is never flushed by two threads at once). Thread: any. */
void wp_schedule(wpool_t *p, wp_item_t *it);
/* Takes it off the ready list and waits until no flush() runs for it: afterwards the owner may
 * free it. Thread: any but a pool thread. */
void wp_cancel(wpool_t *p, wp_item_t *it);
/* Stops and joins the threads (queued items are dropped, not flushed). Thread: main. */
void wp_free(wpool_t *p);

#endif
