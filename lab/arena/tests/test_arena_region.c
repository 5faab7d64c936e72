/* test_arena_region.c - external regions: zero-copy tickets into caller memory.
 *
 * One test per row of the region state table in kc_arena_region.c:
 * register, wrap, last release, unregister, -EBUSY while tickets are live,
 * -ESTALE for unregistered or recycled ids, plus argument checks (overlaps,
 * ranges, flags), the 255-region limit, and a race between wraps and
 * unregister attempts that must leave the use count exact (I6).
 */
#include "kc_arena_impl.h"
#include "kc_arena_test.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

static char buf[1 << 16];

static void test_arena_region_ticket_points_into_caller_memory(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 0, 0);
    int id = kc_arena_register_region(a, buf, sizeof(buf), 0);
    assert_true(id > 0);
    kc_arena_ticket_t t;
    assert_int_equal(kc_arena_wrap(a, id, buf + 100, 500, &t), 0);
    void *p;
    size_t len;
    assert_int_equal(kc_arena_hydrate(a, t, &p, &len), 0);
    assert_ptr_equal(p, buf + 100); /* no copy */
    assert_int_equal(len, 500);
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.regions, 1);
    assert_int_equal(m.region_tickets, 1);
    assert_int_equal(m.live_tickets, 1);
    assert_int_equal(m.live_bytes, 0); /* region bytes are not arena bytes */
    assert_int_equal(m.allocs, 0);
    assert_int_equal(kc_arena_release(a, t), 0);
    assert_int_equal(kc_arena_release(a, t), 1);
    assert_int_equal(kc_arena_hydrate(a, t, &p, &len), -ESTALE);
    m = kc_at_metrics(a);
    assert_int_equal(m.region_tickets, 0);
    assert_int_equal(m.live_tickets, 0);
    assert_int_equal(kc_arena_check(a), 0);
    assert_int_equal(kc_arena_unregister_region(a, id), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

static void test_arena_unregister_with_live_tickets_is_ebusy(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 0, 0);
    int id = kc_arena_register_region(a, buf, sizeof(buf), KC_ARENA_REGION_RDONLY);
    kc_arena_ticket_t t1, t2;
    assert_int_equal(kc_arena_wrap(a, id, buf, 1, &t1), 0);
    assert_int_equal(kc_arena_wrap(a, id, buf + sizeof(buf) - 10, 10, &t2), 0);
    assert_int_equal(kc_arena_unregister_region(a, id), -EBUSY);
    assert_int_equal(kc_arena_release(a, t1), 1);
    assert_int_equal(kc_arena_unregister_region(a, id), -EBUSY);
    assert_int_equal(kc_arena_check(a), 0);
    assert_int_equal(kc_arena_release(a, t2), 1);
    assert_int_equal(kc_arena_unregister_region(a, id), 0);
    assert_int_equal(kc_at_metrics(a).regions, 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

static void test_arena_unregistered_region_id_is_stale(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 0, 0);
    kc_arena_ticket_t t;
    int id = kc_arena_register_region(a, buf, sizeof(buf), 0);
    assert_int_equal(kc_arena_unregister_region(a, id), 0);
    assert_int_equal(kc_arena_unregister_region(a, id), -ESTALE);
    assert_int_equal(kc_arena_wrap(a, id, buf, 8, &t), -ESTALE);
    /* The slot is reused under a new generation: the old id stays dead. */
    int id2 = kc_arena_register_region(a, buf, sizeof(buf), 0);
    assert_true(id2 > 0);
    assert_int_not_equal(id2, id);
    assert_int_equal(id2 & 0xff, id & 0xff);
    assert_int_equal(kc_arena_wrap(a, id, buf, 8, &t), -ESTALE);
    assert_int_equal(kc_arena_unregister_region(a, id), -ESTALE);
    assert_int_equal(kc_arena_wrap(a, id2, buf, 8, &t), 0);
    assert_int_equal(kc_arena_release(a, t), 1);
    assert_int_equal(kc_arena_wrap(a, 0, buf, 8, &t), -ESTALE);
    assert_int_equal(kc_arena_wrap(a, -5, buf, 8, &t), -ESTALE);
    assert_int_equal(kc_arena_unregister_region(a, 1000), -ESTALE);
    assert_int_equal(kc_arena_unregister_region(a, id2), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

static void test_arena_region_arguments_are_checked(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 0, 0);
    kc_arena_ticket_t t;
    assert_int_equal(kc_arena_register_region(NULL, buf, 10, 0), -EINVAL);
    assert_int_equal(kc_arena_register_region(a, NULL, 10, 0), -EINVAL);
    assert_int_equal(kc_arena_register_region(a, buf, 0, 0), -EINVAL);
    assert_int_equal(kc_arena_register_region(a, buf, 10, 0x80), -EINVAL);
    /* The arena's own RAM cannot be a region. */
    void *inside;
    assert_int_equal(kc_arena_alloc(a, 64, &t, &inside), 0);
    assert_int_equal(kc_arena_register_region(a, inside, 64, 0), -EINVAL);
    assert_int_equal(kc_arena_release(a, t), 1);
    int id = kc_arena_register_region(a, buf + 1000, 1000, 0);
    assert_true(id > 0);
    /* Overlaps with a registered region, on either side or inside. */
    assert_int_equal(kc_arena_register_region(a, buf + 500, 501, 0), -EINVAL);
    assert_int_equal(kc_arena_register_region(a, buf + 1999, 10, 0), -EINVAL);
    assert_int_equal(kc_arena_register_region(a, buf + 1200, 10, 0), -EINVAL);
    int id2 = kc_arena_register_region(a, buf + 2000, 10, 0); /* adjacent is fine */
    assert_true(id2 > 0);
    /* Wraps must stay inside the region. */
    assert_int_equal(kc_arena_wrap(a, id, buf + 999, 1, &t), -EINVAL);
    assert_int_equal(kc_arena_wrap(a, id, buf + 1990, 11, &t), -EINVAL);
    assert_int_equal(kc_arena_wrap(a, id, buf + 1000, 0, &t), -EINVAL);
    assert_int_equal(kc_arena_wrap(a, id, NULL, 1, &t), -EINVAL);
    assert_int_equal(kc_arena_wrap(a, id, buf + 1000, 1, NULL), -EINVAL);
    assert_int_equal(kc_arena_wrap(a, id, buf + 1990, 10, &t), 0);
    assert_int_equal(kc_arena_release(a, t), 1);
    assert_int_equal(kc_at_metrics(a).region_tickets, 0);
    assert_int_equal(kc_arena_unregister_region(NULL, id), -EINVAL);
    assert_int_equal(kc_arena_unregister_region(a, id), 0);
    assert_int_equal(kc_arena_unregister_region(a, id2), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

static void test_arena_region_table_full_is_enomem(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 0, 0);
    int ids[KC_ARENA_REGIONS_MAX];
    for (int i = 0; i < KC_ARENA_REGIONS_MAX; i++) {
        ids[i] = kc_arena_register_region(a, buf + i * 16, 16, 0);
        assert_true(ids[i] > 0);
    }
    assert_int_equal(kc_arena_register_region(a, buf + 60000, 16, 0), -ENOMEM);
    assert_int_equal(kc_at_metrics(a).regions, KC_ARENA_REGIONS_MAX);
    assert_int_equal(kc_arena_unregister_region(a, ids[7]), 0);
    assert_true(kc_arena_register_region(a, buf + 60000, 16, 0) > 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

struct wrapper {
    kc_arena_t *a;
    int id;
    long rounds, iters;
    long wrapped, released, stale, bad;
    _Atomic long attempts; /* unregister attempts so far, by the main thread */
    _Atomic int done;
};

static void *wrap_main(void *arg)
{
    struct wrapper *w = arg;
    /* Keep going until the main thread has really raced us a while. */
    for (long i = 0; i < w->rounds || atomic_load(&w->attempts) < w->rounds / 100 + 1; i++) {
        w->iters++;
        kc_arena_ticket_t t;
        int rc = kc_arena_wrap(w->a, w->id, buf + (i % 1000), 64, &t);
        if (rc == -ESTALE) {
            w->stale++;
            continue;
        }
        if (rc != 0) {
            w->bad++;
            continue;
        }
        w->wrapped++;
        w->released += kc_arena_release(w->a, t) == 1;
    }
    atomic_store_explicit(&w->done, 1, memory_order_release);
    return NULL;
}

/* Unregister attempts race a thread that wraps and releases: each attempt
 * gets -EBUSY or succeeds when no ticket is live; after a success the
 * wrapper sees -ESTALE until the region is registered again. */
static void test_arena_unregister_races_wraps(void **state)
{
    (void)state;
    struct wrapper w = {.a = kc_at_arena(1 << 20, 0, 0), .rounds = kc_at_scaled(400000)};
    w.id = kc_arena_register_region(w.a, buf, sizeof(buf), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wrap_main, &w), 0);
    long ok = 0, busy = 0, other = 0;
    int id = w.id;
    while (!atomic_load_explicit(&w.done, memory_order_acquire)) {
        int rc = kc_arena_unregister_region(w.a, id);
        atomic_fetch_add(&w.attempts, 1);
        if (rc == -EBUSY) {
            busy++;
        } else if (rc == 0) {
            ok++;
            /* Register again: the wrapper keeps using its old id, which is
             * now stale, so it counts -ESTALE from here on. */
            id = kc_arena_register_region(w.a, buf, sizeof(buf), 0);
            if (id <= 0)
                other++;
        } else {
            other++;
        }
    }
    pthread_join(th, NULL);
    assert_int_equal(other, 0);
    assert_int_equal(w.bad, 0);
    assert_int_equal(w.wrapped, w.released);
    assert_int_equal(w.wrapped + w.stale, w.iters);
    assert_int_equal(ok + busy, atomic_load(&w.attempts));
    assert_true(ok + busy >= w.rounds / 100 + 1);
    if (ok == 0)
        assert_int_equal(w.stale, 0);
    kc_arena_metrics_t m = kc_at_metrics(w.a);
    assert_int_equal(m.region_tickets, 0);
    assert_int_equal(m.live_tickets, 0);
    assert_int_equal(m.regions, 1);
    assert_int_equal(kc_arena_check(w.a), 0);
    assert_int_equal(kc_arena_unregister_region(w.a, id), 0);
    assert_int_equal(kc_arena_destroy(w.a), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_region_ticket_points_into_caller_memory),
        cmocka_unit_test(test_arena_unregister_with_live_tickets_is_ebusy),
        cmocka_unit_test(test_arena_unregistered_region_id_is_stale),
        cmocka_unit_test(test_arena_region_arguments_are_checked),
        cmocka_unit_test(test_arena_region_table_full_is_enomem),
        cmocka_unit_test(test_arena_unregister_races_wraps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
