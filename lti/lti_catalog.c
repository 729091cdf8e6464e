/* lti_catalog.c -- the course catalog: catalog.xml parsed by libxml2 with no network, no DTD
 * and no entity expansion, validated against the RelaxNG schema built into liblti
 * (conf/catalog.rng), checked for what a schema cannot say, and copied into an APR pool.
 *
 * Every libxml2 object lives in a scratch subpool with a cleanup registered the moment it is
 * created, and errors are collected per call (parser context, RelaxNG contexts), so nothing
 * here touches libxml2's process-wide error handlers.  A DOCTYPE stops the parser as soon as
 * it is seen, before any entity declaration is read: XXE and "billion laughs" never start. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include <libxml/parser.h>
#include <libxml/SAX2.h>
#include <libxml/relaxng.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "lti_catalog.h"
#include "lti_util.h"

#include "catalog_rng.h"

/* No XML_PARSE_NOENT (entities stay references), no DTDLOAD/DTDATTR/DTDVALID, no XINCLUDE,
 * no HUGE (libxml2 keeps its own depth and size limits). */
#define CAT_PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES)

/* libxml2 2.12 made the structured error callback take a const xmlError *. */
#if LIBXML_VERSION >= 21200
typedef const xmlError cat_xml_error_t;
#else
typedef xmlError cat_xml_error_t;
#endif

/* Lines of elements past 65534, which libxml2's nodes cannot hold (it stores 65535). */
typedef struct cat_lines_t {
    apr_pool_t *pool;
    apr_hash_t *big;      /* const xmlNode * -> cat_big_line_t */
} cat_lines_t;

typedef struct cat_big_line_t {
    const xmlNode *node;
    long line;
} cat_big_line_t;

/* One error reported by libxml2. */
typedef struct cat_xml_err_t {
    const xmlNode *node;  /* the element it is about, or NULL */
    long line;
    char msg[320];
} cat_xml_err_t;

#define CAT_MAX_ERRORS 8

/* The first errors libxml2 reported for one parse or validation. */
typedef struct cat_diag_t {
    cat_lines_t *lines;
    int doctype;          /* the document has a DOCTYPE... */
    long doctype_line;    /* ...on this line */
    int nerrors;
    cat_xml_err_t errors[CAT_MAX_ERRORS];
} cat_diag_t;

/* What the tree walk needs to report an error. */
typedef struct cat_walk_t {
    apr_pool_t *p;        /* the catalog's pool */
    apr_pool_t *scratch;
    cat_lines_t *lines;
    const char *name;
    lti_err_t *err;
} cat_walk_t;

static const struct {
    const char *code;
    const char *language;
} cat_langs[3] = {{"fr", "French"}, {"ar", "Arabic"}, {"en", "English"}};

static apr_status_t free_parser_ctxt(void *data)
{
    xmlFreeParserCtxt(data);
    return APR_SUCCESS;
}

static apr_status_t free_doc(void *data)
{
    xmlFreeDoc(data);
    return APR_SUCCESS;
}

static apr_status_t free_rng_parser_ctxt(void *data)
{
    xmlRelaxNGFreeParserCtxt(data);
    return APR_SUCCESS;
}

static apr_status_t free_rng(void *data)
{
    xmlRelaxNGFree(data);
    return APR_SUCCESS;
}

static apr_status_t free_rng_valid_ctxt(void *data)
{
    xmlRelaxNGFreeValidCtxt(data);
    return APR_SUCCESS;
}

/* The line where element n starts (its start tag ends there, as libxml2 counts). */
static long line_of(const cat_lines_t *lines, const xmlNode *n)
{
    const cat_big_line_t *big;

    if (n->line < 65535 || lines == NULL) {
        return n->line;
    }
    big = apr_hash_get(lines->big, &n, sizeof(n));
    return big ? big->line : xmlGetLineNo(n);
}

/* SAX startElementNs: libxml2's own, plus the exact line of elements past line 65534. */
static void start_element(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                          const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                          int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
    xmlParserCtxtPtr ctxt = ctx;
    cat_diag_t *d = ctxt->_private;
    xmlNodePtr parent = ctxt->node;

    xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_namespaces, namespaces,
                          nb_attributes, nb_defaulted, attributes);
    if (ctxt->node != NULL && ctxt->node != parent && ctxt->input != NULL
        && ctxt->input->line >= 65535) {
        cat_big_line_t *big = apr_palloc(d->lines->pool, sizeof(*big));

        big->node = ctxt->node;
        big->line = ctxt->input->line;
        apr_hash_set(d->lines->big, &big->node, sizeof(big->node), big);
    }
}

