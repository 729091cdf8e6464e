/* test_dynreg.c -- lti_dynreg: Moodle 4.5's openid-configuration, registration token and
 * registration answer (fixtures dynreg-*) read and checked, the configurations refused and
 * why, the tool's registration request compared with the fixture's shape, the allow-list,
 * and the whole exchange (GET configuration, POST registration with the Bearer token)
 * against the stub server. */
#include <apr_file_io.h>
#include <jansson.h>

#include "stub_server.h"

#define FIXTURE_ORIGIN "http://127.0.0.1:8081"
#define FIXTURE_CONFIG_URL FIXTURE_ORIGIN "/mod/lti/openid-configuration.php"
#define PLATFORM_CONF "https://purl.imsglobal.org/spec/lti-platform-configuration"
#define TOOL_CONF "https://purl.imsglobal.org/spec/lti-tool-configuration"

/* ---- helpers ---- */

static const char *slurp(apr_pool_t *p, const char *path)
{
    apr_file_t *f;
    apr_finfo_t fi;
    char *buf;
    apr_size_t n;

    if (apr_file_open(&f, path, APR_FOPEN_READ, 0, p) != APR_SUCCESS) {
        fail_msg("cannot open %s", path);
    }
    assert_int_equal(apr_file_info_get(&fi, APR_FINFO_SIZE, f), APR_SUCCESS);
    buf = apr_palloc(p, (apr_size_t)fi.size + 1);
    n = (apr_size_t)fi.size;
    assert_int_equal(apr_file_read_full(f, buf, n, &n), APR_SUCCESS);
    buf[n] = '\0';
    apr_file_close(f);
    return buf;
}

static const char *fixture(apr_pool_t *p, const char *name)
{
    return slurp(p, unit_fixture(p, name));
}

static apr_status_t decref_cleanup(void *data)
{
    json_decref(data);
    return APR_SUCCESS;
}

static json_t *load(apr_pool_t *p, const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);

    if (j == NULL) {
        fail_msg("not JSON: %s", jerr.text);
    }
    apr_pool_cleanup_register(p, j, decref_cleanup, apr_pool_cleanup_null);
    return j;
}

static const char *dump(apr_pool_t *p, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    const char *out = apr_pstrdup(p, s);

    free(s);
    return out;
}

/* s with every from replaced by to. */
static const char *replace(apr_pool_t *p, const char *s, const char *from, const char *to)
{
    const char *out = "", *hit;

    while ((hit = strstr(s, from)) != NULL) {
        out = apr_pstrcat(p, out, apr_pstrmemdup(p, s, (apr_size_t)(hit - s)), to, NULL);
        s = hit + strlen(from);
    }
    return apr_pstrcat(p, out, s, NULL);
}

/* The body of the captured registration answer (after its "HTTP 200" line). */
static const char *moodle_answer(apr_pool_t *p)
{
    const char *t = fixture(p, "dynreg-registration-response-from-moodle.txt");
    const char *nl = strchr(t, '\n');

    assert_non_null(nl);
    assert_true(strncmp(t, "HTTP 200", 8) == 0);
    return nl + 1;
}

/* The registration token of the captured redirect (the Location's registration_token). */
static const char *moodle_token(apr_pool_t *p)
{
    const char *t = fixture(p, "dynreg-start.headers.txt");
    const char *s = strstr(t, "registration_token=");
    size_t n;

    assert_non_null(s);
    s += strlen("registration_token=");
    n = strcspn(s, "&\r\n");
    return apr_pstrmemdup(p, s, n);
}

static lti_http_opts_t opts(int loopback)
{
    lti_http_opts_t o;

    memset(&o, 0, sizeof(o));
    o.timeout = 5;
    o.allow_insecure_loopback = loopback;
    o.max_bytes = 1024;     /* lti_dynreg sets its own cap */
    return o;
}

static void expect(lti_status_t rv, const lti_err_t *err, lti_status_t want,
                   const char *reason, const char *what)
{
    if (rv != want) {
        fail_msg("%s: %s (%s: %s), want %s %s", what, lti_status_name(rv),
                 err->reason ? err->reason : "-", err->text, lti_status_name(want),
                 reason ? reason : "");
    }
    if (reason != NULL) {
        assert_int_equal(err->status, rv);
        if (strcmp(err->reason, reason) != 0) {
            fail_msg("%s: reason %s (%s), want %s", what, err->reason, err->text, reason);
        }
    }
}

/* ---- the platform's configuration ---- */

