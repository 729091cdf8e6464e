/* ptech_handler_demo.c -- the demo LMS (PTechDemoPlatform On only): it launches the tool
 * through the real endpoints with real signed LTI 1.1 forms, so the whole loop can be seen
 * in a browser without a Moodle. */
#include <stdlib.h>
#include <time.h>

#include <apr_strings.h>

#include "ptech.h"
#include "ptech_session.h"

APLOG_USE_MODULE(ptech);

#define DEMO_KEY "ptech-demo"
#define DEMO_GUID "ptech-demo-lms"

typedef struct persona_t {
    const char *id, *user_id, *given, *family, *email, *roles, *locale, *label;
} persona_t;

static const persona_t personas[] = {
    {"student-fr", "demo-s1", "Youssef", "Benali", "youssef.benali@etu.univh2c.ma", "Learner",
     "fr-FR", "Youssef Benali — étudiant (français)"},
    {"student-ar", "demo-s2", "فاطمة الزهراء", "العمراني", "fatima.elamrani@etu.univh2c.ma",
     "Learner", "ar-MA", "فاطمة الزهراء العمراني — طالبة (العربية)"},
    {"student-en", "demo-s3", "Amina", "Haddad", "amina.haddad@etu.univh2c.ma", "Learner", "en",
     "Amina Haddad — student (English)"},
    {"instructor", "demo-t1", "Nadia", "Tazi", "nadia.tazi@univh2c.ma", "Instructor", "fr-FR",
     "Nadia Tazi — enseignante"},
    {"facilitator", "demo-t2", "Karim", "Alaoui", "karim.alaoui@univh2c.ma",
     "urn:lti:role:ims/lis/TeachingAssistant", "fr-FR", "Karim Alaoui — facilitateur (doctorant)"},
};

#define DEMO_CLIENT_ID "ptech-demo"
#define DEMO_DEPLOYMENT "1"
#define DEMO_KEY_SETTING "demo.platform_key"

/* The demo platform's issuer: the tool's public URL + /ptech/demo. */
static const char *demo_issuer(apr_pool_t *p, const char *base)
{
    return apr_pstrcat(p, base, PTECH_PREFIX, "/demo", NULL);
}

lti_status_t ptech_demo_setup(lti_store_t *store, apr_pool_t *p, const ptech_srv_cfg *c,
                              lti_err_t *err)
{
    lti_consumer_t cons;
    lti_platform_t pf;
    lti_keypair_t kp;
    const char *secret, *iss, *value;
    json_t *o;
    char *text;
    lti_status_t rv = lti_store_consumer_get(store, p, DEMO_KEY, &cons, err);

    if (rv == LTI_ERR_NOT_FOUND) {
        if ((secret = lti_random_hex(p, 24)) == NULL) {
            return lti_err_set(err, LTI_ERR_CRYPTO, "random_failed", "no randomness available");
        }
        rv = lti_store_consumer_add(store, DEMO_KEY, secret, 0, ptech_now(), err);
    }
    if (rv != LTI_OK && rv != LTI_ERR_EXISTS) {
        return rv;
    }
    if (c->public_url == NULL) {
        lti_log(LTI_LOG_WARN, "demo platform: no PTechPublicURL, so no LTI 1.3 demo launches");
        return LTI_OK;
    }
    /* LTI 1.3: the demo LMS signs with its own key, published at /ptech/demo/jwks. */
    if (lti_store_setting_get(store, p, DEMO_KEY_SETTING, &value, err) == LTI_ERR_NOT_FOUND) {
        if ((rv = lti_keypair_generate(p, &kp, err)) != LTI_OK) {
            return rv;
        }
        o = json_pack("{s:s, s:s, s:s}", "kid", kp.kid, "jwk", kp.public_jwk, "sealed",
                      lti_seal(p, c->secret_key, DEMO_KEY_SETTING, kp.private_pem,
                               strlen(kp.private_pem), err));
        text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (text == NULL) {
            return lti_err_set(err, LTI_ERR_CRYPTO, "demo_key", "cannot make the demo key");
        }
        rv = lti_store_setting_add(store, DEMO_KEY_SETTING, text, ptech_now(), err);
        free(text);
        if (rv != LTI_OK && rv != LTI_ERR_EXISTS) {
            return rv;
        }
    }
    iss = demo_issuer(p, c->public_url);
    memset(&pf, 0, sizeof(pf));
    pf.issuer = iss;
    pf.client_id = DEMO_CLIENT_ID;
    pf.auth_url = apr_pstrcat(p, iss, "/auth", NULL);
    pf.token_url = apr_pstrcat(p, iss, "/token", NULL);
    pf.jwks_url = apr_pstrcat(p, iss, "/jwks", NULL);
    pf.deployments = apr_array_make(p, 1, sizeof(const char *));
    APR_ARRAY_PUSH(pf.deployments, const char *) = DEMO_DEPLOYMENT;
    rv = lti_store_platform_add(store, &pf, ptech_now(), err);
    return rv == LTI_ERR_EXISTS ? LTI_OK : rv;
}

