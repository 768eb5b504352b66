/* check_acl.c - unit tests for acl.c: the rule parser (every term, every error text, limits),
 * evaluation for anonymous and authenticated clients (scopes, claims, job owners, OR of terms),
 * rooms (reserved, own user room, other users' rooms, everything else), and building the
 * policy from a configuration. Claims are made directly from JSON here; check_auth.c covers how
 * a token becomes claims. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "acl.h"
#include "auth.h"
#include "config.h"
#include "decode.h"
#include "dg.h"
#include "route.h"

static char err[256];

/* Claims as auth_verify would leave them for this payload and user id. */
static auth_claims_t claims(const char *payload, const char *sub)
{
    auth_claims_t c;
    memset(&c, 0, sizeof(c));
    c.payload = dec_json_parse(payload, strlen(payload));
    ck_assert_ptr_nonnull(c.payload);
    snprintf(c.sub, sizeof(c.sub), "%s", sub);
    return c;
}

/* A policy whose every rule is text (owner terms land in access_jobs only). */
static void policy(acl_t *a, const char *text)
{
    memset(a, 0, sizeof(*a));
    for (int w = 0; w < ACL_NWHAT; w++)
        ck_assert_msg(
            acl_rule_parse(&a->rule[w], w == ACL_JOBS ? text : "any", 1, err, sizeof(err)) == DG_OK,
            "%s", err);
    snprintf(a->user_prefix, sizeof(a->user_prefix), "user:");
}

/* ---------------------------------------------------------------------------------------------
 * Parsing */

START_TEST(test_parse_good)
{
    acl_rule_t r;
    ck_assert_int_eq(acl_rule_parse(&r, "any", 0, err, sizeof(err)), DG_OK);
    ck_assert_int_eq(r.nterms, 1);
    ck_assert_int_eq(r.term[0].kind, ACL_ANY);
    ck_assert_int_eq(acl_rule_needs_token(&r), 0);
    ck_assert_int_eq(acl_rule_parse(&r, " none ", 0, err, sizeof(err)), DG_OK);
    ck_assert_int_eq(r.term[0].kind, ACL_NONE);
    ck_assert_int_eq(acl_rule_needs_token(&r), 0);
    ck_assert_int_eq(acl_rule_parse(&r,
                                    "owner:user.id | scope:jobs:all|claim:realm_access.roles=ops"
                                    "\t|authenticated",
                                    1, err, sizeof(err)),
                     DG_OK);
    ck_assert_int_eq(r.nterms, 4);
    ck_assert_int_eq(r.term[0].kind, ACL_OWNER);
    ck_assert_str_eq(r.term[0].name, "user.id");
    ck_assert_int_eq(r.term[1].kind, ACL_SCOPE);
    ck_assert_str_eq(r.term[1].name, "jobs:all");
    ck_assert_int_eq(r.term[2].kind, ACL_CLAIM);
    ck_assert_str_eq(r.term[2].name, "realm_access.roles");
    ck_assert_str_eq(r.term[2].value, "ops");
    ck_assert_int_eq(r.term[3].kind, ACL_AUTHENTICATED);
    ck_assert_int_eq(acl_rule_needs_token(&r), 1);
    /* The first '=' ends the path; the value may hold more. */
    ck_assert_int_eq(acl_rule_parse(&r, "claim:https://ex.com/t=a=b", 0, err, sizeof(err)), DG_OK);
    ck_assert_str_eq(r.term[0].name, "https://ex.com/t");
    ck_assert_str_eq(r.term[0].value, "a=b");
    /* Eight terms fit. */
    ck_assert_int_eq(acl_rule_parse(&r,
                                    "scope:a|scope:b|scope:c|scope:d|scope:e|scope:f|"
                                    "scope:g|scope:h",
                                    0, err, sizeof(err)),
                     DG_OK);
    ck_assert_int_eq(r.nterms, 8);
    ck_assert_str_eq(acl_key(ACL_JOBS), "access_jobs");
    ck_assert_str_eq(acl_key(ACL_USER_ROOMS), "access_user_rooms");
    ck_assert_str_eq(acl_key(ACL_NWHAT), "unknown");
}
END_TEST

#define FORMS "(any, none, authenticated, scope:NAME, claim:PATH=VALUE, owner:PATH)"
#define LONG127                                                                                    \
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"     \
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

