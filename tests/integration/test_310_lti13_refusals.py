"""Issue 4, refused LTI 1.3 logins and launches (the 1EdTech certification's bad payloads and
the issue's list): a 4xx page naming the problem and its reason code, exactly one audit
row, no cookie, nothing stored."""
import concurrent.futures
import json
import time

import pytest
import requests

import ptechtest as pt

STORED = ("persons", "contexts", "resource_links", "link_members", "launches", "sessions",
          "nonces", "deployments")
KID = "be5c594cf7cee8433a1c"      # the platform's kid (Moodle's, from the capture)


def attacker_jwk(kid):
    return pt.rsa_jwk(pt.rsa_key("attacker"), kid)


def check_refusal(srv, make, status, reason, words, stored_extra=()):
    """Runs make() -> response and returns (what is wrong with the refusal, response).
    stored_extra: more tables that must not change."""
    tables = STORED + tuple(stored_extra)
    before = srv.counts(tables)
    audit_max = srv.sql("SELECT COALESCE(MAX(id), 0) FROM audit")[0][0]
    r = make()
    errs = []
    if r.status_code != status:
        errs.append("status %d, not %d" % (r.status_code, status))
    if "<code>%s</code>" % reason not in r.text:
        errs.append("reason %s not on the page" % reason)
    for w in (words if isinstance(words, (list, tuple)) else [words]):
        if w not in r.text:
            errs.append("%r not on the page" % w)
    if not r.headers.get("Content-Type", "").startswith("text/html"):
        errs.append("content type %s" % r.headers.get("Content-Type"))
    if "Set-Cookie" in r.headers:
        errs.append("a cookie was set: %s" % r.headers["Set-Cookie"])
    if "Location" in r.headers:
        errs.append("a Location: %s" % r.headers["Location"])
    rows = srv.sql("SELECT reason, http_status, remote FROM audit WHERE id > ?", (audit_max,))
    if rows != [(reason, status, "127.0.0.1")]:
        errs.append("audit rows %r" % rows)
    after = srv.counts(tables)
    if after != before:
        errs.append("stored: %r -> %r" % (before, after))
    return errs, r


# ---- login initiation ------------------------------------------------------------------

def _login(**params):
    def make(srv, pf):
        b = pt.Browser(srv, pf)
        p = {k: v(srv, pf) if callable(v) else v for k, v in params.items()}
        return b.login(params=p)[0]
    return make


def _base(path):
    return lambda srv, pf: srv.public_url + path


LOGIN_CASES = [
    ("no iss", _login(iss=pt.DROP), 400, "lti13_missing_param", "iss"),
    ("empty iss", _login(iss=""), 400, "lti13_missing_param", "iss"),
    ("no login_hint", _login(login_hint=pt.DROP), 400, "lti13_missing_param", "login_hint"),
    ("no target_link_uri", _login(target_link_uri=pt.DROP), 400, "lti13_missing_param",
     "target_link_uri"),
    ("unknown issuer", _login(iss="https://moodle.example.org"), 400,
     "lti13_unknown_platform", "https://moodle.example.org"),
    ("unknown issuer with markup", _login(iss="https://x.example/<script>alert(1)</script>"),
     400, "lti13_unknown_platform", "x.example/&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("issuer with a trailing slash", _login(iss=lambda s, pf: pf.issuer + "/"), 400,
     "lti13_unknown_platform", "ptechctl platform add"),
    ("unknown client_id", _login(client_id="not-our-client"), 400, "lti13_unknown_platform",
     "not-our-client"),
    ("target on another host", _login(target_link_uri="https://evil.example/ptech/launch"),
     400, "lti13_target_link_uri", "evil.example"),
    ("target on another port", _login(target_link_uri="http://127.0.0.1:1/ptech/launch"),
     400, "lti13_target_link_uri", "127.0.0.1:1/"),
    ("target //evil", _login(target_link_uri="//evil.example/ptech/launch"), 400,
     "lti13_target_link_uri", "//evil.example"),
    ("target /\\evil", _login(target_link_uri="/\\evil.example/ptech/launch"), 400,
     "lti13_target_link_uri", "evil.example"),
    ("target ours then //evil", _login(target_link_uri=_base("/ptech//evil.example/x")), 400,
     "lti13_target_link_uri", "evil.example"),
    ("target ours then \\evil", _login(target_link_uri=_base("/ptech/\\evil.example")), 400,
     "lti13_target_link_uri", "evil.example"),
    ("target with userinfo", _login(target_link_uri=_base("@evil.example/ptech/launch")), 400,
     "lti13_target_link_uri", "evil.example"),
    ("target outside /ptech", _login(target_link_uri=_base("/other/launch")), 400,
     "lti13_target_link_uri", "/other/launch"),
    ("iss twice", _login(iss=lambda s, pf: [pf.issuer, pf.issuer]), 400,
     "lti13_duplicate_param", "iss"),
]


