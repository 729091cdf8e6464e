/* ptech.h -- shared declarations of the httpd glue (mod_ptech/ only). */
#ifndef PTECH_H
#define PTECH_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>

#include "lti.h"
#include "lti_http.h"
#include "lti_jose.h"
#include "lti_platform.h"

#define PTECH_UNSET (-1)
#define PTECH_PREFIX "/ptech"
#define PTECH_HANDLER "ptech-handler"
#define PTECH_SESSION_COOKIE "ptech_sid"
/* Largest request body we read (LTI launches are a few KB; Moodle's biggest ~ 8 KB). */
#define PTECH_MAX_BODY (64 * 1024)
#define PTECH_MAX_PARAMS 512

typedef struct ptech_srv_cfg {
    const char *store_dsn;
    const char *public_url;
    const char *secret_key_file;
    const char *catalog_file;
    int64_t timestamp_window, clock_leeway, state_ttl, session_ttl;
    int64_t jwks_cache_ttl, key_overlap;
    int64_t outbox_poll, outbox_retry_base, outbox_max_age;
    int64_t http_timeout;
    const char *ca_file, *http_proxy;
    apr_array_header_t *badge_issuer_hosts;     /* const char * */
    apr_array_header_t *registration_issuers;   /* const char * */
    int registration, auto_deployments, allow_insecure_loopback, demo_platform;

    /* Filled at start-up (post_config), shared by the children after fork. */
    int secret_key_set;
    unsigned char secret_key[32];
    lti_catalog_t *catalog;
} ptech_srv_cfg;

extern module AP_MODULE_DECLARE_DATA ptech_module;
extern const command_rec ptech_cmds[];

void *ptech_create_srv_cfg(apr_pool_t *p, server_rec *s);
void *ptech_merge_srv_cfg(apr_pool_t *p, void *basev, void *addv);

/* Getters that apply the defaults of SPEC.md to unset values. */
int64_t ptech_cfg_timestamp_window(const ptech_srv_cfg *c);
int64_t ptech_cfg_session_ttl(const ptech_srv_cfg *c);
/* A duration directive's value, or def when unset. */
static inline int64_t ptech_cfg_dur(int64_t v, int64_t def)
{
    return v != PTECH_UNSET ? v : def;
}
int ptech_cfg_flag(int v);

static inline ptech_srv_cfg *ptech_cfg(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &ptech_module);
}

/* The child's store for this server (opened after fork), or NULL (logged). */
lti_store_t *ptech_store(request_rec *r);

/* The child's parsed platform keys for that store (NULL without a store). */
lti_keycache_t *ptech_keycache(request_rec *r);

/* Seconds since the epoch now. */
int64_t ptech_now(void);

/* ---- pages (ptech_pages.c) ---- */

/* The HTTP status for a library status (one table for the whole module). */
int ptech_http_status(lti_status_t status);

/* HTML-escapes s (NULL gives ""). */
const char *ptech_esc(apr_pool_t *p, const char *s);

/* Page languages: "fr", "ar", "en". */
typedef enum { PTECH_MSG_TITLE_ERROR, PTECH_MSG__COUNT } ptech_msg_id;

/* Starts an HTML page: headers (type, CSP with frame-ancestors, no caching) and the head;
 * frame_origin is the LMS origin allowed to frame it (NULL: any). */
void ptech_page_begin(request_rec *r, const char *lang, const char *title,
                      const char *frame_origin);

/* A note (r->notes) naming one more origin the page's forms may post to (CSP form-action):
 * set it before ptech_page_begin. */
#define PTECH_NOTE_FORM_ACTION "ptech-form-action"

/* Ends the page begun by ptech_page_begin and returns OK. */
int ptech_page_end(request_rec *r);

/* Renders the one error page for status (a number like 401) naming the problem in words
 * (err->text) and its reason code, records a refusal in the audit log when audit is set,
 * and returns OK (the status is set on r). */
int ptech_error_page(request_rec *r, int status, const char *lang, const char *text,
                     const char *reason, int audit);

