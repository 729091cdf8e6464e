/* ptech_handler_badges.c -- Open Badges 2.0 pages: GET /ptech/badges/... (the issuer
 * Profile, a BadgeClass per catalog course, hosted Assertions and their baked PNGs, public
 * so that backpacks can verify them), and the badge parts of the course pages: the
 * learner's IBM badge form and earned badges (POST /ptech/course/badge), the instructor's
 * list of evidence waiting for approval (POST /ptech/course/badge/decide). */
#include <apr_strings.h>
#include <ctype.h>
#include <strings.h>

#include "ptech.h"
#include "ptech_session.h"

APLOG_USE_MODULE(ptech);

/* The medal every baked PNG starts from: drawn and compressed once per configuration
 * (post_config, before the children start), not on each request. */
static const unsigned char *badge_base;
static size_t badge_base_len;

#define BADGE_FORM_MAX 8192
#define EMAIL_MAX 254

/* A UI string of the page language, HTML-escaped. */
static const char *msg_html(request_rec *r, const char *lang, const char *key)
{
    return ptech_esc(r->pool, ptech_msg(lang, key));
}

static lti_badge_site_t site_of(request_rec *r)
{
    lti_badge_site_t site;
    apr_uri_t u;
    const char *base = ptech_base_url(r);

    memset(&site, 0, sizeof(site));
    site.base = base;
    site.lang = "fr";   /* SPEC.md: French when no language is asked for */
    site.issuer_name = apr_uri_parse(r->pool, base, &u) == APR_SUCCESS && u.hostname
                       ? apr_pstrcat(r->pool, "Open P-Tech · ", u.hostname, NULL)
                       : "Open P-Tech";
    /* An OB 2.0 issuer names a contact address: httpd's ServerAdmin, when it is one. */
    if (r->server->server_admin != NULL && strchr(r->server->server_admin, '@') != NULL
        && strncasecmp(r->server->server_admin, "mailto:", 7) != 0) {
        site.issuer_email = r->server->server_admin;
    }
    return site;
}

static int send_json(request_rec *r, int status, const char *text)
{
    r->status = status;
    ap_set_content_type(r, "application/ld+json; charset=utf-8");
    /* Public documents: any validator or backpack may read them, from a browser too; an
     * assertion may be revoked at any time, so nobody keeps a copy. */
    apr_table_setn(r->headers_out, "Access-Control-Allow-Origin", "*");
    apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
    ap_rputs(text, r);
    ap_rputs("\n", r);
    return OK;
}

static int json_error(request_rec *r, int status, const char *reason, const char *text)
{
    json_t *o = lti_json_pooled(r->pool, json_pack("{s:s, s:s}", "error", text,
                                                   "reason", reason));

    return send_json(r, status, o ? lti_json_text(r->pool, o, 0) : "{}");
}

/* An award id: 32 lowercase hex digits. */
static int award_id_ok(const char *id, size_t n)
{
    if (n != 32) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)id[i]) || isupper((unsigned char)id[i])) {
            return 0;
        }
    }
    return 1;
}

static int serve_assertion(request_rec *r, const ptech_srv_cfg *c, const char *rest)
{
    lti_store_t *store = ptech_store(r);
    const char *dot = strchr(rest, '.'), *json, *salt;
    int png = dot != NULL && strcmp(dot, ".png") == 0;
    size_t n = dot ? (size_t)(dot - rest) : strlen(rest);
    const char *id = apr_pstrmemdup(r->pool, rest, n);
    lti_badge_site_t site = site_of(r);
    lti_badge_award_t b;
    lti_err_t err;

    if (!award_id_ok(id, n) || (dot != NULL && !png)) {
        return json_error(r, HTTP_NOT_FOUND, "badge_unknown", "no such badge assertion");
    }
    if (store == NULL) {
        return json_error(r, HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
                          "the tool's database is not available");
    }
    if (lti_store_badge_get(store, r->pool, id, &b, &err) != LTI_OK) {
        return json_error(r, ptech_http_status(err.status), err.reason, err.text);
    }
    if (b.revoked) {
        json_t *o = lti_json_pooled(
            r->pool, json_pack("{s:s, s:s, s:s, s:b, s:s}", "@context", LTI_BADGE_CONTEXT,
                               "type", "Assertion",
                               "id", lti_badge_assertion_url(r->pool, site.base, id),
                               "revoked", 1, "revocationReason",
                               b.revoke_reason ? b.revoke_reason : ""));

        return send_json(r, HTTP_GONE, o ? lti_json_text(r->pool, o, JSON_PRESERVE_ORDER)
                                         : "{\"revoked\": true}");
    }
    if (b.email == NULL) {
        return json_error(r, HTTP_NOT_FOUND, "badge_no_recipient",
                          "the LMS never sent this learner's email: the assertion has no "
                          "recipient yet");
    }
    salt = lti_badge_salt(r->pool, c->secret_key, b.id);
    json = lti_badge_assertion_json(r->pool, &site, c->catalog
                                    ? lti_catalog_course(c->catalog, b.course_id) : NULL,
                                    &b, salt);
    if (json == NULL) {
        return json_error(r, HTTP_INTERNAL_SERVER_ERROR, "badge_build",
                          "cannot build the assertion");
    }
    if (png) {
        unsigned char *baked;
        size_t len;

        if (lti_badge_png_bake(r->pool, badge_base, badge_base_len, json, &baked, &len, &err)
            != LTI_OK) {
            return json_error(r, HTTP_INTERNAL_SERVER_ERROR, err.reason, err.text);
        }
        ap_set_content_type(r, "image/png");
        apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
        apr_table_setn(r->headers_out, "Content-Disposition",
                       apr_psprintf(r->pool, "attachment; filename=\"badge-%s.png\"", id));
        ap_set_content_length(r, (apr_off_t)len);
        ap_rwrite(baked, (int)len, r);
        return OK;
    }
    return send_json(r, HTTP_OK, json);
}

