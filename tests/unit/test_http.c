/* test_http.c -- lti_http over libcurl: which URLs may be fetched, and GETs against a tiny
 * HTTP server the test runs in a thread on 127.0.0.1 (canned answers by path: status, body,
 * Cache-Control, a body over the cap, a redirect, a server that never answers), plus a
 * closed port. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <apr_time.h>

#include "stub_server.h"

/* ---- canned answers ---- */

#define BIG 5000    /* bytes in the bodies over the cap (max_bytes 1000 below) */

typedef struct route_t {
    const char *path, *response;
} route_t;

static const char *routes_answer(void *baton, const char *path)
{
    const route_t *r = baton;

    for (; r->path != NULL; r++) {
        if (strcmp(r->path, path) == 0) {
            return r->response;
        }
    }
    return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

#define HEAD200 "HTTP/1.1 200 OK\r\nConnection: close\r\n"

static char big_sized[BIG + 256], big_unsized[BIG + 256];

static route_t routes[] = {
    {"/ok", HEAD200 "Content-Type: application/json\r\nContent-Length: 16\r\n\r\n"
            "{\"keys\":[\"x\"]}\r\n"},
    {"/max-age", HEAD200 "Cache-Control: public, max-age=120\r\nContent-Length: 2\r\n\r\nok"},
    {"/no-store", HEAD200 "Cache-Control: no-store\r\nContent-Length: 2\r\n\r\nok"},
    {"/no-cache", HEAD200 "Cache-Control: max-age=300, no-cache\r\nContent-Length: 2\r\n\r\nok"},
    {"/max-age-0", HEAD200 "cache-control: max-age=0\r\nContent-Length: 2\r\n\r\nok"},
    /* Directive names are case-insensitive (RFC 9111 section 5.2). */
    {"/max-age-caps", HEAD200 "Cache-Control: Max-Age=60\r\nContent-Length: 2\r\n\r\nok"},
    {"/empty", HEAD200 "Content-Length: 0\r\n\r\n"},
    {"/exact", HEAD200 "Content-Length: 1000\r\n\r\n"},   /* body filled in at start */
    {"/missing", "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n"
                 "Content-Length: 9\r\nConnection: close\r\n\r\nnot found"},
    {"/error", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
               "Connection: close\r\n\r\n"},
    {"/redirect", "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n"
                  "Connection: close\r\n\r\n"},
    {"/big", big_sized},
    {"/big-unsized", big_unsized},
    {"/silent", NULL},
    {NULL, NULL},
};

static char exact[64 + 1000];

static void fill_bodies(void)
{
    char body[BIG + 1];

    memset(body, 'x', BIG);
    body[BIG] = '\0';
    snprintf(big_sized, sizeof(big_sized), HEAD200 "Content-Length: %d\r\n\r\n%s", BIG, body);
    /* No length: the body runs to the end of the connection, so only the write callback
     * can stop it. */
    snprintf(big_unsized, sizeof(big_unsized), HEAD200 "\r\n%s", body);
    snprintf(exact, sizeof(exact), HEAD200 "Content-Length: 1000\r\n\r\n%.1000s", body);
    for (route_t *r = routes; r->path != NULL; r++) {
        if (strcmp(r->path, "/exact") == 0) {
            r->response = exact;
        }
    }
}

static srv_t srv;

static int group_setup(void **state)
{
    fill_bodies();
    srv_start(&srv, routes_answer, routes);
    return unit_group_setup(state);
}

static int group_teardown(void **state)
{
    srv_stop(&srv);
    return unit_group_teardown(state);
}

static lti_http_opts_t loopback_opts(int64_t timeout)
{
    lti_http_opts_t o;

    memset(&o, 0, sizeof(o));
    o.timeout = timeout;
    o.allow_insecure_loopback = 1;
    o.max_bytes = 1000;
    return o;
}

static const char *url(apr_pool_t *p, const char *path)
{
    return apr_psprintf(p, "http://127.0.0.1:%d%s", srv.port, path);
}

/* ---- lti_http_check_url ---- */

static void test_check_url(void **state)
{
    static const struct {
        const char *url;
        int loopback;           /* allow_insecure_loopback */
        lti_status_t want;
        const char *reason;
    } cases[] = {
        {"https://moodle.example.org/mod/lti/certs.php", 0, LTI_OK, NULL},
        {"https://moodle.example.org/mod/lti/certs.php", 1, LTI_OK, NULL},
        {"HTTPS://MOODLE.EXAMPLE.ORG/certs", 0, LTI_OK, NULL},
        {"https://127.0.0.1:8443/jwks", 0, LTI_OK, NULL},
        {"https://[2001:db8::1]/jwks", 0, LTI_OK, NULL},
        /* Plain http to the loopback only when allowed. */
        {"http://127.0.0.1:8080/jwks", 1, LTI_OK, NULL},
        {"http://127.0.0.1/jwks", 1, LTI_OK, NULL},
        {"http://[::1]:8080/jwks", 1, LTI_OK, NULL},
        {"http://localhost:8080/jwks", 1, LTI_OK, NULL},
        {"http://LocalHost/jwks", 1, LTI_OK, NULL},
        {"HTTP://127.0.0.1/jwks", 1, LTI_OK, NULL},
        {"http://127.0.0.1:8080/jwks", 0, LTI_ERR_FORBIDDEN, "http_insecure_url"},
        {"http://[::1]/jwks", 0, LTI_ERR_FORBIDDEN, "http_insecure_url"},
        {"http://localhost/jwks", 0, LTI_ERR_FORBIDDEN, "http_insecure_url"},
        /* Other hosts never, allowed or not, however they look like the loopback. */
        {"http://moodle.example.org/jwks", 0, LTI_ERR_FORBIDDEN, "http_insecure_url"},
        {"http://moodle.example.org/jwks", 1, LTI_ERR_FORBIDDEN, "http_insecure_url"},
        {"http://127.0.0.1.evil.example/jwks", 1, LTI_ERR_FORBIDDEN, "http_insecure_url"},
        {"http://localhost.evil.example/jwks", 1, LTI_ERR_FORBIDDEN, "http_insecure_url"},
        {"http://127.0.0.2/jwks", 1, LTI_ERR_FORBIDDEN, "http_insecure_url"},
        {"http://127.1/jwks", 1, LTI_ERR_FORBIDDEN, "http_insecure_url"},
        {"http://2130706433/jwks", 1, LTI_ERR_FORBIDDEN, "http_insecure_url"},
        {"http://0x7f.0.0.1/jwks", 1, LTI_ERR_FORBIDDEN, "http_insecure_url"},
        {"http://0.0.0.0/jwks", 1, LTI_ERR_FORBIDDEN, "http_insecure_url"},
        {"http://127.0.0.1@evil.example/jwks", 1, LTI_ERR_FORBIDDEN, "http_insecure_url"},
        {"http://[::ffff:127.0.0.1]/jwks", 1, LTI_ERR_FORBIDDEN, "http_insecure_url"},
        /* Other schemes. */
        {"ftp://127.0.0.1/jwks", 1, LTI_ERR_FORBIDDEN, "http_insecure_url"},
        {"gopher://moodle.example.org/", 0, LTI_ERR_FORBIDDEN, "http_insecure_url"},
        {"ws://127.0.0.1/jwks", 1, LTI_ERR_FORBIDDEN, "http_insecure_url"},
        /* Junk. */
        {"", 1, LTI_ERR_MALFORMED, "http_bad_url"},
        {"not a url", 1, LTI_ERR_MALFORMED, "http_bad_url"},
        {"/jwks", 1, LTI_ERR_MALFORMED, "http_bad_url"},
        {"moodle.example.org/jwks", 1, LTI_ERR_MALFORMED, "http_bad_url"},
        {"https://", 1, LTI_ERR_MALFORMED, "http_bad_url"},
        {"https:///jwks", 1, LTI_ERR_MALFORMED, "http_bad_url"},
        {"file:///etc/passwd", 1, LTI_ERR_MALFORMED, "http_bad_url"},
        {"mailto:admin@example.org", 1, LTI_ERR_MALFORMED, "http_bad_url"},
        {NULL, 1, LTI_ERR_MALFORMED, "http_bad_url"},
    };
    apr_pool_t *p;

    apr_pool_create(&p, *state);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lti_http_opts_t o = loopback_opts(5);
        lti_err_t err;
        lti_status_t rv;

        o.allow_insecure_loopback = cases[i].loopback;
        lti_err_clear(&err);
        rv = lti_http_check_url(p, cases[i].url, &o, &err);
        if (rv != cases[i].want) {
            fail_msg("%s (loopback %d): %s, want %s (%s)", cases[i].url ? cases[i].url : "NULL",
                     cases[i].loopback, lti_status_name(rv), lti_status_name(cases[i].want),
                     err.text);
        }
        if (cases[i].reason != NULL) {
            assert_int_equal(err.status, rv);
            assert_string_equal(err.reason, cases[i].reason);
        }
        /* err may be NULL. */
        assert_int_equal(lti_http_check_url(p, cases[i].url, &o, NULL), rv);
    }
    apr_pool_destroy(p);
}

