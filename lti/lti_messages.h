/* lti_messages.h -- the UI's message catalogs: conf/messages/{fr,ar,en}.json, one JSON
 * object of key -> text per language, built into the library at compile time (pages never
 * depend on a file path at run time, and no process-wide gettext locale is involved, which
 * threaded MPMs cannot share). */
#ifndef LTI_MESSAGES_H
#define LTI_MESSAGES_H

#include <apr_pools.h>

#include "lti_err.h"

/* The page languages, French first (the fallback). */
#define LTI_LANGS 3
extern const char *const lti_langs[LTI_LANGS];   /* "fr", "ar", "en" */

typedef struct lti_messages_t lti_messages_t;

/* Parses one catalog per language of lti_langs (texts[i], named names[i] in errors): each
 * a JSON object without duplicate keys whose values are non-empty strings.  Every language
 * must have exactly French's keys.  LTI_ERR_CONFIG "messages_invalid" naming the file and
 * the key (or the JSON error's line) otherwise. */
lti_status_t lti_messages_parse(apr_pool_t *p, const char *const texts[LTI_LANGS],
                                const char *const names[LTI_LANGS], lti_messages_t **out,
                                lti_err_t *err);

/* The catalogs built in from conf/messages/. */
lti_status_t lti_messages_builtin(apr_pool_t *p, lti_messages_t **out, lti_err_t *err);

/* The text of key in lang ("fr", "ar", "en"; anything else is French); the key itself when
 * no catalog has it (a missing text shows, it does not crash a page). */
const char *lti_msg(const lti_messages_t *m, const char *lang, const char *key);

/* How many keys each language has. */
unsigned lti_messages_count(const lti_messages_t *m);

#endif
