/* test_store.c -- the store interface over its SQLite backend: opening, migrations, WAL,
 * consumers, catalog revisions, nonces, purge, checkpoints, audit, launch records, sessions,
 * links, LTI 1.3 platforms, tool keys, login states and the platform key cache, and two
 * handles (two processes) on one file.  Each test works in its own database under a
 * temporary folder; sqlite3 is used directly to look behind the interface. */
#include <ftw.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_time.h>
#include <sqlite3.h>

#include "unit.h"

#define NOW ((int64_t)1700000000)

static char tmpdir[] = "/tmp/ptech-store-XXXXXX";
static int dbseq;

static int group_setup(void **state)
{
    if (mkdtemp(tmpdir) == NULL) {
        return -1;
    }
    return unit_group_setup(state);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_teardown(void **state)
{
    int rc = unit_group_teardown(state);

    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

/* A path for a new database file of its own. */
static const char *db_path(apr_pool_t *p)
{
    return apr_psprintf(p, "%s/t%d.db", tmpdir, ++dbseq);
}

/* Opens path through the interface; fails the test on error. */
static lti_store_t *open_at(apr_pool_t *p, const char *path)
{
    lti_store_t *s = NULL;
    lti_err_t err;

    lti_err_clear(&err);
    if (lti_store_open(p, apr_pstrcat(p, "sqlite3:", path, NULL), &s, &err) != LTI_OK) {
        fail_msg("open %s: %s", path, err.text);
    }
    return s;
}

/* Opens and migrates a store at path. */
static lti_store_t *open_migrated(apr_pool_t *p, const char *path)
{
    lti_store_t *s = open_at(p, path);
    lti_err_t err;

    if (lti_store_migrate(s, NULL, NULL, &err) != LTI_OK) {
        fail_msg("migrate %s: %s", path, err.text);
    }
    return s;
}

/* Runs SQL on its own connection to path (as another process would). */
static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg ? msg : "?");
    }
    sqlite3_close(db);
}

/* The first column of the first row of a query, as text (NULL for SQL NULL). */
static const char *raw_text(apr_pool_t *p, const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    const char *v = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    }
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL) {
        v = apr_pstrdup(p, (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static int64_t raw_int(apr_pool_t *p, const char *path, const char *sql)
{
    const char *v = raw_text(p, path, sql);

    return v ? apr_atoi64(v) : -1;
}

/* Fails unless s contains needle. */
static void assert_has(const char *s, const char *needle)
{
    if (s == NULL || strstr(s, needle) == NULL) {
        fail_msg("\"%s\" does not contain \"%s\"", s ? s : "(null)", needle);
    }
}

/* A launch of user by nonce, with a session hash; the rest are fixed demo values. */
static lti_launch_rec_t launch(const char *user, const char *nonce, const char *session)
{
    lti_launch_rec_t r;

    memset(&r, 0, sizeof(r));
    r.tenant = "lti11:moodle";
    r.nonce_scope = "lti11:moodle";
    r.nonce = nonce;
    r.nonce_expires = NOW + 5400;
    r.version = "1.1";
    r.user_id = user;
    r.given_name = "Marie";
    r.family_name = "Curie";
    r.full_name = "Marie Curie";
    r.email = "marie@example.org";
    r.context_id = "ctx1";
    r.context_title = "Physics 101";
    r.context_label = "PHY101";
    r.context_type = "CourseSection";
    r.link_id = "link1";
    r.link_title = "Radioactivity";
    r.roles = LTI_ROLE_LEARNER;
    r.roles_raw = "Learner";
    r.locale = "fr";
    r.result_sourcedid = "src-1";
    r.outcome_url = "https://moodle.example.org/mod/lti/service.php";
    r.session_hash = session;
    r.csrf = "csrf-token";
    r.lms_origin = "https://moodle.example.org";
    r.session_expires = NOW + 28800;
    r.now = NOW;
    return r;
}

static void record(lti_store_t *s, const lti_launch_rec_t *r, lti_launch_ids_t *ids)
{
    lti_err_t err;

    if (lti_store_launch_record(s, r, ids, &err) != LTI_OK) {
        fail_msg("launch_record %s/%s: %s", r->user_id, r->nonce, err.text);
    }
}

/* ---- open ---- */

static void test_open_errors(void **state)
{
    apr_pool_t *p;
    lti_store_t *s = NULL;
    lti_err_t err;
    const char *afile;

    apr_pool_create(&p, *state);

    assert_int_equal(lti_store_open(p, "", &s, &err), LTI_ERR_CONFIG);
    assert_int_equal(lti_store_open(p, NULL, &s, &err), LTI_ERR_CONFIG);

    assert_int_equal(lti_store_open(p, "mysql:x", &s, &err), LTI_ERR_CONFIG);
    assert_int_equal(err.status, LTI_ERR_CONFIG);
    assert_string_equal(err.reason, "store_bad_dsn");
    assert_has(err.text, "mysql:x");
    assert_int_equal(lti_store_open(p, "/abs/ptech.db", &s, &err), LTI_ERR_CONFIG);
    assert_int_equal(lti_store_open(p, "mysql:x", &s, NULL), LTI_ERR_CONFIG);

    assert_int_equal(lti_store_open(p, "pgsql:host=x dbname=ptech", &s, &err), LTI_ERR_CONFIG);
    assert_has(err.text, "no PostgreSQL backend yet");

    assert_int_equal(lti_store_open(p, "sqlite3:rel/ptech.db", &s, &err), LTI_ERR_CONFIG);
    assert_has(err.text, "absolute");
    assert_int_equal(lti_store_open(p, "sqlite3:", &s, &err), LTI_ERR_CONFIG);

    /* No such folder. */
    assert_int_equal(lti_store_open(p, apr_psprintf(p, "sqlite3:%s/none/sub/ptech.db", tmpdir),
                                    &s, &err),
                     LTI_ERR_STORE);
    assert_has(err.text, "/none/sub/ptech.db");

    /* A "folder" that is a file. */
    afile = apr_psprintf(p, "%s/afile", tmpdir);
    {
        FILE *f = fopen(afile, "w");

        assert_non_null(f);
        fclose(f);
    }
    assert_int_equal(lti_store_open(p, apr_pstrcat(p, "sqlite3:", afile, "/ptech.db", NULL),
                                    &s, &err),
                     LTI_ERR_STORE);

    /* A folder, not a file. */
    assert_int_equal(lti_store_open(p, apr_pstrcat(p, "sqlite3:", tmpdir, NULL), &s, &err),
                     LTI_ERR_STORE);

    /* A file that is not a database. */
    {
        const char *junk = apr_psprintf(p, "%s/junk.db", tmpdir);
        FILE *f = fopen(junk, "w");

        assert_non_null(f);
        for (int i = 0; i < 200; i++) {
            fputs("this is not an SQLite database, just some text\n", f);
        }
        fclose(f);
        assert_int_equal(lti_store_open(p, apr_pstrcat(p, "sqlite3:", junk, NULL), &s, &err),
                         LTI_ERR_STORE);
        assert_string_equal(err.reason, "store_open");
    }

    /* A folder we may not write to.  Root writes anywhere, so root tries it as nobody. */
    {
        const char *ro = apr_psprintf(p, "%s/ro", tmpdir);
        int root = geteuid() == 0;
        lti_status_t rv;

        assert_int_equal(mkdir(ro, 0555), 0);
        if (root) {
            assert_int_equal(chmod(tmpdir, 0711), 0);       /* nobody may pass through */
            assert_int_equal(seteuid(65534), 0);
        }
        rv = lti_store_open(p, apr_pstrcat(p, "sqlite3:", ro, "/ptech.db", NULL), &s, &err);
        if (root) {
            assert_int_equal(seteuid(0), 0);
            chmod(tmpdir, 0700);
        }
        assert_int_equal(rv, LTI_ERR_STORE);
        assert_string_equal(err.reason, "store_open");
        chmod(ro, 0755);
    }
    apr_pool_destroy(p);
}

/* ---- migrations ---- */

static void test_migrate_empty(void **state)
{
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    lti_err_t err;
    int from = -1, to = -1, v = -1;

    apr_pool_create(&p, *state);
    path = db_path(p);
    s = open_at(p, path);
    assert_string_equal(s->dsn, apr_pstrcat(p, "sqlite3:", path, NULL));
    assert_int_equal(lti_store_schema_version(s, &v, &err), LTI_OK);
    assert_int_equal(v, 0);

    assert_int_equal(lti_store_migrate(s, &from, &to, &err), LTI_OK);
    assert_int_equal(from, 0);
    assert_int_equal(to, LTI_STORE_SCHEMA_VERSION);
    assert_int_equal(lti_store_schema_version(s, &v, &err), LTI_OK);
    assert_int_equal(v, LTI_STORE_SCHEMA_VERSION);
    /* One row per step. */
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM schema_migrations"),
                     LTI_STORE_SCHEMA_VERSION);
    assert_int_equal(raw_int(p, path, "SELECT MIN(version) FROM schema_migrations"), 1);

    /* Again: nothing to do. */
    assert_int_equal(lti_store_migrate(s, &from, &to, &err), LTI_OK);
    assert_int_equal(from, LTI_STORE_SCHEMA_VERSION);
    assert_int_equal(to, LTI_STORE_SCHEMA_VERSION);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM schema_migrations"),
                     LTI_STORE_SCHEMA_VERSION);

    /* And from a new handle (a restart). */
    lti_store_close(s);
    lti_store_close(s);   /* closing twice is harmless */
    s = open_at(p, path);
    assert_int_equal(lti_store_migrate(s, &from, &to, NULL), LTI_OK);
    assert_int_equal(from, LTI_STORE_SCHEMA_VERSION);
    assert_int_equal(to, LTI_STORE_SCHEMA_VERSION);
    apr_pool_destroy(p);
}

/* The 0 -> 1 step exactly as released (a frozen copy of migrations[0]). */
static const char v1_ddl[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
    "  applied INTEGER NOT NULL);"
    "CREATE TABLE consumers (consumer_key TEXT PRIMARY KEY, secret TEXT NOT NULL,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE platforms (id INTEGER PRIMARY KEY, issuer TEXT NOT NULL,"
    "  client_id TEXT NOT NULL, auth_url TEXT NOT NULL, token_url TEXT NOT NULL,"
    "  jwks_url TEXT NOT NULL, created INTEGER NOT NULL, UNIQUE (issuer, client_id));"
    "CREATE TABLE deployments (platform_id INTEGER NOT NULL REFERENCES platforms(id)"
    "  ON DELETE CASCADE, deployment_id TEXT NOT NULL, created INTEGER NOT NULL,"
    "  PRIMARY KEY (platform_id, deployment_id));"
    "CREATE TABLE tool_keys (kid TEXT PRIMARY KEY, state TEXT NOT NULL"
    "  CHECK (state IN ('current', 'next', 'retired')), public_jwk TEXT NOT NULL,"
    "  private_sealed BLOB NOT NULL, created INTEGER NOT NULL, retired INTEGER);"
    "CREATE TABLE catalog (rev INTEGER PRIMARY KEY, sha256 TEXT NOT NULL,"
    "  source TEXT NOT NULL, xml TEXT NOT NULL, loaded INTEGER NOT NULL);";

/* A version-1 store holding data migrates to the current version and keeps it. */
static void test_migrate_from_v1(void **state)
{
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    lti_consumer_t c;
    lti_catalog_rev_t rev;
    lti_err_t err;
    int from = -1, to = -1, v = -1;

    apr_pool_create(&p, *state);
    path = db_path(p);
    raw_exec(path, apr_pstrcat(p, "BEGIN;", v1_ddl,
                               "INSERT INTO schema_migrations VALUES (1, 1600000000);"
                               "INSERT INTO consumers VALUES ('old-moodle', 'old-secret', 5);"
                               "INSERT INTO catalog (sha256, source, xml, loaded)"
                               " VALUES ('abc', '/etc/c.xml', '<catalog/>', 6);"
                               "COMMIT;", NULL));

    s = open_at(p, path);
    assert_int_equal(lti_store_schema_version(s, &v, &err), LTI_OK);
    assert_int_equal(v, 1);
    assert_int_equal(lti_store_migrate(s, &from, &to, &err), LTI_OK);
    assert_int_equal(from, 1);
    assert_int_equal(to, LTI_STORE_SCHEMA_VERSION);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM schema_migrations"),
                     LTI_STORE_SCHEMA_VERSION);

    /* The old data is there. */
    assert_int_equal(lti_store_consumer_get(s, p, "old-moodle", &c, &err), LTI_OK);
    assert_string_equal(c.secret, "old-secret");
    assert_true(c.created == 5);
    assert_int_equal(lti_store_catalog_current(s, p, 1, &rev, &err), LTI_OK);
    assert_true(rev.rev == 1);
    assert_string_equal(rev.sha256, "abc");
    assert_string_equal(rev.xml, "<catalog/>");

    /* And the version-2 tables work. */
    assert_int_equal(lti_store_nonce_use(s, "lti11:old-moodle", "n", NOW, &err), LTI_OK);
    {
        lti_launch_rec_t r = launch("u1", "n1", "sess1");
        lti_launch_ids_t ids;

        record(s, &r, &ids);
    }
    apr_pool_destroy(p);
}

/* The 1 -> 2 step exactly as released (a frozen copy of migrations[1]). */
static const char v2_ddl[] =
    "CREATE TABLE persons (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL,"
    "  user_id TEXT NOT NULL, given_name TEXT, family_name TEXT, full_name TEXT,"
    "  email TEXT, created INTEGER NOT NULL, updated INTEGER NOT NULL,"
    "  UNIQUE (tenant, user_id));"
    "CREATE TABLE contexts (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL,"
    "  context_id TEXT NOT NULL, title TEXT, label TEXT, type TEXT,"
    "  created INTEGER NOT NULL, updated INTEGER NOT NULL, UNIQUE (tenant, context_id));"
    "CREATE TABLE resource_links (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL,"
    "  link_id TEXT NOT NULL, context_pk INTEGER REFERENCES contexts(id), title TEXT,"
    "  course_id TEXT, course_source TEXT, created INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL, UNIQUE (tenant, link_id));"
    "CREATE TABLE link_members (person_id INTEGER NOT NULL REFERENCES persons(id),"
    "  link_pk INTEGER NOT NULL REFERENCES resource_links(id), roles INTEGER NOT NULL,"
    "  result_sourcedid TEXT, outcome_url TEXT, first_launch INTEGER NOT NULL,"
    "  last_launch INTEGER NOT NULL, PRIMARY KEY (person_id, link_pk));"
    "CREATE TABLE launches (id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL"
    "  REFERENCES persons(id), link_pk INTEGER NOT NULL REFERENCES resource_links(id),"
    "  version TEXT NOT NULL, roles INTEGER NOT NULL, roles_raw TEXT, locale TEXT,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE sessions (id_hash TEXT PRIMARY KEY, person_id INTEGER NOT NULL"
    "  REFERENCES persons(id), link_pk INTEGER NOT NULL REFERENCES resource_links(id),"
    "  launch_id INTEGER NOT NULL, roles INTEGER NOT NULL, locale TEXT,"
    "  csrf TEXT NOT NULL, lms_origin TEXT, created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX sessions_expires ON sessions (expires);"
    "CREATE TABLE nonces (scope TEXT NOT NULL, nonce TEXT NOT NULL,"
    "  expires INTEGER NOT NULL, PRIMARY KEY (scope, nonce)) WITHOUT ROWID;"
    "CREATE INDEX nonces_expires ON nonces (expires);"
    "CREATE TABLE audit (id INTEGER PRIMARY KEY, at INTEGER NOT NULL,"
    "  http_status INTEGER NOT NULL, reason TEXT NOT NULL, scope TEXT, remote TEXT,"
    "  detail TEXT);"
    "CREATE INDEX audit_reason ON audit (reason, at);";

/* A version-2 store's rows: a consumer, a platform with a deployment, a tool key, and one
 * 1.1 launch (person, context, link, membership, launch, live session, nonce, audit). */
static const char v2_rows[] =
    "INSERT INTO schema_migrations VALUES (1, 1600000000), (2, 1650000000);"
    "INSERT INTO consumers VALUES ('old-moodle', 'old-secret', 5);"
    "INSERT INTO platforms VALUES (7, 'https://lms.example.org', 'c-old',"
    "  'https://lms.example.org/auth', 'https://lms.example.org/token',"
    "  'https://lms.example.org/jwks', 8);"
    "INSERT INTO deployments VALUES (7, 'dep-1', 8);"
    "INSERT INTO tool_keys (kid, state, public_jwk, private_sealed, created)"
    "  VALUES ('k-old', 'current', '{\"kid\":\"k-old\"}', 'v1.sealed', 9);"
    "INSERT INTO persons VALUES (1, 'lti11:old-moodle', 'u1', 'Ada', 'Lovelace',"
    "  'Ada Lovelace', 'ada@example.org', 10, 10);"
    "INSERT INTO contexts VALUES (1, 'lti11:old-moodle', 'ctx1', 'Engines', 'ENG', NULL, 10,"
    "  10);"
    "INSERT INTO resource_links VALUES (1, 'lti11:old-moodle', 'link1', 1, 'Old link',"
    "  'data-101', 'custom', 10, 10);"
    "INSERT INTO link_members VALUES (1, 1, 1, 'src-old', NULL, 10, 10);"
    "INSERT INTO launches VALUES (1, 1, 1, '1.1', 1, 'Learner', 'en', 10);"
    "INSERT INTO sessions VALUES ('old-sess', 1, 1, 1, 1, 'en', 'old-csrf', NULL, 10,"
    "  1700000100);"
    "INSERT INTO nonces VALUES ('lti11:old-moodle', 'old-nonce', 1700000100);"
    "INSERT INTO audit (at, http_status, reason) VALUES (11, 401, 'oauth_bad_signature');";

/* A version-2 store holding data migrates to the current version, keeps every row, and
 * the version-3 tables, index and column work. */
static void test_migrate_from_v2(void **state)
{
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    lti_consumer_t c;
    lti_platform_t pf;
    lti_session_t sess;
    lti_jwks_cache_t cache;
    lti_toolkey_t k;
    apr_array_header_t *list;
    lti_launch_ids_t ids;
    lti_err_t err;
    int from = -1, to = -1, v = -1;

    apr_pool_create(&p, *state);
    path = db_path(p);
    raw_exec(path, apr_pstrcat(p, "BEGIN;", v1_ddl, v2_ddl, v2_rows, "COMMIT;", NULL));

    s = open_at(p, path);
    assert_int_equal(lti_store_schema_version(s, &v, &err), LTI_OK);
    assert_int_equal(v, 2);
    assert_int_equal(lti_store_migrate(s, &from, &to, &err), LTI_OK);
    assert_int_equal(from, 2);
    assert_int_equal(to, LTI_STORE_SCHEMA_VERSION);
    assert_int_equal(lti_store_schema_version(s, &v, &err), LTI_OK);
    assert_int_equal(v, LTI_STORE_SCHEMA_VERSION);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM schema_migrations"),
                     LTI_STORE_SCHEMA_VERSION);
    assert_int_equal(raw_int(p, path, "SELECT applied FROM schema_migrations"
                                      " WHERE version = 2"), 1650000000);

    /* The old data is there. */
    assert_int_equal(lti_store_consumer_get(s, p, "old-moodle", &c, &err), LTI_OK);
    assert_string_equal(c.secret, "old-secret");
    assert_int_equal(lti_store_platform_get(s, p, "https://lms.example.org", "c-old", &pf,
                                            &err),
                     LTI_OK);
    assert_true(pf.id == 7);
    assert_string_equal(pf.jwks_url, "https://lms.example.org/jwks");
    assert_int_equal(pf.deployments->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(pf.deployments, 0, const char *), "dep-1");
    assert_int_equal(lti_store_key_list(s, p, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 1);
    k = APR_ARRAY_IDX(list, 0, lti_toolkey_t);
    assert_string_equal(k.kid, "k-old");
    assert_string_equal(k.state, "current");
    assert_string_equal(k.private_sealed, "v1.sealed");
    assert_int_equal(lti_store_session_get(s, p, "old-sess", NOW, &sess, &err), LTI_OK);
    assert_string_equal(sess.full_name, "Ada Lovelace");
    assert_string_equal(sess.link_title, "Old link");
    assert_string_equal(sess.context_title, "Engines");
    assert_string_equal(sess.course_id, "data-101");
    assert_string_equal(sess.csrf, "old-csrf");
    assert_int_equal(lti_store_nonce_use(s, "lti11:old-moodle", "old-nonce", NOW, &err),
                     LTI_ERR_REPLAY);
    assert_int_equal(lti_store_audit_recent(s, p, 10, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 1);
    assert_null(raw_text(p, path, "SELECT claims FROM resource_links"));

    /* What version 3 added works on the old rows. */
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'"
                                      " AND name = 'tool_keys_one_live'"), 1);
    k.kid = "k-other";
    assert_int_equal(lti_store_key_add(s, &k, NOW, &err), LTI_ERR_EXISTS);
    assert_int_equal(lti_store_jwks_get(s, p, 7, &cache, &err), LTI_OK);
    assert_null(cache.jwks);
    assert_int_equal(lti_store_jwks_put(s, 7, "{\"keys\":[]}", NOW, NOW + 60, &err), LTI_OK);
    {
        lti_login_state_t ls = {"st-1", 7, "nonce", "https://tool/launch", "b", NOW, NOW + 60,
                                NULL, NULL};
        lti_login_state_t got;

        assert_int_equal(lti_store_state_put(s, &ls, &err), LTI_OK);
        assert_int_equal(lti_store_state_take(s, p, "st-1", NOW, &got, &err), LTI_OK);
    }
    {
        lti_launch_rec_t r = launch("u1", "n-new", "s-new");

        r.tenant = r.nonce_scope = "lti11:old-moodle";
        r.link_claims = "{\"ags\":true}";
        record(s, &r, &ids);
        assert_true(ids.person_id == 1);
        assert_true(ids.link_pk == 1);
        assert_string_equal(raw_text(p, path, "SELECT claims FROM resource_links"),
                            "{\"ags\":true}");
        assert_string_equal(raw_text(p, path, "SELECT course_id FROM resource_links"),
                            "data-101");
    }
    apr_pool_destroy(p);
}

