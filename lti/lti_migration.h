/* lti_migration.h -- moving from LTI 1.1 to LTI 1.3 (1EdTech LTI 1.3 Migration Guide): the
 * lti1p1 claim of an id_token, whose oauth_consumer_key_sign proves the platform holds the
 * LTI 1.1 consumer secret, so that the claim's LTI 1.1 user_id may be trusted. */
#ifndef LTI_MIGRATION_H
#define LTI_MIGRATION_H

#include <stdint.h>

#include <apr_pools.h>

#include "lti_err.h"

#define LTI_CLAIM_LTI1P1 "https://purl.imsglobal.org/spec/lti/claim/lti1p1"

/* The lti1p1 claim.  user_id is the LTI 1.1 user id (the token's sub when the claim has
 * none); sign is NULL when the platform sent no oauth_consumer_key_sign. */
typedef struct lti_lti1p1_t {
    const char *consumer_key, *user_id, *sign;
} lti_lti1p1_t;

/* What the signature covers besides the consumer key: the id_token's deployment_id, iss,
 * the client id (the registered one, which aud holds), exp and nonce. */
typedef struct lti_lti1p1_base_t {
    const char *deployment_id, *iss, *client_id, *nonce;
    int64_t exp;
} lti_lti1p1_base_t;

/* Reads the lti1p1 claim from its JSON text (lti_launch13_t.lti1p1_json); sub is the
 * token's sub.  LTI_ERR_MALFORMED "lti1p1_claim" when it is not a JSON object or a member
 * has the wrong type, LTI_ERR_MISSING "lti1p1_claim" without an oauth_consumer_key. */
lti_status_t lti_lti1p1_parse(apr_pool_t *p, const char *json, const char *sub,
                              lti_lti1p1_t *out, lti_err_t *err);

/* The base string: consumer_key & deployment_id & iss & client_id & exp & nonce.  NULL
 * when a part is missing. */
const char *lti_lti1p1_base_string(apr_pool_t *p, const char *consumer_key,
                                   const lti_lti1p1_base_t *b);

/* The signature as the spec writes it: base64 of the raw HMAC-SHA256 of the base string
 * keyed with the consumer secret; with moodle set, as Moodle writes it: base64 of the
 * lowercase hex digest.  NULL on a missing part or an OpenSSL failure. */
const char *lti_lti1p1_sign(apr_pool_t *p, const char *consumer_key, const char *secret,
                            const lti_lti1p1_base_t *b, int moodle);

/* Verifies claim->sign against secret, accepting both spellings, in constant time.
 * LTI_ERR_MISSING "lti1p1_no_sign" without a signature, LTI_ERR_SIGNATURE "lti1p1_bad_sign"
 * when it does not verify, LTI_ERR_CRYPTO when OpenSSL fails. */
lti_status_t lti_lti1p1_verify(apr_pool_t *p, const lti_lti1p1_t *claim, const char *secret,
                               const lti_lti1p1_base_t *b, lti_err_t *err);

#endif
