/* lti_ags.c -- LTI 1.3 Assignment and Grade Services client: request builders and response
 * parsers that need no network, a per-process token cache, and a blocking score sender over
 * lti_http.  JSON with jansson (duplicates refused when parsing), the client assertion with
 * lti_jwt_sign (cjose), randomness from OpenSSL (lti_random_hex). */
#include <math.h>   /* isfinite */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <apr_allocator.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_thread_mutex.h>
#include <apr_uri.h>
#include <jansson.h>

#include "lti_ags.h"
#include "lti_jose.h"
#include "lti_util.h"

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/* ---- helpers ------------------------------------------------------------------------- */

static int empty(const char *s)
{
    return s == NULL || *s == '\0';
}

/* Parses url into u when it is an absolute http(s) URL with a host; returns 1 if so. */
static int parse_url(apr_pool_t *p, const char *url, apr_uri_t *u)
{
    if (url == NULL || apr_uri_parse(p, url, u) != APR_SUCCESS || u->scheme == NULL
        || u->hostname == NULL || *u->hostname == '\0') {
        return 0;
    }
    return strcasecmp(u->scheme, "https") == 0 || strcasecmp(u->scheme, "http") == 0;
}

static lti_status_t bad_url(lti_err_t *err, const char *what, const char *url)
{
    return lti_err_set(err, LTI_ERR_MALFORMED, "ags_bad_url",
                       "the %s '%.200s' is not an absolute http(s) URL", what, url ? url : "");
}

/* Whether s (may be NULL) is valid UTF-8 without NUL bytes: what json_string accepts. */
static int text_ok(const char *s)
{
    return s == NULL || lti_utf8_valid(s, strlen(s));
}

/* Parses an answer body as JSON without duplicate keys; NULL when it is not JSON. */
static json_t *load(apr_pool_t *p, const char *body, size_t len)
{
    if (body == NULL) {
        return NULL;
    }
    return lti_json_pooled(p, json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL));
}

static lti_status_t bad_status(lti_err_t *err, const char *what, long status,
                               const char *content_type)
{
    return lti_err_set(err, LTI_ERR_UPSTREAM, "ags_http_status",
                       "the platform answered the %s request with HTTP %ld (%.100s)", what,
                       status, content_type ? content_type : "no content type");
}

/* ---- access token ------------------------------------------------------------------- */

lti_status_t lti_ags_token_request(apr_pool_t *p, const char *token_url, const char *client_id,
                                   const char *kid, const char *private_pem, const char *scopes,
                                   int64_t now, lti_http_req_t *req, lti_err_t *err)
{
    apr_uri_t u;
    json_t *claims;
    const char *jti, *jwt, *body;

    memset(req, 0, sizeof(*req));
    if (empty(token_url) || empty(client_id) || empty(kid) || empty(private_pem)
        || empty(scopes)) {
        return lti_err_set(err, LTI_ERR_MISSING, "ags_arg", "a token request needs the token "
                           "URL, the client id, the tool key and the scopes");
    }
    if (!parse_url(p, token_url, &u)) {
        return bad_url(err, "token URL", token_url);
    }
    if (!text_ok(client_id)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "ags_bad_text", "the client id is not UTF-8");
    }
    jti = lti_random_hex(p, 16);
    if (jti == NULL) {
        return lti_err_set(err, LTI_ERR_CRYPTO, "random_failed", "no random bytes for a jti");
    }
    claims = lti_json_pooled(p, json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", client_id,
                                      "sub", client_id, "aud", token_url, "iat", (json_int_t)now,
                                      "exp", (json_int_t)(now + LTI_AGS_ASSERTION_TTL), "jti",
                                      jti));
    if (claims == NULL) {
        return lti_err_set(err, LTI_ERR_NOMEM, "nomem", "cannot build the assertion claims");
    }
    jwt = lti_jwt_sign(p, kid, private_pem, claims, err);
    if (jwt == NULL) {
        return err ? err->status : LTI_ERR_CRYPTO;
    }
    body = apr_pstrcat(p, "grant_type=client_credentials&client_assertion_type=",
                       lti_pct_encode(p, ASSERTION_TYPE), "&client_assertion=",
                       lti_pct_encode(p, jwt), "&scope=", lti_pct_encode(p, scopes), NULL);
    req->method = "POST";
    req->url = token_url;
    req->accept = "application/json";
    req->content_type = "application/x-www-form-urlencoded";
    req->body = body;
    req->body_len = strlen(body);
    req->max_bytes = LTI_AGS_MAX_BYTES;
    return LTI_OK;
}

