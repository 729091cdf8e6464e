/* lti_pox.h -- LTI 1.1 Basic Outcomes (IMS POX): replaceResult, readResult, deleteResult
 * requests built with libxml2, signed with OAuth 1.0a HMAC-SHA1 and the body hash
 * extension; responses parsed with libxml2 (no network, no entity expansion, no DTD, a
 * DOCTYPE refused, size capped).  Success is imsx_codeMajor "success" only: Moodle answers
 * failures with HTTP 200. */
#ifndef LTI_POX_H
#define LTI_POX_H

#include <stddef.h>
#include <stdint.h>

#include <apr_pools.h>

#include "lti_err.h"

#define LTI_POX_NS "http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0"
/* Largest response parsed, in bytes. */
#define LTI_POX_MAX_BYTES (64 * 1024)

typedef enum { LTI_POX_REPLACE, LTI_POX_READ, LTI_POX_DELETE } lti_pox_op_t;

/* The request body of op for sourcedid (score 0..1, replaceResult only) with message id
 * msg_id; NULL (err set) when the score is out of range or libxml2 fails. */
const char *lti_pox_request(apr_pool_t *p, lti_pox_op_t op, const char *sourcedid,
                            double score, const char *msg_id, lti_err_t *err);

/* The Authorization header value ("OAuth oauth_body_hash=..., ...") of a POST of body to
 * url: a fresh nonce and timestamp now, oauth_body_hash, HMAC-SHA1 with secret. */
lti_status_t lti_pox_sign(apr_pool_t *p, const char *url, const char *body, size_t len,
                          const char *consumer_key, const char *secret, int64_t now,
                          const char **authorization, lti_err_t *err);

typedef struct lti_pox_resp_t {
    const char *code_major;     /* "success", "failure", "unsupported", "processing" */
    const char *severity, *description, *message_ref, *operation_ref;
    int has_score;              /* readResult */
    double score;
} lti_pox_resp_t;

/* Parses a response body.  LTI_ERR_TOO_LARGE "pox_too_large" over LTI_POX_MAX_BYTES;
 * LTI_ERR_MALFORMED "pox_doctype" for a DOCTYPE, "pox_syntax" for bad XML, "pox_namespace"
 * for another root or namespace, "pox_no_status" without imsx_codeMajor. */
lti_status_t lti_pox_parse(apr_pool_t *p, const char *body, size_t len, lti_pox_resp_t *out,
                           lti_err_t *err);

/* A request as an LMS receives it (the demo LMS): the operation, its sourcedId, the
 * message id, the score (replaceResult). */
typedef struct lti_pox_req_t {
    lti_pox_op_t op;
    const char *operation;      /* "replaceResultRequest", ... */
    const char *message_id, *sourcedid;
    double score;
} lti_pox_req_t;

/* Parses a request body with the same care as lti_pox_parse ("pox_too_large",
 * "pox_doctype", "pox_syntax", "pox_namespace"); LTI_ERR_UNSUPPORTED "pox_operation" for
 * another operation, LTI_ERR_MISSING "pox_no_sourcedid", LTI_ERR_MALFORMED "pox_score" for a
 * replaceResult score that is not a number within 0..1. */
lti_status_t lti_pox_parse_request(apr_pool_t *p, const char *body, size_t len,
                                   lti_pox_req_t *out, lti_err_t *err);

/* A response envelope shaped like Moodle's: code_major ("success", "failure"), the
 * description, the request's message id as messageRefIdentifier, the operation answered,
 * msg_id as its own identifier.  NULL when libxml2 fails. */
const char *lti_pox_response(apr_pool_t *p, const char *code_major, const char *description,
                             const char *message_ref, lti_pox_op_t op, const char *msg_id);

/* LTI_OK when resp says success for op; LTI_ERR_UPSTREAM "pox_failure" naming the
 * platform's description otherwise. */
lti_status_t lti_pox_check(const lti_pox_resp_t *resp, lti_pox_op_t op, lti_err_t *err);

#endif
