/* test_coro.c - tests of the coroutine engine (kcoro/coro.h).
 *
 * Lifecycle transitions, yield_to, bad input, stack pooling, floating-point
 * control state, debug checks, the guard-page overflow report (a death test
 * in a child process) and scale: a million coroutines created, run and
 * destroyed, and a hundred thousand parked at once. Assertions stay on the
 * main stack: coroutines record what they see and the test checks it after.
 */
#define _GNU_SOURCE
#include "kcoro.h"

#include "base/kc_debug.h"
#include "port/kc_port.h"

#include <fenv.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "kc_test_util.h"

/* ------------------------------------------------------------ helpers */

static int ret_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

struct counter {
    int steps;
    int yields_rc;
};

static int count_three(void *arg)
{
    struct counter *c = arg;
    for (int i = 0; i < 3; i++) {
        c->steps++;
        c->yields_rc |= kc_coro_yield();
    }
    return 42;
}

/* ------------------------------------------------------------ lifecycle */

static void test_coro_runs_to_finish_and_reports_status(void **state)
{
    (void)state;
    kc_coro_t *co = NULL;
    assert_int_equal(kc_coro_create(&co, ret_arg, (void *)(intptr_t)7, NULL), 0);
    assert_int_equal(kc_coro_state(co), KC_CORO_CREATED);
    int st = -1;
    assert_int_equal(kc_coro_status(co, &st), -EBUSY);
    assert_int_equal(kc_coro_resume(co), 1);
    assert_int_equal(kc_coro_state(co), KC_CORO_FINISHED);
    assert_int_equal(kc_coro_status(co, &st), 0);
    assert_int_equal(st, 7);
    assert_int_equal(kc_coro_destroy(co), 0);
}

static void test_coro_yield_suspends_and_resume_continues(void **state)
{
    (void)state;
    struct counter c = {0, 0};
    kc_coro_t *co;
    assert_int_equal(kc_coro_create(&co, count_three, &c, NULL), 0);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(kc_coro_resume(co), 0);
        assert_int_equal(kc_coro_state(co), KC_CORO_SUSPENDED);
        assert_int_equal(c.steps, i);
    }
    assert_int_equal(kc_coro_resume(co), 1);
    assert_int_equal(c.yields_rc, 0);
    int st;
    assert_int_equal(kc_coro_status(co, &st), 0);
    assert_int_equal(st, 42);
    assert_int_equal(kc_coro_resume(co), -ESRCH);
    assert_int_equal(kc_coro_destroy(co), 0);
}

struct self_seen {
    kc_coro_t *self;
    bool inside;
    char name[KC_CORO_NAME_MAX];
    uint64_t id;
};

static int look_at_self(void *arg)
{
    struct self_seen *s = arg;
    s->self = kc_coro_self();
    s->inside = kc_coro_is_inside();
    snprintf(s->name, sizeof(s->name), "%s", kc_coro_name(s->self));
    s->id = kc_coro_id(s->self);
    return 0;
}

static void test_coro_names_ids_and_self(void **state)
{
    (void)state;
    struct self_seen s = {0};
    kc_coro_attr_t attr = KC_CORO_ATTR_INIT;
    attr.name = "generator-with-a-very-long-name-that-gets-cut";
    kc_coro_t *a, *b;
    assert_int_equal(kc_coro_create(&a, look_at_self, &s, &attr), 0);
    assert_int_equal(kc_coro_create(&b, ret_arg, NULL, NULL), 0);
    assert_null(kc_coro_self());
    assert_false(kc_coro_is_inside());
    assert_int_equal(kc_coro_resume(a), 1);
    assert_ptr_equal(s.self, a);
    assert_true(s.inside);
    assert_int_equal(strlen(s.name), KC_CORO_NAME_MAX - 1);
    assert_memory_equal(s.name, "generator-with-a-very-long-name", KC_CORO_NAME_MAX - 1);
    assert_int_equal(s.id, kc_coro_id(a));
    assert_int_equal(kc_coro_id(b), kc_coro_id(a) + 1);
    char want[KC_CORO_NAME_MAX];
    snprintf(want, sizeof(want), "coro-%llu", (unsigned long long)kc_coro_id(b));
    assert_string_equal(kc_coro_name(b), want);
    kc_coro_destroy(a);
    kc_coro_destroy(b);
}

/* Default names are written two digits at a time: 1,000 coroutines in a
 * row cross at least one change of digit count, odd and even, and each
 * name must read as printf would write it. */
