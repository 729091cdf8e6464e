/* test_launch13.c -- LTI 1.3 id_token claims: the three real Moodle 4.5.6 launches (student,
 * teacher, deep linking) inside and outside their 60 s life, then a table of mutations of
 * the student and deep linking claims, each refused (or accepted) with the expected status
 * and reason. */
#include <time.h>

#include <jansson.h>

#include "unit.h"
#include "lti_launch13.h"

#define ISSUER "http://127.0.0.1:8081"
#define LEEWAY 60
#define STUDENT_AUD "ETcWli258i8O3jj"

#define C_DEPLOYMENT LTI_CLAIM "deployment_id"
#define C_MESSAGE LTI_CLAIM "message_type"
#define C_VERSION LTI_CLAIM "version"
#define C_TARGET LTI_CLAIM "target_link_uri"
#define C_LINK LTI_CLAIM "resource_link"
#define C_ROLES LTI_CLAIM "roles"
#define C_CONTEXT LTI_CLAIM "context"
#define C_CUSTOM LTI_CLAIM "custom"
#define C_LTI1P1 LTI_CLAIM "lti1p1"
#define C_AGS "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
#define C_NRPS "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
#define C_DL "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"

#define ROLE_URI "http://purl.imsglobal.org/vocab/lis/v2/membership#"

static void decref_claims(json_t *claims)
{
    json_decref(claims);
}

static apr_status_t decref_cleanup(void *data)
{
    decref_claims(data);
    return APR_SUCCESS;
}

/* The "claims" of a Moodle capture, freed with p. */
static json_t *load_claims(apr_pool_t *p, const char *name)
{
    const char *path = unit_fixture(p, name);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    json_t *claims;

    if (root == NULL) {
        fail_msg("%s: %s (line %d)", path, jerr.text, jerr.line);
    }
    claims = json_deep_copy(json_object_get(root, "claims"));
    json_decref(root);
    assert_true(json_is_object(claims));
    apr_pool_cleanup_register(p, claims, decref_cleanup, apr_pool_cleanup_null);
    return claims;
}

/* What the tool expected for this capture: Moodle's issuer, client id = aud, the nonce and
 * target_link_uri of the login, and a clock 30 s after iat. */
static void expect_for(const json_t *claims, lti_launch13_expect_t *e)
{
    memset(e, 0, sizeof(*e));
    e->issuer = ISSUER;
    e->client_id = json_string_value(json_object_get(claims, "aud"));
    e->nonce = json_string_value(json_object_get(claims, "nonce"));
    e->target_link_uri = json_string_value(json_object_get(claims, C_TARGET));
    e->now = json_integer_value(json_object_get(claims, "iat")) + 30;
    e->leeway = LEEWAY;
    assert_non_null(e->client_id);
    assert_non_null(e->nonce);
    assert_non_null(e->target_link_uri);
}

/* Asserts that json is a JSON object text holding key. */
static void assert_json_has(const char *json, const char *key)
{
    json_t *v;

    assert_non_null(json);
    v = json_loads(json, 0, NULL);
    assert_true(json_is_object(v));
    assert_non_null(json_object_get(v, key));
    json_decref(v);
}

/* Asserts that the link's claims (l->link_claims_json) hold part ("ags", "nrps", "custom")
 * with key in it; key NULL: part is absent. */
static void assert_link_claim(const lti_launch13_t *l, const char *part, const char *key)
{
    json_t *v, *o;

    assert_non_null(l->link_claims_json);
    v = json_loads(l->link_claims_json, 0, NULL);
    assert_true(json_is_object(v));
    o = json_object_get(v, part);
    if (key == NULL) {
        assert_null(o);
    }
    else {
        assert_true(json_is_object(o));
        assert_non_null(json_object_get(o, key));
    }
    json_decref(v);
}

/* ---- the real Moodle launches ---------------------------------------------------------- */

