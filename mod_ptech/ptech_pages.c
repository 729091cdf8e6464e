/* ptech_pages.c -- HTML: escaping, the page frame and its headers (CSP, caching), the one
 * error page and status table, the UI strings in fr/ar/en, the stylesheet. */
#include <apr_strings.h>
#include <http_core.h>

#include "ptech.h"

APLOG_USE_MODULE(ptech);

/* One table from library status to HTTP status (STYLE.md). */
static const int status_map[LTI_ERR__COUNT] = {
    [LTI_OK] = HTTP_OK,
    [LTI_ERR_NOMEM] = HTTP_INTERNAL_SERVER_ERROR,
    [LTI_ERR_MALFORMED] = HTTP_BAD_REQUEST,
    [LTI_ERR_MISSING] = HTTP_BAD_REQUEST,
    [LTI_ERR_UNSUPPORTED] = HTTP_BAD_REQUEST,
    [LTI_ERR_TOO_LARGE] = HTTP_REQUEST_ENTITY_TOO_LARGE,
    [LTI_ERR_SIGNATURE] = HTTP_UNAUTHORIZED,
    [LTI_ERR_UNKNOWN_KEY] = HTTP_UNAUTHORIZED,
    [LTI_ERR_EXPIRED] = HTTP_UNAUTHORIZED,
    [LTI_ERR_REPLAY] = HTTP_UNAUTHORIZED,
    [LTI_ERR_FORBIDDEN] = HTTP_FORBIDDEN,
    [LTI_ERR_NOT_FOUND] = HTTP_NOT_FOUND,
    [LTI_ERR_EXISTS] = HTTP_CONFLICT,
    [LTI_ERR_CONFIG] = HTTP_INTERNAL_SERVER_ERROR,
    [LTI_ERR_IO] = HTTP_INTERNAL_SERVER_ERROR,
    [LTI_ERR_STORE] = HTTP_INTERNAL_SERVER_ERROR,
    [LTI_ERR_CRYPTO] = HTTP_INTERNAL_SERVER_ERROR,
    [LTI_ERR_UPSTREAM] = HTTP_BAD_GATEWAY,
    [LTI_ERR_INTERNAL] = HTTP_INTERNAL_SERVER_ERROR,
};

int ptech_http_status(lti_status_t status)
{
    if ((unsigned)status >= LTI_ERR__COUNT || status == LTI_OK) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return status_map[status];
}

const char *ptech_esc(apr_pool_t *p, const char *s)
{
    return s ? ap_escape_html2(p, s, 0) : "";
}

/* UI strings: conf/messages/{fr,ar,en}.json, built into liblti (lti_messages.h); parsed
 * once per configuration, before the children start. */
static lti_messages_t *ui_messages;

int ptech_messages_init(apr_pool_t *pconf, server_rec *s)
{
    lti_err_t err;

    if (lti_messages_builtin(pconf, &ui_messages, &err) != LTI_OK) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "PT00019: %s", err.text);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

const char *ptech_msg(const char *lang, const char *key)
{
    return lti_msg(ui_messages, lang, key);
}

/* The page language from Accept-Language when no launch tells it. */
static const char *request_lang(request_rec *r)
{
    const char *al = apr_table_get(r->headers_in, "Accept-Language");

    return lti_lang_of(al);
}

const char *ptech_base_url(request_rec *r)
{
    const char *pub = ptech_cfg(r->server)->public_url;

    return pub ? pub : ap_construct_url(r->pool, "", r);
}

