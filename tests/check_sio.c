/* check_sio.c - Socket.IO v5: decoder (as socket.io-parser 4.2 decides), JSON validator,
 * event name/args helpers, binary assembly (attachments split every way) and exact encoders. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"
#include "sio.h"

static int dec(const char *s, sio_packet_t *p)
{
    char err[64];
    return sio_decode(s, strlen(s), SIO_ATTACH_DEFAULT, p, err, sizeof(err));
}

static void assert_data(const sio_packet_t *p, const char *want)
{
    if (!want) {
        ck_assert_ptr_null(p->data);
        ck_assert_uint_eq(p->data_len, 0);
        return;
    }
    ck_assert_ptr_nonnull(p->data);
    ck_assert_uint_eq(p->data_len, strlen(want));
    ck_assert_mem_eq(p->data, want, p->data_len);
}

START_TEST(decode_valid)
{
    static const struct {
        const char *in;
        int type, nattach;
        const char *nsp;
        long ack;
        const char *data;
    } t[] = {
        {"0", SIO_CONNECT, 0, "/", -1, NULL},
        {"0/logs,", SIO_CONNECT, 0, "/logs", -1, NULL},
        {"0/logs", SIO_CONNECT, 0, "/logs", -1, NULL},
        {"0{\"token\":\"abc\"}", SIO_CONNECT, 0, "/", -1, "{\"token\":\"abc\"}"},
        {"0/custom,{}", SIO_CONNECT, 0, "/custom", -1, "{}"},
        {"1", SIO_DISCONNECT, 0, "/", -1, NULL},
        {"1/logs,", SIO_DISCONNECT, 0, "/logs", -1, NULL},
        {"2[\"subscribe-job\",\"wire-42\"]", SIO_EVENT, 0, "/", -1,
         "[\"subscribe-job\",\"wire-42\"]"},
        {"2[\"subscribe-job\",42]", SIO_EVENT, 0, "/", -1, "[\"subscribe-job\",42]"},
        {"2/logs,[\"log\",{\"ts\":\"2026-01-01T00:00:00.000Z\",\"level\":\"info\"}]", SIO_EVENT, 0,
         "/logs", -1, "[\"log\",{\"ts\":\"2026-01-01T00:00:00.000Z\",\"level\":\"info\"}]"},
        {"212[\"message-with-ack\",1.50,{\"b\":2,\"a\":1}]", SIO_EVENT, 0, "/", 12,
         "[\"message-with-ack\",1.50,{\"b\":2,\"a\":1}]"},
        {"2/custom,0[\"x\"]", SIO_EVENT, 0, "/custom", 0, "[\"x\"]"},
        {"22147483647[\"x\"]", SIO_EVENT, 0, "/", 2147483647L, "[\"x\"]"},
        {"2[\"connected\"]", SIO_EVENT, 0, "/", -1, "[\"connected\"]"},
        {"2[\"conn\\u0065ct2\"]", SIO_EVENT, 0, "/", -1, "[\"conn\\u0065ct2\"]"},
        {"2 [\"a\"] ", SIO_EVENT, 0, "/", -1, " [\"a\"] "},
        {"317[\"a\",{}]", SIO_ACK, 0, "/", 17, "[\"a\",{}]"},
        {"3/logs,4[]", SIO_ACK, 0, "/logs", 4, "[]"},
        {"4{\"message\":\"Invalid namespace\"}", SIO_CONNECT_ERROR, 0, "/", -1,
         "{\"message\":\"Invalid namespace\"}"},
        {"4/nsp,\"nope\"", SIO_CONNECT_ERROR, 0, "/nsp", -1, "\"nope\""},
        {"51-[\"message\",{\"_placeholder\":true,\"num\":0}]", SIO_BINARY_EVENT, 1, "/", -1,
         "[\"message\",{\"_placeholder\":true,\"num\":0}]"},
        {"510-/custom,12[\"m\"]", SIO_BINARY_EVENT, 10, "/custom", 12, "[\"m\"]"},
        {"62-/logs,7[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
         SIO_BINARY_ACK, 2, "/logs", 7,
         "[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]"},
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(t); i++) {
        sio_packet_t p;
        char err[64] = "x";
        int rc = sio_decode(t[i].in, strlen(t[i].in), SIO_ATTACH_DEFAULT, &p, err, sizeof(err));
        ck_assert_msg(rc == 0, "case %zu (%s): %d %s", i, t[i].in, rc, err);
        ck_assert_str_eq(err, "");
        ck_assert_int_eq(p.type, t[i].type);
        ck_assert_int_eq(p.nattach, t[i].nattach);
        ck_assert_msg(sio_nsp_is(&p, t[i].nsp), "case %zu nsp", i);
        ck_assert_int_eq(p.ack_id, t[i].ack);
        assert_data(&p, t[i].data);
    }
}
END_TEST

START_TEST(decode_invalid)
{
    static const struct {
        const char *in;
        int rc;
        const char *err;
    } t[] = {
        {"", DG_EPROTO, "empty packet"},
        {"7", DG_EPROTO, "unknown packet type"},
        {"a", DG_EPROTO, "unknown packet type"},
        {"2", DG_EPROTO, "invalid payload"},
        {"2/logs,", DG_EPROTO, "invalid payload"},
        {"2{}", DG_EPROTO, "invalid payload"},
        {"2[]", DG_EPROTO, "invalid payload"},
        {"2[1]", DG_EPROTO, "invalid payload"},
        {"2\"x\"", DG_EPROTO, "invalid payload"},
        {"2[\"connect\"]", DG_EPROTO, "invalid payload"},
        {"2[\"disconnect\",1]", DG_EPROTO, "invalid payload"},
        {"2[\"newListener\"]", DG_EPROTO, "invalid payload"},
        {"2[\"removeListener\"]", DG_EPROTO, "invalid payload"},
        {"2[\"disconnecting\"]", DG_EPROTO, "invalid payload"},
        {"2[\"connect_error\"]", DG_EPROTO, "invalid payload"},
        {"2[\"conn\\u0065ct\"]", DG_EPROTO, "invalid payload"}, /* decoded before the check */
        {"2[\"a\"", DG_EPROTO, "invalid JSON"},
        {"2[\"a\"]x", DG_EPROTO, "invalid JSON"},
        {"2[\"a\"][]", DG_EPROTO, "invalid JSON"},
        {"22147483648[\"x\"]", DG_EPROTO, "ack id too large"},
        {"299999999999999999999[\"x\"]", DG_EPROTO, "ack id too large"},
        {"0[]", DG_EPROTO, "invalid payload"},
        {"0\"s\"", DG_EPROTO, "invalid payload"},
        {"1{}", DG_EPROTO, "invalid payload"},
        {"3", DG_EPROTO, "invalid payload"},
        {"3{}", DG_EPROTO, "invalid payload"},
        {"4", DG_EPROTO, "invalid payload"},
        {"4[]", DG_EPROTO, "invalid payload"},
        {"5[\"a\"]", DG_EPROTO, "illegal attachments"},
        {"5-[\"a\"]", DG_EPROTO, "illegal attachments"},
        {"50-[\"a\"]", DG_EPROTO, "illegal attachments"},
        {"51", DG_EPROTO, "illegal attachments"},
        {"5a-[\"a\"]", DG_EPROTO, "illegal attachments"},
        {"511-[\"a\"]", DG_ELIMIT, "too many attachments"},
        {"51234567890-[\"a\"]", DG_ELIMIT, "too many attachments"},
        {"61-[\"a\"", DG_EPROTO, "invalid JSON"},
        {"61-{}", DG_EPROTO, "invalid payload"},
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(t); i++) {
        sio_packet_t p;
        char err[64] = "";
        int rc = sio_decode(t[i].in, strlen(t[i].in), SIO_ATTACH_DEFAULT, &p, err, sizeof(err));
        ck_assert_msg(rc == t[i].rc, "case %zu (%s): rc %d", i, t[i].in, rc);
        ck_assert_msg(!strcmp(err, t[i].err), "case %zu: err '%s'", i, err);
    }
    /* Namespace bound, JSON depth bound; a NULL errstr is fine. */
    char buf[400];
    sio_packet_t p;
    buf[0] = '0';
    buf[1] = '/';
    memset(buf + 2, 'n', SIO_NSP_MAX - 1);
    buf[SIO_NSP_MAX + 1] = ',';
    ck_assert_int_eq(sio_decode(buf, SIO_NSP_MAX + 2, 10, &p, NULL, 0), 0);
    ck_assert_uint_eq(p.nsp_len, SIO_NSP_MAX);
    buf[SIO_NSP_MAX + 1] = 'n';
    buf[SIO_NSP_MAX + 2] = ',';
    ck_assert_int_eq(sio_decode(buf, SIO_NSP_MAX + 3, 10, &p, NULL, 0), DG_ELIMIT);

    size_t n = 0;
    buf[n++] = '3';
    for (int d = 0; d < SIO_JSON_DEPTH_MAX; d++)
        buf[n++] = '[';
    for (int d = 0; d < SIO_JSON_DEPTH_MAX; d++)
        buf[n++] = ']';
    ck_assert_int_eq(sio_decode(buf, n, 10, &p, NULL, 0), 0);
    n = 0;
    buf[n++] = '3';
    for (int d = 0; d <= SIO_JSON_DEPTH_MAX; d++)
        buf[n++] = '[';
    for (int d = 0; d <= SIO_JSON_DEPTH_MAX; d++)
        buf[n++] = ']';
    char err[64];
    ck_assert_int_eq(sio_decode(buf, n, 10, &p, err, sizeof(err)), DG_ELIMIT);
    ck_assert_str_eq(err, "JSON too deep");
    /* max_attach is the caller's. */
    ck_assert_int_eq(sio_decode("53-[\"a\"]", 8, 2, &p, NULL, 0), DG_ELIMIT);
    ck_assert_int_eq(sio_decode("53-[\"a\"]", 8, 3, &p, NULL, 0), 0);
}
END_TEST

