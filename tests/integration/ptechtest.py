"""Helpers of the integration suite: a real httpd with mod_ptech on 127.0.0.1, ptechctl,
the SQLite store, LTI 1.1 launches signed like Moodle's, and small HTML helpers.

Environment: PTECH_BUILD (the build dir holding mod_ptech.so and ptechctl; default
<repo>/build) and PTECH_SANITIZE=1 (the ASan build: event MPM only, libasan preloaded).
"""
import atexit
import contextlib
import functools
import html.parser
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import types
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

import requests
from oauthlib.oauth1.rfc5849 import signature as oauth_sig

HERE = os.path.dirname(os.path.abspath(__file__))
# The schema version this build writes (LTI_STORE_SCHEMA_VERSION in lti/lti_store.h).
SCHEMA_VERSION = int(re.search(r"#define LTI_STORE_SCHEMA_VERSION (\d+)",
                               open(os.path.join(HERE, "..", "..", "lti", "lti_store.h")).read())
                     .group(1))
MIGRATIONS = [(v,) for v in range(1, SCHEMA_VERSION + 1)]
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
SHARED = os.path.abspath(os.path.join(REPO, "..", "shared"))
FIXTURES = os.path.join(SHARED, "fixtures", "moodle-4.5")
CATALOG = os.path.join(REPO, "conf", "catalog.xml")
SANITIZE = os.environ.get("PTECH_SANITIZE", "") == "1"
BUILD = os.path.abspath(os.environ.get("PTECH_BUILD")
                        or os.path.join(REPO, "build", "asan" if SANITIZE else ""))
APACHE2 = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = "/usr/lib/apache2/modules"
IS_ROOT = os.geteuid() == 0
START_TIMEOUT = 15.0 if SANITIZE else 10.0
MPMS = ["event"] if SANITIZE else ["prefork", "event"]

# Lines that fail a test unless it allows them.
BAD_LOG = [
    re.compile(r"\[[\w.]*:(error|crit|alert|emerg)\]"),
    re.compile(r"AddressSanitizer"),
    re.compile(r"runtime error:"),
    re.compile(r"LeakSanitizer"),
    re.compile(r"database is locked"),
    re.compile(r"Segmentation fault|exit signal"),
]

# httpd's own races when it is stopped (SIGTERM), tolerated only in what the log gets after
# the stop, and counted in SHUTDOWN_NOISE:
# - a child killed while it is still starting exits from the signal handler; exit() runs
#   OpenSSL's atexit cleanup, which can hit the heap in the middle of the malloc the signal
#   interrupted: glibc aborts ("corrupted double-linked list", child "exit signal Abort");
# - an event worker that finishes a response as its child stops cannot put the connection
#   in keep-alive (AH03093 ... apr_pollset_add failure).
SHUTDOWN_RACES = [re.compile(r"exit signal Abort \(6\)"),
                  re.compile(r"AH03093: process_socket: apr_pollset_add failure")]
SHUTDOWN_NOISE = []

CAT_NS = {"c": "urn:ptech:catalog:1"}


def www_data_ids():
    import pwd
    import grp
    return pwd.getpwnam("www-data").pw_uid, grp.getgrnam("www-data").gr_gid


@functools.lru_cache(maxsize=None)
def libasan():
    return subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                          text=True, check=True).stdout.strip()


def sanitizer_env(preload):
    """The environment of httpd (preload: libasan first, as apache2 is not instrumented) and
    of ptechctl under PTECH_SANITIZE=1."""
    env = dict(os.environ)
    if SANITIZE:
        env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=0"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1"
        if preload:
            env["LD_PRELOAD"] = libasan()
    return env


