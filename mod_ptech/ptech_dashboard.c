/* ptech_dashboard.c -- the instructor and facilitator dashboard of a resource link: per
 * learner progress (modules done), course score, badge, grade return and "send again"
 * (POST /ptech/course/resend), the class summary, and the CSV export
 * (GET /ptech/course/export.csv, made for French Excel). */
#include <apr_hash.h>
#include <apr_strings.h>

#include "ptech.h"
#include "ptech_session.h"

APLOG_USE_MODULE(ptech);

/* Roles that see the dashboard and may send a grade again (as the attestation). */
#define DASH_ROLES (LTI_ROLE_INSTRUCTOR | LTI_ROLE_TA | LTI_ROLE_ADMIN)

/* What the dashboard knows about one learner. */
typedef struct dash_row_t {
    const lti_learner_t *l;
    lti_result_t res;               /* status NULL when none */
    int done, total;
    int badge;
    const lti_outbox_item_t *ret;   /* newest grade return on this link, or NULL */
} dash_row_t;

typedef struct dash_t {
    apr_array_header_t *rows;       /* dash_row_t, learners only (no staff) */
    apr_array_header_t *staff;      /* const lti_learner_t *, the others */
    int launched, in_progress, completed, badges;
} dash_t;

int ptech_dashboard_allowed(const lti_session_t *s)
{
    return (s->roles & DASH_ROLES) != 0;
}

/* *has: whether person holds a valid (not revoked) badge of course. */
static lti_status_t has_badge(request_rec *r, lti_store_t *store, int64_t person,
                              const char *course, int *has, lti_err_t *err)
{
    apr_array_header_t *awards;
    lti_status_t rv = lti_store_badge_list(store, r->pool, person, &awards, err);

    *has = 0;
    for (int i = 0; rv == LTI_OK && i < awards->nelts; i++) {
        const lti_badge_award_t *b = &APR_ARRAY_IDX(awards, i, lti_badge_award_t);

        *has |= !b->revoked && strcmp(b->course_id, course) == 0;
    }
    return rv;
}

/* Reads everything the dashboard and the export show.  A library error otherwise. */
static lti_status_t dash_load(request_rec *r, lti_store_t *store, const lti_session_t *s,
                              const lti_course_t *course, dash_t *out, lti_err_t *err)
{
    apr_array_header_t *learners, *returns;
    apr_hash_t *by_person = apr_hash_make(r->pool);
    lti_status_t rv;

    memset(out, 0, sizeof(*out));
    out->rows = apr_array_make(r->pool, 16, sizeof(dash_row_t));
    out->staff = apr_array_make(r->pool, 4, sizeof(const lti_learner_t *));
    if ((rv = lti_store_link_learners(store, r->pool, s->link_pk, &learners, err)) != LTI_OK
        || (rv = lti_store_outbox_list(store, r->pool, NULL, s->link_pk, &returns, err))
               != LTI_OK) {
        return rv;
    }
    for (int i = 0; i < returns->nelts; i++) {
        lti_outbox_item_t *o = &APR_ARRAY_IDX(returns, i, lti_outbox_item_t);

        /* Newest first: keep the first row seen per person. */
        if (apr_hash_get(by_person, &o->person_id, sizeof(o->person_id)) == NULL) {
            apr_hash_set(by_person, &o->person_id, sizeof(o->person_id), o);
        }
    }
    for (int i = 0; i < learners->nelts; i++) {
        const lti_learner_t *l = &APR_ARRAY_IDX(learners, i, lti_learner_t);
        dash_row_t *d;
        apr_array_header_t *facts = NULL;

        if (l->roles & LTI_ROLE_STAFF_MASK) {
            APR_ARRAY_PUSH(out->staff, const lti_learner_t *) = l;
            continue;
        }
        d = apr_array_push(out->rows);
        memset(d, 0, sizeof(*d));
        d->l = l;
        d->ret = apr_hash_get(by_person, &l->person_id, sizeof(l->person_id));
        out->launched++;
        if (course == NULL) {
            continue;
        }
        rv = lti_store_result_get(store, r->pool, l->person_id, course->id, &d->res, err);
        if (rv != LTI_OK && rv != LTI_ERR_NOT_FOUND) {
            return rv;
        }
        if (rv == LTI_ERR_NOT_FOUND) {
            memset(&d->res, 0, sizeof(d->res));
        }
        if ((rv = lti_store_progress_list(store, r->pool, l->person_id, course->id, &facts,
                                          err)) != LTI_OK) {
            return rv;
        }
        d->total = course->nmodules;
        d->done = lti_report_modules_done(course, facts, &d->res);
        if ((rv = has_badge(r, store, l->person_id, course->id, &d->badge, err)) != LTI_OK) {
            return rv;
        }
        if (d->res.status && (strcmp(d->res.status, "passed") == 0
                              || strcmp(d->res.status, "completed") == 0)) {
            out->completed++;
        }
        else if (d->res.status || facts->nelts > 0) {
            out->in_progress++;
        }
        out->badges += d->badge;
    }
    return LTI_OK;
}