/* A string member of o, or NULL; *bad set when it is there but not a string. */
static const char *member_str(const json_t *o, const char *name, int *bad)
{
    const json_t *v = json_object_get(o, name);

    if (v == NULL || json_is_null(v)) {
        return NULL;
    }
    if (!json_is_string(v)) {
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

/* Whether s is 1..max printable ASCII bytes without spaces (RFC 6750 b64token and more). */
static int token_ok(const char *s, size_t max)
{
    size_t n = 0;

    for (; s[n]; n++) {
        if (n >= max || (unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f) {
            return 0;
        }
    }
    return n > 0;
}

lti_status_t lti_ags_token_parse(apr_pool_t *p, long status, const char *content_type,
                                 const char *body, size_t len, int64_t now,
                                 lti_ags_token_t *tok, lti_err_t *err)
{
    json_t *doc = load(p, body, len);
    const json_t *ei;
    const char *access, *type, *scope;
    int bad = 0;
    int64_t margin;

    memset(tok, 0, sizeof(*tok));
    if (status < 200 || status > 299) {
        const char *oerr = NULL, *desc = NULL;

        if (json_is_object(doc)) {
            oerr = member_str(doc, "error", &bad);
            desc = member_str(doc, "error_description", &bad);
        }
        return lti_err_set(err, LTI_ERR_UPSTREAM, "ags_token_refused",
                           "the platform's token endpoint answered HTTP %ld%s%.64s%s%.200s%s",
                           status, oerr ? " (" : "", oerr ? oerr : "", desc ? ": " : "",
                           desc ? desc : "", oerr ? ")" : "");
    }
    if (!json_is_object(doc)) {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "ags_token_invalid",
                           "the platform's token answer (%.100s) is not a JSON object",
                           content_type ? content_type : "no content type");
    }
    access = member_str(doc, "access_token", &bad);
    type = member_str(doc, "token_type", &bad);
    scope = member_str(doc, "scope", &bad);
    if (bad || access == NULL || !token_ok(access, LTI_AGS_TOKEN_MAX)) {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "ags_token_invalid",
                           "the platform's token answer has no usable access_token");
    }
    if (type == NULL || strcasecmp(type, "Bearer") != 0) {
        return lti_err_set(err, LTI_ERR_UNSUPPORTED, "ags_token_type",
                           "the platform's token type is %.64s, not Bearer",
                           type ? type : "missing");
    }
    ei = json_object_get(doc, "expires_in");
    if (ei == NULL || json_is_null(ei)) {
        tok->expires_in = LTI_AGS_TOKEN_DEFAULT_TTL;
    }
    else if (json_is_integer(ei) && json_integer_value(ei) >= 0
             && json_integer_value(ei) <= 10 * 365 * 86400) {
        tok->expires_in = json_integer_value(ei);
    }
    else {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "ags_token_invalid",
                           "the platform's token answer has an expires_in that is not a "
                           "whole number of seconds");
    }
    margin = tok->expires_in >= 2 * LTI_AGS_TOKEN_MARGIN ? LTI_AGS_TOKEN_MARGIN
                                                         : tok->expires_in / 2;
    tok->access_token = apr_pstrdup(p, access);
    tok->scope = scope ? apr_pstrdup(p, scope) : NULL;
    tok->expires_at = now + tok->expires_in - margin;
    return LTI_OK;
}

/* ---- token cache -------------------------------------------------------------------- */

typedef struct cache_entry_t {
    apr_pool_t *pool;             /* NULL: a free slot; holds key and token */
    const char *key;
    const char *token;
    int64_t expires_at;
} cache_entry_t;