/* The 2 -> 3 step as first committed (eb8349d), before tool_keys_one_live was added to it. */
static const char v3_first_ddl[] =
    "CREATE TABLE platform_jwks (platform_id INTEGER PRIMARY KEY REFERENCES platforms(id)"
    "  ON DELETE CASCADE, jwks TEXT, fetched INTEGER NOT NULL DEFAULT 0,"
    "  expires INTEGER NOT NULL DEFAULT 0, last_refetch INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE login_states (state TEXT PRIMARY KEY, platform_id INTEGER NOT NULL"
    "  REFERENCES platforms(id) ON DELETE CASCADE, nonce TEXT NOT NULL,"
    "  target_link_uri TEXT NOT NULL, browser TEXT NOT NULL, created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX login_states_expires ON login_states (expires);"
    "ALTER TABLE resource_links ADD COLUMN claims TEXT;";

/* A store that reached version 3 with the first 2 -> 3 step must still get one live key
 * per state once migrated by this build (key_add's LTI_ERR_EXISTS depends on the index). */
static void test_migrate_v3_first_release(void **state)
{
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    lti_toolkey_t k1 = {"k1", "current", "{}", "v1.a", 0, 0};
    lti_toolkey_t k2 = {"k2", "current", "{}", "v1.b", 0, 0};
    lti_err_t err;

    apr_pool_create(&p, *state);
    path = db_path(p);
    raw_exec(path, apr_pstrcat(p, "BEGIN;", v1_ddl, v2_ddl, v3_first_ddl,
                               "INSERT INTO schema_migrations VALUES (1, 1), (2, 2), (3, 3);",
                               "COMMIT;", NULL));
    s = open_migrated(p, path);
    assert_int_equal(lti_store_key_add(s, &k1, NOW, &err), LTI_OK);
    assert_int_equal(lti_store_key_add(s, &k2, NOW, &err), LTI_ERR_EXISTS);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM tool_keys WHERE state = 'current'"),
                     1);
    apr_pool_destroy(p);
}

/* A store written by a newer build is refused, and left alone. */
static void test_migrate_too_new(void **state)
{
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    lti_err_t err;
    int from = -1, to = -1;

    apr_pool_create(&p, *state);
    path = db_path(p);
    s = open_migrated(p, path);
    lti_store_close(s);
    raw_exec(path, "INSERT INTO schema_migrations VALUES (99, 0)");

    s = open_at(p, path);
    assert_int_equal(lti_store_migrate(s, &from, &to, &err), LTI_ERR_CONFIG);
    assert_string_equal(err.reason, "store_too_new");
    assert_has(err.text, "99");
    assert_int_equal(from, 99);
    assert_int_equal(to, 99);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM schema_migrations"),
                     LTI_STORE_SCHEMA_VERSION + 1);
    apr_pool_destroy(p);
}

static void test_wal(void **state)
{
    apr_pool_t *p;
    const char *path;

    apr_pool_create(&p, *state);
    path = db_path(p);
    open_migrated(p, path);
    assert_string_equal(raw_text(p, path, "PRAGMA journal_mode"), "wal");
    apr_pool_destroy(p);
}

/* ---- consumers ---- */

/* The demo LMS's gradebook: the newest grade per target, arrivals counted, newest first. */
static void test_demo_grades(void **state)
{
    apr_pool_t *p = *state;
    lti_store_t *s = open_migrated(p, db_path(p));
    apr_array_header_t *l;
    lti_demo_grade_t g;
    lti_err_t err;

    assert_int_equal(lti_store_demo_grade_list(s, p, &l, &err), LTI_OK);
    assert_int_equal(l->nelts, 0);
    memset(&g, 0, sizeof(g));
    g.target = "demo:1:u1";
    g.via = "lti11";
    g.label = "U1 <b>";
    g.score = 0.5;
    g.received = 100;
    assert_int_equal(lti_store_demo_grade_put(s, &g, &err), LTI_OK);
    g.target = "demo:2:u1";
    g.received = 101;
    assert_int_equal(lti_store_demo_grade_put(s, &g, &err), LTI_OK);
    g.target = "demo:1:u1";
    g.score = 0.75;
    g.comment = "again";
    g.received = 102;
    assert_int_equal(lti_store_demo_grade_put(s, &g, &err), LTI_OK);
    assert_int_equal(lti_store_demo_grade_list(s, p, &l, &err), LTI_OK);
    assert_int_equal(l->nelts, 2);
    assert_string_equal(APR_ARRAY_IDX(l, 0, lti_demo_grade_t).target, "demo:1:u1");
    assert_true(APR_ARRAY_IDX(l, 0, lti_demo_grade_t).score == 0.75);
    assert_int_equal(APR_ARRAY_IDX(l, 0, lti_demo_grade_t).count, 2);
    assert_string_equal(APR_ARRAY_IDX(l, 0, lti_demo_grade_t).comment, "again");
    assert_string_equal(APR_ARRAY_IDX(l, 1, lti_demo_grade_t).label, "U1 <b>");
    assert_int_equal(APR_ARRAY_IDX(l, 1, lti_demo_grade_t).count, 1);
}

