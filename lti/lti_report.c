/* lti_report.c -- modules done, CSV export cells and Casablanca times (lti_report.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <apr_strings.h>

#include "lti_report.h"

const char *lti_report_module_status(const apr_array_header_t *rows, const char *module_id)
{
    for (int i = 0; rows && i < rows->nelts; i++) {
        const lti_progress_t *r = &APR_ARRAY_IDX(rows, i, lti_progress_t);

        if (r->module_id && strcmp(r->module_id, module_id) == 0) {
            return r->status;
        }
    }
    return NULL;
}

static int is_done(const char *status)
{
    return status && (strcmp(status, "completed") == 0 || strcmp(status, "passed") == 0
                      || strcmp(status, "failed") == 0);
}

int lti_report_modules_done(const lti_course_t *course, const apr_array_header_t *rows,
                            const lti_result_t *res)
{
    int done = 0;

    if (res && res->status
        && (strcmp(res->status, "passed") == 0 || strcmp(res->status, "completed") == 0)) {
        return course->nmodules;
    }
    for (int i = 0; i < course->nmodules; i++) {
        done += is_done(lti_report_module_status(rows, course->modules[i].id));
    }
    return done;
}

const char *lti_report_csv_field(apr_pool_t *p, const char *s)
{
    const char *guard;
    char *out, *o;

    if (s == NULL) {
        return "";
    }
    /* OWASP's CSV injection guard: these first characters start a formula. */
    guard = strchr("=+-@\t\r", s[0]) && s[0] ? "'" : "";
    if (strpbrk(s, ";\"\r\n") == NULL) {
        return apr_pstrcat(p, guard, s, NULL);
    }
    o = out = apr_palloc(p, strlen(s) * 2 + 4);
    *o++ = '"';
    o = stpcpy(o, guard);
    for (; *s; s++) {
        if (*s == '"') {
            *o++ = '"';
        }
        *o++ = *s;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

const char *lti_report_score(apr_pool_t *p, double score)
{
    char *s = apr_psprintf(p, "%.1f", score * 100.0);
    size_t n = strlen(s);

    if (n > 2 && strcmp(s + n - 2, ".0") == 0) {
        s[n - 2] = '\0';
    }
    else if (n > 2) {
        s[n - 2] = ',';
    }
    return s;
}

/* Africa/Casablanca offsets: from[i] (epoch seconds) on, the offset is off[i].  Filled
 * once before threads start, read-only afterwards. */
#define TZ_MAX 512
#define TZ_FROM 946684800           /* 2000-01-01 */
#define TZ_TO 2524608000LL          /* 2050-01-01 */
#define TZ_STEP (6 * 3600)          /* Morocco's changes are weeks apart */
static int64_t tz_from[TZ_MAX];
static int tz_off[TZ_MAX];
static int tz_n;

static int zone_offset(time_t t)
{
    struct tm tm;

    return localtime_r(&t, &tm) ? (int)tm.tm_gmtoff : 0;
}

void lti_report_tz_init(void)
{
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;
    int prev;

    if (tz_n > 0) {
        free(saved);
        return;
    }
    setenv("TZ", "Africa/Casablanca", 1);
    tzset();
    prev = zone_offset(TZ_FROM);
    tz_from[0] = 0;
    tz_off[0] = prev;
    tz_n = 1;
    for (int64_t t = TZ_FROM + TZ_STEP; t < TZ_TO && tz_n < TZ_MAX; t += TZ_STEP) {
        int cur = zone_offset((time_t)t);
        int64_t lo = t - TZ_STEP, hi = t;

        if (cur == prev) {
            continue;
        }
        /* The exact second of the change: the first with the new offset. */
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;

            if (zone_offset((time_t)mid) == prev) {
                lo = mid;
            }
            else {
                hi = mid;
            }
        }
        tz_from[tz_n] = hi;
        tz_off[tz_n] = cur;
        tz_n++;
        prev = cur;
    }
    if (saved) {
        setenv("TZ", saved, 1);
        free(saved);
    }
    else {
        unsetenv("TZ");
    }
    tzset();
    /* No TZ database (glibc then reads UTC): Morocco's standard time since 2018, +01:00. */
    if (tz_n == 1 && tz_off[0] == 0) {
        tz_off[0] = 3600;
    }
}

int lti_report_casablanca_offset(int64_t t)
{
    int lo = 0, hi = tz_n - 1;

    if (tz_n == 0) {
        return 3600;
    }
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;

        if (tz_from[mid] <= t) {
            lo = mid;
        }
        else {
            hi = mid - 1;
        }
    }
    return tz_off[lo];
}

const char *lti_report_casablanca(apr_pool_t *p, int64_t t, int with_time)
{
    time_t local = (time_t)(t + lti_report_casablanca_offset(t));
    struct tm tm;
    char buf[32];

    gmtime_r(&local, &tm);
    strftime(buf, sizeof(buf), with_time ? "%Y-%m-%d %H:%M" : "%Y-%m-%d", &tm);
    return apr_pstrdup(p, buf);
}
