/* check_wsframe.c - RFC 6455 headers, the server-side message assembler, the incremental frame
 * parser (fed at every split offset) and the masked client encoder. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"
#include "wsframe.h"

static const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};

START_TEST(header_lengths)
{
    unsigned char b[WS_HDR_MAX];
    ck_assert_uint_eq(ws_frame_header(b, WS_OP_TEXT, 0), 2);
    ck_assert_mem_eq(b, "\x81\x00", 2);
    ck_assert_uint_eq(ws_frame_header(b, WS_OP_TEXT, 125), 2);
    ck_assert_mem_eq(b, "\x81\x7d", 2);
    ck_assert_uint_eq(ws_frame_header(b, WS_OP_BINARY, 126), 4);
    ck_assert_mem_eq(b, "\x82\x7e\x00\x7e", 4);
    ck_assert_uint_eq(ws_frame_header(b, WS_OP_TEXT, 65535), 4);
    ck_assert_mem_eq(b, "\x81\x7e\xff\xff", 4);
    ck_assert_uint_eq(ws_frame_header(b, WS_OP_TEXT, 65536), 10);
    ck_assert_mem_eq(b, "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    ck_assert_uint_eq(ws_frame_header(b, WS_OP_CLOSE, 0x0102030405ull), 10);
    ck_assert_mem_eq(b, "\x88\x7f\x00\x00\x00\x01\x02\x03\x04\x05", 10);
    ck_assert_uint_eq(ws_frame_header(b, WS_OP_PONG, 3), 2);
    ck_assert_mem_eq(b, "\x8a\x03", 2);

    unsigned char m[WS_HDR_MASKED_MAX];
    ck_assert_uint_eq(ws_frame_header_ex(m, 0, WS_OP_TEXT, 5, key), 6);
    ck_assert_mem_eq(m, "\x01\x85\x37\xfa\x21\x3d", 6);
    ck_assert_uint_eq(ws_frame_header_ex(m, 1, WS_OP_BINARY, 70000, key), 14);
    ck_assert_mem_eq(m, "\x82\xff\x00\x00\x00\x00\x00\x01\x11\x70\x37\xfa\x21\x3d", 14);
}
END_TEST

START_TEST(encode_masked_rfc_example)
{
    /* RFC 6455 5.7: a single-frame masked text message "Hello". */
    unsigned char out[32];
    size_t n;
    ck_assert_int_eq(ws_frame_encode_masked(out, sizeof(out), 1, WS_OP_TEXT, "Hello", 5, key, &n),
                     0);
    ck_assert_uint_eq(n, 11);
    ck_assert_mem_eq(out, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
    ck_assert_int_eq(ws_frame_encode_masked(out, 10, 1, WS_OP_TEXT, "Hello", 5, key, &n),
                     DG_ELIMIT);
    ck_assert_int_eq(ws_frame_encode_masked(out, sizeof(out), 0, WS_OP_PING, "", 0, key, &n),
                     DG_EINVAL);
    ck_assert_int_eq(ws_frame_encode_masked(out, sizeof(out), 1, 3, "", 0, key, &n), DG_EINVAL);

    unsigned char big[200];
    memset(big, 'x', sizeof(big));
    ck_assert_int_eq(ws_frame_encode_masked(out, sizeof(out), 1, WS_OP_PING, big, 126, key, &n),
                     DG_EINVAL);

    /* Masking in pieces equals masking at once. */
    unsigned char a[7] = "abcdefg", b[7] = "abcdefg";
    ws_mask_apply(a, 7, key, 0);
    ws_mask_apply(b, 3, key, 0);
    ws_mask_apply(b + 3, 4, key, 3);
    ck_assert_mem_eq(a, b, 7);
}
END_TEST

/* ---- parser ---- */

typedef struct got {
    int n;
    int op[16], fin[16];
    size_t len[16];
    unsigned char data[16][70000];
} got_t;

static int drain(ws_parser_t *p, got_t *g)
{
    ws_frame_t f;
    int rc;
    while ((rc = ws_parser_next(p, &f)) == 0) {
        ck_assert_int_lt(g->n, 16);
        g->op[g->n] = f.opcode;
        g->fin[g->n] = f.fin;
        g->len[g->n] = f.len;
        if (f.len)
            memcpy(g->data[g->n], f.payload, f.len);
        g->n++;
    }
    return rc;
}

