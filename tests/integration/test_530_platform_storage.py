"""Blocked third-party cookies (SPEC.md, Cookies): the 1EdTech platform storage
(lti_storage_target; lti.put_data / lti.get_data by postMessage, and the legacy
org.imsglobal.lti.* subjects) when the platform offers it, else the 401 page that offers to
open the activity in a new window and stores nothing.

The server side is checked with requests; the whole exchange with a real browser: Debian's
headless Chromium (/usr/bin/chromium) driven by playwright-core from npm
(tests/browser/run-frame.mjs; `make deps` installs chromium, nodejs and npm, and runs
`npm ci` in tests/browser) with third-party cookies blocked, on an LMS page served by a
loopback platform at http://127.0.0.1:P that frames the tool at http://localhost:T (another
site, so the tool's cookies are third-party cookies there).  A missing browser, node or
playwright-core fails these tests: it is never a skip.
"""
import html
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import uuid

import pytest
import requests

import ptechtest as pt

CHROMIUM = "/usr/bin/chromium"       # Debian's; playwright-core downloads no browser
BROWSER_DIR = os.path.join(pt.REPO, "tests", "browser")
RUN_FRAME = os.path.join(BROWSER_DIR, "run-frame.mjs")
FRAME = "ptech_storage"       # the LMS page's storage frame (lti_storage_target)


def _attrs(text, element_id):
    m = re.search(r'<[a-z]+([^>]* id="%s"[^>]*)>' % re.escape(element_id), text)
    assert m, text[:3000]
    return {k: html.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', m.group(1))}


def _storage_login(b, target=FRAME, **kw):
    """A login initiation with lti_storage_target: (response, spec)."""
    params = dict(kw.pop("params", {}))
    params["lti_storage_target"] = target
    return b.login("student", params=params, **kw)


# ---- the server side, with requests -----------------------------------------------------

def test_531_login_with_storage_target(server13, platform):
    """The login answers a page (no redirect) whose data tell storage.js what to put where
    and where to go next: the very auth request the 302 would make; the cookie is set too."""
    srv = server13
    b = pt.Browser(srv, platform)
    r, spec = _storage_login(b)
    assert r.status_code == 200, (r.status_code, r.text[:2000])
    assert "Location" not in r.headers
    pt.assert_no_inline_code(r.text)
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert '<script src="/ptech/static/storage.js"></script>' in r.text
    a = _attrs(r.text, "ptech-storage")
    assert a["data-mode"] == "put" and a["data-target"] == FRAME
    assert a["data-origin"] == platform.base          # the auth endpoint's origin
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(a["data-next"]).query))["state"]
    assert a["data-key"] == "ptech_state_" + state
    cookies = b.state_cookies()
    assert list(cookies.values()) == [a["data-value"]]
    assert srv.sql("SELECT storage_target, relaunch FROM login_states WHERE state=?",
                   (state,)) == [(FRAME, platform.issuer + "/mod/lti/launch.php?id=3")]
    # The auth endpoint gets exactly the OIDC parameters (it checks them).
    r = b.session.get(a["data-next"], allow_redirects=False, timeout=30)
    assert r.status_code == 200, (r.text, platform.auth_errors)
    # A target that is not a plain frame name is ignored: the plain 302.
    r, spec = _storage_login(b, target="x'><script>")
    assert r.status_code == 302 and r.headers["Location"].startswith(platform.auth_url + "?")


