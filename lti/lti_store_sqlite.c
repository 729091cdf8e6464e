/* lti_store_sqlite.c -- the SQLite backend of lti_store.h.
 *
 * One connection per process (open it after fork), shared by the process's threads under
 * a mutex held for the length of one store call, so a call is also one transaction.  WAL,
 * a busy timeout, prepared statements kept for the connection's life, BEGIN IMMEDIATE for
 * writes (no lock upgrades, hence no SQLITE_BUSY deadlocks), synchronous=NORMAL (WAL keeps
 * commits atomic; grade-writing transactions switch to FULL).  The DML is plain SQL that
 * PostgreSQL runs too (ON CONFLICT, RETURNING); only the DDL below is SQLite's own.
 */
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <apr_thread_proc.h>
#include <apr_thread_mutex.h>
#include <sqlite3.h>

#include "lti_store.h"
#include "lti_util.h"

#define BUSY_TIMEOUT_MS 10000

/* Waits for another process's write lock.  SQLite's own handler sleeps up to 100 ms at a
 * time, which under prefork's many writers is most of a launch's latency; transactions
 * here last well under a millisecond, so poll finely, then back off, for BUSY_TIMEOUT_MS
 * in all.  Returns 0 (give up: SQLITE_BUSY) after that. */
static int busy_wait(void *arg, int count)
{
    if (count < 20) {
        apr_sleep(50);              /* 1 ms in all */
    }
    else if (count < 120) {
        apr_sleep(500);             /* then 50 ms */
    }
    else if (count < 120 + BUSY_TIMEOUT_MS / 5) {
        apr_sleep(5000);
    }
    else {
        return 0;
    }
    return 1;
}

/* Schema steps: migrations[i] brings version i to i + 1.  Never edit a released step;
 * add a new one. */
static const char *const migrations[] = {
    /* 0 -> 1: registrations, keys, catalog */
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
    "  source TEXT NOT NULL, xml TEXT NOT NULL, loaded INTEGER NOT NULL);",

    /* 1 -> 2: people, launches, sessions, nonces, audit */
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
    "CREATE INDEX audit_reason ON audit (reason, at);",

    /* 2 -> 3: LTI 1.3 login states, platform key cache, per-link service claims */
    "CREATE TABLE platform_jwks (platform_id INTEGER PRIMARY KEY REFERENCES platforms(id)"
    "  ON DELETE CASCADE, jwks TEXT, fetched INTEGER NOT NULL DEFAULT 0,"
    "  expires INTEGER NOT NULL DEFAULT 0, last_refetch INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE login_states (state TEXT PRIMARY KEY, platform_id INTEGER NOT NULL"
    "  REFERENCES platforms(id) ON DELETE CASCADE, nonce TEXT NOT NULL,"
    "  target_link_uri TEXT NOT NULL, browser TEXT NOT NULL, created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX login_states_expires ON login_states (expires);"
    "ALTER TABLE resource_links ADD COLUMN claims TEXT;",

    /* 3 -> 4: one current and one next tool key at most; shared settings */
    "CREATE UNIQUE INDEX IF NOT EXISTS tool_keys_one_live ON tool_keys (state)"
    "  WHERE state IN ('current', 'next');"
    "CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL,"
    "  updated INTEGER NOT NULL);",

    /* 4 -> 5: person links (LTI 1.1 -> 1.3 migration): an identity row may stand for
     * another person (alias_of, never a chain); the LMS instance guid it launched from */
    "ALTER TABLE persons ADD COLUMN alias_of INTEGER REFERENCES persons(id);"
    "ALTER TABLE persons ADD COLUMN guid TEXT;"
    "CREATE INDEX persons_guid ON persons (guid, user_id) WHERE guid IS NOT NULL;",

    /* 5 -> 6: blocked third-party cookies: the platform storage frame a login state was
     * put in (1EdTech LTI Client Side postMessages), and where the LMS relaunches it */
    "ALTER TABLE login_states ADD COLUMN storage_target TEXT;"
    "ALTER TABLE login_states ADD COLUMN relaunch TEXT;",

    /* 6 -> 7: progress facts, facts kept for learners who have not launched yet, course
     * results, the grade return outbox (one pending row per person and link; leases), the
     * last value queued per person and link (outlives purges), the store's one drainer; persons found by user id or email for the CSV import */
    "CREATE TABLE progress (person_id INTEGER NOT NULL REFERENCES persons(id),"
    "  course_id TEXT NOT NULL, module_id TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,"
    "  score REAL, at INTEGER NOT NULL, source TEXT NOT NULL, evidence TEXT,"
    "  updated INTEGER NOT NULL, PRIMARY KEY (person_id, course_id, module_id));"
    "CREATE TABLE progress_kept (user_key TEXT NOT NULL, course_id TEXT NOT NULL,"
    "  module_id TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, score REAL,"
    "  at INTEGER NOT NULL, source TEXT NOT NULL, evidence TEXT, created INTEGER NOT NULL,"
    "  PRIMARY KEY (user_key, course_id, module_id));"
    "CREATE INDEX progress_kept_lower ON progress_kept (lower(user_key));"
    "CREATE TABLE course_results (person_id INTEGER NOT NULL REFERENCES persons(id),"
    "  course_id TEXT NOT NULL, status TEXT NOT NULL, score REAL NOT NULL,"
    "  at INTEGER NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY (person_id, course_id));"
    "CREATE TABLE outbox (id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL"
    "  REFERENCES persons(id), link_pk INTEGER NOT NULL REFERENCES resource_links(id),"
    "  kind TEXT NOT NULL CHECK (kind IN ('lti11', 'ags')), course_id TEXT NOT NULL,"
    "  result_status TEXT NOT NULL, score REAL NOT NULL, result_at INTEGER NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),"
    "  version INTEGER NOT NULL DEFAULT 1, attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt INTEGER NOT NULL, lease_owner TEXT, lease_until INTEGER, reason TEXT,"
    "  queued INTEGER NOT NULL, updated INTEGER NOT NULL, sent_at INTEGER);"
    "CREATE UNIQUE INDEX outbox_one_pending ON outbox (person_id, link_pk)"
    "  WHERE state = 'pending';"
    "CREATE INDEX outbox_due ON outbox (state, next_attempt);"
    "CREATE INDEX outbox_link ON outbox (link_pk, person_id, id);"
    "CREATE TABLE link_returns (person_id INTEGER NOT NULL REFERENCES persons(id),"
    "  link_pk INTEGER NOT NULL REFERENCES resource_links(id), result_status TEXT NOT NULL,"
    "  score REAL NOT NULL, queued INTEGER NOT NULL, PRIMARY KEY (person_id, link_pk));"
    "CREATE TABLE outbox_drainer (id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  owner TEXT NOT NULL, until INTEGER NOT NULL);"
    "CREATE INDEX persons_user_id ON persons (user_id);"
    "CREATE INDEX persons_email ON persons (lower(email)) WHERE email IS NOT NULL;"
    "CREATE INDEX persons_alias ON persons (alias_of) WHERE alias_of IS NOT NULL;",

    /* 7 -> 8: the timestamp of the last AGS score sent per person and link (AGS wants each
     * score strictly newer than the last, whole seconds apart) */
    "CREATE TABLE ags_stamps (person_id INTEGER NOT NULL REFERENCES persons(id),"
    "  link_pk INTEGER NOT NULL REFERENCES resource_links(id), last_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (person_id, link_pk));",

    /* 8 -> 9: xAPI content providers (a salted hash of each secret, never the secret) and
     * each learner's opaque xAPI account name, given out in content links */
    "CREATE TABLE xapi_providers (name TEXT PRIMARY KEY, secret_hash TEXT NOT NULL,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE xapi_actors (person_id INTEGER PRIMARY KEY REFERENCES persons(id),"
    "  name TEXT NOT NULL UNIQUE, created INTEGER NOT NULL);",
    /* 9 -> 10: Open Badges the tool awarded (one per person and course; the salt is derived
     * from the secret key, never stored), and IBM badge evidence waiting for an
     * instructor (one waiting per person and course) */
    "CREATE TABLE badge_awards (id TEXT PRIMARY KEY, person_id INTEGER NOT NULL"
    "  REFERENCES persons(id), course_id TEXT NOT NULL, email TEXT, score REAL NOT NULL,"
    "  evidence TEXT, issued INTEGER NOT NULL, revoked INTEGER, revoke_reason TEXT,"
    "  UNIQUE (person_id, course_id));"
    "CREATE TABLE badge_claims (id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL"
    "  REFERENCES persons(id), link_pk INTEGER NOT NULL REFERENCES resource_links(id),"
    "  course_id TEXT NOT NULL, url TEXT NOT NULL, claimed_email TEXT NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending'"
    "  CHECK (state IN ('pending', 'approved', 'rejected')), created INTEGER NOT NULL,"
    "  decided INTEGER);"
    "CREATE UNIQUE INDEX badge_claims_one_pending ON badge_claims (person_id, course_id)"
    "  WHERE state = 'pending';",
    /* 10 -> 11: content selections in progress (deep linking, content-item pickers) */
    "CREATE TABLE deeplink_contexts (id TEXT PRIMARY KEY, browser TEXT NOT NULL,"
    "  csrf TEXT NOT NULL, body TEXT NOT NULL, created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL);"
    "CREATE INDEX deeplink_contexts_expires ON deeplink_contexts (expires);"
    /* and the course rosters from NRPS: members who never launched are learners too */
    "CREATE TABLE roster (context_pk INTEGER NOT NULL REFERENCES contexts(id),"
    "  person_id INTEGER NOT NULL REFERENCES persons(id), roles INTEGER NOT NULL,"
    "  active INTEGER NOT NULL, synced INTEGER NOT NULL, PRIMARY KEY (context_pk, person_id));"
    "CREATE TABLE roster_syncs (context_pk INTEGER PRIMARY KEY REFERENCES contexts(id),"
    "  synced INTEGER NOT NULL);",
    /* 11 -> 12: a drainer finds the rows it leased by an index (not a scan of the whole
     * outbox per batch); the grades the demo LMS received (PTechDemoPlatform), newest per
     * target (an outcomes sourcedid or an AGS line item and user) */
    "CREATE INDEX outbox_leased ON outbox (lease_owner, lease_until)"
    "  WHERE lease_owner IS NOT NULL;"
    "CREATE TABLE demo_grades (target TEXT NOT NULL PRIMARY KEY, via TEXT NOT NULL,"
    "  label TEXT NOT NULL, score REAL NOT NULL, comment TEXT, received INTEGER NOT NULL,"
    "  count INTEGER NOT NULL DEFAULT 1);",
    /* 12 -> 13: sessions and login states are purged in the order of their keys, which
     * begin with their time: the indexes by expiry cost every launch two more pages to
     * write for a purge a minute */
    "DROP INDEX sessions_expires;"
    "DROP INDEX login_states_expires;",
};

enum {
    ST_VERSION,
    ST_CONSUMER_ADD,
    ST_CONSUMER_REPLACE,
    ST_CONSUMER_GET,
    ST_CONSUMER_LIST,
    ST_CONSUMER_REMOVE,
    ST_CATALOG_CURRENT,
    ST_CATALOG_INSERT,
    ST_NONCE_INSERT,
    ST_NONCE_PURGE,
    ST_SESSION_PURGE,
    ST_AUDIT_INSERT,
    ST_AUDIT_RECENT,
    ST_PERSON_UPSERT,
    ST_PERSON_ID,
    ST_PERSON_SAME,
    ST_PERSON_PROFILE,
    ST_PERSON_ALIAS,
    ST_AUDIT_COUNTS,
    ST_CONTEXT_UPSERT,
    ST_CONTEXT_ID,
    ST_CONTEXT_SAME,
    ST_LINK_UPSERT,
    ST_LINK_ID,
    ST_LINK_SAME,
    ST_MEMBER_UPSERT,
    ST_LAUNCH_INSERT,
    ST_SESSION_INSERT,
    ST_SESSION_GET,
    ST_LINK_SET_COURSE,
    ST_LINK_LEARNERS,
    ST_PLATFORM_ADD,
    ST_DEPLOYMENT_ADD,
    ST_PLATFORM_LIST,
    ST_DEPLOYMENTS_OF,
    ST_PLATFORM_REMOVE,
    ST_PLATFORM_GET,
    ST_PLATFORM_BY_ISSUER,
    ST_KEY_LIST,
    ST_KEY_RETIRE,
    ST_KEY_PROMOTE,
    ST_KEY_INSERT,
    ST_PLATFORM_BY_ID,
    ST_SETTING_GET,
    ST_SETTING_ADD,
    ST_STATE_PUT,
    ST_STATE_TAKE,
    ST_STATE_GET,
    ST_STATE_DELETE,
    ST_STATE_PURGE,
    ST_JWKS_GET,
    ST_JWKS_PUT,
    ST_JWKS_CLAIM,
    ST_PERSONS_MATCH,
    ST_PROGRESS_UPSERT,
    ST_KEPT_UPSERT,
    ST_PROGRESS_OF,
    ST_RESULT_GET,
    ST_RESULT_PUT,
    ST_FANOUT_LINKS,
    ST_OUTBOX_LAST,
    ST_OUTBOX_QUEUE,
    ST_LINK_RETURN_PUT,
    ST_KEPT_FOR,
    ST_KEPT_ANY,
    ST_OUTBOX_DEPTH,
    ST_KEPT_DELETE,
    ST_LINK_COURSE,
    ST_DRAINER_CLAIM,
    ST_OUTBOX_LEASE,
    ST_OUTBOX_LEASED,
    ST_OUTBOX_SENT,
    ST_OUTBOX_RETRY_AT,
    ST_OUTBOX_FAILED,
    ST_OUTBOX_RELEASE,
    ST_OUTBOX_LIST,
    ST_OUTBOX_RETRY,
    ST_OUTBOX_PURGE,
    ST_AGS_TARGET,
    ST_AGS_STAMP_PUT,
    ST_XAPI_PROVIDER_ADD,
    ST_XAPI_PROVIDER_GET,
    ST_XAPI_PROVIDER_LIST,
    ST_XAPI_PROVIDER_REMOVE,
    ST_XAPI_ACTOR_GET,
    ST_XAPI_ACTOR_PUT,
    ST_XAPI_ACTOR_BY_NAME,
    ST_XAPI_ACTOR_BY_EMAIL,
    ST_BADGE_AWARD,
    ST_BADGE_LIST,
    ST_BADGE_GET,
    ST_BADGE_REVOKE,
    ST_BADGE_CLAIM_ADD,
    ST_BADGE_CLAIM_LIST,
    ST_BADGE_CLAIM_DECIDE,
    ST_DLCTX_PUT,
    ST_DLCTX_GET,
    ST_DLCTX_TAKE,
    ST_DLCTX_PURGE,
    ST_ROSTER_SOURCE,
    ST_TENANT_GUID,
    ST_ROSTER_PUT,
    ST_ROSTER_PRUNE,
    ST_ROSTER_SYNCED,
    ST_DEMO_GRADE_PUT,
    ST_DEMO_GRADE_LIST,
    ST_BEGIN,
    ST_BEGIN_READ,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST__COUNT
};

/* The columns of an outbox row as outbox_cols() reads them. */
#define OUTBOX_COLS                                                                       \
    "SELECT o.id, o.version, o.person_id, o.link_pk, o.kind, o.course_id, o.result_status," \
    " o.score, o.result_at, o.state, o.attempts, o.next_attempt, o.queued, o.updated,"     \
    " o.sent_at, o.reason, p.user_id, p.email, p.full_name, l.title, l.tenant,"            \
    " m.result_sourcedid, m.outcome_url, l.claims"

