/* fuzz_acl.c - libFuzzer driver for acl.c: the access rule parser and its evaluation.
 * Input: "<rule>\0<claims JSON>\0<job data JSON>\0<room>"; missing parts are empty (claims
 * absent or not an object = anonymous). The rule is parsed as access_jobs (owner allowed) and
 * evaluated for jobs and rooms. Invariants (abort on breach): a failed parse leaves an empty
 * rule; `none` never allows; anonymous clients pass only `any`; reserved rooms never pass.
 * Build: see tests/fuzz/README.md. -DFUZZ_MAIN adds a main() running the files named. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "acl.h"
#include "auth.h"
#include "decode.h"
#include "dg.h"
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Splits at the next NUL: *part = [p, nul), returns what follows (or end). */
static const char *next(const char *p, const char *end, const char **part, size_t *n)
{
    const char *nul = memchr(p, '\0', (size_t)(end - p));
    *part = p;
    *n = (size_t)((nul ? nul : end) - p);
    return nul ? nul + 1 : end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    const char *p = (const char *)data, *end = p + size, *rule, *claims, *job, *room;
    size_t rn, cn, jn, mn;
    p = next(p, end, &rule, &rn);
    p = next(p, end, &claims, &cn);
    p = next(p, end, &job, &jn);
    next(p, end, &room, &mn);

    char text[CFG_STR_MAX], err[256];
    if (rn >= sizeof(text))
        return 0;
    memcpy(text, rule, rn);
    text[rn] = '\0';
    static acl_t a;
    memset(&a, 0, sizeof(a));
    if (acl_rule_parse(&a.rule[ACL_JOBS], text, 1, err, sizeof(err)) != DG_OK) {
        if (a.rule[ACL_JOBS].nterms != 0)
            abort();
        return 0;
    }
    a.rule[ACL_ROOMS] = a.rule[ACL_JOBS];
    a.rule[ACL_USER_ROOMS] = a.rule[ACL_JOBS];
    snprintf(a.user_prefix, sizeof(a.user_prefix), "user:");

    auth_claims_t c;
    memset(&c, 0, sizeof(c));
    c.payload = dec_json_parse(claims, cn);
    if (c.payload && !json_is_object(c.payload)) {
        json_decref(c.payload);
        c.payload = NULL;
    }
    const json_t *sub = c.payload ? json_object_get(c.payload, "sub") : NULL;
    snprintf(c.sub, sizeof(c.sub), "%s", json_is_string(sub) ? json_string_value(sub) : "u1");

    const acl_term_t *t0 = &a.rule[ACL_JOBS].term[0];
    int job_ok = acl_allows(&a, ACL_JOBS, c.payload ? &c : NULL, job, jn);
    int anon_ok = acl_allows(&a, ACL_JOBS, NULL, job, jn);
    if (t0->kind == ACL_NONE && job_ok)
        abort();
    if (anon_ok != (t0->kind == ACL_ANY))
        abort();
    int room_ok = acl_allows_room(&a, c.payload ? &c : NULL, room, mn);
    if (room_ok && (mn == 0 || route_room_reserved(room, mn)))
        abort();
    char own[ROUTE_ROOM_MAX];
    int on = acl_user_room(&a, c.payload ? &c : NULL, own, sizeof(own));
    if (on > 0 && !acl_allows_room(&a, &c, own, (size_t)on))
        abort();
    json_decref(c.payload);
    return 0;
}

#include "fuzz_replay.h"
