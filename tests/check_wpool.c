/* check_wpool.c - the writer pool: every schedule is followed by a flush, one item is never
 * flushed by two threads at once, cancel waits for a running flush. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "wpool.h"

typedef struct owner {
    wp_item_t wi;
    atomic_int inside;  /* threads inside flush() for this item right now */
    atomic_int overlap; /* times two were */
    atomic_int flushed;
    atomic_int pending; /* work items scheduled and not yet seen by a flush */
} owner_t;

static void flush(wp_item_t *it, buf_t *scratch, void *ud)
{
    owner_t *o = (owner_t *)it;
    (void)ud;
    ck_assert_uint_eq(scratch->len, 0);
    buf_append(scratch, "x", 1);
    if (atomic_fetch_add(&o->inside, 1) != 0)
        atomic_fetch_add(&o->overlap, 1);
    atomic_store(&o->pending, 0);
    for (volatile int i = 0; i < 2000; i++)
        ;
    atomic_fetch_add(&o->flushed, 1);
    atomic_fetch_sub(&o->inside, 1);
}

typedef struct hammer {
    wpool_t *p;
    owner_t *owners;
    int n;
} hammer_t;

static void *hammer_main(void *arg)
{
    hammer_t *h = arg;
    for (int r = 0; r < 20000; r++) {
        owner_t *o = &h->owners[r % h->n];
        atomic_store(&o->pending, 1);
        wp_schedule(h->p, &o->wi);
    }
    return NULL;
}

START_TEST(never_concurrent_and_nothing_missed)
{
    static owner_t owners[8];
    memset(owners, 0, sizeof(owners));
    wpool_t *p = wp_new(4, flush, NULL);
    ck_assert_ptr_nonnull(p);
    hammer_t h = {p, owners, 8};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, hammer_main, &h);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 8; i++) {
        /* Settle: whatever was scheduled last gets flushed, then cancel returns idle. */
        for (int spin = 0; atomic_load(&owners[i].pending) && spin < 100000000; spin++)
            ;
        wp_cancel(p, &owners[i].wi);
        ck_assert_int_eq(atomic_load(&owners[i].pending), 0);
        ck_assert_int_eq(atomic_load(&owners[i].overlap), 0);
        ck_assert_int_eq(atomic_load(&owners[i].inside), 0);
        ck_assert_int_gt(atomic_load(&owners[i].flushed), 0);
    }
    wp_free(p);
}
END_TEST

static atomic_int gate, main_ready;

static void slow_flush(wp_item_t *it, buf_t *scratch, void *ud)
{
    owner_t *o = (owner_t *)it;
    (void)scratch;
    (void)ud;
    atomic_store(&o->inside, 1);
    while (!atomic_load(&gate))
        ;
    atomic_fetch_add(&o->flushed, 1);
    atomic_store(&o->inside, 0);
}

/* Opens the gate once the main thread is about to cancel (the flush is held until then). */
static void *opener(void *arg)
{
    (void)arg;
    while (!atomic_load(&main_ready))
        ;
    atomic_store(&gate, 1);
    return NULL;
}

START_TEST(cancel_waits_for_the_running_flush)
{
    static owner_t o;
    memset(&o, 0, sizeof(o));
    atomic_store(&gate, 0);
    atomic_store(&main_ready, 0);
    wpool_t *p = wp_new(1, slow_flush, NULL);
    wp_schedule(p, &o.wi);
    pthread_t t;
    pthread_create(&t, NULL, opener, NULL);
    while (!atomic_load(&o.inside))
        ;
    wp_schedule(p, &o.wi); /* while busy: remembered (maybe flushed once more before cancel) */
    atomic_store(&main_ready, 1);
    wp_cancel(p, &o.wi); /* returns only once no flush runs and none is queued */
    ck_assert_int_eq(atomic_load(&o.inside), 0);
    int after_cancel = atomic_load(&o.flushed);
    ck_assert(after_cancel == 1 || after_cancel == 2);
    pthread_join(t, NULL);
    wp_free(p);
    ck_assert_int_eq(atomic_load(&o.flushed), after_cancel); /* nothing ran after cancel */
}
END_TEST

Suite *wpool_suite(void)
{
    Suite *s = suite_create("wpool");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, never_concurrent_and_nothing_missed);
    tcase_add_test(tc, cancel_waits_for_the_running_flush);
    suite_add_tcase(s, tc);
    return s;
}
