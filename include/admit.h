/* admit.h - admission control for long-lived work and the HTTP side's shared counters: how many
 * SSE streams, WebSockets, held polls and POST bodies are open against max_connections (POST
 * bodies also against their own cap, so slow uploads cannot hold every CivetWeb worker), how
 * many were refused, how many requests were bad, and whether the server is stopping.
 * No sockets, no CivetWeb: transports call it when they open and close. Thread: any (atomics). */
#ifndef ADMIT_H
#define ADMIT_H

#include <stdatomic.h>

enum adm_kind { ADM_SSE = 0, ADM_WEBSOCKET, ADM_POLLING, ADM_POST, ADM_KINDS };

typedef struct adm {
    int max;      /* read-only: max_connections, over every kind */
    int max_post; /* read-only: POST bodies being read at once */
    atomic_int stopping;
    atomic_int draining; /* read-only: new SSE streams and WebSockets refused (adm_drain) */
    atomic_int active[ADM_KINDS]; /* read-only */
    atomic_int total;             /* read-only */
    atomic_ullong accepted[ADM_KINDS];
    atomic_ullong refused;      /* answered 503: over capacity, draining or stopping */
    atomic_ullong refused_draining; /* the part of refused that a drain or stop refused */
    atomic_ullong bad_requests; /* answered 4xx */
} adm_t;

void adm_init(adm_t *a, int max_connections, int max_post);
/* Admits one of kind. Returns 0, or DG_ELIMIT when over capacity or stopping (counted as
 * refused: answer 503 with Retry-After). */
int adm_admit(adm_t *a, int kind);
void adm_release(adm_t *a, int kind);
/* From now on every admission is refused. */
void adm_stop(adm_t *a);
/* From now on new long-lived connections (ADM_SSE, ADM_WEBSOCKET) are refused; held polls and
 * POST bodies of sessions that exist go on until those sessions are closed. */
void adm_drain(adm_t *a);
/* Counts a 503 refusal made outside adm_admit (draining: 1 when the drain or stop caused it). */
void adm_count_refused(adm_t *a, int draining);
static inline int adm_stopping(adm_t *a)
{
    return atomic_load(&a->stopping);
}
static inline int adm_draining(adm_t *a)
{
    return atomic_load(&a->draining) || atomic_load(&a->stopping);
}

#endif
