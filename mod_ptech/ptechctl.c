/* ptechctl.c -- the admin CLI.  Links liblti only (never httpd), works on the same store
 * while httpd runs.  Lists print one row a line, tab-separated, no header.  Exit 0 on
 * success, 1 when the command failed, 2 for a usage error; errors are one line on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <apr_uri.h>

#include "lti.h"
#include "ptech_parse.h"

#define EXIT_USAGE 2

static const char usage[] =
    "usage: ptechctl [--db DSN] COMMAND ...\n"
    "  DSN is sqlite3:/path/to/ptech.db or pgsql:CONNINFO (default: $PTECH_DB)\n"
    "commands:\n"
    "  migrate                              bring the store's schema up to date\n"
    "  consumer add KEY --secret S [--replace]   add an LTI 1.1 consumer (S '-' reads stdin)\n"
    "  consumer list                        key and creation time, one a line\n"
    "  consumer remove KEY\n"
    "  catalog load FILE                    validate FILE and make it the store's catalog\n"
    "  catalog list                         course id and French title, one a line\n"
    "  platform add --issuer ISS --client-id ID --auth-url U --token-url U --jwks-url U\n"
    "               [--deployment D]...     register an LTI 1.3 platform (Moodle)\n"
    "  platform list                        issuer, client id, deployments, URLs\n"
    "  platform remove --issuer ISS --client-id ID\n"
    "  keys list                            kid, state (current/next/retired), created\n"
    "  keys rotate                          next key becomes current (no restart needed)\n"
    "  progress import FILE.csv [--dry-run] check and apply progress (user,course,module,\n"
    "                                       status,score,date); any bad line: nothing applied\n"
    "  provider add NAME                    add an xAPI content provider; prints its secret\n"
    "                                       once (HTTP Basic NAME:SECRET)\n"
    "  provider list                        name and creation time, one a line\n"
    "  provider remove NAME\n"
    "  outbox list [--pending|--failed]     grade returns: id, state, kind, user id, email,\n"
    "                                       course, score, attempts, updated, reason\n"
    "  outbox retry ID|--all-failed         send a failed grade return again\n"
    "  outbox purge --sent-before DATE      delete grade returns sent before DATE\n"
    "  badges list                          badges awarded: id, user id, email, course,\n"
    "                                       issued, revoked (date or -), revocation reason\n"
    "  badges revoke ID --reason TEXT       revoke a badge (its assertion answers 410, its\n"
    "                                       certificate of completion says revoked)\n";

typedef struct ctl_t {
    apr_pool_t *pool;
    const char *dsn;
    lti_store_t *store;
    int argc;
    const char **argv;
} ctl_t;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;

    fputs("ptechctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_FAILURE;
}

static int usage_error(const char *what)
{
    fprintf(stderr, "ptechctl: %s\n%s", what, usage);
    return EXIT_USAGE;
}

static const char *iso_time(apr_pool_t *p, int64_t t)
{
    char buf[32];
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return apr_pstrdup(p, buf);
}

/* Opens the store and brings it up to date (every command but migrate needs the schema). */
static int open_store(ctl_t *c, int migrate)
{
    const char *scheme, *rest, *e;
    lti_err_t err;
    int from, to;

    if (c->dsn == NULL || *c->dsn == '\0') {
        fprintf(stderr, "ptechctl: no store: give --db DSN or set PTECH_DB\n");
        return EXIT_USAGE;
    }
    if ((e = ptech_parse_dsn(c->pool, c->dsn, &scheme, &rest)) != NULL) {
        fprintf(stderr, "ptechctl: %s\n", e);
        return EXIT_USAGE;
    }
    if (lti_store_open(c->pool, c->dsn, &c->store, &err) != LTI_OK) {
        return fail("%s", err.text);
    }
    if (migrate && lti_store_migrate(c->store, &from, &to, &err) != LTI_OK) {
        return fail("%s", err.text);
    }
    return EXIT_SUCCESS;
}

static int cmd_migrate(ctl_t *c)
{
    lti_err_t err;
    int from, to, rv;

    if (c->argc != 0) {
        return usage_error("migrate takes no argument");
    }
    if ((rv = open_store(c, 0)) != EXIT_SUCCESS) {
        return rv;
    }
    if (lti_store_migrate(c->store, &from, &to, &err) != LTI_OK) {
        return fail("%s", err.text);
    }
    if (from == to) {
        printf("schema is up to date (version %d)\n", to);
    }
    else {
        printf("schema migrated from version %d to %d\n", from, to);
    }
    return EXIT_SUCCESS;
}

