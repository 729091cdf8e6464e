"""Grades back to an LTI 1.3 platform, faults (issue 6, "nothing lost", the AGS path as
test_600/620 do for LTI 1.1): 500 three times then 200 (delivered once), the LMS dropping
the connection without an answer then back (delivered after), 409 and 400 recorded with
their reason and not retried.  Against test_610's loopback platform, which verifies the
client assertion of every token request and the bearer token of every score."""
import time

from test_600_grades import COURSE, import_csv, outbox, wait_for
from test_610_grades_ags import ags, launch13  # noqa: F401 -- the fixture

DROP = "drop"


def script_scores(pf, script):
    """The scores endpoint answers from script: HTTP statuses, or DROP (the connection is
    closed without an answer: a network error for the tool)."""
    handler_of = pf.routes
    scores = [k for k in handler_of if k.endswith("/scores")][0]
    answer = handler_of[scores]

    def scripted(query, handler):
        with pf.lock2:
            step = script.pop(0) if script else None
        if step == DROP:
            handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
            with pf.lock2:
                pf.score_auth.append("dropped")
            handler.close_connection = True
            raise ConnectionAbortedError("the test LMS drops this request")
        if step is not None:
            pf.score_script.insert(0, step)
        return answer(query, handler)
    handler_of[scores] = scripted


def result(g, sub, score, date="2026-03-14"):
    r = import_csv(g, "user,course,module,status,score,date\n%s,%s,,passed,%d,%s\n"
                   % (sub, COURSE, score, date))
    assert "1 grade return(s) queued" in r.stdout, r.stdout


def test_625_ags_500_three_times_then_200(ags):  # noqa: F811
    g = ags
    script_scores(g.pf, [500, 503, 500])
    launch13(g, "s625")
    result(g, "s625", 70)
    wait_for(lambda: len(g.pf.scores) >= 1, timeout=40, what="the score after three 5xx")
    time.sleep(2.5)
    assert g.pf.bad == [], g.pf.bad
    assert len(g.pf.scores) == 1 and g.pf.scores[0][2]["scoreGiven"] == 70, g.pf.scores
    assert len(g.pf.score_auth) == 4, g.pf.score_auth
    row = outbox(g)[0]
    assert row[1] == "sent" and row[7] == "4", row


def test_625_ags_lms_drops_then_back(ags):  # noqa: F811
    g = ags
    script_scores(g.pf, [DROP, DROP])
    launch13(g, "s626")
    result(g, "s626", 55)
    wait_for(lambda: any(r[9].startswith("network") for r in outbox(g, "--pending")),
             what="a network failure recorded")
    assert g.srv.get("/ptech/status").json()["outbox_pending"] == 1
    wait_for(lambda: len(g.pf.scores) >= 1, timeout=40, what="the score once the LMS answers")
    assert g.pf.scores[0][2]["scoreGiven"] == 55
    assert g.pf.score_auth[:2] == ["dropped", "dropped"], g.pf.score_auth
    assert [r[1] for r in outbox(g)] == ["sent"]


def test_625_ags_409_and_400_final(ags):  # noqa: F811
    """409 (timestamp not newer) and 400 (not gradable) are the LMS's last word: failed with
    the reason, shown to IT, not sent again."""
    g = ags
    script_scores(g.pf, [409])
    launch13(g, "s627")
    result(g, "s627", 40)
    wait_for(lambda: outbox(g, "--failed"), what="the 409 recorded")
    row = outbox(g, "--failed")[0]
    assert "409" in row[9], row
    script_scores(g.pf, [400])
    result(g, "s627", 45, date="2026-03-15")
    wait_for(lambda: len(outbox(g, "--failed")) >= 2, what="the 400 recorded")
    assert "400" in outbox(g, "--failed")[0][9], outbox(g)
    time.sleep(4)       # several polls and retry bases: nothing is sent again
    assert len(g.pf.score_auth) == 2, g.pf.score_auth
    assert g.pf.scores == []
    assert g.srv.get("/ptech/status").json()["outbox_failed"] == 2
