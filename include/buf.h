/* buf.h - a growable byte buffer with a sticky out-of-memory flag, so a run of appends needs
 * one check at the end. Not thread-safe; owned by whoever embeds it. */
#ifndef BUF_H
#define BUF_H

#include <stddef.h>

typedef struct buf {
    char *data; /* read-only for callers; NULL until the first append */
    size_t len; /* read-only */
    size_t cap; /* private */
    int oom;    /* read-only: set once an append failed; later appends do nothing */
} buf_t;

#define BUF_INIT {NULL, 0, 0, 0}

/* Each returns 0 or DG_ENOMEM (then b->oom stays set). */
int buf_reserve(buf_t *b, size_t extra);
int buf_append(buf_t *b, const void *p, size_t len);
int buf_append_str(buf_t *b, const char *s);
int buf_appendf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Forgets the contents, keeps the memory. */
void buf_reset(buf_t *b);
/* Frees the memory; b is BUF_INIT again. */
void buf_free(buf_t *b);

#endif
