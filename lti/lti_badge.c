/* lti_badge.c -- Open Badges 2.0: the tool's issuer documents and baked PNGs, and the
 * verification of IBM (Credly) badges pasted as evidence.  JSON with jansson, PNG CRCs and
 * compression with zlib, hashes with OpenSSL, fetches with lti_http (libcurl). */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <apr_time.h>
#include <apr_uri.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zlib.h>

#include "lti_badge.h"
#include "lti_jose.h"
#include "lti_progress.h"
#include "lti_util.h"

static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
static const char itxt_key[] = "openbadges";

const char *lti_badge_salt(apr_pool_t *p, const unsigned char key[32], const char *id)
{
    static const char label[] = "ptech-badge-salt:";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    const char *msg = apr_pstrcat(p, label, id ? id : "", NULL);

    if (HMAC(EVP_sha256(), key, 32, (const unsigned char *)msg, strlen(msg), mac, &maclen)
        == NULL || maclen < 16) {
        return NULL;
    }
    return lti_hex(p, mac, 16);
}

const char *lti_badge_identity(apr_pool_t *p, const char *email, const char *salt)
{
    const char *in = apr_pstrcat(p, email ? email : "", salt ? salt : "", NULL);

    return apr_pstrcat(p, "sha256$", lti_sha256_hex(p, in, strlen(in)), NULL);
}

