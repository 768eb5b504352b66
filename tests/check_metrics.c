/* check_metrics.c - the Prometheus text writer (exact bytes, escaping, number formatting, sticky
 * errors), the histogram (bucket edges, sums of several, concurrent observers), /proc/self/stat
 * parsing, and a full rendering of dualgate's metric families checked by `promtool check
 * metrics` (Debian package prometheus; missing promtool fails the test when CI is set). */
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dg.h"
#include "metrics.h"

START_TEST(exact_bytes)
{
    buf_t b = BUF_INIT;
    mt_writer_t w;
    mt_writer_init(&w, &b);
    ck_assert_int_eq(
        mt_family(&w, "dualgate_connections", MT_GAUGE, "Open client connections by transport."),
        0);
    ck_assert_int_eq(mt_u64(&w, MT_LABELS({"transport", "sse"}), 3), 0);
    ck_assert_int_eq(mt_u64(&w, MT_LABELS({"transport", "websocket"}), 0), 0);
    ck_assert_int_eq(mt_family(&w, "dualgate_connections_closed_total", MT_COUNTER, NULL), 0);
    ck_assert_int_eq(mt_u64(&w, MT_LABELS({"transport", "sse"}, {"reason", "slow_consumer"}),
                            18446744073709551615ULL),
                     0);
    ck_assert_int_eq(mt_family(&w, "dualgate_redis_up", MT_GAUGE, "1 if up.\nElse 0."), 0);
    ck_assert_int_eq(mt_i64(&w, MT_NOLABELS, -1), 0);
    ck_assert_int_eq(mt_family(&w, "x:y", MT_UNTYPED, "back\\slash \"quoted\""), 0);
    ck_assert_int_eq(mt_double(&w, MT_LABELS({"v", "a\\b\"c\nd"}), 0.25), 0);
    ck_assert_int_eq(mt_double(&w, MT_LABELS({"v", ""}), -2), 0);
    ck_assert_int_eq(mt_writer_finish(&w), 0);
    ck_assert_str_eq(b.data, "# HELP dualgate_connections Open client connections by transport.\n"
                             "# TYPE dualgate_connections gauge\n"
                             "dualgate_connections{transport=\"sse\"} 3\n"
                             "dualgate_connections{transport=\"websocket\"} 0\n"
                             "# TYPE dualgate_connections_closed_total counter\n"
                             "dualgate_connections_closed_total{transport=\"sse\",reason=\"slow_"
                             "consumer\"} 18446744073709551615\n"
                             "# HELP dualgate_redis_up 1 if up.\\nElse 0.\n"
                             "# TYPE dualgate_redis_up gauge\n"
                             "dualgate_redis_up -1\n"
                             "# HELP x:y back\\\\slash \"quoted\"\n"
                             "# TYPE x:y untyped\n"
                             "x:y{v=\"a\\\\b\\\"c\\nd\"} 0.25\n"
                             "x:y{v=\"\"} -2\n");
    buf_free(&b);
}
END_TEST

static const char *render_double(buf_t *b, double v)
{
    mt_writer_t w;
    buf_reset(b);
    mt_writer_init(&w, b);
    mt_family(&w, "g", MT_GAUGE, NULL);
    mt_double(&w, MT_NOLABELS, v);
    ck_assert_int_eq(mt_writer_finish(&w), 0);
    return b->data + strlen("# TYPE g gauge\ng ");
}

START_TEST(doubles)
{
    buf_t b = BUF_INIT;
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0.1, "0.1\n"},
        {0.1 + 0.2, "0.30000000000000004\n"},
        {3, "3\n"},
        {-0.0, "-0\n"},
        {5e-05, "5e-05\n"},
        {1e21, "1e+21\n"},
        {1.5e-300, "1.5e-300\n"},
        {123456789.125, "123456789.125\n"},
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(cases); i++) {
        const char *t = render_double(&b, cases[i].v);
        ck_assert_msg(strcmp(t, cases[i].text) == 0, "case %zu: '%s'", i, t);
        ck_assert(strtod(t, NULL) == cases[i].v);
    }
    ck_assert_str_eq(render_double(&b, NAN), "NaN\n");
    ck_assert_str_eq(render_double(&b, INFINITY), "+Inf\n");
    ck_assert_str_eq(render_double(&b, -INFINITY), "-Inf\n");
    buf_free(&b);
}
END_TEST

