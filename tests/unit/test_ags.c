/* test_ags.c -- the LTI 1.3 AGS client: the token request (its client assertion decoded and
 * verified with the tool's public key), token answers (Moodle's JSON labelled text/html,
 * missing fields, OAuth errors), the token cache (scope sets, expiry, bounds, threads), line
 * items (the claim, find, create), scores URLs, timestamps, the score JSON, the
 * classification of answers, and lti_ags_send_score against a stub platform answering with
 * the shapes of ../shared/fixtures/moodle-4.5/lti13-services-exchange.txt. */
#include <apr_time.h>

#include "stub_server.h"

/* From lti13-services-exchange.txt. */
#define MOODLE "http://127.0.0.1:8081"
#define MOODLE_TOKEN_URL MOODLE "/mod/lti/token.php"
#define MOODLE_LINEITEMS MOODLE "/mod/lti/services.php/2/lineitems?type_id=2"
#define MOODLE_LINEITEM MOODLE "/mod/lti/services.php/2/lineitems/3/lineitem?type_id=2"
#define MOODLE_SCORES MOODLE "/mod/lti/services.php/2/lineitems/3/lineitem/scores?type_id=2"
#define MOODLE_TOKEN_BODY                                                                  \
    "{\n  \"access_token\" : \"5bf5e3f9762d7297f6f68879249b8d88\",\n"                      \
    "  \"token_type\" : \"Bearer\",\n  \"expires_in\" : 3600,\n"                           \
    "  \"scope\" : \"https://purl.imsglobal.org/spec/lti-ags/scope/lineitem "              \
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly "                     \
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly "                       \
    "https://purl.imsglobal.org/spec/lti-ags/scope/score\"\n}"
#define MOODLE_CONTAINER                                                                   \
    "[{\"id\":\"http:\\/\\/127.0.0.1:8081\\/mod\\/lti\\/services.php\\/2\\/lineitems\\/3"  \
    "\\/lineitem?type_id=2\",\"label\":\"LTI 1.3 graded activity\",\"scoreMaximum\":100,"  \
    "\"resourceId\":\"\",\"tag\":\"\",\"resourceLinkId\":\"2\",\"ltiLinkId\":\"2\"}]"

#define CLIENT_ID "ETcWli258i8O3jj"
#define NOW ((int64_t)1795976386)

static lti_keypair_t key;

static int group_setup(void **state)
{
    int rc = unit_group_setup(state);

    assert_int_equal(lti_keypair_generate(*state, &key, NULL), LTI_OK);
    return rc;
}

/* ---- token request ---- */

/* The value of name in a form body. */
static const char *form_get(apr_pool_t *p, const char *body, const char *name)
{
    apr_array_header_t *kv = lti_kv_make(p, 8);

    assert_int_equal(lti_form_parse(p, body, strlen(body), 16, kv, NULL), LTI_OK);
    assert_true(lti_kv_count(kv, name) <= 1);
    return lti_kv_get(kv, name);
}

static void test_token_request(void **state)
{
    apr_pool_t *p = *state;
    lti_http_req_t req, again;
    lti_err_t err;
    lti_jwt_t *jwt;
    lti_jwks_t *set;
    const char *doc, *assertion, *jwks[1] = {key.public_jwk};
    const char *scopes = LTI_AGS_SCOPE_LINEITEM " " LTI_AGS_SCOPE_SCORE;
    json_t *c;

    assert_int_equal(lti_ags_token_request(p, MOODLE_TOKEN_URL, CLIENT_ID, key.kid,
                                           key.private_pem, scopes, NOW, &req, &err),
                     LTI_OK);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, MOODLE_TOKEN_URL);
    assert_string_equal(req.content_type, "application/x-www-form-urlencoded");
    assert_string_equal(req.accept, "application/json");
    assert_null(req.bearer);
    assert_int_equal(req.body_len, strlen(req.body));
    assert_int_equal(req.max_bytes, LTI_AGS_MAX_BYTES);
    /* The fixture's order and encoding. */
    assert_true(strncmp(req.body, "grant_type=client_credentials&client_assertion_type="
                        "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
                        "&client_assertion=ey", 132) == 0);
    assert_string_equal(form_get(p, req.body, "grant_type"), "client_credentials");
    assert_string_equal(form_get(p, req.body, "client_assertion_type"),
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    assert_string_equal(form_get(p, req.body, "scope"), scopes);
    assertion = form_get(p, req.body, "client_assertion");
    assert_non_null(assertion);

    /* Decoded and verified with the tool's public key. */
    assert_int_equal(lti_jwt_parse(p, assertion, strlen(assertion), &jwt, &err), LTI_OK);
    assert_string_equal(jwt->alg, "RS256");
    assert_string_equal(jwt->kid, key.kid);
    doc = lti_jwks_document(p, jwks, 1, &err);
    assert_non_null(doc);
    assert_int_equal(lti_jwks_parse(p, doc, strlen(doc), &set, &err), LTI_OK);
    assert_int_equal(lti_jwt_verify(jwt, set, &err), LTI_OK);
    c = jwt->claims;
    assert_string_equal(json_string_value(json_object_get(c, "iss")), CLIENT_ID);
    assert_string_equal(json_string_value(json_object_get(c, "sub")), CLIENT_ID);
    assert_string_equal(json_string_value(json_object_get(c, "aud")), MOODLE_TOKEN_URL);
    assert_int_equal(json_integer_value(json_object_get(c, "iat")), NOW);
    assert_true(json_integer_value(json_object_get(c, "exp")) > NOW);
    assert_true(json_integer_value(json_object_get(c, "exp")) <= NOW + 300);
    assert_int_equal(strlen(json_string_value(json_object_get(c, "jti"))), 32);
    assert_int_equal(json_object_size(c), 6);
    /* A fresh jti each time. */
    assert_int_equal(lti_ags_token_request(p, MOODLE_TOKEN_URL, CLIENT_ID, key.kid,
                                           key.private_pem, scopes, NOW, &again, &err),
                     LTI_OK);
    assert_string_not_equal(form_get(p, again.body, "client_assertion"), assertion);

    /* Refusals. */
    assert_int_equal(lti_ags_token_request(p, MOODLE_TOKEN_URL, "", key.kid, key.private_pem,
                                           scopes, NOW, &req, &err),
                     LTI_ERR_MISSING);
    assert_string_equal(err.reason, "ags_arg");
    assert_int_equal(lti_ags_token_request(p, MOODLE_TOKEN_URL, CLIENT_ID, key.kid,
                                           key.private_pem, NULL, NOW, &req, &err),
                     LTI_ERR_MISSING);
    assert_int_equal(lti_ags_token_request(p, "/mod/lti/token.php", CLIENT_ID, key.kid,
                                           key.private_pem, scopes, NOW, &req, &err),
                     LTI_ERR_MALFORMED);
    assert_string_equal(err.reason, "ags_bad_url");
    assert_int_equal(lti_ags_token_request(p, "ftp://x/token", CLIENT_ID, key.kid,
                                           key.private_pem, scopes, NOW, &req, &err),
                     LTI_ERR_MALFORMED);
    assert_int_not_equal(lti_ags_token_request(p, MOODLE_TOKEN_URL, CLIENT_ID, key.kid,
                                               "not a key", scopes, NOW, &req, &err),
                         LTI_OK);
    assert_null(req.body);
}

/* ---- token answers ---- */

static lti_status_t tparse(apr_pool_t *p, long status, const char *ct, const char *body,
                           lti_ags_token_t *tok, lti_err_t *err)
{
    return lti_ags_token_parse(p, status, ct, body, strlen(body), NOW, tok, err);
}