static const char *read_stdin_line(apr_pool_t *p)
{
    char buf[1024];
    size_t n;

    if (fgets(buf, sizeof(buf), stdin) == NULL) {
        return NULL;
    }
    n = strcspn(buf, "\r\n");
    buf[n] = '\0';
    return apr_pstrdup(p, buf);
}

static int cmd_consumer(ctl_t *c)
{
    const char *sub = c->argc > 0 ? c->argv[0] : NULL;
    lti_err_t err;
    int rv;

    if (sub == NULL) {
        return usage_error("consumer needs add, list or remove");
    }
    if (strcmp(sub, "add") == 0) {
        const char *key = NULL, *secret = NULL;
        int replace = 0;

        for (int i = 1; i < c->argc; i++) {
            if (strcmp(c->argv[i], "--secret") == 0 && i + 1 < c->argc) {
                secret = c->argv[++i];
            }
            else if (strcmp(c->argv[i], "--replace") == 0) {
                replace = 1;
            }
            else if (c->argv[i][0] != '-' && key == NULL) {
                key = c->argv[i];
            }
            else {
                return usage_error(apr_psprintf(c->pool, "consumer add: unexpected '%s'",
                                                c->argv[i]));
            }
        }
        if (key == NULL || secret == NULL) {
            return usage_error("consumer add KEY --secret S [--replace]");
        }
        if (strcmp(secret, "-") == 0 && (secret = read_stdin_line(c->pool)) == NULL) {
            return fail("no secret on standard input");
        }
        if (*key == '\0' || strlen(key) > 255) {
            return fail("the consumer key must be 1 to 255 bytes");
        }
        for (const char *k = key; *k; k++) {
            if ((unsigned char)*k <= ' ' || *k == 0x7f) {
                return fail("the consumer key may not contain spaces or control characters");
            }
        }
        if (strlen(secret) < 16) {
            return fail("the secret must be at least 16 characters (openssl rand -hex 24)");
        }
        if ((rv = open_store(c, 1)) != EXIT_SUCCESS) {
            return rv;
        }
        if (lti_store_consumer_add(c->store, key, secret, replace, apr_time_sec(apr_time_now()),
                                   &err) != LTI_OK) {
            return fail("%s", err.text);
        }
        printf("consumer %s %s\n", key, replace ? "secret replaced" : "added");
        return EXIT_SUCCESS;
    }
    if (strcmp(sub, "list") == 0) {
        apr_array_header_t *list;

        if (c->argc != 1) {
            return usage_error("consumer list takes no argument");
        }
        if ((rv = open_store(c, 1)) != EXIT_SUCCESS) {
            return rv;
        }
        if (lti_store_consumer_list(c->store, c->pool, &list, &err) != LTI_OK) {
            return fail("%s", err.text);
        }
        for (int i = 0; i < list->nelts; i++) {
            const lti_consumer_t *e = &APR_ARRAY_IDX(list, i, lti_consumer_t);

            printf("%s\t%s\n", e->key, iso_time(c->pool, e->created));
        }
        return EXIT_SUCCESS;
    }
    if (strcmp(sub, "remove") == 0) {
        if (c->argc != 2) {
            return usage_error("consumer remove KEY");
        }
        if ((rv = open_store(c, 1)) != EXIT_SUCCESS) {
            return rv;
        }
        if (lti_store_consumer_remove(c->store, c->argv[1], &err) != LTI_OK) {
            return fail("%s", err.text);
        }
        printf("consumer %s removed\n", c->argv[1]);
        return EXIT_SUCCESS;
    }
    return usage_error(apr_psprintf(c->pool, "unknown consumer command '%s'", sub));
}

