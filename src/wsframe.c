/* wsframe.c - RFC 6455 frame headers, message assembly and incremental frame parsing.
 * Pure codec: bytes in, frames or bytes out. It never touches a socket and never logs;
 * the WebSocket upgrade handshake belongs to the transport glue (CivetWeb). */
#include "wsframe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"

/* ==== Encoding ============================================================================ */

size_t ws_frame_header_ex(unsigned char *buf, int fin, int opcode, uint64_t payload_len,
                          const unsigned char *mask)
{
    size_t n = 0;
    unsigned char maskbit = mask ? 0x80 : 0x00;

    buf[n++] = (unsigned char)((fin ? WS_FIN : 0) | (opcode & WS_OP_MASK));
    if (payload_len < 126) {
        buf[n++] = (unsigned char)(maskbit | payload_len);
    } else if (payload_len <= 0xffff) {
        buf[n++] = (unsigned char)(maskbit | 126);
        buf[n++] = (unsigned char)(payload_len >> 8);
        buf[n++] = (unsigned char)payload_len;
    } else {
        buf[n++] = (unsigned char)(maskbit | 127);
        for (int shift = 56; shift >= 0; shift -= 8)
            buf[n++] = (unsigned char)(payload_len >> shift);
    }
    if (mask) {
        memcpy(buf + n, mask, 4);
        n += 4;
    }
    return n;
}

size_t ws_frame_header(unsigned char *buf, int opcode, uint64_t payload_len)
{
    return ws_frame_header_ex(buf, 1, opcode, payload_len, NULL);
}

void ws_mask_apply(unsigned char *data, size_t len, const unsigned char mask[4], uint64_t offset)
{
    for (size_t i = 0; i < len; i++)
        data[i] ^= mask[(offset + i) & 3];
}

static int op_is_control(int op)
{
    return op >= 8;
}

static int op_is_known(int op)
{
    return op == WS_OP_CONT || op == WS_OP_TEXT || op == WS_OP_BINARY || op == WS_OP_CLOSE ||
           op == WS_OP_PING || op == WS_OP_PONG;
}

int ws_frame_encode_masked(unsigned char *out, size_t cap, int fin, int opcode, const void *payload,
                           size_t len, const unsigned char mask[4], size_t *out_len)
{
    if (!op_is_known(opcode) || (op_is_control(opcode) && (!fin || len > WS_CONTROL_MAX)))
        return DG_EINVAL;
    unsigned char hdr[WS_HDR_MASKED_MAX];
    size_t h = ws_frame_header_ex(hdr, fin, opcode, len, mask);
    if (cap < h || cap - h < len)
        return DG_ELIMIT;
    memcpy(out, hdr, h);
    if (len)
        memcpy(out + h, payload, len);
    ws_mask_apply(out + h, len, mask, 0);
    *out_len = h + len;
    return DG_OK;
}

/* Codes a peer may put on the wire (RFC 6455 7.4.1-7.4.2); 1005/1006/1015 are local only. */
static int close_code_sendable(int code)
{
    if (code >= 3000 && code <= 4999)
        return 1;
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

int ws_close_encode(unsigned char *buf, int code, const char *reason, size_t reason_len,
                    size_t *out_len)
{
    if (!close_code_sendable(code) || reason_len > WS_CONTROL_MAX - 2)
        return DG_EINVAL;
    buf[0] = (unsigned char)(code >> 8);
    buf[1] = (unsigned char)code;
    if (reason_len)
        memcpy(buf + 2, reason, reason_len);
    *out_len = 2 + reason_len;
    return DG_OK;
}

int ws_close_parse(const void *payload, size_t len, int *code, const char **reason,
                   size_t *reason_len)
{
    const unsigned char *p = payload;
    if (len == 0) {
        *code = WS_CLOSE_NO_STATUS;
        *reason = "";
        *reason_len = 0;
        return DG_OK;
    }
    if (len == 1 || len > WS_CONTROL_MAX)
        return DG_EPROTO;
    int c = (p[0] << 8) | p[1];
    if (!close_code_sendable(c) || !ws_utf8_valid(p + 2, len - 2))
        return DG_EPROTO;
    *code = c;
    *reason = (const char *)p + 2;
    *reason_len = len - 2;
    return DG_OK;
}

int ws_utf8_valid(const void *data, size_t len)
{
    const unsigned char *s = data;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the first continuation byte */
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* UTF-16 surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* > U+10FFFF */
        } else {
            return 0;
        }
        if (len - i <= n)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
        i += n + 1;
    }
    return 1;
}