static void test_token_parse(void **state)
{
    apr_pool_t *p = *state;
    lti_ags_token_t tok;
    lti_err_t err;
    static const struct {
        long status;
        const char *body;
        lti_status_t want;
        const char *reason;
    } bad[] = {
        {200, "{\"token_type\":\"Bearer\",\"expires_in\":3600}", LTI_ERR_UPSTREAM,
         "ags_token_invalid"},
        {200, "{\"access_token\":\"\",\"token_type\":\"Bearer\"}", LTI_ERR_UPSTREAM,
         "ags_token_invalid"},
        {200, "{\"access_token\":\"a b\",\"token_type\":\"Bearer\"}", LTI_ERR_UPSTREAM,
         "ags_token_invalid"},
        {200, "{\"access_token\":42,\"token_type\":\"Bearer\"}", LTI_ERR_UPSTREAM,
         "ags_token_invalid"},
        {200, "{\"access_token\":\"abc\"}", LTI_ERR_UNSUPPORTED, "ags_token_type"},
        {200, "{\"access_token\":\"abc\",\"token_type\":\"mac\"}", LTI_ERR_UNSUPPORTED,
         "ags_token_type"},
        {200, "{\"access_token\":\"abc\",\"token_type\":\"Bearer\",\"expires_in\":\"3600\"}",
         LTI_ERR_UPSTREAM, "ags_token_invalid"},
        {200, "{\"access_token\":\"abc\",\"token_type\":\"Bearer\",\"expires_in\":-5}",
         LTI_ERR_UPSTREAM, "ags_token_invalid"},
        {200, "{\"access_token\":\"abc\",\"access_token\":\"def\",\"token_type\":\"Bearer\"}",
         LTI_ERR_UPSTREAM, "ags_token_invalid"},
        {200, "<html><body>Moodle error</body></html>", LTI_ERR_UPSTREAM, "ags_token_invalid"},
        {200, "[]", LTI_ERR_UPSTREAM, "ags_token_invalid"},
        {200, "", LTI_ERR_UPSTREAM, "ags_token_invalid"},
        {400, "{\"error\":\"invalid_request\"}", LTI_ERR_UPSTREAM, "ags_token_refused"},
        {500, "<html>oops</html>", LTI_ERR_UPSTREAM, "ags_token_refused"},
    };

    /* Moodle: JSON labelled text/html. */
    assert_int_equal(tparse(p, 200, "text/html; charset=utf-8", MOODLE_TOKEN_BODY, &tok, &err),
                     LTI_OK);
    assert_string_equal(tok.access_token, "5bf5e3f9762d7297f6f68879249b8d88");
    assert_int_equal(tok.expires_in, 3600);
    assert_int_equal(tok.expires_at, NOW + 3600 - LTI_AGS_TOKEN_MARGIN);
    assert_true(lti_ags_has_scope(tok.scope, LTI_AGS_SCOPE_SCORE));
    /* Bearer in any case; a short life keeps half of it; no expires_in: the default. */
    assert_int_equal(tparse(p, 200, NULL, "{\"access_token\":\"x.y-z\",\"token_type\":\"bearer\","
                            "\"expires_in\":60}", &tok, &err), LTI_OK);
    assert_int_equal(tok.expires_at, NOW + 30);
    assert_null(tok.scope);
    assert_int_equal(tparse(p, 201, "application/json", "{\"access_token\":\"x\","
                            "\"token_type\":\"Bearer\"}", &tok, &err), LTI_OK);
    assert_int_equal(tok.expires_in, LTI_AGS_TOKEN_DEFAULT_TTL);
    assert_int_equal(tok.expires_at, NOW + LTI_AGS_TOKEN_DEFAULT_TTL - LTI_AGS_TOKEN_MARGIN);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tok.access_token = "stale";
        assert_int_equal(tparse(p, bad[i].status, "text/html", bad[i].body, &tok, &err),
                         bad[i].want);
        assert_string_equal(err.reason, bad[i].reason);
        assert_null(tok.access_token);
    }
    /* The OAuth error is named; a token is never in an error text. */
    assert_int_equal(tparse(p, 401, "application/json", "{\"error\":\"invalid_client\","
                            "\"error_description\":\"bad assertion\"}", &tok, &err),
                     LTI_ERR_UPSTREAM);
    assert_non_null(strstr(err.text, "401"));
    assert_non_null(strstr(err.text, "invalid_client"));
    assert_non_null(strstr(err.text, "bad assertion"));
    assert_int_equal(tparse(p, 200, NULL, "{\"access_token\":\"secret1\",\"token_type\":\"x\"}",
                            &tok, &err), LTI_ERR_UNSUPPORTED);
    assert_null(strstr(err.text, "secret1"));
}

/* ---- token cache ---- */

static lti_ags_token_t token(const char *access, int64_t expires_at)
{
    lti_ags_token_t t;

    memset(&t, 0, sizeof(t));
    t.access_token = access;
    t.expires_in = 3600;
    t.expires_at = expires_at;
    return t;
}

static void test_cache(void **state)
{
    apr_pool_t *p = *state;
    lti_ags_cache_t *c;
    lti_ags_token_t t;
    const char *ab = LTI_AGS_SCOPE_LINEITEM " " LTI_AGS_SCOPE_SCORE;
    const char *ba = LTI_AGS_SCOPE_SCORE "  " LTI_AGS_SCOPE_LINEITEM " " LTI_AGS_SCOPE_SCORE;

    assert_int_equal(lti_ags_cache_create(2, &c, NULL), LTI_OK);
    assert_null(lti_ags_cache_get(c, p, "pf1", ab, NOW));
    t = token("T1", NOW + 100);
    lti_ags_cache_put(c, "pf1", ab, &t, NOW);
    /* The same scope set in another order, repeated: the same entry. */
    assert_string_equal(lti_ags_cache_get(c, p, "pf1", ba, NOW), "T1");
    assert_null(lti_ags_cache_get(c, p, "pf1", LTI_AGS_SCOPE_SCORE, NOW));
    assert_null(lti_ags_cache_get(c, p, "pf2", ab, NOW));
    /* Until shortly before expiry only. */
    assert_string_equal(lti_ags_cache_get(c, p, "pf1", ab, NOW + 99), "T1");
    assert_null(lti_ags_cache_get(c, p, "pf1", ab, NOW + 100));
    assert_int_equal(lti_ags_cache_count(c), 0);     /* the expired one was dropped */
    /* An expired token is not kept; a new one replaces the old. */
    t = token("T0", NOW);
    lti_ags_cache_put(c, "pf1", ab, &t, NOW);
    assert_int_equal(lti_ags_cache_count(c), 0);
    t = token("T1", NOW + 100);
    lti_ags_cache_put(c, "pf1", ab, &t, NOW);
    t = token("T2", NOW + 200);
    lti_ags_cache_put(c, "pf1", ba, &t, NOW);
    assert_int_equal(lti_ags_cache_count(c), 1);
    assert_string_equal(lti_ags_cache_get(c, p, "pf1", ab, NOW), "T2");
    /* Dropping the token refused leaves a newer one; NULL drops whatever is there. */
    lti_ags_cache_drop(c, "pf1", ab, "T1");
    assert_string_equal(lti_ags_cache_get(c, p, "pf1", ab, NOW), "T2");
    lti_ags_cache_drop(c, "pf1", ab, "T2");
    assert_null(lti_ags_cache_get(c, p, "pf1", ab, NOW));
    t = token("T3", NOW + 300);
    lti_ags_cache_put(c, "pf1", ab, &t, NOW);
    lti_ags_cache_drop(c, "pf1", ba, NULL);
    assert_int_equal(lti_ags_cache_count(c), 0);
    /* Bounded: when full, the one that expires first goes. */
    t = token("A", NOW + 500);
    lti_ags_cache_put(c, "pfA", ab, &t, NOW);
    t = token("B", NOW + 100);
    lti_ags_cache_put(c, "pfB", ab, &t, NOW);
    t = token("C", NOW + 300);
    lti_ags_cache_put(c, "pfC", ab, &t, NOW);
    assert_int_equal(lti_ags_cache_count(c), 2);
    assert_string_equal(lti_ags_cache_get(c, p, "pfA", ab, NOW), "A");
    assert_null(lti_ags_cache_get(c, p, "pfB", ab, NOW));
    assert_string_equal(lti_ags_cache_get(c, p, "pfC", ab, NOW), "C");
    /* Many replacements do not grow it. */
    for (int i = 0; i < 5000; i++) {
        t = token(apr_psprintf(p, "tok%d", i), NOW + 1000 + i);
        lti_ags_cache_put(c, apr_psprintf(p, "pf%d", i % 7), ab, &t, NOW);
    }
    assert_int_equal(lti_ags_cache_count(c), 2);
    lti_ags_cache_destroy(c);
    /* A NULL cache keeps nothing. */
    lti_ags_cache_put(NULL, "pf1", ab, &t, NOW);
    assert_null(lti_ags_cache_get(NULL, p, "pf1", ab, NOW));
    lti_ags_cache_destroy(NULL);
}

