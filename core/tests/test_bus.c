/* test_bus.c - the graduated broadcast bus inside the assembled runtime.
 *
 * The bus's own behaviour is tested in lab/soa_bus; these tests check that
 * libkcoro carries it and that it works with the rest of the runtime
 * through the umbrella header: coroutine publishers and subscribers on the
 * scheduler, close and drain, and arena-ticket payloads. Results are
 * recorded inside coroutines and asserted after the join.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kcoro.h"

#include <string.h>

#define FAIL_NS ((int64_t)30 * 1000000000)
#define NSUB 4
#define NMSG 5000

struct world {
    kc_bus_pub_t *pub;
    kc_bus_sub_t *sub[NSUB];
    long got[NSUB], lagged[NSUB], bad[NSUB];
    int end[NSUB];
};

struct who {
    struct world *w;
    int i;
};

static int subscriber(void *arg)
{
    struct who *me = arg;
    struct world *w = me->w;
    uint64_t v[16], next = 0, missed;
    int rc;

    for (;;) {
        size_t n = 16;
        rc = kc_bus_recv_batch(w->sub[me->i], v, sizeof(v), &n, &missed, FAIL_NS, NULL);
        if (rc == KC_BUS_LAGGED) {
            w->lagged[me->i] += (long)missed;
            next += missed;
            continue;
        }
        if (rc != 0)
            break;
        for (size_t k = 0; k < n; k++, next++)
            if (v[k] != next)
                w->bad[me->i]++;
        w->got[me->i] += (long)n;
    }
    w->end[me->i] = rc;
    return 0;
}

static int publisher(void *arg)
{
    struct world *w = arg;
    for (uint64_t k = 0; k < NMSG; k++) {
        kc_bus_publish(w->pub, &k, sizeof(k));
        if (k % 16 == 15)
            kc_sched_yield(); /* let the subscribers run on this worker too */
    }
    kc_bus_pub_release(w->pub); /* close */
    return 0;
}

static void test_bus_coroutines_publish_and_subscribe_on_the_scheduler(void **state)
{
    (void)state;
    kc_sched_t *s;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    kc_bus_opts_t bo = {.size = sizeof(bo), .msg_size = sizeof(uint64_t), .expected_subs = NSUB};
    kc_bus_t *bus;
    kc_task_t *t[NSUB + 1];
    struct world w;
    struct who who[NSUB];

    memset(&w, 0, sizeof(w));
    o.nworkers = 2;
    assert_int_equal(kc_sched_create(&s, &o), 0);
    assert_int_equal(kc_bus_create(&bo, &bus, &w.pub), 0);
    for (int i = 0; i < NSUB; i++) {
        assert_int_equal(kc_bus_subscribe(bus, &w.sub[i]), 0);
        who[i] = (struct who){&w, i};
        assert_int_equal(kc_sched_spawn(s, &t[i], subscriber, &who[i], NULL), 0);
    }
    assert_int_equal(kc_sched_spawn(s, &t[NSUB], publisher, &w, NULL), 0);
    for (int i = 0; i <= NSUB; i++)
        assert_int_equal(kc_sched_join(t[i], NULL, FAIL_NS, NULL), 0);
    kc_bus_metrics_t m = {.size = sizeof(m)};
    assert_int_equal(kc_bus_metrics(bus, &m), 0);
    assert_int_equal(m.published, NMSG);
    assert_int_equal(m.cap_selected, 64); /* autotuned for 4 */
    for (int i = 0; i < NSUB; i++) {
        assert_int_equal(w.end[i], -EPIPE); /* drained, then closed */
        assert_int_equal(w.bad[i], 0);
        assert_int_equal(w.got[i] + w.lagged[i], NMSG); /* nothing lost unaccounted */
        kc_bus_unsubscribe(w.sub[i]);
    }
    assert_int_equal(kc_bus_check(bus), 0);
    kc_bus_release(bus);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_bus_carries_arena_tickets_and_releases_them(void **state)
{
    (void)state;
    kc_arena_t *a;
    kc_arena_opts_t ao = KC_ARENA_OPTS_INIT;
    kc_bus_opts_t bo = {.size = sizeof(bo), .capacity = 4};
    kc_bus_t *bus;
    kc_bus_pub_t *pub;
    kc_bus_sub_t *sub;
    kc_arena_ticket_t t;
    void *p;

    ao.bytes = (size_t)1 << 20;
    assert_int_equal(kc_arena_create(&a, &ao), 0);
    bo.arena = a;
    assert_int_equal(kc_bus_create(&bo, &bus, &pub), 0);
    assert_int_equal(kc_bus_subscribe(bus, &sub), 0);
    for (int k = 0; k < 6; k++) {
        assert_int_equal(kc_arena_alloc(a, 100, &t, &p), 0);
        memset(p, 'a' + k, 100);
        assert_int_equal(kc_bus_publish_ticket(pub, KC_BUS_MASK_ALL, t), 1);
    }
    uint64_t missed;
    assert_int_equal(kc_bus_try_recv_ticket(sub, &t, &missed), KC_BUS_LAGGED);
    assert_int_equal(missed, 2);
    assert_int_equal(kc_bus_recv_ticket(sub, &t, NULL, 0, NULL), 0);
    size_t len;
    assert_int_equal(kc_arena_hydrate(a, t, &p, &len), 0);
    assert_int_equal(len, 100);
    assert_int_equal(((const char *)p)[99], 'c');
    assert_int_equal(kc_arena_release(a, t), 0);
    assert_int_equal(kc_arena_release(a, t), 0); /* ours; the bus keeps one */
    kc_bus_unsubscribe(sub);
    kc_bus_pub_release(pub);
    kc_bus_release(bus);
    kc_arena_metrics_t am = {.size = sizeof(am)};
    assert_int_equal(kc_arena_metrics(a, &am), 0);
    assert_int_equal(am.live_tickets, 0);
    assert_int_equal(am.frees, 6);
    assert_int_equal(kc_arena_destroy(a), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bus_coroutines_publish_and_subscribe_on_the_scheduler),
        cmocka_unit_test(test_bus_carries_arena_tickets_and_releases_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
