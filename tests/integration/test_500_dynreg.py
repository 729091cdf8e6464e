"""Issue 5, LTI Dynamic Registration 1.0 against a loopback platform playing Moodle 4.5's
openid-configuration.php and openid-registration.php (shapes from the fixtures
dynreg-*), then an LTI 1.3 launch with the client it registered; the refusals: a reused
registration token, a platform outside PTechRegistrationIssuers (nothing fetched, nothing
posted, nothing stored), bad configurations, a refusing platform."""
import json
import time
import urllib.parse
import uuid

import pytest

import ptechtest as pt

TOOLCONF = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATCONF = "https://purl.imsglobal.org/spec/lti-platform-configuration"
FIXTURE_ORIGIN = "http://127.0.0.1:8081"
AGS_SCOPES = {"https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
              "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
              "https://purl.imsglobal.org/spec/lti-ags/scope/score"}
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
DONE = {"fr": "Outil enregistré", "en": "Tool registered", "ar": "تم تسجيل الأداة"}


def fixture_text(name):
    with open(pt.os.path.join(pt.FIXTURES, name), encoding="utf-8") as f:
        return f.read()


class Registrar(pt.Platform):
    """pt.Platform (JWKS, auth endpoint) plus Moodle's Dynamic Registration endpoints:
    CONFIG serves the captured openid-configuration moved to this server's origin (config
    is that document, editable; config_body replaces it); REGISTER checks the Bearer token
    and the tool's configuration (what is wrong goes to reg_errors and is answered 400) and
    answers like the capture with a new client_id and deployment "3".  Like Moodle, a token
    it issued is accepted again (the tool must refuse the reuse itself)."""

    CONFIG = "/mod/lti/openid-configuration.php"
    REGISTER = "/mod/lti/openid-registration.php"

    def __init__(self):
        super().__init__(deployment="3")
        self.config = json.loads(fixture_text("dynreg-moodle-openid-configuration.json")
                                 .replace(FIXTURE_ORIGIN, self.base))
        self.config_body = None
        self.tokens = set()
        self.requests = []          # the tool's registration documents
        self.reg_errors = []
        self.expect_tool = None     # the tool's public URL
        self.refuse = None          # (status, body) to answer every registration with
        self.routes[self.CONFIG] = self._config
        self.routes[self.REGISTER] = self._register

    @property
    def config_url(self):
        return self.base + self.CONFIG

    def new_token(self, exp_in=3600):
        """A registration token like Moodle's: RS256 JWT {sub, scope reg, iat, exp}."""
        now = int(time.time())
        tok = self.sign({"sub": "reg" + uuid.uuid4().hex[:10], "scope": "reg", "iat": now,
                         "exp": now + exp_in})
        self.tokens.add(tok)
        return tok

    def posts(self):
        return self.count(self.REGISTER)

    def _config(self, query, handler):
        body = self.config_body if self.config_body is not None else json.dumps(self.config)
        return 200, {"Content-Type": "application/json; charset=utf-8"}, body

    def _register(self, query, handler):
        n = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(n)
        problems = []
        if handler.command != "POST":
            problems.append("method %s" % handler.command)
        auth = handler.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            problems.append("no valid Bearer registration token")
        if not (handler.headers.get("Content-Type") or "").startswith("application/json"):
            problems.append("Content-Type %r" % handler.headers.get("Content-Type"))
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
            problems.append("not JSON: %r" % raw[:200])
        if doc is not None:
            self.requests.append(doc)
            problems += check_tool_document(doc, self.expect_tool)
        if problems:
            self.reg_errors += problems
            return 400, {"Content-Type": "application/json"}, json.dumps(
                {"error": "invalid_client_metadata", "error_description": "; ".join(problems)})
        if self.refuse is not None:
            return self.refuse[0], {"Content-Type": "application/json"}, self.refuse[1]
        # Moodle's answer: the request echoed with client_id, version and deployment_id.
        shape = json.loads(fixture_text("dynreg-registration-response-from-moodle.txt")
                           .split("\n", 1)[1])
        self.client_id = "kCO" + uuid.uuid4().hex[:12]
        out = {k: doc[k] for k in shape if k in doc and k != TOOLCONF}
        out["client_id"] = self.client_id
        out["grant_types"] = ["client_credentials", "implicit"]
        tc = dict(doc[TOOLCONF])
        tc["version"] = "1.3.0"
        tc["deployment_id"] = self.deployment
        tc["messages"] = tc["messages"][-1:]    # Moodle keeps the last message only
        out[TOOLCONF] = tc
        return 200, {"Content-Type": "application/json"}, json.dumps(out)


