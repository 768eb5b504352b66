/* sio.h - Socket.IO v5 codec: packet decoder with a bounded JSON validator of its own (JSON is
 * never reshaped: data stays the client's exact text), event name/argument helpers, a
 * binary-attachment assembler, and packet encoders. Pure: no I/O, no logging, no globals.
 * It is not the namespace/room logic: which namespaces exist and what to answer is the glue's.
 * Thread: any; an assembler object is used by one thread at a time.
 *
 * Decoding takes the data of one Engine.IO message (without its leading '4'). Every encoder
 * here produces a whole Engine.IO text packet, leading '4' included, ready for a WebSocket
 * text frame or eio_payload_append_raw(). Binary attachments travel as separate Engine.IO
 * binary messages right after their packet.
 *
 * Conformance echo, for example: decode "51-[\"message\",1,{\"_placeholder\":true,\"num\":0}]"
 * (BINARY_EVENT, 1 attachment) -> sio_binasm collects the attachment -> sio_event_args() gives
 * "1,{\"_placeholder\":true,\"num\":0}" -> sio_encode_event(.., "message-back", args, nattach 1)
 * and resend the attachment bytes as they came. Acks likewise with sio_encode_ack(). */
#ifndef SIO_H
#define SIO_H

#include <stddef.h>

#define SIO_PROTOCOL 5

enum sio_type {
    SIO_CONNECT = 0,
    SIO_DISCONNECT = 1,
    SIO_EVENT = 2,
    SIO_ACK = 3,
    SIO_CONNECT_ERROR = 4,
    SIO_BINARY_EVENT = 5,
    SIO_BINARY_ACK = 6
};

#define SIO_NSP_MAX 128 /* longest namespace accepted, bytes */
#define SIO_ACK_ID_MAX 2147483647L
#define SIO_JSON_DEPTH_MAX 64 /* deepest JSON nesting accepted */
#define SIO_ATTACH_DEFAULT 10 /* socket.io-parser's default maxAttachments */

/* A decoded packet. Pointers go into the decoded text (nsp may point to a static "/"). */
typedef struct sio_packet {
    int type;        /* enum sio_type */
    int nattach;     /* attachments announced by a BINARY_* packet, else 0 */
    const char *nsp; /* namespace, "/" when absent; not NUL-terminated */
    size_t nsp_len;
    long ack_id;      /* -1 when none */
    const char *data; /* JSON text exactly as received, NULL when absent */
    size_t data_len;
} sio_packet_t;

/* ---- Decoding ------------------------------------------------------------------------------ */

/* Decodes one Socket.IO packet from s[0..len) (an Engine.IO message's text). Validates like
 * socket.io-parser: type 0-6; BINARY_* need "N-" with 1 <= N <= max_attach; ack id digits up to
 * SIO_ACK_ID_MAX; data must be one JSON value (JSON whitespace around it allowed) of the kind
 * the type needs: CONNECT object or absent, DISCONNECT absent, EVENT/BINARY_EVENT non-empty array
 * whose first element is a string that is not a reserved event name, ACK/BINARY_ACK array,
 * CONNECT_ERROR object or string. Returns 0, DG_EPROTO or DG_ELIMIT (too many attachments,
 * namespace too long, JSON too deep) with errstr set (errstr may be NULL). */
int sio_decode(const char *s, size_t len, int max_attach, sio_packet_t *out, char *errstr,
               size_t errlen);

/* 1 when p's namespace is nsp (NUL-terminated), else 0. */
int sio_nsp_is(const sio_packet_t *p, const char *nsp);

enum sio_json_kind {
    SIO_JSON_OBJECT = 1,
    SIO_JSON_ARRAY,
    SIO_JSON_STRING,
    SIO_JSON_NUMBER,
    SIO_JSON_TRUE,
    SIO_JSON_FALSE,
    SIO_JSON_NULL
};

/* Checks that s[0..len) is exactly one JSON value (RFC 8259 grammar, surrounding whitespace
 * allowed, nesting at most max_depth <= SIO_JSON_DEPTH_MAX). Returns 0 with *kind (may be
 * NULL) set to an enum sio_json_kind, DG_EPROTO, or DG_ELIMIT (too deep). No allocation. */
int sio_json_validate(const char *s, size_t len, int max_depth, int *kind);

/* The first element of an event's data array as a decoded string: *name points into data when
 * the string has no escapes, else into buf (escapes decoded to UTF-8; a lone surrogate becomes
 * U+FFFD). Returns 0, DG_EPROTO (not an array starting with a string) or DG_ELIMIT (cap too
 * small). data must have passed sio_decode() or sio_json_validate(). */
int sio_event_name(const char *data, size_t len, char *buf, size_t cap, const char **name,
                   size_t *name_len);

/* The raw text of the array elements after the first: ["message",1,"2",{"a":3}] gives
 * 1,"2",{"a":3} (a pointer into data, whitespace around it trimmed; length 0 when there are
 * none). Returns 0 or DG_EPROTO. data must have passed validation. */
int sio_event_args(const char *data, size_t len, const char **args, size_t *args_len);

/* ---- Binary packet assembly ---------------------------------------------------------------- */

enum sio_binasm_state { SIO_BA_IDLE = 0, SIO_BA_COLLECTING, SIO_BA_COMPLETE };

