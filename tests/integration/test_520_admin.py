"""Issue 5, launch diagnostics: GET /ptech/admin (behind Require local) shows each refusal of
an LTI 1.3 launch in plain words with what was measured (the clock skew in seconds, the
unknown kid and the refetch result), counts per reason, and the exact values to paste into
Moodle's tool form; never a token or a secret; escaped; in fr, ar and en; Require works."""
import html
import re

import pytest
import requests

import ptechtest as pt

ADMIN = ("<Location /ptech/admin>", "    Require local", "</Location>")


@pytest.fixture
def admin13(httpd_factory, platform):
    srv = httpd_factory(directives=pt.LTI13_DIRECTIVES + ADMIN, demo=False, seed=True)
    srv.start()
    platform.register(srv)
    return srv


def rows_of(page, table):
    """The rows of <table class="table"> as lists of cell texts (tags dropped, unescaped)."""
    m = re.search(r'<table class="%s">(.*?)</table>' % table, page, re.S)
    assert m, page[:3000]
    rows = []
    for tr in re.findall(r"<tr>(.*?)</tr>", m.group(1), re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)
        rows.append([html.unescape(re.sub(r"<[^>]+>", "", c)) for c in cells])
    return rows


def no_cookie(b, spec):
    return b.post_launch(spec.form, session=requests.Session())


# (name, how to make the refusal, status, reason, English plain words, what the detail holds)
CASES = [
    ("no state cookie", dict(post=no_cookie), 401, "lti13_state_no_cookie",
     "third-party cookies are most likely blocked", "cookie"),
    ("expired: the LMS clock 10 minutes behind",
     dict(mutate=lambda c: c.update(iat=c["iat"] - 600, exp=c["iat"] - 540)), 401, "jwt_exp",
     "Moodle's clock and this server's differ", "clock skew"),
    ("issued an hour ahead", dict(mutate=lambda c: c.update(iat=c["iat"] + 3600,
                                                            exp=c["iat"] + 3660)),
     401, "jwt_iat", "Moodle's clock is ahead", "clock skew"),
    ("unknown kid", dict(sign=lambda c, pf: pf.sign(c, kid="rotated-kid-1")), 401,
     "jwt_unknown_kid", "not in Moodle's key set", "refetched just now"),
    ("another unknown kid within the minute",
     dict(sign=lambda c, pf: pf.sign(c, kid="rotated-kid-2")), 401, "jwt_unknown_kid",
     "not in Moodle's key set", "not refetched"),
    ("target_link_uri not the login's",
     dict(claims={pt.LTI + "target_link_uri": "https://evil.example/ptech/launch"}), 403,
     "lti13_target_link_uri", "Tool URL in Moodle", "evil.example"),
    ("unknown deployment", dict(claims={pt.LTI + "deployment_id": "99"}), 401,
     "lti13_unknown_deployment", "deployment id Moodle sent is not registered", "99"),
    ("aud without us", dict(claims={"aud": "another-tool"}), 401, "jwt_aud",
     "meant for another client id", "client id"),
    ("wrong azp", dict(mutate=lambda c: c.update(aud=[c["aud"], "another-tool"],
                                                 azp="another-tool")), 401, "jwt_azp",
     "authorised party", "azp"),
    ("redirect_uri refused by Moodle",
     dict(post=lambda b, spec: b.post_launch({
         "error": "invalid_request", "state": spec.form["state"],
         "error_description": "Invalid redirect_uri <script>alert(1)</script>"})), 403,
     "lti13_platform_error", "Redirection URI(s)", "Invalid redirect_uri"),
]


def make_refusals(srv, platform):
    """Each case once (after one good launch, so the platform's keys are cached); returns the
    tokens that were posted, which must never show."""
    r, _ = pt.Browser(srv, platform).launch("student")
    assert r.status_code == 303, r.text
    tokens = []
    for name, how, status, reason, _, _ in CASES:
        b = pt.Browser(srv, platform)
        spec = b.start("student", claims=how.get("claims"), mutate=how.get("mutate"),
                       sign=how.get("sign"))
        tokens.append(spec.form["id_token"])
        r = how["post"](b, spec) if "post" in how else b.post_launch(spec.form)
        pt.assert_error_page(r, status, reason)
    return tokens


