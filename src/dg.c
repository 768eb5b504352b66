/* dg.c - names for the shared error codes, and the errstr formatter. */
#include "dg.h"

#include <stdarg.h>
#include <stdio.h>

void dg_errf(char *errstr, size_t errlen, const char *fmt, ...)
{
    if (!errstr || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errlen, fmt, ap);
    va_end(ap);
}

const char *dg_strerror(int code)
{
    switch (code) {
#define DG_ERR_CASE(name, val, text) \
    case name:                       \
        return text;
        DG_ERR_MAP(DG_ERR_CASE)
#undef DG_ERR_CASE
    }
    return "unknown error";
}
