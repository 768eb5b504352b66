/* eio_session.h - the Engine.IO v4 session state machine: transport (polling, websocket, an
 * upgrade in progress), server-driven heartbeat, connect and upgrade timeouts, held polling
 * requests, and why a session closed. Pure: times are passed in (milliseconds on any
 * monotonic clock), results come back as action bits; no I/O, no locks, no globals. It is not
 * the transport: the glue (sio_http.c) owns sockets, queues, timers and locking.
 * Thread: any; one session is used by one thread at a time (the glue's session lock). */
#ifndef EIO_SESSION_H
#define EIO_SESSION_H

#include <stdint.h>

#include "eio.h"

/* Limits and timings fixed when the session opens. */
typedef struct eio_sess_cfg {
    int64_t ping_interval_ms;   /* pingInterval of the open packet */
    int64_t ping_timeout_ms;    /* pingTimeout: a pong must come this long after a ping */
    int64_t connect_timeout_ms; /* Socket.IO CONNECT expected within; 0 = none (plain EIO) */
    int64_t upgrade_timeout_ms; /* an upgrade probe must complete within (engine.io: 10 s) */
} eio_sess_cfg_t;

enum eio_sess_state { EIO_SESS_OPEN = 0, EIO_SESS_CLOSED };

/* Upgrade progress of a polling session (engine.io's upgrading / upgraded flags). */
enum eio_sess_upgrade {
    EIO_UPG_NONE = 0, /* no websocket attached */
    EIO_UPG_PROBING,  /* a websocket is attached, "2probe" not received yet */
    EIO_UPG_PROBED    /* "3probe" sent: polling is drained with noops until "5" */
};

/* Why a session closed; the glue counts them and picks the last polling answer from it. */
enum eio_sess_reason {
    EIO_REASON_NONE = 0,
    EIO_REASON_CLIENT,          /* the client sent a close packet ("1") */
    EIO_REASON_TRANSPORT,       /* the transport closed or failed under the client */
    EIO_REASON_PING_TIMEOUT,    /* no pong within pingTimeout */
    EIO_REASON_CONNECT_TIMEOUT, /* no Socket.IO CONNECT within connectTimeout */
    EIO_REASON_PROTOCOL,        /* malformed packet, heartbeat in the wrong direction, ... */
    EIO_REASON_OVERLAP,         /* a second GET (or POST) while one was pending */
    EIO_REASON_SLOW,            /* outbound queue over its limit */
    EIO_REASON_WRITE,           /* a write failed or timed out */
    EIO_REASON_SERVER,          /* the application closed it (Socket.IO error, shutdown) */
    EIO_REASON_COUNT
};

/* Action bits returned by the event functions. */
#define EIO_ACT_PING 0x01        /* queue a ping packet ("2") on the session */
#define EIO_ACT_CLOSE 0x02       /* the session is now closed: tear it down */
#define EIO_ACT_DELIVER 0x04     /* hand the message to the application */
#define EIO_ACT_PROBE_PONG 0x08  /* answer "3probe" on the probing websocket */
#define EIO_ACT_RELEASE_GET 0x10 /* wake the held polling GET: it must answer now */
#define EIO_ACT_UPGRADED 0x20    /* the websocket is now the transport: flush the queue there */
#define EIO_ACT_DROP_PROBE 0x40  /* close the probing websocket (the session stays) */
#define EIO_ACT_RESCHEDULE 0x80  /* the next deadline moved: re-arm the timer */

/* What a held polling GET does now (eio_sess_get_reply). */
enum eio_get_reply {
    EIO_GET_WAIT = 0, /* nothing to send: keep waiting */
    EIO_GET_QUEUED,   /* send the queued packets */
    EIO_GET_NOOP,     /* send "6" (upgrade in progress, or the client closed) */
    EIO_GET_CLOSE     /* send "1" (the server closed the session) */
};

/* Embeddable. Callers may read the fields (the glue reads transport, upgrade, get_held and
 * reason) but change them only through the functions below. */