static void diag_record(cat_diag_t *d, cat_xml_error_t *e)
{
    cat_xml_err_t *x;
    const xmlNode *node;
    char *c;
    size_t n;

    if (d == NULL || e == NULL || e->level < XML_ERR_ERROR || d->nerrors >= CAT_MAX_ERRORS) {
        return;
    }
    x = &d->errors[d->nerrors++];
    x->node = NULL;
    x->line = e->line;
    node = e->node;
    if (node != NULL && node->type == XML_ELEMENT_NODE && node->name != NULL) {
        x->node = node;
        x->line = line_of(d->lines, node);
    }
    apr_cpystrn(x->msg, e->message ? e->message : "error", sizeof(x->msg));
    n = strlen(x->msg);
    while (n > 0 && (x->msg[n - 1] == '\n' || x->msg[n - 1] == ' ')) {
        x->msg[--n] = '\0';
    }
    for (c = x->msg; *c != '\0'; c++) {
        if (*c == '\n' || *c == '\r' || *c == '\t') {
            *c = ' ';          /* one line: "... encoding ! Bytes: 0xE9 ..." */
        }
    }
}

/* Structured error handler of the parser context: libxml2 passes ctxt->userData, which is
 * the context itself; our diagnostics hang off its _private. */
static void diag_parser(void *ctx, cat_xml_error_t *e)
{
    xmlParserCtxtPtr ctxt = ctx;

    diag_record(ctxt->_private, e);
}

static void diag_rng(void *ctx, cat_xml_error_t *e)
{
    diag_record(ctx, e);
}

/* SAX internalSubset: called for any <!DOCTYPE ...>, before its internal subset is read. */
static void refuse_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
                           const xmlChar *system_id)
{
    xmlParserCtxtPtr ctxt = ctx;
    cat_diag_t *d = ctxt->_private;

    d->doctype = 1;
    d->doctype_line = ctxt->input ? ctxt->input->line : 0;
    xmlStopParser(ctxt);
}