static int cmd_catalog(ctl_t *c)
{
    const char *sub = c->argc > 0 ? c->argv[0] : NULL;
    lti_catalog_t *cat;
    lti_err_t err;
    int rv;

    if (sub == NULL) {
        return usage_error("catalog needs load or list");
    }
    if (strcmp(sub, "load") == 0) {
        const char *xml;
        int changed = 0;

        if (c->argc != 2) {
            return usage_error("catalog load FILE");
        }
        /* Validate before touching the store: a bad file changes nothing. */
        if (lti_catalog_load_file(c->pool, c->argv[1], &cat, &xml, &err) != LTI_OK) {
            return fail("%s", err.text);
        }
        if ((rv = open_store(c, 1)) != EXIT_SUCCESS) {
            return rv;
        }
        if (lti_store_catalog_put(c->store, cat->sha256, c->argv[1], xml,
                                  apr_time_sec(apr_time_now()), &changed, &err) != LTI_OK) {
            return fail("%s", err.text);
        }
        printf("catalog %s: %d courses, %s\n", c->argv[1], cat->ncourses,
               changed ? "loaded" : "unchanged (already the current catalog)");
        return EXIT_SUCCESS;
    }
    if (strcmp(sub, "list") == 0) {
        lti_catalog_rev_t rev;

        if (c->argc != 1) {
            return usage_error("catalog list takes no argument");
        }
        if ((rv = open_store(c, 1)) != EXIT_SUCCESS) {
            return rv;
        }
        if (lti_store_catalog_current(c->store, c->pool, 1, &rev, &err) != LTI_OK
            || lti_catalog_parse(c->pool, rev.xml, strlen(rev.xml), "store", &cat, &err)
                   != LTI_OK) {
            return fail("%s", err.text);
        }
        for (int i = 0; i < cat->ncourses; i++) {
            printf("%s\t%s\n", cat->courses[i].id, cat->courses[i].title.fr);
        }
        return EXIT_SUCCESS;
    }
    return usage_error(apr_psprintf(c->pool, "unknown catalog command '%s'", sub));
}

/* Whether url is plain http to 127.0.0.1, ::1 or localhost (the host compared whole). */
static int is_loopback_http(apr_pool_t *p, const char *url)
{
    apr_uri_t u;

    return apr_uri_parse(p, url, &u) == APR_SUCCESS && u.scheme && u.hostname
           && strcasecmp(u.scheme, "http") == 0
           && (strcmp(u.hostname, "127.0.0.1") == 0 || strcmp(u.hostname, "::1") == 0
               || strcasecmp(u.hostname, "localhost") == 0);
}

/* A platform URL: https, or http to the loopback (tests, demo; the module still refuses it
 * unless PTechAllowInsecureLoopback is On). */
static const char *check_platform_url(apr_pool_t *p, const char *what, const char *url)
{
    const char *out, *e = ptech_parse_url(p, url, &out);

    if (e != NULL) {
        return apr_psprintf(p, "%s: %s", what, e);
    }
    if (strncmp(url, "https://", 8) != 0 && !is_loopback_http(p, url)) {
        return apr_psprintf(p, "%s: '%s' must be https (plain http only to the loopback)",
                            what, url);
    }
    return NULL;
}

