"""Issue 4, LTI 1.3 launches through the whole browser flow against a loopback platform
shaped like Moodle 4.5 (ptechtest.Platform): the OIDC login by GET and POST, the
platform's auth endpoint and its form post, the id_token; the same sessions and pages as
1.1; what is stored per person, launch and resource link; deep linking's start."""
import concurrent.futures
import json
import re
import urllib.parse

import requests

import ptechtest as pt
from test_200_lti11 import ELODIE, FATIMA, check_learner_page, esc

STORED = ("persons", "contexts", "resource_links", "link_members", "launches", "sessions",
          "nonces")
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
STATE_RE = re.compile(r"\d{16}-[0-9a-f]{32}")


def tenant(pf, client_id=None):
    return "lti13:%s#%s" % (pf.issuer, client_id or pf.client_id)


def person(sub, full, locale=None, email=True, **extra):
    """Claims of a learner: sub, the OIDC name claims, email, and the launch locale."""
    given, _, family = full.partition(" ")
    c = {"sub": sub, "name": full, "given_name": given, "family_name": family or "-",
         "email": "u%s@etu.univh2c.ma" % sub if email else pt.DROP}
    c[pt.LTI + "launch_presentation"] = ({"locale": locale, "document_target": "iframe"}
                                         if locale else pt.DROP)
    c.update(extra)
    return c


def custom(cid, **more):
    c = {"activity_custom": "xyz", "course": cid}
    c.update(more)
    return {pt.LTI + "custom": c}


def state_cookie(resp):
    """(name, value, {attr: value}) of the one cookie set by a /ptech/login answer."""
    raw = resp.raw.headers.getlist("Set-Cookie")
    assert len(raw) == 1, raw
    parts = [p.strip() for p in raw[0].split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip()
    return name, value, attrs


def test_300_login_redirect(server13, platform):
    """/ptech/login by GET and POST: a 302 to the registered auth URL with exactly the
    parameters Moodle's auth.php expects, the hints byte for byte, a fresh state and nonce
    kept server side and bound to the browser by a cookie."""
    srv = server13
    tricky = '{"cmid":3,"launchid":"ltilaunch2_1"} a+b %20 & = ? # / \\ é ال 😀 \'"<>'
    seen = set()
    for method in ("GET", "POST", "GET", "POST"):
        b = pt.Browser(srv, platform)
        hint = tricky + method + str(len(seen))
        r, spec = b.login(method=method, message_hint=hint, login_hint="3 + &=é")
        assert r.status_code == 302, r.text
        assert r.headers["Cache-Control"] == "no-store"
        loc = r.headers["Location"]
        base, _, query = loc.partition("?")
        assert base == platform.auth_url
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=True)
        assert sorted(k for k, _ in pairs) == sorted(pt.AUTH_PARAMS), pairs
        q = dict(pairs)
        assert {k: q[k] for k in ("scope", "response_type", "response_mode", "prompt")} == \
            {"scope": "openid", "response_type": "id_token", "response_mode": "form_post",
             "prompt": "none"}
        assert q["client_id"] == platform.client_id
        assert q["redirect_uri"] == srv.public_url + "/ptech/launch"
        assert q["login_hint"] == "3 + &=é"
        assert q["lti_message_hint"] == hint
        assert STATE_RE.fullmatch(q["state"]), q["state"]
        assert re.fullmatch(r"[0-9a-f]{32}", q["nonce"]), q["nonce"]
        assert q["state"] not in seen and q["nonce"] not in seen
        seen |= {q["state"], q["nonce"]}
        # The state cookie: named after the state, only for /ptech/launch, Lax over http.
        name, value, attrs = state_cookie(r)
        assert name == "ptech_st_" + q["state"].split("-", 1)[1], name
        assert len(value) >= 32
        assert attrs.get("path") == "/ptech"   # /ptech/login must see them to cap them
        assert "httponly" in attrs and attrs.get("samesite") == "Lax"
        assert "secure" not in attrs and "partitioned" not in attrs
        assert attrs.get("max-age") == "300"
        assert b.state_cookies() == {name: value}
        # Kept server side with its nonce and target; the cookie's value is not stored.
        rows = srv.sql("SELECT nonce, target_link_uri, browser, expires - created "
                       "FROM login_states WHERE state=?", (q["state"],))
        assert len(rows) == 1 and rows[0][0] == q["nonce"] and rows[0][1] == spec.target
        assert rows[0][3] == 300
        assert value not in rows[0][2]
        # The platform's auth endpoint accepts it and answers with its auto-post form.
        action, fields = b.authorize(r, spec)
        assert platform.auth_errors == []
        assert action == srv.public_url + "/ptech/launch"
        assert set(fields) == {"id_token", "state"} and fields["state"] == q["state"]
        assert pt.pyjwt.decode(fields["id_token"], options={"verify_signature": False})[
            "nonce"] == q["nonce"]
    # Without lti_message_hint, the redirect has none either.
    b = pt.Browser(srv, platform)
    r, _ = b.login(params={"lti_message_hint": pt.DROP})
    assert r.status_code == 302
    names = [k for k, _ in urllib.parse.parse_qsl(r.headers["Location"].partition("?")[2])]
    assert sorted(names) == sorted(pt.AUTH_PARAMS - {"lti_message_hint"})
    # Without client_id (one registration for the issuer): the registered one is used.
    r, spec = b.login(params={"client_id": pt.DROP})
    assert r.status_code == 302, r.text
    b.authorize(r, spec)
    assert platform.auth_errors == []
    # Logins store nothing but their state.
    assert srv.counts(STORED) == dict.fromkeys(STORED, 0)
    assert srv.count("audit") == 0
    assert srv.count("login_states") == 6