static char *lower(apr_pool_t *p, const char *s)
{
    char *l = apr_pstrdup(p, s);

    for (char *c = l; *c; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    return l;
}

/* The recipient check on a parsed object. */
static int recipient_ok(apr_pool_t *p, const json_t *rc, const char *email)
{
    const char *type = json_string_value(json_object_get(rc, "type"));
    const char *identity = json_string_value(json_object_get(rc, "identity"));
    const char *salt = json_string_value(json_object_get(rc, "salt"));
    json_t *hashed = json_object_get(rc, "hashed");

    if (email == NULL || *email == '\0' || identity == NULL || type == NULL
        || strcasecmp(type, "email") != 0) {
        return 0;
    }
    if (!json_is_true(hashed)) {
        return strcasecmp(identity, email) == 0;
    }
    if (strncasecmp(identity, "sha256$", 7) != 0) {
        return 0;       /* md5$ and unknown algorithms are refused */
    }
    return strcasecmp(identity, lti_badge_identity(p, email, salt)) == 0
           || strcasecmp(identity, lti_badge_identity(p, lower(p, email), salt)) == 0;
}

int lti_badge_recipient_matches(apr_pool_t *p, const char *recipient_json, const char *email)
{
    json_t *rc;

    if (recipient_json == NULL) {
        return 0;
    }
    rc = lti_json_pooled(p, json_loads(recipient_json, JSON_REJECT_DUPLICATES, NULL));
    return json_is_object(rc) && recipient_ok(p, rc, email);
}

const char *lti_badge_assertion_url(apr_pool_t *p, const char *base, const char *id)
{
    return apr_pstrcat(p, base, "/ptech/badges/assertion/", id, NULL);
}

const char *lti_badge_class_url(apr_pool_t *p, const char *base, const char *course_id)
{
    return apr_pstrcat(p, base, "/ptech/badges/class/", course_id, NULL);
}

static const char *issuer_url(apr_pool_t *p, const char *base)
{
    return apr_pstrcat(p, base, "/ptech/badges/issuer", NULL);
}

/* ISO 8601 UTC of epoch seconds. */
static const char *iso_time(apr_pool_t *p, int64_t t)
{
    apr_time_exp_t x;
    char buf[32];
    apr_size_t n = 0;

    apr_time_exp_gmt(&x, apr_time_from_sec(t));
    apr_strftime(buf, &n, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &x);
    return apr_pstrmemdup(p, buf, n);
}

const char *lti_badge_profile_json(apr_pool_t *p, const lti_badge_site_t *site)
{
    json_t *o = lti_json_pooled(p, json_pack("{s:s, s:s, s:s, s:s, s:s}",
                                             "@context", LTI_BADGE_CONTEXT, "type", "Profile",
                                             "id", issuer_url(p, site->base),
                                             "name", site->issuer_name ? site->issuer_name
                                                                       : "Open P-Tech",
                                             "url", site->base));

    if (o == NULL) {
        return NULL;
    }
    if (site->issuer_email != NULL
        && json_object_set_new(o, "email", json_string(site->issuer_email)) != 0) {
        return NULL;
    }
    return lti_json_text(p, o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
}

/* The badge image as an absolute URL (the catalog may give a path on the tool's server). */
static const char *image_url(apr_pool_t *p, const char *base, const char *image)
{
    return image != NULL && image[0] == '/' ? apr_pstrcat(p, base, image, NULL) : image;
}

const char *lti_badge_class_json(apr_pool_t *p, const lti_badge_site_t *site,
                                 const lti_course_t *course)
{
    const char *narrative = apr_psprintf(
        p, "%s: %s (%g / 100).", lti_i18n_get(&course->title, site->lang),
        strcmp(lti_lang_of(site->lang), "fr") == 0 ? "cours réussi, note minimale"
        : strcmp(lti_lang_of(site->lang), "ar") == 0 ? "اجتياز الدورة، الحد الأدنى للنقطة"
                                                     : "course passed, passing score",
        course->passing_score);
    json_t *o = lti_json_pooled(
        p, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:{s:s}, s:s, s:[s]}",
                     "@context", LTI_BADGE_CONTEXT, "type", "BadgeClass",
                     "id", lti_badge_class_url(p, site->base, course->id),
                     "name", lti_i18n_get(&course->badge_name, site->lang),
                     "description", lti_i18n_get(&course->badge_description, site->lang),
                     "image", image_url(p, site->base, course->badge_image),
                     "criteria", "narrative", narrative,
                     "issuer", issuer_url(p, site->base), "tags", course->theme));

    return o ? lti_json_text(p, o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
}

const char *lti_badge_assertion_json(apr_pool_t *p, const lti_badge_site_t *site,
                                     const lti_course_t *course,
                                     const lti_badge_award_t *award, const char *salt)
{
    const char *url = lti_badge_assertion_url(p, site->base, award->id);
    json_t *o, *ev;

    if (award->email == NULL || salt == NULL) {
        return NULL;
    }
    o = lti_json_pooled(
        p, json_pack("{s:s, s:s, s:s, s:{s:s, s:b, s:s, s:s}, s:s, s:s, s:s, s:{s:s}}",
                     "@context", LTI_BADGE_CONTEXT, "type", "Assertion", "id", url,
                     "recipient", "type", "email", "hashed", 1, "salt", salt,
                     "identity", lti_badge_identity(p, lower(p, award->email), salt),
                     "badge", lti_badge_class_url(p, site->base, award->course_id),
                     "image", apr_pstrcat(p, url, ".png", NULL),
                     "issuedOn", iso_time(p, award->issued),
                     "verification", "type", "hosted"));
    if (o == NULL || (ev = json_array()) == NULL || json_object_set_new(o, "evidence", ev) != 0) {
        return NULL;
    }
    if (award->evidence != NULL) {
        json_array_append_new(ev, json_pack("{s:s, s:s, s:s}", "type", "Evidence",
                                            "id", award->evidence, "narrative",
                                            "IBM badge (Open Badges 2.0 assertion)"));
    }
    json_array_append_new(ev, json_pack("{s:s, s:s}", "type", "Evidence", "narrative",
                                        apr_psprintf(p, "%s: %.4g / 100",
                                                     course ? lti_i18n_get(&course->title,
                                                                           site->lang)
                                                            : award->course_id,
                                                     award->score * 100.0)));
    return lti_json_text(p, o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
}

/* ---- PNG ---- */

static void put32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Appends a chunk (length, type, data, CRC over type and data) at *at. */
static unsigned char *put_chunk(unsigned char *at, const char type[4], const void *data,
                                size_t len)
{
    uLong crc = crc32(0L, Z_NULL, 0);

    put32(at, (uint32_t)len);
    memcpy(at + 4, type, 4);
    if (len) {
        memcpy(at + 8, data, len);
    }
    crc = crc32(crc, at + 4, (uInt)(len + 4));
    put32(at + 8 + len, (uint32_t)crc);
    return at + 12 + len;
}

#define BASE_W 128

lti_status_t lti_badge_png_base(apr_pool_t *p, const unsigned char **png, size_t *len,
                                lti_err_t *err)
{
    size_t row = 1 + BASE_W * 4, raw_len = row * BASE_W;
    unsigned char *raw = apr_palloc(p, raw_len), ihdr[13], *out, *at;
    uLongf zlen = compressBound((uLong)raw_len);
    unsigned char *z = apr_palloc(p, zlen);

    /* A medal: a gold disc, a darker ring and a white star-less centre, transparent
     * around; drawn rather than shipped so the bytes never drift from the code. */
    for (int y = 0; y < BASE_W; y++) {
        unsigned char *r = raw + (size_t)y * row;

        r[0] = 0;   /* filter: none */
        for (int x = 0; x < BASE_W; x++) {
            double dx = x - (BASE_W - 1) / 2.0, dy = y - (BASE_W - 1) / 2.0;
            double d2 = dx * dx + dy * dy;
            unsigned char *px = r + 1 + x * 4;

            if (d2 > 62.0 * 62.0) {
                px[0] = px[1] = px[2] = px[3] = 0;
            }
            else if (d2 > 52.0 * 52.0) {
                px[0] = 0xb8; px[1] = 0x86; px[2] = 0x0b; px[3] = 0xff;
            }
            else if (d2 > 30.0 * 30.0) {
                px[0] = 0xf5; px[1] = 0xc5; px[2] = 0x18; px[3] = 0xff;
            }
            else {
                px[0] = 0x0f; px[1] = 0x62; px[2] = 0xfe; px[3] = 0xff;
            }
        }
    }
    if (compress2(z, &zlen, raw, (uLong)raw_len, 9) != Z_OK) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "png_compress", "cannot compress the badge");
    }
    put32(ihdr, BASE_W);
    put32(ihdr + 4, BASE_W);
    ihdr[8] = 8;        /* bit depth */
    ihdr[9] = 6;        /* RGBA */
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    out = apr_palloc(p, 8 + 25 + 12 + zlen + 12);
    memcpy(out, png_sig, 8);
    at = put_chunk(out + 8, "IHDR", ihdr, sizeof(ihdr));
    at = put_chunk(at, "IDAT", z, zlen);
    at = put_chunk(at, "IEND", NULL, 0);
    *png = out;
    *len = (size_t)(at - out);
    return LTI_OK;
}

