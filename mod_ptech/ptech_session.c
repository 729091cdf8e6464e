/* ptech_session.c -- session cookies (SPEC.md's cookie rule) and redirects. */
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_uri.h>
#include <util_cookies.h>

#include "ptech_session.h"

APLOG_USE_MODULE(ptech);

/* A session id is "<time>-<64 hex>": the launch time in microseconds (16 digits), then 32
 * random bytes.  The store keeps "<time>-<sha256 of the random part>", so a copy of the
 * database opens no session, and keys sort by time: the sessions of a batch of launches
 * append to the same pages instead of each landing on a random one.  By the second (10
 * digits, ids made before) they did not, as a second holds thousands; those are still
 * read. */
#define SID_TIME_LEN 16
#define SID_TIME_LEN_OLD 10

static const char *session_key(apr_pool_t *p, const char *sid, size_t tlen)
{
    return apr_pstrcat(p, apr_pstrndup(p, sid, tlen + 1),
                       lti_sha256_hex(p, sid + tlen + 1, 64), NULL);
}

lti_status_t ptech_session_new(request_rec *r, const char **sid, lti_launch_rec_t *rec,
                               lti_err_t *err)
{
    /* One draw for both (each RAND_bytes call costs more than its bytes): 32 bytes of
     * session secret, then 16 of CSRF token. */
    const char *rnd = lti_random_hex(r->pool, 48);
    const char *csrf;
    const char *id;

    if (rnd == NULL) {
        return lti_err_set(err, LTI_ERR_CRYPTO, "random_failed", "no randomness available");
    }
    csrf = rnd + 64;
    id = apr_psprintf(r->pool, "%016" APR_TIME_T_FMT "-%.64s", apr_time_now(), rnd);
    rec->session_hash = session_key(r->pool, id, SID_TIME_LEN);
    rec->csrf = csrf;
    rec->session_expires = rec->now + ptech_cfg_session_ttl(ptech_cfg(r->server));
    *sid = id;
    return LTI_OK;
}

static int is_https(request_rec *r)
{
    return strncmp(ptech_base_url(r), "https:", 6) == 0;
}

void ptech_session_set_cookie(request_rec *r, const char *sid)
{
    /* In Moodle's iframe the tool is a third party: over https the cookie must be
     * SameSite=None; Secure.  Plain http (demo, tests on loopback) cannot be Secure. */
    const char *attrs = is_https(r) ? "; SameSite=None; Secure" : "; SameSite=Lax";

    apr_table_addn(r->err_headers_out, "Set-Cookie",
                   apr_psprintf(r->pool, "%s=%s; Path=%s; HttpOnly; Max-Age=%" APR_INT64_T_FMT "%s",
                                PTECH_SESSION_COOKIE, sid, PTECH_PREFIX,
                                (apr_int64_t)ptech_cfg_session_ttl(ptech_cfg(r->server)),
                                attrs));
}

lti_status_t ptech_session_get(request_rec *r, lti_store_t *store, lti_session_t *out,
                               lti_err_t *err)
{
    const char *sid = NULL;
    size_t tlen = 0;

    if (ap_cookie_read(r, PTECH_SESSION_COOKIE, &sid, 0) == APR_SUCCESS && sid != NULL) {
        tlen = strspn(sid, "0123456789");
    }
    if ((tlen != SID_TIME_LEN && tlen != SID_TIME_LEN_OLD) || sid[tlen] != '-'
        || strlen(sid) != tlen + 1 + 64 || strspn(sid + tlen + 1, "0123456789abcdef") != 64) {
        return lti_err_set(err, LTI_ERR_NOT_FOUND, "session_no_cookie",
                           "no session cookie came with the request");
    }
    return lti_store_session_get(store, r->pool, session_key(r->pool, sid, tlen), ptech_now(),
                                 out, err);
}

int ptech_redirect(request_rec *r, const char *location)
{
    r->status = HTTP_SEE_OTHER;
    apr_table_setn(r->headers_out, "Location", location);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rvputs(r, "<!DOCTYPE html><title>303</title><a href=\"", ptech_esc(r->pool, location),
              "\">", ptech_esc(r->pool, location), "</a>\n", NULL);
    return OK;
}

const char *ptech_origin_of(apr_pool_t *p, const char *url)
{
    apr_uri_t u;

    if (url == NULL || apr_uri_parse(p, url, &u) != APR_SUCCESS || u.scheme == NULL
        || u.hostname == NULL || (strcasecmp(u.scheme, "https") && strcasecmp(u.scheme, "http"))) {
        return NULL;
    }
    for (const char *c = u.hostname; *c; c++) {
        if (!apr_isalnum(*c) && *c != '.' && *c != '-' && *c != ':' && *c != '[' && *c != ']') {
            return NULL;
        }
    }
    return apr_psprintf(p, "%s://%s%s%s", apr_pstrdup(p, u.scheme), u.hostname,
                        u.port_str ? ":" : "", u.port_str ? u.port_str : "");
}

int ptech_launch_finish(request_rec *r, lti_store_t *store, lti_launch_rec_t *rec,
                        int page_inline, const char *replay_reason, const char *replay_text)
{
    lti_launch_ids_t ids;
    lti_session_t s;
    const char *sid;
    lti_err_t err;

    lti_err_clear(&err);
    rec->pool = r->pool;
    if (ptech_session_new(r, &sid, rec, &err) != LTI_OK
        || lti_store_launch_record(store, rec, &ids, &err) != LTI_OK) {
        if (rec->login_state != NULL) {
            lti_login_state_t gone;

            /* Single use, whatever went wrong. */
            lti_store_state_take(store, r->pool, rec->login_state, rec->now, &gone, NULL);
        }
        if (err.status == LTI_ERR_REPLAY && strcmp(err.reason, "nonce_replay") == 0) {
            err.reason = replay_reason;
            snprintf(err.text, sizeof(err.text), "%s", replay_text);
        }
        return ptech_lti_error(r, &err, lti_lang_of(rec->locale), 1);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "PT00030: LTI %s launch of link %"
                  APR_INT64_T_FMT " by person %" APR_INT64_T_FMT, rec->version,
                  (apr_int64_t)ids.link_pk, (apr_int64_t)ids.person_id);
    /* Progress kept for this learner, and a result this link has not had yet, go out now
     * (the launch's transaction said whether there are any); a failure here does not fail
     * the launch (the next launch tries again). */
    if (ids.progress_due
        && lti_store_progress_on_launch(store, r->pool, ids.person_id, ids.link_pk, rec->now,
                                     lti_progress_result_fn, ptech_cfg(r->server)->catalog,
                                     NULL, &err) != LTI_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "PT00063: progress after a launch: %s",
                      err.text);
    }
    ptech_session_set_cookie(r, sid);
    if (page_inline) {
        if (lti_store_session_get(store, r->pool, rec->session_hash, rec->now, &s, &err)
            != LTI_OK) {
            return ptech_lti_error(r, &err, lti_lang_of(rec->locale), 0);
        }
        return ptech_course_page(r, store, &s);
    }
    return ptech_redirect(r, apr_pstrcat(r->pool, ptech_base_url(r), PTECH_PREFIX, "/course",
                                         NULL));
}