/* The demo platform key: kid, public JWK text and private PEM. */
static lti_status_t demo_key(request_rec *r, const char **kid, const char **jwk,
                             const char **pem, lti_err_t *err)
{
    lti_store_t *store = ptech_store(r);
    const char *value;
    json_t *o;
    lti_status_t rv;

    if (store == NULL) {
        return lti_err_set(err, LTI_ERR_STORE, "store_unavailable", "no store");
    }
    if ((rv = lti_store_setting_get(store, r->pool, DEMO_KEY_SETTING, &value, err)) != LTI_OK) {
        return rv;
    }
    if ((o = json_loads(value, 0, NULL)) == NULL) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "demo_key", "the demo key is damaged");
    }
    *kid = apr_pstrdup(r->pool, json_string_value(json_object_get(o, "kid")));
    *jwk = apr_pstrdup(r->pool, json_string_value(json_object_get(o, "jwk")));
    rv = pem ? lti_unseal(r->pool, ptech_cfg(r->server)->secret_key, DEMO_KEY_SETTING,
                          json_string_value(json_object_get(o, "sealed")), pem, NULL, err)
             : LTI_OK;
    json_decref(o);
    return rv;
}

/* The grades the demo LMS received (its gradebook), newest first. */
static void demo_grades_table(request_rec *r)
{
    lti_store_t *store = ptech_store(r);
    apr_array_header_t *grades = NULL;
    lti_err_t err;

    ap_rputs("<h2>Carnet de notes de la démo</h2>\n", r);
    if (store == NULL || lti_store_demo_grade_list(store, r->pool, &grades, &err) != LTI_OK
        || grades->nelts == 0) {
        ap_rputs("<p id=\"demo-grades\">Aucune note reçue pour l'instant : importez des "
                 "résultats (<code>ptechctl progress import</code>) pour un utilisateur qui a "
                 "lancé l'outil.</p>\n", r);
        return;
    }
    ap_rputs("<table id=\"demo-grades\">\n<thead><tr><th>Utilisateur et activité</th>"
             "<th>Note</th><th>Reçue (UTC)</th><th>Envois</th><th>Service</th></tr></thead>"
             "\n<tbody>\n", r);
    for (int i = 0; i < grades->nelts; i++) {
        const lti_demo_grade_t *g = &APR_ARRAY_IDX(grades, i, lti_demo_grade_t);
        char when[32] = "";
        time_t t = (time_t)g->received;
        struct tm tm;

        if (gmtime_r(&t, &tm) != NULL) {
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        }
        ap_rvputs(r, "<tr><td>", ptech_esc(r->pool, g->label), "</td><td class=\"score\">",
                  apr_psprintf(r->pool, "%.2f %%", g->score * 100.0), "</td><td>", when,
                  "</td><td>", apr_itoa(r->pool, g->count), "</td><td>",
                  strcmp(g->via, "lti11") == 0 ? "Basic Outcomes (LTI 1.1)" : "AGS (LTI 1.3)",
                  "</td></tr>\n", NULL);
    }
    ap_rputs("</tbody>\n</table>\n", r);
}

