/* lti_dynreg.c -- LTI Dynamic Registration 1.0, tool side (see lti_dynreg.h). */
#include <ctype.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_uri.h>
#include <jansson.h>

#include "lti_dynreg.h"
#include "lti_jose.h"
#include "lti_util.h"

#define PLATFORM_CONF "https://purl.imsglobal.org/spec/lti-platform-configuration"
#define TOOL_CONF "https://purl.imsglobal.org/spec/lti-tool-configuration"
/* What a Moodle before 4.1 leaves out of its openid-configuration. */
#define MOODLE_AUTH_PATH "/mod/lti/auth.php"
/* Longest URL or name read from the platform's documents. */
#define MAX_FIELD 2048

/* s without its trailing slashes (a copy in p). */
static const char *strip_slash(apr_pool_t *p, const char *s)
{
    size_t n = strlen(s);

    while (n > 0 && s[n - 1] == '/') {
        n--;
    }
    return apr_pstrmemdup(p, s, n);
}

const char *lti_dynreg_origin(apr_pool_t *p, const char *url)
{
    apr_uri_t u;
    apr_port_t def;
    char *scheme, *host;

    if (url == NULL || apr_uri_parse(p, url, &u) != APR_SUCCESS || u.scheme == NULL
        || u.hostname == NULL || *u.hostname == '\0'
        || (strcasecmp(u.scheme, "https") != 0 && strcasecmp(u.scheme, "http") != 0)) {
        return NULL;
    }
    scheme = apr_pstrdup(p, u.scheme);
    host = apr_pstrdup(p, u.hostname);
    for (char *c = scheme; *c; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    for (char *c = host; *c; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    if (strchr(host, ':') != NULL) {
        host = apr_pstrcat(p, "[", host, "]", NULL);     /* IPv6 literal */
    }
    def = apr_uri_port_of_scheme(scheme);
    if (u.port_str == NULL || *u.port_str == '\0' || u.port == def) {
        return apr_pstrcat(p, scheme, "://", host, NULL);
    }
    return apr_psprintf(p, "%s://%s:%u", scheme, host, (unsigned)u.port);
}

/* An lti_http_check_url refusal in Dynamic Registration's words: what names the URL. */
static lti_status_t url_ok(apr_pool_t *p, const char *what, const char *url,
                           const lti_http_opts_t *http, lti_status_t malformed,
                           const char *malformed_reason, lti_err_t *err)
{
    lti_err_t e;

    lti_err_clear(&e);
    if (lti_http_check_url(p, url, http, &e) == LTI_OK) {
        return LTI_OK;
    }
    if (e.status == LTI_ERR_FORBIDDEN) {
        return lti_err_set(err, LTI_ERR_FORBIDDEN, "dynreg_insecure_url",
                           "The %s %s is not https (plain http is allowed only to 127.0.0.1 "
                           "with PTechAllowInsecureLoopback On).", what, url);
    }
    return lti_err_set(err, malformed, malformed_reason, "The %s '%s' is not an absolute "
                       "http(s) URL.", what, url ? url : "");
}

lti_status_t lti_dynreg_issuer_allowed(apr_pool_t *p, const apr_array_header_t *allowed,
                                       const char *issuer, lti_err_t *err)
{
    const char *want;

    if (allowed == NULL || allowed->nelts == 0) {
        return LTI_OK;
    }
    want = strip_slash(p, issuer ? issuer : "");
    for (int i = 0; i < allowed->nelts; i++) {
        if (strcmp(strip_slash(p, APR_ARRAY_IDX(allowed, i, const char *)), want) == 0) {
            return LTI_OK;
        }
    }
    return lti_err_set(err, LTI_ERR_FORBIDDEN, "dynreg_issuer_not_allowed",
                       "The platform %s is not allowed to register this tool: add it to "
                       "PTechRegistrationIssuers (or register it by hand with ptechctl "
                       "platform add).", issuer ? issuer : "");
}

lti_status_t lti_dynreg_check_config_url(apr_pool_t *p, const char *config_url,
                                         const apr_array_header_t *allowed,
                                         const lti_http_opts_t *http, lti_err_t *err)
{
    const char *origin;
    lti_status_t rv;

    if ((rv = url_ok(p, "openid_configuration URL", config_url, http, LTI_ERR_MALFORMED,
                     "dynreg_bad_url", err)) != LTI_OK) {
        return rv;
    }
    if (allowed == NULL || allowed->nelts == 0) {
        return LTI_OK;
    }
    /* Only platforms of the allow-list are even asked for their configuration. */
    origin = lti_dynreg_origin(p, config_url);
    for (int i = 0; origin != NULL && i < allowed->nelts; i++) {
        const char *o = lti_dynreg_origin(p, APR_ARRAY_IDX(allowed, i, const char *));

        if (o != NULL && strcmp(o, origin) == 0) {
            return LTI_OK;
        }
    }
    return lti_err_set(err, LTI_ERR_FORBIDDEN, "dynreg_issuer_not_allowed",
                       "The openid_configuration URL %s is not on the site of a platform "
                       "allowed to register this tool (PTechRegistrationIssuers).", config_url);
}

/* obj[key] as a clean string of at most MAX_FIELD bytes (copied into p), or NULL when
 * absent, null or empty.  Another type, a NUL byte or bad UTF-8: *bad is set. */
static const char *opt_string(apr_pool_t *p, const json_t *obj, const char *key, int *bad)
{
    const json_t *v = json_object_get(obj, key);
    const char *s;
    size_t len;

    if (v == NULL || json_is_null(v)) {
        return NULL;
    }
    if (!json_is_string(v)) {
        *bad = 1;
        return NULL;
    }
    s = json_string_value(v);
    len = json_string_length(v);
    if (strlen(s) != len || len > MAX_FIELD || !lti_utf8_valid(s, len)) {
        *bad = 1;
        return NULL;
    }
    return len ? apr_pstrmemdup(p, s, len) : NULL;
}

/* A required string field of the configuration. */
static lti_status_t need_string(apr_pool_t *p, const json_t *obj, const char *key,
                                const char *what, const char **out, lti_err_t *err)
{
    int bad = 0;

    *out = opt_string(p, obj, key, &bad);
    if (*out == NULL) {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "dynreg_config_invalid",
                           "The platform's openid-configuration %s %s.",
                           bad ? "has a bad value for" : "has no", what);
    }
    return LTI_OK;
}

lti_status_t lti_dynreg_config_parse(apr_pool_t *p, const char *config_url, const char *json,
                                     size_t len, const lti_http_opts_t *http,
                                     lti_dynreg_platform_t *out, lti_err_t *err)
{
    json_t *doc, *pc, *algs;
    json_error_t jerr;
    const char *iss_origin, *url_origin;
    lti_status_t rv;
    int bad = 0;

    memset(out, 0, sizeof(*out));
    if (len > LTI_DYNREG_MAX_BYTES) {
        return lti_err_set(err, LTI_ERR_TOO_LARGE, "http_too_large",
                           "The platform's openid-configuration is larger than %d bytes.",
                           LTI_DYNREG_MAX_BYTES);
    }
    doc = lti_json_pooled(p, json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr));
    if (!json_is_object(doc)) {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "dynreg_config_invalid",
                           "The platform's openid-configuration (%s) is not a JSON object%s%s.",
                           config_url, doc ? "" : ": ", doc ? "" : jerr.text);
    }
    if ((rv = need_string(p, doc, "issuer", "issuer", &out->issuer, err)) != LTI_OK
        || (rv = need_string(p, doc, "token_endpoint", "token_endpoint", &out->token_endpoint,
                             err)) != LTI_OK
        || (rv = need_string(p, doc, "jwks_uri", "jwks_uri", &out->jwks_uri, err)) != LTI_OK
        || (rv = need_string(p, doc, "registration_endpoint",
                             "registration_endpoint (it does not offer Dynamic Registration)",
                             &out->registration_endpoint, err)) != LTI_OK) {
        return rv;
    }
    pc = json_object_get(doc, PLATFORM_CONF);
    if (!json_is_object(pc)) {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "dynreg_config_invalid",
                           "The platform's openid-configuration has no %s object: it is not "
                           "an LTI 1.3 platform configuration.", PLATFORM_CONF);
    }
    if ((rv = need_string(p, pc, "product_family_code",
                          "product_family_code in its lti-platform-configuration",
                          &out->product_family_code, err)) != LTI_OK) {
        return rv;
    }
    out->version = opt_string(p, pc, "version", &bad);
    bad = 0;
    out->authorization_endpoint = opt_string(p, doc, "authorization_endpoint", &bad);
    if (bad) {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "dynreg_config_invalid",
                           "The platform's openid-configuration has a bad value for "
                           "authorization_endpoint.");
    }
    if (out->authorization_endpoint == NULL) {
        /* Moodle before 4.1 leaves it out; its OIDC endpoint is always the same. */
        if (strcmp(out->product_family_code, "moodle") != 0) {
            return lti_err_set(err, LTI_ERR_UPSTREAM, "dynreg_config_invalid",
                               "The platform's openid-configuration has no "
                               "authorization_endpoint.");
        }
        out->authorization_endpoint = apr_pstrcat(p, strip_slash(p, out->issuer),
                                                  MOODLE_AUTH_PATH, NULL);
        out->auth_endpoint_guessed = 1;
    }
    algs = json_object_get(doc, "id_token_signing_alg_values_supported");
    if (json_is_array(algs)) {
        size_t i;
        json_t *a;
        int rs256 = 0;

        json_array_foreach(algs, i, a) {
            rs256 |= json_is_string(a) && strcmp(json_string_value(a), "RS256") == 0;
        }
        if (!rs256) {
            return lti_err_set(err, LTI_ERR_UNSUPPORTED, "dynreg_no_rs256",
                               "The platform does not sign id_tokens with RS256, the only "
                               "algorithm this tool accepts.");
        }
    }
    if ((rv = url_ok(p, "platform's issuer", out->issuer, http, LTI_ERR_UPSTREAM,
                     "dynreg_config_invalid", err)) != LTI_OK
        || (rv = url_ok(p, "platform's token_endpoint", out->token_endpoint, http,
                        LTI_ERR_UPSTREAM, "dynreg_config_invalid", err)) != LTI_OK
        || (rv = url_ok(p, "platform's jwks_uri", out->jwks_uri, http, LTI_ERR_UPSTREAM,
                        "dynreg_config_invalid", err)) != LTI_OK
        || (rv = url_ok(p, "platform's registration_endpoint", out->registration_endpoint,
                        http, LTI_ERR_UPSTREAM, "dynreg_config_invalid", err)) != LTI_OK
        || (rv = url_ok(p, "platform's authorization_endpoint", out->authorization_endpoint,
                        http, LTI_ERR_UPSTREAM, "dynreg_config_invalid", err)) != LTI_OK) {
        return rv;
    }
    if (strchr(out->issuer, '?') != NULL || strchr(out->issuer, '#') != NULL) {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "dynreg_config_invalid",
                           "The platform's issuer %s has a query or a fragment.", out->issuer);
    }
    /* The configuration speaks for the issuer only when it comes from the issuer's site. */
    iss_origin = lti_dynreg_origin(p, out->issuer);
    url_origin = lti_dynreg_origin(p, config_url);
    if (iss_origin == NULL || url_origin == NULL || strcmp(iss_origin, url_origin) != 0) {
        return lti_err_set(err, LTI_ERR_FORBIDDEN, "dynreg_issuer_mismatch",
                           "The openid-configuration at %s names the issuer %s, which is on "
                           "another site.", config_url, out->issuer);
    }
    return LTI_OK;
}

