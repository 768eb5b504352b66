/* rds_job.c - a job's current state read from BullMQ's own keys, for late subscribers: the
 * job hash <prefix>:<queue>:<id> and the state lists/zsets beside it, in one MULTI/EXEC (a
 * consistent snapshot, one round trip), turned into the payload of a `state` event. A request
 * kind of the command thread. It reads; it never changes BullMQ's keys.
 *
 * Layout checked against BullMQ 5.81.5 (Redis 7): hash fields name, data, opts, timestamp,
 * delay, priority, processedOn, finishedOn, atm (attempts made; attemptsMade in older
 * versions), ats, progress (JSON, absent until first set), returnvalue (JSON), failedReason
 * (plain text), stacktrace (JSON), parentKey; lists wait, paused (a paused queue's waiting
 * jobs), active; zsets completed, failed, delayed, prioritized, waiting-children. The state is
 * decided in the order of BullMQ's getStateV2 script. */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dg.h"
#include "rds_int.h"

#define JOB_OWNER_FIELD_MAX 256
#define JOB_NUM_MAX 32 /* longest number field taken from the hash */

/* BullMQ's getStateV2 order: the first key holding the id decides. */
static const struct {
    const char *key;
    int list; /* LPOS on a list, else ZSCORE on a zset */
    const char *state;
} job_keys[] = {
    {"completed", 0, "completed"}, {"failed", 0, "failed"},
    {"delayed", 0, "delayed"},     {"prioritized", 0, "prioritized"},
    {"active", 1, "active"},       {"wait", 1, "waiting"},
    {"paused", 1, "waiting"},      {"waiting-children", 0, "waiting-children"},
};
#define JOB_NKEYS ((int)DG_ARRAY_LEN(job_keys))

typedef struct job_req {
    rds_req_t q;
    int queue;
    rds_job_cb cb;
    void *ud;
    buf_t json;                      /* the payload, built by decode */
    char *owner;                     /* malloc'd, or NULL */
    char base[2 * CFG_NAME_MAX + 2]; /* "<prefix>:<queue>:" */
    char id[DEC_JOBID_MAX];
    char owner_field[JOB_OWNER_FIELD_MAX + 1];
    int has_owner_field;
} job_req_t;

static int job_append(rds_t *r, redisContext *c, rds_req_t *base)
{
    job_req_t *q = (job_req_t *)base;
    char key[sizeof(q->base) + DEC_JOBID_MAX + 24];
    const char *one[1];
    (void)r;
    one[0] = "MULTI";
    if (redisAppendCommandArgv(c, 1, one, NULL) != REDIS_OK)
        return -1;
    snprintf(key, sizeof(key), "%s%s", q->base, q->id);
    const char *hget[2] = {"HGETALL", key};
    if (redisAppendCommandArgv(c, 2, hget, NULL) != REDIS_OK)
        return -1;
    for (int i = 0; i < JOB_NKEYS; i++) {
        snprintf(key, sizeof(key), "%s%s", q->base, job_keys[i].key);
        const char *argv[3] = {job_keys[i].list ? "LPOS" : "ZSCORE", key, q->id};
        if (redisAppendCommandArgv(c, 3, argv, NULL) != REDIS_OK)
            return -1;
    }
    one[0] = "EXEC";
    if (redisAppendCommandArgv(c, 1, one, NULL) != REDIS_OK)
        return -1;
    return JOB_NKEYS + 3; /* OK, QUEUED x (1 + JOB_NKEYS), EXEC */
}

/* ---- JSON text --------------------------------------------------------------------------- */

/* A JSON string literal for s[0..n); -1 if s is not valid UTF-8 (JSON cannot carry it). */
static int put_str(buf_t *b, const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!t)
        return -1;
    buf_append_str(b, t);
    free(t);
    return 0;
}

/* Embeds JSON text that BullMQ wrote with JSON.stringify as it is (so its numbers keep their
 * digits), without whitespace outside strings; text that is not JSON goes in as a string, as
 * live events do. */
static void put_json(buf_t *b, const char *s, size_t n)
{
    json_error_t e;
    json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!v) {
        if (put_str(b, s, n) != 0)
            buf_append_str(b, "null");
        return;
    }
    json_decref(v);
    buf_reserve(b, n);
    int in_str = 0, esc = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (in_str) {
            if (esc)
                esc = 0;
            else if (ch == '\\')
                esc = 1;
            else if (ch == '"')
                in_str = 0;
        } else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            continue;
        } else if (ch == '"') {
            in_str = 1;
        }
        buf_append(b, &ch, 1);
    }
}

/* A number field of the hash (decimal digits as BullMQ writes them); 0 if it is one. */
static int parse_num(const char *s, size_t n, double *out)
{
    char tmp[JOB_NUM_MAX + 1], *end;
    if (n == 0 || n > JOB_NUM_MAX || memchr(s, '\0', n))
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    double v = strtod(tmp, &end);
    if (*end || isnan(v) || isinf(v))
        return -1;
    *out = v;
    return 0;
}