/* Each case: a call that must fail with err and errstr; the writer then refuses everything. */
START_TEST(errors_are_sticky)
{
    static const struct {
        int step, err;
        const char *errstr;
    } cases[] = {
        {0, DG_EINVAL, "sample before any family"},
        {1, DG_EINVAL, "invalid metric name '9lives'"},
        {2, DG_EINVAL, "invalid metric name 'a-b'"},
        {3, DG_EINVAL, "c_total: invalid label '__name'"},
        {4, DG_EINVAL, "c_total: label transport repeated"},
        {5, DG_EINVAL, "c_total: family written twice"},
        {6, DG_EINVAL, "c_total: negative counter"},
        {7, DG_EINVAL, "c_total: negative or NaN counter"},
        {8, DG_EINVAL, "c_total: negative or NaN counter"},
        {9, DG_EINVAL, "c_total: not a histogram family"},
        {10, DG_EINVAL, "h_seconds: a histogram takes mt_hist()"},
        {11, DG_EINVAL, "h_seconds: label le is the histogram's own"},
        {12, DG_EINVAL, "c_total: invalid label 'bad label'"},
        {13, DG_EINVAL, "invalid metric name ''"},
    };
    mt_hist_t h;
    mt_hist_init(&h);
    const mt_hist_t *hs[] = {&h};
    for (size_t i = 0; i < DG_ARRAY_LEN(cases); i++) {
        buf_t b = BUF_INIT;
        mt_writer_t w;
        mt_writer_init(&w, &b);
        int step = cases[i].step, rc = 0;
        if (step >= 3 && step <= 9 && step != 5)
            ck_assert_int_eq(mt_family(&w, "c_total", MT_COUNTER, "c"), 0);
        if (step == 10 || step == 11)
            ck_assert_int_eq(mt_family(&w, "h_seconds", MT_HISTOGRAM, "h"), 0);
        if (step == 12)
            ck_assert_int_eq(mt_family(&w, "c_total", MT_COUNTER, "c"), 0);
        switch (step) {
        case 0:
            rc = mt_u64(&w, MT_NOLABELS, 1);
            break;
        case 1:
            rc = mt_family(&w, "9lives", MT_GAUGE, NULL);
            break;
        case 2:
            rc = mt_family(&w, "a-b", MT_GAUGE, NULL);
            break;
        case 3:
            rc = mt_u64(&w, MT_LABELS({"__name", "x"}), 1);
            break;
        case 4:
            rc = mt_u64(&w, MT_LABELS({"transport", "a"}, {"transport", "b"}), 1);
            break;
        case 5:
            mt_family(&w, "c_total", MT_COUNTER, "c");
            rc = mt_family(&w, "c_total", MT_GAUGE, "c");
            break;
        case 6:
            rc = mt_i64(&w, MT_NOLABELS, -1);
            break;
        case 7:
            rc = mt_double(&w, MT_NOLABELS, -0.5);
            break;
        case 8:
            rc = mt_double(&w, MT_NOLABELS, NAN);
            break;
        case 9:
            rc = mt_hist(&w, MT_NOLABELS, hs, 1);
            break;
        case 10:
            rc = mt_u64(&w, MT_NOLABELS, 1);
            break;
        case 11:
            rc = mt_hist(&w, MT_LABELS({"le", "1"}), hs, 1);
            break;
        case 12:
            rc = mt_u64(&w, MT_LABELS({"bad label", "x"}), 1);
            break;
        case 13:
            rc = mt_family(&w, "", MT_GAUGE, NULL);
            break;
        }
        ck_assert_msg(rc == cases[i].err, "case %zu: rc %d", i, rc);
        ck_assert_str_eq(w.errstr, cases[i].errstr);
        size_t len = b.len;
        ck_assert_int_eq(mt_family(&w, "other", MT_GAUGE, "o"), cases[i].err);
        ck_assert_int_eq(mt_u64(&w, MT_NOLABELS, 1), cases[i].err);
        ck_assert_int_eq(mt_hist(&w, MT_NOLABELS, hs, 1), cases[i].err);
        ck_assert_uint_eq(b.len, len);
        ck_assert_int_eq(mt_writer_finish(&w), cases[i].err);
        ck_assert_str_eq(w.errstr, cases[i].errstr);
        buf_free(&b);
    }
}
END_TEST

START_TEST(family_limit)
{
    buf_t b = BUF_INIT;
    mt_writer_t w;
    mt_writer_init(&w, &b);
    char name[32];
    for (int i = 0; i < MT_MAX_FAMILIES; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        ck_assert_int_eq(mt_family(&w, name, MT_GAUGE, NULL), 0);
    }
    ck_assert_int_eq(mt_family(&w, "one_more", MT_GAUGE, NULL), DG_ELIMIT);
    ck_assert_str_eq(w.errstr, "one_more: more than 128 families");
    buf_free(&b);
}
END_TEST