/* One chunk of a PNG. */
typedef struct chunk_t {
    size_t off, len;            /* offset of the length field; data length */
    char type[5];
} chunk_t;

/* Splits png into chunks, checking the signature, lengths, CRCs, IHDR first, IEND last. */
static lti_status_t png_chunks(apr_pool_t *p, const unsigned char *png, size_t len,
                               apr_array_header_t **out, lti_err_t *err)
{
    size_t at = 8;

    *out = apr_array_make(p, 8, sizeof(chunk_t));
    if (png == NULL || len < 8 || memcmp(png, png_sig, 8) != 0) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "png_malformed", "not a PNG (signature)");
    }
    while (at < len) {
        chunk_t *c;
        uint32_t n;

        if (len - at < 12) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "png_malformed", "truncated chunk");
        }
        n = get32(png + at);
        if (n > 0x7fffffffu || n > len - at - 12) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "png_malformed", "bad chunk length");
        }
        if ((uint32_t)crc32(crc32(0L, Z_NULL, 0), png + at + 4, n + 4) != get32(png + at + 8 + n)) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "png_malformed", "bad chunk CRC");
        }
        c = apr_array_push(*out);
        c->off = at;
        c->len = n;
        memcpy(c->type, png + at + 4, 4);
        c->type[4] = '\0';
        at += 12 + n;
        if (strcmp(c->type, "IEND") == 0) {
            break;
        }
    }
    if ((*out)->nelts < 2 || strcmp(APR_ARRAY_IDX(*out, 0, chunk_t).type, "IHDR") != 0
        || strcmp(APR_ARRAY_IDX(*out, (*out)->nelts - 1, chunk_t).type, "IEND") != 0
        || at != len) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "png_malformed",
                           "the PNG does not start with IHDR and end with IEND");
    }
    return LTI_OK;
}

