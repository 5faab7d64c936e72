/* test_storm.c - exactly-once delivery through rendezvous cells under load.
 *
 * Runs the storm of kc_storm.h: a million values through one-shot cells on
 * four threads with random timeouts and a third-party canceller, then the
 * other payload kinds, more threads, and no cancellation at all. Every run
 * checks exact accounting (kc_storm_check); a failure prints the seed to
 * replay it with the explorer (`waiter_token storm --seed N`).
 * KCORO_TEST_FULL=1 adds a ten-million-value soak on eight threads.
 */
#include "kc_rv_cell.h"

#include <stdio.h>
#include <stdlib.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_storm.h"

static void storm(int threads, long ops, kc_payload_type_t payload, unsigned timeout_pct,
                  bool canceller, uint64_t seed)
{
    struct kc_storm_opts o = {threads, kc_lab_scaled(ops), seed, payload, timeout_pct, canceller};
    struct kc_storm_result r;
    int rc = kc_storm_run(&o, &r);
    kc_storm_print(stdout, &o, &r, false);
    if (rc != 0)
        fail_msg("storm failed (seed %llu, %d threads, %ld values, %s): %s (%d)",
                 (unsigned long long)seed, threads, o.ops, kc__payload_type_name(payload),
                 r.failure, rc);
    assert_int_equal(r.delivered + r.send_cancelled, o.ops);
    if (timeout_pct == 0 && !canceller)
        assert_int_equal(r.delivered, o.ops); /* nothing may be lost */
}

static void test_storm_million_descriptors_delivered_exactly_once(void **state)
{
    (void)state;
    storm(4, 1000000, KC_PAYLOAD_DESC, 2, true, 0x5eed0001);
}

static void test_storm_bytes_delivered_exactly_once(void **state)
{
    (void)state;
    storm(4, 200000, KC_PAYLOAD_BYTES, 5, true, 0x5eed0002);
}

static void test_storm_pointers_on_eight_threads_delivered_exactly_once(void **state)
{
    (void)state;
    storm(8, 200000, KC_PAYLOAD_PTR, 5, true, 0x5eed0003);
}

static void test_storm_without_cancellation_loses_nothing(void **state)
{
    (void)state;
    storm(4, 200000, KC_PAYLOAD_DESC, 0, false, 0x5eed0004);
}

static void test_storm_where_most_waits_time_out_still_balances(void **state)
{
    (void)state;
    storm(4, 100000, KC_PAYLOAD_PTR, 60, false, 0x5eed0005);
}

static void test_storm_full_soak(void **state)
{
    (void)state;
    if (getenv("KCORO_TEST_FULL") == NULL) {
        printf("[ SKIPPED  ] set KCORO_TEST_FULL=1 for the ten-million-value soak\n");
        return;
    }
    storm(8, 10000000, KC_PAYLOAD_DESC, 3, true, 0x5eed0006);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_storm_million_descriptors_delivered_exactly_once),
        cmocka_unit_test(test_storm_bytes_delivered_exactly_once),
        cmocka_unit_test(test_storm_pointers_on_eight_threads_delivered_exactly_once),
        cmocka_unit_test(test_storm_without_cancellation_loses_nothing),
        cmocka_unit_test(test_storm_where_most_waits_time_out_still_balances),
        cmocka_unit_test(test_storm_full_soak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
