/* rds_kv.c - small key/value state with a TTL (SET PX / GET / DEL), a request kind of the
 * command thread. For session state other instances must see (Socket.IO connection-state
 * recovery); not a cache, not for bulk data. */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"
#include "rds_int.h"

enum { KV_SET, KV_GET, KV_DEL };

typedef struct kv_req {
    rds_req_t q;
    int op;
    int64_t ttl_ms;
    rds_value_cb cb;
    void *ud;
    const char *val; /* GET result: points into the reply, valid during deliver */
    size_t val_len;
    size_t key_len, in_len;
    char *in;   /* SET value, stored after key */
    char key[]; /* key, NUL, then the SET value */
} kv_req_t;

static int kv_append(rds_t *r, redisContext *c, rds_req_t *base)
{
    kv_req_t *q = (kv_req_t *)base;
    const char *argv[5];
    size_t lens[5];
    char ttl[24];
    int argc = 0;
    (void)r;
#define ARG(s, n) (argv[argc] = (s), lens[argc++] = (n))
    ARG(q->op == KV_SET ? "SET" : q->op == KV_GET ? "GET" : "DEL", 3);
    ARG(q->key, q->key_len);
    if (q->op == KV_SET) {
        ARG(q->in, q->in_len);
        if (q->ttl_ms > 0) {
            snprintf(ttl, sizeof(ttl), "%" PRId64, q->ttl_ms);
            ARG("PX", 2);
            ARG(ttl, strlen(ttl));
        }
    }
#undef ARG
    return redisAppendCommandArgv(c, argc, argv, lens) == REDIS_OK ? 1 : -1;
}

static void kv_decode(rds_t *r, rds_req_t *base, redisReply **reps, int n)
{
    kv_req_t *q = (kv_req_t *)base;
    const redisReply *rep = n > 0 ? reps[0] : NULL;
    (void)r;
    if (!rep) {
        base->status = DG_EIO;
        snprintf(base->err, sizeof(base->err), "no reply");
    } else if (rep->type == REDIS_REPLY_ERROR) {
        base->status = DG_EIO;
        snprintf(base->err, sizeof(base->err), "%.*s", (int)rep->len, rep->str);
    } else if (q->op == KV_GET && rep->type == REDIS_REPLY_NIL) {
        base->status = DG_ENOTFOUND;
        snprintf(base->err, sizeof(base->err), "no such key");
    } else if (q->op == KV_GET && rep->type == REDIS_REPLY_STRING) {
        q->val = rep->str; /* hiredis NUL-terminates strings */
        q->val_len = rep->len;
    } else if (q->op == KV_DEL && rep->type == REDIS_REPLY_INTEGER) {
        if (rep->integer == 0) {
            base->status = DG_ENOTFOUND;
            snprintf(base->err, sizeof(base->err), "no such key");
        }
    } else if (q->op != KV_SET || rep->type != REDIS_REPLY_STATUS) {
        base->status = DG_EIO;
        snprintf(base->err, sizeof(base->err), "unexpected reply");
    }
}

static void kv_deliver(rds_t *r, rds_req_t *base)
{
    kv_req_t *q = (kv_req_t *)base;
    (void)r;
    if (q->cb)
        q->cb(q->ud, base->status, base->status == 0 ? q->val : NULL,
              base->status == 0 ? q->val_len : 0, base->status == 0 ? NULL : base->err);
}

static void kv_destroy(rds_req_t *base)
{
    free(base);
}

/* Writes that are repeated after a lost connection land the same value (or no key) again. */
static const rds_req_ops_t kv_ops = {kv_append, kv_decode, kv_deliver, kv_destroy, 1};

static int kv_submit(rds_t *r, int op, const char *key, const char *val, size_t len, int64_t ttl_ms,
                     int timeout_ms, rds_value_cb cb, void *ud)
{
    size_t key_len = key ? strlen(key) : 0;
    if (!r || key_len == 0 || key_len > RDS_KV_KEY_MAX || (!val && len > 0) ||
        len > RDS_KV_VALUE_MAX || ttl_ms < 0 || timeout_ms <= 0)
        return DG_EINVAL;
    kv_req_t *q = malloc(sizeof(*q) + key_len + 1 + len);
    if (!q)
        return DG_ENOMEM;
    rds_req_init(&q->q, &kv_ops, timeout_ms);
    q->op = op;
    q->ttl_ms = ttl_ms;
    q->cb = cb;
    q->ud = ud;
    q->val = NULL;
    q->val_len = 0;
    q->key_len = key_len;
    memcpy(q->key, key, key_len + 1);
    q->in = q->key + key_len + 1;
    q->in_len = len;
    if (len)
        memcpy(q->in, val, len);
    int rc = rds_req_submit(r, &q->q);
    if (rc != 0)
        free(q);
    return rc;
}

int rds_kv_set_async(rds_t *r, const char *key, const char *val, size_t len, int64_t ttl_ms,
                     int timeout_ms, rds_value_cb cb, void *ud)
{
    if (!val && len == 0)
        val = "";
    return kv_submit(r, KV_SET, key, val, len, ttl_ms, timeout_ms, cb, ud);
}

int rds_kv_get_async(rds_t *r, const char *key, int timeout_ms, rds_value_cb cb, void *ud)
{
    if (!cb)
        return DG_EINVAL;
    return kv_submit(r, KV_GET, key, NULL, 0, 0, timeout_ms, cb, ud);
}

int rds_kv_del_async(rds_t *r, const char *key, int timeout_ms, rds_value_cb cb, void *ud)
{
    return kv_submit(r, KV_DEL, key, NULL, 0, 0, timeout_ms, cb, ud);
}
