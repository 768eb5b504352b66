/* check_outq.c - bounded outbound queue: limits, order, growth, references. */
#include <check.h>
#include <stdlib.h>

#include "dg.h"
#include "outq.h"

static msg_t *mk(uint64_t ms)
{
    msg_t *m = calloc(1, sizeof(*m));
    atomic_init(&m->refs, 1);
    m->id.ms = ms;
    return m;
}

START_TEST(order_and_limits)
{
    oq_t q;
    oq_init(&q, 100, 1000);
    msg_t *ms[200];
    for (int i = 0; i < 200; i++)
        ms[i] = mk((uint64_t)i);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(oq_push(&q, ms[i], 10), 0);
    ck_assert_int_eq(oq_push(&q, ms[100], 1), DG_ELIMIT); /* count limit */
    ck_assert_uint_eq(q.len, 100);
    ck_assert_uint_eq(q.bytes, 1000);
    for (int i = 0; i < 50; i++) {
        msg_t *m = oq_pop(&q);
        ck_assert_uint_eq(m->id.ms, (uint64_t)i);
        ck_assert_int_eq(atomic_load(&m->refs), 2);
        msg_unref(m);
    }
    ck_assert_int_eq(oq_push(&q, ms[100], 501), DG_ELIMIT); /* byte limit */
    for (int i = 100; i < 150; i++)
        ck_assert_int_eq(oq_push(&q, ms[i], 10), 0); /* wraps around the ring */
    for (int i = 50; i < 150; i++) {
        msg_t *m = oq_pop(&q);
        ck_assert_uint_eq(m->id.ms, (uint64_t)i);
        msg_unref(m);
    }
    ck_assert_ptr_null(oq_pop(&q));
    ck_assert_uint_eq(q.bytes, 0);
    oq_shrink(&q);
    ck_assert_ptr_null(q.ring);
    ck_assert_int_eq(oq_push(&q, ms[0], 1), 0);
    oq_clear(&q);
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(atomic_load(&ms[i]->refs), 1);
        msg_unref(ms[i]);
    }
}
END_TEST

START_TEST(pop_batch_by_count_and_bytes)
{
    oq_t q;
    oq_init(&q, 100, 100000);
    msg_t *m = mk(1);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(oq_push(&q, m, 100), 0);
    msg_t *out[8];
    ck_assert_int_eq(oq_pop_batch(&q, out, 8, 250), 3); /* 100+100 < 250, the third reaches it */
    ck_assert_int_eq(oq_pop_batch(&q, out + 3, 2, 100000), 2); /* count */
    ck_assert_int_eq(oq_pop_batch(&q, out + 5, 1, 0), 1);      /* at least one */
    ck_assert_uint_eq(q.len, 4);
    ck_assert_uint_eq(q.bytes, 400);
    for (int i = 0; i < 6; i++)
        msg_unref(out[i]);
    oq_clear(&q);
    ck_assert_int_eq(oq_pop_batch(&q, out, 8, 1000), 0);
    msg_unref(m);
}
END_TEST

START_TEST(soft_limit_over_for_too_long)
{
    oq_t q;
    oq_init(&q, 100, 100000);
    oq_set_soft(&q, 500, 1000);
    msg_t *m = mk(1);
    ck_assert_int_eq(oq_soft_check(&q, 0, 10), OQ_UNDER);
    ck_assert_int_eq(oq_soft_deadline(&q), -1);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(oq_push(&q, m, 100), 0); /* 600 > 500 */
    ck_assert_int_eq(oq_soft_check(&q, 0, 100), OQ_SOFT_OVER);
    ck_assert_int_eq(oq_soft_deadline(&q), 1100);
    ck_assert_int_eq(oq_soft_check(&q, 0, 1099), OQ_SOFT_OVER);
    ck_assert_int_eq(oq_soft_check(&q, 0, 1100), OQ_SOFT_EXPIRED);
    /* draining below the limit resets the clock */
    msg_unref(oq_pop(&q));
    msg_unref(oq_pop(&q));
    ck_assert_int_eq(oq_soft_check(&q, 0, 1200), OQ_UNDER);
    ck_assert_int_eq(oq_soft_check(&q, 200, 1300), OQ_SOFT_OVER); /* bytes held elsewhere count */
    ck_assert_int_eq(oq_soft_deadline(&q), 2300);
    oq_set_soft(&q, 0, 0);
    ck_assert_int_eq(oq_soft_check(&q, 1 << 20, 99999), OQ_UNDER); /* no soft limit */
    oq_clear(&q);
    msg_unref(m);
}
END_TEST

Suite *outq_suite(void)
{
    Suite *s = suite_create("outq");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, order_and_limits);
    tcase_add_test(tc, soft_limit_over_for_too_long);
    tcase_add_test(tc, pop_batch_by_count_and_bytes);
    suite_add_tcase(s, tc);
    return s;
}
