/* sio_int.h - private to the Socket.IO transport (sio_sess.c, sio_ws.c, sio_poll.c,
 * sio_http.c): the transport object, Engine.IO sessions, and what the pieces call on each other.
 *
 * A session belongs to one event loop, picked when it is created: its WebSocket, its upgrade
 * probe and its held polling GETs are connections on that loop, its timer and its input run
 * there, and teardown happens there. Other threads reach a session only to
 *   - find it by sid and check or begin a request (CivetWeb workers, session lock),
 *   - queue a msg for it (broker: deliver under the session lock; wake once per batch),
 *   - hand it input or ask for its close (posted tasks / its ready item).
 * Lock order: broker -> session lock -> (loop ready list). The sid-table lock is a leaf, never
 * held while taking a session lock. */
#ifndef SIO_INT_H
#define SIO_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"
#include "cursor.h"
#include "eio.h"
#include "eio_session.h"
#include "htab.h"
#include "list.h"
#include "outq.h"
#include "sio_app.h"
#include "sio_http.h"

#define SIO_UPGRADE_TIMEOUT_MS 10000 /* engine.io's upgradeTimeout */
#define SIO_CLOSE_GRACE_MS 50        /* see sess_input_packets */
#define SIO_POLL_MAX_BYTES (1 << 20) /* packets per polling answer; the rest waits for the next */
#define SIO_EVICT_AGE_MS 1000        /* an unconnected session this old may make room for a new one */

typedef struct sess sess_t;
struct sess_input;
struct rec_replay;

#define SESS_NS 2        /* namespaces with recovery state: 0 "/", 1 "/logs" */
#define SESS_POP_MAX 64  /* items per sess_pop() */

/* A room of the session, as its recovery state remembers it. */
typedef struct sess_room {
    char *name;
    bk_filter_t f;
} sess_room_t;

/* Recovery state of one namespace (sio_rec.c). */
typedef struct sess_ns {
    char pid[EIO_SID_LEN + 1]; /* "": none (recovery off, not connected, or forgotten) */
    cur_t cur;                 /* the offset: last room event handed to the transport */
    cur_text_t cur_text;       /* cur's text, mended as live events advance it */
    cur_t base;                /* where a client that sends no offset resumes */
    sess_room_t *rooms;
    int nrooms, cap;
} sess_ns_t;

/* What goes out before the live queue (sio_rec.c; loop thread). */
typedef struct sess_rec {
    sess_ns_t *ns[SESS_NS];             /* made on first use (recovery on) */
    struct rec_replay *replay[SESS_NS]; /* a restore in progress */
    oq_t front;      /* private packets ahead of everything (recovered CONNECT, job states) */
    msg_t *peeked;   /* taken by rec_ready(), handed out first by rec_next() */
    int quiet;       /* a restore joins its rooms: no save per room */
    list_t states;   /* subscribe-job state reads in flight (sio_rec.c's rec_state_t) */
    int hold;        /* Redis reads in flight that the live queue waits for */
    int64_t save_at; /* next refresh of the state in Redis (0: none due) */
    buf_t tails;     /* offsets of the items of one sess_pop() */
} sess_rec_t;

struct sio {
    sio_deps_t d;
    sio_app_auth_t auth; /* every session's token checks */
    const cfg_t *cfg;
    eio_sess_cfg_t scfg_sio, scfg_eio;
    atomic_int stopping;
    atomic_int draining; /* sio_drain: no new sessions or upgrades; sessions end on their own timer */
    /* sid table and the FIFO of sessions without a Socket.IO CONNECT: tab_lock */
    pthread_mutex_t tab_lock;
    ht_t sids;
    list_t unconnected;
    int nunconnected;
    atomic_int nsessions; /* allocated */
    msg_t *m_ping;
    char *js, *js_min;
    size_t js_len, js_min_len;
    /* counters */
    sio_app_stats_t app_stats;
    atomic_ullong opened_polling, opened_websocket, upgrades, evicted, dropped;
    atomic_ullong restores, restore_failed, job_states, deduped;
    const char *const *names; /* stream names for cursors */
    int nstreams;
    uint32_t route_streams;   /* routed streams (resumable), part of "/"'s offset */
    atomic_ullong closed[EIO_REASON_COUNT];
    atomic_ullong slow_by[CN_KINDS], dropped_by[CN_KINDS]; /* by the session's transport */
};

