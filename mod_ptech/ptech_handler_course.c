/* ptech_handler_course.c -- GET /ptech/course (the learner or instructor page of the
 * session's resource link) and POST /ptech/course/choose (an instructor maps an unmapped
 * link to a catalog course). */
#include <apr_hash.h>
#include <apr_strings.h>

#include "ptech.h"
#include "ptech_session.h"

APLOG_USE_MODULE(ptech);

#define CHOOSE_MAX_BODY 4096

static int no_session(request_rec *r)
{
    const char *lang = lti_lang_of(apr_table_get(r->headers_in, "Accept-Language"));
    const char *self = apr_pstrcat(r->pool, ptech_base_url(r), r->uri, NULL);

    /* Stores nothing: a blocked cookie is the browser's doing, not a refusal. */
    r->status = HTTP_UNAUTHORIZED;
    ptech_page_begin(r, lang, ptech_msg(lang, "no_session"), NULL);
    ap_rvputs(r, "<h1>", ptech_esc(r->pool, ptech_msg(lang, "no_session")), "</h1>\n<p>",
              ptech_esc(r->pool, ptech_msg(lang, "no_session_text")), "</p>\n"
              "<p><a class=\"button\" href=\"", ptech_esc(r->pool, self),
              "\" target=\"_blank\" rel=\"noopener\">",
              ptech_esc(r->pool, ptech_msg(lang, "new_window")), "</a></p>\n"
              "<p class=\"meta\">", ptech_esc(r->pool, ptech_msg(lang, "reason")),
              ": <code>session_no_cookie</code></p>\n", NULL);
    return ptech_page_end(r);
}

/* The "unknown course" heading and text, naming the id the link asked for. */
static void render_unknown(request_rec *r, const char *lang, const char *course_id)
{
    ap_rvputs(r, "<h1>", ptech_esc(r->pool, ptech_msg(lang, "unknown_course")), "</h1>\n<p>",
              ptech_esc(r->pool, ptech_msg(lang, "unknown_course_text")), " <code>",
              ptech_esc(r->pool, course_id), "</code></p>\n", NULL);
}

/* The modules; with actor (a learner's xAPI account name) each content link carries the
 * xAPI launch parameters (lti_xapi_content_link). */
static void render_modules(request_rec *r, const lti_course_t *course, const char *lang,
                           const char *actor)
{
    ap_rvputs(r, "<h2>", ptech_esc(r->pool, ptech_msg(lang, "modules")), "</h2>\n"
              "<ul class=\"modules\">\n", NULL);
    for (int i = 0; i < course->nmodules; i++) {
        const lti_module_t *m = &course->modules[i];
        const char *url = actor ? lti_xapi_content_link(r->pool, m->url, ptech_base_url(r),
                                                        actor, course->id, m->id)
                                : NULL;

        ap_rvputs(r, "<li><span>", ptech_esc(r->pool, lti_i18n_get(&m->title, lang)),
                  "</span> <a href=\"", ptech_esc(r->pool, url ? url : m->url),
                  "\" target=\"_blank\" rel=\"noopener\">",
                  ptech_esc(r->pool, ptech_msg(lang, "open")), "</a></li>\n", NULL);
    }
    ap_rputs("</ul>\n", r);
}

static void render_course_card(request_rec *r, const lti_course_t *course, const char *lang,
                               const char *actor)
{
    ap_rvputs(r, "<h1>", ptech_esc(r->pool, lti_i18n_get(&course->title, lang)), "</h1>\n"
              "<p>", ptech_esc(r->pool, lti_i18n_get(&course->description, lang)), "</p>\n"
              "<p class=\"meta\">", ptech_esc(r->pool, ptech_msg(lang, "passing")), ": ",
              apr_psprintf(r->pool, "%g", course->passing_score), " / 100 · ",
              ptech_esc(r->pool, ptech_msg(lang, "badge")), ": ",
              ptech_esc(r->pool, lti_i18n_get(&course->badge_name, lang)), "</p>\n", NULL);
    render_modules(r, course, lang, actor);
}

