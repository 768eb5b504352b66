/* sse_stream.c - an SSE stream as a connection transport (conn.h): head and resume replay on
 * open, live events from the broker's shared msgs with a per-stream `id:` line, heartbeats, and
 * the soft/hard output limits. The broker only queues (stream lock) and wakes the connection;
 * everything that touches the socket runs on the stream's loop. */
#include "sse_stream.h"

#include <pthread.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "buf.h"
#include "catchup.h"
#include "dg.h"
#include "log.h"
#include "outq.h"
#include "sse.h"

#define CURSOR_MAX 1024
#define LIVE_BATCH 16 /* messages taken off the queue per lock hold */
#define REPLAY_CHUNK 64
#define REPLAY_TIMEOUT_MS 5000

typedef struct sst {
    bk_sub_t sub;
    const sst_env_t *env;
    cn_t *cn;
    pthread_mutex_t lock; /* q, dropped, overflow */
    oq_t q;
    uint64_t dropped;
    int overflow; /* the queue went over its hard limit: the loop closes the stream */
    /* loop thread */
    sst_req_t req;
    cur_t cursor; /* last id written per followed stream */
    cur_text_t idtext; /* the cursor's text, mended as live events advance it */
    cur_t upto;   /* broker positions when it joined: where a replay ends */
    rp_t *replay;
    cu_t *catchup;    /* a late job subscriber's `state` events, sent before the live queue */
    int live;         /* past the replay (and the state): queued live events go out */
    el_timer_t timer; /* heartbeat and the soft limit's deadline */
    el_timer_t expiry; /* the token's warning and end (req.warn_at / req.close_at) */
} sst_t;

static sst_t *of(cn_t *c)
{
    return cn_data(c);
}

/* ---------------------------------------------------------------- broker side */

/* Broker lock held: queue only. Over the hard limit the stream is closed by its loop; the
 * client resumes from its last id and Redis gives back what it missed. */
static void deliver(bk_sub_t *sub, msg_t *m)
{
    sst_t *s = sub->owner;
    pthread_mutex_lock(&s->lock);
    if (s->overflow) {
        s->dropped++;
    } else if (oq_push(&s->q, m, m->sse_len) != DG_OK) {
        s->overflow = 1;
        s->dropped += s->q.len + 1;
        cn_close_async(s->cn, CN_CLOSE_HARD_LIMIT);
    } else if (s->q.soft_bytes && s->q.bytes > s->q.soft_bytes &&
               oq_soft_check(&s->q, 0, el_now_ms()) == OQ_SOFT_EXPIRED) {
        /* a stalled client gets no write turns: its queue is the place to notice it */
        s->overflow = 1;
        cn_close_async(s->cn, CN_CLOSE_SOFT_LIMIT);
    }
    pthread_mutex_unlock(&s->lock);
}

/* Once per publish batch. */
static void wake(bk_sub_t *sub)
{
    sst_t *s = sub->owner;
    cn_wake(s->cn);
}

/* ---------------------------------------------------------------- writing */

/* Adds m with this stream's cursor as its id; skips what the cursor says was sent already. */
static void add_event(sst_t *s, cn_out_t *o, msg_t *m)
{
    uint32_t bit = 1u << m->stream;
    if (m->kind == MSG_RELAY) { /* a relayed client event has no place in a cursor */
        cn_out_msg(o, m, m->sse, m->sse_len);
        return;
    }
    if ((s->cursor.known & bit) && cur_id_cmp(m->id, s->cursor.pos[m->stream]) <= 0)
        return;
    size_t n = 0;
    const char *id = cur_text_advance(&s->idtext, &s->cursor, s->env->names, m->stream, m->id,
                                      CURSOR_MAX, &n);
    char *p = cn_out_room(o, n + 5);
    if (id && p) {
        memcpy(p, "id: ", 4);
        memcpy(p + 4, id, n);
        p[4 + n] = '\n';
        cn_out_commit(o, n + 5);
    }
    cn_out_msg(o, m, m->sse, m->sse_len);
}

/* An id-only block: sets the client's Last-Event-ID without an event, so even a quiet stream
 * resumes from here after a disconnect. */
