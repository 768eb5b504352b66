/* cursor.h - Redis stream ids and the SSE resume cursor built from them.
 * A cursor holds the last delivered id of each stream a connection follows, written as
 * "NAME:MS-SEQ,NAME:MS-SEQ": several streams, because job events come from one stream per
 * queue and Redis orders ids only within a stream. Pure functions, no I/O. */
#ifndef CURSOR_H
#define CURSOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct cur_id {
    uint64_t ms;
    uint64_t seq;
} cur_id_t;

#define CUR_ID_STR_MAX 42 /* "18446744073709551615-18446744073709551615" + NUL */

/* Parses "MS-SEQ" or "MS" (seq 0) of exactly len bytes. Returns 0 or DG_EINVAL. */
int cur_id_parse(const char *s, size_t len, cur_id_t *out);

/* Formats id as "MS-SEQ" into buf (CUR_ID_STR_MAX bytes). Returns the length. */
int cur_id_format(cur_id_t id, char *buf);

/* <0, 0, >0 like memcmp. */
int cur_id_cmp(cur_id_t a, cur_id_t b);

/* Queues, the log stream, then routed streams and channels (redis.h): the masks of stream
 * indexes (known here, bk_filter_t.streams, an SSE stream's follow) are uint32_t. */
#define CUR_MAX_STREAMS 32

/* Positions in several streams, by stream index (configuration order). */
typedef struct cur {
    int n;                         /* number of stream indexes in use */
    uint32_t known;                /* bit i set: pos[i] is meaningful */
    cur_id_t pos[CUR_MAX_STREAMS];
} cur_t;

/* Formats the streams in c that are set in known as "NAME:MS-SEQ,..." using names[i]; returns
 * the length written (without NUL) or DG_ELIMIT when len is too small. */
int cur_format(const cur_t *c, const char *const *names, char *buf, size_t len);

/* cur_format()'s text of one cursor, kept beside it and mended in place when one position
 * advances: a writer that puts the cursor on every event formats one id per event rather than
 * every stream's. Zero-initialised is empty. Thread: the cursor's owner. */
typedef struct cur_text {
    char *s; /* NUL-terminated, owned; meaningful while valid */
    uint32_t len, cap;
    int valid;
} cur_text_t;

/* Sets c's position i to id (and marks it known), then returns c's text as cur_format() writes
 * it, mending t when only that position changed and rebuilding it otherwise. Returns NULL (t
 * invalid) on ENOMEM or when the text is longer than max. Whoever changes c by any other means
 * calls cur_text_reset(t) before the next advance. */
const char *cur_text_advance(cur_text_t *t, cur_t *c, const char *const *names, int i,
                             cur_id_t id, size_t max, size_t *len);
void cur_text_reset(cur_text_t *t);
void cur_text_free(cur_text_t *t);

/* Parses a cursor written by cur_format against names[0..n). Unknown stream names are
 * ignored (the config may have changed); a malformed cursor returns DG_EINVAL. A bare
 * "MS-SEQ" is accepted too and applies to every stream (what a human types with curl). */
int cur_parse(cur_t *c, const char *const *names, int n, const char *s, size_t len);

#endif
