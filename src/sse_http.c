/* sse_http.c - parses an SSE request (target, filters, resume cursor), admits it, takes the
 * socket over and starts its stream on an event loop. The request's CivetWeb worker returns
 * as soon as that is done: it never writes to, or waits on, the stream. */
#include "sse_http.h"

#include <civetweb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dg.h"
#include "handoff.h"
#include "log.h"
#include "wsframe.h"

#define CURSOR_MAX 1024

struct sse_http {
    httpx_t hx;
    const sst_env_t *env;
    el_group_t *loops;
    sse_auth_t auth;
};

sse_http_t *sse_http_new(const httpx_t *hx, const sst_env_t *env, el_group_t *loops,
                         const sse_auth_t *auth)
{
    sse_http_t *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->hx = *hx;
    h->env = env;
    h->loops = loops;
    h->auth = *auth;
    return h;
}

/* The request's token (Authorization: Bearer, else ?access_token=), verified. Returns 0 with
 * *have 1 and *claims filled, 0 with *have 0 (anonymous: auth off, or optional without a
 * token), 401 (bad token, or none with auth = required) or 503 (out of memory). */
static int authenticate(const sse_http_t *h, struct mg_connection *c, auth_claims_t *claims,
                        int *have)
{
    const char *tok = NULL, *qs = mg_get_request_info(c)->query_string;
    const char *hdr = mg_get_header(c, "Authorization");
    size_t len = 0;
    int rc = DG_ENOTFOUND, fail = AUTH_MALFORMED;

    *have = 0;
    if (!h->auth.verifier)
        return 0;
    if (hdr)
        rc = auth_bearer(hdr, strlen(hdr), &tok, &len);
    if (rc == DG_ENOTFOUND && qs)
        rc = auth_query_token(qs, strlen(qs), &tok, &len);
    if (rc == DG_ENOTFOUND) {
        if (h->hx.cfg->auth != CFG_AUTH_REQUIRED)
            return 0;
        fail = AUTH_MISSING;
    } else if (rc == DG_OK) {
        rc = auth_verify(h->auth.verifier, tok, len, (long long)time(NULL), claims, &fail, NULL,
                         0);
        if (rc == DG_ENOMEM)
            return 503;
        if (rc == DG_OK) {
            atomic_fetch_add(&h->auth.stats->accepted, 1);
            *have = 1;
            return 0;
        }
    }
    if (fail > AUTH_OK && fail < AUTH_NFAIL)
        atomic_fetch_add(&h->auth.stats->refused[fail], 1);
    return 401;
}

/* A routed room's stream: it follows the routed streams (resumable) and a replay keeps the
 * room's own entries (routed items carry their room in job_id, redis.h). */
static void room_stream(const sse_http_t *h, sst_req_t *r, const char *room)
{
    snprintf(r->room, sizeof(r->room), "%s", room);
    snprintf(r->job_id, sizeof(r->job_id), "%s", room);
    r->follow = rds_route_streams(h->env->rds);
}

void sse_http_free(sse_http_t *h)
{
    free(h);
}

/* "a,b" -> the bits of queues a and b. Returns 0, -1 for an empty list or item, -2 for a
 * queue that is not configured. */
static int parse_queue_list(const cfg_t *cfg, const char *list, size_t len, uint32_t *mask)
{
    size_t i = 0;
    if (len == 0)
        return -1;
    while (i <= len) {
        const char *comma = memchr(list + i, ',', len - i);
        size_t n = comma ? (size_t)(comma - (list + i)) : len - i;
        char name[CFG_NAME_MAX];
        if (n == 0 || n >= sizeof(name))
            return -1;
        memcpy(name, list + i, n);
        name[n] = '\0';
        int q = cfg_queue_index(cfg, name);
        if (q < 0)
            return -2;
        *mask |= 1u << q;
        i += n + 1;
    }
    return 0;
}

/* access_jobs for job_id on the queues in follow. Owner terms need the job's data: read from
 * BullMQ's job hash on this worker (a short wait bounded by redis_timeout_ms), allowed when the
 * job of one of the queues passes. */
static int job_allowed(const sse_http_t *h, const auth_claims_t *claims, const char *job_id,
                       uint32_t follow)
{
    const acl_t *acl = h->auth.acl;
    if (!acl || acl_allows(acl, ACL_JOBS, claims, NULL, 0))
        return 1;
    if (!claims || !acl_needs_job_data(acl))
        return 0;
    int ok = 0;
    for (int q = 0; !ok && q < h->hx.cfg->nqueues; q++) {
        char *data = NULL;
        if ((follow & (1u << q)) &&
            rds_job_data(h->env->rds, q, job_id, h->hx.cfg->redis_timeout_ms, &data) == DG_OK &&
            data)
            ok = acl_allows(acl, ACL_JOBS, claims, data, strlen(data));
        free(data);
    }
    return ok;
}