#define THREADS 4
#define ROUNDS 2000

static void *cache_worker(void *arg)
{
    lti_ags_cache_t *c = arg;
    apr_pool_t *p;
    int bad = 0;

    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    for (int i = 0; i < ROUNDS; i++) {
        const char *pf = apr_psprintf(p, "pf%d", i % 11);
        lti_ags_token_t t = token(apr_psprintf(p, "%s-token", pf), NOW + 100 + i);
        const char *got;

        lti_ags_cache_put(c, pf, LTI_AGS_SCOPE_SCORE, &t, NOW);
        got = lti_ags_cache_get(c, p, pf, LTI_AGS_SCOPE_SCORE, NOW);
        /* Another thread may have evicted it, never mixed it up. */
        bad |= got != NULL && strcmp(got, t.access_token) != 0;
        if (i % 5 == 0) {
            lti_ags_cache_drop(c, pf, LTI_AGS_SCOPE_SCORE, NULL);
        }
        if (i % 100 == 0) {
            apr_pool_clear(p);
        }
    }
    apr_pool_destroy(p);
    return bad ? arg : NULL;
}

static void test_cache_threads(void **state)
{
    lti_ags_cache_t *c;
    pthread_t th[THREADS];

    assert_int_equal(lti_ags_cache_create(8, &c, NULL), LTI_OK);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, cache_worker, c), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        void *rv;

        assert_int_equal(pthread_join(th[i], &rv), 0);
        assert_null(rv);
    }
    assert_true(lti_ags_cache_count(c) <= 8);
    lti_ags_cache_destroy(c);
}

/* ---- line items ---- */

/* The AGS claim of Moodle's student launch, as JSON text. */
static const char *moodle_claim(apr_pool_t *p)
{
    json_error_t jerr;
    json_t *root = json_load_file(unit_fixture(p, "lti13-launch-student.json"),
                                  JSON_REJECT_DUPLICATES, &jerr);
    json_t *claim;
    char *text;
    const char *out;

    assert_non_null(root);
    claim = json_object_get(json_object_get(root, "claims"),
                            "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint");
    assert_non_null(claim);
    text = json_dumps(claim, JSON_COMPACT);
    out = apr_pstrdup(p, text);
    free(text);
    json_decref(root);
    return out;
}

static void test_claim_choose(void **state)
{
    apr_pool_t *p = *state;
    lti_ags_claim_t claim;
    lti_ags_choice_t choice;
    const char *url;
    lti_err_t err;
    static const char *const bad[] = {
        "[]", "{\"lineitem\":3}", "{\"scope\":\"x\"}", "{\"scope\":[1]}", "not json",
        "{\"lineitem\":\"a\",\"lineitem\":\"b\"}",
    };

    assert_int_equal(lti_ags_claim_parse(p, moodle_claim(p), &claim, &err), LTI_OK);
    assert_string_equal(claim.lineitems, MOODLE_LINEITEMS);
    assert_string_equal(claim.lineitem, MOODLE_LINEITEM);
    assert_true(lti_ags_has_scope(claim.scope, LTI_AGS_SCOPE_SCORE));
    assert_true(lti_ags_has_scope(claim.scope, LTI_AGS_SCOPE_LINEITEM));
    assert_false(lti_ags_has_scope(claim.scope, "https://purl.imsglobal.org/spec/lti-ags"));
    /* The launch's own line item wins. */
    assert_int_equal(lti_ags_lineitem_choose(&claim, &choice, &url, &err), LTI_OK);
    assert_int_equal(choice, LTI_AGS_LINEITEM_KNOWN);
    assert_string_equal(url, MOODLE_LINEITEM);
    /* Without it: find in the container. */
    claim.lineitem = NULL;
    assert_int_equal(lti_ags_lineitem_choose(&claim, &choice, &url, &err), LTI_OK);
    assert_int_equal(choice, LTI_AGS_LINEITEM_FIND);
    assert_string_equal(url, MOODLE_LINEITEMS);
    claim.scope = LTI_AGS_SCOPE_SCORE;
    assert_int_equal(lti_ags_lineitem_choose(&claim, &choice, &url, &err), LTI_ERR_FORBIDDEN);
    assert_string_equal(err.reason, "ags_no_lineitem_scope");
    claim.lineitems = NULL;
    assert_int_equal(lti_ags_lineitem_choose(&claim, &choice, &url, &err), LTI_ERR_MISSING);
    assert_string_equal(err.reason, "ags_no_lineitem");
    claim.lineitem = MOODLE_LINEITEM;
    claim.scope = LTI_AGS_SCOPE_LINEITEM " " LTI_AGS_SCOPE_RESULT_READONLY;
    assert_int_equal(lti_ags_lineitem_choose(&claim, &choice, &url, &err), LTI_ERR_FORBIDDEN);
    assert_string_equal(err.reason, "ags_no_score_scope");
    assert_null(url);
    /* An empty claim parses (nothing granted); wrong types do not. */
    assert_int_equal(lti_ags_claim_parse(p, "{}", &claim, &err), LTI_OK);
    assert_null(claim.lineitem);
    assert_string_equal(claim.scope, "");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(lti_ags_claim_parse(p, bad[i], &claim, &err), LTI_ERR_MALFORMED);
        assert_string_equal(err.reason, "ags_claim");
    }
}