static void test_consumers(void **state)
{
    apr_pool_t *p;
    lti_store_t *s;
    lti_consumer_t c;
    apr_array_header_t *list;
    const lti_consumer_t *e;
    lti_err_t err;

    apr_pool_create(&p, *state);
    s = open_migrated(p, db_path(p));

    assert_int_equal(lti_store_consumer_list(s, p, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 0);

    assert_int_equal(lti_store_consumer_add(s, "moodle", "s3cret", 0, NOW, &err), LTI_OK);
    assert_int_equal(lti_store_consumer_add(s, "moodle", "other", 0, NOW + 1, &err),
                     LTI_ERR_EXISTS);
    assert_string_equal(err.reason, "consumer_exists");
    assert_int_equal(lti_store_consumer_get(s, p, "moodle", &c, &err), LTI_OK);
    assert_string_equal(c.key, "moodle");
    assert_string_equal(c.secret, "s3cret");
    assert_true(c.created == NOW);

    /* Replace changes the secret only. */
    assert_int_equal(lti_store_consumer_add(s, "moodle", "n3w", 1, NOW + 9, &err), LTI_OK);
    assert_int_equal(lti_store_consumer_get(s, p, "moodle", &c, &err), LTI_OK);
    assert_string_equal(c.secret, "n3w");
    assert_true(c.created == NOW);
    assert_int_equal(lti_store_consumer_add(s, "nobody", "x", 1, NOW, &err), LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_store_consumer_get(s, p, "nobody", &c, &err), LTI_ERR_NOT_FOUND);
    assert_string_equal(err.reason, "consumer_unknown");

    /* Listed by key, without secrets. */
    assert_int_equal(lti_store_consumer_add(s, "zeta", "z", 0, NOW + 2, NULL), LTI_OK);
    assert_int_equal(lti_store_consumer_add(s, "alpha", "a", 0, NOW + 3, NULL), LTI_OK);
    assert_int_equal(lti_store_consumer_list(s, p, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 3);
    e = (const lti_consumer_t *)list->elts;
    assert_string_equal(e[0].key, "alpha");
    assert_string_equal(e[1].key, "moodle");
    assert_string_equal(e[2].key, "zeta");
    for (int i = 0; i < 3; i++) {
        assert_null(e[i].secret);
    }
    assert_true(e[0].created == NOW + 3);

    assert_int_equal(lti_store_consumer_remove(s, "moodle", &err), LTI_OK);
    assert_int_equal(lti_store_consumer_get(s, p, "moodle", &c, &err), LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_store_consumer_remove(s, "moodle", &err), LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_store_consumer_list(s, p, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 2);
    apr_pool_destroy(p);
}

/* ---- catalog ---- */

static void test_catalog(void **state)
{
    apr_pool_t *p;
    lti_store_t *s;
    lti_catalog_rev_t rev;
    lti_err_t err;
    int changed = -1;

    apr_pool_create(&p, *state);
    s = open_migrated(p, db_path(p));

    assert_int_equal(lti_store_catalog_current(s, p, 1, &rev, &err), LTI_ERR_NOT_FOUND);
    assert_string_equal(err.reason, "catalog_none");

    assert_int_equal(lti_store_catalog_put(s, "sha-a", "/etc/a.xml", "<a/>", NOW, &changed,
                                           &err),
                     LTI_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(lti_store_catalog_current(s, p, 1, &rev, &err), LTI_OK);
    assert_true(rev.rev == 1);
    assert_string_equal(rev.sha256, "sha-a");
    assert_string_equal(rev.source, "/etc/a.xml");
    assert_string_equal(rev.xml, "<a/>");
    assert_true(rev.loaded == NOW);

    /* Same content: no new revision. */
    assert_int_equal(lti_store_catalog_put(s, "sha-a", "/other/a.xml", "<a/>", NOW + 5,
                                           &changed, &err),
                     LTI_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(lti_store_catalog_current(s, p, 0, &rev, &err), LTI_OK);
    assert_true(rev.rev == 1);
    assert_true(rev.loaded == NOW);
    assert_null(rev.xml);

    /* New content: a new revision becomes current. */
    assert_int_equal(lti_store_catalog_put(s, "sha-b", "/etc/b.xml", "<b/>", NOW + 10, NULL,
                                           &err),
                     LTI_OK);
    assert_int_equal(lti_store_catalog_current(s, p, 1, &rev, &err), LTI_OK);
    assert_true(rev.rev == 2);
    assert_string_equal(rev.sha256, "sha-b");
    assert_string_equal(rev.xml, "<b/>");
    assert_true(rev.loaded == NOW + 10);

    /* Going back to a's content is a change too (only the current sha counts). */
    assert_int_equal(lti_store_catalog_put(s, "sha-a", "/etc/a.xml", "<a/>", NOW + 20,
                                           &changed, &err),
                     LTI_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(lti_store_catalog_current(s, p, 0, &rev, &err), LTI_OK);
    assert_true(rev.rev == 3);
    apr_pool_destroy(p);
}

/* ---- nonces, purge, audit ---- */

static void test_nonce(void **state)
{
    apr_pool_t *p;
    lti_store_t *s;
    lti_err_t err;

    apr_pool_create(&p, *state);
    s = open_migrated(p, db_path(p));

    assert_int_equal(lti_store_nonce_use(s, "lti11:a", "n1", NOW + 60, &err), LTI_OK);
    assert_int_equal(lti_store_nonce_use(s, "lti11:a", "n1", NOW + 60, &err), LTI_ERR_REPLAY);
    assert_int_equal(err.status, LTI_ERR_REPLAY);
    assert_string_equal(err.reason, "nonce_replay");
    assert_int_equal(lti_store_nonce_use(s, "lti11:a", "n1", NOW + 999, NULL), LTI_ERR_REPLAY);
    assert_int_equal(lti_store_nonce_use(s, "lti11:b", "n1", NOW + 60, &err), LTI_OK);
    assert_int_equal(lti_store_nonce_use(s, "lti11:a", "n2", NOW + 60, &err), LTI_OK);
    apr_pool_destroy(p);
}

static void test_purge(void **state)
{
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    /* Session keys begin with their time, as mod_ptech makes them. */
    lti_launch_rec_t r1 = launch("u1", "ln1", "1700000000000001-old"),
                     r2 = launch("u2", "ln2", "1700000000000002-new"),
                     r3 = launch("u3", "ln3", "1700000000000003-short");
    lti_launch_ids_t ids;
    lti_session_t sess;
    lti_err_t err;
    int nonces = -1, sessions = -1;

    apr_pool_create(&p, *state);
    path = db_path(p);
    s = open_migrated(p, path);

    assert_int_equal(lti_store_nonce_use(s, "sc", "old", NOW - 10, &err), LTI_OK);
    assert_int_equal(lti_store_nonce_use(s, "sc", "edge", NOW, &err), LTI_OK);
    assert_int_equal(lti_store_nonce_use(s, "sc", "new", NOW + 10, &err), LTI_OK);
    r1.nonce_expires = NOW - 1;
    r1.session_expires = NOW - 1;
    r2.nonce_expires = NOW + 100;
    r2.session_expires = NOW + 100;
    /* Newer than r2 but with a shorter life: it waits until r2 is gone. */
    r3.nonce_expires = NOW + 100;
    r3.session_expires = NOW - 1;
    record(s, &r1, &ids);
    record(s, &r2, &ids);
    record(s, &r3, &ids);

    assert_int_equal(lti_store_purge(s, NOW, &nonces, &sessions, &err), LTI_OK);
    assert_int_equal(nonces, 2);     /* "old" and r1's */
    assert_int_equal(sessions, 1);   /* r1's */
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM nonces"), 4);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM nonces WHERE nonce = 'edge'"), 1);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM sessions"), 2);
    assert_int_equal(lti_store_session_get(s, p, "1700000000000002-new", NOW, &sess, &err),
                     LTI_OK);
    /* Kept, but no session for anyone. */
    assert_int_equal(lti_store_session_get(s, p, "1700000000000003-short", NOW, &sess, &err),
                     LTI_ERR_NOT_FOUND);
    /* Once r2 has expired too, both go. */
    assert_int_equal(lti_store_purge(s, NOW + 101, &nonces, &sessions, &err), LTI_OK);
    assert_int_equal(nonces, 4);     /* "edge", "new", r2's and r3's */
    assert_int_equal(sessions, 2);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM sessions"), 0);

    /* Nothing left to purge; counts may be NULL. */
    assert_int_equal(lti_store_purge(s, NOW, &nonces, &sessions, &err), LTI_OK);
    assert_int_equal(nonces, 0);
    assert_int_equal(sessions, 0);
    assert_int_equal(lti_store_purge(s, NOW + 1000, NULL, NULL, &err), LTI_OK);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM nonces"), 0);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM sessions"), 0);
    /* People, links and launches are not purged. */
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM persons"), 3);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM launches"), 3);
    apr_pool_destroy(p);
}

/* The checkpoint copies the WAL into the database file and lets the next commit start
 * the WAL again from its beginning; a reader still on an older snapshot holds back what it
 * may still need to read, and the checkpoint gives up on that part (no error) and gets it
 * on a later call. */
static void test_checkpoint(void **state)
{
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    lti_store_ckpt_t ck;
    lti_err_t err;
    sqlite3 *reader;
    sqlite3_stmt *st;

    apr_pool_create(&p, *state);
    path = db_path(p);
    s = open_migrated(p, path);

    /* Everything written is copied, and the log starts again. */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(lti_store_audit_add(s, NOW + i, 400, "ckpt", NULL, NULL, NULL, &err),
                         LTI_OK);
    }
    assert_int_equal(lti_store_checkpoint(s, &ck, &err), LTI_OK);
    assert_true(ck.logged > 0);
    assert_int_equal(ck.copied, ck.logged);
    assert_true(ck.restarted);
    assert_int_equal(lti_store_audit_add(s, NOW + 100, 400, "ckpt", NULL, NULL, NULL, &err),
                     LTI_OK);
    assert_int_equal(lti_store_checkpoint(s, &ck, &err), LTI_OK);
    assert_true(ck.logged > 0 && ck.logged < 10);   /* from the beginning again */

    /* A reader on an older snapshot: the frames written after it stay in the log. */
    assert_int_equal(sqlite3_open_v2(path, &reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(reader, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(reader, "SELECT COUNT(*) FROM audit", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 21);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(lti_store_audit_add(s, NOW + 200 + i, 400, "ckpt", NULL, NULL, NULL,
                                             &err), LTI_OK);
    }
    assert_int_equal(lti_store_checkpoint(s, &ck, &err), LTI_OK);
    assert_true(ck.copied < ck.logged);
    assert_false(ck.restarted);
    /* The reader still sees its snapshot; once it ends, all is copied. */
    sqlite3_reset(st);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 21);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(reader);
    assert_int_equal(lti_store_checkpoint(s, &ck, &err), LTI_OK);
    assert_int_equal(ck.copied, ck.logged);
    assert_true(ck.restarted);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM audit"), 41);

    /* out may be NULL. */
    assert_int_equal(lti_store_checkpoint(s, NULL, &err), LTI_OK);
    apr_pool_destroy(p);
}

static void test_audit(void **state)
{
    apr_pool_t *p;
    lti_store_t *s;
    apr_array_header_t *rows;
    const lti_audit_t *a;
    lti_err_t err;

    apr_pool_create(&p, *state);
    s = open_migrated(p, db_path(p));

    assert_int_equal(lti_store_audit_recent(s, p, 10, &rows, &err), LTI_OK);
    assert_int_equal(rows->nelts, 0);
    for (int i = 1; i <= 5; i++) {
        assert_int_equal(lti_store_audit_add(s, NOW + i, 400 + i, "oauth_bad_signature",
                                             i == 5 ? NULL : "lti11:moodle",
                                             i == 5 ? NULL : "192.0.2.1",
                                             i == 5 ? NULL : apr_psprintf(p, "row %d", i),
                                             &err),
                         LTI_OK);
    }
    assert_int_equal(lti_store_audit_recent(s, p, 3, &rows, &err), LTI_OK);
    assert_int_equal(rows->nelts, 3);
    a = (const lti_audit_t *)rows->elts;
    assert_true(a[0].at == NOW + 5);
    assert_true(a[1].at == NOW + 4);
    assert_true(a[2].at == NOW + 3);
    assert_true(a[0].id > a[1].id && a[1].id > a[2].id);
    assert_int_equal(a[0].http_status, 405);
    assert_string_equal(a[0].reason, "oauth_bad_signature");
    assert_null(a[0].scope);
    assert_null(a[0].remote);
    assert_null(a[0].detail);
    assert_string_equal(a[1].scope, "lti11:moodle");
    assert_string_equal(a[1].remote, "192.0.2.1");
    assert_string_equal(a[1].detail, "row 4");

    assert_int_equal(lti_store_audit_recent(s, p, 100, &rows, &err), LTI_OK);
    assert_int_equal(rows->nelts, 5);
    a = (const lti_audit_t *)rows->elts;
    assert_true(a[4].at == NOW + 1);
    assert_int_equal(lti_store_audit_recent(s, p, 1, &rows, &err), LTI_OK);
    assert_int_equal(rows->nelts, 1);
    apr_pool_destroy(p);
}

static void test_audit_counts(void **state)
{
    apr_pool_t *p;
    lti_store_t *s;
    apr_array_header_t *rows;
    const lti_audit_count_t *c;
    lti_err_t err;
    static const char *const reasons[] = {"jwt_exp", "jwt_aud", "jwt_exp", "jwt_exp",
                                          "lti13_state_no_cookie", "jwt_aud"};

    apr_pool_create(&p, *state);
    s = open_migrated(p, db_path(p));
    assert_int_equal(lti_store_audit_counts(s, p, 0, &rows, &err), LTI_OK);
    assert_int_equal(rows->nelts, 0);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(lti_store_audit_add(s, NOW + i, 401, reasons[i], NULL, NULL, NULL,
                                             &err), LTI_OK);
    }
    assert_int_equal(lti_store_audit_counts(s, p, 0, &rows, &err), LTI_OK);
    assert_int_equal(rows->nelts, 3);
    c = (const lti_audit_count_t *)rows->elts;
    assert_string_equal(c[0].reason, "jwt_exp");
    assert_true(c[0].count == 3 && c[0].last == NOW + 3);
    assert_string_equal(c[1].reason, "jwt_aud");
    assert_true(c[1].count == 2 && c[1].last == NOW + 5);
    assert_string_equal(c[2].reason, "lti13_state_no_cookie");
    /* Only rows at or after since. */
    assert_int_equal(lti_store_audit_counts(s, p, NOW + 4, &rows, &err), LTI_OK);
    assert_int_equal(rows->nelts, 2);
    c = (const lti_audit_count_t *)rows->elts;
    assert_true(c[0].count == 1 && c[1].count == 1);
    apr_pool_destroy(p);
}

/* ---- launches, sessions, links ---- */

static const char *const tables[] = {"persons", "contexts", "resource_links", "link_members",
                                     "launches", "sessions", "nonces"};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

static void count_rows(apr_pool_t *p, const char *path, int64_t *n)
{
    for (size_t i = 0; i < NTABLES; i++) {
        n[i] = raw_int(p, path, apr_pstrcat(p, "SELECT COUNT(*) FROM ", tables[i], NULL));
    }
}

