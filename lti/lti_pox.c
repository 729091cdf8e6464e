/* lti_pox.c -- LTI 1.1 Basic Outcomes messages (see lti_pox.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "lti_oauth1.h"
#include "lti_pox.h"
#include "lti_util.h"

static const char *const op_names[] = {"replaceResultRequest", "readResultRequest",
                                       "deleteResultRequest"};

static apr_status_t free_doc(void *d)
{
    xmlFreeDoc(d);
    return APR_SUCCESS;
}

const char *lti_pox_request(apr_pool_t *p, lti_pox_op_t op, const char *sourcedid,
                            double score, const char *msg_id, lti_err_t *err)
{
    xmlDocPtr doc;
    xmlNodePtr root, n, rec, res;
    xmlNsPtr ns;
    xmlChar *out = NULL;
    int len = 0;
    const char *body;
    char num[32];

    if (sourcedid == NULL || msg_id == NULL) {
        lti_err_set(err, LTI_ERR_INTERNAL, "pox_args", "a POX request needs a sourcedid");
        return NULL;
    }
    if (op == LTI_POX_REPLACE && !(score >= 0.0 && score <= 1.0)) {
        lti_err_set(err, LTI_ERR_MALFORMED, "pox_score", "a score must be within 0..1");
        return NULL;
    }
    doc = xmlNewDoc(BAD_CAST "1.0");
    if (doc == NULL) {
        lti_err_set(err, LTI_ERR_NOMEM, "pox_nomem", "out of memory");
        return NULL;
    }
    apr_pool_cleanup_register(p, doc, free_doc, apr_pool_cleanup_null);
    root = xmlNewDocNode(doc, NULL, BAD_CAST "imsx_POXEnvelopeRequest", NULL);
    ns = xmlNewNs(root, BAD_CAST LTI_POX_NS, NULL);
    xmlSetNs(root, ns);
    xmlDocSetRootElement(doc, root);
    n = xmlNewChild(root, ns, BAD_CAST "imsx_POXHeader", NULL);
    n = xmlNewChild(n, ns, BAD_CAST "imsx_POXRequestHeaderInfo", NULL);
    xmlNewTextChild(n, ns, BAD_CAST "imsx_version", BAD_CAST "V1.0");
    xmlNewTextChild(n, ns, BAD_CAST "imsx_messageIdentifier", BAD_CAST msg_id);
    n = xmlNewChild(root, ns, BAD_CAST "imsx_POXBody", NULL);
    n = xmlNewChild(n, ns, BAD_CAST op_names[op], NULL);
    rec = xmlNewChild(n, ns, BAD_CAST "resultRecord", NULL);
    n = xmlNewChild(rec, ns, BAD_CAST "sourcedGUID", NULL);
    xmlNewTextChild(n, ns, BAD_CAST "sourcedId", BAD_CAST sourcedid);
    if (op == LTI_POX_REPLACE) {
        /* Moodle reads the score with PHP's float parsing: plain decimal, '.' separator. */
        snprintf(num, sizeof(num), "%.4f", score);
        for (size_t k = strlen(num); k > 1 && num[k - 1] == '0' && num[k - 2] != '.'; k--) {
            num[k - 1] = '\0';
        }
        res = xmlNewChild(rec, ns, BAD_CAST "result", NULL);
        n = xmlNewChild(res, ns, BAD_CAST "resultScore", NULL);
        xmlNewTextChild(n, ns, BAD_CAST "language", BAD_CAST "en");
        xmlNewTextChild(n, ns, BAD_CAST "textString", BAD_CAST num);
    }
    xmlDocDumpMemoryEnc(doc, &out, &len, "UTF-8");
    if (out == NULL) {
        lti_err_set(err, LTI_ERR_NOMEM, "pox_nomem", "out of memory");
        return NULL;
    }
    body = apr_pstrmemdup(p, (const char *)out, (apr_size_t)len);
    xmlFree(out);
    return body;
}

