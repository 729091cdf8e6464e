"""The instructor and facilitator dashboard and the learner's course (issue 8): per learner
progress, score, badge, grade return with "send again" (CSRF token and a staff role
needed), the class summary, the CSV export for French Excel (BOM, ';', CRLF, decimal
comma, formula guard), the learner's module statuses and progress bar, and certificates of
completion with their public verification page.  Grades go to test_600's loopback LMS
(OAuth-verified Basic Outcomes)."""
import csv
import html
import io
import json
import os
import re
import time
import types

import pytest

import ptechtest as pt
import test_600_grades as g600

COURSE = g600.COURSE
XSS = '<script>alert("x")</script> Zoé'
FORMULA = '=HYPERLINK("http://evil.example","clic")'


@pytest.fixture
def dg(httpd_factory):
    srv = httpd_factory(directives=g600.GRADES)
    srv.start()
    key, secret = srv.add_consumer()
    lms = g600.LMS(key, secret)
    yield types.SimpleNamespace(srv=srv, key=key, secret=secret, lms=lms)
    lms.stop()


def messages(lang):
    with open(os.path.join(pt.REPO, "conf", "messages", lang + ".json"), encoding="utf-8") as f:
        return json.load(f)


def learner(g, uid, name, email=None, locale="fr"):
    p = g600.student(g.lms, uid, email=email)
    p["lis_person_name_full"] = name
    p["launch_presentation_locale"] = locale
    return g.srv.launch_and_follow(p, g.key, g.secret)


def teacher(g, locale="fr", roles=None):
    p = pt.moodle_params("teacher", resource_link_id="1", custom_course=COURSE,
                         launch_presentation_locale=locale)
    if roles:
        p["roles"] = roles
    return g.srv.launch_and_follow(p, g.key, g.secret)


