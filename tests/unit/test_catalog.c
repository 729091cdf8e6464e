/* test_catalog.c -- the course catalog: the shipped conf/catalog.xml, lookups and languages,
 * refusals with "NAME:LINE: problem" messages, DOCTYPE/XXE/billion-laughs refusals, size
 * caps and file errors. */
#include <apr_file_io.h>
#include <apr_hash.h>

#include "unit.h"

/* A valid two-course catalog; the numbers are its line numbers, which the refusal table
 * below relies on.  The second course lists its children in another order, wraps text,
 * and uses a CDATA section and character references. */
static const char tmpl[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                                     /* 1 */
    "<catalog xmlns=\"urn:ptech:catalog:1\">\n"                                        /* 2 */
    "  <course id=\"first\" theme=\"data\">\n"                                         /* 3 */
    "    <title><fr>Premier</fr><ar>الأول</ar><en>First</en></title>\n"                /* 4 */
    "    <description><fr>Un cours.</fr><ar>دورة.</ar><en>A course.</en></description>\n"
    "    <passing-score>70</passing-score>\n"                                          /* 6 */
    "    <move-on>Passed</move-on>\n"                                                  /* 7 */
    "    <modules>\n"                                                                  /* 8 */
    "      <module id=\"m1\" weight=\"1\">\n"                                          /* 9 */
    "        <title><fr>Un</fr><ar>واحد</ar><en>One</en></title>\n"                   /* 10 */
    "        <url>https://example.org/m1</url>\n"                                      /* 11 */
    "      </module>\n"                                                                /* 12 */
    "      <module id=\"m2\" weight=\"2\">\n"                                          /* 13 */
    "        <title><fr>Deux</fr><ar>اثنان</ar><en>Two</en></title>\n"                 /* 14 */
    "        <url>https://example.org/m2</url>\n"                                      /* 15 */
    "      </module>\n"                                                                /* 16 */
    "    </modules>\n"                                                                 /* 17 */
    "    <badge image=\"https://example.org/b1.png\">\n"                               /* 18 */
    "      <name><fr>Badge un</fr><ar>الشارة الأولى</ar><en>Badge one</en></name>\n"   /* 19 */
    "      <description><fr>Pour le premier.</fr><ar>للأول.</ar>"
    "<en>For the first.</en></description>\n"                                          /* 20 */
    "    </badge>\n"                                                                   /* 21 */
    "    <ibm-badge class=\"0f8fad5b-d9cb-469f-a165-70867728950e\"/>\n"                /* 22 */
    "  </course>\n"                                                                    /* 23 */
    "  <course id=\"second\" theme=\"cloud\">\n"                                       /* 24 */
    "    <ibm-badge class=\"7c9e6679-7425-40de-944b-e07fc1f90ae7\"/>\n"                /* 25 */
    "    <move-on>CompletedAndPassed</move-on>\n"                                      /* 26 */
    "    <passing-score> 72.5 </passing-score>\n"                                      /* 27 */
    "    <title>\n"                                                                    /* 28 */
    "      <en>Second</en>\n"                                                          /* 29 */
    "      <ar>الثاني</ar>\n"                                                          /* 30 */
    "      <fr>  Deuxième\n"                                                           /* 31 */
    "        cours  </fr>\n"                                                           /* 32 */
    "    </title>\n"                                                                   /* 33 */
    "    <description><fr>Encore &amp; toujours</fr><ar><![CDATA[دورة <ثانية>]]></ar>"
    "<en>Again &#x26; again</en></description>\n"                                      /* 34 */
    "    <modules>\n"                                                                  /* 35 */
    "      <!-- one module -->\n"                                                      /* 36 */
    "      <module weight=\".5\" id=\"intro\">\n"                                      /* 37 */
    "        <url>https://example.org/intro</url>\n"                                   /* 38 */
    "        <title><fr>Intro</fr><ar>مقدمة</ar><en>Intro</en></title>\n"              /* 39 */
    "      </module>\n"                                                                /* 40 */
    "    </modules>\n"                                                                 /* 41 */
    "    <badge image=\"/ptech/badges/second.png\">\n"                                 /* 42 */
    "      <description><fr>Pour le second.</fr><ar>للثاني.</ar>"
    "<en>For the second.</en></description>\n"                                         /* 43 */
    "      <name><fr>Badge deux</fr><ar>الشارة الثانية</ar><en>Badge two</en></name>\n" /* 44 */
    "    </badge>\n"                                                                   /* 45 */
    "  </course>\n"                                                                    /* 46 */
    "</catalog>\n";                                                                    /* 47 */

/* tmpl with the first occurrence of each `from` replaced by its `to` (NULL: unused). */
static const char *edit(apr_pool_t *p, const char *xml, const char *from1, const char *to1,
                        const char *from2, const char *to2)
{
    const char *from[2] = {from1, from2}, *to[2] = {to1, to2};

    for (int i = 0; i < 2; i++) {
        const char *at;

        if (from[i] == NULL) {
            continue;
        }
        at = strstr(xml, from[i]);
        if (at == NULL) {
            fail_msg("test table: '%s' is not in the template", from[i]);
        }
        xml = apr_psprintf(p, "%.*s%s%s", (int)(at - xml), xml, to[i], at + strlen(from[i]));
    }
    return xml;
}

static lti_status_t parse_str(apr_pool_t *p, const char *xml, lti_catalog_t **cat,
                              lti_err_t *err)
{
    lti_err_clear(err);
    return lti_catalog_parse(p, xml, strlen(xml), "bad.xml", cat, err);
}

/* Checks a refusal: LTI_ERR_CONFIG, no catalog, "bad.xml:LINE: " first, and word inside. */
static void assert_refused(const char *label, lti_status_t st, const lti_catalog_t *cat,
                           const lti_err_t *err, int line, const char *word)
{
    char prefix[32];

    if (getenv("CATALOG_VERBOSE") != NULL) {
        print_message("%-28s %s\n", label, err->text);
    }
    snprintf(prefix, sizeof(prefix), "bad.xml:%d: ", line);
    if (st != LTI_ERR_CONFIG || err->status != LTI_ERR_CONFIG || cat != NULL
        || strncmp(err->text, prefix, strlen(prefix)) != 0 || strstr(err->text, word) == NULL
        || err->reason == NULL) {
        fail_msg("%s: got %s \"%s\"; wanted LTI_ERR_CONFIG \"%s...%s...\"", label,
                 lti_status_name(st), err->text, prefix, word);
    }
}

static void all_texts_set(const lti_i18n_t *t, const char *what)
{
    if (t->fr == NULL || t->ar == NULL || t->en == NULL || !t->fr[0] || !t->ar[0]
        || !t->en[0]) {
        fail_msg("%s: a translation is missing", what);
    }
    /* Arabic texts are in Arabic script (U+0600..U+06FF: UTF-8 lead bytes 0xD8..0xDB). */
    if (!((unsigned char)t->ar[0] >= 0xd8 && (unsigned char)t->ar[0] <= 0xdb)
        && strchr(t->ar, 0xd8) == NULL) {
        fail_msg("%s: the ar text is not in Arabic script: %s", what, t->ar);
    }
}

static int is_uuid(const char *s)
{
    if (strlen(s) != 36) {
        return 0;
    }
    for (int i = 0; i < 36; i++) {
        int dash = (i == 8 || i == 13 || i == 18 || i == 23);
        if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

static void test_shipped_catalog(void **state)
{
    apr_pool_t *p = *state;
    const char *path = unit_path(p, "conf/catalog.xml");
    const char *xml = NULL;
    lti_catalog_t *cat = NULL;
    apr_hash_t *ids = apr_hash_make(p);
    lti_err_t err;

    lti_err_clear(&err);
    if (lti_catalog_load_file(p, path, &cat, &xml, &err) != LTI_OK) {
        fail_msg("%s", err.text);
    }
    assert_non_null(xml);
    assert_string_equal(cat->source, path);
    assert_string_equal(cat->sha256, lti_sha256_hex(p, xml, strlen(xml)));
    assert_int_equal(strlen(cat->sha256), 64);
    assert_int_equal(cat->ncourses, 10);
    for (int i = 0; i < cat->ncourses; i++) {
        const lti_course_t *c = &cat->courses[i];
        apr_hash_t *mids = apr_hash_make(p);

        assert_null(apr_hash_get(ids, c->id, APR_HASH_KEY_STRING));
        apr_hash_set(ids, c->id, APR_HASH_KEY_STRING, c);
        assert_true(c->theme != NULL && c->theme[0] != '\0');
        all_texts_set(&c->title, c->id);
        all_texts_set(&c->description, c->id);
        all_texts_set(&c->badge_name, c->id);
        all_texts_set(&c->badge_description, c->id);
        assert_true(c->passing_score >= 0 && c->passing_score <= 100);
        assert_true(strcmp(c->move_on, "Passed") == 0 || strcmp(c->move_on, "Completed") == 0
                    || strcmp(c->move_on, "CompletedAndPassed") == 0
                    || strcmp(c->move_on, "CompletedOrPassed") == 0);
        assert_true(c->nmodules >= 3 && c->nmodules <= 6);
        for (int j = 0; j < c->nmodules; j++) {
            const lti_module_t *m = &c->modules[j];

            assert_null(apr_hash_get(mids, m->id, APR_HASH_KEY_STRING));
            apr_hash_set(mids, m->id, APR_HASH_KEY_STRING, m);
            all_texts_set(&m->title, m->id);
            assert_true(strncmp(m->url, "https://", 8) == 0);
            assert_true(m->weight > 0);
        }
        assert_true(strncmp(c->badge_image, "https://", 8) == 0);
        if (!is_uuid(c->ibm_badge_class)) {
            fail_msg("%s: ibm-badge class '%s' is not a UUID", c->id, c->ibm_badge_class);
        }
        assert_ptr_equal(lti_catalog_course(cat, c->id), c);
    }
    /* the same file without xml_out */
    cat = NULL;
    assert_int_equal(lti_catalog_load_file(p, path, &cat, NULL, &err), LTI_OK);
    assert_int_equal(cat->ncourses, 10);
}

static void test_parse_fields(void **state)
{
    apr_pool_t *p = *state;
    lti_catalog_t *cat = NULL;
    const lti_course_t *c;
    lti_err_t err;

    if (parse_str(p, tmpl, &cat, &err) != LTI_OK) {
        fail_msg("%s", err.text);
    }
    assert_string_equal(cat->source, "bad.xml");
    assert_string_equal(cat->sha256, lti_sha256_hex(p, tmpl, strlen(tmpl)));
    assert_int_equal(cat->ncourses, 2);

    c = &cat->courses[0];
    assert_string_equal(c->id, "first");
    assert_string_equal(c->theme, "data");
    assert_string_equal(c->title.fr, "Premier");
    assert_string_equal(c->title.ar, "الأول");
    assert_string_equal(c->title.en, "First");
    assert_true(c->passing_score == 70.0);
    assert_string_equal(c->move_on, "Passed");
    assert_int_equal(c->nmodules, 2);
    assert_string_equal(c->modules[1].id, "m2");
    assert_string_equal(c->modules[1].title.ar, "اثنان");
    assert_string_equal(c->modules[1].url, "https://example.org/m2");
    assert_true(c->modules[1].weight == 2.0);
    assert_string_equal(c->badge_image, "https://example.org/b1.png");
    assert_string_equal(c->badge_name.en, "Badge one");
    assert_string_equal(c->badge_description.fr, "Pour le premier.");
    assert_string_equal(c->ibm_badge_class, "0f8fad5b-d9cb-469f-a165-70867728950e");

    c = &cat->courses[1];
    assert_string_equal(c->id, "second");
    assert_string_equal(c->title.fr, "Deuxième cours");    /* white space collapsed */
    assert_string_equal(c->description.fr, "Encore & toujours");
    assert_string_equal(c->description.ar, "دورة <ثانية>");
    assert_string_equal(c->description.en, "Again & again");
    assert_true(c->passing_score == 72.5);
    assert_string_equal(c->move_on, "CompletedAndPassed");
    assert_int_equal(c->nmodules, 1);
    assert_string_equal(c->modules[0].id, "intro");
    assert_true(c->modules[0].weight == 0.5);
    assert_string_equal(c->badge_image, "/ptech/badges/second.png");
    assert_string_equal(c->badge_name.ar, "الشارة الثانية");
    assert_string_equal(c->ibm_badge_class, "7c9e6679-7425-40de-944b-e07fc1f90ae7");

    /* a byte more gives another hash */
    assert_int_equal(lti_catalog_parse(p, apr_pstrcat(p, tmpl, "\n", NULL), strlen(tmpl) + 1,
                                       "x", &cat, &err), LTI_OK);
    assert_string_not_equal(cat->sha256, lti_sha256_hex(p, tmpl, strlen(tmpl)));
}

static void test_lookups(void **state)
{
    apr_pool_t *p = *state;
    lti_catalog_t *cat = NULL;
    const lti_course_t *c;
    lti_err_t err;

    assert_int_equal(parse_str(p, tmpl, &cat, &err), LTI_OK);
    c = lti_catalog_course(cat, "second");
    assert_non_null(c);
    assert_string_equal(c->id, "second");
    assert_ptr_equal(lti_catalog_course(cat, "first"), &cat->courses[0]);
    assert_null(lti_catalog_course(cat, "third"));
    assert_null(lti_catalog_course(cat, "Second"));
    assert_null(lti_catalog_course(cat, ""));
    assert_null(lti_catalog_course(cat, NULL));
    assert_null(lti_catalog_course(NULL, "first"));

    assert_ptr_equal(lti_catalog_module(c, "intro"), &c->modules[0]);
    assert_null(lti_catalog_module(c, "m1"));               /* a module of the other course */
    assert_ptr_equal(lti_catalog_module(&cat->courses[0], "m2"), &cat->courses[0].modules[1]);
    assert_null(lti_catalog_module(c, NULL));
    assert_null(lti_catalog_module(NULL, "intro"));
}

static void test_lang_of(void **state)
{
    static const struct {
        const char *locale, *lang;
    } rows[] = {
        {"fr", "fr"}, {"fr-FR", "fr"}, {"fr_CA", "fr"}, {"ar", "ar"}, {"ar-MA", "ar"},
        {"ar_MA", "ar"}, {"AR-ma", "ar"}, {"ar-EG", "ar"}, {"en", "en"}, {"en-US", "en"},
        {"en_us", "en"}, {"EN", "en"}, {"en-GB", "en"}, {"de", "fr"}, {"es-ES", "fr"},
        {"", "fr"}, {"a", "fr"}, {"e", "fr"}, {"arabic", "fr"}, {"zh-Hans", "fr"},
        {NULL, "fr"},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *got = lti_lang_of(rows[i].locale);
        if (strcmp(got, rows[i].lang) != 0) {
            fail_msg("lti_lang_of(%s) = %s, wanted %s", rows[i].locale ? rows[i].locale
                     : "NULL", got, rows[i].lang);
        }
    }
}

static void test_i18n_get(void **state)
{
    static const lti_i18n_t full = {"Bonjour", "مرحبا", "Hello"};
    static const lti_i18n_t no_en = {"Bonjour", "مرحبا", ""};
    static const lti_i18n_t no_ar = {"Bonjour", NULL, "Hello"};
    static const struct {
        const lti_i18n_t *t;
        const char *locale, *want;
    } rows[] = {
        {&full, "fr", "Bonjour"}, {&full, "ar_MA", "مرحبا"}, {&full, "ar-MA", "مرحبا"},
        {&full, "ar", "مرحبا"}, {&full, "en-US", "Hello"}, {&full, "de-DE", "Bonjour"},
        {&full, NULL, "Bonjour"}, {&full, "", "Bonjour"}, {&no_en, "en", "Bonjour"},
        {&no_en, "ar", "مرحبا"}, {&no_ar, "ar", "Bonjour"}, {&no_ar, "en", "Hello"},
        {NULL, "fr", ""},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *got = lti_i18n_get(rows[i].t, rows[i].locale);
        if (got == NULL || strcmp(got, rows[i].want) != 0) {
            fail_msg("row %d: got '%s', wanted '%s'", (int)i, got ? got : "NULL",
                     rows[i].want);
        }
    }
}

static void test_invalid_documents(void **state)
{
    static const struct {
        const char *label;
        const char *from1, *to1, *from2, *to2;  /* edits of tmpl */
        const char *xml;                         /* or a whole document */
        int line;
        const char *word;
    } rows[] = {
        {"not well-formed", "70</passing-score>", "70</passing-scor>", NULL, NULL, NULL, 6,
         "mismatch"},
        {"undefined entity", "Un cours.", "Un&nbsp;cours.", NULL, NULL, NULL, 5, "nbsp"},
        {"bare ampersand", "Un cours.", "Cours & TD", NULL, NULL, NULL, 5, "Entity"},
        {"invalid UTF-8", "Premier", "Pr\xe9mier", NULL, NULL, NULL, 4, "UTF-8"},
        {"empty document", NULL, NULL, NULL, NULL, "", 1, "empty"},
        {"text only", NULL, NULL, NULL, NULL, "catalog", 1, "Start tag"},
        {"two roots", "</catalog>\n", "</catalog>\n<catalog/>\n", NULL, NULL, NULL, 48,
         "Extra content"},
        {"wrong root", "<catalog xmlns", "<courses xmlns", "</catalog>", "</courses>", NULL,
         2, "courses"},
        {"wrong namespace", "urn:ptech:catalog:1", "urn:ptech:catalog:2", NULL, NULL, NULL,
         2, "catalog"},
        {"missing ibm-badge", "    <ibm-badge class=\"0f8fad5b-d9cb-469f-a165-70867728950e\"/>\n",
         "", NULL, NULL, NULL, 3, "ibm-badge"},
        {"missing passing-score", "    <passing-score>70</passing-score>\n", "", NULL, NULL,
         NULL, 3, "passing-score"},
        {"misspelt element", "<module weight", "<modul weight", "</module>\n    "
         "</modules>\n    <badge image=\"/", "</modul>\n    </modules>\n    <badge image=\"/",
         NULL, 35, "modul"},
        {"unknown element", "<move-on>Passed</move-on>",
         "<move-on>Passed</move-on><price>10</price>", NULL, NULL, NULL, 7,
         "element price is not allowed in course"},
        {"unknown language", "<fr>Premier</fr>", "<fr>Premier</fr><de>Erste</de>", NULL, NULL,
         NULL, 4, "element de is not allowed in title"},
        {"unknown attribute", "theme=\"data\"", "theme=\"data\" lang=\"fr\"", NULL, NULL,
         NULL, 3, "lang"},
        {"two move-on", "<move-on>Passed</move-on>",
         "<move-on>Passed</move-on>\n<move-on>Passed</move-on>", NULL, NULL, NULL, 8,
         "move-on"},
        {"bad number", ">70<", ">seventy<", NULL, NULL, NULL, 6, "decimal"},
        {"bad weight number", "weight=\"2\"", "weight=\"2,5\"", NULL, NULL, NULL, 13,
         "module"},
        {"passing score over 100", ">70<", ">120<", NULL, NULL, NULL, 6,
         "passing-score 120 is not between 0 and 100"},
        {"negative passing score", ">70<", ">-1<", NULL, NULL, NULL, 6, "between 0 and 100"},
        {"zero weight", "weight=\"2\"", "weight=\"0.0\"", NULL, NULL, NULL, 13,
         "module 'm2': weight 0.0 must be greater than 0"},
        {"negative weight", "weight=\".5\"", "weight=\"-3\"", NULL, NULL, NULL, 37,
         "greater than 0"},
        {"bad move-on", "<move-on>Passed<", "<move-on>Done<", NULL, NULL, NULL, 7,
         "one of Passed, Completed, CompletedAndPassed, CompletedOrPassed"},
        {"bad course id", "id=\"first\"", "id=\"First course\"", NULL, NULL, NULL, 3,
         "lowercase letters"},
        {"bad ibm badge class", "0f8fad5b-d9cb-469f-a165-70867728950e", "not-a-uuid", NULL,
         NULL, NULL, 22, "Credly badge class id"},
        {"http content url", "https://example.org/m1", "http://example.org/m1", NULL, NULL,
         NULL, 11, "https:// URL"},
        {"duplicate course id", "id=\"second\"", "id=\"first\"", NULL, NULL, NULL, 24,
         "duplicate course id 'first' (first used at line 3)"},
        {"duplicate module id", "id=\"m2\"", "id=\"m1\"", NULL, NULL, NULL, 13,
         "course 'first': duplicate module id 'm1' (first used at line 9)"},
        {"missing Arabic title", "<ar>الأول</ar>", "", NULL, NULL, NULL, 4, "element ar"},
        {"two French titles", "<fr>Premier</fr>", "<fr>Premier</fr><fr>Encore</fr>", NULL,
         NULL, NULL, 4, "fr"},
        {"empty English title", "<en>First</en>", "<en>  </en>", NULL, NULL, NULL, 4,
         "course 'first' title: the English (en) text is empty"},
        {"empty Arabic module title", "<ar>واحد</ar>", "<ar></ar>", NULL, NULL, NULL, 10,
         "course 'first' module 'm1' title: the Arabic (ar) text is empty"},
        {"empty badge description", "<fr>Pour le second.</fr>", "<fr>\n\t</fr>", NULL, NULL,
         NULL, 43, "course 'second' badge description: the French (fr) text is empty"},
        {"xinclude", "<fr>Premier</fr>", "<fr><xi:include "
         "xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"file:///etc/passwd\" "
         "parse=\"text\"/></fr>", NULL, NULL, NULL, 4, "include"},
    };
    apr_pool_t *p = *state;

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *xml = rows[i].xml ? rows[i].xml
                          : edit(p, tmpl, rows[i].from1, rows[i].to1, rows[i].from2,
                                 rows[i].to2);
        lti_catalog_t *cat = NULL;
        lti_err_t err;
        lti_status_t st = parse_str(p, xml, &cat, &err);

        assert_refused(rows[i].label, st, cat, &err, rows[i].line, rows[i].word);
    }
}

/* The first line of /etc/passwd, to check it never shows up anywhere. */
static const char *passwd_line(apr_pool_t *p)
{
    char buf[256] = "root:x:0:0:";
    FILE *f = fopen("/etc/passwd", "r");

    if (f != NULL) {
        if (fgets(buf, sizeof(buf), f) == NULL) {
            strcpy(buf, "root:x:0:0:");
        }
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = '\0';
    return apr_pstrdup(p, buf);
}

#define LOL "<!ENTITY lol \"lol\">"
#define LOLS(n, m) "<!ENTITY lol" #n " \"&lol" #m ";&lol" #m ";&lol" #m ";&lol" #m ";&lol" \
    #m ";&lol" #m ";&lol" #m ";&lol" #m ";&lol" #m ";&lol" #m ";\">"

static void test_hostile_documents(void **state)
{
    static const struct {
        const char *label, *doctype, *entity_use;
    } rows[] = {
        {"XXE", "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>", "&e;"},
        {"XXE on catalog", "<!DOCTYPE catalog [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>",
         "&e;"},
        {"parameter entity", "<!DOCTYPE catalog [<!ENTITY % p SYSTEM \"file:///etc/passwd\">"
         " %p;]>", "Premier"},
        {"billion laughs", "<!DOCTYPE catalog [<!ENTITY lol \"lol\">"
         "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
         LOLS(2, 1) LOLS(3, 2) LOLS(4, 3) LOLS(5, 4) LOLS(6, 5) LOLS(7, 6) LOLS(8, 7)
         LOLS(9, 8) "]>", "&lol9;"},
        {"external DTD", "<!DOCTYPE catalog SYSTEM \"file:///etc/passwd\">", "Premier"},
        {"external DTD over the network",
         "<!DOCTYPE catalog PUBLIC \"-//x//y\" \"http://127.0.0.1:9/x.dtd\">", "Premier"},
        {"empty DOCTYPE", "<!DOCTYPE catalog>", "Premier"},
        {"internal subset only", "<!DOCTYPE catalog [<!ATTLIST course theme CDATA \"x\">]>",
         "Premier"},
    };
    apr_pool_t *p = *state;
    const char *secret = passwd_line(p);

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *xml = edit(p, tmpl, "?>\n", apr_pstrcat(p, "?>\n", rows[i].doctype, "\n",
                                                             NULL),
                               "<fr>Premier<", apr_pstrcat(p, "<fr>", rows[i].entity_use,
                                                           "<", NULL));
        lti_catalog_t *cat = NULL;
        lti_err_t err;
        lti_status_t st = parse_str(p, xml, &cat, &err);

        assert_refused(rows[i].label, st, cat, &err, 2, "DOCTYPE");
        assert_null(strstr(err.text, secret));
        assert_null(strstr(err.text, "lollol"));
    }
}

/* The same refusals from files under tests/vectors/catalog (the name is the path given). */
static void test_hostile_files(void **state)
{
    static const char *const files[] = {
        "xxe.xml", "billion-laughs.xml", "external-dtd.xml",
    };
    apr_pool_t *p = *state;
    const char *secret = passwd_line(p);

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        const char *path = unit_path(p, apr_pstrcat(p, "tests/vectors/catalog/", files[i],
                                                    NULL));
        const char *xml = "unset";
        lti_catalog_t *cat = NULL;
        lti_err_t err;
        lti_status_t st = lti_catalog_load_file(p, path, &cat, &xml, &err);

        if (st != LTI_ERR_CONFIG || strncmp(err.text, path, strlen(path)) != 0
            || strstr(err.text, "DOCTYPE") == NULL) {
            fail_msg("%s: %s %s", files[i], lti_status_name(st), err.text);
        }
        assert_null(cat);
        assert_null(xml);
        assert_null(strstr(err.text, secret));
    }
}

/* A refusal far down a file still names the right line (past libxml2's 16-bit lines). */
static void test_big_line_numbers(void **state)
{
    apr_pool_t *p = *state;
    char *blank = apr_palloc(p, 70001);
    const char *xml;
    lti_catalog_t *cat = NULL;
    lti_err_t err;

    memset(blank, '\n', 70000);
    blank[70000] = '\0';
    xml = edit(p, tmpl, "  <course id=\"second\"",
               apr_pstrcat(p, blank, "  <course id=\"first\"", NULL), NULL, NULL);
    assert_refused("big lines", parse_str(p, xml, &cat, &err), cat, &err, 70024,
                   "duplicate course id");
    xml = edit(p, tmpl, "  <course id=\"second\"", apr_pstrcat(p, blank, "  <course id=\"second\"",
                                                                NULL),
               "> 72.5 <", ">200<");
    assert_refused("big lines", parse_str(p, xml, &cat, &err), cat, &err, 70027,
                   "between 0 and 100");
}

static void test_too_large(void **state)
{
    apr_pool_t *p = *state;
    size_t max = LTI_CATALOG_MAX_BYTES, n = strlen(tmpl);
    char *big = apr_palloc(p, max + 2);
    const char *dir, *path;
    apr_file_t *f;
    apr_size_t written;
    lti_catalog_t *cat = NULL;
    lti_err_t err;

    /* exactly at the cap: accepted (trailing white space after the root is allowed) */
    memcpy(big, tmpl, n);
    memset(big + n, ' ', max + 1 - n);
    big[max + 1] = '\0';
    assert_int_equal(lti_catalog_parse(p, big, max, "big.xml", &cat, &err), LTI_OK);
    assert_int_equal(cat->ncourses, 2);

    /* one byte over: refused before parsing */
    lti_err_clear(&err);
    assert_int_equal(lti_catalog_parse(p, big, max + 1, "big.xml", &cat, &err),
                     LTI_ERR_TOO_LARGE);
    assert_null(cat);
    assert_int_equal(err.status, LTI_ERR_TOO_LARGE);
    assert_non_null(strstr(err.text, "big.xml"));

    /* and from a file */
    assert_int_equal(apr_temp_dir_get(&dir, p), APR_SUCCESS);
    path = apr_pstrcat(p, dir, "/test_catalog_XXXXXX", NULL);
    assert_int_equal(apr_file_mktemp(&f, (char *)path, APR_FOPEN_CREATE | APR_FOPEN_READ
                                     | APR_FOPEN_WRITE | APR_FOPEN_EXCL
                                     | APR_FOPEN_DELONCLOSE, p), APR_SUCCESS);
    assert_int_equal(apr_file_write_full(f, big, max + 1, &written), APR_SUCCESS);
    assert_int_equal(apr_file_flush(f), APR_SUCCESS);
    assert_int_equal(lti_catalog_load_file(p, path, &cat, NULL, &err), LTI_ERR_TOO_LARGE);
    assert_null(cat);
    assert_non_null(strstr(err.text, path));
    apr_file_close(f);
}

static void test_load_file_errors(void **state)
{
    apr_pool_t *p = *state;
    const char *path = unit_path(p, "tests/vectors/catalog/no-such-file.xml");
    const char *xml = "unset";
    lti_catalog_t *cat = NULL;
    lti_err_t err;

    assert_int_equal(lti_catalog_load_file(p, path, &cat, &xml, &err), LTI_ERR_IO);
    assert_int_equal(err.status, LTI_ERR_IO);
    assert_null(cat);
    assert_null(xml);
    assert_non_null(strstr(err.text, path));

    path = unit_path(p, "tests/vectors/catalog");
    assert_int_equal(lti_catalog_load_file(p, path, &cat, &xml, &err), LTI_ERR_IO);
    assert_non_null(strstr(err.text, path));

    assert_int_equal(lti_catalog_load_file(p, NULL, &cat, &xml, &err), LTI_ERR_INTERNAL);
    assert_int_equal(lti_catalog_parse(p, NULL, 0, "x", &cat, &err), LTI_ERR_INTERNAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_catalog),
        cmocka_unit_test(test_parse_fields),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_lang_of),
        cmocka_unit_test(test_i18n_get),
        cmocka_unit_test(test_invalid_documents),
        cmocka_unit_test(test_hostile_documents),
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_big_line_numbers),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_load_file_errors),
    };

    return cmocka_run_group_tests_name("catalog", tests, unit_group_setup, unit_group_teardown);
}