static void test_coro_default_names_match_printf(void **state)
{
    (void)state;
    for (int i = 0; i < 1000; i++) {
        kc_coro_t *c;
        assert_int_equal(kc_coro_create(&c, ret_arg, NULL, NULL), 0);
        char want[KC_CORO_NAME_MAX];
        snprintf(want, sizeof(want), "coro-%llu", (unsigned long long)kc_coro_id(c));
        assert_string_equal(kc_coro_name(c), want);
        kc_coro_destroy(c);
    }
}

/* ------------------------------------------------------------ yield_to */

struct relay {
    kc_coro_t *next;
    char *log;
    int rc;
};

static int relay_body(void *arg)
{
    struct relay *r = arg;
    strcat(r->log, kc_coro_name(kc_coro_self()));
    if (r->next != NULL)
        r->rc = kc_coro_yield_to(r->next);
    strcat(r->log, "<");
    return 0;
}

static void test_coro_yield_to_passes_control_sideways(void **state)
{
    (void)state;
    char log[64] = "";
    struct relay rb = {NULL, log, 0};
    struct relay ra = {NULL, log, 0};
    kc_coro_attr_t attr = KC_CORO_ATTR_INIT;
    kc_coro_t *a, *b;
    attr.name = "A";
    assert_int_equal(kc_coro_create(&a, relay_body, &ra, &attr), 0);
    attr.name = "B";
    assert_int_equal(kc_coro_create(&b, relay_body, &rb, &attr), 0);
    ra.next = b;
    /* A runs, hands over to B; B finishes and control returns to us (A's
     * resumer), reported as a finish. A stays suspended. */
    assert_int_equal(kc_coro_resume(a), 1);
    assert_string_equal(log, "AB<");
    assert_int_equal(kc_coro_state(a), KC_CORO_SUSPENDED);
    assert_int_equal(kc_coro_state(b), KC_CORO_FINISHED);
    assert_int_equal(kc_coro_resume(a), 1);
    assert_string_equal(log, "AB<<");
    assert_int_equal(ra.rc, 0);
    kc_coro_destroy(a);
    kc_coro_destroy(b);
}

struct misuse {
    kc_coro_t *target;
    int rc_self, rc_null, rc_running, rc_finished, rc_destroy_running;
};

static int misuse_body(void *arg)
{
    struct misuse *m = arg;
    kc_coro_t *me = kc_coro_self();
    m->rc_self = kc_coro_yield_to(me);
    m->rc_null = kc_coro_yield_to(NULL);
    m->rc_running = kc_coro_resume(me);
    m->rc_finished = kc_coro_yield_to(m->target);
    m->rc_destroy_running = kc_coro_destroy(me);
    return 0;
}

static void test_coro_bad_input_is_rejected(void **state)
{
    (void)state;
    kc_coro_t *co = (kc_coro_t *)(uintptr_t)1;
    kc_coro_attr_t attr = KC_CORO_ATTR_INIT;

    assert_int_equal(kc_coro_create(NULL, ret_arg, NULL, NULL), -EINVAL);
    assert_int_equal(kc_coro_create(&co, NULL, NULL, NULL), -EINVAL);
    assert_null(co);
    attr.stack_size = KC_CORO_STACK_MIN - 1;
    assert_int_equal(kc_coro_create(&co, ret_arg, NULL, &attr), -EINVAL);
    attr.stack_size = KC_CORO_STACK_MAX + 1;
    assert_int_equal(kc_coro_create(&co, ret_arg, NULL, &attr), -EINVAL);
    attr.stack_size = (size_t)-1;
    assert_int_equal(kc_coro_create(&co, ret_arg, NULL, &attr), -EINVAL);
    attr.stack_size = 0;
    attr.size = 4;
    assert_int_equal(kc_coro_create(&co, ret_arg, NULL, &attr), -EINVAL);
    attr.size = sizeof(attr);
    attr.flags = 0x80;
    assert_int_equal(kc_coro_create(&co, ret_arg, NULL, &attr), -EINVAL);

    assert_int_equal(kc_coro_resume(NULL), -EINVAL);
    assert_int_equal(kc_coro_yield(), -EPERM);
    assert_int_equal(kc_coro_yield_to(NULL), -EPERM);
    assert_int_equal(kc_coro_destroy(NULL), 0);
    int st;
    assert_int_equal(kc_coro_status(NULL, &st), -EINVAL);

    kc_coro_stack_stats_t before, after;
    kc_coro_stack_stats(&before);
    kc_coro_t *done, *m;
    struct misuse mu = {0};
    assert_int_equal(kc_coro_create(&done, ret_arg, NULL, NULL), 0);
    assert_int_equal(kc_coro_resume(done), 1);
    mu.target = done;
    assert_int_equal(kc_coro_create(&m, misuse_body, &mu, NULL), 0);
    assert_int_equal(kc_coro_resume(m), 1);
    assert_int_equal(mu.rc_self, -EINVAL);
    assert_int_equal(mu.rc_null, -EINVAL);
    assert_int_equal(mu.rc_running, -EBUSY);
    assert_int_equal(mu.rc_finished, -ESRCH);
    assert_int_equal(mu.rc_destroy_running, -EBUSY);
    assert_int_equal(kc_coro_status(m, &st), 0);
    kc_coro_destroy(m);
    kc_coro_destroy(done);
    /* Nothing leaked: every stack handed out came back. */
    kc_coro_stack_stats(&after);
    assert_int_equal(after.live, before.live);
}