struct lti_ags_cache_t {
    apr_pool_t *pool;             /* unmanaged, with its own allocator */
    apr_thread_mutex_t *mu;
    int max;
    cache_entry_t *slots;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The cache key: platform id, a line break, the scopes sorted without repeats. */
static const char *cache_key(apr_pool_t *p, const char *platform_id, const char *scopes)
{
    apr_array_header_t *words = apr_array_make(p, 8, sizeof(const char *));
    char *copy = apr_pstrdup(p, scopes ? scopes : ""), *last, *w;
    const char *key = apr_pstrcat(p, platform_id ? platform_id : "", "\n", NULL);
    const char **v;

    for (w = apr_strtok(copy, " \t", &last); w != NULL; w = apr_strtok(NULL, " \t", &last)) {
        APR_ARRAY_PUSH(words, const char *) = w;
    }
    v = (const char **)words->elts;
    qsort(v, (size_t)words->nelts, sizeof(*v), cmp_str);
    for (int i = 0; i < words->nelts; i++) {
        if (i == 0 || strcmp(v[i], v[i - 1]) != 0) {
            key = apr_pstrcat(p, key, i ? " " : "", v[i], NULL);
        }
    }
    return key;
}

lti_status_t lti_ags_cache_create(int max_entries, lti_ags_cache_t **out, lti_err_t *err)
{
    apr_allocator_t *alloc;
    apr_pool_t *pool;
    lti_ags_cache_t *c;

    *out = NULL;
    if (apr_allocator_create(&alloc) != APR_SUCCESS) {
        return lti_err_set(err, LTI_ERR_NOMEM, "nomem", "cannot make the token cache");
    }
    if (apr_pool_create_unmanaged_ex(&pool, NULL, alloc) != APR_SUCCESS) {
        apr_allocator_destroy(alloc);
        return lti_err_set(err, LTI_ERR_NOMEM, "nomem", "cannot make the token cache");
    }
    apr_allocator_owner_set(alloc, pool);
    apr_allocator_max_free_set(alloc, 64 * 1024);
    c = apr_pcalloc(pool, sizeof(*c));
    c->pool = pool;
    c->max = max_entries > 0 ? max_entries : LTI_AGS_CACHE_DEFAULT_SIZE;
    c->slots = apr_pcalloc(pool, sizeof(cache_entry_t) * (size_t)c->max);
    if (apr_thread_mutex_create(&c->mu, APR_THREAD_MUTEX_DEFAULT, pool) != APR_SUCCESS) {
        apr_pool_destroy(pool);
        return lti_err_set(err, LTI_ERR_INTERNAL, "ags_cache",
                           "cannot make the token cache's mutex");
    }
    *out = c;
    return LTI_OK;
}

void lti_ags_cache_destroy(lti_ags_cache_t *c)
{
    if (c != NULL) {
        apr_pool_destroy(c->pool);   /* the entries' subpools, the mutex, the allocator */
    }
}

/* The slot holding key, or NULL; under c->mu. */
static cache_entry_t *cache_find(lti_ags_cache_t *c, const char *key)
{
    for (int i = 0; i < c->max; i++) {
        if (c->slots[i].pool != NULL && strcmp(c->slots[i].key, key) == 0) {
            return &c->slots[i];
        }
    }
    return NULL;
}

static void cache_free(cache_entry_t *e)
{
    apr_pool_destroy(e->pool);
    memset(e, 0, sizeof(*e));
}

const char *lti_ags_cache_get(lti_ags_cache_t *c, apr_pool_t *p, const char *platform_id,
                              const char *scopes, int64_t now)
{
    const char *key = cache_key(p, platform_id, scopes), *token = NULL;
    cache_entry_t *e;

    if (c == NULL) {
        return NULL;
    }
    apr_thread_mutex_lock(c->mu);
    e = cache_find(c, key);
    if (e != NULL && now < e->expires_at) {
        token = apr_pstrdup(p, e->token);
    }
    else if (e != NULL) {
        cache_free(e);
    }
    apr_thread_mutex_unlock(c->mu);
    return token;
}

void lti_ags_cache_put(lti_ags_cache_t *c, const char *platform_id, const char *scopes,
                       const lti_ags_token_t *tok, int64_t now)
{
    apr_pool_t *tmp;
    const char *key;
    cache_entry_t *e;

    if (c == NULL || tok == NULL || tok->access_token == NULL || tok->expires_at <= now) {
        return;
    }
    apr_thread_mutex_lock(c->mu);
    /* The key is made in a scratch pool of the cache's own (callers' pools may be another
     * thread's); the entry then gets a subpool of its own. */
    if (apr_pool_create(&tmp, c->pool) != APR_SUCCESS) {
        apr_thread_mutex_unlock(c->mu);
        return;
    }
    key = cache_key(tmp, platform_id, scopes);
    e = cache_find(c, key);
    if (e == NULL) {
        /* A free slot, else an expired one, else the one that expires first. */
        for (int i = 0; i < c->max; i++) {
            cache_entry_t *s = &c->slots[i];

            if (s->pool == NULL) {
                e = s;
                break;
            }
            if (e == NULL || s->expires_at < e->expires_at) {
                e = s;
            }
        }
    }
    if (e->pool != NULL) {
        cache_free(e);
    }
    if (apr_pool_create(&e->pool, c->pool) == APR_SUCCESS) {
        e->key = apr_pstrdup(e->pool, key);
        e->token = apr_pstrdup(e->pool, tok->access_token);
        e->expires_at = tok->expires_at;
    }
    else {
        memset(e, 0, sizeof(*e));
    }
    apr_pool_destroy(tmp);
    apr_thread_mutex_unlock(c->mu);
}

void lti_ags_cache_drop(lti_ags_cache_t *c, const char *platform_id, const char *scopes,
                        const char *access_token)
{
    apr_pool_t *tmp;
    cache_entry_t *e;

    if (c == NULL) {
        return;
    }
    apr_thread_mutex_lock(c->mu);
    if (apr_pool_create(&tmp, c->pool) == APR_SUCCESS) {
        e = cache_find(c, cache_key(tmp, platform_id, scopes));
        if (e != NULL && (access_token == NULL || strcmp(e->token, access_token) == 0)) {
            cache_free(e);
        }
        apr_pool_destroy(tmp);
    }
    apr_thread_mutex_unlock(c->mu);
}

int lti_ags_cache_count(lti_ags_cache_t *c)
{
    int n = 0;

    if (c == NULL) {
        return 0;
    }
    apr_thread_mutex_lock(c->mu);
    for (int i = 0; i < c->max; i++) {
        n += c->slots[i].pool != NULL;
    }
    apr_thread_mutex_unlock(c->mu);
    return n;
}

/* ---- line items ---------------------------------------------------------------------- */

lti_status_t lti_ags_claim_parse(apr_pool_t *p, const char *json, lti_ags_claim_t *out,
                                 lti_err_t *err)
{
    json_t *doc = json ? load(p, json, strlen(json)) : NULL;
    const json_t *scope, *v;
    const char *joined = "";
    int bad = 0;
    size_t i;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(doc)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "ags_claim",
                           "the AGS claim is not a JSON object");
    }
    out->lineitems = member_str(doc, "lineitems", &bad);
    out->lineitem = member_str(doc, "lineitem", &bad);
    scope = json_object_get(doc, "scope");
    if (scope != NULL && !json_is_array(scope)) {
        bad = 1;
    }
    json_array_foreach(scope, i, v) {
        if (!json_is_string(v)) {
            bad = 1;
            break;
        }
        joined = apr_pstrcat(p, joined, *joined ? " " : "", json_string_value(v), NULL);
    }
    if (bad) {
        memset(out, 0, sizeof(*out));
        return lti_err_set(err, LTI_ERR_MALFORMED, "ags_claim",
                           "the AGS claim's lineitems, lineitem or scope has the wrong type");
    }
    out->lineitems = out->lineitems && *out->lineitems ? apr_pstrdup(p, out->lineitems) : NULL;
    out->lineitem = out->lineitem && *out->lineitem ? apr_pstrdup(p, out->lineitem) : NULL;
    out->scope = joined;
    return LTI_OK;
}

