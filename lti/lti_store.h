/* lti_store.h -- the one store interface.
 *
 * A store is a struct of function pointers that each backend fills
 * (lti_store_sqlite.c now, lti_store_pgsql.c next); callers use only the
 * lti_store_* wrappers below, which log failures, and never learn which
 * backend runs.  Every function returns LTI_OK or an lti_status_t with err
 * filled; LTI_ERR_STORE means the database failed, other codes are stated
 * per function.  Results are allocated in the pool the caller passes.
 * Times are integer epoch seconds.  A store handle belongs to one process
 * (open it after fork); it may be shared by that process's threads.
 */
#ifndef LTI_STORE_H
#define LTI_STORE_H

#include <stdint.h>

#include <apr_pools.h>
#include <apr_tables.h>

#include "lti_err.h"

typedef struct lti_store_t lti_store_t;

/* The schema version this build writes; migrations bring any older store up to it. */
#define LTI_STORE_SCHEMA_VERSION 13

typedef struct lti_consumer_t {
    const char *key;
    const char *secret;   /* only filled by lti_store_consumer_get */
    int64_t created;
} lti_consumer_t;

/* What a verified launch (1.1 or 1.3) records.  tenant names the platform instance
 * the ids belong to ("lti11:<consumer key>", later "lti13:<issuer>#<client>"). */
typedef struct lti_launch_rec_t {
    const char *tenant;
    const char *nonce_scope;    /* replay scope, e.g. "lti11:<consumer key>" (with nonce: NULL
                                 * when login_state stands for it) */
    const char *nonce;
    int64_t nonce_expires;
    const char *version;        /* "1.1" or "1.3" */
    const char *user_id;
    const char *given_name, *family_name, *full_name, *email;  /* may be NULL */
    const char *context_id, *context_title, *context_label, *context_type; /* may be NULL */
    const char *link_id, *link_title;
    const char *course_id;      /* from the custom parameter; NULL when absent */
    unsigned roles;             /* LTI_ROLE_* bits */
    const char *roles_raw;
    const char *locale;
    const char *result_sourcedid, *outcome_url;   /* 1.1 grade return; may be NULL */
    const char *session_hash;   /* the new session's key: its time, then a hash of its id
                                 * (see lti_store_purge) */
    const char *csrf;           /* per-session CSRF token */
    const char *lms_origin;     /* scheme://host[:port] of the LMS, for frame-ancestors */
    const char *link_claims;    /* LTI 1.3 service and custom claims (JSON), may be NULL */
    const char *login_state;    /* LTI 1.3: the login state this launch consumes, deleted in
                                 * its transaction (LTI_ERR_REPLAY if already gone); or NULL */
    /* Who else this person is (SPEC.md, Persons): platform_guid is the launch's
     * tool_consumer_instance_guid (1.1) or tool_platform.guid (1.3), NULL when absent; a
     * first launch of an LMS user id is the person known by the same user id and guid in a
     * tenant of the other LTI version.  link_tenant and link_user_id (both or
     * neither) name an identity verified to be this person (the lti1p1 claim of a 1.3
     * launch: "lti11:<consumer key>" and the 1.1 user_id). */
    const char *platform_guid;
    const char *link_tenant, *link_user_id;
    int64_t session_expires;
    int64_t now;
    apr_pool_t *pool;           /* scratch for the store's reads (the request's); may be NULL */
} lti_launch_rec_t;

/* Roles as bits (lti_launch11.c and lti_launch13.c map the many spellings to these). */
#define LTI_ROLE_LEARNER        0x01u
#define LTI_ROLE_INSTRUCTOR     0x02u
#define LTI_ROLE_TA             0x04u
#define LTI_ROLE_ADMIN          0x08u
#define LTI_ROLE_CONTENT_DEV    0x10u
#define LTI_ROLE_MENTOR         0x20u
#define LTI_ROLE_OTHER          0x40u
#define LTI_ROLE_STAFF_MASK     (LTI_ROLE_INSTRUCTOR | LTI_ROLE_TA | LTI_ROLE_ADMIN \
                                 | LTI_ROLE_CONTENT_DEV)

typedef struct lti_launch_ids_t {
    int64_t person_id, context_pk, link_pk, launch_id;
    /* 0 when the launch's transaction found no progress work for it (no kept rows, no
     * result the link lacks), so lti_store_progress_on_launch has nothing to do; 1 when
     * there may be (a backend that does not look sets 1). */
    int progress_due;
} lti_launch_ids_t;

/* What a page needs about the session behind a cookie. */
typedef struct lti_session_t {
    int64_t person_id, link_pk;
    const char *user_id, *full_name, *email;
    unsigned roles;
    const char *locale;
    const char *csrf;
    const char *lms_origin;     /* may be NULL */
    const char *tenant, *link_id, *link_title, *context_title;
    const char *course_id;      /* NULL when the link has no course yet */
    int64_t expires;
} lti_session_t;

typedef struct lti_learner_t {
    int64_t person_id;
    const char *user_id, *full_name, *email;
    unsigned roles;
    int64_t last_launch;
} lti_learner_t;

typedef struct lti_audit_t {
    int64_t id, at;
    int http_status;
    const char *reason, *scope, *remote, *detail;
} lti_audit_t;

/* Audit rows per reason since a time. */
typedef struct lti_audit_count_t {
    const char *reason;
    int64_t count, last;
} lti_audit_count_t;

typedef struct lti_catalog_rev_t {
    int64_t rev, loaded;
    const char *sha256, *source, *xml;
} lti_catalog_rev_t;

/* An LTI 1.3 platform registration. */
typedef struct lti_platform_t {
    int64_t id;
    const char *issuer, *client_id, *auth_url, *token_url, *jwks_url;
    apr_array_header_t *deployments;    /* const char * */
    int64_t created;
} lti_platform_t;

