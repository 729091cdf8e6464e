/* test_pox.c -- LTI 1.1 Basic Outcomes: requests as Moodle 4.5 receives them, the OAuth
 * body hash and signature (the captured exchanges as vectors), responses parsed from the
 * captures, and the refusals (DOCTYPE, external entities, billion laughs, namespaces,
 * sizes, a failure answered with HTTP 200). */
#include <apr_file_io.h>

#include "unit.h"

#define MOODLE_URL "http://127.0.0.1:8081/mod/lti/service.php"
#define SOURCEDID "{\"data\":{\"instanceid\":\"1\",\"userid\":\"3\",\"typeid\":\"1\"," \
                  "\"launchid\":22579295},\"hash\":\"60d0a5e293d778465a7cc3db10b53f715e02" \
                  "db84013e32d1bffe0b97cfb88ea4\"}"

typedef struct capture_t {
    const char *authorization, *body, *response;
} capture_t;

/* Splits a capture file: the request's Authorization header and body, the response body. */
static capture_t capture(apr_pool_t *p, const char *name)
{
    capture_t c;
    char *buf, *req_body, *resp, *auth, *end;
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t n;

    assert_int_equal(apr_file_open(&f, unit_fixture(p, name), APR_FOPEN_READ, 0, p),
                     APR_SUCCESS);
    apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    n = (apr_size_t)fi.size;
    buf = apr_pcalloc(p, n + 1);
    assert_int_equal(apr_file_read_full(f, buf, n, &n), APR_SUCCESS);
    apr_file_close(f);
    resp = strstr(buf, "\n=== RESPONSE HTTP 200\n");
    assert_non_null(resp);
    *resp = '\0';
    resp += strlen("\n=== RESPONSE HTTP 200\n");
    for (end = resp + strlen(resp); end > resp && end[-1] == '\n'; end--) {
        end[-1] = '\0';
    }
    req_body = strstr(buf, "\n\n");
    assert_non_null(req_body);
    *req_body = '\0';
    req_body += 2;
    for (end = req_body + strlen(req_body); end > req_body && end[-1] == '\n'; end--) {
        end[-1] = '\0';
    }
    auth = strstr(buf, "Authorization: ");
    assert_non_null(auth);
    auth += strlen("Authorization: ");
    *strchr(auth, '\n') = '\0';
    c.authorization = auth;
    c.body = req_body;
    c.response = resp;
    return c;
}

/* The parameters of an "OAuth k=\"v\", ..." header, decoded (lti_oauth1_parse_header, as
 * the demo LMS reads the tool's requests). */
static apr_array_header_t *auth_params(apr_pool_t *p, const char *h)
{
    apr_array_header_t *kv = lti_kv_make(p, 8);
    lti_err_t err;

    assert_int_equal(lti_oauth1_parse_header(p, h, kv, &err), LTI_OK);
    assert_int_equal(kv->nelts, 7);
    return kv;
}

static void test_capture_body_hash_and_signature(void **state)
{
    apr_pool_t *p = *state;
    static const char *const names[] = {"lti11-outcome-replaceResult.txt",
                                        "lti11-outcome-readResult.txt",
                                        "lti11-outcome-wrong-secret.txt"};
    lti_err_t err;

    for (int i = 0; i < 3; i++) {
        capture_t c = capture(p, names[i]);
        apr_array_header_t *kv = auth_params(p, c.authorization);

        assert_string_equal(lti_oauth1_body_hash(p, c.body, strlen(c.body)),
                            lti_kv_get(kv, "oauth_body_hash"));
        assert_int_equal(lti_oauth1_verify(p, "POST", MOODLE_URL, kv, "lab-secret", &err),
                         i < 2 ? LTI_OK : LTI_ERR_SIGNATURE);
    }
}

/* Drops the line breaks and indentation between elements. */
static const char *squeeze(apr_pool_t *p, const char *s)
{
    char *out = apr_pstrdup(p, s), *o = out;

    for (const char *c = s; *c; c++) {
        if (*c == '\n') {
            while (c[1] == ' ') {
                c++;
            }
            continue;
        }
        *o++ = *c;
    }
    *o = '\0';
    return out;
}

