/* test_xapi.c -- the xAPI subset on conf/catalog.xml: every verb and its status, actor
 * forms, score range, ids and timestamps, malformed JSON and duplicate keys, unknown
 * activities; content links; provider secrets (salted SHA-256, a known vector), Basic
 * credentials; and recording through a real SQLite store (all or nothing, unknown actor,
 * providers and actor names). */
#include <ftw.h>
#include <sys/stat.h>

#include "unit.h"

#define BASE "https://tool.example.org"
#define NOW ((int64_t)1780000000)
#define COURSE "cybersecurity-fundamentals"
#define ACT BASE "/ptech/xapi/activities/"
#define VERB "http://adlnet.gov/expapi/verbs/"
#define ACTOR "{\"account\":{\"homePage\":\"" BASE "/ptech\",\"name\":\"abc123\"}}"

static char tmpdir[] = "/tmp/ptech-xapi-XXXXXX";

#define catalog unit_catalog

/* A statement with the given actor, verb name, object IRI and extra members ("" or
 * ",\"result\":..."). */
static const char *stmt(apr_pool_t *p, const char *actor, const char *verb, const char *obj,
                        const char *extra)
{
    return apr_psprintf(p, "{\"actor\":%s,\"verb\":{\"id\":\"%s%s\"},\"object\":{\"id\":\"%s\"}%s}",
                        actor, VERB, verb, obj, extra);
}

/* Parses text; returns the status and (on success) the first statement in *st. */
static lti_status_t parse(apr_pool_t *p, const char *text, lti_xapi_stmt_t *st, lti_err_t *err)
{
    apr_array_header_t *out = NULL;
    lti_status_t rv;

    lti_err_clear(err);
    rv = lti_xapi_parse(p, catalog(p), BASE, text, strlen(text), NOW, &out, err);
    if (rv == LTI_OK && st != NULL) {
        assert_non_null(out);
        *st = APR_ARRAY_IDX(out, 0, lti_xapi_stmt_t);
    }
    if (rv != LTI_OK) {
        assert_null(out);
    }
    return rv;
}

/* Fails unless text is refused with status and reason. */
static void refused(apr_pool_t *p, const char *text, lti_status_t status, const char *reason)
{
    lti_err_t err;
    lti_status_t rv = parse(p, text, NULL, &err);

    if (rv != status || err.reason == NULL || strcmp(err.reason, reason) != 0) {
        fail_msg("%s: got %s %s (%s), want %s %s", text, lti_status_name(rv),
                 err.reason ? err.reason : "-", err.text, lti_status_name(status), reason);
    }
}

