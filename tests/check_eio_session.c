/* check_eio_session.c - the Engine.IO session state machine: handshake deadlines, heartbeat
 * (ping, pong, ping timeout, refresh, late timers), connect timeout, close packets, held
 * polling requests and overlaps, and the polling -> websocket upgrade with its timeout. */
#include <check.h>
#include <string.h>

#include "dg.h"
#include "eio_session.h"

static const eio_sess_cfg_t CFG = {300, 200, 1000, 10000};

static void open_at(eio_sess_t *s, int transport, int64_t now)
{
    eio_sess_init(s, transport, &CFG, now);
}

static int pkt(eio_sess_t *s, int type, const char *data, int64_t now)
{
    return eio_sess_packet(s, type, data, data ? strlen(data) : 0, now);
}

START_TEST(handshake_deadlines)
{
    eio_sess_t s;
    open_at(&s, EIO_TRANSPORT_POLLING, 1000);
    ck_assert_int_eq(s.transport, EIO_TRANSPORT_POLLING);
    ck_assert_int_eq(s.upgrade, EIO_UPG_NONE);
    ck_assert(!eio_sess_closed(&s));
    ck_assert_int_eq(eio_sess_deadline(&s), 1300); /* first ping before the connect deadline */
    ck_assert_int_eq(eio_sess_timer(&s, 1299), EIO_ACT_RESCHEDULE);
    ck_assert_int_eq(eio_sess_deadline(&s), 1300);

    /* plain Engine.IO: no connect deadline at all */
    eio_sess_cfg_t c = CFG;
    c.connect_timeout_ms = 0;
    eio_sess_init(&s, EIO_TRANSPORT_WEBSOCKET, &c, 0);
    ck_assert_int_eq(s.connect_deadline, -1);
    ck_assert_int_eq(eio_sess_deadline(&s), 300);
}
END_TEST

START_TEST(heartbeat_ping_pong)
{
    eio_sess_t s;
    open_at(&s, EIO_TRANSPORT_WEBSOCKET, 0);
    eio_sess_app_connected(&s);
    for (int i = 0; i < 3; i++) {
        int64_t due = eio_sess_deadline(&s);
        ck_assert_int_eq(eio_sess_timer(&s, due), EIO_ACT_PING | EIO_ACT_RESCHEDULE);
        ck_assert_int_eq(eio_sess_deadline(&s), due + 200); /* pong expected */
        ck_assert_int_eq(pkt(&s, EIO_PONG, NULL, due + 50), EIO_ACT_RESCHEDULE);
        ck_assert_int_eq(eio_sess_deadline(&s), due + 50 + 300); /* next ping from the pong */
    }
    ck_assert(!eio_sess_closed(&s));
}
END_TEST

START_TEST(heartbeat_timeout)
{
    eio_sess_t s;
    open_at(&s, EIO_TRANSPORT_POLLING, 0);
    ck_assert_int_eq(eio_sess_timer(&s, 300) & EIO_ACT_PING, EIO_ACT_PING);
    ck_assert_int_eq(eio_sess_timer(&s, 499), EIO_ACT_RESCHEDULE);
    ck_assert_int_eq(eio_sess_timer(&s, 500), EIO_ACT_CLOSE);
    ck_assert(eio_sess_closed(&s));
    ck_assert_int_eq(s.reason, EIO_REASON_PING_TIMEOUT);
    ck_assert_int_eq(eio_sess_deadline(&s), -1);
    ck_assert_int_eq(eio_sess_timer(&s, 10000), 0);
    ck_assert_int_eq(pkt(&s, EIO_PONG, NULL, 501), 0); /* too late */
    ck_assert_str_eq(eio_sess_reason_name(s.reason), "ping_timeout");
}
END_TEST

START_TEST(heartbeat_late_timer_and_refresh)
{
    eio_sess_t s;
    open_at(&s, EIO_TRANSPORT_WEBSOCKET, 0);
    /* the ping timer fires 10 ms late: the pong is still due at ping time + timeout */
    eio_sess_timer(&s, 310);
    ck_assert_int_eq(s.pong_deadline, 500);
    /* ... but a very late timer leaves at least half of pingTimeout */
    eio_sess_t t;
    open_at(&t, EIO_TRANSPORT_WEBSOCKET, 0);
    eio_sess_timer(&t, 450);
    ck_assert_int_eq(t.pong_deadline, 550);
    /* other traffic while a pong is awaited refreshes the timeout once */
    ck_assert_int_eq(pkt(&s, EIO_MESSAGE, "x", 400), EIO_ACT_DELIVER | EIO_ACT_RESCHEDULE);
    ck_assert_int_eq(s.pong_deadline, 600);
    ck_assert_int_eq(pkt(&s, EIO_MESSAGE, "x", 450), EIO_ACT_DELIVER);
    ck_assert_int_eq(s.pong_deadline, 600);
    ck_assert_int_eq(eio_sess_timer(&s, 600), EIO_ACT_CLOSE);
    ck_assert_int_eq(s.reason, EIO_REASON_PING_TIMEOUT);
}
END_TEST

