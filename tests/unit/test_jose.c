/* test_jose.c -- JWT parse/verify against Moodle 4.5.6 id_tokens and attacks on them (alg
 * none, HS256 key confusion, other algs, kid abuse, bit flips, duplicates, key-bearing
 * headers, crit), JWKS parsing, tool key pairs (RFC 7638 kid), signing, seal/unseal. */
#include "unit.h"

#include <apr_file_io.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "lti_jose.h"

#define PLATFORM_KID "be5c594cf7cee8433a1c"
#define B64U_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/* RFC 7638 section 3.1: the example key and its thumbprint. */
#define RFC7638_N                                                                          \
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc" \
    "_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQ" \
    "R0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFT" \
    "WhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
#define RFC7638_THUMBPRINT "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

/* ---- helpers ------------------------------------------------------------------------- */

static apr_status_t json_cleanup(void *j)
{
    json_decref(j);
    return APR_SUCCESS;
}

static json_t *pooled(apr_pool_t *p, json_t *j)
{
    assert_non_null(j);
    apr_pool_cleanup_register(p, j, json_cleanup, apr_pool_cleanup_null);
    return j;
}

/* The whole file at path (NUL-terminated); fails the test when unreadable. */
static const char *read_text(apr_pool_t *p, const char *path, size_t *len)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t n;
    char *buf;

    assert_int_equal(apr_file_open(&f, path, APR_FOPEN_READ, 0, p), APR_SUCCESS);
    assert_int_equal(apr_file_info_get(&fi, APR_FINFO_SIZE, f), APR_SUCCESS);
    n = (apr_size_t)fi.size;
    buf = apr_palloc(p, n + 1);
    assert_int_equal(apr_file_read_full(f, buf, n, &n), APR_SUCCESS);
    apr_file_close(f);
    buf[n] = '\0';
    if (len != NULL) {
        *len = n;
    }
    return buf;
}

/* base64url without padding. */
static const char *b64u(apr_pool_t *p, const void *buf, size_t len)
{
    char *s = (char *)lti_base64(p, buf, len);

    for (char *c = s; *c; c++) {
        if (*c == '+') {
            *c = '-';
        }
        else if (*c == '/') {
            *c = '_';
        }
        else if (*c == '=') {
            *c = '\0';
            break;
        }
    }
    return s;
}

static const char *b64u_str(apr_pool_t *p, const char *s)
{
    return b64u(p, s, strlen(s));
}

/* "b64u(header).b64u(claims)." + sig (already base64url, may be ""). */
static const char *token(apr_pool_t *p, const char *header, const char *claims,
                         const char *sig)
{
    return apr_pstrcat(p, b64u_str(p, header), ".", b64u_str(p, claims), ".", sig, NULL);
}

/* A Moodle capture's id_token. */
static const char *moodle_token(apr_pool_t *p, const char *name)
{
    json_error_t jerr;
    json_t *doc = pooled(p, json_load_file(unit_fixture(p, name), 0, &jerr));
    const char *t = json_string_value(json_object_get(doc, "id_token"));

    assert_non_null(t);
    return apr_pstrdup(p, t);
}

/* Part i (0, 1, 2) of a compact token. */
static const char *token_part(apr_pool_t *p, const char *compact, int i)
{
    const char *s = compact;

    for (; i > 0; i--) {
        s = strchr(s, '.');
        assert_non_null(s);
        s++;
    }
    return apr_pstrndup(p, s, strcspn(s, "."));
}

static lti_jwks_t *platform_jwks(apr_pool_t *p)
{
    size_t len;
    const char *text = read_text(p, unit_fixture(p, "platform-jwks.json"), &len);
    lti_jwks_t *set;
    lti_err_t err;

    assert_int_equal(lti_jwks_parse(p, text, len, &set, &err), LTI_OK);
    return set;
}

static lti_jwks_t *jwks_of(apr_pool_t *p, const char *const *jwks, int n)
{
    const char *doc = lti_jwks_document(p, jwks, n, NULL);
    lti_jwks_t *set;

    assert_non_null(doc);
    assert_int_equal(lti_jwks_parse(p, doc, strlen(doc), &set, NULL), LTI_OK);
    return set;
}

/* Parses compact; returns the status and the error (reason checked by the caller). */
static lti_status_t parse(apr_pool_t *p, const char *compact, lti_jwt_t **jwt, lti_err_t *err)
{
    lti_jwt_t *local;

    lti_err_clear(err);
    return lti_jwt_parse(p, compact, strlen(compact), jwt ? jwt : &local, err);
}

/* Asserts that compact is refused by lti_jwt_parse with status and reason. */
static void assert_refused(apr_pool_t *p, const char *compact, lti_status_t status,
                           const char *reason)
{
    lti_jwt_t *jwt = (lti_jwt_t *)1;
    lti_err_t err;

    assert_int_equal(parse(p, compact, &jwt, &err), status);
    assert_null(jwt);
    assert_int_equal(err.status, status);
    assert_string_equal(err.reason, reason);
}

/* Parse + verify of compact with set: LTI_OK only when both pass. */
static lti_status_t parse_verify(apr_pool_t *p, const char *compact, const lti_jwks_t *set,
                                 lti_err_t *err)
{
    lti_jwt_t *jwt;
    lti_status_t st = parse(p, compact, &jwt, err);

    return st != LTI_OK ? st : lti_jwt_verify(jwt, set, err);
}

/* RS256 compact JWS of header and claims (JSON texts) made with OpenSSL and a PEM key,
 * so that tests control every header member. */
static const char *rs256(apr_pool_t *p, const char *pem, const char *header,
                         const char *claims)
{
    const char *input = apr_pstrcat(p, b64u_str(p, header), ".", b64u_str(p, claims), NULL);
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);
    int ok;

    ok = pk != NULL && md != NULL
         && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk) == 1
         && EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, strlen(input)) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    BIO_free(bio);
    assert_true(ok);
    return apr_pstrcat(p, input, ".", b64u(p, sig, siglen), NULL);
}

/* Two tool key pairs, made once (RSA key generation is slow under ASan). */
static lti_keypair_t key_a, key_b;

static void make_keys(apr_pool_t *p)
{
    static int made;
    lti_err_t err;

    if (!made) {
        assert_int_equal(lti_keypair_generate(p, &key_a, &err), LTI_OK);
        assert_int_equal(lti_keypair_generate(p, &key_b, &err), LTI_OK);
        made = 1;
    }
}

/* PEM of a fresh private key of another kind (RSA-1024, EC P-256), optionally encrypted. */
static const char *other_pem(apr_pool_t *p, const char *type, int encrypt)
{
    EVP_PKEY *pk = strcmp(type, "EC") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
                                           : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = 0;
    const char *out;

    assert_non_null(pk);
    assert_non_null(bio);
    if (encrypt) {
        assert_int_equal(PEM_write_bio_PrivateKey(bio, pk, EVP_aes_256_cbc(),
                                                  (unsigned char *)"pw", 2, NULL, NULL), 1);
    }
    else {
        assert_int_equal(PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL), 1);
    }
    n = BIO_get_mem_data(bio, &data);
    out = apr_pstrmemdup(p, data, (apr_size_t)n);
    BIO_free(bio);
    EVP_PKEY_free(pk);
    return out;
}

