/* lti_progress.c -- progress facts, course results, the CSV import (see lti_progress.h). */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <apr_strings.h>

#include "lti_csv.h"
#include "lti_progress.h"

static const char *const statuses[] = {"in_progress", "completed", "passed", "failed"};

const char *lti_progress_status(const char *s)
{
    for (size_t i = 0; s && i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        if (strcasecmp(s, statuses[i]) == 0) {
            return statuses[i];
        }
    }
    return NULL;
}

const char *lti_progress_parse_score(const char *s, int *has, double *out)
{
    long long whole = 0, frac = 0, scale = 1;
    int digits = 0, fdigits = 0;
    const char *c = s;

    *has = 0;
    *out = 0;
    if (s == NULL || *s == '\0') {
        return NULL;
    }
    for (; isdigit((unsigned char)*c); c++, digits++) {
        if (digits > 6) {
            return "the score is not a number from 0 to 100";
        }
        whole = whole * 10 + (*c - '0');
    }
    if (*c == '.' || *c == ',') {
        c++;
        for (; isdigit((unsigned char)*c); c++, fdigits++) {
            if (fdigits < 9) {
                frac = frac * 10 + (*c - '0');
                scale *= 10;
            }
        }
        if (fdigits == 0) {
            return "the score is not a number from 0 to 100";
        }
    }
    if (digits == 0 || *c != '\0') {
        return "the score is not a number from 0 to 100 (use a decimal point or comma)";
    }
    if (whole > 100 || (whole == 100 && frac > 0)) {
        return "the score is above 100";
    }
    *has = 1;
    *out = ((double)whole + (double)frac / (double)scale) / 100.0;
    return NULL;
}

static int leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* Reads exactly n digits at *c. */
static int num(const char **c, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*c)[i])) {
            return 0;
        }
        v = v * 10 + ((*c)[i] - '0');
    }
    *c += n;
    *out = v;
    return 1;
}

/* mktime in Africa/Casablanca: TZ is process-wide, so the switch is serialised (ptechctl
 * and the tests call this; httpd's threads never do). */
static int64_t casablanca_time(struct tm *tm)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    const char *old;
    char *saved = NULL;
    time_t t;

    pthread_mutex_lock(&mu);
    old = getenv("TZ");
    if (old != NULL) {
        saved = strdup(old);
    }
    setenv("TZ", "Africa/Casablanca", 1);
    tzset();
    tm->tm_isdst = -1;
    t = mktime(tm);
    if (saved != NULL) {
        setenv("TZ", saved, 1);
        free(saved);
    }
    else {
        unsetenv("TZ");
    }
    tzset();
    pthread_mutex_unlock(&mu);
    return (int64_t)t;
}

const char *lti_progress_parse_date(const char *s, int64_t *out)
{
    const char *c = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, zone = 0, off = 0;
    struct tm tm;

    if (s == NULL || *s == '\0') {
        return "the date is missing (ISO 8601, e.g. 2026-03-14 or 2026-03-14T09:30:00Z)";
    }
    if (!num(&c, 4, &y) || *c++ != '-' || !num(&c, 2, &mo) || *c++ != '-'
        || !num(&c, 2, &d)) {
        return "the date is not ISO 8601 (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS with a zone)";
    }
    if (mo < 1 || mo > 12 || d < 1 || d > days_in(y, mo) || y < 1970) {
        return "the date does not exist";
    }
    if (*c == 'T' || *c == 't' || *c == ' ') {
        c++;
        if (!num(&c, 2, &h) || *c++ != ':' || !num(&c, 2, &mi)) {
            return "the time is not ISO 8601 (HH:MM or HH:MM:SS)";
        }
        if (*c == ':') {
            c++;
            if (!num(&c, 2, &sec)) {
                return "the time is not ISO 8601 (HH:MM or HH:MM:SS)";
            }
            if (*c == '.' || *c == ',') {
                c++;
                if (!isdigit((unsigned char)*c)) {
                    return "the time is not ISO 8601 (fraction without digits)";
                }
                while (isdigit((unsigned char)*c)) {
                    c++;
                }
            }
        }
        if (h > 23 || mi > 59 || sec > 60) {
            return "the time does not exist";
        }
        if (*c == 'Z' || *c == 'z') {
            c++;
            zone = 1;
        }
        else if (*c == '+' || *c == '-') {
            int sign = *c++ == '-' ? -1 : 1, oh, om = 0;

            if (!num(&c, 2, &oh)) {
                return "the time zone is not ISO 8601 (Z, +HH:MM or -HH:MM)";
            }
            if (*c == ':') {
                c++;
            }
            if (*c != '\0' && !num(&c, 2, &om)) {
                return "the time zone is not ISO 8601 (Z, +HH:MM or -HH:MM)";
            }
            if (oh > 14 || om > 59) {
                return "the time zone offset does not exist";
            }
            zone = 1;
            off = sign * (oh * 3600 + om * 60);
        }
    }
    if (*c != '\0') {
        return "the date is not ISO 8601 (unexpected text at its end)";
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec > 59 ? 59 : sec;
    if (zone) {
        *out = (int64_t)timegm(&tm) - off;
    }
    else {
        *out = casablanca_time(&tm);
    }
    return NULL;
}

/* Trims ASCII spaces and tabs in place. */
static const char *trim(apr_pool_t *p, const char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t') {
        s++;
    }
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        n--;
    }
    return apr_pstrmemdup(p, s, n);
}

