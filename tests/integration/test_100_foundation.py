"""Issue 2, the foundation: the module loads, owns /ptech, and refuses bad configuration."""
import concurrent.futures
import os
import re

import pytest

import ptechtest as pt


def test_100_status(server, catalog):
    r = server.get("/ptech/status")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"status": "ok", "schema": pt.SCHEMA_VERSION,
                        "catalog_courses": len(catalog.order), "outbox_pending": 0,
                        "outbox_failed": 0}
    assert len(catalog.order) > 0
    # The start-up migrated the store and loaded the catalog into it.
    assert server.sql("SELECT MAX(version) FROM schema_migrations") == [(pt.SCHEMA_VERSION,)]
    assert server.count("catalog") == 1
    assert "PT00008: mod_ptech ready" in server.log_text()


def test_101_not_found_and_outside(server):
    r = server.get("/ptech/nope")
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("text/html")
    assert "/ptech/nope" in r.text
    assert "<code>not_found</code>" in r.text
    csp = r.headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in csp and "frame-ancestors" in csp, csp

    # The path is escaped on the page.
    r = server.get("/ptech/%3Cscript%3Ealert(1)%3C/script%3E")
    assert r.status_code == 404
    assert "<script>" not in r.text
    assert "&lt;script&gt;alert(1)" in r.text

    # The stylesheet of the pages; nothing else under /ptech/static.
    r = server.get("/ptech/static/ptech.css")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/css")
    assert "body{" in r.text
    r = server.get("/ptech/static/../status")
    assert r.status_code in (400, 404) or r.json()["status"] == "ok"
    r = server.get("/ptech/static/nope.css")
    assert r.status_code == 404 and "<code>not_found</code>" in r.text

    # Outside /ptech the module stays out of the way: httpd serves the DocumentRoot.
    r = server.get("/hello.txt")
    assert r.status_code == 200 and r.text == "hello from htdocs\n"
    assert "Content-Security-Policy" not in r.headers
    for path in ("/ptechx", "/ptechnope/status", "/other/ptech/status"):
        r = server.get(path)
        assert r.status_code == 404, path
        assert "Content-Security-Policy" not in r.headers, path
        assert "not_found" not in r.text, path
    # /ptech itself is the module's.
    r = server.get("/ptech")
    assert r.status_code == 404 and "<code>not_found</code>" in r.text


@pytest.fixture
def tmp_base():
    """A configuration that is never started (config checks do not depend on the MPM)."""
    srv = pt.Httpd(mpm="event")
    yield srv
    srv.cleanup()


def _catalog_with_error(d):
    path = os.path.join(d, "broken-catalog.xml")
    with open(path, "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<catalog xmlns="urn:ptech:catalog:1">\n'
                '  <course id="x">\n'
                '    <nonsense/>\n'
                '  </course>\n'
                '</catalog>\n')
    return path


def _file(d, name, content, mode):
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(content)
    os.chmod(path, mode)
    return path


# (directive line, words the message must hold); {d} is the server's folder.
BAD_DIRECTIVES = [
    ("PTechTimestampWindow 5x", ["PTechTimestampWindow", "5x", "unit"]),
    ("PTechTimestampWindow 0", ["PTechTimestampWindow", "greater than zero"]),
    ("PTechTimestampWindow -1", ["PTechTimestampWindow", "-1", "not a duration"]),
    ("PTechSessionTTL 400d", ["PTechSessionTTL", "400d", "maximum"]),
    ("PTechStore mysql:x", ["PTechStore", "mysql:x", "not a store DSN"]),
    ("PTechStore sqlite3:relative/path", ["PTechStore", "absolute"]),
    ("PTechPublicURL ftp://x", ["PTechPublicURL", "ftp://x", "http or https"]),
    ('PTechPublicURL "https://x?y"', ["PTechPublicURL", "query"]),
    ("PTechSecretKeyFile {d}/missing.key", ["PTechSecretKeyFile", "missing.key",
                                            "openssl rand"]),
    ("PTechSecretKeyFile {d}/short.key", ["PTechSecretKeyFile", "short.key", "10 bytes",
                                          "at least 32"]),
    ("PTechSecretKeyFile {d}/readable.key", ["PTechSecretKeyFile", "readable.key",
                                             "readable by every user", "chmod 600"]),
    ("PTechCatalog {d}/broken-catalog.xml", ["PTechCatalog", "broken-catalog.xml:"]),
    ("PTechBadgeIssuerHost https://x", ["PTechBadgeIssuerHost", "https://x",
                                        "not a host name"]),
    ("PTechRegistrationIssuers notaurl", ["PTechRegistrationIssuers", "notaurl",
                                          "not an absolute URL"]),
    ("PTechDemoPlatform Maybe", ["PTechDemoPlatform", "On or Off"]),
    ("PTechCAFile /nonexistent", ["PTechCAFile", "/nonexistent"]),
    ("PTechHTTPProxy notaurl", ["PTechHTTPProxy", "notaurl", "not an absolute URL"]),
]


