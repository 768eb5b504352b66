/* conn.c - connections on an event loop: edge-triggered epoll, bounded reads, write turns of
 * sendmsg() over shared msg segments with the unsent rest kept in a private pending buffer, one
 * timer for the write-stall and lingering-close deadlines, a sampled reading of what the kernel
 * holds unsent, and refcounted lifetime. */
#include "conn.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dg.h"

#define READ_CHUNK (64 * 1024)
#define READ_BUDGET (256 * 1024) /* read per connection per turn before others get theirs */
#define SCRATCH_CAP (128 * 1024)

struct cn {
    atomic_int refs;
    atomic_int doomed; /* a close reason asked for from another thread */
    el_t *loop;
    const cn_ops_t *ops;
    cn_env_t *env;
    el_io_t io;
    el_ready_t ready;
    el_timer_t timer; /* write stall while blocked, lingering close after the FIN */
    el_timer_t drain_timer;
    size_t kunsent;     /* the kernel's unsent bytes at the last reading (cn_unsent) */
    size_t since_check; /* bytes written since that reading */
    int recheck;        /* since_check passed unsent_every: one more fill() to look at it */
    el_task_t drain_task;
    int64_t drain_in; /* ms from when the loop sees the drain task */
    int started;      /* adopted by the loop: callbacks may run */
    int closed;       /* the close reason, once closed */
    int loop_ref;     /* the loop still holds its reference */
    int finishing;    /* cn_finish: flush, then FIN */
    int fin_reason;
    int fin_sent;
    int blocked;   /* the kernel refused bytes: waiting for EPOLLOUT */
    int read_more; /* the read budget ran out with bytes left */
    list_t node;   /* in env->all while open */
    buf_t pending; /* private bytes not yet taken by the kernel, from pend_off */
    size_t pend_off;
    int64_t last_write;
    max_align_t data[]; /* the transport's */
};

static const char *const reason_names[CN_REASON_COUNT] = {
    "none",       "peer_closed", "done",         "protocol_error", "timeout",
    "hard_limit", "soft_limit",  "write_stall", "error",          "shutdown"};
static const char *const kind_names[CN_KINDS] = {"sse", "websocket", "polling"};

const char *cn_reason_name(int reason)
{
    return reason >= 0 && reason < CN_REASON_COUNT ? reason_names[reason] : "unknown";
}

const char *cn_kind_name(int kind)
{
    return kind >= 0 && kind < CN_KINDS ? kind_names[kind] : "unknown";
}

static void add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---------------------------------------------------------------- per-thread buffers */

/* One read buffer and one scratch area per loop thread, freed when the thread exits. */
typedef struct tbufs {
    char rbuf[READ_CHUNK];
    char scratch[SCRATCH_CAP];
} tbufs_t;

static pthread_key_t tbuf_key;
static pthread_once_t tbuf_once = PTHREAD_ONCE_INIT;

static void tbuf_key_init(void)
{
    pthread_key_create(&tbuf_key, free);
}

static tbufs_t *tbufs(void)
{
    pthread_once(&tbuf_once, tbuf_key_init);
    tbufs_t *t = pthread_getspecific(tbuf_key);
    if (!t && (t = malloc(sizeof(*t))) != NULL)
        pthread_setspecific(tbuf_key, t);
    return t;
}

/* ---------------------------------------------------------------- output segments */

static void out_init(cn_out_t *o, size_t budget, tbufs_t *tb)
{
    o->n = 0;
    o->bytes = 0;
    o->budget = budget;
    o->scratch = tb->scratch;
    o->scratch_len = 0;
    o->scratch_cap = SCRATCH_CAP;
}

int cn_out_full(const cn_out_t *o)
{
    return o->n == CN_IOV_MAX || o->bytes >= o->budget;
}

int cn_out_free_segments(const cn_out_t *o)
{
    return CN_IOV_MAX - o->n;
}

