/* wsframe.h - RFC 6455 framing: server frame headers, a message assembler for frames that
 * CivetWeb has already unmasked, a full incremental frame parser and a masked (client) encoder.
 * Pure codec: no I/O, no logging, no globals. It is not the HTTP upgrade handshake.
 * Thread: any; an assembler or parser object is used by one thread at a time. */
#ifndef WSFRAME_H
#define WSFRAME_H

#include <stddef.h>
#include <stdint.h>

#define WS_OP_CONT 0
#define WS_OP_TEXT 1
#define WS_OP_BINARY 2
#define WS_OP_CLOSE 8
#define WS_OP_PING 9
#define WS_OP_PONG 10

#define WS_FIN 0x80      /* FIN bit of the first header byte (and of CivetWeb's flags byte) */
#define WS_RSV_MASK 0x70 /* RSV1-3: no extension is ever negotiated, so they must be 0 */
#define WS_OP_MASK 0x0f

#define WS_HDR_MAX 10        /* longest unmasked header (server -> client) */
#define WS_HDR_MASKED_MAX 14 /* longest masked header (client -> server) */
#define WS_CONTROL_MAX 125   /* longest control frame payload */

/* Close status codes used here (RFC 6455 section 7.4.1). */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL 1002
#define WS_CLOSE_NO_STATUS 1005 /* never sent: reported for a close frame without a code */
#define WS_CLOSE_INVALID_DATA 1007
#define WS_CLOSE_POLICY 1008
#define WS_CLOSE_TOO_BIG 1009
#define WS_CLOSE_INTERNAL 1011

/* ---- Encoding ---------------------------------------------------------------------------- */

/* Writes a FIN-set, unmasked (server) frame header for opcode and payload_len into buf, which
 * holds at least WS_HDR_MAX bytes. Returns the header length (2, 4 or 10). */
size_t ws_frame_header(unsigned char *buf, int opcode, uint64_t payload_len);

/* General header: fin 0/1, mask NULL for an unmasked frame or 4 key bytes for a masked one
 * (buf then holds WS_HDR_MASKED_MAX bytes). Returns the header length. The payload that follows
 * a masked header must be masked by the caller with ws_mask_apply(). */
size_t ws_frame_header_ex(unsigned char *buf, int fin, int opcode, uint64_t payload_len,
                          const unsigned char *mask);

/* XORs data with the 4-byte key; offset is the position of data[0] within the frame payload,
 * so a payload can be masked in pieces. Applying it twice restores the data. */
void ws_mask_apply(unsigned char *data, size_t len, const unsigned char mask[4], uint64_t offset);

/* Encodes one whole masked (client) frame: header + payload XOR mask into out. Returns 0 with
 * *out_len set, DG_ELIMIT when cap < header + len, DG_EINVAL for a bad opcode or a control frame
 * that is fragmented or longer than WS_CONTROL_MAX. */
int ws_frame_encode_masked(unsigned char *out, size_t cap, int fin, int opcode, const void *payload,
                           size_t len, const unsigned char mask[4], size_t *out_len);

/* Builds a close frame payload (status code big-endian + UTF-8 reason) into buf, which holds
 * WS_CONTROL_MAX bytes. Returns 0 with *out_len set, or DG_EINVAL when the code may not be sent
 * or the reason does not fit in 123 bytes. */
int ws_close_encode(unsigned char *buf, int code, const char *reason, size_t reason_len,
                    size_t *out_len);

/* Parses a received close payload. Returns 0 with *code (WS_CLOSE_NO_STATUS when empty) and
 * the reason (pointer into payload, may be empty), or DG_EPROTO for a 1-byte payload, a code
 * a peer may not send, or a reason that is not UTF-8. */
int ws_close_parse(const void *payload, size_t len, int *code, const char **reason,
                   size_t *reason_len);

/* Returns 1 when data is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF), else 0. */
int ws_utf8_valid(const void *data, size_t len);

/* ---- Message assembler (server side, frames already unmasked by CivetWeb) ----------------- */

/* One result of the assembler or parser. data may point into the caller's frame (unfragmented
 * message) or into the assembler's buffer; it is valid until the next call on the object. */
typedef struct ws_msg {
    int opcode; /* WS_OP_TEXT, WS_OP_BINARY, WS_OP_CLOSE, WS_OP_PING or WS_OP_PONG */
    const unsigned char *data;
    size_t len;
} ws_msg_t;

/* Embeddable; every field is private. Costs no heap until a fragmented message arrives. */
typedef struct ws_asm {
    unsigned char *buf;
    size_t len, cap, max;
    int opcode;     /* opcode of the fragmented message in progress, 0 when none */
    int err;        /* sticky error, 0 when none */
    int close_code; /* close status that goes with err */
    char errstr[64];
} ws_asm_t;

/* Prepares a for messages of at most max_message_bytes (the Engine.IO maxPayload). */
void ws_asm_init(ws_asm_t *a, size_t max_message_bytes);

