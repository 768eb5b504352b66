/* sio.c - Socket.IO v5 packet decoding (with a bounded, allocation-free JSON validator),
 * binary attachment assembly and packet encoding. Pure: no I/O, no logging, no globals.
 * It does not decide what a namespace is or how to answer a packet; the glue does. */
#include "sio.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"

static int fail(char *errstr, size_t errlen, int code, const char *why)
{
    if (errstr && errlen)
        snprintf(errstr, errlen, "%s", why);
    return code;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && is_ws(s[i]))
        i++;
    return i;
}

/* ==== JSON validator ======================================================================= */

/* Scans the string starting at s[*i] == '"'; *i ends past the closing quote. *escaped is set
 * when it contains a backslash. */
static int scan_string(const char *s, size_t len, size_t *i, int *escaped)
{
    size_t k = *i + 1;
    int esc = 0;
    while (k < len) {
        unsigned char c = (unsigned char)s[k];
        if (c == '"') {
            *i = k + 1;
            if (escaped)
                *escaped = esc;
            return DG_OK;
        }
        if (c < 0x20)
            return DG_EPROTO;
        if (c == '\\') {
            esc = 1;
            if (++k >= len)
                return DG_EPROTO;
            switch (s[k]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                break;
            case 'u':
                if (len - k <= 4)
                    return DG_EPROTO;
                for (int h = 1; h <= 4; h++) {
                    char x = s[k + h];
                    if (!is_digit(x) && !(x >= 'a' && x <= 'f') && !(x >= 'A' && x <= 'F'))
                        return DG_EPROTO;
                }
                k += 4;
                break;
            default:
                return DG_EPROTO;
            }
        }
        k++;
    }
    return DG_EPROTO;
}

static int scan_number(const char *s, size_t len, size_t *pi)
{
    size_t i = *pi;
    if (i < len && s[i] == '-')
        i++;
    if (i >= len)
        return DG_EPROTO;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < len && is_digit(s[i]))
            i++;
    } else {
        return DG_EPROTO;
    }
    if (i < len && s[i] == '.') {
        size_t d = ++i;
        while (i < len && is_digit(s[i]))
            i++;
        if (i == d)
            return DG_EPROTO;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < len && is_digit(s[i]))
            i++;
        if (i == d)
            return DG_EPROTO;
    }
    *pi = i;
    return DG_OK;
}

static int scan_literal(const char *s, size_t len, size_t *pi, const char *lit)
{
    size_t n = strlen(lit);
    if (len - *pi < n || memcmp(s + *pi, lit, n))
        return DG_EPROTO;
    *pi += n;
    return DG_OK;
}

/* Scans one JSON value starting at s[*pi] (no leading whitespace); *pi ends past it. The
 * open containers are a bit stack (1 = object), hence SIO_JSON_DEPTH_MAX <= 64. */
