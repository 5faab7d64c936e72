/* demo_sched.c - demo section: the M:N scheduler at work.
 *
 * First a burst: one coroutine spawns a few thousand small jobs on its own
 * worker; the idle worker steals half of them at a time, and the tour shows
 * where the jobs ran and what the steal counters say. Then structured
 * concurrency: a scope of sleepy "poller" children and one child that fails;
 * the failure cancels the scope, the sleepers wake at once with -ECANCELED,
 * and kc_scope_wait reports the failure.
 */
#define _POSIX_C_SOURCE 200809L
#include "kcoro.h"

#include "kcoro_demo.h"

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

enum {
    JOBS = 4000,
    WORKERS = 2,
    POLLERS = 4
};

static atomic_int ran_on[WORKERS];
static atomic_long prime_total;

/* A small job: count the primes in [from, from + 200). */
static int job(void *arg)
{
    long from = (long)(intptr_t)arg, found = 0;
    for (long n = from; n < from + 200; n++) {
        bool prime = n > 1;
        for (long d = 2; d * d <= n && prime; d++)
            prime = n % d != 0;
        found += prime;
    }
    int w = kc_sched_worker_index();
    if (w >= 0 && w < WORKERS)
        atomic_fetch_add_explicit(&ran_on[w], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&prime_total, found, memory_order_relaxed);
    return 0;
}

static int origin_worker = -1;

/* Spawns every job from one worker, then joins them all. */
static int origin(void *arg)
{
    static kc_task_t *tasks[JOBS];
    (void)arg;
    origin_worker = kc_sched_worker_index();
    for (int i = 0; i < JOBS; i++)
        if (kc_sched_spawn(NULL, &tasks[i], job, (void *)(intptr_t)(i * 200), NULL) < 0)
            return -1;
    for (int i = 0; i < JOBS; i++)
        kc_sched_join(tasks[i], NULL, KC_NO_TIMEOUT, NULL);
    return 0;
}

struct poller {
    kc_scope_t *scope;
    int rounds;
    int result;
};

static int poll_loop(void *arg)
{
    struct poller *p = arg;
    for (;;) {
        int rc = kc_sched_sleep(2000000, kc_scope_token(p->scope)); /* 2 ms */
        if (rc < 0) {
            p->result = rc;
            return 0;
        }
        p->rounds++;
    }
}

static int failing_child(void *arg)
{
    (void)arg;
    kc_sched_sleep(15000000, NULL); /* 15 ms of work, then a failure */
    return -EPROTO;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int show_scope(kc_sched_t *s)
{
    kc_scope_t *sc;
    static struct poller pollers[POLLERS];
    if (kc_scope_create(&sc, s, KC_SCOPE_F_CANCEL_ON_FAIL) < 0)
        return 1;
    for (int i = 0; i < POLLERS; i++) {
        pollers[i] = (struct poller){sc, 0, 0};
        kc_scope_spawn(sc, poll_loop, &pollers[i], NULL);
    }
    kc_scope_spawn(sc, failing_child, NULL, NULL);
    double t0 = now_ms();
    int rc = kc_scope_wait(sc, KC_NO_TIMEOUT, NULL);
    double ms = now_ms() - t0;
    printf("  a scope of %d pollers (sleeping 2 ms at a time) and one child that fails after "
           "15 ms:\n",
           POLLERS);
    bool ok = rc == -EPROTO;
    for (int i = 0; i < POLLERS; i++) {
        printf("    poller %d: %d rounds, then %s\n", i, pollers[i].rounds,
               kc_errname(pollers[i].result));
        ok = ok && pollers[i].result == -ECANCELED;
    }
    printf("  kc_scope_wait returned %s after %.1f ms; %d children left running\n", kc_errname(rc),
           ms, kc_scope_live(sc));
    ok = ok && kc_scope_live(sc) == 0;
    kc_scope_destroy(sc);
    printf("  the failure cancelled its siblings and nothing outlived the scope: %s\n",
           ok ? "yes" : "NO");
    return ok ? 0 : 1;
}

int kc_demo_scheduler(void)
{
    kc_demo_heading("scheduler: two workers, a burst, steals, a cancelled scope");
    kc_sched_opts_t opts = KC_SCHED_OPTS_INIT;
    opts.nworkers = WORKERS;
    kc_sched_t *s;
    if (kc_sched_create(&s, &opts) < 0)
        return 1;
    kc_task_t *t;
    double t0 = now_ms();
    if (kc_sched_spawn(s, &t, origin, NULL, NULL) < 0)
        return 1;
    int status = -1;
    kc_sched_join(t, &status, KC_NO_TIMEOUT, NULL);
    double ms = now_ms() - t0;

    kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
    kc_sched_worker_metrics_t w[WORKERS];
    kc_sched_metrics(s, &m, w, WORKERS);
    int a = atomic_load(&ran_on[0]), b = atomic_load(&ran_on[1]);
    printf("  one coroutine on worker %d spawned %d jobs (primes below %d: %ld found) "
           "in %.1f ms\n",
           origin_worker, JOBS, JOBS * 200, atomic_load(&prime_total), ms);
    printf("  jobs run per worker: worker 0: %d, worker 1: %d\n", a, b);
    for (int i = 0; i < WORKERS; i++)
        printf("  worker %d: executed %llu, steals %llu of %llu attempts took %llu coroutines, "
               "parks %llu\n",
               i, (unsigned long long)w[i].executed, (unsigned long long)w[i].steals,
               (unsigned long long)w[i].steal_attempts, (unsigned long long)w[i].stolen,
               (unsigned long long)w[i].parks);
    bool ok = status == 0 && a + b == JOBS && atomic_load(&prime_total) == 63951;
    printf("  every job ran exactly once and the count is right (63951): %s\n", ok ? "yes" : "NO");

    int bad = show_scope(s);
    kc_sched_shutdown(s, KC_SCHED_SHUTDOWN_GRACEFUL);
    kc_sched_destroy(s);
    return (ok ? 0 : 1) | bad;
}
