/* test_parse.c -- the pure directive-value parsers of mod_ptech/ptech_parse.c: durations,
 * store DSNs, URLs, host names and the secret key. */
#include "unit.h"
#include "ptech_parse.h"

/* Fails unless msg (an error string) is set and contains every non-NULL needle. */
static void check_msg(const char *what, const char *msg, const char *n1, const char *n2)
{
    if (msg == NULL) {
        fail_msg("%s: accepted, expected an error", what);
    }
    if ((n1 && strstr(msg, n1) == NULL) || (n2 && strstr(msg, n2) == NULL)) {
        fail_msg("%s: error \"%s\" does not name '%s'%s%s", what, msg, n1 ? n1 : "",
                 n2 ? " and " : "", n2 ? n2 : "");
    }
}

#define WEEK 604800

/* Durations: argument, maximum, value (0: refused) and words the refusal must contain. */
static const struct {
    const char *arg;
    int64_t max;
    int64_t val;
    const char *msg1, *msg2;
} durations[] = {
    {"300", WEEK, 300, NULL, NULL},
    {"300s", WEEK, 300, NULL, NULL},
    {"5m", WEEK, 300, NULL, NULL},
    {"8h", WEEK, 28800, NULL, NULL},
    {"7d", WEEK, WEEK, NULL, NULL},
    {"1", 1, 1, NULL, NULL},
    {"604800", WEEK, WEEK, NULL, NULL},
    {"0", WEEK, 0, "'0'", "greater than zero"},
    {"0s", WEEK, 0, "'0s'", "greater than zero"},
    {"-1", WEEK, 0, "'-1'", "not a duration"},
    {"", WEEK, 0, "''", "not a duration"},
    {"m", WEEK, 0, "'m'", "not a duration"},
    {" 5", WEEK, 0, "' 5'", "not a duration"},
    {"+5", WEEK, 0, "'+5'", "not a duration"},
    {"5x", WEEK, 0, "'5x'", "unknown unit"},
    {"5M", WEEK, 0, "'5M'", "unknown unit"},
    {"10ss", WEEK, 0, "'10ss'", "unknown unit"},
    {"5 m", WEEK, 0, "'5 m'", "unknown unit"},
    {"1.5h", WEEK, 0, "'1.5h'", "unknown unit"},
    {"604801", WEEK, 0, "'604801'", "maximum of 604800 seconds"},
    {"8d", WEEK, 0, "'8d'", "maximum of 604800 seconds"},
    {"169h", WEEK, 0, "'169h'", "maximum of 604800 seconds"},
    {"9223372036854775807d", WEEK, 0, "maximum", NULL},
    {"99999999999999999999", WEEK, 0, "'99999999999999999999'", "too large"},
};

static void test_duration(void **state)
{
    apr_pool_t *p = *state;

    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        int64_t out = -42;
        const char *msg = ptech_parse_duration(p, durations[i].arg, durations[i].max, &out);

        if (durations[i].val != 0) {
            if (msg != NULL) {
                fail_msg("duration '%s': refused: %s", durations[i].arg, msg);
            }
            assert_true(out == durations[i].val);
        }
        else {
            check_msg(apr_psprintf(p, "duration '%s'", durations[i].arg), msg,
                      durations[i].msg1, durations[i].msg2);
            assert_true(out == -42);
        }
    }
    check_msg("duration NULL", ptech_parse_duration(p, NULL, WEEK, &(int64_t){0}),
              "not a duration", NULL);
}

/* DSNs: argument, scheme and rest (NULL: refused) or the refusal's words. */
static const struct {
    const char *arg, *scheme, *rest, *msg;
} dsns[] = {
    {"sqlite3:/var/lib/ptech/ptech.db", "sqlite3", "/var/lib/ptech/ptech.db", NULL},
    {"sqlite3:/x", "sqlite3", "/x", NULL},
    {"pgsql:host=x", "pgsql", "host=x", NULL},
    {"pgsql:host=db dbname=ptech user=ptech", "pgsql", "host=db dbname=ptech user=ptech",
     NULL},
    {"sqlite3:rel/ptech.db", NULL, NULL, "absolute"},
    {"sqlite3:", NULL, NULL, "absolute"},
    {"pgsql:", NULL, NULL, "empty"},
    {"mysql:x", NULL, NULL, "not a store DSN"},
    {"/var/lib/ptech/ptech.db", NULL, NULL, "not a store DSN"},
    {"", NULL, NULL, "not a store DSN"},
    {"sqlite:/x", NULL, NULL, "not a store DSN"},
};

