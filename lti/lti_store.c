/* lti_store.c -- the store's front door: DSN dispatch and one place that logs failures.
 * Callers never see which backend runs. */
#include <string.h>

#include <apr_strings.h>

#include "lti_store.h"

lti_status_t lti_store_open(apr_pool_t *p, const char *dsn, lti_store_t **out, lti_err_t *err)
{
    lti_status_t rv;

    if (dsn == NULL || *dsn == '\0') {
        return lti_err_set(err, LTI_ERR_CONFIG, "store_no_dsn",
                           "no store configured (sqlite3:/path/to/ptech.db)");
    }
    if (strncmp(dsn, "sqlite3:", 8) == 0) {
        rv = lti_store_sqlite_open(p, dsn + 8, out, err);
    }
    else if (strncmp(dsn, "pgsql:", 6) == 0) {
        rv = lti_err_set(err, LTI_ERR_CONFIG, "store_no_backend",
                         "this build has no PostgreSQL backend yet; use sqlite3:PATH");
    }
    else {
        rv = lti_err_set(err, LTI_ERR_CONFIG, "store_bad_dsn",
                         "unknown store DSN '%s' (sqlite3:PATH or pgsql:CONNINFO)", dsn);
    }
    if (rv == LTI_OK) {
        (*out)->dsn = apr_pstrdup(p, dsn);
    }
    else if (err != NULL) {
        lti_log(LTI_LOG_ERR, "store open: %s", err->text);
    }
    return rv;
}

void lti_store_close(lti_store_t *s)
{
    if (s != NULL && s->ops != NULL) {
        s->ops->close(s);
    }
}

/* Logs store failures (not the expected outcomes a caller handles: not found, exists,
 * replay) and passes the status through. */
static lti_status_t logged(const char *what, lti_status_t rv, lti_err_t *err)
{
    if (rv == LTI_ERR_STORE || rv == LTI_ERR_INTERNAL || rv == LTI_ERR_CONFIG) {
        lti_log(LTI_LOG_ERR, "store %s: %s", what, err ? err->text : lti_strerror(rv));
    }
    return rv;
}

lti_status_t lti_store_migrate(lti_store_t *s, int *from, int *to, lti_err_t *err)
{
    int f = 0, t = 0;
    lti_status_t rv = s->ops->migrate(s, &f, &t, err);

    if (rv == LTI_OK && f != t) {
        lti_log(LTI_LOG_INFO, "store schema migrated from version %d to %d", f, t);
    }
    if (from) {
        *from = f;
    }
    if (to) {
        *to = t;
    }
    return logged("migrate", rv, err);
}

lti_status_t lti_store_schema_version(lti_store_t *s, int *version, lti_err_t *err)
{
    return logged("schema_version", s->ops->schema_version(s, version, err), err);
}

lti_status_t lti_store_consumer_add(lti_store_t *s, const char *key, const char *secret,
                                    int replace, int64_t now, lti_err_t *err)
{
    return logged("consumer_add", s->ops->consumer_add(s, key, secret, replace, now, err), err);
}

lti_status_t lti_store_consumer_get(lti_store_t *s, apr_pool_t *p, const char *key,
                                    lti_consumer_t *out, lti_err_t *err)
{
    return logged("consumer_get", s->ops->consumer_get(s, p, key, out, err), err);
}

lti_status_t lti_store_consumer_list(lti_store_t *s, apr_pool_t *p, apr_array_header_t **out,
                                     lti_err_t *err)
{
    return logged("consumer_list", s->ops->consumer_list(s, p, out, err), err);
}

lti_status_t lti_store_consumer_remove(lti_store_t *s, const char *key, lti_err_t *err)
{
    return logged("consumer_remove", s->ops->consumer_remove(s, key, err), err);
}

lti_status_t lti_store_catalog_put(lti_store_t *s, const char *sha256, const char *source,
                                   const char *xml, int64_t now, int *changed, lti_err_t *err)
{
    int c = 0;
    lti_status_t rv = s->ops->catalog_put(s, sha256, source, xml, now, &c, err);

    if (changed) {
        *changed = c;
    }
    return logged("catalog_put", rv, err);
}

lti_status_t lti_store_catalog_current(lti_store_t *s, apr_pool_t *p, int with_xml,
                                       lti_catalog_rev_t *out, lti_err_t *err)
{
    return logged("catalog_current", s->ops->catalog_current(s, p, with_xml, out, err), err);
}