/* A stream with every length encoding, masking, fragmentation and control frames (RFC 6455 5.7
 * examples plus large frames). Returned length; *nframes set. */
static size_t build_stream(unsigned char *s, int masked, int *nframes)
{
    size_t o = 0, n;
    static unsigned char big[65536];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (unsigned char)(i * 7);
    const unsigned char *mk = masked ? key : NULL;
#define PUT(fin, op, p, l)                                                                         \
    do {                                                                                           \
        n = ws_frame_header_ex(s + o, fin, op, l, mk);                                             \
        o += n;                                                                                    \
        memcpy(s + o, p, l);                                                                       \
        if (mk)                                                                                    \
            ws_mask_apply(s + o, l, mk, 0);                                                        \
        o += l;                                                                                    \
    } while (0)
    PUT(0, WS_OP_TEXT, "Hel", 3);
    PUT(1, WS_OP_PING, "Hello", 5);
    PUT(1, WS_OP_CONT, "lo", 2);
    PUT(1, WS_OP_BINARY, big, 256);
    PUT(1, WS_OP_BINARY, big, 65536);
    PUT(1, WS_OP_TEXT, "", 0);
    PUT(1, WS_OP_CLOSE, "\x03\xe8", 2);
#undef PUT
    *nframes = 7;
    return o;
}

static void check_stream(const got_t *g)
{
    static unsigned char big[65536];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (unsigned char)(i * 7);
    ck_assert_int_eq(g->n, 7);
    ck_assert_int_eq(g->op[0], WS_OP_TEXT);
    ck_assert_int_eq(g->fin[0], 0);
    ck_assert_uint_eq(g->len[0], 3);
    ck_assert_mem_eq(g->data[0], "Hel", 3);
    ck_assert_int_eq(g->op[1], WS_OP_PING);
    ck_assert_mem_eq(g->data[1], "Hello", 5);
    ck_assert_int_eq(g->op[2], WS_OP_CONT);
    ck_assert_int_eq(g->fin[2], 1);
    ck_assert_mem_eq(g->data[2], "lo", 2);
    ck_assert_uint_eq(g->len[3], 256);
    ck_assert_mem_eq(g->data[3], big, 256);
    ck_assert_uint_eq(g->len[4], 65536);
    ck_assert_mem_eq(g->data[4], big, 65536);
    ck_assert_int_eq(g->op[5], WS_OP_TEXT);
    ck_assert_uint_eq(g->len[5], 0);
    ck_assert_int_eq(g->op[6], WS_OP_CLOSE);
    ck_assert_mem_eq(g->data[6], "\x03\xe8", 2);
}

START_TEST(parser_every_split)
{
    static unsigned char s[70000];
    static got_t g;
    int masked = _i; /* loop test: 0 unmasked (server frames), 1 masked (client frames) */
    int nf;
    size_t len = build_stream(s, masked, &nf);
    int peer = masked ? WS_PEER_CLIENT : WS_PEER_SERVER;
    /* Every split offset near the small frames, then a stride through the big one. */
    for (size_t cut = 0; cut <= len; cut += (cut < 400 || cut > len - 40) ? 1 : 997) {
        ws_parser_t p;
        ck_assert_int_eq(ws_parser_init(&p, 65536, peer), 0);
        g.n = 0;
        ck_assert_int_eq(ws_parser_feed(&p, s, cut), 0);
        ck_assert_int_eq(drain(&p, &g), DG_EAGAIN);
        ck_assert_int_eq(ws_parser_feed(&p, s + cut, len - cut), 0);
        ck_assert_int_eq(drain(&p, &g), DG_EAGAIN);
        check_stream(&g);
        ws_parser_free(&p);
    }
}
END_TEST