/* ---- Moodle's id_tokens -------------------------------------------------------------- */

static void test_moodle_tokens(void **state)
{
    static const struct {
        const char *file, *aud, *sub, *nonce;
    } t[] = {
        {"lti13-launch-student.json", "ETcWli258i8O3jj", "3", "nonce-xyz789"},
        {"lti13-launch-teacher.json", "ETcWli258i8O3jj", "4", "nonce-t1"},
        {"lti13-deeplinking-request.json", "kCO6YxnAioWDAse", "4", "nonce-dl"},
    };
    apr_pool_t *p = *state;
    lti_jwks_t *set = platform_jwks(p), *empty;
    json_error_t jerr;

    assert_true(lti_jwks_has(set, PLATFORM_KID));
    assert_int_equal(lti_jwks_parse(p, "{\"keys\":[]}", 11, &empty, NULL), LTI_OK);
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        json_t *doc = pooled(p, json_load_file(unit_fixture(p, t[i].file), 0, &jerr));
        const char *compact = json_string_value(json_object_get(doc, "id_token"));
        lti_jwt_t *jwt;
        lti_err_t err;

        assert_int_equal(lti_jwt_parse(p, compact, strlen(compact), &jwt, &err), LTI_OK);
        assert_string_equal(jwt->alg, "RS256");
        assert_string_equal(jwt->kid, PLATFORM_KID);
        assert_string_equal(jwt->compact, compact);
        assert_int_equal(lti_jwt_verify(jwt, set, &err), LTI_OK);
        assert_string_equal(json_string_value(json_object_get(jwt->claims, "iss")),
                            "http://127.0.0.1:8081");
        assert_string_equal(json_string_value(json_object_get(jwt->claims, "aud")), t[i].aud);
        assert_string_equal(json_string_value(json_object_get(jwt->claims, "sub")), t[i].sub);
        assert_string_equal(json_string_value(json_object_get(jwt->claims, "nonce")),
                            t[i].nonce);
        /* Every claim and header member as the capture decoded them. */
        assert_true(json_equal(jwt->claims, json_object_get(doc, "claims")));
        assert_true(json_equal(jwt->header, json_object_get(doc, "header")));
        /* Not in the set: an unknown key, never a pass. */
        assert_int_equal(lti_jwt_verify(jwt, empty, &err), LTI_ERR_UNKNOWN_KEY);
        assert_string_equal(err.reason, "jwt_unknown_kid");
        /* Released early, the trees are gone, and the pool does not free them again (the
         * ASan build would see a second free). */
        lti_jwt_release(p, jwt);
        assert_null(jwt->claims);
        assert_null(jwt->header);
        assert_null(jwt->kid);
    }
}

/* ---- algorithm pinning --------------------------------------------------------------- */

static void test_alg_refused(void **state)
{
    static const char *const headers[] = {
        "{\"typ\":\"JWT\",\"alg\":\"none\",\"kid\":\"" PLATFORM_KID "\"}",
        "{\"typ\":\"JWT\",\"alg\":\"None\",\"kid\":\"" PLATFORM_KID "\"}",
        "{\"typ\":\"JWT\",\"alg\":\"HS256\",\"kid\":\"" PLATFORM_KID "\"}",
        "{\"typ\":\"JWT\",\"alg\":\"RS384\",\"kid\":\"" PLATFORM_KID "\"}",
        "{\"typ\":\"JWT\",\"alg\":\"RS512\",\"kid\":\"" PLATFORM_KID "\"}",
        "{\"typ\":\"JWT\",\"alg\":\"PS256\",\"kid\":\"" PLATFORM_KID "\"}",
        "{\"typ\":\"JWT\",\"alg\":\"ES256\",\"kid\":\"" PLATFORM_KID "\"}",
        "{\"typ\":\"JWT\",\"alg\":\"rs256\",\"kid\":\"" PLATFORM_KID "\"}",
        "{\"typ\":\"JWT\",\"alg\":\"RS256 \",\"kid\":\"" PLATFORM_KID "\"}",
        "{\"typ\":\"JWT\",\"alg\":\"RS256\\u0000\",\"kid\":\"" PLATFORM_KID "\"}",
        "{\"typ\":\"JWT\",\"alg\":\"\",\"kid\":\"" PLATFORM_KID "\"}",
        "{\"typ\":\"JWT\",\"alg\":256,\"kid\":\"" PLATFORM_KID "\"}",
        "{\"typ\":\"JWT\",\"alg\":[\"RS256\"],\"kid\":\"" PLATFORM_KID "\"}",
        "{\"typ\":\"JWT\",\"kid\":\"" PLATFORM_KID "\"}",
        /* alg is checked before kid: no kid, still jwt_alg. */
        "{\"alg\":\"none\"}",
    };
    apr_pool_t *p = *state;
    const char *real = moodle_token(p, "lti13-launch-student.json");
    const char *payload = token_part(p, real, 1), *sig = token_part(p, real, 2);

    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        const char *h = b64u_str(p, headers[i]);

        /* Under the platform's real signature, with an empty one, and without any. */
        assert_refused(p, apr_pstrcat(p, h, ".", payload, ".", sig, NULL),
                       LTI_ERR_UNSUPPORTED, "jwt_alg");
        assert_refused(p, apr_pstrcat(p, h, ".", payload, ".", NULL), LTI_ERR_UNSUPPORTED,
                       "jwt_alg");
        assert_refused(p, apr_pstrcat(p, h, ".", payload, NULL), LTI_ERR_MALFORMED,
                       "jwt_malformed");
    }
}

/* HMAC-SHA256 over header.payload with key as the secret. */
static const char *hs256(apr_pool_t *p, const char *input, const void *key, size_t keylen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    assert_non_null(HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)input,
                         strlen(input), md, &mdlen));
    return apr_pstrcat(p, input, ".", b64u(p, md, mdlen), NULL);
}

/* SubjectPublicKeyInfo PEM of the platform's key, built from the JWKS n and e. */
static const char *platform_public_pem(apr_pool_t *p, const unsigned char *n, size_t nlen)
{
    static const unsigned char e[] = {1, 0, 1};
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *bn_n = BN_bin2bn(n, (int)nlen, NULL), *bn_e = BN_bin2bn(e, 3, NULL);
    OSSL_PARAM *params;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *pk = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    const char *out;

    assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1);
    assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1);
    params = OSSL_PARAM_BLD_to_param(bld);
    assert_non_null(params);
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params), 1);
    assert_int_equal(PEM_write_bio_PUBKEY(bio, pk), 1);
    len = BIO_get_mem_data(bio, &data);
    out = apr_pstrmemdup(p, data, (apr_size_t)len);
    BIO_free(bio);
    EVP_PKEY_free(pk);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return out;
}

