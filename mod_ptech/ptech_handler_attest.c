/* ptech_handler_attest.c -- progress from the course pages: an instructor marks a module or
 * the whole course passed for a learner (POST /ptech/course/attest), and the demo's
 * "simulate progress" button (POST /ptech/course/simulate, PTechDemoPlatform On only),
 * which records xAPI statements through the endpoint's own path (ptech_xapi_apply).
 * Both forms carry the session's CSRF token; both flow like any progress (grade returns). */
#include <apr_strings.h>
#include <jansson.h>

#include "ptech.h"
#include "ptech_session.h"

APLOG_USE_MODULE(ptech);

#define FORM_MAX_BODY 4096
/* Roles that may attest (not content developers: they build content, not grades). */
#define ATTEST_ROLES (LTI_ROLE_INSTRUCTOR | LTI_ROLE_TA | LTI_ROLE_ADMIN)

const char *ptech_xapi_actor_name(request_rec *r, lti_store_t *store, int64_t person_id)
{
    const char *name = NULL, *candidate = lti_random_hex(r->pool, 16);
    lti_err_t err;

    if (candidate == NULL
        || lti_store_xapi_actor(store, r->pool, person_id, candidate, ptech_now(), &name, &err)
               != LTI_OK) {
        return NULL;
    }
    return name;
}

/* The <option>s of "whole course" (value "") and each module of course. */
static void module_options(request_rec *r, const lti_course_t *course, const char *lang,
                           const char *first)
{
    ap_rvputs(r, "<option value=\"\">", ptech_esc(r->pool, ptech_msg(lang, first)),
              "</option>\n", NULL);
    for (int i = 0; i < course->nmodules; i++) {
        const lti_module_t *m = &course->modules[i];

        ap_rvputs(r, "<option value=\"", ptech_esc(r->pool, m->id), "\">",
                  ptech_esc(r->pool, lti_i18n_get(&m->title, lang)), "</option>\n", NULL);
    }
}

void ptech_render_attest(request_rec *r, const lti_session_t *s, const lti_course_t *course,
                         const char *lang, const lti_learner_t *l)
{
    const char *sel = apr_psprintf(r->pool, "attest-%" APR_INT64_T_FMT, (apr_int64_t)l->person_id);

    if (!(s->roles & ATTEST_ROLES) || course == NULL || (l->roles & LTI_ROLE_STAFF_MASK)) {
        ap_rputs("<td></td>", r);
        return;
    }
    ap_rvputs(r, "<td><form class=\"inline\" method=\"post\" action=\"", PTECH_PREFIX,
              "/course/attest\">\n<input type=\"hidden\" name=\"csrf\" value=\"",
              ptech_esc(r->pool, s->csrf), "\">\n<input type=\"hidden\" name=\"person\" value=\"",
              apr_psprintf(r->pool, "%" APR_INT64_T_FMT, (apr_int64_t)l->person_id), "\">\n"
              "<label class=\"meta\" for=\"", sel, "\">",
              ptech_esc(r->pool, ptech_msg(lang, "attest_what")), "</label>\n"
              "<select name=\"module\" id=\"", sel, "\">\n", NULL);
    module_options(r, course, lang, "whole_course");
    ap_rvputs(r, "</select>\n<button type=\"submit\">",
              ptech_esc(r->pool, ptech_msg(lang, "attest_btn")), "</button>\n</form></td>",
              NULL);
}

