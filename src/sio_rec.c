/* sio_rec.c - what a Socket.IO session must hear before its live events, so that none is
 * missed: connection-state recovery and the state of a job a client subscribes to.
 *
 * Recovery is socket.io 4.6+'s on the wire: the CONNECT answer carries a private session id
 * (pid), every room event carries its offset as its last argument, and a client that
 * reconnects sends {pid, offset} in its CONNECT. The offset is dualgate's stream cursor (what
 * SSE's id: says), so it resumes SSE too. The state that outlives the connection (rooms and
 * filters, where a client without an offset resumes, when it left) is a JSON value in Redis
 * under dualgate:sio:<pid> with a TTL, so any instance on the same Redis can restore it: it
 * joins the rooms again, replays (replay.c) what the client missed up to the join, and only
 * then lets the live queue go on, skipping what the replay already sent.
 *
 * Both holds put their packets in front of the live queue and make it wait for Redis, at most
 * redis_timeout_ms (a state read) or the replay's chunk timeouts. Thread: the session's loop,
 * except the Redis callbacks (command thread), which copy the answer and post it to the loop. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catchup.h"
#include "decode.h"
#include "dg.h"
#include "log.h"
#include "replay.h"
#include "sio_int.h"

#define KEY_PREFIX "dualgate:sio:"
#define REPLAY_CHUNK 64
#define REPLAY_TIMEOUT_MS 5000
#define CURSOR_MAX 4096

struct rec_replay {
    sess_t *s;
    int ns;
    rp_t *rp;
    cur_t upto;
    uint32_t follow;
    int answered; /* the CONNECT answer is out */
    msg_t *peek;  /* fetched from rp, not yet handed out */
    int done;     /* rp said RP_DONE */
};

/* A subscribe-job's job reads (catchup.h) in flight: its states to send first, or (access) the
 * owner check that decides the subscription. */
typedef struct rec_state {
    list_t node; /* in s->rec.states */
    sess_t *s;
    cu_t *cu;
    int access; /* an owner check: no states, the live queue is not held */
    int queue;
    long ack_id;
    char job_id[DEC_JOBID_MAX];
} rec_state_t;

static void access_done(rec_state_t *st);

static void state_end(rec_state_t *st)
{
    list_unlink(&st->node);
    cu_free(st->cu);
    free(st);
}

/* Ends every job read in flight (their answers are discarded when they come back). */
static void states_end(sess_t *s)
{
    while (!list_empty(&s->rec.states))
        state_end(DG_CONTAINER_OF(list_first(&s->rec.states), rec_state_t, node));
}

static int ns_of_bit(unsigned bit)
{
    return bit == SIO_APP_NSP_LOGS ? 1 : 0;
}

static unsigned bit_of_ns(int ns)
{
    return ns ? SIO_APP_NSP_LOGS : SIO_APP_NSP_MAIN;
}

static int ns_of_room(const char *room)
{
    return strcmp(room, "logs") == 0;
}

/* The streams a namespace's offset covers: the queues and the routed streams for "/", the log
 * stream for "/logs" (routed channels have no position to resume from). */
static uint32_t ns_streams(const sess_t *s, int ns)
{
    int nq = s->h->cfg->nqueues;
    return ns ? 1u << nq : ((1u << nq) - 1) | s->h->route_streams;
}

/* The namespace whose offset m advances, -1 for none (private packets, channels, relays). */
static int ns_of_msg(const sess_t *s, const msg_t *m)
{
    if (m->kind == MSG_JOB || (m->kind == MSG_ROUTE && (s->h->route_streams & (1u << m->stream))))
        return 0;
    return m->kind == MSG_LOG ? 1 : -1;
}

static void wake(sess_t *s)
{
    pthread_mutex_lock(&s->lock);
    if (!s->torn)
        sess_wake_locked(s);
    pthread_mutex_unlock(&s->lock);
}

static void key_of(const char *pid, char *key, size_t cap)
{
    snprintf(key, cap, KEY_PREFIX "%s", pid);
}

/* ================================================================ lifetime */

void rec_init(sess_t *s)
{
    memset(&s->rec, 0, sizeof(s->rec));
    list_init(&s->rec.states);
    oq_init(&s->rec.front, UINT32_MAX, SIZE_MAX);
}

