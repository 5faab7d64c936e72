/* test_abuse_zdesc.c - kcoro/zdesc.h called as a careless user would.
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

static kc_arena_t *small_arena(void)
{
    kc_arena_t *a = NULL;
    kc_arena_opts_t o = KC_ARENA_OPTS_INIT;
    o.bytes = 1 << 20;
    assert_int_equal(kc_arena_create(&a, &o), 0);
    return a;
}

static void test_abuse_zdesc_null_and_malformed_descriptors(void **state)
{
    (void)state;
    char buf[16];
    kc_zdesc_t d, keep;
    kc_arena_ticket_t t;
    memset(&d, 0x5a, sizeof(d));
    keep = d;
    assert_int_equal(kc_zdesc_init(NULL, buf, 4, 0), -EINVAL);
    assert_int_equal(kc_zdesc_init(&d, NULL, 4, 0), -EINVAL);
    assert_int_equal(kc_zdesc_init(&d, buf, 4, 0x80), -EINVAL);
    assert_int_equal(kc_zdesc_init(&d, buf, 4, UINT32_MAX), -EINVAL);
    assert_memory_equal(&d, &keep, sizeof(d));                /* untouched */
    assert_int_equal(kc_zdesc_init(&d, NULL, 0, 0), 0);       /* empty is fine */
    assert_int_equal(kc_zdesc_init(&d, buf, SIZE_MAX, 0), 0); /* never dereferenced */
    assert_int_equal(kc_zdesc_check(NULL), -EINVAL);
    assert_int_equal(kc_zdesc_check(&keep), -EINVAL); /* garbage */
    kc_zdesc_t z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(kc_zdesc_check(&z), -EINVAL); /* size 0 */
    assert_int_equal(kc_zdesc_init(&d, buf, 4, KC_ZDESC_OWNED), 0);
    d.version = 99;
    assert_int_equal(kc_zdesc_check(&d), -EINVAL);
    assert_false(kc_zdesc_is_owned(NULL));
    assert_false(kc_zdesc_has_ticket(NULL));
    assert_false(kc_zdesc_has_ticket(&z));
    assert_int_equal(kc_zdesc_ticket(NULL, &t), -EINVAL);
    assert_int_equal(kc_zdesc_ticket(&d, NULL), -EINVAL);
    assert_int_equal(kc_zdesc_init(&d, buf, 4, 0), 0);
    assert_int_equal(kc_zdesc_ticket(&d, &t), -EINVAL); /* no ticket */
}