def make_dir(prefix="ptech-it-"):
    """A fresh folder under /tmp, 0755, owned by www-data when root (httpd's children
    create the -wal/-shm files of the store there)."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    if IS_ROOT:
        uid, gid = www_data_ids()
        os.chown(d, uid, gid)
    return d


def write_secret_key(path, mode=0o600, content=None):
    if content is None:
        content = subprocess.run(["openssl", "rand", "-hex", "32"], capture_output=True,
                                 check=True).stdout
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    os.chmod(path, mode)
    return path


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- ptechctl and the store ------------------------------------------------------------

def run_ptechctl(dsn, *args, stdin=None, env=None, db=True):
    cmd = [os.path.join(BUILD, "ptechctl")]
    if db and dsn is not None:
        cmd += ["--db", dsn]
    cmd += [str(a) for a in args]
    e = sanitizer_env(preload=False)
    e.pop("PTECH_DB", None)
    if env:
        e.update(env)
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=e, timeout=60)


@contextlib.contextmanager
def as_www_data():
    """Runs the block with the effective ids of www-data when root, so that SQLite files
    the block creates (-wal, -shm) stay writable by httpd's children."""
    if not IS_ROOT:
        yield
        return
    uid, gid = www_data_ids()
    os.setegid(gid)
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def sql_query(path, query, args=()):
    """Rows of query on the SQLite store at path (a list of tuples)."""
    with as_www_data():
        con = sqlite3.connect(path, timeout=30)
        try:
            return con.execute(query, args).fetchall()
        finally:
            con.close()


# ---- catalog ---------------------------------------------------------------------------

class Catalog:
    """The courses of conf/catalog.xml: ids (in file order) with their titles."""

    def __init__(self, path=CATALOG):
        root = ET.parse(path).getroot()
        self.courses = {}
        self.order = []
        for c in root.findall("c:course", CAT_NS):
            cid = c.get("id")
            t = c.find("c:title", CAT_NS)
            titles = {lang: (t.findtext("c:" + lang, default="", namespaces=CAT_NS) or "").strip()
                      for lang in ("fr", "ar", "en")}
            mods = []
            for m in c.findall("c:modules/c:module", CAT_NS):
                mt = m.find("c:title", CAT_NS)
                mods.append({
                    "id": m.get("id"),
                    "url": (m.findtext("c:url", default="", namespaces=CAT_NS) or "").strip(),
                    "titles": {lang: (mt.findtext("c:" + lang, default="", namespaces=CAT_NS)
                                      or "").strip() for lang in ("fr", "ar", "en")},
                })
            self.courses[cid] = {"titles": titles, "modules": mods}
            self.order.append(cid)

    def title(self, cid, lang):
        t = self.courses[cid]["titles"]
        return t.get(lang) or t["fr"]


# ---- LTI 1.1 ---------------------------------------------------------------------------

def load_fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return json.load(f)


def moodle_params(kind="student", **overrides):
    """The parameters of the captured Moodle launch (student or teacher) without the
    oauth_* ones, in Moodle's order; overrides replace values, None removes a parameter."""
    fx = load_fixture("lti11-launch-%s.json" % ("teacher" if kind in ("teacher", "instructor")
                                                 else "student"))
    params = {k: v for k, v in fx["params"].items() if not k.startswith("oauth_")}
    for k, v in overrides.items():
        if v is None:
            params.pop(k, None)
        else:
            params[k] = v
    return params


def oauth_sign(url, params, key, secret, nonce=None, timestamp=None,
               method="HMAC-SHA1", drop=(), extra_oauth=None):
    """params (a dict or a list of pairs) plus Moodle's oauth_* parameters, signed over url
    (POST) with HMAC-SHA1 (or PLAINTEXT); returns a list of pairs for the form body.
    drop names oauth_* parameters to leave out (after signing, for oauth_signature)."""
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    oauth = [
        ("oauth_version", "1.0"),
        ("oauth_nonce", nonce or uuid.uuid4().hex),
        ("oauth_timestamp", str(int(time.time()) if timestamp is None else timestamp)),
        ("oauth_consumer_key", key),
        ("oauth_callback", "about:blank"),
    ]
    if method is not None:
        oauth.append(("oauth_signature_method", method))
    if extra_oauth:
        oauth += list(extra_oauth)
    oauth = [(k, v) for k, v in oauth if k not in drop]
    allp = pairs + oauth
    if method == "PLAINTEXT":
        sig = oauth_sig.sign_plaintext(secret, None)
    else:
        norm = oauth_sig.normalize_parameters(allp)
        base = oauth_sig.signature_base_string("POST", oauth_sig.base_string_uri(url), norm)
        sig = oauth_sig.sign_hmac_sha1_with_client(
            base, types.SimpleNamespace(client_secret=secret, resource_owner_secret=None))
    if "oauth_signature" not in drop:
        allp.append(("oauth_signature", sig))
    return allp


