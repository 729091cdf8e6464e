"""Issue 3, LTI 1.1 launches shaped like Moodle 4.5's: sessions, learner and instructor pages,
the course chooser, cookies, the public URL, concurrency and the demo LMS."""
import concurrent.futures
import json
import re


import ptechtest as pt

FATIMA = "فاطمة الزهراء العمراني"
ELODIE = "Élodie Benaïssa"


def esc(s):
    """What the module's ap_escape_html2 makes of s."""
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def student(user_id, full, locale, **kw):
    given, _, family = full.partition(" ")
    p = dict(user_id=user_id, lis_person_name_full=full, lis_person_name_given=given,
             lis_person_name_family=family or "-", custom_user_id_sub=user_id,
             ext_user_username="u" + user_id,
             lis_person_contact_email_primary="u%s@etu.univh2c.ma" % user_id,
             launch_presentation_locale=locale)
    p.update(kw)
    return pt.moodle_params("student", **p)


def check_learner_page(r, catalog, cid, lang, frame_origin="http://127.0.0.1:8081"):
    assert r.status_code == 200, (r.status_code, r.text[:2000])
    assert r.headers["Content-Type"].startswith("text/html")
    t = r.text
    dir_ = "rtl" if lang == "ar" else "ltr"
    assert '<html lang="%s" dir="%s">' % (lang, dir_) in t, t[:400]
    assert "<h1>%s</h1>" % esc(catalog.title(cid, lang)) in t
    mods = catalog.courses[cid]["modules"]
    assert mods
    for m in mods:
        # A learner's content link carries the xAPI launch parameters (test_700).
        u = esc(m["url"])
        assert 'href="%s"' % u in t or 'href="%s%sendpoint=' % (
            u, "&amp;" if "?" in m["url"] else "?") in t, m
        assert esc(m["titles"].get(lang) or m["titles"]["fr"]) in t, m
    assert t.count("<li>") == len(mods)
    pt.assert_no_inline_code(t)
    csp = r.headers["Content-Security-Policy"]
    # Framed by the LMS that launched (launch_presentation_return_url's origin) only.
    assert csp.endswith("frame-ancestors 'self' %s" % frame_origin), csp


def test_200_student_launches(server, consumer, catalog):
    key, secret = consumer
    cid = catalog.order[1]
    cases = [("101", FATIMA, "ar", "ar"), ("102", ELODIE, "fr", "fr"),
             ("103", "Sam Student", "en", "en"), ("104", "Youssef Benali", "fr-FR", "fr"),
             ("105", "Amina Haddad", None, "fr")]
    sids = set()
    for uid, name, locale, lang in cases:
        params = student(uid, name, locale, custom_course=cid)
        assert locale is not None or "launch_presentation_locale" not in params
        r = server.launch(params, key, secret)
        assert r.status_code == 303, r.text
        assert r.headers["Location"] == server.base + "/ptech/course"
        sid, attrs = pt.parse_cookie(r)
        assert sid and pt.SID_RE.fullmatch(sid)
        assert sid not in sids          # a fresh session id on every launch
        sids.add(sid)
        assert attrs.get("path") == "/ptech"
        assert "httponly" in attrs
        assert attrs.get("samesite") == "Lax"
        assert "secure" not in attrs
        page = server.course_page(sid)
        check_learner_page(page, catalog, cid, lang)

        tenant = "lti11:" + key
        rows = server.sql("SELECT id, full_name, email FROM persons WHERE tenant=? AND "
                          "user_id=?", (tenant, uid))
        assert len(rows) == 1 and rows[0][1] == name, rows
        assert rows[0][2] == "u%s@etu.univh2c.ma" % uid
        pid = rows[0][0]
        m = server.sql("SELECT m.result_sourcedid, m.outcome_url, l.course_id, l.link_id "
                       "FROM link_members m JOIN resource_links l ON l.id = m.link_pk "
                       "WHERE m.person_id=?", (pid,))
        assert m == [(params["lis_result_sourcedid"], params["lis_outcome_service_url"],
                      cid, "1")], m
        json.loads(m[0][0])             # stored as Moodle sent it, a JSON string
        assert server.count("launches", "person_id=?", (pid,)) == 1
        assert server.count("sessions", "person_id=?", (pid,)) == 1
        # The session id itself is never stored, only a hash of its random part.
        secret_part = pt.sid_secret_part(sid)
        assert len(secret_part) >= 32
        assert server.count("sessions", "instr(id_hash, ?) > 0", (secret_part,)) == 0
    assert server.count("sessions") == len(cases)
    assert server.count("audit") == 0
    # A second launch of the same person updates, it does not duplicate.
    r = server.launch(student("101", FATIMA, "ar", custom_course=cid), key, secret)
    assert r.status_code == 303
    assert server.count("persons", "user_id='101'") == 1
    # The newest email wins; a launch without one keeps it.
    r = server.launch(student("101", FATIMA, "ar", custom_course=cid,
                              lis_person_contact_email_primary="Fatima.New@Etu.Univh2c.ma"),
                      key, secret)
    assert r.status_code == 303
    r = server.launch(student("101", FATIMA, "ar", custom_course=cid,
                              lis_person_contact_email_primary=None), key, secret)
    assert r.status_code == 303
    assert server.sql("SELECT email FROM persons WHERE user_id='101'") == \
        [("Fatima.New@Etu.Univh2c.ma",)]
    assert server.count("launches") == len(cases) + 3
    assert server.count("link_members") == len(cases)