START_TEST(json_validator)
{
    static const struct {
        const char *s;
        int kind;
    } good[] = {
        {"{}", SIO_JSON_OBJECT},
        {" \t\r\n[ ] \n", SIO_JSON_ARRAY},
        {"\"\"", SIO_JSON_STRING},
        {"\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\"", SIO_JSON_STRING},
        {"\"h\xc3\xa9llo\"", SIO_JSON_STRING},
        {"0", SIO_JSON_NUMBER},
        {"-0", SIO_JSON_NUMBER},
        {"-12.50e+10", SIO_JSON_NUMBER},
        {"1E-7", SIO_JSON_NUMBER},
        {"123456789012345678901234567890", SIO_JSON_NUMBER},
        {"true", SIO_JSON_TRUE},
        {"false", SIO_JSON_FALSE},
        {"null", SIO_JSON_NULL},
        {"{\"a\":[1,{\"b\":null},\"c\"],\"d\":{\"e\":[[]]},\"a\":2}", SIO_JSON_OBJECT},
        {"[ 1 , \"2\" , { \"a\" : 3 } ]", SIO_JSON_ARRAY},
    };
    static const char *const bad[] = {
        "",         " ",          "{",       "}",         "[",         "]",           "[1,]",
        "[,1]",     "{\"a\":1,}", "{\"a\"}", "{\"a\" 1}", "{1:2}",     "{a:1}",       "[1 2]",
        "{}{}",     "[]]",        "01",      "-",         "1.",        ".5",          "1e",
        "1e+",      "+1",         "0x10",    "NaN",       "Infinity",  "tru",         "nul",
        "falsey",   "True",       "\"abc",   "\"\\x\"",   "\"\\u12\"", "\"\\u12G4\"", "\"a\tb\"",
        "\"a\nb\"", "'a'",        "\"\\",    "[\"a\":1]", "{\"a\":1]", "[1}",
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(good); i++) {
        int kind = -1;
        ck_assert_msg(sio_json_validate(good[i].s, strlen(good[i].s), SIO_JSON_DEPTH_MAX, &kind) ==
                          0,
                      "rejected %s", good[i].s);
        ck_assert_int_eq(kind, good[i].kind);
    }
    for (size_t i = 0; i < DG_ARRAY_LEN(bad); i++)
        ck_assert_msg(sio_json_validate(bad[i], strlen(bad[i]), SIO_JSON_DEPTH_MAX, NULL) ==
                          DG_EPROTO,
                      "accepted %s", bad[i]);
    ck_assert_int_eq(sio_json_validate("[1]\0", 4, SIO_JSON_DEPTH_MAX, NULL), DG_EPROTO);
    /* Every proper prefix of a composite value is invalid (and read in bounds: ASan). */
    const char *v =
        "{\"a\":[1,-2.5e3,{\"b\":null,\"c\":true}],\"d\":\"x\\u00e9\\n\",\"e\":[[],{}]}";
    size_t vl = strlen(v);
    for (size_t n = 0; n < vl; n++) {
        char *cp = malloc(n ? n : 1);
        memcpy(cp, v, n);
        ck_assert_msg(sio_json_validate(cp, n, SIO_JSON_DEPTH_MAX, NULL) == DG_EPROTO,
                      "prefix %zu accepted", n);
        free(cp);
    }
    ck_assert_int_eq(sio_json_validate(v, vl, SIO_JSON_DEPTH_MAX, NULL), 0);
    ck_assert_int_eq(sio_json_validate("[[1]]", 5, 1, NULL), DG_ELIMIT);
    ck_assert_int_eq(sio_json_validate("[[1]]", 5, 2, NULL), 0);
    ck_assert_int_eq(sio_json_validate("{\"a\":{}}", 8, 1, NULL), DG_ELIMIT);
}
END_TEST

