/* lti_xapi.c -- the xAPI statements subset (see lti_xapi.h): parsing with jansson, the
 * mapping to catalog modules and progress facts, content links, provider secrets. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_base64.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <jansson.h>

#include "lti_xapi.h"
#include "lti_util.h"

#define ACTIVITIES "/ptech/xapi/activities/"

static const char *const verbs[] = {"completed", "passed", "failed", "scored", "progressed"};

static apr_status_t json_cleanup(void *data)
{
    json_decref(data);
    return APR_SUCCESS;
}

const char *lti_xapi_home_page(apr_pool_t *p, const char *base)
{
    return apr_pstrcat(p, base, "/ptech", NULL);
}

const char *lti_xapi_activity_id(apr_pool_t *p, const char *base, const char *course_id,
                                 const char *module_id)
{
    if (module_id == NULL || *module_id == '\0') {
        return apr_pstrcat(p, base, ACTIVITIES, course_id, NULL);
    }
    return apr_pstrcat(p, base, ACTIVITIES, course_id, "/", module_id, NULL);
}

/* Whether s is a UUID (8-4-4-4-12 hex digits). */
static int is_uuid(const char *s)
{
    static const int dash[] = {8, 13, 18, 23};

    if (strlen(s) != 36) {
        return 0;
    }
    for (int i = 0, d = 0; i < 36; i++) {
        if (d < 4 && i == dash[d]) {
            if (s[i] != '-') {
                return 0;
            }
            d++;
        }
        else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

/* A random (version 4) UUID, or NULL. */
static const char *new_uuid(apr_pool_t *p)
{
    unsigned char b[16];
    const char *h;

    if (lti_random(b, sizeof(b), NULL) != LTI_OK) {
        return NULL;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    h = lti_hex(p, b, sizeof(b));
    return apr_psprintf(p, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

/* Sets err for statement n (1-based) and returns status. */
static lti_status_t bad(lti_err_t *err, lti_status_t status, const char *reason, int n,
                        const char *what)
{
    return lti_err_set(err, status, reason, "statement %d: %s", n, what);
}

/* The (course, module) of an activity IRI: ours, or a module's content URL when exactly
 * one module has it.  Returns 0 when the catalog has no such activity. */
static int map_activity(apr_pool_t *p, const lti_catalog_t *cat, const char *base,
                        const char *iri, const char **course_id, const char **module_id)
{
    const char *prefix = apr_pstrcat(p, base, ACTIVITIES, NULL);
    size_t plen = strlen(prefix);
    int found = 0;

    if (strncmp(iri, prefix, plen) == 0) {
        const char *rest = iri + plen, *slash = strchr(rest, '/');
        const lti_course_t *c;

        if (slash == NULL) {
            c = lti_catalog_course(cat, rest);
            *module_id = "";
        }
        else {
            c = lti_catalog_course(cat, apr_pstrndup(p, rest, (apr_size_t)(slash - rest)));
            if (c != NULL && lti_catalog_module(c, slash + 1) == NULL) {
                c = NULL;
            }
            *module_id = slash + 1;
        }
        if (c == NULL) {
            return 0;
        }
        *course_id = c->id;
        return 1;
    }
    for (int i = 0; cat && i < cat->ncourses; i++) {
        for (int k = 0; k < cat->courses[i].nmodules; k++) {
            if (strcmp(cat->courses[i].modules[k].url, iri) == 0) {
                *course_id = cat->courses[i].id;
                *module_id = cat->courses[i].modules[k].id;
                found++;
            }
        }
    }
    return found == 1;
}

/* A member that must be a string when present: 1 with *out set, 0 absent, -1 ill-typed. */
static int opt_string(json_t *o, const char *key, const char **out)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL) {
        return 0;
    }
    if (!json_is_string(v)) {
        return -1;
    }
    *out = json_string_value(v);
    return 1;
}

/* A boolean member: -1 absent, 0/1, or -2 ill-typed. */
static int opt_bool(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL) {
        return -1;
    }
    return json_is_boolean(v) ? json_is_true(v) : -2;
}

static lti_status_t parse_actor(apr_pool_t *p, const char *base, json_t *actor, int n,
                                lti_xapi_stmt_t *st, lti_err_t *err)
{
    const char *type = NULL, *mbox = NULL, *home = NULL, *name = NULL;
    json_t *account;
    int has_mbox;

    if (!json_is_object(actor)) {
        return bad(err, LTI_ERR_MALFORMED, "xapi_actor_missing", n, "actor must be an object");
    }
    if (opt_string(actor, "objectType", &type) < 0
        || (type != NULL && strcmp(type, "Agent") != 0)) {
        return bad(err, LTI_ERR_UNSUPPORTED, "xapi_actor_unsupported", n,
                   "actor.objectType must be \"Agent\" (groups are not accepted)");
    }
    if (json_object_get(actor, "mbox_sha1sum") || json_object_get(actor, "openid")) {
        return bad(err, LTI_ERR_UNSUPPORTED, "xapi_actor_unsupported", n,
                   "identify the actor by account or mbox (mbox_sha1sum and openid are not "
                   "accepted)");
    }
    account = json_object_get(actor, "account");
    has_mbox = opt_string(actor, "mbox", &mbox);
    if (has_mbox < 0 || (account != NULL) == (has_mbox == 1)) {
        return bad(err, LTI_ERR_MALFORMED, "xapi_actor_malformed", n,
                   "actor needs exactly one of account {homePage, name} or mbox \"mailto:...\"");
    }
    if (account != NULL) {
        size_t hl;

        if (!json_is_object(account) || opt_string(account, "homePage", &home) != 1
            || opt_string(account, "name", &name) != 1 || *name == '\0') {
            return bad(err, LTI_ERR_MALFORMED, "xapi_actor_malformed", n,
                       "actor.account needs homePage and name strings");
        }
        /* One trailing slash is the same home page. */
        hl = strlen(home);
        if (hl > 0 && home[hl - 1] == '/') {
            home = apr_pstrndup(p, home, hl - 1);
        }
        if (strcmp(home, lti_xapi_home_page(p, base)) != 0) {
            return lti_err_set(err, LTI_ERR_NOT_FOUND, "xapi_actor_unknown",
                               "statement %d: actor.account.homePage must be %s (the account "
                               "in the learner's content links), not %s", n,
                               lti_xapi_home_page(p, base), home);
        }
        st->actor_name = apr_pstrdup(p, name);
        return LTI_OK;
    }
    if (strncasecmp(mbox, "mailto:", 7) != 0 || strchr(mbox + 7, '@') == NULL
        || mbox[7] == '@') {
        return bad(err, LTI_ERR_MALFORMED, "xapi_actor_malformed", n,
                   "actor.mbox must be \"mailto:\" and an email address");
    }
    st->actor_email = apr_pstrdup(p, mbox + 7);
    return LTI_OK;
}

static lti_status_t parse_result(json_t *result, int n, lti_xapi_stmt_t *st, lti_err_t *err)
{
    json_t *score, *scaled;

    st->completion = st->success = -1;
    if (result == NULL) {
        return LTI_OK;
    }
    if (!json_is_object(result)) {
        return bad(err, LTI_ERR_MALFORMED, "xapi_result_malformed", n,
                   "result must be an object");
    }
    st->completion = opt_bool(result, "completion");
    st->success = opt_bool(result, "success");
    if (st->completion == -2 || st->success == -2) {
        return bad(err, LTI_ERR_MALFORMED, "xapi_result_malformed", n,
                   "result.completion and result.success must be true or false");
    }
    score = json_object_get(result, "score");
    if (score == NULL) {
        return LTI_OK;
    }
    if (!json_is_object(score)) {
        return bad(err, LTI_ERR_MALFORMED, "xapi_result_malformed", n,
                   "result.score must be an object");
    }
    scaled = json_object_get(score, "scaled");
    if (scaled == NULL) {
        return LTI_OK;      /* raw alone says nothing about the scale */
    }
    if (!json_is_number(scaled)) {
        return bad(err, LTI_ERR_MALFORMED, "xapi_score_malformed", n,
                   "result.score.scaled must be a number");
    }
    st->score = json_number_value(scaled);
    if (!(st->score >= 0.0 && st->score <= 1.0)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "xapi_score_range",
                           "statement %d: result.score.scaled is %g; this tool takes 0 to 1",
                           n, st->score);
    }
    st->has_score = 1;
    return LTI_OK;
}

/* The progress status of a parsed statement (see lti_xapi.h), or NULL when the result
 * contradicts the verb. */
static const char *status_of(const lti_xapi_stmt_t *st)
{
    if (strcmp(st->verb, "passed") == 0) {
        return st->success == 0 ? NULL : "passed";
    }
    if (strcmp(st->verb, "failed") == 0) {
        return st->success == 1 ? NULL : "failed";
    }
    if (strcmp(st->verb, "completed") == 0) {
        return st->completion == 0 ? NULL : "completed";
    }
    if (strcmp(st->verb, "scored") == 0 && st->success >= 0) {
        return st->success ? "passed" : "failed";
    }
    return st->completion == 1 ? "completed" : "in_progress";
}

static lti_status_t parse_one(apr_pool_t *p, const lti_catalog_t *cat, const char *base,
                              json_t *o, int n, int64_t now, lti_xapi_stmt_t *st,
                              lti_err_t *err)
{
    const char *id = NULL, *verb = NULL, *obj_id = NULL, *type = NULL, *ts = NULL, *why;
    json_t *vo, *obj;
    lti_status_t rv;
    int k;

    memset(st, 0, sizeof(*st));
    if (!json_is_object(o)) {
        return bad(err, LTI_ERR_MALFORMED, "xapi_not_statement", n,
                   "a statement must be a JSON object");
    }
    if ((k = opt_string(o, "id", &id)) < 0 || (k == 1 && !is_uuid(id))) {
        return bad(err, LTI_ERR_MALFORMED, "xapi_id_malformed", n, "id must be a UUID");
    }
    st->id = k == 1 ? apr_pstrdup(p, id) : new_uuid(p);
    if (st->id == NULL) {
        return lti_err_set(err, LTI_ERR_CRYPTO, "random", "no random bytes for a UUID");
    }
    for (char *c = (char *)st->id; *c; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    if ((rv = parse_actor(p, base, json_object_get(o, "actor"), n, st, err)) != LTI_OK) {
        return rv;
    }
    vo = json_object_get(o, "verb");
    if (!json_is_object(vo) || opt_string(vo, "id", &verb) != 1) {
        return bad(err, LTI_ERR_MALFORMED, "xapi_verb_missing", n, "verb.id is required");
    }
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strncmp(verb, LTI_XAPI_VERB_PREFIX, sizeof(LTI_XAPI_VERB_PREFIX) - 1) == 0
            && strcmp(verb + sizeof(LTI_XAPI_VERB_PREFIX) - 1, verbs[i]) == 0) {
            st->verb = verbs[i];
        }
    }
    if (st->verb == NULL) {
        return lti_err_set(err, LTI_ERR_UNSUPPORTED, "xapi_verb_unsupported",
                           "statement %d: verb %s is not one this tool takes (" 
                           LTI_XAPI_VERB_PREFIX "completed, passed, failed, scored, "
                           "progressed)", n, verb);
    }
    obj = json_object_get(o, "object");
    if (!json_is_object(obj) || opt_string(obj, "id", &obj_id) != 1) {
        return bad(err, LTI_ERR_MALFORMED, "xapi_object_missing", n, "object.id is required");
    }
    if (opt_string(obj, "objectType", &type) < 0
        || (type != NULL && strcmp(type, "Activity") != 0)) {
        return bad(err, LTI_ERR_UNSUPPORTED, "xapi_object_unsupported", n,
                   "object.objectType must be \"Activity\"");
    }
    if (!map_activity(p, cat, base, obj_id, &st->course_id, &st->module_id)) {
        return lti_err_set(err, LTI_ERR_NOT_FOUND, "xapi_activity_unknown",
                           "statement %d: activity %s is not a course or module of the catalog "
                           "(use %s)", n, obj_id,
                           lti_xapi_activity_id(p, base, "COURSE", "MODULE"));
    }
    st->module_id = apr_pstrdup(p, st->module_id);
    if ((rv = parse_result(json_object_get(o, "result"), n, st, err)) != LTI_OK) {
        return rv;
    }
    if (strcmp(st->verb, "scored") == 0 && !st->has_score) {
        return bad(err, LTI_ERR_MALFORMED, "xapi_score_missing", n,
                   "verb scored needs result.score.scaled");
    }
    if ((st->status = status_of(st)) == NULL) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "xapi_result_conflict",
                           "statement %d: the result contradicts the verb %s", n, st->verb);
    }
    st->at = now;
    if ((k = opt_string(o, "timestamp", &ts)) < 0) {
        return bad(err, LTI_ERR_MALFORMED, "xapi_timestamp_malformed", n,
                   "timestamp must be an ISO 8601 string");
    }
    if (k == 1) {
        if ((why = lti_progress_parse_date(ts, &st->at)) != NULL) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "xapi_timestamp_malformed",
                               "statement %d: timestamp: %s", n, why);
        }
        if (st->at > now + LTI_XAPI_FUTURE_SKEW) {
            return bad(err, LTI_ERR_MALFORMED, "xapi_timestamp_future", n,
                       "timestamp is in the future");
        }
    }
    return LTI_OK;
}

