/* test_csv.c -- the RFC 4180 reader: fields, quotes, line ends, BOM, separator detection,
 * line numbers, and every refusal (with reading going on at the next line). */
#include "unit.h"

/* Reads every record of buf; returns them as "a|b|c@LINE" joined by "\n", errors as
 * "!reason@LINE". */
static const char *dump(apr_pool_t *p, const char *buf, size_t len, char *sep)
{
    lti_csv_t c;
    lti_err_t err;
    apr_array_header_t *f;
    const char *out = "";
    int line;

    if (lti_csv_open(buf, len, &c, &err) != LTI_OK) {
        return apr_pstrcat(p, "!", err.reason, NULL);
    }
    if (sep) {
        *sep = c.sep;
    }
    for (int guard = 0; guard < 100; guard++) {
        lti_err_clear(&err);
        if (lti_csv_next(p, &c, &f, &line, &err) != LTI_OK) {
            out = apr_psprintf(p, "%s%s!%s@%d", out, *out ? "\n" : "", err.reason, line);
            continue;
        }
        if (f == NULL) {
            break;
        }
        out = apr_psprintf(p, "%s%s%s@%d", out, *out ? "\n" : "",
                           apr_array_pstrcat(p, f, '|'), line);
    }
    return out;
}

#define DUMP(s) dump(p, (s), sizeof(s) - 1, NULL)

static void test_plain(void **state)
{
    apr_pool_t *p = *state;

    assert_string_equal(DUMP("a,b,c\r\n1,2,3\r\n"), "a|b|c@1\n1|2|3@2");
    assert_string_equal(DUMP("a,b,c\n1,2,3"), "a|b|c@1\n1|2|3@2");       /* no final EOL */
    assert_string_equal(DUMP("a,b\r1,2\r"), "a|b@1\n1|2@2");               /* lone CR */
    assert_string_equal(DUMP("a,,c\n,,\n"), "a||c@1\n||@2");               /* empty fields */
    assert_string_equal(DUMP("a\n\n\r\nb\n"), "a@1\nb@4");                 /* blank lines */
}

static void test_quotes(void **state)
{
    apr_pool_t *p = *state;

    assert_string_equal(DUMP("\"a,b\",c\n"), "a,b|c@1");
    assert_string_equal(DUMP("\"say \"\"hi\"\"\",x\n"), "say \"hi\"|x@1");
    assert_string_equal(DUMP("\"\",x\n"), "|x@1");
    /* A line break inside quotes is data; the next record's line number counts it. */
    assert_string_equal(DUMP("\"two\r\nlines\",x\r\nnext,y\r\n"), "two\r\nlines|x@1\nnext|y@3");
    assert_string_equal(DUMP("\"a\nb\nc\",x\nz\n"), "a\nb\nc|x@1\nz@4");
}

static void test_bom_and_separator(void **state)
{
    apr_pool_t *p = *state;
    char sep = 0;
    static const char semi[] = "\xEF\xBB\xBFuser;course;score\n3;c1;85,5\n";
    static const char comma[] = "\xEF\xBB\xBFuser,course\n\"x;y\",2\n";

    assert_string_equal(dump(p, semi, sizeof(semi) - 1, &sep), "user|course|score@1\n"
                        "3|c1|85,5@2");
    assert_int_equal(sep, ';');
    assert_string_equal(dump(p, comma, sizeof(comma) - 1, &sep), "user|course@1\nx;y|2@2");
    assert_int_equal(sep, ',');
    /* A ';' inside a quoted header field does not count. */
    assert_string_equal(dump(p, "\"a;b\",c\n", 8, &sep), "a;b|c@1");
    assert_int_equal(sep, ',');
}

static void test_refusals(void **state)
{
    apr_pool_t *p = *state;
    static const char utf8[] = "a,b\n\xC3\x28,x\nok,1\n";

    assert_string_equal(DUMP(""), "!csv_empty");
    assert_string_equal(dump(p, "\xEF\xBB\xBF", 3, NULL), "!csv_empty");
    /* A quote in an unquoted field; text after a closing quote: reported, next line read. */
    assert_string_equal(DUMP("a,b\nx\"y,1\nok,2\n"), "a|b@1\n!csv_quote@2\nok|2@3");
    assert_string_equal(DUMP("a,b\n\"x\"y,1\nok,2\n"), "a|b@1\n!csv_quote@2\nok|2@3");
    /* An unterminated quote ends the input. */
    assert_string_equal(DUMP("a,b\n\"open,1\nok,2\n"), "a|b@1\n!csv_quote@2");
    assert_string_equal(dump(p, utf8, sizeof(utf8) - 1, NULL), "a|b@1\n!csv_utf8@2\nok|1@3");
    assert_string_equal(dump(p, "a\0b,c\n", 6, NULL), "!csv_utf8@1");
}

static void test_too_many_fields(void **state)
{
    apr_pool_t *p = *state;
    char *line = apr_palloc(p, 2 * (LTI_CSV_MAX_FIELDS + 1) + 8);
    size_t n = 0;

    for (int i = 0; i <= LTI_CSV_MAX_FIELDS; i++) {
        line[n++] = 'x';
        line[n++] = i == LTI_CSV_MAX_FIELDS ? '\n' : ',';
    }
    memcpy(line + n, "ok\n", 3);
    assert_string_equal(dump(p, line, n + 3, NULL), "!csv_fields@1\nok@2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_quotes),
        cmocka_unit_test(test_bom_and_separator),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_too_many_fields),
    };

    return cmocka_run_group_tests_name("csv", tests, unit_group_setup, unit_group_teardown);
}
