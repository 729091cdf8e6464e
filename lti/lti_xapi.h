/* lti_xapi.h -- progress from content: the subset of xAPI 1.0.3 that
 * POST /ptech/xapi/statements accepts, its mapping to the progress model, the learner's
 * account in content links, and the content providers' secrets.
 *
 * What is accepted (README "Content providers"):
 *  - one statement (object) or an array of 1..LTI_XAPI_MAX_STATEMENTS, parsed by jansson
 *    with JSON_REJECT_DUPLICATES;
 *  - id: a UUID, or absent (one is made);
 *  - actor: an Agent with either account {homePage: BASE/ptech, name: the learner's opaque
 *    id from lti_store_xapi_actor} or mbox "mailto:EMAIL" (the learner's LMS email,
 *    compared case-insensitively);
 *  - verb.id: http://adlnet.gov/expapi/verbs/ completed, passed, failed, scored, progressed;
 *  - object.id: BASE/ptech/xapi/activities/COURSE (the whole course) or
 *    BASE/ptech/xapi/activities/COURSE/MODULE, or the content URL of exactly one catalog
 *    module;
 *  - result.score.scaled 0..1, result.completion and result.success booleans;
 *  - timestamp: ISO 8601 (lti_progress_parse_date), at most LTI_XAPI_FUTURE_SKEW seconds
 *    ahead; absent: the time it arrives.
 * Status of the fact: completed, passed, failed by their verb; scored by result.success
 * (passed / failed), else result.completion (completed), else in_progress; progressed:
 * completed when result.completion is true, else in_progress.
 */
#ifndef LTI_XAPI_H
#define LTI_XAPI_H

#include <stddef.h>
#include <stdint.h>

#include <apr_pools.h>
#include <apr_tables.h>

#include "lti_catalog.h"
#include "lti_err.h"
#include "lti_progress.h"
#include "lti_store.h"

/* Largest statements body, in bytes (HTTP 413 beyond). */
#define LTI_XAPI_MAX_BODY (1024 * 1024)
/* Most statements in one POST. */
#define LTI_XAPI_MAX_STATEMENTS 1000
/* How far ahead of the server's clock a statement's timestamp may be, in seconds. */
#define LTI_XAPI_FUTURE_SKEW 300
/* The verb IRIs' common prefix. */
#define LTI_XAPI_VERB_PREFIX "http://adlnet.gov/expapi/verbs/"

/* One accepted statement. */
typedef struct lti_xapi_stmt_t {
    const char *id;             /* lowercase UUID, given or made */
    const char *actor_name;     /* account name, or NULL */
    const char *actor_email;    /* mbox address (without mailto:), or NULL */
    const char *verb;           /* "completed", "passed", "failed", "scored", "progressed" */
    const char *course_id;
    const char *module_id;      /* "" for the whole course */
    const char *status;         /* the progress status it sets */
    int has_score;
    double score;               /* 0..1 */
    int completion, success;    /* -1 absent, else 0 or 1 */
    int64_t at;
} lti_xapi_stmt_t;

/* The account homePage of learners: base (the tool's public URL) + "/ptech". */
const char *lti_xapi_home_page(apr_pool_t *p, const char *base);

/* The activity IRI of a course (module NULL or "") or of one of its modules. */
const char *lti_xapi_activity_id(apr_pool_t *p, const char *base, const char *course_id,
                                 const char *module_id);

/* Parses len bytes of statements against cat, with base the tool's public URL and now the
 * server's time.  *out gets lti_xapi_stmt_t.  On any invalid statement nothing is returned:
 * LTI_ERR_MALFORMED (bad JSON, a missing or ill-typed field, a duplicate key or id),
 * LTI_ERR_UNSUPPORTED (verb, actor form, object type), LTI_ERR_NOT_FOUND (an activity not
 * in the catalog, an account of another system), LTI_ERR_TOO_LARGE (over the caps), with a
 * reason code "xapi_..." and the text naming the statement ("statement 2: ..."). */
lti_status_t lti_xapi_parse(apr_pool_t *p, const lti_catalog_t *cat, const char *base,
                            const char *buf, size_t len, int64_t now,
                            apr_array_header_t **out, lti_err_t *err);

/* Records stmts (from lti_xapi_parse) as progress in one store transaction (source "xapi",
 * evidence naming the statement id and provider), all or nothing: every actor must be a
 * learner the store knows (LTI_ERR_NOT_FOUND "xapi_actor_unknown" otherwise, nothing
 * written).  The course results and grade returns follow as for any progress. */
lti_status_t lti_xapi_record(lti_store_t *s, apr_pool_t *p, const lti_catalog_t *cat,
                             const char *provider, const apr_array_header_t *stmts,
                             int64_t now, lti_progress_stats_t *stats, lti_err_t *err);

/* A content link for a learner: url with the xAPI launch parameters appended (endpoint =
 * base/ptech/xapi/, actor = the learner's Agent as JSON, activity_id), before any
 * fragment.  Returns NULL when jansson fails. */
const char *lti_xapi_content_link(apr_pool_t *p, const char *url, const char *base,
                                  const char *actor_name, const char *course_id,
                                  const char *module_id);

/* Whether name is a valid provider name: 1 to 64 of [A-Za-z0-9._-]. */
int lti_xapi_provider_name_ok(const char *name);

/* Makes a new provider secret (32 random bytes, base64url, 43 characters) and its stored
 * form *hash ("sha256$SALT$HASH", hex, SALT 16 random bytes).  LTI_ERR_CRYPTO on failure. */
lti_status_t lti_xapi_secret_new(apr_pool_t *p, const char **secret, const char **hash,
                                 lti_err_t *err);

/* The stored form of secret with a given salt (hex); NULL if salt_hex is not hex. */
const char *lti_xapi_secret_hash(apr_pool_t *p, const char *salt_hex, const char *secret);

/* Whether secret matches the stored hash (compared in constant time); 0 for a malformed
 * hash or a NULL argument. */
int lti_xapi_secret_verify(apr_pool_t *p, const char *hash, const char *secret);

/* Splits an Authorization header "Basic base64(name:secret)" (scheme case-insensitive).
 * LTI_ERR_MISSING "xapi_auth_missing" when header is NULL or not Basic, LTI_ERR_MALFORMED
 * "xapi_auth_malformed" when it does not decode to name:secret. */
lti_status_t lti_xapi_basic_auth(apr_pool_t *p, const char *header, const char **name,
                                 const char **secret, lti_err_t *err);

#endif
