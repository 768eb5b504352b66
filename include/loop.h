/* loop.h - dualgate's event loops (Redis's ae, libuv's loop): one thread each, epoll over
 * non-blocking file descriptors, a timer heap, a ready list and a task queue that other threads
 * feed through one eventfd. A loop never blocks on anything but epoll_wait. It knows nothing of
 * sockets' protocols; connections (conn.h) and transports are built on it.
 *
 * Threads: a loop's fds, timers and its callbacks belong to its own thread ("loop thread" below).
 * el_schedule() and el_post() may be called from any thread: that is how the broker, CivetWeb's
 * workers and the Redis command thread hand work to a loop. The ready-list lock is a leaf: it may
 * be taken with any other lock held.
 *
 * One clock: el_now_ms() (CLOCK_MONOTONIC, milliseconds) for every deadline in dualgate;
 * el_wall_ms() only for times other processes compare (Redis ids, state kept in Redis). */
#ifndef LOOP_H
#define LOOP_H

#include <stddef.h>
#include <stdint.h>

typedef struct el el_t;

/* A watched fd, embedded by its owner. */
typedef struct el_io {
    void (*cb)(struct el_io *io, uint32_t events); /* public: EPOLLIN/OUT/RDHUP/HUP/ERR bits */
    int fd;                                        /* read-only */
    uint32_t events;                               /* private */
} el_io_t;

/* A one-shot timer, embedded by its owner; zeroed = not armed. */
typedef struct el_timer {
    void (*cb)(struct el_timer *t); /* public: runs on the loop thread, timer already disarmed */
    int64_t at;                     /* read-only: due time while armed */
    uint32_t slot;                  /* private: heap index + 1, 0 when not armed */
} el_timer_t;

/* An item other threads can put on the loop's ready list; zeroed = not queued. run() is called
 * once per scheduling, on the loop thread, in FIFO order: an item scheduled again while it runs
 * goes to the back of the list (round-robin). The owner keeps r alive while it is queued (a
 * reference taken when el_schedule returns 1, dropped by run()). */
typedef struct el_ready {
    void (*run)(struct el_ready *r); /* public */
    struct el_ready *next;           /* private */
    int queued;                      /* private (ready-list lock) */
} el_ready_t;

/* Posted task: fn(arg, 0) runs once on the loop thread; when the loop has stopped it runs as
 * fn(arg, 1) instead (on whichever thread posted or stopped it): free things, touch no loop state. */
typedef void (*el_task_fn)(void *arg, int cancelled);

/* Milliseconds on the one monotonic clock. Thread: any. */
int64_t el_now_ms(void);
/* Wall-clock milliseconds since the epoch (CLOCK_REALTIME): never for deadlines. Thread: any. */
int64_t el_wall_ms(void);

/* A loop whose thread is not running yet; index names it ("io-0"). NULL on failure with errstr.
 * Thread: main. */
el_t *el_new(int index, char *errstr, size_t errlen);
/* Starts the loop thread. Returns 0 or DG_ENOMEM. Thread: main. */
int el_start(el_t *l);
/* Makes the loop thread return after its current iteration and joins it; tasks posted from then
 * on, and those still queued, run cancelled; ready items still queued run once more on the
 * caller's thread (their owners should be closed by then: run() only drops its reference).
 * Thread: main. */
void el_stop(el_t *l);
/* Frees the loop (every fd and timer must be gone; queued tasks run cancelled). Thread: main. */
void el_free(el_t *l);

/* Index given to el_new. Thread: any. */
int el_index(const el_t *l);
/* 1 when the caller runs on l's thread. Thread: any. */
int el_on_loop(const el_t *l);

/* Watches io->fd (set by the caller, non-blocking) for events (EPOLL* bits; add EPOLLET for
 * edge-triggered). Returns 0 or DG_EIO. Thread: loop. */
int el_io_add(el_t *l, el_io_t *io, int fd, uint32_t events);
int el_io_mod(el_t *l, el_io_t *io, uint32_t events);
/* Stops watching (before closing the fd). Thread: loop. */
void el_io_del(el_t *l, el_io_t *io);

/* Arms t to fire at at_ms (el_now_ms() clock), re-arming it if armed. Returns 0 or DG_ENOMEM
 * (then t is not armed). Thread: loop. */
int el_timer_arm(el_t *l, el_timer_t *t, int64_t at_ms);
void el_timer_cancel(el_t *l, el_timer_t *t);
static inline int el_timer_armed(const el_timer_t *t)
{
    return t->slot != 0;
}

/* Puts r on the ready list unless it is there already, waking the loop once per batch (the
 * eventfd is written only when the list goes from empty to non-empty and the caller is not the
 * loop itself). Returns 1 when r was queued now, 0 when it already was or the loop has stopped.
 * Thread: any. */
int el_schedule(el_t *l, el_ready_t *r);
/* 1 while ready items other than the one running wait for their turn: a producer on the loop
 * (a Redis reader) asks before reading more, so it never outruns the writes it queued.
 * Thread: loop. */
int el_ready_pending(el_t *l);
/* A task node embedded by its owner, for posts that must not fail (a Redis reply coming back). */
typedef struct el_task {
    struct el_task *next; /* private */
    el_task_fn fn;        /* public */
    void *arg;            /* public */
} el_task_t;

/* Queues t (owned by the caller; untouched by the loop after fn is called) for the loop thread.
 * Never fails. Thread: any. */
void el_post_task(el_t *l, el_task_t *t);
/* Queues fn(arg) for the loop thread (see el_task_fn), allocating the node. Returns 0, or
 * DG_ENOMEM (fn not called). Thread: any. */
int el_post(el_t *l, el_task_fn fn, void *arg);

/* Counters for /health and tests. Thread: any (approximate while running). */
typedef struct el_stats {
    uint64_t iterations; /* epoll_wait returns */
    uint64_t wakeups;    /* eventfd writes by other threads */
    uint64_t ready_runs; /* ready items run */
    uint64_t tasks;      /* tasks run */
    uint64_t timers;     /* timers fired */
    int nfds;            /* fds watched */
    int ntimers;         /* timers armed */
} el_stats_t;
void el_get_stats(el_t *l, el_stats_t *out);

/* A fixed group of loops, picked round-robin for new connections. */
typedef struct el_group el_group_t;

/* n loops (n >= 1), not started. NULL on failure with errstr. Thread: main. */
el_group_t *elg_new(int n, char *errstr, size_t errlen);
int elg_start(el_group_t *g);
void elg_stop(el_group_t *g);
void elg_free(el_group_t *g);
int elg_size(const el_group_t *g);
el_t *elg_get(el_group_t *g, int i);
/* The next loop in round-robin order. Thread: any. */
el_t *elg_pick(el_group_t *g);

#endif
