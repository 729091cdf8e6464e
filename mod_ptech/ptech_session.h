/* ptech_session.h -- the session cookie after a launch, and redirects. */
#ifndef PTECH_SESSION_H
#define PTECH_SESSION_H

#include "ptech.h"

/* Makes a fresh session id (*sid, for the cookie) and fills rec's session_hash, csrf and
 * session_expires.  LTI_ERR_CRYPTO if no randomness. */
lti_status_t ptech_session_new(request_rec *r, const char **sid, lti_launch_rec_t *rec,
                               lti_err_t *err);

/* Sets the session cookie: SameSite=None; Secure over https, SameSite=Lax over http. */
void ptech_session_set_cookie(request_rec *r, const char *sid);

/* The session of the request's cookie; LTI_ERR_NOT_FOUND without a (live) one. */
lti_status_t ptech_session_get(request_rec *r, lti_store_t *store, lti_session_t *out,
                               lti_err_t *err);

/* The end of every verified launch, 1.1 and 1.3: records it with a new session in one
 * transaction, sets the session cookie and answers 303 to the course pages (page_inline:
 * answers with the course page itself, for a browser that keeps no cookie of ours).  A
 * nonce seen before is refused with replay_reason and replay_text; other failures with
 * their own. */
int ptech_launch_finish(request_rec *r, lti_store_t *store, lti_launch_rec_t *rec,
                        int page_inline, const char *replay_reason, const char *replay_text);

/* scheme://host[:port] of an http(s) url (the LMS origin allowed to frame the pages), or
 * NULL when url is not one. */
const char *ptech_origin_of(apr_pool_t *p, const char *url);

/* Answers 303 See Other to location (the body names it too); returns OK. */
int ptech_redirect(request_rec *r, const char *location);

#endif