static void test_moodle_student(void **state)
{
    apr_pool_t *p;
    json_t *claims;
    lti_launch13_expect_t e;
    lti_launch13_t l;
    lti_err_t err;

    apr_pool_create(&p, *state);
    claims = load_claims(p, "lti13-launch-student.json");
    expect_for(claims, &e);
    lti_err_clear(&err);
    assert_int_equal(lti_launch13_validate(p, claims, &e, &l, &err), LTI_OK);

    assert_string_equal(l.iss, ISSUER);
    assert_string_equal(l.sub, "3");
    assert_string_equal(l.nonce, "nonce-xyz789");
    assert_string_equal(l.deployment_id, "2");
    assert_string_equal(l.message_type, "LtiResourceLinkRequest");
    assert_string_equal(l.version, "1.3.0");
    assert_string_equal(l.target_link_uri, "http://127.0.0.1:8082/lti13/launch");
    assert_int_equal(l.iat, 1795976355);
    assert_int_equal(l.exp, 1795976415);
    assert_int_equal(l.skew, 30);
    assert_string_equal(l.link_id, "2");
    assert_string_equal(l.link_title, "LTI 1.3 graded activity");
    assert_string_equal(l.context_id, "2");
    assert_string_equal(l.context_title, "LTI Test Course");
    assert_string_equal(l.context_label, "LTI101");
    assert_string_equal(l.context_type, "CourseSection");
    assert_string_equal(l.roles_raw, ROLE_URI "Learner");
    assert_int_equal(l.roles, LTI_ROLE_LEARNER);
    assert_string_equal(l.given_name, "Sam");
    assert_string_equal(l.family_name, "Student");
    assert_string_equal(l.full_name, "Sam Student");
    assert_string_equal(l.email, "student1@example.com");
    assert_string_equal(l.locale, "en");
    assert_string_equal(l.return_url, "http://127.0.0.1:8081/mod/lti/return.php?course=2"
                                      "&launch_container=4&instanceid=2&sesskey=93EduPz0D2");
    assert_null(l.custom_course);
    assert_link_claim(&l, "custom", "lab_custom");
    assert_string_equal(l.platform_guid, "164355eec65ca206ae8d3cb3fd415fc7");
    assert_link_claim(&l, "ags", "lineitem");
    assert_link_claim(&l, "nrps", "context_memberships_url");
    assert_link_claim(&l, "basicoutcome", NULL);     /* the learner's: see below */
    assert_null(l.deep_link_json);
    assert_null(l.lti1p1_json);
    /* What the link keeps: three claims under short names, AGS first, compact; the basic
     * outcome claim goes to the learner's grade target instead. */
    assert_non_null(l.link_claims_json);
    assert_true(strstr(l.link_claims_json, "{\"ags\":{") == l.link_claims_json);
    assert_null(strstr(l.link_claims_json, "basicoutcome"));
    assert_non_null(strstr(l.link_claims_json, "},\"custom\":{"));
    assert_non_null(strstr(l.link_claims_json, "},\"nrps\":{"));
    assert_null(strchr(l.link_claims_json, '\n'));
    assert_non_null(l.result_sourcedid);
    assert_non_null(strstr(l.outcome_url, "/mod/lti/service.php"));

    /* err may be NULL. */
    assert_int_equal(lti_launch13_validate(p, claims, &e, &l, NULL), LTI_OK);
    apr_pool_destroy(p);
}

static void test_moodle_teacher(void **state)
{
    apr_pool_t *p;
    json_t *claims;
    lti_launch13_expect_t e;
    lti_launch13_t l;
    lti_err_t err;

    apr_pool_create(&p, *state);
    claims = load_claims(p, "lti13-launch-teacher.json");
    expect_for(claims, &e);
    assert_int_equal(lti_launch13_validate(p, claims, &e, &l, &err), LTI_OK);
    assert_string_equal(l.sub, "4");
    assert_int_equal(l.roles, LTI_ROLE_INSTRUCTOR);
    assert_true(l.roles & LTI_ROLE_STAFF_MASK);
    assert_string_equal(l.roles_raw, ROLE_URI "Instructor");
    assert_string_equal(l.context_id, "2");
    assert_string_equal(l.context_type, "CourseSection");
    assert_string_equal(l.link_id, "2");
    assert_string_equal(l.email, "teacher1@example.com");
    assert_string_equal(l.locale, "en");
    assert_link_claim(&l, "custom", "user_id_sub");
    assert_link_claim(&l, "ags", "lineitems");
    assert_link_claim(&l, "nrps", "service_versions");
    apr_pool_destroy(p);
}

static void test_moodle_deeplinking(void **state)
{
    apr_pool_t *p;
    json_t *claims;
    lti_launch13_expect_t e;
    lti_launch13_t l;
    lti_err_t err;

    apr_pool_create(&p, *state);
    claims = load_claims(p, "lti13-deeplinking-request.json");
    expect_for(claims, &e);
    assert_int_equal(lti_launch13_validate(p, claims, &e, &l, &err), LTI_OK);
    assert_string_equal(l.message_type, "LtiDeepLinkingRequest");
    assert_string_equal(l.deployment_id, "3");
    assert_string_equal(l.target_link_uri, "http://127.0.0.1:8082/lti13/deeplink");
    assert_null(l.link_id);
    assert_int_equal(l.roles, LTI_ROLE_INSTRUCTOR);
    assert_string_equal(l.context_id, "2");
    assert_string_equal(l.email, "teacher1@example.com");
    assert_string_equal(l.locale, "en");
    assert_null(l.return_url);
    assert_link_claim(&l, "custom", "foo");
    assert_null(l.custom_course);
    assert_json_has(l.deep_link_json, "deep_link_return_url");
    assert_link_claim(&l, "ags", "lineitems");
    assert_link_claim(&l, "nrps", NULL);
    assert_link_claim(&l, "basicoutcome", NULL);
    assert_null(l.result_sourcedid);
    assert_null(l.outcome_url);
    assert_true(strncmp(l.link_claims_json, "{\"ags\":{", 8) == 0);
    assert_non_null(strstr(l.link_claims_json, "},\"custom\":{\"foo\":\"bar\"}}"));
    apr_pool_destroy(p);
}

