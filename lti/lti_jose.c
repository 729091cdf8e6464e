/* lti_jose.c -- JWT/JWS/JWK for LTI 1.3 over cjose, jansson and OpenSSL.
 *
 * Tokens are split and decoded here, and their header and claims read with jansson
 * (JSON_REJECT_DUPLICATES), so that the algorithm is pinned to RS256 by name before any
 * key is looked up; cjose then checks the signature with the one key the platform's JWKS
 * names by kid.  Headers that carry or point at keys (jwk, jku, x5u, x5c) are never read.
 * Base64url must be canonical (no padding, unused bits zero): a token has one spelling.
 *
 * Tool keys are RSA-2048 made by OpenSSL; their kid is the RFC 7638 thumbprint.  lti_seal
 * is AES-256-GCM with a 12-byte random nonce.  Every OpenSSL, jansson and cjose object is
 * freed before return or by a cleanup of the pool it lives in; key material is wiped.
 */
#include <limits.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include <cjose/header.h>
#include <cjose/jwk.h>
#include <cjose/jws.h>
#include <cjose/util.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "lti_jose.h"
#include "lti_util.h"

/* The one signature algorithm accepted and made. */
#define JOSE_ALG "RS256"
/* Longest kid accepted, in bytes. */
#define JOSE_KID_MAX 256
/* RSA modulus sizes accepted in a JWKS or a private key, in bits. */
#define JOSE_RSA_MIN_BITS 2048
#define JOSE_RSA_MAX_BITS 8192
/* Tool keys made by lti_keypair_generate, in bits. */
#define JOSE_RSA_BITS 2048
/* lti_seal: format prefix, nonce and tag sizes, largest plaintext. */
#define SEAL_PREFIX "v1."
#define SEAL_NONCE 12
#define SEAL_TAG 16
#define SEAL_MAX_PLAIN (1024 * 1024)

/* ---- pool cleanups ------------------------------------------------------------------- */

static apr_status_t json_cleanup(void *data)
{
    json_decref(data);
    return APR_SUCCESS;
}

json_t *lti_json_pooled(apr_pool_t *p, json_t *j)
{
    if (j != NULL) {
        apr_pool_cleanup_register(p, j, json_cleanup, apr_pool_cleanup_null);
    }
    return j;
}

static apr_status_t jwk_cleanup(void *data)
{
    cjose_jwk_release(data);
    return APR_SUCCESS;
}

static apr_status_t pkey_cleanup(void *data)
{
    EVP_PKEY_free(data);
    return APR_SUCCESS;
}

static apr_status_t bio_cleanup(void *data)
{
    BIO_free(data);
    return APR_SUCCESS;
}

/* A buffer to wipe when its pool goes. */
typedef struct wipe_t {
    void *buf;
    size_t len;
} wipe_t;

static apr_status_t wipe_cleanup(void *data)
{
    wipe_t *w = data;

    OPENSSL_cleanse(w->buf, w->len);
    return APR_SUCCESS;
}

/* Wipes len bytes at buf (allocated from p) when p is cleared or destroyed. */
static void wipe_on_cleanup(apr_pool_t *p, void *buf, size_t len)
{
    wipe_t *w = apr_palloc(p, sizeof(*w));

    w->buf = buf;
    w->len = len;
    apr_pool_cleanup_register(p, w, wipe_cleanup, apr_pool_cleanup_null);
}

/* ---- small helpers ------------------------------------------------------------------- */

/* base64url without padding of len bytes (lti_util's, writable for callers here). */
static char *b64url_encode(apr_pool_t *p, const unsigned char *buf, size_t len)
{
    return (char *)lti_base64url(p, buf, len);
}

/* Each base64url character as base64 spells it; 0 for a byte that is not one.  One table
 * look-up per character both checks and maps a token (several thousand characters). */
