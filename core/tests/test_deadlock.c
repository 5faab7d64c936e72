/* test_deadlock.c - the deadlock report of kc_sched_join and run_until_idle.
 *
 * With KC_SCHED_F_DEADLOCK_CHECK, the classic two-channel deadlock (a waits
 * to receive on c1 before it sends on c2, b the other way round) makes
 * kc_sched_join and kc_sched_run_until_idle fail with -EDEADLK instead of
 * hanging, the tasks stay joinable and cancellable, and under KCORO_DEBUG
 * the report names each task and the channel it waits on. Waits that a
 * timer, a sleeping task or a holding thread can still end are not
 * reported; without the flag nothing is.
 */
#include "kcoro.h"

#include "base/kc_debug.h"

#include <pthread.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

static kc_sched_t *checked_sched(int n, bool check)
{
    kc_sched_t *s = NULL;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.nworkers = n;
    o.flags = check ? KC_SCHED_F_DEADLOCK_CHECK : 0;
    assert_int_equal(kc_sched_create(&s, &o), 0);
    return s;
}

struct pair {
    kc_chan_t *first, *then;
};

static int cross(void *arg)
{
    struct pair *p = arg;
    int v = 0;
    int rc = kc_chan_recv(p->first, &v, KC_NO_TIMEOUT, NULL);
    if (rc != 0)
        return rc;
    return kc_chan_send(p->then, &v, KC_NO_TIMEOUT, NULL);
}

struct deadlock {
    kc_chan_t *c1, *c2;
    struct pair pa, pb;
    kc_task_t *a, *b;
};

static void make_deadlock(kc_sched_t *s, struct deadlock *d)
{
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.elem_size = sizeof(int);
    o.name = "c1";
    assert_int_equal(kc_chan_create(&d->c1, &o), 0);
    o.name = "c2";
    assert_int_equal(kc_chan_create(&d->c2, &o), 0);
    d->pa = (struct pair){d->c1, d->c2};
    d->pb = (struct pair){d->c2, d->c1};
    kc_spawn_attr_t at = KC_SPAWN_ATTR_INIT;
    at.name = "a";
    assert_int_equal(kc_sched_spawn(s, &d->a, cross, &d->pa, &at), 0);
    at.name = "b";
    assert_int_equal(kc_sched_spawn(s, &d->b, cross, &d->pb, &at), 0);
}