/* ==== Message assembler =================================================================== */

#define WS_ASM_KEEP 4096 /* buffer kept between fragmented messages */

void ws_asm_init(ws_asm_t *a, size_t max_message_bytes)
{
    memset(a, 0, sizeof(*a));
    a->max = max_message_bytes;
}

static int asm_fail(ws_asm_t *a, int err, int close_code, const char *why)
{
    a->err = err;
    a->close_code = close_code;
    snprintf(a->errstr, sizeof(a->errstr), "%s", why);
    free(a->buf);
    a->buf = NULL;
    a->len = a->cap = 0;
    return err;
}

static int asm_append(ws_asm_t *a, const void *data, size_t len)
{
    if (len > a->max - a->len)
        return asm_fail(a, DG_ELIMIT, WS_CLOSE_TOO_BIG, "message too big");
    if (a->len + len > a->cap) {
        size_t ncap = a->cap ? a->cap : 256;
        while (ncap < a->len + len)
            ncap = ncap > a->max / 2 ? a->max : ncap * 2;
        unsigned char *nb = realloc(a->buf, ncap ? ncap : 1);
        if (!nb)
            return asm_fail(a, DG_ENOMEM, WS_CLOSE_INTERNAL, "out of memory");
        a->buf = nb;
        a->cap = ncap;
    }
    if (len)
        memcpy(a->buf + a->len, data, len);
    a->len += len;
    return DG_OK;
}

int ws_asm_feed(ws_asm_t *a, int flags, const void *data, size_t len, ws_msg_t *out)
{
    if (a->err)
        return a->err;
    /* A big fragmented message must not pin its buffer for the connection's life. */
    if (!a->opcode && a->cap > WS_ASM_KEEP) {
        free(a->buf);
        a->buf = NULL;
        a->len = a->cap = 0;
    }
    int fin = (flags & WS_FIN) != 0;
    int op = flags & WS_OP_MASK;

    if (flags & WS_RSV_MASK)
        return asm_fail(a, DG_EPROTO, WS_CLOSE_PROTOCOL, "RSV bits set");
    if (!op_is_known(op))
        return asm_fail(a, DG_EPROTO, WS_CLOSE_PROTOCOL, "reserved opcode");

    if (op_is_control(op)) {
        if (!fin || len > WS_CONTROL_MAX)
            return asm_fail(a, DG_EPROTO, WS_CLOSE_PROTOCOL, "bad control frame");
        out->opcode = op;
        out->data = data;
        out->len = len;
        return DG_OK;
    }

    if (op == WS_OP_CONT) {
        if (!a->opcode)
            return asm_fail(a, DG_EPROTO, WS_CLOSE_PROTOCOL, "continuation without start");
    } else {
        if (a->opcode)
            return asm_fail(a, DG_EPROTO, WS_CLOSE_PROTOCOL, "new message inside fragmented one");
        if (fin) {
            /* The common case: a whole message in one frame, delivered without a copy. */
            if (len > a->max)
                return asm_fail(a, DG_ELIMIT, WS_CLOSE_TOO_BIG, "message too big");
            if (op == WS_OP_TEXT && !ws_utf8_valid(data, len))
                return asm_fail(a, DG_EPROTO, WS_CLOSE_INVALID_DATA, "text is not UTF-8");
            out->opcode = op;
            out->data = data;
            out->len = len;
            return DG_OK;
        }
        a->opcode = op;
        a->len = 0;
    }

    int rc = asm_append(a, data, len);
    if (rc)
        return rc;
    if (!fin)
        return DG_EAGAIN;
    if (a->opcode == WS_OP_TEXT && !ws_utf8_valid(a->buf, a->len))
        return asm_fail(a, DG_EPROTO, WS_CLOSE_INVALID_DATA, "text is not UTF-8");
    out->opcode = a->opcode;
    out->data = a->buf;
    out->len = a->len;
    /* The buffer stays until the next feed (out->data points into it); a->len = 0 restarts. */
    a->opcode = 0;
    a->len = 0;
    return DG_OK;
}