START_TEST(event_name_args)
{
    char buf[32];
    const char *name, *args;
    size_t nl, al;
    const char *d = "[\"message\",1,\"2\",{\"a\":3}]";
    ck_assert_int_eq(sio_event_name(d, strlen(d), buf, sizeof(buf), &name, &nl), 0);
    ck_assert_ptr_eq(name, d + 2); /* no escapes: no copy */
    ck_assert_uint_eq(nl, 7);
    ck_assert_mem_eq(name, "message", 7);
    ck_assert_int_eq(sio_event_args(d, strlen(d), &args, &al), 0);
    ck_assert_uint_eq(al, strlen("1,\"2\",{\"a\":3}"));
    ck_assert_mem_eq(args, "1,\"2\",{\"a\":3}", al);

    static const struct {
        const char *data, *args;
    } a[] = {
        {"[\"message\"]", ""},
        {" [ \"m\" ] ", ""},
        {"[ \"m\" , 1 , 2 ]\n", "1 , 2"},
        {"[\"m\",[1,2],\"]\"]", "[1,2],\"]\""},
        {"[\"m\\\"]\",null]", "null"},
        {"[\"m\",{\"_placeholder\":true,\"num\":0}]", "{\"_placeholder\":true,\"num\":0}"},
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(a); i++) {
        ck_assert_int_eq(sio_event_args(a[i].data, strlen(a[i].data), &args, &al), 0);
        ck_assert_uint_eq(al, strlen(a[i].args));
        ck_assert_mem_eq(args, a[i].args, al);
    }

    static const struct {
        const char *data, *name;
        size_t len;
    } n[] = {
        {"[\"a\\nb\"]", "a\nb", 3},
        {"[\"\\\"q\\\"\\\\\\/\"]", "\"q\"\\/", 5},
        {"[\"\\u00e9t\\u00C9\"]", "\xc3\xa9t\xc3\x89", 5},
        {"[\"\\u20ac\"]", "\xe2\x82\xac", 3},
        {"[\"\\ud83d\\ude00!\"]", "\xf0\x9f\x98\x80!", 5},
        {"[\"\\ud83dx\"]", "\xef\xbf\xbdx", 4},
        {"[\"\\ude00\"]", "\xef\xbf\xbd", 3},
        {"[\"\\ud83d\\u0041\"]",
         "\xef\xbf\xbd"
         "A",
         4},
        {"[\"\\u0000\"]", "\0", 1},
        {"[\"\\b\\f\\r\\t\"]", "\b\f\r\t", 4},
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(n); i++) {
        ck_assert_int_eq(sio_event_name(n[i].data, strlen(n[i].data), buf, sizeof(buf), &name, &nl),
                         0);
        ck_assert_ptr_eq(name, buf);
        ck_assert_uint_eq(nl, n[i].len);
        ck_assert_mem_eq(name, n[i].name, nl);
    }
    const char *e = "[\"\\u00e9\\u00e9\"]";
    ck_assert_int_eq(sio_event_name(e, strlen(e), buf, 3, &name, &nl), DG_ELIMIT);
    ck_assert_int_eq(sio_event_name(e, strlen(e), buf, 4, &name, &nl), 0);
    ck_assert_int_eq(sio_event_name("[1]", 3, buf, sizeof(buf), &name, &nl), DG_EPROTO);
    ck_assert_int_eq(sio_event_name("{}", 2, buf, sizeof(buf), &name, &nl), DG_EPROTO);
    ck_assert_int_eq(sio_event_name("[\"a", 3, buf, sizeof(buf), &name, &nl), DG_EPROTO);
    ck_assert_int_eq(sio_event_args("[\"a\",]", 6, &args, &al), DG_EPROTO);
    ck_assert_int_eq(sio_event_args("[\"a\" 1]", 7, &args, &al), DG_EPROTO);
    ck_assert_int_eq(sio_event_args("[\"a\"", 4, &args, &al), DG_EPROTO);
    ck_assert_int_eq(sio_event_args("[\"a\"}", 5, &args, &al), DG_EPROTO);
}
END_TEST