lti_status_t lti_xapi_parse(apr_pool_t *p, const lti_catalog_t *cat, const char *base,
                            const char *buf, size_t len, int64_t now,
                            apr_array_header_t **out, lti_err_t *err)
{
    json_error_t jerr;
    json_t *root;
    apr_array_header_t *stmts;
    apr_hash_t *ids = apr_hash_make(p);
    size_t count;

    *out = NULL;
    if (len > LTI_XAPI_MAX_BODY) {
        return lti_err_set(err, LTI_ERR_TOO_LARGE, "xapi_too_large",
                           "the statements are larger than %d bytes", LTI_XAPI_MAX_BODY);
    }
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "xapi_malformed_json",
                           "the body is not valid JSON: %s (line %d, column %d)", jerr.text,
                           jerr.line, jerr.column);
    }
    apr_pool_cleanup_register(p, root, json_cleanup, apr_pool_cleanup_null);
    if (!json_is_array(root) && !json_is_object(root)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "xapi_not_statement",
                           "the body must be a statement (object) or an array of them");
    }
    count = json_is_array(root) ? json_array_size(root) : 1;
    if (count == 0) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "xapi_empty", "the array has no statement");
    }
    if (count > LTI_XAPI_MAX_STATEMENTS) {
        return lti_err_set(err, LTI_ERR_TOO_LARGE, "xapi_too_many",
                           "%lu statements in one request; at most %d", (unsigned long)count,
                           LTI_XAPI_MAX_STATEMENTS);
    }
    stmts = apr_array_make(p, (int)count, sizeof(lti_xapi_stmt_t));
    for (size_t i = 0; i < count; i++) {
        json_t *o = json_is_array(root) ? json_array_get(root, i) : root;
        lti_xapi_stmt_t *st = apr_array_push(stmts);
        lti_status_t rv = parse_one(p, cat, base, o, (int)i + 1, now, st, err);

        if (rv != LTI_OK) {
            return rv;
        }
        if (apr_hash_get(ids, st->id, APR_HASH_KEY_STRING) != NULL) {
            return bad(err, LTI_ERR_MALFORMED, "xapi_id_duplicate", (int)i + 1,
                       "the same id is given twice in one request");
        }
        apr_hash_set(ids, st->id, APR_HASH_KEY_STRING, st);
    }
    *out = stmts;
    return LTI_OK;
}

