/* lti_csv.h -- an RFC 4180 reader over bytes: quoted fields (with "" for a quote, line
 * breaks inside quotes), CRLF or LF line ends, an optional UTF-8 BOM, ',' or ';' as the
 * separator.  Every field must be valid UTF-8.  Records keep the line they start on, so
 * callers can report "line N: reason". */
#ifndef LTI_CSV_H
#define LTI_CSV_H

#include <stddef.h>

#include <apr_pools.h>
#include <apr_tables.h>

#include "lti_err.h"

/* Largest number of fields in one record. */
#define LTI_CSV_MAX_FIELDS 64

typedef struct lti_csv_t {
    const char *buf;
    size_t len, pos;
    char sep;
    int line;           /* the line the next record starts on (1-based) */
} lti_csv_t;

/* Starts reading len bytes of buf (a UTF-8 BOM is skipped).  The separator is the one of
 * ',' and ';' found outside quotes on the first record (the header); ',' when neither or
 * both are.  LTI_ERR_MALFORMED "csv_empty" for an empty input. */
lti_status_t lti_csv_open(const char *buf, size_t len, lti_csv_t *out, lti_err_t *err);

/* Reads the next record into *fields (const char *, NUL-terminated, allocated in p) and its
 * first line into *line; *fields is NULL at the end of the input.  Blank lines are skipped.
 * A broken record is LTI_ERR_MALFORMED (reason "csv_quote", "csv_utf8" or "csv_fields",
 * err->text without the line number) and reading goes on at the next line, so every bad
 * line can be reported; an unterminated quote ends the input. */
lti_status_t lti_csv_next(apr_pool_t *p, lti_csv_t *c, apr_array_header_t **fields,
                          int *line, lti_err_t *err);

#endif
