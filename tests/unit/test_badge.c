/* test_badge.c -- lti_badge: salts and recipient hashes (vectors computed with Python's
 * hashlib/hmac), the Profile, BadgeClass and Assertion JSON against the Open Badges 2.0
 * required properties, PNG baking (each chunk's CRC recomputed here with zlib, the
 * openbadges iTXt read back and found once), the badge URL forms, the class -> course map
 * over the shipped catalog, and lti_badge_verify against a stub issuer on 127.0.0.1. */
#include <zlib.h>

#include "stub_server.h"

static const unsigned char KEY[32] = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";

static int group_setup(void **state)
{
    lti_init();
    return unit_group_setup(state);
}

static int group_teardown(void **state)
{
    return unit_group_teardown(state);
}

static apr_pool_t *sub(void **state)
{
    apr_pool_t *p;

    apr_pool_create(&p, *state);
    return p;
}

static void test_salt_and_identity(void **state)
{
    apr_pool_t *p = sub(state);
    unsigned char other[32];

    /* hmac.new(b'k'*32, b'ptech-badge-salt:' + id, sha256).hexdigest()[:32] */
    assert_string_equal(lti_badge_salt(p, KEY, "0123456789abcdef0123456789abcdef"),
                        "65107801e0352344a7bb66a11f8cf375");
    assert_string_not_equal(lti_badge_salt(p, KEY, "0123456789abcdef0123456789abcdee"),
                            "65107801e0352344a7bb66a11f8cf375");
    memset(other, 'j', sizeof(other));
    assert_string_not_equal(lti_badge_salt(p, other, "0123456789abcdef0123456789abcdef"),
                            "65107801e0352344a7bb66a11f8cf375");
    /* sha256(b'alice@example.com' + b'deadbeef') */
    assert_string_equal(lti_badge_identity(p, "alice@example.com", "deadbeef"),
                        "sha256$8783815c3c20ea9adf455ab33f340c67e60588724510de90753049b37daf5a6b");
    apr_pool_destroy(p);
}

static void test_recipient_matches(void **state)
{
    apr_pool_t *p = sub(state);
    static const struct {
        const char *json, *email;
        int want;
    } cases[] = {
        {"{\"type\":\"email\",\"hashed\":true,\"salt\":\"deadbeef\",\"identity\":"
         "\"sha256$8783815c3c20ea9adf455ab33f340c67e60588724510de90753049b37daf5a6b\"}",
         "alice@example.com", 1},
        /* the LMS spells the address with capitals: compared case-insensitively */
        {"{\"type\":\"email\",\"hashed\":true,\"salt\":\"deadbeef\",\"identity\":"
         "\"sha256$8783815c3c20ea9adf455ab33f340c67e60588724510de90753049b37daf5a6b\"}",
         "Alice@Example.COM", 1},
        /* the issuer hashed the capitalised form; the LMS sends it the same way */
        {"{\"type\":\"email\",\"hashed\":true,\"salt\":\"deadbeef\",\"identity\":"
         "\"SHA256$28B59FAF12C960E9B8342150AA929AE529DD605BF2C779E715DC650DDF92DE34\"}",
         "Alice@Example.com", 1},
        {"{\"type\":\"email\",\"hashed\":true,\"salt\":\"deadbeef\",\"identity\":"
         "\"sha256$8783815c3c20ea9adf455ab33f340c67e60588724510de90753049b37daf5a6b\"}",
         "bob@example.com", 0},
        {"{\"type\":\"email\",\"hashed\":true,\"salt\":\"other\",\"identity\":"
         "\"sha256$8783815c3c20ea9adf455ab33f340c67e60588724510de90753049b37daf5a6b\"}",
         "alice@example.com", 0},
        {"{\"type\":\"email\",\"hashed\":false,\"identity\":\"Alice@example.com\"}",
         "alice@EXAMPLE.com", 1},
        {"{\"type\":\"email\",\"identity\":\"alice@example.com\"}", "alice@example.org", 0},
        {"{\"type\":\"email\",\"hashed\":true,\"salt\":\"deadbeef\",\"identity\":"
         "\"md5$0123456789abcdef0123456789abcdef\"}", "alice@example.com", 0},
        {"{\"type\":\"url\",\"identity\":\"alice@example.com\"}", "alice@example.com", 0},
        {"{\"type\":\"email\",\"identity\":\"alice@example.com\",\"type\":\"email\"}",
         "alice@example.com", 0},     /* duplicate key: refused */
        {"{\"type\":\"email\",\"identity\":\"alice@example.com\"}", NULL, 0},
        {"not json", "alice@example.com", 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (lti_badge_recipient_matches(p, cases[i].json, cases[i].email) != cases[i].want) {
            fail_msg("case %zu: %s vs %s", i, cases[i].json, cases[i].email ? cases[i].email
                                                                           : "(null)");
        }
    }
    apr_pool_destroy(p);
}

static json_t *parsed(const char *text)
{
    json_error_t je;
    json_t *j;

    assert_non_null(text);
    j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        fail_msg("not JSON: %s: %s", je.text, text);
    }
    return j;
}