static int scan_value(const char *s, size_t len, size_t *pi, int max_depth, int *kind)
{
    uint64_t objbits = 0;
    int depth = 0, top = 0, rc;
    size_t i = *pi;

value:
    if (i >= len)
        return DG_EPROTO;
    switch (s[i]) {
    case '{':
    case '[': {
        int obj = s[i] == '{';
        if (depth >= max_depth)
            return DG_ELIMIT;
        if (!top)
            top = obj ? SIO_JSON_OBJECT : SIO_JSON_ARRAY;
        if (obj)
            objbits |= (uint64_t)1 << depth;
        else
            objbits &= ~((uint64_t)1 << depth);
        depth++;
        i = skip_ws(s, len, i + 1);
        if (i < len && s[i] == (obj ? '}' : ']')) {
            i++;
            depth--;
            goto after;
        }
        if (obj)
            goto key;
        goto value;
    }
    case '"':
        if ((rc = scan_string(s, len, &i, NULL)))
            return rc;
        if (!top)
            top = SIO_JSON_STRING;
        goto after;
    case 't':
        if ((rc = scan_literal(s, len, &i, "true")))
            return rc;
        if (!top)
            top = SIO_JSON_TRUE;
        goto after;
    case 'f':
        if ((rc = scan_literal(s, len, &i, "false")))
            return rc;
        if (!top)
            top = SIO_JSON_FALSE;
        goto after;
    case 'n':
        if ((rc = scan_literal(s, len, &i, "null")))
            return rc;
        if (!top)
            top = SIO_JSON_NULL;
        goto after;
    default:
        if ((rc = scan_number(s, len, &i)))
            return rc;
        if (!top)
            top = SIO_JSON_NUMBER;
        goto after;
    }

key:
    if (i >= len || s[i] != '"')
        return DG_EPROTO;
    if ((rc = scan_string(s, len, &i, NULL)))
        return rc;
    i = skip_ws(s, len, i);
    if (i >= len || s[i] != ':')
        return DG_EPROTO;
    i = skip_ws(s, len, i + 1);
    goto value;

after:
    if (depth == 0) {
        *pi = i;
        *kind = top;
        return DG_OK;
    }
    i = skip_ws(s, len, i);
    if (i >= len)
        return DG_EPROTO;
    {
        int obj = (int)(objbits >> (depth - 1) & 1);
        if (s[i] == ',') {
            i = skip_ws(s, len, i + 1);
            if (obj)
                goto key;
            goto value;
        }
        if (s[i] == (obj ? '}' : ']')) {
            i++;
            depth--;
            goto after;
        }
    }
    return DG_EPROTO;
}

int sio_json_validate(const char *s, size_t len, int max_depth, int *kind)
{
    int k = 0;
    if (max_depth > SIO_JSON_DEPTH_MAX || max_depth < 0)
        max_depth = SIO_JSON_DEPTH_MAX;
    size_t i = skip_ws(s, len, 0);
    int rc = scan_value(s, len, &i, max_depth, &k);
    if (rc)
        return rc;
    if (skip_ws(s, len, i) != len)
        return DG_EPROTO;
    if (kind)
        *kind = k;
    return DG_OK;
}

/* ==== Event helpers ======================================================================== */

static int hex4(const char *p)
{
    int v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        v = v * 16 + (is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* Decodes the JSON string body s[0..n) (between the quotes, already validated) into buf. */
static int unescape(const char *s, size_t n, char *buf, size_t cap, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        unsigned long cp;
        if (c != '\\') {
            if (o >= cap)
                return DG_ELIMIT;
            buf[o++] = (char)c;
            continue;
        }
        c = (unsigned char)s[++i];
        switch (c) {
        case 'b':
            cp = '\b';
            break;
        case 'f':
            cp = '\f';
            break;
        case 'n':
            cp = '\n';
            break;
        case 'r':
            cp = '\r';
            break;
        case 't':
            cp = '\t';
            break;
        case 'u':
            cp = (unsigned long)hex4(s + i + 1);
            i += 4;
            if (cp >= 0xd800 && cp <= 0xdbff && n - i > 6 && s[i + 1] == '\\' && s[i + 2] == 'u') {
                unsigned long lo = (unsigned long)hex4(s + i + 3);
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    i += 6;
                }
            }
            if (cp >= 0xd800 && cp <= 0xdfff)
                cp = 0xfffd; /* lone surrogate: what a UTF-8 encoder of the JS string emits */
            break;
        default:
            cp = c;
            break; /* " \ / */
        }
        unsigned char u[4];
        size_t un;
        if (cp < 0x80) {
            u[0] = (unsigned char)cp;
            un = 1;
        } else if (cp < 0x800) {
            u[0] = (unsigned char)(0xc0 | cp >> 6);
            u[1] = (unsigned char)(0x80 | (cp & 0x3f));
            un = 2;
        } else if (cp < 0x10000) {
            u[0] = (unsigned char)(0xe0 | cp >> 12);
            u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
            u[2] = (unsigned char)(0x80 | (cp & 0x3f));
            un = 3;
        } else {
            u[0] = (unsigned char)(0xf0 | cp >> 18);
            u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
            u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
            u[3] = (unsigned char)(0x80 | (cp & 0x3f));
            un = 4;
        }
        if (cap - o < un)
            return DG_ELIMIT;
        memcpy(buf + o, u, un);
        o += un;
    }
    *out_len = o;
    return DG_OK;
}

