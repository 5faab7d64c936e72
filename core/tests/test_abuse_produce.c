/* test_abuse_produce.c - kcoro/produce.h called as a careless user would.
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

static int three(kc_chan_t *out, void *arg)
{
    (void)arg;
    for (uint64_t i = 0; i < 3; i++)
        if (kc_chan_send(out, &i, KC_NO_TIMEOUT, NULL) != 0)
            return -EPIPE;
    return -EIO; /* becomes the close reason */
}

static void test_abuse_produce_bad_arguments(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    kc_chan_t *ch = (kc_chan_t *)(uintptr_t)1;
    kc_task_t *t = NULL;
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT, b;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = 1;
    o.elem_size = sizeof(uint64_t);
    char arg[8] = {0};
    assert_int_equal(kc_produce(NULL, s, &o, three, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_produce(&ch, s, NULL, three, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_produce(&ch, s, &o, NULL, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_produce(&ch, s, &o, three, NULL, 8, NULL), -EINVAL);
    assert_int_equal(kc_produce(&ch, s, &o, three, arg, KC_SPAWN_ARG_MAX + 1, NULL), -EINVAL);
    assert_int_equal(kc_produce(&ch, s, &o, three, arg, SIZE_MAX, NULL), -EINVAL);
    b = o;
    b.capacity = 0; /* bad opts */
    assert_int_equal(kc_produce(&ch, s, &b, three, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_produce(&ch, NULL, &o, three, NULL, 0, NULL), -EPERM);
    kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
    assert_int_equal(kc_sched_metrics(s, &m, NULL, 0), 1);
    assert_int_equal(m.spawned, 0); /* nothing was created */
    assert_int_equal(kc_produce(&ch, s, &o, three, arg, sizeof(arg), &t), 0);
    uint64_t v = 0, n = 0;
    while (kc_chan_recv(ch, &v, INT64_MAX, NULL) == 0)
        n++;
    assert_int_equal(n, 3);
    assert_int_equal(kc_chan_close_reason(ch), -EIO);
    int st = 0;
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, -EIO);
    assert_int_equal(kc_chan_destroy(ch), 0);
    assert_int_equal(kc_sched_shutdown(s, KC_SCHED_SHUTDOWN_GRACEFUL), 0);
    assert_int_equal(kc_produce(&ch, s, &o, three, NULL, 0, NULL), -EPIPE); /* stopped */
    assert_int_equal(kc_sched_destroy(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_produce_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
