/* gate.c - accepts on the real listening socket, holds each connection until its request head
 * (and a small body) can be peeked whole, then queues it for CivetWeb's master thread, which
 * polls an eventfd sitting under its old listening fd number. Held connections are kept in
 * arrival order, which is also deadline order (one timeout), so one timer serves them all; a
 * connection whose head is complete moves, node and all, to the queue CivetWeb pops. */
#include "gate.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dg.h"
#include "handoff.h"
#include "list.h"
#include "log.h"

#define ACCEPTS_PER_EVENT 64
#define QUEUE_MAX 4096 /* connections waiting for a CivetWeb worker before new ones get 503 */

static const char ans_408_body[] =
    "{\"error\":\"request_timeout\",\"message\":\"no complete request in time\"}";
static const char ans_503_body[] =
    "{\"error\":\"over_capacity\",\"message\":\"too many connections, retry later\"}";

typedef struct held {
    el_io_t io;
    struct gt *g;
    list_t node;
    int64_t deadline;
    struct sockaddr_in addr;
} held_t;

struct gt {
    el_t *loop;
    gt_cfg_t cfg;
    el_io_t lio; /* the real listening socket, level-triggered */
    int spare;   /* kept open to accept-and-refuse at the fd limit */
    int fake_fd; /* CivetWeb's listening fd number, now an eventfd */
    /* loop thread */
    list_t held;
    int nheld;
    el_timer_t timer;
    char *peek;
    size_t peek_cap;
    /* connections whose head is complete, for CivetWeb: lock */
    pthread_mutex_t lock;
    list_t ready;
    size_t qlen;
    int stopped;
    atomic_ullong accepted, passed, timed_out, evicted, refused, left;
    atomic_int npending;
    /* main waits for tasks it posts */
    pthread_mutex_t wait_mu;
    pthread_cond_t wait_cv;
    int wait_done;
};

/* ---------------------------------------------------------------- answering */

/* Answers status on a connection we are dropping: discard what it sent (so the close is a FIN,
 * not a reset that could destroy the answer), one non-blocking send, close. */
static void refuse(int fd, int status)
{
    char discard[4096], msg[512];
    int n;
    while (recv(fd, discard, sizeof(discard), MSG_DONTWAIT) > 0)
        ;
    if (status == 408)
        n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                     "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
                     sizeof(ans_408_body) - 1, ans_408_body);
    else
        n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                     "Retry-After: 1\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                     sizeof(ans_503_body) - 1, ans_503_body);
    if (send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* best effort: the client may be gone */
    }
    shutdown(fd, SHUT_WR);
    close(fd);
}

/* ---------------------------------------------------------------- the queue to CivetWeb */

static void evfd_set(gt_t *g, int on)
{
    uint64_t v = 1;
    if (g->fake_fd < 0)
        return;
    if (on) {
        if (write(g->fake_fd, &v, sizeof(v)) < 0) {
            /* cannot fail for a non-saturated eventfd */
        }
    } else {
        while (read(g->fake_fd, &v, sizeof(v)) > 0)
            ;
    }
}

/* CivetWeb's master thread, through the interposed accept(). */
static int gate_next(void *ud, struct sockaddr *addr, socklen_t *len)
{
    gt_t *g = ud;
    pthread_mutex_lock(&g->lock);
    list_t *first = list_first(&g->ready);
    if (!first) {
        evfd_set(g, 0);
        pthread_mutex_unlock(&g->lock);
        errno = EAGAIN;
        return -1;
    }
    list_unlink(first);
    if (--g->qlen == 0)
        evfd_set(g, 0);
    pthread_mutex_unlock(&g->lock);
    held_t *h = DG_CONTAINER_OF(first, held_t, node);
    int fd = h->io.fd;
    if (addr && len) {
        memcpy(addr, &h->addr, *len < sizeof(h->addr) ? *len : sizeof(h->addr));
        *len = sizeof(h->addr);
    }
    free(h);
    atomic_fetch_add(&g->passed, 1);
    return fd;
}