/* The classic key confusion: HS256 MACed with the platform's public key as the secret. */
static void test_hs256_key_confusion(void **state)
{
    apr_pool_t *p = *state;
    const char *real = moodle_token(p, "lti13-launch-student.json");
    const char *header = "{\"typ\":\"JWT\",\"alg\":\"HS256\",\"kid\":\"" PLATFORM_KID "\"}";
    const char *input = apr_pstrcat(p, b64u_str(p, header), ".", token_part(p, real, 1), NULL);
    size_t jwkslen;
    const char *jwks_text = read_text(p, unit_fixture(p, "platform-jwks.json"), &jwkslen);
    json_error_t jerr;
    json_t *jwks = pooled(p, json_loads(jwks_text, 0, &jerr));
    json_t *key = json_array_get(json_object_get(jwks, "keys"), 0);
    const char *n64 = json_string_value(json_object_get(key, "n"));
    char *n_std = apr_pstrdup(p, n64), *key_text;
    unsigned char n[512];
    int nlen;
    const char *pem, *forged[4];
    lti_jwks_t *set = platform_jwks(p);
    lti_jwt_t *jwt, fake;
    lti_err_t err;

    /* The modulus bytes (base64url to base64 for OpenSSL's decoder). */
    for (char *c = n_std; *c; c++) {
        *c = *c == '-' ? '+' : *c == '_' ? '/' : *c;
    }
    n_std = apr_pstrcat(p, n_std, "==", NULL);
    nlen = EVP_DecodeBlock(n, (const unsigned char *)n_std, (int)strlen(n_std));
    assert_true(nlen >= 256);
    nlen = 256;
    pem = platform_public_pem(p, n, (size_t)nlen);
    key_text = json_dumps(key, JSON_COMPACT);
    assert_non_null(key_text);

    forged[0] = hs256(p, input, n, (size_t)nlen);
    forged[1] = hs256(p, input, pem, strlen(pem));
    forged[2] = hs256(p, input, jwks_text, jwkslen);
    forged[3] = hs256(p, input, key_text, strlen(key_text));
    free(key_text);
    for (int i = 0; i < 4; i++) {
        assert_refused(p, forged[i], LTI_ERR_UNSUPPORTED, "jwt_alg");
    }

    /* A hand-made lti_jwt_t that claims RS256 over an HS256 token: verify still refuses,
     * and one that says HS256 is refused before any key is used. */
    assert_int_equal(parse(p, real, &jwt, &err), LTI_OK);
    fake = *jwt;
    fake.compact = forged[1];
    assert_int_equal(lti_jwt_verify(&fake, set, &err), LTI_ERR_SIGNATURE);
    fake = *jwt;
    fake.alg = "HS256";
    assert_int_equal(lti_jwt_verify(&fake, set, &err), LTI_ERR_UNSUPPORTED);
    assert_string_equal(err.reason, "jwt_alg");
    assert_int_equal(lti_jwt_verify(jwt, set, &err), LTI_OK);
}

/* ---- kid ----------------------------------------------------------------------------- */

static void test_kid(void **state)
{
    apr_pool_t *p = *state;
    const char *real = moodle_token(p, "lti13-launch-student.json");
    const char *payload = token_part(p, real, 1), *sig = token_part(p, real, 2);
    char long_kid[301], max_kid[257];
    const char *bad[] = {
        "{\"alg\":\"RS256\"}",
        "{\"alg\":\"RS256\",\"kid\":\"\"}",
        NULL, /* 300 bytes */
        "{\"alg\":\"RS256\",\"kid\":\"be5c\\u0000594cf7cee8433a1c\"}",
        "{\"alg\":\"RS256\",\"kid\":\"be5c594cf7cee8433a1c\\u0000\"}",
        "{\"alg\":\"RS256\",\"kid\":\"a\\nb\"}",
        "{\"alg\":\"RS256\",\"kid\":\"a\\tb\"}",
        "{\"alg\":\"RS256\",\"kid\":\"a\\u001bb\"}",
        "{\"alg\":\"RS256\",\"kid\":\"a\\u007fb\"}",
        "{\"alg\":\"RS256\",\"kid\":\"caf\\u00e9\"}",
        "{\"alg\":\"RS256\",\"kid\":5}",
        "{\"alg\":\"RS256\",\"kid\":null}",
        "{\"alg\":\"RS256\",\"kid\":[\"" PLATFORM_KID "\"]}",
    };
    lti_jwks_t *set = platform_jwks(p);
    lti_jwt_t *jwt;
    lti_err_t err;

    memset(long_kid, 'a', 300);
    long_kid[300] = '\0';
    bad[2] = apr_pstrcat(p, "{\"alg\":\"RS256\",\"kid\":\"", long_kid, "\"}", NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused(p, apr_pstrcat(p, b64u_str(p, bad[i]), ".", payload, ".", sig, NULL),
                       LTI_ERR_MALFORMED, "jwt_kid");
    }

    /* 256 printable bytes (a space included) are a kid; an unknown one. */
    memset(max_kid, 'k', 256);
    max_kid[3] = ' ';
    max_kid[256] = '\0';
    assert_int_equal(parse(p, token(p, apr_pstrcat(p, "{\"alg\":\"RS256\",\"kid\":\"", max_kid,
                                                   "\"}", NULL), "{}", sig), &jwt, &err),
                     LTI_OK);
    assert_string_equal(jwt->kid, max_kid);
    assert_false(lti_jwks_has(set, jwt->kid));
    assert_int_equal(lti_jwt_verify(jwt, set, &err), LTI_ERR_UNKNOWN_KEY);
    assert_string_equal(err.reason, "jwt_unknown_kid");

    /* The platform's payload and signature under another kid. */
    assert_int_equal(parse(p, apr_pstrcat(p, b64u_str(p, "{\"alg\":\"RS256\",\"kid\":\"other\"}"),
                                          ".", payload, ".", sig, NULL), &jwt, &err), LTI_OK);
    assert_int_equal(lti_jwt_verify(jwt, set, &err), LTI_ERR_UNKNOWN_KEY);
    assert_false(lti_jwks_has(set, "other"));
    assert_false(lti_jwks_has(set, NULL));
    assert_false(lti_jwks_has(NULL, PLATFORM_KID));
}

/* ---- tampering ----------------------------------------------------------------------- */

