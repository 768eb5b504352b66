/* sio_app.c - the Socket.IO namespaces of dualgate: "/" (job and queue rooms), "/logs" (log
 * entries both ways) and, in conformance mode, "/custom" plus the test suite's echo events.
 * Packets are decoded by sio.c and answered through the session's ops; it keeps no state
 * beyond the connected namespaces and a binary packet being assembled. */
#include "sio_app.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "decode.h"
#include "dg.h"
#include "eio.h"
#include "log.h"
#include "loop.h"

#define NAME_MAX_BYTES 64 /* event names we act on are short; longer ones are ignored */

void sio_app_init(sio_app_t *a, const cfg_t *cfg, const sio_app_ops_t *ops, sio_app_stats_t *stats)
{
    memset(a, 0, sizeof(*a));
    a->cfg = cfg;
    a->ops = *ops;
    a->stats = stats;
    sio_binasm_init(&a->binasm, SIO_ATTACH_DEFAULT, (size_t)cfg->max_payload);
}

void sio_app_free(sio_app_t *a)
{
    sio_binasm_free(&a->binasm);
    for (int i = 0; a->claims && i < SIO_APP_NNSP; i++)
        auth_claims_clear(&a->claims[i]);
    free(a->claims);
    a->claims = NULL;
    if (a->hs_token)
        memset(a->hs_token, 0, a->hs_token_len);
    free(a->hs_token);
    a->hs_token = NULL;
    free(a->rooms);
    a->rooms = NULL;
}

void sio_app_set_auth(sio_app_t *a, const sio_app_auth_t *auth)
{
    a->auth = auth;
}

int sio_app_set_token(sio_app_t *a, const char *tok, size_t len, int malformed)
{
    a->hs_token_bad = malformed;
    if (!len)
        return DG_OK;
    if (!(a->hs_token = malloc(len + 1)))
        return DG_ENOMEM;
    memcpy(a->hs_token, tok, len);
    a->hs_token[len] = '\0';
    a->hs_token_len = len;
    return DG_OK;
}

int sio_app_connected(const sio_app_t *a)
{
    return a->connected_once;
}

const char *sio_app_errstr(const sio_app_t *a)
{
    return a->errstr;
}

static int fail(sio_app_t *a, int rc, const char *why)
{
    snprintf(a->errstr, sizeof(a->errstr), "%s", why);
    atomic_fetch_add(&a->stats->protocol_errors, 1);
    return rc;
}

/* ---------------------------------------------------------------- sending */

static void send_text(sio_app_t *a, const char *pkt, int len)
{
    if (len > 0)
        a->ops.send(a->ops.ud, pkt, (size_t)len, 0);
}

/* JSON string of s[0..n) in a malloc'd buffer; NULL on ENOMEM. */
static char *quote(const char *s, size_t n, size_t *out_len)
{
    size_t cap = 6 * n + 3;
    char *q = malloc(cap);
    int len = q ? sio_json_quote(q, cap, s, n) : DG_ENOMEM;
    if (len < 0) {
        free(q);
        return NULL;
    }
    q[len] = '\0';
    *out_len = (size_t)len;
    return q;
}

/* Sends EVENT name(args) on nsp, with nattach attachments following. */
static void send_event(sio_app_t *a, const char *nsp, const char *name, const char *args,
                       size_t args_len, int nattach)
{
    size_t nlen = strlen(name), cap = SIO_EVENT_SIZE(nlen, args_len);
    char *buf = malloc(cap);
    if (!buf)
        return;
    send_text(a, buf, sio_encode_event(buf, cap, nsp, -1, nattach, name, nlen, args, args_len));
    free(buf);
}

static void send_ack(sio_app_t *a, const char *nsp, long ack_id, const char *args, size_t args_len,
                     int nattach)
{
    size_t cap = SIO_EVENT_SIZE(0, args_len);
    char *buf = malloc(cap);
    if (!buf)
        return;
    send_text(a, buf, sio_encode_ack(buf, cap, nsp, ack_id, nattach, args, args_len));
    free(buf);
}

/* Acks {"success":true,"room":ROOM} or {"success":false,"error":ERR} when one was asked. */
static void ack_result(sio_app_t *a, const char *nsp, long ack_id, const char *room,
                       const char *err)
{
    if (ack_id < 0)
        return;
    const char *s = err ? err : room;
    size_t qlen = 0;
    char *q = s ? quote(s, strlen(s), &qlen) : NULL;
    buf_t b = BUF_INIT;
    if (err)
        buf_appendf(&b, "{\"success\":false,\"error\":%s}", q ? q : "\"internal error\"");
    else if (room)
        buf_appendf(&b, "{\"success\":true,\"room\":%s}", q ? q : "null");
    else
        buf_append_str(&b, "{\"success\":true}");
    if (!b.oom)
        send_ack(a, nsp, ack_id, b.data, b.len, 0);
    buf_free(&b);
    free(q);
}

/* Resends the attachments of a completed binary packet, in order. */
static void send_attachments(sio_app_t *a, int n)
{
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        const void *p = sio_binasm_attachment(&a->binasm, i, &len);
        if (p)
            a->ops.send(a->ops.ud, p, len, 1);
    }
}

