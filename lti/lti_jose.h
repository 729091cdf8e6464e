/* lti_jose.h -- JWT/JWS/JWK for LTI 1.3 over cjose (signatures, keys) and jansson (JSON:
 * headers and claims are read with JSON_REJECT_DUPLICATES).  cjose has no claims API, so
 * claims are plain json_t objects; lti_launch13.c validates them. */
#ifndef LTI_JOSE_H
#define LTI_JOSE_H

#include <stddef.h>
#include <stdint.h>

#include <apr_pools.h>
#include <jansson.h>

#include "lti_err.h"

/* Hands j (may be NULL) to pool p, which drops the reference when it goes; returns j. */
json_t *lti_json_pooled(apr_pool_t *p, json_t *j);

/* j as JSON text (json_dumpb flags) in p, or NULL. */
char *lti_json_text(apr_pool_t *p, const json_t *j, size_t flags);

/* Largest compact JWT accepted, in bytes (Moodle's id_tokens are about 5 KB). */
#define LTI_JWT_MAX_BYTES (32 * 1024)
/* Largest JWKS document accepted, in bytes. */
#define LTI_JWKS_MAX_BYTES (256 * 1024)

/* A compact JWS split and decoded, not yet verified.  header and claims are owned by the
 * pool (json_decref in a pool cleanup); alg and kid point into header. */
typedef struct lti_jwt_t {
    json_t *header;
    json_t *claims;
    const char *alg, *kid;
    const char *compact;     /* the token as received, for cjose */
} lti_jwt_t;

/* Splits and decodes a compact JWS of len bytes.  In this order: size (LTI_ERR_TOO_LARGE
 * "jwt_too_large"), three base64url parts (LTI_ERR_MALFORMED "jwt_malformed"), header JSON
 * without duplicate keys, alg exactly "RS256" before anything else is looked at
 * (LTI_ERR_UNSUPPORTED "jwt_alg": none, HS256, RS384, ES256 ... are refused), a "crit"
 * header refused, kid present, a string of 1..256 printable ASCII bytes (LTI_ERR_MALFORMED
 * "jwt_kid"), claims a JSON object without duplicate keys ("jwt_claims").  jku, x5u, jwk
 * and x5c headers are never used.  Verify the signature with lti_jwt_verify. */
lti_status_t lti_jwt_parse(apr_pool_t *p, const char *compact, size_t len, lti_jwt_t **out,
                           lti_err_t *err);

/* Frees jwt's header and claims now rather than with p (jwt, parsed in p, is then empty):
 * for a caller done with them that has more to do before p goes. */
void lti_jwt_release(apr_pool_t *p, lti_jwt_t *jwt);

/* A set of RSA public keys (RS256, use "sig" or no use), by kid. */
typedef struct lti_jwks_t lti_jwks_t;

/* Parses a JWKS document ({"keys": [...]}); keys that are not RSA signing keys are skipped,
 * private parts are ignored.  LTI_ERR_MALFORMED "jwks_malformed" for a document that is not
 * a JWKS, LTI_ERR_TOO_LARGE over LTI_JWKS_MAX_BYTES. */
lti_status_t lti_jwks_parse(apr_pool_t *p, const char *json, size_t len, lti_jwks_t **out,
                            lti_err_t *err);

/* Whether the set holds a key with this kid. */
int lti_jwks_has(const lti_jwks_t *set, const char *kid);

/* Verifies jwt's RS256 signature with the key of its kid in set.  LTI_ERR_UNKNOWN_KEY
 * "jwt_unknown_kid" if the set has no such kid, LTI_ERR_SIGNATURE "jwt_bad_signature" if it
 * does not verify. */
lti_status_t lti_jwt_verify(const lti_jwt_t *jwt, const lti_jwks_t *set, lti_err_t *err);

/* A tool key pair: an RSA-2048 private key (PEM) and its public JWK (JSON text with kid,
 * kty RSA, alg RS256, use sig, n, e; never private parts). */
typedef struct lti_keypair_t {
    const char *kid;
    const char *private_pem;
    const char *public_jwk;
} lti_keypair_t;

/* Makes a new RSA-2048 key pair with OpenSSL; the kid is derived from the public key (RFC
 * 7638 thumbprint, base64url).  LTI_ERR_CRYPTO on failure. */
lti_status_t lti_keypair_generate(apr_pool_t *p, lti_keypair_t *out, lti_err_t *err);

/* Builds {"keys": [...]} from public JWK JSON texts (const char *), for GET /ptech/jwks:
 * only kty, kid, use "sig", alg "RS256", n and e are copied, so private parts never leave;
 * a JWK without kid gets its RFC 7638 thumbprint.  Returns the JSON text or NULL (err set:
 * LTI_ERR_MALFORMED "jwk_malformed" for a non-RSA or incomplete key). */
const char *lti_jwks_document(apr_pool_t *p, const char *const *public_jwks, int n,
                              lti_err_t *err);

/* Signs claims (a JSON object) as a compact RS256 JWS with header {alg, typ JWT, kid}.
 * LTI_ERR_CRYPTO / LTI_ERR_MALFORMED on failure. */
const char *lti_jwt_sign(apr_pool_t *p, const char *kid, const char *private_pem,
                         json_t *claims, lti_err_t *err);

/* Seals len bytes (at most about 1 MiB: LTI_ERR_TOO_LARGE "seal_too_large") with
 * AES-256-GCM under key (32 bytes) and aad (may be NULL): returns
 * "v1." + base64url(nonce | ciphertext | tag), or NULL (err set). */
const char *lti_seal(apr_pool_t *p, const unsigned char key[32], const char *aad,
                     const void *plain, size_t len, lti_err_t *err);

/* Opens what lti_seal made (NUL-terminated in *plain).  LTI_ERR_SIGNATURE
 * "seal_bad_tag" if the key, aad or data do not match, LTI_ERR_MALFORMED if not sealed. */
lti_status_t lti_unseal(apr_pool_t *p, const unsigned char key[32], const char *aad,
                        const char *sealed, const char **plain, size_t *len, lti_err_t *err);

#endif
