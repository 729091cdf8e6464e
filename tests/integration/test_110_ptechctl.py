"""Issue 2, ptechctl: migrate, consumers, catalog; on its own and while httpd runs."""
import os
import re
import shutil

import pytest

import ptechtest as pt


class Store:
    """A clean folder (owned by www-data when root) for a store that ptechctl creates."""

    def __init__(self):
        self.dir = pt.make_dir("ptech-ctl-")
        self.path = os.path.join(self.dir, "ptech.db")
        self.dsn = "sqlite3:" + self.path
        self.outputs = []

    def run(self, *args, stdin=None, env=None, db=True):
        r = pt.run_ptechctl(self.dsn, *args, stdin=stdin, env=env, db=db)
        self.outputs.append(r.stdout + r.stderr)
        assert "AddressSanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr
        return r

    def sql(self, q, args=()):
        return pt.sql_query(self.path, q, args)


@pytest.fixture
def store():
    s = Store()
    yield s
    shutil.rmtree(s.dir, ignore_errors=True)


def ok(r, pattern=None):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stderr == "", r.stderr
    if pattern:
        assert re.search(pattern, r.stdout), r.stdout
    return r


def fails(r, code, pattern):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert lines and re.search(pattern, lines[0]), r.stderr
    assert lines[0].startswith("ptechctl: "), r.stderr
    return r


def test_110_migrate(store):
    ok(store.run("migrate"), r"^schema migrated from version 0 to %d\n$" % pt.SCHEMA_VERSION)
    ok(store.run("migrate"), r"^schema is up to date \(version %d\)\n$" % pt.SCHEMA_VERSION)
    assert store.sql("SELECT version FROM schema_migrations ORDER BY version") == pt.MIGRATIONS
    tables = {t for (t,) in store.sql("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"consumers", "persons", "link_members", "launches", "sessions", "audit",
            "nonces", "catalog"} <= tables


def test_111_consumers(store):
    secret = "s3cr3t-" + "x" * 20
    ok(store.run("consumer", "add", "moodle-uh2c", "--secret", secret), r"moodle-uh2c")
    ok(store.run("consumer", "add", "another", "--secret", secret + "2"))
    r = ok(store.run("consumer", "list"))
    lines = r.stdout.splitlines()
    assert [ln.split("\t")[0] for ln in lines] == ["another", "moodle-uh2c"], r.stdout
    for ln in lines:
        key, created = ln.split("\t")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created), ln
    assert store.sql("SELECT secret FROM consumers WHERE consumer_key='moodle-uh2c'") \
        == [(secret,)]

    # Adding an existing key fails and keeps the secret.
    fails(store.run("consumer", "add", "moodle-uh2c", "--secret", "y" * 32), 1, r"exists")
    assert store.sql("SELECT secret FROM consumers WHERE consumer_key='moodle-uh2c'") \
        == [(secret,)]
    # --replace changes it; --replace of an unknown key fails.
    new = "n" * 40
    ok(store.run("consumer", "add", "moodle-uh2c", "--secret", new, "--replace"))
    assert store.sql("SELECT secret FROM consumers WHERE consumer_key='moodle-uh2c'") \
        == [(new,)]
    fails(store.run("consumer", "add", "nobody", "--secret", new, "--replace"), 1, r"nobody")
    assert store.sql("SELECT COUNT(*) FROM consumers WHERE consumer_key='nobody'") == [(0,)]
    # Short secret.
    fails(store.run("consumer", "add", "short", "--secret", "abc"), 1, r"at least 16")
    assert store.sql("SELECT COUNT(*) FROM consumers WHERE consumer_key='short'") == [(0,)]
    # --secret - reads standard input.
    piped = "from-stdin-" + "z" * 24
    ok(store.run("consumer", "add", "piped", "--secret", "-", stdin=piped + "\n"))
    assert store.sql("SELECT secret FROM consumers WHERE consumer_key='piped'") == [(piped,)]
    # Remove; removing an unknown key fails.
    ok(store.run("consumer", "remove", "another"))
    fails(store.run("consumer", "remove", "another"), 1, r"another")
    r = ok(store.run("consumer", "list"))
    assert [ln.split("\t")[0] for ln in r.stdout.splitlines()] == ["moodle-uh2c", "piped"]

    # No secret was ever printed.
    for out in store.outputs:
        for s in (secret, secret + "2", new, piped):
            assert s not in out, out


def test_112_usage_errors(store):
    r = store.run("consumer", "list", db=False)
    fails(r, 2, r"no store")
    assert not os.path.exists(store.path)
    r = store.run("consumer", "list", env={"PTECH_DB": store.dsn}, db=False)
    ok(r)        # PTECH_DB is the default DSN
    for dsn in ("mysql:x", "sqlite3:relative.db"):
        r = pt.run_ptechctl(dsn, "consumer", "list")
        fails(r, 2, re.escape(dsn))
    fails(store.run("frobnicate"), 2, r"unknown command 'frobnicate'")
    fails(store.run("consumer", "frob"), 2, r"frob")
    fails(store.run("consumer", "add", "k"), 2, r"consumer add")
    fails(store.run(), 2, r"no command")
    r = store.run("--help", db=False)
    assert r.returncode == 0 and "consumer add" in r.stdout


