/* test_abuse_sched.c - kcoro/sched.h called as a careless user would.
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
#include <stdio.h>
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

static void test_abuse_sched_create_with_bad_options(void **state)
{
    (void)state;
    kc_sched_t *s = (kc_sched_t *)(uintptr_t)1;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    assert_int_equal(kc_sched_create(NULL, &o), -EINVAL);
    o.size = 5;
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    o = (kc_sched_opts_t)KC_SCHED_OPTS_INIT;
    o.flags = 0x40000000u; /* unknown (1u << 31 is KC_SCHED_REGISTER) */
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    o.flags = 0;
    o.nworkers = -1;
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    o.nworkers = INT_MIN;
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    o.nworkers = KC_SCHED_MAX_WORKERS + 1;
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    o.nworkers = INT_MAX;
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    o.nworkers = 1;
    o.steal_delay_ns = KC_SCHED_STEAL_DELAY_MAX + 1;
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    o.steal_delay_ns = INT64_MIN;
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    o.steal_delay_ns = -5;
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    o.steal_delay_ns = INT64_MAX;
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    o.steal_delay_ns = KC_SCHED_STEAL_AT_ONCE;
    assert_int_equal(kc_sched_create(&s, &o), 0);
    assert_int_equal(kc_sched_nworkers(s), 1);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_abuse_sched_null_handles_outside_a_scheduler(void **state)
{
    (void)state;
    int st = 0;
    kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
    assert_int_equal(kc_sched_shutdown(NULL, KC_SCHED_SHUTDOWN_GRACEFUL), -EINVAL);
    assert_int_equal(kc_sched_destroy(NULL), 0);
    assert_int_equal(kc_sched_run_until_idle(NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_sched_run_until_idle(NULL, INT64_MIN, NULL), -EINVAL);
    assert_int_equal(kc_sched_nworkers(NULL), 0);
    assert_int_equal(kc_sched_spawn(NULL, NULL, ret_arg, NULL, NULL), -EPERM);
    assert_int_equal(kc_sched_join(NULL, &st, 0, NULL), -EINVAL);
    assert_int_equal(kc_sched_join(NULL, &st, INT64_MAX, NULL), -EINVAL);
    assert_int_equal(kc_sched_detach(NULL), -EINVAL);
    assert_int_equal(kc_sched_cancel(NULL), -EINVAL);
    assert_int_equal(kc_task_id(NULL), 0);
    assert_int_equal(kc_sched_yield(), 0); /* a thread: yields to the OS */
    assert_int_equal(kc_sched_sleep(0, NULL), 0);
    assert_int_equal(kc_sched_sleep(-5, NULL), 0);
    assert_int_equal(kc_sched_sleep(INT64_MIN, NULL), 0);
    assert_null(kc_sched_self());
    assert_int_equal(kc_sched_self_id(), 0);
    assert_string_equal(kc_sched_self_name(), "thread");
    assert_null(kc_sched_current());
    assert_int_equal(kc_sched_worker_index(), -1);
    assert_false(kc_sched_is_cancelled());
    assert_int_equal(kc_sched_migrate(0), -EPERM);
    assert_int_equal(kc_sched_migrate(-1), -EPERM);
    assert_int_equal(kc_sched_metrics(NULL, &m, NULL, 0), -EINVAL);
    assert_int_equal(kc_sched_hold(NULL), -EINVAL);
    assert_int_equal(kc_sched_unhold(NULL), -EINVAL);
    char arg[8] = {0};
    assert_int_equal(kc_sched_spawn_copy(NULL, NULL, ret_arg, arg, sizeof(arg), NULL), -EPERM);
}

/* What a coroutine saw misusing its own scheduler. */
struct seen {
    kc_sched_t *s;
    int migrate_neg, migrate_huge, shutdown_own, destroy_own, idle_own, join_self;
    int sleep_fired, sleep_neg;
};

static int misuse(void *arg)
{
    struct seen *w = arg;
    w->migrate_neg = kc_sched_migrate(-1);
    w->migrate_huge = kc_sched_migrate(INT_MAX);
    w->shutdown_own = kc_sched_shutdown(w->s, KC_SCHED_SHUTDOWN_GRACEFUL);
    w->destroy_own = kc_sched_destroy(w->s);
    w->idle_own = kc_sched_run_until_idle(w->s, INT64_MAX, NULL);
    w->join_self = kc_sched_join(kc_sched_self(), NULL, 0, NULL);
    kc_cancel_t *c = NULL;
    if (kc_cancel_create(&c, NULL) == 0 && kc_cancel_trigger(c) == 1)
        w->sleep_fired = kc_sched_sleep(INT64_MAX, c);
    kc_cancel_destroy(c);
    w->sleep_neg = kc_sched_sleep(INT64_MIN, NULL);
    return 0;
}

static void test_abuse_sched_stale_and_self_referential_calls(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
    kc_sched_worker_metrics_t wm[2];
    kc_spawn_attr_t a = KC_SPAWN_ATTR_INIT;
    kc_task_t *t = (kc_task_t *)(uintptr_t)1;
    int st = 0;
    assert_int_equal(kc_sched_spawn(s, &t, NULL, NULL, NULL), -EINVAL);
    assert_null(t);
    a.size = 1;
    assert_int_equal(kc_sched_spawn(s, &t, ret_arg, NULL, &a), -EINVAL);
    a = (kc_spawn_attr_t)KC_SPAWN_ATTR_INIT;
    a.flags = 0x40;
    assert_int_equal(kc_sched_spawn(s, &t, ret_arg, NULL, &a), -EINVAL);
    a = (kc_spawn_attr_t)KC_SPAWN_ATTR_INIT;
    a.stack_size = SIZE_MAX;
    assert_int_equal(kc_sched_spawn(s, &t, ret_arg, NULL, &a), -EINVAL);
    assert_int_equal(kc_sched_shutdown(s, (kc_sched_shutdown_mode_t)7), -EINVAL);
    assert_int_equal(kc_sched_unhold(s), -EINVAL); /* no hold taken */
    assert_int_equal(kc_sched_hold(s), 0);
    assert_int_equal(kc_sched_unhold(s), 0);
    assert_int_equal(kc_sched_unhold(s), -EINVAL); /* one too many */
    char big[16] = {0};
    assert_int_equal(kc_sched_spawn_copy(s, &t, NULL, big, sizeof(big), NULL), -EINVAL);
    assert_int_equal(kc_sched_spawn_copy(s, &t, ret_arg, NULL, 8, NULL), -EINVAL);
    assert_int_equal(kc_sched_spawn_copy(s, &t, ret_arg, big, KC_SPAWN_ARG_MAX + 1, NULL), -EINVAL);
    assert_int_equal(kc_sched_spawn_copy(s, &t, ret_arg, big, SIZE_MAX, NULL), -EINVAL);
    assert_null(t);
    assert_int_equal(kc_sched_metrics(s, NULL, NULL, 0), -EINVAL);
    m.size = 4;
    assert_int_equal(kc_sched_metrics(s, &m, NULL, 0), -EINVAL);
    m = (kc_sched_metrics_t)KC_SCHED_METRICS_INIT;
    m.worker_size = 1;
    assert_int_equal(kc_sched_metrics(s, &m, wm, 2), -EINVAL);
    m = (kc_sched_metrics_t)KC_SCHED_METRICS_INIT;
    assert_int_equal(kc_sched_metrics(s, &m, wm, -3), 2); /* no worker entries */
    assert_int_equal(kc_sched_metrics(s, &m, NULL, INT_MAX), 2);
    assert_int_equal(m.spawned, 0); /* nothing was started by the bad spawns */

    struct seen w;
    memset(&w, 0x7f, sizeof(w));
    w.s = s;
    assert_int_equal(kc_sched_spawn(s, &t, misuse, &w, NULL), 0);
    assert_int_equal(kc_sched_join(t, &st, INT64_MAX - 1, NULL), 0);
    assert_int_equal(w.migrate_neg, -EINVAL);
    assert_int_equal(w.migrate_huge, -EINVAL);
    assert_int_equal(w.shutdown_own, -EPERM);
    assert_int_equal(w.destroy_own, -EPERM);
    assert_int_equal(w.idle_own, -EPERM);
    assert_int_equal(w.join_self, -EPERM);
    assert_int_equal(w.sleep_fired, -ECANCELED);
    assert_int_equal(w.sleep_neg, 0);

    /* a finished, unjoined task: join and detach work once; cancel is harmless */
    assert_int_equal(kc_sched_spawn(s, &t, ret_arg, (void *)(intptr_t)-3, NULL), 0);
    assert_int_equal(kc_sched_run_until_idle(s, INT64_MAX, NULL), 0);
    assert_int_equal(kc_sched_run_until_idle(s, -5, NULL), 0);
    assert_int_equal(kc_sched_cancel(t), 0);
    assert_true(kc_task_id(t) != 0);
    assert_int_equal(kc_sched_join(t, &st, -5, NULL), 0);
    assert_int_equal(st, -3);
    assert_int_equal(kc_sched_spawn(s, &t, ret_arg, NULL, NULL), 0);
    assert_int_equal(kc_sched_detach(t), 0);
    assert_int_equal(kc_sched_shutdown(s, KC_SCHED_SHUTDOWN_CANCEL), 0);
    assert_int_equal(kc_sched_shutdown(s, KC_SCHED_SHUTDOWN_GRACEFUL), 0); /* stopped */
    assert_int_equal(kc_sched_spawn(s, &t, ret_arg, NULL, NULL), -EPIPE);
    assert_null(t);
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* The task dump and ids: NULL handles and files, formats that do not
 * exist, a file that cannot be written, a stopped scheduler. */
static void test_abuse_sched_dump_and_ids(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    FILE *ro = fopen("/dev/null", "r"); /* every write fails */
    assert_non_null(ro);
    kc_sched_t *s = kc_test_sched(1), *s2 = kc_test_sched(1);
    assert_int_equal(kc_sched_id(NULL), 0);
    assert_true(kc_sched_id(s) != 0 && kc_sched_id(s2) != 0 && kc_sched_id(s) != kc_sched_id(s2));
    assert_int_equal(kc_sched_dump(NULL, f, KC_SCHED_DUMP_TEXT), -EINVAL);
    assert_int_equal(kc_sched_dump(s, NULL, KC_SCHED_DUMP_TEXT), -EINVAL);
    assert_int_equal(kc_sched_dump(s, f, (kc_sched_dump_format_t)2), -EINVAL);
    assert_int_equal(kc_sched_dump(s, f, (kc_sched_dump_format_t)-1), -EINVAL);
    assert_int_equal(kc_sched_dump(s, f, (kc_sched_dump_format_t)INT_MAX), -EINVAL);
    assert_int_equal(ftell(f), 0); /* nothing written */
    assert_int_equal(kc_sched_dump(s, ro, KC_SCHED_DUMP_TEXT), -EIO);
    assert_int_equal(kc_sched_dump(s, f, KC_SCHED_DUMP_TEXT), 0);
    assert_int_equal(kc_sched_dump(s, f, KC_SCHED_DUMP_JSON), 0);
    assert_true(ftell(f) > 0);
    assert_int_equal(kc_sched_dump_all(NULL, KC_SCHED_DUMP_TEXT), -EINVAL);
    assert_int_equal(kc_sched_dump_all(f, (kc_sched_dump_format_t)7), -EINVAL);
    assert_int_equal(kc_sched_dump_all(f, KC_SCHED_DUMP_JSON), 0); /* none registered */
    assert_int_equal(kc_sched_stamp_waits(NULL), -EINVAL);
    assert_int_equal(kc_sched_stamp_waits(s), 0); /* no task waits */
    uint64_t id = kc_sched_id(s);
    assert_int_equal(kc_sched_shutdown(s, KC_SCHED_SHUTDOWN_GRACEFUL), 0);
    assert_int_equal(kc_sched_id(s), id); /* stopped, not freed: unchanged */
    assert_int_equal(kc_sched_stamp_waits(s), 0);
    assert_int_equal(kc_sched_dump(s, f, KC_SCHED_DUMP_TEXT), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
    assert_int_equal(kc_sched_destroy(s2), 0);
    fclose(ro);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_sched_dump_and_ids),
        cmocka_unit_test(test_abuse_sched_create_with_bad_options),
        cmocka_unit_test(test_abuse_sched_null_handles_outside_a_scheduler),
        cmocka_unit_test(test_abuse_sched_stale_and_self_referential_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
