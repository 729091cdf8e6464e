/* ptech_pages.c -- HTML: escaping, the page frame and its headers (CSP, caching), the one
 * error page and status table, a few UI strings in fr/ar/en, the stylesheet. */
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

/* UI strings; the full catalogs in conf/messages/ arrive with the experience issue. */
static const struct {
    const char *key, *fr, *ar, *en;
} messages[] = {
    {"problem", "Un problème est survenu", "حدثت مشكلة", "Something went wrong"},
    {"reason", "Code pour le support", "رمز للدعم التقني", "Code for support"},
    {"status", "Statut HTTP", "حالة HTTP", "HTTP status"},
    {"modules", "Modules", "الوحدات", "Modules"},
    {"open", "Ouvrir le contenu", "فتح المحتوى", "Open the content"},
    {"weight", "poids", "الوزن", "weight"},
    {"progress", "Votre progression", "تقدمك", "Your progress"},
    {"progress_soon", "Votre progression apparaîtra ici dès que vous aurez commencé.",
     "سيظهر تقدمك هنا بمجرد أن تبدأ.", "Your progress will appear here once you start."},
    {"grade_return", "Note renvoyée au LMS", "الدرجة المرسلة إلى المنصة",
     "Grade sent to the LMS"},
    {"ret_pending", "En attente", "قيد الانتظار", "Pending"},
    {"ret_sent", "Envoyée", "أُرسلت", "Sent"},
    {"ret_failed", "Échec", "فشل", "Failed"},
    {"ret_none", "Aucune", "لا شيء", "None"},
    {"result_in_progress", "En cours", "قيد التقدم", "In progress"},
    {"result_completed", "Terminé", "مكتمل", "Completed"},
    {"result_passed", "Réussi", "ناجح", "Passed"},
    {"result_failed", "Non réussi", "غير ناجح", "Not passed"},
    {"score", "Score", "الدرجة", "Score"},
    {"passing", "Score de réussite", "درجة النجاح", "Passing score"},
    {"badge", "Badge", "الشارة", "Badge"},
    {"learners", "Personnes qui ont lancé l'activité", "الأشخاص الذين فتحوا النشاط",
     "People who launched this activity"},
    {"role", "Rôle", "الدور", "Role"},
    {"role_learner", "Apprenant", "متعلم", "Learner"},
    {"role_instructor", "Enseignant", "أستاذ", "Instructor"},
    {"role_ta", "Facilitateur", "مُيسِّر", "Facilitator"},
    {"role_admin", "Administrateur", "مسؤول", "Administrator"},
    {"no_learners", "Personne n'a encore lancé l'activité.", "لم يفتح أحد النشاط بعد.",
     "Nobody has launched this activity yet."},
    {"name", "Nom", "الاسم", "Name"},
    {"email", "Courriel", "البريد الإلكتروني", "Email"},
    {"user_id", "Identifiant LMS", "معرّف المنصة", "LMS user id"},
    {"last_launch", "Dernier lancement", "آخر فتح", "Last launch"},
    {"choose", "Choisir le cours de cette activité", "اختر مقرر هذا النشاط",
     "Choose the course of this activity"},
    {"choose_btn", "Associer ce cours", "ربط هذا المقرر", "Use this course"},
    {"change", "Changer de cours", "تغيير المقرر", "Change the course"},
    {"instructor", "Espace enseignant", "فضاء الأستاذ", "Instructor view"},
    {"not_configured", "Cette activité n'est pas encore configurée",
     "هذا النشاط غير مهيأ بعد", "This activity is not configured yet"},
    {"not_configured_text",
     "Votre enseignant doit encore choisir le cours Open P-Tech de cette activité. "
     "Revenez plus tard.",
     "لم يختر أستاذك بعد مقرر Open P-Tech لهذا النشاط. عد لاحقًا.",
     "Your instructor has not chosen the Open P-Tech course of this activity yet. "
     "Please come back later."},
    {"unknown_course", "Cours inconnu", "مقرر غير معروف", "Unknown course"},
    {"unknown_course_text",
     "Le lien demande un cours qui n'est pas dans le catalogue :",
     "يطلب الرابط مقررًا غير موجود في الفهرس:",
     "The link asks for a course that is not in the catalog:"},
    {"no_session", "Session introuvable", "الجلسة غير موجودة", "No session"},
    {"no_session_text",
     "Votre navigateur n'a pas renvoyé le cookie de session : les cookies tiers sont "
     "peut-être bloqués dans le cadre du LMS. Ouvrez l'outil dans une nouvelle fenêtre, "
     "ou relancez l'activité depuis Moodle.",
     "لم يُرجع متصفحك ملف تعريف الجلسة: ربما تم حظر ملفات تعريف الارتباط للجهات الخارجية "
     "داخل إطار المنصة. افتح الأداة في نافذة جديدة أو أعد فتح النشاط من Moodle.",
     "Your browser did not send the session cookie back: third-party cookies may be "
     "blocked inside the LMS frame. Open the tool in a new window, or launch the activity "
     "again from Moodle."},
    {"dl_later", "Choix du contenu : bientôt disponible", "اختيار المحتوى: قريبًا",
     "Content selection: coming soon"},
    {"dl_later_text",
     "La sélection de cours par Deep Linking arrive dans une prochaine version. En "
     "attendant, ajoutez l'activité avec le paramètre personnalisé course=ID.",
     "سيتوفر اختيار المقررات عبر Deep Linking في إصدار قادم. في الأثناء، أضف النشاط مع "
     "المعامل المخصص course=ID.",
     "Choosing a course by Deep Linking arrives in a coming release. Meanwhile, add the "
     "activity with the custom parameter course=ID."},
    {"new_window", "Ouvrir dans une nouvelle fenêtre", "فتح في نافذة جديدة",
     "Open in a new window"},
    {"cookies_blocked", "Ouvrez l'activité dans une nouvelle fenêtre",
     "افتح النشاط في نافذة جديدة", "Open the activity in a new window"},
    {"cookies_blocked_text",
     "Votre navigateur bloque les cookies de l'outil dans le cadre du LMS (cookies tiers), et "
     "le LMS n'offre pas de stockage pour les remplacer : le lancement ne peut pas être "
     "vérifié ici. Le bouton ci-dessous relance l'activité depuis le LMS dans une nouvelle "
     "fenêtre, où l'outil n'est plus un tiers. Rien n'a été enregistré.",
     "يحظر متصفحك ملفات تعريف الارتباط الخاصة بالأداة داخل إطار المنصة (ملفات الجهات "
     "الخارجية)، ولا توفر المنصة تخزينًا بديلًا: لا يمكن التحقق من الفتح هنا. يعيد الزر أدناه "
     "فتح النشاط من المنصة في نافذة جديدة، حيث لا تكون الأداة طرفًا خارجيًا. لم يُسجَّل أي شيء.",
     "Your browser blocks the tool's cookies inside the LMS frame (third-party cookies), and "
     "the LMS offers no storage to stand in for them: the launch cannot be checked here. The "
     "button below starts the activity again from the LMS in a new window, where the tool is "
     "not a third party. Nothing was recorded."},
    {"dynreg_done", "Outil enregistré", "تم تسجيل الأداة", "Tool registered"},
    {"dynreg_activate",
     "La plateforme a ajouté Open P-Tech à ses outils externes, en attente. Pour "
     "l'utiliser, activez-le dans Moodle : Administration du site → Plugins → Modules "
     "d'activité → Outil externe → Gérer les outils, puis « Activer » sur la carte de l'outil.",
     "أضافت المنصة Open P-Tech إلى أدواتها الخارجية في حالة انتظار. لاستخدامها، فعّلها في "
     "Moodle: إدارة الموقع ← الإضافات ← وحدات الأنشطة ← أداة خارجية ← إدارة الأدوات، ثم "
     "«تفعيل» على بطاقة الأداة.",
     "The platform has added Open P-Tech to its external tools, pending. To use it, "
     "activate it in Moodle: Site administration → Plugins → Activity modules → External "
     "tool → Manage tools, then “Activate” on the tool's card."},
    {"dynreg_platform", "Plateforme", "المنصة", "Platform"},
    {"dynreg_client_id", "Identifiant client", "معرّف العميل", "Client ID"},
    {"dynreg_deployment", "Déploiement", "النشر", "Deployment"},
    {"dynreg_close", "Fermer", "إغلاق", "Close"},
    /* /ptech/admin (ptech_handler_admin.c; the words per reason code are in its table) */
    {"admin", "Diagnostic des lancements", "تشخيص عمليات الفتح", "Launch diagnostics"},
    {"admin_paste", "Valeurs à coller dans Moodle", "القيم التي تُلصق في Moodle",
     "Values to paste into Moodle"},
    {"admin_paste_text",
     "Administration du site → Plugins → Outil externe → Gérer les outils → configurer un "
     "outil manuellement, version LTI 1.3 :",
     "إدارة الموقع ← الإضافات ← أداة خارجية ← إدارة الأدوات ← إعداد أداة يدويًا، إصدار "
     "LTI 1.3:",
     "Site administration → Plugins → External tool → Manage tools → configure a tool "
     "manually, LTI version 1.3:"},
    {"admin_counts", "Refus par raison (30 derniers jours)", "حالات الرفض حسب السبب (آخر 30 يومًا)",
     "Refusals per reason (last 30 days)"},
    {"admin_recent", "Refus récents", "حالات الرفض الأخيرة", "Recent refusals"},
    {"admin_none", "Aucun refus enregistré.", "لا توجد حالات رفض مسجلة.",
     "No refusal recorded."},
    {"admin_reason", "Raison", "السبب", "Reason"},
    {"admin_count", "Nombre", "العدد", "Count"},
    {"admin_last", "Dernier", "الأخير", "Last"},
    {"admin_meaning", "En clair", "بوضوح", "In plain words"},
    {"admin_see_detail", "Voir le détail.", "انظر التفاصيل.", "See the detail."},
    {"admin_when", "Quand (UTC)", "متى (UTC)", "When (UTC)"},
    {"admin_detail", "Détail", "التفاصيل", "Detail"},
    {"admin_where", "Adresse, client", "العنوان، العميل", "Path, client"},
};

const char *ptech_msg(const char *lang, const char *key)
{
    for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
        if (strcmp(messages[i].key, key) == 0) {
            if (lang && strcmp(lang, "ar") == 0) {
                return messages[i].ar;
            }
            if (lang && strcmp(lang, "en") == 0) {
                return messages[i].en;
            }
            return messages[i].fr;
        }
    }
    return key;
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

    if (lang == NULL) {
        lang = request_lang(r);
    }
    ap_set_content_type(r, "text/html; charset=utf-8");
    apr_table_setn(r->headers_out, "Content-Security-Policy",
                   apr_pstrcat(r->pool, "default-src 'none'; style-src 'self'; "
                               "script-src 'self'; "
                               "img-src 'self' https: data:; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors ", ancestors, NULL));
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
    ap_rvputs(r, "<h1>", ptech_esc(r->pool, ptech_msg(lang, "problem")), "</h1>\n"
              "<p class=\"problem\">", ptech_esc(r->pool, text), "</p>\n"
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
    "@media (max-width:480px){main{padding:.5rem}h1{font-size:1.25rem}}\n";

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