static lti_status_t cat_fail(lti_err_t *err, lti_status_t status, const char *reason,
                             const char *name, long line, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static lti_status_t cat_fail(lti_err_t *err, lti_status_t status, const char *reason,
                             const char *name, long line, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return lti_err_set(err, status, reason, "%s:%ld: %s", name, line > 0 ? line : 1, msg);
}

/* What libxml2's terse datatype and attribute errors mean, by element. */
static const struct {
    const char *element, *hint;
} cat_hints[] = {
    {"course", "id and theme are 1 to 64 lowercase letters, digits or '-'"},
    {"module", "id is 1 to 64 lowercase letters, digits or '-'; weight is a decimal number"},
    {"move-on", "one of Passed, Completed, CompletedAndPassed, CompletedOrPassed"},
    {"url", "an https:// URL"},
    {"badge", "image is an https:// URL or a path starting with /"},
    {"ibm-badge", "class is a Credly badge class id, a lowercase UUID"},
};

static const char *hint_for(const xmlNode *node, const char *msg)
{
    size_t i;

    if (node == NULL
        || (strstr(msg, "failed to validate") == NULL && strstr(msg, "Error validating") == NULL)) {
        return NULL;
    }
    for (i = 0; i < sizeof(cat_hints) / sizeof(cat_hints[0]); i++) {
        if (xmlStrEqual(node->name, (const xmlChar *)cat_hints[i].element)) {
            return cat_hints[i].hint;
        }
    }
    return NULL;
}

/* Reports the most telling of the errors in d as "NAME:LINE: problem". */
static lti_status_t diag_fail(lti_err_t *err, const char *reason, const char *name,
                              const cat_diag_t *d, const char *fallback)
{
    const cat_xml_err_t *first = &d->errors[0], *at = first;
    const char *hint;
    int i;

    if (d->nerrors == 0) {
        return cat_fail(err, LTI_ERR_CONFIG, reason, name, 1, "%s", fallback);
    }
    if (first->node == NULL) {
        /* e.g. "Extra element move-on in interleave": the next error names the node */
        for (i = 1; i < d->nerrors && at == first; i++) {
            if (d->errors[i].node != NULL) {
                at = &d->errors[i];
            }
        }
    }
    else if (strncmp(first->msg, "Expecting an element ", 21) == 0) {
        /* An element the schema does not allow among interleaved children shows up first
         * as "Expecting an element X, got nothing" on its parent (X may well be there,
         * further down); the error that follows is on the culprit itself. */
        for (i = 1; i < d->nerrors; i++) {
            const cat_xml_err_t *e = &d->errors[i];

            if (e->node != NULL && e->node->parent == first->node
                && strcmp(e->msg, "Invalid sequence in interleave") == 0) {
                return cat_fail(err, LTI_ERR_CONFIG, reason, name, e->line,
                                "element %s is not allowed in %s", (const char *)e->node->name,
                                (const char *)first->node->name);
            }
        }
    }
    hint = hint_for(at->node, first->msg);
    if (at->node != NULL) {
        return cat_fail(err, LTI_ERR_CONFIG, reason, name, at->line, "element %s: %s%s%s%s",
                        (const char *)at->node->name, first->msg, hint ? " (expected: " : "",
                        hint ? hint : "", hint ? ")" : "");
    }
    return cat_fail(err, LTI_ERR_CONFIG, reason, name, at->line, "%s", first->msg);
}

static int is_element(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, (const xmlChar *)name);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The text and CDATA children of n (an element or an attribute), concatenated into p. */
static char *node_text(apr_pool_t *p, const xmlNode *n)
{
    const xmlNode *c;
    size_t len = 0;
    char *s, *d;

    for (c = n->children; c != NULL; c = c->next) {
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content) {
            len += strlen((const char *)c->content);
        }
    }
    s = d = apr_palloc(p, len + 1);
    for (c = n->children; c != NULL; c = c->next) {
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content) {
            size_t l = strlen((const char *)c->content);
            memcpy(d, c->content, l);
            d += l;
        }
    }
    *d = '\0';
    return s;
}

/* Drops leading and trailing XML white space and turns inner runs into one space. */
static char *collapse_space(char *s)
{
    char *r = s, *w = s;
    int pending = 0;

    while (*r != '\0') {
        if (is_space(*r)) {
            pending = (w != s);
        }
        else {
            if (pending) {
                *w++ = ' ';
                pending = 0;
            }
            *w++ = *r;
        }
        r++;
    }
    *w = '\0';
    return s;
}

/* The value of the attribute name (no namespace) of n, copied into p and trimmed, or NULL. */
static const char *attr_value(apr_pool_t *p, const xmlNode *n, const char *name)
{
    const xmlAttr *a;

    for (a = n->properties; a != NULL; a = a->next) {
        if (a->ns == NULL && xmlStrEqual(a->name, (const xmlChar *)name)) {
            return collapse_space(node_text(p, (const xmlNode *)a));
        }
    }
    return NULL;
}

/* xsd:decimal, read without the C locale's help: [+-]? (digits [. digits?] | . digits). */
static int parse_decimal(const char *s, double *out)
{
    double v = 0.0, scale = 1.0;
    int neg = 0, digits = 0;

    if (*s == '+' || *s == '-') {
        neg = (*s == '-');
        s++;
    }
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        v = v * 10.0 + (*s - '0');
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
            scale /= 10.0;
            v += (*s - '0') * scale;
        }
    }
    if (*s != '\0' || digits == 0 || !isfinite(v)) {
        return -1;
    }
    *out = neg ? -v : v;
    return 0;
}

