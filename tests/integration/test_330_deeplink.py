"""Issue 8, content selection: an LTI 1.3 LtiDeepLinkingRequest through the whole browser
flow against the loopback platform (ptechtest.Platform), the catalog picker (search, theme,
locale), and the LtiDeepLinkingResponse verified with the tool's /ptech/jwks by PyJWT; the
LTI 1.1 ContentItemSelectionRequest and its ContentItemSelection verified with oauthlib;
the refusals (CSRF, another browser's selection, a second post, a learner)."""
import html
import json
import re
import types
import urllib.parse

import jwt as pyjwt
import requests
from oauthlib.oauth1.rfc5849 import signature as oauth_sig

import ptechtest as pt

DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
EVIL = '<script>alert("x")</script> & "co"'


def settings(platform, **over):
    s = {"accept_types": ["ltiResourceLink"], "accept_presentation_document_targets":
         ["frame", "iframe", "window"], "accept_copy_advice": False, "accept_multiple": True,
         "accept_unsigned": False, "auto_create": False, "can_confirm": False,
         "deep_link_return_url": platform.base + "/mod/lti/contentitem_return.php?course=2"
                                                 "&id=3&sesskey=HwO3NdfFSN",
         "title": "My title", "text": "", "data": "dl-data-" + EVIL}
    for k, v in over.items():
        if v is pt.DROP:
            s.pop(k, None)
        else:
            s[k] = v
    return {DL + "deep_linking_settings": s}


def start(srv, platform, locale="fr", browser=None, **over):
    """A deep linking launch up to the picker: returns (browser, picker url, response)."""
    b = browser or pt.Browser(srv, platform)
    claims = settings(platform, **over)
    claims[pt.LTI + "launch_presentation"] = {"locale": locale}
    r, spec = b.launch("deeplinking", claims=claims)
    assert r.status_code == 303, (r.status_code, r.text[:2000])
    loc = r.headers["Location"]
    assert re.fullmatch(re.escape(srv.public_url) + r"/ptech/deeplink\?ctx=[0-9a-f]{32}", loc)
    assert any(c.name == "ptech_dl" for c in b.session.cookies)
    return b, loc, spec


def picker_form(page):
    forms = [f for f in pt.parse_forms(page.text) if f["method"] == "post"]
    assert len(forms) == 1, page.text
    return forms[0]


def courses_offered(form):
    return [v for k, v in form["inputs"] if k == "course"]


def hidden(form):
    return {k: v for k, v in form["inputs"] if k in ("ctx", "csrf")}


def choose(b, srv, form, courses, action="add", **override):
    fields = dict(hidden(form))
    fields.update(override)
    pairs = [(k, v) for k, v in fields.items() if v is not None]
    pairs += [("course", c) for c in courses] + [("action", action)]
    return b.session.post(srv.url("/ptech/deeplink"), data=pairs, allow_redirects=False,
                          timeout=30)


def answer(r, return_url):
    """The auto-post form of the answer page: its fields."""
    assert r.status_code == 200, (r.status_code, r.text[:3000])
    pt.assert_no_inline_code(r.text)
    forms = pt.parse_forms(r.text)
    assert len(forms) == 1 and forms[0]["id"] == "autosubmit", r.text
    assert forms[0]["action"] == return_url and forms[0]["method"] == "post"
    assert '/ptech/static/autosubmit.js"></script>' in r.text
    origin = "%s://%s" % urllib.parse.urlsplit(return_url)[:2]
    assert "form-action 'self' %s;" % origin in r.headers["Content-Security-Policy"]
    return forms[0]["inputs"]


