/* test_chan_room.c - the room waiter of a local channel (kc__chan_wait_room, kc_chan_svc.h).
 *
 * A room waiter learns when a send on a full channel would no longer wait,
 * without sending. Checked on a seq-ring channel (capacity 4) and on a
 * locked ring (capacity 3): the return codes (room, try, timeout, the one
 * timeout rule, cancellation, close, the refused kinds, the policies that
 * never wait); one receive wakes a room waiter queued before a real sender
 * and still moves the sender in, or wakes it (R1, R2 of kc_chan_locked.c);
 * a close wakes it with -EPIPE; a withdrawn wait counts only as a
 * cancelled waiter; a coroutine waits as a thread does; and a storm of
 * room waiters and senders against one receiver loses no wake.
 */
#include "chan/kc_chan_svc.h"
#include "kcoro.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kc_test_util.h"

#define MS 1000000LL

static kc_chan_t *make(size_t cap, kc_chan_policy_t policy)
{
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = cap;
    o.policy = policy;
    o.elem_size = sizeof(long);
    kc_chan_t *ch;
    assert_int_equal(kc_chan_create(&ch, &o), 0);
    return ch;
}

static void fill(kc_chan_t *ch, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        long v = (long)i;
        assert_int_equal(kc_chan_try_send(ch, &v), 0);
    }
}

static kc_chan_snapshot_t snap(kc_chan_t *ch)
{
    kc_chan_snapshot_t s = KC_CHAN_SNAPSHOT_INIT;
    assert_int_equal(kc_chan_snapshot(ch, &s), 0);
    return s;
}

static void drain_destroy(kc_chan_t *ch)
{
    long v;
    while (kc_chan_try_recv(ch, &v) == 0)
        ;
    assert_int_equal(kc_chan_destroy(ch), 0);
}

