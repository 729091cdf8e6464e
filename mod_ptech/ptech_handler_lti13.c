/* ptech_handler_lti13.c -- LTI 1.3: GET/POST /ptech/login (OIDC third-party-initiated
 * login) and POST /ptech/launch (the id_token), checked by liblti (lti_jose, lti_platform,
 * lti_launch13), recorded like a 1.1 launch, answered with the same session and pages. */
#include <apr_strings.h>
#include <util_cookies.h>

#include "ptech.h"
#include "ptech_session.h"

APLOG_USE_MODULE(ptech);

#define STATE_COOKIE "ptech_st_"
#define STATE_COOKIE_MAX 8
#define LOGIN_MAX_BODY 16384
#define LAUNCH_MAX_BODY (LTI_JWT_MAX_BYTES + 4096)

/* The random part of a state ("<time>-<random>"), which names its cookie; NULL if none. */
static const char *state_random(const char *state)
{
    const char *dash = strchr(state, '-');

    return dash != NULL && dash[1] != '\0' ? dash + 1 : NULL;
}

/* The request's parameters: the query for GET, the form body for POST. */
static lti_status_t read_params(request_rec *r, apr_size_t max, apr_array_header_t **out,
                                lti_err_t *err)
{
    apr_array_header_t *kv = lti_kv_make(r->pool, 16);
    const char *body;
    apr_size_t len;
    lti_status_t rv;

    *out = kv;
    if (r->method_number == M_GET) {
        return r->args ? lti_form_parse(r->pool, r->args, strlen(r->args), 64, kv, err)
                       : LTI_OK;
    }
    if ((rv = ptech_read_body(r, max, &body, &len, err)) != LTI_OK) {
        return rv;
    }
    return lti_form_parse(r->pool, body, len, 64, kv, err);
}

/* A parameter that must be there once and not empty. */
static const char *required(const apr_array_header_t *kv, const char *name, lti_err_t *err)
{
    const char *v = lti_kv_get(kv, name);

    if (v == NULL || *v == '\0') {
        lti_err_set(err, LTI_ERR_MISSING, "lti13_missing_param",
                    "the login initiation has no %s", name);
        return NULL;
    }
    if (lti_kv_count(kv, name) > 1) {
        lti_err_set(err, LTI_ERR_MALFORMED, "lti13_duplicate_param",
                    "the login initiation has %s twice", name);
        return NULL;
    }
    return v;
}

/* Whether uri is one of ours: the tool's base URL, then /ptech/ (so //evil, /\evil and
 * other hosts are not). */
static int is_our_uri(request_rec *r, const char *uri)
{
    const char *base = apr_pstrcat(r->pool, ptech_base_url(r), PTECH_PREFIX, "/", NULL);

    return strncmp(uri, base, strlen(base)) == 0 && strchr(uri, '\\') == NULL
           && strstr(uri + strlen(base) - 1, "//") == NULL;
}

static int is_https(request_rec *r)
{
    return strncmp(ptech_base_url(r), "https:", 6) == 0;
}

/* Sets the state cookie (SPEC.md: SameSite=None; Secure; Partitioned over https) and drops
 * extra ones so a browser keeps at most STATE_COOKIE_MAX logins in flight.  Path=/ptech,
 * not /ptech/launch: /ptech/login must see them to cap them. */
static void set_state_cookie(request_rec *r, const char *name, const char *value, int64_t ttl)
{
    const char *attrs = is_https(r) ? "; SameSite=None; Secure; Partitioned"
                                    : "; SameSite=Lax";
    const char *cookies = apr_table_get(r->headers_in, "Cookie");
    int total = 0, drop;

    for (const char *c = cookies; c && (c = strstr(c, STATE_COOKIE)) != NULL; c++) {
        total++;
    }
    /* Browsers send older cookies first (RFC 6265 5.4): drop from the front. */
    drop = total - (STATE_COOKIE_MAX - 1);
    for (const char *c = cookies; drop > 0 && (c = strstr(c, STATE_COOKIE)) != NULL; c++) {
        if (drop-- > 0) {
            const char *end = strchr(c, '=');

            if (end != NULL) {
                apr_table_addn(r->err_headers_out, "Set-Cookie",
                               apr_psprintf(r->pool, "%s=; Path=%s; HttpOnly; "
                                            "Max-Age=0%s", apr_pstrmemdup(r->pool, c, end - c),
                                            PTECH_PREFIX, attrs));
            }
        }
    }
    apr_table_addn(r->err_headers_out, "Set-Cookie",
                   apr_psprintf(r->pool, "%s=%s; Path=%s; HttpOnly; Max-Age=%"
                                APR_INT64_T_FMT "%s", name, value, PTECH_PREFIX,
                                (apr_int64_t)ttl, attrs));
}

