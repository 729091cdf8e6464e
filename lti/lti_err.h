/* lti_err.h -- one status enum for liblti, its strerror, and an error detail.
 *
 * Every liblti function that can fail returns lti_status_t and takes an
 * lti_err_t * last (it may be NULL).  On failure the detail names a reason
 * code (stable, short, for the audit log: "oauth_bad_signature") and a
 * sentence a person can act on.  Never put a secret or a token in either.
 */
#ifndef LTI_ERR_H
#define LTI_ERR_H

#include <stdarg.h>

typedef enum {
    LTI_OK = 0,
    LTI_ERR_NOMEM,        /* out of memory */
    LTI_ERR_MALFORMED,    /* input is not what the protocol or format says */
    LTI_ERR_MISSING,      /* a required parameter or claim is absent */
    LTI_ERR_UNSUPPORTED,  /* well-formed but refused: method, version, algorithm */
    LTI_ERR_TOO_LARGE,    /* over a size cap */
    LTI_ERR_SIGNATURE,    /* signature or MAC does not verify */
    LTI_ERR_UNKNOWN_KEY,  /* consumer key, kid, issuer or client not registered */
    LTI_ERR_EXPIRED,      /* outside a time window (stale or future) */
    LTI_ERR_REPLAY,       /* nonce or state already used */
    LTI_ERR_FORBIDDEN,    /* authenticated but not allowed */
    LTI_ERR_NOT_FOUND,    /* no such record */
    LTI_ERR_EXISTS,       /* the record already exists */
    LTI_ERR_CONFIG,       /* configuration or catalog invalid */
    LTI_ERR_IO,           /* file or socket error */
    LTI_ERR_STORE,        /* database error */
    LTI_ERR_CRYPTO,       /* crypto library failure */
    LTI_ERR_UPSTREAM,     /* a remote peer failed or answered badly */
    LTI_ERR_INTERNAL,     /* a bug */
    LTI_ERR__COUNT
} lti_status_t;

typedef struct lti_err_t {
    lti_status_t status;
    const char *reason;   /* static reason code for audits, e.g. "oauth_replay" */
    char text[512];       /* what went wrong, in words, for a person */
} lti_err_t;

/* Returns a static, one-line description of status; never NULL. */
const char *lti_strerror(lti_status_t status);

/* Returns the stable name of status ("LTI_ERR_SIGNATURE"); never NULL. */
const char *lti_status_name(lti_status_t status);

/* Fills err (if non-NULL) and returns status, so callers can write
 * `return lti_err_set(err, LTI_ERR_MISSING, "lti_missing_param", "...")`. */
lti_status_t lti_err_set(lti_err_t *err, lti_status_t status, const char *reason,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Clears err to LTI_OK. */
void lti_err_clear(lti_err_t *err);

/* Log levels of the liblti log callback; the glue maps them to httpd's. */
typedef enum { LTI_LOG_ERR = 0, LTI_LOG_WARN, LTI_LOG_INFO, LTI_LOG_DEBUG } lti_log_level_t;

typedef void lti_log_fn(void *baton, lti_log_level_t level, const char *file, int line,
                        const char *msg);

/* Installs the process-wide log sink (NULL: messages are dropped).  Call once at start. */
void lti_log_set(lti_log_fn *fn, void *baton);

/* Logs through the installed sink.  Callers never pass secrets or tokens. */
void lti_log_(lti_log_level_t level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define lti_log(level, ...) lti_log_((level), __FILE__, __LINE__, __VA_ARGS__)

#endif