/* Parses the path and query into r and asks the access rules (claims NULL: anonymous).
 * Returns 0 or an HTTP status with *err. */
static int parse_target(const sse_http_t *h, struct mg_connection *c,
                        const auth_claims_t *claims, sst_req_t *r, const char **err)
{
    const cfg_t *cfg = h->hx.cfg;
    const acl_t *acl = h->auth.acl;
    const char *uri = httpx_path(c);
    char val[CFG_STR_MAX];
    uint32_t all_queues = (1u << cfg->nqueues) - 1;

    if (!uri)
        return *err = "no path", 400;
    if (strncmp(uri, "/sse/jobs/", 10) == 0) {
        /* CivetWeb hands the path over percent-decoded (and cut at an encoded NUL), so
         * "a%2Fb" arrives as "a/b": a job id is everything after "/sse/jobs/". */
        /* BullMQ's ids are JavaScript strings: bytes that are not UTF-8 can name no job, and
         * a `state` event could not carry them */
        if (httpx_copy_id(uri + 10, r->job_id, sizeof(r->job_id), cfg->max_id_len) < 0 ||
            !ws_utf8_valid(r->job_id, strlen(r->job_id)))
            return *err = "job id is empty, too long, not UTF-8 or holds control characters", 400;
        snprintf(r->room, sizeof(r->room), "job:%s", r->job_id);
        r->job_stream = 1;
        r->follow = all_queues;
        if (httpx_query(c, "queue", val, sizeof(val)) >= 0) {
            int q = cfg_queue_index(cfg, val);
            if (q < 0)
                return *err = "unknown queue", 404;
            r->follow = 1u << q;
            r->filter.streams = r->follow;
        }
        if (!job_allowed(h, claims, r->job_id, r->follow))
            return *err = "not allowed to follow this job", 403;
    } else if (strncmp(uri, "/sse/queues/", 12) == 0) {
        char name[CFG_STR_MAX];
        if (httpx_copy_id(uri + 12, name, sizeof(name), cfg->max_id_len) < 0)
            return *err = "queue name is empty, too long or holds control characters", 400;
        int q = cfg_queue_index(cfg, name);
        if (q < 0)
            return *err = "unknown queue", 404;
        if (!acl_allows(acl, ACL_QUEUES, claims, NULL, 0))
            return *err = "not allowed to follow this queue", 403;
        snprintf(r->room, sizeof(r->room), "queue:%s", name);
        r->follow = 1u << q;
    } else if (strcmp(uri, "/sse/all-jobs") == 0) {
        /* every job event of every queue (the NestJS gateway's all-jobs room); ?queue=a,b
         * keeps some queues */
        if (!acl_allows(acl, ACL_QUEUES, claims, NULL, 0))
            return *err = "not allowed to follow every queue", 403;
        snprintf(r->room, sizeof(r->room), "all-jobs");
        r->follow = all_queues;
        int n = httpx_query(c, "queue", val, sizeof(val));
        if (n >= 0) {
            uint32_t mask = 0;
            int bad = parse_queue_list(cfg, val, (size_t)n, &mask);
            if (bad == -1)
                return *err = "queue must be a comma list of queue names", 400;
            if (bad == -2)
                return *err = "unknown queue", 404;
            r->follow = mask;
            r->filter.streams = mask;
        }
    } else if (strcmp(uri, "/sse/logs") == 0) {
        if (!acl_allows(acl, ACL_LOGS, claims, NULL, 0))
            return *err = "not allowed to read the logs", 403;
        snprintf(r->room, sizeof(r->room), "logs");
        r->follow = 1u << cfg->nqueues;
        if (httpx_query(c, "level", val, sizeof(val)) >= 0) {
            int lvl = dec_level_parse(val, strlen(val));
            if (lvl < 0)
                return *err = "level must be one of trace, debug, info, warn, error, fatal", 400;
            r->filter.min_level = lvl;
        }
        int n = httpx_query(c, "ns", val, sizeof(val));
        if (n >= 0) {
            if (n == 0 || n >= BK_NS_MAX)
                return *err = "ns must be 1 to 63 bytes", 400;
            memcpy(r->filter.ns, val, (size_t)n + 1);
        }
    } else if (strcmp(uri, "/sse/users/me") == 0) {
        char room[ROUTE_ROOM_MAX];
        if (!claims) {
            atomic_fetch_add(&h->auth.stats->refused[AUTH_MISSING], 1);
            return *err = "a token is required", 401;
        }
        int n = acl_user_room(acl, claims, room, sizeof(room));
        if (n == DG_ENOTFOUND)
            return *err = "user rooms are off (user_room_prefix is empty)", 404;
        if (n < 0)
            return *err = "the token's user id cannot name a room", 403;
        room_stream(h, r, room);
    } else if (strncmp(uri, "/sse/rooms/", 11) == 0) {
        char room[ROUTE_ROOM_MAX];
        int n = httpx_copy_id(uri + 11, room, sizeof(room), ROUTE_ROOM_MAX - 1);
        if (n < 0)
            return *err = "room is empty, too long or holds control characters", 400;
        if (!acl_allows_room(acl, claims, room, (size_t)n))
            return *err = "not allowed to follow this room", 403;
        room_stream(h, r, room);
    } else {
        return *err = "no such endpoint", 404;
    }
    return 0;
}

