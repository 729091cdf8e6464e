/* lti_http.c -- outbound HTTP(S) over libcurl (one easy handle per call for now; the
 * outbox worker will keep connections alive with curl multi). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_uri.h>
#include <curl/curl.h>

#include "lti_http.h"

typedef struct sink_t {
    apr_pool_t *pool;
    char *buf;
    size_t len, cap, max;
    int too_large;
    int64_t max_age;
    const char *content_type;
    const char *link;           /* Link header values joined with ", " (NRPS paging) */
} sink_t;

/* Largest Link header kept, in bytes. */
#define LINK_MAX 8192

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    sink_t *k = arg;
    size_t add = size * n;

    if (k->len + add > k->max) {
        k->too_large = 1;
        return 0;               /* makes curl stop with CURLE_WRITE_ERROR */
    }
    if (k->len + add + 1 > k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16384;
        char *bigger;

        while (cap < k->len + add + 1) {
            cap *= 2;
        }
        bigger = apr_palloc(k->pool, cap);
        if (k->len) {
            memcpy(bigger, k->buf, k->len);
        }
        k->buf = bigger;
        k->cap = cap;
    }
    memcpy(k->buf + k->len, data, add);
    k->len += add;
    return add;
}

/* Reads Cache-Control max-age from the response headers. */
static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    sink_t *k = arg;
    size_t len = size * n;
    char *line = apr_pstrmemdup(k->pool, data, len);

    /* Header names and Cache-Control directives are case-insensitive (RFC 9111 5.2). */
    for (char *c = line; *c; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    if (strncmp(line, "cache-control:", 14) == 0) {
        const char *m = strstr(line, "max-age=");

        if (m != NULL && isdigit((unsigned char)m[8])) {
            k->max_age = strtoll(m + 8, NULL, 10);
        }
        if (strstr(line, "no-store") != NULL || strstr(line, "no-cache") != NULL) {
            k->max_age = 0;
        }
    }
    else if (strncmp(line, "link:", 5) == 0) {
        /* The value as sent (URLs are case-sensitive), without the line end. */
        char *v = apr_pstrmemdup(k->pool, data + 5, len - 5);
        size_t vl;

        v += strspn(v, " \t");
        vl = strlen(v);
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) {
            v[--vl] = '\0';
        }
        if (vl > 0 && (k->link ? strlen(k->link) : 0) + vl < LINK_MAX) {
            k->link = k->link ? apr_pstrcat(k->pool, k->link, ", ", v, NULL) : v;
        }
    }
    return len;
}

lti_status_t lti_http_check_url(apr_pool_t *p, const char *url, const lti_http_opts_t *opts,
                                lti_err_t *err)
{
    apr_uri_t u;

    if (url == NULL || apr_uri_parse(p, url, &u) != APR_SUCCESS || u.scheme == NULL
        || u.hostname == NULL || *u.hostname == '\0') {
        return lti_err_set(err, LTI_ERR_MALFORMED, "http_bad_url", "'%s' is not an absolute "
                           "URL", url ? url : "");
    }
    if (strcasecmp(u.scheme, "https") == 0) {
        return LTI_OK;
    }
    if (strcasecmp(u.scheme, "http") == 0 && opts->allow_insecure_loopback
        && (strcmp(u.hostname, "127.0.0.1") == 0 || strcmp(u.hostname, "::1") == 0
            || strcasecmp(u.hostname, "localhost") == 0)) {
        return LTI_OK;
    }
    return lti_err_set(err, LTI_ERR_FORBIDDEN, "http_insecure_url",
                       "'%s' is not https (plain http is allowed only to 127.0.0.1 with "
                       "PTechAllowInsecureLoopback On)", url);
}

/* One request: GET (body NULL) or POST of body_len bytes of body with content_type, an
 * optional bearer token and Accept header; the URL check, caps (max_bytes, or
 * opts->max_bytes when 0) and TLS rules of lti_http.h. */
