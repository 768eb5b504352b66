/* cursor.c - Redis stream ids ("MS-SEQ") and multi-stream SSE cursors ("NAME:MS-SEQ,...").
 * Pure string work: parsing is strict (digits only, no overflow), formatting never truncates
 * silently; a cur_text_t is the one allocation. */
#include "cursor.h"

#include <stdlib.h>
#include <string.h>

#include "dg.h"

static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 20)
        return DG_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return DG_EINVAL;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return DG_EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return DG_OK;
}

int cur_id_parse(const char *s, size_t len, cur_id_t *out)
{
    const char *dash = memchr(s, '-', len);
    cur_id_t id = {0, 0};
    if (!dash)
        return parse_u64(s, len, &id.ms) == DG_OK ? (*out = id, DG_OK) : DG_EINVAL;
    if (parse_u64(s, (size_t)(dash - s), &id.ms) != DG_OK ||
        parse_u64(dash + 1, len - (size_t)(dash - s) - 1, &id.seq) != DG_OK)
        return DG_EINVAL;
    *out = id;
    return DG_OK;
}

static int fmt_u64(uint64_t v, char *buf)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

int cur_id_format(cur_id_t id, char *buf)
{
    int n = fmt_u64(id.ms, buf);
    buf[n++] = '-';
    n += fmt_u64(id.seq, buf + n);
    buf[n] = '\0';
    return n;
}

int cur_id_cmp(cur_id_t a, cur_id_t b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq)
        return a.seq < b.seq ? -1 : 1;
    return 0;
}

int cur_format(const cur_t *c, const char *const *names, char *buf, size_t len)
{
    size_t off = 0;
    for (int i = 0; i < c->n; i++) {
        if (!(c->known & (1u << i)))
            continue;
        char id[CUR_ID_STR_MAX];
        int idlen = cur_id_format(c->pos[i], id);
        size_t nlen = strlen(names[i]);
        size_t need = (off ? 1 : 0) + nlen + 1 + (size_t)idlen;
        if (off + need + 1 > len)
            return DG_ELIMIT;
        if (off)
            buf[off++] = ',';
        memcpy(buf + off, names[i], nlen);
        off += nlen;
        buf[off++] = ':';
        memcpy(buf + off, id, (size_t)idlen);
        off += (size_t)idlen;
    }
    if (len)
        buf[off] = '\0';
    return (int)off;
}

#define TEXT_SLACK 8 /* room for ids that grow a digit or two before the next realloc */

static int text_reserve(cur_text_t *t, size_t len)
{
    if (len + 1 <= t->cap)
        return DG_OK;
    size_t cap = len + 1 + TEXT_SLACK;
    char *s = realloc(t->s, cap);
    if (!s)
        return DG_ENOMEM;
    t->s = s;
    t->cap = (uint32_t)cap;
    return DG_OK;
}

static const char *text_rebuild(cur_text_t *t, const cur_t *c, const char *const *names,
                                size_t max, size_t *len)
{
    t->valid = 0;
    for (size_t want = 64;; want *= 2) {
        if (want > max)
            want = max;
        if (text_reserve(t, want) != DG_OK)
            return NULL;
        int n = cur_format(c, names, t->s, t->cap);
        if (n >= 0 && (size_t)n <= max) {
            t->len = (uint32_t)n;
            t->valid = 1;
            *len = t->len;
            return t->s;
        }
        if (n >= 0 || want == max)
            return NULL;
    }
}

const char *cur_text_advance(cur_text_t *t, cur_t *c, const char *const *names, int i,
                             cur_id_t id, size_t max, size_t *len)
{
    uint32_t bit = 1u << i;
    int was_known = (c->known & bit) != 0;
    c->pos[i] = id;
    c->known |= bit;
    if (!t->valid || !was_known) /* a new stream changes the layout */
        return text_rebuild(t, c, names, max, len);
    /* position i's id sits after the known streams before it, and after "NAME:"; ids hold no
     * comma, so the comma after an id ends it whatever the names hold */
    char *end = t->s + t->len, *p = t->s;
    for (int j = 0; j < i; j++) {
        if (!(c->known & (1u << j)))
            continue;
        p += strlen(names[j]) + 1;
        p = memchr(p, ',', (size_t)(end - p)) + 1;
    }
    p += strlen(names[i]) + 1;
    char *q = memchr(p, ',', (size_t)(end - p));
    size_t at = (size_t)(p - t->s), tail = (size_t)(end - (q ? q : end));
    char idtxt[CUR_ID_STR_MAX];
    size_t n = (size_t)cur_id_format(id, idtxt);
    size_t nlen = at + n + tail;
    if (nlen > max || text_reserve(t, nlen) != DG_OK) {
        t->valid = 0;
        return NULL;
    }
    memmove(t->s + at + n, t->s + t->len - tail, tail + 1); /* with the NUL */
    memcpy(t->s + at, idtxt, n);
    t->len = (uint32_t)nlen;
    *len = nlen;
    return t->s;
}

void cur_text_reset(cur_text_t *t)
{
    t->valid = 0;
}

void cur_text_free(cur_text_t *t)
{
    free(t->s);
    *t = (cur_text_t){0};
}

int cur_parse(cur_t *c, const char *const *names, int n, const char *s, size_t len)
{
    cur_t out = {.n = n, .known = 0};
    if (n > CUR_MAX_STREAMS || len == 0)
        return DG_EINVAL;
    if (!memchr(s, ':', len)) { /* bare id: the same position in every stream */
        cur_id_t id;
        if (cur_id_parse(s, len, &id) != DG_OK)
            return DG_EINVAL;
        for (int i = 0; i < n; i++) {
            out.pos[i] = id;
            out.known |= 1u << i;
        }
        *c = out;
        return DG_OK;
    }
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && s[end] != ',')
            end++;
        const char *colon = memchr(s + i, ':', end - i);
        if (!colon || colon == s + i)
            return DG_EINVAL;
        size_t nlen = (size_t)(colon - (s + i));
        cur_id_t id;
        if (cur_id_parse(colon + 1, end - i - nlen - 1, &id) != DG_OK)
            return DG_EINVAL;
        for (int k = 0; k < n; k++) {
            if (strlen(names[k]) == nlen && memcmp(names[k], s + i, nlen) == 0) {
                out.pos[k] = id;
                out.known |= 1u << k;
            }
        }
        if (end == len)
            break;
        i = end + 1;
        if (i == len)
            return DG_EINVAL; /* trailing comma */
    }
    *c = out;
    return DG_OK;
}
