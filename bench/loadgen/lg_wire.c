/* lg_wire.c - client-side WebSocket, HTTP head, chunked and payload-scan codecs for loadgen.
 * No I/O and no allocation: callers own every buffer. Kept deliberately small so the load
 * generator spends its cycles on sockets, not on parsing. */
#include "lg_wire.h"

#include <string.h>
#include <strings.h>

/* ---- WebSocket ---- */

long lgw_ws_next(uint8_t *buf, size_t len, size_t max_payload, lgw_frame_t *f)
{
    if (len < 2)
        return LGW_AGAIN;
    uint8_t b0 = buf[0], b1 = buf[1];
    if (b0 & 0x70)
        return LGW_EPROTO; /* RSV bits: no extension was negotiated */
    int op = b0 & 0x0f;
    if (op > 2 && op < 8)
        return LGW_EPROTO;
    if (op > 10)
        return LGW_EPROTO;
    size_t hl = 2;
    uint64_t plen = b1 & 0x7f;
    if (plen == 126) {
        if (len < 4)
            return LGW_AGAIN;
        plen = ((uint64_t)buf[2] << 8) | buf[3];
        hl = 4;
    } else if (plen == 127) {
        if (len < 10)
            return LGW_AGAIN;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = (plen << 8) | buf[2 + i];
        if (plen >> 63)
            return LGW_EPROTO;
        hl = 10;
    }
    if (op >= 8 && (plen > 125 || !(b0 & 0x80)))
        return LGW_EPROTO; /* control frames are short and never fragmented */
    if (plen > max_payload)
        return LGW_ELIMIT;
    int masked = (b1 & 0x80) != 0;
    size_t ml = masked ? 4 : 0;
    if (len < hl + ml + plen)
        return LGW_AGAIN;
    uint8_t *pl = buf + hl + ml;
    if (masked) {
        const uint8_t *mk = buf + hl;
        for (uint64_t i = 0; i < plen; i++)
            pl[i] ^= mk[i & 3];
    }
    f->fin = (b0 & 0x80) != 0;
    f->op = op;
    f->payload = pl;
    f->len = (size_t)plen;
    return (long)(hl + ml + plen);
}