/* ------------------------------------------------------------ stacks */

static int touch_stack(void *arg)
{
    size_t n = (size_t)(uintptr_t)arg;
    volatile char buf[8192];
    for (size_t i = 0; i < sizeof(buf) && i < n; i++)
        buf[i] = (char)i;
    return buf[n > 0 ? (n - 1) % sizeof(buf) : 0];
}

static void test_coro_stack_pool_avoids_mmap_in_steady_state(void **state)
{
    (void)state;
    kc_coro_t *co;
    /* Warm the pool. */
    assert_int_equal(kc_coro_create(&co, touch_stack, (void *)(uintptr_t)100, NULL), 0);
    kc_coro_destroy(co);
    kc_coro_stack_stats_t before, after;
    kc_coro_stack_stats(&before);
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(kc_coro_create(&co, touch_stack, (void *)(uintptr_t)100, NULL), 0);
        assert_int_equal(kc_coro_resume(co), 1);
        kc_coro_destroy(co);
    }
    kc_coro_stack_stats(&after);
    assert_int_equal(after.slab_maps, before.slab_maps);
    assert_int_equal(after.own_maps, before.own_maps);
    assert_int_equal(after.cache_hits - before.cache_hits, 10000);
    assert_int_equal(after.live, before.live);
}

static void test_coro_unpooled_and_custom_stacks_map_their_own(void **state)
{
    (void)state;
    kc_coro_stack_stats_t before, after;
    kc_coro_stack_stats(&before);
    kc_coro_attr_t attr = KC_CORO_ATTR_INIT;
    attr.flags = KC_CORO_F_NO_POOL;
    kc_coro_t *a, *b;
    assert_int_equal(kc_coro_create(&a, touch_stack, (void *)(uintptr_t)4000, &attr), 0);
    attr.flags = 0;
    attr.stack_size = 256 * 1024;
    assert_int_equal(kc_coro_create(&b, touch_stack, (void *)(uintptr_t)8000, &attr), 0);
    assert_int_equal(kc_coro_stack_size(b), 256 * 1024);
    assert_int_equal(kc_coro_stack_size(a), before.default_stack_size);
    assert_int_equal(kc_coro_resume(a), 1);
    assert_int_equal(kc_coro_resume(b), 1);
    kc_coro_destroy(a);
    kc_coro_destroy(b);
    kc_coro_stack_stats(&after);
    assert_int_equal(after.own_maps - before.own_maps, 2);
    assert_int_equal(after.own_unmaps - before.own_unmaps, 2);
    assert_int_equal(after.live, before.live);
}

/* ------------------------------------------------------------ FP state */

/* The floating-point control state (rounding mode, exception masks) is the
 * thread's, shared by every coroutine it runs: a switch neither saves nor
 * loads it (core/docs/COROUTINES.md, "The switch"). */
struct fp_seen {
    int round_at_start;
    int round_after_yield;
};

static int fp_body(void *arg)
{
    struct fp_seen *f = arg;
    f->round_at_start = fegetround();
    fesetround(FE_UPWARD);
    kc_coro_yield();
    f->round_after_yield = fegetround();
    fesetround(FE_TOWARDZERO);
    return 0;
}

static void test_coro_shares_floating_point_control_with_its_thread(void **state)
{
    (void)state;
    struct fp_seen f = {-1, -1};
    kc_coro_t *co;
    assert_int_equal(fesetround(FE_DOWNWARD), 0);
    assert_int_equal(kc_coro_create(&co, fp_body, &f, NULL), 0);
    assert_int_equal(kc_coro_resume(co), 0);
    /* A new coroutine starts in the thread's mode, and what it sets before
     * yielding is the thread's mode after the yield. */
    assert_int_equal(f.round_at_start, FE_DOWNWARD);
    assert_int_equal(fegetround(), FE_UPWARD);
    fesetround(FE_TONEAREST);
    assert_int_equal(kc_coro_resume(co), 1);
    assert_int_equal(f.round_after_yield, FE_TONEAREST);
    assert_int_equal(fegetround(), FE_TOWARDZERO);
    fesetround(FE_TONEAREST);
    kc_coro_destroy(co);
}