static const char *const sql[ST__COUNT] = {
    [ST_VERSION] = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
    [ST_CONSUMER_ADD] = "INSERT INTO consumers (consumer_key, secret, created) VALUES (?, ?, ?)"
                        " ON CONFLICT (consumer_key) DO NOTHING",
    [ST_CONSUMER_REPLACE] = "UPDATE consumers SET secret = ? WHERE consumer_key = ?",
    [ST_CONSUMER_GET] = "SELECT secret, created FROM consumers WHERE consumer_key = ?",
    [ST_CONSUMER_LIST] = "SELECT consumer_key, created FROM consumers ORDER BY consumer_key",
    [ST_CONSUMER_REMOVE] = "DELETE FROM consumers WHERE consumer_key = ?",
    [ST_CATALOG_CURRENT] = "SELECT rev, sha256, source, loaded, xml FROM catalog"
                           " ORDER BY rev DESC LIMIT 1",
    [ST_CATALOG_INSERT] = "INSERT INTO catalog (sha256, source, xml, loaded) VALUES (?, ?, ?, ?)",
    [ST_NONCE_INSERT] = "INSERT INTO nonces (scope, nonce, expires) VALUES (?, ?, ?)"
                        " ON CONFLICT (scope, nonce) DO NOTHING",
    [ST_NONCE_PURGE] = "DELETE FROM nonces WHERE expires < ?",
    /* Keys begin with their time (lti_store_purge): what precedes the first live key has
     * expired, and the scan for that key passes only the rows it deletes. */
    [ST_SESSION_PURGE] =
        "DELETE FROM sessions WHERE expires < ?1 AND id_hash < COALESCE("
        "(SELECT id_hash FROM sessions WHERE expires >= ?1 ORDER BY id_hash LIMIT 1), '~')",
    [ST_AUDIT_INSERT] = "INSERT INTO audit (at, http_status, reason, scope, remote, detail)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
    [ST_AUDIT_RECENT] = "SELECT id, at, http_status, reason, scope, remote, detail FROM audit"
                        " ORDER BY id DESC LIMIT ?",
    /* The upserts write only when something changed (a returning learner's launch must
     * not rewrite pages); with no change they return no row and ST_*_ID finds the id. */
    /* A new identity's alias_of: the person of the verified identity ?8/?9, else the oldest
     * person known by the same user id and LMS guid ?10 in a tenant of the other LTI version
     * (tenants start "lti11:" or "lti13:").  The subqueries are index lookups, and find
     * nothing when their parameters are NULL. */
    [ST_PERSON_UPSERT] =
        "INSERT INTO persons (tenant, user_id, given_name, family_name, full_name, email,"
        " created, updated, guid, alias_of) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?10,"
        " COALESCE((SELECT COALESCE(a.alias_of, a.id) FROM persons a WHERE a.tenant = ?8"
        "  AND a.user_id = ?9),"
        " (SELECT COALESCE(a.alias_of, a.id) FROM persons a WHERE a.guid = ?10"
        "  AND a.user_id = ?2 AND substr(a.tenant, 1, 6) <> substr(?1, 1, 6)"
        "  ORDER BY COALESCE(a.alias_of, a.id) LIMIT 1)))"
        " ON CONFLICT (tenant, user_id) DO UPDATE SET"
        " given_name = COALESCE(excluded.given_name, persons.given_name),"
        " family_name = COALESCE(excluded.family_name, persons.family_name),"
        " full_name = COALESCE(excluded.full_name, persons.full_name),"
        " email = COALESCE(excluded.email, persons.email),"
        " guid = COALESCE(excluded.guid, persons.guid), updated = excluded.updated"
        " WHERE COALESCE(excluded.guid, persons.guid) IS DISTINCT FROM persons.guid"
        " OR COALESCE(excluded.given_name, persons.given_name)"
        "   IS DISTINCT FROM persons.given_name"
        " OR COALESCE(excluded.family_name, persons.family_name)"
        "   IS DISTINCT FROM persons.family_name"
        " OR COALESCE(excluded.full_name, persons.full_name) IS DISTINCT FROM persons.full_name"
        " OR COALESCE(excluded.email, persons.email) IS DISTINCT FROM persons.email"
        " RETURNING id, alias_of",
    [ST_PERSON_ID] = "SELECT id, alias_of FROM persons WHERE tenant = ? AND user_id = ?",
    /* The *_SAME reads take their upsert's parameters and return the row only when the
     * upsert would change nothing in it (see same_or_upsert). */
    [ST_PERSON_SAME] =
        "SELECT id, alias_of FROM persons WHERE tenant = ?1 AND user_id = ?2"
        " AND COALESCE(?3, given_name) IS given_name AND COALESCE(?4, family_name) IS family_name"
        " AND COALESCE(?5, full_name) IS full_name AND COALESCE(?6, email) IS email"
        " AND COALESCE(?10, guid) IS guid",
    /* The profile of the person an alias stands for (written only when it changes). */
    [ST_PERSON_PROFILE] =
        "UPDATE persons SET given_name = COALESCE(?2, given_name),"
        " family_name = COALESCE(?3, family_name), full_name = COALESCE(?4, full_name),"
        " email = COALESCE(?5, email), updated = ?6 WHERE id = ?1"
        " AND (COALESCE(?2, given_name) IS DISTINCT FROM given_name"
        " OR COALESCE(?3, family_name) IS DISTINCT FROM family_name"
        " OR COALESCE(?4, full_name) IS DISTINCT FROM full_name"
        " OR COALESCE(?5, email) IS DISTINCT FROM email)",
    [ST_PERSON_ALIAS] = "INSERT INTO persons (tenant, user_id, created, updated, alias_of)"
                        " VALUES (?1, ?2, ?3, ?3, ?4) ON CONFLICT (tenant, user_id) DO NOTHING",
    [ST_AUDIT_COUNTS] = "SELECT reason, COUNT(*), MAX(at) FROM audit WHERE at >= ?"
                        " GROUP BY reason ORDER BY COUNT(*) DESC, reason",
    [ST_CONTEXT_UPSERT] =
        "INSERT INTO contexts (tenant, context_id, title, label, type, created, updated)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)"
        " ON CONFLICT (tenant, context_id) DO UPDATE SET"
        " title = COALESCE(excluded.title, contexts.title),"
        " label = COALESCE(excluded.label, contexts.label),"
        " type = COALESCE(excluded.type, contexts.type), updated = excluded.updated"
        " WHERE COALESCE(excluded.title, contexts.title) IS DISTINCT FROM contexts.title"
        " OR COALESCE(excluded.label, contexts.label) IS DISTINCT FROM contexts.label"
        " OR COALESCE(excluded.type, contexts.type) IS DISTINCT FROM contexts.type"
        " RETURNING id",
    [ST_CONTEXT_ID] = "SELECT id FROM contexts WHERE tenant = ? AND context_id = ?",
    [ST_CONTEXT_SAME] =
        "SELECT id FROM contexts WHERE tenant = ?1 AND context_id = ?2"
        " AND COALESCE(?3, title) IS title AND COALESCE(?4, label) IS label"
        " AND COALESCE(?5, type) IS type",
    [ST_LINK_UPSERT] =
        "INSERT INTO resource_links (tenant, link_id, context_pk, title, course_id,"
        " course_source, claims, created, updated)"
        " VALUES (?1, ?2, ?3, ?4, ?5, CASE WHEN ?5 IS NULL THEN NULL ELSE 'custom' END, ?7,"
        " ?6, ?6)"
        " ON CONFLICT (tenant, link_id) DO UPDATE SET"
        " context_pk = COALESCE(excluded.context_pk, resource_links.context_pk),"
        " title = COALESCE(excluded.title, resource_links.title),"
        " course_id = COALESCE(excluded.course_id, resource_links.course_id),"
        " course_source = COALESCE(excluded.course_source, resource_links.course_source),"
        " claims = COALESCE(excluded.claims, resource_links.claims),"
        " updated = excluded.updated"
        " WHERE COALESCE(excluded.context_pk, resource_links.context_pk)"
        "   IS DISTINCT FROM resource_links.context_pk"
        " OR COALESCE(excluded.title, resource_links.title) IS DISTINCT FROM resource_links.title"
        " OR COALESCE(excluded.course_id, resource_links.course_id)"
        "   IS DISTINCT FROM resource_links.course_id"
        " OR COALESCE(excluded.claims, resource_links.claims)"
        "   IS DISTINCT FROM resource_links.claims"
        " RETURNING id",
    [ST_LINK_ID] = "SELECT id FROM resource_links WHERE tenant = ? AND link_id = ?",
    [ST_LINK_SAME] =
        "SELECT id FROM resource_links WHERE tenant = ?1 AND link_id = ?2"
        " AND COALESCE(?3, context_pk) IS context_pk AND COALESCE(?4, title) IS title"
        " AND COALESCE(?5, course_id) IS course_id AND COALESCE(?7, claims) IS claims",
    /* last_launch is kept to the minute, so repeated launches do not rewrite the row. */
    [ST_MEMBER_UPSERT] =
        "INSERT INTO link_members (person_id, link_pk, roles, result_sourcedid, outcome_url,"
        " first_launch, last_launch) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)"
        " ON CONFLICT (person_id, link_pk) DO UPDATE SET roles = excluded.roles,"
        " result_sourcedid = COALESCE(excluded.result_sourcedid, link_members.result_sourcedid),"
        " outcome_url = COALESCE(excluded.outcome_url, link_members.outcome_url),"
        " last_launch = excluded.last_launch"
        " WHERE link_members.roles <> excluded.roles"
        " OR link_members.last_launch < excluded.last_launch - 60"
        " OR COALESCE(excluded.result_sourcedid, link_members.result_sourcedid)"
        "   IS DISTINCT FROM link_members.result_sourcedid"
        " OR COALESCE(excluded.outcome_url, link_members.outcome_url)"
        "   IS DISTINCT FROM link_members.outcome_url",
    [ST_LAUNCH_INSERT] =
        "INSERT INTO launches (person_id, link_pk, version, roles, roles_raw, locale, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
    [ST_SESSION_INSERT] =
        "INSERT INTO sessions (id_hash, person_id, link_pk, launch_id, roles, locale, csrf,"
        " lms_origin, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_SESSION_GET] =
        "SELECT s.person_id, s.link_pk, p.user_id, p.full_name, p.email, s.roles, s.locale,"
        " s.csrf, l.tenant, l.link_id, l.title, c.title, l.course_id, s.expires, s.lms_origin"
        " FROM sessions s JOIN persons p ON p.id = s.person_id"
        " JOIN resource_links l ON l.id = s.link_pk"
        " LEFT JOIN contexts c ON c.id = l.context_pk"
        " WHERE s.id_hash = ? AND s.expires > ?",
    [ST_LINK_SET_COURSE] = "UPDATE resource_links SET course_id = ?, course_source = 'chooser',"
                           " updated = ? WHERE id = ?",
    [ST_LINK_LEARNERS] =
        "SELECT p.id, p.user_id, p.full_name, p.email, m.roles, m.last_launch"
        " FROM link_members m JOIN persons p ON p.id = m.person_id WHERE m.link_pk = ?1"
        /* the active members of the link's course roster who never opened it */
        " UNION ALL SELECT p.id, p.user_id, p.full_name, p.email, r.roles, 0"
        " FROM roster r JOIN persons p ON p.id = r.person_id"
        " WHERE r.context_pk = (SELECT l.context_pk FROM resource_links l WHERE l.id = ?1)"
        " AND r.active = 1 AND NOT EXISTS (SELECT 1 FROM link_members x"
        "  WHERE x.link_pk = ?1 AND x.person_id = r.person_id)"
        " ORDER BY 3, 2",
    [ST_PLATFORM_ADD] =
        "INSERT INTO platforms (issuer, client_id, auth_url, token_url, jwks_url, created)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (issuer, client_id) DO NOTHING RETURNING id",
    [ST_DEPLOYMENT_ADD] = "INSERT INTO deployments (platform_id, deployment_id, created)"
                          " VALUES (?, ?, ?) ON CONFLICT (platform_id, deployment_id) DO NOTHING",
    [ST_PLATFORM_LIST] = "SELECT id, issuer, client_id, auth_url, token_url, jwks_url, created"
                         " FROM platforms ORDER BY issuer, client_id",
    [ST_DEPLOYMENTS_OF] = "SELECT deployment_id FROM deployments WHERE platform_id = ?"
                          " ORDER BY deployment_id",
    [ST_PLATFORM_REMOVE] = "DELETE FROM platforms WHERE issuer = ? AND client_id = ?",
    [ST_PLATFORM_GET] = "SELECT id, issuer, client_id, auth_url, token_url, jwks_url, created"
                        " FROM platforms WHERE issuer = ? AND client_id = ?",
    [ST_PLATFORM_BY_ISSUER] = "SELECT id, issuer, client_id, auth_url, token_url, jwks_url,"
                              " created FROM platforms WHERE issuer = ? LIMIT 2",
    [ST_KEY_LIST] = "SELECT kid, state, public_jwk, private_sealed, created, retired"
                    " FROM tool_keys ORDER BY CASE state WHEN 'current' THEN 0"
                    " WHEN 'next' THEN 1 ELSE 2 END, created DESC, kid",
    [ST_KEY_RETIRE] = "UPDATE tool_keys SET state = 'retired', retired = ?"
                      " WHERE state = 'current'",
    [ST_KEY_PROMOTE] = "UPDATE tool_keys SET state = 'current' WHERE state = 'next'",
    [ST_KEY_INSERT] = "INSERT INTO tool_keys (kid, state, public_jwk, private_sealed, created)"
                      " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    [ST_SETTING_GET] = "SELECT value FROM settings WHERE name = ?",
    [ST_SETTING_ADD] = "INSERT INTO settings (name, value, updated) VALUES (?, ?, ?)"
                       " ON CONFLICT (name) DO NOTHING",
    [ST_PLATFORM_BY_ID] = "SELECT id, issuer, client_id, auth_url, token_url, jwks_url,"
                          " created FROM platforms WHERE id = ?",
    [ST_STATE_PUT] = "INSERT INTO login_states (state, platform_id, nonce, target_link_uri,"
                     " browser, created, expires, storage_target, relaunch)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_STATE_TAKE] = "DELETE FROM login_states WHERE state = ? RETURNING platform_id, nonce,"
                      " target_link_uri, browser, created, expires, storage_target, relaunch",
    [ST_STATE_GET] = "SELECT platform_id, nonce, target_link_uri, browser, created, expires,"
                     " storage_target, relaunch FROM login_states WHERE state = ?",
    [ST_DLCTX_PUT] = "INSERT INTO deeplink_contexts (id, browser, csrf, body, created, expires)"
                     " VALUES (?, ?, ?, ?, ?, ?)",
    [ST_DLCTX_GET] = "SELECT browser, csrf, body, created, expires FROM deeplink_contexts"
                     " WHERE id = ?",
    [ST_DLCTX_TAKE] = "DELETE FROM deeplink_contexts WHERE id = ? RETURNING browser, csrf,"
                      " body, created, expires",
    [ST_DLCTX_PURGE] = "DELETE FROM deeplink_contexts WHERE expires < ?",
    [ST_ROSTER_SOURCE] = "SELECT l.tenant, l.claims, COALESCE(l.context_pk, 0),"
                         " COALESCE((SELECT y.synced FROM roster_syncs y"
                         "  WHERE y.context_pk = l.context_pk), 0)"
                         " FROM resource_links l WHERE l.id = ?",
    /* The LMS guid this tenant's launches carried (the same person rules need it). */
    [ST_TENANT_GUID] = "SELECT guid FROM persons WHERE tenant = ? AND guid IS NOT NULL"
                       " ORDER BY updated DESC LIMIT 1",
    [ST_ROSTER_PUT] = "INSERT INTO roster (context_pk, person_id, roles, active, synced)"
                      " VALUES (?, ?, ?, ?, ?) ON CONFLICT (context_pk, person_id) DO UPDATE SET"
                      " roles = excluded.roles, active = excluded.active,"
                      " synced = excluded.synced",
    [ST_ROSTER_PRUNE] = "DELETE FROM roster WHERE context_pk = ? AND synced <> ?",
    [ST_ROSTER_SYNCED] = "INSERT INTO roster_syncs (context_pk, synced) VALUES (?, ?)"
                         " ON CONFLICT (context_pk) DO UPDATE SET synced = excluded.synced",
    [ST_STATE_DELETE] = "DELETE FROM login_states WHERE state = ?",
    [ST_STATE_PURGE] =
        "DELETE FROM login_states WHERE expires < ?1 AND state < COALESCE("
        "(SELECT state FROM login_states WHERE expires >= ?1 ORDER BY state LIMIT 1), '~')",
    [ST_JWKS_GET] = "SELECT jwks, fetched, expires, last_refetch FROM platform_jwks"
                    " WHERE platform_id = ?",
    [ST_JWKS_PUT] = "INSERT INTO platform_jwks (platform_id, jwks, fetched, expires)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (platform_id) DO UPDATE SET"
                    " jwks = excluded.jwks, fetched = excluded.fetched,"
                    " expires = excluded.expires",
    /* One refetch per interval across every process: the row is the lock. */
    [ST_JWKS_CLAIM] = "INSERT INTO platform_jwks (platform_id, last_refetch) VALUES (?1, ?2)"
                      " ON CONFLICT (platform_id) DO UPDATE SET"
                      " last_refetch = excluded.last_refetch"
                      " WHERE platform_jwks.last_refetch <= excluded.last_refetch - ?3",
    [ST_PERSONS_MATCH] = "SELECT DISTINCT COALESCE(alias_of, id) FROM persons"
                         " WHERE user_id = ?1 OR (email IS NOT NULL AND lower(email) = lower(?1))",
    /* A fact replaces the stored one only when it is newer. */
    [ST_PROGRESS_UPSERT] =
        "INSERT INTO progress (person_id, course_id, module_id, status, score, at, source,"
        " evidence, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        " ON CONFLICT (person_id, course_id, module_id) DO UPDATE SET status = excluded.status,"
        " score = excluded.score, at = excluded.at, source = excluded.source,"
        " evidence = excluded.evidence, updated = excluded.updated"
        " WHERE excluded.at > progress.at",
    [ST_KEPT_UPSERT] =
        "INSERT INTO progress_kept (user_key, course_id, module_id, status, score, at, source,"
        " evidence, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        " ON CONFLICT (user_key, course_id, module_id) DO UPDATE SET status = excluded.status,"
        " score = excluded.score, at = excluded.at, source = excluded.source,"
        " evidence = excluded.evidence WHERE excluded.at > progress_kept.at",
    [ST_PROGRESS_OF] = "SELECT module_id, status, score, at, source, evidence FROM progress"
                       " WHERE person_id = ? AND course_id = ?",
    [ST_RESULT_GET] = "SELECT status, score, at FROM course_results"
                      " WHERE person_id = ? AND course_id = ?",
    [ST_RESULT_PUT] =
        "INSERT INTO course_results (person_id, course_id, status, score, at, updated)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (person_id, course_id) DO UPDATE SET"
        " status = excluded.status, score = excluded.score, at = excluded.at,"
        " updated = excluded.updated",
    [ST_FANOUT_LINKS] =
        "SELECT m.link_pk, l.tenant, m.result_sourcedid, m.outcome_url, l.claims"
        " FROM link_members m JOIN resource_links l ON l.id = m.link_pk"
        " WHERE m.person_id = ?1 AND l.course_id = ?2 AND (?3 = 0 OR m.link_pk = ?3)",
    [ST_OUTBOX_LAST] = "SELECT result_status, score FROM link_returns WHERE person_id = ?"
                       " AND link_pk = ?",
    [ST_LINK_RETURN_PUT] =
        "INSERT INTO link_returns (person_id, link_pk, result_status, score, queued)"
        " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (person_id, link_pk) DO UPDATE SET"
        " result_status = excluded.result_status, score = excluded.score,"
        " queued = excluded.queued",
    /* Newest result wins: a pending row of the link takes the new value (a new version,
     * so a delivery of the old one in flight does not mark it sent). */
    [ST_OUTBOX_QUEUE] =
        "INSERT INTO outbox (person_id, link_pk, kind, course_id, result_status, score,"
        " result_at, next_attempt, queued, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
        " ?8, ?8) ON CONFLICT (person_id, link_pk) WHERE state = 'pending' DO UPDATE SET"
        " kind = excluded.kind, course_id = excluded.course_id,"
        " result_status = excluded.result_status, score = excluded.score,"
        " result_at = excluded.result_at, version = outbox.version + 1, attempts = 0,"
        " next_attempt = excluded.next_attempt, reason = NULL, queued = excluded.queued,"
        " updated = excluded.updated",
    [ST_KEPT_FOR] =
        "SELECT user_key, course_id, module_id, status, score, at, source, evidence"
        " FROM progress_kept WHERE EXISTS (SELECT 1 FROM progress_kept)"
        " AND (user_key IN (SELECT user_id FROM persons"
        "  WHERE id = ?1 OR alias_of = ?1)"
        " OR lower(user_key) IN (SELECT lower(email) FROM persons"
        "  WHERE (id = ?1 OR alias_of = ?1) AND email IS NOT NULL))",
    [ST_KEPT_ANY] = "SELECT 1 FROM progress_kept LIMIT 1",
    [ST_OUTBOX_DEPTH] = "SELECT (SELECT COUNT(*) FROM outbox WHERE state = 'pending'),"
                        " (SELECT COUNT(*) FROM outbox WHERE state = 'failed')",
    [ST_KEPT_DELETE] = "DELETE FROM progress_kept WHERE user_key = ? AND course_id = ?"
                       " AND module_id = ?",
    [ST_LINK_COURSE] = "SELECT course_id FROM resource_links WHERE id = ?",
    [ST_DRAINER_CLAIM] =
        "INSERT INTO outbox_drainer (id, owner, until) VALUES (1, ?1, ?2 + ?3)"
        " ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, until = excluded.until"
        " WHERE outbox_drainer.owner = excluded.owner OR outbox_drainer.until < ?2",
    [ST_OUTBOX_LEASE] =
        "UPDATE outbox SET lease_owner = ?1, lease_until = ?2 + ?3 WHERE id IN (SELECT id"
        " FROM outbox WHERE state = 'pending' AND next_attempt <= ?2 AND (lease_until IS NULL"
        " OR lease_until < ?2) ORDER BY next_attempt, id LIMIT ?4)",
    [ST_OUTBOX_LEASED] =
        OUTBOX_COLS
        ", c.consumer_key, c.secret, (SELECT b.id FROM badge_awards b"
        "  WHERE b.person_id = o.person_id AND b.course_id = o.course_id"
        "  AND b.revoked IS NULL) FROM outbox o JOIN persons p ON p.id = o.person_id"
        " JOIN resource_links l ON l.id = o.link_pk"
        " LEFT JOIN link_members m ON m.person_id = o.person_id AND m.link_pk = o.link_pk"
        " LEFT JOIN consumers c ON substr(l.tenant, 1, 6) = 'lti11:'"
        "  AND c.consumer_key = substr(l.tenant, 7)"
        /* state || '': the rows come from the lease index (outbox_leased), not from a
         * walk of every pending row in outbox_due's order */
        " WHERE o.lease_owner = ?1 AND o.lease_until = ?2 + ?3 AND o.state || '' = 'pending'"
        " ORDER BY o.next_attempt, o.id",
    [ST_OUTBOX_SENT] =
        "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?4,"
        " updated = ?4, reason = NULL, lease_owner = NULL, lease_until = NULL"
        " WHERE id = ?1 AND version = ?2 AND lease_owner = ?3 AND state = 'pending'",
    [ST_OUTBOX_RETRY_AT] =
        "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?5, reason = ?6,"
        " updated = ?4, lease_owner = NULL, lease_until = NULL"
        " WHERE id = ?1 AND version = ?2 AND lease_owner = ?3 AND state = 'pending'",
    [ST_OUTBOX_FAILED] =
        "UPDATE outbox SET state = 'failed', attempts = attempts + 1, reason = ?6,"
        " updated = ?4, lease_owner = NULL, lease_until = NULL"
        " WHERE id = ?1 AND version = ?2 AND lease_owner = ?3 AND state = 'pending'",
    [ST_OUTBOX_RELEASE] = "UPDATE outbox SET lease_owner = NULL, lease_until = NULL"
                          " WHERE id = ? AND lease_owner = ?",
    [ST_OUTBOX_LIST] =
        OUTBOX_COLS
        " FROM outbox o JOIN persons p ON p.id = o.person_id"
        " JOIN resource_links l ON l.id = o.link_pk"
        " LEFT JOIN link_members m ON m.person_id = o.person_id AND m.link_pk = o.link_pk"
        " WHERE (?1 IS NULL OR o.state = ?1) AND (?2 = 0 OR (o.link_pk = ?2"
        "  AND o.id = (SELECT MAX(x.id) FROM outbox x WHERE x.link_pk = o.link_pk"
        "  AND x.person_id = o.person_id))) ORDER BY o.id DESC LIMIT 100000",
    /* Only the newest row of a person and link is retried: an older value never goes out
     * after a newer one. */
    [ST_OUTBOX_RETRY] =
        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt = ?2, queued = ?2,"
        " updated = ?2, reason = NULL, lease_owner = NULL, lease_until = NULL"
        " WHERE ((?1 = 0 AND state = 'failed')"
        "  OR (id = ?1 AND state IN ('failed', 'pending', 'sent')))"
        " AND NOT EXISTS (SELECT 1 FROM outbox x WHERE x.person_id = outbox.person_id"
        "  AND x.link_pk = outbox.link_pk AND x.id > outbox.id)",
    [ST_OUTBOX_PURGE] = "DELETE FROM outbox WHERE state = 'sent' AND sent_at < ?",
    /* The person's user id in the link's tenant (the person's own identity, else one of its
     * aliases there), and the last AGS timestamp sent to that link for them. */
    [ST_AGS_TARGET] =
        "SELECT (SELECT a.user_id FROM persons a WHERE a.tenant = l.tenant"
        "  AND (a.id = ?1 OR a.alias_of = ?1) ORDER BY a.id <> ?1, a.id LIMIT 1),"
        " (SELECT t.last_ms FROM ags_stamps t WHERE t.person_id = ?1 AND t.link_pk = ?2),"
        " l.link_id FROM resource_links l WHERE l.id = ?2",
    [ST_AGS_STAMP_PUT] = "INSERT INTO ags_stamps (person_id, link_pk, last_ms) VALUES (?, ?, ?)"
                         " ON CONFLICT (person_id, link_pk) DO UPDATE SET"
                         " last_ms = MAX(last_ms, excluded.last_ms)",
    [ST_XAPI_PROVIDER_ADD] = "INSERT INTO xapi_providers (name, secret_hash, created)"
                             " VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
    [ST_XAPI_PROVIDER_GET] = "SELECT secret_hash, created FROM xapi_providers WHERE name = ?",
    [ST_XAPI_PROVIDER_LIST] = "SELECT name, created FROM xapi_providers ORDER BY name",
    [ST_XAPI_PROVIDER_REMOVE] = "DELETE FROM xapi_providers WHERE name = ?",
    [ST_XAPI_ACTOR_GET] = "SELECT name FROM xapi_actors WHERE person_id = ?",
    [ST_XAPI_ACTOR_PUT] = "INSERT INTO xapi_actors (person_id, name, created) VALUES (?, ?, ?)"
                          " ON CONFLICT (person_id) DO NOTHING",
    [ST_XAPI_ACTOR_BY_NAME] = "SELECT COALESCE(p.alias_of, p.id) FROM xapi_actors a"
                              " JOIN persons p ON p.id = a.person_id WHERE a.name = ?",
    [ST_XAPI_ACTOR_BY_EMAIL] = "SELECT COALESCE(alias_of, id) FROM persons"
                               " WHERE email IS NOT NULL AND lower(email) = lower(?)"
                               " ORDER BY COALESCE(alias_of, id) LIMIT 1",
    /* Once per person and course: a later pass (or a fail, then a pass) keeps the first. */
    [ST_BADGE_AWARD] =
        "INSERT INTO badge_awards (id, person_id, course_id, email, score, evidence, issued)"
        " SELECT ?1, p.id, ?3, p.email, ?4, ?5, ?6 FROM persons p WHERE p.id = ?2"
        " ON CONFLICT (person_id, course_id) DO NOTHING",
    [ST_BADGE_LIST] =
        "SELECT b.id, b.person_id, b.course_id, COALESCE(b.email, p.email), b.score,"
        " b.evidence, b.issued, b.revoked, b.revoke_reason, p.user_id, p.full_name"
        " FROM badge_awards b JOIN persons p ON p.id = b.person_id"
        " WHERE ?1 = 0 OR b.person_id = ?1 ORDER BY b.issued DESC, b.id",
    [ST_BADGE_GET] =
        "SELECT b.id, b.person_id, b.course_id, COALESCE(b.email, p.email), b.score,"
        " b.evidence, b.issued, b.revoked, b.revoke_reason, p.user_id, p.full_name"
        " FROM badge_awards b JOIN persons p ON p.id = b.person_id WHERE b.id = ?1",
    [ST_BADGE_REVOKE] = "UPDATE badge_awards SET revoked = ?3, revoke_reason = ?2"
                        " WHERE id = ?1 AND revoked IS NULL",
    [ST_BADGE_CLAIM_ADD] =
        "INSERT INTO badge_claims (person_id, link_pk, course_id, url, claimed_email, created)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (person_id, course_id) WHERE state = 'pending'"
        " DO NOTHING RETURNING id",
    [ST_BADGE_CLAIM_LIST] =
        "SELECT c.id, c.person_id, c.link_pk, c.course_id, c.url, c.claimed_email, c.state,"
        " p.user_id, p.full_name, p.email, c.created, c.decided"
        " FROM badge_claims c JOIN persons p ON p.id = c.person_id"
        " WHERE c.state = 'pending' AND (?2 = 0 OR c.person_id = ?2) AND (?1 = 0 OR"
        " (c.course_id = (SELECT l.course_id FROM resource_links l WHERE l.id = ?1)"
        "  AND c.person_id IN (SELECT m.person_id FROM link_members m WHERE m.link_pk = ?1)))"
        " ORDER BY c.id",
    [ST_BADGE_CLAIM_DECIDE] =
        "UPDATE badge_claims SET state = ?3, decided = ?4 WHERE id = ?1 AND state = 'pending'"
        " AND course_id = (SELECT l.course_id FROM resource_links l WHERE l.id = ?2)"
        " AND person_id IN (SELECT m.person_id FROM link_members m WHERE m.link_pk = ?2)"
        " RETURNING person_id, course_id, url",
    [ST_DEMO_GRADE_PUT] =
        "INSERT INTO demo_grades (target, via, label, score, comment, received)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (target) DO UPDATE SET"
        " via = excluded.via, label = excluded.label, score = excluded.score,"
        " comment = excluded.comment, received = excluded.received,"
        " count = demo_grades.count + 1",
    [ST_DEMO_GRADE_LIST] = "SELECT target, via, label, score, comment, received, count"
                           " FROM demo_grades ORDER BY received DESC, target LIMIT 200",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT launch",
    [ST_RELEASE] = "RELEASE launch",
    [ST_ROLLBACK_TO] = "ROLLBACK TO launch",
};

