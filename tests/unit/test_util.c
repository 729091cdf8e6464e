/* test_util.c -- form decoding, percent-encoding, constant-time compares, hex/SHA-256/base64,
 * random tokens, integer parsing and UTF-8 validation. */
#include "unit.h"

#define NUL_LEN ((size_t)-1)   /* in a table: use strlen() of the input */

/* Form decoding: input (len bytes, or strlen), max_params, expected status and, on
 * success, the pairs in order (key, value, ..., NULL). */
static const struct {
    const char *in;
    size_t len;
    int max;
    lti_status_t status;
    const char *kv[9];
} forms[] = {
    {"", NUL_LEN, 10, LTI_OK, {NULL}},
    {"a=1&b=2", NUL_LEN, 10, LTI_OK, {"a", "1", "b", "2", NULL}},
    {"a+b=c+d", NUL_LEN, 10, LTI_OK, {"a b", "c d", NULL}},
    {"%41%62=%e2%82%AC+%2B", NUL_LEN, 10, LTI_OK, {"Ab", "\xe2\x82\xac +", NULL}},
    {"a=", NUL_LEN, 10, LTI_OK, {"a", "", NULL}},
    {"a", NUL_LEN, 10, LTI_OK, {"a", "", NULL}},
    {"a&b=", NUL_LEN, 10, LTI_OK, {"a", "", "b", "", NULL}},
    {"a=b=c", NUL_LEN, 10, LTI_OK, {"a", "b=c", NULL}},
    {"a=1&&b=2", NUL_LEN, 10, LTI_OK, {"a", "1", "b", "2", NULL}},
    {"&&a=1&", NUL_LEN, 10, LTI_OK, {"a", "1", NULL}},
    {"&", NUL_LEN, 10, LTI_OK, {NULL}},
    {"a=1&a=2&b=3&a=1", NUL_LEN, 10, LTI_OK, {"a", "1", "a", "2", "b", "3", "a", "1", NULL}},
    {"a=%2541", NUL_LEN, 10, LTI_OK, {"a", "%41", NULL}},
    /* Only len bytes count: the buffer need not end with a NUL. */
    {"a=1&b=2", 3, 10, LTI_OK, {"a", "1", NULL}},
    {"a=%41zz", 5, 10, LTI_OK, {"a", "A", NULL}},
    /* Exactly max_params is fine; empty pieces do not count. */
    {"a=1&b=2", NUL_LEN, 2, LTI_OK, {"a", "1", "b", "2", NULL}},
    {"a=1&&&b=2&", NUL_LEN, 2, LTI_OK, {"a", "1", "b", "2", NULL}},
    {"a=1&b=2&c=3", NUL_LEN, 2, LTI_ERR_TOO_LARGE, {NULL}},
    {"a", NUL_LEN, 0, LTI_ERR_TOO_LARGE, {NULL}},
    /* Bad escapes and NUL bytes. */
    {"a=%G1", NUL_LEN, 10, LTI_ERR_MALFORMED, {NULL}},
    {"a=%1G", NUL_LEN, 10, LTI_ERR_MALFORMED, {NULL}},
    {"%zz=1", NUL_LEN, 10, LTI_ERR_MALFORMED, {NULL}},
    {"a=%", NUL_LEN, 10, LTI_ERR_MALFORMED, {NULL}},
    {"a=%4", NUL_LEN, 10, LTI_ERR_MALFORMED, {NULL}},
    {"a=1%&b=2", NUL_LEN, 10, LTI_ERR_MALFORMED, {NULL}},
    {"a=%41", 4, 10, LTI_ERR_MALFORMED, {NULL}},   /* escape cut by len */
    {"a=%00", NUL_LEN, 10, LTI_ERR_MALFORMED, {NULL}},
    {"%00=1", NUL_LEN, 10, LTI_ERR_MALFORMED, {NULL}},
    {"a=x\0y", 5, 10, LTI_ERR_MALFORMED, {NULL}},  /* a raw NUL byte */
};