START_TEST(parser_byte_by_byte)
{
    static unsigned char s[70000];
    static got_t g;
    int nf;
    size_t len = build_stream(s, 1, &nf);
    ws_parser_t p;
    ck_assert_int_eq(ws_parser_init(&p, 1 << 20, WS_PEER_ANY), 0);
    g.n = 0;
    for (size_t i = 0; i < len; i++) {
        ck_assert_int_eq(ws_parser_feed(&p, s + i, 1), 0);
        ck_assert_int_eq(drain(&p, &g), DG_EAGAIN);
    }
    check_stream(&g);
    ws_parser_free(&p);
}
END_TEST

static int parse_one(const char *bytes, size_t len, uint64_t max, int peer, ws_parser_t *p)
{
    ws_frame_t f;
    ck_assert_int_eq(ws_parser_init(p, max, peer), 0);
    int rc = ws_parser_feed(p, bytes, len);
    if (rc == 0)
        rc = ws_parser_next(p, &f);
    return rc;
}

START_TEST(parser_rejects)
{
    static const struct {
        const char *b;
        size_t len;
        int peer;
        int rc;
        const char *err;
    } bad[] = {
        {"\xc1\x80\0\0\0\0", 6, WS_PEER_CLIENT, DG_EPROTO, "RSV bits set"},
        {"\x83\x80\0\0\0\0", 6, WS_PEER_CLIENT, DG_EPROTO, "reserved opcode"},
        {"\x8b\x80\0\0\0\0", 6, WS_PEER_CLIENT, DG_EPROTO, "reserved opcode"},
        {"\x09\x80\0\0\0\0", 6, WS_PEER_CLIENT, DG_EPROTO, "bad control frame"},
        {"\x89\xfe\0\x7e", 4, WS_PEER_CLIENT, DG_EPROTO, "bad control frame"},
        {"\x81\x00", 2, WS_PEER_CLIENT, DG_EPROTO, "client frame not masked"},
        {"\x81\x80\0\0\0\0", 6, WS_PEER_SERVER, DG_EPROTO, "server frame masked"},
        {"\x82\x7e\x00\x7d", 4, WS_PEER_SERVER, DG_EPROTO, "non-minimal length"},
        {"\x82\x7f\0\0\0\0\0\0\xff\xff", 10, WS_PEER_SERVER, DG_EPROTO, "non-minimal length"},
        {"\x82\x7f\x80\0\0\0\0\0\0\0", 10, WS_PEER_SERVER, DG_EPROTO, "length has its top bit set"},
        {"\x82\x7e\x04\x01", 4, WS_PEER_SERVER, DG_ELIMIT, "frame too big"},
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(bad); i++) {
        ws_parser_t p;
        int rc = parse_one(bad[i].b, bad[i].len, 1024, bad[i].peer, &p);
        ck_assert_msg(rc == bad[i].rc, "case %zu: rc %d", i, rc);
        ck_assert_str_eq(ws_parser_errstr(&p), bad[i].err);
        /* Sticky. */
        ws_frame_t f;
        ck_assert_int_eq(ws_parser_next(&p, &f), bad[i].rc);
        ck_assert_int_eq(ws_parser_feed(&p, "\x81\x00", 2), bad[i].rc);
        ws_parser_free(&p);
    }
    ws_parser_t p;
    ck_assert_int_eq(ws_parser_init(&p, 10, 7), DG_EINVAL);
}
END_TEST

START_TEST(parser_limit_before_payload)
{
    /* A client announces 1 GiB: the header alone fails in feed, nothing of it is buffered. */
    ws_parser_t p;
    ck_assert_int_eq(ws_parser_init(&p, 1000000, WS_PEER_CLIENT), 0);
    ck_assert_int_eq(ws_parser_feed(&p, "\x82\xff\0\0\0\0\x40\0\0\0", 10), 0);
    ck_assert_int_eq(ws_parser_feed(&p, "\x37\xfa\x21\x3d", 4), DG_ELIMIT);
    ck_assert_uint_le(p.cap, 256);
    ws_parser_free(&p);

    /* Exactly the limit passes. */
    unsigned char fr[WS_HDR_MASKED_MAX + 300], pay[200];
    size_t n;
    memset(pay, 'p', sizeof(pay));
    ck_assert_int_eq(ws_frame_encode_masked(fr, sizeof(fr), 1, WS_OP_BINARY, pay, 200, key, &n), 0);
    ck_assert_int_eq(ws_parser_init(&p, 200, WS_PEER_CLIENT), 0);
    ck_assert_int_eq(ws_parser_feed(&p, fr, n), 0);
    ws_frame_t f;
    ck_assert_int_eq(ws_parser_next(&p, &f), 0);
    ck_assert_uint_eq(f.len, 200);
    ck_assert_int_eq(ws_parser_next(&p, &f), DG_EAGAIN);
    ws_parser_free(&p);
    ck_assert_int_eq(ws_parser_init(&p, 199, WS_PEER_CLIENT), 0);
    ck_assert_int_eq(ws_parser_feed(&p, fr, n), DG_ELIMIT);
    ws_parser_free(&p);
}
END_TEST

