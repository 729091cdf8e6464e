/* test_deeplink.c -- content selection: deep_linking_settings (Moodle 4.5's own, from
 * ../shared/fixtures/moodle-4.5/lti13-deeplinking-request.json, and broken ones), the 1.1
 * content-item request, the stored context round trip, the LtiDeepLinkingResponse (decoded
 * and verified with the tool's public key: every claim, items, line items, cancel, data),
 * the Content-Item JSON-LD and its OAuth 1 signature, the picker's search, the roles. */
#include "unit.h"

#define ISSUER "http://127.0.0.1:8081"
#define CLIENT_ID "kCO6YxnAioWDAse"
#define RETURN_URL ISSUER "/mod/lti/contentitem_return.php?course=2&id=3&sesskey=HwO3NdfFSN"
#define LAUNCH "https://tool.example/ptech/launch"
#define NOW ((int64_t)1795976436)
#define CLAIM_DL "https://purl.imsglobal.org/spec/lti-dl/claim/"

static lti_keypair_t key;

static int group_setup(void **state)
{
    int rc = unit_group_setup(state);

    assert_int_equal(lti_keypair_generate(*state, &key, NULL), LTI_OK);
    return rc;
}

/* The deep_linking_settings of Moodle's captured request, as JSON text. */
static const char *moodle_settings(apr_pool_t *p)
{
    json_error_t jerr;
    json_t *fx = json_load_file(unit_fixture(p, "lti13-deeplinking-request.json"), 0, &jerr);
    const json_t *s;
    char *text;

    assert_non_null(fx);
    s = json_object_get(json_object_get(fx, "claims"), CLAIM_DL "deep_linking_settings");
    assert_true(json_is_object(s));
    text = json_dumps(s, JSON_COMPACT);
    assert_non_null(text);
    const char *out = apr_pstrdup(p, text);
    free(text);
    json_decref(fx);
    return out;
}

static void test_settings(void **state)
{
    apr_pool_t *p = *state;
    lti_deeplink_ctx_t ctx;
    lti_err_t err;
    static const struct {
        const char *json, *reason;
        lti_status_t status;
    } bad[] = {
        {"[]", "dl_settings", LTI_ERR_MALFORMED},
        {"{\"deep_link_return_url\":\"x\",\"deep_link_return_url\":\"y\"}", "dl_settings",
         LTI_ERR_MALFORMED},
        {"{}", "dl_return_url", LTI_ERR_MALFORMED},
        {"{\"deep_link_return_url\":\"javascript:alert(1)\"}", "dl_return_url",
         LTI_ERR_MALFORMED},
        {"{\"deep_link_return_url\":\"/relative\"}", "dl_return_url", LTI_ERR_MALFORMED},
        {"{\"deep_link_return_url\":42}", "dl_return_url", LTI_ERR_MALFORMED},
        {"{\"deep_link_return_url\":\"https://lms/x\",\"accept_types\":[\"file\",\"html\"]}",
         "dl_accept_types", LTI_ERR_UNSUPPORTED},
        {"{\"deep_link_return_url\":\"https://lms/x\",\"accept_types\":\"ltiResourceLink\"}",
         "dl_settings", LTI_ERR_MALFORMED},
        {"{\"deep_link_return_url\":\"https://lms/x\",\"accept_multiple\":\"true\"}",
         "dl_settings", LTI_ERR_MALFORMED},
        {"{\"deep_link_return_url\":\"https://lms/x\",\"data\":{\"a\":1}}", "dl_settings",
         LTI_ERR_MALFORMED},
    };

    /* Moodle's own: multiple accepted, no data. */
    memset(&ctx, 0, sizeof(ctx));
    assert_int_equal(lti_deeplink_settings_parse(p, moodle_settings(p), &ctx, &err), LTI_OK);
    assert_string_equal(ctx.return_url, RETURN_URL);
    assert_true(ctx.accept_multiple);
    assert_null(ctx.data);

    memset(&ctx, 0, sizeof(ctx));
    assert_int_equal(lti_deeplink_settings_parse(p, "{\"deep_link_return_url\":\"https://lms"
                                                 "/r\",\"data\":\"op=1&x=<a>\",\"accept_"
                                                 "multiple\":false}", &ctx, &err), LTI_OK);
    assert_string_equal(ctx.data, "op=1&x=<a>");
    assert_false(ctx.accept_multiple);
    assert_int_equal(lti_deeplink_settings_parse(p, NULL, &ctx, &err), LTI_ERR_MALFORMED);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lti_err_clear(&err);
        assert_int_equal(lti_deeplink_settings_parse(p, bad[i].json, &ctx, &err), bad[i].status);
        assert_string_equal(err.reason, bad[i].reason);
    }
    /* data over the cap */
    {
        char *big = apr_palloc(p, LTI_DEEPLINK_DATA_MAX + 2);

        memset(big, 'a', LTI_DEEPLINK_DATA_MAX + 1);
        big[LTI_DEEPLINK_DATA_MAX + 1] = '\0';
        assert_int_equal(lti_deeplink_settings_parse(
                             p, apr_psprintf(p, "{\"deep_link_return_url\":\"https://l/r\","
                                             "\"data\":\"%s\"}", big), &ctx, &err),
                         LTI_ERR_MALFORMED);
        assert_string_equal(err.reason, "dl_data");
    }
}

