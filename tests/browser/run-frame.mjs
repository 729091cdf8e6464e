// Opens an LMS page in Debian's headless Chromium (driven by playwright-core, no browser
// download) and waits until one of its frames shows what the job asks for.
//
//   node run-frame.mjs '<job JSON>'        (or the job on stdin)
//
// The job:
//   url                       the page to open (required)
//   frame                     the name of the frame to watch ["tool"]
//   until {all: [], any: []}  substrings of the frame's HTML: every one of all, and one of
//                             any (when any is not empty)
//   timeout_ms                for the page load and for the wait [15000]
//   launch_timeout_ms         for the browser's start [60000]
//   block_third_party_cookies [true] (the profile's own setting, as a person sets it)
//   host_resolver_rules       ["MAP localhost 127.0.0.1"]: localhost is another site than
//                             127.0.0.1, on the same loopback
//   executable_path           [$PTECH_CHROMIUM or /usr/bin/chromium]
//
// Prints one JSON object: ok, reason (when not ok), url and html (the frame's last ones),
// third_party_cookie (whether the frame could set a `SameSite=None; Secure` cookie: false
// when third-party cookies are blocked), cookies (the browser's jar: name, domain, path),
// console (messages of type error and warning, every frame), page_errors, browser (version),
// launch_ms, total_ms.  Exit code 0 when ok, 1 when the frame never got there, 2 when the
// browser could not be driven at all.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

let printed = false;
function out(result, code) {
  if (printed) return;
  printed = true;
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exitCode = code;
}

// frame.evaluate has no timeout of its own: it waits for the frame's next document when a
// navigation is under way, as long as that takes.
function within(ms, promise, what) {
  let timer;
  return Promise.race([promise, new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(what + ': no answer in ' + ms + ' ms')), ms);
  })]).finally(() => clearTimeout(timer));
}