static void test_lineitems_find(void **state)
{
    apr_pool_t *p = *state;
    lti_http_req_t req;
    lti_err_t err;
    const char *url;
    const char *two =
        "[{\"id\":\"https://lms/li/1\",\"label\":\"a\",\"tag\":\"other\",\"resourceLinkId\":\"9\"},"
        "{\"id\":\"https://lms/li/2\",\"label\":\"b\",\"tag\":\"ptech\",\"resourceLinkId\":\"9\"},"
        "{\"id\":\"https://lms/li/3\",\"label\":\"c\",\"tag\":\"ptech\"}]";

    assert_int_equal(lti_ags_lineitems_find_request(p, MOODLE_LINEITEMS, "tok", "2", "ptech",
                                                    &req, &err),
                     LTI_OK);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.url, MOODLE_LINEITEMS "&resource_link_id=2&tag=ptech");
    assert_string_equal(req.accept, "application/vnd.ims.lis.v2.lineitemcontainer+json");
    assert_string_equal(req.bearer, "tok");
    assert_null(req.body);
    assert_null(req.content_type);
    assert_int_equal(lti_ags_lineitems_find_request(p, "https://lms.example/li", "tok",
                                                    "a b&c", NULL, &req, &err),
                     LTI_OK);
    assert_string_equal(req.url, "https://lms.example/li?resource_link_id=a%20b%26c");
    assert_int_equal(lti_ags_lineitems_find_request(p, "https://lms.example/li#x", "tok",
                                                    NULL, NULL, &req, &err),
                     LTI_OK);
    assert_string_equal(req.url, "https://lms.example/li");
    assert_int_equal(lti_ags_lineitems_find_request(p, "li", "tok", "2", NULL, &req, &err),
                     LTI_ERR_MALFORMED);
    assert_int_equal(lti_ags_lineitems_find_request(p, MOODLE_LINEITEMS, NULL, "2", NULL,
                                                    &req, &err),
                     LTI_ERR_MISSING);

    /* Moodle's container: its item of link 2 (no tag asked). */
    assert_int_equal(lti_ags_lineitems_find_parse(p, 200, LTI_AGS_TYPE_LINEITEMS,
                                                  MOODLE_CONTAINER, strlen(MOODLE_CONTAINER),
                                                  "2", NULL, &url, &err),
                     LTI_OK);
    assert_string_equal(url, MOODLE_LINEITEM);
    /* Filters a platform ignored are applied here. */
    assert_int_equal(lti_ags_lineitems_find_parse(p, 200, NULL, MOODLE_CONTAINER,
                                                  strlen(MOODLE_CONTAINER), "2", "ptech", &url,
                                                  &err),
                     LTI_OK);
    assert_null(url);
    assert_int_equal(lti_ags_lineitems_find_parse(p, 200, NULL, MOODLE_CONTAINER,
                                                  strlen(MOODLE_CONTAINER), "7", NULL, &url,
                                                  &err),
                     LTI_OK);
    assert_null(url);
    assert_int_equal(lti_ags_lineitems_find_parse(p, 200, NULL, two, strlen(two), "9", "ptech",
                                                  &url, &err),
                     LTI_OK);
    assert_string_equal(url, "https://lms/li/2");
    assert_int_equal(lti_ags_lineitems_find_parse(p, 200, NULL, two, strlen(two), "8", "ptech",
                                                  &url, &err),
                     LTI_OK);
    assert_string_equal(url, "https://lms/li/3");   /* no resourceLinkId: the filter's */
    assert_int_equal(lti_ags_lineitems_find_parse(p, 200, NULL, "[]", 2, "2", NULL, &url,
                                                  &err),
                     LTI_OK);
    assert_null(url);
    assert_int_equal(lti_ags_lineitems_find_parse(p, 200, NULL, "{}", 2, "2", NULL, &url,
                                                  &err),
                     LTI_ERR_UPSTREAM);
    assert_string_equal(err.reason, "ags_lineitems_invalid");
    assert_int_equal(lti_ags_lineitems_find_parse(p, 403, "text/html", "no", 2, "2", NULL,
                                                  &url, &err),
                     LTI_ERR_UPSTREAM);
    assert_string_equal(err.reason, "ags_http_status");
}

static void test_lineitem_create(void **state)
{
    apr_pool_t *p = *state;
    lti_http_req_t req;
    lti_err_t err;
    const char *url;
    lti_ags_lineitem_t li = {"Cybersécurité : les bases", "PT-CYB-101", "ptech", "2"};
    const char *created = "{\"id\":\"http:\\/\\/127.0.0.1:8081\\/mod\\/lti\\/services.php\\/2"
                          "\\/lineitems\\/7\\/lineitem?type_id=2\",\"label\":\"x\","
                          "\"scoreMaximum\":100,\"resourceId\":\"PT-CYB-101\",\"tag\":"
                          "\"ptech\",\"resourceLinkId\":\"2\"}";

    assert_int_equal(lti_ags_lineitem_create_request(p, MOODLE_LINEITEMS, "tok", &li, &req,
                                                     &err),
                     LTI_OK);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, MOODLE_LINEITEMS);
    assert_string_equal(req.content_type, "application/vnd.ims.lis.v2.lineitem+json");
    assert_string_equal(req.accept, "application/vnd.ims.lis.v2.lineitem+json");
    assert_string_equal(req.bearer, "tok");
    assert_string_equal(req.body, "{\"label\":\"Cybersécurité : les bases\",\"scoreMaximum\":100,"
                                  "\"resourceId\":\"PT-CYB-101\",\"tag\":\"ptech\","
                                  "\"resourceLinkId\":\"2\"}");
    assert_int_equal(req.body_len, strlen(req.body));
    li.resource_id = NULL;
    li.tag = NULL;
    assert_int_equal(lti_ags_lineitem_create_request(p, MOODLE_LINEITEMS, "tok", &li, &req,
                                                     &err),
                     LTI_OK);
    assert_string_equal(req.body, "{\"label\":\"Cybersécurité : les bases\",\"scoreMaximum\":100,"
                                  "\"resourceLinkId\":\"2\"}");
    li.label = NULL;
    assert_int_equal(lti_ags_lineitem_create_request(p, MOODLE_LINEITEMS, "tok", &li, &req,
                                                     &err),
                     LTI_ERR_MISSING);
    li.label = "bad \xff";
    assert_int_equal(lti_ags_lineitem_create_request(p, MOODLE_LINEITEMS, "tok", &li, &req,
                                                     &err),
                     LTI_ERR_MALFORMED);
    assert_string_equal(err.reason, "ags_bad_text");

    assert_int_equal(lti_ags_lineitem_create_parse(p, 200, LTI_AGS_TYPE_LINEITEM, created,
                                                   strlen(created), &url, &err),
                     LTI_OK);
    assert_string_equal(url, MOODLE "/mod/lti/services.php/2/lineitems/7/lineitem?type_id=2");
    assert_int_equal(lti_ags_lineitem_create_parse(p, 201, NULL, "{\"id\":\"/rel\"}", 13, &url,
                                                   &err),
                     LTI_ERR_UPSTREAM);
    assert_string_equal(err.reason, "ags_lineitem_invalid");
    assert_null(url);
    assert_int_equal(lti_ags_lineitem_create_parse(p, 400, NULL, created, strlen(created), &url,
                                                   &err),
                     LTI_ERR_UPSTREAM);
    assert_string_equal(err.reason, "ags_http_status");
}

/* ---- scores ---- */

static void test_scores_url(void **state)
{
    apr_pool_t *p = *state;
    lti_err_t err;
    const char *out;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {MOODLE_LINEITEM, MOODLE_SCORES},
        {"https://moodle.uh2c.ma/mod/lti/services.php/12/lineitems/5/lineitem?type_id=3",
         "https://moodle.uh2c.ma/mod/lti/services.php/12/lineitems/5/lineitem/scores?type_id=3"},
        {"https://moodle.uh2c.ma:8443/moodle/mod/lti/services.php/12/lineitems/5/lineitem",
         "https://moodle.uh2c.ma:8443/moodle/mod/lti/services.php/12/lineitems/5/lineitem/scores"},
        {"https://lms.example/li/5/?a=1&b=2", "https://lms.example/li/5/scores?a=1&b=2"},
        {"https://lms.example/li/5?type_id=3#frag", "https://lms.example/li/5/scores?type_id=3"},
        {"https://lms.example", "https://lms.example/scores"},
        {"https://lms.example:443/li/%41", "https://lms.example/li/%41/scores"},
    };
    static const char *const bad[] = {"", "/li/5", "lineitem?type_id=3", "mailto:a@b",
                                      "ftp://lms/li"};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(lti_ags_scores_url(p, cases[i].in, &out, &err), LTI_OK);
        assert_string_equal(out, cases[i].out);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(lti_ags_scores_url(p, bad[i], &out, &err), LTI_ERR_MALFORMED);
        assert_string_equal(err.reason, "ags_bad_url");
        assert_null(out);
    }
    assert_int_equal(lti_ags_scores_url(p, NULL, &out, &err), LTI_ERR_MALFORMED);
}