/* Finds the first element of the array in data: a string spanning data[*start..*end). */
static int first_string(const char *data, size_t len, size_t *start, size_t *end, int *escaped)
{
    size_t i = skip_ws(data, len, 0);
    if (i >= len || data[i] != '[')
        return DG_EPROTO;
    i = skip_ws(data, len, i + 1);
    if (i >= len || data[i] != '"')
        return DG_EPROTO;
    *start = i;
    if (scan_string(data, len, &i, escaped))
        return DG_EPROTO;
    *end = i;
    return DG_OK;
}

int sio_event_name(const char *data, size_t len, char *buf, size_t cap, const char **name,
                   size_t *name_len)
{
    size_t st, en;
    int escaped = 0;
    if (first_string(data, len, &st, &en, &escaped))
        return DG_EPROTO;
    if (!escaped) {
        *name = data + st + 1;
        *name_len = en - st - 2;
        return DG_OK;
    }
    int rc = unescape(data + st + 1, en - st - 2, buf, cap, name_len);
    if (rc)
        return rc;
    *name = buf;
    return DG_OK;
}

int sio_event_args(const char *data, size_t len, const char **args, size_t *args_len)
{
    size_t st, en;
    if (first_string(data, len, &st, &en, NULL))
        return DG_EPROTO;
    /* The array's closing bracket is the last non-whitespace byte of validated data. */
    size_t last = len;
    while (last > en && is_ws(data[last - 1]))
        last--;
    if (last <= en || data[last - 1] != ']')
        return DG_EPROTO;
    last--;
    size_t i = skip_ws(data, len, en);
    if (i == last) {
        *args = data + i;
        *args_len = 0;
        return DG_OK;
    }
    if (data[i] != ',')
        return DG_EPROTO;
    i = skip_ws(data, last, i + 1);
    while (last > i && is_ws(data[last - 1]))
        last--;
    if (last == i)
        return DG_EPROTO; /* ["a", ] */
    *args = data + i;
    *args_len = last - i;
    return DG_OK;
}

/* ==== Decoder ============================================================================== */

/* Event names socket.io-parser refuses (they have a meaning of their own on either side). */
static int reserved_name(const char *data, size_t len)
{
    static const char *const names[] = {"connect",       "connect_error", "disconnect",
                                        "disconnecting", "newListener",   "removeListener"};
    char buf[24];
    const char *n;
    size_t nl;
    if (sio_event_name(data, len, buf, sizeof(buf), &n, &nl))
        return 0;
    for (size_t k = 0; k < DG_ARRAY_LEN(names); k++)
        if (strlen(names[k]) == nl && !memcmp(names[k], n, nl))
            return 1;
    return 0;
}