static int learner_page(request_rec *r, lti_store_t *store, const lti_session_t *s,
                        const lti_catalog_t *cat, const char *lang)
{
    const lti_course_t *course = s->course_id ? lti_catalog_course(cat, s->course_id) : NULL;

    if (s->course_id == NULL) {
        ptech_page_begin(r, lang, ptech_msg(lang, "not_configured"), s->lms_origin);
        ap_rvputs(r, "<h1>", ptech_esc(r->pool, ptech_msg(lang, "not_configured")), "</h1>\n"
                  "<p>", ptech_esc(r->pool, ptech_msg(lang, "not_configured_text")), "</p>\n",
                  NULL);
        return ptech_page_end(r);
    }
    if (course == NULL) {
        ptech_page_begin(r, lang, ptech_msg(lang, "unknown_course"), s->lms_origin);
        render_unknown(r, lang, s->course_id);
        return ptech_page_end(r);
    }
    ptech_page_begin(r, lang, lti_i18n_get(&course->title, lang), s->lms_origin);
    ptech_render_learner(r, store, s, course, lang);
    ptech_render_simulate(r, s, course, lang);
    ptech_badges_learner_card(r, store, s, cat, lang);
    return ptech_page_end(r);
}

static void render_chooser(request_rec *r, const lti_session_t *s, const lti_catalog_t *cat,
                           const char *lang, const char *heading)
{
    ap_rvputs(r, "<section class=\"card\"><h2 id=\"choose\">", ptech_esc(r->pool, heading),
              "</h2>\n<form method=\"post\" action=\"", PTECH_PREFIX, "/course/choose\">\n"
              "<input type=\"hidden\" name=\"csrf\" value=\"", ptech_esc(r->pool, s->csrf),
              "\">\n<select name=\"course\" aria-labelledby=\"choose\">\n", NULL);
    for (int i = 0; cat && i < cat->ncourses; i++) {
        const lti_course_t *c = &cat->courses[i];

        ap_rvputs(r, "<option value=\"", ptech_esc(r->pool, c->id), "\"",
                  s->course_id && strcmp(s->course_id, c->id) == 0 ? " selected" : "", ">",
                  ptech_esc(r->pool, lti_i18n_get(&c->title, lang)), "</option>\n", NULL);
    }
    ap_rvputs(r, "</select>\n<button type=\"submit\">",
              ptech_esc(r->pool, ptech_msg(lang, "choose_btn")), "</button>\n</form></section>\n",
              NULL);
}

static int instructor_page(request_rec *r, lti_store_t *store, const lti_session_t *s,
                           const lti_catalog_t *cat, const char *lang)
{
    const lti_course_t *course = s->course_id ? lti_catalog_course(cat, s->course_id) : NULL;

    ptech_roster_refresh(r, store, s->link_pk);
    ptech_page_begin(r, lang, ptech_msg(lang, "instructor"), s->lms_origin);
    ap_rvputs(r, "<p class=\"meta\">", ptech_esc(r->pool, ptech_msg(lang, "instructor")), " · ",
              ptech_esc(r->pool, s->context_title), " · ", ptech_esc(r->pool, s->link_title),
              "</p>\n", NULL);
    if (course != NULL) {
        render_course_card(r, course, lang, NULL);
        render_chooser(r, s, cat, lang, ptech_msg(lang, "change"));
    }
    else {
        if (s->course_id != NULL) {
            render_unknown(r, lang, s->course_id);
        }
        else {
            ap_rvputs(r, "<h1>", ptech_esc(r->pool, ptech_msg(lang, "not_configured")),
                      "</h1>\n", NULL);
        }
        render_chooser(r, s, cat, lang, ptech_msg(lang, "choose"));
    }
    ptech_badges_instructor_card(r, store, s, lang);
    ptech_render_dashboard(r, store, s, course, lang);
    return ptech_page_end(r);
}

static int choose(request_rec *r, lti_store_t *store, const lti_session_t *s,
                  const lti_catalog_t *cat, const char *lang)
{
    apr_array_header_t *form = lti_kv_make(r->pool, 4);
    const char *body, *course;
    apr_size_t len;
    lti_err_t err;

    if (!(s->roles & LTI_ROLE_STAFF_MASK)) {
        return ptech_error_page(r, HTTP_FORBIDDEN, lang, "Only an instructor can choose the "
                                "course of an activity.", "course_choose_forbidden", 1);
    }
    if (ptech_read_body(r, CHOOSE_MAX_BODY, &body, &len, &err) != LTI_OK
        || lti_form_parse(r->pool, body, len, 16, form, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, lang, 1);
    }
    if (!lti_ct_streq(lti_kv_get(form, "csrf"), s->csrf)) {
        return ptech_error_page(r, HTTP_FORBIDDEN, lang, "The form is out of date or did not "
                                "come from this tool (CSRF check): reload the page and try "
                                "again.", "csrf", 1);
    }
    course = lti_kv_get(form, "course");
    if (course == NULL || lti_catalog_course(cat, course) == NULL) {
        return ptech_error_page(r, HTTP_BAD_REQUEST, lang, "Choose a course from the list.",
                                "course_unknown", 1);
    }
    if (lti_store_link_set_course(store, s->link_pk, course, ptech_now(), &err) != LTI_OK) {
        return ptech_lti_error(r, &err, lang, 0);
    }
    return ptech_redirect(r, apr_pstrcat(r->pool, ptech_base_url(r), PTECH_PREFIX, "/course",
                                         NULL));
}

