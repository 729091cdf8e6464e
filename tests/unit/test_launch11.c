/* test_launch11.c -- LTI 1.1 launch rules: the two real Moodle 4.5.6 launches, refusals in
 * the order signature -> time -> parameters, the filled lti_launch11_t, and roles. */
#include <time.h>

#include <jansson.h>

#include "unit.h"

#define WINDOW 300

/* A Moodle capture: url, secret and the signed parameters, in file order. */
typedef struct capture_t {
    const char *url, *secret;
    apr_array_header_t *kv;
    int64_t ts;
} capture_t;

static void load_capture(apr_pool_t *p, const char *name, capture_t *c)
{
    const char *path = unit_fixture(p, name);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    json_t *params, *v;
    const char *k;

    if (root == NULL) {
        fail_msg("%s: %s (line %d)", path, jerr.text, jerr.line);
    }
    c->url = apr_pstrdup(p, json_string_value(json_object_get(root, "url")));
    c->secret = apr_pstrdup(p, json_string_value(json_object_get(root, "consumer_secret")));
    assert_non_null(c->url);
    assert_string_equal(c->secret, "lab-secret");
    params = json_object_get(root, "params");
    assert_true(json_is_object(params));
    c->kv = lti_kv_make(p, (int)json_object_size(params));
    json_object_foreach(params, k, v) {
        assert_true(json_is_string(v));
        lti_kv_add(c->kv, k, json_string_value(v));
    }
    json_decref(root);
    assert_int_equal(lti_parse_int64(lti_kv_get(c->kv, "oauth_timestamp"), &c->ts), 0);
}

/* A copy of kv, so a test can change one parameter. */
static apr_array_header_t *kv_copy(apr_pool_t *p, const apr_array_header_t *kv)
{
    return apr_array_copy(p, kv);
}

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

/* Re-signs kv as it stands (whatever oauth_* it holds) with secret, as an LMS would. */
static void resign(apr_pool_t *p, const char *url, apr_array_header_t *kv, const char *secret)
{
    const char *base;

    kv_del(kv, "oauth_signature");
    base = lti_oauth1_base_string(p, "POST", url, kv, NULL);
    assert_non_null(base);
    lti_kv_add(kv, "oauth_signature", lti_oauth1_hmac_sha1(p, base, secret, NULL));
}

static void expect(lti_status_t st, const lti_err_t *err, lti_status_t want, const char *reason,
                   const char *what)
{
    if (st != want || (reason && (err->reason == NULL || strcmp(err->reason, reason) != 0))) {
        fail_msg("%s: got %s/%s (%s), want %s/%s", what, lti_status_name(st),
                 err->reason ? err->reason : "-", err->text, lti_status_name(want),
                 reason ? reason : "-");
    }
}

