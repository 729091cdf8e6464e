/* lti_launch13.c -- the claims of a verified LTI 1.3 id_token checked against what the tool
 * expects (1EdTech Security Framework 5.1.3: iss, aud, azp, exp, iat, nonce; LTI 1.3 Core
 * 5.3-5.4: the required LTI claims) and copied into an lti_launch13_t.
 *
 * Nothing about a claim's JSON type is trusted: every read checks it.  Strings are copied
 * into the caller's pool (the json_t may be freed afterwards) after checking that they hold
 * no NUL byte and are valid UTF-8.  Optional claims that are JSON null count as absent;
 * optional strings that are empty are returned as NULL.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <apr_tables.h>

#include "lti_launch11.h"
#include "lti_launch13.h"
#include "lti_store.h"
#include "lti_util.h"

/* Longest id the store accepts (deployment_id, sub, resource_link.id, context.id). */
#define LAUNCH13_MAX_ID 255
/* Largest exp/iat/nbf accepted: 9999-12-31T23:59:59Z.  Keeps the arithmetic far from
 * overflow whatever the token says. */
#define LAUNCH13_MAX_TIME INT64_C(253402300799)

#define CLAIM_DEPLOYMENT_ID LTI_CLAIM "deployment_id"
#define CLAIM_MESSAGE_TYPE LTI_CLAIM "message_type"
#define CLAIM_VERSION LTI_CLAIM "version"
#define CLAIM_TARGET_LINK_URI LTI_CLAIM "target_link_uri"
#define CLAIM_RESOURCE_LINK LTI_CLAIM "resource_link"
#define CLAIM_ROLES LTI_CLAIM "roles"
#define CLAIM_CONTEXT LTI_CLAIM "context"
#define CLAIM_LAUNCH_PRESENTATION LTI_CLAIM "launch_presentation"
#define CLAIM_CUSTOM LTI_CLAIM "custom"
#define CLAIM_TOOL_PLATFORM LTI_CLAIM "tool_platform"
#define CLAIM_LTI1P1 LTI_CLAIM "lti1p1"
#define CLAIM_AGS "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
#define CLAIM_NRPS "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
#define CLAIM_BO "https://purl.imsglobal.org/spec/lti-bo/claim/basicoutcome"
#define CLAIM_DL "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"

#define MSG_RESOURCE_LINK "LtiResourceLinkRequest"
#define MSG_DEEP_LINKING "LtiDeepLinkingRequest"

/* ---- typed reads ---------------------------------------------------------------------- */

/* A JSON type's name, for messages. */
static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a decimal number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "of an unknown type";
}

/* v's value when v is a JSON string without NUL bytes and valid UTF-8; else NULL. */
static const char *clean_string(const json_t *v, size_t *len)
{
    const char *s;

    if (!json_is_string(v)) {
        return NULL;
    }
    s = json_string_value(v);
    *len = json_string_length(v);
    if (s == NULL || strlen(s) != *len || !lti_utf8_valid(s, *len)) {
        return NULL;
    }
    return s;
}

/* 1 when v is a clean JSON string equal, byte for byte, to s. */
static int string_equals(const json_t *v, const char *s)
{
    size_t len;
    const char *vs = clean_string(v, &len);

    return vs != NULL && s != NULL && len == strlen(s) && memcmp(vs, s, len) == 0;
}

/* Reads obj[key] as a string into *out (copied into p).  what names the claim in messages.
 * Absent or null: LTI_ERR_MISSING when required, else *out = NULL.  Not a string, a NUL
 * byte, bad UTF-8, empty when required, or longer than maxlen (0: no cap): MALFORMED.  An
 * empty optional string gives *out = NULL. */
