/* sio_sess.h - private to the Socket.IO glue (sio_sess.c, sio_http.c): the transport object,
 * Engine.IO sessions and what the HTTP / WebSocket handlers call on them. Not installed, not
 * used elsewhere; protocol logic stays in eio_session.c and sio_app.c.
 *
 * Threads and locks:
 *   CivetWeb workers  run the HTTP handlers (a polling GET waits on its session's condvar)
 *                     and each WebSocket's data handler (a session's input, in_lock held);
 *   broker (readers)  deliver() queues a shared msg under the session lock, never blocks;
 *                     wake() then lists the session for a flusher (or wakes its held GET)
 *                     once per publish batch; a queue over its limit dooms the session;
 *   flushers (2)      write queued WebSocket frames (and close frames), one batch per
 *                     session per turn; only they block on a stalled client;
 *   timer (1)         min-heap of session deadlines: pings, ping/connect/upgrade timeouts.
 * Lock order: in_lock -> broker -> session lock -> (ready list | timer heap). The sid table
 * lock and srv->wait_lock (which guards srv->sio's reference count) are leaves. */
#ifndef SIO_SESS_H
#define SIO_SESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "eio.h"
#include "eio_session.h"
#include "httpx.h"
#include "outq.h"
#include "sio_app.h"

#define NFLUSHERS 2
#define FLUSH_BATCH_MSGS 512
#define FLUSH_BATCH_BYTES (256 * 1024)
#define UPGRADE_TIMEOUT_MS 10000 /* engine.io's upgradeTimeout */

typedef struct sess sess_t;

typedef struct tentry {
    int64_t at;
    sess_t *s; /* holds a reference */
    uint32_t gen;
} tentry_t;

/* The transport object (srv->sio). */
struct sio_http {
    struct srv *srv;
    const cfg_t *cfg;
    int refs; /* srv->wait_lock: the owner plus every handler in flight */
    atomic_int stopping;
    eio_sess_cfg_t scfg_sio, scfg_eio;
    /* sid table */
    pthread_mutex_t tab_lock;
    sess_t **buckets;
    uint32_t nbuckets;    /* power of two */
    atomic_int ntab;      /* sessions in the table: what max_connections caps */
    atomic_int nsessions; /* allocated sessions (torn ones linger until their timers pass) */
    /* timer */
    pthread_t timer_th;
    int timer_started;
    pthread_mutex_t t_lock;
    pthread_cond_t t_cond;
    tentry_t *heap;
    size_t nheap, heap_cap;
    int t_stop;
    int core_started;
    /* WebSocket flushers */
    pthread_t flush_th[NFLUSHERS];
    int nflushers;
    pthread_mutex_t f_lock;
    pthread_cond_t f_cond;
    sess_t *ready_head, *ready_tail;
    int f_stop;
    /* shared packets */
    msg_t *m_ping;
    /* client library */
    char *js, *js_min;
    size_t js_len, js_min_len;
    /* counters */
    sio_app_stats_t app_stats;
    atomic_ullong opened_polling, opened_websocket, upgrades;
    atomic_ullong closed[EIO_REASON_COUNT];
};

/* One Engine.IO session. Fields below `lock` are guarded by it. */
struct sess {
    /* immutable after creation */
    char sid[EIO_SID_LEN + 1];
    struct sio_http *h;
    int echo; /* the plain Engine.IO endpoint: messages are echoed, no Socket.IO */
    atomic_int refs;
    sess_t *tab_next; /* h->tab_lock */
    bk_sub_t sub;
    /* input: one thread at a time (a POST or the active WebSocket's data handler) */
    pthread_mutex_t in_lock;
    sio_app_t app;
    int app_connected;
    /* everything below: lock */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* held GET; close handlers waiting for writers */
    eio_sess_t es;
    oq_t q;
    struct mg_connection *ws;    /* the WebSocket transport */
    struct mg_connection *probe; /* a WebSocket probing an upgrade */
    int writing;                 /* writes to ws / probe in progress outside the lock */
    int listed;                  /* on the flusher ready list (holds a reference) */
    int flushing;                /* a flusher is writing it: no other may */
    sess_t *ready_next;
    int doomed; /* close requested where teardown cannot run (deliver): the reason */
    int torn;   /* teardown done or under way */
    /* close frames are written by a flusher, which may block on a stalled client */
    int close_pending;                      /* torn: close ws / probe */
    const struct mg_connection *close_skip; /* ... except this one (it closes itself) */
    int drop_probe;                         /* upgrade timed out: close the probe */
    uint64_t dropped;
    uint32_t tgen; /* timer entries of older generations are stale */
    int64_t t_at;
    int t_armed; /* a heap entry with generation tgen is due at t_at */
};

/* Monotonic milliseconds. */
int64_t sess_now_ms(void);

/* Sets up the sid table, the timer thread and the flushers of h (zeroed but for srv/cfg).
 * Returns 0 or DG_ENOMEM (then sess_core_free(h) cleans up). Thread: main. */
int sess_core_start(struct sio_http *h);
/* Closes every session (held GETs answer, WebSockets get a close frame), then stops the
 * timer and the flushers once they wrote what was asked. Thread: main. */
void sess_core_stop(struct sio_http *h);
/* Closes what is left and frees everything sess_core_start made. Thread: the last user. */
void sess_core_free(struct sio_http *h);

/* A new session with one reference for the caller, not in the sid table yet. NULL on ENOMEM. */
sess_t *sess_new(struct sio_http *h, int transport, int echo);
void sess_ref(sess_t *s);
void sess_unref(sess_t *s);
/* Makes s reachable by its sid (the table takes a reference). */
void sess_insert(struct sio_http *h, sess_t *s);
/* The session with that sid, with a reference, or NULL. */
sess_t *sess_find(struct sio_http *h, const char *sid);

/* Arms the timer for the session's next deadline. Session lock held. */
void sess_schedule_locked(sess_t *s);
/* Puts s on the flusher ready list (once). Session lock held. */
void sess_list_locked(sess_t *s);

/* Closes s for good: marks it torn, answers a held GET, leaves every room and the sid table,
 * and has a flusher send a close frame to its WebSockets except self (the calling data
 * handler's own connection, which closes itself by returning 0). Any thread holding no
 * session or broker lock; the caller holds a reference. */
void sess_teardown(sess_t *s, int reason, const struct mg_connection *self);

/* One Engine.IO packet from the session's live transport (a POST, or the WebSocket data
 * handler of self). in_lock held. Returns 0, or DG_ECLOSED when the session is (now)
 * closed: self's data handler then ends its socket. */
int sess_input(sess_t *s, const eio_packet_t *p, const struct mg_connection *self);

#endif