static void test_launch_record(void **state)
{
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    lti_launch_rec_t r = launch("u1", "nonce-1", "sess-1");
    lti_launch_ids_t ids, ids2;
    lti_session_t sess;
    lti_err_t err;
    int64_t before[NTABLES], after[NTABLES];

    apr_pool_create(&p, *state);
    path = db_path(p);
    s = open_migrated(p, path);

    record(s, &r, &ids);
    assert_true(ids.person_id > 0 && ids.context_pk > 0 && ids.link_pk > 0
                && ids.launch_id > 0);
    /* The launch's row, which its session names. */
    assert_int_equal(raw_int(p, path, "SELECT MAX(id) FROM launches"), ids.launch_id);
    assert_int_equal(raw_int(p, path, "SELECT launch_id FROM sessions"), ids.launch_id);
    count_rows(p, path, before);
    for (size_t i = 0; i < NTABLES; i++) {
        if (before[i] != 1) {
            fail_msg("%s holds %lld rows after one launch", tables[i], (long long)before[i]);
        }
    }
    assert_int_equal(raw_int(p, path, "SELECT roles FROM link_members"), LTI_ROLE_LEARNER);
    assert_string_equal(raw_text(p, path, "SELECT result_sourcedid FROM link_members"),
                        "src-1");
    assert_string_equal(raw_text(p, path, "SELECT label FROM contexts"), "PHY101");
    assert_string_equal(raw_text(p, path, "SELECT roles_raw FROM launches"), "Learner");
    assert_string_equal(raw_text(p, path, "SELECT version FROM launches"), "1.1");

    assert_int_equal(lti_store_session_get(s, p, "sess-1", NOW, &sess, &err), LTI_OK);
    assert_true(sess.person_id == ids.person_id);
    assert_true(sess.link_pk == ids.link_pk);
    assert_string_equal(sess.user_id, "u1");
    assert_string_equal(sess.full_name, "Marie Curie");
    assert_string_equal(sess.email, "marie@example.org");
    assert_int_equal(sess.roles, LTI_ROLE_LEARNER);
    assert_string_equal(sess.locale, "fr");
    assert_string_equal(sess.csrf, "csrf-token");
    assert_string_equal(sess.lms_origin, "https://moodle.example.org");
    assert_string_equal(sess.tenant, "lti11:moodle");
    assert_string_equal(sess.link_id, "link1");
    assert_string_equal(sess.link_title, "Radioactivity");
    assert_string_equal(sess.context_title, "Physics 101");
    assert_null(sess.course_id);
    assert_true(sess.expires == NOW + 28800);

    /* The same nonce again: a replay, and nothing written, not even the new name. */
    r.session_hash = "sess-2";
    r.full_name = "Mallory";
    r.user_id = "u2";
    assert_int_equal(lti_store_launch_record(s, &r, &ids2, &err), LTI_ERR_REPLAY);
    assert_string_equal(err.reason, "nonce_replay");
    count_rows(p, path, after);
    assert_memory_equal(before, after, sizeof(before));
    assert_string_equal(raw_text(p, path, "SELECT full_name FROM persons"), "Marie Curie");
    assert_int_equal(lti_store_session_get(s, p, "sess-2", NOW, &sess, &err),
                     LTI_ERR_NOT_FOUND);

    /* A session hash used twice fails the whole launch, nonce included. */
    r = launch("u1", "nonce-3", "sess-1");
    assert_int_equal(lti_store_launch_record(s, &r, &ids2, &err), LTI_ERR_STORE);
    count_rows(p, path, after);
    assert_memory_equal(before, after, sizeof(before));
    assert_int_equal(lti_store_nonce_use(s, "lti11:moodle", "nonce-3", NOW, &err), LTI_OK);

    /* Without a context: the link has none, the session shows no context title. */
    r = launch("u3", "nonce-4", "sess-4");
    r.context_id = NULL;
    r.context_title = NULL;
    r.link_id = "link-free";
    record(s, &r, &ids2);
    assert_true(ids2.context_pk == 0);
    assert_int_equal(lti_store_session_get(s, p, "sess-4", NOW, &sess, &err), LTI_OK);
    assert_null(sess.context_title);
    assert_string_equal(sess.link_id, "link-free");
    apr_pool_destroy(p);
}

/* A 1.3 launch of the same person (SPEC.md, Persons): by the verified lti1p1 identity, by
 * the guid and user id rule (both directions, across LTI versions only), never by a guid of
 * the same version; the person's profile follows the newest launch. */
static void test_person_links(void **state)
{
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    lti_launch_rec_t r;
    lti_launch_ids_t a, b, c, d, e, f, g;
    lti_session_t sess;
    lti_err_t err;

    apr_pool_create(&p, *state);
    path = db_path(p);
    s = open_migrated(p, path);
    /* 1.1 person "3" of consumer moodle (guid G). */
    r = launch("3", "n1", "s1");
    r.platform_guid = "G";
    record(s, &r, &a);
    /* Another consumer with the same guid knows its own "3": another person. */
    r = launch("3", "n2", "s2");
    r.tenant = r.nonce_scope = "lti11:other";
    r.platform_guid = "G";
    record(s, &r, &b);
    assert_true(a.person_id != b.person_id);
    /* 1.3 sub "3" of guid G: the oldest 1.1 person "3" of that guid. */
    r = launch("3", "n3", "s3");
    r.tenant = r.nonce_scope = "lti13:https://lms#c1";
    r.version = "1.3";
    r.platform_guid = "G";
    r.email = "new@example.org";
    record(s, &r, &c);
    assert_true(c.person_id == a.person_id);
    assert_int_equal(lti_store_session_get(s, p, "s3", NOW, &sess, &err), LTI_OK);
    assert_true(sess.person_id == a.person_id);
    assert_string_equal(sess.email, "new@example.org");
    /* Another 1.3 registration with the same guid and sub: linked too (to the 1.1 person),
     * not to the first registration's identity as a 1.3 person of its own. */
    r.tenant = r.nonce_scope = "lti13:https://lms#c2";
    r.nonce = "n4";
    r.session_hash = "s4";
    record(s, &r, &d);
    assert_true(d.person_id == a.person_id);
    /* 1.3 sub "u13" with a verified lti1p1 identity (lti11:moodle, "7"), 1.1 "7" unknown
     * yet: a new person, and "7" of consumer moodle is that person from now on. */
    r = launch("u13", "n5", "s5");
    r.tenant = r.nonce_scope = "lti13:https://lms#c1";
    r.version = "1.3";
    r.link_tenant = "lti11:moodle";
    r.link_user_id = "7";
    record(s, &r, &e);
    assert_true(e.person_id != a.person_id && e.person_id != b.person_id);
    r = launch("7", "n6", "s6");
    record(s, &r, &f);
    assert_true(f.person_id == e.person_id);
    /* 1.1 "9" of guid G after 1.3 sub "9" of guid G: the 1.3 person. */
    r = launch("9", "n7", "s7");
    r.tenant = r.nonce_scope = "lti13:https://lms#c1";
    r.version = "1.3";
    r.platform_guid = "G";
    record(s, &r, &g);
    r = launch("9", "n8", "s8");
    r.platform_guid = "G";
    record(s, &r, &a);
    assert_true(a.person_id == g.person_id);
    /* Without a guid, or with another one: no link. */
    r = launch("10", "n9", "s9");
    r.platform_guid = "G";
    record(s, &r, &a);
    r = launch("10", "n10", "s10");
    r.tenant = r.nonce_scope = "lti13:https://lms#c1";
    r.version = "1.3";
    r.platform_guid = "H";
    record(s, &r, &b);
    assert_true(a.person_id != b.person_id);
    /* The guid is the launch's, not the consumer's: "11" of consumer moodle came from
     * another LMS (guid K) and is not the 1.3 "11" of guid G. */
    r = launch("11", "n11", "s11");
    r.platform_guid = "K";
    record(s, &r, &a);
    r = launch("11", "n12", "s12");
    r.tenant = r.nonce_scope = "lti13:https://lms#c1";
    r.version = "1.3";
    r.platform_guid = "G";
    record(s, &r, &b);
    assert_true(a.person_id != b.person_id);
    /* Aliases never chain; the persons who launched are the ones the link lists. */
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM persons a JOIN persons b"
                                      " ON b.id = a.alias_of WHERE b.alias_of IS NOT NULL"), 0);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM persons WHERE alias_of IS NULL"),
                     8);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM link_members m JOIN persons x"
                                      " ON x.id = m.person_id WHERE x.alias_of IS NOT NULL"),
                     0);
    apr_pool_destroy(p);
}

static void test_launch_updates(void **state)
{
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    lti_launch_rec_t r = launch("u1", "n1", "s1");
    lti_launch_ids_t ids1, ids2;
    lti_session_t sess;
    lti_err_t err;

    apr_pool_create(&p, *state);
    path = db_path(p);
    s = open_migrated(p, path);
    record(s, &r, &ids1);

    /* Second launch: new full name and email, no given name, instructor now. */
    r = launch("u1", "n2", "s2");
    r.given_name = NULL;
    r.full_name = "Marie Sklodowska-Curie";
    r.email = "marie@sorbonne.example";
    r.roles = LTI_ROLE_INSTRUCTOR;
    r.result_sourcedid = NULL;
    r.now = NOW + 100;
    record(s, &r, &ids2);
    assert_true(ids2.person_id == ids1.person_id);
    assert_true(ids2.link_pk == ids1.link_pk);
    assert_true(ids2.context_pk == ids1.context_pk);
    assert_true(ids2.launch_id != ids1.launch_id);
    assert_string_equal(raw_text(p, path, "SELECT given_name FROM persons"), "Marie");
    assert_string_equal(raw_text(p, path, "SELECT full_name FROM persons"),
                        "Marie Sklodowska-Curie");
    assert_string_equal(raw_text(p, path, "SELECT email FROM persons"),
                        "marie@sorbonne.example");
    assert_int_equal(raw_int(p, path, "SELECT updated FROM persons"), NOW + 100);
    assert_int_equal(raw_int(p, path, "SELECT created FROM persons"), NOW);
    assert_int_equal(raw_int(p, path, "SELECT roles FROM link_members"), LTI_ROLE_INSTRUCTOR);
    assert_int_equal(raw_int(p, path, "SELECT first_launch FROM link_members"), NOW);
    assert_int_equal(raw_int(p, path, "SELECT last_launch FROM link_members"), NOW + 100);
    assert_string_equal(raw_text(p, path, "SELECT result_sourcedid FROM link_members"),
                        "src-1");
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM launches"), 2);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM persons"), 1);

    /* Third launch without names or email: nothing is erased. */
    r = launch("u1", "n3", "s3");
    r.given_name = r.family_name = r.full_name = r.email = NULL;
    r.context_title = r.link_title = NULL;
    r.now = NOW + 200;
    record(s, &r, &ids2);
    assert_int_equal(lti_store_session_get(s, p, "s3", NOW + 200, &sess, &err), LTI_OK);
    assert_string_equal(sess.full_name, "Marie Sklodowska-Curie");
    assert_string_equal(sess.email, "marie@sorbonne.example");
    assert_string_equal(sess.context_title, "Physics 101");
    assert_string_equal(sess.link_title, "Radioactivity");
    assert_string_equal(raw_text(p, path, "SELECT family_name FROM persons"), "Curie");

    /* The same user id in another tenant is another person. */
    r = launch("u1", "n4", "s4");
    r.tenant = "lti11:other";
    record(s, &r, &ids2);
    assert_true(ids2.person_id != ids1.person_id);
    assert_true(ids2.link_pk != ids1.link_pk);
    apr_pool_destroy(p);
}

static void test_launch_course(void **state)
{
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    lti_launch_rec_t r = launch("u1", "n1", "s1");
    lti_launch_ids_t ids;
    lti_session_t sess;
    lti_err_t err;

    apr_pool_create(&p, *state);
    path = db_path(p);
    s = open_migrated(p, path);

    r.course_id = "data-101";
    record(s, &r, &ids);
    assert_int_equal(lti_store_session_get(s, p, "s1", NOW, &sess, &err), LTI_OK);
    assert_string_equal(sess.course_id, "data-101");
    assert_string_equal(raw_text(p, path, "SELECT course_source FROM resource_links"),
                        "custom");

    /* A later launch without the custom parameter keeps the course. */
    r = launch("u2", "n2", "s2");
    record(s, &r, &ids);
    assert_int_equal(lti_store_session_get(s, p, "s2", NOW, &sess, &err), LTI_OK);
    assert_string_equal(sess.course_id, "data-101");

    /* The chooser sets it; sessions see it at once. */
    assert_int_equal(lti_store_link_set_course(s, ids.link_pk, "cloud-201", NOW + 5, &err),
                     LTI_OK);
    assert_int_equal(lti_store_session_get(s, p, "s1", NOW, &sess, &err), LTI_OK);
    assert_string_equal(sess.course_id, "cloud-201");
    assert_string_equal(raw_text(p, path, "SELECT course_source FROM resource_links"),
                        "chooser");
    assert_int_equal(raw_int(p, path, "SELECT updated FROM resource_links"), NOW + 5);
    assert_int_equal(lti_store_link_set_course(s, ids.link_pk + 1000, "x", NOW, &err),
                     LTI_ERR_NOT_FOUND);
    assert_string_equal(err.reason, "link_unknown");

    /* A link launched first without a course has none. */
    r = launch("u1", "n3", "s3");
    r.link_id = "link2";
    record(s, &r, &ids);
    assert_int_equal(lti_store_session_get(s, p, "s3", NOW, &sess, &err), LTI_OK);
    assert_null(sess.course_id);
    apr_pool_destroy(p);
}

static void test_session_get_missing(void **state)
{
    apr_pool_t *p;
    lti_store_t *s;
    lti_launch_rec_t r = launch("u1", "n1", "s1");
    lti_launch_ids_t ids;
    lti_session_t sess;
    lti_err_t err;

    apr_pool_create(&p, *state);
    s = open_migrated(p, db_path(p));
    assert_int_equal(lti_store_session_get(s, p, "s1", NOW, &sess, &err), LTI_ERR_NOT_FOUND);
    r.session_expires = NOW + 100;
    record(s, &r, &ids);

    assert_int_equal(lti_store_session_get(s, p, "nope", NOW, &sess, &err), LTI_ERR_NOT_FOUND);
    assert_string_equal(err.reason, "session_unknown");
    assert_int_equal(lti_store_session_get(s, p, "", NOW, &sess, NULL), LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_store_session_get(s, p, "s1", NOW + 99, &sess, &err), LTI_OK);
    assert_int_equal(lti_store_session_get(s, p, "s1", NOW + 100, &sess, &err),
                     LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_store_session_get(s, p, "s1", NOW + 5000, &sess, &err),
                     LTI_ERR_NOT_FOUND);
    apr_pool_destroy(p);
}

