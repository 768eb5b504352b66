/* check_route.c - unit tests for route.c: the routes list (good, bad with exact error texts,
 * limits, every truncation), room templates (syntax, expansion of strings / numbers / nested
 * paths, every refusal, length edges, reserved rooms), channel messages and stream entries
 * (payload bytes as JSON.stringify writes them, malformed input). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "decode.h"
#include "dg.h"
#include "route.h"

static route_table_t table; /* ~20 KiB: static, not on the test's stack */
static char err[256];

#define EXAMPLE                                                                                    \
    "channel:notifications=notification-received@user:{user_id}, "                                 \
    "stream:user-status=user-status-changed@all"

/* ---------------------------------------------------------------------------------------------
 * The routes list */

START_TEST(test_table_example)
{
    ck_assert_int_eq(route_table_parse(&table, EXAMPLE, err, sizeof(err)), DG_OK);
    ck_assert_int_eq(table.n, 2);
    ck_assert_int_eq(table.err, 0);
    const route_t *r = &table.route[0];
    ck_assert_int_eq(r->kind, ROUTE_CHANNEL);
    ck_assert_str_eq(r->key, "notifications");
    ck_assert_str_eq(r->event, "notification-received");
    ck_assert_str_eq(r->room.text, "user:{user_id}");
    ck_assert_int_eq(r->room.all, 0);
    ck_assert_int_eq(r->room.nfields, 1);
    r = &table.route[1];
    ck_assert_int_eq(r->kind, ROUTE_STREAM);
    ck_assert_str_eq(r->key, "user-status");
    ck_assert_str_eq(r->event, "user-status-changed");
    ck_assert_int_eq(r->room.all, 1);
    ck_assert_int_eq(r->room.nfields, 0);
    ck_assert_ptr_eq(route_find(&table, ROUTE_CHANNEL, "notifications", 13), &table.route[0]);
    ck_assert_ptr_eq(route_find(&table, ROUTE_STREAM, "user-status", 11), &table.route[1]);
    ck_assert_ptr_null(route_find(&table, ROUTE_STREAM, "notifications", 13));
    ck_assert_ptr_null(route_find(&table, ROUTE_CHANNEL, "notification", 12));
    ck_assert_ptr_null(route_find(NULL, ROUTE_CHANNEL, "notifications", 13));
}
END_TEST

START_TEST(test_table_forms)
{
    /* Keys may hold ':' and braces (cluster hash tags), templates '@' and several fields. */
    const char *spec = " \tstream:{app}:status=feature-status@project:{project.id}:{kind} ,"
                       "channel:a:b=ev.x_1@lobby,stream:s=e@x@y ";
    ck_assert_msg(route_table_parse(&table, spec, err, sizeof(err)) == DG_OK, "%s", err);
    ck_assert_int_eq(table.n, 3);
    ck_assert_str_eq(table.route[0].key, "{app}:status");
    ck_assert_str_eq(table.route[0].room.text, "project:{project.id}:{kind}");
    ck_assert_int_eq(table.route[0].room.nfields, 2);
    ck_assert_str_eq(table.route[1].key, "a:b");
    ck_assert_str_eq(table.route[1].event, "ev.x_1");
    ck_assert_str_eq(table.route[1].room.text, "lobby");
    ck_assert_str_eq(table.route[2].event, "e");
    ck_assert_str_eq(table.route[2].room.text, "x@y");
    /* Empty means no routes; a channel and a stream may share a name. */
    ck_assert_int_eq(route_table_parse(&table, "", err, sizeof(err)), DG_OK);
    ck_assert_int_eq(table.n, 0);
    ck_assert_int_eq(route_table_parse(&table, "  ", err, sizeof(err)), DG_OK);
    ck_assert_int_eq(route_table_parse(&table, NULL, err, sizeof(err)), DG_OK);
    ck_assert_int_eq(route_table_parse(&table, "channel:x=e@all,stream:x=e@all", err, sizeof(err)),
                     DG_OK);
    ck_assert_int_eq(table.n, 2);
}
END_TEST

