/* check_eio.c - Engine.IO v4: base64, packets, polling payloads (decoder fed at every split
 * offset), open packet, sids, query strings and handshake errors, byte-exact. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"
#include "eio.h"

START_TEST(b64_vectors)
{
    /* RFC 4648 section 10. */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < DG_ARRAY_LEN(plain); i++) {
        char out[16];
        unsigned char dec[16];
        size_t n;
        ck_assert_int_eq(eio_b64_encode(plain[i], strlen(plain[i]), out, sizeof(out)),
                         (int)strlen(enc[i]));
        ck_assert_str_eq(out, enc[i]);
        ck_assert_uint_eq(eio_b64_len(strlen(plain[i])), strlen(enc[i]));
        ck_assert_int_eq(eio_b64_decode(enc[i], strlen(enc[i]), dec, sizeof(dec), &n), 0);
        ck_assert_uint_eq(n, strlen(plain[i]));
        ck_assert_mem_eq(dec, plain[i], n);
        /* Unpadded input is accepted too. */
        size_t el = strlen(enc[i]);
        while (el && enc[i][el - 1] == '=')
            el--;
        ck_assert_int_eq(eio_b64_decode(enc[i], el, dec, sizeof(dec), &n), 0);
        ck_assert_uint_eq(n, strlen(plain[i]));
        ck_assert_mem_eq(dec, plain[i], n);
        /* Exact capacity: encode needs room for the NUL, decode does not. */
        ck_assert_int_eq(eio_b64_encode(plain[i], strlen(plain[i]), out, strlen(enc[i])),
                         DG_ELIMIT);
        ck_assert_int_eq(eio_b64_decode(enc[i], strlen(enc[i]), dec, strlen(plain[i]), &n), 0);
        if (n)
            ck_assert_int_eq(eio_b64_decode(enc[i], strlen(enc[i]), dec, n - 1, &n), DG_ELIMIT);
    }
    /* In place. */
    char buf[] = "AAECAwQ=";
    size_t n;
    ck_assert_int_eq(eio_b64_decode(buf, 8, (unsigned char *)buf, 8, &n), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_mem_eq(buf, "\x00\x01\x02\x03\x04", 5);

    static const char *const bad[] = {"Z",        "Zg=",   "Zg=a",     "Z===",
                                      "=",        "==",    "Zm9v!A==", "Zm 9v",
                                      "Zg==Zg==", "Zm9vY", "-_-_",     "Zm9vYg=\n"};
    for (size_t i = 0; i < DG_ARRAY_LEN(bad); i++) {
        unsigned char dec[16];
        ck_assert_msg(eio_b64_decode(bad[i], strlen(bad[i]), dec, sizeof(dec), &n) == DG_EPROTO,
                      "accepted %s", bad[i]);
    }
    /* All byte values. */
    unsigned char all[256], back[256];
    char txt[400];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    ck_assert_int_eq(eio_b64_encode(all, 256, txt, sizeof(txt)), 344);
    ck_assert_int_eq(eio_b64_decode(txt, 344, back, sizeof(back), &n), 0);
    ck_assert_uint_eq(n, 256);
    ck_assert_mem_eq(all, back, 256);
}
END_TEST

