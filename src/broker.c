/* broker.c - rooms and memberships behind one mutex; publish hands a shared msg to each
 * matching subscriber once. Rooms live in the hash table (htab.h) and are freed when their last
 * member leaves. Memberships are intrusive: each node sits in its room's list and in its
 * subscriber's list, so leave and disconnect cost O(rooms of the subscriber). */
#include "broker.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"
#include "htab.h"

typedef struct bk_room bk_room_t;

struct bk_member {
    bk_room_t *room;
    bk_sub_t *sub;
    bk_filter_t filter;
    bk_member_t *prev, *next; /* in room */
    bk_member_t *sub_next;    /* in subscriber */
};

struct bk_room {
    ht_node_t node; /* in bk->rooms, keyed by name */
    int nmembers;
    bk_member_t *members;
    char name[]; /* NUL-terminated */
};

struct bk {
    pthread_mutex_t lock;
    ht_t rooms;
    int nmembers;
    uint64_t serial; /* publish counter, dedupes a subscriber reached through several rooms */
    uint64_t published;
    uint64_t deliveries;
    uint32_t known;
    cur_id_t pos[CUR_MAX_STREAMS];
};

bk_t *bk_new(void)
{
    bk_t *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    if (ht_init(&b->rooms, 1024) != DG_OK) {
        free(b);
        return NULL;
    }
    pthread_mutex_init(&b->lock, NULL);
    return b;
}

