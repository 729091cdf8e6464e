"""Issue 8, the course roster (Names and Role Provisioning Services 2.0): a loopback
platform shaped like Moodle 4.5 with a token endpoint that checks the tool's client
assertion against /ptech/jwks (PyJWT) and a memberships endpoint answering three pages
linked by Link rel="next" (Moodle's typographic quotes on one of them); the instructor page
shows every active member on its first load, learners who never launched included, names
escaped, the roster's email the newest."""
import json

import pytest

import ptechtest as pt
from test_200_lti11 import esc

MEMBERSHIPS = "/mod/lti/services.php/CourseSection/2/bindings/2/memberships"
SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
EVIL = '<img src=x onerror="alert(1)"> Évil & Co'


def member(uid, name, email=None, roles=("Learner",), status="Active"):
    given, _, family = name.partition(" ")
    m = {"status": status, "roles": list(roles), "user_id": uid, "name": name,
         "given_name": given, "family_name": family}
    if email:
        m["email"] = email
    return m


PAGES = [
    [member("4", "Tina Teacher", "teacher1@example.com", roles=("Instructor",)),
     member("10", EVIL, "evil@example.com")],
    [member("11", "Nadia Never", "nadia.never@etu.univh2c.ma"),
     member("12", "Omar Inactive", "omar@example.com", status="Inactive")],
    [member("3", "Sam Student", "sam.new@etu.univh2c.ma")],
]


class NrpsPlatform(pt.TokenPlatform):
    """The platform plus Moodle's token endpoint (ptechtest.TokenPlatform) and its
    memberships service, in pages."""

    required_scope = SCOPE

    def __init__(self):
        super().__init__()
        self.pages = []
        self.routes[MEMBERSHIPS] = self._members

    @property
    def memberships_url(self):
        return self.base + MEMBERSHIPS

    def _members(self, query, handler):
        q = dict(query)
        auth = handler.headers.get("Authorization", "")
        with self.lock2:
            self.pages.append((q.get("from"), handler.headers.get("Accept"), auth))
            ok = auth.startswith("Bearer ") and auth[7:] in self.tokens
        if not ok:
            return 401, {"Content-Type": "application/json"}, "{}"
        n = int(q.get("from", "0"))
        headers = {"Content-Type": "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"}
        if n + 1 < len(PAGES):
            nxt = "%s?limit=2&from=%d" % (self.memberships_url, n + 1)
            # Moodle's own quoting on the first page, plain quotes after.
            headers["Link"] = ('<%s>; rel=\u201cnext\u201d' % nxt if n == 0
                               else '<%s>; rel="next"' % nxt).encode("utf-8").decode("latin-1")
        return 200, headers, json.dumps({"id": self.memberships_url, "context": {
            "id": "2", "label": "LTI101", "title": "LTI Test Course"}, "members": PAGES[n]})


@pytest.fixture
def nrps(httpd_factory):
    pf = NrpsPlatform()
    srv = httpd_factory(directives=pt.LTI13_DIRECTIVES, demo=False, seed=True)
    srv.start()
    pf.register(srv)
    pf.tool_jwks = srv.get("/ptech/jwks").json()
    yield srv, pf
    pf.close()


def claims(pf, **more):
    c = {pt.NRPS: {"context_memberships_url": pf.memberships_url,
                   "service_versions": ["1.0", "2.0"]},
         pt.LTI + "launch_presentation": {"locale": "fr"},
         pt.LTI + "custom": {"course": pt.Catalog().order[0]}}
    c.update(more)
    return c


def test_350_roster_on_first_load(nrps):
    """A learner launched (old email); the instructor's first page load reads the three
    pages once (one token, the NRPS media type) and lists everybody active: the learner who
    never launched, the escaped name, the newest email; the inactive member is not listed.
    A reload within ten minutes asks the platform nothing."""
    srv, pf = nrps
    b = pt.Browser(srv, pf)
    b.launch_and_follow("student", claims=claims(pf, email="sam.old@example.com"))
    assert pf.pages == []       # a learner's page does not read the roster
    t = pt.Browser(srv, pf)
    sid, page, _ = t.launch_and_follow("teacher", claims=claims(pf))
    assert page.status_code == 200, page.text
    assert pf.bad == [], pf.bad
    assert len(pf.tokens) == 1
    assert [p[0] for p in pf.pages] == [None, "1", "2"], pf.pages
    assert all(p[1] == "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
               for p in pf.pages)
    text = page.text
    assert "Nadia Never" in text and "nadia.never@etu.univh2c.ma" in text
    assert EVIL not in text and esc(EVIL) in text
    assert "Omar Inactive" not in text
    assert "sam.new@etu.univh2c.ma" in text and "sam.old@example.com" not in text
    assert text.count("Jamais (inscrit dans le cours)") == 2     # Nadia and the evil one
    pt.assert_no_inline_code(text)
    tenant = "lti13:%s#%s" % (pf.issuer, pf.client_id)
    rows = srv.sql("SELECT user_id, email FROM persons WHERE tenant = ? ORDER BY user_id",
                   (tenant,))
    assert rows == [("10", "evil@example.com"), ("11", "nadia.never@etu.univh2c.ma"),
                    ("12", "omar@example.com"), ("3", "sam.new@etu.univh2c.ma"),
                    ("4", "teacher1@example.com")], rows
    # Nothing recorded for people who did not launch but their person and roster rows.
    assert srv.count("launches") == 2
    again = t.session.get(srv.url("/ptech/course"), timeout=30)
    assert "Nadia Never" in again.text
    assert len(pf.pages) == 3 and len(pf.tokens) == 1


@pytest.mark.allow_log()
def test_351_roster_unavailable(nrps):
    """A platform whose memberships service fails: the instructor page still shows who
    launched, the failure is logged as a warning with its reason, and the next load tries
    again."""
    srv, pf = nrps
    pf.routes[MEMBERSHIPS] = lambda q, h: (500, {"Content-Type": "text/plain"}, "down")
    t = pt.Browser(srv, pf)
    sid, page, _ = t.launch_and_follow("teacher", claims=claims(pf))
    assert page.status_code == 200
    assert "Tina Teacher" in page.text and "Nadia Never" not in page.text
    assert "PT00071" in srv.log_text() and "nrps_http_status" in srv.log_text()
    pf.routes[MEMBERSHIPS] = pf._members
    again = t.session.get(srv.url("/ptech/course"), timeout=30)
    assert "Nadia Never" in again.text
