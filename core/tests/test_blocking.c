/* test_blocking.c - kc_run_blocking on the helper pool, and the
 * single-thread scheduler option.
 *
 * A blocking call parks only its coroutine: on a one-worker scheduler
 * other coroutines keep running while it sleeps on a helper; the pool never
 * runs more helpers than configured; a full queue answers -EAGAIN; a
 * queued call withdrawn by its timeout or token never runs, while a call
 * that started runs to the end; the counters add up. A scheduler made with
 * KC_SCHED_F_SINGLE_THREAD runs every coroutine on one thread.
 */
#include "kcoro.h"
#include "kcoro/blocking.h"

#include <pthread.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

#define MS ((int64_t)1000 * 1000)

enum {
    THREADS = 3,
    QUEUE = 4
};

static atomic_int running, peak_running, ran;

static void nap(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    nanosleep(&ts, NULL);
}

/* A blocking call: sleeps arg milliseconds on its helper thread. */
static int sleepy(void *arg)
{
    int now = atomic_fetch_add(&running, 1) + 1;
    int p = atomic_load(&peak_running);
    while (now > p && !atomic_compare_exchange_weak(&peak_running, &p, now))
        ;
    nap((intptr_t)arg * MS);
    atomic_fetch_sub(&running, 1);
    atomic_fetch_add(&ran, 1);
    return (int)(intptr_t)arg + 1000;
}

static int call_sleepy(void *arg)
{
    int r = 0;
    int rc = kc_run_blocking(sleepy, arg, KC_NO_TIMEOUT, NULL, &r);
    return rc < 0 ? rc : r;
}

static atomic_int ticks;

static int ticker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++) {
        atomic_fetch_add(&ticks, 1);
        kc_sched_sleep(1 * MS, NULL);
    }
    return 0;
}

static void test_configure_once_then_busy(void **state)
{
    (void)state;
    assert_int_equal(kc_blocking_configure(0, 4), -EINVAL);
    assert_int_equal(kc_blocking_configure(4, 0), -EINVAL);
    assert_int_equal(kc_blocking_configure(KC_BLOCKING_THREADS_MAX + 1, 4), -EINVAL);
    assert_int_equal(kc_blocking_configure(THREADS, QUEUE), 0);
    kc_blocking_metrics_t m = {.size = sizeof(m)};
    assert_int_equal(kc_blocking_metrics(&m), 0);
    assert_int_equal(m.threads, 0); /* not started yet */
    int r = 0;
    assert_int_equal(kc_run_blocking(sleepy, (void *)(intptr_t)1, KC_NO_TIMEOUT, NULL, &r), 0);
    assert_int_equal(r, 1001);
    assert_int_equal(kc_blocking_configure(THREADS, QUEUE), -EBUSY);
    assert_int_equal(kc_blocking_metrics(&m), 0);
    assert_int_equal(m.max_threads, THREADS);
    assert_int_equal(m.max_queue, QUEUE);
    assert_int_equal(m.completed, 1);
    kc_blocking_metrics_t small = {.size = 4};
    assert_int_equal(kc_blocking_metrics(&small), -EINVAL);
    assert_int_equal(kc_blocking_metrics(NULL), -EINVAL);
    assert_int_equal(kc_run_blocking(NULL, NULL, 0, NULL, NULL), -EINVAL);
    /* a negative timeout has run out (kcoro/base.h): as 0, never -EINVAL */
    int rc = kc_run_blocking(sleepy, NULL, -7, NULL, NULL);
    assert_true(rc == 0 || rc == -ETIME);
}