static void test_config_fixture(void **state)
{
    apr_pool_t *p;
    lti_http_opts_t o = opts(1);
    lti_dynreg_platform_t pf;
    lti_err_t err;
    const char *json;

    apr_pool_create(&p, *state);
    json = fixture(p, "dynreg-moodle-openid-configuration.json");
    expect(lti_dynreg_config_parse(p, FIXTURE_CONFIG_URL, json, strlen(json), &o, &pf, &err),
           &err, LTI_OK, NULL, "fixture");
    assert_string_equal(pf.issuer, FIXTURE_ORIGIN);
    assert_string_equal(pf.authorization_endpoint, FIXTURE_ORIGIN "/mod/lti/auth.php");
    assert_string_equal(pf.token_endpoint, FIXTURE_ORIGIN "/mod/lti/token.php");
    assert_string_equal(pf.jwks_uri, FIXTURE_ORIGIN "/mod/lti/certs.php");
    assert_string_equal(pf.registration_endpoint,
                        FIXTURE_ORIGIN "/mod/lti/openid-registration.php");
    assert_string_equal(pf.product_family_code, "moodle");
    assert_string_equal(pf.version, "4.5.6 (Build: 20250811)");
    assert_int_equal(pf.auth_endpoint_guessed, 0);
    /* Plain http to the loopback only when allowed. */
    o = opts(0);
    expect(lti_dynreg_config_parse(p, FIXTURE_CONFIG_URL, json, strlen(json), &o, &pf, &err),
           &err, LTI_ERR_FORBIDDEN, "dynreg_insecure_url", "fixture, no loopback");
    assert_non_null(strstr(err.text, "PTechAllowInsecureLoopback"));
    apr_pool_destroy(p);
}

/* One change to the fixture's configuration and what it must give. */
typedef struct config_case_t {
    const char *name;
    const char *path;           /* key, or PLATFORM_CONF "/" key; NULL: raw */
    const char *value;          /* JSON text; NULL removes the key */
    const char *raw;            /* the whole document, when path is NULL */
    const char *config_url;     /* NULL: the fixture's */
    lti_status_t want;
    const char *reason;
    const char *words;          /* in err.text, may be NULL */
} config_case_t;