static void add_id_block(sst_t *s, cn_out_t *o)
{
    char id[CURSOR_MAX];
    buf_t b = BUF_INIT;
    if (cur_format(&s->cursor, s->env->names, id, sizeof(id)) > 0) {
        sse_append_id(&b, id);
        buf_append(&b, "\n", 1);
        if (!b.oom)
            cn_out_copy(o, b.data, b.len);
    }
    buf_free(&b);
}

static void add_gap(cn_out_t *o, const char *json)
{
    buf_t b = BUF_INIT;
    sse_append_event(&b, NULL, "gap", json, strlen(json));
    if (!b.oom)
        cn_out_copy(o, b.data, b.len);
    buf_free(&b);
}

/* One `state` event with the stream's cursor (the join position) as its id, so a resume from
 * it replays exactly what was published after the join. */
static void add_state(sst_t *s, cn_out_t *o, const char *json, size_t len)
{
    char id[CURSOR_MAX];
    buf_t b = BUF_INIT;
    int n = cur_format(&s->cursor, s->env->names, id, sizeof(id));
    sse_append_event(&b, n > 0 ? id : NULL, "state", json, len);
    if (!b.oom)
        cn_out_copy(o, b.data, b.len);
    buf_free(&b);
}

/* Returns 1 while state answers are still coming; the live queue waits behind them. */
static int fill_catchup(sst_t *s, cn_out_t *o)
{
    while (!cn_out_full(o) && cn_out_free_segments(o) >= 1) {
        const char *json = NULL;
        size_t len = 0;
        switch (cu_next(s->catchup, &json, &len)) {
        case CU_ITEM:
            add_state(s, o, json, len);
            break;
        case CU_WAIT:
            return 1;
        case CU_DONE:
            cu_free(s->catchup);
            s->catchup = NULL;
            return 0;
        }
    }
    return 1;
}

static void go_live(sst_t *s, cn_out_t *o)
{
    rp_free(s->replay);
    s->replay = NULL;
    /* replayed streams now stand at the position the broker had at join */
    for (int i = 0; i < s->env->nstreams; i++) {
        uint32_t bit = 1u << i;
        if ((s->req.follow & bit) && (s->upto.known & bit)) {
            if (!(s->cursor.known & bit) || cur_id_cmp(s->cursor.pos[i], s->upto.pos[i]) < 0)
                s->cursor.pos[i] = s->upto.pos[i];
            s->cursor.known |= bit;
        }
    }
    cur_text_reset(&s->idtext);
    s->live = 1;
    add_id_block(s, o);
}

/* Returns 1 while the replay still has something coming. */
static int fill_replay(sst_t *s, cn_out_t *o)
{
    while (!cn_out_full(o) && cn_out_free_segments(o) >= 2) {
        msg_t *m = NULL;
        const char *gap = NULL;
        switch (rp_next(s->replay, &m, &gap)) {
        case RP_ITEM:
            add_event(s, o, m);
            msg_unref(m);
            break;
        case RP_GAP:
            add_gap(o, gap);
            break;
        case RP_WAIT:
            return 1;
        case RP_DONE:
            go_live(s, o);
            return 0;
        }
    }
    return 1;
}

static void arm_timer(sst_t *s, int64_t soft_deadline)
{
    int64_t at = cn_last_write_ms(s->cn) + s->env->cfg->heartbeat_ms;
    if (soft_deadline >= 0 && soft_deadline < at)
        at = soft_deadline;
    el_timer_arm(cn_loop(s->cn), &s->timer, at);
}