def test_102_bad_directives_stop_httpd(tmp_base):
    base = tmp_base
    # Sanity: the generated configuration itself passes.
    r = base.configtest()
    assert r.returncode == 0, r.stderr
    _file(base.dir, "short.key", b"0123456789", 0o600)
    _file(base.dir, "readable.key", b"a" * 64, 0o644)
    broken = _catalog_with_error(base.dir)

    def check(case):
        line, words = case
        srv = pt.Httpd(mpm=base.mpm)
        try:
            srv.write_conf([line.format(d=base.dir)])
            r = srv.configtest()
            out = r.stdout + r.stderr
            errs = []
            if r.returncode == 0:
                errs.append("accepted")
            errs += ["no %r" % w for w in words if w not in out]
            return line, errs, out
        finally:
            srv.cleanup()

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        results = list(ex.map(check, BAD_DIRECTIVES))
    failures = ["%s: %s\n%s" % (line, ", ".join(errs), out) for line, errs, out in results
                if errs]
    assert not failures, "\n".join(failures)
    # The catalog message names the line of the problem (file:line).
    out = [o for line, e, o in results if "broken-catalog" in line][0]
    assert re.search(r"broken-catalog\.xml:\d+", out), out
    assert broken


def test_103_store_without_secret_key(httpd_factory):
    srv = httpd_factory(secret_key=False)
    rc = srv.start(expect_fail=True)
    assert rc != 0
    logs = srv.all_logs()
    assert "PTechSecretKeyFile" in logs, logs
    srv.allow(r"PT00007: PTechStore is set but PTechSecretKeyFile is not",
              r"AH00020: Configuration Failed")


def test_104_secret_key_is_server_wide(httpd_factory):
    srv = httpd_factory(directives=['<VirtualHost 127.0.0.1:*>',
                                    '  PTechSecretKeyFile "%s"' % "/dev/null",
                                    '</VirtualHost>'])
    r = srv.configtest()
    assert r.returncode != 0
    assert "PTechSecretKeyFile" in r.stderr and "VirtualHost" in r.stderr, r.stderr


def _wait_generation(srv, n, timeout=20):
    """Waits for the n-th "resuming normal operations" of the parent."""
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        if srv.log_text().count("resuming normal operations") >= n:
            return
        time.sleep(0.05)
    raise AssertionError("no restart in the log:\n%s" % srv.log_text())


def test_105_restarts(server, catalog):
    """apachectl graceful / restart: post_config runs again on the same store, the new
    children open it, and launches go on."""
    import signal
    import time
    key, secret = server.add_consumer()
    params = {"custom_course": catalog.order[0]}
    r = server.launch(pt.moodle_params("student", **params), key, secret)
    assert r.status_code == 303
    for n, sig in ((2, signal.SIGUSR1), (3, signal.SIGHUP)):
        server.proc.send_signal(sig)
        _wait_generation(server, n)
        deadline = time.time() + pt.START_TIMEOUT
        codes = []
        while time.time() < deadline:
            try:
                r = server.launch(pt.moodle_params("student", **params), key, secret)
                codes.append(r.status_code)
                if r.status_code == 303:
                    break
            except Exception as e:      # the listener is being re-opened
                codes.append(repr(e))
            time.sleep(0.1)
        assert codes and codes[-1] == 303, codes
        sid, _ = pt.parse_cookie(r)
        assert server.course_page(sid).status_code == 200
        assert server.get("/ptech/status").json()["status"] == "ok"
    assert server.count("sessions") == 3
    assert server.log_text().count("PT00008: mod_ptech ready") == 3


def test_106_demo_off(httpd_factory):
    srv = httpd_factory(demo=False)
    srv.start()
    for path in ("/ptech/demo", "/ptech/demo/launch?persona=student-ar&link=1"):
        r = srv.get(path)
        assert r.status_code == 404 and "<code>not_found</code>" in r.text, path
    assert srv.count("consumers", "consumer_key='ptech-demo'") == 0


def test_107_catalog_from_store(httpd_factory, catalog):
    """Without PTechCatalog the children use the store's catalog (ptechctl catalog load)."""
    srv = httpd_factory(catalog=False)
    r = srv.ptechctl("catalog", "load", pt.CATALOG)
    assert r.returncode == 0, r.stderr
    srv.start()
    assert srv.get("/ptech/status").json() == {"status": "ok", "schema": pt.SCHEMA_VERSION,
                                               "catalog_courses": len(catalog.order),
                                               "outbox_pending": 0, "outbox_failed": 0}
    key, secret = srv.add_consumer()
    cid = catalog.order[-1]
    _, page = srv.launch_and_follow(pt.moodle_params("student", custom_course=cid,
                                                     launch_presentation_locale="en"),
                                    key, secret)
    assert page.status_code == 200
    assert catalog.title(cid, "en") in page.text


def test_108_no_catalog_at_all(httpd_factory):
    srv = httpd_factory(catalog=False)
    srv.allow(r"PT00012: no catalog")
    srv.start()
    assert srv.get("/ptech/status").json() == {"status": "ok", "schema": pt.SCHEMA_VERSION,
                                               "catalog_courses": 0, "outbox_pending": 0,
                                               "outbox_failed": 0}
    assert "PT00012: no catalog" in srv.log_text()
