"""Progress from content and instructors (issue 7): POST /ptech/xapi/statements with a
provider's HTTP Basic credentials (ptechctl provider), its refusals (each one changes nothing
and leaves an audit row), the instructor's attestation form, and the demo's "simulate
progress" button; grades reach test_600's loopback LMS (OAuth-verified Basic Outcomes)."""
import base64
import json
import re
import types
import urllib.parse
import uuid

import pytest
import requests

import ptechtest as pt
import test_600_grades as g600

COURSE = g600.COURSE
VERB = "http://adlnet.gov/expapi/verbs/"
MODULES = ["threat-landscape", "cryptography-basics", "network-security", "incident-response",
           "final-assessment"]


@pytest.fixture
def xg(httpd_factory):
    srv = httpd_factory(directives=g600.GRADES)
    srv.start()
    key, secret = srv.add_consumer()
    lms = g600.LMS(key, secret)
    r = srv.ptechctl("provider", "add", "ibm")
    assert r.returncode == 0, r.stderr
    psecret = r.stdout.splitlines()[-1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", psecret), r.stdout
    yield types.SimpleNamespace(srv=srv, key=key, secret=secret, lms=lms, psecret=psecret)
    lms.stop()


def activity(g, module=None):
    return g.srv.public_url + "/ptech/xapi/activities/" + COURSE + ("/" + module if module
                                                                    else "")


def account(g, name):
    return {"account": {"homePage": g.srv.public_url + "/ptech", "name": name}}


def statement(actor, verb, obj, result=None, **extra):
    s = {"actor": actor, "verb": {"id": VERB + verb, "display": {"en-US": verb}},
         "object": {"objectType": "Activity", "id": obj}}
    if result is not None:
        s["result"] = result
    s.update(extra)
    return s


def post(g, body, auth=None, raw=None, headers=None):
    h = {"Content-Type": "application/json", "X-Experience-API-Version": "1.0.3"}
    h.update(headers or {})
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.post(g.srv.url("/ptech/xapi/statements"), data=data, headers=h,
                         auth=auth if auth is not None else ("ibm", g.psecret), timeout=60)


def learner_actor(g, uid, email=None):
    """Launches learner uid and returns (sid, the account name from the page's content
    links)."""
    sid, page = g.srv.launch_and_follow(g600.student(g.lms, uid, email=email), g.key,
                                        g.secret)
    links = re.findall(r'<a href="([^"]+)" target="_blank"', page.text)
    assert len(links) == len(MODULES), page.text
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(links[0].replace("&amp;", "&")).query)
    assert q["endpoint"] == [g.srv.public_url + "/ptech/xapi/"]
    assert q["activity_id"] == [activity(g, MODULES[0])]
    actor = json.loads(q["actor"][0])
    assert actor["objectType"] == "Agent"
    assert actor["account"]["homePage"] == g.srv.public_url + "/ptech"
    name = actor["account"]["name"]
    assert re.fullmatch(r"[0-9a-f]{32}", name), name
    # Stable: the next page view gives the same account.
    assert name in g.srv.course_page(sid).text
    return sid, name


def nothing_changed(g):
    assert g.srv.count("progress") == 0
    assert g.srv.count("course_results") == 0
    assert g.srv.count("outbox") == 0
    assert g.srv.count("progress_kept") == 0


