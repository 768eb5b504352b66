/* sse_http.c - the Server-Sent-Events transport: /sse/jobs/:id, /sse/queues/:name, /sse/logs.
 * A stream's own CivetWeb worker thread answers the request, replays what a resuming client
 * missed, then only keeps watch (heartbeats, liveness probes, closing); live events are
 * written by the SSE writer pool, batched per connection, so a fan-out costs no thread
 * wake-up per client. Resume: the Last-Event-ID cursor is replayed from Redis up to the
 * position the broker reported at join time; live events after it come from the queue. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decode.h"
#include "dg.h"
#include "httpx.h"
#include "log.h"
#include "outq.h"
#include "sse.h"
#include "wpool.h"

#define BATCH_MAX 256           /* messages written per wake-up */
#define REPLAY_MAX 20000        /* events replayed on one resume, at most */
#define REPLAY_CHUNK 1000       /* entries per XRANGE */
#define REPLAY_TIMEOUT_MS 5000
#define CURSOR_MAX 1024
#define PROBE_MS 200            /* heartbeat -> liveness probe delay */
#define SSE_WRITERS 4           /* writer pool threads: a few, so one blocked write stalls none */
#define POOL_BATCH_BYTES 65536  /* a pool write stays small, so blocking on it stays short */
#define SLOW_WRITE_MS 20        /* a pool write this long moves the stream to its own thread */

enum { CLOSE_NONE, CLOSE_OVERFLOW, CLOSE_STOP, CLOSE_WRITE };

typedef struct sse_conn {
    bk_sub_t sub;
    httpx_waiter_t waiter;
    wp_item_t wi;
    struct srv *srv;
    struct mg_connection *conn;
    pthread_mutex_t lock; /* guards q, closing, dropped, live, slow */
    pthread_cond_t cond;  /* signals the handler thread: closing, or queued work once slow */
    oq_t q;
    int closing;
    int live; /* replay done: the writer pool owns the live stream and the cursor */
    int slow; /* a pool write blocked: from now on the stream's own thread writes it */
    uint64_t dropped;
    _Atomic int64_t last_write_ms;
    /* the handler thread until live, then the writer pool (one thread at a time), then the
     * handler thread again once slow (the hand-over happens under lock) */
    cur_t cursor;
    uint32_t follow;            /* streams this connection follows */
    char room[DEC_JOBID_MAX + 16];
    char job_id[DEC_JOBID_MAX]; /* job rooms: replay keeps entries of this job only */
    bk_filter_t filter;
} sse_conn_t;

/* Wakes whoever writes c's live events: the pool, or its own thread once slow. Lock held. */
static void kick_writer_locked(sse_conn_t *c)
{
    if (c->slow)
        pthread_cond_signal(&c->cond);
    else
        wp_schedule(c->srv->sse_pool, &c->wi);
}

static void conn_deliver(bk_sub_t *sub, msg_t *m)
{
    sse_conn_t *c = (sse_conn_t *)sub;
    pthread_mutex_lock(&c->lock);
    if (c->closing) {
        c->dropped++;
    } else if (oq_push(&c->q, m, m->sse_len) != DG_OK) {
        /* Over its limit: close it (never block the publisher); the client resumes with
         * Last-Event-ID and gets what it missed from Redis. */
        c->closing = CLOSE_OVERFLOW;
        c->dropped += c->q.len + 1;
        pthread_cond_signal(&c->cond);
    } else if (c->live && c->q.len == c->q.max_msgs / 2) {
        kick_writer_locked(c); /* a big batch: start writing before it ends */
    }
    pthread_mutex_unlock(&c->lock);
}

/* Once per publish batch: a pool thread then writes everything queued in one go. */
static void conn_wake_writer(bk_sub_t *sub)
{
    sse_conn_t *c = (sse_conn_t *)sub;
    pthread_mutex_lock(&c->lock);
    if (c->live && !c->closing)
        kick_writer_locked(c);
    pthread_mutex_unlock(&c->lock);
}

