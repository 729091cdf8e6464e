/* test_progress.c -- the progress model: statuses, scores, ISO 8601 dates (Africa/Casablanca
 * for bare dates), the CSV import rules of SPEC.md on conf/catalog.xml, and the course
 * result rules (weights, passing score, every move-on, whole-course evidence). */
#include "unit.h"

#define COURSE "cybersecurity-fundamentals"

#define catalog unit_catalog

static void test_status(void **state)
{
    assert_string_equal(lti_progress_status("passed"), "passed");
    assert_string_equal(lti_progress_status("In_Progress"), "in_progress");
    assert_string_equal(lti_progress_status("COMPLETED"), "completed");
    assert_string_equal(lti_progress_status("failed"), "failed");
    assert_null(lti_progress_status("done"));
    assert_null(lti_progress_status(""));
    assert_null(lti_progress_status(NULL));
}

static void test_score(void **state)
{
    static const struct {
        const char *in;
        int ok, has;
        double v;
    } cases[] = {
        {"", 1, 0, 0},        {"85", 1, 1, 0.85},   {"85.5", 1, 1, 0.855},
        {"85,5", 1, 1, 0.855}, {"0", 1, 1, 0},      {"100", 1, 1, 1},
        {"100.0", 1, 1, 1},   {"007", 1, 1, 0.07},  {"100.01", 0, 0, 0},
        {"101", 0, 0, 0},     {"-1", 0, 0, 0},      {"+5", 0, 0, 0},
        {"1e2", 0, 0, 0},     {"85.", 0, 0, 0},     {".5", 0, 0, 0},
        {"8 5", 0, 0, 0},     {"85%", 0, 0, 0},     {"1.2.3", 0, 0, 0},
        {"abc", 0, 0, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int has = -1;
        double v = -1;
        const char *why = lti_progress_parse_score(cases[i].in, &has, &v);

        if (cases[i].ok != (why == NULL)) {
            fail_msg("score '%s': %s", cases[i].in, why ? why : "accepted");
        }
        if (cases[i].ok) {
            assert_int_equal(has, cases[i].has);
            assert_true(v > cases[i].v - 1e-9 && v < cases[i].v + 1e-9);
        }
    }
}

static void test_date(void **state)
{
    static const struct {
        const char *in;
        int ok;
        int64_t t;
    } cases[] = {
        /* Bare dates: midnight in Casablanca (UTC+1, UTC+0 during Ramadan 2026). */
        {"2026-06-15", 1, 1781478000},
        {"2026-03-14", 1, 1773446400},
        {"2026-01-10", 1, 1767999600},
        {"2026-06-15T10:30:00Z", 1, 1781519400},
        {"2026-06-15t10:30:00z", 1, 1781519400},
        {"2026-06-15T10:30Z", 1, 1781519400},
        {"2026-06-15T10:30:00.123Z", 1, 1781519400},
        {"2026-06-15T11:30:00+01:00", 1, 1781519400},
        {"2026-06-15T05:30:00-0500", 1, 1781519400},
        {"2026-06-15 10:30:00+00:00", 1, 1781519400},
        {"2026-06-15T11:30:00", 1, 1781519400},     /* no zone: Casablanca */
        {"2024-02-29", 1, 1709161200},
        {"2025-02-29", 0, 0},
        {"2026-02-30", 0, 0},
        {"2026-13-01", 0, 0},
        {"2026-00-10", 0, 0},
        {"2026-06-15T24:00:00Z", 0, 0},
        {"2026-06-15T10:60Z", 0, 0},
        {"2026-06-15T10:30:00+15:00", 0, 0},
        {"14/03/2026", 0, 0},
        {"2026-6-15", 0, 0},
        {"2026-06-15T", 0, 0},
        {"2026-06-15Z", 0, 0},
        {"2026-06-15T10:30:00Zjunk", 0, 0},
        {"2026-06-15T10:30:00.Z", 0, 0},
        {"", 0, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t t = 0;
        const char *why = lti_progress_parse_date(cases[i].in, &t);

        if (cases[i].ok != (why == NULL)) {
            fail_msg("date '%s': %s", cases[i].in, why ? why : "accepted");
        }
        if (cases[i].ok && t != cases[i].t) {
            fail_msg("date '%s': %lld, expected %lld", cases[i].in, (long long)t,
                     (long long)cases[i].t);
        }
    }
    /* TZ is put back. */
    assert_null(getenv("TZ"));
}

/* Parses text; returns the problems joined by "\n" ("" when valid). */
static const char *problems_of(apr_pool_t *p, const lti_catalog_t *cat, const char *text,
                               apr_array_header_t **rows)
{
    apr_array_header_t *probs, *r;
    lti_err_t err;
    lti_status_t rv = lti_progress_parse_csv(p, cat, "t.csv", text, strlen(text), &r, &probs,
                                             &err);

    if (rows) {
        *rows = r;
    }
    assert_int_equal(rv == LTI_OK, probs->nelts == 0);
    return apr_array_pstrcat(p, probs, '\n');
}

static void test_csv_valid(void **state)
{
    apr_pool_t *p = *state;
    lti_catalog_t *cat = catalog(p);
    apr_array_header_t *rows;
    const lti_progress_t *r;

    assert_string_equal(problems_of(p, cat, "user,course,module,status,score,date\r\n"
                                    "a@b.c," COURSE ",threat-landscape,passed,85.5,2026-06-15\r\n"
                                    "42," COURSE ",,completed,,2026-06-15T10:30:00Z\r\n", &rows),
                        "");
    assert_int_equal(rows->nelts, 2);
    r = &APR_ARRAY_IDX(rows, 0, lti_progress_t);
    assert_string_equal(r->user, "a@b.c");
    assert_string_equal(r->module_id, "threat-landscape");
    assert_string_equal(r->status, "passed");
    assert_true(r->has_score && r->score > 0.8549 && r->score < 0.8551);
    assert_int_equal(r->at, 1781478000);
    assert_int_equal(r->line, 2);
    assert_string_equal(r->source, "csv");
    assert_string_equal(r->evidence, "t.csv line 2");
    r = &APR_ARRAY_IDX(rows, 1, lti_progress_t);
    assert_string_equal(r->module_id, "");
    assert_false(r->has_score);
    /* ';' with decimal commas, a BOM, a header in another case with spaces. */
    assert_string_equal(problems_of(p, cat, "\xEF\xBB\xBF User ;Course;module;STATUS;score;date\n"
                                    "a@b.c;" COURSE ";;passed;85,5;2026-06-15\n", &rows), "");
    assert_int_equal(rows->nelts, 1);
    assert_true(APR_ARRAY_IDX(rows, 0, lti_progress_t).score > 0.8549);
    /* A header alone is a valid, empty import. */
    assert_string_equal(problems_of(p, cat, "user,course,module,status,score,date\n", &rows), "");
    assert_int_equal(rows->nelts, 0);
}

static void test_csv_invalid(void **state)
{
    apr_pool_t *p = *state;
    lti_catalog_t *cat = catalog(p);
    apr_array_header_t *rows;

    assert_string_equal(
        problems_of(p, cat,
                    "user,course,module,status,score,date\n"
                    "ok," COURSE ",,passed,85,2026-06-15\n"            /* 2 */
                    "x,nope,,passed,85,2026-06-15\n"                  /* 3 */
                    "x," COURSE ",nope,passed,85,2026-06-15\n"        /* 4 */
                    "x," COURSE ",,done,85,2026-06-15\n"              /* 5 */
                    "x," COURSE ",,passed,101,2026-06-15\n"           /* 6 */
                    "x," COURSE ",,passed,85,15/06/2026\n"            /* 7 */
                    ",," COURSE ",,passed,85,2026-06-15\n"            /* 8: 7 fields */
                    "," COURSE ",,passed,85,2026-06-15\n"             /* 9: no user */
                    "\"multi\nline\"," COURSE ",,bad,1,2026-06-15\n"  /* 10 (and 11) */
                    "x\"y," COURSE ",,passed,85,2026-06-15\n",        /* 12 */
                    &rows),
        "line 3: the course 'nope' is not in the catalog\n"
        "line 4: the module 'nope' is not in the course '" COURSE "'\n"
        "line 5: the status 'done' is not in_progress, completed, passed or failed\n"
        "line 6: the score is above 100 ('101')\n"
        "line 7: the date is not ISO 8601 (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS with a zone) "
        "('15/06/2026')\n"
        "line 8: 7 fields instead of 6 (user,course,module,status,score,date)\n"
        "line 9: the user (an email or an LMS user id) is missing or too long\n"
        "line 10: the status 'bad' is not in_progress, completed, passed or failed\n"
        "line 12: a quote inside a field that does not start with one (quote the whole field "
        "and double the quote)");
    assert_int_equal(rows->nelts, 1);   /* the valid one is parsed, the caller applies none */
    assert_string_equal(problems_of(p, cat, "user,course,status\nx,y,z\n", NULL),
                        "line 1: the header must be user,course,module,status,score,date "
                        "(separated by ',' or ';')\n"
                        "line 2: 3 fields instead of 6 (user,course,module,status,score,date)");
    assert_string_equal(problems_of(p, cat, "", NULL),
                        "line 1: the file is empty (the header "
                        "user,course,module,status,score,date is missing)");
    {
        apr_array_header_t *probs;
        lti_err_t err;

        assert_int_equal(lti_progress_parse_csv(p, cat, "big", "x", LTI_PROGRESS_CSV_MAX + 1,
                                                &rows, &probs, &err), LTI_ERR_TOO_LARGE);
    }
}

/* A fact for the rules tests. */
static lti_progress_t fact(const char *module, const char *status, double score, int64_t at)
{
    lti_progress_t r;

    memset(&r, 0, sizeof(r));
    r.course_id = "c";
    r.module_id = module;
    r.status = status;
    r.has_score = score >= 0;
    r.score = score >= 0 ? score : 0;
    r.at = at;
    return r;
}

static lti_result_t result(apr_pool_t *p, const char *move_on, int n, const lti_progress_t *f)
{
    static lti_module_t mods[] = {{"m1", {"", "", ""}, "", 1}, {"m2", {"", "", ""}, "", 1},
                                  {"m3", {"", "", ""}, "", 2}};
    lti_course_t c;
    apr_array_header_t *rows = apr_array_make(p, 4, sizeof(lti_progress_t));
    lti_result_t out;

    memset(&c, 0, sizeof(c));
    c.id = "c";
    c.passing_score = 70;
    c.move_on = move_on;
    c.modules = mods;
    c.nmodules = 3;
    for (int i = 0; i < n; i++) {
        *(lti_progress_t *)apr_array_push(rows) = f[i];
    }
    lti_progress_course_result(&c, rows, &out);
    return out;
}

#define RES(mo, ...) result(p, mo, sizeof((lti_progress_t[]){__VA_ARGS__}) \
                            / sizeof(lti_progress_t), (lti_progress_t[]){__VA_ARGS__})

static void test_course_result(void **state)
{
    apr_pool_t *p = *state;
    lti_result_t r;

    r = result(p, "CompletedAndPassed", 0, NULL);
    assert_null(r.status);
    /* Weighted mean over every module; missing ones count 0. */
    r = RES("CompletedAndPassed", fact("m1", "passed", 0.8, 10));
    assert_string_equal(r.status, "in_progress");
    assert_true(r.score > 0.1999 && r.score < 0.2001);
    assert_int_equal(r.at, 10);
    /* Evidence without a score counts as 100; all done and passing. */
    r = RES("CompletedAndPassed", fact("m1", "completed", -1, 1), fact("m2", "passed", -1, 2),
            fact("m3", "passed", 0.6, 3));
    assert_string_equal(r.status, "passed");
    assert_true(r.score > 0.7999 && r.score < 0.8001);
    /* All done but below the passing score: failed; Completed move-on passes it. */
    r = RES("CompletedAndPassed", fact("m1", "completed", 0.5, 1), fact("m2", "failed", 0.2, 2),
            fact("m3", "completed", 0.5, 3));
    assert_string_equal(r.status, "failed");
    r = RES("Completed", fact("m1", "completed", 0.5, 1), fact("m2", "failed", 0.2, 2),
            fact("m3", "completed", 0.5, 3));
    assert_string_equal(r.status, "passed");
    /* Passed: the score alone; CompletedOrPassed: either. */
    r = RES("Passed", fact("m1", "in_progress", 1, 1), fact("m3", "in_progress", 0.3, 2));
    assert_string_equal(r.status, "in_progress");       /* 0.4 is below 70 */
    r = RES("Passed", fact("m1", "in_progress", 1, 1), fact("m3", "in_progress", 1, 2));
    assert_string_equal(r.status, "passed");            /* 0.75, modules unfinished */
    r = RES("Passed", fact("m1", "in_progress", 1, 1), fact("m2", "in_progress", 0.8, 1),
            fact("m3", "in_progress", 0.5, 2));
    assert_string_equal(r.status, "passed");            /* exactly the passing score */
    r = RES("CompletedOrPassed", fact("m1", "completed", 0, 1), fact("m2", "completed", 0, 1),
            fact("m3", "completed", 0, 1));
    assert_string_equal(r.status, "passed");
    /* The newest fact of a module counts. */
    r = RES("Passed", fact("m3", "passed", 1, 5), fact("m3", "failed", 0, 4));
    assert_true(r.score > 0.4999 && r.score < 0.5001);
    /* A whole-course "passed" passes the course; its score never lowers the modules'. */
    r = RES("CompletedAndPassed", fact("", "passed", -1, 1));
    assert_string_equal(r.status, "passed");
    assert_true(r.score == 1.0);
    r = RES("CompletedAndPassed", fact("", "passed", 0.2, 1), fact("m3", "passed", 1, 2));
    assert_string_equal(r.status, "passed");
    assert_true(r.score > 0.4999 && r.score < 0.5001);
    /* Another whole-course fact wins only when newer than every module fact. */
    r = RES("CompletedAndPassed", fact("", "failed", 0.3, 9), fact("m1", "passed", 1, 2));
    assert_string_equal(r.status, "failed");
    assert_true(r.score > 0.2999 && r.score < 0.3001);
    r = RES("CompletedAndPassed", fact("", "failed", 0.3, 1), fact("m1", "passed", 1, 2));
    assert_string_equal(r.status, "in_progress");
    /* Four decimals. */
    r = RES("Passed", fact("m1", "passed", 0.333333, 1));
    assert_true(r.score == 0.0833);
}

static void test_result_fn(void **state)
{
    apr_pool_t *p = *state;
    lti_catalog_t *cat = catalog(p);
    apr_array_header_t *rows = apr_array_make(p, 1, sizeof(lti_progress_t));
    lti_result_t r;
    lti_err_t err;

    *(lti_progress_t *)apr_array_push(rows) = fact("final-assessment", "passed", 1, 1);
    assert_int_equal(lti_progress_result_fn(cat, p, COURSE, rows, &r, &err), LTI_OK);
    assert_true(r.score > 0.3332 && r.score < 0.3334);          /* weight 2 of 6 */
    assert_int_equal(lti_progress_result_fn(cat, p, "nope", rows, &r, &err), LTI_ERR_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_score),
        cmocka_unit_test(test_date),
        cmocka_unit_test(test_csv_valid),
        cmocka_unit_test(test_csv_invalid),
        cmocka_unit_test(test_course_result),
        cmocka_unit_test(test_result_fn),
    };

    return cmocka_run_group_tests_name("progress", tests, unit_group_setup,
                                       unit_group_teardown);
}