/* Embeddable; every field is private. Holds one packet text and its attachments. */
typedef struct sio_binasm {
    char *buf; /* packet text, then the attachments back to back */
    size_t len, cap;
    size_t *off; /* off[i]: start of attachment i in buf; off[n]: end */
    int n, have, max_attach;
    size_t max_bytes;
    size_t text_len;
    sio_packet_t pkt; /* offsets into buf until complete (see sio_binasm_packet) */
    enum sio_binasm_state state;
} sio_binasm_t;

/* Prepares b: at most max_attach attachments, max_bytes for packet text + attachments. */
void sio_binasm_init(sio_binasm_t *b, int max_attach, size_t max_bytes);

/* Starts a BINARY_EVENT / BINARY_ACK: pkt was decoded from text[0..len) by sio_decode; the
 * text is copied. Returns DG_EAGAIN (now feed pkt->nattach binary messages), DG_EINVAL (not a
 * binary packet, or one already in progress: socket.io-parser treats a text message during
 * reconstruction as an error), DG_ELIMIT, DG_ENOMEM. */
int sio_binasm_start(sio_binasm_t *b, const char *text, size_t len, const sio_packet_t *pkt);

/* Adds the next attachment (copied). Returns DG_EAGAIN (more to come), 0 (complete: read it
 * with sio_binasm_packet / sio_binasm_attachment, then sio_binasm_reset), DG_EPROTO (nothing
 * in progress: a stray binary message), DG_ELIMIT (max_bytes), DG_ENOMEM. After an error the
 * packet is unusable: sio_binasm_reset() before the next one (the glue normally closes). */
int sio_binasm_add(sio_binasm_t *b, const void *data, size_t len);

/* 1 while attachments are awaited. */
int sio_binasm_pending(const sio_binasm_t *b);

/* The completed packet (pointers into b, valid until reset/free), or NULL if not complete. */
const sio_packet_t *sio_binasm_packet(sio_binasm_t *b);

/* Attachment i (0 <= i < nattach) of the completed packet, or NULL. */
const void *sio_binasm_attachment(const sio_binasm_t *b, int i, size_t *len);

/* Drops the packet (complete or not) and keeps the limits; frees memory over a small size. */
void sio_binasm_reset(sio_binasm_t *b);

/* Frees everything. */
void sio_binasm_free(sio_binasm_t *b);

/* ---- Encoding ------------------------------------------------------------------------------ */
/* Every builder writes an Engine.IO text packet ('4' first) into buf, NUL-terminates it and
 * returns its length; DG_ELIMIT when it does not fit in cap (NUL included), DG_EINVAL for a
 * bad argument (type, namespace not starting with '/' or containing ',', ack id out of range,
 * nattach < 0 or > 0 with a non-binary meaning). nsp NULL or "/" is the main namespace. */

/* Longest header: '4', type, attachments "N-", namespace + ',', ack id, NUL. */
#define SIO_HDR_MAX (2 + 11 + SIO_NSP_MAX + 1 + 10 + 1)

/* Upper bound of an EVENT/ACK packet built by the functions below. */
#define SIO_EVENT_SIZE(name_len, args_len) (SIO_HDR_MAX + 6 * (name_len) + (args_len) + 8)

/* Writes the header only: "4" type ["N-"] ["/nsp,"] [ack id], e.g. "42", "42/logs,", "4317",
 * "451-/custom,12". For SIO_BINARY_EVENT/ACK "N-" is always written (nattach >= 1); for other
 * types nattach must be 0. ack_id -1 means none. The JSON data follows the header directly. */
int sio_encode_header(char *buf, size_t len, int type, const char *nsp, long ack_id, int nattach);

/* CONNECT answer: 40{"sid":"SID"} / 40/logs,{"sid":"SID"}. sid is JSON-escaped. */
int sio_encode_connect(char *buf, size_t cap, const char *nsp, const char *sid);
/* CONNECT with connection-state recovery: 40/nsp,{"sid":"SID","pid":"PID"}. */
int sio_encode_connect_pid(char *buf, size_t cap, const char *nsp, const char *sid,
                           const char *pid);

/* CONNECT_ERROR: 44/nsp,{"message":"MESSAGE"}, e.g. "Invalid namespace". */
int sio_encode_connect_error(char *buf, size_t cap, const char *nsp, const char *message);

/* DISCONNECT: 41 / 41/nsp, */
int sio_encode_disconnect(char *buf, size_t cap, const char *nsp);

/* EVENT ["NAME",ARGS] (name JSON-escaped, args raw JSON text of zero or more comma-separated
 * values, copied as is). nattach > 0 makes it a BINARY_EVENT whose args carry the
 * placeholders; ack_id -1 for none. */
int sio_encode_event(char *buf, size_t cap, const char *nsp, long ack_id, int nattach,
                     const char *name, size_t name_len, const char *args, size_t args_len);

/* ACK [ARGS] for ack_id (required); nattach > 0 makes it a BINARY_ACK. */
int sio_encode_ack(char *buf, size_t cap, const char *nsp, long ack_id, int nattach,
                   const char *args, size_t args_len);

/* Writes s[0..len) as a JSON string (quotes included, escaped as JSON.stringify does) into
 * buf; no NUL. Returns the length or DG_ELIMIT (6 * len + 2 bytes always suffice). */
int sio_json_quote(char *buf, size_t cap, const char *s, size_t len);

#endif