static void test_link_learners(void **state)
{
    static const struct {
        const char *user, *name, *email;
        unsigned roles;
        int64_t at;
    } people[] = {
        {"u-zoe", "Zo\xc3\xa9 Zed", "zoe@example.org", LTI_ROLE_LEARNER, NOW + 3},
        {"u-adam", "Adam Ant", NULL, LTI_ROLE_INSTRUCTOR, NOW + 1},
        {"u-marie", "Marie Curie", "marie@example.org", LTI_ROLE_LEARNER | LTI_ROLE_TA,
         NOW + 2},
    };
    apr_pool_t *p;
    lti_store_t *s;
    lti_launch_ids_t ids;
    apr_array_header_t *list;
    const lti_learner_t *l;
    lti_err_t err;
    int64_t link_pk = 0;

    apr_pool_create(&p, *state);
    s = open_migrated(p, db_path(p));
    for (size_t i = 0; i < sizeof(people) / sizeof(people[0]); i++) {
        lti_launch_rec_t r = launch(people[i].user, apr_psprintf(p, "n%d", (int)i),
                                    apr_psprintf(p, "s%d", (int)i));

        r.full_name = people[i].name;
        r.email = people[i].email;
        r.roles = people[i].roles;
        r.now = people[i].at;
        record(s, &r, &ids);
        link_pk = ids.link_pk;
    }
    /* Someone on another link only. */
    {
        lti_launch_rec_t r = launch("u-other", "n-other", "s-other");

        r.link_id = "link2";
        r.full_name = "Aaron Other";
        record(s, &r, &ids);
        assert_true(ids.link_pk != link_pk);
    }
    /* Zoé launches again within the minute (last_launch is kept to the minute, so the row
     * is not rewritten), then later. */
    {
        lti_launch_rec_t r = launch("u-zoe", "n-zoe2", "s-zoe2");

        r.full_name = NULL;
        r.now = NOW + 50;
        record(s, &r, &ids);
        assert_int_equal(lti_store_link_learners(s, p, link_pk, &list, &err), LTI_OK);
        l = (const lti_learner_t *)list->elts;
        assert_true(l[2].last_launch == NOW + 3);
        r = launch("u-zoe", "n-zoe3", "s-zoe3");
        r.full_name = NULL;
        r.now = NOW + 120;
        record(s, &r, &ids);
    }

    assert_int_equal(lti_store_link_learners(s, p, link_pk, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 3);
    l = (const lti_learner_t *)list->elts;
    assert_string_equal(l[0].full_name, "Adam Ant");
    assert_string_equal(l[0].user_id, "u-adam");
    assert_null(l[0].email);
    assert_int_equal(l[0].roles, LTI_ROLE_INSTRUCTOR);
    assert_true(l[0].last_launch == NOW + 1);
    assert_string_equal(l[1].full_name, "Marie Curie");
    assert_int_equal(l[1].roles, LTI_ROLE_LEARNER | LTI_ROLE_TA);
    assert_string_equal(l[1].email, "marie@example.org");
    assert_string_equal(l[2].full_name, "Zo\xc3\xa9 Zed");
    assert_true(l[2].last_launch == NOW + 120);
    for (int i = 0; i < 3; i++) {
        assert_true(l[i].person_id > 0);
    }

    assert_int_equal(lti_store_link_learners(s, p, link_pk + 1000, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 0);
    apr_pool_destroy(p);
}

/* ---- LTI 1.3: platforms, deployments, tool keys, login states, key cache ---- */

#define MOODLE "https://moodle.example.org"
#define CANVAS "https://canvas.example.edu"

/* A platform registration of issuer and client with ndeps deployments (deps may be NULL). */
static lti_platform_t platform(apr_pool_t *p, const char *issuer, const char *client,
                               const char *const *deps, int ndeps)
{
    lti_platform_t pf;

    memset(&pf, 0, sizeof(pf));
    pf.issuer = issuer;
    pf.client_id = client;
    pf.auth_url = apr_pstrcat(p, issuer, "/auth", NULL);
    pf.token_url = apr_pstrcat(p, issuer, "/token", NULL);
    pf.jwks_url = apr_pstrcat(p, issuer, "/jwks", NULL);
    if (deps != NULL) {
        pf.deployments = apr_array_make(p, ndeps, sizeof(const char *));
        for (int i = 0; i < ndeps; i++) {
            APR_ARRAY_PUSH(pf.deployments, const char *) = deps[i];
        }
    }
    return pf;
}

/* Registers a platform and returns its id. */
static int64_t add_platform(apr_pool_t *p, lti_store_t *s, const char *issuer,
                            const char *client)
{
    static const char *const deps[] = {"dep-1"};
    lti_platform_t pf = platform(p, issuer, client, deps, 1), got;
    lti_err_t err;

    if (lti_store_platform_add(s, &pf, NOW, &err) != LTI_OK
        || lti_store_platform_get(s, p, issuer, client, &got, &err) != LTI_OK) {
        fail_msg("platform %s %s: %s", issuer, client, err.text);
    }
    return got.id;
}

/* Fails unless the deployments are exactly want (n of them, in order). */
static void assert_deployments(const apr_array_header_t *d, const char *const *want, int n)
{
    assert_non_null(d);
    assert_int_equal(d->nelts, n);
    for (int i = 0; i < n; i++) {
        assert_string_equal(APR_ARRAY_IDX(d, i, const char *), want[i]);
    }
}

static void test_platforms(void **state)
{
    static const char *const deps_a[] = {"dep-2", "dep-1"};
    static const char *const sorted_a[] = {"dep-1", "dep-2"};
    static const char *const deps_c[] = {"dep-c"};
    static const char *const deps_dup[] = {"dep-9"};
    /* platform_list is ordered by issuer, then client id. */
    static const struct {
        const char *issuer, *client;
        int ndeps;
    } listed[] = {
        {CANVAS, "c-canvas", 0},
        {MOODLE, "a-second", 1},
        {MOODLE, "c-moodle", 2},
    };
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    lti_platform_t a, b, c, dup, got, got2;
    apr_array_header_t *list;
    lti_err_t err;

    apr_pool_create(&p, *state);
    path = db_path(p);
    s = open_migrated(p, path);
    a = platform(p, MOODLE, "c-moodle", deps_a, 2);
    b = platform(p, CANVAS, "c-canvas", NULL, 0);
    c = platform(p, MOODLE, "a-second", deps_c, 1);

    assert_int_equal(lti_store_platform_list(s, p, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 0);
    assert_int_equal(lti_store_platform_add(s, &a, NOW, &err), LTI_OK);

    /* The same issuer and client again: refused, and none of its deployments written. */
    dup = platform(p, MOODLE, "c-moodle", deps_dup, 1);
    dup.jwks_url = "https://elsewhere.example/jwks";
    assert_int_equal(lti_store_platform_add(s, &dup, NOW + 1, &err), LTI_ERR_EXISTS);
    assert_string_equal(err.reason, "platform_exists");
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM deployments"), 2);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM platforms"), 1);

    assert_int_equal(lti_store_platform_add(s, &b, NOW + 2, &err), LTI_OK);
    assert_int_equal(lti_store_platform_add(s, &c, NOW + 3, &err), LTI_OK);

    assert_int_equal(lti_store_platform_list(s, p, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 3);
    for (int i = 0; i < 3; i++) {
        const lti_platform_t *e = &APR_ARRAY_IDX(list, i, lti_platform_t);

        assert_string_equal(e->issuer, listed[i].issuer);
        assert_string_equal(e->client_id, listed[i].client);
        assert_string_equal(e->jwks_url, apr_pstrcat(p, listed[i].issuer, "/jwks", NULL));
        assert_non_null(e->deployments);
        assert_int_equal(e->deployments->nelts, listed[i].ndeps);
        assert_true(e->id > 0);
    }
    assert_deployments(APR_ARRAY_IDX(list, 2, lti_platform_t).deployments, sorted_a, 2);

    /* By issuer and client. */
    assert_int_equal(lti_store_platform_get(s, p, MOODLE, "c-moodle", &got, &err), LTI_OK);
    assert_string_equal(got.issuer, MOODLE);
    assert_string_equal(got.client_id, "c-moodle");
    assert_string_equal(got.auth_url, MOODLE "/auth");
    assert_string_equal(got.token_url, MOODLE "/token");
    assert_string_equal(got.jwks_url, MOODLE "/jwks");
    assert_true(got.created == NOW);
    assert_deployments(got.deployments, sorted_a, 2);

    /* By issuer alone: fine with one registration, ambiguous with two. */
    assert_int_equal(lti_store_platform_get(s, p, CANVAS, NULL, &got2, &err), LTI_OK);
    assert_string_equal(got2.client_id, "c-canvas");
    assert_int_equal(got2.deployments->nelts, 0);
    assert_int_equal(lti_store_platform_get(s, p, MOODLE, NULL, &got2, &err),
                     LTI_ERR_UNKNOWN_KEY);
    assert_string_equal(err.reason, "platform_ambiguous");

    /* Unknown. */
    assert_int_equal(lti_store_platform_get(s, p, "https://nobody.example", NULL, &got2, &err),
                     LTI_ERR_NOT_FOUND);
    assert_string_equal(err.reason, "platform_unknown");
    assert_int_equal(lti_store_platform_get(s, p, MOODLE, "nope", &got2, &err),
                     LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_store_platform_get(s, p, CANVAS, "c-moodle", &got2, NULL),
                     LTI_ERR_NOT_FOUND);

    /* By id. */
    assert_int_equal(lti_store_platform_by_id(s, p, got.id, &got2, &err), LTI_OK);
    assert_true(got2.id == got.id);
    assert_string_equal(got2.client_id, "c-moodle");
    assert_deployments(got2.deployments, sorted_a, 2);
    assert_int_equal(lti_store_platform_by_id(s, p, got.id + 1000, &got2, &err),
                     LTI_ERR_NOT_FOUND);
    assert_string_equal(err.reason, "platform_unknown");

    /* Remove takes its deployments, cached keys and login states with it. */
    {
        lti_login_state_t ls = {"st-a", got.id, "n", "https://tool/", "b", NOW, NOW + 600,
                                NULL, NULL};

        assert_int_equal(lti_store_jwks_put(s, got.id, "{\"keys\":[]}", NOW, NOW + 60, &err),
                         LTI_OK);
        assert_int_equal(lti_store_state_put(s, &ls, &err), LTI_OK);
    }
    assert_int_equal(lti_store_platform_remove(s, MOODLE, "c-moodle", &err), LTI_OK);
    assert_int_equal(lti_store_platform_get(s, p, MOODLE, "c-moodle", &got2, &err),
                     LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_store_platform_by_id(s, p, got.id, &got2, &err), LTI_ERR_NOT_FOUND);
    assert_int_equal(raw_int(p, path, apr_psprintf(p, "SELECT COUNT(*) FROM deployments WHERE "
                                                   "platform_id = %" APR_INT64_T_FMT, got.id)),
                     0);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM platform_jwks"), 0);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM login_states"), 0);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM deployments"), 1);   /* c's */
    assert_int_equal(lti_store_platform_remove(s, MOODLE, "c-moodle", &err), LTI_ERR_NOT_FOUND);
    assert_string_equal(err.reason, "platform_unknown");
    assert_int_equal(lti_store_platform_remove(s, "https://nobody.example", "x", NULL),
                     LTI_ERR_NOT_FOUND);

    /* Moodle has one registration left: the issuer alone finds it. */
    assert_int_equal(lti_store_platform_get(s, p, MOODLE, NULL, &got2, &err), LTI_OK);
    assert_string_equal(got2.client_id, "a-second");
    assert_deployments(got2.deployments, deps_c, 1);
    assert_int_equal(lti_store_platform_list(s, p, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 2);
    apr_pool_destroy(p);
}

static void test_deployment_add(void **state)
{
    static const char *const want[] = {"dep-0", "dep-1", "dep-3"};
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    lti_platform_t got;
    lti_err_t err;
    int64_t id;

    apr_pool_create(&p, *state);
    path = db_path(p);
    s = open_migrated(p, path);
    id = add_platform(p, s, MOODLE, "c1");

    /* Adding one that is there is no error and changes nothing. */
    assert_int_equal(lti_store_deployment_add(s, id, "dep-1", NOW + 50, &err), LTI_OK);
    assert_int_equal(lti_store_deployment_add(s, id, "dep-1", NOW + 60, NULL), LTI_OK);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM deployments"), 1);
    assert_int_equal(raw_int(p, path, "SELECT created FROM deployments"), NOW);

    assert_int_equal(lti_store_deployment_add(s, id, "dep-3", NOW + 70, &err), LTI_OK);
    assert_int_equal(lti_store_deployment_add(s, id, "dep-0", NOW + 80, &err), LTI_OK);
    assert_int_equal(lti_store_platform_get(s, p, MOODLE, "c1", &got, &err), LTI_OK);
    assert_deployments(got.deployments, want, 3);
    apr_pool_destroy(p);
}

static lti_toolkey_t toolkey(const char *kid, const char *state)
{
    lti_toolkey_t k;

    memset(&k, 0, sizeof(k));
    k.kid = kid;
    k.state = state;
    k.public_jwk = kid;
    k.private_sealed = state;
    return k;
}

/* Fails unless key_list returns exactly want (kid, state, created, retired), in order. */
typedef struct {
    const char *kid, *state;
    int64_t created, retired;
} key_row_t;

static void assert_keys(apr_pool_t *p, lti_store_t *s, const key_row_t *want, int n)
{
    apr_array_header_t *list;
    lti_err_t err;

    assert_int_equal(lti_store_key_list(s, p, &list, &err), LTI_OK);
    if (list->nelts != n) {
        fail_msg("key_list has %d keys, want %d", list->nelts, n);
    }
    for (int i = 0; i < n; i++) {
        const lti_toolkey_t *k = &APR_ARRAY_IDX(list, i, lti_toolkey_t);

        if (strcmp(k->kid, want[i].kid) != 0 || strcmp(k->state, want[i].state) != 0
            || k->created != want[i].created || k->retired != want[i].retired) {
            fail_msg("key %d is %s %s %lld %lld, want %s %s %lld %lld", i, k->kid, k->state,
                     (long long)k->created, (long long)k->retired, want[i].kid, want[i].state,
                     (long long)want[i].created, (long long)want[i].retired);
        }
        assert_string_equal(k->public_jwk, k->kid);
    }
}

static void test_keys(void **state)
{
    static const key_row_t added[] = {
        {"k1", "current", NOW, 0},
        {"k2", "next", NOW + 10, 0},
    };
    static const key_row_t rotated[] = {
        {"k2", "current", NOW + 10, 0},
        {"k1", "retired", NOW, NOW + 100},
    };
    static const key_row_t twice[] = {
        {"k3", "current", NOW + 200, 0},
        {"k4", "next", NOW + 400, 0},
        {"k2", "retired", NOW + 10, NOW + 300},
        {"k1", "retired", NOW, NOW + 100},
    };
    apr_pool_t *p;
    lti_store_t *s;
    lti_toolkey_t k;
    lti_err_t err;

    apr_pool_create(&p, *state);
    s = open_migrated(p, db_path(p));
    assert_keys(p, s, NULL, 0);

    /* No next key yet: rotation refused. */
    assert_int_equal(lti_store_key_rotate(s, NOW, &err), LTI_ERR_NOT_FOUND);
    assert_string_equal(err.reason, "key_no_next");

    k = toolkey("k1", "current");
    assert_int_equal(lti_store_key_add(s, &k, NOW, &err), LTI_OK);
    k = toolkey("k2", "next");
    assert_int_equal(lti_store_key_add(s, &k, NOW + 10, &err), LTI_OK);
    assert_keys(p, s, added, 2);

    /* One current and one next at most (another process made it first), one row per kid. */
    k = toolkey("k-dup", "current");
    assert_int_equal(lti_store_key_add(s, &k, NOW + 20, &err), LTI_ERR_EXISTS);
    assert_string_equal(err.reason, "key_exists");
    k = toolkey("k-dup", "next");
    assert_int_equal(lti_store_key_add(s, &k, NOW + 20, &err), LTI_ERR_EXISTS);
    assert_keys(p, s, added, 2);

    /* Rotate: current -> retired (with its time), next -> current. */
    assert_int_equal(lti_store_key_rotate(s, NOW + 100, &err), LTI_OK);
    assert_keys(p, s, rotated, 2);

    /* Again without a next key: refused, nothing changed (the retire step rolled back). */
    assert_int_equal(lti_store_key_rotate(s, NOW + 150, &err), LTI_ERR_NOT_FOUND);
    assert_string_equal(err.reason, "key_no_next");
    assert_keys(p, s, rotated, 2);
    k = toolkey("k1", "next");
    assert_int_equal(lti_store_key_add(s, &k, NOW + 160, &err), LTI_ERR_EXISTS);

    k = toolkey("k3", "next");
    assert_int_equal(lti_store_key_add(s, &k, NOW + 200, &err), LTI_OK);
    assert_int_equal(lti_store_key_rotate(s, NOW + 300, NULL), LTI_OK);
    k = toolkey("k4", "next");
    assert_int_equal(lti_store_key_add(s, &k, NOW + 400, &err), LTI_OK);
    assert_keys(p, s, twice, 4);
    apr_pool_destroy(p);
}

static void test_login_states(void **state)
{
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    lti_login_state_t ls, got;
    lti_err_t err;
    int64_t pid;

    apr_pool_create(&p, *state);
    path = db_path(p);
    s = open_migrated(p, path);
    pid = add_platform(p, s, MOODLE, "c1");

    memset(&ls, 0, sizeof(ls));
    ls.state = "st-1";
    ls.platform_id = pid;
    ls.nonce = "nonce-1";
    ls.target_link_uri = "https://tool.example/ptech/launch";
    ls.browser = "cookie-hash";
    ls.created = NOW;
    ls.expires = NOW + 600;
    assert_int_equal(lti_store_state_put(s, &ls, &err), LTI_OK);
    assert_int_equal(lti_store_state_take(s, p, "st-2", NOW, &got, &err), LTI_ERR_NOT_FOUND);
    /* Platform storage: the frame name and the relaunch address come back as given. */
    ls.state = "st-storage";
    ls.storage_target = "post_message_forwarding";
    ls.relaunch = MOODLE "/mod/lti/launch.php?id=3";
    assert_int_equal(lti_store_state_put(s, &ls, &err), LTI_OK);
    memset(&got, 0, sizeof(got));
    assert_int_equal(lti_store_state_get(s, p, "st-storage", NOW + 1, &got, NULL, &err), LTI_OK);
    assert_string_equal(got.storage_target, "post_message_forwarding");
    assert_string_equal(got.relaunch, MOODLE "/mod/lti/launch.php?id=3");
    assert_int_equal(lti_store_state_take(s, p, "st-storage", NOW + 1, &got, &err), LTI_OK);
    assert_string_equal(got.storage_target, "post_message_forwarding");
    ls.storage_target = ls.relaunch = NULL;
    ls.state = "st-1";

    /* Taken once: returned and deleted. */
    memset(&got, 0, sizeof(got));
    assert_int_equal(lti_store_state_take(s, p, "st-1", NOW + 1, &got, &err), LTI_OK);
    assert_string_equal(got.state, "st-1");
    assert_true(got.platform_id == pid);
    assert_string_equal(got.nonce, "nonce-1");
    assert_string_equal(got.target_link_uri, "https://tool.example/ptech/launch");
    assert_string_equal(got.browser, "cookie-hash");
    assert_true(got.created == NOW);
    assert_true(got.expires == NOW + 600);
    assert_null(got.storage_target);
    assert_null(got.relaunch);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM login_states"), 0);
    assert_int_equal(lti_store_state_take(s, p, "st-1", NOW + 2, &got, &err),
                     LTI_ERR_NOT_FOUND);
    assert_string_equal(err.reason, "state_unknown");

    /* Expired (at its expiry second): refused and deleted all the same. */
    ls.state = "st-exp";
    ls.expires = NOW + 10;
    assert_int_equal(lti_store_state_put(s, &ls, &err), LTI_OK);
    assert_int_equal(lti_store_state_take(s, p, "st-exp", NOW + 10, &got, &err),
                     LTI_ERR_EXPIRED);
    assert_string_equal(err.reason, "state_expired");
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM login_states"), 0);
    assert_int_equal(lti_store_state_take(s, p, "st-exp", NOW, &got, &err), LTI_ERR_NOT_FOUND);

    /* Purge removes expired states only (states begin with their time, as mod_ptech
     * makes them). */
    ls.state = "1700000000000001-old";
    ls.expires = NOW - 1;
    assert_int_equal(lti_store_state_put(s, &ls, &err), LTI_OK);
    ls.state = "1700000000000002-live";
    ls.expires = NOW + 100;
    assert_int_equal(lti_store_state_put(s, &ls, &err), LTI_OK);
    assert_int_equal(lti_store_purge(s, NOW, NULL, NULL, &err), LTI_OK);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM login_states"), 1);
    assert_int_equal(lti_store_state_take(s, p, "1700000000000001-old", NOW - 5, &got, &err),
                     LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_store_state_take(s, p, "1700000000000002-live", NOW, &got, &err),
                     LTI_OK);
    assert_string_equal(got.state, "1700000000000002-live");
    /* With nothing live left, every expired one goes. */
    ls.expires = NOW + 50;
    ls.state = "1700000000000003-a";
    assert_int_equal(lti_store_state_put(s, &ls, &err), LTI_OK);
    ls.state = "1700000000000004-b";
    assert_int_equal(lti_store_state_put(s, &ls, &err), LTI_OK);
    assert_int_equal(lti_store_purge(s, NOW + 100, NULL, NULL, &err), LTI_OK);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM login_states"), 0);
    apr_pool_destroy(p);
}

/* A launch reads its state, then consumes it in its own transaction: of two launches
 * carrying one state, the second is refused and leaves nothing behind. */
static void test_state_consumed_by_launch(void **state)
{
    static const char *const deps[] = {"dep-1"};
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    lti_platform_t pf;
    lti_login_state_t ls, got;
    lti_launch_rec_t r;
    lti_launch_ids_t ids;
    lti_err_t err;

    apr_pool_create(&p, *state);
    path = db_path(p);
    s = open_migrated(p, path);
    memset(&ls, 0, sizeof(ls));
    ls.state = "st-9";
    ls.platform_id = add_platform(p, s, MOODLE, "c1");
    ls.nonce = "nonce-9";
    ls.target_link_uri = "https://tool.example/ptech/launch";
    ls.browser = "cookie-hash";
    ls.created = NOW;
    ls.expires = NOW + 600;
    assert_int_equal(lti_store_state_put(s, &ls, &err), LTI_OK);

    /* Read twice: still there; with its platform the second time, in the same snapshot. */
    memset(&got, 0, sizeof(got));
    assert_int_equal(lti_store_state_get(s, p, "st-9", NOW + 1, &got, NULL, &err), LTI_OK);
    assert_string_equal(got.nonce, "nonce-9");
    assert_string_equal(got.browser, "cookie-hash");
    assert_true(got.platform_id == ls.platform_id && got.expires == NOW + 600);
    memset(&pf, 0xff, sizeof(pf));
    assert_int_equal(lti_store_state_get(s, p, "st-9", NOW + 1, &got, &pf, &err), LTI_OK);
    assert_true(pf.id == ls.platform_id);
    assert_string_equal(pf.issuer, MOODLE);
    assert_string_equal(pf.client_id, "c1");
    assert_deployments(pf.deployments, deps, 1);
    assert_int_equal(lti_store_state_get(s, p, "st-8", NOW + 1, &got, &pf, &err),
                     LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_store_state_get(s, p, "st-9", NOW + 600, &got, &pf, &err),
                     LTI_ERR_EXPIRED);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM login_states"), 1);

    r = launch("u1", "n1", "s1");
    r.version = "1.3";
    r.login_state = "st-9";
    record(s, &r, &ids);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM login_states"), 0);

    r = launch("u2", "n2", "s2");
    r.version = "1.3";
    r.login_state = "st-9";
    assert_int_equal(lti_store_launch_record(s, &r, &ids, &err), LTI_ERR_REPLAY);
    assert_string_equal(err.reason, "lti13_state_unknown");
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM persons"), 1);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM launches"), 1);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM sessions"), 1);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM nonces WHERE nonce = 'n2'"), 0);
    apr_pool_destroy(p);
}