static void test_contentitem_request(void **state)
{
    apr_pool_t *p = *state;
    apr_array_header_t *kv = lti_kv_make(p, 8);
    lti_deeplink_ctx_t ctx;
    lti_err_t err;

    memset(&ctx, 0, sizeof(ctx));
    assert_int_equal(lti_contentitem_request_parse(p, kv, &ctx, &err), LTI_ERR_MISSING);
    assert_string_equal(err.reason, "ci_return_url");
    lti_kv_add(kv, "content_item_return_url", RETURN_URL);
    assert_int_equal(lti_contentitem_request_parse(p, kv, &ctx, &err), LTI_OK);
    assert_string_equal(ctx.return_url, RETURN_URL);
    assert_true(ctx.accept_multiple);      /* the spec's default */
    assert_null(ctx.data);
    lti_kv_add(kv, "accept_multiple", "false");
    lti_kv_add(kv, "data", "{\"d\":1}");
    lti_kv_add(kv, "accept_media_types", "image/png, application/vnd.ims.lti.v1.ltilink;q=1");
    assert_int_equal(lti_contentitem_request_parse(p, kv, &ctx, &err), LTI_OK);
    assert_false(ctx.accept_multiple);
    assert_string_equal(ctx.data, "{\"d\":1}");

    kv = lti_kv_make(p, 8);
    lti_kv_add(kv, "content_item_return_url", RETURN_URL);
    lti_kv_add(kv, "accept_media_types", "image/*,text/html");
    assert_int_equal(lti_contentitem_request_parse(p, kv, &ctx, &err), LTI_ERR_UNSUPPORTED);
    assert_string_equal(err.reason, "ci_media_types");
    kv = lti_kv_make(p, 8);
    lti_kv_add(kv, "content_item_return_url", RETURN_URL);
    lti_kv_add(kv, "accept_media_types", "*/*");
    assert_int_equal(lti_contentitem_request_parse(p, kv, &ctx, &err), LTI_OK);
    lti_kv_add(kv, "content_item_return_url", RETURN_URL);
    assert_int_equal(lti_contentitem_request_parse(p, kv, &ctx, &err), LTI_ERR_MALFORMED);
    kv = lti_kv_make(p, 8);
    lti_kv_add(kv, "content_item_return_url", "ftp://lms/x");
    assert_int_equal(lti_contentitem_request_parse(p, kv, &ctx, &err), LTI_ERR_MALFORMED);
    assert_string_equal(err.reason, "ci_return_url");
}

static lti_deeplink_ctx_t ctx13(void)
{
    lti_deeplink_ctx_t c;

    memset(&c, 0, sizeof(c));
    c.version = "1.3";
    c.return_url = RETURN_URL;
    c.data = "csrftoken:c7fbba78-7b75-46e3-9201-11e6d5f36f53";
    c.accept_multiple = 1;
    c.locale = "ar";
    c.platform_id = 7;
    c.issuer = ISSUER;
    c.client_id = CLIENT_ID;
    c.deployment_id = "3";
    return c;
}

