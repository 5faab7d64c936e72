/* test_timer.c - tests of kcoro/timer.h and the per-worker timer heaps.
 *
 * Transitions of the timer table (start, stop, fire, re-arm from the
 * callback, stop from the callback, stop waiting for a running callback),
 * deadline order on one worker (also while other threads' starts race the
 * worker's firing passes), a million pending timers started and stopped
 * in random order with the heap invariants T1-T3 checked, far deadlines in
 * the wheel and the rest in the heap (W1-W4 checked after every stop), a
 * wheel pouring into the heap in deadline order, the stage (starts on the
 * timer's own worker that defer their clock read), timers started by
 * coroutines on their workers' heaps, and timers left behind at shutdown.
 */
#define _GNU_SOURCE
#include "kcoro.h"

#include "port/kc_port.h"
#include "sched/kc_sched_impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

static void nop(void *arg)
{
    (void)arg;
}

static void test_timer_start_stop_transitions(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    kc_timer_t t = {0};
    assert_int_equal(kc_timer_start(&t, s, 1000), -EINVAL); /* never initialised */
    kc_timer_init(&t, nop, NULL);
    assert_int_equal(kc_timer_stop(&t), 0);
    assert_int_equal(kc_timer_start(&t, NULL, 1000), -EPERM);
    assert_int_equal(kc_timer_start(&t, s, 10000000000ll), 0);
    assert_true(kc_timer_is_pending(&t));
    assert_int_equal(kc_timer_start(&t, s, 1000), -EBUSY);
    assert_int_equal(kc_timer_stop(&t), 1);
    assert_false(kc_timer_is_pending(&t));
    assert_int_equal(kc_timer_stop(&t), 0);
    assert_int_equal(kc_timer_stop(NULL), -EINVAL);
    assert_int_equal(kc_timer_start(NULL, s, 0), -EINVAL);
    assert_int_equal(kc__timer_check(&s->w[0]), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* ------------------------------------------------------------ order */

struct fire_log {
    int64_t *when;
    long n, want;
    int early;
    kc_parker_t done;
};

struct logged_timer {
    kc_timer_t t;
    struct fire_log *log;
};

static void log_fire(void *arg)
{
    struct logged_timer *lt = arg;
    struct fire_log *l = lt->log;
    if ((int64_t)kc__port_now_ns() < lt->t.when)
        l->early++;
    l->when[l->n++] = lt->t.when; /* one worker: callbacks never overlap */
    if (l->n == l->want)
        kc_unpark(&l->done);
}

static void test_timer_fires_in_deadline_order_never_early(void **state)
{
    (void)state;
    unsigned seed = 4242;
    srand(seed);
    kc_sched_t *s = kc_test_sched(1);
    enum {
        N = 2000
    };
    struct fire_log log = {.want = N};
    log.when = calloc(N, sizeof(int64_t));
    kc_parker_init(&log.done);
    struct logged_timer *lt = calloc(N, sizeof(*lt));
    for (int i = 0; i < N; i++) {
        lt[i].log = &log;
        kc_timer_init(&lt[i].t, log_fire, &lt[i]);
        assert_int_equal(kc_timer_start(&lt[i].t, s, rand() % 3000000), 0);
    }
    while (kc_park(&log.done, KC_NO_TIMEOUT, NULL) != 0) {
    }
    assert_int_equal(log.n, N);
    assert_int_equal(log.early, 0);
    for (int i = 1; i < N; i++)
        if (log.when[i] < log.when[i - 1])
            fail_msg("timer %d fired out of order (seed %u)", i, seed);
    kc_sched_worker_metrics_t wm;
    kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
    kc_sched_metrics(s, &m, &wm, 1);
    assert_int_equal(wm.timer_fires, N);
    assert_int_equal(kc_sched_destroy(s), 0);
    free(lt);
    free(log.when);
}

/* ------------------------------------------------------------ racing starts */

/* Threads start timers while the worker fires earlier ones, so starts wait
 * for the heap lock that a firing pass holds: the one worker must still
 * fire in deadline order (T5). A deadline read before the lock, by a
 * starter that then waited for it, could lie before timers already fired. */
enum {
    RACE_STARTERS = 3
};

struct race_starter {
    kc_sched_t *s;
    struct logged_timer *lt;
    long n;
    unsigned seed;
    int failures;
};

static void *race_start(void *arg)
{
    struct race_starter *st = arg;
    for (long i = 0; i < st->n; i++)
        if (kc_timer_start(&st->lt[i].t, st->s, (int64_t)(rand_r(&st->seed) % 4000)) != 0)
            st->failures++;
    return NULL;
}

static void test_timer_starts_racing_a_firing_pass_keep_deadline_order(void **state)
{
    (void)state;
    long per = kc_test_scaled(40000), n = RACE_STARTERS * per;
    kc_sched_t *s = kc_test_sched(1);
    struct fire_log log = {.want = n};
    log.when = calloc((size_t)n, sizeof(int64_t));
    kc_parker_init(&log.done);
    struct logged_timer *lt = calloc((size_t)n, sizeof(*lt));
    assert_non_null(log.when);
    assert_non_null(lt);
    for (long i = 0; i < n; i++) {
        lt[i].log = &log;
        kc_timer_init(&lt[i].t, log_fire, &lt[i]);
    }
    struct race_starter st[RACE_STARTERS];
    pthread_t th[RACE_STARTERS];
    for (int k = 0; k < RACE_STARTERS; k++) {
        st[k] = (struct race_starter){s, lt + k * per, per, 777u + (unsigned)k, 0};
        assert_int_equal(pthread_create(&th[k], NULL, race_start, &st[k]), 0);
    }
    for (int k = 0; k < RACE_STARTERS; k++) {
        pthread_join(th[k], NULL);
        assert_int_equal(st[k].failures, 0);
    }
    while (kc_park(&log.done, KC_NO_TIMEOUT, NULL) != 0) {
    }
    assert_int_equal(log.n, n);
    assert_int_equal(log.early, 0);
    long inversions = 0;
    for (long i = 1; i < n; i++)
        inversions += log.when[i] < log.when[i - 1];
    if (inversions != 0)
        fail_msg("%ld of %ld timers fired before an earlier deadline (seeds 777..%d)", inversions,
                 n, 777 + RACE_STARTERS - 1);
    assert_int_equal(kc_sched_destroy(s), 0);
    free(lt);
    free(log.when);
}

static void test_timer_million_pending_then_stopped_in_random_order(void **state)
{
    (void)state;
    unsigned seed = 99;
    srand(seed);
    long n = kc_test_scaled(1000000);
    kc_sched_t *s = kc_test_sched(1);
    kc_timer_t *t = malloc((size_t)n * sizeof(*t));
    long *order = malloc((size_t)n * sizeof(*order));
    assert_non_null(t);
    assert_non_null(order);
    for (long i = 0; i < n; i++) {
        kc_timer_init(&t[i], nop, NULL);
        int64_t d = 3600ll * 1000000000 + (int64_t)(rand() % 1000000) * 1000;
        assert_int_equal(kc_timer_start(&t[i], s, d), 0);
        order[i] = i;
    }
    assert_int_equal(kc__timer_check(&s->w[0]), 0);
    for (long i = n - 1; i > 0; i--) { /* Fisher-Yates */
        long j = rand() % (i + 1), x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    long stopped = 0;
    for (long i = 0; i < n; i++) {
        stopped += kc_timer_stop(&t[order[i]]);
        if (i == n / 2)
            assert_int_equal(kc__timer_check(&s->w[0]), 0);
    }
    assert_int_equal(stopped, n);
    assert_int_equal(kc__timer_check(&s->w[0]), 0);
    assert_int_equal(kc__timer_next(&s->w[0]), INT64_MAX);
    assert_int_equal(kc_sched_destroy(s), 0);
    free(order);
    free(t);
}

/* ------------------------------------------------------------ the wheel */

static bool in_wheel(const kc_timer_t *t)
{
    return (t->index & 0x80000000u) != 0;
}

/* Far deadlines earlier than the heap's next parent join the wheel, the
 * farthest ones, saturated ones and those the heap takes without sifting
 * join the heap; stops in any order keep T1-T3 and W1-W4, and the last one leaves
 * no deadline behind. */
static void test_timer_wheel_takes_far_deadlines_heap_the_rest(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    const int64_t sec = 1000000000;
    const int64_t far[] = {5 * sec,    30 * sec,         600 * sec,
                           3600 * sec, 10 * 86400 * sec, 365 * 86400 * sec};
    const int64_t beyond[] = {20 * 365 * 86400 * sec, INT64_MAX};
    enum {
        NF = sizeof(far) / sizeof(far[0]),
        NB = sizeof(beyond) / sizeof(beyond[0]),
        COPIES = 50
    };
    kc_timer_t t[(NF + NB) * COPIES + 1];
    int k = 0;
    /* the heap takes what it can take without sifting: the beyond ones
     * first, so that every far one is earlier than its parent would be */
    for (int c = 0; c < COPIES; c++)
        for (int i = 0; i < NB; i++, k++) {
            kc_timer_init(&t[k], nop, NULL);
            assert_int_equal(kc_timer_start(&t[k], s, beyond[i] - c), 0);
            assert_false(in_wheel(&t[k]));
        }
    int first_far = k;
    for (int c = 0; c < COPIES; c++)
        for (int i = 0; i < NF; i++, k++) {
            kc_timer_init(&t[k], nop, NULL);
            assert_int_equal(kc_timer_start(&t[k], s, far[i] + c * 1000), 0);
            assert_true(in_wheel(&t[k]));
        }
    /* no earlier than the heap's next parent: the heap, without sifting */
    kc_timer_init(&t[k], nop, NULL);
    assert_int_equal(kc_timer_start(&t[k], s, INT64_MAX), 0);
    assert_false(in_wheel(&t[k]));
    assert_int_equal(t[k].index, (NF + NB) * COPIES - NF * COPIES);
    k++;
    assert_int_equal(kc__timer_check(&s->w[0]), 0);
    /* next_when: the 5 s timers' slot bound, not a saturated heap top */
    assert_true(kc__timer_next(&s->w[0]) <= t[first_far].when);
    long stopped = 0;
    for (int i = k - 1; i >= 0; i -= 2) { /* every other one, last first */
        stopped += kc_timer_stop(&t[i]);
        assert_int_equal(kc__timer_check(&s->w[0]), 0);
    }
    for (int i = k % 2; i < k; i += 2) { /* the others, first first */
        stopped += kc_timer_stop(&t[i]);
        assert_int_equal(kc__timer_check(&s->w[0]), 0);
    }
    assert_int_equal(stopped, k);
    assert_int_equal(kc__timer_next(&s->w[0]), INT64_MAX);
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* Deadlines 200-430 ms spread over the wheel's first two levels,
 * a third of them stopped (so slots pour with a stale bound): the rest fire
 * in deadline order, never early, exactly once. The exact counts need the
 * stops done before the first deadline (200 ms): on a host too loaded for
 * that, the attempt is withdrawn (every timer stopped) and made again. */
static bool wheel_pour_attempt(unsigned seed)
{
    srand(seed);
    kc_sched_t *s = kc_test_sched(1);
    enum {
        N = 1500
    };
    struct logged_timer *lt = calloc(N, sizeof(*lt));
    struct fire_log log = {.want = N - (N + 2) / 3};
    log.when = calloc(N, sizeof(int64_t));
    assert_non_null(lt);
    assert_non_null(log.when);
    kc_parker_init(&log.done);
    int wheel = 0;
    int64_t t0 = (int64_t)kc__port_now_ns();
    for (int i = 0; i < N; i++) {
        lt[i].log = &log;
        kc_timer_init(&lt[i].t, log_fire, &lt[i]);
        assert_int_equal(kc_timer_start(&lt[i].t, s, 200000000 + (int64_t)(rand() % 230000) * 1000),
                         0);
        wheel += in_wheel(&lt[i].t);
    }
    assert_true(wheel > N / 2);
    long stopped = 0;
    for (int i = 0; i < N; i += 3)
        stopped += kc_timer_stop(&lt[i].t);
    bool slow = (int64_t)kc__port_now_ns() - t0 >= 150000000;
    if (slow) { /* withdrawn: nothing fires after this, then try again */
        for (int i = 0; i < N; i++)
            kc_timer_stop(&lt[i].t);
    } else {
        assert_int_equal(stopped, (N + 2) / 3); /* the first is 200 ms away */
        assert_int_equal(kc__timer_check(&s->w[0]), 0);
        while (kc_park(&log.done, KC_NO_TIMEOUT, NULL) != 0) {
        }
        assert_int_equal(log.n, log.want);
        assert_int_equal(log.early, 0);
        for (long i = 1; i < log.n; i++)
            if (log.when[i] < log.when[i - 1])
                fail_msg("timer %ld fired out of order (seed %u)", i, seed);
        assert_int_equal(kc__timer_check(&s->w[0]), 0);
        assert_int_equal(kc__timer_next(&s->w[0]), INT64_MAX);
        kc_sched_worker_metrics_t wm;
        kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
        kc_sched_metrics(s, &m, &wm, 1);
        assert_int_equal(wm.timer_fires, log.want);
    }
    assert_int_equal(kc_sched_destroy(s), 0);
    free(lt);
    free(log.when);
    return !slow;
}

static void test_timer_wheel_pours_in_deadline_order(void **state)
{
    (void)state;
    int attempt = 0;
    while (!wheel_pour_attempt(1717) && ++attempt < 20) {
    }
    assert_true(attempt < 20); /* one attempt ran on time and passed */
}

/* ------------------------------------------------------------ the stage */

static bool in_stage(const kc_timer_t *t)
{
    return (t->index & 0xc0000000u) == 0x40000000u;
}

struct staged_timer {
    kc_timer_t t;
    int64_t started, delay; /* clock before the start, and the delay given */
    struct stage_log *log;
};

struct stage_log {
    int64_t *when;
    long n, want;
    int early; /* before its deadline, or before its start plus its delay */
    kc_parker_t done;
};

static void stage_fire(void *arg)
{
    struct staged_timer *st = arg;
    struct stage_log *l = st->log;
    int64_t now = (int64_t)kc__port_now_ns();
    if (now < st->t.when || now < st->started + st->delay)
        l->early++;
    l->when[l->n++] = st->t.when; /* one worker: callbacks never overlap */
    if (l->n == l->want)
        kc_unpark(&l->done);
}

enum {
    STAGE_N = 3 * (KC_TIMER_STAGE + 1) + 5
};

struct stage_run {
    struct staged_timer st[STAGE_N];
    int64_t when[STAGE_N];
    struct stage_log log;
    kc_timer_t near;
    int failures, stopped;
};

static int stage_fail(struct stage_run *r, int line)
{
    if (r->failures++ == 0)
        fprintf(stderr, "stage check failed at line %d\n", line);
    return 0;
}
#define STAGE_CHECK(r, cond) ((cond) ? 1 : stage_fail((r), __LINE__))

static int stage_driver(void *arg)
{
    struct stage_run *r = arg;
    struct kc_worker *w = &((struct kc_sched *)kc_sched_current())->w[0];
    struct kc_theap *h = &w->timers;
    kc_parker_init(&r->log.done); /* parked on by this task */
    for (int i = 0; i < STAGE_N; i++) {
        struct staged_timer *st = &r->st[i];
        st->log = &r->log;
        st->delay = 1000000 + (int64_t)(rand() % 40000) * 1000; /* 1-41 ms */
        kc_timer_init(&st->t, stage_fire, st);
        st->started = (int64_t)kc__port_now_ns();
        STAGE_CHECK(r, kc_timer_start(&st->t, NULL, st->delay) == 0);
        int k = i % (KC_TIMER_STAGE + 1); /* every KC_TIMER_STAGE + 1st start flushes */
        if (k < KC_TIMER_STAGE) {
            /* no clock read: the delay waits in the stage, next_when says look now */
            STAGE_CHECK(r, in_stage(&st->t) && st->t.when == st->delay);
            STAGE_CHECK(r, (int)h->ns == k + 1 && kc__timer_next(w) == 0);
        } else {
            /* the stage was full: one reading placed all of them and this one */
            STAGE_CHECK(r, h->ns == 0 && !in_stage(&st->t) && kc__timer_next(w) > 0);
            for (int j = i - KC_TIMER_STAGE; j <= i; j++)
                STAGE_CHECK(r, !in_stage(&r->st[j].t) &&
                                   r->st[j].t.when >= r->st[j].started + r->st[j].delay &&
                                   r->st[j].t.when <= (int64_t)kc__port_now_ns() + r->st[j].delay);
        }
        STAGE_CHECK(r, kc__timer_check(w) == 0);
    }
    /* the last five are staged: stop two of them, and two placed ones */
    STAGE_CHECK(r, h->ns == 5);
    int stop[] = {STAGE_N - 1, STAGE_N - 4, 0, KC_TIMER_STAGE + 3};
    for (int i = 0; i < 4; i++) {
        r->stopped += kc_timer_stop(&r->st[stop[i]].t);
        STAGE_CHECK(r, kc__timer_check(w) == 0 && !kc_timer_is_pending(&r->st[stop[i]].t));
    }
    STAGE_CHECK(r, h->ns == 3 && in_stage(&r->st[STAGE_N - 2].t) && kc__timer_next(w) == 0);
    /* a delay under KC_TIMER_STAGE_MIN_NS reads the clock at once */
    kc_timer_init(&r->near, nop, NULL);
    STAGE_CHECK(r, kc_timer_start(&r->near, NULL, 999999) == 0 && !in_stage(&r->near));
    STAGE_CHECK(r, kc__timer_next(w) == 0 && kc__timer_check(w) == 0);
    r->stopped += kc_timer_stop(&r->near);
    STAGE_CHECK(r, kc__timer_check(w) == 0);
    /* a park: the worker looks at its timers, the stage empties */
    while (kc_park(&r->log.done, KC_NO_TIMEOUT, NULL) != 0) {
    }
    STAGE_CHECK(r, h->ns == 0 && kc__timer_check(w) == 0 && kc__timer_next(w) == INT64_MAX);
    return 0;
}

/* Starts on the timer's own worker with a delay of 1 ms or more wait in
 * the stage without a clock read; a full stage, or the worker's next look
 * at its timers, places them all at one reading (G1). Every timer fires
 * never early (neither before its deadline nor before its start plus its
 * delay), in deadline order, exactly once; stops of staged and placed
 * timers keep every invariant. */
static void test_timer_stage_defers_the_clock_read_never_early(void **state)
{
    (void)state;
    unsigned seed = 1818;
    srand(seed);
    kc_sched_t *s = kc_test_sched(1);
    struct stage_run *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->log.when = r->when;
    r->log.want = STAGE_N - 4;
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(s, &t, stage_driver, r, NULL), 0);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(r->failures, 0);
    assert_int_equal(r->stopped, 5);
    assert_int_equal(r->log.n, STAGE_N - 4);
    assert_int_equal(r->log.early, 0);
    for (long i = 1; i < r->log.n; i++)
        if (r->when[i] < r->when[i - 1])
            fail_msg("timer %ld fired out of order (seed %u)", i, seed);
    kc_sched_worker_metrics_t wm;
    kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
    kc_sched_metrics(s, &m, &wm, 1);
    assert_int_equal(wm.timer_fires, STAGE_N - 4);
    assert_int_equal(kc_sched_destroy(s), 0);
    free(r);
}

/* ------------------------------------------------------------ callbacks */

struct periodic {
    kc_timer_t t;
    int count, stop_rc, start_rc;
    kc_parker_t done;
};

static void tick(void *arg)
{
    struct periodic *p = arg;
    if (++p->count < 5) {
        p->start_rc |= kc_timer_start(&p->t, NULL, 100000);
        return;
    }
    p->stop_rc = kc_timer_stop(&p->t); /* from inside: no wait */
    kc_unpark(&p->done);
}

static void test_timer_callback_rearms_and_stops_itself(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    struct periodic p = {.stop_rc = 99};
    kc_parker_init(&p.done);
    kc_timer_init(&p.t, tick, &p);
    assert_int_equal(kc_timer_start(&p.t, s, 100000), 0);
    while (kc_park(&p.done, KC_NO_TIMEOUT, NULL) != 0) {
    }
    assert_int_equal(p.count, 5);
    assert_int_equal(p.start_rc, 0);
    assert_int_equal(p.stop_rc, 0);
    assert_int_equal(kc_sched_destroy(s), 0);
    assert_false(kc_timer_is_pending(&p.t));
}

struct slow_cb {
    kc_timer_t t;
    _Atomic int entered, release, exited;
    int stop_rc, exited_seen;
};

static void slow(void *arg)
{
    struct slow_cb *c = arg;
    atomic_store(&c->entered, 1);
    while (!atomic_load(&c->release))
        kc__port_relax();
    atomic_store(&c->exited, 1);
}

static void *stopper(void *arg)
{
    struct slow_cb *c = arg;
    c->stop_rc = kc_timer_stop(&c->t);
    c->exited_seen = atomic_load(&c->exited);
    return NULL;
}

static void test_timer_stop_waits_for_a_running_callback(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    struct slow_cb c = {.stop_rc = 99};
    kc_timer_init(&c.t, slow, &c);
    assert_int_equal(kc_timer_start(&c.t, s, 0), 0);
    while (!atomic_load(&c.entered))
        kc_sched_yield();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stopper, &c), 0);
    for (int i = 0; i < 100; i++) /* give the stopper time to start waiting */
        kc_sched_yield();
    atomic_store(&c.release, 1);
    pthread_join(th, NULL);
    assert_int_equal(c.stop_rc, 0);
    assert_int_equal(c.exited_seen, 1);
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* ------------------------------------------------------------ coroutines */

struct co_timer {
    kc_timer_t t;
    kc_parker_t p;
    int rc, worker;
};

static void wake_owner(void *arg)
{
    struct co_timer *ct = arg;
    kc_unpark(&ct->p);
}

static int timer_in_coroutine(void *arg)
{
    struct co_timer *ct = arg;
    kc_parker_init(&ct->p);
    kc_timer_init(&ct->t, wake_owner, ct);
    ct->worker = kc_sched_worker_index();
    ct->rc = kc_timer_start(&ct->t, NULL, 50000 + ct->worker * 1000);
    if (ct->rc == 0)
        ct->rc = kc_park(&ct->p, KC_NO_TIMEOUT, NULL);
    return 0;
}

static void test_timers_started_by_coroutines_fire_and_wake_them(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    enum {
        N = 500
    };
    struct co_timer *ct = calloc(N, sizeof(*ct));
    for (int i = 0; i < N; i++) {
        ct[i].rc = 99;
        assert_int_equal(kc_sched_spawn(s, NULL, timer_in_coroutine, &ct[i], NULL), 0);
    }
    assert_int_equal(kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(ct[i].rc, 0);
    kc_sched_worker_metrics_t wm[2];
    kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
    kc_sched_metrics(s, &m, wm, 2);
    assert_int_equal(wm[0].timer_fires + wm[1].timer_fires, N);
    assert_int_equal(kc_sched_destroy(s), 0);
    free(ct);
}

static void test_timer_left_pending_at_shutdown_is_dropped(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    kc_timer_t t;
    kc_timer_init(&t, nop, NULL);
    assert_int_equal(kc_timer_start(&t, s, 3600ll * 1000000000), 0);
    assert_int_equal(kc_sched_shutdown(s, KC_SCHED_SHUTDOWN_GRACEFUL), 0);
    kc_timer_t u;
    kc_timer_init(&u, nop, NULL);
    assert_int_equal(kc_timer_start(&u, s, 0), -EPIPE);
    assert_int_equal(kc_sched_destroy(s), 0);
    assert_false(kc_timer_is_pending(&t));
    assert_int_equal(kc_timer_stop(&t), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_start_stop_transitions),
        cmocka_unit_test(test_timer_fires_in_deadline_order_never_early),
        cmocka_unit_test(test_timer_starts_racing_a_firing_pass_keep_deadline_order),
        cmocka_unit_test(test_timer_million_pending_then_stopped_in_random_order),
        cmocka_unit_test(test_timer_wheel_takes_far_deadlines_heap_the_rest),
        cmocka_unit_test(test_timer_wheel_pours_in_deadline_order),
        cmocka_unit_test(test_timer_stage_defers_the_clock_read_never_early),
        cmocka_unit_test(test_timer_callback_rearms_and_stops_itself),
        cmocka_unit_test(test_timer_stop_waits_for_a_running_callback),
        cmocka_unit_test(test_timers_started_by_coroutines_fire_and_wake_them),
        cmocka_unit_test(test_timer_left_pending_at_shutdown_is_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