/* ------------------------------------------------------------ threads */

struct hop {
    kc_coro_t *co;
    int rc;
};

static void *resume_on_thread(void *arg)
{
    struct hop *h = arg;
    h->rc = kc_coro_resume(h->co);
    return NULL;
}

static int hop_body(void *arg)
{
    int *steps = arg;
    for (int i = 0; i < 4; i++) {
        (*steps)++;
        kc_coro_yield();
    }
    return 0;
}

static void test_coro_resumes_on_other_threads(void **state)
{
    (void)state;
    int steps = 0;
    struct hop h = {NULL, -1};
    assert_int_equal(kc_coro_create(&h.co, hop_body, &steps, NULL), 0);
    for (int i = 0; i < 5; i++) {
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, resume_on_thread, &h), 0);
        pthread_join(th, NULL);
        assert_int_equal(h.rc, i < 4 ? 0 : 1);
    }
    assert_int_equal(steps, 4);
    kc_coro_destroy(h.co);
}

/* ------------------------------------------------------------ overflow */

static int recurse(int depth)
{
    volatile char frame[1024];
    frame[0] = (char)depth;
    if (depth > 1000000)
        return frame[0];
    return recurse(depth + 1) + frame[0];
}

static int overflow_body(void *arg)
{
    (void)arg;
    return recurse(0);
}

static void child_overflow(void)
{
    kc_coro_attr_t attr = KC_CORO_ATTR_INIT;
    attr.name = "deep-recursion";
    kc_coro_t *co;
    /* cmocka replaced the SIGSEGV handler to catch test crashes. */
    kc_coro_install_overflow_handler();
    if (kc_coro_create(&co, overflow_body, NULL, &attr) != 0)
        _exit(3);
    kc_coro_resume(co);
    _exit(0); /* unreachable when the guard works */
}

static void test_coro_stack_overflow_is_reported_then_aborts(void **state)
{
    (void)state;
    if (kc_test_skip_under_valgrind("the guard-page death test"))
        return;
    struct kc_child child;
    assert_int_equal(kc_test_run_child(&child, child_overflow), 0);
    assert_true(WIFSIGNALED(child.status));
    assert_int_equal(WTERMSIG(child.status), SIGABRT);
    assert_non_null(strstr(child.err, "kcoro: stack overflow in coroutine 'deep-recursion'"));
    assert_non_null(strstr(child.err, "stack ["));
    assert_non_null(strstr(child.err, "65536 bytes"));
}

static void child_canary(void)
{
    setenv("KCORO_DEBUG", "canary", 1);
    kc__debug_reload();
    kc_coro_t *co;
    if (kc_coro_create(&co, count_three, &(struct counter){0, 0}, NULL) != 0)
        _exit(3);
    kc_coro_resume(co);
    /* Simulate an overflow that skipped the guard: clobber the lowest word. */
    kc_test_clobber_stack_bottom(co);
    kc_coro_resume(co);
    _exit(0);
}

static void test_coro_debug_canary_catches_clobbered_stack(void **state)
{
    (void)state;
    struct kc_child child;
    assert_int_equal(kc_test_run_child(&child, child_canary), 0);
    assert_true(WIFSIGNALED(child.status));
    assert_int_equal(WTERMSIG(child.status), SIGABRT);
    assert_non_null(strstr(child.err, "stack canary overwritten"));
}

static void test_coro_debug_checks_pass_on_healthy_coroutines(void **state)
{
    (void)state;
    setenv("KCORO_DEBUG", "canary,sp", 1);
    kc__debug_reload();
    struct counter c = {0, 0};
    kc_coro_t *co;
    assert_int_equal(kc_coro_create(&co, count_three, &c, NULL), 0);
    while (kc_coro_resume(co) == 0)
        ;
    assert_int_equal(c.steps, 3);
    kc_coro_destroy(co);
    unsetenv("KCORO_DEBUG");
    kc__debug_reload();
}

/* ------------------------------------------------------------ scale */

static void test_coro_million_created_run_destroyed(void **state)
{
    (void)state;
    const long n = kc_test_scaled(1000000);
    long sum = 0;
    kc_coro_stack_stats_t before, after;
    kc_coro_stack_stats(&before);
    for (long i = 0; i < n; i++) {
        kc_coro_t *co;
        int st = 0;
        if (kc_coro_create(&co, ret_arg, (void *)(intptr_t)(i & 1), NULL) != 0)
            fail_msg("create failed at %ld", i);
        if (kc_coro_resume(co) != 1 || kc_coro_status(co, &st) != 0)
            fail_msg("run failed at %ld", i);
        sum += st;
        kc_coro_destroy(co);
    }
    kc_coro_stack_stats(&after);
    assert_int_equal(sum, n / 2);
    assert_int_equal(after.live, before.live);
}

