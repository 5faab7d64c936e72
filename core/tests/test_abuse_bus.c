/* test_abuse_bus.c - kcoro/bus.h called as a careless user would.
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

static void test_abuse_bus_create_with_bad_options(void **state)
{
    (void)state;
    kc_bus_t *bus = NULL;
    kc_bus_pub_t *pub = NULL;
    kc_bus_opts_t o = {sizeof(o), 8, 0, 1, NULL, 0, NULL};
    assert_int_equal(kc_bus_create(NULL, &bus, &pub), -EINVAL);
    assert_int_equal(kc_bus_create(&o, NULL, &pub), -EINVAL);
    assert_int_equal(kc_bus_create(&o, &bus, NULL), -EINVAL);
    o.size = 1;
    assert_int_equal(kc_bus_create(&o, &bus, &pub), -EINVAL);
    o.size = sizeof(o);
    o.msg_size = 0;
    assert_int_equal(kc_bus_create(&o, &bus, &pub), -EINVAL);
    o.msg_size = KC_BUS_MSG_MAX + 1;
    assert_int_equal(kc_bus_create(&o, &bus, &pub), -EINVAL);
    o.msg_size = SIZE_MAX;
    assert_int_equal(kc_bus_create(&o, &bus, &pub), -EINVAL);
    o.msg_size = 8;
    o.capacity = 3; /* not a power of two */
    assert_int_equal(kc_bus_create(&o, &bus, &pub), -EINVAL);
    o.capacity = 1;
    assert_int_equal(kc_bus_create(&o, &bus, &pub), -EINVAL);
    o.capacity = KC_BUS_CAP_MAX * 2;
    assert_int_equal(kc_bus_create(&o, &bus, &pub), -EINVAL);
    o.capacity = UINT32_MAX;
    assert_int_equal(kc_bus_create(&o, &bus, &pub), -EINVAL);
    assert_int_equal(kc_bus_autotune(0, 0), 64);
    assert_int_equal(kc_bus_autotune(UINT32_MAX, 0), 256);
    assert_int_equal(kc_bus_autotune(1, UINT32_MAX), UINT32_MAX); /* explicit: as is */
    kc_bus_release(NULL);                                         /* documented no-ops */
    kc_bus_pub_release(NULL);
    kc_bus_unsubscribe(NULL);
}

static void test_abuse_bus_null_handles(void **state)
{
    (void)state;
    uint64_t v = 0, missed = 0, batch[2];
    size_t n = 2;
    kc_bus_pub_t *p2 = NULL;
    kc_bus_sub_t *sub = NULL;
    kc_arena_ticket_t tk = KC_ARENA_TICKET_NULL;
    kc_bus_metrics_t m;
    kc_bus_sub_metrics_t sm;
    memset(&m, 0, sizeof(m));
    memset(&sm, 0, sizeof(sm));
    m.size = sizeof(m);
    sm.size = sizeof(sm);
    assert_int_equal(kc_bus_msg_size(NULL), 0);
    assert_int_equal(kc_bus_pub_clone(NULL, &p2), -EINVAL);
    assert_int_equal(kc_bus_publish(NULL, &v, 8), -EINVAL);
    assert_int_equal(kc_bus_publish_with_mask(NULL, 1, &v, 8), -EINVAL);
    assert_int_equal(kc_bus_publish_batch(NULL, 1, batch, 2), -EINVAL);
    assert_int_equal(kc_bus_subscribe(NULL, &sub), -EINVAL);
    assert_int_equal(kc_bus_subscribe_with_mask(NULL, 1, &sub), -EINVAL);
    assert_int_equal(kc_bus_try_recv(NULL, &v, 8, &missed), -EINVAL);
    assert_int_equal(kc_bus_try_recv_batch(NULL, batch, sizeof(batch), &n, &missed), -EINVAL);
    assert_int_equal(kc_bus_recv(NULL, &v, 8, &missed, INT64_MAX, NULL), -EINVAL);
    assert_int_equal(kc_bus_recv_batch(NULL, batch, sizeof(batch), &n, &missed, -5, NULL), -EINVAL);
    assert_int_equal(kc_bus_publish_ticket(NULL, 1, tk), -EINVAL);
    assert_int_equal(kc_bus_try_recv_ticket(NULL, &tk, &missed), -EINVAL);
    assert_int_equal(kc_bus_recv_ticket(NULL, &tk, &missed, INT64_MIN, NULL), -EINVAL);
    assert_int_equal(kc_bus_metrics(NULL, &m), -EINVAL);
    assert_int_equal(kc_bus_sub_metrics(NULL, &sm), -EINVAL);
    assert_int_equal(kc_bus_check(NULL), -EINVAL);
}