/* The captures are refused with the real clock and one second after exp + leeway; accepted
 * at the edges of the window. */
static void test_moodle_clock(void **state)
{
    static const char *const names[] = {
        "lti13-launch-student.json", "lti13-launch-teacher.json",
        "lti13-deeplinking-request.json",
    };
    apr_pool_t *p;

    apr_pool_create(&p, *state);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        json_t *claims = load_claims(p, names[i]);
        int64_t iat = json_integer_value(json_object_get(claims, "iat"));
        int64_t exp = json_integer_value(json_object_get(claims, "exp"));
        lti_launch13_expect_t e;
        lti_launch13_t l;
        lti_err_t err;
        char want[64];

        expect_for(claims, &e);
        assert_int_equal(exp, iat + 60);

        e.now = (int64_t)time(NULL);
        lti_err_clear(&err);
        assert_int_equal(lti_launch13_validate(p, claims, &e, &l, &err), LTI_ERR_EXPIRED);
        assert_string_equal(err.reason, e.now > exp ? "jwt_exp" : "jwt_iat");
        assert_null(l.sub);

        e.now = exp + LEEWAY + 1;
        assert_int_equal(lti_launch13_validate(p, claims, &e, &l, &err), LTI_ERR_EXPIRED);
        assert_string_equal(err.reason, "jwt_exp");
        snprintf(want, sizeof(want), "%d seconds ago", LEEWAY + 1);
        assert_non_null(strstr(err.text, want));

        e.now = exp + LEEWAY;
        assert_int_equal(lti_launch13_validate(p, claims, &e, &l, &err), LTI_OK);
        assert_int_equal(l.skew, exp + LEEWAY - iat);

        e.now = iat - LEEWAY;
        assert_int_equal(lti_launch13_validate(p, claims, &e, &l, &err), LTI_OK);
        assert_int_equal(l.skew, -LEEWAY);

        e.now = iat - LEEWAY - 1;
        assert_int_equal(lti_launch13_validate(p, claims, &e, &l, &err), LTI_ERR_EXPIRED);
        assert_string_equal(err.reason, "jwt_iat");
        snprintf(want, sizeof(want), "%d seconds in the future", LEEWAY + 1);
        assert_non_null(strstr(err.text, want));
    }
    apr_pool_destroy(p);
}

/* ---- mutations ------------------------------------------------------------------------- */

enum { STUDENT, DEEPLINK };

/* One change to the claims: claims[key] (or claims[key][sub]) set to the JSON text json,
 * deleted when json is NULL.  "@N" stands for a string of N 'x'. */
typedef struct edit_t {
    const char *key, *sub, *json;
} edit_t;

typedef struct mutation_t {
    const char *name;
    int base;
    edit_t edit[2];
    lti_status_t status;
    const char *reason;          /* NULL when accepted */
    int check_roles;
    unsigned roles;
    const char *context_type;    /* checked when non-NULL */
} mutation_t;

/* The expected outcome of a row: status, reason, check_roles, roles, context_type. */
#define OK LTI_OK, NULL, 0, 0, NULL
#define REFUSED(st, r) st, r, 0, 0, NULL
#define MISSING(r) REFUSED(LTI_ERR_MISSING, r)
#define MALFORMED(r) REFUSED(LTI_ERR_MALFORMED, r)
#define UNKNOWN_KEY(r) REFUSED(LTI_ERR_UNKNOWN_KEY, r)
#define EXPIRED(r) REFUSED(LTI_ERR_EXPIRED, r)
#define REPLAY(r) REFUSED(LTI_ERR_REPLAY, r)
#define UNSUPPORTED(r) REFUSED(LTI_ERR_UNSUPPORTED, r)
#define FORBIDDEN(r) REFUSED(LTI_ERR_FORBIDDEN, r)
#define ROLES(bits) LTI_OK, NULL, 1, (bits), NULL
#define CONTEXT_TYPE(t) LTI_OK, NULL, 0, 0, (t)