def test_201_instructor_sees_learners(server, consumer, catalog):
    key, secret = consumer
    cid = catalog.order[0]
    odd = 'Zoé <b>"Bold"</b> & Co'
    for uid, name in (("201", FATIMA), ("202", ELODIE), ("203", odd)):
        r = server.launch(student(uid, name, "fr", custom_course=cid), key, secret)
        assert r.status_code == 303
    # A learner of another link is not listed.
    r = server.launch(student("204", "Other Link", "fr", custom_course=cid,
                              resource_link_id="99"), key, secret)
    assert r.status_code == 303
    sid, page = server.launch_and_follow(pt.moodle_params("teacher", custom_course=cid,
                                                          launch_presentation_locale="fr"),
                                         key, secret)
    assert page.status_code == 200
    t = page.text
    assert "<h1>%s</h1>" % esc(catalog.title(cid, "fr")) in t
    for name in (FATIMA, ELODIE):
        assert "<td>%s</td>" % name in t, name
    assert "<td>%s</td>" % esc(odd) in t
    assert "<b>" not in t
    assert "Other Link" not in t
    assert "u201@etu.univh2c.ma" in t
    # The instructor can change the course of the link.
    forms = pt.parse_forms(t)
    assert any(f["action"] == "/ptech/course/choose" for f in forms)


def _chooser(page):
    forms = [f for f in pt.parse_forms(page.text) if f["action"] == "/ptech/course/choose"]
    assert len(forms) == 1, page.text
    f = forms[0]
    assert f["method"] == "post"
    csrf = dict(f["inputs"]).get("csrf")
    assert csrf and len(csrf) >= 16
    return csrf, f["selects"]["course"]


def _choose(server, sid, fields):
    return server.post("/ptech/course/choose", data=fields,
                       headers={"Cookie": "ptech_sid=" + sid})