static void test_abuse_bus_bad_arguments_on_a_live_bus(void **state)
{
    (void)state;
    kc_bus_t *bus = NULL;
    kc_bus_pub_t *pub = NULL, *p2 = NULL;
    kc_bus_sub_t *sub = NULL, *subs[KC_BUS_MAX_SUBS];
    kc_bus_opts_t o = {sizeof(o), 8, 4, 1, NULL, 0, NULL};
    uint64_t v = 5, missed = 0, batch[4] = {0};
    size_t n = 0;
    kc_arena_ticket_t tk = KC_ARENA_TICKET_NULL;
    assert_int_equal(kc_bus_create(&o, &bus, &pub), 0);
    assert_int_equal(kc_bus_msg_size(bus), 8);
    assert_int_equal(kc_bus_pub_clone(pub, NULL), -EINVAL);
    assert_int_equal(kc_bus_subscribe(bus, NULL), -EINVAL);
    assert_int_equal(kc_bus_subscribe_with_mask(bus, 0, &sub), -EINVAL);
    assert_int_equal(kc_bus_subscribe(bus, &sub), 0);
    assert_int_equal(kc_bus_publish(pub, NULL, 8), -EINVAL);
    assert_int_equal(kc_bus_publish(pub, &v, 9), -EMSGSIZE);
    assert_int_equal(kc_bus_publish(pub, &v, SIZE_MAX), -EMSGSIZE);
    assert_int_equal(kc_bus_publish_with_mask(pub, 0, &v, 8), -EINVAL);
    assert_int_equal(kc_bus_publish_batch(pub, KC_BUS_MASK_ALL, NULL, 1), -EINVAL);
    assert_int_equal(kc_bus_publish_batch(pub, KC_BUS_MASK_ALL, batch, 0), -EINVAL);
    assert_int_equal(kc_bus_publish_batch(pub, KC_BUS_MASK_ALL, batch, (size_t)INT_MAX + 1),
                     -EINVAL);
    assert_int_equal(kc_bus_publish_batch(pub, 0, batch, 1), -EINVAL);
    assert_int_equal(kc_bus_try_recv(sub, NULL, 8, &missed), -EINVAL);
    assert_int_equal(kc_bus_try_recv(sub, &v, 7, &missed), -EMSGSIZE);
    assert_int_equal(kc_bus_try_recv(sub, &v, 8, NULL), -EAGAIN); /* missed may be NULL */
    assert_int_equal(kc_bus_try_recv_batch(sub, batch, sizeof(batch), NULL, &missed), -EINVAL);
    assert_int_equal(kc_bus_try_recv_batch(sub, batch, sizeof(batch), &n, &missed), -EINVAL);
    n = 5; /* room for 5, buffer for 4 */
    assert_int_equal(kc_bus_try_recv_batch(sub, batch, sizeof(batch), &n, &missed), -EMSGSIZE);
    assert_int_equal(kc_bus_recv(sub, &v, 8, &missed, -5, NULL), -EAGAIN);
    assert_int_equal(kc_bus_recv(sub, &v, 8, &missed, INT64_MIN, NULL), -EAGAIN);
    n = 4;
    assert_int_equal(kc_bus_recv_batch(sub, batch, sizeof(batch), &n, &missed, -5, NULL), -EAGAIN);
    /* the ticket calls on a byte bus */
    assert_int_equal(kc_bus_publish_ticket(pub, KC_BUS_MASK_ALL, tk), -EINVAL); /* null */
    assert_int_equal(kc_bus_try_recv_ticket(sub, &tk, &missed), -ENOTSUP);
    assert_int_equal(kc_bus_try_recv_ticket(sub, NULL, &missed), -EINVAL);
    assert_int_equal(kc_bus_recv_ticket(sub, &tk, &missed, INT64_MAX, NULL), -ENOTSUP);
    kc_bus_metrics_t m;
    kc_bus_sub_metrics_t sm;
    memset(&m, 0, sizeof(m));
    memset(&sm, 0, sizeof(sm));
    m.size = 1;
    assert_int_equal(kc_bus_metrics(bus, &m), -EINVAL);
    assert_int_equal(kc_bus_metrics(bus, NULL), -EINVAL);
    sm.size = 1;
    assert_int_equal(kc_bus_sub_metrics(sub, &sm), -EINVAL);
    assert_int_equal(kc_bus_sub_metrics(sub, NULL), -EINVAL);
    m.size = sizeof(m);
    assert_int_equal(kc_bus_metrics(bus, &m), 0);
    assert_int_equal(m.published, 0); /* no bad call published anything */
    /* every subscriber slot taken: one more is -EBUSY */
    int k = 0;
    while (k < KC_BUS_MAX_SUBS && kc_bus_subscribe(bus, &subs[k]) == 0)
        k++;
    assert_int_equal(k, KC_BUS_MAX_SUBS - 1);
    kc_bus_sub_t *extra = NULL;
    assert_int_equal(kc_bus_subscribe(bus, &extra), -EBUSY);
    while (k > 0)
        kc_bus_unsubscribe(subs[--k]);
    assert_int_equal(kc_bus_check(bus), 0);
    /* the last publisher handle closes the bus */
    assert_int_equal(kc_bus_pub_clone(pub, &p2), 0);
    kc_bus_pub_release(pub);
    kc_bus_pub_release(p2);
    assert_int_equal(kc_bus_recv(sub, &v, 8, &missed, INT64_MAX, NULL), -EPIPE);
    assert_int_equal(kc_bus_subscribe(bus, &extra), -EPIPE);
    kc_bus_unsubscribe(sub);
    kc_bus_release(bus);
}

