/* test_bus_park.c - blocking receive through kc_park: coroutines, cancel.
 *
 * kc_bus_recv parks through the runtime's parker: a coroutine on a scheduler
 * worker parks its task, a plain thread parks on a futex. These tests run
 * receivers both ways, cancel them (token and task cancellation), check
 * that cancellation wins over the deadline, and race timeouts against
 * wake-ups to show that no wake-up outlives a call (invariant 7). Results
 * are recorded inside coroutines and threads and asserted after the join.
 */
#include "bus_test_util.h"
#include "kc_bus_impl.h"
#include "kcoro/sched.h"
#include "port/kc_port.h"

#include <pthread.h>
#include <sched.h>

#define FAIL_NS ((int64_t)30 * 1000000000)

/* Wait (bounded, yielding the CPU) until pred(arg) holds. */
static bool wait_until(bool (*pred)(void *), void *arg)
{
    uint64_t end = kc__port_now_ns() + (uint64_t)FAIL_NS;
    while (!pred(arg)) {
        if (kc__port_now_ns() > end)
            return false;
        sched_yield();
    }
    return true;
}

/* ------------------------------------------------ coroutine receivers */

#define NCO 6

struct lockstep {
    kc_bus_t *bus;
    kc_bus_sub_t *sub[NCO];
    long rounds;
    _Atomic long total;  /* deliveries so far, all receivers */
    _Atomic long target; /* the main thread waits for total == target */
    kc_parker_t main;    /* the main thread's parker */
    long got[NCO], bad[NCO], worker[NCO];
};

struct co_arg {
    struct lockstep *ls;
    int i;
};

static int co_receiver(void *arg)
{
    struct co_arg *a = arg;
    struct lockstep *ls = a->ls;
    uint64_t v[4];
    int rc;

    ls->worker[a->i] = kc_sched_worker_index();
    for (;;) {
        size_t n = 4;
        rc = a->i % 2 ? kc_bus_recv_batch(ls->sub[a->i], v, sizeof(v), &n, NULL, FAIL_NS, NULL)
                      : kc_bus_recv(ls->sub[a->i], v, sizeof(v[0]), NULL, FAIL_NS, NULL);
        if (rc != 0)
            break;
        if (a->i % 2 == 0)
            n = 1;
        for (size_t k = 0; k < n; k++)
            if (v[k] != (uint64_t)ls->got[a->i]++)
                ls->bad[a->i]++;
        if (atomic_fetch_add(&ls->total, (long)n) + (long)n == atomic_load(&ls->target))
            kc_unpark(&ls->main);
    }
    return rc == -EPIPE ? 0 : rc;
}