def test_310_login_refusals(server13, platform):
    srv = server13
    failures = []
    for name, make, status, reason, words in LOGIN_CASES:
        errs, r = check_refusal(srv, lambda: make(srv, platform), status, reason, words,
                                stored_extra=("login_states",))
        if errs:
            failures.append("%s: %s\n%s" % (name, "; ".join(errs), r.text[:600]))
    assert not failures, "\n\n".join(failures)
    assert platform.count(platform.AUTH) == 0
    # The same login, by GET and POST, passes: the cases did not fail for another reason.
    for method in ("GET", "POST"):
        r, _ = pt.Browser(srv, platform).login(method=method)
        assert r.status_code == 302, r.text


# ---- launch ----------------------------------------------------------------------------

def _signed(sign=None, post=None, **login):
    """A launch through login and auth, the token signed by sign(claims, platform), the
    form changed by post(form, spec, browser) before it is posted."""
    def make(srv, pf, attacker):
        b = pt.Browser(srv, pf)
        spec = b.start("student", sign=sign, **login)
        form = dict(spec.form)
        if post is not None:
            out = post(form, spec, b)
            if out is not None:
                return out
        return b.post_launch(form)
    return make


def _claims(**claims):
    return _signed(claims=claims)


def _mutate(fn):
    return _signed(mutate=fn)


def _token(fn):
    """The token of the auth answer replaced by fn(token, spec)."""
    def post(form, spec, b):
        form["id_token"] = fn(form["id_token"], spec)
    return _signed(post=post)


def _hand(header=None, payload=None, key="platform", alg="RS256", kid=KID, extra=None):
    """Signed by hand (pt.jws): header/payload raw bytes or None for the claims."""
    def sign(claims, pf):
        k = pt.rsa_key(key) if isinstance(key, str) else key
        return pt.jws(payload(claims) if payload else claims, key=k, alg=alg, kid=kid,
                      header=header(claims) if header else None, extra_header=extra)
    return sign


def _attack(kind):
    """Tokens that point at or carry the attacker's key, signed by the attacker."""
    def make(srv, pf, attacker):
        extra = {"jku": {"jku": attacker.base + "/jwks.json"},
                 "x5u": {"x5u": attacker.base + "/cert.pem"},
                 "jwk": {"jwk": attacker_jwk("attacker-kid")},
                 "jwk-platform-kid": {"jwk": attacker_jwk(KID)}}[kind]
        kid = KID if kind == "jwk-platform-kid" else "attacker-kid"
        return _signed(sign=_hand(key="attacker", kid=kid, extra=extra))(srv, pf, attacker)
    return make


def _drop_in(claim, key):
    def fn(c):
        c[claim] = {k: v for k, v in c[claim].items() if k != key}
    return fn