/* ---- binary assembly ---- */

static const char bin_text[] =
    "52-/custom,9[\"message\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]";
static const unsigned char att0[] = {1, 2, 3, 0, 255};
static const unsigned char att1[] = {9};

START_TEST(binasm_collects)
{
    sio_binasm_t b;
    sio_packet_t p;
    sio_binasm_init(&b, 10, 1000);
    for (int round = 0; round < 3; round++) { /* reused after reset */
        /* The caller's text and attachment buffers are transient: copy, then clobber. */
        char text[sizeof(bin_text)];
        unsigned char a0[sizeof(att0)], a1[sizeof(att1)];
        memcpy(text, bin_text, sizeof(text));
        memcpy(a0, att0, sizeof(a0));
        memcpy(a1, att1, sizeof(a1));
        ck_assert_int_eq(sio_decode(text, strlen(text), 10, &p, NULL, 0), 0);
        ck_assert_int_eq(sio_binasm_pending(&b), 0);
        ck_assert_int_eq(sio_binasm_start(&b, text, strlen(text), &p), DG_EAGAIN);
        ck_assert_int_eq(sio_binasm_pending(&b), 1);
        ck_assert_ptr_null(sio_binasm_packet(&b));
        ck_assert_int_eq(sio_binasm_start(&b, text, strlen(text), &p), DG_EINVAL);
        memset(text, 'X', sizeof(text));
        ck_assert_int_eq(sio_binasm_add(&b, a0, sizeof(a0)), DG_EAGAIN);
        memset(a0, 0xee, sizeof(a0));
        ck_assert_int_eq(sio_binasm_add(&b, a1, sizeof(a1)), 0);
        ck_assert_int_eq(sio_binasm_pending(&b), 0);
        const sio_packet_t *q = sio_binasm_packet(&b);
        ck_assert_ptr_nonnull(q);
        ck_assert_int_eq(q->type, SIO_BINARY_EVENT);
        ck_assert_int_eq(q->nattach, 2);
        ck_assert_int_eq(q->ack_id, 9);
        ck_assert(sio_nsp_is(q, "/custom"));
        assert_data(q, strchr(bin_text, '['));
        size_t l;
        const unsigned char *x = sio_binasm_attachment(&b, 0, &l);
        ck_assert_uint_eq(l, sizeof(att0));
        ck_assert_mem_eq(x, att0, l);
        x = sio_binasm_attachment(&b, 1, &l);
        ck_assert_uint_eq(l, 1);
        ck_assert_mem_eq(x, att1, 1);
        ck_assert_ptr_null(sio_binasm_attachment(&b, 2, &l));
        ck_assert_ptr_null(sio_binasm_attachment(&b, -1, &l));
        ck_assert_int_eq(sio_binasm_add(&b, a1, 1), DG_EPROTO); /* complete: not collecting */
        sio_binasm_reset(&b);
    }
    ck_assert_int_eq(sio_binasm_add(&b, att1, 1), DG_EPROTO); /* stray binary message */
    sio_binasm_free(&b);
}
END_TEST