/* A write waiting for the group commit (see group_commit): a launch or a login state.  Each
 * waiter sleeps on its own semaphore, so a commit wakes exactly the threads it served, once
 * each, with no mutex to fight over on the way out. */
struct sq_t;
typedef struct pending_t {
    /* The write itself, run inside the batch's transaction with the lock held. */
    lti_status_t (*run)(struct sq_t *q, struct pending_t *job);
    const void *arg;
    lti_launch_ids_t *ids;
    lti_err_t *err;
    lti_status_t rv;
    int dirty;      /* set by run when it fails after changing something */
    int done, lead;
    sem_t wake;
    struct pending_t *next;
} pending_t;

#define GROUP_MAX 64

typedef struct sq_t {
    sqlite3 *db;
    const char *path;
    apr_thread_mutex_t *mu;     /* the connection */
    sqlite3_stmt *st[ST__COUNT];
    pthread_mutex_t qmu;        /* the group-commit queue below */
    pending_t *head, *tail;
    int leader;
} sq_t;

static lti_status_t group_commit(sq_t *q, pending_t *me, lti_err_t *err);
static lti_status_t progress_due_locked(sq_t *q, apr_pool_t *p, int64_t person_id,
                                        int64_t link_pk, apr_array_header_t **kept,
                                        const char **course, int *due, lti_err_t *err);

static lti_status_t db_err(sq_t *q, lti_err_t *err, const char *what)
{
    return lti_err_set(err, LTI_ERR_STORE, "store_error", "SQLite %s: %s (%s)", what,
                       sqlite3_errmsg(q->db), q->path);
}

/* Returns the prepared statement id, reset and with bindings cleared; NULL on error. */
static sqlite3_stmt *stmt(sq_t *q, int id, lti_err_t *err)
{
    if (q->st[id] == NULL) {
        if (sqlite3_prepare_v3(q->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT, &q->st[id], NULL)
            != SQLITE_OK) {
            db_err(q, err, "prepare");
            return NULL;
        }
    }
    return q->st[id];
}

static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v == NULL) {
        sqlite3_bind_null(st, i);
    }
    else {
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    }
}

static const char *col_text(apr_pool_t *p, sqlite3_stmt *st, int i)
{
    const unsigned char *v = sqlite3_column_text(st, i);

    return v ? apr_pstrdup(p, (const char *)v) : NULL;
}

/* Runs a statement that returns no row; *changes (may be NULL) gets the row count. */
static lti_status_t exec_stmt(sq_t *q, sqlite3_stmt *st, int *changes, lti_err_t *err)
{
    int rc = sqlite3_step(st);

    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        done(st);
        return db_err(q, err, "step");
    }
    if (changes) {
        *changes = sqlite3_changes(q->db);
    }
    done(st);
    return LTI_OK;
}

/* Binds a launch's values for an upsert and its *_SAME read (arg: the context's row). */
typedef void launch_bind_fn(sqlite3_stmt *st, const lti_launch_rec_t *r, int64_t arg);

/* The row a launch names, written only when new or changed.  Launches mostly repeat what the
 * store holds: then one indexed read (same) answers, where the upsert would find nothing to
 * change and a second read (select_id) would fetch the id.  Otherwise the upsert runs, with
 * the launch's time as parameter now_at, and returns the row (or, unchanged, select_id finds
 * it by the tenant and key).  out gets the row's first two columns (the second 0 when NULL or
 * absent). */
static lti_status_t same_or_upsert(sq_t *q, int same, int upsert, int select_id,
                                   launch_bind_fn *bind, const lti_launch_rec_t *r,
                                   int64_t arg, int now_at, const char *key, int64_t out[2],
                                   lti_err_t *err)
{
    sqlite3_stmt *st = stmt(q, same, err);
    int rc;

    if (st == NULL) {
        return LTI_ERR_STORE;
    }
    bind(st, r, arg);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        done(st);
        if ((st = stmt(q, upsert, err)) == NULL) {
            return LTI_ERR_STORE;
        }
        bind(st, r, arg);
        sqlite3_bind_int64(st, now_at, r->now);
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_DONE) {
        done(st);
        if ((st = stmt(q, select_id, err)) == NULL) {
            return LTI_ERR_STORE;
        }
        bind_text(st, 1, r->tenant);
        bind_text(st, 2, key);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_ROW) {
        done(st);
        return db_err(q, err, "launch upsert");
    }
    out[0] = sqlite3_column_int64(st, 0);
    out[1] = sqlite3_column_count(st) > 1 ? sqlite3_column_int64(st, 1) : 0;
    done(st);
    return LTI_OK;
}

static void bind_person(sqlite3_stmt *st, const lti_launch_rec_t *r, int64_t arg)
{
    int linked = r->link_tenant != NULL && r->link_user_id != NULL;

    bind_text(st, 1, r->tenant);
    bind_text(st, 2, r->user_id);
    bind_text(st, 3, r->given_name);
    bind_text(st, 4, r->family_name);
    bind_text(st, 5, r->full_name);
    bind_text(st, 6, r->email);
    bind_text(st, 8, linked ? r->link_tenant : NULL);
    bind_text(st, 9, linked ? r->link_user_id : NULL);
    bind_text(st, 10, r->platform_guid);
}

static void bind_context(sqlite3_stmt *st, const lti_launch_rec_t *r, int64_t arg)
{
    bind_text(st, 1, r->tenant);
    bind_text(st, 2, r->context_id);
    bind_text(st, 3, r->context_title);
    bind_text(st, 4, r->context_label);
    bind_text(st, 5, r->context_type);
}

static void bind_link(sqlite3_stmt *st, const lti_launch_rec_t *r, int64_t context_pk)
{
    bind_text(st, 1, r->tenant);
    bind_text(st, 2, r->link_id);
    if (context_pk) {
        sqlite3_bind_int64(st, 3, context_pk);
    }
    else {
        sqlite3_bind_null(st, 3);
    }
    bind_text(st, 4, r->link_title);
    bind_text(st, 5, r->course_id);
    bind_text(st, 7, r->link_claims);
}

static lti_status_t simple(sq_t *q, int id, lti_err_t *err)
{
    sqlite3_stmt *st = stmt(q, id, err);

    return st ? exec_stmt(q, st, NULL, err) : LTI_ERR_STORE;
}

static lti_status_t begin(sq_t *q, lti_err_t *err)
{
    return simple(q, ST_BEGIN, err);
}

static lti_status_t commit(sq_t *q, lti_err_t *err)
{
    lti_status_t rv = simple(q, ST_COMMIT, err);

    if (rv != LTI_OK) {
        simple(q, ST_ROLLBACK, NULL);
    }
    return rv;
}

static void rollback(sq_t *q)
{
    if (!sqlite3_get_autocommit(q->db)) {
        simple(q, ST_ROLLBACK, NULL);
    }
}

/* Several reads in one snapshot: one WAL read lock instead of one per statement.  Caller
 * holds the lock; read_end ends what read_begin started (if it did). */
static int read_begin(sq_t *q)
{
    return simple(q, ST_BEGIN_READ, NULL) == LTI_OK;
}

static void read_end(sq_t *q, int begun)
{
    if (begun) {
        simple(q, ST_COMMIT, NULL);
    }
}

#define LOCK(q) apr_thread_mutex_lock((q)->mu)
#define UNLOCK(q) apr_thread_mutex_unlock((q)->mu)

static void sq_close(lti_store_t *s)
{
    sq_t *q = s->impl;

    if (q == NULL || q->db == NULL) {
        return;
    }
    for (int i = 0; i < ST__COUNT; i++) {
        if (q->st[i] != NULL) {
            sqlite3_finalize(q->st[i]);
            q->st[i] = NULL;
        }
    }
    sqlite3_close(q->db);
    q->db = NULL;
}


static apr_status_t sq_cleanup(void *data)
{
    sq_close(data);
    return APR_SUCCESS;
}

static lti_status_t version_locked(sq_t *q, int *version, lti_err_t *err)
{
    sqlite3_stmt *st;
    int rc, exists = 0;

    /* An empty store has no schema_migrations table: that is version 0. */
    rc = sqlite3_prepare_v2(q->db, "SELECT 1 FROM sqlite_master WHERE type = 'table'"
                            " AND name = 'schema_migrations'", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        return db_err(q, err, "prepare");
    }
    exists = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (!exists) {
        *version = 0;
        return LTI_OK;
    }
    st = stmt(q, ST_VERSION, err);
    if (st == NULL) {
        return LTI_ERR_STORE;
    }
    if (sqlite3_step(st) != SQLITE_ROW) {
        done(st);
        return db_err(q, err, "schema version");
    }
    *version = sqlite3_column_int(st, 0);
    done(st);
    return LTI_OK;
}

static lti_status_t sq_schema_version(lti_store_t *s, int *version, lti_err_t *err)
{
    sq_t *q = s->impl;
    lti_status_t rv;

    LOCK(q);
    rv = version_locked(q, version, err);
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_migrate(lti_store_t *s, int *from, int *to, lti_err_t *err)
{
    sq_t *q = s->impl;
    const int target = (int)(sizeof(migrations) / sizeof(migrations[0]));
    lti_status_t rv;
    int v;

    LOCK(q);
    rv = version_locked(q, &v, err);
    if (rv != LTI_OK) {
        goto out;
    }
    *from = *to = v;
    if (v > target) {
        rv = lti_err_set(err, LTI_ERR_CONFIG, "store_too_new",
                         "the store %s has schema version %d, newer than this build (%d); "
                         "upgrade mod_ptech", q->path, v, target);
        goto out;
    }
    for (; v < target; v++) {
        char *msg = NULL;
        sqlite3_stmt *st;

        if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
            rv = db_err(q, err, "begin migration");
            goto out;
        }
        /* Another process (httpd, ptechctl) may have migrated since we looked. */
        if ((rv = version_locked(q, &v, err)) != LTI_OK || v >= target) {
            sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
            *to = v;
            goto out;
        }
        if (sqlite3_exec(q->db, migrations[v], NULL, NULL, &msg) != SQLITE_OK) {
            rv = lti_err_set(err, LTI_ERR_STORE, "store_migration",
                             "migration %d -> %d failed: %s", v, v + 1, msg ? msg : "?");
            sqlite3_free(msg);
            sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
            goto out;
        }
        if (sqlite3_prepare_v2(q->db, "INSERT INTO schema_migrations (version, applied)"
                               " VALUES (?, strftime('%s', 'now'))", -1, &st, NULL)
            != SQLITE_OK) {
            rv = db_err(q, err, "prepare");
            sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
            goto out;
        }
        sqlite3_bind_int(st, 1, v + 1);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rv = db_err(q, err, "record migration");
            sqlite3_finalize(st);
            sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
            goto out;
        }
        sqlite3_finalize(st);
        if (sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            rv = db_err(q, err, "commit migration");
            sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
            goto out;
        }
        *to = v + 1;
    }
out:
    UNLOCK(q);
    return rv;
}

/* Rows named by a key with one text value and a creation time (LTI 1.1 consumers, xAPI
 * providers) share these: statement id st_id, the lock taken here. */

/* Runs st_id with (key, value, now), or with replace (value, key); *changes its row count. */
static lti_status_t keyed_put(sq_t *q, int st_id, int replace, const char *key,
                              const char *value, int64_t now, int *changes, lti_err_t *err)
{
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;

    *changes = 0;
    LOCK(q);
    if ((st = stmt(q, st_id, err)) != NULL) {
        bind_text(st, replace ? 2 : 1, key);
        bind_text(st, replace ? 1 : 2, value);
        if (!replace) {
            sqlite3_bind_int64(st, 3, now);
        }
        rv = exec_stmt(q, st, changes, err);
    }
    UNLOCK(q);
    return rv;
}

/* The (value, created) row of key: *found says whether there is one. */
static lti_status_t keyed_get(sq_t *q, apr_pool_t *p, int st_id, const char *key,
                              const char **value, int64_t *created, int *found, lti_err_t *err)
{
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int rc;

    *found = 0;
    LOCK(q);
    if ((st = stmt(q, st_id, err)) != NULL) {
        bind_text(st, 1, key);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *value = col_text(p, st, 0);
            *created = sqlite3_column_int64(st, 1);
            *found = 1;
        }
        rv = rc == SQLITE_ROW || rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "get");
        done(st);
    }
    UNLOCK(q);
    return rv;
}

/* Every (key, created) row, pushed to out by push. */
static lti_status_t keyed_list(sq_t *q, apr_pool_t *p, int st_id, apr_array_header_t *out,
                               void (*push)(apr_array_header_t *out, const char *key,
                                            int64_t created),
                               lti_err_t *err)
{
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int rc;

    LOCK(q);
    if ((st = stmt(q, st_id, err)) != NULL) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            push(out, col_text(p, st, 0), sqlite3_column_int64(st, 1));
        }
        rv = rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "list");
        done(st);
    }
    UNLOCK(q);
    return rv;
}

