/* redis.c - the Redis client's lifecycle and health: creates the readers and the command
 * thread, starts and stops them, and reports what they see. The threads live in rds_reader.c
 * and rds_cmd.c, replays in rds_range.c, connection helpers in rds_conn.c (rds_int.h lists
 * the threads, what each owns and the lock rules). */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dg.h"
#include "rds_int.h"

/* ------------------------------------------------------------------------------------------ */
/* Stream info for health: one XINFO STREAM per stream, through the command thread            */
/* ------------------------------------------------------------------------------------------ */

typedef struct info_wait {
    rds_waiter_t w;
    int status;
    cur_id_t lgid[CUR_MAX_STREAMS];
    int lgid_state[CUR_MAX_STREAMS]; /* 1 known, 0 unknown, 2 stream does not exist */
} info_wait_t;

typedef struct info_req {
    rds_req_t q;
    info_wait_t *wait;
    cur_id_t lgid[CUR_MAX_STREAMS];
    int lgid_state[CUR_MAX_STREAMS];
} info_req_t;

/* Routed channels are no streams: XINFO is asked for every other index. */
static int is_channel(const rds_t *r, int s)
{
    return r->readers[s].route && r->readers[s].route->kind == ROUTE_CHANNEL;
}

static int info_append(rds_t *r, redisContext *c, rds_req_t *base)
{
    (void)base;
    int n = 0;
    for (int s = 0; s < r->nstreams; s++) {
        const char *argv[3] = {"XINFO", "STREAM", r->readers[s].key};
        if (is_channel(r, s))
            continue;
        if (redisAppendCommandArgv(c, 3, argv, NULL) != REDIS_OK)
            return -1;
        n++;
    }
    return n;
}

static void info_decode(rds_t *r, rds_req_t *base, redisReply **reps, int n)
{
    info_req_t *q = (info_req_t *)base;
    for (int s = 0, k = 0; s < r->nstreams && k < n; s++) {
        if (is_channel(r, s))
            continue;
        const redisReply *rep = reps[k++];
        if (rds_is_no_such_key(rep))
            q->lgid_state[s] = 2;
        else if (rds_reply_id(rds_info_get(rep, "last-generated-id"), &q->lgid[s]) == 0)
            q->lgid_state[s] = 1;
    }
}

static void info_deliver(rds_t *r, rds_req_t *base)
{
    info_req_t *q = (info_req_t *)base;
    (void)r;
    q->wait->status = base->status;
    memcpy(q->wait->lgid, q->lgid, sizeof(q->lgid));
    memcpy(q->wait->lgid_state, q->lgid_state, sizeof(q->lgid_state));
    rds_waiter_wake(&q->wait->w);
}

static void info_destroy(rds_req_t *base)
{
    free(base);
}

static const rds_req_ops_t info_ops = {info_append, info_decode, info_deliver, info_destroy, 1};

/* Asks for every stream's last-generated-id and waits (at most timeout_ms) for it.
 * Returns 0 with w filled, or an error. */
static int info_fetch(rds_t *r, info_wait_t *w, int timeout_ms)
{
    if (timeout_ms <= 0 || (r->cmd_ok && pthread_equal(pthread_self(), r->cmd_thread)))
        return DG_EINVAL;
    info_req_t *q = calloc(1, sizeof(*q));
    if (!q)
        return DG_ENOMEM;
    rds_req_init(&q->q, &info_ops, timeout_ms);
    q->wait = w;
    rds_waiter_init(&w->w);
    int rc = rds_req_submit(r, &q->q);
    if (rc != 0) {
        free(q);
        rds_waiter_wake(&w->w); /* nothing will call back: release the waiter */
    }
    rds_waiter_wait(&w->w);
    return rc != 0 ? rc : w->status;
}

/* ------------------------------------------------------------------------------------------ */
/* Public API                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* A route's cursor name: "stream/KEY" or "channel/NAME", with ':' (which ends a name in a
 * cursor) and '%' escaped, so no two routes and no queue (no '/' in queue names) share one. */
static void route_name(char *out, size_t cap, const route_t *rt)
{
    size_t o = (size_t)snprintf(out, cap, "%s/", rt->kind == ROUTE_STREAM ? "stream" : "channel");
    for (const char *p = rt->key; *p && o + 4 < cap; p++) {
        if (*p == ':' || *p == '%')
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", (unsigned char)*p);
        else
            out[o++] = *p;
    }
    out[o] = '\0';
}