def check_tool_document(doc, tool):
    """What Moodle 4.5's registration helper needs from the tool, and what we promise:
    the fixture's fields, domain = host:port of target_link_uri, our endpoints, the AGS
    and NRPS scopes, name and email claims, LtiDeepLinkingRequest last."""
    problems = []
    want = json.loads(fixture_text("dynreg-registration-request-from-tool.json"))
    for k in want:
        if k not in doc:
            problems.append("no %s" % k)
    for k in ("domain", "target_link_uri", "claims", "messages"):
        if k not in doc.get(TOOLCONF, {}):
            problems.append("no %s.%s" % (TOOLCONF, k))
    if problems:
        return problems
    tc = doc[TOOLCONF]
    checks = {
        "application_type": doc["application_type"] == "web",
        "response_types": doc["response_types"] == ["id_token"],
        "grant_types": set(doc["grant_types"]) == {"implicit", "client_credentials"},
        "token_endpoint_auth_method": doc["token_endpoint_auth_method"] == "private_key_jwt",
        "scope": AGS_SCOPES | {NRPS_SCOPE} <= set(doc["scope"].split()),
        "claims": {"name", "email", "given_name", "family_name"} <= set(tc["claims"]),
        "messages": (len(tc["messages"]) == 2
                     and [m["type"] for m in tc["messages"]]
                     == ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]),
        "client_name": bool(doc["client_name"]) and doc.get("client_name#fr")
        and doc.get("client_name#en"),
    }
    if tool is not None:
        checks.update({
            "initiate_login_uri": doc["initiate_login_uri"] == tool + "/ptech/login",
            "redirect_uris": doc["redirect_uris"] == [tool + "/ptech/launch"],
            "jwks_uri": doc["jwks_uri"] == tool + "/ptech/jwks",
            "logo_uri": doc["logo_uri"] == tool + "/ptech/static/logo.svg",
            "target_link_uri": tc["target_link_uri"] == tool + "/ptech/launch",
            "domain": tc["domain"] == urllib.parse.urlsplit(tool).netloc,
            "message targets": all(m["target_link_uri"] == tool + "/ptech/launch"
                                   for m in tc["messages"]),
        })
    return ["bad %s" % k for k, ok in checks.items() if not ok]


@pytest.fixture
def registrar():
    r = Registrar()
    yield r
    r.close()


def reg_server(httpd_factory, registrar, issuers=None, loopback=True, registration=True):
    d = []
    if loopback:
        d.append("PTechAllowInsecureLoopback On")
    if registration:
        d.append("PTechRegistration On")
    if issuers is None:
        issuers = [registrar.issuer]
    if issuers:
        d.append("PTechRegistrationIssuers " + " ".join(issuers))
    srv = httpd_factory(directives=d, demo=False, seed=True)
    srv.start()
    registrar.expect_tool = srv.public_url
    return srv


def register(srv, registrar, token=None, config_url=None, lang=None, params=None):
    q = params if params is not None else {
        "openid_configuration": config_url or registrar.config_url,
        "registration_token": token or registrar.new_token()}
    headers = {"Accept-Language": lang} if lang else {}
    return srv.get("/ptech/register?" + urllib.parse.urlencode(q), headers=headers)


def audit(srv):
    return srv.sql("SELECT http_status, reason, detail FROM audit ORDER BY id")


