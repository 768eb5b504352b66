/* sio_app.h - dualgate's Socket.IO v5 application: which namespaces exist ("/" for job events,
 * "/logs", and "/custom" in conformance mode) and what each packet a client sends does
 * (CONNECT answers, subscribe-job / subscribe-queue rooms, log entries, acks, the conformance
 * echo). It decodes with sio.h and acts only through the ops callbacks: no sockets, no locks,
 * no logging, no globals. It is not Engine.IO: sessions, heartbeats and transports are below.
 * Thread: one application object is used by one thread at a time (the session's input). */
#ifndef SIO_APP_H
#define SIO_APP_H

#include <stdatomic.h>
#include <stddef.h>

#include "acl.h"
#include "auth.h"
#include "broker.h"
#include "config.h"
#include "relay.h"
#include "route.h"
#include "sio.h"

/* What the application needs from its session; every callback acts on that one session. */
typedef struct sio_app_ops {
    void *ud;
    /* Queues one Engine.IO message: a text packet ("4..." included) or, binary 1, the raw
     * bytes of an attachment. Returns 0 or a negative code (the session is closing). */
    int (*send)(void *ud, const char *pkt, size_t len, int binary);
    /* Broker membership of the session's subscriber: bk_join / bk_leave / bk_leave_all. */
    int (*join)(void *ud, const char *room, const bk_filter_t *f);
    int (*leave)(void *ud, const char *room);
    void (*leave_all)(void *ud);
    /* Hands a normalized {ts,level,ns,msg} entry to the log stream writer (rds_publish_log). */
    int (*publish_log)(void *ud, int level, const char *ns, const char *json, size_t len);
    /* Connection-state recovery; all three NULL when it is off.
     * restore: a CONNECT to namespace bit carried the client's pid and offset (offset NULL
     * when it sent none). Return 1 when the session takes over: it answers the CONNECT itself
     * later and calls sio_app_connect_done(); 0 for a fresh connect.
     * fresh: a fresh connect to bit: writes the new private session id into pid (EIO_SID_LEN + 1
     * bytes), or "" when the namespace has no recovery. */
    int (*restore)(void *ud, unsigned bit, const char *pid, const char *offset);
    void (*fresh)(void *ud, unsigned bit, char *pid);
    /* The client disconnected namespace bit on purpose: its session state goes. */
    void (*forget)(void *ud, unsigned bit);
    /* subscribe-job joined room job:<id>: the job's current state goes out first, then its live
     * events (queue: cfg index, -1 for every queue). Optional. */
    void (*job_state)(void *ud, const char *job_id, int queue);
    /* access_jobs has owner terms the token alone does not satisfy: read the job's data (queue:
     * cfg index, -1 for every queue) and answer with sio_app_job_access_done(). Optional (without
     * it such subscriptions are forbidden). */
    void (*job_access)(void *ud, const char *job_id, int queue, long ack_id);
    /* Sends EVENT event(json) to the other members of room on every instance (client rooms and
     * relayed events: never back to this session). json: one JSON value, the event's only
     * argument. Returns 0 when it was handed on, a negative code when it could not be.
     * Optional (NULL: relay and room notices are dropped). */
    int (*relay)(void *ud, const char *room, const char *event, const char *json, size_t len);
} sio_app_ops_t;

/* Who may connect and subscribe (auth.h, acl.h); shared by every session, must outlive them.
 * A NULL auth, or a NULL verifier, is auth = off: no token is looked at. */
typedef struct sio_app_auth {
    const auth_verifier_t *verifier; /* NULL: auth = off */
    const acl_t *acl;                /* NULL: everything allowed */
    auth_stats_t *stats;             /* counted into; NULL for none */
    int join_all;                    /* "/" sockets join room "all" (routes to `all` exist) */
} sio_app_auth_t;

/* Counters shared by every session (exposed in /health). */
typedef struct sio_app_stats {
    atomic_ullong connects;        /* namespace connects accepted */
    atomic_ullong invalid_nsp;     /* CONNECT to an unknown namespace (answered 44) */
    atomic_ullong subscribes;      /* subscribe-* / unsubscribe-* accepted */
    atomic_ullong sub_errors;      /* subscribe-* / unsubscribe-* refused */
    atomic_ullong logs_accepted;   /* client log entries queued for the log stream */
    atomic_ullong logs_invalid;    /* client log entries dropped: invalid or too large */
    atomic_ullong logs_rejected;   /* client log entries dropped: log stream writer full */
    atomic_ullong protocol_errors; /* malformed Socket.IO input (the connection is closed) */
    atomic_ullong recovered;       /* connects that restored a session (connection-state recovery) */
    atomic_ullong relayed;         /* client events relayed to a room */
    atomic_ullong relay_limited;   /* client events dropped by the relay rate limit */
    atomic_ullong room_joins;      /* join_room accepted */
} sio_app_stats_t;

#define SIO_APP_OFFSET_MAX 4096 /* bytes of a client's offset (a cursor) we accept */

#define SIO_APP_NSP_MAIN 0x1u   /* "/" */
#define SIO_APP_NSP_LOGS 0x2u   /* "/logs" */
#define SIO_APP_NSP_CUSTOM 0x4u /* "/custom", conformance mode only */

