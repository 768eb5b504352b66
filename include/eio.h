/* eio.h - Engine.IO v4 codec: packets, polling payloads, the open (handshake) packet, the
 * query string and handshake error answers, session ids, and the base64 used for binary over
 * polling. Pure: no I/O (except getrandom for sids), no logging, no globals. It is not the
 * transport: sessions, timers and HTTP/WebSocket handling live in the glue above it.
 * Thread: any; a decoder object is used by one thread at a time.
 *
 * Wire summary (what the glue sends and receives):
 *   WebSocket text frame  "<type><data>"        e.g. "2" ping, "3probe", "4" + Socket.IO packet
 *   WebSocket binary frame  raw bytes            a binary message (no type byte in v4)
 *   polling body          packets joined by 0x1e, binary messages as "b<base64>"
 *   upgrade               client "2probe" -> server "3probe"; client "5"; server answers a
 *                         pending polling GET with "6" (noop) so the old transport drains. */
#ifndef EIO_H
#define EIO_H

#include <stddef.h>

#define EIO_PROTOCOL 4
#define EIO_SEPARATOR '\x1e'
#define EIO_PROBE "probe"

enum eio_type {
    EIO_OPEN = 0,
    EIO_CLOSE = 1,
    EIO_PING = 2,
    EIO_PONG = 3,
    EIO_MESSAGE = 4,
    EIO_UPGRADE = 5,
    EIO_NOOP = 6
};

/* A decoded or to-be-encoded packet. Binary packets are always EIO_MESSAGE. */
typedef struct eio_packet {
    int type;         /* enum eio_type */
    int is_binary;    /* 1: data is raw bytes (binary message) */
    const char *data; /* not NUL-terminated; may be NULL when len is 0 */
    size_t len;
} eio_packet_t;

/* ---- base64 (standard alphabet, padded on output) ----------------------------------------- */

/* Length of the base64 text for n bytes (without NUL). */
size_t eio_b64_len(size_t n);

/* Encodes in[0..n) into out and NUL-terminates. Returns the text length, or DG_ELIMIT when
 * cap < eio_b64_len(n) + 1 (or the length would not fit an int). */
int eio_b64_encode(const void *in, size_t n, char *out, size_t cap);

/* Decodes base64 text (padding optional, no whitespace) into out; out may equal in (decoding
 * in place is safe). Returns 0 with *out_len, DG_EPROTO on a bad character or length, or
 * DG_ELIMIT when cap is too small (n / 4 * 3 + 2 bytes always suffice). */
int eio_b64_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *out_len);

/* ---- Single packets ------------------------------------------------------------------------ */

/* Decodes one packet: a WebSocket frame (is_binary_frame 1: a binary message of the raw bytes;
 * 0: a text packet) or one packet of a polling payload. A text "b<base64>" packet is decoded
 * into bin[0..bincap) (may be NULL: then it fails with DG_ELIMIT). out->data points into data
 * or bin. Returns 0, DG_EPROTO (empty packet, unknown type, bad base64) or DG_ELIMIT. */
int eio_packet_decode(const char *data, size_t len, int is_binary_frame, char *bin, size_t bincap,
                      eio_packet_t *out);

/* Writes the text packet "<type><data>" (what a WebSocket text frame carries) into buf and
 * NUL-terminates. Returns its length, DG_ELIMIT (cap too small) or DG_EINVAL (bad type). */
int eio_packet_encode(char *buf, size_t cap, int type, const char *data, size_t len);

/* ---- Polling payload encoder (GET response body) ------------------------------------------ */

/* Bytes p takes in a payload, separator not included ("b" + base64 for binary). */
size_t eio_payload_packet_len(const eio_packet_t *p);

/* Total length of the payload made of pkts[0..n), separators included. */
size_t eio_payload_len(const eio_packet_t *pkts, size_t n);

/* Appends p to the payload in buf[0..*pos), preceded by 0x1e unless *pos is 0, and advances
 * *pos. No NUL is written. Returns 0, DG_ELIMIT (does not fit; buf and *pos unchanged) or
 * DG_EINVAL (bad type). */
int eio_payload_append(char *buf, size_t cap, size_t *pos, const eio_packet_t *p);

/* Same for an already encoded text packet such as msg_t's "42[...]" bytes. */
int eio_payload_append_raw(char *buf, size_t cap, size_t *pos, const char *pkt, size_t len);

/* Encodes pkts[0..n) as one payload; returns 0 with *out_len, DG_ELIMIT or DG_EINVAL. */
int eio_payload_encode(const eio_packet_t *pkts, size_t n, char *buf, size_t cap, size_t *out_len);

/* ---- Polling payload decoder (POST request body) ------------------------------------------ */

enum eio_pdec_state { EIO_PDEC_BODY = 0, EIO_PDEC_END, EIO_PDEC_DONE, EIO_PDEC_ERROR };

/* Embeddable; every field is private. */
typedef struct eio_pdec {
    char *buf;
    size_t len, cap;
    size_t pos;   /* start of the next packet in buf */
    size_t scan;  /* where the search for the next separator resumes */
    size_t total; /* body bytes fed so far */
    size_t max;
    enum eio_pdec_state state;
    int err;
    char errstr[64];
} eio_pdec_t;

/* Prepares d for one body of at most max_payload bytes (the maxPayload of the open packet). */
void eio_pdec_init(eio_pdec_t *d, size_t max_payload);

/* Appends body bytes (copied). Returns 0, DG_ELIMIT when the body exceeds max_payload (answer
 * 413), DG_EINVAL after eio_pdec_finish, DG_ENOMEM. Errors are sticky. */
