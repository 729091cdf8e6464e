/* lti_oauth1.c -- OAuth 1.0a (RFC 5849) signatures as LTI 1.1 uses them.
 *
 * Only HMAC-SHA1 with an empty token secret is accepted on the way in (what LTI 1.1 and
 * Moodle use); PLAINTEXT and RSA-SHA1 are refused.  The MAC and the digests are OpenSSL's;
 * signatures are compared in constant time.  Time window and nonce are the caller's
 * (lti_launch11.c, the outcomes code), this file checks only the signature.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <apr_uri.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lti_oauth1.h"

/* Most query parameters a signed URL may carry. */
#define OAUTH1_MAX_QUERY_PARAMS 1000

/* One parameter after RFC 5849 3.4.1.3.2 encoding. */
typedef struct enc_param_t {
    const char *k, *v;
} enc_param_t;

/* The query of url (between '?' and '#'), or NULL when there is none. */
static const char *url_query(const char *url, size_t *len)
{
    const char *q = url + strcspn(url, "?#");

    if (*q != '?') {
        return NULL;
    }
    q++;
    *len = strcspn(q, "#");
    return q;
}

static int is_digits(const char *s, size_t len)
{
    if (len == 0) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return 1;
}

static char *lower_dup(apr_pool_t *p, const char *s, size_t len)
{
    char *out = apr_pstrmemdup(p, s, len);

    for (char *c = out; *c; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    return out;
}

/* RFC 5849 3.4.1.2 base string URI; NULL with err (MALFORMED "oauth_bad_url") for anything
 * but an absolute http(s) URL with a host and a port in 1..65535.  APR splits the URL. */
const char *lti_oauth1_base_uri(apr_pool_t *p, const char *url, lti_err_t *err)
{
    apr_uri_t u;
    char *scheme, *host;
    const char *path;
    long port = 0;
    int https;

    if (url == NULL || apr_uri_parse(p, url, &u) != APR_SUCCESS || u.scheme == NULL
        || strstr(url, "://") == NULL) {
        lti_err_set(err, LTI_ERR_MALFORMED, "oauth_bad_url",
                    "the signed URL is not an absolute http(s) URL");
        return NULL;
    }
    scheme = lower_dup(p, u.scheme, strlen(u.scheme));
    https = strcmp(scheme, "https") == 0;
    if (!https && strcmp(scheme, "http") != 0) {
        lti_err_set(err, LTI_ERR_MALFORMED, "oauth_bad_url",
                    "the signed URL must be http or https");
        return NULL;
    }
    if (u.hostname == NULL || *u.hostname == '\0') {
        lti_err_set(err, LTI_ERR_MALFORMED, "oauth_bad_url", "the signed URL has no host");
        return NULL;
    }
    /* APR tolerates junk after an IPv6 literal ("[::1]x"): only a port may follow. */
    const char *close = u.hostinfo ? strchr(u.hostinfo, ']') : NULL;

    if (close != NULL && close[1] != '\0' && close[1] != ':') {
        lti_err_set(err, LTI_ERR_MALFORMED, "oauth_bad_url",
                    "the signed URL has a malformed host");
        return NULL;
    }
    /* APR drops the brackets of an IPv6 literal; the base string keeps them. */
    host = lower_dup(p, u.hostname, strlen(u.hostname));
    if (strchr(host, ':') != NULL) {
        host = apr_pstrcat(p, "[", host, "]", NULL);
    }
    if (u.port_str != NULL && *u.port_str != '\0') {
        size_t n = strlen(u.port_str);

        if (is_digits(u.port_str, n) && n <= 5) {
            port = strtol(u.port_str, NULL, 10);
        }
        if (port < 1 || port > 65535) {
            lti_err_set(err, LTI_ERR_MALFORMED, "oauth_bad_url",
                        "the signed URL has an invalid port");
            return NULL;
        }
    }
    path = u.path && *u.path ? u.path : "/";
    if (port != 0 && port != (https ? 443 : 80)) {
        return apr_psprintf(p, "%s://%s:%ld%s", scheme, host, port, path);
    }
    return apr_pstrcat(p, scheme, "://", host, path, NULL);
}

static int enc_param_cmp(const void *a, const void *b)
{
    const enc_param_t *x = a, *y = b;
    int c = strcmp(x->k, y->k);

    return c != 0 ? c : strcmp(x->v, y->v);
}

static void enc_push(apr_pool_t *p, apr_array_header_t *out, const lti_kv_t *kv)
{
    enc_param_t *e;

    if (strcmp(kv->key, "oauth_signature") == 0) {
        return;
    }
    e = apr_array_push(out);
    e->k = lti_pct_encode(p, kv->key);
    e->v = lti_pct_encode(p, kv->val ? kv->val : "");
}

/* RFC 5849 3.4.1 base string over the URL's query parameters and params, oauth_signature
 * excluded; NULL with err set for a bad URL or query (MALFORMED, TOO_LARGE). */
const char *lti_oauth1_base_string(apr_pool_t *p, const char *method, const char *url,
                                   const apr_array_header_t *params, lti_err_t *err)
{
    const char *uri, *query;
    apr_array_header_t *qkv, *enc;
    const enc_param_t *e;
    size_t qlen = 0, total = 0, o = 0;
    char *norm, *m;
    int n;

    if (method == NULL || *method == '\0') {
        lti_err_set(err, LTI_ERR_MALFORMED, "oauth_bad_method", "no HTTP method to sign");
        return NULL;
    }
    uri = lti_oauth1_base_uri(p, url, err);
    if (uri == NULL) {
        return NULL;
    }
    qkv = lti_kv_make(p, 8);
    query = url_query(url, &qlen);
    if (query != NULL
        && lti_form_parse(p, query, qlen, OAUTH1_MAX_QUERY_PARAMS, qkv, err) != LTI_OK) {
        return NULL;
    }

    n = qkv->nelts + (params ? params->nelts : 0);
    enc = apr_array_make(p, n > 0 ? n : 1, sizeof(enc_param_t));
    for (int i = 0; i < qkv->nelts; i++) {
        enc_push(p, enc, &((const lti_kv_t *)qkv->elts)[i]);
    }
    for (int i = 0; params && i < params->nelts; i++) {
        enc_push(p, enc, &((const lti_kv_t *)params->elts)[i]);
    }
    qsort(enc->elts, (size_t)enc->nelts, sizeof(enc_param_t), enc_param_cmp);

    e = (const enc_param_t *)enc->elts;
    for (int i = 0; i < enc->nelts; i++) {
        total += strlen(e[i].k) + strlen(e[i].v) + 2;
    }
    norm = apr_palloc(p, total + 1);
    for (int i = 0; i < enc->nelts; i++) {
        size_t kl = strlen(e[i].k), vl = strlen(e[i].v);

        if (i > 0) {
            norm[o++] = '&';
        }
        memcpy(norm + o, e[i].k, kl);
        o += kl;
        norm[o++] = '=';
        memcpy(norm + o, e[i].v, vl);
        o += vl;
    }
    norm[o] = '\0';

    m = apr_pstrdup(p, method);
    for (char *c = m; *c; c++) {
        *c = (char)toupper((unsigned char)*c);
    }
    return apr_pstrcat(p, lti_pct_encode(p, m), "&", lti_pct_encode(p, uri), "&",
                       lti_pct_encode(p, norm), NULL);
}

/* Wipes a NUL-terminated string that held key material. */
static void cleanse_str(const char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse((void *)s, strlen(s));
    }
}