def test_500_dynreg_register_then_launch(httpd_factory, registrar, catalog):
    """Moodle's flow: the tool reads the openid-configuration, posts its configuration with
    the Bearer token, stores the platform and deployment Moodle returns, answers with a page
    framed by the LMS whose button posts org.imsglobal.lti.close; then a student launches
    with the registered client id and deployment."""
    srv = reg_server(httpd_factory, registrar)
    r = register(srv, registrar, lang="en")
    assert r.status_code == 200, (r.status_code, r.text[:3000], registrar.reg_errors)
    assert registrar.reg_errors == []
    assert registrar.count(registrar.CONFIG) == 1 and registrar.posts() == 1
    # The page: English, names what was registered, framed by the LMS only, no inline code.
    assert DONE["en"] in r.text and "Activate" in r.text
    assert registrar.client_id in r.text and "<code>3</code>" in r.text
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' %s" % registrar.issuer in csp, csp
    assert "script-src 'self'" in csp
    assert '<script src="/ptech/static/dynreg.js"></script>' in r.text
    assert r.headers["Cache-Control"] == "no-store"
    pt.assert_no_inline_code(r.text)
    pt.check_local_links(r.text, srv.public_url)
    js = srv.get("/ptech/static/dynreg.js")
    assert js.status_code == 200 and js.headers["Content-Type"].startswith("text/javascript")
    assert "postMessage({subject: 'org.imsglobal.lti.close'}" in js.text
    assert "ptech-dynreg-close" in js.text and 'id="ptech-dynreg-close"' in r.text
    logo = srv.get("/ptech/static/logo.svg")
    assert logo.status_code == 200 and logo.headers["Content-Type"] == "image/svg+xml"
    # What the tool sent (checked by the mock) and what it stored.
    doc = registrar.requests[0]
    assert doc[TOOLCONF]["domain"] == "127.0.0.1:%d" % srv.port
    assert doc[TOOLCONF]["messages"][-1]["type"] == "LtiDeepLinkingRequest"
    rows = srv.sql("SELECT issuer, client_id, auth_url, token_url, jwks_url FROM platforms")
    assert rows == [(registrar.issuer, registrar.client_id, registrar.auth_url,
                     registrar.token_url, registrar.jwks_url)]
    assert srv.sql("SELECT deployment_id FROM deployments") == [("3",)]
    assert srv.count("nonces", "scope='dynreg'") == 1
    # The token itself is stored nowhere, nor logged.
    token_rows = srv.sql("SELECT nonce FROM nonces WHERE scope='dynreg'")
    assert len(token_rows[0][0]) == 64
    assert not any(t in srv.log_text() for t in registrar.tokens)
    assert audit(srv) == []
    listed = srv.ptechctl("platform", "list")
    assert listed.returncode == 0 and registrar.client_id in listed.stdout
    # A launch with the registered client: login, the platform's auth endpoint, the id_token.
    cid = catalog.order[0]
    b = pt.Browser(srv, registrar)
    sid, page, spec = b.launch_and_follow("student", claims={
        pt.LTI + "custom": {"course": cid}})
    assert registrar.auth_errors == []
    assert spec.client_id == registrar.client_id and spec.deployment == "3"
    assert page.status_code == 200, page.text[:2000]
    assert srv.sql("SELECT COUNT(*) FROM launches")[0][0] == 1
    assert srv.count("persons", "tenant=?", ("lti13:%s#%s" % (registrar.issuer,
                                                              registrar.client_id),)) == 1


def test_501_dynreg_languages_and_old_moodle(httpd_factory, registrar):
    """The last page in French (default), Arabic (rtl) and English; a Moodle without
    authorization_endpoint (before 4.1) gets issuer + /mod/lti/auth.php."""
    srv = reg_server(httpd_factory, registrar)
    for lang, al in (("fr", None), ("ar", "ar-MA,ar;q=0.9"), ("en", "en-GB")):
        r = register(srv, registrar, lang=al)
        assert r.status_code == 200, (r.text[:2000], registrar.reg_errors)
        assert '<html lang="%s" dir="%s">' % (lang, "rtl" if lang == "ar" else "ltr") in r.text
        assert DONE[lang] in r.text
    del registrar.config["authorization_endpoint"]
    r = register(srv, registrar)
    assert r.status_code == 200, r.text[:2000]
    rows = srv.sql("SELECT auth_url FROM platforms WHERE client_id=?", (registrar.client_id,))
    assert rows == [(registrar.issuer + "/mod/lti/auth.php",)]
    assert srv.count("platforms") == 4 and srv.count("deployments") == 4
    assert audit(srv) == []


