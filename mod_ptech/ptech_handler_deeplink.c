/* ptech_handler_deeplink.c -- content selection: after a validated LTI 1.3
 * LtiDeepLinkingRequest or LTI 1.1 ContentItemSelectionRequest (ptech_deeplink_start), GET
 * /ptech/deeplink shows the catalog picker (search and theme filter: a GET form, no script
 * needed) and POST /ptech/deeplink answers the LMS with the chosen courses, or none (cancel):
 * a page whose form posts the signed answer to the LMS's return URL.  The request lives in
 * the store (lti_store_dlctx_*), bound to this browser by a cookie and to the picker's form
 * by a CSRF token; liblti (lti_deeplink) builds and signs the answer. */
#include <apr_hash.h>
#include <apr_strings.h>
#include <util_cookies.h>

#include "ptech.h"
#include "ptech_session.h"

APLOG_USE_MODULE(ptech);

#define DL_COOKIE "ptech_dl"
#define DL_MAX_BODY 16384
#define DL_MAX_PARAMS 256
#define HEX64 "0123456789abcdef"

/* The browser's binding cookie value when it has a well-formed one, else NULL. */
static const char *binding_cookie(request_rec *r)
{
    const char *v = NULL;

    if (ap_cookie_read(r, DL_COOKIE, &v, 0) != APR_SUCCESS || v == NULL || strlen(v) != 64
        || strspn(v, HEX64) != 64) {
        return NULL;
    }
    return v;
}

/* Sets the binding cookie (SPEC.md's cookie rule, like the session cookie). */
static void set_binding_cookie(request_rec *r, const char *value)
{
    const char *attrs = strncmp(ptech_base_url(r), "https:", 6) == 0 ? "; SameSite=None; Secure"
                                                                    : "; SameSite=Lax";

    apr_table_addn(r->err_headers_out, "Set-Cookie",
                   apr_psprintf(r->pool, "%s=%s; Path=%s; HttpOnly; Max-Age=%d%s", DL_COOKIE,
                                value, PTECH_PREFIX, LTI_DEEPLINK_TTL, attrs));
}

int ptech_deeplink_start(request_rec *r, lti_store_t *store, const lti_deeplink_ctx_t *dl)
{
    const char *cookie = binding_cookie(r), *body;
    lti_dlctx_t row;
    lti_err_t err;
    int64_t now = ptech_now();

    lti_err_clear(&err);
    /* One cookie per browser, shared by pickers open in several tabs. */
    if (cookie == NULL && (cookie = lti_random_hex(r->pool, 32)) == NULL) {
        return ptech_error_page(r, HTTP_INTERNAL_SERVER_ERROR, NULL, "No randomness available.",
                                "random_failed", 0);
    }
    memset(&row, 0, sizeof(row));
    row.id = lti_random_hex(r->pool, 16);
    row.csrf = lti_random_hex(r->pool, 16);
    body = lti_deeplink_ctx_dump(r->pool, dl);
    if (row.id == NULL || row.csrf == NULL || body == NULL) {
        return ptech_error_page(r, HTTP_INTERNAL_SERVER_ERROR, NULL, "No randomness available.",
                                "random_failed", 0);
    }
    row.browser = lti_sha256_hex(r->pool, cookie, strlen(cookie));
    row.body = body;
    row.created = now;
    row.expires = now + LTI_DEEPLINK_TTL;
    if (lti_store_dlctx_put(store, &row, now, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, lti_lang_of(dl->locale), 0);
    }
    set_binding_cookie(r, cookie);
    return ptech_redirect(r, apr_pstrcat(r->pool, ptech_base_url(r), PTECH_PREFIX,
                                         "/deeplink?ctx=", row.id, NULL));
}

/* The context named by id, checked against this browser's cookie; take: consumed.  On a
 * refusal the error page is rendered and *rc holds the handler's return value. */