def test_113_catalog(store, catalog):
    n = len(catalog.order)
    ok(store.run("catalog", "load", pt.CATALOG), r": %d courses, loaded\n$" % n)
    ok(store.run("catalog", "load", pt.CATALOG), r": %d courses, unchanged" % n)
    assert store.sql("SELECT COUNT(*) FROM catalog") == [(1,)]
    before = store.sql("SELECT rev, sha256 FROM catalog")

    bad = os.path.join(store.dir, "bad-catalog.xml")
    with open(bad, "w") as f:
        f.write('<?xml version="1.0"?>\n<catalog xmlns="urn:ptech:catalog:1">\n'
                '<course id="only-a-course">\n<oops/>\n</course>\n</catalog>\n')
    fails(store.run("catalog", "load", bad), 1, re.escape(bad) + r":\d+: ")
    unclosed = os.path.join(store.dir, "unclosed.xml")
    with open(unclosed, "w") as f:
        f.write("<catalog>\n<course>\n")
    fails(store.run("catalog", "load", unclosed), 1, re.escape(unclosed) + r":\d+: ")
    fails(store.run("catalog", "load", os.path.join(store.dir, "none.xml")), 1, r"none\.xml")
    assert store.sql("SELECT rev, sha256 FROM catalog") == before

    r = ok(store.run("catalog", "list"))
    expect = "".join("%s\t%s\n" % (cid, catalog.title(cid, "fr")) for cid in catalog.order)
    assert r.stdout == expect


def test_114_catalog_list_without_catalog(store):
    ok(store.run("migrate"))
    r = store.run("catalog", "list")
    assert r.returncode == 1 and r.stderr.startswith("ptechctl: "), r


def test_115_root_leaves_store_to_folder_owner(store):
    # As root (CI) the folder belongs to www-data and so must the store files.
    uid, gid = pt.www_data_ids() if pt.IS_ROOT else (os.getuid(), os.getgid())
    ok(store.run("migrate"))
    ok(store.run("consumer", "add", "k1", "--secret", "q" * 20))
    files = [f for f in os.listdir(store.dir) if f.startswith("ptech.db")]
    assert "ptech.db" in files
    for f in files:
        st = os.stat(os.path.join(store.dir, f))
        assert (st.st_uid, st.st_gid) == (uid, gid), (f, st.st_uid, st.st_gid)


def test_116_ptechctl_while_httpd_runs(server, ptechctl, sql, catalog):
    key, secret = server.add_consumer()
    params = pt.moodle_params("student", custom_course=catalog.order[0])
    sid, page = server.launch_and_follow(params, key, secret)
    assert page.status_code == 200
    # The catalog the server loaded at start-up is the store's.
    r = server.ptechctl("catalog", "list")
    assert r.returncode == 0 and r.stdout.splitlines()[0].startswith(catalog.order[0] + "\t")
    # A new secret works at once (removal and the old secret: test_118).
    new = "replaced-" + "r" * 30
    r = ptechctl("consumer", "add", key, "--secret", "-", "--replace", stdin=new + "\n")
    assert r.returncode == 0, r.stderr
    assert new not in r.stdout + r.stderr
    assert sql("SELECT secret FROM consumers WHERE consumer_key=?", (key,)) == [(new,)]
    r = ptechctl("consumer", "list")
    assert r.returncode == 0 and key in r.stdout
    assert secret not in r.stdout and new not in r.stdout
    for _ in range(6):
        r = server.launch(params, key, new)
        assert r.status_code == 303, r.text
    # A consumer added while httpd runs can launch at once.
    key2, secret2 = server.add_consumer()
    r = server.launch(params, key2, secret2)
    assert r.status_code == 303, r.text
    assert server.count("sessions") == 8
    assert server.count("audit") == 0
    # Neither secret reaches the error log.
    log = server.log_text()
    assert secret not in log and new not in log


def test_117_concurrent_migrations(store):
    """Two nodes, or ptechctl and httpd, may bring the same new store up to date at once:
    each must succeed (the schema version is re-read inside the migration's transaction)."""
    import concurrent.futures

    failures = []
    for rnd in range(4):
        path = os.path.join(store.dir, "race-%d.db" % rnd)
        with concurrent.futures.ThreadPoolExecutor(6) as ex:
            runs = list(ex.map(lambda _: pt.run_ptechctl("sqlite3:" + path, "migrate"),
                               range(6)))
        failures += ["round %d: rc=%d %s" % (rnd, r.returncode, r.stderr.strip())
                     for r in runs if r.returncode != 0]
        assert pt.sql_query(path, "SELECT version FROM schema_migrations ORDER BY 1") \
            == pt.MIGRATIONS
    assert not failures, "\n".join(failures)


def test_118_consumer_changes_take_effect_at_once(httpd_factory, catalog):
    """One httpd process (every request meets the same caches): after `consumer add
    --replace` the old secret is refused, after `consumer remove` the key is refused as
    unknown (401 lti11_unknown_consumer), from the very next launch."""
    srv = httpd_factory()
    srv.single_process()
    srv.start()
    key, old = srv.add_consumer()
    params = pt.moodle_params("student", custom_course=catalog.order[0])
    assert srv.launch(params, key, old).status_code == 303
    new = "replaced-" + "r" * 30
    assert srv.ptechctl("consumer", "add", key, "--secret", new, "--replace").returncode == 0
    problems = []
    r = srv.launch(params, key, old)
    if r.status_code != 401 or "<code>oauth_bad_signature</code>" not in r.text:
        problems.append("old secret after --replace: %d" % r.status_code)
    r = srv.launch(params, key, new)
    if r.status_code != 303:
        problems.append("new secret after --replace: %d" % r.status_code)
    assert srv.ptechctl("consumer", "remove", key).returncode == 0
    for what, secret in (("current secret", new), ("old secret", old)):
        r = srv.launch(params, key, secret)
        if r.status_code != 401 or "<code>lti11_unknown_consumer</code>" not in r.text:
            reason = re.search(r"<code>([^<]*)</code>", r.text)
            problems.append("%s after remove: %d %s" % (what, r.status_code,
                                                          reason.group(1) if reason else ""))
    assert not problems, "\n".join(problems)