/* A tool signing key; private_sealed is lti_seal()ed with the PTechSecretKeyFile key. */
typedef struct lti_toolkey_t {
    const char *kid, *state;            /* "current", "next", "retired" */
    const char *public_jwk, *private_sealed;
    int64_t created, retired;
} lti_toolkey_t;

/* An OIDC login state, issued by /ptech/login and consumed by /ptech/launch. */
typedef struct lti_login_state_t {
    const char *state;
    int64_t platform_id;
    const char *nonce, *target_link_uri, *browser;  /* browser: hash of the state cookie */
    int64_t created, expires;
    const char *storage_target; /* the platform storage frame the login put the browser
                                 * value in (lti_storage_target), or NULL */
    const char *relaunch;       /* where the LMS starts this launch again, or NULL */
} lti_login_state_t;

/* A platform's cached JWKS. */
typedef struct lti_jwks_cache_t {
    const char *jwks;                   /* NULL when never fetched */
    int64_t fetched, expires, last_refetch;
} lti_jwks_cache_t;


/* One progress fact about a person in a course (module_id "" = the whole course).  From
 * the CSV import user names the learner (email or LMS user id) and person_id is 0; the
 * store resolves it.  Scores are 0..1. */
typedef struct lti_progress_t {
    const char *user;
    int64_t person_id;
    const char *course_id, *module_id;
    const char *status;         /* "in_progress", "completed", "passed", "failed" */
    int has_score;
    double score;
    int64_t at;                 /* when it happened (epoch seconds) */
    const char *source;         /* "csv", "xapi", "badge", "instructor" */
    const char *evidence;       /* free text (file and line, statement id...), may be NULL */
    int line;                   /* CSV line, for messages */
} lti_progress_t;

/* A course result (SPEC.md, Results fan out); status NULL when there is none. */
typedef struct lti_result_t {
    const char *status;         /* "in_progress", "completed", "passed", "failed" */
    double score;               /* 0..1 */
    int64_t at;
} lti_result_t;

/* Computes the course result of one person from rows (lti_progress_t of that person and
 * course_id); lti_progress_result_fn is the catalog's.  Called by the store inside its
 * transaction: no store calls. */
typedef lti_status_t lti_result_fn(void *baton, apr_pool_t *p, const char *course_id,
                                   const apr_array_header_t *rows, lti_result_t *out,
                                   lti_err_t *err);

/* What lti_store_progress_record did. */
typedef struct lti_progress_stats_t {
    int applied, unchanged, kept, results, queued;
} lti_progress_stats_t;

/* A grade return (outbox row).  kind "lti11" (Basic Outcomes) or "ags". */
typedef struct lti_outbox_item_t {
    int64_t id, version, person_id, link_pk;
    const char *kind, *course_id, *result_status;
    double score;
    int64_t result_at;
    const char *state;          /* "pending", "sent", "failed" */
    int attempts;
    int64_t next_attempt, queued, updated, sent_at;
    const char *reason;         /* last failure, may be NULL */
    /* for delivery and lists */
    const char *user_id, *email, *full_name, *link_title, *tenant;
    const char *sourcedid, *outcome_url;        /* lti11 */
    const char *consumer_key, *consumer_secret; /* lti11, filled by lti_store_outbox_lease */
    const char *link_claims;                    /* ags */
    const char *badge_id;       /* the person's live badge award of the course, filled by
                                 * lti_store_outbox_lease; NULL when none */
} lti_outbox_item_t;

/* A member of a course's roster as the platform's Names and Role Provisioning Service
 * lists it (lti_nrps). */
typedef struct lti_roster_member_t {
    const char *user_id;        /* the LTI 1.3 sub */
    const char *given_name, *family_name, *full_name, *email;   /* NULL when not shared */
    unsigned roles;             /* LTI_ROLE_* bits */
    const char *roles_raw;      /* the roles joined with ',' */
    int active;                 /* status Active (the default); 0: Inactive or Deleted */
} lti_roster_member_t;

/* What a roster sync needs to know about a resource link. */
typedef struct lti_roster_source_t {
    const char *tenant;         /* the link's tenant ("lti13:ISSUER#CLIENT_ID", ...) */
    const char *claims;         /* the link's service claims (JSON text), NULL when none */
    int64_t context_pk;         /* the link's context, 0 when it has none */
    int64_t synced;             /* when that context's roster was last stored, 0: never */
} lti_roster_source_t;

/* A content selection in progress (deep linking, content-item): the validated request
 * (lti_deeplink_ctx_t as JSON text), bound to the browser that made it and to the CSRF
 * token of its picker's forms. */
typedef struct lti_dlctx_t {
    const char *id;             /* random; names the context in the picker's URLs and forms */
    const char *browser;        /* sha256 hex of the browser's binding cookie */
    const char *csrf;           /* the token the selection form must carry */
    const char *body;           /* the request, lti_deeplink_ctx_dump's JSON text */
    int64_t created, expires;
} lti_dlctx_t;

/* Where an AGS score of a person on a link goes (lti_store_ags_target). */
typedef struct lti_ags_target_t {
    const char *user_id;        /* the person's user id in the link's tenant (the 1.3 sub) */
    const char *link_id;        /* the link's resource link id */
    int64_t last_ms;            /* timestamp of the last score sent there, 0 if none */
} lti_ags_target_t;

/* An xAPI content provider (ptechctl provider add); secret_hash from lti_xapi_secret_new,
 * filled only by lti_store_xapi_provider_get. */
typedef struct lti_xapi_provider_t {
    const char *name, *secret_hash;
    int64_t created;
} lti_xapi_provider_t;
/* An Open Badges assertion the tool awarded (one per person and course, made in the
 * transaction that makes the course result "passed"). */
typedef struct lti_badge_award_t {
    const char *id;             /* random hex, the assertion's URL segment */
    int64_t person_id;
    const char *course_id;
    const char *email;          /* the recipient: the person's email at the award (may be
                                 * NULL when the LMS sent none; then the current one) */
    const char *user_id, *full_name;    /* for lists */
    double score;               /* 0..1, the course score at the award */
    const char *evidence;       /* the IBM badge assertion URL when that passed the course */
    int64_t issued, revoked;    /* revoked 0 when not */
    const char *revoke_reason;
} lti_badge_award_t;

