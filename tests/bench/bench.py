#!/usr/bin/python3
"""make bench: LTI 1.1 launches/s against Apache serving a tiny static file, same httpd, same
run, interleaved; httpd pinned to CPU 0, wrk to CPU 1.  Also the children's RSS after a
10,000-launch warm-up and after 100,000 more, and the grade return drain: 50,000 pending
scores delivered to a loopback LMS (tests/bench/lms.js, Node, on CPU 1), and launches/s
while such a drain runs against launches/s without one.  Writes tests/bench/REPORT.md."""
import concurrent.futures
import http.server
import itertools
import json
import os
import threading
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("PTECH_BUILD", os.path.join(ROOT, "build"))
FIXTURE = os.path.join(ROOT, "..", "shared", "fixtures", "moodle-4.5",
                       "lti11-launch-student.json")
HTTPD = shutil.which("apache2") or "/usr/sbin/apache2"
# Each of wrk's two threads takes half of a round's lines, and one may serve twice the
# other's share: a half must last a 10 s round at full speed (LTI 1.1 launches reached
# 12,000/s, LTI 1.3 launches 7,500/s here), or lines come round again as refused replays.
SIGNED = int(os.environ.get("BENCH_SIGNED", "610000"))
# Prepared LTI 1.3 launches (each needs a real login first): per round.
PER_ROUND13 = int(os.environ.get("BENCH_LTI13", "120000"))
WARMUP, MORE, LAST = 10000, 100000, 50000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
# The two drain-comparison launch rounds (5 s each, to keep pre-signing short): pre-signed
# launches for each, after the lines the rounds above use.
PER_DRAIN_ROUND = int(os.environ.get("BENCH_DRAIN_LAUNCHES", "90000"))
COURSE = "cybersecurity-fundamentals"
LEARNERS, LINKS = 5000, 10     # as presign.py makes them: 50,000 (learner, link) pairs
KEY, SECRET = "bench-key", "bench-secret-0123456789abcdef"
WRK = ["taskset", "-c", "1", "wrk", "-t2", "-c64", "-d10s", "--latency"]
WRK_DRAIN = WRK[:-2] + ["-d5s", "--latency"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_tree(ppid):
    pids = [ppid]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == ppid:
                        pids.append(int(d))
            except (OSError, IndexError):
                pass
    return pids


def cpu_seconds(ppid):
    total = 0
    for pid in proc_tree(ppid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def children_rss_kb(ppid):
    """pid -> (VmRSS, RssAnon) in kB.  RssAnon is the heap: the store's file, mapped by
    SQLite (mmap_size), grows with the data and shows in VmRSS only."""
    rss = {}
    for pid in proc_tree(ppid)[1:]:
        with open("/proc/%d/status" % pid) as f:
            text = f.read()
        rss[pid] = tuple(int(re.search(r"%s:\s+(\d+)" % k, text).group(1))
                         for k in ("VmRSS", "RssAnon"))
    return rss


def parse_wrk(out):
    def lat(p):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)" % p, out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    return {"requests": reqs, "rate": rate, "p50": lat(50), "p99": lat(99),
            "bad": int(m.group(1)) if m else 0, "socket": errs.group(1) if errs else ""}


def thread_slices(path, first, last, nthreads=2):
    """Writes lines [first, last) of path into one file per wrk thread, PATH.slice.K, and
    returns the prefix (launch.lua, launch13.lua).  wrk starts its timer once every thread's
    init has run, and a thread that has its lines starts sending at once: when each thread
    loaded its slice out of the whole file, the first sent for seconds before the timer
    started and the rate came out a third too high."""
    prefix = path + ".slice"
    per = (last - first) // nthreads
    with open(path) as src:
        lines = itertools.islice(src, first, first + per * nthreads)
        for k in range(nthreads):
            with open("%s.%d" % (prefix, k), "w") as out:
                out.writelines(itertools.islice(lines, per))
    return prefix


def run_wrk(args, ppid, wrk=WRK):
    c0 = cpu_seconds(ppid)
    out = subprocess.run(wrk + args, capture_output=True, text=True, check=True).stdout
    r = parse_wrk(out)
    r["cpu_us"] = (cpu_seconds(ppid) - c0) * 1e6 / max(r["requests"], 1)
    return r