def verify_response(srv, platform, token):
    """The response JWT checked with the tool's published keys (PyJWT)."""
    jwks = requests.get(srv.url("/ptech/jwks"), timeout=30).json()
    kid = pyjwt.get_unverified_header(token)["kid"]
    keys = {k["kid"]: k for k in jwks["keys"]}
    assert kid in keys
    key = pyjwt.PyJWK.from_dict(keys[kid]).key
    claims = pyjwt.decode(token, key, algorithms=["RS256"], audience=platform.issuer,
                          options={"require": ["iss", "aud", "iat", "exp", "nonce"]})
    assert claims["iss"] == platform.client_id
    assert claims["aud"] == platform.issuer
    assert claims[pt.LTI + "deployment_id"] == platform.deployment
    assert claims[pt.LTI + "message_type"] == "LtiDeepLinkingResponse"
    assert claims[pt.LTI + "version"] == "1.3.0"
    assert re.fullmatch(r"[0-9a-f]{32}", claims["nonce"])
    assert 0 < claims["exp"] - claims["iat"] <= 3600
    return claims


def test_330_deep_linking_round_trip(server13, platform, catalog):
    """Picker in the launch locale, several courses chosen, a signed response with
    ltiResourceLink items and their line items; the state is spent, no session kept, and
    the selection is single use."""
    srv = server13
    b, loc, spec = start(srv, platform, locale="ar")
    assert srv.count("login_states") == 0
    page = b.session.get(loc, timeout=30)
    assert page.status_code == 200, page.text
    assert '<html lang="ar" dir="rtl">' in page.text
    pt.assert_no_inline_code(page.text)
    # Only the LMS may frame the picker.
    assert page.headers["Content-Security-Policy"].endswith(
        "frame-ancestors 'self' " + platform.base), page.headers["Content-Security-Policy"]
    form = picker_form(page)
    assert courses_offered(form) == catalog.order
    assert 'type="checkbox"' in page.text and 'type="radio"' not in page.text
    for cid in catalog.order:
        assert html.escape(catalog.title(cid, "ar"), quote=False) in page.text
    chosen = catalog.order[:2]
    r = choose(b, srv, form, chosen)
    fields = answer(r, spec.claims[DL + "deep_linking_settings"]["deep_link_return_url"])
    assert [k for k, _ in fields] == ["JWT"]
    claims = verify_response(srv, platform, fields[0][1])
    assert claims[DL + "data"] == "dl-data-" + EVIL
    items = claims[DL + "content_items"]
    assert len(items) == 2
    for item, cid in zip(items, chosen):
        assert item["type"] == "ltiResourceLink"
        assert item["title"] == catalog.title(cid, "ar")
        assert item["text"]
        assert item["url"] == srv.public_url + "/ptech/launch"
        assert item["custom"] == {"course": cid}
        assert item["lineItem"] == {"scoreMaximum": 100, "label": catalog.title(cid, "ar"),
                                    "resourceId": cid, "tag": "open-ptech"}
    assert srv.count("sessions") == 0 and srv.count("launches") == 0
    # Single use: the same form posted again signs nothing.
    again = choose(b, srv, form, chosen)
    pt.assert_error_page(again, 404, "dl_unknown")
    assert "JWT" not in again.text


