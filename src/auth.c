/* auth.c - JWT (JWS compact) verification over libcrypto and jansson, the claims accessors, and
 * token extraction from headers, query strings and Socket.IO auth objects.
 * Order of checks: framing -> header (alg pinned by the key) -> signature -> payload -> claims;
 * the payload is not even parsed before its signature is known good. */
#include "auth.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dg.h"
#include "jpath.h"

#define KEY_FILE_MAX 65536 /* a PEM public key or certificate is a few KiB */
#define RSA_MIN_BITS 2048
#define SIO_AUTH_MAX 65536 /* CONNECT auth objects larger than this are not looked into */

enum alg { ALG_HS256, ALG_RS256, ALG_ES256 };
static const char *const alg_names[] = {"HS256", "RS256", "ES256"};

static const char *const fail_names[AUTH_NFAIL] = {
    "ok",      "missing",       "malformed", "algorithm", "signature",
    "expired", "not_yet_valid", "issuer",    "audience",  "claims",
};

struct auth_verifier {
    enum alg alg;
    unsigned char secret[CFG_STR_MAX];
    size_t secret_len;
    EVP_PKEY *pkey;
    char issuer[CFG_STR_MAX];
    char audience[CFG_STR_MAX];
    char user_claim[CFG_STR_MAX];
    int skew_s, warn_s, require_exp;
};

const char *auth_fail_name(int fail)
{
    return fail >= 0 && fail < AUTH_NFAIL ? fail_names[fail] : "unknown";
}

/* ---------------------------------------------------------------------------------------------
 * Verifier */

static int read_file(const char *path, unsigned char **buf, size_t *len, char *errstr,
                     size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        dg_errf(errstr, errlen, "jwt_public_key_file: %s: %s", path, strerror(errno));
        return DG_EIO;
    }
    unsigned char *b = malloc(KEY_FILE_MAX + 1);
    if (!b) {
        fclose(f);
        dg_errf(errstr, errlen, "out of memory");
        return DG_ENOMEM;
    }
    size_t n = fread(b, 1, KEY_FILE_MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > KEY_FILE_MAX) {
        free(b);
        dg_errf(errstr, errlen, "jwt_public_key_file: %s: %s", path,
                bad ? "read error" : "larger than 64 KiB, not a PEM key");
        return bad ? DG_EIO : DG_EINVAL;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return DG_OK;
}

/* SubjectPublicKeyInfo or PKCS#1 through OpenSSL's decoders, else an X.509 certificate. */
static EVP_PKEY *parse_public_pem(const unsigned char *pem, size_t len)
{
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *dctx =
        OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL, EVP_PKEY_PUBLIC_KEY, NULL, NULL);
    if (dctx) {
        const unsigned char *p = pem;
        size_t n = len;
        if (OSSL_DECODER_from_data(dctx, &p, &n) != 1)
            pkey = NULL;
        OSSL_DECODER_CTX_free(dctx);
    }
    if (pkey)
        return pkey;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return NULL;
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (x) {
        pkey = X509_get_pubkey(x);
        X509_free(x);
    }
    return pkey;
}

static int load_key(auth_verifier_t *v, const char *path, char *errstr, size_t errlen)
{
    unsigned char *pem = NULL;
    size_t len = 0;
    int rc = read_file(path, &pem, &len, errstr, errlen);
    if (rc != DG_OK)
        return rc;
    rc = DG_EINVAL;
    if (strstr((const char *)pem, "PRIVATE KEY-----")) {
        dg_errf(errstr, errlen,
                "jwt_public_key_file: %s holds a private key; give the public key "
                "(openssl pkey -in KEY -pubout)",
                path);
        goto out;
    }
    v->pkey = parse_public_pem(pem, len);
    ERR_clear_error();
    if (!v->pkey) {
        dg_errf(errstr, errlen, "jwt_public_key_file: %s: no PEM public key or certificate found",
                path);
        goto out;
    }
    int id = EVP_PKEY_get_base_id(v->pkey);
    if (id == EVP_PKEY_RSA) {
        if (EVP_PKEY_get_bits(v->pkey) < RSA_MIN_BITS) {
            dg_errf(errstr, errlen, "jwt_public_key_file: %s: RSA key of %d bits (at least %d)",
                    path, EVP_PKEY_get_bits(v->pkey), RSA_MIN_BITS);
            goto out;
        }
        v->alg = ALG_RS256;
    } else if (id == EVP_PKEY_EC) {
        char group[64] = "";
        size_t glen = 0;
        if (EVP_PKEY_get_group_name(v->pkey, group, sizeof(group), &glen) != 1 ||
            strcmp(group, "prime256v1") != 0) {
            dg_errf(errstr, errlen,
                    "jwt_public_key_file: %s: EC key on curve %s (ES256 needs P-256)", path,
                    group[0] ? group : "unknown");
            goto out;
        }
        v->alg = ALG_ES256;
    } else {
        dg_errf(errstr, errlen,
                "jwt_public_key_file: %s: unsupported key type (RSA for RS256, EC P-256 for "
                "ES256)",
                path);
        goto out;
    }
    rc = DG_OK;
out:
    OPENSSL_cleanse(pem, len);
    free(pem);
    if (rc != DG_OK && v->pkey) {
        EVP_PKEY_free(v->pkey);
        v->pkey = NULL;
    }
    return rc;
}