static const char *str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));

    if (v == NULL) {
        fail_msg("no string %s", key);
    }
    return v;
}

static lti_badge_site_t site = {"https://tool.example", "Open P-Tech · tool.example", NULL,
                                "en"};

static void test_profile_and_class_json(void **state)
{
    apr_pool_t *p = sub(state);
    const lti_catalog_t *cat = unit_catalog(p);
    const lti_course_t *c = &cat->courses[0];
    json_t *o = parsed(lti_badge_profile_json(p, &site)), *crit;

    assert_string_equal(str(o, "@context"), "https://w3id.org/openbadges/v2");
    assert_string_equal(str(o, "type"), "Profile");
    assert_string_equal(str(o, "id"), "https://tool.example/ptech/badges/issuer");
    assert_string_equal(str(o, "name"), "Open P-Tech · tool.example");
    assert_string_equal(str(o, "url"), "https://tool.example");
    json_decref(o);

    o = parsed(lti_badge_class_json(p, &site, c));
    assert_string_equal(str(o, "@context"), LTI_BADGE_CONTEXT);
    assert_string_equal(str(o, "type"), "BadgeClass");
    assert_string_equal(str(o, "id"),
                        apr_pstrcat(p, "https://tool.example/ptech/badges/class/", c->id, NULL));
    assert_string_equal(str(o, "name"), c->badge_name.en);
    assert_string_equal(str(o, "description"), c->badge_description.en);
    assert_string_equal(str(o, "image"), c->badge_image);
    assert_string_equal(str(o, "issuer"), "https://tool.example/ptech/badges/issuer");
    crit = json_object_get(o, "criteria");
    assert_true(json_is_object(crit));
    assert_non_null(strstr(str(crit, "narrative"), c->title.en));
    json_decref(o);
    apr_pool_destroy(p);
}