void ptech_page_begin(request_rec *r, const char *lang, const char *title,
                      const char *frame_origin)
{
    const char *ancestors = frame_origin
                                ? apr_pstrcat(r->pool, "'self' ", frame_origin, NULL)
                                : "*";
    const char *form_to = apr_table_get(r->notes, PTECH_NOTE_FORM_ACTION);

    if (lang == NULL) {
        lang = request_lang(r);
    }
    ap_set_content_type(r, "text/html; charset=utf-8");
    apr_table_setn(r->headers_out, "Content-Security-Policy",
                   apr_pstrcat(r->pool, "default-src 'none'; style-src 'self'; "
                               "script-src 'self'; "
                               "img-src 'self' https: data:; form-action 'self'",
                               form_to ? " " : "", form_to ? form_to : "",
                               "; base-uri 'none'; frame-ancestors ", ancestors, NULL));
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "Referrer-Policy", "no-referrer");
    apr_table_setn(r->headers_out, "Content-Language", lang);
    ap_rvputs(r, "<!DOCTYPE html>\n<html lang=\"", lang, "\" dir=\"",
              strcmp(lang, "ar") == 0 ? "rtl" : "ltr", "\">\n<head>\n<meta charset=\"utf-8\">\n"
              "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
              "<title>", ptech_esc(r->pool, title), " — Open P-Tech</title>\n"
              "<link rel=\"stylesheet\" href=\"", PTECH_PREFIX, "/static/ptech.css\">\n"
              "</head>\n<body>\n<main>\n", NULL);
}

int ptech_page_end(request_rec *r)
{
    ap_rputs("</main>\n</body>\n</html>\n", r);
    return OK;
}

/* The catalog key of what a person can do about an error of this HTTP status. */
static const char *error_key(int status)
{
    switch (status) {
    case HTTP_UNAUTHORIZED:
        return "err_401";
    case HTTP_FORBIDDEN:
        return "err_403";
    case HTTP_NOT_FOUND:
    case HTTP_GONE:
        return "err_404";
    case HTTP_REQUEST_ENTITY_TOO_LARGE:
        return "err_413";
    default:
        return status >= 500 ? "err_500" : "err_400";
    }
}

int ptech_error_page(request_rec *r, int status, const char *lang, const char *text,
                     const char *reason, int audit)
{
    if (lang == NULL) {
        lang = request_lang(r);
    }
    if (audit) {
        lti_store_t *store = ptech_store(r);
        lti_err_t err;

        if (store != NULL) {
            lti_store_audit_add(store, ptech_now(), status, reason, r->uri,
                                r->useragent_ip, text, &err);
        }
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "PT00020: refused %s (%d %s): %s",
                      r->uri, status, reason, text);
    }
    r->status = status;
    /* A refused request must not keep a half-read body on the connection. */
    if (r->read_length == 0 && r->remaining > 0) {
        r->connection->keepalive = AP_CONN_CLOSE;
    }
    ptech_page_begin(r, lang, ptech_msg(lang, "problem"), NULL);
    /* What to do, in the page's language (by status); then the detail for IT and support,
     * which names the exact problem in English, as the logs and the audit do. */
    ap_rvputs(r, "<h1>", ptech_esc(r->pool, ptech_msg(lang, "problem")), "</h1>\n"
              "<p class=\"explain\">", ptech_esc(r->pool, ptech_msg(lang, error_key(status))),
              "</p>\n<p class=\"meta\">", ptech_esc(r->pool, ptech_msg(lang, "err_detail")),
              "</p>\n<p class=\"problem\" lang=\"en\" dir=\"ltr\">", ptech_esc(r->pool, text),
              "</p>\n"
              "<p class=\"meta\">", ptech_esc(r->pool, ptech_msg(lang, "status")), ": ",
              apr_itoa(r->pool, status), " · ", ptech_esc(r->pool, ptech_msg(lang, "reason")),
              ": <code>", ptech_esc(r->pool, reason), "</code></p>\n", NULL);
    return ptech_page_end(r);
}

int ptech_lti_error(request_rec *r, const lti_err_t *err, const char *lang, int audit)
{
    return ptech_error_page(r, ptech_http_status(err->status), lang, err->text,
                            err->reason ? err->reason : lti_status_name(err->status), audit);
}

