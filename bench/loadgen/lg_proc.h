/* lg_proc.h - parsers for the /proc text loadgen samples: a process's stat (CPU ticks) and
 * status (VmRSS, VmHWM, Threads), and one line of /proc/net/tcp or tcp6 (ports and TCP state,
 * used to see a gateway close a socket its peer does not read). Text in, numbers out: the
 * caller reads the files. */
#ifndef LG_PROC_H
#define LG_PROC_H

#include <stddef.h>

/* TCP states as /proc/net/tcp prints them (include/net/tcp_states.h). */
#define LGP_TCP_ESTABLISHED 0x01

typedef struct lgp_status {
    long rss_kb;  /* VmRSS, -1 when absent */
    long hwm_kb;  /* VmHWM, -1 when absent */
    long threads; /* Threads, -1 when absent */
} lgp_status_t;

/* Parses /proc/PID/stat (NUL-terminated): utime + stime in clock ticks into *ticks. The
 * command name may hold spaces and parentheses; fields are counted after the last ')'.
 * Returns 0, or -1 when the text ends before field 15. */
int lgp_stat_ticks(const char *buf, unsigned long long *ticks);

/* Parses /proc/PID/status (NUL-terminated) into *s. Always returns 0; absent fields are -1. */
int lgp_status_parse(const char *buf, lgp_status_t *s);

/* Parses one line of /proc/net/tcp or /proc/net/tcp6 ("sl: LOCAL:PORT REMOTE:PORT ST ...",
 * addresses and ports in hex). Returns 0 and sets the ports and state, or -1 for the header
 * line or anything malformed or truncated before the state's two digits. */
int lgp_tcp_line(const char *line, size_t len, unsigned *lport, unsigned *rport, unsigned *state);

#endif
