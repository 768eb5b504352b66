/* rds_reader.c - the stream readers: one per stream, each on its own connection, following
 * its stream with XREAD BLOCK, decoding entries and publishing them to the broker in one batch
 * per reply. A reader's thread connects, reconnects with capped backoff and resumes from the
 * last id it read; once the server has event loops (rds_use_loops), the reading itself runs
 * on one of them, so an event reaches that loop's subscribers without a thread hop. */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "buf.h"
#include "dg.h"
#include "log.h"
#include "rds_int.h"

/* ------------------------------------------------------------------------------------------ */
/* Reader threads                                                                             */
/* ------------------------------------------------------------------------------------------ */

/* Why reading stopped: the connection, Redis said no, no loop to read on (read in the thread),
 * the loops came and the connection, with no request in flight, moves to one, or it left its
 * loop (rds_use_loops(NULL)) and goes on in the thread. */
enum { READ_IO = -1, READ_REPLY = 1, READ_NO_LOOP = 2, READ_MOVE = 3, READ_LEFT = 4 };

static int have_loops(rds_t *r)
{
    pthread_mutex_lock(&r->follow_lock);
    int on = r->loops != NULL;
    pthread_mutex_unlock(&r->follow_lock);
    return on;
}

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

/* The XREAD that follows rd's stream after last. argv points into rd and idbuf. */
static void xread_argv(rds_reader_t *rd, cur_id_t last, char idbuf[CUR_ID_STR_MAX],
                       const char *argv[8])
{
    cur_id_format(last, idbuf);
    const char *a[8] = {"XREAD", "COUNT",   RDS_XREAD_COUNT, "BLOCK",
                        RDS_XREAD_BLOCK, "STREAMS", rd->key, idbuf};
    memcpy(argv, a, sizeof(a));
}

/* One XREAD reply: its entries published in batches, *last moved past them. Returns 0, or
 * READ_IO / READ_REPLY with err filled (rep is the caller's to free either way). */
static int reader_reply(rds_reader_t *rd, const redisReply *rep, cur_id_t *last, rds_fields_t *fb,
                        rds_batch_t *b, int *backoff, char *err, size_t errlen)
{
    if (rep->type == REDIS_REPLY_ERROR) { /* e.g. WRONGTYPE: the connection is fine */
        snprintf(err, errlen, "XREAD: %.*s", (int)rep->len, rep->str);
        return READ_REPLY;
    }
    rds_reader_ok(rd, backoff);
    if (rep->type == REDIS_REPLY_NIL) /* BLOCK timed out: nothing new */
        return 0;
    const redisReply *entries = NULL;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
        rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements == 2 &&
        rep->element[0]->element[1]->type == REDIS_REPLY_ARRAY)
        entries = rep->element[0]->element[1];
    if (!entries) {
        snprintf(err, errlen, "XREAD: unexpected reply shape");
        return READ_IO;
    }
    int rc = 0;
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        cur_id_t id;
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            rds_reply_id(e->element[0], &id) != 0 || cur_id_cmp(id, *last) <= 0) {
            /* Without a usable, increasing id we cannot move past it: resync. */
            snprintf(err, errlen, "XREAD: entry without a valid id");
            rc = READ_IO;
            break;
        }
        if (b->n == RDS_XREAD_MAX)
            batch_send(rd, b);
        reader_entry(rd, e, id, fb, b);
        *last = id;
    }
    batch_send(rd, b);
    reader_set_last(rd, *last);
    return rc;
}

/* Follows the stream until the connection fails, Redis answers with an error, or rds_stop();
 * err says why it returned. */
static int reader_loop(rds_reader_t *rd, redisContext *c, rds_fields_t *fb, rds_batch_t *b,
                       int *backoff, char *err, size_t errlen)
{
    rds_t *r = rd->r;
    char idbuf[CUR_ID_STR_MAX];
    const char *argv[8];
    cur_id_t last = rd->last; /* only this thread writes it */

    while (!atomic_load(&r->stopping)) {
        xread_argv(rd, last, idbuf, argv);
        /* A frozen Redis keeps the socket open: the read timeout (BLOCK + redis_timeout_ms)
         * is what notices it. */
        redisReply *rep = redisCommandArgv(c, 8, argv, NULL);
        if (!rep) {
            snprintf(err, errlen, "%s", c->errstr);
            return READ_IO;
        }
        int rc = reader_reply(rd, rep, &last, fb, b, backoff, err, errlen);
        rds_reply_free(rep);
        if (rc)
            return rc;
        if (have_loops(r))
            return READ_MOVE;
    }
    snprintf(err, errlen, "stopping");
    return READ_IO;
}

