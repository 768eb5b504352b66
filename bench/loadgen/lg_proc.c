/* lg_proc.c - /proc text parsers for loadgen (see lg_proc.h). No I/O, no allocation. */
#include "lg_proc.h"

#include "lg_wire.h"

#include <stdlib.h>
#include <string.h>

int lgp_stat_ticks(const char *buf, unsigned long long *ticks)
{
    const char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    /* After ")": field 3 (state) ... utime is field 14, stime field 15. */
    unsigned long long ut = 0, st = 0;
    int field = 3;
    while (field <= 15) {
        while (*p == ' ')
            p++;
        if (!*p || *p == '\n')
            return -1;
        if (field == 14)
            ut = strtoull(p, NULL, 10);
        else if (field == 15)
            st = strtoull(p, NULL, 10);
        p += strcspn(p, " \n");
        field++;
    }
    *ticks = ut + st;
    return 0;
}

static long status_field(const char *buf, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) == 0)
            return strtol(p + kl, NULL, 10);
    }
    return -1;
}

int lgp_status_parse(const char *buf, lgp_status_t *s)
{
    s->rss_kb = status_field(buf, "VmRSS:");
    s->hwm_kb = status_field(buf, "VmHWM:");
    s->threads = status_field(buf, "Threads:");
    return 0;
}

/* Reads at least min and at most max hex digits at *i; returns the value or -1. */
static long hexnum(const char *s, size_t len, size_t *i, int min, int max)
{
    long v = 0;
    int n = 0;
    while (*i < len && n < max && lgw_hexval(s[*i]) >= 0) {
        v = v * 16 + lgw_hexval(s[*i]);
        (*i)++;
        n++;
    }
    return n >= min ? v : -1;
}

/* "ADDR:PORT": an IPv4 (8 digits) or IPv6 (32 digits) address, then a 4-digit port. The
 * address is only skipped: the ports tell loadgen's sockets apart (all on loopback). */
static long endpoint(const char *s, size_t len, size_t *i)
{
    size_t a = *i;
    while (*i < len && lgw_hexval(s[*i]) >= 0)
        (*i)++;
    if ((*i - a != 8 && *i - a != 32) || *i >= len || s[*i] != ':')
        return -1;
    (*i)++;
    return hexnum(s, len, i, 4, 4);
}

int lgp_tcp_line(const char *line, size_t len, unsigned *lport, unsigned *rport, unsigned *state)
{
    size_t i = 0;
    while (i < len && line[i] == ' ')
        i++;
    if (hexnum(line, len, &i, 1, 8) < 0 || i >= len || line[i] != ':')
        return -1; /* the header line starts with "sl" */
    i++;
    while (i < len && line[i] == ' ')
        i++;
    long lp = endpoint(line, len, &i);
    if (lp < 0 || i >= len || line[i] != ' ')
        return -1;
    while (i < len && line[i] == ' ')
        i++;
    long rp = endpoint(line, len, &i);
    if (rp < 0 || i >= len || line[i] != ' ')
        return -1;
    while (i < len && line[i] == ' ')
        i++;
    long st = hexnum(line, len, &i, 2, 2);
    if (st < 0 || (i < len && line[i] != ' ' && line[i] != '\n'))
        return -1;
    *lport = (unsigned)lp;
    *rport = (unsigned)rp;
    *state = (unsigned)st;
    return 0;
}
