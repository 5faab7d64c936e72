/* kc_test_storm.h - the four-submitter spawn storm shared by scheduler tests.
 *
 * Plain threads submit coroutines through the inject queue; each coroutine
 * migrates to a worker, yields and (every eighth) spawns a child. Afterwards
 * every coroutine and every child must have run exactly once, and the
 * scheduler's counters must agree. Stacks are finite: with mprotect guard
 * pages (kernels before 6.13, qemu-user, KCORO_GUARD=mprotect) each live
 * stack costs two memory map entries and vm.max_map_count caps a process
 * near 32k of them, so kc_sched_spawn() may answer -ENOMEM, having changed
 * nothing. The storm treats that as back-pressure, as a real producer
 * should: a submitter waits until the scheduler is idle and tries again, a
 * coroutine yields and tries again. Both waits are bounded in time
 * (KC_STORM_GIVE_UP_S), so a spawn that could never succeed fails the test
 * instead of hanging it. Any other error is a failure, reported by name.
 *
 * Include after <cmocka.h>: kc_test_storm() asserts with cmocka on the main
 * stack, after the submitters and the scheduler are done.
 */
#ifndef KCORO_KC_TEST_STORM_H
#define KCORO_KC_TEST_STORM_H

#include "kcoro.h"

#include "sched/kc_sched_impl.h" /* kc__sched_check */

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum {
    KC_STORM_SUBMITTERS = 4,
    KC_STORM_WORKERS = 4,
    /* seconds of -ENOMEM answers in a row, with the scheduler idle
     * (submitter) or after yields (coroutine), before the storm gives a
     * spawn up: a bound in time, not in tries, because on a loaded host
     * one submitter can lose the race for freed stacks to the other three
     * many times in a row and still get its turn */
    KC_STORM_GIVE_UP_S = 60
};

struct kc_storm {
    kc_sched_t *s;
    long per_thread;
    _Atomic uint8_t *hits;
    _Atomic uint8_t *child_hits;
    _Atomic long failures;     /* spawns given up, or failed otherwise */
    _Atomic long idle_waits;   /* -ENOMEM answers a submitter waited out */
    _Atomic long child_yields; /* -ENOMEM answers a coroutine yielded out */
    _Atomic int last_error;    /* the last spawn error that counted as a failure */
};

/* Monotonic seconds, for the give-up bound. */
static double kc_storm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct kc_storm kc_storm;

static void kc_storm_failed(int rc)
{
    atomic_store(&kc_storm.last_error, rc);
    atomic_fetch_add(&kc_storm.failures, 1);
}

static int kc_storm_child(void *arg)
{
    long id = (long)(intptr_t)arg;
    atomic_fetch_add(&kc_storm.child_hits[id], 1);
    return 0;
}

static int kc_storm_body(void *arg)
{
    long id = (long)(intptr_t)arg;
    atomic_fetch_add(&kc_storm.hits[id], 1);
    kc_sched_migrate((int)(id % KC_STORM_WORKERS));
    kc_sched_yield();
    if (id % 8 != 0)
        return 0;
    double since = 0;
    for (;;) {
        int rc = kc_sched_spawn(NULL, NULL, kc_storm_child, arg, NULL);
        if (rc == 0)
            return 0;
        if (since == 0)
            since = kc_storm_now();
        if (rc != -ENOMEM || kc_storm_now() - since > KC_STORM_GIVE_UP_S) {
            kc_storm_failed(rc);
            return 0;
        }
        atomic_fetch_add(&kc_storm.child_yields, 1);
        kc_sched_yield(); /* stacks come back as other coroutines finish */
    }
}