static void test_assertion_json(void **state)
{
    apr_pool_t *p = sub(state);
    const lti_catalog_t *cat = unit_catalog(p);
    const lti_course_t *c = &cat->courses[0];
    lti_badge_award_t b;
    const char *salt;
    json_t *o, *rc, *ev;

    memset(&b, 0, sizeof(b));
    b.id = "0123456789abcdef0123456789abcdef";
    b.course_id = c->id;
    b.email = "Alice@Example.com";
    b.score = 0.85;
    b.issued = 1773446400;      /* 2026-03-14T00:00:00Z */
    b.evidence = "https://api.credly.com/v1/obi/v2/badge_assertions/abc";
    salt = lti_badge_salt(p, KEY, b.id);
    o = parsed(lti_badge_assertion_json(p, &site, c, &b, salt));
    assert_string_equal(str(o, "@context"), LTI_BADGE_CONTEXT);
    assert_string_equal(str(o, "type"), "Assertion");
    assert_string_equal(str(o, "id"), "https://tool.example/ptech/badges/assertion/"
                                      "0123456789abcdef0123456789abcdef");
    assert_string_equal(str(o, "badge"), apr_pstrcat(p, "https://tool.example/ptech/badges/"
                                                        "class/", c->id, NULL));
    assert_string_equal(str(o, "issuedOn"), "2026-03-14T00:00:00Z");
    assert_string_equal(str(json_object_get(o, "verification"), "type"), "hosted");
    rc = json_object_get(o, "recipient");
    assert_string_equal(str(rc, "type"), "email");
    assert_true(json_is_true(json_object_get(rc, "hashed")));
    assert_string_equal(str(rc, "salt"), salt);
    /* hashed from the lowercased address */
    assert_string_equal(str(rc, "identity"), lti_badge_identity(p, "alice@example.com", salt));
    /* and a verifier finds the learner in it */
    assert_true(lti_badge_recipient_matches(p, lti_json_text(p, rc, 0), "alice@example.com"));
    ev = json_object_get(o, "evidence");
    assert_int_equal(json_array_size(ev), 2);
    assert_string_equal(str(json_array_get(ev, 0), "id"), b.evidence);
    assert_non_null(strstr(str(json_array_get(ev, 1), "narrative"), "85 / 100"));
    json_decref(o);
    /* no recipient, no assertion */
    b.email = NULL;
    assert_null(lti_badge_assertion_json(p, &site, c, &b, salt));
    apr_pool_destroy(p);
}

/* Walks png's chunks, checking every CRC here with zlib; returns how many openbadges iTXt
 * chunks there are and where the last one sits (index; IEND's index in *iend). */
static int walk_png(const unsigned char *png, size_t len, int *itxt_at, int *iend)
{
    size_t at = 8;
    int n = 0, idx = 0;

    assert_true(len > 8);
    assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
    *itxt_at = *iend = -1;
    while (at + 12 <= len) {
        uint32_t clen = (uint32_t)png[at] << 24 | (uint32_t)png[at + 1] << 16
                        | (uint32_t)png[at + 2] << 8 | png[at + 3];
        uint32_t crc = (uint32_t)png[at + 8 + clen] << 24
                       | (uint32_t)png[at + 9 + clen] << 16
                       | (uint32_t)png[at + 10 + clen] << 8 | png[at + 11 + clen];

        assert_true(at + 12 + clen <= len);
        assert_int_equal(crc32(crc32(0, Z_NULL, 0), png + at + 4, clen + 4), crc);
        if (memcmp(png + at + 4, "iTXt", 4) == 0 && clen > 11
            && memcmp(png + at + 8, "openbadges\0", 11) == 0) {
            n++;
            *itxt_at = idx;
            assert_int_equal(png[at + 8 + 11], 0);     /* not compressed */
        }
        if (memcmp(png + at + 4, "IEND", 4) == 0) {
            *iend = idx;
        }
        at += 12 + clen;
        idx++;
    }
    assert_int_equal(at, len);
    return n;
}