static void test_moodle_student(void **state)
{
    apr_pool_t *p = *state;
    capture_t c;
    lti_launch11_t l;
    lti_err_t err;
    const char *key;

    load_capture(p, "lti11-launch-student.json", &c);
    assert_int_equal(lti_launch11_consumer_key(c.kv, &key, &err), LTI_OK);
    assert_string_equal(key, "lab-key");

    expect(lti_launch11_verify(p, c.url, c.kv, c.secret, c.ts, WINDOW, &l, &err), &err, LTI_OK,
           NULL, "student at its timestamp");
    assert_string_equal(l.consumer_key, "lab-key");
    assert_string_equal(l.nonce, "df41fb31b1bc98329c68c422984c1b6d");
    assert_int_equal(l.timestamp, c.ts);
    assert_string_equal(l.message_type, "basic-lti-launch-request");
    assert_string_equal(l.user_id, "3");
    assert_string_equal(l.given_name, "Sam");
    assert_string_equal(l.family_name, "Student");
    assert_string_equal(l.full_name, "Sam Student");
    assert_string_equal(l.email, "student1@example.com");
    assert_string_equal(l.context_id, "2");
    assert_string_equal(l.context_title, "LTI Test Course");
    assert_string_equal(l.context_label, "LTI101");
    assert_string_equal(l.context_type, "CourseSection");
    assert_string_equal(l.link_id, "1");
    assert_string_equal(l.link_title, "LTI 1.1 graded activity");
    assert_string_equal(l.roles_raw, "Learner");
    assert_int_equal(l.roles, LTI_ROLE_LEARNER);
    assert_string_equal(l.locale, "en");
    assert_string_equal(l.result_sourcedid, lti_kv_get(c.kv, "lis_result_sourcedid"));
    assert_true(l.result_sourcedid[0] == '{');
    assert_non_null(strstr(l.result_sourcedid, "\"userid\":\"3\""));
    assert_string_equal(l.outcome_url, "http://127.0.0.1:8081/mod/lti/service.php");
    assert_string_equal(l.return_url, "http://127.0.0.1:8081/mod/lti/return.php?course=2&"
                                      "launch_container=4&instanceid=1&sesskey=93EduPz0D2");
    assert_null(l.custom_course);   /* Moodle sent custom_activity_custom, not course */
    assert_string_equal(l.instance_guid, "164355eec65ca206ae8d3cb3fd415fc7");

    /* Both edges of the window, and the same URL as written differently. */
    expect(lti_launch11_verify(p, c.url, c.kv, c.secret, c.ts + WINDOW, WINDOW, &l, &err),
           &err, LTI_OK, NULL, "ts + window");
    expect(lti_launch11_verify(p, c.url, c.kv, c.secret, c.ts - WINDOW, WINDOW, &l, &err),
           &err, LTI_OK, NULL, "ts - window");
    expect(lti_launch11_verify(p, "HTTP://127.0.0.1:8082/lti11/launch", c.kv, c.secret, c.ts,
                               WINDOW, &l, &err), &err, LTI_OK, NULL, "uppercase scheme");
}

static void test_moodle_teacher(void **state)
{
    apr_pool_t *p = *state;
    capture_t c;
    lti_launch11_t l;
    lti_err_t err;

    load_capture(p, "lti11-launch-teacher.json", &c);
    expect(lti_launch11_verify(p, c.url, c.kv, c.secret, c.ts, WINDOW, &l, &err), &err, LTI_OK,
           NULL, "teacher at its timestamp");
    assert_string_equal(l.user_id, "4");
    assert_string_equal(l.full_name, "Tina Teacher");
    assert_string_equal(l.email, "teacher1@example.com");
    assert_int_equal(l.roles, LTI_ROLE_INSTRUCTOR);
    assert_true(l.roles & LTI_ROLE_STAFF_MASK);
    assert_false(l.roles & LTI_ROLE_LEARNER);
    assert_non_null(strstr(l.result_sourcedid, "\"userid\":\"4\""));
}

/* The captures refused: real clock, edges just outside the window, wrong secret, one
 * parameter changed, PLAINTEXT, no method, no signature. */