/* The lti_storage_target of a login initiation (1EdTech LTI Client Side postMessages,
 * platform storage): "_parent" or the name of a frame of the LMS page.  A name is kept to
 * plain characters (it goes into a page and the store); anything else is ignored, and the
 * login relies on its cookie alone. */
static const char *storage_target(const apr_array_header_t *kv)
{
    const char *t = lti_kv_get(kv, "lti_storage_target");
    size_t n;

    if (t == NULL || lti_kv_count(kv, "lti_storage_target") != 1) {
        return NULL;
    }
    n = strlen(t);
    if (n == 0 || n > 128
        || strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != n) {
        return NULL;
    }
    return t;
}

/* Where the LMS starts this launch again in a window of its own, for the "open in a new
 * window" page: Moodle's lti_message_hint names the course module (cmid), whose
 * /mod/lti/launch.php?id=CMID restarts the login.  NULL otherwise (the page then offers
 * the LMS's home, the issuer). */
static const char *relaunch_url(apr_pool_t *p, const char *iss, const char *msg_hint)
{
    json_t *o, *cmid;
    const char *out = NULL;

    if (msg_hint == NULL || ptech_origin_of(p, iss) == NULL
        || (o = json_loads(msg_hint, JSON_REJECT_DUPLICATES, NULL)) == NULL) {
        return NULL;
    }
    cmid = json_is_object(o) ? json_object_get(o, "cmid") : NULL;
    if (json_is_integer(cmid) && json_integer_value(cmid) > 0) {
        size_t n = strlen(iss);

        out = apr_psprintf(p, "%.*s/mod/lti/launch.php?id=%" APR_INT64_T_FMT,
                           (int)(n > 0 && iss[n - 1] == '/' ? n - 1 : n), iss,
                           (apr_int64_t)json_integer_value(cmid));
    }
    json_decref(o);
    return out;
}

/* The key under which a login's browser value is kept in the platform's storage. */
static const char *storage_key(apr_pool_t *p, const char *state)
{
    return apr_pstrcat(p, "ptech_state_", state, NULL);
}

/* The page of a login that has a platform storage: static/storage.js puts the browser
 * value into the LMS frame (lti.put_data, to the origin of the platform's auth endpoint),
 * then goes on to the auth endpoint in this frame, as the 302 would (the link is there for
 * a browser without scripts). */
static int storage_put_page(request_rec *r, const char *target, const char *origin,
                            const char *state, const char *secret, const char *loc)
{
    ptech_page_begin(r, NULL, "Open P-Tech", NULL);
    ap_rvputs(r, "<div id=\"ptech-storage\" data-mode=\"put\" data-target=\"",
              ptech_esc(r->pool, target), "\" data-origin=\"", ptech_esc(r->pool, origin),
              "\" data-key=\"", ptech_esc(r->pool, storage_key(r->pool, state)),
              "\" data-value=\"", ptech_esc(r->pool, secret), "\" data-next=\"",
              ptech_esc(r->pool, loc), "\"></div>\n<p><a id=\"ptech-storage-next\" href=\"",
              ptech_esc(r->pool, loc), "\">…</a></p>\n<script src=\"", PTECH_PREFIX,
              "/static/storage.js\"></script>\n", NULL);
    return ptech_page_end(r);
}

