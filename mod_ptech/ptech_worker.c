/* ptech_worker.c -- the grade return drainer.  A mod_watchdog callback per store, in one
 * child of the httpd (a singleton watchdog); the store's drainer claim makes it one per
 * store across several httpd on the same store, and row leases make a crashed holder's rows
 * come back.  Every PTechOutboxPoll it runs lti_outbox_drain (liblti does the work: LTI 1.1
 * Basic Outcomes and AGS scores, whose access tokens it caches for the worker's life). */
#include <unistd.h>

#include <apr_optional.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <mod_watchdog.h>

#include "ptech.h"

APLOG_USE_MODULE(ptech);

/* Rounds per tick at most, so a long backlog does not hold the watchdog thread forever. */
#define MAX_ROUNDS 16

typedef struct worker_t {
    server_rec *s;
    const char *dsn;
    lti_outbox_cfg_t cfg;
    apr_pool_t *pool;           /* ours, from STARTING to STOPPING */
    apr_pool_t *scratch;        /* cleared every round */
    lti_store_t *store;
    lti_outbox_t *outbox;
    /* The child's end (see worker_child_exit): held by each callback, stop set once. */
    apr_thread_mutex_t *mutex;
    volatile int stop;
    struct worker_t *next;
} worker_t;

/* The workers of this generation's configuration. */
static worker_t *workers;

/* Opens the store and the drainer (again after a failure). */
static int worker_open(worker_t *w)
{
    lti_err_t err;

    if (w->outbox != NULL) {
        return 1;
    }
    if (lti_store_open(w->pool, w->dsn, &w->store, &err) != LTI_OK
        || lti_outbox_create(w->pool, &w->cfg, &w->outbox, &err) != LTI_OK) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, w->s, "PT00061: grade return worker: %s",
                     err.text);
        w->store = NULL;
        w->outbox = NULL;
        return 0;
    }
    return 1;
}

static apr_status_t worker_cb(int state, void *data, apr_pool_t *pool)
{
    worker_t *w = data;

    if (w->mutex != NULL) {
        apr_thread_mutex_lock(w->mutex);
    }
    if (w->stop) {
        /* The child is exiting (worker_child_exit ran): exit() may be tearing the
         * libraries down (OpenSSL, libcurl, SQLite) under this thread, so touch nothing,
         * not even to start: a child stopped right after it started used to crash here. */
        if (w->mutex != NULL) {
            apr_thread_mutex_unlock(w->mutex);
        }
        return APR_SUCCESS;
    }
    switch (state) {
    case AP_WATCHDOG_STATE_STARTING:
        /* mod_watchdog destroys the pool it passes when the call returns: the drainer's
         * life needs its own (a root pool, used by this thread only). */
        apr_pool_create(&w->pool, NULL);
        apr_pool_create(&w->scratch, w->pool);
        {
            char host[256] = "";

            gethostname(host, sizeof(host) - 1);
            w->cfg.owner = apr_psprintf(w->pool, "%s:%ld:%s", host, (long)getpid(),
                                        lti_random_hex(w->pool, 4));
        }
        /* The catalog is the server's, set before the watchdog threads start (mod_ptech's
         * child_init runs before mod_watchdog's). */
        w->cfg.catalog = ptech_cfg(w->s)->catalog;
        worker_open(w);
        break;
    case AP_WATCHDOG_STATE_RUNNING:
        if (w->pool == NULL || !worker_open(w)) {
            break;
        }
        for (int round = 0; round < MAX_ROUNDS && !w->stop; round++) {
            lti_outbox_stats_t st;
            lti_err_t err;

            apr_pool_clear(w->scratch);
            if (lti_outbox_drain(w->outbox, w->store, w->scratch, ptech_now(), &st, &err)
                != LTI_OK || st.leased < w->cfg.batch) {
                break;
            }
        }
        apr_pool_clear(w->scratch);
        break;
    case AP_WATCHDOG_STATE_STOPPING:
        if (w->store != NULL) {
            int released = 0;

            /* Hand the drainer role over now (a claim that expired a second ago), so the
             * child that takes the watchdog over does not wait for it to time out. */
            lti_store_outbox_claim_drainer(w->store, w->cfg.owner, ptech_now(), -1, &released,
                                           NULL);
        }
        if (w->pool != NULL) {
            apr_pool_destroy(w->pool);
            w->pool = NULL;
            w->store = NULL;
            w->outbox = NULL;
        }
        break;
    }
    if (w->mutex != NULL) {
        apr_thread_mutex_unlock(w->mutex);
    }
    return APR_SUCCESS;
}