static void conn_wake(httpx_waiter_t *w)
{
    sse_conn_t *c = (sse_conn_t *)((char *)w - offsetof(sse_conn_t, waiter));
    pthread_mutex_lock(&c->lock);
    if (!c->closing)
        c->closing = CLOSE_STOP;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- writing */

/* Appends one message with this connection's cursor as its id; 0 if it was already seen. */
static int append_msg(sse_conn_t *c, buf_t *out, const msg_t *m)
{
    if ((c->cursor.known & (1u << m->stream)) && cur_id_cmp(m->id, c->cursor.pos[m->stream]) <= 0)
        return 0;
    c->cursor.pos[m->stream] = m->id;
    c->cursor.known |= 1u << m->stream;
    char id[CURSOR_MAX];
    if (cur_format(&c->cursor, c->srv->stream_names, id, sizeof(id)) < 0)
        id[0] = '\0';
    sse_append_id(out, id);
    buf_append(out, m->sse, m->sse_len);
    return 1;
}

static int write_all(struct mg_connection *conn, buf_t *out)
{
    if (out->oom)
        return DG_ENOMEM;
    if (out->len && mg_write(conn, out->data, out->len) != (int)out->len)
        return DG_EIO;
    buf_reset(out);
    return DG_OK;
}

/* Once live, the pool and the handler thread both write: CivetWeb's connection lock keeps
 * their writes whole. */
static int write_locked(sse_conn_t *c, buf_t *out)
{
    mg_lock_connection(c->conn);
    int rc = write_all(c->conn, out);
    mg_unlock_connection(c->conn);
    if (rc == DG_OK)
        atomic_store(&c->last_write_ms, now_ms());
    return rc;
}

/* Takes up to BATCH_MAX queued events (about max_bytes) for one write. Lock held. */
static int take_batch(sse_conn_t *c, msg_t **batch, size_t max_bytes, int *more)
{
    int n = 0;
    size_t bytes = 0;
    while (n < BATCH_MAX && bytes < max_bytes && (batch[n] = oq_pop(&c->q)))
        bytes += batch[n++]->sse_len;
    *more = c->q.len > 0;
    return n;
}

/* Formats and writes a batch; 0, or DG_EIO after marking the stream closed. */
static int write_batch(sse_conn_t *c, buf_t *out, msg_t **batch, int n)
{
    for (int i = 0; i < n; i++) {
        append_msg(c, out, batch[i]);
        msg_unref(batch[i]);
    }
    if (write_locked(c, out) == DG_OK)
        return DG_OK;
    atomic_fetch_add(&c->srv->write_failed, 1);
    pthread_mutex_lock(&c->lock);
    if (!c->closing)
        c->closing = CLOSE_WRITE;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return DG_EIO;
}

/* Writer pool: one small batch per turn. A write that had to wait for the client (its kernel
 * buffers were full) hands the stream to its own thread, so a slow client costs the pool at
 * most one bounded wait and never again. Thread: a pool thread. */
static void conn_flush(wp_item_t *it, buf_t *out, void *ud)
{
    sse_conn_t *c = (sse_conn_t *)((char *)it - offsetof(sse_conn_t, wi));
    msg_t *batch[BATCH_MAX];
    int n, more;
    (void)ud;
    pthread_mutex_lock(&c->lock);
    if (!c->live || c->slow || c->closing) {
        pthread_mutex_unlock(&c->lock);
        return;
    }
    n = take_batch(c, batch, POOL_BATCH_BYTES, &more);
    pthread_mutex_unlock(&c->lock);
    int64_t t0 = now_ms();
    if (write_batch(c, out, batch, n) != DG_OK)
        return;
    if (now_ms() - t0 >= SLOW_WRITE_MS) {
        pthread_mutex_lock(&c->lock);
        c->slow = 1;
        pthread_cond_signal(&c->cond);
        pthread_mutex_unlock(&c->lock);
        atomic_fetch_add(&c->srv->slow_lane, 1);
        log_debug("sse", "a write to a client of %s waited %lld ms: its own thread writes it now",
                  c->room, (long long)(now_ms() - t0));
        return;
    }
    if (more)
        wp_schedule(c->srv->sse_pool, &c->wi);
}

/* ---------------------------------------------------------------- replay */

typedef struct replay {
    rds_item_t *items;
    int n, cap;
    char gaps[256];
} replay_t;

static int item_cmp(const void *a, const void *b)
{
    const msg_t *x = ((const rds_item_t *)a)->msg, *y = ((const rds_item_t *)b)->msg;
    int c = cur_id_cmp(x->id, y->id);
    return c ? c : (int)x->stream - (int)y->stream;
}

static void note_gap(replay_t *r, const char *stream)
{
    size_t len = strlen(r->gaps);
    if (strstr(r->gaps, stream))
        return;
    snprintf(r->gaps + len, sizeof(r->gaps) - len, "%s\"%s\"", len ? "," : "", stream);
}

static int replay_keep(sse_conn_t *c, const rds_item_t *it)
{
    if (c->job_id[0] && strcmp(it->job_id, c->job_id) != 0)
        return 0;
    return bk_filter_match(&c->filter, it->msg);
}

/* Collects the entries of stream s in (after, upto] this connection wants. */
static const char *replay_stream(sse_conn_t *c, replay_t *r, int s, cur_id_t after, cur_id_t upto)
{
    for (int first = 1;; first = 0) {
        rds_range_t rr;
        char err[128];
        if (rds_range(c->srv->rds, s, after, upto, REPLAY_CHUNK, REPLAY_TIMEOUT_MS, &rr, err,
                      sizeof(err)) != DG_OK)
            return "redis_unavailable";
        if (first && rr.gap)
            note_gap(r, c->srv->stream_names[s]);
        for (int i = 0; i < rr.n; i++) {
            if (!replay_keep(c, &rr.items[i]) || r->n >= REPLAY_MAX)
                continue;
            if (r->n == r->cap) {
                int cap = r->cap ? r->cap * 2 : 64;
                rds_item_t *p = realloc(r->items, sizeof(*p) * (size_t)cap);
                if (!p)
                    continue;
                r->items = p;
                r->cap = cap;
            }
            r->items[r->n++] = rr.items[i];
            rr.items[i].msg = NULL; /* moved */
        }
        after = rr.last;
        int more = rr.more && rr.n > 0;
        rds_range_free(&rr);
        if (r->n >= REPLAY_MAX)
            return "replay_limit";
        if (!more)
            return NULL;
    }
}

/* Sends every missed event from Redis, oldest first, after an explicit gap event when some of
 * them are gone. from: the client's cursor; upto: the broker position at join. */
static int replay(sse_conn_t *c, struct mg_connection *conn, const cur_t *from, const cur_t *upto,
                  int cursor_ok, buf_t *out)
{
    replay_t r = {0};
    uint32_t replayed = 0;
    const char *reason = cursor_ok ? NULL : "invalid_cursor";
    for (int s = 0; s < c->srv->nstreams && cursor_ok; s++) {
        uint32_t bit = 1u << s;
        if (!(c->follow & bit) || !(from->known & bit))
            continue;
        if (!(upto->known & bit) || cur_id_cmp(from->pos[s], upto->pos[s]) >= 0) {
            /* Cursor at or past what this instance has published: skip live duplicates. */
            c->cursor.pos[s] = from->pos[s];
            c->cursor.known |= bit;
            continue;
        }
        const char *why = replay_stream(c, &r, s, from->pos[s], upto->pos[s]);
        if (why) {
            reason = why;
            note_gap(&r, c->srv->stream_names[s]);
        } else {
            replayed |= bit;
        }
    }
    if (r.gaps[0] || reason) {
        char data[512];
        snprintf(data, sizeof(data), "{\"reason\":\"%s\",\"streams\":[%s]}",
                 reason ? reason : "trimmed", r.gaps);
        sse_append_event(out, NULL, "gap", data, strlen(data));
    }
    if (r.n > 1)
        qsort(r.items, (size_t)r.n, sizeof(*r.items), item_cmp);
    /* Replayed streams start from the client's position and end at `upto`; the others keep
     * their live position, so an id written mid-replay resumes correctly. */
    cur_t live = c->cursor;
    for (int s = 0; s < c->srv->nstreams; s++) {
        if (replayed & (1u << s)) {
            c->cursor.pos[s] = from->pos[s];
            live.pos[s] = upto->pos[s];
            live.known |= 1u << s;
        }
    }
    int rc = DG_OK;
    for (int i = 0; i < r.n; i++) {
        if (rc == DG_OK)
            append_msg(c, out, r.items[i].msg);
        msg_unref(r.items[i].msg);
        if (rc == DG_OK && out->len > 65536)
            rc = write_all(conn, out);
    }
    free(r.items);
    c->cursor = live;
    return rc == DG_OK ? write_all(conn, out) : rc;
}

/* ---------------------------------------------------------------- request */

static int fail(struct srv *s, struct mg_connection *conn, int status, const char *code,
                const char *msg)
{
    httpx_send_error(s, conn, status, code, msg, NULL);
    return status;
}

/* The request path. CivetWeb hands it over already percent-decoded (and cut at an encoded
 * NUL), so "a%2Fb" arrives as "a/b": a job id is everything after "/sse/jobs/". */
static const char *req_path(struct mg_connection *conn)
{
    const char *uri = mg_get_request_info(conn)->request_uri;
    if (uri && (strncmp(uri, "http://", 7) == 0 || strncmp(uri, "https://", 8) == 0))
        uri = strchr(strchr(uri, ':') + 3, '/'); /* absolute form: skip scheme and host */
    return uri;
}

/* Parses the path and query into c (room, follow, filters). Returns 0 or an HTTP status. */
static int parse_target(sse_conn_t *c, struct mg_connection *conn, const char **err)
{
    struct srv *s = c->srv;
    const cfg_t *cfg = s->cfg;
    const char *uri = req_path(conn);
    char val[CFG_STR_MAX];
    uint32_t all_queues = (1u << cfg->nqueues) - 1;

    if (!uri)
        return *err = "no path", 400;
    if (strncmp(uri, "/sse/jobs/", 10) == 0) {
        if (httpx_copy_id(uri + 10, c->job_id, sizeof(c->job_id), cfg->max_id_len) < 0)
            return *err = "job id is empty, too long or holds control characters", 400;
        snprintf(c->room, sizeof(c->room), "job:%s", c->job_id);
        c->follow = all_queues;
        if (httpx_query(conn, "queue", val, sizeof(val)) >= 0) {
            int q = cfg_queue_index(cfg, val);
            if (q < 0)
                return *err = "unknown queue", 404;
            c->follow = 1u << q;
            c->filter.streams = c->follow;
        }
    } else if (strncmp(uri, "/sse/queues/", 12) == 0) {
        char name[CFG_STR_MAX];
        if (httpx_copy_id(uri + 12, name, sizeof(name), cfg->max_id_len) < 0)
            return *err = "queue name is empty, too long or holds control characters", 400;
        int q = cfg_queue_index(cfg, name);
        if (q < 0)
            return *err = "unknown queue", 404;
        snprintf(c->room, sizeof(c->room), "queue:%s", name);
        c->follow = 1u << q;
    } else if (strcmp(uri, "/sse/logs") == 0) {
        snprintf(c->room, sizeof(c->room), "logs");
        c->follow = 1u << cfg->nqueues;
        if (httpx_query(conn, "level", val, sizeof(val)) >= 0) {
            int lvl = dec_level_parse(val, strlen(val));
            if (lvl < 0)
                return *err = "level must be one of trace, debug, info, warn, error, fatal", 400;
            c->filter.min_level = lvl;
        }
        int n = httpx_query(conn, "ns", val, sizeof(val));
        if (n >= 0) {
            if (n == 0 || n >= BK_NS_MAX)
                return *err = "ns must be 1 to 63 bytes", 400;
            memcpy(c->filter.ns, val, (size_t)n + 1);
        }
    } else {
        return *err = "no such endpoint", 404;
    }
    return 0;
}

static void send_head(sse_conn_t *c, struct mg_connection *conn)
{
    buf_t h = BUF_INIT;
    buf_append_str(&h, "HTTP/1.1 200 OK\r\n"
                       "Content-Type: text/event-stream; charset=utf-8\r\n"
                       "Cache-Control: no-store\r\n"
                       "X-Accel-Buffering: no\r\n"
                       "Connection: close\r\n");
    httpx_cors_headers(c->srv, conn, &h);
    buf_append(&h, "\r\n", 2);
    sse_append_retry(&h, c->srv->cfg->sse_retry_ms);
    sse_append_comment(&h, "connected");
    write_all(conn, &h);
    buf_free(&h);
}

/* The client's resume cursor: Last-Event-ID header, else ?lastEventId=. */
static int client_cursor(sse_conn_t *c, struct mg_connection *conn, cur_t *from, int *ok)
{
    char val[CURSOR_MAX];
    const char *h = mg_get_header(conn, "Last-Event-ID");
    int n;
    if (h) {
        n = (int)strlen(h);
        if (n >= (int)sizeof(val))
            n = -2;
        else
            memcpy(val, h, (size_t)n + 1);
    } else {
        n = httpx_query(conn, "lastEventId", val, sizeof(val));
    }
    if (n == -1 || (n == 0 && h))
        return 0; /* none: start live */
    *ok = n > 0 && cur_parse(from, c->srv->stream_names, c->srv->nstreams, val, (size_t)n) == 0;
    return 1;
}

static void serve(sse_conn_t *c, struct mg_connection *conn)
{
    struct srv *s = c->srv;
    buf_t out = BUF_INIT;
    cur_t at_join = {0}, from = {0};
    int cursor_ok = 1;
    int resume = client_cursor(c, conn, &from, &cursor_ok);

    if (bk_join(s->bk, &c->sub, c->room, &c->filter, &at_join) != DG_OK) {
        fail(s, conn, 503, "unavailable", "out of memory");
        return;
    }
    at_join.n = s->nstreams;
    c->cursor = at_join;
    c->cursor.known &= c->follow;
    send_head(c, conn);
    if (resume && replay(c, conn, &from, &at_join, cursor_ok, &out) != DG_OK)
        goto out;
    /* An id-only block sets the client's Last-Event-ID without firing an event, so even a
     * stream that has seen no event yet resumes from here after a disconnect. */
    char id[CURSOR_MAX];
    if (cur_format(&c->cursor, s->stream_names, id, sizeof(id)) > 0) {
        sse_append_id(&out, id);
        buf_append(&out, "\n", 1);
        if (write_all(conn, &out) != DG_OK)
            goto out;
    }

    /* From here the writer pool writes live events (and owns the cursor); this thread only
     * watches. A peer that went away is seen only when a write fails, and the first write
     * after it left still succeeds (it draws the RST): so each heartbeat is followed by a
     * one-byte probe PROBE_MS later, and a dead client is released within
     * heartbeat_ms + PROBE_MS of its last write. */
    atomic_store(&c->last_write_ms, now_ms());
    pthread_mutex_lock(&c->lock);
    c->live = 1;
    if (c->q.len)
        kick_writer_locked(c);
    pthread_mutex_unlock(&c->lock);
    int64_t probe_at = -1, last = atomic_load(&c->last_write_ms);
    for (;;) {
        pthread_mutex_lock(&c->lock);
        while (!c->closing && !(c->slow && c->q.len)) {
            int64_t lw = atomic_load(&c->last_write_ms);
            if (lw != last) { /* the pool wrote: that was a probe too */
                last = lw;
                probe_at = -1;
            }
            int64_t due = probe_at >= 0 ? probe_at : last + s->cfg->heartbeat_ms;
            int64_t wait = due - now_ms();
            if (wait <= 0)
                break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&c->cond, &c->lock, &ts);
        }
        int closing = c->closing, more;
        if (!closing && c->slow && c->q.len) { /* slow lane: this thread writes */
            msg_t *batch[BATCH_MAX];
            int n = take_batch(c, batch, SIZE_MAX, &more);
            pthread_mutex_unlock(&c->lock);
            if (write_batch(c, &out, batch, n) != DG_OK)
                break;
            if (out.cap > 65536)
                buf_free(&out);
            continue;
        }
        if (!closing && c->q.len == 0)
            oq_shrink(&c->q);
        pthread_mutex_unlock(&c->lock);
        if (closing)
            break;
        int heartbeat = probe_at < 0;
        if (heartbeat)
            sse_append_comment(&out, "heartbeat");
        else
            buf_append(&out, "\n", 1); /* an empty line: ignored by every SSE parser */
        if (write_locked(c, &out) != DG_OK) {
            atomic_fetch_add(&s->write_failed, 1);
            log_debug("sse", "client gone or write timed out (%s)", c->room);
            break;
        }
        last = atomic_load(&c->last_write_ms);
        probe_at = heartbeat ? last + PROBE_MS : -1;
    }
out:
    bk_leave_all(s->bk, &c->sub); /* no more deliver() or wake() */
    wp_cancel(s->sse_pool, &c->wi); /* and no pool thread inside conn_flush() */
    pthread_mutex_lock(&c->lock);
    if (c->closing == CLOSE_OVERFLOW) {
        atomic_fetch_add(&s->slow_closed, 1);
        atomic_fetch_add(&s->dropped_msgs, c->dropped);
        log_warn("sse", "closed a slow client of %s: outbound queue over its limit (%d msgs / "
                 "%ld bytes), %llu messages dropped",
                 c->room, s->cfg->queue_max_msgs, s->cfg->queue_max_bytes,
                 (unsigned long long)c->dropped);
    }
    oq_clear(&c->q);
    pthread_mutex_unlock(&c->lock);
    buf_free(&out);
}