/* base64 HMAC-SHA1 of base; the key is wiped after use.  NULL if base or consumer_secret is
 * NULL or OpenSSL fails. */
const char *lti_oauth1_hmac_sha1(apr_pool_t *p, const char *base, const char *consumer_secret,
                                 const char *token_secret)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    apr_pool_t *tmp;
    const char *cs, *ts, *key, *out = NULL;

    if (base == NULL || consumer_secret == NULL) {
        return NULL;
    }
    /* The key is built in a scratch pool and wiped before it is given back. */
    if (apr_pool_create(&tmp, p) != APR_SUCCESS) {
        return NULL;
    }
    cs = lti_pct_encode(tmp, consumer_secret);
    ts = lti_pct_encode(tmp, token_secret ? token_secret : "");
    key = apr_pstrcat(tmp, cs, "&", ts, NULL);
    if (HMAC(EVP_sha1(), key, (int)strlen(key), (const unsigned char *)base, strlen(base),
             md, &mdlen) != NULL) {
        out = lti_base64(p, md, mdlen);
    }
    cleanse_str(cs);
    cleanse_str(ts);
    cleanse_str(key);
    OPENSSL_cleanse(md, sizeof(md));
    apr_pool_destroy(tmp);
    return out;
}

/* The value of key in the query parameters or params (first match), or NULL. */
static const char *param_get(const apr_array_header_t *qkv, const apr_array_header_t *params,
                             const char *key)
{
    const char *v = lti_kv_get(qkv, key);

    return v != NULL ? v : (params ? lti_kv_get(params, key) : NULL);
}

