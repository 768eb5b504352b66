/* check_conn.c - connections on a real loop over loopback TCP pairs: bytes arrive whole and in
 * order through partial writes and EAGAIN; a peer that stops reading is closed as stalled (RST)
 * without delaying a reading peer on the same loop; peer close, graceful finish, the pending
 * limit, asynchronous close and reads larger than the read budget. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "dg.h"
#include "loop.h"
#include "msg.h"

/* ---------------------------------------------------------------- a test transport */

#define QMAX 8192

typedef struct tq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    msg_t *q[QMAX];
    int head, n;
    int opened, close_calls, reason, freed;
    size_t got_in; /* bytes read from the peer */
    int64_t closed_at;
    int fills_empty;     /* fill() calls that found nothing queued */
    size_t unsent_empty; /* cn_unsent() at the last of them */
} tq_t;

typedef struct tconn {
    tq_t *t;
} tconn_t;

static tq_t *tq_of(cn_t *c)
{
    return ((tconn_t *)cn_data(c))->t;
}

static int t_open(cn_t *c)
{
    tq_t *t = tq_of(c);
    pthread_mutex_lock(&t->mu);
    t->opened = 1;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return 0;
}

static int t_read(cn_t *c, const char *d, size_t n)
{
    (void)d;
    tq_t *t = tq_of(c);
    pthread_mutex_lock(&t->mu);
    t->got_in += n;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return 0;
}

static int t_fill(cn_t *c, cn_out_t *o)
{
    tq_t *t = tq_of(c);
    size_t unsent = cn_unsent(c);
    pthread_mutex_lock(&t->mu);
    if (!t->n) {
        t->fills_empty++;
        t->unsent_empty = unsent;
    }
    while (t->n) {
        msg_t *m = t->q[t->head];
        if (cn_out_msg(o, m, m->ws + m->ws_hdr_len, m->ws_len - m->ws_hdr_len) != 0)
            break;
        msg_unref(m);
        t->head = (t->head + 1) % QMAX;
        t->n--;
    }
    int more = t->n > 0;
    if (!more)
        pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return more;
}

static void t_close(cn_t *c, int reason)
{
    tq_t *t = tq_of(c);
    pthread_mutex_lock(&t->mu);
    t->close_calls++;
    t->reason = reason;
    t->closed_at = el_now_ms();
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void t_free(cn_t *c)
{
    tq_t *t = tq_of(c);
    pthread_mutex_lock(&t->mu);
    t->freed++;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static const cn_ops_t tops = {CN_KIND_SSE, t_open, t_read, t_fill, t_close, t_free, NULL};

static void tq_init(tq_t *t)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
}

static void tq_clear(tq_t *t)
{
    while (t->n) {
        msg_unref(t->q[t->head]);
        t->head = (t->head + 1) % QMAX;
        t->n--;
    }
}

/* Queues n messages of size bytes each; message i is filled with byte 'a' + i % 26. */
static void tq_push(tq_t *t, cn_t *c, int n, size_t size, int first)
{
    char *p = malloc(size);
    for (int i = first; i < first + n; i++) {
        memset(p, 'a' + i % 26, size);
        msg_t *m = msg_new_packet(p, size, 0);
        ck_assert_ptr_nonnull(m);
        pthread_mutex_lock(&t->mu);
        ck_assert_int_lt(t->n, QMAX);
        t->q[(t->head + t->n++) % QMAX] = m;
        pthread_mutex_unlock(&t->mu);
    }
    free(p);
    cn_wake(c);
}

/* Waits until pred(t) holds; fails after 10 s (a deadline, not a sleep). */
static void tq_wait(tq_t *t, int (*pred)(tq_t *), const char *what)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&t->mu);
    while (!pred(t))
        if (pthread_cond_timedwait(&t->cv, &t->mu, &ts) == ETIMEDOUT)
            ck_abort_msg("timed out waiting for %s", what);
    pthread_mutex_unlock(&t->mu);
}

