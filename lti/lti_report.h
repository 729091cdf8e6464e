/* lti_report.h -- what instructors and learners read about progress: modules done, the
 * dashboard's CSV export cells (French Excel: ';', decimal comma, formula guard) and
 * times in Africa/Casablanca. */
#ifndef LTI_REPORT_H
#define LTI_REPORT_H

#include <stdint.h>

#include <apr_pools.h>
#include <apr_tables.h>

#include "lti_catalog.h"
#include "lti_store.h"

/* The status of module_id among rows (lti_progress_t of one person and course): its fact's
 * status, else NULL (not started). */
const char *lti_report_module_status(const apr_array_header_t *rows, const char *module_id);

/* How many of course's modules are done (completed, passed or failed) by rows; a passed or
 * completed course result (res, may be NULL) counts every module as done. */
int lti_report_modules_done(const lti_course_t *course, const apr_array_header_t *rows,
                            const lti_result_t *res);

/* One CSV field (RFC 4180): quoted when it holds ';', '"', CR or LF (quotes doubled); a
 * value starting with = + - @ (or a tab or CR) gets a leading ' so a spreadsheet never
 * runs it as a formula.  NULL gives "". */
const char *lti_report_csv_field(apr_pool_t *p, const char *s);

/* A 0..1 score as French Excel reads it: 0..100 with a decimal comma ("85,5", "100"). */
const char *lti_report_score(apr_pool_t *p, double score);

/* Reads the Africa/Casablanca offsets from the TZ database (TZ switched once, then put
 * back): call once at start-up, before any thread starts (lti_init does).  Morocco's
 * offset follows Ramadan, so it cannot be computed from a fixed rule. */
void lti_report_tz_init(void);

/* The UTC offset in seconds of Africa/Casablanca at t (epoch seconds). */
int lti_report_casablanca_offset(int64_t t);

/* t in Africa/Casablanca: "YYYY-MM-DD HH:MM" with time, else "YYYY-MM-DD". */
const char *lti_report_casablanca(apr_pool_t *p, int64_t t, int with_time);

#endif
