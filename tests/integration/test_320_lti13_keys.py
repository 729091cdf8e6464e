"""Issue 4, keys: the tool's keys (made at first start, sealed in the store, GET /ptech/jwks,
ptechctl keys list|rotate, the overlap of a retired key, a restart); the platform's keys
(fetched once and cached, at most one refetch a minute for unknown kids, a platform key
rotation, an unreachable or broken JWKS); ptechctl platform add|list|remove."""
import concurrent.futures
import json
import os
import re
import shutil
import time
import uuid

import pytest

import ptechtest as pt

STORED = ("persons", "contexts", "resource_links", "link_members", "launches", "sessions",
          "nonces")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
PRIVATE = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def jwks(srv):
    r = srv.get("/ptech/jwks")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()["keys"]


def keys_list(srv):
    """[(kid, state)] of ptechctl keys list."""
    r = srv.ptechctl("keys", "list")
    assert r.returncode == 0 and r.stderr == "", r
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    for row in rows:
        assert len(row) == 3 and ISO.fullmatch(row[2]), row
    return [(kid, state) for kid, state, _ in rows]


def check_public_jwk(k):
    assert set(k) == {"kty", "kid", "use", "alg", "n", "e"}, k
    assert not PRIVATE & set(k)
    assert (k["kty"], k["alg"], k["use"], k["e"]) == ("RSA", "RS256", "sig", "AQAB"), k
    n = int.from_bytes(pt.b64url_decode(k["n"]), "big")
    assert n.bit_length() == 2048
    assert pt.b64url(pt.b64url_decode(k["n"])) == k["n"]      # canonical, no padding
    assert k["kid"] == pt.rsa_thumbprint(k)                   # RFC 7638
    assert pt.pyjwt.PyJWK(k).key.key_size == 2048


def test_320_tool_keys(httpd_factory):
    """Made at the first start (current and next), published without private parts, sealed
    in the store; keys rotate: next becomes current, the retired key stays published, a new
    next appears at the next /ptech/jwks; a second rotation without it fails; a restart
    keeps the kids."""
    srv = httpd_factory(demo=False)
    srv.start()
    ks = jwks(srv)
    assert len(ks) == 2
    for k in ks:
        check_public_jwk(k)
    r = srv.get("/ptech/jwks")
    assert "max-age" in r.headers.get("Cache-Control", ""), r.headers
    listed = keys_list(srv)
    assert [s for _, s in listed] == ["current", "next"], listed
    current, nxt = listed[0][0], listed[1][0]
    assert {k["kid"] for k in ks} == {current, nxt}
    # Private keys are sealed (not PEM), with the secret key file's key.
    with open(srv.key_path, "rb") as f:
        secret = f.read().strip().decode()
    for kid, sealed, pub in srv.sql("SELECT kid, private_sealed, public_jwk FROM tool_keys"):
        assert isinstance(sealed, str) and sealed.startswith("v1."), sealed[:20]
        assert "PRIVATE" not in sealed and secret not in sealed
        assert not PRIVATE & set(json.loads(pub))
    assert srv.post("/ptech/jwks").status_code == 405

    r = srv.ptechctl("keys", "rotate")
    assert r.returncode == 0 and r.stderr == "", r
    assert keys_list(srv) == [(nxt, "current"), (current, "retired")]
    # A second rotation before httpd made a new next key: refused, nothing changes.
    r = srv.ptechctl("keys", "rotate")
    assert r.returncode == 1, r
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ptechctl: ") and "next key" in lines[0], r
    assert keys_list(srv) == [(nxt, "current"), (current, "retired")]
    # The next /ptech/jwks makes the next key, once, however many ask at once.
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        docs = list(ex.map(lambda _: jwks(srv), range(4)))
    listed = keys_list(srv)
    assert [s for _, s in listed] == ["current", "next", "retired"], listed
    assert listed[0][0] == nxt and listed[2][0] == current
    new_next = listed[1][0]
    assert new_next not in (current, nxt)
    for doc in docs:
        assert sorted(k["kid"] for k in doc) == sorted([nxt, new_next, current]), doc
        for k in doc:
            check_public_jwk(k)
    # Rotating again now works; both retired keys stay published within the overlap (7d).
    assert srv.ptechctl("keys", "rotate").returncode == 0
    ks = jwks(srv)
    assert {nxt, new_next, current} <= {k["kid"] for k in ks} and len(ks) == 4
    before = keys_list(srv)
    # A restart on the same store and secret key: the same kids, no new key.
    srv.stop()
    srv.start()
    assert keys_list(srv) == before
    assert sorted(k["kid"] for k in jwks(srv)) == sorted(k["kid"] for k in ks)
    assert srv.log_text().count("made the current tool key") == 1
    # Usage errors.
    for args in (("keys",), ("keys", "frob"), ("keys", "list", "x")):
        r = srv.ptechctl(*args)
        assert r.returncode == 2 and r.stderr.startswith("ptechctl: "), (args, r)


