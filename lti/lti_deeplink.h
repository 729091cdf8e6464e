/* lti_deeplink.h -- content selection by the instructor, the tool's side: LTI 1.3 Deep
 * Linking 2.0 (LtiDeepLinkingRequest -> an LtiDeepLinkingResponse JWT signed with the tool
 * key, posted to deep_link_return_url) and LTI 1.1 Content-Item (ContentItemSelectionRequest
 * -> a ContentItemSelection form signed with OAuth 1 HMAC-SHA1, posted to
 * content_item_return_url).  Both answer with resource links that carry the custom parameter
 * course=ID and a line item of 100 points, so that Moodle makes the activity and its
 * gradebook column in one go.
 *
 * What a validated request needs for its answer is an lti_deeplink_ctx_t, kept server side
 * (lti_store_dlctx_*) between the picker's pages as JSON text (lti_deeplink_ctx_dump/load):
 * nothing a browser sends can change where the answer goes or what it echoes. */
#ifndef LTI_DEEPLINK_H
#define LTI_DEEPLINK_H

#include <stdint.h>

#include <apr_pools.h>
#include <apr_tables.h>

#include "lti_catalog.h"
#include "lti_err.h"

/* Lifetime of a picker context, in seconds (an instructor browsing the catalog). */
#define LTI_DEEPLINK_TTL 3600
/* Lifetime of a response JWT, in seconds (it is posted at once). */
#define LTI_DEEPLINK_RESPONSE_TTL 600
/* The tag of the line items the tool asks for (AGS lineItem.tag). */
#define LTI_DEEPLINK_TAG "open-ptech"
/* The JSON-LD context of LTI 1.1 content items. */
#define LTI_CONTENTITEM_CONTEXT "http://purl.imsglobal.org/ctx/lti/v1/ContentItem"
/* Largest data value echoed, in bytes (Moodle's is a few dozen). */
#define LTI_DEEPLINK_DATA_MAX 4096

/* A validated content selection request. */
typedef struct lti_deeplink_ctx_t {
    const char *version;          /* "1.3" (Deep Linking) or "1.1" (Content-Item) */
    const char *return_url;       /* where the answer is posted: absolute http(s) */
    const char *data;             /* echoed as is; NULL when the request had none */
    int accept_multiple;          /* several items may be returned */
    const char *locale;           /* the launch locale (titles), may be NULL */
    /* LTI 1.3 */
    int64_t platform_id;
    const char *issuer, *client_id, *deployment_id;
    /* LTI 1.1 */
    const char *consumer_key;
} lti_deeplink_ctx_t;

/* One chosen course, as the answer describes it. */
typedef struct lti_deeplink_item_t {
    const char *course_id;        /* a catalog id: custom course, lineItem.resourceId */
    const char *title;            /* title and lineItem.label */
    const char *text;             /* a description, may be NULL */
} lti_deeplink_item_t;

/* Reads the deep_linking_settings claim (JSON text) into ctx (return_url, data,
 * accept_multiple; other fields untouched).  LTI_ERR_MALFORMED "dl_settings" when it is not
 * a JSON object (duplicates refused) or a member has the wrong type, "dl_return_url" when
 * deep_link_return_url is missing or not an absolute http(s) URL, "dl_data" when data is
 * over LTI_DEEPLINK_DATA_MAX; LTI_ERR_UNSUPPORTED "dl_accept_types" when accept_types is
 * there and has no ltiResourceLink. */
lti_status_t lti_deeplink_settings_parse(apr_pool_t *p, const char *settings_json,
                                         lti_deeplink_ctx_t *ctx, lti_err_t *err);

/* Reads an LTI 1.1 ContentItemSelectionRequest's parameters (lti_kv_t, signature already
 * verified) into ctx (return_url, data, accept_multiple; other fields untouched).
 * LTI_ERR_MISSING/MALFORMED "ci_return_url" for a missing, repeated or non-http(s)
 * content_item_return_url, "dl_data" for data over LTI_DEEPLINK_DATA_MAX;
 * LTI_ERR_UNSUPPORTED "ci_media_types" when accept_media_types does not admit
 * application/vnd.ims.lti.v1.ltilink. */
