/* lti_migration.c -- the lti1p1 migration claim (see lti_migration.h).
 *
 * 1EdTech LTI 1.3 Migration Guide, "LTI 1.1 migration claim": oauth_consumer_key_sign =
 * base64(HMAC-SHA256(key = the LTI 1.1 consumer secret, text = oauth_consumer_key & deployment_id
 * & iss & client_id & exp & nonce)).  Moodle (enrol/lti and its test fixtures) encodes the
 * hex digest instead of the raw one (PHP's hash_hmac without raw output); both verify.
 */
#include <string.h>

#include <apr_strings.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lti_migration.h"
#include "lti_util.h"

/* Longest member we keep (ids and a base64 signature are far shorter). */
#define LTI1P1_MAX 255

/* obj[key] as a string of 1..LTI1P1_MAX bytes without NUL (copied into p), NULL when absent,
 * null or empty; -1 when of another type or too long. */
static int member(apr_pool_t *p, const json_t *obj, const char *key, const char **out)
{
    const json_t *v = json_object_get(obj, key);
    size_t len;

    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (!json_is_string(v)) {
        return -1;
    }
    len = json_string_length(v);
    if (len > LTI1P1_MAX || strlen(json_string_value(v)) != len
        || !lti_utf8_valid(json_string_value(v), len)) {
        return -1;
    }
    if (len > 0) {
        *out = apr_pstrmemdup(p, json_string_value(v), len);
    }
    return 0;
}

lti_status_t lti_lti1p1_parse(apr_pool_t *p, const char *json, const char *sub,
                              lti_lti1p1_t *out, lti_err_t *err)
{
    json_t *o;
    int bad;

    memset(out, 0, sizeof(*out));
    o = json ? json_loads(json, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        return lti_err_set(err, LTI_ERR_MALFORMED, "lti1p1_claim",
                           "the lti1p1 claim is not a JSON object");
    }
    bad = member(p, o, "oauth_consumer_key", &out->consumer_key)
          | member(p, o, "user_id", &out->user_id)
          | member(p, o, "oauth_consumer_key_sign", &out->sign);
    json_decref(o);
    if (bad) {
        memset(out, 0, sizeof(*out));
        return lti_err_set(err, LTI_ERR_MALFORMED, "lti1p1_claim",
                           "the lti1p1 claim has a member that is not a short UTF-8 string");
    }
    if (out->consumer_key == NULL) {
        memset(out, 0, sizeof(*out));
        return lti_err_set(err, LTI_ERR_MISSING, "lti1p1_claim",
                           "the lti1p1 claim has no oauth_consumer_key");
    }
    if (out->user_id == NULL && sub != NULL) {
        out->user_id = apr_pstrdup(p, sub);
    }
    return LTI_OK;
}

const char *lti_lti1p1_base_string(apr_pool_t *p, const char *consumer_key,
                                   const lti_lti1p1_base_t *b)
{
    if (consumer_key == NULL || b == NULL || b->deployment_id == NULL || b->iss == NULL
        || b->client_id == NULL || b->nonce == NULL) {
        return NULL;
    }
    return apr_psprintf(p, "%s&%s&%s&%s&%" APR_INT64_T_FMT "&%s", consumer_key,
                        b->deployment_id, b->iss, b->client_id, (apr_int64_t)b->exp, b->nonce);
}

const char *lti_lti1p1_sign(apr_pool_t *p, const char *consumer_key, const char *secret,
                            const lti_lti1p1_base_t *b, int moodle)
{
    const char *base = lti_lti1p1_base_string(p, consumer_key, b);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    const char *out;

    if (base == NULL || secret == NULL) {
        return NULL;
    }
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)base,
             strlen(base), md, &mdlen) == NULL) {
        return NULL;
    }
    if (moodle) {
        const char *hex = lti_hex(p, md, mdlen);

        out = lti_base64(p, (const unsigned char *)hex, strlen(hex));
    }
    else {
        out = lti_base64(p, md, mdlen);
    }
    OPENSSL_cleanse(md, sizeof(md));
    return out;
}

lti_status_t lti_lti1p1_verify(apr_pool_t *p, const lti_lti1p1_t *claim, const char *secret,
                               const lti_lti1p1_base_t *b, lti_err_t *err)
{
    const char *spec, *moodle;
    int ok;

    if (claim == NULL || claim->sign == NULL) {
        return lti_err_set(err, LTI_ERR_MISSING, "lti1p1_no_sign",
                           "the lti1p1 claim has no oauth_consumer_key_sign");
    }
    spec = lti_lti1p1_sign(p, claim->consumer_key, secret, b, 0);
    moodle = lti_lti1p1_sign(p, claim->consumer_key, secret, b, 1);
    if (spec == NULL || moodle == NULL) {
        return lti_err_set(err, LTI_ERR_CRYPTO, "lti1p1_hmac_failed",
                           "cannot compute the lti1p1 signature (a part is missing or "
                           "HMAC-SHA256 failed)");
    }
    /* Both compared, whatever the first gives: no shortcut tells which spelling is near. */
    ok = lti_ct_streq(claim->sign, spec);
    ok |= lti_ct_streq(claim->sign, moodle);
    if (!ok) {
        return lti_err_set(err, LTI_ERR_SIGNATURE, "lti1p1_bad_sign",
                           "the lti1p1 claim's oauth_consumer_key_sign does not verify with "
                           "the secret of LTI 1.1 consumer %.100s: the platform's LTI 1.1 "
                           "secret differs from the one given to ptechctl consumer add",
                           claim->consumer_key);
    }
    return LTI_OK;
}