int sio_decode(const char *s, size_t len, int max_attach, sio_packet_t *out, char *errstr,
               size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->nsp = "/";
    out->nsp_len = 1;
    out->ack_id = -1;
    if (errstr && errlen)
        errstr[0] = '\0';

    if (len == 0)
        return fail(errstr, errlen, DG_EPROTO, "empty packet");
    if (s[0] < '0' || s[0] > '6')
        return fail(errstr, errlen, DG_EPROTO, "unknown packet type");
    int type = s[0] - '0';
    size_t i = 1;

    if (type == SIO_BINARY_EVENT || type == SIO_BINARY_ACK) {
        size_t st = i;
        long n = 0;
        while (i < len && is_digit(s[i])) {
            if (i - st >= 9)
                return fail(errstr, errlen, DG_ELIMIT, "too many attachments");
            n = n * 10 + (s[i] - '0');
            i++;
        }
        if (i == st || i >= len || s[i] != '-' || n < 1)
            return fail(errstr, errlen, DG_EPROTO, "illegal attachments");
        if (n > max_attach)
            return fail(errstr, errlen, DG_ELIMIT, "too many attachments");
        out->nattach = (int)n;
        i++;
    }

    if (i < len && s[i] == '/') {
        size_t st = i;
        while (i < len && s[i] != ',')
            i++;
        if (i - st > SIO_NSP_MAX)
            return fail(errstr, errlen, DG_ELIMIT, "namespace too long");
        out->nsp = s + st;
        out->nsp_len = i - st;
        if (i < len)
            i++; /* the ',' */
    }

    if (i < len && is_digit(s[i])) {
        long id = 0;
        while (i < len && is_digit(s[i])) {
            id = id * 10 + (s[i] - '0');
            if (id > SIO_ACK_ID_MAX)
                return fail(errstr, errlen, DG_EPROTO, "ack id too large");
            i++;
        }
        out->ack_id = id;
    }

    int kind = 0;
    if (i < len) {
        out->data = s + i;
        out->data_len = len - i;
        int rc = sio_json_validate(out->data, out->data_len, SIO_JSON_DEPTH_MAX, &kind);
        if (rc == DG_ELIMIT)
            return fail(errstr, errlen, rc, "JSON too deep");
        if (rc)
            return fail(errstr, errlen, rc, "invalid JSON");
    }

    int ok;
    switch (type) {
    case SIO_CONNECT:
        ok = !out->data || kind == SIO_JSON_OBJECT;
        break;
    case SIO_DISCONNECT:
        ok = !out->data;
        break;
    case SIO_CONNECT_ERROR:
        ok = kind == SIO_JSON_OBJECT || kind == SIO_JSON_STRING;
        break;
    case SIO_EVENT:
    case SIO_BINARY_EVENT: {
        size_t st, en;
        ok = kind == SIO_JSON_ARRAY && !first_string(out->data, out->data_len, &st, &en, NULL) &&
             !reserved_name(out->data, out->data_len);
        break;
    }
    default: /* ACK, BINARY_ACK */
        ok = kind == SIO_JSON_ARRAY;
        break;
    }
    if (!ok)
        return fail(errstr, errlen, DG_EPROTO, "invalid payload");
    out->type = type;
    return DG_OK;
}

int sio_nsp_is(const sio_packet_t *p, const char *nsp)
{
    size_t n = strlen(nsp);
    return p->nsp_len == n && !memcmp(p->nsp, nsp, n);
}

/* ==== Binary packet assembly =============================================================== */

#define SIO_BA_KEEP 4096 /* buffer kept across packets; larger ones are freed on reset */

void sio_binasm_init(sio_binasm_t *b, int max_attach, size_t max_bytes)
{
    memset(b, 0, sizeof(*b));
    b->max_attach = max_attach;
    b->max_bytes = max_bytes;
}

static int ba_append(sio_binasm_t *b, const void *data, size_t len)
{
    if (len > b->max_bytes - b->len)
        return DG_ELIMIT;
    if (len > b->cap - b->len) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + len)
            ncap = ncap > b->max_bytes / 2 ? b->max_bytes : ncap * 2;
        char *nb = realloc(b->buf, ncap ? ncap : 1);
        if (!nb)
            return DG_ENOMEM;
        b->buf = nb;
        b->cap = ncap;
    }
    if (len)
        memcpy(b->buf + b->len, data, len);
    b->len += len;
    return DG_OK;
}

int sio_binasm_start(sio_binasm_t *b, const char *text, size_t len, const sio_packet_t *pkt)
{
    if (b->state != SIO_BA_IDLE)
        return DG_EINVAL;
    if ((pkt->type != SIO_BINARY_EVENT && pkt->type != SIO_BINARY_ACK) || pkt->nattach < 1)
        return DG_EINVAL;
    if (pkt->nattach > b->max_attach)
        return DG_ELIMIT;
    size_t *off = malloc(((size_t)pkt->nattach + 1) * sizeof(*off));
    if (!off)
        return DG_ENOMEM;
    b->len = 0;
    int rc = ba_append(b, text, len);
    if (rc) {
        free(off);
        return rc;
    }
    b->off = off;
    b->n = pkt->nattach;
    b->have = 0;
    b->text_len = len;
    b->off[0] = len;
    b->state = SIO_BA_COLLECTING;
    return DG_EAGAIN;
}