static const mutation_t mutations[] = {
    /* iss, aud, azp */
    {"iss with trailing slash", STUDENT, {{"iss", NULL, "\"" ISSUER "/\""}},
     UNKNOWN_KEY("jwt_iss")},
    {"iss https", STUDENT, {{"iss", NULL, "\"https://127.0.0.1:8081\""}},
     UNKNOWN_KEY("jwt_iss")},
    {"iss missing", STUDENT, {{"iss", NULL, NULL}}, MISSING("jwt_iss")},
    {"iss a number", STUDENT, {{"iss", NULL, "8081"}}, MALFORMED("jwt_iss")},
    {"iss with a NUL after ours", STUDENT, {{"iss", NULL, "\"" ISSUER "\\u0000x\""}},
     MALFORMED("jwt_iss")},
    {"aud without us", STUDENT, {{"aud", NULL, "\"another-client\""}},
     UNKNOWN_KEY("jwt_aud")},
    {"aud array without us", STUDENT, {{"aud", NULL, "[\"a\", \"b\"]"}},
     UNKNOWN_KEY("jwt_aud")},
    {"aud empty array", STUDENT, {{"aud", NULL, "[]"}}, UNKNOWN_KEY("jwt_aud")},
    {"aud us with a NUL suffix", STUDENT, {{"aud", NULL, "\"" STUDENT_AUD "\\u0000x\""}},
     UNKNOWN_KEY("jwt_aud")},
    {"aud missing", STUDENT, {{"aud", NULL, NULL}}, MISSING("jwt_aud")},
    {"aud a number", STUDENT, {{"aud", NULL, "1"}}, MALFORMED("jwt_aud")},
    {"aud array with a number", STUDENT, {{"aud", NULL, "[\"" STUDENT_AUD "\", 1]"}},
     MALFORMED("jwt_aud")},
    {"aud array of us alone", STUDENT, {{"aud", NULL, "[\"" STUDENT_AUD "\"]"}}, OK},
    {"aud array with us and another, no azp", STUDENT,
     {{"aud", NULL, "[\"" STUDENT_AUD "\", \"other\"]"}}, MISSING("jwt_azp")},
    {"aud array with us and another, azp us", STUDENT,
     {{"aud", NULL, "[\"other\", \"" STUDENT_AUD "\"]"}, {"azp", NULL, "\"" STUDENT_AUD "\""}},
     OK},
    {"aud array with us and another, azp other", STUDENT,
     {{"aud", NULL, "[\"" STUDENT_AUD "\", \"other\"]"}, {"azp", NULL, "\"other\""}},
     UNKNOWN_KEY("jwt_azp")},
    {"wrong azp", STUDENT, {{"azp", NULL, "\"other\""}}, UNKNOWN_KEY("jwt_azp")},
    {"azp us", STUDENT, {{"azp", NULL, "\"" STUDENT_AUD "\""}}, OK},
    {"azp a number", STUDENT, {{"azp", NULL, "7"}}, MALFORMED("jwt_azp")},

    /* exp, iat, nbf (now = iat + 30 = 1795976385, leeway 60) */
    {"exp missing", STUDENT, {{"exp", NULL, NULL}}, MISSING("jwt_exp")},
    {"exp as string", STUDENT, {{"exp", NULL, "\"1795976415\""}}, MALFORMED("jwt_exp")},
    {"exp as decimal", STUDENT, {{"exp", NULL, "1795976415.0"}}, MALFORMED("jwt_exp")},
    {"exp negative", STUDENT, {{"exp", NULL, "-1"}}, MALFORMED("jwt_exp")},
    {"exp huge", STUDENT, {{"exp", NULL, "9223372036854775807"}}, MALFORMED("jwt_exp")},
    {"exp past", STUDENT, {{"exp", NULL, "1795976300"}}, EXPIRED("jwt_exp")},
    {"exp past within leeway", STUDENT, {{"exp", NULL, "1795976325"}}, OK},
    {"iat an hour ahead", STUDENT, {{"iat", NULL, "1795979955"}}, EXPIRED("jwt_iat")},
    {"iat ahead within leeway", STUDENT, {{"iat", NULL, "1795976445"}}, OK},
    {"iat as string", STUDENT, {{"iat", NULL, "\"1795976355\""}}, MALFORMED("jwt_iat")},
    {"iat missing", STUDENT, {{"iat", NULL, NULL}}, MISSING("jwt_iat")},
    {"nbf an hour ahead", STUDENT, {{"nbf", NULL, "1795979955"}}, EXPIRED("jwt_nbf")},
    {"nbf at iat", STUDENT, {{"nbf", NULL, "1795976355"}}, OK},
    {"nbf as string", STUDENT, {{"nbf", NULL, "\"1795976355\""}}, MALFORMED("jwt_nbf")},

    /* nonce */
    {"nonce missing", STUDENT, {{"nonce", NULL, NULL}}, MISSING("jwt_nonce")},
    {"nonce foreign", STUDENT, {{"nonce", NULL, "\"nonce-abc123\""}},
     REPLAY("jwt_nonce")},
    {"nonce a prefix of ours", STUDENT, {{"nonce", NULL, "\"nonce-xyz78\""}},
     REPLAY("jwt_nonce")},
    {"nonce ours plus NUL", STUDENT, {{"nonce", NULL, "\"nonce-xyz789\\u0000\""}},
     MALFORMED("jwt_nonce")},
    {"nonce a number", STUDENT, {{"nonce", NULL, "789"}}, MALFORMED("jwt_nonce")},

    /* deployment_id */
    {"deployment_id missing", STUDENT, {{C_DEPLOYMENT, NULL, NULL}},
     MISSING("lti13_deployment_id")},
    {"deployment_id empty", STUDENT, {{C_DEPLOYMENT, NULL, "\"\""}},
     MALFORMED("lti13_deployment_id")},
    {"deployment_id 256 bytes", STUDENT, {{C_DEPLOYMENT, NULL, "@256"}},
     MALFORMED("lti13_deployment_id")},
    {"deployment_id 255 bytes", STUDENT, {{C_DEPLOYMENT, NULL, "@255"}}, OK},
    {"deployment_id a number", STUDENT, {{C_DEPLOYMENT, NULL, "2"}},
     MALFORMED("lti13_deployment_id")},

    /* message_type, version */
    {"message_type missing", STUDENT, {{C_MESSAGE, NULL, NULL}}, MISSING("lti13_message_type")},
    {"message_type unknown", STUDENT, {{C_MESSAGE, NULL, "\"LtiSubmissionReviewRequest\""}},
     UNSUPPORTED("lti13_message_type")},
    {"message_type an array", STUDENT, {{C_MESSAGE, NULL, "[\"LtiResourceLinkRequest\"]"}},
     MALFORMED("lti13_message_type")},
    {"version missing", STUDENT, {{C_VERSION, NULL, NULL}}, MISSING("lti13_version")},
    {"version 1.1", STUDENT, {{C_VERSION, NULL, "\"1.1\""}},
     UNSUPPORTED("lti13_version")},
    {"version 1.3", STUDENT, {{C_VERSION, NULL, "\"1.3\""}},
     UNSUPPORTED("lti13_version")},

    /* target_link_uri (expected: the real one) */
    {"target_link_uri missing", STUDENT, {{C_TARGET, NULL, NULL}},
     MISSING("lti13_target_link_uri")},
    {"target_link_uri other host", STUDENT, {{C_TARGET, NULL, "\"http://evil.example/lti13/"
                                                              "launch\""}},
     FORBIDDEN("lti13_target_link_uri")},
    {"target_link_uri //evil.example", STUDENT, {{C_TARGET, NULL, "\"//evil.example\""}},
     FORBIDDEN("lti13_target_link_uri")},
    {"target_link_uri /\\evil", STUDENT, {{C_TARGET, NULL, "\"/\\\\evil\""}},
     FORBIDDEN("lti13_target_link_uri")},
    {"target_link_uri trailing slash", STUDENT,
     {{C_TARGET, NULL, "\"http://127.0.0.1:8082/lti13/launch/\""}},
     FORBIDDEN("lti13_target_link_uri")},

    /* resource_link */
    {"resource_link missing", STUDENT, {{C_LINK, NULL, NULL}}, MISSING("lti13_resource_link")},
    {"resource_link a string", STUDENT, {{C_LINK, NULL, "\"2\""}},
     MALFORMED("lti13_resource_link")},
    {"resource_link id missing", STUDENT, {{C_LINK, "id", NULL}},
     MISSING("lti13_resource_link")},
    {"resource_link id not a string", STUDENT, {{C_LINK, "id", "2"}},
     MALFORMED("lti13_resource_link")},
    {"resource_link id empty", STUDENT, {{C_LINK, "id", "\"\""}},
     MALFORMED("lti13_resource_link")},
    {"resource_link id 256 bytes", STUDENT, {{C_LINK, "id", "@256"}},
     MALFORMED("lti13_resource_link")},
    {"resource_link title missing", STUDENT, {{C_LINK, "title", NULL}}, OK},

    /* roles */
    {"roles missing", STUDENT, {{C_ROLES, NULL, NULL}}, MISSING("lti13_roles")},
    {"roles not an array", STUDENT, {{C_ROLES, NULL, "\"Learner\""}}, MALFORMED("lti13_roles")},
    {"roles array with a number", STUDENT, {{C_ROLES, NULL, "[\"" ROLE_URI "Learner\", 1]"}},
     MALFORMED("lti13_roles")},
    {"roles with a comma", STUDENT, {{C_ROLES, NULL, "[\"Learner,Instructor\"]"}},
     MALFORMED("lti13_roles")},
    {"roles several", STUDENT,
     {{C_ROLES, NULL, "[\"" ROLE_URI "Instructor\", \"" ROLE_URI "Learner\", \"Learner\"]"}},
     ROLES(LTI_ROLE_INSTRUCTOR | LTI_ROLE_LEARNER)},
    {"roles unknown", STUDENT,
     {{C_ROLES, NULL, "[\"http://purl.imsglobal.org/vocab/lti/system/person#TestUser\"]"}},
     ROLES(LTI_ROLE_OTHER)},
    {"roles empty", STUDENT, {{C_ROLES, NULL, "[]"}}, ROLES(0)},
    {"roles teaching assistant", STUDENT,
     {{C_ROLES, NULL, "[\"http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor"
                      "#TeachingAssistant\"]"}},
     ROLES(LTI_ROLE_TA)},
    {"roles institution student", STUDENT,
     {{C_ROLES, NULL, "[\"http://purl.imsglobal.org/vocab/lis/v2/institution/person"
                      "#Student\"]"}},
     ROLES(LTI_ROLE_LEARNER)},

    /* sub and the person */
    {"sub missing", STUDENT, {{"sub", NULL, NULL}}, MISSING("lti13_claim")},
    {"sub a number", STUDENT, {{"sub", NULL, "3"}}, MALFORMED("lti13_claim")},
    {"sub empty", STUDENT, {{"sub", NULL, "\"\""}}, MALFORMED("lti13_claim")},
    {"sub 256 bytes", STUDENT, {{"sub", NULL, "@256"}}, MALFORMED("lti13_claim")},
    {"given_name a number", STUDENT, {{"given_name", NULL, "1"}}, MALFORMED("lti13_claim")},
    {"email null", STUDENT, {{"email", NULL, "null"}}, OK},

    /* context */
    {"context.type as URI", STUDENT,
     {{C_CONTEXT, "type", "[\"http://purl.imsglobal.org/vocab/lis/v2/course#CourseSection\"]"}},
     CONTEXT_TYPE("CourseSection")},
    {"context.type as one string", STUDENT, {{C_CONTEXT, "type", "\"Group\""}},
     CONTEXT_TYPE("Group")},
    {"context.type first non-empty", STUDENT,
     {{C_CONTEXT, "type", "[\"\", \"urn:lti:context-type:ims/lis/CourseOffering\"]"}},
     CONTEXT_TYPE("CourseOffering")},
    {"context.type a number", STUDENT, {{C_CONTEXT, "type", "1"}}, MALFORMED("lti13_claim")},
    {"context.type array with a number", STUDENT, {{C_CONTEXT, "type", "[1]"}},
     MALFORMED("lti13_claim")},
    {"context missing", STUDENT, {{C_CONTEXT, NULL, NULL}}, OK},
    {"context a string", STUDENT, {{C_CONTEXT, NULL, "\"2\""}}, MALFORMED("lti13_claim")},
    {"context.id missing", STUDENT, {{C_CONTEXT, "id", NULL}}, MISSING("lti13_claim")},
    {"context.id 256 bytes", STUDENT, {{C_CONTEXT, "id", "@256"}}, MALFORMED("lti13_claim")},
    {"context.title a number", STUDENT, {{C_CONTEXT, "title", "1"}}, MALFORMED("lti13_claim")},

    /* service and extra claims */
    {"custom an array", STUDENT, {{C_CUSTOM, NULL, "[]"}}, MALFORMED("lti13_claim")},
    {"AGS claim a string", STUDENT, {{C_AGS, NULL, "\"http://x\""}}, MALFORMED("lti13_claim")},
    {"NRPS claim an array", STUDENT, {{C_NRPS, NULL, "[]"}}, MALFORMED("lti13_claim")},
    {"lti1p1 claim a string", STUDENT, {{C_LTI1P1, NULL, "\"x\""}}, MALFORMED("lti13_claim")},
    {"launch_presentation.locale a number", STUDENT,
     {{LTI_CLAIM "launch_presentation", "locale", "1"}}, MALFORMED("lti13_claim")},

    /* deep linking */
    {"deep linking without deep_linking_settings", DEEPLINK, {{C_DL, NULL, NULL}},
     MISSING("lti13_deep_linking")},
    {"deep linking settings a string", DEEPLINK, {{C_DL, NULL, "\"x\""}},
     MALFORMED("lti13_deep_linking")},
    {"deep linking without deep_link_return_url", DEEPLINK,
     {{C_DL, "deep_link_return_url", NULL}}, MISSING("lti13_deep_linking")},
    {"deep linking return url a number", DEEPLINK, {{C_DL, "deep_link_return_url", "1"}},
     MALFORMED("lti13_deep_linking")},
    {"resource link launch as deep linking, no settings", STUDENT,
     {{C_MESSAGE, NULL, "\"LtiDeepLinkingRequest\""}}, MISSING("lti13_deep_linking")},
    {"deep linking without roles", DEEPLINK, {{C_ROLES, NULL, NULL}}, MISSING("lti13_roles")},
    {"deep linking without sub", DEEPLINK, {{"sub", NULL, NULL}}, MISSING("lti13_claim")},
};