static void test_config_cases(void **state)
{
    static const config_case_t cases[] = {
        {"no issuer", "issuer", NULL, NULL, NULL, LTI_ERR_UPSTREAM, "dynreg_config_invalid",
         "issuer"},
        {"issuer a number", "issuer", "42", NULL, NULL, LTI_ERR_UPSTREAM,
         "dynreg_config_invalid", "bad value for issuer"},
        {"issuer empty", "issuer", "\"\"", NULL, NULL, LTI_ERR_UPSTREAM,
         "dynreg_config_invalid", "issuer"},
        {"no token_endpoint", "token_endpoint", NULL, NULL, NULL, LTI_ERR_UPSTREAM,
         "dynreg_config_invalid", "token_endpoint"},
        {"no jwks_uri", "jwks_uri", NULL, NULL, NULL, LTI_ERR_UPSTREAM,
         "dynreg_config_invalid", "jwks_uri"},
        {"no registration_endpoint", "registration_endpoint", NULL, NULL, NULL,
         LTI_ERR_UPSTREAM, "dynreg_config_invalid", "registration_endpoint"},
        {"no platform configuration", PLATFORM_CONF, NULL, NULL, NULL, LTI_ERR_UPSTREAM,
         "dynreg_config_invalid", PLATFORM_CONF},
        {"platform configuration a string", PLATFORM_CONF, "\"moodle\"", NULL, NULL,
         LTI_ERR_UPSTREAM, "dynreg_config_invalid", PLATFORM_CONF},
        {"no product_family_code", PLATFORM_CONF "/product_family_code", NULL, NULL, NULL,
         LTI_ERR_UPSTREAM, "dynreg_config_invalid", "product_family_code"},
        {"no version: fine", PLATFORM_CONF "/version", NULL, NULL, NULL, LTI_OK, NULL, NULL},
        {"old Moodle without authorization_endpoint", "authorization_endpoint", NULL, NULL,
         NULL, LTI_OK, NULL, NULL},
        {"authorization_endpoint not a string", "authorization_endpoint", "[]", NULL, NULL,
         LTI_ERR_UPSTREAM, "dynreg_config_invalid", "authorization_endpoint"},
        {"RS256 missing", "id_token_signing_alg_values_supported", "[\"ES256\",\"none\"]",
         NULL, NULL, LTI_ERR_UNSUPPORTED, "dynreg_no_rs256", "RS256"},
        {"RS256 among others", "id_token_signing_alg_values_supported",
         "[\"ES256\",\"RS256\"]", NULL, NULL, LTI_OK, NULL, NULL},
        {"issuer with a query", "issuer", "\"http://127.0.0.1:8081/?x=1\"", NULL, NULL,
         LTI_ERR_UPSTREAM, "dynreg_config_invalid", "query"},
        {"issuer elsewhere", "issuer", "\"https://moodle.univh2c.ma\"", NULL, NULL,
         LTI_ERR_FORBIDDEN, "dynreg_issuer_mismatch", "another site"},
        {"issuer on another port", "issuer", "\"http://127.0.0.1:8082\"", NULL, NULL,
         LTI_ERR_FORBIDDEN, "dynreg_issuer_mismatch", NULL},
        {"issuer in a folder of the site: fine", "issuer", "\"http://127.0.0.1:8081/moodle\"",
         NULL, NULL, LTI_OK, NULL, NULL},
        {"issuer over plain http elsewhere", "issuer", "\"http://moodle.univh2c.ma\"", NULL,
         NULL, LTI_ERR_FORBIDDEN, "dynreg_insecure_url", "http://moodle.univh2c.ma"},
        {"token endpoint over plain http elsewhere", "token_endpoint",
         "\"http://moodle.univh2c.ma/token.php\"", NULL, NULL, LTI_ERR_FORBIDDEN,
         "dynreg_insecure_url", "token_endpoint"},
        {"jwks_uri not a URL", "jwks_uri", "\"/mod/lti/certs.php\"", NULL, NULL,
         LTI_ERR_UPSTREAM, "dynreg_config_invalid", "jwks_uri"},
        {"not JSON", NULL, NULL, "<html>error</html>", NULL, LTI_ERR_UPSTREAM,
         "dynreg_config_invalid", "not a JSON object"},
        {"an array", NULL, NULL, "[]", NULL, LTI_ERR_UPSTREAM, "dynreg_config_invalid", NULL},
        {"duplicate issuer", NULL, NULL,
         "{\"issuer\":\"http://127.0.0.1:8081\",\"issuer\":\"http://127.0.0.1:8081\"}", NULL,
         LTI_ERR_UPSTREAM, "dynreg_config_invalid", NULL},
        {"fetched from another name of the host", NULL, NULL, NULL,
         "http://localhost:8081/mod/lti/openid-configuration.php", LTI_ERR_FORBIDDEN,
         "dynreg_issuer_mismatch", NULL},
        {"fetched from another site", NULL, NULL, NULL,
         "https://evil.example/mod/lti/openid-configuration.php", LTI_ERR_FORBIDDEN,
         "dynreg_issuer_mismatch", NULL},
    };
    apr_pool_t *p;
    lti_http_opts_t o = opts(1);

    apr_pool_create(&p, *state);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const config_case_t *c = &cases[i];
        json_t *doc = load(p, fixture(p, "dynreg-moodle-openid-configuration.json"));
        const char *text = c->raw;
        lti_dynreg_platform_t pf;
        lti_err_t err;
        lti_status_t rv;

        if (text == NULL && c->path != NULL) {
            json_t *obj = doc;
            const char *key = c->path;

            if (strncmp(key, PLATFORM_CONF "/", strlen(PLATFORM_CONF) + 1) == 0) {
                obj = json_object_get(doc, PLATFORM_CONF);
                key += strlen(PLATFORM_CONF) + 1;
            }
            if (c->value == NULL) {
                json_object_del(obj, key);
            }
            else {
                json_t *wrap = load(p, apr_psprintf(p, "[%s]", c->value));

                json_object_set(obj, key, json_array_get(wrap, 0));
            }
        }
        if (text == NULL) {
            text = dump(p, doc);
        }
        lti_err_clear(&err);
        rv = lti_dynreg_config_parse(p, c->config_url ? c->config_url : FIXTURE_CONFIG_URL,
                                     text, strlen(text), &o, &pf, &err);
        expect(rv, &err, c->want, c->reason, c->name);
        if (c->words != NULL && strstr(err.text, c->words) == NULL) {
            fail_msg("%s: '%s' does not say '%s'", c->name, err.text, c->words);
        }
        if (rv == LTI_OK && c->path && strcmp(c->path, "authorization_endpoint") == 0) {
            assert_int_equal(pf.auth_endpoint_guessed, 1);
            assert_string_equal(pf.authorization_endpoint, FIXTURE_ORIGIN "/mod/lti/auth.php");
        }
    }
    apr_pool_destroy(p);
}

static void test_config_guess_only_for_moodle(void **state)
{
    apr_pool_t *p;
    lti_http_opts_t o = opts(1);
    lti_dynreg_platform_t pf;
    lti_err_t err;
    json_t *doc;
    const char *text;

    apr_pool_create(&p, *state);
    doc = load(p, fixture(p, "dynreg-moodle-openid-configuration.json"));
    json_object_del(doc, "authorization_endpoint");
    /* A Moodle in a folder: the folder is kept. */
    json_object_set_new(doc, "issuer", json_string(FIXTURE_ORIGIN "/moodle/"));
    text = dump(p, doc);
    expect(lti_dynreg_config_parse(p, FIXTURE_CONFIG_URL, text, strlen(text), &o, &pf, &err),
           &err, LTI_OK, NULL, "moodle in a folder");
    assert_string_equal(pf.authorization_endpoint, FIXTURE_ORIGIN "/moodle/mod/lti/auth.php");
    json_object_set_new(json_object_get(doc, PLATFORM_CONF), "product_family_code",
                        json_string("canvas"));
    text = dump(p, doc);
    expect(lti_dynreg_config_parse(p, FIXTURE_CONFIG_URL, text, strlen(text), &o, &pf, &err),
           &err, LTI_ERR_UPSTREAM, "dynreg_config_invalid", "not moodle");
    assert_non_null(strstr(err.text, "authorization_endpoint"));
    apr_pool_destroy(p);
}