int ptech_handle_login(request_rec *r)
{
    ptech_srv_cfg *c = ptech_cfg(r->server);
    lti_store_t *store = ptech_store(r);
    apr_array_header_t *kv;
    const char *iss, *hint, *target, *msg_hint, *client_id, *state, *nonce, *secret, *loc;
    const char *storage, *auth_origin, *rnd;
    lti_platform_t pf;
    lti_login_state_t ls;
    lti_err_t err;
    int64_t now = ptech_now(), ttl = ptech_cfg_dur(c->state_ttl, 300);

    lti_err_clear(&err);
    if (r->method_number != M_GET && r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "GET, POST");
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (store == NULL) {
        return ptech_error_page(r, HTTP_SERVICE_UNAVAILABLE, NULL,
                                "The tool's database is not available.", "store_unavailable", 0);
    }
    if (read_params(r, LOGIN_MAX_BODY, &kv, &err) != LTI_OK
        || (iss = required(kv, "iss", &err)) == NULL
        || (hint = required(kv, "login_hint", &err)) == NULL
        || (target = required(kv, "target_link_uri", &err)) == NULL) {
        return ptech_lti_error(r, &err, NULL, 1);
    }
    msg_hint = lti_kv_get(kv, "lti_message_hint");
    storage = storage_target(kv);
    client_id = lti_kv_get(kv, "client_id");
    if (client_id != NULL && *client_id == '\0') {
        client_id = NULL;
    }
    if (lti_store_platform_get(store, r->pool, iss, client_id, &pf, &err) != LTI_OK) {
        if (err.status == LTI_ERR_NOT_FOUND) {
            lti_err_set(&err, LTI_ERR_UNKNOWN_KEY, "lti13_unknown_platform",
                        "No LTI 1.3 platform is registered for issuer %s%s%s (ptechctl "
                        "platform add).", iss, client_id ? " and client id " : "",
                        client_id ? client_id : "");
        }
        /* 400, not a redirect: an unknown issuer gets nothing to follow. */
        return ptech_error_page(r, HTTP_BAD_REQUEST, NULL, err.text, err.reason, 1);
    }
    if (!is_our_uri(r, target)) {
        return ptech_error_page(r, HTTP_BAD_REQUEST, NULL,
                                apr_psprintf(r->pool, "The target_link_uri %s is not an "
                                             "address of this tool (%s%s/...).", target,
                                             ptech_base_url(r), PTECH_PREFIX),
                                "lti13_target_link_uri", 1);
    }
    /* state: the login's time in microseconds, then 16 random bytes.  Time-ordered like
     * session ids, to the microsecond, so that the states a batch of launches consumes sit
     * on the same few pages of the store (by the second, each landed on a page of its
     * own); its cookie's value binds it to this browser.  One draw of 64 random bytes: 16
     * for the state, 16 for the nonce, 32 for the cookie. */
    rnd = lti_random_hex(r->pool, 64);
    state = rnd ? apr_psprintf(r->pool, "%016" APR_TIME_T_FMT "-%.32s", apr_time_now(), rnd)
                : NULL;
    nonce = rnd ? apr_pstrndup(r->pool, rnd + 32, 32) : NULL;
    secret = rnd ? rnd + 64 : NULL;
    if (state == NULL || nonce == NULL || secret == NULL) {
        return ptech_error_page(r, HTTP_INTERNAL_SERVER_ERROR, NULL, "No randomness available.",
                                "random_failed", 0);
    }
    memset(&ls, 0, sizeof(ls));
    ls.state = state;
    ls.platform_id = pf.id;
    ls.nonce = nonce;
    ls.target_link_uri = target;
    ls.browser = lti_sha256_hex(r->pool, secret, strlen(secret));
    ls.created = now;
    ls.expires = now + ttl;
    /* Platform storage answers to the origin of the platform's auth endpoint only. */
    auth_origin = ptech_origin_of(r->pool, pf.auth_url);
    ls.storage_target = storage = auth_origin != NULL ? storage : NULL;
    ls.relaunch = relaunch_url(r->pool, iss, msg_hint);
    if (lti_store_state_put(store, &ls, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, NULL, 0);
    }
    set_state_cookie(r, apr_pstrcat(r->pool, STATE_COOKIE, state_random(state), NULL), secret,
                     ttl);
    /* Exactly these parameters (Moodle 4.5 breaks on extra ones); lti_message_hint is
     * passed back byte for byte. */
    loc = apr_pstrcat(r->pool, pf.auth_url, strchr(pf.auth_url, '?') ? "&" : "?",
                      "scope=openid&response_type=id_token&response_mode=form_post"
                      "&prompt=none&client_id=", lti_pct_encode(r->pool, pf.client_id),
                      "&redirect_uri=",
                      lti_pct_encode(r->pool, apr_pstrcat(r->pool, ptech_base_url(r),
                                                          PTECH_PREFIX, "/launch", NULL)),
                      "&login_hint=", lti_pct_encode(r->pool, hint),
                      msg_hint ? "&lti_message_hint=" : "",
                      msg_hint ? lti_pct_encode(r->pool, msg_hint) : "",
                      "&state=", state, "&nonce=", nonce, NULL);
    if (storage != NULL) {
        /* The cookie is set too: where the browser keeps it, the launch uses it. */
        return storage_put_page(r, storage, auth_origin, state, secret, loc);
    }
    apr_table_setn(r->headers_out, "Location", loc);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    r->status = HTTP_MOVED_TEMPORARILY;
    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rvputs(r, "<!DOCTYPE html><title>302</title><a href=\"", ptech_esc(r->pool, loc),
              "\">continue</a>\n", NULL);
    return OK;
}