static int park_once(void *arg)
{
    long *resumed = arg;
    kc_coro_yield();
    (*resumed)++;
    return 0;
}

static void test_coro_hundred_thousand_parked_at_once(void **state)
{
    (void)state;
    const long n = kc_test_scaled(100000);
    kc_coro_t **all = calloc((size_t)n, sizeof(*all));
    long resumed = 0, made = 0;
    kc_coro_stack_stats_t st;
    assert_non_null(all);
    kc_coro_stack_stats(&st);
    for (; made < n; made++) {
        int rc = kc_coro_create(&all[made], park_once, &resumed, NULL);
        if (rc == -ENOMEM && st.guard_mode == KC_CORO_GUARD_MPROTECT && made > 30000) {
            /* PROT_NONE guards cost two map entries each: vm.max_map_count
             * (65530) ends the run near 32k, cleanly, with -ENOMEM. */
            printf("[   NOTE   ] mprotect guard pages: %ld parked before -ENOMEM\n", made);
            break;
        }
        if (rc != 0)
            fail_msg("create failed at %ld: %d", made, rc);
        if (kc_coro_resume(all[made]) != 0)
            fail_msg("park failed at %ld", made);
    }
    kc_coro_stack_stats_t mid;
    kc_coro_stack_stats(&mid);
    assert_true(mid.live >= (uint64_t)made);
    for (long i = 0; i < made; i++)
        assert_int_equal(kc_coro_state(all[i]), KC_CORO_SUSPENDED);
    for (long i = 0; i < made; i++) {
        if (kc_coro_resume(all[i]) != 1)
            fail_msg("finish failed at %ld", i);
        kc_coro_destroy(all[i]);
    }
    assert_int_equal(resumed, made);
    if (st.guard_mode == KC_CORO_GUARD_MADVISE)
        assert_int_equal(made, n);
    free(all);
    /* The burst left stacks warm on the shared list; trimming releases
     * their pages and leaves them usable. */
    size_t rss_before = kc__port_rss_bytes();
    size_t trimmed = kc_coro_stack_trim();
    assert_true(trimmed > 0);
    assert_true(kc__port_rss_bytes() < rss_before);
    kc_coro_t *again;
    assert_int_equal(kc_coro_create(&again, ret_arg, NULL, NULL), 0);
    assert_int_equal(kc_coro_resume(again), 1);
    kc_coro_destroy(again);
}

static void test_coro_error_names_and_texts(void **state)
{
    (void)state;
    assert_string_equal(kc_errname(-EPIPE), "EPIPE");
    assert_string_equal(kc_errname(-ESTALE), "ESTALE");
    assert_string_equal(kc_errname(0), "OK");
    assert_string_equal(kc_errname(-12345), "E?");
    assert_string_equal(kc_strerror(-ETIME), "the deadline passed first");
    assert_string_equal(kc_strerror(-12345), "unknown error");
    assert_string_equal(kc_version(), "0.1.0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coro_runs_to_finish_and_reports_status),
        cmocka_unit_test(test_coro_yield_suspends_and_resume_continues),
        cmocka_unit_test(test_coro_names_ids_and_self),
        cmocka_unit_test(test_coro_default_names_match_printf),
        cmocka_unit_test(test_coro_yield_to_passes_control_sideways),
        cmocka_unit_test(test_coro_bad_input_is_rejected),
        cmocka_unit_test(test_coro_stack_pool_avoids_mmap_in_steady_state),
        cmocka_unit_test(test_coro_unpooled_and_custom_stacks_map_their_own),
        cmocka_unit_test(test_coro_shares_floating_point_control_with_its_thread),
        cmocka_unit_test(test_coro_resumes_on_other_threads),
        cmocka_unit_test(test_coro_stack_overflow_is_reported_then_aborts),
        cmocka_unit_test(test_coro_debug_canary_catches_clobbered_stack),
        cmocka_unit_test(test_coro_debug_checks_pass_on_healthy_coroutines),
        cmocka_unit_test(test_coro_million_created_run_destroyed),
        cmocka_unit_test(test_coro_hundred_thousand_parked_at_once),
        cmocka_unit_test(test_coro_error_names_and_texts),
    };
    return cmocka_run_group_tests_name("coro", tests, NULL, NULL);
}