static int fill(cn_t *c, cn_out_t *o)
{
    sst_t *s = of(c);
    if (s->replay && fill_replay(s, o))
        return 1;
    if (s->catchup && fill_catchup(s, o))
        return 1;
    msg_t *batch[LIVE_BATCH];
    int more = 0;
    while (!cn_out_full(o)) {
        int room = cn_out_free_segments(o) / 2, n;
        if (room > LIVE_BATCH)
            room = LIVE_BATCH;
        if (room == 0)
            break;
        pthread_mutex_lock(&s->lock);
        n = oq_pop_batch(&s->q, batch, room, o->budget - o->bytes);
        more = s->q.len > 0;
        pthread_mutex_unlock(&s->lock);
        for (int i = 0; i < n; i++) {
            add_event(s, o, batch[i]);
            msg_unref(batch[i]);
        }
        if (!n || !more)
            break;
    }
    /* Soft limit: what waits here plus what the socket and the kernel have not sent yet. */
    size_t unsent = cn_unsent(c);
    pthread_mutex_lock(&s->lock);
    int soft = oq_soft_check(&s->q, unsent, el_now_ms());
    int64_t deadline = oq_soft_deadline(&s->q);
    pthread_mutex_unlock(&s->lock);
    if (soft == OQ_SOFT_EXPIRED) {
        cn_close(c, CN_CLOSE_SOFT_LIMIT);
        return 0;
    }
    if (soft == OQ_SOFT_OVER)
        arm_timer(s, deadline);
    return more;
}

static void timer_cb(el_timer_t *t)
{
    sst_t *s = DG_CONTAINER_OF(t, sst_t, timer);
    cn_t *c = s->cn;
    if (cn_closed(c))
        return;
    int64_t now = el_now_ms();
    size_t unsent = cn_unsent(c);
    pthread_mutex_lock(&s->lock);
    int soft = oq_soft_check(&s->q, unsent, now);
    int64_t deadline = oq_soft_deadline(&s->q);
    oq_shrink(&s->q); /* a burst's ring goes back while idle, not after every write */
    pthread_mutex_unlock(&s->lock);
    if (soft == OQ_SOFT_EXPIRED) {
        cn_close(c, CN_CLOSE_SOFT_LIMIT);
        return;
    }
    if (now - cn_last_write_ms(c) >= s->env->cfg->heartbeat_ms && !cn_pending(c)) {
        static const char hb[] = ": heartbeat\n\n";
        if (cn_write(c, hb, sizeof(hb) - 1) != DG_OK)
            return;
    }
    /* the heartbeat counts as a write once it is out; until then, the next check is one
     * heartbeat from now */
    int64_t at = (cn_pending(c) ? now : cn_last_write_ms(c)) + s->env->cfg->heartbeat_ms;
    if (at <= now)
        at = now + s->env->cfg->heartbeat_ms;
    if (deadline >= 0 && deadline < at)
        at = deadline;
    el_timer_arm(cn_loop(c), &s->timer, at);
}

/* ---------------------------------------------------------------- token expiry */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Arms the expiry timer for the next token deadline (epoch seconds), if any. */
static void arm_expiry(sst_t *s)
{
    long long at = s->req.warn_at && (!s->req.close_at || s->req.warn_at < s->req.close_at)
                       ? s->req.warn_at
                       : s->req.close_at;
    if (!at)
        return;
    int64_t in = (int64_t)at * 1000 - wall_ms();
    el_timer_arm(cn_loop(s->cn), &s->expiry, el_now_ms() + (in > 0 ? in : 0));
}

static void expiry_cb(el_timer_t *t)
{
    sst_t *s = DG_CONTAINER_OF(t, sst_t, expiry);
    cn_t *c = s->cn;
    long long now = (long long)(wall_ms() / 1000);
    if (cn_closed(c) || cn_finishing(c))
        return;
    if (s->req.close_at && now >= s->req.close_at) {
        if (s->env->auth_stats)
            atomic_fetch_add(&s->env->auth_stats->expired_closed, 1);
        cn_finish(c, CN_CLOSE_DONE); /* what was queued goes out first */
        return;
    }
    if (s->req.warn_at && now >= s->req.warn_at) {
        char json[64];
        buf_t b = BUF_INIT;
        long long left = s->req.exp > now ? s->req.exp - now : 0;
        int n = snprintf(json, sizeof(json), "{\"expiresIn\":%lld}", left);
        s->req.warn_at = 0;
        sse_append_event(&b, NULL, "token_expiring_soon", json, (size_t)n);
        if (!b.oom)
            cn_write(c, b.data, b.len);
        buf_free(&b);
    }
    arm_expiry(s);
}