int sio_binasm_add(sio_binasm_t *b, const void *data, size_t len)
{
    if (b->state != SIO_BA_COLLECTING)
        return DG_EPROTO;
    int rc = ba_append(b, data, len);
    if (rc)
        return rc;
    b->off[++b->have] = b->len;
    if (b->have < b->n)
        return DG_EAGAIN;
    /* Pointers into buf are taken only now that it no longer moves. The text decoded once
     * already, so decoding it again cannot fail. */
    if (sio_decode(b->buf, b->text_len, b->max_attach, &b->pkt, NULL, 0))
        return DG_EPROTO;
    b->state = SIO_BA_COMPLETE;
    return DG_OK;
}

int sio_binasm_pending(const sio_binasm_t *b)
{
    return b->state == SIO_BA_COLLECTING;
}

const sio_packet_t *sio_binasm_packet(sio_binasm_t *b)
{
    return b->state == SIO_BA_COMPLETE ? &b->pkt : NULL;
}

const void *sio_binasm_attachment(const sio_binasm_t *b, int i, size_t *len)
{
    if (b->state != SIO_BA_COMPLETE || i < 0 || i >= b->n)
        return NULL;
    *len = b->off[i + 1] - b->off[i];
    return b->buf + b->off[i];
}

void sio_binasm_reset(sio_binasm_t *b)
{
    free(b->off);
    b->off = NULL;
    if (b->cap > SIO_BA_KEEP) {
        free(b->buf);
        b->buf = NULL;
        b->cap = 0;
    }
    b->len = b->text_len = 0;
    b->n = b->have = 0;
    memset(&b->pkt, 0, sizeof(b->pkt));
    b->state = SIO_BA_IDLE;
}

void sio_binasm_free(sio_binasm_t *b)
{
    sio_binasm_reset(b);
    free(b->buf);
    b->buf = NULL;
    b->cap = 0;
}

/* ==== Encoding ============================================================================= */

/* Bounded writer: remembers overflow instead of checking at every call site. */
typedef struct wr {
    char *buf;
    size_t cap, len;
    int over;
} wr_t;

static void wr_put(wr_t *w, const char *s, size_t n)
{
    if (w->over || n > w->cap - w->len) {
        w->over = 1;
        return;
    }
    if (n)
        memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void wr_ch(wr_t *w, char c)
{
    wr_put(w, &c, 1);
}

static void wr_ulong(wr_t *w, unsigned long v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%lu", v);
    wr_put(w, tmp, (size_t)n);
}

/* Appends s[0..len) as a JSON string literal, escaping like JSON.stringify. */
static void wr_quote(wr_t *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    wr_ch(w, '"');
    size_t run = 0; /* start of the bytes not yet written */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        size_t en = 2;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
        } else if (c < 0x20) {
            esc[0] = '\\';
            switch (c) {
            case '\b':
                esc[1] = 'b';
                break;
            case '\f':
                esc[1] = 'f';
                break;
            case '\n':
                esc[1] = 'n';
                break;
            case '\r':
                esc[1] = 'r';
                break;
            case '\t':
                esc[1] = 't';
                break;
            default:
                memcpy(esc + 1, "u00", 3);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                en = 6;
            }
        } else {
            continue;
        }
        wr_put(w, s + run, i - run);
        wr_put(w, esc, en);
        run = i + 1;
    }
    wr_put(w, s + run, len - run);
    wr_ch(w, '"');
}

/* Finishes a builder: NUL-terminates and returns the length, or DG_ELIMIT. */
static int wr_end(wr_t *w)
{
    if (w->over || w->len >= w->cap || w->len > INT_MAX)
        return DG_ELIMIT;
    w->buf[w->len] = '\0';
    return (int)w->len;
}

static int nsp_valid(const char *nsp)
{
    if (!nsp)
        return 1;
    size_t n = strlen(nsp);
    return nsp[0] == '/' && n <= SIO_NSP_MAX && !memchr(nsp, ',', n);
}

