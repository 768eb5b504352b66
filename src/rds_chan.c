/* rds_chan.c - the routed channels' thread: one connection SUBSCRIBEd to every channel of the
 * `routes` key; each message is rendered by its route (route.h) and published to the room the
 * route's template names. Pub/Sub is fire and forget: what is published while the connection
 * is down is lost, and a message gets a local id (wall-clock ms, later than the route's
 * previous one) only so that cursors stay ordered. Not a stream reader (rds_reader.c). */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "dg.h"
#include "loop.h"
#include "log.h"
#include "rds_int.h"

enum { CHAN_IO = -1 };

/* Appends a command and writes it out (the connection is blocking). */
static int chan_send(redisContext *c, int argc, const char **argv, char *err, size_t errlen)
{
    int done = 0;
    if (redisAppendCommandArgv(c, argc, argv, NULL) != REDIS_OK) {
        snprintf(err, errlen, "out of memory");
        return CHAN_IO;
    }
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK) {
            snprintf(err, errlen, "%s", c->errstr);
            return CHAN_IO;
        }
    return 0;
}

/* The next id of route reader rd: now in wall-clock ms (what delivery latency is measured
 * from), or one sequence number past the last one when the clock has not moved on. */
static cur_id_t next_id(rds_reader_t *rd)
{
    cur_id_t id = {(uint64_t)el_wall_ms(), 0};
    if (id.ms <= rd->last.ms)
        id = (cur_id_t){rd->last.ms, rd->last.seq + 1};
    pthread_mutex_lock(&rd->conn.lock);
    rd->last = id;
    pthread_mutex_unlock(&rd->conn.lock);
    return id;
}

/* One message of rd's channel: rendered and published, or counted and skipped. The log line
 * names the channel and the reason, never the payload. */
static void chan_message(rds_t *r, rds_reader_t *rd, const char *s, size_t len)
{
    char err[160];
    route_out_t out = {0};

    atomic_fetch_add(&rd->entries, 1);
    int rc = route_channel_message(rd->route, s, len, &out, err, sizeof(err));
    if (rc == DG_ENOMEM) {
        log_error("redis", "channel %s: out of memory, message dropped", rd->key);
        return;
    }
    if (rc != 0) {
        atomic_fetch_add(&rd->malformed, 1);
        log_warn("redis", "channel %s: message skipped: %s", rd->key, err);
        return;
    }
    msg_t *m = msg_new(MSG_ROUTE, (uint8_t)rd->index, next_id(rd), rd->route->event, out.json,
                       out.json_len, "/", 0, NULL);
    if (!m) {
        route_out_clear(&out);
        log_error("redis", "channel %s: out of memory, message dropped", rd->key);
        return;
    }
    const char *rooms[1] = {out.all ? "all" : out.room};
    int n = bk_publish(r->bk, m, rooms, 1);
    atomic_fetch_add(&rd->published, 1);
    if (n > 0)
        atomic_fetch_add(&rd->delivered, (uint64_t)n);
    msg_unref(m);
    route_out_clear(&out);
}

static int str_is(const redisReply *e, const char *s)
{
    return e && e->type == REDIS_REPLY_STRING && e->len == strlen(s) && memcmp(e->str, s, e->len) == 0;
}

/* Handles one reply in subscribe mode: a message, a subscription confirmed, or PING's answer. */
static int chan_reply(rds_t *r, const redisReply *rep, int *ping_owed, int *backoff, char *err,
                      size_t errlen)
{
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%.*s", (int)rep->len, rep->str);
        return CHAN_IO;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1)
        return 0;
    if (str_is(rep->element[0], "pong")) {
        *ping_owed = 0;
        return 0;
    }
    int msg = rep->elements == 3 && str_is(rep->element[0], "message");
    int sub = rep->elements == 3 && str_is(rep->element[0], "subscribe");
    if (!msg && !sub)
        return 0;
    const redisReply *ch = rep->element[1];
    if (!ch || ch->type != REDIS_REPLY_STRING)
        return 0;
    if (r->relay_on && str_is(ch, r->relay_channel)) {
        if (sub)
            *backoff = 0;
        else if (rep->element[2]->type == REDIS_REPLY_STRING)
            rds_relay_message(r, rep->element[2]->str, rep->element[2]->len);
        return 0;
    }
    for (int i = 0; i < r->nstreams; i++) {
        rds_reader_t *rd = &r->readers[i];
        if (!rd->route || rd->route->kind != ROUTE_CHANNEL || strlen(rd->key) != ch->len ||
            memcmp(rd->key, ch->str, ch->len) != 0)
            continue;
        if (sub) {
            rds_reader_ok(rd, backoff);
        } else if (rep->element[2]->type == REDIS_REPLY_STRING) {
            chan_message(r, rd, rep->element[2]->str, rep->element[2]->len);
        }
    }
    return 0;
}

