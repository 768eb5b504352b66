/* gate.h - keeps new TCP connections off CivetWeb's workers until their request head (and a
 * small body) has arrived. CivetWeb gives every accepted connection a worker that waits for the
 * request, so a flood of idle or slow-header sockets would hold every worker; the gate accepts
 * from the real listening socket on an event loop, holds each connection (~100 bytes) until
 * recv(MSG_PEEK) shows a complete head plus a body of at most body_max, and only then queues it
 * for CivetWeb, whose listening fd has been replaced by an eventfd that is readable while
 * connections are queued (handoff.h routes CivetWeb's accept() there). A connection whose head
 * is not complete within header_timeout_ms gets 408; past max_pending held connections, the
 * oldest is answered 408 to make room; at the fd limit a new one gets 503. Never a bare close.
 * It is not an HTTP parser beyond finding the end of the head and Content-Length.
 *
 * Threads: gt_new/gt_attach/gt_stop/gt_free on main; the gate's sockets live on its loop; the
 * queue to CivetWeb is locked (a leaf lock) and popped by CivetWeb's master thread. */
#ifndef GATE_H
#define GATE_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

typedef struct gt gt_t;

typedef struct gt_cfg {
    int64_t header_timeout_ms; /* complete request head within this long */
    int max_pending;           /* connections held at once */
    size_t head_max;           /* a head this long without its end is handed on (CivetWeb refuses it) */
    size_t body_max;           /* bodies up to this size are waited for too (Content-Length) */
} gt_cfg_t;

/* A gate on loop l (not yet attached). NULL on ENOMEM. Thread: main. */
gt_t *gt_new(el_t *l, const gt_cfg_t *cfg);
/* Finds the listening socket of this process bound to port, takes it over and leaves an
 * eventfd under its fd number for CivetWeb; from now on CivetWeb's accept() gets connections
 * from the gate. Returns 0 or DG_EIO / DG_ENOTFOUND with errstr. Thread: main, after mg_start. */
int gt_attach(gt_t *g, int port, char *errstr, size_t errlen);
/* Stops accepting: closes the listening socket, answers every held or queued connection 503,
 * and detaches from CivetWeb. Waits until the loop has done it. Thread: main, before mg_stop. */
void gt_stop(gt_t *g);
/* Makes CivetWeb's master thread return from its poll at once (it otherwise sleeps out a 2 s
 * quantum before it sees mg_stop's flag). Thread: main, right before mg_stop. */
void gt_release_master(gt_t *g);
void gt_free(gt_t *g);

typedef struct gt_stats {
    uint64_t accepted;  /* from the kernel */
    uint64_t passed;    /* handed to CivetWeb */
    uint64_t timed_out; /* 408: no complete head in time */
    uint64_t evicted;   /* 408: the oldest, to make room */
    uint64_t refused;   /* 503: at the fd limit, or stopping */
    uint64_t left;      /* the client closed before its head was complete */
    int pending;        /* held now */
    int queued;         /* waiting for CivetWeb now */
} gt_stats_t;
/* Thread: any. */
void gt_get_stats(gt_t *g, gt_stats_t *out);

#endif