/* One bit flipped at many places of each part: never accepted. */
static void test_bit_flips(void **state)
{
    apr_pool_t *p = *state;
    const char *real = moodle_token(p, "lti13-launch-teacher.json");
    lti_jwks_t *set = platform_jwks(p);
    size_t len = strlen(real), start = 0;
    int refused_verify[3] = {0, 0, 0}, refused_parse[3] = {0, 0, 0};
    apr_pool_t *sub;

    assert_int_equal(apr_pool_create(&sub, p), APR_SUCCESS);
    for (int part = 0; part < 3; part++) {
        size_t end = start + strcspn(real + start, ".");

        for (size_t i = start; i < end; i++) {
            /* The ends of each part, and every 23rd byte in between. */
            if (i > start + 3 && i + 4 < end && (i - start) % 23 != 0) {
                continue;
            }
            for (int bit = 0; bit < 8; bit++) {
                char *t = apr_pstrdup(sub, real);
                lti_jwt_t *jwt;
                lti_err_t err;
                lti_status_t st;

                t[i] = (char)(t[i] ^ (1 << bit));
                if (t[i] == '\0') {
                    continue;
                }
                st = lti_jwt_parse(sub, t, len, &jwt, &err);
                if (st == LTI_OK) {
                    st = lti_jwt_verify(jwt, set, &err);
                    assert_int_not_equal(st, LTI_OK);
                    refused_verify[part]++;
                }
                else {
                    refused_parse[part]++;
                }
            }
            apr_pool_clear(sub);
        }
        start = end + 1;
    }
    apr_pool_destroy(sub);
    /* Each part had flips that parsed and failed verification, and flips that did not
     * even parse (characters outside base64url). */
    for (int part = 0; part < 3; part++) {
        assert_true(refused_verify[part] > 0);
        assert_true(refused_parse[part] > 0);
    }
}

/* Same bytes, another spelling: unused bits set in the signature's last character. */
static void test_non_canonical_base64url(void **state)
{
    apr_pool_t *p = *state;
    char *t = apr_pstrdup(p, moodle_token(p, "lti13-launch-student.json"));
    size_t len = strlen(t);
    const char *pos = strchr(B64U_ALPHABET, t[len - 1]);

    assert_non_null(pos);
    t[len - 1] = B64U_ALPHABET[(pos - B64U_ALPHABET) ^ 1];
    assert_refused(p, t, LTI_ERR_MALFORMED, "jwt_malformed");
}

static void test_structure(void **state)
{
    apr_pool_t *p = *state;
    const char *real = moodle_token(p, "lti13-launch-student.json");
    const char *h = token_part(p, real, 0), *c = token_part(p, real, 1);
    const char *s = token_part(p, real, 2);
    const char *bad[] = {
        "", ".", "..", "...", "a", "a.b", "a.b.c.d", "a.b.c.d.e", "eyJ9.e30",
        apr_pstrcat(p, h, ".", c, NULL),
        apr_pstrcat(p, h, ".", c, ".", s, ".", NULL),
        apr_pstrcat(p, h, ".", c, ".", s, ".", s, NULL),
        apr_pstrcat(p, ".", c, ".", s, NULL),
        apr_pstrcat(p, h, "..", s, NULL),
        apr_pstrcat(p, h, ".", c, ".", s, "==", NULL),
        apr_pstrcat(p, h, "=.", c, ".", s, NULL),
        apr_pstrcat(p, h, ".", c, ".", s, "=garbage", NULL),
        apr_pstrcat(p, h, ".", c, ".", s, "\n", NULL),
        apr_pstrcat(p, " ", h, ".", c, ".", s, NULL),
        apr_pstrcat(p, h, ".", c, "+.", s, NULL),
        apr_pstrcat(p, h, ".", c, "/.", s, NULL),
        apr_pstrcat(p, h, ".", c, "A.", s, NULL),   /* 4n+1 characters */
        apr_pstrcat(p, h, ".", c, "%41.", s, NULL),
        apr_pstrcat(p, h, "\xc3\xa9.", c, ".", s, NULL),
        /* Header not JSON, not an object, trailing bytes. */
        token(p, "RS256", "{}", s),
        token(p, "[\"alg\",\"RS256\"]", "{}", s),
        token(p, "{\"alg\":\"RS256\",\"kid\":\"k\"} x", "{}", s),
        token(p, "{\"alg\":\"RS256\",\"kid\":\"k\"", "{}", s),
        token(p, "{\"alg\":\"RS256\",\"kid\":\"\xff\"}", "{}", s),
    };
    lti_jwt_t *jwt = (lti_jwt_t *)1;
    lti_err_t err;
    char with_nul[64];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused(p, bad[i], LTI_ERR_MALFORMED, "jwt_malformed");
    }
    /* A NUL byte within len, and no token at all. */
    memcpy(with_nul, "e30.e30.AAAA", 13);
    with_nul[5] = '\0';
    assert_int_equal(lti_jwt_parse(p, with_nul, 12, &jwt, &err), LTI_ERR_MALFORMED);
    assert_null(jwt);
    assert_int_equal(lti_jwt_parse(p, NULL, 0, &jwt, &err), LTI_ERR_MALFORMED);
    assert_int_equal(lti_jwt_parse(p, "e30.e30.", 8, NULL, &err), LTI_ERR_INTERNAL);
    /* Only len bytes count. */
    assert_int_equal(lti_jwt_parse(p, apr_pstrcat(p, real, "trailing", NULL), strlen(real),
                                   &jwt, &err), LTI_OK);
    assert_string_equal(jwt->compact, real);
}

static void test_too_large(void **state)
{
    apr_pool_t *p = *state;
    char *big = apr_palloc(p, LTI_JWT_MAX_BYTES + 2);
    lti_jwt_t *jwt;
    lti_err_t err;

    memset(big, 'A', LTI_JWT_MAX_BYTES + 1);
    big[LTI_JWT_MAX_BYTES + 1] = '\0';
    assert_int_equal(lti_jwt_parse(p, big, LTI_JWT_MAX_BYTES + 1, &jwt, &err),
                     LTI_ERR_TOO_LARGE);
    assert_string_equal(err.reason, "jwt_too_large");
    /* At the cap, the size passes and the shape does not. */
    assert_int_equal(lti_jwt_parse(p, big, LTI_JWT_MAX_BYTES, &jwt, &err), LTI_ERR_MALFORMED);
    /* A well-formed token over the cap is refused by size before anything else. */
    memset(big, 'A', LTI_JWT_MAX_BYTES + 1);
    memcpy(big, "eyJhbGciOiJub25lIn0.", 20);
    big[1000] = '.';
    assert_int_equal(lti_jwt_parse(p, big, LTI_JWT_MAX_BYTES + 1, &jwt, &err),
                     LTI_ERR_TOO_LARGE);
}