/* ---- assembler ---- */

START_TEST(asm_single_frames_zero_copy)
{
    ws_asm_t a;
    ws_msg_t m;
    ws_asm_init(&a, 100);
    const char *t = "42[\"x\"]";
    ck_assert_int_eq(ws_asm_feed(&a, 0x81, t, strlen(t), &m), 0);
    ck_assert_int_eq(m.opcode, WS_OP_TEXT);
    ck_assert_ptr_eq(m.data, t);
    ck_assert_uint_eq(m.len, strlen(t));
    ck_assert_int_eq(ws_asm_feed(&a, 0x82, "\xff\x00", 2, &m), 0); /* binary: no UTF-8 check */
    ck_assert_int_eq(m.opcode, WS_OP_BINARY);
    ck_assert_int_eq(ws_asm_feed(&a, 0x89, "p", 1, &m), 0);
    ck_assert_int_eq(m.opcode, WS_OP_PING);
    ck_assert_int_eq(ws_asm_feed(&a, 0x8a, "", 0, &m), 0);
    ck_assert_int_eq(m.opcode, WS_OP_PONG);
    ck_assert_int_eq(ws_asm_feed(&a, 0x88, "\x03\xe8", 2, &m), 0);
    ck_assert_int_eq(m.opcode, WS_OP_CLOSE);
    ck_assert_ptr_null(a.buf);
    ck_assert_int_eq(ws_asm_close_code(&a), 0);
    ck_assert_str_eq(ws_asm_errstr(&a), "");
    ws_asm_free(&a);
}
END_TEST

START_TEST(asm_fragments_with_control_between)
{
    /* "héllo" split inside the two-byte é, with a ping between the fragments; every split. */
    const char *txt = "h\xc3\xa9llo";
    size_t tl = strlen(txt);
    for (size_t cut1 = 0; cut1 <= tl; cut1++)
        for (size_t cut2 = cut1; cut2 <= tl; cut2++) {
            ws_asm_t a;
            ws_msg_t m;
            ws_asm_init(&a, tl);
            ck_assert_int_eq(ws_asm_feed(&a, WS_OP_TEXT, txt, cut1, &m), DG_EAGAIN);
            ck_assert_int_eq(ws_asm_feed(&a, 0x89, "hi", 2, &m), 0);
            ck_assert_int_eq(m.opcode, WS_OP_PING);
            ck_assert_mem_eq(m.data, "hi", 2);
            ck_assert_int_eq(ws_asm_feed(&a, WS_OP_CONT, txt + cut1, cut2 - cut1, &m), DG_EAGAIN);
            ck_assert_int_eq(ws_asm_feed(&a, 0x80, txt + cut2, tl - cut2, &m), 0);
            ck_assert_int_eq(m.opcode, WS_OP_TEXT);
            ck_assert_uint_eq(m.len, tl);
            ck_assert_mem_eq(m.data, txt, tl);
            /* And a whole message afterwards still works. */
            ck_assert_int_eq(ws_asm_feed(&a, 0x82, "ab", 2, &m), 0);
            ck_assert_int_eq(m.opcode, WS_OP_BINARY);
            ws_asm_free(&a);
        }
}
END_TEST