/* Same, from a library error. */
int ptech_lti_error(request_rec *r, const lti_err_t *err, const char *lang, int audit);

/* The UI text of key in lang (conf/messages; French, then the key, as fallbacks). */
const char *ptech_msg(const char *lang, const char *key);
/* Parses the built-in message catalogs (post_config). */
int ptech_messages_init(apr_pool_t *pconf, server_rec *s);
/* Draws the badge image the baked PNGs start from (post_config). */
int ptech_badges_init(apr_pool_t *pconf, server_rec *s);

/* The tool's base URL as the LMS sees it (PTechPublicURL, else built from the request). */
const char *ptech_base_url(request_rec *r);

/* Reads the request body (at most max bytes): LTI_ERR_TOO_LARGE above it. */
lti_status_t ptech_read_body(request_rec *r, apr_size_t max, const char **buf,
                             apr_size_t *len, lti_err_t *err);

/* ---- handlers ---- */
int ptech_handle_lti11(request_rec *r);
int ptech_handle_course(request_rec *r, const char *rest);
/* The course page of session s (learner or instructor), as GET /ptech/course shows it. */
int ptech_course_page(request_rec *r, lti_store_t *store, const lti_session_t *s);
int ptech_handle_demo(request_rec *r, const char *rest);
int ptech_handle_static(request_rec *r, const char *rest);
int ptech_handle_login(request_rec *r);
int ptech_handle_launch13(request_rec *r);
int ptech_handle_jwks(request_rec *r);
int ptech_handle_register(request_rec *r);
int ptech_handle_admin(request_rec *r);
/* ---- progress from the course pages (ptech_handler_attest.c) ---- */
/* The person's xAPI account name (made and stored on first use), or NULL (logged). */
const char *ptech_xapi_actor_name(request_rec *r, lti_store_t *store, int64_t person_id);
/* The instructor page's cell with the attestation form for learner l (empty when s may
 * not attest or l is staff). */
void ptech_render_attest(request_rec *r, const lti_session_t *s, const lti_course_t *course,
                         const char *lang, const lti_learner_t *l);
/* The learner page's "simulate progress" card (PTechDemoPlatform On only). */
void ptech_render_simulate(request_rec *r, const lti_session_t *s, const lti_course_t *course,
                           const char *lang);
/* POST /ptech/course/attest and /ptech/course/simulate. */
int ptech_course_attest(request_rec *r, lti_store_t *store, const lti_session_t *s,
                        const lti_catalog_t *cat, const char *lang);
int ptech_course_simulate(request_rec *r, lti_store_t *store, const lti_session_t *s,
                          const lti_catalog_t *cat, const char *lang);

/* The form of a course page POST with its CSRF token checked: OK with *form and
 * *answered 0, or the refusal page already given (*answered 1). */
int ptech_course_form(request_rec *r, const lti_session_t *s, const char *lang,
                      apr_array_header_t **form, int *answered);

/* ---- the dashboard (ptech_dashboard.c) and the learner's pages (ptech_learner.c) ---- */
/* Whether s may see the dashboard (Instructor, TeachingAssistant, Administrator). */
int ptech_dashboard_allowed(const lti_session_t *s);
/* The dashboard of s's link: class summary, export link, per learner progress, score,
 * badge, grade return with "send again", attestation.  Returns OK. */
int ptech_render_dashboard(request_rec *r, lti_store_t *store, const lti_session_t *s,
                           const lti_course_t *course, const char *lang);
/* GET /ptech/course/export.csv and POST /ptech/course/resend. */
int ptech_dashboard_export(request_rec *r, lti_store_t *store, const lti_session_t *s,
                           const lti_course_t *course, const char *lang);
int ptech_dashboard_resend(request_rec *r, lti_store_t *store, const lti_session_t *s,
                           const char *lang);