static void test_jwks_cache(void **state)
{
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    lti_jwks_cache_t cache;
    lti_err_t err;
    int64_t a, b;
    int allowed = -1;

    apr_pool_create(&p, *state);
    path = db_path(p);
    s = open_migrated(p, path);
    a = add_platform(p, s, MOODLE, "c1");
    b = add_platform(p, s, CANVAS, "c2");

    memset(&cache, 0x5a, sizeof(cache));
    assert_int_equal(lti_store_jwks_get(s, p, a, &cache, &err), LTI_OK);
    assert_null(cache.jwks);
    assert_true(cache.fetched == 0 && cache.expires == 0 && cache.last_refetch == 0);

    assert_int_equal(lti_store_jwks_put(s, a, "{\"keys\":[1]}", NOW, NOW + 300, &err), LTI_OK);
    assert_int_equal(lti_store_jwks_get(s, p, a, &cache, &err), LTI_OK);
    assert_string_equal(cache.jwks, "{\"keys\":[1]}");
    assert_true(cache.fetched == NOW);
    assert_true(cache.expires == NOW + 300);
    assert_true(cache.last_refetch == 0);
    assert_int_equal(lti_store_jwks_get(s, p, b, &cache, &err), LTI_OK);
    assert_null(cache.jwks);

    /* Put again replaces it, and keeps the refetch claim. */
    assert_int_equal(lti_store_jwks_refetch_claim(s, a, NOW + 5, 60, &allowed, &err), LTI_OK);
    assert_int_equal(allowed, 1);
    assert_int_equal(lti_store_jwks_put(s, a, "{\"keys\":[2]}", NOW + 10, NOW + 20, &err),
                     LTI_OK);
    assert_int_equal(lti_store_jwks_get(s, p, a, &cache, &err), LTI_OK);
    assert_string_equal(cache.jwks, "{\"keys\":[2]}");
    assert_true(cache.fetched == NOW + 10);
    assert_true(cache.expires == NOW + 20);
    assert_true(cache.last_refetch == NOW + 5);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM platform_jwks"), 1);
    apr_pool_destroy(p);
}

static void test_jwks_refetch_claim(void **state)
{
    /* One platform's claims in time order, 60 s apart at most once. */
    static const struct {
        int64_t at;
        int allowed;
    } claims[] = {
        {NOW, 1}, {NOW, 0}, {NOW + 1, 0}, {NOW + 59, 0}, {NOW + 60, 1}, {NOW + 61, 0},
        {NOW + 119, 0}, {NOW + 500, 1}, {NOW + 500, 0},
    };
    apr_pool_t *p;
    lti_store_t *s;
    lti_jwks_cache_t cache;
    lti_err_t err;
    int64_t a, b;
    int allowed;

    apr_pool_create(&p, *state);
    s = open_migrated(p, db_path(p));
    a = add_platform(p, s, MOODLE, "c1");
    b = add_platform(p, s, CANVAS, "c2");

    for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
        allowed = -1;
        assert_int_equal(lti_store_jwks_refetch_claim(s, a, claims[i].at, 60, &allowed, &err),
                         LTI_OK);
        if (allowed != claims[i].allowed) {
            fail_msg("claim %d at NOW+%lld: allowed %d", (int)i,
                     (long long)(claims[i].at - NOW), allowed);
        }
    }
    /* A claim made no key set appear; another platform has its own limit. */
    assert_int_equal(lti_store_jwks_get(s, p, a, &cache, &err), LTI_OK);
    assert_null(cache.jwks);
    assert_true(cache.last_refetch == NOW + 500);
    assert_int_equal(lti_store_jwks_refetch_claim(s, b, NOW + 500, 60, &allowed, &err), LTI_OK);
    assert_int_equal(allowed, 1);

    /* With a cached set (last_refetch 0), the first claim is allowed. */
    {
        int64_t c = add_platform(p, s, "https://third.example", "c3");

        assert_int_equal(lti_store_jwks_put(s, c, "{\"keys\":[]}", NOW, NOW + 300, &err),
                         LTI_OK);
        assert_int_equal(lti_store_jwks_refetch_claim(s, c, NOW, 60, &allowed, &err), LTI_OK);
        assert_int_equal(allowed, 1);
        assert_int_equal(lti_store_jwks_refetch_claim(s, c, NOW + 30, 60, &allowed, &err),
                         LTI_OK);
        assert_int_equal(allowed, 0);
    }
    apr_pool_destroy(p);
}

/* resource_links.claims: written by a launch that has them, kept by one that has none. */
static void test_launch_claims(void **state)
{
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    lti_launch_rec_t r;
    lti_launch_ids_t ids, ids2;

    apr_pool_create(&p, *state);
    path = db_path(p);
    s = open_migrated(p, path);

    r = launch("u1", "n1", "s1");
    r.version = "1.3";
    r.link_claims = "{\"ags\":{\"lineitem\":\"https://lms/li/1\"}}";
    record(s, &r, &ids);
    assert_string_equal(raw_text(p, path, "SELECT claims FROM resource_links"),
                        "{\"ags\":{\"lineitem\":\"https://lms/li/1\"}}");

    r = launch("u2", "n2", "s2");
    r.link_claims = NULL;
    r.now = NOW + 10;
    record(s, &r, &ids2);
    assert_true(ids2.link_pk == ids.link_pk);
    assert_string_equal(raw_text(p, path, "SELECT claims FROM resource_links"),
                        "{\"ags\":{\"lineitem\":\"https://lms/li/1\"}}");
    /* Nothing changed for the link, so it was not rewritten. */
    assert_int_equal(raw_int(p, path, "SELECT updated FROM resource_links"), NOW);

    r = launch("u1", "n3", "s3");
    r.link_claims = "{\"ags\":{\"lineitem\":\"https://lms/li/2\"}}";
    r.now = NOW + 20;
    record(s, &r, &ids2);
    assert_string_equal(raw_text(p, path, "SELECT claims FROM resource_links"),
                        "{\"ags\":{\"lineitem\":\"https://lms/li/2\"}}");
    assert_int_equal(raw_int(p, path, "SELECT updated FROM resource_links"), NOW + 20);

    /* Another link launched without claims has none. */
    r = launch("u1", "n4", "s4");
    r.link_id = "link2";
    record(s, &r, &ids2);
    assert_null(raw_text(p, path, "SELECT claims FROM resource_links WHERE link_id = 'link2'"));
    apr_pool_destroy(p);
}