static void test_duplicates_and_claims(void **state)
{
    static const char *const bad_claims[] = {
        "{\"sub\":\"3\",\"sub\":\"4\"}",
        "{\"iss\":\"a\",\"aud\":\"b\",\"iss\":\"a\"}",
        "{\"https://purl.imsglobal.org/spec/lti/claim/context\":{\"id\":\"1\",\"id\":\"2\"}}",
        "[{\"sub\":\"3\"}]",
        "\"sub\"",
        "null",
        "3",
        "{\"sub\":\"3\"",
        "{\"sub\":\"3\"} {}",
        "{\"sub\":\"a\\u0000b\"}",
        "{\"sub\":\"\xff\"}",
    };
    static const char *const bad_headers[] = {
        "{\"alg\":\"RS256\",\"kid\":\"" PLATFORM_KID "\",\"kid\":\"other\"}",
        "{\"alg\":\"none\",\"alg\":\"RS256\",\"kid\":\"" PLATFORM_KID "\"}",
        "{\"alg\":\"RS256\",\"alg\":\"RS256\",\"kid\":\"" PLATFORM_KID "\"}",
        "{\"alg\":\"RS256\",\"kid\":\"" PLATFORM_KID "\",\"x\":{\"a\":1,\"a\":2}}",
    };
    apr_pool_t *p = *state;
    const char *s = token_part(p, moodle_token(p, "lti13-launch-student.json"), 2);
    const char *good = "{\"alg\":\"RS256\",\"kid\":\"" PLATFORM_KID "\"}";

    for (size_t i = 0; i < sizeof(bad_claims) / sizeof(bad_claims[0]); i++) {
        assert_refused(p, token(p, good, bad_claims[i], s), LTI_ERR_MALFORMED, "jwt_claims");
    }
    for (size_t i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++) {
        assert_refused(p, token(p, bad_headers[i], "{}", s), LTI_ERR_MALFORMED,
                       "jwt_malformed");
    }
}

/* jwk, jku, x5u and x5c headers are never used: the given set decides. */
static void test_key_headers_ignored(void **state)
{
    apr_pool_t *p = *state;
    const char *claims = "{\"iss\":\"http://127.0.0.1:8081\",\"sub\":\"3\"}";
    lti_jwks_t *platform = platform_jwks(p), *set_a, *set_b;
    const char *pub_b, *hdr, *extra[4];
    lti_err_t err;

    make_keys(p);
    set_a = jwks_of(p, &key_a.public_jwk, 1);
    set_b = jwks_of(p, &key_b.public_jwk, 1);
    pub_b = key_b.public_jwk;
    extra[0] = apr_pstrcat(p, "\"jwk\":", pub_b, NULL);
    extra[1] = "\"jku\":\"http://127.0.0.1:9/jwks\"";
    extra[2] = "\"x5u\":\"https://attacker.example/cert.pem\"";
    extra[3] = "\"x5c\":[\"MIIB\"]";

    for (int i = 0; i < 4; i++) {
        /* The attacker B signs under the platform's kid and points at its own key. */
        hdr = apr_pstrcat(p, "{\"alg\":\"RS256\",\"kid\":\"" PLATFORM_KID "\",", extra[i], "}",
                          NULL);
        assert_int_equal(parse_verify(p, rs256(p, key_b.private_pem, hdr, claims), platform,
                                      &err), LTI_ERR_SIGNATURE);
        assert_string_equal(err.reason, "jwt_bad_signature");
        /* ... or under its own kid, which the platform's set does not have. */
        hdr = apr_pstrcat(p, "{\"alg\":\"RS256\",\"kid\":\"", key_b.kid, "\",", extra[i], "}",
                          NULL);
        assert_int_equal(parse_verify(p, rs256(p, key_b.private_pem, hdr, claims), platform,
                                      &err), LTI_ERR_UNKNOWN_KEY);
        /* A real signer's token with such headers verifies with the given set only. */
        hdr = apr_pstrcat(p, "{\"alg\":\"RS256\",\"kid\":\"", key_a.kid, "\",", extra[i], "}",
                          NULL);
        assert_int_equal(parse_verify(p, rs256(p, key_a.private_pem, hdr, claims), set_a,
                                      &err), LTI_OK);
        assert_int_equal(parse_verify(p, rs256(p, key_a.private_pem, hdr, claims), set_b,
                                      &err), LTI_ERR_UNKNOWN_KEY);
    }
}

static void test_crit_refused(void **state)
{
    apr_pool_t *p = *state;
    const char *crits[] = {"[\"exp\"]", "[]", "\"b64\"", "null"};
    lti_jwks_t *set_a;
    lti_err_t err;

    make_keys(p);
    set_a = jwks_of(p, &key_a.public_jwk, 1);
    for (size_t i = 0; i < sizeof(crits) / sizeof(crits[0]); i++) {
        const char *hdr = apr_pstrcat(p, "{\"alg\":\"RS256\",\"kid\":\"", key_a.kid,
                                      "\",\"exp\":1,\"crit\":", crits[i], "}", NULL);
        const char *t = rs256(p, key_a.private_pem, hdr, "{\"sub\":\"1\"}");

        assert_refused(p, t, LTI_ERR_UNSUPPORTED, "jwt_crit");
        assert_int_equal(parse_verify(p, t, set_a, &err), LTI_ERR_UNSUPPORTED);
    }
}

/* ---- JWKS ---------------------------------------------------------------------------- */

static void test_jwks_fixture(void **state)
{
    apr_pool_t *p = *state;
    lti_jwks_t *set = platform_jwks(p);

    assert_true(lti_jwks_has(set, PLATFORM_KID));
    assert_false(lti_jwks_has(set, "be5c594cf7cee8433a1"));
    assert_false(lti_jwks_has(set, ""));
}

/* Base64url modulus of a fresh RSA-1024 key. */
static const char *small_modulus(apr_pool_t *p)
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    BIGNUM *n = NULL;
    unsigned char buf[128];
    int len;

    assert_non_null(pk);
    assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    len = BN_bn2bin(n, buf);
    BN_free(n);
    EVP_PKEY_free(pk);
    return b64u(p, buf, (size_t)len);
}

