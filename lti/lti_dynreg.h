/* lti_dynreg.h -- LTI Dynamic Registration 1.0, the tool's side: the platform's OpenID
 * configuration fetched and checked, the tool's configuration built and posted to the
 * platform's registration endpoint with its registration token, the answer read.  Moodle 4.x
 * is the platform this is written against (fixtures in ../shared/fixtures/moodle-4.5/).
 * Storing the result and remembering used tokens is the caller's (lti_store). */
#ifndef LTI_DYNREG_H
#define LTI_DYNREG_H

#include <stdint.h>

#include <apr_pools.h>
#include <apr_tables.h>

#include "lti_err.h"
#include "lti_http.h"

/* Largest openid-configuration or registration answer accepted, in bytes. */
#define LTI_DYNREG_MAX_BYTES (64 * 1024)
/* Largest registration token accepted, in bytes (Moodle's are about 600). */
#define LTI_DYNREG_TOKEN_MAX 8192
/* How long a used registration token is remembered when it does not tell its expiry. */
#define LTI_DYNREG_TOKEN_MEMORY (30 * 86400)

/* The scopes the tool asks for: AGS (line items, results, scores) and NRPS. */
#define LTI_DYNREG_SCOPES                                                                 \
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem "                             \
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly "                    \
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly "                      \
    "https://purl.imsglobal.org/spec/lti-ags/scope/score "                                \
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"

/* A platform's OpenID configuration, checked. */
typedef struct lti_dynreg_platform_t {
    const char *issuer;
    const char *authorization_endpoint;
    const char *token_endpoint;
    const char *jwks_uri;
    const char *registration_endpoint;
    const char *product_family_code;    /* "moodle", ... */
    const char *version;                /* may be NULL */
    int auth_endpoint_guessed;          /* no authorization_endpoint: Moodle's auth.php */
} lti_dynreg_platform_t;

/* What the tool tells the platform about itself (absolute URLs; names and descriptions in
 * French, the default, and English; Arabic ones may be NULL). */
typedef struct lti_dynreg_tool_t {
    const char *initiate_login_uri;
    const char *target_link_uri;        /* resource link and deep linking launches */
    const char *jwks_uri;
    const char *logo_uri;               /* may be NULL */
    const char *name_fr, *name_en, *name_ar;
    const char *description_fr, *description_en, *description_ar;
} lti_dynreg_tool_t;

/* What the platform answered. */
typedef struct lti_dynreg_result_t {
    const char *client_id;
    const char *deployment_id;          /* NULL when the platform gave none */
    const char *scope;                  /* the scopes granted, NULL when not told */
} lti_dynreg_result_t;

/* Checks the openid_configuration URL of a registration request before anything is
 * fetched: an absolute URL that lti_http may fetch (LTI_ERR_MALFORMED "dynreg_bad_url",
 * LTI_ERR_FORBIDDEN "dynreg_insecure_url"), and, when allowed (const char * issuers) is
 * not NULL nor empty, on the origin of one of them (LTI_ERR_FORBIDDEN
 * "dynreg_issuer_not_allowed"). */
lti_status_t lti_dynreg_check_config_url(apr_pool_t *p, const char *config_url,
                                         const apr_array_header_t *allowed,
                                         const lti_http_opts_t *http, lti_err_t *err);

/* Whether issuer is in allowed (const char *; a trailing '/' is ignored on both sides).
 * A NULL or empty list allows every issuer.  LTI_ERR_FORBIDDEN
 * "dynreg_issuer_not_allowed" otherwise. */
lti_status_t lti_dynreg_issuer_allowed(apr_pool_t *p, const apr_array_header_t *allowed,
                                       const char *issuer, lti_err_t *err);

