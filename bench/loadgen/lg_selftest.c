/* lg_selftest.c - `loadgen --selftest`: checks loadgen's own codecs (WebSocket frames, HTTP
 * heads, chunked bodies split at every offset, payload scanning, histogram quantiles, /proc
 * text) so the
 * numbers it reports rest on tested parsing. Not dualgate's unit tests (those use Check). */
#include <stdio.h>
#include <string.h>

#include "lg_hist.h"
#include "lg_proc.h"
#include "lg_wire.h"

int lg_selftest(void);

static int g_fail, g_pass;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            g_pass++;                                                                              \
        } else {                                                                                   \
            g_fail++;                                                                              \
            fprintf(stderr, "selftest: %s:%d: %s\n", __FILE__, __LINE__, #cond);                   \
        }                                                                                          \
    } while (0)

static void test_ws(void)
{
    /* Unmasked server frames: short text, 16-bit length text, ping. */
    uint8_t wire[600];
    size_t n = 0;
    const char *a = "42[\"progress\",{\"t\":1,\"seq\":2}]";
    wire[n++] = 0x81;
    wire[n++] = (uint8_t)strlen(a);
    memcpy(wire + n, a, strlen(a));
    n += strlen(a);
    wire[n++] = 0x81;
    wire[n++] = 126;
    wire[n++] = 0x01;
    wire[n++] = 0x2c; /* 300 */
    memset(wire + n, 'x', 300);
    n += 300;
    wire[n++] = 0x89;
    wire[n++] = 0x02;
    wire[n++] = 'h';
    wire[n++] = 'i';
    for (size_t cut = 0; cut <= n; cut++) {
        uint8_t buf[600];
        memcpy(buf, wire, n);
        lgw_frame_t f;
        long r = lgw_ws_next(buf, cut, 1000, &f);
        if (cut < 2 + strlen(a)) {
            CHECK(r == LGW_AGAIN);
            continue;
        }
        CHECK(r == (long)(2 + strlen(a)));
        CHECK(f.op == LGW_WS_TEXT && f.fin && f.len == strlen(a));
        CHECK(memcmp(f.payload, a, f.len) == 0);
        size_t off = (size_t)r;
        r = lgw_ws_next(buf + off, cut - off, 1000, &f);
        if (cut - off < 304) {
            CHECK(r == LGW_AGAIN);
            continue;
        }
        CHECK(r == 304 && f.len == 300 && f.payload[299] == 'x');
        off += 304;
        r = lgw_ws_next(buf + off, cut - off, 1000, &f);
        if (cut - off < 4) {
            CHECK(r == LGW_AGAIN);
            continue;
        }
        CHECK(r == 4 && f.op == LGW_WS_PING && f.len == 2 && memcmp(f.payload, "hi", 2) == 0);
    }
    /* Limits and malformed headers. */
    uint8_t big[10] = {0x81, 127, 0, 0, 0, 0, 0, 0x10, 0, 0};
    lgw_frame_t f;
    CHECK(lgw_ws_next(big, sizeof(big), 1000, &f) == LGW_ELIMIT);
    uint8_t rsv[2] = {0xc1, 0};
    CHECK(lgw_ws_next(rsv, 2, 1000, &f) == LGW_EPROTO);
    uint8_t badop[2] = {0x83, 0};
    CHECK(lgw_ws_next(badop, 2, 1000, &f) == LGW_EPROTO);
    uint8_t fragping[2] = {0x09, 0};
    CHECK(lgw_ws_next(fragping, 2, 1000, &f) == LGW_EPROTO);
    /* Round trip through the masking encoder (decoder unmasks in place). */
    uint8_t enc[400];
    char msg[200];
    memset(msg, 'm', sizeof(msg));
    long el = lgw_ws_encode(enc, sizeof(enc), LGW_WS_TEXT, msg, sizeof(msg), 0xdeadbeef);
    CHECK(el == 4 + 4 + 200);
    CHECK(enc[1] == (0x80 | 126));
    CHECK(lgw_ws_next(enc, (size_t)el, 1000, &f) == el);
    CHECK(f.len == 200 && memcmp(f.payload, msg, 200) == 0);
    CHECK(lgw_ws_encode(enc, 10, LGW_WS_TEXT, msg, 20, 1) == LGW_ELIMIT);
}

