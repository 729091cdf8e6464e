/* lti_launch11.c -- the LTI 1.1 launch rules: OAuth signature first, then the time window,
 * then the LTI parameters, so that nothing from an unsigned request is trusted; and the many
 * spellings of a role (short names, LIS URNs, LTI 1.3 URIs) mapped to LTI_ROLE_* bits.
 */
#include <string.h>
#include <strings.h>

#include <apr_strings.h>

#include "lti_launch11.h"
#include "lti_oauth1.h"
#include "lti_util.h"

#define LAUNCH11_MAX_QUERY_PARAMS 1000
#define LAUNCH11_MAX_NONCE 128
/* Digits an oauth_timestamp may have (keeps now - ts far from overflow). */
#define LAUNCH11_MAX_TS_DIGITS 15

/* ---- roles ---------------------------------------------------------------------------- */

typedef struct role_name_t {
    const char *name;
    unsigned bit;
} role_name_t;

/* Context (membership) roles of the LIS vocabulary. */
static const role_name_t context_roles[] = {
    {"Learner", LTI_ROLE_LEARNER},
    {"Instructor", LTI_ROLE_INSTRUCTOR},
    {"TeachingAssistant", LTI_ROLE_TA},
    {"ContentDeveloper", LTI_ROLE_CONTENT_DEV},
    {"Mentor", LTI_ROLE_MENTOR},
    {"Administrator", LTI_ROLE_ADMIN},
    {"Manager", LTI_ROLE_ADMIN},
    {NULL, 0},
};

/* Institution roles. */
static const role_name_t inst_roles[] = {
    {"Student", LTI_ROLE_LEARNER},
    {"Learner", LTI_ROLE_LEARNER},
    {"Faculty", LTI_ROLE_INSTRUCTOR},
    {"Instructor", LTI_ROLE_INSTRUCTOR},
    {"Mentor", LTI_ROLE_MENTOR},
    {"Administrator", LTI_ROLE_ADMIN},
    {NULL, 0},
};

/* System roles. */
static const role_name_t sys_roles[] = {
    {"Administrator", LTI_ROLE_ADMIN},
    {"SysAdmin", LTI_ROLE_ADMIN},
    {"AccountAdmin", LTI_ROLE_ADMIN},
    {NULL, 0},
};

/* Short names of LTI 1.1 (context roles without the URN prefix, and the common institution
 * names Moodle and others send). */
static const role_name_t short_roles[] = {
    {"Learner", LTI_ROLE_LEARNER},
    {"Student", LTI_ROLE_LEARNER},
    {"Instructor", LTI_ROLE_INSTRUCTOR},
    {"Faculty", LTI_ROLE_INSTRUCTOR},
    {"TeachingAssistant", LTI_ROLE_TA},
    {"ContentDeveloper", LTI_ROLE_CONTENT_DEV},
    {"Mentor", LTI_ROLE_MENTOR},
    {"Administrator", LTI_ROLE_ADMIN},
    {"Manager", LTI_ROLE_ADMIN},
    {NULL, 0},
};

/* The bit of name (len bytes) in table, LTI_ROLE_OTHER when absent. */
static unsigned role_lookup(const role_name_t *table, const char *name, size_t len, int nocase)
{
    for (const role_name_t *r = table; r->name; r++) {
        if (strlen(r->name) == len
            && (nocase ? strncasecmp(r->name, name, len) : strncmp(r->name, name, len)) == 0) {
            return r->bit;
        }
    }
    return LTI_ROLE_OTHER;
}

/* A context role "Parent" or "Parent/Sub" (after its prefix): sub-roles take their parent's
 * bit, except the teaching-assistant ones (Instructor/TeachingAssistant...) which are TA. */
static unsigned context_role(const char *s, size_t len, char sep, int nocase)
{
    const char *sub = memchr(s, sep, len);
    size_t plen = sub ? (size_t)(sub - s) : len;
    unsigned bit = role_lookup(context_roles, s, plen, nocase);

    if (sub != NULL && bit == LTI_ROLE_INSTRUCTOR) {
        size_t slen = len - plen - 1;
        const char *ta = "TeachingAssistant";

        if (slen >= strlen(ta)
            && (nocase ? strncasecmp(sub + 1, ta, strlen(ta)) : strncmp(sub + 1, ta, strlen(ta)))
                   == 0) {
            return LTI_ROLE_TA;
        }
    }
    return bit;
}