/* One Engine.IO session. */
struct sess {
    /* immutable after creation */
    char sid[EIO_SID_LEN + 1];
    sio_t *h;
    el_t *loop;
    int echo; /* the plain Engine.IO endpoint: messages are echoed, no Socket.IO */
    int64_t created;
    atomic_int refs;
    bk_sub_t sub;
    /* tab_lock */
    ht_node_t node;
    list_t unode; /* in h->unconnected until its first CONNECT */
    int in_table;
    /* loop thread */
    sio_app_t app;
    int app_connected;
    el_timer_t timer; /* eio_sess deadlines and the close grace */
    el_ready_t ready; /* asks from other threads: over a limit, close */
    struct sess_input *deferred; /* input held back for a racing GET (see run_input) */
    int64_t drain_at;            /* the server drains: close at this time (0: not draining) */
    el_task_t drain_task;
    int64_t drain_in;
    int64_t grace_until;         /* 0: the grace was never used, -1: used up */
    int64_t expire_at;           /* an expired token left no namespace: close then (0: no) */
    sess_rec_t rec;
    /* lock */
    pthread_mutex_t lock;
    eio_sess_t es;
    oq_t q;
    cn_t *ws, *probe, *get; /* each holds a reference */
    int torn;
    int limit;      /* CN_CLOSE_HARD_LIMIT or _SOFT_LIMIT once the queue went over it: slow */
    int close_req;  /* a close reason asked for from another thread */
    uint64_t dropped;
};

/* ---- sio_sess.c ----------------------------------------------------------------------------- */

/* A new session on a picked loop, with one reference for the caller, not in the table. */
sess_t *sess_new(sio_t *h, int transport, int echo);
void sess_ref(sess_t *s);
/* The handshake request's Authorization header value (NULL: none) for the session's CONNECTs.
 * Before the session takes input. Thread: the creating thread. */
void sess_auth_header(sess_t *s, const char *value);
void sess_unref(sess_t *s);
/* Makes s findable (the table takes a reference) and, unless echo, counts it as waiting for
 * its CONNECT. Returns 0, or DG_ELIMIT when max_connections sessions exist or too many wait
 * for a CONNECT and none is old enough to give way. Thread: any. */
int sess_insert(sess_t *s);
/* The session with that sid, with a reference, or NULL. Thread: any. */
sess_t *sess_find(sio_t *h, const char *sid);
/* Arms the session's timer from its loop (after a handshake on a worker). Thread: any. */
void sess_start_timer(sess_t *s);

/* Closes s as part of a drain, delay_ms from when its loop sees the request. Thread: any. */
void sess_drain_in(sess_t *s, int64_t delay_ms);
/* Closes s for reason from any thread (posted to its loop). */
void sess_close_async(sess_t *s, int reason);
/* Closes s for good: leaves the table and every room, answers a held GET, closes its
 * WebSockets (a close frame for an orderly close, a reset for a stalled or overflowing one).
 * Thread: s's loop. */
void sess_teardown(sess_t *s, int reason);

/* Queues msg m (taking a reference) and wakes the session's transport. Returns 0 or an error
 * (the session is closing). Thread: any (session lock not held). */
int sess_enqueue(sess_t *s, msg_t *m);
/* Wakes whoever writes the session's live transport. Session lock held. */
void sess_wake_locked(sess_t *s);
/* Records that s's output went over limit (CN_CLOSE_HARD_LIMIT or _SOFT_LIMIT; the first one
 * wins): the session is closing as EIO_REASON_SLOW and its WebSocket is counted by that limit.
 * Session lock held. */
void sess_limit_locked(sess_t *s, int limit);

/* A batch of Engine.IO packets from one POST body, posted to the session's loop. */
typedef struct sess_input {
    el_task_t task;
    struct sess_input *next; /* held back behind s->deferred */
    sess_t *s;               /* holds a reference */
    int n;
    eio_packet_t *pkts; /* data point into buf */
    char *buf;
} sess_input_t;
/* Handles packets from the session's live transport in order. Thread: s's loop. Returns 0, or
 * DG_ECLOSED once the session is closed. */