/* ---- URLs, origins, the allow-list ---- */

static void test_origin(void **state)
{
    static const struct {
        const char *url, *origin;
    } cases[] = {
        {"https://Moodle.Example.AC.ma/mod/lti/x.php?a=1", "https://moodle.example.ac.ma"},
        {"https://moodle.example.ac.ma:443/", "https://moodle.example.ac.ma"},
        {"https://moodle.example.ac.ma:8443/", "https://moodle.example.ac.ma:8443"},
        {"HTTP://127.0.0.1:80/x", "http://127.0.0.1"},
        {"http://127.0.0.1:8081", "http://127.0.0.1:8081"},
        {"http://[::1]:8081/x", "http://[::1]:8081"},
        {"ftp://127.0.0.1/", NULL},
        {"/relative", NULL},
        {"", NULL},
        {NULL, NULL},
    };
    apr_pool_t *p;

    apr_pool_create(&p, *state);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *o = lti_dynreg_origin(p, cases[i].url);

        if (cases[i].origin == NULL) {
            assert_null(o);
        }
        else {
            assert_non_null(o);
            assert_string_equal(o, cases[i].origin);
        }
    }
    apr_pool_destroy(p);
}

static void test_allow_list(void **state)
{
    apr_pool_t *p;
    apr_array_header_t *allowed, *empty;
    lti_http_opts_t o = opts(1), strict = opts(0);
    lti_err_t err;

    apr_pool_create(&p, *state);
    allowed = apr_array_make(p, 2, sizeof(const char *));
    empty = apr_array_make(p, 1, sizeof(const char *));
    APR_ARRAY_PUSH(allowed, const char *) = "https://moodle.univh2c.ma/";
    APR_ARRAY_PUSH(allowed, const char *) = "http://127.0.0.1:8081";
    /* The issuer itself, a trailing slash aside. */
    expect(lti_dynreg_issuer_allowed(p, allowed, "https://moodle.univh2c.ma", &err), &err,
           LTI_OK, NULL, "allowed");
    expect(lti_dynreg_issuer_allowed(p, allowed, "http://127.0.0.1:8081/", &err), &err,
           LTI_OK, NULL, "allowed with slash");
    expect(lti_dynreg_issuer_allowed(p, allowed, "https://moodle.univh2c.ma/other", &err),
           &err, LTI_ERR_FORBIDDEN, "dynreg_issuer_not_allowed", "folder");
    expect(lti_dynreg_issuer_allowed(p, allowed, "https://evil.example", &err), &err,
           LTI_ERR_FORBIDDEN, "dynreg_issuer_not_allowed", "other");
    assert_non_null(strstr(err.text, "PTechRegistrationIssuers"));
    expect(lti_dynreg_issuer_allowed(p, NULL, "https://evil.example", &err), &err, LTI_OK,
           NULL, "no list");
    expect(lti_dynreg_issuer_allowed(p, empty, "https://evil.example", &err), &err, LTI_OK,
           NULL, "empty list");
    /* Before the fetch: on the site of an allowed issuer. */
    expect(lti_dynreg_check_config_url(p, FIXTURE_CONFIG_URL, allowed, &o, &err), &err,
           LTI_OK, NULL, "config url allowed");
    expect(lti_dynreg_check_config_url(p, "https://MOODLE.univh2c.ma:443/mod/lti/"
                                       "openid-configuration.php", allowed, &o, &err),
           &err, LTI_OK, NULL, "config url allowed, other spelling");
    expect(lti_dynreg_check_config_url(p, "https://evil.example/mod/lti/openid-configuration"
                                       ".php", allowed, &o, &err), &err, LTI_ERR_FORBIDDEN,
           "dynreg_issuer_not_allowed", "config url elsewhere");
    expect(lti_dynreg_check_config_url(p, "http://127.0.0.1:8082/x", allowed, &o, &err),
           &err, LTI_ERR_FORBIDDEN, "dynreg_issuer_not_allowed", "config url other port");
    expect(lti_dynreg_check_config_url(p, "https://evil.example/x", NULL, &o, &err), &err,
           LTI_OK, NULL, "no list");
    expect(lti_dynreg_check_config_url(p, FIXTURE_CONFIG_URL, allowed, &strict, &err), &err,
           LTI_ERR_FORBIDDEN, "dynreg_insecure_url", "config url plain http");
    expect(lti_dynreg_check_config_url(p, "/mod/lti/openid-configuration.php", NULL, &o,
                                       &err), &err, LTI_ERR_MALFORMED, "dynreg_bad_url",
           "relative");
    expect(lti_dynreg_check_config_url(p, "file:///etc/passwd", NULL, &o, &err), &err,
           LTI_ERR_MALFORMED, "dynreg_bad_url", "file");
    apr_pool_destroy(p);
}