static void *kc_storm_submitter(void *arg)
{
    long base = (long)(intptr_t)arg * kc_storm.per_thread;
    for (long i = 0; i < kc_storm.per_thread; i++) {
        void *id = (void *)(intptr_t)(base + i);
        int rc;
        double since = 0;
        while ((rc = kc_sched_spawn(kc_storm.s, NULL, kc_storm_body, id, NULL)) == -ENOMEM) {
            if (since == 0)
                since = kc_storm_now();
            else if (kc_storm_now() - since > KC_STORM_GIVE_UP_S)
                break;
            atomic_fetch_add(&kc_storm.idle_waits, 1);
            kc_sched_run_until_idle(kc_storm.s, KC_NO_TIMEOUT, NULL);
        }
        if (rc != 0)
            kc_storm_failed(rc);
    }
    return NULL;
}

/* Run the storm: KC_STORM_SUBMITTERS threads of per_thread coroutines each,
 * on a fresh scheduler of KC_STORM_WORKERS workers, and check every count. */
static void kc_test_storm(long per_thread)
{
    long n = KC_STORM_SUBMITTERS * per_thread;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.nworkers = KC_STORM_WORKERS;
    kc_storm.s = NULL;
    assert_int_equal(kc_sched_create(&kc_storm.s, &o), 0);
    kc_storm.per_thread = per_thread;
    kc_storm.hits = calloc((size_t)n, 1);
    kc_storm.child_hits = calloc((size_t)n, 1);
    assert_non_null(kc_storm.hits);
    assert_non_null(kc_storm.child_hits);
    atomic_store(&kc_storm.failures, 0);
    atomic_store(&kc_storm.idle_waits, 0);
    atomic_store(&kc_storm.child_yields, 0);
    atomic_store(&kc_storm.last_error, 0);
    pthread_t th[KC_STORM_SUBMITTERS];
    for (long i = 0; i < KC_STORM_SUBMITTERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, kc_storm_submitter, (void *)(intptr_t)i), 0);
    for (int i = 0; i < KC_STORM_SUBMITTERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(kc_sched_run_until_idle(kc_storm.s, KC_NO_TIMEOUT, NULL), 0);
    long once = 0, children = 0, bad = 0;
    for (long i = 0; i < n; i++) {
        once += kc_storm.hits[i] == 1;
        children += kc_storm.child_hits[i];
        if ((kc_storm.hits[i] != 1 || kc_storm.child_hits[i] != (i % 8 == 0)) && bad++ == 0)
            fprintf(stderr, "coroutine %ld ran %d times, child %d times\n", i, kc_storm.hits[i],
                    kc_storm.child_hits[i]);
    }
    printf("storm: %ld coroutines + %ld children; -ENOMEM waited out %ld times by submitters, "
           "%ld by coroutines\n",
           n, children, atomic_load(&kc_storm.idle_waits), atomic_load(&kc_storm.child_yields));
    if (atomic_load(&kc_storm.failures) != 0)
        fprintf(stderr, "storm: %ld spawns failed, the last with %s\n",
                atomic_load(&kc_storm.failures), kc_errname(atomic_load(&kc_storm.last_error)));
    assert_int_equal(atomic_load(&kc_storm.failures), 0);
    assert_int_equal(bad, 0);
    assert_int_equal(once, n);
    assert_int_equal(children, (n + 7) / 8);
    kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
    kc_sched_worker_metrics_t wm[KC_STORM_WORKERS];
    kc_sched_metrics(kc_storm.s, &m, wm, KC_STORM_WORKERS);
    assert_int_equal(m.spawned, (uint64_t)(n + children)); /* failed spawns do not count */
    assert_int_equal(m.finished, (uint64_t)(n + children));
    uint64_t injected = 0;
    for (int i = 0; i < KC_STORM_WORKERS; i++)
        injected += wm[i].inject_pops;
    assert_true(injected >= (uint64_t)n); /* all came through the inject queue */
    assert_int_equal(kc__sched_check(kc_storm.s), 0);
    assert_int_equal(kc_sched_destroy(kc_storm.s), 0);
    free(kc_storm.hits);
    free(kc_storm.child_hits);
}

#endif /* KCORO_KC_TEST_STORM_H */