/* The value of the state cookie of state, or NULL. */
static const char *state_cookie(request_rec *r, const char *state)
{
    const char *v = NULL, *rnd = state_random(state);

    if (rnd == NULL
        || ap_cookie_read(r, apr_pstrcat(r->pool, STATE_COOKIE, rnd, NULL), &v, 0)
               != APR_SUCCESS) {
        return NULL;
    }
    return v;
}

/* A refusal of an id_token: the page, the audit row, and a forgotten state cookie. */
static int refuse(request_rec *r, lti_err_t *err)
{
    return ptech_lti_error(r, err, NULL, 1);
}

/* Refuses a launch whose state was read: the state is single use, so it goes too. */
static int refuse_spent(request_rec *r, lti_store_t *store, const char *state, lti_err_t *err)
{
    lti_login_state_t gone;
    lti_err_t ignored;

    lti_store_state_take(store, r->pool, state, ptech_now(), &gone, &ignored);
    return refuse(r, err);
}


/* The lti1p1 migration claim: when its oauth_consumer_key_sign verifies with the secret of
 * the LTI 1.1 consumer it names, the 1.1 identity it names is this person (rec->link_*), and
 * 1 is returned.  Otherwise nothing is linked, 0 is returned and err says why: the launch
 * goes on as a 1.3 launch (its id_token is the platform's own; only the claim is not to be
 * trusted), and the caller audits it. */
static int lti1p1_identity(request_rec *r, lti_store_t *store, const lti_platform_t *pf,
                           const lti_launch13_t *l, lti_launch_rec_t *rec, lti_err_t *err)
{
    lti_lti1p1_t claim;
    lti_lti1p1_base_t b;
    lti_consumer_t consumer;

    if (lti_lti1p1_parse(r->pool, l->lti1p1_json, l->sub, &claim, err) != LTI_OK) {
        return 0;
    }
    if (lti_store_consumer_get(store, r->pool, claim.consumer_key, &consumer, err) != LTI_OK) {
        if (err->status == LTI_ERR_NOT_FOUND) {
            lti_err_set(err, LTI_ERR_UNKNOWN_KEY, "lti1p1_unknown_consumer",
                        "the lti1p1 claim names the LTI 1.1 consumer key %.100s, which is not "
                        "registered (ptechctl consumer list)", claim.consumer_key);
        }
        return 0;
    }
    memset(&b, 0, sizeof(b));
    b.deployment_id = l->deployment_id;
    b.iss = l->iss;
    b.client_id = pf->client_id;
    b.exp = l->exp;
    b.nonce = l->nonce;
    if (lti_lti1p1_verify(r->pool, &claim, consumer.secret, &b, err) != LTI_OK) {
        return 0;
    }
    /* The LTI 1.1 tenant, as ptech_handler_lti11.c names it. */
    rec->link_tenant = apr_pstrcat(r->pool, "lti11:", claim.consumer_key, NULL);
    rec->link_user_id = claim.user_id;
    return 1;
}

