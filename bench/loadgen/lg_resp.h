/* lg_resp.h - RESP2 command encoding into a growable byte buffer, for loadgen's pipelined
 * XADDs. Encoding only: replies are parsed with hiredis' redisReader, sockets live elsewhere. */
#ifndef LG_RESP_H
#define LG_RESP_H

#include <stddef.h>

typedef struct lg_buf {
    char *p;
    size_t len; /* bytes held */
    size_t off; /* bytes already consumed from the front */
    size_t cap;
} lg_buf_t;

/* Appends n bytes. Returns 0 or -1 on ENOMEM (buffer unchanged). May move b->p. */
int lgb_append(lg_buf_t *b, const void *p, size_t n);
/* Drops the first n unconsumed bytes; compacts when the buffer drains. */
void lgb_consume(lg_buf_t *b, size_t n);
/* Frees the storage and zeroes b. */
void lgb_free(lg_buf_t *b);

/* Appends one RESP array of argc bulk strings (argv[i] is lens[i] bytes). Returns 0, or -1 on
 * ENOMEM, after which b may end in a partial command: treat it as fatal. */
int lgr_command(lg_buf_t *b, int argc, const char *const *argv, const size_t *lens);

#endif
