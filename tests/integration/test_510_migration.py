"""Issue 5, migration from LTI 1.1 to LTI 1.3: a person who launched by 1.1 is the same person
launching by 1.3, by the guid and user id rule (SPEC.md, Persons) and by the lti1p1 claim
(its oauth_consumer_key_sign verified with the consumer secret, in the spec's spelling and
Moodle's); a claim that does not verify links nothing and leaves an audit row."""
import base64
import hashlib
import hmac

import ptechtest as pt
from test_300_lti13 import custom, person, tenant

GUID = "164355eec65ca206ae8d3cb3fd415fc7"     # the captured Moodle's site guid
LTI1P1 = pt.LTI + "lti1p1"


def lti11(srv, key, secret, user, guid=GUID, full="Amina Bennani", cid=None):
    """An LTI 1.1 launch of user (with the instance guid, or none); returns the session id."""
    over = {"user_id": user, "tool_consumer_instance_guid": guid, "lis_person_name_full": full,
            "lis_person_contact_email_primary": "u%s@old.univh2c.ma" % user}
    if cid:
        over["custom_course"] = cid
    sid, page = srv.launch_and_follow(pt.moodle_params("student", **over), key, secret)
    assert page.status_code == 200, page.text[:2000]
    return sid


def lti13(srv, pf, sub, guid=GUID, mutate=None, full="Amina Bennani", cid=None):
    """An LTI 1.3 launch of sub (tool_platform.guid guid, or none); returns the session id."""
    claims = person(sub, full, "fr")
    claims[pt.LTI + "tool_platform"] = ({"guid": guid, "product_family_code": "moodle"}
                                        if guid else pt.DROP)
    if cid:
        claims.update(custom(cid))
    sid, page, _ = pt.Browser(srv, pf).launch_and_follow("student", claims=claims,
                                                           mutate=mutate)
    assert page.status_code == 200, page.text[:2000]
    return sid


def person_of(srv, sid):
    """The person id of a session (its cookie value)."""
    t, rnd = sid.split("-")
    key = t + "-" + hashlib.sha256(rnd.encode()).hexdigest()
    rows = srv.sql("SELECT person_id FROM sessions WHERE id_hash = ?", (key,))
    assert len(rows) == 1, (sid, rows)
    return rows[0][0]


def sign_claim(key, secret, moodle=False, user_id=None, tamper=None):
    """mutate(claims) adding the lti1p1 claim, signed as the Migration Guide (base64 of the
    raw HMAC-SHA256) or as Moodle (base64 of its hex digest)."""
    def mutate(c):
        base = "&".join([key, c[pt.LTI + "deployment_id"], c["iss"], c["aud"], str(c["exp"]),
                         c["nonce"]])
        mac = hmac.new(secret.encode(), base.encode(), hashlib.sha256)
        sign = base64.b64encode(mac.hexdigest().encode() if moodle else mac.digest()).decode()
        claim = {"oauth_consumer_key": key, "oauth_consumer_key_sign": sign}
        if user_id is not None:
            claim["user_id"] = user_id
        if tamper:
            tamper(claim)
        c[LTI1P1] = claim
    return mutate


def canonical_persons(srv):
    return srv.count("persons", "alias_of IS NULL")


def test_510_guid_rule(server13, platform, catalog):
    """Same guid, 1.1 user_id = 1.3 sub: one person, whichever version launches first; the
    newest launch's name and email win; another guid, or two 1.1 consumers of one guid, are
    different persons."""
    srv = server13
    key, secret = srv.add_consumer()
    cid = catalog.order[0]
    old = lti11(srv, key, secret, "501", cid=cid)
    new = lti13(srv, platform, "501", full="Amina Bennani-Alaoui", cid=cid)
    assert person_of(srv, old) == person_of(srv, new)
    assert canonical_persons(srv) == 1
    # The person's own row carries the newest name and email; the course page greets them.
    assert srv.sql("SELECT full_name, email FROM persons WHERE id = ?",
                   (person_of(srv, old),)) == [("Amina Bennani-Alaoui", "u501@etu.univh2c.ma")]
    page = srv.course_page(new)
    assert page.status_code == 200
    # 1.3 first, then 1.1.
    first = lti13(srv, platform, "502")
    then = lti11(srv, key, secret, "502")
    assert person_of(srv, first) == person_of(srv, then)
    # Launching again keeps resolving to the same person, both ways.
    assert person_of(srv, lti11(srv, key, secret, "501")) == person_of(srv, old)
    assert person_of(srv, lti13(srv, platform, "501")) == person_of(srv, old)
    assert canonical_persons(srv) == 2
    # Another guid, or none: another person.
    a = lti11(srv, key, secret, "503", guid="another-moodle")
    b = lti13(srv, platform, "503")
    c = lti11(srv, key, secret, "504", guid=None)
    d = lti13(srv, platform, "504")
    assert person_of(srv, a) != person_of(srv, b)
    assert person_of(srv, c) != person_of(srv, d)
    # Two 1.1 consumers of one Moodle are two persons (the rule is across versions)...
    key2, secret2 = srv.add_consumer()
    e = lti11(srv, key, secret, "505")
    f = lti11(srv, key2, secret2, "505")
    assert person_of(srv, e) != person_of(srv, f)
    # ... unless a 1.3 launch of that Moodle is each of them: the first one's person.
    g = lti11(srv, key2, secret2, "501")
    assert person_of(srv, g) == person_of(srv, old)
    assert canonical_persons(srv) == 8
    # The instructor's roster of the 1.3 link lists the person once, by the 1.1 user id.
    assert srv.sql("SELECT COUNT(DISTINCT person_id) FROM link_members m JOIN persons p "
                   "ON p.id = m.person_id WHERE p.alias_of IS NOT NULL") == [(0,)]
    assert sorted(srv.sql("SELECT tenant FROM persons WHERE user_id = '501' "
                          "AND alias_of IS NOT NULL")) == sorted([(tenant(platform),),
                                                                  ("lti11:" + key2,)])
    assert srv.count("audit") == 0


