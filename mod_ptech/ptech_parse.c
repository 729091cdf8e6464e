/* ptech_parse.c -- pure parsers for directive values (no httpd headers: unit-tested). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_uri.h>
#include <openssl/evp.h>

#include "ptech_parse.h"

const char *ptech_parse_duration(apr_pool_t *p, const char *arg, int64_t max_seconds,
                                 int64_t *out)
{
    char *end;
    long long v;
    int64_t mult = 1;

    if (arg == NULL || !isdigit((unsigned char)arg[0])) {
        return apr_psprintf(p, "'%s' is not a duration (a number with s, m, h or d)",
                            arg ? arg : "");
    }
    errno = 0;
    v = strtoll(arg, &end, 10);
    if (errno != 0) {
        return apr_psprintf(p, "'%s' is too large", arg);
    }
    if (*end != '\0') {
        if (end[1] != '\0') {
            return apr_psprintf(p, "'%s': unknown unit (use s, m, h or d)", arg);
        }
        switch (*end) {
        case 's': mult = 1; break;
        case 'm': mult = 60; break;
        case 'h': mult = 3600; break;
        case 'd': mult = 86400; break;
        default:
            return apr_psprintf(p, "'%s': unknown unit (use s, m, h or d)", arg);
        }
    }
    if (v <= 0) {
        return apr_psprintf(p, "'%s' must be greater than zero", arg);
    }
    if (v > max_seconds / mult) {
        return apr_psprintf(p, "'%s' is longer than the maximum of %" APR_INT64_T_FMT
                            " seconds", arg, (apr_int64_t)max_seconds);
    }
    *out = (int64_t)v * mult;
    return NULL;
}

const char *ptech_parse_dsn(apr_pool_t *p, const char *arg, const char **scheme,
                            const char **rest)
{
    if (strncmp(arg, "sqlite3:", 8) == 0) {
        if (arg[8] != '/') {
            return apr_psprintf(p, "'%s': the SQLite path must be absolute "
                                "(sqlite3:/var/lib/ptech/ptech.db)", arg);
        }
        *scheme = "sqlite3";
        *rest = apr_pstrdup(p, arg + 8);
        return NULL;
    }
    if (strncmp(arg, "pgsql:", 6) == 0) {
        if (arg[6] == '\0') {
            return apr_psprintf(p, "'%s': empty PostgreSQL conninfo", arg);
        }
        *scheme = "pgsql";
        *rest = apr_pstrdup(p, arg + 6);
        return NULL;
    }
    return apr_psprintf(p, "'%s' is not a store DSN (sqlite3:/path/to/ptech.db or "
                        "pgsql:host=... dbname=...)", arg);
}

static const char *parse_http_url(apr_pool_t *p, const char *arg, apr_uri_t *u)
{
    if (apr_uri_parse(p, arg, u) != APR_SUCCESS || u->scheme == NULL || u->hostname == NULL
        || u->hostname[0] == '\0') {
        return apr_psprintf(p, "'%s' is not an absolute URL", arg);
    }
    if (strcasecmp(u->scheme, "https") != 0 && strcasecmp(u->scheme, "http") != 0) {
        return apr_psprintf(p, "'%s': the scheme must be http or https", arg);
    }
    if (u->user != NULL || u->password != NULL) {
        return apr_psprintf(p, "'%s': a URL with a user or password is not allowed", arg);
    }
    for (const char *c = arg; *c; c++) {
        if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f) {
            return apr_psprintf(p, "'%s': a URL may not contain spaces or control "
                                "characters", arg);
        }
    }
    return NULL;
}

const char *ptech_parse_base_url(apr_pool_t *p, const char *arg, const char **out)
{
    apr_uri_t u;
    const char *e = parse_http_url(p, arg, &u);
    char *s;
    size_t n;

    if (e != NULL) {
        return e;
    }
    if (u.query != NULL || u.fragment != NULL) {
        return apr_psprintf(p, "'%s': the public URL may not have a query or fragment", arg);
    }
    /* The tool lives at /ptech/ of the public URL: a proxy that adds a path prefix would
     * need cookie paths and links rewritten, so it is refused rather than half-supported. */
    if (u.path != NULL && strspn(u.path, "/") != strlen(u.path)) {
        return apr_psprintf(p, "'%s': a path is not allowed; the public URL is "
                            "scheme://host[:port] only and the tool is always under /ptech/",
                            arg);
    }
    s = apr_pstrdup(p, arg);
    n = strlen(s);
    while (n > 0 && s[n - 1] == '/') {
        s[--n] = '\0';
    }
    *out = s;
    return NULL;
}

const char *ptech_parse_url(apr_pool_t *p, const char *arg, const char **out)
{
    apr_uri_t u;
    const char *e = parse_http_url(p, arg, &u);

    if (e != NULL) {
        return e;
    }
    if (u.fragment != NULL) {
        return apr_psprintf(p, "'%s': a URL here may not have a fragment", arg);
    }
    *out = apr_pstrdup(p, arg);
    return NULL;
}

const char *ptech_parse_host(apr_pool_t *p, const char *arg, const char **out)
{
    size_t n = strlen(arg);
    char *h;

    if (n == 0 || n > 253) {
        return apr_psprintf(p, "'%s' is not a host name", arg);
    }
    h = apr_pstrdup(p, arg);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];

        if (!(isalnum(c) || c == '-' || c == '.')) {
            return apr_psprintf(p, "'%s' is not a host name (letters, digits, '-', '.'; "
                                "no scheme, port or path)", arg);
        }
        h[i] = (char)tolower(c);
    }
    if (h[0] == '.' || h[0] == '-' || h[n - 1] == '.' || strstr(h, "..") != NULL) {
        return apr_psprintf(p, "'%s' is not a host name", arg);
    }
    *out = h;
    return NULL;
}

const char *ptech_parse_secret_key(apr_pool_t *p, const char *buf, size_t len,
                                   unsigned char key[32])
{
    unsigned int mdlen = 0;

    if (len < 32) {
        return apr_psprintf(p, "the secret key file holds %lu bytes; it needs at least 32 "
                            "(create one with: openssl rand -hex 32 > FILE)",
                            (unsigned long)len);
    }
    if (EVP_Digest(buf, len, key, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        return "cannot hash the secret key file (OpenSSL)";
    }
    return NULL;
}
