/* decode.c - BullMQ stream entries -> the payload QueueEvents hands to listeners, and log entries.
 * Pure: no I/O, no logging, no globals. jansson parses embedded JSON; a small writer below emits
 * it the way JSON.stringify does (shortest numbers, lowercase \u00xx, index keys first), which
 * jansson's own dumper does not, so the bytes match the Node original. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "decode.h"
#include "dg.h"

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                              */
/* ------------------------------------------------------------------------------------------ */

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            p++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - p) < n + 1)
            return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        p += n + 1;
    }
    return 1;
}

static int bytes_eq(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(s, lit, n) == 0;
}

/* Parses JSON text the way JSON.parse would accept it: any value at top level, every number a
 * double (JS has no integers), NUL allowed in strings. NULL if it is not valid JSON. */
static json_t *parse_js(const char *s, size_t len)
{
    json_error_t e;
    return json_loadb(s, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &e);
}

/* ------------------------------------------------------------------------------------------ */
/* JSON.stringify-compatible writer                                                           */
/* ------------------------------------------------------------------------------------------ */

typedef struct jw {
    char *buf;
    size_t len, cap;
    int oom;
} jw_t;

static void jw_put(jw_t *w, const char *s, size_t n)
{
    if (w->oom)
        return;
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (w->len + n + 1 > cap)
            cap *= 2;
        char *nb = realloc(w->buf, cap);
        if (!nb) {
            w->oom = 1;
            return;
        }
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void jw_lit(jw_t *w, const char *s)
{
    jw_put(w, s, strlen(s));
}

/* QuoteJSONString: only ", \ and C0 controls are escaped; the rest is copied as UTF-8. */
static void jw_str(jw_t *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    jw_put(w, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0';
            u[4] = hex[c >> 4], u[5] = hex[c & 15], u[6] = '\0';
            esc = u;
        }
        jw_put(w, s + run, i - run);
        jw_lit(w, esc);
        run = i + 1;
    }
    jw_put(w, s + run, n - run);
    jw_put(w, "\"", 1);
}

/* Number::toString(10) as ECMAScript specifies it: the shortest digits that round-trip, plain
 * notation for exponents in [-6, 21), exponent notation otherwise. NaN/Infinity -> null. */
static void jw_num(jw_t *w, double v)
{
    char tmp[40], digits[24], out[48];
    int k = 0, e10 = 0;
    size_t o = 0;

    if (isnan(v) || isinf(v)) {
        jw_lit(w, "null");
        return;
    }
    if (v == 0) { /* also -0, which JSON.stringify writes as 0 */
        jw_lit(w, "0");
        return;
    }
    if (v < 0) {
        out[o++] = '-';
        v = -v;
    }
    if (v < 9007199254740992.0 && v == (double)(uint64_t)v) {
        /* Integers below 2^53 (ids, counters, timestamps: most numbers here) are exact and
         * print as their digits; skip the shortest-round-trip search. */
        char d[20];
        int nd = 0;
        for (uint64_t u = (uint64_t)v; u; u /= 10)
            d[nd++] = (char)('0' + u % 10);
        while (nd)
            out[o++] = d[--nd];
        jw_put(w, out, o);
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof(tmp), "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v || p == 17)
            break;
    }
    /* tmp is "d[.ddd]e[+-]XX" */
    const char *t = tmp;
    for (; *t && *t != 'e'; t++)
        if (*t >= '0' && *t <= '9')
            digits[k++] = *t;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    e10 = (int)strtol(t + 1, NULL, 10);
    int n = e10 + 1;
    if (k <= n && n <= 21) {
        memcpy(out + o, digits, (size_t)k);
        o += (size_t)k;
        for (int i = 0; i < n - k; i++)
            out[o++] = '0';
    } else if (0 < n && n <= 21) {
        memcpy(out + o, digits, (size_t)n);
        o += (size_t)n;
        out[o++] = '.';
        memcpy(out + o, digits + n, (size_t)(k - n));
        o += (size_t)(k - n);
    } else if (-6 < n && n <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -n; i++)
            out[o++] = '0';
        memcpy(out + o, digits, (size_t)k);
        o += (size_t)k;
    } else {
        out[o++] = digits[0];
        if (k > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, (size_t)(k - 1));
            o += (size_t)(k - 1);
        }
        o += (size_t)snprintf(out + o, sizeof(out) - o, "e%c%d", n - 1 < 0 ? '-' : '+',
                              abs(n - 1));
    }
    jw_put(w, out, o);
}