/* A JSON value for an edit: "@N" is a string of N 'x', else the JSON text (NUL allowed). */
static json_t *edit_value(const char *text)
{
    json_error_t jerr;
    json_t *v;

    if (text[0] == '@') {
        size_t n = (size_t)atoi(text + 1);
        char *buf = malloc(n);

        assert_non_null(buf);
        memset(buf, 'x', n);
        v = json_stringn(buf, n);
        free(buf);
        return v;
    }
    v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (v == NULL) {
        fail_msg("bad edit JSON %s: %s", text, jerr.text);
    }
    return v;
}

static void apply_edit(json_t *claims, const edit_t *ed)
{
    json_t *target = claims;
    const char *name = ed->key;

    if (ed->sub != NULL) {
        target = json_object_get(claims, ed->key);
        assert_true(json_is_object(target));
        name = ed->sub;
    }
    if (ed->json == NULL) {
        json_object_del(target, name);
        return;
    }
    assert_int_equal(json_object_set_new(target, name, edit_value(ed->json)), 0);
}

static void test_mutations(void **state)
{
    apr_pool_t *p;
    json_t *base[2];
    lti_launch13_expect_t want[2];

    apr_pool_create(&p, *state);
    base[STUDENT] = load_claims(p, "lti13-launch-student.json");
    base[DEEPLINK] = load_claims(p, "lti13-deeplinking-request.json");
    expect_for(base[STUDENT], &want[STUDENT]);
    expect_for(base[DEEPLINK], &want[DEEPLINK]);

    for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
        const mutation_t *m = &mutations[i];
        json_t *claims = json_deep_copy(base[m->base]);
        lti_launch13_t l;
        lti_err_t err;
        lti_status_t st;

        for (int k = 0; k < 2 && m->edit[k].key != NULL; k++) {
            apply_edit(claims, &m->edit[k]);
        }
        lti_err_clear(&err);
        st = lti_launch13_validate(p, claims, &want[m->base], &l, &err);
        decref_claims(claims);
        if (st != m->status || (m->reason != NULL && strcmp(err.reason, m->reason) != 0)) {
            fail_msg("%s: got %s %s (%s), expected %s %s", m->name, lti_status_name(st),
                     st != LTI_OK ? err.reason : "", st != LTI_OK ? err.text : "",
                     lti_status_name(m->status), m->reason ? m->reason : "");
        }
        if (st != LTI_OK) {
            assert_null(l.iss);
            assert_non_null(err.text[0] != '\0' ? err.text : NULL);
            continue;
        }
        assert_string_equal(l.sub, "3");
        if (m->check_roles && l.roles != m->roles) {
            fail_msg("%s: roles 0x%x, expected 0x%x", m->name, l.roles, m->roles);
        }
        if (m->context_type != NULL) {
            assert_non_null(l.context_type);
            assert_string_equal(l.context_type, m->context_type);
        }
    }
    apr_pool_destroy(p);
}

