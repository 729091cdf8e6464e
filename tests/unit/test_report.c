/* test_report.c -- what the dashboard and the learner page read: module statuses and
 * modules done on conf/catalog.xml, the CSV export cells (quoting, formula guard, decimal
 * comma), Africa/Casablanca times across the Ramadan changes of 2024, and the store's
 * progress list (a real SQLite store). */
#include <ftw.h>
#include <sys/stat.h>

#include "unit.h"

#define NOW ((int64_t)1780000000)
#define COURSE "cybersecurity-fundamentals"

static char tmpdir[] = "/tmp/ptech-report-XXXXXX";

static lti_progress_t fact(const char *module, const char *status)
{
    lti_progress_t f;

    memset(&f, 0, sizeof(f));
    f.module_id = module;
    f.status = status;
    return f;
}

static void test_modules_done(void **state)
{
    apr_pool_t *p = *state;
    lti_catalog_t *cat = unit_catalog(p);
    const lti_course_t *c = lti_catalog_course(cat, COURSE);
    apr_array_header_t *rows = apr_array_make(p, 4, sizeof(lti_progress_t));
    lti_result_t res = {"in_progress", 0.3, NOW};

    assert_non_null(c);
    assert_true(c->nmodules >= 3);
    assert_int_equal(lti_report_modules_done(c, rows, NULL), 0);
    APR_ARRAY_PUSH(rows, lti_progress_t) = fact(c->modules[0].id, "passed");
    APR_ARRAY_PUSH(rows, lti_progress_t) = fact(c->modules[1].id, "in_progress");
    APR_ARRAY_PUSH(rows, lti_progress_t) = fact(c->modules[2].id, "failed");
    APR_ARRAY_PUSH(rows, lti_progress_t) = fact("not-in-catalog", "passed");
    assert_int_equal(lti_report_modules_done(c, rows, &res), 2);
    assert_string_equal(lti_report_module_status(rows, c->modules[1].id), "in_progress");
    assert_null(lti_report_module_status(rows, c->modules[3].id));
    /* A course passed as a whole (an IBM badge) has every module done. */
    res.status = "passed";
    assert_int_equal(lti_report_modules_done(c, rows, &res), c->nmodules);
}

static void test_csv_field(void **state)
{
    apr_pool_t *p = *state;

    assert_string_equal(lti_report_csv_field(p, NULL), "");
    assert_string_equal(lti_report_csv_field(p, "Amina El Idrissi"), "Amina El Idrissi");
    assert_string_equal(lti_report_csv_field(p, "a;b"), "\"a;b\"");
    assert_string_equal(lti_report_csv_field(p, "say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_string_equal(lti_report_csv_field(p, "two\r\nlines"), "\"two\r\nlines\"");
    assert_string_equal(lti_report_csv_field(p, "a,b"), "a,b");
    /* Formula injection: = + - @ (and tab, CR) first get a leading quote. */
    assert_string_equal(lti_report_csv_field(p, "=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    assert_string_equal(lti_report_csv_field(p, "+33"), "'+33");
    assert_string_equal(lti_report_csv_field(p, "-1"), "'-1");
    assert_string_equal(lti_report_csv_field(p, "@SUM(A1)"), "'@SUM(A1)");
    assert_string_equal(lti_report_csv_field(p, "\tx"), "'\tx");
    assert_string_equal(lti_report_csv_field(p, "a=b"), "a=b");
    assert_string_equal(lti_report_csv_field(p, ""), "");
}

static void test_score(void **state)
{
    apr_pool_t *p = *state;

    assert_string_equal(lti_report_score(p, 0.855), "85,5");
    assert_string_equal(lti_report_score(p, 1.0), "100");
    assert_string_equal(lti_report_score(p, 0.0), "0");
    assert_string_equal(lti_report_score(p, 0.8), "80");
}

static void test_casablanca(void **state)
{
    apr_pool_t *p = *state;

    lti_report_tz_init();
    lti_report_tz_init();       /* twice is harmless */
    /* Ramadan 2024: +01:00 until 2024-03-10 02:00 UTC, +00:00 until 2024-04-14 02:00 UTC. */
    assert_int_equal(lti_report_casablanca_offset(1710036000 - 1), 3600);
    assert_int_equal(lti_report_casablanca_offset(1710036000), 0);
    assert_int_equal(lti_report_casablanca_offset(1713060000 - 1), 0);
    assert_int_equal(lti_report_casablanca_offset(1713060000), 3600);
    assert_string_equal(lti_report_casablanca(p, 1717243200, 1), "2024-06-01 13:00");
    assert_string_equal(lti_report_casablanca(p, 1710936000, 1), "2024-03-20 12:00");
    /* 23:30 UTC on 31 May is already 1 June in Casablanca. */
    assert_string_equal(lti_report_casablanca(p, 1717198200, 0), "2024-06-01");
    /* The process's own zone is left as it was. */
    assert_null(getenv("TZ"));
}

static lti_store_t *new_store(apr_pool_t *p)
{
    lti_store_t *s;
    lti_err_t err;

    if (lti_store_open(p, apr_psprintf(p, "sqlite3:%s/r.db", tmpdir), &s, &err) != LTI_OK
        || lti_store_migrate(s, NULL, NULL, &err) != LTI_OK) {
        fail_msg("store: %s", err.text);
    }
    return s;
}

/* A learner's launch on a link of COURSE; returns the person id. */
static int64_t learner(lti_store_t *s, const char *user)
{
    lti_launch_rec_t r = unit_learner_launch(user, user, user, COURSE, NOW);

    r.full_name = "Amina <b>El Idrissi</b>";
    return unit_record(s, &r);
}

static void test_store_progress_list(void **state)
{
    apr_pool_t *p = *state;
    lti_catalog_t *cat = unit_catalog(p);
    lti_store_t *s = new_store(p);
    int64_t a = learner(s, "u1"), b = learner(s, "u2");
    apr_array_header_t *rows = apr_array_make(p, 2, sizeof(lti_progress_t)), *got;
    lti_progress_t f = fact(lti_catalog_course(cat, COURSE)->modules[0].id, "passed");
    lti_err_t err;

    f.person_id = a;
    f.course_id = COURSE;
    f.has_score = 1;
    f.score = 0.9;
    f.at = NOW;
    f.source = "instructor";
    APR_ARRAY_PUSH(rows, lti_progress_t) = f;
    assert_int_equal(lti_store_progress_list(s, p, a, COURSE, &got, &err), LTI_OK);
    assert_int_equal(got->nelts, 0);
    assert_int_equal(lti_store_progress_record(s, p, rows, NOW, lti_progress_result_fn, cat,
                                               NULL, &err), LTI_OK);
    assert_int_equal(lti_store_progress_list(s, p, a, COURSE, &got, &err), LTI_OK);
    assert_int_equal(got->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(got, 0, lti_progress_t).status, "passed");
    assert_true(APR_ARRAY_IDX(got, 0, lti_progress_t).score == 0.9);
    assert_int_equal(lti_store_progress_list(s, p, b, COURSE, &got, &err), LTI_OK);
    assert_int_equal(got->nelts, 0);

    lti_store_close(s);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modules_done),
        cmocka_unit_test(test_csv_field),
        cmocka_unit_test(test_score),
        cmocka_unit_test(test_casablanca),
        cmocka_unit_test(test_store_progress_list),
    };
    int rc;

    if (mkdtemp(tmpdir) == NULL) {
        return 1;
    }
    rc = cmocka_run_group_tests_name("report", tests, unit_group_setup, unit_group_teardown);
    nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return rc;
}