/* IBM badge evidence waiting for an instructor: the badge was issued to an address that is
 * not the LMS email but the one the learner gave. */
typedef struct lti_badge_claim_t {
    int64_t id, person_id, link_pk;
    const char *course_id, *url, *claimed_email;
    const char *state;          /* "pending", "approved", "rejected" */
    const char *user_id, *full_name, *email;    /* for the instructor page */
    int64_t created, decided;
} lti_badge_claim_t;

/* How a delivery attempt ended. */
typedef enum { LTI_OUTBOX_SENT, LTI_OUTBOX_RETRY, LTI_OUTBOX_FAILED } lti_outbox_end_t;

/* One ended attempt for lti_store_outbox_finish_many (the arguments of
 * lti_store_outbox_finish; applied is set by the store). */
typedef struct lti_outbox_done_t {
    const lti_outbox_item_t *item;
    lti_outbox_end_t end;
    int64_t next_attempt, now;
    const char *reason;
    int applied;
} lti_outbox_done_t;

/* A grade the demo LMS received (PTechDemoPlatform), the newest per target. */
typedef struct lti_demo_grade_t {
    const char *target;         /* the outcomes sourcedid, or an AGS line item and user */
    const char *via;            /* "lti11", "ags" */
    const char *label;          /* who and which activity, as the demo page shows it */
    double score;               /* 0..1 */
    const char *comment;        /* may be NULL */
    int64_t received;
    int count;                  /* how many times it arrived */
} lti_demo_grade_t;

/* What lti_store_checkpoint did (pages of the store's log). */
typedef struct lti_store_ckpt_t {
    int logged;         /* in the log when it ran */
    int copied;         /* of those, now in the main file */
    int restarted;      /* the next write starts the log again from its beginning */
} lti_store_ckpt_t;