static void test_codes(void **state)
{
    (void)state;
    assert_int_equal(kc__chan_wait_room(NULL, 0, NULL), -EINVAL);
    kc_chan_t *rv;
    assert_int_equal(kc_chan_make(&rv, KC_CHAN_RENDEZVOUS, 0, sizeof(long)), 0);
    assert_int_equal(kc__chan_wait_room(rv, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_destroy(rv), 0);
    size_t caps[2] = {4, 3}; /* a seq ring, a locked ring */
    for (int k = 0; k < 2; k++) {
        kc_chan_t *ch = make(caps[k], KC_CHAN_SUSPEND);
        assert_int_equal(kc__chan_wait_room(ch, KC_NO_TIMEOUT, NULL), 0); /* room: at once */
        fill(ch, caps[k]);
        assert_int_equal(kc__chan_wait_room(ch, 0, NULL), -EAGAIN);
        assert_int_equal(kc__chan_wait_room(ch, -5, NULL), -EAGAIN); /* the one rule */
        assert_int_equal(kc__chan_wait_room(ch, INT64_MIN, NULL), -EAGAIN);
        assert_int_equal(kc__chan_wait_room(ch, 2 * MS, NULL), -ETIME);
        kc_cancel_t *c;
        assert_int_equal(kc_cancel_create(&c, NULL), 0);
        assert_int_equal(kc_cancel_trigger(c), 1);
        assert_int_equal(kc__chan_wait_room(ch, KC_NO_TIMEOUT, c), -ECANCELED);
        assert_int_equal(kc_cancel_destroy(c), 0);
        kc_chan_snapshot_t s = snap(ch);
        /* nothing was sent: the timed-out wait is a withdrawn waiter, no failure */
        assert_int_equal(s.cancelled_waiters, 1);
        assert_int_equal(s.failures_total, 0);
        assert_int_equal(s.send_waiting, 0);
        assert_int_equal(s.sends, caps[k]);
        assert_int_equal(kc_chan_close(ch), 0);
        assert_int_equal(kc__chan_wait_room(ch, KC_NO_TIMEOUT, NULL), -EPIPE);
        drain_destroy(ch);
    }
    /* policies that never wait, and an unlimited channel: always room */
    kc_chan_t *dl = make(2, KC_CHAN_DROP_LATEST);
    fill(dl, 2);
    assert_int_equal(kc__chan_wait_room(dl, KC_NO_TIMEOUT, NULL), 0);
    drain_destroy(dl);
    kc_chan_t *un;
    assert_int_equal(kc_chan_make(&un, KC_CHAN_UNLIMITED, 0, sizeof(long)), 0);
    fill(un, 100);
    assert_int_equal(kc__chan_wait_room(un, KC_NO_TIMEOUT, NULL), 0);
    drain_destroy(un);
}

struct waiter {
    kc_chan_t *ch;
    int64_t timeout;
    kc_cancel_t *cancel;
    long v; /* a sender's element */
    int rc;
    _Atomic int done;
};

static void *room_thread(void *arg)
{
    struct waiter *w = arg;
    w->rc = kc__chan_wait_room(w->ch, w->timeout, w->cancel);
    atomic_store(&w->done, 1);
    return NULL;
}

static void *send_thread(void *arg)
{
    struct waiter *w = arg;
    w->rc = kc_chan_send(w->ch, &w->v, w->timeout, w->cancel);
    atomic_store(&w->done, 1);
    return NULL;
}

/* R1, R2: a room waiter queued before a sender; one receive wakes it and
 * still gives the sender its slot. */
static void test_one_receive_wakes_the_room_waiter_and_the_sender(void **state)
{
    (void)state;
    size_t caps[2] = {4, 3};
    for (int k = 0; k < 2; k++) {
        for (int round = 0; round < 20; round++) {
            kc_chan_t *ch = make(caps[k], KC_CHAN_SUSPEND);
            fill(ch, caps[k]);
            struct waiter r = {.ch = ch, .timeout = KC_NO_TIMEOUT, .rc = 99};
            struct waiter s = {.ch = ch, .timeout = KC_NO_TIMEOUT, .v = 1000, .rc = 99};
            pthread_t tr, ts;
            assert_int_equal(pthread_create(&tr, NULL, room_thread, &r), 0);
            KC_TEST_WAIT_FOR(snap(ch).send_waiting == 1);
            assert_int_equal(pthread_create(&ts, NULL, send_thread, &s), 0);
            KC_TEST_WAIT_FOR(snap(ch).send_waiting == 2);
            assert_int_equal(atomic_load(&r.done), 0);
            long v;
            assert_int_equal(kc_chan_recv(ch, &v, KC_NO_TIMEOUT, NULL), 0);
            assert_int_equal(v, 0);
            pthread_join(tr, NULL);
            pthread_join(ts, NULL);
            assert_int_equal(r.rc, 0);
            assert_int_equal(s.rc, 0);
            /* the sender's element is in, at the tail, and nothing else moved */
            for (size_t i = 1; i < caps[k]; i++) {
                assert_int_equal(kc_chan_try_recv(ch, &v), 0);
                assert_int_equal(v, (long)i);
            }
            assert_int_equal(kc_chan_try_recv(ch, &v), 0);
            assert_int_equal(v, 1000);
            assert_int_equal(kc_chan_try_recv(ch, &v), -EAGAIN);
            kc_chan_snapshot_t sn = snap(ch);
            assert_int_equal(sn.sends, caps[k] + 1);
            assert_int_equal(sn.receives, caps[k] + 1);
            assert_int_equal(sn.send_waiting, 0);
            assert_int_equal(sn.cancelled_waiters, 0);
            assert_int_equal(sn.failures_total, 1); /* the last try_recv's -EAGAIN */
            assert_int_equal(kc_chan_destroy(ch), 0);
        }
    }
}

static void test_close_wakes_a_room_waiter_with_epipe(void **state)
{
    (void)state;
    size_t caps[2] = {4, 3};
    for (int k = 0; k < 2; k++) {
        kc_chan_t *ch = make(caps[k], KC_CHAN_SUSPEND);
        fill(ch, caps[k]);
        struct waiter r = {.ch = ch, .timeout = KC_NO_TIMEOUT, .rc = 99};
        pthread_t tr;
        assert_int_equal(pthread_create(&tr, NULL, room_thread, &r), 0);
        KC_TEST_WAIT_FOR(snap(ch).send_waiting == 1);
        assert_int_equal(kc_chan_close(ch), 0);
        pthread_join(tr, NULL);
        assert_int_equal(r.rc, -EPIPE);
        assert_int_equal(snap(ch).failures_total, 0);
        drain_destroy(ch);
    }
}

/* A cancellation fired while the waiter is queued ends it with -ECANCELED,
 * and a receive after that wakes nobody. */
static void test_cancel_ends_a_queued_room_waiter(void **state)
{
    (void)state;
    kc_chan_t *ch = make(4, KC_CHAN_SUSPEND);
    fill(ch, 4);
    kc_cancel_t *c;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    struct waiter r = {.ch = ch, .timeout = KC_NO_TIMEOUT, .cancel = c, .rc = 99};
    pthread_t tr;
    assert_int_equal(pthread_create(&tr, NULL, room_thread, &r), 0);
    KC_TEST_WAIT_FOR(snap(ch).send_waiting == 1);
    assert_int_equal(kc_cancel_trigger(c), 1);
    pthread_join(tr, NULL);
    assert_int_equal(r.rc, -ECANCELED);
    kc_chan_snapshot_t s = snap(ch);
    assert_int_equal(s.send_waiting, 0);
    assert_int_equal(s.cancelled_waiters, 1);
    assert_int_equal(kc_cancel_destroy(c), 0);
    drain_destroy(ch);
}

struct coro_room {
    kc_chan_t *ch;
    int rc;
};

static int room_task(void *arg)
{
    struct coro_room *cr = arg;
    cr->rc = kc__chan_wait_room(cr->ch, KC_NO_TIMEOUT, NULL);
    long v = 7;
    return cr->rc != 0 ? cr->rc : kc_chan_send(cr->ch, &v, KC_NO_TIMEOUT, NULL);
}

static int drain_task(void *arg)
{
    struct coro_room *cr = arg;
    while (snap(cr->ch).send_waiting == 0)
        kc_sched_yield();
    long v;
    return kc_chan_recv(cr->ch, &v, KC_NO_TIMEOUT, NULL);
}

/* A coroutine waits for room as a thread does (its task's own parker). */
static void test_a_coroutine_waits_for_room(void **state)
{
    (void)state;
    size_t caps[2] = {4, 3};
    for (int k = 0; k < 2; k++) {
        kc_chan_t *ch = make(caps[k], KC_CHAN_SUSPEND);
        fill(ch, caps[k]);
        kc_sched_t *s;
        kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
        so.nworkers = 1;
        assert_int_equal(kc_sched_create(&s, &so), 0);
        struct coro_room cr = {ch, 99};
        kc_task_t *a, *b;
        assert_int_equal(kc_sched_spawn(s, &a, room_task, &cr, NULL), 0);
        assert_int_equal(kc_sched_spawn(s, &b, drain_task, &cr, NULL), 0);
        int ra = 1, rb = 1;
        assert_int_equal(kc_sched_join(a, &ra, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(kc_sched_join(b, &rb, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(cr.rc, 0);
        assert_int_equal(ra, 0);
        assert_int_equal(rb, 0);
        assert_int_equal(kc_chan_len(ch), caps[k]);
        assert_int_equal(kc_sched_destroy(s), 0);
        drain_destroy(ch);
    }
}

/* Room waiters and senders against one receiver: every receive that frees
 * a slot wakes every room waiter queued and one sender, so no sender
 * waits forever and every room waiter returns 0. */
enum {
    STORM_ROOMS = 4,
    STORM_SENDERS = 4,
    STORM_PER = 2000
};

struct storm {
    kc_chan_t *ch;
    _Atomic long rooms_seen;
    _Atomic int senders_left;
};

static void *storm_room(void *arg)
{
    struct storm *st = arg;
    while (atomic_load(&st->senders_left) > 0) {
        int rc = kc__chan_wait_room(st->ch, 50 * MS, NULL);
        assert_true(rc == 0 || rc == -ETIME);
        if (rc == 0)
            atomic_fetch_add(&st->rooms_seen, 1);
    }
    return NULL;
}

static void *storm_send(void *arg)
{
    struct storm *st = arg;
    for (long i = 0; i < STORM_PER; i++)
        assert_int_equal(kc_chan_send(st->ch, &i, KC_NO_TIMEOUT, NULL), 0);
    atomic_fetch_sub(&st->senders_left, 1);
    return NULL;
}

static void test_storm_loses_no_wake(void **state)
{
    (void)state;
    size_t caps[2] = {4, 3};
    for (int k = 0; k < 2; k++) {
        struct storm st = {.ch = make(caps[k], KC_CHAN_SUSPEND), .senders_left = STORM_SENDERS};
        pthread_t tr[STORM_ROOMS], ts[STORM_SENDERS];
        for (int i = 0; i < STORM_ROOMS; i++)
            assert_int_equal(pthread_create(&tr[i], NULL, storm_room, &st), 0);
        for (int i = 0; i < STORM_SENDERS; i++)
            assert_int_equal(pthread_create(&ts[i], NULL, storm_send, &st), 0);
        long sum = 0, v;
        for (long n = 0; n < (long)STORM_SENDERS * STORM_PER; n++) {
            assert_int_equal(kc_chan_recv(st.ch, &v, KC_NO_TIMEOUT, NULL), 0);
            sum += v;
        }
        for (int i = 0; i < STORM_SENDERS; i++)
            pthread_join(ts[i], NULL);
        for (int i = 0; i < STORM_ROOMS; i++)
            pthread_join(tr[i], NULL);
        assert_int_equal(sum, (long)STORM_SENDERS * STORM_PER * (STORM_PER - 1) / 2);
        kc_chan_snapshot_t s = snap(st.ch);
        assert_int_equal(s.sends, (uint64_t)STORM_SENDERS * STORM_PER);
        assert_int_equal(s.send_waiting, 0);
        assert_int_equal(s.failures_total, 0);
        assert_true(atomic_load(&st.rooms_seen) > 0);
        assert_int_equal(kc_chan_destroy(st.ch), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_one_receive_wakes_the_room_waiter_and_the_sender),
        cmocka_unit_test(test_close_wakes_a_room_waiter_with_epipe),
        cmocka_unit_test(test_cancel_ends_a_queued_room_waiter),
        cmocka_unit_test(test_a_coroutine_waits_for_room),
        cmocka_unit_test(test_storm_loses_no_wake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
