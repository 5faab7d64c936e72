/* test_abuse_base.c - kcoro/base.h called as a careless user would.
 *
 * Every public function of the header with NULL, zero, negative, huge and
 * stale arguments: each returns the documented negative errno (or is the
 * documented no-op) and changes nothing. mk/lint-abuse.sh holds every
 * public header to having such a file. Leaks show under ASan and Valgrind.
 */
#include "kcoro.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

static void test_abuse_base_error_texts_for_every_int(void **state)
{
    (void)state;
    /* INT_MIN cannot be negated: these used to be undefined behaviour */
    assert_string_equal(kc_strerror(INT_MIN), "unknown error");
    assert_string_equal(kc_errname(INT_MIN), "E?");
    assert_string_equal(kc_strerror(INT_MIN + 1), "unknown error");
    assert_string_equal(kc_errname(INT_MIN + 1), "E?");
    assert_string_equal(kc_strerror(INT_MAX), "success");
    assert_string_equal(kc_errname(INT_MAX), "OK");
    assert_string_equal(kc_strerror(0), "success");
    assert_string_equal(kc_errname(0), "OK");
    assert_string_equal(kc_strerror(-1000000), "unknown error");
    assert_string_equal(kc_errname(EPIPE), "OK"); /* positive: a result, not an error */
#define X(name, code, text)                                                                        \
    assert_string_equal(kc_strerror(-(code)), text);                                               \
    assert_string_equal(kc_errname(-(code)), #name);
    KC_ERRORS(X)
#undef X
}

static void test_abuse_base_version_matches_the_headers(void **state)
{
    (void)state;
    char want[32];
    snprintf(want, sizeof(want), "%d.%d.%d", KC_VERSION_MAJOR, KC_VERSION_MINOR, KC_VERSION_PATCH);
    assert_string_equal(kc_version(), want);
    assert_ptr_equal(kc_version(), kc_version()); /* static */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_base_error_texts_for_every_int),
        cmocka_unit_test(test_abuse_base_version_matches_the_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
