#!/usr/bin/python3
"""make bench: LTI 1.1 launches/s against Apache serving a tiny static file, same httpd, same
run, interleaved; httpd pinned to CPU 0, wrk to CPU 1.  Also the children's RSS after a
10,000-launch warm-up and after 100,000 more.  Writes tests/bench/REPORT.md."""
import concurrent.futures
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("PTECH_BUILD", os.path.join(ROOT, "build"))
FIXTURE = os.path.join(ROOT, "..", "shared", "fixtures", "moodle-4.5",
                       "lti11-launch-student.json")
HTTPD = shutil.which("apache2") or "/usr/sbin/apache2"
SIGNED = int(os.environ.get("BENCH_SIGNED", "220000"))
WARMUP, MORE = 10000, 100000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
KEY, SECRET = "bench-key", "bench-secret-0123456789abcdef"
WRK = ["taskset", "-c", "1", "wrk", "-t2", "-c64", "-d10s", "--latency"]


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


def run_wrk(args, ppid):
    c0 = cpu_seconds(ppid)
    out = subprocess.run(WRK + args, capture_output=True, text=True, check=True).stdout
    r = parse_wrk(out)
    r["cpu_us"] = (cpu_seconds(ppid) - c0) * 1e6 / max(r["requests"], 1)
    return r


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
""".format(d=d, port=port, user=user, build=BUILD, db=db, base=base, root=ROOT))
    bodies = os.path.join(d, "launches.txt")
    print("bench: pre-signing %d launches with oauthlib ..." % SIGNED, flush=True)
    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "presign.py"),
                    base + "/ptech/lti11", KEY, SECRET, str(SIGNED), bodies, FIXTURE],
                   check=True)
    httpd = subprocess.Popen(["taskset", "-c", "0", HTTPD, "-f", conf, "-DFOREGROUND"])
    try:
        for _ in range(100):
            try:
                requests.get(base + "/ptech/status", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        lines = open(bodies).read().split("\n")
        print("bench: warm-up, %d launches" % WARMUP, flush=True)
        sess = requests.Session()
        hdr = {"Content-Type": "application/x-www-form-urlencoded"}

        def post(i):
            return requests.post(base + "/ptech/lti11", data=lines[i], headers=hdr,
                                 allow_redirects=False).status_code
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            codes = list(ex.map(post, range(WARMUP)))
        assert codes.count(303) == WARMUP, "warm-up launches failed: %r" % set(codes)
        rss1 = children_rss_kb(httpd.pid)
        # Each launch round gets its own slice of lines; what it leaves is not reused.
        line, launched = WARMUP, 0
        slice_len = (SIGNED - WARMUP) * 2 // (3 * ROUNDS)
        results = {"static": [], "launch": []}
        for rnd in range(ROUNDS):
            print("bench: round %d static" % (rnd + 1), flush=True)
            results["static"].append(run_wrk([base + "/static.txt"], httpd.pid))
            print("bench: round %d launches" % (rnd + 1), flush=True)
            r = run_wrk(["-s", os.path.join(HERE, "launch.lua"), base, "--", bodies, "2",
                         str(line), str(line + slice_len)], httpd.pid)
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
        used = WARMUP + launched
        rss2 = children_rss_kb(httpd.pid)
        del sess
    finally:
        httpd.terminate()
        httpd.wait(30)
    errors = [l for l in open(os.path.join(d, "error.log"))
              if re.search(r"\[(error|crit|alert|emerg)\]|database is locked", l)]
    write_report(results, rss1, rss2, used - WARMUP, errors)
    shutil.rmtree(d, ignore_errors=True)


def write_report(results, rss1, rss2, after, errors):
    def avg(kind, k):
        return sum(r[k] for r in results[kind]) / len(results[kind])
    st, la = avg("static", "rate"), avg("launch", "rate")
    cpu = os.popen("grep -m1 'model name' /proc/cpuinfo").read().split(":")[-1].strip()
    rows = []
    for kind in ("static", "launch"):
        for i, r in enumerate(results[kind]):
            rows.append("| %s %d | %.0f | %.2f | %.2f | %.0f | %d |" % (
                kind, i + 1, r["rate"], r["p50"], r["p99"], r["cpu_us"], r["bad"]))
    rss_rows = ["| %d | %d / %d | %d / %d | %+d / %+d |" % (
        pid, rss1.get(pid, (0, 0))[0], rss1.get(pid, (0, 0))[1], kb[0], kb[1],
        kb[0] - rss1.get(pid, (0, 0))[0], kb[1] - rss1.get(pid, (0, 0))[1])
        for pid, kb in sorted(rss2.items())]
    report = """# Benchmark report (make bench)

Generated by tests/bench/bench.py on {date}, {cpu}, 2 cores.
httpd (event MPM, 1 child × 128 threads) pinned to CPU 0 with taskset; wrk
(`-t2 -c64 -d10s --latency`) on CPU 1. Static = a 3-byte file served by the same httpd
(core handler). Launch = POST /ptech/lti11 of unique Moodle-shaped LTI 1.1 launches pre-signed
by oauthlib (signature verified, nonce checked, person/context/link/launch/session written,
303 + cookie). Rounds are interleaved: static, launch, static, launch.

| round | req/s | p50 ms | p99 ms | server CPU µs/req | non-2xx/3xx |
|---|---|---|---|---|---|
{rows}

**Launches / static = {ratio:.0%}** ({la:.0f} / {st:.0f} req/s, averages of the rounds).

Children's memory (kB, VmRSS / RssAnon) after a {warm}-launch warm-up and after {after}
more launches. RssAnon is the heap; VmRSS also counts the pages of the store's file that
SQLite maps (mmap_size), which grow with the data, not with the number of requests.

| pid | after warm-up | after | change |
|---|---|---|---|
{rss}

Error-log lines at error level or above: {nerr}.
""".format(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), cpu=cpu,
           rows="\n".join(rows), ratio=la / st, la=la, st=st, warm=WARMUP, after=after,
           rss="\n".join(rss_rows), nerr=len(errors))
    with open(os.path.join(HERE, "REPORT.md"), "w") as f:
        f.write(report)
    print(report)


if __name__ == "__main__":
    sys.exit(main())
