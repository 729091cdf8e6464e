/* ptech_parse.h -- pure parsers for directive values.  Each takes the argument string and
 * returns NULL on success (result in *out) or an error message allocated in p that names
 * the problem; none touches httpd, so the unit tests call them directly. */
#ifndef PTECH_PARSE_H
#define PTECH_PARSE_H

#include <stdint.h>

#include <apr_pools.h>

/* A duration: an integer with an optional unit s, m, h or d ("300", "300s", "8h", "7d"),
 * 0 < value <= max_seconds. */
const char *ptech_parse_duration(apr_pool_t *p, const char *arg, int64_t max_seconds,
                                 int64_t *out);

/* A store DSN, "sqlite3:/abs/path" or "pgsql:conninfo"; *scheme is "sqlite3" or "pgsql". */
const char *ptech_parse_dsn(apr_pool_t *p, const char *arg, const char **scheme,
                            const char **rest);

/* The public base URL: scheme://host[:port], no path, query or fragment; a trailing '/'
 * is dropped. */
const char *ptech_parse_base_url(apr_pool_t *p, const char *arg, const char **out);

/* An http(s) URL with a host and optional port, e.g. a proxy or an issuer. */
const char *ptech_parse_url(apr_pool_t *p, const char *arg, const char **out);

/* A DNS host name (letters, digits, '-', '.'), lowercased into *out. */
const char *ptech_parse_host(apr_pool_t *p, const char *arg, const char **out);

/* The secret key file's content: at least 32 bytes.  *key receives a 32-byte key
 * (SHA-256 of the whole content, so any length >= 32 works). */
const char *ptech_parse_secret_key(apr_pool_t *p, const char *buf, size_t len,
                                   unsigned char key[32]);

#endif