static void test_timestamp(void **state)
{
    apr_pool_t *p = *state;
    int64_t sent, last = 0, now = INT64_C(1795976386123);
    static const struct {
        int64_t ms;
        const char *text;
    } fmt[] = {
        {INT64_C(1795976386123), "2026-11-29T18:19:46.123Z"},
        {INT64_C(1795976386000), "2026-11-29T18:19:46.000Z"},
        {INT64_C(1795976386009), "2026-11-29T18:19:46.009Z"},
        {0, "1970-01-01T00:00:00.000Z"},
        {INT64_C(951782400999), "2000-02-29T00:00:00.999Z"},
    };

    for (size_t i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
        assert_string_equal(lti_ags_timestamp_format(p, fmt[i].ms), fmt[i].text);
    }
    /* First score: now. */
    assert_string_equal(lti_ags_timestamp(p, 0, now, &sent), "2026-11-29T18:19:46.123Z");
    assert_true(sent == now);
    /* Well after the last: now. */
    assert_string_equal(lti_ags_timestamp(p, now - 5000, now, &sent), "2026-11-29T18:19:46.123Z");
    /* Within a second of the last, equal to it, or a clock that went back: last + 1 s. */
    assert_string_equal(lti_ags_timestamp(p, now - 300, now, &sent), "2026-11-29T18:19:46.823Z");
    assert_true(sent == now + 700);
    assert_string_equal(lti_ags_timestamp(p, now, now, &sent), "2026-11-29T18:19:47.123Z");
    assert_string_equal(lti_ags_timestamp(p, now + 60000, now, &sent),
                        "2026-11-29T18:20:47.123Z");
    assert_non_null(lti_ags_timestamp(p, now, now, NULL));
    /* A burst: strictly increasing, whole seconds apart (Moodle compares seconds). */
    for (int i = 0; i < 50; i++) {
        int64_t t = now + i * 7;

        lti_ags_timestamp(p, last, t, &sent);
        assert_true(sent > last);
        assert_true(last == 0 || sent >= last + 1000);
        assert_true(last == 0 || sent / 1000 > last / 1000);
        assert_true(sent >= t);
        last = sent;
    }
}

static lti_ags_score_t moodle_score(void)
{
    lti_ags_score_t s;

    memset(&s, 0, sizeof(s));
    s.user_id = "3";
    s.score_given = 7;
    s.score_maximum = 10;
    s.activity_progress = "Completed";
    s.grading_progress = "FullyGraded";
    s.timestamp_ms = INT64_C(1795976386123);
    s.comment = "Graded by lab tool via AGS";
    return s;
}

static void test_score_request(void **state)
{
    apr_pool_t *p = *state;
    lti_http_req_t req;
    lti_err_t err;
    lti_ags_score_t s = moodle_score();
    json_t *doc;
    static const struct {
        double given, max;
        const char *activity, *grading;
        lti_status_t want;
        const char *reason;
    } bad[] = {
        {-1, 100, "Completed", "FullyGraded", LTI_ERR_MALFORMED, "ags_bad_score"},
        {1, 0, "Completed", "FullyGraded", LTI_ERR_MALFORMED, "ags_bad_score"},
        {1.0 / 0.0, 100, "Completed", "FullyGraded", LTI_ERR_MALFORMED, "ags_bad_score"},
        {1, 100, "Done", "FullyGraded", LTI_ERR_MALFORMED, "ags_bad_progress"},
        {1, 100, "Completed", "fullygraded", LTI_ERR_MALFORMED, "ags_bad_progress"},
        {1, 100, NULL, "FullyGraded", LTI_ERR_MISSING, "ags_arg"},
    };

    assert_int_equal(lti_ags_score_request(p, MOODLE_SCORES, "5bf5e3f9", &s, &req, &err),
                     LTI_OK);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, MOODLE_SCORES);
    assert_string_equal(req.content_type, "application/vnd.ims.lis.v1.score+json");
    assert_string_equal(req.bearer, "5bf5e3f9");
    assert_string_equal(req.body, "{\"userId\":\"3\",\"scoreGiven\":7,\"scoreMaximum\":10,"
                                  "\"activityProgress\":\"Completed\",\"gradingProgress\":"
                                  "\"FullyGraded\",\"timestamp\":\"2026-11-29T18:19:46.123Z\","
                                  "\"comment\":\"Graded by lab tool via AGS\"}");
    assert_int_equal(req.body_len, strlen(req.body));
    /* Fractions stay fractions; no comment, no member. */
    s.score_given = 72.5;
    s.score_maximum = 100;
    s.comment = NULL;
    s.activity_progress = "InProgress";
    s.grading_progress = "Pending";
    assert_int_equal(lti_ags_score_request(p, MOODLE_SCORES, "t", &s, &req, &err), LTI_OK);
    doc = json_loads(req.body, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(doc);
    assert_int_equal(json_object_size(doc), 6);
    assert_true(json_real_value(json_object_get(doc, "scoreGiven")) == 72.5);
    assert_int_equal(json_integer_value(json_object_get(doc, "scoreMaximum")), 100);
    assert_null(json_object_get(doc, "comment"));
    json_decref(doc);
    assert_non_null(strstr(req.body, "\"scoreGiven\":72.5,"));
    /* Refusals. */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s = moodle_score();
        s.score_given = bad[i].given;
        s.score_maximum = bad[i].max;
        s.activity_progress = bad[i].activity;
        s.grading_progress = bad[i].grading;
        assert_int_equal(lti_ags_score_request(p, MOODLE_SCORES, "t", &s, &req, &err),
                         bad[i].want);
        assert_string_equal(err.reason, bad[i].reason);
        assert_null(req.body);
    }
    s = moodle_score();
    s.comment = "caf\xc3";
    assert_int_equal(lti_ags_score_request(p, MOODLE_SCORES, "t", &s, &req, &err),
                     LTI_ERR_MALFORMED);
    assert_string_equal(err.reason, "ags_bad_text");
    s.comment = apr_pstrcat(p, apr_psprintf(p, "%4096d", 1), "x", NULL);
    assert_int_equal(lti_ags_score_request(p, MOODLE_SCORES, "t", &s, &req, &err),
                     LTI_ERR_MALFORMED);
    s = moodle_score();
    s.user_id = "";
    assert_int_equal(lti_ags_score_request(p, MOODLE_SCORES, "t", &s, &req, &err),
                     LTI_ERR_MISSING);
    s = moodle_score();
    assert_int_equal(lti_ags_score_request(p, MOODLE_SCORES, NULL, &s, &req, &err),
                     LTI_ERR_MISSING);
    assert_int_equal(lti_ags_score_request(p, "scores", "t", &s, &req, &err),
                     LTI_ERR_MALFORMED);
}

static void test_classify(void **state)
{
    static const struct {
        long status;
        lti_ags_outcome_t outcome;
        const char *reason;
    } table[] = {
        {200, LTI_AGS_DONE, "ags_done"},
        {201, LTI_AGS_DONE, "ags_done"},
        {204, LTI_AGS_DONE, "ags_done"},
        {401, LTI_AGS_REAUTH, "ags_unauthorized"},
        {408, LTI_AGS_RETRY, "ags_timeout"},
        {429, LTI_AGS_RETRY, "ags_rate_limited"},
        {500, LTI_AGS_RETRY, "ags_server_error"},
        {502, LTI_AGS_RETRY, "ags_server_error"},
        {503, LTI_AGS_RETRY, "ags_server_error"},
        {504, LTI_AGS_RETRY, "ags_server_error"},
        {0, LTI_AGS_RETRY, "ags_network"},
        {400, LTI_AGS_FINAL, "ags_not_gradable"},
        {409, LTI_AGS_FINAL, "ags_timestamp_conflict"},
        {403, LTI_AGS_FINAL, "ags_forbidden"},
        {404, LTI_AGS_FINAL, "ags_not_found"},
        {410, LTI_AGS_FINAL, "ags_not_found"},
        {302, LTI_AGS_FINAL, "ags_redirect"},
        {405, LTI_AGS_FINAL, "ags_refused"},
        {422, LTI_AGS_FINAL, "ags_refused"},
        {100, LTI_AGS_FINAL, "ags_refused"},
        {600, LTI_AGS_FINAL, "ags_refused"},
    };
    const char *reason;

    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        reason = NULL;
        assert_int_equal(lti_ags_classify(table[i].status, &reason), table[i].outcome);
        assert_string_equal(reason, table[i].reason);
    }
    assert_int_equal(lti_ags_classify(409, NULL), LTI_AGS_FINAL);
    assert_string_equal(lti_ags_outcome_name(LTI_AGS_DONE), "done");
    assert_string_equal(lti_ags_outcome_name(LTI_AGS_REAUTH), "reauth");
    assert_string_equal(lti_ags_outcome_name(LTI_AGS_RETRY), "retry");
    assert_string_equal(lti_ags_outcome_name(LTI_AGS_FINAL), "final");
}