lti_status_t lti_xapi_record(lti_store_t *s, apr_pool_t *p, const lti_catalog_t *cat,
                             const char *provider, const apr_array_header_t *stmts,
                             int64_t now, lti_progress_stats_t *stats, lti_err_t *err)
{
    apr_array_header_t *rows = apr_array_make(p, stmts->nelts, sizeof(lti_progress_t));

    for (int i = 0; i < stmts->nelts; i++) {
        const lti_xapi_stmt_t *st = &APR_ARRAY_IDX(stmts, i, lti_xapi_stmt_t);
        lti_progress_t *row = apr_array_push(rows);
        int64_t person = 0;
        lti_status_t rv;

        rv = lti_store_xapi_actor_find(s, st->actor_name, st->actor_email, &person, err);
        if (rv == LTI_ERR_NOT_FOUND) {
            return lti_err_set(err, LTI_ERR_NOT_FOUND, "xapi_actor_unknown",
                               "statement %d: no learner %s %s has opened this tool", i + 1,
                               st->actor_name ? "with the account" : "with the email",
                               st->actor_name ? st->actor_name : st->actor_email);
        }
        if (rv != LTI_OK) {
            return rv;
        }
        memset(row, 0, sizeof(*row));
        /* An email names every person with it, as a CSV row does (SPEC.md, Persons). */
        row->user = st->actor_email;
        row->person_id = st->actor_email ? 0 : person;
        row->course_id = st->course_id;
        row->module_id = st->module_id;
        row->status = st->status;
        row->has_score = st->has_score;
        row->score = st->score;
        row->at = st->at;
        row->source = "xapi";
        row->evidence = apr_psprintf(p, "xAPI statement %s (provider %s)", st->id, provider);
    }
    return lti_store_progress_record(s, p, rows, now, lti_progress_result_fn, (void *)cat,
                                     stats, err);
}