def test_202_chooser(server, consumer, catalog):
    key, secret = consumer
    link = dict(resource_link_id="unmapped-7", resource_link_title="Activité sans cours")
    # A student first: not configured yet.
    s_sid, s_page = server.launch_and_follow(student("301", ELODIE, "fr", **link), key, secret)
    assert s_page.status_code == 200
    assert "pas encore configurée" in s_page.text
    assert "<ul class=\"modules\">" not in s_page.text

    t_sid, t_page = server.launch_and_follow(
        pt.moodle_params("teacher", launch_presentation_locale="en", **link), key, secret)
    assert t_page.status_code == 200
    assert "not configured yet" in t_page.text
    csrf, options = _chooser(t_page)
    assert options == catalog.order
    assert "<ul class=\"modules\">" not in t_page.text

    cid = catalog.order[2]
    audit0 = server.count("audit")
    # Wrong, missing and another session's CSRF token: 403.
    r = _choose(server, t_sid, {"csrf": "0" * len(csrf), "course": cid})
    pt.assert_error_page(r, 403, "csrf")
    r = _choose(server, t_sid, {"course": cid})
    pt.assert_error_page(r, 403, "csrf")
    # A student cannot choose, even with a valid token of their own session.
    r = _choose(server, s_sid, {"csrf": csrf, "course": cid})
    pt.assert_error_page(r, 403, "course_choose_forbidden")
    # A course that is not in the catalog.
    r = _choose(server, t_sid, {"csrf": csrf, "course": "no-such-course"})
    pt.assert_error_page(r, 400, "course_unknown")
    # Without a session.
    r = server.post("/ptech/course/choose", data={"csrf": csrf, "course": cid})
    assert r.status_code == 401
    assert server.sql("SELECT course_id FROM resource_links WHERE link_id='unmapped-7'") \
        == [(None,)]
    assert server.sql("SELECT reason, http_status FROM audit WHERE id > ? ORDER BY id",
                      (audit0,)) == [("csrf", 403), ("csrf", 403),
                                     ("course_choose_forbidden", 403), ("course_unknown", 400)]

    r = _choose(server, t_sid, {"csrf": csrf, "course": cid})
    assert r.status_code == 303, r.text
    assert r.headers["Location"] == server.base + "/ptech/course"
    assert server.sql("SELECT course_id, course_source FROM resource_links "
                      "WHERE link_id='unmapped-7'") == [(cid, "chooser")]
    page = server.course_page(t_sid)
    assert "<h1>%s</h1>" % esc(catalog.title(cid, "en")) in page.text
    csrf2, _ = _chooser(page)
    assert csrf2 == csrf
    # The student's open session now shows the course, and so does a new launch.
    check_learner_page(server.course_page(s_sid), catalog, cid, "fr")
    _, page = server.launch_and_follow(student("302", FATIMA, "ar", **link), key, secret)
    check_learner_page(page, catalog, cid, "ar")
    # The custom parameter wins over the chooser.
    other = catalog.order[4]
    _, page = server.launch_and_follow(student("303", ELODIE, "fr", custom_course=other,
                                               **link), key, secret)
    check_learner_page(page, catalog, other, "fr")
    assert server.sql("SELECT course_id, course_source FROM resource_links "
                      "WHERE link_id='unmapped-7'") == [(other, "custom")]


def test_203_unknown_course(server, consumer):
    key, secret = consumer
    bad = "no-such-course-42"
    _, page = server.launch_and_follow(student("401", ELODIE, "fr", custom_course=bad),
                                       key, secret)
    assert page.status_code == 200
    assert "Cours inconnu" in page.text and "<code>%s</code>" % bad in page.text
    _, page = server.launch_and_follow(
        pt.moodle_params("teacher", custom_course=bad, launch_presentation_locale="en"),
        key, secret)
    assert page.status_code == 200
    assert "Unknown course" in page.text and "<code>%s</code>" % bad in page.text
    _chooser(page)


def test_204_no_cookie(server, consumer):
    key, secret = consumer
    r = server.launch(pt.moodle_params("student"), key, secret)
    sid, _ = pt.parse_cookie(r)
    assert r.status_code == 303 and sid
    forged = sid[:-1] + ("0" if sid[-1] != "0" else "1")
    before = server.counts()
    for headers in ({}, {"Cookie": "ptech_sid=" + forged}, {"Cookie": "ptech_sid=" + "ab" * 32},
                    {"Cookie": "ptech_sid=short"}, {"Cookie": "other=1"},
                    {"Cookie": "ptech_sid=" + sid.upper()}):
        r = server.get("/ptech/course", headers=headers)
        assert r.status_code == 401, (headers, r.status_code)
        assert "<code>session_no_cookie</code>" in r.text
        forms = re.findall(r'<a [^>]*href="([^"]+)"[^>]*target="_blank"', r.text)
        assert forms == [server.base + "/ptech/course"], r.text
    assert server.counts() == before
    assert "PT00020" not in server.log_text()


def test_205_public_url_https(httpd_factory, catalog):
    srv = httpd_factory(public_url="https://tool.example.test")
    srv.start()
    key, secret = srv.add_consumer()
    cid = catalog.order[0]
    params = student("501", FATIMA, "ar", custom_course=cid)
    r = srv.launch(params, key, secret)    # signed over https://tool.example.test/ptech/lti11
    assert r.status_code == 303, r.text
    assert r.headers["Location"] == "https://tool.example.test/ptech/course"
    sid, attrs = pt.parse_cookie(r)
    assert sid and attrs.get("samesite") == "None" and "secure" in attrs, r.headers
    assert "httponly" in attrs and attrs.get("path") == "/ptech"
    check_learner_page(srv.course_page(sid), catalog, cid, "ar")
    # Signed over the address the request really reached: refused.
    r = srv.launch(params, key, secret, url=srv.base + "/ptech/lti11")
    pt.assert_error_page(r, 401, "oauth_bad_signature")
    assert "https://tool.example.test/ptech/lti11" in r.text
    assert srv.count("sessions") == 1


