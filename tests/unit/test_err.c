/* test_err.c -- status names and texts, the error detail and the log callback. */
#include "unit.h"

/* Every status with the name it must report (a reordered table would show here). */
static const struct {
    lti_status_t status;
    const char *name;
} names[] = {
    {LTI_OK, "LTI_OK"},
    {LTI_ERR_NOMEM, "LTI_ERR_NOMEM"},
    {LTI_ERR_MALFORMED, "LTI_ERR_MALFORMED"},
    {LTI_ERR_MISSING, "LTI_ERR_MISSING"},
    {LTI_ERR_UNSUPPORTED, "LTI_ERR_UNSUPPORTED"},
    {LTI_ERR_TOO_LARGE, "LTI_ERR_TOO_LARGE"},
    {LTI_ERR_SIGNATURE, "LTI_ERR_SIGNATURE"},
    {LTI_ERR_UNKNOWN_KEY, "LTI_ERR_UNKNOWN_KEY"},
    {LTI_ERR_EXPIRED, "LTI_ERR_EXPIRED"},
    {LTI_ERR_REPLAY, "LTI_ERR_REPLAY"},
    {LTI_ERR_FORBIDDEN, "LTI_ERR_FORBIDDEN"},
    {LTI_ERR_NOT_FOUND, "LTI_ERR_NOT_FOUND"},
    {LTI_ERR_EXISTS, "LTI_ERR_EXISTS"},
    {LTI_ERR_CONFIG, "LTI_ERR_CONFIG"},
    {LTI_ERR_IO, "LTI_ERR_IO"},
    {LTI_ERR_STORE, "LTI_ERR_STORE"},
    {LTI_ERR_CRYPTO, "LTI_ERR_CRYPTO"},
    {LTI_ERR_UPSTREAM, "LTI_ERR_UPSTREAM"},
    {LTI_ERR_INTERNAL, "LTI_ERR_INTERNAL"},
};

/* Each status has a distinct name and a distinct, non-empty text. */
static void test_every_status_named(void **state)
{
    (void)state;
    assert_int_equal(sizeof(names) / sizeof(names[0]), LTI_ERR__COUNT);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_string_equal(lti_status_name(names[i].status), names[i].name);
    }
    for (int i = 0; i < LTI_ERR__COUNT; i++) {
        const char *name = lti_status_name((lti_status_t)i);
        const char *text = lti_strerror((lti_status_t)i);

        assert_non_null(name);
        assert_non_null(text);
        assert_true(strncmp(name, "LTI_", 4) == 0);
        assert_true(text[0] != '\0');
        assert_string_not_equal(text, "unknown error");
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(name, lti_status_name((lti_status_t)j));
            assert_string_not_equal(text, lti_strerror((lti_status_t)j));
        }
    }
    assert_string_equal(lti_strerror(LTI_OK), "success");
}

/* Out-of-range values get a fixed name and text, never NULL or a read past the table. */
static void test_out_of_range(void **state)
{
    static const int bad[] = {LTI_ERR__COUNT, LTI_ERR__COUNT + 1, 1000, -1, -1000};

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_string_equal(lti_status_name((lti_status_t)bad[i]), "LTI_ERR_UNKNOWN");
        assert_string_equal(lti_strerror((lti_status_t)bad[i]), "unknown error");
    }
}

/* lti_err_set fills the detail and returns the status; NULL err just returns it. */
static void test_err_set(void **state)
{
    lti_err_t err;

    (void)state;
    assert_int_equal(lti_err_set(NULL, LTI_ERR_REPLAY, "r", "x %d", 1), LTI_ERR_REPLAY);

    memset(&err, 0x5a, sizeof(err));
    assert_int_equal(lti_err_set(&err, LTI_ERR_MISSING, "lti_missing_param",
                                 "parameter '%s' is missing (%d of %d)", "user_id", 1, 2),
                     LTI_ERR_MISSING);
    assert_int_equal(err.status, LTI_ERR_MISSING);
    assert_string_equal(err.reason, "lti_missing_param");
    assert_string_equal(err.text, "parameter 'user_id' is missing (1 of 2)");

    /* A NULL reason becomes "error". */
    assert_int_equal(lti_err_set(&err, LTI_ERR_IO, NULL, "%s", "disk"), LTI_ERR_IO);
    assert_string_equal(err.reason, "error");
    assert_string_equal(err.text, "disk");

    lti_err_clear(&err);
    assert_int_equal(err.status, LTI_OK);
    assert_null(err.reason);
    assert_string_equal(err.text, "");
    lti_err_clear(NULL);
}

/* A text longer than the buffer is cut, NUL-terminated, and nothing past it is touched. */
static void test_err_set_truncates(void **state)
{
    apr_pool_t *p = *state;
    struct {
        lti_err_t err;
        char guard[64];
    } box;
    char *big = apr_palloc(p, 4001);
    char guard[64];

    memset(big, 'x', 4000);
    big[4000] = '\0';
    memset(box.guard, 'G', sizeof(box.guard));
    memcpy(guard, box.guard, sizeof(guard));
    lti_err_set(&box.err, LTI_ERR_TOO_LARGE, "big", "<%s>", big);
    assert_int_equal(strlen(box.err.text), sizeof(box.err.text) - 1);
    assert_int_equal(box.err.text[0], '<');
    assert_int_equal(box.err.text[sizeof(box.err.text) - 2], 'x');
    assert_memory_equal(box.guard, guard, sizeof(guard));
}

typedef struct {
    int calls;
    lti_log_level_t level;
    char file[256];
    int line;
    char msg[2048];
} sink_t;

static void sink(void *baton, lti_log_level_t level, const char *file, int line,
                 const char *msg)
{
    sink_t *s = baton;

    s->calls++;
    s->level = level;
    snprintf(s->file, sizeof(s->file), "%s", file);
    s->line = line;
    snprintf(s->msg, sizeof(s->msg), "%s", msg);
}

/* The installed sink receives level, file, line and the formatted message. */
static void test_log_sink(void **state)
{
    static const lti_log_level_t levels[] = {LTI_LOG_ERR, LTI_LOG_WARN, LTI_LOG_INFO,
                                             LTI_LOG_DEBUG};
    apr_pool_t *p = *state;
    sink_t s;
    char *big = apr_palloc(p, 3001);
    int line;

    memset(&s, 0, sizeof(s));
    lti_log_set(sink, &s);

    lti_log(LTI_LOG_WARN, "store %s: %d", "purge", 42);
    line = __LINE__ - 1;
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.level, LTI_LOG_WARN);
    assert_string_equal(s.msg, "store purge: 42");
    assert_int_equal(s.line, line);
    assert_non_null(strstr(s.file, "test_err.c"));

    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        lti_log(levels[i], "level %d", (int)i);
        assert_int_equal(s.level, levels[i]);
    }
    assert_int_equal(s.calls, 5);

    /* A long message is cut, not overflowed. */
    memset(big, 'y', 3000);
    big[3000] = '\0';
    lti_log(LTI_LOG_ERR, "%s", big);
    assert_int_equal(s.calls, 6);
    assert_true(strlen(s.msg) > 0 && strlen(s.msg) < 3000);
    assert_int_equal(s.msg[0], 'y');

    /* A NULL sink drops messages. */
    lti_log_set(NULL, NULL);
    lti_log(LTI_LOG_ERR, "dropped %d", 1);
    assert_int_equal(s.calls, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_status_named),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_err_set),
        cmocka_unit_test(test_err_set_truncates),
        cmocka_unit_test(test_log_sink),
    };

    return cmocka_run_group_tests_name("err", tests, unit_group_setup, unit_group_teardown);
}