const char *lti_xapi_content_link(apr_pool_t *p, const char *url, const char *base,
                                  const char *actor_name, const char *course_id,
                                  const char *module_id)
{
    const char *hash = strchr(url, '#');
    const char *head = hash ? apr_pstrndup(p, url, (apr_size_t)(hash - url)) : url;
    json_t *actor = json_pack("{s:s, s:{s:s, s:s}}", "objectType", "Agent", "account",
                              "homePage", lti_xapi_home_page(p, base), "name", actor_name);
    char *js;
    const char *out;

    if (actor == NULL) {
        return NULL;
    }
    js = json_dumps(actor, JSON_COMPACT);
    json_decref(actor);
    if (js == NULL) {
        return NULL;
    }
    out = apr_pstrcat(p, head, strchr(head, '?') ? "&" : "?", "endpoint=",
                      lti_pct_encode(p, apr_pstrcat(p, base, "/ptech/xapi/", NULL)),
                      "&actor=", lti_pct_encode(p, js), "&activity_id=",
                      lti_pct_encode(p, lti_xapi_activity_id(p, base, course_id, module_id)),
                      hash ? hash : "", NULL);
    free(js);
    return out;
}

int lti_xapi_provider_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > 64) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)name[i]) && name[i] != '.' && name[i] != '_'
            && name[i] != '-') {
            return 0;
        }
    }
    return 1;
}