START_TEST(binasm_limits)
{
    sio_binasm_t b;
    sio_packet_t p;
    size_t tl = strlen(bin_text);
    ck_assert_int_eq(sio_decode(bin_text, tl, 10, &p, NULL, 0), 0);
    /* Total size: text + attachments, exactly at the limit passes. */
    for (size_t max = tl + 5; max <= tl + 6; max++) {
        sio_binasm_init(&b, 10, max);
        ck_assert_int_eq(sio_binasm_start(&b, bin_text, tl, &p), DG_EAGAIN);
        ck_assert_int_eq(sio_binasm_add(&b, att0, 5), DG_EAGAIN);
        ck_assert_int_eq(sio_binasm_add(&b, att1, 1), max == tl + 6 ? 0 : DG_ELIMIT);
        sio_binasm_free(&b);
    }
    sio_binasm_init(&b, 10, tl - 1);
    ck_assert_int_eq(sio_binasm_start(&b, bin_text, tl, &p), DG_ELIMIT);
    sio_binasm_free(&b);
    sio_binasm_init(&b, 1, 1000);
    ck_assert_int_eq(sio_binasm_start(&b, bin_text, tl, &p), DG_ELIMIT);
    sio_binasm_free(&b);
    /* Not a binary packet. */
    sio_binasm_init(&b, 10, 1000);
    ck_assert_int_eq(sio_decode("2[\"a\"]", 6, 10, &p, NULL, 0), 0);
    ck_assert_int_eq(sio_binasm_start(&b, "2[\"a\"]", 6, &p), DG_EINVAL);
    /* Empty attachments are attachments. */
    ck_assert_int_eq(sio_decode("61-3[{\"_placeholder\":true,\"num\":0}]", 35, 10, &p, NULL, 0), 0);
    ck_assert_int_eq(sio_binasm_start(&b, "61-3[{\"_placeholder\":true,\"num\":0}]", 35, &p),
                     DG_EAGAIN);
    ck_assert_int_eq(sio_binasm_add(&b, "", 0), 0);
    size_t l = 99;
    ck_assert_ptr_nonnull(sio_binasm_attachment(&b, 0, &l));
    ck_assert_uint_eq(l, 0);
    ck_assert_int_eq(sio_binasm_packet(&b)->type, SIO_BINARY_ACK);
    ck_assert_int_eq(sio_binasm_packet(&b)->ack_id, 3);
    sio_binasm_free(&b);
}
END_TEST

