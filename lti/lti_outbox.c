/* lti_outbox.c -- grade return delivery over libcurl multi (see lti_outbox.h). */
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <curl/curl.h>
#include <jansson.h>

#include "lti_badge.h"
#include "lti_jose.h"
#include "lti_outbox.h"
#include "lti_pox.h"
#include "lti_util.h"

/* ---- kinds ---- */

static lti_outbox_prep_t lti11_prepare(apr_pool_t *p, const lti_outbox_item_t *it,
                                       const lti_outbox_cfg_t *cfg, int64_t now,
                                       lti_outbox_req_t *req, lti_outbox_end_t *end,
                                       const char **reason)
{
    lti_err_t err;
    const char *body, *msg_id = lti_random_hex(p, 8);

    *end = LTI_OUTBOX_FAILED;
    if (it->sourcedid == NULL || it->outcome_url == NULL) {
        *reason = "the LMS gave no grade target (lis_result_sourcedid, "
                  "lis_outcome_service_url) for this learner and link";
        return LTI_OUTBOX_DECIDED;
    }
    if (it->consumer_key == NULL || it->consumer_secret == NULL) {
        *reason = "the LTI 1.1 consumer of this link was removed (ptechctl consumer add)";
        return LTI_OUTBOX_DECIDED;
    }
    if (lti_http_check_url(p, it->outcome_url, &cfg->http, &err) != LTI_OK) {
        *reason = apr_psprintf(p, "outcome service URL refused: %s", err.text);
        return LTI_OUTBOX_DECIDED;
    }
    body = msg_id ? lti_pox_request(p, LTI_POX_REPLACE, it->sourcedid, it->score, msg_id, &err)
                  : NULL;
    if (body == NULL || lti_pox_sign(p, it->outcome_url, body, strlen(body), it->consumer_key,
                                     it->consumer_secret, now, &req->authorization, &err)
                            != LTI_OK) {
        *end = LTI_OUTBOX_RETRY;
        *reason = apr_psprintf(p, "cannot build the request: %s", err.text);
        return LTI_OUTBOX_DECIDED;
    }
    req->url = it->outcome_url;
    req->body = body;
    req->content_type = "application/xml";
    return LTI_OUTBOX_SEND;
}

static lti_outbox_end_t lti11_answer(apr_pool_t *p, const lti_outbox_item_t *it, long status,
                                     const char *body, size_t len, const char **reason,
                                     int64_t *wait)
{
    lti_pox_resp_t resp;
    lti_err_t err;

    if (status < 200 || status > 299) {
        *reason = apr_psprintf(p, "the LMS answered HTTP %ld", status);
        return LTI_OUTBOX_FAILED;
    }
    if (lti_pox_parse(p, body, len, &resp, &err) != LTI_OK) {
        /* A proxy's page, a truncated answer: worth another try. */
        *reason = apr_psprintf(p, "HTTP %ld with an unreadable answer: %s", status, err.text);
        return LTI_OUTBOX_RETRY;
    }
    if (lti_pox_check(&resp, LTI_POX_REPLACE, &err) != LTI_OK) {
        *reason = apr_pstrdup(p, err.text);
        return LTI_OUTBOX_FAILED;
    }
    return LTI_OUTBOX_SENT;
}

/* ---- AGS ----
 *
 * Design choice: the access token and the line item are resolved in prepare, synchronously,
 * with the blocking lti_ags / lti_http functions (each request bounded by the HTTP timeout),
 * and only the score POST goes through curl multi.  Tokens are cached per platform and
 * scope set for their lifetime and most launches carry their own lineitem, so the blocking
 * steps are rare (about one token per platform per hour); a link without one costs a line
 * item lookup (or creation) per attempt.  A 401 on the score ends the attempt with
 * AGS_REAUTH, retried at once; the next prepare sees that reason, drops the cached token and
 * fetches one new token; a second 401 fails the row. */