def test_301_student_launches(server13, platform, catalog):
    """Students launch with and without context and PII, in several locales, by GET and
    POST logins: a 303 to the learner page of the custom course, and the rows of 1.1."""
    srv = server13
    cid = catalog.order[1]
    cases = [("101", FATIMA, "ar", "ar", "GET", {}),
             ("102", ELODIE, "fr-FR", "fr", "POST", {}),
             ("103", "Sam Student", "en", "en", "GET", {pt.LTI + "context": pt.DROP}),
             ("104", "Amina Haddad", None, "fr", "POST", {"name": pt.DROP,
                                                          "given_name": pt.DROP,
                                                          "family_name": pt.DROP,
                                                          "email": pt.DROP}),
             ("105", "Youssef Benali", "en", "en", "POST", {pt.BO: pt.DROP, pt.AGS: pt.DROP,
                                                             pt.NRPS: pt.DROP})]
    sids = set()
    for sub, name, locale, lang, method, extra in cases:
        claims = person(sub, name, locale)
        claims.update(custom(cid))
        claims.update(extra)
        b = pt.Browser(srv, platform)
        sid, page, spec = b.launch_and_follow("student", method=method, login_hint=sub,
                                              claims=claims)
        assert sid not in sids
        sids.add(sid)
        check_learner_page(page, catalog, cid, lang, frame_origin=platform.issuer)
        c = spec.claims
        pii = "name" in c
        rows = srv.sql("SELECT id, full_name, given_name, family_name, email FROM persons "
                       "WHERE tenant=? AND user_id=?", (tenant(platform), sub))
        assert rows == [(rows[0][0], c.get("name"), c.get("given_name"), c.get("family_name"),
                         c.get("email"))], rows
        assert pii == (rows[0][1] is not None)
        pid = rows[0][0]
        assert srv.sql("SELECT version, roles_raw, locale FROM launches WHERE person_id=?",
                       (pid,)) == [("1.3", LEARNER, locale)]
        assert srv.count("sessions", "person_id=?", (pid,)) == 1
        assert srv.count("sessions", "instr(id_hash, ?) > 0", (pt.sid_secret_part(sid),)) == 0
        m = srv.sql("SELECT m.result_sourcedid, m.outcome_url, l.course_id, l.link_id, "
                    "l.title, l.claims, l.tenant, l.context_pk FROM link_members m "
                    "JOIN resource_links l ON l.id = m.link_pk WHERE m.person_id=?", (pid,))
        assert len(m) == 1, m
        sourcedid, outcome, course, link_id, title, claims_json, ltenant, ctx = m[0]
        assert (course, link_id, title, ltenant) == (cid, "2", "LTI 1.3 graded activity",
                                                     tenant(platform))
        if pt.BO in c:
            assert (sourcedid, outcome) == (c[pt.BO]["lis_result_sourcedid"],
                                            c[pt.BO]["lis_outcome_service_url"])
        else:
            assert (sourcedid, outcome) == (None, None)
        # The link keeps its services and custom claims; the basic outcome claim is the
        # learner's (checked above, on the member row), not the link's.
        stored = json.loads(claims_json)
        want = {"custom": c[pt.LTI + "custom"]}
        for key, claim in (("ags", pt.AGS), ("nrps", pt.NRPS)):
            if claim in c:
                want[key] = c[claim]
        assert stored == want, stored
        if pt.LTI + "context" in c:
            assert srv.sql("SELECT context_id, title, label, type, tenant FROM contexts "
                           "WHERE id=?", (ctx,)) == [("2", "LTI Test Course", "LTI101",
                                                      "CourseSection", tenant(platform))]
        # The state was used up, and with it the nonce issued for it (the state row is the
        # nonce's record: no separate nonce row).
        assert srv.count("login_states", "state=?", (spec.state,)) == 0
        assert srv.count("nonces", "nonce LIKE ?", ("%" + spec.nonce,)) == 0
    assert platform.auth_errors == []
    assert srv.count("sessions") == len(cases)
    assert srv.count("persons") == len(cases)
    assert srv.count("audit") == 0
    # The context-less launch and the others share the link (same resource_link.id).
    assert srv.count("resource_links") == 1
    assert platform.jwks_count() == 1       # fetched once, then cached
    # A second launch of the same person: a new session, the same person; the newest
    # email wins and a launch without PII keeps the name.
    b = pt.Browser(srv, platform)
    claims = dict(person("101", FATIMA, "ar", email=False), email="Fatima.New@Etu.Univh2c.ma",
                  **custom(cid))
    b.launch_and_follow("student", login_hint="101", claims=claims)
    claims = dict(sub="101", name=pt.DROP, given_name=pt.DROP, family_name=pt.DROP,
                  email=pt.DROP, **custom(cid))
    b.launch_and_follow("student", login_hint="101", claims=claims)
    assert srv.sql("SELECT full_name, email FROM persons WHERE user_id='101'") == \
        [(FATIMA, "Fatima.New@Etu.Univh2c.ma")]
    assert srv.count("launches") == len(cases) + 2
    assert srv.count("sessions") == len(cases) + 2


