/* test_migration.c -- the lti1p1 migration claim: the 1EdTech Migration Guide's vector, the
 * spelling Moodle signs with (base64 of the hex digest), refusals and claim parsing. */
#include "unit.h"

/* The Migration Guide's example (section "LTI 1.1 migration claim"). */
static const lti_lti1p1_base_t spec_base = {
    .deployment_id = "689302",
    .iss = "https://lmsvendor.com",
    .client_id = "PM48OJSfGDTAzAo",
    .nonce = "172we8671fd8z",
    .exp = 1551290856,
};
#define SPEC_KEY "179248902"
#define SPEC_SECRET "my-lti11-secret"
#define SPEC_SIGN "lWd54kFo5qU7xshAna6v8BwoBm6tmUjc6GTax6+12ps="
/* base64 of the lowercase hex HMAC-SHA256 of the same base string (PHP's
 * base64_encode(hash_hmac('sha256', $base, $secret)), as Moodle signs and checks it). */
#define MOODLE_SIGN "OTU2Nzc5ZTI0MTY4ZTZhNTNiYzZjODQwOWRhZWFmZjAxYzI4MDY2ZWFkOTk0OGRjZTg2" \
                    "NGRhYzdhZmI1ZGE5Yg=="

static void test_spec_vector(void **state)
{
    apr_pool_t *p = *state;

    assert_string_equal(lti_lti1p1_base_string(p, SPEC_KEY, &spec_base),
                        "179248902&689302&https://lmsvendor.com&PM48OJSfGDTAzAo&1551290856"
                        "&172we8671fd8z");
    assert_string_equal(lti_lti1p1_sign(p, SPEC_KEY, SPEC_SECRET, &spec_base, 0), SPEC_SIGN);
    assert_string_equal(lti_lti1p1_sign(p, SPEC_KEY, SPEC_SECRET, &spec_base, 1), MOODLE_SIGN);
}

static void test_verify_both_spellings(void **state)
{
    apr_pool_t *p = *state;
    lti_lti1p1_t c = {.consumer_key = SPEC_KEY, .user_id = "34212", .sign = SPEC_SIGN};
    lti_err_t err;

    assert_int_equal(lti_lti1p1_verify(p, &c, SPEC_SECRET, &spec_base, &err), LTI_OK);
    c.sign = MOODLE_SIGN;
    assert_int_equal(lti_lti1p1_verify(p, &c, SPEC_SECRET, &spec_base, &err), LTI_OK);
    /* err may be NULL. */
    assert_int_equal(lti_lti1p1_verify(p, &c, SPEC_SECRET, &spec_base, NULL), LTI_OK);
}

/* A wrong secret, any covered part changed, a truncated or re-cased signature: refused. */
static void test_verify_refusals(void **state)
{
    apr_pool_t *p = *state;
    lti_lti1p1_t c = {.consumer_key = SPEC_KEY, .user_id = "34212", .sign = SPEC_SIGN};
    lti_lti1p1_base_t b;
    lti_err_t err;
    const char *const signs[] = {"lWd54kFo5qU7xshAna6v8BwoBm6tmUjc6GTax6+12ps",
                                 "LWd54kFo5qU7xshAna6v8BwoBm6tmUjc6GTax6+12ps=",
                                 "", "=", SPEC_SIGN "=", "OTU2Nzc5ZTI0MTY4ZTZhNTNi"};

    assert_int_equal(lti_lti1p1_verify(p, &c, "other-secret", &spec_base, &err),
                     LTI_ERR_SIGNATURE);
    assert_string_equal(err.reason, "lti1p1_bad_sign");
    assert_non_null(strstr(err.text, SPEC_KEY));
    assert_null(strstr(err.text, SPEC_SECRET));
    for (int i = 0; i < 5; i++) {
        b = spec_base;
        switch (i) {
        case 0: b.deployment_id = "689303"; break;
        case 1: b.iss = "https://lmsvendor.com/"; break;
        case 2: b.client_id = "PM48OJSfGDTAzAp"; break;
        case 3: b.exp++; break;
        case 4: b.nonce = "172we8671fd8Z"; break;
        }
        assert_int_equal(lti_lti1p1_verify(p, &c, SPEC_SECRET, &b, &err), LTI_ERR_SIGNATURE);
    }
    c.consumer_key = "179248903";
    assert_int_equal(lti_lti1p1_verify(p, &c, SPEC_SECRET, &spec_base, &err),
                     LTI_ERR_SIGNATURE);
    c.consumer_key = SPEC_KEY;
    for (size_t i = 0; i < sizeof(signs) / sizeof(signs[0]); i++) {
        c.sign = signs[i];
        assert_int_equal(lti_lti1p1_verify(p, &c, SPEC_SECRET, &spec_base, &err),
                         LTI_ERR_SIGNATURE);
    }
    c.sign = NULL;
    assert_int_equal(lti_lti1p1_verify(p, &c, SPEC_SECRET, &spec_base, &err), LTI_ERR_MISSING);
    assert_string_equal(err.reason, "lti1p1_no_sign");
    /* A missing part of the base string: no signature to compare with. */
    c.sign = SPEC_SIGN;
    b = spec_base;
    b.nonce = NULL;
    assert_null(lti_lti1p1_base_string(p, SPEC_KEY, &b));
    assert_int_equal(lti_lti1p1_verify(p, &c, SPEC_SECRET, &b, &err), LTI_ERR_CRYPTO);
    assert_null(lti_lti1p1_sign(p, SPEC_KEY, NULL, &spec_base, 0));
}