/* Namespace ns's recovery state, made on first use; NULL when recovery is off or on ENOMEM.
 * Only namespaces with recovery cost its memory (two cursors). */
static sess_ns_t *ns_get(sess_t *s, int ns)
{
    sess_ns_t *n = s->rec.ns[ns];
    if (n || !s->h->cfg->recovery)
        return n;
    if (!(n = calloc(1, sizeof(*n))))
        return NULL;
    n->cur.n = n->base.n = s->h->nstreams;
    return s->rec.ns[ns] = n;
}

static void rooms_clear(sess_ns_t *n)
{
    for (int i = 0; i < n->nrooms; i++)
        free(n->rooms[i].name);
    n->nrooms = 0;
}

static void replay_free(struct rec_replay *r)
{
    if (!r)
        return;
    rp_free(r->rp);
    if (r->peek)
        msg_unref(r->peek);
    free(r);
}

void rec_free(sess_t *s)
{
    states_end(s); /* a session its stopped loop never tore down */
    for (int i = 0; i < SESS_NS; i++) {
        replay_free(s->rec.replay[i]);
        s->rec.replay[i] = NULL;
        if (s->rec.ns[i]) {
            rooms_clear(s->rec.ns[i]);
            free(s->rec.ns[i]->rooms);
            cur_text_free(&s->rec.ns[i]->cur_text);
            free(s->rec.ns[i]);
            s->rec.ns[i] = NULL;
        }
    }
    if (s->rec.peeked)
        msg_unref(s->rec.peeked);
    s->rec.peeked = NULL;
    oq_clear(&s->rec.front);
    buf_free(&s->rec.tails);
}

/* ================================================================ the state in Redis */

/* {"nsp","base","rooms":[{"room","streams","level","ns"}],"left"}: left is the wall-clock ms the
 * client went away (0 while connected). */
static void save(sess_t *s, int ns, int64_t left)
{
    const sess_ns_t *n = s->rec.ns[ns];
    const cfg_t *cfg = s->h->cfg;
    if (!n || !n->pid[0] || s->rec.quiet)
        return;
    char base[CURSOR_MAX], key[64];
    if (cur_format(&n->base, s->h->names, base, sizeof(base)) < 0)
        base[0] = '\0';
    json_t *rooms = json_array();
    for (int i = 0; i < n->nrooms; i++)
        json_array_append_new(rooms, json_pack("{s:s,s:I,s:i,s:s}", "room", n->rooms[i].name,
                                               "streams", (json_int_t)n->rooms[i].f.streams,
                                               "level", n->rooms[i].f.min_level, "ns",
                                               n->rooms[i].f.ns));
    json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:I}", "nsp", sio_app_nsp_name(bit_of_ns(ns)),
                          "user", sio_app_user(&s->app, bit_of_ns(ns)), "base", base, "rooms",
                          rooms, "left", (json_int_t)left);
    char *val = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!val)
        return;
    /* While connected the key outlives the refresh interval; once left, exactly the window. */
    int64_t window = cfg->recovery_max_disconnect_ms;
    key_of(n->pid, key, sizeof(key));
    rds_kv_set_async(s->h->d.rds, key, val, strlen(val), left ? window : window + window / 2,
                     cfg->redis_timeout_ms, NULL, NULL);
    free(val);
    if (!left && s->rec.save_at == 0)
        s->rec.save_at = el_now_ms() + window / 2;
}

void rec_timer(sess_t *s, int64_t now)
{
    if (!s->rec.save_at || now < s->rec.save_at)
        return;
    s->rec.save_at = 0;
    for (int i = 0; i < SESS_NS; i++)
        if (!s->rec.replay[i])
            save(s, i, 0);
}

int64_t rec_deadline(const sess_t *s)
{
    return s->rec.save_at ? s->rec.save_at : -1;
}

void rec_teardown(sess_t *s)
{
    int64_t now = el_wall_ms();
    for (int i = 0; i < SESS_NS; i++) {
        /* a restore that never answered leaves the state as it was */
        if (!s->rec.replay[i] && (s->app.nsps & bit_of_ns(i)))
            save(s, i, now);
        replay_free(s->rec.replay[i]);
        s->rec.replay[i] = NULL;
    }
    states_end(s); /* answers still in flight are discarded */
    s->rec.save_at = 0;
}

