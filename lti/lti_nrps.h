/* lti_nrps.h -- LTI 1.3 Names and Role Provisioning Services 2.0, the tool's side: the
 * course roster (membership container) read with an access token (client_credentials, the
 * same flow as AGS: lti_ags_token_request), paged by Link rel="next", and stored as persons
 * (lti_store_roster_put) so that learners who never launched show on the instructor page.
 * Written against Moodle 4.5 (mod/lti/services/memberships), whose Link header quotes rel
 * values with typographic quotes (“next”); they are accepted as well as plain ones. */
#ifndef LTI_NRPS_H
#define LTI_NRPS_H

#include <stdint.h>

#include <apr_pools.h>
#include <apr_tables.h>

#include "lti_err.h"
#include "lti_http.h"
#include "lti_store.h"

#define LTI_NRPS_SCOPE "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
#define LTI_NRPS_MEDIA_TYPE "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"

/* Largest membership page accepted, in bytes. */
#define LTI_NRPS_MAX_BYTES (4 * 1024 * 1024)
/* Most pages followed in one sync (a loop or a huge course stops there, with an error). */
#define LTI_NRPS_MAX_PAGES 200
/* A context's roster is fetched again when its last sync is older than this, in seconds. */
#define LTI_NRPS_SYNC_AGE 600

/* The context_memberships_url of a link's service claims (lti_launch13_t.link_claims_json:
 * {"nrps": {"context_memberships_url": ...}}).  LTI_ERR_NOT_FOUND "nrps_no_claim" when the
 * link has none; LTI_ERR_MALFORMED "nrps_claim" when it is not an http(s) URL. */
lti_status_t lti_nrps_claim_url(apr_pool_t *p, const char *link_claims_json, const char **url,
                                lti_err_t *err);

/* Builds GET url with Accept LTI_NRPS_MEDIA_TYPE and the bearer token (never logged). */
void lti_nrps_request(const char *url, const char *token, lti_http_req_t *req);

/* Reads one membership page and appends its members (lti_roster_member_t, in p) to
 * members.  Status not 2xx: LTI_ERR_UPSTREAM "nrps_http_status"; a body that is not a JSON
 * object without duplicate keys with a members array: LTI_ERR_UPSTREAM "nrps_invalid".
 * Members without a user_id string are skipped; status Inactive or Deleted gives active 0;
 * roles are parsed like a launch's. */
lti_status_t lti_nrps_parse(apr_pool_t *p, long status, const char *body, size_t len,
                            apr_array_header_t *members, lti_err_t *err);

/* The URL of the rel="next" link of a Link header value (RFC 8288; several links separated
 * by commas; rel quoted with ", with typographic “ ” or not at all; rel may list several
 * types), or NULL when there is none. */
const char *lti_nrps_next_link(apr_pool_t *p, const char *link_header);

/* What a roster fetch needs about the platform. */
typedef struct lti_nrps_platform_t {
    const char *token_url, *client_id;
    const char *kid, *private_pem;    /* the tool's current key */
} lti_nrps_platform_t;

/* Fetches the whole roster at url over lti_http: an access token for LTI_NRPS_SCOPE, then
 * every page (at most LTI_NRPS_MAX_PAGES: LTI_ERR_UPSTREAM "nrps_too_many_pages").  The
 * members (lti_roster_member_t) in *members, the pages read in *pages.  Errors of the token
 * request (lti_ags_token_parse's), of lti_http and of lti_nrps_parse. */
lti_status_t lti_nrps_fetch(apr_pool_t *p, const lti_nrps_platform_t *pf, const char *url,
                            const lti_http_opts_t *opts, int64_t now,
                            apr_array_header_t **members, int *pages, lti_err_t *err);

/* Brings the roster of link_pk's context up to date when its link has an NRPS claim and
 * the last sync is older than max_age seconds: platform (from the link's LTI 1.3 tenant),
 * tool key (lti_tool_key_current with secret_key), fetch, lti_store_roster_put.  *count
 * (may be NULL) is the number of members stored, -1 when nothing was due.  LTI_OK when
 * nothing is due or the link has no claim; otherwise the first error. */
lti_status_t lti_nrps_sync(apr_pool_t *p, lti_store_t *store, const unsigned char *secret_key,
                           int64_t link_pk, const lti_http_opts_t *opts, int64_t now,
                           int64_t max_age, int *count, lti_err_t *err);

#endif