static int is_open(tq_t *t)
{
    return t->opened;
}
static int is_closed(tq_t *t)
{
    return t->close_calls > 0;
}
static int queue_taken(tq_t *t)
{
    return t->n == 0;
}
static int is_freed(tq_t *t)
{
    return t->freed > 0;
}

/* ---------------------------------------------------------------- sockets */

/* A connected loopback TCP pair: fds[0] ours (non-blocking), fds[1] the peer's. */
static void tcp_pair(int fds[2], int small_buffers)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(l, 0);
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(l, 4), 0);
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
    fds[1] = socket(AF_INET, SOCK_STREAM, 0);
    if (small_buffers) {
        int sz = 4096;
        setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    }
    ck_assert_int_eq(connect(fds[1], (struct sockaddr *)&a, sizeof(a)), 0);
    fds[0] = accept4(l, NULL, NULL, SOCK_NONBLOCK);
    ck_assert_int_ge(fds[0], 0);
    if (small_buffers) {
        int sz = 4096;
        setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    close(l);
}

/* A peer thread that reads everything until EOF and checks the byte pattern. */
typedef struct peer {
    int fd;
    size_t msg_size;
    size_t got;
    int bad;
    int eof, reset;
    int delay_us; /* between reads: a slow but live client */
    pthread_t th;
} peer_t;

static void *peer_main(void *arg)
{
    peer_t *p = arg;
    char buf[8192];
    for (;;) {
        ssize_t n = read(p->fd, buf, sizeof(buf));
        if (n == 0) {
            p->eof = 1;
            break;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            p->reset = errno == ECONNRESET;
            break;
        }
        size_t got = p->got;
        for (ssize_t i = 0; i < n; i++, got++)
            if (buf[i] != 'a' + (int)((got / p->msg_size) % 26))
                p->bad++;
        __atomic_store_n(&p->got, got, __ATOMIC_RELAXED);
        if (p->delay_us) {
            struct timespec ts = {0, p->delay_us * 1000L};
            nanosleep(&ts, NULL); /* pacing the client, not waiting for the server */
        }
    }
    return NULL;
}

static cn_env_t env;

static uint64_t total_bytes(void)
{
    cn_totals_t t;
    cn_env_totals(&env, &t);
    return t.bytes[CN_KIND_SSE];
}

static uint64_t total_closed(int reason)
{
    cn_totals_t t;
    cn_env_totals(&env, &t);
    return t.closed[CN_KIND_SSE][reason];
}

static el_t *L;
static tq_t TA, TB;

static void setup(void)
{
    char err[128];
    cn_env_init(&env);
    env.write_timeout_ms = 2000;
    env.linger_ms = 500;
    env.pending_max = 1 << 20;
    L = el_new(0, err, sizeof(err));
    ck_assert_ptr_nonnull(L);
    ck_assert_int_eq(el_start(L), 0);
    tq_init(&TA);
    tq_init(&TB);
}

static void teardown(void)
{
    el_free(L);
    cn_env_destroy(&env);
    tq_clear(&TA);
    tq_clear(&TB);
}

static cn_t *start_conn(tq_t *t, int fd, cn_env_t *e)
{
    cn_t *c = cn_new(L, fd, &tops, e, sizeof(tconn_t));
    ck_assert_ptr_nonnull(c);
    ((tconn_t *)cn_data(c))->t = t;
    cn_ref(c); /* the test's own */
    cn_start(c);
    tq_wait(t, is_open, "open");
    return c;
}

/* ---------------------------------------------------------------- tests */

