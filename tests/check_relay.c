/* check_relay.c - unit tests for relay.c: client room names against client_rooms, the relay
 * allow-list, and the token bucket driven with explicit times (no sleeps): burst, exact refill,
 * waits, clocks that go backwards, long idle periods, every rate unit. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "dg.h"
#include "relay.h"
#include "route.h"

static cfg_t cfg_with(const char *rooms, const char *events)
{
    cfg_t c;
    char err[256];
    cfg_defaults(&c);
    ck_assert_msg(cfg_set(&c, "client_rooms", rooms, "t", err, sizeof(err)) == DG_OK, "%s", err);
    ck_assert_msg(cfg_set(&c, "relay_events", events, "t", err, sizeof(err)) == DG_OK, "%s", err);
    return c;
}

#define TYPE(c, r) relay_room_type(&(c), r, strlen(r))

START_TEST(test_room_type)
{
    cfg_t c = cfg_with("project,chat", "typing,stop_typing");
    ck_assert_int_eq(TYPE(c, "project:7"), 0);
    ck_assert_int_eq(TYPE(c, "chat:general"), 1);
    ck_assert_int_eq(TYPE(c, "chat:a:b"), 1); /* the id may hold ':' */
    ck_assert_int_eq(TYPE(c, "projects:7"), DG_ENOTFOUND);
    ck_assert_int_eq(TYPE(c, "Project:7"), DG_ENOTFOUND);
    ck_assert_int_eq(TYPE(c, "user:7"), DG_ENOTFOUND);
    ck_assert_int_eq(TYPE(c, ":7"), DG_ENOTFOUND);
    ck_assert_int_eq(TYPE(c, "project"), DG_EINVAL);
    ck_assert_int_eq(TYPE(c, "project:"), DG_EINVAL);
    ck_assert_int_eq(TYPE(c, "project:a b"), DG_EINVAL);
    ck_assert_int_eq(TYPE(c, "project:a\tb"), DG_EINVAL);
    ck_assert_int_eq(TYPE(c, "project:caf\xc3\xa9"), DG_EINVAL);
    ck_assert_int_eq(relay_room_type(&c, NULL, 0), DG_EINVAL);
    /* Ids up to max_id_len, and the whole room under ROUTE_ROOM_MAX. */
    char room[600];
    c.max_id_len = 10;
    snprintf(room, sizeof(room), "chat:0123456789");
    ck_assert_int_eq(TYPE(c, room), 1);
    snprintf(room, sizeof(room), "chat:0123456789a");
    ck_assert_int_eq(TYPE(c, room), DG_EINVAL);
    c.max_id_len = 8192;
    memset(room, 'x', sizeof(room));
    memcpy(room, "chat:", 5);
    room[ROUTE_ROOM_MAX - 1] = '\0';
    ck_assert_int_eq(TYPE(c, room), 1);
    room[ROUTE_ROOM_MAX - 1] = 'x';
    room[ROUTE_ROOM_MAX] = '\0';
    ck_assert_int_eq(TYPE(c, room), DG_EINVAL);
    /* Only len bytes are read. */
    ck_assert_int_eq(relay_room_type(&c, "chat:1XYZ", 6), 1);
    /* Client rooms off. */
    cfg_t off = cfg_with("", "");
    ck_assert_int_eq(TYPE(off, "project:7"), DG_ENOTFOUND);
}
END_TEST

START_TEST(test_events)
{
    cfg_t c = cfg_with("chat", "typing,stop_typing");
    ck_assert_int_eq(relay_event_allowed(&c, "typing", 6), 1);
    ck_assert_int_eq(relay_event_allowed(&c, "stop_typing", 11), 1);
    ck_assert_int_eq(relay_event_allowed(&c, "typingX", 6), 1);
    ck_assert_int_eq(relay_event_allowed(&c, "typin", 5), 0);
    ck_assert_int_eq(relay_event_allowed(&c, "Typing", 6), 0);
    ck_assert_int_eq(relay_event_allowed(&c, "", 0), 0);
    ck_assert_int_eq(relay_event_allowed(&c, NULL, 0), 0);
    cfg_t off = cfg_with("chat", "");
    ck_assert_int_eq(relay_event_allowed(&off, "typing", 6), 0);
}
END_TEST

