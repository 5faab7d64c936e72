/* test_abuse_coro.c - kcoro/coro.h called as a careless user would.
 *
 * Every public function of the header with NULL, zero, negative, huge and
 * stale arguments: each returns the documented negative errno (or is the
 * documented no-op) and changes nothing. mk/lint-abuse.sh holds every
 * public header to having such a file. Leaks show under ASan and Valgrind.
 * Results seen inside coroutines are recorded and asserted on the main
 * stack (STYLE.md).
 */
#include "kcoro.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

static int ret7(void *arg)
{
    (void)arg;
    return 7;
}

static void test_abuse_coro_create_with_bad_arguments(void **state)
{
    (void)state;
    kc_coro_t *co = (kc_coro_t *)(uintptr_t)1;
    kc_coro_attr_t a = KC_CORO_ATTR_INIT;
    kc_coro_stack_stats_t before, after;
    kc_coro_stack_stats(&before);
    assert_int_equal(kc_coro_create(NULL, ret7, NULL, NULL), -EINVAL);
    assert_int_equal(kc_coro_create(&co, NULL, NULL, NULL), -EINVAL);
    a.size = 3;
    assert_int_equal(kc_coro_create(&co, ret7, NULL, &a), -EINVAL);
    a = (kc_coro_attr_t)KC_CORO_ATTR_INIT;
    a.stack_size = KC_CORO_STACK_MIN - 1;
    assert_int_equal(kc_coro_create(&co, ret7, NULL, &a), -EINVAL);
    a.stack_size = KC_CORO_STACK_MAX + 1;
    assert_int_equal(kc_coro_create(&co, ret7, NULL, &a), -EINVAL);
    a.stack_size = SIZE_MAX;
    assert_int_equal(kc_coro_create(&co, ret7, NULL, &a), -EINVAL);
    a.stack_size = 0;
    char longname[256];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    a.name = longname; /* truncated, not an error */
    assert_int_equal(kc_coro_create(&co, ret7, NULL, &a), 0);
    assert_int_equal(strlen(kc_coro_name(co)), KC_CORO_NAME_MAX - 1);
    assert_int_equal(kc_coro_destroy(co), 0);
    kc_coro_stack_stats(&after);
    assert_int_equal(after.live, before.live); /* nothing leaked */
}

static void test_abuse_coro_null_handles(void **state)
{
    (void)state;
    int st = 0;
    assert_int_equal(kc_coro_resume(NULL), -EINVAL);
    assert_int_equal(kc_coro_yield(), -EPERM); /* not in a coroutine */
    assert_int_equal(kc_coro_yield_to(NULL), -EPERM);
    assert_int_equal(kc_coro_destroy(NULL), 0);
    assert_null(kc_coro_self());
    assert_false(kc_coro_is_inside());
    assert_string_equal(kc_coro_name(NULL), "(null)");
    assert_int_equal(kc_coro_id(NULL), 0);
    assert_int_equal(kc_coro_state(NULL), KC_CORO_FINISHED);
    assert_int_equal(kc_coro_status(NULL, &st), -EINVAL);
    assert_int_equal(kc_coro_stack_size(NULL), 0);
    kc_coro_stack_stats(NULL); /* documented: ignored */
    (void)kc_coro_stack_trim();
    kc_coro_install_overflow_handler();
    kc_coro_install_overflow_handler(); /* twice is fine */
    uint64_t sw = kc_coro_thread_switches();
    assert_int_equal(kc_coro_thread_switches(), sw); /* nothing switched */
}

/* What a coroutine saw calling the API on itself and on a finished peer. */
struct seen {
    kc_coro_t *peer;
    int yield_to_null, yield_to_self, yield_to_finished, resume_self, destroy_self;
};

static int misuse(void *arg)
{
    struct seen *s = arg;
    s->yield_to_null = kc_coro_yield_to(NULL);
    s->yield_to_self = kc_coro_yield_to(kc_coro_self());
    s->yield_to_finished = kc_coro_yield_to(s->peer);
    s->resume_self = kc_coro_resume(kc_coro_self());
    s->destroy_self = kc_coro_destroy(kc_coro_self());
    return 0;
}

static void test_abuse_coro_stale_running_and_finished(void **state)
{
    (void)state;
    kc_coro_t *done = NULL, *co = NULL;
    int st = -1;
    assert_int_equal(kc_coro_create(&done, ret7, NULL, NULL), 0);
    assert_int_equal(kc_coro_status(done, &st), -EBUSY); /* not finished */
    assert_int_equal(kc_coro_status(done, NULL), -EINVAL);
    assert_int_equal(kc_coro_resume(done), 1);
    assert_int_equal(kc_coro_resume(done), -ESRCH); /* finished */
    assert_int_equal(kc_coro_status(done, &st), 0);
    assert_int_equal(st, 7);
    struct seen s = {done, 1, 1, 1, 1, 1};
    assert_int_equal(kc_coro_create(&co, misuse, &s, NULL), 0);
    assert_int_equal(kc_coro_resume(co), 1);
    assert_int_equal(s.yield_to_null, -EINVAL);
    assert_int_equal(s.yield_to_self, -EINVAL);
    assert_int_equal(s.yield_to_finished, -ESRCH);
    assert_int_equal(s.resume_self, -EBUSY);
    assert_int_equal(s.destroy_self, -EBUSY);
    assert_int_equal(kc_coro_destroy(co), 0);
    assert_int_equal(kc_coro_destroy(done), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_coro_create_with_bad_arguments),
        cmocka_unit_test(test_abuse_coro_null_handles),
        cmocka_unit_test(test_abuse_coro_stale_running_and_finished),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
