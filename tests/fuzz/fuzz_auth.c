/* fuzz_auth.c - libFuzzer driver for auth.c: token verification and token extraction.
 * Input: byte 0 picks the entry point, the rest is its input:
 *   0  a raw token for auth_verify (HS256 verifier with a fixed test secret)
 *   1  an Authorization header value for auth_bearer
 *   2  a query string for auth_query_token
 *   3  a Socket.IO CONNECT auth object for auth_sio_token
 *   4  "<header JSON>\0<payload JSON>": the driver signs it with the verifier's own secret, so
 *      the fuzzer gets past the signature into header, alg and claim checks
 * Invariants (abort on breach): accepted tokens have a user id without control characters and
 * a fail reason of AUTH_OK; refused ones a reason in range and zeroed claims; no error text holds
 * the secret; extracted tokens point inside the input.
 * Build: see tests/fuzz/README.md. -DFUZZ_MAIN adds a main() running the files named. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "config.h"
#include "dg.h"

#define SECRET "fuzz-secret-fuzz-secret-fuzz-secret!"
#define NOW 1800000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static auth_verifier_t *verifier(void)
{
    static auth_verifier_t *v;
    if (!v) {
        cfg_t c;
        char err[256];
        cfg_defaults(&c);
        snprintf(c.jwt_secret, sizeof(c.jwt_secret), "%s", SECRET);
        snprintf(c.jwt_issuer, sizeof(c.jwt_issuer), "iss");
        snprintf(c.jwt_audience, sizeof(c.jwt_audience), "aud");
        c.jwt_require_exp = 0;
        if (auth_verifier_new(&c, &v, err, sizeof(err)) != DG_OK)
            abort();
    }
    return v;
}

/* Unpadded base64url of in[0..n) appended at out + *o. */
static void b64url(const unsigned char *in, size_t n, char *out, size_t *o)
{
    size_t start = *o;
    int w = EVP_EncodeBlock((unsigned char *)out + start, in, (int)n);
    size_t e = start + (size_t)w;
    while (e > start && out[e - 1] == '=')
        e--;
    for (size_t i = start; i < e; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    *o = e;
}

static void verify(const char *tok, size_t n)
{
    auth_claims_t c;
    int fail = -1;
    char err[128];
    int rc = auth_verify(verifier(), tok, n, NOW, &c, &fail, err, sizeof(err));
    if (strstr(err, SECRET))
        abort();
    if (rc == DG_OK) {
        if (fail != AUTH_OK || !c.sub[0] || !c.payload)
            abort();
        for (const char *p = c.sub; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                abort();
        auth_claims_has_scope(&c, "read", 4);
        auth_claims_match(&c, "role", 4, "admin", 5);
        auth_claims_clear(&c);
    } else if (rc == DG_EPROTO) {
        if (fail <= AUTH_MISSING || fail >= AUTH_NFAIL || c.payload || c.sub[0])
            abort();
    } else if (rc != DG_ENOMEM) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    const char *tok;
    size_t tn;
    switch (data[0] % 5) {
    case 0:
        verify(s, n);
        break;
    case 1:
        if (auth_bearer(s, n, &tok, &tn) == DG_OK && (tok < s || tok + tn > s + n || tn == 0))
            abort();
        break;
    case 2:
        if (auth_query_token(s, n, &tok, &tn) == DG_OK && (tok < s || tok + tn > s + n || tn == 0))
            abort();
        break;
    case 3: {
        char out[AUTH_TOKEN_MAX + 1];
        if (auth_sio_token(s, n, out, sizeof(out), &tn) == DG_OK && strlen(out) != tn)
            abort();
        break;
    }
    default: {
        const char *nul = memchr(s, '\0', n);
        if (!nul || n > 4096)
            return 0;
        size_t hn = (size_t)(nul - s), pn = n - hn - 1;
        static char t[8192];
        size_t o = 0;
        b64url((const unsigned char *)s, hn, t, &o);
        t[o++] = '.';
        b64url((const unsigned char *)nul + 1, pn, t, &o);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)t, o, md, &mdlen);
        t[o++] = '.';
        b64url(md, mdlen, t, &o);
        verify(t, o);
    }
    }
    return 0;
}

#include "fuzz_replay.h"