int eio_pdec_feed(eio_pdec_t *d, const char *data, size_t len);

/* Marks the end of the body: the bytes after the last separator become the last packet.
 * Returns 0 or the sticky error. */
int eio_pdec_finish(eio_pdec_t *d);

/* Returns 0 with the next packet in *out (data valid until the next call on d; binary
 * messages are already base64-decoded), DG_EAGAIN (feed more or finish), DG_ECLOSED (body
 * finished and every packet returned), or a sticky DG_EPROTO (empty body or packet, unknown
 * type, bad base64) / DG_ELIMIT / DG_ENOMEM. Packets before a bad one are still returned. */
int eio_pdec_next(eio_pdec_t *d, eio_packet_t *out);

/* Describes the sticky error ("" when none). */
const char *eio_pdec_errstr(const eio_pdec_t *d);

/* Forgets the body (keeps the buffer) so d can decode the next POST with the same limit. */
void eio_pdec_reset(eio_pdec_t *d);

/* Frees the buffer. */
void eio_pdec_free(eio_pdec_t *d);

/* ---- Open packet --------------------------------------------------------------------------- */

/* Large enough for any open packet built from an EIO_SID_LEN sid (64-bit values included). */
#define EIO_OPEN_MAX 192

/* Writes 0{"sid":"..","upgrades":["websocket"],"pingInterval":N,"pingTimeout":N,"maxPayload":N}
 * (upgrades [] when can_upgrade is 0, i.e. the transport already is websocket) into buf and
 * NUL-terminates. sid must be URL-safe (no JSON escaping is done). Returns the length,
 * DG_ELIMIT or DG_EINVAL. */
int eio_open_encode(char *buf, size_t cap, const char *sid, int can_upgrade,
                    unsigned long ping_interval_ms, unsigned long ping_timeout_ms,
                    unsigned long max_payload);

/* ---- Session ids --------------------------------------------------------------------------- */

#define EIO_SID_RAW 15 /* random bytes */
#define EIO_SID_LEN 20 /* characters: URL-safe base64 of 15 bytes */

/* Formats raw as 20 URL-safe base64 characters ('-' and '_' for '+' and '/') plus NUL. */
void eio_sid_format(const unsigned char raw[EIO_SID_RAW], char out[EIO_SID_LEN + 1]);

/* Fills out with a fresh unguessable sid (getrandom(2)). Returns 0 or DG_EIO. */
int eio_sid_generate(char out[EIO_SID_LEN + 1]);

/* Returns 1 when s[0..len) has the shape of a sid this module generates, else 0. */
int eio_sid_valid(const char *s, size_t len);

/* ---- Query string and handshake errors ---------------------------------------------------- */

enum eio_transport {
    EIO_TRANSPORT_UNKNOWN = 0, /* absent or not one we serve; also "no such session" below */
    EIO_TRANSPORT_POLLING = 1,
    EIO_TRANSPORT_WEBSOCKET = 2
};

#define EIO_QS_VALUE_MAX 64 /* bytes kept of a value, NUL included */

/* Decoded query parameters; absent ones are "" / 0. */
typedef struct eio_query {
    int eio; /* 4 when EIO is exactly "4", else 3 (engine.io's rule) */
    int has_eio;
    int transport; /* enum eio_transport */
    char transport_name[EIO_QS_VALUE_MAX];
    char sid[EIO_QS_VALUE_MAX]; /* "" when absent or empty: a handshake */
    char t[EIO_QS_VALUE_MAX];   /* cache buster, unused by the server */
    int has_b64;                /* b64 present (Engine.IO v3 only) */
    int has_j;                  /* j present: JSONP polling asked for */
    char j[EIO_QS_VALUE_MAX];
} eio_query_t;

/* Parses a raw query string (without '?') as URLSearchParams does: '&'-separated key=value,
 * '+' as space, %XX decoded (a malformed escape stays literal), last occurrence wins, unknown
 * keys ignored. Returns 0 or DG_ELIMIT (a value of a known key longer than
 * EIO_QS_VALUE_MAX - 1 bytes once decoded; q is then incomplete). */
int eio_query_parse(const char *qs, size_t len, eio_query_t *q);

enum eio_error {
    EIO_ERR_NONE = -1,
    EIO_ERR_UNKNOWN_TRANSPORT = 0,
    EIO_ERR_UNKNOWN_SID = 1,
    EIO_ERR_BAD_HANDSHAKE_METHOD = 2,
    EIO_ERR_BAD_REQUEST = 3,
    EIO_ERR_FORBIDDEN = 4,
    EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION = 5
};

/* engine.io's verify()/handshake() checks, in its order. method is the HTTP method; is_upgrade
 * is 1 for a WebSocket upgrade request; session_transport is the current transport of the
 * session named by q->sid as the caller found it, EIO_TRANSPORT_UNKNOWN when there is no such
 * session (ignored when q->sid is ""). Returns an enum eio_error code (EIO_ERR_NONE: go on). */
int eio_request_check(const eio_query_t *q, const char *method, int is_upgrade,
                      int session_transport);

/* "Transport unknown", "Session ID unknown", "Bad handshake method", "Bad request",
 * "Forbidden", "Unsupported protocol version"; NULL for other codes. */
const char *eio_error_message(int code);

/* HTTP status for an error code: 403 for EIO_ERR_FORBIDDEN, else 400. */
int eio_error_status(int code);

#define EIO_ERROR_BODY_MAX 64

/* Writes {"code":N,"message":"..."} into buf and NUL-terminates. Returns the length,
 * DG_ELIMIT or DG_EINVAL (unknown code). */
int eio_error_body(char *buf, size_t cap, int code);

#endif