lti_status_t lti_pox_sign(apr_pool_t *p, const char *url, const char *body, size_t len,
                          const char *consumer_key, const char *secret, int64_t now,
                          const char **authorization, lti_err_t *err)
{
    apr_array_header_t *params = lti_kv_make(p, 8);
    const char *hash = lti_oauth1_body_hash(p, body, len);
    char *h;
    lti_status_t rv;

    if (hash == NULL) {
        return lti_err_set(err, LTI_ERR_CRYPTO, "oauth_body_hash", "SHA-1 failed");
    }
    lti_kv_add(params, "oauth_body_hash", hash);
    if ((rv = lti_oauth1_sign(p, "POST", url, params, consumer_key, secret, now, err))
        != LTI_OK) {
        return rv;
    }
    h = "OAuth ";
    for (int i = 0; i < params->nelts; i++) {
        const lti_kv_t *kv = &APR_ARRAY_IDX(params, i, lti_kv_t);

        h = apr_pstrcat(p, h, i ? ", " : "", lti_pct_encode(p, kv->key), "=\"",
                        lti_pct_encode(p, kv->val), "\"", NULL);
    }
    *authorization = h;
    return LTI_OK;
}

/* The first child element of n named name in the POX namespace, or NULL. */
static xmlNodePtr child(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n ? n->children : NULL; c != NULL; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, BAD_CAST name) == 0
            && c->ns != NULL && xmlStrcmp(c->ns->href, BAD_CAST LTI_POX_NS) == 0) {
            return c;
        }
    }
    return NULL;
}

static const char *text_of(apr_pool_t *p, xmlNodePtr n)
{
    xmlChar *t;
    const char *s;

    if (n == NULL) {
        return NULL;
    }
    t = xmlNodeGetContent(n);
    s = t ? apr_pstrdup(p, (const char *)t) : NULL;
    xmlFree(t);
    return s;
}

/* Whether buf holds "<!DOCTYPE" (any case) anywhere: refused before parsing. */
static int has_doctype(const char *buf, size_t len)
{
    for (size_t i = 0; i + 9 <= len; i++) {
        if (buf[i] == '<' && buf[i + 1] == '!' && strncasecmp(buf + i + 2, "DOCTYPE", 7) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Reads a POX document (what: "answer" or "request", for the messages) safely. */
static lti_status_t read_doc(apr_pool_t *p, const char *body, size_t len, const char *what,
                             xmlDocPtr *out, lti_err_t *err)
{
    xmlDocPtr doc;

    *out = NULL;
    if (len > LTI_POX_MAX_BYTES) {
        return lti_err_set(err, LTI_ERR_TOO_LARGE, "pox_too_large",
                           "the outcomes %s is larger than %d bytes", what, LTI_POX_MAX_BYTES);
    }
    if (body == NULL || len == 0) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "pox_syntax", "the outcomes %s is empty",
                           what);
    }
    if (has_doctype(body, len)) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "pox_doctype", "the outcomes %s has a "
                           "DOCTYPE (refused: no DTD, no entities)", what);
    }
    /* No NOENT (entities are not expanded), no DTDLOAD, no network. */
    doc = xmlReadMemory(body, (int)len, "pox", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (doc == NULL) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "pox_syntax",
                           "the outcomes %s is not well-formed XML", what);
    }
    apr_pool_cleanup_register(p, doc, free_doc, apr_pool_cleanup_null);
    if (doc->intSubset != NULL || doc->extSubset != NULL) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "pox_doctype", "the outcomes %s has a "
                           "DOCTYPE (refused: no DTD, no entities)", what);
    }
    *out = doc;
    return LTI_OK;
}

