/* test_oauth1.c -- RFC 5849 base string, HMAC-SHA1, verification and body hash. */
#include "unit.h"

/* Adds "k=v&k=v" form data to kv; fails the test on a decode error. */
static apr_array_header_t *form(apr_pool_t *p, const char *data)
{
    apr_array_header_t *kv = lti_kv_make(p, 8);

    assert_int_equal(lti_form_parse(p, data, strlen(data), 100, kv, NULL), LTI_OK);
    return kv;
}

/* Removes every key from kv. */
static void kv_del(apr_array_header_t *kv, const char *key)
{
    lti_kv_t *e = (lti_kv_t *)kv->elts;
    int o = 0;

    for (int i = 0; i < kv->nelts; i++) {
        if (strcmp(e[i].key, key) != 0) {
            e[o++] = e[i];
        }
    }
    kv->nelts = o;
}

/* Sets the first key to val (adds it when absent). */
static void kv_set(apr_array_header_t *kv, const char *key, const char *val)
{
    lti_kv_t *e = (lti_kv_t *)kv->elts;

    for (int i = 0; i < kv->nelts; i++) {
        if (strcmp(e[i].key, key) == 0) {
            e[i].val = apr_pstrdup(kv->pool, val);
            return;
        }
    }
    lti_kv_add(kv, key, val);
}

/* RFC 5849 3.4.1.1: the exact example of the section, with the Authorization header's
 * parameters (realm excluded by the caller) and oauth_signature given, to be skipped. */
static void test_rfc5849_base_string(void **state)
{
    apr_pool_t *p = *state;
    apr_array_header_t *kv = form(p, "c2&a3=2+q");
    lti_err_t err;
    const char *base;

    lti_kv_add(kv, "oauth_consumer_key", "9djdj82h48djs9d2");
    lti_kv_add(kv, "oauth_token", "kkk9d7dh3k39sjv7");
    lti_kv_add(kv, "oauth_signature_method", "HMAC-SHA1");
    lti_kv_add(kv, "oauth_timestamp", "137131201");
    lti_kv_add(kv, "oauth_nonce", "7d8f3e4a");
    lti_kv_add(kv, "oauth_signature", "bYT5CMsGcbgUdFHObYMEfcx6bsw=");
    base = lti_oauth1_base_string(p, "post",
                                  "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b",
                                  kv, &err);
    assert_non_null(base);
    assert_string_equal(base,
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26"
        "b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26"
        "oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26"
        "oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7");
}

static void test_base_uri(void **state)
{
    static const struct {
        const char *url, *want;
    } ok[] = {
        {"HTTP://Example.COM:80/r?x", "http://example.com/r"},
        {"http://EXAMPLE.COM:80/r%20v/X?id=123", "http://example.com/r%20v/X"},
        {"https://www.example.net:8080/?q=1", "https://www.example.net:8080/"},
        {"https://Moodle.Univh2c.MA:443/ptech/lti11", "https://moodle.univh2c.ma/ptech/lti11"},
        {"http://example.com:8080/a/B", "http://example.com:8080/a/B"},
        {"https://example.com:80/x", "https://example.com:80/x"},
        {"http://example.com:443/x", "http://example.com:443/x"},
        {"http://example.com", "http://example.com/"},
        {"http://example.com?a=b", "http://example.com/"},
        {"http://example.com:80", "http://example.com/"},
        {"http://example.com/p#frag", "http://example.com/p"},
        {"http://example.com/p#f?x=1", "http://example.com/p"},
        {"http://user:pw@Example.com/p", "http://example.com/p"},
        {"http://[::1]:8080/ptech", "http://[::1]:8080/ptech"},
        {"http://[FE80::1]:80/", "http://[fe80::1]/"},
        {"http://127.0.0.1:8082/lti11/launch", "http://127.0.0.1:8082/lti11/launch"},
        {"http://example.com:/x", "http://example.com/x"},
    };
    static const char *const bad[] = {
        "ftp://example.com/", "example.com/x", "/ptech/lti11", "http:///x", "http://:80/x",
        "http://example.com:0/", "http://example.com:99999/", "http://example.com:8a/",
        "http://[::1/x", "http://[::1]x/", "", NULL,
    };
    apr_pool_t *p = *state;
    lti_err_t err;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        const char *got = lti_oauth1_base_uri(p, ok[i].url, &err);

        if (got == NULL || strcmp(got, ok[i].want) != 0) {
            fail_msg("%s: got %s, want %s", ok[i].url, got ? got : "NULL", ok[i].want);
        }
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lti_err_clear(&err);
        if (lti_oauth1_base_uri(p, bad[i], &err) != NULL) {
            fail_msg("%s: accepted", bad[i] ? bad[i] : "NULL");
        }
        assert_int_equal(err.status, LTI_ERR_MALFORMED);
        assert_string_equal(err.reason, "oauth_bad_url");
    }
}

