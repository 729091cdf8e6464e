/* lti_deeplink.c -- Deep Linking 2.0 responses (JWT over lti_jose/cjose) and LTI 1.1
 * Content-Item selections (form over lti_oauth1), and the server-side context between the
 * request and the instructor's choice.  JSON with jansson only. */
#include <string.h>
#include <strings.h>

#include <apr_strings.h>

#include "lti_deeplink.h"
#include "lti_jose.h"
#include "lti_oauth1.h"
#include "lti_store.h"
#include "lti_util.h"

#define LTILINK_MEDIA_TYPE "application/vnd.ims.lti.v1.ltilink"

static int empty(const char *s)
{
    return s == NULL || *s == '\0';
}

static lti_status_t check_data(const char *data, lti_err_t *err)
{
    if (data != NULL && strlen(data) > LTI_DEEPLINK_DATA_MAX) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "dl_data",
                           "the request's data is longer than %d bytes", LTI_DEEPLINK_DATA_MAX);
    }
    return LTI_OK;
}

lti_status_t lti_deeplink_settings_parse(apr_pool_t *p, const char *settings_json,
                                         lti_deeplink_ctx_t *ctx, lti_err_t *err)
{
    json_t *o, *v;
    const json_t *types;
    int has_link = 0;

    o = settings_json ? lti_json_pooled(p, json_loads(settings_json, JSON_REJECT_DUPLICATES,
                                                      NULL))
                      : NULL;
    if (!json_is_object(o)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "dl_settings",
                           "the deep_linking_settings claim is not a JSON object");
    }
    v = json_object_get(o, "deep_link_return_url");
    if (!json_is_string(v) || !lti_is_http_url(p, json_string_value(v))) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "dl_return_url",
                           "deep_linking_settings has no deep_link_return_url that is an "
                           "absolute http(s) URL");
    }
    ctx->return_url = apr_pstrdup(p, json_string_value(v));
    types = json_object_get(o, "accept_types");
    if (types != NULL) {
        size_t i;
        json_t *t;

        if (!json_is_array(types)) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "dl_settings",
                               "deep_linking_settings.accept_types is not an array");
        }
        json_array_foreach(types, i, t) {
            has_link |= json_is_string(t) && strcmp(json_string_value(t), "ltiResourceLink") == 0;
        }
        if (!has_link) {
            return lti_err_set(err, LTI_ERR_UNSUPPORTED, "dl_accept_types",
                               "the platform does not accept ltiResourceLink items here "
                               "(deep_linking_settings.accept_types), the only kind this tool "
                               "makes");
        }
    }
    v = json_object_get(o, "accept_multiple");
    if (v != NULL && !json_is_null(v) && !json_is_boolean(v)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "dl_settings",
                           "deep_linking_settings.accept_multiple is not a boolean");
    }
    ctx->accept_multiple = json_is_true(v);
    v = json_object_get(o, "data");
    if (v != NULL && !json_is_null(v) && !json_is_string(v)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "dl_settings",
                           "deep_linking_settings.data is not a string");
    }
    ctx->data = json_is_string(v) ? apr_pstrdup(p, json_string_value(v)) : NULL;
    return check_data(ctx->data, err);
}

/* Whether a comma-separated accept_media_types admits LTI links (RFC 7231 media ranges). */
static int admits_ltilink(apr_pool_t *p, const char *types)
{
    char *list = apr_pstrdup(p, types), *last, *t;

    for (t = apr_strtok(list, ",", &last); t != NULL; t = apr_strtok(NULL, ",", &last)) {
        char *semi = strchr(t, ';');

        if (semi != NULL) {
            *semi = '\0';
        }
        apr_collapse_spaces(t, t);   /* (it returns the end of the string) */
        if (strcasecmp(t, LTILINK_MEDIA_TYPE) == 0 || strcmp(t, "*/*") == 0
            || strcasecmp(t, "application/*") == 0) {
            return 1;
        }
    }
    return 0;
}