/* A JS "array index" key (canonical uint32 below 2^32-1); JS objects list those first, in
 * ascending numeric order, before the other keys in insertion order. */
static int index_key(const char *k, size_t n, uint32_t *val)
{
    if (n == 0 || n > 10 || (n > 1 && k[0] == '0'))
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < '0' || k[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(k[i] - '0');
    }
    if (v >= 4294967295u)
        return 0;
    *val = (uint32_t)v;
    return 1;
}

typedef struct ikey {
    uint32_t idx;
    const char *key;
} ikey_t;

static int ikey_cmp(const void *a, const void *b)
{
    uint32_t x = ((const ikey_t *)a)->idx, y = ((const ikey_t *)b)->idx;
    return x < y ? -1 : x > y;
}

static void jw_value(jw_t *w, json_t *v);

static void jw_member(jw_t *w, int *first, const char *key, json_t *v)
{
    if (!*first)
        jw_put(w, ",", 1);
    *first = 0;
    jw_str(w, key, strlen(key));
    jw_put(w, ":", 1);
    jw_value(w, v);
}

static void jw_object(jw_t *w, json_t *obj)
{
    size_t nidx = 0, i = 0;
    const char *key;
    json_t *v;
    uint32_t idx;
    int first = 1;

    json_object_foreach(obj, key, v)
    {
        if (index_key(key, strlen(key), &idx))
            nidx++;
    }
    jw_put(w, "{", 1);
    if (nidx) {
        ikey_t *ik = malloc(nidx * sizeof(*ik));
        if (!ik) {
            w->oom = 1;
            return;
        }
        json_object_foreach(obj, key, v)
        {
            if (index_key(key, strlen(key), &idx))
                ik[i++] = (ikey_t){idx, key};
        }
        qsort(ik, nidx, sizeof(*ik), ikey_cmp);
        for (i = 0; i < nidx; i++)
            jw_member(w, &first, ik[i].key, json_object_get(obj, ik[i].key));
        free(ik);
    }
    json_object_foreach(obj, key, v)
    {
        if (!index_key(key, strlen(key), &idx))
            jw_member(w, &first, key, v);
    }
    jw_put(w, "}", 1);
}

static void jw_value(jw_t *w, json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        jw_object(w, v);
        break;
    case JSON_ARRAY:
        jw_put(w, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                jw_put(w, ",", 1);
            jw_value(w, json_array_get(v, i));
        }
        jw_put(w, "]", 1);
        break;
    case JSON_STRING:
        jw_str(w, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        jw_num(w, (double)json_integer_value(v));
        break;
    case JSON_REAL:
        jw_num(w, json_real_value(v));
        break;
    case JSON_TRUE:
        jw_lit(w, "true");
        break;
    case JSON_FALSE:
        jw_lit(w, "false");
        break;
    case JSON_NULL:
        jw_lit(w, "null");
        break;
    }
}

/* Serializes v into a malloc'd NUL-terminated string; DG_ENOMEM on failure. */
static int js_stringify(json_t *v, char **out, size_t *out_len)
{
    jw_t w = {0};
    jw_value(&w, v);
    if (w.oom) {
        free(w.buf);
        return DG_ENOMEM;
    }
    *out = w.buf;
    *out_len = w.len;
    return 0;
}

json_t *dec_json_parse(const char *s, size_t len)
{
    return parse_js(s, len);
}

int dec_json_stringify(const json_t *v, char **out, size_t *out_len)
{
    /* The writer only reads v; jansson's iteration API is not const-qualified. */
    return js_stringify((json_t *)v, out, out_len);
}

/* ------------------------------------------------------------------------------------------ */
/* Text that is its own JSON.stringify(JSON.parse(text))                                      */
/* ------------------------------------------------------------------------------------------ */