START_TEST(test_bucket_default)
{
    cfg_t c;
    cfg_defaults(&c);
    relay_limit_t l = relay_limit_of(&c); /* 10/s, burst 20 */
    ck_assert_int_eq(l.count, 10);
    ck_assert_int_eq(l.per_ms, 1000);
    ck_assert_int_eq(l.burst, 20);
    relay_bucket_t b;
    long long t = 5000;
    relay_bucket_init(&b, &l, t);
    for (int i = 0; i < 20; i++)
        ck_assert_msg(relay_bucket_take(&b, &l, t), "take %d", i);
    ck_assert_int_eq(relay_bucket_take(&b, &l, t), 0);
    ck_assert_int_eq(relay_bucket_wait_ms(&b, &l, t), 100);
    ck_assert_int_eq(relay_bucket_wait_ms(&b, &l, t + 37), 63);
    /* One token per 100 ms, exactly. */
    ck_assert_int_eq(relay_bucket_take(&b, &l, t + 99), 0);
    ck_assert_int_eq(relay_bucket_take(&b, &l, t + 100), 1);
    ck_assert_int_eq(relay_bucket_take(&b, &l, t + 100), 0);
    ck_assert_int_eq(relay_bucket_take(&b, &l, t + 150), 0);
    ck_assert_int_eq(relay_bucket_take(&b, &l, t + 200), 1);
    /* Sustained: over 10 s at one event per ms, exactly 100 get through. */
    int ok = 0;
    for (long long ms = t + 201; ms <= t + 10200; ms++)
        ok += relay_bucket_take(&b, &l, ms);
    ck_assert_int_eq(ok, 100);
    /* A clock that steps back adds nothing, and time then resumes from the later point. */
    relay_bucket_init(&b, &l, t);
    for (int i = 0; i < 20; i++)
        relay_bucket_take(&b, &l, t);
    ck_assert_int_eq(relay_bucket_take(&b, &l, t - 100000), 0);
    ck_assert_int_eq(relay_bucket_take(&b, &l, t + 99), 0);
    ck_assert_int_eq(relay_bucket_take(&b, &l, t + 100), 1);
    /* A long idle period refills to the burst, not beyond, without overflowing. */
    long long far = LLONG_MAX / 2;
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(relay_bucket_take(&b, &l, far), 1);
    ck_assert_int_eq(relay_bucket_take(&b, &l, far), 0);
    ck_assert_int_eq(relay_bucket_wait_ms(&b, &l, far), 100);
}
END_TEST

START_TEST(test_bucket_units)
{
    static const struct {
        const char *rate;
        const char *burst;
        long long interval; /* ms per token */
    } cases[] = {
        {"1/s", "1", 1000},    {"3/s", "2", 334},         {"600/m", "5", 100},
        {"1/h", "1", 3600000}, {"100000/s", "100000", 1},
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(cases); i++) {
        cfg_t c;
        char err[128];
        cfg_defaults(&c);
        ck_assert_int_eq(cfg_set(&c, "relay_rate", cases[i].rate, "t", err, sizeof(err)), DG_OK);
        ck_assert_int_eq(cfg_set(&c, "relay_burst", cases[i].burst, "t", err, sizeof(err)), DG_OK);
        relay_limit_t l = relay_limit_of(&c);
        relay_bucket_t b;
        relay_bucket_init(&b, &l, 0);
        for (int k = 0; k < l.burst; k++)
            ck_assert_int_eq(relay_bucket_take(&b, &l, 0), 1);
        ck_assert_int_eq(relay_bucket_take(&b, &l, 0), 0);
        long long w = relay_bucket_wait_ms(&b, &l, 0);
        ck_assert_msg(w == cases[i].interval, "%s: wait %lld", cases[i].rate, w);
        ck_assert_int_eq(relay_bucket_take(&b, &l, w - 1), 0);
        ck_assert_int_eq(relay_bucket_take(&b, &l, w), 1);
    }
}
END_TEST

Suite *relay_suite(void)
{
    Suite *s = suite_create("relay");
    TCase *t = tcase_create("relay");
    tcase_add_test(t, test_room_type);
    tcase_add_test(t, test_events);
    tcase_add_test(t, test_bucket_default);
    tcase_add_test(t, test_bucket_units);
    suite_add_tcase(s, t);
    return s;
}
