/* check_sio_app.c - dualgate's Socket.IO namespaces against recording ops: CONNECT answers
 * and unknown namespaces, subscriptions with acks and validation, DISCONNECT, /logs entries,
 * the conformance echo with binary attachments, protocol violations, and what recovery, late
 * subscribers and all-jobs ask of the session. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "dg.h"
#include "eio.h"
#include "sio_app.h"

#define MAXREC 32

typedef struct rec {
    char sent[MAXREC][512];
    size_t sent_len[MAXREC];
    int sent_bin[MAXREC];
    int nsent;
    char joins[MAXREC][128];
    bk_filter_t filters[MAXREC];
    int njoins;
    char leaves[MAXREC][128];
    int nleaves;
    int leave_alls;
    char logs[MAXREC][512];
    int log_level[MAXREC];
    char log_ns[MAXREC][64];
    int nlogs;
    int publish_rc;
    int join_rc;
} rec_t;

static int r_send(void *ud, const char *pkt, size_t len, int binary)
{
    rec_t *r = ud;
    ck_assert_int_lt(r->nsent, MAXREC);
    ck_assert_uint_lt(len, sizeof(r->sent[0]));
    memcpy(r->sent[r->nsent], pkt, len);
    r->sent[r->nsent][len] = '\0';
    r->sent_len[r->nsent] = len;
    r->sent_bin[r->nsent++] = binary;
    return 0;
}

static int r_join(void *ud, const char *room, const bk_filter_t *f)
{
    rec_t *r = ud;
    snprintf(r->joins[r->njoins], sizeof(r->joins[0]), "%s", room);
    r->filters[r->njoins++] = f ? *f : (bk_filter_t){0};
    return r->join_rc;
}

static int r_leave(void *ud, const char *room)
{
    rec_t *r = ud;
    snprintf(r->leaves[r->nleaves++], sizeof(r->leaves[0]), "%s", room);
    return 0;
}

static void r_leave_all(void *ud)
{
    ((rec_t *)ud)->leave_alls++;
}

static int r_publish(void *ud, int level, const char *ns, const char *json, size_t len)
{
    rec_t *r = ud;
    snprintf(r->logs[r->nlogs], sizeof(r->logs[0]), "%.*s", (int)len, json);
    snprintf(r->log_ns[r->nlogs], sizeof(r->log_ns[0]), "%s", ns);
    r->log_level[r->nlogs++] = level;
    return r->publish_rc;
}

static cfg_t cfg;
static rec_t rec;
static sio_app_stats_t stats;
static sio_app_t app;

static void setup_mode(int conformance)
{
    cfg_defaults(&cfg);
    cfg.conformance = conformance;
    cfg.connected_event = 0; /* these cases check the Node original's bytes; see connected_ping */
    memset(&rec, 0, sizeof(rec));
    memset(&stats, 0, sizeof(stats));
    sio_app_ops_t ops = {.ud = &rec, .send = r_send, .join = r_join, .leave = r_leave,
                         .leave_all = r_leave_all, .publish_log = r_publish};
    sio_app_init(&app, &cfg, &ops, &stats);
}

static void setup(void)
{
    setup_mode(0);
}

static void teardown_app(void)
{
    sio_app_free(&app);
}

/* Feeds the data of one Engine.IO text message (without the leading '4'). */
static int msg(const char *s)
{
    return sio_app_message(&app, s, strlen(s), 0);
}

static int bin(const void *p, size_t n)
{
    return sio_app_message(&app, p, n, 1);
}

