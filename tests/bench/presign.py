#!/usr/bin/python3
"""Pre-signs unique LTI 1.1 launches shaped like the Moodle 4.5.6 capture, one urlencoded
body a line, with oauthlib (an implementation independent of the tool's).
usage: presign.py URL KEY SECRET COUNT OUT FIXTURE_JSON OUTCOME_URL COURSE

Each launch names a course (custom course=) and a grade target at OUTCOME_URL (the bench's
loopback LMS) with a sourcedid of its own per learner and link, shaped like Moodle's."""
import json
import multiprocessing
import sys
import time
from urllib.parse import urlencode

from oauthlib.oauth1 import SIGNATURE_TYPE_BODY, Client

URL, KEY, SECRET, COUNT, OUT, FIXTURE, OUTCOME_URL, COURSE = sys.argv[1:9]
COUNT = int(COUNT)
BASE = {k: v for k, v in json.load(open(FIXTURE))["params"].items()
        if not k.startswith("oauth_")}


def sign(i):
    params = dict(BASE)
    # Unique people and links so the store grows as on a real site: 5,000 learners, each
    # in 10 activities (links) of one course, every pair launched once in the first 50,000.
    user, link = 1000 + i % 5000, 1 + (i // 5000) % 10
    params["user_id"] = str(user)
    params["lis_person_name_full"] = "Étudiant %d" % (i % 5000)
    params["lis_person_contact_email_primary"] = "student%d@example.com" % user
    params["resource_link_id"] = str(link)
    params["custom_course"] = COURSE
    params["lis_outcome_service_url"] = OUTCOME_URL
    params["lis_result_sourcedid"] = json.dumps(
        {"data": {"instanceid": str(link), "userid": str(user), "typeid": "1",
                  "launchid": 22579295 + i}, "hash": "%064x" % (user * 100 + link)},
        separators=(",", ":"))
    client = Client(KEY, client_secret=SECRET, signature_type=SIGNATURE_TYPE_BODY,
                    nonce="b%012d%s" % (i, time.time_ns()), timestamp=str(int(time.time())))
    _, _, body = client.sign(URL, "POST", urlencode(params),
                             {"Content-Type": "application/x-www-form-urlencoded"})
    return body


if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool, open(OUT, "w") as out:
        for body in pool.imap(sign, range(COUNT), chunksize=500):
            out.write(body + "\n")
