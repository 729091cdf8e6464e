/* lti_badge.h -- Open Badges 2.0 both ways.
 *
 * Issuing (hosted verification, JSON-LD context https://w3id.org/openbadges/v2): the
 * issuer Profile, one BadgeClass per catalog course, one Assertion per award (lti_store.h
 * lti_badge_award_t), and the award's baked PNG (one uncompressed iTXt chunk, keyword
 * "openbadges", holding the Assertion JSON, before IEND).  A recipient is
 * "sha256$" + hex(sha256(lowercased email + salt)); the salt of an assertion is derived
 * from the PTechSecretKeyFile key and the assertion id, so the store holds no salt and
 * nobody without the key can test guessed addresses against a published hash.
 *
 * Evidence (SPEC.md "IBM badge of a course"): a badge URL a learner pastes (a Credly badge
 * page, or a hosted OB 2.0 assertion on a PTechBadgeIssuerHost) is fetched with its
 * BadgeClass and Issuer, and checked: recipient, issuer host, badge class of a catalog
 * course, not expired, not revoked.
 */
#ifndef LTI_BADGE_H
#define LTI_BADGE_H

#include <stddef.h>
#include <stdint.h>

#include <apr_pools.h>
#include <apr_tables.h>

#include "lti_catalog.h"
#include "lti_err.h"
#include "lti_http.h"
#include "lti_store.h"

#define LTI_BADGE_CONTEXT "https://w3id.org/openbadges/v2"
/* Largest assertion, badge class or profile fetched, in bytes. */
#define LTI_BADGE_MAX_DOC (256 * 1024)
/* Redirects followed per document (each within the allowed hosts). */
#define LTI_BADGE_MAX_REDIRECTS 3
/* The issuer host used when no PTechBadgeIssuerHost is configured. */
#define LTI_BADGE_CREDLY_API "api.credly.com"

/* Where the tool publishes its badges: base is the tool's public base URL
 * ("https://tool.example"); the documents live under base + "/ptech/badges/". */
typedef struct lti_badge_site_t {
    const char *base;
    const char *issuer_name;    /* the Profile's name */
    const char *issuer_email;   /* may be NULL */
    const char *lang;           /* language of names and descriptions ("fr", "ar", "en") */
} lti_badge_site_t;

/* The salt of assertion id: hex of the first 16 bytes of
 * HMAC-SHA256(key, "ptech-badge-salt:" + id).  NULL on a crypto failure. */
const char *lti_badge_salt(apr_pool_t *p, const unsigned char key[32], const char *id);

/* "sha256$" + lowercase hex sha256(email + salt) (email as given). */
const char *lti_badge_identity(apr_pool_t *p, const char *email, const char *salt);

/* 1 when an OB 2.0 recipient object (JSON text) names email: type "email", and identity equal to email (unhashed, case-insensitive), or
 * hashed "sha256$hex" of email + salt for email as given or lowercased (hex compared
 * case-insensitively; "md5$" is refused).  0 otherwise. */
int lti_badge_recipient_matches(apr_pool_t *p, const char *recipient_json, const char *email);

/* The issuer Profile, BadgeClass of course, and Assertion of award as JSON text in p.
 * salt is lti_badge_salt of award->id; award->email must be set. NULL on failure. */
const char *lti_badge_profile_json(apr_pool_t *p, const lti_badge_site_t *site);
const char *lti_badge_class_json(apr_pool_t *p, const lti_badge_site_t *site,
                                 const lti_course_t *course);
const char *lti_badge_assertion_json(apr_pool_t *p, const lti_badge_site_t *site,
                                     const lti_course_t *course,
                                     const lti_badge_award_t *award, const char *salt);

/* The URLs of the documents above. */
const char *lti_badge_assertion_url(apr_pool_t *p, const char *base, const char *id);
const char *lti_badge_class_url(apr_pool_t *p, const char *base, const char *course_id);

/* The base badge image: a PNG drawn here (a medal), the same bytes every call. */
lti_status_t lti_badge_png_base(apr_pool_t *p, const unsigned char **png, size_t *len,
                                lti_err_t *err);

/* Bakes text into png (len bytes): one iTXt chunk keyword "openbadges", uncompressed, no
 * language, inserted before IEND; an openbadges iTXt already there is replaced.
 * LTI_ERR_MALFORMED "png_malformed" when png is not a well-formed PNG (signature, chunk
 * lengths, CRCs, IHDR first, IEND last). */
lti_status_t lti_badge_png_bake(apr_pool_t *p, const unsigned char *png, size_t len,
                                const char *text, unsigned char **out, size_t *outlen,
                                lti_err_t *err);

/* Reads the openbadges iTXt back: *text its text (NULL when absent), *count how many
 * such chunks there are.  Same errors as lti_badge_png_bake (CRCs checked). */
lti_status_t lti_badge_png_extract(apr_pool_t *p, const unsigned char *png, size_t len,
                                   const char **text, int *count, lti_err_t *err);

/* Maps a badge URL a learner pasted to the assertion URL to fetch:
 *  - https://(www.)credly.com/badges/ID[/public_url|/...]  ->
 *    https://api.credly.com/v1/obi/v2/badge_assertions/ID (when api.credly.com is allowed);
 *  - any http(s) URL whose host is in hosts (NULL or empty: api.credly.com only), plain
 *    http only to the loopback with allow_insecure_loopback (lti_http_check_url).
 * LTI_ERR_MALFORMED "badge_url_malformed", LTI_ERR_FORBIDDEN "badge_host_unknown". */
lti_status_t lti_badge_url_map(apr_pool_t *p, const char *url, const apr_array_header_t *hosts,
                               const lti_http_opts_t *http, const char **fetch_url,
                               lti_err_t *err);

/* 1 when url's host is one of hosts (NULL or empty: api.credly.com). */
int lti_badge_host_allowed(apr_pool_t *p, const char *url, const apr_array_header_t *hosts);

/* The course of catalog whose ibm-badge class is the last path segment of badge_url
 * (SPEC.md), or NULL. */
const lti_course_t *lti_badge_course_of_class(apr_pool_t *p, const lti_catalog_t *cat,
                                              const char *badge_url);

/* What a verified IBM badge gives. */
typedef struct lti_badge_evidence_t {
    const char *assertion_url;  /* the assertion's id (what was fetched) */
    const lti_course_t *course;
    int needs_approval;         /* matched the claimed address, not the LMS email */
    int64_t issued_on;          /* 0 when absent */
} lti_badge_evidence_t;

/* Fetches and checks a pasted badge URL for a learner whose LMS email is email (may be
 * NULL); claimed_email (may be NULL) is the address the learner says the badge was issued
 * to.  On LTI_OK *out says what was verified.  Refusals, each with err->reason and a
 * sentence: badge_url_malformed, badge_host_unknown, badge_redirect_refused,
 * badge_fetch_failed (network or an HTTP status other than 200/410), badge_too_large,
 * badge_not_json, badge_not_assertion, badge_revoked (revoked: true or 410),
 * badge_expired, badge_not_yours, badge_class_unknown, badge_issuer_refused. */
lti_status_t lti_badge_verify(apr_pool_t *p, const char *url, const lti_catalog_t *cat,
                              const apr_array_header_t *hosts, const lti_http_opts_t *http,
                              const char *email, const char *claimed_email, int64_t now,
                              lti_badge_evidence_t *out, lti_err_t *err);

#endif