static int has_prefix(const char *s, size_t len, const char *prefix, size_t *plen)
{
    *plen = strlen(prefix);
    return len >= *plen && strncmp(s, prefix, *plen) == 0;
}

/* The bit of one role token (len bytes, trimmed). */
static unsigned role_token(const char *s, size_t len)
{
    size_t n;

    if (has_prefix(s, len, "urn:lti:role:ims/lis/", &n)) {
        return context_role(s + n, len - n, '/', 0);
    }
    if (has_prefix(s, len, "urn:lti:instrole:ims/lis/", &n)) {
        return role_lookup(inst_roles, s + n, len - n, 0);
    }
    if (has_prefix(s, len, "urn:lti:sysrole:ims/lis/", &n)) {
        return role_lookup(sys_roles, s + n, len - n, 0);
    }
    if (has_prefix(s, len, "http://purl.imsglobal.org/vocab/lis/v2/membership#", &n)) {
        return context_role(s + n, len - n, '#', 0);
    }
    if (has_prefix(s, len, "http://purl.imsglobal.org/vocab/lis/v2/membership/", &n)) {
        /* membership/Parent#Sub */
        return context_role(s + n, len - n, '#', 0);
    }
    if (has_prefix(s, len, "http://purl.imsglobal.org/vocab/lis/v2/institution/person#", &n)) {
        return role_lookup(inst_roles, s + n, len - n, 0);
    }
    if (has_prefix(s, len, "http://purl.imsglobal.org/vocab/lis/v2/system/person#", &n)) {
        return role_lookup(sys_roles, s + n, len - n, 0);
    }
    if (memchr(s, ':', len) != NULL) {
        return LTI_ROLE_OTHER;
    }
    /* A short name, maybe with a sub-role ("Instructor/TeachingAssistant"). */
    if (memchr(s, '/', len) != NULL) {
        return context_role(s, len, '/', 1);
    }
    return role_lookup(short_roles, s, len, 1);
}

/* Comma list of roles -> LTI_ROLE_* bits; 0 for NULL or empty, LTI_ROLE_OTHER for any
 * unknown role.  Never fails. */
unsigned lti_roles_parse(const char *roles)
{
    unsigned bits = 0;
    const char *s = roles;

    if (s == NULL) {
        return 0;
    }
    while (*s) {
        size_t len = strcspn(s, ",");
        const char *b = s, *e = s + len;

        while (b < e && (*b == ' ' || *b == '\t')) {
            b++;
        }
        while (e > b && (e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }
        if (e > b) {
            bits |= role_token(b, (size_t)(e - b));
        }
        s += len;
        if (*s == ',') {
            s++;
        }
    }
    return bits;
}

/* ---- launch --------------------------------------------------------------------------- */

/* Parameters whose value the launch reads: each must occur once in query and body. */
static const char *const read_params[] = {
    "lti_message_type", "lti_version", "user_id", "roles", "resource_link_id",
    "resource_link_title", "lis_person_name_given", "lis_person_name_family",
    "lis_person_name_full", "lis_person_contact_email_primary", "context_id",
    "context_title", "context_label", "context_type", "launch_presentation_locale",
    "lis_result_sourcedid", "lis_outcome_service_url", "launch_presentation_return_url",
    "custom_course", "tool_consumer_instance_guid", NULL,
};

/* The value of key, NULL when absent or empty. */
static const char *opt(const apr_array_header_t *kv, const char *key)
{
    const char *v = lti_kv_get(kv, key);

    return v != NULL && *v != '\0' ? v : NULL;
}

/* The oauth_consumer_key of params, before any check: MISSING "lti_missing_param" when
 * absent or empty, MALFORMED "oauth_duplicate_param" when given twice. */
lti_status_t lti_launch11_consumer_key(const apr_array_header_t *params, const char **key,
                                       lti_err_t *err)
{
    const char *k = params ? lti_kv_get(params, "oauth_consumer_key") : NULL;

    *key = NULL;
    if (k == NULL || *k == '\0') {
        return lti_err_set(err, LTI_ERR_MISSING, "lti_missing_param",
                           "the launch has no oauth_consumer_key");
    }
    if (lti_kv_count(params, "oauth_consumer_key") > 1) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "oauth_duplicate_param",
                           "the OAuth parameter oauth_consumer_key appears more than once");
    }
    *key = k;
    return LTI_OK;
}