def test_510_dynreg_token_reused(httpd_factory, registrar):
    """A registration token works once: the second use is a 400 page with an audit row,
    nothing posted to the platform (which would accept it) and nothing stored."""
    srv = reg_server(httpd_factory, registrar)
    token = registrar.new_token()
    assert register(srv, registrar, token=token).status_code == 200
    r = register(srv, registrar, token=token)
    pt.assert_error_page(r, 400, "dynreg_token_reused")
    assert "already used" in r.text
    assert registrar.posts() == 1
    assert srv.count("platforms") == 1
    assert [a[:2] for a in audit(srv)] == [(400, "dynreg_token_reused")]
    assert token not in audit(srv)[0][2]


def test_520_dynreg_issuer_not_allowed(httpd_factory, registrar):
    """A platform outside PTechRegistrationIssuers: 403, its configuration not even
    fetched, nothing posted, nothing stored but the audit row."""
    srv = reg_server(httpd_factory, registrar, issuers=["https://moodle.univh2c.ma"])
    r = register(srv, registrar)
    pt.assert_error_page(r, 403, "dynreg_issuer_not_allowed")
    assert "PTechRegistrationIssuers" in r.text
    assert registrar.count() == 0
    assert srv.count("platforms") == 0 and srv.count("nonces") == 0
    assert [a[:2] for a in audit(srv)] == [(403, "dynreg_issuer_not_allowed")]


def test_521_dynreg_issuer_checked_after_fetch(httpd_factory, registrar):
    """Same site as an allowed issuer, but the configuration names another issuer: 403
    after the fetch, before any POST."""
    srv = reg_server(httpd_factory, registrar, issuers=[registrar.issuer + "/moodle"])
    r = register(srv, registrar)
    pt.assert_error_page(r, 403, "dynreg_issuer_not_allowed")
    assert registrar.count(registrar.CONFIG) == 1 and registrar.posts() == 0
    assert srv.count("platforms") == 0 and srv.count("nonces") == 0


def test_522_dynreg_off(httpd_factory, registrar):
    """PTechRegistration Off (the default): there is no /ptech/register."""
    srv = reg_server(httpd_factory, registrar, registration=False)
    r = register(srv, registrar)
    pt.assert_error_page(r, 404, "not_found")
    assert registrar.count() == 0 and srv.count("platforms") == 0


def test_523_dynreg_without_allow_list(httpd_factory, registrar):
    """PTechRegistration On without PTechRegistrationIssuers: any platform registers, and
    the start-up log warns about it."""
    srv = reg_server(httpd_factory, registrar, issuers=[])
    assert "PT00051: PTechRegistration is On without PTechRegistrationIssuers" in \
        srv.log_text()
    r = register(srv, registrar)
    assert r.status_code == 200, (r.text[:2000], registrar.reg_errors)
    assert srv.count("platforms") == 1


@pytest.mark.parametrize("case", ["no_registration_endpoint", "no_platform_configuration",
                                  "not_json", "duplicate_keys", "http_issuer",
                                  "foreign_issuer", "no_rs256", "no_auth_not_moodle"])