static void test_jwks_skips(void **state)
{
    static const struct {
        const char *kid;
        int kept;
    } want[] = {
        {"ec", 0}, {"oct", 0}, {"enc", 0}, {"rs384", 0}, {"good", 1}, {"bare", 1},
        {"priv", 1}, {"small", 0}, {"", 0}, {"bad-n", 0}, {"num-n", 0}, {"bad-kty", 0},
        {"ops", 1},
    };
    apr_pool_t *p = *state;
    json_error_t jerr;
    json_t *a, *b, *keys, *doc;
    const char *n_a, *n_b, *text, *t;
    lti_jwks_t *set;
    lti_err_t err;

    make_keys(p);
    a = pooled(p, json_loads(key_a.public_jwk, 0, &jerr));
    b = pooled(p, json_loads(key_b.public_jwk, 0, &jerr));
    n_a = json_string_value(json_object_get(a, "n"));
    n_b = json_string_value(json_object_get(b, "n"));
    keys = json_array();
    json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256",
                                          "kid", "ec", "x", "AAAA", "y", "AAAA"));
    json_array_append_new(keys, json_pack("{s:s,s:s,s:s}", "kty", "oct", "kid", "oct",
                                          "k", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"));
    json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s,s:s}", "kty", "RSA", "use", "enc",
                                          "kid", "enc", "n", n_a, "e", "AQAB"));
    json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s,s:s}", "kty", "RSA", "alg",
                                          "RS384", "kid", "rs384", "n", n_a, "e", "AQAB"));
    json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "kty", "RSA", "alg",
                                          "RS256", "use", "sig", "kid", "good", "n", n_a,
                                          "e", "AQAB"));
    /* A second "good": the first one stays. */
    json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s}", "kty", "RSA", "kid", "good",
                                          "n", n_b, "e", "AQAB"));
    json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s}", "kty", "RSA", "kid", "bare",
                                          "n", n_a, "e", "AQAB"));
    json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s,s:s}", "kty", "RSA", "kid", "priv",
                                          "n", n_a, "e", "AQAB", "d", "AAAA"));
    json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s}", "kty", "RSA", "kid", "small",
                                          "n", small_modulus(p), "e", "AQAB"));
    json_array_append_new(keys, json_pack("{s:s,s:s,s:s}", "kty", "RSA", "n", n_a, "e",
                                          "AQAB"));
    json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s}", "kty", "RSA", "kid", "",
                                          "n", n_a, "e", "AQAB"));
    json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s}", "kty", "RSA", "kid", "bad-n",
                                          "n", "!!!!", "e", "AQAB"));
    json_array_append_new(keys, json_pack("{s:s,s:s,s:i,s:s}", "kty", "RSA", "kid", "num-n",
                                          "n", 5, "e", "AQAB"));
    json_array_append_new(keys, json_pack("{s:i,s:s,s:s,s:s}", "kty", 1, "kid", "bad-kty",
                                          "n", n_a, "e", "AQAB"));
    json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s,s:[s]}", "kty", "RSA", "kid",
                                          "ops", "n", n_a, "e", "AQAB", "key_ops", "verify"));
    json_array_append_new(keys, json_integer(5));
    json_array_append_new(keys, json_string("key"));
    json_array_append_new(keys, json_null());
    doc = pooled(p, json_pack("{s:o}", "keys", keys));
    text = json_dumps(doc, JSON_COMPACT);
    assert_non_null(text);
    t = apr_pstrdup(p, text);
    free((void *)text);

    assert_int_equal(lti_jwks_parse(p, t, strlen(t), &set, &err), LTI_OK);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (lti_jwks_has(set, want[i].kid) != want[i].kept) {
            fail_msg("kid \"%s\": has %d", want[i].kid, !want[i].kept);
        }
    }
    /* "good" is A's key (first wins); "priv" verifies as a public key. */
    assert_int_equal(parse_verify(p, rs256(p, key_a.private_pem,
                                           "{\"alg\":\"RS256\",\"kid\":\"good\"}", "{}"),
                                  set, &err), LTI_OK);
    assert_int_equal(parse_verify(p, rs256(p, key_b.private_pem,
                                           "{\"alg\":\"RS256\",\"kid\":\"good\"}", "{}"),
                                  set, &err), LTI_ERR_SIGNATURE);
    assert_int_equal(parse_verify(p, rs256(p, key_a.private_pem,
                                           "{\"alg\":\"RS256\",\"kid\":\"priv\"}", "{}"),
                                  set, &err), LTI_OK);
}

static void test_jwks_malformed(void **state)
{
    static const char *const bad[] = {
        "", "not json", "[]", "{}", "null", "\"keys\"", "{\"keys\":{}}", "{\"keys\":\"x\"}",
        "{\"keys\":null}", "{\"keys\":[],\"keys\":[]}", "{\"keys\":[]} trailing",
        "{\"keys\":[{\"kty\":\"RSA\",\"kty\":\"oct\"}]}", "{\"keys\":[",
    };
    apr_pool_t *p = *state;
    lti_jwks_t *set = (lti_jwks_t *)1;
    lti_err_t err;
    char *big;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(lti_jwks_parse(p, bad[i], strlen(bad[i]), &set, &err),
                         LTI_ERR_MALFORMED);
        assert_string_equal(err.reason, "jwks_malformed");
        assert_null(set);
    }
    assert_int_equal(lti_jwks_parse(p, NULL, 0, &set, &err), LTI_ERR_MALFORMED);

    big = apr_palloc(p, LTI_JWKS_MAX_BYTES + 1);
    memset(big, ' ', LTI_JWKS_MAX_BYTES + 1);
    memcpy(big, "{\"keys\":[]}", 11);
    assert_int_equal(lti_jwks_parse(p, big, LTI_JWKS_MAX_BYTES + 1, &set, &err),
                     LTI_ERR_TOO_LARGE);
    assert_int_equal(lti_jwks_parse(p, big, LTI_JWKS_MAX_BYTES, &set, &err), LTI_OK);
    assert_false(lti_jwks_has(set, PLATFORM_KID));
}

/* ---- tool keys and signing ----------------------------------------------------------- */