/* Checks oauth_timestamp against now +- window, and the nonce's presence and size. */
static lti_status_t check_time_nonce(const apr_array_header_t *kv, int64_t now, int64_t window,
                                     int64_t *ts_out, lti_err_t *err)
{
    const char *ts = lti_kv_get(kv, "oauth_timestamp");
    const char *nonce = lti_kv_get(kv, "oauth_nonce");
    size_t len;
    int64_t ts_val, delta;

    if (ts == NULL || *ts == '\0') {
        return lti_err_set(err, LTI_ERR_MISSING, "oauth_timestamp",
                           "the launch has no oauth_timestamp");
    }
    len = strlen(ts);
    if (len > LAUNCH11_MAX_TS_DIGITS || strspn(ts, "0123456789") != len
        || lti_parse_int64(ts, &ts_val) != 0) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "oauth_timestamp",
                           "oauth_timestamp \"%.20s\" is not a number of seconds", ts);
    }
    delta = now - ts_val;
    if (delta > window) {
        return lti_err_set(err, LTI_ERR_EXPIRED, "oauth_timestamp",
                           "the launch is stale: it was signed %lld seconds ago, more than "
                           "the %lld allowed; check the LMS and tool clocks (NTP)",
                           (long long)delta, (long long)window);
    }
    if (-delta > window) {
        return lti_err_set(err, LTI_ERR_EXPIRED, "oauth_timestamp",
                           "the launch is from the future: it was signed %lld seconds ahead "
                           "of this server's clock, more than the %lld allowed; check the LMS "
                           "and tool clocks (NTP)", (long long)-delta, (long long)window);
    }
    *ts_out = ts_val;

    if (nonce == NULL || *nonce == '\0') {
        return lti_err_set(err, LTI_ERR_MISSING, "oauth_missing_nonce",
                           "the launch has no oauth_nonce");
    }
    if (strlen(nonce) > LAUNCH11_MAX_NONCE) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "oauth_nonce",
                           "oauth_nonce is longer than %d bytes", LAUNCH11_MAX_NONCE);
    }
    return LTI_OK;
}

/* Checks the LTI parameters of a launch whose signature and time verified. */
static lti_status_t check_lti_params(const apr_array_header_t *kv, lti_err_t *err)
{
    const lti_kv_t *e = (const lti_kv_t *)kv->elts;
    const char *mt, *ver;

    for (int i = 0; i < kv->nelts; i++) {
        if (!lti_utf8_valid(e[i].key, strlen(e[i].key))
            || !lti_utf8_valid(e[i].val, strlen(e[i].val))) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "lti_bad_utf8",
                               "a launch parameter is not valid UTF-8");
        }
    }
    for (int i = 0; read_params[i]; i++) {
        if (lti_kv_count(kv, read_params[i]) > 1) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "lti_duplicate_param",
                               "the launch parameter %s appears more than once",
                               read_params[i]);
        }
    }

    mt = opt(kv, "lti_message_type");
    if (mt == NULL) {
        return lti_err_set(err, LTI_ERR_MISSING, "lti_message_type",
                           "the launch has no lti_message_type");
    }
    if (strcmp(mt, "basic-lti-launch-request") != 0
        && strcmp(mt, "ContentItemSelectionRequest") != 0) {
        return lti_err_set(err, LTI_ERR_UNSUPPORTED, "lti_message_type",
                           "lti_message_type \"%.60s\" is not supported (expected "
                           "basic-lti-launch-request or ContentItemSelectionRequest)", mt);
    }
    ver = opt(kv, "lti_version");
    if (ver == NULL) {
        return lti_err_set(err, LTI_ERR_MISSING, "lti_version",
                           "the launch has no lti_version");
    }
    if (strcmp(ver, "LTI-1p0") != 0 && strcmp(ver, "LTI-1p2") != 0) {
        return lti_err_set(err, LTI_ERR_UNSUPPORTED, "lti_version",
                           "lti_version \"%.30s\" is not supported (expected LTI-1p0)", ver);
    }
    if (strcmp(mt, "basic-lti-launch-request") == 0 && opt(kv, "resource_link_id") == NULL) {
        return lti_err_set(err, LTI_ERR_MISSING, "lti_missing_param",
                           "the launch has no resource_link_id");
    }
    if (opt(kv, "user_id") == NULL) {
        return lti_err_set(err, LTI_ERR_MISSING, "lti_missing_param",
                           "the launch has no user_id (the LMS must share the user's id)");
    }
    if (opt(kv, "oauth_consumer_key") == NULL) {
        return lti_err_set(err, LTI_ERR_MISSING, "lti_missing_param",
                           "the launch has no oauth_consumer_key");
    }
    return LTI_OK;
}