/* ================================================================ rooms */

void rec_room_joined(sess_t *s, const char *room, const bk_filter_t *f)
{
    static const bk_filter_t all;
    sess_ns_t *n = ns_get(s, ns_of_room(room));
    if (!n)
        return; /* recovery off (nothing to restore), or out of memory */
    int i;
    for (i = 0; i < n->nrooms && strcmp(n->rooms[i].name, room) != 0; i++)
        ;
    if (i == n->nrooms) {
        if (n->nrooms == n->cap) {
            int cap = n->cap ? 2 * n->cap : 4;
            sess_room_t *r = realloc(n->rooms, (size_t)cap * sizeof(*r));
            if (!r)
                return; /* a restore would miss this room: the live one is not affected */
            n->rooms = r;
            n->cap = cap;
        }
        if (!(n->rooms[i].name = strdup(room)))
            return;
        n->nrooms++;
    }
    n->rooms[i].f = f ? *f : all;
    save(s, ns_of_room(room), 0);
}

void rec_room_left(sess_t *s, const char *room)
{
    for (int k = 0; k < SESS_NS; k++) {
        sess_ns_t *n = s->rec.ns[k];
        int changed = 0;
        if (!n)
            continue;
        for (int i = 0; i < n->nrooms;) {
            if (room && strcmp(n->rooms[i].name, room) != 0) {
                i++;
                continue;
            }
            free(n->rooms[i].name);
            n->rooms[i] = n->rooms[--n->nrooms];
            changed = 1;
        }
        if (changed)
            save(s, k, 0);
    }
}

/* 1 when replayed item it belongs in room (what the readers would have published it to). */
static int item_in_room(const sess_t *s, const sess_room_t *r, const rds_item_t *it)
{
    const msg_t *m = it->msg;
    const char *name = r->name;
    int in;
    if (m->kind == MSG_LOG)
        in = strcmp(name, "logs") == 0;
    else if (m->kind == MSG_ROUTE)
        in = strcmp(name, it->job_id) == 0; /* a routed entry carries its room */
    else if (strncmp(name, "job:", 4) == 0)
        in = strcmp(name + 4, it->job_id) == 0;
    else if (strncmp(name, "queue:", 6) == 0)
        in = strcmp(name + 6, s->h->names[m->stream]) == 0;
    else
        in = strcmp(name, "all-jobs") == 0;
    return in && bk_filter_match(&r->f, m);
}

/* ================================================================ fresh, forget */

void rec_fresh(sess_t *s, unsigned bit, char *pid)
{
    sess_ns_t *n = ns_get(s, ns_of_bit(bit));
    pid[0] = '\0';
    if (!n || eio_sid_generate(n->pid) != DG_OK) {
        if (n)
            n->pid[0] = '\0';
        return;
    }
    /* Before any room is joined: whatever reaches the session from now on is after base. */
    bk_position(s->h->d.bk, &n->base);
    n->base.n = s->h->nstreams;
    n->base.known &= ns_streams(s, ns_of_bit(bit));
    n->cur = n->base;
    cur_text_reset(&n->cur_text);
    memcpy(pid, n->pid, sizeof(n->pid));
    save(s, ns_of_bit(bit), 0);
}

void rec_forget(sess_t *s, unsigned bit)
{
    sess_ns_t *n = bit == SIO_APP_NSP_CUSTOM ? NULL : s->rec.ns[ns_of_bit(bit)];
    if (!n || !n->pid[0])
        return;
    char key[64];
    key_of(n->pid, key, sizeof(key));
    rds_kv_del_async(s->h->d.rds, key, s->h->cfg->redis_timeout_ms, NULL, NULL);
    n->pid[0] = '\0';
}

/* ================================================================ restore */

/* A Redis answer on its way to the session's loop. */
typedef struct rec_answer {
    el_task_t task;
    sess_t *s; /* holds a reference */
    int ns;
    int status;
    char *val;
    char *offset; /* the client's, NULL when it sent none */
} rec_answer_t;