int auth_verifier_new(const cfg_t *c, auth_verifier_t **out, char *errstr, size_t errlen)
{
    *out = NULL;
    size_t slen = strnlen(c->jwt_secret, sizeof(c->jwt_secret));
    int has_secret = slen > 0, has_key = c->jwt_public_key_file[0] != '\0';
    if (has_secret == has_key) {
        dg_errf(errstr, errlen, "%s",
                has_secret ? "set jwt_secret or jwt_public_key_file, not both"
                           : "set jwt_secret (HS256) or jwt_public_key_file (RS256/ES256)");
        return DG_EINVAL;
    }
    auth_verifier_t *v = calloc(1, sizeof(*v));
    if (!v) {
        dg_errf(errstr, errlen, "out of memory");
        return DG_ENOMEM;
    }
    if (has_secret) {
        v->alg = ALG_HS256;
        memcpy(v->secret, c->jwt_secret, slen);
        v->secret_len = slen;
    } else {
        int rc = load_key(v, c->jwt_public_key_file, errstr, errlen);
        if (rc != DG_OK) {
            auth_verifier_free(v);
            return rc;
        }
    }
    snprintf(v->issuer, sizeof(v->issuer), "%s", c->jwt_issuer);
    snprintf(v->audience, sizeof(v->audience), "%s", c->jwt_audience);
    snprintf(v->user_claim, sizeof(v->user_claim), "%s", c->jwt_user_claim);
    v->skew_s = c->jwt_clock_skew_s;
    v->warn_s = c->token_expiry_warning_s;
    v->require_exp = c->jwt_require_exp;
    *out = v;
    return DG_OK;
}

void auth_verifier_free(auth_verifier_t *v)
{
    if (!v)
        return;
    EVP_PKEY_free(v->pkey);
    OPENSSL_cleanse(v, sizeof(*v));
    free(v);
}

const char *auth_verifier_alg(const auth_verifier_t *v)
{
    return alg_names[v->alg];
}

/* ---------------------------------------------------------------------------------------------
 * Compact-form pieces */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url_char(unsigned char c)
{
    return c != '\0' && strchr(b64url_alphabet, c) != NULL;
}

/* The 6-bit value of a character b64url_char accepted. */
static int b64url_value(unsigned char c)
{
    return (int)(strchr(b64url_alphabet, c) - b64url_alphabet);
}

/* Unpadded base64url (RFC 7515 section 2) into a malloc'd buffer. Strict: only the url
 * alphabet, no '=', and the unused low bits of the last character zero, so one byte string
 * has exactly one encoding. libcrypto decodes once the text is in the standard alphabet. */
