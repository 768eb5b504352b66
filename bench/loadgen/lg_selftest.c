/* lg_selftest.c - `loadgen --selftest`: checks loadgen's own codecs (WebSocket frames, HTTP
 * heads, chunked bodies split at every offset, payload scanning, histogram quantiles) so the
 * numbers it reports rest on tested parsing. Not dualgate's unit tests (those use Check). */
#include <stdio.h>
#include <string.h>

#include "lg_hist.h"
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

int lg_selftest(void)
{
    test_ws();
    test_head();
    test_chunked();
    test_scan();
    test_hist();
    printf("selftest: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