/* ---------------------------------------------------------------- namespaces */

/* SIO_APP_NSP_* bit of p's namespace, 0 when it does not exist here. */
static unsigned nsp_bit(const sio_app_t *a, const sio_packet_t *p)
{
    if (sio_nsp_is(p, "/"))
        return SIO_APP_NSP_MAIN;
    if (sio_nsp_is(p, "/logs"))
        return SIO_APP_NSP_LOGS;
    if (a->cfg->conformance && sio_nsp_is(p, "/custom"))
        return SIO_APP_NSP_CUSTOM;
    return 0;
}

const char *sio_app_nsp_name(unsigned bit)
{
    return bit == SIO_APP_NSP_LOGS ? "/logs" : bit == SIO_APP_NSP_CUSTOM ? "/custom" : "/";
}

/* Index of a namespace bit into the per-namespace arrays. */
static int ns_index(unsigned bit)
{
    return bit == SIO_APP_NSP_MAIN ? 0 : bit == SIO_APP_NSP_LOGS ? 1 : 2;
}

static int auth_on(const sio_app_t *a)
{
    return a->auth && a->auth->verifier;
}

/* The verified claims of namespace bit, NULL when anonymous. */
static const auth_claims_t *claims_of(const sio_app_t *a, unsigned bit)
{
    int i = ns_index(bit);
    return a->authed[i] ? &a->claims[i] : NULL;
}

/* The access rules say yes (no rules: everything is allowed). Refusals are counted. */
static int allows(const sio_app_t *a, int what, unsigned bit)
{
    if (!a->auth || !a->auth->acl)
        return 1;
    /* owner terms need the job's data, which is not read for a subscription: they deny */
    if (acl_allows(a->auth->acl, what, claims_of(a, bit), NULL, 0))
        return 1;
    if (a->auth->stats)
        atomic_fetch_add(&a->auth->stats->forbidden, 1);
    return 0;
}

static void count_refused(const sio_app_t *a, int fail)
{
    if (a->auth->stats && fail > AUTH_OK && fail < AUTH_NFAIL)
        atomic_fetch_add(&a->auth->stats->refused[fail], 1);
}

/* Verifies the token of a CONNECT to bit: its auth object's token, else the handshake's.
 * Returns AUTH_OK (claims stored when there was a token) or why it is refused. */
static int authenticate(sio_app_t *a, const sio_packet_t *p, unsigned bit)
{
    int i = ns_index(bit), fail = AUTH_MALFORMED;
    if (a->claims)
        auth_claims_clear(&a->claims[i]);
    a->authed[i] = 0;
    a->warn_at[i] = a->close_at[i] = 0;
    if (!auth_on(a))
        return AUTH_OK;
    /* only sockets of a gateway with tokens pay for claims */
    if (!a->claims && !(a->claims = calloc(SIO_APP_NNSP, sizeof(*a->claims))))
        return AUTH_MALFORMED;
    char *tok = malloc(AUTH_TOKEN_MAX + 1);
    const char *t = tok;
    size_t tlen = 0;
    if (!tok)
        return AUTH_MALFORMED;
    int rc = auth_sio_token(p->data ? p->data : "", p->data ? p->data_len : 0, tok,
                            AUTH_TOKEN_MAX + 1, &tlen);
    if (rc == DG_ENOTFOUND && a->hs_token) {
        t = a->hs_token;
        tlen = a->hs_token_len;
        rc = DG_OK;
    } else if (rc == DG_ENOTFOUND && a->hs_token_bad) {
        rc = DG_EPROTO;
    }
    if (rc == DG_ENOTFOUND) {
        fail = a->cfg->auth == CFG_AUTH_REQUIRED ? AUTH_MISSING : AUTH_OK;
    } else if (rc == DG_OK &&
               auth_verify(a->auth->verifier, t, tlen, (long long)time(NULL), &a->claims[i],
                           &fail, NULL, 0) == DG_OK) {
        fail = AUTH_OK;
        a->authed[i] = 1;
        a->warn_at[i] = auth_warn_at(a->auth->verifier, &a->claims[i]);
        a->close_at[i] = auth_close_at(a->auth->verifier, &a->claims[i]);
        if (a->auth->stats)
            atomic_fetch_add(&a->auth->stats->accepted, 1);
    }
    memset(tok, 0, tlen < AUTH_TOKEN_MAX ? tlen : AUTH_TOKEN_MAX);
    free(tok);
    count_refused(a, fail);
    return fail;
}

/* The rooms a connect to "/" brings by itself: the user's own room and `all`. Joined through
 * the ops, so connection-state recovery restores them like any other room. */
static void join_own_rooms(sio_app_t *a)
{
    char room[ROUTE_ROOM_MAX];
    const auth_claims_t *c = claims_of(a, SIO_APP_NSP_MAIN);
    if (!a->auth || !a->auth->acl)
        return;
    if (c && acl_user_room(a->auth->acl, c, room, sizeof(room)) > 0)
        a->ops.join(a->ops.ud, room, NULL);
    if (a->auth->join_all && acl_allows_room(a->auth->acl, c, "all", 3))
        a->ops.join(a->ops.ud, "all", NULL);
}