static int cmd_platform(ctl_t *c)
{
    const char *sub = c->argc > 0 ? c->argv[0] : NULL;
    lti_platform_t pf;
    lti_err_t err;
    int rv;

    if (sub == NULL) {
        return usage_error("platform needs add, list or remove");
    }
    memset(&pf, 0, sizeof(pf));
    pf.deployments = apr_array_make(c->pool, 2, sizeof(const char *));
    if (strcmp(sub, "add") == 0 || strcmp(sub, "remove") == 0) {
        int add = strcmp(sub, "add") == 0;
        struct {
            const char *flag, **dst;
        } opts[] = {{"--issuer", &pf.issuer}, {"--client-id", &pf.client_id},
                    {"--auth-url", &pf.auth_url}, {"--token-url", &pf.token_url},
                    {"--jwks-url", &pf.jwks_url}};
        const int nopts = add ? 5 : 2;

        for (int i = 1; i < c->argc; i++) {
            int matched = 0;

            for (int k = 0; k < nopts && !matched; k++) {
                if (strcmp(c->argv[i], opts[k].flag) == 0 && i + 1 < c->argc) {
                    *opts[k].dst = c->argv[++i];
                    matched = 1;
                }
            }
            if (!matched && add && strcmp(c->argv[i], "--deployment") == 0 && i + 1 < c->argc) {
                APR_ARRAY_PUSH(pf.deployments, const char *) = c->argv[++i];
                matched = 1;
            }
            if (!matched) {
                return usage_error(apr_psprintf(c->pool, "platform %s: unexpected '%s'", sub,
                                                c->argv[i]));
            }
        }
        for (int k = 0; k < nopts; k++) {
            if (*opts[k].dst == NULL || **opts[k].dst == '\0') {
                return usage_error(apr_psprintf(c->pool, "platform %s needs %s", sub,
                                                opts[k].flag));
            }
        }
        if (add) {
            const char *e = check_platform_url(c->pool, "--issuer", pf.issuer);

            e = e ? e : check_platform_url(c->pool, "--auth-url", pf.auth_url);
            e = e ? e : check_platform_url(c->pool, "--token-url", pf.token_url);
            e = e ? e : check_platform_url(c->pool, "--jwks-url", pf.jwks_url);
            if (e != NULL) {
                return fail("%s", e);
            }
            for (int i = 0; i < pf.deployments->nelts; i++) {
                const char *d = APR_ARRAY_IDX(pf.deployments, i, const char *);

                if (*d == '\0' || strlen(d) > 255) {
                    return fail("a deployment id must be 1 to 255 bytes");
                }
            }
        }
        if ((rv = open_store(c, 1)) != EXIT_SUCCESS) {
            return rv;
        }
        if (add) {
            if (lti_store_platform_add(c->store, &pf, apr_time_sec(apr_time_now()), &err)
                != LTI_OK) {
                return fail("%s", err.text);
            }
            printf("platform %s (client id %s) added with %d deployment(s)\n", pf.issuer,
                   pf.client_id, pf.deployments->nelts);
        }
        else {
            if (lti_store_platform_remove(c->store, pf.issuer, pf.client_id, &err) != LTI_OK) {
                return fail("%s", err.text);
            }
            printf("platform %s (client id %s) removed\n", pf.issuer, pf.client_id);
        }
        return EXIT_SUCCESS;
    }
    if (strcmp(sub, "list") == 0) {
        apr_array_header_t *list;

        if (c->argc != 1) {
            return usage_error("platform list takes no argument");
        }
        if ((rv = open_store(c, 1)) != EXIT_SUCCESS) {
            return rv;
        }
        if (lti_store_platform_list(c->store, c->pool, &list, &err) != LTI_OK) {
            return fail("%s", err.text);
        }
        for (int i = 0; i < list->nelts; i++) {
            const lti_platform_t *e = &APR_ARRAY_IDX(list, i, lti_platform_t);
            const char *deps = apr_array_pstrcat(c->pool, e->deployments, ',');

            printf("%s\t%s\t%s\t%s\t%s\t%s\n", e->issuer, e->client_id, *deps ? deps : "-",
                   e->auth_url, e->token_url, e->jwks_url);
        }
        return EXIT_SUCCESS;
    }
    return usage_error(apr_psprintf(c->pool, "unknown platform command '%s'", sub));
}

static int cmd_keys(ctl_t *c)
{
    const char *sub = c->argc > 0 ? c->argv[0] : NULL;
    lti_err_t err;
    int rv;

    if (sub == NULL || c->argc != 1
        || (strcmp(sub, "list") != 0 && strcmp(sub, "rotate") != 0)) {
        return usage_error("keys list | keys rotate");
    }
    if ((rv = open_store(c, 1)) != EXIT_SUCCESS) {
        return rv;
    }
    if (strcmp(sub, "list") == 0) {
        apr_array_header_t *keys;

        if (lti_store_key_list(c->store, c->pool, &keys, &err) != LTI_OK) {
            return fail("%s", err.text);
        }
        for (int i = 0; i < keys->nelts; i++) {
            const lti_toolkey_t *k = &APR_ARRAY_IDX(keys, i, lti_toolkey_t);

            printf("%s\t%s\t%s\n", k->kid, k->state, iso_time(c->pool, k->created));
        }
        return EXIT_SUCCESS;
    }
    /* httpd makes the new next key (it holds the secret key that seals it). */
    if (lti_store_key_rotate(c->store, apr_time_sec(apr_time_now()), &err) != LTI_OK) {
        return fail("%s", err.text);
    }
    printf("keys rotated: the next key is now current; httpd makes a new next key\n");
    return EXIT_SUCCESS;
}

