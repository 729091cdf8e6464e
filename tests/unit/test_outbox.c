/* test_outbox.c -- grade returns: queueing with the course result (newest wins, an
 * unchanged result not queued again, kept progress applied at the first launch), the drainer
 * claim, leases (expiry, a stale holder, a value changed under a lease), retry and purge,
 * backoff and the answer rules, and whole drains against a stub LMS (sent, retried, dead
 * letter; AGS: token, line item, score, 401 once, 409, 500, a line item created). */
#include <ftw.h>

#include "stub_server.h"

#define NOW ((int64_t)1795976000)

static char tmpdir[] = "/tmp/ptech-outbox-XXXXXX";
static int dbseq;

static int group_setup(void **state)
{
    if (mkdtemp(tmpdir) == NULL) {
        return -1;
    }
    lti_init();
    return unit_group_setup(state);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int group_teardown(void **state)
{
    int rc = unit_group_teardown(state);

    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

static lti_store_t *new_store(apr_pool_t *p)
{
    lti_store_t *s;
    lti_err_t err;

    if (lti_store_open(p, apr_psprintf(p, "sqlite3:%s/o%d.db", tmpdir, ++dbseq), &s, &err)
            != LTI_OK
        || lti_store_migrate(s, NULL, NULL, &err) != LTI_OK
        || lti_store_consumer_add(s, "moodle", "moodle-secret-1234", 0, NOW, &err) != LTI_OK) {
        fail_msg("store: %s", err.text);
    }
    return s;
}

/* Launches user on link of course c1 (LTI 1.1, grades to url); returns the ids. */
static lti_launch_ids_t launch(apr_pool_t *p, lti_store_t *s, const char *user,
                               const char *link, const char *url)
{
    lti_launch_rec_t r;
    lti_launch_ids_t ids;
    lti_err_t err;

    memset(&r, 0, sizeof(r));
    r.tenant = r.nonce_scope = "lti11:moodle";
    r.nonce = lti_random_hex(p, 8);
    r.nonce_expires = NOW + 600;
    r.version = "1.1";
    r.user_id = user;
    r.email = apr_pstrcat(p, user, "@example.org", NULL);
    r.full_name = user;
    r.context_id = "ctx";
    r.link_id = link;
    r.course_id = "c1";
    r.roles = LTI_ROLE_LEARNER;
    r.result_sourcedid = apr_pstrcat(p, "sid-", user, "-", link, NULL);
    r.outcome_url = url;
    r.session_hash = lti_random_hex(p, 16);
    r.csrf = "csrf";
    r.session_expires = NOW + 3600;
    r.now = NOW;
    r.pool = p;
    if (lti_store_launch_record(s, &r, &ids, &err) != LTI_OK) {
        fail_msg("launch: %s", err.text);
    }
    return ids;
}

static lti_progress_stats_t record(apr_pool_t *p, lti_store_t *s, const char *user,
                                   int64_t person, const char *status, double score, int64_t at)
{
    apr_array_header_t *rows = apr_array_make(p, 1, sizeof(lti_progress_t));
    lti_progress_t *r = apr_array_push(rows);
    lti_progress_stats_t st;
    lti_err_t err;

    memset(r, 0, sizeof(*r));
    r->user = user;
    r->person_id = person;
    r->course_id = "c1";
    r->module_id = "";
    r->status = status;
    r->has_score = 1;
    r->score = score;
    r->at = at;
    r->source = "csv";
    if (lti_store_progress_record(s, p, rows, NOW, unit_newest_result, NULL, &st, &err) != LTI_OK) {
        fail_msg("record: %s", err.text);
    }
    return st;
}

static apr_array_header_t *list(apr_pool_t *p, lti_store_t *s, const char *state)
{
    apr_array_header_t *out;
    lti_err_t err;

    assert_int_equal(lti_store_outbox_list(s, p, state, 0, &out, &err), LTI_OK);
    return out;
}

static apr_array_header_t *lease(apr_pool_t *p, lti_store_t *s, const char *owner, int64_t now)
{
    apr_array_header_t *out;
    lti_err_t err;

    assert_int_equal(lti_store_outbox_lease(s, p, owner, now, 60, 10, &out, &err), LTI_OK);
    return out;
}

#define ITEM(a, i) (&APR_ARRAY_IDX((a), (i), lti_outbox_item_t))

static void test_backoff(void **state)
{
    assert_int_equal(lti_outbox_backoff(30, 0, 0), 30);
    assert_int_equal(lti_outbox_backoff(30, 0, 1), 37);
    assert_int_equal(lti_outbox_backoff(30, 1, 0), 60);
    assert_int_equal(lti_outbox_backoff(30, 3, 0.5), 270);
    assert_int_equal(lti_outbox_backoff(30, 7, 0), 3600);      /* 3840 capped */
    assert_int_equal(lti_outbox_backoff(30, 60, 1), 3600);
    assert_int_equal(lti_outbox_backoff(1, 0, 0), 1);
    assert_int_equal(lti_outbox_backoff(0, 0, 0), 1);
    for (int n = 0; n < 6; n++) {
        int64_t lo = lti_outbox_backoff(10, n, 0), hi = lti_outbox_backoff(10, n, 1);

        assert_int_equal(lo, 10 << n);
        assert_int_equal(hi, (10 << n) * 5 / 4);
    }
}

/* A kind shaped like AGS: a first 401 retries at once (new token), a second one fails. */
static lti_outbox_end_t token_answer(apr_pool_t *p, const lti_outbox_item_t *it, long status,
                                     const char *body, size_t len, const char **reason,
                                     int64_t *wait)
{
    if (status == 401 && (it->reason == NULL || strcmp(it->reason, "token refused") != 0)) {
        *reason = "token refused";
        *wait = 0;
        return LTI_OUTBOX_RETRY;
    }
    *reason = "refused";
    return status == 200 ? LTI_OUTBOX_SENT : LTI_OUTBOX_FAILED;
}

static void test_kind_wait(void **state)
{
    apr_pool_t *p = *state;
    const lti_outbox_kind_t k = {"test", NULL, token_answer};
    lti_outbox_cfg_t cfg;
    lti_outbox_item_t it;
    const char *reason;
    int64_t next;

    memset(&cfg, 0, sizeof(cfg));
    cfg.retry_base = 30;
    cfg.max_age = 86400;
    memset(&it, 0, sizeof(it));
    it.queued = NOW;
    assert_int_equal(lti_outbox_decide(p, &k, &it, &cfg, NOW, 401, "", 0, NULL, 0, &next,
                                       &reason), LTI_OUTBOX_RETRY);
    assert_int_equal(next, NOW);
    it.reason = reason;
    it.attempts = 1;
    assert_int_equal(lti_outbox_decide(p, &k, &it, &cfg, NOW, 401, "", 0, NULL, 0, &next,
                                       &reason), LTI_OUTBOX_FAILED);
    /* The engine's own retries still back off. */
    assert_int_equal(lti_outbox_decide(p, &k, &it, &cfg, NOW, 502, "", 0, NULL, 0, &next,
                                       &reason), LTI_OUTBOX_RETRY);
    assert_int_equal(next, NOW + 60);
}

static void test_decide(void **state)
{
    apr_pool_t *p = *state;
    const lti_outbox_kind_t *k = lti_outbox_kind("lti11");
    lti_outbox_cfg_t cfg;
    lti_outbox_item_t it;
    const char *reason, *ok;
    int64_t next;

    memset(&cfg, 0, sizeof(cfg));
    cfg.retry_base = 30;
    cfg.max_age = 7 * 86400;
    memset(&it, 0, sizeof(it));
    it.attempts = 2;
    it.queued = NOW - 100;
    ok = apr_psprintf(p, "<imsx_POXEnvelopeResponse xmlns=\"%s\"><imsx_POXHeader>"
                      "<imsx_POXResponseHeaderInfo><imsx_statusInfo><imsx_codeMajor>success"
                      "</imsx_codeMajor></imsx_statusInfo></imsx_POXResponseHeaderInfo>"
                      "</imsx_POXHeader></imsx_POXEnvelopeResponse>", LTI_POX_NS);
    assert_non_null(k);
    assert_null(lti_outbox_kind("nope"));
    assert_int_equal(lti_outbox_decide(p, k, &it, &cfg, NOW, 200, ok, strlen(ok), NULL, 0,
                                       &next, &reason), LTI_OUTBOX_SENT);
    /* Network errors, 408, 429, 5xx: retry n = attempts waits base x 2^n x [1, 1.25]. */
    assert_int_equal(lti_outbox_decide(p, k, &it, &cfg, NOW, 0, NULL, 0, "connection refused",
                                       0, &next, &reason), LTI_OUTBOX_RETRY);
    assert_string_equal(reason, "network: connection refused");
    assert_int_equal(next, NOW + 120);
    for (long st = 500; st <= 599; st += 99) {
        assert_int_equal(lti_outbox_decide(p, k, &it, &cfg, NOW, st, "x", 1, NULL, 1, &next,
                                           &reason), LTI_OUTBOX_RETRY);
        assert_int_equal(next, NOW + 150);
    }
    assert_int_equal(lti_outbox_decide(p, k, &it, &cfg, NOW, 408, "", 0, NULL, 0, &next,
                                       &reason), LTI_OUTBOX_RETRY);
    assert_int_equal(lti_outbox_decide(p, k, &it, &cfg, NOW, 429, "", 0, NULL, 0, &next,
                                       &reason), LTI_OUTBOX_RETRY);
    assert_string_equal(reason, "the LMS answered HTTP 429");
    /* A POX failure in an HTTP 200, other statuses: final. */
    assert_int_equal(lti_outbox_decide(p, k, &it, &cfg, NOW, 200, "<x/>", 4, NULL, 0, &next,
                                       &reason), LTI_OUTBOX_RETRY);     /* unreadable */
    assert_int_equal(lti_outbox_decide(p, k, &it, &cfg, NOW, 401, "", 0, NULL, 0, &next,
                                       &reason), LTI_OUTBOX_FAILED);
    assert_int_equal(lti_outbox_decide(p, k, &it, &cfg, NOW, 404, "", 0, NULL, 0, &next,
                                       &reason), LTI_OUTBOX_FAILED);
    assert_string_equal(reason, "the LMS answered HTTP 404");
    /* AGS answers: 2xx sent, 400 and 409 final. */
    assert_int_equal(lti_outbox_decide(p, lti_outbox_kind("ags"), &it, &cfg, NOW, 204, "", 0,
                                       NULL, 0, &next, &reason), LTI_OUTBOX_SENT);
    assert_int_equal(lti_outbox_decide(p, lti_outbox_kind("ags"), &it, &cfg, NOW, 409, "", 0,
                                       NULL, 0, &next, &reason), LTI_OUTBOX_FAILED);
    assert_int_equal(lti_outbox_decide(p, lti_outbox_kind("ags"), &it, &cfg, NOW, 400, "", 0,
                                       NULL, 0, &next, &reason), LTI_OUTBOX_FAILED);
    /* After PTechOutboxMaxAge a retry is a dead letter, with the reason. */
    it.queued = NOW - cfg.max_age;
    assert_int_equal(lti_outbox_decide(p, k, &it, &cfg, NOW, 503, "", 0, NULL, 0, &next,
                                       &reason), LTI_OUTBOX_FAILED);
    assert_string_equal(reason, "gave up after 3 attempt(s) over PTechOutboxMaxAge: "
                                "the LMS answered HTTP 503");
}

static void test_queue_newest_wins(void **state)
{
    apr_pool_t *p = *state;
    lti_store_t *s = new_store(p);
    lti_launch_ids_t a = launch(p, s, "u1", "L1", "https://lms.example/o");
    lti_progress_stats_t st;
    apr_array_header_t *l;
    lti_result_t res;
    lti_err_t err;

    launch(p, s, "u1", "L2", "https://lms.example/o");
    st = record(p, s, "u1@example.org", 0, "passed", 0.8, NOW - 50);
    assert_int_equal(st.applied, 1);
    assert_int_equal(st.results, 1);
    assert_int_equal(st.queued, 2);                     /* one per link */
    assert_int_equal(lti_store_result_get(s, p, a.person_id, "c1", &res, &err), LTI_OK);
    assert_string_equal(res.status, "passed");
    /* The same fact again: nothing. An older one: nothing. */
    st = record(p, s, "u1", 0, "passed", 0.8, NOW - 50);
    assert_int_equal(st.applied + st.results + st.queued, 0);
    assert_int_equal(st.unchanged, 1);
    st = record(p, s, "u1", 0, "failed", 0.1, NOW - 60);
    assert_int_equal(st.applied + st.queued, 0);
    /* A newer value takes the pending rows (newest wins): still two rows, version 2. */
    st = record(p, s, "U1@EXAMPLE.ORG", 0, "passed", 0.9, NOW - 40);
    assert_int_equal(st.queued, 2);
    l = list(p, s, "pending");
    assert_int_equal(l->nelts, 2);
    assert_int_equal(ITEM(l, 0)->version, 2);
    assert_true(ITEM(l, 0)->score == 0.9);
    assert_string_equal(ITEM(l, 0)->kind, "lti11");
    /* Back to a value equal to what is queued: not queued again. */
    st = record(p, s, "u1", 0, "passed", 0.9, NOW - 30);
    assert_int_equal(st.applied, 1);
    assert_int_equal(st.queued, 0);
}

static void test_kept_until_launch(void **state)
{
    apr_pool_t *p = *state;
    lti_store_t *s = new_store(p);
    lti_progress_stats_t st = record(p, s, "Late@Example.org", 0, "passed", 0.7, NOW - 10);
    lti_launch_ids_t ids;
    lti_err_t err;

    assert_int_equal(st.kept, 1);
    assert_int_equal(list(p, s, NULL)->nelts, 0);
    /* Someone with nothing kept and no result: the launch itself says there is no work. */
    assert_int_equal(launch(p, s, "other", "L1", "https://lms.example/o").progress_due, 0);
    ids = launch(p, s, "late", "L1", "https://lms.example/o");
    assert_int_equal(ids.progress_due, 1);
    assert_int_equal(lti_store_progress_on_launch(s, p, ids.person_id, ids.link_pk, NOW,
                                                  unit_newest_result, NULL, &st, &err), LTI_OK);
    assert_int_equal(st.applied, 1);
    assert_int_equal(st.queued, 1);
    /* Applied once: a second launch finds nothing to do; a new link gets the result. */
    assert_int_equal(launch(p, s, "late", "L1", "https://lms.example/o").progress_due, 0);
    assert_int_equal(lti_store_progress_on_launch(s, p, ids.person_id, ids.link_pk, NOW,
                                                  unit_newest_result, NULL, &st, &err), LTI_OK);
    assert_int_equal(st.applied + st.queued, 0);
    ids = launch(p, s, "late", "L2", "https://lms.example/o");
    assert_int_equal(ids.progress_due, 1);
    assert_int_equal(lti_store_progress_on_launch(s, p, ids.person_id, ids.link_pk, NOW,
                                                  unit_newest_result, NULL, &st, &err), LTI_OK);
    assert_int_equal(st.queued, 1);
    assert_int_equal(list(p, s, "pending")->nelts, 2);
}

static void test_drainer_claim(void **state)
{
    apr_pool_t *p = *state;
    lti_store_t *s = new_store(p);
    lti_err_t err;
    int g = 0;

    assert_int_equal(lti_store_outbox_claim_drainer(s, "A", NOW, 30, &g, &err), LTI_OK);
    assert_true(g);
    assert_int_equal(lti_store_outbox_claim_drainer(s, "B", NOW + 10, 30, &g, &err), LTI_OK);
    assert_false(g);
    assert_int_equal(lti_store_outbox_claim_drainer(s, "A", NOW + 20, 30, &g, &err), LTI_OK);
    assert_true(g);                                     /* renewed to NOW + 50 */
    assert_int_equal(lti_store_outbox_claim_drainer(s, "B", NOW + 45, 30, &g, &err), LTI_OK);
    assert_false(g);
    assert_int_equal(lti_store_outbox_claim_drainer(s, "B", NOW + 51, 30, &g, &err), LTI_OK);
    assert_true(g);                                     /* A crashed: its claim expired */
    assert_int_equal(lti_store_outbox_claim_drainer(s, "A", NOW + 52, 30, &g, &err), LTI_OK);
    assert_false(g);
    /* B stops and hands the role over at once. */
    assert_int_equal(lti_store_outbox_claim_drainer(s, "B", NOW + 52, -1, &g, &err), LTI_OK);
    assert_int_equal(lti_store_outbox_claim_drainer(s, "A", NOW + 52, 30, &g, &err), LTI_OK);
    assert_true(g);
}

static void test_leases(void **state)
{
    apr_pool_t *p = *state;
    lti_store_t *s = new_store(p);
    lti_launch_ids_t ids = launch(p, s, "u2", "L1", "https://lms.example/o");
    apr_array_header_t *a, *b;
    lti_outbox_item_t old;
    lti_err_t err;
    int applied = -1;

    record(p, s, "u2", ids.person_id, "passed", 0.5, NOW - 10);
    a = lease(p, s, "A", NOW);
    assert_int_equal(a->nelts, 1);
    assert_string_equal(ITEM(a, 0)->consumer_key, "moodle");
    assert_string_equal(ITEM(a, 0)->consumer_secret, "moodle-secret-1234");
    assert_string_equal(ITEM(a, 0)->sourcedid, "sid-u2-L1");
    assert_int_equal(lease(p, s, "B", NOW + 1)->nelts, 0);     /* leased by A */
    /* A crashes; its lease expires and B takes the row. */
    b = lease(p, s, "B", NOW + 61);
    assert_int_equal(b->nelts, 1);
    assert_int_equal(lti_store_outbox_finish(s, ITEM(a, 0), "A", LTI_OUTBOX_SENT, 0, NULL,
                                             NOW + 62, &applied, &err), LTI_OK);
    assert_int_equal(applied, 0);                       /* not A's any more */
    /* A new value arrives while B delivers the old one: B's success does not mark the new
     * value sent, and the row is free again at once. */
    old = *ITEM(b, 0);
    record(p, s, "u2", ids.person_id, "passed", 0.6, NOW - 5);
    assert_int_equal(lti_store_outbox_finish(s, &old, "B", LTI_OUTBOX_SENT, 0, NULL, NOW + 63,
                                             &applied, &err), LTI_OK);
    assert_int_equal(applied, 0);
    b = lease(p, s, "B", NOW + 64);
    assert_int_equal(b->nelts, 1);
    assert_true(ITEM(b, 0)->score == 0.6);
    /* Retry later: not due before next_attempt. */
    assert_int_equal(lti_store_outbox_finish(s, ITEM(b, 0), "B", LTI_OUTBOX_RETRY, NOW + 100,
                                             "the LMS answered HTTP 503", NOW + 65, &applied,
                                             &err), LTI_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(lease(p, s, "B", NOW + 99)->nelts, 0);
    b = lease(p, s, "B", NOW + 100);
    assert_int_equal(b->nelts, 1);
    assert_int_equal(ITEM(b, 0)->attempts, 1);
    assert_string_equal(ITEM(b, 0)->reason, "the LMS answered HTTP 503");
    /* Dead letter, then retry by hand, then sent, then purged. */
    assert_int_equal(lti_store_outbox_finish(s, ITEM(b, 0), "B", LTI_OUTBOX_FAILED, 0,
                                             "gave up", NOW + 101, &applied, &err), LTI_OK);
    assert_int_equal(list(p, s, "failed")->nelts, 1);
    assert_int_equal(lease(p, s, "B", NOW + 200)->nelts, 0);
    assert_int_equal(lti_store_outbox_retry(s, 999, NOW + 200, NULL, &err), LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_store_outbox_retry(s, 0, NOW + 200, &applied, &err), LTI_OK);
    assert_int_equal(applied, 1);
    b = lease(p, s, "B", NOW + 200);
    assert_int_equal(b->nelts, 1);
    assert_int_equal(ITEM(b, 0)->attempts, 0);
    assert_int_equal(lti_store_outbox_finish(s, ITEM(b, 0), "B", LTI_OUTBOX_SENT, 0, NULL,
                                             NOW + 201, &applied, &err), LTI_OK);
    assert_int_equal(list(p, s, "sent")->nelts, 1);
    assert_int_equal(lti_store_outbox_purge(s, NOW + 201, &applied, &err), LTI_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(lti_store_outbox_purge(s, NOW + 202, &applied, &err), LTI_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(list(p, s, NULL)->nelts, 0);
    /* What was sent is remembered past the purge: a new launch sends nothing again. */
    {
        lti_progress_stats_t st;

        assert_int_equal(lti_store_progress_on_launch(s, p, ids.person_id, ids.link_pk,
                                                      NOW + 300, unit_newest_result, NULL, &st,
                                                      &err),
                         LTI_OK);
        assert_int_equal(st.queued, 0);
        assert_int_equal(list(p, s, NULL)->nelts, 0);
    }
}

static void test_retry_never_regresses(void **state)
{
    apr_pool_t *p = *state;
    lti_store_t *s = new_store(p);
    lti_launch_ids_t ids = launch(p, s, "u3", "L1", "https://lms.example/o");
    apr_array_header_t *a;
    lti_err_t err;
    int n = 0;

    record(p, s, "u3", ids.person_id, "passed", 0.5, NOW - 10);
    a = lease(p, s, "A", NOW);
    lti_store_outbox_finish(s, ITEM(a, 0), "A", LTI_OUTBOX_FAILED, 0, "x", NOW, NULL, &err);
    record(p, s, "u3", ids.person_id, "passed", 0.7, NOW - 5);
    a = lease(p, s, "A", NOW + 1);
    lti_store_outbox_finish(s, ITEM(a, 0), "A", LTI_OUTBOX_SENT, 0, NULL, NOW + 1, NULL, &err);
    /* The old failed value may not go out after the newer one. */
    assert_int_equal(lti_store_outbox_retry(s, 0, NOW + 2, &n, &err), LTI_OK);
    assert_int_equal(n, 0);
    assert_int_equal(list(p, s, "failed")->nelts, 1);
}

/* ---- whole drains against a stub LMS ---- */

static const char *answer_pox(void *baton, const char *path)
{
    return (const char *)baton;
}

static void drain_once(apr_pool_t *p, lti_store_t *s, int64_t now, int64_t max_age,
                       lti_outbox_stats_t *st)
{
    lti_outbox_cfg_t cfg;
    lti_outbox_t *o;
    apr_pool_t *scratch;
    lti_err_t err;

    memset(&cfg, 0, sizeof(cfg));
    cfg.owner = "test";
    cfg.retry_base = 30;
    cfg.max_age = max_age;
    cfg.lease_ttl = 60;
    cfg.max_in_flight = 8;
    cfg.batch = 16;
    cfg.http.timeout = 5;
    cfg.http.allow_insecure_loopback = 1;
    cfg.http.max_bytes = 65536;
    assert_int_equal(lti_outbox_create(p, &cfg, &o, &err), LTI_OK);
    apr_pool_create(&scratch, p);
    assert_int_equal(lti_outbox_drain(o, s, scratch, now, st, &err), LTI_OK);
    apr_pool_destroy(scratch);
}

static void test_drain(void **state)
{
    apr_pool_t *p = *state;
    lti_store_t *s = new_store(p);
    const char *pox = apr_psprintf(p, "<imsx_POXEnvelopeResponse xmlns=\"%s\"><imsx_POXHeader>"
                                   "<imsx_POXResponseHeaderInfo><imsx_statusInfo><imsx_codeMajor>"
                                   "success</imsx_codeMajor></imsx_statusInfo>"
                                   "</imsx_POXResponseHeaderInfo></imsx_POXHeader>"
                                   "</imsx_POXEnvelopeResponse>", LTI_POX_NS);
    const char *ok = apr_psprintf(p, "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n"
                                  "Connection: close\r\nContent-Length: %d\r\n\r\n%s",
                                  (int)strlen(pox), pox);
    const char *busy = "HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    lti_outbox_stats_t st;
    apr_array_header_t *l;
    lti_launch_ids_t ids;
    srv_t srv;

    srv_start(&srv, answer_pox, (void *)ok);
    ids = launch(p, s, "u4", "L1", apr_psprintf(p, "http://127.0.0.1:%d/outcomes", srv.port));
    record(p, s, "u4", ids.person_id, "passed", 0.85, NOW - 10);
    {
        int64_t pending = -1, failed = -1;

        assert_int_equal(lti_store_outbox_depth(s, &pending, &failed, NULL), LTI_OK);
        assert_true(pending == 1 && failed == 0);
    }
    drain_once(p, s, NOW, 86400, &st);
    assert_int_equal(st.leased, 1);
    assert_int_equal(st.sent, 1);
    assert_int_equal(srv_requests(&srv), 1);
    assert_non_null(strstr(srv.last_head, "POST /outcomes HTTP/1.1"));
    assert_non_null(strstr(srv.last_head, "Authorization: OAuth oauth_body_hash=\""));
    assert_non_null(strstr(srv.last_head, "oauth_consumer_key=\"moodle\""));
    assert_non_null(strstr(srv.last_head, "<textString>0.85</textString>"));
    assert_non_null(strstr(srv.last_head, "<sourcedId>sid-u4-L1</sourcedId>"));
    assert_null(strstr(srv.last_head, "moodle-secret-1234"));
    assert_string_equal(ITEM(list(p, s, NULL), 0)->state, "sent");
    /* 503: retried after the backoff; past the maximum age: dead letter. */
    srv.baton = (void *)busy;
    record(p, s, "u4", ids.person_id, "passed", 0.9, NOW - 5);
    drain_once(p, s, NOW, 86400, &st);
    assert_int_equal(st.retried, 1);
    l = list(p, s, "pending");
    assert_int_equal(l->nelts, 1);
    assert_true(ITEM(l, 0)->next_attempt >= NOW + 30 && ITEM(l, 0)->next_attempt <= NOW + 37);
    assert_string_equal(ITEM(l, 0)->reason, "the LMS answered HTTP 503");
    drain_once(p, s, NOW + 10, 86400, &st);
    assert_int_equal(st.leased, 0);                     /* not due yet */
    drain_once(p, s, NOW + 40, 30, &st);
    assert_int_equal(st.failed, 1);
    l = list(p, s, "failed");
    assert_int_equal(l->nelts, 1);
    assert_string_equal(l->nelts ? ITEM(l, 0)->reason : "",
                        "gave up after 2 attempt(s) over PTechOutboxMaxAge: "
                        "the LMS answered HTTP 503");
    {
        int64_t pending = -1, failed = -1;

        assert_int_equal(lti_store_outbox_depth(s, &pending, &failed, NULL), LTI_OK);
        assert_true(pending == 0 && failed == 1);
    }
    srv_stop(&srv);
    /* The LMS gone: a network error, retried. */
    assert_int_equal(lti_store_outbox_retry(s, 0, NOW + 50, NULL, NULL), LTI_OK);
    drain_once(p, s, NOW + 50, 86400, &st);
    assert_int_equal(st.retried, 1);
    l = list(p, s, "pending");
    assert_true(strncmp(ITEM(l, 0)->reason, "network: ", 9) == 0);
}

/* ---- AGS against a stub platform ---- */

static const unsigned char test_secret[32] = "0123456789abcdef0123456789abcdef";

/* The stub platform: a token endpoint, a line item container and scores; score_status
 * answers the scores (401 only the first fail401 times). */
typedef struct ags_lms_t {
    srv_t *srv;
    int tokens, finds, creates, scores, fail401;
    long score_status, token_status;
    char token_body[SRV_REQ_MAX], score_body[SRV_REQ_MAX], create_body[SRV_REQ_MAX];
} ags_lms_t;

static const char *http_answer(apr_pool_t *p, long status, const char *type, const char *body)
{
    return apr_psprintf(p, "HTTP/1.1 %ld X\r\nContent-Type: %s\r\nConnection: close\r\n"
                        "Content-Length: %d\r\n\r\n%s", status, type, (int)strlen(body), body);
}

static apr_pool_t *lms_pool;

static const char *answer_ags(void *baton, const char *path)
{
    ags_lms_t *l = baton;
    const char *body = strstr(l->srv->last_head, "\r\n\r\n");

    body = body ? body + 4 : "";
    if (strcmp(path, "/token") == 0) {
        l->tokens++;
        snprintf(l->token_body, sizeof(l->token_body), "%s", body);
        if (l->token_status) {
            return http_answer(lms_pool, l->token_status, "application/json", "{}");
        }
        return http_answer(lms_pool, 200, "application/json",
                           apr_psprintf(lms_pool, "{\"access_token\":\"tok%d\",\"token_type\":"
                                        "\"Bearer\",\"expires_in\":3600}", l->tokens));
    }
    if (strncmp(path, "/lis?", 5) == 0) {
        l->finds++;
        return http_answer(lms_pool, 200, LTI_AGS_TYPE_LINEITEMS, "[]");
    }
    if (strcmp(path, "/lis") == 0) {
        l->creates++;
        snprintf(l->create_body, sizeof(l->create_body), "%s", body);
        return http_answer(lms_pool, 201, LTI_AGS_TYPE_LINEITEM,
                           apr_psprintf(lms_pool, "{\"id\":\"http://127.0.0.1:%d/lis/9\","
                                        "\"label\":\"x\",\"scoreMaximum\":100}", l->srv->port));
    }
    if (strstr(path, "/scores") != NULL) {
        long status = l->score_status;

        l->scores++;
        snprintf(l->score_body, sizeof(l->score_body), "%s", l->srv->last_head);
        if (status == 401 && l->fail401-- <= 0) {
            status = 200;
        }
        return http_answer(lms_pool, status, "application/json", "{}");
    }
    return http_answer(lms_pool, 404, "text/plain", "no");
}

#define AGS_CLAIM_LINEITEM                                                                \
    "{\"ags\":{\"lineitem\":\"http://127.0.0.1:%d/li/1\",\"scope\":["                      \
    "\"https://purl.imsglobal.org/spec/lti-ags/scope/score\"]}}"
#define AGS_CLAIM_CONTAINER                                                               \
    "{\"ags\":{\"lineitems\":\"http://127.0.0.1:%d/lis\",\"scope\":["                     \
    "\"https://purl.imsglobal.org/spec/lti-ags/scope/score\","                            \
    "\"https://purl.imsglobal.org/spec/lti-ags/scope/lineitem\"]}}"

static int64_t ags_launch(apr_pool_t *p, lti_store_t *s, int port, int container,
                          const char *user);

/* A store with the stub platform, the tool key, and sub-1 launched on link rl-1 with an AGS
 * claim (its lineitem, or only the container); returns the person id. */
static int64_t ags_setup(apr_pool_t *p, lti_store_t *s, int port, int container)
{
    lti_platform_t pf;
    lti_keypair_t kp;
    lti_toolkey_t k;
    lti_err_t err;
    const char *base = apr_psprintf(p, "http://127.0.0.1:%d", port);

    memset(&pf, 0, sizeof(pf));
    pf.issuer = "https://moodle.example";
    pf.client_id = "client";
    pf.auth_url = "https://moodle.example/auth";
    pf.token_url = apr_pstrcat(p, base, "/token", NULL);
    pf.jwks_url = "https://moodle.example/jwks";
    pf.deployments = apr_array_make(p, 1, sizeof(const char *));
    APR_ARRAY_PUSH(pf.deployments, const char *) = "1";
    assert_int_equal(lti_store_platform_add(s, &pf, NOW, &err), LTI_OK);
    assert_int_equal(lti_keypair_generate(p, &kp, &err), LTI_OK);
    memset(&k, 0, sizeof(k));
    k.kid = kp.kid;
    k.state = "current";
    k.public_jwk = kp.public_jwk;
    k.private_sealed = lti_seal(p, test_secret, kp.kid, kp.private_pem,
                                strlen(kp.private_pem), &err);
    assert_non_null(k.private_sealed);
    assert_int_equal(lti_store_key_add(s, &k, NOW, &err), LTI_OK);
    return ags_launch(p, s, port, container, "sub-1");
}

/* user launches link rl-1 of the stub platform; returns the person id. */
static int64_t ags_launch(apr_pool_t *p, lti_store_t *s, int port, int container,
                          const char *user)
{
    lti_launch_rec_t r;
    lti_launch_ids_t ids;
    lti_err_t err;

    memset(&r, 0, sizeof(r));
    r.tenant = r.nonce_scope = "lti13:https://moodle.example#client";
    r.nonce = lti_random_hex(p, 8);
    r.nonce_expires = NOW + 600;
    r.version = "1.3";
    r.user_id = user;
    r.link_id = "rl-1";
    r.link_title = "Course One";
    r.course_id = "c1";
    r.roles = LTI_ROLE_LEARNER;
    r.link_claims = container ? apr_psprintf(p, AGS_CLAIM_CONTAINER, port)
                              : apr_psprintf(p, AGS_CLAIM_LINEITEM, port);
    r.session_hash = lti_random_hex(p, 8);
    r.csrf = "c";
    r.session_expires = NOW + 60;
    r.now = NOW;
    assert_int_equal(lti_store_launch_record(s, &r, &ids, &err), LTI_OK);
    return ids.person_id;
}

static lti_outbox_t *ags_outbox(apr_pool_t *p, const unsigned char *key)
{
    lti_outbox_cfg_t cfg;
    lti_outbox_t *o;
    lti_err_t err;

    memset(&cfg, 0, sizeof(cfg));
    cfg.owner = "test";
    cfg.retry_base = 30;
    cfg.max_age = 86400;
    cfg.lease_ttl = 60;
    cfg.max_in_flight = 8;
    cfg.batch = 16;
    cfg.http.timeout = 5;
    cfg.http.allow_insecure_loopback = 1;
    cfg.http.max_bytes = 65536;
    cfg.secret_key = key;
    assert_int_equal(lti_outbox_create(p, &cfg, &o, &err), LTI_OK);
    return o;
}

static void drain_with(apr_pool_t *p, lti_outbox_t *o, lti_store_t *s, int64_t now,
                       lti_outbox_stats_t *st)
{
    apr_pool_t *scratch;
    lti_err_t err;

    apr_pool_create(&scratch, p);
    assert_int_equal(lti_outbox_drain(o, s, scratch, now, st, &err), LTI_OK);
    apr_pool_destroy(scratch);
}

static void test_drain_ags_no_key(void **state)
{
    apr_pool_t *p = *state;
    lti_store_t *s = new_store(p);
    lti_outbox_stats_t st;
    apr_array_header_t *l;
    int64_t person = ags_setup(p, s, 9, 0);

    record(p, s, "sub-1", person, "passed", 1, NOW - 1);
    l = list(p, s, "pending");
    assert_int_equal(l->nelts, 1);
    assert_string_equal(ITEM(l, 0)->kind, "ags");
    drain_with(p, ags_outbox(p, NULL), s, NOW, &st);
    assert_int_equal(st.deferred, 1);
    assert_int_equal(st.failed, 0);
    l = list(p, s, "pending");
    assert_int_equal(l->nelts, 1);
    assert_string_equal(ITEM(l, 0)->reason,
                        "AGS delivery needs the tool key (PTechSecretKeyFile)");
}

static void test_drain_ags(void **state)
{
    apr_pool_t *p = *state;
    lti_store_t *s = new_store(p);
    lti_outbox_stats_t st;
    lti_outbox_t *o = ags_outbox(p, test_secret);
    ags_lms_t lms;
    srv_t srv;
    int64_t person;

    memset(&lms, 0, sizeof(lms));
    lms_pool = p;
    lms.srv = &srv;
    lms.score_status = 200;
    srv_start(&srv, answer_ags, &lms);
    person = ags_setup(p, s, srv.port, 0);
    record(p, s, "sub-1", person, "passed", 0.85, NOW - 10);
    drain_with(p, o, s, NOW, &st);
    assert_int_equal(st.sent, 1);
    assert_int_equal(lms.tokens, 1);
    assert_int_equal(lms.scores, 1);
    assert_int_equal(lms.finds + lms.creates, 0);
    assert_non_null(strstr(lms.token_body, "grant_type=client_credentials"));
    assert_non_null(strstr(lms.token_body, "client_assertion="));
    assert_non_null(strstr(lms.score_body, "POST /li/1/scores HTTP/1.1"));
    assert_non_null(strstr(lms.score_body, "Authorization: Bearer tok1"));
    assert_non_null(strstr(lms.score_body, "Content-Type: " LTI_AGS_TYPE_SCORE));
    assert_non_null(strstr(lms.score_body, "\"userId\":\"sub-1\""));
    assert_non_null(strstr(lms.score_body, "\"scoreGiven\":85,"));
    assert_non_null(strstr(lms.score_body, "\"scoreMaximum\":100"));
    assert_non_null(strstr(lms.score_body, "\"activityProgress\":\"Completed\""));
    assert_non_null(strstr(lms.score_body, "\"gradingProgress\":\"FullyGraded\""));
    assert_non_null(strstr(lms.score_body, "PTech course c1: passed"));
    assert_non_null(strstr(lms.score_body, apr_psprintf(p, "\"timestamp\":\"%s\"",
                                        lti_ags_timestamp_format(p, NOW * 1000))));
    assert_string_equal(ITEM(list(p, s, NULL), 0)->state, "sent");
    /* A new result in the same second: the cached token, a timestamp 1 s later. */
    record(p, s, "sub-1", person, "in_progress", 0.5, NOW - 5);
    drain_with(p, o, s, NOW, &st);
    assert_int_equal(st.sent, 1);
    assert_int_equal(lms.tokens, 1);
    assert_non_null(strstr(lms.score_body, "\"scoreGiven\":50,"));
    assert_non_null(strstr(lms.score_body, "\"activityProgress\":\"InProgress\""));
    assert_non_null(strstr(lms.score_body, apr_psprintf(p, "\"timestamp\":\"%s\"",
                                        lti_ags_timestamp_format(p, NOW * 1000 + 1000))));
    /* The last timestamp outlives the drainer (it is in the store). */
    record(p, s, "sub-1", person, "passed", 0.9, NOW - 4);
    drain_with(p, ags_outbox(p, test_secret), s, NOW, &st);
    assert_int_equal(st.sent, 1);
    assert_int_equal(lms.tokens, 2);
    assert_non_null(strstr(lms.score_body, apr_psprintf(p, "\"timestamp\":\"%s\"",
                                        lti_ags_timestamp_format(p, NOW * 1000 + 2000))));
    srv_stop(&srv);
}

static void test_drain_ags_answers(void **state)
{
    apr_pool_t *p = *state;
    lti_store_t *s = new_store(p);
    lti_outbox_stats_t st;
    lti_outbox_t *o = ags_outbox(p, test_secret);
    apr_array_header_t *l;
    ags_lms_t lms;
    srv_t srv;
    int64_t person;

    memset(&lms, 0, sizeof(lms));
    lms_pool = p;
    lms.srv = &srv;
    srv_start(&srv, answer_ags, &lms);
    person = ags_setup(p, s, srv.port, 0);

    /* 401 once: retried at once with one new token, then sent. */
    lms.score_status = 401;
    lms.fail401 = 1;
    record(p, s, "sub-1", person, "passed", 1, NOW - 10);
    drain_with(p, o, s, NOW, &st);
    assert_int_equal(st.retried, 1);
    l = list(p, s, "pending");
    assert_int_equal(l->nelts, 1);
    assert_int_equal(ITEM(l, 0)->next_attempt, NOW);
    drain_with(p, o, s, NOW, &st);
    assert_int_equal(st.sent, 1);
    assert_int_equal(lms.tokens, 2);
    assert_int_equal(lms.scores, 2);
    assert_non_null(strstr(lms.score_body, "Authorization: Bearer tok2"));

    /* 401 twice: failed. */
    lms.fail401 = 2;
    record(p, s, "sub-1", person, "passed", 0.9, NOW - 9);
    drain_with(p, o, s, NOW + 1, &st);
    drain_with(p, o, s, NOW + 1, &st);
    assert_int_equal(st.failed, 1);
    assert_int_equal(lms.tokens, 3);
    l = list(p, s, "failed");
    assert_int_equal(l->nelts, 1);
    assert_non_null(strstr(ITEM(l, 0)->reason, "HTTP 401"));

    /* 409: final, recorded with the reason. */
    lms.score_status = 409;
    record(p, s, "sub-1", person, "passed", 0.8, NOW - 8);
    drain_with(p, o, s, NOW + 2, &st);
    assert_int_equal(st.failed, 1);
    l = list(p, s, "failed");
    assert_int_equal(l->nelts, 2);
    assert_string_equal(ITEM(l, 0)->reason,
                        "the LMS refused the score: HTTP 409 (ags_timestamp_conflict)");

    /* 500: retried after the backoff. */
    lms.score_status = 500;
    record(p, s, "sub-1", person, "passed", 0.7, NOW - 7);
    drain_with(p, o, s, NOW + 3, &st);
    assert_int_equal(st.retried, 1);
    l = list(p, s, "pending");
    assert_int_equal(l->nelts, 1);
    assert_true(ITEM(l, 0)->next_attempt >= NOW + 33);
    assert_string_equal(ITEM(l, 0)->reason, "the LMS answered HTTP 500");
    lms.score_status = 200;
    drain_with(p, o, s, NOW + 40, &st);
    assert_int_equal(st.sent, 1);
    srv_stop(&srv);
}

/* A token endpoint that fails: asked once per round for the platform's rows, all retried. */
static void test_drain_ags_platform_down(void **state)
{
    apr_pool_t *p = *state;
    lti_store_t *s = new_store(p);
    lti_outbox_stats_t st;
    apr_array_header_t *l;
    ags_lms_t lms;
    srv_t srv;
    int64_t a, b;

    memset(&lms, 0, sizeof(lms));
    lms_pool = p;
    lms.srv = &srv;
    lms.score_status = 200;
    lms.token_status = 503;
    srv_start(&srv, answer_ags, &lms);
    a = ags_setup(p, s, srv.port, 0);
    b = ags_launch(p, s, srv.port, 0, "sub-2");
    record(p, s, "sub-1", a, "passed", 0.5, NOW - 10);
    record(p, s, "sub-2", b, "passed", 0.6, NOW - 10);
    drain_with(p, ags_outbox(p, test_secret), s, NOW, &st);
    assert_int_equal(st.leased, 2);
    assert_int_equal(st.retried, 2);
    assert_int_equal(lms.tokens, 1);
    assert_int_equal(lms.scores, 0);
    l = list(p, s, "pending");
    assert_int_equal(l->nelts, 2);
    assert_non_null(strstr(ITEM(l, 0)->reason, "access token: "));
    assert_string_equal(ITEM(l, 0)->reason, ITEM(l, 1)->reason);
    srv_stop(&srv);
}

/* LTI 1.3 basic outcomes: a link whose launch carried the basic outcome claim and no AGS
 * claim gets a POX replaceResult with a Bearer token (scope lti-bo basicoutcome), not an
 * OAuth 1 signature; a 401 gets one new token. */
typedef struct bo_lms_t {
    ags_lms_t ags;
    int pox, fail401;
    char pox_head[SRV_REQ_MAX];
} bo_lms_t;

static const char *answer_bo(void *baton, const char *path)
{
    bo_lms_t *l = baton;

    if (strcmp(path, "/bo") == 0) {
        l->pox++;
        snprintf(l->pox_head, sizeof(l->pox_head), "%s", l->ags.srv->last_head);
        if (l->fail401-- > 0) {
            return http_answer(lms_pool, 401, "text/plain", "no");
        }
        return http_answer(lms_pool, 200, "application/xml",
                           "<imsx_POXEnvelopeResponse xmlns=\"" LTI_POX_NS "\"><imsx_POXHeader>"
                           "<imsx_POXResponseHeaderInfo><imsx_statusInfo><imsx_codeMajor>"
                           "success</imsx_codeMajor></imsx_statusInfo>"
                           "</imsx_POXResponseHeaderInfo></imsx_POXHeader><imsx_POXBody>"
                           "<replaceResultResponse/></imsx_POXBody>"
                           "</imsx_POXEnvelopeResponse>");
    }
    return answer_ags(&l->ags, path);
}

static void test_drain_bo13_bearer(void **state)
{
    apr_pool_t *p = *state;
    lti_store_t *s = new_store(p);
    lti_outbox_stats_t st;
    lti_outbox_t *o = ags_outbox(p, test_secret);
    lti_launch_rec_t r;
    lti_launch_ids_t ids;
    apr_array_header_t *l;
    lti_err_t err;
    bo_lms_t lms;
    srv_t srv;

    memset(&lms, 0, sizeof(lms));
    lms_pool = p;
    lms.ags.srv = &srv;
    srv_start(&srv, answer_bo, &lms);
    ags_setup(p, s, srv.port, 0);   /* the platform and the tool key */
    memset(&r, 0, sizeof(r));
    r.tenant = r.nonce_scope = "lti13:https://moodle.example#client";
    r.nonce = lti_random_hex(p, 8);
    r.nonce_expires = NOW + 600;
    r.version = "1.3";
    r.user_id = "sub-9";
    r.link_id = "rl-bo";
    r.course_id = "c1";
    r.roles = LTI_ROLE_LEARNER;
    r.result_sourcedid = "bo-sid-9";
    r.outcome_url = apr_psprintf(p, "http://127.0.0.1:%d/bo", srv.port);
    r.link_claims = apr_psprintf(p, "{\"basicoutcome\":{\"lis_outcome_service_url\":\"%s\","
                                 "\"lis_result_sourcedid\":\"bo-sid-9\"}}", r.outcome_url);
    r.session_hash = lti_random_hex(p, 8);
    r.csrf = "c";
    r.session_expires = NOW + 60;
    r.now = NOW;
    assert_int_equal(lti_store_launch_record(s, &r, &ids, &err), LTI_OK);
    record(p, s, "sub-9", ids.person_id, "passed", 0.75, NOW - 10);
    l = list(p, s, "pending");
    assert_int_equal(l->nelts, 1);
    assert_string_equal(ITEM(l, 0)->kind, "lti11");
    lms.fail401 = 1;
    drain_with(p, o, s, NOW, &st);
    /* The first answer is a 401: retried at once with a new token. */
    assert_int_equal(st.retried, 1);
    assert_int_equal(lms.ags.tokens, 1);
    assert_non_null(strstr(lms.ags.token_body, "basicoutcome"));
    assert_non_null(strstr(lms.pox_head, "Authorization: Bearer tok1\r\n"));
    assert_null(strstr(lms.pox_head, "OAuth "));
    drain_with(p, o, s, NOW, &st);
    assert_int_equal(st.sent, 1);
    assert_int_equal(lms.ags.tokens, 2);
    assert_int_equal(lms.pox, 2);
    assert_non_null(strstr(lms.pox_head, "POST /bo HTTP/1.1"));
    assert_non_null(strstr(lms.pox_head, "Authorization: Bearer tok2\r\n"));
    assert_non_null(strstr(lms.pox_head, "<sourcedId>bo-sid-9</sourcedId>"));
    assert_non_null(strstr(lms.pox_head, "<textString>0.75</textString>"));
    assert_int_equal(lms.ags.scores, 0);
    assert_string_equal(ITEM(list(p, s, NULL), 0)->state, "sent");
    /* A second 401 in a row fails the row. */
    record(p, s, "sub-9", ids.person_id, "passed", 0.8, NOW - 5);
    lms.fail401 = 2;
    drain_with(p, o, s, NOW, &st);
    drain_with(p, o, s, NOW, &st);
    assert_int_equal(st.failed, 1);
    l = list(p, s, "failed");
    assert_int_equal(l->nelts, 1);
    assert_non_null(strstr(ITEM(l, 0)->reason, "401"));
    srv_stop(&srv);
}

/* The batched end of many attempts: one transaction, each row as lti_store_outbox_finish
 * would end it, a row whose value changed meanwhile only released. */
static void test_finish_many(void **state)
{
    apr_pool_t *p = *state;
    lti_store_t *s = new_store(p);
    lti_outbox_done_t d[3];
    apr_array_header_t *l;
    lti_err_t err;

    for (int i = 0; i < 3; i++) {
        lti_launch_ids_t ids = launch(p, s, apr_psprintf(p, "u%d", i), "l1", "https://lms/o");

        record(p, s, apr_psprintf(p, "u%d", i), ids.person_id, "passed", 0.5, NOW - 10);
    }
    l = lease(p, s, "me", NOW);
    assert_int_equal(l->nelts, 3);
    /* The third learner's result changes while its row is out. */
    record(p, s, "u2", ITEM(l, 2)->person_id, "passed", 0.9, NOW - 5);
    memset(d, 0, sizeof(d));
    for (int i = 0; i < 3; i++) {
        d[i].item = ITEM(l, i);
        d[i].now = NOW;
        d[i].end = LTI_OUTBOX_SENT;
    }
    d[1].end = LTI_OUTBOX_FAILED;
    d[1].reason = "refused";
    assert_int_equal(lti_store_outbox_finish_many(s, d, 3, "me", &err), LTI_OK);
    assert_int_equal(d[0].applied, 1);
    assert_int_equal(d[1].applied, 1);
    assert_int_equal(d[2].applied, 0);
    assert_int_equal(list(p, s, "sent")->nelts, 1);
    assert_string_equal(ITEM(list(p, s, "failed"), 0)->reason, "refused");
    /* The changed row is pending with the new value, leased by no one. */
    l = lease(p, s, "other", NOW);
    assert_int_equal(l->nelts, 1);
    assert_true(ITEM(l, 0)->score > 0.89);
    assert_int_equal(lti_store_outbox_finish_many(s, d, 0, "me", &err), LTI_OK);
}

static void test_drain_ags_lineitem_created(void **state)
{
    apr_pool_t *p = *state;
    lti_store_t *s = new_store(p);
    lti_outbox_stats_t st;
    ags_lms_t lms;
    srv_t srv;
    int64_t person;

    memset(&lms, 0, sizeof(lms));
    lms_pool = p;
    lms.srv = &srv;
    lms.score_status = 200;
    srv_start(&srv, answer_ags, &lms);
    person = ags_setup(p, s, srv.port, 1);
    record(p, s, "sub-1", person, "passed", 0.85, NOW - 10);
    drain_with(p, ags_outbox(p, test_secret), s, NOW, &st);
    assert_int_equal(st.sent, 1);
    assert_int_equal(lms.tokens, 1);
    assert_int_equal(lms.finds, 1);
    assert_int_equal(lms.creates, 1);
    assert_non_null(strstr(lms.create_body, "\"scoreMaximum\":100"));
    assert_non_null(strstr(lms.create_body, "\"tag\":\"ptech\""));
    assert_non_null(strstr(lms.create_body, "\"label\":\"Course One\"")); /* no catalog */
    assert_non_null(strstr(lms.create_body, "\"resourceId\":\"c1\""));
    assert_non_null(strstr(lms.create_body, "\"resourceLinkId\":\"rl-1\""));
    assert_non_null(strstr(lms.score_body, "POST /lis/9/scores HTTP/1.1"));
    srv_stop(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_kind_wait),
        cmocka_unit_test(test_queue_newest_wins),
        cmocka_unit_test(test_kept_until_launch),
        cmocka_unit_test(test_drainer_claim),
        cmocka_unit_test(test_leases),
        cmocka_unit_test(test_retry_never_regresses),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_drain_ags_no_key),
        cmocka_unit_test(test_drain_ags),
        cmocka_unit_test(test_drain_ags_answers),
        cmocka_unit_test(test_drain_ags_lineitem_created),
        cmocka_unit_test(test_drain_ags_platform_down),
        cmocka_unit_test(test_drain_bo13_bearer),
        cmocka_unit_test(test_finish_many),
    };

    return cmocka_run_group_tests_name("outbox", tests, group_setup, group_teardown);
}