/* Deletes key's row; *changes says whether there was one. */
static lti_status_t keyed_remove(sq_t *q, int st_id, const char *key, int *changes,
                                 lti_err_t *err)
{
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;

    *changes = 0;
    LOCK(q);
    if ((st = stmt(q, st_id, err)) != NULL) {
        bind_text(st, 1, key);
        rv = exec_stmt(q, st, changes, err);
    }
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_consumer_add(lti_store_t *s, const char *key, const char *secret,
                                    int replace, int64_t now, lti_err_t *err)
{
    int changes;
    lti_status_t rv = keyed_put(s->impl, replace ? ST_CONSUMER_REPLACE : ST_CONSUMER_ADD,
                                replace, key, secret, now, &changes, err);

    if (rv == LTI_OK && changes == 0) {
        rv = replace ? lti_err_set(err, LTI_ERR_NOT_FOUND, "consumer_unknown",
                                   "no consumer '%s'", key)
                     : lti_err_set(err, LTI_ERR_EXISTS, "consumer_exists",
                                   "consumer '%s' exists (use --replace to change its secret)",
                                   key);
    }
    return rv;
}

static lti_status_t sq_consumer_get(lti_store_t *s, apr_pool_t *p, const char *key,
                                    lti_consumer_t *out, lti_err_t *err)
{
    int found;
    lti_status_t rv = keyed_get(s->impl, p, ST_CONSUMER_GET, key, &out->secret, &out->created,
                                &found, err);

    if (rv == LTI_OK && !found) {
        return lti_err_set(err, LTI_ERR_NOT_FOUND, "consumer_unknown", "no consumer '%s'", key);
    }
    out->key = apr_pstrdup(p, key);
    return rv;
}

static void push_consumer(apr_array_header_t *out, const char *key, int64_t created)
{
    lti_consumer_t *c = apr_array_push(out);

    c->key = key;
    c->secret = NULL;
    c->created = created;
}

static lti_status_t sq_consumer_list(lti_store_t *s, apr_pool_t *p, apr_array_header_t **out,
                                     lti_err_t *err)
{
    *out = apr_array_make(p, 8, sizeof(lti_consumer_t));
    return keyed_list(s->impl, p, ST_CONSUMER_LIST, *out, push_consumer, err);
}

static lti_status_t sq_consumer_remove(lti_store_t *s, const char *key, lti_err_t *err)
{
    int changes;
    lti_status_t rv = keyed_remove(s->impl, ST_CONSUMER_REMOVE, key, &changes, err);

    if (rv == LTI_OK && changes == 0) {
        rv = lti_err_set(err, LTI_ERR_NOT_FOUND, "consumer_unknown", "no consumer '%s'", key);
    }
    return rv;
}

static lti_status_t catalog_current_locked(sq_t *q, apr_pool_t *p, int with_xml,
                                           lti_catalog_rev_t *out, lti_err_t *err)
{
    sqlite3_stmt *st = stmt(q, ST_CATALOG_CURRENT, err);
    lti_status_t rv;
    int rc;

    if (st == NULL) {
        return LTI_ERR_STORE;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->rev = sqlite3_column_int64(st, 0);
        out->sha256 = col_text(p, st, 1);
        out->source = col_text(p, st, 2);
        out->loaded = sqlite3_column_int64(st, 3);
        out->xml = with_xml ? col_text(p, st, 4) : NULL;
        rv = LTI_OK;
    }
    else if (rc == SQLITE_DONE) {
        rv = lti_err_set(err, LTI_ERR_NOT_FOUND, "catalog_none",
                         "no catalog loaded (ptechctl catalog load FILE)");
    }
    else {
        rv = db_err(q, err, "catalog current");
    }
    done(st);
    return rv;
}

static lti_status_t sq_catalog_put(lti_store_t *s, const char *sha256, const char *source,
                                   const char *xml, int64_t now, int *changed, lti_err_t *err)
{
    sq_t *q = s->impl;
    lti_catalog_rev_t cur;
    apr_pool_t *tmp;
    sqlite3_stmt *st;
    lti_status_t rv;

    *changed = 0;
    apr_pool_create(&tmp, s->pool);
    LOCK(q);
    rv = begin(q, err);
    if (rv != LTI_OK) {
        goto out;
    }
    rv = catalog_current_locked(q, tmp, 0, &cur, err);
    if (rv == LTI_OK && strcmp(cur.sha256, sha256) == 0) {
        rv = commit(q, err);
        goto out;
    }
    if (rv != LTI_OK && rv != LTI_ERR_NOT_FOUND) {
        rollback(q);
        goto out;
    }
    st = stmt(q, ST_CATALOG_INSERT, err);
    if (st == NULL) {
        rv = LTI_ERR_STORE;
        rollback(q);
        goto out;
    }
    bind_text(st, 1, sha256);
    bind_text(st, 2, source);
    bind_text(st, 3, xml);
    sqlite3_bind_int64(st, 4, now);
    rv = exec_stmt(q, st, NULL, err);
    if (rv != LTI_OK) {
        rollback(q);
        goto out;
    }
    rv = commit(q, err);
    *changed = rv == LTI_OK;
out:
    UNLOCK(q);
    apr_pool_destroy(tmp);
    return rv;
}

static lti_status_t sq_catalog_current(lti_store_t *s, apr_pool_t *p, int with_xml,
                                       lti_catalog_rev_t *out, lti_err_t *err)
{
    sq_t *q = s->impl;
    lti_status_t rv;

    LOCK(q);
    rv = catalog_current_locked(q, p, with_xml, out, err);
    UNLOCK(q);
    return rv;
}

/* Inserts the nonce; LTI_ERR_REPLAY if it exists.  Caller holds the lock. */
static lti_status_t nonce_locked(sq_t *q, const char *scope, const char *nonce,
                                 int64_t expires, lti_err_t *err)
{
    sqlite3_stmt *st = stmt(q, ST_NONCE_INSERT, err);
    lti_status_t rv;
    int changes = 0;

    if (st == NULL) {
        return LTI_ERR_STORE;
    }
    bind_text(st, 1, scope);
    bind_text(st, 2, nonce);
    sqlite3_bind_int64(st, 3, expires);
    rv = exec_stmt(q, st, &changes, err);
    if (rv == LTI_OK && changes == 0) {
        rv = lti_err_set(err, LTI_ERR_REPLAY, "nonce_replay",
                         "this nonce was already used: the request was replayed");
    }
    return rv;
}

static lti_status_t sq_nonce_use(lti_store_t *s, const char *scope, const char *nonce,
                                 int64_t expires, lti_err_t *err)
{
    sq_t *q = s->impl;
    lti_status_t rv;

    LOCK(q);
    rv = nonce_locked(q, scope, nonce, expires, err);
    UNLOCK(q);
    return rv;
}

/* How long a RESTART checkpoint may wait (for the write lock, then for readers), in
 * half-millisecond polls: while it waits for readers it holds the write lock, so writers
 * wait too.  Past that it gives up and the next call tries again. */
#define RESTART_POLLS 40

static int restart_wait(void *arg, int count)
{
    apr_sleep(500);
    return count < RESTART_POLLS;
}

/* A PASSIVE pass copies what it can, blocking no one, with its fsyncs in this (a
 * background) thread rather than in the request whose commit crossed wal_autocheckpoint,
 * which held its whole child waiting.  Commits made during that pass are copied by a
 * RESTART pass, short since little is left, which holds writers off meanwhile so that the
 * next commit starts the WAL from its beginning again: a WAL that only grows makes every
 * commit dearer (new blocks for the file, more hash tables to search). */
static lti_status_t sq_checkpoint(lti_store_t *s, lti_store_ckpt_t *out, lti_err_t *err)
{
    sq_t *q = s->impl;
    int logged = 0, copied = 0, rc;

    LOCK(q);
    rc = sqlite3_wal_checkpoint_v2(q->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &logged, &copied);
    if (rc == SQLITE_OK && copied < logged) {
        sqlite3_busy_handler(q->db, restart_wait, q);
        rc = sqlite3_wal_checkpoint_v2(q->db, NULL, SQLITE_CHECKPOINT_RESTART, &logged,
                                       &copied);
        sqlite3_busy_handler(q->db, busy_wait, q);
        out->restarted = rc == SQLITE_OK;
    }
    else {
        out->restarted = rc == SQLITE_OK && logged > 0 && copied == logged;
    }
    /* Busy: another checkpoint ran, or a reader held the RESTART off; not an error. */
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        db_err(q, err, "checkpoint");
        UNLOCK(q);
        return LTI_ERR_STORE;
    }
    UNLOCK(q);
    out->logged = logged > 0 ? logged : 0;
    out->copied = copied > 0 ? copied : 0;
    return LTI_OK;
}

static lti_status_t sq_purge(lti_store_t *s, int64_t now, int *nonces, int *sessions,
                             lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;

    LOCK(q);
    st = stmt(q, ST_NONCE_PURGE, err);
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, now);
        rv = exec_stmt(q, st, nonces, err);
    }
    if (rv == LTI_OK) {
        st = stmt(q, ST_SESSION_PURGE, err);
        rv = LTI_ERR_STORE;
        if (st != NULL) {
            sqlite3_bind_int64(st, 1, now);
            rv = exec_stmt(q, st, sessions, err);
        }
    }
    if (rv == LTI_OK) {
        st = stmt(q, ST_STATE_PURGE, err);
        rv = LTI_ERR_STORE;
        if (st != NULL) {
            sqlite3_bind_int64(st, 1, now);
            rv = exec_stmt(q, st, NULL, err);
        }
    }
    UNLOCK(q);
    return rv;
}

typedef struct audit_row_t {
    int64_t at;
    int http_status;
    const char *reason, *scope, *remote, *detail;
} audit_row_t;

static lti_status_t audit_job(sq_t *q, pending_t *job)
{
    const audit_row_t *a = job->arg;
    sqlite3_stmt *st = stmt(q, ST_AUDIT_INSERT, job->err);

    if (st == NULL) {
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(st, 1, a->at);
    sqlite3_bind_int(st, 2, a->http_status);
    bind_text(st, 3, a->reason);
    bind_text(st, 4, a->scope);
    bind_text(st, 5, a->remote);
    bind_text(st, 6, a->detail);
    job->dirty = 1;
    return exec_stmt(q, st, NULL, job->err);
}

/* Refusals come in floods too (a replaying client, a misconfigured platform): their audit
 * rows share group commits like launches. */
static lti_status_t sq_audit_add(lti_store_t *s, int64_t at, int http_status,
                                 const char *reason, const char *scope, const char *remote,
                                 const char *detail, lti_err_t *err)
{
    audit_row_t a = {at, http_status, reason, scope, remote, detail};
    pending_t me;

    memset(&me, 0, sizeof(me));
    me.run = audit_job;
    me.arg = &a;
    return group_commit(s->impl, &me, err);
}

static lti_status_t sq_audit_recent(lti_store_t *s, apr_pool_t *p, int limit,
                                    apr_array_header_t **out, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int rc;

    *out = apr_array_make(p, 16, sizeof(lti_audit_t));
    LOCK(q);
    st = stmt(q, ST_AUDIT_RECENT, err);
    if (st != NULL) {
        sqlite3_bind_int(st, 1, limit);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            lti_audit_t *a = apr_array_push(*out);

            a->id = sqlite3_column_int64(st, 0);
            a->at = sqlite3_column_int64(st, 1);
            a->http_status = sqlite3_column_int(st, 2);
            a->reason = col_text(p, st, 3);
            a->scope = col_text(p, st, 4);
            a->remote = col_text(p, st, 5);
            a->detail = col_text(p, st, 6);
        }
        rv = rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "audit list");
        done(st);
    }
    UNLOCK(q);
    return rv;
}

/* The person of a launch (see lti_store_launch_record): upserts the identity (tenant,
 * user id) with the launch's LMS guid, linking it when it is new; when it stands for
 * another person, writes the profile there; makes the verified identity an alias.  Lock
 * held. */
static lti_status_t person_locked(sq_t *q, const lti_launch_rec_t *r, int64_t *person,
                                  lti_err_t *err)
{
    sqlite3_stmt *st;
    lti_status_t rv;
    int64_t row[2], alias;
    int linked = r->link_tenant != NULL && r->link_user_id != NULL;

    if ((rv = same_or_upsert(q, ST_PERSON_SAME, ST_PERSON_UPSERT, ST_PERSON_ID, bind_person, r,
                             0, 7, r->user_id, row, err)) != LTI_OK) {
        return rv;
    }
    alias = row[1];
    *person = alias ? alias : row[0];
    if (alias) {
        if ((st = stmt(q, ST_PERSON_PROFILE, err)) == NULL) {
            return LTI_ERR_STORE;
        }
        sqlite3_bind_int64(st, 1, alias);
        bind_text(st, 2, r->given_name);
        bind_text(st, 3, r->family_name);
        bind_text(st, 4, r->full_name);
        bind_text(st, 5, r->email);
        sqlite3_bind_int64(st, 6, r->now);
        if ((rv = exec_stmt(q, st, NULL, err)) != LTI_OK) {
            return rv;
        }
    }
    if (linked) {
        /* The verified identity stands for this person from now on, if it is new. */
        if ((st = stmt(q, ST_PERSON_ALIAS, err)) == NULL) {
            return LTI_ERR_STORE;
        }
        bind_text(st, 1, r->link_tenant);
        bind_text(st, 2, r->link_user_id);
        sqlite3_bind_int64(st, 3, r->now);
        sqlite3_bind_int64(st, 4, *person);
        if ((rv = exec_stmt(q, st, NULL, err)) != LTI_OK) {
            return rv;
        }
    }
    return LTI_OK;
}

static lti_status_t sq_audit_counts(lti_store_t *s, apr_pool_t *p, int64_t since,
                                    apr_array_header_t **out, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int rc;

    *out = apr_array_make(p, 16, sizeof(lti_audit_count_t));
    LOCK(q);
    st = stmt(q, ST_AUDIT_COUNTS, err);
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, since);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            lti_audit_count_t *c = apr_array_push(*out);

            c->reason = col_text(p, st, 0);
            c->count = sqlite3_column_int64(st, 1);
            c->last = sqlite3_column_int64(st, 2);
        }
        rv = rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "audit counts");
        done(st);
    }
    UNLOCK(q);
    return rv;
}

/* The body of lti_store_launch_record; runs inside the transaction, lock held. */
static lti_status_t launch_locked(sq_t *q, const lti_launch_rec_t *r, lti_launch_ids_t *ids,
                                  lti_err_t *err)
{
    sqlite3_stmt *st;
    lti_status_t rv;
    int64_t row[2];

    /* An LTI 1.3 launch has no nonce row: its login state, consumed first, is the nonce. */
    if (r->nonce != NULL
        && (rv = nonce_locked(q, r->nonce_scope, r->nonce, r->nonce_expires, err)) != LTI_OK) {
        return rv;
    }
    if ((rv = person_locked(q, r, &ids->person_id, err)) != LTI_OK) {
        return rv;
    }
    ids->context_pk = 0;
    if (r->context_id != NULL) {
        if ((rv = same_or_upsert(q, ST_CONTEXT_SAME, ST_CONTEXT_UPSERT, ST_CONTEXT_ID,
                                 bind_context, r, 0, 6, r->context_id, row, err)) != LTI_OK) {
            return rv;
        }
        ids->context_pk = row[0];
    }
    if ((rv = same_or_upsert(q, ST_LINK_SAME, ST_LINK_UPSERT, ST_LINK_ID, bind_link, r,
                             ids->context_pk, 6, r->link_id, row, err)) != LTI_OK) {
        return rv;
    }
    ids->link_pk = row[0];
    if ((st = stmt(q, ST_MEMBER_UPSERT, err)) == NULL) {
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(st, 1, ids->person_id);
    sqlite3_bind_int64(st, 2, ids->link_pk);
    sqlite3_bind_int(st, 3, (int)r->roles);
    bind_text(st, 4, r->result_sourcedid);
    bind_text(st, 5, r->outcome_url);
    sqlite3_bind_int64(st, 6, r->now);
    if ((rv = exec_stmt(q, st, NULL, err)) != LTI_OK) {
        return rv;
    }
    if ((st = stmt(q, ST_LAUNCH_INSERT, err)) == NULL) {
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(st, 1, ids->person_id);
    sqlite3_bind_int64(st, 2, ids->link_pk);
    bind_text(st, 3, r->version);
    sqlite3_bind_int(st, 4, (int)r->roles);
    bind_text(st, 5, r->roles_raw);
    bind_text(st, 6, r->locale);
    sqlite3_bind_int64(st, 7, r->now);
    if ((rv = exec_stmt(q, st, NULL, err)) != LTI_OK) {
        return rv;
    }
    /* Not by RETURNING: SQLite gathers RETURNING rows in an ephemeral table, which it
     * creates for every launch.  The connection is ours (lock held). */
    ids->launch_id = sqlite3_last_insert_rowid(q->db);
    if ((st = stmt(q, ST_SESSION_INSERT, err)) == NULL) {
        return LTI_ERR_STORE;
    }
    bind_text(st, 1, r->session_hash);
    sqlite3_bind_int64(st, 2, ids->person_id);
    sqlite3_bind_int64(st, 3, ids->link_pk);
    sqlite3_bind_int64(st, 4, ids->launch_id);
    sqlite3_bind_int(st, 5, (int)r->roles);
    bind_text(st, 6, r->locale);
    bind_text(st, 7, r->csrf);
    bind_text(st, 8, r->lms_origin);
    sqlite3_bind_int64(st, 9, r->now);
    sqlite3_bind_int64(st, 10, r->session_expires);
    return exec_stmt(q, st, NULL, err);
}

/* Runs a batch of writes in one transaction.  A write that is refused before it changed
 * anything (a replayed nonce, a spent state: the common refusals) needs no undoing, so the
 * batch runs without savepoints, which cost an allocation and a journal per write.  A write
 * that fails after changing something (a database error) makes the whole batch start again,
 * each write then inside its own savepoint, so one failure leaves the others whole.  If the
 * commit fails, every write of the batch fails.  Caller holds the connection lock. */
static void run_batch(sq_t *q, pending_t *batch)
{
    lti_err_t berr;
    lti_status_t rv = begin(q, &berr);
    int guarded = 0;

again:
    for (pending_t *e = batch; e != NULL; e = e->next) {
        if (rv != LTI_OK) {
            *e->err = berr;
            e->rv = rv;
            continue;
        }
        if (!guarded) {
            e->dirty = 0;
            if ((e->rv = e->run(q, e)) != LTI_OK && e->dirty) {
                rollback(q);
                guarded = 1;
                rv = begin(q, &berr);
                goto again;
            }
            continue;
        }
        e->rv = simple(q, ST_SAVEPOINT, e->err);
        if (e->rv == LTI_OK) {
            e->rv = e->run(q, e);
            if (e->rv != LTI_OK) {
                simple(q, ST_ROLLBACK_TO, NULL);
            }
            simple(q, ST_RELEASE, NULL);
        }
    }
    if (rv != LTI_OK) {
        return;
    }
    rv = commit(q, &berr);
    for (pending_t *e = batch; rv != LTI_OK && e != NULL; e = e->next) {
        if (e->rv == LTI_OK) {
            *e->err = berr;
            e->rv = rv;
        }
    }
}

/* Group commit: a write joins a queue.  The head of the queue leads: it takes up to
 * GROUP_MAX queued writes and commits them in one transaction while the next batch gathers,
 * wakes the writers it served and hands the lead to the new head.  Under load one WAL commit
 * (its locks, its frames, its header) serves many requests; alone, a write commits at once. */
static lti_status_t group_commit(sq_t *q, pending_t *me, lti_err_t *err)
{
    lti_err_t scratch;
    pending_t *batch, *last, *next_leader;
    int n = 1;

    me->err = err ? err : &scratch;
    me->next = NULL;
    me->done = me->lead = 0;
    sem_init(&me->wake, 0, 0);
    pthread_mutex_lock(&q->qmu);
    if (q->tail != NULL) {
        q->tail->next = me;
    }
    else {
        q->head = me;
    }
    q->tail = me;
    if (!q->leader) {
        q->leader = 1;
        me->lead = 1;
    }
    pthread_mutex_unlock(&q->qmu);
    if (!me->lead) {
        /* Woken either served (done) or made the next leader (lead). */
        while (sem_wait(&me->wake) != 0) {
            continue;   /* EINTR */
        }
        if (me->done) {
            sem_destroy(&me->wake);
            return me->rv;
        }
    }
    /* We lead, and the leader is always the queue's head.  Let threads that are about to
     * queue do so first (on a busy core they only run when we yield). */
    apr_thread_yield();
    pthread_mutex_lock(&q->qmu);
    batch = last = q->head;
    while (last->next != NULL && n < GROUP_MAX) {
        last = last->next;
        n++;
    }
    q->head = last->next;
    if (q->head == NULL) {
        q->tail = NULL;
        q->leader = 0;
    }
    next_leader = q->head;
    last->next = NULL;
    pthread_mutex_unlock(&q->qmu);

    LOCK(q);
    run_batch(q, batch);
    UNLOCK(q);

    /* A waiter may return as soon as it is posted: read ->next first. */
    for (pending_t *e = batch, *following; e != NULL; e = following) {
        following = e->next;
        if (e != me) {
            e->done = 1;
            sem_post(&e->wake);
        }
    }
    if (next_leader != NULL) {
        next_leader->lead = 1;
        sem_post(&next_leader->wake);
    }
    sem_destroy(&me->wake);
    return me->rv;
}

static lti_status_t launch_job(sq_t *q, pending_t *job)
{
    const lti_launch_rec_t *rec = job->arg;
    lti_status_t rv;

    if (rec->login_state != NULL) {
        /* The login state is consumed with the launch it allowed: of two launches racing
         * with one state, the second finds it gone. */
        sqlite3_stmt *st = stmt(q, ST_STATE_DELETE, job->err);
        int changes = 0;

        if (st == NULL) {
            return LTI_ERR_STORE;
        }
        bind_text(st, 1, rec->login_state);
        if ((rv = exec_stmt(q, st, &changes, job->err)) != LTI_OK) {
            job->dirty = 1;
            return rv;
        }
        if (changes == 0) {
            return lti_err_set(job->err, LTI_ERR_REPLAY, "lti13_state_unknown",
                               "This launch's state is unknown or was already used: launch "
                               "the activity again from the LMS.");
        }
    }
    /* A replayed nonce is refused before anything else is written (a state consumed above
     * may stay consumed: it is single use whatever happens). */
    rv = launch_locked(q, rec, job->ids, job->err);
    job->dirty = rv != LTI_OK && !(rv == LTI_ERR_REPLAY && strcmp(job->err->reason,
                                                                  "nonce_replay") == 0);
    job->ids->progress_due = 1;
    if (rv == LTI_OK && rec->pool != NULL) {
        /* Answered here, in the transaction the launch already holds, rather than in a
         * snapshot of its own afterwards: most launches then need no other store call.  A
         * read that fails leaves it due, for lti_store_progress_on_launch to report. */
        apr_pool_t *tmp;
        apr_array_header_t *kept;
        const char *course;
        lti_err_t scratch;
        int due;

        if (apr_pool_create(&tmp, rec->pool) == APR_SUCCESS) {
            if (progress_due_locked(q, tmp, job->ids->person_id, job->ids->link_pk, &kept,
                                    &course, &due, &scratch) == LTI_OK) {
                job->ids->progress_due = due;
            }
            apr_pool_destroy(tmp);
        }
    }
    return rv;
}

static lti_status_t sq_launch_record(lti_store_t *s, const lti_launch_rec_t *rec,
                                     lti_launch_ids_t *ids, lti_err_t *err)
{
    pending_t me;

    memset(&me, 0, sizeof(me));
    me.run = launch_job;
    me.arg = rec;
    me.ids = ids;
    return group_commit(s->impl, &me, err);
}

static lti_status_t sq_session_get(lti_store_t *s, apr_pool_t *p, const char *session_hash,
                                   int64_t now, lti_session_t *out, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int rc;

    LOCK(q);
    st = stmt(q, ST_SESSION_GET, err);
    if (st != NULL) {
        bind_text(st, 1, session_hash);
        sqlite3_bind_int64(st, 2, now);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            out->person_id = sqlite3_column_int64(st, 0);
            out->link_pk = sqlite3_column_int64(st, 1);
            out->user_id = col_text(p, st, 2);
            out->full_name = col_text(p, st, 3);
            out->email = col_text(p, st, 4);
            out->roles = (unsigned)sqlite3_column_int(st, 5);
            out->locale = col_text(p, st, 6);
            out->csrf = col_text(p, st, 7);
            out->tenant = col_text(p, st, 8);
            out->link_id = col_text(p, st, 9);
            out->link_title = col_text(p, st, 10);
            out->context_title = col_text(p, st, 11);
            out->course_id = col_text(p, st, 12);
            out->expires = sqlite3_column_int64(st, 13);
            out->lms_origin = col_text(p, st, 14);
            rv = LTI_OK;
        }
        else if (rc == SQLITE_DONE) {
            rv = lti_err_set(err, LTI_ERR_NOT_FOUND, "session_unknown",
                             "no such session, or it has expired");
        }
        else {
            rv = db_err(q, err, "session get");
        }
        done(st);
    }
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_link_set_course(lti_store_t *s, int64_t link_pk, const char *course_id,
                                       int64_t now, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int changes = 0;

    LOCK(q);
    st = stmt(q, ST_LINK_SET_COURSE, err);
    if (st != NULL) {
        bind_text(st, 1, course_id);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_int64(st, 3, link_pk);
        rv = exec_stmt(q, st, &changes, err);
    }
    UNLOCK(q);
    if (rv == LTI_OK && changes == 0) {
        rv = lti_err_set(err, LTI_ERR_NOT_FOUND, "link_unknown", "no such resource link");
    }
    return rv;
}

static lti_status_t sq_link_learners(lti_store_t *s, apr_pool_t *p, int64_t link_pk,
                                     apr_array_header_t **out, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int rc;

    *out = apr_array_make(p, 16, sizeof(lti_learner_t));
    LOCK(q);
    st = stmt(q, ST_LINK_LEARNERS, err);
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, link_pk);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            lti_learner_t *l = apr_array_push(*out);

            l->person_id = sqlite3_column_int64(st, 0);
            l->user_id = col_text(p, st, 1);
            l->full_name = col_text(p, st, 2);
            l->email = col_text(p, st, 3);
            l->roles = (unsigned)sqlite3_column_int(st, 4);
            l->last_launch = sqlite3_column_int64(st, 5);
        }
        rv = rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "link learners");
        done(st);
    }
    UNLOCK(q);
    return rv;
}