lti_status_t lti_dynreg_fetch_config(apr_pool_t *p, const char *config_url,
                                     const lti_http_opts_t *http, lti_dynreg_platform_t *out,
                                     lti_err_t *err)
{
    lti_http_opts_t o = *http;
    lti_http_resp_t resp;
    lti_status_t rv;

    memset(out, 0, sizeof(*out));
    if ((rv = lti_dynreg_check_config_url(p, config_url, NULL, http, err)) != LTI_OK) {
        return rv;
    }
    o.max_bytes = LTI_DYNREG_MAX_BYTES;
    rv = lti_http_get(p, config_url, "application/json", &o, &resp, err);
    if (rv == LTI_ERR_TOO_LARGE) {
        if (err) {
            err->status = LTI_ERR_UPSTREAM;
        }
        return LTI_ERR_UPSTREAM;
    }
    if (rv != LTI_OK) {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "dynreg_config_unreachable",
                           "The platform's openid-configuration cannot be fetched: %s",
                           err ? err->text : lti_strerror(rv));
    }
    if (resp.status != 200) {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "dynreg_config_unreachable",
                           "The platform's openid-configuration %s answered HTTP %ld.",
                           config_url, resp.status);
    }
    return lti_dynreg_config_parse(p, config_url, resp.body, resp.len, http, out, err);
}