int ws_asm_close_code(const ws_asm_t *a)
{
    return a->err ? a->close_code : 0;
}

const char *ws_asm_errstr(const ws_asm_t *a)
{
    return a->errstr;
}

void ws_asm_free(ws_asm_t *a)
{
    free(a->buf);
    a->buf = NULL;
    a->len = a->cap = 0;
}

/* ==== Incremental frame parser ============================================================ */

int ws_parser_init(ws_parser_t *p, uint64_t max_payload, int peer)
{
    memset(p, 0, sizeof(*p));
    if (peer != WS_PEER_CLIENT && peer != WS_PEER_SERVER && peer != WS_PEER_ANY)
        return DG_EINVAL;
    p->max_payload = max_payload;
    p->peer = peer;
    p->state = WS_ST_HEADER;
    return DG_OK;
}

static int parser_fail(ws_parser_t *p, int err, const char *why)
{
    p->err = err;
    p->state = WS_ST_ERROR;
    snprintf(p->errstr, sizeof(p->errstr), "%s", why);
    return err;
}

/* Parses the header at buf[pos..len) when complete: returns DG_EAGAIN (incomplete), 0 (state
 * moves to WS_ST_PAYLOAD) or a sticky error. Never looks at the payload. */
static int parser_header(ws_parser_t *p)
{
    const unsigned char *h = p->buf + p->pos;
    size_t avail = p->len - p->pos;
    if (avail < 2)
        return DG_EAGAIN;
    int fin = (h[0] & WS_FIN) != 0;
    int op = h[0] & WS_OP_MASK;
    int masked = (h[1] & 0x80) != 0;
    uint64_t plen = h[1] & 0x7f;
    size_t need = 2 + (plen == 126 ? 2 : plen == 127 ? 8 : 0) + (masked ? 4 : 0);

    /* Checks that need only the first two bytes come first, so garbage fails fast. */
    if (h[0] & WS_RSV_MASK)
        return parser_fail(p, DG_EPROTO, "RSV bits set");
    if (!op_is_known(op))
        return parser_fail(p, DG_EPROTO, "reserved opcode");
    if (op_is_control(op) && (!fin || plen > WS_CONTROL_MAX))
        return parser_fail(p, DG_EPROTO, "bad control frame");
    if (p->peer == WS_PEER_CLIENT && !masked)
        return parser_fail(p, DG_EPROTO, "client frame not masked");
    if (p->peer == WS_PEER_SERVER && masked)
        return parser_fail(p, DG_EPROTO, "server frame masked");
    if (avail < need)
        return DG_EAGAIN;

    size_t off = 2;
    if (plen == 126) {
        plen = ((uint64_t)h[2] << 8) | h[3];
        off = 4;
        if (plen < 126)
            return parser_fail(p, DG_EPROTO, "non-minimal length");
    } else if (plen == 127) {
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = (plen << 8) | h[2 + i];
        off = 10;
        if (plen >> 63)
            return parser_fail(p, DG_EPROTO, "length has its top bit set");
        if (plen <= 0xffff)
            return parser_fail(p, DG_EPROTO, "non-minimal length");
    }
    if (plen > p->max_payload || plen > SIZE_MAX - need)
        return parser_fail(p, DG_ELIMIT, "frame too big");
    if (masked)
        memcpy(p->mask, h + off, 4);
    p->fin = fin;
    p->opcode = op;
    p->masked = masked;
    p->hdr_len = need;
    p->pay_len = plen;
    p->state = WS_ST_PAYLOAD;
    return DG_OK;
}

int ws_parser_feed(ws_parser_t *p, const void *data, size_t len)
{
    if (p->err)
        return p->err;
    /* Drop what earlier frames used; frames handed out before are invalid from here on. */
    if (p->pos) {
        memmove(p->buf, p->buf + p->pos, p->len - p->pos);
        p->len -= p->pos;
        p->pos = 0;
    }
    if (len > p->cap - p->len) {
        if (len > SIZE_MAX / 2 - p->len)
            return parser_fail(p, DG_ENOMEM, "out of memory");
        size_t ncap = p->cap ? p->cap : 256;
        while (ncap < p->len + len)
            ncap *= 2;
        unsigned char *nb = realloc(p->buf, ncap);
        if (!nb)
            return parser_fail(p, DG_ENOMEM, "out of memory");
        p->buf = nb;
        p->cap = ncap;
    }
    if (len)
        memcpy(p->buf + p->len, data, len);
    p->len += len;
    if (p->state == WS_ST_HEADER) {
        int rc = parser_header(p);
        if (rc < 0 && rc != DG_EAGAIN)
            return rc;
    }
    return DG_OK;
}