static int load_context(request_rec *r, lti_store_t *store, const char *id, int take,
                        lti_dlctx_t *row, lti_deeplink_ctx_t *dl, int *rc)
{
    const char *cookie = binding_cookie(r);
    lti_err_t err;

    lti_err_clear(&err);
    if (id == NULL || strlen(id) != 32 || strspn(id, HEX64) != 32) {
        lti_err_set(&err, LTI_ERR_MISSING, "dl_no_context",
                    "This page needs the content selection it belongs to: open the activity "
                    "chooser in the LMS again.");
    }
    else if (lti_store_dlctx_get(store, r->pool, id, ptech_now(), take, row, &err) == LTI_OK) {
        if (cookie == NULL
            || !lti_ct_streq(lti_sha256_hex(r->pool, cookie, strlen(cookie)), row->browser)) {
            /* Not this browser's selection: nothing is signed for it. */
            lti_err_set(&err, LTI_ERR_FORBIDDEN, "dl_foreign_context",
                        cookie ? "This content selection was started in another browser."
                               : "The browser did not send the content selection's cookie "
                                 "back (third-party cookies blocked?): open the activity "
                                 "chooser again, or the LMS in a new window.");
        }
        else if (lti_deeplink_ctx_load(r->pool, row->body, dl, &err) == LTI_OK) {
            return 1;
        }
    }
    *rc = ptech_lti_error(r, &err, NULL, 1);
    return 0;
}

/* The picker: a search form (GET) and the selection form (POST). */
static int picker_page(request_rec *r, const lti_catalog_t *cat, const lti_dlctx_t *row,
                       const lti_deeplink_ctx_t *dl, const char *q, const char *theme)
{
    const char *lang = lti_lang_of(dl->locale);
    const char *type = dl->accept_multiple ? "checkbox" : "radio";
    apr_hash_t *themes = apr_hash_make(r->pool);
    int shown = 0;

    /* Only the LMS (where the answer goes) may frame the picker. */
    ptech_page_begin(r, lang, ptech_msg(lang, "dl_title"),
                     ptech_origin_of(r->pool, dl->return_url));
    ap_rvputs(r, "<h1>", ptech_esc(r->pool, ptech_msg(lang, "dl_title")), "</h1>\n<p>",
              ptech_esc(r->pool, ptech_msg(lang, dl->accept_multiple ? "dl_intro_multi"
                                                                    : "dl_intro_one")),
              "</p>\n<form class=\"card\" method=\"get\" action=\"", PTECH_PREFIX,
              "/deeplink\" role=\"search\">\n<input type=\"hidden\" name=\"ctx\" value=\"",
              ptech_esc(r->pool, row->id), "\">\n<label for=\"dl-q\">",
              ptech_esc(r->pool, ptech_msg(lang, "dl_search")), "</label>\n"
              "<input type=\"search\" id=\"dl-q\" name=\"q\" value=\"", ptech_esc(r->pool, q),
              "\">\n<label for=\"dl-theme\">", ptech_esc(r->pool, ptech_msg(lang, "dl_theme")),
              "</label>\n<select id=\"dl-theme\" name=\"theme\">\n<option value=\"\">",
              ptech_esc(r->pool, ptech_msg(lang, "dl_all_themes")), "</option>\n", NULL);
    for (int i = 0; cat && i < cat->ncourses; i++) {
        const char *t = cat->courses[i].theme;

        if (t != NULL && apr_hash_get(themes, t, APR_HASH_KEY_STRING) == NULL) {
            apr_hash_set(themes, t, APR_HASH_KEY_STRING, t);
            ap_rvputs(r, "<option value=\"", ptech_esc(r->pool, t), "\"",
                      theme && strcmp(theme, t) == 0 ? " selected" : "", ">",
                      ptech_esc(r->pool, t), "</option>\n", NULL);
        }
    }
    ap_rvputs(r, "</select>\n<button type=\"submit\">",
              ptech_esc(r->pool, ptech_msg(lang, "dl_search_btn")), "</button>\n</form>\n"
              "<form method=\"post\" action=\"", PTECH_PREFIX, "/deeplink\">\n"
              "<input type=\"hidden\" name=\"ctx\" value=\"", ptech_esc(r->pool, row->id),
              "\">\n<input type=\"hidden\" name=\"csrf\" value=\"",
              ptech_esc(r->pool, row->csrf), "\">\n<fieldset>\n<legend>",
              ptech_esc(r->pool, ptech_msg(lang, "dl_courses")), "</legend>\n", NULL);
    for (int i = 0; cat && i < cat->ncourses; i++) {
        const lti_course_t *c = &cat->courses[i];
        const char *id = ptech_esc(r->pool, c->id);

        if (!lti_deeplink_match(r->pool, c, q, theme)) {
            continue;
        }
        shown++;
        ap_rvputs(r, "<div class=\"pick\"><input type=\"", type, "\" name=\"course\" id=\"c-",
                  id, "\" value=\"", id, "\"> <label for=\"c-", id, "\"><strong>",
                  ptech_esc(r->pool, lti_i18n_get(&c->title, lang)), "</strong> <span "
                  "class=\"meta\">", ptech_esc(r->pool, c->theme), "</span><br>",
                  ptech_esc(r->pool, lti_i18n_get(&c->description, lang)), "</label></div>\n",
                  NULL);
    }
    if (shown == 0) {
        ap_rvputs(r, "<p>", ptech_esc(r->pool, ptech_msg(lang, "dl_none")), "</p>\n", NULL);
    }
    ap_rvputs(r, "</fieldset>\n<p><button type=\"submit\" name=\"action\" value=\"add\">",
              ptech_esc(r->pool, ptech_msg(lang, "dl_add")), "</button> "
              "<button type=\"submit\" name=\"action\" value=\"cancel\">",
              ptech_esc(r->pool, ptech_msg(lang, "dl_cancel")), "</button></p>\n</form>\n",
              NULL);
    return ptech_page_end(r);
}

