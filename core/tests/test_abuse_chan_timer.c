/* test_abuse_chan_timer.c - kcoro/chan_timer.h called as a careless user would.
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

static void test_abuse_chan_timer_bad_periods_and_delays(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    kc_chan_t *ch = NULL, *plain = NULL;
    assert_int_equal(kc_chan_ticker(NULL, s, 1000), -EINVAL);
    assert_int_equal(kc_chan_ticker(&ch, s, 0), -EINVAL);
    assert_int_equal(kc_chan_ticker(&ch, s, -5), -EINVAL);
    assert_int_equal(kc_chan_ticker(&ch, s, INT64_MIN), -EINVAL);
    assert_int_equal(kc_chan_ticker(&ch, NULL, 1000), -EPERM); /* not on a scheduler */
    assert_int_equal(kc_chan_after(NULL, s, 0), -EINVAL);
    assert_int_equal(kc_chan_after(&ch, s, -5), -EINVAL);
    assert_int_equal(kc_chan_after(&ch, s, INT64_MIN), -EINVAL);
    assert_int_equal(kc_chan_after(&ch, NULL, 0), -EPERM);
    assert_int_equal(kc_chan_timer_stop(NULL), -EINVAL);
    assert_int_equal(kc_chan_make(&plain, KC_CHAN_BUFFERED, 1, 8), 0);
    assert_int_equal(kc_chan_timer_stop(plain), -EINVAL); /* not a timer channel */
    assert_int_equal(kc_chan_destroy(plain), 0);
    /* huge: never fires in the life of the test; stop twice is fine */
    assert_int_equal(kc_chan_after(&ch, s, INT64_MAX), 0);
    assert_int_equal(kc_chan_timer_stop(ch), 0);
    assert_int_equal(kc_chan_timer_stop(ch), 0);
    assert_int_equal(kc_chan_len(ch), 0);
    assert_int_equal(kc_chan_destroy(ch), 0);
    assert_int_equal(kc_chan_ticker(&ch, s, INT64_MAX), 0);
    assert_int_equal(kc_chan_destroy(ch), 0); /* stops and frees it */
    assert_int_equal(kc_sched_shutdown(s, KC_SCHED_SHUTDOWN_GRACEFUL), 0);
    assert_int_equal(kc_chan_after(&ch, s, 0), -EPIPE); /* stopped */
    assert_int_equal(kc_chan_ticker(&ch, s, 1000), -EPIPE);
    assert_int_equal(kc_sched_destroy(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_chan_timer_bad_periods_and_delays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