/* host[:port] of an absolute http(s) URL (the port only when the URL names one), or NULL. */
static const char *domain_of(apr_pool_t *p, const char *url)
{
    apr_uri_t u;
    const char *host;

    if (url == NULL || apr_uri_parse(p, url, &u) != APR_SUCCESS || u.scheme == NULL
        || u.hostname == NULL || *u.hostname == '\0'
        || (strcasecmp(u.scheme, "https") != 0 && strcasecmp(u.scheme, "http") != 0)) {
        return NULL;
    }
    host = strchr(u.hostname, ':') ? apr_pstrcat(p, "[", u.hostname, "]", NULL) : u.hostname;
    if (u.port_str != NULL && *u.port_str != '\0') {
        return apr_pstrcat(p, host, ":", u.port_str, NULL);
    }
    return host;
}

/* Sets obj[key] = s and obj["key#lang"] for each language with a value. */
static void set_localised(json_t *obj, apr_pool_t *p, const char *key, const char *fr,
                          const char *en, const char *ar)
{
    json_object_set_new(obj, key, json_string(fr));
    json_object_set_new(obj, apr_pstrcat(p, key, "#fr", NULL), json_string(fr));
    if (en != NULL) {
        json_object_set_new(obj, apr_pstrcat(p, key, "#en", NULL), json_string(en));
    }
    if (ar != NULL) {
        json_object_set_new(obj, apr_pstrcat(p, key, "#ar", NULL), json_string(ar));
    }
}

