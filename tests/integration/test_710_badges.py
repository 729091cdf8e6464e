"""Badges (issue 7): a learner pastes an IBM badge URL, mod_ptech fetches the assertion, its
BadgeClass and Issuer from a loopback issuer shaped like Credly's OB 2.0 API (a Python
http.server thread on 127.0.0.1, PTechBadgeIssuerHost 127.0.0.1), passes the course, returns
the grade (LTI 1.1 to test_600's loopback LMS, LTI 1.3 AGS to test_610's platform) and issues
its own Open Badges 2.0 assertion, which is verified here independently: recipient hash
(hashlib), the BadgeClass and Profile it names, and the baked PNG read chunk by chunk with
zlib's CRC.  Refusals say why and store nothing; evidence issued to another address waits
for an instructor; ptechctl badges list/revoke."""
import hashlib
import http.server
import json
import re
import struct
import threading
import types
import uuid
import xml.etree.ElementTree as ET
import zlib

import pytest
import requests

import ptechtest as pt
from test_600_grades import COURSE, GRADES, LMS, outbox, wait_for
from test_610_grades_ags import SCOPES, LINEITEM, LINEITEMS, AgsPlatform

BADGES = GRADES + ("PTechBadgeIssuerHost 127.0.0.1", "ServerAdmin ptech-it@example.ma",
                   "<Location /ptech/admin>", "    Require local", "</Location>")
API = "/v1/obi/v2"


def ibm_class(course):
    ns = {"c": "urn:ptech:catalog:1"}
    root = ET.parse(pt.CATALOG).getroot()
    for c in root.findall("c:course", ns):
        if c.get("id") == course:
            return c.find("c:ibm-badge", ns).get("class")
    raise KeyError(course)


def hashed(email, salt):
    return "sha256$" + hashlib.sha256((email + salt).encode("utf-8")).hexdigest()


class Issuer:
    """Credly's OB 2.0 API on the loopback: badge_assertions/ID, badge_classes/ID,
    issuers/ID.  Each assertion is made with issue(); its shape can be bent (revoked,
    expired, gone, a redirect, a 5 MB body)."""

    def __init__(self):
        self.assertions = {}
        self.requests = []
        self.lock = threading.Lock()
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                with issuer.lock:
                    issuer.requests.append(self.path)
                status, headers, body = issuer.answer(self.path)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass            # the tool hung up on an answer over its cap

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def issue(self, email, klass=None, hashed_identity=True, **shape):
        aid = str(uuid.uuid4())
        salt = uuid.uuid4().hex[:12]
        self.assertions[aid] = dict(email=email, klass=klass or ibm_class(COURSE), salt=salt,
                                    hashed=hashed_identity, **shape)
        return aid, self.base + API + "/badge_assertions/" + aid

    def answer(self, path):
        js = {"Content-Type": "application/json"}
        m = re.fullmatch(API + r"/badge_assertions/([0-9a-f-]+)", path)
        if m and m.group(1) in self.assertions:
            a = self.assertions[m.group(1)]
            if a.get("gone"):
                return 410, js, b'{"error":"gone"}'
            if a.get("redirect"):
                return 302, {"Location": a["redirect"]}, b""
            if a.get("big"):
                return 200, js, b"{" + b" " * (5 * 1024 * 1024) + b"}"
            doc = {
                "@context": "https://w3id.org/openbadges/v2",
                "type": "Assertion",
                "id": self.base + path,
                "recipient": {"type": "email", "hashed": True, "salt": a["salt"],
                              "identity": hashed(a["email"], a["salt"])}
                if a["hashed"] else {"type": "email", "hashed": False,
                                     "identity": a["email"]},
                "badge": self.base + API + "/badge_classes/" + a["klass"],
                "issuedOn": "2026-02-01T10:00:00.000Z",
                "verification": {"type": "HostedBadge"},
                "evidence": [{"type": "Evidence", "narrative": "Completed the course"}],
            }
            if a.get("expires"):
                doc["expires"] = a["expires"]
            if a.get("revoked"):
                doc["revoked"] = True
                doc["revocationReason"] = "issued by mistake"
            return 200, js, json.dumps(doc).encode()
        m = re.fullmatch(API + r"/badge_classes/([0-9a-f-]+)", path)
        if m:
            return 200, js, json.dumps({
                "@context": "https://w3id.org/openbadges/v2", "type": "BadgeClass",
                "id": self.base + path, "name": "Cybersecurity Fundamentals",
                "description": "IBM SkillsBuild", "image": self.base + "/img.png",
                "criteria": {"narrative": "Pass the course"},
                "issuer": self.base + API + "/issuers/ibm"}).encode()
        if path == API + "/issuers/ibm":
            return 200, js, json.dumps({
                "@context": "https://w3id.org/openbadges/v2", "type": "Issuer",
                "id": self.base + path, "name": "IBM", "url": "https://www.ibm.com"}).encode()
        return 404, js, b'{"error":"not found"}'