/* The answer to a launch whose browser sent no state cookie back and whose platform keeps
 * no value for it (SPEC.md, Cookies): a 401 page that offers to open the activity in a new
 * window, where the tool is not a third party; the state is spent, an audit row says why,
 * nothing else is stored. */
static int cookie_blocked(request_rec *r, lti_store_t *store, const lti_login_state_t *ls,
                          const lti_platform_t *pf)
{
    const char *lang = lti_lang_of(apr_table_get(r->headers_in, "Accept-Language"));
    const char *text = ls->storage_target
                           ? "The browser did not send back the login cookie and the "
                             "platform's storage did not give the login's value back: "
                             "third-party cookies are probably blocked in the LMS frame. Open "
                             "the activity in a new window."
                           : "The browser did not send back the login cookie: third-party "
                             "cookies are probably blocked in the LMS frame. Open the activity "
                             "in a new window.";
    const char *again = ls->relaunch;
    lti_login_state_t gone;
    lti_err_t err;

    lti_store_state_take(store, r->pool, ls->state, ptech_now(), &gone, &err);
    if (again == NULL && pf->id != 0) {
        again = ptech_origin_of(r->pool, pf->issuer);
    }
    lti_store_audit_add(store, ptech_now(), HTTP_UNAUTHORIZED, "lti13_state_no_cookie", r->uri,
                        r->useragent_ip, text, &err);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "PT00020: refused %s (%d %s): %s", r->uri,
                  HTTP_UNAUTHORIZED, "lti13_state_no_cookie", text);
    r->status = HTTP_UNAUTHORIZED;
    ptech_page_begin(r, lang, ptech_msg(lang, "cookies_blocked"), NULL);
    ap_rvputs(r, "<h1>", ptech_esc(r->pool, ptech_msg(lang, "cookies_blocked")), "</h1>\n<p>",
              ptech_esc(r->pool, ptech_msg(lang, "cookies_blocked_text")), "</p>\n", NULL);
    if (again != NULL) {
        ap_rvputs(r, "<p><a class=\"button\" id=\"ptech-new-window\" href=\"",
                  ptech_esc(r->pool, again), "\" target=\"_blank\" rel=\"noopener\">",
                  ptech_esc(r->pool, ptech_msg(lang, "new_window")), "</a></p>\n", NULL);
    }
    ap_rvputs(r, "<p class=\"problem\">", ptech_esc(r->pool, text), "</p>\n"
              "<p class=\"meta\">", ptech_esc(r->pool, ptech_msg(lang, "status")), ": 401 · ",
              ptech_esc(r->pool, ptech_msg(lang, "reason")),
              ": <code>lti13_state_no_cookie</code></p>\n", NULL);
    return ptech_page_end(r);
}

/* The answer to a launch without its state cookie whose login put the browser value in the
 * platform's storage: static/storage.js asks the platform frame for it (lti.get_data) and
 * posts the launch again with it as lti_storage_value.  Nothing is stored or spent here;
 * the id_token stays in the page's form, never in a URL. */
