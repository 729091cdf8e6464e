/* lti_ags.h -- LTI 1.3 Assignment and Grade Services (AGS 2.0), the tool's side: an access
 * token by OAuth 2 client_credentials with a JWT client assertion (RFC 7523) signed by the
 * tool key, line items (the launch's own, or one found or created per resource link), and
 * scores posted to the line item's scores URL.  Moodle 4.5 is the platform this is written
 * against (../shared/fixtures/moodle-4.5/lti13-services-exchange.txt).
 *
 * Each step is a REQUEST BUILDER (fills an lti_http_req_t, touches no network) and a
 * RESPONSE PARSER (reads an HTTP status, content type and body), so that the outbox drainer
 * can run many requests at once with curl multi; lti_ags_classify says what an answer means
 * for a score (done, new token, retry later, give up).  lti_ags_send_score does token then
 * score over lti_http, blocking, for tests and simple callers.  Access tokens are kept in an
 * lti_ags_cache_t shared by the threads of a process.  Tokens and keys are never logged and
 * never put in an error text. */
#ifndef LTI_AGS_H
#define LTI_AGS_H

#include <stddef.h>
#include <stdint.h>

#include <apr_pools.h>

#include "lti_err.h"
#include "lti_http.h"

#define LTI_AGS_SCOPE_LINEITEM "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
#define LTI_AGS_SCOPE_LINEITEM_READONLY                                                   \
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
#define LTI_AGS_SCOPE_RESULT_READONLY                                                     \
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
#define LTI_AGS_SCOPE_SCORE "https://purl.imsglobal.org/spec/lti-ags/scope/score"

#define LTI_AGS_TYPE_LINEITEM "application/vnd.ims.lis.v2.lineitem+json"
#define LTI_AGS_TYPE_LINEITEMS "application/vnd.ims.lis.v2.lineitemcontainer+json"
#define LTI_AGS_TYPE_SCORE "application/vnd.ims.lis.v1.score+json"

/* Largest token, line item or score answer accepted, in bytes. */
#define LTI_AGS_MAX_BYTES (64 * 1024)
/* Largest line item container accepted, in bytes. */
#define LTI_AGS_CONTAINER_MAX_BYTES (1024 * 1024)
/* Largest access token accepted, in bytes (Moodle's are 32 hex digits; some platforms issue
 * JWTs). */
#define LTI_AGS_TOKEN_MAX 8192
/* Lifetime of a client assertion, in seconds (at most 5 minutes). */
#define LTI_AGS_ASSERTION_TTL 300
/* A cached access token is dropped this many seconds before the platform's expires_in ends
 * (half of expires_in when that is shorter than twice the margin). */
#define LTI_AGS_TOKEN_MARGIN 60
/* expires_in assumed when the platform does not say (RFC 6749 makes it optional). */
#define LTI_AGS_TOKEN_DEFAULT_TTL 300
/* The scoreMaximum of line items the tool creates. */
#define LTI_AGS_SCORE_MAXIMUM 100
/* Largest score comment sent, in bytes (it becomes the gradebook feedback). */
#define LTI_AGS_COMMENT_MAX 4096
/* Default bound of a token cache. */
#define LTI_AGS_CACHE_DEFAULT_SIZE 64

/* ---- access token ------------------------------------------------------------------- */

/* Builds the token request: POST token_url, application/x-www-form-urlencoded
 * grant_type=client_credentials, client_assertion_type=urn:ietf:params:oauth:
 * client-assertion-type:jwt-bearer, client_assertion = an RS256 JWT {iss = sub = client_id,
 * aud = token_url, iat = now, exp = now + LTI_AGS_ASSERTION_TTL, jti = 128 random bits}
 * signed with the tool key (kid, private_pem) and scope = scopes (space-separated).
 * LTI_ERR_MISSING "ags_arg" for an empty argument, LTI_ERR_MALFORMED "ags_bad_url" for a
 * token_url that is not an absolute http(s) URL; lti_jwt_sign's errors; LTI_ERR_CRYPTO
 * "random_failed". */
lti_status_t lti_ags_token_request(apr_pool_t *p, const char *token_url, const char *client_id,
                                   const char *kid, const char *private_pem, const char *scopes,
                                   int64_t now, lti_http_req_t *req, lti_err_t *err);

/* An access token as the platform granted it. */
typedef struct lti_ags_token_t {
    const char *access_token;     /* a secret: never log it */
    const char *scope;            /* the scopes granted, NULL when not told */
    int64_t expires_in;           /* seconds, as told (LTI_AGS_TOKEN_DEFAULT_TTL if not) */
    int64_t expires_at;           /* now + expires_in - margin: when a cache drops it */
} lti_ags_token_t;