lti_status_t lti_store_nonce_use(lti_store_t *s, const char *scope, const char *nonce,
                                 int64_t expires, lti_err_t *err)
{
    return logged("nonce_use", s->ops->nonce_use(s, scope, nonce, expires, err), err);
}

lti_status_t lti_store_purge(lti_store_t *s, int64_t now, int *nonces, int *sessions,
                             lti_err_t *err)
{
    int n = 0, m = 0;
    lti_status_t rv = s->ops->purge(s, now, &n, &m, err);

    if (nonces) {
        *nonces = n;
    }
    if (sessions) {
        *sessions = m;
    }
    return logged("purge", rv, err);
}

lti_status_t lti_store_checkpoint(lti_store_t *s, lti_store_ckpt_t *out, lti_err_t *err)
{
    lti_store_ckpt_t c = {0, 0, 0};
    lti_status_t rv = s->ops->checkpoint ? s->ops->checkpoint(s, &c, err) : LTI_OK;

    if (out) {
        *out = c;
    }
    return logged("checkpoint", rv, err);
}

lti_status_t lti_store_audit_add(lti_store_t *s, int64_t at, int http_status,
                                 const char *reason, const char *scope, const char *remote,
                                 const char *detail, lti_err_t *err)
{
    return logged("audit_add",
                  s->ops->audit_add(s, at, http_status, reason, scope, remote, detail, err),
                  err);
}

lti_status_t lti_store_audit_recent(lti_store_t *s, apr_pool_t *p, int limit,
                                    apr_array_header_t **out, lti_err_t *err)
{
    return logged("audit_recent", s->ops->audit_recent(s, p, limit, out, err), err);
}

lti_status_t lti_store_audit_counts(lti_store_t *s, apr_pool_t *p, int64_t since,
                                    apr_array_header_t **out, lti_err_t *err)
{
    return logged("audit_counts", s->ops->audit_counts(s, p, since, out, err), err);
}

lti_status_t lti_store_launch_record(lti_store_t *s, const lti_launch_rec_t *rec,
                                     lti_launch_ids_t *ids, lti_err_t *err)
{
    return logged("launch_record", s->ops->launch_record(s, rec, ids, err), err);
}

lti_status_t lti_store_session_get(lti_store_t *s, apr_pool_t *p, const char *session_hash,
                                   int64_t now, lti_session_t *out, lti_err_t *err)
{
    return logged("session_get", s->ops->session_get(s, p, session_hash, now, out, err), err);
}

lti_status_t lti_store_link_set_course(lti_store_t *s, int64_t link_pk, const char *course_id,
                                       int64_t now, lti_err_t *err)
{
    return logged("link_set_course", s->ops->link_set_course(s, link_pk, course_id, now, err),
                  err);
}

lti_status_t lti_store_link_learners(lti_store_t *s, apr_pool_t *p, int64_t link_pk,
                                     apr_array_header_t **out, lti_err_t *err)
{
    return logged("link_learners", s->ops->link_learners(s, p, link_pk, out, err), err);
}

lti_status_t lti_store_platform_add(lti_store_t *s, const lti_platform_t *pf, int64_t now,
                                    lti_err_t *err)
{
    return logged("platform_add", s->ops->platform_add(s, pf, now, err), err);
}

lti_status_t lti_store_platform_list(lti_store_t *s, apr_pool_t *p, apr_array_header_t **out,
                                     lti_err_t *err)
{
    return logged("platform_list", s->ops->platform_list(s, p, out, err), err);
}

lti_status_t lti_store_platform_remove(lti_store_t *s, const char *issuer,
                                       const char *client_id, lti_err_t *err)
{
    return logged("platform_remove", s->ops->platform_remove(s, issuer, client_id, err), err);
}

lti_status_t lti_store_platform_get(lti_store_t *s, apr_pool_t *p, const char *issuer,
                                    const char *client_id, lti_platform_t *out,
                                    lti_err_t *err)
{
    return logged("platform_get", s->ops->platform_get(s, p, issuer, client_id, out, err), err);
}

lti_status_t lti_store_deployment_add(lti_store_t *s, int64_t platform_id,
                                      const char *deployment_id, int64_t now, lti_err_t *err)
{
    return logged("deployment_add",
                  s->ops->deployment_add(s, platform_id, deployment_id, now, err), err);
}

lti_status_t lti_store_key_list(lti_store_t *s, apr_pool_t *p, apr_array_header_t **out,
                                lti_err_t *err)
{
    return logged("key_list", s->ops->key_list(s, p, out, err), err);
}