lti_status_t lti_pox_parse(apr_pool_t *p, const char *body, size_t len, lti_pox_resp_t *out,
                           lti_err_t *err)
{
    xmlDocPtr doc;
    xmlNodePtr root, info, status, bodyn, n;
    lti_status_t rv;

    memset(out, 0, sizeof(*out));
    if ((rv = read_doc(p, body, len, "answer", &doc, err)) != LTI_OK) {
        return rv;
    }
    root = xmlDocGetRootElement(doc);
    if (root == NULL || root->ns == NULL || xmlStrcmp(root->ns->href, BAD_CAST LTI_POX_NS) != 0
        || xmlStrcmp(root->name, BAD_CAST "imsx_POXEnvelopeResponse") != 0) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "pox_namespace",
                           "the outcomes answer is not an imsx_POXEnvelopeResponse in the "
                           "LTI 1.1 outcomes namespace");
    }
    info = child(child(root, "imsx_POXHeader"), "imsx_POXResponseHeaderInfo");
    status = child(info, "imsx_statusInfo");
    out->code_major = text_of(p, child(status, "imsx_codeMajor"));
    if (out->code_major == NULL) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "pox_no_status",
                           "the outcomes answer has no imsx_codeMajor");
    }
    out->severity = text_of(p, child(status, "imsx_severity"));
    out->description = text_of(p, child(status, "imsx_description"));
    out->message_ref = text_of(p, child(status, "imsx_messageRefIdentifier"));
    out->operation_ref = text_of(p, child(status, "imsx_operationRefIdentifier"));
    bodyn = child(root, "imsx_POXBody");
    n = child(child(child(child(bodyn, "readResultResponse"), "result"), "resultScore"),
              "textString");
    if (n != NULL) {
        const char *t = text_of(p, n);
        char *end;

        if (t != NULL && *t != '\0') {
            out->score = strtod(t, &end);
            out->has_score = *end == '\0' && out->score >= 0 && out->score <= 1;
        }
    }
    return LTI_OK;
}

lti_status_t lti_pox_check(const lti_pox_resp_t *resp, lti_pox_op_t op, lti_err_t *err)
{
    char desc[200];
    size_t n = 0;

    if (resp->code_major != NULL && strcmp(resp->code_major, "success") == 0) {
        return LTI_OK;
    }
    /* The description, on one line and short (Moodle appends a PHP trace). */
    for (const char *d = resp->description ? resp->description : ""; *d && n + 1 < sizeof(desc);
         d++) {
        if (*d == '\n' || *d == '\r') {
            break;
        }
        desc[n++] = *d;
    }
    desc[n] = '\0';
    return lti_err_set(err, LTI_ERR_UPSTREAM, "pox_failure", "the LMS answered %s to %s%s%s",
                       resp->code_major ? resp->code_major : "nothing", op_names[op],
                       n ? ": " : "", desc);
}