static const struct {
    const char *spec, *err;
} table_bad[] = {
    {"channel", "route 1 'channel': expected <channel|stream>:<key>=<event>@<room>"},
    {",", "route 1 '': empty route in list"},
    {"channel:a=e@all,", "route 2 '': empty route in list"},
    {"pubsub:a=e@all",
     "route 1 'pubsub:a=e@all': unknown source type 'pubsub' (channel or stream)"},
    {"Channel:a=e@all",
     "route 1 'Channel:a=e@all': unknown source type 'Channel' (channel or stream)"},
    {"channel:a", "route 1 'channel:a': missing '=' before the event name"},
    {"channel:=e@all", "route 1 'channel:=e@all': empty channel name"},
    {"stream:=e@all", "route 1 'stream:=e@all': empty stream key"},
    {"channel:a b=e@all", "route 1 'channel:a b=e@all': key may only hold printable ASCII without "
                          "spaces"},
    {"channel:a?=e@all", "route 1 'channel:a?=e@all': channel patterns are not supported ('?')"},
    {"channel:a[1]=e@all",
     "route 1 'channel:a[1]=e@all': channel patterns are not supported ('[')"},
    {"channel:a=e", "route 1 'channel:a=e': missing '@' before the room template"},
    {"channel:a=@all", "route 1 'channel:a=@all': empty event name"},
    {"channel:a=e v@all",
     "route 1 'channel:a=e v@all': invalid event name (allowed: A-Z a-z 0-9 _ . : -)"},
    {"channel:a=disconnect@all",
     "route 1 'channel:a=disconnect@all': event name 'disconnect' is reserved by Socket.IO"},
    {"channel:a=newListener@all",
     "route 1 'channel:a=newListener@all': event name 'newListener' is reserved by Socket.IO"},
    {"channel:a=e@", "route 1 'channel:a=e@': empty room template"},
    {"channel:a=e@u {x}", "route 1 'channel:a=e@u {x}': room template may only hold printable "
                          "ASCII without spaces or ','"},
    {"channel:a=e@u:{}", "route 1 'channel:a=e@u:{}': empty placeholder '{}' in room template"},
    {"channel:a=e@u:{a{b}", "route 1 'channel:a=e@u:{a{b}': '{' inside a placeholder"},
    {"channel:a=e@u:}", "route 1 'channel:a=e@u:}': unmatched '}' in room template"},
    {"channel:a=e@u:{x}}", "route 1 'channel:a=e@u:{x}}': unmatched '}' in room template"},
    {"channel:a=e@logs", "route 1 'channel:a=e@logs': room template names a reserved room (logs, "
                         "job:..., queue:...)"},
    {"channel:a=e@queue:{q}", "route 1 'channel:a=e@queue:{q}': room template names a reserved "
                              "room (logs, job:..., queue:...)"},
    {"channel:a=e@{a}{b}{c}{d}{e}{f}{g}{h}{i}",
     "route 1 'channel:a=e@{a}{b}{c}{d}{e}{f}{g}{h}{i}': more than 8 placeholders in room "
     "template"},
    {"stream:s=e@all , stream:s=f@x",
     "route 2 'stream:s=f@x': stream 's' is already routed (route 1)"},
    {"channel:a=e@all,channel:b=e@all,channel:c=e@all,channel:d=e@all,channel:e=e@all,"
     "channel:f=e@all,channel:g=e@all,channel:h=e@all,channel:i=e@all,channel:j=e@all,"
     "channel:k=e@all,channel:l=e@all,channel:m=e@all,channel:n=e@all,channel:o=e@all,"
     "channel:p=e@all,channel:q=e@all,channel:r=e@all,channel:s=e@all,channel:t=e@all,"
     "channel:u=e@all,channel:v=e@all,channel:w=e@all,channel:x=e@all,channel:y=e@all,"
     "channel:z=e@all,channel:A=e@all,channel:B=e@all,channel:C=e@all,channel:D=e@all,"
     "channel:E=e@all,channel:F=e@all,channel:G=e@all",
     "route 33 'channel:G=e@all': more than 32 routes"},
};

