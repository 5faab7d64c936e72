/* test_park.c - tests of kcoro/park.h: permits, timeouts, cancellation, races.
 *
 * Both kinds of owner: plain threads (futex) and scheduler coroutines (the
 * park protocol of kc_park.c). Each transition of the parker table in park.h
 * has a test; the race test runs a park against an unpark and a cancellation
 * and a timeout, many times, and checks every outcome against what happened.
 * Coroutines record what they saw; assertions run on the main stack after the
 * joins.
 */
#define _GNU_SOURCE
#include "kcoro.h"

#include "port/kc_port.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

/* ------------------------------------------------------------ threads */

static void test_park_thread_permit_first_returns_at_once(void **state)
{
    (void)state;
    kc_parker_t p;
    kc_parker_init(&p);
    assert_int_equal(p.size, sizeof(p));
    assert_int_equal(p.version, KC_PARKER_VERSION);
    kc_unpark(&p);
    kc_unpark(&p); /* permits do not add up */
    assert_int_equal(kc_park(&p, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_park(&p, 0, NULL), -ETIME);
}

static void test_park_thread_times_out_and_zero_timeout_tries_once(void **state)
{
    (void)state;
    kc_parker_t p;
    kc_parker_init(&p);
    assert_int_equal(kc_park(&p, 0, NULL), -ETIME);
    uint64_t t0 = kc__port_now_ns();
    assert_int_equal(kc_park(&p, 2000000, NULL), -ETIME);
    assert_true(kc__port_now_ns() - t0 >= 2000000); /* never early */
}

static void test_park_thread_cancel_wins_over_timeout(void **state)
{
    (void)state;
    kc_cancel_t *c;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    kc_parker_t p;
    kc_parker_init(&p);
    kc_cancel_trigger(c);
    assert_int_equal(kc_park(&p, 0, c), -ECANCELED);
    assert_int_equal(kc_park(&p, 1000, c), -ECANCELED);
    kc_unpark(&p); /* a permit wins over cancellation */
    assert_int_equal(kc_park(&p, 1000, c), 0);
    assert_int_equal(kc_cancel_destroy(c), 0);
}

static void test_park_rejects_bad_input_and_foreign_owner(void **state)
{
    (void)state;
    kc_parker_t p = {0};
    assert_int_equal(kc_park(NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_park(&p, 0, NULL), -EINVAL); /* never initialised */
    kc_unpark(NULL);
    kc_parker_init(NULL);
}

struct thread_park {
    kc_parker_t p;
    kc_cancel_t *cancel;
    _Atomic int ready;
    int rc;
};

static void *thread_parks(void *arg)
{
    struct thread_park *tp = arg;
    kc_parker_init(&tp->p);
    /* release: pairs with the main thread's acquire spin */
    atomic_store_explicit(&tp->ready, 1, memory_order_release);
    tp->rc = kc_park(&tp->p, KC_NO_TIMEOUT, tp->cancel);
    return NULL;
}

static void test_park_thread_woken_by_unpark_and_by_cancel(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        struct thread_park tp = {.rc = 99};
        assert_int_equal(kc_cancel_create(&tp.cancel, NULL), 0);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, thread_parks, &tp), 0);
        while (!atomic_load_explicit(&tp.ready, memory_order_acquire))
            kc_sched_yield();
        if (mode == 0)
            kc_unpark(&tp.p); /* before or during the park: either way it returns 0 */
        else
            kc_cancel_trigger(tp.cancel);
        pthread_join(th, NULL);
        assert_int_equal(tp.rc, mode == 0 ? 0 : -ECANCELED);
        /* Another thread's parker is not ours to park on. */
        assert_int_equal(kc_park(&tp.p, 0, NULL), -EPERM);
        assert_int_equal(kc_cancel_destroy(tp.cancel), 0);
    }
}

/* ------------------------------------------------------------ coroutines */

struct co_park {
    kc_parker_t p;
    _Atomic int bound;
    int64_t timeout;
    const kc_cancel_t *cancel;
    int rc, rc2;
};

static int coro_parks(void *arg)
{
    struct co_park *cp = arg;
    kc_parker_init(&cp->p);
    /* release: pairs with the waker's acquire spin */
    atomic_store_explicit(&cp->bound, 1, memory_order_release);
    cp->rc = kc_park(&cp->p, cp->timeout, cp->cancel);
    cp->rc2 = kc_park(&cp->p, 0, NULL); /* nothing left over */
    return 0;
}

static int coro_unparks(void *arg)
{
    struct co_park *cp = arg;
    while (!atomic_load_explicit(&cp->bound, memory_order_acquire))
        kc_sched_yield();
    kc_unpark(&cp->p);
    return 0;
}

