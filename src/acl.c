/* acl.c - the access_* rule parser and its evaluation. Evaluation is a handful of string
 * compares on an already verified token; only owner terms parse JSON (the job's data, once). */
#include "acl.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "auth.h"
#include "decode.h"
#include "dg.h"
#include "jpath.h"
#include "route.h"

static const char *const acl_keys[ACL_NWHAT] = {
    "access_jobs",       "access_queues", "access_logs",
    "access_logs_write", "access_rooms",  "access_user_rooms",
};

const char *acl_key(int what)
{
    return what >= 0 && what < ACL_NWHAT ? acl_keys[what] : "unknown";
}

/* ---------------------------------------------------------------------------------------------
 * Parsing */

#define TERM_FORMS "any, none, authenticated, scope:NAME, claim:PATH=VALUE, owner:PATH"

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int starts_with(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len >= n && memcmp(s, lit, n) == 0;
}

static int equals(const char *s, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

/* Copies a NAME / PATH / VALUE part into dst after checking it. */
static int take(char *dst, const char *s, size_t n, const char *what, char *why, size_t wlen)
{
    if (n == 0) {
        dg_errf(why, wlen, "empty %s", what);
        return DG_EINVAL;
    }
    if (n >= ACL_TEXT_MAX) {
        dg_errf(why, wlen, "%s longer than %d bytes", what, ACL_TEXT_MAX - 1);
        return DG_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] <= ' ' || s[i] > '~') {
            dg_errf(why, wlen, "%s may only hold printable ASCII without spaces", what);
            return DG_EINVAL;
        }
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return DG_OK;
}

static int parse_term(acl_term_t *t, const char *s, size_t n, int allow_owner, char *why,
                      size_t wlen)
{
    memset(t, 0, sizeof(*t));
    if (equals(s, n, "any")) {
        t->kind = ACL_ANY;
        return DG_OK;
    }
    if (equals(s, n, "none")) {
        t->kind = ACL_NONE;
        return DG_OK;
    }
    if (equals(s, n, "authenticated")) {
        t->kind = ACL_AUTHENTICATED;
        return DG_OK;
    }
    if (starts_with(s, n, "scope:")) {
        t->kind = ACL_SCOPE;
        return take(t->name, s + 6, n - 6, "scope name", why, wlen);
    }
    if (starts_with(s, n, "claim:")) {
        const char *p = s + 6, *eq = memchr(p, '=', n - 6);
        if (!eq) {
            dg_errf(why, wlen, "claim term needs claim:PATH=VALUE");
            return DG_EINVAL;
        }
        t->kind = ACL_CLAIM;
        int rc = take(t->name, p, (size_t)(eq - p), "claim path", why, wlen);
        if (rc == DG_OK)
            rc = take(t->value, eq + 1, (size_t)(s + n - eq - 1), "claim value", why, wlen);
        return rc;
    }
    if (starts_with(s, n, "owner:")) {
        if (!allow_owner) {
            dg_errf(why, wlen, "owner:PATH is only for access_jobs");
            return DG_EINVAL;
        }
        t->kind = ACL_OWNER;
        return take(t->name, s + 6, n - 6, "owner path", why, wlen);
    }
    dg_errf(why, wlen, "unknown term '%.*s' (%s)", (int)(n > 40 ? 40 : n), s, TERM_FORMS);
    return DG_EINVAL;
}

int acl_rule_parse(acl_rule_t *r, const char *text, int allow_owner, char *errstr, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    const char *p = text ? text : "";
    int alone = 0; /* an any / none term was seen */
    for (;;) {
        const char *bar = strchr(p, '|');
        const char *b = p, *e = bar ? bar : p + strlen(p);
        while (b < e && is_blank(*b))
            b++;
        while (e > b && is_blank(e[-1]))
            e--;
        int rc = DG_OK;
        if (e == b) {
            dg_errf(errstr, errlen, "empty term (%s)", TERM_FORMS);
            rc = DG_EINVAL;
        } else if (r->nterms == ACL_TERMS_MAX) {
            dg_errf(errstr, errlen, "more than %d terms", ACL_TERMS_MAX);
            rc = DG_EINVAL;
        } else {
            rc = parse_term(&r->term[r->nterms], b, (size_t)(e - b), allow_owner, errstr, errlen);
        }
        if (rc == DG_OK) {
            int k = r->term[r->nterms].kind;
            if (k == ACL_ANY || k == ACL_NONE)
                alone = 1;
            r->nterms++;
            if (alone && r->nterms > 1) {
                dg_errf(errstr, errlen, "'any' and 'none' must stand alone");
                rc = DG_EINVAL;
            }
        }
        if (rc != DG_OK) {
            memset(r, 0, sizeof(*r));
            return rc;
        }
        if (!bar)
            return DG_OK;
        p = bar + 1;
    }
}