static void test_request_as_moodle_gets_it(void **state)
{
    apr_pool_t *p = *state;
    capture_t c = capture(p, "lti11-outcome-replaceResult.txt");
    capture_t r = capture(p, "lti11-outcome-readResult.txt");
    lti_err_t err;
    const char *body;

    body = lti_pox_request(p, LTI_POX_REPLACE, SOURCEDID, 0.85, "msg6b0c6caedb7bb", &err);
    assert_non_null(body);
    /* Byte for byte the request Moodle received, but for its white space between tags. */
    assert_string_equal(squeeze(p, body), squeeze(p, c.body));
    body = lti_pox_request(p, LTI_POX_READ, SOURCEDID, 0, "msg6b0c6cb1459df", &err);
    assert_string_equal(squeeze(p, body), squeeze(p, r.body));
    body = lti_pox_request(p, LTI_POX_DELETE, "a<b&c", 0, "m1", &err);
    assert_non_null(strstr(body, "<deleteResultRequest><resultRecord><sourcedGUID><sourcedId>"
                                 "a&lt;b&amp;c</sourcedId></sourcedGUID></resultRecord>"));
    assert_null(strstr(body, "<result>"));
    /* Scores: within 0..1, four decimals at most, no trailing zeros. */
    assert_non_null(strstr(lti_pox_request(p, LTI_POX_REPLACE, "s", 1, "m", &err),
                           "<textString>1.0</textString>"));
    assert_non_null(strstr(lti_pox_request(p, LTI_POX_REPLACE, "s", 0, "m", &err),
                           "<textString>0.0</textString>"));
    assert_non_null(strstr(lti_pox_request(p, LTI_POX_REPLACE, "s", 0.15083, "m", &err),
                           "<textString>0.1508</textString>"));
    assert_null(lti_pox_request(p, LTI_POX_REPLACE, "s", 1.01, "m", &err));
    assert_string_equal(err.reason, "pox_score");
    assert_null(lti_pox_request(p, LTI_POX_REPLACE, "s", -0.1, "m", &err));
    assert_null(lti_pox_request(p, LTI_POX_REPLACE, "s", 0.0 / 0.0, "m", &err));
    assert_null(lti_pox_request(p, LTI_POX_REPLACE, NULL, 0.5, "m", &err));
}

static void test_sign(void **state)
{
    apr_pool_t *p = *state;
    const char *body = "<x/>", *h1, *h2;
    apr_array_header_t *kv;
    lti_err_t err;
    const char *url = "https://moodle.example.org/mod/lti/service.php?x=1";

    assert_int_equal(lti_pox_sign(p, url, body, strlen(body), "lab-key", "lab-secret",
                                  1795976366, &h1, &err), LTI_OK);
    assert_int_equal(lti_pox_sign(p, url, body, strlen(body), "lab-key", "lab-secret",
                                  1795976366, &h2, &err), LTI_OK);
    assert_true(strncmp(h1, "OAuth oauth_body_hash=\"", 23) == 0);
    kv = auth_params(p, h1);
    assert_string_equal(lti_kv_get(kv, "oauth_body_hash"), lti_oauth1_body_hash(p, body, 4));
    assert_string_equal(lti_kv_get(kv, "oauth_consumer_key"), "lab-key");
    assert_string_equal(lti_kv_get(kv, "oauth_timestamp"), "1795976366");
    assert_string_equal(lti_kv_get(kv, "oauth_signature_method"), "HMAC-SHA1");
    assert_int_equal(lti_oauth1_verify(p, "POST", url, kv, "lab-secret", &err), LTI_OK);
    assert_int_equal(lti_oauth1_verify(p, "POST", url, kv, "other", &err), LTI_ERR_SIGNATURE);
    /* A fresh nonce every time. */
    assert_string_not_equal(lti_kv_get(kv, "oauth_nonce"),
                            lti_kv_get(auth_params(p, h2), "oauth_nonce"));
}

static void test_parse_captures(void **state)
{
    apr_pool_t *p = *state;
    lti_pox_resp_t r;
    lti_err_t err;
    capture_t c = capture(p, "lti11-outcome-replaceResult.txt");

    assert_int_equal(lti_pox_parse(p, c.response, strlen(c.response), &r, &err), LTI_OK);
    assert_string_equal(r.code_major, "success");
    assert_string_equal(r.message_ref, "msg6b0c6caedb7bb");
    assert_string_equal(r.operation_ref, "replaceResultRequest");
    assert_int_equal(lti_pox_check(&r, LTI_POX_REPLACE, &err), LTI_OK);
    c = capture(p, "lti11-outcome-readResult.txt");
    assert_int_equal(lti_pox_parse(p, c.response, strlen(c.response), &r, &err), LTI_OK);
    assert_true(r.has_score && r.score == 0.85);
    assert_int_equal(lti_pox_check(&r, LTI_POX_READ, &err), LTI_OK);
    /* Moodle answers a bad signature with HTTP 200 and codeMajor failure. */
    c = capture(p, "lti11-outcome-wrong-secret.txt");
    assert_int_equal(lti_pox_parse(p, c.response, strlen(c.response), &r, &err), LTI_OK);
    assert_string_equal(r.code_major, "failure");
    assert_int_equal(lti_pox_check(&r, LTI_POX_REPLACE, &err), LTI_ERR_UPSTREAM);
    assert_string_equal(err.reason, "pox_failure");
    assert_string_equal(err.text, "the LMS answered failure to replaceResultRequest: "
                                  "Message signature not valid");
}