/* Feeds one frame as CivetWeb's data handler passes it: flags = first header byte (FIN 0x80,
 * RSV, opcode in the low nibble), data already unmasked. Returns
 *   0           *out is a complete message or a control frame (control frames pass through
 *               even between the fragments of a message);
 *   DG_EAGAIN   a fragment was buffered, nothing to deliver yet;
 *   DG_ELIMIT   the message exceeds max_message_bytes (close with 1009);
 *   DG_EPROTO   continuation without start, new message inside a fragmented one, RSV bits,
 *               reserved opcode, bad control frame, text that is not UTF-8 (1002 / 1007);
 *   DG_ENOMEM.
 * Errors are sticky: every later call returns the same code. Thread: the connection's. */
int ws_asm_feed(ws_asm_t *a, int flags, const void *data, size_t len, ws_msg_t *out);

/* The close status to send after an error (1002, 1007, 1009 or 1011), or 0 when none. */
int ws_asm_close_code(const ws_asm_t *a);

/* Describes the sticky error ("" when none); valid while a lives. */
const char *ws_asm_errstr(const ws_asm_t *a);

/* Frees the buffer; a may be initialised again afterwards. */
void ws_asm_free(ws_asm_t *a);

/* ---- Incremental frame parser (raw bytes off a socket) ------------------------------------ */

enum ws_peer {
    WS_PEER_CLIENT = 1, /* we are the server: frames must be masked */
    WS_PEER_SERVER = 2, /* we are the client: frames must be unmasked */
    WS_PEER_ANY = 3     /* accept both (tests, tools) */
};

enum ws_parser_state { WS_ST_HEADER = 0, WS_ST_PAYLOAD, WS_ST_ERROR };

/* One parsed frame; payload is unmasked in place and valid until the next call on the parser. */
typedef struct ws_frame {
    int fin;
    int opcode;
    int masked;
    const unsigned char *payload;
    size_t len;
} ws_frame_t;

/* Embeddable; every field is private. */
typedef struct ws_parser {
    unsigned char *buf;
    size_t len, cap, pos; /* buf[pos..len) is unparsed */
    uint64_t max_payload;
    int peer;
    enum ws_parser_state state;
    int err;
    /* header of the frame whose payload is awaited (state WS_ST_PAYLOAD) */
    size_t hdr_len;
    uint64_t pay_len;
    int fin, opcode, masked;
    unsigned char mask[4];
    char errstr[64];
} ws_parser_t;

/* Prepares p for frames of at most max_payload bytes each; peer is an enum ws_peer. Returns 0
 * or DG_EINVAL. No fragment reassembly: feed the frames to a ws_asm_t-like layer if needed. */
int ws_parser_init(ws_parser_t *p, uint64_t max_payload, int peer);

/* Appends raw bytes (copied). The header of the next frame is checked as soon as it is
 * complete, so an oversized length fails here, before its payload is ever buffered. Returns
 * 0, DG_ELIMIT / DG_EPROTO (sticky) or DG_ENOMEM. Call ws_parser_next() until DG_EAGAIN
 * between feeds: the parser buffers only what it was fed. */
int ws_parser_feed(ws_parser_t *p, const void *data, size_t len);

/* Returns 0 with the next frame in *out, DG_EAGAIN when more bytes are needed, or the sticky
 * error: DG_ELIMIT (payload over max_payload), DG_EPROTO (RSV bits, reserved opcode, masking
 * not as peer requires, control frame fragmented or over 125 bytes, non-minimal or 2^63+
 * length). */
int ws_parser_next(ws_parser_t *p, ws_frame_t *out);

/* Describes the sticky error ("" when none). */
const char *ws_parser_errstr(const ws_parser_t *p);

/* Frees the buffer. */
void ws_parser_free(ws_parser_t *p);

/* ---- Server-side reader: raw client bytes -> messages ------------------------------------ */

/* The parser (masking required, max_payload checked on each frame header before its payload
 * is buffered) feeding the assembler (fragments, control frames between them, UTF-8, message
 * size): what a server reads off a socket it owns. Embeddable; fields private. */
typedef struct ws_reader {
    ws_parser_t p;
    ws_asm_t a;
    int err;
    int close_code;
} ws_reader_t;

/* Messages and frames of at most max_payload bytes. Returns 0 or DG_EINVAL. */
int ws_reader_init(ws_reader_t *r, size_t max_payload);
/* Appends bytes read off the socket (copied). Returns 0, or a sticky error (see next). */
int ws_reader_feed(ws_reader_t *r, const void *data, size_t len);
/* Returns 0 with the next complete message or control frame in *out (data valid until the
 * next call), DG_EAGAIN when more bytes are needed, or a sticky error: DG_ELIMIT (1009),
 * DG_EPROTO (1002, or 1007 for text that is not UTF-8), DG_ENOMEM (1011). */
int ws_reader_next(ws_reader_t *r, ws_msg_t *out);
/* The close status to send after an error, 0 when none. */
int ws_reader_close_code(const ws_reader_t *r);
const char *ws_reader_errstr(const ws_reader_t *r);
void ws_reader_free(ws_reader_t *r);

#endif