def test_208_public_url_with_a_path(httpd_factory, catalog):
    """A tool behind a proxy at https://host/prefix: PTechPublicURL has a path.  Either the
    directive refuses it, or the cookie and the pages' links carry the prefix (else the
    browser never sends the session cookie back to .../prefix/ptech/course)."""
    srv = httpd_factory(public_path="/tool")
    r = srv.configtest()
    if r.returncode != 0:
        assert "PTechPublicURL" in r.stderr and "path" in r.stderr, r.stderr
        return
    srv.start()
    key, secret = srv.add_consumer()
    r = srv.launch(pt.moodle_params("teacher"), key, secret)   # signed over .../tool/ptech/lti11
    assert r.status_code == 303, r.text
    assert r.headers["Location"] == srv.base + "/tool/ptech/course"
    sid, attrs = pt.parse_cookie(r)
    assert attrs.get("path") == "/tool/ptech", r.headers["Set-Cookie"]
    page = srv.course_page(sid)     # what the proxy forwards of /tool/ptech/course
    assert page.status_code == 200
    pt.check_local_links(page.text, srv.public_url)


def test_206_concurrent_launches(server, consumer, catalog):
    key, secret = consumer
    cid = catalog.order[0]
    n_clients, per_client = 20, 10

    def client(i):
        # A new connection per launch, like browsers posting Moodle's form (a reused
        # keep-alive connection may be closed by the server as it is reused).
        codes = []
        for j in range(per_client):
            p = student("c%02d" % i, "Client %d" % i, "fr", custom_course=cid,
                        resource_link_id=str(j % 3 + 1))
            r = server.launch(p, key, secret)
            codes.append(r.status_code)
        return codes

    with concurrent.futures.ThreadPoolExecutor(n_clients) as ex:
        codes = [c for cs in ex.map(client, range(n_clients)) for c in cs]
    assert codes == [303] * (n_clients * per_client), sorted(set(codes))
    assert server.count("sessions") == n_clients * per_client
    assert server.count("launches") == n_clients * per_client
    assert server.count("persons") == n_clients
    assert server.count("link_members") == n_clients * 3
    assert server.count("audit") == 0
    assert "database is locked" not in server.log_text()


def test_207_demo(server, catalog):
    r = server.get("/ptech/demo")
    assert r.status_code == 200
    forms = pt.parse_forms(r.text)
    assert len(forms) == 1 and forms[0]["action"] == "/ptech/demo/launch"
    sel = forms[0]["selects"]
    assert {"student-fr", "student-ar", "student-en", "instructor"} <= set(sel["persona"])
    assert sel["course"] == [""] + catalog.order
    assert "فاطمة الزهراء العمراني" in r.text

    cid = catalog.order[3]
    r = server.get("/ptech/demo/launch", params={"persona": "student-ar", "course": cid,
                                                  "link": "1"})
    assert r.status_code == 200
    forms = pt.parse_forms(r.text)
    assert len(forms) == 1
    f = forms[0]
    assert f["id"] == "autosubmit" and f["method"] == "post"
    assert f["action"] == server.base + "/ptech/lti11"
    assert '<script src="/ptech/static/autosubmit.js"></script>' in r.text
    fields = dict(f["inputs"])
    assert fields["custom_course"] == cid and fields["oauth_signature_method"] == "HMAC-SHA1"
    js = server.get("/ptech/static/autosubmit.js")
    assert js.status_code == 200 and "autosubmit" in js.text

    r = server.post("/ptech/lti11", data=[i for i in f["inputs"] if i[0]])
    assert r.status_code == 303, r.text
    sid, _ = pt.parse_cookie(r)
    check_learner_page(server.course_page(sid), catalog, cid, "ar", frame_origin=server.base)
    assert server.sql("SELECT full_name FROM persons WHERE tenant='lti11:ptech-demo'") \
        == [("فاطمة الزهراء العمراني",)]
    # The demo form is single-use, like any launch.
    r = server.post("/ptech/lti11", data=[i for i in f["inputs"] if i[0]])
    pt.assert_error_page(r, 401, "oauth_nonce_replay")
    # Bad demo requests.
    r = server.get("/ptech/demo/launch", params={"persona": "nobody", "link": "1"})
    assert r.status_code == 400
