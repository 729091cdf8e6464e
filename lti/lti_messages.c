/* lti_messages.c -- the UI's message catalogs (see lti_messages.h). */
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>
#include <jansson.h>

#include "lti_messages.h"
#include "messages_json.h"

const char *const lti_langs[LTI_LANGS] = {"fr", "ar", "en"};

struct lti_messages_t {
    apr_hash_t *text[LTI_LANGS];   /* key -> text, per lti_langs */
};

static lti_status_t invalid(lti_err_t *err, const char *name, const char *what, const char *key)
{
    return lti_err_set(err, LTI_ERR_CONFIG, "messages_invalid", "message catalog %s: %s%s%s%s",
                       name, what, key ? " \"" : "", key ? key : "", key ? "\"" : "");
}

static lti_status_t load_one(apr_pool_t *p, const char *text, const char *name, apr_hash_t **out,
                             lti_err_t *err)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    const char *key;
    json_t *value;
    lti_status_t rv = LTI_OK;

    if (doc == NULL) {
        return lti_err_set(err, LTI_ERR_CONFIG, "messages_invalid",
                           "message catalog %s, line %d: %s", name, jerr.line, jerr.text);
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        return invalid(err, name, "it is not a JSON object of key: text", NULL);
    }
    *out = apr_hash_make(p);
    json_object_foreach(doc, key, value) {
        /* jansson refuses NUL in strings (no JSON_ALLOW_NUL). */
        if (!json_is_string(value) || json_string_length(value) == 0) {
            rv = invalid(err, name, "the text is not a non-empty string, key", key);
            break;
        }
        apr_hash_set(*out, apr_pstrdup(p, key), APR_HASH_KEY_STRING,
                     apr_pstrdup(p, json_string_value(value)));
    }
    json_decref(doc);
    return rv;
}

lti_status_t lti_messages_parse(apr_pool_t *p, const char *const texts[LTI_LANGS],
                                const char *const names[LTI_LANGS], lti_messages_t **out,
                                lti_err_t *err)
{
    lti_messages_t *m = apr_pcalloc(p, sizeof(*m));
    lti_status_t rv;

    *out = NULL;
    for (int i = 0; i < LTI_LANGS; i++) {
        if ((rv = load_one(p, texts[i], names[i], &m->text[i], err)) != LTI_OK) {
            return rv;
        }
    }
    /* Same keys everywhere: a text missing in Arabic is a bug to find at build, not a
     * French word on an Arabic page. */
    for (int i = 1; i < LTI_LANGS; i++) {
        for (apr_hash_index_t *hi = apr_hash_first(p, m->text[0]); hi; hi = apr_hash_next(hi)) {
            const char *key = apr_hash_this_key(hi);

            if (apr_hash_get(m->text[i], key, APR_HASH_KEY_STRING) == NULL) {
                return invalid(err, names[i], "it lacks the key", key);
            }
        }
        for (apr_hash_index_t *hi = apr_hash_first(p, m->text[i]); hi; hi = apr_hash_next(hi)) {
            const char *key = apr_hash_this_key(hi);

            if (apr_hash_get(m->text[0], key, APR_HASH_KEY_STRING) == NULL) {
                return invalid(err, names[i], "it has a key French lacks:", key);
            }
        }
    }
    *out = m;
    return LTI_OK;
}

lti_status_t lti_messages_builtin(apr_pool_t *p, lti_messages_t **out, lti_err_t *err)
{
    static const char *const texts[LTI_LANGS] = {ptech_messages_fr, ptech_messages_ar,
                                                 ptech_messages_en};
    static const char *const names[LTI_LANGS] = {"conf/messages/fr.json", "conf/messages/ar.json",
                                                 "conf/messages/en.json"};

    return lti_messages_parse(p, texts, names, out, err);
}

const char *lti_msg(const lti_messages_t *m, const char *lang, const char *key)
{
    int i = 0;
    const char *s;

    if (m == NULL || key == NULL) {
        return key ? key : "";
    }
    for (int k = 1; lang != NULL && k < LTI_LANGS; k++) {
        if (strcmp(lang, lti_langs[k]) == 0) {
            i = k;
        }
    }
    s = apr_hash_get(m->text[i], key, APR_HASH_KEY_STRING);
    return s ? s : key;
}

unsigned lti_messages_count(const lti_messages_t *m)
{
    return m ? apr_hash_count(m->text[0]) : 0;
}