START_TEST(packet_decode_encode)
{
    eio_packet_t p;
    char bin[16];
    ck_assert_int_eq(eio_packet_decode("4hello", 6, 0, NULL, 0, &p), 0);
    ck_assert_int_eq(p.type, EIO_MESSAGE);
    ck_assert_int_eq(p.is_binary, 0);
    ck_assert_uint_eq(p.len, 5);
    ck_assert_mem_eq(p.data, "hello", 5);
    ck_assert_int_eq(eio_packet_decode("2", 1, 0, NULL, 0, &p), 0);
    ck_assert_int_eq(p.type, EIO_PING);
    ck_assert_uint_eq(p.len, 0);
    ck_assert_int_eq(eio_packet_decode("3probe", 6, 0, NULL, 0, &p), 0);
    ck_assert_int_eq(p.type, EIO_PONG);
    ck_assert_mem_eq(p.data, EIO_PROBE, 5);
    ck_assert_int_eq(eio_packet_decode("6", 1, 0, NULL, 0, &p), 0);
    ck_assert_int_eq(p.type, EIO_NOOP);
    ck_assert_int_eq(eio_packet_decode("bAQID", 5, 0, bin, sizeof(bin), &p), 0);
    ck_assert_int_eq(p.type, EIO_MESSAGE);
    ck_assert_int_eq(p.is_binary, 1);
    ck_assert_uint_eq(p.len, 3);
    ck_assert_mem_eq(p.data, "\x01\x02\x03", 3);
    ck_assert_int_eq(eio_packet_decode("bAQID", 5, 0, NULL, 0, &p), DG_ELIMIT);
    ck_assert_int_eq(eio_packet_decode("b!", 2, 0, bin, sizeof(bin), &p), DG_EPROTO);
    ck_assert_int_eq(eio_packet_decode("", 0, 0, NULL, 0, &p), DG_EPROTO);
    ck_assert_int_eq(eio_packet_decode("7", 1, 0, NULL, 0, &p), DG_EPROTO);
    ck_assert_int_eq(eio_packet_decode("x4", 2, 0, NULL, 0, &p), DG_EPROTO);
    /* A binary WebSocket frame is the raw bytes of a message (v4: no type byte). */
    ck_assert_int_eq(eio_packet_decode("\x04\x01", 2, 1, NULL, 0, &p), 0);
    ck_assert_int_eq(p.type, EIO_MESSAGE);
    ck_assert_int_eq(p.is_binary, 1);
    ck_assert_mem_eq(p.data, "\x04\x01", 2);

    char out[16];
    ck_assert_int_eq(eio_packet_encode(out, sizeof(out), EIO_PONG, "probe", 5), 6);
    ck_assert_str_eq(out, "3probe");
    ck_assert_int_eq(eio_packet_encode(out, sizeof(out), EIO_PING, NULL, 0), 1);
    ck_assert_str_eq(out, "2");
    ck_assert_int_eq(eio_packet_encode(out, 6, EIO_PONG, "probe", 5), DG_ELIMIT);
    ck_assert_int_eq(eio_packet_encode(out, sizeof(out), 7, "", 0), DG_EINVAL);
}
END_TEST