static void test_dsn(void **state)
{
    apr_pool_t *p = *state;

    for (size_t i = 0; i < sizeof(dsns) / sizeof(dsns[0]); i++) {
        const char *scheme = NULL, *rest = NULL;
        const char *msg = ptech_parse_dsn(p, dsns[i].arg, &scheme, &rest);

        if (dsns[i].scheme != NULL) {
            if (msg != NULL) {
                fail_msg("dsn '%s': refused: %s", dsns[i].arg, msg);
            }
            assert_string_equal(scheme, dsns[i].scheme);
            assert_string_equal(rest, dsns[i].rest);
        }
        else {
            check_msg(apr_psprintf(p, "dsn '%s'", dsns[i].arg), msg,
                      apr_psprintf(p, "'%s'", dsns[i].arg), dsns[i].msg);
        }
    }
}

/* URLs: argument, the base-URL result and the url result (NULL: refused, then the words
 * each refusal must contain). */
static const struct {
    const char *arg, *base, *url, *base_msg, *url_msg;
} urls[] = {
    {"https://a.b", "https://a.b", "https://a.b", NULL, NULL},
    {"https://a.b/", "https://a.b", "https://a.b/", NULL, NULL},
    {"https://a.b//", "https://a.b", "https://a.b//", NULL, NULL},
    {"https://tool.example.org/ptech/", NULL, "https://tool.example.org/ptech/",
     "scheme://host[:port] only", NULL},
    {"http://a.b:8080/ptech", NULL, "http://a.b:8080/ptech", "always under /ptech/", NULL},
    {"HTTPS://A.B/x", NULL, "HTTPS://A.B/x", "scheme://host[:port] only", NULL},
    {"HTTPS://A.B:8443", "HTTPS://A.B:8443", "HTTPS://A.B:8443", NULL, NULL},
    {"http://127.0.0.1:3128", "http://127.0.0.1:3128", "http://127.0.0.1:3128", NULL, NULL},
    {"https://a.b/?x=1", NULL, "https://a.b/?x=1", "query", NULL},
    {"https://a.b?", NULL, "https://a.b?", "query", NULL},
    {"https://a.b/#top", NULL, NULL, "fragment", "fragment"},
    {"ftp://a.b/", NULL, NULL, "scheme", "scheme"},
    {"file:///etc/passwd", NULL, NULL, "'file:///etc/passwd'", "'file:///etc/passwd'"},
    {"https://user:pw@a.b/", NULL, NULL, "user or password", "user or password"},
    {"https://user@a.b/", NULL, NULL, "user or password", "user or password"},
    {"https://a.b/x y", NULL, NULL, "spaces", "spaces"},
    {"https://a.b/x\ty", NULL, NULL, "control", "control"},
    {"https://a.b/\xc3\xa9", NULL, NULL, "control", "control"},
    {"a.b/ptech", NULL, NULL, "not an absolute URL", "not an absolute URL"},
    {"/ptech", NULL, NULL, "not an absolute URL", "not an absolute URL"},
    {"https://", NULL, NULL, "not an absolute URL", "not an absolute URL"},
    {"https:///x", NULL, NULL, "not an absolute URL", "not an absolute URL"},
    {"", NULL, NULL, "not an absolute URL", "not an absolute URL"},
};

static void test_urls(void **state)
{
    apr_pool_t *p = *state;

    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        const char *out = NULL;
        const char *msg = ptech_parse_base_url(p, urls[i].arg, &out);

        if (urls[i].base != NULL) {
            if (msg != NULL) {
                fail_msg("base url '%s': refused: %s", urls[i].arg, msg);
            }
            assert_string_equal(out, urls[i].base);
        }
        else {
            check_msg(apr_psprintf(p, "base url '%s'", urls[i].arg), msg,
                      apr_psprintf(p, "'%s'", urls[i].arg), urls[i].base_msg);
        }
        out = NULL;
        msg = ptech_parse_url(p, urls[i].arg, &out);
        if (urls[i].url != NULL) {
            if (msg != NULL) {
                fail_msg("url '%s': refused: %s", urls[i].arg, msg);
            }
            assert_string_equal(out, urls[i].url);
        }
        else {
            check_msg(apr_psprintf(p, "url '%s'", urls[i].arg), msg,
                      apr_psprintf(p, "'%s'", urls[i].arg), urls[i].url_msg);
        }
    }
}

