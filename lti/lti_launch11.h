/* lti_launch11.h -- an LTI 1.1 basic-lti-launch-request, checked and turned into what the
 * store records.  The caller looks up the consumer secret and records the launch; this file
 * holds the protocol rules (signature, time window, parameters, roles). */
#ifndef LTI_LAUNCH11_H
#define LTI_LAUNCH11_H

#include <stdint.h>

#include <apr_pools.h>
#include <apr_tables.h>

#include "lti_err.h"
#include "lti_store.h"

typedef struct lti_launch11_t {
    const char *consumer_key;
    const char *nonce;
    int64_t timestamp;
    const char *message_type;      /* basic-lti-launch-request | ContentItemSelectionRequest */
    const char *user_id;
    const char *given_name, *family_name, *full_name, *email;
    const char *context_id, *context_title, *context_label, *context_type;
    const char *link_id, *link_title;
    const char *roles_raw;
    unsigned roles;                /* LTI_ROLE_* */
    const char *locale;
    const char *result_sourcedid, *outcome_url;
    const char *return_url;
    const char *custom_course;     /* custom_course, NULL when absent */
    const char *instance_guid;
} lti_launch11_t;

/* Reads the launch parameters (lti_kv_t, body and query) without checking the signature:
 * LTI_ERR_MISSING for a missing oauth_consumer_key. */
lti_status_t lti_launch11_consumer_key(const apr_array_header_t *params, const char **key,
                                       lti_err_t *err);

/* Checks a launch whose consumer secret is known: signature method, HMAC-SHA1 signature
 * over the URL as the LMS saw it, |now - oauth_timestamp| <= window, lti_message_type,
 * lti_version LTI-1p0 (or LTI-1p2), required parameters, and fills out.  Reason codes:
 * oauth_method, oauth_bad_signature, oauth_timestamp, lti_version, lti_message_type,
 * lti_missing_param, ... .  The nonce is not checked here (the store does it, once). */
lti_status_t lti_launch11_verify(apr_pool_t *p, const char *url,
                                 const apr_array_header_t *params, const char *secret,
                                 int64_t now, int64_t window, lti_launch11_t *out,
                                 lti_err_t *err);

/* Maps a roles parameter (comma list of short names, LIS URNs or LTI 1.3 URIs) to
 * LTI_ROLE_* bits; unknown roles give LTI_ROLE_OTHER. */
unsigned lti_roles_parse(const char *roles);

#endif
