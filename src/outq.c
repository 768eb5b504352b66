/* outq.c - bounded ring of shared msg references; grows by doubling up to max_msgs; hard and
 * soft output limits. */
#include "outq.h"

#include <stdlib.h>

#include "dg.h"

void oq_init(oq_t *q, uint32_t max_msgs, size_t max_bytes)
{
    *q = (oq_t){.max_msgs = max_msgs, .max_bytes = max_bytes};
}

void oq_set_soft(oq_t *q, size_t bytes, int64_t ms)
{
    q->soft_bytes = bytes;
    q->soft_ms = ms;
    q->soft_since = 0;
}

int oq_soft_check(oq_t *q, size_t extra, int64_t now)
{
    if (!q->soft_bytes || q->bytes + extra <= q->soft_bytes) {
        q->soft_since = 0;
        return OQ_UNDER;
    }
    if (!q->soft_since)
        q->soft_since = now ? now : 1;
    return now - q->soft_since >= q->soft_ms ? OQ_SOFT_EXPIRED : OQ_SOFT_OVER;
}

int64_t oq_soft_deadline(const oq_t *q)
{
    return q->soft_since ? q->soft_since + q->soft_ms : -1;
}

static int grow(oq_t *q)
{
    uint32_t cap = q->cap ? q->cap * 2 : 8;
    if (cap > q->max_msgs)
        cap = q->max_msgs;
    oq_item_t *r = malloc(sizeof(*r) * cap);
    if (!r)
        return DG_ENOMEM;
    for (uint32_t i = 0; i < q->len; i++)
        r[i] = q->ring[(q->head + i) % q->cap];
    free(q->ring);
    q->ring = r;
    q->cap = cap;
    q->head = 0;
    return DG_OK;
}

int oq_push(oq_t *q, msg_t *m, size_t size)
{
    if (q->len >= q->max_msgs || q->bytes + size > q->max_bytes)
        return DG_ELIMIT;
    if (q->len == q->cap && grow(q) != DG_OK)
        return DG_ENOMEM;
    msg_ref(m);
    q->ring[(q->head + q->len) % q->cap] = (oq_item_t){m, (uint32_t)size};
    q->len++;
    q->bytes += size;
    return DG_OK;
}

msg_t *oq_pop(oq_t *q)
{
    if (!q->len)
        return NULL;
    oq_item_t it = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    q->bytes -= it.size;
    return it.m;
}

int oq_pop_batch(oq_t *q, msg_t **out, int max, size_t max_bytes)
{
    int n = 0;
    size_t bytes = 0;
    while (n < max && q->len && (n == 0 || bytes < max_bytes)) {
        bytes += q->ring[q->head].size;
        out[n++] = oq_pop(q);
    }
    return n;
}

void oq_clear(oq_t *q)
{
    msg_t *m;
    while ((m = oq_pop(q)))
        msg_unref(m);
    free(q->ring);
    q->ring = NULL;
    q->cap = q->head = 0;
}

void oq_shrink(oq_t *q)
{
    if (q->len == 0 && q->cap > 8) {
        free(q->ring);
        q->ring = NULL;
        q->cap = q->head = 0;
    }
}