static void end_deadlock(kc_sched_t *s, struct deadlock *d)
{
    assert_int_equal(kc_sched_cancel(d->a), 0);
    assert_int_equal(kc_sched_cancel(d->b), 0);
    int st = 0;
    assert_int_equal(kc_sched_join(d->a, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, -ECANCELED);
    assert_int_equal(kc_sched_join(d->b, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, -ECANCELED);
    assert_int_equal(kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_chan_destroy(d->c1), 0);
    assert_int_equal(kc_chan_destroy(d->c2), 0);
}

static void test_two_channel_deadlock_is_reported_by_join_and_idle(void **state)
{
    (void)state;
    for (int workers = 1; workers <= 2; workers++) {
        kc_sched_t *s = checked_sched(workers, true);
        struct deadlock d;
        make_deadlock(s, &d);
        assert_int_equal(kc_sched_join(d.a, NULL, KC_NO_TIMEOUT, NULL), -EDEADLK);
        assert_int_equal(kc_sched_join(d.b, NULL, 2000000000, NULL), -EDEADLK);
        assert_int_equal(kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL), -EDEADLK);
        /* a timeout shorter than the confirmation still ends as a timeout */
        assert_int_equal(kc_sched_join(d.a, NULL, 1000000, NULL), -ETIME);
        end_deadlock(s, &d);
        assert_int_equal(kc_sched_destroy(s), 0);
    }
    assert_string_equal(kc_errname(-EDEADLK), "EDEADLK");
}

static void test_without_the_flag_a_deadlock_is_just_a_timeout(void **state)
{
    (void)state;
    kc_sched_t *s = checked_sched(2, false);
    struct deadlock d;
    make_deadlock(s, &d);
    assert_int_equal(kc_sched_join(d.a, NULL, 30 * 1000 * 1000, NULL), -ETIME);
    assert_int_equal(kc_sched_run_until_idle(s, 30 * 1000 * 1000, NULL), -ETIME);
    end_deadlock(s, &d);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static int timed_recv(void *arg)
{
    int v;
    return kc_chan_recv(arg, &v, 40 * 1000 * 1000, NULL); /* a timer is pending */
}

static int sleeper(void *arg)
{
    (void)arg;
    return kc_sched_sleep(40 * 1000 * 1000, NULL);
}

static int all_off(void *arg)
{
    (void)arg;
    kc_chan_clause_t cl = KC_CHAN_CLAUSE_RECV_INIT(NULL, NULL);
    return kc_chan_select(&cl, 1, 0, KC_NO_TIMEOUT, NULL);
}

struct later {
    kc_sched_t *s;
    kc_chan_t *ch;
};

static void *send_later(void *arg)
{
    struct later *l = arg;
    struct timespec ts = {0, 40 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int v = 5;
    int rc = kc_chan_send(l->ch, &v, KC_NO_TIMEOUT, NULL);
    kc_sched_unhold(l->s);
    return (void *)(intptr_t)rc;
}

static int plain_recv(void *arg)
{
    int v = 0;
    int rc = kc_chan_recv(arg, &v, KC_NO_TIMEOUT, NULL);
    return rc == 0 ? v : rc;
}

static void test_waits_that_can_still_end_are_not_reported(void **state)
{
    (void)state;
    kc_sched_t *s = checked_sched(2, true);
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_RENDEZVOUS, 0, sizeof(int)), 0);
    kc_task_t *t = NULL;
    int st = 0;
    assert_int_equal(kc_sched_spawn(s, &t, timed_recv, ch, NULL), 0);
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, -ETIME);
    assert_int_equal(kc_sched_spawn(s, &t, sleeper, NULL, NULL), 0);
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, 0);
    /* a thread that will send later holds the scheduler meanwhile */
    struct later l = {s, ch};
    assert_int_equal(kc_sched_hold(s), 0);
    assert_int_equal(kc_sched_spawn(s, &t, plain_recv, ch, NULL), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, send_later, &l), 0);
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, 5);
    void *ret = NULL;
    assert_int_equal(pthread_join(th, &ret), 0);
    assert_int_equal((int)(intptr_t)ret, 0);
    assert_int_equal(kc_sched_unhold(s), -EINVAL); /* no hold left */
    assert_int_equal(kc_sched_hold(NULL), -EINVAL);
    assert_int_equal(kc_sched_unhold(NULL), -EINVAL);
    /* Go's select {} with nothing else alive is a deadlock too */
    assert_int_equal(kc_sched_spawn(s, &t, all_off, NULL, NULL), 0);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), -EDEADLK);
    assert_int_equal(kc_sched_cancel(t), 0);
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, -ECANCELED);
    assert_int_equal(kc_chan_destroy(ch), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_bad_flags_are_refused(void **state)
{
    (void)state;
    kc_sched_t *s = NULL;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.flags = 0x80u;
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    assert_null(s);
}

static void report_child(void)
{
    setenv("KCORO_DEBUG", "canary", 1);
    kc__debug_reload();
    kc_sched_t *s = checked_sched(2, true);
    struct deadlock d;
    make_deadlock(s, &d);
    int rc = kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL);
    end_deadlock(s, &d);
    kc_sched_destroy(s);
    _exit(rc == -EDEADLK ? 0 : 3);
}

static void test_debug_report_names_each_task_and_its_channel(void **state)
{
    (void)state;
    struct kc_child c;
    assert_int_equal(kc_test_run_child(&c, report_child), 0);
    assert_true(WIFEXITED(c.status));
    assert_int_equal(WEXITSTATUS(c.status), 0);
    assert_non_null(strstr(c.err, "kcoro: deadlock: scheduler"));
    assert_non_null(strstr(c.err, "2 task(s) alive"));
    assert_non_null(strstr(c.err, "'a': receive on channel"));
    assert_non_null(strstr(c.err, "'c1'"));
    assert_non_null(strstr(c.err, "'b': receive on channel"));
    assert_non_null(strstr(c.err, "'c2'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_channel_deadlock_is_reported_by_join_and_idle),
        cmocka_unit_test(test_without_the_flag_a_deadlock_is_just_a_timeout),
        cmocka_unit_test(test_waits_that_can_still_end_are_not_reported),
        cmocka_unit_test(test_bad_flags_are_refused),
        cmocka_unit_test(test_debug_report_names_each_task_and_its_channel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