def rows_of(page):
    """{user id: the <tr> of that learner} of the dashboard table."""
    out = {}
    for tr in re.findall(r'<tr class="learner">(.*?)</tr>', page, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        out[html.unescape(cells[2])] = tr
    return out


def resend_form(tr):
    m = re.search(r'<form[^>]*action="/ptech/course/resend">(.*?)</form>', tr, re.S)
    return dict(re.findall(r'name="(\w+)" value="([^"]*)"', m.group(1))) if m else None


def cookie(sid):
    return {"Cookie": "ptech_sid=" + sid}


def test_800_dashboard_statuses_and_resend(dg):
    g = dg
    g.lms.script = ["ok", "fail"]
    s1, _ = learner(g, "31", XSS, email="zoe@example.com")
    s2, _ = learner(g, "32", FORMULA)
    learner(g, "33", "Never Progressed")
    g600.import_csv(g, "user,course,module,status,score,date\r\n"
                       "31,%s,,passed,85.5,2026-03-14\r\n" % COURSE)
    g600.wait_for(lambda: g600.outbox(g, "--pending") == [] and g.lms.grades, what="grade 31")
    g600.import_csv(g, "user,course,module,status,score,date\r\n"
                       "32,%s,threat-landscape,completed,40,2026-03-14\r\n" % COURSE)
    g600.wait_for(lambda: g600.outbox(g, "--failed"), what="the failed return of 32")
    t_sid, page = teacher(g, "en")
    t = page.text
    pt.assert_no_inline_code(t)
    assert "<script>alert" not in t and html.escape(XSS, quote=False) in t.replace("&quot;", '"')
    rows = rows_of(t)
    assert set(rows) == {"31", "32", "33"}, t   # the teacher is not a learner row
    assert 'value="5"' in rows["31"] and "Passed" in rows["31"] and "85.5" in rows["31"]
    assert "Sent" in rows["31"] and "Awarded" in rows["31"]
    assert 'max="5" value="1"' in rows["32"] and "In progress" in rows["32"]
    assert "Failed" in rows["32"] and "No such activity" in rows["32"]
    assert "Not started" in rows["33"] and 'value="0"' in rows["33"] and "None" in rows["33"]
    assert resend_form(rows["33"]) is None
    # Summary: 3 launched, 1 in progress, 1 completed, 1 badge.
    summary = dict(re.findall(r"<dt>(.*?)</dt><dd>(\d+)</dd>", t))
    assert summary == {"Launched": "3", "In progress": "1", "Completed": "1",
                       "Badges awarded": "1"}, summary

    f = resend_form(rows["32"])
    assert f and f["csrf"] and f["person"]
    audit0 = g.srv.count("audit")
    # Without the token, with a wrong one, or as a learner (own valid token): refused.
    pt.assert_error_page(g.srv.post("/ptech/course/resend", data={"person": f["person"]},
                                    headers=cookie(t_sid)), 403, "csrf")
    pt.assert_error_page(g.srv.post("/ptech/course/resend", data={
        "person": f["person"], "csrf": "0" * len(f["csrf"])}, headers=cookie(t_sid)), 403,
        "csrf")
    s_csrf = g.srv.sql("SELECT csrf FROM sessions s JOIN persons p ON p.id = s.person_id "
                       "WHERE p.user_id = '31'")[0][0]
    pt.assert_error_page(g.srv.post("/ptech/course/resend", data={
        "person": f["person"], "csrf": s_csrf}, headers=cookie(s1)), 403, "resend_forbidden")
    pt.assert_error_page(g.srv.post("/ptech/course/resend", data={
        "person": "999999", "csrf": f["csrf"]}, headers=cookie(t_sid)), 400, "resend_unknown")
    assert g.srv.get("/ptech/course/resend", headers=cookie(t_sid)).status_code == 405
    assert [r[0] for r in g.srv.sql("SELECT reason FROM audit WHERE id > ? ORDER BY id",
                                    (audit0,))] == ["csrf", "csrf", "resend_forbidden",
                                                    "resend_unknown"]
    assert len(g.srv.sql("SELECT id FROM outbox WHERE state = 'failed'")) == 1
    n = len(g.lms.grades)
    r = g.srv.post("/ptech/course/resend", data=f, headers=cookie(t_sid))
    assert r.status_code == 303, r.text
    g600.wait_for(lambda: len(g.lms.grades) > n, what="the grade sent again")
    (score32,) = g.srv.sql("SELECT o.score FROM outbox o JOIN persons p ON p.id = o.person_id"
                           " WHERE p.user_id = '32'")[0]
    assert 0 < score32 < 0.2
    assert g.lms.grades[-1][0] == "sid-32-1" and float(g.lms.grades[-1][1]) == \
        pytest.approx(score32, abs=1e-4)
    g600.wait_for(lambda: g.srv.sql("SELECT state FROM outbox WHERE state != 'sent'") == [],
                  what="every row sent")
    # A sent row can be sent again too.
    f31 = resend_form(rows_of(g.srv.course_page(t_sid).text)["31"])
    n = len(g.lms.grades)
    assert g.srv.post("/ptech/course/resend", data=f31, headers=cookie(t_sid)).status_code == 303
    g600.wait_for(lambda: len(g.lms.grades) > n, what="the sent grade sent again")
    assert g.lms.grades[-1] == ("sid-31-1", "0.855")
    # The staff-only export and the dashboard are not a learner's.
    pt.assert_error_page(g.srv.get("/ptech/course/export.csv", headers=cookie(s2)), 403,
                         "export_forbidden")
    assert 'action="/ptech/course/resend"' not in g.srv.course_page(s2).text


def test_800_csv_export(dg):
    g = dg
    learner(g, "41", XSS, email="zoe@example.com")
    learner(g, "42", FORMULA)
    learner(g, "43", "+Plus; \"Quoted\"\nName", email="@at@example.com")
    g600.import_csv(g, "user,course,module,status,score,date\r\n"
                       "41,%s,,passed,85.5,2026-03-14\r\n" % COURSE)
    g600.wait_for(lambda: g.srv.count("outbox", "state = 'sent'") == 1, what="grade 41")
    t_sid, _ = teacher(g, "fr")
    r = g.srv.get("/ptech/course/export.csv", headers=cookie(t_sid))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert r.headers["Content-Disposition"] == 'attachment; filename="ptech-%s.csv"' % COURSE
    raw = r.content
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    # Records end with CRLF; the one bare LF is inside the quoted name of learner 43.
    assert text.endswith("\r\n") and text.count("\n") == text.count("\r\n") + 1
    table = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    fr = messages("fr")
    assert table[0] == [fr[k] for k in ("name", "email", "user_id", "dash_status", "score",
                                        "dash_modules_done", "last_launch", "grade_return")]
    by_id = {row[2]: row for row in table[1:]}
    assert set(by_id) == {"41", "42", "43"}, table
    assert by_id["41"][0] == XSS and by_id["41"][1] == "zoe@example.com"
    assert by_id["41"][3] == fr["result_passed"] and by_id["41"][4] == "85,5" and by_id["41"][5] == "5/5"
    assert by_id["41"][7] == fr["ret_sent"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", by_id["41"][6]), by_id["41"]
    # Formulas are guarded, quotes and line breaks kept.
    assert by_id["42"][0] == "'" + FORMULA
    assert by_id["43"][0] == "'+Plus; \"Quoted\"\nName" and by_id["43"][1] == "'@at@example.com"
    assert by_id["43"][3] == fr["dash_not_started"] and by_id["43"][4] == "" and by_id["43"][5] == "0/5"


def test_800_learner_page_and_certificate(dg):
    g = dg
    sid, page = learner(g, "51", "Amina <b>El Idrissi</b>", locale="ar")
    t = page.text
    assert '<html lang="ar" dir="rtl">' in t
    assert 'max="5" value="0"' in t and "<b>" not in t
    links = re.findall(r'<a href="([^"]+)" target="_blank" rel="noopener">', t)
    assert len(links) == 5 and all("actor=" in u and "endpoint=" in u for u in links), links
    assert "/ptech/course/certificate" not in t
    cert = g.srv.course_page(sid, path="/ptech/course/certificate")
    pt.assert_error_page(cert, 404, "certificate_none")
    assert g.srv.count("badge_awards") == 0
    g600.import_csv(g, "user,course,module,status,score,date\r\n"
                       "51,%s,threat-landscape,passed,90,2026-03-14\r\n" % COURSE)
    t = g.srv.course_page(sid).text
    assert 'max="5" value="1"' in t and t.count('class="tag passed"') == 1
    assert t.count('class="tag not_started"') == 4
    g600.import_csv(g, "user,course,module,status,score,date\r\n"
                       "51,%s,,passed,88,2026-03-15\r\n" % COURSE)
    t = g.srv.course_page(sid).text
    assert 'max="5" value="5"' in t and "/ptech/course/certificate" in t
    (cid,) = g.srv.sql("SELECT id FROM badge_awards")[0]
    assert re.fullmatch(r"[0-9a-f]{32}", cid)
    cert = g.srv.course_page(sid, path="/ptech/course/certificate")
    assert cert.status_code == 200
    pt.assert_no_inline_code(cert.text)
    assert "Amina &lt;b&gt;El Idrissi&lt;/b&gt;" in cert.text
    assert pt.Catalog().title(COURSE, "ar") in cert.text.replace("&#39;", "'")
    url = g.srv.public_url + "/ptech/certificate/" + cid
    assert url in cert.text and 'class="cert-state valid"' in cert.text
    # The id is the badge award's, made when the course was passed; it does not change.
    g.srv.course_page(sid, path="/ptech/course/certificate")
    assert g.srv.sql("SELECT id FROM badge_awards") == [(cid,)]
    # The public page: no cookie, the reader's language, only name, course, date, state.
    pub = g.srv.get("/ptech/certificate/" + cid, headers={"Accept-Language": "en"})
    assert pub.status_code == 200 and '<html lang="en" dir="ltr">' in pub.text
    assert "Amina &lt;b&gt;El Idrissi&lt;/b&gt;" in pub.text
    assert pt.Catalog().title(COURSE, "en") in pub.text.replace("&#39;", "'")
    assert "Valid certificate" in pub.text
    issued = g.srv.sql("SELECT issued FROM badge_awards")[0][0]
    day = time.strftime("%Y-%m-%d", time.gmtime(issued + 3600))    # +01:00 (no Ramadan now)
    assert ('<time datetime="%s">' % day) in pub.text
    main = pub.text.split("<main>")[1]
    assert "s51@example.com" not in main and "sid-51" not in main and "Code" not in main
    assert 'class="who">' in main and "<form" not in main
    # Revoked, unknown and malformed ids.
    # The certificate is the course's badge award: revoking the badge revokes it.
    r = g.srv.ptechctl("badges", "revoke", cid, "--reason", "copied work")
    assert r.returncode == 0, r.stderr
    assert g.srv.sql("SELECT revoke_reason FROM badge_awards") == [("copied work",)]
    pub = g.srv.get("/ptech/certificate/" + cid, headers={"Accept-Language": "fr"})
    assert pub.status_code == 200 and "Attestation révoquée" in pub.text
    assert 'class="cert-state revoked"' in pub.text
    for bad in ("0" * 32, "not-an-id", cid.upper(), cid + "0"):
        r = g.srv.get("/ptech/certificate/" + bad, headers={"Accept-Language": "en"})
        assert r.status_code == 404 and "Unknown certificate" in r.text, bad
        assert "Amina" not in r.text
    assert g.srv.post("/ptech/certificate/" + cid).status_code == 405