START_TEST(histogram_edges_and_sum)
{
    mt_hist_t a, c;
    mt_hist_init(&a);
    mt_hist_init(&c);
    mt_hist_observe_ns(&a, 50000);       /* on the first bound: le is inclusive */
    mt_hist_observe_ns(&a, 50001);       /* next bucket */
    mt_hist_observe_ns(&a, -7);          /* clock disagreement: counts as 0 */
    mt_hist_observe_ns(&c, 10000000000); /* 10 s: last finite bucket */
    mt_hist_observe_ns(&c, 10000000001); /* over: +Inf only */
    mt_hist_observe_ns(&c, 1500000);     /* 1.5 ms */
    const mt_hist_t *hs[] = {&a, NULL, &c};
    mt_hist_snap_t s;
    mt_hist_sum(hs, 3, &s);
    ck_assert_uint_eq(s.count, 6);
    ck_assert_uint_eq(s.bucket[0], 2);
    ck_assert_uint_eq(s.bucket[1], 3);
    ck_assert_uint_eq(s.bucket[5], 4); /* 2.5 ms */
    ck_assert_uint_eq(s.bucket[MT_HIST_NBOUNDS - 1], 5);
    ck_assert_uint_eq(s.bucket[MT_HIST_NBOUNDS], 6);
    ck_assert(s.sum == 20.001600002);

    buf_t b = BUF_INIT;
    mt_writer_t w;
    mt_writer_init(&w, &b);
    mt_family(&w, "dualgate_delivery_latency_seconds", MT_HISTOGRAM, "Latency.");
    ck_assert_int_eq(mt_hist(&w, MT_LABELS({"transport", "sse"}), hs, 3), 0);
    ck_assert_int_eq(mt_hist(&w, MT_NOLABELS, hs, 0), 0);
    ck_assert_int_eq(mt_writer_finish(&w), 0);
    static const char *const les[] = {"5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025",
                                      "0.005", "0.01",   "0.025",   "0.05",   "0.1",   "0.25",
                                      "0.5",   "1",      "2.5",     "5",      "10",    "+Inf"};
    static const int cum[] = {2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 6};
    buf_t want = BUF_INIT;
    buf_append_str(&want, "# HELP dualgate_delivery_latency_seconds Latency.\n"
                          "# TYPE dualgate_delivery_latency_seconds histogram\n");
    for (size_t i = 0; i < DG_ARRAY_LEN(les); i++)
        buf_appendf(&want,
                    "dualgate_delivery_latency_seconds_bucket{transport=\"sse\",le=\"%s\"} %d\n",
                    les[i], cum[i]);
    buf_append_str(&want, "dualgate_delivery_latency_seconds_sum{transport=\"sse\"} 20.001600002\n"
                          "dualgate_delivery_latency_seconds_count{transport=\"sse\"} 6\n");
    for (size_t i = 0; i < DG_ARRAY_LEN(les); i++)
        buf_appendf(&want, "dualgate_delivery_latency_seconds_bucket{le=\"%s\"} 0\n", les[i]);
    buf_append_str(&want, "dualgate_delivery_latency_seconds_sum 0\n"
                          "dualgate_delivery_latency_seconds_count 0\n");
    ck_assert_str_eq(b.data, want.data);
    for (size_t i = 0; i < MT_HIST_NBOUNDS; i++)
        ck_assert(strtod(les[i], NULL) == mt_hist_bounds[i]);
    buf_free(&b);
    buf_free(&want);
}
END_TEST

#define OBS_THREADS 4
#define OBS_EACH 50000

static void *observer(void *arg)
{
    mt_hist_t *h = arg;
    for (int i = 0; i < OBS_EACH; i++)
        mt_hist_observe_ns(h, (int64_t)(i % 4) * 1000000); /* 0, 1, 2, 3 ms */
    return NULL;
}