static lti_status_t get_string(apr_pool_t *p, const json_t *obj, const char *key,
                               const char *what, const char *reason, int required,
                               size_t maxlen, const char **out, lti_err_t *err)
{
    const json_t *v = json_object_get(obj, key);
    const char *s;
    size_t len = 0;

    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (required) {
            return lti_err_set(err, LTI_ERR_MISSING, reason, "the id_token has no %s claim",
                               what);
        }
        return LTI_OK;
    }
    if (!json_is_string(v)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, reason,
                           "the %s claim is %s, not a string", what, type_name(v));
    }
    s = clean_string(v, &len);
    if (s == NULL) {
        return lti_err_set(err, LTI_ERR_MALFORMED, reason,
                           "the %s claim contains a NUL byte or invalid UTF-8", what);
    }
    if (len == 0) {
        if (required) {
            return lti_err_set(err, LTI_ERR_MALFORMED, reason, "the %s claim is empty", what);
        }
        return LTI_OK;
    }
    if (maxlen > 0 && len > maxlen) {
        return lti_err_set(err, LTI_ERR_MALFORMED, reason,
                           "the %s claim is %zu bytes long, more than the %zu allowed", what,
                           len, maxlen);
    }
    *out = apr_pstrmemdup(p, s, len);
    return LTI_OK;
}

/* Reads obj[key] as an object into *out.  Absent or null: MISSING when required, else
 * *out = NULL.  Any other type: MALFORMED. */
static lti_status_t get_object(const json_t *obj, const char *key, const char *what,
                               const char *reason, int required, const json_t **out,
                               lti_err_t *err)
{
    const json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (required) {
            return lti_err_set(err, LTI_ERR_MISSING, reason, "the id_token has no %s claim",
                               what);
        }
        return LTI_OK;
    }
    if (!json_is_object(v)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, reason,
                           "the %s claim is %s, not an object", what, type_name(v));
    }
    *out = v;
    return LTI_OK;
}

/* Reads obj[key] as a NumericDate (a JSON integer in 0..LAUNCH13_MAX_TIME).  Absent:
 * MISSING when required (else *present = 0); any other type or range: MALFORMED. */
static lti_status_t get_time(const json_t *obj, const char *key, const char *reason,
                             int required, int64_t *out, int *present, lti_err_t *err)
{
    const json_t *v = json_object_get(obj, key);
    json_int_t n;

    *out = 0;
    *present = 0;
    if (v == NULL) {
        if (required) {
            return lti_err_set(err, LTI_ERR_MISSING, reason, "the id_token has no %s claim",
                               key);
        }
        return LTI_OK;
    }
    if (!json_is_integer(v)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, reason,
                           "the %s claim is %s, not an integer number of seconds", key,
                           type_name(v));
    }
    n = json_integer_value(v);
    if (n < 0 || n > LAUNCH13_MAX_TIME) {
        return lti_err_set(err, LTI_ERR_MALFORMED, reason,
                           "the %s claim (%lld) is not a plausible time", key, (long long)n);
    }
    *out = (int64_t)n;
    *present = 1;
    return LTI_OK;
}

/* v as compact JSON text copied into p.  NOMEM when jansson cannot encode it. */
static lti_status_t dump_json(apr_pool_t *p, const json_t *v, const char **out, lti_err_t *err)
{
    char *s = json_dumps(v, JSON_COMPACT);

    *out = NULL;
    if (s == NULL) {
        return lti_err_set(err, LTI_ERR_NOMEM, "lti13_claim", "cannot encode a claim as JSON");
    }
    *out = apr_pstrdup(p, s);
    free(s);
    return LTI_OK;
}

/* An optional object claim kept as JSON text: *out NULL when absent, MALFORMED reason when
 * it is not an object. */
static lti_status_t get_json(apr_pool_t *p, const json_t *claims, const char *key,
                             const char *what, const char *reason, const char **out,
                             lti_err_t *err)
{
    const json_t *v;
    lti_status_t st = get_object(claims, key, what, reason, 0, &v, err);

    *out = NULL;
    if (st != LTI_OK || v == NULL) {
        return st;
    }
    return dump_json(p, v, out, err);
}

