/* test_abuse_arena.c - kcoro/arena.h called as a careless user would.
 *
 * Every public function of the header with NULL, zero, negative, huge and
 * stale arguments: each returns the documented negative errno (or is the
 * documented no-op) and changes nothing. mk/lint-abuse.sh holds every
 * public header to having such a file. Leaks show under ASan and Valgrind.
 */
#include "kcoro.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
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

static void test_abuse_arena_create_with_bad_options(void **state)
{
    (void)state;
    kc_arena_t *a = NULL;
    kc_arena_opts_t o = KC_ARENA_OPTS_INIT;
    assert_int_equal(kc_arena_create(NULL, &o), -EINVAL);
    o.size = 2; /* too small */
    assert_int_equal(kc_arena_create(&a, &o), -EINVAL);
    o = (kc_arena_opts_t)KC_ARENA_OPTS_INIT;
    o.page_size = 4097; /* not a power of two */
    assert_int_equal(kc_arena_create(&a, &o), -EINVAL);
    o.page_size = KC_ARENA_PAGE_MAX * 2;
    assert_int_equal(kc_arena_create(&a, &o), -EINVAL);
    o.page_size = 512; /* below the OS page */
    assert_int_equal(kc_arena_create(&a, &o), -EINVAL);
    o = (kc_arena_opts_t)KC_ARENA_OPTS_INIT;
    o.max_tickets = UINT32_MAX;
    assert_int_equal(kc_arena_create(&a, &o), -EINVAL);
    o.max_tickets = 0;
    o.bytes = 1; /* below one page: rounded up to one */
    assert_int_equal(kc_arena_create(&a, &o), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
    a = NULL;
    o.bytes = SIZE_MAX; /* too large to index */
    int rc = kc_arena_create(&a, &o);
    assert_true(rc == -EINVAL || rc == -ENOMEM);
    assert_null(a);
    assert_int_equal(kc_arena_destroy(NULL), 0);
    assert_int_equal(kc_arena_create(&a, NULL), 0); /* defaults */
    assert_int_equal(kc_arena_destroy(a), 0);
}

static void test_abuse_arena_null_and_null_tickets(void **state)
{
    (void)state;
    kc_arena_t *a = small_arena();
    kc_arena_ticket_t t = KC_ARENA_TICKET_NULL, nt = KC_ARENA_TICKET_NULL;
    void *p = NULL;
    size_t len = 0;
    char mem[256];
    kc_arena_metrics_t m;
    memset(&m, 0, sizeof(m));
    m.size = sizeof(m);
    assert_int_equal(kc_arena_alloc(NULL, 8, &t, &p), -EINVAL);
    assert_int_equal(kc_arena_alloc(a, 8, NULL, &p), -EINVAL);
    assert_int_equal(kc_arena_alloc(a, 0, &t, &p), -EINVAL);
    assert_int_equal(kc_arena_alloc(a, SIZE_MAX, &t, &p), -EMSGSIZE);
    assert_int_equal(kc_arena_alloc(a, (size_t)UINT32_MAX + 1, &t, &p), -EMSGSIZE);
    assert_int_equal(kc_arena_alloc(a, 2 << 20, &t, &p), -EMSGSIZE); /* above the arena */
    assert_int_equal(kc_arena_hydrate(NULL, nt, &p, &len), -EINVAL);
    assert_int_equal(kc_arena_hydrate(a, nt, &p, &len), -EINVAL);
    assert_int_equal(kc_arena_validate(NULL, nt, NULL, NULL), -EINVAL);
    assert_int_equal(kc_arena_validate(a, nt, NULL, NULL), -EINVAL);
    assert_int_equal(kc_arena_retain(NULL, nt), -EINVAL);
    assert_int_equal(kc_arena_retain(a, nt), -EINVAL);
    assert_int_equal(kc_arena_release(NULL, nt), -EINVAL);
    assert_int_equal(kc_arena_shrink(NULL, &nt, 8), -EINVAL);
    assert_int_equal(kc_arena_shrink(a, NULL, 8), -EINVAL);
    assert_int_equal(kc_arena_shrink(a, &nt, 8), -EINVAL);
    assert_int_equal(kc_arena_release(a, nt), -EINVAL);
    assert_int_equal(kc_arena_register_region(NULL, mem, sizeof(mem), 0), -EINVAL);
    assert_int_equal(kc_arena_register_region(a, NULL, sizeof(mem), 0), -EINVAL);
    assert_int_equal(kc_arena_register_region(a, mem, 0, 0), -EINVAL);
    assert_int_equal(kc_arena_register_region(a, mem, sizeof(mem), 0x80), -EINVAL);
    assert_int_equal(kc_arena_unregister_region(NULL, 1), -EINVAL);
    assert_int_equal(kc_arena_wrap(NULL, 1, mem, 8, &t), -EINVAL);
    kc_arena_flush(NULL); /* documented: accepted */
    assert_int_equal(kc_arena_purge(NULL), -EINVAL);
    assert_int_equal(kc_arena_metrics(NULL, &m), -EINVAL);
    assert_int_equal(kc_arena_metrics(a, NULL), -EINVAL);
    m.size = 1;
    assert_int_equal(kc_arena_metrics(a, &m), -EINVAL);
    assert_int_equal(kc_arena_dump(NULL, stdout, KC_ARENA_DUMP_TEXT), -EINVAL);
    assert_int_equal(kc_arena_dump(a, NULL, KC_ARENA_DUMP_TEXT), -EINVAL);
    assert_int_equal(kc_arena_dump(a, stdout, (kc_arena_dump_format_t)99), -EINVAL);
    assert_int_equal(kc_arena_check(NULL), -EINVAL);
    assert_int_equal(kc_arena_check(a), 0);
    m.size = sizeof(m);
    assert_int_equal(kc_arena_metrics(a, &m), 0);
    assert_int_equal(m.live_tickets, 0); /* nothing was issued */
    assert_int_equal(kc_arena_destroy(a), 0);
}

static void test_abuse_arena_stale_and_forged_tickets_and_regions(void **state)
{
    (void)state;
    kc_arena_t *a = small_arena(), *b = small_arena();
    kc_arena_ticket_t t, w;
    void *p = NULL;
    assert_int_equal(kc_arena_alloc(a, 64, &t, &p), 0);
    kc_arena_ticket_t forged = t;
    forged.check ^= 0x5a5a;
    assert_int_equal(kc_arena_hydrate(a, forged, NULL, NULL), -ESTALE);
    assert_int_equal(kc_arena_validate(b, t, NULL, NULL), -ESTALE); /* foreign */
    forged = t;
    forged.index = UINT32_MAX; /* beyond the table */
    assert_int_equal(kc_arena_retain(a, forged), -ESTALE);
    assert_int_equal(kc_arena_shrink(a, &forged, 8), -ESTALE);
    assert_int_equal(kc_arena_release(a, forged), -ESTALE);
    assert_int_equal(kc_arena_release(a, t), 1);
    assert_int_equal(kc_arena_release(a, t), -ESTALE); /* double release */
    assert_int_equal(kc_arena_hydrate(a, t, NULL, NULL), -ESTALE);
    assert_int_equal(kc_arena_retain(a, t), -ESTALE);
    assert_int_equal(kc_arena_validate(a, t, NULL, NULL), -ESTALE);
    static char mem[4096];
    int r = kc_arena_register_region(a, mem, sizeof(mem), 0);
    assert_true(r > 0);
    assert_int_equal(kc_arena_register_region(a, mem + 8, 8, 0), -EINVAL); /* overlap */
    assert_int_equal(kc_arena_register_region(a, p, 8, 0), -EINVAL);       /* arena RAM */
    assert_int_equal(kc_arena_wrap(a, r, NULL, 8, &w), -EINVAL);
    assert_int_equal(kc_arena_wrap(a, r, mem, 8, NULL), -EINVAL);
    assert_int_equal(kc_arena_wrap(a, r, mem, 0, &w), -EINVAL);
    assert_int_equal(kc_arena_wrap(a, r, mem, SIZE_MAX, &w), -EINVAL);
    assert_int_equal(kc_arena_wrap(a, r, mem + 4000, 200, &w), -EINVAL); /* outside */
    assert_int_equal(kc_arena_wrap(a, r + 1, mem, 8, &w), -ESTALE);
    assert_int_equal(kc_arena_wrap(a, -1, mem, 8, &w), -ESTALE);
    assert_int_equal(kc_arena_wrap(a, INT32_MAX, mem, 8, &w), -ESTALE);
    assert_int_equal(kc_arena_wrap(a, r, mem, 8, &w), 0);
    assert_int_equal(kc_arena_unregister_region(a, r), -EBUSY);
    assert_int_equal(kc_arena_release(a, w), 1);
    assert_int_equal(kc_arena_unregister_region(a, r), 0);
    assert_int_equal(kc_arena_unregister_region(a, r), -ESTALE); /* twice */
    assert_int_equal(kc_arena_unregister_region(a, 0), -ESTALE);
    assert_int_equal(kc_arena_unregister_region(a, -7), -ESTALE);
    assert_int_equal(kc_arena_unregister_region(a, INT32_MAX), -ESTALE);
    assert_int_equal(kc_arena_wrap(a, r, mem, 8, &w), -ESTALE); /* unregistered */
    kc_arena_flush(a);
    assert_true(kc_arena_purge(a) >= 0);
    FILE *devnull = fopen("/dev/null", "w");
    assert_non_null(devnull);
    assert_int_equal(kc_arena_dump(a, devnull, KC_ARENA_DUMP_JSON), 0);
    fclose(devnull);
    kc_arena_metrics_t m;
    memset(&m, 0, sizeof(m));
    m.size = sizeof(m);
    assert_int_equal(kc_arena_metrics(a, &m), 0);
    assert_int_equal(m.live_tickets, 0);
    assert_int_equal(m.double_releases, 1);
    assert_int_equal(kc_arena_check(a), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
    assert_int_equal(kc_arena_destroy(b), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_arena_create_with_bad_options),
        cmocka_unit_test(test_abuse_arena_null_and_null_tickets),
        cmocka_unit_test(test_abuse_arena_stale_and_forged_tickets_and_regions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
