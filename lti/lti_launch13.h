/* lti_launch13.h -- the claims of an LTI 1.3 id_token (already signature-verified by
 * lti_jose) checked against what the tool expects, and turned into a launch. */
#ifndef LTI_LAUNCH13_H
#define LTI_LAUNCH13_H

#include <stdint.h>

#include <apr_pools.h>
#include <jansson.h>

#include "lti_err.h"

#define LTI_CLAIM "https://purl.imsglobal.org/spec/lti/claim/"

/* What the tool knows before looking at the token. */
typedef struct lti_launch13_expect_t {
    const char *issuer;           /* the registered platform issuer, compared exactly */
    const char *client_id;        /* must be in aud; azp must equal it when aud has several */
    const char *nonce;            /* the nonce issued with this state */
    const char *target_link_uri;  /* the one the login initiation named */
    int64_t now, leeway;          /* seconds */
} lti_launch13_expect_t;

typedef struct lti_launch13_t {
    const char *iss, *sub, *nonce, *deployment_id, *message_type, *version;
    const char *target_link_uri;
    int64_t iat, exp;
    int64_t skew;                 /* now - iat: the platform clock's measured lag */
    const char *link_id, *link_title;
    const char *context_id, *context_title, *context_label, *context_type;
    const char *roles_raw;        /* the roles claim joined with ',' */
    unsigned roles;               /* LTI_ROLE_* */
    const char *given_name, *family_name, *full_name, *email;
    const char *locale, *return_url;
    const char *custom_course;    /* custom claim "course", NULL when absent */
    const char *platform_guid;
    const char *deep_link_json;   /* deep_linking_settings as JSON text */
    const char *lti1p1_json;      /* the lti1p1 migration claim as JSON text */
    /* What a resource link keeps for use without a live session: {"ags", "custom", "nrps"}
     * as present, in that order, compact (NULL when none).  The basic outcome claim is the
     * learner's, not the link's: it goes to result_sourcedid and outcome_url. */
    const char *link_claims_json;
    const char *result_sourcedid, *outcome_url;   /* from the basic outcome claim */
} lti_launch13_t;

/* Validates claims (a JSON object) against exp and fills out.  Reason codes:
 * jwt_iss, jwt_aud, jwt_azp (LTI_ERR_UNKNOWN_KEY), jwt_exp, jwt_iat, jwt_nbf
 * (LTI_ERR_EXPIRED for time windows, with the measured skew in the text; MALFORMED when not
 * an integer), jwt_nonce (LTI_ERR_REPLAY when it differs from the issued one),
 * lti13_deployment_id, lti13_message_type, lti13_version (UNSUPPORTED), lti13_target_link_uri
 * (FORBIDDEN), lti13_resource_link, lti13_roles, lti13_deep_linking, lti13_claim (a claim of
 * the wrong JSON type), lti13_expect (INTERNAL: exp lacks issuer, client_id or nonce).
 * Numbers must be JSON numbers (exp as a string is refused); strings must be UTF-8 and
 * at most 255 bytes for ids (deployment_id, sub, resource_link.id, context.id). */
lti_status_t lti_launch13_validate(apr_pool_t *p, const json_t *claims,
                                   const lti_launch13_expect_t *exp, lti_launch13_t *out,
                                   lti_err_t *err);

#endif