/* Reads the fr, ar and en children of n into out; what names the text in messages. */
static lti_status_t read_i18n(cat_walk_t *w, const xmlNode *n, const char *what,
                              lti_i18n_t *out)
{
    const char **slot[3];
    const xmlNode *c;
    int i;

    slot[0] = &out->fr;
    slot[1] = &out->ar;
    slot[2] = &out->en;
    out->fr = out->ar = out->en = NULL;
    for (c = n->children; c != NULL; c = c->next) {
        for (i = 0; i < 3; i++) {
            if (!is_element(c, cat_langs[i].code)) {
                continue;
            }
            *slot[i] = collapse_space(node_text(w->p, c));
            if (**slot[i] == '\0') {
                return cat_fail(w->err, LTI_ERR_CONFIG, "catalog_empty_text", w->name,
                                line_of(w->lines, c), "%s: the %s (%s) text is empty", what,
                                cat_langs[i].language, cat_langs[i].code);
            }
        }
    }
    for (i = 0; i < 3; i++) {
        if (*slot[i] == NULL) {
            return cat_fail(w->err, LTI_ERR_CONFIG, "catalog_missing_text", w->name,
                            line_of(w->lines, n), "%s: the %s (%s) text is missing", what,
                            cat_langs[i].language, cat_langs[i].code);
        }
    }
    return LTI_OK;
}

static lti_status_t read_number(cat_walk_t *w, const xmlNode *n, const char *value,
                                const char *what, double *out)
{
    if (value == NULL || parse_decimal(value, out) != 0) {
        return cat_fail(w->err, LTI_ERR_CONFIG, "catalog_bad_number", w->name,
                        line_of(w->lines, n), "%s: '%s' is not a decimal number", what,
                        value ? value : "");
    }
    return LTI_OK;
}

static lti_status_t read_module(cat_walk_t *w, const lti_course_t *course, const xmlNode *n,
                                apr_hash_t *seen, lti_module_t *m)
{
    const xmlNode *c;
    const long *first;
    long *line;
    const char *what, *weight;
    lti_status_t st;

    m->id = attr_value(w->p, n, "id");
    if (m->id == NULL || m->id[0] == '\0') {
        return cat_fail(w->err, LTI_ERR_CONFIG, "catalog_missing_id", w->name,
                        line_of(w->lines, n), "course '%s': a module has no id", course->id);
    }
    first = apr_hash_get(seen, m->id, APR_HASH_KEY_STRING);
    if (first != NULL) {
        return cat_fail(w->err, LTI_ERR_CONFIG, "catalog_duplicate_module", w->name,
                        line_of(w->lines, n),
                        "course '%s': duplicate module id '%s' (first used at line %ld)",
                        course->id, m->id, *first);
    }
    line = apr_palloc(w->scratch, sizeof(*line));
    *line = line_of(w->lines, n);
    apr_hash_set(seen, m->id, APR_HASH_KEY_STRING, line);

    what = apr_psprintf(w->scratch, "course '%s' module '%s'", course->id, m->id);
    weight = attr_value(w->scratch, n, "weight");
    st = read_number(w, n, weight, apr_pstrcat(w->scratch, what, " weight", NULL), &m->weight);
    if (st != LTI_OK) {
        return st;
    }
    if (!(m->weight > 0.0)) {
        return cat_fail(w->err, LTI_ERR_CONFIG, "catalog_bad_weight", w->name,
                        line_of(w->lines, n), "%s: weight %s must be greater than 0", what, weight);
    }
    for (c = n->children; c != NULL; c = c->next) {
        if (is_element(c, "title")) {
            st = read_i18n(w, c, apr_pstrcat(w->scratch, what, " title", NULL), &m->title);
            if (st != LTI_OK) {
                return st;
            }
        }
        else if (is_element(c, "url")) {
            m->url = collapse_space(node_text(w->p, c));
        }
    }
    if (m->title.fr == NULL || m->url == NULL) {
        return cat_fail(w->err, LTI_ERR_CONFIG, "catalog_incomplete", w->name,
                        line_of(w->lines, n), "%s: needs a title and a url", what);
    }
    return LTI_OK;
}

static lti_status_t read_modules(cat_walk_t *w, lti_course_t *course, const xmlNode *n)
{
    const xmlNode *c;
    apr_hash_t *seen = apr_hash_make(w->scratch);
    lti_status_t st;
    int count = 0;

    for (c = n->children; c != NULL; c = c->next) {
        count += is_element(c, "module");
    }
    course->modules = apr_pcalloc(w->p, (count ? count : 1) * sizeof(lti_module_t));
    course->nmodules = 0;
    for (c = n->children; c != NULL; c = c->next) {
        if (!is_element(c, "module")) {
            continue;
        }
        st = read_module(w, course, c, seen, &course->modules[course->nmodules]);
        if (st != LTI_OK) {
            return st;
        }
        course->nmodules++;
    }
    return LTI_OK;
}

