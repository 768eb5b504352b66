/* httpx.c - status texts, response and error builders, CORS, query and path helpers. */
#include "httpx.h"

#include <civetweb.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dg.h"
#include "handoff.h"

const char *httpx_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

int httpx_response(buf_t *out, int status, const char *ctype, const char *headers,
                   const char *body, size_t len)
{
    buf_appendf(out, "HTTP/1.1 %d %s\r\n", status, httpx_status_text(status));
    if (ctype)
        buf_appendf(out, "Content-Type: %s\r\n", ctype);
    buf_appendf(out, "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n", len);
    if (headers)
        buf_append_str(out, headers);
    buf_append(out, "\r\n", 2);
    if (len)
        buf_append(out, body, len);
    return out->oom ? DG_ENOMEM : DG_OK;
}

void httpx_cors(const cfg_t *cfg, const char *origin, buf_t *out)
{
    if (cfg->cors_any) {
        buf_append_str(out, "Access-Control-Allow-Origin: *\r\n");
    } else if (origin && cfg_origin_allowed(cfg, origin) && !strpbrk(origin, "\r\n")) {
        buf_appendf(out, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n", origin);
        buf_append_str(out, "Access-Control-Allow-Credentials: true\r\n");
    }
}

void httpx_error_body(buf_t *out, const char *code, const char *msg)
{
    json_t *o = json_pack("{s:s,s:s}", "error", code, "message", msg);
    char *body = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    buf_append_str(out, body ? body : "{}");
    free(body);
}

int httpx_body_may_trickle(const httpx_t *h, const struct mg_connection *c)
{
    long long len = mg_get_request_info(c)->content_length;
    const char *te = mg_get_header(c, "Transfer-Encoding");
    return len > (long long)h->body_buffered || (te && strstr(te, "chunked"));
}

/* Writes out[] on the socket taken from CivetWeb and closes it. Returns 0, or -1 when the
 * socket could not be taken (the caller writes through CivetWeb). */
static int send_and_close(struct mg_connection *c, const buf_t *out)
{
    const struct mg_request_info *ri = mg_get_request_info(c);
    char why[160], discard[4096];
    int fd = ho_take(ri->remote_addr, ri->remote_port, why, sizeof(why));
    if (fd < 0)
        return -1;
    if (send(fd, out->data, out->len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* best effort: a fresh socket's buffer takes a small answer */
    }
    while (recv(fd, discard, sizeof(discard), MSG_DONTWAIT) > 0)
        ; /* what already came need not reset the connection */
    shutdown(fd, SHUT_WR);
    close(fd);
    return 0;
}

void httpx_send(const httpx_t *h, struct mg_connection *c, int status, const char *ctype,
                const char *body, size_t len, const char *extra)
{
    buf_t hd = BUF_INIT, out = BUF_INIT;
    httpx_cors(h->cfg, mg_get_header(c, "Origin"), &hd);
    if (extra)
        buf_append_str(&hd, extra);
    httpx_response(&out, status, ctype, hd.data, body, len);
    if (!out.oom && !hd.oom && (!httpx_body_may_trickle(h, c) || send_and_close(c, &out) != 0))
        mg_write(c, out.data, out.len);
    buf_free(&hd);
    buf_free(&out);
}

int httpx_send_error(const httpx_t *h, struct mg_connection *c, int status, const char *code,
                     const char *msg, const char *extra)
{
    buf_t body = BUF_INIT;
    httpx_error_body(&body, code, msg);
    if (status >= 400 && status < 500 && h->adm)
        atomic_fetch_add(&h->adm->bad_requests, 1);
    httpx_send(h, c, status, "application/json", body.data ? body.data : "{}",
               body.data ? body.len : 2, extra);
    buf_free(&body);
    return status;
}

int httpx_send_busy(const httpx_t *h, struct mg_connection *c, const char *msg)
{
    return httpx_send_error(h, c, 503, "over_capacity", msg, "Retry-After: 1\r\n");
}

int httpx_preflight(const httpx_t *h, struct mg_connection *c, const char *methods)
{
    char extra[256];
    snprintf(extra, sizeof(extra),
             "Access-Control-Allow-Methods: %s\r\n"
             "Access-Control-Allow-Headers: Content-Type, Last-Event-ID, Cache-Control, Authorization\r\n"
             "Access-Control-Max-Age: 600\r\n",
             methods);
    httpx_send(h, c, 204, NULL, NULL, 0, extra);
    return 204;
}

const char *httpx_path(const struct mg_connection *c)
{
    const char *uri = mg_get_request_info(c)->request_uri;
    if (uri && (strncmp(uri, "http://", 7) == 0 || strncmp(uri, "https://", 8) == 0))
        uri = strchr(strchr(uri, ':') + 3, '/'); /* absolute form: skip scheme and host */
    return uri;
}

int httpx_copy_id(const char *id, char *out, size_t outlen, int max)
{
    size_t n = strlen(id);
    if (n == 0 || n > (size_t)max || n >= outlen)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
            return -1;
    memcpy(out, id, n + 1);
    return (int)n;
}

int httpx_query(const struct mg_connection *c, const char *name, char *out, size_t outlen)
{
    const char *q = mg_get_request_info(c)->query_string;
    if (!q)
        return -1;
    int n = mg_get_var(q, strlen(q), name, out, outlen);
    return n < 0 ? -1 : n;
}