static void answer_free(rec_answer_t *a)
{
    sess_unref(a->s);
    free(a->val);
    free(a->offset);
    free(a);
}

static void push_front(sess_t *s, const char *pkt, size_t len)
{
    msg_t *m = msg_new_packet(pkt, len, 0);
    if (m) {
        oq_push(&s->rec.front, m, m->ws_len);
        msg_unref(m);
    }
}

/* Queues EVENT name(json) of namespace ns: in front (first 1) or on the live queue. */
static void send_event(sess_t *s, int ns, const char *name, const char *json, size_t len,
                       int first)
{
    size_t cap = SIO_EVENT_SIZE(strlen(name), len);
    char *pkt = malloc(cap);
    int n = pkt ? sio_encode_event(pkt, cap, sio_app_nsp_name(bit_of_ns(ns)), -1, 0, name,
                                   strlen(name), json, len)
                : -1;
    if (n > 0 && first) {
        push_front(s, pkt, (size_t)n);
    } else if (n > 0) {
        msg_t *m = msg_new_packet(pkt, (size_t)n, 0);
        if (m) {
            sess_enqueue(s, m);
            msg_unref(m);
        }
    }
    free(pkt);
}

/* The CONNECT answer of a restore, in front of everything: pid is the session's (recovered) or
 * a new one (what could not be recovered was reported in a gap event). */
static void answer_connect(sess_t *s, int ns)
{
    char pkt[SIO_HDR_MAX + 96];
    const char *sid = sio_app_connect_done(&s->app, bit_of_ns(ns), 1);
    int n = sio_encode_connect_pid(pkt, sizeof(pkt), sio_app_nsp_name(bit_of_ns(ns)),
                                   sid ? sid : s->sid, s->rec.ns[ns]->pid);
    if (n > 0)
        push_front(s, pkt, (size_t)n);
}

/* The session could not be restored: a fresh connect, then a gap event saying why. */
static void restore_failed(sess_t *s, int ns, const char *reason)
{
    char gap[96];
    atomic_fetch_add(&s->h->restore_failed, 1);
    s->rec.ns[ns]->pid[0] = '\0';
    sio_app_connect_done(&s->app, bit_of_ns(ns), 0);
    int n = snprintf(gap, sizeof(gap), "{\"reason\":\"%s\",\"streams\":[]}", reason);
    send_event(s, ns, "gap", gap, (size_t)n, 0);
}

static int replay_keep(void *ud, const rds_item_t *it)
{
    struct rec_replay *r = ud;
    const sess_ns_t *n = r->s->rec.ns[r->ns];
    for (int i = 0; i < n->nrooms; i++)
        if (item_in_room(r->s, &n->rooms[i], it))
            return 1;
    return 0;
}

static void replay_wake(void *ud)
{
    wake(((struct rec_replay *)ud)->s);
}

/* The state came back: join its rooms, then replay (offset, join] before live events. Returns
 * NULL when restored, or why not (the gap event's reason). */