/* Integers (all of BullMQ's numbers) as digits; others in the shortest form that reads back. */
static void fmt_num(char *buf, size_t len, double v)
{
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(buf, len, "%" PRId64, (int64_t)v);
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, len, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static void put_member(buf_t *b, const char *name) /* name: one of ours, plain ASCII */
{
    buf_appendf(b, ",\"%s\":", name);
}

/* ---- decoding ---------------------------------------------------------------------------- */

typedef struct job_hash {
    const redisReply *arr; /* HGETALL: name, value, name, value ... */
} job_hash_t;

static const redisReply *hash_get(job_hash_t h, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i + 1 < h.arr->elements; i += 2) {
        const redisReply *k = h.arr->element[i], *v = h.arr->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING && k->len == n &&
            memcmp(k->str, name, n) == 0)
            return v;
    }
    return NULL;
}

static void put_num_field(buf_t *b, job_hash_t h, const char *field, const char *as)
{
    const redisReply *v = hash_get(h, field);
    double d;
    char num[40];
    if (!v || parse_num(v->str, v->len, &d) != 0)
        return;
    fmt_num(num, sizeof(num), d);
    put_member(b, as);
    buf_append_str(b, num);
}

/* The value of data's top-level member `field` as a string, numbers formatted; NULL when
 * data is not a JSON object, the member is missing, or it is not a string or a number. */
static char *owner_of(job_hash_t h, const char *field)
{
    const redisReply *data = hash_get(h, "data");
    json_error_t e;
    char *out = NULL, num[40];
    if (!data)
        return NULL;
    if (strcmp(field, RDS_JOB_DATA) == 0) /* the whole data, for acl owner terms */
        return memchr(data->str, '\0', data->len) ? NULL : strndup(data->str, data->len);
    json_t *o = json_loadb(data->str, data->len, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &e);
    json_t *v = json_is_object(o) ? json_object_get(o, field) : NULL;
    if (json_is_string(v) && !memchr(json_string_value(v), '\0', json_string_length(v))) {
        out = strdup(json_string_value(v));
    } else if (json_is_number(v)) {
        fmt_num(num, sizeof(num), json_number_value(v));
        out = strdup(num);
    }
    json_decref(o);
    return out;
}

static void job_fail(rds_req_t *base, const char *what, const redisReply *rep)
{
    base->status = DG_EIO;
    if (rep && rep->type == REDIS_REPLY_ERROR)
        snprintf(base->err, sizeof(base->err), "%s: %.*s", what, (int)rep->len, rep->str);
    else
        snprintf(base->err, sizeof(base->err), "%s: unexpected reply", what);
}

static void job_decode(rds_t *r, rds_req_t *base, redisReply **reps, int n)
{
    job_req_t *q = (job_req_t *)base;
    const redisReply *exec = n > 0 ? reps[n - 1] : NULL;
    if (!exec || exec->type != REDIS_REPLY_ARRAY || exec->elements != (size_t)JOB_NKEYS + 1) {
        job_fail(base, "job state transaction", exec);
        return;
    }
    const redisReply *hash = exec->element[0];
    if (hash->type != REDIS_REPLY_ARRAY || hash->elements % 2 != 0) {
        job_fail(base, "HGETALL", hash);
        return;
    }
    const char *state = "unknown";
    for (int i = 0; i < JOB_NKEYS && hash->elements > 0; i++) {
        const redisReply *x = exec->element[1 + i];
        if (x->type == REDIS_REPLY_ERROR) {
            job_fail(base, job_keys[i].list ? "LPOS" : "ZSCORE", x);
            return;
        }
        if (x->type != REDIS_REPLY_NIL) {
            state = job_keys[i].state;
            break;
        }
    }

    buf_t *b = &q->json;
    const char *queue = r->cfg->queues[q->queue];
    buf_append_str(b, "{\"queue\":");
    put_str(b, queue, strlen(queue));
    buf_append_str(b, ",\"jobId\":");
    put_str(b, q->id, strlen(q->id));
    buf_append_str(b, ",\"state\":");
    put_str(b, state, strlen(state));
    if (hash->elements > 0) { /* a job BullMQ removed has no hash: nothing more to say */
        job_hash_t h = {hash};
        const redisReply *v;
        if ((v = hash_get(h, "name"))) {
            put_member(b, "name");
            if (put_str(b, v->str, v->len) != 0)
                buf_append_str(b, "null");
        }
        put_member(b, "progress"); /* what Job.fromJSON makes of it: 0 until first set */
        if ((v = hash_get(h, "progress")))
            put_json(b, v->str, v->len);
        else
            buf_append_str(b, "0");
        if (strcmp(state, "completed") == 0 && (v = hash_get(h, "returnvalue"))) {
            put_member(b, "returnvalue");
            put_json(b, v->str, v->len);
        } else if (strcmp(state, "completed") != 0 && (v = hash_get(h, "failedReason"))) {
            /* failed, or the last failure of a job that is retried */
            put_member(b, "failedReason");
            if (put_str(b, v->str, v->len) != 0)
                buf_append_str(b, "null");
        }
        put_num_field(b, h, "timestamp", "timestamp");
        put_num_field(b, h, "processedOn", "processedOn");
        put_num_field(b, h, "finishedOn", "finishedOn");
        if (hash_get(h, "atm"))
            put_num_field(b, h, "atm", "attemptsMade");
        else if (hash_get(h, "attemptsMade"))
            put_num_field(b, h, "attemptsMade", "attemptsMade");
        else
            buf_append_str(b, ",\"attemptsMade\":0");
        put_num_field(b, h, "delay", "delay");
        put_num_field(b, h, "priority", "priority");
        if (q->has_owner_field)
            q->owner = owner_of(h, q->owner_field);
    }
    buf_append(b, "}", 1);
    if (b->oom) {
        base->status = DG_ENOMEM;
        snprintf(base->err, sizeof(base->err), "out of memory");
    }
}