/* ---- other cases ------------------------------------------------------------------------ */

/* Everything in out is copied into the pool: the claims may be freed right after. */
static void test_strings_outlive_claims(void **state)
{
    apr_pool_t *p;
    json_t *claims;
    lti_launch13_expect_t e;
    lti_launch13_t l;
    lti_err_t err;

    apr_pool_create(&p, *state);
    claims = load_claims(p, "lti13-launch-student.json");
    claims = json_deep_copy(claims);
    expect_for(claims, &e);
    e.client_id = STUDENT_AUD;
    e.nonce = "nonce-xyz789";
    e.target_link_uri = "http://127.0.0.1:8082/lti13/launch";
    assert_int_equal(json_object_set_new(json_object_get(claims, C_CUSTOM), "course",
                                         json_string("PTECH-CYBER")), 0);
    assert_int_equal(lti_launch13_validate(p, claims, &e, &l, &err), LTI_OK);
    decref_claims(claims);
    assert_string_equal(l.custom_course, "PTECH-CYBER");
    assert_link_claim(&l, "custom", "course");
    assert_string_equal(l.sub, "3");
    assert_string_equal(l.context_type, "CourseSection");
    assert_string_equal(l.roles_raw, ROLE_URI "Learner");
    assert_link_claim(&l, "ags", "scope");
    apr_pool_destroy(p);
}

