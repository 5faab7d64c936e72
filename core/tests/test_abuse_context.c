/* test_abuse_context.c - kcoro/context.h called as a careless user would.
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
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

static _Atomic int freed;

static void count_free(void *v)
{
    free(v);
    atomic_fetch_add(&freed, 1);
}

static kc_ctx_key_t key = KC_CTX_KEY_INIT("abuse", count_free);

struct seen {
    int set_null_key, set_bad_key, set_ok, set_clear;
    void *get_null, *get_bad, *got;
};

static int in_task(void *arg)
{
    struct seen *w = arg;
    kc_ctx_key_t bad;
    memset(&bad, 0, sizeof(bad)); /* uninitialised */
    void *v = malloc(16);
    w->set_null_key = kc_ctx_set(NULL, v);
    w->set_bad_key = kc_ctx_set(&bad, v);
    w->get_null = kc_ctx_get(NULL);
    w->get_bad = kc_ctx_get(&bad);
    w->set_ok = kc_ctx_set(&key, v); /* TAKES v */
    w->got = kc_ctx_get(&key) == v ? v : NULL;
    w->set_clear = kc_ctx_set(&key, NULL);
    return 0;
}

static void test_abuse_context_null_keys_and_outside_a_task(void **state)
{
    (void)state;
    void *v = malloc(8);
    assert_int_equal(kc_ctx_set(&key, v), -EPERM); /* not in a task: not taken */
    free(v);
    assert_null(kc_ctx_get(&key));
    assert_null(kc_ctx_get(NULL));
    assert_int_equal(kc_ctx_set(NULL, NULL), -EINVAL);
    kc_sched_t *s = kc_test_sched(1);
    struct seen w;
    memset(&w, 0x7f, sizeof(w));
    kc_task_t *t = NULL;
    assert_int_equal(kc_sched_spawn(s, &t, in_task, &w, NULL), 0);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(w.set_null_key, -EINVAL);
    assert_int_equal(w.set_bad_key, -EINVAL);
    assert_null(w.get_null);
    assert_null(w.get_bad);
    assert_int_equal(w.set_ok, 0);
    assert_non_null(w.got);
    assert_int_equal(w.set_clear, 0);
    assert_int_equal(atomic_load(&freed), 1); /* the value, exactly once */
    assert_int_equal(kc_sched_destroy(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_context_null_keys_and_outside_a_task),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
