/* test_abuse_cancel.c - kcoro/cancel.h called as a careless user would.
 *
 * Every public function of the header with NULL, zero, negative, huge and
 * stale arguments: each returns the documented negative errno (or is the
 * documented no-op) and changes nothing. mk/lint-abuse.sh holds every
 * public header to having such a file. Leaks show under ASan and Valgrind.
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

static void nop(void *arg)
{
    (void)arg;
}

static void test_abuse_cancel_null_arguments(void **state)
{
    (void)state;
    kc_cancel_t *c = NULL;
    kc_cancel_reg_t reg;
    assert_int_equal(kc_cancel_create(NULL, NULL), -EINVAL);
    assert_int_equal(kc_cancel_destroy(NULL), 0); /* documented no-op */
    assert_int_equal(kc_cancel_trigger(NULL), -EINVAL);
    assert_false(kc_cancel_is_triggered(NULL));
    assert_int_equal(kc_cancel_register(NULL, &reg, nop, NULL), -EINVAL);
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    assert_int_equal(kc_cancel_register(c, NULL, nop, NULL), -EINVAL);
    assert_int_equal(kc_cancel_register(c, &reg, NULL, NULL), -EINVAL);
    assert_int_equal(kc_cancel_unregister(NULL), -EINVAL);
    assert_false(kc_cancel_is_triggered(c)); /* nothing changed */
    assert_int_equal(kc_cancel_destroy(c), 0);
}

static void test_abuse_cancel_stale_registrations_and_busy_tokens(void **state)
{
    (void)state;
    kc_cancel_t *parent = NULL, *child = NULL;
    kc_cancel_reg_t reg;
    memset(&reg, 0, sizeof(reg)); /* never registered */
    assert_int_equal(kc_cancel_unregister(&reg), 0);
    assert_int_equal(kc_cancel_create(&parent, NULL), 0);
    assert_int_equal(kc_cancel_create(&child, parent), 0);
    assert_int_equal(kc_cancel_destroy(parent), -EBUSY); /* a child is linked */
    assert_int_equal(kc_cancel_register(child, &reg, nop, NULL), 0);
    assert_int_equal(kc_cancel_destroy(child), -EBUSY); /* a callback is registered */
    assert_int_equal(kc_cancel_unregister(&reg), 0);
    assert_int_equal(kc_cancel_unregister(&reg), 0); /* twice: already withdrawn */
    assert_int_equal(kc_cancel_trigger(parent), 1);
    assert_int_equal(kc_cancel_trigger(parent), 0); /* already fired */
    assert_true(kc_cancel_is_triggered(child));
    assert_int_equal(kc_cancel_register(child, &reg, nop, NULL), -ECANCELED);
    assert_int_equal(kc_cancel_unregister(&reg), 0); /* not registered by the failure */
    assert_int_equal(kc_cancel_destroy(child), 0);
    assert_int_equal(kc_cancel_destroy(parent), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_cancel_null_arguments),
        cmocka_unit_test(test_abuse_cancel_stale_registrations_and_busy_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