static void test_png_bake(void **state)
{
    apr_pool_t *p = sub(state);
    const unsigned char *base;
    unsigned char *baked, *again, *bad;
    size_t blen, len, len2;
    const char *text, *json = "{\"id\": \"https://tool.example/ptech/badges/assertion/x\","
                              " \"name\": \"Réussi · نجاح\"}";
    int count, itxt, iend;
    lti_err_t err;

    assert_int_equal(lti_badge_png_base(p, &base, &blen, &err), LTI_OK);
    assert_int_equal(walk_png(base, blen, &itxt, &iend), 0);
    assert_int_equal(lti_badge_png_extract(p, base, blen, &text, &count, &err), LTI_OK);
    assert_null(text);
    assert_int_equal(count, 0);

    assert_int_equal(lti_badge_png_bake(p, base, blen, json, &baked, &len, &err), LTI_OK);
    assert_int_equal(len, blen + 12 + 11 + 4 + strlen(json));
    assert_int_equal(walk_png(baked, len, &itxt, &iend), 1);
    assert_int_equal(itxt, iend - 1);       /* just before IEND */
    assert_int_equal(lti_badge_png_extract(p, baked, len, &text, &count, &err), LTI_OK);
    assert_int_equal(count, 1);
    assert_string_equal(text, json);

    /* Baking a baked image replaces the chunk: still exactly one. */
    assert_int_equal(lti_badge_png_bake(p, baked, len, "second", &again, &len2, &err), LTI_OK);
    assert_int_equal(walk_png(again, len2, &itxt, &iend), 1);
    assert_int_equal(lti_badge_png_extract(p, again, len2, &text, &count, &err), LTI_OK);
    assert_string_equal(text, "second");

    /* A flipped byte breaks a CRC; a truncated file and a non-PNG are refused. */
    bad = apr_pmemdup(p, baked, len);
    bad[len - 20] ^= 0x01;
    assert_int_equal(lti_badge_png_extract(p, bad, len, &text, &count, &err), LTI_ERR_MALFORMED);
    assert_string_equal(err.reason, "png_malformed");
    assert_int_equal(lti_badge_png_bake(p, bad, len, "x", &again, &len2, &err),
                     LTI_ERR_MALFORMED);
    assert_int_equal(lti_badge_png_bake(p, baked, len - 5, "x", &again, &len2, &err),
                     LTI_ERR_MALFORMED);
    assert_int_equal(lti_badge_png_bake(p, (const unsigned char *)"GIF89a....", 10, "x",
                                        &again, &len2, &err), LTI_ERR_MALFORMED);
    /* Damaged images (a byte changed anywhere, or cut short): refused or read, never
     * read out of bounds (the ASan build runs this too). */
    srand(7);
    for (int i = 0; i < 3000; i++) {
        apr_pool_t *t;
        size_t cut = (size_t)rand() % (len + 1);
        lti_status_t rv;

        apr_pool_create(&t, p);
        bad = apr_pmemdup(t, baked, len);
        if (i % 3 == 2) {
            /* inside the iTXt chunk, its CRC made right again: the parser sees it */
            size_t dlen = 11 + 4 + strlen(json), off = len - 12 - 12 - dlen;
            uLong crc;

            bad[off + 8 + (size_t)rand() % dlen] = (unsigned char)(rand() % 3);
            crc = crc32(crc32(0, Z_NULL, 0), bad + off + 4, (uInt)(dlen + 4));
            bad[off + 8 + dlen] = (unsigned char)(crc >> 24);
            bad[off + 9 + dlen] = (unsigned char)(crc >> 16);
            bad[off + 10 + dlen] = (unsigned char)(crc >> 8);
            bad[off + 11 + dlen] = (unsigned char)crc;
            cut = len;
        }
        else {
            bad[(size_t)rand() % len] = (unsigned char)rand();
        }
        rv = lti_badge_png_extract(t, bad, i % 2 ? len : cut, &text, &count, &err);
        assert_true(rv == LTI_OK || rv == LTI_ERR_MALFORMED);
        rv = lti_badge_png_bake(t, bad, i % 2 ? len : cut, "x", &again, &len2, &err);
        assert_true(rv == LTI_OK || rv == LTI_ERR_MALFORMED);
        apr_pool_destroy(t);
    }
    apr_pool_destroy(p);
}