static const char b64url_to_b64[256] = {
    ['A'] = 'A', ['B'] = 'B', ['C'] = 'C', ['D'] = 'D', ['E'] = 'E', ['F'] = 'F',
    ['G'] = 'G', ['H'] = 'H', ['I'] = 'I', ['J'] = 'J', ['K'] = 'K', ['L'] = 'L',
    ['M'] = 'M', ['N'] = 'N', ['O'] = 'O', ['P'] = 'P', ['Q'] = 'Q', ['R'] = 'R',
    ['S'] = 'S', ['T'] = 'T', ['U'] = 'U', ['V'] = 'V', ['W'] = 'W', ['X'] = 'X',
    ['Y'] = 'Y', ['Z'] = 'Z', ['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd',
    ['e'] = 'e', ['f'] = 'f', ['g'] = 'g', ['h'] = 'h', ['i'] = 'i', ['j'] = 'j',
    ['k'] = 'k', ['l'] = 'l', ['m'] = 'm', ['n'] = 'n', ['o'] = 'o', ['p'] = 'p',
    ['q'] = 'q', ['r'] = 'r', ['s'] = 's', ['t'] = 't', ['u'] = 'u', ['v'] = 'v',
    ['w'] = 'w', ['x'] = 'x', ['y'] = 'y', ['z'] = 'z', ['0'] = '0', ['1'] = '1',
    ['2'] = '2', ['3'] = '3', ['4'] = '4', ['5'] = '5', ['6'] = '6', ['7'] = '7',
    ['8'] = '8', ['9'] = '9', ['-'] = '+', ['_'] = '/',
};

/* The low bits of a base64 character's value (base64's alphabet, ASCII order per range). */
static unsigned b64_low_bits(char c, unsigned mask)
{
    unsigned v = c >= 'a' ? (unsigned)(c - 'a' + 26) : c >= 'A' ? (unsigned)(c - 'A')
                 : c >= '0' ? (unsigned)(c - '0' + 52) : c == '+' ? 62u : 63u;

    return v & mask;
}

/* Decodes len bytes of base64url into a NUL-terminated buffer from p, with OpenSSL's base64
 * decoder.  The text must be the one unpadded base64url spelling of what it decodes to:
 * each byte string has exactly one, so a flipped unused trailing bit, a padding '=' or a
 * length no encoding has is refused (a token must be signed exactly as it reads).  The
 * alphabet is mapped to base64's in the output buffer itself; the missing characters of the
 * last group are filled with 'A' (zero bits), not '=', which EVP_DecodeBlock trims: they
 * decode to as many zero bytes, cut off again.  Returns 0, or -1 when s is not canonical. */
static int b64url_decode(apr_pool_t *p, const char *s, size_t len, unsigned char **out,
                         size_t *outlen)
{
    size_t padded = (len + 3) / 4 * 4, pad = padded - len;
    unsigned char *buf;
    int n;

    if (len % 4 == 1 || padded > INT_MAX) {
        return -1;
    }
    buf = apr_palloc(p, padded + 1);
    for (size_t i = 0; i < len; i++) {
        if ((buf[i] = (unsigned char)b64url_to_b64[(unsigned char)s[i]]) == 0) {
            return -1;
        }
    }
    /* 2 characters in the last group carry 1 byte (4 bits unused), 3 carry 2 (2 unused). */
    if (pad > 0 && b64_low_bits((char)buf[len - 1], pad == 2 ? 0x0f : 0x03) != 0) {
        return -1;
    }
    memset(buf + len, 'A', pad);
    /* EVP_DecodeBlock writes 3 bytes per 4 read, behind its reading position. */
    n = padded ? EVP_DecodeBlock(buf, buf, (int)padded) : 0;
    if (n < 0 || (size_t)n < pad) {
        return -1;
    }
    *outlen = (size_t)n - pad;
    buf[*outlen] = '\0';
    *out = buf;
    return 0;
}

char *lti_json_text(apr_pool_t *p, const json_t *j, size_t flags)
{
    size_t n = json_dumpb(j, NULL, 0, flags);
    char *s;

    if (n == 0) {
        return NULL;
    }
    s = apr_palloc(p, n + 1);
    if (json_dumpb(j, s, n, flags) != n) {
        return NULL;
    }
    s[n] = '\0';
    return s;
}

/* Whether len bytes at s are 1..JOSE_KID_MAX printable ASCII characters. */
static int kid_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > JOSE_KID_MAX) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) {
            return 0;
        }
    }
    return 1;
}

/* Whether json string j is exactly s (length included: it may hold NUL bytes). */
static int json_str_is(const json_t *j, const char *s)
{
    size_t n = strlen(s);

    return json_is_string(j) && json_string_length(j) == n
           && memcmp(json_string_value(j), s, n) == 0;
}

/* For messages: the string j when it is short printable ASCII, else a placeholder. */
static const char *shown(const json_t *j)
{
    if (!json_is_string(j)) {
        return j == NULL ? "(none)" : "(not a string)";
    }
    if (json_string_length(j) > 32
        || !kid_valid(json_string_value(j), json_string_length(j))) {
        return "(unprintable)";
    }
    return json_string_value(j);
}

/* ---- JWT ----------------------------------------------------------------------------- */

static lti_status_t jwt_malformed(lti_err_t *err, const char *what)
{
    return lti_err_set(err, LTI_ERR_MALFORMED, "jwt_malformed",
                       "the token is not a compact JWS: %s", what);
}

/* Splits and decodes a compact JWS; the order of the checks is the contract in
 * lti_jose.h.  Nothing but alg, crit and kid is read from the header. */
