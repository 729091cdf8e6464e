/* ptech_worker.c -- the store's background work: mod_watchdog callbacks per store, each in
 * one child of the httpd (singleton watchdogs).
 * - The grade return drainer: the store's drainer claim makes it one per store across
 *   several httpd on the same store, and row leases make a crashed holder's rows come back.
 *   Every PTechOutboxPoll it runs lti_outbox_drain (liblti does the work: LTI 1.1 Basic
 *   Outcomes and AGS scores, whose access tokens it caches for the worker's life).
 * - The checkpointer: every CHECKPOINT_EVERY, lti_store_checkpoint on its own handle, so
 *   the store's log is copied back (and fsynced) outside the requests. */
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <apr_optional.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <ap_mpm.h>
#include <mod_watchdog.h>
#include <scoreboard.h>

#include "ptech.h"

APLOG_USE_MODULE(ptech);

/* The drainer thread's nice value (Linux: per thread).  Launches are what a person waits
 * for; a grade may arrive a few seconds later.  At nice 10 the scheduler gives a busy
 * worker thread about ten times the drainer's share of a contended CPU, so a drain during a
 * launch peak takes what the launches leave and does not slow them; on an idle CPU the
 * drainer runs at full speed (nice only weighs contended time). */
#define DRAINER_NICE 10

/* While requests are being served, a round of the drainer is followed by a pause of
 * BUSY_PAUSE times its own length: the drainer then has at most 1/(1 + BUSY_PAUSE) of the
 * time.  Nice alone is not enough: a round holds the store's write lock for its lease and
 * its batched ends, and launches wait for it (a preempted low-priority holder makes them
 * wait longer still).  On an idle server rounds follow each other without a pause. */
#define BUSY_PAUSE 7
#define BUSY_PAUSE_MAX apr_time_from_msec(500)

/* A second's commits of launches at full speed make a few thousand WAL pages: copied
 * back in one short pass each second, the WAL stays small and starts again from its
 * beginning (the requests' own checkpoint, at 16,000 pages, is only the fallback). */
#define CHECKPOINT_EVERY apr_time_from_sec(1)

/* How many of httpd's worker slots serve a request now (all children: the scoreboard),
 * not counting idle keep-alive connections.  The watchdog thread has no slot. */
static int busy_workers(void)
{
    int daemons = 0, threads = 0, busy = 0;

    if (!ap_exists_scoreboard_image()
        || ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &daemons) != APR_SUCCESS
        || ap_mpm_query(AP_MPMQ_HARD_LIMIT_THREADS, &threads) != APR_SUCCESS) {
        return 0;
    }
    for (int i = 0; i < daemons; i++) {
        for (int j = 0; j < threads; j++) {
            const worker_score *ws = ap_get_scoreboard_worker_from_indexes(i, j);

            if (ws != NULL && (ws->status == SERVER_BUSY_READ
                               || ws->status == SERVER_BUSY_WRITE
                               || ws->status == SERVER_BUSY_LOG
                               || ws->status == SERVER_BUSY_DNS)) {
                busy++;
            }
        }
    }
    return busy;
}

typedef struct worker_t {
    server_rec *s;
    const char *dsn;
    int checkpointer;           /* the checkpointer, else the drainer */
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

    if (w->checkpointer ? w->store != NULL : w->outbox != NULL) {
        return 1;
    }
    if (lti_store_open(w->pool, w->dsn, &w->store, &err) != LTI_OK
        || (!w->checkpointer
            && lti_outbox_create(w->pool, &w->cfg, &w->outbox, &err) != LTI_OK)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, w->s, "PT00061: %s: %s",
                     w->checkpointer ? "store checkpointer" : "grade return worker", err.text);
        w->store = NULL;
        w->outbox = NULL;
        return 0;
    }
    return 1;
}

/* The drainer's turn: while the backlog fills whole batches, go on (the watchdog thread is
 * the drainer's alone); a stop is seen between two rounds. */
static void drain_rounds(worker_t *w)
{
    while (!w->stop) {
        lti_outbox_stats_t st;
        lti_err_t err;
        apr_time_t t0 = apr_time_now(), pause;

        apr_pool_clear(w->scratch);
        if (lti_outbox_drain(w->outbox, w->store, w->scratch, ptech_now(), &st, &err)
            != LTI_OK || st.leased < w->cfg.batch) {
            break;
        }
        if (busy_workers() > 0) {
            pause = (apr_time_now() - t0) * BUSY_PAUSE;
            apr_sleep(pause < BUSY_PAUSE_MAX ? pause : BUSY_PAUSE_MAX);
        }
    }
    apr_pool_clear(w->scratch);
}

/* The checkpointer's turn. */
static void checkpoint_round(worker_t *w)
{
    lti_store_ckpt_t ck;
    lti_err_t err;

    if (lti_store_checkpoint(w->store, &ck, &err) != LTI_OK) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, w->s, "PT00064: store checkpoint: %s",
                     err.text);
    }
    else if (ck.logged > 0) {
        ap_log_error(APLOG_MARK, APLOG_TRACE1, 0, w->s, "store checkpoint: %d of %d logged "
                     "pages copied%s", ck.copied, ck.logged,
                     ck.restarted ? ", log restarts" : "");
    }
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
#ifdef SYS_gettid
        /* Called in the watchdog's own thread, which runs only this callback.  Not the
         * checkpointer: its RESTART pass holds writers off, so it must not be preempted
         * for long while it does. */
        if (!w->checkpointer
            && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), DRAINER_NICE) != 0) {
            ap_log_error(APLOG_MARK, APLOG_DEBUG, errno, w->s, "grade return worker: "
                         "setpriority");
        }
#endif
        break;
    case AP_WATCHDOG_STATE_RUNNING:
        if (w->pool != NULL && worker_open(w)) {
            if (w->checkpointer) {
                checkpoint_round(w);
            }
            else {
                drain_rounds(w);
            }
        }
        break;
    case AP_WATCHDOG_STATE_STOPPING:
        if (w->outbox != NULL) {
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
        if (w->outbox != NULL) {
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
    /* 32 requests at once hide the round trip to the LMS (measured on a busy 2-core host:
     * 1,900 grades/s with 16, 3,500 with 32); a round waits for its slowest answer, so a
     * batch is 8 waves of requests (a stop waits for at most one round). */
    w->cfg.max_in_flight = 32;
    w->cfg.batch = 256;
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
    if (rv == APR_SUCCESS) {
        worker_t *ck = apr_pcalloc(pconf, sizeof(*ck));

        ck->s = s;
        ck->dsn = c->store_dsn;
        ck->checkpointer = 1;
        ck->next = workers;
        workers = ck;
        rv = get_instance(&wd, apr_psprintf(pconf, "ptech-checkpoint-%d", index), 0, 1,
                          pconf);
        if (rv == APR_SUCCESS) {
            rv = register_cb(wd, CHECKPOINT_EVERY, ck, worker_cb);
        }
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "PT00062: cannot start the background "
                     "workers (grade returns, checkpoints) for %s", c->store_dsn);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}
