/* test_abuse_park.c - kcoro/park.h called as a careless user would.
 *
 * Every public function of the header with NULL, zero, negative, huge and
 * stale arguments: each returns the documented negative errno (or is the
 * documented no-op) and changes nothing. mk/lint-abuse.sh holds every
 * public header to having such a file. Leaks show under ASan and Valgrind.
 */
#include "kcoro.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

static void test_abuse_park_null_and_uninitialised_parkers(void **state)
{
    (void)state;
    kc_parker_init(NULL); /* documented: ignored */
    kc_unpark(NULL);      /* documented: ignored */
    assert_int_equal(kc_park(NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_park(NULL, KC_NO_TIMEOUT, NULL), -EINVAL);
    kc_parker_t p;
    memset(&p, 0, sizeof(p)); /* never initialised */
    assert_int_equal(kc_park(&p, 0, NULL), -EINVAL);
    memset(&p, 0xa5, sizeof(p)); /* garbage */
    assert_int_equal(kc_park(&p, INT64_MAX, NULL), -EINVAL);
    kc_parker_init(&p);
    p.version = KC_PARKER_VERSION + 1; /* a layout from another version */
    assert_int_equal(kc_park(&p, 0, NULL), -EINVAL);
    p.version = KC_PARKER_VERSION;
    p.size = 3;
    assert_int_equal(kc_park(&p, 0, NULL), -EINVAL);
}

static void test_abuse_park_timeouts_zero_negative_huge(void **state)
{
    (void)state;
    kc_parker_t p;
    kc_parker_init(&p);
    assert_int_equal(kc_park(&p, 0, NULL), -ETIME);
    assert_int_equal(kc_park(&p, -5, NULL), -ETIME);
    assert_int_equal(kc_park(&p, INT64_MIN, NULL), -ETIME);
    kc_unpark(&p);
    assert_int_equal(kc_park(&p, INT64_MAX, NULL), 0); /* the permit, at once */
    kc_unpark(&p);
    kc_unpark(&p);
    assert_int_equal(kc_park(&p, INT64_MAX - 1, NULL), 0);
    assert_int_equal(kc_park(&p, 0, NULL), -ETIME); /* permits did not add up */
}

static void *park_foreign(void *arg)
{
    return (void *)(intptr_t)kc_park(arg, 0, NULL);
}

static void test_abuse_park_stale_owner_and_fired_token(void **state)
{
    (void)state;
    kc_parker_t p;
    kc_parker_init(&p);
    pthread_t th;
    void *rc = NULL;
    assert_int_equal(pthread_create(&th, NULL, park_foreign, &p), 0);
    assert_int_equal(pthread_join(th, &rc), 0);
    assert_int_equal((int)(intptr_t)rc, -EPERM); /* not the owner */
    kc_cancel_t *c = NULL;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    assert_int_equal(kc_cancel_trigger(c), 1);
    assert_int_equal(kc_park(&p, INT64_MAX, c), -ECANCELED);
    assert_int_equal(kc_park(&p, -5, c), -ECANCELED);
    kc_unpark(&p); /* a permit wins over a fired token */
    assert_int_equal(kc_park(&p, KC_NO_TIMEOUT, c), 0);
    assert_int_equal(kc_cancel_destroy(c), 0);
    kc_parker_init(&p); /* re-initialising an idle parker is fine */
    assert_int_equal(kc_park(&p, 0, NULL), -ETIME);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_park_null_and_uninitialised_parkers),
        cmocka_unit_test(test_abuse_park_timeouts_zero_negative_huge),
        cmocka_unit_test(test_abuse_park_stale_owner_and_fired_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