static int demo_home(request_rec *r)
{
    const lti_catalog_t *cat = ptech_cfg(r->server)->catalog;

    ptech_page_begin(r, "fr", "Démo LMS", NULL);
    ap_rputs("<h1>Démo LMS</h1>\n"
             "<p>Cette page joue le rôle de Moodle : elle lance l'outil par un formulaire "
             "LTI 1.1 signé (OAuth 1.0a HMAC-SHA1), ou en LTI 1.3 (connexion OIDC, puis un "
             "id_token signé RS256 par la démo), comme une activité « Outil externe ».</p>\n"
             "<form class=\"card\" method=\"get\" action=\"" PTECH_PREFIX "/demo/launch\" "
             "target=\"tool\">\n<p><label for=\"persona\">Utilisateur</label><br>\n"
             "<select id=\"persona\" name=\"persona\">\n", r);
    for (size_t i = 0; i < sizeof(personas) / sizeof(personas[0]); i++) {
        ap_rvputs(r, "<option value=\"", personas[i].id, "\">",
                  ptech_esc(r->pool, personas[i].label), "</option>\n", NULL);
    }
    ap_rputs("</select></p>\n<p><label for=\"course\">Paramètre personnalisé "
             "<code>course</code></label><br>\n<select id=\"course\" name=\"course\">\n"
             "<option value=\"\">(aucun : l'enseignant choisit)</option>\n", r);
    for (int i = 0; cat && i < cat->ncourses; i++) {
        ap_rvputs(r, "<option value=\"", ptech_esc(r->pool, cat->courses[i].id), "\">",
                  ptech_esc(r->pool, cat->courses[i].title.fr), "</option>\n", NULL);
    }
    ap_rputs("</select></p>\n<p><label for=\"link\">Activité (resource_link_id)</label><br>\n"
             "<select id=\"link\" name=\"link\"><option value=\"1\">Activité 1</option>"
             "<option value=\"2\">Activité 2</option><option value=\"3\">Activité 3</option>"
             "</select></p>\n<p><button type=\"submit\">Lancer (LTI 1.1)</button>\n"
             "<button type=\"submit\" formaction=\"" PTECH_PREFIX "/demo/launch13\">"
             "Lancer (LTI 1.3)</button></p>\n"
             "</form>\n<iframe name=\"tool\" title=\"Outil Open P-Tech\"></iframe>\n", r);
    demo_grades_table(r);
    return ptech_page_end(r);
}

static const persona_t *find_persona(const char *id)
{
    for (size_t i = 0; id && i < sizeof(personas) / sizeof(personas[0]); i++) {
        if (strcmp(personas[i].id, id) == 0) {
            return &personas[i];
        }
    }
    return NULL;
}