/* Name of the first oauth_* parameter that occurs twice in qkv and params, or NULL. */
static const char *duplicate_oauth_param(const apr_array_header_t *qkv,
                                         const apr_array_header_t *params)
{
    const apr_array_header_t *lists[2] = {qkv, params};

    for (int l = 0; l < 2; l++) {
        const lti_kv_t *e = lists[l] ? (const lti_kv_t *)lists[l]->elts : NULL;

        for (int i = 0; e && i < lists[l]->nelts; i++) {
            if (strncmp(e[i].key, "oauth_", 6) == 0
                && lti_kv_count(qkv, e[i].key) + (params ? lti_kv_count(params, e[i].key) : 0)
                       > 1) {
                return e[i].key;
            }
        }
    }
    return NULL;
}

/* Checks the HMAC-SHA1 signature of a request in constant time; the refusals and their
 * reasons are listed in lti_oauth1.h.  Time and nonce are the caller's. */
lti_status_t lti_oauth1_verify(apr_pool_t *p, const char *method, const char *url,
                               const apr_array_header_t *params, const char *secret,
                               lti_err_t *err)
{
    apr_array_header_t *qkv = lti_kv_make(p, 8);
    const char *query, *sigmethod, *version, *sig, *dup, *base, *expect;
    size_t qlen = 0;
    lti_status_t st;
    lti_err_t local;

    if (err == NULL) {
        err = &local;
    }
    if (secret == NULL) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "oauth_no_secret",
                           "no consumer secret to verify the signature with");
    }
    if (url != NULL) {
        query = url_query(url, &qlen);
        if (query != NULL) {
            st = lti_form_parse(p, query, qlen, OAUTH1_MAX_QUERY_PARAMS, qkv, err);
            if (st != LTI_OK) {
                return st;
            }
        }
    }

    sigmethod = param_get(qkv, params, "oauth_signature_method");
    if (sigmethod == NULL || *sigmethod == '\0') {
        return lti_err_set(err, LTI_ERR_UNSUPPORTED, "oauth_method",
                           "the request has no oauth_signature_method; only HMAC-SHA1 "
                           "is accepted");
    }
    if (strcmp(sigmethod, "HMAC-SHA1") != 0) {
        return lti_err_set(err, LTI_ERR_UNSUPPORTED, "oauth_method",
                           "oauth_signature_method \"%.32s\" is not supported; set the tool "
                           "to sign with HMAC-SHA1", sigmethod);
    }
    dup = duplicate_oauth_param(qkv, params);
    if (dup != NULL) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "oauth_duplicate_param",
                           "the OAuth parameter %.40s appears more than once", dup);
    }
    version = param_get(qkv, params, "oauth_version");
    if (version != NULL && strcmp(version, "1.0") != 0) {
        return lti_err_set(err, LTI_ERR_UNSUPPORTED, "oauth_version",
                           "oauth_version \"%.16s\" is not supported; only 1.0 is", version);
    }
    sig = param_get(qkv, params, "oauth_signature");
    if (sig == NULL || *sig == '\0') {
        return lti_err_set(err, LTI_ERR_MISSING, "oauth_missing_signature",
                           "the request has no oauth_signature");
    }

    base = lti_oauth1_base_string(p, method, url, params, err);
    if (base == NULL) {
        return err->status;
    }
    expect = lti_oauth1_hmac_sha1(p, base, secret, NULL);
    if (expect == NULL) {
        return lti_err_set(err, LTI_ERR_CRYPTO, "oauth_hmac_failed", "HMAC-SHA1 failed");
    }
    if (!lti_ct_streq(expect, sig)) {
        return lti_err_set(err, LTI_ERR_SIGNATURE, "oauth_bad_signature",
                           "the OAuth signature does not verify: check that the LMS uses "
                           "this consumer's secret and signs the URL %.200s",
                           lti_oauth1_base_uri(p, url, NULL));
    }
    return LTI_OK;
}