int sess_input_packet(sess_t *s, const eio_packet_t *p);
/* Posts a POST body's packets (owned by in) to the session's loop. Thread: any. */
void sess_post_input(sess_input_t *in);
/* A GET was attached: input held back for it can go on. Thread: s's loop. */
void sess_release_deferred(sess_t *s);

/* One thing for the live transport to write. */
typedef struct sess_out {
    msg_t *m;         /* a reference for the caller */
    const char *tail; /* NULL: m's packet as it is; else the packet without its final ']',
                       * then tail[0..tail_len) (a room event carrying its offset) */
    size_t tail_len;
} sess_out_t;

/* Takes up to max (<= SESS_POP_MAX) items, about max_bytes, in the order they must go out:
 * packets queued ahead, replayed events, then the live queue unless a Redis read holds it
 * (duplicates of replayed events skipped). Tails stay valid until the next call. *more: 1
 * when more is ready now (0 also while waiting for Redis: a wake-up comes). Thread: s's loop,
 * session lock not held. */
int sess_pop(sess_t *s, sess_out_t *out, int max, size_t max_bytes, int *more);
/* 1 when sess_pop() would give something now. Thread: s's loop, lock not held. */
int sess_has_output(sess_t *s);

/* ---- sio_rec.c ------------------------------------------------------------------------------- */

/* Prepares / frees s->rec. rec_free: any thread, after teardown (or with the loop stopped). */
void rec_init(sess_t *s);
void rec_free(sess_t *s);
/* The session joined / left a room (room NULL: every room) through the application. */
void rec_room_joined(sess_t *s, const char *room, const bk_filter_t *f);
void rec_room_left(sess_t *s, const char *room);
/* sio_app_ops_t's restore / fresh / forget / job_state for s. */
int rec_restore(sess_t *s, unsigned bit, const char *pid, const char *offset);
void rec_fresh(sess_t *s, unsigned bit, char *pid);
void rec_forget(sess_t *s, unsigned bit);
void rec_job_state(sess_t *s, const char *job_id, int queue);
/* sio_app_ops_t's job_access: reads the job's data, then sio_app_job_access_done(). */
void rec_job_access(sess_t *s, const char *job_id, int queue, long ack_id);
/* The next packet or replayed event ahead of the live queue: REC_ITEM (*m: a reference),
 * REC_WAIT (Redis owes an answer; a wake-up comes) or REC_NONE. */
enum { REC_NONE = 0, REC_ITEM, REC_WAIT };
int rec_next(sess_t *s, msg_t **m);
int rec_ready(sess_t *s);
/* 1 while the live queue must wait (restores, job states in flight). */
int rec_holding(const sess_t *s);
/* 1 when live m was already written (a replay covered it). */
int rec_seen(const sess_t *s, const msg_t *m);
/* m is a room event of a namespace with recovery: advances its offset and appends the tail
 * (,"OFFSET"]) to b; returns 1. 0 (nothing appended) for other packets. */
int rec_tail(sess_t *s, const msg_t *m, buf_t *b);
/* The timer: refreshes the state in Redis when due; the next deadline, -1 for none. */
void rec_timer(sess_t *s, int64_t now);
int64_t rec_deadline(const sess_t *s);
/* Teardown: writes each namespace's state for a reconnect, stops replays. Thread: s's loop. */
void rec_teardown(sess_t *s);

/* ---- sio_ws.c / sio_poll.c -------------------------------------------------------------- */

/* Starts a WebSocket connection for fd on s's loop: the session's transport (probe 0: the
 * open packet is written first) or an upgrade probe (probe 1). Takes a reference on s and
 * one ADM_WEBSOCKET admission (released on close). Returns 0 or DG_ENOMEM (fd closed,
 * admission released). Thread: any. */
int sio_ws_start(sess_t *s, int fd, int probe);
/* Writes a close frame with code and closes the connection gracefully; for stalled or
 * overflowing peers (abortive) resets it instead. Thread: the connection's loop. */
void sio_ws_close(cn_t *c, int code, int abortive);

/* Starts a held polling GET for fd on s's loop, answered with CORS headers cors (copied).
 * Takes a reference on s and one ADM_POLLING admission. Returns 0 or DG_ENOMEM. */
int sio_poll_start(sess_t *s, int fd, const char *cors);
/* Answers the GET now if the session has something to say (queued packets, a noop, a close).
 * Thread: s's loop. */
void sio_poll_answer(cn_t *c);

#endif