@pytest.mark.parametrize("mpm", pt.MPMS[-1:])      # time, not processes: one MPM is enough
def test_321_key_overlap(httpd_factory):
    """PTechKeyOverlap 1s: a retired key leaves the JWKS after 2 s (it stays listed)."""
    srv = httpd_factory(directives=("PTechKeyOverlap 1s",), demo=False, seed=True)
    srv.start()
    before = keys_list(srv)
    assert srv.ptechctl("keys", "rotate").returncode == 0
    time.sleep(2.1)
    ks = jwks(srv)
    listed = keys_list(srv)
    assert [s for _, s in listed] == ["current", "next", "retired"], listed
    assert listed[2][0] == before[0][0]
    assert sorted(k["kid"] for k in ks) == sorted(kid for kid, _ in listed[:2]), ks


# ---- the platform's keys ---------------------------------------------------------------

def test_323_jwks_flood(server13, platform):
    """20 launches at once with random unknown kids: at most one refetch of the platform's
    JWKS; the known kid keeps working without a fetch."""
    srv = server13
    r, _ = pt.Browser(srv, platform).launch("student")
    assert r.status_code == 303, r.text
    assert platform.jwks_count() == 1

    def flood(i):
        b = pt.Browser(srv, platform)
        r, _ = b.launch("student", sign=lambda c, pf: pf.sign(c, kid=uuid.uuid4().hex))
        return r.status_code, re.findall(r"<code>([^<]*)</code>", r.text)

    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        results = list(ex.map(flood, range(20)))
    assert results == [(401, ["jwt_unknown_kid"])] * 20, results
    assert platform.jwks_count() - 1 <= 1, platform.hits
    assert srv.count("audit", "reason='jwt_unknown_kid'") == 20
    assert srv.counts(STORED)["sessions"] == 1
    fetched = platform.jwks_count()
    r, _ = pt.Browser(srv, platform).launch("student")
    assert r.status_code == 303, r.text
    assert platform.jwks_count() == fetched


def test_324_platform_key_rotation(server13, platform):
    """The platform publishes a new key and signs with it: the first unknown kid refetches
    and launches go on without a restart; the old key keeps working while published; a
    second rotation within the minute waits for the refetch window."""
    srv = server13
    old_kid = platform.kid
    r, _ = pt.Browser(srv, platform).launch("student")
    assert r.status_code == 303 and platform.jwks_count() == 1
    platform.use_key(pt.rsa_key("platform-2"), "moodle-key-2")
    r, _ = pt.Browser(srv, platform).launch("student")
    assert r.status_code == 303, r.text
    assert platform.jwks_count() == 2
    for kid in (old_kid, "moodle-key-2", old_kid):
        key = pt.rsa_key("platform") if kid == old_kid else None
        r, _ = pt.Browser(srv, platform).launch(
            "student", sign=lambda c, pf, kid=kid, key=key: pf.sign(c, kid=kid, key=key))
        assert r.status_code == 303, (kid, r.text)
    assert platform.jwks_count() == 2
    # A third key at once: not fetched again within 60 s; the page says why.
    platform.use_key(pt.rsa_key("platform-3"), "moodle-key-3")
    r, _ = pt.Browser(srv, platform).launch("student")
    pt.assert_error_page(r, 401, "jwt_unknown_kid")
    assert "a minute" in r.text
    assert platform.jwks_count() == 2
    assert srv.count("sessions") == 5 and srv.count("audit") == 1