/* ---------------------------------------------------------------- open / close */

/* A replay chunk or the state answers arrived. */
static void replay_wake(void *ud)
{
    cn_wake(((sst_t *)ud)->cn);
}

/* What a replay keeps: this stream's job (if any) through its filter. */
static int replay_keep(void *ud, const rds_item_t *it)
{
    sst_t *s = ud;
    if (s->req.job_id[0] && strcmp(it->job_id, s->req.job_id) != 0)
        return 0;
    return bk_filter_match(&s->req.filter, it->msg);
}

static int open_stream(cn_t *c)
{
    sst_t *s = of(c);
    const sst_env_t *env = s->env;
    buf_t h = BUF_INIT;
    cur_t at_join = {0};
    if (bk_join(env->bk, &s->sub, s->req.room, &s->req.filter, &at_join) != DG_OK)
        return CN_CLOSE_ERROR;
    at_join.n = env->nstreams;
    at_join.known &= s->req.follow;
    s->cursor = at_join;
    s->upto = at_join;

    buf_append_str(&h, "HTTP/1.1 200 OK\r\n"
                       "Content-Type: text/event-stream; charset=utf-8\r\n"
                       "Cache-Control: no-store\r\n"
                       "X-Accel-Buffering: no\r\n"
                       "Connection: close\r\n");
    buf_append_str(&h, s->req.headers);
    buf_append(&h, "\r\n", 2);
    sse_append_retry(&h, env->cfg->sse_retry_ms);
    sse_append_comment(&h, "connected");

    uint32_t replay = 0;
    if (s->req.resume && !s->req.cursor_ok) {
        static const char bad[] = "{\"reason\":\"invalid_cursor\",\"streams\":[]}";
        atomic_fetch_add_explicit(&env->stats->invalid_cursors, 1, memory_order_relaxed);
        sse_append_event(&h, NULL, "gap", bad, sizeof(bad) - 1);
    } else if (s->req.resume) {
        atomic_fetch_add_explicit(&env->stats->resumes, 1, memory_order_relaxed);
        for (int i = 0; i < env->nstreams; i++) {
            uint32_t bit = 1u << i;
            if (!(s->req.follow & bit) || !(s->req.from.known & bit))
                continue;
            if ((at_join.known & bit) && cur_id_cmp(s->req.from.pos[i], at_join.pos[i]) < 0) {
                replay |= bit;
            } else {
                /* at or past what this instance has published: nothing to replay, and the
                 * client's position skips live duplicates */
                s->cursor.pos[i] = s->req.from.pos[i];
                s->cursor.known |= bit;
            }
        }
    }
    int rc = h.oom ? DG_ENOMEM : cn_write(c, h.data, h.len);
    buf_free(&h);
    if (rc != DG_OK)
        return CN_CLOSE_ERROR;
    if (replay) {
        for (int i = 0; i < env->nstreams; i++)
            if (replay & (1u << i))
                s->cursor.pos[i] = s->req.from.pos[i];
        rp_spec_t spec = {.rds = env->rds, .loop = cn_loop(c), .nstreams = env->nstreams,
                          .names = env->names, .follow = replay, .from = s->req.from,
                          .upto = at_join, .keep = replay_keep, .chunk = REPLAY_CHUNK, .timeout_ms = REPLAY_TIMEOUT_MS,
                          .wake = replay_wake, .ud = s, .stats = env->rp_stats};
        if (!(s->replay = rp_new(&spec)))
            return CN_CLOSE_ERROR;
    } else if (s->req.job_stream && !s->req.resume) {
        /* A late subscriber: the room is joined (above), so whatever is published from here
         * waits in the queue while the job's state is read; the state goes out first. */
        s->live = 1;
        cu_spec_t spec = {.rds = env->rds, .loop = cn_loop(c), .names = env->names,
                          .queues = s->req.follow, .named = s->req.filter.streams != 0,
                          .job_id = s->req.job_id, .timeout_ms = env->cfg->redis_timeout_ms,
                          .wake = replay_wake, .ud = s};
        if (!(s->catchup = cu_new(&spec)))
            return CN_CLOSE_ERROR;
        cn_wake(c); /* answers that could not even be asked are ready now */
    } else {
        s->live = 1;
        char id[CURSOR_MAX];
        buf_t b = BUF_INIT;
        if (cur_format(&s->cursor, env->names, id, sizeof(id)) > 0) {
            sse_append_id(&b, id);
            buf_append(&b, "\n", 1);
            rc = b.oom ? DG_ENOMEM : cn_write(c, b.data, b.len);
        }
        buf_free(&b);
        if (rc != DG_OK)
            return CN_CLOSE_ERROR;
    }
    arm_timer(s, -1);
    arm_expiry(s);
    return 0;
}

