"""The pages people see, in a real browser (issue 8): learner, instructor (dashboard),
content picker, certificate and error pages in fr, ar and en at 360 and 1280 px, loaded by Debian's headless
Chromium driven by playwright-core (tests/browser/check-pages.mjs): lang and dir right
(ar: rtl), no horizontal overflow, and no WCAG 2.1 AA violation found by axe-core (tags
wcag2a, wcag2aa, wcag21a, wcag21aa; axe-core injected from tests/browser/node_modules).
Screenshots go to the test's tmp folder.  A missing browser, node, playwright-core or
axe-core fails: it is never a skip."""
import json
import os
import shutil
import subprocess
import types

import pytest
import requests

import ptechtest as pt
import test_330_deeplink as t330
import test_600_grades as g600

CHROMIUM = "/usr/bin/chromium"
BROWSER_DIR = os.path.join(pt.REPO, "tests", "browser")
CHECK = os.path.join(BROWSER_DIR, "check-pages.mjs")
COURSE = g600.COURSE
NAMES = {"fr": "Élodie <i>Benali</i>", "ar": "فاطمة الزهراء العمراني",
         "en": "=Sam O'Brien; \"Jr\""}


def _locked(name):
    with open(os.path.join(BROWSER_DIR, "package-lock.json")) as f:
        return json.load(f)["packages"]["node_modules/" + name]["version"]


def _browser_ready():
    problems = []
    if not os.path.exists(CHROMIUM):
        problems.append(CHROMIUM + " (Debian's chromium)")
    node = shutil.which("node")
    if not node:
        problems.append("node (Debian's nodejs)")
    for name in ("playwright-core", "axe-core"):
        try:
            with open(os.path.join(BROWSER_DIR, "node_modules", name, "package.json")) as f:
                have = json.load(f)["version"]
        except OSError:
            have = None
        if have != _locked(name):
            problems.append("%s %s in tests/browser/node_modules (there: %s)"
                            % (name, _locked(name), have or "none"))
    if problems:
        pytest.fail("browser tests need %s: make deps installs them" % ", ".join(problems),
                    pytrace=False)
    return node


@pytest.fixture
def site(httpd_factory):
    """A server with learners in three languages (one passed with a certificate, one in
    progress, one not started), their grade returns (one failed) and three teachers."""
    srv = httpd_factory(directives=g600.GRADES)
    srv.start()
    key, secret = srv.add_consumer()
    lms = g600.LMS(key, secret)
    lms.script = ["ok", "fail"]
    g = types.SimpleNamespace(srv=srv, key=key, secret=secret, lms=lms, sids={})
    for i, lang in enumerate(("fr", "ar", "en")):
        p = g600.student(lms, "7%d" % i)
        p["lis_person_name_full"] = NAMES[lang]
        p["launch_presentation_locale"] = lang
        g.sids["learner-" + lang], _ = srv.launch_and_follow(p, key, secret)
    g600.import_csv(g, "user,course,module,status,score,date\r\n"
                       "70,%s,,passed,92,2026-03-14\r\n" % COURSE)
    g600.wait_for(lambda: lms.grades, what="the first grade")
    g600.import_csv(g, "user,course,module,status,score,date\r\n"
                       "71,%s,threat-landscape,completed,70,2026-03-14\r\n" % COURSE)
    g600.wait_for(lambda: g600.outbox(g, "--failed"), what="the failed return")
    for lang in ("fr", "ar", "en"):
        g.sids["instructor-" + lang], _ = srv.launch_and_follow(
            pt.moodle_params("teacher", resource_link_id="1", custom_course=COURSE,
                             launch_presentation_locale=lang), key, secret)
    # The content picker, reached as an instructor adding an activity (LTI 1.1
    # Content-Item; deep linking shows the same picker): its URL and cookie per language.
    g.pickers = {}
    for lang in ("fr", "ar", "en"):
        s = requests.Session()
        r = srv.post_form(srv.signed(t330.ci_params(launch_presentation_locale=lang), key,
                                     secret), session=s)
        assert r.status_code == 303, r.text[:2000]
        g.pickers[lang] = (r.headers["Location"], s.cookies.get("ptech_dl"))
        assert g.pickers[lang][1], s.cookies
    # The passed learner's certificate exists once the page has been seen.
    srv.course_page(g.sids["learner-fr"])
    g.cert = srv.sql("SELECT id FROM badge_awards")[0][0]
    yield g
    lms.stop()


