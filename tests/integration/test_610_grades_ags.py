"""Grades back to an LTI 1.3 platform (issue 6 part 4): AGS scores.  A loopback platform
shaped like Moodle 4.5 (ptechtest.Platform) with a token endpoint that verifies the client
assertion JWT against the tool's JWKS (GET /ptech/jwks, PyJWT), a line item container and
a scores endpoint that record what arrives."""
import datetime
import json
import time
import types

import pytest

import ptechtest as pt
from test_600_grades import COURSE, GRADES, import_csv, outbox, wait_for

SCOPES = ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
          "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
          "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
          "https://purl.imsglobal.org/spec/lti-ags/scope/score"]
LINEITEMS = "/mod/lti/services.php/2/lineitems"
LINEITEM = LINEITEMS + "/3/lineitem"
SCORES = LINEITEM + "/scores"


class AgsPlatform(pt.TokenPlatform):
    """The platform plus Moodle's token endpoint (ptechtest.TokenPlatform) and AGS
    services.  score_script: HTTP statuses the scores endpoint answers first, in order (then
    200)."""

    # The scope a token request must ask for (test_615: the basic outcome scope).
    required_scope = "https://purl.imsglobal.org/spec/lti-ags/scope/score"

    def __init__(self):
        super().__init__()
        self.scores, self.score_auth = [], []
        self.score_script = []
        self.created = []
        self.routes[LINEITEMS] = self._lineitems
        self.routes[SCORES] = self._scores

    def _lineitems(self, query, handler):
        """GET: none found; POST: the line item is created (as lineitems/3)."""
        if handler.command == "GET":
            return 200, {"Content-Type": "application/vnd.ims.lis.v2.lineitemcontainer+json"}, "[]"
        body = handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
        item = json.loads(body)
        with self.lock2:
            self.created.append((handler.headers.get("Authorization", ""), item))
        item["id"] = self.base + LINEITEM + "?type_id=2"
        return 201, {"Content-Type": "application/vnd.ims.lis.v2.lineitem+json"}, \
            json.dumps(item)

    def _scores(self, query, handler):
        body = handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
        auth = handler.headers.get("Authorization", "")
        with self.lock2:
            status = self.score_script.pop(0) if self.score_script else 200
            self.score_auth.append(auth)
            ok = auth.startswith("Bearer ") and auth[7:] in self.tokens
            if status == 200 and not ok:
                status = 401
            if status == 200:
                self.scores.append((dict(query), handler.headers.get("Content-Type"),
                                    json.loads(body)))
        return status, {"Content-Type": "application/json"}, "{}"


def start_with(httpd_factory, pf):
    """An httpd returning grades, with pf registered and knowing the tool's JWKS."""
    srv = httpd_factory(directives=pt.LTI13_DIRECTIVES + GRADES, demo=False, seed=True)
    srv.start()
    pf.register(srv)
    r = srv.get("/ptech/jwks")
    assert r.status_code == 200, r.text
    pf.tool_jwks = r.json()
    return types.SimpleNamespace(srv=srv, pf=pf)


@pytest.fixture
def ags(httpd_factory):
    pf = AgsPlatform()
    yield start_with(httpd_factory, pf)
    pf.close()


def launch13(g, sub, lineitem=True):
    claim = {"scope": SCOPES, "lineitems": g.pf.base + LINEITEMS + "?type_id=2"}
    if lineitem:
        claim["lineitem"] = g.pf.base + LINEITEM + "?type_id=2"
    claims = {"sub": sub, "name": "Sara Learner", "given_name": "Sara",
              "family_name": "Learner", "email": "%s@etu.example.ma" % sub,
              pt.AGS: claim, pt.LTI + "custom": {"course": COURSE}}
    b = pt.Browser(g.srv, g.pf)
    b.launch_and_follow("student", login_hint=sub, claims=claims)


