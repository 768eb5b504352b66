/* lg_resp.c - RESP2 encoding and the byte buffer it writes into. No sockets, no parsing. */
#include "lg_resp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lgb_append(lg_buf_t *b, const void *p, size_t n)
{
    if (b->off && b->off == b->len) {
        b->off = b->len = 0;
    }
    if (b->len + n > b->cap) {
        if (b->off) { /* reclaim consumed space before growing */
            memmove(b->p, b->p + b->off, b->len - b->off);
            b->len -= b->off;
            b->off = 0;
        }
        if (b->len + n > b->cap) {
            size_t nc = b->cap ? b->cap : 4096;
            while (nc < b->len + n)
                nc *= 2;
            char *np = realloc(b->p, nc);
            if (!np)
                return -1;
            b->p = np;
            b->cap = nc;
        }
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

void lgb_consume(lg_buf_t *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len)
        b->off = b->len = 0;
}

void lgb_free(lg_buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

int lgr_command(lg_buf_t *b, int argc, const char *const *argv, const size_t *lens)
{
    char hdr[32];
    int n = snprintf(hdr, sizeof(hdr), "*%d\r\n", argc);
    if (lgb_append(b, hdr, (size_t)n))
        return -1;
    for (int i = 0; i < argc; i++) {
        n = snprintf(hdr, sizeof(hdr), "$%zu\r\n", lens[i]);
        if (lgb_append(b, hdr, (size_t)n) || lgb_append(b, argv[i], lens[i]) ||
            lgb_append(b, "\r\n", 2))
            return -1;
    }
    return 0;
}