typedef struct lti_store_ops_t {
    const char *name;
    void (*close)(lti_store_t *s);
    lti_status_t (*migrate)(lti_store_t *s, int *from, int *to, lti_err_t *err);
    lti_status_t (*schema_version)(lti_store_t *s, int *version, lti_err_t *err);
    lti_status_t (*consumer_add)(lti_store_t *s, const char *key, const char *secret,
                                 int replace, int64_t now, lti_err_t *err);
    lti_status_t (*consumer_get)(lti_store_t *s, apr_pool_t *p, const char *key,
                                 lti_consumer_t *out, lti_err_t *err);
    lti_status_t (*consumer_list)(lti_store_t *s, apr_pool_t *p, apr_array_header_t **out,
                                  lti_err_t *err);
    lti_status_t (*consumer_remove)(lti_store_t *s, const char *key, lti_err_t *err);
    lti_status_t (*catalog_put)(lti_store_t *s, const char *sha256, const char *source,
                                const char *xml, int64_t now, int *changed, lti_err_t *err);
    lti_status_t (*catalog_current)(lti_store_t *s, apr_pool_t *p, int with_xml,
                                    lti_catalog_rev_t *out, lti_err_t *err);
    lti_status_t (*nonce_use)(lti_store_t *s, const char *scope, const char *nonce,
                              int64_t expires, lti_err_t *err);
    lti_status_t (*purge)(lti_store_t *s, int64_t now, int *nonces, int *sessions,
                          lti_err_t *err);
    /* NULL for a backend with nothing to move (lti_store_checkpoint then does nothing). */
    lti_status_t (*checkpoint)(lti_store_t *s, lti_store_ckpt_t *out, lti_err_t *err);
    lti_status_t (*audit_add)(lti_store_t *s, int64_t at, int http_status, const char *reason,
                              const char *scope, const char *remote, const char *detail,
                              lti_err_t *err);
    lti_status_t (*audit_recent)(lti_store_t *s, apr_pool_t *p, int limit,
                                 apr_array_header_t **out, lti_err_t *err);
    lti_status_t (*audit_counts)(lti_store_t *s, apr_pool_t *p, int64_t since,
                                 apr_array_header_t **out, lti_err_t *err);
    lti_status_t (*launch_record)(lti_store_t *s, const lti_launch_rec_t *rec,
                                  lti_launch_ids_t *ids, lti_err_t *err);
    lti_status_t (*session_get)(lti_store_t *s, apr_pool_t *p, const char *session_hash,
                                int64_t now, lti_session_t *out, lti_err_t *err);
    lti_status_t (*link_set_course)(lti_store_t *s, int64_t link_pk, const char *course_id,
                                    int64_t now, lti_err_t *err);
    lti_status_t (*link_learners)(lti_store_t *s, apr_pool_t *p, int64_t link_pk,
                                  apr_array_header_t **out, lti_err_t *err);
    lti_status_t (*platform_add)(lti_store_t *s, const lti_platform_t *pf, int64_t now,
                                 lti_err_t *err);
    lti_status_t (*platform_list)(lti_store_t *s, apr_pool_t *p, apr_array_header_t **out,
                                  lti_err_t *err);
    lti_status_t (*platform_remove)(lti_store_t *s, const char *issuer, const char *client_id,
                                    lti_err_t *err);
    lti_status_t (*platform_get)(lti_store_t *s, apr_pool_t *p, const char *issuer,
                                 const char *client_id, lti_platform_t *out, lti_err_t *err);
    lti_status_t (*deployment_add)(lti_store_t *s, int64_t platform_id,
                                   const char *deployment_id, int64_t now, lti_err_t *err);
    lti_status_t (*key_list)(lti_store_t *s, apr_pool_t *p, apr_array_header_t **out,
                             lti_err_t *err);
    lti_status_t (*key_add)(lti_store_t *s, const lti_toolkey_t *key, int64_t now,
                            lti_err_t *err);
    lti_status_t (*key_rotate)(lti_store_t *s, int64_t now, lti_err_t *err);
    lti_status_t (*platform_by_id)(lti_store_t *s, apr_pool_t *p, int64_t id,
                                   lti_platform_t *out, lti_err_t *err);
    lti_status_t (*setting_get)(lti_store_t *s, apr_pool_t *p, const char *name,
                                const char **value, lti_err_t *err);
    lti_status_t (*setting_add)(lti_store_t *s, const char *name, const char *value,
                                int64_t now, lti_err_t *err);
    lti_status_t (*state_put)(lti_store_t *s, const lti_login_state_t *st, lti_err_t *err);
    lti_status_t (*state_take)(lti_store_t *s, apr_pool_t *p, const char *state, int64_t now,
                               lti_login_state_t *out, lti_err_t *err);
    lti_status_t (*state_get)(lti_store_t *s, apr_pool_t *p, const char *state, int64_t now,
                              lti_login_state_t *out, lti_platform_t *pf, lti_err_t *err);
    lti_status_t (*jwks_get)(lti_store_t *s, apr_pool_t *p, int64_t platform_id,
                             lti_jwks_cache_t *out, lti_err_t *err);
    lti_status_t (*jwks_put)(lti_store_t *s, int64_t platform_id, const char *jwks,
                             int64_t now, int64_t expires, lti_err_t *err);
    lti_status_t (*jwks_refetch_claim)(lti_store_t *s, int64_t platform_id, int64_t now,
                                       int64_t interval, int *allowed, lti_err_t *err);
    lti_status_t (*xapi_provider_add)(lti_store_t *s, const char *name,
                                      const char *secret_hash, int64_t now, lti_err_t *err);
    lti_status_t (*xapi_provider_get)(lti_store_t *s, apr_pool_t *p, const char *name,
                                      lti_xapi_provider_t *out, lti_err_t *err);
    lti_status_t (*xapi_provider_list)(lti_store_t *s, apr_pool_t *p,
                                       apr_array_header_t **out, lti_err_t *err);
    lti_status_t (*xapi_provider_remove)(lti_store_t *s, const char *name, lti_err_t *err);
    lti_status_t (*xapi_actor)(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                               const char *candidate, int64_t now, const char **name,
                               lti_err_t *err);
    lti_status_t (*xapi_actor_find)(lti_store_t *s, const char *name, const char *email,
                                    int64_t *person_id, lti_err_t *err);
    lti_status_t (*progress_record)(lti_store_t *s, apr_pool_t *p,
                                    const apr_array_header_t *rows, int64_t now,
                                    lti_result_fn *fn, void *baton,
                                    lti_progress_stats_t *stats, lti_err_t *err);
    lti_status_t (*progress_on_launch)(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                       int64_t link_pk, int64_t now, lti_result_fn *fn,
                                       void *baton, lti_progress_stats_t *stats,
                                       lti_err_t *err);
    lti_status_t (*result_get)(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                               const char *course_id, lti_result_t *out, lti_err_t *err);
    lti_status_t (*outbox_claim_drainer)(lti_store_t *s, const char *owner, int64_t now,
                                         int64_t ttl, int *granted, lti_err_t *err);
    lti_status_t (*outbox_lease)(lti_store_t *s, apr_pool_t *p, const char *owner,
                                 int64_t now, int64_t ttl, int limit,
                                 apr_array_header_t **out, lti_err_t *err);
    lti_status_t (*outbox_finish)(lti_store_t *s, const lti_outbox_item_t *item,
                                  const char *owner, lti_outbox_end_t end,
                                  int64_t next_attempt, const char *reason, int64_t now,
                                  int *applied, lti_err_t *err);
    lti_status_t (*demo_grade_put)(lti_store_t *s, const lti_demo_grade_t *g, lti_err_t *err);
    lti_status_t (*demo_grade_list)(lti_store_t *s, apr_pool_t *p, apr_array_header_t **out,
                                    lti_err_t *err);
    /* optional (NULL: the front door calls outbox_finish per row) */
    lti_status_t (*outbox_finish_many)(lti_store_t *s, lti_outbox_done_t *done, int n,
                                       const char *owner, lti_err_t *err);
    lti_status_t (*outbox_list)(lti_store_t *s, apr_pool_t *p, const char *state,
                                int64_t link_pk, apr_array_header_t **out, lti_err_t *err);
    lti_status_t (*outbox_retry)(lti_store_t *s, int64_t id, int64_t now, int *count,
                                 lti_err_t *err);
    lti_status_t (*outbox_depth)(lti_store_t *s, int64_t *pending, int64_t *failed,
                                 lti_err_t *err);
    lti_status_t (*outbox_purge)(lti_store_t *s, int64_t sent_before, int *count,
                                 lti_err_t *err);
    lti_status_t (*ags_target)(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                               int64_t link_pk, lti_ags_target_t *out,
                               lti_err_t *err);
    lti_status_t (*ags_stamp_put)(lti_store_t *s, int64_t person_id, int64_t link_pk,
                                  int64_t ms, lti_err_t *err);
    lti_status_t (*badge_list)(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                               apr_array_header_t **out, lti_err_t *err);
    lti_status_t (*badge_get)(lti_store_t *s, apr_pool_t *p, const char *id,
                              lti_badge_award_t *out, lti_err_t *err);
    lti_status_t (*badge_revoke)(lti_store_t *s, const char *id, const char *reason,
                                 int64_t now, lti_err_t *err);
    lti_status_t (*badge_claim_add)(lti_store_t *s, const lti_badge_claim_t *c, int64_t now,
                                    int64_t *id, lti_err_t *err);
    lti_status_t (*badge_claim_list)(lti_store_t *s, apr_pool_t *p, int64_t link_pk,
                                     int64_t person_id, apr_array_header_t **out,
                                     lti_err_t *err);
    lti_status_t (*badge_claim_decide)(lti_store_t *s, apr_pool_t *p, int64_t id,
                                       int64_t link_pk, int approve, int64_t now,
                                       lti_result_fn *fn, void *baton,
                                       lti_progress_stats_t *stats, lti_err_t *err);
    lti_status_t (*dlctx_put)(lti_store_t *s, const lti_dlctx_t *ctx, int64_t now,
                              lti_err_t *err);
    lti_status_t (*dlctx_get)(lti_store_t *s, apr_pool_t *p, const char *id, int64_t now,
                              int take, lti_dlctx_t *out, lti_err_t *err);
    lti_status_t (*roster_source)(lti_store_t *s, apr_pool_t *p, int64_t link_pk,
                                  lti_roster_source_t *out, lti_err_t *err);
    lti_status_t (*roster_put)(lti_store_t *s, const char *tenant, int64_t context_pk,
                               const apr_array_header_t *members, int64_t now, lti_err_t *err);
    lti_status_t (*progress_list)(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                  const char *course_id, apr_array_header_t **out,
                                  lti_err_t *err);
} lti_store_ops_t;