static void test_keypair(void **state)
{
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"};
    apr_pool_t *p = *state;
    json_error_t jerr;
    json_t *jwk;
    const char *n;

    make_keys(p);
    assert_string_not_equal(key_a.kid, key_b.kid);
    assert_true(strncmp(key_a.private_pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
    jwk = pooled(p, json_loads(key_a.public_jwk, JSON_REJECT_DUPLICATES, &jerr));
    assert_string_equal(json_string_value(json_object_get(jwk, "kid")), key_a.kid);
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "RSA");
    assert_string_equal(json_string_value(json_object_get(jwk, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(jwk, "use")), "sig");
    assert_string_equal(json_string_value(json_object_get(jwk, "e")), "AQAB");
    n = json_string_value(json_object_get(jwk, "n"));
    assert_non_null(n);
    assert_int_equal(strlen(n), 342);   /* 2048 bits */
    for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++) {
        assert_null(json_object_get(jwk, private_members[i]));
    }
    assert_int_equal(json_object_size(jwk), 6);
    /* The kid is a base64url SHA-256: 43 characters. */
    assert_int_equal(strlen(key_a.kid), 43);
    assert_int_equal(strspn(key_a.kid, B64U_ALPHABET), 43);
}

/* RFC 7638: lti_jwks_document gives a JWK without kid its thumbprint, the one key pairs
 * get as kid. */
static void test_thumbprint(void **state)
{
    apr_pool_t *p = *state;
    const char *rfc = "{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQAB\","
                      "\"alg\":\"RS256\",\"d\":\"AAAA\"}";
    const char *doc;
    json_error_t jerr;
    json_t *j, *k, *a;

    doc = lti_jwks_document(p, &rfc, 1, NULL);
    assert_non_null(doc);
    j = pooled(p, json_loads(doc, 0, &jerr));
    k = json_array_get(json_object_get(j, "keys"), 0);
    assert_string_equal(json_string_value(json_object_get(k, "kid")), RFC7638_THUMBPRINT);
    assert_string_equal(json_string_value(json_object_get(k, "n")), RFC7638_N);
    assert_null(json_object_get(k, "d"));

    make_keys(p);
    a = pooled(p, json_loads(key_a.public_jwk, 0, &jerr));
    json_object_del(a, "kid");
    doc = json_dumps(a, JSON_COMPACT);
    assert_non_null(doc);
    rfc = apr_pstrdup(p, doc);
    free((void *)doc);
    doc = lti_jwks_document(p, &rfc, 1, NULL);
    assert_non_null(doc);
    j = pooled(p, json_loads(doc, 0, &jerr));
    k = json_array_get(json_object_get(j, "keys"), 0);
    assert_string_equal(json_string_value(json_object_get(k, "kid")), key_a.kid);
}

static void test_jwks_document(void **state)
{
    static const char *const bad[] = {
        "not json",
        "{\"kty\":\"EC\",\"kid\":\"x\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
        "{\"kty\":\"RSA\",\"kid\":\"x\",\"e\":\"AQAB\"}",
        "{\"kty\":\"RSA\",\"kid\":\"\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
        "{\"kty\":\"RSA\",\"kid\":7,\"n\":\"AQAB\",\"e\":\"AQAB\"}",
        "[]",
        NULL,
    };
    apr_pool_t *p = *state;
    const char *pubs[2], *doc, *one[1];
    json_error_t jerr;
    json_t *j;
    lti_err_t err;

    make_keys(p);
    pubs[0] = key_a.public_jwk;
    pubs[1] = key_b.public_jwk;
    doc = lti_jwks_document(p, pubs, 2, &err);
    assert_non_null(doc);
    j = pooled(p, json_loads(doc, JSON_REJECT_DUPLICATES, &jerr));
    assert_int_equal(json_array_size(json_object_get(j, "keys")), 2);
    assert_true(json_equal(json_array_get(json_object_get(j, "keys"), 0),
                           pooled(p, json_loads(key_a.public_jwk, 0, &jerr))));
    assert_string_equal(lti_jwks_document(p, NULL, 0, &err), "{\"keys\":[]}");
    assert_null(lti_jwks_document(p, NULL, 1, &err));
    assert_int_equal(err.status, LTI_ERR_INTERNAL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        one[0] = bad[i];
        lti_err_clear(&err);
        assert_null(lti_jwks_document(p, one, 1, &err));
        assert_int_equal(err.status, LTI_ERR_MALFORMED);
    }
}

static void test_sign_round_trip(void **state)
{
    apr_pool_t *p = *state;
    json_error_t jerr;
    json_t *claims = pooled(p, json_loads("{\"iss\":\"https://ptech.example\",\"aud\":\"x\","
                                          "\"iat\":1795976355,\"nested\":{\"a\":[1,2,null]},"
                                          "\"name\":\"Fatima Zahra \\u00e9\\u0644\"}", 0,
                                          &jerr));
    const char *compact, *pubs[2], *b_as_a;
    lti_jwks_t *both, *only_b, *impostor;
    lti_jwt_t *jwt, fake;
    json_t *b;
    lti_err_t err;
    char *text;

    make_keys(p);
    compact = lti_jwt_sign(p, key_a.kid, key_a.private_pem, claims, &err);
    assert_non_null(compact);
    assert_int_equal(parse(p, compact, &jwt, &err), LTI_OK);
    assert_string_equal(jwt->alg, "RS256");
    assert_string_equal(jwt->kid, key_a.kid);
    assert_string_equal(json_string_value(json_object_get(jwt->header, "typ")), "JWT");
    assert_int_equal(json_object_size(jwt->header), 3);
    assert_true(json_equal(jwt->claims, claims));

    pubs[0] = key_b.public_jwk;
    pubs[1] = key_a.public_jwk;
    both = jwks_of(p, pubs, 2);
    assert_int_equal(lti_jwt_verify(jwt, both, &err), LTI_OK);

    /* Another key's set: unknown kid; B's key published under A's kid: bad signature. */
    only_b = jwks_of(p, &key_b.public_jwk, 1);
    assert_int_equal(lti_jwt_verify(jwt, only_b, &err), LTI_ERR_UNKNOWN_KEY);
    b = pooled(p, json_loads(key_b.public_jwk, 0, &jerr));
    json_object_set_new(b, "kid", json_string(key_a.kid));
    text = json_dumps(b, JSON_COMPACT);
    b_as_a = apr_pstrdup(p, text);
    free(text);
    impostor = jwks_of(p, &b_as_a, 1);
    assert_int_equal(lti_jwt_verify(jwt, impostor, &err), LTI_ERR_SIGNATURE);
    assert_string_equal(err.reason, "jwt_bad_signature");

    /* A hand-made lti_jwt_t whose kid is not the token's: refused even when the set has
     * the signer's key under that other kid too. */
    b = pooled(p, json_loads(key_a.public_jwk, 0, &jerr));
    json_object_set_new(b, "kid", json_string("alias"));
    text = json_dumps(b, JSON_COMPACT);
    pubs[0] = apr_pstrdup(p, text);
    free(text);
    pubs[1] = key_a.public_jwk;
    both = jwks_of(p, pubs, 2);
    fake = *jwt;
    fake.kid = "alias";
    assert_int_equal(lti_jwt_verify(&fake, both, &err), LTI_ERR_SIGNATURE);
    assert_int_equal(lti_jwt_verify(jwt, both, &err), LTI_OK);

    /* Signatures are deterministic (PKCS#1 v1.5): same claims, same token. */
    assert_string_equal(lti_jwt_sign(p, key_a.kid, key_a.private_pem, claims, NULL), compact);
}

static void test_sign_refusals(void **state)
{
    apr_pool_t *p = *state;
    json_t *claims = pooled(p, json_pack("{s:s}", "sub", "1"));
    json_t *array = pooled(p, json_array());
    const char *bad_pems[5];
    lti_err_t err;

    make_keys(p);
    assert_null(lti_jwt_sign(p, "", key_a.private_pem, claims, &err));
    assert_string_equal(err.reason, "jwt_kid");
    assert_null(lti_jwt_sign(p, NULL, key_a.private_pem, claims, &err));
    assert_null(lti_jwt_sign(p, "a\nb", key_a.private_pem, claims, &err));
    assert_null(lti_jwt_sign(p, key_a.kid, key_a.private_pem, array, &err));
    assert_string_equal(err.reason, "jwt_claims");
    assert_null(lti_jwt_sign(p, key_a.kid, key_a.private_pem, NULL, &err));

    bad_pems[0] = NULL;
    bad_pems[1] = "not a key";
    bad_pems[2] = other_pem(p, "EC", 0);
    bad_pems[3] = other_pem(p, "RSA", 0);   /* 1024 bits */
    bad_pems[4] = other_pem(p, "EC", 1);    /* encrypted: refused, never a prompt */
    for (int i = 0; i < 5; i++) {
        lti_err_clear(&err);
        assert_null(lti_jwt_sign(p, key_a.kid, bad_pems[i], claims, &err));
        assert_int_equal(err.status, LTI_ERR_MALFORMED);
        assert_string_equal(err.reason, "key_malformed");
    }
}

/* ---- seal ---------------------------------------------------------------------------- */

static void test_seal_round_trip(void **state)
{
    static const struct {
        const char *aad;
        const char *data;
        size_t len;
    } t[] = {
        {"cookie", "hello", 5},
        {NULL, "hello", 5},
        {"", "", 0},
        {"key:current", "-----BEGIN PRIVATE KEY-----\nMIIE\n", 33},
        {"bin", "a\0b\0\xff", 5},
    };
    apr_pool_t *p = *state;
    unsigned char key[32];

    assert_int_equal(lti_random(key, sizeof(key), NULL), LTI_OK);
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        const char *sealed = lti_seal(p, key, t[i].aad, t[i].data, t[i].len, NULL);
        const char *again = lti_seal(p, key, t[i].aad, t[i].data, t[i].len, NULL);
        const char *plain;
        size_t len;
        lti_err_t err;

        assert_non_null(sealed);
        assert_non_null(again);
        assert_true(strncmp(sealed, "v1.", 3) == 0);
        /* 12-byte nonce + data + 16-byte tag, base64url without padding. */
        assert_int_equal(strlen(sealed), 3 + ((12 + t[i].len + 16) * 4 + 2) / 3);
        assert_string_not_equal(sealed, again);
        assert_int_equal(lti_unseal(p, key, t[i].aad, sealed, &plain, &len, &err), LTI_OK);
        assert_int_equal(len, t[i].len);
        assert_memory_equal(plain, t[i].data, t[i].len);
        assert_int_equal(plain[len], '\0');
        assert_int_equal(lti_unseal(p, key, t[i].aad, again, &plain, NULL, &err), LTI_OK);
    }
    /* NULL data with length 0 is an empty seal. */
    assert_non_null(lti_seal(p, key, NULL, NULL, 0, NULL));
}