/* `connected {socketId, userId}` after a connect to "/" (the MetaRGB client waits for it). */
static void send_connected(sio_app_t *a)
{
    const auth_claims_t *c = claims_of(a, SIO_APP_NSP_MAIN);
    if (!a->cfg->connected_event || a->cfg->conformance)
        return;
    json_t *o = json_pack("{s:s?,s:s?}", "socketId", a->sid[0][0] ? a->sid[0] : NULL, "userId",
                          c ? c->sub : NULL);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text)
        send_event(a, "/", "connected", text, strlen(text), 0);
    free(text);
    json_decref(o);
}

/* A connect to bit that starts from nothing: its rooms, a new pid, the CONNECT answer. data:
 * the CONNECT's payload (the conformance suite's server echoes it). */
static int connect_fresh(sio_app_t *a, unsigned bit, const char *data, size_t data_len)
{
    const char *nsp = sio_app_nsp_name(bit);
    char buf[SIO_HDR_MAX + 96], sid[EIO_SID_LEN + 1], pid[EIO_SID_LEN + 1] = "";
    if (eio_sid_generate(sid) != DG_OK)
        return fail(a, DG_EIO, "no randomness for a socket id");
    /* the pid's position first: whatever the rooms bring from now on comes after it */
    if (a->ops.fresh && bit != SIO_APP_NSP_CUSTOM)
        a->ops.fresh(a->ops.ud, bit, pid);
    if (bit == SIO_APP_NSP_LOGS && a->ops.join(a->ops.ud, "logs", NULL) != DG_OK)
        return fail(a, DG_ENOMEM, "cannot join the logs room");
    if (bit == SIO_APP_NSP_MAIN)
        join_own_rooms(a);
    memcpy(a->sid[ns_index(bit)], sid, sizeof(sid));
    a->nsps |= bit;
    a->connected_once = 1;
    atomic_fetch_add(&a->stats->connects, 1);
    send_text(a, buf, pid[0] ? sio_encode_connect_pid(buf, sizeof(buf), nsp, sid, pid)
                             : sio_encode_connect(buf, sizeof(buf), nsp, sid));
    if (a->cfg->conformance) {
        /* The protocol test suite's server emits ["auth", handshake.auth] on connect. */
        if (data)
            send_event(a, nsp, "auth", data, data_len, 0);
        else
            send_event(a, nsp, "auth", "{}", 2, 0);
    }
    if (bit == SIO_APP_NSP_MAIN)
        send_connected(a);
    return DG_OK;
}

/* The client's {pid, offset} of a CONNECT that asks for recovery, as socket.io-client 4.6+
 * sends them; 0 when it does not ask (or asks in a form we do not know). */
static int recovery_asked(const sio_packet_t *p, char *pid, size_t pid_cap, char *offset,
                          size_t off_cap, int *has_offset)
{
    if (!p->data)
        return 0;
    json_t *o = json_loadb(p->data, p->data_len, 0, NULL);
    const json_t *jp = json_object_get(o, "pid"), *jo = json_object_get(o, "offset");
    int ok = json_is_string(jp) && json_string_length(jp) < pid_cap && json_string_length(jp) > 0;
    if (ok) {
        memcpy(pid, json_string_value(jp), json_string_length(jp) + 1);
        *has_offset = json_is_string(jo) && json_string_length(jo) < off_cap;
        if (*has_offset)
            memcpy(offset, json_string_value(jo), json_string_length(jo) + 1);
    }
    json_decref(o);
    return ok;
}

static int on_connect(sio_app_t *a, const sio_packet_t *p, unsigned bit, const char *nsp)
{
    if (!bit) {
        char buf[SIO_HDR_MAX + 64];
        atomic_fetch_add(&a->stats->invalid_nsp, 1);
        send_text(a, buf, sio_encode_connect_error(buf, sizeof(buf), nsp, "Invalid namespace"));
        return DG_OK;
    }
    if ((a->nsps | a->restoring) & bit)
        return fail(a, DG_EPROTO, "CONNECT to a namespace already connected");
    /* who it is before anything else, a restore included: a state id is no credential */
    const char *refusal = NULL;
    if (authenticate(a, p, bit) != AUTH_OK)
        refusal = "unauthorized";
    else if (bit == SIO_APP_NSP_LOGS && !allows(a, ACL_LOGS, bit))
        refusal = "forbidden";
    if (refusal) {
        char buf[SIO_HDR_MAX + 64];
        send_text(a, buf, sio_encode_connect_error(buf, sizeof(buf), nsp, refusal));
        return DG_OK;
    }
    char pid[EIO_SID_LEN + 1], offset[SIO_APP_OFFSET_MAX];
    int has_offset = 0;
    if (a->ops.restore && bit != SIO_APP_NSP_CUSTOM &&
        recovery_asked(p, pid, sizeof(pid), offset, sizeof(offset), &has_offset) &&
        a->ops.restore(a->ops.ud, bit, pid, has_offset ? offset : NULL)) {
        a->restoring |= bit;
        a->connected_once = 1; /* the connect timeout no longer applies: the session answers */
        return DG_OK;
    }
    return connect_fresh(a, bit, p->data, p->data_len);
}

