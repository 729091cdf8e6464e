/* lti_util.c -- small shared helpers. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <apr_base64.h>
#include <apr_strings.h>
#include <apr_uri.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <curl/curl.h>
#include <libxml/parser.h>

#include "lti_report.h"
#include "lti_util.h"

/* SHA-256 fetched once (lti_init): EVP_sha256() makes every digest fetch it from the
 * provider store again, under its locks, and a launch hashes twice. */
static EVP_MD *sha256_md;

void lti_init(void)
{
    /* No OpenSSL atexit handler: httpd children can exit from a signal handler, where
     * freeing OpenSSL's state in the middle of an interrupted malloc aborts the process. */
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
    if (sha256_md == NULL) {
        sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    }
    xmlInitParser();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    lti_report_tz_init();
}

apr_array_header_t *lti_kv_make(apr_pool_t *p, int nalloc)
{
    return apr_array_make(p, nalloc, sizeof(lti_kv_t));
}

void lti_kv_add(apr_array_header_t *kv, const char *key, const char *val)
{
    lti_kv_t *e = apr_array_push(kv);

    e->key = apr_pstrdup(kv->pool, key);
    e->val = apr_pstrdup(kv->pool, val ? val : "");
}

const char *lti_kv_get(const apr_array_header_t *kv, const char *key)
{
    const lti_kv_t *e = (const lti_kv_t *)kv->elts;

    for (int i = 0; i < kv->nelts; i++) {
        if (strcmp(e[i].key, key) == 0) {
            return e[i].val;
        }
    }
    return NULL;
}

int lti_kv_count(const apr_array_header_t *kv, const char *key)
{
    const lti_kv_t *e = (const lti_kv_t *)kv->elts;
    int n = 0;

    for (int i = 0; i < kv->nelts; i++) {
        n += strcmp(e[i].key, key) == 0;
    }
    return n;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Whether a form component holds byte c as itself (not '%', '+' or NUL). */
static int form_plain(unsigned char c)
{
    return c != '%' && c != '+' && c != '\0';
}

/* Decodes one form component into a fresh buffer; returns NULL on a bad escape/NUL.  An
 * id_token is kilobytes of plain bytes: runs of them are copied at once. */
static char *form_decode(apr_pool_t *p, const char *s, size_t len)
{
    char *out = apr_palloc(p, len + 1);
    size_t o = 0, i = 0;

    while (i < len) {
        size_t run = i;
        int c;

        while (run < len && form_plain((unsigned char)s[run])) {
            run++;
        }
        memcpy(out + o, s + i, run - i);
        o += run - i;
        if ((i = run) == len) {
            break;
        }
        c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
            i++;
        }
        else if (c == '%') {
            int hi, lo;

            if (i + 2 >= len) {
                return NULL;
            }
            hi = hexval((unsigned char)s[i + 1]);
            lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0) {
                return NULL;
            }
            c = hi * 16 + lo;
            i += 3;
        }
        else {
            i++;    /* NUL */
        }
        if (c == 0) {
            return NULL;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

lti_status_t lti_form_parse(apr_pool_t *p, const char *buf, size_t len, int max_params,
                            apr_array_header_t *kv, lti_err_t *err)
{
    size_t i = 0;
    int n = 0;

    while (i < len) {
        const char *amp = memchr(buf + i, '&', len - i), *sep;
        size_t end = amp ? (size_t)(amp - buf) : len, eq;
        char *key, *val;

        if (end > i) {
            if (++n > max_params) {
                return lti_err_set(err, LTI_ERR_TOO_LARGE, "form_too_many_params",
                                   "the form has more than %d parameters", max_params);
            }
            sep = memchr(buf + i, '=', end - i);
            eq = sep ? (size_t)(sep - buf) : end;
            key = form_decode(p, buf + i, eq - i);
            val = eq < end ? form_decode(p, buf + eq + 1, end - eq - 1) : apr_pstrdup(p, "");
            if (key == NULL || val == NULL) {
                return lti_err_set(err, LTI_ERR_MALFORMED, "form_bad_encoding",
                                   "the form data has a bad %%-escape or a NUL byte");
            }
            lti_kv_t *e = apr_array_push(kv);
            e->key = key;
            e->val = val;
        }
        i = end + 1;
    }
    return LTI_OK;
}

const char *lti_pct_encode(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(s);
    char *out = apr_palloc(p, len * 3 + 1);
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        }
        else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

int lti_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen) {
        /* Still touch a's bytes so timing does not depend on where they differ. */
        (void)CRYPTO_memcmp(a, a, alen);
        return 0;
    }
    return CRYPTO_memcmp(a, b, alen) == 0;
}

int lti_ct_streq(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return 0;
    }
    return lti_ct_equal(a, strlen(a), b, strlen(b));
}

lti_status_t lti_random(void *buf, size_t n, lti_err_t *err)
{
    if (RAND_bytes(buf, (int)n) != 1) {
        return lti_err_set(err, LTI_ERR_CRYPTO, "random_failed", "RAND_bytes failed");
    }
    return LTI_OK;
}

const char *lti_hex(apr_pool_t *p, const unsigned char *buf, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char *out = apr_palloc(p, len * 2 + 1);

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex[buf[i] >> 4];
        out[2 * i + 1] = hex[buf[i] & 15];
    }
    out[len * 2] = '\0';
    return out;
}

const char *lti_random_hex(apr_pool_t *p, size_t nbytes)
{
    unsigned char buf[64];

    if (nbytes > sizeof(buf) || lti_random(buf, nbytes, NULL) != LTI_OK) {
        return NULL;
    }
    return lti_hex(p, buf, nbytes);
}

const char *lti_sha256_hex(apr_pool_t *p, const void *buf, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(buf, len, md, &mdlen, sha256_md ? sha256_md : EVP_sha256(), NULL) != 1) {
        return NULL;
    }
    return lti_hex(p, md, mdlen);
}

const char *lti_base64(apr_pool_t *p, const unsigned char *buf, size_t len)
{
    char *out = apr_palloc(p, (apr_size_t)apr_base64_encode_len((int)len));

    apr_base64_encode_binary(out, buf, (int)len);
    return out;
}

const char *lti_base64url(apr_pool_t *p, const unsigned char *buf, size_t len)
{
    char *s = (char *)lti_base64(p, buf, len);

    for (char *c = s; *c; c++) {
        if (*c == '+') {
            *c = '-';
        }
        else if (*c == '/') {
            *c = '_';
        }
        else if (*c == '=') {
            *c = '\0';
            break;
        }
    }
    return s;
}

int lti_parse_int64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    /* strtoll would skip leading white space: the number must span the whole string. */
    if (s == NULL || !(isdigit((unsigned char)*s) || *s == '-')) {
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

int lti_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i];
        size_t n;
        unsigned cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        }
        else {
            return 0;
        }
        if (i + n >= len) {
            return 0;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF))
            || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return 0;
        }
        i += n + 1;
    }
    return 1;
}

int lti_is_http_url(apr_pool_t *p, const char *url)
{
    apr_uri_t u;

    if (url == NULL || apr_uri_parse(p, url, &u) != APR_SUCCESS || u.scheme == NULL
        || u.hostname == NULL || *u.hostname == '\0') {
        return 0;
    }
    return strcasecmp(u.scheme, "https") == 0 || strcasecmp(u.scheme, "http") == 0;
}
