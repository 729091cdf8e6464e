"""Grades back to the LMS (issue 6): progress import (CSV), the outbox and its drainer,
LTI 1.1 Basic Outcomes against a loopback LMS that verifies every request's OAuth 1.0a
body-hash signature with oauthlib and records what arrives."""
import base64
import hashlib
import http.server
import os
import socket
import threading
import time
import types
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

import pytest
from oauthlib.oauth1.rfc5849 import signature as oauth_sig
from oauthlib.oauth1.rfc5849 import utils as oauth_utils

import ptechtest as pt

POX_NS = "http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0"
GRADES = ("PTechAllowInsecureLoopback On", "PTechOutboxPoll 1s", "PTechOutboxRetryBase 1s")

RESPONSE = ('<?xml version="1.0" encoding="UTF-8"?>\n<imsx_POXEnvelopeResponse xmlns="%s">'
            '<imsx_POXHeader><imsx_POXResponseHeaderInfo><imsx_version>V1.0</imsx_version>'
            '<imsx_messageIdentifier>1</imsx_messageIdentifier><imsx_statusInfo>'
            '<imsx_codeMajor>%s</imsx_codeMajor><imsx_severity>status</imsx_severity>'
            '<imsx_description>%s</imsx_description><imsx_messageRefIdentifier>%s'
            '</imsx_messageRefIdentifier><imsx_operationRefIdentifier>replaceResultRequest'
            '</imsx_operationRefIdentifier></imsx_statusInfo></imsx_POXResponseHeaderInfo>'
            '</imsx_POXHeader><imsx_POXBody><replaceResultResponse/></imsx_POXBody>'
            '</imsx_POXEnvelopeResponse>')


class LMS:
    """A loopback Moodle outcomes service (HTTP/1.1, keep-alive).  Checks the signature and
    body hash of each request with the consumer secret, records (sourcedid, score) of the
    good ones in grades, and answers from script (a list of "ok", "fail" or an HTTP
    status, consumed in order; "ok" once it is empty)."""

    def __init__(self, key, secret, port=0, delay=0.0):
        self.key, self.secret, self.delay = key, secret, delay
        self.grades, self.bad, self.nonces, self.peers = [], [], [], set()
        self.script = []
        self.requests = 0
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        self.port = port
        self.httpd = None
        self.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/mod/lti/service.php" % self.port

    def start(self):
        lms = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lms.lock:
                    lms.requests += 1
                    lms.in_flight += 1
                    lms.max_in_flight = max(lms.max_in_flight, lms.in_flight)
                    lms.peers.add(self.client_address)
                try:
                    time.sleep(lms.delay)
                    status, text = lms.handle(self.path, self.headers, body)
                finally:
                    with lms.lock:
                        lms.in_flight -= 1
                data = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def verify(self, path, headers, body):
        auth = headers.get("Authorization", "")
        assert auth.startswith("OAuth "), auth
        params = [(oauth_utils.unescape(k), oauth_utils.unescape(v))
                  for k, v in oauth_utils.parse_authorization_header(auth)]
        d = dict(params)
        assert d["oauth_consumer_key"] == self.key
        assert d["oauth_signature_method"] == "HMAC-SHA1"
        assert d["oauth_body_hash"] == base64.b64encode(hashlib.sha1(body).digest()).decode()
        assert abs(int(d["oauth_timestamp"]) - time.time()) < 300
        others = [(k, v) for k, v in params if k != "oauth_signature"]
        query = urllib.parse.urlsplit(path).query
        others += urllib.parse.parse_qsl(query, keep_blank_values=True)
        base = oauth_sig.signature_base_string(
            "POST", oauth_sig.base_string_uri("http://127.0.0.1:%d%s" % (self.port, path)),
            oauth_sig.normalize_parameters(others))
        expected = oauth_sig.sign_hmac_sha1_with_client(
            base, types.SimpleNamespace(client_secret=self.secret, resource_owner_secret=None))
        assert oauth_sig.safe_string_equals(expected, d["oauth_signature"]), "bad signature"
        return d["oauth_nonce"]

    def handle(self, path, headers, body):
        try:
            nonce = self.verify(path, headers, body)
            root = ET.fromstring(body)
            assert root.tag == "{%s}imsx_POXEnvelopeRequest" % POX_NS
            sid = root.find(".//{%s}sourcedId" % POX_NS).text
            score = root.find(".//{%s}textString" % POX_NS).text
            msg = root.find(".//{%s}imsx_messageIdentifier" % POX_NS).text
        except Exception as e:          # noqa: BLE001 -- recorded, answered as Moodle does
            with self.lock:
                self.bad.append(repr(e))
            return 200, RESPONSE % (POX_NS, "failure", "Message signature not valid", "")
        with self.lock:
            self.nonces.append(nonce)
            step = self.script.pop(0) if self.script else "ok"
            if step == "ok":
                self.grades.append((sid, score))
        if step == "ok":
            return 200, RESPONSE % (POX_NS, "success", "Grade replace response", msg)
        if step == "fail":
            return 200, RESPONSE % (POX_NS, "failure", "No such activity", msg)
        return int(step), "<html>busy</html>"


