/* rds_conn.c - what every Redis connection of dualgate shares: time and waiting helpers,
 * connect + AUTH + SELECT with timeouts, capped backoff, and small reply accessors.
 * No thread of its own and no policy: readers and the command thread decide when to call. */
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dg.h"
#include "rds_int.h"

/* ------------------------------------------------------------------------------------------ */
/* Time and waiting                                                                           */
/* ------------------------------------------------------------------------------------------ */

int64_t rds_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec rds_deadline_ts(int64_t at_ms)
{
    struct timespec ts = {.tv_sec = at_ms / 1000, .tv_nsec = (at_ms % 1000) * 1000000};
    return ts;
}

struct timeval rds_ms_tv(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

int rds_cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t a;
    if (pthread_condattr_init(&a) != 0)
        return -1;
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

/* Sleeps up to ms unless rds_stop() is called. Returns 1 if stopping. */
int rds_wait_stop(rds_t *r, int ms)
{
    int64_t until = rds_now_ms() + ms;
    pthread_mutex_lock(&r->stop_lock);
    while (!atomic_load(&r->stopping) && rds_now_ms() < until) {
        struct timespec ts = rds_deadline_ts(until);
        pthread_cond_timedwait(&r->stop_cond, &r->stop_lock, &ts);
    }
    pthread_mutex_unlock(&r->stop_lock);
    return atomic_load(&r->stopping);
}

void rds_thread_init(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
}

int rds_backoff_next(int ms)
{
    if (ms <= 0)
        return RDS_BACKOFF_MIN_MS;
    return ms * 2 > RDS_BACKOFF_MAX_MS ? RDS_BACKOFF_MAX_MS : ms * 2;
}

/* ------------------------------------------------------------------------------------------ */
/* Connections                                                                                */
/* ------------------------------------------------------------------------------------------ */

void rds_conn_close(rds_conn_t *cn)
{
    pthread_mutex_lock(&cn->lock);
    redisContext *c = cn->ctx;
    cn->ctx = NULL;
    pthread_mutex_unlock(&cn->lock);
    if (c)
        redisFree(c);
}

/* Makes a blocked read on the connection return at once; the owner then sees the stop flag. */
void rds_conn_interrupt(rds_conn_t *cn)
{
    pthread_mutex_lock(&cn->lock);
    if (cn->ctx && cn->ctx->fd >= 0)
        shutdown(cn->ctx->fd, SHUT_RDWR);
    pthread_mutex_unlock(&cn->lock);
}

/* Runs a command with C-string arguments; NULL with err filled on I/O or error replies. */
redisReply *rds_run(redisContext *c, int argc, const char **argv, const size_t *lens, char *err,
                    size_t errlen)
{
    redisReply *rep = redisCommandArgv(c, argc, argv, lens);
    if (!rep) {
        snprintf(err, errlen, "%s", c->err ? c->errstr : "no reply");
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s: %.*s", argv[0], (int)rep->len, rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

void rds_hello_build(const cfg_t *cfg, int ping, rds_hello_t *h)
{
    h->n = 0;
    if (cfg->redis_password[0]) {
        int k = 0;
        h->argv[h->n][k++] = "AUTH";
        if (cfg->redis_user[0])
            h->argv[h->n][k++] = cfg->redis_user;
        h->argv[h->n][k++] = cfg->redis_password;
        h->argc[h->n++] = k;
    }
    if (cfg->redis_db > 0) {
        snprintf(h->db, sizeof(h->db), "%d", cfg->redis_db);
        h->argv[h->n][0] = "SELECT";
        h->argv[h->n][1] = h->db;
        h->argc[h->n++] = 2;
    }
    if (ping) {
        h->argv[h->n][0] = "PING";
        h->argc[h->n++] = 1;
    }
}

static const char *conn_host(const cfg_t *cfg)
{
    return cfg->redis_host[0] ? cfg->redis_host : "127.0.0.1";
}

static int conn_port(const cfg_t *cfg)
{
    return cfg->redis_port > 0 ? cfg->redis_port : 6379;
}

/* A freshly made context, or NULL with err filled (and c freed) when connecting failed. */
static redisContext *conn_made(const cfg_t *cfg, redisContext *c, char *err, size_t errlen)
{
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (c->err) {
        snprintf(err, errlen, "%.128s:%d: %.100s", conn_host(cfg), conn_port(cfg), c->errstr);
        redisFree(c);
        return NULL;
    }
    redisEnableKeepAlive(c);
    return c;
}

int rds_timeout_ms(const rds_t *r)
{
    return r->cfg->redis_timeout_ms > 0 ? r->cfg->redis_timeout_ms : RDS_TIMEOUT_DEFAULT_MS;
}

int rds_ping_ms(const rds_t *r)
{
    return r->cfg->redis_ping_interval_ms > 0 ? r->cfg->redis_ping_interval_ms
                                              : RDS_PING_DEFAULT_MS;
}

redisContext *rds_conn_open(rds_t *r, rds_conn_t *cn, int read_timeout_ms, char *err, size_t errlen)
{
    const cfg_t *cfg = r->cfg;
    rds_hello_t h;

    struct timeval tv = rds_ms_tv(rds_timeout_ms(r));
    redisContext *c =
        conn_made(cfg, redisConnectWithTimeout(conn_host(cfg), conn_port(cfg), tv), err, errlen);
    if (!c)
        return NULL;
    redisSetTimeout(c, tv);
    pthread_mutex_lock(&cn->lock);
    if (atomic_load(&r->stopping)) {
        pthread_mutex_unlock(&cn->lock);
        redisFree(c);
        snprintf(err, errlen, "stopping");
        return NULL;
    }
    cn->ctx = c;
    pthread_mutex_unlock(&cn->lock);

    rds_hello_build(cfg, 1, &h);
    for (int i = 0; i < h.n; i++) {
        redisReply *rep = rds_run(c, h.argc[i], h.argv[i], NULL, err, errlen);
        if (!rep) {
            rds_conn_close(cn);
            return NULL;
        }
        freeReplyObject(rep);
    }
    redisSetTimeout(c, rds_ms_tv(read_timeout_ms));
    return c;
}

redisContext *rds_conn_start_nb(rds_t *r, char *err, size_t errlen)
{
    const cfg_t *cfg = r->cfg;
    redisContext *c =
        conn_made(cfg, redisConnectNonBlock(conn_host(cfg), conn_port(cfg)), err, errlen);
    if (c) {
        unsigned int ms = (unsigned int)(RDS_DEAD_FACTOR * rds_timeout_ms(r));
        setsockopt(c->fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)); /* best effort */
    }
    return c;
}

/* ------------------------------------------------------------------------------------------ */
/* Reply helpers                                                                              */
/* ------------------------------------------------------------------------------------------ */

int rds_reply_id(const redisReply *rep, cur_id_t *out)
{
    return rep && rep->type == REDIS_REPLY_STRING && cur_id_parse(rep->str, rep->len, out) == 0
               ? 0
               : -1;
}

/* Looks up name in an XINFO STREAM reply (a flat name/value array in RESP2). */
const redisReply *rds_info_get(const redisReply *info, const char *name)
{
    if (!info || info->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < info->elements; i += 2) {
        const redisReply *k = info->element[i];
        if (k && k->type == REDIS_REPLY_STRING && k->len == strlen(name) &&
            memcmp(k->str, name, k->len) == 0)
            return info->element[i + 1];
    }
    return NULL;
}

int rds_is_no_such_key(const redisReply *rep)
{
    return rep && rep->type == REDIS_REPLY_ERROR && rep->str && strstr(rep->str, "no such key");
}