/* Moves h (off the held list) to the queue CivetWeb pops. Thread: the gate's loop. */
static void queue_push(gt_t *g, held_t *h)
{
    int refused = 0;
    pthread_mutex_lock(&g->lock);
    if (g->stopped || g->qlen >= QUEUE_MAX) {
        refused = 1;
    } else {
        list_push(&g->ready, &h->node);
        if (g->qlen++ == 0)
            evfd_set(g, 1);
    }
    pthread_mutex_unlock(&g->lock);
    if (refused) {
        atomic_fetch_add(&g->refused, 1);
        refuse(h->io.fd, 503);
        free(h);
    }
}

/* ---------------------------------------------------------------- held connections */

static void arm(gt_t *g)
{
    list_t *first = list_first(&g->held);
    if (first)
        el_timer_arm(g->loop, &g->timer, DG_CONTAINER_OF(first, held_t, node)->deadline);
    else
        el_timer_cancel(g->loop, &g->timer);
}

/* Takes h off the held list and the loop; its fd stays open (io.fd keeps it). */
static void release(gt_t *g, held_t *h)
{
    int fd = h->io.fd;
    el_io_del(g->loop, &h->io);
    h->io.fd = fd;
    list_unlink(&h->node);
    g->nheld--;
    atomic_fetch_sub(&g->npending, 1);
}

static void drop(gt_t *g, held_t *h, int status)
{
    release(g, h);
    if (status)
        refuse(h->io.fd, status);
    else
        close(h->io.fd);
    free(h);
}

static void pass(gt_t *g, held_t *h)
{
    release(g, h);
    queue_push(g, h);
}

/* Content-Length of the head in p[0..len) (which ends in CRLFCRLF), 0 when absent or odd. */
static size_t content_length(const char *p, size_t len)
{
    const char *end = p + len;
    const char *line = memchr(p, '\n', len);
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            break;
        size_t n = (size_t)(eol - line);
        if (n > 15 && strncasecmp(line, "content-length:", 15) == 0) {
            size_t v = 0;
            const char *d = line + 15;
            while (d < eol && (*d == ' ' || *d == '\t'))
                d++;
            for (; d < eol && *d >= '0' && *d <= '9'; d++) {
                if (v > (SIZE_MAX - 9) / 10)
                    return 0;
                v = v * 10 + (size_t)(*d - '0');
            }
            return v;
        }
        line = eol;
    }
    return 0;
}

static void held_ready(el_io_t *io, uint32_t events)
{
    held_t *h = DG_CONTAINER_OF(io, held_t, io);
    gt_t *g = h->g;
    (void)events;
    ssize_t n = recv(io->fd, g->peek, g->peek_cap, MSG_PEEK);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        atomic_fetch_add(&g->left, 1);
        drop(g, h, 0);
        return;
    }
    if (n < 0)
        return;
    size_t scan = (size_t)n < g->cfg.head_max ? (size_t)n : g->cfg.head_max;
    const char *end = memmem(g->peek, scan, "\r\n\r\n", 4);
    if (!end) {
        if ((size_t)n >= g->cfg.head_max)
            pass(g, h); /* over the limit: CivetWeb answers it (400) at once, the bytes are here */
        return;
    }
    size_t head = (size_t)(end - g->peek) + 4;
    size_t body = content_length(g->peek, head);
    size_t need = head + (body <= g->cfg.body_max ? body : 0);
    if ((size_t)n >= need)
        pass(g, h);
}

static void timer_cb(el_timer_t *t)
{
    gt_t *g = DG_CONTAINER_OF(t, gt_t, timer);
    int64_t now = el_now_ms();
    list_t *first;
    while ((first = list_first(&g->held))) {
        held_t *h = DG_CONTAINER_OF(first, held_t, node);
        if (h->deadline > now)
            break;
        atomic_fetch_add(&g->timed_out, 1);
        drop(g, h, 408);
    }
    arm(g);
}

