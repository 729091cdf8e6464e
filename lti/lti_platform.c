/* lti_platform.c -- platform keys for id_token verification (see lti_platform.h). */
#include <string.h>

#include <apr_strings.h>

#include "lti_platform.h"

/* Fetches the platform's JWKS, checks it parses, caches it.  Returns the parsed set. */
static lti_status_t fetch(apr_pool_t *p, lti_store_t *store, const lti_platform_t *pf,
                          const lti_http_opts_t *http, int64_t now, int64_t max_ttl,
                          lti_jwks_t **set, lti_err_t *err)
{
    lti_http_resp_t resp;
    lti_http_opts_t o = *http;
    lti_status_t rv;
    int64_t ttl;

    o.max_bytes = LTI_JWKS_MAX_BYTES;
    rv = lti_http_get(p, pf->jwks_url, "application/json", &o, &resp, err);
    if (rv != LTI_OK) {
        /* The platform's fault, whatever went wrong (502): an insecure URL or an oversize
         * key set keep their own reason code. */
        if (err && rv != LTI_ERR_TOO_LARGE && rv != LTI_ERR_FORBIDDEN) {
            err->reason = "jwks_unreachable";
        }
        if (err) {
            err->status = LTI_ERR_UPSTREAM;
        }
        return LTI_ERR_UPSTREAM;
    }
    if (resp.status != 200) {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "jwks_unreachable",
                           "the platform's key set %s answered HTTP %ld", pf->jwks_url,
                           resp.status);
    }
    if ((rv = lti_jwks_parse(p, resp.body, resp.len, set, err)) != LTI_OK) {
        lti_err_set(err, LTI_ERR_UPSTREAM, "jwks_malformed",
                    "the platform's key set %s is not a valid JWKS", pf->jwks_url);
        return LTI_ERR_UPSTREAM;
    }
    ttl = resp.max_age >= 0 && resp.max_age < max_ttl ? resp.max_age : max_ttl;
    lti_log(LTI_LOG_INFO, "fetched the key set of platform %s (cached %lld s)", pf->issuer,
            (long long)ttl);
    return lti_store_jwks_put(store, pf->id, resp.body, now, now + ttl, err);
}

lti_status_t lti_platform_verify(apr_pool_t *p, lti_store_t *store, const lti_platform_t *pf,
                                 const lti_jwt_t *jwt, const lti_http_opts_t *http,
                                 int64_t now, int64_t max_ttl, lti_platform_keys_log_t *log,
                                 lti_err_t *err)
{
    lti_platform_keys_log_t scratch;
    lti_jwks_cache_t cache;
    lti_jwks_t *set = NULL;
    lti_status_t rv;
    int allowed = 0;

    if (log == NULL) {
        log = &scratch;
    }
    memset(log, 0, sizeof(*log));
    if ((rv = lti_store_jwks_get(store, p, pf->id, &cache, err)) != LTI_OK) {
        return rv;
    }
    if (cache.jwks != NULL
        && lti_jwks_parse(p, cache.jwks, strlen(cache.jwks), &set, NULL) != LTI_OK) {
        set = NULL;
    }
    if (set == NULL || now >= cache.expires) {
        lti_jwks_t *fresh;

        rv = fetch(p, store, pf, http, now, max_ttl, &fresh, err);
        log->fetched = 1;
        if (rv == LTI_OK) {
            set = fresh;
        }
        else if (set == NULL) {
            return rv;      /* nothing cached to fall back on */
        }
        else {
            lti_log(LTI_LOG_WARN, "platform %s: keeping its expired key set: %s", pf->issuer,
                    err ? err->text : lti_strerror(rv));
        }
    }
    if (!lti_jwks_has(set, jwt->kid) && !log->fetched) {
        /* A new kid (the platform rotated its key): refetch, at most once a minute for
         * the whole store, so a flood of random kids cannot make us hammer the platform. */
        if ((rv = lti_store_jwks_refetch_claim(store, pf->id, now,
                                               LTI_PLATFORM_REFETCH_INTERVAL, &allowed, err))
            != LTI_OK) {
            return rv;
        }
        if (allowed) {
            lti_jwks_t *fresh;

            log->fetched = 1;
            if ((rv = fetch(p, store, pf, http, now, max_ttl, &fresh, err)) != LTI_OK) {
                return rv;
            }
            set = fresh;
        }
        else {
            log->refetch_denied = 1;
        }
    }
    if (!lti_jwks_has(set, jwt->kid)) {
        /* The kid is printable ASCII (lti_jwt_parse checks it) and no secret. */
        return lti_err_set(err, LTI_ERR_UNKNOWN_KEY, "jwt_unknown_kid",
                           "the token's key id \"%.64s\" is not in the key set of platform %s "
                           "(%s)", jwt->kid ? jwt->kid : "", pf->issuer,
                           log->refetch_denied
                               ? "not refetched: the key set was refetched less than a "
                                 "minute ago, and refetches are limited to one a minute"
                               : "refetched just now from its key set URL: the key is not "
                                 "there either");
    }
    return lti_jwt_verify(jwt, set, err);
}