static void test_ctx_round_trip(void **state)
{
    apr_pool_t *p = *state;
    lti_deeplink_ctx_t c = ctx13(), back;
    lti_err_t err;
    const char *text = lti_deeplink_ctx_dump(p, &c);

    assert_non_null(text);
    assert_int_equal(lti_deeplink_ctx_load(p, text, &back, &err), LTI_OK);
    assert_string_equal(back.version, "1.3");
    assert_string_equal(back.return_url, RETURN_URL);
    assert_string_equal(back.data, c.data);
    assert_true(back.accept_multiple);
    assert_string_equal(back.locale, "ar");
    assert_int_equal(back.platform_id, 7);
    assert_string_equal(back.issuer, ISSUER);
    assert_string_equal(back.client_id, CLIENT_ID);
    assert_string_equal(back.deployment_id, "3");
    assert_null(back.consumer_key);

    c.data = NULL;
    c.accept_multiple = 0;
    assert_int_equal(lti_deeplink_ctx_load(p, lti_deeplink_ctx_dump(p, &c), &back, &err),
                     LTI_OK);
    assert_null(back.data);
    assert_false(back.accept_multiple);
    assert_int_equal(lti_deeplink_ctx_load(p, "{\"version\":\"2.0\",\"return_url\":\"x\"}",
                                           &back, &err), LTI_ERR_MALFORMED);
    assert_string_equal(err.reason, "dl_context");
    assert_int_equal(lti_deeplink_ctx_load(p, "{\"version\":\"1.3\"}", &back, &err),
                     LTI_ERR_MALFORMED);
    assert_int_equal(lti_deeplink_ctx_load(p, "{\"version\":\"1.3\",\"return_url\":1}", &back,
                                           &err), LTI_ERR_MALFORMED);
    assert_int_equal(lti_deeplink_ctx_load(p, "nope", &back, &err), LTI_ERR_MALFORMED);
}

static const lti_deeplink_item_t items[] = {
    {"cybersecurity-fundamentals", "أساسيات الأمن السيبراني", "<b>desc</b> & \"more\""},
    {"ai-fundamentals", "Fondamentaux de l'IA", NULL},
};

/* The claims of token verified with the tool key. */
static json_t *verified(apr_pool_t *p, const char *token)
{
    const char *jwks[1] = {key.public_jwk}, *doc;
    lti_jwks_t *set;
    lti_jwt_t *jwt;
    lti_err_t err;

    assert_int_equal(lti_jwt_parse(p, token, strlen(token), &jwt, &err), LTI_OK);
    assert_string_equal(jwt->kid, key.kid);
    assert_string_equal(jwt->alg, "RS256");
    doc = lti_jwks_document(p, jwks, 1, &err);
    assert_int_equal(lti_jwks_parse(p, doc, strlen(doc), &set, &err), LTI_OK);
    assert_int_equal(lti_jwt_verify(jwt, set, &err), LTI_OK);
    return jwt->claims;
}

static const char *str(const json_t *o, const char *name)
{
    const json_t *v = json_object_get(o, name);

    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void test_response(void **state)
{
    apr_pool_t *p = *state;
    lti_deeplink_ctx_t c = ctx13();
    const char *token, *nonce;
    json_t *claims, *list, *item, *li;
    lti_err_t err;

    assert_int_equal(lti_deeplink_response(p, &c, items, 2, LAUNCH, key.kid, key.private_pem,
                                           NOW, &token, &err), LTI_OK);
    claims = verified(p, token);
    assert_string_equal(str(claims, "iss"), CLIENT_ID);
    assert_string_equal(str(claims, "aud"), ISSUER);
    assert_int_equal(json_integer_value(json_object_get(claims, "iat")), NOW);
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")),
                     NOW + LTI_DEEPLINK_RESPONSE_TTL);
    nonce = str(claims, "nonce");
    assert_int_equal(strlen(nonce), 32);
    assert_string_equal(str(claims, LTI_CLAIM "deployment_id"), "3");
    assert_string_equal(str(claims, LTI_CLAIM "message_type"), "LtiDeepLinkingResponse");
    assert_string_equal(str(claims, LTI_CLAIM "version"), "1.3.0");
    assert_string_equal(str(claims, CLAIM_DL "data"), c.data);
    list = json_object_get(claims, CLAIM_DL "content_items");
    assert_int_equal(json_array_size(list), 2);
    for (size_t i = 0; i < 2; i++) {
        item = json_array_get(list, i);
        assert_string_equal(str(item, "type"), "ltiResourceLink");
        assert_string_equal(str(item, "title"), items[i].title);
        assert_string_equal(str(item, "url"), LAUNCH);
        assert_string_equal(str(json_object_get(item, "custom"), "course"), items[i].course_id);
        assert_int_equal(json_object_size(json_object_get(item, "custom")), 1);
        if (items[i].text) {
            assert_string_equal(str(item, "text"), items[i].text);
        }
        else {
            assert_null(json_object_get(item, "text"));
        }
        li = json_object_get(item, "lineItem");
        assert_int_equal(json_integer_value(json_object_get(li, "scoreMaximum")), 100);
        assert_string_equal(str(li, "label"), items[i].title);
        assert_string_equal(str(li, "resourceId"), items[i].course_id);
        assert_string_equal(str(li, "tag"), LTI_DEEPLINK_TAG);
    }
    /* A fresh nonce each time. */
    assert_int_equal(lti_deeplink_response(p, &c, items, 1, LAUNCH, key.kid, key.private_pem,
                                           NOW, &token, &err), LTI_OK);
    assert_string_not_equal(str(verified(p, token), "nonce"), nonce);

    /* Cancel: an empty list; no data claim without data. */
    c.data = NULL;
    assert_int_equal(lti_deeplink_response(p, &c, NULL, 0, LAUNCH, key.kid, key.private_pem,
                                           NOW, &token, &err), LTI_OK);
    claims = verified(p, token);
    list = json_object_get(claims, CLAIM_DL "content_items");
    assert_true(json_is_array(list));
    assert_int_equal(json_array_size(list), 0);
    assert_null(json_object_get(claims, CLAIM_DL "data"));

    /* One item only when the platform said so. */
    c.accept_multiple = 0;
    assert_int_equal(lti_deeplink_response(p, &c, items, 2, LAUNCH, key.kid, key.private_pem,
                                           NOW, &token, &err), LTI_ERR_FORBIDDEN);
    assert_string_equal(err.reason, "dl_multiple");
    assert_null(token);
    assert_int_equal(lti_deeplink_response(p, &c, items, 1, LAUNCH, key.kid, key.private_pem,
                                           NOW, &token, &err), LTI_OK);

    /* Incomplete arguments. */
    c = ctx13();
    c.deployment_id = NULL;
    assert_int_equal(lti_deeplink_response(p, &c, items, 1, LAUNCH, key.kid, key.private_pem,
                                           NOW, &token, &err), LTI_ERR_MISSING);
    assert_string_equal(err.reason, "dl_arg");
    c = ctx13();
    c.version = "1.1";
    assert_int_equal(lti_deeplink_response(p, &c, items, 1, LAUNCH, key.kid, key.private_pem,
                                           NOW, &token, &err), LTI_ERR_MISSING);
    c = ctx13();
    assert_int_equal(lti_deeplink_response(p, &c, items, 1, LAUNCH, key.kid, NULL, NOW, &token,
                                           &err), LTI_ERR_MISSING);
    {
        lti_deeplink_item_t bad = {"x", "", NULL};

        assert_int_equal(lti_deeplink_response(p, &c, &bad, 1, LAUNCH, key.kid,
                                               key.private_pem, NOW, &token, &err),
                         LTI_ERR_MISSING);
        assert_string_equal(err.reason, "dl_item");
    }
}

