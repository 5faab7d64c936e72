/* test_sched.c - tests of the scheduler API (kcoro/sched.h).
 *
 * Create and destroy, spawn and join with statuses, detach, join timeouts and
 * misuse, deterministic yield order with one worker, sleep, run-until-idle,
 * graceful and cancelling shutdown, migration with each worker's thread-local
 * state (ARCHITECTURE.md section 6), metrics snapshots and the invariant
 * check. Coroutines record what they see; asserts run after the joins.
 */
#define _GNU_SOURCE
#include "kcoro.h"

#include "port/kc_port.h"
#include "sched/kc_sched_impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
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

static atomic_long counter;

static int count_once(void *arg)
{
    (void)arg;
    atomic_fetch_add(&counter, 1);
    return 0;
}

/* ------------------------------------------------------------ basics */

/* ------------------------------------------------------------ direct park switch */

/* A parent parks for a child it just spawned: the park switches straight
 * to the new task (S6), which wakes the parent and keeps yielding until
 * the parent has run. The park is committed by whatever runs next on the
 * worker (here the root, when the child's yield goes the long way), so the
 * parent runs again without the child ever parking or finishing. */
struct waker {
    kc_parker_t *p;
    atomic_int parent_ran;
    long yields;
};

static int wake_then_yield(void *arg)
{
    struct waker *k = arg;
    kc_unpark(k->p);
    while (!atomic_load(&k->parent_ran) && k->yields < 1000000) {
        k->yields++;
        kc_sched_yield();
    }
    return 0;
}

static int park_for_child(void *arg)
{
    struct waker *k = arg;
    kc_parker_t p;
    kc_parker_init(&p);
    k->p = &p;
    kc_task_t *c;
    if (kc_sched_spawn(NULL, &c, wake_then_yield, k, NULL) != 0)
        return -1;
    int rc = kc_park(&p, KC_NO_TIMEOUT, NULL);
    atomic_store(&k->parent_ran, 1);
    int jrc = kc_sched_join(c, NULL, KC_NO_TIMEOUT, NULL);
    return rc != 0 ? rc : jrc;
}

static void test_sched_park_switches_to_a_new_task_and_is_committed(void **state)
{
    (void)state;
    for (int run = 0; run < 100; run++) {
        kc_sched_t *s = kc_test_sched(1);
        struct waker k = {.p = NULL};
        kc_task_t *t;
        int st = -1;
        assert_int_equal(kc_sched_spawn(s, &t, park_for_child, &k, NULL), 0);
        assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(st, 0);
        assert_int_equal(atomic_load(&k.parent_ran), 1);
        assert_true(k.yields >= 1 && k.yields <= 2); /* the first yield went the long way */
        kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
        kc_sched_worker_metrics_t wm[1];
        assert_int_equal(kc_sched_metrics(s, &m, wm, 1), 1);
        assert_true(wm[0].park_switches >= 1); /* the parent's park switched to the child */
        assert_int_equal(kc_sched_shutdown(s, KC_SCHED_SHUTDOWN_GRACEFUL), 0);
        assert_int_equal(kc__sched_check(s), 0); /* S6: nothing left pending */
        assert_int_equal(kc_sched_destroy(s), 0);
    }
}