/* 1 when chunk c of png is an iTXt with keyword "openbadges". */
static int is_openbadges(const unsigned char *png, const chunk_t *c)
{
    return strcmp(c->type, "iTXt") == 0 && c->len >= sizeof(itxt_key)
           && memcmp(png + c->off + 8, itxt_key, sizeof(itxt_key)) == 0;  /* with the NUL */
}

lti_status_t lti_badge_png_bake(apr_pool_t *p, const unsigned char *png, size_t len,
                                const char *text, unsigned char **out, size_t *outlen,
                                lti_err_t *err)
{
    apr_array_header_t *chunks;
    size_t tlen = strlen(text), dlen = sizeof(itxt_key) + 4 + tlen;
    unsigned char *buf, *at, *data;
    lti_status_t rv;

    if ((rv = png_chunks(p, png, len, &chunks, err)) != LTI_OK) {
        return rv;
    }
    /* keyword NUL, compression flag 0, method 0, empty language NUL, empty translated
     * keyword NUL, then the UTF-8 text (PNG 1.2 section 4.2.3.3). */
    data = apr_palloc(p, dlen);
    memcpy(data, itxt_key, sizeof(itxt_key));
    memset(data + sizeof(itxt_key), 0, 4);
    memcpy(data + sizeof(itxt_key) + 4, text, tlen);
    buf = apr_palloc(p, len + dlen + 12);
    memcpy(buf, png_sig, 8);
    at = buf + 8;
    for (int i = 0; i < chunks->nelts; i++) {
        const chunk_t *c = &APR_ARRAY_IDX(chunks, i, chunk_t);

        if (is_openbadges(png, c)) {
            continue;       /* replaced: exactly one in the result */
        }
        if (strcmp(c->type, "IEND") == 0) {
            at = put_chunk(at, "iTXt", data, dlen);
        }
        memcpy(at, png + c->off, c->len + 12);
        at += c->len + 12;
    }
    *out = buf;
    *outlen = (size_t)(at - buf);
    return LTI_OK;
}

lti_status_t lti_badge_png_extract(apr_pool_t *p, const unsigned char *png, size_t len,
                                   const char **text, int *count, lti_err_t *err)
{
    apr_array_header_t *chunks;
    lti_status_t rv;

    *text = NULL;
    *count = 0;
    if ((rv = png_chunks(p, png, len, &chunks, err)) != LTI_OK) {
        return rv;
    }
    for (int i = 0; i < chunks->nelts; i++) {
        const chunk_t *c = &APR_ARRAY_IDX(chunks, i, chunk_t);
        const unsigned char *d = png + c->off + 8, *end = d + c->len, *lang, *tkey;

        if (!is_openbadges(png, c)) {
            continue;
        }
        (*count)++;
        d += sizeof(itxt_key);
        if (end - d < 4 || d[0] != 0) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "png_malformed",
                               "the openbadges iTXt chunk is compressed or truncated");
        }
        lang = d + 2;
        tkey = memchr(lang, 0, (size_t)(end - lang));
        if (tkey == NULL || (d = memchr(tkey + 1, 0, (size_t)(end - tkey - 1))) == NULL) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "png_malformed",
                               "the openbadges iTXt chunk is truncated");
        }
        d++;
        *text = apr_pstrmemdup(p, (const char *)d, (size_t)(end - d));
    }
    return LTI_OK;
}

/* ---- evidence ---- */

int lti_badge_host_allowed(apr_pool_t *p, const char *url, const apr_array_header_t *hosts)
{
    apr_uri_t u;

    if (url == NULL || apr_uri_parse(p, url, &u) != APR_SUCCESS || u.hostname == NULL) {
        return 0;
    }
    if (hosts == NULL || hosts->nelts == 0) {
        return strcasecmp(u.hostname, LTI_BADGE_CREDLY_API) == 0;
    }
    for (int i = 0; i < hosts->nelts; i++) {
        if (strcasecmp(u.hostname, APR_ARRAY_IDX(hosts, i, const char *)) == 0) {
            return 1;
        }
    }
    return 0;
}