/* Parses and checks the platform's OpenID configuration (len bytes of JSON, duplicate keys
 * refused) fetched from config_url: issuer, token_endpoint, jwks_uri, registration_endpoint
 * and the lti-platform-configuration's product_family_code required
 * (LTI_ERR_UPSTREAM "dynreg_config_invalid" when absent or not strings, or not JSON); every
 * URL fetchable under http (LTI_ERR_FORBIDDEN "dynreg_insecure_url"); config_url on the
 * issuer's origin (LTI_ERR_FORBIDDEN "dynreg_issuer_mismatch"); RS256 among the id_token
 * algorithms when they are listed (LTI_ERR_UNSUPPORTED "dynreg_no_rs256").  A Moodle
 * without authorization_endpoint (before 4.1) gets issuer + /mod/lti/auth.php. */
lti_status_t lti_dynreg_config_parse(apr_pool_t *p, const char *config_url, const char *json,
                                     size_t len, const lti_http_opts_t *http,
                                     lti_dynreg_platform_t *out, lti_err_t *err);

/* GETs config_url (checked by lti_dynreg_check_config_url with no allow-list) and parses it
 * with lti_dynreg_config_parse.  LTI_ERR_UPSTREAM "dynreg_config_unreachable" when the
 * fetch fails or the answer is not HTTP 200, "http_too_large" over LTI_DYNREG_MAX_BYTES. */
lti_status_t lti_dynreg_fetch_config(apr_pool_t *p, const char *config_url,
                                     const lti_http_opts_t *http, lti_dynreg_platform_t *out,
                                     lti_err_t *err);

/* The tool's registration request (JSON text, jansson): OIDC client metadata and the
 * lti-tool-configuration with domain = host[:port] of target_link_uri, the name and email
 * claims, the AGS and NRPS scopes, and the messages with LtiDeepLinkingRequest last (Moodle
 * keeps only the last one it reads).  NULL with err (LTI_ERR_MALFORMED "dynreg_tool_url")
 * when a URL is not absolute or a name is missing. */
const char *lti_dynreg_tool_config(apr_pool_t *p, const lti_dynreg_tool_t *tool,
                                   lti_err_t *err);

/* Parses the platform's registration answer: client_id required (LTI_ERR_UPSTREAM
 * "dynreg_response_invalid" without it, or when the answer is not a JSON object); the
 * deployment_id of the lti-tool-configuration, a string or an integer, may be absent. */
lti_status_t lti_dynreg_response_parse(apr_pool_t *p, const char *json, size_t len,
                                       lti_dynreg_result_t *out, lti_err_t *err);

/* Posts tool_json to the platform's registration endpoint with the registration token as
 * Bearer and parses the answer.  LTI_ERR_UPSTREAM "dynreg_refused" (with the platform's
 * error in the text) when it is not HTTP 200 or 201, "dynreg_unreachable" on a network
 * error; lti_dynreg_response_parse's errors. */
lti_status_t lti_dynreg_register(apr_pool_t *p, const lti_dynreg_platform_t *pf,
                                 const char *token, const char *tool_json,
                                 const lti_http_opts_t *http, lti_dynreg_result_t *out,
                                 lti_err_t *err);

/* Checks a registration token's shape (1..LTI_DYNREG_TOKEN_MAX bytes of base64url and
 * dots; LTI_ERR_MALFORMED "dynreg_bad_token") and returns *hash, the SHA-256 hex that
 * stands for it in the store, and *remember_until, how long it must stay remembered as
 * used: its exp (read, not verified: the platform verifies it) plus leeway, at most
 * LTI_DYNREG_TOKEN_MEMORY from now.  A token whose exp is more than leeway seconds past is
 * LTI_ERR_EXPIRED "dynreg_token_expired". */
lti_status_t lti_dynreg_token_check(apr_pool_t *p, const char *token, int64_t now,
                                    int64_t leeway, const char **hash,
                                    int64_t *remember_until, lti_err_t *err);

/* scheme://host[:port] (lowercase, default port left out) of an absolute http(s) URL, or
 * NULL. */
const char *lti_dynreg_origin(apr_pool_t *p, const char *url);

#endif