/* Every prefix of Moodle's answers, and each with one byte changed: the parsers answer
 * LTI_OK or an error, never read past len (ASan) and never accept a cut-off token. */
static void test_parsers_truncated(void **state)
{
    apr_pool_t *p;
    static const char *const bodies[] = {MOODLE_TOKEN_BODY, MOODLE_CONTAINER,
                                         "{\"id\":\"https://lms/li/7\"}"};

    apr_pool_create(&p, *state);
    for (size_t b = 0; b < sizeof(bodies) / sizeof(bodies[0]); b++) {
        size_t n = strlen(bodies[b]);

        for (size_t len = 0; len <= n; len++) {
            char *cut = apr_pstrmemdup(p, bodies[b], len);
            char *buf = malloc(len ? len : 1);   /* exactly len bytes, no NUL after them */
            lti_ags_token_t tok;
            const char *url;
            lti_status_t st;

            memcpy(buf, cut, len);
            st = lti_ags_token_parse(p, 200, "text/html", buf, len, NOW, &tok, NULL);
            if (st == LTI_OK) {
                assert_int_equal(b, 0);
                assert_int_equal(len, n);
            }
            lti_ags_lineitems_find_parse(p, 200, NULL, buf, len, "2", NULL, &url, NULL);
            if (url != NULL) {
                assert_true(len >= n - 1);
            }
            lti_ags_lineitem_create_parse(p, 200, NULL, buf, len, &url, NULL);
            if (len < n && len > 0) {
                buf[len / 2] ^= 0x20;
                lti_ags_token_parse(p, 200, NULL, buf, len, NOW, &tok, NULL);
                lti_ags_lineitems_find_parse(p, 200, NULL, buf, len, NULL, NULL, &url, NULL);
                lti_ags_lineitem_create_parse(p, 200, NULL, buf, len, &url, NULL);
            }
            free(buf);
        }
        apr_pool_clear(p);
    }
    apr_pool_destroy(p);
}

/* ---- lti_ags_send_score against a stub platform ---- */

/* The stub platform: POST /token hands out tok1, tok2 ...; the scores paths answer by their
 * first segment: /ok 200, /once401 401 the first time then 200, /always401, /conflict 409,
 * /busy 500; /badtoken refuses the client (401 invalid_client). */
typedef struct platform_t {
    srv_t *srv;
    int tokens, scores, once401, lineitems;
    char last_bearer[64];        /* on the last scores request */
    char last_score[2048];       /* its body */
    char answer[1024];
} platform_t;

static const char *reply(platform_t *pf, const char *status, const char *type,
                         const char *body)
{
    snprintf(pf->answer, sizeof(pf->answer), "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
             "Connection: close\r\nContent-Length: %zu\r\n\r\n%s", status, type, strlen(body),
             body);
    return pf->answer;
}

/* Line item containers: /c-has holds the tool's item, /c-empty none (a POST creates one),
 * /c-401 refuses the first token, /c-busy answers 503. */
static const char *container_answer(platform_t *pf, const char *path, const char *head,
                                    const char *body, const char *auth)
{
    const char *query = "/lineitems?type_id=2&resource_link_id=2&tag=ptech";
    char json[512];

    pf->lineitems++;
    if (auth == NULL) {
        return reply(pf, "401 Unauthorized", "application/json", "{}");
    }
    snprintf(pf->last_bearer, sizeof(pf->last_bearer), "%.*s", (int)strcspn(auth + 24, "\r"),
             auth + 24);
    if (strncmp(head, "POST ", 5) == 0) {
        if (strcmp(path, "/c-empty/lineitems?type_id=2") != 0
            || strstr(head, "\r\nContent-Type: application/vnd.ims.lis.v2.lineitem+json\r\n")
                   == NULL) {
            return reply(pf, "400 Bad Request", "text/html", "no");
        }
        snprintf(pf->last_score, sizeof(pf->last_score), "%s", body);
        snprintf(json, sizeof(json), "{\"id\":\"http:\\/\\/127.0.0.1:%d\\/c-empty"
                 "\\/lineitems\\/9\\/lineitem?type_id=2\",\"label\":\"x\","
                 "\"scoreMaximum\":100}", pf->srv->port);
        return reply(pf, "201 Created", LTI_AGS_TYPE_LINEITEM, json);
    }
    if (strstr(head, "\r\nAccept: " LTI_AGS_TYPE_LINEITEMS "\r\n") == NULL
        || strcmp(strchr(path + 1, '/'), query) != 0) {
        return reply(pf, "400 Bad Request", "text/html", "no");
    }
    if (strncmp(path, "/c-busy/", 8) == 0) {
        return reply(pf, "503 Service Unavailable", "text/html", "later");
    }
    if (strncmp(path, "/c-401/", 7) == 0 && pf->once401++ == 0) {
        return reply(pf, "401 Unauthorized", "application/json", "{}");
    }
    if (strncmp(path, "/c-empty/", 9) == 0) {
        return reply(pf, "200 OK", LTI_AGS_TYPE_LINEITEMS, "[]");
    }
    return reply(pf, "200 OK", LTI_AGS_TYPE_LINEITEMS,
                 "[{\"id\":\"https://lms.example/li/4\",\"label\":\"P-Tech\","
                 "\"tag\":\"ptech\",\"resourceLinkId\":\"2\",\"scoreMaximum\":100}]");
}

/* Called by the server thread with srv->mu held and last_head just set. */
static const char *platform_answer(void *baton, const char *path)
{
    platform_t *pf = baton;
    const char *head = pf->srv->last_head, *body = strstr(head, "\r\n\r\n");
    const char *auth = strstr(head, "\r\nAuthorization: Bearer ");
    char json[256];

    body = body ? body + 4 : "";
    if (strcmp(path, "/token") == 0 || strcmp(path, "/badtoken") == 0) {
        if (strncmp(head, "POST ", 5) != 0 || auth != NULL
            || strstr(head, "\r\nContent-Type: application/x-www-form-urlencoded\r\n") == NULL
            || strncmp(body, "grant_type=client_credentials&", 30) != 0
            || strstr(body, "&client_assertion=ey") == NULL) {
            return reply(pf, "400 Bad Request", "application/json",
                         "{\"error\":\"invalid_request\"}");
        }
        if (strcmp(path, "/badtoken") == 0) {
            return reply(pf, "401 Unauthorized", "application/json",
                         "{\"error\":\"invalid_client\"}");
        }
        /* Moodle's shape: JSON labelled text/html. */
        snprintf(json, sizeof(json), "{\n  \"access_token\" : \"tok%d\",\n  \"token_type\" : "
                 "\"Bearer\",\n  \"expires_in\" : 3600,\n  \"scope\" : \"%s\"\n}", ++pf->tokens,
                 LTI_AGS_SCOPE_SCORE);
        return reply(pf, "200 OK", "text/html; charset=utf-8", json);
    }
    if (strncmp(path, "/c-", 3) == 0) {
        return container_answer(pf, path, head, body, auth);
    }
    if (strstr(path, "/lineitem/scores?type_id=2") == NULL || strncmp(head, "POST ", 5) != 0
        || strstr(head, "\r\nContent-Type: application/vnd.ims.lis.v1.score+json\r\n") == NULL) {
        return reply(pf, "404 Not Found", "text/html", "no");
    }
    pf->scores++;
    pf->last_bearer[0] = '\0';
    if (auth != NULL) {
        sscanf(auth + 24, "%63[^\r]", pf->last_bearer);
    }
    snprintf(pf->last_score, sizeof(pf->last_score), "%s", body);
    if (strncmp(path, "/ok/", 4) == 0
        || (strncmp(path, "/once401/", 9) == 0 && pf->once401++ > 0)) {
        return reply(pf, "200 OK", "application/vnd.ims.lis.v1.score+json; charset=utf-8", "");
    }
    if (strncmp(path, "/once401/", 9) == 0 || strncmp(path, "/always401/", 11) == 0) {
        return reply(pf, "401 Unauthorized", "application/json", "{\"error\":\"expired\"}");
    }
    if (strncmp(path, "/conflict/", 10) == 0) {
        return reply(pf, "409 Conflict", "application/json",
                     "{\"status\":409,\"reason\":\"Refusing score with an earlier timestamp\"}");
    }
    if (strncmp(path, "/busy/", 6) == 0) {
        return reply(pf, "500 Internal Server Error", "text/html", "<html>oops</html>");
    }
    return reply(pf, "404 Not Found", "text/html", "no");
}