#define AGS_REAUTH "the LMS refused the access token (HTTP 401): retrying with a new token"
#define AGS_CLAIM_URL "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"

/* The AGS claim of a link's stored claims ({"ags": {...}, ...}; a claim stored under its
 * full name is read too), as JSON text, or NULL. */
static const char *ags_claim_text(apr_pool_t *p, const char *claims)
{
    json_t *root, *v;
    const char *out = NULL;

    if (claims == NULL || (root = json_loads(claims, JSON_REJECT_DUPLICATES, NULL)) == NULL) {
        return NULL;
    }
    v = json_object_get(root, "ags");
    if (!json_is_object(v)) {
        v = json_object_get(root, AGS_CLAIM_URL);
    }
    if (json_is_object(v)) {
        char *text = json_dumps(v, JSON_COMPACT);

        if (text != NULL) {
            out = apr_pstrdup(p, text);
            free(text);
        }
    }
    json_decref(root);
    return out;
}

/* The platform of an "lti13:<issuer>#<client_id>" tenant. */
static lti_status_t ags_platform(apr_pool_t *p, lti_store_t *store, const char *tenant,
                                 lti_platform_t *pf, lti_err_t *err)
{
    const char *hash = tenant ? strrchr(tenant, '#') : NULL;

    if (tenant == NULL || strncmp(tenant, "lti13:", 6) != 0 || hash == NULL) {
        return lti_err_set(err, LTI_ERR_NOT_FOUND, "ags_tenant",
                           "the link does not belong to an LTI 1.3 platform");
    }
    return lti_store_platform_get(store, p, apr_pstrmemdup(p, tenant + 6, hash - tenant - 6),
                                  hash + 1, pf, err);
}

lti_status_t lti_tool_key_current(apr_pool_t *p, lti_store_t *store,
                                  const unsigned char *secret_key, const char **kid,
                                  const char **pem, lti_err_t *err)
{
    apr_array_header_t *keys;
    lti_status_t rv;
    size_t len;

    if ((rv = lti_store_key_list(store, p, &keys, err)) != LTI_OK) {
        return rv;
    }
    for (int i = 0; i < keys->nelts; i++) {
        const lti_toolkey_t *k = &APR_ARRAY_IDX(keys, i, lti_toolkey_t);

        if (strcmp(k->state, "current") == 0) {
            *kid = k->kid;
            /* The kid is the associated data of the seal (ptech_keys.c). */
            return lti_unseal(p, secret_key, k->kid, k->private_sealed, pem, &len, err);
        }
    }
    return lti_err_set(err, LTI_ERR_NOT_FOUND, "key_no_current", "the tool has no current key");
}

/* An access token for pf and scopes: the cached one, else a new one (cached). */
static lti_status_t ags_token(apr_pool_t *p, lti_ags_cache_t *cache,
                              const lti_ags_platform_t *pf, const char *scopes, int64_t now,
                              const lti_http_opts_t *opts, const char **token, lti_err_t *err)
{
    lti_http_req_t req;
    lti_http_resp_t resp;
    lti_ags_token_t tok;
    lti_status_t rv;

    if ((*token = lti_ags_cache_get(cache, p, pf->id, scopes, now)) != NULL) {
        return LTI_OK;
    }
    rv = lti_ags_token_request(p, pf->token_url, pf->client_id, pf->kid, pf->private_pem,
                               scopes, now, &req, err);
    if (rv == LTI_OK) {
        rv = lti_http_request(p, &req, opts, &resp, err);
    }
    if (rv == LTI_OK) {
        rv = lti_ags_token_parse(p, resp.status, resp.content_type, resp.body, resp.len, now,
                                 &tok, err);
    }
    if (rv != LTI_OK) {
        return rv;
    }
    lti_ags_cache_put(cache, pf->id, scopes, &tok, now);
    *token = tok.access_token;
    return LTI_OK;
}