#define SIO_APP_NNSP 3 /* namespaces: "/", "/logs", "/custom" */

/* Embeddable; fields are private except nsps (read-only). */
typedef struct sio_app {
    const cfg_t *cfg;
    sio_app_ops_t ops;
    sio_app_stats_t *stats;
    unsigned nsps; /* read-only: SIO_APP_NSP_* bits of the connected namespaces */
    unsigned restoring; /* bits whose CONNECT the session answers (ops.restore took it) */
    int connected_once;
    sio_binasm_t binasm;
    char errstr[96];
    /* who the client is, per namespace (each CONNECT carries its own auth) */
    const sio_app_auth_t *auth;
    char *hs_token;   /* the handshake's Bearer token (malloc'd), NULL for none */
    size_t hs_token_len;
    int hs_token_bad; /* the handshake's Authorization header was malformed */
    auth_claims_t *claims; /* SIO_APP_NNSP of them, made when auth is on */
    int authed[SIO_APP_NNSP];
    long long warn_at[SIO_APP_NNSP], close_at[SIO_APP_NNSP]; /* epoch seconds, 0: none */
    char sid[SIO_APP_NNSP][24]; /* the Socket.IO socket id of each connected namespace */
    /* client rooms of "/" (relay.h) */
    char (*rooms)[ROUTE_ROOM_MAX];
    int nrooms;
    relay_bucket_t bucket;
    int bucket_ready;
} sio_app_t;

/* Prepares a for one Engine.IO session. cfg, stats and ops->ud must outlive a. */
void sio_app_init(sio_app_t *a, const cfg_t *cfg, const sio_app_ops_t *ops, sio_app_stats_t *stats);

/* Handles one Engine.IO message (data of a "4" packet, or a binary message). Returns 0, or
 * DG_EPROTO / DG_ELIMIT when the client broke the protocol (bad packet, packet for a
 * namespace it has not joined, binary data out of place, duplicate CONNECT): the caller
 * closes the connection; sio_app_errstr() says why. DG_ENOMEM likewise. */
int sio_app_message(sio_app_t *a, const char *data, size_t len, int binary);

/* The session finished a restore that ops.restore took for namespace bit: answered 1 means it
 * answers the CONNECT itself, with the socket id returned (the namespace is connected now;
 * `connected` is queued); 0 means the state was not found or too old: the application does a
 * fresh connect (ops.fresh, CONNECT queued with ops.send) and NULL is returned. */
const char *sio_app_connect_done(sio_app_t *a, unsigned bit, int answered);

/* The user id of the token namespace bit connected with, "" when anonymous. */
const char *sio_app_user(const sio_app_t *a, unsigned bit);

/* A restore joined room again: a client room (join_room's) counts as joined for relays. */
void sio_app_room_restored(sio_app_t *a, const char *room);

/* 1 if "/"'s token may follow a job whose BullMQ data is data[0..len) (access_jobs, owner
 * terms included). */
int sio_app_job_allowed(const sio_app_t *a, const char *data, size_t len);
/* ops.job_access's reads are in: allowed 1 subscribes as subscribe-job does (room, state, ack),
 * 0 acks {success:false, error:"forbidden"}. */
void sio_app_job_access_done(sio_app_t *a, const char *job_id, int queue, long ack_id,
                             int allowed);

/* "/" or "/logs" for a namespace bit. */
const char *sio_app_nsp_name(unsigned bit);

/* 1 once a namespace was connected at least once (the connect timeout no longer applies). */
int sio_app_connected(const sio_app_t *a);

/* Why the last sio_app_message() failed ("" when it did not). */
const char *sio_app_errstr(const sio_app_t *a);

/* Turns token checks on for a (before the first message): auth must outlive a. */
void sio_app_set_auth(sio_app_t *a, const sio_app_auth_t *auth);

/* The token of the Engine.IO handshake request (`Authorization: Bearer`), used by a CONNECT
 * whose auth object carries none: tok[0..len) is copied (len 0: none). malformed 1: the
 * header was there but unusable (such CONNECTs are refused when they bring no token of their
 * own). Returns 0 or DG_ENOMEM. Never logged. */
int sio_app_set_token(sio_app_t *a, const char *tok, size_t len, int malformed);

/* The next token deadline of a connected namespace (a token_expiring_soon to send, or an
 * expired token's namespace to close), in seconds since the epoch; 0 for none. */
long long sio_app_auth_deadline(const sio_app_t *a);

/* Acts on the token deadlines due at now (seconds since the epoch): token_expiring_soon
 * {expiresIn} once per token, then at expiry a DISCONNECT for the namespace, which leaves its
 * rooms and forgets its recovery state (counted in expired_closed). Returns 1 when such a close
 * left no namespace connected (the caller closes the session once the DISCONNECT is out),
 * else 0. */
int sio_app_auth_timer(sio_app_t *a, long long now);

/* The session is going away: user_left notices to its client rooms. Call once, before
 * sio_app_free, while ops still work. */
void sio_app_closing(sio_app_t *a);

/* Frees the attachment buffer, the claims and the handshake token. Memberships are the
 * caller's (it leaves every room). */
void sio_app_free(sio_app_t *a);

#endif