void ptech_render_simulate(request_rec *r, const lti_session_t *s, const lti_course_t *course,
                           const char *lang)
{
    if (!ptech_cfg_flag(ptech_cfg(r->server)->demo_platform)) {
        return;
    }
    ap_rvputs(r, "<section class=\"card\" aria-labelledby=\"simulate\"><h2 id=\"simulate\">",
              ptech_esc(r->pool, ptech_msg(lang, "simulate")), "</h2>\n<p class=\"meta\">",
              ptech_esc(r->pool, ptech_msg(lang, "simulate_text")), "</p>\n"
              "<form method=\"post\" action=\"", PTECH_PREFIX, "/course/simulate\">\n"
              "<input type=\"hidden\" name=\"csrf\" value=\"", ptech_esc(r->pool, s->csrf),
              "\">\n<select name=\"module\" aria-labelledby=\"simulate\">\n", NULL);
    module_options(r, course, lang, "all_modules");
    ap_rvputs(r, "</select>\n<button type=\"submit\">",
              ptech_esc(r->pool, ptech_msg(lang, "simulate_btn")), "</button>\n</form>"
              "</section>\n", NULL);
}

/* Reads the form of a POST and checks its CSRF token.  Returns OK with *form, or the
 * answer already given (a refusal page). */
int ptech_course_form(request_rec *r, const lti_session_t *s, const char *lang,
                      apr_array_header_t **form, int *answered)
{
    const char *body;
    apr_size_t len;
    lti_err_t err;

    *answered = 1;
    *form = lti_kv_make(r->pool, 4);
    if (ptech_read_body(r, FORM_MAX_BODY, &body, &len, &err) != LTI_OK
        || lti_form_parse(r->pool, body, len, 16, *form, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, lang, 1);
    }
    if (!lti_ct_streq(lti_kv_get(*form, "csrf"), s->csrf)) {
        return ptech_error_page(r, HTTP_FORBIDDEN, lang, "The form is out of date or did not "
                                "come from this tool (CSRF check): reload the page and try "
                                "again.", "csrf", 1);
    }
    *answered = 0;
    return OK;
}

/* The link's course and the form's module ("" or absent: the whole course), or a refusal. */
static int form_target(request_rec *r, const lti_session_t *s, const lti_catalog_t *cat,
                       const char *lang, apr_array_header_t *form, const lti_course_t **course,
                       const char **module_id, int *answered)
{
    *answered = 1;
    *course = s->course_id && cat ? lti_catalog_course(cat, s->course_id) : NULL;
    if (*course == NULL) {
        return ptech_error_page(r, HTTP_CONFLICT, lang, "This activity has no catalog course "
                                "yet: choose one first.", "course_unknown", 1);
    }
    *module_id = lti_kv_get(form, "module");
    if (*module_id == NULL) {
        *module_id = "";
    }
    if (**module_id != '\0' && lti_catalog_module(*course, *module_id) == NULL) {
        return ptech_error_page(r, HTTP_BAD_REQUEST, lang, "Choose a module of this course "
                                "from the list.", "module_unknown", 1);
    }
    *answered = 0;
    return OK;
}