static void test_bus_coroutine_receivers_park_on_the_scheduler(void **state)
{
    (void)state;
    kc_sched_t *s;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    kc_task_t *t[NCO];
    struct co_arg args[NCO];
    struct lockstep ls = {.rounds = bus_scaled(2000)};
    kc_bus_pub_t *p;
    int status;

    o.nworkers = 2;
    assert_int_equal(kc_sched_create(&s, &o), 0);
    ls.bus = bus_new(sizeof(uint64_t), 64, NCO, &p);
    kc_parker_init(&ls.main);
    for (int i = 0; i < NCO; i++) {
        assert_int_equal(kc_bus_subscribe(ls.bus, &ls.sub[i]), 0);
        args[i] = (struct co_arg){&ls, i};
        assert_int_equal(kc_sched_spawn(s, &t[i], co_receiver, &args[i], NULL), 0);
    }
    /* One message at a time: every receiver drains it and goes back to
     * sleep before the next, so the wake path runs on every round. */
    for (long k = 0; k < ls.rounds; k++) {
        atomic_store(&ls.target, (k + 1) * NCO);
        bus_pub_u64(p, (uint64_t)k);
        while (atomic_load(&ls.total) < (k + 1) * NCO)
            if (kc_park(&ls.main, FAIL_NS, NULL) == -ETIME)
                fail_msg("round %ld: receivers stuck at %ld of %ld", k, atomic_load(&ls.total),
                         (k + 1) * NCO);
    }
    kc_bus_pub_release(p);
    uint64_t parks = 0, notified = 0;
    for (int i = 0; i < NCO; i++) {
        assert_int_equal(kc_sched_join(t[i], &status, FAIL_NS, NULL), 0);
        assert_int_equal(status, 0);
        assert_int_equal(ls.got[i], ls.rounds);
        assert_int_equal(ls.bad[i], 0);
        assert_true(ls.worker[i] >= 0); /* it ran as a scheduler coroutine */
        kc_bus_sub_metrics_t sm = bus_sm(ls.sub[i]);
        assert_int_equal(sm.delivered, (uint64_t)ls.rounds);
        assert_int_equal(sm.lagged, 0);
        assert_true(sm.parks <= sm.notified + 1); /* a park ends with a wake-up */
        parks += sm.parks;
        notified += sm.notified;
        kc_bus_unsubscribe(ls.sub[i]);
    }
    print_message("%d coroutines x %ld rounds: %llu parks, %llu wake-ups\n", NCO, ls.rounds,
                  (unsigned long long)parks, (unsigned long long)notified);
    assert_int_equal(kc_bus_check(ls.bus), 0);
    kc_bus_release(ls.bus);
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* ------------------------------------------------ cancellation */

struct waiter {
    kc_bus_sub_t *sub;
    const kc_cancel_t *cancel;
    int rc;
};

static void *thread_waits(void *arg)
{
    struct waiter *w = arg;
    uint64_t v;
    w->rc = kc_bus_recv(w->sub, &v, sizeof(v), NULL, KC_NO_TIMEOUT, w->cancel);
    return NULL;
}

static int coro_waits(void *arg)
{
    thread_waits(arg);
    return 0;
}

static bool armed(void *arg)
{
    kc_bus_sub_t *s = arg;
    return (atomic_load(&s->bus->want) & s->bit) != 0;
}

static void test_bus_recv_cancel_wakes_a_parked_thread_and_a_coroutine(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 8, 1, &p);
    kc_cancel_t *c;
    struct waiter w = {0};
    pthread_t th;
    uint64_t v = 7;

    assert_int_equal(kc_bus_subscribe(b, &w.sub), 0);
    bus_pub_u64(p, 1); /* joins it */
    assert_int_equal(kc_bus_try_recv(w.sub, &v, sizeof(v), NULL), 0);
    /* A thread. */
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    w.cancel = c;
    assert_int_equal(pthread_create(&th, NULL, thread_waits, &w), 0);
    assert_true(wait_until(armed, w.sub));
    assert_int_equal(kc_cancel_trigger(c), 1);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, -ECANCELED);
    assert_int_equal(kc_bus_check(b), 0); /* disarmed: want is clear */
    assert_int_equal(kc_cancel_destroy(c), 0);
    /* A coroutine, by token and then by task cancellation. */
    kc_sched_t *s;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    kc_task_t *t;
    o.nworkers = 2;
    assert_int_equal(kc_sched_create(&s, &o), 0);
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    w.cancel = c;
    assert_int_equal(kc_sched_spawn(s, &t, coro_waits, &w, NULL), 0);
    assert_true(wait_until(armed, w.sub));
    assert_int_equal(kc_cancel_trigger(c), 1);
    assert_int_equal(kc_sched_join(t, NULL, FAIL_NS, NULL), 0);
    assert_int_equal(w.rc, -ECANCELED);
    assert_int_equal(kc_cancel_destroy(c), 0);
    w.cancel = NULL;
    assert_int_equal(kc_sched_spawn(s, &t, coro_waits, &w, NULL), 0);
    assert_true(wait_until(armed, w.sub));
    assert_int_equal(kc_sched_cancel(t), 0);
    assert_int_equal(kc_sched_join(t, NULL, FAIL_NS, NULL), 0);
    assert_int_equal(w.rc, -ECANCELED);
    assert_int_equal(kc_bus_check(b), 0);
    /* The subscriber still works after three cancelled waits. */
    assert_int_equal(kc_sched_spawn(s, &t, coro_waits, &w, NULL), 0);
    bus_pub_u64(p, 2);
    assert_int_equal(kc_sched_join(t, NULL, FAIL_NS, NULL), 0);
    assert_int_equal(w.rc, 0);
    assert_int_equal(kc_sched_destroy(s), 0);
    assert_int_equal(bus_sm(w.sub).delivered, 2);
    kc_bus_unsubscribe(w.sub);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