/* ---- the tool's registration request ---- */

static lti_dynreg_tool_t tool_at(apr_pool_t *p, const char *base)
{
    lti_dynreg_tool_t t;

    memset(&t, 0, sizeof(t));
    t.initiate_login_uri = apr_pstrcat(p, base, "/ptech/login", NULL);
    t.target_link_uri = apr_pstrcat(p, base, "/ptech/launch", NULL);
    t.jwks_uri = apr_pstrcat(p, base, "/ptech/jwks", NULL);
    t.logo_uri = apr_pstrcat(p, base, "/ptech/static/logo.svg", NULL);
    t.name_fr = "Open P-Tech pour l'Afrique";
    t.name_en = "Open P-Tech for Africa";
    t.description_fr = "Cours";
    t.description_en = "Courses";
    return t;
}

static void test_tool_config(void **state)
{
    static const struct {
        const char *base, *domain;
    } cases[] = {
        {"http://127.0.0.1:8082", "127.0.0.1:8082"},
        {"https://ptech.univh2c.ma", "ptech.univh2c.ma"},
        {"https://ptech.univh2c.ma:8443/lti", "ptech.univh2c.ma:8443"},
        {"https://[2001:db8::1]:8443", "[2001:db8::1]:8443"},
    };
    apr_pool_t *p;

    apr_pool_create(&p, *state);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lti_dynreg_tool_t t = tool_at(p, cases[i].base);
        json_t *want = load(p, fixture(p, "dynreg-registration-request-from-tool.json"));
        json_t *doc, *tc, *msgs, *v;
        const char *key, *text;
        lti_err_t err;
        size_t j;

        text = lti_dynreg_tool_config(p, &t, &err);
        if (text == NULL) {
            fail_msg("%s: %s", cases[i].base, err.text);
        }
        doc = load(p, text);
        /* Every field of the captured request, and of its tool configuration. */
        json_object_foreach(want, key, v) {
            if (strcmp(key, "client_name") != 0 && json_object_get(doc, key) == NULL) {
                fail_msg("no %s", key);
            }
        }
        tc = json_object_get(doc, TOOL_CONF);
        json_object_foreach(json_object_get(want, TOOL_CONF), key, v) {
            if (strcmp(key, "custom_parameters") != 0 && json_object_get(tc, key) == NULL) {
                fail_msg("no %s.%s", TOOL_CONF, key);
            }
        }
        assert_string_equal(json_string_value(json_object_get(tc, "domain")), cases[i].domain);
        assert_string_equal(json_string_value(json_object_get(tc, "target_link_uri")),
                            t.target_link_uri);
        assert_string_equal(json_string_value(json_object_get(doc, "initiate_login_uri")),
                            t.initiate_login_uri);
        assert_string_equal(json_string_value(json_object_get(doc, "jwks_uri")), t.jwks_uri);
        assert_string_equal(json_string_value(json_object_get(doc, "logo_uri")), t.logo_uri);
        assert_string_equal(json_string_value(json_array_get(json_object_get(doc,
                                                                "redirect_uris"), 0)),
                            t.target_link_uri);
        assert_string_equal(json_string_value(json_object_get(doc, "application_type")), "web");
        assert_string_equal(json_string_value(json_object_get(doc,
                                                             "token_endpoint_auth_method")),
                            "private_key_jwt");
        assert_string_equal(json_string_value(json_object_get(doc, "client_name")), t.name_fr);
        assert_string_equal(json_string_value(json_object_get(doc, "client_name#fr")),
                            t.name_fr);
        assert_string_equal(json_string_value(json_object_get(doc, "client_name#en")),
                            t.name_en);
        assert_null(json_object_get(doc, "client_name#ar"));
        assert_string_equal(json_string_value(json_object_get(doc, "scope")),
                            LTI_DYNREG_SCOPES);
        assert_non_null(strstr(LTI_DYNREG_SCOPES, "lti-ags/scope/score"));
        assert_non_null(strstr(LTI_DYNREG_SCOPES, "lti-nrps/scope/contextmembership.readonly"));
        /* Name and email shared. */
        v = json_object_get(tc, "claims");
        {
            int name = 0, email = 0;

            json_array_foreach(v, j, msgs) {
                name |= strcmp(json_string_value(msgs), "name") == 0;
                email |= strcmp(json_string_value(msgs), "email") == 0;
            }
            assert_true(name && email);
        }
        /* Deep linking last: Moodle keeps only the last message. */
        msgs = json_object_get(tc, "messages");
        assert_int_equal(json_array_size(msgs), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "type")),
                            "LtiResourceLinkRequest");
        assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 1), "type")),
                            "LtiDeepLinkingRequest");
        json_array_foreach(msgs, j, v) {
            assert_string_equal(json_string_value(json_object_get(v, "target_link_uri")),
                                t.target_link_uri);
        }
    }
    apr_pool_destroy(p);
}