lti_status_t lti_jwt_parse(apr_pool_t *p, const char *compact, size_t len, lti_jwt_t **out,
                           lti_err_t *err)
{
    apr_pool_t *tmp;
    const char *dot1, *dot2;
    const char *part[3];
    size_t plen[3], dlen[3];
    unsigned char *dec[3];
    json_t *header, *claims, *alg, *kid;
    json_error_t jerr;
    lti_jwt_t *jwt;
    lti_status_t st;

    if (out == NULL) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "jwt_args", "lti_jwt_parse needs out");
    }
    *out = NULL;
    if (compact == NULL) {
        return jwt_malformed(err, "there is no token");
    }
    if (len > LTI_JWT_MAX_BYTES) {
        return lti_err_set(err, LTI_ERR_TOO_LARGE, "jwt_too_large",
                           "the token has %lu bytes; at most %d are accepted",
                           (unsigned long)len, LTI_JWT_MAX_BYTES);
    }
    if (memchr(compact, '\0', len) != NULL) {
        return jwt_malformed(err, "it holds a NUL byte");
    }

    dot1 = memchr(compact, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - compact)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - compact)) != NULL) {
        return jwt_malformed(err, "it does not have three parts");
    }
    part[0] = compact;
    plen[0] = (size_t)(dot1 - compact);
    part[1] = dot1 + 1;
    plen[1] = (size_t)(dot2 - part[1]);
    part[2] = dot2 + 1;
    plen[2] = len - (size_t)(part[2] - compact);
    if (plen[0] == 0 || plen[1] == 0) {
        return jwt_malformed(err, "its header or payload is empty");
    }

    /* The decoded parts are scratch; header and claims are json_t objects owned by p. */
    if (apr_pool_create(&tmp, p) != APR_SUCCESS) {
        return lti_err_set(err, LTI_ERR_NOMEM, "nomem", "out of memory");
    }
    for (int i = 0; i < 3; i++) {
        if (b64url_decode(tmp, part[i], plen[i], &dec[i], &dlen[i]) != 0) {
            st = jwt_malformed(err, "a part is not base64url");
            goto done;
        }
    }

    /* The header may hold NUL bytes in strings so that a kid with one is named as such;
     * every header string used here is compared with its length. */
    header = lti_json_pooled(p, json_loadb((const char *)dec[0], dlen[0],
                                       JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr));
    if (!json_is_object(header)) {
        st = jwt_malformed(err, "its header is not a JSON object with unique keys");
        goto done;
    }
    alg = json_object_get(header, "alg");
    if (!json_str_is(alg, JOSE_ALG)) {
        st = lti_err_set(err, LTI_ERR_UNSUPPORTED, "jwt_alg",
                         "the token is signed with alg %s; only RS256 is accepted: set "
                         "the platform to sign with RS256", shown(alg));
        goto done;
    }
    if (json_object_get(header, "crit") != NULL) {
        st = lti_err_set(err, LTI_ERR_UNSUPPORTED, "jwt_crit",
                         "the token has a \"crit\" header; no extension is supported");
        goto done;
    }
    kid = json_object_get(header, "kid");
    if (!json_is_string(kid) || !kid_valid(json_string_value(kid), json_string_length(kid))) {
        st = lti_err_set(err, LTI_ERR_MALFORMED, "jwt_kid",
                         "the token header has no kid of 1 to %d printable characters; "
                         "the platform must name its signing key", JOSE_KID_MAX);
        goto done;
    }

    claims = lti_json_pooled(p, json_loadb((const char *)dec[1], dlen[1], JSON_REJECT_DUPLICATES,
                                       &jerr));
    if (!json_is_object(claims)) {
        st = lti_err_set(err, LTI_ERR_MALFORMED, "jwt_claims",
                         "the token claims are not a JSON object with unique keys");
        goto done;
    }

    jwt = apr_pcalloc(p, sizeof(*jwt));
    jwt->header = header;
    jwt->claims = claims;
    jwt->alg = json_string_value(alg);
    jwt->kid = json_string_value(kid);
    jwt->compact = apr_pstrmemdup(p, compact, len);
    *out = jwt;
    st = LTI_OK;

done:
    apr_pool_destroy(tmp);
    return st;
}

void lti_jwt_release(apr_pool_t *p, lti_jwt_t *jwt)
{
    if (jwt->claims != NULL) {
        apr_pool_cleanup_run(p, jwt->claims, json_cleanup);
    }
    if (jwt->header != NULL) {
        apr_pool_cleanup_run(p, jwt->header, json_cleanup);
    }
    memset(jwt, 0, sizeof(*jwt));
}

/* ---- JWKS ---------------------------------------------------------------------------- */

struct lti_jwks_t {
    apr_hash_t *keys;       /* kid -> cjose_jwk_t * (RSA public) */
};

/* Imports k as an RSA signing key into set (the key lives in p, scratch work in tmp);
 * returns NULL, or why it was skipped. */