/* A Moodle-shaped launch form, signed now, posted by a tiny script (or the button). */
static int demo_launch(request_rec *r)
{
    apr_array_header_t *q = lti_kv_make(r->pool, 8), *params = lti_kv_make(r->pool, 48);
    const char *base = ptech_base_url(r);
    const char *url = apr_pstrcat(r->pool, base, PTECH_PREFIX, "/lti11", NULL);
    const persona_t *who;
    const char *course, *link;
    lti_store_t *store = ptech_store(r);
    lti_consumer_t c;
    lti_err_t err;

    if (store == NULL) {
        return ptech_error_page(r, HTTP_SERVICE_UNAVAILABLE, "fr", "The store is not available.",
                                "store_unavailable", 0);
    }
    if (r->args != NULL
        && lti_form_parse(r->pool, r->args, strlen(r->args), 16, q, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, "fr", 0);
    }
    who = find_persona(lti_kv_get(q, "persona"));
    course = lti_kv_get(q, "course");
    link = lti_kv_get(q, "link");
    if (who == NULL || link == NULL || strspn(link, "0123456789") != strlen(link)
        || *link == '\0') {
        return ptech_error_page(r, HTTP_BAD_REQUEST, "fr", "Choose a user and an activity.",
                                "demo_bad_request", 0);
    }
    if (lti_store_consumer_get(store, r->pool, DEMO_KEY, &c, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, "fr", 0);
    }
    lti_kv_add(params, "lti_message_type", "basic-lti-launch-request");
    lti_kv_add(params, "lti_version", "LTI-1p0");
    lti_kv_add(params, "resource_link_id", link);
    lti_kv_add(params, "resource_link_title", apr_pstrcat(r->pool, "Activité ", link, NULL));
    lti_kv_add(params, "context_id", "demo-course-1");
    lti_kv_add(params, "context_label", "OPT101");
    lti_kv_add(params, "context_title", "Open P-Tech — Casablanca (démo)");
    lti_kv_add(params, "context_type", "CourseSection");
    lti_kv_add(params, "user_id", who->user_id);
    lti_kv_add(params, "roles", who->roles);
    lti_kv_add(params, "lis_person_name_given", who->given);
    lti_kv_add(params, "lis_person_name_family", who->family);
    lti_kv_add(params, "lis_person_name_full",
               apr_pstrcat(r->pool, who->given, " ", who->family, NULL));
    lti_kv_add(params, "lis_person_contact_email_primary", who->email);
    lti_kv_add(params, "launch_presentation_locale", who->locale);
    lti_kv_add(params, "launch_presentation_document_target", "iframe");
    lti_kv_add(params, "launch_presentation_return_url",
               apr_pstrcat(r->pool, base, PTECH_PREFIX, "/demo", NULL));
    lti_kv_add(params, "lis_result_sourcedid",
               apr_pstrcat(r->pool, "demo:", link, ":", who->user_id, NULL));
    lti_kv_add(params, "lis_outcome_service_url",
               apr_pstrcat(r->pool, base, PTECH_PREFIX, "/demo/outcomes", NULL));
    lti_kv_add(params, "tool_consumer_instance_guid", DEMO_GUID);
    lti_kv_add(params, "tool_consumer_info_product_family_code", "moodle");
    lti_kv_add(params, "ext_lms", "moodle-2");
    if (course != NULL && *course != '\0') {
        lti_kv_add(params, "custom_course", course);
    }
    if (lti_oauth1_sign(r->pool, "POST", url, params, DEMO_KEY, c.secret, ptech_now(), &err)
        != LTI_OK) {
        return ptech_lti_error(r, &err, "fr", 0);
    }
    ptech_page_begin(r, "fr", "Lancement", NULL);
    ap_rvputs(r, "<form id=\"autosubmit\" method=\"post\" action=\"", ptech_esc(r->pool, url),
              "\">\n", NULL);
    for (int i = 0; i < params->nelts; i++) {
        const lti_kv_t *kv = &APR_ARRAY_IDX(params, i, lti_kv_t);

        ap_rvputs(r, "<input type=\"hidden\" name=\"", ptech_esc(r->pool, kv->key),
                  "\" value=\"", ptech_esc(r->pool, kv->val), "\">\n", NULL);
    }
    ap_rputs("<button type=\"submit\">Lancer l'outil</button>\n</form>\n"
             "<script src=\"" PTECH_PREFIX "/static/autosubmit.js\"></script>\n", r);
    return ptech_page_end(r);
}

/* The persona, course and link of a demo launch from the query string. */
static int demo_query(request_rec *r, const persona_t **who, const char **course,
                      const char **link)
{
    apr_array_header_t *q = lti_kv_make(r->pool, 8);

    if (r->args != NULL
        && lti_form_parse(r->pool, r->args, strlen(r->args), 16, q, NULL) != LTI_OK) {
        return 0;
    }
    *who = find_persona(lti_kv_get(q, "persona"));
    *course = lti_kv_get(q, "course");
    *link = lti_kv_get(q, "link");
    return *who != NULL && *link != NULL && **link != '\0'
           && strspn(*link, "0123456789") == strlen(*link)
           && (*course == NULL || strspn(*course, "abcdefghijklmnopqrstuvwxyz0123456789-")
                                      == strlen(*course));
}