/* ---- several handles, several threads ---- */

/* Two handles on one file, as two httpd children would have, see each other's writes. */
static void test_two_handles(void **state)
{
    apr_pool_t *p1, *p2;
    const char *path;
    lti_store_t *a, *b;
    lti_launch_rec_t r = launch("u1", "n1", "s1");
    lti_launch_ids_t ids;
    lti_consumer_t c;
    lti_session_t sess;
    lti_err_t err;

    apr_pool_create(&p1, *state);
    apr_pool_create(&p2, *state);
    path = db_path(p1);
    a = open_migrated(p1, path);
    b = open_migrated(p2, path);

    assert_int_equal(lti_store_consumer_add(a, "moodle", "s1", 0, NOW, &err), LTI_OK);
    assert_int_equal(lti_store_consumer_get(b, p2, "moodle", &c, &err), LTI_OK);
    assert_string_equal(c.secret, "s1");
    assert_int_equal(lti_store_consumer_add(b, "moodle", "s2", 1, NOW, &err), LTI_OK);
    assert_int_equal(lti_store_consumer_get(a, p1, "moodle", &c, &err), LTI_OK);
    assert_string_equal(c.secret, "s2");

    assert_int_equal(lti_store_nonce_use(a, "sc", "n", NOW, &err), LTI_OK);
    assert_int_equal(lti_store_nonce_use(b, "sc", "n", NOW, &err), LTI_ERR_REPLAY);

    record(a, &r, &ids);
    assert_int_equal(lti_store_session_get(b, p2, "s1", NOW, &sess, &err), LTI_OK);
    assert_int_equal(lti_store_launch_record(b, &r, &ids, &err), LTI_ERR_REPLAY);
    assert_int_equal(lti_store_link_set_course(b, ids.link_pk, "c", NOW, &err), LTI_OK);
    assert_int_equal(lti_store_session_get(a, p1, "s1", NOW, &sess, &err), LTI_OK);
    assert_string_equal(sess.course_id, "c");

    apr_pool_destroy(p2);
    apr_pool_destroy(p1);
}

typedef struct {
    sqlite3 *db;
    int hold_ms;
    int rc;
} holder_t;

/* Keeps the write transaction open hold_ms, then commits.  Plain pthreads that return:
 * with apr_thread_exit (pthread_exit) ASan reported a stack-buffer-underflow in sigaltstack
 * at thread exit, in ASan's own teardown. */
static void *release_later(void *data)
{
    holder_t *h = data;

    apr_sleep(apr_time_from_msec(h->hold_ms));
    h->rc = sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
    return NULL;
}

/* Runs sql (which begins a write transaction) on another connection and lets a thread
 * commit it after hold_ms. */
static pthread_t hold_write_lock(const char *path, const char *sql, int hold_ms, holder_t *h)
{
    pthread_t t;

    assert_int_equal(sqlite3_open(path, &h->db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h->db, sql, NULL, NULL, NULL), SQLITE_OK);
    h->hold_ms = hold_ms;
    h->rc = -1;
    assert_int_equal(pthread_create(&t, NULL, release_later, h), 0);
    return t;
}

static void release(pthread_t t, holder_t *h)
{
    pthread_join(t, NULL);
    assert_int_equal(h->rc, SQLITE_OK);
    sqlite3_close(h->db);
}

#define HELD                                                                               \
    "BEGIN IMMEDIATE; INSERT INTO audit (at, http_status, reason) VALUES (1, 500, 'held')"

/* A write while another process holds the write lock waits (busy timeout), not fails. */
static void test_busy_waits(void **state)
{
    apr_pool_t *p;
    const char *path;
    lti_store_t *s;
    lti_launch_rec_t r = launch("u1", "n1", "s1");
    lti_launch_ids_t ids;
    holder_t h;
    pthread_t t;
    apr_time_t t0;
    lti_err_t err;

    apr_pool_create(&p, *state);
    path = db_path(p);
    s = open_migrated(p, path);

    /* An autocommit write. */
    t = hold_write_lock(path, HELD, 300, &h);
    t0 = apr_time_now();
    assert_int_equal(lti_store_consumer_add(s, "moodle", "x", 0, NOW, &err), LTI_OK);
    assert_true(apr_time_now() - t0 >= apr_time_from_msec(200));
    release(t, &h);

    /* A BEGIN IMMEDIATE transaction. */
    t = hold_write_lock(path, HELD, 300, &h);
    t0 = apr_time_now();
    assert_int_equal(lti_store_launch_record(s, &r, &ids, &err), LTI_OK);
    assert_true(apr_time_now() - t0 >= apr_time_from_msec(200));
    release(t, &h);

    /* Reads do not wait for a writer in WAL mode. */
    {
        lti_consumer_t c;

        t = hold_write_lock(path, HELD, 300, &h);
        t0 = apr_time_now();
        assert_int_equal(lti_store_consumer_get(s, p, "moodle", &c, &err), LTI_OK);
        assert_true(apr_time_now() - t0 < apr_time_from_msec(200));
        release(t, &h);
    }
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM audit WHERE reason = 'held'"), 3);
    apr_pool_destroy(p);
}

typedef struct {
    lti_store_t *s;
    int64_t platform_id, now;
    pthread_barrier_t *start;
    int allowed;
    lti_status_t rv;
} claimer_t;

static void *claim_thread(void *data)
{
    claimer_t *c = data;

    pthread_barrier_wait(c->start);
    c->rv = lti_store_jwks_refetch_claim(c->s, c->platform_id, c->now, 60, &c->allowed, NULL);
    return NULL;
}

/* Two processes (two handles on one file) claim the same refetch at once: one wins. */
static void test_jwks_claim_two_handles(void **state)
{
    apr_pool_t *p1, *p2;
    const char *path;
    lti_store_t *h[2];
    claimer_t c[2];
    pthread_t t[2];
    pthread_barrier_t start;
    int64_t pid;

    apr_pool_create(&p1, *state);
    apr_pool_create(&p2, *state);
    path = db_path(p1);
    h[0] = open_migrated(p1, path);
    h[1] = open_migrated(p2, path);
    pid = add_platform(p1, h[0], MOODLE, "c1");

    /* Several rounds, each a full interval after the last, both racing each time. */
    for (int round = 0; round < 20; round++) {
        assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
        for (int i = 0; i < 2; i++) {
            c[i].s = h[i];
            c[i].platform_id = pid;
            c[i].now = NOW + 60 * round;
            c[i].start = &start;
            c[i].allowed = -1;
            assert_int_equal(pthread_create(&t[i], NULL, claim_thread, &c[i]), 0);
        }
        for (int i = 0; i < 2; i++) {
            pthread_join(t[i], NULL);
            assert_int_equal(c[i].rv, LTI_OK);
        }
        pthread_barrier_destroy(&start);
        if (c[0].allowed + c[1].allowed != 1) {
            fail_msg("round %d: claims allowed %d and %d", round, c[0].allowed,
                     c[1].allowed);
        }
    }
    apr_pool_destroy(p2);
    apr_pool_destroy(p1);
}

typedef struct {
    lti_store_t *s;
    int from, to;
    lti_status_t rv;
    lti_err_t err;
} migrator_t;

static void *migrate_thread(void *data)
{
    migrator_t *m = data;

    m->rv = lti_store_migrate(m->s, &m->from, &m->to, &m->err);
    return NULL;
}

/* Two processes start on a new store at once (httpd's post_config and a ptechctl, or two
 * ptechctl runs): both see version 0, then take turns for the write lock.  Both must end
 * with the current schema; the second has nothing left to do. */
static void test_migrate_concurrent(void **state)
{
    apr_pool_t *p1, *p2;
    const char *path;
    migrator_t m[2];
    pthread_t t[2];
    holder_t h;
    pthread_t ht;

    apr_pool_create(&p1, *state);
    apr_pool_create(&p2, *state);
    path = db_path(p1);
    memset(m, 0, sizeof(m));
    m[0].s = open_at(p1, path);
    m[1].s = open_at(p2, path);

    /* Hold the write lock so that both read version 0 and queue behind it. */
    ht = hold_write_lock(path, "BEGIN IMMEDIATE", 300, &h);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, migrate_thread, &m[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
    }
    release(ht, &h);
    for (int i = 0; i < 2; i++) {
        if (m[i].rv != LTI_OK) {
            fail_msg("migrator %d: %s: %s", i, lti_status_name(m[i].rv), m[i].err.text);
        }
        assert_int_equal(m[i].to, LTI_STORE_SCHEMA_VERSION);
    }
    assert_int_equal(raw_int(p1, path, "SELECT COUNT(*) FROM schema_migrations"),
                     LTI_STORE_SCHEMA_VERSION);
    apr_pool_destroy(p2);
    apr_pool_destroy(p1);
}

typedef struct {
    lti_store_t *s;
    int id, fails, replays, errors;
} worker_t;

#define WORKERS 4
#define PER_WORKER 50

static void *use_nonces(void *data)
{
    worker_t *w = data;
    char nonce[32];

    for (int i = 0; i < PER_WORKER; i++) {
        snprintf(nonce, sizeof(nonce), "w%d-%d", w->id, i);
        w->fails += lti_store_nonce_use(w->s, "sc", nonce, NOW, NULL) != LTI_OK;
        /* Every worker also tries a shared nonce: exactly one may win it. */
        snprintf(nonce, sizeof(nonce), "shared-%d", i);
        (void)lti_store_nonce_use(w->s, "sc", nonce, NOW, NULL);
    }
    return NULL;
}

/* Launches from several threads share group commits.  Each thread records its own good
 * launches, replays a shared nonce (refused cleanly) and reuses a shared session hash (a
 * database error after writing, which sends its batch through savepoints): the good ones
 * are all there, the bad ones left nothing. */
static void *batch_launches(void *data)
{
    worker_t *w = data;
    apr_pool_t *p;

    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    for (int i = 0; i < PER_WORKER; i++) {
        lti_launch_rec_t r;
        lti_launch_ids_t ids;
        lti_err_t err;

        r = launch(apr_psprintf(p, "u%d-%d", w->id, i), apr_psprintf(p, "n%d-%d", w->id, i),
                   apr_psprintf(p, "s%d-%d", w->id, i));
        w->fails += lti_store_launch_record(w->s, &r, &ids, &err) != LTI_OK;
        r = launch(apr_psprintf(p, "x%d-%d", w->id, i), "shared-nonce",
                   apr_psprintf(p, "sx%d-%d", w->id, i));
        w->replays += lti_store_launch_record(w->s, &r, &ids, &err) == LTI_ERR_REPLAY;
        r = launch(apr_psprintf(p, "y%d-%d", w->id, i), apr_psprintf(p, "ny%d-%d", w->id, i),
                   "shared-session");
        w->errors += lti_store_launch_record(w->s, &r, &ids, &err) == LTI_ERR_STORE;
    }
    apr_pool_destroy(p);
    return NULL;
}

static void test_threads_batch_launches(void **state)
{
    apr_pool_t *p;
    const char *path;
    worker_t w[WORKERS];
    pthread_t t[WORKERS];
    int replays = 0, errors = 0;

    apr_pool_create(&p, *state);
    path = db_path(p);
    memset(w, 0, sizeof(w));
    w[0].s = open_migrated(p, path);
    for (int i = 0; i < WORKERS; i++) {
        w[i].s = w[0].s;
        w[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, batch_launches, &w[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].fails, 0);
        replays += w[i].replays;
        errors += w[i].errors;
    }
    /* One shared-nonce launch and one shared-session launch got in; the rest were refused. */
    assert_int_equal(replays, WORKERS * PER_WORKER - 1);
    assert_int_equal(errors, WORKERS * PER_WORKER - 1);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM launches"),
                     WORKERS * PER_WORKER + 2);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM sessions"),
                     WORKERS * PER_WORKER + 2);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM persons"),
                     WORKERS * PER_WORKER + 2);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM nonces"),
                     WORKERS * PER_WORKER + 2);
    apr_pool_destroy(p);
}

/* One handle shared by a process's threads. */
static void test_threads_share_handle(void **state)
{
    apr_pool_t *p;
    const char *path;
    worker_t w[WORKERS];
    pthread_t t[WORKERS];

    apr_pool_create(&p, *state);
    path = db_path(p);
    w[0].s = open_migrated(p, path);
    for (int i = 0; i < WORKERS; i++) {
        w[i].s = w[0].s;
        w[i].id = i;
        w[i].fails = w[i].replays = w[i].errors = 0;
        assert_int_equal(pthread_create(&t[i], NULL, use_nonces, &w[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].fails, 0);
    }
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM nonces"),
                     WORKERS * PER_WORKER + PER_WORKER);
    apr_pool_destroy(p);
}

/* ---- the front door logs store failures, not expected outcomes ---- */

static int log_errors;

static void count_log(void *baton, lti_log_level_t level, const char *file, int line,
                      const char *msg)
{
    (void)baton;
    (void)file;
    (void)line;
    (void)msg;
    log_errors += level == LTI_LOG_ERR;
}

static void test_logging(void **state)
{
    apr_pool_t *p;
    lti_store_t *s;
    lti_consumer_t c;
    lti_err_t err;

    apr_pool_create(&p, *state);
    s = open_migrated(p, db_path(p));
    log_errors = 0;
    lti_log_set(count_log, NULL);

    assert_int_equal(lti_store_consumer_get(s, p, "nobody", &c, &err), LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_store_nonce_use(s, "sc", "n", NOW, &err), LTI_OK);
    assert_int_equal(lti_store_nonce_use(s, "sc", "n", NOW, &err), LTI_ERR_REPLAY);
    assert_int_equal(log_errors, 0);

    assert_int_equal(lti_store_open(p, "mysql:x", &s, &err), LTI_ERR_CONFIG);
    assert_int_equal(log_errors, 1);

    lti_log_set(NULL, NULL);
    apr_pool_destroy(p);
}

/* ---- badges ---- */