struct lti_store_t {
    const lti_store_ops_t *ops;
    apr_pool_t *pool;
    const char *dsn;
    void *impl;
};

/* Opens the store named by dsn ("sqlite3:PATH" or "pgsql:CONNINFO") in pool p; the handle
 * is closed when p is cleared.  LTI_ERR_CONFIG for an unknown scheme or a backend this
 * build lacks, LTI_ERR_STORE when the database cannot be opened. */
lti_status_t lti_store_open(apr_pool_t *p, const char *dsn, lti_store_t **out, lti_err_t *err);

/* Closes the store now (also done by the pool cleanup). */
void lti_store_close(lti_store_t *s);

/* Brings the schema to LTI_STORE_SCHEMA_VERSION, one transaction per step; *from and *to
 * (may be NULL) tell what it did.  LTI_ERR_CONFIG if the store is newer than this build. */
lti_status_t lti_store_migrate(lti_store_t *s, int *from, int *to, lti_err_t *err);

/* The store's schema version (0 for an empty store). */
lti_status_t lti_store_schema_version(lti_store_t *s, int *version, lti_err_t *err);

/* Adds an LTI 1.1 consumer.  LTI_ERR_EXISTS if key exists and replace is 0;
 * LTI_ERR_NOT_FOUND if replace is 1 and the key does not exist. */
lti_status_t lti_store_consumer_add(lti_store_t *s, const char *key, const char *secret,
                                    int replace, int64_t now, lti_err_t *err);

/* Fetches a consumer with its secret.  LTI_ERR_NOT_FOUND if unknown. */
lti_status_t lti_store_consumer_get(lti_store_t *s, apr_pool_t *p, const char *key,
                                    lti_consumer_t *out, lti_err_t *err);

/* All consumers (lti_consumer_t, secret NULL), ordered by key. */
lti_status_t lti_store_consumer_list(lti_store_t *s, apr_pool_t *p, apr_array_header_t **out,
                                     lti_err_t *err);

/* Removes a consumer.  LTI_ERR_NOT_FOUND if unknown. */
lti_status_t lti_store_consumer_remove(lti_store_t *s, const char *key, lti_err_t *err);

/* Makes xml (already validated) the current catalog unless the current one has the same
 * sha256; *changed (may be NULL) says whether a new revision was written. */
lti_status_t lti_store_catalog_put(lti_store_t *s, const char *sha256, const char *source,
                                   const char *xml, int64_t now, int *changed, lti_err_t *err);

/* The current catalog revision (xml only when with_xml).  LTI_ERR_NOT_FOUND if none. */
lti_status_t lti_store_catalog_current(lti_store_t *s, apr_pool_t *p, int with_xml,
                                       lti_catalog_rev_t *out, lti_err_t *err);

/* Records a nonce once per scope.  LTI_ERR_REPLAY if it was already recorded. */
lti_status_t lti_store_nonce_use(lti_store_t *s, const char *scope, const char *nonce,
                                 int64_t expires, lti_err_t *err);

/* Deletes expired nonces, sessions and login states; counts (may be NULL) tell how many
 * nonces and sessions.  Session keys and login states must begin with their time (fixed
 * width, so that they sort by it, as mod_ptech makes them): those are deleted from the
 * oldest up to the first that is still live, and one that expires before an older one (a
 * shorter TTL) waits until it is at the front. */
lti_status_t lti_store_purge(lti_store_t *s, int64_t now, int *nonces, int *sessions,
                             lti_err_t *err);

/* Moves what the store has logged into its main file, in the caller's thread, so that
 * requests do not do it (SQLite: the WAL's checkpoint and its fsyncs; a backend with no
 * such work does nothing).  Meant for one background thread, on its own store handle,
 * every second or so; out may be NULL. */
lti_status_t lti_store_checkpoint(lti_store_t *s, lti_store_ckpt_t *out, lti_err_t *err);

/* Appends a refusal to the audit log.  detail must hold no secret or token. */
lti_status_t lti_store_audit_add(lti_store_t *s, int64_t at, int http_status,
                                 const char *reason, const char *scope, const char *remote,
                                 const char *detail, lti_err_t *err);

/* The newest audit rows (lti_audit_t), newest first. */
lti_status_t lti_store_audit_recent(lti_store_t *s, apr_pool_t *p, int limit,
                                    apr_array_header_t **out, lti_err_t *err);

/* The audit rows at or after since, counted per reason (lti_audit_count_t, with the newest
 * row's time), most frequent first. */
lti_status_t lti_store_audit_counts(lti_store_t *s, apr_pool_t *p, int64_t since,
                                    apr_array_header_t **out, lti_err_t *err);