lti_status_t lti_store_key_add(lti_store_t *s, const lti_toolkey_t *key, int64_t now,
                               lti_err_t *err)
{
    return logged("key_add", s->ops->key_add(s, key, now, err), err);
}

lti_status_t lti_store_key_rotate(lti_store_t *s, int64_t now, lti_err_t *err)
{
    return logged("key_rotate", s->ops->key_rotate(s, now, err), err);
}

lti_status_t lti_store_platform_by_id(lti_store_t *s, apr_pool_t *p, int64_t id,
                                      lti_platform_t *out, lti_err_t *err)
{
    return logged("platform_by_id", s->ops->platform_by_id(s, p, id, out, err), err);
}

lti_status_t lti_store_state_put(lti_store_t *s, const lti_login_state_t *st, lti_err_t *err)
{
    return logged("state_put", s->ops->state_put(s, st, err), err);
}

lti_status_t lti_store_state_take(lti_store_t *s, apr_pool_t *p, const char *state,
                                  int64_t now, lti_login_state_t *out, lti_err_t *err)
{
    return logged("state_take", s->ops->state_take(s, p, state, now, out, err), err);
}

lti_status_t lti_store_state_get(lti_store_t *s, apr_pool_t *p, const char *state,
                                 int64_t now, lti_login_state_t *out, lti_platform_t *pf,
                                 lti_err_t *err)
{
    return logged("state_get", s->ops->state_get(s, p, state, now, out, pf, err), err);
}

lti_status_t lti_store_jwks_get(lti_store_t *s, apr_pool_t *p, int64_t platform_id,
                                lti_jwks_cache_t *out, lti_err_t *err)
{
    return logged("jwks_get", s->ops->jwks_get(s, p, platform_id, out, err), err);
}

lti_status_t lti_store_jwks_put(lti_store_t *s, int64_t platform_id, const char *jwks,
                                int64_t now, int64_t expires, lti_err_t *err)
{
    return logged("jwks_put", s->ops->jwks_put(s, platform_id, jwks, now, expires, err), err);
}

lti_status_t lti_store_jwks_refetch_claim(lti_store_t *s, int64_t platform_id, int64_t now,
                                          int64_t interval, int *allowed, lti_err_t *err)
{
    *allowed = 0;
    return logged("jwks_refetch_claim",
                  s->ops->jwks_refetch_claim(s, platform_id, now, interval, allowed, err), err);
}

lti_status_t lti_store_setting_get(lti_store_t *s, apr_pool_t *p, const char *name,
                                   const char **value, lti_err_t *err)
{
    return logged("setting_get", s->ops->setting_get(s, p, name, value, err), err);
}

lti_status_t lti_store_setting_add(lti_store_t *s, const char *name, const char *value,
                                   int64_t now, lti_err_t *err)
{
    return logged("setting_add", s->ops->setting_add(s, name, value, now, err), err);
}

lti_status_t lti_store_progress_record(lti_store_t *s, apr_pool_t *p,
                                       const apr_array_header_t *rows, int64_t now,
                                       lti_result_fn *fn, void *baton,
                                       lti_progress_stats_t *stats, lti_err_t *err)
{
    lti_progress_stats_t st;
    lti_status_t rv;

    memset(&st, 0, sizeof(st));
    rv = s->ops->progress_record(s, p, rows, now, fn, baton, &st, err);
    if (stats) {
        *stats = st;
    }
    if (rv == LTI_OK && (st.results || st.queued)) {
        lti_log(LTI_LOG_INFO, "progress: %d row(s) applied, %d kept, %d result(s) changed, "
                "%d grade return(s) queued", st.applied, st.kept, st.results, st.queued);
    }
    return logged("progress_record", rv, err);
}

lti_status_t lti_store_progress_on_launch(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                          int64_t link_pk, int64_t now, lti_result_fn *fn,
                                          void *baton, lti_progress_stats_t *stats,
                                          lti_err_t *err)
{
    lti_progress_stats_t st;
    lti_status_t rv;

    memset(&st, 0, sizeof(st));
    rv = s->ops->progress_on_launch(s, p, person_id, link_pk, now, fn, baton, &st, err);
    if (stats) {
        *stats = st;
    }
    return logged("progress_on_launch", rv, err);
}

lti_status_t lti_store_result_get(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                  const char *course_id, lti_result_t *out, lti_err_t *err)
{
    return logged("result_get", s->ops->result_get(s, p, person_id, course_id, out, err), err);
}

