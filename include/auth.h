/* auth.h - who a client is: JSON Web Tokens (RFC 7519, JWS compact form) verified against the
 * [auth] keys, the claims a verified token carries, and where a token is found in a request
 * (Authorization header, access_token query parameter, Socket.IO CONNECT auth object).
 * Not the policy (acl.h decides what a token may do) and not the transport: it never reads a
 * socket, never logs, and no error text it writes ever holds a token, a claim value or a key.
 *
 * Why OpenSSL's libcrypto directly and not Debian's libjwt 1.10.2: libjwt's jwt_decode()
 * verifies with whatever `alg` the token names, so an RS256 deployment's PEM public key is
 * accepted as the HMAC secret of a forged HS256 token unless every caller re-checks the alg
 * afterwards (tried on this Debian: it returns 0); it has no claim validation at all (exp, nbf,
 * iss, aud, leeway are the caller's in 1.10), re-parses the PEM key on every call, needs a
 * NUL-terminated token, and is itself a thin layer over libcrypto and jansson. Here the key is
 * parsed once at start, the algorithm is fixed by the key type before any signature is checked,
 * and libcrypto does all cryptography (HMAC, RSA and ECDSA verification, constant-time compare,
 * base64), jansson all JSON; the only code of our own is the compact-form framing and the claim
 * rules below.
 *
 * Accepted tokens:
 *   - alg fixed by the configured key: jwt_secret -> HS256 only; jwt_public_key_file with an
 *     RSA key (>= 2048 bits) -> RS256 only; with an EC P-256 key -> ES256 only. `none`, any
 *     other alg and a `crit` header are refused; encrypted tokens (JWE) are refused.
 *   - duplicate member names in the header or payload are refused (no parser differentials).
 *   - exp: valid while now < exp + skew; required unless jwt_require_exp = false.
 *   - nbf: valid once now >= nbf - skew. iat is read, not checked.
 *   - iss: when jwt_issuer is set, the iss claim must be that string.
 *   - aud: when jwt_audience is set, aud must be that string or an array holding it.
 *   - the user id (jwt_user_claim, default sub; a path as in jpath.h): a non-empty string of at
 *     most AUTH_SUB_MAX - 1 bytes without control characters, or a number (formatted "42").
 * Thread: any. A verifier is immutable once built, so any number of threads may verify at once. */
#ifndef AUTH_H
#define AUTH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct json_t; /* jansson's */

#define AUTH_TOKEN_MAX 8192 /* longest token accepted, bytes */
#define AUTH_SUB_MAX 256    /* user id, NUL included */

/* Why a token was refused: one counter each in /health. AUTH_MISSING is for callers that found
 * no token at all; auth_verify never returns it. */
enum auth_fail {
    AUTH_OK = 0,
    AUTH_MISSING,       /* "missing" */
    AUTH_MALFORMED,     /* "malformed": not a JWS compact token, bad base64 or JSON, crit */
    AUTH_ALG,           /* "algorithm": none, or not the one the key allows */
    AUTH_SIGNATURE,     /* "signature" */
    AUTH_EXPIRED,       /* "expired" */
    AUTH_NOT_YET_VALID, /* "not_yet_valid" */
    AUTH_ISSUER,        /* "issuer" */
    AUTH_AUDIENCE,      /* "audience" */
    AUTH_CLAIMS,        /* "claims": exp missing or not a number, no usable user id, ... */
    AUTH_NFAIL
};

/* Static lower-case name of a fail reason ("expired"), "unknown" out of range. Thread: any. */
const char *auth_fail_name(int fail);

/* What one server's transports count of their token checks (for /health). Embeddable, zeroed
 * to start; fields public, updated with atomic adds. Thread: any. */
typedef struct auth_stats {
    _Atomic uint64_t accepted;            /* requests / handshakes with a verified token */
    _Atomic uint64_t refused[AUTH_NFAIL]; /* answered 401 / CONNECT_ERROR, by reason
                                             (AUTH_MISSING: auth = required without a token) */
    _Atomic uint64_t forbidden;           /* subscriptions the access rules refused (403) */
    _Atomic uint64_t expired_closed;      /* connections closed when their token expired */
} auth_stats_t;

/* ---- Verifier ------------------------------------------------------------------------------ */

typedef struct auth_verifier auth_verifier_t;

/* Builds a verifier from c's [auth] keys: reads and parses jwt_public_key_file (PEM "PUBLIC
 * KEY", "RSA PUBLIC KEY" or "CERTIFICATE"; a private key is refused) or copies jwt_secret.
 * Works whatever c->auth is (the caller builds one only when auth is not off). Returns 0 with
 * *out (free with auth_verifier_free), DG_EINVAL (no key, both keys, unusable key: errstr says
 * why, naming the key file but never a secret), DG_EIO (key file unreadable), DG_ENOMEM.
 * Thread: any (normally main, at start). */