int ptech_handle_course(request_rec *r, const char *rest)
{
    const lti_catalog_t *cat = ptech_cfg(r->server)->catalog;
    lti_store_t *store = ptech_store(r);
    lti_session_t s;
    lti_err_t err;
    const char *lang;

    if (store == NULL) {
        return ptech_error_page(r, HTTP_SERVICE_UNAVAILABLE, NULL,
                                "The tool's database is not available.", "store_unavailable", 0);
    }
    if (ptech_session_get(r, store, &s, &err) != LTI_OK) {
        if (err.status == LTI_ERR_NOT_FOUND) {
            return no_session(r);
        }
        return ptech_lti_error(r, &err, NULL, 0);
    }
    lang = lti_lang_of(s.locale);
    if (strcmp(rest, "/choose") == 0) {
        if (r->method_number != M_POST) {
            apr_table_setn(r->headers_out, "Allow", "POST");
            return HTTP_METHOD_NOT_ALLOWED;
        }
        return choose(r, store, &s, cat, lang);
    }
    if (strcmp(rest, "/resend") == 0) {
        if (r->method_number != M_POST) {
            apr_table_setn(r->headers_out, "Allow", "POST");
            return HTTP_METHOD_NOT_ALLOWED;
        }
        return ptech_dashboard_resend(r, store, &s, lang);
    }
    if (strcmp(rest, "/export.csv") == 0 || strcmp(rest, "/certificate") == 0) {
        if (r->method_number != M_GET) {
            apr_table_setn(r->headers_out, "Allow", "GET");
            return HTTP_METHOD_NOT_ALLOWED;
        }
        return rest[1] == 'e'
                   ? ptech_dashboard_export(r, store, &s, s.course_id && cat
                                            ? lti_catalog_course(cat, s.course_id) : NULL, lang)
                   : ptech_course_certificate(r, store, &s, cat, lang);
    }
    if (strcmp(rest, "/attest") == 0 || strcmp(rest, "/simulate") == 0) {
        if (r->method_number != M_POST) {
            apr_table_setn(r->headers_out, "Allow", "POST");
            return HTTP_METHOD_NOT_ALLOWED;
        }
        return rest[1] == 'a' ? ptech_course_attest(r, store, &s, cat, lang)
                              : ptech_course_simulate(r, store, &s, cat, lang);
    }
    if (strcmp(rest, "/badge") == 0 || strcmp(rest, "/badge/decide") == 0) {
        if (r->method_number != M_POST) {
            apr_table_setn(r->headers_out, "Allow", "POST");
            return HTTP_METHOD_NOT_ALLOWED;
        }
        return rest[6] == '\0' ? ptech_badges_submit(r, store, &s, cat, lang)
                                : ptech_badges_decide(r, store, &s, cat, lang);
    }
    if (rest[0] != '\0' && strcmp(rest, "/") != 0) {
        return ptech_error_page(r, HTTP_NOT_FOUND, lang, "There is no such page.",
                                "not_found", 0);
    }
    if (r->method_number != M_GET) {
        apr_table_setn(r->headers_out, "Allow", "GET");
        return HTTP_METHOD_NOT_ALLOWED;
    }
    return ptech_course_page(r, store, &s);
}

int ptech_course_page(request_rec *r, lti_store_t *store, const lti_session_t *s)
{
    const lti_catalog_t *cat = ptech_cfg(r->server)->catalog;
    const char *lang = lti_lang_of(s->locale);

    if (s->roles & LTI_ROLE_STAFF_MASK) {
        return instructor_page(r, store, s, cat, lang);
    }
    return learner_page(r, store, s, cat, lang);
}