lti_status_t lti_contentitem_request_parse(apr_pool_t *p, const apr_array_header_t *params,
                                           lti_deeplink_ctx_t *ctx, lti_err_t *err)
{
    const char *url = lti_kv_get(params, "content_item_return_url");
    const char *types = lti_kv_get(params, "accept_media_types");
    const char *multiple = lti_kv_get(params, "accept_multiple");

    if (empty(url)) {
        return lti_err_set(err, LTI_ERR_MISSING, "ci_return_url",
                           "the content-item request has no content_item_return_url");
    }
    if (lti_kv_count(params, "content_item_return_url") > 1 || !lti_is_http_url(p, url)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "ci_return_url",
                           "the content_item_return_url is repeated or not an absolute "
                           "http(s) URL");
    }
    if (types != NULL && !admits_ltilink(p, types)) {
        return lti_err_set(err, LTI_ERR_UNSUPPORTED, "ci_media_types",
                           "the LMS does not accept LTI links here (accept_media_types "
                           "\"%.100s\"), the only kind this tool makes", types);
    }
    ctx->return_url = url;
    /* The spec's default for accept_multiple is true. */
    ctx->accept_multiple = multiple == NULL || strcasecmp(multiple, "false") != 0;
    ctx->data = lti_kv_get(params, "data");
    return check_data(ctx->data, err);
}

/* Sets name to the string s in o when s is not NULL. */
static void set_str(json_t *o, const char *name, const char *s)
{
    if (s != NULL) {
        json_object_set_new(o, name, json_string(s));
    }
}

const char *lti_deeplink_ctx_dump(apr_pool_t *p, const lti_deeplink_ctx_t *ctx)
{
    json_t *o = lti_json_pooled(p, json_object());

    if (o == NULL) {
        return NULL;
    }
    set_str(o, "version", ctx->version);
    set_str(o, "return_url", ctx->return_url);
    set_str(o, "data", ctx->data);
    json_object_set_new(o, "accept_multiple", json_boolean(ctx->accept_multiple));
    set_str(o, "locale", ctx->locale);
    json_object_set_new(o, "platform_id", json_integer(ctx->platform_id));
    set_str(o, "issuer", ctx->issuer);
    set_str(o, "client_id", ctx->client_id);
    set_str(o, "deployment_id", ctx->deployment_id);
    set_str(o, "consumer_key", ctx->consumer_key);
    return lti_json_text(p, o, JSON_COMPACT | JSON_SORT_KEYS);
}

/* A string member of o copied to p, or NULL when absent; *bad set for another type. */
static const char *get_str(apr_pool_t *p, const json_t *o, const char *name, int *bad)
{
    const json_t *v = json_object_get(o, name);

    if (v == NULL) {
        return NULL;
    }
    if (!json_is_string(v)) {
        *bad = 1;
        return NULL;
    }
    return apr_pstrdup(p, json_string_value(v));
}

lti_status_t lti_deeplink_ctx_load(apr_pool_t *p, const char *json, lti_deeplink_ctx_t *ctx,
                                   lti_err_t *err)
{
    json_t *o = json ? lti_json_pooled(p, json_loads(json, JSON_REJECT_DUPLICATES, NULL))
                     : NULL;
    const json_t *pid;
    int bad = 0;

    memset(ctx, 0, sizeof(*ctx));
    if (!json_is_object(o)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "dl_context",
                           "the stored deep-linking context is not a JSON object");
    }
    ctx->version = get_str(p, o, "version", &bad);
    ctx->return_url = get_str(p, o, "return_url", &bad);
    ctx->data = get_str(p, o, "data", &bad);
    ctx->accept_multiple = json_is_true(json_object_get(o, "accept_multiple"));
    ctx->locale = get_str(p, o, "locale", &bad);
    pid = json_object_get(o, "platform_id");
    ctx->platform_id = json_is_integer(pid) ? json_integer_value(pid) : 0;
    ctx->issuer = get_str(p, o, "issuer", &bad);
    ctx->client_id = get_str(p, o, "client_id", &bad);
    ctx->deployment_id = get_str(p, o, "deployment_id", &bad);
    ctx->consumer_key = get_str(p, o, "consumer_key", &bad);
    if (bad || ctx->version == NULL || ctx->return_url == NULL
        || (strcmp(ctx->version, "1.3") != 0 && strcmp(ctx->version, "1.1") != 0)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "dl_context",
                           "the stored deep-linking context is incomplete");
    }
    return LTI_OK;
}