/* ---- lti_http_get ---- */

static void test_get(void **state)
{
    static const struct {
        const char *path;
        long status;
        const char *body;       /* NULL: do not compare */
        size_t len;
        const char *content_type;
        int64_t max_age;
    } cases[] = {
        {"/ok", 200, "{\"keys\":[\"x\"]}\r\n", 16, "application/json", -1},
        {"/max-age", 200, "ok", 2, NULL, 120},
        {"/no-store", 200, "ok", 2, NULL, 0},
        {"/no-cache", 200, "ok", 2, NULL, 0},
        {"/max-age-0", 200, "ok", 2, NULL, 0},
        {"/empty", 200, "", 0, NULL, -1},
        {"/exact", 200, NULL, 1000, NULL, -1},          /* exactly max_bytes */
        {"/missing", 404, "not found", 9, "text/html", -1},
        {"/error", 503, "", 0, NULL, -1},
        {"/redirect", 302, "", 0, NULL, -1},            /* not followed */
    };
    apr_pool_t *p;

    apr_pool_create(&p, *state);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lti_http_opts_t o = loopback_opts(5);
        lti_http_resp_t resp;
        lti_err_t err;
        lti_status_t rv;
        int before = srv_requests(&srv);

        rv = lti_http_get(p, url(p, cases[i].path), "application/json", &o, &resp, &err);
        if (rv != LTI_OK) {
            fail_msg("GET %s: %s: %s", cases[i].path, lti_status_name(rv), err.text);
        }
        if (resp.status != cases[i].status) {
            fail_msg("GET %s: status %ld, want %ld", cases[i].path, resp.status,
                     cases[i].status);
        }
        assert_non_null(resp.body);
        assert_true(resp.len == cases[i].len);
        assert_true(resp.body[resp.len] == '\0');
        if (cases[i].body != NULL) {
            assert_memory_equal(resp.body, cases[i].body, cases[i].len);
        }
        if (cases[i].content_type == NULL) {
            assert_null(resp.content_type);
        }
        else {
            assert_non_null(resp.content_type);
            assert_string_equal(resp.content_type, cases[i].content_type);
        }
        if (resp.max_age != cases[i].max_age) {
            fail_msg("GET %s: max_age %lld, want %lld", cases[i].path,
                     (long long)resp.max_age, (long long)cases[i].max_age);
        }
        /* A redirect is reported, made absolute, for the caller to judge. */
        if (resp.status == 302) {
            assert_non_null(resp.location);
            assert_string_equal(resp.location, url(p, "/ok"));
        }
        else {
            assert_null(resp.location);
        }
        /* One request each: the redirect's target was not asked for. */
        assert_int_equal(srv_requests(&srv), before + 1);
        pthread_mutex_lock(&srv.mu);
        assert_string_equal(srv.last_path, cases[i].path);
        pthread_mutex_unlock(&srv.mu);
    }
    apr_pool_destroy(p);
}