@pytest.fixture
def badged(httpd_factory):
    srv = httpd_factory(directives=BADGES)
    srv.start()
    key, secret = srv.add_consumer()
    lms = LMS(key, secret)
    issuer = Issuer()
    yield types.SimpleNamespace(srv=srv, key=key, secret=secret, lms=lms, issuer=issuer)
    issuer.close()
    lms.stop()


def learner(g, uid, email, link="1"):
    """Launches learner uid (LTI 1.1) and returns (sid, csrf of the badge form, page)."""
    params = pt.moodle_params("student", user_id=uid, resource_link_id=link,
                              lis_person_contact_email_primary=email,
                              lis_result_sourcedid="sid-%s-%s" % (uid, link),
                              lis_outcome_service_url=g.lms.url, custom_course=COURSE,
                              tool_consumer_instance_guid=None)
    sid, page = g.srv.launch_and_follow(params, g.key, g.secret)
    forms = [f for f in pt.parse_forms(page.text) if f["action"] == "/ptech/course/badge"]
    assert len(forms) == 1, page.text
    inputs = dict(forms[0]["inputs"])
    assert "url" in inputs and "email" in inputs, inputs
    return sid, inputs["csrf"], page


def paste(g, sid, csrf, url, email=""):
    return g.srv.post("/ptech/course/badge", data={"csrf": csrf, "url": url, "email": email},
                      headers={"Cookie": "ptech_sid=" + sid}, allow_redirects=False)


def badges_list(g):
    r = g.srv.ptechctl("badges", "list")
    assert r.returncode == 0, r.stderr
    return [line.split("\t") for line in r.stdout.splitlines()]