static lti_status_t read_badge(cat_walk_t *w, lti_course_t *course, const xmlNode *n)
{
    const xmlNode *c;
    const char *what = apr_psprintf(w->scratch, "course '%s' badge", course->id);
    lti_status_t st = LTI_OK;

    course->badge_image = attr_value(w->p, n, "image");
    for (c = n->children; c != NULL && st == LTI_OK; c = c->next) {
        if (is_element(c, "name")) {
            st = read_i18n(w, c, apr_pstrcat(w->scratch, what, " name", NULL),
                           &course->badge_name);
        }
        else if (is_element(c, "description")) {
            st = read_i18n(w, c, apr_pstrcat(w->scratch, what, " description", NULL),
                           &course->badge_description);
        }
    }
    return st;
}

static lti_status_t read_course(cat_walk_t *w, const xmlNode *n, lti_course_t *course)
{
    const xmlNode *c;
    const char *what, *value;
    lti_status_t st = LTI_OK;

    memset(course, 0, sizeof(*course));
    course->id = attr_value(w->p, n, "id");
    course->theme = attr_value(w->p, n, "theme");
    if (course->id == NULL || course->id[0] == '\0') {
        return cat_fail(w->err, LTI_ERR_CONFIG, "catalog_missing_id", w->name,
                        line_of(w->lines, n), "a course has no id");
    }
    what = apr_psprintf(w->scratch, "course '%s'", course->id);
    for (c = n->children; c != NULL && st == LTI_OK; c = c->next) {
        if (is_element(c, "title")) {
            st = read_i18n(w, c, apr_pstrcat(w->scratch, what, " title", NULL),
                           &course->title);
        }
        else if (is_element(c, "description")) {
            st = read_i18n(w, c, apr_pstrcat(w->scratch, what, " description", NULL),
                           &course->description);
        }
        else if (is_element(c, "passing-score")) {
            value = collapse_space(node_text(w->scratch, c));
            st = read_number(w, c, value, apr_pstrcat(w->scratch, what, " passing-score", NULL),
                             &course->passing_score);
            if (st == LTI_OK && !(course->passing_score >= 0.0
                                  && course->passing_score <= 100.0)) {
                st = cat_fail(w->err, LTI_ERR_CONFIG, "catalog_bad_passing_score", w->name,
                              line_of(w->lines, c),
                              "%s: passing-score %s is not between 0 and 100", what, value);
            }
        }
        else if (is_element(c, "move-on")) {
            course->move_on = collapse_space(node_text(w->p, c));
        }
        else if (is_element(c, "modules")) {
            st = read_modules(w, course, c);
        }
        else if (is_element(c, "badge")) {
            st = read_badge(w, course, c);
        }
        else if (is_element(c, "ibm-badge")) {
            course->ibm_badge_class = attr_value(w->p, c, "class");
        }
    }
    if (st != LTI_OK) {
        return st;
    }
    /* The schema requires all of these; this guards the struct's promise if it changes. */
    if (course->theme == NULL || course->title.fr == NULL || course->description.fr == NULL
        || course->move_on == NULL || course->nmodules == 0 || course->badge_name.fr == NULL
        || course->badge_description.fr == NULL || course->badge_image == NULL
        || course->ibm_badge_class == NULL) {
        return cat_fail(w->err, LTI_ERR_CONFIG, "catalog_incomplete", w->name,
                        line_of(w->lines, n), "%s is incomplete", what);
    }
    return LTI_OK;
}