static void test_tool_config_refusals(void **state)
{
    apr_pool_t *p;
    lti_dynreg_tool_t t;
    lti_err_t err;

    apr_pool_create(&p, *state);
    t = tool_at(p, "https://ptech.univh2c.ma");
    t.target_link_uri = "/ptech/launch";
    assert_null(lti_dynreg_tool_config(p, &t, &err));
    assert_string_equal(err.reason, "dynreg_tool_url");
    t = tool_at(p, "https://ptech.univh2c.ma");
    t.jwks_uri = NULL;
    assert_null(lti_dynreg_tool_config(p, &t, &err));
    t = tool_at(p, "https://ptech.univh2c.ma");
    t.name_fr = "";
    assert_null(lti_dynreg_tool_config(p, &t, &err));
    /* No logo, no English: still a request. */
    t = tool_at(p, "https://ptech.univh2c.ma");
    t.logo_uri = NULL;
    t.name_en = NULL;
    t.description_fr = NULL;
    assert_non_null(lti_dynreg_tool_config(p, &t, &err));
    apr_pool_destroy(p);
}

/* ---- the platform's answer ---- */

static void test_response(void **state)
{
    static const struct {
        const char *json;
        lti_status_t want;
        const char *client_id, *deployment;
    } cases[] = {
        {"{\"client_id\":\"abc\",\"" TOOL_CONF "\":{\"deployment_id\":7}}", LTI_OK, "abc", "7"},
        {"{\"client_id\":\"abc\",\"" TOOL_CONF "\":{\"deployment_id\":\"x-1\"}}", LTI_OK, "abc",
         "x-1"},
        {"{\"client_id\":\"abc\"}", LTI_OK, "abc", NULL},
        {"{\"client_id\":\"abc\",\"" TOOL_CONF "\":{\"deployment_id\":null}}", LTI_OK, "abc",
         NULL},
        {"{\"client_id\":\"abc\",\"" TOOL_CONF "\":{\"deployment_id\":[1]}}", LTI_ERR_UPSTREAM,
         NULL, NULL},
        {"{\"client_id\":\"\"}", LTI_ERR_UPSTREAM, NULL, NULL},
        {"{\"client_id\":12}", LTI_ERR_UPSTREAM, NULL, NULL},
        {"{\"client_id\":\"a\",\"client_id\":\"b\"}", LTI_ERR_UPSTREAM, NULL, NULL},
        {"{}", LTI_ERR_UPSTREAM, NULL, NULL},
        {"[]", LTI_ERR_UPSTREAM, NULL, NULL},
        {"Registration failed", LTI_ERR_UPSTREAM, NULL, NULL},
    };
    apr_pool_t *p;
    lti_dynreg_result_t res;
    lti_err_t err;
    const char *moodle;

    apr_pool_create(&p, *state);
    moodle = moodle_answer(p);
    expect(lti_dynreg_response_parse(p, moodle, strlen(moodle), &res, &err), &err, LTI_OK,
           NULL, "fixture");
    assert_string_equal(res.client_id, "kCO6YxnAioWDAse");
    assert_string_equal(res.deployment_id, "3");
    assert_non_null(strstr(res.scope, "lti-ags/scope/score"));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lti_status_t rv = lti_dynreg_response_parse(p, cases[i].json, strlen(cases[i].json),
                                                    &res, &err);

        expect(rv, &err, cases[i].want, rv == LTI_OK ? NULL : "dynreg_response_invalid",
               cases[i].json);
        if (rv == LTI_OK) {
            assert_string_equal(res.client_id, cases[i].client_id);
            if (cases[i].deployment == NULL) {
                assert_null(res.deployment_id);
            }
            else {
                assert_string_equal(res.deployment_id, cases[i].deployment);
            }
        }
    }
    apr_pool_destroy(p);
}

/* ---- the registration token ---- */