/* ------------------------------------------------------------------------------------------ */
/* Following on an event loop                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* The reader's thread lends its connection to a loop, which sends each XREAD and reads its
 * reply with non-blocking calls of its own (hiredis only formats and parses here: its writes
 * would raise SIGPIPE on a loop thread), and gives the connection back when it fails. The
 * thread waits meanwhile, so fb, b and *backoff are the loop's alone until then. */
struct rds_follow {
    rds_reader_t *rd;
    el_t *loop;
    redisContext *c;
    el_io_t io;
    el_timer_t timeout; /* a frozen Redis: no reply within BLOCK + redis_timeout_ms */
    el_task_t start;
    char *cmd; /* the XREAD being sent (redisFormatCommandArgv) */
    size_t cmd_len, cmd_off;
    int watching;
    int awaiting; /* the XREAD is sent, its reply not read yet */
    el_ready_t next;  /* the next XREAD waits behind the writes the last reply queued */
    int queued;       /* next is on the ready list (loop thread only) */
    int rounds;       /* ... for this many rounds so far */
    cur_id_t last;
    rds_fields_t *fb;
    rds_batch_t *b;
    int *backoff;
    int rc;       /* why it ended (the first end wins), and ... */
    char err[256]; /* ... in words: the loop's until done, then the thread's */
    int done;     /* under follow_lock */
};

static void follow_hand_back(rds_follow_t *f)
{
    rds_t *r = f->rd->r;
    pthread_mutex_lock(&r->follow_lock);
    f->done = 1;
    pthread_cond_broadcast(&r->follow_cond);
    pthread_mutex_unlock(&r->follow_lock);
}

/* Gives the connection back to the reader's thread; f is gone once that is done (or, while
 * f->next is queued, once it has run: the ready list still points at f). */
static void follow_end(rds_follow_t *f, int rc, const char *err)
{
    if (f->watching)
        el_io_del(f->loop, &f->io);
    f->watching = 0;
    el_timer_cancel(f->loop, &f->timeout);
    redisFreeCommand(f->cmd);
    f->cmd = NULL;
    if (!f->rc) {
        f->rc = rc;
        snprintf(f->err, sizeof(f->err), "%s", err);
    }
    if (!f->queued)
        follow_hand_back(f);
}

/* Sends what is left of the XREAD. Returns 0, or -1 when it ended the follow (f is gone). */
static int follow_write(rds_follow_t *f)
{
    while (f->cmd_off < f->cmd_len) {
        ssize_t n = send(f->c->fd, f->cmd + f->cmd_off, f->cmd_len - f->cmd_off, MSG_NOSIGNAL);
        if (n > 0) {
            f->cmd_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            if (el_io_mod(f->loop, &f->io, EPOLLIN | EPOLLOUT) == 0)
                return 0;
            follow_end(f, READ_IO, "epoll_ctl failed");
            return -1;
        } else {
            char err[128];
            snprintf(err, sizeof(err), "write: %s", n < 0 ? strerror(errno) : "nothing sent");
            follow_end(f, READ_IO, err);
            return -1;
        }
    }
    redisFreeCommand(f->cmd);
    f->cmd = NULL;
    f->awaiting = 1;
    if (el_io_mod(f->loop, &f->io, EPOLLIN) == 0)
        return 0;
    follow_end(f, READ_IO, "epoll_ctl failed");
    return -1;
}

/* Asks for the entries after f->last (the follow ends instead once stopping). */
static void follow_send(rds_follow_t *f)
{
    char idbuf[CUR_ID_STR_MAX];
    const char *argv[8];
    if (atomic_load(&f->rd->r->stopping)) {
        follow_end(f, READ_IO, "stopping");
        return;
    }
    xread_argv(f->rd, f->last, idbuf, argv);
    int n = redisFormatCommandArgv(&f->cmd, 8, argv, NULL);
    if (n < 0) {
        f->cmd = NULL;
        follow_end(f, READ_IO, "out of memory");
        return;
    }
    f->cmd_len = (size_t)n;
    f->cmd_off = 0;
    if (el_timer_arm(f->loop, &f->timeout,
                     el_now_ms() + RDS_XREAD_BLOCK_MS + rds_timeout_ms(f->rd->r)) != 0) {
        follow_end(f, READ_IO, "out of memory");
        return;
    }
    (void)follow_write(f);
}

