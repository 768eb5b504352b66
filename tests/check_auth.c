/* check_auth.c - unit tests for auth.c: HS256 / RS256 / ES256 tokens signed here with keys
 * generated at run time (no key material in the repository), every refusal reason (expired,
 * not yet valid, wrong signature, issuer, audience, alg none, alg confusion, malformed, every
 * truncation and every one-character change of a valid token), clock-skew edges, key files,
 * claims accessors, deadlines, concurrent verification, and token extraction. Every error text
 * is checked to hold neither the token nor the secret. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "auth.h"
#include "config.h"
#include "dg.h"

#define SECRET "test-secret-test-secret-test-secret-0123"
#define NOW 1800000000LL

/* ---------------------------------------------------------------------------------------------
 * Keys (generated once per test case, before the forked tests) */

static EVP_PKEY *rsa_key, *rsa_other, *ec_key, *ec_other, *ec384_key, *rsa1024_key;
static char dir[64];
static char rsa_pub[128], rsa_pkcs1[128], rsa_cert[128], rsa_priv[128], ec_pub[128], ec384_pub[128],
    rsa1024_pub[128], garbage[128];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void write_pub(const char *path, EVP_PKEY *k, const char *structure)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    if (!structure) {
        ck_assert_int_eq(PEM_write_PUBKEY(f, k), 1);
    } else {
        OSSL_ENCODER_CTX *e =
            OSSL_ENCODER_CTX_new_for_pkey(k, EVP_PKEY_PUBLIC_KEY, "PEM", structure, NULL);
        ck_assert_ptr_nonnull(e);
        ck_assert_int_eq(OSSL_ENCODER_to_fp(e, f), 1);
        OSSL_ENCODER_CTX_free(e);
    }
    fclose(f);
}

static void write_cert(const char *path, EVP_PKEY *k)
{
    X509 *x = X509_new();
    ck_assert_ptr_nonnull(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"issuer.test", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    ck_assert_int_gt(X509_sign(x, k, EVP_sha256()), 0);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    PEM_write_X509(f, x);
    fclose(f);
    X509_free(x);
}

static void keys_setup(void)
{
    rsa_key = EVP_RSA_gen(2048);
    rsa_other = EVP_RSA_gen(2048);
    rsa1024_key = EVP_RSA_gen(1024);
    ec_key = EVP_EC_gen("P-256");
    ec_other = EVP_EC_gen("P-256");
    ec384_key = EVP_EC_gen("P-384");
    ck_assert(rsa_key && rsa_other && rsa1024_key && ec_key && ec_other && ec384_key);
    snprintf(dir, sizeof(dir), "/tmp/check_auth_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(rsa_pub, sizeof(rsa_pub), "%s/rsa.pub.pem", dir);
    snprintf(rsa_pkcs1, sizeof(rsa_pkcs1), "%s/rsa.pkcs1.pem", dir);
    snprintf(rsa_cert, sizeof(rsa_cert), "%s/rsa.cert.pem", dir);
    snprintf(rsa_priv, sizeof(rsa_priv), "%s/rsa.key.pem", dir);
    snprintf(ec_pub, sizeof(ec_pub), "%s/ec.pub.pem", dir);
    snprintf(ec384_pub, sizeof(ec384_pub), "%s/ec384.pub.pem", dir);
    snprintf(rsa1024_pub, sizeof(rsa1024_pub), "%s/rsa1024.pub.pem", dir);
    snprintf(garbage, sizeof(garbage), "%s/garbage.pem", dir);
    write_pub(rsa_pub, rsa_key, NULL);
    write_pub(rsa_pkcs1, rsa_key, "type-specific");
    write_cert(rsa_cert, rsa_key);
    write_pub(ec_pub, ec_key, NULL);
    write_pub(ec384_pub, ec384_key, NULL);
    write_pub(rsa1024_pub, rsa1024_key, NULL);
    FILE *f = fopen(rsa_priv, "w");
    ck_assert_ptr_nonnull(f);
    PEM_write_PrivateKey(f, rsa_key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    write_file(garbage, "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n");
}

static void keys_teardown(void)
{
    const char *files[] = {rsa_pub, rsa_pkcs1, rsa_cert,    rsa_priv,
                           ec_pub,  ec384_pub, rsa1024_pub, garbage};
    for (size_t i = 0; i < DG_ARRAY_LEN(files); i++)
        unlink(files[i]);
    rmdir(dir);
    EVP_PKEY *k[] = {rsa_key, rsa_other, rsa1024_key, ec_key, ec_other, ec384_key};
    for (size_t i = 0; i < DG_ARRAY_LEN(k); i++)
        EVP_PKEY_free(k[i]);
}

/* ---------------------------------------------------------------------------------------------
 * Signing tokens */

enum signer { S_HS, S_RS, S_ES, S_ES_DER, S_NONE };

static void b64u_append(char *out, size_t cap, const unsigned char *in, size_t n)
{
    size_t o = strlen(out);
    ck_assert_uint_lt(o + (n + 2) / 3 * 4 + 1, cap);
    int w = EVP_EncodeBlock((unsigned char *)out + o, in, (int)n);
    size_t e = o + (size_t)w;
    while (e > o && out[e - 1] == '=')
        e--;
    for (size_t i = o; i < e; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    out[e] = '\0';
}

static void sign_with(EVP_PKEY *k, const char *in, unsigned char *sig, size_t *sn)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k), 1);
    ck_assert_int_eq(EVP_DigestSign(ctx, sig, sn, (const unsigned char *)in, strlen(in)), 1);
    EVP_MD_CTX_free(ctx);
}

/* Builds header.payload.signature into out. key: the HMAC secret (S_HS, NUL-terminated) or an
 * EVP_PKEY (S_RS / S_ES / S_ES_DER). */
static const char *token(char *out, size_t cap, const char *hdr, const char *payload, int how,
                         const void *key)
{
    out[0] = '\0';
    b64u_append(out, cap, (const unsigned char *)hdr, strlen(hdr));
    strncat(out, ".", cap - strlen(out) - 1);
    b64u_append(out, cap, (const unsigned char *)payload, strlen(payload));
    unsigned char sig[1024];
    size_t sn = sizeof(sig);
    unsigned int hn = 0;
    switch (how) {
    case S_HS:
        HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)out, strlen(out), sig,
             &hn);
        sn = hn;
        break;
    case S_RS:
    case S_ES_DER:
        sign_with((EVP_PKEY *)key, out, sig, &sn);
        break;
    case S_ES: {
        sign_with((EVP_PKEY *)key, out, sig, &sn);
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sn);
        ck_assert_ptr_nonnull(es);
        ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32), 32);
        ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32), 32);
        ECDSA_SIG_free(es);
        sn = 64;
        break;
    }
    default:
        sn = 0;
    }
    strncat(out, ".", cap - strlen(out) - 1);
    b64u_append(out, cap, sig, sn);
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * Verifiers */