int auth_verifier_new(const cfg_t *c, auth_verifier_t **out, char *errstr, size_t errlen);

/* Frees v (wiping the secret); NULL is fine. No verification may be running on it. */
void auth_verifier_free(auth_verifier_t *v);

/* "HS256", "RS256" or "ES256": the only alg v accepts. */
const char *auth_verifier_alg(const auth_verifier_t *v);

/* ---- Claims -------------------------------------------------------------------------------- */

/* A verified token's claims. Embeddable; fields public and read-only except payload. Immutable
 * once filled, so threads may read one concurrently (jansson's reference counts are atomic). */
typedef struct auth_claims {
    char sub[AUTH_SUB_MAX];  /* the user id (jwt_user_claim), "" in a zeroed struct */
    long long exp, nbf, iat; /* seconds since the epoch (fraction dropped); 0 when absent */
    int has_exp, has_nbf, has_iat;
    struct json_t *payload; /* private: the whole claim set; use the accessors below */
} auth_claims_t;

/* Verifies token[0..len) (need not be NUL-terminated) at time now (seconds since the epoch).
 * Returns 0 with *out filled (release it with auth_claims_clear), DG_EPROTO when the token is
 * refused (out zeroed, *fail = the reason, errstr a fixed text such as "token expired"),
 * DG_ENOMEM. fail and errstr may be NULL. */
int auth_verify(const auth_verifier_t *v, const char *token, size_t len, long long now,
                auth_claims_t *out, int *fail, char *errstr, size_t errlen);

/* When to send token_expiring_soon (exp - token_expiry_warning_s; may already be past: send it
 * at once) and when to close the connection (exp + jwt_clock_skew_s, the first second at which
 * auth_verify would refuse the token). 0 = never (no exp; or, for the warning, warnings off). */
long long auth_warn_at(const auth_verifier_t *v, const auth_claims_t *c);
long long auth_close_at(const auth_verifier_t *v, const auth_claims_t *c);

/* Seconds from now until exp (>= 0), the `expiresIn` of token_expiring_soon; 0 without exp. */
long long auth_expires_in(const auth_claims_t *c, long long now);

/* 1 if the token grants scope name[0..len): an item of the space-separated `scope` string, or
 * of `scp` / `scopes` / `permissions` (a string of such items, or an array of strings). */
int auth_claims_has_scope(const auth_claims_t *c, const char *name, size_t len);

/* 1 if the claim at path (jpath.h) equals value[0..len) as text (strings exactly, numbers as
 * String(n), true/false), or is an array with such an element. 0 otherwise. */
int auth_claims_match(const auth_claims_t *c, const char *path, size_t plen, const char *value,
                      size_t len);

/* The claim at path, borrowed from c (valid until c is cleared), or NULL. */
const struct json_t *auth_claims_get(const auth_claims_t *c, const char *path, size_t len);

/* Makes dst a second reference to src's claims (dst is overwritten, not cleared first). */
void auth_claims_copy(auth_claims_t *dst, const auth_claims_t *src);

/* Releases c's claims and zeroes it; safe on a zeroed struct. */
void auth_claims_clear(auth_claims_t *c);

/* ---- Where tokens come from ---------------------------------------------------------------- */
/* Each returns 0 with the token, DG_ENOTFOUND when there is none (the request is anonymous),
 * DG_EPROTO when one is given but malformed (answer 401 / CONNECT_ERROR, do not fall back to
 * anonymous), DG_ELIMIT when it is longer than AUTH_TOKEN_MAX. Thread: any. */

/* An Authorization header value "Bearer <token>" (scheme case-insensitive, token68 syntax).
 * *tok points into value. Another scheme ("Basic ...") is DG_ENOTFOUND. */
int auth_bearer(const char *value, size_t len, const char **tok, size_t *tok_len);

/* The access_token parameter of a raw query string (with or without the leading '?'). *tok
 * points into qs. No percent-decoding: a JWT is [A-Za-z0-9._-] only, so '%', '+' or any other
 * byte is DG_EPROTO, as is a second access_token parameter. */
int auth_query_token(const char *qs, size_t len, const char **tok, size_t *tok_len);

/* auth.token of a Socket.IO CONNECT packet: json[0..len) is the packet's data, the object
 * socket.io-client's `auth` option sends ({"token":"..."}; an optional "Bearer " prefix is
 * dropped). len 0 (no auth object) or no token member is DG_ENOTFOUND; not an object, token not
 * a string, or empty is DG_EPROTO. The token is copied into out[0..cap), NUL-terminated
 * (DG_ELIMIT when it does not fit). */
int auth_sio_token(const char *json, size_t len, char *out, size_t cap, size_t *out_len);

#endif
