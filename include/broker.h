/* broker.h - the room broker: rooms by name ("job:<id>", "queue:<name>", "logs"), each a list
 * of subscribers; publish hands one shared msg to every matching subscriber. It never talks to
 * Redis or to a socket: delivery is the subscriber's deliver() callback, which only queues.
 *
 * Locking: one broker mutex guards rooms and memberships. deliver() runs with it held and may
 * take its owner's connection lock, never the other way round (lock order: broker -> connection).
 * The broker also remembers, per stream, the id of the last message published, so a joiner
 * learns exactly which ids it will receive live (everything after that position). */
#ifndef BROKER_H
#define BROKER_H

#include <stdint.h>

#include "cursor.h"
#include "msg.h"

typedef struct bk bk_t;
typedef struct bk_member bk_member_t; /* private: one (room, subscriber) pair */
typedef struct bk_sub bk_sub_t;

#define BK_NS_MAX 64

/* What a membership lets through; zeroed means everything. */
typedef struct bk_filter {
    uint32_t streams;      /* bitmask of stream indexes; 0 = every stream */
    int min_level;         /* logs: minimum CFG_LOG_* level */
    char ns[BK_NS_MAX];    /* logs: exact namespace, "" = all */
} bk_filter_t;

/* Embedded by the owner (a connection); set deliver/owner before the first join. */
struct bk_sub {
    /* public */
    void (*deliver)(bk_sub_t *s, msg_t *m); /* broker lock held: must not block; takes its own ref */
    void (*wake)(bk_sub_t *s); /* optional; broker lock held: called once per publish call for
                                * each subscriber that got messages, after all of them (so a
                                * writer wakes once per batch, not once per message) */
    void *owner;
    /* private */
    bk_member_t *members;
    uint64_t last_serial;
    uint64_t wake_serial;
    int nrooms;
};

/* Thread: any (normally main, before readers and server start). NULL on ENOMEM. */
bk_t *bk_new(void);
/* Every subscriber must have left. Thread: main, after everything else stopped. */
void bk_free(bk_t *b);

/* Joins room (copied) with filter f (NULL = all); joining again replaces the filter.
 * If pos is not NULL it receives the last published id of every stream, atomically with the
 * join. Returns 0, DG_ELIMIT (max_rooms_per_sub reached) or DG_ENOMEM. Thread: any. */
int bk_join(bk_t *b, bk_sub_t *s, const char *room, const bk_filter_t *f, cur_t *pos);
/* Returns 0 or DG_ENOTFOUND. Thread: any. */
int bk_leave(bk_t *b, bk_sub_t *s, const char *room);
/* Leaves every room; O(rooms of s). Call before the owner is freed. Thread: any. */
void bk_leave_all(bk_t *b, bk_sub_t *s);
/* 1 if s is in room. Thread: any. */
int bk_is_member(bk_t *b, bk_sub_t *s, const char *room);

/* Delivers m to every subscriber of the given rooms (at most BK_PUB_MAX_ROOMS) whose filter
 * matches, at most once per subscriber, and records m's id as its stream's position; wakes
 * the subscribers it reached. Returns the number of deliveries.
 * The caller keeps its reference. Thread: any; readers call it. */
int bk_publish(bk_t *b, msg_t *m, const char *const *rooms, int nrooms);

/* One step of a publish batch: a message for rooms, or (msg NULL) only a position. */
#define BK_PUB_MAX_ROOMS 4

typedef struct bk_pub {
    msg_t *msg;
    const char *rooms[BK_PUB_MAX_ROOMS];
    int nrooms;
    int stream;  /* used when msg is NULL */
    cur_id_t id; /* used when msg is NULL */
} bk_pub_t;

/* Publishes pubs in order under one lock hold, then wakes each subscriber that received
 * anything once. Positions advance exactly as the steps say, so a joiner never sees a
 * position ahead of a message it did not get. Returns the number of deliveries. Thread: any. */
int bk_publish_batch(bk_t *b, const bk_pub_t *pubs, int n);

/* Sets stream's position without a message (reader start, skipped entries). Thread: any. */
void bk_set_position(bk_t *b, int stream, cur_id_t id);

/* The last published id of every stream (known and pos; n is the caller's), as bk_join's pos
 * without joining. Thread: any. */
void bk_position(bk_t *b, cur_t *pos);

/* 1 if filter f lets m through (what publish applies per membership). Thread: any. */
int bk_filter_match(const bk_filter_t *f, const msg_t *m);

/* Counters for /health. Thread: any. */
typedef struct bk_stats {
    uint64_t published;
    uint64_t deliveries;
    int rooms;
    int members;
} bk_stats_t;
void bk_get_stats(bk_t *b, bk_stats_t *out);

#define BK_MAX_ROOMS_PER_SUB 1024

#endif