/* Records a verified launch in one transaction: the nonce (LTI_ERR_REPLAY, and nothing
 * written, if already used), person, context, resource link (and its course when
 * rec->course_id is set), the grade-return target, the launch and the new session.
 * Persons: each (tenant, user id) has a row; a row linked to another person (alias) stands
 * for it, and ids->person_id is always the person the identity stands for.  A new identity
 * is linked when rec->link_tenant/link_user_id name a known identity, else when
 * rec->platform_guid finds the same user id launched from the same guid in a tenant of the
 * other LTI version (the oldest such person); with link_tenant set, that identity is also
 * made an alias of this person when it does not exist yet.  Two identities that already exist apart are never
 * merged.  The person's name and email go to the person's own row. */
lti_status_t lti_store_launch_record(lti_store_t *s, const lti_launch_rec_t *rec,
                                     lti_launch_ids_t *ids, lti_err_t *err);

/* The live session with this id hash.  LTI_ERR_NOT_FOUND if unknown or expired. */
lti_status_t lti_store_session_get(lti_store_t *s, apr_pool_t *p, const char *session_hash,
                                   int64_t now, lti_session_t *out, lti_err_t *err);

/* Sets the catalog course of a resource link.  LTI_ERR_NOT_FOUND if no such link. */
lti_status_t lti_store_link_set_course(lti_store_t *s, int64_t link_pk, const char *course_id,
                                       int64_t now, lti_err_t *err);

/* The persons who launched this link (lti_learner_t), by name. */
lti_status_t lti_store_link_learners(lti_store_t *s, apr_pool_t *p, int64_t link_pk,
                                     apr_array_header_t **out, lti_err_t *err);

/* Registers an LTI 1.3 platform with its deployments.  LTI_ERR_EXISTS if (issuer,
 * client_id) is registered. */
lti_status_t lti_store_platform_add(lti_store_t *s, const lti_platform_t *pf, int64_t now,
                                    lti_err_t *err);

/* All platforms (lti_platform_t with their deployments), by issuer and client id. */
lti_status_t lti_store_platform_list(lti_store_t *s, apr_pool_t *p, apr_array_header_t **out,
                                     lti_err_t *err);

/* Removes a platform, its deployments and cached keys.  LTI_ERR_NOT_FOUND if unknown. */
lti_status_t lti_store_platform_remove(lti_store_t *s, const char *issuer,
                                       const char *client_id, lti_err_t *err);

/* The platform of issuer and client_id; with client_id NULL, the only platform of that
 * issuer (LTI_ERR_UNKNOWN_KEY "platform_ambiguous" if it has several).  LTI_ERR_NOT_FOUND
 * if unknown. */
lti_status_t lti_store_platform_get(lti_store_t *s, apr_pool_t *p, const char *issuer,
                                    const char *client_id, lti_platform_t *out,
                                    lti_err_t *err);

/* Adds a deployment id to a platform (no error if it is there). */
lti_status_t lti_store_deployment_add(lti_store_t *s, int64_t platform_id,
                                      const char *deployment_id, int64_t now, lti_err_t *err);

/* The tool keys (lti_toolkey_t), current first, then next, then retired newest first. */
lti_status_t lti_store_key_list(lti_store_t *s, apr_pool_t *p, apr_array_header_t **out,
                                lti_err_t *err);

/* Adds a key in key->state "current" or "next".  LTI_ERR_EXISTS if the store already has a
 * key in that state (another process made it first). */
lti_status_t lti_store_key_add(lti_store_t *s, const lti_toolkey_t *key, int64_t now,
                               lti_err_t *err);

/* Rotates in one transaction: the current key becomes retired and the next one current.
 * LTI_ERR_NOT_FOUND "key_no_next" if there is no next key (nothing changes). */
lti_status_t lti_store_key_rotate(lti_store_t *s, int64_t now, lti_err_t *err);

/* The platform with this id.  LTI_ERR_NOT_FOUND if it was removed. */
lti_status_t lti_store_platform_by_id(lti_store_t *s, apr_pool_t *p, int64_t id,
                                      lti_platform_t *out, lti_err_t *err);

/* Stores an OIDC login state. */
lti_status_t lti_store_state_put(lti_store_t *s, const lti_login_state_t *st, lti_err_t *err);

/* Consumes a login state (deleted whatever follows).  LTI_ERR_NOT_FOUND "state_unknown" if
 * unknown or used, LTI_ERR_EXPIRED "state_expired" if expired (deleted all the same). */
lti_status_t lti_store_state_take(lti_store_t *s, apr_pool_t *p, const char *state,
                                  int64_t now, lti_login_state_t *out, lti_err_t *err);

/* Reads a login state without consuming it (same answers as lti_store_state_take): a
 * launch reads it, checks everything, then consumes it in its own transaction
 * (lti_launch_rec_t.login_state) or with lti_store_state_take when refused.  With pf, the
 * state's platform (as lti_store_platform_by_id) is read in the same snapshot; pf->id is 0
 * when the platform is gone. */
lti_status_t lti_store_state_get(lti_store_t *s, apr_pool_t *p, const char *state,
                                 int64_t now, lti_login_state_t *out, lti_platform_t *pf,
                                 lti_err_t *err);

/* The platform's cached JWKS (jwks NULL if none). */
lti_status_t lti_store_jwks_get(lti_store_t *s, apr_pool_t *p, int64_t platform_id,
                                lti_jwks_cache_t *out, lti_err_t *err);

/* Caches a platform's JWKS until expires. */
lti_status_t lti_store_jwks_put(lti_store_t *s, int64_t platform_id, const char *jwks,
                                int64_t now, int64_t expires, lti_err_t *err);

/* Claims the right to refetch a platform's JWKS for an unknown kid: *allowed is 1 for at
 * most one caller per interval seconds across every process on the store. */
lti_status_t lti_store_jwks_refetch_claim(lti_store_t *s, int64_t platform_id, int64_t now,
                                          int64_t interval, int *allowed, lti_err_t *err);

/* A named setting shared by every node (e.g. the demo platform's sealed key).
 * LTI_ERR_NOT_FOUND if unset. */
lti_status_t lti_store_setting_get(lti_store_t *s, apr_pool_t *p, const char *name,
                                   const char **value, lti_err_t *err);