/* A reply can queue a thousand messages for each subscriber on this loop, far more than one
 * write turn sends: the next XREAD waits until the loop has given every connection it woke its
 * turns (no other ready item left), for at most FOLLOW_ROUNDS_MAX rounds, so reading never
 * outruns writing and a subscriber that reads is never taken for a slow one. */
#define FOLLOW_ROUNDS_MAX 256

static void follow_next(rds_follow_t *f)
{
    if (f->rounds < FOLLOW_ROUNDS_MAX && el_ready_pending(f->loop) &&
        el_schedule(f->loop, &f->next)) {
        f->rounds++;
        f->queued = 1;
        return;
    }
    f->rounds = 0;
    follow_send(f);
}

static void follow_next_run(el_ready_t *r)
{
    rds_follow_t *f = DG_CONTAINER_OF(r, rds_follow_t, next);
    f->queued = 0;
    if (f->rc) /* it ended while queued */
        follow_hand_back(f);
    else
        follow_next(f);
}

static void follow_timeout(el_timer_t *t)
{
    rds_follow_t *f = DG_CONTAINER_OF(t, rds_follow_t, timeout);
    follow_end(f, READ_IO, "Resource temporarily unavailable"); /* as hiredis says it */
}

/* Reads what is there (bounded per call, so one busy stream cannot hold the loop), then
 * handles the reply once it is complete and asks for the next one. */
static void follow_read(rds_follow_t *f)
{
    char buf[64 * 1024], err[256];
    for (int round = 0; round < 16; round++) {
        ssize_t n = recv(f->c->fd, buf, sizeof(buf), 0);
        if (n > 0) {
            if (redisReaderFeed(f->c->reader, buf, (size_t)n) != REDIS_OK) {
                follow_end(f, READ_IO, "out of memory");
                return;
            }
            if ((size_t)n < sizeof(buf))
                break;
        } else if (n == 0) {
            follow_end(f, READ_IO, "Server closed the connection");
            return;
        } else if (errno == EINTR) {
            round--;
        } else if (errno == EAGAIN) {
            break;
        } else {
            snprintf(err, sizeof(err), "read: %s", strerror(errno));
            follow_end(f, READ_IO, err);
            return;
        }
    }
    void *rep = NULL;
    if (redisReaderGetReply(f->c->reader, &rep) != REDIS_OK) {
        follow_end(f, READ_IO, "Protocol error");
        return;
    }
    if (!rep)
        return; /* the rest is on its way */
    if (f->cmd) { /* a reply before the whole command was sent: not ours to make sense of */
        rds_reply_free(rep);
        follow_end(f, READ_IO, "XREAD: reply before the request");
        return;
    }
    el_timer_cancel(f->loop, &f->timeout);
    f->awaiting = 0;
    int rc = reader_reply(f->rd, rep, &f->last, f->fb, f->b, f->backoff, err, sizeof(err));
    rds_reply_free(rep);
    if (rc)
        follow_end(f, rc, err);
    else
        follow_next(f);
}

static void follow_io(el_io_t *io, uint32_t events)
{
    rds_follow_t *f = DG_CONTAINER_OF(io, rds_follow_t, io);
    if ((events & EPOLLOUT) && f->cmd && follow_write(f) != 0)
        return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
        follow_read(f);
}

static void follow_start(void *arg, int cancelled)
{
    rds_follow_t *f = arg;
    if (cancelled) {
        follow_end(f, READ_NO_LOOP, "event loop stopped");
        return;
    }
    f->io.cb = follow_io;
    f->timeout.cb = follow_timeout;
    f->next.run = follow_next_run;
    if (el_io_add(f->loop, &f->io, f->c->fd, EPOLLIN) != 0) {
        follow_end(f, READ_IO, "epoll_ctl failed");
        return;
    }
    f->watching = 1;
    follow_send(f);
}

/* rds_use_loops(NULL): ends the follow on its loop, if one is still on (cancelled: the loop
 * has stopped and nothing else touches the follow, so the caller ends it). */
static void follow_leave(void *arg, int cancelled)
{
    rds_reader_t *rd = arg;
    rds_t *r = rd->r;
    (void)cancelled;
    pthread_mutex_lock(&r->follow_lock);
    rds_follow_t *f = rd->follow;
    int live = f && !f->done; /* only this loop ends it, so it stays live after the unlock */
    rd->leaving = 0;          /* rd->leave may be posted again */
    pthread_cond_broadcast(&r->follow_cond);
    pthread_mutex_unlock(&r->follow_lock);
    /* Between two XREADs, or waiting for one's reply (the thread reads it), the connection
     * stays good; half a command sent does not. */
    if (live)
        follow_end(f, f->cmd ? READ_IO : READ_LEFT, f->cmd ? "left the event loop mid-request" : "");
}