static void test_park_coroutine_woken_from_thread_and_from_coroutine(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    for (int from_coro = 0; from_coro < 2; from_coro++) {
        struct co_park cp = {.timeout = KC_NO_TIMEOUT, .rc = 99};
        kc_task_t *t, *u = NULL;
        assert_int_equal(kc_sched_spawn(s, &t, coro_parks, &cp, NULL), 0);
        if (from_coro) {
            assert_int_equal(kc_sched_spawn(s, &u, coro_unparks, &cp, NULL), 0);
        } else {
            while (!atomic_load_explicit(&cp.bound, memory_order_acquire))
                kc_sched_yield();
            kc_unpark(&cp.p);
        }
        assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
        if (u != NULL)
            assert_int_equal(kc_sched_join(u, NULL, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(cp.rc, 0);
        assert_int_equal(cp.rc2, -ETIME);
    }
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_park_coroutine_times_out_and_is_cancelled(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    struct co_park cp = {.timeout = 1000000, .rc = 99};
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(s, &t, coro_parks, &cp, NULL), 0);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(cp.rc, -ETIME);

    kc_cancel_t *c;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    struct co_park cq = {.timeout = KC_NO_TIMEOUT, .cancel = c, .rc = 99};
    assert_int_equal(kc_sched_spawn(s, &t, coro_parks, &cq, NULL), 0);
    while (!atomic_load_explicit(&cq.bound, memory_order_acquire))
        kc_sched_yield();
    kc_cancel_trigger(c);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(cq.rc, -ECANCELED);
    assert_int_equal(kc_cancel_destroy(c), 0);

    /* A task cancelled through its handle: its park returns -ECANCELED. */
    struct co_park cr = {.timeout = KC_NO_TIMEOUT, .rc = 99};
    assert_int_equal(kc_sched_spawn(s, &t, coro_parks, &cr, NULL), 0);
    while (!atomic_load_explicit(&cr.bound, memory_order_acquire))
        kc_sched_yield();
    assert_int_equal(kc_sched_cancel(t), 0);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(cr.rc, -ECANCELED);
    assert_int_equal(cr.rc2, -ECANCELED);
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* ------------------------------------------------------------ the race */

struct race {
    kc_parker_t p;
    kc_cancel_t *cancel;
    _Atomic int bound;
    _Atomic int unparked, cancelled;
    int64_t timeout;
    int spins_w, spins_c;
    int rc;
    int64_t t_start, t_end;
};

static int race_parker(void *arg)
{
    struct race *r = arg;
    kc_parker_init(&r->p);
    /* release: pairs with the racers' acquire spins */
    atomic_store_explicit(&r->bound, 1, memory_order_release);
    r->t_start = (int64_t)kc__port_now_ns();
    r->rc = kc_park(&r->p, r->timeout, r->cancel);
    r->t_end = (int64_t)kc__port_now_ns();
    /* The lifetime rule: if the unparker committed, wait for its unpark. */
    if (r->rc != 0 && atomic_load_explicit(&r->unparked, memory_order_acquire))
        kc_park(&r->p, KC_NO_TIMEOUT, NULL);
    return 0;
}

static int race_waker(void *arg)
{
    struct race *r = arg;
    while (!atomic_load_explicit(&r->bound, memory_order_acquire))
        kc_sched_yield();
    for (int i = 0; i < r->spins_w; i++)
        kc_sched_yield();
    /* release: the parker's acquire load above sees it before the permit */
    atomic_store_explicit(&r->unparked, 1, memory_order_release);
    kc_unpark(&r->p);
    return 0;
}

static int race_canceller(void *arg)
{
    struct race *r = arg;
    while (!atomic_load_explicit(&r->bound, memory_order_acquire))
        kc_sched_yield();
    for (int i = 0; i < r->spins_c; i++)
        kc_sched_yield();
    atomic_store_explicit(&r->cancelled, 1, memory_order_release);
    kc_cancel_trigger(r->cancel);
    return 0;
}

static void test_park_cancel_wake_timeout_race_counts(void **state)
{
    (void)state;
    unsigned seed = 0x5eed1234u;
    srand(seed);
    /* 20,000 rounds in make test (minutes on a loaded two-core host at
     * 100,000), 100,000 in make test-full. */
    long rounds = kc_test_scaled(getenv("KCORO_TEST_FULL") ? 100000 : 20000);
    kc_sched_t *s = kc_test_sched(2);
    long ok = 0, timed = 0, cancelled = 0, bad = 0;
    for (long i = 0; i < rounds; i++) {
        struct race r = {.rc = 99};
        r.timeout = 1000 + rand() % 20000;
        r.spins_w = rand() % 4;
        r.spins_c = rand() % 4;
        assert_int_equal(kc_cancel_create(&r.cancel, NULL), 0);
        kc_task_t *t[3];
        assert_int_equal(kc_sched_spawn(s, &t[0], race_parker, &r, NULL), 0);
        assert_int_equal(kc_sched_spawn(s, &t[1], race_waker, &r, NULL), 0);
        assert_int_equal(kc_sched_spawn(s, &t[2], race_canceller, &r, NULL), 0);
        for (int k = 0; k < 3; k++)
            assert_int_equal(kc_sched_join(t[k], NULL, KC_NO_TIMEOUT, NULL), 0);
        bool consistent;
        switch (r.rc) {
        case 0:
            ok++;
            consistent = atomic_load(&r.unparked);
            break;
        case -ETIME:
            timed++;
            consistent = r.t_end - r.t_start >= r.timeout;
            break;
        case -ECANCELED:
            cancelled++;
            consistent = atomic_load(&r.cancelled);
            break;
        default:
            consistent = false;
        }
        if (!consistent && bad++ == 0)
            fprintf(stderr, "race round %ld (seed %#x): rc %d inconsistent\n", i, seed, r.rc);
        assert_int_equal(kc_cancel_destroy(r.cancel), 0);
    }
    printf("park race: %ld rounds: %ld unparked, %ld timed out, %ld cancelled\n", rounds, ok, timed,
           cancelled);
    assert_int_equal(bad, 0);
    assert_int_equal(ok + timed + cancelled, rounds);
    assert_int_equal(kc_sched_destroy(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_park_thread_permit_first_returns_at_once),
        cmocka_unit_test(test_park_thread_times_out_and_zero_timeout_tries_once),
        cmocka_unit_test(test_park_thread_cancel_wins_over_timeout),
        cmocka_unit_test(test_park_rejects_bad_input_and_foreign_owner),
        cmocka_unit_test(test_park_thread_woken_by_unpark_and_by_cancel),
        cmocka_unit_test(test_park_coroutine_woken_from_thread_and_from_coroutine),
        cmocka_unit_test(test_park_coroutine_times_out_and_is_cancelled),
        cmocka_unit_test(test_park_cancel_wake_timeout_race_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
