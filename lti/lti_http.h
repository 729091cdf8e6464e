/* lti_http.h -- outbound HTTP(S) for liblti over libcurl: platform keys and Dynamic
 * Registration now, tokens, grades and badges later.  TLS always verified; plain http only
 * to the loopback when the caller allows it (tests, demo); bodies and times capped;
 * redirects not followed. */
#ifndef LTI_HTTP_H
#define LTI_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <apr_pools.h>

#include "lti_err.h"

typedef struct lti_http_opts_t {
    int64_t timeout;              /* seconds, whole request */
    const char *ca_file;          /* NULL: the system's CA bundle */
    const char *proxy;            /* NULL: none */
    int allow_insecure_loopback;  /* plain http to 127.0.0.1 / ::1 / localhost */
    size_t max_bytes;             /* largest body accepted */
} lti_http_opts_t;

typedef struct lti_http_resp_t {
    long status;
    const char *body;             /* NUL-terminated */
    size_t len;
    const char *content_type;     /* may be NULL */
    int64_t max_age;              /* from Cache-Control max-age, -1 when absent */
    const char *location;         /* a 3xx answer's absolute redirect URL (not followed),
                                   * else NULL */
    const char *link;             /* the Link header(s) joined with ", ", NULL when none */
} lti_http_resp_t;

/* Checks that url may be fetched under opts: https, or http to the loopback when allowed.
 * LTI_ERR_FORBIDDEN "http_insecure_url" otherwise, LTI_ERR_MALFORMED "http_bad_url". */
lti_status_t lti_http_check_url(apr_pool_t *p, const char *url, const lti_http_opts_t *opts,
                                lti_err_t *err);

/* GETs url (accept: accept header, may be NULL).  Any HTTP status is LTI_OK (look at
 * resp->status); LTI_ERR_UPSTREAM "http_failed" for a network/TLS error or a timeout,
 * LTI_ERR_TOO_LARGE "http_too_large" over opts->max_bytes. */
lti_status_t lti_http_get(apr_pool_t *p, const char *url, const char *accept,
                          const lti_http_opts_t *opts, lti_http_resp_t *resp, lti_err_t *err);

/* POSTs json (NUL-terminated) as application/json, Accept: application/json, with
 * "Authorization: Bearer <bearer>" when bearer is not NULL (never logged).  Same URL
 * checks, caps and errors as lti_http_get; LTI_ERR_MALFORMED "http_bad_token" for an empty
 * bearer or one holding a line break. */
lti_status_t lti_http_post_json(apr_pool_t *p, const char *url, const char *json,
                                const char *bearer, const lti_http_opts_t *opts,
                                lti_http_resp_t *resp, lti_err_t *err);

/* One request described as data, so that it can be built where there is no network (the AGS
 * request builders) and sent by lti_http_request or by the outbox's curl multi loop. */
typedef struct lti_http_req_t {
    const char *method;           /* "GET" or "POST" */
    const char *url;
    const char *accept;           /* Accept header, NULL: none */
    const char *content_type;     /* POST: the body's type (required) */
    const char *body;             /* POST: body_len bytes (NULL: empty); GET: NULL */
    size_t body_len;
    const char *bearer;           /* "Authorization: Bearer" token, NULL: none; never logged */
    size_t max_bytes;             /* largest answer accepted, 0: opts->max_bytes */
} lti_http_req_t;

/* Sends req.  Same URL checks, caps, TLS rules, answers and errors as lti_http_get and
 * lti_http_post_json (LTI_ERR_MALFORMED "http_bad_token" for a bad bearer);
 * LTI_ERR_INTERNAL "http_failed" for a method other than GET or POST, a GET with a body or
 * a POST without a Content-Type. */
lti_status_t lti_http_request(apr_pool_t *p, const lti_http_req_t *req,
                              const lti_http_opts_t *opts, lti_http_resp_t *resp, lti_err_t *err);

#endif