static const struct {
    const char *text;
    int owner;
    const char *err;
} parse_bad[] = {
    {"", 1, "empty term " FORMS},
    {"  ", 1, "empty term " FORMS},
    {"scope:a|", 1, "empty term " FORMS},
    {"|scope:a", 1, "empty term " FORMS},
    {"Any", 1, "unknown term 'Any' " FORMS},
    {"scope", 1, "unknown term 'scope' " FORMS},
    {"everyone-and-their-dog-and-their-dog's-friends", 1,
     "unknown term 'everyone-and-their-dog-and-their-dog's-f' " FORMS},
    {"any|none", 1, "'any' and 'none' must stand alone"},
    {"scope:a | any", 1, "'any' and 'none' must stand alone"},
    {"none | scope:a", 1, "'any' and 'none' must stand alone"},
    {"scope:", 1, "empty scope name"},
    {"scope:a b", 1, "scope name may only hold printable ASCII without spaces"},
    {"scope:caf\xc3\xa9", 1, "scope name may only hold printable ASCII without spaces"},
    {"scope:" LONG127 "x", 1, "scope name longer than 127 bytes"},
    {"claim:role", 1, "claim term needs claim:PATH=VALUE"},
    {"claim:=admin", 1, "empty claim path"},
    {"claim:role=", 1, "empty claim value"},
    {"owner:", 1, "empty owner path"},
    {"owner:userId", 0, "owner:PATH is only for access_jobs"},
    {"scope:a|scope:b|scope:c|scope:d|scope:e|scope:f|scope:g|scope:h|scope:i", 1,
     "more than 8 terms"},
};

START_TEST(test_parse_bad)
{
    acl_rule_t r;
    memset(&r, 0x55, sizeof(r));
    ck_assert_int_eq(acl_rule_parse(&r, parse_bad[_i].text, parse_bad[_i].owner, err, sizeof(err)),
                     DG_EINVAL);
    ck_assert_str_eq(err, parse_bad[_i].err);
    ck_assert_int_eq(r.nterms, 0);
}
END_TEST