/* The service and custom claims a resource link keeps, as one JSON text built straight from
 * the parsed claims (types were checked by the caller).  Not the basic outcome claim: its
 * sourcedid is the learner's (Moodle's also changes with every launch), kept per member;
 * on the link it would rewrite the row at every launch of another learner. */
static lti_status_t link_claims(apr_pool_t *p, const json_t *claims, lti_launch13_t *l,
                                lti_err_t *err)
{
    static const struct {
        const char *key, *claim;
    } parts[] = {{"ags", CLAIM_AGS}, {"custom", CLAIM_CUSTOM}, {"nrps", CLAIM_NRPS}};
    json_t *o = json_object();
    lti_status_t st = LTI_OK;

    if (o == NULL) {
        return lti_err_set(err, LTI_ERR_NOMEM, "lti13_claim", "out of memory");
    }
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        json_t *v = json_object_get(claims, parts[i].claim);

        if (json_is_object(v)) {
            json_object_set(o, parts[i].key, v);
        }
    }
    l->link_claims_json = NULL;
    if (json_object_size(o) > 0) {
        /* Not JSON_SORT_KEYS: the top keys go in sorted above, and a platform sends its
         * claims in the same order every time, so the text stays the same from launch to
         * launch without sorting every object in it on each launch. */
        char *text = json_dumps(o, JSON_COMPACT);

        if (text == NULL) {
            st = lti_err_set(err, LTI_ERR_NOMEM, "lti13_claim", "cannot encode the claims");
        }
        else {
            l->link_claims_json = apr_pstrdup(p, text);
            free(text);
        }
    }
    json_decref(o);
    return st;
}

/* ---- the JWT claims (Security Framework 5.1.3) ---------------------------------------- */

/* iss exactly, aud holding client_id, azp equal to client_id when present or when aud
 * names several audiences. */
static lti_status_t check_audience(apr_pool_t *p, const json_t *claims,
                                   const lti_launch13_expect_t *want, lti_launch13_t *l,
                                   lti_err_t *err)
{
    const json_t *aud = json_object_get(claims, "aud");
    const json_t *azp = json_object_get(claims, "azp");
    size_t naud = 0;
    int ours = 0;
    lti_status_t st;

    st = get_string(p, claims, "iss", "iss", "jwt_iss", 1, 0, &l->iss, err);
    if (st != LTI_OK) {
        return st;
    }
    if (strcmp(l->iss, want->issuer) != 0) {
        return lti_err_set(err, LTI_ERR_UNKNOWN_KEY, "jwt_iss",
                           "the id_token's issuer \"%.200s\" is not the registered issuer "
                           "\"%.200s\" (compared exactly: scheme, port and trailing slash "
                           "count)", l->iss, want->issuer);
    }

    if (aud == NULL || json_is_null(aud)) {
        return lti_err_set(err, LTI_ERR_MISSING, "jwt_aud", "the id_token has no aud claim");
    }
    if (json_is_string(aud)) {
        naud = 1;
        ours = string_equals(aud, want->client_id);
    }
    else if (json_is_array(aud)) {
        naud = json_array_size(aud);
        for (size_t i = 0; i < naud; i++) {
            const json_t *a = json_array_get(aud, i);

            if (!json_is_string(a)) {
                return lti_err_set(err, LTI_ERR_MALFORMED, "jwt_aud",
                                   "the aud claim holds %s, not only strings", type_name(a));
            }
            ours |= string_equals(a, want->client_id);
        }
    }
    else {
        return lti_err_set(err, LTI_ERR_MALFORMED, "jwt_aud",
                           "the aud claim is %s, not a string or an array", type_name(aud));
    }
    if (!ours) {
        return lti_err_set(err, LTI_ERR_UNKNOWN_KEY, "jwt_aud",
                           "the id_token is not meant for this tool: its aud does not name "
                           "the client id \"%.200s\" registered for this issuer",
                           want->client_id);
    }

    if (azp == NULL || json_is_null(azp)) {
        if (naud > 1) {
            return lti_err_set(err, LTI_ERR_MISSING, "jwt_azp",
                               "the id_token names %zu audiences but has no azp claim", naud);
        }
        return LTI_OK;
    }
    if (!json_is_string(azp)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "jwt_azp",
                           "the azp claim is %s, not a string", type_name(azp));
    }
    if (!string_equals(azp, want->client_id)) {
        return lti_err_set(err, LTI_ERR_UNKNOWN_KEY, "jwt_azp",
                           "the id_token's azp is not the client id \"%.200s\" registered "
                           "for this issuer", want->client_id);
    }
    return LTI_OK;
}

