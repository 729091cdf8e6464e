/* ptech_learner.c -- the learner's part of the course page (modules with their status and a
 * progress bar, the score, content links that open in a new window) and certificates of
 * completion (one per badge award, sharing its id): the learner's printable page
 * (GET /ptech/course/certificate) and the public verification page an employer opens
 * without logging in (GET /ptech/certificate/ID). */
#include <apr_strings.h>

#include "ptech.h"
#include "ptech_session.h"

APLOG_USE_MODULE(ptech);

/* Badge award ids (the certificate's id): 128 random bits in hex. */
#define CERT_ID_BYTES 16

/* The public verification URL of a certificate. */
static const char *cert_url(request_rec *r, const char *id)
{
    return apr_pstrcat(r->pool, ptech_base_url(r), PTECH_PREFIX, "/certificate/", id, NULL);
}

/* The certificate of completion of person in course is the course's badge award (made in
 * the transaction that passed the course, revoked with ptechctl badges revoke): its
 * unguessable id is the certificate's.  NULL when none (or on a store error, logged). */
static const lti_badge_award_t *certificate_of(request_rec *r, lti_store_t *store,
                                               int64_t person_id, const char *course_id)
{
    apr_array_header_t *awards;
    lti_err_t err;

    if (lti_store_badge_list(store, r->pool, person_id, &awards, &err) != LTI_OK) {
        return NULL;
    }
    for (int i = 0; i < awards->nelts; i++) {
        const lti_badge_award_t *b = &APR_ARRAY_IDX(awards, i, lti_badge_award_t);

        if (strcmp(b->course_id, course_id) == 0) {
            return b;
        }
    }
    return NULL;
}

void ptech_render_learner(request_rec *r, lti_store_t *store, const lti_session_t *s,
                          const lti_course_t *course, const char *lang)
{
    const char *actor = ptech_xapi_actor_name(r, store, s->person_id);
    apr_array_header_t *facts = NULL;
    lti_result_t res;
    lti_err_t err;
    int has_res;

    has_res = lti_store_result_get(store, r->pool, s->person_id, course->id, &res, &err)
              == LTI_OK;
    if (lti_store_progress_list(store, r->pool, s->person_id, course->id, &facts, &err)
        != LTI_OK) {
        facts = apr_array_make(r->pool, 1, sizeof(lti_progress_t));
    }
    ap_rvputs(r, "<h1>", ptech_esc(r->pool, lti_i18n_get(&course->title, lang)), "</h1>\n"
              "<p>", ptech_esc(r->pool, lti_i18n_get(&course->description, lang)), "</p>\n"
              "<section class=\"card\" aria-labelledby=\"progress\"><h2 id=\"progress\">",
              ptech_esc(r->pool, ptech_msg(lang, "progress")), "</h2>\n<p>", NULL);
    ptech_render_progress_bar(r, lang, lti_report_modules_done(course, facts,
                                                               has_res ? &res : NULL),
                              course->nmodules);
    ap_rputs("</p>\n<p>", r);
    if (has_res) {
        ap_rvputs(r, "<span class=\"result\">",
                  ptech_esc(r->pool, ptech_msg(lang, apr_pstrcat(r->pool, "result_", res.status,
                                                                 NULL))),
                  " · ", ptech_esc(r->pool, ptech_msg(lang, "score")), " ",
                  ptech_esc(r->pool, ptech_score_text(r, lang, res.score)), " / 100</span>",
                  NULL);
    }
    else {
        ap_rputs(ptech_esc(r->pool, ptech_msg(lang, "progress_soon")), r);
    }
    ap_rvputs(r, "</p>\n<p class=\"meta\">", ptech_esc(r->pool, ptech_msg(lang, "passing")),
              ": ", apr_psprintf(r->pool, "%g", course->passing_score), " / 100 · ",
              ptech_esc(r->pool, ptech_msg(lang, "badge")), ": ",
              ptech_esc(r->pool, lti_i18n_get(&course->badge_name, lang)), "</p>\n", NULL);
    if (has_res && strcmp(res.status, "passed") == 0
        && certificate_of(r, store, s->person_id, course->id) != NULL) {
        ap_rvputs(r, "<p><a class=\"button\" href=\"", PTECH_PREFIX, "/course/certificate\" "
                  "target=\"_blank\" rel=\"noopener\">",
                  ptech_esc(r->pool, ptech_msg(lang, "cert_open")), "</a></p>\n", NULL);
    }
    ap_rvputs(r, "</section>\n<h2>", ptech_esc(r->pool, ptech_msg(lang, "modules")), "</h2>\n"
              "<ul class=\"modules\">\n", NULL);
    for (int i = 0; i < course->nmodules; i++) {
        const lti_module_t *m = &course->modules[i];
        const char *st = lti_report_module_status(facts, m->id);
        /* The content link carries the learner's xAPI actor (lti_xapi_content_link). */
        const char *url = actor ? lti_xapi_content_link(r->pool, m->url, ptech_base_url(r),
                                                        actor, course->id, m->id)
                                : m->url;

        ap_rvputs(r, "<li><span>", ptech_esc(r->pool, lti_i18n_get(&m->title, lang)),
                  " <span class=\"tag ", st ? ptech_esc(r->pool, st) : "not_started", "\">",
                  ptech_esc(r->pool, ptech_msg(lang, st ? apr_pstrcat(r->pool, "result_", st,
                                                                      NULL)
                                                        : "dash_not_started")),
                  "</span></span> <a href=\"", ptech_esc(r->pool, url),
                  "\" target=\"_blank\" rel=\"noopener\">",
                  ptech_esc(r->pool, ptech_msg(lang, "open")), "<span class=\"sr-only\"> — ",
                  ptech_esc(r->pool, lti_i18n_get(&m->title, lang)), " (",
                  ptech_esc(r->pool, ptech_msg(lang, "new_window")), ")</span></a></li>\n",
                  NULL);
    }
    ap_rputs("</ul>\n", r);
}