/* Subscribes and follows the channels until the connection fails, Redis stops answering
 * PING within redis_timeout_ms (a frozen Redis keeps the socket open), or rds_stop(). */
static int chan_loop(rds_t *r, redisContext *c, int *backoff, char *err, size_t errlen)
{
    const char *argv[ROUTE_MAX + 2];
    int argc = 0, ping_owed = 0;
    argv[argc++] = "SUBSCRIBE";
    if (r->relay_on)
        argv[argc++] = r->relay_channel;
    for (int i = 0; i < r->nstreams; i++)
        if (r->readers[i].route && r->readers[i].route->kind == ROUTE_CHANNEL)
            argv[argc++] = r->readers[i].key;
    if (chan_send(c, argc, argv, err, errlen) != 0)
        return CHAN_IO;
    int64_t ping_sent = 0, next_ping = rds_now_ms() + rds_ping_ms(r);
    while (!atomic_load(&r->stopping)) {
        void *rep = NULL;
        if (redisGetReplyFromReader(c, &rep) != REDIS_OK) {
            snprintf(err, errlen, "%s", c->errstr);
            return CHAN_IO;
        }
        if (rep) {
            int rc = chan_reply(r, rep, &ping_owed, backoff, err, errlen);
            freeReplyObject(rep);
            if (rc)
                return rc;
            continue;
        }
        int64_t now = rds_now_ms();
        if (ping_owed && now - ping_sent >= rds_timeout_ms(r)) {
            snprintf(err, errlen, "no answer to PING within %d ms", rds_timeout_ms(r));
            return CHAN_IO;
        }
        if (!ping_owed && now >= next_ping) {
            const char *ping[1] = {"PING"};
            if (chan_send(c, 1, ping, err, errlen) != 0)
                return CHAN_IO;
            ping_owed = 1;
            ping_sent = now;
            next_ping = now + rds_ping_ms(r);
        }
        int64_t until = ping_owed ? ping_sent + rds_timeout_ms(r) : next_ping;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&p, 1, until > now ? (int)(until - now) : 0);
        if (pr < 0 && errno != EINTR) {
            snprintf(err, errlen, "poll: %s", strerror(errno));
            return CHAN_IO;
        }
        if (pr > 0 && redisBufferRead(c) != REDIS_OK) {
            snprintf(err, errlen, "%s", c->errstr);
            return CHAN_IO;
        }
    }
    snprintf(err, errlen, "stopping");
    return CHAN_IO;
}

static void chan_failed(rds_t *r, const char *err)
{
    for (int i = 0; i < r->nstreams; i++)
        if (r->readers[i].route && r->readers[i].route->kind == ROUTE_CHANNEL)
            rds_reader_failed(&r->readers[i], err);
}

void *rds_chan_main(void *arg)
{
    rds_t *r = arg;
    char err[256];
    int backoff = 0, outage = 0, ever = 0;

    rds_thread_init();
    /* As the stream readers: the backoff doubles on every failure and starts over only once
     * Redis has confirmed a subscription. */
    while (!atomic_load(&r->stopping)) {
        redisContext *c = rds_conn_open(r, &r->chan_conn, rds_timeout_ms(r), err, sizeof(err));
        int opened = c != NULL;
        if (opened) {
            if (ever)
                for (int i = 0; i < r->nstreams; i++)
                    if (r->readers[i].route && r->readers[i].route->kind == ROUTE_CHANNEL)
                        atomic_fetch_add(&r->readers[i].reconnects, 1);
            if (outage)
                log_info("redis", "channels: connected");
            ever = 1;
            outage = 0;
            chan_loop(r, c, &backoff, err, sizeof(err));
            rds_conn_close(&r->chan_conn);
        }
        if (atomic_load(&r->stopping))
            break;
        if (!outage)
            log_warn("redis", "channels: %s: %s; reconnecting", opened ? "connection lost" : "cannot connect", err);
        outage = 1;
        chan_failed(r, err);
        backoff = rds_backoff_next(backoff);
        rds_wait_stop(r, backoff);
    }
    return NULL;
}