static const char *jwks_add(apr_pool_t *p, apr_pool_t *tmp, lti_jwks_t *set, json_t *k)
{
    json_t *kid, *use, *alg, *n, *e, *pub;
    const char *text;
    cjose_jwk_t *jwk;
    cjose_err cerr;
    size_t bits;

    if (!json_is_object(k)) {
        return "not an object";
    }
    if (!json_str_is(json_object_get(k, "kty"), "RSA")) {
        return "not an RSA key";
    }
    use = json_object_get(k, "use");
    if (use != NULL && !json_str_is(use, "sig")) {
        return "not a signing key";
    }
    alg = json_object_get(k, "alg");
    if (alg != NULL && !json_str_is(alg, JOSE_ALG)) {
        return "not an RS256 key";
    }
    kid = json_object_get(k, "kid");
    if (!json_is_string(kid) || !kid_valid(json_string_value(kid), json_string_length(kid))) {
        return "no usable kid";
    }
    if (apr_hash_get(set->keys, json_string_value(kid), APR_HASH_KEY_STRING) != NULL) {
        return "a kid seen before";
    }
    n = json_object_get(k, "n");
    e = json_object_get(k, "e");
    if (!json_is_string(n) || !json_is_string(e)) {
        return "no n or e";
    }

    /* Only the public members reach cjose: private parts and other members are ignored. */
    pub = lti_json_pooled(tmp, json_pack("{s:s, s:O, s:O}", "kty", "RSA", "n", n, "e", e));
    text = pub ? lti_json_text(tmp, pub, JSON_COMPACT) : NULL;
    if (text == NULL) {
        return "out of memory";
    }
    jwk = cjose_jwk_import(text, strlen(text), &cerr);
    if (jwk == NULL) {
        return "n or e is not valid";
    }
    bits = cjose_jwk_get_keysize(jwk, &cerr);
    if (cjose_jwk_get_kty(jwk, &cerr) != CJOSE_JWK_KTY_RSA || bits < JOSE_RSA_MIN_BITS
        || bits > JOSE_RSA_MAX_BITS) {
        cjose_jwk_release(jwk);
        return "a modulus outside 2048..8192 bits";
    }
    apr_pool_cleanup_register(p, jwk, jwk_cleanup, apr_pool_cleanup_null);
    apr_hash_set(set->keys, apr_pstrdup(p, json_string_value(kid)), APR_HASH_KEY_STRING, jwk);
    return NULL;
}

/* Parses a JWKS document; unusable keys are skipped (logged at debug). */
lti_status_t lti_jwks_parse(apr_pool_t *p, const char *json, size_t len, lti_jwks_t **out,
                            lti_err_t *err)
{
    apr_pool_t *tmp;
    json_t *doc, *keys, *k;
    json_error_t jerr;
    lti_jwks_t *set;
    size_t i;

    if (out == NULL) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "jwks_args", "lti_jwks_parse needs out");
    }
    *out = NULL;
    if (json == NULL) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "jwks_malformed", "there is no JWKS");
    }
    if (len > LTI_JWKS_MAX_BYTES) {
        return lti_err_set(err, LTI_ERR_TOO_LARGE, "jwks_too_large",
                           "the platform's JWKS has %lu bytes; at most %d are accepted",
                           (unsigned long)len, LTI_JWKS_MAX_BYTES);
    }
    if (apr_pool_create(&tmp, p) != APR_SUCCESS) {
        return lti_err_set(err, LTI_ERR_NOMEM, "nomem", "out of memory");
    }
    doc = lti_json_pooled(tmp, json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr));
    keys = json_object_get(doc, "keys");
    if (!json_is_object(doc) || !json_is_array(keys)) {
        apr_pool_destroy(tmp);
        return lti_err_set(err, LTI_ERR_MALFORMED, "jwks_malformed",
                           "the platform's key set is not a JWKS (a JSON object with a "
                           "\"keys\" array): check the platform's public keyset URL");
    }

    set = apr_pcalloc(p, sizeof(*set));
    set->keys = apr_hash_make(p);
    json_array_foreach(keys, i, k) {
        const char *why = jwks_add(p, tmp, set, k);

        if (why != NULL) {
            lti_log(LTI_LOG_DEBUG, "JWKS key %lu skipped: %s", (unsigned long)i, why);
        }
    }
    apr_pool_destroy(tmp);
    *out = set;
    return LTI_OK;
}

/* Whether set holds a key for kid; 0 for a NULL set or kid. */
int lti_jwks_has(const lti_jwks_t *set, const char *kid)
{
    if (set == NULL || kid == NULL) {
        return 0;
    }
    return apr_hash_get(set->keys, kid, APR_HASH_KEY_STRING) != NULL;
}