/* exp + leeway >= now, iat - leeway <= now, nbf (when present) - leeway <= now. */
static lti_status_t check_times(const json_t *claims, const lti_launch13_expect_t *want,
                                lti_launch13_t *l, lti_err_t *err)
{
    int64_t leeway = want->leeway, now = want->now, nbf;
    int present;
    lti_status_t st;

    if (leeway < 0) {
        leeway = 0;
    }
    else if (leeway > LAUNCH13_MAX_TIME) {
        leeway = LAUNCH13_MAX_TIME;
    }
    st = get_time(claims, "exp", "jwt_exp", 1, &l->exp, &present, err);
    if (st != LTI_OK) {
        return st;
    }
    st = get_time(claims, "iat", "jwt_iat", 1, &l->iat, &present, err);
    if (st != LTI_OK) {
        return st;
    }
    st = get_time(claims, "nbf", "jwt_nbf", 0, &nbf, &present, err);
    if (st != LTI_OK) {
        return st;
    }
    if (l->exp + leeway < now) {
        return lti_err_set(err, LTI_ERR_EXPIRED, "jwt_exp",
                           "the id_token expired %lld seconds ago (clock leeway %lld s; "
                           "clock skew %lld s: this server's clock minus the token's iat); "
                           "retry the launch, and check the LMS and tool clocks (NTP) if it "
                           "recurs", (long long)(now - l->exp), (long long)leeway,
                           (long long)(now - l->iat));
    }
    if (l->iat - leeway > now) {
        return lti_err_set(err, LTI_ERR_EXPIRED, "jwt_iat",
                           "the id_token was issued %lld seconds in the future of this "
                           "server's clock (leeway %lld s; clock skew %lld s: the LMS clock is "
                           "ahead); check the LMS and tool clocks (NTP)",
                           (long long)(l->iat - now), (long long)leeway,
                           (long long)(now - l->iat));
    }
    if (present && nbf - leeway > now) {
        return lti_err_set(err, LTI_ERR_EXPIRED, "jwt_nbf",
                           "the id_token is not valid for another %lld seconds (leeway "
                           "%lld s; clock skew %lld s); check the LMS and tool clocks (NTP)",
                           (long long)(nbf - now), (long long)leeway,
                           (long long)(now - nbf));
    }
    l->skew = now - l->iat;
    return LTI_OK;
}

/* The nonce equals the one issued with the state, compared in constant time. */
static lti_status_t check_nonce(apr_pool_t *p, const json_t *claims,
                                const lti_launch13_expect_t *want, lti_launch13_t *l,
                                lti_err_t *err)
{
    lti_status_t st = get_string(p, claims, "nonce", "nonce", "jwt_nonce", 1, 0, &l->nonce,
                                 err);

    if (st != LTI_OK) {
        return st;
    }
    if (!lti_ct_streq(l->nonce, want->nonce)) {
        return lti_err_set(err, LTI_ERR_REPLAY, "jwt_nonce",
                           "the id_token's nonce is not the one issued at login: a replayed "
                           "or foreign token");
    }
    return LTI_OK;
}

/* ---- the LTI claims (Core 5.3, 5.4) --------------------------------------------------- */