static void test_moodle_refusals(void **state)
{
    static const char *const files[] = {"lti11-launch-student.json", "lti11-launch-teacher.json"};
    apr_pool_t *p = *state;

    for (size_t f = 0; f < 2; f++) {
        capture_t c;
        lti_launch11_t l;
        lti_err_t err;
        apr_array_header_t *kv;

        load_capture(p, files[f], &c);

        lti_err_clear(&err);
        expect(lti_launch11_verify(p, c.url, c.kv, c.secret, (int64_t)time(NULL), WINDOW, &l,
                                   &err), &err, LTI_ERR_EXPIRED, "oauth_timestamp", "real clock");
        assert_null(l.user_id);

        expect(lti_launch11_verify(p, c.url, c.kv, c.secret, c.ts + WINDOW + 1, WINDOW, &l,
                                   &err), &err, LTI_ERR_EXPIRED, "oauth_timestamp", "stale");
        assert_non_null(strstr(err.text, "stale"));
        assert_non_null(strstr(err.text, "301 seconds"));
        expect(lti_launch11_verify(p, c.url, c.kv, c.secret, c.ts - 1000, WINDOW, &l, &err),
               &err, LTI_ERR_EXPIRED, "oauth_timestamp", "future");
        assert_non_null(strstr(err.text, "future"));
        assert_non_null(strstr(err.text, "1000 seconds"));

        expect(lti_launch11_verify(p, c.url, c.kv, "lab-secret2", c.ts, WINDOW, &l, &err), &err,
               LTI_ERR_SIGNATURE, "oauth_bad_signature", "wrong secret");
        expect(lti_launch11_verify(p, c.url, c.kv, "", c.ts, WINDOW, &l, &err), &err,
               LTI_ERR_SIGNATURE, "oauth_bad_signature", "empty secret");
        expect(lti_launch11_verify(p, "http://127.0.0.1:8083/lti11/launch", c.kv, c.secret,
                                   c.ts, WINDOW, &l, &err), &err, LTI_ERR_SIGNATURE,
               "oauth_bad_signature", "other port");
        expect(lti_launch11_verify(p, "https://127.0.0.1:8082/lti11/launch", c.kv, c.secret,
                                   c.ts, WINDOW, &l, &err), &err, LTI_ERR_SIGNATURE,
               "oauth_bad_signature", "https");

        kv = kv_copy(p, c.kv);
        kv_set(kv, "user_id", "1");
        expect(lti_launch11_verify(p, c.url, kv, c.secret, c.ts, WINDOW, &l, &err), &err,
               LTI_ERR_SIGNATURE, "oauth_bad_signature", "user_id changed");
        kv = kv_copy(p, c.kv);
        kv_set(kv, "roles", "Instructor,Administrator");
        expect(lti_launch11_verify(p, c.url, kv, c.secret, c.ts, WINDOW, &l, &err), &err,
               LTI_ERR_SIGNATURE, "oauth_bad_signature", "roles changed");
        kv = kv_copy(p, c.kv);
        lti_kv_add(kv, "custom_course", "ibm-ai-101");
        expect(lti_launch11_verify(p, c.url, kv, c.secret, c.ts, WINDOW, &l, &err), &err,
               LTI_ERR_SIGNATURE, "oauth_bad_signature", "param added");
        expect(lti_launch11_verify(p, apr_pstrcat(p, c.url, "?custom_course=x", NULL), c.kv,
                                   c.secret, c.ts, WINDOW, &l, &err), &err, LTI_ERR_SIGNATURE,
               "oauth_bad_signature", "query added");

        kv = kv_copy(p, c.kv);
        kv_set(kv, "oauth_signature_method", "PLAINTEXT");
        kv_set(kv, "oauth_signature", "lab-secret&");
        expect(lti_launch11_verify(p, c.url, kv, c.secret, c.ts, WINDOW, &l, &err), &err,
               LTI_ERR_UNSUPPORTED, "oauth_method", "PLAINTEXT");
        kv = kv_copy(p, c.kv);
        kv_del(kv, "oauth_signature_method");
        expect(lti_launch11_verify(p, c.url, kv, c.secret, c.ts, WINDOW, &l, &err), &err,
               LTI_ERR_UNSUPPORTED, "oauth_method", "no method");
        kv = kv_copy(p, c.kv);
        kv_del(kv, "oauth_signature");
        expect(lti_launch11_verify(p, c.url, kv, c.secret, c.ts, WINDOW, &l, &err), &err,
               LTI_ERR_MISSING, "oauth_missing_signature", "no signature");
        kv = kv_copy(p, c.kv);
        lti_kv_add(kv, "oauth_nonce", "again");
        expect(lti_launch11_verify(p, c.url, kv, c.secret, c.ts, WINDOW, &l, &err), &err,
               LTI_ERR_MALFORMED, "oauth_duplicate_param", "two nonces");
    }
}

