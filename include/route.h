/* route.h - routed sources: the `routes` key maps a Redis Stream or Pub/Sub channel to an event
 * name and a room template, and turns one stream entry or channel message into the payload JSON
 * and the room it goes to. Pure: no I/O, no logging, no globals; the Redis readers and the
 * transports call it. It does not subscribe, read or deliver anything itself.
 *
 * Syntax (the whole `routes` value; spaces around items are ignored):
 *   routes   = route *( "," route )
 *   route    = ("channel" | "stream") ":" key "=" event "@" template
 *   key      = 1..255 printable ASCII bytes, no space, ',' or '='; channels no '*', '?', '['
 *              (patterns are not subscribed)
 *   event    = 1..63 of A-Z a-z 0-9 _ . : - ; not a Socket.IO reserved name (connect, ...)
 *   template = "all" | 1..255 printable ASCII bytes, no space or ',', where "{path}" is a
 *              placeholder (at most ROUTE_FIELDS_MAX); no other '{' or '}'
 * e.g. `channel:notifications=notification-received@user:{user_id},
 *       stream:user-status=user-status-changed@all`
 *
 * Placeholders name a value of the payload (jpath.h): a top-level member "user_id", or, when
 * no member has that exact name, a dotted path into nested objects "user.id". A string is
 * inserted as it is, a number as String(n) ("42"). Missing values, null, booleans, objects,
 * arrays, empty strings, control characters (< 0x20, 0x7f), a room over 255 bytes, or a room
 * route_room_reserved() names are errors: the caller logs, counts and skips the message.
 * The template `all` means every socket of namespace "/" (out->all); a placeholder that
 * expands to "all" is an error, so a payload can never broadcast by itself.
 *
 * Payloads: a channel message is the JSON message itself (any JSON value; an object when the
 * template has placeholders). A stream entry's payload is its `data` field parsed as JSON, or,
 * without a `data` field, its fields as an object of strings {"field":"value",...} (the last
 * of repeated names wins). Either way the payload is re-serialized as JSON.stringify writes it:
 * compact, one line, safe for an SSE `data:` line and a Socket.IO packet. */
#ifndef ROUTE_H
#define ROUTE_H

#include <stddef.h>

#include "decode.h"

#define ROUTE_MAX 32              /* routes per table */
#define ROUTE_KEY_MAX 256         /* stream key / channel name, NUL included */
#define ROUTE_EVENT_MAX 64        /* event name, NUL included */
#define ROUTE_ROOM_MAX 256        /* template and expanded room, NUL included */
#define ROUTE_FIELDS_MAX 8        /* placeholders per template */
#define ROUTE_PAYLOAD_MAX 1048576 /* largest message or `data` field accepted, bytes */

enum route_kind { ROUTE_CHANNEL = 1, ROUTE_STREAM = 2 };

/* A parsed room template. Embeddable; read-only after route_tmpl_parse. */
typedef struct route_tmpl {
    char text[ROUTE_ROOM_MAX]; /* public: as configured, e.g. "user:{user_id}" */
    int all;                   /* public: 1 for the template "all" */
    int nfields;               /* public: number of placeholders */
    struct {
        unsigned short off, len; /* private: path span inside text (without the braces) */
    } field[ROUTE_FIELDS_MAX];
} route_tmpl_t;

/* One route; every field public and read-only. */
typedef struct route {
    int kind;                    /* enum route_kind */
    char key[ROUTE_KEY_MAX];     /* stream key or channel name */
    char event[ROUTE_EVENT_MAX]; /* event name sent to clients */
    route_tmpl_t room;
} route_t;

/* Every route of one `routes` value, in configured order. Embeddable (about 20 KiB); fields
 * public and read-only. err is sticky: a table whose parse failed stays empty and failed. */
typedef struct route_table {
    route_t route[ROUTE_MAX];
    int n;
    int err;          /* 0, or the error route_table_parse returned */
    char errstr[160]; /* why, when err != 0 */
} route_table_t;

/* What one message becomes. json is malloc'd and owned by the struct: route_out_clear(). */
typedef struct route_out {
    char *json; /* payload as JSON.stringify writes it, NUL-terminated */
    size_t json_len;
    char room[ROUTE_ROOM_MAX]; /* expanded room ("" when all) */
    size_t room_len;
    int all; /* 1: every socket of namespace "/" */
} route_out_t;

/* Parses a whole `routes` value (NUL-terminated; "" means no routes) into t. Returns 0, or
 * DG_EINVAL with t empty, t->err set and the reason ("route 2 'stream:x': ...") in t->errstr
 * and in errstr (may be NULL). Thread: any. */
int route_table_parse(route_table_t *t, const char *spec, char *errstr, size_t errlen);

/* The route for (kind, key), or NULL (none, or a failed table). Thread: any. */
const route_t *route_find(const route_table_t *t, int kind, const char *key, size_t len);

/* Parses one template s[0..len) into t. Returns 0 or DG_EINVAL with errstr. Thread: any. */
int route_tmpl_parse(route_tmpl_t *t, const char *s, size_t len, char *errstr, size_t errlen);

/* Expands t with values from payload (a jansson value; must be an object when t has
 * placeholders) into room[0..cap), NUL-terminated. Returns the room length (0 for `all`, with
 * room ""), DG_EPROTO (missing / unusable value, reserved room: errstr names the placeholder,
 * never its value), DG_ELIMIT (room longer than cap - 1 or ROUTE_ROOM_MAX - 1), DG_ENOMEM. */
int route_tmpl_expand(const route_tmpl_t *t, const struct json_t *payload, char *room, size_t cap,
                      char *errstr, size_t errlen);

/* 1 if room names one of the broker's own rooms, which routes and clients may never address:
 * "logs", "job:..." and "queue:..." (they carry job events and log lines under their own access
 * rules). Thread: any. */
int route_room_reserved(const char *room, size_t len);

/* Turns a Pub/Sub message of route r into out. Returns 0 (out filled; caller clears),
 * DG_EPROTO (not JSON, not an object where one is needed, bad room: errstr says which, never
 * quoting the payload), DG_ELIMIT (message over ROUTE_PAYLOAD_MAX, room too long), DG_ENOMEM.
 * On error out is cleared. Thread: any. */
int route_channel_message(const route_t *r, const char *msg, size_t len, route_out_t *out,
                          char *errstr, size_t errlen);

/* Same for a stream entry of route r (fields as the stream reader got them). Also DG_EPROTO
 * for an entry dec_fields_check refuses (no fields, an empty or NUL-holding name, text that is
 * not UTF-8) and for a `data` field that is not JSON. */
int route_stream_entry(const route_t *r, const dec_fields_t *f, route_out_t *out, char *errstr,
                       size_t errlen);

/* Frees out->json and zeroes out. Safe on a zeroed or already cleared out. */
void route_out_clear(route_out_t *out);

#endif