def test_530_dynreg_bad_configuration(httpd_factory, registrar, case):
    """A configuration the tool cannot use: refused with a page naming the problem, an
    audit row, nothing posted, nothing stored."""
    srv = reg_server(httpd_factory, registrar)
    status, reason, words = 502, "dynreg_config_invalid", None
    if case == "no_registration_endpoint":
        del registrar.config["registration_endpoint"]
        words = "registration_endpoint"
    elif case == "no_platform_configuration":
        del registrar.config[PLATCONF]
        words = PLATCONF
    elif case == "not_json":
        registrar.config_body = "<html>Moodle error</html>"
    elif case == "duplicate_keys":
        registrar.config_body = json.dumps(registrar.config)[:-1] + ', "issuer": "x"}'
    elif case == "http_issuer":
        # Plain http to a host that is not the loopback, even with the loopback allowed.
        for k in ("issuer", "token_endpoint", "jwks_uri", "registration_endpoint",
                  "authorization_endpoint"):
            registrar.config[k] = registrar.config[k].replace(registrar.base,
                                                              "http://moodle.univh2c.ma")
        status, reason, words = 403, "dynreg_insecure_url", "http://moodle.univh2c.ma"
    elif case == "foreign_issuer":
        registrar.config["issuer"] = "https://moodle.univh2c.ma"
        status, reason, words = 403, "dynreg_issuer_mismatch", "another site"
    elif case == "no_rs256":
        registrar.config["id_token_signing_alg_values_supported"] = ["ES256"]
        status, reason = 400, "dynreg_no_rs256"
    elif case == "no_auth_not_moodle":
        del registrar.config["authorization_endpoint"]
        registrar.config[PLATCONF]["product_family_code"] = "canvas"
        words = "authorization_endpoint"
    # The allow-list is the mock's issuer: the cases run past it to the configuration.
    r = register(srv, registrar)
    pt.assert_error_page(r, status, reason)
    if words:
        assert pt.html_escape(words) in r.text, r.text[:2000]
    assert registrar.posts() == 0
    assert srv.count("platforms") == 0 and srv.count("nonces") == 0
    assert [a[:2] for a in audit(srv)] == [(status, reason)]


def test_531_dynreg_insecure_without_loopback(httpd_factory, registrar):
    """Without PTechAllowInsecureLoopback, a plain http openid_configuration is refused
    before anything is fetched."""
    srv = reg_server(httpd_factory, registrar, loopback=False)
    r = register(srv, registrar)
    pt.assert_error_page(r, 403, "dynreg_insecure_url")
    assert "PTechAllowInsecureLoopback" in r.text
    assert registrar.count() == 0 and srv.count("platforms") == 0


def test_532_dynreg_bad_requests(httpd_factory, registrar):
    """Missing or repeated parameters, a token that is not a JWT or has expired, a POST:
    400s (405) with their reason, nothing fetched."""
    srv = reg_server(httpd_factory, registrar)
    cases = [
        ({"registration_token": registrar.new_token()}, 400, "dynreg_missing_param"),
        ({"openid_configuration": registrar.config_url}, 400, "dynreg_missing_param"),
        ({"openid_configuration": registrar.config_url, "registration_token": "a b<c>"},
         400, "dynreg_bad_token"),
        ({"openid_configuration": registrar.config_url,
          "registration_token": registrar.new_token(exp_in=-3600)}, 400,
         "dynreg_token_expired"),
        ({"openid_configuration": "/mod/lti/openid-configuration.php",
          "registration_token": registrar.new_token()}, 400, "dynreg_bad_url"),
    ]
    for params, status, reason in cases:
        r = register(srv, registrar, params=params)
        pt.assert_error_page(r, status, reason)
    twice = "openid_configuration=%s&openid_configuration=%s&registration_token=%s" % (
        urllib.parse.quote(registrar.config_url, safe=""),
        urllib.parse.quote(registrar.config_url, safe=""), registrar.new_token())
    pt.assert_error_page(srv.get("/ptech/register?" + twice), 400, "dynreg_duplicate_param")
    r = srv.post("/ptech/register", data={"openid_configuration": registrar.config_url})
    pt.assert_error_page(r, 405, "dynreg_method")
    assert r.headers["Allow"] == "GET"
    assert registrar.count() == 0 and srv.count("platforms") == 0
    assert len(audit(srv)) == len(cases) + 2


def test_533_dynreg_platform_refuses(httpd_factory, registrar):
    """The platform answers the registration with an error: 502 with its words, nothing
    stored but the used token and the audit row."""
    srv = reg_server(httpd_factory, registrar)
    registrar.refuse = (401, json.dumps({"error": "invalid_token",
                                         "error_description": "registration token expired"}))
    r = register(srv, registrar)
    pt.assert_error_page(r, 502, "dynreg_refused")
    assert "invalid_token: registration token expired" in r.text
    assert registrar.posts() == 1 and srv.count("platforms") == 0
    assert [a[:2] for a in audit(srv)] == [(502, "dynreg_refused")]
