/* test_bus_batch.c - batch receive: runs, wraps, masks, lag, arguments.
 *
 * kc_bus_try_recv_batch takes the run up to the tail in one call, reads
 * slot words only when a masked message may be in the run, and validates
 * the run once. These tests pin what it returns and counts, single-threaded
 * (the threaded torture in test_bus_threads.c runs it under overwrite).
 */
#include "bus_test_util.h"
#include "kc_bus_impl.h"

static void test_bus_batch_recv_takes_runs_in_order_across_the_wrap(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 8, 1, &p);
    kc_bus_sub_t *s;
    uint64_t v[16];
    size_t n;

    assert_int_equal(kc_bus_subscribe(b, &s), 0);
    for (uint64_t k = 0; k < 5; k++)
        bus_pub_u64(p, k);
    n = 3;
    assert_int_equal(kc_bus_try_recv_batch(s, v, sizeof(v), &n, NULL), 0);
    assert_int_equal(n, 3);
    for (uint64_t k = 0; k < 3; k++)
        assert_int_equal(v[k], k);
    for (uint64_t k = 5; k < 11; k++) /* 8 unread: the ring is full, no lag */
        bus_pub_u64(p, k);
    n = 16;
    assert_int_equal(kc_bus_try_recv_batch(s, v, sizeof(v), &n, NULL), 0);
    assert_int_equal(n, 8); /* up to the tail, across the wrap */
    for (uint64_t k = 0; k < 8; k++)
        assert_int_equal(v[k], 3 + k);
    n = 16;
    assert_int_equal(kc_bus_try_recv_batch(s, v, sizeof(v), &n, NULL), -EAGAIN);
    assert_int_equal(n, 0);
    kc_bus_sub_metrics_t sm = bus_sm(s);
    assert_int_equal(sm.delivered, 11);
    assert_int_equal(sm.lagged + sm.filtered, 0);
    kc_bus_unsubscribe(s);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

static void test_bus_batch_recv_skips_non_members_and_counts_them(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 64, 2, &p);
    kc_bus_sub_t *a, *c;
    uint64_t v[64];
    size_t n;

    assert_int_equal(kc_bus_subscribe_with_mask(b, 0x1, &a), 0);
    assert_int_equal(kc_bus_subscribe_with_mask(b, 0x2, &c), 0);
    /* 0..29: even to topic 1, odd to topic 2, every fifth to both. */
    for (uint64_t k = 0; k < 30; k++) {
        uint64_t t = k % 5 == 0 ? KC_BUS_MASK_ALL : (k % 2 == 0 ? 0x1 : 0x2);
        assert_true(kc_bus_publish_with_mask(p, t, &k, sizeof(k)) >= 1);
    }
    n = 64;
    assert_int_equal(kc_bus_try_recv_batch(a, v, sizeof(v), &n, NULL), 0);
    uint64_t want = 0;
    for (uint64_t k = 0; k < 30; k++)
        if (k % 5 == 0 || k % 2 == 0)
            assert_int_equal(v[want++], k);
    assert_int_equal(n, want);
    kc_bus_sub_metrics_t sm = bus_sm(a);
    assert_int_equal(sm.delivered, want);
    assert_int_equal(sm.filtered, 30 - want);
    /* Single receives agree with the batch on the other subscriber. */
    uint64_t got = 0, x;
    while (kc_bus_try_recv(c, &x, sizeof(x), NULL) == 0) {
        assert_true(x % 5 == 0 || x % 2 == 1);
        got++;
    }
    assert_int_equal(got + bus_sm(c).filtered, 30);
    /* A run made only of non-members is read past: -EAGAIN, all counted. */
    for (uint64_t k = 0; k < 4; k++)
        assert_int_equal(kc_bus_publish_with_mask(p, 0x2, &k, sizeof(k)), 1);
    n = 64;
    assert_int_equal(kc_bus_try_recv_batch(a, v, sizeof(v), &n, NULL), -EAGAIN);
    assert_int_equal(bus_sm(a).filtered, 30 - want + 4);
    assert_int_equal(kc_bus_check(b), 0);
    kc_bus_unsubscribe(a);
    kc_bus_unsubscribe(c);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

static void test_bus_batch_recv_reports_lag_then_resumes_at_oldest(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 8, 1, &p);
    kc_bus_sub_t *s;
    uint64_t v[8], missed = 0;
    size_t n;

    assert_int_equal(kc_bus_subscribe(b, &s), 0);
    for (uint64_t k = 0; k < 20; k++)
        bus_pub_u64(p, k);
    n = 8;
    assert_int_equal(kc_bus_try_recv_batch(s, v, sizeof(v), &n, &missed), KC_BUS_LAGGED);
    assert_int_equal(n, 0);
    assert_int_equal(missed, 12); /* 0..11 overwritten; 12..19 live */
    n = 8;
    assert_int_equal(kc_bus_try_recv_batch(s, v, sizeof(v), &n, &missed), 0);
    assert_int_equal(n, 8);
    for (uint64_t k = 0; k < 8; k++)
        assert_int_equal(v[k], 12 + k);
    kc_bus_sub_metrics_t sm = bus_sm(s);
    assert_int_equal(sm.delivered + sm.lagged, bus_m(b).published);
    kc_bus_unsubscribe(s);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

static void test_bus_batch_recv_checks_arguments_and_drains_before_epipe(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(2 * sizeof(uint64_t), 8, 1, &p);
    kc_bus_sub_t *s;
    uint64_t v[8];
    size_t n = 0;

    assert_int_equal(kc_bus_subscribe(b, &s), 0);
    assert_int_equal(kc_bus_try_recv_batch(s, v, sizeof(v), NULL, NULL), -EINVAL);
    assert_int_equal(kc_bus_try_recv_batch(s, v, sizeof(v), &n, NULL), -EINVAL);
    n = 1;
    assert_int_equal(kc_bus_try_recv_batch(NULL, v, sizeof(v), &n, NULL), -EINVAL);
    n = 5; /* 5 messages of 16 bytes do not fit in 64 */
    assert_int_equal(kc_bus_try_recv_batch(s, v, sizeof(v), &n, NULL), -EMSGSIZE);
    n = 4;
    assert_int_equal(kc_bus_try_recv_batch(s, v, sizeof(v), &n, NULL), -EAGAIN); /* not joined */
    for (uint64_t k = 0; k < 3; k++) {
        uint64_t m[2] = {k, ~k};
        assert_int_equal(kc_bus_publish(p, m, sizeof(m)), 1);
    }
    kc_bus_pub_release(p); /* closed: the three are still there */
    n = 4;
    assert_int_equal(kc_bus_recv_batch(s, v, sizeof(v), &n, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(n, 3);
    for (uint64_t k = 0; k < 3; k++) {
        assert_int_equal(v[2 * k], k);
        assert_int_equal(v[2 * k + 1], ~k);
    }
    n = 4;
    assert_int_equal(kc_bus_recv_batch(s, v, sizeof(v), &n, NULL, KC_NO_TIMEOUT, NULL), -EPIPE);
    assert_int_equal(n, 0);
    kc_bus_unsubscribe(s);
    kc_bus_release(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bus_batch_recv_takes_runs_in_order_across_the_wrap),
        cmocka_unit_test(test_bus_batch_recv_skips_non_members_and_counts_them),
        cmocka_unit_test(test_bus_batch_recv_reports_lag_then_resumes_at_oldest),
        cmocka_unit_test(test_bus_batch_recv_checks_arguments_and_drains_before_epipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
