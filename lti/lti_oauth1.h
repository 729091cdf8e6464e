/* lti_oauth1.h -- OAuth 1.0a (RFC 5849) as LTI 1.1 uses it: HMAC-SHA1 signatures over
 * the signature base string, and the body hash extension for POX outcomes. */
#ifndef LTI_OAUTH1_H
#define LTI_OAUTH1_H

#include <stddef.h>
#include <stdint.h>

#include <apr_pools.h>
#include <apr_tables.h>

#include "lti_err.h"
#include "lti_util.h"

/* The base string URI of RFC 5849 3.4.1.2: scheme and host lowercased, default port
 * dropped, no query or fragment.  Returns NULL (err set) if url is not absolute http(s). */
const char *lti_oauth1_base_uri(apr_pool_t *p, const char *url, lti_err_t *err);

/* The signature base string (RFC 5849 3.4.1) of method, url (its query parameters are
 * included) and params (lti_kv_t: body and header parameters; oauth_signature is skipped). */
const char *lti_oauth1_base_string(apr_pool_t *p, const char *method, const char *url,
                                   const apr_array_header_t *params, lti_err_t *err);

/* base64 HMAC-SHA1 of base with key pct(consumer_secret) "&" pct(token_secret). */
const char *lti_oauth1_hmac_sha1(apr_pool_t *p, const char *base, const char *consumer_secret,
                                 const char *token_secret);

/* Verifies an HMAC-SHA1 signature of method/url/params with secret, comparing in constant
 * time.  Only checks the signature: LTI_ERR_UNSUPPORTED if oauth_signature_method is absent
 * or not HMAC-SHA1, LTI_ERR_MISSING/LTI_ERR_MALFORMED for a missing or duplicated
 * oauth_signature, LTI_ERR_SIGNATURE if it does not verify. */
lti_status_t lti_oauth1_verify(apr_pool_t *p, const char *method, const char *url,
                               const apr_array_header_t *params, const char *secret,
                               lti_err_t *err);

/* Adds oauth_* parameters (consumer key, nonce, timestamp, HMAC-SHA1, version 1.0) to
 * params and signs them; used by the demo LMS and to sign outcomes requests. */
lti_status_t lti_oauth1_sign(apr_pool_t *p, const char *method, const char *url,
                             apr_array_header_t *params, const char *consumer_key,
                             const char *secret, int64_t now, lti_err_t *err);

/* The parameters (lti_kv_t, decoded) of an "Authorization: OAuth k="v", ..." header, realm
 * left out.  LTI_ERR_MISSING "oauth_header" when it is not an OAuth header,
 * LTI_ERR_MALFORMED "oauth_header" when it cannot be read. */
lti_status_t lti_oauth1_parse_header(apr_pool_t *p, const char *header,
                                     apr_array_header_t *params, lti_err_t *err);

/* oauth_body_hash: base64 SHA-1 of the body bytes. */
const char *lti_oauth1_body_hash(apr_pool_t *p, const void *body, size_t len);

#endif