static void test_seal_refusals(void **state)
{
    apr_pool_t *p = *state;
    unsigned char key[32], other[32];
    const char *sealed, *plain = "x";
    char *t;
    size_t len;
    lti_err_t err;

    assert_int_equal(lti_random(key, sizeof(key), NULL), LTI_OK);
    memcpy(other, key, sizeof(key));
    other[31] ^= 1;
    sealed = lti_seal(p, key, "session", "learner 42", 10, &err);
    assert_non_null(sealed);

    assert_int_equal(lti_unseal(p, other, "session", sealed, &plain, &len, &err),
                     LTI_ERR_SIGNATURE);
    assert_string_equal(err.reason, "seal_bad_tag");
    assert_null(plain);
    assert_int_equal(lti_unseal(p, key, "state", sealed, &plain, &len, &err),
                     LTI_ERR_SIGNATURE);
    assert_int_equal(lti_unseal(p, key, NULL, sealed, &plain, &len, &err), LTI_ERR_SIGNATURE);

    /* A changed character anywhere in nonce, ciphertext or tag. */
    for (size_t i = 3; i + 1 < strlen(sealed); i++) {
        const char *pos;

        t = apr_pstrdup(p, sealed);
        pos = strchr(B64U_ALPHABET, t[i]);
        assert_non_null(pos);
        t[i] = B64U_ALPHABET[(pos - B64U_ALPHABET + 1) % 64];
        assert_int_equal(lti_unseal(p, key, "session", t, &plain, &len, &err),
                         LTI_ERR_SIGNATURE);
    }
    /* The last character: another value, or only its unused bits. */
    t = apr_pstrdup(p, sealed);
    t[strlen(t) - 1] = t[strlen(t) - 1] == 'A' ? 'B' : 'A';
    assert_int_not_equal(lti_unseal(p, key, "session", t, &plain, &len, &err), LTI_OK);

    /* Truncated. */
    for (size_t cut = 1; cut < strlen(sealed); cut++) {
        t = apr_pstrndup(p, sealed, strlen(sealed) - cut);
        assert_int_not_equal(lti_unseal(p, key, "session", t, &plain, &len, &err), LTI_OK);
        assert_null(plain);
    }
    assert_int_equal(lti_unseal(p, key, "session", "v1.", &plain, &len, &err),
                     LTI_ERR_MALFORMED);
    assert_int_equal(lti_unseal(p, key, "session", "v1.AAAAAAAAAAAAAAAAAAAA", &plain, &len,
                                &err), LTI_ERR_MALFORMED);

    /* Not a v1 seal. */
    assert_int_equal(lti_unseal(p, key, "session", sealed + 3, &plain, &len, &err),
                     LTI_ERR_MALFORMED);
    assert_string_equal(err.reason, "seal_malformed");
    assert_int_equal(lti_unseal(p, key, "session", apr_pstrcat(p, "v2.", sealed + 3, NULL),
                                &plain, &len, &err), LTI_ERR_MALFORMED);
    assert_int_equal(lti_unseal(p, key, "session", apr_pstrcat(p, "V1.", sealed + 3, NULL),
                                &plain, &len, &err), LTI_ERR_MALFORMED);
    assert_int_equal(lti_unseal(p, key, "session", apr_pstrcat(p, sealed, "=", NULL), &plain,
                                &len, &err), LTI_ERR_MALFORMED);
    assert_int_equal(lti_unseal(p, key, "session", apr_pstrcat(p, sealed, " ", NULL), &plain,
                                &len, &err), LTI_ERR_MALFORMED);
    assert_int_equal(lti_unseal(p, key, "session", "", &plain, &len, &err), LTI_ERR_MALFORMED);
    assert_int_equal(lti_unseal(p, key, "session", NULL, &plain, &len, &err),
                     LTI_ERR_MALFORMED);
    assert_int_equal(lti_unseal(p, NULL, "session", sealed, &plain, &len, &err),
                     LTI_ERR_INTERNAL);
    assert_null(lti_seal(p, NULL, "session", "x", 1, &err));
    assert_null(lti_seal(p, key, "session", NULL, 1, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moodle_tokens),
        cmocka_unit_test(test_alg_refused),
        cmocka_unit_test(test_hs256_key_confusion),
        cmocka_unit_test(test_kid),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_non_canonical_base64url),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_duplicates_and_claims),
        cmocka_unit_test(test_key_headers_ignored),
        cmocka_unit_test(test_crit_refused),
        cmocka_unit_test(test_jwks_fixture),
        cmocka_unit_test(test_jwks_skips),
        cmocka_unit_test(test_jwks_malformed),
        cmocka_unit_test(test_keypair),
        cmocka_unit_test(test_thumbprint),
        cmocka_unit_test(test_jwks_document),
        cmocka_unit_test(test_sign_round_trip),
        cmocka_unit_test(test_sign_refusals),
        cmocka_unit_test(test_seal_round_trip),
        cmocka_unit_test(test_seal_refusals),
    };

    lti_init();
    return cmocka_run_group_tests_name("jose", tests, unit_group_setup, unit_group_teardown);
}