/* Most payloads are compact JSON already: such text is forwarded as it is, without a parse and
 * a rewrite. The scan accepts only forms the writer above would produce from their parse: no
 * whitespace, integers up to 2^53 (exact as doubles) and no -0, strings escaped only
 * as QuoteJSONString does, objects without duplicate or array-index keys. Each character then
 * has one spelling, so duplicate keys are equal bytes. Anything else (or deeper than
 * CANON_DEPTH, wider than CANON_KEYS) is 0: the caller takes the general path. The text must
 * be valid UTF-8. */
#define CANON_DEPTH 32
#define CANON_KEYS 32

typedef struct canon {
    const char *p, *end;
    int depth;
} canon_t;

static int canon_value(canon_t *c);

static int canon_string(canon_t *c, const char **s, size_t *n)
{
    const char *start = ++c->p; /* past the quote */
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            *s = start;
            *n = (size_t)(c->p++ - start);
            return 1;
        }
        if (ch < 0x20)
            return 0;
        if (ch != '\\') {
            c->p++;
            continue;
        }
        if (c->end - c->p < 2)
            return 0;
        char e = c->p[1];
        if (e == '"' || e == '\\' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
            c->p += 2;
            continue;
        }
        /* \u00xx, lowercase, for a C0 control without a short form */
        if (e != 'u' || c->end - c->p < 6 || c->p[2] != '0' || c->p[3] != '0' ||
            (c->p[4] != '0' && c->p[4] != '1'))
            return 0;
        char lo = c->p[5];
        int v = (c->p[4] - '0') * 16;
        if (lo >= '0' && lo <= '9')
            v += lo - '0';
        else if (lo >= 'a' && lo <= 'f')
            v += lo - 'a' + 10;
        else
            return 0;
        if (v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t')
            return 0;
        c->p += 6;
    }
    return 0;
}