/* Parses the document, refusing any DOCTYPE; on success *doc is owned by scratch. */
static lti_status_t parse_xml(apr_pool_t *scratch, cat_lines_t *lines, const char *xml,
                              size_t len, const char *name, xmlDocPtr *doc, lti_err_t *err)
{
    xmlParserCtxtPtr ctxt;
    cat_diag_t diag;

    memset(&diag, 0, sizeof(diag));
    diag.lines = lines;
    *doc = NULL;
    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL) {
        return lti_err_set(err, LTI_ERR_NOMEM, "catalog_nomem", "%s: out of memory", name);
    }
    apr_pool_cleanup_register(scratch, ctxt, free_parser_ctxt, apr_pool_cleanup_null);
    ctxt->_private = &diag;
    ctxt->sax->serror = diag_parser;
    ctxt->sax->internalSubset = refuse_doctype;
    ctxt->sax->startElementNs = start_element;

    *doc = xmlCtxtReadMemory(ctxt, xml, (int)len, name, NULL, CAT_PARSE_OPTIONS);
    if (*doc != NULL) {
        apr_pool_cleanup_register(scratch, *doc, free_doc, apr_pool_cleanup_null);
    }
    if (diag.doctype || (*doc != NULL && ((*doc)->intSubset || (*doc)->extSubset))) {
        return cat_fail(err, LTI_ERR_CONFIG, "catalog_doctype", name, diag.doctype_line,
                        "a DOCTYPE is not allowed in a catalog (no DTD, no entity "
                        "declarations)");
    }
    if (*doc == NULL || !ctxt->wellFormed || diag.nerrors > 0) {
        return diag_fail(err, "catalog_syntax", name, &diag, "not well-formed XML");
    }
    if (xmlDocGetRootElement(*doc) == NULL) {
        return cat_fail(err, LTI_ERR_CONFIG, "catalog_syntax", name, 1, "no root element");
    }
    return LTI_OK;
}

/* Validates doc against the built-in schema. */
static lti_status_t validate(apr_pool_t *scratch, cat_lines_t *lines, xmlDocPtr doc,
                             const char *name, lti_err_t *err)
{
    xmlRelaxNGParserCtxtPtr pctxt;
    xmlRelaxNGPtr schema;
    xmlRelaxNGValidCtxtPtr vctxt;
    cat_diag_t sdiag, vdiag;
    int rc;

    memset(&sdiag, 0, sizeof(sdiag));
    memset(&vdiag, 0, sizeof(vdiag));
    vdiag.lines = lines;
    pctxt = xmlRelaxNGNewMemParserCtxt(ptech_catalog_rng, (int)sizeof(ptech_catalog_rng) - 1);
    if (pctxt == NULL) {
        return lti_err_set(err, LTI_ERR_NOMEM, "catalog_nomem", "%s: out of memory", name);
    }
    apr_pool_cleanup_register(scratch, pctxt, free_rng_parser_ctxt, apr_pool_cleanup_null);
    xmlRelaxNGSetParserStructuredErrors(pctxt, diag_rng, &sdiag);
    schema = xmlRelaxNGParse(pctxt);
    if (schema == NULL) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "catalog_schema_broken",
                           "the built-in catalog schema does not compile (line %ld: %s)",
                           sdiag.errors[0].line,
                           sdiag.nerrors ? sdiag.errors[0].msg : "unknown error");
    }
    apr_pool_cleanup_register(scratch, schema, free_rng, apr_pool_cleanup_null);
    vctxt = xmlRelaxNGNewValidCtxt(schema);
    if (vctxt == NULL) {
        return lti_err_set(err, LTI_ERR_NOMEM, "catalog_nomem", "%s: out of memory", name);
    }
    apr_pool_cleanup_register(scratch, vctxt, free_rng_valid_ctxt, apr_pool_cleanup_null);
    xmlRelaxNGSetValidStructuredErrors(vctxt, diag_rng, &vdiag);
    rc = xmlRelaxNGValidateDoc(vctxt, doc);
    if (rc < 0) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "catalog_schema_broken",
                           "%s: the catalog schema validator failed (%d)", name, rc);
    }
    if (rc > 0 || vdiag.nerrors > 0) {
        return diag_fail(err, "catalog_schema", name, &vdiag,
                         "does not match the catalog schema (conf/catalog.rng)");
    }
    return LTI_OK;
}