/* The last launch in Africa/Casablanca, or "never" for a roster member (NRPS) who never
 * launched. */
static const char *launch_text(request_rec *r, const char *lang, const lti_learner_t *l)
{
    return l->last_launch ? lti_report_casablanca(r->pool, l->last_launch, 1)
                          : ptech_msg(lang, "never");
}

/* The message key naming the main role of a staff member. */
static const char *role_key(unsigned roles)
{
    if (roles & LTI_ROLE_INSTRUCTOR) {
        return "role_instructor";
    }
    if (roles & LTI_ROLE_TA) {
        return "role_ta";
    }
    return "role_admin";
}

/* "Staff of this activity: name (role · email · user id), ..." when any staff member launched it. */
static void render_staff(request_rec *r, const char *lang, const dash_t *dash)
{
    if (dash->staff->nelts == 0) {
        return;
    }
    ap_rvputs(r, "<p class=\"meta staff\">", ptech_esc(r->pool, ptech_msg(lang, "dash_staff")),
              ": ", NULL);
    for (int i = 0; i < dash->staff->nelts; i++) {
        const lti_learner_t *l = APR_ARRAY_IDX(dash->staff, i, const lti_learner_t *);

        ap_rvputs(r, i ? ", " : "", ptech_esc(r->pool, l->full_name), " (",
                  ptech_esc(r->pool, ptech_msg(lang, role_key(l->roles))), " · ",
                  ptech_esc(r->pool, l->email), " · ", ptech_esc(r->pool, l->user_id), ")",
                  NULL);
    }
    ap_rputs("</p>\n", r);
}

/* The message key of a learner's status. */
static const char *status_key(request_rec *r, const dash_row_t *d)
{
    if (d->res.status == NULL) {
        return d->done > 0 ? "result_in_progress" : "dash_not_started";
    }
    return apr_pstrcat(r->pool, "result_", d->res.status, NULL);
}

/* A score as the page language writes it (a decimal comma, but a point in English). */
const char *ptech_score_text(request_rec *r, const char *lang, double score)
{
    char *s = apr_pstrdup(r->pool, lti_report_score(r->pool, score));

    if (strcmp(lang, "en") == 0) {
        for (char *c = s; *c; c++) {
            *c = *c == ',' ? '.' : *c;
        }
    }
    return s;
}

void ptech_render_progress_bar(request_rec *r, const char *lang, int done, int total)
{
    const char *n = apr_psprintf(r->pool, "%d / %d", done, total);

    ap_rvputs(r, "<span class=\"bar\"><progress max=\"", apr_itoa(r->pool, total),
              "\" value=\"", apr_itoa(r->pool, done), "\" aria-label=\"",
              ptech_esc(r->pool, ptech_msg(lang, "dash_progress")), " ", n, "\"></progress> ",
              "<span>", n, "</span></span>", NULL);
}

/* The grade return cell: state, the reason of a failure, "send again" for sent and failed
 * rows. */
static void render_return_cell(request_rec *r, const lti_session_t *s, const char *lang,
                               const dash_row_t *d)
{
    const lti_outbox_item_t *o = d->ret;

    if (o == NULL) {
        ap_rvputs(r, "<td class=\"return none\">",
                  ptech_esc(r->pool, ptech_msg(lang, "ret_none")), "</td>", NULL);
        return;
    }
    ap_rvputs(r, "<td class=\"return ", ptech_esc(r->pool, o->state), "\">",
              ptech_esc(r->pool, ptech_msg(lang, apr_pstrcat(r->pool, "ret_", o->state, NULL))),
              " · ", ptech_esc(r->pool, ptech_score_text(r, lang, o->score)), " / 100", NULL);
    if (o->reason != NULL) {
        ap_rvputs(r, "<br><small class=\"reason\">", ptech_esc(r->pool, o->reason),
                  "</small>", NULL);
    }
    if (strcmp(o->state, "pending") != 0) {
        ap_rvputs(r, "<form class=\"inline\" method=\"post\" action=\"", PTECH_PREFIX,
                  "/course/resend\">\n<input type=\"hidden\" name=\"csrf\" value=\"",
                  ptech_esc(r->pool, s->csrf), "\">\n<input type=\"hidden\" name=\"person\" "
                  "value=\"", apr_psprintf(r->pool, "%" APR_INT64_T_FMT,
                                          (apr_int64_t)d->l->person_id), "\">\n"
                  "<button type=\"submit\" class=\"small\">",
                  ptech_esc(r->pool, ptech_msg(lang, "dash_resend")), "</button></form>", NULL);
    }
    ap_rputs("</td>", r);
}