/* ---------------------------------------------------------------- accepting */

/* At the fd limit: the spare fd makes room to accept one connection and refuse it, so the
 * listening socket does not stay readable (and spin) with nobody able to take it. */
static void refuse_at_limit(gt_t *g)
{
    if (g->spare < 0)
        return;
    close(g->spare);
    int fd = ho_accept_raw(g->lio.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
        atomic_fetch_add(&g->refused, 1);
        refuse(fd, 503);
    }
    g->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void listen_cb(el_io_t *io, uint32_t events)
{
    gt_t *g = DG_CONTAINER_OF(io, gt_t, lio);
    (void)events;
    for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
        struct sockaddr_in a;
        socklen_t alen = sizeof(a);
        int fd = ho_accept_raw(io->fd, (struct sockaddr *)&a, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE)
                refuse_at_limit(g);
            return;
        }
        atomic_fetch_add(&g->accepted, 1);
        if (g->nheld >= g->cfg.max_pending) {
            atomic_fetch_add(&g->evicted, 1);
            drop(g, DG_CONTAINER_OF(list_first(&g->held), held_t, node), 408);
        }
        held_t *h = calloc(1, sizeof(*h));
        if (!h) {
            atomic_fetch_add(&g->refused, 1);
            refuse(fd, 503);
            continue;
        }
        h->g = g;
        h->addr = a;
        h->io.cb = held_ready;
        h->deadline = el_now_ms() + g->cfg.header_timeout_ms;
        if (el_io_add(g->loop, &h->io, fd, EPOLLIN | EPOLLRDHUP | EPOLLET) != DG_OK) {
            free(h);
            refuse(fd, 503);
            continue;
        }
        list_push(&g->held, &h->node);
        g->nheld++;
        atomic_fetch_add(&g->npending, 1);
        if (!el_timer_armed(&g->timer))
            arm(g);
    }
}

/* ---------------------------------------------------------------- lifecycle */

gt_t *gt_new(el_t *l, const gt_cfg_t *cfg)
{
    gt_t *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->loop = l;
    g->cfg = *cfg;
    g->lio.fd = -1;
    g->lio.cb = listen_cb;
    g->fake_fd = -1;
    g->timer.cb = timer_cb;
    list_init(&g->held);
    list_init(&g->ready);
    pthread_mutex_init(&g->lock, NULL);
    pthread_mutex_init(&g->wait_mu, NULL);
    pthread_cond_init(&g->wait_cv, NULL);
    g->peek_cap = cfg->head_max + cfg->body_max;
    g->peek = malloc(g->peek_cap);
    g->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (!g->peek) {
        gt_free(g);
        return NULL;
    }
    return g;
}

/* Runs fn on the gate's loop and waits for it (main thread only). */
typedef struct sync_call {
    gt_t *g;
    void (*fn)(gt_t *g);
} sync_call_t;

static void sync_task(void *arg, int cancelled)
{
    sync_call_t *c = arg;
    c->fn(c->g); /* cancelled: the loop is gone, nothing else touches the gate */
    (void)cancelled;
    pthread_mutex_lock(&c->g->wait_mu);
    c->g->wait_done = 1;
    pthread_cond_signal(&c->g->wait_cv);
    pthread_mutex_unlock(&c->g->wait_mu);
}

static void run_sync(gt_t *g, void (*fn)(gt_t *g))
{
    sync_call_t c = {g, fn};
    g->wait_done = 0;
    if (el_post(g->loop, sync_task, &c) != DG_OK) {
        fn(g);
        return;
    }
    pthread_mutex_lock(&g->wait_mu);
    while (!g->wait_done)
        pthread_cond_wait(&g->wait_cv, &g->wait_mu);
    pthread_mutex_unlock(&g->wait_mu);
}

static void watch_listener(gt_t *g)
{
    if (el_io_add(g->loop, &g->lio, g->lio.fd, EPOLLIN) != DG_OK)
        log_error("gate", "cannot watch the listening socket: %s", strerror(errno));
}