def png_chunks(data):
    """(type, data) of every chunk, each CRC checked with zlib."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, out = 8, []
    while at < len(data):
        n, = struct.unpack(">I", data[at:at + 4])
        ctype, body = data[at + 4:at + 8], data[at + 8:at + 8 + n]
        crc, = struct.unpack(">I", data[at + 8 + n:at + 12 + n])
        assert zlib.crc32(ctype + body) == crc, ctype
        out.append((ctype.decode("ascii"), body))
        at += 12 + n
    assert at == len(data) and out[0][0] == "IHDR" and out[-1][0] == "IEND"
    return out


def verify_our_badge(srv, badge_id, email, evidence=None):
    """Checks our hosted assertion as a backpack would, and its baked PNG."""
    url = srv.public_url + "/ptech/badges/assertion/" + badge_id
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["@context"] == "https://w3id.org/openbadges/v2" and a["type"] == "Assertion"
    assert a["id"] == url and a["verification"] == {"type": "hosted"}
    rc = a["recipient"]
    assert rc["type"] == "email" and rc["hashed"] is True and len(rc["salt"]) >= 16
    assert rc["identity"] == hashed(email.lower(), rc["salt"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", a["issuedOn"]), a["issuedOn"]
    assert a["badge"] == srv.public_url + "/ptech/badges/class/" + COURSE
    narratives = " ".join(e.get("narrative", "") for e in a["evidence"])
    assert "100 / 100" in narratives, a["evidence"]
    if evidence:
        assert [e["id"] for e in a["evidence"] if "id" in e] == [evidence], a["evidence"]
    bc = requests.get(a["badge"], timeout=30).json()
    assert bc["type"] == "BadgeClass" and bc["id"] == a["badge"]
    assert bc["name"] and bc["description"] and bc["image"].startswith("https://")
    assert bc["criteria"]["narrative"]
    prof = requests.get(bc["issuer"], timeout=30).json()
    assert prof["type"] == "Profile" and prof["id"] == bc["issuer"] and prof["name"]
    assert prof["url"] == srv.public_url and prof["email"] == "ptech-it@example.ma"
    # The baked image: one uncompressed openbadges iTXt, right before IEND, holding it.
    r = requests.get(url + ".png", timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    chunks = png_chunks(r.content)
    itxt = [i for i, (t, d) in enumerate(chunks)
            if t == "iTXt" and d.startswith(b"openbadges\0")]
    assert len(itxt) == 1 and itxt[0] == len(chunks) - 2, [t for t, _ in chunks]
    body = chunks[itxt[0]][1][len(b"openbadges\0"):]
    assert body[0:2] == b"\0\0", body[:8]            # not compressed, method 0
    lang, _, rest = body[2:].partition(b"\0")
    tkey, _, text = rest.partition(b"\0")
    assert lang == b"" and tkey == b""
    assert json.loads(text.decode("utf-8")) == a
    return a


def test_710_badge_evidence_lti11(badged):
    g = badged
    sid, csrf, page = learner(g, "701", "Amina@Example.ma")
    assert "credly.com" in page.text
    aid, url = g.issuer.issue("amina@example.ma")
    r = paste(g, sid, csrf, url)
    assert r.status_code == 200, r.text
    assert "class=\"outcome\"" in r.text
    # passed, the grade goes back, our badge is issued once with the IBM badge as evidence
    wait_for(lambda: len(g.lms.grades) >= 1, what="the grade")
    assert g.lms.grades == [("sid-701-1", "1.0")] and g.lms.bad == []
    rows = g.srv.sql("SELECT status, source, evidence FROM progress")
    assert rows == [("passed", "ibm-badge", url)], rows
    badges = badges_list(g)
    assert len(badges) == 1, badges
    bid, user, email, course, issued, revoked, reason = badges[0]
    assert (user, email, course, revoked, reason) == ("701", "Amina@Example.ma", COURSE,
                                                      "-", "-")
    verify_our_badge(g.srv, bid, "Amina@Example.ma", evidence=url)
    # The learner page links the assertion and the PNG and says how to use a backpack.
    page = g.srv.course_page(sid)
    assert "/ptech/badges/assertion/%s\"" % bid in page.text
    assert "/ptech/badges/assertion/%s.png\"" % bid in page.text
    assert "Moodle" in page.text and "class=\"meta backpack\"" in page.text
    # Pasting it again changes nothing: one badge, no new grade.
    assert paste(g, sid, csrf, url).status_code == 200
    assert len(badges_list(g)) == 1
    # Revoked by IT: 410 with the reason, shown revoked in the list and on the page.
    r = g.srv.ptechctl("badges", "revoke", bid, "--reason", "awarded by mistake")
    assert r.returncode == 0, r.stderr
    r = requests.get(g.srv.public_url + "/ptech/badges/assertion/" + bid, timeout=30)
    assert r.status_code == 410
    assert r.json()["revoked"] is True
    assert r.json()["revocationReason"] == "awarded by mistake"
    assert requests.get(g.srv.public_url + "/ptech/badges/assertion/" + bid + ".png",
                        timeout=30).status_code == 410
    assert badges_list(g)[0][6] == "awarded by mistake" and badges_list(g)[0][5] != "-"
    r = g.srv.ptechctl("badges", "revoke", bid, "--reason", "again")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "revoked" in r.stderr
    r = g.srv.ptechctl("badges", "revoke", "0" * 32, "--reason", "x")
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    for args in (("revoke", bid), ("revoke", bid, "--reason"), ("list", "x"), ("nope",), ()):
        r = g.srv.ptechctl("badges", *args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
    # Unknown documents answer JSON 404s.
    for path in ("/ptech/badges/assertion/" + "f" * 32, "/ptech/badges/assertion/zz",
                 "/ptech/badges/class/no-such-course", "/ptech/badges/nothing"):
        r = requests.get(g.srv.public_url + path, timeout=30)
        assert r.status_code == 404 and "reason" in r.json(), (path, r.text)


def refusal(g, sid, csrf, url, status, reason, email=""):
    before = g.srv.sql("SELECT COALESCE(MAX(id), 0) FROM audit")[0][0]
    r = paste(g, sid, csrf, url, email)
    pt.assert_error_page(r, status, reason)
    assert g.srv.sql("SELECT reason, http_status FROM audit WHERE id > ?", (before,)) \
        == [(reason, status)]
    assert g.srv.count("progress") == 0 and g.srv.count("badge_awards") == 0
    assert g.srv.count("badge_claims") == 0 and g.srv.count("outbox") == 0
    return r


def test_710_badge_refusals(badged):
    g = badged
    sid, csrf, _ = learner(g, "702", "karim@example.ma")
    iss = g.issuer
    # another person's badge
    r = refusal(g, sid, csrf, iss.issue("someone.else@example.ma")[1], 403, "badge_not_yours")
    assert "karim@example.ma" in r.text
    # an unknown issuer host: nothing is fetched
    n = len(iss.requests)
    aid, url = iss.issue("karim@example.ma")
    refusal(g, sid, csrf, url.replace("127.0.0.1", "localhost"), 403, "badge_host_unknown")
    refusal(g, sid, csrf, "https://badges.example.org/assertions/1", 403, "badge_host_unknown")
    assert len(iss.requests) == n
    # revoked, in the assertion or by a 410
    refusal(g, sid, csrf, iss.issue("karim@example.ma", revoked=True)[1], 403, "badge_revoked")
    refusal(g, sid, csrf, iss.issue("karim@example.ma", gone=True)[1], 403, "badge_revoked")
    # expired
    r = refusal(g, sid, csrf, iss.issue("karim@example.ma", expires="2025-01-01T00:00:00Z")[1],
                403, "badge_expired")
    assert "2025-01-01" in r.text
    # a badge class that is not in the catalog
    refusal(g, sid, csrf, iss.issue("karim@example.ma", klass=str(uuid.uuid4()))[1], 422,
            "badge_class_unknown")
    # the IBM badge of another catalog course than this activity's
    other = [c for c in pt.Catalog().order if c != COURSE][0]
    refusal(g, sid, csrf, iss.issue("karim@example.ma", klass=ibm_class(other))[1], 422,
            "badge_other_course")
    # a redirect to another host
    target = iss.issue("karim@example.ma")[1].replace("127.0.0.1", "localhost")
    refusal(g, sid, csrf, iss.issue("karim@example.ma", redirect=target)[1], 403,
            "badge_redirect_refused")
    # a 5 MB reply
    refusal(g, sid, csrf, iss.issue("karim@example.ma", big=True)[1], 413, "badge_too_large")
    # not a badge address; a Credly page while only 127.0.0.1 is allowed
    refusal(g, sid, csrf, "not a url", 400, "badge_url_malformed")
    refusal(g, sid, csrf, "https://www.credly.com/badges/%s/public_url" % uuid.uuid4(), 403,
            "badge_host_unknown")
    # a forged form
    refusal(g, sid, "0" * 32, iss.issue("karim@example.ma")[1], 403, "csrf")
    # IT sees them on /ptech/admin, those it can act on in plain words.
    page = g.srv.get("/ptech/admin?lang=en").text
    for reason in ("badge_not_yours", "badge_host_unknown", "badge_too_large",
                   "badge_redirect_refused", "badge_class_unknown"):
        assert reason in page, reason
    assert "add its host to PTechBadgeIssuerHost" in page
    pt.assert_no_inline_code(page)
    # The learner page escapes what it shows and runs no inline code.
    page = g.srv.course_page(sid).text
    pt.assert_no_inline_code(page)
    pt.check_local_links(page, g.srv.public_url)
    # after all that, the learner's own badge still passes
    assert paste(g, sid, csrf, iss.issue("Karim@Example.ma", hashed_identity=False)[1]) \
        .status_code == 200
    wait_for(lambda: len(g.lms.grades) >= 1, what="the grade")


def instructor(g, link="1"):
    params = pt.moodle_params("teacher", resource_link_id=link, custom_course=COURSE,
                              tool_consumer_instance_guid=None)
    sid, page = g.srv.launch_and_follow(params, g.key, g.secret)
    return sid, page


def decide_forms(page):
    return [dict(f["inputs"]) for f in pt.parse_forms(page.text)
            if f["action"] == "/ptech/course/badge/decide"]


def test_710_badge_waits_for_approval(badged):
    g = badged
    sid, csrf, _ = learner(g, "703", "salma@uni.example.ma")
    aid, url = g.issuer.issue("salma.perso@mail.example")
    # Without the address it was issued to: refused, saying why.
    refusal(g, sid, csrf, url, 403, "badge_not_yours")
    # With a wrong address: refused too.
    refusal(g, sid, csrf, url, 403, "badge_not_yours", email="salma@mail.example")
    r = paste(g, sid, csrf, url, email="Salma.Perso@mail.example")
    assert r.status_code == 200, r.text
    assert g.srv.count("progress") == 0 and g.srv.count("badge_awards") == 0
    assert g.srv.sql("SELECT state, url, claimed_email FROM badge_claims") == \
        [("pending", url, "Salma.Perso@mail.example")]
    assert url in g.srv.course_page(sid).text
    # A second paste while it waits: 409, still one.
    assert paste(g, sid, csrf, url, email="Salma.Perso@mail.example").status_code == 409
    # Another learner's waiting evidence, to be rejected.
    sid2, csrf2, _ = learner(g, "704", "omar@uni.example.ma")
    url2 = g.issuer.issue("omar.perso@mail.example")[1]
    assert paste(g, sid2, csrf2, url2, email="omar.perso@mail.example").status_code == 200
    # A learner cannot decide.
    r = g.srv.post("/ptech/course/badge/decide", data={"csrf": csrf, "id": "1",
                                                       "action": "approve"},
                   headers={"Cookie": "ptech_sid=" + sid}, allow_redirects=False)
    pt.assert_error_page(r, 403, "badge_decide_forbidden")
    # The instructor sees both with approve and reject buttons.
    tsid, page = instructor(g)
    pt.assert_no_inline_code(page.text)
    forms = decide_forms(page)
    assert sorted(f["action"] for f in forms) == ["approve", "approve", "reject", "reject"]
    assert "Salma.Perso@mail.example" in page.text and url2 in page.text
    ids = {row[1]: row[0] for row in g.srv.sql("SELECT id, person_id FROM badge_claims")}
    claim1, claim2 = sorted(ids.values())
    tcsrf = forms[0]["csrf"]
    hdr = {"Cookie": "ptech_sid=" + tsid}
    r = g.srv.post("/ptech/course/badge/decide", data={"csrf": "x" * 32, "id": str(claim1),
                                                       "action": "approve"},
                   headers=hdr, allow_redirects=False)
    pt.assert_error_page(r, 403, "csrf")
    # Revoked by IBM since it was pasted: approval is refused, saying why; it still waits.
    g.issuer.assertions[aid]["revoked"] = True
    r = g.srv.post("/ptech/course/badge/decide", data={"csrf": tcsrf, "id": str(claim1),
                                                       "action": "approve"},
                   headers=hdr, allow_redirects=False)
    pt.assert_error_page(r, 403, "badge_revoked")
    assert g.srv.count("badge_claims", "state = 'pending'") == 2
    assert g.srv.count("progress") == 0
    g.issuer.assertions[aid]["revoked"] = False
    r = g.srv.post("/ptech/course/badge/decide", data={"csrf": tcsrf, "id": str(claim1),
                                                       "action": "approve"},
                   headers=hdr, allow_redirects=False)
    assert r.status_code == 303, r.text
    r = g.srv.post("/ptech/course/badge/decide", data={"csrf": tcsrf, "id": str(claim2),
                                                       "action": "reject"},
                   headers=hdr, allow_redirects=False)
    assert r.status_code == 303, r.text
    # Deciding again: nothing waits any more.
    r = g.srv.post("/ptech/course/badge/decide", data={"csrf": tcsrf, "id": str(claim1),
                                                       "action": "reject"},
                   headers=hdr, allow_redirects=False)
    pt.assert_error_page(r, 404, "badge_claim_unknown")
    assert sorted(g.srv.sql("SELECT state FROM badge_claims")) == [("approved",), ("rejected",)]
    # Approved: passed, graded, badged; rejected: nothing.
    wait_for(lambda: len(g.lms.grades) >= 1, what="the approved grade")
    assert g.lms.grades == [("sid-703-1", "1.0")]
    assert g.srv.sql("SELECT source, evidence FROM progress") == [("ibm-badge", url)]
    badges = badges_list(g)
    assert [b[1] for b in badges] == ["703"]
    # Our badge goes to the LMS address of the learner.
    verify_our_badge(g.srv, badges[0][0], "salma@uni.example.ma", evidence=url)
    assert decide_forms(instructor(g)[1]) == []


@pytest.fixture
def ags_badged(httpd_factory):
    pf = AgsPlatform()
    srv = httpd_factory(directives=pt.LTI13_DIRECTIVES + BADGES, demo=False, seed=True)
    srv.start()
    pf.register(srv)
    pf.tool_jwks = srv.get("/ptech/jwks").json()
    issuer = Issuer()
    yield types.SimpleNamespace(srv=srv, pf=pf, issuer=issuer)
    issuer.close()
    pf.close()


def test_710_badge_evidence_lti13(ags_badged):
    g = ags_badged
    claim = {"scope": SCOPES, "lineitems": g.pf.base + LINEITEMS + "?type_id=2",
             "lineitem": g.pf.base + LINEITEM + "?type_id=2"}
    claims = {"sub": "s705", "name": "Sara Learner", "email": "sara@etu.example.ma",
              pt.AGS: claim, pt.LTI + "custom": {"course": COURSE}}
    b = pt.Browser(g.srv, g.pf)
    sid, page, _ = b.launch_and_follow("student", login_hint="s705", claims=claims)
    form = [f for f in pt.parse_forms(page.text) if f["action"] == "/ptech/course/badge"][0]
    csrf = dict(form["inputs"])["csrf"]
    aid, url = g.issuer.issue("sara@etu.example.ma")
    r = b.session.post(g.srv.url("/ptech/course/badge"), data={"csrf": csrf, "url": url},
                       allow_redirects=False, timeout=60)
    assert r.status_code == 200, r.text
    wait_for(lambda: len(g.pf.scores) >= 1, what="the AGS score")
    assert g.pf.bad == []
    score = g.pf.scores[0][2]
    assert score["userId"] == "s705" and score["scoreGiven"] == 100
    badges = badges_list(g)
    assert len(badges) == 1
    # The gradebook comment names the badge and where it is verified.
    assert g.srv.public_url + "/ptech/badges/assertion/" + badges[0][0] in score["comment"], \
        score["comment"]
    assert "Badge" in score["comment"]
    verify_our_badge(g.srv, badges[0][0], "sara@etu.example.ma", evidence=url)
    assert [row[1] for row in outbox(g)] == ["sent"]


def test_710_badge_from_any_source(badged):
    """SPEC.md "Evidence": passed from any source awards the badge, once: an instructor's
    attestation, a CSV import; an in-progress result awards nothing."""
    from test_600_grades import import_csv
    g = badged
    sid, _, _ = learner(g, "706", "yasmine@example.ma")
    learner(g, "707", "hamza@example.ma")
    tsid, page = instructor(g)
    forms = [f for f in pt.parse_forms(page.text) if f["action"] == "/ptech/course/attest"]
    persons = {g.srv.sql("SELECT user_id FROM persons WHERE id = ?",
                         (int(dict(f["inputs"])["person"]),))[0][0]: dict(f["inputs"])
               for f in forms}
    f = persons["706"]
    r = g.srv.post("/ptech/course/attest", data={"csrf": f["csrf"], "person": f["person"],
                                                 "module": ""},
                   headers={"Cookie": "ptech_sid=" + tsid}, allow_redirects=False)
    assert r.status_code == 303, r.text
    import_csv(g, "user,course,module,status,score,date\n"
                  "hamza@example.ma,%s,threat-landscape,completed,90,2026-03-14\n" % COURSE)
    assert [b[1] for b in badges_list(g)] == ["706"]
    import_csv(g, "user,course,module,status,score,date\n"
                  "hamza@example.ma,%s,,passed,80,2026-03-15\n" % COURSE)
    badges = {b[1]: b for b in badges_list(g)}
    assert sorted(badges) == ["706", "707"]
    a = verify_our_badge(g.srv, badges["706"][0], "yasmine@example.ma")
    assert [e for e in a["evidence"] if "id" in e] == []    # no IBM badge behind it
    # The learner page shows it.
    assert badges["706"][0] in g.srv.course_page(sid).text
    # Passed again (a newer CSV row): still one badge each.
    import_csv(g, "user,course,module,status,score,date\n"
                  "hamza@example.ma,%s,,passed,95,2026-03-16\n" % COURSE)
    assert len(badges_list(g)) == 2
    wait_for(lambda: len(g.lms.grades) >= 2, what="both grades")