def test_331_cancel_and_search(server13, platform, catalog):
    """Search words and the theme filter narrow the list (GET, no script); titles fall back
    to French for an unknown locale; cancel answers with an empty item list."""
    srv = server13
    b, loc, spec = start(srv, platform, locale="de-DE")
    first = catalog.order[0]
    word = catalog.title(first, "fr").split()[0]
    page = b.session.get(loc + "&q=" + urllib.parse.quote(word.lower()), timeout=30)
    assert '<html lang="fr" dir="ltr">' in page.text
    offered = courses_offered(picker_form(page))
    assert first in offered and len(offered) < len(catalog.order)
    for cid in offered:
        assert word.lower() in json.dumps(catalog.courses[cid], ensure_ascii=False).lower() \
            or word.lower() in cid
    page = b.session.get(loc + "&q=zzzz-nothing", timeout=30)
    assert courses_offered(picker_form(page)) == []
    search = [f for f in pt.parse_forms(page.text) if f["method"] == "get"][0]
    themes = [t for t in search["selects"]["theme"] if t]
    assert themes and len(set(themes)) == len(themes)
    page = b.session.get(loc + "&theme=" + urllib.parse.quote(themes[0]), timeout=30)
    offered = courses_offered(picker_form(page))
    assert 0 < len(offered) < len(catalog.order)
    # The search words come back escaped.
    page = b.session.get(loc + "&q=" + urllib.parse.quote(EVIL), timeout=30)
    assert EVIL not in page.text and html.escape(EVIL) in page.text
    r = choose(b, srv, picker_form(page), [], action="cancel")
    fields = answer(r, spec.claims[DL + "deep_linking_settings"]["deep_link_return_url"])
    claims = verify_response(srv, platform, dict(fields)["JWT"])
    assert claims[DL + "content_items"] == []
    assert claims[DL + "data"] == "dl-data-" + EVIL


def test_332_single_choice(server13, platform, catalog):
    """accept_multiple false: radio buttons, and two courses posted anyway are refused
    (the selection stays usable); no data in the request, none in the response."""
    srv = server13
    b, loc, spec = start(srv, platform, accept_multiple=False, data=pt.DROP)
    page = b.session.get(loc, timeout=30)
    assert 'type="radio"' in page.text and 'type="checkbox"' not in page.text
    form = picker_form(page)
    r = choose(b, srv, form, catalog.order[:2])
    pt.assert_error_page(r, 403, "dl_multiple")
    r = choose(b, srv, form, [])
    pt.assert_error_page(r, 400, "dl_nothing_chosen")
    r = choose(b, srv, form, ["no-such-course"])
    pt.assert_error_page(r, 400, "dl_unknown_course")
    r = choose(b, srv, form, catalog.order[1:2])
    claims = verify_response(srv, platform, dict(answer(
        r, spec.claims[DL + "deep_linking_settings"]["deep_link_return_url"]))["JWT"])
    assert DL + "data" not in claims
    assert [i["custom"]["course"] for i in claims[DL + "content_items"]] == catalog.order[1:2]


def test_333_csrf_and_foreign_browser(server13, platform, catalog):
    """A selection without or with a wrong CSRF token, or posted by another browser (with
    its own picker, or none), is refused with an audit row and signs nothing; the owner's
    selection still works afterwards."""
    srv = server13
    b, loc, spec = start(srv, platform)
    form = picker_form(b.session.get(loc, timeout=30))
    r = choose(b, srv, form, catalog.order[:1], csrf=None)
    pt.assert_error_page(r, 403, "dl_csrf")
    r = choose(b, srv, form, catalog.order[:1], csrf="0" * 32)
    pt.assert_error_page(r, 403, "dl_csrf")
    # Another browser that started its own selection, and one that has none.
    other, other_loc, _ = start(srv, platform)
    r = choose(other, srv, form, catalog.order[:1])
    pt.assert_error_page(r, 403, "dl_foreign_context")
    stranger = requests.Session()
    r = stranger.post(srv.url("/ptech/deeplink"), data=list(hidden(form).items())
                      + [("course", catalog.order[0]), ("action", "add")], timeout=30)
    pt.assert_error_page(r, 403, "dl_foreign_context")
    r = stranger.get(loc, timeout=30)
    pt.assert_error_page(r, 403, "dl_foreign_context")
    r = stranger.get(srv.url("/ptech/deeplink"), timeout=30)
    pt.assert_error_page(r, 400, "dl_no_context")
    reasons = [row[0] for row in srv.sql("SELECT reason FROM audit ORDER BY id")]
    assert reasons.count("dl_csrf") == 2 and reasons.count("dl_foreign_context") == 3
    assert srv.count("deeplink_contexts") == 2
    r = choose(b, srv, form, catalog.order[:1])
    answer(r, spec.claims[DL + "deep_linking_settings"]["deep_link_return_url"])
    assert srv.count("deeplink_contexts") == 1