static int room_index(const sio_app_t *a, const char *room)
{
    for (int i = 0; i < a->nrooms; i++)
        if (strcmp(a->rooms[i], room) == 0)
            return i;
    return -1;
}

const char *sio_app_connect_done(sio_app_t *a, unsigned bit, int answered)
{
    if (!(a->restoring & bit))
        return NULL;
    a->restoring &= ~bit;
    if (!answered) {
        connect_fresh(a, bit, NULL, 0);
        return NULL;
    }
    char *sid = a->sid[ns_index(bit)];
    if (eio_sid_generate(sid) != DG_OK)
        return NULL;
    a->nsps |= bit;
    atomic_fetch_add(&a->stats->connects, 1);
    if (bit == SIO_APP_NSP_MAIN)
        send_connected(a); /* queued: after the CONNECT and the replay */
    return sid;
}

const char *sio_app_user(const sio_app_t *a, unsigned bit)
{
    const auth_claims_t *c = claims_of(a, bit);
    return c ? c->sub : "";
}

void sio_app_room_restored(sio_app_t *a, const char *room)
{
    size_t len = strlen(room);
    if (relay_room_type(a->cfg, room, len) < 0 || room_index(a, room) >= 0 || len >= ROUTE_ROOM_MAX ||
        a->nrooms >= a->cfg->client_rooms_max)
        return;
    if (!a->rooms && !(a->rooms = calloc((size_t)a->cfg->client_rooms_max, sizeof(*a->rooms))))
        return;
    memcpy(a->rooms[a->nrooms++], room, len + 1);
}

static void leave_client_rooms(sio_app_t *a);

static void on_disconnect(sio_app_t *a, unsigned bit)
{
    int i = ns_index(bit);
    a->nsps &= ~bit;
    if (bit == SIO_APP_NSP_MAIN)
        leave_client_rooms(a);
    if (a->claims)
        auth_claims_clear(&a->claims[i]);
    a->authed[i] = 0;
    a->warn_at[i] = a->close_at[i] = 0;
    a->sid[i][0] = '\0';
    if (a->ops.forget)
        a->ops.forget(a->ops.ud, bit);
    if (bit == SIO_APP_NSP_MAIN) {
        /* Job and queue rooms belong to "/": leave them all, keep the logs room if "/logs"
         * is still connected (a log event in between may be missed, never duplicated). */
        a->ops.leave_all(a->ops.ud);
        if (a->nsps & SIO_APP_NSP_LOGS)
            a->ops.join(a->ops.ud, "logs", NULL);
    } else if (bit == SIO_APP_NSP_LOGS) {
        a->ops.leave(a->ops.ud, "logs");
    }
}

/* ---------------------------------------------------------------- "/" subscriptions */

/* Writes a job id or queue name given as a JSON string or number into out (cap bytes).
 * Returns NULL or why it is not acceptable. */
static const char *id_text(const sio_app_t *a, const json_t *v, char *out, size_t cap,
                           const char *what_missing)
{
    size_t n;
    if (!v)
        return what_missing;
    if (json_is_string(v)) {
        n = json_string_length(v);
        if (n >= cap || n > (size_t)a->cfg->max_id_len)
            return "id is longer than max_id_len";
        memcpy(out, json_string_value(v), n);
        out[n] = '\0';
    } else if (json_is_integer(v)) {
        int len = snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        n = len > 0 ? (size_t)len : 0;
    } else if (json_is_real(v)) {
        /* JavaScript's String(n) for the integral values a job id can take. */
        double d = json_real_value(v);
        if (!isfinite(d) || d != floor(d) || fabs(d) >= 1e21)
            return "id must be a string or an integer";
        int len = snprintf(out, cap, "%.0f", d);
        n = len > 0 ? (size_t)len : 0;
    } else {
        return "id must be a string or a number";
    }
    if (n == 0)
        return "id is empty";
    if (n > (size_t)a->cfg->max_id_len)
        return "id is longer than max_id_len";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
            return "id holds control characters";
    return NULL;
}

/* Joins room with f; a job room (job_id set) sends the job's state first. NULL or why not. */
static const char *join_room_of(sio_app_t *a, const char *room, const bk_filter_t *f,
                                const char *job_id, int qi)
{
    int rc = a->ops.join(a->ops.ud, room, f);
    if (rc == DG_ELIMIT)
        return "too many subscriptions";
    if (rc != DG_OK)
        return "out of memory";
    if (job_id && a->ops.job_state)
        a->ops.job_state(a->ops.ud, job_id, qi); /* joined first: nothing is lost meanwhile */
    return NULL;
}

/* 1 when a job subscription must wait for the job's data: access_jobs has owner terms and the
 * token alone does not satisfy the rule. */
static int owner_check(const sio_app_t *a)
{
    const sio_app_auth_t *au = a->auth;
    const struct auth_claims *c = claims_of(a, SIO_APP_NSP_MAIN);
    return au && au->acl && a->ops.job_access && c && acl_needs_job_data(au->acl) &&
           !acl_allows(au->acl, ACL_JOBS, c, NULL, 0);
}

