/* relay.c - client room names, the relay allow-list and the token bucket behind relay_rate.
 * The bucket counts in units of 1/per_ms token so refills are exact integers: no float drift,
 * no rounding that would let a client slowly exceed its rate. */
#include "relay.h"

#include <string.h>

#include "dg.h"
#include "route.h"

int relay_room_type(const cfg_t *c, const char *room, size_t len)
{
    if (c->nclient_rooms == 0)
        return DG_ENOTFOUND;
    const char *colon = room ? memchr(room, ':', len) : NULL;
    if (!colon)
        return DG_EINVAL;
    size_t tn = (size_t)(colon - room), idn = len - tn - 1;
    int type = DG_ENOTFOUND;
    for (int i = 0; i < c->nclient_rooms; i++) {
        if (strlen(c->client_rooms[i]) == tn && memcmp(c->client_rooms[i], room, tn) == 0) {
            type = i;
            break;
        }
    }
    if (type < 0)
        return type;
    if (idn == 0 || (long)idn > c->max_id_len || len >= ROUTE_ROOM_MAX)
        return DG_EINVAL;
    for (size_t i = 0; i < idn; i++)
        if (colon[1 + i] <= ' ' || colon[1 + i] > '~')
            return DG_EINVAL;
    return type;
}

int relay_event_allowed(const cfg_t *c, const char *name, size_t len)
{
    for (int i = 0; name && i < c->nrelay_events; i++)
        if (strlen(c->relay_events[i]) == len && memcmp(c->relay_events[i], name, len) == 0)
            return 1;
    return 0;
}

relay_limit_t relay_limit_of(const cfg_t *c)
{
    relay_limit_t l = {c->relay_rate_count, c->relay_rate_per_ms, c->relay_burst};
    return l;
}

static long long capacity(const relay_limit_t *l)
{
    return (long long)l->burst * l->per_ms;
}

void relay_bucket_init(relay_bucket_t *b, const relay_limit_t *l, long long now_ms)
{
    b->credit = capacity(l);
    b->last_ms = now_ms;
}

static void refill(relay_bucket_t *b, const relay_limit_t *l, long long now_ms)
{
    if (now_ms <= b->last_ms)
        return;
    long long cap = capacity(l), elapsed = now_ms - b->last_ms;
    b->last_ms = now_ms;
    /* Past a full refill the exact elapsed time no longer matters, and capping it first keeps
     * elapsed * count far from overflowing. */
    if (elapsed > cap / l->count + 1)
        elapsed = cap / l->count + 1;
    b->credit += elapsed * l->count;
    if (b->credit > cap)
        b->credit = cap;
}

int relay_bucket_take(relay_bucket_t *b, const relay_limit_t *l, long long now_ms)
{
    refill(b, l, now_ms);
    if (b->credit < l->per_ms)
        return 0;
    b->credit -= l->per_ms;
    return 1;
}

long long relay_bucket_wait_ms(const relay_bucket_t *b, const relay_limit_t *l, long long now_ms)
{
    relay_bucket_t t = *b;
    refill(&t, l, now_ms);
    if (t.credit >= l->per_ms)
        return 0;
    long long missing = l->per_ms - t.credit;
    return (missing + l->count - 1) / l->count;
}