/* Adds the oauth_* parameters and the signature to params.  MALFORMED if params already
 * holds one of them; on any error params may hold some of them and must not be sent. */
lti_status_t lti_oauth1_sign(apr_pool_t *p, const char *method, const char *url,
                             apr_array_header_t *params, const char *consumer_key,
                             const char *secret, int64_t now, lti_err_t *err)
{
    static const char *const own[] = {
        "oauth_consumer_key", "oauth_nonce", "oauth_timestamp", "oauth_signature_method",
        "oauth_version", "oauth_signature",
    };
    const char *nonce, *base, *sig;
    lti_err_t local;

    if (err == NULL) {
        err = &local;
    }
    if (params == NULL || consumer_key == NULL || secret == NULL) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "oauth_sign_args",
                           "lti_oauth1_sign needs params, a consumer key and a secret");
    }
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
        if (lti_kv_get(params, own[i]) != NULL) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "oauth_duplicate_param",
                               "the parameters to sign already hold %s", own[i]);
        }
    }
    nonce = lti_random_hex(p, 16);
    if (nonce == NULL) {
        return lti_err_set(err, LTI_ERR_CRYPTO, "random_failed", "no random bytes for a nonce");
    }
    lti_kv_add(params, "oauth_consumer_key", consumer_key);
    lti_kv_add(params, "oauth_nonce", nonce);
    lti_kv_add(params, "oauth_timestamp", apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)now));
    lti_kv_add(params, "oauth_signature_method", "HMAC-SHA1");
    lti_kv_add(params, "oauth_version", "1.0");

    base = lti_oauth1_base_string(p, method, url, params, err);
    if (base == NULL) {
        return err->status;
    }
    sig = lti_oauth1_hmac_sha1(p, base, secret, NULL);
    if (sig == NULL) {
        return lti_err_set(err, LTI_ERR_CRYPTO, "oauth_hmac_failed", "HMAC-SHA1 failed");
    }
    lti_kv_add(params, "oauth_signature", sig);
    return LTI_OK;
}

/* base64 SHA-1 of len bytes of body; NULL if OpenSSL fails. */
const char *lti_oauth1_body_hash(apr_pool_t *p, const void *body, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(body ? body : "", body ? len : 0, md, &mdlen, EVP_sha1(), NULL) != 1) {
        return NULL;
    }
    return lti_base64(p, md, mdlen);
}

lti_status_t lti_oauth1_parse_header(apr_pool_t *p, const char *header,
                                     apr_array_header_t *params, lti_err_t *err)
{
    /* Rewritten as a form ("k=v&k=v"), decoded by lti_form_parse: the values are RFC 3986
     * encoded, so they hold no raw '&', '+' or '"'. */
    size_t len = header ? strlen(header) : 0;
    char *form = apr_palloc(p, len + 1);
    size_t o = 0;
    const char *s = header;

    if (header == NULL || strncasecmp(header, "OAuth ", 6) != 0) {
        return lti_err_set(err, LTI_ERR_MISSING, "oauth_header",
                           "no OAuth Authorization header");
    }
    s += 6;
    for (;;) {
        const char *k, *v, *q;

        s += strspn(s, " \t,");
        if (*s == '\0') {
            break;
        }
        k = s;
        s += strcspn(s, "=\" ,");
        if (s == k || s[0] != '=' || s[1] != '"' || (q = strchr(s + 2, '"')) == NULL) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "oauth_header",
                               "the OAuth Authorization header is malformed");
        }
        v = s + 2;
        if (memchr(v, '&', q - v) != NULL || memchr(v, '+', q - v) != NULL) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "oauth_header",
                               "the OAuth Authorization header is not percent-encoded");
        }
        if (!(s - k == 5 && strncasecmp(k, "realm", 5) == 0)) {
            if (o > 0) {
                form[o++] = '&';
            }
            memcpy(form + o, k, s - k + 1);
            o += s - k + 1;
            memcpy(form + o, v, q - v);
            o += q - v;
        }
        s = q + 1;
    }
    form[o] = '\0';
    return lti_form_parse(p, form, o, 32, params, err);
}
