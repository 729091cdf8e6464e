#!/usr/bin/python3
"""Prepares LTI 1.3 launches for the benchmark: runs COUNT login initiations against the
tool (each gives a state, a nonce and a state cookie), then signs one Moodle-shaped id_token
per state with PyJWT (RS256, the mock platform's key).  Writes one line per launch:
"COOKIE<TAB>BODY".
usage: prepare13.py TOOL_BASE ISSUER CLIENT_ID DEPLOYMENT KEY_PEM KID COUNT OUT FIXTURE"""
import concurrent.futures
import http.client
import json
import multiprocessing
import sys
import time
import urllib.parse

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key

BASE, ISS, CLIENT, DEPLOYMENT, KEY_PEM, KID, COUNT, OUT, FIXTURE = sys.argv[1:10]
COUNT = int(COUNT)
C = "https://purl.imsglobal.org/spec/lti/claim/"
TEMPLATE = json.load(open(FIXTURE))["claims"]
# Loaded once: PyJWT would parse (and check) a PEM string on every signature.
KEY = load_pem_private_key(open(KEY_PEM, "rb").read(), None)


def logins(n):
    u = urllib.parse.urlparse(BASE)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    q = urllib.parse.urlencode({"iss": ISS, "login_hint": "3", "client_id": CLIENT,
                                "target_link_uri": BASE + "/ptech/launch",
                                "lti_message_hint": '{"cmid":3}'})
    out = []
    for _ in range(n):
        conn.request("GET", "/ptech/login?" + q)
        r = conn.getresponse()
        r.read()
        loc = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(r.getheader("Location")).query))
        cookie = r.getheader("Set-Cookie").split(";")[0]
        out.append((cookie, loc["state"], loc["nonce"]))
    return out


def sign(item):
    i, (cookie, state, nonce) = item
    now = int(time.time())
    claims = dict(TEMPLATE)
    claims.update({"iss": ISS, "aud": CLIENT, "iat": now, "exp": now + 3600, "nonce": nonce,
                   "sub": str(1000 + i % 5000), "name": "Étudiant %d" % (i % 5000)})
    claims[C + "deployment_id"] = DEPLOYMENT
    claims[C + "target_link_uri"] = BASE + "/ptech/launch"
    claims[C + "resource_link"] = {"id": str(1 + i % 50), "title": "Activité"}
    tok = jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": KID})
    return cookie + "\t" + urllib.parse.urlencode({"id_token": tok, "state": state})


if __name__ == "__main__":
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        got = [x for part in ex.map(logins, [COUNT // 8] * 8) for x in part]
    # In the order the tool issued them (a state begins with its time), as a platform's
    # launches follow their logins; eight threads' results one after the other would
    # consume eight interleaved runs of states.
    got.sort(key=lambda x: x[1])
    with multiprocessing.Pool(2) as pool, open(OUT, "w") as f:
        for line in pool.imap(sign, enumerate(got), chunksize=200):
            f.write(line + "\n")