/* custom.course that is not a string is ignored; an lti1p1 object is kept as JSON. */
static void test_custom_course_and_lti1p1(void **state)
{
    apr_pool_t *p;
    json_t *claims;
    lti_launch13_expect_t e;
    lti_launch13_t l;
    lti_err_t err;

    apr_pool_create(&p, *state);
    claims = load_claims(p, "lti13-launch-student.json");
    expect_for(claims, &e);
    json_object_set_new(json_object_get(claims, C_CUSTOM), "course", json_integer(7));
    json_object_set_new(claims, C_LTI1P1,
                        json_pack("{s:s, s:s}", "user_id", "3", "oauth_consumer_key_sign",
                                  "abc="));
    assert_int_equal(lti_launch13_validate(p, claims, &e, &l, &err), LTI_OK);
    assert_null(l.custom_course);
    assert_json_has(l.lti1p1_json, "oauth_consumer_key_sign");
    apr_pool_destroy(p);
}

/* With no target_link_uri expected, any absolute http(s) URL passes; others do not. */
static void test_target_link_uri_unset(void **state)
{
    static const struct {
        const char *uri;
        lti_status_t st;
    } cases[] = {
        {"http://127.0.0.1:8082/lti13/launch", LTI_OK},
        {"HTTPS://tool.example/ptech/launch", LTI_OK},
        {"//evil.example", LTI_ERR_MALFORMED},
        {"/\\evil", LTI_ERR_MALFORMED},
        {"https:///path", LTI_ERR_MALFORMED},
        {"https://tool.example\\@evil", LTI_ERR_MALFORMED},
        {"javascript:alert(1)", LTI_ERR_MALFORMED},
    };
    apr_pool_t *p;
    json_t *base;
    lti_launch13_expect_t e;

    apr_pool_create(&p, *state);
    base = load_claims(p, "lti13-launch-student.json");
    expect_for(base, &e);
    e.target_link_uri = NULL;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *claims = json_deep_copy(base);
        lti_launch13_t l;
        lti_err_t err;
        lti_status_t st;

        json_object_set_new(claims, C_TARGET, json_string(cases[i].uri));
        st = lti_launch13_validate(p, claims, &e, &l, &err);
        decref_claims(claims);
        if (st != cases[i].st) {
            fail_msg("%s: got %s", cases[i].uri, lti_status_name(st));
        }
        if (st != LTI_OK) {
            assert_string_equal(err.reason, "lti13_target_link_uri");
        }
    }
    apr_pool_destroy(p);
}