/* ---- encoders ---- */

START_TEST(encode_headers)
{
    static const struct {
        int type;
        const char *nsp;
        long ack;
        int nattach;
        const char *want;
    } t[] = {
        {SIO_EVENT, "/", -1, 0, "42"},
        {SIO_EVENT, NULL, -1, 0, "42"},
        {SIO_EVENT, "/logs", -1, 0, "42/logs,"},
        {SIO_ACK, NULL, 17, 0, "4317"},
        {SIO_BINARY_EVENT, "/custom", 12, 1, "451-/custom,12"},
        {SIO_BINARY_ACK, "/", 0, 10, "4610-0"},
        {SIO_CONNECT, "/logs", -1, 0, "40/logs,"},
        {SIO_DISCONNECT, "/", -1, 0, "41"},
        {SIO_EVENT, "/", SIO_ACK_ID_MAX, 0, "422147483647"},
    };
    char buf[SIO_HDR_MAX];
    for (size_t i = 0; i < DG_ARRAY_LEN(t); i++) {
        int n = sio_encode_header(buf, sizeof(buf), t[i].type, t[i].nsp, t[i].ack, t[i].nattach);
        ck_assert_int_eq(n, (int)strlen(t[i].want));
        ck_assert_str_eq(buf, t[i].want);
        ck_assert_int_eq(
            sio_encode_header(buf, (size_t)n, t[i].type, t[i].nsp, t[i].ack, t[i].nattach),
            DG_ELIMIT);
    }
    ck_assert_int_eq(sio_encode_header(buf, sizeof(buf), 7, "/", -1, 0), DG_EINVAL);
    ck_assert_int_eq(sio_encode_header(buf, sizeof(buf), -1, "/", -1, 0), DG_EINVAL);
    ck_assert_int_eq(sio_encode_header(buf, sizeof(buf), SIO_EVENT, "logs", -1, 0), DG_EINVAL);
    ck_assert_int_eq(sio_encode_header(buf, sizeof(buf), SIO_EVENT, "/a,b", -1, 0), DG_EINVAL);
    ck_assert_int_eq(sio_encode_header(buf, sizeof(buf), SIO_EVENT, "", -1, 0), DG_EINVAL);
    ck_assert_int_eq(sio_encode_header(buf, sizeof(buf), SIO_EVENT, "/", -1, 1), DG_EINVAL);
    ck_assert_int_eq(sio_encode_header(buf, sizeof(buf), SIO_BINARY_EVENT, "/", -1, 0), DG_EINVAL);
    ck_assert_int_eq(sio_encode_header(buf, sizeof(buf), SIO_EVENT, "/", -2, 0), DG_EINVAL);
    ck_assert_int_eq(sio_encode_header(buf, sizeof(buf), SIO_EVENT, "/", SIO_ACK_ID_MAX + 1, 0),
                     DG_EINVAL);
    /* The longest header fits SIO_HDR_MAX. */
    char nsp[SIO_NSP_MAX + 1];
    nsp[0] = '/';
    memset(nsp + 1, 'n', SIO_NSP_MAX - 1);
    nsp[SIO_NSP_MAX] = '\0';
    ck_assert_int_gt(
        sio_encode_header(buf, sizeof(buf), SIO_BINARY_ACK, nsp, SIO_ACK_ID_MAX, 2147483647), 0);
}
END_TEST

