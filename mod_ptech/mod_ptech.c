/* mod_ptech.c -- the module record and its hooks: start-up (store migration, catalog),
 * the per-child store, ownership of /ptech/... without a filesystem walk, dispatch. */
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>   /* mallopt */
#endif

#include <apr_atomic.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <ap_mpm.h>
#include <http_core.h>
#include <mpm_common.h>
#include <unixd.h>

#include <jansson.h>

#include "ptech.h"


/* The child's stores and their parsed platform keys, by DSN: filled in child_init (after
 * fork), read-only afterwards. */
typedef struct child_store_t {
    lti_store_t *store;
    lti_keycache_t *keys;
} child_store_t;

static apr_hash_t *child_stores;
static server_rec *main_server;
static apr_uint32_t last_purge;

int64_t ptech_now(void)
{
    return (int64_t)apr_time_sec(apr_time_now());
}

/* liblti logs through here, under our own tag. */
static void log_bridge(void *baton, lti_log_level_t level, const char *file, int line,
                       const char *msg)
{
    static const int map[] = {APLOG_ERR, APLOG_WARNING, APLOG_INFO, APLOG_DEBUG};

    ap_log_error_(file, line, APLOG_MODULE_INDEX, map[level], 0, main_server,
                  "PT00001: %s", msg);
}

/* Opens the store once as root at start-up: migrate, load the catalog, demo consumer; then
 * gives the SQLite files to the server's user, who opens them in each child. */
static int setup_store(apr_pool_t *ptemp, server_rec *s, ptech_srv_cfg *c)
{
    lti_store_t *store;
    lti_err_t err;
    int from, to;

    lti_err_clear(&err);
    if (lti_store_open(ptemp, c->store_dsn, &store, &err) != LTI_OK
        || lti_store_migrate(store, &from, &to, &err) != LTI_OK) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "PT00002: PTechStore %s: %s",
                     c->store_dsn, err.text);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (c->catalog != NULL) {
        const char *xml;
        lti_catalog_t *again;
        int changed = 0;

        if (lti_catalog_load_file(ptemp, c->catalog_file, &again, &xml, &err) != LTI_OK
            || lti_store_catalog_put(store, again->sha256, c->catalog_file, xml, ptech_now(),
                                     &changed, &err) != LTI_OK) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "PT00003: PTechCatalog %s: %s",
                         c->catalog_file, err.text);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (changed) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                         "PT00004: catalog %s loaded into the store (%d courses)",
                         c->catalog_file, again->ncourses);
        }
    }
    if (ptech_keys_ensure(store, ptemp, c->secret_key, &err) != LTI_OK) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "PT00013: tool keys: %s", err.text);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (ptech_cfg_flag(c->demo_platform) && ptech_demo_setup(store, ptemp, c, &err) != LTI_OK) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "PT00005: demo platform: %s", err.text);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    lti_store_close(store);
    if (geteuid() == 0 && strncmp(c->store_dsn, "sqlite3:", 8) == 0) {
        const char *path = c->store_dsn + 8;
        const char *files[] = {path, apr_pstrcat(ptemp, path, "-wal", NULL),
                               apr_pstrcat(ptemp, path, "-shm", NULL)};

        for (int i = 0; i < 3; i++) {
            if (chown(files[i], ap_unixd_config.user_id, ap_unixd_config.group_id) != 0
                && i == 0) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s,
                             "PT00006: cannot give %s to the server's user", path);
            }
        }
    }
    return OK;
}

static int ptech_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    lti_init();
    return OK;
}

static int ptech_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                             server_rec *s)
{
    apr_hash_t *done = apr_hash_make(ptemp);
    int nstores = 0;

    main_server = s;
    lti_log_set(log_bridge, NULL);
    if (ptech_messages_init(pconf, s) != OK || ptech_badges_init(pconf, s) != OK) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* The first pass only checks the configuration; the real work happens on the second. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    for (server_rec *v = s; v != NULL; v = v->next) {
        ptech_srv_cfg *c = ptech_cfg(v);
        int rv;

        if (c->store_dsn == NULL) {
            continue;
        }
        if (!c->secret_key_set) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v,
                         "PT00007: PTechStore is set but PTechSecretKeyFile is not");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (ptech_cfg_flag(c->registration)
            && (c->registration_issuers == NULL || c->registration_issuers->nelts == 0)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, v, "PT00051: PTechRegistration is On "
                         "without PTechRegistrationIssuers: any platform that reaches "
                         "/ptech/register can register itself");
        }
        if (apr_hash_get(done, c->store_dsn, APR_HASH_KEY_STRING) != NULL) {
            continue;
        }
        apr_hash_set(done, c->store_dsn, APR_HASH_KEY_STRING, "");
        if ((rv = setup_store(ptemp, v, c)) != OK
            || (rv = ptech_worker_setup(pconf, v, nstores++)) != OK) {
            return rv;
        }
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "PT00008: mod_ptech ready");
    return OK;
}