static int wr_header(wr_t *w, int type, const char *nsp, long ack_id, int nattach)
{
    int binary = type == SIO_BINARY_EVENT || type == SIO_BINARY_ACK;
    if (type < SIO_CONNECT || type > SIO_BINARY_ACK || !nsp_valid(nsp))
        return DG_EINVAL;
    if (binary ? nattach < 1 : nattach != 0)
        return DG_EINVAL;
    if (ack_id < -1 || ack_id > SIO_ACK_ID_MAX)
        return DG_EINVAL;
    wr_ch(w, '4');
    wr_ch(w, (char)('0' + type));
    if (binary) {
        wr_ulong(w, (unsigned long)nattach);
        wr_ch(w, '-');
    }
    if (nsp && strcmp(nsp, "/")) {
        wr_put(w, nsp, strlen(nsp));
        wr_ch(w, ',');
    }
    if (ack_id >= 0)
        wr_ulong(w, (unsigned long)ack_id);
    return DG_OK;
}

int sio_encode_header(char *buf, size_t len, int type, const char *nsp, long ack_id, int nattach)
{
    wr_t w = {buf, len, 0, 0};
    int rc = wr_header(&w, type, nsp, ack_id, nattach);
    return rc ? rc : wr_end(&w);
}

/* Builds header + {"KEY":"VALUE"}. */
static int encode_kv(char *buf, size_t cap, int type, const char *nsp, const char *key,
                     const char *value)
{
    wr_t w = {buf, cap, 0, 0};
    int rc = wr_header(&w, type, nsp, -1, 0);
    if (rc)
        return rc;
    wr_ch(&w, '{');
    wr_quote(&w, key, strlen(key));
    wr_ch(&w, ':');
    wr_quote(&w, value, strlen(value));
    wr_ch(&w, '}');
    return wr_end(&w);
}

int sio_encode_connect(char *buf, size_t cap, const char *nsp, const char *sid)
{
    return encode_kv(buf, cap, SIO_CONNECT, nsp, "sid", sid);
}

int sio_encode_connect_pid(char *buf, size_t cap, const char *nsp, const char *sid,
                           const char *pid)
{
    wr_t w = {buf, cap, 0, 0};
    int rc = wr_header(&w, SIO_CONNECT, nsp, -1, 0);
    if (rc)
        return rc;
    wr_put(&w, "{\"sid\":", 7);
    wr_quote(&w, sid, strlen(sid));
    wr_put(&w, ",\"pid\":", 7);
    wr_quote(&w, pid, strlen(pid));
    wr_ch(&w, '}');
    return wr_end(&w);
}

int sio_encode_connect_error(char *buf, size_t cap, const char *nsp, const char *message)
{
    return encode_kv(buf, cap, SIO_CONNECT_ERROR, nsp, "message", message);
}

int sio_encode_disconnect(char *buf, size_t cap, const char *nsp)
{
    return sio_encode_header(buf, cap, SIO_DISCONNECT, nsp, -1, 0);
}

int sio_encode_event(char *buf, size_t cap, const char *nsp, long ack_id, int nattach,
                     const char *name, size_t name_len, const char *args, size_t args_len)
{
    wr_t w = {buf, cap, 0, 0};
    if (nattach < 0)
        return DG_EINVAL;
    int rc = wr_header(&w, nattach ? SIO_BINARY_EVENT : SIO_EVENT, nsp, ack_id, nattach);
    if (rc)
        return rc;
    wr_ch(&w, '[');
    wr_quote(&w, name, name_len);
    if (args_len) {
        wr_ch(&w, ',');
        wr_put(&w, args, args_len);
    }
    wr_ch(&w, ']');
    return wr_end(&w);
}

int sio_encode_ack(char *buf, size_t cap, const char *nsp, long ack_id, int nattach,
                   const char *args, size_t args_len)
{
    wr_t w = {buf, cap, 0, 0};
    if (nattach < 0 || ack_id < 0)
        return DG_EINVAL;
    int rc = wr_header(&w, nattach ? SIO_BINARY_ACK : SIO_ACK, nsp, ack_id, nattach);
    if (rc)
        return rc;
    wr_ch(&w, '[');
    wr_put(&w, args, args_len);
    wr_ch(&w, ']');
    return wr_end(&w);
}

int sio_json_quote(char *buf, size_t cap, const char *s, size_t len)
{
    wr_t w = {buf, cap, 0, 0};
    wr_quote(&w, s, len);
    if (w.over || w.len > INT_MAX)
        return DG_ELIMIT;
    return (int)w.len;
}