static void test_bus_recv_cancel_wins_over_timeout_not_over_a_message(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 8, 1, &p);
    kc_bus_sub_t *s;
    kc_cancel_t *c;
    uint64_t v;

    assert_int_equal(kc_bus_subscribe(b, &s), 0);
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    assert_int_equal(kc_cancel_trigger(c), 1);
    assert_int_equal(kc_bus_recv(s, &v, sizeof(v), NULL, 0, c), -ECANCELED);
    assert_int_equal(kc_bus_recv(s, &v, sizeof(v), NULL, 1000000, c), -ECANCELED);
    assert_int_equal(kc_bus_recv(s, &v, sizeof(v), NULL, KC_NO_TIMEOUT, c), -ECANCELED);
    bus_pub_u64(p, 5);
    assert_int_equal(kc_bus_recv(s, &v, sizeof(v), NULL, KC_NO_TIMEOUT, c), 0); /* data wins */
    assert_int_equal(v, 5);
    kc_bus_pub_release(p);
    assert_int_equal(kc_bus_recv(s, &v, sizeof(v), NULL, KC_NO_TIMEOUT, c), -EPIPE);
    assert_int_equal(bus_sm(s).parks, 0); /* never slept */
    assert_int_equal(kc_cancel_destroy(c), 0);
    kc_bus_unsubscribe(s);
    kc_bus_release(b);
}

/* ------------------------------------------------ timeouts racing wake-ups */

struct racer {
    kc_bus_sub_t *sub;
    long calls, got, etime, other, leftover;
};

static void *racing_receiver(void *arg)
{
    struct racer *r = arg;
    uint64_t v;

    kc_parker_init(&r->sub->parker); /* so the check below is valid from the start */
    for (long i = 0; i < r->calls; i++) {
        int rc = kc_bus_recv(r->sub, &v, sizeof(v), NULL, 2000 + (i % 7) * 1000, NULL);
        if (rc == 0 || rc == KC_BUS_LAGGED)
            r->got++;
        else if (rc == -ETIME)
            r->etime++;
        else
            r->other++;
        /* Invariant 7: no wake-up outlives a call, so the parker this call
         * bound holds no permit now. */
        if (kc_park(&r->sub->parker, 0, NULL) != -ETIME)
            r->leftover++;
    }
    return NULL;
}

static void test_bus_timeouts_racing_wakeups_leave_no_permit_behind(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 8, 1, &p);
    struct racer r = {.calls = bus_scaled(20000)};
    pthread_t th;

    assert_int_equal(kc_bus_subscribe(b, &r.sub), 0);
    bus_pub_u64(p, 0);
    assert_int_equal(pthread_create(&th, NULL, racing_receiver, &r), 0);
    for (uint64_t k = 0; k < (uint64_t)r.calls; k++) {
        bus_pub_u64(p, k);
        if (k % 3 == 0)
            sched_yield(); /* let the receiver time out now and then */
    }
    kc_bus_pub_release(p); /* wakes it if it still waits */
    pthread_join(th, NULL);
    print_message("%ld calls: %ld got, %ld timed out\n", r.calls, r.got, r.etime);
    assert_int_equal(r.leftover, 0);
    assert_int_equal(r.got + r.etime + r.other, r.calls);
    assert_int_equal(kc_bus_check(b), 0);
    kc_bus_unsubscribe(r.sub);
    kc_bus_release(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bus_coroutine_receivers_park_on_the_scheduler),
        cmocka_unit_test(test_bus_recv_cancel_wakes_a_parked_thread_and_a_coroutine),
        cmocka_unit_test(test_bus_recv_cancel_wins_over_timeout_not_over_a_message),
        cmocka_unit_test(test_bus_timeouts_racing_wakeups_leave_no_permit_behind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