/* scoreGiven out of 100 for a score in [0, 1], to 4 decimals (0.85 gives 85, not
 * 85.00000000000001). */
static double ags_points(double score)
{
    double v = score * 1000000.0;

    if (!(v > 0)) {
        return 0;
    }
    return (double)(int64_t)(v + 0.5) / 10000.0;
}

/* Remembers for the rest of the round that the platform of tenant failed a blocking step
 * (a retry: no answer, 5xx, a token refused). */
static void ags_mark_down(const lti_outbox_cfg_t *cfg, const char *tenant,
                          lti_outbox_end_t end, const char *reason)
{
    if (cfg->ags_down != NULL && end == LTI_OUTBOX_RETRY && tenant != NULL) {
        apr_pool_t *hp = apr_hash_pool_get(cfg->ags_down);

        apr_hash_set(cfg->ags_down, apr_pstrdup(hp, tenant), APR_HASH_KEY_STRING,
                     apr_pstrdup(hp, reason));
    }
}

static lti_outbox_prep_t ags_prepare(apr_pool_t *p, const lti_outbox_item_t *it,
                                     const lti_outbox_cfg_t *cfg, int64_t now,
                                     lti_outbox_req_t *req, lti_outbox_end_t *end,
                                     const char **reason)
{
    lti_err_t err;
    lti_ags_claim_t claim;
    lti_ags_platform_t apf;
    lti_ags_lineitem_t li;
    lti_ags_result_t res;
    lti_ags_score_t sc;
    lti_http_req_t hreq;
    lti_platform_t pf;
    lti_status_t rv;
    lti_ags_target_t tg;
    const lti_course_t *course;
    const char *text, *scopes, *lineitem, *scores_url, *token;
    int64_t sent_ms = 0;

    *end = LTI_OUTBOX_RETRY;
    if (cfg->secret_key == NULL || cfg->store == NULL || cfg->ags_cache == NULL) {
        *reason = "AGS delivery needs the tool key (PTechSecretKeyFile)";
        return LTI_OUTBOX_DEFER;
    }
    if (cfg->ags_down != NULL
        && (text = apr_hash_get(cfg->ags_down, it->tenant, APR_HASH_KEY_STRING)) != NULL) {
        /* Each blocking step waits up to the HTTP timeout: one platform down must not hold
         * the round (and its leases) for all of its rows. */
        *reason = text;
        return LTI_OUTBOX_DECIDED;
    }
    *end = LTI_OUTBOX_FAILED;
    if ((text = ags_claim_text(p, it->link_claims)) == NULL
        || lti_ags_claim_parse(p, text, &claim, &err) != LTI_OK) {
        *reason = "the link's launch carried no readable AGS claim";
        return LTI_OUTBOX_DECIDED;
    }
    rv = ags_platform(p, cfg->store, it->tenant, &pf, &err);
    if (rv != LTI_OK) {
        if (rv != LTI_ERR_NOT_FOUND) {
            *end = LTI_OUTBOX_RETRY;
        }
        *reason = rv == LTI_ERR_NOT_FOUND
                  ? "the LTI 1.3 platform of this link was removed (ptechctl platform add)"
                  : apr_psprintf(p, "platform: %s", err.text);
        return LTI_OUTBOX_DECIDED;
    }
    rv = lti_store_ags_target(cfg->store, p, it->person_id, it->link_pk, &tg, &err);
    if (rv != LTI_OK) {
        *end = rv == LTI_ERR_NOT_FOUND ? LTI_OUTBOX_FAILED : LTI_OUTBOX_RETRY;
        *reason = apr_psprintf(p, "learner: %s", err.text);
        return LTI_OUTBOX_DECIDED;
    }
    memset(&apf, 0, sizeof(apf));
    apf.id = it->tenant;
    apf.token_url = pf.token_url;
    apf.client_id = pf.client_id;
    if (lti_tool_key_current(p, cfg->store, cfg->secret_key, &apf.kid, &apf.private_pem, &err)
        != LTI_OK) {
        *end = LTI_OUTBOX_RETRY;
        *reason = apr_psprintf(p, "tool key: %s", err.text);
        return LTI_OUTBOX_DECIDED;
    }
    apf.scopes = scopes = lti_ags_token_scopes(p, &claim);
    if (it->reason != NULL && strcmp(it->reason, AGS_REAUTH) == 0) {
        /* The last score got a 401: this attempt uses one new token. */
        lti_ags_cache_drop(cfg->ags_cache, apf.id, scopes, NULL);
    }
    /* The line item: the claim's, else found or created for the link. */
    memset(&li, 0, sizeof(li));
    course = cfg->catalog ? lti_catalog_course(cfg->catalog, it->course_id) : NULL;
    li.label = course ? lti_i18n_get(&course->title, NULL)
               : it->link_title && *it->link_title ? it->link_title : it->course_id;
    li.resource_id = it->course_id;
    li.tag = "ptech";
    li.resource_link_id = tg.link_id;
    memset(&res, 0, sizeof(res));
    rv = lti_ags_lineitem_resolve(p, cfg->ags_cache, &apf, &claim, &li, now, &cfg->http,
                                  &lineitem, &res, &err);
    if (rv != LTI_OK) {
        *end = res.outcome == LTI_AGS_FINAL ? LTI_OUTBOX_FAILED : LTI_OUTBOX_RETRY;
        *reason = apr_psprintf(p, "line item: %s", err.text);
        ags_mark_down(cfg, it->tenant, *end, *reason);
        return LTI_OUTBOX_DECIDED;
    }
    if (lti_ags_scores_url(p, lineitem, &scores_url, &err) != LTI_OK
        || lti_http_check_url(p, scores_url, &cfg->http, &err) != LTI_OK) {
        *reason = apr_psprintf(p, "scores URL refused: %s", err.text);
        return LTI_OUTBOX_DECIDED;
    }
    if (ags_token(p, cfg->ags_cache, &apf, scopes, now, &cfg->http, &token, &err) != LTI_OK) {
        /* The platform's registration may be fixed later. */
        *end = LTI_OUTBOX_RETRY;
        *reason = apr_psprintf(p, "access token: %s", err.text);
        ags_mark_down(cfg, it->tenant, *end, *reason);
        return LTI_OUTBOX_DECIDED;
    }
    memset(&sc, 0, sizeof(sc));
    sc.user_id = tg.user_id;
    sc.score_given = ags_points(it->score);
    sc.score_maximum = LTI_AGS_SCORE_MAXIMUM;
    sc.activity_progress = it->result_status && strcmp(it->result_status, "in_progress") == 0
                           ? "InProgress" : "Completed";
    sc.grading_progress = "FullyGraded";
    sc.comment = apr_psprintf(p, "PTech course %s: %s, %g/100", it->course_id,
                              it->result_status ? it->result_status : "", sc.score_given);
    if (it->badge_id != NULL) {
        /* The gradebook feedback names the badge earned and where it is verified. */
        sc.comment = apr_psprintf(p, "%s. Badge: %s%s%s", sc.comment,
                                  course ? lti_i18n_get(&course->badge_name, NULL)
                                         : it->course_id,
                                  cfg->badge_base ? " " : "",
                                  cfg->badge_base ? lti_badge_assertion_url(p, cfg->badge_base,
                                                                            it->badge_id)
                                                  : "");
    }
    /* Strictly newer than the last score sent for this learner and link, whole seconds
     * apart, remembered before it goes (a retry takes a newer one). */
    lti_ags_timestamp(p, tg.last_ms, now * 1000, &sent_ms);
    sc.timestamp_ms = sent_ms;
    if (lti_ags_score_request(p, scores_url, token, &sc, &hreq, &err) != LTI_OK) {
        *reason = apr_psprintf(p, "cannot build the score: %s", err.text);
        return LTI_OUTBOX_DECIDED;
    }
    if (lti_store_ags_stamp_put(cfg->store, it->person_id, it->link_pk, sent_ms, &err)
        != LTI_OK) {
        *end = LTI_OUTBOX_RETRY;
        *reason = apr_psprintf(p, "store: %s", err.text);
        return LTI_OUTBOX_DECIDED;
    }
    req->url = scores_url;
    req->body = apr_pstrmemdup(p, hreq.body, hreq.body_len);
    req->content_type = hreq.content_type;
    req->authorization = apr_pstrcat(p, "Bearer ", token, NULL);
    return LTI_OUTBOX_SEND;
}