static int set_blocking(redisContext *c, int on)
{
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, on ? fl & ~O_NONBLOCK : fl | O_NONBLOCK) < 0)
        return -1;
    c->flags = on ? c->flags | REDIS_BLOCK : c->flags & ~REDIS_BLOCK;
    return 0;
}

/* Lends c to the loop rds_use_loops gave this reader and waits until the loop gives it back;
 * returns as reader_loop does, or READ_NO_LOOP (no loop to follow on: read here). */
static int follow_on_loop(rds_reader_t *rd, redisContext *c, rds_fields_t *fb, rds_batch_t *b,
                          int *backoff, char *err, size_t errlen)
{
    rds_t *r = rd->r;
    rds_follow_t f = {.rd = rd, .c = c, .fb = fb, .b = b, .backoff = backoff, .last = rd->last};
    pthread_mutex_lock(&r->follow_lock);
    if (r->loops)
        f.loop = elg_get(r->loops, rd->index % elg_size(r->loops));
    if (!f.loop || set_blocking(c, 0) != 0) {
        pthread_mutex_unlock(&r->follow_lock);
        return READ_NO_LOOP;
    }
    rd->follow = &f;
    pthread_mutex_unlock(&r->follow_lock);

    f.start = (el_task_t){.fn = follow_start, .arg = &f};
    el_post_task(f.loop, &f.start);

    pthread_mutex_lock(&r->follow_lock);
    while (!f.done)
        pthread_cond_wait(&r->follow_cond, &r->follow_lock);
    rd->follow = NULL;
    pthread_cond_broadcast(&r->follow_cond); /* rds_use_loops(NULL) may be waiting */
    pthread_mutex_unlock(&r->follow_lock);
    snprintf(err, errlen, "%s", f.err);
    if (set_blocking(c, 1) != 0) {
        snprintf(err, errlen, "fcntl: %s", strerror(errno));
        return READ_IO;
    }
    if (f.rc != READ_LEFT)
        return f.rc;
    if (f.awaiting) { /* hiredis reads the rest of the reply, whatever the loop had fed it */
        void *rep = NULL;
        if (redisGetReply(c, &rep) != REDIS_OK || !rep) {
            snprintf(err, errlen, "%s", c->err ? c->errstr : "no reply");
            return READ_IO;
        }
        int rc = reader_reply(rd, rep, &f.last, fb, b, backoff, err, errlen);
        rds_reply_free(rep);
        if (rc)
            return rc;
    }
    return READ_NO_LOOP;
}

void rds_use_loops(rds_t *r, el_group_t *g)
{
    pthread_mutex_lock(&r->follow_lock);
    r->loops = g;
    if (!g) {
        for (int i = 0; i < r->nstreams; i++) {
            rds_reader_t *rd = &r->readers[i];
            if (rd->follow && !rd->leaving) {
                rd->leaving = 1;
                rd->leave = (el_task_t){.fn = follow_leave, .arg = rd};
                el_t *l = rd->follow->loop;
                pthread_mutex_unlock(&r->follow_lock); /* cancelled, it runs right here */
                el_post_task(l, &rd->leave);
                pthread_mutex_lock(&r->follow_lock);
            }
        }
        for (int i = 0; i < r->nstreams; i++) /* gone, and no leave task still queued */
            while (r->readers[i].follow || r->readers[i].leaving)
                pthread_cond_wait(&r->follow_cond, &r->follow_lock);
    }
    pthread_mutex_unlock(&r->follow_lock);
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
        /* XREAD replies come from an arena; the handshake's and XINFO's are hiredis' own */
        redisReplyObjectFunctions *plain = c->reader->fn;
        if (rc == 0)
            c->reader->fn = rds_reply_arena();
        while (rc == 0 || rc == READ_MOVE) {
            rc = follow_on_loop(rd, c, fb, batch, &backoff, err, sizeof(err));
            if (rc == READ_NO_LOOP)
                rc = reader_loop(rd, c, fb, batch, &backoff, err, sizeof(err));
        }
        if (rc != READ_IO) /* kept: nothing half-read, so the next XINFO may be hiredis' again */
            c->reader->fn = plain;
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