def test_302_instructor(server13, platform, catalog):
    """The instructor's launch lands on the instructor page of the link: the learners who
    launched it (named, or by LMS id without PII), the chooser, Moodle's short role names
    and URIs; a launch with no or unknown roles gets the learner page."""
    srv = server13
    cid = catalog.order[0]
    odd = 'Zoé <b>"Bold"</b> & Co'
    for sub, name in (("201", FATIMA), ("202", ELODIE), ("203", odd)):
        claims = dict(person(sub, name, "fr"), **custom(cid))
        pt.Browser(srv, platform).launch_and_follow("student", login_hint=sub, claims=claims)
    anon = dict(sub="anon-204", name=pt.DROP, given_name=pt.DROP, family_name=pt.DROP,
                email=pt.DROP, **custom(cid))
    pt.Browser(srv, platform).launch_and_follow("student", login_hint="anon-204", claims=anon)
    # A learner of another link is not listed.
    other = dict(person("205", "Other Link", "fr"), **custom(cid))
    other[pt.LTI + "resource_link"] = {"id": "99", "title": "Another activity"}
    pt.Browser(srv, platform).launch_and_follow("student", login_hint="205", claims=other)

    for roles in ([INSTRUCTOR], ["Instructor"],
                  [INSTRUCTOR, "http://purl.imsglobal.org/vocab/institution/person#Faculty",
                   "http://example.com/unknown#Role"]):
        claims = dict(person("4", "Tina Teacher", "en"), **custom(cid))
        claims[pt.LTI + "roles"] = roles
        b = pt.Browser(srv, platform)
        sid, page, spec = b.launch_and_follow("teacher", login_hint="4", claims=claims)
        assert page.status_code == 200
        t = page.text
        assert "<h1>%s</h1>" % esc(catalog.title(cid, "en")) in t
        assert "Instructor view · LTI Test Course · LTI 1.3 graded activity" in t, t[:1500]
        for name in (FATIMA, ELODIE):
            assert "<td>%s</td>" % name in t, name
        assert "<td>%s</td>" % esc(odd) in t and "<b>" not in t
        assert "u201@etu.univh2c.ma" in t
        assert "<td>anon-204</td>" in t
        assert "Other Link" not in t
        assert any(f["action"] == "/ptech/course/choose" for f in pt.parse_forms(t))
        assert srv.sql("SELECT roles_raw FROM launches ORDER BY id DESC LIMIT 1") == \
            [(",".join(roles),)]
    # No role, or only unknown ones: the learner page, no chooser.
    for roles in ([], ["http://example.com/unknown#Role"]):
        claims = dict(person("206", "No Role", "en"), **custom(cid))
        claims[pt.LTI + "roles"] = roles
        _, page, _ = pt.Browser(srv, platform).launch_and_follow("student", login_hint="206",
                                                                 claims=claims)
        check_learner_page(page, catalog, cid, "en", frame_origin=platform.issuer)
        assert "/ptech/course/choose" not in page.text
    assert srv.count("audit") == 0