/* The certificate itself: name, course title in lang, date in Africa/Casablanca, state,
 * verification URL. */
static void render_certificate(request_rec *r, const lti_badge_award_t *c, const char *lang)
{
    const lti_catalog_t *cat = ptech_cfg(r->server)->catalog;
    const lti_course_t *course = cat ? lti_catalog_course(cat, c->course_id) : NULL;
    const char *url = cert_url(r, c->id);

    ap_rvputs(r, "<article class=\"certificate\" aria-labelledby=\"cert\">\n"
              "<h1 id=\"cert\">", ptech_esc(r->pool, ptech_msg(lang, "cert_title")), "</h1>\n"
              "<p class=\"cert-state ", c->revoked ? "revoked" : "valid", "\">",
              ptech_esc(r->pool, ptech_msg(lang, c->revoked ? "cert_revoked" : "cert_valid")),
              "</p>\n<dl class=\"cert\">"
              "<div><dt>", ptech_esc(r->pool, ptech_msg(lang, "name")), "</dt><dd class=\"who\">",
              ptech_esc(r->pool, c->full_name), "</dd></div>"
              "<div><dt>", ptech_esc(r->pool, ptech_msg(lang, "cert_course")), "</dt><dd>",
              ptech_esc(r->pool, course ? lti_i18n_get(&course->title, lang) : c->course_id),
              "</dd></div>"
              "<div><dt>", ptech_esc(r->pool, ptech_msg(lang, "cert_date")), "</dt><dd>"
              "<time datetime=\"", lti_report_casablanca(r->pool, c->issued, 0), "\">",
              lti_report_casablanca(r->pool, c->issued, 0), "</time></dd></div></dl>\n"
              "<p class=\"meta\">", ptech_esc(r->pool, ptech_msg(lang, "cert_verify")),
              " <a href=\"", ptech_esc(r->pool, url), "\">", ptech_esc(r->pool, url),
              "</a></p>\n</article>\n", NULL);
}

int ptech_course_certificate(request_rec *r, lti_store_t *store, const lti_session_t *s,
                             const lti_catalog_t *cat, const char *lang)
{
    const lti_course_t *course = s->course_id && cat ? lti_catalog_course(cat, s->course_id)
                                                     : NULL;
    const lti_badge_award_t *c = course ? certificate_of(r, store, s->person_id, course->id)
                                        : NULL;

    if (c == NULL) {
        return ptech_error_page(r, HTTP_NOT_FOUND, lang, ptech_msg(lang, "cert_none"),
                                "certificate_none", 0);
    }
    ptech_page_begin(r, lang, ptech_msg(lang, "cert_title"), s->lms_origin);
    render_certificate(r, c, lang);
    ap_rvputs(r, "<p class=\"meta no-print\">", ptech_esc(r->pool, ptech_msg(lang, "cert_print")),
              "</p>\n", NULL);
    return ptech_page_end(r);
}

int ptech_handle_certificate(request_rec *r, const char *id)
{
    lti_store_t *store = ptech_store(r);
    lti_badge_award_t c;
    lti_err_t err;
    const char *lang = lti_lang_of(apr_table_get(r->headers_in, "Accept-Language"));

    if (r->method_number != M_GET) {
        apr_table_setn(r->headers_out, "Allow", "GET");
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (store == NULL) {
        return ptech_error_page(r, HTTP_SERVICE_UNAVAILABLE, NULL,
                                "The tool's database is not available.", "store_unavailable", 0);
    }
    /* Ids are hex: anything else is unknown without asking the store. */
    if (strlen(id) != CERT_ID_BYTES * 2 || strspn(id, "0123456789abcdef") != strlen(id)
        || lti_store_badge_get(store, r->pool, id, &c, &err) != LTI_OK) {
        r->status = HTTP_NOT_FOUND;
        ptech_page_begin(r, lang, ptech_msg(lang, "cert_unknown"), NULL);
        ap_rvputs(r, "<h1>", ptech_esc(r->pool, ptech_msg(lang, "cert_unknown")), "</h1>\n"
                  "<p class=\"cert-state unknown\">",
                  ptech_esc(r->pool, ptech_msg(lang, "cert_unknown_text")), "</p>\n", NULL);
        return ptech_page_end(r);
    }
    ptech_page_begin(r, lang, ptech_msg(lang, "cert_title"), NULL);
    render_certificate(r, &c, lang);
    return ptech_page_end(r);
}