static void test_url_forms(void **state)
{
    apr_pool_t *p = sub(state);
    apr_array_header_t *loop = apr_array_make(p, 2, sizeof(const char *));
    apr_array_header_t *credly = apr_array_make(p, 2, sizeof(const char *));
    lti_http_opts_t http = {10, NULL, NULL, 1, 1000};
    const char *api = "https://api.credly.com/v1/obi/v2/badge_assertions/"
                      "5a1f2b3c-0000-4444-8888-123456789abc";
    static const char *const credly_forms[] = {
        "https://www.credly.com/badges/5a1f2b3c-0000-4444-8888-123456789abc",
        "https://www.credly.com/badges/5a1f2b3c-0000-4444-8888-123456789abc/public_url",
        "https://credly.com/badges/5a1f2b3c-0000-4444-8888-123456789abc/",
        "  https://www.credly.com/badges/5a1f2b3c-0000-4444-8888-123456789abc/linked_in?t=1",
        "https://www.credly.com/badges/5a1f2b3c-0000-4444-8888-123456789abc \r\n",
        "https://api.credly.com/v1/obi/v2/badge_assertions/5a1f2b3c-0000-4444-8888-123456789abc",
    };
    const char *out;
    lti_err_t err;

    APR_ARRAY_PUSH(loop, const char *) = "127.0.0.1";
    APR_ARRAY_PUSH(credly, const char *) = "api.credly.com";
    for (size_t i = 0; i < sizeof(credly_forms) / sizeof(credly_forms[0]); i++) {
        out = NULL;
        if (lti_badge_url_map(p, credly_forms[i], NULL, &http, &out, &err) != LTI_OK) {
            fail_msg("%s: %s", credly_forms[i], err.text);
        }
        assert_string_equal(out, api);
        assert_int_equal(lti_badge_url_map(p, credly_forms[i], credly, &http, &out, &err),
                         LTI_OK);
        /* A list without api.credly.com refuses Credly. */
        assert_int_equal(lti_badge_url_map(p, credly_forms[i], loop, &http, &out, &err),
                         LTI_ERR_FORBIDDEN);
        assert_string_equal(err.reason, "badge_host_unknown");
    }
    /* Hosted assertions on a listed host; plain http only to the loopback when allowed. */
    assert_int_equal(lti_badge_url_map(p, "http://127.0.0.1:8123/a/1", loop, &http, &out, &err),
                     LTI_OK);
    assert_string_equal(out, "http://127.0.0.1:8123/a/1");
    http.allow_insecure_loopback = 0;
    assert_int_equal(lti_badge_url_map(p, "http://127.0.0.1:8123/a/1", loop, &http, &out, &err),
                     LTI_ERR_FORBIDDEN);
    assert_string_equal(err.reason, "badge_host_unknown");
    assert_int_equal(lti_badge_url_map(p, "https://badges.example.org/a/1", loop, &http, &out,
                                       &err), LTI_ERR_FORBIDDEN);
    assert_string_equal(err.reason, "badge_host_unknown");
    assert_non_null(strstr(err.text, "badges.example.org"));
    assert_int_equal(lti_badge_url_map(p, "http://api.credly.com/v1/obi/v2/badge_assertions/1",
                                       NULL, &http, &out, &err), LTI_ERR_FORBIDDEN);
    /* Not badge addresses at all. */
    static const char *const junk[] = {"", "   ", "credly", "ftp://api.credly.com/x",
                                       "https://www.credly.com/users/someone",
                                       "https://www.credly.com/badges/",
                                       "https://www.credly.com/badges/<script>"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        assert_int_equal(lti_badge_url_map(p, junk[i], NULL, &http, &out, &err),
                         LTI_ERR_MALFORMED);
        assert_string_equal(err.reason, "badge_url_malformed");
    }
    assert_int_equal(lti_badge_url_map(p, NULL, NULL, &http, &out, &err), LTI_ERR_MALFORMED);
    apr_pool_destroy(p);
}

static void test_course_of_class(void **state)
{
    apr_pool_t *p = sub(state);
    const lti_catalog_t *cat = unit_catalog(p);
    const lti_course_t *c = &cat->courses[1];

    assert_ptr_equal(lti_badge_course_of_class(
                         p, cat, apr_pstrcat(p, "https://api.credly.com/v1/obi/v2/"
                                                "badge_classes/", c->ibm_badge_class, NULL)),
                     c);
    assert_ptr_equal(lti_badge_course_of_class(
                         p, cat, apr_pstrcat(p, "http://127.0.0.1:9/classes/",
                                             c->ibm_badge_class, NULL)), c);
    assert_null(lti_badge_course_of_class(p, cat, "https://api.credly.com/v1/obi/v2/"
                                                  "badge_classes/00000000-0000-0000-0000-"
                                                  "000000000000"));
    assert_null(lti_badge_course_of_class(
                    p, cat, apr_pstrcat(p, "https://x/", c->ibm_badge_class, "/more", NULL)));
    assert_null(lti_badge_course_of_class(p, cat, NULL));
    apr_pool_destroy(p);
}