START_TEST(bytes_whole_and_in_order_through_partial_writes)
{
    int fds[2];
    tcp_pair(fds, 1);
    cn_t *c = start_conn(&TA, fds[0], &env);
    peer_t p = {.fd = fds[1], .msg_size = 1000, .delay_us = 200};
    pthread_create(&p.th, NULL, peer_main, &p);
    uint64_t before = total_bytes();
    for (int k = 0; k < 4; k++)
        tq_push(&TA, c, 500, 1000, k * 500); /* 2 MB through a 4 KB window */
    struct timespec ts = {0, 1000000};
    for (int i = 0; i < 10000 && total_bytes() - before < 2000000; i++)
        nanosleep(&ts, NULL); /* polling a counter with a deadline */
    ck_assert_uint_eq(total_bytes() - before, 2000000);
    shutdown(fds[1], SHUT_WR); /* the peer leaves: EOF at our side */
    tq_wait(&TA, is_closed, "close");
    pthread_join(p.th, NULL);
    ck_assert_uint_eq(p.got, 2000000);
    ck_assert_int_eq(p.bad, 0);
    ck_assert_int_eq(TA.reason, CN_CLOSE_PEER);
    ck_assert_int_eq(TA.close_calls, 1);
    cn_unref(c);
    tq_wait(&TA, is_freed, "free");
    close(fds[1]);
}
END_TEST

/* Connection A, whose peer never reads, and B, whose peer thread reads everything. */
typedef struct pair {
    int a[2], b[2];
    cn_t *ca, *cb;
    peer_t pb;
} pair_t;

static void pair_start(pair_t *p, cn_env_t *e, int small_buffers)
{
    tcp_pair(p->a, small_buffers);
    tcp_pair(p->b, small_buffers);
    p->ca = start_conn(&TA, p->a[0], e);
    p->cb = start_conn(&TB, p->b[0], e);
    p->pb = (peer_t){.fd = p->b[1], .msg_size = 1000};
    pthread_create(&p->pb.th, NULL, peer_main, &p->pb);
}

START_TEST(stalled_peer_closed_and_reading_peer_not_delayed)
{
    pair_t p;
    pair_start(&p, &env, 1);
    int *a = p.a, *b = p.b;
    cn_t *ca = p.ca, *cb = p.cb;
    tq_push(&TA, ca, 3000, 1000, 0);
    tq_push(&TB, cb, 3000, 1000, 0);
    /* B gets all 3 MB while A is still open, then A is closed as stalled: B never waited. */
    struct timespec ts = {0, 1000000};
    for (int i = 0; i < 10000 && __atomic_load_n(&p.pb.got, __ATOMIC_RELAXED) < 3000000; i++)
        nanosleep(&ts, NULL); /* polling the peer's count with a deadline */
    pthread_mutex_lock(&TA.mu);
    int a_open = TA.close_calls == 0;
    pthread_mutex_unlock(&TA.mu);
    ck_assert_msg(a_open, "the stalled connection was closed before the reading one finished");
    shutdown(b[1], SHUT_WR);
    tq_wait(&TB, is_closed, "B done");
    pthread_join(p.pb.th, NULL);
    ck_assert_uint_eq(p.pb.got, 3000000);
    ck_assert_int_eq(p.pb.bad, 0);
    tq_wait(&TA, is_closed, "A closed");
    ck_assert_int_eq(TA.reason, CN_CLOSE_STALL);
    ck_assert_uint_ge(total_closed(CN_CLOSE_STALL), 1);
    /* A was reset: its peer sees ECONNRESET once the buffered bytes are read, not a clean EOF. */
    peer_t pa = {.fd = a[1], .msg_size = 1000};
    peer_main(&pa);
    ck_assert(pa.reset);
    ck_assert_int_eq(pa.bad, 0);
    cn_unref(ca);
    cn_unref(cb);
    close(a[1]);
    close(b[1]);
}
END_TEST

/* The kernel's send buffer (autotuned, default sizes here) takes what a peer that stopped reading
 * is owed off the transport's queue: cn_unsent() counts it, the transport gets one more fill()
 * once the kernel took it (nothing queued then, so that is the only way a soft limit sees it
 * before its next timer), and once the peer has read everything cn_unsent() is 0 again. */
static int saw_kernel_backlog(tq_t *t)
{
    return t->fills_empty > 0 && t->unsent_empty >= 500000;
}
static int saw_nothing_unsent(tq_t *t)
{
    return t->fills_empty > 1 && t->unsent_empty == 0;
}

