/* test_owners.c - one token, two kinds of owner: a coroutine and a thread.
 *
 * The token reaches its owner only through wake/park, so the same cell
 * code serves a coroutine (parked by yielding to a one-thread loop) and a
 * thread (parked on a condition variable). Coroutines only record what they
 * see; the assertions run after the loop returns, on the test's own stack.
 */
#include "kc_rv_cell.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_lab_test.h"

/* ------------------------------------------------------------ owners */

struct coro_rv {
    kc_rv_cell_t cell;
    struct kc_coro_owner *owner[2]; /* receiver, sender */
    uint64_t value;
    int64_t timeout; /* the receiver's */
    int recv_rc, send_rc;
    void *got;
};

static int coro_receiver(void *arg)
{
    struct coro_rv *x = arg;
    kc_waiter_t w;
    kc_waiter_scope_t sc;
    kc__waiter_init(&w, KC_WAITER_RECEIVER, x->owner[0], kc_coro_owner_ops());
    kc__waiter_want(&w, KC_PAYLOAD_PTR);
    kc__waiter_scope_begin(&sc, &w);
    kc__rv_cell_offer(&x->cell, &w, NULL);
    x->recv_rc = kc__waiter_scope_wait(&sc, x->timeout);
    kc__waiter_take_ptr(&w, &x->got);
    kc__waiter_scope_end(&sc, 0);
    return 0;
}

static int coro_sender(void *arg)
{
    struct coro_rv *x = arg;
    kc_waiter_t w;
    kc_waiter_scope_t sc;
    kc__waiter_init(&w, KC_WAITER_SENDER, x->owner[1], kc_coro_owner_ops());
    kc__waiter_put_ptr(&w, &x->value);
    kc__waiter_scope_begin(&sc, &w);
    kc__rv_cell_offer(&x->cell, &w, NULL);
    x->send_rc = kc__waiter_scope_end(&sc, KC_NO_TIMEOUT);
    return 0;
}

static void test_waiter_coroutine_owner_parks_until_the_sender_wakes_it(void **state)
{
    (void)state;
    struct coro_rv x = {.value = 77, .timeout = KC_NO_TIMEOUT, .recv_rc = 1, .send_rc = 1};
    kc__rv_cell_init(&x.cell);
    struct kc_coro_loop loop = {.n = 0};
    assert_non_null(x.owner[0] = kc_coro_loop_add(&loop, coro_receiver, &x));
    assert_non_null(x.owner[1] = kc_coro_loop_add(&loop, coro_sender, &x));
    assert_int_equal(kc_coro_loop_run(&loop), 0);
    assert_int_equal(x.recv_rc, 0);
    assert_int_equal(x.send_rc, 0);
    assert_ptr_equal(x.got, &x.value);
    assert_int_equal(x.owner[0]->parks, 1);
    assert_int_equal(x.owner[0]->wakes, 1);
    assert_int_equal(x.owner[0]->permits, 0);
    assert_int_equal(x.owner[0]->double_wakes, 0);
    assert_int_equal(x.owner[1]->parks, 0); /* the sender arrived second */
    assert_int_equal(kc__rv_cell_state(&x.cell), KC_RV_MATCHED);
}

static void test_waiter_coroutine_owner_times_out_when_nobody_comes(void **state)
{
    (void)state;
    struct coro_rv x = {.timeout = 5000000, .recv_rc = 1};
    kc__rv_cell_init(&x.cell);
    struct kc_coro_loop loop = {.n = 0};
    assert_non_null(x.owner[0] = kc_coro_loop_add(&loop, coro_receiver, &x));
    assert_int_equal(kc_coro_loop_run(&loop), 0);
    assert_int_equal(x.recv_rc, -ETIME);
    assert_null(x.got);
    assert_int_equal(kc__rv_cell_state(&x.cell), KC_RV_CANCELLED);
    assert_int_equal(x.owner[0]->wakes, 0);
}

struct thread_rv {
    kc_rv_cell_t cell;
    struct kc_lab_parker pk;
    void *got;
    int rc;
};

static void *thread_receiver(void *arg)
{
    struct thread_rv *x = arg;
    kc_waiter_t w;
    kc_waiter_scope_t sc;
    kc__waiter_init(&w, KC_WAITER_RECEIVER, &x->pk, kc_lab_parker_ops());
    kc__waiter_want(&w, KC_PAYLOAD_PTR);
    kc__waiter_scope_begin(&sc, &w);
    kc__rv_cell_offer(&x->cell, &w, NULL);
    x->rc = kc__waiter_scope_wait(&sc, KC_NO_TIMEOUT);
    kc__waiter_take_ptr(&w, &x->got);
    kc__waiter_scope_end(&sc, 0);
    return NULL;
}

static void test_waiter_thread_owner_is_woken_by_another_thread(void **state)
{
    (void)state;
    struct thread_rv x = {.rc = 1};
    kc__rv_cell_init(&x.cell);
    assert_int_equal(kc_lab_parker_init(&x.pk), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_receiver, &x), 0);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (kc__rv_cell_state(&x.cell) != KC_RV_RECEIVER_READY) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > 30)
            fail_msg("the receiver never published (30 s)");
        sched_yield();
    }
    struct side s;
    sender_ptr(&s, 99);
    assert_int_equal(kc__rv_cell_offer(&x.cell, &s.w, NULL), KC_RV_DONE);
    pthread_join(t, NULL);
    assert_int_equal(x.rc, 0);
    assert_ptr_equal(x.got, &s.value);
    assert_int_equal(atomic_load(&x.pk.wakes), 1);
    assert_false(kc_lab_parker_pending(&x.pk));
    kc__waiter_scope_end(&s.sc, 0);
    side_done(&s);
    kc_lab_parker_destroy(&x.pk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waiter_coroutine_owner_parks_until_the_sender_wakes_it),
        cmocka_unit_test(test_waiter_coroutine_owner_times_out_when_nobody_comes),
        cmocka_unit_test(test_waiter_thread_owner_is_woken_by_another_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
