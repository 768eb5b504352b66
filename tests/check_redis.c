/* check_redis.c - redis.c against a real redis-server on a free loopback port: live events
 * through the real broker, reconnect after CLIENT KILL without loss, the log stream round
 * trip, replays with gap detection, health, and behaviour with Redis down.
 * The server is started once per test case (unchecked fixture) and stopped by PID; waits are
 * on condition variables or on polled conditions with a deadline, never fixed sleeps. */
#include <check.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "buf.h"
#include "config.h"
#include "cursor.h"
#include "dg.h"
#include "log.h"
#include "loop.h"
#include "msg.h"
#include "redis.h"
#include "../src/rds_int.h" /* rds_reply.c, private */

/* ---------------------------------------------------------------------------------------- */
/* redis-server                                                                             */
/* ---------------------------------------------------------------------------------------- */

static pid_t srv_pid = -1;
static int srv_port;
static int srv_out = -1; /* its stdout: we wait for the ready line instead of sleeping */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    if (fd < 0)
        return 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void srv_start(void)
{
    int pfd[2];
    char port[16], line[4096];
    size_t have = 0;

    srv_port = free_port();
    if (!srv_port || pipe(pfd) != 0)
        return;
    snprintf(port, sizeof(port), "%d", srv_port);
    srv_pid = fork();
    if (srv_pid == 0) {
        dup2(pfd[1], STDOUT_FILENO);
        close(pfd[0]);
        close(pfd[1]);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--logfile", "", "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    srv_out = pfd[0];
    int64_t until = mono_ms() + 10000;
    while (srv_pid > 0 && mono_ms() < until) {
        struct pollfd p = {.fd = srv_out, .events = POLLIN};
        if (poll(&p, 1, (int)(until - mono_ms())) <= 0)
            break;
        ssize_t n = read(srv_out, line + have, sizeof(line) - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        line[have] = '\0';
        if (strstr(line, "Ready to accept connections"))
            return;
        if (have > sizeof(line) / 2) { /* keep the tail: the marker may straddle reads */
            memmove(line, line + have - 64, 64);
            have = 64;
        }
    }
    fprintf(stderr, "check_redis: redis-server did not start; redis tests skipped\n");
    if (srv_pid > 0) {
        kill(srv_pid, SIGKILL);
        waitpid(srv_pid, NULL, 0);
    }
    srv_pid = -1;
    srv_port = 0;
}

static void srv_stop(void)
{
    if (srv_pid > 0) {
        kill(srv_pid, SIGCONT); /* a test may have left it frozen; SIGTERM waits for that */
        kill(srv_pid, SIGTERM);
        waitpid(srv_pid, NULL, 0);
    }
    if (srv_out >= 0)
        close(srv_out);
    srv_pid = -1;
    srv_out = -1;
}

/* Without redis-server the test cannot run: skipped on a developer's machine, a failure in
 * CI (CI set), so a broken CI image cannot pass silently. */
#define NEED_REDIS()                                                                              \
    do {                                                                                          \
        if (!srv_port) {                                                                          \
            ck_assert_msg(!getenv("CI"), "redis-server did not start (CI is set: not skipped)");   \
            return;                                                                               \
        }                                                                                         \
    } while (0)

/* The test's own connection (XADD, XTRIM, CLIENT KILL ...). */
static redisContext *tc_conn(void)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", srv_port, tv);
    ck_assert_ptr_nonnull(c);
    ck_assert_msg(!c->err, "connect: %s", c->errstr);
    redisSetTimeout(c, tv);
    return c;
}

/* Runs a command given as argv strings; returns the reply (caller frees). */
static redisReply *tc_cmd(redisContext *c, int argc, const char **argv, const size_t *lens)
{
    redisReply *rep = redisCommandArgv(c, argc, argv, lens);
    ck_assert_msg(rep != NULL, "command %s: %s", argv[0], c->errstr);
    ck_assert_msg(rep->type != REDIS_REPLY_ERROR, "command %s: %s", argv[0], rep->str);
    return rep;
}

#define CMD(c, ...)                                                                               \
    do {                                                                                          \
        const char *argv_[] = {__VA_ARGS__};                                                      \
        freeReplyObject(tc_cmd(c, (int)DG_ARRAY_LEN(argv_), argv_, NULL));                        \
    } while (0)

/* XADD key * fields...; returns the new id. */
static cur_id_t xadd(redisContext *c, const char *key, int nf, const char *const *kv)
{
    const char *argv[64];
    int argc = 0;
    argv[argc++] = "XADD";
    argv[argc++] = key;
    argv[argc++] = "*";
    for (int i = 0; i < nf; i++)
        argv[argc++] = kv[i];
    redisReply *rep = tc_cmd(c, argc, argv, NULL);
    cur_id_t id;
    ck_assert_int_eq(rep->type, REDIS_REPLY_STRING);
    ck_assert_int_eq(cur_id_parse(rep->str, rep->len, &id), 0);
    freeReplyObject(rep);
    return id;
}

#define XADD(c, key, ...)                                                                         \
    xadd(c, key, (int)DG_ARRAY_LEN(((const char *[]){__VA_ARGS__})), (const char *[]){__VA_ARGS__})

/* ---------------------------------------------------------------------------------------- */
/* A broker subscriber that records what it is given                                        */
/* ---------------------------------------------------------------------------------------- */

typedef struct rec {
    bk_sub_t sub;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    msg_t *msgs[4096];
    int n;
} rec_t;

static void rec_deliver(bk_sub_t *s, msg_t *m)
{
    rec_t *r = s->owner;
    pthread_mutex_lock(&r->lock);
    if (r->n < (int)DG_ARRAY_LEN(r->msgs)) {
        msg_ref(m);
        r->msgs[r->n++] = m;
    }
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static void rec_init(rec_t *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->sub.deliver = rec_deliver;
    r->sub.owner = r;
}

static void rec_free(bk_t *b, rec_t *r)
{
    bk_leave_all(b, &r->sub);
    for (int i = 0; i < r->n; i++)
        msg_unref(r->msgs[i]);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
}

/* Waits until *count (guarded by lock, signalled on cond) reaches n; returns its value. */
static int wait_count(pthread_mutex_t *lock, pthread_cond_t *cond, const int *count, int n,
                      int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(lock);
    while (*count < n && pthread_cond_timedwait(cond, lock, &ts) != ETIMEDOUT)
        ;
    int got = *count;
    pthread_mutex_unlock(lock);
    return got;
}

/* Waits until r holds at least n messages; returns how many it holds. */
static int rec_wait(rec_t *r, int n, int timeout_ms)
{
    return wait_count(&r->lock, &r->cond, &r->n, n, timeout_ms);
}

/* Polls a condition with a deadline (for state that has no event of its own). */
static int poll_until(int (*fn)(void *), void *arg, int timeout_ms)
{
    int64_t until = mono_ms() + timeout_ms;
    while (!fn(arg)) {
        if (mono_ms() >= until)
            return 0;
        struct pollfd none;
        poll(&none, 0, 2);
    }
    return 1;
}

static int is_ready(void *r)
{
    return rds_ready(r);
}

/* Every reader and the command connection (which has no event of its own). */
static int fully_connected(void *r)
{
    rds_health_t h;
    rds_get_health(r, &h, 0);
    return h.connected;
}

static int four_logs_published(void *r)
{
    rds_health_t h;
    rds_get_health(r, &h, 0);
    return h.logs_published >= 4;
}

static int all_connected(void *r)
{
    rds_health_t h;
    rds_get_health(r, &h, 0);
    for (int i = 0; i < h.nstreams; i++)
        if (!h.streams[i].connected)
            return 0;
    return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Setup shared by the tests                                                                */
/* ---------------------------------------------------------------------------------------- */

static cfg_t cfg;

static void cfg_for_test(int port)
{
    cfg_defaults(&cfg);
    snprintf(cfg.redis_host, sizeof(cfg.redis_host), "127.0.0.1");
    cfg.redis_port = port;
    cfg.redis_db = 0;
    cfg.redis_user[0] = cfg.redis_password[0] = '\0';
    snprintf(cfg.prefix, sizeof(cfg.prefix), "bull");
    snprintf(cfg.queues[0], sizeof(cfg.queues[0]), "http");
    snprintf(cfg.queues[1], sizeof(cfg.queues[1]), "sparql");
    cfg.nqueues = 2;
    cfg.nevents = 0;
    snprintf(cfg.log_stream, sizeof(cfg.log_stream), "dualgate:logs");
    cfg.log_stream_maxlen = 1000;
}

static void tc_setup(void)
{
    srv_start();
    log_init(CFG_LOG_ERROR, CFG_LOG_OFF);
}

static void tc_teardown(void)
{
    srv_stop();
}

static void assert_msg(const msg_t *m, int kind, int stream, cur_id_t id, const char *event,
                       const char *json)
{
    ck_assert_int_eq(m->kind, kind);
    ck_assert_int_eq(m->stream, stream);
    ck_assert_msg(cur_id_cmp(m->id, id) == 0, "id %llu-%llu want %llu-%llu",
                  (unsigned long long)m->id.ms, (unsigned long long)m->id.seq,
                  (unsigned long long)id.ms, (unsigned long long)id.seq);
    ck_assert_str_eq(m->event, event);
    ck_assert_str_eq(m->json, json);
    ck_assert_uint_eq(m->json_len, strlen(json));
}

static const char *WIRE_RV = "{\"ok\":true,\"n\":1,\"text\":\"h\xc3\xa9llo \\\"quoted\\\"\\nline2\"}";
static const char *WIRE_JSON = "{\"queue\":\"http\",\"jobId\":\"wire-42\",\"returnvalue\":{\"ok\":true,"
                               "\"n\":1,\"text\":\"h\xc3\xa9llo \\\"quoted\\\"\\nline2\"},\"prev\":"
                               "\"active\"}";

/* ---------------------------------------------------------------------------------------- */
/* Tests                                                                                    */
/* ---------------------------------------------------------------------------------------- */

/* Loop tests run twice: _i 0 with the readers reading in their threads, _i 1 with them
 * following on two event loops, as in the daemon (rds_use_loops). */
static el_group_t *loops_on(rds_t *r, int on)
{
    if (!on)
        return NULL;
    char err[64];
    el_group_t *g = elg_new(2, err, sizeof(err));
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(elg_start(g), 0);
    rds_use_loops(r, g);
    return g;
}

/* fds the loops watch: one per reader following on them. */
static int loops_fds(el_group_t *g)
{
    int n = 0;
    for (int i = 0; g && i < elg_size(g); i++) {
        el_stats_t st;
        el_get_stats(elg_get(g, i), &st);
        n += st.nfds;
    }
    return n;
}

static el_group_t *fds_g;
static int fds_want;
static int loops_have_fds(void *unused)
{
    (void)unused;
    return loops_fds(fds_g) == fds_want;
}

/* After rds_stop: the readers have left the loops. */
static void loops_off(el_group_t *g)
{
    if (!g)
        return;
    ck_assert_int_eq(loops_fds(g), 0);
    elg_stop(g);
    elg_free(g);
}

START_TEST(test_live_events_and_reconnect)
{
    NEED_REDIS();
    redisContext *c = tc_conn();
    CMD(c, "FLUSHALL");
    /* Entries written before the reader starts are history: not replayed live. */
    XADD(c, "bull:http:events", "event", "added", "jobId", "old", "name", "x");
    cfg_for_test(srv_port);
    bk_t *bk = bk_new();
    rec_t all, job;
    rec_init(&all);
    rec_init(&job);
    ck_assert_int_eq(bk_join(bk, &all.sub, "queue:http", NULL, NULL), 0);
    ck_assert_int_eq(bk_join(bk, &all.sub, "queue:sparql", NULL, NULL), 0);
    ck_assert_int_eq(bk_join(bk, &job.sub, "job:wire-42", NULL, NULL), 0);

    rds_t *r = rds_new(&cfg, bk);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(rds_ready(r), 0);
    ck_assert_int_eq(rds_start(r), 0);
    el_group_t *g = loops_on(r, _i);
    ck_assert_msg(poll_until(is_ready, r, 5000), "readers never connected");

    const char *const *names = rds_stream_names(r);
    ck_assert_str_eq(names[0], "http");
    ck_assert_str_eq(names[1], "sparql");
    ck_assert_str_eq(names[2], "logs");
    ck_assert_ptr_null(names[3]);

    cur_id_t id1 = XADD(c, "bull:http:events", "event", "completed", "jobId", "wire-42",
                        "returnvalue", WIRE_RV, "prev", "active");
    XADD(c, "bull:http:events", "event", "drained");
    cur_id_t id2 = XADD(c, "bull:sparql:events", "event", "failed", "jobId", "wire-42",
                        "failedReason", "boom: \"bad\" thing\nsecond line", "prev", "active");
    cur_id_t id3 = XADD(c, "bull:http:events", "event", "delayed", "jobId", "7", "delay",
                        "1795314436882");
    ck_assert_int_eq(rec_wait(&all, 3, 5000), 3);
    ck_assert_int_eq(rec_wait(&job, 2, 5000), 2);

    /* Per-queue order is strict; across queues it is not, so find each by stream. */
    const msg_t *h0 = all.msgs[0]->stream == 0 ? all.msgs[0] : all.msgs[1];
    assert_msg(h0, MSG_JOB, 0, id1, "completed", WIRE_JSON);
    const msg_t *s0 = NULL, *h1 = NULL;
    for (int i = 0; i < 3; i++) {
        if (all.msgs[i]->stream == 1)
            s0 = all.msgs[i];
        else if (all.msgs[i] != h0)
            h1 = all.msgs[i];
    }
    ck_assert_ptr_nonnull(s0);
    ck_assert_ptr_nonnull(h1);
    assert_msg(s0, MSG_JOB, 1, id2, "failed",
               "{\"queue\":\"sparql\",\"jobId\":\"wire-42\",\"failedReason\":\"boom: \\\"bad\\\" "
               "thing\\nsecond line\",\"prev\":\"active\"}");
    assert_msg(h1, MSG_JOB, 0, id3, "delayed",
               "{\"queue\":\"http\",\"jobId\":\"7\",\"delay\":1795314436882}");
    /* The job room got both queues' events for the same job id. */
    ck_assert_str_eq(job.msgs[0]->event, job.msgs[0]->stream == 0 ? "completed" : "failed");
    ck_assert_str_eq(job.msgs[1]->event, job.msgs[1]->stream == 0 ? "completed" : "failed");
    ck_assert_int_ne(job.msgs[0]->stream, job.msgs[1]->stream);

    /* Kill every normal client (the readers and our own connection) mid-stream, keep writing:
     * the readers resume from their last id, so nothing is lost and nothing repeats. */
    enum { N = 200 };
    cur_id_t ids[N];
    char jid[16];
    for (int i = 0; i < N; i++) {
        if (i == N / 2) {
            const char *kill_argv[] = {"CLIENT", "KILL", "TYPE", "normal"};
            redisReply *rep = redisCommandArgv(c, 4, kill_argv, NULL);
            if (rep)
                freeReplyObject(rep);
            redisFree(c);
            c = tc_conn();
        }
        snprintf(jid, sizeof(jid), "k%d", i);
        ids[i] = XADD(c, "bull:http:events", "event", "progress", "jobId", jid, "data", "1");
    }
    ck_assert_int_eq(rec_wait(&all, 3 + N, 10000), 3 + N);
    for (int i = 0; i < N; i++) {
        char want[96];
        snprintf(want, sizeof(want), "{\"queue\":\"http\",\"jobId\":\"k%d\",\"data\":1}", i);
        assert_msg(all.msgs[3 + i], MSG_JOB, 0, ids[i], "progress", want);
    }
    ck_assert_msg(poll_until(all_connected, r, 5000), "readers did not reconnect");

    rds_health_t h;
    rds_get_health(r, &h, 2000);
    ck_assert_int_eq(h.nstreams, 3);
    ck_assert_int_eq(h.ready, 1);
    ck_assert_str_eq(h.streams[0].key, "bull:http:events");
    ck_assert_str_eq(h.streams[1].key, "bull:sparql:events");
    ck_assert_str_eq(h.streams[2].key, "dualgate:logs");
    ck_assert_uint_eq(h.streams[0].entries, 3 + N);
    ck_assert_uint_eq(h.streams[0].published, 2 + N);
    ck_assert_uint_eq(h.streams[0].skipped, 1);
    ck_assert_uint_eq(h.streams[0].malformed, 0);
    ck_assert_uint_eq(h.streams[1].published, 1);
    for (int i = 0; i < 3; i++)
        ck_assert_uint_ge(h.streams[i].reconnects, 1);
    ck_assert_msg(cur_id_cmp(h.streams[0].last_id, ids[N - 1]) == 0, "last id");
    ck_assert_int_eq(h.streams[0].lag_ms, 0);
    ck_assert_int_eq(h.streams[1].lag_ms, 0);
    ck_assert_int_eq(h.streams[2].lag_ms, 0); /* log stream does not exist yet */

    /* A joiner learns exactly where the live stream is. */
    rec_t late;
    cur_t pos;
    rec_init(&late);
    ck_assert_int_eq(bk_join(bk, &late.sub, "queue:http", NULL, &pos), 0);
    ck_assert(pos.known & 1u);
    ck_assert_msg(cur_id_cmp(pos.pos[0], ids[N - 1]) == 0, "broker position");

    if (g) {
        /* Every reader follows on a loop (one fd each); leaving is prompt, and the readers
         * go on in their threads without losing an entry. */
        fds_g = g;
        fds_want = 3;
        ck_assert_msg(poll_until(loops_have_fds, NULL, 5000), "readers not on the loops");
        int64_t t0 = mono_ms();
        rds_use_loops(r, NULL);
        ck_assert_int_lt(mono_ms() - t0, 1000);
        ck_assert_int_eq(loops_fds(g), 0);
        cur_id_t idl = XADD(c, "bull:http:events", "event", "progress", "jobId", "left",
                            "data", "2");
        ck_assert_int_eq(rec_wait(&all, 4 + N, 5000), 4 + N);
        assert_msg(all.msgs[3 + N], MSG_JOB, 0, idl, "progress",
                   "{\"queue\":\"http\",\"jobId\":\"left\",\"data\":2}");
        rds_use_loops(r, g); /* back on them for the stop below */
        XADD(c, "bull:http:events", "event", "progress", "jobId", "back", "data", "3");
        ck_assert_int_eq(rec_wait(&all, 5 + N, 5000), 5 + N);
        ck_assert_msg(poll_until(loops_have_fds, NULL, 5000), "readers not back on the loops");
    }

    /* rds_stop interrupts blocked XREADs promptly (BLOCK is 2 s), on loops too. */
    int64_t t0 = mono_ms();
    rds_stop(r);
    ck_assert_int_lt(mono_ms() - t0, 1500);
    loops_off(g);
    rds_free(r);
    rec_free(bk, &late);
    rec_free(bk, &all);
    rec_free(bk, &job);
    bk_free(bk);
    redisFree(c);
}
END_TEST

START_TEST(test_filter_skip_and_malformed)
{
    NEED_REDIS();
    redisContext *c = tc_conn();
    CMD(c, "FLUSHALL");
    cfg_for_test(srv_port);
    snprintf(cfg.events[0], sizeof(cfg.events[0]), "completed");
    snprintf(cfg.events[1], sizeof(cfg.events[1]), "failed");
    cfg.nevents = 2;
    bk_t *bk = bk_new();
    rec_t all;
    rec_init(&all);
    ck_assert_int_eq(bk_join(bk, &all.sub, "queue:http", NULL, NULL), 0);
    rds_t *r = rds_new(&cfg, bk);
    ck_assert_int_eq(rds_start(r), 0);
    ck_assert(poll_until(is_ready, r, 5000));

    XADD(c, "bull:http:events", "event", "progress", "jobId", "1", "data", "5"); /* filtered */
    XADD(c, "bull:http:events", "jobId", "1", "name", "x");                      /* no event */
    XADD(c, "bull:http:events", "event", "failed", "jobId", "1", "failedReason", "bad \xff");
    XADD(c, "bull:http:events", "event", "paused");                              /* no jobId */
    cur_id_t last = XADD(c, "bull:http:events", "event", "completed", "jobId", "1",
                         "returnvalue", "\"done\"", "prev", "active");
    ck_assert_int_eq(rec_wait(&all, 1, 5000), 1);
    assert_msg(all.msgs[0], MSG_JOB, 0, last, "completed",
               "{\"queue\":\"http\",\"jobId\":\"1\",\"returnvalue\":\"done\",\"prev\":\"active\"}");
    rds_health_t h;
    rds_get_health(r, &h, 2000);
    ck_assert_uint_eq(h.streams[0].entries, 5);
    ck_assert_uint_eq(h.streams[0].published, 1);
    ck_assert_uint_eq(h.streams[0].skipped, 2);
    ck_assert_uint_eq(h.streams[0].malformed, 2);
    ck_assert_msg(poll_until(fully_connected, r, 5000), "command connection never came up");

    rds_stop(r);
    rds_free(r);
    rec_free(bk, &all);
    bk_free(bk);
    redisFree(c);
}
END_TEST

static void hook(void *ud, int level, const char *ns, const char *json, size_t len)
{
    rds_publish_log(ud, level, ns, json, len);
}

START_TEST(test_log_stream_roundtrip)
{
    NEED_REDIS();
    redisContext *c = tc_conn();
    CMD(c, "FLUSHALL");
    cfg_for_test(srv_port);
    bk_t *bk = bk_new();
    rec_t logs;
    rec_init(&logs);
    ck_assert_int_eq(bk_join(bk, &logs.sub, "logs", NULL, NULL), 0);
    rds_t *r = rds_new(&cfg, bk);
    ck_assert_int_eq(rds_start(r), 0);
    ck_assert(poll_until(is_ready, r, 5000));

    static const char *l1 = "{\"ts\":\"2026-01-01T00:00:00.000Z\",\"level\":\"info\",\"ns\":\"wire\","
                            "\"msg\":\"hello from wire-capture\"}";
    static const char *l2 = "{\"ts\":\"2026-01-01T00:00:00.000Z\",\"level\":\"fatal\",\"ns\":\"ui\","
                            "\"msg\":\"x\\u0000y\",\"extra\":{\"k\":[1,2.5]}}";
    ck_assert_int_eq(rds_publish_log(r, CFG_LOG_INFO, "wire", l1, strlen(l1)), 0);
    ck_assert_int_eq(rds_publish_log(r, CFG_LOG_ERROR, "ui", l2, strlen(l2)), 0);
    ck_assert_int_eq(rec_wait(&logs, 2, 5000), 2);
    ck_assert_int_eq(logs.msgs[0]->kind, MSG_LOG);
    ck_assert_int_eq(logs.msgs[0]->stream, 2);
    ck_assert_str_eq(logs.msgs[0]->event, "log");
    ck_assert_str_eq(logs.msgs[0]->json, l1);
    ck_assert_str_eq(logs.msgs[0]->ns, "wire");
    ck_assert_int_eq(logs.msgs[0]->level, CFG_LOG_INFO);
    ck_assert_str_eq(logs.msgs[1]->json, l2);
    ck_assert_int_eq(logs.msgs[1]->level, CFG_LOG_ERROR);
    ck_assert_str_eq(logs.msgs[1]->ns, "ui");

    /* The stream holds flat fields, plus json only when there were extra members. */
    const char *xr[] = {"XRANGE", "dualgate:logs", "-", "+"};
    redisReply *rep = tc_cmd(c, 4, xr, NULL);
    ck_assert_uint_eq(rep->elements, 2);
    ck_assert_uint_eq(rep->element[0]->element[1]->elements, 8);
    ck_assert_uint_eq(rep->element[1]->element[1]->elements, 10);
    ck_assert_str_eq(rep->element[1]->element[1]->element[7]->str, "x");
    ck_assert_uint_eq(rep->element[1]->element[1]->element[7]->len, 3); /* NUL kept */
    freeReplyObject(rep);

    /* dualgate's own lines through the log hook; a malformed job entry makes the reader
     * warn, and that warning (key and id, never the payload) reaches the stream too. */
    log_init(CFG_LOG_OFF, CFG_LOG_INFO);
    log_set_publisher(hook, r);
    log_info("test", "hello %d", 42);
    cur_id_t bad = XADD(c, "bull:http:events", "event", "failed", "jobId", "1", "failedReason",
                        "SECRET\xff");
    ck_assert_int_eq(rec_wait(&logs, 4, 5000), 4);
    char badid[CUR_ID_STR_MAX], want[256];
    cur_id_format(bad, badid);
    snprintf(want, sizeof(want), "bull:http:events %s: entry skipped", badid);
    int found_hello = 0, found_warn = 0;
    for (int i = 2; i < 4; i++) {
        const msg_t *m = logs.msgs[i];
        ck_assert_ptr_null(strstr(m->json, "SECRET"));
        if (strstr(m->json, "\"msg\":\"hello 42\"") && strcmp(m->ns, "test") == 0)
            found_hello = 1;
        if (strstr(m->json, want) && strcmp(m->ns, "redis") == 0 && m->level == CFG_LOG_WARN)
            found_warn = 1;
    }
    ck_assert(found_hello);
    ck_assert(found_warn);
    log_set_publisher(NULL, NULL);
    log_init(CFG_LOG_ERROR, CFG_LOG_OFF);

    /* The reader may deliver before the command thread has read the XADD replies. */
    ck_assert(poll_until(four_logs_published, r, 5000));
    rds_health_t h;
    rds_get_health(r, &h, 2000);
    ck_assert_uint_eq(h.logs_published, 4);
    ck_assert_uint_eq(h.logs_dropped, 0);
    ck_assert_uint_eq(h.streams[2].published, 4);

    /* Not a log object: counted as dropped by the command thread. */
    ck_assert_int_eq(rds_publish_log(r, CFG_LOG_INFO, "x", "[1]", 3), 0);
    rds_stop(r);
    rds_get_health(r, &h, 0);
    ck_assert_uint_eq(h.logs_dropped, 1);
    ck_assert_int_eq(rds_publish_log(r, CFG_LOG_INFO, "wire", l1, strlen(l1)), DG_ECLOSED);
    rds_free(r);
    rec_free(bk, &logs);
    bk_free(bk);
    redisFree(c);
}
END_TEST

static cur_id_t id_max(void)
{
    return (cur_id_t){UINT64_MAX, UINT64_MAX};
}

START_TEST(test_range_and_gap)
{
    NEED_REDIS();
    redisContext *c = tc_conn();
    CMD(c, "FLUSHALL");
    cfg_for_test(srv_port);
    bk_t *bk = bk_new();
    rds_t *r = rds_new(&cfg, bk);
    ck_assert_int_eq(rds_start(r), 0);
    char err[256];
    rds_range_t out;

    enum { N = 10 };
    cur_id_t ids[N];
    char jid[8];
    for (int i = 0; i < N; i++) {
        snprintf(jid, sizeof(jid), "%d", i);
        if (i == 4)
            ids[i] = XADD(c, "bull:http:events", "event", "drained");
        else
            ids[i] = XADD(c, "bull:http:events", "event", "completed", "jobId", jid,
                          "returnvalue", "{\"i\":1.0}", "prev", "active");
    }
    /* (ids[2], max] COUNT 3: entries 3, 4 (skipped, still advances last), 5. */
    ck_assert_int_eq(rds_range(r, 0, ids[2], id_max(), 3, 2000, &out, err, sizeof(err)), 0);
    ck_assert_int_eq(out.n, 2);
    ck_assert_str_eq(out.items[0].job_id, "3");
    ck_assert_str_eq(out.items[1].job_id, "5");
    assert_msg(out.items[0].msg, MSG_JOB, 0, ids[3], "completed",
               "{\"queue\":\"http\",\"jobId\":\"3\",\"returnvalue\":{\"i\":1},\"prev\":\"active\"}");
    ck_assert(cur_id_cmp(out.last, ids[5]) == 0);
    ck_assert_int_eq(out.more, 1);
    ck_assert_int_eq(out.gap, 0);
    rds_range_free(&out);
    ck_assert_ptr_null(out.items);

    /* Bounded above by upto; the end of the stream clears more. */
    ck_assert_int_eq(rds_range(r, 0, ids[5], ids[7], 100, 2000, &out, err, sizeof(err)), 0);
    ck_assert_int_eq(out.n, 2);
    ck_assert(cur_id_cmp(out.last, ids[7]) == 0);
    ck_assert_int_eq(out.more, 0);
    rds_range_free(&out);
    ck_assert_int_eq(rds_range(r, 0, ids[9], id_max(), 100, 2000, &out, err, sizeof(err)), 0);
    ck_assert_int_eq(out.n, 0);
    ck_assert(cur_id_cmp(out.last, ids[9]) == 0);
    ck_assert_int_eq(out.gap, 0);
    rds_range_free(&out);
    /* Empty interval: answered without Redis. */
    ck_assert_int_eq(rds_range(r, 0, ids[5], ids[5], 10, 2000, &out, err, sizeof(err)), 0);
    ck_assert_int_eq(out.n, 0);
    /* A stream that does not exist: nothing, no gap. */
    ck_assert_int_eq(rds_range(r, 1, (cur_id_t){0, 0}, id_max(), 10, 2000, &out, err,
                               sizeof(err)), 0);
    ck_assert_int_eq(out.n, 0);
    ck_assert_int_eq(out.gap, 0);
    ck_assert_int_eq(rds_range(r, 5, ids[0], ids[1], 10, 2000, &out, err, sizeof(err)),
                     DG_EINVAL);

    /* Nothing removed yet: no gap even from 0-0. */
    ck_assert_int_eq(rds_range(r, 0, (cur_id_t){0, 0}, id_max(), 1, 2000, &out, err,
                               sizeof(err)), 0);
    ck_assert_int_eq(out.gap, 0);
    ck_assert_int_eq(out.n, 1);
    rds_range_free(&out);

    /* Trim to the last 3 (6..9 minus... exactly 7, 8, 9): a reader at 2 lost 3..6. */
    CMD(c, "XTRIM", "bull:http:events", "MAXLEN", "=", "3");
    ck_assert_int_eq(rds_range(r, 0, ids[2], id_max(), 100, 2000, &out, err, sizeof(err)), 0);
    ck_assert_int_eq(out.gap, 1);
    ck_assert_int_eq(out.n, 3);
    ck_assert_str_eq(out.items[0].job_id, "7");
    rds_range_free(&out);
    /* A reader at 7 (still there) lost nothing. */
    ck_assert_int_eq(rds_range(r, 0, ids[7], id_max(), 100, 2000, &out, err, sizeof(err)), 0);
    ck_assert_int_eq(out.gap, 0);
    ck_assert_int_eq(out.n, 2);
    rds_range_free(&out);
    /* XDEL of 8: a reader at 7 now has a gap; one at 8 or later does not. */
    char id8[CUR_ID_STR_MAX];
    cur_id_format(ids[8], id8);
    CMD(c, "XDEL", "bull:http:events", id8);
    ck_assert_int_eq(rds_range(r, 0, ids[7], id_max(), 100, 2000, &out, err, sizeof(err)), 0);
    ck_assert_int_eq(out.gap, 1);
    ck_assert_int_eq(out.n, 1);
    ck_assert_str_eq(out.items[0].job_id, "9");
    rds_range_free(&out);
    ck_assert_int_eq(rds_range(r, 0, ids[8], id_max(), 100, 2000, &out, err, sizeof(err)), 0);
    ck_assert_int_eq(out.gap, 0);
    rds_range_free(&out);
    /* Everything trimmed away: the empty stream still reports the loss. */
    CMD(c, "XTRIM", "bull:http:events", "MAXLEN", "=", "0");
    ck_assert_int_eq(rds_range(r, 0, ids[8], id_max(), 100, 2000, &out, err, sizeof(err)), 0);
    ck_assert_int_eq(out.gap, 1);
    ck_assert_int_eq(out.n, 0);
    rds_range_free(&out);
    ck_assert_int_eq(rds_range(r, 0, ids[9], id_max(), 100, 2000, &out, err, sizeof(err)), 0);
    ck_assert_int_eq(out.gap, 0);

    /* Log stream replay. */
    static const char *l1 = "{\"ts\":\"t\",\"level\":\"warn\",\"ns\":\"a\",\"msg\":\"m\"}";
    cur_id_t lid = XADD(c, "dualgate:logs", "ts", "t", "level", "warn", "ns", "a", "msg", "m");
    ck_assert_int_eq(rds_range(r, 2, (cur_id_t){0, 0}, id_max(), 10, 2000, &out, err,
                               sizeof(err)), 0);
    ck_assert_int_eq(out.n, 1);
    assert_msg(out.items[0].msg, MSG_LOG, 2, lid, "log", l1);
    ck_assert_str_eq(out.items[0].job_id, "");
    rds_range_free(&out);

    /* Wrong type: an error, not a crash. */
    CMD(c, "SET", "bull:sparql:events", "x");
    ck_assert_int_eq(rds_range(r, 1, (cur_id_t){0, 0}, id_max(), 10, 2000, &out, err,
                               sizeof(err)), DG_EIO);
    ck_assert_ptr_nonnull(strstr(err, "WRONGTYPE"));

    rds_stop(r);
    /* After stop: refused at once. */
    ck_assert_int_eq(rds_range(r, 0, (cur_id_t){0, 0}, id_max(), 10, 2000, &out, err,
                               sizeof(err)), DG_EIO);
    rds_free(r);
    bk_free(bk);
    redisFree(c);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Asynchronous requests                                                                    */
/* ---------------------------------------------------------------------------------------- */

/* Records callbacks: who called, when, with what. */
typedef struct cb_ev {
    int status;
    int64_t at;
    pthread_t thread;
    char err[160];
    char val[1024];
    size_t len;
    int has_val;
    char owner[64];
    int has_owner;
    rds_range_t range;
    int has_range;
} cb_ev_t;

typedef struct cbrec {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int n;
    cb_ev_t ev[64];
} cbrec_t;

static void cbrec_init(cbrec_t *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
}

static void cbrec_free(cbrec_t *c)
{
    for (int i = 0; i < c->n && i < (int)DG_ARRAY_LEN(c->ev); i++)
        if (c->ev[i].has_range)
            rds_range_free(&c->ev[i].range);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
}

static cb_ev_t *cbrec_add(cbrec_t *c, int status, const char *err)
{
    cb_ev_t *e = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->n < (int)DG_ARRAY_LEN(c->ev)) {
        e = &c->ev[c->n];
        e->status = status;
        e->at = mono_ms();
        e->thread = pthread_self();
        snprintf(e->err, sizeof(e->err), "%s", err ? err : "");
    }
    return e; /* lock held: cbrec_done() */
}

static void cbrec_done(cbrec_t *c)
{
    c->n++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void range_cb(void *ud, int status, rds_range_t *res, const char *err)
{
    cbrec_t *c = ud;
    cb_ev_t *e = cbrec_add(c, status, err);
    ck_assert((status == 0) == (res != NULL));
    if (e && res) {
        e->range = *res; /* takes the items */
        e->has_range = 1;
    } else if (res) {
        rds_range_free(res);
    }
    cbrec_done(c);
}

static void value_cb(void *ud, int status, const char *val, size_t len, const char *err)
{
    cbrec_t *c = ud;
    cb_ev_t *e = cbrec_add(c, status, err);
    if (e && val) {
        ck_assert_uint_lt(len, sizeof(e->val));
        memcpy(e->val, val, len);
        e->len = len;
        e->has_val = 1;
    }
    cbrec_done(c);
}

/* Waits until c holds n callbacks; returns how many it holds. */
static int cbrec_wait(cbrec_t *c, int n, int timeout_ms)
{
    return wait_count(&c->lock, &c->cond, &c->n, n, timeout_ms);
}

/* Runs one GET and waits for its callback; returns the event (copied). */
static cb_ev_t kv_get_sync(rds_t *r, const char *key)
{
    cbrec_t c;
    cbrec_init(&c);
    ck_assert_int_eq(rds_kv_get_async(r, key, 2000, value_cb, &c), 0);
    ck_assert_int_eq(cbrec_wait(&c, 1, 5000), 1);
    cb_ev_t e = c.ev[0];
    cbrec_free(&c);
    return e;
}

static int kv_sync(rds_t *r, int op, const char *key, const char *val, size_t len, int64_t ttl)
{
    cbrec_t c;
    cbrec_init(&c);
    int rc = op == 0 ? rds_kv_set_async(r, key, val, len, ttl, 2000, value_cb, &c)
                     : rds_kv_del_async(r, key, 2000, value_cb, &c);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(cbrec_wait(&c, 1, 5000), 1);
    rc = c.ev[0].status;
    cbrec_free(&c);
    return rc;
}

START_TEST(test_range_async)
{
    NEED_REDIS();
    redisContext *c = tc_conn();
    CMD(c, "FLUSHALL");
    cfg_for_test(srv_port);
    bk_t *bk = bk_new();
    rds_t *r = rds_new(&cfg, bk);
    cbrec_t rec;
    cbrec_init(&rec);
    /* Not started: refused, and nothing is called back. */
    ck_assert_int_eq(rds_range_async(r, 0, (cur_id_t){0, 0}, id_max(), 10, 1000, range_cb, &rec),
                     DG_ECLOSED);
    ck_assert_int_eq(rds_start(r), 0);

    cur_id_t ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = XADD(c, "bull:http:events", "event", "progress", "jobId", "7", "data", "1");
    ck_assert_int_eq(rds_range_async(r, 0, ids[0], id_max(), 3, 2000, range_cb, &rec), 0);
    ck_assert_int_eq(cbrec_wait(&rec, 1, 5000), 1);
    /* Empty interval: answered (on the command thread too) without asking Redis, so it may
     * overtake requests queued before it; those that ask Redis keep their order. */
    ck_assert_int_eq(rds_range_async(r, 0, ids[3], ids[3], 3, 2000, range_cb, &rec), 0);
    ck_assert_int_eq(cbrec_wait(&rec, 2, 5000), 2);
    CMD(c, "SET", "bull:sparql:events", "x");
    ck_assert_int_eq(rds_range_async(r, 1, (cur_id_t){0, 0}, id_max(), 3, 2000, range_cb, &rec),
                     0);
    ck_assert_int_eq(cbrec_wait(&rec, 3, 5000), 3);
    pthread_t self = pthread_self();
    for (int i = 0; i < 3; i++)
        ck_assert(!pthread_equal(rec.ev[i].thread, self));
    /* One queue, in order. */
    ck_assert_int_eq(rec.ev[0].status, 0);
    ck_assert_int_eq(rec.ev[0].range.n, 3);
    ck_assert(cur_id_cmp(rec.ev[0].range.items[0].msg->id, ids[1]) == 0);
    ck_assert(cur_id_cmp(rec.ev[0].range.last, ids[3]) == 0);
    ck_assert_int_eq(rec.ev[0].range.more, 1);
    ck_assert_str_eq(rec.ev[0].range.items[2].job_id, "7");
    ck_assert_int_eq(rec.ev[1].status, 0);
    ck_assert_int_eq(rec.ev[1].range.n, 0);
    ck_assert(cur_id_cmp(rec.ev[1].range.last, ids[3]) == 0);
    ck_assert_int_eq(rec.ev[2].status, DG_EIO);
    ck_assert_ptr_nonnull(strstr(rec.ev[2].err, "WRONGTYPE"));
    ck_assert_int_eq(rec.ev[2].has_range, 0);

    ck_assert_int_eq(rds_range_async(r, 3, ids[0], id_max(), 3, 2000, range_cb, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_range_async(r, -1, ids[0], id_max(), 3, 2000, range_cb, &rec),
                     DG_EINVAL);
    ck_assert_int_eq(rds_range_async(r, 0, ids[0], id_max(), 3, 0, range_cb, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_range_async(r, 0, ids[0], id_max(), 3, 100, NULL, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_range_async(NULL, 0, ids[0], id_max(), 3, 100, range_cb, &rec),
                     DG_EINVAL);
    rds_stop(r);
    ck_assert_int_eq(rds_range_async(r, 0, ids[0], id_max(), 3, 100, range_cb, &rec), DG_ECLOSED);
    ck_assert_int_eq(rec.n, 3);
    rds_free(r);
    cbrec_free(&rec);
    bk_free(bk);
    redisFree(c);
}
END_TEST

START_TEST(test_kv)
{
    NEED_REDIS();
    redisContext *c = tc_conn();
    CMD(c, "FLUSHALL");
    cfg_for_test(srv_port);
    bk_t *bk = bk_new();
    rds_t *r = rds_new(&cfg, bk);
    ck_assert_int_eq(rds_kv_set_async(r, "k", "v", 1, 0, 1000, NULL, NULL), DG_ECLOSED);
    ck_assert_int_eq(rds_start(r), 0);

    ck_assert_int_eq(kv_sync(r, 0, "dg:s:1", "hello", 5, 60000), 0);
    const char *pttl[] = {"PTTL", "dg:s:1"};
    redisReply *rep = tc_cmd(c, 2, pttl, NULL);
    ck_assert_int_gt(rep->integer, 0);
    ck_assert_int_le(rep->integer, 60000);
    freeReplyObject(rep);
    cb_ev_t e = kv_get_sync(r, "dg:s:1");
    ck_assert_int_eq(e.status, 0);
    ck_assert_int_eq(e.has_val, 1);
    ck_assert_uint_eq(e.len, 5);
    ck_assert(memcmp(e.val, "hello", 5) == 0);

    /* Binary-safe, no TTL. */
    ck_assert_int_eq(kv_sync(r, 0, "dg:s:2", "a\0b", 3, 0), 0);
    pttl[1] = "dg:s:2";
    rep = tc_cmd(c, 2, pttl, NULL);
    ck_assert_int_eq(rep->integer, -1);
    freeReplyObject(rep);
    e = kv_get_sync(r, "dg:s:2");
    ck_assert_int_eq(e.status, 0);
    ck_assert_uint_eq(e.len, 3);
    ck_assert(memcmp(e.val, "a\0b", 3) == 0);
    /* Empty value. */
    ck_assert_int_eq(kv_sync(r, 0, "dg:s:3", NULL, 0, 0), 0);
    e = kv_get_sync(r, "dg:s:3");
    ck_assert_int_eq(e.status, 0);
    ck_assert_uint_eq(e.len, 0);

    e = kv_get_sync(r, "dg:missing");
    ck_assert_int_eq(e.status, DG_ENOTFOUND);
    ck_assert_int_eq(e.has_val, 0);
    ck_assert_str_eq(e.err, "no such key");
    ck_assert_int_eq(kv_sync(r, 1, "dg:s:1", NULL, 0, 0), 0);
    ck_assert_int_eq(kv_sync(r, 1, "dg:s:1", NULL, 0, 0), DG_ENOTFOUND);
    ck_assert_int_eq(kv_get_sync(r, "dg:s:1").status, DG_ENOTFOUND);

    /* No callback: fire and forget, still in queue order before the GET. */
    ck_assert_int_eq(rds_kv_set_async(r, "dg:s:4", "x", 1, 0, 1000, NULL, NULL), 0);
    ck_assert_int_eq(rds_kv_del_async(r, "dg:s:2", 1000, NULL, NULL), 0);
    e = kv_get_sync(r, "dg:s:4");
    ck_assert_int_eq(e.status, 0);
    ck_assert_str_eq(e.val, "x");
    ck_assert_int_eq(kv_get_sync(r, "dg:s:2").status, DG_ENOTFOUND);

    /* Another type: an error from Redis, not a crash. */
    CMD(c, "LPUSH", "dg:list", "x");
    e = kv_get_sync(r, "dg:list");
    ck_assert_int_eq(e.status, DG_EIO);
    ck_assert_ptr_nonnull(strstr(e.err, "WRONGTYPE"));

    /* The TTL is Redis's: the key goes away by itself. */
    ck_assert_int_eq(kv_sync(r, 0, "dg:s:5", "y", 1, 30), 0);
    int64_t until = mono_ms() + 5000;
    while (kv_get_sync(r, "dg:s:5").status == 0)
        ck_assert_msg(mono_ms() < until, "key with a 30 ms TTL still there after 5 s");

    static char big[RDS_KV_VALUE_MAX + 1];
    char longkey[RDS_KV_KEY_MAX + 2];
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    cbrec_t rec;
    cbrec_init(&rec);
    ck_assert_int_eq(rds_kv_set_async(r, "", "v", 1, 0, 1000, value_cb, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_kv_set_async(r, NULL, "v", 1, 0, 1000, value_cb, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_kv_set_async(r, longkey, "v", 1, 0, 1000, value_cb, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_kv_set_async(r, "k", NULL, 1, 0, 1000, value_cb, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_kv_set_async(r, "k", big, sizeof(big), 0, 1000, value_cb, &rec),
                     DG_EINVAL);
    ck_assert_int_eq(rds_kv_set_async(r, "k", "v", 1, -1, 1000, value_cb, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_kv_set_async(r, "k", "v", 1, 0, 0, value_cb, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_kv_get_async(r, "k", 1000, NULL, NULL), DG_EINVAL);
    ck_assert_int_eq(rds_kv_del_async(r, "", 1000, NULL, NULL), DG_EINVAL);
    longkey[RDS_KV_KEY_MAX] = '\0'; /* exactly the limit is fine */
    ck_assert_int_eq(kv_sync(r, 0, longkey, big, RDS_KV_VALUE_MAX, 1000), 0);
    ck_assert_int_eq(rec.n, 0);
    cbrec_free(&rec);
    rds_stop(r);
    rds_free(r);
    bk_free(bk);
    redisFree(c);
}
END_TEST

/* Many requests queued without waiting: pipelined, answered in order, each exactly once. */
typedef struct pipe_slot {
    int calls, status;
    char val[16];
} pipe_slot_t;

static pthread_mutex_t pipe_lock = PTHREAD_MUTEX_INITIALIZER;
static int pipe_done;

static void pipe_cb(void *ud, int status, const char *val, size_t len, const char *err)
{
    pipe_slot_t *p = ud;
    (void)err;
    pthread_mutex_lock(&pipe_lock);
    p->calls++;
    p->status = status;
    if (val && len < sizeof(p->val)) {
        memcpy(p->val, val, len);
        p->val[len] = '\0';
    }
    pipe_done++;
    pthread_mutex_unlock(&pipe_lock);
}

static int pipe_all_done(void *n)
{
    pthread_mutex_lock(&pipe_lock);
    int done = pipe_done >= *(int *)n;
    pthread_mutex_unlock(&pipe_lock);
    return done;
}

START_TEST(test_kv_pipelined)
{
    NEED_REDIS();
    enum { N = 3000 };
    redisContext *c = tc_conn();
    CMD(c, "FLUSHALL");
    cfg_for_test(srv_port);
    bk_t *bk = bk_new();
    rds_t *r = rds_new(&cfg, bk);
    ck_assert_int_eq(rds_start(r), 0);
    ck_assert(poll_until(fully_connected, r, 5000));
    static pipe_slot_t sets[N], gets[N];
    memset(sets, 0, sizeof(sets));
    memset(gets, 0, sizeof(gets));
    pipe_done = 0;
    char key[32], val[16];
    int64_t t0 = mono_ms();
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "dg:p:%d", i % 100); /* rewritten: order matters */
        snprintf(val, sizeof(val), "%d", i);
        ck_assert_int_eq(rds_kv_set_async(r, key, val, strlen(val), 60000, 5000, pipe_cb,
                                          &sets[i]), 0);
        ck_assert_int_eq(rds_kv_get_async(r, key, 5000, pipe_cb, &gets[i]), 0);
    }
    int want = 2 * N;
    ck_assert_msg(poll_until(pipe_all_done, &want, 20000), "%d of %d answered", pipe_done, want);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(sets[i].calls, 1);
        ck_assert_int_eq(sets[i].status, 0);
        ck_assert_int_eq(gets[i].calls, 1);
        ck_assert_int_eq(gets[i].status, 0);
        snprintf(val, sizeof(val), "%d", i);
        ck_assert_str_eq(gets[i].val, val); /* the GET saw the SET queued just before it */
    }
    /* Pipelined: 6000 round trips one by one would take far longer on a loaded machine too;
     * this is a loose bound, not a benchmark. */
    ck_assert_int_lt(mono_ms() - t0, 15000);
    rds_stop(r);
    rds_free(r);
    bk_free(bk);
    redisFree(c);
}
END_TEST

/* A frozen Redis (SIGSTOP): sockets stay open, nothing answers. Deadlines still hold, and
 * rds_stop completes what is pending. */
START_TEST(test_frozen_deadlines)
{
    NEED_REDIS();
    redisContext *c = tc_conn();
    CMD(c, "FLUSHALL");
    XADD(c, "bull:http:events", "event", "progress", "jobId", "7", "data", "1");
    cfg_for_test(srv_port);
    bk_t *bk = bk_new();
    rds_t *r = rds_new(&cfg, bk);
    ck_assert_int_eq(rds_start(r), 0);
    ck_assert(poll_until(fully_connected, r, 5000));
    cbrec_t rec;
    cbrec_init(&rec);

    ck_assert_int_eq(kill(srv_pid, SIGSTOP), 0);
    int64_t t0 = mono_ms();
    ck_assert_int_eq(rds_range_async(r, 0, (cur_id_t){0, 0}, id_max(), 10, 300, range_cb, &rec),
                     0);
    ck_assert_int_eq(rds_kv_get_async(r, "k", 600, value_cb, &rec), 0);
    ck_assert_int_eq(cbrec_wait(&rec, 2, 5000), 2);
    ck_assert_int_eq(rec.ev[0].status, DG_EIO);
    ck_assert_str_eq(rec.ev[0].err, "redis did not answer within 300 ms");
    ck_assert_int_ge(rec.ev[0].at - t0, 290);
    ck_assert_int_lt(rec.ev[0].at - t0, 1500);
    ck_assert_int_eq(rec.ev[1].status, DG_EIO);
    ck_assert_str_eq(rec.ev[1].err, "redis did not answer within 600 ms");
    ck_assert_int_ge(rec.ev[1].at - t0, 590);
    ck_assert_int_lt(rec.ev[1].at - t0, 1800);

    /* The blocking form is the same request and a wait. */
    rds_range_t out;
    char err[128];
    t0 = mono_ms();
    ck_assert_int_eq(rds_range(r, 0, (cur_id_t){0, 0}, id_max(), 10, 300, &out, err,
                               sizeof(err)), DG_EIO);
    ck_assert_str_eq(err, "redis did not answer within 300 ms");
    ck_assert_int_ge(mono_ms() - t0, 290);
    ck_assert_int_lt(mono_ms() - t0, 1500);

    /* Answers again once it runs again (the requests that timed out are discarded). */
    ck_assert_int_eq(kill(srv_pid, SIGCONT), 0);
    ck_assert_int_eq(kv_sync(r, 0, "k", "v", 1, 0), 0);
    ck_assert_str_eq(kv_get_sync(r, "k").val, "v");

    /* Frozen again, requests with long deadlines pending: rds_stop completes each with
     * DG_ECLOSED before it returns, and does not wait for their deadlines. */
    ck_assert_int_eq(kill(srv_pid, SIGSTOP), 0);
    cbrec_t pend;
    cbrec_init(&pend);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(rds_kv_set_async(r, "k", "w", 1, 0, 30000, value_cb, &pend), 0);
    ck_assert_int_eq(rds_range_async(r, 0, (cur_id_t){0, 0}, id_max(), 10, 30000, range_cb,
                                     &pend), 0);
    t0 = mono_ms();
    rds_stop(r);
    ck_assert_int_lt(mono_ms() - t0, 2500);
    ck_assert_int_eq(pend.n, 6);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(pend.ev[i].status, DG_ECLOSED);
        ck_assert_str_eq(pend.ev[i].err, "redis client stopped");
    }
    ck_assert_int_eq(rds_kv_get_async(r, "k", 1000, value_cb, &pend), DG_ECLOSED);
    ck_assert_int_eq(pend.n, 6);
    ck_assert_int_eq(kill(srv_pid, SIGCONT), 0);
    rds_free(r);
    cbrec_free(&rec);
    cbrec_free(&pend);
    bk_free(bk);
    redisFree(c);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Health that follows the backend                                                          */
/* ---------------------------------------------------------------------------------------- */

static int not_ready(void *r)
{
    return !rds_ready(r);
}

static int ready_and_connected(void *r)
{
    return rds_ready(r) && fully_connected(r);
}

static int readers_all_down(void *r)
{
    rds_health_t h;
    rds_get_health(r, &h, 0);
    for (int i = 0; i < h.nstreams; i++)
        if (h.streams[i].connected)
            return 0;
    return 1;
}

static int readers_retried(void *r)
{
    rds_health_t h;
    rds_get_health(r, &h, 0);
    for (int i = 0; i < h.nstreams; i++)
        if (h.streams[i].errors < 3)
            return 0;
    return 1;
}

/* Redis frozen with SIGSTOP: the sockets stay open and nothing answers. Health, readiness and
 * requests must notice within redis_timeout_ms, readers through their read timeout, nobody may
 * spin, and everything comes back once Redis runs again. Short timeouts keep the test quick;
 * the defaults (2 s) behave the same, only slower. */
START_TEST(test_frozen_health)
{
    NEED_REDIS();
    redisContext *c = tc_conn();
    CMD(c, "FLUSHALL");
    cfg_for_test(srv_port);
    cfg.redis_timeout_ms = 500;
    cfg.redis_ping_interval_ms = 100;
    bk_t *bk = bk_new();
    rec_t all;
    rec_init(&all);
    ck_assert_int_eq(bk_join(bk, &all.sub, "queue:http", NULL, NULL), 0);
    rds_t *r = rds_new(&cfg, bk);
    ck_assert_int_eq(rds_start(r), 0);
    el_group_t *g = loops_on(r, _i); /* on loops, the follow's own timer notices the freeze */
    ck_assert(poll_until(ready_and_connected, r, 5000));
    rds_health_t h;
    rds_get_health(r, &h, 1000);
    ck_assert_int_eq(h.responsive, 1);
    ck_assert_int_eq(h.connected, 1);
    ck_assert_int_ge(h.ping_rtt_ms, 0);
    ck_assert_int_lt(h.ping_rtt_ms, 500);
    ck_assert_int_eq(h.streams[0].lag_ms, 0);

    ck_assert_int_eq(kill(srv_pid, SIGSTOP), 0);
    int64_t t0 = mono_ms();
    ck_assert_msg(poll_until(not_ready, r, 3000), "still ready 3 s into the freeze");
    int64_t noticed = mono_ms() - t0;
    ck_assert_int_ge(noticed, 350); /* the timeout, less one ping interval and slack */
    rds_get_health(r, &h, 0);
    ck_assert_int_eq(h.responsive, 0);
    ck_assert_int_eq(h.connected, 0);
    ck_assert_int_eq(h.ready, 0);
    /* Known not to answer: health and requests answer at once, not at their timeout. */
    int64_t t1 = mono_ms();
    rds_get_health(r, &h, 2000);
    ck_assert_int_lt(mono_ms() - t1, 400);
    ck_assert_int_eq(h.streams[0].lag_ms, -1);
    cbrec_t rec;
    cbrec_init(&rec);
    t1 = mono_ms();
    ck_assert_int_eq(rds_range_async(r, 0, (cur_id_t){0, 0}, id_max(), 10, 5000, range_cb, &rec),
                     0);
    ck_assert_int_eq(cbrec_wait(&rec, 1, 2000), 1);
    ck_assert_int_eq(rec.ev[0].status, DG_EIO);
    ck_assert_int_lt(rec.ev[0].at - t1, 400);
    ck_assert_msg(strcmp(rec.ev[0].err, "redis is not answering") == 0 ||
                      strcmp(rec.ev[0].err, "redis unavailable") == 0,
                  "%s", rec.ev[0].err);

    /* Readers notice through their read timeout (XREAD's 2 s block + the timeout) and retry
     * with backoff: a handful of attempts each, not one per 100 ms. */
    ck_assert_msg(poll_until(readers_all_down, r, 8000), "readers did not notice the freeze");
    t1 = mono_ms();
    /* Two failed reconnects each: 100 ms backoff + a 500 ms handshake timeout, then 200 ms +
     * 500 ms, at the least. */
    ck_assert_msg(poll_until(readers_retried, r, 10000), "readers did not retry");
    ck_assert_int_ge(mono_ms() - t1, 1000);
    rds_get_health(r, &h, 0);
    for (int i = 0; i < h.nstreams; i++) {
        ck_assert_int_eq(h.streams[i].connected, 0);
        ck_assert_uint_le(h.streams[i].errors, 5);
        ck_assert_str_ne(h.streams[i].error, "");
    }

    ck_assert_int_eq(kill(srv_pid, SIGCONT), 0);
    t1 = mono_ms();
    ck_assert_msg(poll_until(ready_and_connected, r, 15000), "no recovery 15 s after SIGCONT");
    rds_get_health(r, &h, 1000);
    ck_assert_int_eq(h.responsive, 1);
    ck_assert_int_ge(h.ping_rtt_ms, 0);
    for (int i = 0; i < h.nstreams; i++)
        ck_assert_str_eq(h.streams[i].error, "");
    cur_id_t id = XADD(c, "bull:http:events", "event", "completed", "jobId", "f1", "returnvalue",
                       "1");
    ck_assert_int_eq(rec_wait(&all, 1, 5000), 1);
    ck_assert(cur_id_cmp(all.msgs[0]->id, id) == 0);
    ck_assert_int_eq(kv_sync(r, 0, "k", "v", 1, 0), 0);

    rds_stop(r);
    loops_off(g);
    rds_free(r);
    cbrec_free(&rec);
    rec_free(bk, &all);
    bk_free(bk);
    redisFree(c);
}
END_TEST

static atomic_int warn_lines;

static void count_hook(void *ud, int level, const char *ns, const char *json, size_t len)
{
    (void)ud;
    (void)len;
    if (level == CFG_LOG_WARN && strcmp(ns, "redis") == 0 && strstr(json, "bull:sparql:events"))
        atomic_fetch_add(&warn_lines, 1);
}

static int sparql_errors_5(void *r)
{
    rds_health_t h;
    rds_get_health(r, &h, 0);
    return h.streams[1].errors >= 5;
}

static int sparql_connected(void *r)
{
    rds_health_t h;
    rds_get_health(r, &h, 0);
    return h.streams[1].connected;
}

/* A stream key of the wrong type: the reader must back off (100, 200, 400 ... ms) instead of
 * reconnecting every 100 ms, keep its connection, and its repeated warning is rate-limited. */
START_TEST(test_wrong_type_backoff)
{
    NEED_REDIS();
    redisContext *c = tc_conn();
    CMD(c, "FLUSHALL");
    CMD(c, "SET", "bull:sparql:events", "not a stream");
    cfg_for_test(srv_port);
    bk_t *bk = bk_new();
    rec_t sq;
    rec_init(&sq);
    ck_assert_int_eq(bk_join(bk, &sq.sub, "queue:sparql", NULL, NULL), 0);
    atomic_store(&warn_lines, 0);
    log_init(CFG_LOG_OFF, CFG_LOG_WARN);
    log_set_publisher(count_hook, NULL);
    log_set_rate_limit(60000, 2);
    rds_t *r = rds_new(&cfg, bk);
    int64_t t0 = mono_ms();
    ck_assert_int_eq(rds_start(r), 0);
    ck_assert_msg(poll_until(sparql_errors_5, r, 10000), "fewer than 5 attempts in 10 s");
    /* The 5th failure comes after 4 backoffs: 100 + 200 + 400 + 800 ms. */
    ck_assert_int_ge(mono_ms() - t0, 1500);
    rds_health_t h;
    rds_get_health(r, &h, 1000);
    ck_assert_int_eq(h.streams[1].connected, 0);
    ck_assert_uint_eq(h.streams[1].reconnects, 0); /* Redis answered: no reconnect churn */
    ck_assert_ptr_nonnull(strstr(h.streams[1].error, "WRONGTYPE"));
    ck_assert_int_eq(h.streams[0].connected, 1);
    ck_assert_int_eq(h.connected, 0);
    ck_assert_int_eq(h.ready, 0);
    ck_assert_int_le(atomic_load(&warn_lines), 2); /* the rate limit: burst 2 */

    /* Fixed: the reader picks the stream up (within its backoff) and follows it. */
    CMD(c, "DEL", "bull:sparql:events");
    ck_assert(poll_until(sparql_connected, r, 10000));
    cur_id_t id = XADD(c, "bull:sparql:events", "event", "active", "jobId", "9", "prev", "waiting");
    ck_assert_int_eq(rec_wait(&sq, 1, 10000), 1);
    ck_assert(cur_id_cmp(sq.msgs[0]->id, id) == 0);
    rds_get_health(r, &h, 1000);
    ck_assert_str_eq(h.streams[1].error, "");
    ck_assert_int_eq(h.ready, 1);
    log_set_publisher(NULL, NULL);
    log_init(CFG_LOG_ERROR, CFG_LOG_OFF);
    rds_stop(r);
    rds_free(r);
    rec_free(bk, &sq);
    bk_free(bk);
    redisFree(c);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Job state from BullMQ's keys                                                             */
/* ---------------------------------------------------------------------------------------- */

static void job_cb(void *ud, int status, const char *json, size_t len, const char *owner,
                   const char *err)
{
    cbrec_t *c = ud;
    cb_ev_t *e = cbrec_add(c, status, err);
    ck_assert((status == 0) == (json != NULL));
    if (e && json) {
        ck_assert_uint_lt(len, sizeof(e->val));
        memcpy(e->val, json, len);
        e->val[len] = '\0';
        e->len = len;
        e->has_val = 1;
    }
    if (e && owner) {
        snprintf(e->owner, sizeof(e->owner), "%s", owner);
        e->has_owner = 1;
    }
    cbrec_done(c);
}

/* One job-state request, waited for. */
static cb_ev_t job_state(rds_t *r, int queue, const char *id, const char *owner_field)
{
    cbrec_t c;
    cbrec_init(&c);
    ck_assert_int_eq(rds_job_state_async(r, queue, id, owner_field, 2000, job_cb, &c), 0);
    ck_assert_int_eq(cbrec_wait(&c, 1, 5000), 1);
    cb_ev_t e = c.ev[0];
    cbrec_free(&c);
    return e;
}

static void assert_state(rds_t *r, int queue, const char *id, const char *owner_field,
                         const char *json, const char *owner)
{
    cb_ev_t e = job_state(r, queue, id, owner_field);
    ck_assert_msg(e.status == 0, "%s: status %d (%s)", id, e.status, e.err);
    ck_assert_str_eq(e.val, json);
    ck_assert_uint_eq(e.len, strlen(json));
    if (owner) {
        ck_assert_msg(e.has_owner, "%s: no owner, want %s", id, owner);
        ck_assert_str_eq(e.owner, owner);
    } else {
        ck_assert_msg(!e.has_owner, "%s: owner %s, want none", id, e.owner);
    }
}

/* The fixtures copy what real BullMQ 5.81.5 wrote (Queue + Worker + FlowProducer on Redis 7:
 * a completed job returning an object, a failed job with 2 attempts, a completed job with
 * numeric progress returning a string, an active job with object progress, waiting, delayed,
 * prioritized, a paused queue's job, a parent waiting for its child), dumped with
 * redis-cli HGETALL / LRANGE / ZRANGE WITHSCORES; queue probe renamed http, stack trace cut. */
static void bullmq_fixtures(redisContext *c)
{
    CMD(c, "HSET", "bull:http:c1", "name", "done", "data", "{\"owner\":\"alice\",\"n\":1}", "opts",
        "{\"jobId\":\"c1\",\"attempts\":0}", "timestamp", "1796165579273", "delay", "0", "priority",
        "0", "processedOn", "1796165579286", "ats", "1", "atm", "1", "returnvalue",
        "{\"ok\":true,\"n\":1.5,\"s\":\"h\xc3\xa9\"}", "finishedOn", "1796165579292");
    CMD(c, "HSET", "bull:http:f1", "processedOn", "1796165579292", "failedReason",
        "simulated failure \"quoted\"\nline2", "stacktrace",
        "[\"Error: simulated failure \\\"quoted\\\"\\nline2\\n    at Worker.processFn\"]", "data",
        "{\"owner\":42}", "timestamp", "1796165579277", "opts", "{\"jobId\":\"f1\",\"attempts\":2}",
        "delay", "0", "priority", "0", "atm", "2", "finishedOn", "1796165579296", "name", "fail",
        "ats", "2");
    CMD(c, "HSET", "bull:http:np1", "name", "numprog", "data", "{\"owner\":1.5}", "opts",
        "{\"jobId\":\"np1\",\"attempts\":0}", "timestamp", "1796165579279", "delay", "0",
        "priority", "0", "processedOn", "1796165579289", "ats", "1", "progress", "42", "atm", "1",
        "returnvalue", "\"str\"", "finishedOn", "1796165579295");
    CMD(c, "ZADD", "bull:http:completed", "1796165579292", "c1", "1796165579295", "np1");
    CMD(c, "ZADD", "bull:http:failed", "1796165579296", "f1");
    CMD(c, "HSET", "bull:http:a1", "name", "active", "data", "{\"owner\":\"bob\"}", "opts",
        "{\"jobId\":\"a1\",\"attempts\":0}", "timestamp", "1796165579280", "delay", "0", "priority",
        "0", "processedOn", "1796165579289", "ats", "1", "progress",
        "{\"step\":2,\"of\":3,\"pct\":66.5}");
    CMD(c, "RPUSH", "bull:http:active", "a1");
    CMD(c, "HSET", "bull:http:w1", "name", "wait", "data", "{\"owner\":\"carol\"}", "opts",
        "{\"jobId\":\"w1\",\"attempts\":0}", "timestamp", "1796165580788", "delay", "0", "priority",
        "0");
    CMD(c, "HSET", "bull:http:child1", "parent", "{\"id\":\"parent1\",\"queueKey\":\"bull:http\"}",
        "timestamp", "1796165580799", "priority", "0", "opts",
        "{\"jobId\":\"child1\",\"parent\":{\"id\":\"parent1\",\"queue\":\"bull:http\"},"
        "\"attempts\":0}",
        "delay", "0", "parentKey", "bull:http:parent1", "name", "child", "data", "{}");
    CMD(c, "RPUSH", "bull:http:wait", "child1", "w1");
    CMD(c, "HSET", "bull:http:d1", "name", "later", "data", "{\"owner\":\"dave\"}", "opts",
        "{\"jobId\":\"d1\",\"delay\":600000,\"attempts\":0}", "timestamp", "1796165580790", "delay",
        "600000", "priority", "0");
    CMD(c, "ZADD", "bull:http:delayed", "7357096676515840", "d1");
    CMD(c, "HSET", "bull:http:p1", "name", "prio", "data", "{\"owner\":\"erin\"}", "opts",
        "{\"jobId\":\"p1\",\"priority\":5,\"attempts\":0}", "timestamp", "1796165580793", "delay",
        "0", "priority", "5");
    CMD(c, "ZADD", "bull:http:prioritized", "21474836481", "p1");
    CMD(c, "HSET", "bull:http:parent1", "name", "parent", "data", "{\"owner\":\"pat\"}", "opts",
        "{\"jobId\":\"parent1\",\"attempts\":0}", "timestamp", "1796165580799", "delay", "0",
        "priority", "0");
    CMD(c, "ZADD", "bull:http:waiting-children", "1796165580799", "parent1");
    /* A paused queue keeps its waiting jobs in `paused` (BullMQ 5.81.5, Queue.pause()). */
    CMD(c, "HSET", "bull:sparql:p2", "name", "during", "data", "{\"owner\":\"y\"}", "opts",
        "{\"jobId\":\"p2\",\"attempts\":0}", "timestamp", "1796165590001", "delay", "0", "priority",
        "0");
    CMD(c, "RPUSH", "bull:sparql:paused", "p2");
}

static const char C1_JSON[] =
    "{\"queue\":\"http\",\"jobId\":\"c1\",\"state\":\"completed\",\"name\":\"done\","
    "\"progress\":0,\"returnvalue\":{\"ok\":true,\"n\":1.5,\"s\":\"h\xc3\xa9\"},"
    "\"timestamp\":1796165579273,\"processedOn\":1796165579286,\"finishedOn\":1796165579292,"
    "\"attemptsMade\":1,\"delay\":0,\"priority\":0}";

/* Expected `state` payloads for the BullMQ fixtures: queue, id, owner field, json, owner. */
static const struct {
    int queue;
    const char *id, *owner_field, *json, *owner;
} job_want[] = {
    {0, "c1", "owner", C1_JSON, "alice"},
    {0, "f1", "owner",
     "{\"queue\":\"http\",\"jobId\":\"f1\",\"state\":\"failed\",\"name\":\"fail\","
     "\"progress\":0,\"failedReason\":\"simulated failure \\\"quoted\\\"\\nline2\","
     "\"timestamp\":1796165579277,\"processedOn\":1796165579292,\"finishedOn\":"
     "1796165579296,\"attemptsMade\":2,\"delay\":0,\"priority\":0}",
     "42"},
    {0, "np1", "owner",
     "{\"queue\":\"http\",\"jobId\":\"np1\",\"state\":\"completed\",\"name\":"
     "\"numprog\",\"progress\":42,\"returnvalue\":\"str\",\"timestamp\":1796165579279,"
     "\"processedOn\":1796165579289,\"finishedOn\":1796165579295,\"attemptsMade\":1,"
     "\"delay\":0,\"priority\":0}",
     "1.5"},
    {0, "a1", "owner",
     "{\"queue\":\"http\",\"jobId\":\"a1\",\"state\":\"active\",\"name\":\"active\","
     "\"progress\":{\"step\":2,\"of\":3,\"pct\":66.5},\"timestamp\":1796165579280,"
     "\"processedOn\":1796165579289,\"attemptsMade\":0,\"delay\":0,\"priority\":0}",
     "bob"},
    {0, "w1", NULL,
     "{\"queue\":\"http\",\"jobId\":\"w1\",\"state\":\"waiting\",\"name\":\"wait\","
     "\"progress\":0,\"timestamp\":1796165580788,\"attemptsMade\":0,\"delay\":0,"
     "\"priority\":0}",
     NULL},
    {0, "child1", "owner",
     "{\"queue\":\"http\",\"jobId\":\"child1\",\"state\":\"waiting\",\"name\":"
     "\"child\",\"progress\":0,\"timestamp\":1796165580799,\"attemptsMade\":0,"
     "\"delay\":0,\"priority\":0}",
     NULL},
    {0, "d1", "owner",
     "{\"queue\":\"http\",\"jobId\":\"d1\",\"state\":\"delayed\",\"name\":\"later\","
     "\"progress\":0,\"timestamp\":1796165580790,\"attemptsMade\":0,\"delay\":600000,"
     "\"priority\":0}",
     "dave"},
    {0, "p1", "owner",
     "{\"queue\":\"http\",\"jobId\":\"p1\",\"state\":\"prioritized\",\"name\":"
     "\"prio\",\"progress\":0,\"timestamp\":1796165580793,\"attemptsMade\":0,"
     "\"delay\":0,\"priority\":5}",
     "erin"},
    {0, "parent1", "owner",
     "{\"queue\":\"http\",\"jobId\":\"parent1\",\"state\":\"waiting-children\","
     "\"name\":\"parent\",\"progress\":0,\"timestamp\":1796165580799,"
     "\"attemptsMade\":0,\"delay\":0,\"priority\":0}",
     "pat"},
    {1, "p2", "owner",
     "{\"queue\":\"sparql\",\"jobId\":\"p2\",\"state\":\"waiting\",\"name\":"
     "\"during\",\"progress\":0,\"timestamp\":1796165590001,\"attemptsMade\":0,"
     "\"delay\":0,\"priority\":0}",
     "y"},
};

START_TEST(test_job_state)
{
    NEED_REDIS();
    redisContext *c = tc_conn();
    CMD(c, "FLUSHALL");
    bullmq_fixtures(c);
    cfg_for_test(srv_port);
    bk_t *bk = bk_new();
    rds_t *r = rds_new(&cfg, bk);
    ck_assert_int_eq(rds_start(r), 0);

    for (size_t i = 0; i < DG_ARRAY_LEN(job_want); i++)
        assert_state(r, job_want[i].queue, job_want[i].id, job_want[i].owner_field,
                     job_want[i].json, job_want[i].owner);
    /* Removed (or never added): no hash. Ids repeat across queues: c1 is http's only. */
    assert_state(r, 0, "gone", "owner",
                 "{\"queue\":\"http\",\"jobId\":\"gone\",\"state\":\"unknown\"}", NULL);
    assert_state(r, 1, "c1", "owner",
                 "{\"queue\":\"sparql\",\"jobId\":\"c1\",\"state\":\"unknown\"}", NULL);
    CMD(c, "ZADD", "bull:http:completed", "1", "removed-hash"); /* removeOnComplete race */
    assert_state(r, 0, "removed-hash", NULL,
                 "{\"queue\":\"http\",\"jobId\":\"removed-hash\",\"state\":\"unknown\"}", NULL);

    /* Owner: other fields, numbers, missing, wrong types, data that is not an object. */
    assert_state(r, 0, "c1", "n", C1_JSON, "1");
    ck_assert_int_eq(job_state(r, 0, "c1", "missing").has_owner, 0);
    ck_assert_int_eq(job_state(r, 0, "c1", NULL).has_owner, 0);
    CMD(c, "HSET", "bull:http:o1", "data",
        "{\"o\":{\"id\":1},\"b\":true,\"u\":\"user-\xc3\xa9\",\"big\":12345678901,\"neg\":-7,"
        "\"nul\":null}");
    ck_assert_int_eq(job_state(r, 0, "o1", "o").has_owner, 0);
    ck_assert_int_eq(job_state(r, 0, "o1", "b").has_owner, 0);
    ck_assert_int_eq(job_state(r, 0, "o1", "nul").has_owner, 0);
    ck_assert_str_eq(job_state(r, 0, "o1", "u").owner, "user-\xc3\xa9");
    ck_assert_str_eq(job_state(r, 0, "o1", "big").owner, "12345678901");
    ck_assert_str_eq(job_state(r, 0, "o1", "neg").owner, "-7");
    CMD(c, "HSET", "bull:http:o2", "data", "[\"owner\"]");
    ck_assert_int_eq(job_state(r, 0, "o2", "owner").has_owner, 0);
    CMD(c, "HSET", "bull:http:o3", "data", "not json");
    ck_assert_int_eq(job_state(r, 0, "o3", "owner").has_owner, 0);

    /* Odd hashes: pretty-printed JSON is compacted (its digits kept), text that is not JSON
     * is a string, control characters escaped, legacy attemptsMade, junk numbers left out.
     * Not in any state key: unknown, with what the hash says. */
    CMD(c, "HSET", "bull:http:x1", "returnvalue", "{ \"a\" : [1, 2.50],\n \"s\": \"x y\" }",
        "failedReason", "bad\x01thing", "progress", "not json", "attemptsMade", "3", "timestamp",
        "12abc");
    CMD(c, "ZADD", "bull:http:completed", "2", "x1");
    assert_state(r, 0, "x1", NULL,
                 "{\"queue\":\"http\",\"jobId\":\"x1\",\"state\":\"completed\",\"progress\":"
                 "\"not json\",\"returnvalue\":{\"a\":[1,2.50],\"s\":\"x y\"},\"attemptsMade\":3}",
                 NULL);
    CMD(c, "ZREM", "bull:http:completed", "x1");
    assert_state(r, 0, "x1", NULL,
                 "{\"queue\":\"http\",\"jobId\":\"x1\",\"state\":\"unknown\",\"progress\":"
                 "\"not json\",\"failedReason\":\"bad\\u0001thing\",\"attemptsMade\":3}",
                 NULL);

    /* A state key of another type: an error, not a guess. */
    CMD(c, "SET", "bull:sparql:active", "x");
    CMD(c, "HSET", "bull:sparql:wt", "name", "n");
    cb_ev_t e = job_state(r, 1, "wt", NULL);
    ck_assert_int_eq(e.status, DG_EIO);
    ck_assert_ptr_nonnull(strstr(e.err, "WRONGTYPE"));
    ck_assert_int_eq(e.has_val, 0);

    /* Arguments. */
    cbrec_t rec;
    cbrec_init(&rec);
    char longid[DEC_JOBID_MAX + 1], longfield[300];
    memset(longid, 'i', sizeof(longid) - 1);
    longid[DEC_JOBID_MAX] = '\0';
    memset(longfield, 'f', sizeof(longfield) - 1);
    longfield[sizeof(longfield) - 1] = '\0';
    ck_assert_int_eq(rds_job_state_async(r, 2, "1", NULL, 1000, job_cb, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_job_state_async(r, -1, "1", NULL, 1000, job_cb, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_job_state_async(r, 0, "", NULL, 1000, job_cb, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_job_state_async(r, 0, NULL, NULL, 1000, job_cb, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_job_state_async(r, 0, longid, NULL, 1000, job_cb, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_job_state_async(r, 0, "\xff", NULL, 1000, job_cb, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_job_state_async(r, 0, "1", "", 1000, job_cb, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_job_state_async(r, 0, "1", longfield, 1000, job_cb, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_job_state_async(r, 0, "1", NULL, 0, job_cb, &rec), DG_EINVAL);
    ck_assert_int_eq(rds_job_state_async(r, 0, "1", NULL, 1000, NULL, &rec), DG_EINVAL);
    longid[DEC_JOBID_MAX - 1] = '\0'; /* 255 bytes: the longest id */
    char want[DEC_JOBID_MAX + 64];
    snprintf(want, sizeof(want), "{\"queue\":\"http\",\"jobId\":\"%s\",\"state\":\"unknown\"}",
             longid);
    ck_assert_str_eq(job_state(r, 0, longid, NULL).val, want);
    ck_assert_int_eq(rec.n, 0);
    cbrec_free(&rec);
    rds_stop(r);
    ck_assert_int_eq(rds_job_state_async(r, 0, "1", NULL, 1000, job_cb, &rec), DG_ECLOSED);
    rds_free(r);
    bk_free(bk);
    redisFree(c);
}
END_TEST

/* Deeply nested results are decoded on the reader and command threads (not on a small
 * CivetWeb worker stack): jansson's deepest accepted nesting must fit, deeper falls back to
 * text. */
START_TEST(test_deep_json)
{
    NEED_REDIS();
    enum { OK_DEPTH = 2000, DEEP = 5000 };
    static char rv1[2 * OK_DEPTH + 1], rv2[2 * DEEP + 1];
    memset(rv1, '[', OK_DEPTH);
    memset(rv1 + OK_DEPTH, ']', OK_DEPTH);
    memset(rv2, '[', DEEP);
    memset(rv2 + DEEP, ']', DEEP);
    redisContext *c = tc_conn();
    CMD(c, "FLUSHALL");
    cfg_for_test(srv_port);
    bk_t *bk = bk_new();
    rec_t all;
    rec_init(&all);
    ck_assert_int_eq(bk_join(bk, &all.sub, "queue:http", NULL, NULL), 0);
    rds_t *r = rds_new(&cfg, bk);
    ck_assert_int_eq(rds_start(r), 0);
    el_group_t *g = loops_on(r, _i); /* decoding on a loop's stack */
    ck_assert(poll_until(is_ready, r, 5000));
    if (g) {
        fds_g = g;
        fds_want = 3;
        ck_assert_msg(poll_until(loops_have_fds, NULL, 5000), "readers not on the loops");
    }
    XADD(c, "bull:http:events", "event", "completed", "jobId", "d1", "returnvalue", rv1);
    XADD(c, "bull:http:events", "event", "completed", "jobId", "d2", "returnvalue", rv2);
    ck_assert_int_eq(rec_wait(&all, 2, 5000), 2);
    static char want[2 * DEEP + 128];
    snprintf(want, sizeof(want), "{\"queue\":\"http\",\"jobId\":\"d1\",\"returnvalue\":%s}", rv1);
    ck_assert_str_eq(all.msgs[0]->json, want);
    snprintf(want, sizeof(want), "{\"queue\":\"http\",\"jobId\":\"d2\",\"returnvalue\":\"%s\"}", rv2);
    ck_assert_str_eq(all.msgs[1]->json, want);
    rds_range_t out;
    char err[128];
    ck_assert_int_eq(rds_range(r, 0, (cur_id_t){0, 0}, id_max(), 10, 5000, &out, err,
                               sizeof(err)), 0);
    ck_assert_int_eq(out.n, 2);
    ck_assert_str_eq(out.items[1].msg->json, want);
    rds_range_free(&out);
    rds_stop(r);
    loops_off(g);
    rds_free(r);
    rec_free(bk, &all);
    bk_free(bk);
    redisFree(c);
}
END_TEST

/* Many concurrent replays and health checks, some with timeouts too short to be answered:
 * abandoned requests must neither leak nor be touched after their caller left. */
typedef struct hammer {
    rds_t *r;
    int ok, timeouts;
} hammer_t;

static void *hammer_main(void *arg)
{
    hammer_t *hm = arg;
    char err[128];
    for (int i = 0; i < 200; i++) {
        rds_range_t out;
        int rc = rds_range(hm->r, 0, (cur_id_t){0, 0}, id_max(), 50, i % 3 == 0 ? 1 : 2000, &out,
                           err, sizeof(err));
        if (rc == 0) {
            hm->ok++;
            rds_range_free(&out);
        } else {
            hm->timeouts++;
        }
        rds_health_t h;
        rds_get_health(hm->r, &h, i % 2 ? 1 : 1000);
    }
    return NULL;
}

START_TEST(test_concurrent_requests)
{
    NEED_REDIS();
    redisContext *c = tc_conn();
    CMD(c, "FLUSHALL");
    for (int i = 0; i < 100; i++)
        XADD(c, "bull:http:events", "event", "progress", "jobId", "1", "data", "{\"a\":[1,2,3]}");
    cfg_for_test(srv_port);
    bk_t *bk = bk_new();
    rds_t *r = rds_new(&cfg, bk);
    ck_assert_int_eq(rds_start(r), 0);
    pthread_t t[4];
    hammer_t hm[4];
    for (int i = 0; i < 4; i++) {
        hm[i] = (hammer_t){r, 0, 0};
        pthread_create(&t[i], NULL, hammer_main, &hm[i]);
    }
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ok += hm[i].ok;
    }
    ck_assert_int_ge(ok, 4 * 133);
    rds_stop(r);
    rds_free(r);
    bk_free(bk);
    redisFree(c);
}
END_TEST

/* Redis down: nothing blocks, errors come back at once, the log queue is bounded. */
START_TEST(test_redis_down)
{
    cfg_for_test(free_port()); /* nobody listens there */
    bk_t *bk = bk_new();
    rds_t *r = rds_new(&cfg, bk);
    char err[256];
    rds_range_t out;
    rds_health_t h;

    /* Not started: the queue still takes entries, up to its bound. */
    static const char *l1 = "{\"ts\":\"t\",\"level\":\"info\",\"ns\":\"a\",\"msg\":\"m\"}";
    int accepted = 0, refused = 0;
    for (int i = 0; i < 5000; i++) {
        int rc = rds_publish_log(r, CFG_LOG_INFO, "a", l1, strlen(l1));
        if (rc == 0)
            accepted++;
        else if (rc == DG_ELIMIT)
            refused++;
    }
    ck_assert_int_eq(accepted, 4096);
    ck_assert_int_eq(refused, 5000 - 4096);
    rds_get_health(r, &h, 0);
    ck_assert_uint_eq(h.logs_dropped, 5000 - 4096);
    static char big[DEC_LOG_MAX + 1];
    ck_assert_int_eq(rds_publish_log(r, CFG_LOG_INFO, "a", big, sizeof(big)), DG_ELIMIT);
    ck_assert_int_eq(rds_range(r, 0, (cur_id_t){0, 0}, id_max(), 10, 100, &out, err,
                               sizeof(err)), DG_EIO);

    ck_assert_int_eq(rds_start(r), 0);
    /* The first answer waits for the first connection attempt; later ones are immediate. */
    ck_assert_int_eq(rds_range(r, 0, (cur_id_t){0, 0}, id_max(), 10, 3000, &out, err,
                               sizeof(err)), DG_EIO);
    int64_t t0 = mono_ms();
    ck_assert_int_eq(rds_range(r, 0, (cur_id_t){0, 0}, id_max(), 10, 3000, &out, err,
                               sizeof(err)), DG_EIO);
    ck_assert_int_lt(mono_ms() - t0, 1000);
    rds_get_health(r, &h, 200);
    ck_assert_int_eq(h.connected, 0);
    ck_assert_int_eq(h.ready, 0);
    ck_assert_int_eq(h.streams[0].connected, 0);
    ck_assert_int_eq(h.streams[0].lag_ms, -1);
    ck_assert_int_eq(rds_ready(r), 0);
    t0 = mono_ms();
    rds_stop(r);
    ck_assert_int_lt(mono_ms() - t0, 1500);
    rds_free(r); /* frees the 4096 queued entries */
    bk_free(bk);
}
END_TEST

START_TEST(test_free_without_start)
{
    cfg_for_test(1);
    bk_t *bk = bk_new();
    rds_t *r = rds_new(&cfg, bk);
    ck_assert_ptr_nonnull(r);
    rds_stop(r);
    rds_free(r);
    rds_free(NULL);
    ck_assert_ptr_null(rds_new(NULL, bk));
    cfg.nqueues = CFG_MAX_QUEUES + 1;
    ck_assert_ptr_null(rds_new(&cfg, bk));
    bk_free(bk);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Routed streams and channels                                                               */
/* ---------------------------------------------------------------------------------------- */

static int routes_connected(void *r)
{
    rds_health_t h;
    rds_get_health(r, &h, 0);
    for (int i = 0; i < h.nroutes; i++)
        if (!h.routes[i].connected)
            return 0;
    return h.nroutes > 0;
}

typedef struct route_wait {
    rds_t *r;
    int route;
    uint64_t received;
} route_wait_t;

static int route_received(void *arg)
{
    route_wait_t *w = arg;
    rds_health_t h;
    rds_get_health(w->r, &h, 0);
    return h.routes[w->route].received >= w->received;
}

static void publish(redisContext *c, const char *ch, const char *payload)
{
    CMD(c, "PUBLISH", ch, payload);
}

START_TEST(test_routes)
{
    NEED_REDIS();
    redisContext *c = tc_conn();
    CMD(c, "FLUSHALL");
    cfg_for_test(srv_port);
    snprintf(cfg.routes, sizeof(cfg.routes),
             "stream:app:user-status=user-status-changed@user:{user_id}, "
             "channel:notifications=notification-received@user:{user_id}, "
             "channel:news=news@all");
    bk_t *bk = bk_new();
    rec_t u42, u7, all;
    rec_init(&u42);
    rec_init(&u7);
    rec_init(&all);
    ck_assert_int_eq(bk_join(bk, &u42.sub, "user:42", NULL, NULL), 0);
    ck_assert_int_eq(bk_join(bk, &u7.sub, "user:7", NULL, NULL), 0);
    ck_assert_int_eq(bk_join(bk, &all.sub, "all", NULL, NULL), 0);
    rds_t *r = rds_new(&cfg, bk);
    ck_assert_ptr_nonnull(r);

    /* Stream indexes after the queues and the log stream; names fit a cursor. */
    ck_assert_int_eq(rds_nstreams(r), 6);
    ck_assert_uint_eq(rds_route_streams(r), 1u << 3);
    const char *const *names = rds_stream_names(r);
    ck_assert_str_eq(names[2], "logs");
    ck_assert_str_eq(names[3], "stream/app%3Auser-status");
    ck_assert_str_eq(names[4], "channel/notifications");
    ck_assert_str_eq(names[5], "channel/news");
    ck_assert_ptr_null(names[6]);
    cur_t cur = {.n = 6, .known = 1u << 3 | 1u << 4, .pos = {[3] = {5, 1}, [4] = {6, 0}}};
    char cbuf[256];
    ck_assert_int_gt(cur_format(&cur, names, cbuf, sizeof(cbuf)), 0);
    ck_assert_str_eq(cbuf, "stream/app%3Auser-status:5-1,channel/notifications:6-0");
    cur_t back;
    ck_assert_int_eq(cur_parse(&back, names, 6, cbuf, strlen(cbuf)), 0);
    ck_assert_uint_eq(back.known, cur.known);
    ck_assert_uint_eq(back.pos[3].seq, 1);

    ck_assert_int_eq(rds_start(r), 0);
    ck_assert(poll_until(is_ready, r, 5000));
    ck_assert_msg(poll_until(routes_connected, r, 5000), "routes never connected");

    /* A stream entry's data field, and fields as an object; two malformed ones skipped. */
    XADD(c, "app:user-status", "data", "not json");
    XADD(c, "app:user-status", "data", "{\"online\":true}"); /* no user_id */
    cur_id_t id1 = XADD(c, "app:user-status", "data", "{\"user_id\":42,\"online\":true}");
    cur_id_t id2 = XADD(c, "app:user-status", "user_id", "7", "status", "away");
    ck_assert_int_eq(rec_wait(&u42, 1, 5000), 1);
    assert_msg(u42.msgs[0], MSG_ROUTE, 3, id1, "user-status-changed",
               "{\"user_id\":42,\"online\":true}");
    ck_assert_int_eq(rec_wait(&u7, 1, 5000), 1);
    assert_msg(u7.msgs[0], MSG_ROUTE, 3, id2, "user-status-changed",
               "{\"user_id\":\"7\",\"status\":\"away\"}");
    static const char sse7[] = "event: user-status-changed\n"
                               "data: {\"user_id\":\"7\",\"status\":\"away\"}\n\n";
    ck_assert_uint_eq(u7.msgs[0]->sse_len, sizeof(sse7) - 1);
    ck_assert(memcmp(u7.msgs[0]->sse, sse7, sizeof(sse7) - 1) == 0);

    /* Channel messages: JSON as it is, to the template's room; garbage skipped. */
    publish(c, "notifications", "{\"user_id\":\"42\",\"text\":\"hi\"}");
    publish(c, "notifications", "{\"user_id\":");
    publish(c, "notifications", "{\"text\":\"nobody\"}");
    publish(c, "news", "{\"title\":\"t\"}");
    ck_assert_int_eq(rec_wait(&u42, 2, 5000), 2);
    ck_assert_int_eq(u42.msgs[1]->kind, MSG_ROUTE);
    ck_assert_int_eq(u42.msgs[1]->stream, 4);
    ck_assert_str_eq(u42.msgs[1]->event, "notification-received");
    ck_assert_str_eq(u42.msgs[1]->json, "{\"user_id\":\"42\",\"text\":\"hi\"}");
    ck_assert_int_eq(rec_wait(&all, 1, 5000), 1);
    ck_assert_str_eq(all.msgs[0]->event, "news");
    ck_assert_int_eq(all.msgs[0]->stream, 5);
    route_wait_t w = {r, 1, 3};
    ck_assert(poll_until(route_received, &w, 5000));

    rds_health_t h;
    rds_get_health(r, &h, 2000);
    ck_assert_int_eq(h.nstreams, 6);
    ck_assert_int_eq(h.nroutes, 3);
    ck_assert_int_eq(h.routes[0].kind, ROUTE_STREAM);
    ck_assert_str_eq(h.routes[0].key, "app:user-status");
    ck_assert_str_eq(h.routes[0].event, "user-status-changed");
    ck_assert_str_eq(h.routes[0].room, "user:{user_id}");
    ck_assert_uint_eq(h.routes[0].received, 4);
    ck_assert_uint_eq(h.routes[0].published, 2);
    ck_assert_uint_eq(h.routes[0].delivered, 2);
    ck_assert_uint_eq(h.routes[0].malformed, 2);
    ck_assert_int_eq(h.routes[1].kind, ROUTE_CHANNEL);
    ck_assert_uint_eq(h.routes[1].received, 3);
    ck_assert_uint_eq(h.routes[1].published, 1);
    ck_assert_uint_eq(h.routes[1].malformed, 2);
    ck_assert_uint_eq(h.routes[2].delivered, 1);
    ck_assert_int_eq(h.routes[2].connected, 1);
    ck_assert_int_eq(h.streams[4].lag_ms, -1); /* a channel has no stream to lag behind */
    ck_assert_int_ge(h.streams[3].lag_ms, 0);
    ck_assert_msg(cur_id_cmp(h.streams[3].last_id, id2) == 0, "routed stream position");

    /* A replay of the routed stream carries each entry's room; channels cannot be replayed. */
    char err[256];
    rds_range_t out;
    ck_assert_int_eq(rds_range(r, 3, (cur_id_t){0, 0}, id_max(), 100, 3000, &out, err,
                               sizeof(err)), 0);
    ck_assert_int_eq(out.n, 2);
    ck_assert_str_eq(out.items[0].job_id, "user:42");
    ck_assert_str_eq(out.items[1].job_id, "user:7");
    ck_assert_str_eq(out.items[1].msg->json, "{\"user_id\":\"7\",\"status\":\"away\"}");
    rds_range_free(&out);
    ck_assert_int_eq(rds_range(r, 4, (cur_id_t){0, 0}, id_max(), 100, 3000, &out, err,
                               sizeof(err)), DG_EINVAL);

    /* The subscription comes back after its connection is killed, ids keep increasing. */
    cur_id_t before = u42.msgs[1]->id;
    CMD(c, "CLIENT", "KILL", "TYPE", "pubsub");
    w = (route_wait_t){r, 1, 4};
    int64_t until = mono_ms() + 10000;
    while (!route_received(&w) && mono_ms() < until) {
        if (routes_connected(r))
            publish(c, "notifications", "{\"user_id\":42,\"text\":\"again\"}");
        struct pollfd none;
        poll(&none, 0, 20);
    }
    ck_assert_msg(route_received(&w), "channel not resubscribed");
    ck_assert_int_ge(rec_wait(&u42, 3, 5000), 3);
    ck_assert_int_gt(cur_id_cmp(u42.msgs[2]->id, before), 0);
    rds_get_health(r, &h, 0);
    ck_assert_uint_ge(h.streams[4].reconnects, 1);

    rds_stop(r);
    rds_free(r);
    rec_free(bk, &u42);
    rec_free(bk, &u7);
    rec_free(bk, &all);
    bk_free(bk);
    redisFree(c);
}
END_TEST

/* ---- rds_reply.c (private to the Redis modules: a white-box test through rds_int.h) ---- */

static void reply_eq(const redisReply *a, const redisReply *b)
{
    ck_assert_int_eq(a->type, b->type);
    ck_assert(a->integer == b->integer);
    ck_assert_uint_eq(a->len, b->len);
    ck_assert(a->len == 0 || memcmp(a->str, b->str, a->len) == 0);
    ck_assert(!a->str || a->str[a->len] == '\0');
    ck_assert_uint_eq(a->elements, b->elements);
    for (size_t i = 0; i < a->elements; i++)
        reply_eq(a->element[i], b->element[i]);
}

/* Feeds text to an arena reader and to hiredis' own, cut at `cut` (0: whole), and compares
 * every reply. Returns how many replies there were. */
static int replies_alike(const char *text, size_t len, size_t cut)
{
    redisReader *ours = redisReaderCreateWithFunctions(rds_reply_arena());
    redisReader *plain = redisReaderCreate();
    ck_assert(ours && plain);
    int n = 0;
    size_t at = 0;
    while (at < len) {
        size_t step = cut && cut < len - at ? cut : len - at;
        ck_assert_int_eq(redisReaderFeed(ours, text + at, step), REDIS_OK);
        ck_assert_int_eq(redisReaderFeed(plain, text + at, step), REDIS_OK);
        at += step;
        for (;;) {
            void *a = NULL, *b = NULL;
            ck_assert_int_eq(redisReaderGetReply(ours, &a), REDIS_OK);
            ck_assert_int_eq(redisReaderGetReply(plain, &b), REDIS_OK);
            ck_assert((a == NULL) == (b == NULL));
            if (!a)
                break;
            reply_eq(a, b);
            rds_reply_free(a);
            freeReplyObject(b);
            n++;
        }
    }
    redisReaderFree(ours);
    redisReaderFree(plain);
    return n;
}

/* The arena's replies are hiredis' own, field for field, however the bytes arrive; blocks
 * past the first and an oversized string; a reply cut by a protocol error is freed (ASan). */
START_TEST(test_reply_arena)
{
    buf_t b = BUF_INIT;
    buf_append_str(&b, "+OK\r\n-ERR wrong\r\n:42\r\n$-1\r\n*-1\r\n*0\r\n$0\r\n\r\n");
    buf_append_str(&b, "*1\r\n*2\r\n$16\r\nbull:http:events\r\n*40\r\n");
    for (int i = 0; i < 40; i++)
        buf_appendf(&b, "*2\r\n$15\r\n1764680000000-%d\r\n*6\r\n$5\r\nevent\r\n$8\r\nprogress\r\n"
                        "$5\r\njobId\r\n$%d\r\nj%d\r\n$4\r\ndata\r\n$2\r\n%02d\r\n",
                    i % 10, 1 + (i >= 10) + 1, i, i);
    buf_append_str(&b, "*3\r\n:1\r\n*2\r\n$-1\r\n-ERR inner\r\n+fine\r\n");
    ck_assert(!b.oom);
    ck_assert_int_eq(replies_alike(b.data, b.len, 0), 9);
    for (size_t cut = 1; cut < 64; cut++)
        ck_assert_int_eq(replies_alike(b.data, b.len, cut), 9);

    /* thousands of entries (many blocks) and one string larger than any block */
    buf_reset(&b);
    buf_append_str(&b, "*3000\r\n");
    for (int i = 0; i < 3000; i++)
        buf_appendf(&b, "*2\r\n$%d\r\n%d-0\r\n*2\r\n$4\r\ndata\r\n$3\r\nabc\r\n",
                    snprintf(NULL, 0, "%d-0", i), i);
    size_t big = 300 * 1024;
    buf_appendf(&b, "$%zu\r\n", big);
    buf_reserve(&b, big + 2);
    for (size_t i = 0; i < big; i++)
        buf_append(&b, "x", 1);
    buf_append_str(&b, "\r\n");
    ck_assert(!b.oom);
    ck_assert_int_eq(replies_alike(b.data, b.len, 0), 2);
    ck_assert_int_eq(replies_alike(b.data, b.len, 4093), 2);

    redisReader *r = redisReaderCreateWithFunctions(rds_reply_arena());
    const char bad[] = "*3\r\n$3\r\nabc\r\n*2\r\n:1\r\n!bad\r\n";
    void *rep = NULL;
    ck_assert_int_eq(redisReaderFeed(r, bad, sizeof(bad) - 1), REDIS_OK);
    ck_assert_int_eq(redisReaderGetReply(r, &rep), REDIS_ERR);
    ck_assert_ptr_null(rep);
    redisReaderFree(r);
    buf_free(&b);
}
END_TEST

START_TEST(test_routes_limits)
{
    cfg_for_test(1);
    bk_t *bk = bk_new();
    /* queues + logs + routes must fit the stream indexes of a cursor */
    cfg.nqueues = CFG_MAX_QUEUES;
    for (int i = 0; i < CFG_MAX_QUEUES; i++)
        snprintf(cfg.queues[i], sizeof(cfg.queues[i]), "q%d", i);
    size_t o = 0;
    for (int i = 0; i < CUR_MAX_STREAMS - CFG_MAX_QUEUES; i++)
        o += (size_t)snprintf(cfg.routes + o, sizeof(cfg.routes) - o, "%sstream:s%d=e@all",
                              i ? "," : "", i);
    ck_assert_ptr_null(rds_new(&cfg, bk));
    char err[256];
    ck_assert_int_eq(cfg_validate(&cfg, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "routes: 16 routes with 16 queues: at most 15 routes fit");
    *strrchr(cfg.routes, ',') = '\0';
    rds_t *r = rds_new(&cfg, bk);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(rds_nstreams(r), CUR_MAX_STREAMS);
    rds_free(r);
    bk_free(bk);
}
END_TEST

Suite *redis_suite(void)
{
    Suite *s = suite_create("redis");
    TCase *tc = tcase_create("server");
    tcase_add_unchecked_fixture(tc, tc_setup, tc_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_live_events_and_reconnect, 0, 2);
    tcase_add_test(tc, test_filter_skip_and_malformed);
    tcase_add_test(tc, test_log_stream_roundtrip);
    tcase_add_test(tc, test_range_and_gap);
    tcase_add_test(tc, test_concurrent_requests);
    tcase_add_loop_test(tc, test_deep_json, 0, 2);
    tcase_add_test(tc, test_range_async);
    tcase_add_test(tc, test_kv);
    tcase_add_test(tc, test_kv_pipelined);
    tcase_add_test(tc, test_wrong_type_backoff);
    tcase_add_test(tc, test_job_state);
    tcase_add_test(tc, test_routes);
    suite_add_tcase(s, tc);
    /* Tests that SIGSTOP their redis-server get one of their own. */
    tc = tcase_create("frozen");
    tcase_add_unchecked_fixture(tc, tc_setup, tc_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_frozen_deadlines);
    tcase_add_loop_test(tc, test_frozen_health, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("offline");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_redis_down);
    tcase_add_test(tc, test_free_without_start);
    tcase_add_test(tc, test_routes_limits);
    tcase_add_test(tc, test_reply_arena);
    suite_add_tcase(s, tc);
    return s;
}
