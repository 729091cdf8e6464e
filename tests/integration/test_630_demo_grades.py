"""The demo LMS receives grades (SPEC.md: the demo "receives grades at its own outcomes ...
endpoints, and shows them"): a demo LTI 1.1 launch, a CSV import, and the drainer's
replaceResult arrives at /ptech/demo/outcomes, which checks its OAuth signature with the demo
consumer's secret and shows the grade on the demo page.  Requests not signed by the demo
consumer, or not a POX replaceResult, are refused the way Moodle refuses them (HTTP 200 with
imsx_codeMajor failure) and change nothing."""
import base64
import hashlib
import time
import types
import uuid
import xml.etree.ElementTree as ET

import pytest
from oauthlib.oauth1.rfc5849 import signature as sig
from oauthlib.oauth1.rfc5849 import utils

import ptechtest as pt
from test_600_grades import COURSE, GRADES, POX_NS, import_csv, outbox, wait_for


@pytest.fixture
def demo(httpd_factory):
    srv = httpd_factory(directives=GRADES)
    srv.start()
    return srv


def demo_launch(srv, persona, link):
    r = srv.get("/ptech/demo/launch", params={"persona": persona, "course": COURSE,
                                             "link": link})
    assert r.status_code == 200, r.text
    f = pt.parse_forms(r.text)[0]
    r = srv.post("/ptech/lti11", data=[i for i in f["inputs"] if i[0]])
    assert r.status_code == 303, r.text


def code_major(text):
    root = ET.fromstring(text)
    return root.find(".//{%s}imsx_codeMajor" % POX_NS).text


POX = ('<?xml version="1.0" encoding="UTF-8"?><imsx_POXEnvelopeRequest xmlns="%s">'
       '<imsx_POXHeader><imsx_POXRequestHeaderInfo><imsx_version>V1.0</imsx_version>'
       '<imsx_messageIdentifier>m1</imsx_messageIdentifier></imsx_POXRequestHeaderInfo>'
       '</imsx_POXHeader><imsx_POXBody><replaceResultRequest><resultRecord><sourcedGUID>'
       '<sourcedId>%s</sourcedId></sourcedGUID><result><resultScore><language>en</language>'
       '<textString>%s</textString></resultScore></result></resultRecord>'
       '</replaceResultRequest></imsx_POXBody></imsx_POXEnvelopeRequest>')


def oauth_post(srv, body, secret=None, key="ptech-demo", body_hash=None):
    """POSTs body to the demo outcomes service signed with OAuth 1.0a and the body hash
    extension (the body hash is an oauth_ parameter in the signed header)."""
    if secret is None:
        secret = srv.sql("SELECT secret FROM consumers WHERE consumer_key='ptech-demo'")[0][0]
    url = srv.base + "/ptech/demo/outcomes"
    params = [("oauth_consumer_key", key), ("oauth_nonce", uuid.uuid4().hex),
              ("oauth_timestamp", str(int(time.time()))), ("oauth_version", "1.0"),
              ("oauth_signature_method", "HMAC-SHA1"),
              ("oauth_body_hash", body_hash or base64.b64encode(
                  hashlib.sha1(body.encode()).digest()).decode())]
    base = sig.signature_base_string("POST", sig.base_string_uri(url),
                                     sig.normalize_parameters(params))
    s = sig.sign_hmac_sha1_with_client(
        base, types.SimpleNamespace(client_secret=secret, resource_owner_secret=None))
    params.append(("oauth_signature", s))
    auth = "OAuth " + ", ".join('%s="%s"' % (k, utils.escape(v)) for k, v in params)
    return srv.post("/ptech/demo/outcomes", data=body.encode(),
                    headers={"Authorization": auth, "Content-Type": "application/xml"})


def test_630_demo_launch_import_grade_shown(demo):
    srv = demo
    r = srv.get("/ptech/demo")
    assert 'id="demo-grades"' in r.text and "Aucune note" in r.text
    demo_launch(srv, "student-fr", "2")
    r = import_csv(_g(srv), "user,course,module,status,score,date\n"
                           "youssef.benali@etu.univh2c.ma,%s,,passed,85,2026-03-14\n" % COURSE)
    assert "1 grade return(s) queued" in r.stdout, r.stdout

    def shown():
        return "85.00 %" in srv.get("/ptech/demo").text
    wait_for(shown, what="the grade on the demo page")
    page = srv.get("/ptech/demo").text
    assert "Youssef Benali — Activité 2" in page, page
    assert "Basic Outcomes (LTI 1.1)" in page
    assert [row[1] for row in outbox(_g(srv))] == ["sent"]
    assert srv.sql("SELECT target, via, score, count FROM demo_grades") == \
        [("demo:2:demo-s1", "lti11", 0.85, 1)]


def _g(srv):
    return types.SimpleNamespace(srv=srv)


def test_630_demo_outcomes_checks_signature(demo):
    srv = demo
    body = POX % (POX_NS, "demo:1:demo-s3", "0.5")
    # Signed with the demo secret: accepted, Moodle-shaped success.
    r = oauth_post(srv, body)
    assert r.status_code == 200 and code_major(r.text) == "success", r.text
    root = ET.fromstring(r.text)
    assert root.find(".//{%s}imsx_messageRefIdentifier" % POX_NS).text == "m1"
    assert root.find(".//{%s}replaceResultResponse" % POX_NS) is not None
    assert srv.sql("SELECT score FROM demo_grades") == [(0.5,)]
    # Another secret, another key, a body that is not the one hashed: refused, unchanged.
    body2 = POX % (POX_NS, "demo:1:demo-s3", "0.9")
    for r in (oauth_post(srv, body2, secret="not-the-secret"),
              oauth_post(srv, body2, key="someone-else"),
              oauth_post(srv, body2, body_hash=base64.b64encode(
                  hashlib.sha1(b"other").digest()).decode()),
              srv.post("/ptech/demo/outcomes", data=body2.encode(),
                       headers={"Content-Type": "application/xml"})):
        assert r.status_code == 200 and code_major(r.text) == "failure", r.text
        assert "signature" in r.text
    # Signed, but a DOCTYPE, a score out of range, not POX: refused by the parser.
    for bad in ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>' + body2[21:],
                POX % (POX_NS, "demo:1:demo-s3", "1.5"),
                POX % ("urn:other", "demo:1:demo-s3", "0.9")):
        r = oauth_post(srv, bad)
        assert r.status_code == 200 and code_major(r.text) == "failure", r.text
    assert srv.sql("SELECT score, count FROM demo_grades") == [(0.5, 1)]
    assert srv.get("/ptech/demo/outcomes").status_code == 405