lti_status_t lti_contentitem_request_parse(apr_pool_t *p, const apr_array_header_t *params,
                                           lti_deeplink_ctx_t *ctx, lti_err_t *err);

/* ctx as compact JSON text (for the store), or NULL (out of memory). */
const char *lti_deeplink_ctx_dump(apr_pool_t *p, const lti_deeplink_ctx_t *ctx);

/* Reads what lti_deeplink_ctx_dump made.  LTI_ERR_MALFORMED "dl_context" otherwise. */
lti_status_t lti_deeplink_ctx_load(apr_pool_t *p, const char *json, lti_deeplink_ctx_t *ctx,
                                   lti_err_t *err);

/* Checks a selection of n items against ctx: n > 1 without accept_multiple is
 * LTI_ERR_FORBIDDEN "dl_multiple"; an item without course_id or title LTI_ERR_MISSING
 * "dl_item".  n = 0 is a cancel, always allowed. */
lti_status_t lti_deeplink_check(const lti_deeplink_ctx_t *ctx,
                                const lti_deeplink_item_t *items, int n, lti_err_t *err);

/* The LtiDeepLinkingResponse of a 1.3 ctx for items (n = 0: cancel, an empty list), signed
 * RS256 with the tool key (kid, private_pem): iss = client_id, aud = issuer, iat = now, exp
 * = now + LTI_DEEPLINK_RESPONSE_TTL, a fresh nonce, deployment_id, message_type, version
 * 1.3.0, data when the request had one, and ltiResourceLink items {url = launch_url, title,
 * text, custom {course}, lineItem {scoreMaximum 100, label, resourceId, tag}}.  The compact
 * JWT in *jwt.  lti_deeplink_check's errors; LTI_ERR_MISSING "dl_arg" for a ctx that is
 * not a complete 1.3 one; lti_jwt_sign's errors. */
lti_status_t lti_deeplink_response(apr_pool_t *p, const lti_deeplink_ctx_t *ctx,
                                   const lti_deeplink_item_t *items, int n,
                                   const char *launch_url, const char *kid,
                                   const char *private_pem, int64_t now, const char **jwt,
                                   lti_err_t *err);

/* The content_items JSON-LD of a ContentItemSelection: {"@context", "@graph": [LtiLinkItem
 * {mediaType application/vnd.ims.lti.v1.ltilink, title, text, url = launch_url, custom
 * {course}, lineItem {@type LineItem, label, reportingMethod res:totalScore, tag,
 * assignedActivity {activityId}, scoreConstraints {@type NumericLimits, normalMaximum 100,
 * totalMaximum 100}}}]}.  NULL when out of memory. */
const char *lti_contentitem_json(apr_pool_t *p, const lti_deeplink_item_t *items, int n,
                                 const char *launch_url);

/* The form fields (lti_kv_t in *fields) of the ContentItemSelection of a 1.1 ctx for items
 * (n = 0: cancel): lti_message_type, lti_version LTI-1p0, content_items, data when the
 * request had one, and oauth_* signed with HMAC-SHA1 by consumer secret over POST to
 * ctx->return_url.  lti_deeplink_check's errors, "dl_arg" for a ctx that is not a 1.1 one,
 * lti_oauth1_sign's errors. */
lti_status_t lti_contentitem_response(apr_pool_t *p, const lti_deeplink_ctx_t *ctx,
                                      const lti_deeplink_item_t *items, int n,
                                      const char *launch_url, const char *secret, int64_t now,
                                      apr_array_header_t **fields, lti_err_t *err);

/* Whether course is shown by the picker for the search words q (NULL or blank: all) and
 * theme (NULL or empty: all): every word of q, compared without case (ASCII), is in the
 * course id or its title or description in one of the three languages. */
int lti_deeplink_match(apr_pool_t *p, const lti_course_t *course, const char *q,
                       const char *theme);

/* Whether roles (LTI_ROLE_* bits; roles_raw for the text) may choose content: Instructor,
 * TeachingAssistant, Administrator or ContentDeveloper.  LTI_ERR_FORBIDDEN "dl_role"
 * otherwise. */
lti_status_t lti_deeplink_roles_check(unsigned roles, const char *roles_raw, lti_err_t *err);

#endif