/* Host names: argument and lowercased result (NULL: refused). */
static const struct {
    const char *arg, *out;
} hosts[] = {
    {"example.org", "example.org"},
    {"Moodle.Example.ORG", "moodle.example.org"},
    {"localhost", "localhost"},
    {"a-b.c-d.e", "a-b.c-d.e"},
    {"10.0.0.1", "10.0.0.1"},
    {"x", "x"},
    {"", NULL},
    {"https://example.org", NULL},
    {"example.org:443", NULL},
    {"example.org/path", NULL},
    {"example..org", NULL},
    {"../etc", NULL},
    {".example.org", NULL},
    {"example.org.", NULL},
    {"-example.org", NULL},
    {"exa mple.org", NULL},
    {"exa_mple.org", NULL},
    {"user@example.org", NULL},
    {"[::1]", NULL},
    {"ex\xc3\xa9mple.org", NULL},
};

static void test_host(void **state)
{
    apr_pool_t *p = *state;
    const char *out;
    char *long_host;

    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        const char *msg;

        out = NULL;
        msg = ptech_parse_host(p, hosts[i].arg, &out);
        if (hosts[i].out != NULL) {
            if (msg != NULL) {
                fail_msg("host '%s': refused: %s", hosts[i].arg, msg);
            }
            assert_string_equal(out, hosts[i].out);
        }
        else {
            check_msg(apr_psprintf(p, "host '%s'", hosts[i].arg), msg,
                      apr_psprintf(p, "'%s'", hosts[i].arg), "not a host name");
            assert_null(out);
        }
    }
    /* The argument is not changed in place. */
    {
        char arg[] = "ABC.example";

        assert_null(ptech_parse_host(p, arg, &out));
        assert_string_equal(arg, "ABC.example");
        assert_string_equal(out, "abc.example");
    }
    /* 253 characters is the most a DNS name holds. */
    long_host = apr_palloc(p, 255);
    memset(long_host, 'a', 254);
    long_host[253] = '\0';
    assert_null(ptech_parse_host(p, long_host, &out));
    long_host[253] = 'a';
    long_host[254] = '\0';
    assert_non_null(ptech_parse_host(p, long_host, &out));
}

/* The secret key: under 32 bytes refused with the count and the fix; 32 or more give the
 * SHA-256 of the whole content (FIPS 180-2 vector for the 56-byte message). */
static void test_secret_key(void **state)
{
    static const char nist[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const char nist_sha[] =
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
    static const char hex_line[] =
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
    apr_pool_t *p = *state;
    unsigned char key[33], untouched[33];
    char buf[40];

    memset(key, 0xee, sizeof(key));
    memcpy(untouched, key, sizeof(key));
    check_msg("empty key", ptech_parse_secret_key(p, "", 0, key), "0 bytes", "at least 32");
    check_msg("31-byte key", ptech_parse_secret_key(p, nist, 31, key), "31 bytes",
              "openssl rand");
    assert_memory_equal(key, untouched, sizeof(key));

    assert_null(ptech_parse_secret_key(p, nist, strlen(nist), key));
    assert_string_equal(lti_hex(p, key, 32), nist_sha);
    assert_int_equal(key[32], 0xee);   /* exactly 32 bytes written */

    /* Exactly 32 bytes, NUL bytes included, hash as they are. */
    memset(buf, 0, sizeof(buf));
    memcpy(buf, "zero bytes follow", 17);
    assert_null(ptech_parse_secret_key(p, buf, 32, key));
    assert_string_equal(lti_hex(p, key, 32), lti_sha256_hex(p, buf, 32));

    /* `openssl rand -hex 32 > FILE`: 65 bytes with the newline, all hashed. */
    assert_null(ptech_parse_secret_key(p, hex_line, strlen(hex_line), key));
    assert_string_equal(lti_hex(p, key, 32), lti_sha256_hex(p, hex_line, strlen(hex_line)));
    assert_string_not_equal(lti_hex(p, key, 32), lti_sha256_hex(p, hex_line, 64));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_dsn),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_secret_key),
    };

    return cmocka_run_group_tests_name("parse", tests, unit_group_setup, unit_group_teardown);
}
