/* test_chan_timer.c - kc_chan_ticker and kc_chan_after.
 *
 * A ticker ticks once per period with increasing times, never early; a
 * ticker nobody reads holds one tick and drops the rest (Go's behaviour),
 * counted as drops; kc_chan_after ticks once; a select over a ticker and a
 * data channel sees both; stop and destroy end the ticks for good.
 */
#include "kcoro.h"

#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

#define MS ((int64_t)1000 * 1000)

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void nap(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    nanosleep(&ts, NULL);
}

static void test_ticker_ticks_once_per_period_never_early(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    kc_chan_t *tk = NULL;
    int64_t t0 = now_ns();
    assert_int_equal(kc_chan_ticker(&tk, s, 10 * MS), 0);
    assert_int_equal(kc_chan_elem_size(tk), sizeof(int64_t));
    int64_t prev = t0;
    for (int i = 1; i <= 5; i++) {
        int64_t at = 0;
        assert_int_equal(kc_chan_recv(tk, &at, 2000 * MS, NULL), 0);
        assert_true(at > prev);
        assert_true(at - t0 >= i * 10 * MS); /* never early: the i-th period has passed */
        prev = at;
    }
    assert_int_equal(kc_chan_destroy(tk), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_unread_ticker_holds_one_tick_and_drops_the_rest(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    kc_chan_t *tk = NULL;
    assert_int_equal(kc_chan_ticker(&tk, s, 2 * MS), 0);
    nap(60 * MS);
    /* a loaded host may not have run the worker yet: wait, bounded, for
     * the second tick (the first one dropped) */
    kc_chan_snapshot_t seen = KC_CHAN_SNAPSHOT_INIT;
    for (int i = 0; i < 500; i++) {
        assert_int_equal(kc_chan_snapshot(tk, &seen), 0);
        if (seen.sends >= 2)
            break;
        nap(10 * MS);
    }
    assert_true(seen.sends >= 2);
    assert_int_equal(kc_chan_len(tk), 1);
    assert_int_equal(kc_chan_timer_stop(tk), 0);
    kc_chan_snapshot_t sn = KC_CHAN_SNAPSHOT_INIT;
    assert_int_equal(kc_chan_snapshot(tk, &sn), 0);
    assert_true(sn.drops_latest >= 1); /* ~30 ticks due, one kept (fewer on a busy machine) */
    assert_int_equal(sn.sends, sn.drops_latest + 1);
    int64_t at = 0;
    assert_int_equal(kc_chan_try_recv(tk, &at), 0); /* the one kept */
    nap(10 * MS);
    assert_int_equal(kc_chan_try_recv(tk, &at), -EAGAIN); /* stopped: nothing new */
    assert_int_equal(kc_chan_timer_stop(tk), 0);          /* twice is fine */
    assert_int_equal(kc_chan_destroy(tk), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_after_ticks_once(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    kc_chan_t *af = NULL;
    int64_t t0 = now_ns();
    assert_int_equal(kc_chan_after(&af, s, 20 * MS), 0);
    int64_t at = 0;
    assert_int_equal(kc_chan_recv(af, &at, 2000 * MS, NULL), 0);
    assert_true(at - t0 >= 20 * MS);
    assert_true(now_ns() - t0 >= 20 * MS);
    assert_int_equal(kc_chan_recv(af, &at, 30 * MS, NULL), -ETIME);
    assert_false(kc_chan_is_closed(af));
    assert_int_equal(kc_chan_destroy(af), 0);
    assert_int_equal(kc_chan_after(&af, s, 0), 0); /* at once */
    assert_int_equal(kc_chan_recv(af, &at, 2000 * MS, NULL), 0);
    assert_int_equal(kc_chan_destroy(af), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

struct sel {
    kc_chan_t *data, *tick;
    int got, ticks;
};

static int slow_source(void *arg)
{
    struct sel *x = arg;
    for (int i = 0; i < 4; i++) {
        kc_sched_sleep(15 * MS, NULL);
        if (kc_chan_send(x->data, &i, KC_NO_TIMEOUT, NULL) != 0)
            return -1;
    }
    return kc_chan_close(x->data);
}

static int consumer(void *arg)
{
    struct sel *x = arg;
    int v = 0;
    int64_t at = 0;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(x->data, &v),
                              KC_CHAN_CLAUSE_RECV_INIT(x->tick, &at)};
    for (;;) {
        int i = kc_chan_select(cl, 2, KC_CHAN_SELECT_UNBIASED, 5000 * MS, NULL);
        if (i < 0)
            return i;
        if (i == 1) {
            x->ticks++;
            continue;
        }
        if (cl[0].result == -EPIPE)
            return 0;
        if (v != x->got++)
            return -2;
    }
}

static void test_select_over_a_ticker_and_a_data_channel(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    struct sel x = {0};
    assert_int_equal(kc_chan_make(&x.data, KC_CHAN_RENDEZVOUS, 0, sizeof(int)), 0);
    assert_int_equal(kc_chan_ticker(&x.tick, s, 5 * MS), 0);
    kc_task_t *t = NULL;
    assert_int_equal(kc_sched_spawn(s, NULL, slow_source, &x, NULL), 0);
    assert_int_equal(kc_sched_spawn(s, &t, consumer, &x, NULL), 0);
    int st = -1;
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, 0);
    assert_int_equal(x.got, 4);
    assert_true(x.ticks >= 1); /* 60 ms of 5 ms ticks; a loaded machine fires fewer */
    assert_int_equal(kc_chan_destroy(x.tick), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
    assert_int_equal(kc_chan_destroy(x.data), 0);
}

static void test_timer_channel_errors_and_destroy_while_ticking(void **state)
{
    (void)state;
    kc_chan_t *ch = (kc_chan_t *)&ch;
    assert_int_equal(kc_chan_ticker(&ch, NULL, 10 * MS), -EPERM); /* no scheduler here */
    assert_null(ch);
    kc_sched_t *s = kc_test_sched(2);
    assert_int_equal(kc_chan_ticker(NULL, s, 10 * MS), -EINVAL);
    assert_int_equal(kc_chan_ticker(&ch, s, 0), -EINVAL);
    assert_int_equal(kc_chan_ticker(&ch, s, -5), -EINVAL);
    assert_int_equal(kc_chan_after(&ch, s, -1), -EINVAL);
    assert_int_equal(kc_chan_after(NULL, s, 1), -EINVAL);
    assert_int_equal(kc_chan_timer_stop(NULL), -EINVAL);
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_BUFFERED, 1, 8), 0);
    assert_int_equal(kc_chan_timer_stop(ch), -EINVAL); /* not a timer channel */
    assert_int_equal(kc_chan_destroy(ch), 0);
    for (int i = 0; i < 50; i++) { /* destroy races with ticks being sent */
        assert_int_equal(kc_chan_ticker(&ch, s, 100000), 0);
        nap((i % 5) * 100000);
        assert_int_equal(kc_chan_destroy(ch), 0);
    }
    assert_int_equal(kc_sched_destroy(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ticker_ticks_once_per_period_never_early),
        cmocka_unit_test(test_unread_ticker_holds_one_tick_and_drops_the_rest),
        cmocka_unit_test(test_after_ticks_once),
        cmocka_unit_test(test_select_over_a_ticker_and_a_data_channel),
        cmocka_unit_test(test_timer_channel_errors_and_destroy_while_ticking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