/* LTI 1.3, step 1: the platform's third-party-initiated login, to the tool's /ptech/login. */
static int demo_launch13(request_rec *r)
{
    const char *base = ptech_base_url(r), *course, *link;
    const persona_t *who;

    if (!demo_query(r, &who, &course, &link)) {
        return ptech_error_page(r, HTTP_BAD_REQUEST, "fr", "Choose a user and an activity.",
                                "demo_bad_request", 0);
    }
    return ptech_redirect(r, apr_pstrcat(r->pool, base, PTECH_PREFIX, "/login?iss=",
                                         lti_pct_encode(r->pool, demo_issuer(r->pool, base)),
                                         "&login_hint=", who->id, "&target_link_uri=",
                                         lti_pct_encode(r->pool, apr_pstrcat(r->pool, base,
                                                        PTECH_PREFIX, "/launch", NULL)),
                                         "&lti_message_hint=",
                                         lti_pct_encode(r->pool, apr_pstrcat(r->pool, link, "|",
                                                        course ? course : "", NULL)),
                                         "&client_id=" DEMO_CLIENT_ID
                                         "&lti_deployment_id=" DEMO_DEPLOYMENT, NULL));
}

#define ROLE_URI "http://purl.imsglobal.org/vocab/lis/v2/membership"

/* LTI 1.3, step 2: the platform's authorization endpoint: checks the tool's request, signs
 * an id_token like Moodle's and posts it back with the state. */
static int demo_auth(request_rec *r)
{
    apr_array_header_t *q = lti_kv_make(r->pool, 16);
    const char *base = ptech_base_url(r), *iss = demo_issuer(r->pool, base);
    const char *redirect = apr_pstrcat(r->pool, base, PTECH_PREFIX, "/launch", NULL);
    const char *hint, *bar, *link, *course, *kid, *jwk, *pem, *token, *role;
    const persona_t *who;
    json_t *claims;
    int64_t now = ptech_now();
    lti_err_t err;

    if (r->args == NULL
        || lti_form_parse(r->pool, r->args, strlen(r->args), 32, q, &err) != LTI_OK) {
        return ptech_error_page(r, HTTP_BAD_REQUEST, "fr", "Bad authorization request.",
                                "demo_auth", 0);
    }
    hint = lti_kv_get(q, "lti_message_hint");
    who = find_persona(lti_kv_get(q, "login_hint"));
    if (who == NULL || hint == NULL || (bar = strchr(hint, '|')) == NULL
        || !lti_ct_streq(lti_kv_get(q, "client_id"), DEMO_CLIENT_ID)
        || !lti_ct_streq(lti_kv_get(q, "redirect_uri"), redirect)
        || !lti_ct_streq(lti_kv_get(q, "response_type"), "id_token")
        || !lti_ct_streq(lti_kv_get(q, "scope"), "openid")
        || lti_kv_get(q, "state") == NULL || lti_kv_get(q, "nonce") == NULL) {
        return ptech_error_page(r, HTTP_BAD_REQUEST, "fr", "The tool's authorization request "
                                "is not what the demo platform expects.", "demo_auth", 0);
    }
    link = apr_pstrndup(r->pool, hint, bar - hint);
    course = bar[1] ? bar + 1 : NULL;
    if (demo_key(r, &kid, &jwk, &pem, &err) != LTI_OK) {
        return ptech_lti_error(r, &err, "fr", 0);
    }
    role = strcmp(who->roles, "Instructor") == 0 ? ROLE_URI "#Instructor"
           : strcmp(who->roles, "Learner") == 0  ? ROLE_URI "#Learner"
                                                 : ROLE_URI "/Instructor#TeachingAssistant";
    claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s,"
                       " s:{s:s, s:s}, s:[s], s:{s:s, s:s, s:s, s:[s]},"
                       " s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}}",
                       "iss", iss, "aud", DEMO_CLIENT_ID, "sub", who->user_id,
                       "iat", (json_int_t)now, "exp", (json_int_t)(now + 60),
                       "nonce", lti_kv_get(q, "nonce"),
                       "given_name", who->given, "family_name", who->family,
                       "name", apr_pstrcat(r->pool, who->given, " ", who->family, NULL),
                       "email", who->email,
                       LTI_CLAIM "deployment_id", DEMO_DEPLOYMENT,
                       LTI_CLAIM "message_type", "LtiResourceLinkRequest",
                       LTI_CLAIM "version", "1.3.0",
                       LTI_CLAIM "resource_link", "id", apr_pstrcat(r->pool, "13-", link, NULL),
                       "title", apr_pstrcat(r->pool, "Activité ", link, " (LTI 1.3)", NULL),
                       LTI_CLAIM "roles", role,
                       LTI_CLAIM "context", "id", "demo-course-1", "label", "OPT101",
                       "title", "Open P-Tech — Casablanca (démo)", "type", "CourseSection",
                       LTI_CLAIM "launch_presentation", "locale", who->locale,
                       "document_target", "iframe", "return_url",
                       apr_pstrcat(r->pool, base, PTECH_PREFIX, "/demo", NULL),
                       LTI_CLAIM "tool_platform", "guid", DEMO_GUID, "name", "Démo LMS",
                       "product_family_code", "moodle");
    if (claims == NULL) {
        return ptech_error_page(r, HTTP_INTERNAL_SERVER_ERROR, "fr", "Cannot build the token.",
                                "demo_auth", 0);
    }
    json_object_set_new(claims, LTI_CLAIM "target_link_uri", json_string(redirect));
    if (course != NULL) {
        json_object_set_new(claims, LTI_CLAIM "custom", json_pack("{s:s}", "course", course));
    }
    token = lti_jwt_sign(r->pool, kid, pem, claims, &err);
    json_decref(claims);
    if (token == NULL) {
        return ptech_lti_error(r, &err, "fr", 0);
    }
    ptech_page_begin(r, "fr", "Connexion", NULL);
    ap_rvputs(r, "<form id=\"autosubmit\" method=\"post\" action=\"",
              ptech_esc(r->pool, redirect), "\">\n<input type=\"hidden\" name=\"id_token\" "
              "value=\"", ptech_esc(r->pool, token), "\">\n<input type=\"hidden\" "
              "name=\"state\" value=\"", ptech_esc(r->pool, lti_kv_get(q, "state")), "\">\n"
              "<button type=\"submit\">Lancer l'outil</button>\n</form>\n<script src=\""
              PTECH_PREFIX "/static/autosubmit.js\"></script>\n", NULL);
    return ptech_page_end(r);
}

