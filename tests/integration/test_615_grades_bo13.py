"""Grades back to an LTI 1.3 link whose launch carried the basic outcome claim and no AGS
claim (SPEC.md "Results fan out": basic outcomes with a Bearer token only when no AGS claim
came): POX replaceResult to the claim's lis_outcome_service_url with "Authorization: Bearer"
and an access token from the platform's token endpoint (client_credentials, scope
lti-bo/scope/basicoutcome), no OAuth 1 signature.  The loopback platform verifies the
client assertion (PyJWT, the tool's JWKS) and the bearer token, and records what arrives."""
import time
import xml.etree.ElementTree as ET

import pytest

import ptechtest as pt
from test_600_grades import COURSE, POX_NS, RESPONSE, import_csv, outbox, wait_for
from test_610_grades_ags import AgsPlatform, start_with

BO_CLAIM = "https://purl.imsglobal.org/spec/lti-bo/claim/basicoutcome"
BO_SCOPE = "https://purl.imsglobal.org/spec/lti-bo/scope/basicoutcome"
SERVICE = "/mod/lti/service.php"


class BoPlatform(AgsPlatform):
    """test_610's platform (its token endpoint verifies the client assertion with the
    tool's JWKS), asked for the basic outcome scope, plus Moodle's LTI 1.1 outcomes service,
    which takes a Bearer token (as Moodle does for 1.3 tools).  status_script: HTTP
    statuses the service answers first (then 200)."""

    required_scope = BO_SCOPE

    def __init__(self):
        super().__init__()
        self.grades, self.auth = [], []
        self.status_script = []
        self.routes[SERVICE] = self._service

    def _service(self, query, handler):
        body = handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
        auth = handler.headers.get("Authorization", "")
        with self.lock2:
            self.auth.append(auth)
            status = self.status_script.pop(0) if self.status_script else 200
            if status == 200 and not (auth.startswith("Bearer ") and auth[7:] in self.tokens):
                status = 401
        if status != 200:
            return status, {"Content-Type": "text/plain"}, "no"
        try:
            root = ET.fromstring(body)
            sid = root.find(".//{%s}sourcedId" % POX_NS).text
            score = root.find(".//{%s}textString" % POX_NS).text
            msg = root.find(".//{%s}imsx_messageIdentifier" % POX_NS).text
        except Exception as e:          # noqa: BLE001
            with self.lock2:
                self.bad.append(repr(e))
            return 200, {"Content-Type": "application/xml"}, \
                RESPONSE % (POX_NS, "failure", "bad request", "")
        with self.lock2:
            self.grades.append((sid, score))
        return 200, {"Content-Type": "application/xml"}, \
            RESPONSE % (POX_NS, "success", "Grade replace response", msg)


@pytest.fixture
def bo(httpd_factory):
    pf = BoPlatform()
    yield start_with(httpd_factory, pf)
    pf.close()


def launch_bo(g, sub):
    claims = {"sub": sub, "name": "Sara Learner", "email": "%s@etu.example.ma" % sub,
              BO_CLAIM: {"lis_result_sourcedid": "bo-%s" % sub,
                         "lis_outcome_service_url": g.pf.base + SERVICE},
              pt.LTI + "custom": {"course": COURSE},
              # Moodle's capture carries an AGS claim: this launch comes without one.
              pt.AGS: pt.DROP}
    b = pt.Browser(g.srv, g.pf)
    b.launch_and_follow("student", login_hint=sub, claims=claims)


def test_615_bo13_bearer_grade_arrives(bo):
    g = bo
    launch_bo(g, "s615")
    r = import_csv(g, "user,course,module,status,score,date\n"
                      "s615,%s,,passed,85,2026-03-14\n" % COURSE)
    assert "1 grade return(s) queued" in r.stdout, r.stdout
    assert outbox(g)[0][2] == "lti11", outbox(g)
    wait_for(lambda: len(g.pf.grades) >= 1, what="the basic outcome")
    time.sleep(2.5)
    assert g.pf.bad == [], g.pf.bad
    assert g.pf.grades == [("bo-s615", "0.85")], g.pf.grades
    assert len(g.pf.tokens) == 1
    assert g.pf.auth == ["Bearer " + g.pf.tokens[0]], g.pf.auth
    assert [row[1] for row in outbox(g)] == ["sent"]


def test_615_bo13_401_new_token_then_refused(bo):
    """A 401: one new token and a retry; a second 401 in a row fails the row, with the reason
    shown to IT (outbox list)."""
    g = bo
    g.pf.status_script = [401]
    launch_bo(g, "s616")
    import_csv(g, "user,course,module,status,score,date\n"
                  "s616,%s,,passed,60,2026-03-14\n" % COURSE)
    wait_for(lambda: len(g.pf.grades) >= 1, what="the grade after a 401")
    assert len(g.pf.tokens) == 2 and g.pf.auth[1] == "Bearer " + g.pf.tokens[1], g.pf.auth
    assert g.pf.grades == [("bo-s616", "0.6")]
    g.pf.status_script = [401, 401]
    import_csv(g, "user,course,module,status,score,date\n"
                  "s616,%s,,passed,70,2026-03-15\n" % COURSE)
    wait_for(lambda: outbox(g, "--failed"), what="the refused grade")
    row = outbox(g, "--failed")[0]
    assert "401" in row[9], row
    assert g.pf.grades == [("bo-s616", "0.6")]
