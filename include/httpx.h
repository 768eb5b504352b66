/* httpx.h - the small HTTP pieces every CivetWeb handler and every loop-written answer shares:
 * status texts, whole responses built into a buffer (so a loop can write one without CivetWeb),
 * CORS headers for the configured origins, JSON error answers, query parameters, ids from
 * paths. A leaf of the CivetWeb glue: it knows CivetWeb, the configuration and admission
 * counters, nothing of the transports. Thread: any (functions taking an mg_connection: that
 * connection's CivetWeb worker). */
#ifndef HTTPX_H
#define HTTPX_H

#include <stddef.h>

#include "admit.h"
#include "buf.h"
#include "config.h"

struct mg_connection;

/* What the helpers need; owned by the server, outlives every request. */
typedef struct httpx {
    const cfg_t *cfg;
    adm_t *adm;           /* bad requests are counted here */
    size_t body_buffered; /* bodies up to this size are whole in CivetWeb's buffer (the gate waited) */
} httpx_t;

const char *httpx_status_text(int status);

/* Appends a whole response: status line, Content-Type (when ctype), Content-Length,
 * Cache-Control: no-store, Connection: close, headers (lines ending in CRLF, or NULL), the
 * blank line and body. Returns 0 or DG_ENOMEM. */
int httpx_response(buf_t *out, int status, const char *ctype, const char *headers,
                   const char *body, size_t len);
/* Appends the CORS response headers for a request whose Origin header is origin (NULL when
 * absent): "*" when any origin is allowed, else the origin itself (with Vary and credentials)
 * when listed, else nothing. */
void httpx_cors(const cfg_t *cfg, const char *origin, buf_t *out);
/* Appends the JSON body {"error":code,"message":msg}. */
void httpx_error_body(buf_t *out, const char *code, const char *msg);

/* Writes a response with CORS headers for c's Origin (extra: more header lines or NULL). A
 * request that announced a body larger than body_buffered (or a chunked one) is answered on
 * the taken-over socket, which is then closed: CivetWeb would otherwise read and discard the
 * rest of that body on its worker, however slowly it trickles in. */
void httpx_send(const httpx_t *h, struct mg_connection *c, int status, const char *ctype,
                const char *body, size_t len, const char *extra);
/* 1 when c's body may still be arriving: over body_buffered, or chunked. Such a body holds a
 * worker while it is read; a smaller one is already whole. */
int httpx_body_may_trickle(const httpx_t *h, const struct mg_connection *c);
/* Writes a JSON error answer; 4xx are counted as bad requests. Returns status. */
int httpx_send_error(const httpx_t *h, struct mg_connection *c, int status, const char *code,
                     const char *msg, const char *extra);
/* 503 over_capacity with Retry-After. Returns 503. */
int httpx_send_busy(const httpx_t *h, struct mg_connection *c, const char *msg);
/* Answers a CORS preflight (204) allowing methods. Returns 204. */
int httpx_preflight(const httpx_t *h, struct mg_connection *c, const char *methods);

/* The request path (CivetWeb decoded it already; an absolute-form target loses its scheme and
 * host). NULL when there is none. */
const char *httpx_path(const struct mg_connection *c);
/* Copies an already-decoded id (job id, queue name) into out. Returns its length, or -1 when
 * it is empty, longer than max bytes (or outlen - 1) or holds a control byte. */
int httpx_copy_id(const char *id, char *out, size_t outlen, int max);
/* Reads query parameter name (URL-decoded) into out; returns its length or -1 if absent. */
int httpx_query(const struct mg_connection *c, const char *name, char *out, size_t outlen);

#endif