int acl_rule_needs_token(const acl_rule_t *r)
{
    for (int i = 0; i < r->nterms; i++)
        if (r->term[i].kind != ACL_ANY && r->term[i].kind != ACL_NONE)
            return 1;
    return 0;
}

int acl_init(acl_t *a, const cfg_t *c, char *errstr, size_t errlen)
{
    const char *const text[ACL_NWHAT] = {
        c->access_jobs,       c->access_queues, c->access_logs,
        c->access_logs_write, c->access_rooms,  c->access_user_rooms,
    };
    char why[200];
    memset(a, 0, sizeof(*a));
    for (int w = 0; w < ACL_NWHAT; w++) {
        if (acl_rule_parse(&a->rule[w], text[w], w == ACL_JOBS, why, sizeof(why)) != DG_OK) {
            dg_errf(errstr, errlen, "%s: %s", acl_keys[w], why);
            memset(a, 0, sizeof(*a));
            return DG_EINVAL;
        }
    }
    snprintf(a->user_prefix, sizeof(a->user_prefix), "%s", c->user_room_prefix);
    return DG_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Evaluation */

int acl_needs_job_data(const acl_t *a)
{
    const acl_rule_t *r = &a->rule[ACL_JOBS];
    for (int i = 0; i < r->nterms; i++)
        if (r->term[i].kind == ACL_OWNER)
            return 1;
    return 0;
}

/* Lazily parsed job data, shared by every owner term of one evaluation. */
struct job_ctx {
    const char *text;
    size_t len;
    json_t *data;
    int parsed;
};

static int owner_matches(const acl_term_t *t, const struct auth_claims *c, struct job_ctx *j)
{
    if (!c || !c->sub[0] || !j->text || j->len == 0)
        return 0;
    if (!j->parsed) {
        j->parsed = 1;
        j->data = dec_json_parse(j->text, j->len);
    }
    const json_t *v = jpath_get(j->data, t->name, strlen(t->name));
    if (!json_is_string(v) && !json_is_number(v))
        return 0; /* "owner: true" owns nothing */
    char buf[AUTH_SUB_MAX];
    int n = jpath_text(v, buf, sizeof(buf));
    return n > 0 && strcmp(buf, c->sub) == 0;
}

static int term_allows(const acl_term_t *t, const struct auth_claims *c, struct job_ctx *j)
{
    int authed = c && c->payload;
    switch (t->kind) {
    case ACL_ANY:
        return 1;
    case ACL_AUTHENTICATED:
        return authed;
    case ACL_SCOPE:
        return authed && auth_claims_has_scope(c, t->name, strlen(t->name));
    case ACL_CLAIM:
        return authed && auth_claims_match(c, t->name, strlen(t->name), t->value, strlen(t->value));
    case ACL_OWNER:
        return authed && owner_matches(t, c, j);
    default: /* ACL_NONE, or a zeroed rule: deny */
        return 0;
    }
}

int acl_allows(const acl_t *a, int what, const struct auth_claims *claims, const char *job_data,
               size_t job_data_len)
{
    if (what < 0 || what >= ACL_NWHAT)
        return 0;
    const acl_rule_t *r = &a->rule[what];
    struct job_ctx j = {what == ACL_JOBS ? job_data : NULL, job_data_len, NULL, 0};
    int ok = 0;
    for (int i = 0; i < r->nterms && !ok; i++)
        ok = term_allows(&r->term[i], claims, &j);
    json_decref(j.data);
    return ok;
}

int acl_allows_room(const acl_t *a, const struct auth_claims *claims, const char *room, size_t len)
{
    if (!room || len == 0 || route_room_reserved(room, len))
        return 0;
    size_t plen = strlen(a->user_prefix);
    if (plen > 0 && starts_with(room, len, a->user_prefix)) {
        const char *id = room + plen;
        size_t idn = len - plen;
        if (claims && claims->payload && idn > 0 && equals(id, idn, claims->sub))
            return 1;
        return acl_allows(a, ACL_USER_ROOMS, claims, NULL, 0);
    }
    return acl_allows(a, ACL_ROOMS, claims, NULL, 0);
}

int acl_user_room(const acl_t *a, const struct auth_claims *claims, char *out, size_t cap)
{
    if (out && cap)
        out[0] = '\0';
    if (!a->user_prefix[0] || !claims || !claims->payload || !claims->sub[0])
        return DG_ENOTFOUND;
    size_t pn = strlen(a->user_prefix), sn = strlen(claims->sub);
    if (!out || pn + sn >= cap || pn + sn >= ROUTE_ROOM_MAX)
        return DG_ELIMIT;
    memcpy(out, a->user_prefix, pn);
    memcpy(out + pn, claims->sub, sn + 1);
    if (route_room_reserved(out, pn + sn)) { /* never put a user into job or log rooms */
        out[0] = '\0';
        return DG_EINVAL;
    }
    return (int)(pn + sn);
}
