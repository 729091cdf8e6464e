"""pytest harness: real httpd servers (prefork and event, under ASan too) with
mod_ptech, each test on a clean store, and the error log checked after every test.

Fixtures:
  mpm            "prefork" / "event" (parametrised)
  httpd_factory  make(**kw) -> ptechtest.Httpd, not started; stopped and checked after the test
  server         a started Httpd with the default configuration
  consumer       (key, secret) registered on server
  ptechctl, sql  server.ptechctl(*args, stdin=None), server.sql(query, args=())
  catalog        ptechtest.Catalog of conf/catalog.xml, ids checked against ptechctl
  platform       ptechtest.Platform: a loopback LTI 1.3 platform (JWKS, auth endpoint)
  server13       a started Httpd with PTechAllowInsecureLoopback On and platform registered
                 (demo off, on a copy of ptechtest.seeded_store(): tool keys already made)
A test allows error log lines with @pytest.mark.allow_log(r"regex", ...) or server.allow(...).
"""
import os
import signal
import sys

import pytest

import ptechtest as pt


def pytest_configure(config):
    config.addinivalue_line("markers", "allow_log(*regexes): error log lines the test expects")
    # A SIGTERM (CI timeout) ends the run through the fixtures' teardown and atexit, which
    # stop every httpd that was started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    for path in (os.path.join(pt.BUILD, "mod_ptech.so"), os.path.join(pt.BUILD, "ptechctl")):
        if not os.path.exists(path):
            raise pytest.UsageError("%s is missing: build first (make PTECH_STAGE=1 build-all)"
                                    % path)


@pytest.fixture(params=pt.MPMS)
def mpm(request):
    return request.param


@pytest.fixture
def httpd_factory(request, mpm):
    servers = []
    request.node._ptech_servers = servers
    marker_allow = [a for m in request.node.iter_markers("allow_log") for a in m.args]

    def make(**kw):
        kw.setdefault("mpm", mpm)
        srv = pt.Httpd(**kw)
        srv.allow(*marker_allow)
        servers.append(srv)
        return srv

    yield make
    failures = []
    for srv in servers:
        srv.stop()
    failed = getattr(request.node, "_ptech_failed", False)
    for srv in servers:
        problems = srv.log_problems()
        bad = [b for b in problems if b not in getattr(srv, "_reported", [])]
        if bad:
            failures.append("%s (%s):\n  %s" % (srv.dir, srv.mpm, "\n  ".join(bad)))
        if not problems and not failed:
            srv.cleanup()     # else kept for a look
    if failures:
        pytest.fail("unexpected lines in the error log after the servers stopped:\n"
                    + "\n".join(failures), pytrace=False)


@pytest.fixture
def server(httpd_factory):
    srv = httpd_factory()
    srv.start()
    return srv


@pytest.fixture
def consumer(server):
    return server.add_consumer()


@pytest.fixture
def ptechctl(server):
    """ptechctl(*args, stdin=None) -> CompletedProcess, on the server's store."""
    return server.ptechctl


@pytest.fixture
def sql(server):
    """sql(query, args=()) -> rows of the server's store."""
    return server.sql


@pytest.fixture
def platform():
    pf = pt.Platform()
    yield pf
    pf.close()


@pytest.fixture
def server13(httpd_factory, platform):
    srv = httpd_factory(directives=pt.LTI13_DIRECTIVES, demo=False, seed=True)
    srv.start()
    platform.register(srv)
    return srv


@pytest.fixture(scope="session")
def catalog():
    cat = pt.Catalog()
    d = pt.make_dir("ptech-cat-")
    try:
        dsn = "sqlite3:" + os.path.join(d, "cat.db")
        r = pt.run_ptechctl(dsn, "catalog", "load", pt.CATALOG)
        assert r.returncode == 0, r.stderr
        r = pt.run_ptechctl(dsn, "catalog", "list")
        assert r.returncode == 0, r.stderr
        ids = [line.split("\t")[0] for line in r.stdout.splitlines()]
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)
    assert ids == cat.order and len(ids) > 0, (ids, cat.order)
    return cat


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test whose servers logged an unexpected line fails (checked while they still run;
    the fixture checks again after stopping them)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        item._ptech_failed = True
    if call.when != "call" or report.outcome != "passed":
        return
    problems = []
    for srv in getattr(item, "_ptech_servers", []):
        bad = srv.log_problems()
        if bad:
            srv._reported = bad
            problems.append("%s (%s):\n  %s" % (srv.dir, srv.mpm, "\n  ".join(bad)))
    if problems:
        report.outcome = "failed"
        item._ptech_failed = True
        report.longrepr = "unexpected lines in the error log:\n" + "\n".join(problems)


def pytest_terminal_summary(terminalreporter):
    if pt.SHUTDOWN_NOISE:
        terminalreporter.write_line(
            "note: %d line(s) of httpd's own shutdown races tolerated (see "
            "ptechtest.SHUTDOWN_RACES):" % len(pt.SHUTDOWN_NOISE))
        for d, line in pt.SHUTDOWN_NOISE:
            terminalreporter.write_line("  %s: %s" % (d, line))
