/* lti_outbox.h -- grade return delivery: leases due outbox rows of a store, sends them
 * through libcurl multi (keep-alive, several requests in flight) and records how each
 * attempt ended.  One kind of delivery per outbox kind ("lti11": Basic Outcomes
 * replaceResult; "ags": AGS 2.0 scores, with an access token and the link's line item).
 *
 * Answers (SPEC.md "Grades are never lost"): 2xx and the kind's own success test: sent;
 * 408, 429, 5xx, a network error: retry n waits retry_base x 2^n x a random factor in
 * [1, 1.25], capped at 1 h; other answers (a POX failure, AGS 400/409): failed, recorded
 * with the reason; a row still unsent max_age after it was queued: failed (dead letter).
 * The engine holds no httpd type: mod_ptech's watchdog calls lti_outbox_drain. */
#ifndef LTI_OUTBOX_H
#define LTI_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include <apr_pools.h>

#include "lti_ags.h"
#include "lti_catalog.h"
#include "lti_err.h"
#include "lti_http.h"
#include "lti_store.h"

/* The longest wait between two attempts, in seconds. */
#define LTI_OUTBOX_MAX_WAIT 3600

typedef struct lti_outbox_cfg_t {
    const char *owner;          /* this drainer's id (host:pid:random) */
    int64_t retry_base;         /* seconds */
    int64_t max_age;            /* seconds */
    int64_t lease_ttl;          /* seconds a leased row stays ours */
    int max_in_flight;          /* concurrent requests (>= 1) */
    int batch;                  /* rows leased per round */
    lti_http_opts_t http;
    /* AGS: the PTechSecretKeyFile key (32 bytes) that opens the tool's sealed signing key;
     * NULL: AGS rows wait (deferred). */
    const unsigned char *secret_key;
    /* The course titles of the line items AGS creates (French); NULL: the link's title. */
    const lti_catalog_t *catalog;
    /* The tool's public base URL (PTechPublicURL): the AGS comment links the learner's
     * badge there; NULL: the comment names the badge without its URL. */
    const char *badge_base;
    /* Set by the engine for its kinds (callers leave them NULL): */
    lti_ags_cache_t *ags_cache;   /* access tokens per platform and scope set (made at the
                                   * first AGS row, freed with the drainer) */
    lti_store_t *store;           /* the store being drained */
    /* platforms (tenant -> reason) whose token or line item step failed this round: their
     * other rows are retried later without waiting on them again */
    struct apr_hash_t *ags_down;
} lti_outbox_cfg_t;

typedef struct lti_outbox_stats_t {
    int leased, sent, retried, failed, deferred, stale;
} lti_outbox_stats_t;

/* A request a kind wants sent. */
typedef struct lti_outbox_req_t {
    const char *url, *body, *content_type, *authorization;
} lti_outbox_req_t;

typedef enum {
    LTI_OUTBOX_SEND,            /* send req */
    LTI_OUTBOX_DECIDED,         /* *end and *reason say how the attempt ended, nothing sent */
    LTI_OUTBOX_DEFER            /* stay pending with *reason, no attempt counted as failing */
} lti_outbox_prep_t;

/* One delivery kind.  prepare builds the request for it (a fresh nonce or token each
 * time); answer classifies an HTTP answer (status is never 0, 408, 429 or 5xx: those are the
 * engine's), names the reason when it is not a success, and may set *wait (seconds, else
 * left at -1 for the backoff) for a retry: AGS answers a 401 with "drop the cached token,
 * retry now" once (it->reason tells a second 401 apart), then fails. */
typedef struct lti_outbox_kind_t {
    const char *name;
    lti_outbox_prep_t (*prepare)(apr_pool_t *p, const lti_outbox_item_t *it,
                                 const lti_outbox_cfg_t *cfg, int64_t now,
                                 lti_outbox_req_t *req, lti_outbox_end_t *end,
                                 const char **reason);
    lti_outbox_end_t (*answer)(apr_pool_t *p, const lti_outbox_item_t *it, long status,
                               const char *body, size_t len, const char **reason,
                               int64_t *wait);
} lti_outbox_kind_t;

/* The delivery of a kind ("lti11", "ags"), or NULL. */
const lti_outbox_kind_t *lti_outbox_kind(const char *name);

/* Seconds before retry n (n = 0, 1, ...): base x 2^n x (1 + r/4), r in [0, 1], capped at
 * LTI_OUTBOX_MAX_WAIT; at least 1. */
int64_t lti_outbox_backoff(int64_t base, int n, double r);

/* How an attempt of it ends from its HTTP answer: status 0 is a network error (retry);
 * 408, 429, 5xx retry; anything else is the kind's to judge.  A retry of a row queued
 * max_age or more ago becomes failed.  *next is when to try again (retry only), r the
 * random factor's draw in [0, 1]. */
lti_outbox_end_t lti_outbox_decide(apr_pool_t *p, const lti_outbox_kind_t *kind,
                                   const lti_outbox_item_t *it, const lti_outbox_cfg_t *cfg,
                                   int64_t now, long status, const char *body, size_t len,
                                   const char *net_error, double r, int64_t *next,
                                   const char **reason);

typedef struct lti_outbox_t lti_outbox_t;

/* A drainer with its connection cache (a curl multi handle), living as long as p. */
lti_status_t lti_outbox_create(apr_pool_t *p, const lti_outbox_cfg_t *cfg, lti_outbox_t **out,
                               lti_err_t *err);

/* One round: claims the store's drainer role (nothing happens if another process holds
 * it), leases due rows, delivers them with up to max_in_flight requests at once and records
 * each end.  Allocates only in scratch (the caller clears it).  stats may be NULL. */
lti_status_t lti_outbox_drain(lti_outbox_t *o, lti_store_t *store, apr_pool_t *scratch,
                              int64_t now, lti_outbox_stats_t *stats, lti_err_t *err);

/* The tool's current signing key (kid, and its private PEM opened with secret_key, the
 * PTechSecretKeyFile key): for AGS client assertions and deep linking responses.
 * LTI_ERR_NOT_FOUND "key_no_current" without one; lti_unseal's errors. */
lti_status_t lti_tool_key_current(apr_pool_t *p, lti_store_t *store,
                                  const unsigned char *secret_key, const char **kid,
                                  const char **pem, lti_err_t *err);

#endif