START_TEST(connect_timeout)
{
    eio_sess_t s;
    open_at(&s, EIO_TRANSPORT_WEBSOCKET, 0);
    int64_t now = 0;
    /* the client answers every ping but never connects a namespace */
    while (!eio_sess_closed(&s)) {
        now = eio_sess_deadline(&s);
        int act = eio_sess_timer(&s, now);
        if (act & EIO_ACT_PING)
            pkt(&s, EIO_PONG, NULL, now + 1);
    }
    ck_assert_int_eq(now, 1000);
    ck_assert_int_eq(s.reason, EIO_REASON_CONNECT_TIMEOUT);
    /* once connected, the deadline is gone */
    open_at(&s, EIO_TRANSPORT_WEBSOCKET, 0);
    eio_sess_app_connected(&s);
    ck_assert_int_eq(s.connect_deadline, -1);
    ck_assert_int_eq(eio_sess_timer(&s, 1000), EIO_ACT_PING | EIO_ACT_RESCHEDULE);
    ck_assert(!eio_sess_closed(&s));
}
END_TEST

START_TEST(client_packets)
{
    eio_sess_t s;
    open_at(&s, EIO_TRANSPORT_WEBSOCKET, 0);
    ck_assert_int_eq(pkt(&s, EIO_MESSAGE, "hello", 1), EIO_ACT_DELIVER);
    ck_assert_int_eq(pkt(&s, EIO_NOOP, NULL, 1), 0);
    ck_assert_int_eq(pkt(&s, EIO_UPGRADE, NULL, 1), 0);
    ck_assert_int_eq(pkt(&s, EIO_OPEN, NULL, 1), 0);
    ck_assert(!eio_sess_closed(&s));
    /* v4: the client must not ping */
    ck_assert_int_eq(pkt(&s, EIO_PING, NULL, 2), EIO_ACT_CLOSE);
    ck_assert_int_eq(s.reason, EIO_REASON_PROTOCOL);
    ck_assert_int_eq(pkt(&s, EIO_MESSAGE, "late", 3), 0);
    /* a close packet */
    open_at(&s, EIO_TRANSPORT_POLLING, 0);
    ck_assert_int_eq(eio_sess_get_begin(&s), EIO_ERR_NONE);
    ck_assert_int_eq(pkt(&s, EIO_CLOSE, NULL, 5), EIO_ACT_CLOSE | EIO_ACT_RELEASE_GET);
    ck_assert_int_eq(s.reason, EIO_REASON_CLIENT);
    ck_assert_int_eq(eio_sess_get_reply(&s, 0), EIO_GET_NOOP); /* the held GET answers "6" */
    /* a second close is a no-op, the first reason stays */
    ck_assert_int_eq(eio_sess_close(&s, EIO_REASON_SERVER), 0);
    ck_assert_int_eq(s.reason, EIO_REASON_CLIENT);
}
END_TEST