def test_700_xapi_statements_move_progress_and_grade(xg):
    g = xg
    sid, name = learner_actor(g, "21", email="Learner.21@Example.com")
    given = str(uuid.uuid4()).upper()
    batch = [statement(account(g, name), "scored", activity(g, m),
                       {"score": {"scaled": 0.8}, "success": True, "completion": True})
             for m in MODULES[:4]]
    batch[0]["id"] = given
    r = post(g, batch)
    assert r.status_code == 200, r.text
    assert r.headers["X-Experience-API-Version"] == "1.0.3"
    ids = r.json()
    assert len(ids) == 4 and ids[0] == given.lower() and len(set(ids)) == 4
    assert all(re.fullmatch(r"[0-9a-f-]{36}", i) for i in ids)
    rows = g.srv.sql("SELECT module_id, status, score, source, evidence FROM progress "
                     "ORDER BY module_id")
    assert len(rows) == 4 and all(r[1] == "passed" and r[3] == "xapi" for r in rows), rows
    assert any(given.lower() in r[4] and "provider ibm" in r[4] for r in rows), rows
    # The last module by mbox (case-insensitive email), as one statement (not an array).
    r = post(g, statement({"mbox": "mailto:learner.21@example.COM"}, "passed",
                          activity(g, MODULES[4]), {"score": {"scaled": 0.8}}))
    assert r.status_code == 200, r.text
    assert g.srv.sql("SELECT status, score FROM course_results") == [("passed", 0.8)]
    g600.wait_for(lambda: len(g.lms.grades) >= 1, what="the grade")
    assert g.lms.grades == [("sid-21-1", "0.8")] and g.lms.bad == []
    page = g.srv.course_page(sid)
    assert "Réussi" in page.text or "Passed" in page.text
    # Sending the same statements again changes nothing.
    assert post(g, batch).status_code == 200
    assert g.srv.count("outbox") == 1
    # Providers: listed without the secret; removed ones are refused.
    r = g.srv.ptechctl("provider", "list")
    assert r.returncode == 0 and r.stdout.startswith("ibm\t") and g.psecret not in r.stdout
    assert g.psecret not in str(g.srv.sql("SELECT * FROM xapi_providers"))
    assert g.srv.ptechctl("provider", "add", "ibm").returncode == 1
    assert g.srv.ptechctl("provider", "add", "bad name").returncode == 1
    assert g.srv.ptechctl("provider", "add").returncode == 2
    assert g.srv.ptechctl("provider", "remove", "ibm").returncode == 0
    assert g.srv.ptechctl("provider", "remove", "ibm").returncode == 1
    assert post(g, batch).status_code == 401


def test_700_xapi_refusals_change_nothing(xg):
    g = xg
    sid, name = learner_actor(g, "22")
    good = statement(account(g, name), "passed", activity(g, MODULES[0]))
    audit0 = g.srv.count("audit")
    cases = [
        # (what, response, status, reason)
        ("no credentials", requests.post(g.srv.url("/ptech/xapi/statements"),
                                         data=json.dumps(good), timeout=30),
         401, "xapi_auth_missing"),
        ("wrong secret", post(g, good, auth=("ibm", g.psecret[:-1] + "x")), 401,
         "xapi_auth_failed"),
        ("unknown provider", post(g, good, auth=("other", g.psecret)), 401,
         "xapi_auth_failed"),
        ("unknown actor", post(g, statement(account(g, "0" * 32), "passed",
                                            activity(g, MODULES[0]))), 400,
         "xapi_actor_unknown"),
        ("unknown mbox", post(g, statement({"mbox": "mailto:nobody@example.com"}, "passed",
                                           activity(g, MODULES[0]))), 400,
         "xapi_actor_unknown"),
        ("another system's account",
         post(g, statement({"account": {"homePage": "https://lrs.example", "name": name}},
                           "passed", activity(g, MODULES[0]))), 400, "xapi_actor_unknown"),
        ("unknown activity", post(g, statement(account(g, name), "passed",
                                               activity(g, "no-such-module"))), 400,
         "xapi_activity_unknown"),
        ("malformed JSON", post(g, None, raw=b'{"actor": '), 400, "xapi_malformed_json"),
        ("duplicate keys", post(g, None, raw=json.dumps(good)[:-1].encode()
                                + b', "verb": {"id": "' + VERB.encode() + b'failed"}}'),
         400, "xapi_malformed_json"),
        ("score out of range", post(g, statement(account(g, name), "scored",
                                                 activity(g, MODULES[0]),
                                                 {"score": {"scaled": 1.5}})), 400,
         "xapi_score_range"),
        ("unsupported verb", post(g, statement(account(g, name), "experienced",
                                               activity(g, MODULES[0]))), 400,
         "xapi_verb_unsupported"),
        ("mixed batch", post(g, [good, statement(account(g, name), "passed",
                                                 activity(g, "nope"))]), 400,
         "xapi_activity_unknown"),
        ("5 MB body", post(g, None, raw=b"[" + b" " * (5 * 1024 * 1024) + b"]"), 413,
         "xapi_too_large"),
    ]
    for what, r, status, reason in cases:
        assert r.status_code == status, (what, r.status_code, r.text[:300])
        assert r.headers["Content-Type"].startswith("application/json"), what
        body = r.json()
        assert body["error"] == reason, (what, body)
        assert body["message"], what
        if status == 401:
            assert r.headers["WWW-Authenticate"].startswith("Basic realm="), what
    # The mixed batch names the bad statement.
    assert "statement 2:" in cases[-2][1].json()["message"]
    nothing_changed(g)
    reasons = [row[0] for row in g.srv.sql("SELECT reason FROM audit WHERE id > ? ORDER BY id",
                                           (audit0,))]
    assert reasons == [c[3] for c in cases], reasons
    # The secret never reaches the audit log or the error log.
    assert g.psecret[:-1] not in str(g.srv.sql("SELECT * FROM audit"))
    assert g.psecret[:-1] not in g.srv.log_text()
    # Other methods; the about resource.
    r = requests.get(g.srv.url("/ptech/xapi/statements"), auth=("ibm", g.psecret), timeout=30)
    assert r.status_code == 405 and "POST" in r.headers["Allow"], r.headers
    r = g.srv.get("/ptech/xapi/about")
    assert r.status_code == 200 and r.json() == {"version": ["1.0.3"]}
    # After all that, a good statement is accepted.
    r = post(g, good)
    assert r.status_code == 200, r.text
    assert g.srv.count("progress") == 1