lti_status_t lti_store_outbox_claim_drainer(lti_store_t *s, const char *owner, int64_t now,
                                            int64_t ttl, int *granted, lti_err_t *err)
{
    return logged("outbox_claim_drainer",
                  s->ops->outbox_claim_drainer(s, owner, now, ttl, granted, err), err);
}

lti_status_t lti_store_outbox_lease(lti_store_t *s, apr_pool_t *p, const char *owner,
                                    int64_t now, int64_t ttl, int limit,
                                    apr_array_header_t **out, lti_err_t *err)
{
    return logged("outbox_lease", s->ops->outbox_lease(s, p, owner, now, ttl, limit, out, err),
                  err);
}

lti_status_t lti_store_outbox_finish(lti_store_t *s, const lti_outbox_item_t *item,
                                     const char *owner, lti_outbox_end_t end,
                                     int64_t next_attempt, const char *reason, int64_t now,
                                     int *applied, lti_err_t *err)
{
    int a = 0;
    lti_status_t rv = s->ops->outbox_finish(s, item, owner, end, next_attempt, reason, now,
                                            &a, err);

    if (applied) {
        *applied = a;
    }
    return logged("outbox_finish", rv, err);
}

lti_status_t lti_store_outbox_finish_many(lti_store_t *s, lti_outbox_done_t *done, int n,
                                          const char *owner, lti_err_t *err)
{
    lti_status_t rv = LTI_OK;

    if (n <= 0) {
        return LTI_OK;
    }
    if (s->ops->outbox_finish_many != NULL) {
        return logged("outbox_finish_many", s->ops->outbox_finish_many(s, done, n, owner, err),
                      err);
    }
    for (int i = 0; i < n && rv == LTI_OK; i++) {
        rv = lti_store_outbox_finish(s, done[i].item, owner, done[i].end, done[i].next_attempt,
                                     done[i].reason, done[i].now, &done[i].applied, err);
    }
    return rv;
}

lti_status_t lti_store_demo_grade_put(lti_store_t *s, const lti_demo_grade_t *g,
                                      lti_err_t *err)
{
    return logged("demo_grade_put", s->ops->demo_grade_put(s, g, err), err);
}

lti_status_t lti_store_demo_grade_list(lti_store_t *s, apr_pool_t *p, apr_array_header_t **out,
                                       lti_err_t *err)
{
    return logged("demo_grade_list", s->ops->demo_grade_list(s, p, out, err), err);
}

lti_status_t lti_store_outbox_list(lti_store_t *s, apr_pool_t *p, const char *state,
                                   int64_t link_pk, apr_array_header_t **out, lti_err_t *err)
{
    return logged("outbox_list", s->ops->outbox_list(s, p, state, link_pk, out, err), err);
}

lti_status_t lti_store_outbox_retry(lti_store_t *s, int64_t id, int64_t now, int *count,
                                    lti_err_t *err)
{
    int c = 0;
    lti_status_t rv = s->ops->outbox_retry(s, id, now, &c, err);

    if (count) {
        *count = c;
    }
    return logged("outbox_retry", rv, err);
}

lti_status_t lti_store_outbox_depth(lti_store_t *s, int64_t *pending, int64_t *failed,
                                    lti_err_t *err)
{
    return logged("outbox_depth", s->ops->outbox_depth(s, pending, failed, err), err);
}

lti_status_t lti_store_outbox_purge(lti_store_t *s, int64_t sent_before, int *count,
                                    lti_err_t *err)
{
    int c = 0;
    lti_status_t rv = s->ops->outbox_purge(s, sent_before, &c, err);

    if (count) {
        *count = c;
    }
    return logged("outbox_purge", rv, err);
}

lti_status_t lti_store_ags_target(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                  int64_t link_pk, lti_ags_target_t *out,
                                  lti_err_t *err)
{
    return logged("ags_target", s->ops->ags_target(s, p, person_id, link_pk, out, err), err);
}

lti_status_t lti_store_ags_stamp_put(lti_store_t *s, int64_t person_id, int64_t link_pk,
                                     int64_t ms, lti_err_t *err)
{
    return logged("ags_stamp_put", s->ops->ags_stamp_put(s, person_id, link_pk, ms, err), err);
}

lti_status_t lti_store_xapi_provider_add(lti_store_t *s, const char *name,
                                         const char *secret_hash, int64_t now, lti_err_t *err)
{
    return logged("xapi_provider_add",
                  s->ops->xapi_provider_add(s, name, secret_hash, now, err), err);
}

lti_status_t lti_store_xapi_provider_get(lti_store_t *s, apr_pool_t *p, const char *name,
                                         lti_xapi_provider_t *out, lti_err_t *err)
{
    return logged("xapi_provider_get", s->ops->xapi_provider_get(s, p, name, out, err), err);
}

