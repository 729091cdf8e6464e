/* lti_csv.c -- RFC 4180 records over bytes (see lti_csv.h). */
#include <string.h>

#include <apr_strings.h>

#include "lti_csv.h"
#include "lti_util.h"

lti_status_t lti_csv_open(const char *buf, size_t len, lti_csv_t *out, lti_err_t *err)
{
    int commas = 0, semis = 0, quoted = 0;

    memset(out, 0, sizeof(*out));
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
        buf += 3;
        len -= 3;
    }
    out->buf = buf;
    out->len = len;
    out->line = 1;
    out->sep = ',';
    if (len == 0) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "csv_empty", "the file is empty");
    }
    /* The header's separator: what separates its fields outside quotes. */
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '"') {
            quoted = !quoted;
        }
        else if (!quoted && (buf[i] == '\n' || buf[i] == '\r')) {
            break;
        }
        else if (!quoted && buf[i] == ',') {
            commas++;
        }
        else if (!quoted && buf[i] == ';') {
            semis++;
        }
    }
    out->sep = semis > 0 && commas == 0 ? ';' : ',';
    return LTI_OK;
}

/* Skips to the start of the next line (after a broken record). */
static void skip_line(lti_csv_t *c)
{
    while (c->pos < c->len && c->buf[c->pos] != '\n' && c->buf[c->pos] != '\r') {
        c->pos++;
    }
    if (c->pos < c->len && c->buf[c->pos] == '\r') {
        c->pos++;
    }
    if (c->pos < c->len && c->buf[c->pos] == '\n') {
        c->pos++;
    }
    c->line++;
}

/* Consumes one line end at pos (CRLF, LF or a lone CR); returns 1 if there was one. */
static int eat_eol(lti_csv_t *c)
{
    if (c->pos < c->len && c->buf[c->pos] == '\r') {
        c->pos++;
        if (c->pos < c->len && c->buf[c->pos] == '\n') {
            c->pos++;
        }
        c->line++;
        return 1;
    }
    if (c->pos < c->len && c->buf[c->pos] == '\n') {
        c->pos++;
        c->line++;
        return 1;
    }
    return 0;
}

lti_status_t lti_csv_next(apr_pool_t *p, lti_csv_t *c, apr_array_header_t **fields,
                          int *line, lti_err_t *err)
{
    apr_array_header_t *f;

    *fields = NULL;
    /* Blank lines are not records. */
    while (c->pos < c->len && (c->buf[c->pos] == '\n' || c->buf[c->pos] == '\r')) {
        eat_eol(c);
    }
    *line = c->line;
    if (c->pos >= c->len) {
        return LTI_OK;
    }
    f = apr_array_make(p, 8, sizeof(const char *));
    for (;;) {
        const char *start = c->buf + c->pos;
        char *val;
        size_t n = 0;

        if (f->nelts >= LTI_CSV_MAX_FIELDS) {
            skip_line(c);
            return lti_err_set(err, LTI_ERR_MALFORMED, "csv_fields",
                               "more than %d fields", LTI_CSV_MAX_FIELDS);
        }
        if (c->pos < c->len && c->buf[c->pos] == '"') {
            /* Quoted: "" is a quote; separators and line breaks are data. */
            c->pos++;
            val = apr_palloc(p, c->len - c->pos + 1);
            for (;;) {
                if (c->pos >= c->len) {
                    c->pos = c->len;
                    return lti_err_set(err, LTI_ERR_MALFORMED, "csv_quote",
                                       "a quoted field is not closed (a \" is missing)");
                }
                if (c->buf[c->pos] == '"') {
                    if (c->pos + 1 < c->len && c->buf[c->pos + 1] == '"') {
                        val[n++] = '"';
                        c->pos += 2;
                        continue;
                    }
                    c->pos++;
                    break;
                }
                if (c->buf[c->pos] == '\n'
                    || (c->buf[c->pos] == '\r' && !(c->pos + 1 < c->len
                                                     && c->buf[c->pos + 1] == '\n'))) {
                    c->line++;
                }
                val[n++] = c->buf[c->pos++];
            }
            val[n] = '\0';
            if (c->pos < c->len && c->buf[c->pos] != c->sep && c->buf[c->pos] != '\n'
                && c->buf[c->pos] != '\r') {
                skip_line(c);
                return lti_err_set(err, LTI_ERR_MALFORMED, "csv_quote",
                                   "text after the closing quote of a field");
            }
        }
        else {
            while (c->pos < c->len && c->buf[c->pos] != c->sep && c->buf[c->pos] != '\n'
                   && c->buf[c->pos] != '\r') {
                if (c->buf[c->pos] == '"') {
                    skip_line(c);
                    return lti_err_set(err, LTI_ERR_MALFORMED, "csv_quote",
                                       "a quote inside a field that does not start with one "
                                       "(quote the whole field and double the quote)");
                }
                c->pos++;
                n++;
            }
            val = apr_pstrmemdup(p, start, n);
        }
        if (memchr(val, '\0', n) != NULL || !lti_utf8_valid(val, n)) {
            skip_line(c);
            return lti_err_set(err, LTI_ERR_MALFORMED, "csv_utf8",
                               "a field is not valid UTF-8 text");
        }
        APR_ARRAY_PUSH(f, const char *) = val;
        if (c->pos < c->len && c->buf[c->pos] == c->sep) {
            c->pos++;
            continue;
        }
        eat_eol(c);
        break;
    }
    *fields = f;
    return LTI_OK;
}