int cn_out_msg(cn_out_t *o, msg_t *m, const void *p, size_t len)
{
    if (o->n == CN_IOV_MAX)
        return DG_ELIMIT;
    if (!len)
        return DG_OK;
    msg_ref(m);
    o->iov[o->n] = (struct iovec){(void *)p, len};
    o->msg[o->n++] = m;
    o->bytes += len;
    return DG_OK;
}

char *cn_out_room(cn_out_t *o, size_t want)
{
    if (o->n == CN_IOV_MAX || o->scratch_cap - o->scratch_len < want)
        return NULL;
    return o->scratch + o->scratch_len;
}

void cn_out_commit(cn_out_t *o, size_t n)
{
    if (!n)
        return;
    char *p = o->scratch + o->scratch_len;
    struct iovec *last = o->n ? &o->iov[o->n - 1] : NULL;
    if (last && !o->msg[o->n - 1] && (char *)last->iov_base + last->iov_len == p) {
        last->iov_len += n; /* consecutive private bytes: one segment */
    } else {
        o->iov[o->n] = (struct iovec){p, n};
        o->msg[o->n++] = NULL;
    }
    o->scratch_len += n;
    o->bytes += n;
}

int cn_out_copy(cn_out_t *o, const void *p, size_t len)
{
    char *d = cn_out_room(o, len);
    if (!d)
        return DG_ELIMIT;
    memcpy(d, p, len);
    cn_out_commit(o, len);
    return DG_OK;
}

