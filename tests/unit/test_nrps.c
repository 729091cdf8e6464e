/* test_nrps.c -- Names and Role Provisioning: the claim, the request, membership pages
 * (Moodle 4.5's own answer from ../shared/fixtures/moodle-4.5/lti13-services-exchange.txt,
 * and broken ones), Link headers (plain, typographic quotes as Moodle sends them, several
 * links, rel lists), and lti_nrps_fetch against a stub platform with three pages. */
#include "stub_server.h"

/* Moodle 4.5's membership container (lti13-services-exchange.txt). */
#define MOODLE_MEMBERS                                                                     \
    "{\"id\":\"http:\\/\\/127.0.0.1:8081\\/mod\\/lti\\/services.php\\/CourseSection\\/2\\/"  \
    "bindings\\/2\\/memberships\",\"context\":{\"id\":\"2\",\"label\":\"LTI101\",\"title\":" \
    "\"LTI Test Course\"},\"members\":[{\"status\":\"Active\",\"roles\":[\"Learner\"],"      \
    "\"user_id\":\"3\",\"lis_person_sourcedid\":\"\",\"name\":\"Sam Student\",\"given_name\"" \
    ":\"Sam\",\"family_name\":\"Student\",\"email\":\"student1@example.com\","             \
    "\"ext_user_username\":\"student1\"},{\"status\":\"Active\",\"roles\":[\"Instructor\"]," \
    "\"user_id\":\"4\",\"lis_person_sourcedid\":\"\",\"name\":\"Tina Teacher\",\"given_name\"" \
    ":\"Tina\",\"family_name\":\"Teacher\",\"email\":\"teacher1@example.com\","            \
    "\"ext_user_username\":\"teacher1\"}]}"
#define NOW ((int64_t)1795976386)

static lti_keypair_t key;

static int group_setup(void **state)
{
    int rc = unit_group_setup(state);

    assert_int_equal(lti_keypair_generate(*state, &key, NULL), LTI_OK);
    return rc;
}

static void test_claim(void **state)
{
    apr_pool_t *p = *state;
    const char *url;
    lti_err_t err;

    assert_int_equal(lti_nrps_claim_url(p, "{\"nrps\":{\"context_memberships_url\":\"https://"
                                        "lms/m?x=1\",\"service_versions\":[\"2.0\"]}}", &url,
                                        &err), LTI_OK);
    assert_string_equal(url, "https://lms/m?x=1");
    assert_int_equal(lti_nrps_claim_url(p, "{\"ags\":{}}", &url, &err), LTI_ERR_NOT_FOUND);
    assert_string_equal(err.reason, "nrps_no_claim");
    assert_null(url);
    assert_int_equal(lti_nrps_claim_url(p, NULL, &url, &err), LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_nrps_claim_url(p, "{\"nrps\":{}}", &url, &err), LTI_ERR_MALFORMED);
    assert_string_equal(err.reason, "nrps_claim");
    assert_int_equal(lti_nrps_claim_url(p, "{\"nrps\":{\"context_memberships_url\":\"file:///"
                                        "etc/passwd\"}}", &url, &err), LTI_ERR_MALFORMED);
}

static void test_request(void **state)
{
    lti_http_req_t req;

    (void)state;
    lti_nrps_request("https://lms/m", "tok", &req);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.url, "https://lms/m");
    assert_string_equal(req.accept, "application/vnd.ims.lti-nrps.v2.membershipcontainer+json");
    assert_string_equal(req.bearer, "tok");
    assert_null(req.body);
    assert_int_equal(req.max_bytes, LTI_NRPS_MAX_BYTES);
}