static void test_contentitem(void **state)
{
    apr_pool_t *p = *state;
    lti_deeplink_ctx_t c;
    apr_array_header_t *fields, *check;
    const char *json, *ret = "https://lms.example/mod/lti/contentitem_return.php?id=7&x=a+b";
    json_t *doc, *graph, *item, *li;
    lti_err_t err;

    memset(&c, 0, sizeof(c));
    c.version = "1.1";
    c.return_url = ret;
    c.consumer_key = "moodle-key";
    c.data = "{\"k\":\"v\"}";
    c.accept_multiple = 1;
    assert_int_equal(lti_contentitem_response(p, &c, items, 2, "https://tool/ptech/lti11",
                                              "s3cret", NOW, &fields, &err), LTI_OK);
    assert_string_equal(lti_kv_get(fields, "lti_message_type"), "ContentItemSelection");
    assert_string_equal(lti_kv_get(fields, "lti_version"), "LTI-1p0");
    assert_string_equal(lti_kv_get(fields, "data"), c.data);
    assert_string_equal(lti_kv_get(fields, "oauth_consumer_key"), "moodle-key");
    assert_string_equal(lti_kv_get(fields, "oauth_signature_method"), "HMAC-SHA1");
    /* The signature verifies with the secret over POST to the return URL, not another. */
    assert_int_equal(lti_oauth1_verify(p, "POST", ret, fields, "s3cret", &err), LTI_OK);
    assert_int_equal(lti_oauth1_verify(p, "POST", ret, fields, "other", &err),
                     LTI_ERR_SIGNATURE);
    check = apr_array_copy(p, fields);
    for (int i = 0; i < check->nelts; i++) {
        lti_kv_t *kv = &APR_ARRAY_IDX(check, i, lti_kv_t);

        if (strcmp(kv->key, "data") == 0) {
            kv->val = "{\"k\":\"w\"}";
        }
    }
    assert_int_equal(lti_oauth1_verify(p, "POST", ret, check, "s3cret", &err),
                     LTI_ERR_SIGNATURE);

    json = lti_kv_get(fields, "content_items");
    doc = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(doc);
    assert_string_equal(str(doc, "@context"), LTI_CONTENTITEM_CONTEXT);
    graph = json_object_get(doc, "@graph");
    assert_int_equal(json_array_size(graph), 2);
    for (size_t i = 0; i < 2; i++) {
        item = json_array_get(graph, i);
        assert_string_equal(str(item, "@type"), "LtiLinkItem");
        assert_string_equal(str(item, "mediaType"), "application/vnd.ims.lti.v1.ltilink");
        assert_string_equal(str(item, "title"), items[i].title);
        assert_string_equal(str(item, "url"), "https://tool/ptech/lti11");
        assert_string_equal(str(json_object_get(item, "custom"), "course"), items[i].course_id);
        li = json_object_get(item, "lineItem");
        assert_string_equal(str(li, "@type"), "LineItem");
        assert_string_equal(str(li, "label"), items[i].title);
        assert_string_equal(str(json_object_get(li, "assignedActivity"), "activityId"),
                            items[i].course_id);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(
                             li, "scoreConstraints"), "totalMaximum")), 100);
    }
    json_decref(doc);

    /* Cancel, and no data field without data. */
    c.data = NULL;
    assert_int_equal(lti_contentitem_response(p, &c, NULL, 0, "https://tool/ptech/lti11",
                                              "s3cret", NOW, &fields, &err), LTI_OK);
    assert_null(lti_kv_get(fields, "data"));
    assert_string_equal(lti_kv_get(fields, "content_items"),
                        "{\"@context\":\"" LTI_CONTENTITEM_CONTEXT "\",\"@graph\":[]}");
    c.accept_multiple = 0;
    assert_int_equal(lti_contentitem_response(p, &c, items, 2, "https://tool/ptech/lti11",
                                              "s3cret", NOW, &fields, &err), LTI_ERR_FORBIDDEN);
    c.consumer_key = NULL;
    assert_int_equal(lti_contentitem_response(p, &c, items, 1, "https://tool/ptech/lti11",
                                              "s3cret", NOW, &fields, &err), LTI_ERR_MISSING);
    assert_string_equal(err.reason, "dl_arg");
}

