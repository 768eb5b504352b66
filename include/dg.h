/* dg.h - error codes and version shared by every dualgate module.
 * Functions return 0 or one of the negative codes below; dg_strerror() names them, and
 * dg_errf() writes the errstr text that goes with them. Not a god header: it holds nothing but
 * this list and those two. */
#ifndef DG_H
#define DG_H

#include <stddef.h>

#define DG_VERSION "0.1.0"

#define DG_ERR_MAP(X)                                              \
    X(DG_OK, 0, "ok")                                              \
    X(DG_EAGAIN, -1, "need more input")                            \
    X(DG_EPROTO, -2, "protocol error")                             \
    X(DG_ENOMEM, -3, "out of memory")                              \
    X(DG_ELIMIT, -4, "limit exceeded")                             \
    X(DG_EINVAL, -5, "invalid argument")                           \
    X(DG_EIO, -6, "i/o error")                                     \
    X(DG_ENOTFOUND, -7, "not found")                               \
    X(DG_ECLOSED, -8, "closed")

enum {
#define DG_ERR_ENUM(name, val, text) name = val,
    DG_ERR_MAP(DG_ERR_ENUM)
#undef DG_ERR_ENUM
};

/* Returns a static string naming code (one of DG_ERR_MAP). Thread: any. */
const char *dg_strerror(int code);

/* printf-formats an error text into errstr[0..errlen) (truncated, NUL-terminated); does
 * nothing when errstr is NULL or errlen 0, so callers may pass NULL. Thread: any. */
void dg_errf(char *errstr, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define DG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* The struct of type that embeds member at ptr (intrusive lists, hash nodes, loop items). */
#define DG_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#endif