/* A snapshot of the stub platform's counters. */
static platform_t seen(platform_t *pf)
{
    platform_t copy;

    pthread_mutex_lock(&pf->srv->mu);
    copy = *pf;
    pthread_mutex_unlock(&pf->srv->mu);
    return copy;
}

static void test_send_score(void **state)
{
    apr_pool_t *p;
    srv_t srv;
    platform_t stub, now;
    lti_ags_cache_t *cache;
    lti_ags_platform_t pf;
    lti_ags_result_t res;
    lti_ags_score_t s = moodle_score();
    lti_http_opts_t opts;
    lti_err_t err;
    const char *base;
    json_t *doc;
    int before;

    apr_pool_create(&p, *state);
    memset(&stub, 0, sizeof(stub));
    stub.srv = &srv;
    srv_start(&srv, platform_answer, &stub);
    base = apr_psprintf(p, "http://127.0.0.1:%d", srv.port);
    memset(&opts, 0, sizeof(opts));
    opts.timeout = 5;
    opts.allow_insecure_loopback = 1;
    opts.max_bytes = 4096;
    memset(&pf, 0, sizeof(pf));
    pf.id = "lti13:http://127.0.0.1:8081#" CLIENT_ID;
    pf.token_url = apr_pstrcat(p, base, "/token", NULL);
    pf.client_id = CLIENT_ID;
    pf.kid = key.kid;
    pf.private_pem = key.private_pem;
    assert_int_equal(lti_ags_cache_create(0, &cache, NULL), LTI_OK);

    /* A token, then the score; the score as Moodle's exchange shows it. */
    assert_int_equal(lti_ags_send_score(p, cache, &pf,
                                        apr_pstrcat(p, base, "/ok/lineitem/scores?type_id=2",
                                                    NULL),
                                        &s, NOW, &opts, &res, &err),
                     LTI_OK);
    assert_int_equal(res.outcome, LTI_AGS_DONE);
    assert_string_equal(res.reason, "ags_done");
    assert_int_equal(res.status, 200);
    assert_int_equal(res.tokens_fetched, 1);
    now = seen(&stub);
    assert_int_equal(now.tokens, 1);
    assert_int_equal(now.scores, 1);
    assert_string_equal(now.last_bearer, "tok1");
    doc = json_loads(now.last_score, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "userId")), "3");
    assert_string_equal(json_string_value(json_object_get(doc, "gradingProgress")),
                        "FullyGraded");
    assert_string_equal(json_string_value(json_object_get(doc, "timestamp")),
                        "2026-11-29T18:19:46.123Z");
    json_decref(doc);

    /* The cached token is used: no token request. */
    assert_int_equal(lti_ags_send_score(p, cache, &pf,
                                        apr_pstrcat(p, base, "/ok/lineitem/scores?type_id=2",
                                                    NULL),
                                        &s, NOW + 10, &opts, &res, &err),
                     LTI_OK);
    assert_int_equal(res.tokens_fetched, 0);
    now = seen(&stub);
    assert_int_equal(now.tokens, 1);
    assert_string_equal(now.last_bearer, "tok1");

    /* 401 once then 200: exactly one new token, and the score sent again with it. */
    assert_int_equal(lti_ags_send_score(p, cache, &pf,
                                        apr_pstrcat(p, base,
                                                    "/once401/lineitem/scores?type_id=2", NULL),
                                        &s, NOW + 20, &opts, &res, &err),
                     LTI_OK);
    assert_int_equal(res.outcome, LTI_AGS_DONE);
    assert_int_equal(res.tokens_fetched, 1);
    now = seen(&stub);
    assert_int_equal(now.tokens, 2);
    assert_int_equal(now.scores, 4);
    assert_string_equal(now.last_bearer, "tok2");
    assert_string_equal(lti_ags_cache_get(cache, p, pf.id, LTI_AGS_SCOPE_SCORE, NOW + 20),
                        "tok2");

    /* 401 with a fresh token too: one re-token only, then retry later. */
    assert_int_equal(lti_ags_send_score(p, cache, &pf,
                                        apr_pstrcat(p, base,
                                                    "/always401/lineitem/scores?type_id=2",
                                                    NULL),
                                        &s, NOW + 30, &opts, &res, &err),
                     LTI_ERR_UPSTREAM);
    assert_int_equal(res.outcome, LTI_AGS_RETRY);
    assert_string_equal(res.reason, "ags_unauthorized");
    assert_int_equal(res.status, 401);
    assert_int_equal(res.tokens_fetched, 1);
    now = seen(&stub);
    assert_int_equal(now.tokens, 3);
    assert_int_equal(now.scores, 6);
    assert_null(strstr(err.text, "tok"));

    /* 409: final, no new token. */
    assert_int_equal(lti_ags_send_score(p, cache, &pf,
                                        apr_pstrcat(p, base,
                                                    "/conflict/lineitem/scores?type_id=2", NULL),
                                        &s, NOW + 40, &opts, &res, &err),
                     LTI_ERR_UPSTREAM);
    assert_int_equal(res.outcome, LTI_AGS_FINAL);
    assert_string_equal(res.reason, "ags_timestamp_conflict");
    assert_string_equal(err.reason, "ags_timestamp_conflict");
    assert_int_equal(res.status, 409);
    now = seen(&stub);
    assert_int_equal(now.tokens, 4);    /* the always401 case dropped its token */
    assert_int_equal(now.scores, 7);

    /* 500: retry later, the token kept. */
    assert_int_equal(lti_ags_send_score(p, cache, &pf,
                                        apr_pstrcat(p, base, "/busy/lineitem/scores?type_id=2",
                                                    NULL),
                                        &s, NOW + 50, &opts, &res, &err),
                     LTI_ERR_UPSTREAM);
    assert_int_equal(res.outcome, LTI_AGS_RETRY);
    assert_string_equal(res.reason, "ags_server_error");
    assert_int_equal(res.tokens_fetched, 0);
    assert_int_equal(seen(&stub).scores, 8);

    /* A token endpoint that refuses the client: retry later, no score sent. */
    pf.id = "other";
    pf.token_url = apr_pstrcat(p, base, "/badtoken", NULL);
    assert_int_equal(lti_ags_send_score(p, cache, &pf,
                                        apr_pstrcat(p, base, "/ok/lineitem/scores?type_id=2",
                                                    NULL),
                                        &s, NOW, &opts, &res, &err),
                     LTI_ERR_UPSTREAM);
    assert_int_equal(res.outcome, LTI_AGS_RETRY);
    assert_string_equal(res.reason, "ags_token_refused");
    assert_non_null(strstr(err.text, "invalid_client"));
    assert_int_equal(seen(&stub).scores, 8);

    /* No answer at all (a closed port): retry later. */
    pf.token_url = apr_pstrcat(p, base, "/token", NULL);
    assert_int_equal(lti_ags_send_score(p, NULL, &pf,
                                        "http://127.0.0.1:1/ok/lineitem/scores?type_id=2", &s,
                                        NOW, &opts, &res, &err),
                     LTI_ERR_UPSTREAM);
    assert_int_equal(res.outcome, LTI_AGS_RETRY);
    assert_int_equal(res.status, 0);

    /* A score that cannot be built, or a URL never allowed: final, nothing sent. */
    before = srv_requests(&srv);
    s.grading_progress = "Graded";
    assert_int_equal(lti_ags_send_score(p, cache, &pf,
                                        apr_pstrcat(p, base, "/ok/lineitem/scores?type_id=2",
                                                    NULL),
                                        &s, NOW, &opts, &res, &err),
                     LTI_ERR_MALFORMED);
    assert_int_equal(res.outcome, LTI_AGS_FINAL);
    assert_string_equal(res.reason, "ags_bad_progress");
    s = moodle_score();
    opts.allow_insecure_loopback = 0;
    assert_int_equal(lti_ags_send_score(p, cache, &pf,
                                        apr_pstrcat(p, base, "/ok/lineitem/scores?type_id=2",
                                                    NULL),
                                        &s, NOW, &opts, &res, &err),
                     LTI_ERR_FORBIDDEN);
    assert_int_equal(res.outcome, LTI_AGS_FINAL);
    assert_int_equal(res.tokens_fetched, 0);
    assert_int_equal(srv_requests(&srv), before);

    lti_ags_cache_destroy(cache);
    srv_stop(&srv);
    apr_pool_destroy(p);
}