START_TEST(asm_errors_sticky)
{
    static const struct {
        int f1;
        const char *d1;
        int f2;
        const char *d2;
        int rc, close;
        const char *err;
    } cases[] = {
        {0x80, "x", 0, NULL, DG_EPROTO, 1002, "continuation without start"},
        {0x00, "x", 0, NULL, DG_EPROTO, 1002, "continuation without start"},
        {0x01, "x", 0x81, "y", DG_EPROTO, 1002, "new message inside fragmented one"},
        {0x01, "x", 0x02, "y", DG_EPROTO, 1002, "new message inside fragmented one"},
        {0x09, "x", 0, NULL, DG_EPROTO, 1002, "bad control frame"},
        {0xc1, "x", 0, NULL, DG_EPROTO, 1002, "RSV bits set"},
        {0x83, "x", 0, NULL, DG_EPROTO, 1002, "reserved opcode"},
        {0x81, "\xc3", 0, NULL, DG_EPROTO, 1007, "text is not UTF-8"},
        {0x01, "\xc3", 0x80, "(", DG_EPROTO, 1007, "text is not UTF-8"},
        {0x81, "0123456789", 0, NULL, DG_ELIMIT, 1009, "message too big"},
        {0x02, "01234", 0x80, "56789", DG_ELIMIT, 1009, "message too big"},
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(cases); i++) {
        ws_asm_t a;
        ws_msg_t m;
        int rc;
        ws_asm_init(&a, 9);
        rc = ws_asm_feed(&a, cases[i].f1, cases[i].d1, strlen(cases[i].d1), &m);
        if (cases[i].d2) {
            ck_assert_int_eq(rc, DG_EAGAIN);
            rc = ws_asm_feed(&a, cases[i].f2, cases[i].d2, strlen(cases[i].d2), &m);
        }
        ck_assert_msg(rc == cases[i].rc, "case %zu rc %d", i, rc);
        ck_assert_int_eq(ws_asm_close_code(&a), cases[i].close);
        ck_assert_str_eq(ws_asm_errstr(&a), cases[i].err);
        ck_assert_int_eq(ws_asm_feed(&a, 0x81, "ok", 2, &m), cases[i].rc);
        ws_asm_free(&a);
    }
    /* Control frame of 126 bytes. */
    char big[126];
    memset(big, 'a', sizeof(big));
    ws_asm_t a;
    ws_msg_t m;
    ws_asm_init(&a, 1000);
    ck_assert_int_eq(ws_asm_feed(&a, 0x8a, big, 126, &m), DG_EPROTO);
    ws_asm_free(&a);
    /* Exactly the limit when fragmented. */
    ws_asm_init(&a, 10);
    ck_assert_int_eq(ws_asm_feed(&a, 0x02, "01234", 5, &m), DG_EAGAIN);
    ck_assert_int_eq(ws_asm_feed(&a, 0x80, "56789", 5, &m), 0);
    ck_assert_uint_eq(m.len, 10);
    ws_asm_free(&a);
}
END_TEST

START_TEST(utf8_table)
{
    static const char *good[] = {"",
                                 "plain",
                                 "h\xc3\xa9",
                                 "\xe2\x82\xac",
                                 "\xf0\x9f\x98\x80",
                                 "\xef\xbf\xbf",
                                 "\xf4\x8f\xbf\xbf",
                                 "\xed\x9f\xbf"};
    static const char *bad[] = {"\x80",
                                "\xc0\xaf",
                                "\xc1\xbf",
                                "\xc3",
                                "\xe0\x80\xaf",
                                "\xed\xa0\x80",
                                "\xf0\x80\x80\xaf",
                                "\xf4\x90\x80\x80",
                                "\xf5\x80\x80\x80",
                                "\xff",
                                "\xe2\x82",
                                "a\xc3(",
                                "\xf0\x9f\x98"};
    for (size_t i = 0; i < DG_ARRAY_LEN(good); i++)
        ck_assert_msg(ws_utf8_valid(good[i], strlen(good[i])), "good %zu", i);
    for (size_t i = 0; i < DG_ARRAY_LEN(bad); i++)
        ck_assert_msg(!ws_utf8_valid(bad[i], strlen(bad[i])), "bad %zu", i);
}
END_TEST

