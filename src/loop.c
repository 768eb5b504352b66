/* loop.c - epoll event loop: fd watchers, a binary min-heap of timers, and a ready list plus a
 * task queue fed by other threads through one eventfd. Iteration order: fd events, then tasks,
 * then ready items, then due timers; so an object closed while handling an fd event is still
 * alive for the rest of that batch if its owner releases it with a posted task. */
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "dg.h"
#include "log.h"

#define MAX_EVENTS 256
#define EL_STACK (4u << 20) /* Redis readers decode on loops: jansson recursion on 2048-deep JSON */

typedef el_task_t task_t;

/* Nodes el_post allocated: freed after their fn ran. */
typedef struct owned_task {
    el_task_t t;
    el_task_fn fn;
    void *arg;
} owned_task_t;

struct el {
    int index;
    int epfd;
    el_io_t evio; /* the eventfd */
    pthread_t th;
    int started;
    atomic_int running; /* the thread is inside its loop */
    atomic_int stop;
    /* ready list and tasks: rlock */
    pthread_mutex_t rlock;
    el_ready_t *rhead, *rtail;
    task_t *thead, *ttail;
    int signaled; /* the eventfd was written (or the loop is awake): no need to write it again */
    int stopped;  /* the thread has returned: posts run cancelled, schedules are refused */
    el_ready_t *round; /* loop thread only: the current round's items not run yet */
    /* timers: loop thread only */
    el_timer_t **heap;
    uint32_t nheap, heap_cap;
    atomic_int nfds;
    _Atomic uint64_t iterations, wakeups, ready_runs, tasks, timers;
};

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t el_now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

int64_t el_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

static void count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---------------------------------------------------------------- timers */

static void heap_set(el_t *l, uint32_t i, el_timer_t *t)
{
    l->heap[i] = t;
    t->slot = i + 1;
}

static void sift_up(el_t *l, uint32_t i)
{
    el_timer_t *t = l->heap[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (l->heap[p]->at <= t->at)
            break;
        heap_set(l, i, l->heap[p]);
        i = p;
    }
    heap_set(l, i, t);
}

static void sift_down(el_t *l, uint32_t i)
{
    el_timer_t *t = l->heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= l->nheap)
            break;
        if (c + 1 < l->nheap && l->heap[c + 1]->at < l->heap[c]->at)
            c++;
        if (l->heap[c]->at >= t->at)
            break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, t);
}

void el_timer_cancel(el_t *l, el_timer_t *t)
{
    if (!t->slot)
        return;
    uint32_t i = t->slot - 1;
    t->slot = 0;
    el_timer_t *last = l->heap[--l->nheap];
    if (i == l->nheap)
        return;
    heap_set(l, i, last);
    if (i > 0 && l->heap[(i - 1) / 2]->at > last->at)
        sift_up(l, i);
    else
        sift_down(l, i);
}

int el_timer_arm(el_t *l, el_timer_t *t, int64_t at_ms)
{
    if (t->slot) {
        int64_t old = t->at;
        t->at = at_ms;
        if (at_ms < old)
            sift_up(l, t->slot - 1);
        else if (at_ms > old)
            sift_down(l, t->slot - 1);
        return DG_OK;
    }
    if (l->nheap == l->heap_cap) {
        uint32_t cap = l->heap_cap ? l->heap_cap * 2 : 256;
        el_timer_t **h = realloc(l->heap, cap * sizeof(*h));
        if (!h)
            return DG_ENOMEM;
        l->heap = h;
        l->heap_cap = cap;
    }
    t->at = at_ms;
    l->heap[l->nheap] = t;
    t->slot = ++l->nheap;
    sift_up(l, l->nheap - 1);
    return DG_OK;
}

static void run_timers(el_t *l)
{
    if (!l->nheap)
        return;
    int64_t now = el_now_ms();
    while (l->nheap && l->heap[0]->at <= now) {
        el_timer_t *t = l->heap[0];
        el_timer_cancel(l, t);
        count(&l->timers, 1);
        t->cb(t);
    }
}

/* ---------------------------------------------------------------- fds */

int el_io_add(el_t *l, el_io_t *io, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    io->fd = fd;
    io->events = events;
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return DG_EIO;
    atomic_fetch_add_explicit(&l->nfds, 1, memory_order_relaxed);
    return DG_OK;
}

int el_io_mod(el_t *l, el_io_t *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    if (events == io->events)
        return DG_OK;
    io->events = events;
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) == 0 ? DG_OK : DG_EIO;
}

void el_io_del(el_t *l, el_io_t *io)
{
    if (io->fd < 0)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->fd = -1;
    atomic_fetch_sub_explicit(&l->nfds, 1, memory_order_relaxed);
}

/* ---------------------------------------------------------------- cross-thread work */

