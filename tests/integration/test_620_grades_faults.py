"""Grades back to the LMS, faults (issue 6, "nothing lost"): httpd killed (SIGKILL, the
whole process group) while the LMS holds a replaceResult open, graceful restarts during a
drain, and the drainer's concurrency, against test_600's loopback LMS (which verifies the
OAuth body-hash signature of every request and records what arrives)."""
import collections
import concurrent.futures
import os
import signal
import sqlite3
import threading
import time

import ptechtest as pt
from test_600_grades import (COURSE, GRADES, LMS, import_csv, launch, outbox, student,
                             wait_for)

import pytest


class HeldLMS(LMS):
    """test_600's LMS whose first replaceResult is held open until release() (set once it
    arrives); the held request is then recorded like any other (the LMS applied it even if
    the tool never read the answer)."""

    def __init__(self, key, secret):
        self.arrived = threading.Event()
        self.released = threading.Event()
        self.to_hold = 1
        super().__init__(key, secret)

    def handle(self, path, headers, body):
        with self.lock:
            hold, self.to_hold = self.to_hold > 0, self.to_hold - 1
        if hold:
            self.arrived.set()
            self.released.wait(30)
        return super().handle(path, headers, body)

    def release(self):
        self.released.set()


def csv(rows):
    return "user,course,module,status,score,date\n" + "".join(
        "%s,%s,,passed,%s,%s\n" % (u, COURSE, score, date) for u, score, date in rows)


def launch_many(g, uids):
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda u: launch(g, student(g.lms, u)), uids))


def kill_all(srv):
    """SIGKILL to httpd's process group (parent and children: nothing runs a cleanup)."""
    proc, srv.proc = srv.proc, None
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    srv.stdout.close()
    pt._RUNNING.discard(srv)
    deadline = time.time() + 10
    while time.time() < deadline:       # the children too
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError("httpd's children survived SIGKILL")


def expire_leases(srv):
    """What the clock does lease_ttl later (PTechHTTPTimeout x 9 + 60 s, well over a
    minute): the dead drainer's claim and its row leases run out."""
    with pt.as_www_data():
        con = sqlite3.connect(srv.db_path, timeout=30)
        try:
            with con:
                con.execute("UPDATE outbox_drainer SET until = 0")
                con.execute("UPDATE outbox SET lease_until = 0 WHERE lease_until IS NOT NULL")
        finally:
            con.close()


def test_620_faults_sigkill_while_lms_holds(httpd_factory):
    srv = httpd_factory(directives=GRADES)
    srv.start()
    key, secret = srv.add_consumer()
    lms = HeldLMS(key, secret)
    g = pt.types.SimpleNamespace(srv=srv, key=key, secret=secret, lms=lms)
    try:
        launch(g, student(lms, "k1"))
        import_csv(g, csv([("k1", 40, "2026-03-14")]))
        assert lms.arrived.wait(15), "the replaceResult never arrived"
        # While the LMS holds the old value: a newer one is imported, then httpd dies.
        r = import_csv(g, csv([("k1", 90, "2026-03-20")]))
        assert "1 grade return(s) queued" in r.stdout, r.stdout
        rows = outbox(g)
        assert len(rows) == 1 and rows[0][1] == "pending", rows
        kill_all(srv)
        # The LMS applies the old value it held (the tool never reads the answer).
        lms.release()
        wait_for(lambda: len(lms.grades) >= 1, timeout=10, what="the held request")
        assert lms.grades == [("sid-k1-1", "0.4")], lms.grades
        rows = outbox(g)
        assert len(rows) == 1 and rows[0][1] == "pending", rows
        srv.start()
        expire_leases(srv)
        wait_for(lambda: len(lms.grades) >= 2, timeout=20, what="the newest value")
        wait_for(lambda: [r[1] for r in outbox(g)] == ["sent"], timeout=10, what="'sent'")
        time.sleep(2.5)      # several polls: nothing else goes
        assert lms.grades == [("sid-k1-1", "0.4"), ("sid-k1-1", "0.9")], lms.grades
        rows = outbox(g)
        assert len(rows) == 1 and rows[0][1] == "sent", rows
        assert lms.bad == [] and len(set(lms.nonces)) == len(lms.nonces)
    finally:
        lms.release()
        lms.stop()


@pytest.fixture
def graded(httpd_factory):
    srv = httpd_factory(directives=GRADES)
    srv.start()
    key, secret = srv.add_consumer()
    lms = LMS(key, secret)
    yield pt.types.SimpleNamespace(srv=srv, key=key, secret=secret, lms=lms)
    lms.stop()


def test_620_faults_graceful_during_drain(graded):
    g = graded
    n = 300
    uids = ["g%d" % i for i in range(n)]
    launch_many(g, uids)
    g.lms.delay = 0.1
    import_csv(g, csv([(u, i % 101, "2026-03-14") for i, u in enumerate(uids)]))
    expected = sorted(("sid-%s-1" % u, (i % 101) / 100) for i, u in enumerate(uids))
    # A graceful restart every second while the drain runs (8 of them), then the drain
    # ends: mod_watchdog's singleton moves to a new child each time, which waits for the
    # old one (and a second more) before it runs.
    restarts = 0
    while restarts < 8:
        g.srv.proc.send_signal(signal.SIGUSR1)
        restarts += 1
        time.sleep(1.0)
    assert len(g.lms.grades) < n, "the drain ended before the restarts: make it longer"
    wait_for(lambda: len(g.lms.grades) >= n, timeout=20, what="all grades")
    time.sleep(2.5)
    counts = collections.Counter(g.lms.grades)
    assert [k for k, c in counts.items() if c > 1] == [], "duplicates"
    assert sorted((sid, float(score)) for sid, score in g.lms.grades) == expected
    assert [r for r in outbox(g) if r[1] != "sent"] == []
    assert g.lms.bad == []


def test_620_faults_eight_connections(graded):
    g = graded
    n = 240
    uids = ["c%d" % i for i in range(n)]
    launch_many(g, uids)
    g.lms.delay = 0.15
    import_csv(g, csv([(u, 50, "2026-03-14") for u in uids]))
    wait_for(lambda: len(g.lms.grades) >= n, timeout=25, what="all grades")
    assert g.lms.max_in_flight >= 8, g.lms.max_in_flight
    assert len(set(g.lms.peers)) >= 8
    assert sorted(g.lms.grades) == sorted(("sid-%s-1" % u, "0.5") for u in uids)