/* Sets a named setting once: LTI_ERR_EXISTS if it is already set (keep the first). */
lti_status_t lti_store_setting_add(lti_store_t *s, const char *name, const char *value,
                                   int64_t now, lti_err_t *err);

/* Records progress rows in one transaction written with synchronous=FULL: each row goes to
 * the person it names (person_id, else every person whose LMS user id or email, compared
 * case-insensitively, is row->user; an alias stands for its person) unless that person has
 * a newer or equal fact for the same course and module; a row naming nobody yet is kept
 * (newest wins) for the learner's first launch.  For each person and course that changed,
 * fn computes the course result; a changed result is stored and queued in the outbox, one
 * row per resource link of that course where the person has a grade target (SPEC.md,
 * Results fan out): a pending row of the same link takes the new value (newest wins), a
 * value equal to the link's last queued one is not queued again.  A result that becomes
 * "passed" awards the course's badge (lti_badge_award_t) in the same transaction, once per
 * person and course.  stats may be NULL. */
lti_status_t lti_store_progress_record(lti_store_t *s, apr_pool_t *p,
                                       const apr_array_header_t *rows, int64_t now,
                                       lti_result_fn *fn, void *baton,
                                       lti_progress_stats_t *stats, lti_err_t *err);

/* After a launch of person on link: applies the kept rows naming this person (user id or
 * email of any of its identities) as lti_store_progress_record does, and queues the
 * person's current result of the link's course to this link if it was not sent there
 * yet.  Reads only (no write transaction) when there is nothing to do. */
lti_status_t lti_store_progress_on_launch(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                          int64_t link_pk, int64_t now, lti_result_fn *fn,
                                          void *baton, lti_progress_stats_t *stats,
                                          lti_err_t *err);

/* The stored course result of a person.  LTI_ERR_NOT_FOUND if none. */
lti_status_t lti_store_result_get(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                  const char *course_id, lti_result_t *out, lti_err_t *err);

/* Claims the store's one outbox drainer for owner until now + ttl: *granted is 1 when the
 * claim is free, expired or already owner's (then renewed).  The owner releases its claim
 * with a negative ttl. */
lti_status_t lti_store_outbox_claim_drainer(lti_store_t *s, const char *owner, int64_t now,
                                            int64_t ttl, int *granted, lti_err_t *err);

/* Leases up to limit pending rows due at now and not leased by anyone (a lease expires at
 * now + ttl, so a crashed holder's rows come back), oldest due first, with what delivery
 * needs (lti_outbox_item_t, consumer secret included: never log it). */
lti_status_t lti_store_outbox_lease(lti_store_t *s, apr_pool_t *p, const char *owner,
                                    int64_t now, int64_t ttl, int limit,
                                    apr_array_header_t **out, lti_err_t *err);

/* Ends a delivery attempt of a leased row: sent, retry at next_attempt, or failed (dead
 * letter) with reason.  When the row's value changed since the lease (version), or the
 * lease is no longer owner's, only the lease is released and *applied (may be NULL) is 0:
 * the new value goes out next, an old one never overwrites it. */
lti_status_t lti_store_outbox_finish(lti_store_t *s, const lti_outbox_item_t *item,
                                     const char *owner, lti_outbox_end_t end,
                                     int64_t next_attempt, const char *reason, int64_t now,
                                     int *applied, lti_err_t *err);

/* lti_store_outbox_finish for n attempts at once, in one transaction: a drain of many
 * rows costs one commit per batch, not one per row.  done[i].applied says what each did. */
lti_status_t lti_store_outbox_finish_many(lti_store_t *s, lti_outbox_done_t *done, int n,
                                          const char *owner, lti_err_t *err);

/* The demo LMS: records a grade it received (replacing the target's last one, counting
 * arrivals), and lists them (lti_demo_grade_t), newest first. */
lti_status_t lti_store_demo_grade_put(lti_store_t *s, const lti_demo_grade_t *g,
                                      lti_err_t *err);
lti_status_t lti_store_demo_grade_list(lti_store_t *s, apr_pool_t *p, apr_array_header_t **out,
                                       lti_err_t *err);

/* Outbox rows (lti_outbox_item_t, no secrets), newest first: state NULL for all or
 * "pending", "sent", "failed"; link_pk > 0 for the newest row per person of one link. */
lti_status_t lti_store_outbox_list(lti_store_t *s, apr_pool_t *p, const char *state,
                                   int64_t link_pk, apr_array_header_t **out, lti_err_t *err);

/* Makes a failed (or pending, or with an id also a sent: "send again") row due now with its
 * attempts and age reset, unless a newer row of the same person and link exists; id 0:
 * every failed row.  *count (may be NULL) says how many; LTI_ERR_NOT_FOUND when id names
 * no such row. */
lti_status_t lti_store_outbox_retry(lti_store_t *s, int64_t id, int64_t now, int *count,
                                    lti_err_t *err);

/* Deletes the rows sent before sent_before; *count (may be NULL) says how many. */
/* How many grade returns wait (pending) and how many gave up (failed): for /ptech/status. */
lti_status_t lti_store_outbox_depth(lti_store_t *s, int64_t *pending, int64_t *failed,
                                    lti_err_t *err);

lti_status_t lti_store_outbox_purge(lti_store_t *s, int64_t sent_before, int *count,
                                    lti_err_t *err);

/* Where an AGS score of person on link goes: the person's user id in the link's tenant (its
 * own identity, else an alias there: the LTI 1.3 sub), the link's resource link id, and the
 * timestamp (ms) of the last score sent for them to that link, 0 if none.
 * LTI_ERR_NOT_FOUND when the link is gone or the person has no identity in its tenant. */
lti_status_t lti_store_ags_target(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                  int64_t link_pk, lti_ags_target_t *out,
                                  lti_err_t *err);