static lti_outbox_end_t ags_answer(apr_pool_t *p, const lti_outbox_item_t *it, long status,
                                   const char *body, size_t len, const char **reason,
                                   int64_t *wait)
{
    const char *code = NULL;

    switch (lti_ags_classify(status, &code)) {
    case LTI_AGS_DONE:
        return LTI_OUTBOX_SENT;
    case LTI_AGS_REAUTH:
        if (it->reason != NULL && strcmp(it->reason, AGS_REAUTH) == 0) {
            *reason = "the LMS refused a new access token too (HTTP 401, ags_unauthorized)";
            return LTI_OUTBOX_FAILED;
        }
        *reason = AGS_REAUTH;
        *wait = 0;
        return LTI_OUTBOX_RETRY;
    case LTI_AGS_RETRY:
        *reason = apr_psprintf(p, "the LMS answered HTTP %ld (%s)", status, code);
        return LTI_OUTBOX_RETRY;
    default:
        /* 400 (not gradable), 409 (timestamp not newer), 403, 404: final. */
        *reason = apr_psprintf(p, "the LMS refused the score: HTTP %ld (%s)", status, code);
        return LTI_OUTBOX_FAILED;
    }
}

static const lti_outbox_kind_t kinds[] = {
    {"lti11", lti11_prepare, lti11_answer},
    {"ags", ags_prepare, ags_answer},
};