static void test_lineitem_resolve(void **state)
{
    apr_pool_t *p;
    srv_t srv;
    platform_t stub, now;
    lti_ags_cache_t *cache;
    lti_ags_platform_t pf;
    lti_ags_result_t res;
    lti_ags_claim_t claim;
    lti_ags_lineitem_t li = {"Cybersécurité", "PT-CYB-101", "ptech", "2"};
    lti_http_opts_t opts;
    lti_err_t err;
    const char *base, *url;

    apr_pool_create(&p, *state);
    memset(&stub, 0, sizeof(stub));
    stub.srv = &srv;
    srv_start(&srv, platform_answer, &stub);
    base = apr_psprintf(p, "http://127.0.0.1:%d", srv.port);
    memset(&opts, 0, sizeof(opts));
    opts.timeout = 5;
    opts.allow_insecure_loopback = 1;
    opts.max_bytes = 4096;
    memset(&pf, 0, sizeof(pf));
    pf.id = "pf";
    pf.token_url = apr_pstrcat(p, base, "/token", NULL);
    pf.client_id = CLIENT_ID;
    pf.kid = key.kid;
    pf.private_pem = key.private_pem;
    assert_int_equal(lti_ags_cache_create(0, &cache, NULL), LTI_OK);
    assert_int_equal(lti_ags_claim_parse(p, moodle_claim(p), &claim, &err), LTI_OK);
    assert_string_equal(lti_ags_token_scopes(p, &claim),
                        LTI_AGS_SCOPE_SCORE " " LTI_AGS_SCOPE_LINEITEM " "
                        LTI_AGS_SCOPE_LINEITEM_READONLY);

    /* The launch's line item: no request at all. */
    assert_int_equal(lti_ags_lineitem_resolve(p, cache, &pf, &claim, &li, NOW, &opts, &url,
                                              &res, &err),
                     LTI_OK);
    assert_string_equal(url, MOODLE_LINEITEM);
    assert_int_equal(srv_requests(&srv), 0);

    /* Found in the container (one token, one GET with the filters). */
    claim.lineitem = NULL;
    claim.lineitems = apr_pstrcat(p, base, "/c-has/lineitems?type_id=2", NULL);
    assert_int_equal(lti_ags_lineitem_resolve(p, cache, &pf, &claim, &li, NOW, &opts, &url,
                                              &res, &err),
                     LTI_OK);
    assert_string_equal(url, "https://lms.example/li/4");
    assert_int_equal(res.outcome, LTI_AGS_DONE);
    assert_int_equal(res.tokens_fetched, 1);
    now = seen(&stub);
    assert_int_equal(now.tokens, 1);
    assert_int_equal(now.lineitems, 1);
    assert_string_equal(now.last_bearer, "tok1");

    /* None there: created, with the token cached for these scopes. */
    claim.lineitems = apr_pstrcat(p, base, "/c-empty/lineitems?type_id=2", NULL);
    assert_int_equal(lti_ags_lineitem_resolve(p, cache, &pf, &claim, &li, NOW, &opts, &url,
                                              &res, &err),
                     LTI_OK);
    assert_string_equal(url, apr_pstrcat(p, base, "/c-empty/lineitems/9/lineitem?type_id=2",
                                         NULL));
    assert_int_equal(res.tokens_fetched, 0);
    now = seen(&stub);
    assert_int_equal(now.lineitems, 3);
    assert_string_equal(now.last_score, "{\"label\":\"Cybersécurité\",\"scoreMaximum\":100,"
                                        "\"resourceId\":\"PT-CYB-101\",\"tag\":\"ptech\","
                                        "\"resourceLinkId\":\"2\"}");
    /* ... but not without the lineitem scope. */
    claim.scope = LTI_AGS_SCOPE_SCORE " " LTI_AGS_SCOPE_LINEITEM_READONLY;
    assert_int_equal(lti_ags_lineitem_resolve(p, cache, &pf, &claim, &li, NOW, &opts, &url,
                                              &res, &err),
                     LTI_ERR_FORBIDDEN);
    assert_int_equal(res.outcome, LTI_AGS_FINAL);
    assert_string_equal(res.reason, "ags_no_lineitem_scope");
    assert_null(url);
    assert_int_equal(seen(&stub).tokens, 2);     /* another scope set, another token */

    /* 401 on the search: one new token, then found. */
    assert_int_equal(lti_ags_claim_parse(p, moodle_claim(p), &claim, &err), LTI_OK);
    claim.lineitem = NULL;
    claim.lineitems = apr_pstrcat(p, base, "/c-401/lineitems?type_id=2", NULL);
    assert_int_equal(lti_ags_lineitem_resolve(p, cache, &pf, &claim, &li, NOW, &opts, &url,
                                              &res, &err),
                     LTI_OK);
    assert_string_equal(url, "https://lms.example/li/4");
    assert_int_equal(res.tokens_fetched, 1);
    now = seen(&stub);
    assert_int_equal(now.tokens, 3);
    assert_string_equal(now.last_bearer, "tok3");

    /* 503: retry later. */
    claim.lineitems = apr_pstrcat(p, base, "/c-busy/lineitems?type_id=2", NULL);
    assert_int_equal(lti_ags_lineitem_resolve(p, cache, &pf, &claim, &li, NOW, &opts, &url,
                                              &res, &err),
                     LTI_ERR_UPSTREAM);
    assert_int_equal(res.outcome, LTI_AGS_RETRY);
    assert_string_equal(res.reason, "ags_server_error");
    assert_int_equal(res.status, 503);

    /* No score scope: final, nothing asked. */
    claim.scope = LTI_AGS_SCOPE_LINEITEM;
    assert_int_equal(lti_ags_lineitem_resolve(p, cache, &pf, &claim, &li, NOW, &opts, &url,
                                              &res, &err),
                     LTI_ERR_FORBIDDEN);
    assert_int_equal(res.outcome, LTI_AGS_FINAL);
    assert_string_equal(res.reason, "ags_no_score_scope");

    lti_ags_cache_destroy(cache);
    srv_stop(&srv);
    apr_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_request),
        cmocka_unit_test(test_token_parse),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_cache_threads),
        cmocka_unit_test(test_claim_choose),
        cmocka_unit_test(test_lineitems_find),
        cmocka_unit_test(test_lineitem_create),
        cmocka_unit_test(test_scores_url),
        cmocka_unit_test(test_timestamp),
        cmocka_unit_test(test_score_request),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_parsers_truncated),
        cmocka_unit_test(test_send_score),
        cmocka_unit_test(test_lineitem_resolve),
    };

    return cmocka_run_group_tests(tests, group_setup, unit_group_teardown);
}
