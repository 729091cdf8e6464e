"""Issue 3, refused LTI 1.1 launches: a 4xx page naming the problem and its reason code,
exactly one audit row, nothing else stored; and markup or SQL in every field."""
import re
import time

import requests

import ptechtest as pt

STORED = ("persons", "contexts", "resource_links", "link_members", "launches", "sessions",
          "nonces")


def _post(srv, pairs, headers=None):
    return srv.post_form(pairs, headers=headers)


def _tampered(srv, key, secret, p):
    pairs = srv.signed(p, key, secret)
    return [(k, "4" if k == "user_id" else v) for k, v in pairs]


def _without(name):
    def make(srv, key, secret, p):
        p = dict(p)
        del p[name]
        return _post(srv, srv.signed(p, key, secret))
    return make


def _with(**kw):
    def make(srv, key, secret, p):
        p = dict(p)
        p.update(kw)
        return _post(srv, srv.signed(p, key, secret))
    return make


def _big_body(srv, key, secret, p):
    p = dict(p, custom_padding="x" * (2 * 1024 * 1024))
    body = pt.form_body(srv.signed(p, key, secret)).encode()
    try:
        return requests.post(srv.url("/ptech/lti11"), data=body, headers=pt.FORM,
                             allow_redirects=False, timeout=60)
    except requests.ConnectionError:
        # The server answers before reading the body and closes: read the answer raw.
        import socket
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            s.sendall(b"POST /ptech/lti11 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Content-Type: application/x-www-form-urlencoded\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body))
            data = s.recv(65536)
        resp = requests.models.Response()
        head, _, text = data.partition(b"\r\n\r\n")
        resp.status_code = int(head.split()[1])
        resp._content = text
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.decode().partition(":")
            resp.headers[k.strip()] = v.strip()
        return resp


# (name, request maker, HTTP status, reason code, words on the page)
CASES = [
    ("tampered parameter", lambda s, k, sec, p: _post(s, _tampered(s, k, sec, p)),
     401, "oauth_bad_signature", "signature"),
    ("wrong secret", lambda s, k, sec, p: _post(s, s.signed(p, k, "not-the-secret-at-all")),
     401, "oauth_bad_signature", "signature"),
    ("unknown consumer", lambda s, k, sec, p: _post(s, s.signed(p, "no-such-key", sec)),
     401, "lti11_unknown_consumer", "no-such-key"),
    ("stale timestamp",
     lambda s, k, sec, p: _post(s, s.signed(p, k, sec, timestamp=int(time.time()) - 400)),
     401, "oauth_timestamp", "stale"),
    ("future timestamp",
     lambda s, k, sec, p: _post(s, s.signed(p, k, sec, timestamp=int(time.time()) + 400)),
     401, "oauth_timestamp", "future"),
    ("timestamp not a number",
     lambda s, k, sec, p: _post(s, s.signed(p, k, sec, timestamp="12ab")),
     400, "oauth_timestamp", "oauth_timestamp"),
    ("PLAINTEXT", lambda s, k, sec, p: _post(s, s.signed(p, k, sec, method="PLAINTEXT")),
     400, "oauth_method", "PLAINTEXT"),
    ("no signature method", lambda s, k, sec, p: _post(s, s.signed(p, k, sec, method=None)),
     400, "oauth_method", "oauth_signature_method"),
    ("no signature",
     lambda s, k, sec, p: _post(s, s.signed(p, k, sec, drop=("oauth_signature",))),
     400, "oauth_missing_signature", "oauth_signature"),
    ("no consumer key",
     lambda s, k, sec, p: _post(s, [kv for kv in s.signed(p, k, sec)
                                    if kv[0] != "oauth_consumer_key"]),
     400, "lti_missing_param", "oauth_consumer_key"),
    ("oauth_version 2.0",
     lambda s, k, sec, p: _post(s, [(a, "2.0" if a == "oauth_version" else b)
                                    for a, b in s.signed(p, k, sec)]),
     400, "oauth_version", "2.0"),
    ("duplicate oauth_nonce",
     lambda s, k, sec, p: _post(s, s.signed(p, k, sec, extra_oauth=[("oauth_nonce", "n2")])),
     400, "oauth_duplicate_param", "oauth_nonce"),
    ("no resource_link_id", _without("resource_link_id"), 400, "lti_missing_param",
     "resource_link_id"),
    ("no user_id", _without("user_id"), 400, "lti_missing_param", "user_id"),
    ("no lti_message_type", _without("lti_message_type"), 400, "lti_message_type",
     "lti_message_type"),
    ("no lti_version", _without("lti_version"), 400, "lti_version", "lti_version"),
    ("wrong lti_version", _with(lti_version="LTI-2p0"), 400, "lti_version", "LTI-2p0"),
    ("unknown message type", _with(lti_message_type="ToolProxyRegistrationRequest"), 400,
     "lti_message_type", "ToolProxyRegistrationRequest"),
    ("GET", lambda s, k, sec, p: s.get("/ptech/lti11", params=s.signed(p, k, sec)),
     405, "lti11_method", "POST"),
    ("2 MB body", _big_body, 413, "body_too_large", "larger than"),
    ("JSON body",
     lambda s, k, sec, p: s.post("/ptech/lti11", json=dict(s.signed(p, k, sec))),
     415, "lti11_content_type", "application/x-www-form-urlencoded"),
    ("no content type",
     lambda s, k, sec, p: s.post("/ptech/lti11", data=pt.form_body(s.signed(p, k, sec)),
                                 headers={"Content-Type": None}),
     415, "lti11_content_type", "form"),
]


def test_210_refusals(server, consumer):
    key, secret = consumer
    params = pt.moodle_params("student", custom_course="ai-fundamentals")
    failures = []
    for name, make, status, reason, words in CASES:
        before = server.counts(STORED)
        audit_max = server.sql("SELECT COALESCE(MAX(id), 0) FROM audit")[0][0]
        r = make(server, key, secret, params)
        errs = []
        if r.status_code != status:
            errs.append("status %d, not %d" % (r.status_code, status))
        if "<code>%s</code>" % reason not in r.text:
            errs.append("reason %s not on the page" % reason)
        if words not in r.text:
            errs.append("%r not on the page" % words)
        if not r.headers.get("Content-Type", "").startswith("text/html"):
            errs.append("content type %s" % r.headers.get("Content-Type"))
        if "Set-Cookie" in r.headers:
            errs.append("a cookie was set")
        rows = server.sql("SELECT reason, http_status, remote FROM audit WHERE id > ?",
                          (audit_max,))
        if rows != [(reason, status, "127.0.0.1")]:
            errs.append("audit rows %r" % rows)
        after = server.counts(STORED)
        if after != before:
            errs.append("stored: %r -> %r" % (before, after))
        if errs:
            failures.append("%s: %s\n%s" % (name, "; ".join(errs), r.text[:600]))
    assert not failures, "\n\n".join(failures)
    # The refusals are logged at info level, never as errors, and without the secret.
    log = server.log_text()
    assert log.count("PT00020: refused") == len(CASES)
    assert secret not in log
    # The same launch, signed properly, passes: the cases did not fail for another reason.
    r = _post(server, server.signed(params, key, secret))
    assert r.status_code == 303, r.text


def test_211_replayed_nonce(server, consumer):
    key, secret = consumer
    pairs = server.signed(pt.moodle_params("student"), key, secret)
    r = server.post_form(pairs)
    assert r.status_code == 303, r.text
    before = server.counts(STORED)
    r = server.post_form(pairs)
    pt.assert_error_page(r, 401, "oauth_nonce_replay")
    assert "Set-Cookie" not in r.headers
    assert server.counts(STORED) == before
    assert server.count("sessions") == 1
    assert server.sql("SELECT reason, http_status FROM audit") == [("oauth_nonce_replay", 401)]
    # The same fresh launch posted by 10 clients at once: exactly one gets in.
    import concurrent.futures
    pairs = server.signed(pt.moodle_params("student", user_id="racer"), key, secret)
    with concurrent.futures.ThreadPoolExecutor(10) as ex:
        codes = sorted(ex.map(lambda _: server.post_form(pairs).status_code, range(10)))
    assert codes == [303] + [401] * 9, codes
    assert server.count("sessions") == 2
    assert server.count("audit", "reason='oauth_nonce_replay'") == 10
    # The nonce is per consumer: another consumer may use the same one.
    key2, secret2 = server.add_consumer()
    nonce = dict(pairs)["oauth_nonce"]
    r = server.launch(pt.moodle_params("student"), key2, secret2, nonce=nonce)
    assert r.status_code == 303, r.text
    # ... and its user "3" is another person (persons are per platform).
    assert sorted(server.sql("SELECT tenant FROM persons WHERE user_id='3'")) == \
        sorted([("lti11:" + key,), ("lti11:" + key2,)])


ATTACK = "<script>alert(1)</script>'\"; DROP TABLE persons; -- & %s"


def test_220_markup_and_sql_in_every_field(server, consumer):
    key, secret = consumer
    fields = ("user_id", "lis_person_name_full", "lis_person_name_given",
              "lis_person_name_family", "lis_person_contact_email_primary", "context_id",
              "context_title", "context_label", "resource_link_id", "resource_link_title",
              "lis_result_sourcedid", "custom_course", "roles")

    def attack(kind, tag):
        p = pt.moodle_params(kind, **{f: ATTACK % (tag + f) for f in fields})
        p["roles"] = p["roles"] + "," + ("Instructor" if kind == "teacher" else "Learner")
        p["launch_presentation_return_url"] = ("http://127.0.0.1:8081;script-src "
                                               "'unsafe-inline'/x")
        return p

    s_sid, s_page = server.launch_and_follow(attack("student", "S"), key, secret)
    t_sid, t_page = server.launch_and_follow(attack("teacher", "T"), key, secret)
    for page in (s_page, t_page):
        assert page.status_code == 200
        assert "<script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    # The unknown course id is shown, escaped, to both.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;'&quot;; DROP TABLE persons; -- &amp; " \
           "Scustom_course" in s_page.text
    # The instructor page names the link, the context and the learner, escaped.
    for f in ("context_title", "resource_link_title", "lis_person_name_full", "user_id",
              "lis_person_contact_email_primary"):
        assert "-- &amp; T" + f in t_page.text, f
    assert "-- &amp; Slis_person_name_full" not in t_page.text   # another link
    # Stored as sent; every table still there.
    rows = server.sql("SELECT user_id, full_name, email FROM persons ORDER BY id")
    assert rows == [tuple(ATTACK % (who + f) for f in ("user_id", "lis_person_name_full",
                                                        "lis_person_contact_email_primary"))
                    for who in ("S", "T")], rows
    assert server.sql("SELECT result_sourcedid FROM link_members ORDER BY person_id") == \
        [(ATTACK % "Slis_result_sourcedid",), (ATTACK % "Tlis_result_sourcedid",)]
    assert server.sql("SELECT link_id, course_id FROM resource_links ORDER BY id") == \
        [(ATTACK % "Sresource_link_id", ATTACK % "Scustom_course"),
         (ATTACK % "Tresource_link_id", ATTACK % "Tcustom_course")]
    assert server.counts(STORED)["sessions"] == 2
    # The instructor's chooser still works for that link.
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', t_page.text).group(1)
    r = server.post("/ptech/course/choose", data={"csrf": csrf, "course": "ai-fundamentals"},
                    headers={"Cookie": "ptech_sid=" + t_sid})
    assert r.status_code == 303
    assert server.sql("SELECT course_id FROM resource_links WHERE link_id=?",
                      (ATTACK % "Tresource_link_id",)) == [("ai-fundamentals",)]