int lti_ags_has_scope(const char *scopes, const char *scope)
{
    size_t n = strlen(scope);

    while (scopes != NULL && *scopes) {
        size_t w;

        scopes += strspn(scopes, " \t");
        w = strcspn(scopes, " \t");
        if (w == n && strncmp(scopes, scope, n) == 0) {
            return 1;
        }
        scopes += w;
    }
    return 0;
}

lti_status_t lti_ags_lineitem_choose(const lti_ags_claim_t *claim, lti_ags_choice_t *choice,
                                     const char **url, lti_err_t *err)
{
    *url = NULL;
    *choice = LTI_AGS_LINEITEM_KNOWN;
    if (!lti_ags_has_scope(claim->scope, LTI_AGS_SCOPE_SCORE)) {
        return lti_err_set(err, LTI_ERR_FORBIDDEN, "ags_no_score_scope",
                           "the platform does not let the tool send scores for this link "
                           "(no AGS score scope in the launch)");
    }
    if (claim->lineitem != NULL) {
        *url = claim->lineitem;
        return LTI_OK;
    }
    if (claim->lineitems == NULL) {
        return lti_err_set(err, LTI_ERR_MISSING, "ags_no_lineitem",
                           "the launch's AGS claim has neither lineitem nor lineitems");
    }
    if (!lti_ags_has_scope(claim->scope, LTI_AGS_SCOPE_LINEITEM)
        && !lti_ags_has_scope(claim->scope, LTI_AGS_SCOPE_LINEITEM_READONLY)) {
        return lti_err_set(err, LTI_ERR_FORBIDDEN, "ags_no_lineitem_scope",
                           "the launch has no line item and the platform does not let the "
                           "tool look for one (no AGS lineitem scope)");
    }
    *choice = LTI_AGS_LINEITEM_FIND;
    *url = claim->lineitems;
    return LTI_OK;
}

lti_status_t lti_ags_lineitems_find_request(apr_pool_t *p, const char *lineitems_url,
                                            const char *token, const char *resource_link_id,
                                            const char *tag, lti_http_req_t *req,
                                            lti_err_t *err)
{
    apr_uri_t u;
    const char *q;

    memset(req, 0, sizeof(*req));
    if (empty(lineitems_url) || empty(token)) {
        return lti_err_set(err, LTI_ERR_MISSING, "ags_arg",
                           "finding a line item needs the lineitems URL and a token");
    }
    if (!parse_url(p, lineitems_url, &u)) {
        return bad_url(err, "lineitems URL", lineitems_url);
    }
    q = u.query && *u.query ? u.query : "";
    if (!empty(resource_link_id)) {
        q = apr_pstrcat(p, q, *q ? "&" : "", "resource_link_id=",
                        lti_pct_encode(p, resource_link_id), NULL);
    }
    if (!empty(tag)) {
        q = apr_pstrcat(p, q, *q ? "&" : "", "tag=", lti_pct_encode(p, tag), NULL);
    }
    u.query = *q ? (char *)q : NULL;
    u.fragment = NULL;
    req->method = "GET";
    req->url = apr_uri_unparse(p, &u, APR_URI_UNP_REVEALPASSWORD);
    req->accept = LTI_AGS_TYPE_LINEITEMS;
    req->bearer = token;
    req->max_bytes = LTI_AGS_CONTAINER_MAX_BYTES;
    return LTI_OK;
}

/* Whether member name of item is a string equal to want (want NULL: anything; missing
 * member: only when optional). */
static int member_matches(const json_t *item, const char *name, const char *want, int optional)
{
    const json_t *v = json_object_get(item, name);

    if (want == NULL) {
        return 1;
    }
    if (v == NULL || json_is_null(v)) {
        return optional;
    }
    return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

lti_status_t lti_ags_lineitems_find_parse(apr_pool_t *p, long status, const char *content_type,
                                          const char *body, size_t len,
                                          const char *resource_link_id, const char *tag,
                                          const char **lineitem_url, lti_err_t *err)
{
    json_t *doc;
    const json_t *item;
    size_t i;

    *lineitem_url = NULL;
    if (status < 200 || status > 299) {
        return bad_status(err, "line items", status, content_type);
    }
    doc = load(p, body, len);
    if (!json_is_array(doc)) {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "ags_lineitems_invalid",
                           "the platform's line item container is not a JSON array");
    }
    json_array_foreach(doc, i, item) {
        const char *id = json_string_value(json_object_get(item, "id"));
        apr_uri_t u;

        if (json_is_object(item) && id != NULL && parse_url(p, id, &u)
            && member_matches(item, "resourceLinkId", resource_link_id, 1)
            && member_matches(item, "tag", tag, 0)) {
            *lineitem_url = apr_pstrdup(p, id);
            return LTI_OK;
        }
    }
    return LTI_OK;
}