int sio_app_job_allowed(const sio_app_t *a, const char *data, size_t len)
{
    if (!a->auth || !a->auth->acl)
        return 1;
    return acl_allows(a->auth->acl, ACL_JOBS, claims_of(a, SIO_APP_NSP_MAIN), data, len);
}

void sio_app_job_access_done(sio_app_t *a, const char *job_id, int queue, long ack_id,
                             int allowed)
{
    char room[DEC_JOBID_MAX + 8];
    bk_filter_t f = {0};
    const char *err = NULL;
    if (queue >= 0)
        f.streams = 1u << queue;
    snprintf(room, sizeof(room), "job:%s", job_id);
    if (!(a->nsps & SIO_APP_NSP_MAIN))
        return; /* disconnected meanwhile */
    if (!allowed) {
        err = "forbidden";
        if (a->auth->stats)
            atomic_fetch_add(&a->auth->stats->forbidden, 1);
    } else {
        err = join_room_of(a, room, &f, job_id, queue);
    }
    atomic_fetch_add(err ? &a->stats->sub_errors : &a->stats->subscribes, 1);
    ack_result(a, NULL, ack_id, err ? NULL : room, err);
}

/* subscribe-job / unsubscribe-job / subscribe-queue / unsubscribe-queue. arg is the first
 * event argument (NULL when none). */
static void on_subscription(sio_app_t *a, const sio_packet_t *p, const json_t *arg, int queue_room,
                            int subscribe)
{
    const cfg_t *cfg = a->cfg;
    size_t cap = (size_t)cfg->max_id_len + 1;
    char *id = malloc(cap), *room = malloc(cap + 8);
    const char *err = NULL;
    bk_filter_t f = {0};
    int qi = -1;
    if (!id || !room) {
        err = "out of memory";
        goto out;
    }
    const json_t *idv = arg, *qv = NULL;
    if (json_is_object(arg)) {
        idv = json_object_get(arg, queue_room ? "queue" : "jobId");
        qv = queue_room ? NULL : json_object_get(arg, "queue");
    }
    err = id_text(a, idv, id, cap, queue_room ? "queue is required" : "jobId is required");
    if (err)
        goto out;
    if (queue_room) {
        if (cfg_queue_index(cfg, id) < 0) {
            err = "unknown queue";
            goto out;
        }
        snprintf(room, cap + 8, "queue:%s", id);
    } else {
        if (qv) {
            if (!json_is_string(qv)) {
                err = "queue must be a string";
                goto out;
            }
            qi = cfg_queue_index(cfg, json_string_value(qv));
            if (qi < 0) {
                err = "unknown queue";
                goto out;
            }
            f.streams = 1u << qi;
        }
        snprintf(room, cap + 8, "job:%s", id);
    }
    if (subscribe && !queue_room && owner_check(a)) {
        /* the job's data decides: the session reads it and calls sio_app_job_access_done */
        a->ops.job_access(a->ops.ud, id, qi, p->ack_id);
        free(id);
        free(room);
        return;
    }
    if (subscribe && !allows(a, queue_room ? ACL_QUEUES : ACL_JOBS, SIO_APP_NSP_MAIN)) {
        err = "forbidden";
        goto out;
    }
    if (subscribe) {
        err = join_room_of(a, room, &f, queue_room ? NULL : id, qi);
    } else {
        a->ops.leave(a->ops.ud, room); /* leaving a room not joined is not an error */
    }
out:
    atomic_fetch_add(err ? &a->stats->sub_errors : &a->stats->subscribes, 1);
    ack_result(a, NULL, p->ack_id, err ? NULL : room, err);
    free(id);
    free(room);
}

/* subscribe-all-jobs / unsubscribe-all-jobs: every job event of every queue (the NestJS
 * gateway's all-jobs room), optionally only of {queue: NAME} or {queues: [NAME, ...]}. */
static void on_all_jobs(sio_app_t *a, const sio_packet_t *p, const json_t *arg, int subscribe)
{
    const char *err = NULL;
    bk_filter_t f = {0};
    const json_t *q1 = json_object_get(arg, "queue"), *qs = json_object_get(arg, "queues");
    if (arg && !json_is_object(arg) && !json_is_null(arg))
        err = "an object {queue} or {queues} is expected";
    else if (q1 && !json_is_string(q1))
        err = "queue must be a string";
    else if (qs && !json_is_array(qs))
        err = "queues must be an array of queue names";
    for (size_t i = 0; !err && (q1 || qs) && i < (q1 ? 1 : json_array_size(qs)); i++) {
        const json_t *v = q1 ? q1 : json_array_get(qs, i);
        int qi = json_is_string(v) ? cfg_queue_index(a->cfg, json_string_value(v)) : -1;
        if (qi < 0)
            err = "unknown queue";
        else
            f.streams |= 1u << qi;
    }
    if (!err && subscribe && !allows(a, ACL_QUEUES, SIO_APP_NSP_MAIN))
        err = "forbidden";
    if (!err && subscribe) {
        int rc = a->ops.join(a->ops.ud, "all-jobs", &f);
        err = rc == DG_ELIMIT ? "too many subscriptions" : rc != DG_OK ? "out of memory" : NULL;
    } else if (!err) {
        a->ops.leave(a->ops.ud, "all-jobs");
    }
    atomic_fetch_add(err ? &a->stats->sub_errors : &a->stats->subscribes, 1);
    ack_result(a, NULL, p->ack_id, err ? NULL : "all-jobs", err);
}