static auth_verifier_t *make(const char *secret, const char *keyfile, void (*tweak)(cfg_t *))
{
    cfg_t c;
    cfg_defaults(&c);
    snprintf(c.jwt_secret, sizeof(c.jwt_secret), "%s", secret ? secret : "");
    snprintf(c.jwt_public_key_file, sizeof(c.jwt_public_key_file), "%s", keyfile ? keyfile : "");
    if (tweak)
        tweak(&c);
    auth_verifier_t *v = NULL;
    char err[256] = "";
    ck_assert_msg(auth_verifier_new(&c, &v, err, sizeof(err)) == DG_OK, "%s", err);
    return v;
}

static char last_err[256];

/* Verifies tok at now; returns the fail reason (AUTH_OK on success, claims released). Checks
 * that the error text leaks neither the token nor the secret. */
static int check(const auth_verifier_t *v, const char *tok, long long now)
{
    auth_claims_t c;
    int fail = -1;
    last_err[0] = '\0';
    int rc = auth_verify(v, tok, strlen(tok), now, &c, &fail, last_err, sizeof(last_err));
    ck_assert_ptr_null(strstr(last_err, SECRET));
    if (strlen(tok) >= 8) {
        char head[9];
        memcpy(head, tok, 8);
        head[8] = '\0';
        ck_assert_msg(strstr(last_err, head) == NULL, "token in error: %s", last_err);
    }
    if (rc == DG_OK) {
        ck_assert_int_eq(fail, AUTH_OK);
        ck_assert_ptr_nonnull(c.payload);
        auth_claims_clear(&c);
    } else {
        ck_assert_int_eq(rc, DG_EPROTO);
        ck_assert_ptr_null(c.payload);
        ck_assert_str_eq(c.sub, "");
        ck_assert_int_gt(fail, AUTH_MISSING);
        ck_assert_int_lt(fail, AUTH_NFAIL);
        ck_assert_str_ne(last_err, "");
    }
    return fail;
}

#define HS "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define RS "{\"alg\":\"RS256\",\"typ\":\"JWT\"}"
#define ES "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"
#define CLAIMS "{\"sub\":\"u1\",\"exp\":1800000600,\"iat\":1799999000}"

/* ---------------------------------------------------------------------------------------------
 * Valid tokens */

START_TEST(test_hs256_valid)
{
    auth_verifier_t *v = make(SECRET, NULL, NULL);
    ck_assert_str_eq(auth_verifier_alg(v), "HS256");
    char t[4096], err[128];
    token(t, sizeof(t), HS,
          "{\"sub\":\"alice\",\"exp\":1800000600,\"nbf\":1799999990,\"iat\":1799999000.7,"
          "\"scope\":\"jobs:read  logs:read\",\"scp\":[\"a\",\"b\"],\"permissions\":[\"p1\"],"
          "\"role\":\"admin\",\"roles\":[\"ops\",7],\"n\":42,\"flag\":true,"
          "\"realm_access\":{\"roles\":[\"x\"]},\"https://example.com/tier\":\"gold\"}",
          S_HS, SECRET);
    auth_claims_t c;
    int fail = -1;
    ck_assert_int_eq(auth_verify(v, t, strlen(t), NOW, &c, &fail, err, sizeof(err)), DG_OK);
    ck_assert_int_eq(fail, AUTH_OK);
    ck_assert_str_eq(c.sub, "alice");
    ck_assert_int_eq(c.has_exp, 1);
    ck_assert_int_eq(c.exp, 1800000600LL);
    ck_assert_int_eq(c.has_nbf, 1);
    ck_assert_int_eq(c.nbf, 1799999990LL);
    ck_assert_int_eq(c.has_iat, 1);
    ck_assert_int_eq(c.iat, 1799999000LL);
    /* Scopes from every place they live. */
    ck_assert_int_eq(auth_claims_has_scope(&c, "jobs:read", 9), 1);
    ck_assert_int_eq(auth_claims_has_scope(&c, "logs:read", 9), 1);
    ck_assert_int_eq(auth_claims_has_scope(&c, "logs", 4), 0);
    ck_assert_int_eq(auth_claims_has_scope(&c, "a", 1), 1);
    ck_assert_int_eq(auth_claims_has_scope(&c, "p1", 2), 1);
    ck_assert_int_eq(auth_claims_has_scope(&c, "", 0), 0);
    ck_assert_int_eq(auth_claims_has_scope(&c, "admin", 5), 0);
    /* Claims as text, arrays by element, nested and namespaced names. */
    ck_assert_int_eq(auth_claims_match(&c, "role", 4, "admin", 5), 1);
    ck_assert_int_eq(auth_claims_match(&c, "role", 4, "Admin", 5), 0);
    ck_assert_int_eq(auth_claims_match(&c, "roles", 5, "ops", 3), 1);
    ck_assert_int_eq(auth_claims_match(&c, "roles", 5, "7", 1), 1);
    ck_assert_int_eq(auth_claims_match(&c, "n", 1, "42", 2), 1);
    ck_assert_int_eq(auth_claims_match(&c, "flag", 4, "true", 4), 1);
    ck_assert_int_eq(auth_claims_match(&c, "realm_access.roles", 18, "x", 1), 1);
    ck_assert_int_eq(auth_claims_match(&c, "https://example.com/tier", 24, "gold", 4), 1);
    ck_assert_int_eq(auth_claims_match(&c, "missing", 7, "x", 1), 0);
    ck_assert_int_eq(auth_claims_match(&c, "realm_access", 12, "x", 1), 0);
    ck_assert_ptr_nonnull(auth_claims_get(&c, "realm_access", 12));
    /* A copy outlives the original. */
    auth_claims_t d;
    auth_claims_copy(&d, &c);
    auth_claims_clear(&c);
    ck_assert_ptr_null(c.payload);
    ck_assert_str_eq(d.sub, "alice");
    ck_assert_int_eq(auth_claims_match(&d, "role", 4, "admin", 5), 1);
    auth_claims_clear(&d);
    auth_claims_clear(&d); /* twice is fine */
    /* Anonymous (no claims) has nothing. */
    ck_assert_int_eq(auth_claims_has_scope(NULL, "a", 1), 0);
    ck_assert_int_eq(auth_claims_match(NULL, "role", 4, "admin", 5), 0);
    auth_verifier_free(v);
}
END_TEST

