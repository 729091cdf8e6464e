/* ptech_handler_lti11.c -- POST /ptech/lti11: an LTI 1.1 launch from the LMS, checked by
 * liblti, recorded in one transaction, answered with a session cookie and a 303 to the
 * course pages. */
#include <apr_strings.h>

#include "ptech.h"
#include "ptech_session.h"

APLOG_USE_MODULE(ptech);

#define CONSUMER_SCOPE "lti11:"

/* The (timestamp, nonce) replay key of a launch: RFC 5849 3.3 makes a nonce unique per
 * timestamp and credentials; with the time first, new keys append to the index. */
static const char *nonce_key(apr_pool_t *p, const lti_launch11_t *l)
{
    return apr_psprintf(p, "%010" APR_INT64_T_FMT ":%s", (apr_int64_t)l->timestamp, l->nonce);
}

/* A verified ContentItemSelectionRequest: its nonce is spent, its return URL and data kept
 * server side for the picker (ptech_handler_deeplink.c); no launch is recorded.  Only
 * people who may add activities choose content. */
static int content_item(request_rec *r, lti_store_t *store, const lti_launch11_t *l,
                        const apr_array_header_t *params, int64_t now, int64_t window)
{
    const char *lang = lti_lang_of(l->locale);
    lti_deeplink_ctx_t dl;
    lti_err_t err;

    lti_err_clear(&err);
    memset(&dl, 0, sizeof(dl));
    dl.version = "1.1";
    dl.locale = l->locale;
    dl.consumer_key = l->consumer_key;
    if (lti_contentitem_request_parse(r->pool, params, &dl, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, lang, 1);
    }
    if (lti_deeplink_roles_check(l->roles, l->roles_raw, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, lang, 1);
    }
    if (lti_store_nonce_use(store, apr_pstrcat(r->pool, CONSUMER_SCOPE, l->consumer_key, NULL),
                            nonce_key(r->pool, l), (l->timestamp > now ? l->timestamp : now)
                                                   + window + 1, &err) != LTI_OK) {
        if (err.status == LTI_ERR_REPLAY) {
            lti_err_set(&err, LTI_ERR_REPLAY, "oauth_nonce_replay", "This request was already "
                        "used (its oauth_nonce was seen before): open the activity chooser "
                        "in the LMS again.");
        }
        return ptech_lti_error(r, &err, lang, 1);
    }
    return ptech_deeplink_start(r, store, &dl);
}

int ptech_handle_lti11(request_rec *r)
{
    ptech_srv_cfg *c = ptech_cfg(r->server);
    lti_store_t *store;
    const char *body, *url, *key, *ctype;
    apr_size_t len;
    apr_array_header_t *params;
    lti_consumer_t consumer;
    lti_launch11_t l;
    lti_launch_rec_t rec;
    lti_err_t err;
    int64_t now = ptech_now(), window = ptech_cfg_timestamp_window(c);

    lti_err_clear(&err);
    if (r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "POST");
        return ptech_error_page(r, HTTP_METHOD_NOT_ALLOWED, NULL,
                                apr_psprintf(r->pool, "An LTI 1.1 launch is a POST from the "
                                             "LMS; this request was a %s. Open the activity "
                                             "from Moodle instead of this address.",
                                             r->method),
                                "lti11_method", 1);
    }
    ctype = apr_table_get(r->headers_in, "Content-Type");
    if (ctype == NULL
        || strncasecmp(ctype, "application/x-www-form-urlencoded", 33) != 0) {
        return ptech_error_page(r, HTTP_UNSUPPORTED_MEDIA_TYPE, NULL,
                                "An LTI 1.1 launch must be an HTML form post "
                                "(application/x-www-form-urlencoded).",
                                "lti11_content_type", 1);
    }
    if ((store = ptech_store(r)) == NULL) {
        return ptech_error_page(r, HTTP_SERVICE_UNAVAILABLE, NULL,
                                "The tool's database is not available.", "store_unavailable", 0);
    }
    params = lti_kv_make(r->pool, 64);
    if (ptech_read_body(r, PTECH_MAX_BODY, &body, &len, &err) != LTI_OK
        || lti_form_parse(r->pool, body, len, PTECH_MAX_PARAMS, params, &err) != LTI_OK
        || lti_launch11_consumer_key(params, &key, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, NULL, 1);
    }
    if (lti_store_consumer_get(store, r->pool, key, &consumer, &err) != LTI_OK) {
        if (err.status == LTI_ERR_NOT_FOUND) {
            lti_err_set(&err, LTI_ERR_UNKNOWN_KEY, "lti11_unknown_consumer",
                        "The consumer key '%s' is not registered with this tool "
                        "(ptechctl consumer add).", key);
        }
        return ptech_lti_error(r, &err, NULL, 1);
    }
    /* The URL as the LMS saw it: behind a TLS proxy only PTechPublicURL knows. */
    url = apr_pstrcat(r->pool, ptech_base_url(r), r->unparsed_uri, NULL);
    if (lti_launch11_verify(r->pool, url, params, consumer.secret, now, window, &l, &err)
        != LTI_OK) {
        return ptech_lti_error(r, &err, NULL, 1);
    }
    if (strcmp(l.message_type, "ContentItemSelectionRequest") == 0) {
        return content_item(r, store, &l, params, now, window);
    }

    memset(&rec, 0, sizeof(rec));
    rec.tenant = rec.nonce_scope = apr_pstrcat(r->pool, CONSUMER_SCOPE, key, NULL);
    rec.nonce = nonce_key(r->pool, &l);
    /* A nonce must outlive every timestamp that could still pass the window. */
    rec.nonce_expires = (l.timestamp > now ? l.timestamp : now) + window + 1;
    rec.version = "1.1";
    rec.user_id = l.user_id;
    rec.given_name = l.given_name;
    rec.family_name = l.family_name;
    rec.full_name = l.full_name;
    rec.email = l.email;
    rec.context_id = l.context_id;
    rec.context_title = l.context_title;
    rec.context_label = l.context_label;
    rec.context_type = l.context_type;
    rec.link_id = l.link_id;
    rec.link_title = l.link_title;
    rec.course_id = l.custom_course;
    rec.roles = l.roles;
    rec.roles_raw = l.roles_raw;
    rec.locale = l.locale;
    rec.result_sourcedid = l.result_sourcedid;
    rec.outcome_url = l.outcome_url;
    rec.lms_origin = ptech_origin_of(r->pool, l.return_url ? l.return_url : l.outcome_url);
    /* The same person as a 1.3 launch of the same LMS instance and user id (SPEC.md). */
    rec.platform_guid = l.instance_guid;
    rec.now = now;
    return ptech_launch_finish(r, store, &rec, 0, "oauth_nonce_replay",
                               "This launch was already used (its oauth_nonce was seen before): "
                               "launch the activity again from the LMS.");
}