/* Asserts that sent packet i is prefix followed by {"sid":"<20 url-safe chars>"}. */
static void assert_connect_answer(int i, const char *prefix)
{
    const char *p = rec.sent[i];
    size_t n = strlen(prefix);
    ck_assert_int_eq(strncmp(p, prefix, n), 0);
    ck_assert_int_eq(strncmp(p + n, "{\"sid\":\"", 8), 0);
    for (int k = 0; k < 20; k++) {
        char c = p[n + 8 + k];
        ck_assert(c == '-' || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9'));
    }
    ck_assert_str_eq(p + n + 28, "\"}");
}

START_TEST(connect_namespaces)
{
    ck_assert(!sio_app_connected(&app));
    ck_assert_int_eq(msg("0"), 0);
    ck_assert_int_eq(rec.nsent, 1);
    assert_connect_answer(0, "40");
    ck_assert_uint_eq(app.nsps, SIO_APP_NSP_MAIN);
    ck_assert(sio_app_connected(&app));
    ck_assert_int_eq(msg("0/logs,"), 0);
    assert_connect_answer(1, "40/logs,");
    ck_assert_int_eq(rec.njoins, 1);
    ck_assert_str_eq(rec.joins[0], "logs");
    /* two connects give two different socket ids */
    ck_assert_str_ne(rec.sent[0] + 2, rec.sent[1] + 8);
    /* unknown namespaces: an answer, no error; /custom only exists in conformance mode */
    ck_assert_int_eq(msg("0/nope,"), 0);
    ck_assert_str_eq(rec.sent[2], "44/nope,{\"message\":\"Invalid namespace\"}");
    ck_assert_int_eq(msg("0/custom"), 0);
    ck_assert_str_eq(rec.sent[3], "44/custom,{\"message\":\"Invalid namespace\"}");
    ck_assert_uint_eq(atomic_load(&stats.invalid_nsp), 2);
    ck_assert_uint_eq(atomic_load(&stats.connects), 2);
    /* connecting twice is a protocol error (Socket.IO closes such a client) */
    ck_assert_int_eq(msg("0"), DG_EPROTO);
    ck_assert_str_ne(sio_app_errstr(&app), "");
    ck_assert_uint_eq(atomic_load(&stats.protocol_errors), 1);
}
END_TEST

START_TEST(packets_for_namespaces_not_connected)
{
    ck_assert_int_eq(msg("2[\"subscribe-job\",\"1\"]"), DG_EPROTO);
    ck_assert_int_eq(msg("1"), DG_EPROTO);
    ck_assert_int_eq(msg("0"), 0);
    ck_assert_int_eq(msg("2/logs,[\"log\",{}]"), DG_EPROTO);
    ck_assert_int_eq(msg("1/logs,"), DG_EPROTO);
    ck_assert_int_eq(msg("4{\"message\":\"x\"}"), DG_EPROTO); /* CONNECT_ERROR from a client */
    ck_assert_int_eq(msg("2/nope,[\"x\"]"), DG_EPROTO);
    ck_assert_int_eq(msg("3[1]"), 0); /* a stray ACK is ignored */
    ck_assert_int_eq(rec.njoins, 0);
}
END_TEST

START_TEST(malformed)
{
    static const char *const bad[] = {"",     "abc",      "2{}", "2abc[\"x\"]",
                                      "0[1]", "1{}",      "7",   "2[\"connect\"]",
                                      "2[1]", "5[\"x\"]", "51-", "2[\"x\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        teardown_app();
        setup();
        ck_assert_int_eq(msg("0"), 0);
        int rc = msg(bad[i]);
        ck_assert_msg(rc == DG_EPROTO || rc == DG_ELIMIT, "%s gave %d", bad[i], rc);
    }
}
END_TEST

START_TEST(subscriptions_with_acks)
{
    ck_assert_int_eq(msg("0"), 0);
    rec.nsent = 0;
    ck_assert_int_eq(msg("21[\"subscribe-job\",\"42\"]"), 0);
    ck_assert_str_eq(rec.joins[0], "job:42");
    ck_assert_uint_eq(rec.filters[0].streams, 0);
    ck_assert_str_eq(rec.sent[0], "431[{\"success\":true,\"room\":\"job:42\"}]");
    ck_assert_int_eq(msg("22[\"subscribe-job\",{\"jobId\":7,\"queue\":\"sparql\"}]"), 0);
    ck_assert_str_eq(rec.joins[1], "job:7");
    ck_assert_uint_eq(rec.filters[1].streams, 1u << 1);
    ck_assert_str_eq(rec.sent[1], "432[{\"success\":true,\"room\":\"job:7\"}]");
    ck_assert_int_eq(msg("23[\"subscribe-job\",12.0]"), 0);
    ck_assert_str_eq(rec.joins[2], "job:12");
    ck_assert_int_eq(msg("24[\"subscribe-job\",\"a\\\"b\\u00e9\"]"), 0);
    ck_assert_str_eq(rec.joins[3], "job:a\"b\xc3\xa9");
    ck_assert_str_eq(rec.sent[3], "434[{\"success\":true,\"room\":\"job:a\\\"b\xc3\xa9\"}]");
    ck_assert_int_eq(msg("25[\"subscribe-queue\",\"analyzer\"]"), 0);
    ck_assert_str_eq(rec.joins[4], "queue:analyzer");
    ck_assert_str_eq(rec.sent[4], "435[{\"success\":true,\"room\":\"queue:analyzer\"}]");
    /* without an ack id nothing is sent back */
    ck_assert_int_eq(msg("2[\"subscribe-job\",\"silent\"]"), 0);
    ck_assert_str_eq(rec.joins[5], "job:silent");
    ck_assert_int_eq(rec.nsent, 5);
    /* leaving */
    ck_assert_int_eq(msg("26[\"unsubscribe-job\",\"42\"]"), 0);
    ck_assert_str_eq(rec.leaves[0], "job:42");
    ck_assert_str_eq(rec.sent[5], "436[{\"success\":true,\"room\":\"job:42\"}]");
    ck_assert_int_eq(msg("2[\"unsubscribe-queue\",{\"queue\":\"analyzer\"}]"), 0);
    ck_assert_str_eq(rec.leaves[1], "queue:analyzer");
    ck_assert_uint_eq(atomic_load(&stats.subscribes), 8);
    /* events we do not know are ignored; conformance events too outside that mode */
    ck_assert_int_eq(msg("27[\"whatever\",1]"), 0);
    ck_assert_int_eq(msg("2[\"message\",1]"), 0);
    ck_assert_int_eq(rec.nsent, 6);
}
END_TEST

START_TEST(subscription_errors)
{
    static const struct {
        const char *in, *ack;
    } cases[] = {
        {"21[\"subscribe-job\"]", "431[{\"success\":false,\"error\":\"jobId is required\"}]"},
        {"21[\"subscribe-job\",\"\"]", "431[{\"success\":false,\"error\":\"id is empty\"}]"},
        {"21[\"subscribe-job\",\"a\\u0001\"]",
         "431[{\"success\":false,\"error\":\"id holds control characters\"}]"},
        {"21[\"subscribe-job\",\"a\\u0000b\"]",
         "431[{\"success\":false,\"error\":\"id holds control characters\"}]"},
        {"21[\"subscribe-job\",true]",
         "431[{\"success\":false,\"error\":\"id must be a string or a number\"}]"},
        {"21[\"subscribe-job\",1.5]",
         "431[{\"success\":false,\"error\":\"id must be a string or an integer\"}]"},
        {"21[\"subscribe-job\",{\"queue\":\"http\"}]",
         "431[{\"success\":false,\"error\":\"jobId is required\"}]"},
        {"21[\"subscribe-job\",{\"jobId\":\"1\",\"queue\":\"nope\"}]",
         "431[{\"success\":false,\"error\":\"unknown queue\"}]"},
        {"21[\"subscribe-job\",{\"jobId\":\"1\",\"queue\":3}]",
         "431[{\"success\":false,\"error\":\"queue must be a string\"}]"},
        {"21[\"subscribe-queue\",\"nope\"]",
         "431[{\"success\":false,\"error\":\"unknown queue\"}]"},
        {"21[\"subscribe-queue\"]", "431[{\"success\":false,\"error\":\"queue is required\"}]"},
    };
    ck_assert_int_eq(msg("0"), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rec.nsent = 0;
        ck_assert_int_eq(msg(cases[i].in), 0);
        ck_assert_int_eq(rec.nsent, 1);
        ck_assert_str_eq(rec.sent[0], cases[i].ack);
    }
    ck_assert_int_eq(rec.njoins, 0);
    /* max_id_len */
    cfg.max_id_len = 4;
    rec.nsent = 0;
    ck_assert_int_eq(msg("21[\"subscribe-job\",\"12345\"]"), 0);
    ck_assert_str_eq(rec.sent[0],
                     "431[{\"success\":false,\"error\":\"id is longer than max_id_len\"}]");
    ck_assert_int_eq(msg("21[\"subscribe-job\",12345]"), 0);
    ck_assert_str_eq(rec.sent[1],
                     "431[{\"success\":false,\"error\":\"id is longer than max_id_len\"}]");
    ck_assert_int_eq(msg("21[\"subscribe-job\",\"1234\"]"), 0);
    ck_assert_str_eq(rec.joins[0], "job:1234");
    /* the broker refusing */
    rec.join_rc = DG_ELIMIT;
    ck_assert_int_eq(msg("22[\"subscribe-job\",\"x\"]"), 0);
    ck_assert_str_eq(rec.sent[3], "432[{\"success\":false,\"error\":\"too many subscriptions\"}]");
    ck_assert_uint_eq(atomic_load(&stats.sub_errors), 14);
}
END_TEST

START_TEST(disconnect_leaves_rooms)
{
    ck_assert_int_eq(msg("0"), 0);
    ck_assert_int_eq(msg("0/logs,"), 0);
    ck_assert_int_eq(msg("2[\"subscribe-job\",\"1\"]"), 0);
    ck_assert_int_eq(msg("1"), 0);
    ck_assert_uint_eq(app.nsps, SIO_APP_NSP_LOGS);
    ck_assert_int_eq(rec.leave_alls, 1);
    ck_assert_str_eq(rec.joins[rec.njoins - 1], "logs"); /* /logs keeps its room */
    ck_assert_int_eq(msg("2[\"subscribe-job\",\"1\"]"), DG_EPROTO);
    ck_assert_int_eq(msg("1/logs,"), 0);
    ck_assert_str_eq(rec.leaves[0], "logs");
    ck_assert_uint_eq(app.nsps, 0);
    ck_assert(sio_app_connected(&app)); /* connected once: the connect timeout is over */
    /* and may connect again */
    ck_assert_int_eq(msg("0"), 0);
    ck_assert_uint_eq(app.nsps, SIO_APP_NSP_MAIN);
}
END_TEST

START_TEST(logs_from_clients)
{
    ck_assert_int_eq(msg("0/logs,"), 0);
    rec.nsent = 0;
    ck_assert_int_eq(msg("2/logs,3[\"log\",{\"ts\":\"2026-01-01T00:00:00.000Z\",\"level\":\"warn\","
                         "\"ns\":\"web\",\"msg\":\"hi\"}]"),
                     0);
    ck_assert_int_eq(rec.nlogs, 1);
    ck_assert_str_eq(
        rec.logs[0],
        "{\"ts\":\"2026-01-01T00:00:00.000Z\",\"level\":\"warn\",\"ns\":\"web\",\"msg\":\"hi\"}");
    ck_assert_str_eq(rec.log_ns[0], "web");
    ck_assert_int_eq(rec.log_level[0], CFG_LOG_WARN);
    ck_assert_str_eq(rec.sent[0], "43/logs,3[{\"success\":true}]");
    /* defaults: level info, ns client, ts now */
    ck_assert_int_eq(msg("2/logs,[\"log\",{\"msg\":\"x\"}]"), 0);
    ck_assert_int_eq(rec.log_level[1], CFG_LOG_INFO);
    ck_assert_str_eq(rec.log_ns[1], "client");
    ck_assert_int_eq(rec.nsent, 1);
    /* invalid: acked with the reason, or dropped and counted */
    ck_assert_int_eq(msg("2/logs,4[\"log\",{\"level\":\"loud\",\"msg\":\"x\"}]"), 0);
    ck_assert_int_eq(strncmp(rec.sent[1], "43/logs,4[{\"success\":false,\"error\":\"", 36), 0);
    ck_assert_int_eq(msg("2/logs,5[\"log\"]"), 0);
    ck_assert_int_eq(strncmp(rec.sent[2], "43/logs,5[{\"success\":false", 26), 0);
    ck_assert_int_eq(msg("2/logs,[\"log\",\"text\"]"), 0);
    ck_assert_int_eq(msg("2/logs,[\"log\",{\"ns\":\"no msg\"}]"), 0);
    ck_assert_int_eq(rec.nlogs, 2);
    ck_assert_uint_eq(atomic_load(&stats.logs_invalid), 4);
    /* over the size cap */
    size_t big = DEC_LOG_MAX + 100;
    char *p = malloc(big + 64);
    int n = snprintf(p, big + 64, "2/logs,6[\"log\",{\"msg\":\"");
    memset(p + n, 'x', big);
    memcpy(p + n + big, "\"}]", 4);
    ck_assert_int_eq(msg(p), 0);
    free(p);
    ck_assert_int_eq(rec.nlogs, 2);
    ck_assert_int_eq(strncmp(rec.sent[3], "43/logs,6[{\"success\":false", 26), 0);
    /* the log stream writer refusing */
    rec.publish_rc = DG_ELIMIT;
    ck_assert_int_eq(msg("2/logs,7[\"log\",{\"msg\":\"x\"}]"), 0);
    ck_assert_str_eq(
        rec.sent[4],
        "43/logs,7[{\"success\":false,\"error\":\"log stream unavailable, entry dropped\"}]");
    ck_assert_uint_eq(atomic_load(&stats.logs_accepted), 2);
    ck_assert_uint_eq(atomic_load(&stats.logs_rejected), 1);
    /* "log" means nothing on "/" */
    ck_assert_int_eq(msg("0"), 0);
    ck_assert_int_eq(msg("2[\"log\",{\"msg\":\"x\"}]"), 0);
    ck_assert_int_eq(rec.nlogs, 3);
}
END_TEST

START_TEST(conformance_echo)
{
    teardown_app();
    setup_mode(1);
    ck_assert_int_eq(msg("0{\"token\":\"123\"}"), 0);
    assert_connect_answer(0, "40");
    ck_assert_str_eq(rec.sent[1], "42[\"auth\",{\"token\":\"123\"}]");
    ck_assert_int_eq(msg("0/custom,"), 0);
    assert_connect_answer(2, "40/custom,");
    ck_assert_str_eq(rec.sent[3], "42/custom,[\"auth\",{}]");
    ck_assert_uint_eq(app.nsps, SIO_APP_NSP_MAIN | SIO_APP_NSP_CUSTOM);
    rec.nsent = 0;
    ck_assert_int_eq(msg("2[\"message\",1,\"2\",{\"3\":[true]}]"), 0);
    ck_assert_str_eq(rec.sent[0], "42[\"message-back\",1,\"2\",{\"3\":[true]}]");
    ck_assert_int_eq(msg("2456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]"), 0);
    ck_assert_str_eq(rec.sent[1], "43456[1,\"2\",{\"3\":[false]}]");
    ck_assert_int_eq(msg("2/custom,[\"message\"]"), 0);
    ck_assert_str_eq(rec.sent[2], "42/custom,[\"message-back\"]");
    ck_assert_int_eq(msg("2[\"message-with-ack\",1]"), 0); /* no ack id: nothing */
    ck_assert_int_eq(rec.nsent, 3);
    /* binary attachments, echoed as they came */
    rec.nsent = 0;
    const unsigned char a1[] = {1, 2, 3}, a2[] = {4, 5, 6};
    ck_assert_int_eq(
        msg("52-[\"message\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]"),
        0);
    ck_assert_int_eq(rec.nsent, 0);
    ck_assert_int_eq(bin(a1, 3), 0);
    ck_assert_int_eq(rec.nsent, 0);
    ck_assert_int_eq(bin(a2, 3), 0);
    ck_assert_int_eq(rec.nsent, 3);
    ck_assert_str_eq(rec.sent[0], "452-[\"message-back\",{\"_placeholder\":true,\"num\":0},"
                                  "{\"_placeholder\":true,\"num\":1}]");
    ck_assert(rec.sent_bin[1] && rec.sent_len[1] == 3 && memcmp(rec.sent[1], a1, 3) == 0);
    ck_assert(rec.sent_bin[2] && rec.sent_len[2] == 3 && memcmp(rec.sent[2], a2, 3) == 0);
    ck_assert_int_eq(msg("52-/custom,789[\"message-with-ack\",{\"_placeholder\":true,\"num\":0},"
                         "{\"_placeholder\":true,\"num\":1}]"),
                     0);
    ck_assert_int_eq(bin(a1, 3), 0);
    ck_assert_int_eq(bin(a2, 3), 0);
    ck_assert_str_eq(rec.sent[3], "462-/custom,789[{\"_placeholder\":true,\"num\":0},"
                                  "{\"_placeholder\":true,\"num\":1}]");
    ck_assert_int_eq(rec.nsent, 6);
    /* binary data out of place */
    ck_assert_int_eq(bin(a1, 3), DG_EPROTO);
    ck_assert_int_eq(msg("51-[\"message\",{\"_placeholder\":true,\"num\":0}]"), 0);
    ck_assert_int_eq(msg("2[\"message\"]"), DG_EPROTO);
    /* a namespace other than / and /custom is still unknown */
    teardown_app();
    setup_mode(1);
    ck_assert_int_eq(msg("0/random"), 0);
    ck_assert_str_eq(rec.sent[0], "44/random,{\"message\":\"Invalid namespace\"}");
}
END_TEST

/* ---- connected, ping, client rooms and relay (auth off: anonymous) ---- */

static char relays[MAXREC][512];
static int nrelays;

static int r_relay(void *ud, const char *room, const char *event, const char *json, size_t len)
{
    (void)ud;
    snprintf(relays[nrelays++], sizeof(relays[0]), "%s %s %.*s", room, event, (int)len, json);
    return 0;
}

static void setup_rooms(void)
{
    cfg_defaults(&cfg);
    snprintf(cfg.client_rooms[0], sizeof(cfg.client_rooms[0]), "chat");
    cfg.nclient_rooms = 1;
    cfg.client_rooms_max = 2;
    snprintf(cfg.relay_events[0], sizeof(cfg.relay_events[0]), "typing");
    cfg.nrelay_events = 1;
    cfg.relay_rate_count = 1;
    cfg.relay_rate_per_ms = 3600000;
    cfg.relay_burst = 2;
    memset(&rec, 0, sizeof(rec));
    memset(&stats, 0, sizeof(stats));
    nrelays = 0;
    sio_app_ops_t ops = {.ud = &rec, .send = r_send, .join = r_join, .leave = r_leave,
                         .leave_all = r_leave_all, .publish_log = r_publish, .relay = r_relay};
    sio_app_init(&app, &cfg, &ops, &stats);
}

START_TEST(connected_ping)
{
    char want[128];
    ck_assert_int_eq(msg("0"), 0);
    ck_assert_int_eq(rec.nsent, 2);
    snprintf(want, sizeof(want), "42[\"connected\",{\"socketId\":\"%.20s\",\"userId\":null}]",
             rec.sent[0] + 10);
    ck_assert_str_eq(rec.sent[1], want);
    ck_assert_int_eq(msg("25[\"ping\"]"), 0);
    ck_assert_int_eq(strncmp(rec.sent[2], "435[{\"timestamp\":", 16), 0);
    ck_assert_int_eq(msg("2[\"ping\"]"), 0);
    ck_assert_int_eq(strncmp(rec.sent[3], "42[\"pong\",{\"timestamp\":", 23), 0);
}
END_TEST

START_TEST(rooms_and_relay)
{
    char sid[21];
    ck_assert_int_eq(msg("0"), 0);
    memcpy(sid, rec.sent[0] + 10, 20);
    sid[20] = '\0';
    int n = rec.nsent;
    ck_assert_int_eq(msg("21[\"join_room\",\"chat:1\"]"), 0);
    ck_assert_str_eq(rec.sent[n], "431[{\"success\":true,\"room\":\"chat:1\"}]");
    ck_assert_str_eq(rec.joins[rec.njoins - 1], "chat:1");
    char want[256];
    snprintf(want, sizeof(want), "chat:1 user_joined {\"room\":\"chat:1\",\"userId\":null,\"socketId\":\"%s\"}", sid);
    ck_assert_str_eq(relays[0], want);
    ck_assert_int_eq(msg("22[\"join_room\",{\"room\":\"trip:1\"}]"), 0);
    ck_assert_str_eq(rec.sent[n + 1], "432[{\"success\":false,\"error\":\"unknown room type\"}]");
    ck_assert_int_eq(msg("23[\"join_room\",\"chat:\"]"), 0);
    ck_assert_str_eq(rec.sent[n + 2], "433[{\"success\":false,\"error\":\"invalid room\"}]");
    ck_assert_int_eq(msg("24[\"typing\",{\"room\":\"chat:2\"}]"), 0);
    ck_assert_str_eq(rec.sent[n + 3], "434[{\"success\":false,\"error\":\"not in room\"}]");
    /* userId and socketId are ours, whatever the client says */
    ck_assert_int_eq(msg("25[\"typing\",{\"room\":\"chat:1\",\"userId\":\"x\",\"t\":1}]"), 0);
    ck_assert_str_eq(rec.sent[n + 4], "435[{\"success\":true,\"room\":\"chat:1\"}]");
    snprintf(want, sizeof(want), "chat:1 typing {\"room\":\"chat:1\",\"userId\":null,\"t\":1,\"socketId\":\"%s\"}", sid);
    ck_assert_str_eq(relays[1], want);
    ck_assert_int_eq(msg("26[\"typing\",\"chat:1\"]"), 0);
    ck_assert_int_eq(msg("27[\"typing\",\"chat:1\"]"), 0); /* burst 2: over the limit */
    ck_assert_str_eq(rec.sent[n + 6], "437[{\"success\":false,\"error\":\"rate limited\"}]");
    ck_assert_int_eq(nrelays, 3);
    ck_assert_uint_eq(stats.relay_limited, 1);
    ck_assert_int_eq(msg("28[\"leave_room\",\"chat:1\"]"), 0);
    ck_assert_str_eq(rec.sent[n + 7], "438[{\"success\":true,\"room\":\"chat:1\"}]");
    ck_assert_int_eq(strncmp(relays[3], "chat:1 user_left ", 17), 0);
    ck_assert_str_eq(rec.leaves[rec.nleaves - 1], "chat:1");
}
END_TEST

/* ---- recovery, late subscribers, all-jobs (the session side is sio_rec.c) ---- */

static struct {
    char pid[64], offset[SIO_APP_OFFSET_MAX];
    int restores, has_offset, take, fresh, forgets;
    unsigned restore_bit, forget_bit;
    char state_job[64];
    int state_queue, states;
} recov;

static int r_restore(void *ud, unsigned bit, const char *pid, const char *offset)
{
    (void)ud;
    recov.restores++;
    recov.restore_bit = bit;
    snprintf(recov.pid, sizeof(recov.pid), "%s", pid);
    recov.has_offset = offset != NULL;
    snprintf(recov.offset, sizeof(recov.offset), "%s", offset ? offset : "");
    return recov.take;
}

static void r_fresh(void *ud, unsigned bit, char *pid)
{
    (void)ud;
    (void)bit;
    recov.fresh++;
    snprintf(pid, EIO_SID_LEN + 1, "%s", "PPPPPPPPPPPPPPPPPPPP");
}

static void r_forget(void *ud, unsigned bit)
{
    (void)ud;
    recov.forgets++;
    recov.forget_bit = bit;
}

static void r_job_state(void *ud, const char *job_id, int queue)
{
    (void)ud;
    recov.states++;
    recov.state_queue = queue;
    snprintf(recov.state_job, sizeof(recov.state_job), "%s", job_id);
}

static void setup_recovery(void)
{
    setup_mode(0);
    memset(&recov, 0, sizeof(recov));
    sio_app_free(&app);
    sio_app_ops_t ops = {.ud = &rec, .send = r_send, .join = r_join, .leave = r_leave,
                         .leave_all = r_leave_all, .publish_log = r_publish,
                         .restore = r_restore, .fresh = r_fresh, .forget = r_forget,
                         .job_state = r_job_state};
    sio_app_init(&app, &cfg, &ops, &stats);
}

START_TEST(fresh_connect_carries_pid)
{
    ck_assert_int_eq(msg("0"), DG_OK);
    ck_assert_int_eq(recov.fresh, 1);
    ck_assert_int_eq(recov.restores, 0);
    ck_assert_int_eq(rec.nsent, 1);
    ck_assert_int_eq(strncmp(rec.sent[0], "40{\"sid\":\"", 9), 0);
    ck_assert_str_eq(rec.sent[0] + 30, "\",\"pid\":\"PPPPPPPPPPPPPPPPPPPP\"}");
    /* a CONNECT payload without pid (an auth object) is a fresh connect too */
    ck_assert_int_eq(msg("0/logs,{\"token\":\"x\",\"offset\":\"http:1-0\"}"), DG_OK);
    ck_assert_int_eq(recov.restores, 0);
    ck_assert_int_eq(recov.fresh, 2);
    ck_assert_str_eq(rec.joins[0], "logs");
}
END_TEST

START_TEST(restore_taken_by_the_session)
{
    recov.take = 1;
    ck_assert_int_eq(msg("0{\"pid\":\"abc\",\"offset\":\"http:5-1,sparql:0-0\"}"), DG_OK);
    ck_assert_int_eq(recov.restores, 1);
    ck_assert_uint_eq(recov.restore_bit, SIO_APP_NSP_MAIN);
    ck_assert_str_eq(recov.pid, "abc");
    ck_assert_str_eq(recov.offset, "http:5-1,sparql:0-0");
    ck_assert_int_eq(rec.nsent, 0); /* the session answers */
    ck_assert(sio_app_connected(&app)); /* the connect timeout no longer applies */
    ck_assert_uint_eq(app.nsps, 0);
    /* a second CONNECT while restoring is a protocol error */
    ck_assert_int_eq(msg("0"), DG_EPROTO);
}
END_TEST

START_TEST(restore_answered_or_fresh)
{
    recov.take = 1;
    ck_assert_int_eq(msg("0{\"pid\":\"abc\"}"), DG_OK); /* no offset: NULL */
    ck_assert_int_eq(recov.has_offset, 0);
    const char *sid = sio_app_connect_done(&app, SIO_APP_NSP_MAIN, 1);
    ck_assert_ptr_nonnull(sid);
    ck_assert_int_eq((int)strlen(sid), EIO_SID_LEN);
    ck_assert_uint_eq(app.nsps, SIO_APP_NSP_MAIN);
    ck_assert_int_eq(rec.nsent, 0);
    ck_assert_ptr_null(sio_app_connect_done(&app, SIO_APP_NSP_MAIN, 1)); /* not restoring now */
    /* /logs: not found, so a fresh connect (rooms, pid, CONNECT) */
    ck_assert_int_eq(msg("0/logs,{\"pid\":\"def\",\"offset\":\"logs:1-0\"}"), DG_OK);
    ck_assert_uint_eq(recov.restore_bit, SIO_APP_NSP_LOGS);
    ck_assert_ptr_null(sio_app_connect_done(&app, SIO_APP_NSP_LOGS, 0));
    ck_assert_int_eq(recov.fresh, 1);
    ck_assert_int_eq(rec.nsent, 1);
    ck_assert_int_eq(strncmp(rec.sent[0], "40/logs,{\"sid\":\"", 15), 0);
    ck_assert_str_eq(rec.joins[0], "logs");
    /* an explicit DISCONNECT forgets the state */
    ck_assert_int_eq(msg("1"), DG_OK);
    ck_assert_int_eq(recov.forgets, 1);
    ck_assert_uint_eq(recov.forget_bit, SIO_APP_NSP_MAIN);
}
END_TEST

START_TEST(state_after_join_and_all_jobs)
{
    ck_assert_int_eq(msg("0"), DG_OK);
    rec.nsent = 0;
    ck_assert_int_eq(msg("21[\"subscribe-job\",{\"jobId\":\"j1\",\"queue\":\"sparql\"}]"), DG_OK);
    ck_assert_int_eq(recov.states, 1);
    ck_assert_str_eq(recov.state_job, "j1");
    ck_assert_int_eq(recov.state_queue, cfg_queue_index(&cfg, "sparql"));
    ck_assert_str_eq(rec.joins[0], "job:j1");
    ck_assert_str_eq(rec.sent[0], "431[{\"success\":true,\"room\":\"job:j1\"}]");
    ck_assert_int_eq(msg("2[\"subscribe-job\",\"j2\"]"), DG_OK);
    ck_assert_int_eq(recov.state_queue, -1);
    ck_assert_int_eq(msg("2[\"subscribe-queue\",\"http\"]"), DG_OK);
    ck_assert_int_eq(recov.states, 2); /* no state for queue rooms */
    ck_assert_int_eq(msg("22[\"subscribe-all-jobs\",{\"queues\":[\"http\",\"analyzer\"]}]"), DG_OK);
    ck_assert_str_eq(rec.joins[3], "all-jobs");
    ck_assert_uint_eq(rec.filters[3].streams, (1u << cfg_queue_index(&cfg, "http")) |
                                                  (1u << cfg_queue_index(&cfg, "analyzer")));
    ck_assert_str_eq(rec.sent[rec.nsent - 1], "432[{\"success\":true,\"room\":\"all-jobs\"}]");
    ck_assert_int_eq(msg("23[\"subscribe-all-jobs\",{\"queue\":\"nope\"}]"), DG_OK);
    ck_assert_str_eq(rec.sent[rec.nsent - 1], "433[{\"success\":false,\"error\":\"unknown queue\"}]");
    ck_assert_int_eq(msg("24[\"subscribe-all-jobs\",{\"queues\":\"http\"}]"), DG_OK);
    ck_assert_str_eq(rec.sent[rec.nsent - 1],
                     "434[{\"success\":false,\"error\":\"queues must be an array of queue names\"}]");
    ck_assert_int_eq(msg("25[\"unsubscribe-all-jobs\"]"), DG_OK);
    ck_assert_str_eq(rec.leaves[rec.nleaves - 1], "all-jobs");
    ck_assert_int_eq(recov.states, 2);
}
END_TEST

Suite *sio_app_suite(void)
{
    Suite *s = suite_create("sio_app");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown_app);
    tcase_add_test(tc, connect_namespaces);
    tcase_add_test(tc, packets_for_namespaces_not_connected);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, subscriptions_with_acks);
    tcase_add_test(tc, subscription_errors);
    tcase_add_test(tc, disconnect_leaves_rooms);
    tcase_add_test(tc, logs_from_clients);
    tcase_add_test(tc, conformance_echo);
    TCase *tr = tcase_create("rooms");
    tcase_add_checked_fixture(tr, setup_rooms, teardown_app);
    tcase_add_test(tr, connected_ping);
    tcase_add_test(tr, rooms_and_relay);
    TCase *tv = tcase_create("recovery");
    tcase_add_checked_fixture(tv, setup_recovery, teardown_app);
    tcase_add_test(tv, fresh_connect_carries_pid);
    tcase_add_test(tv, restore_taken_by_the_session);
    tcase_add_test(tv, restore_answered_or_fresh);
    tcase_add_test(tv, state_after_join_and_all_jobs);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, tr);
    suite_add_tcase(s, tv);
    return s;
}
