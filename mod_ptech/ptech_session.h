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

/* Answers 303 See Other to location (the body names it too); returns OK. */
int ptech_redirect(request_rec *r, const char *location);

#endif