/* Reads a platform row (columns as in ST_PLATFORM_GET) without its deployments. */
static void platform_cols(apr_pool_t *p, sqlite3_stmt *st, lti_platform_t *pf)
{
    memset(pf, 0, sizeof(*pf));
    pf->id = sqlite3_column_int64(st, 0);
    pf->issuer = col_text(p, st, 1);
    pf->client_id = col_text(p, st, 2);
    pf->auth_url = col_text(p, st, 3);
    pf->token_url = col_text(p, st, 4);
    pf->jwks_url = col_text(p, st, 5);
    pf->created = sqlite3_column_int64(st, 6);
}

/* Fills pf->deployments.  Caller holds the lock, with no other statement running. */
static lti_status_t platform_deployments(sq_t *q, apr_pool_t *p, lti_platform_t *pf,
                                         lti_err_t *err)
{
    sqlite3_stmt *d = stmt(q, ST_DEPLOYMENTS_OF, err);
    int rc;

    pf->deployments = apr_array_make(p, 2, sizeof(const char *));
    if (d == NULL) {
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(d, 1, pf->id);
    while ((rc = sqlite3_step(d)) == SQLITE_ROW) {
        APR_ARRAY_PUSH(pf->deployments, const char *) = col_text(p, d, 0);
    }
    done(d);
    return rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "deployments");
}

static lti_status_t sq_platform_add(lti_store_t *s, const lti_platform_t *pf, int64_t now,
                                    lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv;
    int64_t id = 0;
    int rc;

    LOCK(q);
    if ((rv = begin(q, err)) != LTI_OK) {
        goto out;
    }
    if ((st = stmt(q, ST_PLATFORM_ADD, err)) == NULL) {
        rv = LTI_ERR_STORE;
        goto fail;
    }
    bind_text(st, 1, pf->issuer);
    bind_text(st, 2, pf->client_id);
    bind_text(st, 3, pf->auth_url);
    bind_text(st, 4, pf->token_url);
    bind_text(st, 5, pf->jwks_url);
    sqlite3_bind_int64(st, 6, now);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
    }
    done(st);
    if (rc == SQLITE_DONE) {
        rv = lti_err_set(err, LTI_ERR_EXISTS, "platform_exists",
                         "platform %s with client id %s is already registered", pf->issuer,
                         pf->client_id);
        goto fail;
    }
    if (rc != SQLITE_ROW) {
        rv = db_err(q, err, "platform add");
        goto fail;
    }
    for (int i = 0; pf->deployments && i < pf->deployments->nelts; i++) {
        if ((st = stmt(q, ST_DEPLOYMENT_ADD, err)) == NULL) {
            rv = LTI_ERR_STORE;
            goto fail;
        }
        sqlite3_bind_int64(st, 1, id);
        bind_text(st, 2, APR_ARRAY_IDX(pf->deployments, i, const char *));
        sqlite3_bind_int64(st, 3, now);
        if ((rv = exec_stmt(q, st, NULL, err)) != LTI_OK) {
            goto fail;
        }
    }
    rv = commit(q, err);
    goto out;
fail:
    rollback(q);
out:
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_platform_list(lti_store_t *s, apr_pool_t *p, apr_array_header_t **out,
                                     lti_err_t *err)
{
    sq_t *q = s->impl;
    apr_array_header_t *rows = apr_array_make(p, 4, sizeof(lti_platform_t));
    sqlite3_stmt *st;
    lti_status_t rv = LTI_OK;
    int rc;

    *out = rows;
    LOCK(q);
    if ((st = stmt(q, ST_PLATFORM_LIST, err)) == NULL) {
        UNLOCK(q);
        return LTI_ERR_STORE;
    }
    /* Rows first, deployments after: one statement at a time. */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        platform_cols(p, st, apr_array_push(rows));
    }
    done(st);
    if (rc != SQLITE_DONE) {
        rv = db_err(q, err, "platform list");
    }
    for (int i = 0; rv == LTI_OK && i < rows->nelts; i++) {
        rv = platform_deployments(q, p, &APR_ARRAY_IDX(rows, i, lti_platform_t), err);
    }
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_platform_remove(lti_store_t *s, const char *issuer,
                                       const char *client_id, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int changes = 0;

    LOCK(q);
    if ((st = stmt(q, ST_PLATFORM_REMOVE, err)) != NULL) {
        bind_text(st, 1, issuer);
        bind_text(st, 2, client_id);
        rv = exec_stmt(q, st, &changes, err);
    }
    UNLOCK(q);
    if (rv == LTI_OK && changes == 0) {
        rv = lti_err_set(err, LTI_ERR_NOT_FOUND, "platform_unknown",
                         "no platform %s with client id %s", issuer, client_id);
    }
    return rv;
}

static lti_status_t sq_platform_get(lti_store_t *s, apr_pool_t *p, const char *issuer,
                                    const char *client_id, lti_platform_t *out,
                                    lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv;
    int rc, begun;

    LOCK(q);
    begun = read_begin(q);
    if ((st = stmt(q, client_id ? ST_PLATFORM_GET : ST_PLATFORM_BY_ISSUER, err)) == NULL) {
        read_end(q, begun);
        UNLOCK(q);
        return LTI_ERR_STORE;
    }
    bind_text(st, 1, issuer);
    if (client_id) {
        bind_text(st, 2, client_id);
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        lti_platform_t tmp;

        platform_cols(p, st, &tmp);
        rc = sqlite3_step(st);
        done(st);
        if (rc == SQLITE_ROW) {
            read_end(q, begun);
            UNLOCK(q);
            return lti_err_set(err, LTI_ERR_UNKNOWN_KEY, "platform_ambiguous",
                               "issuer %s has several client ids registered: the login "
                               "initiation must name client_id", issuer);
        }
        *out = tmp;
        rv = platform_deployments(q, p, out, err);
        read_end(q, begun);
        UNLOCK(q);
        return rv;
    }
    done(st);
    read_end(q, begun);
    UNLOCK(q);
    if (rc != SQLITE_DONE) {
        return db_err(q, err, "platform get");
    }
    return lti_err_set(err, LTI_ERR_NOT_FOUND, "platform_unknown",
                       "no platform is registered for issuer %s%s%s", issuer,
                       client_id ? " and client id " : "", client_id ? client_id : "");
}

static lti_status_t sq_deployment_add(lti_store_t *s, int64_t platform_id,
                                      const char *deployment_id, int64_t now, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;

    LOCK(q);
    if ((st = stmt(q, ST_DEPLOYMENT_ADD, err)) != NULL) {
        sqlite3_bind_int64(st, 1, platform_id);
        bind_text(st, 2, deployment_id);
        sqlite3_bind_int64(st, 3, now);
        rv = exec_stmt(q, st, NULL, err);
    }
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_key_list(lti_store_t *s, apr_pool_t *p, apr_array_header_t **out,
                                lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int rc;

    *out = apr_array_make(p, 4, sizeof(lti_toolkey_t));
    LOCK(q);
    if ((st = stmt(q, ST_KEY_LIST, err)) != NULL) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            lti_toolkey_t *k = apr_array_push(*out);

            k->kid = col_text(p, st, 0);
            k->state = col_text(p, st, 1);
            k->public_jwk = col_text(p, st, 2);
            k->private_sealed = col_text(p, st, 3);
            k->created = sqlite3_column_int64(st, 4);
            k->retired = sqlite3_column_int64(st, 5);
        }
        rv = rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "key list");
        done(st);
    }
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_key_add(lti_store_t *s, const lti_toolkey_t *k, int64_t now,
                              lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int changes = 0;

    LOCK(q);
    if ((st = stmt(q, ST_KEY_INSERT, err)) != NULL) {
        bind_text(st, 1, k->kid);
        bind_text(st, 2, k->state);
        bind_text(st, 3, k->public_jwk);
        bind_text(st, 4, k->private_sealed);
        sqlite3_bind_int64(st, 5, now);
        rv = exec_stmt(q, st, &changes, err);
    }
    UNLOCK(q);
    if (rv == LTI_OK && changes == 0) {
        rv = lti_err_set(err, LTI_ERR_EXISTS, "key_exists", "the store already has a %s key "
                         "(or this kid)", k->state);
    }
    return rv;
}

static lti_status_t sq_key_rotate(lti_store_t *s, int64_t now, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv;
    int changes = 0;

    LOCK(q);
    if ((rv = begin(q, err)) != LTI_OK) {
        goto out;
    }
    if ((st = stmt(q, ST_KEY_RETIRE, err)) == NULL) {
        rv = LTI_ERR_STORE;
        goto fail;
    }
    sqlite3_bind_int64(st, 1, now);
    if ((rv = exec_stmt(q, st, NULL, err)) != LTI_OK) {
        goto fail;
    }
    if ((st = stmt(q, ST_KEY_PROMOTE, err)) == NULL) {
        rv = LTI_ERR_STORE;
        goto fail;
    }
    if ((rv = exec_stmt(q, st, &changes, err)) != LTI_OK) {
        goto fail;
    }
    if (changes == 0) {
        rv = lti_err_set(err, LTI_ERR_NOT_FOUND, "key_no_next",
                         "there is no next key to rotate to yet (httpd makes one when it "
                         "starts or serves /ptech/jwks)");
        goto fail;
    }
    rv = commit(q, err);
    goto out;
fail:
    rollback(q);
out:
    UNLOCK(q);
    return rv;
}

/* The platform with its deployments; LTI_ERR_NOT_FOUND when it is gone.  Lock held, in a
 * snapshot. */
static lti_status_t platform_by_id_locked(sq_t *q, apr_pool_t *p, int64_t id,
                                          lti_platform_t *out, lti_err_t *err)
{
    sqlite3_stmt *st;
    int rc;

    if ((st = stmt(q, ST_PLATFORM_BY_ID, err)) == NULL) {
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        platform_cols(p, st, out);
        done(st);
        return platform_deployments(q, p, out, err);
    }
    done(st);
    return rc == SQLITE_DONE ? lti_err_set(err, LTI_ERR_NOT_FOUND, "platform_unknown",
                                           "the platform of this login was removed")
                             : db_err(q, err, "platform by id");
}

static lti_status_t sq_platform_by_id(lti_store_t *s, apr_pool_t *p, int64_t id,
                                      lti_platform_t *out, lti_err_t *err)
{
    sq_t *q = s->impl;
    lti_status_t rv;
    int begun;

    LOCK(q);
    begun = read_begin(q);
    rv = platform_by_id_locked(q, p, id, out, err);
    read_end(q, begun);
    UNLOCK(q);
    return rv;
}

static lti_status_t state_job(sq_t *q, pending_t *job)
{
    const lti_login_state_t *ls = job->arg;
    sqlite3_stmt *st = stmt(q, ST_STATE_PUT, job->err);

    if (st == NULL) {
        return LTI_ERR_STORE;
    }
    bind_text(st, 1, ls->state);
    sqlite3_bind_int64(st, 2, ls->platform_id);
    bind_text(st, 3, ls->nonce);
    bind_text(st, 4, ls->target_link_uri);
    bind_text(st, 5, ls->browser);
    sqlite3_bind_int64(st, 6, ls->created);
    sqlite3_bind_int64(st, 7, ls->expires);
    bind_text(st, 8, ls->storage_target);
    bind_text(st, 9, ls->relaunch);
    job->dirty = 1;     /* a failed insert may have written part of its indexes */
    return exec_stmt(q, st, NULL, job->err);
}

/* Login initiations come in bursts (a class opening an activity): their states share
 * group commits with each other and with launches. */
static lti_status_t sq_state_put(lti_store_t *s, const lti_login_state_t *ls, lti_err_t *err)
{
    pending_t me;

    memset(&me, 0, sizeof(me));
    me.run = state_job;
    me.arg = ls;
    return group_commit(s->impl, &me, err);
}

/* Reads (ST_STATE_GET) or takes (ST_STATE_TAKE, DELETE ... RETURNING) a login state.  Lock
 * held. */
static lti_status_t state_read_locked(sq_t *q, int which, apr_pool_t *p, const char *state,
                                      int64_t now, lti_login_state_t *out, lti_err_t *err)
{
    sqlite3_stmt *st;
    lti_status_t rv;
    int rc;

    if ((st = stmt(q, which, err)) == NULL) {
        return LTI_ERR_STORE;
    }
    bind_text(st, 1, state);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->state = apr_pstrdup(p, state);
        out->platform_id = sqlite3_column_int64(st, 0);
        out->nonce = col_text(p, st, 1);
        out->target_link_uri = col_text(p, st, 2);
        out->browser = col_text(p, st, 3);
        out->created = sqlite3_column_int64(st, 4);
        out->expires = sqlite3_column_int64(st, 5);
        out->storage_target = col_text(p, st, 6);
        out->relaunch = col_text(p, st, 7);
        /* Step to the end so a DELETE completes. */
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        }
        rv = rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "state read");
        if (rv == LTI_OK && out->expires <= now) {
            rv = lti_err_set(err, LTI_ERR_EXPIRED, "state_expired",
                             "the login state expired (%" PRId64 " s old): launch again",
                             now - out->created);
        }
    }
    else if (rc == SQLITE_DONE) {
        rv = lti_err_set(err, LTI_ERR_NOT_FOUND, "state_unknown",
                         "unknown or already used login state");
    }
    else {
        rv = db_err(q, err, "state read");
    }
    done(st);
    return rv;
}

static lti_status_t sq_state_take(lti_store_t *s, apr_pool_t *p, const char *state,
                                  int64_t now, lti_login_state_t *out, lti_err_t *err)
{
    sq_t *q = s->impl;
    lti_status_t rv;

    LOCK(q);
    rv = state_read_locked(q, ST_STATE_TAKE, p, state, now, out, err);
    UNLOCK(q);
    return rv;
}