lti_status_t ptech_read_body(request_rec *r, apr_size_t max, const char **buf,
                             apr_size_t *len, lti_err_t *err)
{
    char *out;
    apr_size_t n = 0, cap;
    long got;

    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "body_unreadable",
                           "the request body cannot be read");
    }
    if (r->remaining > (apr_off_t)max) {
        return lti_err_set(err, LTI_ERR_TOO_LARGE, "body_too_large",
                           "the request body is larger than %lu bytes", (unsigned long)max);
    }
    /* Size the buffer from Content-Length when there is one: a 64 KB block per request
     * would churn the allocator (and glibc's madvise) on every launch. */
    cap = r->remaining > 0 ? (apr_size_t)r->remaining + 1 : 8192;
    out = apr_palloc(r->pool, cap + 1);
    if (ap_should_client_block(r)) {
        for (;;) {
            if (n == cap) {
                /* Chunked body: grow, up to max + 1 bytes to detect an oversize body. */
                apr_size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
                char *bigger = apr_palloc(r->pool, ncap + 1);

                memcpy(bigger, out, n);
                out = bigger;
                cap = ncap;
            }
            if ((got = ap_get_client_block(r, out + n, cap - n)) <= 0) {
                break;
            }
            n += (apr_size_t)got;
            if (n > max) {
                r->connection->keepalive = AP_CONN_CLOSE;
                return lti_err_set(err, LTI_ERR_TOO_LARGE, "body_too_large",
                                   "the request body is larger than %lu bytes",
                                   (unsigned long)max);
            }
        }
        if (got < 0) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "body_unreadable",
                               "the request body could not be read completely");
        }
    }
    out[n] = '\0';
    *buf = out;
    *len = n;
    return LTI_OK;
}

static const char stylesheet[] =
    ":root{--fg:#1b1f24;--muted:#59636e;--accent:#0f62fe;--bg:#fff;--line:#d0d7de}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',"
    "'Noto Sans Arabic',Tahoma,sans-serif;color:var(--fg);background:var(--bg)}\n"
    "main{max-width:60rem;margin:0 auto;padding:1rem}\n"
    "h1{font-size:1.5rem;margin:.5rem 0 1rem}h2{font-size:1.2rem;margin:1.5rem 0 .5rem}\n"
    "a{color:var(--accent)}a:focus,button:focus,select:focus,input:focus{outline:3px solid "
    "#ffb000;outline-offset:2px}\n"
    ".problem{font-size:1.1rem}.meta{color:var(--muted);font-size:.9rem}\n"
    "ul.modules{list-style:none;padding:0}ul.modules li{border:1px solid var(--line);"
    "border-radius:6px;padding:.75rem;margin:.5rem 0;display:flex;flex-wrap:wrap;"
    "gap:.5rem;justify-content:space-between;align-items:center}\n"
    "table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid var(--line);"
    "padding:.4rem;text-align:start}\n"
    ".table-wrap{overflow-x:auto}\n"
    "button,.button{background:var(--accent);color:#fff;border:0;border-radius:4px;"
    "padding:.5rem 1rem;font:inherit;cursor:pointer;text-decoration:none;display:inline-block}\n"
    "select,input{font:inherit;padding:.4rem;max-width:100%}\n"
    "iframe{width:100%;min-height:30rem;border:1px solid var(--line)}\n"
    ".card{border:1px solid var(--line);border-radius:6px;padding:1rem;margin:1rem 0}\n"
    "form.inline{display:inline-block;margin:.25rem}\n"
    /* Dashboard, learner progress and certificates (logical properties: Arabic mirrors). */
    ".sr-only{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;"
    "clip:rect(0,0,0,0);white-space:nowrap;border:0}\n"
    ".bar{display:inline-flex;align-items:center;gap:.5rem;white-space:nowrap}"
    "progress{inline-size:8rem;block-size:.9rem;accent-color:var(--accent)}\n"
    ".tag{font-size:.85rem;border:1px solid var(--line);border-radius:1rem;padding:0 .5rem;"
    "margin-inline-start:.25rem;white-space:nowrap}\n"
    "dl.summary{display:flex;flex-wrap:wrap;gap:1rem;margin:0}dl.summary div{min-inline-size:7rem}"
    "dl.summary dt,dl.cert dt{color:var(--muted);font-size:.9rem}"
    "dl.summary dd{margin:0;font-size:1.5rem;font-weight:bold}\n"
    "caption{text-align:start;font-weight:bold;padding:.4rem 0}\n"
    "button.small{padding:.25rem .6rem;font-size:.9rem;margin-block-start:.25rem}\n"
    ".table-wrap:focus{outline:3px solid #ffb000}\n"
    ".certificate{border:4px double var(--accent);padding:2rem 1rem;text-align:center}"
    ".certificate .who{font-size:1.6rem;font-weight:bold}dl.cert dd{margin:0 0 1rem}"
    "dl.cert{margin:1rem 0}\n"
    ".cert-state.valid{color:#0a7a3d;font-weight:bold}"
    ".cert-state.revoked,.cert-state.unknown{color:#b00020;font-weight:bold}\n"
    ".meta a{overflow-wrap:anywhere}\n"
    "@media (max-width:480px){main{padding:.5rem}h1{font-size:1.25rem}}\n"
    "@media print{.no-print{display:none}main{max-width:none}a{color:inherit}}\n";