/* Cache-Control directive names are compared case-insensitively (RFC 9111 section 5.2). */
static void test_get_max_age_case(void **state)
{
    apr_pool_t *p;
    lti_http_opts_t o = loopback_opts(5);
    lti_http_resp_t resp;
    lti_err_t err;

    apr_pool_create(&p, *state);
    assert_int_equal(lti_http_get(p, url(p, "/max-age-caps"), NULL, &o, &resp, &err), LTI_OK);
    if (resp.max_age != 60) {
        fail_msg("Cache-Control: Max-Age=60 read as max_age %lld", (long long)resp.max_age);
    }
    apr_pool_destroy(p);
}

/* A body over max_bytes, with or without a Content-Length. */
static void test_get_too_large(void **state)
{
    static const char *const paths[] = {"/big", "/big-unsized"};
    apr_pool_t *p;

    apr_pool_create(&p, *state);
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        lti_http_opts_t o = loopback_opts(5);
        lti_http_resp_t resp;
        lti_err_t err;
        lti_status_t rv;

        rv = lti_http_get(p, url(p, paths[i]), NULL, &o, &resp, &err);
        if (rv != LTI_ERR_TOO_LARGE) {
            fail_msg("GET %s: %s, want LTI_ERR_TOO_LARGE (%s)", paths[i], lti_status_name(rv),
                     err.text);
        }
        assert_string_equal(err.reason, "http_too_large");
        /* The same body fits a larger cap. */
        o.max_bytes = BIG;
        assert_int_equal(lti_http_get(p, url(p, paths[i]), NULL, &o, &resp, &err), LTI_OK);
        assert_true(resp.len == BIG);
    }
    apr_pool_destroy(p);
}

