/* ptech_handler_register.c -- GET /ptech/register: LTI Dynamic Registration 1.0 (Moodle's
 * "paste the tool URL").  With PTechRegistration On, a platform (in PTechRegistrationIssuers
 * when set) sends the admin's browser here with ?openid_configuration=URL and
 * &registration_token=JWT; liblti (lti_dynreg) fetches and checks the platform's
 * configuration and posts the tool's; the platform and its deployment are stored; the answer
 * tells the admin to activate the tool (Moodle creates it Pending) and, on its button, posts
 * {subject: "org.imsglobal.lti.close"} to the LMS frame. */
#include <apr_strings.h>

#include "ptech.h"

APLOG_USE_MODULE(ptech);

/* Scope of the used registration tokens in the store's nonces. */
#define TOKEN_SCOPE "dynreg"

/* The tool as it presents itself to the platform. */
#define NAME_FR "Open P-Tech pour l'Afrique"
#define NAME_EN "Open P-Tech for Africa"
#define NAME_AR "Open P-Tech لأفريقيا"
#define DESC_FR "Les cours numériques gratuits Open P-Tech d'IBM : progression, notes et " \
                "badges renvoyés à Moodle."
#define DESC_EN "IBM's free Open P-Tech digital courses: progress, grades and badges " \
                "returned to Moodle."
#define DESC_AR "دورات Open P-Tech الرقمية المجانية من IBM: التقدم والدرجات والشارات تعود " \
                "إلى Moodle."

/* A parameter of the query that must be there once and not empty. */
static const char *required(const apr_array_header_t *kv, const char *name, lti_err_t *err)
{
    const char *v = lti_kv_get(kv, name);

    if (v == NULL || *v == '\0') {
        lti_err_set(err, LTI_ERR_MISSING, "dynreg_missing_param",
                    "The registration request has no %s: start the registration from the "
                    "LMS (Moodle: Manage tools → paste the tool's registration URL).", name);
        return NULL;
    }
    if (lti_kv_count(kv, name) > 1) {
        lti_err_set(err, LTI_ERR_MALFORMED, "dynreg_duplicate_param",
                    "The registration request has %s twice.", name);
        return NULL;
    }
    return v;
}

/* The success page: what was registered, what the admin does next, the close button. */
static int registered_page(request_rec *r, const char *lang, const lti_dynreg_platform_t *pf,
                           const lti_dynreg_result_t *res)
{
    apr_pool_t *p = r->pool;

    /* The LMS shows this page in its frame: it may frame it, nobody else. */
    ptech_page_begin(r, lang, ptech_msg(lang, "dynreg_done"), lti_dynreg_origin(p, pf->issuer));
    ap_rvputs(r, "<h1>", ptech_esc(p, ptech_msg(lang, "dynreg_done")), "</h1>\n"
              "<p>", ptech_esc(p, ptech_msg(lang, "dynreg_activate")), "</p>\n"
              "<div class=\"table-wrap\"><table>\n"
              "<tr><th>", ptech_esc(p, ptech_msg(lang, "dynreg_platform")), "</th><td><code>",
              ptech_esc(p, pf->issuer), "</code></td></tr>\n"
              "<tr><th>", ptech_esc(p, ptech_msg(lang, "dynreg_client_id")), "</th><td><code>",
              ptech_esc(p, res->client_id), "</code></td></tr>\n", NULL);
    if (res->deployment_id != NULL) {
        ap_rvputs(r, "<tr><th>", ptech_esc(p, ptech_msg(lang, "dynreg_deployment")),
                  "</th><td><code>", ptech_esc(p, res->deployment_id), "</code></td></tr>\n",
                  NULL);
    }
    ap_rvputs(r, "</table></div>\n"
              "<p><button type=\"button\" id=\"ptech-dynreg-close\">",
              ptech_esc(p, ptech_msg(lang, "dynreg_close")), "</button></p>\n"
              "<script src=\"" PTECH_PREFIX "/static/dynreg.js\"></script>\n", NULL);
    return ptech_page_end(r);
}

