/* test_abuse_actor.c - kcoro/actor.h called as a careless user would.
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

static int echo(void *state, const void *msg, void *reply)
{
    (void)state;
    if (reply != NULL) /* NULL for a tell */
        memcpy(reply, msg, sizeof(int));
    return 0;
}

static void test_abuse_actor_bad_options_and_null_handles(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    kc_scope_t *sc = NULL;
    assert_int_equal(kc_scope_create(&sc, s, 0), 0);
    kc_actor_t *a = NULL;
    kc_actor_opts_t o = KC_ACTOR_OPTS_INIT, b;
    o.msg_size = o.reply_size = sizeof(int);
    int st = 0, msg = 7, reply = 0;
    assert_int_equal(kc_actor_start(NULL, sc, &o, echo, &st), -EINVAL);
    assert_int_equal(kc_actor_start(&a, NULL, &o, echo, &st), -EINVAL);
    assert_int_equal(kc_actor_start(&a, sc, NULL, echo, &st), -EINVAL);
    assert_int_equal(kc_actor_start(&a, sc, &o, NULL, &st), -EINVAL);
    b = o;
    b.size = 1;
    assert_int_equal(kc_actor_start(&a, sc, &b, echo, &st), -EINVAL);
    b = o;
    b.msg_size = 0;
    assert_int_equal(kc_actor_start(&a, sc, &b, echo, &st), -EINVAL);
    b.msg_size = KC_ACTOR_MSG_MAX + 1;
    assert_int_equal(kc_actor_start(&a, sc, &b, echo, &st), -EINVAL);
    b = o;
    b.reply_size = SIZE_MAX;
    assert_int_equal(kc_actor_start(&a, sc, &b, echo, &st), -EINVAL);
    b = o;
    b.flags = 1;
    assert_int_equal(kc_actor_start(&a, sc, &b, echo, &st), -EINVAL);
    b = o;
    b.policy = (kc_actor_policy_t)9;
    assert_int_equal(kc_actor_start(&a, sc, &b, echo, &st), -EINVAL);
    b = o;
    b.max_restarts = INT_MIN;
    assert_int_equal(kc_actor_start(&a, sc, &b, echo, &st), -EINVAL);
    assert_int_equal(kc_actor_tell(NULL, &msg, 0, NULL), -EINVAL);
    assert_int_equal(kc_actor_ask(NULL, &msg, &reply, INT64_MAX, NULL), -EINVAL);
    assert_int_equal(kc_actor_stop(NULL), -EINVAL);
    assert_int_equal(kc_actor_restarts(NULL), 0);
    assert_int_equal(kc_actor_destroy(NULL), 0);
    assert_int_equal(kc_scope_live(sc), 0); /* nothing was started */
    assert_int_equal(kc_scope_destroy(sc), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_abuse_actor_timeouts_and_a_stopped_actor(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    kc_scope_t *sc = NULL;
    assert_int_equal(kc_scope_create(&sc, s, 0), 0);
    kc_actor_t *a = NULL;
    kc_actor_opts_t o = KC_ACTOR_OPTS_INIT;
    o.msg_size = o.reply_size = sizeof(int);
    int st = 0, msg = 7, reply = 0;
    assert_int_equal(kc_actor_start(&a, sc, &o, echo, &st), 0);
    assert_int_equal(kc_actor_tell(a, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_actor_ask(a, NULL, &reply, 0, NULL), -EINVAL);
    assert_int_equal(kc_actor_ask(a, &msg, &reply, INT64_MAX, NULL), 0);
    assert_int_equal(reply, 7);
    assert_int_equal(kc_actor_ask(a, &msg, NULL, INT64_MAX - 1, NULL), 0); /* reply may be NULL */
    assert_int_equal(kc_actor_tell(a, &msg, INT64_MIN, NULL), 0); /* room: no wait needed */
    assert_int_equal(kc_actor_restarts(a), 0);
    assert_int_equal(kc_actor_stop(a), 0);
    assert_int_equal(kc_actor_stop(a), -EPIPE);
    assert_int_equal(kc_actor_tell(a, &msg, INT64_MAX, NULL), -EPIPE);
    assert_int_equal(kc_actor_ask(a, &msg, &reply, -5, NULL), -EPIPE);
    assert_int_equal(kc_actor_destroy(a), 0);
    assert_int_equal(kc_scope_destroy(sc), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_actor_bad_options_and_null_handles),
        cmocka_unit_test(test_abuse_actor_timeouts_and_a_stopped_actor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
