/* ptech_config.c -- directives (names defined once, here), create/merge with UNSET sentinels,
 * getters that apply SPEC.md's defaults.  Values are parsed by ptech_parse.c. */
#include <sys/stat.h>

#include <apr_file_io.h>
#include <apr_strings.h>
#include <openssl/crypto.h>

#include "ptech.h"
#include "ptech_parse.h"

#define MAX_DURATION (365LL * 86400)

void *ptech_create_srv_cfg(apr_pool_t *p, server_rec *s)
{
    ptech_srv_cfg *c = apr_pcalloc(p, sizeof(*c));

    c->timestamp_window = c->clock_leeway = c->state_ttl = c->session_ttl = PTECH_UNSET;
    c->jwks_cache_ttl = c->key_overlap = PTECH_UNSET;
    c->outbox_poll = c->outbox_retry_base = c->outbox_max_age = PTECH_UNSET;
    c->http_timeout = PTECH_UNSET;
    c->registration = c->auto_deployments = PTECH_UNSET;
    c->allow_insecure_loopback = c->demo_platform = PTECH_UNSET;
    return c;
}

#define MERGE_PTR(f) c->f = add->f ? add->f : base->f
#define MERGE_VAL(f) c->f = add->f != PTECH_UNSET ? add->f : base->f

void *ptech_merge_srv_cfg(apr_pool_t *p, void *basev, void *addv)
{
    ptech_srv_cfg *base = basev, *add = addv;
    ptech_srv_cfg *c = apr_pcalloc(p, sizeof(*c));

    MERGE_PTR(store_dsn);
    MERGE_PTR(public_url);
    MERGE_PTR(secret_key_file);
    MERGE_PTR(catalog_file);
    MERGE_PTR(catalog);
    MERGE_VAL(timestamp_window);
    MERGE_VAL(clock_leeway);
    MERGE_VAL(state_ttl);
    MERGE_VAL(session_ttl);
    MERGE_VAL(jwks_cache_ttl);
    MERGE_VAL(key_overlap);
    MERGE_VAL(outbox_poll);
    MERGE_VAL(outbox_retry_base);
    MERGE_VAL(outbox_max_age);
    MERGE_VAL(http_timeout);
    MERGE_PTR(ca_file);
    MERGE_PTR(http_proxy);
    MERGE_PTR(badge_issuer_hosts);
    MERGE_PTR(registration_issuers);
    MERGE_VAL(registration);
    MERGE_VAL(auto_deployments);
    MERGE_VAL(allow_insecure_loopback);
    MERGE_VAL(demo_platform);
    /* The secret key is global (GLOBAL_ONLY), so every vhost sees the main server's. */
    c->secret_key_set = add->secret_key_set ? add->secret_key_set : base->secret_key_set;
    memcpy(c->secret_key, add->secret_key_set ? add->secret_key : base->secret_key,
           sizeof(c->secret_key));
    return c;
}

int64_t ptech_cfg_timestamp_window(const ptech_srv_cfg *c)
{
    return c->timestamp_window != PTECH_UNSET ? c->timestamp_window : 300;
}

int64_t ptech_cfg_session_ttl(const ptech_srv_cfg *c)
{
    return c->session_ttl != PTECH_UNSET ? c->session_ttl : 8 * 3600;
}

int ptech_cfg_flag(int v)
{
    return v == PTECH_UNSET ? 0 : v;
}

static ptech_srv_cfg *cfg_of(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &ptech_module);
}

static const char *err_of(cmd_parms *cmd, const char *msg)
{
    return apr_psprintf(cmd->pool, "%s: %s", cmd->directive->directive, msg);
}

