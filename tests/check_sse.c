/* check_sse.c - the SSE encoder, checked against a reference parser written from the WHATWG
 * event-stream parsing rules (so multi-line data round-trips byte for byte). */
#include <check.h>
#include <string.h>

#include "buf.h"
#include "dg.h"
#include "sse.h"

/* Minimal WHATWG parser: returns data of the first dispatched event, its event name and id. */
static void parse_event(const char *in, char *data, char *event, char *id)
{
    data[0] = event[0] = id[0] = '\0';
    size_t dlen = 0;
    const char *p = in;
    while (*p) {
        const char *eol = p + strcspn(p, "\r\n");
        if (eol == p) { /* blank line: dispatch */
            if (dlen && data[dlen - 1] == '\n')
                data[--dlen] = '\0';
            return;
        }
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        size_t flen = colon ? (size_t)(colon - p) : (size_t)(eol - p);
        const char *v = colon ? colon + 1 : eol;
        if (v < eol && *v == ' ')
            v++;
        size_t vlen = (size_t)(eol - v);
        if (flen == 4 && !memcmp(p, "data", 4)) {
            memcpy(data + dlen, v, vlen);
            dlen += vlen;
            data[dlen++] = '\n';
            data[dlen] = '\0';
        } else if (flen == 5 && !memcmp(p, "event", 5)) {
            memcpy(event, v, vlen);
            event[vlen] = '\0';
        } else if (flen == 2 && !memcmp(p, "id", 2)) {
            memcpy(id, v, vlen);
            id[vlen] = '\0';
        }
        p = eol;
        if (*p == '\r' && p[1] == '\n')
            p += 2;
        else if (*p)
            p++;
    }
}

START_TEST(exact_bytes)
{
    buf_t b = BUF_INIT;
    ck_assert_int_eq(sse_append_event(&b, "http:1-0", "completed", "{\"a\":1}", 7), 0);
    ck_assert_str_eq(b.data, "id: http:1-0\nevent: completed\ndata: {\"a\":1}\n\n");
    buf_reset(&b);
    ck_assert_int_eq(sse_append_event(&b, NULL, NULL, "", 0), 0);
    ck_assert_str_eq(b.data, "data: \n\n");
    buf_reset(&b);
    sse_append_comment(&b, "heartbeat");
    sse_append_retry(&b, 3000);
    ck_assert_str_eq(b.data, ": heartbeat\n\nretry: 3000\n\n");
    buf_free(&b);
}
END_TEST

START_TEST(multiline_roundtrip)
{
    static const char *cases[] = {"a\nb",   "a\r\nb", "a\rb",  "a\n",     "\n",  "\r\n\r\n",
                                  "x\n\ny", "",       "plain", "a\r\rb\n", "é\nü"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_t b = BUF_INIT;
        ck_assert_int_eq(sse_append_event(&b, "7", "log", cases[i], strlen(cases[i])), 0);
        char data[256], event[64], id[64], want[256];
        parse_event(b.data, data, event, id);
        /* the client normalizes every line break to \n */
        size_t w = 0;
        for (const char *p = cases[i]; *p; p++) {
            if (*p == '\r') {
                want[w++] = '\n';
                if (p[1] == '\n')
                    p++;
            } else {
                want[w++] = *p;
            }
        }
        want[w] = '\0';
        ck_assert_msg(strcmp(data, want) == 0, "case %zu: got '%s'", i, data);
        ck_assert_str_eq(event, "log");
        ck_assert_str_eq(id, "7");
        buf_free(&b);
    }
}
END_TEST

START_TEST(rejects_breaks_in_fields)
{
    buf_t b = BUF_INIT;
    ck_assert_int_eq(sse_append_event(&b, "1\n", "x", "d", 1), DG_EINVAL);
    ck_assert_int_eq(sse_append_event(&b, "1", "x\r", "d", 1), DG_EINVAL);
    ck_assert_int_eq(sse_append_event(&b, "1", "x", "d\0e", 3), DG_EINVAL);
    ck_assert_int_eq(sse_append_comment(&b, "a\nb"), DG_EINVAL);
    ck_assert_int_eq(sse_append_id(&b, "a\rb"), DG_EINVAL);
    ck_assert_uint_eq(b.len, 0);
    buf_free(&b);
}
END_TEST

Suite *sse_suite(void)
{
    Suite *s = suite_create("sse");
    TCase *tc = tcase_create("encoder");
    tcase_add_test(tc, exact_bytes);
    tcase_add_test(tc, multiline_roundtrip);
    tcase_add_test(tc, rejects_breaks_in_fields);
    suite_add_tcase(s, tc);
    return s;
}
