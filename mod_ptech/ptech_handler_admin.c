/* ptech_handler_admin.c -- GET /ptech/admin: launch diagnostics for university IT.  The
 * values to paste into Moodle's manual tool form, the refusals per reason and the recent
 * refusals, each in plain words (fr/ar/en) next to what the audit row recorded.  The page
 * shows audit rows only (reason codes and their texts, which never hold a token or a
 * secret); protect it with Require (conf/ptech.conf). */
#include <apr_strings.h>
#include <apr_time.h>

#include "ptech.h"

APLOG_USE_MODULE(ptech);

#define ADMIN_RECENT 50
#define ADMIN_DAYS 30

/* What a reason code means and what to do, in plain words: the one table. */
static const struct {
    const char *reason, *fr, *ar, *en;
} reasons[] = {
    {"lti13_state_no_cookie",
     "Le navigateur n'a pas renvoyé le cookie de connexion : les cookies tiers sont très "
     "probablement bloqués dans le cadre de Moodle (Safari, Firefox, navigation privée). "
     "Ouvrez l'activité dans une nouvelle fenêtre, et servez l'outil en https.",
     "لم يُرجع المتصفح ملف تعريف الارتباط الخاص بتسجيل الدخول: ملفات تعريف الارتباط للجهات "
     "الخارجية محظورة على الأرجح داخل إطار Moodle. افتح النشاط في نافذة جديدة، وقدّم الأداة "
     "عبر https.",
     "The browser did not send the login cookie back: third-party cookies are most likely "
     "blocked in Moodle's frame (Safari, Firefox, private windows). Open the activity in a new "
     "window, and serve the tool over https."},
    {"lti13_state_mismatch",
     "Le cookie de connexion appartient à une autre connexion (deux lancements croisés dans "
     "un navigateur, ou une requête forgée).",
     "ملف تعريف الارتباط يخص تسجيل دخول آخر (عمليتا فتح متداخلتان في المتصفح نفسه، أو طلب "
     "مزوّر).",
     "The login cookie belongs to another login (two launches crossed in one browser, or a "
     "forged request)."},
    {"lti13_state_unknown",
     "État de connexion inconnu ou déjà utilisé : page de lancement rechargée, double clic, "
     "ou lancement plus long que PTechStateTTL.",
     "حالة تسجيل الدخول غير معروفة أو مستعملة: إعادة تحميل صفحة الفتح، نقرة مزدوجة، أو فتح "
     "استغرق أكثر من PTechStateTTL.",
     "Unknown or already used login state: the launch page was reloaded, a double click, or "
     "a launch slower than PTechStateTTL."},
    {"state_expired",
     "La connexion a duré plus longtemps que PTechStateTTL.",
     "استغرق تسجيل الدخول أكثر من PTechStateTTL.",
     "The login took longer than PTechStateTTL."},
    {"jwt_exp",
     "Le jeton est arrivé expiré : les horloges de Moodle et de ce serveur sont décalées "
     "(décalage en secondes dans le détail). Synchronisez-les (NTP).",
     "وصل الرمز منتهي الصلاحية: ساعتا Moodle وهذا الخادم غير متزامنتين (الفرق بالثواني في "
     "التفاصيل). زامنهما (NTP).",
     "The id_token arrived expired: Moodle's clock and this server's differ (the clock skew "
     "in seconds is in the detail). Synchronise them (NTP)."},
    {"jwt_iat",
     "Le jeton a été émis dans le futur : l'horloge de Moodle avance sur celle de ce serveur "
     "(décalage en secondes dans le détail). Synchronisez-les (NTP).",
     "صدر الرمز في المستقبل: ساعة Moodle متقدمة على ساعة هذا الخادم (الفرق بالثواني في "
     "التفاصيل). زامنهما (NTP).",
     "The id_token was issued in the future: Moodle's clock is ahead of this server's (the "
     "clock skew in seconds is in the detail). Synchronise them (NTP)."},
    {"jwt_nbf",
     "Le jeton n'est pas encore valide : horloges décalées (NTP).",
     "الرمز غير صالح بعد: الساعتان غير متزامنتين (NTP).",
     "The id_token is not valid yet: the clocks differ (NTP)."},
    {"oauth_timestamp",
     "LTI 1.1 : l'horodatage du lancement sort de PTechTimestampWindow ; horloges décalées "
     "(NTP).",
     "LTI 1.1: طابع وقت الفتح خارج PTechTimestampWindow؛ الساعتان غير متزامنتين (NTP).",
     "LTI 1.1: the launch's timestamp is outside PTechTimestampWindow: the clocks differ "
     "(NTP)."},
    {"jwt_unknown_kid",
     "Le jeton est signé par une clé absente du jeu de clés de Moodle ; le détail donne "
     "l'identifiant de clé (kid) et le résultat du nouveau téléchargement. Vérifiez l'URL du "
     "jeu de clés (ptechctl platform list).",
     "الرمز موقّع بمفتاح غير موجود في مجموعة مفاتيح Moodle؛ التفاصيل تذكر معرّف المفتاح (kid) "
     "ونتيجة إعادة الجلب. تحقق من عنوان مجموعة المفاتيح (ptechctl platform list).",
     "The id_token is signed with a key that is not in Moodle's key set; the detail gives the "
     "key id (kid) and what the refetch found. Check the key set URL (ptechctl platform "
     "list)."},
    {"jwt_bad_signature",
     "La signature du jeton ne correspond pas à la clé de Moodle (mauvaise URL de jeu de "
     "clés, ou jeton forgé).",
     "توقيع الرمز لا يطابق مفتاح Moodle (عنوان مجموعة مفاتيح خاطئ، أو رمز مزوّر).",
     "The id_token's signature does not match Moodle's key (a wrong key set URL, or a forged "
     "token)."},
    {"lti13_target_link_uri",
     "Le target_link_uri n'est pas une adresse de l'outil ou pas celle de la connexion : "
     "l'URL de l'outil dans Moodle doit être l'URL de lancement ci-dessus.",
     "target_link_uri ليس عنوانًا للأداة أو ليس عنوان تسجيل الدخول: يجب أن يكون عنوان الأداة "
     "في Moodle هو عنوان الفتح أعلاه.",
     "The target_link_uri is not an address of the tool, or not the one of the login: the "
     "Tool URL in Moodle must be the launch URL above."},
    {"lti13_platform_error",
     "Moodle a refusé la connexion (raison dans le détail). Le plus souvent : les URI de "
     "redirection de l'outil dans Moodle ne contiennent pas exactement l'URL de lancement "
     "ci-dessus (redirect_uri).",
     "رفض Moodle تسجيل الدخول (السبب في التفاصيل). غالبًا: عناوين إعادة التوجيه للأداة في "
     "Moodle لا تتضمن عنوان الفتح أعلاه حرفيًا (redirect_uri).",
     "Moodle refused the login (the reason is in the detail). Most often: the tool's "
     "Redirection URI(s) in Moodle do not list the launch URL above exactly (redirect_uri "
     "mismatch)."},
    {"lti13_unknown_deployment",
     "L'identifiant de déploiement envoyé par Moodle n'est pas enregistré : ptechctl platform "
     "add ... --deployment ID, ou PTechAutoDeployments On.",
     "معرّف النشر الذي أرسله Moodle غير مسجل: ptechctl platform add ... --deployment ID، أو "
     "PTechAutoDeployments On.",
     "The deployment id Moodle sent is not registered: ptechctl platform add ... --deployment "
     "ID, or PTechAutoDeployments On."},
    {"jwt_aud",
     "Le jeton est destiné à un autre client id (aud) : l'identifiant client donné à ptechctl "
     "platform add diffère de celui de Moodle.",
     "الرمز موجّه إلى معرّف عميل آخر (aud): معرّف العميل المعطى لـ ptechctl platform add يختلف "
     "عن معرّف Moodle.",
     "The id_token is meant for another client id (aud): the client id given to ptechctl "
     "platform add differs from Moodle's."},
    {"jwt_azp",
     "La partie autorisée du jeton (azp) n'est pas notre client id.",
     "الطرف المخوّل في الرمز (azp) ليس معرّف العميل الخاص بنا.",
     "The id_token's authorised party (azp) is not our client id."},
    {"jwt_iss",
     "L'émetteur diffère de celui enregistré (comparaison exacte : https, port, barre "
     "finale).",
     "المُصدر يختلف عن المسجل (مقارنة حرفية: https، المنفذ، الشرطة الأخيرة).",
     "The issuer differs from the registered one (compared exactly: https, port, trailing "
     "slash)."},
    {"lti13_unknown_platform",
     "Aucune plateforme n'est enregistrée pour cet émetteur : ptechctl platform add.",
     "لا توجد منصة مسجلة لهذا المُصدر: ptechctl platform add.",
     "No platform is registered for this issuer: ptechctl platform add."},
    {"jwks_unreachable",
     "Le jeu de clés de Moodle n'a pas pu être téléchargé.",
     "تعذر جلب مجموعة مفاتيح Moodle.",
     "Moodle's key set could not be fetched."},
    {"jwt_nonce",
     "Le nonce du jeton n'est pas celui de la connexion : jeton rejoué ou étranger.",
     "nonce الرمز ليس nonce تسجيل الدخول: رمز معاد أو غريب.",
     "The id_token's nonce is not the login's: a replayed or foreign token."},
    {"oauth_bad_signature",
     "LTI 1.1 : la signature ne correspond pas : le secret dans Moodle diffère de celui de "
     "ptechctl, ou PTechPublicURL n'est pas l'adresse utilisée par Moodle.",
     "LTI 1.1: التوقيع غير مطابق: السر في Moodle يختلف عن سر ptechctl، أو PTechPublicURL ليس "
     "العنوان الذي يستعمله Moodle.",
     "LTI 1.1: the signature does not match: the secret in Moodle differs from ptechctl's, or "
     "PTechPublicURL is not the address Moodle uses."},
    {"lti11_unknown_consumer",
     "LTI 1.1 : clé client inconnue : ptechctl consumer add.",
     "LTI 1.1: مفتاح المستهلك غير معروف: ptechctl consumer add.",
     "LTI 1.1: unknown consumer key: ptechctl consumer add."},
    {"lti1p1_bad_sign",
     "Lancement LTI 1.3 accepté, mais pas relié au compte LTI 1.1 : la signature "
     "oauth_consumer_key_sign ne correspond pas au secret LTI 1.1 enregistré.",
     "تم قبول الفتح عبر LTI 1.3 دون ربطه بحساب LTI 1.1: توقيع oauth_consumer_key_sign لا يطابق "
     "سر LTI 1.1 المسجل.",
     "LTI 1.3 launch accepted, but not linked to the LTI 1.1 account: oauth_consumer_key_sign "
     "does not match the registered LTI 1.1 secret."},
    {"lti1p1_unknown_consumer",
     "Lancement LTI 1.3 accepté, mais pas relié au compte LTI 1.1 : la clé client LTI 1.1 "
     "nommée n'est pas enregistrée.",
     "تم قبول الفتح عبر LTI 1.3 دون ربطه بحساب LTI 1.1: مفتاح المستهلك LTI 1.1 المذكور غير "
     "مسجل.",
     "LTI 1.3 launch accepted, but not linked to the LTI 1.1 account: the LTI 1.1 consumer key "
     "it names is not registered."},
    {"lti1p1_no_sign",
     "Lancement LTI 1.3 accepté, mais pas relié au compte LTI 1.1 : Moodle n'a pas envoyé "
     "oauth_consumer_key_sign.",
     "تم قبول الفتح عبر LTI 1.3 دون ربطه بحساب LTI 1.1: لم يرسل Moodle التوقيع "
     "oauth_consumer_key_sign.",
     "LTI 1.3 launch accepted, but not linked to the LTI 1.1 account: Moodle sent no "
     "oauth_consumer_key_sign."},
    /* IBM badges pasted by learners (ptech_handler_badges.c): the ones IT can act on */
    {"badge_host_unknown",
     "Un badge d'un émetteur non accepté : ajoutez son hôte à PTechBadgeIssuerHost si "
     "l'université accepte ses badges (sans la directive, seul api.credly.com l'est).",
     "شارة من جهة إصدار غير مقبولة: أضف مضيفها إلى PTechBadgeIssuerHost إن كانت الجامعة تقبل "
     "شاراتها (بدون هذا التوجيه يُقبل api.credly.com وحده).",
     "A badge from an issuer that is not accepted: add its host to PTechBadgeIssuerHost if the "
     "university accepts its badges (without the directive, only api.credly.com is)."},
    {"badge_fetch_failed",
     "Le badge n'a pas pu être lu chez l'émetteur (réseau, TLS, délai PTechHTTPTimeout, ou "
     "une réponse d'erreur) : vérifiez l'accès https sortant et PTechHTTPProxy.",
     "تعذرت قراءة الشارة لدى جهة الإصدار (الشبكة، TLS، مهلة PTechHTTPTimeout، أو رد بخطأ): "
     "تحقق من الوصول الصادر عبر https ومن PTechHTTPProxy.",
     "The badge could not be read from its issuer (network, TLS, the PTechHTTPTimeout delay, "
     "or an error answer): check outbound https and PTechHTTPProxy."},
    {"badge_redirect_refused",
     "L'émetteur du badge a redirigé vers un hôte absent de PTechBadgeIssuerHost.",
     "أعادت جهة إصدار الشارة التوجيه إلى مضيف غير موجود في PTechBadgeIssuerHost.",
     "The badge's issuer redirected to a host that is not in PTechBadgeIssuerHost."},
    {"badge_too_large",
     "La réponse de l'émetteur du badge dépasse 256 Ko : ce n'est pas un badge.",
     "رد جهة إصدار الشارة يتجاوز 256 كيلوبايت: ليس شارة.",
     "The badge issuer's answer is over 256 KB: it is not a badge."},
};