/* A launch signed here, as a test LMS: what a check expects, and the mutation before signing. */
static apr_array_header_t *base_launch(apr_pool_t *p)
{
    apr_array_header_t *kv = lti_kv_make(p, 32);

    lti_kv_add(kv, "oauth_consumer_key", "uh2c");
    lti_kv_add(kv, "oauth_nonce", "0123456789abcdef");
    lti_kv_add(kv, "oauth_timestamp", "1795976342");
    lti_kv_add(kv, "oauth_signature_method", "HMAC-SHA1");
    lti_kv_add(kv, "oauth_version", "1.0");
    lti_kv_add(kv, "lti_message_type", "basic-lti-launch-request");
    lti_kv_add(kv, "lti_version", "LTI-1p0");
    lti_kv_add(kv, "resource_link_id", "rl-7");
    lti_kv_add(kv, "user_id", "1234");
    lti_kv_add(kv, "roles", "Learner");
    return kv;
}

static void test_launch_rules(void **state)
{
    enum { SET, DEL, ADD };
    static const struct {
        const char *name;
        int op;
        const char *key, *val;
        lti_status_t want;
        const char *reason;
    } v[] = {
        {"baseline", SET, "roles", "Learner", LTI_OK, NULL},
        {"LTI-1p2", SET, "lti_version", "LTI-1p2", LTI_OK, NULL},
        {"content item", SET, "lti_message_type", "ContentItemSelectionRequest", LTI_OK, NULL},
        {"no oauth_version", DEL, "oauth_version", NULL, LTI_OK, NULL},
        {"nonce 128", SET, "oauth_nonce",
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", LTI_OK, NULL},
        {"nonce 129", SET, "oauth_nonce",
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefX",
         LTI_ERR_MALFORMED, "oauth_nonce"},
        {"no nonce", DEL, "oauth_nonce", NULL, LTI_ERR_MISSING, "oauth_missing_nonce"},
        {"empty nonce", SET, "oauth_nonce", "", LTI_ERR_MISSING, "oauth_missing_nonce"},
        {"no timestamp", DEL, "oauth_timestamp", NULL, LTI_ERR_MISSING, "oauth_timestamp"},
        {"timestamp abc", SET, "oauth_timestamp", "17959763a2", LTI_ERR_MALFORMED,
         "oauth_timestamp"},
        {"timestamp negative", SET, "oauth_timestamp", "-5", LTI_ERR_MALFORMED,
         "oauth_timestamp"},
        {"timestamp spaces", SET, "oauth_timestamp", " 1795976342", LTI_ERR_MALFORMED,
         "oauth_timestamp"},
        {"timestamp huge", SET, "oauth_timestamp", "99999999999999999999999", LTI_ERR_MALFORMED,
         "oauth_timestamp"},
        {"timestamp decimal", SET, "oauth_timestamp", "1795976342.5", LTI_ERR_MALFORMED,
         "oauth_timestamp"},
        {"version 1.1", SET, "oauth_version", "1.1", LTI_ERR_UNSUPPORTED, "oauth_version"},
        {"no message type", DEL, "lti_message_type", NULL, LTI_ERR_MISSING,
         "lti_message_type"},
        {"bad message type", SET, "lti_message_type", "LtiResourceLinkRequest",
         LTI_ERR_UNSUPPORTED, "lti_message_type"},
        {"no version", DEL, "lti_version", NULL, LTI_ERR_MISSING, "lti_version"},
        {"bad version", SET, "lti_version", "LTI-1p3", LTI_ERR_UNSUPPORTED, "lti_version"},
        {"lowercase version", SET, "lti_version", "lti-1p0", LTI_ERR_UNSUPPORTED,
         "lti_version"},
        {"no resource link", DEL, "resource_link_id", NULL, LTI_ERR_MISSING,
         "lti_missing_param"},
        {"empty resource link", SET, "resource_link_id", "", LTI_ERR_MISSING,
         "lti_missing_param"},
        {"no user_id", DEL, "user_id", NULL, LTI_ERR_MISSING, "lti_missing_param"},
        {"empty user_id", SET, "user_id", "", LTI_ERR_MISSING, "lti_missing_param"},
        {"no consumer key", DEL, "oauth_consumer_key", NULL, LTI_ERR_MISSING,
         "lti_missing_param"},
        {"bad utf8 value", SET, "lis_person_name_full", "caf\xc3", LTI_ERR_MALFORMED,
         "lti_bad_utf8"},
        {"overlong utf8", SET, "custom_x", "\xc0\xaf", LTI_ERR_MALFORMED, "lti_bad_utf8"},
        {"surrogate utf8", SET, "context_title", "\xed\xa0\x80", LTI_ERR_MALFORMED,
         "lti_bad_utf8"},
        {"bad utf8 name", SET, "custom_\xff", "x", LTI_ERR_MALFORMED, "lti_bad_utf8"},
        {"two user ids", ADD, "user_id", "1", LTI_ERR_MALFORMED, "lti_duplicate_param"},
        {"two roles", ADD, "roles", "Instructor", LTI_ERR_MALFORMED, "lti_duplicate_param"},
        {"two custom_x", ADD, "custom_x", "1", LTI_OK, NULL},
    };
    apr_pool_t *p = *state;
    const char *url = "https://ptech.univh2c.ma/ptech/lti11";

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        apr_array_header_t *kv = base_launch(p);
        lti_launch11_t l;
        lti_err_t err;
        lti_status_t st;

        switch (v[i].op) {
        case SET:
            kv_set(kv, v[i].key, v[i].val);
            break;
        case DEL:
            kv_del(kv, v[i].key);
            break;
        default:
            lti_kv_add(kv, v[i].key, v[i].val);
            break;
        }
        resign(p, url, kv, "secret");
        lti_err_clear(&err);
        st = lti_launch11_verify(p, url, kv, "secret", 1795976342, WINDOW, &l, &err);
        expect(st, &err, v[i].want, v[i].reason, v[i].name);
        if (st != LTI_OK) {
            assert_true(strlen(err.text) > 0);
            assert_null(l.user_id);
        }
    }
}