void bk_free(bk_t *b)
{
    if (!b)
        return;
    for (ht_node_t *n; (n = ht_any(&b->rooms));) {
        bk_room_t *r = DG_CONTAINER_OF(n, bk_room_t, node);
        ht_remove(&b->rooms, n);
        for (bk_member_t *m = r->members, *mn; m; m = mn) {
            mn = m->next;
            free(m);
        }
        free(r);
    }
    ht_free(&b->rooms);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static bk_room_t *room_find(bk_t *b, const char *name)
{
    ht_node_t *n = ht_find(&b->rooms, name);
    return n ? DG_CONTAINER_OF(n, bk_room_t, node) : NULL;
}

static void room_unlink_if_empty(bk_t *b, bk_room_t *r)
{
    if (r->nmembers)
        return;
    ht_remove(&b->rooms, &r->node);
    free(r);
}

static void member_unlink(bk_t *b, bk_member_t *m)
{
    bk_room_t *r = m->room;
    if (m->prev)
        m->prev->next = m->next;
    else
        r->members = m->next;
    if (m->next)
        m->next->prev = m->prev;
    r->nmembers--;
    b->nmembers--;
    m->sub->nrooms--;
    room_unlink_if_empty(b, r);
    free(m);
}

int bk_join(bk_t *b, bk_sub_t *s, const char *room, const bk_filter_t *f, cur_t *pos)
{
    static const bk_filter_t all;
    int rc = DG_OK;
    pthread_mutex_lock(&b->lock);
    bk_room_t *r = room_find(b, room);
    bk_member_t *m = NULL;
    if (r)
        for (m = s->members; m && m->room != r; m = m->sub_next)
            ;
    if (m) {
        m->filter = f ? *f : all;
        goto positions;
    }
    if (s->nrooms >= BK_MAX_ROOMS_PER_SUB) {
        rc = DG_ELIMIT;
        goto out;
    }
    if (!r) {
        size_t len = strlen(room);
        r = calloc(1, sizeof(*r) + len + 1);
        if (!r) {
            rc = DG_ENOMEM;
            goto out;
        }
        memcpy(r->name, room, len + 1);
        ht_insert(&b->rooms, &r->node, r->name);
    }
    m = calloc(1, sizeof(*m));
    if (!m) {
        room_unlink_if_empty(b, r);
        rc = DG_ENOMEM;
        goto out;
    }
    m->room = r;
    m->sub = s;
    m->filter = f ? *f : all;
    m->next = r->members;
    if (r->members)
        r->members->prev = m;
    r->members = m;
    r->nmembers++;
    m->sub_next = s->members;
    s->members = m;
    s->nrooms++;
    b->nmembers++;
positions:
    if (pos) {
        pos->known = b->known;
        memcpy(pos->pos, b->pos, sizeof(pos->pos));
    }
out:
    pthread_mutex_unlock(&b->lock);
    return rc;
}

int bk_leave(bk_t *b, bk_sub_t *s, const char *room)
{
    int rc = DG_ENOTFOUND;
    pthread_mutex_lock(&b->lock);
    for (bk_member_t **pp = &s->members; *pp; pp = &(*pp)->sub_next) {
        if (strcmp((*pp)->room->name, room) == 0) {
            bk_member_t *m = *pp;
            *pp = m->sub_next;
            member_unlink(b, m);
            rc = DG_OK;
            break;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

void bk_leave_all(bk_t *b, bk_sub_t *s)
{
    pthread_mutex_lock(&b->lock);
    while (s->members) {
        bk_member_t *m = s->members;
        s->members = m->sub_next;
        member_unlink(b, m);
    }
    pthread_mutex_unlock(&b->lock);
}

int bk_is_member(bk_t *b, bk_sub_t *s, const char *room)
{
    int found = 0;
    pthread_mutex_lock(&b->lock);
    for (bk_member_t *m = s->members; m && !found; m = m->sub_next)
        found = strcmp(m->room->name, room) == 0;
    pthread_mutex_unlock(&b->lock);
    return found;
}

int bk_filter_match(const bk_filter_t *f, const msg_t *m)
{
    if (f->streams && !(f->streams & (1u << m->stream)))
        return 0;
    if (m->kind == MSG_LOG) {
        if (m->level < f->min_level)
            return 0;
        if (f->ns[0] && (!m->ns || strcmp(f->ns, m->ns) != 0))
            return 0;
    }
    return 1;
}

static void set_position(bk_t *b, int stream, cur_id_t id)
{
    if (stream < 0 || stream >= CUR_MAX_STREAMS)
        return;
    b->pos[stream] = id;
    b->known |= 1u << stream;
}

#define WAKE_CHUNK 512

typedef struct wake_list {
    bk_sub_t *subs[WAKE_CHUNK];
    int n;
    uint64_t serial;
} wake_list_t;

static void wake_flush(wake_list_t *w)
{
    for (int i = 0; i < w->n; i++)
        w->subs[i]->wake(w->subs[i]);
    w->n = 0;
}

/* Lock held. Delivers one message; subscribers with a wake() are noted in w. */
static int publish_one(bk_t *b, msg_t *m, const char *const *rooms, int nrooms, wake_list_t *w)
{
    int n = 0;
    uint64_t serial = ++b->serial;
    for (int i = 0; i < nrooms; i++) {
        bk_room_t *r = room_find(b, rooms[i]);
        if (!r)
            continue;
        for (bk_member_t *mb = r->members; mb; mb = mb->next) {
            bk_sub_t *s = mb->sub;
            if (s->last_serial == serial || !bk_filter_match(&mb->filter, m))
                continue;
            s->last_serial = serial;
            s->deliver(s, m);
            n++;
            if (s->wake && s->wake_serial != w->serial) {
                s->wake_serial = w->serial;
                if (w->n == WAKE_CHUNK)
                    wake_flush(w); /* early wake-ups are harmless, only less batched */
                w->subs[w->n++] = s;
            }
        }
    }
    if (m->kind != MSG_RELAY) /* a relay is no stream event: it moves no position */
        set_position(b, m->stream, m->id);
    b->published++;
    b->deliveries += (uint64_t)n;
    return n;
}

int bk_publish_batch(bk_t *b, const bk_pub_t *pubs, int n)
{
    int total = 0;
    wake_list_t w;
    w.n = 0;
    pthread_mutex_lock(&b->lock);
    w.serial = ++b->serial;
    for (int i = 0; i < n; i++) {
        if (pubs[i].msg)
            total += publish_one(b, pubs[i].msg, pubs[i].rooms, pubs[i].nrooms, &w);
        else
            set_position(b, pubs[i].stream, pubs[i].id);
    }
    wake_flush(&w);
    pthread_mutex_unlock(&b->lock);
    return total;
}

int bk_publish(bk_t *b, msg_t *m, const char *const *rooms, int nrooms)
{
    bk_pub_t p = {.msg = m, .nrooms = nrooms > BK_PUB_MAX_ROOMS ? BK_PUB_MAX_ROOMS : nrooms};
    for (int i = 0; i < p.nrooms; i++)
        p.rooms[i] = rooms[i];
    return bk_publish_batch(b, &p, 1);
}

void bk_set_position(bk_t *b, int stream, cur_id_t id)
{
    pthread_mutex_lock(&b->lock);
    set_position(b, stream, id);
    pthread_mutex_unlock(&b->lock);
}

void bk_position(bk_t *b, cur_t *pos)
{
    pthread_mutex_lock(&b->lock);
    pos->known = b->known;
    memcpy(pos->pos, b->pos, sizeof(pos->pos));
    pthread_mutex_unlock(&b->lock);
}

void bk_get_stats(bk_t *b, bk_stats_t *out)
{
    pthread_mutex_lock(&b->lock);
    out->published = b->published;
    out->deliveries = b->deliveries;
    out->rooms = (int)b->rooms.n;
    out->members = b->nmembers;
    pthread_mutex_unlock(&b->lock);
}