START_TEST(kernel_backlog_counted_by_cn_unsent)
{
    cn_env_t e2;
    cn_env_init(&e2);
    e2.write_timeout_ms = 20000;
    e2.linger_ms = 500;
    e2.pending_max = 8 << 20;
    e2.unsent_every = 64 * 1024;
    int fds[2];
    tcp_pair(fds, 0);
    cn_t *c = start_conn(&TA, fds[0], &e2);
    tq_push(&TA, c, 1000, 1000, 0);
    tq_wait(&TA, queue_taken, "every message taken by fill()");
    tq_wait(&TA, saw_kernel_backlog, "a fill() with nothing queued that sees the kernel's backlog");
    ck_assert_int_eq(cn_closed(c), 0);
    peer_t p = {.fd = fds[1], .msg_size = 1000};
    pthread_create(&p.th, NULL, peer_main, &p);
    struct timespec ts = {0, 1000000};
    for (int i = 0; i < 10000 && __atomic_load_n(&p.got, __ATOMIC_RELAXED) < 1000000; i++)
        nanosleep(&ts, NULL); /* polling the peer's count with a deadline */
    ck_assert_uint_eq(__atomic_load_n(&p.got, __ATOMIC_RELAXED), 1000000);
    pthread_mutex_lock(&TA.mu);
    TA.fills_empty = 1;
    pthread_mutex_unlock(&TA.mu);
    cn_wake(c);
    tq_wait(&TA, saw_nothing_unsent, "a fill() that sees the backlog gone");
    shutdown(fds[1], SHUT_WR);
    tq_wait(&TA, is_closed, "closed");
    pthread_join(p.th, NULL);
    ck_assert_int_eq(p.bad, 0);
    ck_assert_int_eq(TA.reason, CN_CLOSE_PEER);
    cn_unref(c);
    tq_wait(&TA, is_freed, "freed");
    close(fds[1]);
    cn_env_destroy(&e2);
}
END_TEST

START_TEST(peer_close_seen_at_once)
{
    int fds[2];
    tcp_pair(fds, 0);
    cn_t *c = start_conn(&TA, fds[0], &env);
    close(fds[1]);
    tq_wait(&TA, is_closed, "close");
    ck_assert_int_eq(TA.reason, CN_CLOSE_PEER);
    ck_assert_int_eq(cn_closed(c), CN_CLOSE_PEER);
    cn_unref(c);
    tq_wait(&TA, is_freed, "free");
    ck_assert_int_eq(TA.freed, 1);
}
END_TEST

static cn_t *finish_c;
static void do_finish(void *arg, int cancelled)
{
    (void)cancelled;
    ck_assert_int_eq(cn_write(finish_c, arg, strlen(arg)), 0);
    cn_finish(finish_c, CN_CLOSE_DONE);
}

START_TEST(finish_writes_everything_then_fin)
{
    int fds[2];
    tcp_pair(fds, 1);
    finish_c = start_conn(&TA, fds[0], &env);
    peer_t p = {.fd = fds[1], .msg_size = 1000, .delay_us = 100};
    pthread_create(&p.th, NULL, peer_main, &p);
    tq_push(&TA, finish_c, 200, 1000, 0);
    tq_wait(&TA, queue_taken, "every message taken by fill()");
    static char tail[1001];
    memset(tail, 'a' + 200 % 26, 1000);
    el_post(L, do_finish, tail); /* after whatever is still pending, then the FIN */
    pthread_join(p.th, NULL); /* reads to EOF */
    ck_assert(p.eof);
    ck_assert_uint_eq(p.got, 201000);
    ck_assert_int_eq(p.bad, 0);
    close(fds[1]); /* our FIN: the lingering close ends */
    tq_wait(&TA, is_closed, "close");
    ck_assert_int_eq(TA.reason, CN_CLOSE_DONE);
    cn_unref(finish_c);
}
END_TEST

static void write_too_much(void *arg, int cancelled)
{
    (void)cancelled;
    static char big[300000];
    cn_t *c = arg;
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++)
        rc = cn_write(c, big, sizeof(big));
    ck_assert_int_eq(rc, DG_ELIMIT);
    ck_assert_int_eq(cn_write(c, "x", 1), DG_ECLOSED);
}

