/* test_platform.c -- lti_platform_verify: a platform's JWKS fetched from a tiny HTTP server
 * the test runs in a thread on 127.0.0.1, cached in a SQLite store in a temporary folder,
 * refetched for a new kid at most once a minute, kept when the platform is down; tokens
 * signed with keys made by lti_keypair_generate.  Times are passed in (now), so cache expiry
 * and the refetch interval are tested without sleeping. */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_time.h>

#include "stub_server.h"

#define NOW ((int64_t)1700000000)
#define MAX_TTL 3600

/* ---- the platform: its JWKS served by the server above ---- */

/* Two platform key pairs, made once (RSA key generation is slow under ASan), and the key
 * sets that publish them. */
static lti_keypair_t key_a, key_b;
static const char *jwks_a, *jwks_b, *jwks_ab;

static char tmpdir[] = "/tmp/ptech-platform-XXXXXX";
static int dbseq;

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_setup(void **state)
{
    apr_pool_t *p;
    lti_err_t err;
    const char *both[2];

    if (mkdtemp(tmpdir) == NULL || unit_group_setup(state) != 0) {
        return -1;
    }
    p = *state;
    if (lti_keypair_generate(p, &key_a, &err) != LTI_OK
        || lti_keypair_generate(p, &key_b, &err) != LTI_OK) {
        fprintf(stderr, "keypair: %s\n", err.text);
        return -1;
    }
    both[0] = key_a.public_jwk;
    both[1] = key_b.public_jwk;
    jwks_a = lti_jwks_document(p, &key_a.public_jwk, 1, &err);
    jwks_b = lti_jwks_document(p, &key_b.public_jwk, 1, &err);
    jwks_ab = lti_jwks_document(p, both, 2, &err);
    if (jwks_a == NULL || jwks_b == NULL || jwks_ab == NULL) {
        fprintf(stderr, "jwks: %s\n", err.text);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    int rc = unit_group_teardown(state);

    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

/* One test's world: a server, a store with one platform whose jwks_url points at it. */
typedef struct fx_t {
    apr_pool_t *p;
    srv_t srv;
    int running;
    const char *response;       /* what /jwks answers (under srv.mu) */
    lti_store_t *store;
    lti_platform_t pf;
    lti_http_opts_t http;
    lti_keycache_t *kc;         /* the process's parsed keys (NULL: none) */
} fx_t;

/* The tests run twice: with the process key cache the module uses, and without one. */
static int with_keycache;

static const char *jwks_answer(void *baton, const char *path)
{
    fx_t *fx = baton;

    if (strcmp(path, "/jwks") == 0) {
        return fx->response;
    }
    return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

/* Makes /jwks answer status with body and a Cache-Control header (cc NULL: none). */
static void serve(fx_t *fx, int status, const char *cc, const char *body)
{
    const char *r = apr_psprintf(fx->p, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                                 "%s%s%sContent-Length: %d\r\nConnection: close\r\n\r\n%s",
                                 status, cc ? "Cache-Control: " : "", cc ? cc : "",
                                 cc ? "\r\n" : "", (int)strlen(body), body);

    pthread_mutex_lock(&fx->srv.mu);
    fx->response = r;
    pthread_mutex_unlock(&fx->srv.mu);
}

static void fx_open(fx_t *fx, void **state)
{
    lti_err_t err;

    memset(fx, 0, sizeof(*fx));
    apr_pool_create(&fx->p, *state);
    srv_start(&fx->srv, jwks_answer, fx);
    fx->running = 1;
    serve(fx, 200, "max-age=300", jwks_a);
    if (lti_store_open(fx->p, apr_psprintf(fx->p, "sqlite3:%s/p%d.db", tmpdir, ++dbseq),
                       &fx->store, &err) != LTI_OK
        || lti_store_migrate(fx->store, NULL, NULL, &err) != LTI_OK) {
        fail_msg("store: %s", err.text);
    }
    fx->pf.issuer = "https://moodle.example.org";
    fx->pf.client_id = "c-ptech";
    fx->pf.auth_url = "https://moodle.example.org/mod/lti/auth.php";
    fx->pf.token_url = "https://moodle.example.org/mod/lti/token.php";
    fx->pf.jwks_url = apr_psprintf(fx->p, "http://127.0.0.1:%d/jwks", fx->srv.port);
    if (lti_store_platform_add(fx->store, &fx->pf, NOW, &err) != LTI_OK
        || lti_store_platform_get(fx->store, fx->p, fx->pf.issuer, fx->pf.client_id, &fx->pf,
                                  &err) != LTI_OK) {
        fail_msg("platform: %s", err.text);
    }
    fx->http.timeout = 5;
    fx->http.allow_insecure_loopback = 1;
    fx->http.max_bytes = 1024 * 1024;
    if (with_keycache) {
        assert_int_equal(lti_keycache_create(fx->p, &fx->kc), LTI_OK);
    }
}

/* The platform goes down: nothing listens on its port any more. */
static void fx_down(fx_t *fx)
{
    if (fx->running) {
        srv_stop(&fx->srv);
        fx->running = 0;
    }
}

static void fx_close(fx_t *fx)
{
    fx_down(fx);
    apr_pool_destroy(fx->p);
}

/* A launch token signed with pem under kid, parsed. */
static const lti_jwt_t *token(fx_t *fx, const char *kid, const char *pem)
{
    json_t *claims = json_pack("{s:s,s:s,s:s,s:I}", "iss", fx->pf.issuer, "aud",
                               fx->pf.client_id, "sub", "u-1", "iat", (json_int_t)NOW);
    const char *compact;
    lti_jwt_t *jwt;
    lti_err_t err;

    assert_non_null(claims);
    compact = lti_jwt_sign(fx->p, kid, pem, claims, &err);
    json_decref(claims);
    if (compact == NULL) {
        fail_msg("sign: %s", err.text);
    }
    if (lti_jwt_parse(fx->p, compact, strlen(compact), &jwt, &err) != LTI_OK) {
        fail_msg("parse: %s", err.text);
    }
    return jwt;
}

/* Verifies at now; checks the status, the log and how many requests the server saw. */
#define VERIFY(fx, jwt, now, want, fetched, denied, nreq)                                  \
    verify_at((fx), (jwt), (now), (want), (fetched), (denied), (nreq), __LINE__)

static lti_err_t verify_at(fx_t *fx, const lti_jwt_t *jwt, int64_t now, lti_status_t want,
                           int fetched, int denied, int nreq, int line)
{
    lti_platform_keys_log_t log;
    lti_err_t err;
    lti_status_t rv;

    memset(&log, 0x5a, sizeof(log));
    lti_err_clear(&err);
    rv = lti_platform_verify(fx->p, fx->store, fx->kc, &fx->pf, jwt, &fx->http, now, MAX_TTL, &log,
                             &err);
    if (rv != want) {
        fail_msg("line %d: %s, want %s (%s)", line, lti_status_name(rv), lti_status_name(want),
                 err.text);
    }
    if (log.fetched != fetched || log.refetch_denied != denied) {
        fail_msg("line %d: fetched %d refetch_denied %d, want %d %d", line, log.fetched,
                 log.refetch_denied, fetched, denied);
    }
    if (fx->running && srv_requests(&fx->srv) != nreq) {
        fail_msg("line %d: the server saw %d requests, want %d", line,
                 srv_requests(&fx->srv), nreq);
    }
    return err;
}

static lti_jwks_cache_t cached(fx_t *fx)
{
    lti_jwks_cache_t c;
    lti_err_t err;

    assert_int_equal(lti_store_jwks_get(fx->store, fx->p, fx->pf.id, &c, &err), LTI_OK);
    return c;
}

/* ---- tests ---- */

/* The first verification fetches and caches; the next ones use the cache. */
static void test_fetch_then_cache(void **state)
{
    fx_t fx;
    const lti_jwt_t *a;
    lti_jwks_cache_t c;

    fx_open(&fx, state);
    a = token(&fx, key_a.kid, key_a.private_pem);
    VERIFY(&fx, a, NOW, LTI_OK, 1, 0, 1);
    c = cached(&fx);
    assert_string_equal(c.jwks, jwks_a);
    assert_true(c.fetched == NOW);
    assert_true(c.expires == NOW + 300);
    pthread_mutex_lock(&fx.srv.mu);
    assert_string_equal(fx.srv.last_path, "/jwks");
    pthread_mutex_unlock(&fx.srv.mu);

    VERIFY(&fx, a, NOW + 1, LTI_OK, 0, 0, 1);
    VERIFY(&fx, a, NOW + 299, LTI_OK, 0, 0, 1);
    /* log may be NULL. */
    assert_int_equal(lti_platform_verify(fx.p, fx.store, fx.kc, &fx.pf, a, &fx.http, NOW + 2, MAX_TTL,
                                         NULL, NULL),
                     LTI_OK);
    assert_int_equal(srv_requests(&fx.srv), 1);
    fx_close(&fx);
}

/* How long a key set is cached: the platform's max-age, at most max_ttl. */
static void test_cache_ttl(void **state)
{
    static const struct {
        const char *cc;
        int64_t ttl;
    } cases[] = {
        {"max-age=300", 300},
        {"public, max-age=1", 1},
        {NULL, MAX_TTL},
        {"max-age=86400", MAX_TTL},
        {"no-store", 0},
        {"no-cache", 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fx_t fx;
        const lti_jwt_t *a;
        lti_jwks_cache_t c;

        fx_open(&fx, state);
        serve(&fx, 200, cases[i].cc, jwks_a);
        a = token(&fx, key_a.kid, key_a.private_pem);
        VERIFY(&fx, a, NOW, LTI_OK, 1, 0, 1);
        c = cached(&fx);
        if (c.expires != NOW + cases[i].ttl) {
            fail_msg("Cache-Control %s: cached %lld s, want %lld", cases[i].cc ? cases[i].cc : "-",
                     (long long)(c.expires - NOW), (long long)cases[i].ttl);
        }
        fx_close(&fx);
    }
}

/* Expired (max-age 1, two seconds later): fetched again. */
static void test_cache_expiry(void **state)
{
    fx_t fx;
    const lti_jwt_t *a;

    fx_open(&fx, state);
    serve(&fx, 200, "max-age=1", jwks_a);
    a = token(&fx, key_a.kid, key_a.private_pem);
    VERIFY(&fx, a, NOW, LTI_OK, 1, 0, 1);
    VERIFY(&fx, a, NOW, LTI_OK, 0, 0, 1);
    VERIFY(&fx, a, NOW + 2, LTI_OK, 1, 0, 2);
    assert_true(cached(&fx).expires == NOW + 3);
    VERIFY(&fx, a, NOW + 2, LTI_OK, 0, 0, 2);
    fx_close(&fx);
}

/* An unknown kid refetches once; another within the minute is refused without a request;
 * after the minute, refetched again. */
static void test_unknown_kid(void **state)
{
    fx_t fx;
    const lti_jwt_t *a, *x, *y, *z;
    lti_err_t err;

    fx_open(&fx, state);
    a = token(&fx, key_a.kid, key_a.private_pem);
    x = token(&fx, "kid-x", key_b.private_pem);
    y = token(&fx, "kid-y", key_b.private_pem);
    z = token(&fx, "kid-z", key_b.private_pem);
    VERIFY(&fx, a, NOW, LTI_OK, 1, 0, 1);

    err = VERIFY(&fx, x, NOW + 1, LTI_ERR_UNKNOWN_KEY, 1, 0, 2);
    assert_string_equal(err.reason, "jwt_unknown_kid");
    err = VERIFY(&fx, y, NOW + 2, LTI_ERR_UNKNOWN_KEY, 0, 1, 2);
    assert_string_equal(err.reason, "jwt_unknown_kid");
    assert_non_null(strstr(err.text, "one a minute"));
    VERIFY(&fx, x, NOW + 60, LTI_ERR_UNKNOWN_KEY, 0, 1, 2);
    /* The known key is unaffected. */
    VERIFY(&fx, a, NOW + 30, LTI_OK, 0, 0, 2);

    VERIFY(&fx, z, NOW + 61, LTI_ERR_UNKNOWN_KEY, 1, 0, 3);
    VERIFY(&fx, z, NOW + 62, LTI_ERR_UNKNOWN_KEY, 0, 1, 3);
    fx_close(&fx);
}

/* The platform rotates its key: a token with the new kid verifies through the refetch. */
static void test_rotation(void **state)
{
    fx_t fx;
    const lti_jwt_t *a, *b;

    fx_open(&fx, state);
    a = token(&fx, key_a.kid, key_a.private_pem);
    b = token(&fx, key_b.kid, key_b.private_pem);
    VERIFY(&fx, a, NOW, LTI_OK, 1, 0, 1);

    /* First both keys are published (the overlap), then only the new one. */
    serve(&fx, 200, "max-age=300", jwks_ab);
    VERIFY(&fx, b, NOW + 10, LTI_OK, 1, 0, 2);
    VERIFY(&fx, a, NOW + 11, LTI_OK, 0, 0, 2);
    assert_string_equal(cached(&fx).jwks, jwks_ab);
    serve(&fx, 200, "max-age=300", jwks_b);
    VERIFY(&fx, b, NOW + 12, LTI_OK, 0, 0, 2);
    /* Expired: refetched, and the old key has left the set. */
    VERIFY(&fx, a, NOW + 400, LTI_ERR_UNKNOWN_KEY, 1, 0, 3);
    VERIFY(&fx, b, NOW + 401, LTI_OK, 0, 0, 3);
    fx_close(&fx);
}

/* The same rotation without the overlap, straight after the first fetch. */
static void test_rotation_no_overlap(void **state)
{
    fx_t fx;
    const lti_jwt_t *a, *b;

    fx_open(&fx, state);
    a = token(&fx, key_a.kid, key_a.private_pem);
    b = token(&fx, key_b.kid, key_b.private_pem);
    VERIFY(&fx, a, NOW, LTI_OK, 1, 0, 1);
    serve(&fx, 200, "max-age=300", jwks_b);
    VERIFY(&fx, b, NOW + 1, LTI_OK, 1, 0, 2);
    VERIFY(&fx, b, NOW + 2, LTI_OK, 0, 0, 2);
    /* The old kid is gone from the set, and the refetch limit keeps us from asking again. */
    VERIFY(&fx, a, NOW + 3, LTI_ERR_UNKNOWN_KEY, 0, 1, 2);
    fx_close(&fx);
}

/* A kid in the set, but the token was signed by another key. */
static void test_wrong_key(void **state)
{
    fx_t fx;
    const lti_jwt_t *forged;
    lti_err_t err;

    fx_open(&fx, state);
    forged = token(&fx, key_a.kid, key_b.private_pem);
    err = VERIFY(&fx, forged, NOW, LTI_ERR_SIGNATURE, 1, 0, 1);
    assert_string_equal(err.reason, "jwt_bad_signature");
    VERIFY(&fx, forged, NOW + 1, LTI_ERR_SIGNATURE, 0, 0, 1);
    fx_close(&fx);
}

/* Nothing cached and no usable key set: the reasons, and no cache written. */
static void test_fetch_failures(void **state)
{
    static const struct {
        int status;
        const char *body;       /* NULL: a body over LTI_JWKS_MAX_BYTES */
        lti_status_t want;
        const char *reason;
    } cases[] = {
        {500, "{}", LTI_ERR_UPSTREAM, "jwks_unreachable"},
        {404, "not here", LTI_ERR_UPSTREAM, "jwks_unreachable"},
        {302, "", LTI_ERR_UPSTREAM, "jwks_unreachable"},
        {200, "not json", LTI_ERR_UPSTREAM, "jwks_malformed"},
        {200, "{\"keys\":\"no\"}", LTI_ERR_UPSTREAM, "jwks_malformed"},
        {200, NULL, LTI_ERR_UPSTREAM, "http_too_large"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fx_t fx;
        const lti_jwt_t *a;
        lti_err_t err;
        const char *body = cases[i].body;

        fx_open(&fx, state);
        if (body == NULL) {
            char *big = apr_palloc(fx.p, LTI_JWKS_MAX_BYTES + 2);

            memset(big, ' ', LTI_JWKS_MAX_BYTES + 1);
            big[LTI_JWKS_MAX_BYTES + 1] = '\0';
            body = big;
        }
        serve(&fx, cases[i].status, "max-age=300", body);
        a = token(&fx, key_a.kid, key_a.private_pem);
        err = VERIFY(&fx, a, NOW, cases[i].want, 1, 0, 1);
        if (cases[i].reason != NULL) {
            assert_string_equal(err.reason, cases[i].reason);
        }
        assert_null(cached(&fx).jwks);
        fx_close(&fx);
    }
}

/* The platform is down and nothing is cached. */
static void test_down_nothing_cached(void **state)
{
    fx_t fx;
    const lti_jwt_t *a;
    lti_err_t err;

    fx_open(&fx, state);
    a = token(&fx, key_a.kid, key_a.private_pem);
    fx_down(&fx);
    err = VERIFY(&fx, a, NOW, LTI_ERR_UPSTREAM, 1, 0, 0);
    assert_string_equal(err.reason, "jwks_unreachable");
    fx_close(&fx);
}

static int warnings;

static void count_warn(void *baton, lti_log_level_t level, const char *file, int line,
                       const char *msg)
{
    (void)baton;
    (void)file;
    (void)line;
    (void)msg;
    warnings += level == LTI_LOG_WARN;
}

/* The platform is down (or failing) when the cache has expired: the expired keys serve. */
static void test_down_expired_cache(void **state)
{
    fx_t fx;
    const lti_jwt_t *a, *b;
    lti_jwks_cache_t c;

    fx_open(&fx, state);
    serve(&fx, 200, "max-age=10", jwks_a);
    a = token(&fx, key_a.kid, key_a.private_pem);
    b = token(&fx, key_b.kid, key_b.private_pem);
    VERIFY(&fx, a, NOW, LTI_OK, 1, 0, 1);

    /* Failing (HTTP 503): tried, warned, the expired set used; the cache left as it was. */
    warnings = 0;
    lti_log_set(count_warn, NULL);
    serve(&fx, 503, NULL, "busy");
    VERIFY(&fx, a, NOW + 20, LTI_OK, 1, 0, 2);
    assert_int_equal(warnings, 1);
    c = cached(&fx);
    assert_string_equal(c.jwks, jwks_a);
    assert_true(c.fetched == NOW && c.expires == NOW + 10);

    /* Down: the same. */
    fx_down(&fx);
    VERIFY(&fx, a, NOW + 100, LTI_OK, 1, 0, 0);
    assert_int_equal(warnings, 2);
    lti_log_set(NULL, NULL);
    /* A kid the expired set lacks is still unknown. */
    VERIFY(&fx, b, NOW + 101, LTI_ERR_UNKNOWN_KEY, 1, 0, 0);
    fx_close(&fx);
}

/* Plain http to the loopback without allow_insecure_loopback: refused, never requested. */
static void test_insecure_url(void **state)
{
    fx_t fx;
    const lti_jwt_t *a;

    fx_open(&fx, state);
    fx.http.allow_insecure_loopback = 0;
    a = token(&fx, key_a.kid, key_a.private_pem);
    /* The platform's registration is at fault: a 502 for the browser, the reason says why. */
    assert_string_equal(VERIFY(&fx, a, NOW, LTI_ERR_UPSTREAM, 1, 0, 0).reason,
                        "http_insecure_url");
    assert_null(cached(&fx).jwks);
    fx_close(&fx);
}

/* Threads of one process launching together before any key is cached: one fetch. */
typedef struct racer_t {
    fx_t *fx;
    const lti_jwt_t *jwt;
    lti_status_t rv;
    pthread_barrier_t *go;
} racer_t;

static void *race(void *arg)
{
    racer_t *r = arg;

    pthread_barrier_wait(r->go);
    r->rv = lti_platform_verify(r->fx->p, r->fx->store, r->fx->kc,
                                &r->fx->pf, r->jwt, &r->fx->http, NOW, MAX_TTL, NULL, NULL);
    return NULL;
}

static void test_keycache_first_launches(void **state)
{
    enum { N = 8 };
    fx_t fx;
    racer_t rs[N];
    pthread_t th[N];
    pthread_barrier_t go;
    apr_pool_t *pools[N];

    fx_open(&fx, state);
    assert_non_null(fx.kc);
    pthread_barrier_init(&go, NULL, N);
    for (int i = 0; i < N; i++) {
        /* Each thread has its own pool and allocator, as each worker thread has. */
        apr_pool_create_unmanaged_ex(&pools[i], NULL, NULL);
        rs[i].fx = apr_pmemdup(pools[i], &fx, sizeof(fx));
        rs[i].fx->p = pools[i];
        rs[i].jwt = token(&fx, key_a.kid, key_a.private_pem);
        rs[i].go = &go;
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, race, &rs[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(rs[i].rv, LTI_OK);
    }
    assert_int_equal(srv_requests(&fx.srv), 1);
    for (int i = 0; i < N; i++) {
        apr_pool_destroy(pools[i]);
    }
    pthread_barrier_destroy(&go);
    fx_close(&fx);
}

/* Two processes on one store: what one refetched (a rotated key) the other finds in the
 * store, without a fetch of its own; each keeps its parsed keys until they expire. */
static void test_keycache_two_processes(void **state)
{
    fx_t fx;
    lti_keycache_t *first, *second;
    const lti_jwt_t *a, *b;

    fx_open(&fx, state);
    assert_int_equal(lti_keycache_create(fx.p, &first), LTI_OK);
    assert_int_equal(lti_keycache_create(fx.p, &second), LTI_OK);
    a = token(&fx, key_a.kid, key_a.private_pem);
    b = token(&fx, key_b.kid, key_b.private_pem);
    fx.kc = first;
    VERIFY(&fx, a, NOW, LTI_OK, 1, 0, 1);
    fx.kc = second;
    VERIFY(&fx, a, NOW + 1, LTI_OK, 0, 0, 1);
    /* The platform rotates; the first process meets the new kid and refetches. */
    serve(&fx, 200, "max-age=300", jwks_ab);
    fx.kc = first;
    VERIFY(&fx, b, NOW + 10, LTI_OK, 1, 0, 2);
    fx.kc = second;
    VERIFY(&fx, b, NOW + 11, LTI_OK, 0, 0, 2);
    VERIFY(&fx, a, NOW + 12, LTI_OK, 0, 0, 2);
    /* Expiry is the store's: past it, the next launch fetches again. */
    VERIFY(&fx, a, NOW + 10 + 300, LTI_OK, 1, 0, 3);
    fx_close(&fx);
}

static int cache_on(void **state)
{
    (void)state;
    with_keycache = 1;
    return 0;
}

static int cache_off(void **state)
{
    (void)state;
    with_keycache = 0;
    return 0;
}

int main(void)
{
    /* Each test runs without a key cache, then with the process key cache the module uses. */
#define BOTH(t) {#t, t, cache_off, NULL, NULL}, {#t " (key cache)", t, cache_on, NULL, NULL}
    const struct CMUnitTest tests[] = {
        BOTH(test_fetch_then_cache),
        BOTH(test_cache_ttl),
        BOTH(test_cache_expiry),
        BOTH(test_unknown_kid),
        BOTH(test_rotation),
        BOTH(test_rotation_no_overlap),
        BOTH(test_wrong_key),
        BOTH(test_fetch_failures),
        BOTH(test_down_nothing_cached),
        BOTH(test_down_expired_cache),
        BOTH(test_insecure_url),
        cmocka_unit_test_setup(test_keycache_first_launches, cache_on),
        cmocka_unit_test_setup(test_keycache_two_processes, cache_on),
    };
#undef BOTH

    return cmocka_run_group_tests_name("platform", tests, group_setup, group_teardown);
}
