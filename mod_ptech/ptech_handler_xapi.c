/* ptech_handler_xapi.c -- POST /ptech/xapi/statements (progress from content, HTTP Basic
 * with a provider's credentials) and GET /ptech/xapi/about.  The parsing, mapping and
 * recording are liblti's (lti_xapi.c); this file authenticates and answers like an LRS. */
#include <apr_strings.h>
#include <jansson.h>

#include "ptech.h"

APLOG_USE_MODULE(ptech);

#define XAPI_VERSION "1.0.3"

/* Answers a refusal as JSON {"error": reason, "message": text}, with an audit row. */
static int json_refusal(request_rec *r, int status, const char *reason, const char *text,
                        const char *provider)
{
    lti_store_t *store = ptech_store(r);
    json_t *o = json_pack("{s:s, s:s}", "error", reason, "message", text);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    lti_err_t err;

    json_decref(o);
    if (store != NULL) {
        lti_store_audit_add(store, ptech_now(), status, reason, r->uri, r->useragent_ip,
                            provider ? apr_pstrcat(r->pool, "provider ", provider, ": ", text,
                                                   NULL)
                                     : text, &err);
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "PT00070: refused %s (%d %s): %s", r->uri,
                  status, reason, text);
    if (status == HTTP_UNAUTHORIZED) {
        apr_table_setn(r->err_headers_out, "WWW-Authenticate",
                       "Basic realm=\"mod_ptech xAPI\", charset=\"UTF-8\"");
    }
    /* A refused request must not keep a half-read body on the connection. */
    if (r->read_length == 0 && r->remaining > 0) {
        r->connection->keepalive = AP_CONN_CLOSE;
    }
    r->status = status;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Experience-API-Version", XAPI_VERSION);
    if (s == NULL) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_rputs(s, r);
    free(s);
    return OK;
}

lti_status_t ptech_xapi_apply(request_rec *r, lti_store_t *store, const char *provider,
                              const char *buf, apr_size_t len, apr_array_header_t **ids,
                              lti_err_t *err)
{
    const lti_catalog_t *cat = ptech_cfg(r->server)->catalog;
    apr_array_header_t *stmts;
    lti_progress_stats_t st;
    lti_status_t rv;
    int64_t now = ptech_now();

    if (cat == NULL) {
        return lti_err_set(err, LTI_ERR_CONFIG, "catalog_missing", "the tool has no catalog");
    }
    rv = lti_xapi_parse(r->pool, cat, ptech_base_url(r), buf, len, now, &stmts, err);
    if (rv == LTI_OK) {
        rv = lti_xapi_record(store, r->pool, cat, provider, stmts, now, &st, err);
    }
    if (rv != LTI_OK) {
        return rv;
    }
    *ids = apr_array_make(r->pool, stmts->nelts, sizeof(const char *));
    for (int i = 0; i < stmts->nelts; i++) {
        APR_ARRAY_PUSH(*ids, const char *) = APR_ARRAY_IDX(stmts, i, lti_xapi_stmt_t).id;
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "PT00071: %d xAPI statement(s) from %s: "
                  "%d applied, %d unchanged, %d result(s), %d grade return(s) queued",
                  stmts->nelts, provider, st.applied, st.unchanged, st.results, st.queued);
    return LTI_OK;
}

static int statements(request_rec *r, lti_store_t *store)
{
    const char *name, *secret, *buf;
    apr_size_t len;
    apr_array_header_t *ids;
    lti_xapi_provider_t pv;
    lti_err_t err;
    json_t *arr;
    char *out;

    if (lti_xapi_basic_auth(r->pool, apr_table_get(r->headers_in, "Authorization"), &name,
                            &secret, &err) != LTI_OK) {
        return json_refusal(r, HTTP_UNAUTHORIZED, err.reason, err.text, NULL);
    }
    if (lti_store_xapi_provider_get(store, r->pool, name, &pv, &err) != LTI_OK) {
        if (err.status != LTI_ERR_NOT_FOUND) {
            return json_refusal(r, HTTP_INTERNAL_SERVER_ERROR, "store_error",
                                "the tool's database failed", name);
        }
        /* The same work and words as a wrong secret: no hint which names exist. */
        lti_xapi_secret_verify(r->pool, "sha256$00$00", secret);
        return json_refusal(r, HTTP_UNAUTHORIZED, "xapi_auth_failed",
                            "unknown provider or wrong secret", name);
    }
    if (!lti_xapi_secret_verify(r->pool, pv.secret_hash, secret)) {
        return json_refusal(r, HTTP_UNAUTHORIZED, "xapi_auth_failed",
                            "unknown provider or wrong secret", name);
    }
    if (ptech_read_body(r, LTI_XAPI_MAX_BODY, &buf, &len, &err) != LTI_OK) {
        return json_refusal(r, ptech_http_status(err.status),
                            err.status == LTI_ERR_TOO_LARGE ? "xapi_too_large" : err.reason,
                            err.text, name);
    }
    if (ptech_xapi_apply(r, store, name, buf, len, &ids, &err) != LTI_OK) {
        int status = err.status == LTI_ERR_STORE || err.status == LTI_ERR_CONFIG
                             || err.status == LTI_ERR_CRYPTO
                         ? HTTP_INTERNAL_SERVER_ERROR
                         : err.status == LTI_ERR_TOO_LARGE ? HTTP_REQUEST_ENTITY_TOO_LARGE
                                                           : HTTP_BAD_REQUEST;

        return json_refusal(r, status, err.reason ? err.reason : "xapi_invalid", err.text,
                            name);
    }
    arr = json_array();
    for (int i = 0; arr && i < ids->nelts; i++) {
        json_array_append_new(arr, json_string(APR_ARRAY_IDX(ids, i, const char *)));
    }
    out = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    if (out == NULL) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Experience-API-Version", XAPI_VERSION);
    ap_rputs(out, r);
    free(out);
    return OK;
}

int ptech_handle_xapi(request_rec *r, const char *rest)
{
    lti_store_t *store;

    if (strcmp(rest, "/about") == 0) {
        if (r->method_number != M_GET) {
            ap_allow_methods(r, REPLACE_ALLOW, "GET", NULL);
            return HTTP_METHOD_NOT_ALLOWED;
        }
        ap_set_content_type(r, "application/json");
        apr_table_setn(r->headers_out, "X-Experience-API-Version", XAPI_VERSION);
        ap_rputs("{\"version\":[\"" XAPI_VERSION "\"]}", r);
        return OK;
    }
    if (strcmp(rest, "/statements") != 0) {
        return ptech_error_page(r, HTTP_NOT_FOUND, NULL,
                                "The xAPI endpoint has /statements and /about only.",
                                "not_found", 0);
    }
    if (r->method_number != M_POST) {
        ap_allow_methods(r, REPLACE_ALLOW, "POST", NULL);   /* httpd's Allow header */
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if ((store = ptech_store(r)) == NULL) {
        return json_refusal(r, HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
                            "the tool's database is not available", NULL);
    }
    return statements(r, store);
}