long lgw_ws_encode(uint8_t *out, size_t cap, int op, const void *payload, size_t len, uint32_t mask)
{
    size_t hl = len < 126 ? 2 : (len <= 0xffff ? 4 : 10);
    if (cap < hl + 4 + len)
        return LGW_ELIMIT;
    out[0] = (uint8_t)(0x80 | (op & 0x0f));
    if (len < 126) {
        out[1] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        out[1] = 0x80 | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
    } else {
        out[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    uint8_t mk[4] = {(uint8_t)(mask >> 24), (uint8_t)(mask >> 16), (uint8_t)(mask >> 8),
                     (uint8_t)mask};
    memcpy(out + hl, mk, 4);
    const uint8_t *src = payload;
    uint8_t *dst = out + hl + 4;
    for (size_t i = 0; i < len; i++)
        dst[i] = src[i] ^ mk[i & 3];
    return (long)(hl + 4 + len);
}

/* ---- HTTP response head ---- */

/* Case-insensitive search for needle in the n bytes at hay. */
static const char *find_ci(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (strncasecmp(hay + i, needle, k) == 0)
            return hay + i;
    return NULL;
}

int lgw_head_parse(const char *buf, size_t len, size_t max, lgw_head_t *h)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return len >= max ? LGW_ELIMIT : LGW_AGAIN;
    size_t hl = (size_t)(end - buf) + 4;
    if (hl > max)
        return LGW_ELIMIT;
    if (hl < 16 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
        return LGW_EPROTO;
    int st = 0;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return LGW_EPROTO;
        st = st * 10 + (buf[i] - '0');
    }
    h->status = st;
    h->length = hl;
    h->chunked = 0;
    /* Only the header block is searched; the value is checked on the same line. */
    const char *te = find_ci(buf, hl, "\r\ntransfer-encoding:");
    if (te) {
        const char *eol = memmem(te + 2, hl - (size_t)(te + 2 - buf), "\r\n", 2);
        if (eol && find_ci(te, (size_t)(eol - te), "chunked"))
            h->chunked = 1;
    }
    return 0;
}

/* ---- Chunked ---- */

int lgw_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int lgw_chunk_feed(lgw_chunk_t *ck, const char *p, size_t n, lgw_data_fn fn, void *ud)
{
    size_t i = 0;
    while (i < n) {
        char c = p[i];
        switch (ck->state) {
        case LGW_CK_SIZE: {
            int v = lgw_hexval(c);
            if (v >= 0) {
                if (++ck->ndigits > 10)
                    goto limit;
                ck->left = (ck->left << 4) | (uint64_t)v;
                i++;
                break;
            }
            if (ck->ndigits == 0)
                goto proto;
            if (c != '\r' && c != '\n' && c != ';' && c != ' ' && c != '\t')
                goto proto;
            ck->state = (c == '\r') ? LGW_CK_SIZE_LF : LGW_CK_EXT;
            if (c == '\n')
                goto size_done;
            i++;
            break;
        }
        case LGW_CK_EXT: /* chunk extensions (and stray whitespace) are skipped */
            if (c == '\n')
                goto size_done;
            i++;
            break;
        case LGW_CK_SIZE_LF:
            if (c != '\n')
                goto proto;
        size_done:
            i++;
            ck->ndigits = 0;
            if (ck->left == 0) {
                ck->state = LGW_CK_TRAILER;
                ck->trailer_nl = 1;
            } else {
                ck->state = LGW_CK_DATA;
            }
            break;
        case LGW_CK_DATA: {
            size_t take = n - i;
            if (take > ck->left)
                take = (size_t)ck->left;
            ck->left -= take;
            if (ck->left == 0)
                ck->state = LGW_CK_DATA_CR;
            int r = fn(ud, p + i, take);
            i += take;
            if (r)
                return r;
            break;
        }
        case LGW_CK_DATA_CR:
            if (c == '\r') {
                ck->state = LGW_CK_DATA_LF;
                i++;
                break;
            }
            /* A bare LF after the data is tolerated. */
            __attribute__((fallthrough));
        case LGW_CK_DATA_LF:
            if (c != '\n')
                goto proto;
            ck->state = LGW_CK_SIZE;
            i++;
            break;
        case LGW_CK_TRAILER: /* trailer fields, ended by an empty line */
            if (c == '\n') {
                if (ck->trailer_nl) {
                    ck->state = LGW_CK_DONE;
                    return 1;
                }
                ck->trailer_nl = 1;
            } else if (c != '\r') {
                ck->trailer_nl = 0;
            }
            i++;
            break;
        case LGW_CK_DONE:
            return 1;
        default:
            return LGW_EPROTO;
        }
    }
    return ck->state == LGW_CK_DONE ? 1 : 0;
proto:
    ck->state = LGW_CK_ERROR;
    return LGW_EPROTO;
limit:
    ck->state = LGW_CK_ERROR;
    return LGW_ELIMIT;
}

/* ---- Payload scanning ---- */

int lgw_scan_int(const char *p, size_t n, const char *key, long long *out)
{
    size_t k = strlen(key);
    const char *end = p + n;
    const char *s = p;
    while (s < end) {
        const char *hit = memmem(s, (size_t)(end - s), key, k);
        if (!hit)
            return LGW_AGAIN;
        s = hit + 1;
        if (hit == p || hit[-1] != '"')
            continue;
        const char *q = hit + k;
        if (q < end && *q == '\\')
            q++;
        if (q + 1 >= end || q[0] != '"' || q[1] != ':')
            continue;
        q += 2;
        while (q < end && *q == ' ')
            q++;
        int neg = 0;
        if (q < end && *q == '-') {
            neg = 1;
            q++;
        }
        if (q >= end || *q < '0' || *q > '9')
            continue;
        long long v = 0;
        int nd = 0;
        while (q < end && *q >= '0' && *q <= '9' && nd < 18) {
            v = v * 10 + (*q - '0');
            q++;
            nd++;
        }
        *out = neg ? -v : v;
        return 0;
    }
    return LGW_AGAIN;
}