/* The demo platform's public keys. */
static int demo_jwks(request_rec *r)
{
    const char *kid, *jwk, *doc;
    lti_err_t err;

    if (demo_key(r, &kid, &jwk, NULL, &err) != LTI_OK
        || (doc = lti_jwks_document(r->pool, &jwk, 1, &err)) == NULL) {
        return ptech_lti_error(r, &err, "fr", 0);
    }
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "max-age=300");
    ap_rputs(doc, r);
    return OK;
}

/* Who and which activity a demo sourcedid ("demo:<link>:<user id>") stands for. */
static const char *demo_target_label(apr_pool_t *p, const char *sourcedid)
{
    const char *link = sourcedid + 5, *colon = strchr(link, ':');

    if (strncmp(sourcedid, "demo:", 5) != 0 || colon == NULL) {
        return sourcedid;
    }
    for (size_t i = 0; i < sizeof(personas) / sizeof(personas[0]); i++) {
        if (strcmp(personas[i].user_id, colon + 1) == 0) {
            return apr_psprintf(p, "%s %s — Activité %.*s", personas[i].given,
                                personas[i].family, (int)(colon - link), link);
        }
    }
    return sourcedid;
}

static int pox_reply(request_rec *r, const char *major, const char *description,
                     const lti_pox_req_t *req)
{
    const char *body = lti_pox_response(r->pool, major, description,
                                        req ? req->message_id : NULL,
                                        req ? req->op : LTI_POX_REPLACE,
                                        lti_random_hex(r->pool, 8));

    if (body == NULL) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* As Moodle: HTTP 200 for failures too, the outcome is in imsx_codeMajor. */
    ap_set_content_type(r, "application/xml; charset=utf-8");
    ap_rputs(body, r);
    return OK;
}

