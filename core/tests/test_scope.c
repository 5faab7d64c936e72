/* test_scope.c - tests of kcoro/scope.h: structured concurrency.
 *
 * A scope's wait joins every child; cancelling it wakes parked children with
 * -ECANCELED and refuses new ones; with KC_SCOPE_F_CANCEL_ON_FAIL the first
 * failure cancels the siblings, without it failures are only recorded;
 * nested scopes are cancelled with their parent; destroy cancels and waits,
 * so no child outlives its scope; misuse fails cleanly.
 */
#define _GNU_SOURCE
#include "kcoro.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

struct record {
    _Atomic long ran, exited, cancelled_seen, ecanceled;
};

static struct record rec;

static void rec_reset(void)
{
    atomic_store(&rec.ran, 0);
    atomic_store(&rec.exited, 0);
    atomic_store(&rec.cancelled_seen, 0);
    atomic_store(&rec.ecanceled, 0);
}

static int quick(void *arg)
{
    (void)arg;
    atomic_fetch_add(&rec.ran, 1);
    atomic_fetch_add(&rec.exited, 1);
    return 0;
}

static int sleeper(void *arg)
{
    int64_t ns = (int64_t)(intptr_t)arg;
    atomic_fetch_add(&rec.ran, 1);
    int rc = kc_sched_sleep(ns > 0 ? ns : INT64_MAX / 2, NULL);
    if (kc_sched_is_cancelled())
        atomic_fetch_add(&rec.cancelled_seen, 1);
    if (rc == -ECANCELED)
        atomic_fetch_add(&rec.ecanceled, 1);
    atomic_fetch_add(&rec.exited, 1);
    return rc;
}

static int fail_eio(void *arg)
{
    (void)arg;
    atomic_fetch_add(&rec.exited, 1);
    return -EIO;
}