/* Checks a launch in the order signature method, signature, time window and nonce, LTI
 * parameters, and fills out only when all pass (out is zeroed on any error).  The query of
 * url counts as launch parameters.  Status and reason per refusal: see lti_launch11.h. */
lti_status_t lti_launch11_verify(apr_pool_t *p, const char *url,
                                 const apr_array_header_t *params, const char *secret,
                                 int64_t now, int64_t window, lti_launch11_t *out,
                                 lti_err_t *err)
{
    apr_array_header_t *kv;
    const char *query, *base_url;
    size_t qlen;
    int64_t ts = 0;
    lti_status_t st;

    memset(out, 0, sizeof(*out));
    if (url == NULL) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "oauth_bad_url", "no launch URL to verify");
    }

    /* Query and body together: what was signed, and so what may be read. */
    kv = lti_kv_make(p, params ? params->nelts + 8 : 8);
    qlen = strcspn(url, "?#");
    base_url = apr_pstrmemdup(p, url, qlen);
    if (url[qlen] == '?') {
        query = url + qlen + 1;
        st = lti_form_parse(p, query, strcspn(query, "#"), LAUNCH11_MAX_QUERY_PARAMS, kv, err);
        if (st != LTI_OK) {
            return st;
        }
    }
    for (int i = 0; params && i < params->nelts; i++) {
        *(lti_kv_t *)apr_array_push(kv) = ((const lti_kv_t *)params->elts)[i];
    }

    /* The base string URI drops the query, so base_url with kv signs the same string. */
    st = lti_oauth1_verify(p, "POST", base_url, kv, secret, err);
    if (st != LTI_OK) {
        return st;
    }
    st = check_time_nonce(kv, now, window, &ts, err);
    if (st != LTI_OK) {
        return st;
    }
    st = check_lti_params(kv, err);
    if (st != LTI_OK) {
        return st;
    }

    out->consumer_key = lti_kv_get(kv, "oauth_consumer_key");
    out->nonce = lti_kv_get(kv, "oauth_nonce");
    out->timestamp = ts;
    out->message_type = lti_kv_get(kv, "lti_message_type");
    out->user_id = lti_kv_get(kv, "user_id");
    out->given_name = opt(kv, "lis_person_name_given");
    out->family_name = opt(kv, "lis_person_name_family");
    out->full_name = opt(kv, "lis_person_name_full");
    out->email = opt(kv, "lis_person_contact_email_primary");
    out->context_id = opt(kv, "context_id");
    out->context_title = opt(kv, "context_title");
    out->context_label = opt(kv, "context_label");
    out->context_type = opt(kv, "context_type");
    out->link_id = opt(kv, "resource_link_id");
    out->link_title = opt(kv, "resource_link_title");
    out->roles_raw = opt(kv, "roles");
    out->roles = lti_roles_parse(out->roles_raw);
    out->locale = opt(kv, "launch_presentation_locale");
    out->result_sourcedid = opt(kv, "lis_result_sourcedid");
    out->outcome_url = opt(kv, "lis_outcome_service_url");
    out->return_url = opt(kv, "launch_presentation_return_url");
    out->custom_course = opt(kv, "custom_course");
    out->instance_guid = opt(kv, "tool_consumer_instance_guid");
    return LTI_OK;
}