def _attest_forms(page):
    return [f for f in pt.parse_forms(page.text) if f["action"] == "/ptech/course/attest"]


def test_700_attestation(xg):
    g = xg
    s_sid, _ = g.srv.launch_and_follow(g600.student(g.lms, "23"), g.key, g.secret)
    s_sid2, _ = g.srv.launch_and_follow(g600.student(g.lms, "24"), g.key, g.secret)
    t_sid, t_page = g.srv.launch_and_follow(
        pt.moodle_params("teacher", resource_link_id="1", custom_course=COURSE,
                         launch_presentation_locale="en"), g.key, g.secret)
    forms = _attest_forms(t_page)
    assert len(forms) == 2, t_page.text        # one per learner, none for the teacher
    pt.assert_no_inline_code(t_page.text)
    f = forms[0]
    fields = dict(f["inputs"])
    assert f["method"] == "post" and f["selects"]["module"] == [""] + MODULES
    person = fields["person"]
    csrf = fields["csrf"]
    uid = g.srv.sql("SELECT user_id FROM persons WHERE id = ?", (int(person),))[0][0]

    def attest(sid, data):
        return g.srv.post("/ptech/course/attest", data=data,
                          headers={"Cookie": "ptech_sid=" + sid})

    audit0 = g.srv.count("audit")
    pt.assert_error_page(attest(t_sid, {"person": person, "module": ""}), 403, "csrf")
    pt.assert_error_page(attest(t_sid, {"csrf": "0" * len(csrf), "person": person}), 403,
                         "csrf")
    # A learner is refused, even with a valid token of their own session.
    s_csrf = g.srv.sql("SELECT csrf FROM sessions s JOIN persons p ON p.id = s.person_id "
                       "WHERE p.user_id = '23'")[0][0]
    pt.assert_error_page(attest(s_sid, {"csrf": s_csrf, "person": person, "module": ""}),
                         403, "attest_forbidden")
    pt.assert_error_page(attest(t_sid, {"csrf": csrf, "person": person, "module": "nope"}),
                         400, "module_unknown")
    pt.assert_error_page(attest(t_sid, {"csrf": csrf, "person": "999999", "module": ""}),
                         400, "attest_unknown_learner")
    pt.assert_error_page(attest(t_sid, {"csrf": csrf, "person": "x", "module": ""}),
                         400, "attest_unknown_learner")
    assert g.srv.count("progress") == 0 and g.srv.count("outbox") == 0
    assert [r[0] for r in g.srv.sql("SELECT reason FROM audit WHERE id > ? ORDER BY id",
                                    (audit0,))] == ["csrf", "csrf", "attest_forbidden",
                                                    "module_unknown", "attest_unknown_learner",
                                                    "attest_unknown_learner"]
    # One module, then the whole course.
    r = attest(t_sid, {"csrf": csrf, "person": person, "module": MODULES[0]})
    assert r.status_code == 303, r.text
    assert g.srv.sql("SELECT module_id, status, source FROM progress") == \
        [(MODULES[0], "passed", "instructor")]
    assert g.srv.sql("SELECT status FROM course_results") == [("in_progress",)]
    r = attest(t_sid, {"csrf": csrf, "person": person, "module": ""})
    assert r.status_code == 303, r.text
    ev = g.srv.sql("SELECT evidence FROM progress WHERE module_id = ''")[0][0]
    assert ev.startswith("attested by ") and "LMS user id" in ev, ev
    g600.wait_for(lambda: len(g.lms.grades) >= 1, what="the attested grade")
    import time
    time.sleep(1.5)
    assert g.lms.grades == [("sid-%s-1" % uid, "1.0")], g.lms.grades
    assert g.srv.sql("SELECT COUNT(*) FROM course_results") == [(1,)]