static int storage_get_page(request_rec *r, lti_store_t *store, const lti_login_state_t *ls,
                            const lti_platform_t *pf, const char *token)
{
    const char *origin;

    if (pf->id == 0 || (origin = ptech_origin_of(r->pool, pf->auth_url)) == NULL) {
        return cookie_blocked(r, store, ls, pf);
    }
    ptech_page_begin(r, NULL, "Open P-Tech", NULL);
    ap_rvputs(r, "<div id=\"ptech-storage\" data-mode=\"get\" data-target=\"",
              ptech_esc(r->pool, ls->storage_target), "\" data-origin=\"",
              ptech_esc(r->pool, origin), "\" data-key=\"",
              ptech_esc(r->pool, storage_key(r->pool, ls->state)), "\"></div>\n"
              "<form id=\"ptech-storage-form\" method=\"post\" action=\"", PTECH_PREFIX,
              "/launch\">\n<input type=\"hidden\" name=\"id_token\" value=\"",
              ptech_esc(r->pool, token), "\">\n<input type=\"hidden\" name=\"state\" value=\"",
              ptech_esc(r->pool, ls->state), "\">\n<input type=\"hidden\" "
              "name=\"lti_storage_value\" value=\"\">\n<noscript><button type=\"submit\">"
              "…</button></noscript>\n</form>\n<script src=\"", PTECH_PREFIX,
              "/static/storage.js\"></script>\n", NULL);
    return ptech_page_end(r);
}

/* A validated LtiDeepLinkingRequest: its state is spent here (no launch is recorded), its
 * settings kept server side for the picker (ptech_handler_deeplink.c).  Only people who
 * may add activities choose content. */
static int deep_linking(request_rec *r, lti_store_t *store, const lti_platform_t *pf,
                        const lti_launch13_t *l, const char *state)
{
    lti_deeplink_ctx_t dl;
    lti_login_state_t ls;
    lti_err_t err;

    lti_err_clear(&err);
    memset(&dl, 0, sizeof(dl));
    dl.version = "1.3";
    dl.locale = l->locale;
    dl.platform_id = pf->id;
    dl.issuer = pf->issuer;
    dl.client_id = pf->client_id;
    dl.deployment_id = l->deployment_id;
    if (lti_deeplink_settings_parse(r->pool, l->deep_link_json, &dl, &err) != LTI_OK) {
        return refuse_spent(r, store, state, &err);
    }
    if (lti_deeplink_roles_check(l->roles, l->roles_raw, &err) != LTI_OK) {
        return refuse_spent(r, store, state, &err);
    }
    /* The state is single use: a second post of the same id_token finds none. */
    if (lti_store_state_take(store, r->pool, state, ptech_now(), &ls, &err) != LTI_OK) {
        lti_err_set(&err, LTI_ERR_REPLAY, "lti13_state_unknown",
                    "This launch's state is unknown or was already used: open the activity "
                    "chooser in the LMS again.");
        return refuse(r, &err);
    }
    return ptech_deeplink_start(r, store, &dl);
}