/* Checks jwt's RS256 signature with cjose and the set's key for its kid. */
lti_status_t lti_jwt_verify(const lti_jwt_t *jwt, const lti_jwks_t *set, lti_err_t *err)
{
    const cjose_jwk_t *jwk;
    cjose_jws_t *jws;
    cjose_header_t *hdr;
    const char *alg, *kid;
    cjose_err cerr;
    bool ok;

    if (jwt == NULL || set == NULL || jwt->compact == NULL) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "jwt_args",
                           "lti_jwt_verify needs a parsed token and a key set");
    }
    /* lti_jwt_parse pinned these; a hand-made lti_jwt_t gets the same checks. */
    if (jwt->alg == NULL || strcmp(jwt->alg, JOSE_ALG) != 0) {
        return lti_err_set(err, LTI_ERR_UNSUPPORTED, "jwt_alg",
                           "the token is not signed with RS256");
    }
    if (jwt->kid == NULL || !kid_valid(jwt->kid, strlen(jwt->kid))) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "jwt_kid", "the token has no valid kid");
    }
    jwk = apr_hash_get(set->keys, jwt->kid, APR_HASH_KEY_STRING);
    if (jwk == NULL) {
        return lti_err_set(err, LTI_ERR_UNKNOWN_KEY, "jwt_unknown_kid",
                           "the platform's JWKS has no RS256 key with kid \"%.64s\": check "
                           "the platform's public keyset URL", jwt->kid);
    }

    jws = cjose_jws_import(jwt->compact, strlen(jwt->compact), &cerr);
    if (jws == NULL) {
        return jwt_malformed(err, "cjose cannot read it");
    }
    /* cjose reads the header again: it must agree on alg and kid. */
    hdr = cjose_jws_get_protected(jws);
    alg = hdr ? cjose_header_get(hdr, CJOSE_HDR_ALG, &cerr) : NULL;
    kid = hdr ? cjose_header_get(hdr, CJOSE_HDR_KID, &cerr) : NULL;
    ok = alg != NULL && strcmp(alg, JOSE_ALG) == 0 && kid != NULL && strcmp(kid, jwt->kid) == 0
         && cjose_jws_verify(jws, jwk, &cerr);
    cjose_jws_release(jws);
    if (!ok) {
        return lti_err_set(err, LTI_ERR_SIGNATURE, "jwt_bad_signature",
                           "the token signature does not verify with the platform's key "
                           "\"%.64s\"", jwt->kid);
    }
    return LTI_OK;
}

/* ---- tool keys ----------------------------------------------------------------------- */

/* Big-endian bytes of the RSA parameter name of pk in p (wiped with p when wipe is set),
 * or NULL when pk has no such parameter. */
static unsigned char *rsa_param(apr_pool_t *p, const EVP_PKEY *pk, const char *name,
                                int wipe, size_t *len)
{
    BIGNUM *bn = NULL;
    unsigned char *buf;
    int n;

    if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1 || bn == NULL) {
        BN_clear_free(bn);
        return NULL;
    }
    n = BN_num_bytes(bn);
    buf = apr_palloc(p, n > 0 ? (size_t)n : 1);
    if (wipe) {
        wipe_on_cleanup(p, buf, n > 0 ? (size_t)n : 1);
    }
    BN_bn2bin(bn, buf);
    BN_clear_free(bn);
    *len = (size_t)n;
    return buf;
}

/* RFC 7638 thumbprint of an RSA public key given as base64url n and e: SHA-256 over
 * {"e":...,"kty":"RSA","n":...} (members sorted, no white space), base64url.  NULL on
 * failure. */
static const char *rsa_thumbprint(apr_pool_t *p, const char *n64, const char *e64)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    json_t *j = lti_json_pooled(p, json_pack("{s:s, s:s, s:s}", "e", e64, "kty", "RSA",
                                         "n", n64));
    const char *text = j ? lti_json_text(p, j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

    if (text == NULL || EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL) != 1) {
        return NULL;
    }
    return b64url_encode(p, md, mdlen);
}

/* Public JWK JSON text {kty, kid, use, alg, n, e} in p; NULL on failure. */
static const char *public_jwk(apr_pool_t *p, const char *kid, const char *n64,
                              const char *e64)
{
    json_t *j = lti_json_pooled(p, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA",
                                         "kid", kid, "use", "sig", "alg", JOSE_ALG,
                                         "n", n64, "e", e64));

    return j ? lti_json_text(p, j, JSON_COMPACT) : NULL;
}