static void test_sched_create_rejects_bad_options(void **state)
{
    (void)state;
    kc_sched_t *s = (kc_sched_t *)1;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    assert_int_equal(kc_sched_create(NULL, NULL), -EINVAL);
    o.nworkers = -1;
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    assert_null(s);
    o.nworkers = KC_SCHED_MAX_WORKERS + 1;
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    o.nworkers = 1;
    o.size = 4;
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    o.size = sizeof(o);
    o.steal_delay_ns = KC_SCHED_STEAL_AT_ONCE - 1;
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    o.steal_delay_ns = KC_SCHED_STEAL_DELAY_MAX + 1;
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    assert_null(s);
    o.steal_delay_ns = 0;
    o.size = sizeof(o) - 1; /* neither this layout nor the one before */
    assert_int_equal(kc_sched_create(&s, &o), -EINVAL);
    /* The layout before steal_delay_ns: accepted, the delay defaults. */
    o.size = offsetof(kc_sched_opts_t, steal_delay_ns); /* LP64: the old sizeof */
    o.steal_delay_ns = -5;                              /* not read */
    assert_int_equal(kc_sched_create(&s, &o), 0);
    assert_int_equal(((struct kc_sched *)s)->steal_delay_ns, KC_SCHED_STEAL_DELAY_DEFAULT);
    assert_int_equal(kc_sched_destroy(s), 0);
    o.size = sizeof(o);
    o.steal_delay_ns = KC_SCHED_STEAL_AT_ONCE;
    assert_int_equal(kc_sched_create(&s, &o), 0);
    assert_int_equal(((struct kc_sched *)s)->steal_delay_ns, 0);
    assert_int_equal(kc_sched_destroy(s), 0);
    assert_int_equal(kc_sched_destroy(NULL), 0);
    assert_int_equal(kc_sched_create(&s, NULL), 0); /* default: online CPUs */
    assert_int_equal(kc_sched_nworkers(s), kc__port_ncpus());
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_sched_spawn_join_returns_each_status(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    enum {
        N = 200
    };
    kc_task_t *t[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(kc_sched_spawn(s, &t[i], ret_arg, (void *)(intptr_t)i, NULL), 0);
    for (int i = 0; i < N; i++) {
        int st = -1;
        assert_int_equal(kc_sched_join(t[i], &st, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(st, i);
    }
    assert_int_equal(kc__sched_check(s), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_sched_spawn_rejects_bad_input(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    kc_task_t *t = (kc_task_t *)1;
    assert_int_equal(kc_sched_spawn(s, &t, NULL, NULL, NULL), -EINVAL);
    assert_null(t);
    kc_spawn_attr_t a = KC_SPAWN_ATTR_INIT;
    a.stack_size = 100;
    assert_int_equal(kc_sched_spawn(s, &t, ret_arg, NULL, &a), -EINVAL);
    a = (kc_spawn_attr_t)KC_SPAWN_ATTR_INIT;
    a.size = 2;
    assert_int_equal(kc_sched_spawn(s, &t, ret_arg, NULL, &a), -EINVAL);
    assert_int_equal(kc_sched_spawn(NULL, &t, ret_arg, NULL, NULL), -EPERM);
    assert_int_equal(kc_sched_join(NULL, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_sched_detach(NULL), -EINVAL);
    assert_int_equal(kc_sched_migrate(0), -EPERM);
    assert_int_equal(kc_sched_run_until_idle(NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_sched_shutdown(s, 7), -EINVAL);
    assert_int_equal(kc_sched_destroy(s), 0);
}

struct self_info {
    uint64_t id;
    char name[KC_CORO_NAME_MAX];
    int worker;
    bool task_ok;
    int join_self, idle_self, shutdown_self, migrate_bad, spawn_rc, child_status;
};

static int inspect_self(void *arg)
{
    struct self_info *si = arg;
    si->id = kc_sched_self_id();
    snprintf(si->name, sizeof(si->name), "%s", kc_sched_self_name());
    si->worker = kc_sched_worker_index();
    si->task_ok = kc_task_id(kc_sched_self()) == si->id;
    si->join_self = kc_sched_join(kc_sched_self(), NULL, 0, NULL);
    si->idle_self = kc_sched_run_until_idle(kc_sched_current(), 0, NULL);
    si->shutdown_self = kc_sched_shutdown(kc_sched_current(), KC_SCHED_SHUTDOWN_GRACEFUL);
    si->migrate_bad = kc_sched_migrate(99);
    kc_task_t *c;
    si->spawn_rc = kc_sched_spawn(NULL, &c, ret_arg, (void *)(intptr_t)5, NULL);
    if (si->spawn_rc == 0)
        kc_sched_join(c, &si->child_status, KC_NO_TIMEOUT, NULL);
    return 0;
}

static void test_sched_self_reports_id_name_worker_and_refuses_misuse(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    struct self_info si = {0};
    kc_spawn_attr_t a = KC_SPAWN_ATTR_INIT;
    a.name = "inspector";
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(s, &t, inspect_self, &si, &a), 0);
    uint64_t id = kc_task_id(t);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(si.id, id);
    assert_string_equal(si.name, "inspector");
    assert_true(si.worker >= 0 && si.worker < 2);
    assert_true(si.task_ok);
    assert_int_equal(si.join_self, -EPERM);
    assert_int_equal(si.idle_self, -EPERM);
    assert_int_equal(si.shutdown_self, -EPERM);
    assert_int_equal(si.migrate_bad, -EINVAL);
    assert_int_equal(si.spawn_rc, 0);
    assert_int_equal(si.child_status, 5);
    /* Outside any coroutine. */
    assert_int_equal(kc_sched_self_id(), 0);
    assert_string_equal(kc_sched_self_name(), "thread");
    assert_int_equal(kc_sched_worker_index(), -1);
    assert_null(kc_sched_self());
    assert_null(kc_sched_current());
    assert_false(kc_sched_is_cancelled());
    assert_int_equal(kc_sched_yield(), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_sched_detached_tasks_run_exactly_once(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    long n = kc_test_scaled(20000);
    atomic_store(&counter, 0);
    for (long i = 0; i < n; i++)
        assert_int_equal(kc_sched_spawn(s, NULL, count_once, NULL, NULL), 0);
    assert_int_equal(kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(atomic_load(&counter), n);
    kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
    kc_sched_worker_metrics_t wm[2];
    assert_int_equal(kc_sched_metrics(s, &m, wm, 2), 2);
    assert_int_equal(m.spawned, (uint64_t)n);
    assert_int_equal(m.finished, (uint64_t)n);
    assert_int_equal(m.live, 0);
    assert_true(wm[0].executed + wm[1].executed >= (uint64_t)n);
    assert_int_equal(kc_sched_metrics(s, &(kc_sched_metrics_t){0}, NULL, 0), -EINVAL);
    assert_int_equal(kc__sched_check(s), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* ------------------------------------------------------------ join, detach */

static int park_on(void *arg)
{
    _Atomic(kc_parker_t *) *slot = arg;
    kc_parker_t p;
    kc_parker_init(&p);
    /* release: pairs with the acquire load that reads the slot */
    atomic_store_explicit(slot, &p, memory_order_release);
    while (kc_park(&p, KC_NO_TIMEOUT, NULL) != 0) {
    }
    return 42;
}

static kc_parker_t *wait_slot(_Atomic(kc_parker_t *) *slot)
{
    kc_parker_t *p;
    while ((p = atomic_load_explicit(slot, memory_order_acquire)) == NULL)
        kc_sched_yield();
    return p;
}

static int join_it(void *arg)
{
    int st = -1;
    int rc = kc_sched_join(arg, &st, KC_NO_TIMEOUT, NULL);
    return rc == 0 ? st : rc;
}

/* White-box: has a joiner registered on t (invariant A3 of kc_task.c)? */
static bool has_joiner(kc_task_t *t)
{
    /* acquire: the joiner's CAS put its parker in the word */
    return atomic_load_explicit(&t->join, memory_order_acquire) > KC_JOIN_LOOKING;
}

static void test_sched_join_timeout_keeps_handle_and_second_joiner_is_busy(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    _Atomic(kc_parker_t *) slot = NULL;
    kc_task_t *t, *j;
    assert_int_equal(kc_sched_spawn(s, &t, park_on, &slot, NULL), 0);
    kc_parker_t *p = wait_slot(&slot);
    assert_int_equal(kc_sched_join(t, NULL, 0, NULL), -ETIME);
    assert_int_equal(kc_sched_join(t, NULL, 1000000, NULL), -ETIME);
    /* A coroutine joins it; once t names that joiner, a second one is busy.
     * (An idle worker is no sign of it: the worker may count itself idle
     * for a moment, then find the joiner in the inject queue.) */
    assert_int_equal(kc_sched_spawn(s, &j, join_it, t, NULL), 0);
    while (!has_joiner(t))
        kc_sched_yield();
    assert_int_equal(kc_sched_join(t, NULL, 0, NULL), -EBUSY);
    assert_int_equal(kc_sched_detach(t), -EBUSY);
    kc_unpark(p);
    int st = -1;
    assert_int_equal(kc_sched_join(j, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, 42);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_sched_detach_after_finish_frees_and_before_lets_it_run(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    atomic_store(&counter, 0);
    kc_task_t *a, *b;
    assert_int_equal(kc_sched_spawn(s, &a, count_once, NULL, NULL), 0);
    assert_int_equal(kc_sched_spawn(s, &b, count_once, NULL, NULL), 0);
    assert_int_equal(kc_sched_detach(a), 0);
    assert_int_equal(kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_sched_detach(b), 0); /* finished: freed now */
    assert_int_equal(atomic_load(&counter), 2);
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* ------------------------------------------------------------ order */

struct trace {
    char buf[64];
    _Atomic int n;
};

struct tracer {
    struct trace *tr;
    char tag;
};

static int trace_yields(void *arg)
{
    struct tracer *t = arg;
    for (int i = 0; i < 4; i++) {
        t->tr->buf[atomic_fetch_add(&t->tr->n, 1)] = t->tag;
        kc_sched_yield();
    }
    return 0;
}

static int spawn_pair(void *arg)
{
    struct tracer *t = arg; /* two tracers */
    kc_sched_spawn(NULL, NULL, trace_yields, &t[0], NULL);
    kc_sched_spawn(NULL, NULL, trace_yields, &t[1], NULL);
    return 0;
}

static void test_sched_one_worker_yield_order_alternates_deterministically(void **state)
{
    (void)state;
    char first[64] = "";
    for (int run = 0; run < 3; run++) {
        kc_sched_t *s = kc_test_sched(1);
        struct trace tr = {.n = 0};
        struct tracer t[2] = {{&tr, 'A'}, {&tr, 'B'}};
        assert_int_equal(kc_sched_spawn(s, NULL, spawn_pair, t, NULL), 0);
        assert_int_equal(kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(atomic_load(&tr.n), 8);
        for (int i = 1; i < 8; i++)
            assert_true(tr.buf[i] != tr.buf[i - 1]); /* strict alternation */
        if (run == 0)
            memcpy(first, tr.buf, sizeof(first));
        assert_memory_equal(first, tr.buf, 8); /* the same every run */
        assert_int_equal(kc_sched_destroy(s), 0);
    }
}

struct nap {
    int64_t ns;
    int rc;
    int64_t slept;
};

static int nap(void *arg)
{
    struct nap *n = arg;
    int64_t t0 = (int64_t)kc__port_now_ns();
    n->rc = kc_sched_sleep(n->ns, NULL);
    n->slept = (int64_t)kc__port_now_ns() - t0;
    return 0;
}

static void test_sched_sleep_never_wakes_early(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    enum {
        N = 100
    };
    struct nap n[N];
    srand(7);
    for (int i = 0; i < N; i++) {
        n[i] = (struct nap){.ns = (i % 10) * 200000, .rc = 99};
        assert_int_equal(kc_sched_spawn(s, NULL, nap, &n[i], NULL), 0);
    }
    assert_int_equal(kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(n[i].rc, 0);
        assert_true(n[i].slept >= n[i].ns);
    }
    /* From a plain thread too. */
    struct nap t = {.ns = 500000};
    nap(&t);
    assert_int_equal(t.rc, 0);
    assert_true(t.slept >= t.ns);
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* ------------------------------------------------------------ lifecycle */

static void test_sched_run_until_idle_times_out_while_a_task_is_parked(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    _Atomic(kc_parker_t *) slot = NULL;
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(s, &t, park_on, &slot, NULL), 0);
    kc_parker_t *p = wait_slot(&slot);
    assert_int_equal(kc_sched_run_until_idle(s, 1000000, NULL), -ETIME);
    kc_unpark(p);
    assert_int_equal(kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL), 0);
    int st;
    assert_int_equal(kc_sched_join(t, &st, 0, NULL), 0);
    assert_int_equal(st, 42);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static int sleep_forever(void *arg)
{
    (void)arg;
    int rc = kc_sched_sleep(INT64_MAX / 2, NULL);
    atomic_fetch_add(&counter, 1);
    return rc;
}

static void test_sched_shutdown_cancel_wakes_parked_tasks_then_refuses_spawns(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    enum {
        N = 50
    };
    kc_task_t *t[N];
    atomic_store(&counter, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(kc_sched_spawn(s, &t[i], sleep_forever, NULL, NULL), 0);
    assert_int_equal(kc_sched_shutdown(s, KC_SCHED_SHUTDOWN_CANCEL), 0);
    assert_int_equal(atomic_load(&counter), N);
    for (int i = 0; i < N; i++) {
        int st = 0;
        assert_int_equal(kc_sched_join(t[i], &st, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(st, -ECANCELED);
    }
    kc_task_t *u;
    assert_int_equal(kc_sched_spawn(s, &u, ret_arg, NULL, NULL), -EPIPE);
    assert_int_equal(kc_sched_shutdown(s, KC_SCHED_SHUTDOWN_GRACEFUL), 0);
    assert_int_equal(kc__sched_check(s), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_sched_graceful_shutdown_waits_for_all(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    enum {
        N = 100
    };
    struct nap n[N];
    for (int i = 0; i < N; i++) {
        n[i] = (struct nap){.ns = 100000 + i * 1000, .rc = 99};
        assert_int_equal(kc_sched_spawn(s, NULL, nap, &n[i], NULL), 0);
    }
    assert_int_equal(kc_sched_destroy(s), 0); /* graceful */
    for (int i = 0; i < N; i++)
        assert_int_equal(n[i].rc, 0);
}

/* ------------------------------------------------------------ migration */

static _Thread_local int tls_worker_tag = -1;
static atomic_int hooks_started, hooks_stopped;

/* Read the thread-local through a call the compiler cannot see through. */
__attribute__((noinline)) static int *tls_tag(void)
{
    int *p = &tls_worker_tag;
    __asm__ volatile("" : "+r"(p)::"memory");
    return p;
}

static void hook_start(kc_sched_t *s, int index, void *arg)
{
    (void)s;
    (void)arg;
    *tls_tag() = index;
    atomic_fetch_add(&hooks_started, 1);
}

static void hook_stop(kc_sched_t *s, int index, void *arg)
{
    (void)s;
    (void)arg;
    if (*tls_tag() == index)
        atomic_fetch_add(&hooks_stopped, 1);
}

/* What one migrating coroutine saw. The two kinds of mismatch have
 * different causes, so they are counted apart: running elsewhere than the
 * target after kc_sched_migrate returned is a scheduler bug (a migrated task
 * taken by another worker: the inbox must never feed a stealable queue);
 * a thread-local that disagrees with the worker running the coroutine is a
 * stale thread-local address kept across a switch (ARCHITECTURE.md 6). */
struct migrant {
    int nworkers, rounds;
    int moves;
    int failed;     /* kc_sched_migrate returned an error */
    int misplaced;  /* returned, but running on another worker */
    int tls_wrong;  /* the thread-local is not the running worker's */
    int first_move; /* the move of the first mismatch, or -1 */
};

static void migrant_bad(struct migrant *m, int *count)
{
    (*count)++;
    if (m->first_move < 0)
        m->first_move = m->moves;
}

static int migrate_around(void *arg)
{
    struct migrant *m = arg;
    for (int r = 0; r < m->rounds; r++) {
        for (int w = 0; w < m->nworkers; w++) {
            if (kc_sched_migrate(w) != 0)
                migrant_bad(m, &m->failed);
            m->moves++;
            int here = kc_sched_worker_index();
            if (here != w)
                migrant_bad(m, &m->misplaced);
            if (*tls_tag() != here)
                migrant_bad(m, &m->tls_wrong);
            kc_sched_yield();
            if (*tls_tag() != kc_sched_worker_index())
                migrant_bad(m, &m->tls_wrong);
        }
    }
    return 0;
}

static void test_sched_migrated_coroutines_see_each_workers_thread_locals(void **state)
{
    (void)state;
    enum {
        W = 3,
        C = 8
    };
    atomic_store(&hooks_started, 0);
    atomic_store(&hooks_stopped, 0);
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.nworkers = W;
    o.on_worker_start = hook_start;
    o.on_worker_stop = hook_stop;
    kc_sched_t *s;
    assert_int_equal(kc_sched_create(&s, &o), 0);
    struct migrant m[C];
    kc_task_t *t[C];
    for (int i = 0; i < C; i++) {
        m[i] = (struct migrant){W, (int)kc_test_scaled(200), 0, 0, 0, 0, -1};
        assert_int_equal(kc_sched_spawn(s, &t[i], migrate_around, &m[i], NULL), 0);
    }
    for (int i = 0; i < C; i++) {
        assert_int_equal(kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(m[i].moves, W * m[i].rounds);
        if (m[i].failed || m[i].misplaced || m[i].tls_wrong)
            fail_msg("coroutine %d, %d moves: %d failed, %d ran off their target worker, %d "
                     "thread-local reads were another worker's (first at move %d)",
                     i, m[i].moves, m[i].failed, m[i].misplaced, m[i].tls_wrong, m[i].first_move);
    }
    assert_int_equal(kc_sched_destroy(s), 0);
    assert_int_equal(atomic_load(&hooks_started), W);
    assert_int_equal(atomic_load(&hooks_stopped), W);
}

/* ------------------------------------------------------------ steal delay */

struct hold {
    _Atomic int ran;        /* the spawned task has run */
    _Atomic int where;      /* the worker it ran on */
    int spinner_worker;     /* the worker of the busy coroutine */
    int64_t busy_ns;        /* how long the busy coroutine spins, at most */
    int ran_during_spin;    /* what the busy coroutine saw when it stopped */
    int64_t spawned_at;     /* when the child was queued */
    _Atomic int64_t ran_at; /* when it first ran */
};

static int hold_child(void *arg)
{
    struct hold *h = arg;
    atomic_store(&h->ran_at, (int64_t)kc__port_now_ns());
    atomic_store(&h->where, kc_sched_worker_index());
    atomic_store(&h->ran, 1);
    return 0;
}

/* Spawns a child (it lands on this worker's deque), then keeps the worker
 * busy without yielding until the child has run or busy_ns have passed. */
static int hold_spinner(void *arg)
{
    struct hold *h = arg;
    kc_task_t *c;
    h->spinner_worker = kc_sched_worker_index();
    h->spawned_at = (int64_t)kc__port_now_ns();
    if (kc_sched_spawn(kc_sched_current(), &c, hold_child, h, NULL) != 0)
        return -1;
    int64_t t0 = (int64_t)kc__port_now_ns();
    while (atomic_load(&h->ran) == 0 && (int64_t)kc__port_now_ns() - t0 < h->busy_ns)
        kc__port_relax();
    h->ran_during_spin = atomic_load(&h->ran);
    return kc_sched_join(c, NULL, KC_NO_TIMEOUT, NULL);
}

static void run_hold(struct hold *h, int64_t delay_ns)
{
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.nworkers = 2;
    o.steal_delay_ns = delay_ns;
    kc_sched_t *s = NULL;
    assert_int_equal(kc_sched_create(&s, &o), 0);
    kc_task_t *t;
    int st = -1;
    assert_int_equal(kc_sched_spawn(s, &t, hold_spinner, h, NULL), 0);
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* The idle worker leaves a queued task alone for the delay, then takes
 * it while its own worker is still busy: the child runs on the other
 * worker, and never sooner than the delay after it was queued (measured by
 * the clock, so a loaded machine can only make it later). With the delay
 * off this fails: the child is taken within microseconds. */
static void test_sched_steal_delay_holds_a_queued_task_for_the_delay(void **state)
{
    (void)state;
    int64_t delays[] = {KC_SCHED_STEAL_DELAY_MAX, 200 * 1000};
    for (int i = 0; i < 2; i++) {
        struct hold h = {.busy_ns = 30LL * 1000 * 1000 * 1000};
        run_hold(&h, delays[i]);
        assert_int_equal(h.ran_during_spin, 1);
        assert_int_not_equal(atomic_load(&h.where), h.spinner_worker);
        int64_t waited = atomic_load(&h.ran_at) - h.spawned_at;
        if (waited < delays[i])
            fail_msg("stolen after %lld ns, delay %lld ns", (long long)waited,
                     (long long)delays[i]);
    }
}

/* Past the delay the idle worker takes it: it runs while the busy
 * coroutine still spins, on the other worker. Once with a short delay,
 * once with the default. */
static void test_sched_steal_delay_then_steals(void **state)
{
    (void)state;
    int64_t delays[] = {1000 * 1000, 0};
    for (int i = 0; i < 2; i++) {
        struct hold h = {.busy_ns = 30LL * 1000 * 1000 * 1000};
        run_hold(&h, delays[i]);
        assert_int_equal(h.ran_during_spin, 1);
        assert_int_not_equal(atomic_load(&h.where), h.spinner_worker);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sched_create_rejects_bad_options),
        cmocka_unit_test(test_sched_steal_delay_holds_a_queued_task_for_the_delay),
        cmocka_unit_test(test_sched_steal_delay_then_steals),
        cmocka_unit_test(test_sched_spawn_join_returns_each_status),
        cmocka_unit_test(test_sched_spawn_rejects_bad_input),
        cmocka_unit_test(test_sched_self_reports_id_name_worker_and_refuses_misuse),
        cmocka_unit_test(test_sched_detached_tasks_run_exactly_once),
        cmocka_unit_test(test_sched_join_timeout_keeps_handle_and_second_joiner_is_busy),
        cmocka_unit_test(test_sched_detach_after_finish_frees_and_before_lets_it_run),
        cmocka_unit_test(test_sched_one_worker_yield_order_alternates_deterministically),
        cmocka_unit_test(test_sched_park_switches_to_a_new_task_and_is_committed),
        cmocka_unit_test(test_sched_sleep_never_wakes_early),
        cmocka_unit_test(test_sched_run_until_idle_times_out_while_a_task_is_parked),
        cmocka_unit_test(test_sched_shutdown_cancel_wakes_parked_tasks_then_refuses_spawns),
        cmocka_unit_test(test_sched_graceful_shutdown_waits_for_all),
        cmocka_unit_test(test_sched_migrated_coroutines_see_each_workers_thread_locals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
