/* sse_http.h - the CivetWeb side of Server-Sent Events: /sse/jobs/:id[?queue=],
 * /sse/queues/:name, /sse/all-jobs[?queue=a,b], /sse/logs[?level=&ns=], /sse/users/me and
 * /sse/rooms/:room (routed rooms), resume by Last-Event-ID or ?lastEventId=. The handler parses
 * and admits the request, takes the socket over (handoff.h) and starts the stream on an event
 * loop (sse_stream.h); bad requests get JSON errors from CivetWeb's worker. */
#ifndef SSE_HTTP_H
#define SSE_HTTP_H

#include "acl.h"
#include "auth.h"
#include "httpx.h"
#include "loop.h"
#include "sse_stream.h"

struct mg_connection;
typedef struct sse_http sse_http_t;

/* Who may listen (auth = optional | required): the token from `Authorization: Bearer` or
 * `?access_token=` is verified; a bad one, or none with auth = required, is 401
 * {"error":"unauthorized"}. /sse/users/me streams the token's own room (user_room_prefix +
 * user id; 401 without a token), /sse/rooms/:room a routed room, and every endpoint asks the
 * access rules first (403 {"error":"forbidden"}). Tokens are never logged. */
typedef struct sse_auth {
    const auth_verifier_t *verifier; /* NULL: auth = off, no token is looked at */
    const acl_t *acl;                /* always set */
    auth_stats_t *stats;             /* counted into; shared with the other transports */
} sse_auth_t;

/* hx, env, loops and what auth points to must outlive it. NULL on ENOMEM. Thread: main. */
sse_http_t *sse_http_new(const httpx_t *hx, const sst_env_t *env, el_group_t *loops,
                         const sse_auth_t *auth);
void sse_http_free(sse_http_t *h);

/* CivetWeb request handler for "/sse/" (cbdata: the sse_http_t). Thread: CivetWeb worker. */
int sse_http_handler(struct mg_connection *c, void *cbdata);

#endif