def test_334_refused_requests(server13, platform, catalog):
    """A deep linking request from a learner, or one whose platform takes no resource
    links, is refused at the launch: no selection is kept, nothing can be signed."""
    srv = server13
    b = pt.Browser(srv, platform)
    claims = settings(platform)
    claims[pt.LTI + "roles"] = [LEARNER]
    r, _ = b.launch("deeplinking", claims=claims)
    pt.assert_error_page(r, 403, "dl_role")
    b = pt.Browser(srv, platform)
    r, _ = b.launch("deeplinking", claims=settings(platform, accept_types=["file", "html"]))
    pt.assert_error_page(r, 400, "dl_accept_types")
    b = pt.Browser(srv, platform)
    r, _ = b.launch("deeplinking", claims=settings(platform, deep_link_return_url="javascript:x"))
    assert r.status_code == 400, r.text
    assert srv.count("deeplink_contexts") == 0 and srv.count("login_states") == 0
    assert srv.count("sessions") == 0


def test_335_titles_escaped(httpd_factory, platform, tmp_path):
    """HTML in a catalog title is shown escaped by the picker and travels as text in the
    response."""
    text = open(pt.CATALOG, encoding="utf-8").read()
    first = pt.Catalog().order[0]
    title = pt.Catalog().title(first, "fr")
    xml_evil = EVIL.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    path = tmp_path / "catalog.xml"
    path.write_text(text.replace(">" + title + "<", ">" + xml_evil + "<", 1), encoding="utf-8")
    srv = httpd_factory(directives=pt.LTI13_DIRECTIVES + ('PTechCatalog "%s"' % path,),
                        demo=False, seed=True, catalog=False)
    srv.start()
    platform.register(srv)
    b, loc, spec = start(srv, platform)
    page = b.session.get(loc, timeout=30)
    i = page.text.find(EVIL)
    assert i < 0, page.text[i - 300:i + 100]
    assert html.escape(EVIL) in page.text
    r = choose(b, srv, picker_form(page), [first])
    claims = verify_response(srv, platform, dict(answer(
        r, spec.claims[DL + "deep_linking_settings"]["deep_link_return_url"]))["JWT"])
    assert claims[DL + "content_items"][0]["title"] == EVIL


# ---- LTI 1.1 Content-Item ----------------------------------------------------------------

RETURN_11 = "http://127.0.0.1:9/mod/lti/contentitem_return.php?course=2&id=7&sesskey=abc"


def ci_params(**over):
    p = pt.moodle_params("teacher", lti_message_type="ContentItemSelectionRequest",
                         content_item_return_url=RETURN_11,
                         accept_media_types="application/vnd.ims.lti.v1.ltilink",
                         accept_presentation_document_targets="frame,iframe,window",
                         accept_multiple="true", accept_unsigned="false", auto_create="false",
                         data='{"id":7,"x":"' + EVIL + '"}', resource_link_id=None,
                         resource_link_title=None)
    p.update(over)
    return {k: v for k, v in p.items() if v is not None}