int ptech_badges_init(apr_pool_t *pconf, server_rec *s)
{
    lti_err_t err;

    if (lti_badge_png_base(pconf, &badge_base, &badge_base_len, &err) != LTI_OK) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "PT00018: badge image: %s", err.text);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

int ptech_handle_badges(request_rec *r, const char *rest)
{
    const ptech_srv_cfg *c = ptech_cfg(r->server);
    lti_badge_site_t site = site_of(r);
    const char *json;

    if (r->method_number != M_GET) {
        apr_table_setn(r->headers_out, "Allow", "GET");
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (strcmp(rest, "issuer") == 0) {
        json = lti_badge_profile_json(r->pool, &site);
        return json ? send_json(r, HTTP_OK, json) : HTTP_INTERNAL_SERVER_ERROR;
    }
    if (strncmp(rest, "class/", 6) == 0) {
        const lti_course_t *course = c->catalog ? lti_catalog_course(c->catalog, rest + 6)
                                                : NULL;

        if (course == NULL) {
            return json_error(r, HTTP_NOT_FOUND, "course_unknown",
                              "no course with this id in the catalog");
        }
        json = lti_badge_class_json(r->pool, &site, course);
        return json ? send_json(r, HTTP_OK, json) : HTTP_INTERNAL_SERVER_ERROR;
    }
    if (strncmp(rest, "assertion/", 10) == 0) {
        return serve_assertion(r, c, rest + 10);
    }
    return json_error(r, HTTP_NOT_FOUND, "not_found", "no such badge document");
}

/* ---- the course pages ---- */

void ptech_badges_learner_card(request_rec *r, lti_store_t *store, const lti_session_t *s,
                               const lti_catalog_t *cat, const char *lang)
{
    const char *base = ptech_base_url(r);
    apr_array_header_t *awards, *claims;
    lti_err_t err;

    ap_rvputs(r, "<section class=\"card\" aria-labelledby=\"badges\"><h2 id=\"badges\">",
              msg_html(r, lang, "badge_card"), "</h2>\n", NULL);
    if (lti_store_badge_list(store, r->pool, s->person_id, &awards, &err) == LTI_OK
        && awards->nelts > 0) {
        ap_rvputs(r, "<h3>", msg_html(r, lang, "badge_earned"), "</h3>\n"
                  "<ul class=\"badges\">\n", NULL);
        for (int i = 0; i < awards->nelts; i++) {
            const lti_badge_award_t *b = &APR_ARRAY_IDX(awards, i, lti_badge_award_t);
            const lti_course_t *c = lti_catalog_course(cat, b->course_id);
            const char *url = lti_badge_assertion_url(r->pool, base, b->id);

            ap_rvputs(r, "<li><strong>", ptech_esc(r->pool, c ? lti_i18n_get(&c->badge_name,
                                                                               lang)
                                                               : b->course_id),
                      "</strong>", b->revoked ? apr_pstrcat(r->pool, " (",
                                                            msg_html(r, lang, "badge_revoked"),
                                                            ")", NULL)
                                              : "", NULL);
            if (!b->revoked) {
                ap_rvputs(r, " · <a class=\"assertion\" href=\"", ptech_esc(r->pool, url),
                          "\" target=\"_blank\" rel=\"noopener\">",
                          msg_html(r, lang, "badge_assertion"), "</a> · "
                          "<a class=\"png\" href=\"", ptech_esc(r->pool, url), ".png\" "
                          "download>", msg_html(r, lang, "badge_png"), "</a>", NULL);
            }
            ap_rputs("</li>\n", r);
        }
        ap_rvputs(r, "</ul>\n<p class=\"meta backpack\">",
                  msg_html(r, lang, "badge_backpack"), "</p>\n", NULL);
    }
    if (lti_store_badge_claim_list(store, r->pool, 0, s->person_id, &claims, &err) == LTI_OK) {
        for (int i = 0; i < claims->nelts; i++) {
            const lti_badge_claim_t *c = &APR_ARRAY_IDX(claims, i, lti_badge_claim_t);

            ap_rvputs(r, "<p class=\"waiting\">", msg_html(r, lang, "badge_waiting"),
                      " <code>", ptech_esc(r->pool, c->url), "</code></p>\n", NULL);
        }
    }
    ap_rvputs(r, "<h3 id=\"ibm\">", msg_html(r, lang, "badge_ibm_title"), "</h3>\n<p>",
              msg_html(r, lang, "badge_ibm_text"), "</p>\n"
              "<form method=\"post\" action=\"", PTECH_PREFIX, "/course/badge\">\n"
              "<input type=\"hidden\" name=\"csrf\" value=\"", ptech_esc(r->pool, s->csrf),
              "\">\n<p><label for=\"badge-url\">", msg_html(r, lang, "badge_ibm_url"),
              "</label><br><input id=\"badge-url\" name=\"url\" type=\"url\" required "
              "maxlength=\"2048\" size=\"60\"></p>\n<p><label for=\"badge-email\">",
              msg_html(r, lang, "badge_ibm_email"), "</label><br>"
              "<input id=\"badge-email\" name=\"email\" type=\"email\" maxlength=\"254\" "
              "size=\"40\"></p>\n<button type=\"submit\">",
              msg_html(r, lang, "badge_ibm_check"), "</button>\n</form></section>\n",
              NULL);
}

void ptech_badges_instructor_card(request_rec *r, lti_store_t *store, const lti_session_t *s,
                                  const char *lang)
{
    apr_array_header_t *claims;
    lti_err_t err;

    if (lti_store_badge_claim_list(store, r->pool, s->link_pk, 0, &claims, &err) != LTI_OK
        || claims->nelts == 0) {
        return;
    }
    ap_rvputs(r, "<section class=\"card\" aria-labelledby=\"claims\"><h2 id=\"claims\">",
              msg_html(r, lang, "badge_claims"), "</h2>\n<div class=\"table-wrap\">"
              "<table>\n<thead><tr><th scope=\"col\">", ptech_esc(r->pool,
                                                                   ptech_msg(lang, "name")),
              "</th><th scope=\"col\">", msg_html(r, lang, "email"),
              "</th><th scope=\"col\">", msg_html(r, lang, "badge_claimed"),
              "</th><th scope=\"col\">", msg_html(r, lang, "badge"),
              "</th><th scope=\"col\"></th></tr></thead>\n<tbody>\n", NULL);
    for (int i = 0; i < claims->nelts; i++) {
        const lti_badge_claim_t *c = &APR_ARRAY_IDX(claims, i, lti_badge_claim_t);
        const char *id = apr_psprintf(r->pool, "%" APR_INT64_T_FMT, (apr_int64_t)c->id);

        ap_rvputs(r, "<tr><td>", ptech_esc(r->pool, c->full_name), "</td><td>",
                  ptech_esc(r->pool, c->email), "</td><td>",
                  ptech_esc(r->pool, c->claimed_email), "</td><td><a href=\"",
                  ptech_esc(r->pool, c->url), "\" target=\"_blank\" rel=\"noopener\">",
                  ptech_esc(r->pool, c->url), "</a></td><td>", NULL);
        for (int k = 0; k < 2; k++) {
            const char *action = k == 0 ? "approve" : "reject";

            ap_rvputs(r, "<form method=\"post\" action=\"", PTECH_PREFIX,
                      "/course/badge/decide\" class=\"inline\">"
                      "<input type=\"hidden\" name=\"csrf\" value=\"",
                      ptech_esc(r->pool, s->csrf), "\"><input type=\"hidden\" name=\"id\" "
                      "value=\"", id, "\"><input type=\"hidden\" name=\"action\" value=\"",
                      action, "\"><button type=\"submit\">",
                      msg_html(r, lang, apr_pstrcat(r->pool, "badge_", action, NULL)),
                      "</button></form> ", NULL);
        }
        ap_rputs("</td></tr>\n", r);
    }
    ap_rputs("</tbody></table></div></section>\n", r);
}

/* Reads a small form and checks its CSRF token; on failure the refusal page is answered
 * and *done holds its return value. */
static apr_array_header_t *read_form(request_rec *r, const lti_session_t *s, const char *lang,
                                     int *done)
{
    apr_array_header_t *form = lti_kv_make(r->pool, 4);
    const char *body;
    apr_size_t len;
    lti_err_t err;

    if (ptech_read_body(r, BADGE_FORM_MAX, &body, &len, &err) != LTI_OK
        || lti_form_parse(r->pool, body, len, 16, form, &err) != LTI_OK) {
        *done = ptech_lti_error(r, &err, lang, 1);
        return NULL;
    }
    if (!lti_ct_streq(lti_kv_get(form, "csrf"), s->csrf)) {
        *done = ptech_error_page(r, HTTP_FORBIDDEN, lang, "The form is out of date or did not "
                                 "come from this tool (CSRF check): reload the page and try "
                                 "again.", "csrf", 1);
        return NULL;
    }
    return form;
}

/* A page that says what happened, with a way back to the course. */
static int done_page(request_rec *r, const lti_session_t *s, const char *lang,
                     const char *title, const char *text)
{
    ptech_page_begin(r, lang, title, s->lms_origin);
    ap_rvputs(r, "<h1>", ptech_esc(r->pool, title), "</h1>\n<p class=\"outcome\">",
              ptech_esc(r->pool, text), "</p>\n<p><a class=\"button\" href=\"", PTECH_PREFIX,
              "/course\">", msg_html(r, lang, "badge_back"), "</a></p>\n", NULL);
    return ptech_page_end(r);
}

/* The HTTP status of a badge refusal: the library's, except that an expired badge is a
 * refusal of the badge, not of the person (403, not 401). */
static int refusal_status(const lti_err_t *err)
{
    return err->status == LTI_ERR_EXPIRED ? HTTP_FORBIDDEN
           : err->status == LTI_ERR_NOT_FOUND ? HTTP_UNPROCESSABLE_ENTITY
           : ptech_http_status(err->status);
}

/* lti_badge_verify under the server's outbound HTTP settings and badge issuer hosts. */
static lti_status_t verify(request_rec *r, const char *url, const lti_catalog_t *cat,
                           const char *email, const char *claimed, lti_badge_evidence_t *ev,
                           lti_err_t *err)
{
    const ptech_srv_cfg *c = ptech_cfg(r->server);
    lti_http_opts_t http;

    memset(&http, 0, sizeof(http));
    http.timeout = ptech_cfg_dur(c->http_timeout, 10);
    http.ca_file = c->ca_file;
    http.proxy = c->http_proxy;
    http.allow_insecure_loopback = ptech_cfg_flag(c->allow_insecure_loopback);
    http.max_bytes = LTI_BADGE_MAX_DOC;
    return lti_badge_verify(r->pool, url, cat, c->badge_issuer_hosts, &http, email, claimed,
                            ptech_now(), ev, err);
}

int ptech_badges_submit(request_rec *r, lti_store_t *store, const lti_session_t *s,
                        const lti_catalog_t *cat, const char *lang)
{
    const lti_course_t *course = s->course_id ? lti_catalog_course(cat, s->course_id) : NULL;
    apr_array_header_t *form, *rows;
    const char *url, *claimed;
    lti_badge_evidence_t ev;
    lti_progress_t *row;
    lti_err_t err;
    int done = OK;

    if ((form = read_form(r, s, lang, &done)) == NULL) {
        return done;
    }
    if (course == NULL) {
        return ptech_error_page(r, HTTP_NOT_FOUND, lang, "This activity has no catalog course "
                                "yet: there is nothing a badge could pass.",
                                "course_unknown", 1);
    }
    url = lti_kv_get(form, "url");
    claimed = lti_kv_get(form, "email");
    if (claimed != NULL) {
        while (isspace((unsigned char)*claimed)) {
            claimed++;
        }
        if (*claimed == '\0') {
            claimed = NULL;
        }
        else if (strlen(claimed) > EMAIL_MAX || strchr(claimed, '@') == NULL) {
            return ptech_error_page(r, HTTP_BAD_REQUEST, lang, "The address the badge was "
                                    "issued to is not an email address.",
                                    "badge_email_malformed", 1);
        }
    }
    if (verify(r, url, cat, s->email, claimed, &ev, &err) != LTI_OK) {
        return ptech_error_page(r, refusal_status(&err), lang, err.text,
                                err.reason ? err.reason : "badge_refused", 1);
    }
    if (strcmp(ev.course->id, course->id) != 0) {
        return ptech_error_page(r, HTTP_UNPROCESSABLE_ENTITY, lang,
                                apr_psprintf(r->pool, "This is the IBM badge of the course "
                                             "\"%s\", not of this activity's course \"%s\".",
                                             lti_i18n_get(&ev.course->title, lang),
                                             lti_i18n_get(&course->title, lang)),
                                "badge_other_course", 1);
    }
    if (ev.needs_approval) {
        lti_badge_claim_t claim;

        memset(&claim, 0, sizeof(claim));
        claim.person_id = s->person_id;
        claim.link_pk = s->link_pk;
        claim.course_id = course->id;
        claim.url = ev.assertion_url;
        claim.claimed_email = claimed;
        if (lti_store_badge_claim_add(store, &claim, ptech_now(), NULL, &err) != LTI_OK) {
            return ptech_lti_error(r, &err, lang, err.status == LTI_ERR_EXISTS);
        }
        return done_page(r, s, lang, ptech_msg(lang, "badge_filed"),
                         ptech_msg(lang, "badge_filed_text"));
    }
    rows = apr_array_make(r->pool, 1, sizeof(lti_progress_t));
    row = apr_array_push(rows);
    memset(row, 0, sizeof(*row));
    row->person_id = s->person_id;
    row->course_id = course->id;
    row->module_id = "";
    row->status = "passed";
    row->at = ptech_now();
    row->source = "ibm-badge";
    row->evidence = ev.assertion_url;
    if (lti_store_progress_record(store, r->pool, rows, ptech_now(), lti_progress_result_fn,
                                  (void *)cat, NULL, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, lang, 0);
    }
    return done_page(r, s, lang, ptech_msg(lang, "badge_accepted"),
                     ptech_msg(lang, "badge_accepted_text"));
}

int ptech_badges_decide(request_rec *r, lti_store_t *store, const lti_session_t *s,
                        const lti_catalog_t *cat, const char *lang)
{
    apr_array_header_t *form;
    const char *action;
    int64_t id = 0;
    lti_err_t err;
    int done = OK;

    if (!(s->roles & LTI_ROLE_STAFF_MASK)) {
        return ptech_error_page(r, HTTP_FORBIDDEN, lang, "Only an instructor can approve or "
                                "reject badge evidence.", "badge_decide_forbidden", 1);
    }
    if ((form = read_form(r, s, lang, &done)) == NULL) {
        return done;
    }
    action = lti_kv_get(form, "action");
    if (action == NULL || (strcmp(action, "approve") != 0 && strcmp(action, "reject") != 0)
        || lti_kv_get(form, "id") == NULL || lti_parse_int64(lti_kv_get(form, "id"), &id) != 0
        || id <= 0) {
        return ptech_error_page(r, HTTP_BAD_REQUEST, lang, "The form names no evidence or no "
                                "decision (approve or reject).", "badge_decide_malformed", 1);
    }
    if (strcmp(action, "approve") == 0) {
        /* The badge is checked again: it may have been revoked or have expired since. */
        apr_array_header_t *claims;
        const lti_badge_claim_t *c = NULL;
        lti_badge_evidence_t ev;

        if (lti_store_badge_claim_list(store, r->pool, s->link_pk, 0, &claims, &err)
            != LTI_OK) {
            return ptech_lti_error(r, &err, lang, 0);
        }
        for (int i = 0; i < claims->nelts; i++) {
            if (APR_ARRAY_IDX(claims, i, lti_badge_claim_t).id == id) {
                c = &APR_ARRAY_IDX(claims, i, lti_badge_claim_t);
            }
        }
        if (c != NULL && verify(r, c->url, cat, c->email, c->claimed_email, &ev, &err)
                         != LTI_OK) {
            return ptech_error_page(r, refusal_status(&err), lang,
                                    apr_pstrcat(r->pool, "This badge no longer passes the "
                                                "check, so it cannot be approved: ", err.text,
                                                NULL),
                                    err.reason ? err.reason : "badge_refused", 1);
        }
    }
    if (lti_store_badge_claim_decide(store, r->pool, id, s->link_pk,
                                     strcmp(action, "approve") == 0, ptech_now(),
                                     lti_progress_result_fn, (void *)cat, NULL, &err)
        != LTI_OK) {
        return ptech_lti_error(r, &err, lang, err.status == LTI_ERR_NOT_FOUND);
    }
    return ptech_redirect(r, apr_pstrcat(r->pool, ptech_base_url(r), PTECH_PREFIX, "/course",
                                         NULL));
}