/* glibc hands freed heap back to the kernel (madvise) as soon as 128 KB lie free at the top
 * of an arena.  Under load every burst of frees (JSON, SQLite statements) pays for that, and
 * in a VM each give-back is a TLB shootdown: measured at 30-40 % of an LTI 1.3 launch's CPU.
 * Each arena now keeps up to 8 MB for reuse: a bounded plateau, not growth. */
static void keep_freed_heap(void)
{
#if defined(__GLIBC__) && defined(M_TRIM_THRESHOLD) && defined(M_TOP_PAD)
    mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
    mallopt(M_TOP_PAD, 1024 * 1024);
#endif
}

static void ptech_child_init(apr_pool_t *pchild, server_rec *s)
{
    keep_freed_heap();
    ptech_worker_child_init(pchild);
    child_stores = apr_hash_make(pchild);
    for (server_rec *v = s; v != NULL; v = v->next) {
        ptech_srv_cfg *c = ptech_cfg(v);
        child_store_t *cs;
        lti_err_t err;

        if (c->store_dsn == NULL
            || apr_hash_get(child_stores, c->store_dsn, APR_HASH_KEY_STRING) != NULL) {
            continue;
        }
        cs = apr_pcalloc(pchild, sizeof(*cs));
        if (lti_store_open(pchild, c->store_dsn, &cs->store, &err) != LTI_OK
            || lti_keycache_create(pchild, &cs->keys) != LTI_OK) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, v, "PT00009: cannot open the store %s: %s",
                         c->store_dsn, err.text);
            continue;
        }
        apr_hash_set(child_stores, c->store_dsn, APR_HASH_KEY_STRING, cs);
    }
    /* Without PTechCatalog, the catalog is the store's (ptechctl catalog load). */
    for (server_rec *v = s; v != NULL; v = v->next) {
        ptech_srv_cfg *c = ptech_cfg(v);
        child_store_t *cs;
        lti_catalog_rev_t rev;
        lti_err_t err;

        if (c->catalog != NULL || c->store_dsn == NULL
            || (cs = apr_hash_get(child_stores, c->store_dsn, APR_HASH_KEY_STRING)) == NULL) {
            continue;
        }
        if (lti_store_catalog_current(cs->store, pchild, 1, &rev, &err) != LTI_OK
            || lti_catalog_parse(pchild, rev.xml, strlen(rev.xml), "store", &c->catalog, &err)
                   != LTI_OK) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, v, "PT00012: no catalog: %s", err.text);
        }
    }
}

static child_store_t *child_store(request_rec *r)
{
    ptech_srv_cfg *c = ptech_cfg(r->server);

    if (c->store_dsn == NULL || child_stores == NULL) {
        return NULL;
    }
    return apr_hash_get(child_stores, c->store_dsn, APR_HASH_KEY_STRING);
}

lti_keycache_t *ptech_keycache(request_rec *r)
{
    child_store_t *cs = child_store(r);

    return cs != NULL ? cs->keys : NULL;
}

lti_store_t *ptech_store(request_rec *r)
{
    child_store_t *cs = child_store(r);
    lti_store_t *store = cs != NULL ? cs->store : NULL;
    apr_uint32_t now, prev;

    if (store == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PT00010: the store is not open in this "
                      "process (see the start-up errors)");
        return NULL;
    }
    /* Expired nonces and sessions go once a minute, by whichever thread sees it first. */
    now = (apr_uint32_t)ptech_now();
    prev = apr_atomic_read32(&last_purge);
    if (now - prev >= 60 && apr_atomic_cas32(&last_purge, now, prev) == prev) {
        int n = 0, m = 0;
        lti_err_t err;

        if (lti_store_purge(store, (int64_t)now, &n, &m, &err) == LTI_OK && (n || m)) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                          "PT00011: purged %d expired nonces and %d sessions", n, m);
        }
    }
    return store;
}

static int owns(const char *uri)
{
    return strncmp(uri, PTECH_PREFIX, sizeof(PTECH_PREFIX) - 1) == 0
           && (uri[sizeof(PTECH_PREFIX) - 1] == '\0' || uri[sizeof(PTECH_PREFIX) - 1] == '/');
}