async function readJob() {
  if (process.argv[2]) return JSON.parse(process.argv[2]);
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function main() {
  const t0 = Date.now();
  const job = await readJob();
  if (typeof job.url !== 'string') throw new Error('the job has no url');
  const frameName = job.frame || 'tool';
  const all = (job.until && job.until.all) || [];
  const any = (job.until && job.until.any) || [];
  const timeout = job.timeout_ms || 15000;
  const block = job.block_third_party_cookies !== false;
  const exe = job.executable_path || process.env.PTECH_CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(exe)) {
    return out({ ok: false, reason: exe + ' is missing (make deps installs chromium)' }, 2);
  }
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    return out({ ok: false, reason: 'playwright-core is missing (make deps runs npm ci in '
                 + 'tests/browser): ' + e.message }, 2);
  }

  // A new profile every time; its Preferences say what the cookie settings page would.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ptech-chromium-'));
  fs.mkdirSync(path.join(profile, 'Default'));
  fs.writeFileSync(path.join(profile, 'Default', 'Preferences'), JSON.stringify({
    profile: { block_third_party_cookies: block, cookie_controls_mode: block ? 1 : 0 },
  }));
  const args = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic',
                '--no-first-run', '--disable-background-networking',
                '--disable-component-update', '--disable-sync', '--disable-extensions',
                '--host-resolver-rules=' + (job.host_resolver_rules
                                            || 'MAP localhost 127.0.0.1'),
                '--proxy-server=direct://', '--proxy-bypass-list=*',
                // One renderer for every site: a frame's form post to another site then
                // stays a frame the driver follows (with site isolation, playwright-core
                // 1.61 lost such a frame now and then when the pages came slowly).
                '--disable-site-isolation-trials',
                '--disable-features=IsolateOrigins,site-per-process'];
  const result = { ok: false, url: null, html: null, third_party_cookie: null, cookies: [],
                   console: [], page_errors: [], requests: [] };
  // The requests that got no answer (yet): where a frame stands when it hangs.
  const pending = new Map();
  const unanswered = () => { result.pending = [...pending.values()]; };
  // Whatever hangs, an answer: what was seen so far, the browser killed with this process.
  const watchdog = setTimeout(() => {
    result.reason = 'run-frame gave up after ' + (Date.now() - t0) + ' ms';
    result.total_ms = Date.now() - t0;
    unanswered();
    fs.rmSync(profile, { recursive: true, force: true });
    out(result, 1);
    process.exit(1);
  }, (job.launch_timeout_ms || 60000) + 2 * timeout + 10000);
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: exe, headless: true, args, timeout: job.launch_timeout_ms || 60000,
      ...(job.locale ? { locale: job.locale } : {}),
    });
    result.browser = ctx.browser() ? ctx.browser().version() : null;
    result.launch_ms = Date.now() - t0;
    const page = ctx.pages()[0] || await ctx.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') {
        result.console.push({ type: m.type(), text: m.text(), url: m.location().url });
      }
    });
    page.on('pageerror', (e) => result.page_errors.push(String(e)));
    page.on('request', (r) => pending.set(r, r.method() + ' ' + r.url()));
    page.on('requestfinished', (r) => pending.delete(r));
    page.on('requestfailed', (r) => {
      result.requests.push('failed: ' + pending.get(r) + ' ' + (r.failure() || {}).errorText);
      pending.delete(r);
    });
    await page.goto(job.url, { timeout, waitUntil: 'load' });

    const done = (h) => all.every((s) => h.includes(s))
                        && (any.length === 0 || any.some((s) => h.includes(s)));
    const deadline = Date.now() + timeout;
    let frame = null;
    for (;;) {
      // The frame of the iframe element as it is now (a frame that went to another site
      // lives in another process: a new frame for the driver).
      try {
        const el = await within(2000, page.$('iframe[name="' + frameName + '"]'), 'iframe');
        frame = el ? await within(2000, el.contentFrame(), 'its frame') : null;
      } catch (e) {
        frame = null;
        result.last_error = String(e && e.message || e);
      }
      if (frame) {
        try {
          const h = await within(2000, frame.evaluate(
            () => document.documentElement.outerHTML), 'the frame\'s HTML');
          result.url = frame.url();
          result.html = h;
          if (done(h)) {
            result.ok = true;
            break;
          }
        } catch (e) {
          // between two documents of the frame: look again
          result.last_error = String(e && e.message || e);
        }
      }
      if (Date.now() > deadline) {
        result.frames = page.frames().map((f) => [f.name(), f.url(), f.isDetached()]);
        result.reason = frame ? 'the frame ' + frameName + ' did not get there in '
                                + timeout + ' ms'
                              : 'no frame named ' + frameName + ' in ' + timeout + ' ms';
        break;
      }
      await page.waitForTimeout(100);
    }
    if (frame) {
      // Can the frame's site keep a cookie here?  (Evaluated by the driver: the tool's
      // Content-Security-Policy does not apply.)
      try {
        result.third_party_cookie = await within(5000, frame.evaluate(() => {
          const name = 'ptech_probe_' + Math.random().toString(36).slice(2, 10);
          document.cookie = name + '=1; SameSite=None; Secure; Path=/';
          return document.cookie.split('; ').some((c) => c.startsWith(name + '='));
        }), 'the cookie probe');
      } catch (e) {
        result.third_party_cookie = null;
      }
    }
    result.cookies = (await ctx.cookies()).filter((c) => !c.name.startsWith('ptech_probe_'))
      .map((c) => ({ name: c.name, domain: c.domain, path: c.path }));
  } catch (e) {
    result.ok = false;
    result.reason = 'browser: ' + (e && e.message ? e.message : String(e));
    result.total_ms = Date.now() - t0;
    unanswered();
    clearTimeout(watchdog);
    if (ctx) await within(10000, ctx.close(), 'close').catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
    return out(result, 2);
  }
  unanswered();
  clearTimeout(watchdog);
  await within(10000, ctx.close(), 'close').catch(() => {});
  fs.rmSync(profile, { recursive: true, force: true });
  result.total_ms = Date.now() - t0;
  return out(result, result.ok ? 0 : 1);
}

main().catch((e) => out({ ok: false, reason: 'run-frame: ' + (e && e.stack || e) }, 2));
