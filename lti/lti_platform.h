/* lti_platform.h -- an LTI 1.3 platform's signing keys: its JWKS fetched over HTTPS, cached
 * in the store per Cache-Control (at most max_ttl), refetched on an unknown kid at most
 * once per LTI_PLATFORM_REFETCH_INTERVAL seconds across every process on the store.  The
 * token's own jku/x5u/jwk headers are never followed. */
#ifndef LTI_PLATFORM_H
#define LTI_PLATFORM_H

#include <apr_pools.h>

#include "lti_err.h"
#include "lti_http.h"
#include "lti_jose.h"
#include "lti_store.h"

#define LTI_PLATFORM_REFETCH_INTERVAL 60

/* What happened to the platform's keys during a verification (for diagnostics). */
typedef struct lti_platform_keys_log_t {
    int fetched;        /* a fetch was made */
    int refetch_denied; /* an unknown kid found the refetch limit in force */
} lti_platform_keys_log_t;

/* A process's parsed platform keys, shared by its threads (created in the process's own
 * pool).  A launch whose kid is in a cached, unexpired set reads neither the store nor any
 * JSON; a miss goes to the store (another process may have refetched) and fetches only as
 * the rules above allow.  Key rotation and expiry are seen as in the store. */
typedef struct lti_keycache_t lti_keycache_t;

lti_status_t lti_keycache_create(apr_pool_t *p, lti_keycache_t **out);

/* Verifies jwt with the platform's keys.  LTI_ERR_UNKNOWN_KEY "jwt_unknown_kid" when the
 * kid is not in the (possibly refetched) JWKS, LTI_ERR_SIGNATURE when it does not verify,
 * LTI_ERR_UPSTREAM when the keys cannot be fetched and none are cached (reason
 * "jwks_unreachable", or "http_insecure_url" for a plain http key set URL that is not
 * allowed, "http_too_large" for an oversize key set), LTI_ERR_STORE on a database error.
 * kc (may be NULL) is the process's key cache; log (may be NULL) tells what was fetched. */
lti_status_t lti_platform_verify(apr_pool_t *p, lti_store_t *store, lti_keycache_t *kc,
                                 const lti_platform_t *pf, const lti_jwt_t *jwt,
                                 const lti_http_opts_t *http, int64_t now, int64_t max_ttl,
                                 lti_platform_keys_log_t *log, lti_err_t *err);

#endif