/* Makes an RSA-2048 pair; the PEM is wiped when p goes. */
lti_status_t lti_keypair_generate(apr_pool_t *p, lti_keypair_t *out, lti_err_t *err)
{
    apr_pool_t *tmp;
    EVP_PKEY *pk;
    BIO *bio;
    char *data = NULL, *pem;
    long pemlen;
    unsigned char *n, *e;
    size_t nlen = 0, elen = 0;
    const char *n64, *e64, *kid, *jwk;

    if (out == NULL) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "key_args", "lti_keypair_generate needs out");
    }
    memset(out, 0, sizeof(*out));
    if (apr_pool_create(&tmp, p) != APR_SUCCESS) {
        return lti_err_set(err, LTI_ERR_NOMEM, "nomem", "out of memory");
    }
    pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)JOSE_RSA_BITS);
    if (pk == NULL) {
        apr_pool_destroy(tmp);
        return lti_err_set(err, LTI_ERR_CRYPTO, "key_generate", "RSA key generation failed");
    }
    apr_pool_cleanup_register(tmp, pk, pkey_cleanup, apr_pool_cleanup_null);

    /* The PEM goes through a secure-heap BIO, which wipes itself when freed. */
    bio = BIO_new(BIO_s_secmem());
    if (bio != NULL) {
        apr_pool_cleanup_register(tmp, bio, bio_cleanup, apr_pool_cleanup_null);
    }
    pemlen = 0;
    if (bio != NULL && PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) == 1) {
        pemlen = BIO_get_mem_data(bio, &data);
    }
    if (pemlen <= 0 || data == NULL) {
        apr_pool_destroy(tmp);
        return lti_err_set(err, LTI_ERR_CRYPTO, "key_pem", "writing the private key failed");
    }
    pem = apr_pstrmemdup(p, data, (apr_size_t)pemlen);
    wipe_on_cleanup(p, pem, (size_t)pemlen);

    n = rsa_param(tmp, pk, OSSL_PKEY_PARAM_RSA_N, 0, &nlen);
    e = rsa_param(tmp, pk, OSSL_PKEY_PARAM_RSA_E, 0, &elen);
    n64 = n ? b64url_encode(tmp, n, nlen) : NULL;
    e64 = e ? b64url_encode(tmp, e, elen) : NULL;
    kid = n64 && e64 ? rsa_thumbprint(tmp, n64, e64) : NULL;
    jwk = kid ? public_jwk(tmp, kid, n64, e64) : NULL;
    if (jwk == NULL) {
        apr_pool_destroy(tmp);
        return lti_err_set(err, LTI_ERR_CRYPTO, "key_public", "reading the public key failed");
    }
    out->kid = apr_pstrdup(p, kid);
    out->private_pem = pem;
    out->public_jwk = apr_pstrdup(p, jwk);
    apr_pool_destroy(tmp);
    return LTI_OK;
}

/* One JWK of lti_jwks_document, public members only; a missing kid is the thumbprint. */
static json_t *jwks_doc_key(apr_pool_t *p, const char *text, lti_err_t *err)
{
    json_error_t jerr;
    json_t *in, *kid, *n, *e;
    const char *tp;

    in = text ? lti_json_pooled(p, json_loads(text, JSON_REJECT_DUPLICATES, &jerr)) : NULL;
    kid = json_object_get(in, "kid");
    n = json_object_get(in, "n");
    e = json_object_get(in, "e");
    if (!json_is_object(in) || !json_str_is(json_object_get(in, "kty"), "RSA")
        || !json_is_string(n) || !json_is_string(e)
        || (kid != NULL && (!json_is_string(kid)
                            || !kid_valid(json_string_value(kid), json_string_length(kid))))) {
        lti_err_set(err, LTI_ERR_MALFORMED, "jwk_malformed",
                    "a tool key is not an RSA public JWK with n, e and a valid kid");
        return NULL;
    }
    tp = kid ? json_string_value(kid)
             : rsa_thumbprint(p, json_string_value(n), json_string_value(e));
    if (tp == NULL) {
        lti_err_set(err, LTI_ERR_CRYPTO, "jwk_thumbprint", "the key thumbprint failed");
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:O, s:O}", "kty", "RSA", "kid", tp, "use", "sig",
                     "alg", JOSE_ALG, "n", n, "e", e);
}

/* {"keys": [...]} of the public members of each JWK text (d, p, q ... never copied). */
const char *lti_jwks_document(apr_pool_t *p, const char *const *public_jwks, int n,
                              lti_err_t *err)
{
    apr_pool_t *tmp;
    json_t *keys, *doc;
    const char *out = NULL;

    if (n < 0 || (n > 0 && public_jwks == NULL)) {
        lti_err_set(err, LTI_ERR_INTERNAL, "jwks_args", "lti_jwks_document: bad arguments");
        return NULL;
    }
    if (apr_pool_create(&tmp, p) != APR_SUCCESS) {
        lti_err_set(err, LTI_ERR_NOMEM, "nomem", "out of memory");
        return NULL;
    }
    keys = lti_json_pooled(tmp, json_array());
    for (int i = 0; keys != NULL && i < n; i++) {
        json_t *k = jwks_doc_key(tmp, public_jwks[i], err);

        if (k == NULL || json_array_append_new(keys, k) != 0) {
            apr_pool_destroy(tmp);
            return NULL;
        }
    }
    doc = keys ? lti_json_pooled(tmp, json_pack("{s:O}", "keys", keys)) : NULL;
    out = doc ? lti_json_text(p, doc, JSON_COMPACT) : NULL;
    apr_pool_destroy(tmp);
    if (out == NULL) {
        lti_err_set(err, LTI_ERR_NOMEM, "nomem", "out of memory building the JWKS");
    }
    return out;
}

/* Never prompts for a PEM pass phrase: tool keys are not encrypted. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* cjose JWK of an RSA private key in PEM (in tmp, whose cleanups release it); NULL with
 * err set (MALFORMED "key_malformed", CRYPTO "jwt_sign"). */