def test_520_refusals_in_plain_words(admin13, platform):
    srv = admin13
    key, secret = srv.add_consumer()
    tokens = make_refusals(srv, platform)
    r = srv.get("/ptech/admin?lang=en")
    assert r.status_code == 200, r.text[:2000]
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'self'" in r.headers["Content-Security-Policy"]
    pt.assert_no_inline_code(r.text)
    page = r.text
    assert '<html lang="en" dir="ltr">' in page
    # Counts per reason: one table, each reason with its count and its plain words.
    counts = {row[0]: row for row in rows_of(page, "counts")[1:]}
    want = {}
    for _, _, _, reason, words, _ in CASES:
        want[reason] = want.get(reason, 0) + 1
    for reason, n in want.items():
        assert reason in counts, (reason, counts)
        assert counts[reason][1] == str(n), counts[reason]
        words = [c[4] for c in CASES if c[3] == reason][0]
        assert words in counts[reason][3], counts[reason]
    # Recent refusals, newest first: plain words and the recorded detail, per row.
    recent = rows_of(page, "recent")[1:]
    assert len(recent) == len(CASES)
    for row, (name, _, status, reason, words, detail) in zip(recent, reversed(CASES)):
        assert row[1] == reason, (name, row)
        assert words in row[2], (name, row)
        assert detail in row[3], (name, row)
        assert row[4] == str(status), (name, row)
        assert row[5] == "/ptech/launch 127.0.0.1", (name, row)
    details = {row[1]: [x[3] for x in recent if x[1] == row[1]] for row in recent}
    # The clock skew in seconds: 10 minutes behind, an hour ahead (a second or two of test).
    skew = int(re.search(r"clock skew (-?\d+) s", details["jwt_exp"][0]).group(1))
    assert 600 <= skew <= 603, details["jwt_exp"]
    skew = int(re.search(r"clock skew (-?\d+) s", details["jwt_iat"][0]).group(1))
    assert -3600 <= skew <= -3597, details["jwt_iat"]
    # The unknown kids, and what the refetch did (one refetch a minute).
    assert '"rotated-kid-2"' in details["jwt_unknown_kid"][0]
    assert '"rotated-kid-1"' in details["jwt_unknown_kid"][1]
    assert "refetched just now" in details["jwt_unknown_kid"][1]
    assert "not refetched" in details["jwt_unknown_kid"][0]
    assert platform.jwks_count() == 2
    # Escaped: Moodle's error description is shown as text.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    # Never a token, a secret or a state.
    for t in tokens:
        for part in t.split("."):
            assert part not in page
    assert secret not in page
    assert srv.sql("SELECT COUNT(*) FROM audit WHERE detail LIKE '%eyJ%'") == [(0,)]


def test_521_paste_values_and_languages(admin13, platform):
    """The values of Moodle's manual LTI 1.3 form, from PTechPublicURL; fr by default, ar
    right to left; an empty audit log says so."""
    srv = admin13
    r = srv.get("/ptech/admin", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert r.status_code == 200
    paste = {row[0]: row[1] for row in rows_of(r.text, "paste")}
    base = srv.public_url + "/ptech"
    assert paste == {"Tool URL": base + "/launch", "Initiate login URL": base + "/login",
                     "Redirection URI(s)": base + "/launch",
                     "Public keyset URL": base + "/jwks", "LTI 1.1 Tool URL": base + "/lti11"}
    assert "No refusal recorded." in r.text
    # The paste values answer: the keyset is the tool's JWKS, the login redirects.
    assert requests.get(paste["Public keyset URL"], timeout=30).json()["keys"]
    r = srv.get("/ptech/admin")
    assert '<html lang="fr" dir="ltr">' in r.text and "Valeurs à coller dans Moodle" in r.text
    r = srv.get("/ptech/admin?lang=ar")
    assert '<html lang="ar" dir="rtl">' in r.text and "تشخيص عمليات الفتح" in r.text
    # French and Arabic plain words for a refusal.
    b = pt.Browser(srv, platform)
    spec = b.start("student")
    pt.assert_error_page(no_cookie(b, spec), 401, "lti13_state_no_cookie")
    assert "les cookies tiers sont très probablement bloqués" in srv.get("/ptech/admin").text
    assert "ملفات تعريف الارتباط للجهات الخارجية" in srv.get("/ptech/admin?lang=ar").text
    # Only GET.
    r = srv.post("/ptech/admin", data="x=1", headers=pt.FORM)
    assert r.status_code == 405


@pytest.mark.parametrize("mpm", pt.MPMS[-1:])
@pytest.mark.allow_log(r"AH01630: client denied by server configuration")
def test_522_require(httpd_factory):
    """<Location /ptech/admin> Require applies to the module's own URL space: a client that
    is not allowed gets httpd's 403 and no diagnostics; without a Location block the page
    answers (the sample configurations always set one)."""
    srv = httpd_factory(directives=("<Location /ptech/admin>", "    Require ip 192.0.2.1",
                                    "</Location>"), demo=False, seed=True)
    srv.start()
    r = srv.get("/ptech/admin")
    assert r.status_code == 403
    assert "Launch diagnostics" not in r.text and "/ptech/jwks" not in r.text
    assert srv.get("/ptech/status").status_code == 200