START_TEST(polling_requests)
{
    eio_sess_t s;
    open_at(&s, EIO_TRANSPORT_POLLING, 0);
    ck_assert_int_eq(eio_sess_get_begin(&s), EIO_ERR_NONE);
    ck_assert_int_eq(eio_sess_get_reply(&s, 0), EIO_GET_WAIT);
    ck_assert_int_eq(eio_sess_get_reply(&s, 1), EIO_GET_QUEUED);
    eio_sess_get_end(&s);
    ck_assert_int_eq(eio_sess_post_begin(&s), EIO_ERR_NONE);
    eio_sess_post_end(&s);
    /* a GET and a POST at once are fine */
    ck_assert_int_eq(eio_sess_get_begin(&s), EIO_ERR_NONE);
    ck_assert_int_eq(eio_sess_post_begin(&s), EIO_ERR_NONE);
    eio_sess_post_end(&s);
    /* a second GET while one is held: refused, and the session is closed */
    ck_assert_int_eq(eio_sess_get_begin(&s), EIO_ERR_BAD_REQUEST);
    ck_assert(eio_sess_closed(&s));
    ck_assert_int_eq(s.reason, EIO_REASON_OVERLAP);
    ck_assert_int_eq(eio_sess_get_reply(&s, 1), EIO_GET_CLOSE); /* the held one answers "1" */
    eio_sess_get_end(&s);
    ck_assert_int_eq(eio_sess_get_begin(&s), EIO_ERR_UNKNOWN_SID);
    ck_assert_int_eq(eio_sess_post_begin(&s), EIO_ERR_UNKNOWN_SID);
    /* POST overlap */
    open_at(&s, EIO_TRANSPORT_POLLING, 0);
    ck_assert_int_eq(eio_sess_post_begin(&s), EIO_ERR_NONE);
    ck_assert_int_eq(eio_sess_post_begin(&s), EIO_ERR_BAD_REQUEST);
    ck_assert_int_eq(s.reason, EIO_REASON_OVERLAP);
    /* server-side close with a held GET */
    open_at(&s, EIO_TRANSPORT_POLLING, 0);
    eio_sess_get_begin(&s);
    ck_assert_int_eq(eio_sess_close(&s, EIO_REASON_SLOW), EIO_ACT_CLOSE | EIO_ACT_RELEASE_GET);
    ck_assert_int_eq(eio_sess_get_reply(&s, 0), EIO_GET_CLOSE);
    /* websocket sessions take no polling requests */
    open_at(&s, EIO_TRANSPORT_WEBSOCKET, 0);
    ck_assert_int_eq(eio_sess_get_begin(&s), EIO_ERR_BAD_REQUEST);
    ck_assert_int_eq(eio_sess_post_begin(&s), EIO_ERR_BAD_REQUEST);
    ck_assert(!eio_sess_closed(&s));
}
END_TEST

START_TEST(upgrade_sequence)
{
    eio_sess_t s;
    open_at(&s, EIO_TRANSPORT_POLLING, 0);
    ck_assert_int_eq(eio_sess_get_begin(&s), EIO_ERR_NONE); /* a GET is held */
    ck_assert_int_eq(eio_sess_probe_attach(&s, 10), EIO_ERR_NONE);
    ck_assert_int_eq(s.upgrade, EIO_UPG_PROBING);
    ck_assert_int_eq(s.upgrade_deadline, 10010);
    ck_assert_int_eq(eio_sess_probe_attach(&s, 11), EIO_ERR_BAD_REQUEST); /* one at a time */
    ck_assert_int_eq(eio_sess_get_reply(&s, 0), EIO_GET_WAIT);
    /* 2probe: answer 3probe, release the held GET with a noop */
    ck_assert_int_eq(eio_sess_probe_packet(&s, EIO_PING, "probe", 5, 20),
                     EIO_ACT_PROBE_PONG | EIO_ACT_RELEASE_GET);
    ck_assert_int_eq(s.upgrade, EIO_UPG_PROBED);
    ck_assert_int_eq(eio_sess_get_reply(&s, 0), EIO_GET_NOOP);
    ck_assert_int_eq(eio_sess_get_reply(&s, 1), EIO_GET_QUEUED); /* queued packets still drain */
    eio_sess_get_end(&s);
    /* a GET during the probe is answered at once too */
    ck_assert_int_eq(eio_sess_get_begin(&s), EIO_ERR_NONE);
    ck_assert_int_eq(eio_sess_get_reply(&s, 0), EIO_GET_NOOP);
    eio_sess_get_end(&s);
    /* 5: the websocket is the transport now */
    ck_assert_int_eq(eio_sess_probe_packet(&s, EIO_UPGRADE, NULL, 0, 30),
                     EIO_ACT_UPGRADED | EIO_ACT_RESCHEDULE);
    ck_assert_int_eq(s.transport, EIO_TRANSPORT_WEBSOCKET);
    ck_assert_int_eq(s.upgrade, EIO_UPG_NONE);
    ck_assert_int_eq(s.upgrade_deadline, -1);
    /* polling with that sid is refused without closing the session; no second upgrade */
    ck_assert_int_eq(eio_sess_get_begin(&s), EIO_ERR_BAD_REQUEST);
    ck_assert(!eio_sess_closed(&s));
    ck_assert_int_eq(eio_sess_probe_attach(&s, 40), EIO_ERR_BAD_REQUEST);
    /* heartbeats go on over the websocket */
    ck_assert_int_eq(eio_sess_timer(&s, 300) & EIO_ACT_PING, EIO_ACT_PING);
}
END_TEST

