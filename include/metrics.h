/* metrics.h - a writer for the Prometheus text exposition format (version 0.0.4), a lock-free
 * latency histogram, and the conventional process_* metrics read from /proc/self.
 * Not a registry: nothing here is global. Whoever answers GET /metrics gathers its own counters
 * (connection totals, broker and Redis health, ...) and writes them through an mt_writer_t into a
 * buf_t; the module checks names, escapes label values and keeps each family's HELP/TYPE once.
 *
 * Families dualgate exposes (the contract the dashboard's live view reads; keep names exact):
 *
 *   family{labels}                                      type       (HELP text below)
 *   dualgate_connections{transport}                     gauge
 *       Open client connections by transport.
 *   dualgate_connections_opened_total{transport}        counter
 *       Client connections accepted, by transport.
 *   dualgate_connections_closed_total{transport,reason} counter
 *       Client connections closed, by transport and reason.
 *   dualgate_connections_refused_total{reason}          counter
 *       Long-lived requests refused with 503, by reason.
 *   dualgate_deliveries_total{transport}                counter
 *       Events written to clients, by transport.
 *   dualgate_delivered_bytes_total{transport}           counter
 *       Bytes of events written to clients, by transport.
 *   dualgate_dropped_messages_total{transport}          counter
 *       Events not delivered because a client's queue was over its limit.
 *   dualgate_slow_consumer_closes_total{transport}      counter
 *       Connections closed because their outbound queue passed queue_max_msgs or queue_max_bytes.
 *   dualgate_events_total{stream}                       counter
 *       Events published to the broker, by stream (queue name or "logs").
 *   dualgate_redis_up                                   gauge
 *       1 if every Redis connection is up and answering, else 0.
 *   dualgate_redis_reader_connected{stream}             gauge
 *       1 if the stream's reader is connected to Redis, else 0.
 *   dualgate_redis_reader_lag_seconds{stream}           gauge
 *       Time between the stream's newest entry id and the last id its reader read.
 *   dualgate_redis_reconnects_total{stream}             counter
 *       Reconnects of the stream's reader.
 *   dualgate_redis_entries_total{stream}                counter
 *       Stream entries read.
 *   dualgate_redis_malformed_total{stream}              counter
 *       Stream entries skipped as malformed.
 *   dualgate_replay_requests_total{transport}           counter
 *       Resumes from a cursor: sse (Last-Event-ID), socketio (connection-state recovery).
 *   dualgate_socketio_recoveries_total{result}          counter
 *       Socket.IO reconnects that asked for recovery: recovered, or fresh (a gap event).
 *   dualgate_replay_gaps_total{reason}                  counter
 *       Resumes that could not be complete, by reason (trimmed, invalid_cursor,
 *         redis_unavailable, replay_limit).
 *   dualgate_log_entries_published_total                counter
 *       Log entries written to the log stream.
 *   dualgate_log_entries_dropped_total                  counter
 *       Log entries dropped (queue full or Redis down).
 *   dualgate_delivery_latency_seconds{transport}        histogram
 *       Time from a Redis entry's id time to the write of its bytes to a client.
 *   process_cpu_seconds_total                           counter
 *       Total user and system CPU time spent in seconds.
 *   process_resident_memory_bytes                       gauge
 *       Resident memory size in bytes.
 *   process_virtual_memory_bytes                        gauge
 *       Virtual memory size in bytes.
 *   process_open_fds                                    gauge
 *       Number of open file descriptors.
 *   process_max_fds                                     gauge
 *       Maximum number of open file descriptors.
 *   process_threads                                     gauge
 *       Number of OS threads in the process.
 *   process_start_time_seconds                          gauge
 *       Start time of the process since unix epoch in seconds.
 *
 * transport is one of sse, websocket, polling. Label values must be bounded sets (never a job
 * id or a client address) and UTF-8. The process_* families come from mt_proc_read() +
 * mt_proc_write(). */
#ifndef METRICS_H
#define METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The Content-Type of a /metrics answer in this format. */
#define MT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef enum mt_type { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM, MT_UNTYPED } mt_type_t;

typedef struct mt_label {
    const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" */
    const char *value; /* any UTF-8 text; escaped on output (\\, \", \n) */
} mt_label_t;

/* Expands to the (labels, nlabels) argument pair: mt_u64(w, MT_LABELS({"transport", "sse"}), 7).
 * MT_NOLABELS for a sample without labels. */
#define MT_LABELS(...)                                                                             \
    ((const mt_label_t[]){__VA_ARGS__}),                                                           \
        (sizeof((const mt_label_t[]){__VA_ARGS__}) / sizeof(mt_label_t))
#define MT_NOLABELS NULL, 0

#define MT_MAX_FAMILIES 128 /* families per writer (a rendering); more is DG_ELIMIT */

/* One rendering of a /metrics answer. Lives on the caller's stack for one answer; owns nothing
 * (out stays the caller's). Not thread-safe: one thread writes one rendering. */
typedef struct mt_writer {
    buf_t *out;                     /* private */
    char family[128];               /* private: the family samples go to */
    mt_type_t type;                 /* private */
    uint64_t seen[MT_MAX_FAMILIES]; /* private: hashes of the families begun so far */
    size_t nseen;                   /* private */
    int err;                        /* read-only: first error (sticky), 0 if none */
    char errstr[160];               /* read-only: what the first error was */
} mt_writer_t;

/* Starts a rendering appending to out. Thread: any (one writer per thread). */
void mt_writer_init(mt_writer_t *w, buf_t *out);