static lti_status_t parse_catalog(apr_pool_t *p, apr_pool_t *scratch, const char *xml,
                                  size_t len, const char *name, lti_catalog_t **out,
                                  lti_err_t *err)
{
    xmlDocPtr doc;
    const xmlNode *root, *c;
    lti_catalog_t *cat;
    apr_hash_t *seen;
    cat_lines_t lines;
    cat_walk_t w;
    lti_status_t st;
    int count = 0;

    xmlInitParser();
    lines.pool = scratch;
    lines.big = apr_hash_make(scratch);
    st = parse_xml(scratch, &lines, xml, len, name, &doc, err);
    if (st != LTI_OK) {
        return st;
    }
    st = validate(scratch, &lines, doc, name, err);
    if (st != LTI_OK) {
        return st;
    }

    w.p = p;
    w.scratch = scratch;
    w.lines = &lines;
    w.name = name;
    w.err = err;
    root = xmlDocGetRootElement(doc);
    for (c = root->children; c != NULL; c = c->next) {
        count += is_element(c, "course");
    }
    cat = apr_pcalloc(p, sizeof(*cat));
    cat->source = apr_pstrdup(p, name);
    cat->sha256 = lti_sha256_hex(p, xml, len);
    if (cat->sha256 == NULL) {
        return lti_err_set(err, LTI_ERR_CRYPTO, "catalog_sha256", "%s: SHA-256 failed", name);
    }
    cat->courses = apr_pcalloc(p, (count ? count : 1) * sizeof(lti_course_t));
    seen = apr_hash_make(scratch);
    for (c = root->children; c != NULL; c = c->next) {
        lti_course_t *course = &cat->courses[cat->ncourses];
        const long *first;
        long *line;

        if (!is_element(c, "course")) {
            continue;
        }
        st = read_course(&w, c, course);
        if (st != LTI_OK) {
            return st;
        }
        first = apr_hash_get(seen, course->id, APR_HASH_KEY_STRING);
        if (first != NULL) {
            return cat_fail(err, LTI_ERR_CONFIG, "catalog_duplicate_course", name,
                            line_of(w.lines, c),
                            "duplicate course id '%s' (first used at line %ld)", course->id,
                            *first);
        }
        line = apr_palloc(scratch, sizeof(*line));
        *line = line_of(w.lines, c);
        apr_hash_set(seen, course->id, APR_HASH_KEY_STRING, line);
        cat->ncourses++;
    }
    if (cat->ncourses == 0) {
        return cat_fail(err, LTI_ERR_CONFIG, "catalog_empty", name, line_of(w.lines, root),
                        "the catalog has no course");
    }
    *out = cat;
    return LTI_OK;
}

/* Parses and validates len bytes of catalog XML (see lti_catalog.h).  On failure *out is
 * NULL and p may hold some of the strings already copied. */
lti_status_t lti_catalog_parse(apr_pool_t *p, const char *xml, size_t len, const char *name,
                               lti_catalog_t **out, lti_err_t *err)
{
    apr_pool_t *scratch;
    lti_status_t st;

    if (out != NULL) {
        *out = NULL;
    }
    if (p == NULL || xml == NULL || out == NULL) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "catalog_args",
                           "lti_catalog_parse: missing argument");
    }
    if (name == NULL) {
        name = "catalog";
    }
    if (len > LTI_CATALOG_MAX_BYTES) {
        return lti_err_set(err, LTI_ERR_TOO_LARGE, "catalog_too_large",
                           "%s: the catalog is %lu bytes, over the limit of %lu bytes", name,
                           (unsigned long)len, (unsigned long)LTI_CATALOG_MAX_BYTES);
    }
    if (apr_pool_create(&scratch, p) != APR_SUCCESS) {
        return lti_err_set(err, LTI_ERR_NOMEM, "catalog_nomem", "%s: out of memory", name);
    }
    st = parse_catalog(p, scratch, xml, len, name, out, err);
    apr_pool_destroy(scratch);
    return st;
}

/* Reads path (a regular file of at most LTI_CATALOG_MAX_BYTES) and parses it; see
 * lti_catalog.h.  LTI_ERR_IO when it cannot be opened or read, LTI_ERR_TOO_LARGE. */
