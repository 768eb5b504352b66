/* check_cursor.c - stream ids and multi-stream resume cursors. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "cursor.h"
#include "dg.h"

static const char *const names[] = {"http", "sparql", "techstack", "analyzer", "logs"};

START_TEST(id_parse_format)
{
    cur_id_t id;
    char buf[CUR_ID_STR_MAX];
    ck_assert_int_eq(cur_id_parse("1795314435802-3", 15, &id), 0);
    ck_assert_uint_eq(id.ms, 1795314435802ull);
    ck_assert_uint_eq(id.seq, 3);
    ck_assert_int_eq(cur_id_format(id, buf), 15);
    ck_assert_str_eq(buf, "1795314435802-3");
    ck_assert_int_eq(cur_id_parse("42", 2, &id), 0);
    ck_assert_uint_eq(id.ms, 42);
    ck_assert_uint_eq(id.seq, 0);
    ck_assert_int_eq(cur_id_parse("18446744073709551615-18446744073709551615", 41, &id), 0);
    ck_assert_int_eq(cur_id_format(id, buf), 41);
    ck_assert_str_eq(buf, "18446744073709551615-18446744073709551615");
}
END_TEST

/* Formatting agrees with printf on every length: 0..9999, each power of ten and its
 * neighbours, and a spread of large values. */
START_TEST(id_format_like_printf)
{
    char buf[CUR_ID_STR_MAX], want[CUR_ID_STR_MAX];
    uint64_t v[20300];
    size_t n = 0;
    for (uint64_t i = 0; i < 10000; i++)
        v[n++] = i;
    for (uint64_t p = 1; p <= 10000000000000000000ull; p *= 10) {
        v[n++] = p - 1;
        v[n++] = p;
        v[n++] = p + 1;
        if (p > UINT64_MAX / 10)
            break;
    }
    for (uint64_t x = 88172645463325252ull; n < DG_ARRAY_LEN(v);
         x ^= x << 13, x ^= x >> 7, x ^= x << 17)
        v[n++] = x >> (x % 60);
    for (size_t i = 0; i + 1 < n; i++) {
        cur_id_t id = {v[i], v[n - 1 - i]};
        int len = snprintf(want, sizeof(want), "%llu-%llu", (unsigned long long)id.ms,
                           (unsigned long long)id.seq);
        ck_assert_int_eq(cur_id_format(id, buf), len);
        ck_assert_str_eq(buf, want);
    }
}
END_TEST

START_TEST(id_parse_rejects)
{
    static const char *bad[] = {"", "-", "1-", "-1", "1--2", "a-1", "1-b", " 1-2", "1-2 ",
                                "18446744073709551616-0", "0-18446744073709551616", "1-2-3", "+1"};
    cur_id_t id;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(cur_id_parse(bad[i], strlen(bad[i]), &id) == DG_EINVAL, "accepted '%s'",
                      bad[i]);
}
END_TEST

START_TEST(id_cmp)
{
    cur_id_t a = {1, 5}, b = {2, 0}, c = {2, 1};
    ck_assert_int_lt(cur_id_cmp(a, b), 0);
    ck_assert_int_gt(cur_id_cmp(c, b), 0);
    ck_assert_int_eq(cur_id_cmp(c, c), 0);
}
END_TEST

START_TEST(cursor_roundtrip)
{
    cur_t c = {.n = 5, .known = (1u << 0) | (1u << 3)};
    c.pos[0] = (cur_id_t){1795314435827, 0};
    c.pos[3] = (cur_id_t){17, 2};
    char buf[256];
    int n = cur_format(&c, names, buf, sizeof(buf));
    ck_assert_str_eq(buf, "http:1795314435827-0,analyzer:17-2");
    ck_assert_int_eq(n, (int)strlen(buf));

    cur_t back;
    ck_assert_int_eq(cur_parse(&back, names, 5, buf, (size_t)n), 0);
    ck_assert_uint_eq(back.known, c.known);
    ck_assert_int_eq(cur_id_cmp(back.pos[0], c.pos[0]), 0);
    ck_assert_int_eq(cur_id_cmp(back.pos[3], c.pos[3]), 0);
    /* too small a buffer never truncates silently */
    ck_assert_int_eq(cur_format(&c, names, buf, 10), DG_ELIMIT);
}
END_TEST

START_TEST(cursor_bare_id_and_unknown_names)
{
    cur_t c;
    ck_assert_int_eq(cur_parse(&c, names, 5, "100-1", 5), 0);
    ck_assert_uint_eq(c.known, 0x1f);
    ck_assert_uint_eq(c.pos[4].ms, 100);
    /* a stream the configuration no longer has is ignored, the rest still counts */
    const char *s = "gone:5-5,sparql:7-0";
    ck_assert_int_eq(cur_parse(&c, names, 5, s, strlen(s)), 0);
    ck_assert_uint_eq(c.known, 1u << 1);
    ck_assert_uint_eq(c.pos[1].ms, 7);
}
END_TEST