static void test_scope_rejects_bad_input(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    kc_scope_t *sc;
    assert_int_equal(kc_scope_create(NULL, s, 0), -EINVAL);
    assert_int_equal(kc_scope_create(&sc, s, 0x80), -EINVAL);
    assert_int_equal(kc_scope_create(&sc, NULL, 0), -EPERM); /* no current scheduler */
    assert_int_equal(kc_scope_create(&sc, s, 0), 0);
    assert_int_equal(kc_scope_spawn(sc, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(kc_scope_spawn(NULL, quick, NULL, NULL), -EINVAL);
    assert_int_equal(kc_scope_wait(NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_scope_cancel(NULL), -EINVAL);
    assert_int_equal(kc_scope_destroy(NULL), 0);
    assert_int_equal(kc_scope_destroy(sc), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_scope_wait_joins_every_child(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    rec_reset();
    kc_scope_t *sc;
    assert_int_equal(kc_scope_create(&sc, s, 0), 0);
    long n = kc_test_scaled(2000);
    for (long i = 0; i < n; i++)
        assert_int_equal(kc_scope_spawn(sc, quick, NULL, NULL), 0);
    assert_int_equal(kc_scope_wait(sc, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_scope_live(sc), 0);
    assert_int_equal(atomic_load(&rec.exited), n);
    assert_int_equal(kc_scope_failure(sc), 0);
    assert_int_equal(kc_scope_destroy(sc), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_scope_cancel_wakes_parked_children_and_refuses_new_ones(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    rec_reset();
    kc_scope_t *sc;
    assert_int_equal(kc_scope_create(&sc, s, 0), 0);
    enum {
        N = 100
    };
    for (int i = 0; i < N; i++)
        assert_int_equal(kc_scope_spawn(sc, sleeper, NULL, NULL), 0);
    assert_int_equal(kc_scope_wait(sc, 1000000, NULL), -ETIME); /* still asleep */
    assert_int_equal(kc_scope_live(sc), N);
    assert_int_equal(kc_scope_cancel(sc), 1);
    assert_int_equal(kc_scope_cancel(sc), 0);
    assert_true(kc_cancel_is_triggered(kc_scope_token(sc)));
    assert_int_equal(kc_scope_spawn(sc, quick, NULL, NULL), -ECANCELED);
    assert_int_equal(kc_scope_wait(sc, KC_NO_TIMEOUT, NULL), -ECANCELED);
    assert_int_equal(atomic_load(&rec.exited), N);
    assert_int_equal(atomic_load(&rec.ecanceled), N);
    assert_int_equal(atomic_load(&rec.cancelled_seen), N);
    assert_int_equal(kc_scope_destroy(sc), -ECANCELED);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_scope_failing_child_cancels_siblings_with_policy(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    rec_reset();
    kc_scope_t *sc;
    assert_int_equal(kc_scope_create(&sc, s, KC_SCOPE_F_CANCEL_ON_FAIL), 0);
    enum {
        N = 50
    };
    for (int i = 0; i < N; i++)
        assert_int_equal(kc_scope_spawn(sc, sleeper, NULL, NULL), 0);
    assert_int_equal(kc_scope_spawn(sc, fail_eio, NULL, NULL), 0);
    assert_int_equal(kc_scope_wait(sc, KC_NO_TIMEOUT, NULL), -EIO);
    assert_int_equal(kc_scope_failure(sc), -EIO);
    assert_int_equal(atomic_load(&rec.ecanceled), N);
    assert_int_equal(atomic_load(&rec.exited), N + 1);
    assert_int_equal(kc_scope_destroy(sc), -EIO);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_scope_without_policy_records_failure_siblings_finish(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    rec_reset();
    kc_scope_t *sc;
    assert_int_equal(kc_scope_create(&sc, s, 0), 0);
    enum {
        N = 50
    };
    for (int i = 0; i < N; i++)
        assert_int_equal(kc_scope_spawn(sc, sleeper, (void *)(intptr_t)200000, NULL), 0);
    assert_int_equal(kc_scope_spawn(sc, fail_eio, NULL, NULL), 0);
    assert_int_equal(kc_scope_wait(sc, KC_NO_TIMEOUT, NULL), -EIO);
    assert_int_equal(atomic_load(&rec.ecanceled), 0);
    assert_int_equal(atomic_load(&rec.exited), N + 1);
    assert_false(kc_cancel_is_triggered(kc_scope_token(sc)));
    assert_int_equal(kc_scope_destroy(sc), -EIO);
    assert_int_equal(kc_sched_destroy(s), 0);
}

struct nest {
    int inner_children;
    int inner_wait_rc;
    _Atomic int inner_ready;
};

static int outer_child(void *arg)
{
    struct nest *n = arg;
    kc_scope_t *inner;
    int rc = kc_scope_create(&inner, NULL, 0);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n->inner_children; i++)
        kc_scope_spawn(inner, sleeper, NULL, NULL);
    atomic_store(&n->inner_ready, 1);
    n->inner_wait_rc = kc_scope_wait(inner, KC_NO_TIMEOUT, NULL);
    kc_scope_destroy(inner);
    return n->inner_wait_rc;
}

static void test_scope_nested_scope_is_cancelled_with_its_parent(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    rec_reset();
    kc_scope_t *outer;
    assert_int_equal(kc_scope_create(&outer, s, 0), 0);
    struct nest n = {.inner_children = 20, .inner_wait_rc = 99};
    assert_int_equal(kc_scope_spawn(outer, outer_child, &n, NULL), 0);
    while (!atomic_load(&n.inner_ready))
        kc_sched_yield();
    kc_scope_cancel(outer);
    assert_int_equal(kc_scope_wait(outer, KC_NO_TIMEOUT, NULL), -ECANCELED);
    assert_int_equal(atomic_load(&rec.ecanceled), 20);
    assert_true(n.inner_wait_rc == -ECANCELED);
    assert_int_equal(kc_scope_destroy(outer), -ECANCELED);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_scope_destroy_cancels_and_no_child_outlives_it(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    rec_reset();
    kc_scope_t *sc;
    assert_int_equal(kc_scope_create(&sc, s, 0), 0);
    enum {
        N = 200
    };
    for (int i = 0; i < N; i++)
        assert_int_equal(kc_scope_spawn(sc, i % 2 ? sleeper : quick, NULL, NULL), 0);
    kc_scope_destroy(sc);
    assert_int_equal(atomic_load(&rec.exited), N); /* all gone when destroy returns */
    assert_int_equal(kc_sched_destroy(s), 0);
}

struct self_wait {
    kc_scope_t *sc;
    _Atomic int go;
    int wait_rc, destroy_rc;
};

static int waits_on_own_scope(void *arg)
{
    struct self_wait *w = arg;
    while (!atomic_load(&w->go))
        kc_sched_yield();
    w->wait_rc = kc_scope_wait(w->sc, 0, NULL);
    w->destroy_rc = kc_scope_destroy(w->sc);
    return 0;
}

static void test_scope_child_may_not_wait_for_or_destroy_its_scope(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    struct self_wait w = {.wait_rc = 99, .destroy_rc = 99};
    assert_int_equal(kc_scope_create(&w.sc, s, 0), 0);
    assert_int_equal(kc_scope_spawn(w.sc, waits_on_own_scope, &w, NULL), 0);
    atomic_store(&w.go, 1);
    assert_int_equal(kc_scope_wait(w.sc, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(w.wait_rc, -EPERM);
    assert_int_equal(w.destroy_rc, -EPERM);
    assert_int_equal(kc_scope_destroy(w.sc), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope_rejects_bad_input),
        cmocka_unit_test(test_scope_wait_joins_every_child),
        cmocka_unit_test(test_scope_cancel_wakes_parked_children_and_refuses_new_ones),
        cmocka_unit_test(test_scope_failing_child_cancels_siblings_with_policy),
        cmocka_unit_test(test_scope_without_policy_records_failure_siblings_finish),
        cmocka_unit_test(test_scope_nested_scope_is_cancelled_with_its_parent),
        cmocka_unit_test(test_scope_destroy_cancels_and_no_child_outlives_it),
        cmocka_unit_test(test_scope_child_may_not_wait_for_or_destroy_its_scope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
