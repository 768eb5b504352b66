/* check_jpath.c - unit tests for jpath.c: path syntax, member-name-first lookup, dotted paths
 * through nested objects, and scalars as String() text with exact bytes and buffer limits. */
#include <check.h>
#include <string.h>

#include <jansson.h>

#include "decode.h"
#include "dg.h"
#include "jpath.h"

static json_t *doc(const char *text)
{
    json_t *v = dec_json_parse(text, strlen(text));
    ck_assert_msg(v != NULL, "bad JSON in test: %s", text);
    return v;
}

START_TEST(test_valid)
{
    ck_assert_int_eq(jpath_valid("sub", 3), 1);
    ck_assert_int_eq(jpath_valid("a.b.c", 5), 1);
    ck_assert_int_eq(jpath_valid("https://example.com/roles", 25), 1);
    ck_assert_int_eq(jpath_valid("", 0), 0);
    ck_assert_int_eq(jpath_valid(NULL, 3), 0);
    ck_assert_int_eq(jpath_valid("a b", 3), 0);
    ck_assert_int_eq(jpath_valid("a\tb", 3), 0);
    ck_assert_int_eq(jpath_valid("caf\xc3\xa9", 5), 0);
    char p[JPATH_MAX + 1];
    memset(p, 'p', sizeof(p));
    ck_assert_int_eq(jpath_valid(p, JPATH_MAX - 1), 1);
    ck_assert_int_eq(jpath_valid(p, JPATH_MAX), 0);
}
END_TEST

static const char *text_at(const json_t *obj, const char *path, char *buf, size_t cap)
{
    const json_t *v = jpath_get(obj, path, strlen(path));
    if (!v)
        return NULL;
    int n = jpath_text(v, buf, cap);
    return n >= 0 ? buf : "<not scalar>";
}

START_TEST(test_get)
{
    json_t *o = doc("{\"user_id\":42,\"user\":{\"id\":\"u7\",\"org\":{\"id\":3}},\"a.b\":\"exact\","
                    "\"a\":{\"b\":\"nested\"},\"arr\":[1,2],\"\":\"empty\",\"x\":null}");
    char b[64];
    ck_assert_str_eq(text_at(o, "user_id", b, sizeof(b)), "42");
    ck_assert_str_eq(text_at(o, "user.id", b, sizeof(b)), "u7");
    ck_assert_str_eq(text_at(o, "user.org.id", b, sizeof(b)), "3");
    ck_assert_str_eq(text_at(o, "a.b", b, sizeof(b)), "exact"); /* the member name wins */
    ck_assert_ptr_null(jpath_get(o, "user.name", 9));
    ck_assert_ptr_null(jpath_get(o, "user_id.x", 9)); /* not an object on the way */
    ck_assert_ptr_null(jpath_get(o, "arr.0", 5));     /* no array indexes */
    ck_assert_ptr_null(jpath_get(o, "user..id", 8));
    ck_assert_ptr_null(jpath_get(o, ".user", 5));
    ck_assert_ptr_null(jpath_get(o, "user.", 5));
    ck_assert_ptr_null(jpath_get(o, "", 0));
    ck_assert_ptr_null(jpath_get(o, "User_id", 7));
    ck_assert_str_eq(text_at(o, "x", b, sizeof(b)), "<not scalar>");
    ck_assert_str_eq(text_at(o, "user", b, sizeof(b)), "<not scalar>");
    ck_assert_str_eq(text_at(o, "arr", b, sizeof(b)), "<not scalar>");
    /* Only len bytes of the path count. */
    ck_assert_ptr_nonnull(jpath_get(o, "user_idXYZ", 7));
    json_t *arr = doc("[1]");
    ck_assert_ptr_null(jpath_get(arr, "0", 1));
    ck_assert_ptr_null(jpath_get(NULL, "a", 1));
    json_decref(arr);
    json_decref(o);
}
END_TEST

START_TEST(test_text)
{
    static const struct {
        const char *json, *text;
    } cases[] = {
        {"\"as is\"", "as is"},
        {"\"caf\\u00e9\"", "caf\xc3\xa9"},
        {"42", "42"},
        {"-7", "-7"},
        {"1.5", "1.5"},
        {"1e21", "1e+21"},
        {"1e-7", "1e-7"},
        {"0.000001", "0.000001"},
        {"-0", "0"},
        {"9007199254740993", "9007199254740992"},
        {"true", "true"},
        {"false", "false"},
    };
    char b[64];
    for (size_t i = 0; i < DG_ARRAY_LEN(cases); i++) {
        json_t *v = doc(cases[i].json);
        int n = jpath_text(v, b, sizeof(b));
        ck_assert_msg(n >= 0, "%s", cases[i].json);
        ck_assert_str_eq(b, cases[i].text);
        ck_assert_uint_eq((size_t)n, strlen(cases[i].text));
        json_decref(v);
    }
    const char *bad[] = {"null", "{}", "[]", "[1]", "{\"a\":1}"};
    for (size_t i = 0; i < DG_ARRAY_LEN(bad); i++) {
        json_t *v = doc(bad[i]);
        ck_assert_int_eq(jpath_text(v, b, sizeof(b)), DG_EINVAL);
        json_decref(v);
    }
    ck_assert_int_eq(jpath_text(NULL, b, sizeof(b)), DG_EINVAL);
    /* Exactly cap - 1 bytes fit; one more is DG_ELIMIT with out "". */
    json_t *v = doc("\"abcd\"");
    ck_assert_int_eq(jpath_text(v, b, 5), 4);
    ck_assert_str_eq(b, "abcd");
    ck_assert_int_eq(jpath_text(v, b, 4), DG_ELIMIT);
    ck_assert_str_eq(b, "");
    ck_assert_int_eq(jpath_text(v, b, 0), DG_ELIMIT);
    json_decref(v);
    v = doc("12345");
    ck_assert_int_eq(jpath_text(v, b, 5), DG_ELIMIT);
    ck_assert_int_eq(jpath_text(v, b, 6), 5);
    json_decref(v);
    /* NUL inside a string is kept (callers decide): length says so. */
    v = doc("\"a\\u0000b\"");
    ck_assert_int_eq(jpath_text(v, b, sizeof(b)), 3);
    ck_assert(memcmp(b, "a\0b", 4) == 0);
    json_decref(v);
}
END_TEST

Suite *jpath_suite(void)
{
    Suite *s = suite_create("jpath");
    TCase *t = tcase_create("jpath");
    tcase_add_test(t, test_valid);
    tcase_add_test(t, test_get);
    tcase_add_test(t, test_text);
    suite_add_tcase(s, t);
    return s;
}