lti_status_t lti_pox_parse_request(apr_pool_t *p, const char *body, size_t len,
                                   lti_pox_req_t *out, lti_err_t *err)
{
    xmlDocPtr doc;
    xmlNodePtr root, n, opn = NULL;
    lti_status_t rv;

    memset(out, 0, sizeof(*out));
    if ((rv = read_doc(p, body, len, "request", &doc, err)) != LTI_OK) {
        return rv;
    }
    root = xmlDocGetRootElement(doc);
    if (root == NULL || root->ns == NULL || xmlStrcmp(root->ns->href, BAD_CAST LTI_POX_NS) != 0
        || xmlStrcmp(root->name, BAD_CAST "imsx_POXEnvelopeRequest") != 0) {
        return lti_err_set(err, LTI_ERR_MALFORMED, "pox_namespace",
                           "the outcomes request is not an imsx_POXEnvelopeRequest in the "
                           "LTI 1.1 outcomes namespace");
    }
    out->message_id = text_of(p, child(child(child(root, "imsx_POXHeader"),
                                             "imsx_POXRequestHeaderInfo"),
                                       "imsx_messageIdentifier"));
    for (n = child(root, "imsx_POXBody") ? child(root, "imsx_POXBody")->children : NULL;
         n != NULL && opn == NULL; n = n->next) {
        if (n->type == XML_ELEMENT_NODE) {
            opn = n;
        }
    }
    for (int i = 0; opn != NULL && i < 3; i++) {
        if (xmlStrcmp(opn->name, BAD_CAST op_names[i]) == 0) {
            out->op = (lti_pox_op_t)i;
            out->operation = op_names[i];
            break;
        }
    }
    if (out->operation == NULL) {
        return lti_err_set(err, LTI_ERR_UNSUPPORTED, "pox_operation",
                           "the outcomes request is not replaceResult, readResult or "
                           "deleteResult");
    }
    n = child(opn, "resultRecord");
    out->sourcedid = text_of(p, child(child(n, "sourcedGUID"), "sourcedId"));
    if (out->sourcedid == NULL || *out->sourcedid == '\0') {
        return lti_err_set(err, LTI_ERR_MISSING, "pox_no_sourcedid",
                           "the outcomes request names no sourcedId");
    }
    if (out->op == LTI_POX_REPLACE) {
        const char *t = text_of(p, child(child(child(n, "result"), "resultScore"),
                                         "textString"));
        char *end = NULL;

        out->score = t ? strtod(t, &end) : -1;
        if (t == NULL || *t == '\0' || *end != '\0' || !(out->score >= 0 && out->score <= 1)) {
            return lti_err_set(err, LTI_ERR_MALFORMED, "pox_score",
                               "the score must be a number within 0..1");
        }
    }
    return LTI_OK;
}

const char *lti_pox_response(apr_pool_t *p, const char *code_major, const char *description,
                             const char *message_ref, lti_pox_op_t op, const char *msg_id)
{
    static const char *const resp_names[] = {"replaceResultResponse", "readResultResponse",
                                             "deleteResultResponse"};
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr root, n, st;
    xmlNsPtr ns;
    xmlChar *out = NULL;
    int len = 0;
    const char *text;

    if (doc == NULL) {
        return NULL;
    }
    apr_pool_cleanup_register(p, doc, free_doc, apr_pool_cleanup_null);
    root = xmlNewDocNode(doc, NULL, BAD_CAST "imsx_POXEnvelopeResponse", NULL);
    ns = xmlNewNs(root, BAD_CAST LTI_POX_NS, NULL);
    xmlSetNs(root, ns);
    xmlDocSetRootElement(doc, root);
    n = xmlNewChild(xmlNewChild(root, ns, BAD_CAST "imsx_POXHeader", NULL), ns,
                    BAD_CAST "imsx_POXResponseHeaderInfo", NULL);
    xmlNewTextChild(n, ns, BAD_CAST "imsx_version", BAD_CAST "V1.0");
    xmlNewTextChild(n, ns, BAD_CAST "imsx_messageIdentifier", BAD_CAST msg_id);
    st = xmlNewChild(n, ns, BAD_CAST "imsx_statusInfo", NULL);
    xmlNewTextChild(st, ns, BAD_CAST "imsx_codeMajor", BAD_CAST code_major);
    xmlNewTextChild(st, ns, BAD_CAST "imsx_severity", BAD_CAST "status");
    xmlNewTextChild(st, ns, BAD_CAST "imsx_description", BAD_CAST description);
    xmlNewTextChild(st, ns, BAD_CAST "imsx_messageRefIdentifier",
                    BAD_CAST(message_ref ? message_ref : ""));
    xmlNewTextChild(st, ns, BAD_CAST "imsx_operationRefIdentifier", BAD_CAST op_names[op]);
    xmlNewChild(xmlNewChild(root, ns, BAD_CAST "imsx_POXBody", NULL), ns,
                BAD_CAST resp_names[op], NULL);
    xmlDocDumpMemoryEnc(doc, &out, &len, "UTF-8");
    if (out == NULL) {
        return NULL;
    }
    text = apr_pstrmemdup(p, (const char *)out, (apr_size_t)len);
    xmlFree(out);
    return text;
}
