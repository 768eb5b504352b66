/* server.h - the HTTP side of dualgate: one port for SSE, Socket.IO, health and the static
 * dashboard. It composes the pieces: CivetWeb (request parsing, routing, the WebSocket
 * handshake, static files, /health, /ready, polling POSTs, on a fixed pool of http_threads
 * workers), the accept gate in front of it (gate.h), the connection hand-off (handoff.h), the
 * event loops that own every long-lived connection (loop.h, conn.h) and the transports
 * (sse_http.h, sio_http.h). CivetWeb stays behind this header. */
#ifndef SERVER_H
#define SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "config.h"
#include "redis.h"

typedef struct srv srv_t;

/* cfg, broker and rds must outlive the server. NULL on ENOMEM. Thread: main. */
srv_t *srv_new(const cfg_t *cfg, bk_t *broker, rds_t *rds);
/* Starts the loops, CivetWeb and the gate, then proves the hand-off works (a request to
 * itself, taken over); dualgate must not run without it. Returns 0, or DG_EIO / DG_ENOMEM
 * with errstr (the server is stopped again). Thread: main. */
int srv_start(srv_t *s, char *errstr, size_t errlen);
/* Begins a drain: /ready answers 503 from now on, new SSE streams, Socket.IO handshakes and
 * WebSocket upgrades get 503 with Retry-After, and every open SSE stream (a jittered retry:,
 * then its end) and Socket.IO session (a close the client reconnects after) is ended at its own
 * random moment within window_ms. Returns at once; srv_stop ends what is left.
 * Thread: main, after srv_start. */
void srv_drain(srv_t *s, int64_t window_ms);
/* Long-lived connections plus Socket.IO sessions still open (0: a drain is complete; a
 * session between two polls has no connection but counts). Thread: any. */
int srv_open(srv_t *s);
/* Refuses new connections, closes every long-lived one (WebSockets with a 1001 close frame,
 * held polls answered, SSE streams ended), waits for them briefly, stops CivetWeb and the
 * loops. Thread: main, before rds_stop. */
void srv_stop(srv_t *s);
/* After rds_stop (Redis answers still in flight are delivered to the loops' cancel paths). */
void srv_free(srv_t *s);

#endif