int ptech_course_attest(request_rec *r, lti_store_t *store, const lti_session_t *s,
                        const lti_catalog_t *cat, const char *lang)
{
    apr_array_header_t *form, *learners, *rows;
    const lti_course_t *course;
    const lti_learner_t *who = NULL;
    const char *module_id;
    lti_progress_t *row;
    lti_progress_stats_t st;
    int64_t person = 0;
    lti_err_t err;
    int rv, answered;

    if (!(s->roles & ATTEST_ROLES)) {
        return ptech_error_page(r, HTTP_FORBIDDEN, lang, "Only an instructor, a teaching "
                                "assistant or an administrator of this course can mark "
                                "progress.", "attest_forbidden", 1);
    }
    if ((rv = ptech_course_form(r, s, lang, &form, &answered)) != OK || answered) {
        return rv;
    }
    if ((rv = form_target(r, s, cat, lang, form, &course, &module_id, &answered)) != OK
        || answered) {
        return rv;
    }
    if (lti_parse_int64(lti_kv_get(form, "person") ? lti_kv_get(form, "person") : "", &person)
        != 0) {
        return ptech_error_page(r, HTTP_BAD_REQUEST, lang, "Choose a learner of this activity.",
                                "attest_unknown_learner", 1);
    }
    if (lti_store_link_learners(store, r->pool, s->link_pk, &learners, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, lang, 0);
    }
    for (int i = 0; i < learners->nelts; i++) {
        const lti_learner_t *l = &APR_ARRAY_IDX(learners, i, lti_learner_t);

        if (l->person_id == person) {
            who = l;
        }
    }
    if (who == NULL) {
        return ptech_error_page(r, HTTP_BAD_REQUEST, lang, "That person has not launched this "
                                "activity.", "attest_unknown_learner", 1);
    }
    rows = apr_array_make(r->pool, 1, sizeof(lti_progress_t));
    row = apr_array_push(rows);
    memset(row, 0, sizeof(*row));
    row->person_id = person;
    row->course_id = course->id;
    row->module_id = module_id;
    row->status = "passed";
    row->at = ptech_now();
    row->source = "instructor";
    row->evidence = apr_psprintf(r->pool, "attested by %s (LMS user id %s, %s)",
                                 s->full_name ? s->full_name : "an instructor", s->user_id,
                                 s->tenant);
    if (lti_store_progress_record(store, r->pool, rows, row->at, lti_progress_result_fn,
                                  (void *)cat, &st, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, lang, 0);
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "PT00072: %s attested %s of %s passed for "
                  "person %" APR_INT64_T_FMT " (%d grade return(s) queued)", s->user_id,
                  *module_id ? module_id : "the whole course", course->id, (apr_int64_t)person,
                  st.queued);
    return ptech_redirect(r, apr_pstrcat(r->pool, ptech_base_url(r), PTECH_PREFIX, "/course",
                                         NULL));
}

int ptech_course_simulate(request_rec *r, lti_store_t *store, const lti_session_t *s,
                          const lti_catalog_t *cat, const char *lang)
{
    apr_array_header_t *form, *ids;
    const lti_course_t *course;
    const char *module_id, *name, *base = ptech_base_url(r);
    json_t *arr;
    char *body;
    lti_err_t err;
    lti_status_t st;
    int rv, answered;

    if (!ptech_cfg_flag(ptech_cfg(r->server)->demo_platform)) {
        return ptech_error_page(r, HTTP_NOT_FOUND, lang, "There is no such page.",
                                "not_found", 0);
    }
    if ((rv = ptech_course_form(r, s, lang, &form, &answered)) != OK || answered) {
        return rv;
    }
    if ((rv = form_target(r, s, cat, lang, form, &course, &module_id, &answered)) != OK
        || answered) {
        return rv;
    }
    if ((name = ptech_xapi_actor_name(r, store, s->person_id)) == NULL
        || (arr = json_array()) == NULL) {
        return ptech_error_page(r, HTTP_INTERNAL_SERVER_ERROR, lang,
                                "The tool's database failed.", "store_error", 0);
    }
    /* What content would send: "passed" per module, scores 0.75 to 0.95. */
    for (int i = 0; i < course->nmodules; i++) {
        const lti_module_t *m = &course->modules[i];

        if (*module_id && strcmp(module_id, m->id) != 0) {
            continue;
        }
        json_array_append_new(
            arr, json_pack("{s:{s:s, s:{s:s, s:s}}, s:{s:s}, s:{s:s, s:s}, s:{s:{s:f}, s:b, s:b}}",
                           "actor", "objectType", "Agent", "account", "homePage",
                           lti_xapi_home_page(r->pool, base), "name", name,
                           "verb", "id", LTI_XAPI_VERB_PREFIX "passed",
                           "object", "objectType", "Activity", "id",
                           lti_xapi_activity_id(r->pool, base, course->id, m->id),
                           "result", "score", "scaled", 0.75 + 0.05 * (i % 5),
                           "completion", 1, "success", 1));
    }
    body = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (body == NULL) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    st = ptech_xapi_apply(r, store, "demo", body, strlen(body), &ids, &err);
    free(body);
    if (st != LTI_OK) {
        return ptech_lti_error(r, &err, lang, 1);
    }
    return ptech_redirect(r, apr_pstrcat(r->pool, base, PTECH_PREFIX, "/course", NULL));
}
