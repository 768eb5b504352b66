/* check_broker.c - rooms, filters, dedupe across rooms, positions, leave/disconnect. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "config.h"
#include "dg.h"

typedef struct rec {
    bk_sub_t sub;
    int got;
    int woken;
    int got_at_wake;
    const msg_t *last;
} rec_t;

static void rec_wake(bk_sub_t *s)
{
    rec_t *r = (rec_t *)s;
    r->woken++;
    r->got_at_wake = r->got;
}

static void rec_deliver(bk_sub_t *s, msg_t *m)
{
    rec_t *r = (rec_t *)s;
    r->got++;
    r->last = m;
}

static void rec_init(rec_t *r)
{
    memset(r, 0, sizeof(*r));
    r->sub.deliver = rec_deliver;
    r->sub.owner = r;
}

static msg_t *mk(uint8_t kind, uint8_t stream, uint64_t ms, uint8_t level, const char *ns)
{
    msg_t *m = calloc(1, sizeof(*m));
    atomic_init(&m->refs, 1);
    m->kind = kind;
    m->stream = stream;
    m->id = (cur_id_t){ms, 0};
    m->level = level;
    m->ns = ns;
    return m;
}

START_TEST(join_publish_leave)
{
    bk_t *b = bk_new();
    rec_t a, c;
    rec_init(&a);
    rec_init(&c);
    ck_assert_int_eq(bk_join(b, &a.sub, "job:1", NULL, NULL), 0);
    ck_assert_int_eq(bk_join(b, &c.sub, "job:2", NULL, NULL), 0);
    msg_t *m = mk(MSG_JOB, 0, 10, 0, NULL);
    const char *rooms[] = {"job:1", "queue:http"};
    ck_assert_int_eq(bk_publish(b, m, rooms, 2), 1);
    ck_assert_int_eq(a.got, 1);
    ck_assert_ptr_eq(a.last, m);
    ck_assert_int_eq(c.got, 0);
    ck_assert(bk_is_member(b, &a.sub, "job:1"));
    ck_assert_int_eq(bk_leave(b, &a.sub, "job:1"), 0);
    ck_assert_int_eq(bk_leave(b, &a.sub, "job:1"), DG_ENOTFOUND);
    ck_assert_int_eq(bk_publish(b, m, rooms, 2), 0);
    ck_assert_int_eq(a.got, 1);
    bk_stats_t st;
    bk_get_stats(b, &st);
    ck_assert_int_eq(st.rooms, 1); /* job:1 was freed with its last member */
    ck_assert_int_eq(st.members, 1);
    ck_assert_uint_eq(st.published, 2);
    ck_assert_uint_eq(st.deliveries, 1);
    bk_leave_all(b, &c.sub);
    bk_get_stats(b, &st);
    ck_assert_int_eq(st.rooms, 0);
    msg_unref(m);
    bk_free(b);
}
END_TEST

START_TEST(once_per_subscriber_across_rooms)
{
    bk_t *b = bk_new();
    rec_t a;
    rec_init(&a);
    bk_join(b, &a.sub, "job:1", NULL, NULL);
    bk_join(b, &a.sub, "queue:http", NULL, NULL);
    bk_join(b, &a.sub, "job:1", NULL, NULL); /* joining twice keeps one membership */
    msg_t *m = mk(MSG_JOB, 0, 10, 0, NULL);
    const char *rooms[] = {"job:1", "queue:http"};
    ck_assert_int_eq(bk_publish(b, m, rooms, 2), 1);
    ck_assert_int_eq(bk_publish(b, m, rooms, 2), 1);
    ck_assert_int_eq(a.got, 2);
    ck_assert_int_eq(a.sub.nrooms, 2);
    bk_leave_all(b, &a.sub);
    ck_assert_int_eq(a.sub.nrooms, 0);
    msg_unref(m);
    bk_free(b);
}
END_TEST