static void test_abuse_zdesc_arena_calls_with_bad_arguments(void **state)
{
    (void)state;
    kc_arena_t *a = small_arena();
    kc_arena_ticket_t nt = KC_ARENA_TICKET_NULL;
    char buf[16];
    static char region[4096];
    kc_zdesc_t d, c, plain;
    void *p = NULL;
    size_t len = 0;
    assert_int_equal(kc_zdesc_init(&plain, buf, sizeof(buf), KC_ZDESC_OWNED), 0);
    assert_int_equal(kc_zdesc_alloc(NULL, a, 8, 0), -EINVAL);
    assert_int_equal(kc_zdesc_alloc(&d, NULL, 8, 0), -EINVAL);
    assert_int_equal(kc_zdesc_alloc(&d, a, 0, 0), -EINVAL);
    assert_int_equal(kc_zdesc_alloc(&d, a, 8, 0x80), -EINVAL);
    assert_int_equal(kc_zdesc_alloc(&d, a, SIZE_MAX, 0), -EMSGSIZE);
    assert_int_equal(kc_zdesc_alloc(&d, a, 2 << 20, 0), -EMSGSIZE);
    int r = kc_arena_register_region(a, region, sizeof(region), 0);
    assert_true(r > 0);
    assert_int_equal(kc_zdesc_wrap(NULL, a, r, region, 8, 0), -EINVAL);
    assert_int_equal(kc_zdesc_wrap(&d, NULL, r, region, 8, 0), -EINVAL);
    assert_int_equal(kc_zdesc_wrap(&d, a, r, NULL, 8, 0), -EINVAL);
    assert_int_equal(kc_zdesc_wrap(&d, a, r, region, 0, 0), -EINVAL);
    assert_int_equal(kc_zdesc_wrap(&d, a, r, region, (size_t)UINT32_MAX + 1, 0), -EINVAL);
    assert_int_equal(kc_zdesc_wrap(&d, a, r, region + 4090, 64, 0), -EINVAL);
    assert_int_equal(kc_zdesc_wrap(&d, a, r, region, 8, 0x80), -EINVAL);
    assert_int_equal(kc_zdesc_wrap(&d, a, r + 1, region, 8, 0), -ESTALE);
    assert_int_equal(kc_zdesc_wrap(&d, a, -1, region, 8, 0), -ESTALE);
    assert_int_equal(kc_zdesc_from_ticket(NULL, a, nt, 0), -EINVAL);
    assert_int_equal(kc_zdesc_from_ticket(&d, NULL, nt, 0), -EINVAL);
    assert_int_equal(kc_zdesc_from_ticket(&d, a, nt, 0), -EINVAL);
    assert_int_equal(kc_zdesc_hydrate(NULL, a, &p, &len), -EINVAL);
    assert_int_equal(kc_zdesc_hydrate(&plain, NULL, &p, &len), -EINVAL);
    assert_int_equal(kc_zdesc_hydrate(&plain, a, &p, &len), -EINVAL); /* no ticket */
    assert_int_equal(kc_zdesc_retain(NULL, a, &c), -EINVAL);
    assert_int_equal(kc_zdesc_retain(&plain, NULL, &c), -EINVAL);
    assert_int_equal(kc_zdesc_retain(&plain, a, NULL), -EINVAL);
    assert_int_equal(kc_zdesc_retain(&plain, a, &c), -EINVAL);
    assert_int_equal(kc_zdesc_release(NULL, a), -EINVAL);
    assert_int_equal(kc_zdesc_release(&plain, NULL), -EINVAL);
    assert_int_equal(kc_zdesc_release(&plain, a), -EINVAL); /* owned, no ticket */
    assert_int_equal(kc_arena_unregister_region(a, r), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

static void test_abuse_zdesc_stale_copies_and_foreign_arenas(void **state)
{
    (void)state;
    kc_arena_t *a = small_arena(), *b = small_arena();
    kc_zdesc_t d, copy, stale, c2;
    kc_arena_ticket_t t;
    assert_int_equal(kc_zdesc_alloc(&d, a, 32, KC_ZDESC_READONLY), 0);
    assert_true(kc_zdesc_is_owned(&d));
    assert_true(kc_zdesc_has_ticket(&d));
    assert_int_equal(kc_zdesc_ticket(&d, &t), 0);
    assert_int_equal(kc_zdesc_hydrate(&d, b, NULL, NULL), -ESTALE); /* foreign */
    assert_int_equal(kc_zdesc_retain(&d, b, &copy), -ESTALE);
    assert_int_equal(kc_zdesc_from_ticket(&copy, b, t, 0), -ESTALE);
    kc_zdesc_t moved = d;
    moved.len = 31; /* pointer/length changed behind the arena's back */
    assert_int_equal(kc_zdesc_hydrate(&moved, a, NULL, NULL), -ESTALE);
    assert_int_equal(kc_zdesc_retain(&d, a, &copy), 0);
    stale = d;
    assert_int_equal(kc_zdesc_release(&d, a), 0);
    assert_int_equal(kc_zdesc_release(&d, a), -EINVAL); /* the same variable twice */
    assert_int_equal(kc_zdesc_release(&copy, a), 1);
    assert_int_equal(kc_zdesc_release(&stale, a), -ESTALE); /* a stale copy */
    assert_int_equal(kc_zdesc_hydrate(&stale, a, NULL, NULL), -ESTALE);
    assert_int_equal(kc_zdesc_retain(&stale, a, &c2), -ESTALE);
    assert_int_equal(kc_zdesc_from_ticket(&c2, a, t, 0), -ESTALE);
    kc_arena_metrics_t m;
    memset(&m, 0, sizeof(m));
    m.size = sizeof(m);
    assert_int_equal(kc_arena_metrics(a, &m), 0);
    assert_int_equal(m.live_tickets, 0);
    assert_int_equal(m.double_releases, 1);
    assert_int_equal(kc_arena_destroy(a), 0);
    assert_int_equal(kc_arena_destroy(b), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_zdesc_null_and_malformed_descriptors),
        cmocka_unit_test(test_abuse_zdesc_arena_calls_with_bad_arguments),
        cmocka_unit_test(test_abuse_zdesc_stale_copies_and_foreign_arenas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