static void test_head(void)
{
    const char *h = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    "Transfer-Encoding: chunked\r\n\r\nabc";
    size_t n = strlen(h);
    for (size_t cut = 0; cut <= n; cut++) {
        lgw_head_t hd;
        int r = lgw_head_parse(h, cut, 8192, &hd);
        if (cut < n - 3) {
            CHECK(r == LGW_AGAIN);
        } else {
            CHECK(r == 0 && hd.status == 200 && hd.chunked == 1 && hd.length == n - 3);
        }
    }
    lgw_head_t hd;
    const char *u = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
    CHECK(lgw_head_parse(u, strlen(u), 8192, &hd) == 0 && hd.status == 101 && !hd.chunked);
    const char *bad = "HTTX/1.1 200 OK\r\n\r\n";
    CHECK(lgw_head_parse(bad, strlen(bad), 8192, &hd) == LGW_EPROTO);
    const char *noend = "HTTP/1.1 200 OK\r\nX: y\r\n";
    CHECK(lgw_head_parse(noend, strlen(noend), 10, &hd) == LGW_ELIMIT);
}

typedef struct sink {
    char out[512];
    size_t n;
} sink_t;

static int sink_fn(void *ud, const char *p, size_t n)
{
    sink_t *s = ud;
    if (s->n + n > sizeof(s->out))
        return -9;
    memcpy(s->out + s->n, p, n);
    s->n += n;
    return 0;
}

static void test_chunked(void)
{
    const char *body = "d\r\n: connected\n\n\r\n"
                       "27;ext=1\r\nevent: progress\ndata: {\"t\":5,\"seq\":7}\n\n\r\n"
                       "0\r\n\r\n";
    const char *want = ": connected\n\nevent: progress\ndata: {\"t\":5,\"seq\":7}\n\n";
    size_t n = strlen(body);
    /* Every split into two feeds, then byte at a time. */
    for (size_t cut = 0; cut <= n; cut++) {
        lgw_chunk_t ck = {0};
        sink_t s = {.n = 0};
        int r1 = lgw_chunk_feed(&ck, body, cut, sink_fn, &s);
        int r2 = lgw_chunk_feed(&ck, body + cut, n - cut, sink_fn, &s);
        CHECK(r1 == (cut == n ? 1 : 0));
        CHECK(r2 == 1);
        CHECK(s.n == strlen(want) && memcmp(s.out, want, s.n) == 0);
    }
    lgw_chunk_t ck = {0};
    sink_t s = {.n = 0};
    int r = 0;
    for (size_t i = 0; i < n; i++)
        r = lgw_chunk_feed(&ck, body + i, 1, sink_fn, &s);
    CHECK(r == 1 && s.n == strlen(want));
    /* Malformed: no digits, junk after the size, missing CRLF after data; sticky. */
    lgw_chunk_t c2 = {0};
    CHECK(lgw_chunk_feed(&c2, "\r\n", 2, sink_fn, &s) == LGW_EPROTO);
    CHECK(lgw_chunk_feed(&c2, "1\r\nx\r\n", 6, sink_fn, &s) == LGW_EPROTO);
    lgw_chunk_t c3 = {0};
    CHECK(lgw_chunk_feed(&c3, "1x\r\n", 4, sink_fn, &s) == LGW_EPROTO);
    lgw_chunk_t c4 = {0};
    CHECK(lgw_chunk_feed(&c4, "1\r\nxy", 5, sink_fn, &s) == LGW_EPROTO);
    lgw_chunk_t c5 = {0};
    CHECK(lgw_chunk_feed(&c5, "fffffffffff\r\n", 13, sink_fn, &s) == LGW_ELIMIT);
}

static void test_scan(void)
{
    long long v = 0;
    const char *sio = "[\"progress\",{\"queue\":\"http\",\"jobId\":\"lg-3\",\"data\":{\"t\":"
                      "1795314435802123,\"seq\":42}}]";
    CHECK(lgw_scan_int(sio, strlen(sio), "seq", &v) == 0 && v == 42);
    CHECK(lgw_scan_int(sio, strlen(sio), "t", &v) == 0 && v == 1795314435802123LL);
    const char *log = "[\"log\",{\"ts\":\"2026-01-01T00:00:00.000Z\",\"level\":\"info\","
                      "\"ns\":\"loadgen\",\"msg\":\"{\\\"t\\\":17,\\\"seq\\\":-1}\"}]";
    CHECK(lgw_scan_int(log, strlen(log), "seq", &v) == 0 && v == -1);
    CHECK(lgw_scan_int(log, strlen(log), "t", &v) == 0 && v == 17);
    const char *none = "{\"at\":1,\"tseq\":2,\"seq\":\"x\"}";
    CHECK(lgw_scan_int(none, strlen(none), "t", &v) == LGW_AGAIN);
    CHECK(lgw_scan_int(none, strlen(none), "seq", &v) == LGW_AGAIN);
    /* Truncated right after the key must not read past the end. */
    CHECK(lgw_scan_int("{\"seq\"", 6, "seq", &v) == LGW_AGAIN);
    CHECK(lgw_scan_int("{\"seq\":", 7, "seq", &v) == LGW_AGAIN);
}