START_TEST(filters)
{
    bk_t *b = bk_new();
    rec_t q, lw, lns;
    rec_init(&q);
    rec_init(&lw);
    rec_init(&lns);
    bk_filter_t fq = {.streams = 1u << 1};
    bk_filter_t fw = {.min_level = CFG_LOG_WARN};
    bk_filter_t fn = {0};
    snprintf(fn.ns, sizeof(fn.ns), "api");
    bk_join(b, &q.sub, "job:1", &fq, NULL);
    bk_join(b, &lw.sub, "logs", &fw, NULL);
    bk_join(b, &lns.sub, "logs", &fn, NULL);
    const char *job[] = {"job:1"}, *logs[] = {"logs"};
    msg_t *h = mk(MSG_JOB, 0, 1, 0, NULL), *s = mk(MSG_JOB, 1, 2, 0, NULL);
    bk_publish(b, h, job, 1);
    bk_publish(b, s, job, 1);
    ck_assert_int_eq(q.got, 1);
    ck_assert_ptr_eq(q.last, s);
    msg_t *info_api = mk(MSG_LOG, 4, 3, CFG_LOG_INFO, "api");
    msg_t *err_w = mk(MSG_LOG, 4, 4, CFG_LOG_ERROR, "worker");
    bk_publish(b, info_api, logs, 1);
    bk_publish(b, err_w, logs, 1);
    ck_assert_int_eq(lw.got, 1);
    ck_assert_ptr_eq(lw.last, err_w);
    ck_assert_int_eq(lns.got, 1);
    ck_assert_ptr_eq(lns.last, info_api);
    bk_leave_all(b, &q.sub);
    bk_leave_all(b, &lw.sub);
    bk_leave_all(b, &lns.sub);
    msg_unref(h);
    msg_unref(s);
    msg_unref(info_api);
    msg_unref(err_w);
    bk_free(b);
}
END_TEST

START_TEST(positions_at_join)
{
    bk_t *b = bk_new();
    rec_t a;
    rec_init(&a);
    cur_t pos;
    bk_set_position(b, 2, (cur_id_t){5, 1});
    msg_t *m = mk(MSG_JOB, 0, 9, 0, NULL);
    const char *rooms[] = {"job:x"};
    bk_publish(b, m, rooms, 1); /* nobody there: position still advances */
    ck_assert_int_eq(bk_join(b, &a.sub, "job:x", NULL, &pos), 0);
    ck_assert_uint_eq(pos.known, (1u << 0) | (1u << 2));
    ck_assert_uint_eq(pos.pos[0].ms, 9);
    ck_assert_uint_eq(pos.pos[2].ms, 5);
    ck_assert_uint_eq(pos.pos[2].seq, 1);
    bk_leave_all(b, &a.sub);
    msg_unref(m);
    bk_free(b);
}
END_TEST

START_TEST(many_rooms_rehash_and_limit)
{
    bk_t *b = bk_new();
    rec_t *subs = calloc(3000, sizeof(*subs));
    char room[32];
    for (int i = 0; i < 3000; i++) {
        rec_init(&subs[i]);
        snprintf(room, sizeof(room), "job:%d", i);
        ck_assert_int_eq(bk_join(b, &subs[i].sub, room, NULL, NULL), 0);
    }
    msg_t *m = mk(MSG_JOB, 0, 1, 0, NULL);
    for (int i = 0; i < 3000; i += 7) {
        snprintf(room, sizeof(room), "job:%d", i);
        const char *r[] = {room};
        ck_assert_int_eq(bk_publish(b, m, r, 1), 1);
        ck_assert_int_eq(subs[i].got, 1);
    }
    for (int i = 0; i < BK_MAX_ROOMS_PER_SUB - 1; i++) {
        snprintf(room, sizeof(room), "extra:%d", i);
        ck_assert_int_eq(bk_join(b, &subs[0].sub, room, NULL, NULL), 0);
    }
    ck_assert_int_eq(bk_join(b, &subs[0].sub, "one-too-many", NULL, NULL), DG_ELIMIT);
    for (int i = 0; i < 3000; i++)
        bk_leave_all(b, &subs[i].sub);
    bk_stats_t st;
    bk_get_stats(b, &st);
    ck_assert_int_eq(st.rooms, 0);
    ck_assert_int_eq(st.members, 0);
    msg_unref(m);
    free(subs);
    bk_free(b);
}
END_TEST