START_TEST(histogram_concurrent)
{
    mt_hist_t h;
    mt_hist_init(&h);
    pthread_t t[OBS_THREADS];
    for (int i = 0; i < OBS_THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, observer, &h), 0);
    for (int i = 0; i < OBS_THREADS; i++)
        pthread_join(t[i], NULL);
    const mt_hist_t *hs[] = {&h};
    mt_hist_snap_t s;
    mt_hist_sum(hs, 1, &s);
    ck_assert_uint_eq(s.count, OBS_THREADS * OBS_EACH);
    ck_assert_uint_eq(s.bucket[0], OBS_THREADS * OBS_EACH / 4);     /* the zeros */
    ck_assert_uint_eq(s.bucket[4], OBS_THREADS * OBS_EACH / 2);     /* <= 1 ms */
    ck_assert_uint_eq(s.bucket[5], OBS_THREADS * OBS_EACH / 4 * 3); /* <= 2.5 ms */
    ck_assert(s.sum == (double)(OBS_THREADS * OBS_EACH / 4 * 6000000ULL) / 1e9);
}
END_TEST

static const char stat_line[] =
    "4242 (dual) gate (x)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 "
    "37 0 98765 1048576000 5120 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

START_TEST(proc_stat_parse)
{
    mt_proc_stat_t st;
    ck_assert_int_eq(mt_proc_parse_stat(stat_line, strlen(stat_line), &st), 0);
    ck_assert_uint_eq(st.utime, 250);
    ck_assert_uint_eq(st.stime, 75);
    ck_assert_uint_eq(st.threads, 37);
    ck_assert_uint_eq(st.starttime, 98765);
    ck_assert_uint_eq(st.vsize, 1048576000);
    ck_assert_uint_eq(st.rss, 5120);
    /* Every cut before the rss field is missing a field. */
    const char *rss = strstr(stat_line, " 5120 ");
    for (size_t n = 0; n <= (size_t)(rss - stat_line); n++)
        ck_assert_msg(mt_proc_parse_stat(stat_line, n, &st) == DG_EPROTO, "cut at %zu", n);
    /* Not NUL-terminated: the bytes after len are never read as part of a number. */
    char copy[sizeof(stat_line)];
    memcpy(copy, stat_line, sizeof(copy));
    size_t cut = (size_t)(rss - stat_line) + 3; /* "... 51" */
    copy[cut] = '9';
    ck_assert_int_eq(mt_proc_parse_stat(copy, cut, &st), 0);
    ck_assert_uint_eq(st.rss, 51);
}
END_TEST

START_TEST(proc_stat_garbage)
{
    mt_proc_stat_t st;
    static const char *const bad[] = {
        "",
        "4242 dual S 1",                                                /* no ')' */
        "1 (a) S 1 1 1 0 -1 0 0 0 0 0 x5 75 0 0 20 0 37 0 98765 1 5\n", /* utime not a number */
        "1 (a) S 1 1 1 0 -1 0 0 0 0 0 5 -75 0 0 20 0 37 0 98765 1 5\n", /* negative */
        "1 (a) S 1 1 1 0 -1 0 0 0 0 0 99999999999999999999 1 0 0 20 0 37 0 9 1 5\n", /* overflow */
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(bad); i++)
        ck_assert_msg(mt_proc_parse_stat(bad[i], strlen(bad[i]), &st) == DG_EPROTO, "case %zu", i);
    static char big[4097];
    memset(big, ' ', sizeof(big));
    ck_assert_int_eq(mt_proc_parse_stat(big, sizeof(big), &st), DG_ELIMIT);
}
END_TEST