/* ---------------------------------------------------------------- "/logs" */

static void on_log(sio_app_t *a, const sio_packet_t *p, const json_t *entry)
{
    char err[128] = "a log entry object is required", now[32];
    char *text = entry ? json_dumps(entry, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    dec_event_t ev = {0};
    int ok = 0;
    if (!allows(a, ACL_LOGS_WRITE, SIO_APP_NSP_LOGS)) {
        free(text);
        ack_result(a, "/logs", p->ack_id, NULL, "forbidden");
        return;
    }
    if (text) {
        log_now_iso(now);
        ok = dec_log_normalize(text, strlen(text), now, &ev, err, sizeof(err)) == DG_OK;
    }
    if (!ok) {
        atomic_fetch_add(&a->stats->logs_invalid, 1);
        ack_result(a, "/logs", p->ack_id, NULL, err);
    } else if (a->ops.publish_log(a->ops.ud, ev.level, ev.ns, ev.json, ev.json_len) != DG_OK) {
        atomic_fetch_add(&a->stats->logs_rejected, 1);
        ack_result(a, "/logs", p->ack_id, NULL, "log stream unavailable, entry dropped");
    } else {
        atomic_fetch_add(&a->stats->logs_accepted, 1);
        ack_result(a, "/logs", p->ack_id, NULL, NULL);
    }
    dec_event_clear(&ev);
    free(text);
}

/* ---------------------------------------------------------------- client rooms and relay */

/* What a notice or a relayed event carries: the client's own object (if it sent one) with
 * room, userId and socketId set by us, so no client can speak for another. */
static char *relay_payload(const sio_app_t *a, const json_t *arg, const char *room)
{
    const auth_claims_t *c = claims_of(a, SIO_APP_NSP_MAIN);
    json_t *o = json_is_object(arg) ? json_deep_copy(arg) : json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "room", json_string(room));
    json_object_set_new(o, "userId", c ? json_string(c->sub) : json_null());
    json_object_set_new(o, "socketId", a->sid[0][0] ? json_string(a->sid[0]) : json_null());
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return t;
}

/* event to the other members of room, wherever they are connected. */
static int relay_to(sio_app_t *a, const char *room, const char *event, const json_t *arg)
{
    if (!a->ops.relay)
        return DG_EINVAL;
    char *t = relay_payload(a, arg, room);
    int rc = t ? a->ops.relay(a->ops.ud, room, event, t, strlen(t)) : DG_ENOMEM;
    free(t);
    return rc;
}

/* The room an event names: a string, or an object's `room`; copied into out. NULL or why not. */
static const char *room_arg(const json_t *arg, char *out, size_t cap)
{
    const json_t *v = json_is_object(arg) ? json_object_get(arg, "room") : arg;
    if (!json_is_string(v))
        return "room is required";
    size_t n = json_string_length(v);
    if (n == 0 || n >= cap || memchr(json_string_value(v), '\0', n))
        return "invalid room";
    memcpy(out, json_string_value(v), n + 1);
    return NULL;
}

/* join_room / leave_room: client rooms of a configured type that the access rules allow. */
static void on_room(sio_app_t *a, const sio_packet_t *p, const json_t *arg, int join)
{
    char room[ROUTE_ROOM_MAX];
    const char *err = room_arg(arg, room, sizeof(room));
    int k = err ? -1 : room_index(a, room);
    if (!err && join && k < 0) {
        int t = relay_room_type(a->cfg, room, strlen(room));
        const acl_t *acl = a->auth ? a->auth->acl : NULL;
        if (t == DG_ENOTFOUND)
            err = "unknown room type";
        else if (t < 0)
            err = "invalid room";
        else if (acl && !acl_allows_room(acl, claims_of(a, SIO_APP_NSP_MAIN), room, strlen(room)))
            err = "forbidden";
        else if (a->nrooms >= a->cfg->client_rooms_max)
            err = "too many rooms";
        else if (!a->rooms &&
                 !(a->rooms = calloc((size_t)a->cfg->client_rooms_max, sizeof(*a->rooms))))
            err = "out of memory";
        if (err && strcmp(err, "forbidden") == 0 && a->auth->stats)
            atomic_fetch_add(&a->auth->stats->forbidden, 1);
        int rc = err ? DG_OK : a->ops.join(a->ops.ud, room, NULL);
        if (rc == DG_ELIMIT)
            err = "too many subscriptions";
        else if (rc != DG_OK)
            err = "out of memory";
        if (!err) {
            memcpy(a->rooms[a->nrooms++], room, strlen(room) + 1);
            atomic_fetch_add(&a->stats->room_joins, 1);
            relay_to(a, room, "user_joined", NULL);
        }
    } else if (!err && !join && k >= 0) {
        relay_to(a, room, "user_left", NULL);
        a->ops.leave(a->ops.ud, room);
        a->nrooms--;
        if (k != a->nrooms)
            memcpy(a->rooms[k], a->rooms[a->nrooms], sizeof(a->rooms[k]));
    }
    ack_result(a, NULL, p->ack_id, err ? NULL : room, err);
}

