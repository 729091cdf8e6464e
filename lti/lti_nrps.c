/* lti_nrps.c -- NRPS 2.0 membership pages: the claim, the request, the container (jansson,
 * duplicates refused), the Link header's next page, the paged fetch and the sync into the
 * store.  The access token comes from lti_ags's client_credentials builder and parser. */
#include <string.h>
#include <strings.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "lti_ags.h"
#include "lti_jose.h"
#include "lti_launch11.h"
#include "lti_nrps.h"
#include "lti_outbox.h"
#include "lti_util.h"

lti_status_t lti_nrps_claim_url(apr_pool_t *p, const char *link_claims_json, const char **url,
                                lti_err_t *err)
{
    json_t *o = link_claims_json ? lti_json_pooled(p, json_loads(link_claims_json,
                                                                 JSON_REJECT_DUPLICATES, NULL))
                                 : NULL;
    const json_t *nrps = json_is_object(o) ? json_object_get(o, "nrps") : NULL;
    const json_t *u = json_is_object(nrps) ? json_object_get(nrps, "context_memberships_url")
                                           : NULL;

    *url = NULL;
    if (nrps == NULL) {
        return lti_err_set(err, LTI_ERR_NOT_FOUND, "nrps_no_claim",
                           "the link came with no Names and Role Provisioning claim");
    }
    if (!json_is_string(u) || !lti_is_http_url(p, json_string_value(u))) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "nrps_claim",
                           "the NRPS claim has no context_memberships_url that is an "
                           "http(s) URL");
    }
    *url = apr_pstrdup(p, json_string_value(u));
    return LTI_OK;
}

void lti_nrps_request(const char *url, const char *token, lti_http_req_t *req)
{
    memset(req, 0, sizeof(*req));
    req->method = "GET";
    req->url = url;
    req->accept = LTI_NRPS_MEDIA_TYPE;
    req->bearer = token;
    req->max_bytes = LTI_NRPS_MAX_BYTES;
}

/* A string member of o copied to p when it is a non-empty UTF-8 string, else NULL. */
static const char *opt_str(apr_pool_t *p, const json_t *o, const char *name)
{
    const json_t *v = json_object_get(o, name);
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;

    return s != NULL && *s != '\0' ? apr_pstrdup(p, s) : NULL;
}

lti_status_t lti_nrps_parse(apr_pool_t *p, long status, const char *body, size_t len,
                            apr_array_header_t *members, lti_err_t *err)
{
    json_t *doc, *list, *m;
    size_t i;

    if (status < 200 || status > 299) {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "nrps_http_status",
                           "the platform answered the roster request with HTTP %ld", status);
    }
    doc = body ? lti_json_pooled(p, json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL)) : NULL;
    list = json_is_object(doc) ? json_object_get(doc, "members") : NULL;
    if (!json_is_array(list)) {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "nrps_invalid",
                           "the roster answer is not a membership container (a JSON object "
                           "with a members array)");
    }
    json_array_foreach(list, i, m) {
        lti_roster_member_t *out;
        const json_t *roles = json_object_get(m, "roles"), *r;
        const char *st, *raw = "";
        size_t j;

        if (!json_is_object(m) || opt_str(p, m, "user_id") == NULL) {
            continue;
        }
        out = apr_array_push(members);
        memset(out, 0, sizeof(*out));
        out->user_id = opt_str(p, m, "user_id");
        out->given_name = opt_str(p, m, "given_name");
        out->family_name = opt_str(p, m, "family_name");
        out->full_name = opt_str(p, m, "name");
        out->email = opt_str(p, m, "email");
        json_array_foreach(roles, j, r) {
            if (json_is_string(r)) {
                raw = apr_pstrcat(p, raw, *raw ? "," : "", json_string_value(r), NULL);
            }
        }
        out->roles_raw = raw;
        out->roles = lti_roles_parse(raw);
        st = opt_str(p, m, "status");
        out->active = st == NULL || strcasecmp(st, "Active") == 0;
    }
    return LTI_OK;
}

/* The quote characters around a rel value: ", “ and ” (UTF-8). */
static size_t quote_len(const char *s)
{
    if (*s == '"') {
        return 1;
    }
    if ((unsigned char)s[0] == 0xE2 && (unsigned char)s[1] == 0x80
        && ((unsigned char)s[2] == 0x9C || (unsigned char)s[2] == 0x9D)) {
        return 3;
    }
    return 0;
}

/* Whether the parameters of one link (the text after its '>') have a rel listing next. */
static int rel_is_next(apr_pool_t *p, const char *params)
{
    for (const char *c = params; (c = strchr(c, ';')) != NULL;) {
        const char *v;
        char *val, *last, *t;
        size_t q, n = 0;

        c++;
        c += strspn(c, " \t");
        if (strncasecmp(c, "rel", 3) != 0) {
            continue;
        }
        v = c + 3 + strspn(c + 3, " \t");
        if (*v != '=') {
            continue;
        }
        v++;
        v += strspn(v, " \t");
        q = quote_len(v);
        v += q;
        /* Up to the closing quote, or to the next parameter without quotes. */
        while (v[n] != '\0' && (q ? quote_len(v + n) == 0 : (v[n] != ';' && v[n] != ','))) {
            n++;
        }
        val = apr_pstrmemdup(p, v, n);
        for (t = apr_strtok(val, " \t", &last); t != NULL; t = apr_strtok(NULL, " \t", &last)) {
            if (strcasecmp(t, "next") == 0) {
                return 1;
            }
        }
    }
    return 0;
}