/* Reads the token endpoint's answer.  The body must be a JSON object whatever content_type
 * says (Moodle labels its JSON text/html); content_type only helps the error text.
 * Status not 2xx: LTI_ERR_UPSTREAM "ags_token_refused" (naming the OAuth error and
 * error_description when the body has them).  Body not a JSON object without duplicate
 * keys, access_token missing, empty, over LTI_AGS_TOKEN_MAX or not printable ASCII, or
 * expires_in not a non-negative integer: LTI_ERR_UPSTREAM "ags_token_invalid".  token_type
 * other than Bearer (any case): LTI_ERR_UNSUPPORTED "ags_token_type". */
lti_status_t lti_ags_token_parse(apr_pool_t *p, long status, const char *content_type,
                                 const char *body, size_t len, int64_t now,
                                 lti_ags_token_t *tok, lti_err_t *err);

/* ---- token cache -------------------------------------------------------------------- */

/* Access tokens by (platform id, scope set), for all the threads of a process: a mutex, its
 * own unmanaged pool and allocator (no caller's pool is used after a call returns), at most
 * a fixed number of entries (the soonest to expire is replaced when full). */
typedef struct lti_ags_cache_t lti_ags_cache_t;

/* Makes a cache of at most max_entries (0: LTI_AGS_CACHE_DEFAULT_SIZE).  LTI_ERR_NOMEM or
 * LTI_ERR_INTERNAL "ags_cache" when APR cannot make the pool or the mutex. */
lti_status_t lti_ags_cache_create(int max_entries, lti_ags_cache_t **out, lti_err_t *err);

/* Frees the cache and everything in it (no other thread may use it any more). */
void lti_ags_cache_destroy(lti_ags_cache_t *c);

/* Returns a copy in p of the access token for platform_id and scopes (a space-separated set:
 * order and repeats do not matter) when one is cached and now < its expires_at; else NULL. */
const char *lti_ags_cache_get(lti_ags_cache_t *c, apr_pool_t *p, const char *platform_id,
                              const char *scopes, int64_t now);

/* Caches tok for platform_id and scopes, replacing what was there; a token already expired
 * at now is not kept. */
void lti_ags_cache_put(lti_ags_cache_t *c, const char *platform_id, const char *scopes,
                       const lti_ags_token_t *tok, int64_t now);

/* Forgets the token for platform_id and scopes if it is still access_token (the one the
 * platform refused with 401; a newer one another thread fetched stays), or whatever it is
 * when access_token is NULL. */
void lti_ags_cache_drop(lti_ags_cache_t *c, const char *platform_id, const char *scopes,
                        const char *access_token);

/* Returns how many tokens the cache holds (tests, metrics). */
int lti_ags_cache_count(lti_ags_cache_t *c);

/* ---- line items ---------------------------------------------------------------------- */

/* The AGS claim of a launch (https://purl.imsglobal.org/spec/lti-ags/claim/endpoint). */
typedef struct lti_ags_claim_t {
    const char *lineitems;        /* the container URL, NULL when absent */
    const char *lineitem;         /* the launch's own line item, NULL when absent */
    const char *scope;            /* the claim's scopes joined with ' ', "" when none */
} lti_ags_claim_t;

/* Parses the claim as stored (JSON text, resource_links.claims).  LTI_ERR_MALFORMED
 * "ags_claim" when it is not an object, a URL is not a string or scope not an array of
 * strings. */
lti_status_t lti_ags_claim_parse(apr_pool_t *p, const char *json, lti_ags_claim_t *out,
                                 lti_err_t *err);

/* Whether the space-separated set scopes holds scope. */
int lti_ags_has_scope(const char *scopes, const char *scope);

typedef enum {
    LTI_AGS_LINEITEM_KNOWN = 0,   /* *url is the line item to score */
    LTI_AGS_LINEITEM_FIND         /* *url is the container: find one, or create one */
} lti_ags_choice_t;

/* Chooses where scores go: the claim's lineitem when present (KNOWN), else its lineitems
 * container (FIND).  LTI_ERR_FORBIDDEN "ags_no_score_scope" when the claim does not grant
 * the score scope, LTI_ERR_MISSING "ags_no_lineitem" when it has neither URL, and
 * LTI_ERR_FORBIDDEN "ags_no_lineitem_scope" when finding is needed but neither lineitem nor
 * lineitem.readonly is granted. */
lti_status_t lti_ags_lineitem_choose(const lti_ags_claim_t *claim, lti_ags_choice_t *choice,
                                     const char **url, lti_err_t *err);

/* Builds GET lineitems_url with resource_link_id and tag (either may be NULL: not sent)
 * added to its query (?type_id=N kept), Accept LTI_AGS_TYPE_LINEITEMS, Bearer token.
 * LTI_ERR_MISSING "ags_arg", LTI_ERR_MALFORMED "ags_bad_url". */