def form_body(pairs):
    return urllib.parse.urlencode(pairs, encoding="utf-8")


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


# A session id: long, random, cookie-safe (its exact shape is the module's business).
SID_RE = re.compile(r"[0-9A-Za-z._-]{32,256}")


def sid_secret_part(sid):
    """The longest run of hex digits in a session id (its random part)."""
    return max(re.findall(r"[0-9a-f]+", sid), key=len)


def parse_cookie(resp):
    """(value, {attribute: value}) of the ptech_sid cookie set by resp, or (None, {})."""
    raw = resp.headers.get("Set-Cookie")
    if not raw:
        return None, {}
    parts = [p.strip() for p in raw.split(";")]
    name, _, value = parts[0].partition("=")
    if name != "ptech_sid":
        return None, {}
    attrs = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip()
    return value, attrs


class FormParser(html.parser.HTMLParser):
    """The forms of a page: [{"action", "method", "id", "inputs": [(name, value)],
    "selects": {name: [option values]}}]."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self._select = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": a.get("method"),
                               "id": a.get("id"), "inputs": [], "selects": {}})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"].append((a.get("name"), a.get("value", "")))
        elif tag == "select" and self.forms:
            self._select = a.get("name")
            self.forms[-1]["selects"][self._select] = []
        elif tag == "option" and self.forms and self._select is not None:
            self.forms[-1]["selects"][self._select].append(a.get("value"))

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def parse_forms(text):
    p = FormParser()
    p.feed(text)
    p.close()
    return p.forms


# ---- httpd -----------------------------------------------------------------------------

_RUNNING = set()


def _die_with_parent():
    """In the forked httpd: a SIGTERM when the test process dies, however it dies."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


@atexit.register
def _stop_leftovers():
    """Never leave an httpd running, even when the test process ends abnormally."""
    for srv in list(_RUNNING):
        srv.stop()