/* The listening socket of this process on port (what CivetWeb opened), or -1. */
static int find_listener(int port)
{
    struct rlimit rl;
    int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
    for (int fd = 0; fd < max; fd++) {
        int on = 0;
        socklen_t len = sizeof(on);
        struct sockaddr_in a;
        socklen_t alen = sizeof(a);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) != 0 || !on)
            continue;
        if (getsockname(fd, (struct sockaddr *)&a, &alen) == 0 && a.sin_family == AF_INET &&
            ntohs(a.sin_port) == port)
            return fd;
    }
    return -1;
}

int gt_attach(gt_t *g, int port, char *errstr, size_t errlen)
{
    int cw = find_listener(port);
    if (cw < 0) {
        snprintf(errstr, errlen, "no listening socket on port %d", port);
        return DG_ENOTFOUND;
    }
    int real = fcntl(cw, F_DUPFD_CLOEXEC, 0);
    int ev = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (real < 0 || ev < 0 || dup2(ev, cw) < 0) {
        snprintf(errstr, errlen, "cannot take the listening socket over: %s", strerror(errno));
        if (real >= 0)
            close(real);
        if (ev >= 0)
            close(ev);
        return DG_EIO;
    }
    close(ev);
    fcntl(cw, F_SETFD, FD_CLOEXEC);
    int fl = fcntl(real, F_GETFL);
    fcntl(real, F_SETFL, (fl < 0 ? 0 : fl) | O_NONBLOCK);
    g->fake_fd = cw;
    g->lio.fd = real;
    ho_set_source(cw, gate_next, g);
    run_sync(g, watch_listener);
    return DG_OK;
}

static void stop_on_loop(gt_t *g)
{
    if (g->lio.fd >= 0) {
        int fd = g->lio.fd;
        el_io_del(g->loop, &g->lio);
        close(fd);
    }
    list_t *first;
    while ((first = list_first(&g->held))) {
        atomic_fetch_add(&g->refused, 1);
        drop(g, DG_CONTAINER_OF(first, held_t, node), 503);
    }
    el_timer_cancel(g->loop, &g->timer);
}

void gt_stop(gt_t *g)
{
    if (!g)
        return;
    run_sync(g, stop_on_loop);
    ho_set_source(g->fake_fd, NULL, NULL);
    pthread_mutex_lock(&g->lock);
    g->stopped = 1;
    list_t *first;
    while ((first = list_first(&g->ready))) {
        held_t *h = DG_CONTAINER_OF(first, held_t, node);
        list_unlink(first);
        g->qlen--;
        atomic_fetch_add(&g->refused, 1);
        refuse(h->io.fd, 503);
        free(h);
    }
    evfd_set(g, 0);
    pthread_mutex_unlock(&g->lock);
}

void gt_release_master(gt_t *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    evfd_set(g, 1); /* accept() on it now fails with EAGAIN: the master goes round and stops */
    g->fake_fd = -1; /* CivetWeb closes that number in mg_stop: never touch it again */
    pthread_mutex_unlock(&g->lock);
}

void gt_free(gt_t *g)
{
    if (!g)
        return;
    free(g->peek);
    if (g->spare >= 0)
        close(g->spare);
    pthread_mutex_destroy(&g->lock);
    pthread_mutex_destroy(&g->wait_mu);
    pthread_cond_destroy(&g->wait_cv);
    free(g);
}

void gt_get_stats(gt_t *g, gt_stats_t *out)
{
    out->accepted = atomic_load(&g->accepted);
    out->passed = atomic_load(&g->passed);
    out->timed_out = atomic_load(&g->timed_out);
    out->evicted = atomic_load(&g->evicted);
    out->refused = atomic_load(&g->refused);
    out->left = atomic_load(&g->left);
    out->pending = atomic_load(&g->npending);
    pthread_mutex_lock(&g->lock);
    out->queued = (int)g->qlen;
    pthread_mutex_unlock(&g->lock);
}