/* 1 when s is a Credly id: letters, digits and '-', 1..64 of them. */
static int credly_id(const char *s, size_t n)
{
    if (n == 0 || n > 64) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '-') {
            return 0;
        }
    }
    return 1;
}

lti_status_t lti_badge_url_map(apr_pool_t *p, const char *url, const apr_array_header_t *hosts,
                               const lti_http_opts_t *http, const char **fetch_url,
                               lti_err_t *err)
{
    apr_uri_t u;
    lti_err_t e;

    /* A pasted address often carries spaces or a line break around it. */
    while (url != NULL && isspace((unsigned char)*url)) {
        url++;
    }
    if (url != NULL) {
        size_t n = strlen(url);

        while (n > 0 && isspace((unsigned char)url[n - 1])) {
            n--;
        }
        url = apr_pstrmemdup(p, url, n);
    }
    if (url == NULL || *url == '\0' || strlen(url) > 2048
        || apr_uri_parse(p, url, &u) != APR_SUCCESS || u.scheme == NULL || u.hostname == NULL
        || (strcasecmp(u.scheme, "https") != 0 && strcasecmp(u.scheme, "http") != 0)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "badge_url_malformed",
                           "this is not a badge web address (https://www.credly.com/badges/"
                           "... or the address of an Open Badges assertion)");
    }
    if (strcasecmp(u.hostname, "credly.com") == 0
        || strcasecmp(u.hostname, "www.credly.com") == 0) {
        const char *path = u.path ? u.path : "", *id, *end;

        if (strncmp(path, "/badges/", 8) != 0) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "badge_url_malformed",
                               "a Credly address must look like https://www.credly.com/badges/"
                               "ID (the link of the badge's page)");
        }
        id = path + 8;
        end = strchr(id, '/');
        if (!credly_id(id, end ? (size_t)(end - id) : strlen(id))) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "badge_url_malformed",
                               "the Credly address has no badge id after /badges/");
        }
        url = apr_pstrcat(p, "https://" LTI_BADGE_CREDLY_API "/v1/obi/v2/badge_assertions/",
                          end ? apr_pstrmemdup(p, id, (size_t)(end - id)) : id, NULL);
    }
    if (!lti_badge_host_allowed(p, url, hosts)) {
        return lti_err_set(err, LTI_ERR_FORBIDDEN, "badge_host_unknown",
                           "badges from %s are not accepted here (the tool's "
                           "PTechBadgeIssuerHost list does not name it)",
                           u.hostname);
    }
    if (lti_http_check_url(p, url, http, &e) != LTI_OK) {
        return lti_err_set(err, LTI_ERR_FORBIDDEN, "badge_host_unknown", "%s", e.text);
    }
    *fetch_url = url;
    return LTI_OK;
}

const lti_course_t *lti_badge_course_of_class(apr_pool_t *p, const lti_catalog_t *cat,
                                              const char *badge_url)
{
    apr_uri_t u;
    const char *seg;

    if (cat == NULL || badge_url == NULL || apr_uri_parse(p, badge_url, &u) != APR_SUCCESS
        || u.path == NULL) {
        return NULL;
    }
    seg = strrchr(u.path, '/');
    seg = seg ? seg + 1 : u.path;
    for (int i = 0; *seg && i < cat->ncourses; i++) {
        if (cat->courses[i].ibm_badge_class != NULL
            && strcasecmp(cat->courses[i].ibm_badge_class, seg) == 0) {
            return &cat->courses[i];
        }
    }
    return NULL;
}

/* 1 when o's "type" is want (or an array holding it); alt may name a second accepted type. */
static int has_type(const json_t *o, const char *want, const char *alt)
{
    json_t *t = json_object_get(o, "type"), *v;
    size_t i;

    if (json_is_string(t)) {
        return strcmp(json_string_value(t), want) == 0
               || (alt && strcmp(json_string_value(t), alt) == 0);
    }
    json_array_foreach(t, i, v) {
        if (json_is_string(v) && (strcmp(json_string_value(v), want) == 0
                                  || (alt && strcmp(json_string_value(v), alt) == 0))) {
            return 1;
        }
    }
    return 0;
}