static void test_form_parse(void **state)
{
    apr_pool_t *p = *state;

    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        apr_array_header_t *kv = lti_kv_make(p, 2);
        size_t len = forms[i].len == NUL_LEN ? strlen(forms[i].in) : forms[i].len;
        const lti_kv_t *e;
        lti_err_t err;
        lti_status_t rv;
        int n = 0;

        lti_err_clear(&err);
        rv = lti_form_parse(p, forms[i].in, len, forms[i].max, kv, &err);
        if (rv != forms[i].status) {
            fail_msg("form %zu '%s': status %s, expected %s", i, forms[i].in,
                     lti_status_name(rv), lti_status_name(forms[i].status));
        }
        if (rv != LTI_OK) {
            assert_int_equal(err.status, rv);
            assert_non_null(err.reason);
            assert_true(err.text[0] != '\0');
            continue;
        }
        while (forms[i].kv[2 * n] != NULL) {
            n++;
        }
        if (kv->nelts != n) {
            fail_msg("form %zu '%s': %d pairs, expected %d", i, forms[i].in, kv->nelts, n);
        }
        e = (const lti_kv_t *)kv->elts;
        for (int k = 0; k < n; k++) {
            assert_string_equal(e[k].key, forms[i].kv[2 * k]);
            assert_string_equal(e[k].val, forms[i].kv[2 * k + 1]);
        }
    }
}

/* Decoding appends to what the array holds; the error detail may be NULL. */
static void test_form_appends(void **state)
{
    apr_pool_t *p = *state;
    apr_array_header_t *kv = lti_kv_make(p, 1);
    const lti_kv_t *e;

    lti_kv_add(kv, "q", NULL);
    assert_int_equal(lti_form_parse(p, "a=1&q=2", 7, 10, kv, NULL), LTI_OK);
    assert_int_equal(kv->nelts, 3);
    e = (const lti_kv_t *)kv->elts;
    assert_string_equal(e[0].key, "q");
    assert_string_equal(e[0].val, "");
    assert_string_equal(lti_kv_get(kv, "q"), "");
    assert_string_equal(lti_kv_get(kv, "a"), "1");
    assert_null(lti_kv_get(kv, "b"));
    assert_int_equal(lti_kv_count(kv, "q"), 2);
    assert_int_equal(lti_kv_count(kv, "a"), 1);
    assert_int_equal(lti_kv_count(kv, "b"), 0);
    assert_int_equal(lti_form_parse(p, "%", 1, 10, kv, NULL), LTI_ERR_MALFORMED);
    assert_int_equal(lti_form_parse(p, "a&b", 3, 1, kv, NULL), LTI_ERR_TOO_LARGE);
}

/* RFC 3986 unreserved characters stay, everything else is %XX with upper-case hex. */
static const struct {
    const char *in, *out;
} pct[] = {
    {"", ""},
    {"ABCXYZabcxyz0189-._~", "ABCXYZabcxyz0189-._~"},
    {" ", "%20"},
    {"Ladies + Gentlemen", "Ladies%20%2B%20Gentlemen"},
    {"An encoded string!", "An%20encoded%20string%21"},
    {"Dogs, Cats & Mice", "Dogs%2C%20Cats%20%26%20Mice"},
    {"=&%/?#[]@:;'\"*()$,", "%3D%26%25%2F%3F%23%5B%5D%40%3A%3B%27%22%2A%28%29%24%2C"},
    {"\x01\x7f", "%01%7F"},
    {"\xc3\xa9t\xc3\xa9", "%C3%A9t%C3%A9"},                     /* été */
    {"\xe2\x98\x83", "%E2%98%83"},                                /* snowman */
    {"\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a", "%D8%B9%D8%B1%D8%A8%D9%8A"}, /* عربي */
    {"\xf0\x9f\x98\x80", "%F0%9F%98%80"},                         /* emoji */
};

static void test_pct_encode(void **state)
{
    apr_pool_t *p = *state;

    for (size_t i = 0; i < sizeof(pct) / sizeof(pct[0]); i++) {
        assert_string_equal(lti_pct_encode(p, pct[i].in), pct[i].out);
    }
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_int_equal(lti_ct_equal("abc", 3, "abc", 3), 1);
    assert_int_equal(lti_ct_equal("abc", 3, "abd", 3), 0);
    assert_int_equal(lti_ct_equal("abc", 3, "xbc", 3), 0);
    assert_int_equal(lti_ct_equal("abc", 3, "abcd", 4), 0);
    assert_int_equal(lti_ct_equal("abcd", 4, "abc", 3), 0);
    assert_int_equal(lti_ct_equal("a\0b", 3, "a\0c", 3), 0);
    assert_int_equal(lti_ct_equal("a\0b", 3, "a\0b", 3), 1);
    assert_int_equal(lti_ct_equal("x", 0, "y", 0), 1);

    assert_int_equal(lti_ct_streq("secret", "secret"), 1);
    assert_int_equal(lti_ct_streq("", ""), 1);
    assert_int_equal(lti_ct_streq("secret", "secreT"), 0);
    assert_int_equal(lti_ct_streq("secret", "secret2"), 0);
    assert_int_equal(lti_ct_streq("secret", ""), 0);
    assert_int_equal(lti_ct_streq(NULL, "a"), 0);
    assert_int_equal(lti_ct_streq("a", NULL), 0);
    assert_int_equal(lti_ct_streq(NULL, NULL), 0);
}