/* An allow-listed client event for a room the socket joined: to the room's other members,
 * within the socket's rate (relay.h). */
static void on_relay(sio_app_t *a, const sio_packet_t *p, const char *name, size_t nlen,
                     const json_t *arg)
{
    char room[ROUTE_ROOM_MAX], ev[NAME_MAX_BYTES];
    const char *err = room_arg(arg, room, sizeof(room));
    relay_limit_t l = relay_limit_of(a->cfg);
    long long now = el_now_ms();
    memcpy(ev, name, nlen);
    ev[nlen] = '\0';
    if (!a->bucket_ready) {
        relay_bucket_init(&a->bucket, &l, now);
        a->bucket_ready = 1;
    }
    if (!err && room_index(a, room) < 0)
        err = "not in room";
    if (!err && !relay_bucket_take(&a->bucket, &l, now)) {
        atomic_fetch_add(&a->stats->relay_limited, 1);
        err = "rate limited";
    }
    if (!err && relay_to(a, room, ev, arg) != DG_OK)
        err = "relay unavailable";
    if (!err)
        atomic_fetch_add(&a->stats->relayed, 1);
    ack_result(a, NULL, p->ack_id, err ? NULL : room, err);
}

static void leave_client_rooms(sio_app_t *a)
{
    for (int i = 0; i < a->nrooms; i++) {
        relay_to(a, a->rooms[i], "user_left", NULL);
        a->ops.leave(a->ops.ud, a->rooms[i]);
    }
    a->nrooms = 0;
}

void sio_app_closing(sio_app_t *a)
{
    /* notices only: the broker memberships and the recovery state are the session's */
    for (int i = 0; i < a->nrooms; i++)
        relay_to(a, a->rooms[i], "user_left", NULL);
}

/* An application-level ping (the MetaRGB client's): pong {timestamp}, as an ack when asked. */
static void on_ping(sio_app_t *a, const sio_packet_t *p, const char *nsp)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"timestamp\":%lld}", (long long)el_wall_ms());
    if (p->ack_id >= 0)
        send_ack(a, nsp, p->ack_id, body, (size_t)n, 0);
    else
        send_event(a, nsp, "pong", body, (size_t)n, 0);
}

/* ---------------------------------------------------------------- token expiry */

long long sio_app_auth_deadline(const sio_app_t *a)
{
    long long at = 0;
    for (int i = 0; i < SIO_APP_NNSP; i++) {
        if (!(a->nsps & (1u << i)) || !a->authed[i])
            continue;
        if (a->warn_at[i] && (!at || a->warn_at[i] < at))
            at = a->warn_at[i];
        if (a->close_at[i] && (!at || a->close_at[i] < at))
            at = a->close_at[i];
    }
    return at;
}

int sio_app_auth_timer(sio_app_t *a, long long now)
{
    int closed = 0;
    for (int i = 0; i < SIO_APP_NNSP; i++) {
        unsigned bit = 1u << i;
        const char *nsp = sio_app_nsp_name(bit);
        if (!(a->nsps & bit) || !a->authed[i])
            continue;
        if (a->close_at[i] && now >= a->close_at[i]) {
            char buf[SIO_HDR_MAX + 8];
            send_text(a, buf, sio_encode_disconnect(buf, sizeof(buf), nsp));
            on_disconnect(a, bit);
            if (a->auth->stats)
                atomic_fetch_add(&a->auth->stats->expired_closed, 1);
            closed = 1;
        } else if (a->warn_at[i] && now >= a->warn_at[i]) {
            char body[64];
            a->warn_at[i] = 0;
            int n = snprintf(body, sizeof(body), "{\"expiresIn\":%lld}",
                             auth_expires_in(&a->claims[i], now));
            send_event(a, nsp, "token_expiring_soon", body, (size_t)n, 0);
        }
    }
    return closed && !a->nsps && !a->restoring;
}

/* ---------------------------------------------------------------- events */

static int name_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(name, want, len) == 0;
}