static int b64url_decode(const char *s, size_t n, unsigned char **out, size_t *out_len)
{
    *out = NULL;
    if (n % 4 == 1)
        return DG_EPROTO;
    for (size_t i = 0; i < n; i++)
        if (!b64url_char((unsigned char)s[i]))
            return DG_EPROTO;
    if (n % 4 == 2 && (b64url_value((unsigned char)s[n - 1]) & 0x0F))
        return DG_EPROTO;
    if (n % 4 == 3 && (b64url_value((unsigned char)s[n - 1]) & 0x03))
        return DG_EPROTO;
    size_t pad = (4 - n % 4) % 4, tn = n + pad;
    unsigned char *t = malloc(tn + 1), *o = malloc(tn / 4 * 3 + 1);
    if (!t || !o) {
        free(t);
        free(o);
        return DG_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : (unsigned char)s[i];
    memset(t + n, '=', pad);
    int r = tn ? EVP_DecodeBlock(o, t, (int)tn) : 0;
    free(t);
    if (r < 0 || (size_t)r < pad) {
        free(o);
        return DG_EPROTO;
    }
    *out = o;
    *out_len = (size_t)r - pad; /* EVP_DecodeBlock counts the padding as zero bytes */
    return DG_OK;
}

static json_t *b64url_json(const char *s, size_t n)
{
    unsigned char *raw = NULL;
    size_t rn = 0;
    if (b64url_decode(s, n, &raw, &rn) != DG_OK)
        return NULL;
    /* Duplicate names are refused: two parsers reading one token differently is a classic
     * bypass. NUL inside strings is refused too (jansson's default), so C strings are safe. */
    json_t *v =
        json_loadb((const char *)raw, rn, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, NULL);
    free(raw);
    if (v && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* ---------------------------------------------------------------------------------------------
 * Signatures */

static int verify_hmac(const auth_verifier_t *v, const char *input, size_t n,
                       const unsigned char *sig, size_t sn)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!HMAC(EVP_sha256(), v->secret, (int)v->secret_len, (const unsigned char *)input, n, md,
              &mdlen))
        return 0;
    int ok = sn == mdlen && CRYPTO_memcmp(md, sig, sn) == 0;
    OPENSSL_cleanse(md, sizeof(md));
    return ok;
}

static int verify_pkey(const auth_verifier_t *v, const char *input, size_t n,
                       const unsigned char *sig, size_t sn)
{
    unsigned char *der = NULL;
    int derlen = 0, ok = 0;
    if (v->alg == ALG_ES256) {
        /* JWS carries R || S (32 bytes each); libcrypto verifies the DER SEQUENCE form. */
        if (sn != 64)
            return 0;
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
        if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(es);
            return 0;
        }
        derlen = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
        if (derlen <= 0)
            return 0;
        sig = der;
        sn = (size_t)derlen;
    } else if (sn != (size_t)EVP_PKEY_get_size(v->pkey)) {
        return 0;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    /* The EVP_PKEY is shared read-only by every thread; each call has its own context. */
    if (ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, v->pkey) == 1)
        ok = EVP_DigestVerify(ctx, sig, sn, (const unsigned char *)input, n) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return ok;
}

/* ---------------------------------------------------------------------------------------------
 * Claims */

static long long to_seconds(double d)
{
    if (d >= 9.2e18)
        return 9200000000000000000LL;
    if (d <= -9.2e18)
        return -9200000000000000000LL;
    return (long long)floor(d);
}

/* 0 absent, 1 present (*d set), -1 present but not a number. */
static int num_claim(const json_t *p, const char *name, double *d)
{
    const json_t *v = json_object_get(p, name);
    if (!v)
        return 0;
    if (!json_is_number(v))
        return -1;
    *d = json_number_value(v);
    return 1;
}

static int str_is(const json_t *v, const char *s)
{
    return json_is_string(v) && json_string_length(v) == strlen(s) &&
           memcmp(json_string_value(v), s, json_string_length(v)) == 0;
}

static int audience_ok(const json_t *aud, const char *want)
{
    if (str_is(aud, want))
        return 1;
    if (!json_is_array(aud))
        return 0;
    for (size_t i = 0; i < json_array_size(aud); i++)
        if (str_is(json_array_get(aud, i), want))
            return 1;
    return 0;
}

static int user_id(const auth_verifier_t *v, const json_t *p, char *sub, char *why, size_t wlen)
{
    const json_t *u = jpath_get(p, v->user_claim, strlen(v->user_claim));
    if (!u) {
        dg_errf(why, wlen, "token has no '%s' claim", v->user_claim);
        return -1;
    }
    if (!json_is_string(u) && !json_is_number(u)) {
        dg_errf(why, wlen, "claim '%s' is not a string or number", v->user_claim);
        return -1;
    }
    int n = jpath_text(u, sub, AUTH_SUB_MAX);
    if (n == DG_ENOMEM)
        return DG_ENOMEM;
    if (n <= 0) {
        dg_errf(why, wlen, "claim '%s' is empty or longer than %d bytes", v->user_claim,
                AUTH_SUB_MAX - 1);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if ((unsigned char)sub[i] < 0x20 || sub[i] == 0x7f) {
            dg_errf(why, wlen, "claim '%s' holds control characters", v->user_claim);
            return -1;
        }
    }
    return 0;
}