#define RESP_HEAD "<imsx_POXEnvelopeResponse xmlns=\"" LTI_POX_NS "\"><imsx_POXHeader>" \
                  "<imsx_POXResponseHeaderInfo><imsx_statusInfo><imsx_codeMajor>"
#define RESP_TAIL "</imsx_codeMajor></imsx_statusInfo></imsx_POXResponseHeaderInfo>" \
                  "</imsx_POXHeader><imsx_POXBody/></imsx_POXEnvelopeResponse>"

static void test_refusals(void **state)
{
    apr_pool_t *p = *state;
    static const struct {
        const char *xml, *reason;
    } cases[] = {
        {"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
         RESP_HEAD "&x;" RESP_TAIL, "pox_doctype"},
        {"<!DOCTYPE lolz [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">"
         "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>" RESP_HEAD "&c;" RESP_TAIL,
         "pox_doctype"},
        {"<!doctype x SYSTEM \"http://evil.example/x.dtd\">" RESP_HEAD "success" RESP_TAIL,
         "pox_doctype"},
        {RESP_HEAD "&xxe;" RESP_TAIL, "pox_syntax"},
        {"not xml at all", "pox_syntax"},
        {RESP_HEAD "success", "pox_syntax"},
        {"<imsx_POXEnvelopeResponse xmlns=\"http://example.org/other\"><imsx_POXHeader>"
         "<imsx_POXResponseHeaderInfo><imsx_statusInfo><imsx_codeMajor>success" RESP_TAIL,
         "pox_namespace"},
        {"<imsx_POXEnvelopeResponse><imsx_POXHeader><imsx_POXResponseHeaderInfo>"
         "<imsx_statusInfo><imsx_codeMajor>success" RESP_TAIL, "pox_namespace"},
        {"<imsx_POXEnvelopeRequest xmlns=\"" LTI_POX_NS "\"/>", "pox_namespace"},
        {"<imsx_POXEnvelopeResponse xmlns=\"" LTI_POX_NS "\"/>", "pox_no_status"},
        {"", "pox_syntax"},
    };
    lti_pox_resp_t r;
    lti_err_t err;
    char *big;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lti_err_clear(&err);
        assert_int_not_equal(lti_pox_parse(p, cases[i].xml, strlen(cases[i].xml), &r, &err),
                             LTI_OK);
        if (strcmp(err.reason, cases[i].reason) != 0) {
            fail_msg("case %d: %s instead of %s", (int)i, err.reason, cases[i].reason);
        }
    }
    /* A codeMajor in another namespace is no status; the right one is. */
    assert_int_equal(lti_pox_parse(p, RESP_HEAD "success" RESP_TAIL,
                                   strlen(RESP_HEAD "success" RESP_TAIL), &r, &err), LTI_OK);
    assert_int_equal(lti_pox_check(&r, LTI_POX_REPLACE, &err), LTI_OK);
    assert_int_equal(lti_pox_parse(p, RESP_HEAD "unsupported" RESP_TAIL,
                                   strlen(RESP_HEAD "unsupported" RESP_TAIL), &r, &err), LTI_OK);
    assert_int_equal(lti_pox_check(&r, LTI_POX_REPLACE, &err), LTI_ERR_UPSTREAM);
    big = apr_pcalloc(p, LTI_POX_MAX_BYTES + 2);
    memset(big, ' ', LTI_POX_MAX_BYTES + 1);
    assert_int_equal(lti_pox_parse(p, big, LTI_POX_MAX_BYTES + 1, &r, &err), LTI_ERR_TOO_LARGE);
}