def test_532_launch_through_storage(server13, platform, catalog):
    """Without its cookie, a launch whose login used the platform storage gets a page that
    fetches the value (nothing stored, the state kept); posted again with it, the launch is
    checked like with the cookie and answers the course page itself; a wrong value is a
    403 and spends the state."""
    srv = server13
    cid = catalog.order[0]
    b = pt.Browser(srv, platform)
    r, spec = _storage_login(b, claims={pt.LTI + "custom": {"course": cid}})
    value = _attrs(r.text, "ptech-storage")["data-value"]
    spec.action, spec.form = _authorize(b, r)
    before = srv.counts()
    cookieless = requests.Session()
    r = b.post_launch(spec.form, session=cookieless)
    assert r.status_code == 200, (r.status_code, r.text[:2000])
    pt.assert_no_inline_code(r.text)
    a = _attrs(r.text, "ptech-storage")
    assert a["data-mode"] == "get" and a["data-key"] == "ptech_state_" + spec.state
    assert a["data-origin"] == platform.base and a["data-target"] == FRAME
    forms = pt.parse_forms(r.text)
    assert len(forms) == 1 and forms[0]["action"] == "/ptech/launch"
    fields = dict(forms[0]["inputs"])
    assert fields == {"id_token": spec.form["id_token"], "state": spec.state,
                      "lti_storage_value": ""}
    assert srv.counts() == before and srv.count("login_states") == 1
    # Posted again with the platform's value: the course page, a session, the state spent.
    r = b.post_launch(dict(fields, lti_storage_value=value), session=cookieless)
    assert r.status_code == 200, (r.status_code, r.text[:2000])
    assert any(catalog.title(cid, lang) in r.text for lang in ("fr", "ar", "en")), r.text
    sid, attrs = pt.parse_cookie(r)
    assert sid and pt.SID_RE.fullmatch(sid)
    assert srv.count("sessions") == 1 and srv.count("launches") == 1
    assert srv.count("login_states") == 0
    # The same launch again: the state is gone.
    r = b.post_launch(dict(fields, lti_storage_value=value), session=cookieless)
    pt.assert_error_page(r, 401, "lti13_state_unknown")

    # A value that is not the login's: 403, the state spent, nothing stored.
    r, spec = _storage_login(b)
    spec.action, spec.form = _authorize(b, r)
    before = srv.counts()
    r = b.post_launch(dict(spec.form, lti_storage_value="0" * 64), session=requests.Session())
    pt.assert_error_page(r, 403, "lti13_state_mismatch")
    assert "platform's storage" in r.text
    assert srv.count("login_states", "state=?", (spec.state,)) == 0
    after = srv.counts()
    assert after.pop("audit") == before.pop("audit") + 1 and after == before

    # No value from the platform (storage.js posts an empty one): the new-window page.
    r, spec = _storage_login(b)
    spec.action, spec.form = _authorize(b, r)
    r = b.post_launch(dict(spec.form, lti_storage_value=""), session=requests.Session())
    pt.assert_error_page(r, 401, "lti13_state_no_cookie")
    assert "storage did not give" in r.text


def _authorize(b, login_resp):
    """Follows the login page's data-next to the platform: (action, fields)."""
    nxt = _attrs(login_resp.text, "ptech-storage")["data-next"]
    r = b.session.get(nxt, allow_redirects=False, timeout=30)
    assert r.status_code == 200, (r.text, b.platform.auth_errors)
    forms = pt.parse_forms(r.text)
    return forms[0]["action"], dict(forms[0]["inputs"])


def test_533_no_cookie_no_storage(server13, platform):
    """No cookie and no platform storage: 401, a button that opens the activity again from
    the LMS in a new window (Moodle's launch.php of the course module), fr/ar/en, an audit
    row, nothing else stored."""
    srv = server13
    b = pt.Browser(srv, platform)
    spec = b.start("student")
    before = srv.counts()
    for lang, words in (("fr", "nouvelle fenêtre"), ("ar", "نافذة جديدة"),
                        ("en", "new window")):
        r = b.post_launch(spec.form, session=requests.Session()) if lang == "fr" else None
        if r is None:
            s2 = b.start("student")
            sess = requests.Session()
            sess.headers["Accept-Language"] = lang
            r = b.post_launch(s2.form, session=sess)
        else:
            assert r.headers["Content-Language"] == "fr"
        pt.assert_error_page(r, 401, "lti13_state_no_cookie")
        assert words in r.text
        a = _attrs(r.text, "ptech-new-window")
        assert a["href"] == platform.issuer + "/mod/lti/launch.php?id=3"
        assert a["target"] == "_blank" and a["rel"] == "noopener"
    after = srv.counts()
    assert after.pop("audit") == before.pop("audit") + 3 and after == before
    assert srv.count("login_states") == 0
    assert srv.sql("SELECT http_status, reason FROM audit ORDER BY id DESC LIMIT 1") == \
        [(401, "lti13_state_no_cookie")]
    # Without a Moodle lti_message_hint: the LMS's home.
    spec = b.start("student", message_hint=None)
    r = b.post_launch(spec.form, session=requests.Session())
    assert _attrs(r.text, "ptech-new-window")["href"] == platform.issuer


def test_534_storage_js(server13):
    r = server13.get("/ptech/static/storage.js")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/javascript")
    for word in ("lti.", "org.imsglobal.lti.", "_data", ".response", "postMessage(m, origin)",
                 "ev.origin !== origin", "lti_storage_value"):
        assert word in r.text, word


