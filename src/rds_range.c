/* rds_range.c - replays: XINFO STREAM + XRANGE in one transaction, decoded like live
 * entries, with gap detection; the blocking rds_range() on the command thread's queue. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"
#include "rds_int.h"

/* Decodes a replay's EXEC reply [XINFO STREAM, XRANGE] into q->range. */
void rds_range_decode(rds_t *r, rds_req_t *q, const redisReply *exec)
{
    rds_range_t *out = &q->range;
    const redisReply *info, *xr;
    char err[160];

    out->last = q->after;
    if (!exec || exec->type != REDIS_REPLY_ARRAY || exec->elements != 2) {
        q->status = DG_EIO;
        snprintf(q->err, sizeof(q->err), "replay transaction failed");
        return;
    }
    info = exec->element[0];
    xr = exec->element[1];
    if (xr->type == REDIS_REPLY_ERROR) {
        q->status = DG_EIO;
        snprintf(q->err, sizeof(q->err), "XRANGE: %.*s", (int)xr->len, xr->str);
        return;
    }
    if (xr->type != REDIS_REPLY_ARRAY) {
        q->status = DG_EIO;
        snprintf(q->err, sizeof(q->err), "XRANGE: unexpected reply");
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
        q->status = DG_ENOMEM;
        snprintf(q->err, sizeof(q->err), "out of memory");
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
            q->status = DG_ENOMEM;
            snprintf(q->err, sizeof(q->err), "out of memory");
            break;
        }
    }
    free(fb);
}

int rds_range(rds_t *r, int stream, cur_id_t after, cur_id_t upto, int count, int timeout_ms,
              rds_range_t *out, char *errstr, size_t errlen)
{
    if (!out)
        return DG_EINVAL;
    memset(out, 0, sizeof(*out));
    out->last = after;
    if (!r || stream < 0 || stream >= r->nstreams) {
        if (errstr && errlen)
            snprintf(errstr, errlen, "no such stream");
        return DG_EINVAL;
    }
    if (cur_id_cmp(after, upto) >= 0)
        return 0;
    rds_req_t *q = rds_req_new(REQ_RANGE);
    if (!q) {
        if (errstr && errlen)
            snprintf(errstr, errlen, "out of memory");
        return DG_ENOMEM;
    }
    q->stream = stream;
    q->after = after;
    q->upto = upto;
    q->count = count < 1 ? 1 : count > RDS_RANGE_MAX ? RDS_RANGE_MAX : count;
    if (!rds_req_submit_wait(r, q, timeout_ms)) {
        if (errstr && errlen)
            snprintf(errstr, errlen, "redis did not answer within %d ms", timeout_ms);
        return DG_EIO; /* q now belongs to the command thread */
    }
    int rc = q->status;
    if (rc == 0) {
        *out = q->range;
        memset(&q->range, 0, sizeof(q->range));
    } else if (errstr && errlen) {
        snprintf(errstr, errlen, "%s", q->err);
    }
    rds_req_free(q);
    return rc == 0 ? 0 : rc == DG_ENOMEM ? DG_ENOMEM : DG_EIO;
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