/* One message the tool offers. */
static json_t *message(apr_pool_t *p, const char *type, const lti_dynreg_tool_t *tool)
{
    json_t *m = json_object();

    json_object_set_new(m, "type", json_string(type));
    json_object_set_new(m, "target_link_uri", json_string(tool->target_link_uri));
    set_localised(m, p, "label", tool->name_fr, tool->name_en, tool->name_ar);
    if (strcmp(type, "LtiDeepLinkingRequest") == 0) {
        json_object_set_new(m, "placements", json_pack("[s]", "ContentArea"));
        json_object_set_new(m, "supported_types", json_pack("[s]", "ltiResourceLink"));
    }
    return m;
}

const char *lti_dynreg_tool_config(apr_pool_t *p, const lti_dynreg_tool_t *tool,
                                   lti_err_t *err)
{
    const char *urls[] = {tool->initiate_login_uri, tool->target_link_uri, tool->jwks_uri,
                          tool->logo_uri};
    const char *domain = domain_of(p, tool->target_link_uri);
    json_t *doc, *tc, *msgs;
    char *text;
    const char *out;

    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        if ((urls[i] != NULL || i < 3) && domain_of(p, urls[i]) == NULL) {
            lti_err_set(err, LTI_ERR_MALFORMED, "dynreg_tool_url",
                        "the tool URL '%s' is not an absolute http(s) URL",
                        urls[i] ? urls[i] : "");
            return NULL;
        }
    }
    if (tool->name_fr == NULL || *tool->name_fr == '\0') {
        lti_err_set(err, LTI_ERR_MALFORMED, "dynreg_tool_url", "the tool has no name");
        return NULL;
    }
    doc = lti_json_pooled(p, json_object());
    if (doc == NULL) {
        lti_err_set(err, LTI_ERR_NOMEM, "nomem", "out of memory");
        return NULL;
    }
    json_object_set_new(doc, "application_type", json_string("web"));
    json_object_set_new(doc, "response_types", json_pack("[s]", "id_token"));
    json_object_set_new(doc, "grant_types", json_pack("[ss]", "implicit",
                                                      "client_credentials"));
    json_object_set_new(doc, "initiate_login_uri", json_string(tool->initiate_login_uri));
    json_object_set_new(doc, "redirect_uris", json_pack("[s]", tool->target_link_uri));
    set_localised(doc, p, "client_name", tool->name_fr, tool->name_en, tool->name_ar);
    json_object_set_new(doc, "jwks_uri", json_string(tool->jwks_uri));
    if (tool->logo_uri != NULL) {
        json_object_set_new(doc, "logo_uri", json_string(tool->logo_uri));
    }
    json_object_set_new(doc, "token_endpoint_auth_method", json_string("private_key_jwt"));
    json_object_set_new(doc, "scope", json_string(LTI_DYNREG_SCOPES));

    tc = json_object();
    json_object_set_new(tc, "domain", json_string(domain));
    json_object_set_new(tc, "target_link_uri", json_string(tool->target_link_uri));
    if (tool->description_fr != NULL) {
        set_localised(tc, p, "description", tool->description_fr, tool->description_en,
                      tool->description_ar);
    }
    /* Moodle maps name → "share launcher's name", email → "share launcher's email". */
    json_object_set_new(tc, "claims", json_pack("[ssssss]", "iss", "sub", "name",
                                                "given_name", "family_name", "email"));
    msgs = json_array();
    json_array_append_new(msgs, message(p, "LtiResourceLinkRequest", tool));
    /* Last: Moodle reads the list into one setting, so the last message wins. */
    json_array_append_new(msgs, message(p, "LtiDeepLinkingRequest", tool));
    json_object_set_new(tc, "messages", msgs);
    json_object_set_new(doc, TOOL_CONF, tc);

    text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL) {
        lti_err_set(err, LTI_ERR_NOMEM, "nomem", "cannot serialise the tool configuration");
        return NULL;
    }
    out = apr_pstrdup(p, text);
    free(text);
    return out;
}