/* The expectation must name issuer, client and nonce; the claims must be an object. */
static void test_bad_arguments(void **state)
{
    apr_pool_t *p;
    json_t *claims, *arr;
    lti_launch13_expect_t e;
    lti_launch13_t l;
    lti_err_t err;

    apr_pool_create(&p, *state);
    claims = load_claims(p, "lti13-launch-student.json");
    expect_for(claims, &e);
    e.nonce = NULL;
    assert_int_equal(lti_launch13_validate(p, claims, &e, &l, &err), LTI_ERR_INTERNAL);
    expect_for(claims, &e);
    e.issuer = NULL;
    assert_int_equal(lti_launch13_validate(p, claims, &e, &l, &err), LTI_ERR_INTERNAL);
    expect_for(claims, &e);
    arr = json_array();
    assert_int_equal(lti_launch13_validate(p, arr, &e, &l, &err), LTI_ERR_MALFORMED);
    assert_string_equal(err.reason, "lti13_claim");
    json_decref(arr);
    assert_int_equal(lti_launch13_validate(p, NULL, &e, &l, &err), LTI_ERR_MALFORMED);
    apr_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moodle_student),
        cmocka_unit_test(test_moodle_teacher),
        cmocka_unit_test(test_moodle_deeplinking),
        cmocka_unit_test(test_moodle_clock),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_strings_outlive_claims),
        cmocka_unit_test(test_custom_course_and_lti1p1),
        cmocka_unit_test(test_target_link_uri_unset),
        cmocka_unit_test(test_bad_arguments),
    };

    return cmocka_run_group_tests_name("launch13", tests, unit_group_setup,
                                       unit_group_teardown);
}