/* /ptech/... is ours: no alias, no file name, no directory walk. */
static int ptech_translate_name(request_rec *r)
{
    if (r->uri == NULL || ptech_cfg(r->server)->store_dsn == NULL || !owns(r->uri)) {
        return DECLINED;
    }
    r->filename = apr_pstrcat(r->pool, "ptech:", r->uri, NULL);
    return OK;
}

static int ptech_map_to_storage(request_rec *r)
{
    if (r->uri == NULL || ptech_cfg(r->server)->store_dsn == NULL || !owns(r->uri)) {
        return DECLINED;
    }
    r->handler = PTECH_HANDLER;
    return OK;
}

static int handle_status(request_rec *r)
{
    lti_store_t *store;
    json_t *o;
    char *s;
    int version = 0;
    int64_t pending = 0, failed = 0;
    lti_err_t err;

    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    store = ptech_store(r);
    if (store == NULL || lti_store_schema_version(store, &version, &err) != LTI_OK
        || lti_store_outbox_depth(store, &pending, &failed, &err) != LTI_OK) {
        r->status = HTTP_SERVICE_UNAVAILABLE;
    }
    /* Grade returns waiting and given up: what IT watches after an LMS outage. */
    o = json_pack("{s:s, s:i, s:i, s:I, s:I}", "status",
                  r->status == HTTP_OK ? "ok" : "store unavailable", "schema", version,
                  "catalog_courses",
                  ptech_cfg(r->server)->catalog ? ptech_cfg(r->server)->catalog->ncourses : 0,
                  "outbox_pending", (json_int_t)pending, "outbox_failed", (json_int_t)failed);
    s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s == NULL) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_rputs(s, r);
    free(s);
    return OK;
}

static int ptech_handler(request_rec *r)
{
    const char *rest;

    if (r->handler == NULL || strcmp(r->handler, PTECH_HANDLER) != 0) {
        return DECLINED;
    }
    rest = r->uri + sizeof(PTECH_PREFIX) - 1;
    if (strcmp(rest, "/status") == 0) {
        return handle_status(r);
    }
    if (strcmp(rest, "/lti11") == 0) {
        return ptech_handle_lti11(r);
    }
    if (strcmp(rest, "/login") == 0) {
        return ptech_handle_login(r);
    }
    if (strcmp(rest, "/launch") == 0) {
        return ptech_handle_launch13(r);
    }
    if (strcmp(rest, "/jwks") == 0) {
        return ptech_handle_jwks(r);
    }
    if (strcmp(rest, "/register") == 0) {
        return ptech_handle_register(r);
    }
    if (strcmp(rest, "/admin") == 0) {
        return ptech_handle_admin(r);
    }
    if (strncmp(rest, "/xapi/", 6) == 0) {
        return ptech_handle_xapi(r, rest + 5);
    }
    if (strcmp(rest, "/deeplink") == 0) {
        return ptech_handle_deeplink(r);
    }
    if (strncmp(rest, "/course", 7) == 0 && (rest[7] == '\0' || rest[7] == '/')) {
        return ptech_handle_course(r, rest + 7);
    }
    if (strncmp(rest, "/badges/", 8) == 0) {
        return ptech_handle_badges(r, rest + 8);
    }
    if (strncmp(rest, "/certificate/", 13) == 0) {
        return ptech_handle_certificate(r, rest + 13);
    }
    if (strncmp(rest, "/static/", 8) == 0) {
        return ptech_handle_static(r, rest + 8);
    }
    if (ptech_cfg_flag(ptech_cfg(r->server)->demo_platform)
        && strncmp(rest, "/demo", 5) == 0 && (rest[5] == '\0' || rest[5] == '/')) {
        return ptech_handle_demo(r, rest + 5);
    }
    return ptech_error_page(r, HTTP_NOT_FOUND, NULL,
                            apr_psprintf(r->pool, "There is no page %s here.", r->uri),
                            "not_found", 0);
}

static void ptech_register_hooks(apr_pool_t *p)
{
    /* Before mod_watchdog starts its threads: the grade return worker reads the catalog
     * ptech_child_init may load. */
    static const char *const before_watchdog[] = {"mod_watchdog.c", NULL};

    ap_hook_pre_config(ptech_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(ptech_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(ptech_child_init, NULL, before_watchdog, APR_HOOK_MIDDLE);
    ap_hook_translate_name(ptech_translate_name, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_map_to_storage(ptech_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(ptech_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(ptech) = {
    STANDARD20_MODULE_STUFF,
    NULL,                   /* per-directory config: none, every directive is server-wide */
    NULL,
    ptech_create_srv_cfg,
    ptech_merge_srv_cfg,
    ptech_cmds,
    ptech_register_hooks,
    AP_MODULE_FLAG_NONE
};