lti_status_t lti_deeplink_check(const lti_deeplink_ctx_t *ctx,
                                const lti_deeplink_item_t *items, int n, lti_err_t *err)
{
    if (n > 1 && !ctx->accept_multiple) {
        return lti_err_set(err, LTI_ERR_FORBIDDEN, "dl_multiple",
                           "the LMS asked for one item only, and %d were chosen", n);
    }
    for (int i = 0; i < n; i++) {
        if (empty(items[i].course_id) || empty(items[i].title)
            || !lti_utf8_valid(items[i].title, strlen(items[i].title))
            || (items[i].text && !lti_utf8_valid(items[i].text, strlen(items[i].text)))) {
            return lti_err_set(err, LTI_ERR_MISSING, "dl_item",
                               "a chosen item has no course id or title");
        }
    }
    return LTI_OK;
}

/* The ltiResourceLink of item (Deep Linking 2.0, section 3.4.1). */
static json_t *resource_link(const lti_deeplink_item_t *item, const char *launch_url)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:{s:s}, s:{s:i, s:s, s:s, s:s}}",
                          "type", "ltiResourceLink", "title", item->title, "url", launch_url,
                          "custom", "course", item->course_id,
                          "lineItem", "scoreMaximum", 100, "label", item->title,
                          "resourceId", item->course_id, "tag", LTI_DEEPLINK_TAG);

    if (o != NULL && item->text != NULL) {
        json_object_set_new(o, "text", json_string(item->text));
    }
    return o;
}

lti_status_t lti_deeplink_response(apr_pool_t *p, const lti_deeplink_ctx_t *ctx,
                                   const lti_deeplink_item_t *items, int n,
                                   const char *launch_url, const char *kid,
                                   const char *private_pem, int64_t now, const char **jwt,
                                   lti_err_t *err)
{
    json_t *claims, *list;
    const char *nonce;
    lti_status_t rv;

    *jwt = NULL;
    if (ctx->version == NULL || strcmp(ctx->version, "1.3") != 0 || empty(ctx->issuer)
        || empty(ctx->client_id) || empty(ctx->deployment_id) || empty(launch_url)
        || empty(kid) || empty(private_pem)) {
        return lti_err_set(err, LTI_ERR_MISSING, "dl_arg", "a deep linking response needs a "
                           "1.3 request's issuer, client id and deployment, the launch URL "
                           "and the tool key");
    }
    if ((rv = lti_deeplink_check(ctx, items, n, err)) != LTI_OK) {
        return rv;
    }
    if ((nonce = lti_random_hex(p, 16)) == NULL) {
        return lti_err_set(err, LTI_ERR_CRYPTO, "random_failed", "no random bytes for a nonce");
    }
    list = json_array();
    claims = lti_json_pooled(p, json_pack(
        "{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:o}", "iss", ctx->client_id, "aud",
        ctx->issuer, "iat", (json_int_t)now, "exp", (json_int_t)(now + LTI_DEEPLINK_RESPONSE_TTL),
        "nonce", nonce, "https://purl.imsglobal.org/spec/lti/claim/deployment_id",
        ctx->deployment_id, "https://purl.imsglobal.org/spec/lti/claim/message_type",
        "LtiDeepLinkingResponse", "https://purl.imsglobal.org/spec/lti/claim/version", "1.3.0",
        "https://purl.imsglobal.org/spec/lti-dl/claim/content_items", list));
    if (claims == NULL) {
        return lti_err_set(err, LTI_ERR_NOMEM, "nomem", "cannot build the response claims");
    }
    for (int i = 0; i < n; i++) {
        json_t *item = resource_link(&items[i], launch_url);

        if (item == NULL || json_array_append_new(list, item) != 0) {
            return lti_err_set(err, LTI_ERR_NOMEM, "nomem", "cannot build an item");
        }
    }
    if (ctx->data != NULL) {
        json_object_set_new(claims, "https://purl.imsglobal.org/spec/lti-dl/claim/data",
                            json_string(ctx->data));
    }
    *jwt = lti_jwt_sign(p, kid, private_pem, claims, err);
    return *jwt ? LTI_OK : (err ? err->status : LTI_ERR_CRYPTO);
}

