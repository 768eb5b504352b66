/* sio_http.h - the Socket.IO transport: Engine.IO v4 over HTTP long-polling and WebSocket at
 * cfg->sio_path (plus a plain Engine.IO echo endpoint at /engine.io/ in conformance mode), the
 * client library files, and the /health counters. CivetWeb parses requests and does the
 * WebSocket handshake; then dualgate takes the socket over (handoff.h) and the session's event
 * loop owns it: WebSocket frames are read and written there (wsframe.h), held polling GETs are
 * answered there, only polling POST bodies are read by CivetWeb's workers. Protocol decisions
 * are eio_session.c's (Engine.IO) and sio_app.c's (namespaces). */
#ifndef SIO_HTTP_H
#define SIO_HTTP_H

#include "acl.h"
#include "auth.h"
#include "broker.h"
#include "config.h"
#include "conn.h"
#include "httpx.h"
#include "loop.h"
#include "redis.h"

struct mg_context;
struct json_t;
typedef struct sio sio_t;

/* What the transport needs; everything must outlive it. */
typedef struct sio_deps {
    httpx_t hx;
    bk_t *bk;
    rds_t *rds;
    el_group_t *loops;
    cn_env_t *cn;
    struct rp_stats *rp_stats; /* replay counters shared with SSE, or NULL */
    /* who may connect (sio_app.h): tokens from the CONNECT's auth.token or the handshake's
     * `Authorization: Bearer`; NULL verifier = auth off, NULL acl = everything allowed */
    const auth_verifier_t *verifier;
    const acl_t *acl;
    auth_stats_t *auth_stats;
} sio_deps_t;

/* NULL on ENOMEM. Thread: main. */
sio_t *sio_new(const sio_deps_t *deps);
/* Registers the request and WebSocket handlers on ctx. Thread: main, after mg_start. */
void sio_register(sio_t *s, struct mg_context *ctx);
/* Closes every session (WebSockets get a 1001 close frame, held polls their answer) and
 * refuses new ones. Returns at once; the loops do the closing. Thread: main. */
void sio_stop(sio_t *s);
/* Drains: every session is closed at its own random moment within window_ms (WebSockets with a
 * 1001 close frame, polling ones with a close packet: socket.io-client reconnects by itself,
 * elsewhere if the proxy sends it there), so reconnects ramp instead of arriving at once.
 * From now on handshakes and WebSocket upgrades get 503 with Retry-After; the polls and POSTs
 * of sessions that exist go on until their moment. Returns at once. Thread: main. */
void sio_drain(sio_t *s, int64_t window_ms);
/* Slow-consumer closes and the events they dropped, by the session's transport at the close
 * (entries [CN_KIND_WEBSOCKET] and [CN_KIND_POLLING]; [CN_KIND_SSE] stays 0). */
typedef struct sio_stats {
    uint64_t dropped[CN_KINDS];
    uint64_t slow_closed[CN_KINDS];
    uint64_t restores;      /* CONNECTs that asked for connection-state recovery */
    uint64_t recovered;     /* ... and got their session back */
    uint64_t not_recovered; /* ... and got a fresh one and a gap event */
} sio_stats_t;
void sio_get_stats(sio_t *s, sio_stats_t *out); /* Thread: any. */

/* Sessions still allocated (0 once every loop has closed them). Thread: any. */
int sio_sessions(sio_t *s);
/* After the loops and CivetWeb have stopped. Thread: main. */
void sio_free(sio_t *s);

/* Socket.IO counters for /health (a new object). Thread: any. */
struct json_t *sio_health_json(sio_t *s);

#endif