/* GETs an OB document, following redirects only within the allowed hosts; *gone is 1 (and
 * *out NULL) on 410.  what names the document in messages. */
static lti_status_t fetch_doc(apr_pool_t *p, const char *url, const char *what,
                              const apr_array_header_t *hosts, const lti_http_opts_t *http,
                              json_t **out, int *gone, lti_err_t *err)
{
    lti_http_opts_t o = *http;
    lti_http_resp_t resp;
    lti_err_t e;
    lti_status_t rv;
    json_t *j;

    *out = NULL;
    *gone = 0;
    o.max_bytes = LTI_BADGE_MAX_DOC;
    for (int hop = 0; hop <= LTI_BADGE_MAX_REDIRECTS; hop++) {
        if (!lti_badge_host_allowed(p, url, hosts)
            || lti_http_check_url(p, url, &o, &e) != LTI_OK) {
            if (hop > 0) {
                return lti_err_set(err, LTI_ERR_FORBIDDEN, "badge_redirect_refused",
                                   "the %s redirected to %s, which is not an accepted badge "
                                   "issuer", what, url);
            }
            return lti_err_set(err, LTI_ERR_FORBIDDEN, "badge_issuer_refused",
                               "the %s is at %s, which is not an accepted badge issuer",
                               what, url);
        }
        rv = lti_http_get(p, url, "application/ld+json, application/json", &o, &resp, &e);
        if (rv == LTI_ERR_TOO_LARGE) {
            return lti_err_set(err, LTI_ERR_TOO_LARGE, "badge_too_large",
                               "the %s at %s is larger than %d bytes", what, url,
                               LTI_BADGE_MAX_DOC);
        }
        if (rv != LTI_OK) {
            return lti_err_set(err, LTI_ERR_UPSTREAM, "badge_fetch_failed",
                               "cannot fetch the %s: %s", what, e.text);
        }
        if (resp.status >= 300 && resp.status < 400 && resp.location != NULL) {
            url = resp.location;
            continue;
        }
        if (resp.status == 410) {
            *gone = 1;
            return LTI_OK;
        }
        if (resp.status != 200) {
            return lti_err_set(err, LTI_ERR_UPSTREAM, "badge_fetch_failed",
                               "%s answered HTTP %ld for the %s", url, resp.status, what);
        }
        j = lti_json_pooled(p, json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, NULL));
        if (!json_is_object(j)) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "badge_not_json",
                               "the %s at %s is not a JSON object", what, url);
        }
        *out = j;
        return LTI_OK;
    }
    return lti_err_set(err, LTI_ERR_UPSTREAM, "badge_redirect_refused",
                       "the %s redirected more than %d times", what, LTI_BADGE_MAX_REDIRECTS);
}

/* The id of an OB property that is a URL or an object with an id. */
static const char *ref_id(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v)
                             : json_string_value(json_object_get(v, "id"));
}

/* Gets a linked document: embedded object, or fetched from its URL. */
static lti_status_t linked_doc(apr_pool_t *p, const json_t *v, const char *what,
                               const apr_array_header_t *hosts, const lti_http_opts_t *http,
                               json_t **out, lti_err_t *err)
{
    int gone = 0;
    lti_status_t rv;

    if (json_is_object(v)) {
        *out = (json_t *)v;
        return LTI_OK;
    }
    if (!json_is_string(v)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "badge_not_assertion",
                           "the badge names no %s", what);
    }
    rv = fetch_doc(p, json_string_value(v), what, hosts, http, out, &gone, err);
    if (rv == LTI_OK && gone) {
        return lti_err_set(err, LTI_ERR_FORBIDDEN, "badge_revoked", "the %s is gone (HTTP 410)",
                           what);
    }
    return rv;
}