typedef struct eio_sess {
    int state;                /* enum eio_sess_state */
    int transport;            /* EIO_TRANSPORT_POLLING or EIO_TRANSPORT_WEBSOCKET */
    int upgrade;              /* enum eio_sess_upgrade */
    int reason;               /* enum eio_sess_reason once closed */
    int get_held;             /* a polling GET is waiting */
    int post_held;            /* a polling POST is being read */
    int refreshed;            /* the ping timeout was refreshed once by a non-pong packet */
    int64_t ping_at;          /* next ping, -1 none */
    int64_t ping_sent_at;     /* when the outstanding ping was due, -1 none */
    int64_t pong_deadline;    /* -1 none */
    int64_t connect_deadline; /* -1 none */
    int64_t upgrade_deadline; /* -1 none */
    eio_sess_cfg_t cfg;
} eio_sess_t;

/* Opens a session on transport (EIO_TRANSPORT_POLLING or _WEBSOCKET) at time now: the first
 * ping is due at now + pingInterval, the connect deadline at now + connectTimeout. */
void eio_sess_init(eio_sess_t *s, int transport, const eio_sess_cfg_t *cfg, int64_t now);

/* Earliest pending deadline, or -1 when none (closed). */
int64_t eio_sess_deadline(const eio_sess_t *s);

/* Runs every deadline that is due at now: returns EIO_ACT_PING (ping due; pong expected
 * within pingTimeout), EIO_ACT_CLOSE (ping or connect timeout), EIO_ACT_DROP_PROBE (upgrade
 * timeout), or 0, plus EIO_ACT_RESCHEDULE whenever the session stays open. */
int eio_sess_timer(eio_sess_t *s, int64_t now);

/* A packet arrived on the session's transport. Returns EIO_ACT_DELIVER for a message,
 * EIO_ACT_CLOSE (client close packet, or a protocol violation such as a ping from the client
 * in v4: reason says which), EIO_ACT_RESCHEDULE after a pong, 0 for ignored packets. When a
 * polling GET is held and the client closed, EIO_ACT_RELEASE_GET is set too. */
int eio_sess_packet(eio_sess_t *s, int type, const char *data, size_t len, int64_t now);

/* A websocket asks to upgrade this polling session. Returns EIO_ERR_NONE (now
 * EIO_UPG_PROBING, upgrade deadline set: re-arm the timer) or an enum eio_error code:
 * EIO_ERR_UNKNOWN_SID (closed), EIO_ERR_BAD_REQUEST (already websocket, or an upgrade already in
 * progress). */
int eio_sess_probe_attach(eio_sess_t *s, int64_t now);

/* A packet arrived on the probing websocket: "2probe" gives EIO_ACT_PROBE_PONG |
 * EIO_ACT_RELEASE_GET; "5" gives EIO_ACT_UPGRADED (| EIO_ACT_RELEASE_GET when a GET is
 * still held); anything else EIO_ACT_DROP_PROBE. Returns 0 when no probe is attached. */
int eio_sess_probe_packet(eio_sess_t *s, int type, const char *data, size_t len, int64_t now);

/* The probing websocket went away before "5": back to plain polling. */
void eio_sess_probe_detach(eio_sess_t *s);

/* A polling GET (or POST) arrives. Returns EIO_ERR_NONE (it is now held: call _end when it
 * is answered), or an enum eio_error code to answer with: EIO_ERR_UNKNOWN_SID (closed),
 * EIO_ERR_BAD_REQUEST (transport is websocket, or a second concurrent request: then the
 * session is closed with EIO_REASON_OVERLAP, so check eio_sess_closed() and tear it down). */
int eio_sess_get_begin(eio_sess_t *s);
void eio_sess_get_end(eio_sess_t *s);
int eio_sess_post_begin(eio_sess_t *s);
void eio_sess_post_end(eio_sess_t *s);

/* What the held GET answers given queued packets waiting (enum eio_get_reply). */
int eio_sess_get_reply(const eio_sess_t *s, int queued);

/* The application connected a namespace: the connect deadline no longer applies. */
void eio_sess_app_connected(eio_sess_t *s);

/* Closes the session for reason (first reason wins). Returns EIO_ACT_CLOSE the first time,
 * with EIO_ACT_RELEASE_GET when a GET is held; 0 when already closed. */
int eio_sess_close(eio_sess_t *s, int reason);

/* 1 once closed. */
int eio_sess_closed(const eio_sess_t *s);

/* Short snake_case name of a reason ("ping_timeout", ...) for logs and /health keys. */
const char *eio_sess_reason_name(int reason);

#endif