rds_t *rds_new(const cfg_t *cfg, bk_t *broker)
{
    if (!cfg || !broker || cfg->nqueues < 0 || cfg->nqueues > CFG_MAX_QUEUES ||
        cfg->nqueues + 1 > CUR_MAX_STREAMS)
        return NULL;
    rds_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    /* config validated the routes already: failing here means cfg was changed by code */
    if (route_table_parse(&r->routes, cfg->routes, NULL, 0) != 0 ||
        cfg->nqueues + 1 + r->routes.n > CUR_MAX_STREAMS) {
        free(r);
        return NULL;
    }
    r->cfg = cfg;
    r->bk = broker;
    r->nstreams = cfg->nqueues + 1 + r->routes.n;
    atomic_store(&r->ping_rtt_ms, -1);
    pthread_mutex_init(&r->stop_lock, NULL);
    pthread_mutex_init(&r->follow_lock, NULL);
    pthread_cond_init(&r->follow_cond, NULL);
    pthread_mutex_init(&r->qlock, NULL);
    pthread_mutex_init(&r->chan_conn.lock, NULL);
    r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->wake_fd < 0 || rds_cond_init_mono(&r->stop_cond) != 0) {
        if (r->wake_fd >= 0)
            close(r->wake_fd);
        pthread_mutex_destroy(&r->chan_conn.lock);
        pthread_mutex_destroy(&r->qlock);
        pthread_mutex_destroy(&r->stop_lock);
        pthread_mutex_destroy(&r->follow_lock);
        pthread_cond_destroy(&r->follow_cond);
        free(r);
        return NULL;
    }
    for (int i = 0; i < r->nstreams; i++) {
        rds_reader_t *rd = &r->readers[i];
        rd->r = r;
        rd->index = i;
        pthread_mutex_init(&rd->conn.lock, NULL);
        if (i < cfg->nqueues) {
            rd->queue = cfg->queues[i];
            snprintf(rd->key, sizeof(rd->key), "%s:%s:events", cfg->prefix, cfg->queues[i]);
            r->names[i] = cfg->queues[i];
        } else if (i == cfg->nqueues) {
            snprintf(rd->key, sizeof(rd->key), "%s", cfg->log_stream);
            r->names[i] = "logs";
        } else {
            int k = i - cfg->nqueues - 1;
            rd->route = &r->routes.route[k];
            snprintf(rd->key, sizeof(rd->key), "%s", rd->route->key);
            route_name(r->route_names[k], sizeof(r->route_names[k]), rd->route);
            r->names[i] = r->route_names[k];
            if (rd->route->kind == ROUTE_STREAM)
                r->route_streams |= 1u << i;
            else
                r->nchannels++;
        }
    }
    r->names[r->nstreams] = NULL;
    r->relay_on = cfg->nclient_rooms > 0 || cfg->nrelay_events > 0;
    snprintf(r->relay_channel, sizeof(r->relay_channel), "%s:dualgate:relay", cfg->prefix);
    return r;
}

static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    pthread_attr_t a;
    if (pthread_attr_init(&a) != 0)
        return -1;
    pthread_attr_setstacksize(&a, RDS_THREAD_STACK);
    int rc = pthread_create(t, &a, fn, arg);
    pthread_attr_destroy(&a);
    return rc == 0 ? 0 : -1;
}

int rds_start(rds_t *r)
{
    if (!r || r->started)
        return DG_EINVAL;
    pthread_mutex_lock(&r->qlock);
    r->started = 1;
    pthread_mutex_unlock(&r->qlock);
    if (start_thread(&r->cmd_thread, rds_cmd_main, r) != 0)
        goto fail;
    r->cmd_ok = 1;
    for (int i = 0; i < r->nstreams; i++) {
        if (is_channel(r, i))
            continue;
        if (start_thread(&r->readers[i].thread, rds_reader_main, &r->readers[i]) != 0)
            goto fail;
        r->readers[i].thread_ok = 1;
    }
    if (r->nchannels || r->relay_on) {
        if (start_thread(&r->chan_thread, rds_chan_main, r) != 0)
            goto fail;
        r->chan_ok = 1;
    }
    return 0;
fail:
    rds_stop(r);
    return DG_ENOMEM;
}

void rds_stop(rds_t *r)
{
    if (!r || !r->started || r->stopped)
        return;
    r->stopped = 1;
    atomic_store(&r->stopping, 1);
    pthread_mutex_lock(&r->stop_lock);
    pthread_cond_broadcast(&r->stop_cond);
    pthread_mutex_unlock(&r->stop_lock);
    rds_cmd_wake(r);
    for (int i = 0; i < r->nstreams; i++)
        rds_conn_interrupt(&r->readers[i].conn);
    rds_conn_interrupt(&r->chan_conn);
    rds_use_loops(r, NULL); /* a loop reading for a reader sees the interrupt too; this is
                             * for loops that stopped first */
    for (int i = 0; i < r->nstreams; i++) {
        if (r->readers[i].thread_ok)
            pthread_join(r->readers[i].thread, NULL);
        r->readers[i].thread_ok = 0;
    }
    if (r->chan_ok)
        pthread_join(r->chan_thread, NULL);
    r->chan_ok = 0;
    if (r->cmd_ok)
        pthread_join(r->cmd_thread, NULL);
    r->cmd_ok = 0;
    rds_cmd_close(r); /* the command thread did this already, unless it never ran */
}