START_TEST(test_table_bad)
{
    int rc = route_table_parse(&table, table_bad[_i].spec, err, sizeof(err));
    ck_assert_int_eq(rc, DG_EINVAL);
    ck_assert_str_eq(err, table_bad[_i].err);
    /* Sticky: the table is empty, failed, and says why. */
    ck_assert_int_eq(table.n, 0);
    ck_assert_int_eq(table.err, DG_EINVAL);
    ck_assert_str_eq(table.errstr, table_bad[_i].err);
    ck_assert_ptr_null(route_find(&table, ROUTE_CHANNEL, "a", 1));
    /* errstr may be NULL. */
    ck_assert_int_eq(route_table_parse(&table, table_bad[_i].spec, NULL, 0), DG_EINVAL);
}
END_TEST

START_TEST(test_table_long_items)
{
    char spec[1024], key[ROUTE_KEY_MAX + 1], ev[ROUTE_EVENT_MAX + 1], room[ROUTE_ROOM_MAX + 1];
    memset(key, 'k', sizeof(key));
    key[ROUTE_KEY_MAX - 1] = '\0';
    memset(ev, 'e', sizeof(ev));
    ev[ROUTE_EVENT_MAX - 1] = '\0';
    memset(room, 'r', sizeof(room));
    room[ROUTE_ROOM_MAX - 1] = '\0';
    snprintf(spec, sizeof(spec), "stream:%s=%s@%s", key, ev, room);
    ck_assert_msg(route_table_parse(&table, spec, err, sizeof(err)) == DG_OK, "%s", err);
    ck_assert_uint_eq(strlen(table.route[0].key), ROUTE_KEY_MAX - 1);
    key[ROUTE_KEY_MAX - 1] = 'k';
    key[ROUTE_KEY_MAX] = '\0';
    snprintf(spec, sizeof(spec), "stream:%s=e@r", key);
    ck_assert_int_eq(route_table_parse(&table, spec, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "route 1 'stream:kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...': key longer "
                          "than 255 bytes");
    ev[ROUTE_EVENT_MAX - 1] = 'e';
    ev[ROUTE_EVENT_MAX] = '\0';
    snprintf(spec, sizeof(spec), "stream:s=%s@r", ev);
    ck_assert_int_eq(route_table_parse(&table, spec, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "route 1 'stream:s=eeeeeeeeeeeeeeeeeeeeeeeeeeeeeee...': event name "
                          "longer than 63 characters");
    room[ROUTE_ROOM_MAX - 1] = 'r';
    room[ROUTE_ROOM_MAX] = '\0';
    snprintf(spec, sizeof(spec), "stream:s=e@%s", room);
    ck_assert_int_eq(route_table_parse(&table, spec, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "route 1 'stream:s=e@rrrrrrrrrrrrrrrrrrrrrrrrrrrrr...': room template "
                          "longer than 255 bytes");
}
END_TEST

/* Every truncation of a valid list either parses (to a prefix of its routes) or fails with
 * "route N '": no crash, no read past the end, nothing half-kept. */
START_TEST(test_table_truncated)
{
    const char *spec = "channel:notifications=notification-received@user:{user_id},"
                       "stream:{app}:s=e@project:{p.id}:{k},channel:c=x@all";
    size_t n = strlen(spec);
    int ok = 0;
    for (size_t cut = 0; cut <= n; cut++) {
        char *p = malloc(cut + 1);
        ck_assert_ptr_nonnull(p);
        memcpy(p, spec, cut);
        p[cut] = '\0';
        int rc = route_table_parse(&table, p, err, sizeof(err));
        if (rc == DG_OK) {
            ok++;
            ck_assert_int_le(table.n, 3);
        } else {
            ck_assert_int_eq(rc, DG_EINVAL);
            ck_assert_msg(strncmp(err, "route ", 6) == 0, "cut %zu: %s", cut, err);
            ck_assert_int_eq(table.n, 0);
        }
        free(p);
    }
    ck_assert_int_gt(ok, 3);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Templates */

static json_t *doc(const char *text)
{
    json_t *v = dec_json_parse(text, strlen(text));
    ck_assert_msg(v != NULL, "bad JSON in test: %s", text);
    return v;
}

static int expand(const char *tmpl, const char *payload, char *room)
{
    route_tmpl_t t;
    ck_assert_msg(route_tmpl_parse(&t, tmpl, strlen(tmpl), err, sizeof(err)) == DG_OK, "%s: %s",
                  tmpl, err);
    json_t *p = payload ? doc(payload) : NULL;
    err[0] = '\0';
    int rc = route_tmpl_expand(&t, p, room, ROUTE_ROOM_MAX, err, sizeof(err));
    json_decref(p);
    return rc;
}

static const struct {
    const char *tmpl, *payload, *room;
} expand_good[] = {
    {"user:{user_id}", "{\"user_id\":42}", "user:42"},
    {"user:{user_id}", "{\"user_id\":\"u-7\",\"x\":1}", "user:u-7"},
    {"user:{user_id}", "{\"user_id\":1.5}", "user:1.5"},
    {"user:{user_id}", "{\"user_id\":-3}", "user:-3"},
    {"user:{user_id}", "{\"user_id\":1e21}", "user:1e+21"},
    {"user:{user_id}", "{\"user_id\":\"caf\\u00e9\"}", "user:caf\xc3\xa9"},
    {"user:{user_id}", "{\"user_id\":\"a b\"}", "user:a b"},
    {"u:{user.id}", "{\"user\":{\"id\":\"n1\"}}", "u:n1"},
    {"u:{user.id}", "{\"user.id\":\"flat\",\"user\":{\"id\":\"n1\"}}", "u:flat"},
    {"{a}:{b}-{a}", "{\"a\":\"x\",\"b\":2}", "x:2-x"},
    {"{kind}", "{\"kind\":\"lobby\"}", "lobby"},
    {"lobby", "{}", "lobby"},
    {"lobby", "[1,2]", "lobby"},
    {"lobby", NULL, "lobby"},
    {"p:{x}", "{\"x\":\"job:1\"}", "p:job:1"}, /* only the whole room is checked for reserved */
};

START_TEST(test_expand_good)
{
    char room[ROUTE_ROOM_MAX];
    int rc = expand(expand_good[_i].tmpl, expand_good[_i].payload, room);
    ck_assert_msg(rc >= 0, "%s: %s", expand_good[_i].tmpl, err);
    ck_assert_str_eq(room, expand_good[_i].room);
    ck_assert_int_eq(rc, (int)strlen(expand_good[_i].room));
}
END_TEST

static const struct {
    const char *tmpl, *payload;
    int rc;
    const char *err;
} expand_bad[] = {
    {"user:{user_id}", "{}", DG_EPROTO, "field 'user_id' missing"},
    {"user:{user_id}", "{\"userId\":1}", DG_EPROTO, "field 'user_id' missing"},
    {"user:{user_id}", "{\"user_id\":null}", DG_EPROTO,
     "field 'user_id' is not a string or number"},
    {"user:{user_id}", "{\"user_id\":true}", DG_EPROTO,
     "field 'user_id' is not a string or number"},
    {"user:{user_id}", "{\"user_id\":[1]}", DG_EPROTO, "field 'user_id' is not a string or number"},
    {"user:{user_id}", "{\"user_id\":{}}", DG_EPROTO, "field 'user_id' is not a string or number"},
    {"user:{user_id}", "{\"user_id\":\"\"}", DG_EPROTO, "field 'user_id' is empty"},
    {"user:{user_id}", "{\"user_id\":\"a\\nb\"}", DG_EPROTO,
     "field 'user_id' holds control characters"},
    {"user:{user_id}", "{\"user_id\":\"a\\u0000b\"}", DG_EPROTO,
     "field 'user_id' holds control characters"},
    {"user:{user_id}", "{\"user_id\":\"a\\u007f\"}", DG_EPROTO,
     "field 'user_id' holds control characters"},
    {"user:{user_id}", "[1]", DG_EPROTO, "payload is not a JSON object"},
    {"user:{user_id}", "\"user_id\"", DG_EPROTO, "payload is not a JSON object"},
    {"u:{a.b}", "{\"a\":{\"c\":1}}", DG_EPROTO, "field 'a.b' missing"},
    {"u:{a.b}", "{\"a\":5}", DG_EPROTO, "field 'a.b' missing"},
    {"{r}", "{\"r\":\"all\"}", DG_EPROTO,
     "room '{r}' expands to a reserved room (all, logs, job:, queue:)"},
    {"{r}", "{\"r\":\"logs\"}", DG_EPROTO,
     "room '{r}' expands to a reserved room (all, logs, job:, queue:)"},
    {"{r}:1", "{\"r\":\"job\"}", DG_EPROTO,
     "room '{r}:1' expands to a reserved room (all, logs, job:, queue:)"},
    {"que{r}", "{\"r\":\"ue:x\"}", DG_EPROTO,
     "room 'que{r}' expands to a reserved room (all, logs, job:, queue:)"},
};

START_TEST(test_expand_bad)
{
    char room[ROUTE_ROOM_MAX] = "x";
    int rc = expand(expand_bad[_i].tmpl, expand_bad[_i].payload, room);
    ck_assert_int_eq(rc, expand_bad[_i].rc);
    ck_assert_str_eq(err, expand_bad[_i].err);
    ck_assert_str_eq(room, "");
}
END_TEST

START_TEST(test_expand_limits)
{
    char room[ROUTE_ROOM_MAX], payload[600], v[400];
    /* "user:" + 250 bytes = 255: fits; 251 does not. */
    memset(v, 'v', sizeof(v));
    v[250] = '\0';
    snprintf(payload, sizeof(payload), "{\"id\":\"%s\"}", v);
    ck_assert_int_eq(expand("user:{id}", payload, room), 255);
    v[250] = 'v';
    v[251] = '\0';
    snprintf(payload, sizeof(payload), "{\"id\":\"%s\"}", v);
    ck_assert_int_eq(expand("user:{id}", payload, room), DG_ELIMIT);
    ck_assert_str_eq(err, "room longer than 255 bytes");
    ck_assert_str_eq(room, "");
    memset(v, 'v', sizeof(v));
    v[300] = '\0';
    snprintf(payload, sizeof(payload), "{\"id\":\"%s\"}", v);
    ck_assert_int_eq(expand("{id}", payload, room), DG_ELIMIT);
    /* Literal text after the last placeholder counts too: 250 + 5 fit, 251 + 5 do not. */
    v[250] = '\0';
    snprintf(payload, sizeof(payload), "{\"id\":\"%s\"}", v);
    ck_assert_int_eq(expand("{id}:tail", payload, room), 255);
    v[250] = 'v';
    v[251] = '\0';
    snprintf(payload, sizeof(payload), "{\"id\":\"%s\"}", v);
    ck_assert_int_eq(expand("{id}:tail", payload, room), DG_ELIMIT);
    /* A smaller cap is honoured. */
    route_tmpl_t t;
    ck_assert_int_eq(route_tmpl_parse(&t, "user:{id}", 9, err, sizeof(err)), DG_OK);
    json_t *p = doc("{\"id\":\"abc\"}");
    ck_assert_int_eq(route_tmpl_expand(&t, p, room, 9, err, sizeof(err)), 8);
    ck_assert_int_eq(route_tmpl_expand(&t, p, room, 8, err, sizeof(err)), DG_ELIMIT);
    ck_assert_str_eq(err, "room longer than 7 bytes");
    ck_assert_int_eq(route_tmpl_expand(&t, p, room, 0, err, sizeof(err)), DG_ELIMIT);
    json_decref(p);
    /* all: room "" and 0, whatever the payload. */
    ck_assert_int_eq(route_tmpl_parse(&t, "all", 3, err, sizeof(err)), DG_OK);
    ck_assert_int_eq(t.all, 1);
    ck_assert_int_eq(route_tmpl_expand(&t, NULL, room, sizeof(room), err, sizeof(err)), 0);
    ck_assert_str_eq(room, "");
    /* "all" inside a longer template is literal text. */
    ck_assert_int_eq(route_tmpl_parse(&t, "all:{x}", 7, err, sizeof(err)), DG_OK);
    ck_assert_int_eq(t.all, 0);
    ck_assert_int_eq(route_tmpl_parse(&t, "allx", 4, err, sizeof(err)), DG_OK);
    ck_assert_int_eq(t.all, 0);
}
END_TEST

START_TEST(test_reserved)
{
    ck_assert_int_eq(route_room_reserved("logs", 4), 1);
    ck_assert_int_eq(route_room_reserved("job:42", 6), 1);
    ck_assert_int_eq(route_room_reserved("job:", 4), 1);
    ck_assert_int_eq(route_room_reserved("queue:http", 10), 1);
    ck_assert_int_eq(route_room_reserved("logs2", 5), 0);
    ck_assert_int_eq(route_room_reserved("log", 3), 0);
    ck_assert_int_eq(route_room_reserved("jobs:1", 6), 0);
    ck_assert_int_eq(route_room_reserved("user:1", 6), 0);
    ck_assert_int_eq(route_room_reserved("all", 3), 0);
    ck_assert_int_eq(route_room_reserved("", 0), 0);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Channel messages */

static const route_t *route_of(const char *spec)
{
    ck_assert_msg(route_table_parse(&table, spec, err, sizeof(err)) == DG_OK, "%s", err);
    return &table.route[0];
}

START_TEST(test_channel_message)
{
    const route_t *r = route_of(EXAMPLE);
    route_out_t o;
    const char *msg = " {\n  \"user_id\": 42, \"title\": \"Hi \\u00e9\\u001f\", \"n\": 1.50,\n"
                      "  \"list\": [1, 2e0, {\"b\": null}], \"1\": true }\n";
    ck_assert_int_eq(route_channel_message(r, msg, strlen(msg), &o, err, sizeof(err)), DG_OK);
    ck_assert_str_eq(o.room, "user:42");
    ck_assert_uint_eq(o.room_len, 7);
    ck_assert_int_eq(o.all, 0);
    /* As JSON.stringify(JSON.parse(msg)): index keys first, shortest numbers, one line. */
    ck_assert_str_eq(o.json,
                     "{\"1\":true,\"user_id\":42,\"title\":\"Hi \xc3\xa9\\u001f\",\"n\":1.5,"
                     "\"list\":[1,2,{\"b\":null}]}");
    ck_assert_uint_eq(o.json_len, strlen(o.json));
    route_out_clear(&o);
    route_out_clear(&o);

    /* all: any JSON value will do. */
    r = route_of("channel:c=e@all");
    ck_assert_int_eq(route_channel_message(r, "[1, \"x\"]", 8, &o, err, sizeof(err)), DG_OK);
    ck_assert_int_eq(o.all, 1);
    ck_assert_str_eq(o.room, "");
    ck_assert_str_eq(o.json, "[1,\"x\"]");
    route_out_clear(&o);
    ck_assert_int_eq(route_channel_message(r, "\"hello\"", 7, &o, err, sizeof(err)), DG_OK);
    ck_assert_str_eq(o.json, "\"hello\"");
    route_out_clear(&o);
}
END_TEST

START_TEST(test_channel_bad)
{
    const route_t *r = route_of(EXAMPLE);
    route_out_t o;
    static const struct {
        const char *msg;
        int rc;
        const char *err;
    } cases[] = {
        {"", DG_EPROTO, "message is not JSON"},
        {"hello", DG_EPROTO, "message is not JSON"},
        {"{\"user_id\":1", DG_EPROTO, "message is not JSON"},
        {"{\"user_id\":1} {}", DG_EPROTO, "message is not JSON"},
        {"[42]", DG_EPROTO, "payload is not a JSON object"},
        {"{\"userId\":42}", DG_EPROTO, "field 'user_id' missing"},
        {"{\"user_id\":\"\\n\"}", DG_EPROTO, "field 'user_id' holds control characters"},
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(cases); i++) {
        int rc = route_channel_message(r, cases[i].msg, strlen(cases[i].msg), &o, err, sizeof(err));
        ck_assert_msg(rc == cases[i].rc, "%s: %d", cases[i].msg, rc);
        ck_assert_str_eq(err, cases[i].err);
        ck_assert_ptr_null(o.json);
        ck_assert_str_eq(o.room, "");
        /* The payload is never quoted in the error. */
        ck_assert(cases[i].msg[0] == '\0' || strstr(err, cases[i].msg) == NULL);
    }
    /* Size limit: ROUTE_PAYLOAD_MAX bytes are looked at, one more is not. */
    size_t n = ROUTE_PAYLOAD_MAX + 1;
    char *big = malloc(n);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', n);
    memcpy(big, "{\"user_id\":1}", 13);
    ck_assert_int_eq(route_channel_message(r, big, n - 1, &o, err, sizeof(err)), DG_OK);
    route_out_clear(&o);
    ck_assert_int_eq(route_channel_message(r, big, n, &o, err, sizeof(err)), DG_ELIMIT);
    ck_assert_str_eq(err, "message larger than 1048576 bytes");
    free(big);
    /* Every truncation of a good message: refused or (never here) a whole message. */
    const char *msg = "{\"user_id\":42,\"t\":\"x\"}";
    for (size_t cut = 0; cut < strlen(msg); cut++) {
        char *p = malloc(cut ? cut : 1);
        ck_assert_ptr_nonnull(p);
        memcpy(p, msg, cut);
        ck_assert_int_eq(route_channel_message(r, p, cut, &o, err, sizeof(err)), DG_EPROTO);
        free(p);
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Stream entries */

typedef struct entry {
    const char *name[8], *value[8];
    size_t name_len[8], value_len[8];
    dec_fields_t f;
} entry_t;

/* kv: name, value, name, value, ... (NUL-terminated strings; lens given explicitly when a
 * test needs embedded bytes). */
static dec_fields_t *entry(entry_t *e, const char *const *kv, size_t n)
{
    memset(e, 0, sizeof(*e));
    for (size_t i = 0; i + 1 < n; i += 2) {
        e->name[i / 2] = kv[i];
        e->name_len[i / 2] = strlen(kv[i]);
        e->value[i / 2] = kv[i + 1];
        e->value_len[i / 2] = strlen(kv[i + 1]);
    }
    e->f = (dec_fields_t){e->name, e->name_len, e->value, e->value_len, n / 2};
    return &e->f;
}

START_TEST(test_stream_entry)
{
    const route_t *r = route_of("stream:user-status=user-status-changed@user:{userId}");
    route_out_t o;
    entry_t e;
    /* A data field is the payload; other fields are not part of it. */
    const char *kv1[] = {"data", "{ \"userId\": 7, \"status\": \"online\" }", "userId", "99"};
    ck_assert_int_eq(route_stream_entry(r, entry(&e, kv1, 4), &o, err, sizeof(err)), DG_OK);
    ck_assert_str_eq(o.room, "user:7");
    ck_assert_str_eq(o.json, "{\"userId\":7,\"status\":\"online\"}");
    route_out_clear(&o);
    /* Without data: the fields as an object of strings, in entry order, last repeat wins. */
    const char *kv2[] = {"userId", "5", "status", "away", "note", "a\"b\\c\n", "status", "busy"};
    ck_assert_int_eq(route_stream_entry(r, entry(&e, kv2, 8), &o, err, sizeof(err)), DG_OK);
    ck_assert_str_eq(o.room, "user:5");
    ck_assert_str_eq(o.json, "{\"userId\":\"5\",\"status\":\"busy\",\"note\":\"a\\\"b\\\\c\\n\"}");
    route_out_clear(&o);
    /* The last data field wins too. */
    const char *kv3[] = {"data", "{\"userId\":1}", "data", "{\"userId\":2}"};
    ck_assert_int_eq(route_stream_entry(r, entry(&e, kv3, 4), &o, err, sizeof(err)), DG_OK);
    ck_assert_str_eq(o.room, "user:2");
    route_out_clear(&o);
    /* A value may hold NUL; it is escaped in the JSON. */
    const char *kv4[] = {"userId", "u", "bin", "a"};
    entry(&e, kv4, 4);
    e.value[1] = "a\0b";
    e.value_len[1] = 3;
    ck_assert_int_eq(route_stream_entry(r, &e.f, &o, err, sizeof(err)), DG_OK);
    ck_assert_str_eq(o.json, "{\"userId\":\"u\",\"bin\":\"a\\u0000b\"}");
    route_out_clear(&o);
}
END_TEST

START_TEST(test_stream_bad)
{
    const route_t *r = route_of("stream:s=e@user:{userId}");
    route_out_t o;
    entry_t e;
    const char *kv1[] = {"data", "not json"};
    ck_assert_int_eq(route_stream_entry(r, entry(&e, kv1, 2), &o, err, sizeof(err)), DG_EPROTO);
    ck_assert_str_eq(err, "field data is not JSON");
    const char *kv2[] = {"data", "{\"user\":1}"};
    ck_assert_int_eq(route_stream_entry(r, entry(&e, kv2, 2), &o, err, sizeof(err)), DG_EPROTO);
    ck_assert_str_eq(err, "field 'userId' missing");
    ck_assert_ptr_null(o.json);
    ck_assert_int_eq(route_stream_entry(r, entry(&e, NULL, 0), &o, err, sizeof(err)), DG_EPROTO);
    ck_assert_str_eq(err, "entry has no fields");
    ck_assert_int_eq(route_stream_entry(r, NULL, &o, err, sizeof(err)), DG_EPROTO);
    const char *kv3[] = {"userId", "1", "", "x"};
    ck_assert_int_eq(route_stream_entry(r, entry(&e, kv3, 4), &o, err, sizeof(err)), DG_EPROTO);
    ck_assert_str_eq(err, "field 1: empty name");
    const char *kv4[] = {"userId", "1", "ab", "x"};
    entry(&e, kv4, 4);
    e.name[1] = "a\0";
    ck_assert_int_eq(route_stream_entry(r, &e.f, &o, err, sizeof(err)), DG_EPROTO);
    ck_assert_str_eq(err, "field 1: name is not valid UTF-8 text");
    const char *kv5[] = {"userId", "\xff\xfe"};
    ck_assert_int_eq(route_stream_entry(r, entry(&e, kv5, 2), &o, err, sizeof(err)), DG_EPROTO);
    ck_assert_str_eq(err, "field 0: value is not valid UTF-8");
    const char *kv6[] = {"\xc3(", "1"};
    ck_assert_int_eq(route_stream_entry(r, entry(&e, kv6, 2), &o, err, sizeof(err)), DG_EPROTO);
    ck_assert_str_eq(err, "field 0: name is not valid UTF-8 text");
    const char *kv7[] = {"userId", "1"};
    entry(&e, kv7, 2);
    e.f.n = DEC_FIELDS_MAX + 1;
    ck_assert_int_eq(route_stream_entry(r, &e.f, &o, err, sizeof(err)), DG_EPROTO);
    ck_assert_str_eq(err, "more than 256 fields");
    ck_assert_ptr_null(o.json);
}
END_TEST

Suite *route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *t = tcase_create("table");
    tcase_add_test(t, test_table_example);
    tcase_add_test(t, test_table_forms);
    tcase_add_loop_test(t, test_table_bad, 0, (int)DG_ARRAY_LEN(table_bad));
    tcase_add_test(t, test_table_long_items);
    tcase_add_test(t, test_table_truncated);
    suite_add_tcase(s, t);
    t = tcase_create("template");
    tcase_add_loop_test(t, test_expand_good, 0, (int)DG_ARRAY_LEN(expand_good));
    tcase_add_loop_test(t, test_expand_bad, 0, (int)DG_ARRAY_LEN(expand_bad));
    tcase_add_test(t, test_expand_limits);
    tcase_add_test(t, test_reserved);
    suite_add_tcase(s, t);
    t = tcase_create("payload");
    tcase_add_test(t, test_channel_message);
    tcase_add_test(t, test_channel_bad);
    tcase_add_test(t, test_stream_entry);
    tcase_add_test(t, test_stream_bad);
    suite_add_tcase(s, t);
    return s;
}