/* The requests as an LMS (the demo) reads them: the captures Moodle received. */
static void test_parse_request(void **state)
{
    apr_pool_t *p = *state;
    capture_t c = capture(p, "lti11-outcome-replaceResult.txt");
    capture_t rd = capture(p, "lti11-outcome-readResult.txt");
    lti_pox_req_t q;
    lti_err_t err;
    const char *body;
    static const struct {
        const char *xml, *reason;
    } bad[] = {
        {"<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><imsx_POXEnvelopeRequest "
         "xmlns=\"" LTI_POX_NS "\">&x;</imsx_POXEnvelopeRequest>", "pox_doctype"},
        {"<imsx_POXEnvelopeRequest xmlns=\"urn:other\"/>", "pox_namespace"},
        {"<imsx_POXEnvelopeResponse xmlns=\"" LTI_POX_NS "\"/>", "pox_namespace"},
        {"<imsx_POXEnvelopeRequest xmlns=\"" LTI_POX_NS "\"><imsx_POXBody><eraseAll/>"
         "</imsx_POXBody></imsx_POXEnvelopeRequest>", "pox_operation"},
        {"<imsx_POXEnvelopeRequest xmlns=\"" LTI_POX_NS "\"><imsx_POXBody>"
         "<readResultRequest><resultRecord/></readResultRequest></imsx_POXBody>"
         "</imsx_POXEnvelopeRequest>", "pox_no_sourcedid"},
        {"<imsx_POXEnvelopeRequest", "pox_syntax"},
    };

    assert_int_equal(lti_pox_parse_request(p, c.body, strlen(c.body), &q, &err), LTI_OK);
    assert_int_equal(q.op, LTI_POX_REPLACE);
    assert_string_equal(q.operation, "replaceResultRequest");
    assert_string_equal(q.sourcedid, SOURCEDID);
    assert_string_equal(q.message_id, "msg6b0c6caedb7bb");
    assert_true(q.score > 0.8499 && q.score < 0.8501);
    assert_int_equal(lti_pox_parse_request(p, rd.body, strlen(rd.body), &q, &err), LTI_OK);
    assert_int_equal(q.op, LTI_POX_READ);
    assert_string_equal(q.sourcedid, SOURCEDID);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lti_err_clear(&err);
        assert_int_not_equal(lti_pox_parse_request(p, bad[i].xml, strlen(bad[i].xml), &q, &err),
                             LTI_OK);
        if (strcmp(err.reason, bad[i].reason) != 0) {
            fail_msg("case %d: %s instead of %s", (int)i, err.reason, bad[i].reason);
        }
    }
    /* A score out of range or not a number. */
    for (int i = 0; i < 3; i++) {
        static const char *const scores[] = {"1.5", "-0.1", "0.5x"};

        body = apr_pstrcat(p, "<imsx_POXEnvelopeRequest xmlns=\"" LTI_POX_NS "\"><imsx_POXBody>"
                           "<replaceResultRequest><resultRecord><sourcedGUID><sourcedId>s"
                           "</sourcedId></sourcedGUID><result><resultScore><textString>",
                           scores[i], "</textString></resultScore></result></resultRecord>"
                           "</replaceResultRequest></imsx_POXBody></imsx_POXEnvelopeRequest>",
                           NULL);
        assert_int_equal(lti_pox_parse_request(p, body, strlen(body), &q, &err),
                         LTI_ERR_MALFORMED);
        assert_string_equal(err.reason, "pox_score");
    }
}

/* The demo's answers: Moodle's envelope, which the tool's own parser accepts. */
static void test_response(void **state)
{
    apr_pool_t *p = *state;
    capture_t c = capture(p, "lti11-outcome-replaceResult.txt");
    lti_pox_resp_t r, moodle;
    lti_err_t err;
    const char *body = lti_pox_response(p, "success", "Grade replace response",
                                        "msg6b0c6caedb7bb", LTI_POX_REPLACE, "925514577");

    assert_non_null(body);
    assert_int_equal(lti_pox_parse(p, body, strlen(body), &r, &err), LTI_OK);
    assert_int_equal(lti_pox_parse(p, c.response, strlen(c.response), &moodle, &err), LTI_OK);
    assert_string_equal(r.code_major, moodle.code_major);
    assert_string_equal(r.severity, moodle.severity);
    assert_string_equal(r.description, moodle.description);
    assert_string_equal(r.message_ref, moodle.message_ref);
    assert_string_equal(r.operation_ref, moodle.operation_ref);
    assert_int_equal(lti_pox_check(&r, LTI_POX_REPLACE, &err), LTI_OK);
    /* Byte for byte the answer Moodle gave (the capture drops the final line break). */
    assert_string_equal(apr_pstrndup(p, body, strlen(body) - 1), c.response);
    body = lti_pox_response(p, "failure", "No such <activity>", NULL, LTI_POX_READ, "1");
    assert_int_equal(lti_pox_parse(p, body, strlen(body), &r, &err), LTI_OK);
    assert_string_equal(r.description, "No such <activity>");
    assert_string_equal(r.operation_ref, "readResultRequest");
    assert_int_equal(lti_pox_check(&r, LTI_POX_READ, &err), LTI_ERR_UPSTREAM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capture_body_hash_and_signature),
        cmocka_unit_test(test_request_as_moodle_gets_it),
        cmocka_unit_test(test_sign),
        cmocka_unit_test(test_parse_captures),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_parse_request),
        cmocka_unit_test(test_response),
    };

    lti_init();
    return cmocka_run_group_tests_name("pox", tests, unit_group_setup, unit_group_teardown);
}