/* Nothing about an unsigned request is trusted: the signature is checked before the time
 * and the LTI parameters, and the time before the parameters. */
static void test_check_order(void **state)
{
    apr_pool_t *p = *state;
    const char *url = "https://ptech.univh2c.ma/ptech/lti11";
    apr_array_header_t *kv = base_launch(p);
    lti_launch11_t l;
    lti_err_t err;

    kv_set(kv, "lti_version", "LTI-9");
    kv_del(kv, "user_id");
    kv_set(kv, "oauth_timestamp", "1");
    resign(p, url, kv, "secret");
    expect(lti_launch11_verify(p, url, kv, "other", 1795976342, WINDOW, &l, &err), &err,
           LTI_ERR_SIGNATURE, "oauth_bad_signature", "signature first");
    expect(lti_launch11_verify(p, url, kv, "secret", 1795976342, WINDOW, &l, &err), &err,
           LTI_ERR_EXPIRED, "oauth_timestamp", "time second");
    kv_set(kv, "oauth_timestamp", "1795976342");
    resign(p, url, kv, "secret");
    expect(lti_launch11_verify(p, url, kv, "secret", 1795976342, WINDOW, &l, &err), &err,
           LTI_ERR_UNSUPPORTED, "lti_version", "parameters last");

    /* The method is refused before the signature is even computed. */
    kv = base_launch(p);
    kv_set(kv, "oauth_signature_method", "RSA-SHA1");
    lti_kv_add(kv, "oauth_signature", "AAAA");
    expect(lti_launch11_verify(p, url, kv, "secret", 1795976342, WINDOW, &l, &err), &err,
           LTI_ERR_UNSUPPORTED, "oauth_method", "method before signature");
}