const lti_outbox_kind_t *lti_outbox_kind(const char *name)
{
    for (size_t i = 0; name && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kinds[i].name, name) == 0) {
            return &kinds[i];
        }
    }
    return NULL;
}

/* ---- decisions ---- */

int64_t lti_outbox_backoff(int64_t base, int n, double r)
{
    double w = (double)(base > 0 ? base : 1);

    if (r < 0) {
        r = 0;
    }
    if (r > 1) {
        r = 1;
    }
    for (int i = 0; i < n && w < LTI_OUTBOX_MAX_WAIT; i++) {
        w *= 2;
    }
    w *= 1.0 + r / 4.0;
    if (w > LTI_OUTBOX_MAX_WAIT) {
        w = LTI_OUTBOX_MAX_WAIT;
    }
    return w < 1 ? 1 : (int64_t)w;
}

lti_outbox_end_t lti_outbox_decide(apr_pool_t *p, const lti_outbox_kind_t *kind,
                                   const lti_outbox_item_t *it, const lti_outbox_cfg_t *cfg,
                                   int64_t now, long status, const char *body, size_t len,
                                   const char *net_error, double r, int64_t *next,
                                   const char **reason)
{
    lti_outbox_end_t end;
    int64_t wait = -1;

    *next = 0;
    *reason = NULL;
    if (status == 0) {
        end = LTI_OUTBOX_RETRY;
        *reason = apr_psprintf(p, "network: %s", net_error ? net_error : "no answer");
    }
    else if (status == 408 || status == 429 || (status >= 500 && status <= 599)) {
        end = LTI_OUTBOX_RETRY;
        *reason = apr_psprintf(p, "the LMS answered HTTP %ld", status);
    }
    else {
        end = kind->answer(p, it, status, body ? body : "", len, reason, &wait);
    }
    if (end == LTI_OUTBOX_RETRY) {
        if (now - it->queued >= cfg->max_age) {
            *reason = apr_psprintf(p, "gave up after %d attempt(s) over PTechOutboxMaxAge: %s",
                                   it->attempts + 1, *reason ? *reason : "");
            return LTI_OUTBOX_FAILED;
        }
        *next = now + (wait >= 0 ? wait : lti_outbox_backoff(cfg->retry_base, it->attempts, r));
    }
    return end;
}

