/* catchup.h - what a late subscriber to one job hears before live events: the job's current
 * state on each queue that may hold it, read from BullMQ's own keys (rds_job_state_async), as
 * `state` payloads. It does no socket I/O and joins no room: the transport joins its room
 * FIRST (so nothing published after the read is lost), holds its live queue while the
 * answers come, then pulls them with cu_next() and writes them ahead of the queue.
 *
 * What cu_next() hands out, once every queue asked has answered (each bounded by timeout_ms,
 * so a frozen Redis cannot hold a stream longer than that):
 *   - every answer whose state is not "unknown", in queue order, exactly as Redis's side made
 *     it ({"queue","jobId","state",...}, see rds_job_cb);
 *   - for a queue whose read failed: {"queue":Q,"jobId":ID,"state":"unknown",
 *     "error":"redis_unavailable"};
 *   - when one queue was named by the client (spec.named) its "unknown" answer as it is;
 *   - when nothing of the above was said: exactly one {"queue":null,"jobId":ID,
 *     "state":"unknown"} (no queue holds the job: never added, or removed).
 * The state may be newer than the room position taken at the join: an event published in
 * between arrives live after a state that already includes it (a repeat, never a loss).
 *
 * The same reads can carry the job's owner (or whole data) for an access check (cu_owner).
 *
 * Threads: a catchup belongs to one event loop; every function runs on that loop's thread.
 * Redis answers come back from the command thread as tasks posted to the loop. */
#ifndef CATCHUP_H
#define CATCHUP_H

#include <stddef.h>
#include <stdint.h>

#include "decode.h"
#include "loop.h"
#include "redis.h"

typedef struct cu cu_t;

typedef struct cu_spec {
    rds_t *rds;               /* NULL: nothing is asked; answers come through cu_answer (tests) */
    el_t *loop;               /* where answers are posted; unused without rds */
    const char *const *names; /* queue names, indexed like cfg->queues */
    uint32_t queues;          /* bits of the queues to ask (within CFG_MAX_QUEUES) */
    int named;                /* the client named its one queue: its "unknown" is the answer */
    const char *job_id;       /* copied; 1..DEC_JOBID_MAX-1 bytes */
    int timeout_ms;           /* per read (redis_timeout_ms) */
    const char *owner_field;  /* NULL, or rds_job_state_async's owner_field (RDS_JOB_DATA: the
                               * job's data) for cu_owner(); must outlive the catchup */
    void (*wake)(void *ud);   /* every answer is in: cu_next() has something to say */
    void *ud;
} cu_spec_t;

/* Asks every queue in spec->queues. A read that cannot be queued counts as failed at once (so
 * cu_next may be ready right away, without wake). NULL on ENOMEM or a bad spec (no queues,
 * job id empty or too long). */
cu_t *cu_new(const cu_spec_t *spec);

/* Records queue q's answer (what rds_job_cb says; json copied). cu_new's reads end here; tests
 * call it directly on a catchup made without rds. Answers for a queue not asked, or a second
 * one, are ignored. */
void cu_answer(cu_t *cu, int q, int status, const char *json, size_t len);

enum cu_next_result {
    CU_ITEM = 0, /* *json / *len: the next `state` payload, valid until the next call */
    CU_WAIT,     /* answers are outstanding: wake() is called once they are all in */
    CU_DONE      /* everything was handed out */
};
int cu_next(cu_t *cu, const char **json, size_t *len);

/* Queue q's owner (spec.owner_field) once q answered: NULL when the job or the field is not
 * there, q was not asked or has not answered, or the read failed. Valid until cu_free. */
const char *cu_owner(const cu_t *cu, int q);

/* Frees the catchup; reads still in flight are discarded when they come back. May be called
 * from wake(). */
void cu_free(cu_t *cu);

#endif
