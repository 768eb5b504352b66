/* rds_range.c - replays: XINFO STREAM + XRANGE in one transaction, decoded like live
 * entries, with gap detection. A request kind of the command thread (rds_range_async), and
 * the blocking rds_range() over it. */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"
#include "rds_int.h"

typedef struct range_req {
    rds_req_t q;
    int stream;
    cur_id_t after, upto;
    int count;
    rds_range_t range; /* the result; moves to the callback on success */
    rds_range_cb cb;
    void *ud;
} range_req_t;

/* Decodes a replay's EXEC reply [XINFO STREAM, XRANGE] into q->range. */
static void range_exec_decode(rds_t *r, range_req_t *q, const redisReply *exec)
{
    rds_range_t *out = &q->range;
    const redisReply *info, *xr;
    char err[160];

    out->last = q->after;
    if (!exec || exec->type != REDIS_REPLY_ARRAY || exec->elements != 2) {
        q->q.status = DG_EIO;
        snprintf(q->q.err, sizeof(q->q.err), "replay transaction failed");
        return;
    }
    info = exec->element[0];
    xr = exec->element[1];
    if (xr->type == REDIS_REPLY_ERROR) {
        q->q.status = DG_EIO;
        snprintf(q->q.err, sizeof(q->q.err), "XRANGE: %.*s", (int)xr->len, xr->str);
        return;
    }
    if (xr->type != REDIS_REPLY_ARRAY) {
        q->q.status = DG_EIO;
        snprintf(q->q.err, sizeof(q->q.err), "XRANGE: unexpected reply");
        return;
    }

    /* Gap: something after `after` was deleted (max-deleted-entry-id), or trimmed away: the
     * stream lost entries and its oldest survivor (or, empty, its newest id) is past after.
     * A trimmed `after` with nothing trimmed beyond it cannot be told apart and counts too. */
    if (info->type == REDIS_REPLY_ARRAY) {
        cur_id_t maxdel, first, lastgen;
        const redisReply *added = rds_info_get(info, "entries-added");
        const redisReply *length = rds_info_get(info, "length");
        const redisReply *fe = rds_info_get(info, "first-entry");
        int lost = 1;
        if (added && length && added->type == REDIS_REPLY_INTEGER &&
            length->type == REDIS_REPLY_INTEGER)
            lost = added->integer > length->integer;
        if (rds_reply_id(rds_info_get(info, "max-deleted-entry-id"), &maxdel) == 0 &&
            cur_id_cmp(maxdel, q->after) > 0)
            out->gap = 1;
        if (lost && fe && fe->type == REDIS_REPLY_ARRAY && fe->elements == 2 &&
            rds_reply_id(fe->element[0], &first) == 0 && cur_id_cmp(first, q->after) > 0)
            out->gap = 1;
        if (lost && (!fe || fe->type != REDIS_REPLY_ARRAY) &&
            rds_reply_id(rds_info_get(info, "last-generated-id"), &lastgen) == 0 &&
            cur_id_cmp(lastgen, q->after) > 0)
            out->gap = 1;
    }

    out->more = (int)xr->elements >= q->count;
    if (xr->elements == 0)
        return;
    out->items = calloc(xr->elements, sizeof(*out->items));
    rds_fields_t *fb = malloc(sizeof(*fb));
    if (!out->items || !fb) {
        free(fb);
        q->q.status = DG_ENOMEM;
        snprintf(q->q.err, sizeof(q->q.err), "out of memory");
        return;
    }
    for (size_t i = 0; i < xr->elements; i++) {
        const redisReply *e = xr->element[i];
        cur_id_t id;
        msg_t *m;
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            rds_reply_id(e->element[0], &id) != 0)
            continue;
        out->last = id;
        rds_item_t *it = &out->items[out->n];
        int rc =
            rds_entry_decode(r, q->stream, id, e->element[1], fb, &m, it->job_id, err, sizeof(err));
        if (rc == RDS_ENT_MSG) {
            it->msg = m;
            out->n++;
        } else if (rc == RDS_ENT_NOMEM) {
            q->q.status = DG_ENOMEM;
            snprintf(q->q.err, sizeof(q->q.err), "out of memory");
            break;
        }
    }
    free(fb);
}

static int range_append(rds_t *r, redisContext *c, rds_req_t *base)
{
    range_req_t *q = (range_req_t *)base;
    const char *key = r->readers[q->stream].key;
    char from[CUR_ID_STR_MAX + 1], to[CUR_ID_STR_MAX], cnt[16];
    from[0] = '(';
    cur_id_format(q->after, from + 1);
    cur_id_format(q->upto, to);
    snprintf(cnt, sizeof(cnt), "%d", q->count);
    const char *multi[1] = {"MULTI"}, *exec[1] = {"EXEC"};
    const char *info[3] = {"XINFO", "STREAM", key};
    const char *range[6] = {"XRANGE", key, from, to, "COUNT", cnt};
    /* One transaction, so the gap check and the entries see the same stream. */
    if (redisAppendCommandArgv(c, 1, multi, NULL) != REDIS_OK ||
        redisAppendCommandArgv(c, 3, info, NULL) != REDIS_OK ||
        redisAppendCommandArgv(c, 6, range, NULL) != REDIS_OK ||
        redisAppendCommandArgv(c, 1, exec, NULL) != REDIS_OK)
        return -1;
    return 4;
}

