/* catchup.c - a late subscriber's `state` payloads: one job-state read per queue asked, the
 * answers collected on the loop and turned into what the client hears first. Each read has
 * its own task node, so posting an answer back cannot fail; the catchup is freed once
 * abandoned and no read is left in flight (as replay.c does). */
#include "catchup.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dg.h"

typedef struct cu_req {
    el_task_t task;
    cu_t *cu;
    int queue;
    int status;
    char *json; /* malloc'd copy of the answer, or NULL */
    size_t len;
    char *owner; /* malloc'd copy of the owner (spec.owner_field), or NULL */
} cu_req_t;

struct cu {
    cu_spec_t spec;
    char job_id[DEC_JOBID_MAX];
    uint32_t answered;
    int status[CFG_MAX_QUEUES];
    char *json[CFG_MAX_QUEUES]; /* answers, then (once all are in) what is handed out */
    size_t len[CFG_MAX_QUEUES];
    char *owner[CFG_MAX_QUEUES]; /* spec.owner_field of each queue's job, NULL when none */
    int built, next;
    char *fallback; /* the one {"queue":null,...} when nothing else is said */
    size_t fallback_len;
    int fallback_sent;
    int inflight, abandoned;
    int waking; /* inside wake(): cu_free there only marks it abandoned */
};

static void destroy(cu_t *cu)
{
    for (int q = 0; q < CFG_MAX_QUEUES; q++) {
        free(cu->json[q]);
        free(cu->owner[q]);
    }
    free(cu->fallback);
    free(cu);
}

/* ---------------------------------------------------------------- reads */

static void on_answer_loop(void *arg, int cancelled)
{
    cu_req_t *rq = arg;
    cu_t *cu = rq->cu;
    cu->inflight--;
    if (!cu->abandoned && !cancelled) {
        if (!(cu->answered & (1u << rq->queue)) && rq->status == DG_OK) {
            cu->owner[rq->queue] = rq->owner; /* the first answer is the one kept */
            rq->owner = NULL;
        }
        cu_answer(cu, rq->queue, rq->status, rq->json, rq->len);
        if (cu->answered == cu->spec.queues) {
            cu->waking = 1;
            cu->spec.wake(cu->spec.ud);
            cu->waking = 0;
        }
    }
    free(rq->json);
    free(rq->owner);
    free(rq);
    if (cu->abandoned && !cu->inflight)
        destroy(cu);
}

/* Command thread: copy the answer (valid only during this call) and hand it to the loop. */
static void on_answer(void *ud, int status, const char *json, size_t len, const char *owner,
                      const char *err)
{
    cu_req_t *rq = ud;
    (void)err;
    rq->status = status;
    if (status == DG_OK && json && (rq->json = malloc(len + 1))) {
        memcpy(rq->json, json, len);
        rq->json[len] = '\0';
        rq->len = len;
    } else if (status == DG_OK) {
        rq->status = DG_ENOMEM;
    }
    if (rq->status == DG_OK && owner && !(rq->owner = strdup(owner)))
        rq->status = DG_ENOMEM;
    el_post_task(rq->cu->spec.loop, &rq->task);
}

static void ask(cu_t *cu, int q)
{
    cu_req_t *rq = calloc(1, sizeof(*rq));
    if (rq) {
        /* complete before it is queued: the answer may come back at once, on another thread */
        rq->task.fn = on_answer_loop;
        rq->task.arg = rq;
        rq->cu = cu;
        rq->queue = q;
    }
    if (!rq || rds_job_state_async(cu->spec.rds, q, cu->job_id, cu->spec.owner_field,
                                   cu->spec.timeout_ms, on_answer, rq) != DG_OK) {
        free(rq);
        cu_answer(cu, q, DG_EIO, NULL, 0);
        return;
    }
    cu->inflight++; /* the answer runs on this loop, after this returns */
}

/* ---------------------------------------------------------------- answers */