int ptech_handle_launch13(request_rec *r)
{
    ptech_srv_cfg *c = ptech_cfg(r->server);
    lti_store_t *store = ptech_store(r);
    apr_array_header_t *kv;
    const char *token, *state, *cookie, *stored;
    lti_login_state_t ls;
    lti_platform_t pf;
    lti_jwt_t *jwt;
    lti_http_opts_t http;
    lti_launch13_expect_t exp;
    lti_launch13_t l;
    lti_launch_rec_t rec;
    lti_platform_keys_log_t keylog;
    lti_err_t err;
    lti_err_t mig;
    int64_t now = ptech_now(), leeway = ptech_cfg_dur(c->clock_leeway, 60);
    int known = 0, unlinked, rv, via_storage = 0;

    lti_err_clear(&err);
    if (r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "POST");
        return ptech_error_page(r, HTTP_METHOD_NOT_ALLOWED, NULL,
                                apr_psprintf(r->pool, "An LTI 1.3 launch is a form POST from "
                                             "the platform; this request was a %s.",
                                             r->method), "lti13_method", 1);
    }
    if (store == NULL) {
        return ptech_error_page(r, HTTP_SERVICE_UNAVAILABLE, NULL,
                                "The tool's database is not available.", "store_unavailable", 0);
    }
    if (read_params(r, LAUNCH_MAX_BODY, &kv, &err) != LTI_OK) {
        return refuse(r, &err);
    }
    if (lti_kv_get(kv, "error") != NULL) {
        lti_err_set(&err, LTI_ERR_FORBIDDEN, "lti13_platform_error",
                    "The platform refused the login: %s%s%s", lti_kv_get(kv, "error"),
                    lti_kv_get(kv, "error_description") ? " — " : "",
                    lti_kv_get(kv, "error_description") ? lti_kv_get(kv, "error_description")
                                                        : "");
        return refuse(r, &err);
    }
    token = lti_kv_get(kv, "id_token");
    state = lti_kv_get(kv, "state");
    if (token == NULL || state == NULL || lti_kv_count(kv, "id_token") != 1
        || lti_kv_count(kv, "state") != 1) {
        lti_err_set(&err, LTI_ERR_MISSING, token ? "lti13_no_state" : "lti13_no_id_token",
                    "The launch has no %s (it must come from the platform after /ptech/login).",
                    token ? "state" : "id_token");
        return refuse(r, &err);
    }
    /* The state is single use: read here (with its platform, in one snapshot), then
     * consumed in the launch's own transaction (one commit less per launch), or deleted when
     * the launch is refused. */
    if (lti_store_state_get(store, r->pool, state, now, &ls, &pf, &err) != LTI_OK) {
        if (err.status == LTI_ERR_EXPIRED) {
            return refuse_spent(r, store, state, &err);
        }
        if (err.status == LTI_ERR_NOT_FOUND) {
            lti_err_set(&err, LTI_ERR_REPLAY, "lti13_state_unknown",
                        "This launch's state is unknown or was already used: launch the "
                        "activity again from the LMS.");
        }
        return refuse(r, &err);
    }
    /* The browser binding: the state cookie, else the value the login put in the
     * platform's storage (posted back by static/storage.js), checked the same way. */
    cookie = state_cookie(r, state);
    stored = lti_kv_get(kv, "lti_storage_value");
    if (cookie == NULL && ls.storage_target != NULL) {
        if (stored == NULL) {
            return storage_get_page(r, store, &ls, &pf, token);
        }
        if (lti_kv_count(kv, "lti_storage_value") == 1 && *stored != '\0') {
            cookie = stored;
            via_storage = 1;
        }
    }
    if (cookie == NULL) {
        return cookie_blocked(r, store, &ls, &pf);
    }
    if (!lti_ct_streq(lti_sha256_hex(r->pool, cookie, strlen(cookie)), ls.browser)) {
        lti_err_set(&err, LTI_ERR_FORBIDDEN, "lti13_state_mismatch",
                    via_storage ? "The value the platform's storage gave back does not belong "
                                  "to this launch's state."
                                : "The login cookie does not belong to this launch's state.");
        return refuse_spent(r, store, state, &err);
    }
    if (lti_jwt_parse(r->pool, token, strlen(token), &jwt, &err) != LTI_OK) {
        return refuse_spent(r, store, state, &err);
    }
    if (pf.id == 0) {
        lti_err_set(&err, LTI_ERR_NOT_FOUND, "platform_unknown",
                    "the platform of this login was removed");
        return refuse_spent(r, store, state, &err);
    }
    memset(&http, 0, sizeof(http));
    http.timeout = ptech_cfg_dur(c->http_timeout, 10);
    http.ca_file = c->ca_file;
    http.proxy = c->http_proxy;
    http.allow_insecure_loopback = ptech_cfg_flag(c->allow_insecure_loopback);
    if (lti_platform_verify(r->pool, store, ptech_keycache(r), &pf, jwt, &http, now,
                            ptech_cfg_dur(c->jwks_cache_ttl, 3600), &keylog, &err) != LTI_OK) {
        return refuse_spent(r, store, state, &err);
    }
    memset(&exp, 0, sizeof(exp));
    exp.issuer = pf.issuer;
    exp.client_id = pf.client_id;
    exp.nonce = ls.nonce;
    exp.target_link_uri = ls.target_link_uri;
    exp.now = now;
    exp.leeway = leeway;
    if (lti_launch13_validate(r->pool, jwt->claims, &exp, &l, &err) != LTI_OK) {
        return refuse_spent(r, store, state, &err);
    }
    /* l holds copies of what is used from here on: the token's trees are freed while they
     * are still in the cache, not with the request. */
    lti_jwt_release(r->pool, jwt);
    for (int i = 0; i < pf.deployments->nelts && !known; i++) {
        known = strcmp(APR_ARRAY_IDX(pf.deployments, i, const char *), l.deployment_id) == 0;
    }
    if (!known) {
        if (!ptech_cfg_flag(c->auto_deployments)) {
            lti_err_set(&err, LTI_ERR_UNKNOWN_KEY, "lti13_unknown_deployment",
                        "The deployment id %s is not registered for platform %s (ptechctl "
                        "platform add ... --deployment ID, or PTechAutoDeployments On).",
                        l.deployment_id, pf.issuer);
            return refuse_spent(r, store, state, &err);
        }
        if (lti_store_deployment_add(store, pf.id, l.deployment_id, now, &err) != LTI_OK) {
            lti_store_state_take(store, r->pool, state, now, &ls, NULL);
            return ptech_lti_error(r, &err, NULL, 0);
        }
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "PT00040: LTI 1.3 launch from %s, clock skew "
                  "%" APR_INT64_T_FMT " s%s", pf.issuer, (apr_int64_t)l.skew,
                  keylog.fetched ? ", platform keys fetched" : "");
    if (strcmp(l.message_type, "LtiDeepLinkingRequest") == 0) {
        return deep_linking(r, store, &pf, &l, state);
    }

    memset(&rec, 0, sizeof(rec));
    rec.tenant = apr_pstrcat(r->pool, "lti13:", pf.issuer, "#", pf.client_id, NULL);
    /* The nonce is consumed once, fail closed, by consuming its state: the login state row
     * is the record of the nonce we issued (the token's nonce was checked equal to it), and
     * it is deleted in the launch's own transaction, so no separate nonce row is needed. */
    rec.login_state = state;
    rec.version = "1.3";
    rec.user_id = l.sub;
    rec.given_name = l.given_name;
    rec.family_name = l.family_name;
    rec.full_name = l.full_name;
    rec.email = l.email;
    rec.context_id = l.context_id;
    rec.context_title = l.context_title;
    rec.context_label = l.context_label;
    rec.context_type = l.context_type;
    rec.link_id = l.link_id;
    rec.link_title = l.link_title;
    rec.course_id = l.custom_course;
    rec.roles = l.roles;
    rec.roles_raw = l.roles_raw;
    rec.locale = l.locale;
    rec.result_sourcedid = l.result_sourcedid;
    rec.outcome_url = l.outcome_url;
    rec.link_claims = l.link_claims_json;
    rec.lms_origin = ptech_origin_of(r->pool, pf.issuer);
    rec.now = now;
    /* The same person as an LTI 1.1 launch (SPEC.md, Persons): by the guid and user id rule
     * in the store, and by the lti1p1 claim when it verifies. */
    rec.platform_guid = l.platform_guid;
    lti_err_clear(&mig);
    unlinked = l.lti1p1_json != NULL && !lti1p1_identity(r, store, &pf, &l, &rec, &mig);
    /* Through the platform's storage, the browser keeps no cookie of ours: the launch
     * answers with the course page itself rather than a redirect to it. */
    rv = ptech_launch_finish(r, store, &rec, via_storage, "jwt_nonce_replay",
                             "This id_token was already used (its nonce was seen before): "
                             "launch the activity again from the LMS.");
    if (unlinked && (r->status == HTTP_SEE_OTHER || (via_storage && r->status == HTTP_OK))) {
        /* Accepted, but not as the LTI 1.1 person: IT should know why. */
        const char *text = apr_pstrcat(r->pool, "Launch accepted, not linked to an LTI 1.1 "
                                       "person: ", mig.text, NULL);

        lti_store_audit_add(store, now, HTTP_SEE_OTHER, mig.reason ? mig.reason : "lti1p1_claim",
                            r->uri, r->useragent_ip, text, NULL);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "PT00041: %s", text);
    }
    return rv;
}