/* 1 when s is an absolute http(s) URL with a host and no backslash, space or control. */
static int is_http_url(const char *s)
{
    size_t n;

    if (strncasecmp(s, "https://", 8) == 0) {
        n = 8;
    }
    else if (strncasecmp(s, "http://", 7) == 0) {
        n = 7;
    }
    else {
        return 0;
    }
    if (s[n] == '\0' || s[n] == '/' || s[n] == '?' || s[n] == '#') {
        return 0;
    }
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c <= 0x20 || *c == 0x7f || *c == '\\') {
            return 0;
        }
    }
    return 1;
}

static lti_status_t check_message(apr_pool_t *p, const json_t *claims,
                                  const lti_launch13_expect_t *want, lti_launch13_t *l,
                                  lti_err_t *err)
{
    lti_status_t st;

    st = get_string(p, claims, CLAIM_DEPLOYMENT_ID, "deployment_id", "lti13_deployment_id", 1,
                    LAUNCH13_MAX_ID, &l->deployment_id, err);
    if (st != LTI_OK) {
        return st;
    }
    st = get_string(p, claims, CLAIM_MESSAGE_TYPE, "message_type", "lti13_message_type", 1, 0,
                    &l->message_type, err);
    if (st != LTI_OK) {
        return st;
    }
    if (strcmp(l->message_type, MSG_RESOURCE_LINK) != 0
        && strcmp(l->message_type, MSG_DEEP_LINKING) != 0) {
        return lti_err_set(err, LTI_ERR_UNSUPPORTED, "lti13_message_type",
                           "message_type \"%.60s\" is not supported (expected "
                           MSG_RESOURCE_LINK " or " MSG_DEEP_LINKING ")", l->message_type);
    }
    st = get_string(p, claims, CLAIM_VERSION, "version", "lti13_version", 1, 0, &l->version,
                    err);
    if (st != LTI_OK) {
        return st;
    }
    if (strcmp(l->version, "1.3.0") != 0) {
        return lti_err_set(err, LTI_ERR_UNSUPPORTED, "lti13_version",
                           "LTI version \"%.30s\" is not supported (expected 1.3.0)",
                           l->version);
    }
    st = get_string(p, claims, CLAIM_TARGET_LINK_URI, "target_link_uri",
                    "lti13_target_link_uri", 1, 0, &l->target_link_uri, err);
    if (st != LTI_OK) {
        return st;
    }
    if (want->target_link_uri != NULL) {
        if (strcmp(l->target_link_uri, want->target_link_uri) != 0) {
            return lti_err_set(err, LTI_ERR_FORBIDDEN, "lti13_target_link_uri",
                               "the id_token's target_link_uri \"%.200s\" is not the one the "
                               "login named (\"%.200s\")", l->target_link_uri,
                               want->target_link_uri);
        }
    }
    else if (!is_http_url(l->target_link_uri)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "lti13_target_link_uri",
                           "the id_token's target_link_uri \"%.200s\" is not an absolute "
                           "http(s) URL", l->target_link_uri);
    }
    return LTI_OK;
}

/* resource_link: required (object, string id) for a resource link launch, read the same
 * way when another message carries it. */
static lti_status_t read_resource_link(apr_pool_t *p, const json_t *claims, lti_launch13_t *l,
                                       lti_err_t *err)
{
    int required = strcmp(l->message_type, MSG_RESOURCE_LINK) == 0;
    const json_t *rl;
    lti_status_t st;

    st = get_object(claims, CLAIM_RESOURCE_LINK, "resource_link", "lti13_resource_link",
                    required, &rl, err);
    if (st != LTI_OK || rl == NULL) {
        return st;
    }
    st = get_string(p, rl, "id", "resource_link.id", "lti13_resource_link", 1,
                    LAUNCH13_MAX_ID, &l->link_id, err);
    if (st != LTI_OK) {
        return st;
    }
    return get_string(p, rl, "title", "resource_link.title", "lti13_resource_link", 0, 0,
                      &l->link_title, err);
}

/* roles: an array of strings (maybe empty) -> roles_raw joined with ',' and LTI_ROLE_*
 * bits, each role mapped by lti_roles_parse. */