/* Reads a whole file (at most max bytes) into p, NUL-terminated. */
static int read_file(apr_pool_t *p, const char *path, size_t max, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    size_t n;

    if (f == NULL || fstat(fileno(f), &st) != 0) {
        int e = errno;

        if (f) {
            fclose(f);
        }
        return fail("cannot read %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        fclose(f);
        return fail("%s: not a regular file or larger than %lu MB", path,
                    (unsigned long)(max >> 20));
    }
    *buf = apr_palloc(p, (size_t)st.st_size + 1);
    n = fread(*buf, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        fclose(f);
        return fail("cannot read %s", path);
    }
    fclose(f);
    (*buf)[n] = '\0';
    *len = n;
    return EXIT_SUCCESS;
}

/* The store's current catalog, parsed. */
static int store_catalog(ctl_t *c, lti_catalog_t **cat)
{
    lti_catalog_rev_t rev;
    lti_err_t err;

    if (lti_store_catalog_current(c->store, c->pool, 1, &rev, &err) != LTI_OK
        || lti_catalog_parse(c->pool, rev.xml, strlen(rev.xml), "store", cat, &err) != LTI_OK) {
        return fail("%s", err.text);
    }
    return EXIT_SUCCESS;
}

static int cmd_progress(ctl_t *c)
{
    const char *file = NULL;
    int dry = 0, rv;
    char *buf = NULL;
    size_t len = 0;
    lti_catalog_t *cat;
    apr_array_header_t *rows, *problems;
    lti_progress_stats_t st;
    lti_err_t err;

    if (c->argc < 1 || strcmp(c->argv[0], "import") != 0) {
        return usage_error("progress import FILE.csv [--dry-run]");
    }
    for (int i = 1; i < c->argc; i++) {
        if (strcmp(c->argv[i], "--dry-run") == 0) {
            dry = 1;
        }
        else if (file == NULL && (c->argv[i][0] != '-' || c->argv[i][1] == '\0')) {
            file = c->argv[i];
        }
        else {
            return usage_error(apr_psprintf(c->pool, "progress import: unexpected '%s'",
                                            c->argv[i]));
        }
    }
    if (file == NULL) {
        return usage_error("progress import FILE.csv [--dry-run]");
    }
    if ((rv = read_file(c->pool, file, LTI_PROGRESS_CSV_MAX, &buf, &len)) != EXIT_SUCCESS) {
        return rv;
    }
    if ((rv = open_store(c, 1)) != EXIT_SUCCESS || (rv = store_catalog(c, &cat)) != EXIT_SUCCESS) {
        return rv;
    }
    if (lti_progress_parse_csv(c->pool, cat, file, buf, len, &rows, &problems, &err) != LTI_OK) {
        for (int i = 0; i < problems->nelts; i++) {
            fprintf(stderr, "%s\n", APR_ARRAY_IDX(problems, i, const char *));
        }
        return fail("%s: %s", file, err.text);
    }
    if (dry) {
        printf("%s: %d row(s) valid; dry run, nothing applied\n", file, rows->nelts);
        return EXIT_SUCCESS;
    }
    if (lti_store_progress_record(c->store, c->pool, rows, apr_time_sec(apr_time_now()),
                                  lti_progress_result_fn, cat, &st, &err) != LTI_OK) {
        return fail("%s", err.text);
    }
    printf("%s: %d row(s): %d applied, %d unchanged, %d kept for learners who have not "
           "launched yet; %d course result(s) changed, %d grade return(s) queued\n", file,
           rows->nelts, st.applied, st.unchanged, st.kept, st.results, st.queued);
    return EXIT_SUCCESS;
}

/* xAPI content providers: the secret is made here, printed once, and only its salted hash
 * is stored. */
static int cmd_provider(ctl_t *c)
{
    const char *sub = c->argc > 0 ? c->argv[0] : NULL;
    lti_err_t err;
    int rv;

    if (sub == NULL) {
        return usage_error("provider needs add, list or remove");
    }
    if (strcmp(sub, "add") == 0 || strcmp(sub, "remove") == 0) {
        const char *name = c->argc == 2 ? c->argv[1] : NULL;

        if (name == NULL) {
            return usage_error(apr_psprintf(c->pool, "provider %s NAME", sub));
        }
        if (!lti_xapi_provider_name_ok(name)) {
            return fail("the provider name must be 1 to 64 letters, digits, '.', '_' or '-'");
        }
        if ((rv = open_store(c, 1)) != EXIT_SUCCESS) {
            return rv;
        }
        if (strcmp(sub, "remove") == 0) {
            if (lti_store_xapi_provider_remove(c->store, name, &err) != LTI_OK) {
                return fail("%s", err.text);
            }
            printf("provider %s removed\n", name);
            return EXIT_SUCCESS;
        }
        {
            const char *secret, *hash;

            if (lti_xapi_secret_new(c->pool, &secret, &hash, &err) != LTI_OK
                || lti_store_xapi_provider_add(c->store, name, hash,
                                               apr_time_sec(apr_time_now()), &err) != LTI_OK) {
                return fail("%s", err.text);
            }
            printf("provider %s added; its secret (shown only now, HTTP Basic %s:SECRET):\n"
                   "%s\n", name, name, secret);
        }
        return EXIT_SUCCESS;
    }
    if (strcmp(sub, "list") == 0) {
        apr_array_header_t *list;

        if (c->argc != 1) {
            return usage_error("provider list takes no argument");
        }
        if ((rv = open_store(c, 1)) != EXIT_SUCCESS) {
            return rv;
        }
        if (lti_store_xapi_provider_list(c->store, c->pool, &list, &err) != LTI_OK) {
            return fail("%s", err.text);
        }
        for (int i = 0; i < list->nelts; i++) {
            const lti_xapi_provider_t *e = &APR_ARRAY_IDX(list, i, lti_xapi_provider_t);

            printf("%s\t%s\n", e->name, iso_time(c->pool, e->created));
        }
        return EXIT_SUCCESS;
    }
    return usage_error(apr_psprintf(c->pool, "unknown provider command '%s'", sub));
}

static int cmd_outbox(ctl_t *c)
{
    const char *sub = c->argc > 0 ? c->argv[0] : NULL;
    int64_t now = apr_time_sec(apr_time_now());
    lti_err_t err;
    int rv, count = 0;

    if (sub == NULL) {
        return usage_error("outbox needs list, retry or purge");
    }
    if (strcmp(sub, "list") == 0) {
        const char *state = NULL;
        apr_array_header_t *list;

        if (c->argc > 2) {
            return usage_error("outbox list [--pending|--failed]");
        }
        if (c->argc == 2) {
            if (strcmp(c->argv[1], "--pending") == 0) {
                state = "pending";
            }
            else if (strcmp(c->argv[1], "--failed") == 0) {
                state = "failed";
            }
            else {
                return usage_error("outbox list [--pending|--failed]");
            }
        }
        if ((rv = open_store(c, 1)) != EXIT_SUCCESS) {
            return rv;
        }
        if (lti_store_outbox_list(c->store, c->pool, state, 0, &list, &err) != LTI_OK) {
            return fail("%s", err.text);
        }
        for (int i = 0; i < list->nelts; i++) {
            const lti_outbox_item_t *e = &APR_ARRAY_IDX(list, i, lti_outbox_item_t);
            char *reason = apr_pstrdup(c->pool, e->reason ? e->reason : "-");

            for (char *r = reason; *r; r++) {
                if (*r == '\t' || *r == '\n' || *r == '\r') {
                    *r = ' ';
                }
            }
            printf("%" APR_INT64_T_FMT "\t%s\t%s\t%s\t%s\t%s\t%.4f\t%d\t%s\t%s\n",
                   (apr_int64_t)e->id, e->state, e->kind, e->user_id ? e->user_id : "-",
                   e->email ? e->email : "-", e->course_id, e->score, e->attempts,
                   iso_time(c->pool, e->updated), reason);
        }
        return EXIT_SUCCESS;
    }
    if (strcmp(sub, "retry") == 0) {
        int64_t id = 0;

        if (c->argc != 2 || (strcmp(c->argv[1], "--all-failed") != 0
                             && (lti_parse_int64(c->argv[1], &id) != 0 || id <= 0))) {
            return usage_error("outbox retry ID|--all-failed");
        }
        if ((rv = open_store(c, 1)) != EXIT_SUCCESS) {
            return rv;
        }
        if (lti_store_outbox_retry(c->store, id, now, &count, &err) != LTI_OK) {
            return fail("%s", err.text);
        }
        printf("%d grade return(s) queued again\n", count);
        return EXIT_SUCCESS;
    }
    if (strcmp(sub, "purge") == 0) {
        int64_t before;
        const char *why;

        if (c->argc != 3 || strcmp(c->argv[1], "--sent-before") != 0) {
            return usage_error("outbox purge --sent-before DATE");
        }
        if ((why = lti_progress_parse_date(c->argv[2], &before)) != NULL) {
            return fail("--sent-before '%s': %s", c->argv[2], why);
        }
        if ((rv = open_store(c, 1)) != EXIT_SUCCESS) {
            return rv;
        }
        if (lti_store_outbox_purge(c->store, before, &count, &err) != LTI_OK) {
            return fail("%s", err.text);
        }
        printf("%d sent grade return(s) purged\n", count);
        return EXIT_SUCCESS;
    }
    return usage_error(apr_psprintf(c->pool, "unknown outbox command '%s'", sub));
}

/* Text with tabs and line breaks made spaces, for one tab-separated line. */
static const char *one_field(apr_pool_t *p, const char *s)
{
    char *t = apr_pstrdup(p, s && *s ? s : "-");

    for (char *r = t; *r; r++) {
        if (*r == '\t' || *r == '\n' || *r == '\r') {
            *r = ' ';
        }
    }
    return t;
}

static int cmd_badges(ctl_t *c)
{
    const char *sub = c->argc > 0 ? c->argv[0] : NULL;
    lti_err_t err;
    int rv;

    if (sub == NULL) {
        return usage_error("badges needs list or revoke");
    }
    if (strcmp(sub, "list") == 0) {
        apr_array_header_t *list;

        if (c->argc != 1) {
            return usage_error("badges list takes no argument");
        }
        if ((rv = open_store(c, 1)) != EXIT_SUCCESS) {
            return rv;
        }
        if (lti_store_badge_list(c->store, c->pool, 0, &list, &err) != LTI_OK) {
            return fail("%s", err.text);
        }
        for (int i = 0; i < list->nelts; i++) {
            const lti_badge_award_t *b = &APR_ARRAY_IDX(list, i, lti_badge_award_t);

            printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b->id, one_field(c->pool, b->user_id),
                   one_field(c->pool, b->email), b->course_id, iso_time(c->pool, b->issued),
                   b->revoked ? iso_time(c->pool, b->revoked) : "-",
                   one_field(c->pool, b->revoke_reason));
        }
        return EXIT_SUCCESS;
    }
    if (strcmp(sub, "revoke") == 0) {
        if (c->argc != 4 || strcmp(c->argv[2], "--reason") != 0 || *c->argv[3] == '\0'
            || *c->argv[1] == '\0') {
            return usage_error("badges revoke ID --reason TEXT");
        }
        if ((rv = open_store(c, 1)) != EXIT_SUCCESS) {
            return rv;
        }
        if (lti_store_badge_revoke(c->store, c->argv[1], c->argv[3],
                                   apr_time_sec(apr_time_now()), &err) != LTI_OK) {
            return fail("%s", err.text);
        }
        printf("badge %s revoked\n", c->argv[1]);
        return EXIT_SUCCESS;
    }
    return usage_error(apr_psprintf(c->pool, "unknown badges command '%s'", sub));
}