static void job_deliver(rds_t *r, rds_req_t *base)
{
    job_req_t *q = (job_req_t *)base;
    (void)r;
    if (base->status == 0)
        q->cb(q->ud, 0, q->json.data, q->json.len, q->owner, NULL);
    else
        q->cb(q->ud, base->status, NULL, 0, NULL, base->err);
}

static void job_destroy(rds_req_t *base)
{
    job_req_t *q = (job_req_t *)base;
    buf_free(&q->json);
    free(q->owner);
    free(q);
}

static const rds_req_ops_t job_ops = {job_append, job_decode, job_deliver, job_destroy, 1};

int rds_job_state_async(rds_t *r, int queue, const char *job_id, const char *owner_field,
                        int timeout_ms, rds_job_cb cb, void *ud)
{
    size_t idlen = job_id ? strlen(job_id) : 0;
    if (!r || !cb || queue < 0 || queue >= r->cfg->nqueues || idlen == 0 ||
        idlen >= DEC_JOBID_MAX || timeout_ms <= 0 ||
        (owner_field && (!owner_field[0] || strlen(owner_field) > JOB_OWNER_FIELD_MAX)))
        return DG_EINVAL;
    json_t *probe = json_stringn(job_id, idlen); /* the id goes into JSON: it must be text */
    if (!probe)
        return DG_EINVAL;
    json_decref(probe);
    job_req_t *q = calloc(1, sizeof(*q));
    if (!q)
        return DG_ENOMEM;
    rds_req_init(&q->q, &job_ops, timeout_ms);
    q->queue = queue;
    q->cb = cb;
    q->ud = ud;
    snprintf(q->base, sizeof(q->base), "%s:%s:", r->cfg->prefix, r->cfg->queues[queue]);
    memcpy(q->id, job_id, idlen + 1);
    if (owner_field) {
        q->has_owner_field = 1;
        snprintf(q->owner_field, sizeof(q->owner_field), "%s", owner_field);
    }
    int rc = rds_req_submit(r, &q->q);
    if (rc != 0)
        job_destroy(&q->q);
    return rc;
}

/* ---- blocking: a job's data for a CivetWeb worker ---------------------------------------- */

typedef struct data_wait {
    rds_waiter_t w;
    int status;
    char *data;
} data_wait_t;

static void data_wait_cb(void *ud, int status, const char *json, size_t len, const char *owner,
                         const char *err)
{
    (void)json;
    (void)len;
    (void)err;
    data_wait_t *dw = ud;
    dw->status = status;
    if (status == DG_OK && owner && !(dw->data = strdup(owner)))
        dw->status = DG_ENOMEM;
    rds_waiter_wake(&dw->w);
}

int rds_job_data(rds_t *r, int queue, const char *job_id, int timeout_ms, char **data)
{
    *data = NULL;
    if (r->cmd_ok && pthread_equal(pthread_self(), r->cmd_thread))
        return DG_EINVAL; /* it would wait for itself */
    data_wait_t dw = {.status = DG_EIO};
    rds_waiter_init(&dw.w);
    int rc = rds_job_state_async(r, queue, job_id, RDS_JOB_DATA, timeout_ms, data_wait_cb, &dw);
    if (rc != DG_OK) {
        rds_waiter_wake(&dw.w); /* nothing will call back: release the waiter */
        rds_waiter_wait(&dw.w);
        return rc == DG_EINVAL ? DG_EINVAL : DG_EIO;
    }
    rds_waiter_wait(&dw.w);
    *data = dw.data;
    return dw.status == DG_OK ? DG_OK : dw.status == DG_ENOMEM ? DG_ENOMEM : DG_EIO;
}
