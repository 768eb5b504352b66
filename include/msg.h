/* msg.h - one event, encoded once per wire format, shared read-only by every subscriber.
 * A msg is refcounted: the creator holds one reference; each queue that keeps it takes one.
 * It is not a parser and does no I/O. */
#ifndef MSG_H
#define MSG_H

#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>

#include "cursor.h"

/* MSG_PACKET / MSG_PACKET_BIN: a session-private Engine.IO packet (pong, an ack, an echoed
 * attachment) built by msg_new_packet(); only ws/ws_len/ws_hdr_len are set. */
/* MSG_ROUTE: an event of a routed stream or channel (route.h), for namespace "/". */
/* MSG_RELAY: a client event relayed to a room (relay.h), for namespace "/"; ns holds the
 * sending session's Engine.IO sid (it is not sent back there), id and stream mean nothing. */
enum msg_kind {
    MSG_JOB = 0,
    MSG_LOG = 1,
    MSG_PACKET = 2,
    MSG_PACKET_BIN = 3,
    MSG_ROUTE = 4,
    MSG_RELAY = 5
};

/* Public read-only after msg_new_*() returns. */
typedef struct msg {
    atomic_int refs;       /* private */
    uint8_t kind;          /* enum msg_kind */
    uint8_t stream;        /* index of the source stream: queue index, or the log stream's index */
    uint8_t level;         /* logs: CFG_LOG_* of the entry */
    cur_id_t id;           /* source Redis stream id */
    const char *event;     /* event name ("completed", "log", ...) */
    const char *ns;        /* logs: the entry's ns; relays: the sender's sid; NULL for jobs */
    const char *json;      /* the payload object: {"queue":..,"jobId":..,...} or {ts,level,ns,msg} */
    size_t json_len;
    const char *sse;       /* "event: NAME\ndata: JSON\n\n" (no id line: ids are per connection) */
    size_t sse_len;
    const unsigned char *ws; /* WebSocket text frame carrying the Socket.IO packet */
    size_t ws_len;
    size_t ws_hdr_len;     /* ws + ws_hdr_len is the bare packet (42["event",{...}]) for polling */
} msg_t;

/* Builds a message from an event name and its JSON payload (copied); nsp is the Socket.IO
 * namespace ("/" or "/logs"). Returns NULL on ENOMEM. The caller owns one reference. Thread: any. */
msg_t *msg_new(uint8_t kind, uint8_t stream, cur_id_t id, const char *event, const char *json,
               size_t json_len, const char *nsp, uint8_t level, const char *ns);

/* Builds a session-private message around one Engine.IO packet pkt[0..len) (copied): a text
 * packet such as "3" or "43/logs,1[...]" (binary 0), or the raw bytes of a binary message
 * (binary 1, kind MSG_PACKET_BIN). ws is the ready WebSocket frame (text or binary opcode);
 * ws + ws_hdr_len is the packet itself. NULL on ENOMEM. The caller owns one reference.
 * Thread: any. */
msg_t *msg_new_packet(const char *pkt, size_t len, int binary);

/* Reference counting; msg_unref frees on the last one. Thread: any. */
void msg_ref(msg_t *m);
void msg_unref(msg_t *m);

#endif
