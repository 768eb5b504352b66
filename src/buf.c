/* buf.c - growable byte buffer (doubling, sticky oom). */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"

int buf_reserve(buf_t *b, size_t extra)
{
    if (b->oom)
        return DG_ENOMEM;
    if (b->len + extra + 1 <= b->cap)
        return DG_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return DG_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return DG_OK;
}

int buf_append(buf_t *b, const void *p, size_t len)
{
    if (buf_reserve(b, len) != DG_OK)
        return DG_ENOMEM;
    if (len)
        memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0'; /* always NUL-terminated for convenience */
    return DG_OK;
}

int buf_append_str(buf_t *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_appendf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) != DG_OK)
        return DG_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return DG_OK;
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void buf_free(buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}