def test_700_demo_simulate_progress(xg, httpd_factory):
    g = xg
    sid, page = g.srv.launch_and_follow(g600.student(g.lms, "25"), g.key, g.secret)
    forms = [f for f in pt.parse_forms(page.text) if f["action"] == "/ptech/course/simulate"]
    assert len(forms) == 1, page.text
    pt.assert_no_inline_code(page.text)
    csrf = dict(forms[0]["inputs"])["csrf"]
    assert forms[0]["selects"]["module"] == [""] + MODULES

    def simulate(data):
        return g.srv.post("/ptech/course/simulate", data=data,
                          headers={"Cookie": "ptech_sid=" + sid})

    pt.assert_error_page(simulate({"module": ""}), 403, "csrf")
    assert g.srv.count("progress") == 0
    r = simulate({"csrf": csrf, "module": MODULES[0]})
    assert r.status_code == 303, r.text
    assert g.srv.sql("SELECT module_id, source FROM progress") == [(MODULES[0], "xapi")]
    r = simulate({"csrf": csrf, "module": ""})
    assert r.status_code == 303, r.text
    rows = g.srv.sql("SELECT status, source, evidence FROM progress")
    assert len(rows) == 5 and all(r[0] == "passed" and r[1] == "xapi"
                                  and "provider demo" in r[2] for r in rows), rows
    assert g.srv.sql("SELECT status FROM course_results") == [("passed",)]
    g600.wait_for(lambda: len(g.lms.grades) >= 1, what="the simulated grade")
    assert g.lms.grades[-1][0] == "sid-25-1"
    page = g.srv.course_page(sid)
    assert "Réussi" in page.text or "Passed" in page.text


def test_700_no_simulate_without_demo(httpd_factory):
    srv = httpd_factory(demo=False)
    srv.start()
    key, secret = srv.add_consumer()
    sid, page = srv.launch_and_follow(
        pt.moodle_params("student", custom_course=COURSE), key, secret)
    assert "/ptech/course/simulate" not in page.text
    csrf = srv.sql("SELECT csrf FROM sessions")[0][0]
    r = srv.post("/ptech/course/simulate", data={"csrf": csrf, "module": ""},
                 headers={"Cookie": "ptech_sid=" + sid})
    pt.assert_error_page(r, 404, "not_found")
    assert srv.count("progress") == 0
