// Loads the tool's pages in Debian's headless Chromium (playwright-core, no browser
// download) at several widths and reports, per page and width, what the browser tests
// check: the document's lang and dir, horizontal overflow, and axe-core's WCAG 2.1 AA
// violations; a full-page screenshot of each goes to the job's shots folder.
//
//   node check-pages.mjs < job.json
//
// The job:
//   pages            [{name, url, cookies: [{name, value}], locale}] (cookies set for url's
//                    origin; locale: the browser's language, Accept-Language)
//   widths           [360, 1280]
//   shots            the folder for the screenshots (required)
//   executable_path  [$PTECH_CHROMIUM or /usr/bin/chromium]
//   timeout_ms       per page [15000]
//
// Prints one JSON object: ok, reason (when the browser could not be driven), browser,
// results: [{name, width, status, lang, dir, scroll_width, inner_width, violations:
// [{id, impact, help, nodes: [target...]}], shot}].  Exit 0 when the pages were checked
// (whatever they showed), 2 when the browser could not be driven.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

function out(result, code) {
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exitCode = code;
}

async function readJob() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function main() {
  const job = await readJob();
  const exe = job.executable_path || process.env.PTECH_CHROMIUM || '/usr/bin/chromium';
  const timeout = job.timeout_ms || 15000;
  if (!fs.existsSync(exe)) {
    return out({ ok: false, reason: exe + ' is missing (make deps installs chromium)' }, 2);
  }
  let chromium, axePath;
  try {
    ({ chromium } = await import('playwright-core'));
    axePath = require.resolve('axe-core/axe.min.js');
  } catch (e) {
    return out({ ok: false, reason: 'playwright-core or axe-core is missing (make deps runs '
                 + 'npm ci in tests/browser): ' + e.message }, 2);
  }
  const axeSource = fs.readFileSync(axePath, 'utf8');
  fs.mkdirSync(job.shots, { recursive: true });
  const result = { ok: true, results: [] };
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: exe, headless: true, timeout: 60000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
             '--disable-background-networking', '--disable-component-update',
             '--disable-sync', '--disable-extensions', '--proxy-server=direct://',
             '--proxy-bypass-list=*'],
    });
    result.browser = browser.version();
    for (const p of job.pages) {
      for (const width of job.widths || [360, 1280]) {
        // The tool's CSP (script-src 'self') would refuse axe-core's injected source: the
        // driver's context bypasses it, the page itself is unchanged.
        const ctx = await browser.newContext({ viewport: { width, height: 800 },
                                               bypassCSP: true,
                                               ...(p.locale ? { locale: p.locale } : {}) });
        if (p.cookies && p.cookies.length && p.url.startsWith('http')) {
          await ctx.addCookies(p.cookies.map((c) => ({ name: c.name, value: c.value,
                                                       url: p.url })));
        }
        const page = await ctx.newPage();
        const resp = await page.goto(p.url, { timeout, waitUntil: 'load' });
        const facts = await page.evaluate(() => ({
          lang: document.documentElement.getAttribute('lang'),
          dir: document.documentElement.getAttribute('dir'),
          scroll_width: document.scrollingElement.scrollWidth,
          inner_width: window.innerWidth,
        }));
        await page.evaluate(axeSource);
        const axe = await page.evaluate((tags) => window.axe.run(document, {
          runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'],
        }), TAGS);
        const shot = path.join(job.shots, p.name + '-' + width + '.png');
        await page.screenshot({ path: shot, fullPage: true });
        result.results.push({
          name: p.name, width, status: resp ? resp.status() : null, ...facts, shot,
          violations: axe.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map((n) => [n.target.join(' '), n.failureSummary]),
          })),
        });
        await ctx.close();
      }
    }
  } catch (e) {
    result.ok = false;
    result.reason = 'browser: ' + (e && e.message ? e.message : String(e));
    if (browser) await browser.close().catch(() => {});
    return out(result, 2);
  }
  await browser.close().catch(() => {});
  return out(result, 0);
}

main().catch((e) => out({ ok: false, reason: 'check-pages: ' + (e && e.stack || e) }, 2));