static const char *const header[] = {"user", "course", "module", "status", "score", "date"};

lti_status_t lti_progress_parse_csv(apr_pool_t *p, const lti_catalog_t *cat, const char *name,
                                    const char *buf, size_t len, apr_array_header_t **rows,
                                    apr_array_header_t **problems, lti_err_t *err)
{
    lti_csv_t csv;
    apr_array_header_t *f;
    lti_err_t e;
    int line, first = 1;

    *rows = apr_array_make(p, 64, sizeof(lti_progress_t));
    *problems = apr_array_make(p, 8, sizeof(const char *));
    if (len > LTI_PROGRESS_CSV_MAX) {
        return lti_err_set(err, LTI_ERR_TOO_LARGE, "csv_too_large",
                           "the file is larger than %d MB", LTI_PROGRESS_CSV_MAX >> 20);
    }
#define PROBLEM(...) (APR_ARRAY_PUSH(*problems, const char *) = apr_psprintf(p, __VA_ARGS__))
    if (lti_csv_open(buf, len, &csv, &e) != LTI_OK) {
        PROBLEM("line 1: %s (the header user,course,module,status,score,date is missing)",
                e.text);
        goto out;
    }
    for (;;) {
        lti_progress_t r;
        const char *v[6], *why;
        const lti_course_t *course;

        lti_err_clear(&e);
        if (lti_csv_next(p, &csv, &f, &line, &e) != LTI_OK) {
            PROBLEM("line %d: %s", line, e.text);
            first = 0;
            continue;
        }
        if (f == NULL) {
            break;
        }
        if (first) {
            int ok = f->nelts == 6;

            for (int i = 0; ok && i < 6; i++) {
                ok = strcasecmp(trim(p, APR_ARRAY_IDX(f, i, const char *)), header[i]) == 0;
            }
            if (!ok || line != 1) {
                PROBLEM("line %d: the header must be user,course,module,status,score,date "
                        "(separated by ',' or ';')", line);
            }
            first = 0;
            continue;
        }
        if (f->nelts != 6) {
            PROBLEM("line %d: %d fields instead of 6 (user,course,module,status,score,date)",
                    line, f->nelts);
            continue;
        }
        for (int i = 0; i < 6; i++) {
            v[i] = trim(p, APR_ARRAY_IDX(f, i, const char *));
        }
        memset(&r, 0, sizeof(r));
        r.line = line;
        r.user = v[0];
        r.course_id = v[1];
        r.module_id = v[2];
        r.source = "csv";
        r.evidence = apr_psprintf(p, "%s line %d", name ? name : "csv", line);
        if (*r.user == '\0' || strlen(r.user) > 255) {
            PROBLEM("line %d: the user (an email or an LMS user id) is missing or too long",
                    line);
            continue;
        }
        if ((course = lti_catalog_course(cat, r.course_id)) == NULL) {
            PROBLEM("line %d: the course '%s' is not in the catalog", line, r.course_id);
            continue;
        }
        if (*r.module_id != '\0' && lti_catalog_module(course, r.module_id) == NULL) {
            PROBLEM("line %d: the module '%s' is not in the course '%s'", line, r.module_id,
                    r.course_id);
            continue;
        }
        if ((r.status = lti_progress_status(v[3])) == NULL) {
            PROBLEM("line %d: the status '%s' is not in_progress, completed, passed or failed",
                    line, v[3]);
            continue;
        }
        if ((why = lti_progress_parse_score(v[4], &r.has_score, &r.score)) != NULL) {
            PROBLEM("line %d: %s ('%s')", line, why, v[4]);
            continue;
        }
        if ((why = lti_progress_parse_date(v[5], &r.at)) != NULL) {
            PROBLEM("line %d: %s ('%s')", line, why, v[5]);
            continue;
        }
        *(lti_progress_t *)apr_array_push(*rows) = r;
    }
out:
#undef PROBLEM
    if ((*problems)->nelts > 0) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "csv_invalid",
                           "%d invalid line(s): nothing applied", (*problems)->nelts);
    }
    return LTI_OK;
}

