/* check_catchup.c - a late subscriber's `state` payloads: which answers are handed out, in which
 * order, what stands in for a failed read and for a job no queue holds. Answers are fed with
 * cu_answer (no Redis: the reads themselves are tests/integration/late_state.test.js). */
#include <check.h>
#include <string.h>

#include "catchup.h"
#include "dg.h"

static const char *const names[] = {"http", "sparql", "techstack", "analyzer"};
static int wakes;

static void wake(void *ud)
{
    (void)ud;
    wakes++;
}

static cu_t *mk(uint32_t queues, int named, const char *id)
{
    cu_spec_t spec = {.names = names,
                      .queues = queues,
                      .named = named,
                      .job_id = id,
                      .timeout_ms = 1000,
                      .wake = wake};
    return cu_new(&spec);
}

static void answer(cu_t *cu, int q, int status, const char *json)
{
    cu_answer(cu, q, status, json, json ? strlen(json) : 0);
}

/* The next payload as a string ("" when there is none: WAIT or DONE, given by *rc). */
static const char *next(cu_t *cu, int *rc)
{
    static char out[1024];
    const char *json = NULL;
    size_t len = 0;
    *rc = cu_next(cu, &json, &len);
    out[0] = '\0';
    if (*rc == CU_ITEM) {
        ck_assert_uint_lt(len, sizeof(out));
        memcpy(out, json, len);
        out[len] = '\0';
        ck_assert_uint_eq(strlen(json), len); /* NUL-terminated too */
    }
    return out;
}

#define K(q, st) "{\"queue\":\"" q "\",\"jobId\":\"7\",\"state\":\"" st "\"}"

START_TEST(known_answers_in_queue_order_unknown_dropped)
{
    int rc;
    cu_t *cu = mk(0xf, 0, "7");
    ck_assert_ptr_nonnull(cu);
    answer(cu, 2, 0, K("techstack", "completed"));
    next(cu, &rc);
    ck_assert_int_eq(rc, CU_WAIT); /* nothing before every queue answered */
    answer(cu, 0, 0, K("http", "unknown"));
    answer(cu, 3, 0, K("analyzer", "active"));
    next(cu, &rc);
    ck_assert_int_eq(rc, CU_WAIT);
    answer(cu, 1, 0, K("sparql", "unknown"));
    ck_assert_ptr_null(cu_owner(cu, 2)); /* no owner_field asked: none */
    ck_assert_ptr_null(cu_owner(cu, 9)); /* a queue not asked */
    ck_assert_ptr_null(cu_owner(cu, -1));
    ck_assert_str_eq(next(cu, &rc), K("techstack", "completed"));
    ck_assert_int_eq(rc, CU_ITEM);
    ck_assert_str_eq(next(cu, &rc), K("analyzer", "active"));
    next(cu, &rc);
    ck_assert_int_eq(rc, CU_DONE);
    next(cu, &rc);
    ck_assert_int_eq(rc, CU_DONE);
    cu_free(cu);
}
END_TEST

START_TEST(no_queue_holds_it_one_null_queue_unknown)
{
    int rc;
    cu_t *cu = mk(0x3, 0, "a \"b\"\xc3\xa9");
    answer(cu, 0, 0, "{\"queue\":\"http\",\"jobId\":\"x\",\"state\":\"unknown\"}");
    answer(cu, 1, 0, "{\"queue\":\"sparql\",\"jobId\":\"x\",\"state\":\"unknown\"}");
    ck_assert_str_eq(next(cu, &rc),
                     "{\"queue\":null,\"jobId\":\"a \\\"b\\\"\xc3\xa9\",\"state\":\"unknown\"}");
    next(cu, &rc);
    ck_assert_int_eq(rc, CU_DONE);
    cu_free(cu);
}
END_TEST

START_TEST(named_queue_keeps_its_unknown)
{
    int rc;
    cu_t *cu = mk(0x2, 1, "7");
    answer(cu, 1, 0, K("sparql", "unknown"));
    ck_assert_str_eq(next(cu, &rc), K("sparql", "unknown"));
    next(cu, &rc);
    ck_assert_int_eq(rc, CU_DONE);
    cu_free(cu);
}
END_TEST

START_TEST(failed_read_says_unknown_with_error)
{
    int rc;
    cu_t *cu = mk(0x3, 0, "7");
    answer(cu, 0, DG_EIO, NULL);
    answer(cu, 1, 0, K("sparql", "unknown"));
    ck_assert_str_eq(next(cu, &rc), "{\"queue\":\"http\",\"jobId\":\"7\",\"state\":\"unknown\","
                                    "\"error\":\"redis_unavailable\"}");
    next(cu, &rc);
    ck_assert_int_eq(rc, CU_DONE); /* an error was said: no fallback */
    cu_free(cu);
    /* also for a named queue, and an ENOMEM (status 0 without json) */
    cu = mk(0x8, 1, "7");
    answer(cu, 3, 0, NULL);
    ck_assert_str_eq(next(cu, &rc), "{\"queue\":\"analyzer\",\"jobId\":\"7\",\"state\":\"unknown\","
                                    "\"error\":\"redis_unavailable\"}");
    cu_free(cu);
}
END_TEST

START_TEST(stray_and_repeated_answers_ignored)
{
    int rc;
    cu_t *cu = mk(0x1, 0, "7");
    answer(cu, 1, 0, K("sparql", "completed")); /* not asked */
    answer(cu, -1, 0, K("x", "completed"));
    answer(cu, 40, 0, K("x", "completed"));
    next(cu, &rc);
    ck_assert_int_eq(rc, CU_WAIT);
    answer(cu, 0, 0, K("http", "failed"));
    answer(cu, 0, 0, K("http", "completed")); /* second one */
    ck_assert_str_eq(next(cu, &rc), K("http", "failed"));
    cu_free(cu); /* freed before everything was taken */
}
END_TEST

START_TEST(bad_specs_refused)
{
    ck_assert_ptr_null(mk(0, 0, "7"));
    ck_assert_ptr_null(mk(1, 0, ""));
    ck_assert_ptr_null(mk(1, 0, NULL));
    ck_assert_ptr_null(mk(1, 0, "\xff"));     /* not UTF-8: a JSON string could not hold it */
    ck_assert_ptr_null(mk(1u << 16, 0, "7")); /* past CFG_MAX_QUEUES */
    char big[DEC_JOBID_MAX + 1];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_ptr_null(mk(1, 0, big));
    big[DEC_JOBID_MAX - 1] = '\0';
    cu_t *cu = mk(1, 0, big);
    ck_assert_ptr_nonnull(cu);
    cu_free(cu);
    cu_free(NULL);
    ck_assert_int_eq(wakes, 0); /* answers fed by hand never wake */
}
END_TEST

Suite *catchup_suite(void)
{
    Suite *s = suite_create("catchup");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, known_answers_in_queue_order_unknown_dropped);
    tcase_add_test(tc, no_queue_holds_it_one_null_queue_unknown);
    tcase_add_test(tc, named_queue_keeps_its_unknown);
    tcase_add_test(tc, failed_read_says_unknown_with_error);
    tcase_add_test(tc, stray_and_repeated_answers_ignored);
    tcase_add_test(tc, bad_specs_refused);
    suite_add_tcase(s, tc);
    return s;
}
