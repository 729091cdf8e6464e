/* ptech_keys.c -- the tool's RSA signing keys: created when the store has none, private
 * parts sealed with the PTechSecretKeyFile key (so every node signs with the same kid),
 * published at GET /ptech/jwks (current, next, and retired within PTechKeyOverlap). */
#include <apr_strings.h>

#include "ptech.h"

APLOG_USE_MODULE(ptech);

/* Makes a key pair in state and adds it; LTI_ERR_EXISTS means another process did. */
static lti_status_t make_key(lti_store_t *store, apr_pool_t *p, const unsigned char key[32],
                             const char *state, lti_err_t *err)
{
    lti_keypair_t kp;
    lti_toolkey_t k;
    lti_status_t rv;

    if ((rv = lti_keypair_generate(p, &kp, err)) != LTI_OK) {
        return rv;
    }
    k.kid = kp.kid;
    k.state = state;
    k.public_jwk = kp.public_jwk;
    /* The kid is the associated data: a sealed key cannot be moved to another kid. */
    k.private_sealed = lti_seal(p, key, kp.kid, kp.private_pem, strlen(kp.private_pem), err);
    if (k.private_sealed == NULL) {
        return err ? err->status : LTI_ERR_CRYPTO;
    }
    k.created = k.retired = 0;
    rv = lti_store_key_add(store, &k, ptech_now(), err);
    if (rv == LTI_OK) {
        lti_log(LTI_LOG_INFO, "made the %s tool key %s", state, kp.kid);
    }
    return rv == LTI_ERR_EXISTS ? LTI_OK : rv;
}

lti_status_t ptech_keys_ensure(lti_store_t *store, apr_pool_t *p, const unsigned char key[32],
                               lti_err_t *err)
{
    apr_array_header_t *keys;
    int has_current = 0, has_next = 0;
    lti_status_t rv;

    if ((rv = lti_store_key_list(store, p, &keys, err)) != LTI_OK) {
        return rv;
    }
    for (int i = 0; i < keys->nelts; i++) {
        const lti_toolkey_t *k = &APR_ARRAY_IDX(keys, i, lti_toolkey_t);

        has_current |= strcmp(k->state, "current") == 0;
        has_next |= strcmp(k->state, "next") == 0;
    }
    if (!has_current && (rv = make_key(store, p, key, "current", err)) != LTI_OK) {
        return rv;
    }
    if (!has_next && (rv = make_key(store, p, key, "next", err)) != LTI_OK) {
        return rv;
    }
    return LTI_OK;
}

int ptech_handle_jwks(request_rec *r)
{
    ptech_srv_cfg *c = ptech_cfg(r->server);
    lti_store_t *store = ptech_store(r);
    apr_array_header_t *keys, *pub;
    int64_t now = ptech_now(), overlap = ptech_cfg_dur(c->key_overlap, 7 * 86400);
    const char *doc;
    lti_err_t err;

    if (r->method_number != M_GET) {
        apr_table_setn(r->headers_out, "Allow", "GET");
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (store == NULL) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    /* After `ptechctl keys rotate` the store has no next key: make it now, so platforms
     * see the next key before it signs anything. */
    if (ptech_keys_ensure(store, r->pool, c->secret_key, &err) != LTI_OK
        || lti_store_key_list(store, r->pool, &keys, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, NULL, 0);
    }
    pub = apr_array_make(r->pool, keys->nelts, sizeof(const char *));
    for (int i = 0; i < keys->nelts; i++) {
        const lti_toolkey_t *k = &APR_ARRAY_IDX(keys, i, lti_toolkey_t);

        if (strcmp(k->state, "retired") != 0 || k->retired + overlap > now) {
            APR_ARRAY_PUSH(pub, const char *) = k->public_jwk;
        }
    }
    doc = lti_jwks_document(r->pool, (const char *const *)pub->elts, pub->nelts, &err);
    if (doc == NULL) {
        return ptech_lti_error(r, &err, NULL, 0);
    }
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "public, max-age=300");
    apr_table_setn(r->headers_out, "Access-Control-Allow-Origin", "*");
    ap_rputs(doc, r);
    return OK;
}