/* A child that exits (graceful restart, MaxConnectionsPerChild, stop) does not destroy
 * the pool of mod_watchdog's threads: exit() ends them in the middle of a round, and the
 * STOPPING call never comes.  The rows of that round stayed leased and the drainer claim
 * held for lease_ttl (over a minute, 150 s by default), so no other child sent any grade
 * meanwhile.  On the child pool's cleanup: no new round, wait for the current one to end
 * (its rows sent or rescheduled, their leases dropped), then hand the drainer role over. */
static apr_status_t worker_child_exit(void *data)
{
    for (worker_t *w = data; w != NULL; w = w->next) {
        if (w->mutex == NULL) {
            continue;
        }
        w->stop = 1;
        apr_thread_mutex_lock(w->mutex);
        if (w->store != NULL) {
            int released = 0;

            lti_store_outbox_claim_drainer(w->store, w->cfg.owner, ptech_now(), -1, &released,
                                           NULL);
        }
        apr_thread_mutex_unlock(w->mutex);
    }
    return APR_SUCCESS;
}

void ptech_worker_child_init(apr_pool_t *pchild)
{
    /* The mutexes outlive pchild (pconf, never destroyed in a child): the watchdog thread
     * may still tick between pchild's end and exit(). */
    apr_pool_t *p = apr_pool_parent_get(pchild) ? apr_pool_parent_get(pchild) : pchild;

    for (worker_t *w = workers; w != NULL; w = w->next) {
        w->stop = 0;
        if (apr_thread_mutex_create(&w->mutex, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS) {
            w->mutex = NULL;
        }
    }
    apr_pool_cleanup_register(pchild, workers, worker_child_exit, apr_pool_cleanup_null);
}

int ptech_worker_setup(apr_pool_t *pconf, server_rec *s, int index)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_cb;
    ptech_srv_cfg *c = ptech_cfg(s);
    ap_watchdog_t *wd;
    worker_t *w;
    apr_status_t rv;

    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_cb = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (get_instance == NULL || register_cb == NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "PT00060: mod_ptech returns grades "
                     "through mod_watchdog, which is not loaded: add \"LoadModule "
                     "watchdog_module modules/mod_watchdog.so\" before mod_ptech (Debian's "
                     "apache2 has it built in)");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    w = apr_pcalloc(pconf, sizeof(*w));
    w->s = s;
    if (index == 0) {
        workers = NULL;
    }
    w->next = workers;
    workers = w;
    w->dsn = c->store_dsn;
    w->cfg.retry_base = ptech_cfg_dur(c->outbox_retry_base, 30);
    w->cfg.max_age = ptech_cfg_dur(c->outbox_max_age, 7 * 86400);
    w->cfg.max_in_flight = 8;
    w->cfg.batch = 64;
    w->cfg.http.timeout = ptech_cfg_dur(c->http_timeout, 10);
    w->cfg.http.ca_file = c->ca_file;
    w->cfg.http.proxy = c->http_proxy;
    w->cfg.http.allow_insecure_loopback = ptech_cfg_flag(c->allow_insecure_loopback);
    w->cfg.http.max_bytes = 64 * 1024;
    /* AGS signs its token requests with the tool key, sealed under this key. */
    w->cfg.secret_key = c->secret_key_set ? c->secret_key : NULL;
    w->cfg.badge_base = c->public_url;
    /* A row stays ours while a whole round can last: every batch at the timeout. */
    w->cfg.lease_ttl = w->cfg.http.timeout * (w->cfg.batch / w->cfg.max_in_flight + 1) + 60;
    rv = get_instance(&wd, apr_psprintf(pconf, "ptech-outbox-%d", index), 0, 1, pconf);
    if (rv == APR_SUCCESS) {
        rv = register_cb(wd, apr_time_from_sec(ptech_cfg_dur(c->outbox_poll, 2)), w,
                         worker_cb);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "PT00062: cannot start the grade "
                     "return worker for %s", c->store_dsn);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}