const char *lti_nrps_next_link(apr_pool_t *p, const char *link_header)
{
    const char *c = link_header;

    while (c != NULL && (c = strchr(c, '<')) != NULL) {
        const char *end = strchr(c, '>'), *next;
        const char *params;

        if (end == NULL) {
            return NULL;
        }
        next = strchr(end, '<');
        params = next ? apr_pstrmemdup(p, end + 1, next - end - 1) : end + 1;
        if (rel_is_next(p, params)) {
            return apr_pstrmemdup(p, c + 1, end - c - 1);
        }
        c = next;
    }
    return NULL;
}

lti_status_t lti_nrps_fetch(apr_pool_t *p, const lti_nrps_platform_t *pf, const char *url,
                            const lti_http_opts_t *opts, int64_t now,
                            apr_array_header_t **members, int *pages, lti_err_t *err)
{
    lti_http_req_t req;
    lti_http_resp_t resp;
    lti_ags_token_t tok;
    apr_hash_t *seen = apr_hash_make(p);
    lti_status_t rv;

    *members = apr_array_make(p, 64, sizeof(lti_roster_member_t));
    *pages = 0;
    rv = lti_ags_token_request(p, pf->token_url, pf->client_id, pf->kid, pf->private_pem,
                               LTI_NRPS_SCOPE, now, &req, err);
    if (rv == LTI_OK) {
        rv = lti_http_request(p, &req, opts, &resp, err);
    }
    if (rv == LTI_OK) {
        rv = lti_ags_token_parse(p, resp.status, resp.content_type, resp.body, resp.len, now,
                                 &tok, err);
    }
    while (rv == LTI_OK && url != NULL) {
        if (*pages >= LTI_NRPS_MAX_PAGES || apr_hash_get(seen, url, APR_HASH_KEY_STRING)) {
            return lti_err_set(err, LTI_ERR_UPSTREAM, "nrps_too_many_pages",
                               "the roster has more than %d pages, or its pages loop",
                               LTI_NRPS_MAX_PAGES);
        }
        apr_hash_set(seen, url, APR_HASH_KEY_STRING, url);
        lti_nrps_request(url, tok.access_token, &req);
        rv = lti_http_request(p, &req, opts, &resp, err);
        if (rv == LTI_OK) {
            rv = lti_nrps_parse(p, resp.status, resp.body, resp.len, *members, err);
        }
        (*pages)++;
        url = rv == LTI_OK && resp.link ? lti_nrps_next_link(p, resp.link) : NULL;
    }
    return rv;
}

lti_status_t lti_nrps_sync(apr_pool_t *p, lti_store_t *store, const unsigned char *secret_key,
                           int64_t link_pk, const lti_http_opts_t *opts, int64_t now,
                           int64_t max_age, int *count, lti_err_t *err)
{
    lti_roster_source_t src;
    lti_platform_t pf;
    lti_nrps_platform_t npf;
    apr_array_header_t *members;
    const char *url, *hash;
    int pages;
    lti_status_t rv;

    if (count) {
        *count = -1;
    }
    if ((rv = lti_store_roster_source(store, p, link_pk, &src, err)) != LTI_OK) {
        return rv;
    }
    if (src.context_pk == 0 || (src.synced > 0 && now - src.synced < max_age)) {
        return LTI_OK;
    }
    rv = lti_nrps_claim_url(p, src.claims, &url, err);
    if (rv == LTI_ERR_NOT_FOUND) {
        return LTI_OK;
    }
    if (rv != LTI_OK) {
        return rv;
    }
    hash = src.tenant ? strrchr(src.tenant, '#') : NULL;
    if (hash == NULL || strncmp(src.tenant, "lti13:", 6) != 0) {
        return lti_err_set(err, LTI_ERR_NOT_FOUND, "nrps_tenant",
                           "the link does not belong to an LTI 1.3 platform");
    }
    if (secret_key == NULL) {
        return lti_err_set(err, LTI_ERR_CONFIG, "nrps_no_key",
                           "the tool has no signing key (PTechSecretKeyFile is not set)");
    }
    if ((rv = lti_store_platform_get(store, p, apr_pstrmemdup(p, src.tenant + 6,
                                                              hash - src.tenant - 6),
                                     hash + 1, &pf, err)) != LTI_OK
        || (rv = lti_tool_key_current(p, store, secret_key, &npf.kid, &npf.private_pem, err))
               != LTI_OK) {
        return rv;
    }
    npf.token_url = pf.token_url;
    npf.client_id = pf.client_id;
    if ((rv = lti_nrps_fetch(p, &npf, url, opts, now, &members, &pages, err)) != LTI_OK
        || (rv = lti_store_roster_put(store, src.tenant, src.context_pk, members, now, err))
               != LTI_OK) {
        return rv;
    }
    if (count) {
        *count = members->nelts;
    }
    lti_log(LTI_LOG_INFO, "roster of link %" APR_INT64_T_FMT ": %d member(s) in %d page(s)",
            (apr_int64_t)link_pk, members->nelts, pages);
    return LTI_OK;
}