lti_status_t lti_ags_lineitem_create_request(apr_pool_t *p, const char *lineitems_url,
                                             const char *token, const lti_ags_lineitem_t *li,
                                             lti_http_req_t *req, lti_err_t *err)
{
    apr_uri_t u;
    json_t *o;
    const char *body;

    memset(req, 0, sizeof(*req));
    if (empty(lineitems_url) || empty(token) || li == NULL || empty(li->label)) {
        return lti_err_set(err, LTI_ERR_MISSING, "ags_arg", "creating a line item needs the "
                           "lineitems URL, a token and a label");
    }
    if (!parse_url(p, lineitems_url, &u)) {
        return bad_url(err, "lineitems URL", lineitems_url);
    }
    if (!text_ok(li->label) || !text_ok(li->resource_id) || !text_ok(li->tag)
        || !text_ok(li->resource_link_id)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "ags_bad_text",
                           "a line item's label, resourceId, tag or resourceLinkId is not UTF-8");
    }
    o = lti_json_pooled(p, json_object());
    if (o == NULL
        || json_object_set_new(o, "label", json_string(li->label)) != 0
        || json_object_set_new(o, "scoreMaximum", json_integer(LTI_AGS_SCORE_MAXIMUM)) != 0
        || (li->resource_id
            && json_object_set_new(o, "resourceId", json_string(li->resource_id)) != 0)
        || (li->tag && json_object_set_new(o, "tag", json_string(li->tag)) != 0)
        || (li->resource_link_id
            && json_object_set_new(o, "resourceLinkId", json_string(li->resource_link_id)) != 0)) {
        return lti_err_set(err, LTI_ERR_NOMEM, "nomem", "cannot build the line item");
    }
    body = lti_json_text(p, o, JSON_COMPACT);
    if (body == NULL) {
        return lti_err_set(err, LTI_ERR_NOMEM, "nomem", "cannot build the line item");
    }
    req->method = "POST";
    req->url = lineitems_url;
    req->accept = LTI_AGS_TYPE_LINEITEM;
    req->content_type = LTI_AGS_TYPE_LINEITEM;
    req->body = body;
    req->body_len = strlen(body);
    req->bearer = token;
    req->max_bytes = LTI_AGS_MAX_BYTES;
    return LTI_OK;
}

lti_status_t lti_ags_lineitem_create_parse(apr_pool_t *p, long status,
                                           const char *content_type, const char *body,
                                           size_t len, const char **lineitem_url,
                                           lti_err_t *err)
{
    json_t *doc;
    const char *id;
    apr_uri_t u;

    *lineitem_url = NULL;
    if (status < 200 || status > 299) {
        return bad_status(err, "line item creation", status, content_type);
    }
    doc = load(p, body, len);
    id = json_is_object(doc) ? json_string_value(json_object_get(doc, "id")) : NULL;
    if (id == NULL || !parse_url(p, id, &u)) {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "ags_lineitem_invalid",
                           "the platform's new line item has no absolute http(s) id");
    }
    *lineitem_url = apr_pstrdup(p, id);
    return LTI_OK;
}

/* ---- scores ------------------------------------------------------------------------- */

lti_status_t lti_ags_scores_url(apr_pool_t *p, const char *lineitem_url, const char **out,
                                lti_err_t *err)
{
    apr_uri_t u;
    const char *path;
    size_t n;

    *out = NULL;
    if (!parse_url(p, lineitem_url, &u)) {
        return bad_url(err, "line item URL", lineitem_url);
    }
    path = u.path ? u.path : "";
    n = strlen(path);
    if (n > 0 && path[n - 1] == '/') {
        n--;
    }
    u.path = apr_pstrcat(p, apr_pstrmemdup(p, path, n), "/scores", NULL);
    u.fragment = NULL;
    *out = apr_uri_unparse(p, &u, APR_URI_UNP_REVEALPASSWORD);
    return LTI_OK;
}

const char *lti_ags_timestamp_format(apr_pool_t *p, int64_t ms)
{
    time_t secs;
    struct tm tm;
    char buf[64];

    if (ms < 0) {
        ms = 0;
    }
    secs = (time_t)(ms / 1000);
    if (gmtime_r(&secs, &tm) == NULL
        || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        return NULL;
    }
    return apr_psprintf(p, "%s.%03dZ", buf, (int)(ms % 1000));
}

const char *lti_ags_timestamp(apr_pool_t *p, int64_t last_sent_ms, int64_t now_ms,
                              int64_t *sent_ms)
{
    int64_t ms = now_ms;

    if (last_sent_ms > 0 && ms < last_sent_ms + 1000) {
        ms = last_sent_ms + 1000;
    }
    if (sent_ms != NULL) {
        *sent_ms = ms;
    }
    return lti_ags_timestamp_format(p, ms);
}

static int one_of(const char *s, const char *const *set)
{
    for (; s != NULL && *set != NULL; set++) {
        if (strcmp(s, *set) == 0) {
            return 1;
        }
    }
    return 0;
}

static const char *const activity_values[] = {
    "Initialized", "Started", "InProgress", "Submitted", "Completed", NULL
};
static const char *const grading_values[] = {
    "FullyGraded", "Pending", "PendingManual", "Failed", "NotReady", NULL
};

/* A number as JSON: an integer when it is whole (Moodle's own examples), else a real. */
static json_t *json_number(double x)
{
    if (x > -9007199254740992.0 && x < 9007199254740992.0 && (double)(json_int_t)x == x) {
        return json_integer((json_int_t)x);
    }
    return json_real(x);
}