START_TEST(encode_packets)
{
    char buf[256];
    /* node-ref-wire.md */
    ck_assert_int_eq(sio_encode_connect(buf, sizeof(buf), "/", "9T5Sei_8_Zfuu_oIAAAA"), 32);
    ck_assert_str_eq(buf, "40{\"sid\":\"9T5Sei_8_Zfuu_oIAAAA\"}");
    ck_assert_int_gt(sio_encode_connect(buf, sizeof(buf), "/logs", "UdSo-aCFoLj5wPFVAAAB"), 0);
    ck_assert_str_eq(buf, "40/logs,{\"sid\":\"UdSo-aCFoLj5wPFVAAAB\"}");
    ck_assert_int_eq(sio_encode_connect(buf, 32, "/", "9T5Sei_8_Zfuu_oIAAAA"), DG_ELIMIT);
    ck_assert_int_gt(sio_encode_connect_error(buf, sizeof(buf), "/nsp", "Invalid namespace"), 0);
    ck_assert_str_eq(buf, "44/nsp,{\"message\":\"Invalid namespace\"}");
    ck_assert_int_gt(sio_encode_connect_error(buf, sizeof(buf), NULL, "bad \"auth\""), 0);
    ck_assert_str_eq(buf, "44{\"message\":\"bad \\\"auth\\\"\"}");
    ck_assert_int_eq(sio_encode_disconnect(buf, sizeof(buf), "/logs"), 8);
    ck_assert_str_eq(buf, "41/logs,");

    /* Conformance echo: same args, new name; binary keeps placeholders and count. */
    const char *args = "1,\"2\",{\"a\":3}";
    ck_assert_int_gt(
        sio_encode_event(buf, sizeof(buf), "/", -1, 0, "message-back", 12, args, strlen(args)), 0);
    ck_assert_str_eq(buf, "42[\"message-back\",1,\"2\",{\"a\":3}]");
    ck_assert_int_gt(
        sio_encode_event(buf, sizeof(buf), "/custom", -1, 0, "message-back", 12, "", 0), 0);
    ck_assert_str_eq(buf, "42/custom,[\"message-back\"]");
    const char *ph = "{\"_placeholder\":true,\"num\":0}";
    ck_assert_int_gt(
        sio_encode_event(buf, sizeof(buf), "/", -1, 1, "message-back", 12, ph, strlen(ph)), 0);
    ck_assert_str_eq(buf, "451-[\"message-back\",{\"_placeholder\":true,\"num\":0}]");
    ck_assert_int_gt(sio_encode_event(buf, sizeof(buf), "/logs", 5, 0, "q", 1, "[]", 2), 0);
    ck_assert_str_eq(buf, "42/logs,5[\"q\",[]]");
    ck_assert_int_gt(sio_encode_ack(buf, sizeof(buf), "/", 12, 0, args, strlen(args)), 0);
    ck_assert_str_eq(buf, "4312[1,\"2\",{\"a\":3}]");
    ck_assert_int_gt(sio_encode_ack(buf, sizeof(buf), "/custom", 0, 0, "", 0), 0);
    ck_assert_str_eq(buf, "43/custom,0[]");
    ck_assert_int_gt(sio_encode_ack(buf, sizeof(buf), "/", 3, 1, ph, strlen(ph)), 0);
    ck_assert_str_eq(buf, "461-3[{\"_placeholder\":true,\"num\":0}]");
    ck_assert_int_eq(sio_encode_ack(buf, sizeof(buf), "/", -1, 0, "", 0), DG_EINVAL);
    ck_assert_int_eq(sio_encode_event(buf, sizeof(buf), "/", -1, -1, "a", 1, "", 0), DG_EINVAL);
    /* Names are JSON-escaped as JSON.stringify does (lowercase \u00XX, no escaping of / or
     * non-ASCII), exactly at capacity boundaries. */
    const char *nm = "h\xc3\xa9llo \"q\"\n\\/\x1f\x7f";
    const char *want = "42[\"h\xc3\xa9llo \\\"q\\\"\\n\\\\/\\u001f\x7f\"]";
    int n = sio_encode_event(buf, sizeof(buf), NULL, -1, 0, nm, strlen(nm), "", 0);
    ck_assert_int_eq(n, (int)strlen(want));
    ck_assert_str_eq(buf, want);
    for (size_t cap = 0; cap <= (size_t)n; cap++)
        ck_assert_int_eq(sio_encode_event(buf, cap, NULL, -1, 0, nm, strlen(nm), "", 0), DG_ELIMIT);
    ck_assert_int_le(n, SIO_EVENT_SIZE(strlen(nm), 0));

    char q[16];
    ck_assert_int_eq(sio_json_quote(q, sizeof(q), "a\tb", 3), 6);
    ck_assert_mem_eq(q, "\"a\\tb\"", 6);
    ck_assert_int_eq(sio_json_quote(q, 5, "a\tb", 3), DG_ELIMIT);
}
END_TEST

