/* unit.h -- shared set-up for the cmocka unit tests. */
#ifndef PTECH_UNIT_H
#define PTECH_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "lti.h"

/* Path of a file under the source tree (the runner sets PTECH_SRC; else the cwd). */
static inline const char *unit_path(apr_pool_t *p, const char *rel)
{
    const char *src = getenv("PTECH_SRC");
    return apr_pstrcat(p, src ? src : ".", "/", rel, NULL);
}

/* Path of a Moodle capture: ../shared/fixtures/moodle-4.5/NAME next to the checkout. */
static inline const char *unit_fixture(apr_pool_t *p, const char *name)
{
    const char *dir = getenv("PTECH_FIXTURES");
    if (dir == NULL) {
        dir = unit_path(p, "../shared/fixtures/moodle-4.5");
    }
    return apr_pstrcat(p, dir, "/", name, NULL);
}

/* conf/catalog.xml, parsed; fails the test when it does not load. */
static inline lti_catalog_t *unit_catalog(apr_pool_t *p)
{
    lti_catalog_t *cat;
    lti_err_t err;

    if (lti_catalog_load_file(p, unit_path(p, "conf/catalog.xml"), &cat, NULL, &err) != LTI_OK) {
        fail_msg("catalog: %s", err.text);
    }
    return cat;
}

/* An lti_result_fn for store tests: the newest fact's status and score (1 when it has
 * none), whatever the catalog says. */
static inline lti_status_t unit_newest_result(void *baton, apr_pool_t *p, const char *course_id,
                                              const apr_array_header_t *rows, lti_result_t *out,
                                              lti_err_t *err)
{
    const lti_progress_t *best = NULL;

    memset(out, 0, sizeof(*out));
    for (int i = 0; i < rows->nelts; i++) {
        const lti_progress_t *r = &APR_ARRAY_IDX(rows, i, lti_progress_t);

        if (best == NULL || r->at > best->at) {
            best = r;
        }
    }
    if (best != NULL) {
        out->status = best->status;
        out->score = best->has_score ? best->score : 1.0;
        out->at = best->at;
    }
    return LTI_OK;
}

static inline int unit_group_setup(void **state)
{
    apr_pool_t *p;
    apr_initialize();
    apr_pool_create(&p, NULL);
    *state = p;
    return 0;
}

static inline int unit_group_teardown(void **state)
{
    apr_pool_destroy((apr_pool_t *)*state);
    apr_terminate();
    return 0;
}


/* A learner's LTI 1.1 launch on link1 of context ctx1 at now (fixed demo values; a test
 * sets what it is about on top), and the same recorded, returning the person id. */
static inline lti_launch_rec_t unit_learner_launch(const char *user, const char *nonce,
                                                   const char *session, const char *course,
                                                   int64_t now)
{
    lti_launch_rec_t r;

    memset(&r, 0, sizeof(r));
    r.tenant = "lti11:moodle";
    r.nonce_scope = "lti11:moodle";
    r.nonce = nonce;
    r.nonce_expires = now + 5400;
    r.version = "1.1";
    r.user_id = user;
    r.full_name = user;
    r.context_id = "ctx1";
    r.link_id = "link1";
    r.link_title = "Cyber";
    r.course_id = course;
    r.roles = LTI_ROLE_LEARNER;
    r.roles_raw = "Learner";
    r.locale = "fr";
    r.session_hash = session;
    r.csrf = "csrf";
    r.session_expires = now + 28800;
    r.now = now;
    return r;
}

static inline int64_t unit_record(lti_store_t *s, const lti_launch_rec_t *r)
{
    lti_launch_ids_t ids;
    lti_err_t err;

    if (lti_store_launch_record(s, r, &ids, &err) != LTI_OK) {
        fail_msg("launch: %s", err.text);
    }
    return ids.person_id;
}

#endif