static lti_status_t read_roles(apr_pool_t *p, const json_t *claims, lti_launch13_t *l,
                               lti_err_t *err)
{
    const json_t *roles = json_object_get(claims, CLAIM_ROLES);
    apr_array_header_t *names;
    size_t n;

    if (roles == NULL || json_is_null(roles)) {
        return lti_err_set(err, LTI_ERR_MISSING, "lti13_roles",
                           "the id_token has no roles claim (an empty list is allowed)");
    }
    if (!json_is_array(roles)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "lti13_roles",
                           "the roles claim is %s, not an array of strings",
                           type_name(roles));
    }
    n = json_array_size(roles);
    names = apr_array_make(p, n > 0 ? (int)n : 1, sizeof(const char *));
    l->roles = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(roles, i);
        const char *s;
        size_t len;

        if (!json_is_string(r)) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "lti13_roles",
                               "the roles claim holds %s, not only strings", type_name(r));
        }
        s = clean_string(r, &len);
        if (s == NULL || memchr(s, ',', len) != NULL) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "lti13_roles",
                               "a role contains a NUL byte, a comma or invalid UTF-8");
        }
        if (len == 0) {
            continue;
        }
        s = apr_pstrmemdup(p, s, len);
        APR_ARRAY_PUSH(names, const char *) = s;
        l->roles |= lti_roles_parse(s);
    }
    l->roles_raw = apr_array_pstrcat(p, names, ',');
    return LTI_OK;
}

/* The short name of a context type: "CourseSection" from itself, from the LIS v2 course
 * vocabulary URI or from the LTI 1.1 URN; other values as they are. */
static const char *context_type_short(const char *s)
{
    static const char *const prefixes[] = {
        "http://purl.imsglobal.org/vocab/lis/v2/course#",
        "urn:lti:context-type:ims/lis/",
        NULL,
    };

    for (int i = 0; prefixes[i]; i++) {
        size_t n = strlen(prefixes[i]);

        if (strncmp(s, prefixes[i], n) == 0 && s[n] != '\0') {
            return s + n;
        }
    }
    return s;
}

/* context (optional): id (1..255 bytes, required inside the claim), title, label, and the
 * first type as a short name (type an array of strings, or tolerated as one string). */
static lti_status_t read_context(apr_pool_t *p, const json_t *claims, lti_launch13_t *l,
                                 lti_err_t *err)
{
    const json_t *ctx, *type;
    lti_status_t st;

    st = get_object(claims, CLAIM_CONTEXT, "context", "lti13_claim", 0, &ctx, err);
    if (st != LTI_OK || ctx == NULL) {
        return st;
    }
    st = get_string(p, ctx, "id", "context.id", "lti13_claim", 1, LAUNCH13_MAX_ID,
                    &l->context_id, err);
    if (st != LTI_OK) {
        return st;
    }
    st = get_string(p, ctx, "title", "context.title", "lti13_claim", 0, 0, &l->context_title,
                    err);
    if (st != LTI_OK) {
        return st;
    }
    st = get_string(p, ctx, "label", "context.label", "lti13_claim", 0, 0, &l->context_label,
                    err);
    if (st != LTI_OK) {
        return st;
    }

    type = json_object_get(ctx, "type");
    if (type == NULL || json_is_null(type)) {
        return LTI_OK;
    }
    if (json_is_string(type)) {
        const char *s;

        st = get_string(p, ctx, "type", "context.type", "lti13_claim", 0, 0, &s, err);
        if (st == LTI_OK && s != NULL) {
            l->context_type = context_type_short(s);
        }
        return st;
    }
    if (!json_is_array(type)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "lti13_claim",
                           "the context.type claim is %s, not an array of strings",
                           type_name(type));
    }
    for (size_t i = 0; i < json_array_size(type); i++) {
        const json_t *t = json_array_get(type, i);
        const char *s;
        size_t len;

        s = clean_string(t, &len);
        if (s == NULL) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "lti13_claim",
                               "the context.type claim holds %s, not only clean strings",
                               type_name(t));
        }
        if (len > 0 && l->context_type == NULL) {
            l->context_type = context_type_short(apr_pstrmemdup(p, s, len));
        }
    }
    return LTI_OK;
}