/* With pf, one snapshot (and one turn of the connection) for what a launch reads first. */
static lti_status_t sq_state_get(lti_store_t *s, apr_pool_t *p, const char *state,
                                 int64_t now, lti_login_state_t *out, lti_platform_t *pf,
                                 lti_err_t *err)
{
    sq_t *q = s->impl;
    lti_status_t rv;
    int begun;

    LOCK(q);
    begun = pf != NULL && read_begin(q);
    rv = state_read_locked(q, ST_STATE_GET, p, state, now, out, err);
    if (rv == LTI_OK && pf != NULL) {
        memset(pf, 0, sizeof(*pf));
        rv = platform_by_id_locked(q, p, out->platform_id, pf, err);
        if (rv == LTI_ERR_NOT_FOUND) {
            memset(pf, 0, sizeof(*pf));
            lti_err_clear(err);
            rv = LTI_OK;
        }
    }
    read_end(q, begun);
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_jwks_get(lti_store_t *s, apr_pool_t *p, int64_t platform_id,
                                lti_jwks_cache_t *out, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int rc;

    memset(out, 0, sizeof(*out));
    LOCK(q);
    if ((st = stmt(q, ST_JWKS_GET, err)) != NULL) {
        sqlite3_bind_int64(st, 1, platform_id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            out->jwks = col_text(p, st, 0);
            out->fetched = sqlite3_column_int64(st, 1);
            out->expires = sqlite3_column_int64(st, 2);
            out->last_refetch = sqlite3_column_int64(st, 3);
        }
        rv = rc == SQLITE_ROW || rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "jwks get");
        done(st);
    }
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_jwks_put(lti_store_t *s, int64_t platform_id, const char *jwks,
                                int64_t now, int64_t expires, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;

    LOCK(q);
    if ((st = stmt(q, ST_JWKS_PUT, err)) != NULL) {
        sqlite3_bind_int64(st, 1, platform_id);
        bind_text(st, 2, jwks);
        sqlite3_bind_int64(st, 3, now);
        sqlite3_bind_int64(st, 4, expires);
        rv = exec_stmt(q, st, NULL, err);
    }
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_jwks_refetch_claim(lti_store_t *s, int64_t platform_id, int64_t now,
                                          int64_t interval, int *allowed, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int changes = 0;

    LOCK(q);
    if ((st = stmt(q, ST_JWKS_CLAIM, err)) != NULL) {
        sqlite3_bind_int64(st, 1, platform_id);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_int64(st, 3, interval);
        rv = exec_stmt(q, st, &changes, err);
    }
    UNLOCK(q);
    *allowed = rv == LTI_OK && changes == 1;
    return rv;
}

static lti_status_t sq_setting_get(lti_store_t *s, apr_pool_t *p, const char *name,
                                   const char **value, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int rc;

    LOCK(q);
    if ((st = stmt(q, ST_SETTING_GET, err)) != NULL) {
        bind_text(st, 1, name);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *value = col_text(p, st, 0);
            rv = LTI_OK;
        }
        else if (rc == SQLITE_DONE) {
            rv = lti_err_set(err, LTI_ERR_NOT_FOUND, "setting_unset", "%s is not set", name);
        }
        else {
            rv = db_err(q, err, "setting get");
        }
        done(st);
    }
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_setting_add(lti_store_t *s, const char *name, const char *value,
                                   int64_t now, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int changes = 0;

    LOCK(q);
    if ((st = stmt(q, ST_SETTING_ADD, err)) != NULL) {
        bind_text(st, 1, name);
        bind_text(st, 2, value);
        sqlite3_bind_int64(st, 3, now);
        rv = exec_stmt(q, st, &changes, err);
    }
    UNLOCK(q);
    if (rv == LTI_OK && changes == 0) {
        rv = lti_err_set(err, LTI_ERR_EXISTS, "setting_exists", "%s is already set", name);
    }
    return rv;
}

/* ---- progress, course results, outbox ---- */

/* Grade-writing transactions commit with synchronous=FULL (SPEC.md: grades are never
 * lost); the connection goes back to NORMAL afterwards. */
static lti_status_t begin_full(sq_t *q, lti_err_t *err)
{
    if (sqlite3_exec(q->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK) {
        return db_err(q, err, "synchronous");
    }
    return begin(q, err);
}

static lti_status_t commit_full(sq_t *q, lti_status_t rv, lti_err_t *err)
{
    if (rv == LTI_OK) {
        rv = commit(q, err);
    }
    else {
        rollback(q);
    }
    sqlite3_exec(q->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    return rv;
}

static void bind_score(sqlite3_stmt *st, int i, const lti_progress_t *r)
{
    if (r->has_score) {
        sqlite3_bind_double(st, i, r->score);
    }
    else {
        sqlite3_bind_null(st, i);
    }
}

/* Binds ?1..?9 of ST_PROGRESS_UPSERT / ST_KEPT_UPSERT (?1 is bound by the caller). */
static void bind_fact(sqlite3_stmt *st, const lti_progress_t *r, int64_t now)
{
    bind_text(st, 2, r->course_id);
    bind_text(st, 3, r->module_id ? r->module_id : "");
    bind_text(st, 4, r->status);
    bind_score(st, 5, r);
    sqlite3_bind_int64(st, 6, r->at);
    bind_text(st, 7, r->source ? r->source : "csv");
    bind_text(st, 8, r->evidence);
    sqlite3_bind_int64(st, 9, now);
}

/* The kind of grade return of a link: "lti11" (Basic Outcomes) for an LTI 1.1 link with a
 * grade target, "ags" for an LTI 1.3 link whose launch carried the AGS claim, "lti11" for
 * one with only the basic outcome claim's grade target, NULL for none. */
static const char *link_kind(const char *tenant, const char *sourcedid, const char *url,
                             const char *claims)
{
    if (tenant != NULL && strncmp(tenant, "lti11:", 6) == 0) {
        return sourcedid != NULL && url != NULL ? "lti11" : NULL;
    }
    /* The launch keeps the AGS claim as "ags", its first key; a claim under its full name is
     * also read (links stored before that). */
    if (tenant != NULL && strncmp(tenant, "lti13:", 6) == 0 && claims != NULL
        && (strncmp(claims, "{\"ags\":{", 8) == 0
            || strstr(claims, "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint") != NULL)) {
        return "ags";
    }
    /* SPEC.md: basic outcomes (Bearer) only when no AGS claim came: an LTI 1.3 link whose
     * launch carried the basic outcome claim is an "lti11" (POX) row; lti_outbox sends it
     * with an access token instead of an OAuth 1 signature. */
    if (tenant != NULL && strncmp(tenant, "lti13:", 6) == 0) {
        return sourcedid != NULL && url != NULL ? "lti11" : NULL;
    }
    return NULL;
}

typedef struct fan_link_t {
    int64_t link_pk;
    const char *kind;
} fan_link_t;

/* Queues res to the links of course where person has a grade target (only link_pk when it
 * is not 0), except where the link's last queued value is the same.  Lock held, in a
 * transaction. */
static lti_status_t fanout_locked(sq_t *q, apr_pool_t *p, int64_t person, const char *course,
                                  const lti_result_t *res, int64_t link_pk, int64_t now,
                                  lti_progress_stats_t *stats, lti_err_t *err)
{
    apr_array_header_t *links = apr_array_make(p, 4, sizeof(fan_link_t));
    sqlite3_stmt *st;
    lti_status_t rv;
    int rc;

    if ((st = stmt(q, ST_FANOUT_LINKS, err)) == NULL) {
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(st, 1, person);
    bind_text(st, 2, course);
    sqlite3_bind_int64(st, 3, link_pk);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *kind = link_kind((const char *)sqlite3_column_text(st, 1),
                                     (const char *)sqlite3_column_text(st, 2),
                                     (const char *)sqlite3_column_text(st, 3),
                                     (const char *)sqlite3_column_text(st, 4));

        if (kind != NULL) {
            fan_link_t *l = apr_array_push(links);

            l->link_pk = sqlite3_column_int64(st, 0);
            l->kind = kind;
        }
    }
    done(st);
    if (rc != SQLITE_DONE) {
        return db_err(q, err, "fan-out links");
    }
    for (int i = 0; i < links->nelts; i++) {
        const fan_link_t *l = &APR_ARRAY_IDX(links, i, fan_link_t);
        int same = 0;

        if ((st = stmt(q, ST_OUTBOX_LAST, err)) == NULL) {
            return LTI_ERR_STORE;
        }
        sqlite3_bind_int64(st, 1, person);
        sqlite3_bind_int64(st, 2, l->link_pk);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            same = strcmp((const char *)sqlite3_column_text(st, 0), res->status) == 0
                   && sqlite3_column_double(st, 1) == res->score;
        }
        done(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            return db_err(q, err, "outbox last");
        }
        if (same) {
            continue;
        }
        if ((st = stmt(q, ST_OUTBOX_QUEUE, err)) == NULL) {
            return LTI_ERR_STORE;
        }
        sqlite3_bind_int64(st, 1, person);
        sqlite3_bind_int64(st, 2, l->link_pk);
        bind_text(st, 3, l->kind);
        bind_text(st, 4, course);
        bind_text(st, 5, res->status);
        sqlite3_bind_double(st, 6, res->score);
        sqlite3_bind_int64(st, 7, res->at);
        sqlite3_bind_int64(st, 8, now);
        if ((rv = exec_stmt(q, st, NULL, err)) != LTI_OK) {
            return rv;
        }
        if ((st = stmt(q, ST_LINK_RETURN_PUT, err)) == NULL) {
            return LTI_ERR_STORE;
        }
        sqlite3_bind_int64(st, 1, person);
        sqlite3_bind_int64(st, 2, l->link_pk);
        bind_text(st, 3, res->status);
        sqlite3_bind_double(st, 4, res->score);
        sqlite3_bind_int64(st, 5, now);
        if ((rv = exec_stmt(q, st, NULL, err)) != LTI_OK) {
            return rv;
        }
        stats->queued++;
    }
    return LTI_OK;
}

/* The stored result of person in course (status NULL when none).  Lock held. */
static lti_status_t result_locked(sq_t *q, apr_pool_t *p, int64_t person, const char *course,
                                  lti_result_t *out, lti_err_t *err)
{
    sqlite3_stmt *st = stmt(q, ST_RESULT_GET, err);
    int rc;

    memset(out, 0, sizeof(*out));
    if (st == NULL) {
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(st, 1, person);
    bind_text(st, 2, course);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->status = col_text(p, st, 0);
        out->score = sqlite3_column_double(st, 1);
        out->at = sqlite3_column_int64(st, 2);
    }
    done(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "result get");
}

/* Awards the course's badge to person, once (SPEC.md "Evidence": passed from any source
 * awards it): the evidence is the IBM badge assertion whose whole-course fact passed the
 * course, if one did.  Lock held, in the transaction that stores the result. */
static lti_status_t award_locked(sq_t *q, apr_pool_t *p, int64_t person, const char *course,
                                 const lti_result_t *res, const apr_array_header_t *rows,
                                 int64_t now, lti_err_t *err)
{
    const char *id = lti_random_hex(p, 16), *evidence = NULL;
    sqlite3_stmt *st;

    if (id == NULL) {
        return lti_err_set(err, LTI_ERR_CRYPTO, "badge_random", "no random badge id");
    }
    for (int i = 0; i < rows->nelts; i++) {
        const lti_progress_t *r = &APR_ARRAY_IDX(rows, i, lti_progress_t);

        if (r->module_id != NULL && *r->module_id == '\0' && r->source != NULL
            && strcmp(r->source, "ibm-badge") == 0 && strcmp(r->status, "passed") == 0) {
            evidence = r->evidence;
        }
    }
    if ((st = stmt(q, ST_BADGE_AWARD, err)) == NULL) {
        return LTI_ERR_STORE;
    }
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, person);
    bind_text(st, 3, course);
    sqlite3_bind_double(st, 4, res->score);
    bind_text(st, 5, evidence);
    sqlite3_bind_int64(st, 6, now);
    return exec_stmt(q, st, NULL, err);
}

/* The progress facts of person in course into *out.  Lock held. */
static lti_status_t progress_of_locked(sq_t *q, apr_pool_t *p, int64_t person,
                                       const char *course, apr_array_header_t *out,
                                       lti_err_t *err)
{
    sqlite3_stmt *st = stmt(q, ST_PROGRESS_OF, err);
    int rc;

    if (st == NULL) {
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(st, 1, person);
    bind_text(st, 2, course);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lti_progress_t *r = apr_array_push(out);

        memset(r, 0, sizeof(*r));
        r->person_id = person;
        r->course_id = apr_pstrdup(p, course);
        r->module_id = col_text(p, st, 0);
        r->status = col_text(p, st, 1);
        r->has_score = sqlite3_column_type(st, 2) != SQLITE_NULL;
        r->score = sqlite3_column_double(st, 2);
        r->at = sqlite3_column_int64(st, 3);
        r->source = col_text(p, st, 4);
        r->evidence = col_text(p, st, 5);
    }
    done(st);
    return rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "progress of");
}

/* Recomputes the result of person in course with fn; a changed result is stored and fanned
 * out to every link of the course (to link_pk only, also when unchanged, when link_pk is
 * not 0).  Lock held, in a transaction. */
static lti_status_t recompute_locked(sq_t *q, apr_pool_t *p, int64_t person, const char *course,
                                     int64_t link_pk, int64_t now, lti_result_fn *fn,
                                     void *baton, lti_progress_stats_t *stats, lti_err_t *err)
{
    apr_array_header_t *rows = apr_array_make(p, 8, sizeof(lti_progress_t));
    lti_result_t res, old;
    sqlite3_stmt *st;
    lti_status_t rv;
    lti_err_t ferr;
    int changed;

    if ((rv = progress_of_locked(q, p, person, course, rows, err)) != LTI_OK) {
        return rv;
    }
    if (fn(baton, p, course, rows, &res, &ferr) != LTI_OK || res.status == NULL) {
        return LTI_OK;      /* a course no longer in the catalog: the facts stay */
    }
    if ((rv = result_locked(q, p, person, course, &old, err)) != LTI_OK) {
        return rv;
    }
    changed = old.status == NULL || strcmp(old.status, res.status) != 0 || old.score != res.score;
    if (changed) {
        if ((st = stmt(q, ST_RESULT_PUT, err)) == NULL) {
            return LTI_ERR_STORE;
        }
        sqlite3_bind_int64(st, 1, person);
        bind_text(st, 2, course);
        bind_text(st, 3, res.status);
        sqlite3_bind_double(st, 4, res.score);
        sqlite3_bind_int64(st, 5, res.at);
        sqlite3_bind_int64(st, 6, now);
        if ((rv = exec_stmt(q, st, NULL, err)) != LTI_OK) {
            return rv;
        }
        stats->results++;
        if (strcmp(res.status, "passed") == 0
            && (rv = award_locked(q, p, person, course, &res, rows, now, err)) != LTI_OK) {
            return rv;
        }
    }
    if (changed || link_pk != 0) {
        return fanout_locked(q, p, person, course, &res, changed ? 0 : link_pk, now, stats,
                             err);
    }
    return LTI_OK;
}

/* Stores r for person; *changed says whether it was newer.  Lock held. */
static lti_status_t fact_locked(sq_t *q, const lti_progress_t *r, int64_t person, int64_t now,
                                int *changed, lti_err_t *err)
{
    sqlite3_stmt *st = stmt(q, ST_PROGRESS_UPSERT, err);

    if (st == NULL) {
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(st, 1, person);
    bind_fact(st, r, now);
    return exec_stmt(q, st, changed, err);
}

/* Marks (person, course) for recomputing. */
static void mark(apr_pool_t *p, apr_hash_t *dirty, int64_t person, const char *course)
{
    const char *key = apr_psprintf(p, "%" APR_INT64_T_FMT " %s", (apr_int64_t)person, course);

    apr_hash_set(dirty, key, APR_HASH_KEY_STRING, key);
}

static lti_status_t recompute_marked(sq_t *q, apr_pool_t *p, apr_hash_t *dirty, int64_t now,
                                     lti_result_fn *fn, void *baton,
                                     lti_progress_stats_t *stats, lti_err_t *err)
{
    for (apr_hash_index_t *hi = apr_hash_first(p, dirty); hi; hi = apr_hash_next(hi)) {
        const char *key = apr_hash_this_key(hi), *sp = strchr(key, ' ');
        int64_t person = 0;
        lti_status_t rv;

        lti_parse_int64(apr_pstrndup(p, key, sp - key), &person);
        rv = recompute_locked(q, p, person, sp + 1, 0, now, fn, baton, stats, err);
        if (rv != LTI_OK) {
            return rv;
        }
    }
    return LTI_OK;
}

static lti_status_t record_locked(sq_t *q, apr_pool_t *p, const apr_array_header_t *rows,
                                  int64_t now, lti_result_fn *fn, void *baton,
                                  lti_progress_stats_t *stats, lti_err_t *err)
{
    apr_hash_t *dirty = apr_hash_make(p);
    apr_array_header_t *persons = apr_array_make(p, 2, sizeof(int64_t));
    sqlite3_stmt *st;
    lti_status_t rv;
    int rc, changes;

    for (int i = 0; i < rows->nelts; i++) {
        const lti_progress_t *r = &APR_ARRAY_IDX(rows, i, lti_progress_t);

        apr_array_clear(persons);
        if (r->person_id != 0) {
            APR_ARRAY_PUSH(persons, int64_t) = r->person_id;
        }
        else {
            if ((st = stmt(q, ST_PERSONS_MATCH, err)) == NULL) {
                return LTI_ERR_STORE;
            }
            bind_text(st, 1, r->user);
            while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                APR_ARRAY_PUSH(persons, int64_t) = sqlite3_column_int64(st, 0);
            }
            done(st);
            if (rc != SQLITE_DONE) {
                return db_err(q, err, "persons match");
            }
        }
        if (persons->nelts == 0) {
            /* Nobody yet: kept for the learner's first launch. */
            if ((st = stmt(q, ST_KEPT_UPSERT, err)) == NULL) {
                return LTI_ERR_STORE;
            }
            bind_text(st, 1, r->user);
            bind_fact(st, r, now);
            changes = 0;
            if ((rv = exec_stmt(q, st, &changes, err)) != LTI_OK) {
                return rv;
            }
            if (changes) {
                stats->kept++;
            }
            else {
                stats->unchanged++;
            }
            continue;
        }
        for (int k = 0; k < persons->nelts; k++) {
            int64_t person = APR_ARRAY_IDX(persons, k, int64_t);

            changes = 0;
            if ((rv = fact_locked(q, r, person, now, &changes, err)) != LTI_OK) {
                return rv;
            }
            if (changes) {
                stats->applied++;
                mark(p, dirty, person, r->course_id);
            }
            else {
                stats->unchanged++;
            }
        }
    }
    return recompute_marked(q, p, dirty, now, fn, baton, stats, err);
}

static lti_status_t sq_progress_record(lti_store_t *s, apr_pool_t *p,
                                       const apr_array_header_t *rows, int64_t now,
                                       lti_result_fn *fn, void *baton,
                                       lti_progress_stats_t *stats, lti_err_t *err)
{
    sq_t *q = s->impl;
    apr_pool_t *tmp;
    lti_status_t rv;

    apr_pool_create(&tmp, p);
    LOCK(q);
    rv = begin_full(q, err);
    if (rv == LTI_OK) {
        rv = commit_full(q, record_locked(q, tmp, rows, now, fn, baton, stats, err), err);
    }
    UNLOCK(q);
    apr_pool_destroy(tmp);
    if (rv != LTI_OK) {
        memset(stats, 0, sizeof(*stats));
    }
    return rv;
}

/* The kept facts naming person (lti_progress_t with user set).  Lock held. */
static lti_status_t kept_locked(sq_t *q, apr_pool_t *p, int64_t person,
                                apr_array_header_t **out, lti_err_t *err)
{
    sqlite3_stmt *st = stmt(q, ST_KEPT_FOR, err);
    int rc;

    *out = apr_array_make(p, 4, sizeof(lti_progress_t));
    if (st == NULL) {
        return LTI_ERR_STORE;
    }
    /* Kept rows are rare (a CSV naming learners before their first launch): when there are
     * none, one page read answers, not the person lookups the full query plans first. */
    {
        sqlite3_stmt *any = stmt(q, ST_KEPT_ANY, err);

        if (any == NULL) {
            return LTI_ERR_STORE;
        }
        rc = sqlite3_step(any);
        done(any);
        if (rc == SQLITE_DONE) {
            return LTI_OK;
        }
        if (rc != SQLITE_ROW) {
            return db_err(q, err, "kept progress");
        }
    }
    sqlite3_bind_int64(st, 1, person);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lti_progress_t *r = apr_array_push(*out);

        memset(r, 0, sizeof(*r));
        r->user = col_text(p, st, 0);
        r->course_id = col_text(p, st, 1);
        r->module_id = col_text(p, st, 2);
        r->status = col_text(p, st, 3);
        r->has_score = sqlite3_column_type(st, 4) != SQLITE_NULL;
        r->score = sqlite3_column_double(st, 4);
        r->at = sqlite3_column_int64(st, 5);
        r->source = col_text(p, st, 6);
        r->evidence = col_text(p, st, 7);
        r->person_id = person;
    }
    done(st);
    return rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "kept progress");
}

/* The course of a link (NULL when none).  Lock held. */
static lti_status_t link_course_locked(sq_t *q, apr_pool_t *p, int64_t link_pk,
                                       const char **course, lti_err_t *err)
{
    sqlite3_stmt *st = stmt(q, ST_LINK_COURSE, err);
    int rc;

    *course = NULL;
    if (st == NULL) {
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(st, 1, link_pk);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *course = col_text(p, st, 0);
    }
    done(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "link course");
}

/* Whether link_pk lacks person's current result of course.  Lock held. */
static lti_status_t link_behind_locked(sq_t *q, apr_pool_t *p, int64_t person,
                                       const char *course, int64_t link_pk, int *behind,
                                       lti_err_t *err)
{
    lti_result_t res;
    lti_status_t rv;

    *behind = 0;
    if ((rv = result_locked(q, p, person, course, &res, err)) != LTI_OK || res.status == NULL) {
        return rv;
    }
    /* A dry run of the fan-out in a savepoint would cost a write lock; compare instead. */
    {
        sqlite3_stmt *st = stmt(q, ST_FANOUT_LINKS, err);
        const char *kind = NULL;
        int rc;

        if (st == NULL) {
            return LTI_ERR_STORE;
        }
        sqlite3_bind_int64(st, 1, person);
        bind_text(st, 2, course);
        sqlite3_bind_int64(st, 3, link_pk);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            kind = link_kind((const char *)sqlite3_column_text(st, 1),
                             (const char *)sqlite3_column_text(st, 2),
                             (const char *)sqlite3_column_text(st, 3),
                             (const char *)sqlite3_column_text(st, 4));
        }
        done(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            return db_err(q, err, "fan-out links");
        }
        if (kind == NULL) {
            return LTI_OK;
        }
        if ((st = stmt(q, ST_OUTBOX_LAST, err)) == NULL) {
            return LTI_ERR_STORE;
        }
        sqlite3_bind_int64(st, 1, person);
        sqlite3_bind_int64(st, 2, link_pk);
        rc = sqlite3_step(st);
        *behind = rc == SQLITE_DONE
                  || (rc == SQLITE_ROW
                      && (strcmp((const char *)sqlite3_column_text(st, 0), res.status) != 0
                          || sqlite3_column_double(st, 1) != res.score));
        done(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            return db_err(q, err, "outbox last");
        }
    }
    return LTI_OK;
}

static lti_status_t on_launch_locked(sq_t *q, apr_pool_t *p, int64_t person, int64_t link_pk,
                                     const char *course, const apr_array_header_t *kept,
                                     int64_t now, lti_result_fn *fn, void *baton,
                                     lti_progress_stats_t *stats, lti_err_t *err)
{
    apr_hash_t *dirty = apr_hash_make(p);
    sqlite3_stmt *st;
    lti_status_t rv;

    for (int i = 0; i < kept->nelts; i++) {
        const lti_progress_t *r = &APR_ARRAY_IDX(kept, i, lti_progress_t);
        int changes = 0;

        if ((rv = fact_locked(q, r, person, now, &changes, err)) != LTI_OK) {
            return rv;
        }
        if (changes) {
            stats->applied++;
            mark(p, dirty, person, r->course_id);
        }
        else {
            stats->unchanged++;
        }
        if ((st = stmt(q, ST_KEPT_DELETE, err)) == NULL) {
            return LTI_ERR_STORE;
        }
        bind_text(st, 1, r->user);
        bind_text(st, 2, r->course_id);
        bind_text(st, 3, r->module_id);
        if ((rv = exec_stmt(q, st, NULL, err)) != LTI_OK) {
            return rv;
        }
    }
    if ((rv = recompute_marked(q, p, dirty, now, fn, baton, stats, err)) != LTI_OK) {
        return rv;
    }
    if (course != NULL) {
        lti_result_t res;

        if ((rv = result_locked(q, p, person, course, &res, err)) != LTI_OK) {
            return rv;
        }
        if (res.status != NULL) {
            return fanout_locked(q, p, person, course, &res, link_pk, now, stats, err);
        }
    }
    return LTI_OK;
}