/* Every truncation of a valid rule parses or fails with a reason; nothing else. */
START_TEST(test_parse_truncated)
{
    const char *text = "owner:userId | scope:jobs:all | claim:role=admin | authenticated";
    char buf[128];
    acl_rule_t r;
    for (size_t cut = 0; cut <= strlen(text); cut++) {
        memcpy(buf, text, cut);
        buf[cut] = '\0';
        err[0] = '\0';
        int rc = acl_rule_parse(&r, buf, 1, err, sizeof(err));
        ck_assert(rc == DG_OK || (rc == DG_EINVAL && err[0] != '\0'));
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Evaluation */

START_TEST(test_terms)
{
    acl_t a;
    auth_claims_t c = claims("{\"sub\":\"u1\",\"scope\":\"logs:read jobs:all\",\"role\":\"ops\","
                             "\"roles\":[\"a\",\"b\"],\"lvl\":3}",
                             "u1");
    static const struct {
        const char *rule;
        int anon, authed;
    } cases[] = {
        {"any", 1, 1},
        {"none", 0, 0},
        {"authenticated", 0, 1},
        {"scope:logs:read", 0, 1},
        {"scope:logs", 0, 0},
        {"scope:logs:write", 0, 0},
        {"claim:role=ops", 0, 1},
        {"claim:role=admin", 0, 0},
        {"claim:roles=b", 0, 1},
        {"claim:lvl=3", 0, 1},
        {"claim:missing=x", 0, 0},
        {"scope:x | claim:role=admin", 0, 0},
        {"scope:x | claim:role=ops", 0, 1},
        {"scope:x|scope:y|authenticated", 0, 1},
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(cases); i++) {
        policy(&a, cases[i].rule);
        ck_assert_msg(acl_allows(&a, ACL_JOBS, NULL, NULL, 0) == cases[i].anon, "anon %s",
                      cases[i].rule);
        ck_assert_msg(acl_allows(&a, ACL_JOBS, &c, NULL, 0) == cases[i].authed, "authed %s",
                      cases[i].rule);
    }
    /* A zeroed claims struct is anonymous too. */
    auth_claims_t z;
    memset(&z, 0, sizeof(z));
    policy(&a, "authenticated");
    ck_assert_int_eq(acl_allows(&a, ACL_JOBS, &z, NULL, 0), 0);
    /* Out of range, or a zeroed policy: deny. */
    ck_assert_int_eq(acl_allows(&a, ACL_NWHAT, &c, NULL, 0), 0);
    ck_assert_int_eq(acl_allows(&a, -1, &c, NULL, 0), 0);
    acl_t zero;
    memset(&zero, 0, sizeof(zero));
    ck_assert_int_eq(acl_allows(&zero, ACL_LOGS, &c, NULL, 0), 0);
    auth_claims_clear(&c);
}
END_TEST

START_TEST(test_owner)
{
    acl_t a;
    policy(&a, "owner:userId | scope:jobs:all");
    ck_assert_int_eq(acl_needs_job_data(&a), 1);
    auth_claims_t u42 = claims("{\"sub\":42}", "42"),
                  admin = claims("{\"scope\":\"jobs:all\"}", "adm");
    static const struct {
        const char *data;
        int owner;
    } cases[] = {
        {"{\"userId\":\"42\",\"url\":\"x\"}", 1},
        {"{\"userId\":42}", 1},
        {"{\"userId\":42.0}", 1},
        {"{\"userId\":\"042\"}", 0},
        {"{\"userId\":\"4\"}", 0},
        {"{\"userId\":true}", 0},
        {"{\"userId\":[\"42\"]}", 0},
        {"{\"user\":\"42\"}", 0},
        {"[\"42\"]", 0},
        {"not json", 0},
        {"", 0},
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(cases); i++) {
        const char *d = cases[i].data;
        ck_assert_msg(acl_allows(&a, ACL_JOBS, &u42, d, strlen(d)) == cases[i].owner, "%s", d);
        ck_assert_int_eq(acl_allows(&a, ACL_JOBS, &admin, d, strlen(d)), 1);
        ck_assert_int_eq(acl_allows(&a, ACL_JOBS, NULL, d, strlen(d)), 0);
    }
    /* No job data yet: only the other terms can allow. */
    ck_assert_int_eq(acl_allows(&a, ACL_JOBS, &u42, NULL, 0), 0);
    ck_assert_int_eq(acl_allows(&a, ACL_JOBS, &admin, NULL, 0), 1);
    /* Nested paths; job data is only looked at for jobs. */
    policy(&a, "owner:meta.owner");
    const char *d = "{\"meta\":{\"owner\":\"42\"}}";
    ck_assert_int_eq(acl_allows(&a, ACL_JOBS, &u42, d, strlen(d)), 1);
    policy(&a, "any");
    ck_assert_int_eq(acl_needs_job_data(&a), 0);
    auth_claims_clear(&u42);
    auth_claims_clear(&admin);
}
END_TEST

START_TEST(test_rooms)
{
    acl_t a;
    policy(&a, "any");
    ck_assert_int_eq(acl_rule_parse(&a.rule[ACL_ROOMS], "authenticated", 0, err, sizeof(err)),
                     DG_OK);
    ck_assert_int_eq(acl_rule_parse(&a.rule[ACL_USER_ROOMS], "scope:admin", 0, err, sizeof(err)),
                     DG_OK);
    auth_claims_t u = claims("{\"sub\":\"u1\"}", "u1"), adm = claims("{\"scope\":\"admin\"}", "a");
#define ROOM(claims, r) acl_allows_room(&a, claims, r, strlen(r))
    /* The broker's own rooms: never, whoever asks. */
    ck_assert_int_eq(ROOM(&adm, "logs"), 0);
    ck_assert_int_eq(ROOM(&adm, "job:1"), 0);
    ck_assert_int_eq(ROOM(&adm, "queue:http"), 0);
    ck_assert_int_eq(ROOM(&adm, ""), 0);
    ck_assert_int_eq(acl_allows_room(&a, &adm, NULL, 0), 0);
    /* A user's own room; another's needs access_user_rooms. */
    ck_assert_int_eq(ROOM(&u, "user:u1"), 1);
    ck_assert_int_eq(ROOM(&u, "user:u2"), 0);
    ck_assert_int_eq(ROOM(&u, "user:u1x"), 0);
    ck_assert_int_eq(ROOM(&u, "user:u"), 0);
    ck_assert_int_eq(ROOM(&u, "user:"), 0);
    ck_assert_int_eq(ROOM(NULL, "user:u1"), 0);
    ck_assert_int_eq(ROOM(&adm, "user:u1"), 1);
    /* Everything else: access_rooms. */
    ck_assert_int_eq(ROOM(&u, "project:7"), 1);
    ck_assert_int_eq(ROOM(&u, "all"), 1);
    ck_assert_int_eq(ROOM(NULL, "project:7"), 0);
    ck_assert_int_eq(ROOM(&u, "users:u2"), 1); /* not the prefix "user:" */
    /* Without user rooms, user:... is an ordinary room. */
    a.user_prefix[0] = '\0';
    ck_assert_int_eq(ROOM(&u, "user:u2"), 1);
    ck_assert_int_eq(ROOM(NULL, "user:u2"), 0);
#undef ROOM
    auth_claims_clear(&u);
    auth_claims_clear(&adm);
}
END_TEST

START_TEST(test_user_room)
{
    acl_t a;
    policy(&a, "any");
    auth_claims_t u = claims("{}", "u1");
    char out[ROUTE_ROOM_MAX];
    ck_assert_int_eq(acl_user_room(&a, &u, out, sizeof(out)), 7);
    ck_assert_str_eq(out, "user:u1");
    ck_assert_int_eq(acl_allows_room(&a, &u, out, 7), 1);
    ck_assert_int_eq(acl_user_room(&a, &u, out, 8), 7);
    ck_assert_int_eq(acl_user_room(&a, &u, out, 7), DG_ELIMIT);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(acl_user_room(&a, NULL, out, sizeof(out)), DG_ENOTFOUND);
    /* A 255-byte user id does not fit behind the prefix. */
    char sub[AUTH_SUB_MAX];
    memset(sub, 's', sizeof(sub) - 1);
    sub[sizeof(sub) - 1] = '\0';
    auth_claims_t big = claims("{}", sub);
    char large[1024];
    ck_assert_int_eq(acl_user_room(&a, &big, large, sizeof(large)), DG_ELIMIT);
    /* A prefix and an id that together name a broker room. */
    snprintf(a.user_prefix, sizeof(a.user_prefix), "j");
    auth_claims_t odd = claims("{}", "ob:1");
    ck_assert_int_eq(acl_user_room(&a, &odd, out, sizeof(out)), DG_EINVAL);
    ck_assert_str_eq(out, "");
    a.user_prefix[0] = '\0';
    ck_assert_int_eq(acl_user_room(&a, &u, out, sizeof(out)), DG_ENOTFOUND);
    auth_claims_clear(&u);
    auth_claims_clear(&big);
    auth_claims_clear(&odd);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * From the configuration */

START_TEST(test_init_from_cfg)
{
    cfg_t c;
    cfg_defaults(&c);
    acl_t a;
    ck_assert_int_eq(acl_init(&a, &c, err, sizeof(err)), DG_OK);
    ck_assert_str_eq(a.user_prefix, "user:");
    for (int w = 0; w < ACL_NWHAT; w++)
        ck_assert_int_eq(a.rule[w].term[0].kind, w == ACL_USER_ROOMS ? ACL_NONE : ACL_ANY);
    ck_assert_int_eq(acl_allows(&a, ACL_LOGS, NULL, NULL, 0), 1); /* today's behaviour */
    ck_assert_int_eq(acl_needs_job_data(&a), 0);
    char e2[256];
    ck_assert_int_eq(cfg_set(&c, "access_logs", "scope:logs:read", "t", e2, sizeof(e2)), DG_OK);
    ck_assert_int_eq(cfg_set(&c, "access_jobs", "owner:userId|scope:a", "t", e2, sizeof(e2)),
                     DG_OK);
    ck_assert_int_eq(acl_init(&a, &c, err, sizeof(err)), DG_OK);
    ck_assert_int_eq(acl_allows(&a, ACL_LOGS, NULL, NULL, 0), 0);
    ck_assert_int_eq(acl_needs_job_data(&a), 1);
    /* Code that writes fields directly gets the parser's verdict with the key name. */
    snprintf(c.access_rooms, sizeof(c.access_rooms), "owner:x");
    ck_assert_int_eq(acl_init(&a, &c, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "access_rooms: owner:PATH is only for access_jobs");
    ck_assert_int_eq(a.rule[ACL_JOBS].nterms, 0);
}
END_TEST

Suite *acl_suite(void)
{
    Suite *s = suite_create("acl");
    TCase *t = tcase_create("parse");
    tcase_add_test(t, test_parse_good);
    tcase_add_loop_test(t, test_parse_bad, 0, (int)DG_ARRAY_LEN(parse_bad));
    tcase_add_test(t, test_parse_truncated);
    suite_add_tcase(s, t);
    t = tcase_create("evaluate");
    tcase_add_test(t, test_terms);
    tcase_add_test(t, test_owner);
    tcase_add_test(t, test_rooms);
    tcase_add_test(t, test_user_room);
    tcase_add_test(t, test_init_from_cfg);
    suite_add_tcase(s, t);
    return s;
}