/* Checks the claim set; returns AUTH_OK or a fail reason with why set. */
static int check_claims(const auth_verifier_t *v, const json_t *p, long long now,
                        auth_claims_t *out, char *why, size_t wlen)
{
    double d = 0, t = (double)now;
    int r = num_claim(p, "exp", &d);
    if (r < 0 || (r == 0 && v->require_exp)) {
        dg_errf(why, wlen, r < 0 ? "exp is not a number" : "token has no exp claim");
        return AUTH_CLAIMS;
    }
    if (r > 0) {
        if (!(t < d + v->skew_s)) {
            dg_errf(why, wlen, "token expired");
            return AUTH_EXPIRED;
        }
        out->has_exp = 1;
        out->exp = to_seconds(d);
    }
    r = num_claim(p, "nbf", &d);
    if (r < 0) {
        dg_errf(why, wlen, "nbf is not a number");
        return AUTH_CLAIMS;
    }
    if (r > 0) {
        if (t < d - v->skew_s) {
            dg_errf(why, wlen, "token not yet valid (nbf)");
            return AUTH_NOT_YET_VALID;
        }
        out->has_nbf = 1;
        out->nbf = to_seconds(d);
    }
    r = num_claim(p, "iat", &d);
    if (r < 0) {
        dg_errf(why, wlen, "iat is not a number");
        return AUTH_CLAIMS;
    }
    if (r > 0) {
        out->has_iat = 1;
        out->iat = to_seconds(d);
    }
    if (v->issuer[0] && !str_is(json_object_get(p, "iss"), v->issuer)) {
        dg_errf(why, wlen, "issuer does not match jwt_issuer");
        return AUTH_ISSUER;
    }
    if (v->audience[0] && !audience_ok(json_object_get(p, "aud"), v->audience)) {
        dg_errf(why, wlen, "audience does not include jwt_audience");
        return AUTH_AUDIENCE;
    }
    r = user_id(v, p, out->sub, why, wlen);
    if (r == DG_ENOMEM)
        return -1;
    return r < 0 ? AUTH_CLAIMS : AUTH_OK;
}

int auth_verify(const auth_verifier_t *v, const char *token, size_t len, long long now,
                auth_claims_t *out, int *fail, char *errstr, size_t errlen)
{
    char why[96] = "";
    int reason = AUTH_MALFORMED, rc = DG_EPROTO;
    json_t *hdr = NULL, *payload = NULL;
    unsigned char *sig = NULL;
    size_t sn = 0;

    memset(out, 0, sizeof(*out));
    if (!token || len == 0) {
        dg_errf(why, sizeof(why), "empty token");
        goto refuse;
    }
    if (len > AUTH_TOKEN_MAX) {
        dg_errf(why, sizeof(why), "token longer than %d bytes", AUTH_TOKEN_MAX);
        goto refuse;
    }
    for (size_t i = 0; i < len; i++) {
        if (!b64url_char((unsigned char)token[i]) && token[i] != '.') {
            dg_errf(why, sizeof(why), "token holds characters outside base64url");
            goto refuse;
        }
    }
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d2) {
        dg_errf(why, sizeof(why), "not a JWT (header.payload.signature)");
        goto refuse;
    }
    const char *end = token + len;
    if (memchr(d2 + 1, '.', (size_t)(end - d2 - 1))) {
        dg_errf(why, sizeof(why), "encrypted (JWE) or malformed token; only signed JWTs");
        goto refuse;
    }
    hdr = b64url_json(token, (size_t)(d1 - token));
    if (!hdr) {
        dg_errf(why, sizeof(why), "header is not base64url JSON");
        goto refuse;
    }
    const json_t *alg = json_object_get(hdr, "alg");
    if (!json_is_string(alg)) {
        dg_errf(why, sizeof(why), "header has no alg");
        goto refuse;
    }
    if (json_object_get(hdr, "crit")) {
        dg_errf(why, sizeof(why), "critical header extensions are not supported");
        goto refuse;
    }
    /* The key decides the algorithm; the token only gets to agree with it. */
    if (!str_is(alg, alg_names[v->alg])) {
        reason = AUTH_ALG;
        dg_errf(why, sizeof(why), "algorithm not accepted (only %s)", alg_names[v->alg]);
        goto refuse;
    }
    int r = b64url_decode(d2 + 1, (size_t)(end - d2 - 1), &sig, &sn);
    if (r == DG_ENOMEM) {
        rc = DG_ENOMEM;
        goto refuse;
    }
    if (r != DG_OK || sn == 0) {
        dg_errf(why, sizeof(why), "signature is not base64url");
        goto refuse;
    }
    size_t signed_len = (size_t)(d2 - token);
    int ok = v->alg == ALG_HS256 ? verify_hmac(v, token, signed_len, sig, sn)
                                 : verify_pkey(v, token, signed_len, sig, sn);
    ERR_clear_error(); /* libcrypto's per-thread error queue: leave nothing behind */
    if (!ok) {
        reason = AUTH_SIGNATURE;
        dg_errf(why, sizeof(why), "bad signature");
        goto refuse;
    }
    payload = b64url_json(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!payload) {
        dg_errf(why, sizeof(why), "payload is not base64url JSON object");
        goto refuse;
    }
    reason = check_claims(v, payload, now, out, why, sizeof(why));
    if (reason < 0) {
        rc = DG_ENOMEM;
        goto refuse;
    }
    if (reason != AUTH_OK)
        goto refuse;
    out->payload = payload;
    json_decref(hdr);
    free(sig);
    if (fail)
        *fail = AUTH_OK;
    return DG_OK;