START_TEST(proc_read_live)
{
    mt_proc_t p, q;
    ck_assert_int_eq(mt_proc_read(&p), 0);
    ck_assert_uint_ge(p.threads, 1);
    ck_assert_uint_gt(p.rss_bytes, 0);
    ck_assert_uint_ge(p.vsize_bytes, p.rss_bytes);
    ck_assert_uint_ge(p.max_fds, p.open_fds);
    ck_assert(p.cpu_seconds >= 0);
    double now = (double)time(NULL);
    ck_assert_msg(p.start_time <= now + 1 && p.start_time > now - 86400 * 7, "start %f now %f",
                  p.start_time, now);
    ck_assert_int_eq(mt_proc_read(&q), 0);
    ck_assert(fabs(q.start_time - p.start_time) <= 0.011);
    /* A descriptor opened in between is counted. */
    int fd = dup(0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(mt_proc_read(&q), 0);
    ck_assert_uint_eq(q.open_fds, p.open_fds + 1);
    close(fd);
}
END_TEST

START_TEST(proc_write_bytes)
{
    mt_proc_t p = {.cpu_seconds = 1.25,
                   .rss_bytes = 20971520,
                   .vsize_bytes = 1048576000,
                   .open_fds = 12,
                   .max_fds = 2048,
                   .threads = 9,
                   .start_time = 1795314435.27};
    buf_t b = BUF_INIT;
    mt_writer_t w;
    mt_writer_init(&w, &b);
    ck_assert_int_eq(mt_proc_write(&w, &p), 0);
    ck_assert_str_eq(
        b.data,
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
        "# TYPE process_cpu_seconds_total counter\n"
        "process_cpu_seconds_total 1.25\n"
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
        "# TYPE process_resident_memory_bytes gauge\n"
        "process_resident_memory_bytes 20971520\n"
        "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
        "# TYPE process_virtual_memory_bytes gauge\n"
        "process_virtual_memory_bytes 1048576000\n"
        "# HELP process_open_fds Number of open file descriptors.\n"
        "# TYPE process_open_fds gauge\n"
        "process_open_fds 12\n"
        "# HELP process_max_fds Maximum number of open file descriptors.\n"
        "# TYPE process_max_fds gauge\n"
        "process_max_fds 2048\n"
        "# HELP process_threads Number of OS threads in the process.\n"
        "# TYPE process_threads gauge\n"
        "process_threads 9\n"
        "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
        "# TYPE process_start_time_seconds gauge\n"
        "process_start_time_seconds 1795314435.27\n");
    buf_free(&b);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * promtool on a rendering of every family of the contract in include/metrics.h */

static const char *const transports[] = {"sse", "websocket", "polling"};
static const char *const streams[] = {"http", "sparql", "techstack", "analyzer", "logs"};

static void per_transport(mt_writer_t *w, const char *name, mt_type_t type, const char *help,
                          uint64_t base)
{
    mt_family(w, name, type, help);
    for (size_t i = 0; i < DG_ARRAY_LEN(transports); i++)
        mt_u64(w, MT_LABELS({"transport", transports[i]}), base + i);
}

static void per_stream(mt_writer_t *w, const char *name, mt_type_t type, const char *help)
{
    mt_family(w, name, type, help);
    for (size_t i = 0; i < DG_ARRAY_LEN(streams); i++)
        mt_u64(w, MT_LABELS({"stream", streams[i]}), i);
}

static void render_contract(buf_t *b)
{
    mt_writer_t w;
    mt_writer_init(&w, b);
    per_transport(&w, "dualgate_connections", MT_GAUGE, "Open client connections by transport.", 1);
    per_transport(&w, "dualgate_connections_opened_total", MT_COUNTER,
                  "Client connections accepted, by transport.", 10);
    mt_family(&w, "dualgate_connections_closed_total", MT_COUNTER,
              "Client connections closed, by transport and reason.");
    mt_u64(&w, MT_LABELS({"transport", "sse"}, {"reason", "client"}), 9);
    mt_u64(&w, MT_LABELS({"transport", "websocket"}, {"reason", "slow_consumer"}), 1);
    mt_family(&w, "dualgate_connections_refused_total", MT_COUNTER,
              "Long-lived requests refused with 503, by reason.");
    mt_u64(&w, MT_LABELS({"reason", "max_connections"}), 2);
    per_transport(&w, "dualgate_deliveries_total", MT_COUNTER,
                  "Events written to clients, by transport.", 100);
    per_transport(&w, "dualgate_delivered_bytes_total", MT_COUNTER,
                  "Bytes of events written to clients, by transport.", 10000);
    per_transport(&w, "dualgate_dropped_messages_total", MT_COUNTER,
                  "Events not delivered because a client's queue was over its limit.", 0);
    per_transport(
        &w, "dualgate_slow_consumer_closes_total", MT_COUNTER,
        "Connections closed because their outbound queue passed queue_max_msgs or queue_max_bytes.",
        0);
    per_stream(&w, "dualgate_events_total", MT_COUNTER,
               "Events published to the broker, by stream (queue name or \"logs\").");
    mt_family(&w, "dualgate_redis_up", MT_GAUGE,
              "1 if every Redis connection is up and answering, else 0.");
    mt_u64(&w, MT_NOLABELS, 1);
    per_stream(&w, "dualgate_redis_reader_connected", MT_GAUGE,
               "1 if the stream's reader is connected to Redis, else 0.");
    mt_family(&w, "dualgate_redis_reader_lag_seconds", MT_GAUGE,
              "Time between the stream's newest entry id and the last id its reader read.");
    for (size_t i = 0; i < DG_ARRAY_LEN(streams); i++)
        mt_double(&w, MT_LABELS({"stream", streams[i]}), (double)i * 0.001);
    per_stream(&w, "dualgate_redis_reconnects_total", MT_COUNTER,
               "Reconnects of the stream's reader.");
    per_stream(&w, "dualgate_redis_entries_total", MT_COUNTER, "Stream entries read.");
    per_stream(&w, "dualgate_redis_malformed_total", MT_COUNTER,
               "Stream entries skipped as malformed.");
    per_transport(&w, "dualgate_replay_requests_total", MT_COUNTER,
                  "Resumes replayed from Redis, by transport.", 0);
    mt_family(&w, "dualgate_replay_gaps_total", MT_COUNTER,
              "Resumes that could not be complete, by reason (trimmed, invalid_cursor, "
              "redis_unavailable, replay_limit).");
    mt_u64(&w, MT_LABELS({"reason", "trimmed"}), 1);
    mt_family(&w, "dualgate_log_entries_published_total", MT_COUNTER,
              "Log entries written to the log stream.");
    mt_u64(&w, MT_NOLABELS, 5);
    mt_family(&w, "dualgate_log_entries_dropped_total", MT_COUNTER,
              "Log entries dropped (queue full or Redis down).");
    mt_u64(&w, MT_NOLABELS, 0);
    mt_family(&w, "dualgate_delivery_latency_seconds", MT_HISTOGRAM,
              "Time from a Redis entry's id time to the write of its bytes to a client.");
    mt_hist_t h[2];
    mt_hist_init(&h[0]);
    mt_hist_init(&h[1]);
    for (int i = 0; i < 100; i++)
        mt_hist_observe_ns(&h[i & 1], (int64_t)i * 37000);
    const mt_hist_t *hs[] = {&h[0], &h[1]};
    for (size_t i = 0; i < DG_ARRAY_LEN(transports); i++)
        mt_hist(&w, MT_LABELS({"transport", transports[i]}), hs, i == 0 ? 2 : 1);
    mt_proc_t p;
    ck_assert_int_eq(mt_proc_read(&p), 0);
    mt_proc_write(&w, &p);
    ck_assert_msg(mt_writer_finish(&w) == 0, "%s", w.errstr);
}

static int find_in_path(const char *name, char *out, size_t len)
{
    const char *path = getenv("PATH");
    while (path && *path) {
        size_t n = strcspn(path, ":");
        snprintf(out, len, "%.*s/%s", (int)n, path, name);
        if (n && access(out, X_OK) == 0)
            return 1;
        path += n + (path[n] == ':');
    }
    return 0;
}

START_TEST(promtool_accepts_contract)
{
    char promtool[1024];
    if (!find_in_path("promtool", promtool, sizeof(promtool))) {
        ck_assert_msg(!getenv("CI"), "promtool not found (apt-get install prometheus)");
        fprintf(stderr, "check_metrics: promtool not found; promtool check skipped\n");
        return;
    }
    buf_t b = BUF_INIT;
    render_contract(&b);
    char path[] = "/tmp/dg-metrics-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, b.data, b.len), (ssize_t)b.len);
    close(fd);
    int out[2];
    ck_assert_int_eq(pipe(out), 0);
    pid_t pid = fork();
    if (pid == 0) {
        int in = open(path, O_RDONLY);
        dup2(in, 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        close(out[0]);
        execl(promtool, "promtool", "check", "metrics", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char msg[4096];
    size_t have = 0;
    ssize_t n;
    while ((n = read(out[0], msg + have, sizeof(msg) - 1 - have)) > 0)
        have += (size_t)n;
    msg[have] = '\0';
    close(out[0]);
    int status;
    waitpid(pid, &status, 0);
    unlink(path);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0 && have == 0,
                  "promtool check metrics: status %d: %s", status, msg);
    buf_free(&b);
}
END_TEST

Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("writer");
    tcase_add_test(tc, exact_bytes);
    tcase_add_test(tc, doubles);
    tcase_add_test(tc, errors_are_sticky);
    tcase_add_test(tc, family_limit);
    suite_add_tcase(s, tc);
    tc = tcase_create("histogram");
    tcase_add_test(tc, histogram_edges_and_sum);
    tcase_add_test(tc, histogram_concurrent);
    suite_add_tcase(s, tc);
    tc = tcase_create("process");
    tcase_add_test(tc, proc_stat_parse);
    tcase_add_test(tc, proc_stat_garbage);
    tcase_add_test(tc, proc_read_live);
    tcase_add_test(tc, proc_write_bytes);
    suite_add_tcase(s, tc);
    tc = tcase_create("promtool");
    tcase_add_test(tc, promtool_accepts_contract);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}