/* ---- the engine ---- */

struct lti_outbox_t {
    apr_pool_t *pool;
    CURLM *multi;
    lti_outbox_cfg_t cfg;
};

typedef struct job_t {
    lti_outbox_item_t *it;
    const lti_outbox_kind_t *kind;
    apr_pool_t *pool;
    CURL *easy;
    struct curl_slist *hdrs;
    char *buf;
    size_t len, cap, max;
    int too_large;
    char errbuf[CURL_ERROR_SIZE];
} job_t;

static apr_status_t multi_cleanup(void *data)
{
    lti_outbox_t *o = data;

    if (o->cfg.ags_cache != NULL) {
        lti_ags_cache_destroy(o->cfg.ags_cache);
        o->cfg.ags_cache = NULL;
    }
    if (o->multi != NULL) {
        curl_multi_cleanup(o->multi);
        o->multi = NULL;
    }
    return APR_SUCCESS;
}

lti_status_t lti_outbox_create(apr_pool_t *p, const lti_outbox_cfg_t *cfg, lti_outbox_t **out,
                               lti_err_t *err)
{
    lti_outbox_t *o = apr_pcalloc(p, sizeof(*o));

    o->pool = p;
    o->cfg = *cfg;
    o->cfg.owner = apr_pstrdup(p, cfg->owner);
    if (o->cfg.max_in_flight < 1) {
        o->cfg.max_in_flight = 8;
    }
    if (o->cfg.batch < 1) {
        o->cfg.batch = 64;
    }
    o->cfg.store = NULL;
    o->cfg.ags_cache = NULL;    /* made by the first round that leases an AGS row */
    if ((o->multi = curl_multi_init()) == NULL) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "outbox_curl", "curl_multi_init failed");
    }
    apr_pool_cleanup_register(p, o, multi_cleanup, apr_pool_cleanup_null);
    /* Connections stay open between rounds (keep-alive); several requests go at once. */
    curl_multi_setopt(o->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)o->cfg.max_in_flight);
    curl_multi_setopt(o->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->cfg.max_in_flight);
    curl_multi_setopt(o->multi, CURLMOPT_MAXCONNECTS, (long)o->cfg.max_in_flight * 2);
    *out = o;
    return LTI_OK;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    job_t *j = arg;
    size_t add = size * n;

    if (j->len + add > j->max) {
        j->too_large = 1;
        return 0;
    }
    if (j->len + add + 1 > j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 4096;
        char *bigger;

        while (cap < j->len + add + 1) {
            cap *= 2;
        }
        bigger = apr_palloc(j->pool, cap);
        if (j->len) {
            memcpy(bigger, j->buf, j->len);
        }
        j->buf = bigger;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, data, add);
    j->len += add;
    j->buf[j->len] = '\0';
    return add;
}

static double draw(void)
{
    uint32_t v = 0;

    if (lti_random(&v, sizeof(v), NULL) != LTI_OK) {
        return 0.5;
    }
    return (double)v / 4294967295.0;
}