lti_status_t lti_ags_lineitems_find_request(apr_pool_t *p, const char *lineitems_url,
                                            const char *token, const char *resource_link_id,
                                            const char *tag, lti_http_req_t *req,
                                            lti_err_t *err);

/* Reads a line item container (a JSON array) and sets *lineitem_url to the id of the first
 * item whose resourceLinkId (when the item has one) equals resource_link_id and whose tag
 * equals tag (each checked only when not NULL) -- platforms may ignore the filters; NULL
 * when none matches (LTI_OK).  Paging (Link rel="next") is not followed.  Status not 2xx:
 * LTI_ERR_UPSTREAM "ags_http_status"; not a JSON array: LTI_ERR_UPSTREAM
 * "ags_lineitems_invalid". */
lti_status_t lti_ags_lineitems_find_parse(apr_pool_t *p, long status, const char *content_type,
                                          const char *body, size_t len,
                                          const char *resource_link_id, const char *tag,
                                          const char **lineitem_url, lti_err_t *err);

/* A line item the tool creates (scoreMaximum LTI_AGS_SCORE_MAXIMUM). */
typedef struct lti_ags_lineitem_t {
    const char *label;            /* required: the gradebook column's title */
    const char *resource_id;      /* the tool's id of the graded thing (the course id) */
    const char *tag;              /* the tool's tag, to find it again */
    const char *resource_link_id; /* the launch's resource link id */
} lti_ags_lineitem_t;

/* Builds POST lineitems_url, Content-Type LTI_AGS_TYPE_LINEITEM, Accept the same, Bearer
 * token, body {label, scoreMaximum: 100, resourceId, tag, resourceLinkId} (NULL members
 * left out).  LTI_ERR_MISSING "ags_arg", LTI_ERR_MALFORMED "ags_bad_url" or "ags_bad_text"
 * (not UTF-8). */
lti_status_t lti_ags_lineitem_create_request(apr_pool_t *p, const char *lineitems_url,
                                             const char *token, const lti_ags_lineitem_t *li,
                                             lti_http_req_t *req, lti_err_t *err);

/* Reads the created line item and sets *lineitem_url to its id.  Status not 2xx:
 * LTI_ERR_UPSTREAM "ags_http_status"; not an object with an absolute http(s) id:
 * LTI_ERR_UPSTREAM "ags_lineitem_invalid". */
lti_status_t lti_ags_lineitem_create_parse(apr_pool_t *p, long status,
                                           const char *content_type, const char *body,
                                           size_t len, const char **lineitem_url,
                                           lti_err_t *err);

/* ---- scores ------------------------------------------------------------------------- */

/* The scores URL of a line item: its path + "/scores", the query kept, a fragment dropped
 * (.../lineitems/5/lineitem?type_id=3 -> .../lineitems/5/lineitem/scores?type_id=3).
 * LTI_ERR_MALFORMED "ags_bad_url" when lineitem_url is not an absolute http(s) URL. */
lti_status_t lti_ags_scores_url(apr_pool_t *p, const char *lineitem_url, const char **out,
                                lti_err_t *err);

/* The timestamp of the next score for a line item and user: now_ms, or last_sent_ms + 1000
 * when that is later (strictly newer than the last one sent, whole seconds apart: Moodle
 * compares seconds and answers 409 otherwise).  last_sent_ms <= 0: none sent yet.  Sets
 * *sent_ms (may be NULL) to the value to remember, and returns it as ISO 8601 UTC with
 * milliseconds ("2026-11-29T22:10:05.123Z") in p. */
const char *lti_ags_timestamp(apr_pool_t *p, int64_t last_sent_ms, int64_t now_ms,
                              int64_t *sent_ms);

/* Formats ms since the epoch as ISO 8601 UTC with milliseconds, in p. */
const char *lti_ags_timestamp_format(apr_pool_t *p, int64_t ms);

/* A score for one user on one line item. */
typedef struct lti_ags_score_t {
    const char *user_id;          /* the LTI 1.3 sub */
    double score_given;           /* >= 0 */
    double score_maximum;         /* > 0 */
    const char *activity_progress; /* Initialized Started InProgress Submitted Completed */
    const char *grading_progress; /* FullyGraded (Moodle drops others) Pending PendingManual
                                   * Failed NotReady */
    int64_t timestamp_ms;         /* from lti_ags_timestamp */
    const char *comment;          /* the gradebook feedback, NULL: none */
} lti_ags_score_t;

/* Builds POST scores_url, Content-Type LTI_AGS_TYPE_SCORE, Accept application/json, Bearer
 * token, body {userId, scoreGiven, scoreMaximum, activityProgress, gradingProgress,
 * timestamp, comment (when not NULL)} (whole numbers as JSON integers).  LTI_ERR_MISSING
 * "ags_arg", LTI_ERR_MALFORMED "ags_bad_url", "ags_bad_score" (not finite, given < 0,
 * maximum <= 0), "ags_bad_progress" (not a value AGS defines), "ags_bad_text" (not UTF-8,
 * comment over LTI_AGS_COMMENT_MAX). */