static int is_done(const char *status)
{
    return strcmp(status, "completed") == 0 || strcmp(status, "passed") == 0
           || strcmp(status, "failed") == 0;
}

/* A fact's score: its own, else 1 for passed/completed (evidence counts as 100), else 0. */
static double fact_score(const lti_progress_t *r)
{
    if (r->has_score) {
        return r->score;
    }
    return strcmp(r->status, "passed") == 0 || strcmp(r->status, "completed") == 0 ? 1.0 : 0.0;
}

void lti_progress_course_result(const lti_course_t *course, const apr_array_header_t *rows,
                                lti_result_t *out)
{
    const lti_progress_t *whole = NULL;
    double sum = 0, wsum = 0;
    int done = 0, completed, passed, met;
    int64_t last_module = 0;

    memset(out, 0, sizeof(*out));
    if (rows->nelts == 0) {
        return;
    }
    for (int i = 0; i < rows->nelts; i++) {
        const lti_progress_t *r = &APR_ARRAY_IDX(rows, i, lti_progress_t);

        if (r->at > out->at) {
            out->at = r->at;
        }
        if (r->module_id == NULL || *r->module_id == '\0') {
            if (whole == NULL || r->at > whole->at) {
                whole = r;
            }
        }
        else if (r->at > last_module) {
            last_module = r->at;
        }
    }
    for (int m = 0; m < course->nmodules; m++) {
        const lti_module_t *mod = &course->modules[m];
        const lti_progress_t *best = NULL;

        wsum += mod->weight;
        for (int i = 0; i < rows->nelts; i++) {
            const lti_progress_t *r = &APR_ARRAY_IDX(rows, i, lti_progress_t);

            if (r->module_id && strcmp(r->module_id, mod->id) == 0
                && (best == NULL || r->at > best->at)) {
                best = r;
            }
        }
        if (best != NULL) {
            sum += mod->weight * fact_score(best);
            done += is_done(best->status);
        }
    }
    out->score = wsum > 0 ? sum / wsum : 0;
    completed = course->nmodules > 0 && done == course->nmodules;
    passed = out->score * 100.0 >= course->passing_score - 1e-9;
    if (strcmp(course->move_on, "Completed") == 0) {
        met = completed;
    }
    else if (strcmp(course->move_on, "Passed") == 0) {
        met = passed;
    }
    else if (strcmp(course->move_on, "CompletedOrPassed") == 0) {
        met = completed || passed;
    }
    else {
        met = completed && passed;
    }
    out->status = met ? "passed" : completed ? "failed" : "in_progress";
    if (whole != NULL) {
        double ws = fact_score(whole);

        if (strcmp(whole->status, "passed") == 0) {
            out->status = "passed";
            out->score = ws > out->score ? ws : out->score;
        }
        else if (whole->at > last_module) {
            out->status = whole->status;
            out->score = ws;
        }
    }
    /* Four decimals are what a gradebook shows; they also make equal results compare equal. */
    out->score = (double)(int64_t)(out->score * 10000.0 + 0.5) / 10000.0;
}

lti_status_t lti_progress_result_fn(void *baton, apr_pool_t *p, const char *course_id,
                                    const apr_array_header_t *rows, lti_result_t *out,
                                    lti_err_t *err)
{
    const lti_catalog_t *cat = baton;
    const lti_course_t *course = cat ? lti_catalog_course(cat, course_id) : NULL;

    if (course == NULL) {
        return lti_err_set(err, LTI_ERR_NOT_FOUND, "course_unknown",
                           "the course '%s' is not in the catalog", course_id);
    }
    lti_progress_course_result(course, rows, out);
    return LTI_OK;
}