static void test_token(void **state)
{
    apr_pool_t *p;
    const char *tok, *hash, *hash2;
    int64_t until, iat = 1795976417, exp = 1795980017;
    char *big;
    lti_err_t err;

    apr_pool_create(&p, *state);
    tok = moodle_token(p);
    expect(lti_dynreg_token_check(p, tok, iat + 10, 60, &hash, &until, &err), &err, LTI_OK,
           NULL, "fixture token");
    assert_int_equal(strlen(hash), 64);
    assert_string_equal(hash, lti_sha256_hex(p, tok, strlen(tok)));
    assert_int_equal(until, exp + 61);
    /* The same token, the same hash; another, another. */
    expect(lti_dynreg_token_check(p, tok, exp + 30, 60, &hash2, &until, &err), &err, LTI_OK,
           NULL, "within leeway");
    assert_string_equal(hash, hash2);
    expect(lti_dynreg_token_check(p, apr_pstrcat(p, tok, "x", NULL), iat, 60, &hash2, &until,
                                  &err), &err, LTI_OK, NULL, "other token");
    assert_string_not_equal(hash, hash2);
    /* Past its exp and the leeway. */
    expect(lti_dynreg_token_check(p, tok, exp + 61, 60, &hash, &until, &err), &err,
           LTI_ERR_EXPIRED, "dynreg_token_expired", "expired");
    /* Not a JWT we can read: remembered for LTI_DYNREG_TOKEN_MEMORY. */
    expect(lti_dynreg_token_check(p, "opaque-token_123", 1000, 60, &hash, &until, &err), &err,
           LTI_OK, NULL, "opaque");
    assert_int_equal(until, 1000 + LTI_DYNREG_TOKEN_MEMORY);
    /* Shapes refused. */
    expect(lti_dynreg_token_check(p, "", 1000, 60, &hash, &until, &err), &err,
           LTI_ERR_MALFORMED, "dynreg_bad_token", "empty");
    expect(lti_dynreg_token_check(p, NULL, 1000, 60, &hash, &until, &err), &err,
           LTI_ERR_MALFORMED, "dynreg_bad_token", "NULL");
    expect(lti_dynreg_token_check(p, "a b", 1000, 60, &hash, &until, &err), &err,
           LTI_ERR_MALFORMED, "dynreg_bad_token", "space");
    expect(lti_dynreg_token_check(p, "a\r\nX-Evil: 1", 1000, 60, &hash, &until, &err), &err,
           LTI_ERR_MALFORMED, "dynreg_bad_token", "line break");
    big = apr_palloc(p, LTI_DYNREG_TOKEN_MAX + 2);
    memset(big, 'a', LTI_DYNREG_TOKEN_MAX + 1);
    big[LTI_DYNREG_TOKEN_MAX + 1] = '\0';
    expect(lti_dynreg_token_check(p, big, 1000, 60, &hash, &until, &err), &err,
           LTI_ERR_MALFORMED, "dynreg_bad_token", "too long");
    big[LTI_DYNREG_TOKEN_MAX] = '\0';
    expect(lti_dynreg_token_check(p, big, 1000, 60, &hash, &until, &err), &err, LTI_OK, NULL,
           "longest");
    apr_pool_destroy(p);
}

/* ---- the exchange, against the stub server ---- */

typedef struct platform_t {
    const char *config;     /* answer of /mod/lti/openid-configuration.php */
    const char *registered; /* answer of /mod/lti/openid-registration.php */
    const char *refused;    /* answer of /refuse/openid-configuration.php's endpoint */
} platform_t;