static void render_summary(request_rec *r, const char *lang, const dash_t *dash)
{
    const char *keys[] = {"dash_launched", "dash_in_progress", "dash_completed", "dash_badges"};
    const int vals[] = {dash->launched, dash->in_progress, dash->completed, dash->badges};

    ap_rvputs(r, "<section class=\"card\" aria-labelledby=\"summary\"><h2 id=\"summary\">",
              ptech_esc(r->pool, ptech_msg(lang, "dash_summary")), "</h2>\n"
              "<dl class=\"summary\">", NULL);
    for (int i = 0; i < 4; i++) {
        ap_rvputs(r, "<div><dt>", ptech_esc(r->pool, ptech_msg(lang, keys[i])), "</dt><dd>",
                  apr_itoa(r->pool, vals[i]), "</dd></div>", NULL);
    }
    ap_rvputs(r, "</dl>\n<p><a class=\"button\" href=\"", PTECH_PREFIX,
              "/course/export.csv\" download>",
              ptech_esc(r->pool, ptech_msg(lang, "dash_export")), "</a></p></section>\n", NULL);
}

int ptech_render_dashboard(request_rec *r, lti_store_t *store, const lti_session_t *s,
                           const lti_course_t *course, const char *lang)
{
    dash_t dash;
    lti_err_t err;

    if (!ptech_dashboard_allowed(s)) {
        return OK;      /* content developers build content, they do not follow learners */
    }
    if (dash_load(r, store, s, course, &dash, &err) != LTI_OK) {
        /* The page has begun: say it in place rather than as an error page. */
        ap_rvputs(r, "<p class=\"problem\">", ptech_esc(r->pool, err.text), "</p>\n", NULL);
        return OK;
    }
    ap_rvputs(r, "<h2>", ptech_esc(r->pool, ptech_msg(lang, "dash_title")), "</h2>\n", NULL);
    render_summary(r, lang, &dash);
    render_staff(r, lang, &dash);
    if (dash.rows->nelts == 0) {
        ap_rvputs(r, "<p>", ptech_esc(r->pool, ptech_msg(lang, "no_learners")), "</p>\n", NULL);
        return OK;
    }
    ap_rvputs(r, "<div class=\"table-wrap\" role=\"region\" tabindex=\"0\" "
              "aria-labelledby=\"dash\"><table>\n<caption id=\"dash\">", ptech_esc(r->pool, ptech_msg(lang, "learners")),
              "</caption>\n<thead><tr><th scope=\"col\">",
              ptech_esc(r->pool, ptech_msg(lang, "name")), "</th><th scope=\"col\">",
              ptech_esc(r->pool, ptech_msg(lang, "email")), "</th><th scope=\"col\">",
              ptech_esc(r->pool, ptech_msg(lang, "user_id")), "</th><th scope=\"col\">",
              ptech_esc(r->pool, ptech_msg(lang, "dash_progress")), "</th><th scope=\"col\">",
              ptech_esc(r->pool, ptech_msg(lang, "dash_status")), "</th><th scope=\"col\">",
              ptech_esc(r->pool, ptech_msg(lang, "score")), "</th><th scope=\"col\">",
              ptech_esc(r->pool, ptech_msg(lang, "badge")), "</th><th scope=\"col\">",
              ptech_esc(r->pool, ptech_msg(lang, "last_launch")), "</th><th scope=\"col\">",
              ptech_esc(r->pool, ptech_msg(lang, "grade_return")), "</th><th scope=\"col\">",
              ptech_esc(r->pool, ptech_msg(lang, "attest")), "</th></tr></thead>\n<tbody>\n",
              NULL);
    for (int i = 0; i < dash.rows->nelts; i++) {
        const dash_row_t *d = &APR_ARRAY_IDX(dash.rows, i, dash_row_t);

        ap_rvputs(r, "<tr class=\"learner\"><td>", ptech_esc(r->pool, d->l->full_name),
                  "</td><td>", ptech_esc(r->pool, d->l->email), "</td><td>",
                  ptech_esc(r->pool, d->l->user_id), "</td><td>", NULL);
        ptech_render_progress_bar(r, lang, d->done, d->total);
        ap_rvputs(r, "</td><td class=\"status\">",
                  ptech_esc(r->pool, ptech_msg(lang, status_key(r, d))), "</td><td>",
                  d->res.status ? ptech_esc(r->pool, ptech_score_text(r, lang, d->res.score))
                                : "—",
                  "</td><td>", ptech_esc(r->pool, ptech_msg(lang, d->badge ? "dash_badge_yes"
                                                                           : "dash_badge_no")),
                  "</td><td>", ptech_esc(r->pool, launch_text(r, lang, d->l)), "</td>", NULL);
        render_return_cell(r, s, lang, d);
        ptech_render_attest(r, s, course, lang, d->l);
        ap_rputs("</tr>\n", r);
    }
    ap_rputs("</tbody></table></div>\n", r);
    return OK;
}