/* Arabic and French names survive signing and verification; empty optional fields are NULL;
 * parameters in the launch URL's query are signed and read. */
static void test_names_and_query(void **state)
{
    apr_pool_t *p = *state;
    const char *url = "https://ptech.univh2c.ma/ptech/lti11?custom_course=ibm-cyber-101";
    apr_array_header_t *kv = lti_kv_make(p, 32);
    lti_launch11_t l;
    lti_err_t err;

    lti_kv_add(kv, "lti_message_type", "basic-lti-launch-request");
    lti_kv_add(kv, "lti_version", "LTI-1p0");
    lti_kv_add(kv, "resource_link_id", "429785226");
    lti_kv_add(kv, "user_id", "292832126");
    lti_kv_add(kv, "roles", "urn:lti:role:ims/lis/Learner,urn:lti:instrole:ims/lis/Student");
    lti_kv_add(kv, "lis_person_name_given", "فاطمة الزهراء");
    lti_kv_add(kv, "lis_person_name_family", "العلوي");
    lti_kv_add(kv, "lis_person_name_full", "فاطمة الزهراء العلوي");
    lti_kv_add(kv, "lis_person_contact_email_primary", "f.alaoui@etu.univh2c.ma");
    lti_kv_add(kv, "context_id", "c-1");
    lti_kv_add(kv, "context_title", "Cybersécurité : les fondamentaux");
    lti_kv_add(kv, "context_label", "");
    lti_kv_add(kv, "launch_presentation_locale", "ar");
    lti_kv_add(kv, "lis_result_sourcedid", "");
    assert_int_equal(lti_oauth1_sign(p, "POST", url, kv, "uh2c", "sécret", 1795976342, &err),
                     LTI_OK);
    expect(lti_launch11_verify(p, url, kv, "sécret", 1795976342 + 10, WINDOW, &l, &err), &err,
           LTI_OK, NULL, "arabic");
    assert_string_equal(l.given_name, "فاطمة الزهراء");
    assert_string_equal(l.family_name, "العلوي");
    assert_string_equal(l.full_name, "فاطمة الزهراء العلوي");
    assert_string_equal(l.context_title, "Cybersécurité : les fondamentaux");
    assert_string_equal(l.custom_course, "ibm-cyber-101");
    assert_int_equal(l.roles, LTI_ROLE_LEARNER);
    assert_string_equal(l.locale, "ar");
    assert_string_equal(l.consumer_key, "uh2c");
    assert_int_equal(l.timestamp, 1795976342);
    assert_null(l.context_label);
    assert_null(l.result_sourcedid);
    assert_null(l.outcome_url);
    assert_null(l.context_type);
    assert_null(l.link_title);
    assert_null(l.instance_guid);
    assert_null(l.return_url);

    kv = lti_kv_make(p, 16);
    lti_kv_add(kv, "lti_message_type", "basic-lti-launch-request");
    lti_kv_add(kv, "lti_version", "LTI-1p0");
    lti_kv_add(kv, "resource_link_id", "1");
    lti_kv_add(kv, "user_id", "5");
    lti_kv_add(kv, "roles", "");
    lti_kv_add(kv, "lis_person_name_full", "Hélène Lefèvre-Ñúñez");
    lti_kv_add(kv, "custom_course", "");
    url = "https://ptech.univh2c.ma/ptech/lti11";
    assert_int_equal(lti_oauth1_sign(p, "POST", url, kv, "uh2c", "s", 1000, &err), LTI_OK);
    expect(lti_launch11_verify(p, url, kv, "s", 1000, WINDOW, &l, &err), &err, LTI_OK, NULL,
           "french");
    assert_string_equal(l.full_name, "Hélène Lefèvre-Ñúñez");
    assert_null(l.custom_course);
    assert_null(l.roles_raw);
    assert_int_equal(l.roles, 0);

    /* The same parameter in the query and the body is ambiguous for the fields read. */
    url = "https://ptech.univh2c.ma/ptech/lti11?user_id=6";
    kv_del(kv, "oauth_signature");
    resign(p, url, kv, "s");
    expect(lti_launch11_verify(p, url, kv, "s", 1000, WINDOW, &l, &err), &err,
           LTI_ERR_MALFORMED, "lti_duplicate_param", "user_id in query and body");
    expect(lti_launch11_verify(p, "https://ptech.univh2c.ma/ptech/lti11?%zz", kv, "s", 1000,
                               WINDOW, &l, &err), &err, LTI_ERR_MALFORMED, NULL, "bad query");
}