static const char *status_code(int status)
{
    switch (status) {
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 503: return "unavailable";
    default: return "bad_request";
    }
}

/* The client's resume cursor: Last-Event-ID header, else ?lastEventId=. */
static void client_cursor(const sse_http_t *h, struct mg_connection *c, sst_req_t *r)
{
    char val[CURSOR_MAX];
    const char *hdr = mg_get_header(c, "Last-Event-ID");
    int n;
    if (hdr) {
        n = (int)strlen(hdr);
        if (n >= (int)sizeof(val))
            n = -2;
        else
            memcpy(val, hdr, (size_t)n + 1);
    } else {
        n = httpx_query(c, "lastEventId", val, sizeof(val));
    }
    if (n == -1 || (n == 0 && hdr))
        return; /* none: start live */
    r->resume = 1;
    r->cursor_ok = n > 0 && cur_parse(&r->from, h->env->names, h->env->nstreams, val,
                                      (size_t)n) == 0;
}

int sse_http_handler(struct mg_connection *c, void *cbdata)
{
    sse_http_t *h = cbdata;
    const struct mg_request_info *ri = mg_get_request_info(c);
    if (strcmp(ri->request_method, "OPTIONS") == 0)
        return httpx_preflight(&h->hx, c, "GET, OPTIONS");
    if (strcmp(ri->request_method, "GET") != 0)
        return httpx_send_error(&h->hx, c, 405, "method_not_allowed", "use GET",
                                "Allow: GET, OPTIONS\r\n");
    sst_req_t *r = calloc(1, sizeof(*r));
    if (!r)
        return httpx_send_error(&h->hx, c, 503, "unavailable", "out of memory", NULL);
    const char *err = "a valid token is required";
    auth_claims_t claims = {0};
    int have = 0;
    int status = authenticate(h, c, &claims, &have);
    if (!status)
        status = parse_target(h, c, have ? &claims : NULL, r, &err);
    if (!status && have) {
        r->warn_at = auth_warn_at(h->auth.verifier, &claims);
        r->close_at = auth_close_at(h->auth.verifier, &claims);
        r->exp = claims.has_exp ? claims.exp : 0;
    }
    auth_claims_clear(&claims);
    if (status) {
        free(r);
        if (status == 403)
            atomic_fetch_add(&h->auth.stats->forbidden, 1);
        if (status == 503)
            err = "out of memory";
        return httpx_send_error(&h->hx, c, status, status_code(status), err,
                                status == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL);
    }
    client_cursor(h, c, r);
    if (adm_admit(h->hx.adm, ADM_SSE) != DG_OK) {
        free(r);
        return httpx_send_busy(&h->hx, c, "too many connections, retry later");
    }
    buf_t cors = BUF_INIT;
    httpx_cors(h->hx.cfg, mg_get_header(c, "Origin"), &cors);
    if (cors.len < sizeof(r->headers) && cors.data)
        memcpy(r->headers, cors.data, cors.len + 1);
    buf_free(&cors);
    char why[160];
    int fd = ho_take(ri->remote_addr, ri->remote_port, why, sizeof(why));
    if (fd < 0) {
        adm_release(h->hx.adm, ADM_SSE);
        free(r);
        log_error("sse", "cannot take the connection over: %s", why);
        return httpx_send_error(&h->hx, c, 500, "internal", "connection hand-off failed", NULL);
    }
    /* From here the socket is the loop's: no more mg_* calls on c. */
    sst_start(h->env, elg_pick(h->loops), fd, r);
    free(r);
    return 200;
}