START_TEST(upgrade_with_held_get_released_by_5)
{
    eio_sess_t s;
    open_at(&s, EIO_TRANSPORT_POLLING, 0);
    eio_sess_probe_attach(&s, 0);
    eio_sess_probe_packet(&s, EIO_PING, "probe", 5, 1);
    ck_assert_int_eq(eio_sess_get_begin(&s), EIO_ERR_NONE);
    ck_assert_int_eq(eio_sess_probe_packet(&s, EIO_UPGRADE, NULL, 0, 2),
                     EIO_ACT_UPGRADED | EIO_ACT_RESCHEDULE | EIO_ACT_RELEASE_GET);
    ck_assert_int_eq(eio_sess_get_reply(&s, 1), EIO_GET_NOOP); /* the rest goes over ws */
}
END_TEST

START_TEST(upgrade_failures)
{
    eio_sess_t s;
    /* timeout */
    open_at(&s, EIO_TRANSPORT_POLLING, 0);
    eio_sess_app_connected(&s);
    eio_sess_probe_attach(&s, 0);
    int64_t now = 0;
    int act = 0;
    while (!(act & EIO_ACT_DROP_PROBE)) {
        now = eio_sess_deadline(&s);
        act = eio_sess_timer(&s, now);
        if (act & EIO_ACT_PING)
            pkt(&s, EIO_PONG, NULL, now);
    }
    ck_assert_int_eq(now, 10000);
    ck_assert_int_eq(s.upgrade, EIO_UPG_NONE);
    ck_assert_int_eq(s.transport, EIO_TRANSPORT_POLLING);
    ck_assert(!eio_sess_closed(&s));
    ck_assert_int_eq(eio_sess_probe_packet(&s, EIO_UPGRADE, NULL, 0, now + 1), 0); /* too late */
    /* anything but 2probe / 5 drops the probe */
    open_at(&s, EIO_TRANSPORT_POLLING, 0);
    eio_sess_probe_attach(&s, 0);
    ck_assert_int_eq(eio_sess_probe_packet(&s, EIO_MESSAGE, "x", 1, 1),
                     EIO_ACT_DROP_PROBE | EIO_ACT_RESCHEDULE);
    ck_assert_int_eq(s.upgrade, EIO_UPG_NONE);
    ck_assert_int_eq(eio_sess_probe_attach(&s, 2), EIO_ERR_NONE); /* may try again */
    ck_assert_int_eq(eio_sess_probe_packet(&s, EIO_PING, "prob", 4, 3),
                     EIO_ACT_DROP_PROBE | EIO_ACT_RESCHEDULE);
    /* the probing socket went away */
    eio_sess_probe_attach(&s, 4);
    eio_sess_probe_detach(&s);
    ck_assert_int_eq(s.upgrade, EIO_UPG_NONE);
    ck_assert_int_eq(s.upgrade_deadline, -1);
    /* closed sessions and websocket sessions cannot be probed */
    eio_sess_close(&s, EIO_REASON_SERVER);
    ck_assert_int_eq(eio_sess_probe_attach(&s, 5), EIO_ERR_UNKNOWN_SID);
    open_at(&s, EIO_TRANSPORT_WEBSOCKET, 0);
    ck_assert_int_eq(eio_sess_probe_attach(&s, 5), EIO_ERR_BAD_REQUEST);
    ck_assert_int_eq(eio_sess_probe_packet(&s, EIO_PING, "probe", 5, 6), 0);
}
END_TEST

START_TEST(reason_names)
{
    for (int r = 0; r < EIO_REASON_COUNT; r++)
        ck_assert_ptr_nonnull(eio_sess_reason_name(r));
    ck_assert_str_eq(eio_sess_reason_name(EIO_REASON_SLOW), "slow_consumer");
    ck_assert_str_eq(eio_sess_reason_name(EIO_REASON_COUNT), "unknown");
    ck_assert_str_eq(eio_sess_reason_name(-1), "unknown");
}
END_TEST

Suite *eio_session_suite(void)
{
    Suite *s = suite_create("eio_session");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, handshake_deadlines);
    tcase_add_test(tc, heartbeat_ping_pong);
    tcase_add_test(tc, heartbeat_timeout);
    tcase_add_test(tc, heartbeat_late_timer_and_refresh);
    tcase_add_test(tc, connect_timeout);
    tcase_add_test(tc, client_packets);
    tcase_add_test(tc, polling_requests);
    tcase_add_test(tc, upgrade_sequence);
    tcase_add_test(tc, upgrade_with_held_get_released_by_5);
    tcase_add_test(tc, upgrade_failures);
    tcase_add_test(tc, reason_names);
    suite_add_tcase(s, tc);
    return s;
}