# ---- a real browser with third-party cookies blocked --------------------------------------

STORAGE_JS = r"""
(function () {
  var data = {};
  var legacyOnly = %(legacy)s, forget = %(forget)s;
  window.addEventListener('message', function (ev) {
    var d = ev.data;
    if (!d || typeof d !== 'object' || typeof d.subject !== 'string') { return; }
    var m = /^(lti|org\.imsglobal\.lti)\.(put|get)_data$/.exec(d.subject);
    if (!m || (legacyOnly && m[1] === 'lti') || ev.origin !== %(tool)s) { return; }
    var k = ev.origin + ' ' + d.key, reply = {subject: d.subject + '.response',
                                              message_id: d.message_id, key: d.key};
    if (m[2] === 'put') { data[k] = d.value; reply.value = d.value; }
    else if (data.hasOwnProperty(k) && !forget) { reply.value = data[k]; }
    else { reply.error = {code: 'bad_request', message: 'no such key'}; }
    fetch('/lms/log?subject=' + encodeURIComponent(d.subject) + '&key='
          + encodeURIComponent(d.key) + '&ok=' + (reply.error ? 0 : 1));
    ev.source.postMessage(reply, ev.origin);
  });
})();
"""


class StoragePlatform(pt.Platform):
    """The loopback platform with an LMS page: /lms/view.php frames the tool (Moodle's
    login form, from /lms/launch.php) next to a storage frame that answers lti.put_data and
    lti.get_data for the tool's origin only (or the LMS page itself, for "_parent"; legacy:
    only the org.imsglobal.lti.* subjects)."""

    def __init__(self):
        super().__init__()
        self.tool_origin = None
        self.log = []
        self.pages = {}
        self.routes["/lms/view.php"] = self._view
        self.routes["/lms/launch.php"] = self._launch
        self.routes["/lms/storage.html"] = self._storage
        self.routes["/lms/log"] = self._log

    def _js(self, legacy, forget=False):
        return STORAGE_JS % {"legacy": "true" if legacy else "false",
                             "forget": "true" if forget else "false",
                             "tool": json.dumps(self.tool_origin)}

    def _view(self, query, handler):
        q = dict(query)
        page = self.pages[q["id"]]
        frames, script = "", ""
        if page["target"] == FRAME:
            frames = ('<iframe name="%s" src="/lms/storage.html?legacy=%d&forget=%d">'
                      '</iframe>' % (FRAME, page["legacy"], page["forget"]))
        elif page["target"] == "_parent":
            script = "<script>%s</script>" % self._js(page["legacy"])
        body = """<!DOCTYPE html><html><head><title>LMS</title>%s</head><body>
<h1>Course</h1>%s
<script>
function go() {
  var t = document.createElement('iframe');
  t.name = 'tool'; t.id = 'tool'; t.width = 900; t.height = 600;
  t.src = '/lms/launch.php?id=%s';
  document.body.appendChild(t);
}
var s = document.getElementsByName('%s')[0];
if (s) { s.addEventListener('load', go); } else { go(); }
</script></body></html>""" % (script, frames, q["id"], FRAME)
        return 200, {"Content-Type": "text/html; charset=utf-8"}, body

    def _launch(self, query, handler):
        page = self.pages[dict(query)["id"]]
        inputs = "".join('<input type="hidden" name="%s" value="%s"/>\n'
                         % (pt.html_escape(k), pt.html_escape(v)) for k, v in page["fields"])
        body = ('<form action="%s" name="ltiInitiateLoginForm" method="post">\n%s</form>\n'
                '<script>document.ltiInitiateLoginForm.submit();</script>\n'
                % (pt.html_escape(page["login"]), inputs))
        return 200, {"Content-Type": "text/html; charset=utf-8"}, body

    def _storage(self, query, handler):
        q = dict(query)
        body = "<!DOCTYPE html><title>storage</title><script>%s</script>" % self._js(
            q.get("legacy") == "1", q.get("forget") == "1")
        return 200, {"Content-Type": "text/html; charset=utf-8"}, body

    def _log(self, query, handler):
        with self.lock:
            self.log.append(dict(query))
        return 204, {}, b""

    def add_page(self, srv, target, legacy=False, claims=None, forget=False):
        """An activity of the LMS launching srv: its view.php URL and its LaunchSpec
        (forget: the storage frame answers lti.get_data with an error)."""
        hint = json.dumps({"cmid": 3, "launchid": "ltilaunch2_%d"
                           % (uuid.uuid4().int % 10 ** 10)}, separators=(",", ":"))
        spec = pt.LaunchSpec(self, "student", self.client_id, self.deployment,
                             srv.public_url + "/ptech/launch", "3", hint,
                             srv.public_url + "/ptech/launch", claims, None, None)
        self.specs[hint] = spec
        fields = self.login_params(spec)
        if target is not None:
            fields.append(("lti_storage_target", target))
        pid = uuid.uuid4().hex[:8]
        self.pages[pid] = {"target": target, "legacy": int(legacy), "forget": int(forget),
                           "fields": fields,
                           "login": srv.public_url + "/ptech/login"}
        return self.base + "/lms/view.php?id=" + pid, spec