static int read_input(cn_t *c, const char *data, size_t len)
{
    (void)c;
    (void)data;
    (void)len;
    return 0; /* an SSE client has nothing to say after its request */
}

static void close_stream(cn_t *c, int reason)
{
    sst_t *s = of(c);
    const sst_env_t *env = s->env;
    bk_leave_all(env->bk, &s->sub); /* no more deliver() or wake() after this */
    el_timer_cancel(cn_loop(c), &s->timer);
    el_timer_cancel(cn_loop(c), &s->expiry);
    rp_free(s->replay);
    s->replay = NULL;
    cu_free(s->catchup);
    s->catchup = NULL;
    pthread_mutex_lock(&s->lock);
    uint64_t dropped = s->dropped + s->q.len;
    oq_clear(&s->q);
    pthread_mutex_unlock(&s->lock);
    if (reason == CN_CLOSE_HARD_LIMIT || reason == CN_CLOSE_SOFT_LIMIT || reason == CN_CLOSE_STALL) {
        atomic_fetch_add(&env->stats->slow_closed, 1);
        atomic_fetch_add(&env->stats->dropped, dropped);
        log_warn("sse", "closed a slow client of %s (%s): %llu messages dropped; it resumes from "
                 "its last event id",
                 s->req.room, cn_reason_name(reason), (unsigned long long)dropped);
    }
}

/* Runs once even for a stream whose loop had stopped before it could open. */
static void free_stream(cn_t *c)
{
    sst_t *s = of(c);
    oq_clear(&s->q);
    cur_text_free(&s->idtext);
    adm_release(s->env->adm, ADM_SSE);
    pthread_mutex_destroy(&s->lock);
}

/* Draining: a retry: somewhere between one and two sse_retry_ms (so the reconnects of every
 * stream ended together still spread out), then the end of the stream. */
static void drain_stream(cn_t *c)
{
    sst_t *s = of(c);
    buf_t b = BUF_INIT;
    int ms = s->env->cfg->sse_retry_ms;
    sse_append_retry(&b, ms + (int)((unsigned)el_now_ms() * 2654435761u % (unsigned)(ms + 1)));
    if (!b.oom)
        cn_write(c, b.data, b.len);
    buf_free(&b);
    cn_finish(c, CN_CLOSE_SHUTDOWN);
}

static const cn_ops_t sse_ops = {CN_KIND_SSE, open_stream, read_input, fill, close_stream,
                                 free_stream, drain_stream};

int sst_start(const sst_env_t *env, el_t *l, int fd, const sst_req_t *req)
{
    cn_t *c = cn_new(l, fd, &sse_ops, env->cn, sizeof(sst_t));
    if (!c) {
        close(fd);
        adm_release(env->adm, ADM_SSE);
        return DG_ENOMEM;
    }
    sst_t *s = of(c);
    s->env = env;
    s->cn = c;
    s->req = *req;
    s->sub.deliver = deliver;
    s->sub.wake = wake;
    s->sub.owner = s;
    s->timer.cb = timer_cb;
    s->expiry.cb = expiry_cb;
    pthread_mutex_init(&s->lock, NULL);
    oq_init(&s->q, (uint32_t)env->cfg->queue_max_msgs, (size_t)env->cfg->queue_max_bytes);
    oq_set_soft(&s->q, (size_t)env->cfg->queue_soft_bytes, env->cfg->queue_soft_ms);
    cn_start(c);
    return DG_OK;
}