/* The LtiLinkItem of item (Content-Item Message 1.0), its lineItem as Moodle reads it. */
static json_t *link_item(const lti_deeplink_item_t *item, const char *launch_url)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:{s:s}, s:{s:s, s:s, s:s, s:s, s:{s:s}, s:{s:s, s:i, s:i}}}",
        "@type", "LtiLinkItem", "mediaType", LTILINK_MEDIA_TYPE, "title", item->title, "url",
        launch_url, "custom", "course", item->course_id, "lineItem", "@type", "LineItem",
        "label", item->title, "reportingMethod", "res:totalScore", "tag", LTI_DEEPLINK_TAG,
        "assignedActivity", "activityId", item->course_id, "scoreConstraints", "@type",
        "NumericLimits", "normalMaximum", 100, "totalMaximum", 100);

    if (o != NULL && item->text != NULL) {
        json_object_set_new(o, "text", json_string(item->text));
    }
    return o;
}

const char *lti_contentitem_json(apr_pool_t *p, const lti_deeplink_item_t *items, int n,
                                 const char *launch_url)
{
    json_t *graph = json_array();
    json_t *doc = lti_json_pooled(p, json_pack("{s:s, s:o}", "@context",
                                               LTI_CONTENTITEM_CONTEXT, "@graph", graph));

    if (doc == NULL) {
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        json_t *item = link_item(&items[i], launch_url);

        if (item == NULL || json_array_append_new(graph, item) != 0) {
            return NULL;
        }
    }
    return lti_json_text(p, doc, JSON_COMPACT);
}

lti_status_t lti_contentitem_response(apr_pool_t *p, const lti_deeplink_ctx_t *ctx,
                                      const lti_deeplink_item_t *items, int n,
                                      const char *launch_url, const char *secret, int64_t now,
                                      apr_array_header_t **fields, lti_err_t *err)
{
    apr_array_header_t *kv;
    const char *json;
    lti_status_t rv;

    *fields = NULL;
    if (ctx->version == NULL || strcmp(ctx->version, "1.1") != 0 || empty(ctx->consumer_key)
        || empty(launch_url) || empty(secret)) {
        return lti_err_set(err, LTI_ERR_MISSING, "dl_arg", "a content-item selection needs a "
                           "1.1 request's consumer key and secret and the launch URL");
    }
    if ((rv = lti_deeplink_check(ctx, items, n, err)) != LTI_OK) {
        return rv;
    }
    if ((json = lti_contentitem_json(p, items, n, launch_url)) == NULL) {
        return lti_err_set(err, LTI_ERR_NOMEM, "nomem", "cannot build the content items");
    }
    kv = lti_kv_make(p, 16);
    lti_kv_add(kv, "lti_message_type", "ContentItemSelection");
    lti_kv_add(kv, "lti_version", "LTI-1p0");
    lti_kv_add(kv, "content_items", json);
    if (ctx->data != NULL) {
        lti_kv_add(kv, "data", ctx->data);
    }
    rv = lti_oauth1_sign(p, "POST", ctx->return_url, kv, ctx->consumer_key, secret, now, err);
    if (rv != LTI_OK) {
        return rv;
    }
    *fields = kv;
    return LTI_OK;
}

/* Whether word is in one of the texts of t (ASCII case folded). */
static int in_i18n(const lti_i18n_t *t, const char *word)
{
    return (t->fr && strcasestr(t->fr, word)) || (t->ar && strcasestr(t->ar, word))
           || (t->en && strcasestr(t->en, word));
}

int lti_deeplink_match(apr_pool_t *p, const lti_course_t *course, const char *q,
                       const char *theme)
{
    char *words, *last, *w;

    if (theme != NULL && *theme != '\0'
        && (course->theme == NULL || strcmp(course->theme, theme) != 0)) {
        return 0;
    }
    if (q == NULL) {
        return 1;
    }
    words = apr_pstrdup(p, q);
    for (w = apr_strtok(words, " \t\r\n", &last); w != NULL;
         w = apr_strtok(NULL, " \t\r\n", &last)) {
        if (!strcasestr(course->id, w) && !in_i18n(&course->title, w)
            && !in_i18n(&course->description, w)) {
            return 0;
        }
    }
    return 1;
}

lti_status_t lti_deeplink_roles_check(unsigned roles, const char *roles_raw, lti_err_t *err)
{
    if (roles & (LTI_ROLE_INSTRUCTOR | LTI_ROLE_TA | LTI_ROLE_ADMIN | LTI_ROLE_CONTENT_DEV)) {
        return LTI_OK;
    }
    return lti_err_set(err, LTI_ERR_FORBIDDEN, "dl_role", "Only instructors choose content "
                       "for a course (the roles of this request: %.200s).",
                       roles_raw ? roles_raw : "none");
}