/* The person: sub (required, 1..255 bytes) and the optional OIDC profile claims. */
static lti_status_t read_person(apr_pool_t *p, const json_t *claims, lti_launch13_t *l,
                                lti_err_t *err)
{
    lti_status_t st;

    st = get_string(p, claims, "sub", "sub", "lti13_claim", 1, LAUNCH13_MAX_ID, &l->sub, err);
    if (st != LTI_OK) {
        return st;
    }
    st = get_string(p, claims, "given_name", "given_name", "lti13_claim", 0, 0,
                    &l->given_name, err);
    if (st != LTI_OK) {
        return st;
    }
    st = get_string(p, claims, "family_name", "family_name", "lti13_claim", 0, 0,
                    &l->family_name, err);
    if (st != LTI_OK) {
        return st;
    }
    st = get_string(p, claims, "name", "name", "lti13_claim", 0, 0, &l->full_name, err);
    if (st != LTI_OK) {
        return st;
    }
    return get_string(p, claims, "email", "email", "lti13_claim", 0, 0, &l->email, err);
}

/* launch_presentation, custom, tool_platform and the service claims. */
static lti_status_t read_extras(apr_pool_t *p, const json_t *claims, lti_launch13_t *l,
                                lti_err_t *err)
{
    const json_t *o, *course;
    lti_status_t st;

    st = get_object(claims, CLAIM_LAUNCH_PRESENTATION, "launch_presentation", "lti13_claim",
                    0, &o, err);
    if (st != LTI_OK) {
        return st;
    }
    if (o != NULL) {
        st = get_string(p, o, "locale", "launch_presentation.locale", "lti13_claim", 0, 0,
                        &l->locale, err);
        if (st != LTI_OK) {
            return st;
        }
        st = get_string(p, o, "return_url", "launch_presentation.return_url", "lti13_claim",
                        0, 0, &l->return_url, err);
        if (st != LTI_OK) {
            return st;
        }
    }

    st = get_object(claims, CLAIM_CUSTOM, "custom", "lti13_claim", 0, &o, err);
    if (st != LTI_OK) {
        return st;
    }
    if (o != NULL) {
        /* Custom values are strings by the spec; a course of another type is ignored. */
        course = json_object_get(o, "course");
        if (json_is_string(course)) {
            st = get_string(p, o, "course", "custom.course", "lti13_claim", 0, 0,
                            &l->custom_course, err);
            if (st != LTI_OK) {
                return st;
            }
        }
    }

    st = get_object(claims, CLAIM_TOOL_PLATFORM, "tool_platform", "lti13_claim", 0, &o, err);
    if (st != LTI_OK) {
        return st;
    }
    if (o != NULL) {
        st = get_string(p, o, "guid", "tool_platform.guid", "lti13_claim", 0, LAUNCH13_MAX_ID,
                        &l->platform_guid, err);
        if (st != LTI_OK) {
            return st;
        }
    }

    /* The service claims are kept whole (link_claims below): here, only their type. */
    if ((st = get_object(claims, CLAIM_AGS, "AGS endpoint", "lti13_claim", 0, &o, err))
            != LTI_OK
        || (st = get_object(claims, CLAIM_NRPS, "names and roles service", "lti13_claim", 0,
                            &o, err)) != LTI_OK
        || (st = get_object(claims, CLAIM_BO, "basic outcome", "lti13_claim", 0, &o, err))
               != LTI_OK) {
        return st;
    }
    if (o != NULL) {
        const json_t *v = json_object_get(o, "lis_result_sourcedid");

        l->result_sourcedid = json_is_string(v) ? apr_pstrdup(p, json_string_value(v)) : NULL;
        v = json_object_get(o, "lis_outcome_service_url");
        l->outcome_url = json_is_string(v) ? apr_pstrdup(p, json_string_value(v)) : NULL;
    }
    if ((st = link_claims(p, claims, l, err)) != LTI_OK) {
        return st;
    }
    return get_json(p, claims, CLAIM_LTI1P1, "lti1p1", "lti13_claim", &l->lti1p1_json, err);
}