class Platform:
    """A loopback LTI 1.3 platform: an RSA key and its JWKS, counting fetches."""

    def __init__(self, d):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from jwt.algorithms import RSAAlgorithm

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = os.path.join(d, "platform.pem")
        with open(self.pem, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        self.kid = "bench-platform-1"
        jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        jwk.update(kid=self.kid, alg="RS256", use="sig")
        body = json.dumps({"keys": [jwk]}).encode()
        self.fetches = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "max-age=3600")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.issuer = "http://127.0.0.1:%d" % self.server.server_address[1]


def lms_stats(lms):
    return requests.get(lms + "/stats", timeout=10).json()


def import_results(d, ctl, name, score_of, date):
    """A CSV of every learner's course result (SPEC.md's CSV rule), imported with ptechctl
    (pinned to CPU 1, off httpd's core): each changed result queues one grade return per
    link the learner launched, in one transaction.  Returns (seconds, ptechctl's summary)."""
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write("user,course,module,status,score,date\n")
        for u in range(LEARNERS):
            f.write("%d,%s,,passed,%d,%s\n" % (1000 + u, COURSE, score_of(u), date))
    t = time.time()
    r = subprocess.run(["taskset", "-c", "1"] + ctl + ["progress", "import", path],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return time.time() - t, r.stdout.strip()


def wait_drained(lms, want, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = lms_stats(lms)
        if s["received"] >= want:
            return s
        time.sleep(0.05)
    raise AssertionError("drain incomplete after %ds: %r" % (timeout, lms_stats(lms)))


def bench_drain(d, ctl, base, lms, bodies, ppid, first):
    """(a) 50,000 pending scores drained to the Node LMS, nothing else running; (b) a launch
    round without a drain, then one during a drain of 50,000 changed scores."""
    pairs = LEARNERS * LINKS
    out = {}
    requests.post(lms + "/reset", timeout=10)
    print("bench: drain: importing %d learners' results (%d grade returns)" % (LEARNERS, pairs),
          flush=True)
    secs, summary = import_results(d, ctl, "results-a.csv", lambda u: 40 + u % 50,
                                   "2026-03-14")
    t_end = time.time()
    assert "%d grade return(s) queued" % pairs in summary, summary
    c0 = cpu_seconds(ppid)
    s = wait_drained(lms, pairs)
    cpu = cpu_seconds(ppid) - c0
    time.sleep(1.5)             # a late duplicate would show now
    s = lms_stats(lms)
    status = requests.get(base + "/ptech/status", timeout=10).json()
    out["a"] = {"import_s": secs, "summary": summary, "stats": s,
                "rate": pairs / max((s["last_ms"] - s["first_ms"]) / 1000.0, 1e-3),
                "total_s": s["last_ms"] / 1000.0 - t_end,
                "cpu_us": cpu * 1e6 / pairs, "pending": status.get("outbox_pending")}
    print("bench: drain (a): %r" % out["a"], flush=True)
    assert s["unique"] == pairs and s["duplicates"] == 0 and s["bad"] == 0, s
    # (b) The same kind of launch round twice, the second while 50,000 changed scores drain.
    print("bench: launches without a drain", flush=True)
    r0 = run_wrk(["-s", os.path.join(HERE, "launch.lua"), base, "--",
                  thread_slices(bodies, first, first + PER_DRAIN_ROUND)], ppid, WRK_DRAIN)
    assert r0["bad"] == 0, "refused launches: BENCH_DRAIN_LAUNCHES too small?"
    requests.post(lms + "/reset", timeout=10)
    secs, summary = import_results(d, ctl, "results-b.csv", lambda u: 50 + u % 50,
                                   "2026-03-15")
    assert "%d grade return(s) queued" % pairs in summary, summary
    print("bench: launches during a drain", flush=True)
    before = lms_stats(lms)["received"]
    r1 = run_wrk(["-s", os.path.join(HERE, "launch.lua"), base, "--",
                  thread_slices(bodies, first + PER_DRAIN_ROUND, first + 2 * PER_DRAIN_ROUND)],
                 ppid, WRK_DRAIN)
    during = lms_stats(lms)["received"]
    assert r1["bad"] == 0, "refused launches: BENCH_DRAIN_LAUNCHES too small?"
    s = wait_drained(lms, pairs)
    time.sleep(1.5)
    s = lms_stats(lms)
    assert s["unique"] == pairs and s["duplicates"] == 0 and s["bad"] == 0, s
    out["b"] = {"without": r0, "with": r1, "ratio": r1["rate"] / r0["rate"],
                "before_wrk": before, "during_wrk": during - before, "stats": s,
                "rate": pairs / max((s["last_ms"] - s["first_ms"]) / 1000.0, 1e-3)}
    print("bench: drain (b): %r" % out["b"], flush=True)
    return out


def main():
    d = tempfile.mkdtemp(prefix="ptech-bench-")
    os.chmod(d, 0o755)
    os.makedirs(os.path.join(d, "htdocs"))
    with open(os.path.join(d, "htdocs", "static.txt"), "w") as f:
        f.write("ok\n")
    with open(os.path.join(d, "secret.key"), "w") as f:
        f.write(os.urandom(32).hex())
    os.chmod(os.path.join(d, "secret.key"), 0o600)
    user = ""
    if os.geteuid() == 0:
        w = pwd.getpwnam("www-data")
        os.chown(d, w.pw_uid, w.pw_gid)
        user = "User www-data\nGroup www-data\n"
    db = "sqlite3:%s/ptech.db" % d
    ctl = [os.path.join(BUILD, "ptechctl"), "--db", db]
    subprocess.run(ctl + ["migrate"], check=True, capture_output=True)
    subprocess.run(ctl + ["consumer", "add", KEY, "--secret", SECRET], check=True,
                   capture_output=True)
    platform = Platform(d)
    lms_proc = subprocess.Popen(["taskset", "-c", "1", "node", os.path.join(HERE, "lms.js"),
                                 KEY, SECRET], stdout=subprocess.PIPE, text=True)
    lms = "http://127.0.0.1:%s" % lms_proc.stdout.readline().split()[1]
    subprocess.run(ctl + ["platform", "add", "--issuer", platform.issuer, "--client-id",
                          "bench-client", "--auth-url", platform.issuer + "/auth",
                          "--token-url", platform.issuer + "/token", "--jwks-url",
                          platform.issuer + "/jwks", "--deployment", "1"],
                   check=True, capture_output=True)
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    conf = os.path.join(d, "httpd.conf")
    with open(conf, "w") as f:
        f.write("""ServerRoot "{d}"
Listen 127.0.0.1:{port}
ServerName 127.0.0.1
PidFile "{d}/httpd.pid"
ErrorLog "{d}/error.log"
LogLevel warn
{user}
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule ptech_module "{build}/mod_ptech.so"
# One child of 128 threads on the one core httpd gets: its launches share group commits.
StartServers 1
ServerLimit 1
ThreadLimit 128
ThreadsPerChild 128
MaxRequestWorkers 128
MinSpareThreads 64
MaxSpareThreads 128
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
DocumentRoot "{d}/htdocs"
<Directory "{d}/htdocs">
    Require all granted
</Directory>
PTechStore "{db}"
PTechPublicURL "{base}"
PTechSecretKeyFile "{d}/secret.key"
PTechCatalog "{root}/conf/catalog.xml"
# Pre-signing and the run take minutes: a wide window keeps the pre-signed launches valid.
PTechTimestampWindow 1h
PTechStateTTL 1h
PTechAllowInsecureLoopback On
PTechOutboxPoll 1s
""".format(d=d, port=port, user=user, build=BUILD, db=db, base=base, root=ROOT))
    bodies = os.path.join(d, "launches.txt")
    total_signed = SIGNED + 2 * PER_DRAIN_ROUND
    print("bench: pre-signing %d launches with oauthlib ..." % total_signed, flush=True)
    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "presign.py"),
                    base + "/ptech/lti11", KEY, SECRET, str(total_signed), bodies, FIXTURE,
                    lms + "/mod/lti/service.php", COURSE], check=True)
    httpd = subprocess.Popen(["taskset", "-c", "0", HTTPD, "-f", conf, "-DFOREGROUND"])
    try:
        # The port accepts before start-up is done (the first start makes RSA keys).
        for _ in range(300):
            try:
                if requests.get(base + "/ptech/status", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        lines = open(bodies).read().split("\n")
        print("bench: warm-up, %d launches" % WARMUP, flush=True)
        sess = requests.Session()
        hdr = {"Content-Type": "application/x-www-form-urlencoded"}

        def post(i):
            return requests.post(base + "/ptech/lti11", data=lines[i], headers=hdr,
                                 allow_redirects=False).status_code
        # As many clients as the rounds have connections, so the warm-up reaches the worker
        # threads (and their malloc arenas) the rounds will use.
        with concurrent.futures.ThreadPoolExecutor(64) as ex:
            codes = list(ex.map(post, range(WARMUP)))
        assert codes.count(303) == WARMUP, "warm-up launches failed: %r" % set(codes)
        print("bench: preparing %d LTI 1.3 launches (logins + PyJWT) ..." % (PER_ROUND13 * ROUNDS),
              flush=True)
        prepared = os.path.join(d, "launches13.txt")
        subprocess.run(["/usr/bin/python3", os.path.join(HERE, "prepare13.py"), base,
                        platform.issuer, "bench-client", "1", platform.pem, platform.kid,
                        str(PER_ROUND13 * ROUNDS + 8), prepared,
                        FIXTURE.replace("lti11-launch-student", "lti13-launch-student")],
                       check=True)
        # One launch outside the rounds fetches the platform keys once.
        first13 = open(prepared).readline().rstrip("\n").split("\t")
        r = requests.post(base + "/ptech/launch", data=first13[1], allow_redirects=False,
                          headers={"Cookie": first13[0],
                                   "Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 303, r.text
        fetches_before = platform.fetches
        login_url = base + "/ptech/login?" + urllib.parse.urlencode(
            {"iss": platform.issuer, "login_hint": "3", "client_id": "bench-client",
             "target_link_uri": base + "/ptech/launch", "lti_message_hint": '{"cmid":3}'})
        rss1 = children_rss_kb(httpd.pid)
        # Each launch round gets its own slice of lines; what it leaves is not reused.
        line, launched = WARMUP, 0
        slice_len = (SIGNED - WARMUP) * 2 // (3 * ROUNDS)
        results = {"static": [], "launch": [], "launch13": [], "login": []}
        line13 = 8
        for rnd in range(ROUNDS):
            print("bench: round %d static" % (rnd + 1), flush=True)
            results["static"].append(run_wrk([base + "/static.txt"], httpd.pid))
            print("bench: %r" % results["static"][-1], flush=True)
            print("bench: round %d LTI 1.3 launches" % (rnd + 1), flush=True)
            r = run_wrk(["-s", os.path.join(HERE, "launch13.lua"), base, "--",
                         thread_slices(prepared, line13, line13 + PER_ROUND13)], httpd.pid)
            print("bench: %r" % r, flush=True)
            # A replayed state is refused cheaply and would inflate the rate.
            assert r["bad"] == 0, "refused launches: not enough prepared (BENCH_LTI13)?"
            results["launch13"].append(r)
            line13 += PER_ROUND13
            print("bench: round %d login initiations" % (rnd + 1), flush=True)
            results["login"].append(run_wrk([login_url], httpd.pid))
            print("bench: %r" % results["login"][-1], flush=True)
            print("bench: round %d LTI 1.1 launches" % (rnd + 1), flush=True)
            r = run_wrk(["-s", os.path.join(HERE, "launch.lua"), base, "--",
                         thread_slices(bodies, line, line + slice_len)], httpd.pid)
            results["launch"].append(r)
            print("bench: %r" % r, flush=True)
            assert r["bad"] == 0, "refused launches: not enough pre-signed (BENCH_SIGNED)?"
            line += slice_len
            launched += r["requests"]
        # Top up to 100,000 launches after the warm-up before reading the RSS again.
        if launched < MORE:
            n = MORE - launched
            assert line + n <= SIGNED, "not enough pre-signed launches for the RSS check"
            with concurrent.futures.ThreadPoolExecutor(16) as ex:
                codes = list(ex.map(post, range(line, line + n)))
            assert codes.count(303) == n, "top-up launches failed: %r" % set(codes)
            launched += n
            line += n
        used = WARMUP + launched
        rss2 = children_rss_kb(httpd.pid)
        # And up to 50,000 more: a heap that has levelled off stays where it is.
        last = min(LAST, SIGNED - line)
        assert last >= 20000, "not enough pre-signed launches for the last RSS check"
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            codes = list(ex.map(post, range(line, line + last)))
        assert codes.count(303) == last, "last launches failed: %r" % set(codes)
        rss3 = children_rss_kb(httpd.pid)
        jwks_fetches = platform.fetches - fetches_before
        del sess
        drain = bench_drain(d, ctl, base, lms, bodies, httpd.pid, line + last)
    finally:
        httpd.terminate()
        httpd.wait(30)
        lms_proc.terminate()
        lms_proc.wait(10)
    errors = [l for l in open(os.path.join(d, "error.log"))
              if re.search(r"\[(error|crit|alert|emerg)\]|database is locked", l)]
    write_report(results, rss1, rss2, rss3, used - WARMUP, last, errors, jwks_fetches, drain)
    shutil.rmtree(d, ignore_errors=True)


def drain_report(dr):
    a, b = dr["a"], dr["b"]
    w0, w1 = b["without"], b["with"]
    return """
## Grade returns (outbox drain)

Pending scores made honestly and fast: the launches above are 5,000 learners each in 10
activities (resource links) of one course, every (learner, link) pair launched at least once
with its own lis_result_sourcedid and the loopback LMS as lis_outcome_service_url. A CSV of
the 5,000 learners' course results (SPEC.md's CSV rule) imported with `ptechctl progress
import` ({import_s:.1f} s: {summary}) queues one grade return per learner and link:
{pairs} pending scores. The drainer (the mod_watchdog thread of the same httpd, on CPU 0)
sends them as LTI 1.1 replaceResult (POX, OAuth 1.0a body hash + HMAC-SHA1, a fresh nonce
each) over keep-alive connections, 32 requests in flight, to tests/bench/lms.js (Node, on
CPU 1), which checks each request's body hash and signature, answers with Moodle 4.5's
success envelope and counts every delivery by sourcedid and score.

(a) Draining {pairs} pending scores, nothing else running:
- **{rate:.0f} scores/s** (first to last delivery at the LMS)
- **{total:.1f} s** from the end of the import to the last delivery (the drainer polls
  every second)
- server CPU {cpu:.0f} µs per score; received {recv}, distinct {uniq}, duplicates {dup},
  refused by the LMS {bad}; pending after: {pending}

(b) LTI 1.1 launches (wrk as above, 5 s) without a drain, then while {pairs} changed scores
(a second import) drain; while httpd serves requests the drainer pauses 7 times the length of
each round, and its thread runs at nice 10 (see ptech_worker.c: launches first, grades in the
time they leave):

| round | req/s | p50 ms | p99 ms | server CPU µs/req | non-2xx/3xx |
|---|---|---|---|---|---|
| launch, no drain | {r0:.0f} | {p50a:.2f} | {p99a:.2f} | {cpua:.0f} | {bada} |
| launch, during a drain | {r1:.0f} | {p50b:.2f} | {p99b:.2f} | {cpub:.0f} | {badb} |

- **launches during a drain: {ratio:.0%} of their rate without one**
- scores delivered before the round {before}, during its 5 s {during}, then the rest at
  {rateb:.0f} scores/s overall; received {recvb}, distinct {uniqb}, duplicates {dupb},
  refused {badb2}
""".format(import_s=a["import_s"], summary=a["summary"].replace("\n", "; "),
           pairs=LEARNERS * LINKS, rate=a["rate"], total=a["total_s"], cpu=a["cpu_us"],
           recv=a["stats"]["received"], uniq=a["stats"]["unique"],
           dup=a["stats"]["duplicates"], bad=a["stats"]["bad"], pending=a["pending"],
           r0=w0["rate"], p50a=w0["p50"], p99a=w0["p99"], cpua=w0["cpu_us"], bada=w0["bad"],
           r1=w1["rate"], p50b=w1["p50"], p99b=w1["p99"], cpub=w1["cpu_us"], badb=w1["bad"],
           ratio=b["ratio"], before=b["before_wrk"], during=b["during_wrk"], rateb=b["rate"],
           recvb=b["stats"]["received"], uniqb=b["stats"]["unique"],
           dupb=b["stats"]["duplicates"], badb2=b["stats"]["bad"])


def write_report(results, rss1, rss2, rss3, after, last, errors, jwks_fetches, drain):
    def avg(kind, k):
        return sum(r[k] for r in results[kind]) / len(results[kind])
    st, la = avg("static", "rate"), avg("launch", "rate")
    l13, lo = avg("launch13", "rate"), avg("login", "rate")
    cpu = os.popen("grep -m1 'model name' /proc/cpuinfo").read().split(":")[-1].strip()
    rows = []
    for kind in ("static", "launch", "launch13", "login"):
        for i, r in enumerate(results[kind]):
            rows.append("| %s %d | %.0f | %.2f | %.2f | %.0f | %d |" % (
                kind, i + 1, r["rate"], r["p50"], r["p99"], r["cpu_us"], r["bad"]))
    rss_rows = ["| %d | %d / %d | %d / %d | %+d / %+d | %d / %d | %+d / %+d |" % (
        pid, rss1.get(pid, (0, 0))[0], rss1.get(pid, (0, 0))[1], kb[0], kb[1],
        kb[0] - rss1.get(pid, (0, 0))[0], kb[1] - rss1.get(pid, (0, 0))[1],
        rss3.get(pid, (0, 0))[0], rss3.get(pid, (0, 0))[1],
        rss3.get(pid, (0, 0))[0] - kb[0], rss3.get(pid, (0, 0))[1] - kb[1])
        for pid, kb in sorted(rss2.items())]
    report = """# Benchmark report (make bench)

Generated by tests/bench/bench.py on {date}, {cpu}, 2 cores.
httpd (event MPM, 1 child × 128 threads) pinned to CPU 0 with taskset; wrk
(`-t2 -c64 -d10s --latency`) on CPU 1. Static = a 3-byte file served by the same httpd
(core handler). Launch = POST /ptech/lti11 of unique Moodle-shaped LTI 1.1 launches pre-signed
by oauthlib (5,000 learners in 10 activities of one course, custom course= and a grade target
each; signature verified, nonce checked, person/context/link/launch/session written, 303 +
cookie). LTI 1.3 launch = POST /ptech/launch of an id_token (RS256, PyJWT) with its
state and state cookie from a real login initiation made beforehand (state consumed, RSA
signature verified with the cached platform JWKS, claims checked, launch recorded, 303).
Login = GET /ptech/login (platform looked up, state stored, 302 to the platform).
Rounds are interleaved: static, 1.3 launch, login, 1.1 launch, then again.
Each wrk thread reads its launches from a file of its own, a line per request; the 1.3
launches consume their states in the order the tool issued them, as real launches follow
their logins. (Reports before 2026-11-30 10:00 overstated launch rates: wrk's threads loaded
their lines out of one large file before its timer started, and the first thread ready sent
for seconds before it; measured here, by a third with the larger files this report needs.)

| round | req/s | p50 ms | p99 ms | server CPU µs/req | non-2xx/3xx |
|---|---|---|---|---|---|
{rows}

Ratios to static (averages of the rounds, {st:.0f} req/s):
- **LTI 1.1 launches: {ratio:.0%}** ({la:.0f}/s)
- **LTI 1.3 id_token launches: {ratio13:.0%}** ({l13:.0f}/s; JWKS cached — fetches at the
  platform during the rounds: {jwks})
- **LTI 1.3 login initiations: {ratiolo:.0%}** ({lo:.0f}/s)

Children's memory (kB, VmRSS / RssAnon) after a {warm}-launch warm-up, after {after}
more launches, and after {last} more again. RssAnon is the heap: it rises to a plateau
(each malloc arena keeps up to 8 MB of freed memory for reuse, see mod_ptech.c) and then
stays; VmRSS also counts the pages of the store's file that SQLite maps (mmap_size), which
grow with the data, not with the number of requests.

| pid | after warm-up | after | change | after {last} more | change |
|---|---|---|---|---|---|
{rss}

Error-log lines at error level or above: {nerr}.
{drain}""".format(drain=drain_report(drain),date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), cpu=cpu,
           rows="\n".join(rows), ratio=la / st, la=la, st=st, warm=WARMUP, after=after,
           last=last, ratio13=l13 / st, l13=l13, ratiolo=lo / st, lo=lo, jwks=jwks_fetches,
           rss="\n".join(rss_rows), nerr=len(errors))
    with open(os.path.join(HERE, "REPORT.md"), "w") as f:
        f.write(report)
    print(report)


if __name__ == "__main__":
    sys.exit(main())