def _locked_version(name):
    with open(os.path.join(BROWSER_DIR, "package-lock.json")) as f:
        return json.load(f)["packages"]["node_modules/" + name]["version"]


@pytest.fixture(scope="module")
def chromium():
    """open_lms(url, all=(), any=(), block=True, timeout=15): opens the LMS page in a new
    headless Chromium (a new profile, third-party cookies blocked unless block=False) and
    waits until its frame "tool" shows every string of all and one of any; returns
    run-frame.mjs's result (url, html, third_party_cookie, cookies, console ...)."""
    node = shutil.which("node")
    problems = []
    if not os.path.exists(CHROMIUM):
        problems.append(CHROMIUM + " (Debian's chromium)")
    if not node:
        problems.append("node (Debian's nodejs)")
    want = _locked_version("playwright-core")
    try:
        with open(os.path.join(BROWSER_DIR, "node_modules", "playwright-core",
                               "package.json")) as f:
            have = json.load(f)["version"]
    except OSError:
        have = None
    if have != want:
        problems.append("playwright-core %s in tests/browser/node_modules (there: %s)"
                        % (want, have or "none"))
    if problems:
        pytest.fail("browser tests need %s: make deps installs them"
                    % ", ".join(problems), pytrace=False)

    def open_lms(url, all=(), any=(), block=True, timeout=15):
        job = {"url": url, "frame": "tool", "until": {"all": list(all), "any": list(any)},
               "timeout_ms": int(timeout * 1000), "block_third_party_cookies": block,
               "executable_path": CHROMIUM}
        t0 = time.monotonic()
        try:
            p = subprocess.run([node, RUN_FRAME], input=json.dumps(job), capture_output=True,
                               text=True, cwd=BROWSER_DIR, timeout=timeout + 120)
        except subprocess.TimeoutExpired as e:
            raise AssertionError("run-frame.mjs hung (past its own watchdog):\n%s\n%s"
                                 % (e.stdout, e.stderr)) from None
        try:
            res = json.loads(p.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise AssertionError("run-frame.mjs said nothing usable (exit %d):\n%s\n%s"
                                 % (p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
        res["wall_s"] = time.monotonic() - t0
        if p.returncode == 2:
            pytest.fail("the browser could not be driven: %s\n%s"
                        % (res.get("reason"), p.stderr[-3000:]), pytrace=False)
        assert p.returncode == 0 and res["ok"], \
            "the tool frame did not get there: %s, at %r:\n%s\nconsole: %r\n" \
            "requests without an answer: %r, failed: %r\nlast error: %s\nframes: %r" % (
                res.get("reason"), res.get("url"), (res.get("html") or "")[:3000],
                res.get("console"), res.get("pending"), res.get("requests"),
                res.get("last_error"), res.get("frames"))
        return res

    return open_lms


@pytest.fixture
def storage_setup(httpd_factory):
    """(srv, platform): the tool at http://localhost:T, the platform at 127.0.0.1."""
    pf = StoragePlatform()
    srv = httpd_factory(directives=pt.LTI13_DIRECTIVES, demo=False, seed=True)
    srv.public_url = "http://localhost:%d" % srv.port
    srv.write_conf(pt.LTI13_DIRECTIVES, demo=False)
    srv.start()
    pf.register(srv)
    pf.tool_origin = srv.public_url
    try:
        yield srv, pf
    finally:
        pf.close()


def _assert_blocked(res, srv):
    """The tool's frame was a third party without cookies: the browser says so, holds no
    cookie of the tool's site, and no page of the tool broke its Content-Security-Policy."""
    assert res["third_party_cookie"] is False, res
    host = urllib.parse.urlsplit(srv.public_url).hostname
    assert not [c for c in res["cookies"] if c["domain"].lstrip(".") == host], res["cookies"]
    assert not res["page_errors"], res["page_errors"]
    assert not [m for m in res["console"] if "Content Security Policy" in m["text"]], \
        res["console"]


@pytest.mark.parametrize("mpm", ["event"])
@pytest.mark.parametrize("target,legacy", [(FRAME, False), ("_parent", True)],
                         ids=["named-frame", "parent-legacy"])
def test_535_browser_launch_through_storage(chromium, storage_setup, catalog, target, legacy):
    """Chromium, third-party cookies blocked: the launch completes through the platform's
    storage and the learner page shows in the LMS frame."""
    srv, pf = storage_setup
    cid = catalog.order[0]
    url, spec = pf.add_page(srv, target, legacy, claims={pt.LTI + "custom": {"course": cid}})
    titles = [catalog.title(cid, lang) for lang in ("fr", "ar", "en")]
    res = chromium(url, all=["<h1>"],
                   any=[html.escape(t, quote=False) for t in titles] + ["<code>"])
    where, text = res["url"], res["html"]
    assert any(html.escape(t, quote=False) in text for t in titles), text[:3000]
    # Through the storage (the cookie path would have gone on to /ptech/course).
    assert where == srv.public_url + "/ptech/launch", where
    assert srv.count("sessions") == 1 and srv.count("launches") == 1
    assert srv.count("login_states") == 0
    subjects = [e["subject"] for e in pf.log if e.get("ok") == "1"]
    prefix = "org.imsglobal.lti." if legacy else "lti."
    assert prefix + "put_data" in subjects and prefix + "get_data" in subjects, pf.log
    assert all(e["key"] == "ptech_state_" + spec.state for e in pf.log), pf.log
    assert not pf.auth_errors
    _assert_blocked(res, srv)


@pytest.mark.parametrize("mpm", ["event"])
def test_536_browser_no_storage_new_window(chromium, storage_setup):
    """Chromium, third-party cookies blocked, no lti_storage_target: the 401 page with its
    new-window button, and nothing stored."""
    srv, pf = storage_setup
    url, spec = pf.add_page(srv, None)
    before = srv.counts()
    res = chromium(url, all=["<code>"])
    text = res["html"]
    assert "<code>lti13_state_no_cookie</code>" in text, text[:3000]
    assert re.search(r'<a class="button" id="ptech-new-window" href="%s" target="_blank"'
                     % re.escape(html.escape(pf.issuer + "/mod/lti/launch.php?id=3")), text)
    after = srv.counts()
    assert after.pop("audit") == before.pop("audit") + 1 and after == before
    assert srv.count("login_states") == 0
    assert not pf.log and not pf.auth_errors
    _assert_blocked(res, srv)


@pytest.mark.parametrize("mpm", ["event"])
def test_537_browser_storage_without_the_value(chromium, storage_setup):
    """Chromium, third-party cookies blocked, a platform storage that has lost the value
    (it answers lti.get_data with an error): the 401 new-window page, nothing stored."""
    srv, pf = storage_setup
    url, spec = pf.add_page(srv, FRAME, forget=True)
    before = srv.counts()
    res = chromium(url, all=["<code>"])
    where, text = res["url"], res["html"]
    assert "<code>lti13_state_no_cookie</code>" in text, text[:3000]
    assert "storage did not give" in text and 'id="ptech-new-window"' in text
    assert where == srv.public_url + "/ptech/launch", where
    after = srv.counts()
    assert after.pop("audit") == before.pop("audit") + 1 and after == before
    assert srv.count("login_states") == 0
    got = [(e["subject"], e["ok"]) for e in pf.log]
    assert ("lti.put_data", "1") in got and ("lti.get_data", "0") in got, got
    _assert_blocked(res, srv)


@pytest.mark.parametrize("mpm", ["event"])
def test_538_browser_probe_sees_allowed_cookies(chromium, storage_setup):
    """The check that third-party cookies are blocked can fail: with the profile allowing
    them, the tool's frame keeps a `SameSite=None; Secure` cookie (the tool's own cookies
    are `SameSite=Lax` over plain http, so the launch still ends on the 401 page)."""
    srv, pf = storage_setup
    url, spec = pf.add_page(srv, None)
    res = chromium(url, all=["<code>"], block=False)
    assert "<code>lti13_state_no_cookie</code>" in res["html"], res["html"][:3000]
    assert res["third_party_cookie"] is True, res