int ptech_handle_register(request_rec *r)
{
    ptech_srv_cfg *c = ptech_cfg(r->server);
    const char *lang = lti_lang_of(apr_table_get(r->headers_in, "Accept-Language"));
    lti_store_t *store;
    apr_array_header_t *kv;
    const char *config_url, *token, *token_hash, *tool_json, *base;
    lti_http_opts_t http;
    lti_dynreg_platform_t pf;
    lti_dynreg_tool_t tool;
    lti_dynreg_result_t res;
    lti_platform_t reg;
    lti_err_t err;
    int64_t now = ptech_now(), remember_until;

    lti_err_clear(&err);
    if (!ptech_cfg_flag(c->registration)) {
        return ptech_error_page(r, HTTP_NOT_FOUND, NULL,
                                apr_psprintf(r->pool, "There is no page %s here.", r->uri),
                                "not_found", 0);
    }
    if (r->method_number != M_GET) {
        apr_table_setn(r->headers_out, "Allow", "GET");
        return ptech_error_page(r, HTTP_METHOD_NOT_ALLOWED, lang,
                                "Dynamic Registration starts with a GET from the LMS.",
                                "dynreg_method", 1);
    }
    if ((store = ptech_store(r)) == NULL) {
        return ptech_error_page(r, HTTP_SERVICE_UNAVAILABLE, lang,
                                "The tool's database is not available.", "store_unavailable", 0);
    }
    kv = lti_kv_make(r->pool, 4);
    if ((r->args && lti_form_parse(r->pool, r->args, strlen(r->args), 16, kv, &err) != LTI_OK)
        || (config_url = required(kv, "openid_configuration", &err)) == NULL
        || (token = required(kv, "registration_token", &err)) == NULL) {
        return ptech_lti_error(r, &err, lang, 1);
    }
    if (lti_dynreg_token_check(r->pool, token, now, ptech_cfg_dur(c->clock_leeway, 60),
                               &token_hash, &remember_until, &err) != LTI_OK) {
        return ptech_error_page(r, HTTP_BAD_REQUEST, lang, err.text, err.reason, 1);
    }
    memset(&http, 0, sizeof(http));
    http.timeout = ptech_cfg_dur(c->http_timeout, 10);
    http.ca_file = c->ca_file;
    http.proxy = c->http_proxy;
    http.allow_insecure_loopback = ptech_cfg_flag(c->allow_insecure_loopback);
    /* A platform outside PTechRegistrationIssuers is not even asked for its configuration;
     * the issuer it names is checked again once it is known. */
    if (lti_dynreg_check_config_url(r->pool, config_url, c->registration_issuers, &http, &err)
            != LTI_OK
        || lti_dynreg_fetch_config(r->pool, config_url, &http, &pf, &err) != LTI_OK
        || lti_dynreg_issuer_allowed(r->pool, c->registration_issuers, pf.issuer, &err)
               != LTI_OK) {
        return ptech_lti_error(r, &err, lang, 1);
    }
    /* A registration token works once here, whatever the platform would say. */
    if (lti_store_nonce_use(store, TOKEN_SCOPE, token_hash, remember_until, &err) != LTI_OK) {
        if (err.status == LTI_ERR_REPLAY) {
            return ptech_error_page(r, HTTP_BAD_REQUEST, lang,
                                    "This registration token was already used: start the "
                                    "registration again from the LMS to get a new one.",
                                    "dynreg_token_reused", 1);
        }
        return ptech_lti_error(r, &err, lang, 0);
    }
    base = apr_pstrcat(r->pool, ptech_base_url(r), PTECH_PREFIX, NULL);
    memset(&tool, 0, sizeof(tool));
    tool.initiate_login_uri = apr_pstrcat(r->pool, base, "/login", NULL);
    tool.target_link_uri = apr_pstrcat(r->pool, base, "/launch", NULL);
    tool.jwks_uri = apr_pstrcat(r->pool, base, "/jwks", NULL);
    tool.logo_uri = apr_pstrcat(r->pool, base, "/static/logo.svg", NULL);
    tool.name_fr = NAME_FR;
    tool.name_en = NAME_EN;
    tool.name_ar = NAME_AR;
    tool.description_fr = DESC_FR;
    tool.description_en = DESC_EN;
    tool.description_ar = DESC_AR;
    if ((tool_json = lti_dynreg_tool_config(r->pool, &tool, &err)) == NULL) {
        return ptech_lti_error(r, &err, lang, 0);
    }
    if (lti_dynreg_register(r->pool, &pf, token, tool_json, &http, &res, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, lang, 1);
    }
    memset(&reg, 0, sizeof(reg));
    reg.issuer = pf.issuer;
    reg.client_id = res.client_id;
    reg.auth_url = pf.authorization_endpoint;
    reg.token_url = pf.token_endpoint;
    reg.jwks_url = pf.jwks_uri;
    reg.deployments = apr_array_make(r->pool, 1, sizeof(const char *));
    if (res.deployment_id != NULL) {
        APR_ARRAY_PUSH(reg.deployments, const char *) = res.deployment_id;
    }
    if (lti_store_platform_add(store, &reg, now, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, lang, err.status == LTI_ERR_EXISTS);
    }
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, "PT00050: platform %s (%s%s%s) registered "
                  "by Dynamic Registration: client id %s, deployment %s%s", pf.issuer,
                  pf.product_family_code, pf.version ? " " : "", pf.version ? pf.version : "",
                  res.client_id, res.deployment_id ? res.deployment_id : "(none)",
                  pf.auth_endpoint_guessed ? "; no authorization_endpoint, "
                                             "using Moodle's /mod/lti/auth.php" : "");
    return registered_page(r, lang, &pf, &res);
}