static void test_hist(void)
{
    static lg_hist_t h;
    lgh_reset(&h);
    CHECK(lgh_quantile(&h, 0.5) == 0);
    for (uint64_t v = 1; v <= 10000; v++)
        lgh_add(&h, v);
    uint64_t p50 = lgh_quantile(&h, 0.5), p99 = lgh_quantile(&h, 0.99);
    CHECK(p50 >= 4960 && p50 <= 5040);
    CHECK(p99 >= 9820 && p99 <= 9980);
    CHECK(lgh_quantile(&h, 1.0) == 10000);
    CHECK(lgh_quantile(&h, 0.0001) == 1);
    lgh_add(&h, 1ull << 40);
    CHECK(lgh_quantile(&h, 1.0) == 1ull << 40);
}

static void test_proc(void)
{
    unsigned long long ticks = 0;
    /* comm with spaces and parentheses; utime 1234, stime 56. */
    const char *stat = "4242 (a) b (c)) S 1 2 3 4 5 6 7 8 9 10 1234 56 0 0 20 0 3 0 99\n";
    CHECK(lgp_stat_ticks(stat, &ticks) == 0 && ticks == 1290);
    CHECK(lgp_stat_ticks("4242 (x) S 1 2 3 4 5 6 7 8 9 10 1234", &ticks) == -1);
    CHECK(lgp_stat_ticks("no parenthesis", &ticks) == -1);
    lgp_status_t st;
    const char *status = "Name:\tdualgate\nVmHWM:\t  90000 kB\nVmRSS:\t   81234 kB\n"
                         "Threads:\t2031\nSigQ:\t0/1\n";
    CHECK(lgp_status_parse(status, &st) == 0);
    CHECK(st.rss_kb == 81234 && st.hwm_kb == 90000 && st.threads == 2031);
    CHECK(lgp_status_parse("Name:\tx\n", &st) == 0 && st.rss_kb == -1 && st.threads == -1);

    unsigned lp = 0, rp = 0, state = 0;
    const char *hdr = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when";
    CHECK(lgp_tcp_line(hdr, strlen(hdr), &lp, &rp, &state) == -1);
    /* A gateway socket on port 0x5208 whose peer (port 0xA1B2) stopped reading: FIN_WAIT1. */
    const char *v4 = "  12: 0100007F:5208 0100007F:A1B2 04 00020000:00000000 01:00000014 "
                     "00000008  1000        0 0 2 0000000000000000\n";
    size_t n = strlen(v4), st_end = strlen("  12: 0100007F:5208 0100007F:A1B2 04");
    for (size_t cut = 0; cut <= n; cut++) {
        int r = lgp_tcp_line(v4, cut, &lp, &rp, &state);
        if (cut < st_end) {
            CHECK(r == -1);
        } else {
            CHECK(r == 0 && lp == 0x5208 && rp == 0xA1B2 && state == 4);
        }
    }
    const char *v6 = "   3: 0000000000000000FFFF00000100007F:1F90 "
                     "0000000000000000FFFF00000100007F:C350 01 00000000:00000000 00:00000000";
    CHECK(lgp_tcp_line(v6, strlen(v6), &lp, &rp, &state) == 0);
    CHECK(lp == 0x1F90 && rp == 0xC350 && state == LGP_TCP_ESTABLISHED);
    /* Malformed: short address, 5-digit port, one-digit state, garbage. */
    const char *bad[] = {"0: 0100007:5208 0100007F:A1B2 01 x",
                         "0: 0100007F:52080 0100007F:A1B2 01",
                         "0: 0100007F:5208 0100007F:A1B2 1 x",
                         "0: 0100007F:5208 0100007F:A1B2 012",
                         "0 0100007F:5208 0100007F:A1B2 01",
                         "zz: 0100007F:5208 0100007F:A1B2 01",
                         ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(lgp_tcp_line(bad[i], strlen(bad[i]), &lp, &rp, &state) == -1);
}

int lg_selftest(void)
{
    test_ws();
    test_head();
    test_chunked();
    test_scan();
    test_hist();
    test_proc();
    printf("selftest: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