static cjose_jwk_t *private_jwk(apr_pool_t *tmp, const char *pem, lti_err_t *err)
{
    static const char *const names[] = {
        OSSL_PKEY_PARAM_RSA_E, OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_D,
        OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2,
        OSSL_PKEY_PARAM_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT2,
        OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
    };
    unsigned char *v[8] = {NULL};
    size_t vlen[8] = {0};
    cjose_jwk_rsa_keyspec spec;
    cjose_jwk_t *jwk;
    cjose_err cerr;
    EVP_PKEY *pk;
    BIO *bio;
    int bits;

    bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL) {
        lti_err_set(err, LTI_ERR_NOMEM, "nomem", "out of memory");
        return NULL;
    }
    apr_pool_cleanup_register(tmp, bio, bio_cleanup, apr_pool_cleanup_null);
    pk = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    if (pk != NULL) {
        apr_pool_cleanup_register(tmp, pk, pkey_cleanup, apr_pool_cleanup_null);
    }
    bits = pk ? EVP_PKEY_get_bits(pk) : 0;
    if (pk == NULL || !EVP_PKEY_is_a(pk, "RSA") || bits < JOSE_RSA_MIN_BITS
        || bits > JOSE_RSA_MAX_BITS) {
        lti_err_set(err, LTI_ERR_MALFORMED, "key_malformed",
                    "the tool's private key is not an unencrypted RSA key of 2048 to 8192 "
                    "bits in PEM");
        return NULL;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        /* e, n and d are required; the CRT parameters are used when present. */
        v[i] = rsa_param(tmp, pk, names[i], i >= 2, &vlen[i]);
        if (v[i] == NULL && i < 3) {
            lti_err_set(err, LTI_ERR_MALFORMED, "key_malformed",
                        "the tool's private key has no private exponent");
            return NULL;
        }
    }
    memset(&spec, 0, sizeof(spec));
    spec.e = v[0];
    spec.elen = vlen[0];
    spec.n = v[1];
    spec.nlen = vlen[1];
    spec.d = v[2];
    spec.dlen = vlen[2];
    spec.p = v[3];
    spec.plen = vlen[3];
    spec.q = v[4];
    spec.qlen = vlen[4];
    spec.dp = v[5];
    spec.dplen = vlen[5];
    spec.dq = v[6];
    spec.dqlen = vlen[6];
    spec.qi = v[7];
    spec.qilen = vlen[7];
    jwk = cjose_jwk_create_RSA_spec(&spec, &cerr);
    if (jwk == NULL) {
        lti_err_set(err, LTI_ERR_CRYPTO, "jwt_sign", "cjose cannot use the tool's key");
        return NULL;
    }
    apr_pool_cleanup_register(tmp, jwk, jwk_cleanup, apr_pool_cleanup_null);
    return jwk;
}

/* Signs claims as RS256 with header {alg, typ, kid}; NULL with err set. */
const char *lti_jwt_sign(apr_pool_t *p, const char *kid, const char *private_pem,
                         json_t *claims, lti_err_t *err)
{
    apr_pool_t *tmp;
    cjose_jwk_t *jwk;
    cjose_header_t *hdr = NULL;
    cjose_jws_t *jws = NULL;
    const char *ser = NULL, *out = NULL;
    char *payload;
    cjose_err cerr;

    if (kid == NULL || !kid_valid(kid, strlen(kid))) {
        lti_err_set(err, LTI_ERR_MALFORMED, "jwt_kid",
                    "a tool key's kid must be 1 to %d printable characters", JOSE_KID_MAX);
        return NULL;
    }
    if (!json_is_object(claims)) {
        lti_err_set(err, LTI_ERR_MALFORMED, "jwt_claims", "the claims to sign are not an object");
        return NULL;
    }
    if (private_pem == NULL) {
        lti_err_set(err, LTI_ERR_MALFORMED, "key_malformed",
                    "there is no private key to sign with");
        return NULL;
    }
    if (apr_pool_create(&tmp, p) != APR_SUCCESS) {
        lti_err_set(err, LTI_ERR_NOMEM, "nomem", "out of memory");
        return NULL;
    }
    jwk = private_jwk(tmp, private_pem, err);
    if (jwk == NULL) {
        apr_pool_destroy(tmp);
        return NULL;
    }
    payload = lti_json_text(tmp, claims, JSON_COMPACT);
    if (payload == NULL) {
        apr_pool_destroy(tmp);
        lti_err_set(err, LTI_ERR_MALFORMED, "jwt_claims", "the claims cannot be serialised");
        return NULL;
    }

    hdr = cjose_header_new(&cerr);
    if (hdr != NULL && cjose_header_set(hdr, CJOSE_HDR_ALG, CJOSE_HDR_ALG_RS256, &cerr)
        && cjose_header_set(hdr, "typ", "JWT", &cerr)
        && cjose_header_set(hdr, CJOSE_HDR_KID, kid, &cerr)) {
        jws = cjose_jws_sign(jwk, hdr, (const uint8_t *)payload, strlen(payload), &cerr);
    }
    if (jws != NULL && cjose_jws_export(jws, &ser, &cerr) && ser != NULL) {
        out = apr_pstrdup(p, ser);
    }
    cjose_jws_release(jws);
    cjose_header_release(hdr);
    apr_pool_destroy(tmp);
    if (out == NULL) {
        lti_err_set(err, LTI_ERR_CRYPTO, "jwt_sign", "signing the token failed");
    }
    return out;
}

