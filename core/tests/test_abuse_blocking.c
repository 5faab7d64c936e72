/* test_abuse_blocking.c - kcoro/blocking.h called as a careless user would.
 *
 * Every public function of the header with NULL, zero, negative, huge and
 * stale arguments: each returns the documented negative errno (or is the
 * documented no-op) and changes nothing. mk/lint-abuse.sh holds every
 * public header to having such a file. Leaks show under ASan and Valgrind.
 * Results seen inside coroutines are recorded and asserted on the main
 * stack (STYLE.md).
 */
#include "kcoro.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

static int twice(void *arg)
{
    return 2 * (int)(intptr_t)arg;
}

static void test_abuse_blocking_configure_and_metrics(void **state)
{
    (void)state;
    assert_int_equal(kc_blocking_configure(0, 8), -EINVAL);
    assert_int_equal(kc_blocking_configure(KC_BLOCKING_THREADS_MAX + 1, 8), -EINVAL);
    assert_int_equal(kc_blocking_configure(UINT_MAX, 8), -EINVAL);
    assert_int_equal(kc_blocking_configure(2, 0), -EINVAL);
    assert_int_equal(kc_blocking_configure(2, (1u << 20) + 1), -EINVAL);
    assert_int_equal(kc_blocking_configure(2, UINT_MAX), -EINVAL);
    kc_blocking_metrics_t m;
    memset(&m, 0, sizeof(m));
    assert_int_equal(kc_blocking_metrics(NULL), -EINVAL);
    m.size = 1;
    assert_int_equal(kc_blocking_metrics(&m), -EINVAL);
    m.size = sizeof(m);
    assert_int_equal(kc_blocking_metrics(&m), 0);
    assert_int_equal(m.submitted, 0); /* nothing ran yet */
    assert_int_equal(kc_blocking_configure(2, 8), 0);
}

static void test_abuse_blocking_run_with_bad_arguments_and_timeouts(void **state)
{
    (void)state;
    int r = 0;
    assert_int_equal(kc_run_blocking(NULL, NULL, 0, NULL, &r), -EINVAL);
    assert_int_equal(kc_run_blocking(NULL, NULL, INT64_MIN, NULL, NULL), -EINVAL);
    assert_int_equal(kc_run_blocking(twice, (void *)(intptr_t)21, INT64_MAX, NULL, &r), 0);
    assert_int_equal(r, 42);
    assert_int_equal(kc_run_blocking(twice, NULL, INT64_MAX - 1, NULL, NULL), 0); /* no result */
    int rc = kc_run_blocking(twice, (void *)(intptr_t)1, -5, NULL, &r); /* run out: as 0 */
    assert_true(rc == 0 || rc == -ETIME);
    kc_cancel_t *c = NULL;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    assert_int_equal(kc_cancel_trigger(c), 1);
    assert_int_equal(kc_run_blocking(twice, NULL, INT64_MAX, c, &r), -ECANCELED);
    assert_int_equal(kc_cancel_destroy(c), 0);
    assert_int_equal(kc_blocking_configure(4, 16), -EBUSY); /* started */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_blocking_configure_and_metrics),
        cmocka_unit_test(test_abuse_blocking_run_with_bad_arguments_and_timeouts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