/* deep_linking_settings: required with a deep_link_return_url for a deep linking request;
 * kept as JSON when present.  Reason lti13_deep_linking. */
static lti_status_t read_deep_linking(apr_pool_t *p, const json_t *claims, lti_launch13_t *l,
                                      lti_err_t *err)
{
    int required = strcmp(l->message_type, MSG_DEEP_LINKING) == 0;
    const json_t *dl;
    const char *ret;
    lti_status_t st;

    st = get_object(claims, CLAIM_DL, "deep_linking_settings", "lti13_deep_linking", required,
                    &dl, err);
    if (st != LTI_OK || dl == NULL) {
        return st;
    }
    st = get_string(p, dl, "deep_link_return_url", "deep_linking_settings.deep_link_return_url",
                    "lti13_deep_linking", required, 0, &ret, err);
    if (st != LTI_OK) {
        return st;
    }
    return dump_json(p, dl, &l->deep_link_json, err);
}

/* ---- the front door ------------------------------------------------------------------- */

/* Checks, in the Security Framework's order, iss, aud, azp, exp, iat (nbf), nonce, then the
 * LTI claims, and fills out only when all pass (out is zeroed on any error).  Status and
 * reason per refusal: lti_launch13.h; besides those, jwt_nbf (EXPIRED) for a token not yet
 * valid, lti13_deep_linking (MISSING/MALFORMED) for the deep linking settings, and
 * LTI_ERR_INTERNAL "lti13_expect" when the expectation lacks issuer, client_id or nonce.
 * Mismatched iss/aud/azp give LTI_ERR_UNKNOWN_KEY, a target_link_uri other than the
 * expected one LTI_ERR_FORBIDDEN, unsupported message types and versions
 * LTI_ERR_UNSUPPORTED; wrong types, empty or over-long ids LTI_ERR_MALFORMED. */
lti_status_t lti_launch13_validate(apr_pool_t *p, const json_t *claims,
                                   const lti_launch13_expect_t *want, lti_launch13_t *out,
                                   lti_err_t *err)
{
    lti_launch13_t l;
    lti_status_t st;

    memset(out, 0, sizeof(*out));
    memset(&l, 0, sizeof(l));
    if (want == NULL || want->issuer == NULL || want->client_id == NULL
        || want->nonce == NULL) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "lti13_expect",
                           "no issuer, client id or nonce to check the id_token against");
    }
    if (!json_is_object(claims)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "lti13_claim",
                           "the id_token's claims are not a JSON object");
    }

    st = check_audience(p, claims, want, &l, err);
    if (st == LTI_OK) {
        st = check_times(claims, want, &l, err);
    }
    if (st == LTI_OK) {
        st = check_nonce(p, claims, want, &l, err);
    }
    if (st == LTI_OK) {
        st = check_message(p, claims, want, &l, err);
    }
    if (st == LTI_OK) {
        st = read_resource_link(p, claims, &l, err);
    }
    if (st == LTI_OK) {
        st = read_roles(p, claims, &l, err);
    }
    if (st == LTI_OK) {
        st = read_person(p, claims, &l, err);
    }
    if (st == LTI_OK) {
        st = read_context(p, claims, &l, err);
    }
    if (st == LTI_OK) {
        st = read_extras(p, claims, &l, err);
    }
    if (st == LTI_OK) {
        st = read_deep_linking(p, claims, &l, err);
    }
    if (st != LTI_OK) {
        return st;
    }
    *out = l;
    return LTI_OK;
}