static void test_parse(void **state)
{
    apr_pool_t *p = *state;
    apr_array_header_t *m = apr_array_make(p, 4, sizeof(lti_roster_member_t));
    const lti_roster_member_t *a, *b;
    lti_err_t err;
    const char *odd = "{\"members\":[{\"user_id\":\"7\",\"status\":\"Inactive\",\"roles\":["
                      "\"http://purl.imsglobal.org/vocab/lis/v2/membership#Learner\"]},"
                      "{\"name\":\"no id\"},{\"user_id\":\"\"},42,{\"user_id\":\"8\","
                      "\"name\":\"<b>Ab</b>\"}]}";

    assert_int_equal(lti_nrps_parse(p, 200, MOODLE_MEMBERS, strlen(MOODLE_MEMBERS), m, &err),
                     LTI_OK);
    assert_int_equal(m->nelts, 2);
    a = &APR_ARRAY_IDX(m, 0, lti_roster_member_t);
    b = &APR_ARRAY_IDX(m, 1, lti_roster_member_t);
    assert_string_equal(a->user_id, "3");
    assert_string_equal(a->full_name, "Sam Student");
    assert_string_equal(a->given_name, "Sam");
    assert_string_equal(a->family_name, "Student");
    assert_string_equal(a->email, "student1@example.com");
    assert_int_equal(a->roles, LTI_ROLE_LEARNER);
    assert_true(a->active);
    assert_string_equal(b->user_id, "4");
    assert_int_equal(b->roles, LTI_ROLE_INSTRUCTOR);

    /* Appends; skips members without an id; Inactive; no email or names. */
    assert_int_equal(lti_nrps_parse(p, 200, odd, strlen(odd), m, &err), LTI_OK);
    assert_int_equal(m->nelts, 4);
    a = &APR_ARRAY_IDX(m, 2, lti_roster_member_t);
    assert_string_equal(a->user_id, "7");
    assert_false(a->active);
    assert_int_equal(a->roles, LTI_ROLE_LEARNER);
    assert_null(a->email);
    assert_null(a->full_name);
    a = &APR_ARRAY_IDX(m, 3, lti_roster_member_t);
    assert_string_equal(a->full_name, "<b>Ab</b>");
    assert_true(a->active);

    assert_int_equal(lti_nrps_parse(p, 401, "{}", 2, m, &err), LTI_ERR_UPSTREAM);
    assert_string_equal(err.reason, "nrps_http_status");
    assert_int_equal(lti_nrps_parse(p, 200, "<html>", 6, m, &err), LTI_ERR_UPSTREAM);
    assert_string_equal(err.reason, "nrps_invalid");
    assert_int_equal(lti_nrps_parse(p, 200, "{\"members\":{}}", 14, m, &err), LTI_ERR_UPSTREAM);
    assert_int_equal(lti_nrps_parse(p, 200, "{\"members\":[],\"members\":[]}", 28, m, &err),
                     LTI_ERR_UPSTREAM);
    assert_int_equal(lti_nrps_parse(p, 200, NULL, 0, m, &err), LTI_ERR_UPSTREAM);
    assert_int_equal(m->nelts, 4);
}

static void test_next_link(void **state)
{
    apr_pool_t *p = *state;
    static const struct {
        const char *header, *next;
    } cases[] = {
        {"<https://lms/m?from=10>; rel=\"next\"", "https://lms/m?from=10"},
        /* Moodle's typographic quotes */
        {"<https://lms/m?limit=2&from=2>; rel=\xE2\x80\x9Cnext\xE2\x80\x9D",
         "https://lms/m?limit=2&from=2"},
        {"<https://lms/m?from=2>; rel=\xE2\x80\x9Dnext\xE2\x80\x9D", "https://lms/m?from=2"},
        {"<https://lms/m?from=2>; rel=next", "https://lms/m?from=2"},
        {"<https://lms/m?from=2>;rel = \"NEXT\"", "https://lms/m?from=2"},
        {"<https://lms/first>; rel=\"first\", <https://lms/n>; rel=\"next\"", "https://lms/n"},
        {"<https://lms/a>; rel=\"prev first\", <https://lms/b>; title=\"x\"; rel=\"last next\"",
         "https://lms/b"},
        {"<https://lms/p>; rel=\xE2\x80\x9C" "prev\xE2\x80\x9D, <https://lms/n2>; "
         "rel=\xE2\x80\x9Cnext\xE2\x80\x9D", "https://lms/n2"},
        {"<https://lms/p>; rel=\"prev\"", NULL},
        {"<https://lms/p>; rel=\"nextpage\"", NULL},
        {"<https://lms/p>; title=\"next\"", NULL},
        {"", NULL},
        {"<https://lms/broken; rel=\"next\"", NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = lti_nrps_next_link(p, cases[i].header);

        if (cases[i].next == NULL) {
            assert_null(got);
        }
        else {
            assert_non_null(got);
            assert_string_equal(got, cases[i].next);
        }
    }
    assert_null(lti_nrps_next_link(p, NULL));
}

typedef struct stub_t {
    int port;
    int loop;       /* the last page links back to the first */
} stub_t;

static const char *page(const stub_t *s, const char *members, const char *next)
{
    static __thread char buf[4096];
    char link[512] = "";

    if (next != NULL) {
        /* Moodle's typographic quotes on the middle page, plain ones elsewhere. */
        snprintf(link, sizeof(link), "Link: <http://127.0.0.1:%d%s>; rel=%s\r\n", s->port,
                 next, strstr(next, "p=3") ? "\xE2\x80\x9Cnext\xE2\x80\x9D" : "\"next\"");
    }
    snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nContent-Type: " LTI_NRPS_MEDIA_TYPE
             "\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s", link,
             strlen(members), members);
    return buf;
}