/* Whether a launch of link_pk by person has progress work (lti_store_progress_on_launch):
 * kept rows for the person, or a course result the link has not been sent.  *kept and
 * *course are what it read.  Lock held, in a snapshot or a transaction. */
static lti_status_t progress_due_locked(sq_t *q, apr_pool_t *p, int64_t person_id,
                                        int64_t link_pk, apr_array_header_t **kept,
                                        const char **course, int *due, lti_err_t *err)
{
    lti_status_t rv = kept_locked(q, p, person_id, kept, err);
    int behind = 0;

    *course = NULL;
    if (rv == LTI_OK) {
        rv = link_course_locked(q, p, link_pk, course, err);
    }
    if (rv == LTI_OK && *course != NULL && (*kept)->nelts == 0) {
        rv = link_behind_locked(q, p, person_id, *course, link_pk, &behind, err);
    }
    *due = rv == LTI_OK && ((*kept)->nelts > 0 || behind);
    return rv;
}

static lti_status_t sq_progress_on_launch(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                          int64_t link_pk, int64_t now, lti_result_fn *fn,
                                          void *baton, lti_progress_stats_t *stats,
                                          lti_err_t *err)
{
    sq_t *q = s->impl;
    apr_pool_t *tmp;
    apr_array_header_t *kept;
    const char *course = NULL;
    lti_status_t rv;
    int due = 0, begun;

    apr_pool_create(&tmp, p);
    LOCK(q);
    /* Reads first, in one snapshot: most launches have nothing to apply and nothing to
     * send. */
    begun = read_begin(q);
    rv = progress_due_locked(q, tmp, person_id, link_pk, &kept, &course, &due, err);
    read_end(q, begun);
    if (rv == LTI_OK && due) {
        rv = begin_full(q, err);
        if (rv == LTI_OK) {
            /* Read again inside the transaction: another process may have been first. */
            rv = kept_locked(q, tmp, person_id, &kept, err);
            if (rv == LTI_OK) {
                rv = on_launch_locked(q, tmp, person_id, link_pk, course, kept, now, fn, baton,
                                      stats, err);
            }
            rv = commit_full(q, rv, err);
        }
    }
    UNLOCK(q);
    apr_pool_destroy(tmp);
    return rv;
}

static lti_status_t sq_result_get(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                  const char *course_id, lti_result_t *out, lti_err_t *err)
{
    sq_t *q = s->impl;
    lti_status_t rv;

    LOCK(q);
    rv = result_locked(q, p, person_id, course_id, out, err);
    UNLOCK(q);
    if (rv == LTI_OK && out->status == NULL) {
        rv = lti_err_set(err, LTI_ERR_NOT_FOUND, "result_none", "no result yet");
    }
    return rv;
}

static lti_status_t sq_outbox_claim_drainer(lti_store_t *s, const char *owner, int64_t now,
                                            int64_t ttl, int *granted, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int changes = 0;

    LOCK(q);
    if ((st = stmt(q, ST_DRAINER_CLAIM, err)) != NULL) {
        bind_text(st, 1, owner);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_int64(st, 3, ttl);
        rv = exec_stmt(q, st, &changes, err);
    }
    UNLOCK(q);
    *granted = rv == LTI_OK && changes > 0;
    return rv;
}

/* Reads the columns of OUTCOLS (and the consumer when with_consumer) into it. */
static void outbox_cols(apr_pool_t *p, sqlite3_stmt *st, lti_outbox_item_t *it,
                        int with_consumer)
{
    memset(it, 0, sizeof(*it));
    it->id = sqlite3_column_int64(st, 0);
    it->version = sqlite3_column_int64(st, 1);
    it->person_id = sqlite3_column_int64(st, 2);
    it->link_pk = sqlite3_column_int64(st, 3);
    it->kind = col_text(p, st, 4);
    it->course_id = col_text(p, st, 5);
    it->result_status = col_text(p, st, 6);
    it->score = sqlite3_column_double(st, 7);
    it->result_at = sqlite3_column_int64(st, 8);
    it->state = col_text(p, st, 9);
    it->attempts = sqlite3_column_int(st, 10);
    it->next_attempt = sqlite3_column_int64(st, 11);
    it->queued = sqlite3_column_int64(st, 12);
    it->updated = sqlite3_column_int64(st, 13);
    it->sent_at = sqlite3_column_int64(st, 14);
    it->reason = col_text(p, st, 15);
    it->user_id = col_text(p, st, 16);
    it->email = col_text(p, st, 17);
    it->full_name = col_text(p, st, 18);
    it->link_title = col_text(p, st, 19);
    it->tenant = col_text(p, st, 20);
    it->sourcedid = col_text(p, st, 21);
    it->outcome_url = col_text(p, st, 22);
    it->link_claims = col_text(p, st, 23);
    if (with_consumer) {
        it->consumer_key = col_text(p, st, 24);
        it->consumer_secret = col_text(p, st, 25);
        it->badge_id = col_text(p, st, 26);
    }
}

static lti_status_t sq_outbox_lease(lti_store_t *s, apr_pool_t *p, const char *owner,
                                    int64_t now, int64_t ttl, int limit,
                                    apr_array_header_t **out, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv;
    int rc, changes = 0;

    *out = apr_array_make(p, limit > 0 ? limit : 1, sizeof(lti_outbox_item_t));
    LOCK(q);
    rv = begin(q, err);
    if (rv != LTI_OK) {
        goto out;
    }
    if ((st = stmt(q, ST_OUTBOX_LEASE, err)) == NULL) {
        rv = LTI_ERR_STORE;
        rollback(q);
        goto out;
    }
    bind_text(st, 1, owner);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, ttl);
    sqlite3_bind_int(st, 4, limit);
    if ((rv = exec_stmt(q, st, &changes, err)) != LTI_OK || changes == 0) {
        rollback(q);
        goto out;
    }
    if ((st = stmt(q, ST_OUTBOX_LEASED, err)) == NULL) {
        rv = LTI_ERR_STORE;
        rollback(q);
        goto out;
    }
    bind_text(st, 1, owner);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, ttl);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        outbox_cols(p, st, apr_array_push(*out), 1);
    }
    done(st);
    if (rc != SQLITE_DONE) {
        rv = db_err(q, err, "outbox leased");
        rollback(q);
        goto out;
    }
    rv = commit(q, err);
out:
    UNLOCK(q);
    if (rv != LTI_OK) {
        apr_array_clear(*out);
    }
    return rv;
}

/* One attempt's end (the caller holds the lock). */
static lti_status_t outbox_finish_one(sq_t *q, const lti_outbox_item_t *it, const char *owner,
                                      lti_outbox_end_t end, int64_t next_attempt,
                                      const char *reason, int64_t now, int *applied,
                                      lti_err_t *err)
{
    static const int ids[] = {ST_OUTBOX_SENT, ST_OUTBOX_RETRY_AT, ST_OUTBOX_FAILED};
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int changes = 0;

    if ((st = stmt(q, ids[end], err)) != NULL) {
        sqlite3_bind_int64(st, 1, it->id);
        sqlite3_bind_int64(st, 2, it->version);
        bind_text(st, 3, owner);
        sqlite3_bind_int64(st, 4, now);
        if (end != LTI_OUTBOX_SENT) {
            sqlite3_bind_int64(st, 5, next_attempt);
            bind_text(st, 6, reason);
        }
        rv = exec_stmt(q, st, &changes, err);
    }
    if (rv == LTI_OK && changes == 0) {
        /* The value changed since the lease: release it, the new value goes next. */
        if ((st = stmt(q, ST_OUTBOX_RELEASE, err)) == NULL) {
            rv = LTI_ERR_STORE;
        }
        else {
            sqlite3_bind_int64(st, 1, it->id);
            bind_text(st, 2, owner);
            rv = exec_stmt(q, st, NULL, err);
        }
    }
    *applied = changes > 0;
    return rv;
}

static lti_status_t sq_outbox_finish(lti_store_t *s, const lti_outbox_item_t *it,
                                     const char *owner, lti_outbox_end_t end,
                                     int64_t next_attempt, const char *reason, int64_t now,
                                     int *applied, lti_err_t *err)
{
    sq_t *q = s->impl;
    lti_status_t rv;

    LOCK(q);
    rv = outbox_finish_one(q, it, owner, end, next_attempt, reason, now, applied, err);
    UNLOCK(q);
    return rv;
}

/* All or nothing: on an error nothing is recorded and the leases expire (the rows come
 * back, a sent one is sent again: replaceResult and AGS scores are idempotent). */
static lti_status_t sq_outbox_finish_many(lti_store_t *s, lti_outbox_done_t *done, int n,
                                          const char *owner, lti_err_t *err)
{
    sq_t *q = s->impl;
    lti_status_t rv;

    LOCK(q);
    rv = begin(q, err);
    for (int i = 0; i < n && rv == LTI_OK; i++) {
        rv = outbox_finish_one(q, done[i].item, owner, done[i].end, done[i].next_attempt,
                               done[i].reason, done[i].now, &done[i].applied, err);
    }
    if (rv == LTI_OK) {
        rv = commit(q, err);
    }
    else {
        rollback(q);
    }
    UNLOCK(q);
    if (rv != LTI_OK) {
        for (int i = 0; i < n; i++) {
            done[i].applied = 0;
        }
    }
    return rv;
}

static lti_status_t sq_outbox_list(lti_store_t *s, apr_pool_t *p, const char *state,
                                   int64_t link_pk, apr_array_header_t **out, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int rc;

    *out = apr_array_make(p, 16, sizeof(lti_outbox_item_t));
    LOCK(q);
    if ((st = stmt(q, ST_OUTBOX_LIST, err)) != NULL) {
        bind_text(st, 1, state);
        sqlite3_bind_int64(st, 2, link_pk);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            outbox_cols(p, st, apr_array_push(*out), 0);
        }
        rv = rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "outbox list");
        done(st);
    }
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_outbox_retry(lti_store_t *s, int64_t id, int64_t now, int *count,
                                    lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int n = 0;

    LOCK(q);
    if ((st = stmt(q, ST_OUTBOX_RETRY, err)) != NULL) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, now);
        rv = exec_stmt(q, st, &n, err);
    }
    UNLOCK(q);
    if (count != NULL) {
        *count = n;
    }
    if (rv == LTI_OK && id != 0 && n == 0) {
        rv = lti_err_set(err, LTI_ERR_NOT_FOUND, "outbox_unknown",
                         "no grade return %" APR_INT64_T_FMT " (or a newer "
                         "one of the same learner and link exists)", (apr_int64_t)id);
    }
    return rv;
}