/* Posts the form of a page that must go on by itself (the demo's launch); no inline
 * script, so the CSP can stay at script-src 'self'. */
static const char autosubmit[] =
    "document.getElementById('autosubmit').submit();\n";

/* Dynamic Registration's last page: its button tells the LMS (which frames it, or opened
 * it) to close the registration (LTI Dynamic Registration 1.0, section 3.7).  The message
 * holds no secret, so any origin may read it. */
static const char dynreg_js[] =
    "(function () {\n"
    "    var b = document.getElementById('ptech-dynreg-close');\n"
    "    if (!b) { return; }\n"
    "    b.addEventListener('click', function () {\n"
    "        var target = window.opener || (window.parent !== window ? window.parent : null);\n"
    "        if (target) {\n"
    "            target.postMessage({subject: 'org.imsglobal.lti.close'}, '*');\n"
    "        } else {\n"
    "            window.close();\n"
    "        }\n"
    "    });\n"
    "})();\n";

/* Platform storage (1EdTech LTI Client Side postMessages): the page's #ptech-storage says
 * what to do.  data-mode "put" (login): lti.put_data of data-key = data-value into the LMS
 * frame data-target ("_parent", or a frame of the LMS page: of the opener when the tool
 * is in a window of its own), addressed to data-origin (the
 * platform's auth endpoint origin), then on to data-next in this frame.  "get" (launch):
 * lti.get_data of data-key, then the page's form posts the launch again with the value as
 * lti_storage_value (empty when the platform gave none: the tool then says why).  Both the
 * lti.* subjects and the legacy org.imsglobal.lti.* ones are sent; the first answer from
 * data-origin that names one of our message ids wins; 3 s without one count as none. */