/* The score's JSON text in p, or an error. */
static lti_status_t score_body(apr_pool_t *p, const lti_ags_score_t *s, const char **out,
                               lti_err_t *err)
{
    json_t *o;
    const char *ts;

    *out = NULL;
    if (s == NULL || empty(s->user_id) || s->activity_progress == NULL
        || s->grading_progress == NULL) {
        return lti_err_set(err, LTI_ERR_MISSING, "ags_arg", "a score needs a user id, an "
                           "activity progress and a grading progress");
    }
    if (!isfinite(s->score_given) || !isfinite(s->score_maximum) || s->score_given < 0
        || s->score_maximum <= 0) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "ags_bad_score",
                           "a score must be a finite number >= 0 out of a maximum > 0");
    }
    if (!one_of(s->activity_progress, activity_values)
        || !one_of(s->grading_progress, grading_values)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "ags_bad_progress",
                           "activity or grading progress '%.40s', '%.40s' is not an AGS value",
                           s->activity_progress, s->grading_progress);
    }
    if (!text_ok(s->user_id) || !text_ok(s->comment)
        || (s->comment && strlen(s->comment) > LTI_AGS_COMMENT_MAX)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "ags_bad_text", "a score's user id or "
                           "comment is not UTF-8, or the comment is over %d bytes",
                           LTI_AGS_COMMENT_MAX);
    }
    ts = lti_ags_timestamp_format(p, s->timestamp_ms);
    o = lti_json_pooled(p, json_object());
    if (ts == NULL || o == NULL
        || json_object_set_new(o, "userId", json_string(s->user_id)) != 0
        || json_object_set_new(o, "scoreGiven", json_number(s->score_given)) != 0
        || json_object_set_new(o, "scoreMaximum", json_number(s->score_maximum)) != 0
        || json_object_set_new(o, "activityProgress", json_string(s->activity_progress)) != 0
        || json_object_set_new(o, "gradingProgress", json_string(s->grading_progress)) != 0
        || json_object_set_new(o, "timestamp", json_string(ts)) != 0
        || (s->comment && json_object_set_new(o, "comment", json_string(s->comment)) != 0)) {
        return lti_err_set(err, LTI_ERR_NOMEM, "nomem", "cannot build the score");
    }
    *out = lti_json_text(p, o, JSON_COMPACT | JSON_REAL_PRECISION(15));
    return *out ? LTI_OK : lti_err_set(err, LTI_ERR_NOMEM, "nomem", "cannot build the score");
}

lti_status_t lti_ags_score_request(apr_pool_t *p, const char *scores_url, const char *token,
                                   const lti_ags_score_t *score, lti_http_req_t *req,
                                   lti_err_t *err)
{
    apr_uri_t u;
    const char *body;
    lti_status_t rv;

    memset(req, 0, sizeof(*req));
    if (empty(scores_url) || empty(token)) {
        return lti_err_set(err, LTI_ERR_MISSING, "ags_arg",
                           "a score needs the scores URL and a token");
    }
    if (!parse_url(p, scores_url, &u)) {
        return bad_url(err, "scores URL", scores_url);
    }
    rv = score_body(p, score, &body, err);
    if (rv != LTI_OK) {
        return rv;
    }
    req->method = "POST";
    req->url = scores_url;
    req->accept = "application/json";
    req->content_type = LTI_AGS_TYPE_SCORE;
    req->body = body;
    req->body_len = strlen(body);
    req->bearer = token;
    req->max_bytes = LTI_AGS_MAX_BYTES;
    return LTI_OK;
}

/* Status ranges and what they mean, first match wins. */
static const struct {
    long lo, hi;
    lti_ags_outcome_t outcome;
    const char *reason;
} classes[] = {
    {200, 299, LTI_AGS_DONE, "ags_done"},
    {401, 401, LTI_AGS_REAUTH, "ags_unauthorized"},
    {408, 408, LTI_AGS_RETRY, "ags_timeout"},
    {429, 429, LTI_AGS_RETRY, "ags_rate_limited"},
    {500, 599, LTI_AGS_RETRY, "ags_server_error"},
    {0, 0, LTI_AGS_RETRY, "ags_network"},
    {400, 400, LTI_AGS_FINAL, "ags_not_gradable"},
    {409, 409, LTI_AGS_FINAL, "ags_timestamp_conflict"},
    {403, 403, LTI_AGS_FINAL, "ags_forbidden"},
    {404, 404, LTI_AGS_FINAL, "ags_not_found"},
    {410, 410, LTI_AGS_FINAL, "ags_not_found"},
    {300, 399, LTI_AGS_FINAL, "ags_redirect"},
};

lti_ags_outcome_t lti_ags_classify(long status, const char **reason)
{
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
        if (status >= classes[i].lo && status <= classes[i].hi) {
            if (reason != NULL) {
                *reason = classes[i].reason;
            }
            return classes[i].outcome;
        }
    }
    if (reason != NULL) {
        *reason = "ags_refused";
    }
    return LTI_AGS_FINAL;
}

const char *lti_ags_outcome_name(lti_ags_outcome_t outcome)
{
    switch (outcome) {
    case LTI_AGS_DONE:
        return "done";
    case LTI_AGS_REAUTH:
        return "reauth";
    case LTI_AGS_RETRY:
        return "retry";
    case LTI_AGS_FINAL:
        return "final";
    }
    return "unknown";
}

/* ---- blocking convenience ------------------------------------------------------------ */

const char *lti_ags_token_scopes(apr_pool_t *p, const lti_ags_claim_t *claim)
{
    static const char *const used[] = {
        LTI_AGS_SCOPE_SCORE, LTI_AGS_SCOPE_LINEITEM, LTI_AGS_SCOPE_LINEITEM_READONLY, NULL
    };
    const char *out = "";

    for (int i = 0; used[i] != NULL; i++) {
        if (lti_ags_has_scope(claim->scope, used[i])) {
            out = apr_pstrcat(p, out, *out ? " " : "", used[i], NULL);
        }
    }
    return out;
}

/* Fetches a new access token for pf and scopes over lti_http and caches it; counts the
 * fetch in *fetched. */
