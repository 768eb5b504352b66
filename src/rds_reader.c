/* rds_reader.c - the reader threads: one per stream, each on its own connection, following
 * its stream with blocking XREAD, decoding entries and publishing them to the broker in one
 * batch per reply. Reconnects with capped backoff; resumes from the last id it read. */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "rds_int.h"

/* ------------------------------------------------------------------------------------------ */
/* Reader threads                                                                             */
/* ------------------------------------------------------------------------------------------ */

enum { READ_IO = -1, READ_REPLY = 1 }; /* why reading stopped: the connection, or Redis said no */

/* Where a fresh reader starts: the stream's last-generated-id, 0-0 if the key is missing. */
static int stream_start(redisContext *c, const char *key, cur_id_t *out, char *err, size_t errlen)
{
    const char *argv[3] = {"XINFO", "STREAM", key};
    redisReply *rep = redisCommandArgv(c, 3, argv, NULL);
    int rc = READ_REPLY;
    if (!rep) {
        snprintf(err, errlen, "%s", c->errstr);
        return READ_IO;
    }
    if (rds_is_no_such_key(rep)) {
        *out = (cur_id_t){0, 0};
        rc = 0;
    } else if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "XINFO STREAM: %.*s", (int)rep->len, rep->str);
    } else if (rds_reply_id(rds_info_get(rep, "last-generated-id"), out) == 0) {
        rc = 0;
    } else {
        snprintf(err, errlen, "XINFO STREAM: no last-generated-id");
    }
    freeReplyObject(rep);
    return rc;
}

static void reader_set_last(rds_reader_t *rd, cur_id_t id)
{
    pthread_mutex_lock(&rd->conn.lock);
    rd->last = id;
    pthread_mutex_unlock(&rd->conn.lock);
}

int rds_batch_send(rds_t *r, rds_batch_t *b)
{
    for (int i = 0; i < b->n; i++)
        for (int k = 0; k < b->pubs[i].nrooms; k++)
            b->pubs[i].rooms[k] = b->rooms.data + b->room_off[i][k];
    int n = bk_publish_batch(r->bk, b->pubs, b->n);
    for (int i = 0; i < b->n; i++)
        msg_unref(b->pubs[i].msg);
    b->n = 0;
    buf_reset(&b->rooms);
    return n;
}

static void batch_send(rds_reader_t *rd, rds_batch_t *b)
{
    int n = rds_batch_send(rd->r, b);
    if (n > 0)
        atomic_fetch_add(&rd->delivered, (uint64_t)n);
}

void rds_batch_room(rds_batch_t *b, int k, const char *prefix, const char *name)
{
    b->room_off[b->n][k] = b->rooms.len;
    buf_append_str(&b->rooms, prefix);
    buf_append(&b->rooms, name, strlen(name) + 1); /* keeps the NUL */
}

static void reader_entry(rds_reader_t *rd, const redisReply *entry, cur_id_t id, rds_fields_t *fb,
                         rds_batch_t *b)
{
    rds_t *r = rd->r;
    char err[160], idbuf[CUR_ID_STR_MAX], job_id[DEC_JOBID_MAX];
    msg_t *m;

    atomic_fetch_add(&rd->entries, 1);
    int rc =
        rds_entry_decode(r, rd->index, id, entry->element[1], fb, &m, job_id, err, sizeof(err));
    bk_pub_t *p = &b->pubs[b->n];
    *p = (bk_pub_t){.stream = rd->index, .id = id};
    if (rc == RDS_ENT_MSG) {
        p->msg = m;
        if (rd->queue) {
            rds_batch_room(b, 0, "job:", job_id);
            rds_batch_room(b, 1, "queue:", rd->queue);
            rds_batch_room(b, 2, "", "all-jobs"); /* every job event of every queue */
            p->nrooms = 3;
        } else {
            rds_batch_room(b, 0, "", rd->route ? job_id : "logs"); /* a route: its room */
            p->nrooms = 1;
        }
        atomic_fetch_add(&rd->published, 1);
    } else if (rc == RDS_ENT_SKIP) {
        /* Skipped or broken, the position still moves so cursors stay exact. */
        atomic_fetch_add(&rd->skipped, 1);
    } else {
        atomic_fetch_add(&rd->malformed, 1);
        cur_id_format(id, idbuf);
        log_warn("redis", "%s %s: entry skipped: %s", rd->key, idbuf, err);
    }
    b->n++;
}

/* Records why the stream is not being read (for health), under the lock health reads it by. */
void rds_reader_failed(rds_reader_t *rd, const char *err)
{
    atomic_store(&rd->connected, 0);
    atomic_fetch_add(&rd->errors, 1);
    pthread_mutex_lock(&rd->conn.lock);
    snprintf(rd->error, sizeof(rd->error), "%.127s", err);
    pthread_mutex_unlock(&rd->conn.lock);
}

/* Redis answered: the stream is being read; the backoff starts over. */
void rds_reader_ok(rds_reader_t *rd, int *backoff)
{
    *backoff = 0;
    if (atomic_load(&rd->connected))
        return;
    pthread_mutex_lock(&rd->conn.lock);
    rd->error[0] = '\0';
    pthread_mutex_unlock(&rd->conn.lock);
    atomic_store(&rd->connected, 1);
    atomic_store(&rd->ever, 1);
}

/* Follows the stream until the connection fails, Redis answers with an error, or rds_stop();
 * err says why it returned. */