lti_status_t lti_store_xapi_provider_list(lti_store_t *s, apr_pool_t *p,
                                          apr_array_header_t **out, lti_err_t *err)
{
    return logged("xapi_provider_list", s->ops->xapi_provider_list(s, p, out, err), err);
}

lti_status_t lti_store_xapi_provider_remove(lti_store_t *s, const char *name, lti_err_t *err)
{
    return logged("xapi_provider_remove", s->ops->xapi_provider_remove(s, name, err), err);
}

lti_status_t lti_store_xapi_actor(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                  const char *candidate, int64_t now, const char **name,
                                  lti_err_t *err)
{
    return logged("xapi_actor",
                  s->ops->xapi_actor(s, p, person_id, candidate, now, name, err), err);
}

lti_status_t lti_store_xapi_actor_find(lti_store_t *s, const char *name, const char *email,
                                       int64_t *person_id, lti_err_t *err)
{
    return logged("xapi_actor_find",
                  s->ops->xapi_actor_find(s, name, email, person_id, err), err);
}

lti_status_t lti_store_badge_list(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                  apr_array_header_t **out, lti_err_t *err)
{
    return logged("badge_list", s->ops->badge_list(s, p, person_id, out, err), err);
}

lti_status_t lti_store_badge_get(lti_store_t *s, apr_pool_t *p, const char *id,
                                 lti_badge_award_t *out, lti_err_t *err)
{
    return logged("badge_get", s->ops->badge_get(s, p, id, out, err), err);
}

lti_status_t lti_store_badge_revoke(lti_store_t *s, const char *id, const char *reason,
                                    int64_t now, lti_err_t *err)
{
    return logged("badge_revoke", s->ops->badge_revoke(s, id, reason, now, err), err);
}

lti_status_t lti_store_badge_claim_add(lti_store_t *s, const lti_badge_claim_t *c, int64_t now,
                                       int64_t *id, lti_err_t *err)
{
    return logged("badge_claim_add", s->ops->badge_claim_add(s, c, now, id, err), err);
}

lti_status_t lti_store_badge_claim_list(lti_store_t *s, apr_pool_t *p, int64_t link_pk,
                                        int64_t person_id, apr_array_header_t **out,
                                        lti_err_t *err)
{
    return logged("badge_claim_list",
                  s->ops->badge_claim_list(s, p, link_pk, person_id, out, err), err);
}

lti_status_t lti_store_badge_claim_decide(lti_store_t *s, apr_pool_t *p, int64_t id,
                                          int64_t link_pk, int approve, int64_t now,
                                          lti_result_fn *fn, void *baton,
                                          lti_progress_stats_t *stats, lti_err_t *err)
{
    lti_progress_stats_t st;
    lti_status_t rv;

    memset(&st, 0, sizeof(st));
    rv = s->ops->badge_claim_decide(s, p, id, link_pk, approve, now, fn, baton, &st, err);
    if (stats) {
        *stats = st;
    }
    return logged("badge_claim_decide", rv, err);
}

lti_status_t lti_store_dlctx_put(lti_store_t *s, const lti_dlctx_t *ctx, int64_t now,
                                 lti_err_t *err)
{
    return logged("dlctx_put", s->ops->dlctx_put(s, ctx, now, err), err);
}

lti_status_t lti_store_dlctx_get(lti_store_t *s, apr_pool_t *p, const char *id, int64_t now,
                                 int take, lti_dlctx_t *out, lti_err_t *err)
{
    return logged("dlctx_get", s->ops->dlctx_get(s, p, id, now, take, out, err), err);
}

lti_status_t lti_store_roster_source(lti_store_t *s, apr_pool_t *p, int64_t link_pk,
                                     lti_roster_source_t *out, lti_err_t *err)
{
    return logged("roster_source", s->ops->roster_source(s, p, link_pk, out, err), err);
}

lti_status_t lti_store_roster_put(lti_store_t *s, const char *tenant, int64_t context_pk,
                                  const apr_array_header_t *members, int64_t now,
                                  lti_err_t *err)
{
    return logged("roster_put", s->ops->roster_put(s, tenant, context_pk, members, now, err),
                  err);
}

lti_status_t lti_store_progress_list(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                     const char *course_id, apr_array_header_t **out,
                                     lti_err_t *err)
{
    return logged("progress_list",
                  s->ops->progress_list(s, p, person_id, course_id, out, err), err);
}