static void test_parse(void **state)
{
    apr_pool_t *p = *state;
    lti_lti1p1_t c;
    lti_err_t err;
    static const struct {
        const char *json;
        lti_status_t st;
    } bad[] = {
        {NULL, LTI_ERR_MALFORMED},
        {"[]", LTI_ERR_MALFORMED},
        {"\"x\"", LTI_ERR_MALFORMED},
        {"{", LTI_ERR_MALFORMED},
        {"{}", LTI_ERR_MISSING},
        {"{\"oauth_consumer_key\":\"\"}", LTI_ERR_MISSING},
        {"{\"oauth_consumer_key\":null,\"user_id\":\"3\"}", LTI_ERR_MISSING},
        {"{\"oauth_consumer_key\":7}", LTI_ERR_MALFORMED},
        {"{\"oauth_consumer_key\":\"k\",\"user_id\":3}", LTI_ERR_MALFORMED},
        {"{\"oauth_consumer_key\":\"k\",\"oauth_consumer_key_sign\":[\"s\"]}",
         LTI_ERR_MALFORMED},
        {"{\"oauth_consumer_key\":\"k\",\"oauth_consumer_key\":\"j\"}", LTI_ERR_MALFORMED},
        {"{\"oauth_consumer_key\":\"k\\u0000j\"}", LTI_ERR_MALFORMED},
    };

    assert_int_equal(lti_lti1p1_parse(p, "{\"user_id\":\"34212\",\"oauth_consumer_key\":"
                                      "\"179248902\",\"oauth_consumer_key_sign\":\"" SPEC_SIGN
                                      "\",\"resource_link_id\":\"9\"}", "3", &c, &err),
                     LTI_OK);
    assert_string_equal(c.consumer_key, SPEC_KEY);
    assert_string_equal(c.user_id, "34212");
    assert_string_equal(c.sign, SPEC_SIGN);
    /* Without user_id the LTI 1.1 user id is sub; without a signature, sign is NULL. */
    assert_int_equal(lti_lti1p1_parse(p, "{\"oauth_consumer_key\":\"k\",\"user_id\":null}",
                                      "3", &c, &err), LTI_OK);
    assert_string_equal(c.user_id, "3");
    assert_null(c.sign);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lti_err_clear(&err);
        if (lti_lti1p1_parse(p, bad[i].json, "3", &c, &err) != bad[i].st) {
            fail_msg("case %zu (%s): %s", i, bad[i].json ? bad[i].json : "NULL", err.text);
        }
        assert_string_equal(err.reason, "lti1p1_claim");
        assert_null(c.consumer_key);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_vector),
        cmocka_unit_test(test_verify_both_spellings),
        cmocka_unit_test(test_verify_refusals),
        cmocka_unit_test(test_parse),
    };

    return cmocka_run_group_tests_name("migration", tests, unit_group_setup,
                                       unit_group_teardown);
}