void cu_answer(cu_t *cu, int q, int status, const char *json, size_t len)
{
    if (q < 0 || q >= CFG_MAX_QUEUES)
        return;
    uint32_t bit = 1u << q;
    if (!(cu->spec.queues & bit) || (cu->answered & bit))
        return;
    cu->answered |= bit;
    cu->status[q] = status;
    if (status == DG_OK && json && (cu->json[q] = malloc(len + 1))) {
        memcpy(cu->json[q], json, len);
        cu->json[q][len] = '\0';
        cu->len[q] = len;
    } else if (status == DG_OK) {
        cu->status[q] = DG_ENOMEM;
    }
}

static char *dump(json_t *v, size_t *len)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    *len = s ? strlen(s) : 0;
    return s;
}

/* 1 when payload says the job is not there. An answer that does not parse is passed on as it
 * is: Redis's side made it, and hiding it would hide a bug. */
static int says_unknown(const char *json, size_t len)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    const char *st = json_string_value(json_object_get(root, "state"));
    int unknown = st && strcmp(st, "unknown") == 0;
    json_decref(root);
    return unknown;
}

/* Every answer is in: keep what is said, replace failures, add the fallback if need be. */
static void build(cu_t *cu)
{
    int said = 0;
    cu->built = 1;
    for (int q = 0; q < CFG_MAX_QUEUES; q++) {
        if (!(cu->spec.queues & (1u << q)))
            continue;
        if (cu->status[q] != DG_OK) {
            free(cu->json[q]);
            cu->json[q] =
                dump(json_pack("{s:s,s:s,s:s,s:s}", "queue", cu->spec.names[q], "jobId", cu->job_id,
                               "state", "unknown", "error", "redis_unavailable"),
                     &cu->len[q]);
        } else if (!cu->spec.named && says_unknown(cu->json[q], cu->len[q])) {
            free(cu->json[q]);
            cu->json[q] = NULL;
        }
        said |= cu->json[q] != NULL;
    }
    if (!said)
        cu->fallback =
            dump(json_pack("{s:n,s:s,s:s}", "queue", "jobId", cu->job_id, "state", "unknown"),
                 &cu->fallback_len);
}

const char *cu_owner(const cu_t *cu, int q)
{
    return q >= 0 && q < CFG_MAX_QUEUES && (cu->answered & (1u << q)) ? cu->owner[q] : NULL;
}

int cu_next(cu_t *cu, const char **json, size_t *len)
{
    if (cu->answered != cu->spec.queues)
        return CU_WAIT;
    if (!cu->built)
        build(cu);
    while (cu->next < CFG_MAX_QUEUES) {
        int q = cu->next++;
        if (cu->json[q]) {
            *json = cu->json[q];
            *len = cu->len[q];
            return CU_ITEM;
        }
    }
    if (cu->fallback && !cu->fallback_sent) {
        cu->fallback_sent = 1;
        *json = cu->fallback;
        *len = cu->fallback_len;
        return CU_ITEM;
    }
    return CU_DONE;
}

/* ---------------------------------------------------------------- lifecycle */

cu_t *cu_new(const cu_spec_t *spec)
{
    size_t idlen = spec->job_id ? strlen(spec->job_id) : 0;
    if (!spec->queues || idlen == 0 || idlen >= DEC_JOBID_MAX ||
        (spec->queues >> CFG_MAX_QUEUES) != 0 || (spec->rds && !spec->loop) || !spec->wake)
        return NULL;
    /* the fallback must be able to name the id: JSON strings are UTF-8 */
    json_t *probe = json_stringn(spec->job_id, idlen);
    if (!probe)
        return NULL;
    json_decref(probe);
    cu_t *cu = calloc(1, sizeof(*cu));
    if (!cu)
        return NULL;
    cu->spec = *spec;
    memcpy(cu->job_id, spec->job_id, idlen + 1);
    cu->spec.job_id = cu->job_id;
    if (spec->rds)
        for (int q = 0; q < CFG_MAX_QUEUES; q++)
            if (spec->queues & (1u << q))
                ask(cu, q);
    return cu;
}

void cu_free(cu_t *cu)
{
    if (!cu)
        return;
    cu->abandoned = 1;
    if (!cu->inflight && !cu->waking) /* from wake(): freed when wake returns */
        destroy(cu);
}