static const char *restore(sess_t *s, rec_answer_t *a)
{
    sio_t *h = s->h;
    sess_ns_t *n = s->rec.ns[a->ns];
    uint32_t mask = ns_streams(s, a->ns);
    if (a->status == DG_ENOTFOUND)
        return "session_unknown";
    if (a->status != DG_OK)
        return "redis_unavailable";
    json_t *o = json_loads(a->val, 0, NULL), *rooms = json_object_get(o, "rooms");
    const char *nsp = json_string_value(json_object_get(o, "nsp"));
    const char *base = json_string_value(json_object_get(o, "base"));
    const char *user = json_string_value(json_object_get(o, "user"));
    json_int_t left = json_integer_value(json_object_get(o, "left"));
    const char *why = NULL;
    cur_t from = {.n = h->nstreams};
    if (!nsp || strcmp(nsp, sio_app_nsp_name(bit_of_ns(a->ns))) != 0 || !base ||
        !json_is_array(rooms))
        why = "session_unknown";
    else if (!user || strcmp(user, sio_app_user(&s->app, bit_of_ns(a->ns))) != 0)
        why = "session_unknown"; /* another user's (or anonymous) session: a pid is no credential */
    else if (left && el_wall_ms() - left > h->cfg->recovery_max_disconnect_ms)
        why = "session_expired";
    else if (a->offset ? cur_parse(&from, h->names, h->nstreams, a->offset, strlen(a->offset))
                       : cur_parse(&from, h->names, h->nstreams, base, strlen(base)))
        why = "invalid_cursor";
    if (why) {
        json_decref(o);
        return why;
    }
    /* rooms first, then the position: live events carry on exactly after upto */
    size_t i;
    json_t *r;
    s->rec.quiet = 1; /* one save at the end, not one per room */
    json_array_foreach(rooms, i, r) {
        const char *room = json_string_value(json_object_get(r, "room"));
        bk_filter_t f = {.streams = (uint32_t)json_integer_value(json_object_get(r, "streams")),
                         .min_level = (int)json_integer_value(json_object_get(r, "level"))};
        const char *fns = json_string_value(json_object_get(r, "ns"));
        if (!room || ns_of_room(room) != a->ns)
            continue;
        snprintf(f.ns, sizeof(f.ns), "%s", fns ? fns : "");
        if (bk_join(h->d.bk, &s->sub, room, &f, NULL) == DG_OK) {
            rec_room_joined(s, room, &f);
            sio_app_room_restored(&s->app, room);
        }
    }
    s->rec.quiet = 0;
    json_decref(o);
    cur_t upto = {.n = h->nstreams};
    bk_position(h->d.bk, &upto);
    upto.known &= mask;
    /* base: the client's position; streams it knows nothing of start where the joins did */
    n->base = from;
    n->base.known &= mask;
    n->cur = upto;
    cur_text_reset(&n->cur_text);
    uint32_t follow = 0;
    for (int k = 0; k < h->nstreams; k++) {
        uint32_t b = 1u << k;
        if (!(mask & b) || !(from.known & b))
            continue;
        /* behind this instance: replayed up to upto; at or past it: live duplicates skipped */
        n->cur.pos[k] = from.pos[k];
        n->cur.known |= b;
        if ((upto.known & b) && cur_id_cmp(from.pos[k], upto.pos[k]) < 0)
            follow |= b;
    }
    if (!follow) {
        answer_connect(s, a->ns);
        atomic_fetch_add(&h->app_stats.recovered, 1);
        save(s, a->ns, 0);
        return NULL;
    }
    struct rec_replay *rr = calloc(1, sizeof(*rr));
    if (!rr)
        return "out_of_memory";
    *rr = (struct rec_replay){.s = s, .ns = a->ns, .upto = upto, .follow = follow};
    rp_spec_t spec = {.rds = h->d.rds, .loop = s->loop, .nstreams = h->nstreams,
                      .names = h->names, .follow = follow, .from = from, .upto = upto,
                      .keep = replay_keep, .chunk = REPLAY_CHUNK,
                      .timeout_ms = REPLAY_TIMEOUT_MS, .wake = replay_wake, .ud = rr,
                      .stats = h->d.rp_stats};
    if (!(rr->rp = rp_new(&spec))) {
        free(rr);
        return "out_of_memory";
    }
    s->rec.replay[a->ns] = rr;
    s->rec.hold++; /* until the replay is done */
    return NULL;
}

static void restore_task(void *arg, int cancelled)
{
    rec_answer_t *a = arg;
    sess_t *s = a->s;
    if (!cancelled && !s->torn) {
        s->rec.hold--;
        const char *why = restore(s, a);
        if (why)
            restore_failed(s, a->ns, why);
        wake(s);
    }
    answer_free(a);
}

static void restore_answer(void *ud, int status, const char *val, size_t len, const char *err)
{
    (void)err;
    rec_answer_t *a = ud;
    a->status = status;
    if (status == DG_OK && !(a->val = strndup(val, len)))
        a->status = DG_ENOMEM;
    a->task = (el_task_t){NULL, restore_task, a};
    el_post_task(a->s->loop, &a->task);
}