START_TEST(encode_decode_roundtrip)
{
    /* What the encoders write, minus the Engine.IO '4', decodes to the same fields. */
    char buf[256];
    sio_packet_t p;
    const char *ph = "{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}";
    int n =
        sio_encode_event(buf, sizeof(buf), "/custom", 77, 2, "message-back", 12, ph, strlen(ph));
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(dec(buf + 1, &p), 0);
    ck_assert_int_eq(p.type, SIO_BINARY_EVENT);
    ck_assert_int_eq(p.nattach, 2);
    ck_assert_int_eq(p.ack_id, 77);
    ck_assert(sio_nsp_is(&p, "/custom"));
    const char *args;
    size_t al;
    ck_assert_int_eq(sio_event_args(p.data, p.data_len, &args, &al), 0);
    ck_assert_uint_eq(al, strlen(ph));
    ck_assert_mem_eq(args, ph, al);

    n = sio_encode_connect(buf, sizeof(buf), "/logs", "abc");
    ck_assert_int_eq(dec(buf + 1, &p), 0);
    ck_assert_int_eq(p.type, SIO_CONNECT);
    assert_data(&p, "{\"sid\":\"abc\"}");
    n = sio_encode_connect_error(buf, sizeof(buf), "/x", "m");
    ck_assert_int_eq(dec(buf + 1, &p), 0);
    ck_assert_int_eq(p.type, SIO_CONNECT_ERROR);
}
END_TEST

Suite *sio_suite(void)
{
    Suite *s = suite_create("sio");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, decode_valid);
    tcase_add_test(tc, decode_invalid);
    tcase_add_test(tc, json_validator);
    tcase_add_test(tc, event_name_args);
    tcase_add_test(tc, binasm_collects);
    tcase_add_test(tc, binasm_limits);
    tcase_add_test(tc, encode_headers);
    tcase_add_test(tc, encode_packets);
    tcase_add_test(tc, encode_decode_roundtrip);
    suite_add_tcase(s, tc);
    return s;
}