/* A labelled progress bar "done / total". */
void ptech_render_progress_bar(request_rec *r, const char *lang, int done, int total);
/* A 0..1 score as 0..100 in lang's writing (decimal comma, a point in English). */
const char *ptech_score_text(request_rec *r, const char *lang, double score);
/* The learner's course: title, progress bar, score, certificate link, modules with status
 * and content links (new window, xAPI parameters). */
void ptech_render_learner(request_rec *r, lti_store_t *store, const lti_session_t *s,
                          const lti_course_t *course, const char *lang);
/* GET /ptech/course/certificate: the learner's printable certificate (passed course). */
int ptech_course_certificate(request_rec *r, lti_store_t *store, const lti_session_t *s,
                             const lti_catalog_t *cat, const char *lang);
/* GET /ptech/certificate/ID: the public verification page (no login). */
int ptech_handle_certificate(request_rec *r, const char *id);

/* /ptech/xapi/... (rest: what follows /xapi). */
int ptech_handle_xapi(request_rec *r, const char *rest);
/* Parses and records xAPI statements from provider (the endpoint's and the demo's one
 * path); *ids gets the statement ids (const char *).  A library error otherwise. */
lti_status_t ptech_xapi_apply(request_rec *r, lti_store_t *store, const char *provider,
                              const char *buf, apr_size_t len, apr_array_header_t **ids,
                              lti_err_t *err);
/* GET /ptech/deeplink (the catalog picker) and POST (the choice, answered to the LMS). */
int ptech_handle_deeplink(request_rec *r);
/* Brings the roster of link_pk's course up to date from the platform's NRPS service when
 * the link has the claim and the last sync is old (failures are logged only). */
void ptech_roster_refresh(request_rec *r, lti_store_t *store, int64_t link_pk);
/* After a validated content selection request (1.3 deep linking, 1.1 content-item): keeps
 * dl in the store bound to this browser and answers 303 to the picker. */
int ptech_deeplink_start(request_rec *r, lti_store_t *store, const lti_deeplink_ctx_t *dl);

/* ---- badges (ptech_handler_badges.c) ---- */
/* GET /ptech/badges/REST: issuer, class/COURSE, assertion/ID, assertion/ID.png. */
int ptech_handle_badges(request_rec *r, const char *rest);
/* The learner page's badge card: earned badges, evidence waiting, the IBM badge form. */
void ptech_badges_learner_card(request_rec *r, lti_store_t *store, const lti_session_t *s,
                               const lti_catalog_t *cat, const char *lang);
/* The instructor page's list of IBM badge evidence waiting for approval (none: nothing). */
void ptech_badges_instructor_card(request_rec *r, lti_store_t *store, const lti_session_t *s,
                                  const char *lang);
/* POST /ptech/course/badge (a learner's IBM badge URL) and /ptech/course/badge/decide (an
 * instructor approves or rejects waiting evidence). */
int ptech_badges_submit(request_rec *r, lti_store_t *store, const lti_session_t *s,
                        const lti_catalog_t *cat, const char *lang);
int ptech_badges_decide(request_rec *r, lti_store_t *store, const lti_session_t *s,
                        const lti_catalog_t *cat, const char *lang);

/* Starts the grade return worker of s's store (the index-th store): a mod_watchdog
 * callback.  HTTP_INTERNAL_SERVER_ERROR (logged) without mod_watchdog. */
int ptech_worker_setup(apr_pool_t *pconf, server_rec *s, int index);
void ptech_worker_child_init(apr_pool_t *pchild);

/* The tool keys: makes the current and next keys when the store has none (start-up, and
 * after a rotation for the next one).  LTI_OK or a library error. */
lti_status_t ptech_keys_ensure(lti_store_t *store, apr_pool_t *p, const unsigned char key[32],
                               lti_err_t *err);

/* Makes sure the demo LMS is registered (PTechDemoPlatform On): its LTI 1.1 consumer and,
 * with PTechPublicURL, its LTI 1.3 platform and signing key.  Called at start-up. */
lti_status_t ptech_demo_setup(lti_store_t *store, apr_pool_t *p, const ptech_srv_cfg *c,
                              lti_err_t *err);

#endif
