/* server.h - the HTTP side of dualgate: one port for SSE, Socket.IO, health and the static
 * dashboard. It composes the pieces: CivetWeb (request parsing, routing, the WebSocket
 * handshake, static files, /health, /ready, polling POSTs, on a fixed pool of http_threads
 * workers), the accept gate in front of it (gate.h), the connection hand-off (handoff.h), the
 * event loops that own every long-lived connection (loop.h, conn.h) and the transports
 * (sse_http.h, sio_http.h). CivetWeb stays behind this header. */
#ifndef SERVER_H
#define SERVER_H

#include <stddef.h>

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
/* Refuses new connections, closes every long-lived one (WebSockets with a 1001 close frame,
 * held polls answered, SSE streams ended), waits for them briefly, stops CivetWeb and the
 * loops. Thread: main, before rds_stop. */
void srv_stop(srv_t *s);
/* After rds_stop (Redis answers still in flight are delivered to the loops' cancel paths). */
void srv_free(srv_t *s);

#endif