lti_status_t lti_dynreg_response_parse(apr_pool_t *p, const char *json, size_t len,
                                       lti_dynreg_result_t *out, lti_err_t *err)
{
    json_t *doc, *tc, *dep;
    json_error_t jerr;
    int bad = 0;

    memset(out, 0, sizeof(*out));
    doc = lti_json_pooled(p, json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr));
    if (!json_is_object(doc)) {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "dynreg_response_invalid",
                           "The platform's answer to the registration is not a JSON object%s%s.",
                           doc ? "" : ": ", doc ? "" : jerr.text);
    }
    out->client_id = opt_string(p, doc, "client_id", &bad);
    if (out->client_id == NULL || bad) {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "dynreg_response_invalid",
                           "The platform's answer to the registration has no client_id.");
    }
    out->scope = opt_string(p, doc, "scope", &bad);
    tc = json_object_get(doc, TOOL_CONF);
    dep = json_is_object(tc) ? json_object_get(tc, "deployment_id") : NULL;
    if (json_is_integer(dep)) {
        /* APR's own int64 format: apr_psprintf does not know %lld. */
        out->deployment_id = apr_psprintf(p, "%" APR_INT64_T_FMT,
                                          (apr_int64_t)json_integer_value(dep));
    }
    else if (dep != NULL && !json_is_null(dep)) {
        bad = 0;
        out->deployment_id = opt_string(p, tc, "deployment_id", &bad);
        if (bad) {
            return lti_err_set(err, LTI_ERR_UPSTREAM, "dynreg_response_invalid",
                               "The platform's answer to the registration has a bad "
                               "deployment_id.");
        }
    }
    return LTI_OK;
}

/* The platform's own words from an error answer: its JSON error and error_description, or
 * the start of its text, printable ASCII only; "" when there is nothing. */