static void signal_locked(el_t *l, int *write_fd)
{
    if (!l->signaled) {
        l->signaled = 1;
        *write_fd = !el_on_loop(l);
    }
}

static void kick(el_t *l)
{
    uint64_t one = 1;
    count(&l->wakeups, 1);
    while (write(l->evio.fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

int el_schedule(el_t *l, el_ready_t *r)
{
    int queued = 0, wr = 0;
    pthread_mutex_lock(&l->rlock);
    if (!r->queued && !l->stopped) {
        r->queued = 1;
        r->next = NULL;
        if (l->rtail)
            l->rtail->next = r;
        else
            l->rhead = r;
        l->rtail = r;
        queued = 1;
        signal_locked(l, &wr);
    }
    pthread_mutex_unlock(&l->rlock);
    if (wr)
        kick(l);
    return queued;
}

static void owned_run(void *arg, int cancelled)
{
    owned_task_t *o = arg;
    el_task_fn fn = o->fn;
    void *a = o->arg;
    free(o);
    fn(a, cancelled);
}

int el_post(el_t *l, el_task_fn fn, void *arg)
{
    owned_task_t *o = malloc(sizeof(*o));
    if (!o)
        return DG_ENOMEM;
    *o = (owned_task_t){{NULL, owned_run, o}, fn, arg};
    el_post_task(l, &o->t);
    return DG_OK;
}

void el_post_task(el_t *l, el_task_t *t)
{
    t->next = NULL;
    int wr = 0, now = 0;
    pthread_mutex_lock(&l->rlock);
    if (l->stopped) {
        now = 1;
    } else {
        if (l->ttail)
            l->ttail->next = t;
        else
            l->thead = t;
        l->ttail = t;
        signal_locked(l, &wr);
    }
    pthread_mutex_unlock(&l->rlock);
    if (now)
        t->fn(t->arg, 1);
    else if (wr)
        kick(l);
}

static void run_tasks(task_t *t, int cancelled, el_t *l)
{
    while (t) {
        task_t *next = t->next; /* t may be freed by its fn */
        if (l)
            count(&l->tasks, 1);
        t->fn(t->arg, cancelled);
        t = next;
    }
}

/* Runs the ready items queued before this call; those scheduled meanwhile wait for the next
 * iteration (round-robin). An item stays marked queued until just before it runs, so a burst
 * of schedules for it costs one run. */
static void run_ready(el_t *l, el_ready_t *r)
{
    while (r) {
        el_ready_t *next = r->next;
        pthread_mutex_lock(&l->rlock);
        r->queued = 0;
        pthread_mutex_unlock(&l->rlock);
        count(&l->ready_runs, 1);
        l->round = next;
        r->run(r);
        r = next;
    }
    l->round = NULL;
}

int el_ready_pending(el_t *l)
{
    if (l->round)
        return 1;
    pthread_mutex_lock(&l->rlock);
    int pending = l->rhead != NULL;
    pthread_mutex_unlock(&l->rlock);
    return pending;
}

/* ---------------------------------------------------------------- the loop */

static void evfd_cb(el_io_t *io, uint32_t events)
{
    uint64_t v;
    (void)events;
    while (read(io->fd, &v, sizeof(v)) > 0)
        ;
}

static void *loop_main(void *arg)
{
    el_t *l = arg;
    struct epoll_event evs[MAX_EVENTS];
    char name[16];
    snprintf(name, sizeof(name), "io-%d", l->index);
    pthread_setname_np(pthread_self(), name);
    atomic_store(&l->running, 1);
    while (!atomic_load(&l->stop)) {
        int timeout = -1;
        pthread_mutex_lock(&l->rlock);
        if (l->rhead || l->thead)
            timeout = 0;
        else
            l->signaled = 0; /* about to sleep: the next cross-thread schedule writes the eventfd */
        pthread_mutex_unlock(&l->rlock);
        if (timeout && l->nheap) {
            int64_t d = l->heap[0]->at - el_now_ms();
            timeout = d <= 0 ? 0 : d > 3600000 ? 3600000 : (int)d;
        }
        int n = epoll_wait(l->epfd, evs, MAX_EVENTS, timeout);
        count(&l->iterations, 1);
        for (int i = 0; i < n; i++) {
            el_io_t *io = evs[i].data.ptr;
            io->cb(io, evs[i].events);
        }
        pthread_mutex_lock(&l->rlock);
        task_t *tasks = l->thead;
        el_ready_t *ready = l->rhead;
        l->thead = l->ttail = NULL;
        l->rhead = l->rtail = NULL;
        l->signaled = 1; /* awake: schedules until the next sleep need not write the eventfd */
        pthread_mutex_unlock(&l->rlock);
        run_tasks(tasks, 0, l);
        run_ready(l, ready);
        run_timers(l);
    }
    atomic_store(&l->running, 0);
    return NULL;
}

el_t *el_new(int index, char *errstr, size_t errlen)
{
    el_t *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(errstr, errlen, "out of memory");
        return NULL;
    }
    l->index = index;
    l->evio.fd = -1;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    int evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&l->rlock, NULL);
    l->evio.cb = evfd_cb;
    if (l->epfd < 0 || evfd < 0 || el_io_add(l, &l->evio, evfd, EPOLLIN) != DG_OK) {
        snprintf(errstr, errlen, "event loop %d: %s", index, strerror(errno));
        if (evfd >= 0)
            close(evfd);
        l->evio.fd = -1;
        el_free(l);
        return NULL;
    }
    atomic_store(&l->nfds, 0); /* the eventfd is not a client's */
    return l;
}

int el_start(el_t *l)
{
    pthread_attr_t a;
    if (pthread_attr_init(&a) != 0)
        return DG_ENOMEM;
    pthread_attr_setstacksize(&a, EL_STACK);
    int rc = pthread_create(&l->th, &a, loop_main, l);
    pthread_attr_destroy(&a);
    if (rc != 0)
        return DG_ENOMEM;
    l->started = 1;
    return DG_OK;
}

/* After the thread is gone: refuse new work, run what is left. */
static void drain_stopped(el_t *l)
{
    pthread_mutex_lock(&l->rlock);
    l->stopped = 1;
    task_t *tasks = l->thead;
    el_ready_t *ready = l->rhead;
    l->thead = l->ttail = NULL;
    l->rhead = l->rtail = NULL;
    pthread_mutex_unlock(&l->rlock);
    run_tasks(tasks, 1, NULL);
    run_ready(l, ready);
}

void el_stop(el_t *l)
{
    if (!l || l->stopped)
        return;
    atomic_store(&l->stop, 1);
    if (l->started) {
        kick(l);
        pthread_join(l->th, NULL);
        l->started = 0;
    }
    drain_stopped(l);
}

void el_free(el_t *l)
{
    if (!l)
        return;
    el_stop(l);
    if (l->evio.fd >= 0)
        close(l->evio.fd);
    if (l->epfd >= 0)
        close(l->epfd);
    free(l->heap);
    pthread_mutex_destroy(&l->rlock);
    free(l);
}

int el_index(const el_t *l)
{
    return l->index;
}

int el_on_loop(const el_t *l)
{
    return atomic_load_explicit(&l->running, memory_order_relaxed) &&
           pthread_equal(pthread_self(), l->th);
}

void el_get_stats(el_t *l, el_stats_t *out)
{
    out->iterations = atomic_load_explicit(&l->iterations, memory_order_relaxed);
    out->wakeups = atomic_load_explicit(&l->wakeups, memory_order_relaxed);
    out->ready_runs = atomic_load_explicit(&l->ready_runs, memory_order_relaxed);
    out->tasks = atomic_load_explicit(&l->tasks, memory_order_relaxed);
    out->timers = atomic_load_explicit(&l->timers, memory_order_relaxed);
    out->nfds = atomic_load_explicit(&l->nfds, memory_order_relaxed);
    out->ntimers = -1; /* the heap is the loop thread's: not read from outside */
}

/* ---------------------------------------------------------------- groups */

struct el_group {
    int n;
    atomic_uint next;
    el_t *loops[];
};

el_group_t *elg_new(int n, char *errstr, size_t errlen)
{
    if (n < 1)
        n = 1;
    el_group_t *g = calloc(1, sizeof(*g) + (size_t)n * sizeof(el_t *));
    if (!g) {
        snprintf(errstr, errlen, "out of memory");
        return NULL;
    }
    for (g->n = 0; g->n < n; g->n++) {
        if (!(g->loops[g->n] = el_new(g->n, errstr, errlen))) {
            elg_free(g);
            return NULL;
        }
    }
    return g;
}

int elg_start(el_group_t *g)
{
    for (int i = 0; i < g->n; i++)
        if (el_start(g->loops[i]) != DG_OK)
            return DG_ENOMEM;
    return DG_OK;
}

void elg_stop(el_group_t *g)
{
    for (int i = 0; g && i < g->n; i++)
        el_stop(g->loops[i]);
}

void elg_free(el_group_t *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n; i++)
        el_free(g->loops[i]);
    free(g);
}

int elg_size(const el_group_t *g)
{
    return g->n;
}

el_t *elg_get(el_group_t *g, int i)
{
    return g->loops[i % g->n];
}

el_t *elg_pick(el_group_t *g)
{
    return g->loops[atomic_fetch_add_explicit(&g->next, 1, memory_order_relaxed) % (unsigned)g->n];
}