START_TEST(test_rs256_es256_valid)
{
    char t[4096];
    const char *files[] = {rsa_pub, rsa_pkcs1, rsa_cert};
    for (size_t i = 0; i < DG_ARRAY_LEN(files); i++) {
        auth_verifier_t *v = make(NULL, files[i], NULL);
        ck_assert_str_eq(auth_verifier_alg(v), "RS256");
        ck_assert_int_eq(check(v, token(t, sizeof(t), RS, CLAIMS, S_RS, rsa_key), NOW), AUTH_OK);
        auth_verifier_free(v);
    }
    auth_verifier_t *v = make(NULL, ec_pub, NULL);
    ck_assert_str_eq(auth_verifier_alg(v), "ES256");
    for (int i = 0; i < 8; i++) /* ECDSA signatures differ each time; R or S may be short */
        ck_assert_int_eq(check(v, token(t, sizeof(t), ES, CLAIMS, S_ES, ec_key), NOW), AUTH_OK);
    /* The DER form libcrypto produces is not JWS. */
    ck_assert_int_eq(check(v, token(t, sizeof(t), ES, CLAIMS, S_ES_DER, ec_key), NOW),
                     AUTH_SIGNATURE);
    auth_verifier_free(v);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Time: exp, nbf and the skew edges */

static int skew;
static void set_skew(cfg_t *c)
{
    c->jwt_clock_skew_s = skew;
}

START_TEST(test_exp_nbf_skew_edges)
{
    int skews[] = {0, 30, 3600};
    char t[4096], p[256];
    for (size_t i = 0; i < DG_ARRAY_LEN(skews); i++) {
        skew = skews[i];
        auth_verifier_t *v = make(SECRET, NULL, set_skew);
        /* Valid while now < exp + skew. */
        snprintf(p, sizeof(p), "{\"sub\":\"u\",\"exp\":%lld}", NOW - skew + 1);
        ck_assert_int_eq(check(v, token(t, sizeof(t), HS, p, S_HS, SECRET), NOW), AUTH_OK);
        snprintf(p, sizeof(p), "{\"sub\":\"u\",\"exp\":%lld}", NOW - skew);
        ck_assert_int_eq(check(v, token(t, sizeof(t), HS, p, S_HS, SECRET), NOW), AUTH_EXPIRED);
        ck_assert_str_eq(last_err, "token expired");
        snprintf(p, sizeof(p), "{\"sub\":\"u\",\"exp\":%lld.5}", NOW - skew);
        ck_assert_int_eq(check(v, token(t, sizeof(t), HS, p, S_HS, SECRET), NOW), AUTH_OK);
        snprintf(p, sizeof(p), "{\"sub\":\"u\",\"exp\":%lld}", NOW - skew - 86400);
        ck_assert_int_eq(check(v, token(t, sizeof(t), HS, p, S_HS, SECRET), NOW), AUTH_EXPIRED);
        /* Valid once now >= nbf - skew. */
        snprintf(p, sizeof(p), "{\"sub\":\"u\",\"exp\":%lld,\"nbf\":%lld}", NOW + 9999, NOW + skew);
        ck_assert_int_eq(check(v, token(t, sizeof(t), HS, p, S_HS, SECRET), NOW), AUTH_OK);
        snprintf(p, sizeof(p), "{\"sub\":\"u\",\"exp\":%lld,\"nbf\":%lld}", NOW + 9999,
                 NOW + skew + 1);
        ck_assert_int_eq(check(v, token(t, sizeof(t), HS, p, S_HS, SECRET), NOW),
                         AUTH_NOT_YET_VALID);
        ck_assert_str_eq(last_err, "token not yet valid (nbf)");
        auth_verifier_free(v);
    }
}
END_TEST

static void no_exp_needed(cfg_t *c)
{
    c->jwt_require_exp = 0;
}

START_TEST(test_exp_required_and_types)
{
    auth_verifier_t *v = make(SECRET, NULL, NULL);
    char t[4096];
    ck_assert_int_eq(check(v, token(t, sizeof(t), HS, "{\"sub\":\"u\"}", S_HS, SECRET), NOW),
                     AUTH_CLAIMS);
    ck_assert_str_eq(last_err, "token has no exp claim");
    ck_assert_int_eq(
        check(v, token(t, sizeof(t), HS, "{\"sub\":\"u\",\"exp\":\"1900000000\"}", S_HS, SECRET),
              NOW),
        AUTH_CLAIMS);
    ck_assert_str_eq(last_err, "exp is not a number");
    ck_assert_int_eq(check(v,
                           token(t, sizeof(t), HS,
                                 "{\"sub\":\"u\",\"exp\":1900000000,\"nbf\":null}", S_HS, SECRET),
                           NOW),
                     AUTH_CLAIMS);
    ck_assert_str_eq(last_err, "nbf is not a number");
    ck_assert_int_eq(check(v,
                           token(t, sizeof(t), HS, "{\"sub\":\"u\",\"exp\":1900000000,\"iat\":[]}",
                                 S_HS, SECRET),
                           NOW),
                     AUTH_CLAIMS);
    ck_assert_str_eq(last_err, "iat is not a number");
    auth_verifier_free(v);

    v = make(SECRET, NULL, no_exp_needed);
    auth_claims_t c;
    const char *p = "{\"sub\":\"u\"}";
    token(t, sizeof(t), HS, p, S_HS, SECRET);
    ck_assert_int_eq(auth_verify(v, t, strlen(t), NOW, &c, NULL, NULL, 0), DG_OK);
    ck_assert_int_eq(c.has_exp, 0);
    ck_assert_int_eq(auth_close_at(v, &c), 0);
    ck_assert_int_eq(auth_warn_at(v, &c), 0);
    ck_assert_int_eq(auth_expires_in(&c, NOW), 0);
    auth_claims_clear(&c);
    auth_verifier_free(v);
}
END_TEST

static void warn_0(cfg_t *c)
{
    c->token_expiry_warning_s = 0;
}

START_TEST(test_deadlines)
{
    auth_verifier_t *v = make(SECRET, NULL, NULL); /* skew 30, warning 60 */
    char t[4096];
    auth_claims_t c;
    token(t, sizeof(t), HS, "{\"sub\":\"u\",\"exp\":1800000600}", S_HS, SECRET);
    ck_assert_int_eq(auth_verify(v, t, strlen(t), NOW, &c, NULL, NULL, 0), DG_OK);
    ck_assert_int_eq(auth_warn_at(v, &c), 1800000540LL);
    ck_assert_int_eq(auth_close_at(v, &c), 1800000630LL);
    ck_assert_int_eq(auth_expires_in(&c, NOW), 600);
    ck_assert_int_eq(auth_expires_in(&c, 1800000600LL), 0);
    ck_assert_int_eq(auth_expires_in(&c, 1800000700LL), 0);
    /* At close_at the token is refused; one second earlier it is not. */
    ck_assert_int_eq(check(v, t, auth_close_at(v, &c) - 1), AUTH_OK);
    ck_assert_int_eq(check(v, t, auth_close_at(v, &c)), AUTH_EXPIRED);
    auth_claims_clear(&c);
    auth_verifier_free(v);
    v = make(SECRET, NULL, warn_0);
    ck_assert_int_eq(auth_verify(v, t, strlen(t), NOW, &c, NULL, NULL, 0), DG_OK);
    ck_assert_int_eq(auth_warn_at(v, &c), 0);
    ck_assert_int_eq(auth_close_at(v, &c), 1800000630LL);
    auth_claims_clear(&c);
    auth_verifier_free(v);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Signatures and algorithms */

START_TEST(test_wrong_signature)
{
    char t[4096];
    auth_verifier_t *v = make(SECRET, NULL, NULL);
    ck_assert_int_eq(check(v, token(t, sizeof(t), HS, CLAIMS, S_HS, SECRET "x"), NOW),
                     AUTH_SIGNATURE);
    ck_assert_str_eq(last_err, "bad signature");
    /* The payload changed after signing: "u1" -> "u2". */
    char other[4096];
    token(t, sizeof(t), HS, CLAIMS, S_HS, SECRET);
    token(other, sizeof(other), HS, "{\"sub\":\"u2\",\"exp\":1800000600,\"iat\":1799999000}", S_HS,
          SECRET);
    char *sig = strrchr(t, '.'), *osig = strrchr(other, '.');
    memcpy(osig, sig, strlen(sig) + 1);
    ck_assert_int_eq(check(v, other, NOW), AUTH_SIGNATURE);
    auth_verifier_free(v);

    v = make(NULL, rsa_pub, NULL);
    ck_assert_int_eq(check(v, token(t, sizeof(t), RS, CLAIMS, S_RS, rsa_other), NOW),
                     AUTH_SIGNATURE);
    auth_verifier_free(v);
    v = make(NULL, ec_pub, NULL);
    ck_assert_int_eq(check(v, token(t, sizeof(t), ES, CLAIMS, S_ES, ec_other), NOW),
                     AUTH_SIGNATURE);
    /* An all-zero R || S is not a signature. */
    token(t, sizeof(t), ES, CLAIMS, S_NONE, NULL);
    strncat(t,
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            sizeof(t) - strlen(t) - 1);
    ck_assert_int_eq(check(v, t, NOW), AUTH_SIGNATURE);
    auth_verifier_free(v);
}
END_TEST

START_TEST(test_alg_none_and_confusion)
{
    char t[8192], pem[8192];
    auth_verifier_t *hs = make(SECRET, NULL, NULL), *rs = make(NULL, rsa_pub, NULL),
                    *es = make(NULL, ec_pub, NULL);
    const char *nones[] = {"{\"alg\":\"none\"}", "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}",
                           "{\"alg\":\"\"}"};
    for (size_t i = 0; i < DG_ARRAY_LEN(nones); i++) {
        token(t, sizeof(t), nones[i], CLAIMS, S_NONE, NULL);
        ck_assert_int_eq(check(hs, t, NOW), AUTH_ALG);
        ck_assert_int_eq(check(rs, t, NOW), AUTH_ALG);
        ck_assert_int_eq(check(es, t, NOW), AUTH_ALG);
        /* Even with a valid HMAC appended. */
        ck_assert_int_eq(check(hs, token(t, sizeof(t), nones[i], CLAIMS, S_HS, SECRET), NOW),
                         AUTH_ALG);
    }
    ck_assert_str_eq(last_err, "algorithm not accepted (only HS256)");
    /* The classic: an HS256 token whose HMAC key is the RS256 verifier's public PEM. */
    FILE *f = fopen(rsa_pub, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(pem, 1, sizeof(pem) - 1, f);
    fclose(f);
    pem[n] = '\0';
    ck_assert_int_eq(check(rs, token(t, sizeof(t), HS, CLAIMS, S_HS, pem), NOW), AUTH_ALG);
    ck_assert_str_eq(last_err, "algorithm not accepted (only RS256)");
    ck_assert_int_eq(check(es, token(t, sizeof(t), RS, CLAIMS, S_RS, rsa_key), NOW), AUTH_ALG);
    ck_assert_int_eq(check(rs, token(t, sizeof(t), ES, CLAIMS, S_ES, ec_key), NOW), AUTH_ALG);
    ck_assert_int_eq(check(hs, token(t, sizeof(t), RS, CLAIMS, S_RS, rsa_key), NOW), AUTH_ALG);
    ck_assert_int_eq(
        check(hs, token(t, sizeof(t), "{\"alg\":\"HS384\"}", CLAIMS, S_HS, SECRET), NOW), AUTH_ALG);
    ck_assert_int_eq(
        check(hs, token(t, sizeof(t), "{\"alg\":\"hs256\"}", CLAIMS, S_HS, SECRET), NOW), AUTH_ALG);
    ck_assert_int_eq(
        check(rs, token(t, sizeof(t), "{\"alg\":\"PS256\"}", CLAIMS, S_RS, rsa_key), NOW),
        AUTH_ALG);
    auth_verifier_free(hs);
    auth_verifier_free(rs);
    auth_verifier_free(es);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Issuer, audience, user id */

static void iss_aud(cfg_t *c)
{
    snprintf(c->jwt_issuer, sizeof(c->jwt_issuer), "https://auth.example");
    snprintf(c->jwt_audience, sizeof(c->jwt_audience), "gateway");
}

START_TEST(test_issuer_audience)
{
    auth_verifier_t *v = make(SECRET, NULL, iss_aud);
    static const struct {
        const char *claims;
        int fail;
    } cases[] = {
        {"\"iss\":\"https://auth.example\",\"aud\":\"gateway\"", AUTH_OK},
        {"\"iss\":\"https://auth.example\",\"aud\":[\"api\",\"gateway\"]", AUTH_OK},
        {"\"iss\":\"https://auth.example/\",\"aud\":\"gateway\"", AUTH_ISSUER},
        {"\"iss\":\"https://evil.example\",\"aud\":\"gateway\"", AUTH_ISSUER},
        {"\"aud\":\"gateway\"", AUTH_ISSUER},
        {"\"iss\":[\"https://auth.example\"],\"aud\":\"gateway\"", AUTH_ISSUER},
        {"\"iss\":\"https://auth.example\",\"aud\":\"gateway2\"", AUTH_AUDIENCE},
        {"\"iss\":\"https://auth.example\",\"aud\":[\"api\"]", AUTH_AUDIENCE},
        {"\"iss\":\"https://auth.example\",\"aud\":[]", AUTH_AUDIENCE},
        {"\"iss\":\"https://auth.example\"", AUTH_AUDIENCE},
        {"\"iss\":\"https://auth.example\",\"aud\":{\"gateway\":1}", AUTH_AUDIENCE},
        {"\"iss\":\"https://auth.example\",\"aud\":\"Gateway\"", AUTH_AUDIENCE},
    };
    char t[4096], p[512];
    for (size_t i = 0; i < DG_ARRAY_LEN(cases); i++) {
        snprintf(p, sizeof(p), "{\"sub\":\"u\",\"exp\":1900000000,%s}", cases[i].claims);
        ck_assert_msg(check(v, token(t, sizeof(t), HS, p, S_HS, SECRET), NOW) == cases[i].fail,
                      "%s: %s", cases[i].claims, last_err);
    }
    auth_verifier_free(v);
    /* Without jwt_issuer / jwt_audience they are not looked at. */
    v = make(SECRET, NULL, NULL);
    ck_assert_int_eq(
        check(v,
              token(t, sizeof(t), HS, "{\"sub\":\"u\",\"exp\":1900000000,\"iss\":1,\"aud\":2}",
                    S_HS, SECRET),
              NOW),
        AUTH_OK);
    auth_verifier_free(v);
}
END_TEST

static void user_claim_userid(cfg_t *c)
{
    snprintf(c->jwt_user_claim, sizeof(c->jwt_user_claim), "user.id");
}

START_TEST(test_user_id)
{
    auth_verifier_t *v = make(SECRET, NULL, NULL);
    static const struct {
        const char *sub;  /* JSON value, NULL: no sub */
        const char *want; /* NULL: refused (AUTH_CLAIMS) */
    } cases[] = {
        {"\"u-1\"", "u-1"},
        {"42", "42"},
        {"4.5", "4.5"},
        {"12345678901234567890", "12345678901234567000"},
        {"\"caf\\u00e9\"", "caf\xc3\xa9"},
        {NULL, NULL},
        {"\"\"", NULL},
        {"null", NULL},
        {"true", NULL},
        {"[\"a\"]", NULL},
        {"{}", NULL},
        {"\"a\\nb\"", NULL},
        {"\"a\\u007fb\"", NULL},
        {"\"a\\u0000b\"", NULL}, /* jansson refuses NUL in strings: malformed payload */
    };
    char t[4096], p[512], err[128];
    for (size_t i = 0; i < DG_ARRAY_LEN(cases); i++) {
        if (cases[i].sub)
            snprintf(p, sizeof(p), "{\"sub\":%s,\"exp\":1900000000}", cases[i].sub);
        else
            snprintf(p, sizeof(p), "{\"exp\":1900000000}");
        token(t, sizeof(t), HS, p, S_HS, SECRET);
        auth_claims_t c;
        int fail = -1;
        int rc = auth_verify(v, t, strlen(t), NOW, &c, &fail, err, sizeof(err));
        if (cases[i].want) {
            ck_assert_msg(rc == DG_OK, "%s: %s", p, err);
            ck_assert_str_eq(c.sub, cases[i].want);
            auth_claims_clear(&c);
        } else {
            ck_assert_int_eq(rc, DG_EPROTO);
            ck_assert_msg(fail == AUTH_CLAIMS || fail == AUTH_MALFORMED, "%s: %d", p, fail);
        }
    }
    /* Longest accepted user id, and one byte more. */
    char sub[AUTH_SUB_MAX + 1];
    memset(sub, 'x', sizeof(sub));
    sub[AUTH_SUB_MAX - 1] = '\0';
    snprintf(p, sizeof(p), "{\"sub\":\"%s\",\"exp\":1900000000}", sub);
    ck_assert_int_eq(check(v, token(t, sizeof(t), HS, p, S_HS, SECRET), NOW), AUTH_OK);
    sub[AUTH_SUB_MAX - 1] = 'x';
    sub[AUTH_SUB_MAX] = '\0';
    snprintf(p, sizeof(p), "{\"sub\":\"%s\",\"exp\":1900000000}", sub);
    ck_assert_int_eq(check(v, token(t, sizeof(t), HS, p, S_HS, SECRET), NOW), AUTH_CLAIMS);
    ck_assert_str_eq(last_err, "claim 'sub' is empty or longer than 255 bytes");
    auth_verifier_free(v);

    v = make(SECRET, NULL, user_claim_userid);
    auth_claims_t c;
    token(t, sizeof(t), HS, "{\"sub\":\"s\",\"user\":{\"id\":7},\"exp\":1900000000}", S_HS, SECRET);
    ck_assert_int_eq(auth_verify(v, t, strlen(t), NOW, &c, NULL, err, sizeof(err)), DG_OK);
    ck_assert_str_eq(c.sub, "7");
    auth_claims_clear(&c);
    ck_assert_int_eq(
        check(v, token(t, sizeof(t), HS, "{\"sub\":\"s\",\"exp\":1900000000}", S_HS, SECRET), NOW),
        AUTH_CLAIMS);
    ck_assert_str_eq(last_err, "token has no 'user.id' claim");
    auth_verifier_free(v);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Malformed tokens */

START_TEST(test_malformed)
{
    auth_verifier_t *v = make(SECRET, NULL, NULL);
    char t[4096], u[4096 + 8]; /* room for t plus a byte or two */
    token(t, sizeof(t), HS, CLAIMS, S_HS, SECRET);
    ck_assert_int_eq(check(v, t, NOW), AUTH_OK);
    const char *d1 = strchr(t, '.'), *d2 = strrchr(t, '.');
    static const char *const bad[] = {
        "",
        ".",
        "..",
        "...",
        "a.b",
        "a.b.c.d",
        "a.b.c.d.e",
        "abc",
        "eyJ.eyJ.",
        "!!!.eyJ.abc",
        "eyJhbGciOiJIUzI1NiJ9.e yJ.abc",
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(bad); i++)
        ck_assert_msg(check(v, bad[i], NOW) == AUTH_MALFORMED, "'%s': %s", bad[i], last_err);
    /* Every truncation of a valid token is refused (and nothing reads past its length). */
    size_t n = strlen(t);
    for (size_t cut = 0; cut < n; cut++) {
        char *p = malloc(cut ? cut : 1);
        ck_assert_ptr_nonnull(p);
        memcpy(p, t, cut);
        auth_claims_t c;
        int fail = -1;
        ck_assert_int_eq(auth_verify(v, p, cut, NOW, &c, &fail, NULL, 0), DG_EPROTO);
        ck_assert(fail == AUTH_MALFORMED || fail == AUTH_SIGNATURE || fail == AUTH_ALG);
        free(p);
    }
    /* Every one-character change, to another base64url character or to '=', is refused:
     * decoding is strict, so no two texts carry the same bytes. */
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '.')
            continue;
        const char repl[] = {t[i] == 'A' ? 'B' : 'A', t[i] == '_' ? '-' : '_', '='};
        for (size_t r = 0; r < sizeof(repl); r++) {
            memcpy(u, t, n + 1);
            u[i] = repl[r];
            ck_assert_msg(check(v, u, NOW) != AUTH_OK, "changed byte %zu to %c", i, repl[r]);
        }
    }
    /* Padding is not base64url. */
    snprintf(u, sizeof(u), "%.*s=%s", (int)(d2 - t), t, d2);
    ck_assert_int_eq(check(v, u, NOW), AUTH_MALFORMED);
    snprintf(u, sizeof(u), "%s=", t);
    ck_assert_int_ne(check(v, u, NOW), AUTH_OK);
    /* Standard base64 characters are not base64url. */
    snprintf(u, sizeof(u), "%s", t);
    for (char *p = u; p < u + (d1 - t); p++)
        if (*p == 'J')
            *p = '+';
    ck_assert_int_eq(check(v, u, NOW), AUTH_MALFORMED);
    /* Longer than AUTH_TOKEN_MAX. */
    char *big = malloc(AUTH_TOKEN_MAX + 2);
    ck_assert_ptr_nonnull(big);
    memset(big, 'a', AUTH_TOKEN_MAX + 1);
    big[AUTH_TOKEN_MAX + 1] = '\0';
    ck_assert_int_eq(check(v, big, NOW), AUTH_MALFORMED);
    ck_assert_str_eq(last_err, "token longer than 8192 bytes");
    free(big);
    ck_assert_int_eq(check(v, "", NOW), AUTH_MALFORMED);
    ck_assert_str_eq(last_err, "empty token");
    auth_verifier_free(v);
}
END_TEST

START_TEST(test_malformed_json)
{
    auth_verifier_t *v = make(SECRET, NULL, NULL);
    static const struct {
        const char *hdr, *payload;
        int fail;
        const char *err;
    } cases[] = {
        {"not json", CLAIMS, AUTH_MALFORMED, "header is not base64url JSON"},
        {"[\"HS256\"]", CLAIMS, AUTH_MALFORMED, "header is not base64url JSON"},
        {"\"HS256\"", CLAIMS, AUTH_MALFORMED, "header is not base64url JSON"},
        {"{}", CLAIMS, AUTH_MALFORMED, "header has no alg"},
        {"{\"alg\":256}", CLAIMS, AUTH_MALFORMED, "header has no alg"},
        {"{\"alg\":\"HS256\",\"alg\":\"none\"}", CLAIMS, AUTH_MALFORMED,
         "header is not base64url JSON"},
        {"{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", CLAIMS, AUTH_MALFORMED,
         "critical header extensions are not supported"},
        {HS, "not json", AUTH_MALFORMED, "payload is not base64url JSON object"},
        {HS, "[1]", AUTH_MALFORMED, "payload is not base64url JSON object"},
        {HS, "{\"sub\":\"a\",\"sub\":\"admin\",\"exp\":1900000000}", AUTH_MALFORMED,
         "payload is not base64url JSON object"},
        {HS, "{\"sub\":\"a\",\"exp\":1900000000} x", AUTH_MALFORMED,
         "payload is not base64url JSON object"},
    };
    char t[4096];
    for (size_t i = 0; i < DG_ARRAY_LEN(cases); i++) {
        token(t, sizeof(t), cases[i].hdr, cases[i].payload, S_HS, SECRET);
        ck_assert_int_eq(check(v, t, NOW), cases[i].fail);
        ck_assert_str_eq(last_err, cases[i].err);
    }
    /* kid, typ and unknown header members are ignored; there is one key. */
    ck_assert_int_eq(
        check(v,
              token(t, sizeof(t), "{\"alg\":\"HS256\",\"kid\":\"k1\",\"typ\":\"at+jwt\"}", CLAIMS,
                    S_HS, SECRET),
              NOW),
        AUTH_OK);
    auth_verifier_free(v);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Keys and verifier construction */

static int new_err(const char *secret, const char *keyfile, char *err, size_t errlen)
{
    cfg_t c;
    cfg_defaults(&c);
    snprintf(c.jwt_secret, sizeof(c.jwt_secret), "%s", secret);
    snprintf(c.jwt_public_key_file, sizeof(c.jwt_public_key_file), "%s", keyfile);
    auth_verifier_t *v = (auth_verifier_t *)&c; /* must be reset to NULL on failure */
    int rc = auth_verifier_new(&c, &v, err, errlen);
    ck_assert_ptr_null(v);
    ck_assert_ptr_null(strstr(err, SECRET));
    return rc;
}

START_TEST(test_verifier_errors)
{
    char err[512], want[512];
    ck_assert_int_eq(new_err("", "", err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "set jwt_secret (HS256) or jwt_public_key_file (RS256/ES256)");
    ck_assert_int_eq(new_err(SECRET, rsa_pub, err, sizeof(err)), DG_EINVAL);
    ck_assert_str_eq(err, "set jwt_secret or jwt_public_key_file, not both");
    ck_assert_int_eq(new_err("", "/nonexistent/key.pem", err, sizeof(err)), DG_EIO);
    ck_assert_str_eq(err, "jwt_public_key_file: /nonexistent/key.pem: No such file or directory");
    ck_assert_int_eq(new_err("", rsa_priv, err, sizeof(err)), DG_EINVAL);
    snprintf(want, sizeof(want),
             "jwt_public_key_file: %s holds a private key; give the public key (openssl pkey "
             "-in KEY -pubout)",
             rsa_priv);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(new_err("", garbage, err, sizeof(err)), DG_EINVAL);
    snprintf(want, sizeof(want), "jwt_public_key_file: %s: no PEM public key or certificate found",
             garbage);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(new_err("", rsa1024_pub, err, sizeof(err)), DG_EINVAL);
    snprintf(want, sizeof(want), "jwt_public_key_file: %s: RSA key of 1024 bits (at least 2048)",
             rsa1024_pub);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(new_err("", ec384_pub, err, sizeof(err)), DG_EINVAL);
    snprintf(want, sizeof(want),
             "jwt_public_key_file: %s: EC key on curve secp384r1 (ES256 needs P-256)", ec384_pub);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(new_err("", dir, err, sizeof(err)), DG_EIO); /* a directory */
    auth_verifier_free(NULL);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Threads: one verifier, several threads at once */

struct worker {
    auth_verifier_t *v;
    const char *good, *bad;
    int ok;
};

static void *verify_loop(void *arg)
{
    struct worker *w = arg;
    w->ok = 1;
    for (int i = 0; i < 50; i++) {
        auth_claims_t c;
        if (auth_verify(w->v, w->good, strlen(w->good), NOW, &c, NULL, NULL, 0) != DG_OK ||
            strcmp(c.sub, "u1") != 0)
            w->ok = 0;
        auth_claims_clear(&c);
        if (auth_verify(w->v, w->bad, strlen(w->bad), NOW, &c, NULL, NULL, 0) != DG_EPROTO)
            w->ok = 0;
    }
    return NULL;
}

START_TEST(test_threads)
{
    static char good[3][4096], bad[3][4096];
    auth_verifier_t *v[3] = {make(SECRET, NULL, NULL), make(NULL, rsa_pub, NULL),
                             make(NULL, ec_pub, NULL)};
    token(good[0], sizeof(good[0]), HS, CLAIMS, S_HS, SECRET);
    token(bad[0], sizeof(bad[0]), HS, CLAIMS, S_HS, "other");
    token(good[1], sizeof(good[1]), RS, CLAIMS, S_RS, rsa_key);
    token(bad[1], sizeof(bad[1]), RS, CLAIMS, S_RS, rsa_other);
    token(good[2], sizeof(good[2]), ES, CLAIMS, S_ES, ec_key);
    token(bad[2], sizeof(bad[2]), ES, CLAIMS, S_ES, ec_other);
    pthread_t th[6];
    struct worker w[6];
    for (int i = 0; i < 6; i++) {
        w[i] = (struct worker){v[i % 3], good[i % 3], bad[i % 3], 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, verify_loop, &w[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(w[i].ok, "thread %d", i);
    }
    for (int i = 0; i < 3; i++)
        auth_verifier_free(v[i]);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Where tokens come from */

START_TEST(test_bearer)
{
    static const struct {
        const char *value;
        int rc;
        const char *tok;
    } cases[] = {
        {"Bearer abc.def.ghi", DG_OK, "abc.def.ghi"},
        {"bearer abc", DG_OK, "abc"},
        {"BEARER \t abc  \t", DG_OK, "abc"},
        {"  Bearer a-b_c.d~e+f/g==", DG_OK, "a-b_c.d~e+f/g=="},
        {"Basic dXNlcjpwdw==", DG_ENOTFOUND, NULL},
        {"Bearerabc", DG_ENOTFOUND, NULL},
        {"Bear", DG_ENOTFOUND, NULL},
        {"", DG_ENOTFOUND, NULL},
        {"Bearer", DG_EPROTO, NULL},
        {"Bearer   ", DG_EPROTO, NULL},
        {"Bearer a b", DG_EPROTO, NULL},
        {"Bearer a,b", DG_EPROTO, NULL},
        {"Bearer \"abc\"", DG_EPROTO, NULL},
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(cases); i++) {
        const char *tok = (const char *)1;
        size_t n = 99;
        int rc = auth_bearer(cases[i].value, strlen(cases[i].value), &tok, &n);
        ck_assert_msg(rc == cases[i].rc, "'%s': %d", cases[i].value, rc);
        if (rc == DG_OK) {
            ck_assert_uint_eq(n, strlen(cases[i].tok));
            ck_assert(memcmp(tok, cases[i].tok, n) == 0);
        } else {
            ck_assert_ptr_null(tok);
            ck_assert_uint_eq(n, 0);
        }
    }
    /* The value need not be NUL-terminated: only len bytes are read. */
    const char *tok;
    size_t n;
    ck_assert_int_eq(auth_bearer("Bearer abcXYZ", 10, &tok, &n), DG_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(auth_bearer(NULL, 0, &tok, &n), DG_ENOTFOUND);
    char *big = malloc(AUTH_TOKEN_MAX + 8);
    ck_assert_ptr_nonnull(big);
    memcpy(big, "Bearer ", 7);
    memset(big + 7, 'a', AUTH_TOKEN_MAX);
    ck_assert_int_eq(auth_bearer(big, 7 + AUTH_TOKEN_MAX, &tok, &n), DG_OK);
    big[7 + AUTH_TOKEN_MAX] = 'a';
    ck_assert_int_eq(auth_bearer(big, 8 + AUTH_TOKEN_MAX, &tok, &n), DG_ELIMIT);
    free(big);
}
END_TEST

START_TEST(test_query_token)
{
    static const struct {
        const char *qs;
        int rc;
        const char *tok;
    } cases[] = {
        {"access_token=abc.def.ghi", DG_OK, "abc.def.ghi"},
        {"?access_token=abc", DG_OK, "abc"},
        {"queue=http&access_token=a-b_c&lastEventId=x", DG_OK, "a-b_c"},
        {"x_access_token=abc", DG_ENOTFOUND, NULL},
        {"access_tokens=abc", DG_ENOTFOUND, NULL},
        {"", DG_ENOTFOUND, NULL},
        {"?", DG_ENOTFOUND, NULL},
        {"queue=http", DG_ENOTFOUND, NULL},
        {"access_token=", DG_EPROTO, NULL},
        {"access_token", DG_EPROTO, NULL},
        {"access_token=a%2Eb", DG_EPROTO, NULL},
        {"access_token=a+b", DG_EPROTO, NULL},
        {"access_token=a=b", DG_EPROTO, NULL},
        {"access_token=a&access_token=b", DG_EPROTO, NULL},
        {"access_token=a&x=1&access_token=a", DG_EPROTO, NULL},
    };
    for (size_t i = 0; i < DG_ARRAY_LEN(cases); i++) {
        const char *tok = (const char *)1;
        size_t n = 99;
        int rc = auth_query_token(cases[i].qs, strlen(cases[i].qs), &tok, &n);
        ck_assert_msg(rc == cases[i].rc, "'%s': %d", cases[i].qs, rc);
        if (rc == DG_OK) {
            ck_assert_uint_eq(n, strlen(cases[i].tok));
            ck_assert(memcmp(tok, cases[i].tok, n) == 0);
        } else {
            ck_assert_ptr_null(tok);
        }
    }
    /* Every prefix of a query with a token: found once the value starts, never past len. */
    const char *qs = "a=1&access_token=xyz&b=2";
    size_t len = strlen(qs);
    for (size_t cut = 0; cut <= len; cut++) {
        char *p = malloc(cut ? cut : 1);
        ck_assert_ptr_nonnull(p);
        memcpy(p, qs, cut);
        const char *tok;
        size_t n;
        int rc = auth_query_token(p, cut, &tok, &n);
        if (cut >= 18) {
            ck_assert_int_eq(rc, DG_OK);
            ck_assert_uint_eq(n, cut >= 20 ? 3 : cut - 17);
        } else {
            ck_assert(rc == DG_ENOTFOUND || rc == DG_EPROTO);
        }
        free(p);
    }
}
END_TEST

START_TEST(test_sio_token)
{
    static const struct {
        const char *json;
        int rc;
        const char *tok;
    } cases[] = {
        {"{\"token\":\"abc.def.ghi\"}", DG_OK, "abc.def.ghi"},
        {"{\"token\":\"Bearer abc\"}", DG_OK, "abc"},
        {"{\"token\":\"a\\u002Eb\",\"other\":1}", DG_OK, "a.b"},
        {" { \"x\" : [1,2], \"token\" : \"t\" } ", DG_OK, "t"},
        {"", DG_ENOTFOUND, NULL},
        {"{}", DG_ENOTFOUND, NULL},
        {"{\"Token\":\"abc\"}", DG_ENOTFOUND, NULL},
        {"{\"token\":null}", DG_EPROTO, NULL},
        {"{\"token\":42}", DG_EPROTO, NULL},
        {"{\"token\":\"\"}", DG_EPROTO, NULL},
        {"{\"token\":\"Bearer \"}", DG_EPROTO, NULL},
        {"{\"token\":\"a\",\"token\":\"b\"}", DG_EPROTO, NULL},
        {"[\"token\"]", DG_EPROTO, NULL},
        {"\"abc\"", DG_EPROTO, NULL},
        {"{\"token\":\"abc\"", DG_EPROTO, NULL},
        {"{\"token\":\"a\\u0000b\"}", DG_EPROTO, NULL},
    };
    char out[64];
    for (size_t i = 0; i < DG_ARRAY_LEN(cases); i++) {
        size_t n = 99;
        int rc = auth_sio_token(cases[i].json, strlen(cases[i].json), out, sizeof(out), &n);
        ck_assert_msg(rc == cases[i].rc, "'%s': %d", cases[i].json, rc);
        if (rc == DG_OK) {
            ck_assert_str_eq(out, cases[i].tok);
            ck_assert_uint_eq(n, strlen(cases[i].tok));
        } else {
            ck_assert_str_eq(out, "");
            ck_assert_uint_eq(n, 0);
        }
    }
    size_t n;
    ck_assert_int_eq(auth_sio_token("{\"token\":\"abcd\"}", 16, out, 5, &n), DG_OK);
    ck_assert_int_eq(auth_sio_token("{\"token\":\"abcde\"}", 17, out, 5, &n), DG_ELIMIT);
    /* Every truncation of a valid object is refused or absent, never a partial token. */
    const char *json = "{\"token\":\"abc\"}";
    for (size_t cut = 0; cut < strlen(json); cut++) {
        int rc = auth_sio_token(json, cut, out, sizeof(out), &n);
        ck_assert(rc == DG_ENOTFOUND || rc == DG_EPROTO);
    }
}
END_TEST

START_TEST(test_fail_names)
{
    ck_assert_str_eq(auth_fail_name(AUTH_OK), "ok");
    ck_assert_str_eq(auth_fail_name(AUTH_MISSING), "missing");
    ck_assert_str_eq(auth_fail_name(AUTH_MALFORMED), "malformed");
    ck_assert_str_eq(auth_fail_name(AUTH_ALG), "algorithm");
    ck_assert_str_eq(auth_fail_name(AUTH_SIGNATURE), "signature");
    ck_assert_str_eq(auth_fail_name(AUTH_EXPIRED), "expired");
    ck_assert_str_eq(auth_fail_name(AUTH_NOT_YET_VALID), "not_yet_valid");
    ck_assert_str_eq(auth_fail_name(AUTH_ISSUER), "issuer");
    ck_assert_str_eq(auth_fail_name(AUTH_AUDIENCE), "audience");
    ck_assert_str_eq(auth_fail_name(AUTH_CLAIMS), "claims");
    ck_assert_str_eq(auth_fail_name(AUTH_NFAIL), "unknown");
    ck_assert_str_eq(auth_fail_name(-1), "unknown");
}
END_TEST

Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *t = tcase_create("verify");
    tcase_add_unchecked_fixture(t, keys_setup, keys_teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_hs256_valid);
    tcase_add_test(t, test_rs256_es256_valid);
    tcase_add_test(t, test_exp_nbf_skew_edges);
    tcase_add_test(t, test_exp_required_and_types);
    tcase_add_test(t, test_deadlines);
    tcase_add_test(t, test_wrong_signature);
    tcase_add_test(t, test_alg_none_and_confusion);
    tcase_add_test(t, test_issuer_audience);
    tcase_add_test(t, test_user_id);
    tcase_add_test(t, test_malformed);
    tcase_add_test(t, test_malformed_json);
    tcase_add_test(t, test_verifier_errors);
    tcase_add_test(t, test_threads);
    suite_add_tcase(s, t);
    t = tcase_create("extract");
    tcase_add_test(t, test_bearer);
    tcase_add_test(t, test_query_token);
    tcase_add_test(t, test_sio_token);
    tcase_add_test(t, test_fail_names);
    suite_add_tcase(s, t);
    return s;
}