static void test_pct_encode(void **state)
{
    static const struct {
        const char *in, *want;
    } v[] = {
        {"", ""},
        {"abcXYZ019", "abcXYZ019"},
        {"-._~", "-._~"},
        {"a b", "a%20b"},
        {"a+b", "a%2Bb"},
        {"*", "%2A"},
        {"!'()", "%21%27%28%29"},
        {"=&/?#%", "%3D%26%2F%3F%23%25"},
        {"é", "%C3%A9"},
        {"Hélène Lefèvre", "H%C3%A9l%C3%A8ne%20Lef%C3%A8vre"},
        {"سلام", "%D8%B3%D9%84%D8%A7%D9%85"},
        {"\x7f\x01", "%7F%01"},
    };
    apr_pool_t *p = *state;

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        assert_string_equal(lti_pct_encode(p, v[i].in), v[i].want);
    }
}

/* The OAuth Core 1.0 Appendix A.5 example (photos.example.net), built from its parts. */
static void test_photos_example(void **state)
{
    static const char *want_base =
        "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26"
        "oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dkllo9940pd9333jh%26"
        "oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1191242096%26"
        "oauth_token%3Dnnch734d00sl2jdk%26oauth_version%3D1.0%26size%3Doriginal";
    apr_pool_t *p = *state;
    apr_array_header_t *kv = lti_kv_make(p, 8);
    const char *base;

    lti_kv_add(kv, "oauth_consumer_key", "dpf43f3p2l4k3l03");
    lti_kv_add(kv, "oauth_token", "nnch734d00sl2jdk");
    lti_kv_add(kv, "oauth_signature_method", "HMAC-SHA1");
    lti_kv_add(kv, "oauth_timestamp", "1191242096");
    lti_kv_add(kv, "oauth_nonce", "kllo9940pd9333jh");
    lti_kv_add(kv, "oauth_version", "1.0");
    base = lti_oauth1_base_string(
        p, "GET", "http://photos.example.net/photos?file=vacation.jpg&size=original", kv, NULL);
    assert_non_null(base);
    assert_string_equal(base, want_base);
    assert_string_equal(lti_oauth1_hmac_sha1(p, want_base, "kd94hf93k423kf44",
                                             "pfkkdhi9sl3r4s00"),
                        "tR3+Ty81lMeYAr/Fid0kMTYa/WM=");
    /* No token secret: the key ends with "&". */
    assert_string_equal(lti_oauth1_hmac_sha1(p, "bs", "cs", NULL), "egQqG5AJep5sJ7anhXju1unge2I=");
    assert_string_equal(lti_oauth1_hmac_sha1(p, "bs", "cs", ""), "egQqG5AJep5sJ7anhXju1unge2I=");
    assert_string_equal(lti_oauth1_hmac_sha1(p, "bs", "cs", "ts"), "VZVjXceV7JgPq/dOTnNmEfO0Fv8=");
    assert_null(lti_oauth1_hmac_sha1(p, "bs", NULL, NULL));
}