static lti_status_t sq_outbox_depth(lti_store_t *s, int64_t *pending, int64_t *failed,
                                    lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;

    *pending = *failed = 0;
    LOCK(q);
    if ((st = stmt(q, ST_OUTBOX_DEPTH, err)) != NULL) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            *pending = sqlite3_column_int64(st, 0);
            *failed = sqlite3_column_int64(st, 1);
            rv = LTI_OK;
        }
        else {
            rv = db_err(q, err, "outbox depth");
        }
        done(st);
    }
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_outbox_purge(lti_store_t *s, int64_t sent_before, int *count,
                                    lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;

    LOCK(q);
    if ((st = stmt(q, ST_OUTBOX_PURGE, err)) != NULL) {
        sqlite3_bind_int64(st, 1, sent_before);
        rv = exec_stmt(q, st, count, err);
    }
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_ags_target(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                   int64_t link_pk, lti_ags_target_t *out,
                                   lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int rc;

    memset(out, 0, sizeof(*out));
    LOCK(q);
    if ((st = stmt(q, ST_AGS_TARGET, err)) != NULL) {
        sqlite3_bind_int64(st, 1, person_id);
        sqlite3_bind_int64(st, 2, link_pk);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            out->user_id = col_text(p, st, 0);
            out->last_ms = sqlite3_column_int64(st, 1);
            out->link_id = col_text(p, st, 2);
            rv = out->user_id != NULL ? LTI_OK
                                  : lti_err_set(err, LTI_ERR_NOT_FOUND, "ags_no_identity",
                                                "the person has no identity in the link's "
                                                "platform");
        }
        else if (rc == SQLITE_DONE) {
            rv = lti_err_set(err, LTI_ERR_NOT_FOUND, "link_not_found",
                             "resource link %" APR_INT64_T_FMT " is gone",
                             (apr_int64_t)link_pk);
        }
        else {
            rv = db_err(q, err, "ags target");
        }
        done(st);
    }
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_ags_stamp_put(lti_store_t *s, int64_t person_id, int64_t link_pk,
                                     int64_t ms, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;

    LOCK(q);
    if ((st = stmt(q, ST_AGS_STAMP_PUT, err)) != NULL) {
        sqlite3_bind_int64(st, 1, person_id);
        sqlite3_bind_int64(st, 2, link_pk);
        sqlite3_bind_int64(st, 3, ms);
        rv = exec_stmt(q, st, NULL, err);
    }
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_xapi_provider_add(lti_store_t *s, const char *name,
                                         const char *secret_hash, int64_t now, lti_err_t *err)
{
    int changes;
    lti_status_t rv = keyed_put(s->impl, ST_XAPI_PROVIDER_ADD, 0, name, secret_hash, now,
                                &changes, err);

    if (rv == LTI_OK && changes == 0) {
        rv = lti_err_set(err, LTI_ERR_EXISTS, "provider_exists",
                         "provider '%s' exists (remove it first to give it a new secret)",
                         name);
    }
    return rv;
}

static lti_status_t sq_xapi_provider_get(lti_store_t *s, apr_pool_t *p, const char *name,
                                         lti_xapi_provider_t *out, lti_err_t *err)
{
    int found;
    lti_status_t rv = keyed_get(s->impl, p, ST_XAPI_PROVIDER_GET, name, &out->secret_hash,
                                &out->created, &found, err);

    if (rv == LTI_OK && !found) {
        return lti_err_set(err, LTI_ERR_NOT_FOUND, "provider_unknown", "no provider '%s'",
                           name);
    }
    out->name = apr_pstrdup(p, name);
    return rv;
}

static void push_provider(apr_array_header_t *out, const char *name, int64_t created)
{
    lti_xapi_provider_t *e = apr_array_push(out);

    e->name = name;
    e->secret_hash = NULL;
    e->created = created;
}

static lti_status_t sq_xapi_provider_list(lti_store_t *s, apr_pool_t *p,
                                          apr_array_header_t **out, lti_err_t *err)
{
    *out = apr_array_make(p, 4, sizeof(lti_xapi_provider_t));
    return keyed_list(s->impl, p, ST_XAPI_PROVIDER_LIST, *out, push_provider, err);
}

static lti_status_t sq_xapi_provider_remove(lti_store_t *s, const char *name, lti_err_t *err)
{
    int changes;
    lti_status_t rv = keyed_remove(s->impl, ST_XAPI_PROVIDER_REMOVE, name, &changes, err);

    if (rv == LTI_OK && changes == 0) {
        rv = lti_err_set(err, LTI_ERR_NOT_FOUND, "provider_unknown", "no provider '%s'", name);
    }
    return rv;
}

/* The stored account name of person into *name (NULL when none).  Lock held. */
static lti_status_t actor_get_locked(sq_t *q, apr_pool_t *p, int64_t person,
                                     const char **name, lti_err_t *err)
{
    sqlite3_stmt *st = stmt(q, ST_XAPI_ACTOR_GET, err);
    int rc;

    *name = NULL;
    if (st == NULL) {
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(st, 1, person);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *name = col_text(p, st, 0);
    }
    done(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "xapi actor");
}

static lti_status_t sq_xapi_actor(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                  const char *candidate, int64_t now, const char **name,
                                  lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv;

    LOCK(q);
    /* Reads first: a page view writes only the first time. */
    rv = actor_get_locked(q, p, person_id, name, err);
    if (rv == LTI_OK && *name == NULL) {
        rv = begin(q, err);
        if (rv == LTI_OK && (st = stmt(q, ST_XAPI_ACTOR_PUT, err)) == NULL) {
            rv = LTI_ERR_STORE;
        }
        if (rv == LTI_OK) {
            sqlite3_bind_int64(st, 1, person_id);
            bind_text(st, 2, candidate);
            sqlite3_bind_int64(st, 3, now);
            rv = exec_stmt(q, st, NULL, err);
        }
        if (rv == LTI_OK) {
            rv = actor_get_locked(q, p, person_id, name, err);
        }
        if (rv == LTI_OK) {
            rv = commit(q, err);
        }
        else {
            rollback(q);
        }
        if (rv == LTI_OK && *name == NULL) {
            rv = lti_err_set(err, LTI_ERR_STORE, "store_error", "no xAPI account stored");
        }
    }
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_xapi_actor_find(lti_store_t *s, const char *name, const char *email,
                                       int64_t *person_id, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int rc;

    LOCK(q);
    if ((st = stmt(q, name ? ST_XAPI_ACTOR_BY_NAME : ST_XAPI_ACTOR_BY_EMAIL, err)) != NULL) {
        bind_text(st, 1, name ? name : email);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *person_id = sqlite3_column_int64(st, 0);
            rv = LTI_OK;
        }
        else if (rc == SQLITE_DONE) {
            rv = lti_err_set(err, LTI_ERR_NOT_FOUND, "xapi_actor_unknown",
                             "no learner with this xAPI actor");
        }
        else {
            rv = db_err(q, err, "xapi actor find");
        }
        done(st);
    }
    UNLOCK(q);
    return rv;
}

/* Reads a row of ST_BADGE_LIST / ST_BADGE_GET. */
static void badge_cols(apr_pool_t *p, sqlite3_stmt *st, lti_badge_award_t *b)
{
    memset(b, 0, sizeof(*b));
    b->id = col_text(p, st, 0);
    b->person_id = sqlite3_column_int64(st, 1);
    b->course_id = col_text(p, st, 2);
    b->email = col_text(p, st, 3);
    b->score = sqlite3_column_double(st, 4);
    b->evidence = col_text(p, st, 5);
    b->issued = sqlite3_column_int64(st, 6);
    b->revoked = sqlite3_column_int64(st, 7);
    b->revoke_reason = col_text(p, st, 8);
    b->user_id = col_text(p, st, 9);
    b->full_name = col_text(p, st, 10);
}

static lti_status_t sq_badge_list(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                  apr_array_header_t **out, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    int rc;

    *out = apr_array_make(p, 4, sizeof(lti_badge_award_t));
    LOCK(q);
    if ((st = stmt(q, ST_BADGE_LIST, err)) == NULL) {
        UNLOCK(q);
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(st, 1, person_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        badge_cols(p, st, apr_array_push(*out));
    }
    done(st);
    UNLOCK(q);
    return rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "badge list");
}

static lti_status_t sq_badge_get(lti_store_t *s, apr_pool_t *p, const char *id,
                                 lti_badge_award_t *out, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    int rc;

    LOCK(q);
    if ((st = stmt(q, ST_BADGE_GET, err)) == NULL) {
        UNLOCK(q);
        return LTI_ERR_STORE;
    }
    bind_text(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        badge_cols(p, st, out);
    }
    done(st);
    UNLOCK(q);
    if (rc == SQLITE_DONE) {
        return lti_err_set(err, LTI_ERR_NOT_FOUND, "badge_unknown", "no badge award %s", id);
    }
    return rc == SQLITE_ROW ? LTI_OK : db_err(q, err, "badge get");
}

static lti_status_t sq_badge_revoke(lti_store_t *s, const char *id, const char *reason,
                                    int64_t now, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    lti_badge_award_t b;
    int changes = 0;
    apr_pool_t *tmp;

    LOCK(q);
    if ((st = stmt(q, ST_BADGE_REVOKE, err)) != NULL) {
        bind_text(st, 1, id);
        bind_text(st, 2, reason);
        sqlite3_bind_int64(st, 3, now);
        rv = exec_stmt(q, st, &changes, err);
    }
    UNLOCK(q);
    if (rv != LTI_OK || changes > 0) {
        return rv;
    }
    /* Nothing changed: unknown, or revoked already. */
    apr_pool_create(&tmp, NULL);
    rv = sq_badge_get(s, tmp, id, &b, err);
    apr_pool_destroy(tmp);
    if (rv != LTI_OK) {
        return rv;
    }
    return lti_err_set(err, LTI_ERR_EXISTS, "badge_already_revoked",
                       "badge award %s is revoked already", id);
}

static lti_status_t sq_badge_claim_add(lti_store_t *s, const lti_badge_claim_t *c, int64_t now,
                                       int64_t *id, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    int rc;
    int64_t got = 0;

    LOCK(q);
    if ((st = stmt(q, ST_BADGE_CLAIM_ADD, err)) == NULL) {
        UNLOCK(q);
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(st, 1, c->person_id);
    sqlite3_bind_int64(st, 2, c->link_pk);
    bind_text(st, 3, c->course_id);
    bind_text(st, 4, c->url);
    bind_text(st, 5, c->claimed_email);
    sqlite3_bind_int64(st, 6, now);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        got = sqlite3_column_int64(st, 0);
    }
    done(st);
    UNLOCK(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return db_err(q, err, "badge claim add");
    }
    if (rc == SQLITE_DONE) {
        return lti_err_set(err, LTI_ERR_EXISTS, "badge_claim_pending",
                           "evidence for this course already waits for an instructor");
    }
    if (id) {
        *id = got;
    }
    return LTI_OK;
}

static lti_status_t sq_badge_claim_list(lti_store_t *s, apr_pool_t *p, int64_t link_pk,
                                        int64_t person_id, apr_array_header_t **out,
                                        lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    int rc;

    *out = apr_array_make(p, 4, sizeof(lti_badge_claim_t));
    LOCK(q);
    if ((st = stmt(q, ST_BADGE_CLAIM_LIST, err)) == NULL) {
        UNLOCK(q);
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(st, 1, link_pk);
    sqlite3_bind_int64(st, 2, person_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lti_badge_claim_t *c = apr_array_push(*out);

        c->id = sqlite3_column_int64(st, 0);
        c->person_id = sqlite3_column_int64(st, 1);
        c->link_pk = sqlite3_column_int64(st, 2);
        c->course_id = col_text(p, st, 3);
        c->url = col_text(p, st, 4);
        c->claimed_email = col_text(p, st, 5);
        c->state = col_text(p, st, 6);
        c->user_id = col_text(p, st, 7);
        c->full_name = col_text(p, st, 8);
        c->email = col_text(p, st, 9);
        c->created = sqlite3_column_int64(st, 10);
        c->decided = sqlite3_column_int64(st, 11);
    }
    done(st);
    UNLOCK(q);
    return rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "badge claim list");
}

/* Decides claim id in the open transaction; an approval records the passed fact. */
static lti_status_t claim_decide_locked(sq_t *q, apr_pool_t *p, int64_t id, int64_t link_pk,
                                        int approve, int64_t now, lti_result_fn *fn,
                                        void *baton, lti_progress_stats_t *stats,
                                        lti_err_t *err)
{
    apr_array_header_t *rows = apr_array_make(p, 1, sizeof(lti_progress_t));
    lti_progress_t *r;
    sqlite3_stmt *st = stmt(q, ST_BADGE_CLAIM_DECIDE, err);
    int rc;

    if (st == NULL) {
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, link_pk);
    bind_text(st, 3, approve ? "approved" : "rejected");
    sqlite3_bind_int64(st, 4, now);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        done(st);
        if (rc != SQLITE_DONE) {
            return db_err(q, err, "badge claim decide");
        }
        return lti_err_set(err, LTI_ERR_NOT_FOUND, "badge_claim_unknown",
                           "no evidence %" APR_INT64_T_FMT " waits for approval in this "
                           "course", (apr_int64_t)id);
    }
    r = apr_array_push(rows);
    memset(r, 0, sizeof(*r));
    r->person_id = sqlite3_column_int64(st, 0);
    r->course_id = col_text(p, st, 1);
    r->evidence = col_text(p, st, 2);
    done(st);
    if (!approve) {
        return LTI_OK;
    }
    r->module_id = "";
    r->status = "passed";
    r->at = now;
    r->source = "ibm-badge";
    return record_locked(q, p, rows, now, fn, baton, stats, err);
}

static lti_status_t sq_badge_claim_decide(lti_store_t *s, apr_pool_t *p, int64_t id,
                                          int64_t link_pk, int approve, int64_t now,
                                          lti_result_fn *fn, void *baton,
                                          lti_progress_stats_t *stats, lti_err_t *err)
{
    sq_t *q = s->impl;
    apr_pool_t *tmp;
    lti_status_t rv;

    apr_pool_create(&tmp, p);
    LOCK(q);
    rv = begin_full(q, err);
    if (rv == LTI_OK) {
        rv = commit_full(q, claim_decide_locked(q, tmp, id, link_pk, approve, now, fn, baton,
                                                stats, err), err);
    }
    UNLOCK(q);
    apr_pool_destroy(tmp);
    return rv;
}

/* Content selection contexts are rare (an instructor adding an activity): a plain write
 * under the lock, after dropping the expired ones. */
static lti_status_t sq_dlctx_put(lti_store_t *s, const lti_dlctx_t *ctx, int64_t now,
                                 lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;

    LOCK(q);
    if ((st = stmt(q, ST_DLCTX_PURGE, err)) != NULL) {
        sqlite3_bind_int64(st, 1, now);
        rv = exec_stmt(q, st, NULL, err);
    }
    if (rv == LTI_OK) {
        rv = LTI_ERR_STORE;
        if ((st = stmt(q, ST_DLCTX_PUT, err)) != NULL) {
            bind_text(st, 1, ctx->id);
            bind_text(st, 2, ctx->browser);
            bind_text(st, 3, ctx->csrf);
            bind_text(st, 4, ctx->body);
            sqlite3_bind_int64(st, 5, ctx->created);
            sqlite3_bind_int64(st, 6, ctx->expires);
            rv = exec_stmt(q, st, NULL, err);
        }
    }
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_dlctx_get(lti_store_t *s, apr_pool_t *p, const char *id, int64_t now,
                                 int take, lti_dlctx_t *out, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv;
    int rc;

    memset(out, 0, sizeof(*out));
    LOCK(q);
    if ((st = stmt(q, take ? ST_DLCTX_TAKE : ST_DLCTX_GET, err)) == NULL) {
        UNLOCK(q);
        return LTI_ERR_STORE;
    }
    bind_text(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->id = apr_pstrdup(p, id);
        out->browser = col_text(p, st, 0);
        out->csrf = col_text(p, st, 1);
        out->body = col_text(p, st, 2);
        out->created = sqlite3_column_int64(st, 3);
        out->expires = sqlite3_column_int64(st, 4);
        /* Step to the end so a DELETE completes. */
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        }
        rv = rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "deep-linking context read");
        if (rv == LTI_OK && out->expires <= now) {
            rv = lti_err_set(err, LTI_ERR_EXPIRED, "dl_expired",
                             "this content selection expired: open the activity chooser in "
                             "the LMS again");
        }
    }
    else if (rc == SQLITE_DONE) {
        rv = lti_err_set(err, LTI_ERR_NOT_FOUND, "dl_unknown",
                         "this content selection is unknown or already finished: open the "
                         "activity chooser in the LMS again");
    }
    else {
        rv = db_err(q, err, "deep-linking context read");
    }
    done(st);
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_roster_source(lti_store_t *s, apr_pool_t *p, int64_t link_pk,
                                     lti_roster_source_t *out, lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv;
    int rc;

    memset(out, 0, sizeof(*out));
    LOCK(q);
    if ((st = stmt(q, ST_ROSTER_SOURCE, err)) == NULL) {
        UNLOCK(q);
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(st, 1, link_pk);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->tenant = col_text(p, st, 0);
        out->claims = col_text(p, st, 1);
        out->context_pk = sqlite3_column_int64(st, 2);
        out->synced = sqlite3_column_int64(st, 3);
        rv = LTI_OK;
    }
    else {
        rv = rc == SQLITE_DONE ? lti_err_set(err, LTI_ERR_NOT_FOUND, "link_unknown",
                                             "no such resource link")
                               : db_err(q, err, "roster source");
    }
    done(st);
    UNLOCK(q);
    return rv;
}

typedef struct roster_arg_t {
    const char *tenant;
    int64_t context_pk, now;
    const apr_array_header_t *members;
    apr_pool_t *pool;
} roster_arg_t;

/* The roster write, inside the group commit's transaction: persons (by person_locked, so
 * the same person rules as a launch apply, with the tenant's LMS guid), roster rows, the
 * members no longer listed dropped, the sync time. */
static lti_status_t roster_job(sq_t *q, pending_t *job)
{
    const roster_arg_t *a = job->arg;
    sqlite3_stmt *st;
    lti_launch_rec_t rec;
    lti_status_t rv;
    const char *guid = NULL;
    int rc;

    job->dirty = 1;
    if ((st = stmt(q, ST_TENANT_GUID, job->err)) == NULL) {
        return LTI_ERR_STORE;
    }
    bind_text(st, 1, a->tenant);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        guid = col_text(a->pool, st, 0);
    }
    done(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return db_err(q, job->err, "tenant guid");
    }
    for (int i = 0; i < a->members->nelts; i++) {
        const lti_roster_member_t *m = &APR_ARRAY_IDX(a->members, i, lti_roster_member_t);
        int64_t person;

        memset(&rec, 0, sizeof(rec));
        rec.tenant = a->tenant;
        rec.user_id = m->user_id;
        rec.given_name = m->given_name;
        rec.family_name = m->family_name;
        rec.full_name = m->full_name;
        rec.email = m->email;
        rec.platform_guid = guid;
        rec.now = a->now;
        if ((rv = person_locked(q, &rec, &person, job->err)) != LTI_OK) {
            return rv;
        }
        if ((st = stmt(q, ST_ROSTER_PUT, job->err)) == NULL) {
            return LTI_ERR_STORE;
        }
        sqlite3_bind_int64(st, 1, a->context_pk);
        sqlite3_bind_int64(st, 2, person);
        sqlite3_bind_int(st, 3, (int)m->roles);
        sqlite3_bind_int(st, 4, m->active ? 1 : 0);
        sqlite3_bind_int64(st, 5, a->now);
        if ((rv = exec_stmt(q, st, NULL, job->err)) != LTI_OK) {
            return rv;
        }
    }
    if ((st = stmt(q, ST_ROSTER_PRUNE, job->err)) == NULL) {
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(st, 1, a->context_pk);
    sqlite3_bind_int64(st, 2, a->now);
    if ((rv = exec_stmt(q, st, NULL, job->err)) != LTI_OK) {
        return rv;
    }
    if ((st = stmt(q, ST_ROSTER_SYNCED, job->err)) == NULL) {
        return LTI_ERR_STORE;
    }
    sqlite3_bind_int64(st, 1, a->context_pk);
    sqlite3_bind_int64(st, 2, a->now);
    return exec_stmt(q, st, NULL, job->err);
}

static lti_status_t sq_roster_put(lti_store_t *s, const char *tenant, int64_t context_pk,
                                  const apr_array_header_t *members, int64_t now,
                                  lti_err_t *err)
{
    pending_t me;
    roster_arg_t a;
    apr_pool_t *scratch;
    lti_status_t rv;

    if (tenant == NULL || context_pk <= 0) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "roster_arg", "a roster needs a tenant and "
                           "a context");
    }
    if (apr_pool_create(&scratch, NULL) != APR_SUCCESS) {
        return lti_err_set(err, LTI_ERR_NOMEM, "nomem", "no memory for the roster");
    }
    a.tenant = tenant;
    a.context_pk = context_pk;
    a.now = now;
    a.members = members;
    a.pool = scratch;
    memset(&me, 0, sizeof(me));
    me.run = roster_job;
    me.arg = &a;
    rv = group_commit(s->impl, &me, err);
    apr_pool_destroy(scratch);
    return rv;
}

/* ---- the demo LMS's received grades ---- */

static lti_status_t sq_demo_grade_put(lti_store_t *s, const lti_demo_grade_t *g,
                                      lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;

    LOCK(q);
    if ((st = stmt(q, ST_DEMO_GRADE_PUT, err)) != NULL) {
        bind_text(st, 1, g->target);
        bind_text(st, 2, g->via);
        bind_text(st, 3, g->label);
        sqlite3_bind_double(st, 4, g->score);
        bind_text(st, 5, g->comment);
        sqlite3_bind_int64(st, 6, g->received);
        rv = exec_stmt(q, st, NULL, err);
    }
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_demo_grade_list(lti_store_t *s, apr_pool_t *p, apr_array_header_t **out,
                                       lti_err_t *err)
{
    sq_t *q = s->impl;
    sqlite3_stmt *st;
    lti_status_t rv = LTI_ERR_STORE;
    int rc;

    *out = apr_array_make(p, 8, sizeof(lti_demo_grade_t));
    LOCK(q);
    if ((st = stmt(q, ST_DEMO_GRADE_LIST, err)) != NULL) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            lti_demo_grade_t *g = apr_array_push(*out);

            g->target = col_text(p, st, 0);
            g->via = col_text(p, st, 1);
            g->label = col_text(p, st, 2);
            g->score = sqlite3_column_double(st, 3);
            g->comment = col_text(p, st, 4);
            g->received = sqlite3_column_int64(st, 5);
            g->count = sqlite3_column_int(st, 6);
        }
        done(st);
        rv = rc == SQLITE_DONE ? LTI_OK : db_err(q, err, "demo grades");
    }
    UNLOCK(q);
    return rv;
}

static lti_status_t sq_progress_list(lti_store_t *s, apr_pool_t *p, int64_t person_id,
                                     const char *course_id, apr_array_header_t **out,
                                     lti_err_t *err)
{
    sq_t *q = s->impl;
    lti_status_t rv;

    *out = apr_array_make(p, 8, sizeof(lti_progress_t));
    LOCK(q);
    rv = progress_of_locked(q, p, person_id, course_id, *out, err);
    UNLOCK(q);
    return rv;
}

static const lti_store_ops_t sqlite_ops = {
    .name = "sqlite3",
    .close = sq_close,
    .migrate = sq_migrate,
    .schema_version = sq_schema_version,
    .consumer_add = sq_consumer_add,
    .consumer_get = sq_consumer_get,
    .consumer_list = sq_consumer_list,
    .consumer_remove = sq_consumer_remove,
    .catalog_put = sq_catalog_put,
    .catalog_current = sq_catalog_current,
    .nonce_use = sq_nonce_use,
    .purge = sq_purge,
    .checkpoint = sq_checkpoint,
    .audit_add = sq_audit_add,
    .audit_recent = sq_audit_recent,
    .audit_counts = sq_audit_counts,
    .launch_record = sq_launch_record,
    .session_get = sq_session_get,
    .link_set_course = sq_link_set_course,
    .link_learners = sq_link_learners,
    .platform_add = sq_platform_add,
    .platform_list = sq_platform_list,
    .platform_remove = sq_platform_remove,
    .platform_get = sq_platform_get,
    .deployment_add = sq_deployment_add,
    .key_list = sq_key_list,
    .key_add = sq_key_add,
    .key_rotate = sq_key_rotate,
    .platform_by_id = sq_platform_by_id,
    .state_put = sq_state_put,
    .state_take = sq_state_take,
    .state_get = sq_state_get,
    .jwks_get = sq_jwks_get,
    .jwks_put = sq_jwks_put,
    .jwks_refetch_claim = sq_jwks_refetch_claim,
    .setting_get = sq_setting_get,
    .setting_add = sq_setting_add,
    .xapi_provider_add = sq_xapi_provider_add,
    .xapi_provider_get = sq_xapi_provider_get,
    .xapi_provider_list = sq_xapi_provider_list,
    .xapi_provider_remove = sq_xapi_provider_remove,
    .xapi_actor = sq_xapi_actor,
    .xapi_actor_find = sq_xapi_actor_find,
    .progress_record = sq_progress_record,
    .progress_on_launch = sq_progress_on_launch,
    .result_get = sq_result_get,
    .outbox_claim_drainer = sq_outbox_claim_drainer,
    .outbox_lease = sq_outbox_lease,
    .outbox_finish = sq_outbox_finish,
    .outbox_finish_many = sq_outbox_finish_many,
    .demo_grade_put = sq_demo_grade_put,
    .demo_grade_list = sq_demo_grade_list,
    .outbox_list = sq_outbox_list,
    .outbox_retry = sq_outbox_retry,
    .outbox_depth = sq_outbox_depth,
    .outbox_purge = sq_outbox_purge,
    .ags_target = sq_ags_target,
    .ags_stamp_put = sq_ags_stamp_put,
    .badge_list = sq_badge_list,
    .badge_get = sq_badge_get,
    .badge_revoke = sq_badge_revoke,
    .badge_claim_add = sq_badge_claim_add,
    .badge_claim_list = sq_badge_claim_list,
    .badge_claim_decide = sq_badge_claim_decide,
    .dlctx_put = sq_dlctx_put,
    .dlctx_get = sq_dlctx_get,
    .roster_source = sq_roster_source,
    .roster_put = sq_roster_put,
    .progress_list = sq_progress_list,
};

/* When root (ptechctl as root, httpd before it drops privileges) opens the store, the
 * database and its -wal/-shm files must stay writable by the server's user: give them
 * to the owner of the folder that holds the store. */
static void give_to_folder_owner(apr_pool_t *p, const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dir = slash && slash != path ? apr_pstrndup(p, path, slash - path) : "/";
    const char *files[3];
    struct stat st;

    if (geteuid() != 0 || stat(dir, &st) != 0 || st.st_uid == 0) {
        return;
    }
    files[0] = path;
    files[1] = apr_pstrcat(p, path, "-wal", NULL);
    files[2] = apr_pstrcat(p, path, "-shm", NULL);
    for (int i = 0; i < 3; i++) {
        if (chown(files[i], st.st_uid, st.st_gid) != 0) {
            continue;   /* -wal/-shm may not exist yet */
        }
    }
}

/* Opens one connection of the store into q (its mutex, WAL, the pragmas). */
static lti_status_t conn_open(apr_pool_t *p, const char *path, sq_t *q, lti_err_t *err)
{
    char *msg = NULL;
    int rc;

    if (apr_thread_mutex_create(&q->mu, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "store_mutex", "cannot create a mutex");
    }
    /* Our own mutex serialises use of the connection, so SQLite's can go. */
    rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                         NULL);
    if (rc != SQLITE_OK) {
        return lti_err_set(err, LTI_ERR_STORE, "store_open",
                           "cannot open the SQLite store %s: %s", path,
                           q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
    }
    sqlite3_busy_handler(q->db, busy_wait, q);
    /* mmap spares a pread per page read; WAL keeps writers off the readers. */
    /* Checkpoints copy WAL pages back and fsync, in the thread whose commit crossed the
     * mark, holding the connection: every request of the child waits for that fsync.  One
     * every 16000 pages (64 MB of WAL) rather than SQLite's 1000 writes each hot page
     * (index tails, busy links) back once for many commits and stalls the child less often;
     * measured on LTI 1.3 launches: about 5 % less CPU per launch than every 4000 pages. */
    /* Turning a new file to WAL takes an exclusive lock, and a process that opens the same
     * new store at that moment (httpd and ptechctl migrating together) can get
     * SQLITE_BUSY without its busy handler being asked: try again for up to 10 s. */
    for (int tries = 0;; tries++) {
        rc = sqlite3_exec(q->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                          " PRAGMA foreign_keys = ON; PRAGMA mmap_size = 268435456;"
                          " PRAGMA cache_size = -8192; PRAGMA wal_autocheckpoint = 16000;",
                          NULL, NULL, &msg);
        if ((rc & 0xff) != SQLITE_BUSY || tries >= 200) {
            break;
        }
        sqlite3_free(msg);
        msg = NULL;
        apr_sleep(50000);
    }
    if (rc != SQLITE_OK) {
        lti_err_set(err, LTI_ERR_STORE, "store_open", "cannot set up the SQLite store %s: %s",
                    path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return LTI_ERR_STORE;
    }
    return LTI_OK;
}

lti_status_t lti_store_sqlite_open(apr_pool_t *p, const char *path, lti_store_t **out,
                                   lti_err_t *err)
{
    lti_store_t *s = apr_pcalloc(p, sizeof(*s));
    sq_t *q = apr_pcalloc(p, sizeof(*q));

    if (path[0] != '/') {
        return lti_err_set(err, LTI_ERR_CONFIG, "store_bad_dsn",
                           "the SQLite store path '%s' must be absolute", path);
    }
    q->path = apr_pstrdup(p, path);
    s->ops = &sqlite_ops;
    s->pool = p;
    s->impl = q;
    /* The queue uses pthreads directly: a condition per waiter must cost nothing. */
    pthread_mutex_init(&q->qmu, NULL);
    apr_pool_cleanup_register(p, s, sq_cleanup, apr_pool_cleanup_null);
    if (conn_open(p, path, q, err) != LTI_OK) {
        apr_pool_cleanup_run(p, s, sq_cleanup);
        return LTI_ERR_STORE;
    }
    give_to_folder_owner(p, path);
    *out = s;
    return LTI_OK;
}