static int canon_number(canon_t *c)
{
    const char *p = c->p, *digits;
    if (*p == '-')
        p++;
    digits = p;
    if (p < c->end && *p == '0')
        p++;
    else
        while (p < c->end && *p >= '0' && *p <= '9')
            p++;
    if (p == digits || p - digits > 16 ||
        (p - digits == 16 && memcmp(digits, "9007199254740992", 16) > 0) ||
        (*digits == '0' && digits != c->p))
        return 0; /* no digits, past 2^53 (not exact as a double), or -0 (written 0) */
    if (p < c->end && (*p == '.' || *p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9')))
        return 0;
    c->p = p;
    return 1;
}

static int canon_literal(canon_t *c, const char *lit, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

/* Past an opening bracket: 1 if the container is empty (its close consumed too). */
static int canon_empty(canon_t *c, char close)
{
    if (++c->p < c->end && *c->p == close) {
        c->p++;
        return 1;
    }
    return 0;
}

/* After a member or element: 1 at close (consumed), 0 past a comma, -1 for anything else. */
static int canon_after(canon_t *c, char close)
{
    if (c->p >= c->end)
        return -1;
    char ch = *c->p++;
    return ch == close ? 1 : ch == ',' ? 0 : -1;
}

static int canon_object(canon_t *c)
{
    const char *key[CANON_KEYS];
    size_t klen[CANON_KEYS], kn;
    int nk = 0, end;
    uint32_t idx;
    if (canon_empty(c, '}'))
        return 1;
    do {
        const char *k;
        if (nk == CANON_KEYS || c->p >= c->end || *c->p != '"' || !canon_string(c, &k, &kn) ||
            index_key(k, kn, &idx))
            return 0;
        for (int i = 0; i < nk; i++)
            if (klen[i] == kn && memcmp(key[i], k, kn) == 0)
                return 0;
        key[nk] = k;
        klen[nk++] = kn;
        if (c->p >= c->end || *c->p++ != ':' || !canon_value(c))
            return 0;
    } while ((end = canon_after(c, '}')) == 0);
    return end > 0;
}

static int canon_array(canon_t *c)
{
    int end;
    if (canon_empty(c, ']'))
        return 1;
    do {
        if (!canon_value(c))
            return 0;
    } while ((end = canon_after(c, ']')) == 0);
    return end > 0;
}

static int canon_value(canon_t *c)
{
    const char *s;
    size_t n;
    int ok;
    if (c->p >= c->end)
        return 0;
    switch (*c->p) {
    case '{':
    case '[':
        if (++c->depth > CANON_DEPTH)
            return 0;
        ok = *c->p == '{' ? canon_object(c) : canon_array(c);
        c->depth--;
        return ok;
    case '"': return canon_string(c, &s, &n);
    case 't': return canon_literal(c, "true", 4);
    case 'f': return canon_literal(c, "false", 5);
    case 'n': return canon_literal(c, "null", 4);
    default: return (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) && canon_number(c);
    }
}

static int canon_json(const char *s, size_t len)
{
    canon_t c = {s, s + len, 0};
    return canon_value(&c) && c.p == c.end;
}

int dec_json_canonical(const char *s, size_t len)
{
    return utf8_valid(s, len) && canon_json(s, len);
}

/* ------------------------------------------------------------------------------------------ */
/* Number(string)                                                                             */
/* ------------------------------------------------------------------------------------------ */

static int js_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* StringToNumber for the ASCII cases: trimmed, "" -> 0, 0x/0o/0b literals, [+-]Infinity,
 * decimal literals; anything else is NaN (which JSON.stringify writes as null). */
static double js_number(const char *s, size_t len)
{
    char buf[400];
    size_t a = 0, b = len;
    while (a < b && js_space(s[a]))
        a++;
    while (b > a && js_space(s[b - 1]))
        b--;
    s += a;
    len = b - a;
    if (len == 0)
        return 0;
    if (len >= sizeof(buf) || memchr(s, '\0', len))
        return NAN;
    memcpy(buf, s, len);
    buf[len] = '\0';

    if (len > 2 && buf[0] == '0' && strchr("xXoObB", buf[1])) {
        int base = (buf[1] == 'x' || buf[1] == 'X') ? 16 : (buf[1] == 'o' || buf[1] == 'O') ? 8 : 2;
        double v = 0;
        for (size_t i = 2; i < len; i++) {
            int d;
            char c = buf[i];
            if (c >= '0' && c <= '9')
                d = c - '0';
            else if (c >= 'a' && c <= 'f')
                d = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F')
                d = c - 'A' + 10;
            else
                return NAN;
            if (d >= base)
                return NAN;
            v = v * base + d;
        }
        return v;
    }
    size_t i = 0;
    int neg = 0;
    if (buf[i] == '+' || buf[i] == '-')
        neg = buf[i++] == '-';
    if (strcmp(buf + i, "Infinity") == 0)
        return neg ? -INFINITY : INFINITY;
    size_t int_digits = 0, frac_digits = 0;
    while (buf[i] >= '0' && buf[i] <= '9')
        i++, int_digits++;
    if (buf[i] == '.') {
        i++;
        while (buf[i] >= '0' && buf[i] <= '9')
            i++, frac_digits++;
    }
    if (int_digits + frac_digits == 0)
        return NAN;
    if (buf[i] == 'e' || buf[i] == 'E') {
        size_t exp_digits = 0;
        i++;
        if (buf[i] == '+' || buf[i] == '-')
            i++;
        while (buf[i] >= '0' && buf[i] <= '9')
            i++, exp_digits++;
        if (!exp_digits)
            return NAN;
    }
    if (i != len)
        return NAN;
    return strtod(buf, NULL); /* overflow gives HUGE_VAL, which is Infinity in JS too */
}

/* ------------------------------------------------------------------------------------------ */
/* Job entries                                                                                */
/* ------------------------------------------------------------------------------------------ */

/* Index of the last field called name (array2obj keeps the last value), or -1. */
static long find_field(const dec_fields_t *f, const char *name)
{
    for (size_t i = f->n; i-- > 0;)
        if (bytes_eq(f->name[i], f->name_len[i], name))
            return (long)i;
    return -1;
}

int dec_fields_check(const dec_fields_t *f, char *errstr, size_t errlen)
{
    if (!f || f->n == 0 || !f->name || !f->name_len || !f->value || !f->value_len) {
        dg_errf(errstr, errlen, "entry has no fields");
        return DG_EPROTO;
    }
    if (f->n > DEC_FIELDS_MAX) {
        dg_errf(errstr, errlen, "more than %d fields", DEC_FIELDS_MAX);
        return DG_EPROTO;
    }
    for (size_t i = 0; i < f->n; i++) {
        if (!f->name[i] || !f->value[i] || f->name_len[i] == 0) {
            dg_errf(errstr, errlen, "field %zu: empty name", i);
            return DG_EPROTO;
        }
        if (memchr(f->name[i], '\0', f->name_len[i]) || !utf8_valid(f->name[i], f->name_len[i])) {
            dg_errf(errstr, errlen, "field %zu: name is not valid UTF-8 text", i);
            return DG_EPROTO;
        }
        if (!utf8_valid(f->value[i], f->value_len[i])) {
            dg_errf(errstr, errlen, "field %zu: value is not valid UTF-8", i);
            return DG_EPROTO;
        }
    }
    return 0;
}

/* Copies a field value into a fixed buffer as a C string; rejects NUL and overlong values. */
static int copy_text(char *dst, size_t cap, const char *s, size_t len)
{
    if (len >= cap || memchr(s, '\0', len))
        return -1;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

static json_t *json_strn(const char *s, size_t n)
{
    return json_stringn_nocheck(s, n); /* validated as UTF-8 already; may hold NUL */
}

/* The common entry written straight out: distinct names, none "queue" or an array index (the
 * general path's slot and order rules then change nothing), no delay to convert, and a value
 * to parse that is its own stringification already. Returns 1 (out->json set), 0 when the
 * general path must do it, DG_ENOMEM. */
#define DIRECT_FIELDS 16

static int job_direct(const char *queue, const dec_fields_t *f, dec_event_t *out)
{
    int progress = strcmp(out->event, "progress") == 0;
    int completed = strcmp(out->event, "completed") == 0;
    size_t qlen = strlen(queue), need = qlen + 16;
    uint32_t idx;
    if (f->n > DIRECT_FIELDS || strcmp(out->event, "delayed") == 0)
        return 0;
    for (size_t i = 0; i < f->n; i++) {
        if (bytes_eq(f->name[i], f->name_len[i], "queue") ||
            index_key(f->name[i], f->name_len[i], &idx))
            return 0;
        for (size_t j = 0; j < i; j++)
            if (f->name_len[j] == f->name_len[i] &&
                memcmp(f->name[j], f->name[i], f->name_len[i]) == 0)
                return 0;
        need += f->name_len[i] + f->value_len[i] + 8;
    }
    jw_t w = {malloc(need), 0, need, 0};
    if (!w.buf)
        return DG_ENOMEM;
    jw_put(&w, "{\"queue\":", 9);
    jw_str(&w, queue, qlen);
    for (size_t i = 0; i < f->n; i++) {
        const char *name = f->name[i], *v = f->value[i];
        size_t nl = f->name_len[i], vl = f->value_len[i];
        if (bytes_eq(name, nl, "event"))
            continue;
        jw_put(&w, ",", 1);
        jw_str(&w, name, nl);
        jw_put(&w, ":", 1);
        if ((progress && bytes_eq(name, nl, "data")) ||
            (completed && bytes_eq(name, nl, "returnvalue"))) {
            if (!canon_json(v, vl)) {
                free(w.buf);
                return 0;
            }
            jw_put(&w, v, vl);
        } else {
            jw_str(&w, v, vl);
        }
    }
    jw_put(&w, "}", 1);
    if (w.oom) {
        free(w.buf);
        return DG_ENOMEM;
    }
    out->json = w.buf;
    out->json_len = w.len;
    return 1;
}

int dec_job_entry(const char *queue, const dec_fields_t *f, dec_event_t *out, char *errstr,
                  size_t errlen)
{
    json_t *obj = NULL;
    char name[CFG_STR_MAX];
    int rc;

    if (!queue || !out) {
        dg_errf(errstr, errlen, "invalid argument");
        return DG_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if ((rc = dec_fields_check(f, errstr, errlen)) != 0)
        return rc;

    long ev = find_field(f, "event");
    if (ev < 0) {
        dg_errf(errstr, errlen, "no event field");
        return DG_EPROTO;
    }
    if (f->value_len[ev] == 0 ||
        copy_text(out->event, sizeof(out->event), f->value[ev], f->value_len[ev]) != 0) {
        dg_errf(errstr, errlen, "event name empty, too long or not text");
        return DG_EPROTO;
    }
    long jid = find_field(f, "jobId");
    if (jid >= 0 && f->value_len[jid] > 0 &&
        copy_text(out->job_id, sizeof(out->job_id), f->value[jid], f->value_len[jid]) != 0) {
        dg_errf(errstr, errlen, "jobId longer than %d bytes or holds NUL", DEC_JOBID_MAX - 1);
        memset(out, 0, sizeof(*out));
        return DG_EPROTO;
    }
    if (out->job_id[0] == '\0')
        return DG_ENOTFOUND; /* QueueEvents emits no per-job event for a falsy jobId */
    if ((rc = job_direct(queue, f, out)) != 0) {
        if (rc == 1)
            return 0;
        dg_errf(errstr, errlen, "out of memory");
        memset(out, 0, sizeof(*out));
        return rc;
    }

    obj = json_object();
    if (!obj || json_object_set_new(obj, "queue", json_string(queue)) != 0)
        goto oom;
    /* array2obj then {queue, ...rest}: a name keeps the slot of its first occurrence and the
     * value of its last; an entry's own "queue" field overrides ours in the first slot. */
    for (size_t i = 0; i < f->n; i++) {
        if (bytes_eq(f->name[i], f->name_len[i], "event"))
            continue;
        if (f->name_len[i] >= sizeof(name)) {
            dg_errf(errstr, errlen, "field %zu: name too long", i);
            rc = DG_EPROTO;
            goto fail;
        }
        memcpy(name, f->name[i], f->name_len[i]);
        name[f->name_len[i]] = '\0';
        size_t first = 0;
        while (!bytes_eq(f->name[first], f->name_len[first], name))
            first++;
        if (first != i)
            continue; /* slot already taken by the first occurrence */
        size_t last = (size_t)find_field(f, name);
        json_t *v;
        const char *s = f->value[last];
        size_t n = f->value_len[last];
        if ((strcmp(out->event, "progress") == 0 && strcmp(name, "data") == 0) ||
            (strcmp(out->event, "completed") == 0 && strcmp(name, "returnvalue") == 0)) {
            v = parse_js(s, n);
            if (!v)
                v = json_strn(s, n); /* Node would throw; forwarding the text is kinder */
        } else if (strcmp(out->event, "delayed") == 0 && strcmp(name, "delay") == 0) {
            double d = js_number(s, n);
            v = (isnan(d) || isinf(d)) ? json_null() : json_real(d);
        } else {
            v = json_strn(s, n);
        }
        if (!v || json_object_set_new(obj, name, v) != 0)
            goto oom;
    }
    if ((rc = js_stringify(obj, &out->json, &out->json_len)) != 0)
        goto oom;
    json_decref(obj);
    return 0;

oom:
    dg_errf(errstr, errlen, "out of memory");
    rc = DG_ENOMEM;
fail:
    json_decref(obj);
    dec_event_clear(out);
    memset(out, 0, sizeof(*out));
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Log entries                                                                                */
/* ------------------------------------------------------------------------------------------ */

static const struct {
    const char *name;
    int level;
} levels[] = {
    {"trace", CFG_LOG_DEBUG}, {"debug", CFG_LOG_DEBUG}, {"info", CFG_LOG_INFO},
    {"warn", CFG_LOG_WARN},   {"error", CFG_LOG_ERROR}, {"fatal", CFG_LOG_ERROR},
};

int dec_level_parse(const char *s, size_t len)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < DG_ARRAY_LEN(levels); i++)
        if (bytes_eq(s, len, levels[i].name))
            return levels[i].level;
    return -1;
}

void dec_event_clear(dec_event_t *out)
{
    if (!out)
        return;
    free(out->json);
    out->json = NULL;
    out->json_len = 0;
}

/* Validates the level/ns/ts/msg members of a log object and fills out->level, out->ns. */
static int log_members(json_t *obj, dec_event_t *out, char *errstr, size_t errlen)
{
    json_t *lv = json_object_get(obj, "level"), *ns = json_object_get(obj, "ns");
    json_t *msg = json_object_get(obj, "msg"), *ts = json_object_get(obj, "ts");
    if (!json_is_string(lv) || dec_level_parse(json_string_value(lv), json_string_length(lv)) < 0) {
        dg_errf(errstr, errlen, "level missing or unknown");
        return -1;
    }
    if (!json_is_string(ns) || json_string_length(ns) == 0 ||
        copy_text(out->ns, sizeof(out->ns), json_string_value(ns), json_string_length(ns)) != 0) {
        dg_errf(errstr, errlen, "ns missing, empty or longer than %d bytes", DEC_NS_MAX - 1);
        return -1;
    }
    if (!json_is_string(msg)) {
        dg_errf(errstr, errlen, "msg missing or not a string");
        return -1;
    }
    if (!json_is_string(ts) || json_string_length(ts) == 0 ||
        memchr(json_string_value(ts), '\0', json_string_length(ts))) {
        dg_errf(errstr, errlen, "ts missing or not a string");
        return -1;
    }
    out->level = dec_level_parse(json_string_value(lv), json_string_length(lv));
    memcpy(out->event, "log", 4);
    return 0;
}

int dec_log_entry(const dec_fields_t *f, dec_event_t *out, char *errstr, size_t errlen)
{
    json_t *obj = NULL;
    int rc;

    if (!out) {
        dg_errf(errstr, errlen, "invalid argument");
        return DG_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if ((rc = dec_fields_check(f, errstr, errlen)) != 0)
        return rc;

    long js = find_field(f, "json");
    if (js >= 0) {
        obj = parse_js(f->value[js], f->value_len[js]);
        if (!json_is_object(obj)) {
            dg_errf(errstr, errlen, "json field is not a JSON object");
            rc = DG_EPROTO;
            goto fail;
        }
    } else {
        static const char *const keys[] = {"ts", "level", "ns", "msg"};
        obj = json_object();
        if (!obj)
            goto oom;
        for (size_t k = 0; k < DG_ARRAY_LEN(keys); k++) {
            long i = find_field(f, keys[k]);
            if (i < 0) {
                dg_errf(errstr, errlen, "no %s field", keys[k]);
                rc = DG_EPROTO;
                goto fail;
            }
            json_t *v = json_strn(f->value[i], f->value_len[i]);
            if (!v || json_object_set_new(obj, keys[k], v) != 0)
                goto oom;
        }
    }
    if (log_members(obj, out, errstr, errlen) != 0) {
        rc = DG_EPROTO;
        goto fail;
    }
    if ((rc = js_stringify(obj, &out->json, &out->json_len)) != 0)
        goto oom;
    if (out->json_len > DEC_LOG_MAX) {
        dg_errf(errstr, errlen, "log entry larger than %d bytes", DEC_LOG_MAX);
        rc = DG_EPROTO;
        goto fail;
    }
    json_decref(obj);
    return 0;

oom:
    dg_errf(errstr, errlen, "out of memory");
    rc = DG_ENOMEM;
fail:
    json_decref(obj);
    dec_event_clear(out);
    memset(out, 0, sizeof(*out));
    return rc;
}

/* "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)": enough to keep junk out of ts. */
static int iso_valid(const char *s, size_t n)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd";
    size_t i = 0;
    if (n < sizeof(pat) - 1 || n > 40)
        return 0;
    for (; i < sizeof(pat) - 1; i++) {
        if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
            return 0;
    }
    if (i < n && s[i] == '.') {
        size_t d = 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            d++;
        if (!d)
            return 0;
    }
    if (i < n && s[i] == 'Z')
        return i + 1 == n;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        return n - i == 6 && s[i + 1] >= '0' && s[i + 1] <= '9' && s[i + 2] >= '0' &&
               s[i + 2] <= '9' && s[i + 3] == ':' && s[i + 4] >= '0' && s[i + 4] <= '9' &&
               s[i + 5] >= '0' && s[i + 5] <= '9';
    return 0;
}

int dec_log_normalize(const char *json, size_t len, const char *now_iso, dec_event_t *out,
                      char *errstr, size_t errlen)
{
    json_t *in = NULL, *norm = NULL, *v;
    const char *key;
    int rc = DG_EINVAL;

    if (!out) {
        dg_errf(errstr, errlen, "invalid argument");
        return DG_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (!json || !now_iso) {
        dg_errf(errstr, errlen, "invalid argument");
        return DG_EINVAL;
    }
    if (len > DEC_LOG_MAX) {
        dg_errf(errstr, errlen, "log entry larger than %d bytes", DEC_LOG_MAX);
        return DG_ELIMIT;
    }
    in = parse_js(json, len);
    if (!json_is_object(in)) {
        dg_errf(errstr, errlen, "log entry is not a JSON object");
        goto fail;
    }
    json_t *lv = json_object_get(in, "level"), *ns = json_object_get(in, "ns");
    json_t *msg = json_object_get(in, "msg"), *ts = json_object_get(in, "ts");
    /* null is treated like absent: clients serialize unset optional members either way. */
    if (json_is_null(lv))
        lv = NULL;
    if (json_is_null(ns))
        ns = NULL;
    if (json_is_null(ts))
        ts = NULL;
    if (lv && (!json_is_string(lv) ||
               dec_level_parse(json_string_value(lv), json_string_length(lv)) < 0)) {
        dg_errf(errstr, errlen, "level must be one of trace, debug, info, warn, error, fatal");
        goto fail;
    }
    if (ns && (!json_is_string(ns) || json_string_length(ns) == 0 ||
               json_string_length(ns) >= DEC_NS_MAX ||
               memchr(json_string_value(ns), '\0', json_string_length(ns)))) {
        dg_errf(errstr, errlen, "ns must be a non-empty string of at most %d bytes",
                DEC_NS_MAX - 1);
        goto fail;
    }
    if (!json_is_string(msg)) {
        dg_errf(errstr, errlen, "msg must be a string");
        goto fail;
    }
    if (ts && (!json_is_string(ts) || !iso_valid(json_string_value(ts), json_string_length(ts)))) {
        dg_errf(errstr, errlen, "ts must be an ISO-8601 timestamp");
        goto fail;
    }
    norm = json_object();
    if (!norm)
        goto oom;
    if (json_object_set_new(norm, "ts", ts ? json_copy(ts) : json_string(now_iso)) != 0 ||
        json_object_set_new(norm, "level", lv ? json_copy(lv) : json_string("info")) != 0 ||
        json_object_set_new(norm, "ns", ns ? json_copy(ns) : json_string("client")) != 0 ||
        json_object_set(norm, "msg", msg) != 0)
        goto oom;
    /* Extra members ride along (after the four) and reach the stream as the json field. */
    json_object_foreach(in, key, v)
    {
        if (strcmp(key, "ts") && strcmp(key, "level") && strcmp(key, "ns") && strcmp(key, "msg"))
            if (json_object_set(norm, key, v) != 0)
                goto oom;
    }
    if (log_members(norm, out, errstr, errlen) != 0)
        goto fail; /* now_iso itself was bad */
    if (js_stringify(norm, &out->json, &out->json_len) != 0)
        goto oom;
    if (out->json_len > DEC_LOG_MAX) {
        dg_errf(errstr, errlen, "log entry larger than %d bytes", DEC_LOG_MAX);
        rc = DG_ELIMIT;
        goto fail;
    }
    json_decref(in);
    json_decref(norm);
    return 0;

oom:
    dg_errf(errstr, errlen, "out of memory");
    rc = DG_ENOMEM;
fail:
    json_decref(in);
    json_decref(norm);
    dec_event_clear(out);
    memset(out, 0, sizeof(*out));
    return rc;
}