refuse:
    json_decref(hdr);
    json_decref(payload);
    free(sig);
    memset(out, 0, sizeof(*out));
    if (rc == DG_ENOMEM) {
        reason = AUTH_MALFORMED;
        dg_errf(why, sizeof(why), "out of memory");
    }
    if (fail)
        *fail = reason;
    dg_errf(errstr, errlen, "%s", why);
    return rc;
}

long long auth_warn_at(const auth_verifier_t *v, const auth_claims_t *c)
{
    if (!c->has_exp || v->warn_s <= 0)
        return 0;
    return c->exp - v->warn_s;
}

long long auth_close_at(const auth_verifier_t *v, const auth_claims_t *c)
{
    if (!c->has_exp)
        return 0;
    return c->exp + v->skew_s;
}

long long auth_expires_in(const auth_claims_t *c, long long now)
{
    if (!c->has_exp || c->exp <= now)
        return 0;
    return c->exp - now;
}

/* ---------------------------------------------------------------------------------------------
 * Claims accessors */

/* 1 if the space-separated list s[0..n) holds name[0..len). */
static int in_spaced(const char *s, size_t n, const char *name, size_t len)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && s[i] == ' ')
            i++;
        size_t b = i;
        while (i < n && s[i] != ' ')
            i++;
        if (i - b == len && len > 0 && memcmp(s + b, name, len) == 0)
            return 1;
    }
    return 0;
}

static int scope_in(const json_t *v, const char *name, size_t len)
{
    if (json_is_string(v))
        return in_spaced(json_string_value(v), json_string_length(v), name, len);
    if (!json_is_array(v))
        return 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *e = json_array_get(v, i);
        if (json_is_string(e) && json_string_length(e) == len &&
            memcmp(json_string_value(e), name, len) == 0)
            return 1;
    }
    return 0;
}

int auth_claims_has_scope(const auth_claims_t *c, const char *name, size_t len)
{
    static const char *const names[] = {"scope", "scp", "scopes", "permissions"};
    if (!c || !c->payload || len == 0)
        return 0;
    for (size_t i = 0; i < DG_ARRAY_LEN(names); i++)
        if (scope_in(json_object_get(c->payload, names[i]), name, len))
            return 1;
    return 0;
}

static int text_is(const json_t *v, const char *value, size_t len)
{
    char buf[CFG_STR_MAX];
    int n = jpath_text(v, buf, sizeof(buf));
    return n >= 0 && (size_t)n == len && memcmp(buf, value, len) == 0;
}

int auth_claims_match(const auth_claims_t *c, const char *path, size_t plen, const char *value,
                      size_t len)
{
    const json_t *v = auth_claims_get(c, path, plen);
    if (!v)
        return 0;
    if (!json_is_array(v))
        return text_is(v, value, len);
    for (size_t i = 0; i < json_array_size(v); i++)
        if (text_is(json_array_get(v, i), value, len))
            return 1;
    return 0;
}

const json_t *auth_claims_get(const auth_claims_t *c, const char *path, size_t len)
{
    if (!c || !c->payload)
        return NULL;
    return jpath_get(c->payload, path, len);
}