static void test_verbs(void **state)
{
    apr_pool_t *p = *state;
    static const struct {
        const char *verb, *extra, *status;
        int has_score;
    } cases[] = {
        {"completed", "", "completed", 0},
        {"completed", ",\"result\":{\"completion\":true,\"score\":{\"scaled\":0.5}}",
         "completed", 1},
        {"passed", "", "passed", 0},
        {"passed", ",\"result\":{\"success\":true,\"score\":{\"scaled\":0.9}}", "passed", 1},
        {"failed", ",\"result\":{\"score\":{\"scaled\":0.2}}", "failed", 1},
        {"scored", ",\"result\":{\"score\":{\"scaled\":0.7}}", "in_progress", 1},
        {"scored", ",\"result\":{\"score\":{\"scaled\":0.7},\"success\":true}", "passed", 1},
        {"scored", ",\"result\":{\"score\":{\"scaled\":0.3},\"success\":false}", "failed", 1},
        {"scored", ",\"result\":{\"score\":{\"scaled\":0.7},\"completion\":true}", "completed",
         1},
        {"progressed", "", "in_progress", 0},
        {"progressed", ",\"result\":{\"completion\":false}", "in_progress", 0},
        {"progressed", ",\"result\":{\"completion\":true}", "completed", 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lti_xapi_stmt_t st;
        lti_err_t err;
        const char *text = stmt(p, ACTOR, cases[i].verb, ACT COURSE "/threat-landscape",
                                cases[i].extra);

        if (parse(p, text, &st, &err) != LTI_OK) {
            fail_msg("%s: %s", text, err.text);
        }
        assert_string_equal(st.verb, cases[i].verb);
        assert_string_equal(st.status, cases[i].status);
        assert_int_equal(st.has_score, cases[i].has_score);
        assert_string_equal(st.course_id, COURSE);
        assert_string_equal(st.module_id, "threat-landscape");
        assert_string_equal(st.actor_name, "abc123");
        assert_null(st.actor_email);
        assert_int_equal(st.at, NOW);
    }
    /* Other verbs, other vocabularies, contradictions. */
    refused(p, stmt(p, ACTOR, "attempted", ACT COURSE, ""), LTI_ERR_UNSUPPORTED,
            "xapi_verb_unsupported");
    refused(p, apr_psprintf(p, "{\"actor\":%s,\"verb\":{\"id\":\"https://w3id.org/xapi/"
                               "adl/verbs/passed\"},\"object\":{\"id\":\"%s\"}}", ACTOR,
                            ACT COURSE), LTI_ERR_UNSUPPORTED, "xapi_verb_unsupported");
    refused(p, apr_psprintf(p, "{\"actor\":%s,\"object\":{\"id\":\"%s\"}}", ACTOR, ACT COURSE),
            LTI_ERR_MALFORMED, "xapi_verb_missing");
    refused(p, stmt(p, ACTOR, "scored", ACT COURSE, ""), LTI_ERR_MALFORMED,
            "xapi_score_missing");
    refused(p, stmt(p, ACTOR, "passed", ACT COURSE, ",\"result\":{\"success\":false}"),
            LTI_ERR_MALFORMED, "xapi_result_conflict");
    refused(p, stmt(p, ACTOR, "failed", ACT COURSE, ",\"result\":{\"success\":true}"),
            LTI_ERR_MALFORMED, "xapi_result_conflict");
    refused(p, stmt(p, ACTOR, "completed", ACT COURSE, ",\"result\":{\"completion\":false}"),
            LTI_ERR_MALFORMED, "xapi_result_conflict");
    refused(p, stmt(p, ACTOR, "passed", ACT COURSE, ",\"result\":{\"success\":\"yes\"}"),
            LTI_ERR_MALFORMED, "xapi_result_malformed");
}

static void test_actor_forms(void **state)
{
    apr_pool_t *p = *state;
    lti_xapi_stmt_t st;
    lti_err_t err;

    assert_int_equal(parse(p, stmt(p, "{\"objectType\":\"Agent\",\"mbox\":\"MAILTO:Ana@Example.org\"}",
                                   "passed", ACT COURSE, ""), &st, &err), LTI_OK);
    assert_string_equal(st.actor_email, "Ana@Example.org");
    assert_null(st.actor_name);
    assert_string_equal(st.module_id, "");
    /* A trailing slash on the home page is the same page. */
    assert_int_equal(parse(p, stmt(p, "{\"account\":{\"homePage\":\"" BASE "/ptech/\","
                                      "\"name\":\"n1\"}}", "passed", ACT COURSE, ""), &st, &err),
                     LTI_OK);
    assert_string_equal(st.actor_name, "n1");
    refused(p, stmt(p, "{\"account\":{\"homePage\":\"https://other.example/\",\"name\":\"n\"}}",
                    "passed", ACT COURSE, ""), LTI_ERR_NOT_FOUND, "xapi_actor_unknown");
    refused(p, stmt(p, "{\"account\":{\"homePage\":\"" BASE "/ptech\"}}", "passed",
                    ACT COURSE, ""), LTI_ERR_MALFORMED, "xapi_actor_malformed");
    refused(p, stmt(p, "{\"account\":{\"homePage\":\"" BASE "/ptech\",\"name\":\"\"}}",
                    "passed", ACT COURSE, ""), LTI_ERR_MALFORMED, "xapi_actor_malformed");
    refused(p, stmt(p, "{\"mbox\":\"ana@example.org\"}", "passed", ACT COURSE, ""),
            LTI_ERR_MALFORMED, "xapi_actor_malformed");
    refused(p, stmt(p, "{\"mbox\":\"mailto:\"}", "passed", ACT COURSE, ""),
            LTI_ERR_MALFORMED, "xapi_actor_malformed");
    refused(p, stmt(p, "{\"mbox\":\"mailto:a@b\",\"account\":{\"homePage\":\"" BASE
                       "/ptech\",\"name\":\"n\"}}", "passed", ACT COURSE, ""),
            LTI_ERR_MALFORMED, "xapi_actor_malformed");
    refused(p, stmt(p, "{}", "passed", ACT COURSE, ""), LTI_ERR_MALFORMED,
            "xapi_actor_malformed");
    refused(p, stmt(p, "\"ana\"", "passed", ACT COURSE, ""), LTI_ERR_MALFORMED,
            "xapi_actor_missing");
    refused(p, stmt(p, "{\"objectType\":\"Group\",\"mbox\":\"mailto:a@b\"}", "passed",
                    ACT COURSE, ""), LTI_ERR_UNSUPPORTED, "xapi_actor_unsupported");
    refused(p, stmt(p, "{\"mbox_sha1sum\":\"ab\"}", "passed", ACT COURSE, ""),
            LTI_ERR_UNSUPPORTED, "xapi_actor_unsupported");
}

static void test_score_range(void **state)
{
    apr_pool_t *p = *state;
    lti_xapi_stmt_t st;
    lti_err_t err;

    assert_int_equal(parse(p, stmt(p, ACTOR, "scored", ACT COURSE,
                                   ",\"result\":{\"score\":{\"scaled\":0}}"), &st, &err), LTI_OK);
    assert_true(st.has_score && st.score == 0.0);
    assert_int_equal(parse(p, stmt(p, ACTOR, "scored", ACT COURSE,
                                   ",\"result\":{\"score\":{\"scaled\":1}}"), &st, &err), LTI_OK);
    assert_true(st.has_score && st.score == 1.0);
    /* raw alone has no scale: no score. */
    assert_int_equal(parse(p, stmt(p, ACTOR, "passed", ACT COURSE,
                                   ",\"result\":{\"score\":{\"raw\":40}}"), &st, &err), LTI_OK);
    assert_false(st.has_score);
    refused(p, stmt(p, ACTOR, "scored", ACT COURSE, ",\"result\":{\"score\":{\"scaled\":1.5}}"),
            LTI_ERR_MALFORMED, "xapi_score_range");
    refused(p, stmt(p, ACTOR, "scored", ACT COURSE,
                    ",\"result\":{\"score\":{\"scaled\":-0.1}}"), LTI_ERR_MALFORMED,
            "xapi_score_range");
    refused(p, stmt(p, ACTOR, "scored", ACT COURSE,
                    ",\"result\":{\"score\":{\"scaled\":\"0.5\"}}"), LTI_ERR_MALFORMED,
            "xapi_score_malformed");
    refused(p, stmt(p, ACTOR, "scored", ACT COURSE, ",\"result\":{\"score\":5}"),
            LTI_ERR_MALFORMED, "xapi_result_malformed");
}

static void test_malformed(void **state)
{
    apr_pool_t *p = *state;
    char *big;

    refused(p, "{", LTI_ERR_MALFORMED, "xapi_malformed_json");
    refused(p, "", LTI_ERR_MALFORMED, "xapi_malformed_json");
    refused(p, "[] x", LTI_ERR_MALFORMED, "xapi_malformed_json");
    refused(p, "42", LTI_ERR_MALFORMED, "xapi_malformed_json");
    refused(p, "\"statement\"", LTI_ERR_MALFORMED, "xapi_malformed_json");
    refused(p, "[]", LTI_ERR_MALFORMED, "xapi_empty");
    refused(p, "[42]", LTI_ERR_MALFORMED, "xapi_not_statement");
    /* Duplicate keys: refused by jansson's JSON_REJECT_DUPLICATES. */
    refused(p, apr_psprintf(p, "{\"actor\":%s,\"verb\":{\"id\":\"%spassed\"},\"verb\":{\"id\":"
                               "\"%sfailed\"},\"object\":{\"id\":\"%s\"}}", ACTOR, VERB, VERB,
                            ACT COURSE), LTI_ERR_MALFORMED, "xapi_malformed_json");
    refused(p, stmt(p, "{\"account\":{\"homePage\":\"" BASE "/ptech\",\"name\":\"a\","
                       "\"name\":\"b\"}}", "passed", ACT COURSE, ""),
            LTI_ERR_MALFORMED, "xapi_malformed_json");
    big = apr_palloc(p, LTI_XAPI_MAX_BODY + 2);
    memset(big, ' ', LTI_XAPI_MAX_BODY + 1);
    big[LTI_XAPI_MAX_BODY + 1] = '\0';
    refused(p, big, LTI_ERR_TOO_LARGE, "xapi_too_large");
}

static void test_activities(void **state)
{
    apr_pool_t *p = *state;
    const lti_catalog_t *cat = catalog(p);
    const lti_module_t *m = &lti_catalog_course(cat, COURSE)->modules[1];
    lti_xapi_stmt_t st;
    lti_err_t err;

    assert_string_equal(lti_xapi_activity_id(p, BASE, COURSE, NULL), ACT COURSE);
    assert_string_equal(lti_xapi_activity_id(p, BASE, COURSE, ""), ACT COURSE);
    assert_string_equal(lti_xapi_activity_id(p, BASE, COURSE, "x"), ACT COURSE "/x");
    /* A module's content URL names it. */
    assert_int_equal(parse(p, stmt(p, ACTOR, "passed", m->url, ""), &st, &err), LTI_OK);
    assert_string_equal(st.course_id, COURSE);
    assert_string_equal(st.module_id, m->id);
    refused(p, stmt(p, ACTOR, "passed", ACT "no-such-course", ""), LTI_ERR_NOT_FOUND,
            "xapi_activity_unknown");
    refused(p, stmt(p, ACTOR, "passed", ACT COURSE "/no-such-module", ""), LTI_ERR_NOT_FOUND,
            "xapi_activity_unknown");
    refused(p, stmt(p, ACTOR, "passed", ACT COURSE "/threat-landscape/x", ""),
            LTI_ERR_NOT_FOUND, "xapi_activity_unknown");
    refused(p, stmt(p, ACTOR, "passed", "https://elsewhere.example/activities/" COURSE, ""),
            LTI_ERR_NOT_FOUND, "xapi_activity_unknown");
    refused(p, apr_psprintf(p, "{\"actor\":%s,\"verb\":{\"id\":\"%spassed\"},\"object\":"
                               "{\"objectType\":\"Agent\",\"id\":\"%s\"}}", ACTOR, VERB,
                            ACT COURSE), LTI_ERR_UNSUPPORTED, "xapi_object_unsupported");
    refused(p, apr_psprintf(p, "{\"actor\":%s,\"verb\":{\"id\":\"%spassed\"}}", ACTOR, VERB),
            LTI_ERR_MALFORMED, "xapi_object_missing");
}

static void test_ids_and_times(void **state)
{
    apr_pool_t *p = *state;
    const char *one = stmt(p, ACTOR, "passed", ACT COURSE, ",\"id\":\"6F1A2B3C-0000-4000-8000-"
                                                          "00000000000A\"");
    const char *gen = stmt(p, ACTOR, "passed", ACT COURSE, "");
    apr_array_header_t *out;
    lti_xapi_stmt_t st;
    lti_err_t err;

    assert_int_equal(parse(p, one, &st, &err), LTI_OK);
    assert_string_equal(st.id, "6f1a2b3c-0000-4000-8000-00000000000a");
    assert_int_equal(parse(p, gen, &st, &err), LTI_OK);
    assert_int_equal(strlen(st.id), 36);
    assert_int_equal(st.id[14], '4');
    /* A batch: ids in order, made ones differ. */
    assert_int_equal(lti_xapi_parse(p, catalog(p), BASE, apr_pstrcat(p, "[", gen, ",", gen,
                                                                      "]", NULL),
                                    strlen(gen) * 2 + 3, NOW, &out, &err), LTI_OK);
    assert_int_equal(out->nelts, 2);
    assert_string_not_equal(APR_ARRAY_IDX(out, 0, lti_xapi_stmt_t).id,
                            APR_ARRAY_IDX(out, 1, lti_xapi_stmt_t).id);
    refused(p, apr_pstrcat(p, "[", one, ",", one, "]", NULL), LTI_ERR_MALFORMED,
            "xapi_id_duplicate");
    refused(p, stmt(p, ACTOR, "passed", ACT COURSE, ",\"id\":\"not-a-uuid\""),
            LTI_ERR_MALFORMED, "xapi_id_malformed");
    refused(p, stmt(p, ACTOR, "passed", ACT COURSE, ",\"id\":7"), LTI_ERR_MALFORMED,
            "xapi_id_malformed");
    /* Timestamps. */
    assert_int_equal(parse(p, stmt(p, ACTOR, "passed", ACT COURSE,
                                   ",\"timestamp\":\"2026-03-14T10:00:00Z\""), &st, &err),
                     LTI_OK);
    assert_int_equal(st.at, 1773482400);
    refused(p, stmt(p, ACTOR, "passed", ACT COURSE, ",\"timestamp\":\"2099-01-01T00:00:00Z\""),
            LTI_ERR_MALFORMED, "xapi_timestamp_future");
    refused(p, stmt(p, ACTOR, "passed", ACT COURSE, ",\"timestamp\":\"yesterday\""),
            LTI_ERR_MALFORMED, "xapi_timestamp_malformed");
    /* The error names the statement. */
    {
        lti_err_t e2;

        parse(p, apr_pstrcat(p, "[", gen, ",", stmt(p, ACTOR, "passed", ACT "nope", ""), "]",
                             NULL), NULL, &e2);
        assert_non_null(strstr(e2.text, "statement 2:"));
    }
}

static void test_content_link(void **state)
{
    apr_pool_t *p = *state;
    const char *a = lti_xapi_content_link(p, "https://c.example/m?x=1#top", BASE, "n1", COURSE,
                                          "m1");
    const char *b = lti_xapi_content_link(p, "https://c.example/m", BASE, "n1", COURSE, "m1");

    assert_string_equal(a, "https://c.example/m?x=1&endpoint=https%3A%2F%2Ftool.example.org"
                           "%2Fptech%2Fxapi%2F&actor=%7B%22objectType%22%3A%22Agent%22%2C%22"
                           "account%22%3A%7B%22homePage%22%3A%22https%3A%2F%2Ftool.example.org"
                           "%2Fptech%22%2C%22name%22%3A%22n1%22%7D%7D&activity_id=https%3A%2F"
                           "%2Ftool.example.org%2Fptech%2Fxapi%2Factivities%2F"
                           "cybersecurity-fundamentals%2Fm1#top");
    assert_non_null(strstr(b, "https://c.example/m?endpoint="));
}

static void test_secrets(void **state)
{
    apr_pool_t *p = *state;
    const char *secret, *hash, *s2, *h2;
    lti_err_t err;

    /* SHA-256 of the salt bytes 00 ff then "abc". */
    assert_string_equal(lti_xapi_secret_hash(p, "00ff", "abc"),
                        "sha256$00ff$24397706eb32f8691116fe4728d18eda7eacc40925e0ae26a5780cd8"
                        "b8b13f80");
    assert_null(lti_xapi_secret_hash(p, "0g", "abc"));
    assert_null(lti_xapi_secret_hash(p, "0", "abc"));
    assert_int_equal(lti_xapi_secret_new(p, &secret, &hash, &err), LTI_OK);
    assert_int_equal(strlen(secret), 43);
    assert_int_equal(strspn(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789-_"), 43);
    assert_null(strstr(hash, secret));
    assert_int_equal(strlen(hash), 7 + 32 + 1 + 64);
    assert_true(lti_xapi_secret_verify(p, hash, secret));
    assert_false(lti_xapi_secret_verify(p, hash, apr_pstrcat(p, secret, "x", NULL)));
    assert_false(lti_xapi_secret_verify(p, hash, ""));
    assert_false(lti_xapi_secret_verify(p, hash, NULL));
    assert_false(lti_xapi_secret_verify(p, NULL, secret));
    assert_false(lti_xapi_secret_verify(p, "sha256$zz$00", secret));
    assert_false(lti_xapi_secret_verify(p, "md5$00$00", secret));
    assert_false(lti_xapi_secret_verify(p, "sha256$00ff", "abc"));
    assert_true(lti_xapi_secret_verify(p, "sha256$00ff$24397706eb32f8691116fe4728d18eda7eacc409"
                                          "25e0ae26a5780cd8b8b13f80", "abc"));
    /* A new secret and salt every time. */
    assert_int_equal(lti_xapi_secret_new(p, &s2, &h2, &err), LTI_OK);
    assert_string_not_equal(secret, s2);
    assert_memory_not_equal(hash + 7, h2 + 7, 32);
    /* Provider names. */
    assert_true(lti_xapi_provider_name_ok("ibm-skillsbuild_1.0"));
    assert_false(lti_xapi_provider_name_ok(""));
    assert_false(lti_xapi_provider_name_ok("a:b"));
    assert_false(lti_xapi_provider_name_ok("a b"));
    assert_false(lti_xapi_provider_name_ok(apr_psprintf(p, "%065d", 0)));
}

static void test_basic_auth(void **state)
{
    apr_pool_t *p = *state;
    const char *name, *secret;
    lti_err_t err;

    /* base64("ibm:s3cr:et") */
    assert_int_equal(lti_xapi_basic_auth(p, "Basic aWJtOnMzY3I6ZXQ=", &name, &secret, &err),
                     LTI_OK);
    assert_string_equal(name, "ibm");
    assert_string_equal(secret, "s3cr:et");
    assert_int_equal(lti_xapi_basic_auth(p, "basic  aWJtOnMzY3I6ZXQ=", &name, &secret, &err),
                     LTI_OK);
    assert_int_equal(lti_xapi_basic_auth(p, NULL, &name, &secret, &err), LTI_ERR_MISSING);
    assert_string_equal(err.reason, "xapi_auth_missing");
    assert_int_equal(lti_xapi_basic_auth(p, "Bearer abc", &name, &secret, &err),
                     LTI_ERR_MISSING);
    assert_int_equal(lti_xapi_basic_auth(p, "Basic ", &name, &secret, &err), LTI_ERR_MALFORMED);
    assert_int_equal(lti_xapi_basic_auth(p, "Basic !!!", &name, &secret, &err),
                     LTI_ERR_MALFORMED);
    /* base64("nocolon"), base64(":secret") */
    assert_int_equal(lti_xapi_basic_auth(p, "Basic bm9jb2xvbg==", &name, &secret, &err),
                     LTI_ERR_MALFORMED);
    assert_int_equal(lti_xapi_basic_auth(p, "Basic OnNlY3JldA==", &name, &secret, &err),
                     LTI_ERR_MALFORMED);
    assert_string_equal(err.reason, "xapi_auth_malformed");
}

/* ---- through a store ---- */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static lti_store_t *new_store(apr_pool_t *p)
{
    static int seq;
    lti_store_t *s;
    lti_err_t err;

    if (lti_store_open(p, apr_psprintf(p, "sqlite3:%s/x%d.db", tmpdir, ++seq), &s, &err)
            != LTI_OK
        || lti_store_migrate(s, NULL, NULL, &err) != LTI_OK) {
        fail_msg("store: %s", err.text);
    }
    return s;
}

/* A learner's launch on a link of COURSE; returns the person id. */
static int64_t learner(lti_store_t *s, const char *user, const char *email)
{
    static int n;
    char nonce[32], sess[32];
    lti_launch_rec_t r;

    snprintf(nonce, sizeof(nonce), "nonce-%d", ++n);
    snprintf(sess, sizeof(sess), "sess-%d", n);
    r = unit_learner_launch(user, nonce, sess, COURSE, NOW);
    r.email = email;
    r.result_sourcedid = "src";
    r.outcome_url = "https://moodle.example.org/mod/lti/service.php";
    return unit_record(s, &r);
}

static lti_status_t post(apr_pool_t *p, lti_store_t *s, const char *text, lti_err_t *err)
{
    apr_array_header_t *stmts;
    lti_progress_stats_t st;
    lti_status_t rv;

    lti_err_clear(err);
    rv = lti_xapi_parse(p, catalog(p), BASE, text, strlen(text), NOW, &stmts, err);
    return rv != LTI_OK ? rv : lti_xapi_record(s, p, catalog(p), "ibm", stmts, NOW, &st, err);
}

static void test_record(void **state)
{
    apr_pool_t *p = *state;
    lti_store_t *s = new_store(p);
    int64_t ana = learner(s, "u-ana", "Ana@Example.org"), bo = learner(s, "u-bo", NULL);
    const char *name, *again, *acc;
    lti_result_t res;
    int64_t who = 0;
    lti_err_t err;

    /* The account name: made once, then stable. */
    assert_int_equal(lti_store_xapi_actor(s, p, ana, "aaaa", NOW, &name, &err), LTI_OK);
    assert_string_equal(name, "aaaa");
    assert_int_equal(lti_store_xapi_actor(s, p, ana, "bbbb", NOW, &again, &err), LTI_OK);
    assert_string_equal(again, "aaaa");
    assert_int_equal(lti_store_xapi_actor_find(s, "aaaa", NULL, &who, &err), LTI_OK);
    assert_int_equal(who, ana);
    assert_int_equal(lti_store_xapi_actor_find(s, NULL, "ANA@example.ORG", &who, &err), LTI_OK);
    assert_int_equal(who, ana);
    assert_int_equal(lti_store_xapi_actor_find(s, "zzzz", NULL, &who, &err), LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_store_xapi_actor_find(s, NULL, "x@y", &who, &err), LTI_ERR_NOT_FOUND);
    acc = "{\"account\":{\"homePage\":\"" BASE "/ptech\",\"name\":\"aaaa\"}}";

    /* A batch with one unknown actor changes nothing. */
    assert_int_equal(post(p, s, apr_pstrcat(p, "[", stmt(p, acc, "passed", ACT COURSE, ""), ",",
                                            stmt(p, "{\"mbox\":\"mailto:nobody@example.org\"}",
                                                 "passed", ACT COURSE, ""), "]", NULL), &err),
                     LTI_ERR_NOT_FOUND);
    assert_string_equal(err.reason, "xapi_actor_unknown");
    assert_non_null(strstr(err.text, "statement 2:"));
    assert_int_equal(lti_store_result_get(s, p, ana, COURSE, &res, &err), LTI_ERR_NOT_FOUND);

    /* Modules by account, then the whole course by mbox. */
    assert_int_equal(post(p, s, stmt(p, acc, "scored", ACT COURSE "/threat-landscape",
                                     ",\"result\":{\"score\":{\"scaled\":0.6}}"), &err), LTI_OK);
    assert_int_equal(lti_store_result_get(s, p, ana, COURSE, &res, &err), LTI_OK);
    assert_string_equal(res.status, "in_progress");
    assert_true(res.score > 0.09 && res.score < 0.11);      /* 0.6 of weight 1 in 6 */
    assert_int_equal(post(p, s, stmt(p, "{\"mbox\":\"mailto:ana@example.org\"}", "passed",
                                     ACT COURSE, ""), &err), LTI_OK);
    assert_int_equal(lti_store_result_get(s, p, ana, COURSE, &res, &err), LTI_OK);
    assert_string_equal(res.status, "passed");
    assert_int_equal(lti_store_result_get(s, p, bo, COURSE, &res, &err), LTI_ERR_NOT_FOUND);
}

static void test_providers(void **state)
{
    apr_pool_t *p = *state;
    lti_store_t *s = new_store(p);
    apr_array_header_t *list;
    lti_xapi_provider_t pv;
    lti_err_t err;

    assert_int_equal(lti_store_xapi_provider_add(s, "ibm", "sha256$00$11", NOW, &err), LTI_OK);
    assert_int_equal(lti_store_xapi_provider_add(s, "ibm", "sha256$00$22", NOW, &err),
                     LTI_ERR_EXISTS);
    assert_int_equal(lti_store_xapi_provider_add(s, "demo", "sha256$00$33", NOW + 1, &err),
                     LTI_OK);
    assert_int_equal(lti_store_xapi_provider_get(s, p, "ibm", &pv, &err), LTI_OK);
    assert_string_equal(pv.secret_hash, "sha256$00$11");
    assert_int_equal(pv.created, NOW);
    assert_int_equal(lti_store_xapi_provider_list(s, p, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 2);
    assert_string_equal(APR_ARRAY_IDX(list, 0, lti_xapi_provider_t).name, "demo");
    assert_null(APR_ARRAY_IDX(list, 0, lti_xapi_provider_t).secret_hash);
    assert_int_equal(lti_store_xapi_provider_remove(s, "ibm", &err), LTI_OK);
    assert_int_equal(lti_store_xapi_provider_remove(s, "ibm", &err), LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_store_xapi_provider_get(s, p, "ibm", &pv, &err), LTI_ERR_NOT_FOUND);
}

static int group_setup(void **state)
{
    if (mkdtemp(tmpdir) == NULL) {
        return -1;
    }
    return unit_group_setup(state);
}

static int group_teardown(void **state)
{
    int rc = unit_group_teardown(state);

    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verbs),
        cmocka_unit_test(test_actor_forms),
        cmocka_unit_test(test_score_range),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_activities),
        cmocka_unit_test(test_ids_and_times),
        cmocka_unit_test(test_content_link),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_basic_auth),
        cmocka_unit_test(test_record),
        cmocka_unit_test(test_providers),
    };

    lti_init();
    return cmocka_run_group_tests_name("xapi", tests, group_setup, group_teardown);
}