def check_timestamp(ts):
    assert ts.endswith("Z"), ts
    t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    assert abs(t.timestamp() - time.time()) < 120, ts
    return t


def test_610_ags_score_arrives(ags):
    g = ags
    launch13(g, "s610")
    r = import_csv(g, "user,course,module,status,score,date\n"
                      "s610,%s,,passed,85,2026-03-14\n" % COURSE)
    assert "1 grade return(s) queued" in r.stdout, r.stdout
    wait_for(lambda: len(g.pf.scores) >= 1, what="the AGS score")
    time.sleep(2.5)
    assert g.pf.bad == [], g.pf.bad
    assert len(g.pf.scores) == 1 and len(g.pf.tokens) == 1, (g.pf.scores, g.pf.tokens)
    query, ctype, score = g.pf.scores[0]
    assert query == {"type_id": "2"}
    assert ctype == "application/vnd.ims.lis.v1.score+json"
    assert score["userId"] == "s610"
    assert score["scoreGiven"] == 85 and score["scoreMaximum"] == 100, score
    assert score["gradingProgress"] == "FullyGraded"
    assert score["activityProgress"] == "Completed"
    assert COURSE in score["comment"], score
    check_timestamp(score["timestamp"])
    rows = outbox(g)
    assert [row[1] for row in rows] == ["sent"], rows
    # A newer result: the cached token, a strictly later timestamp.
    import_csv(g, "user,course,module,status,score,date\n"
                  "s610,%s,,passed,90,2026-03-15\n" % COURSE)
    wait_for(lambda: len(g.pf.scores) >= 2, what="the second score")
    assert len(g.pf.tokens) == 1
    t1 = check_timestamp(g.pf.scores[0][2]["timestamp"])
    t2 = check_timestamp(g.pf.scores[1][2]["timestamp"])
    assert (t2 - t1).total_seconds() >= 1, (t1, t2)
    assert g.pf.scores[1][2]["scoreGiven"] == 90


def test_610_ags_401_once_new_token(ags):
    g = ags
    g.pf.score_script = [401]
    launch13(g, "s611")
    import_csv(g, "user,course,module,status,score,date\n"
                  "s611,%s,,passed,70,2026-03-14\n" % COURSE)
    wait_for(lambda: len(g.pf.scores) >= 1, what="the score after a 401")
    time.sleep(2.5)
    assert g.pf.bad == [], g.pf.bad
    assert len(g.pf.tokens) == 2, g.pf.tokens
    assert len(g.pf.score_auth) == 2
    assert g.pf.score_auth[0] != g.pf.score_auth[1]
    assert g.pf.score_auth[1] == "Bearer " + g.pf.tokens[1]
    assert len(g.pf.scores) == 1 and g.pf.scores[0][2]["scoreGiven"] == 70
    assert [row[1] for row in outbox(g)] == ["sent"]


def test_610_ags_lineitem_created(ags, catalog):
    """A launch without its own line item: one is created (the course's title, score out of
    100, the course id, tag ptech, the resource link), then the score goes to it."""
    g = ags
    launch13(g, "s612", lineitem=False)
    import_csv(g, "user,course,module,status,score,date\n"
                  "s612,%s,,in_progress,40,2026-03-14\n" % COURSE)
    wait_for(lambda: len(g.pf.scores) >= 1, what="the score to a created line item")
    assert g.pf.bad == [], g.pf.bad
    assert len(g.pf.created) == 1, g.pf.created
    auth, item = g.pf.created[0]
    assert auth == "Bearer " + g.pf.tokens[0]
    assert item["label"] == catalog.title(COURSE, "fr"), item
    assert item["scoreMaximum"] == 100 and item["resourceId"] == COURSE, item
    assert item["tag"] == "ptech" and item["resourceLinkId"], item
    score = g.pf.scores[0][2]
    assert score["userId"] == "s612" and score["scoreGiven"] == 40, score
    assert score["activityProgress"] == "InProgress", score