static void test_blocking_call_parks_only_its_coroutine(void **state)
{
    (void)state;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.flags = KC_SCHED_F_DEADLOCK_CHECK; /* a call in flight is not a deadlock */
    o.nworkers = 1;
    kc_sched_t *s = NULL;
    assert_int_equal(kc_sched_create(&s, &o), 0);
    atomic_store(&ticks, 0);
    atomic_store(&peak_running, 0);
    kc_task_t *calls[6];
    for (int i = 0; i < 3; i++)
        assert_int_equal(kc_sched_spawn(s, &calls[i], call_sleepy, (void *)(intptr_t)40, NULL), 0);
    kc_task_t *t = NULL;
    assert_int_equal(kc_sched_spawn(s, &t, ticker, NULL, NULL), 0);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(atomic_load(&ticks), 20); /* ran while three calls slept */
    for (int i = 0; i < 3; i++) {
        int st = 0;
        assert_int_equal(kc_sched_join(calls[i], &st, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(st, 1040);
    }
    assert_true(atomic_load(&peak_running) <= THREADS);
    assert_int_equal(kc_sched_destroy(s), 0);
}

struct caller {
    kc_blocking_fn_t fn;
    intptr_t ms;
    const kc_cancel_t *tok;
    int rc, r;
};

static void *thread_call(void *arg)
{
    struct caller *c = arg;
    c->rc = kc_run_blocking(c->fn, (void *)c->ms, KC_NO_TIMEOUT, c->tok, &c->r);
    return NULL;
}

static atomic_int release_held;

/* A blocking call that holds its helper until the test lets it go. */
static int held(void *arg)
{
    while (!atomic_load(&release_held))
        nap(MS / 2);
    return (int)(intptr_t)arg;
}

static void wait_metrics(uint64_t submitted, uint32_t busy, uint32_t queued)
{
    kc_blocking_metrics_t m = {.size = sizeof(m)};
    for (;;) {
        assert_int_equal(kc_blocking_metrics(&m), 0);
        if (m.submitted >= submitted && m.busy == busy && m.queued == queued)
            return;
        nap(MS / 2);
    }
}

static void test_full_queue_rejects_and_queued_calls_withdraw(void **state)
{
    (void)state;
    kc_blocking_metrics_t before = {.size = sizeof(before)}, after = {.size = sizeof(after)};
    assert_int_equal(kc_blocking_metrics(&before), 0);
    atomic_store(&ran, 0);
    atomic_store(&release_held, 0);
    kc_cancel_t *tok = NULL;
    assert_int_equal(kc_cancel_create(&tok, NULL), 0);
    /* THREADS held calls occupy every helper; then QUEUE calls fill the
     * queue, the first of them with a token */
    enum {
        N = THREADS + QUEUE
    };
    struct caller c[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        c[i] = (struct caller){i < THREADS ? held : sleepy, i < THREADS ? 77 : 1, NULL, -99, 0};
        if (i == THREADS)
            c[i].tok = tok;
        assert_int_equal(pthread_create(&th[i], NULL, thread_call, &c[i]), 0);
        wait_metrics(before.submitted + (uint64_t)i + 1, i < THREADS ? (uint32_t)i + 1 : THREADS,
                     i < THREADS ? 0 : (uint32_t)(i - THREADS + 1));
    }
    int r = 0;
    assert_int_equal(kc_run_blocking(sleepy, (void *)1, KC_NO_TIMEOUT, NULL, &r), -EAGAIN);
    assert_true(kc_cancel_trigger(tok) >= 0); /* the queued call with the token withdraws */
    assert_int_equal(pthread_join(th[THREADS], NULL), 0);
    assert_int_equal(c[THREADS].rc, -ECANCELED);
    wait_metrics(0, THREADS, QUEUE - 1);
    /* a timed call waits in the queue behind held helpers and withdraws */
    assert_int_equal(kc_run_blocking(sleepy, (void *)1, 20 * MS, NULL, &r), -ETIME);
    kc_cancel_t *fired = NULL;
    assert_int_equal(kc_cancel_create(&fired, NULL), 0);
    assert_true(kc_cancel_trigger(fired) >= 0);
    assert_int_equal(kc_run_blocking(sleepy, (void *)1, KC_NO_TIMEOUT, fired, &r), -ECANCELED);
    atomic_store(&release_held, 1);
    for (int i = 0; i < N; i++) {
        if (i == THREADS)
            continue;
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(c[i].rc, 0);
        assert_int_equal(c[i].r, i < THREADS ? 77 : 1001);
    }
    assert_int_equal(atomic_load(&ran), QUEUE - 1); /* the withdrawn ones never ran */
    assert_int_equal(kc_blocking_metrics(&after), 0);
    assert_int_equal(after.submitted - before.submitted, N + 1);
    assert_int_equal(after.completed - before.completed, N - 1);
    assert_int_equal(after.withdrawn - before.withdrawn, 2);
    assert_int_equal(after.rejected - before.rejected, 1);
    assert_int_equal(after.peak_queued, QUEUE);
    assert_int_equal(after.threads, THREADS);
    assert_int_equal(after.queued, 0);
    assert_int_equal(kc_cancel_destroy(tok), 0);
    assert_int_equal(kc_cancel_destroy(fired), 0);
}

/* A started call runs to the end even when its timeout passes. On a
 * loaded host the 5 ms may pass before a helper starts the call: it is
 * then withdrawn unrun (-ETIME, r untouched), and the test tries again. */
static void test_started_call_is_not_abandoned(void **state)
{
    (void)state;
    int r = 0, rc = -ETIME;
    for (int attempt = 0; attempt < 50 && rc == -ETIME; attempt++) {
        rc = kc_run_blocking(sleepy, (void *)30, 5 * MS, NULL, &r);
        if (rc == -ETIME)
            assert_int_equal(r, 0); /* withdrawn before it started */
    }
    assert_int_equal(rc, 0);
    assert_int_equal(r, 1030);
}

static atomic_uintptr_t seen_thread;
static atomic_int other_thread;

static int record_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++) {
        uintptr_t me = (uintptr_t)pthread_self();
        uintptr_t first = 0;
        if (!atomic_compare_exchange_strong(&seen_thread, &first, me) && first != me)
            atomic_fetch_add(&other_thread, 1);
        kc_sched_yield();
    }
    return kc_sched_worker_index();
}

static void test_single_thread_scheduler_keeps_every_coroutine_on_one_thread(void **state)
{
    (void)state;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.flags = KC_SCHED_F_SINGLE_THREAD;
    o.nworkers = 4;
    kc_sched_t *s = NULL;
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    o.nworkers = 0;
    setenv("KCORO_WORKERS", "3", 1);
    assert_int_equal(kc_sched_create(&s, &o), 0);
    unsetenv("KCORO_WORKERS");
    assert_int_equal(kc_sched_nworkers(s), 1);
    atomic_store(&seen_thread, 0);
    atomic_store(&other_thread, 0);
    kc_task_t *t[50];
    for (int i = 0; i < 50; i++)
        assert_int_equal(kc_sched_spawn(s, &t[i], record_thread, NULL, NULL), 0);
    for (int i = 0; i < 50; i++) {
        int st = -1;
        assert_int_equal(kc_sched_join(t[i], &st, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(st, 0);
    }
    assert_int_equal(atomic_load(&other_thread), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configure_once_then_busy),
        cmocka_unit_test(test_blocking_call_parks_only_its_coroutine),
        cmocka_unit_test(test_full_queue_rejects_and_queued_calls_withdraw),
        cmocka_unit_test(test_started_call_is_not_abandoned),
        cmocka_unit_test(test_single_thread_scheduler_keeps_every_coroutine_on_one_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
