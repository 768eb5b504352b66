/* relay.h - client rooms and relayed client events, as the HomeTrip gateway has them: which
 * rooms a client may join_room / leave_room (client_rooms: room types, rooms "<type>:<id>"),
 * which events it may send to a room's other members (relay_events), and a per-socket token
 * bucket for relay_rate / relay_burst. Off unless configured. Pure: no I/O, no clock of its own
 * (callers pass the time), no logging. Access (acl_allows_room) is checked separately.
 * Thread: any; a bucket belongs to one socket and is used under that socket's lock. */
#ifndef RELAY_H
#define RELAY_H

#include <stddef.h>

#include "config.h"

/* Index into c->client_rooms of room[0..len)'s type when room is "<type>:<id>" with a
 * configured type and an id of 1..max_id_len printable ASCII bytes without spaces (the whole
 * room shorter than ROUTE_ROOM_MAX). DG_ENOTFOUND when the type is not configured (or client
 * rooms are off); DG_EINVAL for a bad id or a room without ':'. */
int relay_room_type(const cfg_t *c, const char *room, size_t len);

/* 1 if event name[0..len) is in relay_events. */
int relay_event_allowed(const cfg_t *c, const char *name, size_t len);

/* The rate of relay_rate / relay_burst: count tokens every per_ms, at most burst saved up. */
typedef struct relay_limit {
    int count;  /* >= 1 */
    int per_ms; /* >= 1 */
    int burst;  /* >= 1 */
} relay_limit_t;

/* The limit c configures. */
relay_limit_t relay_limit_of(const cfg_t *c);

/* One socket's bucket; embeddable, fields private. Exact integer arithmetic: a credit of
 * per_ms units is one token, each elapsed millisecond adds count units. */
typedef struct relay_bucket {
    long long credit;
    long long last_ms;
} relay_bucket_t;

/* Starts b full (burst tokens) at now_ms (any monotonic milliseconds). */
void relay_bucket_init(relay_bucket_t *b, const relay_limit_t *l, long long now_ms);

/* Takes one token at now_ms: 1 (relay the event) or 0 (over the limit: drop it, and ack an
 * error when the client asked for one). A clock that went backwards adds nothing. */
int relay_bucket_take(relay_bucket_t *b, const relay_limit_t *l, long long now_ms);

/* Milliseconds from now_ms until a token is available (0 when one is). */
long long relay_bucket_wait_ms(const relay_bucket_t *b, const relay_limit_t *l, long long now_ms);

#endif