static const char *set_store(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *scheme, *rest, *e = ptech_parse_dsn(cmd->pool, arg, &scheme, &rest);

    if (e != NULL) {
        return err_of(cmd, e);
    }
    cfg_of(cmd)->store_dsn = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static const char *set_public_url(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *e = ptech_parse_base_url(cmd->pool, arg, &cfg_of(cmd)->public_url);

    return e ? err_of(cmd, e) : NULL;
}

/* Reads the secret key now: this runs as root, before httpd drops privileges. */
static const char *set_secret_key_file(cmd_parms *cmd, void *dc, const char *arg)
{
    ptech_srv_cfg *c = cfg_of(cmd);
    const char *path, *e;
    apr_file_t *f;
    apr_finfo_t fi;
    char buf[4096];
    apr_size_t n = sizeof(buf);
    apr_status_t rv;

    if ((e = ap_check_cmd_context(cmd, GLOBAL_ONLY)) != NULL) {
        return e;
    }
    path = ap_server_root_relative(cmd->pool, arg);
    if (path == NULL) {
        return err_of(cmd, apr_psprintf(cmd->pool, "invalid path '%s'", arg));
    }
    rv = apr_stat(&fi, path, APR_FINFO_PROT | APR_FINFO_TYPE, cmd->temp_pool);
    if (rv != APR_SUCCESS) {
        return err_of(cmd, apr_psprintf(cmd->pool, "cannot read %s: %pm "
                                        "(create it with: openssl rand -hex 32 > %s; "
                                        "chmod 600 %s)", path, &rv, path, path));
    }
    if (fi.protection & APR_FPROT_WREAD) {
        return err_of(cmd, apr_psprintf(cmd->pool, "%s is readable by every user; "
                                        "chmod 600 %s", path, path));
    }
    rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, cmd->temp_pool);
    if (rv != APR_SUCCESS) {
        return err_of(cmd, apr_psprintf(cmd->pool, "cannot open %s: %pm", path, &rv));
    }
    rv = apr_file_read(f, buf, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        return err_of(cmd, apr_psprintf(cmd->pool, "cannot read %s: %pm", path, &rv));
    }
    e = ptech_parse_secret_key(cmd->temp_pool, buf, n, c->secret_key);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (e != NULL) {
        return err_of(cmd, apr_psprintf(cmd->pool, "%s: %s", path, e));
    }
    c->secret_key_file = path;
    c->secret_key_set = 1;
    return NULL;
}

/* Loads and validates the catalog at config time, so `apachectl -t` reports its errors. */
static const char *set_catalog(cmd_parms *cmd, void *dc, const char *arg)
{
    ptech_srv_cfg *c = cfg_of(cmd);
    const char *path = ap_server_root_relative(cmd->pool, arg);
    lti_err_t err;

    if (path == NULL) {
        return err_of(cmd, apr_psprintf(cmd->pool, "invalid path '%s'", arg));
    }
    if (lti_catalog_load_file(cmd->pool, path, &c->catalog, NULL, &err) != LTI_OK) {
        return err_of(cmd, apr_pstrdup(cmd->pool, err.text));
    }
    c->catalog_file = path;
    return NULL;
}

static const char *set_ca_file(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_finfo_t fi;

    if (path == NULL || apr_stat(&fi, path, APR_FINFO_TYPE, cmd->temp_pool) != APR_SUCCESS
        || fi.filetype != APR_REG) {
        return err_of(cmd, apr_psprintf(cmd->pool, "'%s' is not a readable file", arg));
    }
    cfg_of(cmd)->ca_file = path;
    return NULL;
}

static const char *set_proxy(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *e = ptech_parse_url(cmd->pool, arg, &cfg_of(cmd)->http_proxy);

    return e ? err_of(cmd, e) : NULL;
}

static const char *set_duration(cmd_parms *cmd, void *dc, const char *arg)
{
    int64_t *field = (int64_t *)((char *)cfg_of(cmd) + (apr_size_t)cmd->info);
    const char *e = ptech_parse_duration(cmd->pool, arg, MAX_DURATION, field);

    return e ? err_of(cmd, e) : NULL;
}

static const char *set_flag(cmd_parms *cmd, void *dc, int on)
{
    int *field = (int *)((char *)cfg_of(cmd) + (apr_size_t)cmd->info);

    *field = on ? 1 : 0;
    return NULL;
}

static const char *add_host(cmd_parms *cmd, void *dc, const char *arg)
{
    ptech_srv_cfg *c = cfg_of(cmd);
    const char *host, *e = ptech_parse_host(cmd->pool, arg, &host);

    if (e != NULL) {
        return err_of(cmd, e);
    }
    if (c->badge_issuer_hosts == NULL) {
        c->badge_issuer_hosts = apr_array_make(cmd->pool, 4, sizeof(const char *));
    }
    APR_ARRAY_PUSH(c->badge_issuer_hosts, const char *) = host;
    return NULL;
}