def test_303_chooser_and_course_claims(server13, platform, catalog):
    """Without the course claim: a student sees "not configured", the instructor chooses;
    an unknown course id is shown to both; context.type as a URI or a plain string."""
    srv = server13
    link = {pt.LTI + "resource_link": {"id": "unmapped-7", "title": "Activité sans cours"}}
    claims = dict(person("301", ELODIE, "fr"), **link)
    _, page, _ = pt.Browser(srv, platform).launch_and_follow("student", login_hint="301",
                                                             claims=claims)
    assert "pas encore configurée" in page.text
    claims = dict(person("4", "Tina Teacher", "en"), **link)
    claims[pt.LTI + "custom"] = {"foo": "bar"}
    b = pt.Browser(srv, platform)
    sid, page, _ = b.launch_and_follow("teacher", login_hint="4", claims=claims)
    assert "not configured yet" in page.text
    form = [f for f in pt.parse_forms(page.text) if f["action"] == "/ptech/course/choose"][0]
    assert form["selects"]["course"] == catalog.order
    cid = catalog.order[2]
    r = b.session.post(srv.url("/ptech/course/choose"), allow_redirects=False,
                       data={"csrf": dict(form["inputs"])["csrf"], "course": cid})
    assert r.status_code == 303, r.text
    assert srv.sql("SELECT course_id, course_source FROM resource_links "
                   "WHERE link_id='unmapped-7'") == [(cid, "chooser")]
    claims = dict(person("302", FATIMA, "ar"), **link)
    _, page, _ = pt.Browser(srv, platform).launch_and_follow("student", login_hint="302",
                                                             claims=claims)
    check_learner_page(page, catalog, cid, "ar", frame_origin=platform.issuer)
    # An unknown course id, shown escaped; context types as URI and as a string.
    bad = "no-such-<course>"
    for i, ctype in enumerate((["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
                               "urn:lti:context-type:ims/lis/Group")):
        claims = dict(person("30%d" % (3 + i), ELODIE, "fr"), **custom(bad))
        claims[pt.LTI + "context"] = {"id": "ctx-%d" % i, "title": "C%d" % i, "type": ctype}
        claims[pt.LTI + "resource_link"] = {"id": "bad-%d" % i}
        _, page, _ = pt.Browser(srv, platform).launch_and_follow(
            "student", login_hint="30%d" % (3 + i), claims=claims)
        assert "Cours inconnu" in page.text and "<code>%s</code>" % esc(bad) in page.text
    assert srv.sql("SELECT type FROM contexts WHERE context_id LIKE 'ctx-%' ORDER BY "
                   "context_id") == [("CourseOffering",), ("Group",)]
    assert srv.count("audit") == 0


def test_304_deep_linking(server13, platform, catalog):
    """An LtiDeepLinkingRequest spends its state and lands on the catalog picker in the
    launch language; no session or launch is recorded (test_330_deeplink.py goes on)."""
    srv = server13
    for locale, words in (("en", "Choose Open P-Tech content"),
                          ("ar", "اختيار محتوى Open P-Tech"),
                          ("fr", "Choisir un contenu Open P-Tech")):
        b = pt.Browser(srv, platform)
        claims = {pt.LTI + "launch_presentation": {"locale": locale}}
        r, spec = b.launch("deeplinking", login_hint="4",
                           target=srv.public_url + "/ptech/launch", claims=claims)
        assert r.status_code == 303, r.text
        assert r.headers["Location"].startswith(srv.public_url + "/ptech/deeplink?ctx=")
        assert "ptech_sid" not in r.headers.get("Set-Cookie", "")
        page = b.session.get(r.headers["Location"], timeout=30)
        assert page.status_code == 200, page.text
        assert words in page.text, page.text
        assert '<html lang="%s" dir="%s">' % (locale, "rtl" if locale == "ar" else "ltr") \
            in page.text
        pt.assert_no_inline_code(page.text)
        assert esc(catalog.title(catalog.order[0], locale)) in page.text
        assert spec.claims[pt.LTI + "message_type"] == "LtiDeepLinkingRequest"
    assert srv.counts(STORED) == dict.fromkeys(STORED, 0)
    assert srv.count("audit") == 0
    assert srv.count("login_states") == 0
    assert srv.count("deeplink_contexts") == 3


def test_305_same_browser_many_logins(server13, platform, catalog):
    """A browser with several logins in flight (tabs): the cookies stay capped at 8 and
    the newest logins complete (the oldest extra ones are dropped)."""
    srv = server13
    b = pt.Browser(srv, platform)
    specs = []
    for i in range(10):
        claims = dict(person("50%d" % i, "Tab %d" % i, "en"), **custom(catalog.order[0]))
        specs.append(b.start("student", login_hint="50%d" % i, claims=claims))
        n = len(b.state_cookies())
        assert n <= 8, ("after %d logins the browser holds %d state cookies, more than 8 "
                        "(/ptech/login must receive them to drop the oldest)" % (i + 1, n))
    assert len(b.state_cookies()) == 8
    codes = {}
    for i in reversed(range(10)):
        r = b.post_launch(specs[i].form)
        codes[i] = (r.status_code, re.findall(r"<code>([^<]*)</code>", r.text))
    assert [i for i in range(10) if codes[i][0] == 303] == list(range(2, 10)), codes
    assert all(codes[i] == (401, ["lti13_state_no_cookie"]) for i in (0, 1)), codes


def test_306_concurrent_launches(server13, platform, catalog):
    """16 browsers launching at once, 3 times each: every launch lands, and no JWKS fetch
    while the kid is known (the first launch fetched it)."""
    srv = server13
    cid = catalog.order[0]
    pt.Browser(srv, platform).launch_and_follow("student", claims=custom(cid))
    assert platform.jwks_count() == 1

    def client(i):
        codes = []
        for j in range(3):
            b = pt.Browser(srv, platform)
            claims = dict(person("c%02d" % i, "Client %d" % i, "fr"), **custom(cid))
            claims[pt.LTI + "resource_link"] = {"id": str(j % 3 + 1)}
            r, _ = b.launch("student", login_hint="c%02d" % i, claims=claims)
            codes.append(r.status_code)
        return codes

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        codes = [c for cs in ex.map(client, range(16)) for c in cs]
    assert codes == [303] * 48, sorted(set(codes))
    assert srv.count("sessions") == 49 and srv.count("launches") == 49
    assert srv.count("persons") == 17 and srv.count("link_members") == 49
    assert srv.count("audit") == 0
    assert platform.jwks_count() == 1
    assert platform.auth_errors == []


def test_307_person_is_per_registration(server13, platform, catalog):
    """Two client ids of one issuer are two tenants; login without client_id is then
    ambiguous and refused; the state's platform decides the token's expected aud."""
    srv = server13
    cid = catalog.order[0]
    other = "second-" + platform.client_id
    platform.register(srv, client_id=other, deployments=["2"])
    claims = dict(person("3", "Sam Student", "en"), **custom(cid))
    for client_id in (platform.client_id, other):
        pt.Browser(srv, platform).launch_and_follow("student", client_id=client_id,
                                                    claims=claims)
    assert sorted(srv.sql("SELECT tenant FROM persons WHERE user_id='3'")) == \
        sorted([(tenant(platform),), (tenant(platform, other),)])
    b = pt.Browser(srv, platform)
    r, _ = b.login(params={"client_id": pt.DROP})
    pt.assert_error_page(r, 400, "platform_ambiguous")
    assert "Location" not in r.headers and "Set-Cookie" not in r.headers
    assert srv.sql("SELECT reason, http_status FROM audit") == [("platform_ambiguous", 400)]
    # A token for the first registration posted on a login of the second: wrong aud.
    spec = b.start("student", client_id=other, claims=dict(claims, aud=platform.client_id))
    r = b.post_launch(spec.form)
    pt.assert_error_page(r, 401, "jwt_aud")


def test_308_https_public_url(httpd_factory, platform, catalog):
    """Behind TLS (PTechPublicURL https): the redirect_uri is the public one, the state
    cookie is SameSite=None; Secure; Partitioned (Moodle's iframe), and so on to the page."""
    srv = httpd_factory(public_url="https://tool.example.test", directives=pt.LTI13_DIRECTIVES,
                        demo=False, seed=True)
    srv.start()
    platform.register(srv)
    cid = catalog.order[0]
    b = pt.Browser(srv, platform)
    r, spec = b.login(claims=custom(cid), target="https://tool.example.test/ptech/launch")
    assert r.status_code == 302, r.text
    q = dict(urllib.parse.parse_qsl(r.headers["Location"].partition("?")[2]))
    assert q["redirect_uri"] == "https://tool.example.test/ptech/launch"
    name, value, attrs = state_cookie(r)
    assert {"secure", "partitioned", "httponly"} <= set(attrs), attrs
    assert attrs.get("samesite") == "None" and attrs.get("path") == "/ptech"
    # The state cookie is Secure: sent by hand to the plain-http test address.
    action, fields = b.authorize(r, spec)
    assert action == "https://tool.example.test/ptech/launch"
    r = requests.post(srv.url("/ptech/launch"), data=fields, allow_redirects=False,
                         headers={"Cookie": "%s=%s" % (name, value)})
    assert r.status_code == 303, r.text
    assert r.headers["Location"] == "https://tool.example.test/ptech/course"
    sid, attrs = pt.parse_cookie(r)
    assert attrs.get("samesite") == "None" and "secure" in attrs, attrs
    check_learner_page(srv.course_page(sid), catalog, cid, "en", frame_origin=platform.issuer)
    # A target_link_uri on the http address is not one of ours.
    r, _ = b.login(target=srv.url("/ptech/launch"))
    pt.assert_error_page(r, 400, "lti13_target_link_uri")