/* The demo LMS's LTI 1.1 outcomes service (lis_outcome_service_url of its launches): checks
 * the request's OAuth 1.0a signature and body hash with the demo consumer's secret, records
 * a replaceResult's score in its gradebook, answers as Moodle does.  (No nonce store: a
 * replayed replaceResult sets the same grade again.) */
static int demo_outcomes(request_rec *r)
{
    lti_store_t *store = ptech_store(r);
    apr_array_header_t *params = lti_kv_make(r->pool, 12);
    const char *url = apr_pstrcat(r->pool, ptech_base_url(r), PTECH_PREFIX, "/demo/outcomes",
                                  NULL);
    const char *body, *hash, *ts;
    apr_size_t len = 0;
    lti_consumer_t c;
    lti_pox_req_t req;
    lti_demo_grade_t g;
    lti_err_t err;
    int64_t now = ptech_now();

    if (store == NULL) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (ptech_read_body(r, LTI_POX_MAX_BYTES, &body, &len, &err) != LTI_OK) {
        return pox_reply(r, "failure", err.text, NULL);
    }
    if (lti_oauth1_parse_header(r->pool, apr_table_get(r->headers_in, "Authorization"), params,
                                &err) != LTI_OK
        || !lti_ct_streq(lti_kv_get(params, "oauth_consumer_key"), DEMO_KEY)
        || lti_store_consumer_get(store, r->pool, DEMO_KEY, &c, &err) != LTI_OK
        || (hash = lti_kv_get(params, "oauth_body_hash")) == NULL
        || !lti_ct_streq(hash, lti_oauth1_body_hash(r->pool, body, len))
        || (ts = lti_kv_get(params, "oauth_timestamp")) == NULL
        || llabs((long long)(now - apr_atoi64(ts))) > 300
        || lti_oauth1_verify(r->pool, "POST", url, params, c.secret, &err) != LTI_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "PT00070: demo outcomes: a request "
                      "whose OAuth signature, body hash or timestamp is not valid");
        return pox_reply(r, "failure", "Message signature not valid", NULL);
    }
    if (lti_pox_parse_request(r->pool, body, len, &req, &err) != LTI_OK) {
        return pox_reply(r, "failure", err.text, NULL);
    }
    if (req.op != LTI_POX_REPLACE) {
        return pox_reply(r, "unsupported", "The demo keeps replaceResult only", &req);
    }
    memset(&g, 0, sizeof(g));
    g.target = req.sourcedid;
    g.via = "lti11";
    g.label = demo_target_label(r->pool, req.sourcedid);
    g.score = req.score;
    g.received = now;
    if (lti_store_demo_grade_put(store, &g, &err) != LTI_OK) {
        /* Not stored: the tool retries (Moodle answers a failure the same way). */
        return pox_reply(r, "failure", "The demo could not store the grade", &req);
    }
    return pox_reply(r, "success", "Grade replace response", &req);
}

int ptech_handle_demo(request_rec *r, const char *rest)
{
    if (strcmp(rest, "/outcomes") == 0) {
        if (r->method_number != M_POST) {
            apr_table_setn(r->headers_out, "Allow", "POST");
            return HTTP_METHOD_NOT_ALLOWED;
        }
        return demo_outcomes(r);
    }
    if (r->method_number != M_GET) {
        apr_table_setn(r->headers_out, "Allow", "GET");
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (rest[0] == '\0' || strcmp(rest, "/") == 0) {
        return demo_home(r);
    }
    if (strcmp(rest, "/launch") == 0) {
        return demo_launch(r);
    }
    if (strcmp(rest, "/launch13") == 0) {
        return demo_launch13(r);
    }
    if (strcmp(rest, "/auth") == 0) {
        return demo_auth(r);
    }
    if (strcmp(rest, "/jwks") == 0) {
        return demo_jwks(r);
    }
    return ptech_error_page(r, HTTP_NOT_FOUND, "fr", "There is no such demo page.",
                            "not_found", 0);
}
