/* lti_catalog.h -- the course catalog (conf/catalog.xml), validated against the RelaxNG
 * schema conf/catalog.rng (built into liblti) with libxml2: no network, no entity
 * expansion, no DTD loading; a DOCTYPE is refused. */
#ifndef LTI_CATALOG_H
#define LTI_CATALOG_H

#include <stddef.h>

#include <apr_pools.h>

#include "lti_err.h"

/* A text in the three catalog languages; all three are required by the schema. */
typedef struct lti_i18n_t {
    const char *fr, *ar, *en;
} lti_i18n_t;

typedef struct lti_module_t {
    const char *id;           /* unique within its course */
    lti_i18n_t title;
    const char *url;          /* content URL (https) */
    double weight;            /* > 0; the course score is the weighted mean */
} lti_module_t;

typedef struct lti_course_t {
    const char *id;           /* [a-z0-9-]+, unique in the catalog */
    const char *theme;
    lti_i18n_t title, description;
    double passing_score;     /* 0..100 */
    const char *move_on;      /* cmi5-style: "Passed", "Completed", "CompletedAndPassed",
                                 "CompletedOrPassed" */
    lti_module_t *modules;
    int nmodules;
    lti_i18n_t badge_name, badge_description;
    const char *badge_image;  /* URL or path of the badge image */
    const char *ibm_badge_class;  /* Credly badge class id */
} lti_course_t;

typedef struct lti_catalog_t {
    const char *source;       /* file name or "store" */
    const char *sha256;       /* hex SHA-256 of the XML bytes */
    lti_course_t *courses;
    int ncourses;
} lti_catalog_t;

/* Largest catalog accepted, in bytes. */
#define LTI_CATALOG_MAX_BYTES (4 * 1024 * 1024)

/* Parses and validates len bytes of catalog XML; name is used in messages.  On a schema or
 * syntax error returns LTI_ERR_CONFIG with err->text "NAME:LINE: problem"; LTI_ERR_TOO_LARGE
 * over LTI_CATALOG_MAX_BYTES.  Everything is allocated in p. */
lti_status_t lti_catalog_parse(apr_pool_t *p, const char *xml, size_t len, const char *name,
                               lti_catalog_t **out, lti_err_t *err);

/* Reads path and parses it as above; LTI_ERR_IO if it cannot be read.  If xml_out is
 * non-NULL it receives the file's bytes (NUL-terminated) for storing. */
lti_status_t lti_catalog_load_file(apr_pool_t *p, const char *path, lti_catalog_t **out,
                                   const char **xml_out, lti_err_t *err);

/* The course with this id, or NULL. */
const lti_course_t *lti_catalog_course(const lti_catalog_t *cat, const char *id);

/* The module with this id in course, or NULL. */
const lti_module_t *lti_catalog_module(const lti_course_t *course, const char *id);

/* The text for a launch locale ("fr", "fr-FR", "ar_MA", "en-US"...): its language if
 * known, else French. */
const char *lti_i18n_get(const lti_i18n_t *t, const char *locale);

/* The page language for a launch locale: "fr", "ar" or "en" (French when unknown). */
const char *lti_lang_of(const char *locale);

#endif