static cn_stats_t *shard(const cn_t *c)
{
    return &c->env->stats[el_index(c->loop) % CN_SHARDS];
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* now_ns: wall-clock time of the write (Redis ids are wall-clock milliseconds). */
static void delivered_at(cn_t *c, const msg_t *m, int64_t now_ns)
{
    if (!m->id.ms)
        return; /* a session's own packet (ping, ack): not an event */
    cn_stats_t *st = shard(c);
    mt_hist_observe_ns(&st->latency[c->ops->kind], now_ns - (int64_t)m->id.ms * 1000000);
    add(&st->deliveries[c->ops->kind], 1);
}

void cn_delivered(cn_t *c, const msg_t *m)
{
    delivered_at(c, m, wall_ns());
}

/* Keeps what the kernel did not take (from byte `sent` on) as private pending bytes and drops
 * every segment's reference; each msg counts as delivered (handed to the kernel, or kept for it).
 * Returns 0 or DG_ENOMEM. */
static int out_keep_rest(cn_t *c, cn_out_t *o, size_t sent, int deliver)
{
    int64_t now_ns = deliver ? wall_ns() : 0; /* one clock read per write, not per message */
    for (int i = 0; i < o->n; i++) {
        size_t len = o->iov[i].iov_len;
        if (sent >= len)
            sent -= len;
        else {
            buf_append(&c->pending, (char *)o->iov[i].iov_base + sent, len - sent);
            sent = 0;
        }
        if (o->msg[i]) {
            if (deliver)
                delivered_at(c, o->msg[i], now_ns);
            msg_unref(o->msg[i]);
        }
    }
    o->n = 0;
    return c->pending.oom ? DG_ENOMEM : DG_OK;
}

/* ---------------------------------------------------------------- lifetime */

static int abortive(int reason)
{
    return reason == CN_CLOSE_HARD_LIMIT || reason == CN_CLOSE_SOFT_LIMIT ||
           reason == CN_CLOSE_STALL || reason == CN_CLOSE_ERROR;
}

void cn_ref(cn_t *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void cn_unref(cn_t *c)
{
    if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (c->ops->free)
        c->ops->free(c);
    buf_free(&c->pending);
    free(c);
}

void *cn_data(cn_t *c)
{
    return c->data;
}

el_t *cn_loop(const cn_t *c)
{
    return c->loop;
}

int cn_fd(const cn_t *c)
{
    return c->closed ? -1 : c->io.fd;
}

int cn_closed(const cn_t *c)
{
    return c->closed;
}

int cn_finishing(const cn_t *c)
{
    return c->finishing;
}

size_t cn_pending(const cn_t *c)
{
    return c->pending.len - c->pend_off;
}

int64_t cn_last_write_ms(const cn_t *c)
{
    return c->last_write;
}

/* The loop's reference goes once the current iteration is over: events already fetched for c
 * find it closed rather than freed. */
static void drop_loop_ref(cn_t *c)
{
    if (!c->loop_ref)
        return;
    c->loop_ref = 0;
    cn_unref(c);
}

/* Closes the socket itself (el_io_del already ran). */
static void close_fd(int fd, int reason)
{
    if (abortive(reason)) {
        struct linger lg = {1, 0}; /* RST: the kernel drops what it still holds for the client */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(fd);
}

void cn_close(cn_t *c, int reason)
{
    if (c->closed)
        return;
    c->closed = reason ? reason : CN_CLOSE_ERROR;
    int fd = c->io.fd;
    el_io_del(c->loop, &c->io); /* sets io.fd to -1 */
    close_fd(fd, c->closed);
    el_timer_cancel(c->loop, &c->timer);
    el_timer_cancel(c->loop, &c->drain_timer);
    buf_free(&c->pending);
    c->pend_off = 0;
    cn_env_t *env = c->env;
    atomic_fetch_sub(&shard(c)->open[c->ops->kind], 1);
    add(&shard(c)->closed[c->ops->kind][c->closed], 1);
    c->ops->close(c, c->closed);
    pthread_mutex_lock(&env->lock); /* idle means every close callback has run */
    list_unlink(&c->node);
    if (--env->nopen == 0)
        pthread_cond_broadcast(&env->idle);
    pthread_mutex_unlock(&env->lock);
    cn_ref(c);
    if (!el_schedule(c->loop, &c->ready)) {
        drop_loop_ref(c); /* the loop has stopped: nothing of this iteration is left */
        cn_unref(c);
    }
}

/* ---------------------------------------------------------------- writing */

static void arm_stall(cn_t *c)
{
    if (!el_timer_armed(&c->timer) && c->env->write_timeout_ms > 0)
        el_timer_arm(c->loop, &c->timer, c->last_write + c->env->write_timeout_ms);
}

/* The kernel's figure is read again once unsent_every bytes were written since the last reading,
 * and at every call while that reading was large (so a drained backlog is seen): a client keeping
 * up costs one ioctl per unsent_every bytes, a slow one one per call. */
size_t cn_unsent(cn_t *c)
{
    size_t every = c->env->unsent_every;
    if (every && !c->closed && (c->since_check >= every || c->kunsent >= every)) {
        int n = 0;
        c->since_check = 0;
        c->kunsent = ioctl(c->io.fd, SIOCOUTQNSD, &n) == 0 && n > 0 ? (size_t)n : 0;
    }
    return cn_pending(c) + c->kunsent;
}

static void wrote(cn_t *c, size_t n)
{
    if (!n)
        return;
    c->last_write = el_now_ms();
    add(&shard(c)->bytes[c->ops->kind], n);
    size_t every = c->env->unsent_every;
    if (every && c->since_check < every && (c->since_check += n) >= every)
        c->recheck = 1;
}

/* Returns bytes written (>= 0), or -1 after closing c. */
static ssize_t send_segments(cn_t *c, struct iovec *iov, int n)
{
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    for (;;) {
        ssize_t w = sendmsg(c->io.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w >= 0) {
            wrote(c, (size_t)w);
            return w;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        cn_close(c, CN_CLOSE_PEER);
        return -1;
    }
}

static void set_blocked(cn_t *c)
{
    c->blocked = 1;
    arm_stall(c);
}

static void finish_now(cn_t *c);
static void do_read(cn_t *c);

/* Writes pending bytes. Returns 1 when they are all gone, 0 when blocked or closed. */
static int flush_pending(cn_t *c, size_t *budget)
{
    while (cn_pending(c)) {
        size_t len = cn_pending(c);
        struct iovec iov = {c->pending.data + c->pend_off, len};
        ssize_t w = send_segments(c, &iov, 1);
        if (w < 0)
            return 0;
        c->pend_off += (size_t)w;
        *budget = (size_t)w >= *budget ? 0 : *budget - (size_t)w;
        if ((size_t)w < len) {
            set_blocked(c);
            return 0;
        }
    }
    if (c->pending.cap > 2 * CN_TURN_BYTES)
        buf_free(&c->pending); /* a burst is over: give its memory back */
    else
        buf_reset(&c->pending);
    c->pend_off = 0;
    el_timer_cancel(c->loop, &c->timer);
    return 1;
}

/* One write turn: pending bytes first, then fill() until the budget is spent, the kernel
 * pushes back or the transport has nothing more. */
static void turn(cn_t *c)
{
    if (!c->started || c->closed)
        return;
    int doomed = atomic_load(&c->doomed);
    if (doomed && (abortive(doomed) || doomed == CN_CLOSE_PEER)) {
        cn_close(c, doomed);
        return;
    }
    if (doomed && !c->finishing)
        cn_finish(c, doomed);
    if (c->read_more) {
        c->read_more = 0;
        do_read(c);
        if (c->closed)
            return;
    }
    if (c->blocked)
        return; /* EPOLLOUT brings us back */
    size_t budget = CN_TURN_BYTES;
    if (cn_pending(c) && !flush_pending(c, &budget))
        return;
    if (c->finishing) {
        finish_now(c);
        return;
    }
    tbufs_t *tb = tbufs();
    if (!tb) {
        cn_close(c, CN_CLOSE_ERROR);
        return;
    }
    int more = 0;
    while (budget > 0) {
        cn_out_t o;
        out_init(&o, budget, tb);
        more = c->ops->fill(c, &o);
        if (!o.n || c->closed) {
            out_keep_rest(c, &o, SIZE_MAX, 0); /* drops references */
            if (c->closed || !cn_pending(c))
                return;
            break; /* fill() queued private bytes itself: write them */
        }
        ssize_t w = send_segments(c, o.iov, o.n);
        if (w < 0) {
            out_keep_rest(c, &o, SIZE_MAX, 0);
            return;
        }
        size_t total = o.bytes;
        if (out_keep_rest(c, &o, (size_t)w, 1) != DG_OK) {
            cn_close(c, CN_CLOSE_ERROR);
            return;
        }
        if ((size_t)w < total) {
            set_blocked(c);
            return;
        }
        budget = (size_t)w >= budget ? 0 : budget - (size_t)w;
        if (!more)
            break;
        if (c->finishing) /* fill() ended the exchange: what it added goes, then the FIN */
            break;
    }
    if (c->finishing) {
        if (!cn_pending(c))
            finish_now(c);
        else
            cn_wake(c);
    } else if (more || cn_pending(c)) {
        cn_wake(c); /* back of the line: the others get their turn first */
    } else if (c->recheck) {
        /* the kernel took bytes the transport's soft limit has not seen yet: one more fill()
         * (with nothing queued) lets it check them now, not at its next timer */
        c->recheck = 0;
        cn_wake(c);
    }
}

static void ready_run(el_ready_t *r)
{
    cn_t *c = DG_CONTAINER_OF(r, cn_t, ready);
    if (c->closed)
        drop_loop_ref(c);
    else
        turn(c);
    cn_unref(c); /* the ready list's */
}

void cn_wake(cn_t *c)
{
    cn_ref(c);
    if (!el_schedule(c->loop, &c->ready))
        cn_unref(c);
}

void cn_close_async(cn_t *c, int reason)
{
    int none = 0;
    atomic_compare_exchange_strong(&c->doomed, &none, reason ? reason : CN_CLOSE_ERROR);
    cn_wake(c);
}

int cn_write(cn_t *c, const void *p, size_t len)
{
    if (c->closed)
        return DG_ECLOSED;
    if (cn_pending(c) + len > c->env->pending_max) {
        cn_close(c, CN_CLOSE_HARD_LIMIT);
        return DG_ELIMIT;
    }
    if (buf_append(&c->pending, p, len) != DG_OK) {
        cn_close(c, CN_CLOSE_ERROR);
        return DG_ENOMEM;
    }
    if (!c->blocked)
        cn_wake(c);
    return DG_OK;
}

/* ---------------------------------------------------------------- closing gracefully */

static void finish_now(cn_t *c)
{
    if (c->fin_sent || c->closed)
        return;
    c->fin_sent = 1;
    shutdown(c->io.fd, SHUT_WR);
    el_timer_cancel(c->loop, &c->timer);
    el_timer_arm(c->loop, &c->timer, el_now_ms() + c->env->linger_ms);
}

void cn_finish(cn_t *c, int reason)
{
    if (c->closed || c->finishing)
        return;
    c->finishing = 1;
    c->fin_reason = reason ? reason : CN_CLOSE_DONE;
    if (c->started)
        cn_wake(c);
}

static void timer_cb(el_timer_t *t)
{
    cn_t *c = DG_CONTAINER_OF(t, cn_t, timer);
    if (c->closed)
        return;
    if (c->fin_sent) {
        cn_close(c, c->fin_reason); /* the client never sent its FIN: stop waiting */
        return;
    }
    if (!cn_pending(c) && !c->blocked)
        return;
    int64_t due = c->last_write + c->env->write_timeout_ms;
    if (el_now_ms() >= due)
        cn_close(c, CN_CLOSE_STALL);
    else
        el_timer_arm(c->loop, &c->timer, due); /* it moved since: a new deadline */
}

/* ---------------------------------------------------------------- draining */

static void drain_fire(el_timer_t *t)
{
    cn_t *c = DG_CONTAINER_OF(t, cn_t, drain_timer);
    if (c->closed || c->finishing)
        return;
    if (c->ops->drain)
        c->ops->drain(c);
    else
        cn_finish(c, CN_CLOSE_SHUTDOWN);
}

static void drain_task(void *arg, int cancelled)
{
    cn_t *c = arg;
    if (!cancelled && c->started && !c->closed)
        el_timer_arm(c->loop, &c->drain_timer, el_now_ms() + c->drain_in);
    cn_unref(c);
}

/* ---------------------------------------------------------------- reading */

static void do_read(cn_t *c)
{
    tbufs_t *tb = tbufs();
    size_t total = 0;
    if (!tb) {
        cn_close(c, CN_CLOSE_ERROR);
        return;
    }
    while (!c->closed) {
        ssize_t n = recv(c->io.fd, tb->rbuf, sizeof(tb->rbuf), 0);
        if (n > 0) {
            total += (size_t)n;
            if (!c->finishing) {
                int r = c->ops->read(c, tb->rbuf, (size_t)n);
                if (r) {
                    cn_close(c, r);
                    return;
                }
            }
            if (total >= READ_BUDGET && !c->closed) {
                c->read_more = 1; /* edge-triggered: nobody tells us again about these bytes */
                cn_wake(c);
                return;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        cn_close(c, c->finishing ? c->fin_reason : CN_CLOSE_PEER); /* EOF, or reset */
        return;
    }
}

static void io_cb(el_io_t *io, uint32_t events)
{
    cn_t *c = DG_CONTAINER_OF(io, cn_t, io);
    if (c->closed)
        return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        do_read(c);
    if (!c->closed && (events & EPOLLOUT) && c->blocked) {
        c->blocked = 0;
        turn(c);
    }
}

/* ---------------------------------------------------------------- creation */

cn_t *cn_new(el_t *l, int fd, const cn_ops_t *ops, cn_env_t *env, size_t data_size)
{
    cn_t *c = calloc(1, sizeof(*c) + data_size);
    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    c->loop = l;
    c->ops = ops;
    c->env = env;
    c->io.fd = fd;
    c->io.cb = io_cb;
    c->ready.run = ready_run;
    c->timer.cb = timer_cb;
    c->drain_timer.cb = drain_fire;
    return c;
}

static void adopt(void *arg, int cancelled)
{
    cn_t *c = arg;
    int fd = c->io.fd;
    if (cancelled || el_io_add(c->loop, &c->io, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)) {
        close(fd);
        c->io.fd = -1;
        c->closed = cancelled ? CN_CLOSE_SHUTDOWN : CN_CLOSE_ERROR;
        cn_unref(c);
        return;
    }
    c->started = 1;
    c->loop_ref = 1;
    c->last_write = el_now_ms();
    cn_env_t *env = c->env;
    atomic_fetch_add(&shard(c)->open[c->ops->kind], 1);
    add(&shard(c)->opened[c->ops->kind], 1);
    pthread_mutex_lock(&env->lock);
    list_push(&env->all, &c->node);
    env->nopen++;
    pthread_mutex_unlock(&env->lock);
    int r = c->ops->open(c);
    if (r)
        cn_close(c, r);
    else
        turn(c);
}

void cn_start(cn_t *c)
{
    if (el_post(c->loop, adopt, c) != DG_OK)
        adopt(c, 1);
}

/* ---------------------------------------------------------------- the registry */

void cn_env_init(cn_env_t *env)
{
    memset(env, 0, sizeof(*env));
    pthread_mutex_init(&env->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&env->idle, &ca);
    pthread_condattr_destroy(&ca);
    list_init(&env->all);
}

void cn_env_totals(const cn_env_t *env, cn_totals_t *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < CN_SHARDS; i++) {
        const cn_stats_t *st = &env->stats[i];
        for (int k = 0; k < CN_KINDS; k++) {
            out->open[k] += atomic_load_explicit(&st->open[k], memory_order_relaxed);
            out->opened[k] += atomic_load_explicit(&st->opened[k], memory_order_relaxed);
            out->bytes[k] += atomic_load_explicit(&st->bytes[k], memory_order_relaxed);
            out->deliveries[k] += atomic_load_explicit(&st->deliveries[k], memory_order_relaxed);
            for (int r = 0; r < CN_REASON_COUNT; r++)
                out->closed[k][r] += atomic_load_explicit(&st->closed[k][r], memory_order_relaxed);
        }
    }
}

void cn_env_destroy(cn_env_t *env)
{
    pthread_mutex_destroy(&env->lock);
    pthread_cond_destroy(&env->idle);
}

void cn_env_close_all(cn_env_t *env, int kind, int reason)
{
    pthread_mutex_lock(&env->lock);
    for (list_t *n = env->all.next; n != &env->all; n = n->next) {
        cn_t *c = DG_CONTAINER_OF(n, cn_t, node);
        if (kind < 0 || c->ops->kind == kind)
            cn_close_async(c, reason); /* takes the loop's ready-list lock: a leaf */
    }
    pthread_mutex_unlock(&env->lock);
}

void cn_env_drain(cn_env_t *env, int kind, int64_t window_ms)
{
    unsigned seed = (unsigned)el_now_ms();
    pthread_mutex_lock(&env->lock);
    for (list_t *n = env->all.next; n != &env->all; n = n->next) {
        cn_t *c = DG_CONTAINER_OF(n, cn_t, node);
        if (c->ops->kind != kind)
            continue;
        c->drain_in = window_ms > 0 ? (int64_t)(rand_r(&seed) % (unsigned)window_ms) : 0;
        c->drain_task = (el_task_t){NULL, drain_task, c};
        cn_ref(c);
        el_post_task(c->loop, &c->drain_task); /* ready-list lock: a leaf */
    }
    pthread_mutex_unlock(&env->lock);
}

int cn_env_wait_idle(cn_env_t *env, int64_t deadline_ms)
{
    pthread_mutex_lock(&env->lock);
    while (env->nopen > 0) {
        int64_t now = el_now_ms();
        if (now >= deadline_ms)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + (deadline_ms - now) % 1000 * 1000000;
        ts.tv_sec += (deadline_ms - now) / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&env->idle, &env->lock, &ts);
    }
    int n = env->nopen;
    pthread_mutex_unlock(&env->lock);
    return n;
}
