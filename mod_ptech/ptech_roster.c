/* ptech_roster.c -- the course roster from the platform's Names and Role Provisioning
 * Service, brought up to date when an instructor page is shown (liblti's lti_nrps does the
 * work; at most once per LTI_NRPS_SYNC_AGE per course). */
#include "ptech.h"

APLOG_USE_MODULE(ptech);

void ptech_roster_refresh(request_rec *r, lti_store_t *store, int64_t link_pk)
{
    ptech_srv_cfg *c = ptech_cfg(r->server);
    lti_http_opts_t http;
    lti_err_t err;
    int count;

    lti_err_clear(&err);
    memset(&http, 0, sizeof(http));
    http.timeout = ptech_cfg_dur(c->http_timeout, 10);
    http.ca_file = c->ca_file;
    http.proxy = c->http_proxy;
    http.allow_insecure_loopback = ptech_cfg_flag(c->allow_insecure_loopback);
    http.max_bytes = LTI_NRPS_MAX_BYTES;
    /* A failure leaves the page with the people who launched: it is logged, not shown. */
    if (lti_nrps_sync(r->pool, store, c->secret_key_set ? c->secret_key : NULL, link_pk, &http,
                      ptech_now(), LTI_NRPS_SYNC_AGE, &count, &err) != LTI_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "PT00071: the course roster (NRPS) "
                      "could not be read: %s (%s)", err.text, err.reason ? err.reason : "");
    }
    else if (count >= 0) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "PT00072: course roster read: %d "
                      "member(s)", count);
    }
}