def _sized(n):
    """Signs a token of about n bytes (a padding claim)."""
    def sign(claims, pf):
        token = pf.sign(claims)
        claims = dict(claims, pad="x" * ((n - len(token)) * 3 // 4))
        token = pf.sign(claims)
        assert abs(len(token) - n) < 100, len(token)
        return token
    return sign


def _big_body(srv, pf, attacker):
    b = pt.Browser(srv, pf)
    spec = b.start("student")
    token = spec.form["id_token"]
    body = pt.form_body([("id_token", token + "A" * (1024 * 1024)),
                         ("state", spec.form["state"])]).encode()
    cookies = "; ".join("%s=%s" % kv for kv in b.state_cookies().items())
    return pt.raw_post(srv, "/ptech/launch", body, dict(pt.FORM, Cookie=cookies))


B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _respell(token, spec):
    """The signature's last base64url character with one of its unused low bits set: the
    same bytes for a lax decoder, another spelling of the token."""
    i = B64URL.index(token[-1])
    assert i & 0xF == 0         # 256 bytes: the last character carries 2 bits, 4 unused
    other = token[:-1] + B64URL[i | 1]
    assert pt.b64url_decode(other.rsplit(".", 1)[1]) == \
        pt.b64url_decode(token.rsplit(".", 1)[1])
    return other


def _duplicate_claims(claims):
    text = json.dumps(claims, separators=(",", ":"))
    return text.replace('"sub":"3"', '"sub":"3","sub":"1"', 1).encode()


def _no_cookie(form, spec, b):
    return pt.Browser(b.srv, b.platform).post_launch(form, session=requests.Session())


def _other_browsers_cookie(form, spec, b):
    other = pt.Browser(b.srv, b.platform)
    other.start("student")
    return other.post_launch(form)


def _forged_cookie(form, spec, b):
    """A cookie with the state's name but another browser's value."""
    other = pt.Browser(b.srv, b.platform)
    other.start("student")
    value = list(other.state_cookies().values())[0]
    s = requests.Session()
    s.cookies.set("ptech_st_" + spec.state.split("-", 1)[1], value, path="/ptech/launch")
    return b.post_launch(form, session=s)


LAUNCH_CASES = [
    # -- header: alg, kid, key pointers
    ("alg none", _signed(sign=_hand(alg="none")), 400, "jwt_alg", "none"),
    ("alg none, no signature part",
     _token(lambda t, s: pt.jws(s.claims, alg="none", kid=KID)[:-1]), 400, "jwt_malformed",
     "compact JWS"),
    ("HS256 MACed with the platform public key",
     _signed(sign=lambda c, pf: pt.jws(c, key=pt.public_pem(pf.key), alg="HS256", kid=KID)),
     400, "jwt_alg", "HS256"),
    ("HS256 MACed with the JWKS text",
     _signed(sign=lambda c, pf: pt.jws(c, key=json.dumps({"keys": pf.published}).encode(),
                                       alg="HS256", kid=KID)), 400, "jwt_alg", "HS256"),
    ("RS384 under a valid kid", _signed(sign=_hand(alg="RS384")), 400, "jwt_alg", "RS384"),
    ("ES256 under a valid kid", _signed(sign=_hand(key=pt.ec_key(), alg="ES256")), 400,
     "jwt_alg", "ES256"),
    ("alg rs256", _signed(sign=_hand(header=lambda c: {"alg": "rs256", "kid": KID})), 400,
     "jwt_alg", "RS256"),
    ("alg twice", _signed(sign=_hand(header=lambda c: (
        '{"alg":"RS256","kid":"%s","alg":"none"}' % KID).encode())), 400, "jwt_malformed",
     "unique keys"),
    ("crit header", _signed(sign=_hand(extra={"crit": ["exp"], "exp": 1})), 400, "jwt_crit",
     "crit"),
    ("no kid", _signed(sign=_hand(kid=None)), 400, "jwt_kid", "kid"),
    ("kid a number", _signed(sign=_hand(header=lambda c: {"alg": "RS256", "kid": 7})), 400,
     "jwt_kid", "kid"),
    ("unknown kid", _signed(sign=_hand(kid="no-such-kid")), 401, "jwt_unknown_kid", "key id"),
    ("kid path traversal", _signed(sign=_hand(kid="../../../../../etc/passwd")), 401,
     "jwt_unknown_kid", "key id"),
    ("kid SQL", _signed(sign=_hand(kid="x' OR '1'='1'; DROP TABLE platforms; --")), 401,
     "jwt_unknown_kid", "key id"),
    ("kid with a NUL after ours", _signed(sign=_hand(kid=KID + "\u0000junk")), 400, "jwt_kid",
     "printable"),
    ("kid junk bytes", _signed(sign=_hand(kid="\u0001\u001b[31m\u007f\u00ff\ufffe")), 400,
     "jwt_kid", "printable"),
    ("kid 10 KB", _signed(sign=_hand(kid="k" * 10240)), 400, "jwt_kid", "printable"),
    ("jku to the attacker", _attack("jku"), 401, "jwt_unknown_kid", "key id"),
    ("x5u to the attacker", _attack("x5u"), 401, "jwt_unknown_kid", "key id"),
    ("jwk of the attacker", _attack("jwk"), 401, "jwt_unknown_kid", "key id"),
    ("jwk of the attacker under our kid", _attack("jwk-platform-kid"), 401,
     "jwt_bad_signature", "signature"),
    ("signed by another key under our kid", _signed(sign=_hand(key="attacker")), 401,
     "jwt_bad_signature", "signature"),
    # -- integrity
    ("bit flipped in the header", _token(lambda t, s: pt.flip_bit(t, 0, find=b'"JWT"'[:-1])),
     401, "jwt_bad_signature", "signature"),
    ("bit flipped in the payload", _token(lambda t, s: pt.flip_bit(t, 1, find=b'"sub":"3')),
     401, "jwt_bad_signature", "signature"),
    ("bit flipped in the signature", _token(lambda t, s: pt.flip_bit(t, 2, index=100)),
     401, "jwt_bad_signature", "signature"),
    ("signature spelled another way (an unused base64 bit set)", _token(_respell), 400,
     "jwt_malformed", "base64url"),
    ("no signature", _token(lambda t, s: t.rsplit(".", 1)[0] + "."), 401,
     "jwt_bad_signature", "signature"),
    ("not a JWT", _token(lambda t, s: "not-a-jwt"), 400, "jwt_malformed", "three parts"),
    ("34 KB token in a 35 KB body", _signed(sign=_sized(34000)), 413, "jwt_too_large",
     "bytes"),
    ("1 MB token", _big_body, 413, "body_too_large", "larger than"),
    ("duplicate claims", _signed(sign=_hand(payload=_duplicate_claims)), 400, "jwt_claims",
     "unique keys"),
    # -- iss, aud, azp, times, nonce
    ("iss with a trailing slash", _mutate(lambda c: c.update(iss=c["iss"] + "/")), 401,
     "jwt_iss", "trailing slash"),
    ("aud without us", _claims(aud="another-tool"), 401, "jwt_aud", "client id"),
    ("aud array without us", _claims(aud=["another-tool", "third"]), 401, "jwt_aud",
     "client id"),
    ("wrong azp with an aud array",
     _mutate(lambda c: c.update(aud=[c["aud"], "another-tool"], azp="another-tool")), 401,
     "jwt_azp", "azp"),
    ("aud array without azp", _mutate(lambda c: c.update(aud=[c["aud"], "another-tool"])),
     400, "jwt_azp", "azp"),
    ("expired", _mutate(lambda c: c.update(iat=c["iat"] - 200, exp=c["iat"] - 140)), 401,
     "jwt_exp", "expired"),
    ("exp as a string", _mutate(lambda c: c.update(exp=str(c["exp"]))), 400, "jwt_exp",
     "not an integer"),
    ("no exp", _claims(exp=pt.DROP), 400, "jwt_exp", "exp"),
    ("iat an hour ahead", _mutate(lambda c: c.update(iat=c["iat"] + 3600,
                                                     exp=c["iat"] + 3660)), 401, "jwt_iat",
     "future"),
    ("nbf an hour ahead", _mutate(lambda c: c.update(nbf=c["iat"] + 3600)), 401, "jwt_nbf",
     "not valid"),
    ("no nonce", _claims(nonce=pt.DROP), 400, "jwt_nonce", "nonce"),
    ("foreign nonce", _claims(nonce="0123456789abcdef0123456789abcdef"), 401, "jwt_nonce",
     "nonce"),
    # -- state
    ("no state", _signed(post=lambda f, s, b: b.post_launch({"id_token": f["id_token"]})),
     400, "lti13_no_state", "state"),
    ("no id_token", _signed(post=lambda f, s, b: b.post_launch({"state": f["state"]})),
     400, "lti13_no_id_token", "id_token"),
    ("unknown state",
     _signed(post=lambda f, s, b: b.post_launch(
         dict(f, state=s.state.split("-")[0] + "-" + "0" * 32))),
     401, "lti13_state_unknown", "state"),
    ("state twice", _signed(post=lambda f, s, b: b.post_launch(
        [("id_token", f["id_token"]), ("state", f["state"]), ("state", f["state"])])),
     400, "lti13_no_state", "state"),
    ("state without its cookie", _signed(post=_no_cookie), 401, "lti13_state_no_cookie",
     "cookie"),
    ("state with another browser's cookies", _signed(post=_other_browsers_cookie), 401,
     "lti13_state_no_cookie", "cookie"),
    ("state cookie with another browser's value", _signed(post=_forged_cookie), 403,
     "lti13_state_mismatch", "cookie"),
    ("platform error", _signed(post=lambda f, s, b: b.post_launch(
        {"error": "login_required", "error_description": "<b>no session</b>",
         "state": f["state"]})), 403, "lti13_platform_error", "&lt;b&gt;no session"),
    ("GET", _signed(post=lambda f, s, b: b.session.get(
        b.srv.url("/ptech/launch"), params=f, allow_redirects=False)), 405, "lti13_method",
     "POST"),
    # -- LTI claims
    ("no version", _claims(**{pt.LTI + "version": pt.DROP}), 400, "lti13_version",
     "version"),
    ("version 1.1", _claims(**{pt.LTI + "version": "1.1.0"}), 400, "lti13_version", "1.1.0"),
    ("no message_type", _claims(**{pt.LTI + "message_type": pt.DROP}), 400,
     "lti13_message_type", "message_type"),
    ("unknown message_type", _claims(**{pt.LTI + "message_type": "LtiSubmissionReview"}),
     400, "lti13_message_type", "LtiSubmissionReview"),
    ("no deployment_id", _claims(**{pt.LTI + "deployment_id": pt.DROP}), 400,
     "lti13_deployment_id", "deployment_id"),
    ("unknown deployment_id", _claims(**{pt.LTI + "deployment_id": "99"}), 401,
     "lti13_unknown_deployment", "PTechAutoDeployments"),
    ("deployment_id of 256 bytes", _claims(**{pt.LTI + "deployment_id": "d" * 256}), 400,
     "lti13_deployment_id", "256 bytes"),
    ("no resource_link", _claims(**{pt.LTI + "resource_link": pt.DROP}), 400,
     "lti13_resource_link", "resource_link"),
    ("no resource_link.id", _mutate(_drop_in(pt.LTI + "resource_link", "id")), 400,
     "lti13_resource_link", "resource_link.id"),
    ("no roles", _claims(**{pt.LTI + "roles": pt.DROP}), 400, "lti13_roles", "roles"),
    ("roles a string", _claims(**{pt.LTI + "roles": "Learner"}), 400, "lti13_roles",
     "not an array"),
    ("no sub", _claims(sub=pt.DROP), 400, "lti13_claim", "sub"),
    ("target_link_uri not the login's",
     _claims(**{pt.LTI + "target_link_uri": "https://evil.example/ptech/launch"}), 403,
     "lti13_target_link_uri", "evil.example"),
    ("deep linking without its settings", _mutate(lambda c: c.update(
        {pt.LTI + "message_type": "LtiDeepLinkingRequest"})), 400, "lti13_deep_linking",
     "deep_linking_settings"),
]


def test_311_launch_refusals(server13, platform):
    srv = server13
    attacker = pt.MockServer()
    attacker.routes["/jwks.json"] = lambda q, h: (200, {"Content-Type": "application/json"},
                                                  json.dumps({"keys": [
                                                      attacker_jwk("attacker-kid")]}))
    try:
        failures = []
        for name, make, status, reason, words in LAUNCH_CASES:
            errs, r = check_refusal(srv, lambda: make(srv, platform, attacker), status,
                                    reason, words)
            if errs:
                failures.append("%s: %s\n%s" % (name, "; ".join(errs), r.text[:600]))
        assert not failures, "%d of %d cases:\n\n%s" % (len(failures), len(LAUNCH_CASES),
                                                        "\n\n".join(failures))
        assert attacker.hits == []
    finally:
        attacker.close()
    assert platform.auth_errors == []
    # At most the first fetch and one refetch for the unknown kids.
    assert platform.jwks_count() <= 2
    log = srv.log_text()
    assert log.count("PT00020: refused") == len(LAUNCH_CASES)
    # The same launch passes: the cases did not fail for another reason.
    r, _ = pt.Browser(srv, platform).launch("student")
    assert r.status_code == 303, r.text


def test_312_replays(server13, platform):
    """The same id_token and state posted twice; the state reused with another token; the
    token of a used login with a new state; 10 posts of one launch at once."""
    srv = server13
    b = pt.Browser(srv, platform)
    spec = b.start("student")
    r = b.post_launch(spec.form)
    assert r.status_code == 303, r.text
    sign_again = dict(spec.form, id_token=platform.sign(dict(spec.claims, sub="7")))
    new = b.start("student")
    cases = [("replayed token", lambda: b.post_launch(spec.form), 401, "lti13_state_unknown"),
             ("reused state", lambda: b.post_launch(sign_again), 401, "lti13_state_unknown"),
             ("old token, new state",
              lambda: b.post_launch(dict(new.form, id_token=spec.form["id_token"])), 401,
              "jwt_nonce")]
    for name, make, status, reason in cases:
        errs, resp = check_refusal(srv, make, status, reason, "")
        assert not errs, (name, errs, resp.text[:600])
    # One launch posted by 10 clients at once (all with the cookie): one gets in.
    b = pt.Browser(srv, platform)
    spec = b.start("student", claims={"sub": "racer"})
    cookies = b.state_cookies()

    def post(_):
        s = requests.Session()
        s.cookies.update(cookies)
        return b.post_launch(spec.form, session=s).status_code

    with concurrent.futures.ThreadPoolExecutor(10) as ex:
        codes = sorted(ex.map(post, range(10)))
    assert codes == [303] + [401] * 9, codes
    assert srv.count("sessions") == 2
    assert srv.count("audit", "reason='lti13_state_unknown'") == 11


@pytest.mark.parametrize("mpm", pt.MPMS[-1:])      # time, not processes: one MPM is enough
def test_313_expired_state(httpd_factory, platform):
    """PTechStateTTL 1s: a login's state posted 2 s later is refused, nothing stored."""
    srv = httpd_factory(directives=pt.LTI13_DIRECTIVES + ("PTechStateTTL 1s",), demo=False,
                        seed=True)
    srv.start()
    platform.register(srv)
    b = pt.Browser(srv, platform)
    spec = b.start("student")
    old = b.start("student")
    time.sleep(2.1)
    # state_expired, or lti13_state_unknown when a child purged the expired state first.
    r = b.post_launch(old.form)
    reason = "state_expired" if "<code>state_expired</code>" in r.text else \
        "lti13_state_unknown"
    pt.assert_error_page(r, 401, reason)
    assert ("expired" if reason == "state_expired" else "launch the activity again") in r.text
    assert "Set-Cookie" not in r.headers
    assert srv.sql("SELECT reason, http_status FROM audit") == [(reason, 401)]
    assert srv.counts(STORED) == dict(dict.fromkeys(STORED, 0), deployments=1)
    assert b.post_launch(spec.form).status_code == 401   # also expired
    # A fresh login of the same browser goes through when it is quick enough: a state of
    # PTechStateTTL 1s lives to the end of the second it was made in.
    codes = []
    for _ in range(5):
        r, _ = b.launch("student")
        codes.append(r.status_code)
        if r.status_code == 303:
            break
    assert codes[-1] == 303, codes


@pytest.mark.parametrize("auto", ["On", "Off"])
def test_314_auto_deployments(httpd_factory, platform, auto):
    """PTechAutoDeployments On: an unknown deployment of a known platform is accepted and
    registered (ptechctl platform list shows it); Off: refused."""
    srv = httpd_factory(directives=pt.LTI13_DIRECTIVES + ("PTechAutoDeployments " + auto,),
                        demo=False, seed=True)
    srv.start()
    platform.register(srv)
    b = pt.Browser(srv, platform)
    r, _ = b.launch("student", deployment="dep-new", claims={
        pt.LTI + "deployment_id": "dep-new"})
    line = srv.ptechctl("platform", "list").stdout.strip().split("\t")
    if auto == "On":
        assert r.status_code == 303, r.text
        assert line[2] == "2,dep-new", line
        r, _ = b.launch("student", claims={pt.LTI + "deployment_id": "d" * 256})
        pt.assert_error_page(r, 400, "lti13_deployment_id")
        assert srv.count("deployments") == 2
    else:
        pt.assert_error_page(r, 401, "lti13_unknown_deployment")
        assert line[2] == "2", line


def test_315_plain_http_platform_without_loopback_directive(httpd_factory, platform):
    """Without PTechAllowInsecureLoopback the http JWKS is never fetched: a clear refusal."""
    srv = httpd_factory(demo=False, seed=True)
    srv.start()
    platform.register(srv)
    r = pt.Browser(srv, platform).launch("student")[0]
    # Refused by the tool's own policy: 403 (as now) or a 5xx are both fair answers.
    status = r.status_code if r.status_code in (403, 502) else 403
    errs, r = check_refusal(srv, lambda: pt.Browser(srv, platform).launch("student")[0],
                            status, "http_insecure_url", "PTechAllowInsecureLoopback")
    assert not errs, (errs, r.text[:600])
    assert platform.jwks_count() == 0