void rds_free(rds_t *r)
{
    if (!r)
        return;
    rds_stop(r);
    while (r->logq_n) {
        free(r->logq[r->logq_head].json);
        r->logq_head = (r->logq_head + 1) % RDS_LOGQ_MAX;
        r->logq_n--;
    }
    for (int i = 0; i < r->nstreams; i++)
        pthread_mutex_destroy(&r->readers[i].conn.lock);
    pthread_mutex_destroy(&r->chan_conn.lock);
    pthread_mutex_destroy(&r->qlock);
    pthread_mutex_destroy(&r->stop_lock);
    pthread_mutex_destroy(&r->follow_lock);
    pthread_cond_destroy(&r->follow_cond);
    close(r->wake_fd);
    pthread_cond_destroy(&r->stop_cond);
    free(r);
}

int rds_ready(rds_t *r)
{
    if (!r)
        return 0;
    for (int i = 0; i < r->nstreams; i++)
        if (!atomic_load(&r->readers[i].ever))
            return 0;
    return atomic_load(&r->cmd_responsive);
}
void rds_get_health(rds_t *r, rds_health_t *h, int timeout_ms)
{
    memset(h, 0, sizeof(*h));
    if (!r)
        return;
    h->nstreams = r->nstreams;
    h->ready = rds_ready(r);
    h->responsive = atomic_load(&r->cmd_responsive);
    h->connected = atomic_load(&r->cmd_connected) && h->responsive;
    h->ping_rtt_ms = atomic_load(&r->ping_rtt_ms);
    h->logs_published = atomic_load(&r->logs_published);
    h->logs_dropped = atomic_load(&r->logs_dropped);
    h->relays_published = atomic_load(&r->relays_published);
    h->relays_received = atomic_load(&r->relays_received);
    h->relays_malformed = atomic_load(&r->relays_malformed);

    /* Lag needs the command connection; without an answer in time it stays -1. */
    info_wait_t info;
    int have_info = timeout_ms > 0 && info_fetch(r, &info, timeout_ms) == 0;

    for (int i = 0; i < r->nstreams; i++) {
        rds_reader_t *rd = &r->readers[i];
        rds_stream_health_t *s = &h->streams[i];
        snprintf(s->key, sizeof(s->key), "%s", rd->key);
        s->connected = atomic_load(&rd->connected);
        if (!s->connected)
            h->connected = 0;
        pthread_mutex_lock(&rd->conn.lock);
        s->last_id = rd->last;
        snprintf(s->error, sizeof(s->error), "%s", rd->error);
        pthread_mutex_unlock(&rd->conn.lock);
        s->errors = atomic_load(&rd->errors);
        s->entries = atomic_load(&rd->entries);
        s->published = atomic_load(&rd->published);
        s->skipped = atomic_load(&rd->skipped);
        s->malformed = atomic_load(&rd->malformed);
        s->reconnects = atomic_load(&rd->reconnects);
        s->lag_ms = -1;
        if (have_info && info.lgid_state[i] == 2)
            s->lag_ms = 0; /* no stream yet: nothing to be behind on */
        else if (have_info && info.lgid_state[i] == 1)
            s->lag_ms =
                info.lgid[i].ms > s->last_id.ms ? (int64_t)(info.lgid[i].ms - s->last_id.ms) : 0;
        if (rd->route) {
            rds_route_health_t *rt = &h->routes[h->nroutes++];
            rt->kind = rd->route->kind;
            snprintf(rt->key, sizeof(rt->key), "%s", rd->route->key);
            snprintf(rt->event, sizeof(rt->event), "%s", rd->route->event);
            snprintf(rt->room, sizeof(rt->room), "%s", rd->route->room.text);
            rt->stream = i;
            rt->connected = s->connected;
            rt->received = s->entries;
            rt->published = s->published;
            rt->delivered = atomic_load(&rd->delivered);
            rt->malformed = s->malformed;
        }
    }
}

const char *const *rds_stream_names(rds_t *r)
{
    return r ? r->names : NULL;
}

int rds_nstreams(const rds_t *r)
{
    return r ? r->nstreams : 0;
}

uint32_t rds_route_streams(const rds_t *r)
{
    return r ? r->route_streams : 0;
}

const route_table_t *rds_routes(const rds_t *r)
{
    return r ? &r->routes : NULL;
}
