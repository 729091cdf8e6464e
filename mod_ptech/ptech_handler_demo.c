/* ptech_handler_demo.c -- the demo LMS (PTechDemoPlatform On only): it launches the tool
 * through the real endpoints with real signed LTI 1.1 forms, so the whole loop can be seen
 * in a browser without a Moodle. */
#include <apr_strings.h>

#include "ptech.h"

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

lti_status_t ptech_demo_setup(lti_store_t *store, apr_pool_t *p, lti_err_t *err)
{
    lti_consumer_t c;
    const char *secret;
    lti_status_t rv = lti_store_consumer_get(store, p, DEMO_KEY, &c, err);

    if (rv != LTI_ERR_NOT_FOUND) {
        return rv;
    }
    secret = lti_random_hex(p, 24);
    if (secret == NULL) {
        return lti_err_set(err, LTI_ERR_CRYPTO, "random_failed", "no randomness available");
    }
    rv = lti_store_consumer_add(store, DEMO_KEY, secret, 0, ptech_now(), err);
    return rv == LTI_ERR_EXISTS ? LTI_OK : rv;
}

static int demo_home(request_rec *r)
{
    const lti_catalog_t *cat = ptech_cfg(r->server)->catalog;

    ptech_page_begin(r, "fr", "Démo LMS", NULL);
    ap_rputs("<h1>Démo LMS (LTI 1.1)</h1>\n"
             "<p>Cette page joue le rôle de Moodle : elle lance l'outil par un formulaire "
             "LTI 1.1 signé (OAuth 1.0a HMAC-SHA1), comme le fait une activité « Outil "
             "externe ».</p>\n"
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
             "</select></p>\n<p><button type=\"submit\">Lancer (LTI 1.1)</button></p>\n"
             "</form>\n<iframe name=\"tool\" title=\"Outil Open P-Tech\"></iframe>\n", r);
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

int ptech_handle_demo(request_rec *r, const char *rest)
{
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
    return ptech_error_page(r, HTTP_NOT_FOUND, "fr", "There is no such demo page.",
                            "not_found", 0);
}