static void finish(lti_outbox_t *o, lti_store_t *store, const lti_outbox_item_t *it,
                   lti_outbox_end_t end, int64_t next, const char *reason, int64_t now,
                   lti_outbox_stats_t *st)
{
    lti_err_t err;
    int applied = 0;

    if (lti_store_outbox_finish(store, it, o->cfg.owner, end, next, reason, now, &applied,
                                &err) != LTI_OK) {
        return;     /* logged by the store; the lease expires and the row comes back */
    }
    if (!applied) {
        st->stale++;
        return;
    }
    if (end == LTI_OUTBOX_SENT) {
        st->sent++;
        lti_log(LTI_LOG_INFO, "grade return %" APR_INT64_T_FMT " (%s, score %.4f) delivered",
                (apr_int64_t)it->id, it->kind, it->score);
    }
    else if (end == LTI_OUTBOX_RETRY) {
        st->retried++;
        lti_log(LTI_LOG_INFO, "grade return %" APR_INT64_T_FMT " will be retried in %"
                APR_INT64_T_FMT "s: %s", (apr_int64_t)it->id, (apr_int64_t)(next - now),
                reason ? reason : "");
    }
    else {
        st->failed++;
        lti_log(LTI_LOG_WARN, "grade return %" APR_INT64_T_FMT " failed: %s",
                (apr_int64_t)it->id, reason ? reason : "");
    }
}

/* Makes the easy handle of a request. */
static CURL *easy_for(lti_outbox_t *o, job_t *j, const lti_outbox_req_t *req)
{
    const lti_http_opts_t *h = &o->cfg.http;
    long timeout = (long)(h->timeout > 0 ? h->timeout : 10);
    CURL *c = curl_easy_init();

    if (c == NULL) {
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, h->allow_insecure_loopback ? "http,https"
                                                                          : "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mod_ptech");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, j->errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(c, CURLOPT_PRIVATE, j);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    if (h->ca_file) {
        curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
    }
    curl_easy_setopt(c, CURLOPT_PROXY, h->proxy ? h->proxy : "");
    j->hdrs = curl_slist_append(j->hdrs, apr_pstrcat(j->pool, "Content-Type: ",
                                                     req->content_type, NULL));
    j->hdrs = curl_slist_append(j->hdrs, "Expect:");
    if (req->authorization) {
        /* Never logged: curl's verbose mode stays off. */
        j->hdrs = curl_slist_append(j->hdrs, apr_pstrcat(j->pool, "Authorization: ",
                                                         req->authorization, NULL));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, j->hdrs);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(req->body));
    return c;
}

static void job_free(lti_outbox_t *o, job_t *j)
{
    if (j->easy != NULL) {
        curl_multi_remove_handle(o->multi, j->easy);
        curl_easy_cleanup(j->easy);
        j->easy = NULL;
    }
    curl_slist_free_all(j->hdrs);
    j->hdrs = NULL;
}