lti_status_t lti_badge_verify(apr_pool_t *p, const char *url, const lti_catalog_t *cat,
                              const apr_array_header_t *hosts, const lti_http_opts_t *http,
                              const char *email, const char *claimed_email, int64_t now,
                              lti_badge_evidence_t *out, lti_err_t *err)
{
    const char *fetch_url, *id, *s, *badge_url;
    json_t *a, *bc, *iss, *rc;
    int gone = 0;
    int64_t t;
    lti_status_t rv;

    memset(out, 0, sizeof(*out));
    if ((rv = lti_badge_url_map(p, url, hosts, http, &fetch_url, err)) != LTI_OK
        || (rv = fetch_doc(p, fetch_url, "badge assertion", hosts, http, &a, &gone, err))
               != LTI_OK) {
        return rv;
    }
    if (gone) {
        return lti_err_set(err, LTI_ERR_FORBIDDEN, "badge_revoked",
                           "the issuer says this badge was revoked (HTTP 410)");
    }
    if (json_is_true(json_object_get(a, "revoked"))) {
        s = json_string_value(json_object_get(a, "revocationReason"));
        return lti_err_set(err, LTI_ERR_FORBIDDEN, "badge_revoked",
                           "the issuer revoked this badge%s%s", s ? ": " : "", s ? s : "");
    }
    if (!has_type(a, "Assertion", NULL)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "badge_not_assertion",
                           "%s is not an Open Badges 2.0 assertion", fetch_url);
    }
    /* Hosted verification: the assertion lives where its id says, on an issuer host. */
    id = json_string_value(json_object_get(a, "id"));
    if (id == NULL || !lti_badge_host_allowed(p, id, hosts)
        || lti_http_check_url(p, id, http, NULL) != LTI_OK) {
        return lti_err_set(err, LTI_ERR_FORBIDDEN, "badge_issuer_refused",
                           "the assertion's id (%s) is not on an accepted badge issuer",
                           id ? id : "none");
    }
    s = json_string_value(json_object_get(a, "expires"));
    if (s != NULL && (lti_progress_parse_date(s, &t) != NULL || t <= now)) {
        return lti_err_set(err, LTI_ERR_EXPIRED, "badge_expired",
                           "this badge expired on %s", s);
    }
    s = json_string_value(json_object_get(a, "issuedOn"));
    if (s != NULL && lti_progress_parse_date(s, &t) == NULL) {
        out->issued_on = t;
    }
    rc = json_object_get(a, "recipient");
    if (!json_is_object(rc)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "badge_not_assertion",
                           "the assertion names no recipient");
    }
    if (!recipient_ok(p, rc, email)) {
        if (claimed_email == NULL || *claimed_email == '\0'
            || !recipient_ok(p, rc, claimed_email)) {
            return lti_err_set(err, LTI_ERR_FORBIDDEN, "badge_not_yours",
                               "this badge was not issued to %s%s%s", email ? email
                               : "your email address", claimed_email && *claimed_email
                               ? " nor to " : "", claimed_email && *claimed_email
                               ? claimed_email : "");
        }
        out->needs_approval = 1;
    }
    badge_url = ref_id(json_object_get(a, "badge"));
    if (badge_url == NULL) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "badge_not_assertion",
                           "the assertion names no badge class");
    }
    if ((out->course = lti_badge_course_of_class(p, cat, badge_url)) == NULL) {
        return lti_err_set(err, LTI_ERR_NOT_FOUND, "badge_class_unknown",
                           "the badge %s is not the IBM badge of a course in the catalog",
                           badge_url);
    }
    if ((rv = linked_doc(p, json_object_get(a, "badge"), "badge class", hosts, http, &bc, err))
        != LTI_OK) {
        return rv;
    }
    if (!has_type(bc, "BadgeClass", NULL)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "badge_not_assertion",
                           "the badge class %s is not an Open Badges 2.0 BadgeClass",
                           badge_url);
    }
    if ((rv = linked_doc(p, json_object_get(bc, "issuer"), "issuer", hosts, http, &iss, err))
        != LTI_OK) {
        return rv;
    }
    if (!has_type(iss, "Profile", "Issuer") || ref_id(iss) == NULL
        || !lti_badge_host_allowed(p, ref_id(iss), hosts)) {
        return lti_err_set(err, LTI_ERR_FORBIDDEN, "badge_issuer_refused",
                           "the badge's issuer is not an Open Badges issuer profile on an "
                           "accepted host");
    }
    out->assertion_url = id;
    return LTI_OK;
}
