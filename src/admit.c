/* admit.c - counters behind admission control. */
#include "admit.h"

#include <string.h>

#include "dg.h"

void adm_init(adm_t *a, int max_connections, int max_post)
{
    memset(a, 0, sizeof(*a));
    a->max = max_connections;
    a->max_post = max_post;
}

int adm_admit(adm_t *a, int kind)
{
    if (atomic_load(&a->stopping) ||
        (atomic_load(&a->draining) && (kind == ADM_SSE || kind == ADM_WEBSOCKET))) {
        atomic_fetch_add(&a->refused_draining, 1);
        goto refuse;
    }
    if (kind == ADM_POST && atomic_fetch_add(&a->active[kind], 1) >= a->max_post) {
        atomic_fetch_sub(&a->active[kind], 1);
        goto refuse;
    }
    if (atomic_fetch_add(&a->total, 1) >= a->max) {
        atomic_fetch_sub(&a->total, 1);
        if (kind == ADM_POST)
            atomic_fetch_sub(&a->active[kind], 1);
        goto refuse;
    }
    if (kind != ADM_POST)
        atomic_fetch_add(&a->active[kind], 1);
    atomic_fetch_add(&a->accepted[kind], 1);
    return DG_OK;
refuse:
    atomic_fetch_add(&a->refused, 1);
    return DG_ELIMIT;
}

void adm_release(adm_t *a, int kind)
{
    atomic_fetch_sub(&a->active[kind], 1);
    atomic_fetch_sub(&a->total, 1);
}

void adm_stop(adm_t *a)
{
    atomic_store(&a->stopping, 1);
}

void adm_drain(adm_t *a)
{
    atomic_store(&a->draining, 1);
}

void adm_count_refused(adm_t *a, int draining)
{
    atomic_fetch_add(&a->refused, 1);
    if (draining)
        atomic_fetch_add(&a->refused_draining, 1);
}
