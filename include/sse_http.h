/* sse_http.h - the CivetWeb side of Server-Sent Events: /sse/jobs/:id[?queue=],
 * /sse/queues/:name, /sse/all-jobs[?queue=a,b] and /sse/logs[?level=&ns=], resume by
 * Last-Event-ID or ?lastEventId=. The handler parses and admits the request, takes the socket
 * over (handoff.h) and starts the stream on an event loop (sse_stream.h); bad requests get JSON
 * errors from CivetWeb's worker. */
#ifndef SSE_HTTP_H
#define SSE_HTTP_H

#include "httpx.h"
#include "loop.h"
#include "sse_stream.h"

struct mg_connection;
typedef struct sse_http sse_http_t;

/* hx, env and loops must outlive it. NULL on ENOMEM. Thread: main. */
sse_http_t *sse_http_new(const httpx_t *hx, const sst_env_t *env, el_group_t *loops);
void sse_http_free(sse_http_t *h);

/* CivetWeb request handler for "/sse/" (cbdata: the sse_http_t). Thread: CivetWeb worker. */
int sse_http_handler(struct mg_connection *c, void *cbdata);

#endif