const char *lti_xapi_secret_hash(apr_pool_t *p, const char *salt_hex, const char *secret)
{
    size_t sl = strlen(salt_hex), kl = strlen(secret);
    unsigned char *salt;

    if (sl == 0 || sl % 2 != 0 || sl > 128) {
        return NULL;
    }
    /* SHA-256 of salt bytes then secret: one buffer. */
    salt = apr_palloc(p, sl / 2 + kl);
    for (size_t i = 0; i < sl / 2; i++) {
        char hx[3] = {salt_hex[2 * i], salt_hex[2 * i + 1], 0};
        char *end;

        if (!isxdigit((unsigned char)hx[0]) || !isxdigit((unsigned char)hx[1])) {
            return NULL;
        }
        salt[i] = (unsigned char)strtoul(hx, &end, 16);
    }
    memcpy(salt + sl / 2, secret, kl);
    return apr_pstrcat(p, "sha256$", salt_hex, "$", lti_sha256_hex(p, salt, sl / 2 + kl),
                       NULL);
}

lti_status_t lti_xapi_secret_new(apr_pool_t *p, const char **secret, const char **hash,
                                 lti_err_t *err)
{
    unsigned char raw[32];
    const char *salt = lti_random_hex(p, 16), *b64;

    if (salt == NULL || lti_random(raw, sizeof(raw), err) != LTI_OK) {
        return lti_err_set(err, LTI_ERR_CRYPTO, "random", "no random bytes for a secret");
    }
    /* base64url without padding: safe in a shell, a URL and a Basic header. */
    b64 = lti_base64url(p, raw, sizeof(raw));
    *secret = b64;
    *hash = lti_xapi_secret_hash(p, salt, b64);
    return LTI_OK;
}

int lti_xapi_secret_verify(apr_pool_t *p, const char *hash, const char *secret)
{
    const char *salt, *end, *again;

    if (hash == NULL || secret == NULL || strncmp(hash, "sha256$", 7) != 0) {
        return 0;
    }
    salt = hash + 7;
    if ((end = strchr(salt, '$')) == NULL) {
        return 0;
    }
    again = lti_xapi_secret_hash(p, apr_pstrndup(p, salt, (apr_size_t)(end - salt)), secret);
    return again != NULL && lti_ct_streq(again, hash);
}

lti_status_t lti_xapi_basic_auth(apr_pool_t *p, const char *header, const char **name,
                                 const char **secret, lti_err_t *err)
{
    const char *v;
    char *plain, *colon;
    int n;

    if (header == NULL || strncasecmp(header, "Basic ", 6) != 0) {
        return lti_err_set(err, LTI_ERR_MISSING, "xapi_auth_missing",
                           "HTTP Basic credentials of a content provider are required "
                           "(ptechctl provider add NAME)");
    }
    v = header + 6;
    while (*v == ' ') {
        v++;
    }
    if (*v == '\0' || strlen(v) > 1024 || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "abcdefghijklmnopqrstuvwxyz0123456789+/=")
                                           != strlen(v)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "xapi_auth_malformed",
                           "the Basic credentials are not base64");
    }
    plain = apr_palloc(p, (apr_size_t)apr_base64_decode_len(v) + 1);
    n = apr_base64_decode(plain, v);
    plain[n] = '\0';
    if ((int)strlen(plain) != n || (colon = strchr(plain, ':')) == NULL || colon == plain) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "xapi_auth_malformed",
                           "the Basic credentials must be NAME:SECRET");
    }
    *colon = '\0';
    *name = plain;
    *secret = colon + 1;
    return LTI_OK;
}