START_TEST(close_payloads)
{
    unsigned char b[WS_CONTROL_MAX];
    size_t n;
    int code;
    const char *r;
    size_t rl;
    ck_assert_int_eq(ws_close_encode(b, 1000, "bye", 3, &n), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_mem_eq(b,
                     "\x03\xe8"
                     "bye",
                     5);
    ck_assert_int_eq(ws_close_parse(b, n, &code, &r, &rl), 0);
    ck_assert_int_eq(code, 1000);
    ck_assert_uint_eq(rl, 3);
    ck_assert_mem_eq(r, "bye", 3);
    ck_assert_int_eq(ws_close_encode(b, 1005, "", 0, &n), DG_EINVAL);
    ck_assert_int_eq(ws_close_encode(b, 999, "", 0, &n), DG_EINVAL);
    ck_assert_int_eq(ws_close_encode(b, 4000, "", 0, &n), 0);
    char longr[124];
    memset(longr, 'r', sizeof(longr));
    ck_assert_int_eq(ws_close_encode(b, 1000, longr, 124, &n), DG_EINVAL);
    ck_assert_int_eq(ws_close_encode(b, 1000, longr, 123, &n), 0);
    ck_assert_int_eq(ws_close_parse("", 0, &code, &r, &rl), 0);
    ck_assert_int_eq(code, WS_CLOSE_NO_STATUS);
    ck_assert_int_eq(ws_close_parse("\x03", 1, &code, &r, &rl), DG_EPROTO);
    ck_assert_int_eq(ws_close_parse("\x03\xed", 2, &code, &r, &rl), DG_EPROTO);     /* 1005 */
    ck_assert_int_eq(ws_close_parse("\x03\xe8\xff", 3, &code, &r, &rl), DG_EPROTO); /* UTF-8 */
    ck_assert_int_eq(ws_close_parse("\x0b\xb8", 2, &code, &r, &rl), 0);             /* 3000 */
}
END_TEST

/* ---- the server-side reader ---- */

static size_t put_frame(unsigned char *buf, int fin, int op, const char *pl, size_t len)
{
    size_t n = 0;
    ck_assert_int_eq(ws_frame_encode_masked(buf, 4096, fin, op, pl, len, key, &n), 0);
    return n;
}

/* text "héllo", then binary "abcdef" in three fragments with a ping between them, then close */
static size_t reader_stream(unsigned char *s)
{
    size_t n = 0;
    n += put_frame(s + n, 1, WS_OP_TEXT, "h\xc3\xa9llo", 6);
    n += put_frame(s + n, 0, WS_OP_BINARY, "ab", 2);
    n += put_frame(s + n, 1, WS_OP_PING, "p", 1);
    n += put_frame(s + n, 0, WS_OP_CONT, "cd", 2);
    n += put_frame(s + n, 1, WS_OP_CONT, "ef", 2);
    n += put_frame(s + n, 1, WS_OP_CLOSE, "\x03\xe8", 2);
    return n;
}

typedef struct rgot {
    int op[8];
    char data[8][16];
    size_t len[8];
    int n;
} rgot_t;

static void reader_drain(ws_reader_t *r, rgot_t *g)
{
    ws_msg_t m;
    int rc;
    while ((rc = ws_reader_next(r, &m)) == 0) {
        ck_assert_int_lt(g->n, 8);
        ck_assert_uint_le(m.len, sizeof(g->data[0]));
        g->op[g->n] = m.opcode;
        memcpy(g->data[g->n], m.data, m.len);
        g->len[g->n++] = m.len;
    }
    ck_assert_int_eq(rc, DG_EAGAIN);
}

START_TEST(reader_every_split)
{
    unsigned char s[512];
    size_t n = reader_stream(s);
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b += 3) {
            ws_reader_t r;
            rgot_t g = {0};
            ck_assert_int_eq(ws_reader_init(&r, 64), 0);
            ck_assert_int_eq(ws_reader_feed(&r, s, a), 0);
            reader_drain(&r, &g);
            ck_assert_int_eq(ws_reader_feed(&r, s + a, b - a), 0);
            reader_drain(&r, &g);
            ck_assert_int_eq(ws_reader_feed(&r, s + b, n - b), 0);
            reader_drain(&r, &g);
            ck_assert_int_eq(g.n, 4);
            ck_assert_int_eq(g.op[0], WS_OP_TEXT);
            ck_assert_int_eq(g.len[0], 6);
            ck_assert(memcmp(g.data[0], "h\xc3\xa9llo", 6) == 0);
            ck_assert_int_eq(g.op[1], WS_OP_PING); /* control frames pass between fragments */
            ck_assert_int_eq(g.op[2], WS_OP_BINARY);
            ck_assert_int_eq(g.len[2], 6);
            ck_assert(memcmp(g.data[2], "abcdef", 6) == 0);
            ck_assert_int_eq(g.op[3], WS_OP_CLOSE);
            ck_assert_int_eq(ws_reader_close_code(&r), 0);
            ws_reader_free(&r);
        }
    }
}
END_TEST