/* The plain words of a reason in lang, or NULL for a code without an entry. */
static const char *plain_words(const char *lang, const char *reason)
{
    for (size_t i = 0; reason != NULL && i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (strcmp(reasons[i].reason, reason) == 0) {
            return strcmp(lang, "ar") == 0 ? reasons[i].ar
                   : strcmp(lang, "en") == 0 ? reasons[i].en
                                             : reasons[i].fr;
        }
    }
    return NULL;
}

/* The page language: ?lang=fr|ar|en, else Accept-Language. */
static const char *admin_lang(request_rec *r)
{
    const char *q = r->args;

    if (q != NULL && strncmp(q, "lang=", 5) == 0) {
        return lti_lang_of(q + 5);
    }
    return lti_lang_of(apr_table_get(r->headers_in, "Accept-Language"));
}

static const char *iso_time(apr_pool_t *p, int64_t t)
{
    apr_time_exp_t tm;
    char buf[32];
    apr_size_t len = 0;

    if (apr_time_exp_gmt(&tm, apr_time_from_sec((apr_time_t)t)) != APR_SUCCESS
        || apr_strftime(buf, &len, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &tm) != APR_SUCCESS) {
        return "?";
    }
    return apr_pstrmemdup(p, buf, len);
}

/* One row of the paste table: the Moodle field, the value. */
static void paste_row(request_rec *r, const char *field, const char *value)
{
    ap_rvputs(r, "<tr><th scope=\"row\">", ptech_esc(r->pool, field), "</th><td><code>",
              ptech_esc(r->pool, value), "</code></td></tr>\n", NULL);
}