static void on_event(sio_app_t *a, const sio_packet_t *p, unsigned bit, const char *nsp)
{
    char nbuf[NAME_MAX_BYTES];
    const char *name, *args;
    size_t nlen, alen;
    if (sio_event_name(p->data, p->data_len, nbuf, sizeof(nbuf), &name, &nlen) != DG_OK ||
        sio_event_args(p->data, p->data_len, &args, &alen) != DG_OK)
        return; /* a name longer than any we handle */

    if (a->cfg->conformance && name_is(name, nlen, "message")) {
        send_event(a, nsp, "message-back", args, alen, p->nattach);
        send_attachments(a, p->nattach);
        return;
    }
    if (a->cfg->conformance && name_is(name, nlen, "message-with-ack")) {
        if (p->ack_id >= 0) {
            send_ack(a, nsp, p->ack_id, args, alen, p->nattach);
            send_attachments(a, p->nattach);
        }
        return;
    }
    if (!a->cfg->conformance && name_is(name, nlen, "ping")) {
        on_ping(a, p, nsp);
        return;
    }
    int room_op = 0;
    if (bit == SIO_APP_NSP_MAIN && a->cfg->nclient_rooms && name_is(name, nlen, "join_room"))
        room_op = 1;
    else if (bit == SIO_APP_NSP_MAIN && a->cfg->nclient_rooms && name_is(name, nlen, "leave_room"))
        room_op = -1;
    else if (bit == SIO_APP_NSP_MAIN && relay_event_allowed(a->cfg, name, nlen))
        room_op = 2;
    if (room_op) {
        json_t *arr = json_loadb(p->data, p->data_len, 0, NULL);
        const json_t *arg = arr ? json_array_get(arr, 1) : NULL;
        if (room_op == 2)
            on_relay(a, p, name, nlen < NAME_MAX_BYTES ? nlen : NAME_MAX_BYTES - 1, arg);
        else
            on_room(a, p, arg, room_op > 0);
        json_decref(arr);
        return;
    }
    int sub = 0, queue_room = 0;
    if (bit == SIO_APP_NSP_MAIN && name_is(name, nlen, "subscribe-job"))
        sub = 1;
    else if (bit == SIO_APP_NSP_MAIN && name_is(name, nlen, "unsubscribe-job"))
        sub = -1;
    else if (bit == SIO_APP_NSP_MAIN && name_is(name, nlen, "subscribe-queue"))
        sub = 1, queue_room = 1;
    else if (bit == SIO_APP_NSP_MAIN && name_is(name, nlen, "unsubscribe-queue"))
        sub = -1, queue_room = 1;
    else if (bit == SIO_APP_NSP_MAIN && name_is(name, nlen, "subscribe-all-jobs"))
        sub = 2;
    else if (bit == SIO_APP_NSP_MAIN && name_is(name, nlen, "unsubscribe-all-jobs"))
        sub = -2;
    else if (!(bit == SIO_APP_NSP_LOGS && name_is(name, nlen, "log")))
        return; /* unknown events are ignored, as Socket.IO does without a listener */

    /* JSON_ALLOW_NUL: "\u0000" in an id is refused as a control character, not as bad JSON */
    json_t *arr = json_loadb(p->data, p->data_len, JSON_ALLOW_NUL, NULL);
    const json_t *arg = arr ? json_array_get(arr, 1) : NULL;
    if (sub == 2 || sub == -2)
        on_all_jobs(a, p, arg, sub > 0);
    else if (sub)
        on_subscription(a, p, arg, queue_room, sub > 0);
    else
        on_log(a, p, arg);
    json_decref(arr);
}

/* ---------------------------------------------------------------- packets */

static int on_packet(sio_app_t *a, const sio_packet_t *p)
{
    char nsp[SIO_NSP_MAX + 1];
    memcpy(nsp, p->nsp, p->nsp_len);
    nsp[p->nsp_len] = '\0';
    unsigned bit = nsp_bit(a, p);
    if (p->type == SIO_CONNECT)
        return on_connect(a, p, bit, nsp);
    /* Socket.IO closes a client that sends anything else to a namespace it has not joined,
     * or a CONNECT_ERROR, which only servers send. */
    if (!bit || !(a->nsps & bit) || p->type == SIO_CONNECT_ERROR)
        return fail(a, DG_EPROTO, "packet for a namespace not connected");
    switch (p->type) {
    case SIO_DISCONNECT:
        on_disconnect(a, bit);
        break;
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
        on_event(a, p, bit, nsp);
        break;
    default: /* ACK / BINARY_ACK: this server never asks clients for acks */
        break;
    }
    return DG_OK;
}

int sio_app_message(sio_app_t *a, const char *data, size_t len, int binary)
{
    int rc;
    a->errstr[0] = '\0';
    if (binary) {
        rc = sio_binasm_add(&a->binasm, data, len);
        if (rc == DG_EAGAIN)
            return DG_OK;
        if (rc != DG_OK) {
            sio_binasm_reset(&a->binasm);
            return fail(a, rc == DG_ENOMEM ? DG_ENOMEM : DG_EPROTO,
                        rc == DG_ELIMIT ? "attachments over maxPayload"
                                        : "binary data outside a binary packet");
        }
        rc = on_packet(a, sio_binasm_packet(&a->binasm));
        sio_binasm_reset(&a->binasm);
        return rc;
    }
    if (sio_binasm_pending(&a->binasm)) {
        sio_binasm_reset(&a->binasm);
        return fail(a, DG_EPROTO, "text packet while attachments were awaited");
    }
    sio_packet_t p;
    char why[64];
    rc = sio_decode(data, len, SIO_ATTACH_DEFAULT, &p, why, sizeof(why));
    if (rc != DG_OK)
        return fail(a, rc == DG_ELIMIT ? DG_ELIMIT : DG_EPROTO, why);
    if (p.type == SIO_BINARY_EVENT || p.type == SIO_BINARY_ACK) {
        rc = sio_binasm_start(&a->binasm, data, len, &p);
        if (rc == DG_EAGAIN)
            return DG_OK;
        return fail(a, rc == DG_ENOMEM ? DG_ENOMEM : DG_ELIMIT, "binary packet too large");
    }
    return on_packet(a, &p);
}
