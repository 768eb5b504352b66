/* lg_wire.h - the load generator's client-side wire codecs: WebSocket frames, HTTP response
 * heads, chunked transfer decoding and the bench payload scanner (SSE lines are split by the
 * connection code, which owns the carry buffer).
 * Pure byte-in/bytes-out code: no sockets, no allocation beyond what the caller hands in. */
#ifndef LG_WIRE_H
#define LG_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define LGW_AGAIN (-1)  /* need more bytes */
#define LGW_EPROTO (-2) /* malformed input */
#define LGW_ELIMIT (-3) /* over a fixed limit */

/* ---- WebSocket (RFC 6455), client side ---- */

enum lgw_ws_op {
    LGW_WS_CONT = 0,
    LGW_WS_TEXT = 1,
    LGW_WS_BIN = 2,
    LGW_WS_CLOSE = 8,
    LGW_WS_PING = 9,
    LGW_WS_PONG = 10
};

typedef struct lgw_frame {
    int fin;
    int op;                 /* enum lgw_ws_op */
    const uint8_t *payload; /* points into the caller's buffer (unmasked in place if masked) */
    size_t len;
} lgw_frame_t;

/* Decodes one frame from the start of buf. Returns the bytes it spans (> 0), LGW_AGAIN when
 * buf holds less than one frame, LGW_EPROTO on a bad header, LGW_ELIMIT when the payload is
 * longer than max_payload. A masked frame is unmasked in place (servers should not mask). */
long lgw_ws_next(uint8_t *buf, size_t len, size_t max_payload, lgw_frame_t *f);

/* Encodes one masked client frame (FIN set) into out. Returns its length, or LGW_ELIMIT when
 * out (cap bytes) is too small; needs len + 14 bytes at most. mask is the 4-byte masking key. */
long lgw_ws_encode(uint8_t *out, size_t cap, int op, const void *payload, size_t len,
                   uint32_t mask);

/* ---- HTTP/1.1 response head ---- */

typedef struct lgw_head {
    int status;    /* e.g. 101, 200 */
    int chunked;   /* Transfer-Encoding: chunked */
    size_t length; /* bytes of the head including the blank line */
} lgw_head_t;

/* Parses a response head at the start of buf. Returns 0 and fills h, LGW_AGAIN until the blank
 * line arrived, LGW_ELIMIT when no blank line within max bytes, LGW_EPROTO on a bad status line. */
int lgw_head_parse(const char *buf, size_t len, size_t max, lgw_head_t *h);

/* ---- Chunked transfer coding (RFC 9112 section 7.1) ---- */

enum lgw_chunk_state {
    LGW_CK_SIZE,
    LGW_CK_EXT,
    LGW_CK_SIZE_LF,
    LGW_CK_DATA,
    LGW_CK_DATA_CR,
    LGW_CK_DATA_LF,
    LGW_CK_TRAILER,
    LGW_CK_DONE,
    LGW_CK_ERROR
};

typedef struct lgw_chunk {
    uint8_t state; /* enum lgw_chunk_state; LGW_CK_ERROR is sticky */
    uint8_t ndigits;
    uint8_t trailer_nl; /* trailer: 1 after a line feed that began an empty line */
    uint64_t left;      /* bytes of the current chunk still to come */
} lgw_chunk_t;

/* Body bytes out of the decoder; return nonzero to stop decoding. */
typedef int (*lgw_data_fn)(void *ud, const char *p, size_t n);

/* Feeds n bytes of chunked body; calls fn for each span of decoded data. Returns 0 (more may
 * come), 1 when the last chunk ended the body, LGW_EPROTO (sticky) on malformed framing, or
 * LGW_ELIMIT for a chunk size above 2^40. A nonzero fn result stops and is returned as is. */
int lgw_chunk_feed(lgw_chunk_t *ck, const char *p, size_t n, lgw_data_fn fn, void *ud);

/* The value of one hex digit (0-9, a-f, A-F), or -1 for any other character. */
int lgw_hexval(char c);

/* ---- Bench payload scanning ---- */

/* Finds "key": followed by an integer in p[0..n), also when the JSON is itself embedded in a
 * JSON string (\"key\":). Returns 0 and sets *out, or LGW_AGAIN when not present. */
int lgw_scan_int(const char *p, size_t n, const char *key, long long *out);

#endif