static void test_consumer_key(void **state)
{
    apr_pool_t *p = *state;
    apr_array_header_t *kv = lti_kv_make(p, 4);
    lti_err_t err;
    const char *key = "x";

    expect(lti_launch11_consumer_key(kv, &key, &err), &err, LTI_ERR_MISSING, NULL, "none");
    assert_null(key);
    lti_kv_add(kv, "oauth_consumer_key", "");
    expect(lti_launch11_consumer_key(kv, &key, &err), &err, LTI_ERR_MISSING, NULL, "empty");
    kv = lti_kv_make(p, 4);
    lti_kv_add(kv, "oauth_consumer_key", "a");
    lti_kv_add(kv, "oauth_consumer_key", "b");
    expect(lti_launch11_consumer_key(kv, &key, &err), &err, LTI_ERR_MALFORMED,
           "oauth_duplicate_param", "two");
    assert_null(key);
}

static void test_roles(void **state)
{
    static const struct {
        const char *roles;
        unsigned want;
    } v[] = {
        {NULL, 0},
        {"", 0},
        {" , ,", 0},
        {"Learner", LTI_ROLE_LEARNER},
        {"learner", LTI_ROLE_LEARNER},
        {"STUDENT", LTI_ROLE_LEARNER},
        {"Student", LTI_ROLE_LEARNER},
        {"Instructor", LTI_ROLE_INSTRUCTOR},
        {"Faculty", LTI_ROLE_INSTRUCTOR},
        {"TeachingAssistant", LTI_ROLE_TA},
        {"ContentDeveloper", LTI_ROLE_CONTENT_DEV},
        {"Mentor", LTI_ROLE_MENTOR},
        {"Administrator", LTI_ROLE_ADMIN},
        {"Manager", LTI_ROLE_ADMIN},
        {"Instructor/TeachingAssistant", LTI_ROLE_TA},
        {"Guest", LTI_ROLE_OTHER},
        {"urn:lti:role:ims/lis/Learner", LTI_ROLE_LEARNER},
        {"urn:lti:role:ims/lis/Learner/NonCreditLearner", LTI_ROLE_LEARNER},
        {"urn:lti:role:ims/lis/Instructor", LTI_ROLE_INSTRUCTOR},
        {"urn:lti:role:ims/lis/Instructor/PrimaryInstructor", LTI_ROLE_INSTRUCTOR},
        {"urn:lti:role:ims/lis/Instructor/TeachingAssistant", LTI_ROLE_TA},
        {"urn:lti:role:ims/lis/TeachingAssistant", LTI_ROLE_TA},
        {"urn:lti:role:ims/lis/TeachingAssistant/TeachingAssistantSection", LTI_ROLE_TA},
        {"urn:lti:role:ims/lis/ContentDeveloper", LTI_ROLE_CONTENT_DEV},
        {"urn:lti:role:ims/lis/Mentor/Advisor", LTI_ROLE_MENTOR},
        {"urn:lti:role:ims/lis/Administrator", LTI_ROLE_ADMIN},
        {"urn:lti:role:ims/lis/Member", LTI_ROLE_OTHER},
        {"urn:lti:role:ims/lis/learner", LTI_ROLE_OTHER},
        {"urn:lti:instrole:ims/lis/Administrator", LTI_ROLE_ADMIN},
        {"urn:lti:instrole:ims/lis/Student", LTI_ROLE_LEARNER},
        {"urn:lti:instrole:ims/lis/Faculty", LTI_ROLE_INSTRUCTOR},
        {"urn:lti:instrole:ims/lis/Alumni", LTI_ROLE_OTHER},
        {"urn:lti:sysrole:ims/lis/Administrator", LTI_ROLE_ADMIN},
        {"urn:lti:sysrole:ims/lis/SysAdmin", LTI_ROLE_ADMIN},
        {"urn:lti:sysrole:ims/lis/User", LTI_ROLE_OTHER},
        {"http://purl.imsglobal.org/vocab/lis/v2/membership#Learner", LTI_ROLE_LEARNER},
        {"http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor", LTI_ROLE_INSTRUCTOR},
        {"http://purl.imsglobal.org/vocab/lis/v2/membership#TeachingAssistant", LTI_ROLE_TA},
        {"http://purl.imsglobal.org/vocab/lis/v2/membership#ContentDeveloper",
         LTI_ROLE_CONTENT_DEV},
        {"http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor", LTI_ROLE_MENTOR},
        {"http://purl.imsglobal.org/vocab/lis/v2/membership#Administrator", LTI_ROLE_ADMIN},
        {"http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant",
         LTI_ROLE_TA},
        {"http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#PrimaryInstructor",
         LTI_ROLE_INSTRUCTOR},
        {"http://purl.imsglobal.org/vocab/lis/v2/membership/Learner#Learner", LTI_ROLE_LEARNER},
        {"http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator",
         LTI_ROLE_ADMIN},
        {"http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student", LTI_ROLE_LEARNER},
        {"http://purl.imsglobal.org/vocab/lis/v2/institution/person#Staff", LTI_ROLE_OTHER},
        {"http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator", LTI_ROLE_ADMIN},
        {"http://purl.imsglobal.org/vocab/lis/v2/system/person#SysAdmin", LTI_ROLE_ADMIN},
        {"http://purl.imsglobal.org/vocab/lti/system/person#TestUser", LTI_ROLE_OTHER},
        {"http://purl.imsglobal.org/vocab/lis/v2/membership#learner", LTI_ROLE_OTHER},
        /* What Moodle sends: a site admin teaching, a teacher, a student. */
        {"Instructor,urn:lti:sysrole:ims/lis/Administrator,urn:lti:instrole:ims/lis/"
         "Administrator", LTI_ROLE_INSTRUCTOR | LTI_ROLE_ADMIN},
        {"Instructor", LTI_ROLE_INSTRUCTOR},
        {"Learner", LTI_ROLE_LEARNER},
        {" Learner , Mentor ,", LTI_ROLE_LEARNER | LTI_ROLE_MENTOR},
        {"Learner,Observer", LTI_ROLE_LEARNER | LTI_ROLE_OTHER},
        {"Learner,,Instructor", LTI_ROLE_LEARNER | LTI_ROLE_INSTRUCTOR},
        {"urn:x:unknown", LTI_ROLE_OTHER},
        {"Learner Instructor", LTI_ROLE_OTHER},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        unsigned got = lti_roles_parse(v[i].roles);

        if (got != v[i].want) {
            fail_msg("%s: got 0x%x, want 0x%x", v[i].roles ? v[i].roles : "NULL", got,
                     v[i].want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moodle_student),
        cmocka_unit_test(test_moodle_teacher),
        cmocka_unit_test(test_moodle_refusals),
        cmocka_unit_test(test_launch_rules),
        cmocka_unit_test(test_check_order),
        cmocka_unit_test(test_names_and_query),
        cmocka_unit_test(test_consumer_key),
        cmocka_unit_test(test_roles),
    };

    return cmocka_run_group_tests_name("launch11", tests, unit_group_setup, unit_group_teardown);
}