@pytest.fixture
def graded(httpd_factory):
    srv = httpd_factory(directives=GRADES)
    srv.start()
    key, secret = srv.add_consumer()
    lms = LMS(key, secret)
    yield types.SimpleNamespace(srv=srv, key=key, secret=secret, lms=lms)
    lms.stop()


COURSE = "cybersecurity-fundamentals"


def student(lms, uid, link="1", email=None, sourcedid=None, course=COURSE):
    return pt.moodle_params("student", user_id=uid, resource_link_id=link,
                            lis_person_contact_email_primary=email or "s%s@example.com" % uid,
                            lis_result_sourcedid=sourcedid or "sid-%s-%s" % (uid, link),
                            lis_outcome_service_url=lms.url, custom_course=course,
                            tool_consumer_instance_guid=None)


def launch(g, params):
    r = g.srv.launch(params, g.key, g.secret)
    assert r.status_code == 303, r.text[:500]


def import_csv(g, text, *extra, ok=True):
    path = os.path.join(g.srv.dir, "p-%s.csv" % uuid.uuid4().hex[:6])
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    r = g.srv.ptechctl("progress", "import", path, *extra)
    assert (r.returncode == 0) == ok, (r.returncode, r.stdout, r.stderr)
    return r


def wait_for(pred, timeout=30.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def outbox(g, *args):
    r = g.srv.ptechctl("outbox", "list", *args)
    assert r.returncode == 0, r.stderr
    return [line.split("\t") for line in r.stdout.splitlines()]


def test_600_grades_once_per_link(graded):
    g = graded
    launch(g, student(g.lms, "3", link="1"))
    launch(g, student(g.lms, "3", link="2"))
    r = import_csv(g, "user,course,module,status,score,date\r\n"
                      "s3@example.com,%s,,passed,85,2026-03-14\r\n" % COURSE)
    assert "2 grade return(s) queued" in r.stdout, r.stdout
    wait_for(lambda: len(g.lms.grades) >= 2, what="two grades")
    time.sleep(2.5)
    assert sorted(g.lms.grades) == [("sid-3-1", "0.85"), ("sid-3-2", "0.85")]
    assert g.lms.bad == [] and len(set(g.lms.nonces)) == len(g.lms.nonces)
    # Re-importing changes nothing and sends nothing.
    r = import_csv(g, "user,course,module,status,score,date\n"
                      "s3@example.com,%s,,passed,85,2026-03-14\n" % COURSE)
    assert "0 applied" in r.stdout and "0 grade return(s) queued" in r.stdout, r.stdout
    time.sleep(2.5)
    assert len(g.lms.grades) == 2
    rows = outbox(g)
    assert [row[1] for row in rows] == ["sent", "sent"], rows
    # The instructor sees what went back.
    sid, page = g.srv.launch_and_follow(
        pt.moodle_params("teacher", resource_link_id="1", custom_course=COURSE), g.key,
        g.secret)
    assert "Sent" in page.text or "Envoy" in page.text, page.text


def test_600_grades_kept_until_first_launch(graded):
    g = graded
    r = import_csv(g, "user;course;module;status;score;date\n"
                      "\ufeffnew@example.com;%s;threat-landscape;completed;90,5;"
                      "2026-03-14T10:00:00+01:00\n".replace("\ufeff", "") % COURSE)
    assert "1 kept" in r.stdout, r.stdout
    assert g.srv.count("progress_kept") == 1 and g.srv.count("outbox") == 0
    launch(g, student(g.lms, "77", email="New@Example.com"))
    wait_for(lambda: len(g.lms.grades) >= 1, what="the kept grade")
    # weights 1,1,1,1,2: 0.905 / 6
    assert g.lms.grades == [("sid-77-1", "0.1508")], g.lms.grades
    assert g.srv.count("progress_kept") == 0


def test_600_grades_older_row_never_wins(graded):
    g = graded
    launch(g, student(g.lms, "5"))
    import_csv(g, "user,course,module,status,score,date\n"
                  "5,%s,,passed,80,2026-03-15\n" % COURSE)
    wait_for(lambda: len(g.lms.grades) >= 1)
    r = import_csv(g, "user,course,module,status,score,date\n"
                      "5,%s,,failed,10,2026-03-01\n" % COURSE)
    assert "0 applied" in r.stdout, r.stdout
    time.sleep(2.5)
    assert g.lms.grades == [("sid-5-1", "0.8")]


def test_600_grades_csv_invalid_nothing_applied(graded):
    g = graded
    launch(g, student(g.lms, "6"))
    text = ("user,course,module,status,score,date\n"
            "6,%s,,passed,85,2026-03-14\n"
            "6,no-such-course,,passed,85,2026-03-14\n"
            "6,%s,no-module,passed,85,2026-03-14\n"
            "6,%s,,done,85,2026-03-14\n"
            "6,%s,,passed,101,2026-03-14\n"
            "6,%s,,passed,85,14/03/2026\n"
            "6,\"%s\"x,,passed,85,2026-03-14\n" % ((COURSE,) * 6))
    r = import_csv(g, text, "--dry-run", ok=False)
    lines = r.stderr.splitlines()
    assert [l.split(":")[0] for l in lines[:6]] == ["line %d" % n for n in range(3, 9)], lines
    r = import_csv(g, text, ok=False)
    assert g.srv.count("progress") == 0 and g.srv.count("outbox") == 0
    r = import_csv(g, "user,course,module,status,score,date\n6,%s,,passed,85,2026-03-14\n"
                   % COURSE, "--dry-run")
    assert "dry run" in r.stdout and g.srv.count("progress") == 0


def test_600_grades_retry_after_500(graded):
    g = graded
    g.lms.script = ["500", "503", "500"]
    launch(g, student(g.lms, "8"))
    import_csv(g, "user,course,module,status,score,date\n8,%s,,passed,70,2026-03-14\n"
               % COURSE)
    wait_for(lambda: len(g.lms.grades) >= 1, timeout=40, what="delivery after three 500s")
    time.sleep(1.5)
    assert g.lms.grades == [("sid-8-1", "0.7")] and g.lms.requests == 4
    rows = outbox(g)
    assert rows[0][1] == "sent" and rows[0][7] == "4", rows


def test_600_grades_lms_down_then_back(graded):
    g = graded
    launch(g, student(g.lms, "9"))
    port = g.lms.port
    g.lms.stop()
    import_csv(g, "user,course,module,status,score,date\n9,%s,,completed,,2026-03-14\n"
               % COURSE)
    wait_for(lambda: any(r[9].startswith("network") for r in outbox(g, "--pending")),
             what="a network failure recorded")
    # IT sees the waiting return on /ptech/status.
    assert g.srv.get("/ptech/status").json()["outbox_pending"] == 1
    g.lms.port = port
    g.lms.start()
    wait_for(lambda: len(g.lms.grades) >= 1, timeout=40, what="delivery after the LMS is back")
    assert g.lms.grades == [("sid-9-1", "1.0")]


def test_600_grades_failure_answered_200(graded):
    g = graded
    g.lms.script = ["fail"]
    launch(g, student(g.lms, "10"))
    import_csv(g, "user,course,module,status,score,date\n10,%s,,passed,60,2026-03-14\n"
               % COURSE)
    wait_for(lambda: outbox(g, "--failed"), what="a failed return")
    assert g.srv.get("/ptech/status").json()["outbox_failed"] == 1
    row = outbox(g, "--failed")[0]
    assert "No such activity" in row[9], row
    sid, page = g.srv.launch_and_follow(
        pt.moodle_params("teacher", resource_link_id="1", custom_course=COURSE), g.key,
        g.secret)
    assert "No such activity" in page.text
    r = g.srv.ptechctl("outbox", "retry", row[0])
    assert r.returncode == 0, r.stderr
    wait_for(lambda: len(g.lms.grades) >= 1, what="the retried return")
    assert g.lms.grades == [("sid-10-1", "0.6")]


def test_600_grades_several_in_flight(graded):
    g = graded
    g.lms.delay = 0.6
    # More than the drainer's 32 requests in flight, so connections are reused.
    n = 72
    for i in range(n):
        launch(g, student(g.lms, "u%d" % i))
    import_csv(g, "user,course,module,status,score,date\n" + "".join(
        "u%d,%s,,passed,%d,2026-03-14\n" % (i, COURSE, 20 + i) for i in range(n)))
    wait_for(lambda: len(g.lms.grades) >= n, timeout=40, what="all grades")
    assert g.lms.max_in_flight >= 4, g.lms.max_in_flight
    # Keep-alive: at most one connection per request in flight, fewer than requests.
    assert len(g.lms.peers) <= 32 < g.lms.requests, (len(g.lms.peers), g.lms.requests)


def test_600_grades_outbox_purge(graded):
    g = graded
    launch(g, student(g.lms, "11"))
    import_csv(g, "user,course,module,status,score,date\n11,%s,,passed,85,2026-03-14\n"
               % COURSE)
    wait_for(lambda: len(g.lms.grades) >= 1)
    wait_for(lambda: outbox(g) and outbox(g)[0][1] == "sent")
    r = g.srv.ptechctl("outbox", "purge", "--sent-before", "2020-01-01")
    assert r.returncode == 0 and "0 sent" in r.stdout, r.stdout
    r = g.srv.ptechctl("outbox", "purge", "--sent-before", "2099-01-01")
    assert r.returncode == 0 and "1 sent" in r.stdout, r.stdout
    assert outbox(g) == []
    assert g.srv.ptechctl("outbox", "retry", "999").returncode == 1
    assert g.srv.ptechctl("outbox", "bogus").returncode == 2


def test_600_grades_two_servers_one_store(graded, httpd_factory):
    """Two httpd on one store: one drainer, every grade delivered once."""
    g = graded
    other = httpd_factory(directives=GRADES)
    other.dsn, other.db_path, other.key_path = g.srv.dsn, g.srv.db_path, g.srv.key_path
    other.write_conf(GRADES)
    other.start()
    g.lms.delay = 0.2
    n = 6
    for i in range(n):
        launch(g, student(g.lms, "t%d" % i))
    import_csv(g, "user,course,module,status,score,date\n" + "".join(
        "t%d,%s,,passed,%d,2026-03-14\n" % (i, COURSE, 60 + i) for i in range(n)))
    wait_for(lambda: len(g.lms.grades) >= n, timeout=40, what="all grades")
    time.sleep(3)
    assert sorted(g.lms.grades) == sorted(("sid-t%d-1" % i, str((60 + i) / 100))
                                          for i in range(n))
    owners = g.srv.sql("SELECT owner FROM outbox_drainer")
    assert len(owners) == 1