lti_status_t lti_ags_score_request(apr_pool_t *p, const char *scores_url, const char *token,
                                   const lti_ags_score_t *score, lti_http_req_t *req,
                                   lti_err_t *err);

/* What an answer to a score (or line item) request means. */
typedef enum {
    LTI_AGS_DONE = 0,             /* 2xx */
    LTI_AGS_REAUTH,               /* 401: get one new token, then send again */
    LTI_AGS_RETRY,                /* 408, 429, 5xx, 0 (no answer: network, timeout) */
    LTI_AGS_FINAL                 /* 400 (not gradable), 409 (timestamp not newer), other */
} lti_ags_outcome_t;

/* Classifies an HTTP status (0 when there was no answer).  *reason (may be NULL) gets a
 * static reason code: ags_done, ags_unauthorized, ags_timeout, ags_rate_limited,
 * ags_server_error, ags_network, ags_not_gradable, ags_timestamp_conflict, ags_forbidden,
 * ags_not_found, ags_redirect, ags_refused. */
lti_ags_outcome_t lti_ags_classify(long status, const char **reason);

/* Returns the outcome's name ("done", "reauth", "retry", "final"). */
const char *lti_ags_outcome_name(lti_ags_outcome_t outcome);

/* ---- blocking convenience ------------------------------------------------------------ */

/* A platform as the AGS client needs it. */
typedef struct lti_ags_platform_t {
    const char *id;               /* the token cache key, e.g. "lti13:<issuer>#<client_id>" */
    const char *token_url, *client_id;
    const char *kid, *private_pem;   /* the current tool key */
    const char *scopes;           /* asked for; NULL: LTI_AGS_SCOPE_SCORE */
} lti_ags_platform_t;

/* The scopes to ask a token for, from a launch's AGS claim: those the tool uses (score,
 * lineitem, lineitem.readonly, in that order) that the claim grants; "" when none. */
const char *lti_ags_token_scopes(apr_pool_t *p, const lti_ags_claim_t *claim);

/* What lti_ags_send_score or lti_ags_lineitem_resolve did. */
typedef struct lti_ags_result_t {
    lti_ags_outcome_t outcome;    /* DONE, RETRY or FINAL (never REAUTH) */
    const char *reason;           /* a reason code (lti_ags_classify's, or an error's) */
    long status;                  /* the score request's last HTTP status, 0 if none */
    int tokens_fetched;           /* token requests made (0 when the cache had one) */
} lti_ags_result_t;

/* Posts score to scores_url over lti_http, blocking: an access token from cache (may be
 * NULL: none kept) or the token endpoint, then the score; on 401 the token is dropped, one
 * new token fetched and the score sent once more.  Fills res and returns LTI_OK when the
 * platform took the score.  Otherwise returns an error with err set and res->outcome:
 * FINAL for an answer lti_ags_classify calls final (err->reason is its reason), a score
 * that cannot be built or a scores URL lti_http_check_url refuses (nothing is sent then);
 * RETRY for the rest (no answer, 408/429/5xx, a second 401, a token endpoint that refuses
 * or fails: the platform's registration may be fixed later). */
lti_status_t lti_ags_send_score(apr_pool_t *p, lti_ags_cache_t *cache,
                                const lti_ags_platform_t *pf, const char *scores_url,
                                const lti_ags_score_t *score, int64_t now,
                                const lti_http_opts_t *opts, lti_ags_result_t *res,
                                lti_err_t *err);

/* Finds the line item a link's scores go to, blocking: the claim's lineitem when present
 * (no request); else the first item of its lineitems container for li->resource_link_id and
 * li->tag (lti_ags_lineitems_find_parse); else a new one made from li (needs the lineitem
 * scope).  Tokens as for lti_ags_send_score, with pf->scopes, or lti_ags_token_scopes(claim)
 * when NULL.  LTI_OK with *lineitem_url set; otherwise an error with res->outcome FINAL
 * (lti_ags_lineitem_choose's refusals, a final answer, no lineitem scope to create) or RETRY
 * (no answer, 408/429/5xx, a second 401, the token endpoint, an answer that is not a
 * container or a line item). */
lti_status_t lti_ags_lineitem_resolve(apr_pool_t *p, lti_ags_cache_t *cache,
                                      const lti_ags_platform_t *pf,
                                      const lti_ags_claim_t *claim,
                                      const lti_ags_lineitem_t *li, int64_t now,
                                      const lti_http_opts_t *opts, const char **lineitem_url,
                                      lti_ags_result_t *res, lti_err_t *err);

#endif