/* ---- sealing ------------------------------------------------------------------------- */

/* AES-256-GCM of len bytes of in into out (tag appended) or back (tag checked); 0 or -1. */
static int seal_crypt(int enc, const unsigned char *key, const unsigned char *nonce,
                      const char *aad, const unsigned char *in, size_t len, unsigned char *out,
                      unsigned char *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int ok, outl = 0, finl = 0;

    if (ctx == NULL) {
        return -1;
    }
    ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE, NULL) == 1
         && EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) == 1
         && (aad == NULL || *aad == '\0'
             || EVP_CipherUpdate(ctx, NULL, &outl, (const unsigned char *)aad,
                                 (int)strlen(aad)) == 1)
         && EVP_CipherUpdate(ctx, out, &outl, in, (int)len) == 1
         && (enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG, tag) == 1)
         && EVP_CipherFinal_ex(ctx, out + outl, &finl) == 1
         && (!enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, tag) == 1);
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* "v1." + base64url(nonce | ciphertext | tag); NULL with err set. */
const char *lti_seal(apr_pool_t *p, const unsigned char key[32], const char *aad,
                     const void *plain, size_t len, lti_err_t *err)
{
    unsigned char *buf;

    if (key == NULL || (plain == NULL && len > 0)) {
        lti_err_set(err, LTI_ERR_INTERNAL, "seal_args", "lti_seal needs a key and data");
        return NULL;
    }
    if (len > SEAL_MAX_PLAIN) {
        lti_err_set(err, LTI_ERR_TOO_LARGE, "seal_too_large",
                    "%lu bytes are too many to seal", (unsigned long)len);
        return NULL;
    }
    buf = apr_palloc(p, SEAL_NONCE + len + SEAL_TAG);
    if (lti_random(buf, SEAL_NONCE, err) != LTI_OK) {
        return NULL;
    }
    if (seal_crypt(1, key, buf, aad, plain ? plain : (const void *)"", len, buf + SEAL_NONCE,
                   buf + SEAL_NONCE + len) != 0) {
        lti_err_set(err, LTI_ERR_CRYPTO, "seal_failed", "AES-256-GCM sealing failed");
        return NULL;
    }
    return apr_pstrcat(p, SEAL_PREFIX, b64url_encode(p, buf, SEAL_NONCE + len + SEAL_TAG),
                       NULL);
}

/* Opens a lti_seal text; MALFORMED "seal_malformed", TOO_LARGE "seal_too_large" (over
 * 1 MiB), SIGNATURE "seal_bad_tag". */
lti_status_t lti_unseal(apr_pool_t *p, const unsigned char key[32], const char *aad,
                        const char *sealed, const char **plain, size_t *len, lti_err_t *err)
{
    size_t plen = sizeof(SEAL_PREFIX) - 1, slen, rawlen = 0, clen;
    unsigned char *raw, *out;

    if (key == NULL || plain == NULL) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "seal_args", "lti_unseal needs a key");
    }
    *plain = NULL;
    if (len != NULL) {
        *len = 0;
    }
    if (sealed == NULL || strncmp(sealed, SEAL_PREFIX, plen) != 0) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "seal_malformed",
                           "the value is not sealed by this tool");
    }
    slen = strlen(sealed + plen);
    if (slen > (SEAL_NONCE + SEAL_MAX_PLAIN + SEAL_TAG) / 3 * 4 + 4) {
        return lti_err_set(err, LTI_ERR_TOO_LARGE, "seal_too_large",
                           "the sealed value is too large");
    }
    if (b64url_decode(p, sealed + plen, slen, &raw, &rawlen) != 0
        || rawlen < SEAL_NONCE + SEAL_TAG) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "seal_malformed",
                           "the sealed value is damaged");
    }
    clen = rawlen - SEAL_NONCE - SEAL_TAG;
    out = apr_palloc(p, clen + 1);
    if (seal_crypt(0, key, raw, aad, raw + SEAL_NONCE, clen, out, raw + SEAL_NONCE + clen)
        != 0) {
        OPENSSL_cleanse(out, clen + 1);
        return lti_err_set(err, LTI_ERR_SIGNATURE, "seal_bad_tag",
                           "the sealed value does not open with this key: it was altered, "
                           "or sealed with another PTechSecretKeyFile");
    }
    out[clen] = '\0';
    *plain = (const char *)out;
    if (len != NULL) {
        *len = clen;
    }
    return LTI_OK;
}