int main(int argc, const char *const *argv)
{
    ctl_t c;
    int i = 1, rv;

    apr_app_initialize(&argc, &argv, NULL);
    atexit(apr_terminate);
    lti_init();
    memset(&c, 0, sizeof(c));
    apr_pool_create(&c.pool, NULL);
    c.dsn = getenv("PTECH_DB");
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            c.dsn = argv[i + 1];
            i += 2;
        }
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return EXIT_SUCCESS;
        }
        else {
            return usage_error(apr_psprintf(c.pool, "unknown option '%s'", argv[i]));
        }
    }
    if (i >= argc) {
        return usage_error("no command");
    }
    c.argc = argc - i - 1;
    c.argv = (const char **)argv + i + 1;
    if (strcmp(argv[i], "migrate") == 0) {
        rv = cmd_migrate(&c);
    }
    else if (strcmp(argv[i], "consumer") == 0) {
        rv = cmd_consumer(&c);
    }
    else if (strcmp(argv[i], "catalog") == 0) {
        rv = cmd_catalog(&c);
    }
    else if (strcmp(argv[i], "platform") == 0) {
        rv = cmd_platform(&c);
    }
    else if (strcmp(argv[i], "keys") == 0) {
        rv = cmd_keys(&c);
    }
    else if (strcmp(argv[i], "progress") == 0) {
        rv = cmd_progress(&c);
    }
    else if (strcmp(argv[i], "provider") == 0) {
        rv = cmd_provider(&c);
    }
    else if (strcmp(argv[i], "outbox") == 0) {
        rv = cmd_outbox(&c);
    }
    else if (strcmp(argv[i], "badges") == 0) {
        rv = cmd_badges(&c);
    }
    else {
        rv = usage_error(apr_psprintf(c.pool, "unknown command '%s'", argv[i]));
    }
    apr_pool_destroy(c.pool);
    return rv;
}