/* Remembers ms as the last AGS timestamp of person on link (never moves it back). */
lti_status_t lti_store_ags_stamp_put(lti_store_t *s, int64_t person_id, int64_t link_pk,
                                     int64_t ms, lti_err_t *err);

/* Adds an xAPI content provider with the stored form of its secret.  LTI_ERR_EXISTS if
 * name exists. */
lti_status_t lti_store_xapi_provider_add(lti_store_t *s, const char *name,
                                         const char *secret_hash, int64_t now, lti_err_t *err);

/* A provider with its secret hash.  LTI_ERR_NOT_FOUND if unknown. */
lti_status_t lti_store_xapi_provider_get(lti_store_t *s, apr_pool_t *p, const char *name,
                                         lti_xapi_provider_t *out, lti_err_t *err);

/* All providers (lti_xapi_provider_t, secret_hash NULL), by name. */
lti_status_t lti_store_xapi_provider_list(lti_store_t *s, apr_pool_t *p,
                                          apr_array_header_t **out, lti_err_t *err);

/* Removes a provider.  LTI_ERR_NOT_FOUND if unknown. */
lti_status_t lti_store_xapi_provider_remove(lti_store_t *s, const char *name, lti_err_t *err);

/* The person's xAPI account name: the stored one, else candidate (a fresh random id) is
 * stored and returned, so the name is stable once given out. */
lti_status_t lti_store_xapi_actor(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                  const char *candidate, int64_t now, const char **name,
                                  lti_err_t *err);

/* The person (an alias stands for its person) with the xAPI account name, or when name is
 * NULL, a person whose email is email (case-insensitive).  LTI_ERR_NOT_FOUND if none. */
lti_status_t lti_store_xapi_actor_find(lti_store_t *s, const char *name, const char *email,
                                       int64_t *person_id, lti_err_t *err);
/* The tool's badge awards (lti_badge_award_t), newest first: person_id 0 for every
 * person's, else that person's. */
lti_status_t lti_store_badge_list(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                  apr_array_header_t **out, lti_err_t *err);

/* One award by its id.  LTI_ERR_NOT_FOUND if unknown. */
lti_status_t lti_store_badge_get(lti_store_t *s, apr_pool_t *p, const char *id,
                                 lti_badge_award_t *out, lti_err_t *err);

/* Revokes an award with reason.  LTI_ERR_NOT_FOUND if unknown, LTI_ERR_EXISTS
 * "badge_already_revoked" if it is revoked already (the first reason stays). */
lti_status_t lti_store_badge_revoke(lti_store_t *s, const char *id, const char *reason,
                                    int64_t now, lti_err_t *err);

/* Files IBM badge evidence for an instructor's approval (c: person_id, link_pk, course_id,
 * url, claimed_email); *id (may be NULL) its id.  LTI_ERR_EXISTS "badge_claim_pending" when
 * the person already has evidence waiting for that course. */
lti_status_t lti_store_badge_claim_add(lti_store_t *s, const lti_badge_claim_t *c, int64_t now,
                                       int64_t *id, lti_err_t *err);

/* Evidence waiting for approval (lti_badge_claim_t), oldest first: with link_pk, of the
 * persons who launched that link, for the link's course; with person_id, that person's. */
lti_status_t lti_store_badge_claim_list(lti_store_t *s, apr_pool_t *p, int64_t link_pk,
                                        int64_t person_id, apr_array_header_t **out,
                                        lti_err_t *err);

/* Approves or rejects waiting evidence id of a learner of link_pk's course, in one
 * transaction: approval records the whole-course fact "passed" (source "ibm-badge",
 * evidence the assertion URL) as lti_store_progress_record does.  LTI_ERR_NOT_FOUND when
 * id names no waiting evidence of that link's course. */
lti_status_t lti_store_badge_claim_decide(lti_store_t *s, apr_pool_t *p, int64_t id,
                                          int64_t link_pk, int approve, int64_t now,
                                          lti_result_fn *fn, void *baton,
                                          lti_progress_stats_t *stats, lti_err_t *err);

/* Stores a content selection context (and forgets the expired ones). */
lti_status_t lti_store_dlctx_put(lti_store_t *s, const lti_dlctx_t *ctx, int64_t now,
                                 lti_err_t *err);

/* Reads the content selection context id; take: deletes it too (single use, whatever
 * follows).  LTI_ERR_NOT_FOUND "dl_unknown" if unknown or used, LTI_ERR_EXPIRED
 * "dl_expired" if expired. */
lti_status_t lti_store_dlctx_get(lti_store_t *s, apr_pool_t *p, const char *id, int64_t now,
                                 int take, lti_dlctx_t *out, lti_err_t *err);

/* The tenant, service claims and context of link_pk, with its context's last roster sync.
 * LTI_ERR_NOT_FOUND "link_unknown" for no such link. */
lti_status_t lti_store_roster_source(lti_store_t *s, apr_pool_t *p, int64_t link_pk,
                                     lti_roster_source_t *out, lti_err_t *err);

/* Stores the whole roster of context_pk (lti_roster_member_t) in one transaction: each
 * member becomes a person of tenant (or updates it: the roster's email is the newest, the
 * same person rules as a launch), the context's roster becomes exactly these members, and
 * its sync time now.  Link learner lists (lti_store_link_learners) then show the members
 * who never launched, with last_launch 0. */
lti_status_t lti_store_roster_put(lti_store_t *s, const char *tenant, int64_t context_pk,
                                  const apr_array_header_t *members, int64_t now,
                                  lti_err_t *err);

/* The progress facts of a person in a course (lti_progress_t, person_id set, user NULL),
 * by module id; empty when none. */
lti_status_t lti_store_progress_list(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                     const char *course_id, apr_array_header_t **out,
                                     lti_err_t *err);
/* Backends (each file defines one; lti_store.c dispatches on the DSN scheme). */
lti_status_t lti_store_sqlite_open(apr_pool_t *p, const char *path, lti_store_t **out,
                                   lti_err_t *err);

#endif