/* The grade return column of the export: "sent", "pending", "failed: reason" or "". */
static const char *return_text(request_rec *r, const char *lang, const lti_outbox_item_t *o)
{
    const char *t;

    if (o == NULL) {
        return "";
    }
    t = ptech_msg(lang, apr_pstrcat(r->pool, "ret_", o->state, NULL));
    return o->reason ? apr_pstrcat(r->pool, t, ": ", o->reason, NULL) : t;
}

int ptech_dashboard_export(request_rec *r, lti_store_t *store, const lti_session_t *s,
                           const lti_course_t *course, const char *lang)
{
    const char *head[] = {"name", "email", "user_id", "dash_status", "score",
                          "dash_modules_done", "last_launch", "grade_return"};
    dash_t dash;
    lti_err_t err;

    if (!ptech_dashboard_allowed(s)) {
        return ptech_error_page(r, HTTP_FORBIDDEN, lang, "Only an instructor or a facilitator "
                                "can export the learners of an activity.", "export_forbidden",
                                1);
    }
    if (dash_load(r, store, s, course, &dash, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, lang, 0);
    }
    ap_set_content_type(r, "text/csv; charset=utf-8");
    apr_table_setn(r->headers_out, "Content-Disposition", apr_pstrcat(
                       r->pool, "attachment; filename=\"ptech-",
                       course ? course->id : "activity", ".csv\"", NULL));
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    /* The BOM tells Excel the file is UTF-8; ';' is its separator in French locales. */
    ap_rputs("\xEF\xBB\xBF", r);
    for (int i = 0; i < 8; i++) {
        ap_rvputs(r, i ? ";" : "", lti_report_csv_field(r->pool, ptech_msg(lang, head[i])),
                  NULL);
    }
    ap_rputs("\r\n", r);
    for (int i = 0; i < dash.rows->nelts; i++) {
        const dash_row_t *d = &APR_ARRAY_IDX(dash.rows, i, dash_row_t);
        const char *cells[8];

        cells[0] = d->l->full_name;
        cells[1] = d->l->email;
        cells[2] = d->l->user_id;
        cells[3] = ptech_msg(lang, status_key(r, d));
        cells[4] = d->res.status ? lti_report_score(r->pool, d->res.score) : "";
        cells[5] = apr_psprintf(r->pool, "%d/%d", d->done, d->total);
        cells[6] = launch_text(r, lang, d->l);
        cells[7] = return_text(r, lang, d->ret);
        for (int c = 0; c < 8; c++) {
            ap_rvputs(r, c ? ";" : "", lti_report_csv_field(r->pool, cells[c]), NULL);
        }
        ap_rputs("\r\n", r);
    }
    return OK;
}

int ptech_dashboard_resend(request_rec *r, lti_store_t *store, const lti_session_t *s,
                           const char *lang)
{
    apr_array_header_t *form, *returns;
    const lti_outbox_item_t *row = NULL;
    int64_t person = 0;
    int rv, answered;
    lti_err_t err;

    if (!ptech_dashboard_allowed(s)) {
        return ptech_error_page(r, HTTP_FORBIDDEN, lang, "Only an instructor or a facilitator "
                                "can send a grade again.", "resend_forbidden", 1);
    }
    if ((rv = ptech_course_form(r, s, lang, &form, &answered)) != OK || answered) {
        return rv;
    }
    if (lti_store_outbox_list(store, r->pool, NULL, s->link_pk, &returns, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, lang, 0);
    }
    if (lti_parse_int64(lti_kv_get(form, "person") ? lti_kv_get(form, "person") : "", &person)
        == 0) {
        for (int i = 0; i < returns->nelts && row == NULL; i++) {
            const lti_outbox_item_t *o = &APR_ARRAY_IDX(returns, i, lti_outbox_item_t);

            row = o->person_id == person ? o : NULL;
        }
    }
    if (row == NULL) {
        return ptech_error_page(r, HTTP_BAD_REQUEST, lang, "That learner has no grade to send "
                                "again on this activity.", "resend_unknown", 1);
    }
    if (lti_store_outbox_retry(store, row->id, ptech_now(), NULL, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, lang, err.status == LTI_ERR_NOT_FOUND);
    }
    return ptech_redirect(r, apr_pstrcat(r->pool, ptech_base_url(r), PTECH_PREFIX, "/course",
                                         NULL));
}