static int reader_loop(rds_reader_t *rd, redisContext *c, rds_fields_t *fb, rds_batch_t *b,
                       int *backoff, char *err, size_t errlen)
{
    rds_t *r = rd->r;
    char idbuf[CUR_ID_STR_MAX];
    cur_id_t last = rd->last; /* only this thread writes it */

    while (!atomic_load(&r->stopping)) {
        cur_id_format(last, idbuf);
        const char *argv[8] = {"XREAD",         "COUNT",   RDS_XREAD_COUNT, "BLOCK",
                               RDS_XREAD_BLOCK, "STREAMS", rd->key,         idbuf};
        /* A frozen Redis keeps the socket open: the read timeout (BLOCK + redis_timeout_ms)
         * is what notices it. */
        redisReply *rep = redisCommandArgv(c, 8, argv, NULL);
        if (!rep) {
            snprintf(err, errlen, "%s", c->errstr);
            return READ_IO;
        }
        if (rep->type == REDIS_REPLY_ERROR) { /* e.g. WRONGTYPE: the connection is fine */
            snprintf(err, errlen, "XREAD: %.*s", (int)rep->len, rep->str);
            freeReplyObject(rep);
            return READ_REPLY;
        }
        rds_reader_ok(rd, backoff);
        if (rep->type == REDIS_REPLY_NIL) { /* BLOCK timed out: nothing new */
            freeReplyObject(rep);
            continue;
        }
        const redisReply *entries = NULL;
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
            rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements == 2 &&
            rep->element[0]->element[1]->type == REDIS_REPLY_ARRAY)
            entries = rep->element[0]->element[1];
        if (!entries) {
            snprintf(err, errlen, "XREAD: unexpected reply shape");
            freeReplyObject(rep);
            return READ_IO;
        }
        for (size_t i = 0; i < entries->elements; i++) {
            const redisReply *e = entries->element[i];
            cur_id_t id;
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                rds_reply_id(e->element[0], &id) != 0 || cur_id_cmp(id, last) <= 0) {
                /* Without a usable, increasing id we cannot move past it: resync. */
                snprintf(err, errlen, "XREAD: entry without a valid id");
                batch_send(rd, b);
                reader_set_last(rd, last);
                freeReplyObject(rep);
                return READ_IO;
            }
            if (b->n == RDS_XREAD_MAX)
                batch_send(rd, b);
            reader_entry(rd, e, id, fb, b);
            last = id;
        }
        batch_send(rd, b);
        reader_set_last(rd, last);
        freeReplyObject(rep);
    }
    snprintf(err, errlen, "stopping");
    return READ_IO;
}

void *rds_reader_main(void *arg)
{
    rds_reader_t *rd = arg;
    rds_t *r = rd->r;
    char err[256];
    int backoff = 0, outage = 0;
    redisContext *c = NULL;
    rds_fields_t *fb = malloc(sizeof(*fb));
    rds_batch_t *batch = calloc(1, sizeof(*batch));

    rds_thread_init();
    if (!fb || !batch) {
        log_error("redis", "%s: out of memory, reader not started", rd->key);
        free(fb);
        free(batch);
        return NULL;
    }
    /* The backoff doubles on every failure and starts over only once Redis has answered a
     * read: a connection that then fails the same way (a key of the wrong type, a server that
     * accepts but does not answer) cannot make the reader spin. */
    while (!atomic_load(&r->stopping)) {
        if (!c) {
            c = rds_conn_open(r, &rd->conn, RDS_XREAD_BLOCK_MS + rds_timeout_ms(r), err,
                              sizeof(err));
            if (!c) {
                if (atomic_load(&r->stopping))
                    break;
                if (!outage)
                    log_warn("redis", "%s: cannot connect: %s; retrying", rd->key, err);
                outage = 1;
                rds_reader_failed(rd, err);
                backoff = rds_backoff_next(backoff);
                rds_wait_stop(r, backoff);
                continue;
            }
            if (atomic_load(&rd->ever))
                atomic_fetch_add(&rd->reconnects, 1);
            if (outage)
                log_info("redis", "%s: connected", rd->key);
            outage = 0;
            if (rd->have_start) /* the handshake's PING was answered */
                rds_reader_ok(rd, &backoff);
        }
        int rc = 0;
        if (!rd->have_start) {
            cur_id_t start;
            rc = stream_start(c, rd->key, &start, err, sizeof(err));
            if (rc == 0) {
                rd->have_start = 1;
                reader_set_last(rd, start);
                bk_set_position(r->bk, rd->index, start);
                rds_reader_ok(rd, &backoff);
            }
        }
        if (rc == 0)
            rc = reader_loop(rd, c, fb, batch, &backoff, err, sizeof(err));
        if (atomic_load(&r->stopping))
            break;
        rds_reader_failed(rd, err);
        backoff = rds_backoff_next(backoff);
        if (rc == READ_IO) {
            rds_conn_close(&rd->conn);
            c = NULL;
            log_warn("redis", "%s: connection lost: %s; reconnecting", rd->key, err);
            outage = 1;
        } else { /* Redis answered with an error: keep the connection, ask again later */
            log_warn("redis", "%s: %s; retrying in %d ms", rd->key, err, backoff);
        }
        rds_wait_stop(r, backoff);
    }
    if (c)
        rds_conn_close(&rd->conn);
    buf_free(&batch->rooms);
    free(batch);
    free(fb);
    return NULL;
}
