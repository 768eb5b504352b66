/* dg.c - names for the shared error codes. */
#include "dg.h"

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