def test_810_pages_in_a_browser(site, tmp_path):
    node = _browser_ready()
    g = site
    base = g.srv.public_url
    pages = []
    for lang in ("fr", "ar", "en"):
        for who in ("learner", "instructor"):
            sid = g.sids["%s-%s" % (who, lang)]
            pages.append({"name": "%s-%s" % (who, lang), "url": base + "/ptech/course",
                          "cookies": [{"name": "ptech_sid", "value": sid}], "lang": lang})
        url, dl = g.pickers[lang]
        pages.append({"name": "picker-" + lang, "url": url,
                      "cookies": [{"name": "ptech_dl", "value": dl}], "lang": lang})
        pages.append({"name": "error-" + lang, "url": base + "/ptech/course/nowhere",
                      "cookies": [{"name": "ptech_sid", "value": g.sids["learner-" + lang]}],
                      "lang": lang})
    pages.append({"name": "certificate-fr", "url": base + "/ptech/course/certificate",
                  "cookies": [{"name": "ptech_sid", "value": g.sids["learner-fr"]}],
                  "lang": "fr"})
    pages.append({"name": "verify-ar", "url": base + "/ptech/certificate/" + g.cert,
                  "cookies": [], "lang": "ar", "locale": "ar-MA"})
    pages.append({"name": "verify-unknown-en", "url": base + "/ptech/certificate/" + "0" * 32,
                  "cookies": [], "lang": "en", "locale": "en-GB"})
    # A known-bad page proves the checks can fail: no lang, an image without alt, low
    # contrast, and a box wider than a phone.
    bad = ("data:text/html,<title>x</title><main><img src='data:,'>"
           "<p style='color:%23aaa;background:%23fff'>faint</p>"
           "<div style='width:900px'>wide</div></main>")
    pages.append({"name": "known-bad", "url": bad, "cookies": [], "lang": None})
    shots = tmp_path / "screenshots"
    job = {"pages": pages, "widths": [360, 1280], "shots": str(shots),
           "executable_path": CHROMIUM}
    p = subprocess.run([node, CHECK], input=json.dumps(job), capture_output=True, text=True,
                       cwd=BROWSER_DIR, timeout=600)
    try:
        res = json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise AssertionError("check-pages.mjs said nothing usable (exit %d):\n%s\n%s"
                             % (p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    if p.returncode != 0 or not res["ok"]:
        pytest.fail("the browser could not be driven: %s\n%s"
                    % (res.get("reason"), p.stderr[-3000:]), pytrace=False)
    want = {pg["name"]: pg["lang"] for pg in pages}
    assert len(res["results"]) == 2 * len(pages)
    problems = []
    for r in res["results"]:
        if r["name"] == "known-bad":
            found = {v["id"] for v in r["violations"]}
            assert {"html-has-lang", "image-alt", "color-contrast"} <= found, found
            assert r["lang"] is None
            assert (r["scroll_width"] > r["inner_width"]) == (r["width"] == 360), r
            continue
        where = "%s at %d px" % (r["name"], r["width"])
        lang = want[r["name"]]
        expect_status = 404 if r["name"].startswith(("error", "verify-unknown")) else 200
        if r["status"] != expect_status:
            problems.append("%s: HTTP %s" % (where, r["status"]))
        if r["lang"] != lang or r["dir"] != ("rtl" if lang == "ar" else "ltr"):
            problems.append("%s: lang=%r dir=%r" % (where, r["lang"], r["dir"]))
        if r["scroll_width"] > r["inner_width"]:
            problems.append("%s: overflows (%d > %d px)" % (where, r["scroll_width"],
                                                             r["inner_width"]))
        for v in r["violations"]:
            problems.append("%s: axe %s (%s): %s %r" % (where, v["id"], v["impact"], v["help"],
                                                       v["nodes"]))
        assert os.path.getsize(r["shot"]) > 1000, r["shot"]
    assert not problems, "\n".join(problems)
