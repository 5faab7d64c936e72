/* test_arena_fault.c - fault injection: every Nth allocation fails.
 *
 * Built with -DKC_FAULT_INJECT=1 (FLAVOR=fault), kc_arena_alloc() and the
 * creation of a thread cache fail every KC_FAULT_EVERY-th time (this test
 * sets 7 unless the environment gives another N). The tests check that each
 * injected failure is an -ENOMEM that is counted and changes nothing, that
 * nothing leaks (zero live tickets, zero pages used after the flush) and
 * that the invariants hold, single-threaded and with 4 threads. In other
 * builds the knob does not exist: the same runs must see no failure at all.
 */
#include "kc_arena_impl.h"
#include "kc_arena_test.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#if defined(KC_FAULT_INJECT) && KC_FAULT_INJECT
#define FAULTS 1
#else
#define FAULTS 0
#endif

static long every(void)
{
    const char *s = getenv("KC_FAULT_EVERY");
    return s != NULL ? atol(s) : 0;
}

static int setup(void **state)
{
    (void)state;
    if (getenv("KC_FAULT_EVERY") == NULL)
        setenv("KC_FAULT_EVERY", "7", 1);
    return 0;
}

static void test_arena_injected_failures_are_counted_and_harmless(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(64 << 20, 4096, 0);
    enum {
        N = 5000
    };
    static kc_arena_ticket_t t[N];
    int live = 0;
    long failed = 0;
    for (int i = 0; i < N; i++) {
        int rc = kc_arena_alloc(a, 16 + (size_t)(i % 50) * 97, &t[live], NULL);
        if (rc == 0)
            live++;
        else if (rc == -ENOMEM)
            failed++;
        else
            fail_msg("alloc %d: unexpected %d", i, rc);
    }
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.failed_allocs, (uint64_t)failed);
    assert_int_equal(m.live_tickets, (uint64_t)live);
    assert_int_equal(live + failed, N);
    if (FAULTS && every() > 0) {
        /* The counter also ticks once when this thread's cache is made. */
        assert_true(failed >= N / every() - 1 && failed <= N / every() + 1);
    } else {
        assert_int_equal(failed, 0);
    }
    assert_int_equal(kc_arena_check(a), 0);
    for (int i = 0; i < live; i++)
        assert_int_equal(kc_arena_release(a, t[i]), 1);
    kc_arena_flush(a);
    m = kc_at_metrics(a);
    assert_int_equal(m.live_tickets, 0);
    assert_int_equal(m.pages_used, 0);
    assert_int_equal(kc_arena_check(a), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

struct churn {
    kc_arena_t *a;
    long ops;
    uint64_t seed;
    long ok, failed, bad;
};

static void *churn_main(void *arg)
{
    struct churn *c = arg;
    kc_arena_ticket_t held[32];
    int n = 0;
    for (long i = 0; i < c->ops; i++) {
        uint64_t r = kc_at_rand(&c->seed);
        if (n == 32 || (n > 0 && (r & 1))) {
            c->bad += kc_arena_release(c->a, held[--n]) != 1;
            continue;
        }
        int rc = kc_arena_alloc(c->a, 1 + (r >> 8) % 20000, &held[n], NULL);
        if (rc == 0) {
            n++;
            c->ok++;
        } else if (rc == -ENOMEM) {
            c->failed++;
        } else {
            c->bad++;
        }
    }
    while (n > 0)
        c->bad += kc_arena_release(c->a, held[--n]) != 1;
    return NULL;
}

static void test_arena_churn_under_faults_leaks_nothing(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(16 << 20, 4096, 0);
    struct churn c[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        c[i] = (struct churn){.a = a, .ops = kc_at_scaled(400000), .seed = 0xfa17 + (uint64_t)i};
        assert_int_equal(pthread_create(&th[i], NULL, churn_main, &c[i]), 0);
    }
    long ok = 0, failed = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        if (c[i].bad != 0)
            fail_msg("thread %d: %ld bad results (seed 0x%llx)", i, c[i].bad,
                     (unsigned long long)(0xfa17 + i));
        ok += c[i].ok;
        failed += c[i].failed;
    }
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.allocs, (uint64_t)ok);
    assert_int_equal(m.frees, (uint64_t)ok);
    assert_int_equal(m.failed_allocs, (uint64_t)failed);
    assert_int_equal(m.live_tickets, 0);
    if (FAULTS && every() > 0)
        assert_true(failed > 0);
    else
        assert_int_equal(failed, 0);
    assert_int_equal(kc_arena_check(a), 0);
    kc_arena_flush(a);
    /* The exited threads gave their caches back at exit. */
    assert_int_equal(kc_at_metrics(a).pages_used, 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_injected_failures_are_counted_and_harmless),
        cmocka_unit_test(test_arena_churn_under_faults_leaks_nothing),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