/* Begins family name: writes "# HELP name help" (when help is not NULL; backslash and newline
 * escaped) and "# TYPE name type". Samples that follow belong to it. Returns 0, or DG_EINVAL for
 * an invalid name or a family begun twice in this rendering, DG_ELIMIT past MT_MAX_FAMILIES,
 * DG_ENOMEM; any error is sticky: later calls write nothing and return it again. */
int mt_family(mt_writer_t *w, const char *name, mt_type_t type, const char *help);

/* One sample of the current (counter, gauge or untyped) family: `name{labels} value`.
 * Returns 0, or DG_EINVAL (no family begun, a histogram family, a bad or repeated label name, a
 * negative or NaN counter), DG_ENOMEM; sticky as above. Doubles are written as the shortest
 * text that reads back to the same value, NaN as NaN and infinities as +Inf / -Inf. */
int mt_u64(mt_writer_t *w, const mt_label_t *labels, size_t nlabels, uint64_t v);
int mt_i64(mt_writer_t *w, const mt_label_t *labels, size_t nlabels, int64_t v);
int mt_double(mt_writer_t *w, const mt_label_t *labels, size_t nlabels, double v);

/* Returns the sticky error (0 if the rendering is complete and valid). On an error out holds a
 * partial rendering that should not be served. */
int mt_writer_finish(mt_writer_t *w);

/* ---------------------------------------------------------------------------------------------
 * Latency histogram: observations from any number of threads with no lock (one relaxed atomic
 * add per bucket and per sum). Fixed bucket bounds, in seconds:
 *   0.00005 0.0001 0.00025 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10
 * and +Inf. Give each event-loop thread its own (the struct is cache-line aligned, so
 * neighbours in an array do not share a line) and write their sum with mt_hist(). */

#define MT_HIST_NBOUNDS 17

typedef struct mt_hist {
    /* private: counts per bucket (not cumulative), the last one +Inf; then the sum */
    _Alignas(64) _Atomic uint64_t bucket[MT_HIST_NBOUNDS + 1];
    _Atomic uint64_t sum_ns;
} mt_hist_t;

/* The finite bucket bounds in seconds, ascending. */
extern const double mt_hist_bounds[MT_HIST_NBOUNDS];

/* Zeroes h. Thread: before h is shared. */
void mt_hist_init(mt_hist_t *h);

/* Counts one observation of ns nanoseconds (negative, as from clocks that disagree, counts as
 * 0). Thread: any; lock-free. */
void mt_hist_observe_ns(mt_hist_t *h, int64_t ns);

/* A plain snapshot: cumulative counts per bound (bucket[MT_HIST_NBOUNDS] is +Inf == count). */
typedef struct mt_hist_snap {
    uint64_t bucket[MT_HIST_NBOUNDS + 1];
    uint64_t count;
    double sum; /* seconds */
} mt_hist_snap_t;

/* Sums n histograms (NULL entries skipped) into out. Concurrent observations may or may not be
 * included, but each bucket and the count are consistent with one another. Thread: any. */
void mt_hist_sum(const mt_hist_t *const *h, size_t n, mt_hist_snap_t *out);

/* Writes the sum of n histograms as one labelled series of the current histogram family:
 * name_bucket{labels,le="..."} for every bound and +Inf, then name_sum and name_count.
 * Returns 0, or DG_EINVAL (the current family is not a histogram, a label named le, bad labels),
 * DG_ENOMEM; sticky as above. Thread: the writer's. */
int mt_hist(mt_writer_t *w, const mt_label_t *labels, size_t nlabels, const mt_hist_t *const *h,
            size_t n);

/* ---------------------------------------------------------------------------------------------
 * Process metrics (Linux /proc/self). */

/* The fields of /proc/<pid>/stat that the process_* metrics need, in the kernel's units. */
typedef struct mt_proc_stat {
    uint64_t utime, stime; /* clock ticks */
    uint64_t threads;
    uint64_t starttime; /* clock ticks after boot */
    uint64_t vsize;     /* bytes */
    uint64_t rss;       /* pages */
} mt_proc_stat_t;

/* Parses the text of /proc/<pid>/stat (len bytes, no NUL needed; the command name may hold
 * spaces and parentheses). Returns 0, DG_EPROTO when a needed field is missing or not a
 * decimal number, DG_ELIMIT when len > 4096. Pure. Thread: any. */
int mt_proc_parse_stat(const char *text, size_t len, mt_proc_stat_t *out);

typedef struct mt_proc {
    double cpu_seconds; /* user + system */
    uint64_t rss_bytes;
    uint64_t vsize_bytes;
    uint64_t open_fds;
    uint64_t max_fds; /* soft RLIMIT_NOFILE */
    uint64_t threads;
    double start_time; /* seconds since the epoch, to the clock tick */
} mt_proc_t;

/* Reads /proc/self/stat, counts /proc/self/fd and reads RLIMIT_NOFILE (works under systemd's
 * ProcSubset=pid: nothing outside /proc/self is read). Returns 0 or DG_EIO. Thread: any. */
int mt_proc_read(mt_proc_t *out);

/* Writes p as the seven process_* families (HELP texts above). Returns 0 or the writer's sticky
 * error. Thread: the writer's. Typical use: `if (mt_proc_read(&p) == 0) mt_proc_write(w, &p);`
 * (when /proc cannot be read the answer simply lacks process_*). */
int mt_proc_write(mt_writer_t *w, const mt_proc_t *p);

#endif