int rec_restore(sess_t *s, unsigned bit, const char *pid, const char *offset)
{
    int ns = ns_of_bit(bit);
    if (!s->h->cfg->recovery || s->rec.replay[ns])
        return 0;
    rec_answer_t *a = calloc(1, sizeof(*a));
    if (!a || (offset && !(a->offset = strdup(offset)))) {
        free(a);
        return 0;
    }
    char key[64];
    sess_ref(s);
    a->s = s;
    a->ns = ns;
    sess_ns_t *n = ns_get(s, ns);
    if (!n) {
        answer_free(a);
        return 0;
    }
    memcpy(n->pid, pid, sizeof(n->pid));
    n->pid[EIO_SID_LEN] = '\0';
    key_of(n->pid, key, sizeof(key));
    atomic_fetch_add(&s->h->restores, 1);
    s->rec.hold++;
    if (rds_kv_get_async(s->h->d.rds, key, s->h->cfg->redis_timeout_ms, restore_answer, a) !=
        DG_OK) {
        s->rec.hold--;
        n->pid[0] = '\0';
        answer_free(a);
        return 0;
    }
    return 1;
}

/* ================================================================ job states */

/* Puts what st's catchup has to say in front; at its end the live queue may go on. Runs in the
 * catchup's wake (cu_free is allowed there) and at once for reads that could not be asked. */
static void state_drain(rec_state_t *st)
{
    sess_t *s = st->s;
    const char *json;
    size_t len;
    int rc;
    if (st->access) {
        if (cu_next(st->cu, &json, &len) != CU_WAIT)
            access_done(st);
        return;
    }
    while ((rc = cu_next(st->cu, &json, &len)) == CU_ITEM)
        send_event(s, 0, "state", json, len, 1);
    if (rc == CU_DONE) {
        state_end(st);
        s->rec.hold--;
        wake(s);
    }
}

static void state_wake(void *ud)
{
    state_drain(ud);
}

void rec_job_state(sess_t *s, const char *job_id, int queue)
{
    const cfg_t *cfg = s->h->cfg;
    rec_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return;
    cu_spec_t spec = {.rds = s->h->d.rds, .loop = s->loop, .names = s->h->names,
                      .queues = queue >= 0 ? 1u << queue : (1u << cfg->nqueues) - 1,
                      .named = queue >= 0, .job_id = job_id, .timeout_ms = cfg->redis_timeout_ms,
                      .wake = state_wake, .ud = st};
    st->s = s;
    if (!(st->cu = cu_new(&spec))) {
        free(st);
        return;
    }
    list_push(&s->rec.states, &st->node);
    s->rec.hold++;
    atomic_fetch_add(&s->h->job_states, 1);
    state_drain(st); /* reads that could not be queued are answered at once */
}

/* ================================================================ job access (owner terms) */

/* Every queue answered an owner check: whether one of them holds the job for this token. */
static void access_done(rec_state_t *st)
{
    sess_t *s = st->s;
    char job_id[DEC_JOBID_MAX];
    int queue = st->queue, allowed = 0;
    long ack_id = st->ack_id;
    for (int q = 0; q < s->h->cfg->nqueues && !allowed; q++) {
        const char *data = cu_owner(st->cu, q);
        allowed = data && sio_app_job_allowed(&s->app, data, strlen(data));
    }
    memcpy(job_id, st->job_id, sizeof(job_id));
    state_end(st);
    sio_app_job_access_done(&s->app, job_id, queue, ack_id, allowed);
}

void rec_job_access(sess_t *s, const char *job_id, int queue, long ack_id)
{
    const cfg_t *cfg = s->h->cfg;
    rec_state_t *st = calloc(1, sizeof(*st));
    cu_spec_t spec = {.rds = s->h->d.rds, .loop = s->loop, .names = s->h->names,
                      .queues = queue >= 0 ? 1u << queue : (1u << cfg->nqueues) - 1,
                      .named = queue >= 0, .job_id = job_id, .timeout_ms = cfg->redis_timeout_ms,
                      .owner_field = RDS_JOB_DATA, .wake = state_wake, .ud = st};
    if (!st || strlen(job_id) >= sizeof(st->job_id) || !(st->cu = cu_new(&spec))) {
        free(st);
        sio_app_job_access_done(&s->app, job_id, queue, ack_id, 0);
        return;
    }
    st->s = s;
    st->access = 1;
    st->queue = queue;
    st->ack_id = ack_id;
    memcpy(st->job_id, job_id, strlen(job_id) + 1);
    list_push(&s->rec.states, &st->node);
    state_drain(st); /* reads that could not be queued are answered at once */
}