static const char *platform_answer(void *baton, const char *path)
{
    const platform_t *pf = baton;

    if (strcmp(path, "/mod/lti/openid-configuration.php") == 0) {
        return pf->config;
    }
    if (strcmp(path, "/mod/lti/openid-registration.php") == 0) {
        return pf->registered;
    }
    if (strcmp(path, "/refuse") == 0) {
        return pf->refused;
    }
    if (strcmp(path, "/big") == 0) {
        static char big[LTI_DYNREG_MAX_BYTES + 200];

        static const char head[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";

        memset(big, ' ', sizeof(big) - 1);
        memcpy(big, head, sizeof(head) - 1);
        big[sizeof(big) - 1] = '\0';
        return big;
    }
    return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

static const char *answer(apr_pool_t *p, const char *status, const char *body)
{
    return apr_psprintf(p, "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %lu\r\nConnection: close\r\n\r\n%s", status,
                        (unsigned long)strlen(body), body);
}

static const char *http200(apr_pool_t *p, const char *body)
{
    return answer(p, "200 OK", body);
}

static void test_exchange(void **state)
{
    apr_pool_t *p;
    srv_t s;
    platform_t pf;
    lti_http_opts_t o = opts(1);
    lti_dynreg_platform_t conf;
    lti_dynreg_result_t res;
    lti_dynreg_tool_t t;
    lti_err_t err;
    const char *origin, *token = "eyJhbGciOiJSUzI1NiJ9.eyJzY29wZSI6InJlZyJ9.c2ln";
    const char *tool_json, *body;
    char head[SRV_REQ_MAX];
    json_t *sent;

    apr_pool_create(&p, *state);
    memset(&pf, 0, sizeof(pf));
    srv_start(&s, platform_answer, &pf);
    origin = apr_psprintf(p, "http://127.0.0.1:%d", s.port);
    pf.config = http200(p, replace(p, fixture(p, "dynreg-moodle-openid-configuration.json"),
                                   FIXTURE_ORIGIN, origin));
    pf.registered = http200(p, moodle_answer(p));
    pf.refused = answer(p, "401 Unauthorized", "{\"error\":\"invalid_token\","
                        "\"error_description\":\"token\\nused\"}");

    expect(lti_dynreg_fetch_config(p, apr_pstrcat(p, origin, "/mod/lti/openid-configuration"
                                                  ".php", NULL), &o, &conf, &err),
           &err, LTI_OK, NULL, "fetch");
    assert_string_equal(conf.issuer, origin);
    assert_string_equal(conf.registration_endpoint,
                        apr_pstrcat(p, origin, "/mod/lti/openid-registration.php", NULL));
    t = tool_at(p, "http://127.0.0.1:8082");
    tool_json = lti_dynreg_tool_config(p, &t, &err);
    assert_non_null(tool_json);
    expect(lti_dynreg_register(p, &conf, token, tool_json, &o, &res, &err), &err, LTI_OK, NULL,
           "register");
    assert_string_equal(res.client_id, "kCO6YxnAioWDAse");
    assert_string_equal(res.deployment_id, "3");
    assert_int_equal(srv_requests(&s), 2);      /* the configuration, the registration */
    /* What the platform received: a JSON POST with the Bearer token, our document. */
    pthread_mutex_lock(&s.mu);
    memcpy(head, s.last_head, sizeof(head));
    pthread_mutex_unlock(&s.mu);
    assert_true(strncmp(head, "POST /mod/lti/openid-registration.php HTTP/1.1\r\n", 48) == 0);
    assert_non_null(strstr(head, apr_pstrcat(p, "\r\nAuthorization: Bearer ", token, "\r\n",
                                             NULL)));
    assert_non_null(strstr(head, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(head, "\r\nAccept: application/json\r\n"));
    assert_null(strstr(head, "Expect:"));
    body = strstr(head, "\r\n\r\n");
    assert_non_null(body);
    sent = load(p, body + 4);
    assert_string_equal(json_string_value(json_object_get(json_object_get(sent, TOOL_CONF),
                                                          "domain")), "127.0.0.1:8082");
    assert_string_equal(body + 4, tool_json);

    /* The platform refuses: its words, cleaned, in the error. */
    conf.registration_endpoint = apr_pstrcat(p, origin, "/refuse", NULL);
    expect(lti_dynreg_register(p, &conf, token, tool_json, &o, &res, &err), &err,
           LTI_ERR_UPSTREAM, "dynreg_refused", "refused");
    assert_non_null(strstr(err.text, "HTTP 401"));
    assert_non_null(strstr(err.text, "invalid_token: token used"));
    /* No endpoint there. */
    conf.registration_endpoint = apr_pstrcat(p, origin, "/nothing", NULL);
    expect(lti_dynreg_register(p, &conf, token, tool_json, &o, &res, &err), &err,
           LTI_ERR_UPSTREAM, "dynreg_refused", "404");
    /* A token that would break the header is never sent. */
    conf.registration_endpoint = apr_pstrcat(p, origin, "/mod/lti/openid-registration.php",
                                             NULL);
    expect(lti_dynreg_register(p, &conf, "a\r\nX: y", tool_json, &o, &res, &err), &err,
           LTI_ERR_UPSTREAM, "dynreg_unreachable", "bad token");
    /* Configuration fetch failures. */
    expect(lti_dynreg_fetch_config(p, apr_pstrcat(p, origin, "/missing", NULL), &o, &conf,
                                   &err), &err, LTI_ERR_UPSTREAM, "dynreg_config_unreachable",
           "404");
    assert_non_null(strstr(err.text, "HTTP 404"));
    expect(lti_dynreg_fetch_config(p, apr_pstrcat(p, origin, "/big", NULL), &o, &conf, &err),
           &err, LTI_ERR_UPSTREAM, "http_too_large", "big");
    expect(lti_dynreg_fetch_config(p, apr_pstrcat(p, origin, "/mod/lti/openid-configuration"
                                                  ".php", NULL), &(lti_http_opts_t){.timeout
                                                  = 5}, &conf, &err),
           &err, LTI_ERR_FORBIDDEN, "dynreg_insecure_url", "no loopback");
    srv_stop(&s);
    expect(lti_dynreg_fetch_config(p, apr_pstrcat(p, origin, "/mod/lti/openid-configuration"
                                                  ".php", NULL), &o, &conf, &err),
           &err, LTI_ERR_UPSTREAM, "dynreg_config_unreachable", "closed port");
    apr_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_fixture),
        cmocka_unit_test(test_config_cases),
        cmocka_unit_test(test_config_guess_only_for_moodle),
        cmocka_unit_test(test_origin),
        cmocka_unit_test(test_allow_list),
        cmocka_unit_test(test_tool_config),
        cmocka_unit_test(test_tool_config_refusals),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_exchange),
    };

    return cmocka_run_group_tests(tests, unit_group_setup, unit_group_teardown);
}
