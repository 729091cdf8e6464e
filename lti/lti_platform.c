/* lti_platform.c -- platform keys for id_token verification (see lti_platform.h). */
#include <pthread.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "lti_platform.h"

/* One platform's parsed keys in a process.  A replaced entry is freed by its last user. */
typedef struct kc_entry_t {
    apr_pool_t *pool;
    lti_jwks_t *set;
    int64_t expires;
    unsigned refs;
    int stale;
} kc_entry_t;

struct lti_keycache_t {
    apr_pool_t *pool;           /* its own allocator, used under mu only */
    pthread_mutex_t mu;         /* entries and their counts */
    pthread_mutex_t fetch_mu;   /* one slow path at a time: concurrent first launches of a
                                 * process fetch the key set once */
    apr_hash_t *entries;        /* platform id -> kc_entry_t */
};

static apr_status_t keycache_cleanup(void *data)
{
    lti_keycache_t *kc = data;

    for (apr_hash_index_t *hi = apr_hash_first(NULL, kc->entries); hi; hi = apr_hash_next(hi)) {
        apr_pool_destroy(((kc_entry_t *)apr_hash_this_val(hi))->pool);
    }
    apr_pool_destroy(kc->pool);
    pthread_mutex_destroy(&kc->mu);
    pthread_mutex_destroy(&kc->fetch_mu);
    return APR_SUCCESS;
}

lti_status_t lti_keycache_create(apr_pool_t *p, lti_keycache_t **out)
{
    lti_keycache_t *kc = apr_pcalloc(p, sizeof(*kc));

    /* Threads add platforms at run time: an allocator of its own, not the process pool's. */
    if (apr_pool_create_unmanaged_ex(&kc->pool, NULL, NULL) != APR_SUCCESS) {
        return LTI_ERR_NOMEM;
    }
    kc->entries = apr_hash_make(kc->pool);
    pthread_mutex_init(&kc->mu, NULL);
    pthread_mutex_init(&kc->fetch_mu, NULL);
    apr_pool_cleanup_register(p, kc, keycache_cleanup, apr_pool_cleanup_null);
    *out = kc;
    return LTI_OK;
}

/* The platform's entry, held (kc_release it), or NULL. */
static kc_entry_t *kc_hold(lti_keycache_t *kc, int64_t platform_id)
{
    kc_entry_t *e;

    pthread_mutex_lock(&kc->mu);
    if ((e = apr_hash_get(kc->entries, &platform_id, sizeof(platform_id))) != NULL) {
        e->refs++;
    }
    pthread_mutex_unlock(&kc->mu);
    return e;
}

static void kc_release(lti_keycache_t *kc, kc_entry_t *e)
{
    pthread_mutex_lock(&kc->mu);
    if (--e->refs == 0 && e->stale) {
        apr_pool_destroy(e->pool);
    }
    pthread_mutex_unlock(&kc->mu);
}

/* Replaces the platform's entry with jwks parsed anew (the old one goes when unused). */
static void kc_install(lti_keycache_t *kc, int64_t platform_id, const char *jwks,
                       int64_t expires)
{
    apr_pool_t *ep;
    kc_entry_t *e, *old;
    int64_t *key;

    /* Its own allocator: worker threads install entries, and the process pool's allocator
     * is not theirs to share. */
    if (apr_pool_create_unmanaged_ex(&ep, NULL, NULL) != APR_SUCCESS) {
        return;
    }
    e = apr_pcalloc(ep, sizeof(*e));
    e->pool = ep;
    e->expires = expires;
    if (lti_jwks_parse(ep, jwks, strlen(jwks), &e->set, NULL) != LTI_OK) {
        apr_pool_destroy(ep);
        return;
    }
    pthread_mutex_lock(&kc->mu);
    if ((old = apr_hash_get(kc->entries, &platform_id, sizeof(platform_id))) != NULL) {
        old->stale = 1;
        if (old->refs == 0) {
            apr_pool_destroy(old->pool);
        }
        /* apr_hash_set keeps the key the entry was first given. */
        apr_hash_set(kc->entries, &platform_id, sizeof(platform_id), e);
    }
    else {
        /* kc->pool grows by one key and hash entry per platform, no more. */
        key = apr_pmemdup(kc->pool, &platform_id, sizeof(platform_id));
        apr_hash_set(kc->entries, key, sizeof(*key), e);
    }
    pthread_mutex_unlock(&kc->mu);
}