int ws_parser_next(ws_parser_t *p, ws_frame_t *out)
{
    if (p->err)
        return p->err;
    if (p->state == WS_ST_HEADER) {
        int rc = parser_header(p);
        if (rc)
            return rc;
    }
    if (p->len - p->pos < p->hdr_len || p->len - p->pos - p->hdr_len < p->pay_len)
        return DG_EAGAIN;
    unsigned char *pl = p->buf + p->pos + p->hdr_len;
    if (p->masked)
        ws_mask_apply(pl, (size_t)p->pay_len, p->mask, 0);
    out->fin = p->fin;
    out->opcode = p->opcode;
    out->masked = p->masked;
    out->payload = pl;
    out->len = (size_t)p->pay_len;
    p->pos += p->hdr_len + (size_t)p->pay_len;
    p->state = WS_ST_HEADER;
    return DG_OK;
}

const char *ws_parser_errstr(const ws_parser_t *p)
{
    return p->errstr;
}

void ws_parser_free(ws_parser_t *p)
{
    free(p->buf);
    p->buf = NULL;
    p->len = p->cap = p->pos = 0;
}

/* ---------------------------------------------------------------- server-side reader */

#define WS_READER_KEEP 65536 /* an idle reader gives back a buffer grown past this */

int ws_reader_init(ws_reader_t *r, size_t max_payload)
{
    memset(r, 0, sizeof(*r));
    ws_asm_init(&r->a, max_payload);
    return ws_parser_init(&r->p, max_payload, WS_PEER_CLIENT);
}

static int reader_fail(ws_reader_t *r, int err, int code)
{
    r->err = err;
    r->close_code = code;
    return err;
}

int ws_reader_feed(ws_reader_t *r, const void *data, size_t len)
{
    if (r->err)
        return r->err;
    int rc = ws_parser_feed(&r->p, data, len);
    if (rc == DG_ELIMIT)
        return reader_fail(r, rc, WS_CLOSE_TOO_BIG);
    if (rc == DG_EPROTO)
        return reader_fail(r, rc, WS_CLOSE_PROTOCOL);
    if (rc)
        return reader_fail(r, rc, WS_CLOSE_INTERNAL);
    return DG_OK;
}

int ws_reader_next(ws_reader_t *r, ws_msg_t *out)
{
    for (;;) {
        if (r->err)
            return r->err;
        ws_frame_t f;
        int rc = ws_parser_next(&r->p, &f);
        if (rc == DG_EAGAIN) {
            if (r->p.pos == r->p.len && r->p.cap > WS_READER_KEEP)
                ws_parser_free(&r->p); /* nothing unparsed: a burst's buffer goes back */
            return rc;
        }
        if (rc == DG_ELIMIT)
            return reader_fail(r, rc, WS_CLOSE_TOO_BIG);
        if (rc)
            return reader_fail(r, rc, rc == DG_EPROTO ? WS_CLOSE_PROTOCOL : WS_CLOSE_INTERNAL);
        rc = ws_asm_feed(&r->a, (f.fin ? WS_FIN : 0) | f.opcode, f.payload, f.len, out);
        if (rc == DG_OK)
            return rc;
        if (rc != DG_EAGAIN)
            return reader_fail(r, rc, ws_asm_close_code(&r->a));
    }
}

int ws_reader_close_code(const ws_reader_t *r)
{
    return r->err ? r->close_code : 0;
}

const char *ws_reader_errstr(const ws_reader_t *r)
{
    if (!r->err)
        return "";
    return r->p.err ? ws_parser_errstr(&r->p) : ws_asm_errstr(&r->a);
}

void ws_reader_free(ws_reader_t *r)
{
    ws_parser_free(&r->p);
    ws_asm_free(&r->a);
}
