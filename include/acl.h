/* acl.h - who may subscribe to what: the access_* rules, parsed once, evaluated purely against
 * a token's claims (auth.h) and, for jobs, the job's data. Not authentication (auth.h says who
 * the client is) and not the transport (it acks {success:false, error:"forbidden"} on deny).
 * No I/O, no logging, no globals.
 *
 * Rule syntax (one access_* value):
 *   rule = term *( "|" term )          any term allows (spaces around '|' are ignored)
 *   term = "any"                        everyone, anonymous included (auth = optional)
 *        | "none"                       nobody
 *        | "authenticated"              any verified token
 *        | "scope:" NAME                the token grants scope NAME (auth_claims_has_scope)
 *        | "claim:" PATH "=" VALUE      the claim at PATH equals VALUE, or is an array holding it
 *        | "owner:" PATH                access_jobs only: the job's data at PATH equals the
 *                                       token's user id (BullMQ's job hash field `data`)
 *   NAME, PATH, VALUE: 1..ACL_TEXT_MAX-1 printable ASCII bytes without spaces or '|'; PATH as in
 *   jpath.h (a member name, or a dotted path into nested objects); PATH holds no '='.
 *   "any" and "none" stand alone. e.g. `access_jobs = owner:userId | scope:jobs:admin`.
 *
 * Rooms (`/sse/rooms/:room`, join_room): the broker's own rooms (route_room_reserved) are never
 * allowed; a room starting with user_room_prefix is its owner's (user_room_prefix + user id)
 * or else needs access_user_rooms; every other room needs access_rooms.
 * Thread: any; an acl_t is read-only once built. */
#ifndef ACL_H
#define ACL_H

#include <stddef.h>

#include "config.h"

struct auth_claims; /* auth.h; NULL means an anonymous client */

#define ACL_TERMS_MAX 8
#define ACL_TEXT_MAX 128

/* What a rule guards: one access_* key each. */
enum acl_what {
    ACL_JOBS,       /* access_jobs: subscribe-job, /sse/jobs/:id */
    ACL_QUEUES,     /* access_queues: subscribe-queue, /sse/queues/:name */
    ACL_LOGS,       /* access_logs: namespace /logs, /sse/logs (reading) */
    ACL_LOGS_WRITE, /* access_logs_write: a `log` a client emits on /logs */
    ACL_ROOMS,      /* access_rooms: routed and client rooms other than user rooms, and `all` */
    ACL_USER_ROOMS, /* access_user_rooms: another user's room (user_room_prefix + id) */
    ACL_NWHAT
};

enum acl_term_kind { ACL_ANY = 1, ACL_NONE, ACL_AUTHENTICATED, ACL_SCOPE, ACL_CLAIM, ACL_OWNER };

typedef struct acl_term {
    int kind;                 /* enum acl_term_kind */
    char name[ACL_TEXT_MAX];  /* scope name, claim path or owner path */
    char value[ACL_TEXT_MAX]; /* claim value */
} acl_term_t;

/* One parsed rule. Embeddable; read-only after acl_rule_parse. */
typedef struct acl_rule {
    int nterms;
    acl_term_t term[ACL_TERMS_MAX];
} acl_rule_t;

/* The whole policy. Embeddable (about 12 KiB); read-only after acl_init. */
typedef struct acl {
    acl_rule_t rule[ACL_NWHAT];
    char user_prefix[CFG_NAME_MAX]; /* "" : no user rooms */
} acl_t;

/* Parses rule text (NUL-terminated). owner terms are accepted only when allow_owner (they
 * need a job). Returns 0, or DG_EINVAL with r emptied and the reason in errstr. Thread: any. */
int acl_rule_parse(acl_rule_t *r, const char *text, int allow_owner, char *errstr, size_t errlen);

/* 1 if r can only be decided with a token (anything but any / none terms). */
int acl_rule_needs_token(const acl_rule_t *r);

/* The access_* key that guards what ("access_jobs"), "unknown" out of range. */
const char *acl_key(int what);

/* Builds the policy from c's access_* keys and user_room_prefix (already validated by config:
 * a failure here means c was changed by code). Returns 0 or DG_EINVAL with "KEY: reason". */
int acl_init(acl_t *a, const cfg_t *c, char *errstr, size_t errlen);

/* 1 if access_jobs has an owner term: the caller must then read the job's data first. */
int acl_needs_job_data(const acl_t *a);

/* 1 if the client may do what. claims: the verified token, NULL when anonymous. job_data: the
 * job's data JSON text for ACL_JOBS (NULL / 0 when the job does not exist yet or could not be
 * read: owner terms then deny, other terms still apply); ignored otherwise. */
int acl_allows(const acl_t *a, int what, const struct auth_claims *claims, const char *job_data,
               size_t job_data_len);

/* 1 if the client may receive room[0..len) (see the header comment). */
int acl_allows_room(const acl_t *a, const struct auth_claims *claims, const char *room, size_t len);

/* The client's own room (user_room_prefix + user id) into out[0..cap), NUL-terminated. Returns
 * its length, DG_ENOTFOUND (anonymous, or user rooms off), DG_ELIMIT (longer than cap - 1 or
 * ROUTE_ROOM_MAX - 1) or DG_EINVAL (it would be a reserved broker room). */
int acl_user_room(const acl_t *a, const struct auth_claims *claims, char *out, size_t cap);

#endif