START_TEST(pending_over_its_limit_is_a_hard_limit_close)
{
    int fds[2];
    tcp_pair(fds, 1);
    cn_t *c = start_conn(&TA, fds[0], &env);
    el_post(L, write_too_much, c);
    tq_wait(&TA, is_closed, "close");
    ck_assert_int_eq(TA.reason, CN_CLOSE_HARD_LIMIT);
    cn_unref(c);
    close(fds[1]);
}
END_TEST

START_TEST(close_async_and_large_reads)
{
    int fds[2];
    tcp_pair(fds, 0);
    cn_t *c = start_conn(&TA, fds[0], &env);
    static char big[1 << 20];
    size_t off = 0;
    while (off < sizeof(big)) {
        ssize_t n = write(fds[1], big + off, sizeof(big) - off);
        ck_assert_int_gt(n, 0);
        off += (size_t)n;
    }
    struct timespec ts = {0, 1000000};
    for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&TA.mu);
        size_t got = TA.got_in;
        pthread_mutex_unlock(&TA.mu);
        if (got == sizeof(big))
            break;
        nanosleep(&ts, NULL);
    }
    ck_assert_uint_eq(TA.got_in, sizeof(big)); /* more than one read budget: nothing stuck */
    cn_close_async(c, CN_CLOSE_SOFT_LIMIT);
    cn_close_async(c, CN_CLOSE_ERROR); /* the first reason wins */
    tq_wait(&TA, is_closed, "close");
    ck_assert_int_eq(TA.reason, CN_CLOSE_SOFT_LIMIT);
    ck_assert_int_eq(TA.close_calls, 1);
    cn_unref(c);
    close(fds[1]);
}
END_TEST

START_TEST(close_all_and_wait_idle)
{
    int a[2], b[2];
    tcp_pair(a, 0);
    tcp_pair(b, 0);
    cn_t *ca = start_conn(&TA, a[0], &env);
    cn_t *cb = start_conn(&TB, b[0], &env);
    ck_assert_int_eq(cn_env_wait_idle(&env, el_now_ms()), 2);
    cn_env_close_all(&env, CN_KIND_SSE, CN_CLOSE_SHUTDOWN);
    /* graceful: FIN first; the peers see EOF, close, and the lingering closes end */
    peer_t pa = {.fd = a[1], .msg_size = 1}, pb = {.fd = b[1], .msg_size = 1};
    peer_main(&pa);
    peer_main(&pb);
    ck_assert(pa.eof && pb.eof);
    close(a[1]);
    close(b[1]);
    ck_assert_int_eq(cn_env_wait_idle(&env, el_now_ms() + 5000), 0);
    ck_assert_int_eq(TA.reason, CN_CLOSE_SHUTDOWN);
    ck_assert_int_eq(TB.reason, CN_CLOSE_SHUTDOWN);
    cn_unref(ca);
    cn_unref(cb);
}
END_TEST

START_TEST(names)
{
    ck_assert_str_eq(cn_reason_name(CN_CLOSE_STALL), "write_stall");
    ck_assert_str_eq(cn_reason_name(99), "unknown");
    ck_assert_str_eq(cn_kind_name(CN_KIND_POLLING), "polling");
}
END_TEST

Suite *conn_suite(void)
{
    Suite *s = suite_create("conn");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, bytes_whole_and_in_order_through_partial_writes);
    tcase_add_test(tc, stalled_peer_closed_and_reading_peer_not_delayed);
    tcase_add_test(tc, kernel_backlog_counted_by_cn_unsent);
    tcase_add_test(tc, peer_close_seen_at_once);
    tcase_add_test(tc, finish_writes_everything_then_fin);
    tcase_add_test(tc, pending_over_its_limit_is_a_hard_limit_close);
    tcase_add_test(tc, close_async_and_large_reads);
    tcase_add_test(tc, close_all_and_wait_idle);
    tcase_add_test(tc, names);
    suite_add_tcase(s, tc);
    return s;
}