static void test_match_and_roles(void **state)
{
    apr_pool_t *p = *state;
    lti_course_t c;

    memset(&c, 0, sizeof(c));
    c.id = "ai-fundamentals";
    c.theme = "artificial-intelligence";
    c.title.fr = "Fondamentaux de l'intelligence artificielle";
    c.title.ar = "أساسيات الذكاء الاصطناعي";
    c.title.en = "Artificial Intelligence Fundamentals";
    c.description.fr = "Découvrir l'IA";
    c.description.ar = "اكتشف";
    c.description.en = "Discover AI";
    assert_true(lti_deeplink_match(p, &c, NULL, NULL));
    assert_true(lti_deeplink_match(p, &c, "", ""));
    assert_true(lti_deeplink_match(p, &c, "  ", NULL));
    assert_true(lti_deeplink_match(p, &c, "INTELLIGENCE", NULL));
    assert_true(lti_deeplink_match(p, &c, "fondamentaux artificial", NULL));
    assert_true(lti_deeplink_match(p, &c, "الذكاء", NULL));
    assert_true(lti_deeplink_match(p, &c, "discover", "artificial-intelligence"));
    assert_true(lti_deeplink_match(p, &c, "ai-fund", NULL));
    assert_false(lti_deeplink_match(p, &c, "cloud", NULL));
    assert_false(lti_deeplink_match(p, &c, "intelligence cloud", NULL));
    assert_false(lti_deeplink_match(p, &c, NULL, "data"));

    {
        static const unsigned ok[] = {LTI_ROLE_INSTRUCTOR, LTI_ROLE_ADMIN | LTI_ROLE_LEARNER,
                                      LTI_ROLE_TA, LTI_ROLE_CONTENT_DEV};
        static const unsigned no[] = {LTI_ROLE_LEARNER, LTI_ROLE_MENTOR, 0};
        lti_err_t err;

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
            assert_int_equal(lti_deeplink_roles_check(ok[i], "x", &err), LTI_OK);
        }
        for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
            assert_int_equal(lti_deeplink_roles_check(no[i], "Learner", &err),
                             LTI_ERR_FORBIDDEN);
            assert_string_equal(err.reason, "dl_role");
            assert_non_null(strstr(err.text, "Learner"));
        }
        assert_int_equal(lti_deeplink_roles_check(0, NULL, &err), LTI_ERR_FORBIDDEN);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_contentitem_request),
        cmocka_unit_test(test_ctx_round_trip),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_contentitem),
        cmocka_unit_test(test_match_and_roles),
    };

    return cmocka_run_group_tests(tests, group_setup, unit_group_teardown);
}