void auth_claims_copy(auth_claims_t *dst, const auth_claims_t *src)
{
    *dst = *src;
    json_incref(dst->payload);
}

void auth_claims_clear(auth_claims_t *c)
{
    if (!c)
        return;
    json_decref(c->payload);
    memset(c, 0, sizeof(*c));
}

/* ---------------------------------------------------------------------------------------------
 * Extraction */

static int token68_char(unsigned char c)
{
    return b64url_char(c) || c == '.' || c == '~' || c == '+' || c == '/' || c == '=';
}

int auth_bearer(const char *value, size_t len, const char **tok, size_t *tok_len)
{
    *tok = NULL;
    *tok_len = 0;
    if (!value)
        return DG_ENOTFOUND;
    size_t i = 0;
    while (i < len && (value[i] == ' ' || value[i] == '\t'))
        i++;
    if (len - i < 6 || strncasecmp(value + i, "Bearer", 6) != 0)
        return DG_ENOTFOUND;
    i += 6;
    if (i < len && value[i] != ' ' && value[i] != '\t')
        return DG_ENOTFOUND; /* "Bearerx": some other scheme */
    while (i < len && (value[i] == ' ' || value[i] == '\t'))
        i++;
    size_t e = len;
    while (e > i && (value[e - 1] == ' ' || value[e - 1] == '\t'))
        e--;
    if (e == i)
        return DG_EPROTO;
    if (e - i > AUTH_TOKEN_MAX)
        return DG_ELIMIT;
    for (size_t k = i; k < e; k++)
        if (!token68_char((unsigned char)value[k]))
            return DG_EPROTO;
    *tok = value + i;
    *tok_len = e - i;
    return DG_OK;
}

int auth_query_token(const char *qs, size_t len, const char **tok, size_t *tok_len)
{
    static const char name[] = "access_token";
    const size_t nlen = sizeof(name) - 1;
    const char *found = NULL;
    size_t flen = 0;
    *tok = NULL;
    *tok_len = 0;
    if (!qs)
        return DG_ENOTFOUND;
    size_t i = len > 0 && qs[0] == '?' ? 1 : 0;
    while (i <= len) {
        const char *amp = memchr(qs + i, '&', len - i);
        size_t e = amp ? (size_t)(amp - qs) : len;
        if (e - i > nlen && memcmp(qs + i, name, nlen) == 0 && qs[i + nlen] == '=') {
            if (found)
                return DG_EPROTO; /* which one would a proxy or a framework have used? */
            found = qs + i + nlen + 1;
            flen = e - i - nlen - 1;
        } else if (e - i == nlen && memcmp(qs + i, name, nlen) == 0) {
            return DG_EPROTO; /* "access_token" without a value */
        }
        if (!amp)
            break;
        i = e + 1;
    }
    if (!found)
        return DG_ENOTFOUND;
    if (flen == 0)
        return DG_EPROTO;
    if (flen > AUTH_TOKEN_MAX)
        return DG_ELIMIT;
    for (size_t k = 0; k < flen; k++)
        if (!b64url_char((unsigned char)found[k]) && found[k] != '.')
            return DG_EPROTO;
    *tok = found;
    *tok_len = flen;
    return DG_OK;
}

int auth_sio_token(const char *json, size_t len, char *out, size_t cap, size_t *out_len)
{
    if (out && cap)
        out[0] = '\0';
    *out_len = 0;
    if (!json || len == 0)
        return DG_ENOTFOUND;
    if (len > SIO_AUTH_MAX)
        return DG_ELIMIT;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return DG_EPROTO;
    }
    const json_t *t = json_object_get(o, "token");
    int rc = DG_OK;
    if (!t) {
        rc = DG_ENOTFOUND;
        goto out;
    }
    if (!json_is_string(t)) {
        rc = DG_EPROTO;
        goto out;
    }
    const char *s = json_string_value(t);
    size_t n = json_string_length(t);
    if (n >= 7 && strncasecmp(s, "Bearer ", 7) == 0) {
        s += 7;
        n -= 7;
    }
    if (n == 0) {
        rc = DG_EPROTO;
        goto out;
    }
    if (n > AUTH_TOKEN_MAX || !out || n >= cap) {
        rc = DG_ELIMIT;
        goto out;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    *out_len = n;
out:
    json_decref(o);
    return rc;
}
