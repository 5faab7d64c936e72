/* test_abuse_timer.c - kcoro/timer.h called as a careless user would.
 *
 * Every public function of the header with NULL, zero, negative, huge and
 * stale arguments: each returns the documented negative errno (or is the
 * documented no-op) and changes nothing. mk/lint-abuse.sh holds every
 * public header to having such a file. Leaks show under ASan and Valgrind.
 */
#include "kcoro.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

static void bump(void *arg)
{
    atomic_fetch_add((_Atomic int *)arg, 1);
}

static void test_abuse_timer_null_and_uninitialised(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    kc_timer_init(NULL, bump, NULL); /* documented: ignored */
    assert_int_equal(kc_timer_start(NULL, s, 0), -EINVAL);
    assert_int_equal(kc_timer_stop(NULL), -EINVAL);
    assert_false(kc_timer_is_pending(NULL));
    kc_timer_t t;
    memset(&t, 0, sizeof(t)); /* never initialised */
    assert_int_equal(kc_timer_start(&t, s, 1000), -EINVAL);
    assert_false(kc_timer_is_pending(&t));
    assert_int_equal(kc_timer_stop(&t), 0); /* not pending */
    kc_timer_init(&t, NULL, NULL);          /* no callback */
    assert_int_equal(kc_timer_start(&t, s, 1000), -EINVAL);
    _Atomic int n = 0;
    kc_timer_init(&t, bump, &n);
    assert_int_equal(kc_timer_start(&t, NULL, 1000), -EPERM); /* not on a worker */
    assert_false(kc_timer_is_pending(&t));
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_abuse_timer_delays_busy_and_stopped_scheduler(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    _Atomic int n = 0;
    kc_timer_t t;
    kc_timer_init(&t, bump, &n);
    assert_int_equal(kc_timer_start(&t, s, INT64_MAX), 0);
    assert_int_equal(kc_timer_start(&t, s, 5), -EBUSY); /* already pending */
    assert_true(kc_timer_is_pending(&t));
    assert_int_equal(kc_timer_stop(&t), 1);
    assert_int_equal(kc_timer_stop(&t), 0);                /* stopped twice */
    assert_int_equal(kc_timer_start(&t, s, INT64_MIN), 0); /* due now */
    for (int i = 0; i < 2000 && atomic_load(&n) == 0; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(atomic_load(&n), 1);
    assert_int_equal(kc_timer_stop(&t), 0); /* already fired */
    assert_int_equal(kc_sched_shutdown(s, KC_SCHED_SHUTDOWN_GRACEFUL), 0);
    assert_int_equal(kc_timer_start(&t, s, 0), -EPIPE); /* stopped */
    assert_int_equal(kc_sched_destroy(s), 0);
    assert_int_equal(atomic_load(&n), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_timer_null_and_uninitialised),
        cmocka_unit_test(test_abuse_timer_delays_busy_and_stopped_scheduler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