lti_status_t lti_catalog_load_file(apr_pool_t *p, const char *path, lti_catalog_t **out,
                                   const char **xml_out, lti_err_t *err)
{
    apr_pool_t *bufpool;
    apr_file_t *f = NULL;
    apr_finfo_t fi;
    apr_status_t rv;
    apr_size_t n = 0;
    char ebuf[128];
    char *buf;
    lti_status_t st;

    if (out != NULL) {
        *out = NULL;
    }
    if (xml_out != NULL) {
        *xml_out = NULL;
    }
    if (p == NULL || path == NULL || out == NULL) {
        return lti_err_set(err, LTI_ERR_INTERNAL, "catalog_args",
                           "lti_catalog_load_file: missing argument");
    }
    if (xml_out != NULL) {
        bufpool = p;
    }
    else if (apr_pool_create(&bufpool, p) != APR_SUCCESS) {
        return lti_err_set(err, LTI_ERR_NOMEM, "catalog_nomem", "%s: out of memory", path);
    }
    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, APR_FPROT_OS_DEFAULT,
                       bufpool);
    if (rv != APR_SUCCESS) {
        st = lti_err_set(err, LTI_ERR_IO, "catalog_io", "%s: cannot open the catalog: %s",
                         path, apr_strerror(rv, ebuf, sizeof(ebuf)));
        goto cleanup;
    }
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE, f);
    if (rv != APR_SUCCESS || fi.filetype != APR_REG) {
        st = lti_err_set(err, LTI_ERR_IO, "catalog_io", "%s: not a regular file", path);
        goto cleanup;
    }
    if (fi.size > LTI_CATALOG_MAX_BYTES) {
        st = lti_err_set(err, LTI_ERR_TOO_LARGE, "catalog_too_large",
                         "%s: the catalog is %ld bytes, over the limit of %lu bytes", path,
                         (long)fi.size, (unsigned long)LTI_CATALOG_MAX_BYTES);
        goto cleanup;
    }
    buf = apr_palloc(bufpool, (apr_size_t)fi.size + 1);
    if (fi.size > 0) {
        rv = apr_file_read_full(f, buf, (apr_size_t)fi.size, &n);
        if (rv != APR_SUCCESS && rv != APR_EOF) {
            st = lti_err_set(err, LTI_ERR_IO, "catalog_io", "%s: cannot read the catalog: %s",
                             path, apr_strerror(rv, ebuf, sizeof(ebuf)));
            goto cleanup;
        }
    }
    buf[n] = '\0';
    apr_file_close(f);
    f = NULL;
    st = lti_catalog_parse(p, buf, n, path, out, err);
    if (st == LTI_OK && xml_out != NULL) {
        *xml_out = buf;
    }

cleanup:
    if (f != NULL) {
        apr_file_close(f);
    }
    if (bufpool != p) {
        apr_pool_destroy(bufpool);
    }
    return st;
}

/* The course with this id, or NULL (a linear scan: catalogs hold tens of courses). */
const lti_course_t *lti_catalog_course(const lti_catalog_t *cat, const char *id)
{
    int i;

    if (cat == NULL || id == NULL) {
        return NULL;
    }
    for (i = 0; i < cat->ncourses; i++) {
        if (strcmp(cat->courses[i].id, id) == 0) {
            return &cat->courses[i];
        }
    }
    return NULL;
}

/* The module with this id in course, or NULL. */
const lti_module_t *lti_catalog_module(const lti_course_t *course, const char *id)
{
    int i;

    if (course == NULL || id == NULL) {
        return NULL;
    }
    for (i = 0; i < course->nmodules; i++) {
        if (strcmp(course->modules[i].id, id) == 0) {
            return &course->modules[i];
        }
    }
    return NULL;
}

/* 1 if the primary language subtag of locale is lang (two letters, any case), "ar",
 * "ar-MA" and "ar_MA" all being "ar". */
static int locale_is(const char *locale, const char *lang)
{
    return locale[0] != '\0' && apr_tolower(locale[0]) == lang[0]
           && locale[1] != '\0' && apr_tolower(locale[1]) == lang[1]
           && (locale[2] == '\0' || locale[2] == '-' || locale[2] == '_');
}

/* The page language of a launch locale: "ar", "en", else "fr" (also for NULL). */
const char *lti_lang_of(const char *locale)
{
    if (locale == NULL) {
        return "fr";
    }
    if (locale_is(locale, "ar")) {
        return "ar";
    }
    if (locale_is(locale, "en")) {
        return "en";
    }
    return "fr";
}

/* The text in the language of locale, French when that text is missing or empty; never
 * NULL ("" when t is NULL or has no French either). */
const char *lti_i18n_get(const lti_i18n_t *t, const char *locale)
{
    const char *lang, *s;

    if (t == NULL) {
        return "";
    }
    lang = lti_lang_of(locale);
    s = lang[0] == 'a' ? t->ar : lang[0] == 'e' ? t->en : t->fr;
    if (s == NULL || s[0] == '\0') {
        s = t->fr;
    }
    return s ? s : "";
}
