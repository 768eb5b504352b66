/* replay.c - chunked, merged replay of several Redis streams. Each stream keeps at most one
 * chunk (a decoded rds_range) and at most one request in flight; the merge takes the smallest
 * id among the streams' heads and needs every unfinished stream to have a head, so a stream
 * whose chunk ran out is refilled before anything else is sent. */
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"

#define GAP_MAX 512

typedef struct rp_stream {
    rds_range_t chunk; /* items[idx..n) not yet taken */
    int idx;
    int have;     /* chunk holds a result */
    int inflight; /* a request is out */
    int done;     /* nothing more to fetch or take */
    int started;  /* the first answer came */
    cur_id_t after;
} rp_stream_t;

/* One request: its own task node, so posting the answer back cannot fail. */
typedef struct rp_req {
    el_task_t task;
    rp_t *r;
    int stream;
    int status;
    rds_range_t res;
} rp_req_t;

struct rp {
    rp_spec_t spec;
    int inflight;  /* requests out: the replay is freed when abandoned and none is left */
    int abandoned; /* rp_free was called */
    int started;   /* every stream's first answer is in */
    uint32_t trimmed, failed, reported_failed;
    char gap[GAP_MAX];
    rp_stream_t st[CUR_MAX_STREAMS];
};

static void count(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void destroy(rp_t *r)
{
    for (int s = 0; s < r->spec.nstreams; s++)
        if (r->st[s].have)
            rds_range_free(&r->st[s].chunk);
    if (r->spec.stats)
        atomic_fetch_sub(&r->spec.stats->active, 1);
    free(r);
}

/* ---------------------------------------------------------------- requests */

static void on_answer_loop(void *arg, int cancelled)
{
    rp_req_t *q = arg;
    rp_t *r = q->r;
    rp_stream_t *st = &r->st[q->stream];
    r->inflight--;
    st->inflight = 0;
    if (r->abandoned || cancelled) {
        if (q->status == DG_OK)
            rds_range_free(&q->res);
        free(q);
        if (r->abandoned && !r->inflight)
            destroy(r);
        return;
    }
    int first = !st->started;
    st->started = 1;
    if (q->status != DG_OK) {
        st->done = 1;
        r->failed |= 1u << q->stream;
    } else {
        if (first && q->res.gap)
            r->trimmed |= 1u << q->stream; /* entries after the client's position were trimmed */
        st->chunk = q->res;
        st->idx = 0;
        st->have = 1;
        if (cur_id_cmp(q->res.last, st->after) > 0)
            st->after = q->res.last; /* skipped entries count too: go on after them */
        st->done = !q->res.more;
    }
    free(q);
    r->spec.wake(r->spec.ud);
}

/* Command thread: hand the answer to the loop. */
static void on_answer(void *ud, int status, rds_range_t *res, const char *err)
{
    rp_req_t *q = ud;
    (void)err;
    q->status = status;
    if (status == DG_OK)
        q->res = *res; /* items now ours; released on the loop */
    el_post_task(q->r->spec.loop, &q->task);
}

static void fetch(rp_t *r, int s)
{
    rp_stream_t *st = &r->st[s];
    rp_req_t *q = calloc(1, sizeof(*q));
    if (q) {
        /* complete before it is queued: the answer may come back at once, on another thread */
        q->task.fn = on_answer_loop;
        q->task.arg = q;
        q->r = r;
        q->stream = s;
    }
    if (!q || rds_range_async(r->spec.rds, s, st->after, r->spec.upto.pos[s], r->spec.chunk,
                              r->spec.timeout_ms, on_answer, q) != DG_OK) {
        free(q);
        st->done = st->started = 1;
        r->failed |= 1u << s;
        return;
    }
    st->inflight = 1; /* the answer runs on this loop, after this returns */
    r->inflight++;
    if (r->spec.stats)
        count(&r->spec.stats->chunks);
}

/* ---------------------------------------------------------------- merging */

static const char *gap_json(rp_t *r, const char *reason, uint32_t streams)
{
    int n = snprintf(r->gap, sizeof(r->gap), "{\"reason\":\"%s\",\"streams\":[", reason);
    const char *sep = "";
    for (int s = 0; s < r->spec.nstreams && n < GAP_MAX; s++) {
        if (!(streams & (1u << s)))
            continue;
        n += snprintf(r->gap + n, sizeof(r->gap) - (size_t)n, "%s\"%s\"", sep, r->spec.names[s]);
        sep = ",";
    }
    if (n < GAP_MAX)
        snprintf(r->gap + n, sizeof(r->gap) - (size_t)n, "]}");
    if (r->spec.stats) {
        count(&r->spec.stats->gaps);
        count(strcmp(reason, "trimmed") == 0 ? &r->spec.stats->gaps_trimmed
                                              : &r->spec.stats->gaps_unavailable);
    }
    return r->gap;
}

int rp_next(rp_t *r, msg_t **m, const char **gap)
{
    uint32_t follow = r->spec.follow;
    if (!r->started) {
        for (int s = 0; s < r->spec.nstreams; s++)
            if ((follow & (1u << s)) && !r->st[s].started)
                return RP_WAIT;
        r->started = 1;
        if (r->trimmed) {
            *gap = gap_json(r, "trimmed", r->trimmed);
            return RP_GAP;
        }
    }
    for (;;) {
        if (r->failed & ~r->reported_failed) {
            uint32_t f = r->failed & ~r->reported_failed;
            r->reported_failed |= f;
            *gap = gap_json(r, "redis_unavailable", f);
            return RP_GAP;
        }
        int best = -1;
        for (int s = 0; s < r->spec.nstreams; s++) {
            rp_stream_t *st = &r->st[s];
            if (!(follow & (1u << s)) || (st->done && (!st->have || st->idx >= st->chunk.n)))
                continue;
            if (!st->have || st->idx >= st->chunk.n) {
                /* this stream's head is unknown: nothing can be sent before it is fetched */
                if (st->have) {
                    rds_range_free(&st->chunk);
                    st->have = 0;
                }
                if (!st->inflight)
                    fetch(r, s);
                if (st->inflight)
                    return RP_WAIT;
                continue; /* the request could not be made: reported as a gap above */
            }
            if (best < 0 || cur_id_cmp(st->chunk.items[st->idx].msg->id,
                                       r->st[best].chunk.items[r->st[best].idx].msg->id) < 0)
                best = s;
        }
        if (best < 0) {
            if (r->failed & ~r->reported_failed)
                continue;
            return RP_DONE;
        }
        rp_stream_t *st = &r->st[best];
        rds_item_t *it = &st->chunk.items[st->idx++];
        if (!r->spec.keep(r->spec.ud, it))
            continue;
        *m = it->msg;
        it->msg = NULL; /* moved to the caller */
        if (r->spec.stats)
            count(&r->spec.stats->items);
        return RP_ITEM;
    }
}

/* ---------------------------------------------------------------- lifecycle */

rp_t *rp_new(const rp_spec_t *spec)
{
    rp_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->spec = *spec;
    if (spec->stats) {
        atomic_fetch_add(&spec->stats->active, 1);
        count(&spec->stats->started);
    }
    for (int s = 0; s < spec->nstreams && s < CUR_MAX_STREAMS; s++) {
        if (!(spec->follow & (1u << s)))
            continue;
        r->st[s].after = spec->from.pos[s];
        fetch(r, s);
    }
    return r;
}

void rp_free(rp_t *r)
{
    if (!r)
        return;
    r->abandoned = 1;
    if (!r->inflight)
        destroy(r);
}