/* ================================================================ what goes out first */

/* One step of ns's replay: REC_ITEM with *m, REC_WAIT, or REC_NONE once it is over (the
 * replay is freed and the live queue may go). */
static int replay_step(sess_t *s, int ns, msg_t **m)
{
    struct rec_replay *r = s->rec.replay[ns];
    while (!r->peek && !r->done) {
        const char *gap = NULL;
        int rc = rp_next(r->rp, &r->peek, &gap);
        if (rc == RP_WAIT)
            return REC_WAIT;
        if (rc == RP_DONE) {
            r->done = 1;
        } else if (rc == RP_GAP) {
            if (!r->answered) {
                /* not everything can be replayed: not a recovery (a new pid), but the rooms
                 * and what remains are restored, and the client is told */
                atomic_fetch_add(&s->h->restore_failed, 1);
                eio_sid_generate(s->rec.ns[ns]->pid);
                r->answered = 1;
                answer_connect(s, ns);
            }
            send_event(s, ns, "gap", gap, strlen(gap), 1);
            return rec_next(s, m);
        }
    }
    if (!r->answered) {
        r->answered = 1;
        atomic_fetch_add(&s->h->app_stats.recovered, 1);
        answer_connect(s, ns);
        return rec_next(s, m); /* the CONNECT goes first */
    }
    if (r->peek) {
        *m = r->peek;
        r->peek = NULL;
        return REC_ITEM;
    }
    /* done: live events carry on after upto */
    sess_ns_t *n = s->rec.ns[ns];
    for (int k = 0; k < s->h->nstreams; k++)
        if ((r->follow & (1u << k)) && cur_id_cmp(n->cur.pos[k], r->upto.pos[k]) < 0)
            n->cur.pos[k] = r->upto.pos[k];
    cur_text_reset(&n->cur_text);
    replay_free(r);
    s->rec.replay[ns] = NULL;
    s->rec.hold--;
    save(s, ns, 0);
    return REC_NONE;
}

int rec_next(sess_t *s, msg_t **m)
{
    if ((*m = s->rec.peeked)) {
        s->rec.peeked = NULL;
        return REC_ITEM;
    }
    if ((*m = oq_pop(&s->rec.front)))
        return REC_ITEM;
    int wait = 0;
    for (int ns = 0; ns < SESS_NS; ns++) {
        if (!s->rec.replay[ns])
            continue;
        int rc = replay_step(s, ns, m);
        if (rc == REC_ITEM)
            return REC_ITEM;
        wait |= rc == REC_WAIT;
    }
    return wait ? REC_WAIT : REC_NONE;
}

int rec_ready(sess_t *s)
{
    if (s->rec.peeked || s->rec.front.len)
        return 1;
    if (!s->rec.replay[0] && !s->rec.replay[1])
        return 0;
    return rec_next(s, &s->rec.peeked) == REC_ITEM;
}

int rec_holding(const sess_t *s)
{
    return s->rec.hold > 0;
}

int rec_seen(const sess_t *s, const msg_t *m)
{
    int ns = ns_of_msg(s, m);
    if (ns < 0 || !s->rec.ns[ns] || !s->rec.ns[ns]->pid[0])
        return 0;
    const cur_t *c = &s->rec.ns[ns]->cur;
    return (c->known & (1u << m->stream)) && cur_id_cmp(m->id, c->pos[m->stream]) <= 0;
}

int rec_tail(sess_t *s, const msg_t *m, buf_t *b)
{
    int ns = ns_of_msg(s, m);
    if (ns < 0 || !s->rec.ns[ns] || !s->rec.ns[ns]->pid[0])
        return 0;
    sess_ns_t *n = s->rec.ns[ns];
    size_t len = 0;
    const char *text = cur_text_advance(&n->cur_text, &n->cur, s->h->names, m->stream, m->id,
                                        CURSOR_MAX, &len);
    char out[CURSOR_MAX + 4] = ",\"";
    if (!text || !len)
        return 0;
    memcpy(out + 2, text, len);
    memcpy(out + 2 + len, "\"]", 2);
    return buf_append(b, out, len + 4) == DG_OK;
}