/* Joins and leaves on several threads while another publishes: no crash, counts add up. */
typedef struct churn {
    bk_t *b;
    int id;
} churn_t;

static void *churn_main(void *p)
{
    churn_t *c = p;
    rec_t r;
    rec_init(&r);
    char room[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(room, sizeof(room), "job:%d", (c->id * 7 + i) % 50);
        bk_join(c->b, &r.sub, room, NULL, NULL);
        if (i % 3 == 0)
            bk_leave_all(c->b, &r.sub);
    }
    bk_leave_all(c->b, &r.sub);
    return NULL;
}

START_TEST(concurrent_churn)
{
    bk_t *b = bk_new();
    pthread_t t[4];
    churn_t c[4];
    for (int i = 0; i < 4; i++) {
        c[i] = (churn_t){b, i};
        pthread_create(&t[i], NULL, churn_main, &c[i]);
    }
    msg_t *m = mk(MSG_JOB, 0, 1, 0, NULL);
    char room[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(room, sizeof(room), "job:%d", i % 50);
        const char *r[] = {room};
        bk_publish(b, m, r, 1);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    bk_stats_t st;
    bk_get_stats(b, &st);
    ck_assert_int_eq(st.members, 0);
    ck_assert_int_eq(st.rooms, 0);
    ck_assert_uint_eq(st.published, 5000);
    msg_unref(m);
    bk_free(b);
}
END_TEST

START_TEST(batch_wakes_once_and_keeps_positions_in_order)
{
    bk_t *b = bk_new();
    rec_t a, c;
    rec_init(&a);
    rec_init(&c);
    a.sub.wake = rec_wake;
    c.sub.wake = rec_wake;
    bk_join(b, &a.sub, "job:1", NULL, NULL);
    bk_join(b, &c.sub, "queue:http", NULL, NULL);
    msg_t *m1 = mk(MSG_JOB, 0, 10, 0, NULL), *m2 = mk(MSG_JOB, 0, 11, 0, NULL);
    bk_pub_t pubs[3] = {
        {.msg = m1, .rooms = {"job:1", "queue:http"}, .nrooms = 2},
        {.msg = NULL, .stream = 0, .id = {12, 0}}, /* a skipped entry */
        {.msg = m2, .rooms = {"job:1", "queue:http"}, .nrooms = 2},
    };
    ck_assert_int_eq(bk_publish_batch(b, pubs, 3), 4);
    ck_assert_int_eq(a.got, 2);
    ck_assert_int_eq(a.woken, 1);
    ck_assert_int_eq(a.got_at_wake, 2); /* woken after the whole batch */
    ck_assert_int_eq(c.woken, 1);
    cur_t pos;
    bk_join(b, &a.sub, "job:1", NULL, &pos); /* re-join: same membership, fresh positions */
    ck_assert_uint_eq(pos.pos[0].ms, 11);    /* the last step's position, not the skipped 12 */
    ck_assert_int_eq(bk_publish(b, m1, (const char *[]){"job:1"}, 1), 1);
    ck_assert_int_eq(a.woken, 2);
    ck_assert_int_eq(c.woken, 1);
    bk_leave_all(b, &a.sub);
    bk_leave_all(b, &c.sub);
    msg_unref(m1);
    msg_unref(m2);
    bk_free(b);
}
END_TEST

Suite *broker_suite(void)
{
    Suite *s = suite_create("broker");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, join_publish_leave);
    tcase_add_test(tc, once_per_subscriber_across_rooms);
    tcase_add_test(tc, filters);
    tcase_add_test(tc, positions_at_join);
    tcase_add_test(tc, many_rooms_rehash_and_limit);
    tcase_add_test(tc, concurrent_churn);
    tcase_add_test(tc, batch_wakes_once_and_keeps_positions_in_order);
    suite_add_tcase(s, tc);
    return s;
}