/* A server that accepts and never answers: a timeout, within about the timeout. */
static void test_get_timeout(void **state)
{
    apr_pool_t *p;
    lti_http_opts_t o = loopback_opts(1);
    lti_http_resp_t resp;
    lti_err_t err;
    apr_time_t t0, took;

    apr_pool_create(&p, *state);
    t0 = apr_time_now();
    assert_int_equal(lti_http_get(p, url(p, "/silent"), NULL, &o, &resp, &err),
                     LTI_ERR_UPSTREAM);
    took = apr_time_now() - t0;
    assert_string_equal(err.reason, "http_failed");
    assert_non_null(strstr(err.text, "/silent"));
    if (took < apr_time_from_msec(900) || took > apr_time_from_msec(2500)) {
        fail_msg("the 1 s timeout took %lld ms", (long long)apr_time_msec(took));
    }
    apr_pool_destroy(p);
}

/* Nothing listens on the port: refused at once. */
static void test_get_closed_port(void **state)
{
    apr_pool_t *p;
    lti_http_opts_t o = loopback_opts(5);
    lti_http_resp_t resp;
    lti_err_t err;
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    apr_time_t t0;
    int fd, port;

    apr_pool_create(&p, *state);
    /* A port that was free a moment ago. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    port = ntohs(a.sin_port);
    close(fd);

    t0 = apr_time_now();
    assert_int_equal(lti_http_get(p, apr_psprintf(p, "http://127.0.0.1:%d/jwks", port), NULL,
                                  &o, &resp, &err),
                     LTI_ERR_UPSTREAM);
    assert_string_equal(err.reason, "http_failed");
    assert_true(apr_time_now() - t0 < apr_time_from_sec(2));
    assert_true(resp.status == 0);
    apr_pool_destroy(p);
}

/* What the request says: the Accept asked for, our user agent; and an http_proxy in the
 * environment is not used (it points at a closed port here). */
static void test_get_request(void **state)
{
    apr_pool_t *p;
    lti_http_opts_t o = loopback_opts(5);
    lti_http_resp_t resp;
    lti_err_t err;
    char head[SRV_REQ_MAX];

    apr_pool_create(&p, *state);
    setenv("http_proxy", "http://127.0.0.1:1", 1);
    setenv("HTTP_PROXY", "http://127.0.0.1:1", 1);
    assert_int_equal(lti_http_get(p, url(p, "/ok"), "application/jwk-set+json", &o, &resp,
                                  &err),
                     LTI_OK);
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    assert_true(resp.status == 200);
    pthread_mutex_lock(&srv.mu);
    snprintf(head, sizeof(head), "%s", srv.last_head);
    pthread_mutex_unlock(&srv.mu);
    assert_non_null(strstr(head, "GET /ok HTTP/1.1\r\n"));
    assert_non_null(strstr(head, "\r\nAccept: application/jwk-set+json\r\n"));
    assert_non_null(strstr(head, "\r\nUser-Agent: mod_ptech\r\n"));

    /* Without an accept, curl's default. */
    assert_int_equal(lti_http_get(p, url(p, "/ok"), NULL, &o, &resp, &err), LTI_OK);
    pthread_mutex_lock(&srv.mu);
    snprintf(head, sizeof(head), "%s", srv.last_head);
    pthread_mutex_unlock(&srv.mu);
    assert_non_null(strstr(head, "\r\nAccept: */*\r\n"));
    apr_pool_destroy(p);
}

/* A JSON POST with a Bearer token: the request as sent, the answer, the refusals. */
static void test_post_json(void **state)
{
    apr_pool_t *p;
    lti_http_opts_t o = loopback_opts(5), strict = loopback_opts(5);
    lti_http_resp_t resp;
    lti_err_t err;
    char head[SRV_REQ_MAX];
    int before;

    apr_pool_create(&p, *state);
    assert_int_equal(lti_http_post_json(p, url(p, "/ok"), "{\"a\":1}", "tok.en-_1", &o, &resp,
                                        &err), LTI_OK);
    assert_true(resp.status == 200);
    assert_string_equal(resp.body, "{\"keys\":[\"x\"]}\r\n");
    pthread_mutex_lock(&srv.mu);
    snprintf(head, sizeof(head), "%s", srv.last_head);
    pthread_mutex_unlock(&srv.mu);
    assert_true(strncmp(head, "POST /ok HTTP/1.1\r\n", 19) == 0);
    assert_non_null(strstr(head, "\r\nAuthorization: Bearer tok.en-_1\r\n"));
    assert_non_null(strstr(head, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(head, "\r\nAccept: application/json\r\n"));
    assert_non_null(strstr(head, "\r\nContent-Length: 7\r\n"));
    assert_string_equal(strstr(head, "\r\n\r\n") + 4, "{\"a\":1}");
    /* Without a token, no Authorization header. */
    assert_int_equal(lti_http_post_json(p, url(p, "/ok"), "{}", NULL, &o, &resp, &err), LTI_OK);
    pthread_mutex_lock(&srv.mu);
    snprintf(head, sizeof(head), "%s", srv.last_head);
    pthread_mutex_unlock(&srv.mu);
    assert_null(strstr(head, "Authorization"));
    /* Caps and refusals as for a GET, nothing sent. */
    assert_int_equal(lti_http_post_json(p, url(p, "/big"), "{}", NULL, &o, &resp, &err),
                     LTI_ERR_TOO_LARGE);
    before = srv_requests(&srv);
    strict.allow_insecure_loopback = 0;
    assert_int_equal(lti_http_post_json(p, url(p, "/ok"), "{}", "t", &strict, &resp, &err),
                     LTI_ERR_FORBIDDEN);
    assert_string_equal(err.reason, "http_insecure_url");
    assert_int_equal(lti_http_post_json(p, url(p, "/ok"), "{}", "a\r\nX-Evil: 1", &o, &resp,
                                        &err), LTI_ERR_MALFORMED);
    assert_string_equal(err.reason, "http_bad_token");
    assert_int_equal(lti_http_post_json(p, url(p, "/ok"), "{}", "", &o, &resp, &err),
                     LTI_ERR_MALFORMED);
    assert_int_equal(lti_http_post_json(p, url(p, "/ok"), NULL, "t", &o, &resp, &err),
                     LTI_ERR_INTERNAL);
    assert_int_equal(srv_requests(&srv), before);
    apr_pool_destroy(p);
}

/* lti_http_request: a POST of any type with a body of body_len bytes, a GET with a bearer,
 * a per-request cap, and the refusals (nothing sent). */
static void test_request(void **state)
{
    apr_pool_t *p;
    lti_http_opts_t o = loopback_opts(5);
    lti_http_resp_t resp;
    lti_http_req_t req;
    lti_err_t err;
    char head[SRV_REQ_MAX];
    int before;

    apr_pool_create(&p, *state);
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.url = url(p, "/ok");
    req.content_type = "application/x-www-form-urlencoded";
    req.accept = "application/json";
    req.body = "a=1&b=2IGNORED";
    req.body_len = 7;
    assert_int_equal(lti_http_request(p, &req, &o, &resp, &err), LTI_OK);
    assert_true(resp.status == 200);
    assert_string_equal(resp.content_type, "application/json");
    pthread_mutex_lock(&srv.mu);
    snprintf(head, sizeof(head), "%s", srv.last_head);
    pthread_mutex_unlock(&srv.mu);
    assert_true(strncmp(head, "POST /ok HTTP/1.1\r\n", 19) == 0);
    assert_non_null(strstr(head, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
    assert_non_null(strstr(head, "\r\nAccept: application/json\r\n"));
    assert_null(strstr(head, "Authorization"));
    assert_string_equal(strstr(head, "\r\n\r\n") + 4, "a=1&b=2");

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url(p, "/ok");
    req.accept = "application/vnd.ims.lis.v2.lineitemcontainer+json";
    req.bearer = "t0k";
    assert_int_equal(lti_http_request(p, &req, &o, &resp, &err), LTI_OK);
    pthread_mutex_lock(&srv.mu);
    snprintf(head, sizeof(head), "%s", srv.last_head);
    pthread_mutex_unlock(&srv.mu);
    assert_true(strncmp(head, "GET /ok HTTP/1.1\r\n", 18) == 0);
    assert_non_null(strstr(head, "\r\nAuthorization: Bearer t0k\r\n"));
    assert_non_null(strstr(head, "\r\nAccept: application/vnd.ims.lis.v2.lineitemcontainer"
                                 "+json\r\n"));
    /* The request's cap wins over the options' (16 bytes answered). */
    req.max_bytes = 10;
    assert_int_equal(lti_http_request(p, &req, &o, &resp, &err), LTI_ERR_TOO_LARGE);
    req.max_bytes = 0;

    before = srv_requests(&srv);
    req.method = "PUT";
    assert_int_equal(lti_http_request(p, &req, &o, &resp, &err), LTI_ERR_INTERNAL);
    req.method = "GET";
    req.body = "x";
    req.body_len = 1;
    assert_int_equal(lti_http_request(p, &req, &o, &resp, &err), LTI_ERR_INTERNAL);
    req.method = "POST";
    assert_int_equal(lti_http_request(p, &req, &o, &resp, &err), LTI_ERR_INTERNAL);
    req.content_type = "text/plain\r\nX-Evil: 1";
    assert_int_equal(lti_http_request(p, &req, &o, &resp, &err), LTI_ERR_INTERNAL);
    req.content_type = "text/plain";
    req.bearer = "a\nb";
    assert_int_equal(lti_http_request(p, &req, &o, &resp, &err), LTI_ERR_MALFORMED);
    assert_string_equal(err.reason, "http_bad_token");
    assert_int_equal(srv_requests(&srv), before);
    apr_pool_destroy(p);
}

/* A URL check_url refuses is never fetched. */
static void test_get_refused_url(void **state)
{
    apr_pool_t *p;
    lti_http_opts_t o = loopback_opts(5);
    lti_http_resp_t resp;
    lti_err_t err;
    int before = srv_requests(&srv);

    apr_pool_create(&p, *state);
    o.allow_insecure_loopback = 0;
    assert_int_equal(lti_http_get(p, url(p, "/ok"), NULL, &o, &resp, &err), LTI_ERR_FORBIDDEN);
    assert_string_equal(err.reason, "http_insecure_url");
    assert_int_equal(lti_http_get(p, "junk", NULL, &o, &resp, &err), LTI_ERR_MALFORMED);
    /* https to our plain server: the TLS handshake fails. */
    o.timeout = 2;
    assert_int_equal(lti_http_get(p, apr_psprintf(p, "https://127.0.0.1:%d/ok", srv.port),
                                  NULL, &o, &resp, &err),
                     LTI_ERR_UPSTREAM);
    assert_int_equal(srv_requests(&srv), before + 1);   /* the handshake, not a GET */
    pthread_mutex_lock(&srv.mu);
    assert_string_equal(srv.last_path, "");
    pthread_mutex_unlock(&srv.mu);
    apr_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_url),
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_get_max_age_case),
        cmocka_unit_test(test_get_too_large),
        cmocka_unit_test(test_get_timeout),
        cmocka_unit_test(test_get_closed_port),
        cmocka_unit_test(test_get_request),
        cmocka_unit_test(test_post_json),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_get_refused_url),
    };

    return cmocka_run_group_tests_name("http", tests, group_setup, group_teardown);
}