static lti_status_t fetch_token(apr_pool_t *p, lti_ags_cache_t *cache,
                                const lti_ags_platform_t *pf, const char *scopes, int64_t now,
                                const lti_http_opts_t *opts, int *fetched, const char **token,
                                lti_err_t *err)
{
    lti_http_req_t req;
    lti_http_resp_t resp;
    lti_ags_token_t tok;
    lti_status_t rv;

    *token = NULL;
    rv = lti_ags_token_request(p, pf->token_url, pf->client_id, pf->kid, pf->private_pem,
                               scopes, now, &req, err);
    if (rv != LTI_OK) {
        return rv;
    }
    (*fetched)++;
    rv = lti_http_request(p, &req, opts, &resp, err);
    if (rv != LTI_OK) {
        return rv;
    }
    rv = lti_ags_token_parse(p, resp.status, resp.content_type, resp.body, resp.len, now, &tok,
                             err);
    if (rv != LTI_OK) {
        return rv;
    }
    lti_ags_cache_put(cache, pf->id, scopes, &tok, now);
    *token = tok.access_token;
    return LTI_OK;
}

/* A token for pf and scopes: the cached one, else a new one. */
static lti_status_t get_token(apr_pool_t *p, lti_ags_cache_t *cache,
                              const lti_ags_platform_t *pf, const char *scopes, int64_t now,
                              const lti_http_opts_t *opts, int *fetched, const char **token,
                              lti_err_t *err)
{
    *token = lti_ags_cache_get(cache, p, pf->id, scopes, now);
    if (*token != NULL) {
        return LTI_OK;
    }
    return fetch_token(p, cache, pf, scopes, now, opts, fetched, token, err);
}

/* Sends req (req->bearer: the token in use); on 401 drops that token, fetches one new token
 * and sends once more.  LTI_OK with the last answer in resp (any status); a transport
 * error, or the token endpoint's error (*token_failed set). */
static lti_status_t send_authed(apr_pool_t *p, lti_ags_cache_t *cache,
                                const lti_ags_platform_t *pf, const char *scopes, int64_t now,
                                const lti_http_opts_t *opts, lti_http_req_t *req,
                                lti_http_resp_t *resp, int *fetched, int *token_failed,
                                lti_err_t *err)
{
    lti_status_t rv;
    const char *token;

    *token_failed = 0;
    rv = lti_http_request(p, req, opts, resp, err);
    if (rv != LTI_OK || resp->status != 401) {
        return rv;
    }
    lti_ags_cache_drop(cache, pf->id, scopes, req->bearer);
    rv = fetch_token(p, cache, pf, scopes, now, opts, fetched, &token, err);
    if (rv != LTI_OK) {
        *token_failed = 1;
        return rv;
    }
    req->bearer = token;
    rv = lti_http_request(p, req, opts, resp, err);
    if (rv == LTI_OK && resp->status == 401) {
        /* A fresh token refused too: the platform may be changing keys. */
        lti_ags_cache_drop(cache, pf->id, scopes, token);
    }
    return rv;
}

/* Records a failure in res: outcome, reason (err's when set); returns rv. */
static lti_status_t fail(lti_ags_result_t *res, lti_ags_outcome_t outcome, lti_status_t rv,
                         const lti_err_t *err, const char *fallback)
{
    res->outcome = outcome;
    res->reason = err->reason ? err->reason : fallback;
    return rv;
}

/* The outcome of a transport error: no answer or an answer over the cap is for later;
 * anything else (a URL never allowed, a bad token) will not get better. */
static lti_ags_outcome_t transport_outcome(lti_status_t rv)
{
    return rv == LTI_ERR_UPSTREAM || rv == LTI_ERR_TOO_LARGE ? LTI_AGS_RETRY : LTI_AGS_FINAL;
}

/* Records an HTTP answer that is not 2xx in res and err (a second 401 is for later). */
static lti_status_t fail_status(lti_ags_result_t *res, long status, const char *what,
                                const char *url, lti_err_t *err)
{
    const char *reason;
    lti_ags_outcome_t o = lti_ags_classify(status, &reason);

    res->status = status;
    lti_err_set(err, LTI_ERR_UPSTREAM, reason, "the platform answered HTTP %ld to %s at %.200s",
                status, what, url);
    return fail(res, o == LTI_AGS_REAUTH ? LTI_AGS_RETRY : o, LTI_ERR_UPSTREAM, err, reason);
}

lti_status_t lti_ags_send_score(apr_pool_t *p, lti_ags_cache_t *cache,
                                const lti_ags_platform_t *pf, const char *scores_url,
                                const lti_ags_score_t *score, int64_t now,
                                const lti_http_opts_t *opts, lti_ags_result_t *res,
                                lti_err_t *err)
{
    const char *scopes = pf->scopes ? pf->scopes : LTI_AGS_SCOPE_SCORE;
    const char *token, *body;
    lti_http_req_t req;
    lti_http_resp_t resp;
    lti_status_t rv;
    lti_err_t local;
    int token_failed;

    if (err == NULL) {
        err = &local;
    }
    lti_err_clear(err);
    memset(res, 0, sizeof(*res));
    /* A score that cannot be built never will be: give up before asking for a token. */
    rv = score_body(p, score, &body, err);
    if (rv == LTI_OK && empty(scores_url)) {
        rv = lti_err_set(err, LTI_ERR_MISSING, "ags_arg", "no scores URL");
    }
    if (rv == LTI_OK) {
        rv = lti_http_check_url(p, scores_url, opts, err);
    }
    if (rv != LTI_OK) {
        return fail(res, LTI_AGS_FINAL, rv, err, "ags_bad_score");
    }
    rv = get_token(p, cache, pf, scopes, now, opts, &res->tokens_fetched, &token, err);
    if (rv != LTI_OK) {
        return fail(res, LTI_AGS_RETRY, rv, err, "ags_token_failed");
    }
    rv = lti_ags_score_request(p, scores_url, token, score, &req, err);
    if (rv != LTI_OK) {
        return fail(res, LTI_AGS_FINAL, rv, err, "ags_bad_score");
    }
    rv = send_authed(p, cache, pf, scopes, now, opts, &req, &resp, &res->tokens_fetched,
                     &token_failed, err);
    if (rv != LTI_OK) {
        return fail(res, token_failed ? LTI_AGS_RETRY : transport_outcome(rv), rv, err,
                    "ags_network");
    }
    res->status = resp.status;
    if (lti_ags_classify(resp.status, &res->reason) == LTI_AGS_DONE) {
        res->outcome = LTI_AGS_DONE;
        return LTI_OK;
    }
    return fail_status(res, resp.status, apr_psprintf(p, "the score for user %.64s",
                                                      score->user_id),
                       scores_url, err);
}