static const char storage_js[] =
    "(function () {\n"
    "    'use strict';\n"
    "    var el = document.getElementById('ptech-storage');\n"
    "    if (!el) { return; }\n"
    "    var mode = el.getAttribute('data-mode');\n"
    "    var name = el.getAttribute('data-target');\n"
    "    var origin = el.getAttribute('data-origin');\n"
    "    var key = el.getAttribute('data-key');\n"
    "    var sent = {}, failed = 0, done = false;\n"
    "    function frame() {\n"
    "        try {\n"
    "            var up = window.parent !== window ? window.parent : window.opener;\n"
    "            if (!up) { return null; }\n"
    "            return name === '_parent' ? up : (up.frames[name] || null);\n"
    "        } catch (e) { return null; }\n"
    "    }\n"
    "    function messageId() {\n"
    "        var b = new Uint8Array(16), s = '';\n"
    "        window.crypto.getRandomValues(b);\n"
    "        for (var i = 0; i < b.length; i++) { s += (b[i] + 256).toString(16).slice(1); }\n"
    "        return s;\n"
    "    }\n"
    "    function finish(value) {\n"
    "        if (done) { return; }\n"
    "        done = true;\n"
    "        window.removeEventListener('message', onMessage);\n"
    "        if (mode === 'put') {\n"
    "            window.location.replace(el.getAttribute('data-next'));\n"
    "            return;\n"
    "        }\n"
    "        var form = document.getElementById('ptech-storage-form');\n"
    "        form.elements.lti_storage_value.value = value || '';\n"
    "        form.submit();\n"
    "    }\n"
    "    function onMessage(ev) {\n"
    "        var d = ev.data;\n"
    "        if (ev.origin !== origin || !d || typeof d !== 'object'\n"
    "            || typeof d.message_id !== 'string' || !sent.hasOwnProperty(d.message_id)\n"
    "            || d.subject !== sent[d.message_id] + '.response') { return; }\n"
    "        if (d.key !== undefined && d.key !== key) { return; }\n"
    "        if (d.error) {\n"
    "            if (++failed === 2) { finish(''); }\n"
    "            return;\n"
    "        }\n"
    "        if (mode === 'get') {\n"
    "            if (typeof d.value === 'string') {\n"
    "                finish(d.value);\n"
    "            } else if (++failed === 2) {\n"
    "                finish('');\n"
    "            }\n"
    "            return;\n"
    "        }\n"
    "        finish('');\n"
    "    }\n"
    "    var target = frame();\n"
    "    if (!target || (mode !== 'put' && mode !== 'get')) { finish(''); return; }\n"
    "    window.addEventListener('message', onMessage);\n"
    "    ['lti.', 'org.imsglobal.lti.'].forEach(function (prefix) {\n"
    "        var m = {subject: prefix + mode + '_data', message_id: messageId(), key: key};\n"
    "        if (mode === 'put') { m.value = el.getAttribute('data-value'); }\n"
    "        sent[m.message_id] = m.subject;\n"
    "        try { target.postMessage(m, origin); } catch (e) { failed++; }\n"
    "    });\n"
    "    if (failed === 2) { finish(''); return; }\n"
    "    window.setTimeout(function () { finish(''); }, 3000);\n"
    "})();\n";

/* The tool's logo (Dynamic Registration's logo_uri; Moodle shows it on the tool's card). */
static const char logo_svg[] =
    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 64 64\" width=\"64\" "
    "height=\"64\"><rect width=\"64\" height=\"64\" rx=\"12\" fill=\"#0f62fe\"/>"
    "<text x=\"32\" y=\"41\" font-family=\"sans-serif\" font-size=\"22\" "
    "font-weight=\"bold\" fill=\"#fff\" text-anchor=\"middle\">P-T</text></svg>\n";

int ptech_handle_static(request_rec *r, const char *rest)
{
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (strcmp(rest, "ptech.css") == 0) {
        ap_set_content_type(r, "text/css; charset=utf-8");
        ap_rwrite(stylesheet, sizeof(stylesheet) - 1, r);
    }
    else if (strcmp(rest, "autosubmit.js") == 0) {
        ap_set_content_type(r, "text/javascript; charset=utf-8");
        ap_rwrite(autosubmit, sizeof(autosubmit) - 1, r);
    }
    else if (strcmp(rest, "dynreg.js") == 0) {
        ap_set_content_type(r, "text/javascript; charset=utf-8");
        ap_rwrite(dynreg_js, sizeof(dynreg_js) - 1, r);
    }
    else if (strcmp(rest, "storage.js") == 0) {
        ap_set_content_type(r, "text/javascript; charset=utf-8");
        ap_rwrite(storage_js, sizeof(storage_js) - 1, r);
    }
    else if (strcmp(rest, "logo.svg") == 0) {
        ap_set_content_type(r, "image/svg+xml");
        ap_rwrite(logo_svg, sizeof(logo_svg) - 1, r);
    }
    else {
        return ptech_error_page(r, HTTP_NOT_FOUND, NULL, "No such file.", "not_found", 0);
    }
    apr_table_setn(r->headers_out, "Cache-Control", "public, max-age=3600");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    return OK;
}
