/* test_abuse_scope.c - kcoro/scope.h called as a careless user would.
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

static int ret_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

static void test_abuse_scope_null_arguments(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    kc_scope_t *sc = (kc_scope_t *)(uintptr_t)1;
    assert_int_equal(kc_scope_create(NULL, s, 0), -EINVAL);
    assert_int_equal(kc_scope_create(&sc, s, 0x80), -EINVAL); /* unknown flags */
    assert_null(sc);
    assert_int_equal(kc_scope_create(&sc, NULL, 0), -EPERM); /* not on a scheduler */
    assert_int_equal(kc_scope_spawn(NULL, ret_arg, NULL, NULL), -EINVAL);
    char arg[8] = {0};
    assert_int_equal(kc_scope_spawn_copy(NULL, ret_arg, arg, sizeof(arg), NULL), -EINVAL);
    assert_int_equal(kc_scope_wait(NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_scope_wait(NULL, INT64_MIN, NULL), -EINVAL);
    assert_int_equal(kc_scope_cancel(NULL), -EINVAL);
    assert_null(kc_scope_token(NULL));
    assert_int_equal(kc_scope_live(NULL), 0);
    assert_int_equal(kc_scope_failure(NULL), 0);
    assert_int_equal(kc_scope_destroy(NULL), 0); /* documented no-op */
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_abuse_scope_bad_spawns_timeouts_and_cancelled_scope(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    kc_scope_t *sc = NULL;
    assert_int_equal(kc_scope_create(&sc, s, KC_SCOPE_F_CANCEL_ON_FAIL), 0);
    assert_int_equal(kc_scope_spawn(sc, NULL, NULL, NULL), -EINVAL);
    char big[16] = {0};
    assert_int_equal(kc_scope_spawn_copy(sc, NULL, big, sizeof(big), NULL), -EINVAL);
    assert_int_equal(kc_scope_spawn_copy(sc, ret_arg, NULL, 8, NULL), -EINVAL);
    assert_int_equal(kc_scope_spawn_copy(sc, ret_arg, big, KC_SPAWN_ARG_MAX + 1, NULL), -EINVAL);
    assert_int_equal(kc_scope_spawn_copy(sc, ret_arg, big, SIZE_MAX, NULL), -EINVAL);
    kc_spawn_attr_t attr = KC_SPAWN_ATTR_INIT;
    attr.size = 1; /* from a smaller, unknown layout */
    assert_int_equal(kc_scope_spawn(sc, ret_arg, NULL, &attr), -EINVAL);
    assert_int_equal(kc_scope_live(sc), 0);
    assert_int_equal(kc_scope_wait(sc, 0, NULL), 0); /* nothing to wait for */
    assert_int_equal(kc_scope_wait(sc, -5, NULL), 0);
    assert_int_equal(kc_scope_wait(sc, INT64_MAX, NULL), 0);
    assert_int_equal(kc_scope_spawn(sc, ret_arg, (void *)(intptr_t)-EIO, NULL), 0);
    assert_int_equal(kc_scope_wait(sc, INT64_MAX - 1, NULL), -EIO);
    assert_int_equal(kc_scope_failure(sc), -EIO);
    assert_true(kc_cancel_is_triggered(kc_scope_token(sc))); /* cancel on fail */
    assert_int_equal(kc_scope_cancel(sc), 0);                /* already cancelled */
    assert_int_equal(kc_scope_spawn(sc, ret_arg, NULL, NULL), -ECANCELED);
    assert_int_equal(kc_scope_destroy(sc), -EIO);
    assert_int_equal(kc_sched_destroy(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_scope_null_arguments),
        cmocka_unit_test(test_abuse_scope_bad_spawns_timeouts_and_cancelled_scope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