START_TEST(payload_encode)
{
    /* engine.io-parser 4.0.0 changelog examples. */
    eio_packet_t pk[] = {{EIO_MESSAGE, 0, "hello", 5}, {EIO_MESSAGE, 1, "\x01\x02\x03", 3}};
    char buf[64];
    size_t n;
    ck_assert_uint_eq(eio_payload_len(pk, 2), 12);
    ck_assert_int_eq(eio_payload_encode(pk, 2, buf, sizeof(buf), &n), 0);
    ck_assert_uint_eq(n, 12);
    ck_assert_mem_eq(buf,
                     "4hello\x1e"
                     "bAQID",
                     12);
    eio_packet_t eu[] = {{EIO_MESSAGE, 0, "hello", 5},
                         {EIO_MESSAGE, 0, "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 9}};
    ck_assert_int_eq(eio_payload_encode(eu, 2, buf, sizeof(buf), &n), 0);
    ck_assert_uint_eq(n, 17);
    ck_assert_mem_eq(buf,
                     "4hello\x1e"
                     "4\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac",
                     17);

    /* Appending: raw packets (msg_t bytes), pings, a noop; the first gets no separator. */
    size_t pos = 0;
    eio_packet_t ping = {EIO_PING, 0, NULL, 0}, noop = {EIO_NOOP, 0, NULL, 0};
    ck_assert_int_eq(eio_payload_append_raw(buf, sizeof(buf), &pos, "42[\"a\",1]", 9), 0);
    ck_assert_int_eq(eio_payload_append(buf, sizeof(buf), &pos, &ping), 0);
    ck_assert_int_eq(eio_payload_append(buf, sizeof(buf), &pos, &noop), 0);
    ck_assert_uint_eq(pos, 13);
    ck_assert_mem_eq(buf,
                     "42[\"a\",1]\x1e"
                     "2\x1e"
                     "6",
                     13);
    /* Too small: nothing written, pos unchanged. */
    ck_assert_int_eq(eio_payload_append(buf, 14, &pos, &ping), DG_ELIMIT);
    ck_assert_uint_eq(pos, 13);
    ck_assert_int_eq(eio_payload_append(buf, 15, &pos, &ping), 0);
    ck_assert_uint_eq(pos, 15);
    ck_assert_int_eq(eio_payload_append_raw(buf, sizeof(buf), &pos, "", 0), DG_EINVAL);
    eio_packet_t badbin = {EIO_PING, 1, "x", 1};
    ck_assert_int_eq(eio_payload_append(buf, sizeof(buf), &pos, &badbin), DG_EINVAL);
    ck_assert_int_eq(eio_payload_encode(pk, 2, buf, 11, &n), DG_ELIMIT);
}
END_TEST

/* ---- payload decoder ---- */

typedef struct rec {
    int n;
    int type[8], bin[8];
    size_t len[8];
    char data[8][64];
} rec_t;

static int pull(eio_pdec_t *d, rec_t *r)
{
    eio_packet_t p;
    int rc;
    while ((rc = eio_pdec_next(d, &p)) == 0) {
        ck_assert_int_lt(r->n, 8);
        r->type[r->n] = p.type;
        r->bin[r->n] = p.is_binary;
        r->len[r->n] = p.len;
        ck_assert_uint_le(p.len, 64);
        if (p.len)
            memcpy(r->data[r->n], p.data, p.len);
        r->n++;
    }
    return rc;
}

static const char body[] = "4hello\x1e"
                           "bAQID\x1e"
                           "2\x1e"
                           "4\xe2\x82\xac\x1e"
                           "b\x1e"
                           "1";

static void check_body(const rec_t *r)
{
    ck_assert_int_eq(r->n, 6);
    ck_assert_int_eq(r->type[0], EIO_MESSAGE);
    ck_assert_int_eq(r->bin[0], 0);
    ck_assert_uint_eq(r->len[0], 5);
    ck_assert_mem_eq(r->data[0], "hello", 5);
    ck_assert_int_eq(r->type[1], EIO_MESSAGE);
    ck_assert_int_eq(r->bin[1], 1);
    ck_assert_uint_eq(r->len[1], 3);
    ck_assert_mem_eq(r->data[1], "\x01\x02\x03", 3);
    ck_assert_int_eq(r->type[2], EIO_PING);
    ck_assert_uint_eq(r->len[2], 0);
    ck_assert_uint_eq(r->len[3], 3);
    ck_assert_mem_eq(r->data[3], "\xe2\x82\xac", 3);
    ck_assert_int_eq(r->bin[4], 1); /* "b": an empty binary message */
    ck_assert_uint_eq(r->len[4], 0);
    ck_assert_int_eq(r->type[5], EIO_CLOSE);
}

START_TEST(pdec_every_split)
{
    size_t len = sizeof(body) - 1;
    for (size_t c1 = 0; c1 <= len; c1++)
        for (size_t c2 = c1; c2 <= len; c2++) {
            eio_pdec_t d;
            rec_t r = {0};
            eio_pdec_init(&d, len);
            ck_assert_int_eq(eio_pdec_feed(&d, body, c1), 0);
            ck_assert_int_eq(pull(&d, &r), DG_EAGAIN);
            ck_assert_int_eq(eio_pdec_feed(&d, body + c1, c2 - c1), 0);
            ck_assert_int_eq(pull(&d, &r), DG_EAGAIN);
            ck_assert_int_eq(eio_pdec_feed(&d, body + c2, len - c2), 0);
            ck_assert_int_eq(pull(&d, &r), DG_EAGAIN);
            ck_assert_int_eq(eio_pdec_finish(&d), 0);
            ck_assert_int_eq(pull(&d, &r), DG_ECLOSED);
            check_body(&r);
            ck_assert_int_eq(eio_pdec_next(&d, &(eio_packet_t){0}), DG_ECLOSED);
            ck_assert_int_eq(eio_pdec_feed(&d, "4", 1), DG_EINVAL);
            eio_pdec_free(&d);
        }
}
END_TEST

START_TEST(pdec_errors)
{
    static const struct {
        const char *b;
        size_t len;
        int good; /* packets returned before the error */
        int rc;
        const char *err;
    } cases[] = {
        {"", 0, 0, DG_EPROTO, "empty payload"},
        {"\x1e", 1, 0, DG_EPROTO, "empty packet"},
        {"4a\x1e\x1e"
         "4b",
         5, 1, DG_EPROTO, "empty packet"},
        {"4a\x1e", 3, 1, DG_EPROTO, "empty packet"},
        {"4a\x1e"
         "9",
         4, 1, DG_EPROTO, "unknown packet type"},
        {"b!!\x1e"
         "4a",
         6, 0, DG_EPROTO, "bad base64"},
        {"bZ", 2, 0, DG_EPROTO, "bad base64"},
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(cases); i++) {
        eio_pdec_t d;
        rec_t r = {0};
        eio_pdec_init(&d, 100);
        ck_assert_int_eq(eio_pdec_feed(&d, cases[i].b, cases[i].len), 0);
        int rc = eio_pdec_finish(&d);
        if (rc == 0)
            rc = pull(&d, &r);
        ck_assert_msg(rc == cases[i].rc, "case %zu rc %d", i, rc);
        ck_assert_int_eq(r.n, cases[i].good);
        ck_assert_str_eq(eio_pdec_errstr(&d), cases[i].err);
        ck_assert_int_eq(eio_pdec_next(&d, &(eio_packet_t){0}), cases[i].rc); /* sticky */
        eio_pdec_free(&d);
    }
    /* Limit: exactly max passes, one more byte fails, in any split. */
    eio_pdec_t d;
    eio_pdec_init(&d, 6);
    ck_assert_int_eq(eio_pdec_feed(&d, "4hel", 4), 0);
    ck_assert_int_eq(eio_pdec_feed(&d, "lo", 2), 0);
    ck_assert_int_eq(eio_pdec_feed(&d, "!", 1), DG_ELIMIT);
    ck_assert_str_eq(eio_pdec_errstr(&d), "payload too large");
    ck_assert_int_eq(eio_pdec_finish(&d), DG_ELIMIT);
    /* Reset makes it usable for the next body. */
    eio_pdec_reset(&d);
    rec_t r = {0};
    ck_assert_int_eq(eio_pdec_feed(&d, "3", 1), 0);
    ck_assert_int_eq(eio_pdec_finish(&d), 0);
    ck_assert_int_eq(pull(&d, &r), DG_ECLOSED);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.type[0], EIO_PONG);
    eio_pdec_free(&d);
}
END_TEST

START_TEST(open_packet)
{
    char buf[EIO_OPEN_MAX];
    const char *poll = "0{\"sid\":\"fIQ7T_gmFz4YFU0xAAAA\",\"upgrades\":[\"websocket\"],"
                       "\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}";
    const char *ws = "0{\"sid\":\"fIQ7T_gmFz4YFU0xAAAA\",\"upgrades\":[],\"pingInterval\":25000,"
                     "\"pingTimeout\":20000,\"maxPayload\":1000000}";
    ck_assert_int_eq(
        eio_open_encode(buf, sizeof(buf), "fIQ7T_gmFz4YFU0xAAAA", 1, 25000, 20000, 1000000),
        (int)strlen(poll));
    ck_assert_str_eq(buf, poll);
    ck_assert_int_eq(
        eio_open_encode(buf, sizeof(buf), "fIQ7T_gmFz4YFU0xAAAA", 0, 25000, 20000, 1000000),
        (int)strlen(ws));
    ck_assert_str_eq(buf, ws); /* node-ref-wire.md, WebSocket-only session */
    ck_assert_int_eq(
        eio_open_encode(buf, strlen(ws), "fIQ7T_gmFz4YFU0xAAAA", 0, 25000, 20000, 1000000),
        DG_ELIMIT);
    ck_assert_int_eq(eio_open_encode(buf, sizeof(buf), "a\"b", 0, 1, 1, 1), DG_EINVAL);
    /* The largest values still fit EIO_OPEN_MAX. */
    ck_assert_int_gt(eio_open_encode(buf, sizeof(buf), "fIQ7T_gmFz4YFU0xAAAA", 1, (unsigned long)-1,
                                     (unsigned long)-1, (unsigned long)-1),
                     0);
}
END_TEST

START_TEST(sids)
{
    unsigned char raw[EIO_SID_RAW];
    char sid[EIO_SID_LEN + 1], sid2[EIO_SID_LEN + 1];
    for (int i = 0; i < EIO_SID_RAW; i++)
        raw[i] = (unsigned char)i;
    eio_sid_format(raw, sid);
    ck_assert_str_eq(sid, "AAECAwQFBgcICQoLDA0O");
    for (int i = 0; i < EIO_SID_RAW; i += 3) {
        raw[i] = 0xfb;
        raw[i + 1] = 0xff;
        raw[i + 2] = 0xbf;
    }
    eio_sid_format(raw, sid);
    ck_assert_str_eq(sid, "-_-_-_-_-_-_-_-_-_-_"); /* URL-safe alphabet, no padding */
    ck_assert_int_eq(eio_sid_generate(sid), 0);
    ck_assert_int_eq(eio_sid_generate(sid2), 0);
    ck_assert_uint_eq(strlen(sid), EIO_SID_LEN);
    ck_assert_int_eq(eio_sid_valid(sid, strlen(sid)), 1);
    ck_assert_str_ne(sid, sid2);
    ck_assert_int_eq(eio_sid_valid("fIQ7T_gmFz4YFU0xAAAA", 20), 1);
    ck_assert_int_eq(eio_sid_valid("fIQ7T_gmFz4YFU0xAAA", 19), 0);
    ck_assert_int_eq(eio_sid_valid("fIQ7T_gmFz4YFU0xAAA+", 20), 0);
    ck_assert_int_eq(eio_sid_valid("fIQ7T_gmFz4YFU0xAA\0A", 20), 0);
}
END_TEST

START_TEST(query_parse)
{
    eio_query_t q;
    const char *s = "EIO=4&transport=polling&t=N8hyd6w";
    ck_assert_int_eq(eio_query_parse(s, strlen(s), &q), 0);
    ck_assert_int_eq(q.eio, 4);
    ck_assert_int_eq(q.has_eio, 1);
    ck_assert_int_eq(q.transport, EIO_TRANSPORT_POLLING);
    ck_assert_str_eq(q.transport_name, "polling");
    ck_assert_str_eq(q.t, "N8hyd6w");
    ck_assert_str_eq(q.sid, "");
    ck_assert_int_eq(q.has_b64, 0);
    ck_assert_int_eq(q.has_j, 0);

    s = "transport=websocket&sid=ab%2Dcd%5F%41+x&EIO=3&EIO=4&b64=1&j=0&foo=%zz&=&&x";
    ck_assert_int_eq(eio_query_parse(s, strlen(s), &q), 0);
    ck_assert_int_eq(q.transport, EIO_TRANSPORT_WEBSOCKET);
    ck_assert_str_eq(q.sid, "ab-cd_A x");
    ck_assert_int_eq(q.eio, 4); /* last occurrence wins */
    ck_assert_int_eq(q.has_b64, 1);
    ck_assert_int_eq(q.has_j, 1);
    ck_assert_str_eq(q.j, "0");

    static const struct {
        const char *qs;
        int eio, transport;
    } t[] = {
        {"", 3, EIO_TRANSPORT_UNKNOWN},
        {"EIO=3&transport=polling", 3, EIO_TRANSPORT_POLLING},
        {"EIO=04&transport=webtransport", 3, EIO_TRANSPORT_UNKNOWN},
        {"EIO=4 &transport=Polling", 3, EIO_TRANSPORT_UNKNOWN},
        {"EIO=%34&transport=%77ebsocket", 4, EIO_TRANSPORT_WEBSOCKET},
        {"EIO=4&transport=polling%", 4, EIO_TRANSPORT_UNKNOWN}, /* "polling%" */
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(t); i++) {
        ck_assert_int_eq(eio_query_parse(t[i].qs, strlen(t[i].qs), &q), 0);
        ck_assert_msg(q.eio == t[i].eio && q.transport == t[i].transport, "case %zu", i);
    }
    ck_assert_int_eq(eio_query_parse("sid=%41%4", 9, &q), 0);
    ck_assert_str_eq(q.sid, "A%4");

    char longq[200] = "sid=";
    memset(longq + 4, 'a', EIO_QS_VALUE_MAX);
    ck_assert_int_eq(eio_query_parse(longq, 4 + EIO_QS_VALUE_MAX, &q), DG_ELIMIT);
    ck_assert_int_eq(eio_query_parse(longq, 4 + EIO_QS_VALUE_MAX - 1, &q), 0);
    memcpy(longq, "zzz=", 4); /* unknown keys are not bounded */
    ck_assert_int_eq(eio_query_parse(longq, 4 + EIO_QS_VALUE_MAX, &q), 0);
    /* Only the given length is read. */
    ck_assert_int_eq(eio_query_parse("EIO=4&transport=polling", 5, &q), 0);
    ck_assert_int_eq(q.eio, 4);
    ck_assert_int_eq(q.transport, EIO_TRANSPORT_UNKNOWN);
}
END_TEST

static int check_qs(const char *qs, const char *method, int upgrade, int session)
{
    eio_query_t q;
    ck_assert_int_eq(eio_query_parse(qs, strlen(qs), &q), 0);
    return eio_request_check(&q, method, upgrade, session);
}

START_TEST(request_errors)
{
    const int P = EIO_TRANSPORT_POLLING, W = EIO_TRANSPORT_WEBSOCKET, U = EIO_TRANSPORT_UNKNOWN;
    ck_assert_int_eq(check_qs("EIO=4&transport=polling", "GET", 0, U), EIO_ERR_NONE);
    ck_assert_int_eq(check_qs("EIO=4&transport=websocket", "GET", 1, U), EIO_ERR_NONE);
    ck_assert_int_eq(check_qs("EIO=4&transport=foo", "GET", 0, U), EIO_ERR_UNKNOWN_TRANSPORT);
    ck_assert_int_eq(check_qs("EIO=4", "GET", 0, U), EIO_ERR_UNKNOWN_TRANSPORT);
    ck_assert_int_eq(check_qs("EIO=4&transport=polling", "POST", 0, U),
                     EIO_ERR_BAD_HANDSHAKE_METHOD);
    ck_assert_int_eq(check_qs("EIO=4&transport=websocket", "GET", 0, U), EIO_ERR_BAD_REQUEST);
    ck_assert_int_eq(check_qs("EIO=3&transport=polling", "GET", 0, U),
                     EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION);
    ck_assert_int_eq(check_qs("transport=polling", "GET", 0, U),
                     EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION);
    ck_assert_int_eq(check_qs("EIO=4&transport=polling", "GET", 1, U), EIO_ERR_BAD_REQUEST);
    /* With a sid. */
    ck_assert_int_eq(check_qs("EIO=4&transport=polling&sid=x", "GET", 0, U), EIO_ERR_UNKNOWN_SID);
    ck_assert_int_eq(check_qs("EIO=4&transport=polling&sid=x", "POST", 0, P), EIO_ERR_NONE);
    ck_assert_int_eq(check_qs("EIO=4&transport=websocket&sid=x", "GET", 1, P), EIO_ERR_NONE);
    ck_assert_int_eq(check_qs("EIO=4&transport=polling&sid=x", "GET", 0, W),
                     EIO_ERR_BAD_REQUEST); /* transport mismatch */
    ck_assert_int_eq(check_qs("EIO=3&transport=polling&sid=x", "GET", 0, P),
                     EIO_ERR_BAD_REQUEST); /* protocol mismatch */
    ck_assert_int_eq(check_qs("EIO=4&transport=websocket&sid=x", "GET", 0, P), EIO_ERR_BAD_REQUEST);
    ck_assert_int_eq(check_qs("EIO=4&transport=polling&sid=", "PUT", 0, P),
                     EIO_ERR_BAD_HANDSHAKE_METHOD); /* empty sid is a handshake */
}
END_TEST

START_TEST(error_bodies)
{
    static const char *const want[] = {
        "{\"code\":0,\"message\":\"Transport unknown\"}",
        "{\"code\":1,\"message\":\"Session ID unknown\"}",
        "{\"code\":2,\"message\":\"Bad handshake method\"}",
        "{\"code\":3,\"message\":\"Bad request\"}",
        "{\"code\":4,\"message\":\"Forbidden\"}",
        "{\"code\":5,\"message\":\"Unsupported protocol version\"}",
    };
    char buf[EIO_ERROR_BODY_MAX];
    for (int c = 0; c < 6; c++) {
        ck_assert_int_eq(eio_error_body(buf, sizeof(buf), c), (int)strlen(want[c]));
        ck_assert_str_eq(buf, want[c]);
        ck_assert_int_eq(eio_error_status(c), c == EIO_ERR_FORBIDDEN ? 403 : 400);
        ck_assert_int_eq(eio_error_body(buf, strlen(want[c]), c), DG_ELIMIT);
    }
    ck_assert_int_eq(eio_error_body(buf, sizeof(buf), 6), DG_EINVAL);
    ck_assert_int_eq(eio_error_body(buf, sizeof(buf), EIO_ERR_NONE), DG_EINVAL);
    ck_assert_ptr_null(eio_error_message(-1));
}
END_TEST

Suite *eio_suite(void)
{
    Suite *s = suite_create("eio");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, b64_vectors);
    tcase_add_test(tc, packet_decode_encode);
    tcase_add_test(tc, payload_encode);
    tcase_add_test(tc, pdec_every_split);
    tcase_add_test(tc, pdec_errors);
    tcase_add_test(tc, open_packet);
    tcase_add_test(tc, sids);
    tcase_add_test(tc, query_parse);
    tcase_add_test(tc, request_errors);
    tcase_add_test(tc, error_bodies);
    suite_add_tcase(s, tc);
    return s;
}
