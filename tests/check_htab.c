/* check_htab.c - the one hash table: find/insert/remove, growth keeps every entry, draining. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dg.h"
#include "htab.h"

typedef struct ent {
    ht_node_t node;
    char key[32];
    int v;
} ent_t;

START_TEST(insert_find_remove_grow)
{
    ht_t t;
    ck_assert_int_eq(ht_init(&t, 3), 0);
    enum { N = 5000 };
    ent_t *e = calloc(N, sizeof(*e));
    for (int i = 0; i < N; i++) {
        snprintf(e[i].key, sizeof(e[i].key), "job:%d", i);
        e[i].v = i;
        ck_assert_ptr_null(ht_find(&t, e[i].key));
        ht_insert(&t, &e[i].node, e[i].key);
    }
    ck_assert_uint_eq(t.n, N);
    for (int i = 0; i < N; i++) {
        ht_node_t *n = ht_find(&t, e[i].key);
        ck_assert_ptr_nonnull(n);
        ck_assert_int_eq(DG_CONTAINER_OF(n, ent_t, node)->v, i);
    }
    for (int i = 0; i < N; i += 2)
        ck_assert_int_eq(ht_remove(&t, &e[i].node), 0);
    ck_assert_int_eq(ht_remove(&t, &e[0].node), DG_ENOTFOUND);
    for (int i = 0; i < N; i++)
        ck_assert(!!ht_find(&t, e[i].key) == (i % 2 == 1));
    ck_assert_ptr_null(ht_find(&t, "job:"));
    ck_assert_ptr_null(ht_find(&t, ""));
    int walked = 0, sum = 0;
    ht_iter_t it;
    ht_iter_init(&t, &it);
    for (ht_node_t *n; (n = ht_iter_next(&t, &it));) {
        walked++;
        sum += DG_CONTAINER_OF(n, ent_t, node)->v % 2;
    }
    ck_assert_int_eq(walked, N / 2);
    ck_assert_int_eq(sum, N / 2); /* every one of them odd */
    int drained = 0;
    for (ht_node_t *n; (n = ht_any(&t));) {
        ht_remove(&t, n);
        drained++;
    }
    ck_assert_int_eq(drained, N / 2);
    ck_assert_uint_eq(t.n, 0);
    ht_free(&t);
    ck_assert_ptr_null(ht_find(&t, "x"));
    free(e);
}
END_TEST

START_TEST(hash_is_fnv1a)
{
    ck_assert_uint_eq(ht_hash(""), 2166136261u);
    ck_assert_uint_eq(ht_hash("a"), 0xe40c292cu);
}
END_TEST

Suite *htab_suite(void)
{
    Suite *s = suite_create("htab");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, insert_find_remove_grow);
    tcase_add_test(tc, hash_is_fnv1a);
    suite_add_tcase(s, tc);
    return s;
}