lti_status_t lti_outbox_drain(lti_outbox_t *o, lti_store_t *store, apr_pool_t *scratch,
                              int64_t now, lti_outbox_stats_t *stats, lti_err_t *err)
{
    lti_outbox_stats_t local;
    lti_outbox_stats_t *st = stats ? stats : &local;
    apr_array_header_t *items;
    apr_array_header_t *jobs = apr_array_make(scratch, 16, sizeof(job_t *));
    lti_status_t rv;
    int granted = 0, running = 0;
    apr_time_t start = apr_time_now();

    memset(st, 0, sizeof(*st));
    o->cfg.store = store;
    o->cfg.ags_down = apr_hash_make(scratch);
    rv = lti_store_outbox_claim_drainer(store, o->cfg.owner, now, o->cfg.lease_ttl, &granted,
                                        err);
    if (rv != LTI_OK || !granted) {
        return rv;
    }
    rv = lti_store_outbox_lease(store, scratch, o->cfg.owner, now, o->cfg.lease_ttl,
                                o->cfg.batch, &items, err);
    if (rv != LTI_OK) {
        return rv;
    }
    st->leased = items->nelts;
    for (int i = 0; o->cfg.ags_cache == NULL && i < items->nelts; i++) {
        const char *k = APR_ARRAY_IDX(items, i, lti_outbox_item_t).kind;

        if (k != NULL && strcmp(k, "ags") == 0
            && lti_ags_cache_create(0, &o->cfg.ags_cache, NULL) != LTI_OK) {
            break;      /* AGS rows wait (deferred) */
        }
    }
    for (int i = 0; i < items->nelts; i++) {
        lti_outbox_item_t *it = &APR_ARRAY_IDX(items, i, lti_outbox_item_t);
        const lti_outbox_kind_t *kind = lti_outbox_kind(it->kind);
        lti_outbox_req_t req;
        lti_outbox_end_t end = LTI_OUTBOX_FAILED;
        const char *reason = NULL;
        lti_outbox_prep_t prep;
        job_t *j;

        memset(&req, 0, sizeof(req));
        if (kind == NULL) {
            finish(o, store, it, LTI_OUTBOX_FAILED, 0,
                   apr_psprintf(scratch, "unknown delivery kind '%s'", it->kind), now, st);
            continue;
        }
        prep = kind->prepare(scratch, it, &o->cfg, now, &req, &end, &reason);
        if (prep == LTI_OUTBOX_DEFER) {
            st->deferred++;
            finish(o, store, it, LTI_OUTBOX_RETRY,
                   now + lti_outbox_backoff(o->cfg.retry_base, 0, draw()), reason, now, st);
            st->retried--;
            continue;
        }
        if (prep == LTI_OUTBOX_DECIDED) {
            int64_t next = end == LTI_OUTBOX_RETRY
                           ? now + lti_outbox_backoff(o->cfg.retry_base, it->attempts, draw())
                           : 0;

            finish(o, store, it, end, next, reason, now, st);
            continue;
        }
        j = apr_pcalloc(scratch, sizeof(*j));
        j->it = it;
        j->kind = kind;
        j->pool = scratch;
        j->max = o->cfg.http.max_bytes ? o->cfg.http.max_bytes : LTI_POX_MAX_BYTES;
        if ((j->easy = easy_for(o, j, &req)) == NULL
            || curl_multi_add_handle(o->multi, j->easy) != CURLM_OK) {
            job_free(o, j);
            finish(o, store, it, LTI_OUTBOX_RETRY,
                   now + lti_outbox_backoff(o->cfg.retry_base, it->attempts, draw()),
                   "cannot start a request (libcurl)", now, st);
            continue;
        }
        APR_ARRAY_PUSH(jobs, job_t *) = j;
    }
    if (jobs->nelts == 0) {
        return LTI_OK;
    }
    /* Up to max_in_flight requests at once (the multi handle queues the rest), each ended
     * as soon as its answer is in. */
    do {
        CURLMsg *msg;
        int left;

        if (curl_multi_perform(o->multi, &running) != CURLM_OK) {
            break;
        }
        while ((msg = curl_multi_info_read(o->multi, &left)) != NULL) {
            job_t *j = NULL;
            long status = 0;
            /* The caller's clock, moved on by the time the requests took. */
            int64_t next, t = now + (int64_t)apr_time_sec(apr_time_now() - start);
            const char *reason, *net = NULL;
            lti_outbox_end_t end;

            if (msg->msg != CURLMSG_DONE) {
                continue;
            }
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
            if (msg->data.result == CURLE_OK) {
                curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            }
            else {
                net = j->too_large ? "the answer is too large"
                      : j->errbuf[0] ? apr_pstrdup(scratch, j->errbuf)
                                     : curl_easy_strerror(msg->data.result);
            }
            end = lti_outbox_decide(scratch, j->kind, j->it, &o->cfg, t, status, j->buf,
                                    j->len, net, draw(), &next, &reason);
            job_free(o, j);
            finish(o, store, j->it, end, next, reason, t, st);
        }
        if (running > 0) {
            curl_multi_poll(o->multi, NULL, 0, 1000, NULL);
        }
    } while (running > 0);
    /* Anything left (a multi error): drop the handles; the leases expire. */
    for (int i = 0; i < jobs->nelts; i++) {
        job_free(o, APR_ARRAY_IDX(jobs, i, job_t *));
    }
    return LTI_OK;
}