static void fact_of(apr_pool_t *p, lti_store_t *s, int64_t person, const char *status,
                    int64_t at, const char *source, const char *evidence)
{
    apr_array_header_t *rows = apr_array_make(p, 1, sizeof(lti_progress_t));
    lti_progress_t *r = apr_array_push(rows);
    lti_err_t err;

    memset(r, 0, sizeof(*r));
    r->person_id = person;
    r->course_id = "c1";
    r->module_id = "";
    r->status = status;
    r->at = at;
    r->source = source;
    r->evidence = evidence;
    if (lti_store_progress_record(s, p, rows, NOW, unit_newest_result, NULL, NULL, &err)
        != LTI_OK) {
        fail_msg("progress: %s", err.text);
    }
}

static void test_badges(void **state)
{
    apr_pool_t *p;
    const char *path, *ev = "https://api.credly.com/v1/obi/v2/badge_assertions/abc";
    lti_launch_rec_t r1, r2;
    lti_launch_ids_t a, b;
    apr_array_header_t *list;
    lti_badge_award_t got;
    lti_badge_claim_t c;
    lti_store_t *s;
    lti_err_t err;
    int64_t id = 0;

    apr_pool_create(&p, *state);
    path = db_path(p);
    s = open_migrated(p, path);
    r1 = launch("u1", "n1", "h1");
    r1.course_id = "c1";
    record(s, &r1, &a);
    r2 = launch("u2", "n2", "h2");
    r2.course_id = "c1";
    r2.email = "Other@Example.org";
    r2.result_sourcedid = "src-2";
    record(s, &r2, &b);

    /* In progress: no badge.  Passed by an IBM badge: one, with that evidence. */
    fact_of(p, s, a.person_id, "in_progress", NOW - 30, "csv", NULL);
    assert_int_equal(lti_store_badge_list(s, p, 0, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 0);
    fact_of(p, s, a.person_id, "passed", NOW - 20, "ibm-badge", ev);
    assert_int_equal(lti_store_badge_list(s, p, 0, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 1);
    got = APR_ARRAY_IDX(list, 0, lti_badge_award_t);
    assert_int_equal(strlen(got.id), 32);
    assert_int_equal(got.person_id, a.person_id);
    assert_string_equal(got.course_id, "c1");
    assert_string_equal(got.email, "marie@example.org");
    assert_string_equal(got.evidence, ev);
    assert_string_equal(got.user_id, "u1");
    assert_true(got.score == 1.0);
    assert_int_equal(got.issued, NOW);
    assert_int_equal(got.revoked, 0);
    /* Failed then passed again: still the one award. */
    fact_of(p, s, a.person_id, "failed", NOW - 10, "csv", NULL);
    fact_of(p, s, a.person_id, "passed", NOW - 5, "instructor", NULL);
    assert_int_equal(lti_store_badge_list(s, p, a.person_id, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 1);
    assert_int_equal(raw_int(p, path, "SELECT COUNT(*) FROM badge_awards"), 1);

    /* Revoke: once; unknown ids are named. */
    assert_int_equal(lti_store_badge_get(s, p, "nope", &got, &err), LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_store_badge_revoke(s, "nope", "x", NOW, &err), LTI_ERR_NOT_FOUND);
    got = APR_ARRAY_IDX(list, 0, lti_badge_award_t);
    assert_int_equal(lti_store_badge_revoke(s, got.id, "copied", NOW + 1, &err), LTI_OK);
    assert_int_equal(lti_store_badge_revoke(s, got.id, "again", NOW + 2, &err), LTI_ERR_EXISTS);
    assert_string_equal(err.reason, "badge_already_revoked");
    assert_int_equal(lti_store_badge_get(s, p, got.id, &got, &err), LTI_OK);
    assert_int_equal(got.revoked, NOW + 1);
    assert_string_equal(got.revoke_reason, "copied");

    /* Evidence waiting for an instructor: one per person and course. */
    memset(&c, 0, sizeof(c));
    c.person_id = b.person_id;
    c.link_pk = b.link_pk;
    c.course_id = "c1";
    c.url = ev;
    c.claimed_email = "private@example.net";
    assert_int_equal(lti_store_badge_claim_add(s, &c, NOW, &id, &err), LTI_OK);
    assert_true(id > 0);
    assert_int_equal(lti_store_badge_claim_add(s, &c, NOW, NULL, &err), LTI_ERR_EXISTS);
    assert_int_equal(lti_store_badge_claim_list(s, p, b.link_pk, 0, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(list, 0, lti_badge_claim_t).claimed_email,
                        "private@example.net");
    assert_string_equal(APR_ARRAY_IDX(list, 0, lti_badge_claim_t).email, "Other@Example.org");
    assert_int_equal(lti_store_badge_claim_list(s, p, 0, a.person_id, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 0);
    /* Another link's instructor cannot decide it; a rejection records nothing. */
    assert_int_equal(lti_store_badge_claim_decide(s, p, id, b.link_pk + 100, 1, NOW,
                                                  unit_newest_result, NULL, NULL, &err),
                     LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_store_badge_claim_decide(s, p, id, b.link_pk, 0, NOW, unit_newest_result,
                                                  NULL, NULL, &err), LTI_OK);
    assert_int_equal(lti_store_badge_claim_decide(s, p, id, b.link_pk, 1, NOW, unit_newest_result,
                                                  NULL, NULL, &err), LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_store_badge_claim_list(s, p, b.link_pk, 0, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 0);
    assert_int_equal(raw_int(p, path, apr_psprintf(p, "SELECT COUNT(*) FROM progress WHERE"
                                                      " person_id = %" APR_INT64_T_FMT,
                                                   (apr_int64_t)b.person_id)), 0);
    /* Filed again and approved: passed by the IBM badge, the grade queued, the badge given,
     * and the queued grade carries the badge for the AGS comment. */
    assert_int_equal(lti_store_badge_claim_add(s, &c, NOW, &id, &err), LTI_OK);
    assert_int_equal(lti_store_badge_claim_decide(s, p, id, b.link_pk, 1, NOW, unit_newest_result,
                                                  NULL, NULL, &err), LTI_OK);
    assert_string_equal(raw_text(p, path, apr_psprintf(p, "SELECT source || ' ' || evidence"
                                                          " FROM progress WHERE person_id = %"
                                                          APR_INT64_T_FMT,
                                                       (apr_int64_t)b.person_id)),
                        apr_pstrcat(p, "ibm-badge ", ev, NULL));
    assert_int_equal(lti_store_badge_list(s, p, b.person_id, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(list, 0, lti_badge_award_t).evidence, ev);
    assert_int_equal(lti_store_outbox_lease(s, p, "me", NOW, 60, 10, &list, &err), LTI_OK);
    for (int i = 0; i < list->nelts; i++) {
        const lti_outbox_item_t *it = &APR_ARRAY_IDX(list, i, lti_outbox_item_t);

        if (it->person_id == b.person_id) {
            assert_non_null(it->badge_id);
            assert_int_equal(strlen(it->badge_id), 32);
        }
        else {
            assert_null(it->badge_id);  /* a's badge is revoked */
        }
    }
    assert_true(list->nelts >= 2);
    apr_pool_destroy(p);
}

/* Content selection contexts: read without consuming, taken once, expired ones refused
 * and forgotten by the next put. */
static void test_dlctx(void **state)
{
    apr_pool_t *p;
    lti_store_t *s;
    lti_dlctx_t c, got;
    lti_err_t err;

    apr_pool_create(&p, *state);
    s = open_migrated(p, db_path(p));
    memset(&c, 0, sizeof(c));
    c.id = "0123456789abcdef0123456789abcdef";
    c.browser = "browser-hash";
    c.csrf = "csrf-token";
    c.body = "{\"version\":\"1.3\"}";
    c.created = NOW;
    c.expires = NOW + 3600;
    assert_int_equal(lti_store_dlctx_put(s, &c, NOW, &err), LTI_OK);
    assert_int_equal(lti_store_dlctx_put(s, &c, NOW, &err), LTI_ERR_STORE);
    for (int take = 0; take <= 1; take++) {
        memset(&got, 0, sizeof(got));
        assert_int_equal(lti_store_dlctx_get(s, p, c.id, NOW + 10, take, &got, &err), LTI_OK);
        assert_string_equal(got.id, c.id);
        assert_string_equal(got.browser, "browser-hash");
        assert_string_equal(got.csrf, "csrf-token");
        assert_string_equal(got.body, c.body);
        assert_int_equal(got.created, NOW);
        assert_int_equal(got.expires, NOW + 3600);
    }
    assert_int_equal(lti_store_dlctx_get(s, p, c.id, NOW + 10, 1, &got, &err), LTI_ERR_NOT_FOUND);
    assert_string_equal(err.reason, "dl_unknown");
    assert_int_equal(lti_store_dlctx_get(s, p, c.id, NOW + 10, 0, &got, &err), LTI_ERR_NOT_FOUND);

    /* Expired: refused, and gone after the next put. */
    c.id = "ffffffffffffffffffffffffffffffff";
    assert_int_equal(lti_store_dlctx_put(s, &c, NOW, &err), LTI_OK);
    assert_int_equal(lti_store_dlctx_get(s, p, c.id, NOW + 3600, 0, &got, &err),
                     LTI_ERR_EXPIRED);
    assert_string_equal(err.reason, "dl_expired");
    c.id = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
    assert_int_equal(lti_store_dlctx_put(s, &c, NOW + 3601, &err), LTI_OK);
    assert_int_equal(lti_store_dlctx_get(s, p, "ffffffffffffffffffffffffffffffff", NOW, 0, &got,
                                         &err), LTI_ERR_NOT_FOUND);
    apr_pool_destroy(p);
}

/* Appends a learner to a roster. */
static void add_member(apr_array_header_t *members, const char *user_id, const char *name,
                       const char *email, int active)
{
    lti_roster_member_t *m = apr_array_push(members);

    memset(m, 0, sizeof(*m));
    m->user_id = user_id;
    m->full_name = name;
    m->email = email;
    m->roles = LTI_ROLE_LEARNER;
    m->active = active;
}

/* A course roster: members become persons (the roster's email is the newest), the link's
 * learner list shows the active ones who never launched (last_launch 0) after those who
 * did, a member who launched is listed once, and a new roster replaces the old one. */
static void test_roster(void **state)
{
    apr_pool_t *p;
    lti_store_t *s;
    lti_launch_ids_t ids;
    lti_launch_rec_t r;
    lti_roster_source_t src;
    apr_array_header_t *members, *list;
    const lti_learner_t *l;
    lti_err_t err;

    apr_pool_create(&p, *state);
    s = open_migrated(p, db_path(p));
    r = launch("u-marie", "n1", "s1");
    r.link_claims = "{\"nrps\":{\"context_memberships_url\":\"https://lms/m\"}}";
    record(s, &r, &ids);
    assert_int_equal(lti_store_roster_source(s, p, ids.link_pk, &src, &err), LTI_OK);
    assert_string_equal(src.tenant, "lti11:moodle");
    assert_non_null(strstr(src.claims, "context_memberships_url"));
    assert_true(src.context_pk > 0);
    assert_int_equal(src.synced, 0);
    assert_int_equal(lti_store_roster_source(s, p, ids.link_pk + 99, &src, &err),
                     LTI_ERR_NOT_FOUND);
    assert_int_equal(lti_store_roster_source(s, p, ids.link_pk, &src, &err), LTI_OK);

    members = apr_array_make(p, 4, sizeof(lti_roster_member_t));
    add_member(members, "u-marie", "Marie Curie", "marie.curie@new.example.org", 1);
    add_member(members, "u-never", "Amine Never", "amine@example.org", 1);
    add_member(members, "u-gone", "Inactive Person", NULL, 0);
    assert_int_equal(lti_store_roster_put(s, src.tenant, src.context_pk, members, NOW + 10,
                                          &err), LTI_OK);
    assert_int_equal(lti_store_roster_source(s, p, ids.link_pk, &src, &err), LTI_OK);
    assert_int_equal(src.synced, NOW + 10);
    assert_int_equal(lti_store_link_learners(s, p, ids.link_pk, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 2);
    l = &APR_ARRAY_IDX(list, 0, lti_learner_t);
    assert_string_equal(l->user_id, "u-never");
    assert_string_equal(l->email, "amine@example.org");
    assert_int_equal(l->last_launch, 0);
    l = &APR_ARRAY_IDX(list, 1, lti_learner_t);
    assert_string_equal(l->user_id, "u-marie");
    assert_string_equal(l->email, "marie.curie@new.example.org");
    assert_true(l->last_launch > 0);

    /* A later roster without Amine: gone from the list, still a person. */
    members->nelts = 1;
    assert_int_equal(lti_store_roster_put(s, src.tenant, src.context_pk, members, NOW + 20,
                                          &err), LTI_OK);
    assert_int_equal(lti_store_link_learners(s, p, ids.link_pk, &list, &err), LTI_OK);
    assert_int_equal(list->nelts, 1);
    assert_int_equal(lti_store_roster_put(s, NULL, src.context_pk, members, NOW, &err),
                     LTI_ERR_INTERNAL);
    apr_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_migrate_empty),
        cmocka_unit_test(test_migrate_from_v1),
        cmocka_unit_test(test_migrate_from_v2),
        cmocka_unit_test(test_migrate_v3_first_release),
        cmocka_unit_test(test_migrate_too_new),
        cmocka_unit_test(test_wal),
        cmocka_unit_test(test_consumers),
        cmocka_unit_test(test_demo_grades),
        cmocka_unit_test(test_catalog),
        cmocka_unit_test(test_nonce),
        cmocka_unit_test(test_purge),
        cmocka_unit_test(test_checkpoint),
        cmocka_unit_test(test_audit),
        cmocka_unit_test(test_launch_record),
        cmocka_unit_test(test_person_links),
        cmocka_unit_test(test_audit_counts),
        cmocka_unit_test(test_launch_updates),
        cmocka_unit_test(test_launch_course),
        cmocka_unit_test(test_session_get_missing),
        cmocka_unit_test(test_link_learners),
        cmocka_unit_test(test_platforms),
        cmocka_unit_test(test_deployment_add),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_login_states),
        cmocka_unit_test(test_state_consumed_by_launch),
        cmocka_unit_test(test_dlctx),
        cmocka_unit_test(test_roster),
        cmocka_unit_test(test_jwks_cache),
        cmocka_unit_test(test_jwks_refetch_claim),
        cmocka_unit_test(test_launch_claims),
        cmocka_unit_test(test_two_handles),
        cmocka_unit_test(test_busy_waits),
        cmocka_unit_test(test_threads_share_handle),
        cmocka_unit_test(test_threads_batch_launches),
        cmocka_unit_test(test_jwks_claim_two_handles),
        cmocka_unit_test(test_migrate_concurrent),
        cmocka_unit_test(test_logging),
        cmocka_unit_test(test_badges),
    };

    return cmocka_run_group_tests_name("store", tests, group_setup, group_teardown);
}