START_TEST(cursor_rejects)
{
    static const char *bad[] = {"", ":1-0", "http:", "http:x", "http:1-0,", ",http:1-0",
                                "http:1-0,,sparql:2-0", "http1-0,x", "http:1-0;sparql:2-0"};
    cur_t c;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(cur_parse(&c, names, 5, bad[i], strlen(bad[i])) == DG_EINVAL,
                      "accepted '%s'", bad[i]);
}
END_TEST

/* Every prefix of a valid cursor is either valid or rejected cleanly (no overread). */
START_TEST(cursor_every_prefix)
{
    const char *s = "http:1795314435827-0,sparql:1795314436326-1,logs:9-9";
    size_t len = strlen(s);
    for (size_t i = 0; i <= len; i++) {
        char tmp[128];
        memcpy(tmp, s, i);
        cur_t c;
        int rc = cur_parse(&c, names, 5, tmp, i);
        ck_assert(rc == 0 || rc == DG_EINVAL);
    }
}
END_TEST

/* cur_text_advance gives cur_format's text after every step of a random walk: positions of
 * every length (0 to 20 digits), streams joining one by one, names with a comma in them, and
 * resets after the cursor was changed behind the text's back. */
START_TEST(cursor_text_matches_format)
{
    static const char *const odd[] = {"a", "b,c", "", "queue:x", "logs"};
    const char *const *sets[] = {names, odd};
    unsigned seed = 12345;
    for (int set = 0; set < 2; set++) {
        cur_t c = {.n = 5};
        cur_text_t t = {0};
        for (int step = 0; step < 20000; step++) {
            seed = seed * 1103515245u + 12345u;
            int i = (int)((seed >> 8) % 5);
            uint64_t big = ((uint64_t)seed << 32) ^ (seed * 2654435761u);
            cur_id_t id = {big >> ((seed >> 3) % 64), (seed >> 20) % 3 ? seed % 100 : big};
            if (step % 1000 == 999) { /* changed by other means, then reset */
                c.pos[(i + 1) % 5] = (cur_id_t){(uint64_t)step, 0};
                c.known |= 1u << ((i + 1) % 5);
                cur_text_reset(&t);
            }
            size_t len = 0;
            const char *text = cur_text_advance(&t, &c, sets[set], i, id, 1024, &len);
            char want[1024];
            int n = cur_format(&c, sets[set], want, sizeof(want));
            ck_assert_ptr_nonnull(text);
            ck_assert_uint_eq(len, (size_t)n);
            ck_assert_str_eq(text, want);
            ck_assert_uint_eq(c.known & (1u << i), 1u << i);
            ck_assert_int_eq(cur_id_cmp(c.pos[i], id), 0);
        }
        cur_text_free(&t);
    }
}
END_TEST

/* Over max: NULL, never a truncated text; a later advance that fits rebuilds it. */
START_TEST(cursor_text_max)
{
    cur_t c = {.n = 5};
    cur_text_t t = {0};
    size_t len = 0;
    ck_assert_ptr_nonnull(cur_text_advance(&t, &c, names, 0, (cur_id_t){1, 0}, 16, &len));
    ck_assert_str_eq(t.s, "http:1-0");
    ck_assert_ptr_null(cur_text_advance(&t, &c, names, 0, (cur_id_t){1795314435827, 1}, 16, &len));
    ck_assert_ptr_null(cur_text_advance(&t, &c, names, 1, (cur_id_t){2, 0}, 16, &len));
    const char *text = cur_text_advance(&t, &c, names, 0, (cur_id_t){3, 0}, 32, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(text, "http:3-0,sparql:2-0");
    ck_assert_uint_eq(len, strlen(text));
    cur_text_free(&t);
}
END_TEST

Suite *cursor_suite(void)
{
    Suite *s = suite_create("cursor");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, id_parse_format);
    tcase_add_test(tc, id_format_like_printf);
    tcase_add_test(tc, id_parse_rejects);
    tcase_add_test(tc, id_cmp);
    tcase_add_test(tc, cursor_roundtrip);
    tcase_add_test(tc, cursor_bare_id_and_unknown_names);
    tcase_add_test(tc, cursor_rejects);
    tcase_add_test(tc, cursor_every_prefix);
    tcase_add_test(tc, cursor_text_matches_format);
    tcase_add_test(tc, cursor_text_max);
    suite_add_tcase(s, tc);
    return s;
}