def test_340_content_item_round_trip(server, consumer, catalog):
    """ContentItemSelectionRequest -> picker -> a ContentItemSelection form to
    content_item_return_url whose HMAC-SHA1 signature oauthlib verifies with the consumer
    secret; LtiLinkItem items with custom course and a line item; cancel gives an empty
    graph; the nonce cannot be used twice."""
    srv = server
    key, secret = consumer
    s = requests.Session()
    body = srv.signed(ci_params(launch_presentation_locale="en"), key, secret)
    r = srv.post_form(body, session=s)
    assert r.status_code == 303, r.text[:2000]
    loc = r.headers["Location"]
    replay = srv.post_form(body)
    pt.assert_error_page(replay, 401, "oauth_nonce_replay")
    page = s.get(loc, timeout=30)
    assert '<html lang="en" dir="ltr">' in page.text
    form = picker_form(page)
    chosen = catalog.order[2:4]
    r = choose(types_session(s), srv, form, chosen)
    fields = answer(r, RETURN_11)
    assert EVIL not in r.text and html.escape(EVIL) in r.text    # the echoed data
    check_signature(fields, secret)
    f = dict(fields)
    assert f["lti_message_type"] == "ContentItemSelection"
    assert f["lti_version"] == "LTI-1p0"
    assert f["oauth_consumer_key"] == key
    assert f["data"] == '{"id":7,"x":"' + EVIL + '"}'
    items = json.loads(f["content_items"])
    assert items["@context"] == "http://purl.imsglobal.org/ctx/lti/v1/ContentItem"
    assert len(items["@graph"]) == 2
    for item, cid in zip(items["@graph"], chosen):
        assert item["@type"] == "LtiLinkItem"
        assert item["mediaType"] == "application/vnd.ims.lti.v1.ltilink"
        assert item["title"] == catalog.title(cid, "en") and item["text"]
        assert item["url"] == srv.public_url + "/ptech/lti11"
        assert item["custom"] == {"course": cid}
        li = item["lineItem"]
        assert li["label"] == item["title"]
        assert li["assignedActivity"] == {"activityId": cid}
        assert li["scoreConstraints"]["totalMaximum"] == 100
        assert li["scoreConstraints"]["normalMaximum"] == 100
    assert srv.count("sessions") == 0 and srv.count("launches") == 0
    # Cancel, from a second request.
    s2 = requests.Session()
    r = srv.post_form(srv.signed(ci_params(accept_multiple="false"), key, secret), session=s2)
    page = s2.get(r.headers["Location"], timeout=30)
    assert 'type="radio"' in page.text
    r = choose(types_session(s2), srv, picker_form(page), [], action="cancel")
    fields = answer(r, RETURN_11)
    check_signature(fields, secret)
    assert json.loads(dict(fields)["content_items"])["@graph"] == []


def test_341_content_item_refusals(server, consumer):
    """A learner's request, a return URL that is no URL, and a request for other media
    types are refused with their reasons; nothing is kept."""
    srv = server
    key, secret = consumer
    r = srv.post_form(srv.signed(ci_params(roles="Learner"), key, secret))
    pt.assert_error_page(r, 403, "dl_role")
    r = srv.post_form(srv.signed(ci_params(content_item_return_url="javascript:alert(1)"),
                                 key, secret))
    pt.assert_error_page(r, 400, "ci_return_url")
    r = srv.post_form(srv.signed(ci_params(accept_media_types="image/*"), key, secret))
    pt.assert_error_page(r, 400, "ci_media_types")
    r = srv.post_form(srv.signed(ci_params(content_item_return_url=None), key, secret))
    pt.assert_error_page(r, 400, "ci_return_url")
    assert srv.count("deeplink_contexts") == 0


class types_session:
    """choose() wants an object with .session."""

    def __init__(self, s):
        self.session = s


def check_signature(fields, secret):
    """The answer's OAuth 1 HMAC-SHA1 signature, checked by oauthlib over POST to the return
    URL (its query parameters included), and not with another secret."""
    f = dict(fields)
    assert f["oauth_signature_method"] == "HMAC-SHA1" and f["oauth_version"] == "1.0"
    query = urllib.parse.parse_qsl(urllib.parse.urlsplit(RETURN_11).query)
    req = types.SimpleNamespace(params=[(k, v) for k, v in fields if k != "oauth_signature"]
                                + query, uri=RETURN_11, http_method="POST",
                                signature=f["oauth_signature"])
    assert oauth_sig.verify_hmac_sha1(req, secret, None)
    assert not oauth_sig.verify_hmac_sha1(req, secret + "x", None)
