/* rds_relay.c - relayed client events between instances: a PUBLISH request kind of the command
 * thread, and the channel thread's side that turns a relay message into a MSG_RELAY msg for
 * its room. The envelope is {"room","event","origin","data"}; not a route (route.h), whose
 * payloads come from other services and are rendered by template. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"
#include "eio.h"
#include "log.h"
#include "rds_int.h"

#define RELAY_TIMEOUT_MS 2000

typedef struct pub_req {
    rds_req_t q;
    size_t len;
    char *msg; /* after the struct */
} pub_req_t;

static int pub_append(rds_t *r, redisContext *c, rds_req_t *base)
{
    pub_req_t *q = (pub_req_t *)base;
    const char *argv[3] = {"PUBLISH", r->relay_channel, q->msg};
    size_t lens[3] = {7, strlen(r->relay_channel), q->len};
    return redisAppendCommandArgv(c, 3, argv, lens) == REDIS_OK ? 1 : -1;
}

static void pub_decode(rds_t *r, rds_req_t *base, redisReply **reps, int n)
{
    if (n < 1 || !reps[0] || reps[0]->type != REDIS_REPLY_INTEGER) {
        base->status = DG_EIO;
        snprintf(base->err, sizeof(base->err), "unexpected reply");
    } else {
        atomic_fetch_add(&r->relays_published, 1);
    }
}

static void pub_deliver(rds_t *r, rds_req_t *base)
{
    (void)r;
    (void)base; /* fire and forget */
}

static void pub_destroy(rds_req_t *base)
{
    free(base);
}

/* Not retried after a lost connection: a relay delivered twice is worse than one lost. */
static const rds_req_ops_t pub_ops = {pub_append, pub_decode, pub_deliver, pub_destroy, 0};

int rds_relay_publish(rds_t *r, const char *room, const char *event, const char *origin,
                      const char *data, size_t len)
{
    if (!r || !r->relay_on || !room || !event || !origin || !data || !room[0] || !event[0] ||
        strlen(room) >= ROUTE_ROOM_MAX || strlen(event) >= ROUTE_EVENT_MAX ||
        strlen(origin) > EIO_SID_LEN || len > ROUTE_PAYLOAD_MAX)
        return DG_EINVAL;
    json_t *d = json_loadb(data, len, JSON_DECODE_ANY, NULL);
    json_t *o = d ? json_pack("{s:s,s:s,s:s,s:o}", "room", room, "event", event, "origin", origin,
                              "data", d)
                  : NULL;
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!d)
        return DG_EINVAL;
    if (!text)
        return DG_ENOMEM;
    size_t tl = strlen(text);
    pub_req_t *q = malloc(sizeof(*q) + tl + 1);
    if (!q) {
        free(text);
        return DG_ENOMEM;
    }
    rds_req_init(&q->q, &pub_ops, RELAY_TIMEOUT_MS);
    q->msg = (char *)(q + 1);
    memcpy(q->msg, text, tl + 1);
    q->len = tl;
    free(text);
    int rc = rds_req_submit(r, &q->q);
    if (rc != 0)
        free(q);
    return rc;
}

void rds_relay_message(rds_t *r, const char *s, size_t len)
{
    json_t *o = json_loadb(s, len, 0, NULL);
    const char *room = json_string_value(json_object_get(o, "room"));
    const char *event = json_string_value(json_object_get(o, "event"));
    const char *origin = json_string_value(json_object_get(o, "origin"));
    const json_t *d = json_object_get(o, "data");
    char *data = d ? json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    atomic_fetch_add(&r->relays_received, 1);
    if (!room || !event || !origin || !data || !room[0] || strlen(room) >= ROUTE_ROOM_MAX ||
        !event[0] || strlen(event) >= ROUTE_EVENT_MAX) {
        atomic_fetch_add(&r->relays_malformed, 1);
        log_warn("redis", "relay channel %s: message skipped: not a relay envelope",
                 r->relay_channel);
    } else {
        cur_id_t none = {0, 0};
        msg_t *m = msg_new(MSG_RELAY, 0, none, event, data, strlen(data), "/", 0, origin);
        if (m) {
            const char *rooms[1] = {room};
            bk_publish(r->bk, m, rooms, 1);
            msg_unref(m);
        } else {
            log_error("redis", "relay channel: out of memory, message dropped");
        }
    }
    free(data);
    json_decref(o);
}