static lti_status_t perform(apr_pool_t *p, const char *url, const char *accept,
                            const char *content_type, const char *body, size_t body_len,
                            const char *bearer, size_t max_bytes, const lti_http_opts_t *opts,
                            lti_http_resp_t *resp, lti_err_t *err)
{
    CURL *c;
    CURLcode rc;
    struct curl_slist *hdrs = NULL;
    sink_t k;
    char errbuf[CURL_ERROR_SIZE] = "";
    lti_status_t rv;

    memset(resp, 0, sizeof(*resp));
    if ((rv = lti_http_check_url(p, url, opts, err)) != LTI_OK) {
        return rv;
    }
    if (bearer != NULL && (*bearer == '\0' || strpbrk(bearer, "\r\n") != NULL)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "http_bad_token",
                           "the bearer token is empty or holds a line break");
    }
    memset(&k, 0, sizeof(k));
    k.pool = p;
    k.max = max_bytes ? max_bytes : opts->max_bytes;
    k.max_age = -1;
    if ((c = curl_easy_init()) == NULL) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "http_failed", "curl_easy_init failed");
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, opts->allow_insecure_loopback ? "http,https"
                                                                             : "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)(opts->timeout > 0 ? opts->timeout : 10));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)(opts->timeout > 0 ? opts->timeout : 10));
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mod_ptech");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &k);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)k.max);
    if (opts->ca_file) {
        curl_easy_setopt(c, CURLOPT_CAINFO, opts->ca_file);
    }
    if (opts->proxy) {
        curl_easy_setopt(c, CURLOPT_PROXY, opts->proxy);
    }
    else {
        curl_easy_setopt(c, CURLOPT_PROXY, "");   /* ignore http_proxy in the environment */
    }
    if (accept) {
        hdrs = curl_slist_append(hdrs, apr_pstrcat(p, "Accept: ", accept, NULL));
    }
    if (body != NULL) {
        hdrs = curl_slist_append(hdrs, apr_pstrcat(p, "Content-Type: ", content_type, NULL));
        /* No "Expect: 100-continue" round trip (PHP platforms answer it, slowly). */
        hdrs = curl_slist_append(hdrs, "Expect:");
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (bearer != NULL) {
        /* Never logged: curl's verbose mode stays off. */
        hdrs = curl_slist_append(hdrs, apr_pstrcat(p, "Authorization: Bearer ", bearer, NULL));
    }
    if (hdrs) {
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    }
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        char *ct = NULL, *loc = NULL;

        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        resp->content_type = ct ? apr_pstrdup(p, ct) : NULL;
        /* The caller decides whether a redirect may be followed (badge issuer hosts). */
        curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc);
        resp->location = loc ? apr_pstrdup(p, loc) : NULL;
        resp->body = k.buf ? k.buf : "";
        if (k.buf) {
            k.buf[k.len] = '\0';
        }
        resp->len = k.len;
        resp->max_age = k.max_age;
        resp->link = k.link;
        rv = LTI_OK;
    }
    else if (k.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        rv = lti_err_set(err, LTI_ERR_TOO_LARGE, "http_too_large",
                         "%s answered with more than %lu bytes", url,
                         (unsigned long)k.max);
    }
    else {
        rv = lti_err_set(err, LTI_ERR_UPSTREAM, "http_failed", "cannot %s %s: %s",
                         body ? "post to" : "fetch", url,
                         errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rv;
}

lti_status_t lti_http_get(apr_pool_t *p, const char *url, const char *accept,
                          const lti_http_opts_t *opts, lti_http_resp_t *resp, lti_err_t *err)
{
    return perform(p, url, accept, NULL, NULL, 0, NULL, 0, opts, resp, err);
}

lti_status_t lti_http_post_json(apr_pool_t *p, const char *url, const char *json,
                                const char *bearer, const lti_http_opts_t *opts,
                                lti_http_resp_t *resp, lti_err_t *err)
{
    if (json == NULL) {
        memset(resp, 0, sizeof(*resp));
        return lti_err_set(err, LTI_ERR_INTERNAL, "http_failed", "no body to post");
    }
    return perform(p, url, "application/json", "application/json", json, strlen(json), bearer,
                   0, opts, resp, err);
}

lti_status_t lti_http_request(apr_pool_t *p, const lti_http_req_t *req,
                              const lti_http_opts_t *opts, lti_http_resp_t *resp, lti_err_t *err)
{
    const char *ct = req->content_type;

    memset(resp, 0, sizeof(*resp));
    if (req->method == NULL || req->url == NULL) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "http_failed", "no method or URL");
    }
    if (strcmp(req->method, "GET") == 0) {
        if (req->body != NULL) {
            return lti_err_set(err, LTI_ERR_INTERNAL, "http_failed", "a GET with a body");
        }
        return perform(p, req->url, req->accept, NULL, NULL, 0, req->bearer, req->max_bytes,
                       opts, resp, err);
    }
    if (strcmp(req->method, "POST") != 0) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "http_failed", "method %s is not supported",
                           req->method);
    }
    if (ct == NULL || *ct == '\0' || strpbrk(ct, "\r\n") != NULL
        || (req->accept != NULL && strpbrk(req->accept, "\r\n") != NULL)) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "http_failed",
                           "a POST needs a Content-Type without line breaks");
    }
    return perform(p, req->url, req->accept, ct, req->body ? req->body : "",
                   req->body ? req->body_len : 0, req->bearer, req->max_bytes, opts, resp, err);
}