/* The page that carries the answer to the LMS: a form posted by static/autosubmit.js, its
 * button for a browser without scripts.  The CSP lets this form go to the LMS origin. */
static int answer_page(request_rec *r, const lti_deeplink_ctx_t *dl,
                       const apr_array_header_t *fields)
{
    const char *lang = lti_lang_of(dl->locale);
    const char *origin = ptech_origin_of(r->pool, dl->return_url);

    if (origin != NULL) {
        apr_table_setn(r->notes, PTECH_NOTE_FORM_ACTION, origin);
    }
    ptech_page_begin(r, lang, ptech_msg(lang, "dl_title"), origin);
    ap_rvputs(r, "<form id=\"autosubmit\" method=\"post\" action=\"",
              ptech_esc(r->pool, dl->return_url), "\">\n", NULL);
    for (int i = 0; i < fields->nelts; i++) {
        const lti_kv_t *kv = &APR_ARRAY_IDX(fields, i, lti_kv_t);

        ap_rvputs(r, "<input type=\"hidden\" name=\"", ptech_esc(r->pool, kv->key),
                  "\" value=\"", ptech_esc(r->pool, kv->val), "\">\n", NULL);
    }
    ap_rvputs(r, "<p>", ptech_esc(r->pool, ptech_msg(lang, "dl_returning")), "</p>\n"
              "<button type=\"submit\">", ptech_esc(r->pool, ptech_msg(lang, "dl_continue")),
              "</button>\n</form>\n<script src=\"", PTECH_PREFIX,
              "/static/autosubmit.js\"></script>\n", NULL);
    return ptech_page_end(r);
}

/* The chosen courses of the selection form as items; *rc on a refusal. */
static int chosen_items(request_rec *r, const lti_catalog_t *cat, const apr_array_header_t *kv,
                        const lti_deeplink_ctx_t *dl, lti_deeplink_item_t **items, int *n,
                        int *rc)
{
    const char *lang = lti_lang_of(dl->locale);
    lti_deeplink_item_t *out = apr_pcalloc(r->pool, (kv->nelts + 1) * sizeof(*out));
    int count = 0;

    for (int i = 0; i < kv->nelts; i++) {
        const lti_kv_t *e = &APR_ARRAY_IDX(kv, i, lti_kv_t);
        const lti_course_t *c;

        if (strcmp(e->key, "course") != 0) {
            continue;
        }
        if (cat == NULL || (c = lti_catalog_course(cat, e->val)) == NULL) {
            *rc = ptech_error_page(r, HTTP_BAD_REQUEST, lang,
                                   apr_psprintf(r->pool, "The course %s is not in the "
                                                "catalog.", e->val),
                                   "dl_unknown_course", 1);
            return 0;
        }
        out[count].course_id = c->id;
        out[count].title = lti_i18n_get(&c->title, lang);
        out[count].text = lti_i18n_get(&c->description, lang);
        count++;
    }
    *items = out;
    *n = count;
    return 1;
}

