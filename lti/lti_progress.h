/* lti_progress.h -- the progress model: facts per person, course and module (status, score,
 * time, source, evidence), the course result by the catalog's rules, and the CSV import
 * format of SPEC.md ("CSV").
 *
 * Course result rules (documented in README "Grades"):
 *  - a module's score is its own, else 1 for passed/completed and 0 otherwise (evidence
 *    without a score counts as 100);
 *  - the course score is the weighted mean over every catalog module (missing ones 0);
 *  - a module is done when completed, passed or failed; the course is completed when every
 *    module is done; the score passes at passing-score / 100 or above;
 *  - move-on (cmi5): Completed needs completion, Passed the passing score,
 *    CompletedAndPassed both, CompletedOrPassed either; met: "passed"; all modules done
 *    but not met: "failed"; otherwise "in_progress";
 *  - a whole-course fact ("" module) "passed" passes the course whatever the modules say
 *    (score: its own, else 1, never below the modules' score); another whole-course fact
 *    wins when it is newer than every module fact.
 */
#ifndef LTI_PROGRESS_H
#define LTI_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#include <apr_pools.h>
#include <apr_tables.h>

#include "lti_catalog.h"
#include "lti_err.h"
#include "lti_store.h"

/* Largest CSV file accepted by lti_progress_parse_csv, in bytes. */
#define LTI_PROGRESS_CSV_MAX (64 * 1024 * 1024)

/* Returns the canonical status for s ("in_progress", "completed", "passed", "failed",
 * case-insensitive), or NULL. */
const char *lti_progress_status(const char *s);

/* Parses a CSV score: empty (*has 0), else 0..100 with a decimal point or comma;
 * *out is 0..1.  Returns NULL or a reason in words. */
const char *lti_progress_parse_score(const char *s, int *has, double *out);

/* Parses an ISO 8601 date or date-time (YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS[.frac]] with an
 * optional Z or +HH:MM / -HH:MM); without a zone the time is Africa/Casablanca's, a bare
 * date is midnight there.  Returns NULL or a reason in words. */
const char *lti_progress_parse_date(const char *s, int64_t *out);

/* Parses a progress CSV (SPEC.md "CSV") of len bytes against cat: *rows gets the
 * lti_progress_t of every valid row (source "csv", evidence "NAME line N"), *problems the
 * "line N: reason" of every invalid one (const char *).  LTI_OK when every row is valid,
 * LTI_ERR_MALFORMED "csv_invalid" when any is (apply nothing then), LTI_ERR_TOO_LARGE over
 * LTI_PROGRESS_CSV_MAX. */
lti_status_t lti_progress_parse_csv(apr_pool_t *p, const lti_catalog_t *cat, const char *name,
                                    const char *buf, size_t len, apr_array_header_t **rows,
                                    apr_array_header_t **problems, lti_err_t *err);

/* The course result of rows (lti_progress_t of one person in course); out->status NULL
 * when rows is empty. */
void lti_progress_course_result(const lti_course_t *course, const apr_array_header_t *rows,
                                lti_result_t *out);

/* An lti_result_fn over the catalog in baton (const lti_catalog_t *):
 * LTI_ERR_NOT_FOUND "course_unknown" for a course that is not in it. */
lti_status_t lti_progress_result_fn(void *baton, apr_pool_t *p, const char *course_id,
                                    const apr_array_header_t *rows, lti_result_t *out,
                                    lti_err_t *err);

#endif