START_TEST(reader_errors_carry_close_codes)
{
    ws_reader_t r;
    ws_msg_t m;
    unsigned char f[64];
    /* unmasked client frame: 1002 */
    ck_assert_int_eq(ws_reader_init(&r, 64), 0);
    ck_assert_int_eq(ws_reader_feed(&r, "\x81\x02hi", 4), DG_EPROTO);
    ck_assert_int_eq(ws_reader_close_code(&r), WS_CLOSE_PROTOCOL);
    ck_assert_int_eq(ws_reader_next(&r, &m), DG_EPROTO); /* sticky */
    ck_assert_str_eq(ws_reader_errstr(&r), "client frame not masked");
    ws_reader_free(&r);
    /* a frame announcing 2,000,000,000 bytes: 1009 from its 14-byte header alone */
    ck_assert_int_eq(ws_reader_init(&r, 1000000), 0);
    size_t hn = ws_frame_header_ex(f, 1, WS_OP_TEXT, 2000000000ull, key);
    ck_assert_int_eq(ws_reader_feed(&r, f, hn), DG_ELIMIT);
    ck_assert_int_eq(ws_reader_close_code(&r), WS_CLOSE_TOO_BIG);
    ws_reader_free(&r);
    /* text that is not UTF-8: 1007 */
    ck_assert_int_eq(ws_reader_init(&r, 64), 0);
    size_t n = put_frame(f, 1, WS_OP_TEXT, "\xff\xfe", 2);
    ck_assert_int_eq(ws_reader_feed(&r, f, n), 0);
    ck_assert_int_eq(ws_reader_next(&r, &m), DG_EPROTO);
    ck_assert_int_eq(ws_reader_close_code(&r), WS_CLOSE_INVALID_DATA);
    ws_reader_free(&r);
    /* fragments adding up past the limit: 1009 */
    ck_assert_int_eq(ws_reader_init(&r, 4), 0);
    n = put_frame(f, 0, WS_OP_BINARY, "abc", 3);
    n += put_frame(f + n, 1, WS_OP_CONT, "de", 2);
    ck_assert_int_eq(ws_reader_feed(&r, f, n), 0);
    ck_assert_int_eq(ws_reader_next(&r, &m), DG_ELIMIT);
    ck_assert_int_eq(ws_reader_close_code(&r), WS_CLOSE_TOO_BIG);
    ws_reader_free(&r);
}
END_TEST

Suite *wsframe_suite(void)
{
    Suite *s = suite_create("wsframe");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, header_lengths);
    tcase_add_test(tc, encode_masked_rfc_example);
    tcase_add_loop_test(tc, parser_every_split, 0, 2);
    tcase_add_test(tc, parser_byte_by_byte);
    tcase_add_test(tc, parser_rejects);
    tcase_add_test(tc, parser_limit_before_payload);
    tcase_add_test(tc, asm_single_frames_zero_copy);
    tcase_add_test(tc, asm_fragments_with_control_between);
    tcase_add_test(tc, asm_errors_sticky);
    tcase_add_test(tc, utf8_table);
    tcase_add_test(tc, close_payloads);
    tcase_add_test(tc, reader_every_split);
    tcase_add_test(tc, reader_errors_carry_close_codes);
    suite_add_tcase(s, tc);
    return s;
}