/* The signed answer's fields: the JWT (1.3) or the signed Content-Item form (1.1). */
static lti_status_t answer_fields(request_rec *r, lti_store_t *store,
                                  const lti_deeplink_ctx_t *dl,
                                  const lti_deeplink_item_t *items, int n,
                                  apr_array_header_t **fields, lti_err_t *err)
{
    ptech_srv_cfg *c = ptech_cfg(r->server);
    const char *base = apr_pstrcat(r->pool, ptech_base_url(r), PTECH_PREFIX, NULL);
    const char *kid, *pem, *jwt;
    lti_consumer_t consumer;
    lti_status_t rv;

    if (strcmp(dl->version, "1.1") == 0) {
        if ((rv = lti_store_consumer_get(store, r->pool, dl->consumer_key, &consumer, err))
            != LTI_OK) {
            return rv;
        }
        return lti_contentitem_response(r->pool, dl, items, n,
                                        apr_pstrcat(r->pool, base, "/lti11", NULL),
                                        consumer.secret, ptech_now(), fields, err);
    }
    if (!c->secret_key_set) {
        return lti_err_set(err, LTI_ERR_CONFIG, "dl_no_key", "the tool has no signing key "
                           "(PTechSecretKeyFile is not set)");
    }
    if ((rv = lti_tool_key_current(r->pool, store, c->secret_key, &kid, &pem, err)) != LTI_OK
        || (rv = lti_deeplink_response(r->pool, dl, items, n,
                                       apr_pstrcat(r->pool, base, "/launch", NULL), kid, pem,
                                       ptech_now(), &jwt, err)) != LTI_OK) {
        return rv;
    }
    *fields = lti_kv_make(r->pool, 1);
    lti_kv_add(*fields, "JWT", jwt);
    return LTI_OK;
}

static int handle_post(request_rec *r, lti_store_t *store)
{
    const lti_catalog_t *cat = ptech_cfg(r->server)->catalog;
    apr_array_header_t *kv = lti_kv_make(r->pool, 16), *fields;
    const char *body, *csrf, *action;
    apr_size_t len;
    lti_dlctx_t row;
    lti_deeplink_ctx_t dl;
    lti_deeplink_item_t *items;
    lti_err_t err;
    int n = 0, rc = OK;

    lti_err_clear(&err);
    if (ptech_read_body(r, DL_MAX_BODY, &body, &len, &err) != LTI_OK
        || lti_form_parse(r->pool, body, len, DL_MAX_PARAMS, kv, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, NULL, 1);
    }
    if (!load_context(r, store, lti_kv_get(kv, "ctx"), 0, &row, &dl, &rc)) {
        return rc;
    }
    csrf = lti_kv_get(kv, "csrf");
    if (csrf == NULL || lti_kv_count(kv, "csrf") != 1 || !lti_ct_streq(csrf, row.csrf)) {
        return ptech_error_page(r, HTTP_FORBIDDEN, lti_lang_of(dl.locale),
                                "The selection form's security token is missing or wrong: "
                                "choose again from the picker.", "dl_csrf", 1);
    }
    action = lti_kv_get(kv, "action");
    if (action != NULL && strcmp(action, "cancel") == 0) {
        items = NULL;
    }
    else if (!chosen_items(r, cat, kv, &dl, &items, &n, &rc)) {
        return rc;
    }
    else if (n == 0) {
        return ptech_error_page(r, HTTP_BAD_REQUEST, lti_lang_of(dl.locale),
                                ptech_msg(lti_lang_of(dl.locale), "dl_nothing"),
                                "dl_nothing_chosen", 0);
    }
    if (lti_deeplink_check(&dl, items, n, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, lti_lang_of(dl.locale), 1);
    }
    /* Single use from here: a second post of the same form signs nothing. */
    if (!load_context(r, store, row.id, 1, &row, &dl, &rc)) {
        return rc;
    }
    if (answer_fields(r, store, &dl, items, n, &fields, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, lti_lang_of(dl.locale), 0);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "PT00070: content selection of %d item(s) "
                  "answered to %s", n, dl.return_url);
    return answer_page(r, &dl, fields);
}

int ptech_handle_deeplink(request_rec *r)
{
    lti_store_t *store = ptech_store(r);
    apr_array_header_t *q = lti_kv_make(r->pool, 8);
    lti_dlctx_t row;
    lti_deeplink_ctx_t dl;
    lti_err_t err;
    int rc = OK;

    lti_err_clear(&err);
    if (r->method_number != M_GET && r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "GET, POST");
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (store == NULL) {
        return ptech_error_page(r, HTTP_SERVICE_UNAVAILABLE, NULL,
                                "The tool's database is not available.", "store_unavailable", 0);
    }
    if (r->method_number == M_POST) {
        return handle_post(r, store);
    }
    if (r->args != NULL
        && lti_form_parse(r->pool, r->args, strlen(r->args), 16, q, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, NULL, 1);
    }
    if (!load_context(r, store, lti_kv_get(q, "ctx"), 0, &row, &dl, &rc)) {
        return rc;
    }
    return picker_page(r, ptech_cfg(r->server)->catalog, &row, &dl, lti_kv_get(q, "q"),
                       lti_kv_get(q, "theme"));
}
