/* jpath.c - member lookup by name or dotted path, and scalars as String() text.
 * Numbers go through decode.c's JSON.stringify writer, so a room "user:42" built here matches
 * what a Node gateway would have built from the same payload. */
#include "jpath.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "decode.h"
#include "dg.h"

int jpath_valid(const char *path, size_t len)
{
    if (!path || len == 0 || len >= JPATH_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (path[i] <= ' ' || path[i] > '~')
            return 0;
    return 1;
}

const json_t *jpath_get(const json_t *obj, const char *path, size_t len)
{
    if (!json_is_object(obj) || !jpath_valid(path, len))
        return NULL;
    const json_t *v = json_object_getn(obj, path, len);
    if (v || !memchr(path, '.', len))
        return v;
    /* Dotted walk; an empty segment ("a..b", ".a") names nothing. */
    v = obj;
    const char *p = path, *end = path + len;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *seg_end = dot ? dot : end;
        if (seg_end == p || !json_is_object(v))
            return NULL;
        v = json_object_getn(v, p, (size_t)(seg_end - p));
        if (!v)
            return NULL;
        if (!dot)
            return v;
        p = dot + 1;
    }
    return NULL;
}

static int put(char *out, size_t cap, const char *s, size_t n)
{
    if (n >= cap) {
        if (cap)
            out[0] = '\0';
        return DG_ELIMIT;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return (int)n;
}

int jpath_text(const json_t *v, char *out, size_t cap)
{
    if (!out || cap == 0 || cap > (size_t)INT32_MAX)
        return DG_ELIMIT;
    out[0] = '\0';
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        return put(out, cap, json_string_value(v), json_string_length(v));
    case JSON_TRUE:
        return put(out, cap, "true", 4);
    case JSON_FALSE:
        return put(out, cap, "false", 5);
    case JSON_INTEGER:
    case JSON_REAL: {
        char *s = NULL;
        size_t n = 0;
        if (dec_json_stringify(v, &s, &n) != DG_OK)
            return DG_ENOMEM;
        int rc = put(out, cap, s, n);
        free(s);
        return rc;
    }
    default:
        return DG_EINVAL;
    }
}