static void test_abuse_bus_ticket_bus_refuses_bytes_and_bad_topics(void **state)
{
    (void)state;
    kc_arena_t *a = NULL;
    kc_arena_opts_t ao = KC_ARENA_OPTS_INIT;
    ao.bytes = 1 << 16;
    assert_int_equal(kc_arena_create(&a, &ao), 0);
    kc_bus_t *bus = NULL;
    kc_bus_pub_t *pub = NULL;
    kc_bus_sub_t *sub = NULL;
    kc_bus_opts_t o = {sizeof(o), 3, 0, 1, a, 0, NULL}; /* a ticket bus takes no other size */
    assert_int_equal(kc_bus_create(&o, &bus, &pub), -EINVAL);
    o.msg_size = 0;
    assert_int_equal(kc_bus_create(&o, &bus, &pub), 0);
    assert_int_equal(kc_bus_subscribe(bus, &sub), 0);
    uint64_t v = 1, missed = 0, batch[2];
    size_t n = 2;
    kc_arena_ticket_t tk, got;
    assert_int_equal(kc_bus_publish(pub, &v, sizeof(v)), -ENOTSUP);
    assert_int_equal(kc_bus_publish_batch(pub, KC_BUS_MASK_ALL, batch, 1), -ENOTSUP);
    assert_int_equal(kc_bus_try_recv(sub, &batch, sizeof(batch), &missed), -ENOTSUP);
    assert_int_equal(kc_bus_try_recv_batch(sub, batch, sizeof(batch), &n, &missed), -ENOTSUP);
    assert_int_equal(kc_bus_recv(sub, &batch, sizeof(batch), &missed, 0, NULL), -ENOTSUP);
    assert_int_equal(kc_arena_alloc(a, 16, &tk, NULL), 0);
    assert_int_equal(kc_bus_publish_ticket(pub, 0, tk), -EINVAL); /* no topics */
    assert_int_equal(kc_bus_recv_ticket(sub, &got, &missed, -5, NULL), -EAGAIN);
    assert_int_equal(kc_bus_publish_ticket(pub, KC_BUS_MASK_ALL, tk), 1); /* TAKES tk */
    assert_int_equal(kc_bus_recv_ticket(sub, &got, &missed, INT64_MAX, NULL), 0);
    assert_int_equal(kc_arena_release(a, got), 0); /* the bus still holds one */
    kc_bus_unsubscribe(sub);
    kc_bus_pub_release(pub);
    kc_bus_release(bus); /* drops the bus's reference */
    kc_arena_metrics_t m;
    memset(&m, 0, sizeof(m));
    m.size = sizeof(m);
    assert_int_equal(kc_arena_metrics(a, &m), 0);
    assert_int_equal(m.live_tickets, 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse_bus_create_with_bad_options),
        cmocka_unit_test(test_abuse_bus_null_handles),
        cmocka_unit_test(test_abuse_bus_bad_arguments_on_a_live_bus),
        cmocka_unit_test(test_abuse_bus_ticket_bus_refuses_bytes_and_bad_topics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