static const char *platform_words(apr_pool_t *p, const lti_http_resp_t *resp)
{
    json_t *doc = lti_json_pooled(p, json_loadb(resp->body, resp->len, 0, NULL));
    const char *s = NULL;
    char *clean;
    size_t n;

    if (json_is_object(doc)) {
        const char *e = json_string_value(json_object_get(doc, "error"));
        const char *d = json_string_value(json_object_get(doc, "error_description"));

        if (e != NULL || d != NULL) {
            s = apr_pstrcat(p, e ? e : "", e && d ? ": " : "", d ? d : "", NULL);
        }
    }
    if (s == NULL) {
        s = resp->body ? resp->body : "";
    }
    n = strlen(s) > 200 ? 200 : strlen(s);
    clean = apr_pstrmemdup(p, s, n);
    for (char *c = clean; *c; c++) {
        if (!isprint((unsigned char)*c)) {
            *c = ' ';
        }
    }
    return clean;
}

lti_status_t lti_dynreg_register(apr_pool_t *p, const lti_dynreg_platform_t *pf,
                                 const char *token, const char *tool_json,
                                 const lti_http_opts_t *http, lti_dynreg_result_t *out,
                                 lti_err_t *err)
{
    lti_http_opts_t o = *http;
    lti_http_resp_t resp;
    lti_status_t rv;

    memset(out, 0, sizeof(*out));
    o.max_bytes = LTI_DYNREG_MAX_BYTES;
    rv = lti_http_post_json(p, pf->registration_endpoint, tool_json, token, &o, &resp, err);
    if (rv == LTI_ERR_TOO_LARGE || rv == LTI_ERR_FORBIDDEN) {
        if (err) {
            err->status = LTI_ERR_UPSTREAM;
        }
        return LTI_ERR_UPSTREAM;
    }
    if (rv != LTI_OK) {
        return lti_err_set(err, LTI_ERR_UPSTREAM, "dynreg_unreachable",
                           "The platform's registration endpoint cannot be reached: %s",
                           err ? err->text : lti_strerror(rv));
    }
    if (resp.status != 200 && resp.status != 201) {
        const char *words = platform_words(p, &resp);

        return lti_err_set(err, LTI_ERR_UPSTREAM, "dynreg_refused",
                           "The platform refused the registration (HTTP %ld)%s%s. The "
                           "registration token may have expired or been used: start again "
                           "from the LMS.", resp.status, *words ? ": " : "", words);
    }
    return lti_dynreg_response_parse(p, resp.body, resp.len, out, err);
}

lti_status_t lti_dynreg_token_check(apr_pool_t *p, const char *token, int64_t now,
                                    int64_t leeway, const char **hash,
                                    int64_t *remember_until, lti_err_t *err)
{
    size_t len = token ? strlen(token) : 0;
    int64_t cap = now + LTI_DYNREG_TOKEN_MEMORY;
    lti_jwt_t *jwt;

    *hash = NULL;
    *remember_until = cap;
    if (len == 0 || len > LTI_DYNREG_TOKEN_MAX) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "dynreg_bad_token",
                           "The registration_token is %s.", len ? "too long" : "empty");
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)token[i];

        if (!(isalnum(c) || c == '-' || c == '_' || c == '.')) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "dynreg_bad_token",
                               "The registration_token is not a JWT (base64url and dots).");
        }
    }
    *hash = lti_sha256_hex(p, token, len);
    /* Moodle's token is an RS256 JWT with an exp; it is verified by Moodle, not here: its
     * exp only tells how long to remember it. */
    if (lti_jwt_parse(p, token, len, &jwt, NULL) == LTI_OK) {
        json_t *exp = json_object_get(jwt->claims, "exp");

        if (json_is_integer(exp)) {
            int64_t e = (int64_t)json_integer_value(exp);

            if (e + leeway < now) {
                return lti_err_set(err, LTI_ERR_EXPIRED, "dynreg_token_expired",
                                   "The registration token has expired: start the "
                                   "registration again from the LMS.");
            }
            *remember_until = e + leeway + 1 < cap ? e + leeway + 1 : cap;
        }
    }
    return LTI_OK;
}
