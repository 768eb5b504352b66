/* httpx.h - private to the CivetWeb glue (server.c, sse_http.c, sio_http.c): the server
 * struct, admission control, CORS and error answers. Not installed, not used elsewhere. */
#ifndef HTTPX_H
#define HTTPX_H

#include <civetweb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "broker.h"
#include "buf.h"
#include "config.h"
#include "redis.h"

enum httpx_transport { HX_SSE, HX_WEBSOCKET, HX_POLLING, HX_NTRANSPORTS };

/* A long-lived handler that srv_stop() must wake. */
typedef struct httpx_waiter {
    void (*wake)(struct httpx_waiter *w);
    struct httpx_waiter *prev, *next;
} httpx_waiter_t;

struct srv {
    const cfg_t *cfg;
    bk_t *bk;
    rds_t *rds;
    struct mg_context *ctx;
    time_t started;
    atomic_int stopping;
    atomic_int active[HX_NTRANSPORTS]; /* open long-lived connections per transport */
    atomic_int active_total;
    atomic_ullong accepted[HX_NTRANSPORTS];
    atomic_ullong refused;      /* 503: over max_connections */
    atomic_ullong slow_closed;  /* closed: outbound queue over its limit */
    atomic_ullong write_failed; /* closed: write failed or timed out */
    atomic_ullong slow_lane;    /* SSE streams moved off the writer pool after a blocked write */
    atomic_ullong dropped_msgs; /* messages dropped with those connections */
    atomic_ullong bad_requests; /* 4xx answers */
    pthread_mutex_t wait_lock;  /* guards waiters */
    httpx_waiter_t *waiters;
    const char *stream_names[CFG_MAX_QUEUES + 1];
    int nstreams;
    struct sio_http *sio; /* owned by sio_http.c */
    struct wpool *sse_pool; /* SSE writer threads */
};

/* Admits one long-lived connection of transport t. Returns 0, or DG_ELIMIT when
 * max_connections are open or the server is stopping (answer 503). Thread: CivetWeb worker. */
int httpx_admit(struct srv *s, int t);
void httpx_release(struct srv *s, int t);

void httpx_waiter_add(struct srv *s, httpx_waiter_t *w);
void httpx_waiter_remove(struct srv *s, httpx_waiter_t *w);

/* Appends the CORS response headers for this request's Origin (none when not allowed). */
void httpx_cors_headers(struct srv *s, const struct mg_connection *c, buf_t *h);

/* Sends a complete JSON response `{"error":CODE,"message":MSG}` with status and CORS headers
 * (extra: additional header lines, each ending in \r\n, or NULL). Thread: CivetWeb worker. */
void httpx_send_error(struct srv *s, struct mg_connection *c, int status, const char *code,
                      const char *msg, const char *extra);
/* Answers a CORS preflight (204) allowing methods. Returns 204. */
int httpx_preflight(struct srv *s, struct mg_connection *c, const char *methods);
/* Sends status with a body of type ctype (and CORS headers). */
void httpx_send(struct srv *s, struct mg_connection *c, int status, const char *ctype,
                const char *body, size_t len, const char *extra);

/* Copies an already-decoded id (job id, queue name) into out. Returns its length, or -1 when
 * it is empty, longer than max bytes (or outlen - 1) or holds a control byte. */
int httpx_copy_id(const char *id, char *out, size_t outlen, int max);

/* Reads query parameter name (URL-decoded) into out; returns its length or -1 if absent. */
int httpx_query(const struct mg_connection *c, const char *name, char *out, size_t outlen);

/* Status text for the status line. */
const char *httpx_status_text(int status);

/* Request handlers (return the status code they sent, as CivetWeb expects). */
int sse_http_handler(struct mg_connection *c, void *srv);
/* The SSE writer pool: started before mg_start, freed after mg_stop. Thread: main. */
int sse_http_start(struct srv *s);
void sse_http_stop(struct srv *s);

/* Socket.IO transport (sio_http.c): registers its handlers on s->ctx after mg_start, and
 * closes every session (before mg_stop). Thread: main. */
int sio_http_start(struct srv *s);
void sio_http_stop(struct srv *s);
/* Socket.IO counters for /health (a new object; {} when stopped). Thread: CivetWeb worker. */
struct json_t *sio_http_health_json(struct srv *s);

#endif