static void range_decode(rds_t *r, rds_req_t *base, redisReply **reps, int n)
{
    range_req_t *q = (range_req_t *)base;
    q->range.last = q->after;
    if (n == 0) /* empty interval */
        return;
    range_exec_decode(r, q, reps[n - 1]);
}

static void range_deliver(rds_t *r, rds_req_t *base)
{
    range_req_t *q = (range_req_t *)base;
    (void)r;
    if (base->status == 0) {
        q->cb(q->ud, 0, &q->range, NULL);
        memset(&q->range, 0, sizeof(q->range)); /* the callback owns the items now */
    } else {
        q->cb(q->ud, base->status, NULL, base->err);
    }
}

static void range_destroy(rds_req_t *base)
{
    range_req_t *q = (range_req_t *)base;
    rds_range_free(&q->range);
    free(q);
}

static const rds_req_ops_t range_ops = {
    range_append, range_decode, range_deliver, range_destroy, 1 /* a read: safe to repeat */
};

/* A stream index with a Redis stream behind it (a routed channel has none). */
static int replayable(const rds_t *r, int stream)
{
    return stream >= 0 && stream < r->nstreams &&
           !(r->readers[stream].route && r->readers[stream].route->kind == ROUTE_CHANNEL);
}

int rds_range_async(rds_t *r, int stream, cur_id_t after, cur_id_t upto, int count, int timeout_ms,
                    rds_range_cb cb, void *ud)
{
    if (!r || !cb || !replayable(r, stream) || timeout_ms <= 0)
        return DG_EINVAL;
    range_req_t *q = calloc(1, sizeof(*q));
    if (!q)
        return DG_ENOMEM;
    rds_req_init(&q->q, &range_ops, timeout_ms);
    q->q.local = cur_id_cmp(after, upto) >= 0;
    q->stream = stream;
    q->after = after;
    q->upto = upto;
    q->count = count < 1 ? 1 : count > RDS_RANGE_MAX ? RDS_RANGE_MAX : count;
    q->cb = cb;
    q->ud = ud;
    int rc = rds_req_submit(r, &q->q);
    if (rc != 0)
        free(q);
    return rc;
}

/* The blocking form: a waiter on the caller's stack that the callback fills. */
typedef struct range_wait {
    rds_waiter_t w;
    int status;
    rds_range_t *out;
    char *errstr;
    size_t errlen;
} range_wait_t;

static void range_wait_cb(void *ud, int status, rds_range_t *res, const char *err)
{
    range_wait_t *rw = ud;
    rw->status = status;
    if (res)
        *rw->out = *res; /* takes the items */
    else if (rw->errstr && rw->errlen)
        snprintf(rw->errstr, rw->errlen, "%s", err ? err : dg_strerror(status));
    rds_waiter_wake(&rw->w);
}

int rds_range(rds_t *r, int stream, cur_id_t after, cur_id_t upto, int count, int timeout_ms,
              rds_range_t *out, char *errstr, size_t errlen)
{
    if (!out)
        return DG_EINVAL;
    memset(out, 0, sizeof(*out));
    out->last = after;
    if (!r || !replayable(r, stream)) {
        if (errstr && errlen)
            snprintf(errstr, errlen, "no such stream");
        return DG_EINVAL;
    }
    if (cur_id_cmp(after, upto) >= 0)
        return 0;
    if (r->cmd_ok && pthread_equal(pthread_self(), r->cmd_thread)) {
        if (errstr && errlen) /* it would wait for itself */
            snprintf(errstr, errlen, "rds_range called on the command thread");
        return DG_EINVAL;
    }
    range_wait_t rw = {.out = out, .errstr = errstr, .errlen = errlen};
    rds_waiter_init(&rw.w);
    int rc = rds_range_async(r, stream, after, upto, count, timeout_ms > 0 ? timeout_ms : 1,
                             range_wait_cb, &rw);
    if (rc != 0) {
        rds_waiter_wake(&rw.w); /* nothing will call back: release the waiter */
        rds_waiter_wait(&rw.w);
        if (errstr && errlen)
            snprintf(errstr, errlen, "%s",
                     rc == DG_ENOMEM   ? "out of memory"
                     : rc == DG_ELIMIT ? "too many redis requests pending"
                                       : "redis client is not running");
        return rc == DG_ENOMEM ? DG_ENOMEM : DG_EIO;
    }
    rds_waiter_wait(&rw.w);
    return rw.status == 0 ? 0 : rw.status == DG_ENOMEM ? DG_ENOMEM : DG_EIO;
}

void rds_range_free(rds_range_t *out)
{
    if (!out)
        return;
    for (int i = 0; i < out->n; i++)
        msg_unref(out->items[i].msg);
    free(out->items);
    out->items = NULL;
    out->n = 0;
}