int ptech_handle_admin(request_rec *r)
{
    lti_store_t *store;
    apr_array_header_t *counts, *recent;
    const char *lang, *base, *launch;
    lti_err_t err;
    int64_t now = ptech_now();

    if (r->method_number != M_GET) {
        apr_table_setn(r->headers_out, "Allow", "GET");
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if ((store = ptech_store(r)) == NULL) {
        return ptech_error_page(r, HTTP_SERVICE_UNAVAILABLE, NULL,
                                "The tool's database is not available.", "store_unavailable", 0);
    }
    lang = admin_lang(r);
    lti_err_clear(&err);
    if (lti_store_audit_counts(store, r->pool, now - ADMIN_DAYS * 86400, &counts, &err)
            != LTI_OK
        || lti_store_audit_recent(store, r->pool, ADMIN_RECENT, &recent, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, lang, 0);
    }
    base = apr_pstrcat(r->pool, ptech_base_url(r), PTECH_PREFIX, NULL);
    launch = apr_pstrcat(r->pool, base, "/launch", NULL);

    /* Framed by nobody else: an IT page, not a page of the LMS. */
    ptech_page_begin(r, lang, ptech_msg(lang, "admin"), "'self'");
    apr_table_setn(r->headers_out, "X-Robots-Tag", "noindex");
    ap_rvputs(r, "<h1>", ptech_esc(r->pool, ptech_msg(lang, "admin")), "</h1>\n", NULL);

    ap_rvputs(r, "<h2 id=\"paste\">", ptech_esc(r->pool, ptech_msg(lang, "admin_paste")),
              "</h2>\n<p>", ptech_esc(r->pool, ptech_msg(lang, "admin_paste_text")),
              "</p>\n<div class=\"table-wrap\"><table class=\"paste\">\n", NULL);
    paste_row(r, "Tool URL", launch);
    paste_row(r, "Initiate login URL", apr_pstrcat(r->pool, base, "/login", NULL));
    paste_row(r, "Redirection URI(s)", launch);
    paste_row(r, "Public keyset URL", apr_pstrcat(r->pool, base, "/jwks", NULL));
    paste_row(r, "LTI 1.1 Tool URL", apr_pstrcat(r->pool, base, "/lti11", NULL));
    ap_rputs("</table></div>\n", r);

    ap_rvputs(r, "<h2 id=\"counts\">", ptech_esc(r->pool, ptech_msg(lang, "admin_counts")),
              "</h2>\n", NULL);
    if (counts->nelts == 0) {
        ap_rvputs(r, "<p>", ptech_esc(r->pool, ptech_msg(lang, "admin_none")), "</p>\n", NULL);
    }
    else {
        ap_rvputs(r, "<div class=\"table-wrap\"><table class=\"counts\">\n<tr><th>",
                  ptech_esc(r->pool, ptech_msg(lang, "admin_reason")), "</th><th>",
                  ptech_esc(r->pool, ptech_msg(lang, "admin_count")), "</th><th>",
                  ptech_esc(r->pool, ptech_msg(lang, "admin_last")), "</th><th>",
                  ptech_esc(r->pool, ptech_msg(lang, "admin_meaning")), "</th></tr>\n", NULL);
        for (int i = 0; i < counts->nelts; i++) {
            const lti_audit_count_t *c = &APR_ARRAY_IDX(counts, i, lti_audit_count_t);
            const char *words = plain_words(lang, c->reason);

            ap_rvputs(r, "<tr><td><code>", ptech_esc(r->pool, c->reason), "</code></td><td>",
                      apr_psprintf(r->pool, "%" APR_INT64_T_FMT, (apr_int64_t)c->count),
                      "</td><td>", iso_time(r->pool, c->last), "</td><td>",
                      ptech_esc(r->pool, words ? words : ptech_msg(lang, "admin_see_detail")),
                      "</td></tr>\n", NULL);
        }
        ap_rputs("</table></div>\n", r);
    }

    ap_rvputs(r, "<h2 id=\"recent\">", ptech_esc(r->pool, ptech_msg(lang, "admin_recent")),
              "</h2>\n", NULL);
    if (recent->nelts == 0) {
        ap_rvputs(r, "<p>", ptech_esc(r->pool, ptech_msg(lang, "admin_none")), "</p>\n", NULL);
    }
    else {
        ap_rvputs(r, "<div class=\"table-wrap\"><table class=\"recent\">\n<tr><th>",
                  ptech_esc(r->pool, ptech_msg(lang, "admin_when")), "</th><th>",
                  ptech_esc(r->pool, ptech_msg(lang, "admin_reason")), "</th><th>",
                  ptech_esc(r->pool, ptech_msg(lang, "admin_meaning")), "</th><th>",
                  ptech_esc(r->pool, ptech_msg(lang, "admin_detail")), "</th><th>",
                  ptech_esc(r->pool, ptech_msg(lang, "status")), "</th><th>",
                  ptech_esc(r->pool, ptech_msg(lang, "admin_where")), "</th></tr>\n", NULL);
        for (int i = 0; i < recent->nelts; i++) {
            const lti_audit_t *a = &APR_ARRAY_IDX(recent, i, lti_audit_t);
            const char *words = plain_words(lang, a->reason);

            ap_rvputs(r, "<tr><td>", iso_time(r->pool, a->at), "</td><td><code>",
                      ptech_esc(r->pool, a->reason), "</code></td><td>",
                      ptech_esc(r->pool, words ? words : ptech_msg(lang, "admin_see_detail")),
                      "</td><td>", ptech_esc(r->pool, a->detail), "</td><td>",
                      apr_itoa(r->pool, a->http_status), "</td><td>",
                      ptech_esc(r->pool, a->scope), " ", ptech_esc(r->pool, a->remote),
                      "</td></tr>\n", NULL);
        }
        ap_rputs("</table></div>\n", r);
    }
    return ptech_page_end(r);
}