/* Verifies with the cached entry when it is fresh and knows the kid; -1 when it cannot. */
static int kc_verify(lti_keycache_t *kc, const lti_platform_t *pf, const lti_jwt_t *jwt,
                     int64_t now, lti_status_t *rv, lti_err_t *err)
{
    kc_entry_t *e = kc_hold(kc, pf->id);
    int used = 0;

    if (e == NULL) {
        return 0;
    }
    if (now < e->expires && lti_jwks_has(e->set, jwt->kid)) {
        *rv = lti_jwt_verify(jwt, e->set, err);
        used = 1;
    }
    kc_release(kc, e);
    return used;
}

/* Fetches the platform's JWKS, checks it parses, caches it.  Returns the parsed set, its
 * text and when it expires. */
static lti_status_t fetch(apr_pool_t *p, lti_store_t *store, const lti_platform_t *pf,
                          const lti_http_opts_t *http, int64_t now, int64_t max_ttl,
                          lti_jwks_t **set, const char **text, int64_t *expires,
                          lti_err_t *err)
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
    *text = resp.body;
    *expires = now + ttl;
    return lti_store_jwks_put(store, pf->id, resp.body, now, now + ttl, err);
}

/* The key set for jwt from the store, fetching or refetching it as the rules allow; also
 * its text and expiry, for the process cache. */
static lti_status_t keys_for(apr_pool_t *p, lti_store_t *store, const lti_platform_t *pf,
                             const lti_jwt_t *jwt, const lti_http_opts_t *http, int64_t now,
                             int64_t max_ttl, lti_platform_keys_log_t *log, lti_jwks_t **out,
                             const char **text, int64_t *expires, lti_err_t *err)
{
    lti_jwks_cache_t cache;
    lti_jwks_t *set = NULL;
    lti_status_t rv;
    int allowed = 0;

    if ((rv = lti_store_jwks_get(store, p, pf->id, &cache, err)) != LTI_OK) {
        return rv;
    }
    if (cache.jwks != NULL
        && lti_jwks_parse(p, cache.jwks, strlen(cache.jwks), &set, NULL) != LTI_OK) {
        set = NULL;
    }
    if (set != NULL) {
        *text = cache.jwks;
        *expires = cache.expires;
    }
    if (set == NULL || now >= cache.expires) {
        lti_jwks_t *fresh;

        rv = fetch(p, store, pf, http, now, max_ttl, &fresh, text, expires, err);
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
            if ((rv = fetch(p, store, pf, http, now, max_ttl, &fresh, text, expires, err))
                != LTI_OK) {
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
    *out = set;
    return LTI_OK;
}

lti_status_t lti_platform_verify(apr_pool_t *p, lti_store_t *store, lti_keycache_t *kc,
                                 const lti_platform_t *pf, const lti_jwt_t *jwt,
                                 const lti_http_opts_t *http, int64_t now, int64_t max_ttl,
                                 lti_platform_keys_log_t *log, lti_err_t *err)
{
    lti_platform_keys_log_t scratch;
    lti_jwks_t *set = NULL;
    const char *text = NULL;
    int64_t expires = 0;
    lti_status_t rv;

    if (log == NULL) {
        log = &scratch;
    }
    memset(log, 0, sizeof(*log));
    if (kc == NULL) {
        rv = keys_for(p, store, pf, jwt, http, now, max_ttl, log, &set, &text, &expires, err);
        return rv == LTI_OK ? lti_jwt_verify(jwt, set, err) : rv;
    }
    if (kc_verify(kc, pf, jwt, now, &rv, err)) {
        return rv;
    }
    /* A miss: the first launch, an expired set or a new kid.  Threads that miss together
     * wait for the first one, then find its keys. */
    pthread_mutex_lock(&kc->fetch_mu);
    if (kc_verify(kc, pf, jwt, now, &rv, err)) {
        pthread_mutex_unlock(&kc->fetch_mu);
        return rv;
    }
    rv = keys_for(p, store, pf, jwt, http, now, max_ttl, log, &set, &text, &expires, err);
    if (text != NULL) {
        kc_install(kc, pf->id, text, expires);
    }
    pthread_mutex_unlock(&kc->fetch_mu);
    return rv == LTI_OK ? lti_jwt_verify(jwt, set, err) : rv;
}