/* ---- lti_badge_verify against a stub issuer ---- */

typedef struct issuer_t {
    int port;
    const char *klass;          /* the badge class id the assertions name */
    apr_pool_t *pool;
} issuer_t;

#define OK_HEAD "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"

static const char *issuer_answer(void *baton, const char *path)
{
    issuer_t *is = baton;
    apr_pool_t *p = is->pool;
    const char *body, *base = apr_psprintf(p, "http://127.0.0.1:%d", is->port);
    /* identity: sha256(b'alice@example.com' + b'deadbeef') */
    const char *recipient = "{\"type\":\"email\",\"hashed\":true,\"salt\":\"deadbeef\","
                            "\"identity\":\"sha256$8783815c3c20ea9adf455ab33f340c67e6058872"
                            "4510de90753049b37daf5a6b\"}";

    if (strcmp(path, "/a/good") == 0 || strcmp(path, "/a/expired") == 0
        || strcmp(path, "/a/revoked") == 0 || strcmp(path, "/a/script") == 0) {
        /* /a/script claims an id on the issuer's host but not an http(s) one */
        body = apr_psprintf(p, "{\"@context\":\"https://w3id.org/openbadges/v2\","
                            "\"type\":\"Assertion\",\"id\":\"%s%s\",\"recipient\":%s,"
                            "\"badge\":\"%s/classes/%s\",\"issuedOn\":\"2026-01-02T03:04:05Z\","
                            "\"verification\":{\"type\":\"HostedBadge\"}%s%s}",
                            strcmp(path, "/a/script") == 0 ? "javascript://127.0.0.1" : base,
                            path,
                            recipient, base, is->klass,
                            strcmp(path, "/a/expired") == 0
                            ? ",\"expires\":\"2020-01-01T00:00:00Z\"" : "",
                            strcmp(path, "/a/revoked") == 0
                            ? ",\"revoked\":true,\"revocationReason\":\"cheated\"" : "");
    }
    else if (strncmp(path, "/classes/", 9) == 0) {
        body = apr_psprintf(p, "{\"@context\":\"https://w3id.org/openbadges/v2\","
                            "\"type\":\"BadgeClass\",\"id\":\"%s%s\",\"name\":\"B\","
                            "\"issuer\":\"%s/issuer\"}", base, path, base);
    }
    else if (strcmp(path, "/issuer") == 0) {
        body = apr_psprintf(p, "{\"@context\":\"https://w3id.org/openbadges/v2\","
                            "\"type\":\"Issuer\",\"id\":\"%s/issuer\",\"name\":\"IBM\"}", base);
    }
    else if (strcmp(path, "/a/moved") == 0) {
        return apr_psprintf(p, "HTTP/1.1 302 Found\r\nLocation: %s/a/good\r\n"
                            "Content-Length: 0\r\nConnection: close\r\n\r\n", base);
    }
    else if (strcmp(path, "/a/away") == 0) {
        return "HTTP/1.1 302 Found\r\nLocation: http://localhost:9/a/good\r\n"
               "Content-Length: 0\r\nConnection: close\r\n\r\n";
    }
    else if (strcmp(path, "/a/gone") == 0) {
        return "HTTP/1.1 410 Gone\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    }
    else {
        return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    }
    return apr_psprintf(p, OK_HEAD "Content-Length: %" APR_SIZE_T_FMT "\r\n\r\n%s",
                        strlen(body), body);
}

static void test_verify(void **state)
{
    apr_pool_t *p = sub(state);
    const lti_catalog_t *cat = unit_catalog(p);
    apr_array_header_t *hosts = apr_array_make(p, 1, sizeof(const char *));
    lti_http_opts_t http = {5, NULL, NULL, 1, 100000};
    issuer_t is = {0, cat->courses[2].ibm_badge_class, NULL};
    lti_badge_evidence_t ev;
    lti_err_t err;
    srv_t srv;
    static const struct {
        const char *path, *email, *claimed, *reason;
        int approval;
    } cases[] = {
        {"/a/good", "alice@example.com", NULL, NULL, 0},
        {"/a/good", "ALICE@example.com", NULL, NULL, 0},
        {"/a/moved", "alice@example.com", NULL, NULL, 0},
        {"/a/good", "alice@uni.example", "alice@example.com", NULL, 1},
        {"/a/good", "alice@uni.example", NULL, "badge_not_yours", 0},
        {"/a/good", "alice@uni.example", "mallory@example.com", "badge_not_yours", 0},
        {"/a/good", NULL, NULL, "badge_not_yours", 0},
        {"/a/expired", "alice@example.com", NULL, "badge_expired", 0},
        {"/a/revoked", "alice@example.com", NULL, "badge_revoked", 0},
        {"/a/gone", "alice@example.com", NULL, "badge_revoked", 0},
        {"/a/away", "alice@example.com", NULL, "badge_redirect_refused", 0},
        {"/a/nothing", "alice@example.com", NULL, "badge_fetch_failed", 0},
        {"/a/script", "alice@example.com", NULL, "badge_issuer_refused", 0},
    };

    /* The server thread's own root pool: APR pools are not shared between threads. */
    apr_pool_create(&is.pool, NULL);
    APR_ARRAY_PUSH(hosts, const char *) = "127.0.0.1";
    srv_start(&srv, issuer_answer, &is);
    is.port = srv.port;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *url = apr_psprintf(p, "http://127.0.0.1:%d%s", srv.port, cases[i].path);
        lti_status_t rv = lti_badge_verify(p, url, cat, hosts, &http, cases[i].email,
                                           cases[i].claimed, 1773446400, &ev, &err);

        if (cases[i].reason == NULL) {
            if (rv != LTI_OK) {
                fail_msg("case %zu (%s): %s", i, cases[i].path, err.text);
            }
            assert_ptr_equal(ev.course, &cat->courses[2]);
            assert_int_equal(ev.needs_approval, cases[i].approval);
            assert_string_equal(ev.assertion_url,
                                apr_psprintf(p, "http://127.0.0.1:%d/a/good", srv.port));
            assert_int_equal(ev.issued_on, 1767323045);
        }
        else if (rv == LTI_OK || strcmp(err.reason, cases[i].reason) != 0) {
            fail_msg("case %zu (%s): want %s, got %s (%s)", i, cases[i].path, cases[i].reason,
                     rv == LTI_OK ? "ok" : err.reason, rv == LTI_OK ? "" : err.text);
        }
    }
    /* A badge class that is not in the catalog. */
    is.klass = "00000000-0000-0000-0000-000000000000";
    assert_int_equal(lti_badge_verify(p, apr_psprintf(p, "http://127.0.0.1:%d/a/good",
                                                      srv.port),
                                      cat, hosts, &http, "alice@example.com", NULL,
                                      1773446400, &ev, &err), LTI_ERR_NOT_FOUND);
    assert_string_equal(err.reason, "badge_class_unknown");
    /* An unknown host is refused before anything is fetched. */
    {
        int before = srv_requests(&srv);

        assert_int_equal(lti_badge_verify(p, apr_psprintf(p, "http://localhost:%d/a/good",
                                                          srv.port),
                                          cat, hosts, &http, "alice@example.com", NULL,
                                          1773446400, &ev, &err), LTI_ERR_FORBIDDEN);
        assert_string_equal(err.reason, "badge_host_unknown");
        assert_int_equal(srv_requests(&srv), before);
    }
    srv_stop(&srv);
    apr_pool_destroy(is.pool);
    apr_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_salt_and_identity),
        cmocka_unit_test(test_recipient_matches),
        cmocka_unit_test(test_profile_and_class_json),
        cmocka_unit_test(test_assertion_json),
        cmocka_unit_test(test_png_bake),
        cmocka_unit_test(test_url_forms),
        cmocka_unit_test(test_course_of_class),
        cmocka_unit_test(test_verify),
    };

    return cmocka_run_group_tests_name("badge", tests, group_setup, group_teardown);
}