def test_326_unusable_platform_keys(server13, platform):
    """Keys of the platform's JWKS that must not verify anything are skipped: RSA-1024, an
    EC key, use "enc", alg RS512, a key with private parts under a known kid is used only
    for its public part."""
    srv = server13
    weak = pt.rsa.generate_private_key(public_exponent=65537, key_size=1024)
    enc_key, rs512_key = pt.rsa_key("enc"), pt.rsa_key("rs512")
    ec_pub = pt.ec_key().public_key().public_numbers()
    ec_jwk = {"kty": "EC", "crv": "P-256", "kid": "ec", "use": "sig",
              "x": pt.b64url(ec_pub.x.to_bytes(32, "big")),
              "y": pt.b64url(ec_pub.y.to_bytes(32, "big"))}
    good = pt.rsa_jwk(platform.key, platform.kid)
    priv = platform.key.private_numbers()
    good["d"] = pt.b64url(priv.d.to_bytes(256, "big"))       # a careless platform
    platform.publish(good, pt.rsa_jwk(weak, "weak"), ec_jwk,
                     dict(pt.rsa_jwk(enc_key, "enc"), use="enc"),
                     dict(pt.rsa_jwk(rs512_key, "rs512"), alg="RS512"))
    r, _ = pt.Browser(srv, platform).launch("student")
    assert r.status_code == 303, r.text
    for kid, key in (("weak", weak), ("ec", pt.rsa_key("attacker")), ("enc", enc_key),
                     ("rs512", rs512_key)):
        r, _ = pt.Browser(srv, platform).launch(
            "student", sign=lambda c, pf, kid=kid, key=key: pf.sign(c, kid=kid, key=key))
        pt.assert_error_page(r, 401, "jwt_unknown_kid")
    assert srv.count("sessions") == 1 and srv.count("audit") == 4


def _refused(srv, launch, status, reason):
    before = srv.counts(STORED)
    audit = srv.count("audit")
    r = launch()
    pt.assert_error_page(r, status, reason)
    assert "Set-Cookie" not in r.headers
    assert srv.counts(STORED) == before
    assert srv.sql("SELECT reason, http_status FROM audit WHERE id > ?", (audit,)) == \
        [(reason, status)]
    return r


@pytest.mark.parametrize("mpm", pt.MPMS[-1:])      # time, not processes: one MPM is enough
def test_325_jwks_unreachable(server13, platform):
    """The platform's JWKS answering 500, malformed, too large, or its port closed on the
    first launch: a 502 page and an audit row, no crash; once it answers, launches go on;
    an expired cache (Cache-Control max-age) is refetched, and kept when the refetch
    fails."""
    srv = server13
    platform.jwks_status = 500
    r = _refused(srv, lambda: pt.Browser(srv, platform).launch("student")[0], 502,
                 "jwks_unreachable")
    assert platform.jwks_url in r.text and "500" in r.text
    assert platform.jwks_count() == 1
    # The platform answers again, with max-age=1: fetched, cached a second, refetched.
    platform.jwks_status = 200
    platform.jwks_headers = {"Cache-Control": "public, Max-Age=1"}
    r, _ = pt.Browser(srv, platform).launch("student")
    assert r.status_code == 303, r.text
    assert platform.jwks_count() == 2
    time.sleep(1.1)
    r, _ = pt.Browser(srv, platform).launch("student")
    assert r.status_code == 303, r.text
    assert platform.jwks_count() == 3
    # Expired again and the platform down: the expired key set is kept, launches go on.
    platform.jwks_status = 503
    time.sleep(1.1)
    r, _ = pt.Browser(srv, platform).launch("student")
    assert r.status_code == 303, r.text
    assert platform.jwks_count() == 4
    assert "keeping its expired key set" in srv.log_text()

    # Other platforms on first launch: port closed, not a JWKS, a JWKS too large.
    closed = pt.Platform()
    broken = pt.Platform()
    huge = pt.Platform()
    try:
        closed.register(srv, jwks_url="http://127.0.0.1:%d/certs.php" % pt.free_port())
        broken.jwks_body = "<html>Moodle is being upgraded</html>"
        broken.register(srv)
        huge.jwks_body = json.dumps({"keys": [pt.rsa_jwk(huge.key, "k%d" % i)
                                                 for i in range(800)]})
        assert len(huge.jwks_body) > 256 * 1024
        huge.register(srv)
        r = _refused(srv, lambda: pt.Browser(srv, closed).launch("student")[0], 502,
                     "jwks_unreachable")
        assert "127.0.0.1" in r.text
        _refused(srv, lambda: pt.Browser(srv, broken).launch("student")[0], 502,
                 "jwks_malformed")
        assert broken.jwks_count() == 1
        r = pt.Browser(srv, huge).launch("student")[0]
        assert r.status_code == 502, ("an oversize platform JWKS is an upstream failure, "
                                      "not the browser's request being too large",
                                      r.status_code, r.text[:1500])
    finally:
        for pf in (closed, broken, huge):
            pf.close()


# ---- ptechctl platform -----------------------------------------------------------------

@pytest.fixture
def store():
    d = pt.make_dir("ptech-ctl13-")
    dsn = "sqlite3:" + os.path.join(d, "ptech.db")

    def run(*args):
        r = pt.run_ptechctl(dsn, *args)
        assert "AddressSanitizer" not in r.stderr and "runtime error:" not in r.stderr, r
        return r
    yield run
    shutil.rmtree(d, ignore_errors=True)