/* Known vectors: FIPS 180-2 for SHA-256, RFC 4648 section 10 for base64. */
static void test_hex_sha256_base64(void **state)
{
    static const unsigned char bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    static const struct {
        const char *in, *sha256;
    } sha[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    static const struct {
        const char *in, *b64;
    } b64[] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    apr_pool_t *p = *state;

    assert_string_equal(lti_hex(p, bytes, sizeof(bytes)), "00017f80abff");
    assert_string_equal(lti_hex(p, bytes, 0), "");
    for (size_t i = 0; i < sizeof(sha) / sizeof(sha[0]); i++) {
        assert_string_equal(lti_sha256_hex(p, sha[i].in, strlen(sha[i].in)), sha[i].sha256);
    }
    for (size_t i = 0; i < sizeof(b64) / sizeof(b64[0]); i++) {
        assert_string_equal(lti_base64(p, (const unsigned char *)b64[i].in, strlen(b64[i].in)),
                            b64[i].b64);
    }
    /* Standard alphabet, not the URL one. */
    assert_string_equal(lti_base64(p, (const unsigned char *)"\xfb\xff\xfe", 3), "+//+");
    assert_string_equal(lti_base64url(p, (const unsigned char *)"\xfb\xff\xfe", 3), "-__-");
    assert_string_equal(lti_base64url(p, (const unsigned char *)"fo", 2), "Zm8");
    assert_string_equal(lti_base64url(p, (const unsigned char *)"", 0), "");
}

static void test_random_hex(void **state)
{
    apr_pool_t *p = *state;
    const char *prev = NULL;
    unsigned char buf[32], zero[32] = {0};

    for (int i = 0; i < 8; i++) {
        const char *h = lti_random_hex(p, 16);

        assert_non_null(h);
        assert_int_equal(strlen(h), 32);
        assert_int_equal(strspn(h, "0123456789abcdef"), 32);
        if (prev != NULL) {
            assert_string_not_equal(h, prev);
        }
        prev = h;
    }
    assert_int_equal(strlen(lti_random_hex(p, 1)), 2);
    assert_int_equal(strlen(lti_random_hex(p, 64)), 128);
    assert_string_equal(lti_random_hex(p, 0), "");
    assert_null(lti_random_hex(p, 65));

    memset(buf, 0, sizeof(buf));
    assert_int_equal(lti_random(buf, sizeof(buf), NULL), LTI_OK);
    assert_true(memcmp(buf, zero, sizeof(buf)) != 0);
}

static void test_parse_int64(void **state)
{
    static const struct {
        const char *in;
        int ok;
        int64_t val;
    } ints[] = {
        {"0", 1, 0},
        {"42", 1, 42},
        {"-7", 1, -7},
        {"1700000000", 1, 1700000000},
        {"9223372036854775807", 1, INT64_MAX},
        {"-9223372036854775808", 1, INT64_MIN},
        {"", 0, 0},
        {"abc", 0, 0},
        {"12a", 0, 0},
        {"12 ", 0, 0},
        {"1.5", 0, 0},
        {"0x10", 0, 0},
        {"-", 0, 0},
        {"9223372036854775808", 0, 0},
        {"-9223372036854775809", 0, 0},
        {"99999999999999999999999", 0, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        int64_t v = 12345;
        int rc = lti_parse_int64(ints[i].in, &v);

        if ((rc == 0) != ints[i].ok) {
            fail_msg("lti_parse_int64('%s') returned %d", ints[i].in, rc);
        }
        if (ints[i].ok) {
            assert_true(v == ints[i].val);
        }
    }
    assert_int_equal(lti_parse_int64(NULL, &(int64_t){0}), -1);
}

/* "must span the whole string": leading white space is not part of a decimal number. */
static void test_parse_int64_leading_space(void **state)
{
    static const char *const bad[] = {" 12", "\t12", "\n12", " -5"};
    int64_t v;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (lti_parse_int64(bad[i], &v) == 0) {
            fail_msg("lti_parse_int64('%s') accepted leading white space", bad[i]);
        }
    }
}

/* UTF-8: input (len bytes, or strlen) and whether it is valid. */
static const struct {
    const char *name, *in;
    size_t len;
    int valid;
} utf8[] = {
    {"empty", "", NUL_LEN, 1},
    {"ASCII", "Hello, world ~\x7f", NUL_LEN, 1},
    {"ASCII with NUL", "a\0b", 3, 1},
    {"French", "Fran\xc3\xa7" "ais : \xc3\xa9t\xc3\xa9, No\xc3\xabl, \xc5\x93uvre", NUL_LEN, 1},
    {"Arabic", "\xd8\xa7\xd9\x84\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a\xd8\xa9", NUL_LEN, 1},
    {"euro", "\xe2\x82\xac", NUL_LEN, 1},
    {"emoji", "\xf0\x9f\x98\x80\xf0\x9f\x8e\x93", NUL_LEN, 1},
    {"U+0080", "\xc2\x80", NUL_LEN, 1},
    {"U+07FF", "\xdf\xbf", NUL_LEN, 1},
    {"U+0800", "\xe0\xa0\x80", NUL_LEN, 1},
    {"U+D7FF", "\xed\x9f\xbf", NUL_LEN, 1},
    {"U+E000", "\xee\x80\x80", NUL_LEN, 1},
    {"U+FFFF", "\xef\xbf\xbf", NUL_LEN, 1},
    {"U+10000", "\xf0\x90\x80\x80", NUL_LEN, 1},
    {"U+10FFFF", "\xf4\x8f\xbf\xbf", NUL_LEN, 1},
    {"overlong NUL C0 80", "\xc0\x80", NUL_LEN, 0},
    {"overlong C1 BF", "\xc1\xbf", NUL_LEN, 0},
    {"overlong 3-byte NUL", "\xe0\x80\x80", NUL_LEN, 0},
    {"overlong 3-byte U+07FF", "\xe0\x9f\xbf", NUL_LEN, 0},
    {"overlong 4-byte U+FFFF", "\xf0\x8f\xbf\xbf", NUL_LEN, 0},
    {"surrogate ED A0 80", "\xed\xa0\x80", NUL_LEN, 0},
    {"surrogate ED BF BF", "\xed\xbf\xbf", NUL_LEN, 0},
    {"surrogate pair", "\xed\xa0\xbd\xed\xb8\x80", NUL_LEN, 0},
    {"above U+10FFFF", "\xf4\x90\x80\x80", NUL_LEN, 0},
    {"F5", "\xf5\x80\x80\x80", NUL_LEN, 0},
    {"F8", "\xf8\x88\x80\x80\x80", NUL_LEN, 0},
    {"FE", "\xfe", NUL_LEN, 0},
    {"FF", "\xff", NUL_LEN, 0},
    {"lone continuation", "a\x80" "b", NUL_LEN, 0},
    {"bad continuation", "\xc3\x28", NUL_LEN, 0},
    {"bad 3rd byte", "\xe2\x82\x28", NUL_LEN, 0},
    {"truncated 2-byte", "\xc3", NUL_LEN, 0},
    {"truncated 2-byte at end", "abc\xc3", NUL_LEN, 0},
    {"truncated 3-byte", "\xe2\x82", NUL_LEN, 0},
    {"truncated 4-byte", "\xf0\x9f\x98", NUL_LEN, 0},
    {"cut by len", "\xc3\xa9", 1, 0},
    {"cut by len (4-byte)", "\xf0\x9f\x98\x80", 3, 0},
    {"truncated then ASCII", "\xe2\x82" "a", NUL_LEN, 0},
};

static void test_utf8_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++) {
        size_t len = utf8[i].len == NUL_LEN ? strlen(utf8[i].in) : utf8[i].len;

        if (lti_utf8_valid(utf8[i].in, len) != utf8[i].valid) {
            fail_msg("utf8 '%s': expected %s", utf8[i].name,
                     utf8[i].valid ? "valid" : "invalid");
        }
    }
}

static void test_is_http_url(void **state)
{
    apr_pool_t *p = *state;

    assert_true(lti_is_http_url(p, "https://moodle.example.ac.ma/mod/lti/x.php?a=1&b=2"));
    assert_true(lti_is_http_url(p, "HTTP://127.0.0.1:8081/m"));
    assert_false(lti_is_http_url(p, NULL));
    assert_false(lti_is_http_url(p, ""));
    assert_false(lti_is_http_url(p, "/relative/path"));
    assert_false(lti_is_http_url(p, "javascript:alert(1)"));
    assert_false(lti_is_http_url(p, "ftp://host/x"));
    assert_false(lti_is_http_url(p, "https:///no-host"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_parse),
        cmocka_unit_test(test_form_appends),
        cmocka_unit_test(test_pct_encode),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_hex_sha256_base64),
        cmocka_unit_test(test_random_hex),
        cmocka_unit_test(test_parse_int64),
        cmocka_unit_test(test_parse_int64_leading_space),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_is_http_url),
    };

    return cmocka_run_group_tests_name("util", tests, unit_group_setup, unit_group_teardown);
}
