/* lti_err.c -- status strings, error detail and the log callback. */
#include <stdio.h>
#include <string.h>

#include "lti_err.h"

static const struct {
    const char *name;
    const char *text;
} status_table[LTI_ERR__COUNT] = {
    [LTI_OK] = {"LTI_OK", "success"},
    [LTI_ERR_NOMEM] = {"LTI_ERR_NOMEM", "out of memory"},
    [LTI_ERR_MALFORMED] = {"LTI_ERR_MALFORMED", "malformed request"},
    [LTI_ERR_MISSING] = {"LTI_ERR_MISSING", "a required value is missing"},
    [LTI_ERR_UNSUPPORTED] = {"LTI_ERR_UNSUPPORTED", "not supported"},
    [LTI_ERR_TOO_LARGE] = {"LTI_ERR_TOO_LARGE", "too large"},
    [LTI_ERR_SIGNATURE] = {"LTI_ERR_SIGNATURE", "signature does not verify"},
    [LTI_ERR_UNKNOWN_KEY] = {"LTI_ERR_UNKNOWN_KEY", "unknown key or registration"},
    [LTI_ERR_EXPIRED] = {"LTI_ERR_EXPIRED", "outside the allowed time window"},
    [LTI_ERR_REPLAY] = {"LTI_ERR_REPLAY", "already used (replay)"},
    [LTI_ERR_FORBIDDEN] = {"LTI_ERR_FORBIDDEN", "not allowed"},
    [LTI_ERR_NOT_FOUND] = {"LTI_ERR_NOT_FOUND", "not found"},
    [LTI_ERR_EXISTS] = {"LTI_ERR_EXISTS", "already exists"},
    [LTI_ERR_CONFIG] = {"LTI_ERR_CONFIG", "invalid configuration"},
    [LTI_ERR_IO] = {"LTI_ERR_IO", "input/output error"},
    [LTI_ERR_STORE] = {"LTI_ERR_STORE", "database error"},
    [LTI_ERR_CRYPTO] = {"LTI_ERR_CRYPTO", "cryptographic library error"},
    [LTI_ERR_UPSTREAM] = {"LTI_ERR_UPSTREAM", "the remote service failed"},
    [LTI_ERR_INTERNAL] = {"LTI_ERR_INTERNAL", "internal error"},
};

const char *lti_strerror(lti_status_t status)
{
    if ((unsigned)status >= LTI_ERR__COUNT) {
        return "unknown error";
    }
    return status_table[status].text;
}

const char *lti_status_name(lti_status_t status)
{
    if ((unsigned)status >= LTI_ERR__COUNT) {
        return "LTI_ERR_UNKNOWN";
    }
    return status_table[status].name;
}

lti_status_t lti_err_set(lti_err_t *err, lti_status_t status, const char *reason,
                         const char *fmt, ...)
{
    va_list ap;

    if (err == NULL) {
        return status;
    }
    err->status = status;
    err->reason = reason ? reason : "error";
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof(err->text), fmt, ap);
    va_end(ap);
    return status;
}

void lti_err_clear(lti_err_t *err)
{
    if (err != NULL) {
        err->status = LTI_OK;
        err->reason = NULL;
        err->text[0] = '\0';
    }
}

static lti_log_fn *log_fn;
static void *log_baton;

void lti_log_set(lti_log_fn *fn, void *baton)
{
    log_fn = fn;
    log_baton = baton;
}

void lti_log_(lti_log_level_t level, const char *file, int line, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    if (log_fn == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    log_fn(log_baton, level, file, line, buf);
}