static const char *nrps_answer(void *baton, const char *path)
{
    const stub_t *s = baton;

    if (strcmp(path, "/token") == 0) {
        return "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 60\r\n"
               "Connection: close\r\n\r\n"
               "{\"access_token\":\"t0k\",\"token_type\":\"Bearer\",\"expires_in\":60}";
    }
    if (strcmp(path, "/m") == 0) {
        return page(s, "{\"members\":[{\"user_id\":\"1\",\"roles\":[\"Learner\"]}]}", "/m?p=2");
    }
    if (strcmp(path, "/m?p=2") == 0) {
        return page(s, "{\"members\":[{\"user_id\":\"2\",\"roles\":[\"Learner\"]}]}", "/m?p=3");
    }
    if (strcmp(path, "/m?p=3") == 0) {
        return page(s, "{\"members\":[{\"user_id\":\"3\",\"roles\":[\"Instructor\"]}]}",
                    s->loop ? "/m" : NULL);
    }
    return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

static void test_fetch(void **state)
{
    apr_pool_t *p;
    srv_t srv;
    stub_t stub = {0, 0};
    lti_nrps_platform_t pf;
    lti_http_opts_t opts;
    apr_array_header_t *m;
    lti_err_t err;
    const char *base;
    int pages;

    apr_pool_create(&p, *state);
    srv_start(&srv, nrps_answer, &stub);
    stub.port = srv.port;
    base = apr_psprintf(p, "http://127.0.0.1:%d", srv.port);
    memset(&opts, 0, sizeof(opts));
    opts.timeout = 5;
    opts.allow_insecure_loopback = 1;
    opts.max_bytes = 65536;
    pf.token_url = apr_pstrcat(p, base, "/token", NULL);
    pf.client_id = "client-1";
    pf.kid = key.kid;
    pf.private_pem = key.private_pem;
    assert_int_equal(lti_nrps_fetch(p, &pf, apr_pstrcat(p, base, "/m", NULL), &opts, NOW, &m,
                                    &pages, &err), LTI_OK);
    assert_int_equal(pages, 3);
    assert_int_equal(m->nelts, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(APR_ARRAY_IDX(m, i, lti_roster_member_t).user_id,
                            apr_itoa(p, i + 1));
    }
    assert_int_equal(APR_ARRAY_IDX(m, 2, lti_roster_member_t).roles, LTI_ROLE_INSTRUCTOR);
    assert_int_equal(srv_requests(&srv), 4);
    /* The last page's request carried the token and NRPS's media type. */
    pthread_mutex_lock(&srv.mu);
    assert_non_null(strstr(srv.last_head, "Authorization: Bearer t0k\r\n"));
    assert_non_null(strstr(srv.last_head, "Accept: " LTI_NRPS_MEDIA_TYPE "\r\n"));
    pthread_mutex_unlock(&srv.mu);

    /* Pages that loop stop with an error. */
    stub.loop = 1;
    assert_int_equal(lti_nrps_fetch(p, &pf, apr_pstrcat(p, base, "/m", NULL), &opts, NOW, &m,
                                    &pages, &err), LTI_ERR_UPSTREAM);
    assert_string_equal(err.reason, "nrps_too_many_pages");
    /* A roster URL the platform does not know. */
    assert_int_equal(lti_nrps_fetch(p, &pf, apr_pstrcat(p, base, "/gone", NULL), &opts, NOW,
                                    &m, &pages, &err), LTI_ERR_UPSTREAM);
    assert_string_equal(err.reason, "nrps_http_status");
    /* A token endpoint that is not there. */
    pf.token_url = apr_pstrcat(p, base, "/nothing", NULL);
    assert_int_equal(lti_nrps_fetch(p, &pf, apr_pstrcat(p, base, "/m", NULL), &opts, NOW, &m,
                                    &pages, &err), LTI_ERR_UPSTREAM);
    assert_int_equal(pages, 0);
    srv_stop(&srv);
    apr_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_next_link),
        cmocka_unit_test(test_fetch),
    };

    return cmocka_run_group_tests(tests, group_setup, unit_group_teardown);
}
