/* lti_util.h -- small shared helpers: key/value lists, form decoding, compares, random. */
#ifndef LTI_UTIL_H
#define LTI_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <apr_pools.h>
#include <apr_tables.h>

#include "lti_err.h"

/* Process-wide library set-up: OpenSSL without an atexit handler, libxml2's parser tables
 * (whose first initialisation is not thread-safe).  Call once, before any thread starts;
 * calling it again is harmless. */
void lti_init(void);

/* One decoded parameter; arrays of these keep order and duplicates (OAuth needs both). */
typedef struct lti_kv_t {
    const char *key;
    const char *val;
} lti_kv_t;

/* Returns a new empty array of lti_kv_t. */
apr_array_header_t *lti_kv_make(apr_pool_t *p, int nalloc);

/* Appends key=val (both copied into p). */
void lti_kv_add(apr_array_header_t *kv, const char *key, const char *val);

/* Returns the value of the first key, or NULL. */
const char *lti_kv_get(const apr_array_header_t *kv, const char *key);

/* Returns how many times key occurs. */
int lti_kv_count(const apr_array_header_t *kv, const char *key);

/* Decodes application/x-www-form-urlencoded data (len bytes, not NUL-terminated) into kv,
 * appending.  '+' is a space; a bad %-escape, a NUL byte or more than max_params
 * parameters give LTI_ERR_MALFORMED / LTI_ERR_TOO_LARGE. */
lti_status_t lti_form_parse(apr_pool_t *p, const char *buf, size_t len, int max_params,
                            apr_array_header_t *kv, lti_err_t *err);

/* RFC 3986 percent-encoding of the unreserved set (OAuth 1.0a section 3.6). */
const char *lti_pct_encode(apr_pool_t *p, const char *s);

/* Constant-time equality of two byte strings (length differences also take no shortcut
 * through the content).  Returns 1 when equal. */
int lti_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Constant-time equality of NUL-terminated strings; NULL never equals. */
int lti_ct_streq(const char *a, const char *b);

/* Fills buf with n cryptographically random bytes (OpenSSL).  LTI_ERR_CRYPTO on failure. */
lti_status_t lti_random(void *buf, size_t n, lti_err_t *err);

/* Returns a random token of nbytes random bytes as lowercase hex, or NULL on failure. */
const char *lti_random_hex(apr_pool_t *p, size_t nbytes);

/* Lowercase hex of len bytes. */
const char *lti_hex(apr_pool_t *p, const unsigned char *buf, size_t len);

/* Lowercase hex SHA-256 of len bytes. */
const char *lti_sha256_hex(apr_pool_t *p, const void *buf, size_t len);

/* Standard base64 (with padding) of len bytes. */
const char *lti_base64(apr_pool_t *p, const unsigned char *buf, size_t len);

/* base64url without padding (RFC 4648 section 5) of len bytes. */
const char *lti_base64url(apr_pool_t *p, const unsigned char *buf, size_t len);

/* Parses a decimal int64 that must span the whole string; returns 0 on success. */
int lti_parse_int64(const char *s, int64_t *out);

/* Returns 1 if s is valid UTF-8 (no overlongs, no surrogates), else 0. */
int lti_utf8_valid(const char *s, size_t len);

/* Whether url is an absolute http(s) URL with a host (a return or service URL an LMS
 * gave; lti_http_check_url decides whether it may be fetched). */
int lti_is_http_url(apr_pool_t *p, const char *url);

#endif