static const char *add_issuer(cmd_parms *cmd, void *dc, const char *arg)
{
    ptech_srv_cfg *c = cfg_of(cmd);
    const char *iss, *e = ptech_parse_url(cmd->pool, arg, &iss);

    if (e != NULL) {
        return err_of(cmd, e);
    }
    if (c->registration_issuers == NULL) {
        c->registration_issuers = apr_array_make(cmd->pool, 4, sizeof(const char *));
    }
    APR_ARRAY_PUSH(c->registration_issuers, const char *) = iss;
    return NULL;
}

#define OFF(f) ((void *)APR_OFFSETOF(ptech_srv_cfg, f))
#define DURATION(name, f, help) AP_INIT_TAKE1(name, set_duration, OFF(f), RSRC_CONF, help)
#define FLAG(name, f, help) AP_INIT_FLAG(name, set_flag, OFF(f), RSRC_CONF, help)

const command_rec ptech_cmds[] = {
    AP_INIT_TAKE1("PTechStore", set_store, NULL, RSRC_CONF,
                  "the store: sqlite3:/path/to/ptech.db or pgsql:CONNINFO"),
    AP_INIT_TAKE1("PTechPublicURL", set_public_url, NULL, RSRC_CONF,
                  "the tool's public base URL as the LMS sees it"),
    AP_INIT_TAKE1("PTechSecretKeyFile", set_secret_key_file, NULL, RSRC_CONF,
                  "root-readable file of at least 32 random bytes (server-wide)"),
    AP_INIT_TAKE1("PTechCatalog", set_catalog, NULL, RSRC_CONF, "path of catalog.xml"),
    DURATION("PTechTimestampWindow", timestamp_window,
             "largest |now - oauth_timestamp| of an LTI 1.1 launch [300s]"),
    DURATION("PTechClockLeeway", clock_leeway, "leeway on id_token exp/iat [60s]"),
    DURATION("PTechStateTTL", state_ttl, "life of an OIDC login state [300s]"),
    DURATION("PTechSessionTTL", session_ttl, "life of a session after a launch [8h]"),
    DURATION("PTechJWKSCacheTTL", jwks_cache_ttl, "longest cache of a platform JWKS [1h]"),
    DURATION("PTechKeyOverlap", key_overlap, "how long a retired tool key stays published [7d]"),
    DURATION("PTechOutboxPoll", outbox_poll, "grade return worker poll interval [2s]"),
    DURATION("PTechOutboxRetryBase", outbox_retry_base, "first grade return retry delay [30s]"),
    DURATION("PTechOutboxMaxAge", outbox_max_age, "age at which a grade return gives up [7d]"),
    DURATION("PTechHTTPTimeout", http_timeout, "timeout of outbound HTTP calls [10s]"),
    AP_INIT_TAKE1("PTechCAFile", set_ca_file, NULL, RSRC_CONF,
                  "CA bundle for outbound HTTPS (default: the system's)"),
    AP_INIT_TAKE1("PTechHTTPProxy", set_proxy, NULL, RSRC_CONF,
                  "proxy URL for outbound HTTP(S)"),
    AP_INIT_ITERATE("PTechBadgeIssuerHost", add_host, NULL, RSRC_CONF,
                    "hosts whose badge assertions count as evidence"),
    FLAG("PTechRegistration", registration, "LTI Dynamic Registration [Off]"),
    AP_INIT_ITERATE("PTechRegistrationIssuers", add_issuer, NULL, RSRC_CONF,
                    "issuers allowed to register by Dynamic Registration"),
    FLAG("PTechAutoDeployments", auto_deployments,
         "accept unknown deployment ids of a known platform [Off]"),
    FLAG("PTechAllowInsecureLoopback", allow_insecure_loopback,
         "allow plain http to 127.0.0.1 platforms and badge issuers [Off]"),
    FLAG("PTechDemoPlatform", demo_platform, "the demo LMS pages [Off]"),
    {NULL},
};