class Httpd:
    """One httpd with mod_ptech, in its own folder with its own store."""

    def __init__(self, mpm="event", directives=(), public_url=None, catalog=True,
                 store=True, secret_key=True, demo=True, public_path=""):
        self.mpm = mpm
        self.dir = make_dir()
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.public_url = public_url or self.base + public_path
        self.db_path = os.path.join(self.dir, "ptech.db")
        self.dsn = "sqlite3:" + self.db_path
        self.conf_path = os.path.join(self.dir, "httpd.conf")
        self.error_log = os.path.join(self.dir, "error.log")
        self.key_path = os.path.join(self.dir, "secret.key")
        self.proc = None
        self.allowed = []
        self.log_offset = 0
        os.makedirs(os.path.join(self.dir, "htdocs"))
        with open(os.path.join(self.dir, "htdocs", "hello.txt"), "w") as f:
            f.write("hello from htdocs\n")
        if secret_key:
            write_secret_key(self.key_path)
        self.write_conf(directives, catalog=catalog, store=store, secret_key=secret_key,
                        demo=demo)

    def write_conf(self, directives=(), catalog=True, store=True, secret_key=True, demo=True):
        lines = [
            'ServerRoot "%s"' % self.dir,
            "Listen 127.0.0.1:%d" % self.port,
            "ServerName 127.0.0.1",
            'PidFile "%s/httpd.pid"' % self.dir,
            'ErrorLog "%s"' % self.error_log,
            "LogLevel warn ptech:info",
            "LoadModule mpm_%s_module %s/mod_mpm_%s.so" % (self.mpm, MODULES, self.mpm),
            "LoadModule authz_core_module %s/mod_authz_core.so" % MODULES,
            "LoadModule authz_host_module %s/mod_authz_host.so" % MODULES,
            'LoadModule ptech_module "%s/mod_ptech.so"' % BUILD,
        ]
        if IS_ROOT:
            lines += ["User www-data", "Group www-data"]
        if self.mpm == "prefork":
            lines += ["StartServers 4", "MinSpareServers 4", "MaxSpareServers 32",
                      "ServerLimit 64", "MaxRequestWorkers 64"]
        else:
            # Enough idle threads from the start: the parent need not spawn children while
            # a test runs (a child killed as it starts can abort, see SHUTDOWN_RACES).
            lines += ["StartServers 3", "ThreadsPerChild 25", "ServerLimit 6",
                      "MinSpareThreads 25", "MaxSpareThreads 150", "MaxRequestWorkers 150"]
        lines += ['DocumentRoot "%s/htdocs"' % self.dir]
        if store:
            lines.append('PTechStore "%s"' % self.dsn)
        if secret_key:
            lines.append('PTechSecretKeyFile "%s"' % self.key_path)
        if catalog:
            lines.append('PTechCatalog "%s"' % CATALOG)
        lines.append('PTechPublicURL "%s"' % self.public_url)
        if demo:
            lines.append("PTechDemoPlatform On")
        lines += list(directives)
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def single_process(self):
        """One child process (event: 25 threads), so that every request meets the same
        per-process state."""
        if self.mpm == "prefork":
            extra = ["StartServers 1", "MinSpareServers 1", "MaxSpareServers 1",
                     "ServerLimit 1", "MaxRequestWorkers 1"]
        else:
            extra = ["StartServers 1", "ServerLimit 1", "ThreadsPerChild 25",
                     "MinSpareThreads 1", "MaxSpareThreads 25", "MaxRequestWorkers 25"]
        with open(self.conf_path, "a") as f:
            f.write("\n".join(extra) + "\n")

    # -- life cycle
    def configtest(self):
        return subprocess.run([APACHE2, "-t", "-f", self.conf_path], capture_output=True,
                              text=True, env=sanitizer_env(preload=True), timeout=60)

    def start(self, expect_fail=False):
        self.stdout = open(os.path.join(self.dir, "stdout.log"), "wb")
        self.proc = subprocess.Popen([APACHE2, "-f", self.conf_path, "-DFOREGROUND"],
                                     stdout=self.stdout, stderr=subprocess.STDOUT,
                                     env=sanitizer_env(preload=True),
                                     # httpd signals its whole process group when it stops:
                                     # its own session keeps pytest out of it.
                                     start_new_session=True, preexec_fn=_die_with_parent)
        _RUNNING.add(self)
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                _RUNNING.discard(self)
                self.proc = None
                self.stdout.close()
                if expect_fail:
                    return rc
                raise RuntimeError("httpd exited with %d at start:\n%s" % (rc, self.all_logs()))
            # The parent listens before post_config has run: wait for a child's answer.
            try:
                r = requests.get(self.url("/hello.txt"), timeout=2)
                if r.status_code == 200 and not expect_fail:
                    return 0
            except requests.RequestException:
                pass
            time.sleep(0.02)
        if expect_fail:
            self.stop()
            raise AssertionError("httpd did not stop at start-up:\n%s" % self.all_logs())
        self.stop()
        raise RuntimeError("httpd did not answer on port %d:\n%s" % (self.port, self.all_logs()))

    def stop(self):
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        self.stop_offset = len(self.log_text())
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            self.stdout.close()
            _RUNNING.discard(self)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- logs
    def all_logs(self):
        out = []
        for name in ("error.log", "stdout.log"):
            p = os.path.join(self.dir, name)
            if os.path.exists(p):
                with open(p, encoding="utf-8", errors="replace") as f:
                    out.append("== %s ==\n%s" % (name, f.read()))
        return "\n".join(out)

    def log_text(self):
        with contextlib.suppress(FileNotFoundError):
            with open(self.error_log, encoding="utf-8", errors="replace") as f:
                return f.read()
        return ""

    def allow(self, *patterns):
        """Error log lines matching one of patterns (regexes) do not fail the test."""
        self.allowed += [re.compile(p) for p in patterns]

    def log_problems(self):
        bad = []
        text = self.log_text()
        p = os.path.join(self.dir, "stdout.log")
        if os.path.exists(p):
            with open(p, encoding="utf-8", errors="replace") as f:
                text += "\n" + f.read()
        stop = getattr(self, "stop_offset", None)
        after_stop = text[stop:].splitlines() if stop is not None else []
        for line in text.splitlines():
            if any(b.search(line) for b in BAD_LOG) and not any(a.search(line)
                                                               for a in self.allowed):
                if line in after_stop and any(p.search(line) for p in SHUTDOWN_RACES):
                    if (self.dir, line) not in SHUTDOWN_NOISE:
                        SHUTDOWN_NOISE.append((self.dir, line))
                    continue
                bad.append(line)
        return bad

    # -- requests
    def url(self, path):
        return self.base + path

    def get(self, path, **kw):
        kw.setdefault("allow_redirects", False)
        kw.setdefault("timeout", 30)
        return requests.get(self.url(path), **kw)

    def post(self, path, **kw):
        kw.setdefault("allow_redirects", False)
        kw.setdefault("timeout", 30)
        return requests.post(self.url(path), **kw)

    # -- store
    def ptechctl(self, *args, stdin=None, env=None):
        return run_ptechctl(self.dsn, *args, stdin=stdin, env=env)

    def sql(self, query, args=()):
        return sql_query(self.db_path, query, args)

    def count(self, table, where="1=1", args=()):
        return self.sql("SELECT COUNT(*) FROM %s WHERE %s" % (table, where), args)[0][0]

    def counts(self, tables=("persons", "contexts", "resource_links", "link_members",
                             "launches", "sessions", "nonces", "audit")):
        return {t: self.count(t) for t in tables}

    def add_consumer(self, key=None, secret=None):
        key = key or "moodle-" + uuid.uuid4().hex[:8]
        secret = secret or uuid.uuid4().hex + uuid.uuid4().hex[:8]
        r = self.ptechctl("consumer", "add", key, "--secret", secret)
        assert r.returncode == 0, r.stderr
        return key, secret

    # -- LTI 1.1
    @property
    def launch_url(self):
        return self.public_url + "/ptech/lti11"

    def signed(self, params, key, secret, url=None, **kw):
        return oauth_sign(url or self.launch_url, params, key, secret, **kw)

    def post_form(self, pairs, path="/ptech/lti11", session=None, headers=None):
        h = dict(FORM)
        if headers:
            h.update(headers)
        body = form_body(pairs).encode("ascii")
        poster = session.post if session is not None else requests.post
        return poster(self.url(path), data=body, headers=h, allow_redirects=False, timeout=60)

    def launch(self, params, key, secret, session=None, **kw):
        return self.post_form(self.signed(params, key, secret, **kw), session=session)

    def course_page(self, sid, path="/ptech/course", **kw):
        return self.get(path, headers={"Cookie": "ptech_sid=" + sid}, **kw)

    def launch_and_follow(self, params, key, secret):
        """Launches (expects the 303 and the cookie) and returns (sid, page response)."""
        r = self.launch(params, key, secret)
        assert r.status_code == 303, (r.status_code, r.text[:2000])
        assert r.headers["Location"] == self.public_url + "/ptech/course"
        sid, attrs = parse_cookie(r)
        assert sid and SID_RE.fullmatch(sid), r.headers.get("Set-Cookie")
        # The browser sends the cookie back to the page it is sent to.
        assert urllib.parse.urlsplit(r.headers["Location"]).path.startswith(attrs["path"]), \
            (r.headers["Location"], attrs)
        page = self.course_page(sid)
        check_local_links(page.text, self.public_url)
        return sid, page


def check_local_links(text, public_url):
    """Links, stylesheets, scripts and form actions of a page that point into the tool
    carry the public URL's path (a tool behind a proxy at https://host/prefix)."""
    prefix = urllib.parse.urlsplit(public_url).path.rstrip("/") + "/ptech"
    for attr, url in re.findall(r'\b(href|src|action)="([^"]*)"', text):
        if url.startswith("/"):
            assert url.startswith(prefix + "/"), "%s=%r does not start with %s" % (
                attr, url, prefix)


def assert_no_inline_code(text):
    """The CSP (script-src 'self', style-src 'self') forbids inline scripts and styles."""
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline script"
    assert "<style" not in text and " style=" not in text, "inline style"
    assert not re.search(r"\bon[a-z]+=\"", text), "inline event handler"


def assert_error_page(r, status, reason):
    assert r.status_code == status, (r.status_code, r.text[:3000])
    assert r.headers.get("Content-Type", "").startswith("text/html"), r.headers
    assert "<code>%s</code>" % reason in r.text, r.text[:3000]
    assert "Content-Security-Policy" in r.headers
    assert_no_inline_code(r.text)