lti_status_t lti_ags_lineitem_resolve(apr_pool_t *p, lti_ags_cache_t *cache,
                                      const lti_ags_platform_t *pf,
                                      const lti_ags_claim_t *claim,
                                      const lti_ags_lineitem_t *li, int64_t now,
                                      const lti_http_opts_t *opts, const char **lineitem_url,
                                      lti_ags_result_t *res, lti_err_t *err)
{
    const char *scopes, *container, *token;
    lti_ags_choice_t choice;
    lti_http_req_t req;
    lti_http_resp_t resp;
    lti_status_t rv;
    lti_err_t local;
    int token_failed;

    if (err == NULL) {
        err = &local;
    }
    lti_err_clear(err);
    memset(res, 0, sizeof(*res));
    *lineitem_url = NULL;
    rv = lti_ags_lineitem_choose(claim, &choice, &container, err);
    if (rv != LTI_OK) {
        return fail(res, LTI_AGS_FINAL, rv, err, "ags_no_lineitem");
    }
    if (choice == LTI_AGS_LINEITEM_KNOWN) {
        *lineitem_url = container;
        res->outcome = LTI_AGS_DONE;
        res->reason = "ags_done";
        return LTI_OK;
    }
    scopes = pf->scopes ? pf->scopes : lti_ags_token_scopes(p, claim);
    rv = get_token(p, cache, pf, scopes, now, opts, &res->tokens_fetched, &token, err);
    if (rv != LTI_OK) {
        return fail(res, LTI_AGS_RETRY, rv, err, "ags_token_failed");
    }
    /* Find ... */
    rv = lti_ags_lineitems_find_request(p, container, token, li ? li->resource_link_id : NULL,
                                        li ? li->tag : NULL, &req, err);
    if (rv != LTI_OK) {
        return fail(res, LTI_AGS_FINAL, rv, err, "ags_bad_url");
    }
    rv = send_authed(p, cache, pf, scopes, now, opts, &req, &resp, &res->tokens_fetched,
                     &token_failed, err);
    if (rv != LTI_OK) {
        return fail(res, token_failed ? LTI_AGS_RETRY : transport_outcome(rv), rv, err,
                    "ags_network");
    }
    res->status = resp.status;
    if (resp.status < 200 || resp.status > 299) {
        return fail_status(res, resp.status, "the line item search", req.url, err);
    }
    rv = lti_ags_lineitems_find_parse(p, resp.status, resp.content_type, resp.body, resp.len,
                                      li ? li->resource_link_id : NULL, li ? li->tag : NULL,
                                      lineitem_url, err);
    if (rv != LTI_OK) {
        return fail(res, LTI_AGS_RETRY, rv, err, "ags_lineitems_invalid");
    }
    if (*lineitem_url != NULL) {
        res->outcome = LTI_AGS_DONE;
        res->reason = "ags_done";
        return LTI_OK;
    }
    /* ... or create (the token in use may be a new one after a 401). */
    if (!lti_ags_has_scope(claim->scope, LTI_AGS_SCOPE_LINEITEM)) {
        lti_err_set(err, LTI_ERR_FORBIDDEN, "ags_no_lineitem_scope", "no line item to score "
                    "and the platform does not let the tool create one (no AGS lineitem "
                    "scope)");
        return fail(res, LTI_AGS_FINAL, LTI_ERR_FORBIDDEN, err, "ags_no_lineitem_scope");
    }
    token = req.bearer;
    rv = lti_ags_lineitem_create_request(p, container, token, li, &req, err);
    if (rv != LTI_OK) {
        return fail(res, LTI_AGS_FINAL, rv, err, "ags_arg");
    }
    rv = send_authed(p, cache, pf, scopes, now, opts, &req, &resp, &res->tokens_fetched,
                     &token_failed, err);
    if (rv != LTI_OK) {
        return fail(res, token_failed ? LTI_AGS_RETRY : transport_outcome(rv), rv, err,
                    "ags_network");
    }
    res->status = resp.status;
    if (resp.status < 200 || resp.status > 299) {
        return fail_status(res, resp.status, "the new line item", container, err);
    }
    rv = lti_ags_lineitem_create_parse(p, resp.status, resp.content_type, resp.body, resp.len,
                                       lineitem_url, err);
    if (rv != LTI_OK) {
        return fail(res, LTI_AGS_RETRY, rv, err, "ags_lineitem_invalid");
    }
    res->outcome = LTI_AGS_DONE;
    res->reason = "ags_done";
    return LTI_OK;
}