int sse_http_handler(struct mg_connection *conn, void *ud)
{
    struct srv *s = ud;
    const char *method = mg_get_request_info(conn)->request_method;
    if (strcmp(method, "OPTIONS") == 0)
        return httpx_preflight(s, conn, "GET, OPTIONS");
    if (strcmp(method, "GET") != 0)
        return httpx_send_error(s, conn, 405, "method_not_allowed", "use GET",
                                "Allow: GET, OPTIONS\r\n"),
               405;

    sse_conn_t *c = calloc(1, sizeof(*c));
    if (!c)
        return fail(s, conn, 503, "unavailable", "out of memory");
    c->srv = s;
    const char *err = NULL;
    int status = parse_target(c, conn, &err);
    if (status) {
        free(c);
        return fail(s, conn, status, status == 404 ? "not_found" : "bad_request", err);
    }
    if (httpx_admit(s, HX_SSE) != DG_OK) {
        free(c);
        return fail(s, conn, 503, "over_capacity", "too many connections, retry later");
    }
    c->sub.deliver = conn_deliver;
    c->sub.wake = conn_wake_writer;
    c->sub.owner = c;
    c->conn = conn;
    c->waiter.wake = conn_wake;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    oq_init(&c->q, (uint32_t)s->cfg->queue_max_msgs, (size_t)s->cfg->queue_max_bytes);
    httpx_waiter_add(s, &c->waiter);
    if (!atomic_load(&s->stopping))
        serve(c, conn);
    httpx_waiter_remove(s, &c->waiter);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
    httpx_release(s, HX_SSE);
    return 200;
}

int sse_http_start(struct srv *s)
{
    s->sse_pool = wp_new(SSE_WRITERS, conn_flush, NULL);
    return s->sse_pool ? DG_OK : DG_ENOMEM;
}

void sse_http_stop(struct srv *s)
{
    wp_free(s->sse_pool);
    s->sse_pool = NULL;
}
