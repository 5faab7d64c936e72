/* kc_bench_sched.h - the one-worker scheduler of the two-process benchmarks.
 *
 * Header-only, for the benchmarks that link libkcoro (bench_ipc.c,
 * bench_mux.c, bench_rsel.c); the peer programs, which do not, never
 * include it. Each process of a two-process benchmark runs one worker, so
 * the two processes share the machine's two cores alike.
 */
#ifndef KCORO_KC_BENCH_SCHED_H
#define KCORO_KC_BENCH_SCHED_H

#include "kcoro.h"

#include <stdlib.h>

/* A scheduler with one worker; aborts when it cannot be made. */
static inline kc_sched_t *kc_bench_one_worker(void)
{
    kc_sched_t *s;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.nworkers = 1;
    if (kc_sched_create(&s, &o) != 0)
        abort();
    return s;
}

/* Runs fn(arg) as the task of a new one-worker scheduler and waits for it:
 * the task's result (a forked server's exit status), or 1 when it could
 * not be spawned or joined. */
static inline int kc_bench_run_task(kc_coro_fn_t fn, void *arg)
{
    kc_sched_t *s = kc_bench_one_worker();
    kc_task_t *t;
    int st = 1;
    if (kc_sched_spawn(s, &t, fn, arg, NULL) != 0 ||
        kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL) != 0)
        return 1;
    kc_sched_destroy(s);
    return st;
}

#endif /* KCORO_KC_BENCH_SCHED_H */