def test_511_lti1p1_claim(server13, platform):
    """A 1.3 sub unlike the 1.1 user_id, no common guid: the lti1p1 claim links them when it
    verifies, in the spec's spelling and in Moodle's, with the claim's user_id or (without
    one) sub; also when the 1.3 launch comes first."""
    srv = server13
    key, secret = srv.add_consumer()
    cases = [("legacy-1", "sub-1", False, True), ("legacy-2", "sub-2", True, True),
             ("sub-3", "sub-3", True, False)]
    for user, sub, moodle, with_user in cases:
        old = lti11(srv, key, secret, user, guid=None)
        new = lti13(srv, platform, sub, guid=None,
                    mutate=sign_claim(key, secret, moodle, user if with_user else None))
        assert person_of(srv, old) == person_of(srv, new), (user, sub, moodle)
    # 1.3 first: the 1.1 identity named by the claim is that person from then on.
    new = lti13(srv, platform, "sub-4", guid=None, mutate=sign_claim(key, secret, True,
                                                                      "legacy-4"))
    old = lti11(srv, key, secret, "legacy-4", guid=None)
    assert person_of(srv, old) == person_of(srv, new)
    assert canonical_persons(srv) == 4
    assert srv.count("audit") == 0


def test_512_bad_lti1p1_sign_links_nothing(server13, platform):
    """A claim signed with another secret, tampered after signing, without a signature or
    naming an unknown consumer: the launch goes on as a new 1.3 person, the 1.1 person is
    untouched, and an audit row (HTTP 303) says why."""
    srv = server13
    key, secret = srv.add_consumer()
    other, _ = srv.add_consumer()
    old = lti11(srv, key, secret, "legacy-9", guid=None)
    before = srv.sql("SELECT id, tenant, user_id, full_name, email, alias_of FROM persons")
    cases = [
        ("wrong secret", sign_claim(key, "not-" + secret, False, "legacy-9"), "lti1p1_bad_sign"),
        ("moodle, wrong secret", sign_claim(key, "x" + secret, True, "legacy-9"),
         "lti1p1_bad_sign"),
        ("another consumer's key, our signature",
         sign_claim(key, secret, False, "legacy-9",
                    tamper=lambda c: c.update(oauth_consumer_key=other)), "lti1p1_bad_sign"),
        ("no signature", sign_claim(key, secret, False, "legacy-9",
                                    tamper=lambda c: c.pop("oauth_consumer_key_sign")),
         "lti1p1_no_sign"),
        ("unknown consumer", sign_claim("nobody", secret, False, "legacy-9"),
         "lti1p1_unknown_consumer"),
    ]
    for i, (name, mutate, reason) in enumerate(cases):
        audit0 = srv.sql("SELECT COALESCE(MAX(id), 0) FROM audit")[0][0]
        sub = "new-%d" % i
        new = lti13(srv, platform, sub, guid=None, mutate=mutate)
        assert person_of(srv, new) != person_of(srv, old), name
        rows = srv.sql("SELECT reason, http_status, detail FROM audit WHERE id > ?", (audit0,))
        assert [(r[0], r[1]) for r in rows] == [(reason, 303)], (name, rows)
        assert secret not in rows[0][2]
    # Nothing about the 1.1 person changed, and no identity points at it.
    after = srv.sql("SELECT id, tenant, user_id, full_name, email, alias_of FROM persons "
                    "WHERE id IN (%s)" % ",".join(str(r[0]) for r in before))
    assert after == before
    assert srv.count("persons", "alias_of = ?", (person_of(srv, old),)) == 0
    assert srv.count("persons", "tenant LIKE 'lti11:%' AND user_id = 'legacy-9'") == 1
