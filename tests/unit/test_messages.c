/* test_messages.c -- the UI's message catalogs: the built-in ones parse and agree, look-ups
 * fall back to French and then to the key, and every broken catalog is refused by name. */
#include "unit.h"

static const char *const NAMES[LTI_LANGS] = {"fr.json", "ar.json", "en.json"};

static lti_status_t parse3(apr_pool_t *p, const char *fr, const char *ar, const char *en,
                           lti_messages_t **m, lti_err_t *err)
{
    const char *texts[LTI_LANGS] = {fr, ar, en};

    return lti_messages_parse(p, texts, NAMES, m, err);
}

static void test_builtin(void **state)
{
    apr_pool_t *p = *state;
    lti_messages_t *m;
    lti_err_t err;

    assert_int_equal(lti_messages_builtin(p, &m, &err), LTI_OK);
    assert_true(lti_messages_count(m) > 50);
    assert_string_equal(lti_msg(m, "fr", "modules"), "Modules");
    assert_string_equal(lti_msg(m, "ar", "modules"), "الوحدات");
    assert_string_equal(lti_msg(m, "en", "problem"), "Something went wrong");
}

static void test_lookup_fallbacks(void **state)
{
    apr_pool_t *p = *state;
    lti_messages_t *m;
    lti_err_t err;

    assert_int_equal(parse3(p, "{\"hi\": \"Bonjour\", \"bye\": \"Au revoir\"}",
                            "{\"bye\": \"مع السلامة\", \"hi\": \"مرحبا\"}",
                            "{\"hi\": \"Hello\", \"bye\": \"Goodbye\"}", &m, &err),
                     LTI_OK);
    assert_int_equal(lti_messages_count(m), 2);
    assert_string_equal(lti_msg(m, "en", "hi"), "Hello");
    assert_string_equal(lti_msg(m, "ar", "hi"), "مرحبا");
    assert_string_equal(lti_msg(m, "fr", "bye"), "Au revoir");
    /* Any other language is French; an unknown key shows as itself. */
    assert_string_equal(lti_msg(m, "de", "hi"), "Bonjour");
    assert_string_equal(lti_msg(m, NULL, "hi"), "Bonjour");
    assert_string_equal(lti_msg(m, "en", "nope"), "nope");
    assert_string_equal(lti_msg(NULL, "en", "hi"), "hi");
}

static void refused(apr_pool_t *p, const char *fr, const char *ar, const char *en,
                    const char *in_text)
{
    lti_messages_t *m = (lti_messages_t *)p;
    lti_err_t err;

    lti_err_clear(&err);
    assert_int_equal(parse3(p, fr, ar, en, &m, &err), LTI_ERR_CONFIG);
    assert_null(m);
    assert_string_equal(err.reason, "messages_invalid");
    if (strstr(err.text, in_text) == NULL) {
        fail_msg("\"%s\" does not name \"%s\"", err.text, in_text);
    }
}

static void test_refusals(void **state)
{
    apr_pool_t *p = *state;
    const char *ok = "{\"a\": \"x\"}";

    /* Keys missing or extra in a translation, named with the file. */
    refused(p, "{\"a\": \"x\", \"b\": \"y\"}", ok, "{\"a\": \"x\", \"b\": \"y\"}",
            "ar.json: it lacks the key \"b\"");
    refused(p, ok, ok, "{\"a\": \"x\", \"c\": \"z\"}", "en.json: it has a key French lacks: \"c\"");
    /* Not JSON, duplicate keys, not an object, texts that are not non-empty strings. */
    refused(p, "{\"a\": ", ok, ok, "fr.json, line 1");
    refused(p, ok, "{\"a\": \"x\", \"a\": \"y\"}", ok, "ar.json, line 1");
    refused(p, ok, ok, "[\"a\"]", "en.json: it is not a JSON object");
    refused(p, ok, "{\"a\": 3}", ok, "ar.json: the text is not a non-empty string");
    refused(p, ok, "{\"a\": \"\"}", ok, "\"a\"");
    refused(p, ok, "{\"a\": \"x\\u0000y\"}", ok, "ar.json, line 1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin),
        cmocka_unit_test(test_lookup_fallbacks),
        cmocka_unit_test(test_refusals),
    };

    return cmocka_run_group_tests(tests, unit_group_setup, unit_group_teardown);
}