static void test_body_hash(void **state)
{
    apr_pool_t *p = *state;

    assert_string_equal(lti_oauth1_body_hash(p, "Hello World!", 12),
                        "Lve95gjOVATpfV8EL5X4nxwjKHE=");
    assert_string_equal(lti_oauth1_body_hash(p, "", 0), "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
    assert_string_equal(lti_oauth1_body_hash(p, NULL, 0), "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
}

/* Sorting is by the encoded bytes: "%C3%A9" sorts before "A" although 0xC3 > 'A'. */
static void test_sort_encoded(void **state)
{
    apr_pool_t *p = *state;
    apr_array_header_t *kv = lti_kv_make(p, 8);
    const char *base;

    lti_kv_add(kv, "k", "A");
    lti_kv_add(kv, "k", "é");
    lti_kv_add(kv, "a b", "1");
    lti_kv_add(kv, "a-b", "");
    lti_kv_add(kv, "k", "A");
    base = lti_oauth1_base_string(p, "POST", "https://h.example/", kv, NULL);
    assert_non_null(base);
    assert_string_equal(base, "POST&https%3A%2F%2Fh.example%2F&"
                              "a%2520b%3D1%26a-b%3D%26k%3D%25C3%25A9%26k%3DA%26k%3DA");
}

/* A parameter in both the query and the body counts twice. */
static void test_duplicates_query_and_body(void **state)
{
    apr_pool_t *p = *state;
    const char *url = "https://tool.example/ptech/lti11?x=1&custom_course=C1";
    apr_array_header_t *kv = form(p, "x=2&user_id=7");
    lti_err_t err;
    const char *base;

    assert_int_equal(lti_oauth1_sign(p, "POST", url, kv, "key", "secret", 1700000000, &err),
                     LTI_OK);
    base = lti_oauth1_base_string(p, "POST", url, kv, NULL);
    assert_non_null(strstr(base, "%26x%3D1%26x%3D2"));
    assert_non_null(strstr(base, "custom_course%3DC1"));
    assert_int_equal(lti_oauth1_verify(p, "POST", url, kv, "secret", &err), LTI_OK);

    /* Without the query's x=1 the signature no longer holds. */
    assert_int_equal(lti_oauth1_verify(p, "POST", "https://tool.example/ptech/lti11?"
                                       "custom_course=C1", kv, "secret", &err),
                     LTI_ERR_SIGNATURE);
    /* Nor with the body's x=2 removed. */
    kv_del(kv, "x");
    assert_int_equal(lti_oauth1_verify(p, "POST", url, kv, "secret", &err), LTI_ERR_SIGNATURE);
    assert_string_equal(err.reason, "oauth_bad_signature");
}

static void test_sign_verify_round_trip(void **state)
{
    static const struct {
        const char *given, *family;
    } names[] = {
        {"Fatima-Zahra", "العلوي"},
        {"Hélène", "Lefèvre-Çağ"},
        {"محمد أمين", "Benali"},
        {"a+b=c&d", "100% ~ok*"},
    };
    apr_pool_t *p = *state;
    const char *url = "https://ptech.univh2c.ma/ptech/lti11";

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        apr_array_header_t *kv = lti_kv_make(p, 16);
        lti_err_t err;

        lti_kv_add(kv, "lis_person_name_given", names[i].given);
        lti_kv_add(kv, "lis_person_name_family", names[i].family);
        lti_kv_add(kv, "user_id", "42");
        assert_int_equal(lti_oauth1_sign(p, "POST", url, kv, "uh2c", "s3cr&t é", 1795976342,
                                         &err), LTI_OK);
        assert_int_equal(lti_kv_count(kv, "oauth_consumer_key"), 1);
        assert_string_equal(lti_kv_get(kv, "oauth_consumer_key"), "uh2c");
        assert_string_equal(lti_kv_get(kv, "oauth_signature_method"), "HMAC-SHA1");
        assert_string_equal(lti_kv_get(kv, "oauth_version"), "1.0");
        assert_string_equal(lti_kv_get(kv, "oauth_timestamp"), "1795976342");
        assert_int_equal(strlen(lti_kv_get(kv, "oauth_nonce")), 32);
        assert_int_equal(strspn(lti_kv_get(kv, "oauth_nonce"), "0123456789abcdef"), 32);
        assert_int_equal(strlen(lti_kv_get(kv, "oauth_signature")), 28);
        assert_int_equal(lti_oauth1_verify(p, "POST", url, kv, "s3cr&t é", &err), LTI_OK);
        /* The base URI normalises: the same request seen as HTTPS://PTECH...:443 verifies. */
        assert_int_equal(lti_oauth1_verify(p, "post", "HTTPS://PTECH.univh2c.ma:443/ptech/lti11",
                                           kv, "s3cr&t é", &err), LTI_OK);
        assert_int_equal(lti_oauth1_verify(p, "POST", url, kv, "s3cr&t e", &err),
                         LTI_ERR_SIGNATURE);
        assert_int_equal(lti_oauth1_verify(p, "GET", url, kv, "s3cr&t é", &err),
                         LTI_ERR_SIGNATURE);
        assert_int_equal(lti_oauth1_verify(p, "POST", "https://ptech.univh2c.ma/ptech/lti11/",
                                           kv, "s3cr&t é", &err), LTI_ERR_SIGNATURE);
        kv_set(kv, "lis_person_name_family", apr_pstrcat(p, names[i].family, " ", NULL));
        assert_int_equal(lti_oauth1_verify(p, "POST", url, kv, "s3cr&t é", &err),
                         LTI_ERR_SIGNATURE);
    }
}

/* Signing refuses parameters that already carry its own oauth_* names. */
static void test_sign_refuses_own_params(void **state)
{
    apr_pool_t *p = *state;
    apr_array_header_t *kv = form(p, "a=1&oauth_nonce=x");
    lti_err_t err;

    assert_int_equal(lti_oauth1_sign(p, "POST", "http://h/", kv, "k", "s", 1, &err),
                     LTI_ERR_MALFORMED);
    /* oauth_body_hash and oauth_callback are the caller's and are signed. */
    kv = form(p, "oauth_body_hash=Lve95gjOVATpfV8EL5X4nxwjKHE%3D&oauth_callback=about:blank");
    assert_int_equal(lti_oauth1_sign(p, "POST", "http://h/", kv, "k", "s", 1, &err), LTI_OK);
    assert_int_equal(lti_oauth1_verify(p, "POST", "http://h/", kv, "s", &err), LTI_OK);
    kv_set(kv, "oauth_body_hash", "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
    assert_int_equal(lti_oauth1_verify(p, "POST", "http://h/", kv, "s", &err),
                     LTI_ERR_SIGNATURE);
    /* A bad URL is refused. */
    kv = form(p, "a=1");
    assert_int_equal(lti_oauth1_sign(p, "POST", "ftp://h/", kv, "k", "s", 1, &err),
                     LTI_ERR_MALFORMED);
}

/* Each refusal of lti_oauth1_verify has its own status and reason. */
static void test_verify_refusals(void **state)
{
    enum { SET, DEL, ADD, QUERY };
    static const struct {
        const char *name;
        int op;
        const char *key, *val;
        lti_status_t want;
        const char *reason;
    } v[] = {
        {"plaintext", SET, "oauth_signature_method", "PLAINTEXT", LTI_ERR_UNSUPPORTED,
         "oauth_method"},
        {"rsa", SET, "oauth_signature_method", "RSA-SHA1", LTI_ERR_UNSUPPORTED, "oauth_method"},
        {"sha256", SET, "oauth_signature_method", "HMAC-SHA256", LTI_ERR_UNSUPPORTED,
         "oauth_method"},
        {"lowercase method", SET, "oauth_signature_method", "hmac-sha1", LTI_ERR_UNSUPPORTED,
         "oauth_method"},
        {"no method", DEL, "oauth_signature_method", NULL, LTI_ERR_UNSUPPORTED, "oauth_method"},
        {"empty method", SET, "oauth_signature_method", "", LTI_ERR_UNSUPPORTED,
         "oauth_method"},
        {"no signature", DEL, "oauth_signature", NULL, LTI_ERR_MISSING,
         "oauth_missing_signature"},
        {"empty signature", SET, "oauth_signature", "", LTI_ERR_MISSING,
         "oauth_missing_signature"},
        {"two signatures", ADD, "oauth_signature", "AAAA", LTI_ERR_MALFORMED,
         "oauth_duplicate_param"},
        {"two nonces", ADD, "oauth_nonce", "n2", LTI_ERR_MALFORMED, "oauth_duplicate_param"},
        {"nonce in query too", QUERY, "oauth_nonce", "n2", LTI_ERR_MALFORMED,
         "oauth_duplicate_param"},
        {"two timestamps", ADD, "oauth_timestamp", "1", LTI_ERR_MALFORMED,
         "oauth_duplicate_param"},
        {"method twice", ADD, "oauth_signature_method", "PLAINTEXT", LTI_ERR_MALFORMED,
         "oauth_duplicate_param"},
        {"version 2.0", SET, "oauth_version", "2.0", LTI_ERR_UNSUPPORTED, "oauth_version"},
        {"version 1.0a", SET, "oauth_version", "1.0a", LTI_ERR_UNSUPPORTED, "oauth_version"},
        {"tampered", SET, "user_id", "2", LTI_ERR_SIGNATURE, "oauth_bad_signature"},
        {"extra param", ADD, "roles", "Instructor", LTI_ERR_SIGNATURE, "oauth_bad_signature"},
        {"bad signature", SET, "oauth_signature", "DAWTn5+v4cGd4TlAaNXunXPL+5c=",
         LTI_ERR_SIGNATURE, "oauth_bad_signature"},
        {"extra query", QUERY, "a", "b", LTI_ERR_SIGNATURE, "oauth_bad_signature"},
    };
    apr_pool_t *p = *state;
    const char *url = "http://tool.example:8080/ptech/lti11";

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        apr_array_header_t *kv = form(p, "user_id=3&roles=Learner");
        const char *u = url;
        lti_err_t err;
        lti_status_t st;

        assert_int_equal(lti_oauth1_sign(p, "POST", url, kv, "k", "sec", 1000, &err), LTI_OK);
        assert_int_equal(lti_oauth1_verify(p, "POST", url, kv, "sec", &err), LTI_OK);
        switch (v[i].op) {
        case SET:
            kv_set(kv, v[i].key, v[i].val);
            break;
        case DEL:
            kv_del(kv, v[i].key);
            break;
        case ADD:
            lti_kv_add(kv, v[i].key, v[i].val);
            break;
        default:
            u = apr_pstrcat(p, url, "?", v[i].key, "=", v[i].val, NULL);
            break;
        }
        lti_err_clear(&err);
        st = lti_oauth1_verify(p, "POST", u, kv, "sec", &err);
        if (st != v[i].want || err.reason == NULL || strcmp(err.reason, v[i].reason) != 0) {
            fail_msg("%s: got %s/%s, want %s/%s", v[i].name, lti_status_name(st),
                     err.reason ? err.reason : "-", lti_status_name(v[i].want), v[i].reason);
        }
        assert_true(strlen(err.text) > 0);
    }
}

/* oauth_version may be absent (it is optional in RFC 5849). */
static void test_verify_without_version(void **state)
{
    apr_pool_t *p = *state;
    apr_array_header_t *kv = form(p, "oauth_consumer_key=k&oauth_nonce=n&"
                                     "oauth_timestamp=5&oauth_signature_method=HMAC-SHA1&a=1");
    const char *base = lti_oauth1_base_string(p, "POST", "http://h/x", kv, NULL);
    lti_err_t err;

    lti_kv_add(kv, "oauth_signature", lti_oauth1_hmac_sha1(p, base, "s", NULL));
    assert_int_equal(lti_oauth1_verify(p, "POST", "http://h/x", kv, "s", &err), LTI_OK);
    assert_int_equal(lti_oauth1_verify(p, "POST", "http://h/x", kv, NULL, &err),
                     LTI_ERR_INTERNAL);
    assert_int_equal(lti_oauth1_verify(p, "POST", "http://h/x?%zz", kv, "s", &err),
                     LTI_ERR_MALFORMED);
    /* err may be NULL. */
    assert_int_equal(lti_oauth1_verify(p, "POST", "http://h/y", kv, "s", NULL),
                     LTI_ERR_SIGNATURE);
}

static void test_parse_header(void **state)
{
    apr_pool_t *p = *state;
    apr_array_header_t *kv = lti_kv_make(p, 8);
    lti_err_t err;
    static const char *const bad[] = {
        "OAuth oauth_nonce=\"a", "OAuth oauth_nonce", "OAuth =\"x\"",
        "OAuth oauth_nonce=\"a&b=c\"", "OAuth oauth_signature=\"ab+c=\"",
    };

    assert_int_equal(lti_oauth1_parse_header(p, "OAuth realm=\"x\", oauth_version=\"1.0\","
                                             "oauth_signature=\"y110uNrtN9k5arhI34%2B64NlJYR4"
                                             "%3D\",  oauth_consumer_key=\"lab%20key\"", kv,
                                             &err), LTI_OK);
    assert_int_equal(kv->nelts, 3);
    assert_null(lti_kv_get(kv, "realm"));
    assert_string_equal(lti_kv_get(kv, "oauth_signature"), "y110uNrtN9k5arhI34+64NlJYR4=");
    assert_string_equal(lti_kv_get(kv, "oauth_consumer_key"), "lab key");
    assert_int_equal(lti_oauth1_parse_header(p, "Bearer abc", kv, &err), LTI_ERR_MISSING);
    assert_int_equal(lti_oauth1_parse_header(p, NULL, kv, &err), LTI_ERR_MISSING);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        apr_array_clear(kv);
        if (lti_oauth1_parse_header(p, bad[i], kv, &err) == LTI_OK) {
            fail_msg("accepted: %s", bad[i]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5849_base_string),
        cmocka_unit_test(test_base_uri),
        cmocka_unit_test(test_pct_encode),
        cmocka_unit_test(test_photos_example),
        cmocka_unit_test(test_body_hash),
        cmocka_unit_test(test_sort_encoded),
        cmocka_unit_test(test_duplicates_query_and_body),
        cmocka_unit_test(test_sign_verify_round_trip),
        cmocka_unit_test(test_sign_refuses_own_params),
        cmocka_unit_test(test_verify_refusals),
        cmocka_unit_test(test_verify_without_version),
        cmocka_unit_test(test_parse_header),
    };

    return cmocka_run_group_tests_name("oauth1", tests, unit_group_setup, unit_group_teardown);
}