def _ok(r):
    assert r.returncode == 0 and r.stderr == "", r
    return r.stdout


def _fails(r, code, pattern):
    assert r.returncode == code, r
    lines = r.stderr.splitlines()
    assert lines and lines[0].startswith("ptechctl: ") and re.search(pattern, lines[0]), r
    assert r.stdout == "", r


def test_327_ptechctl_platform(store):
    moodle = "https://moodle.univh2c.ma"

    def add(issuer=moodle, client="ETcWli258i8O3jj", deployments=("2", "3"), **urls):
        args = ["platform", "add", "--issuer", issuer, "--client-id", client]
        for opt, default in (("auth-url", "/mod/lti/auth.php"),
                             ("token-url", "/mod/lti/token.php"),
                             ("jwks-url", "/mod/lti/certs.php")):
            v = urls.get(opt.replace("-", "_"), issuer + default)
            if v is not None:
                args += ["--" + opt, v]
        for d in deployments:
            args += ["--deployment", d]
        return store(*args)

    out = _ok(add())
    assert moodle in out and "2 deployment" in out, out
    _ok(add(client="second-client", deployments=()))
    _ok(add(issuer="http://127.0.0.1:8081", client="local", deployments=("1",)))
    lines = [line.split("\t") for line in _ok(store("platform", "list")).splitlines()]
    assert lines == [
        ["http://127.0.0.1:8081", "local", "1", "http://127.0.0.1:8081/mod/lti/auth.php",
         "http://127.0.0.1:8081/mod/lti/token.php", "http://127.0.0.1:8081/mod/lti/certs.php"],
        [moodle, "ETcWli258i8O3jj", "2,3", moodle + "/mod/lti/auth.php",
         moodle + "/mod/lti/token.php", moodle + "/mod/lti/certs.php"],
        [moodle, "second-client", "-", moodle + "/mod/lti/auth.php",
         moodle + "/mod/lti/token.php", moodle + "/mod/lti/certs.php"]], lines
    listed = _ok(store("platform", "list"))
    # Errors: duplicate, http not on the loopback, bad URLs, bad deployments (exit 1).
    _fails(add(), 1, r"already registered")
    _fails(add(client="c2", jwks_url="http://moodle.univh2c.ma/mod/lti/certs.php"), 1,
           r"--jwks-url.*https")
    _fails(add(issuer="http://moodle.univh2c.ma", client="c3"), 1, r"--issuer.*https")
    _fails(add(client="c4", auth_url="http://127.0.0.1.evil.example/auth"), 1,
           r"--auth-url.*https")
    _fails(add(client="c5", token_url="not a url"), 1, r"--token-url")
    _fails(add(client="c6", deployments=("d" * 256,)), 1, r"deployment")
    _fails(add(client="c7", deployments=("",)), 1, r"deployment")
    # Usage errors (exit 2): a missing or unknown option.
    _fails(add(client="c8", jwks_url=None), 2, r"--jwks-url")
    _fails(store("platform", "add", "--issuer", moodle), 2, r"--client-id")
    _fails(store("platform", "add", "--issuer", moodle, "--client-id", "x", "--bogus", "1"), 2,
           r"--bogus")
    _fails(store("platform", "remove", "--issuer", moodle), 2, r"--client-id")
    _fails(store("platform", "frob"), 2, r"frob")
    _fails(store("platform"), 2, r"platform")
    assert _ok(store("platform", "list")) == listed
    # Remove; an unknown one fails.
    out = _ok(store("platform", "remove", "--issuer", moodle, "--client-id", "second-client"))
    assert "second-client" in out
    _fails(store("platform", "remove", "--issuer", moodle, "--client-id", "second-client"), 1,
           r"second-client")
    _fails(store("platform", "remove", "--issuer", moodle + "/", "--client-id",
                 "ETcWli258i8O3jj"), 1, r"no platform")
    assert [line.split("\t")[1] for line in _ok(store("platform", "list")).splitlines()] == \
        ["local", "ETcWli258i8O3jj"]


def test_328_platform_removed_while_logging_in(server13, platform):
    """A platform removed between the login and the launch: the launch is refused."""
    srv = server13
    b = pt.Browser(srv, platform)
    spec = b.start("student")
    r = srv.ptechctl("platform", "remove", "--issuer", platform.issuer, "--client-id",
                     platform.client_id)
    assert r.returncode == 0, r.stderr
    r = b.post_launch(spec.form)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:1500])
    assert "Set-Cookie" not in r.headers
    assert srv.count("sessions") == 0 and srv.count("audit") == 1
