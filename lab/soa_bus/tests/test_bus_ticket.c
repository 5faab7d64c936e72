/* test_bus_ticket.c - out-of-line payloads: arena tickets on the bus.
 *
 * A bus created with an arena owns one reference per ticket in its ring
 * and drops it when the slot is overwritten or the bus is freed; a reader
 * gets its own reference. Whatever happens to a ticket (read, overwritten,
 * left in the ring at close, read and then overwritten, raced by a reader
 * under overwrite), every ticket must be released exactly once: the tests
 * end with zero live tickets and zero double releases in the arena.
 */
#include "bus_test_util.h"
#include "kc_bus_impl.h"

#include <pthread.h>

#define FAIL_NS ((int64_t)30 * 1000000000)

static kc_arena_t *new_arena(void)
{
    kc_arena_opts_t o = KC_ARENA_OPTS_INIT;
    kc_arena_t *a = NULL;
    o.bytes = (size_t)4 << 20;
    assert_int_equal(kc_arena_create(&a, &o), 0);
    return a;
}

static kc_bus_t *ticket_bus(kc_arena_t *a, uint32_t cap, kc_bus_pub_t **pub)
{
    kc_bus_opts_t o = {.size = sizeof(o), .capacity = cap, .arena = a};
    kc_bus_t *b = NULL;
    assert_int_equal(kc_bus_create(&o, &b, pub), 0);
    return b;
}

static kc_arena_metrics_t arena_m(kc_arena_t *a)
{
    kc_arena_metrics_t m = {.size = sizeof(m)};
    assert_int_equal(kc_arena_metrics(a, &m), 0);
    return m;
}

/* A ticket whose payload is a checksummed bus_payload_t for (pub, seq). */
static kc_arena_ticket_t make_ticket(kc_arena_t *a, uint64_t pub, uint64_t seq)
{
    kc_arena_ticket_t t;
    void *p;
    assert_int_equal(kc_arena_alloc(a, sizeof(bus_payload_t), &t, &p), 0);
    bus_payload_make(p, pub, seq);
    return t;
}

/* The payload behind a ticket the caller holds a reference to. */
static bus_payload_t read_ticket(kc_arena_t *a, kc_arena_ticket_t t)
{
    bus_payload_t out;
    void *p;
    size_t len;
    assert_int_equal(kc_arena_hydrate(a, t, &p, &len), 0);
    assert_int_equal(len, sizeof(out));
    memcpy(&out, p, sizeof(out));
    assert_int_equal(kc_arena_release(a, t), 0); /* the hydrate's reference */
    return out;
}

/* Four outcomes on one bus: overwritten unread, read, read and then
 * overwritten, left in the ring at close (read by one subscriber, never by
 * the other). 20 tickets through a ring of 8. */
static void test_bus_ticket_is_released_once_read_overwritten_or_left_at_close(void **state)
{
    (void)state;
    kc_arena_t *a = new_arena();
    kc_bus_pub_t *p;
    kc_bus_t *b = ticket_bus(a, 8, &p);
    kc_bus_sub_t *reader, *idle;
    kc_arena_ticket_t t, held[4];
    uint64_t missed = 0;

    assert_int_equal(kc_bus_subscribe(b, &reader), 0);
    assert_int_equal(kc_bus_subscribe(b, &idle), 0);
    for (uint64_t k = 0; k < 12; k++) /* 0..3 will be overwritten unread */
        assert_int_equal(kc_bus_publish_ticket(p, KC_BUS_MASK_ALL, make_ticket(a, 0, k)), 2);
    assert_int_equal(kc_bus_try_recv_ticket(reader, &t, &missed), KC_BUS_LAGGED);
    assert_int_equal(missed, 4);
    for (uint64_t k = 4; k < 8; k++) { /* read, and kept while overwritten */
        assert_int_equal(kc_bus_try_recv_ticket(reader, &held[k - 4], NULL), 0);
        assert_int_equal(read_ticket(a, held[k - 4]).seq, k);
    }
    for (uint64_t k = 12; k < 20; k++) /* overwrites 4..11 */
        assert_int_equal(kc_bus_publish_ticket(p, KC_BUS_MASK_ALL, make_ticket(a, 0, k)), 2);
    assert_int_equal(bus_m(b).tickets_released, 12);
    for (int i = 0; i < 4; i++) { /* the reader's references outlived the slots */
        assert_int_equal(read_ticket(a, held[i]).seq, 4 + (uint64_t)i);
        assert_int_equal(kc_arena_release(a, held[i]), 1); /* the last one: freed */
    }
    assert_int_equal(kc_bus_try_recv_ticket(reader, &t, &missed), KC_BUS_LAGGED);
    assert_int_equal(missed, 4);         /* 8..11 */
    for (uint64_t k = 12; k < 15; k++) { /* read 12..14, leave 15..19 */
        assert_int_equal(kc_bus_try_recv_ticket(reader, &t, NULL), 0);
        assert_int_equal(read_ticket(a, t).seq, k);
        assert_int_equal(kc_arena_release(a, t), 0); /* the bus still holds one */
    }
    kc_bus_pub_release(p); /* close: 8 tickets left in the ring */
    kc_bus_sub_metrics_t sm = bus_sm(reader);
    assert_int_equal(sm.delivered + sm.lagged, 15);
    assert_int_equal(arena_m(a).live_tickets, 8);
    kc_bus_unsubscribe(reader);
    kc_bus_unsubscribe(idle);
    kc_bus_metrics_t m = bus_m(b);
    assert_int_equal(m.tickets_released, 12);
    assert_int_equal(m.tickets_stale, 0);
    kc_bus_release(b); /* the last handle: the ring's 8 go */
    kc_arena_metrics_t am = arena_m(a);
    assert_int_equal(am.allocs, 20);
    assert_int_equal(am.frees, 20);
    assert_int_equal(am.live_tickets, 0);
    assert_int_equal(am.double_releases, 0);
    assert_int_equal(am.stale_rejections, 0);
    assert_int_equal(kc_arena_check(a), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

/* Nobody subscribed, nobody read: the bus alone releases everything. */
static void test_bus_ticket_without_readers_is_released_by_the_bus(void **state)
{
    (void)state;
    kc_arena_t *a = new_arena();
    kc_bus_pub_t *p;
    kc_bus_t *b = ticket_bus(a, 4, &p);

    for (uint64_t k = 0; k < 10; k++)
        assert_int_equal(kc_bus_publish_ticket(p, KC_BUS_MASK_ALL, make_ticket(a, 0, k)), 0);
    assert_int_equal(bus_m(b).no_receivers, 10);
    assert_int_equal(arena_m(a).live_tickets, 4);
    kc_bus_release(b); /* the publisher handle still holds the bus */
    assert_int_equal(arena_m(a).live_tickets, 4);
    kc_bus_pub_release(p);
    kc_arena_metrics_t am = arena_m(a);
    assert_int_equal(am.live_tickets, 0);
    assert_int_equal(am.frees, 10);
    assert_int_equal(am.double_releases, 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

static void test_bus_ticket_calls_refuse_the_wrong_kind_of_bus(void **state)
{
    (void)state;
    kc_arena_t *a = new_arena();
    kc_bus_pub_t *p, *bp;
    kc_bus_t *b = ticket_bus(a, 4, &p);
    kc_bus_t *bytes = bus_new(sizeof(uint64_t), 4, 1, &bp);
    kc_bus_sub_t *s, *bs;
    kc_arena_ticket_t t = make_ticket(a, 0, 1), none = KC_ARENA_TICKET_NULL;
    uint64_t v = 0;
    size_t n = 1;

    kc_bus_opts_t o = {.size = sizeof(o), .msg_size = 8, .arena = a};
    kc_bus_t *bad;
    kc_bus_pub_t *badp;
    assert_int_equal(kc_bus_create(&o, &bad, &badp), -EINVAL); /* msg_size is a ticket's */
    assert_int_equal(kc_bus_msg_size(b), sizeof(kc_arena_ticket_t));
    assert_int_equal(kc_bus_subscribe(b, &s), 0);
    assert_int_equal(kc_bus_subscribe(bytes, &bs), 0);
    assert_int_equal(kc_bus_publish(p, &v, sizeof(v)), -ENOTSUP);
    assert_int_equal(kc_bus_publish_batch(p, KC_BUS_MASK_ALL, &t, 1), -ENOTSUP);
    assert_int_equal(kc_bus_publish_ticket(bp, KC_BUS_MASK_ALL, t), -ENOTSUP);
    assert_int_equal(kc_bus_publish_ticket(p, KC_BUS_MASK_ALL, none), -EINVAL);
    assert_int_equal(kc_bus_publish_ticket(p, 0, t), -EINVAL);
    assert_int_equal(kc_bus_publish_ticket(NULL, KC_BUS_MASK_ALL, t), -EINVAL);
    assert_int_equal(arena_m(a).live_tickets, 1); /* still ours after each failure */
    assert_int_equal(kc_bus_publish_ticket(p, KC_BUS_MASK_ALL, t), 1);
    assert_int_equal(kc_bus_try_recv(s, &t, sizeof(t), NULL), -ENOTSUP);
    assert_int_equal(kc_bus_try_recv_batch(s, &t, sizeof(t), &n, NULL), -ENOTSUP);
    assert_int_equal(kc_bus_recv(s, &t, sizeof(t), NULL, 0, NULL), -ENOTSUP);
    assert_int_equal(kc_bus_try_recv_ticket(bs, &t, NULL), -ENOTSUP);
    assert_int_equal(kc_bus_try_recv_ticket(s, NULL, NULL), -EINVAL);
    assert_int_equal(kc_bus_recv_ticket(s, &t, NULL, FAIL_NS, NULL), 0);
    assert_int_equal(read_ticket(a, t).seq, 1);
    assert_int_equal(kc_arena_release(a, t), 0);
    assert_int_equal(kc_bus_recv_ticket(s, &t, NULL, 0, NULL), -EAGAIN);
    kc_bus_unsubscribe(s);
    kc_bus_unsubscribe(bs);
    kc_bus_pub_release(p);
    kc_bus_pub_release(bp);
    kc_bus_release(b);
    kc_bus_release(bytes);
    assert_int_equal(arena_m(a).live_tickets, 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

/* White-box: the slot's ticket goes stale between a reader's validated copy
 * and its retain (a publisher overwrote the slot and the bus released the
 * ticket in that window). Simulated by putting an already released ticket
 * in the slot's words; the reader must count one lagged message. */
static void test_bus_ticket_gone_before_retain_counts_as_one_lagged(void **state)
{
    (void)state;
    kc_arena_t *a = new_arena();
    kc_bus_pub_t *p;
    kc_bus_t *b = ticket_bus(a, 4, &p);
    kc_bus_sub_t *s;
    kc_arena_ticket_t t, gone = make_ticket(a, 9, 9), live = make_ticket(a, 0, 0);
    uint64_t missed = 0, words[2];

    assert_int_equal(kc_arena_release(a, gone), 1);
    assert_int_equal(kc_bus_subscribe(b, &s), 0);
    assert_int_equal(kc_bus_publish_ticket(p, KC_BUS_MASK_ALL, live), 1);
    memcpy(words, &gone, sizeof(words));
    atomic_store(&KC_BUS_MSG(b, 0)[0], words[0]);
    atomic_store(&KC_BUS_MSG(b, 0)[1], words[1]);
    assert_int_equal(kc_bus_check(b), -EPROTO); /* invariant 10 */
    assert_int_equal(kc_bus_try_recv_ticket(s, &t, &missed), KC_BUS_LAGGED);
    assert_int_equal(missed, 1);
    assert_int_equal(kc_bus_try_recv_ticket(s, &t, &missed), -EAGAIN);
    kc_bus_sub_metrics_t sm = bus_sm(s);
    assert_int_equal(sm.lagged, 1);
    assert_int_equal(sm.delivered, 0);
    assert_int_equal(bus_m(b).tickets_stale, 1);
    assert_int_equal(bus_m(b).receiver_lag, 1);
    memcpy(words, &live, sizeof(words)); /* put the bus's own ticket back */
    atomic_store(&KC_BUS_MSG(b, 0)[0], words[0]);
    atomic_store(&KC_BUS_MSG(b, 0)[1], words[1]);
    assert_int_equal(kc_bus_check(b), 0);
    kc_bus_unsubscribe(s);
    kc_bus_pub_release(p);
    kc_bus_release(b);
    kc_arena_metrics_t am = arena_m(a);
    assert_int_equal(am.live_tickets, 0);
    assert_int_equal(am.double_releases, 0);
    assert_int_equal(am.stale_rejections, 2); /* the check's and the reader's retains */
    assert_int_equal(kc_arena_destroy(a), 0);
}

/* ------------------------------------------------ readers race overwrites */

struct tk_reader {
    kc_arena_t *arena;
    kc_bus_sub_t *sub;
    long got, torn, dup, lag_events;
    uint64_t last;
};

static void *tk_read(void *arg)
{
    struct tk_reader *r = arg;
    kc_arena_ticket_t t;
    int rc;

    while ((rc = kc_bus_recv_ticket(r->sub, &t, NULL, FAIL_NS, NULL)) != -EPIPE) {
        if (rc == KC_BUS_LAGGED) {
            r->lag_events++;
            continue;
        }
        if (rc != 0)
            break;
        void *p;
        size_t len;
        if (kc_arena_hydrate(r->arena, t, &p, &len) != 0 || len != sizeof(bus_payload_t) ||
            !bus_payload_ok(p)) {
            r->torn++;
        } else {
            uint64_t seq = ((const bus_payload_t *)p)->seq;
            if (seq + 1 <= r->last)
                r->dup++;
            r->last = seq + 1;
            kc_arena_release(r->arena, t); /* the hydrate's reference */
        }
        kc_arena_release(r->arena, t); /* the one the bus gave us */
        r->got++;
    }
    return NULL;
}

static void test_bus_ticket_readers_racing_overwrites_release_everything_once(void **state)
{
    (void)state;
    kc_arena_t *a = new_arena();
    kc_bus_pub_t *p;
    kc_bus_t *b = ticket_bus(a, 4, &p);
    struct tk_reader r[3];
    pthread_t th[3];
    const long n = bus_scaled(60000);

    memset(r, 0, sizeof(r));
    for (int i = 0; i < 3; i++) {
        r[i].arena = a;
        assert_int_equal(kc_bus_subscribe(b, &r[i].sub), 0);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, tk_read, &r[i]), 0);
    for (long k = 0; k < n; k++)
        assert_true(kc_bus_publish_ticket(p, KC_BUS_MASK_ALL, make_ticket(a, 0, (uint64_t)k)) >= 0);
    kc_bus_pub_release(p);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    kc_bus_metrics_t m = bus_m(b);
    for (int i = 0; i < 3; i++) {
        kc_bus_sub_metrics_t sm = bus_sm(r[i].sub);
        if (r[i].torn || r[i].dup || sm.delivered != (uint64_t)r[i].got ||
            sm.delivered + sm.lagged + sm.filtered != m.published)
            fail_msg("reader %d: torn %ld dup %ld got %ld delivered %llu lagged %llu of %llu", i,
                     r[i].torn, r[i].dup, r[i].got, (unsigned long long)sm.delivered,
                     (unsigned long long)sm.lagged, (unsigned long long)m.published);
        kc_bus_unsubscribe(r[i].sub);
    }
    print_message("%ld tickets: %llu released by the bus on overwrite, %llu stale retains\n", n,
                  (unsigned long long)m.tickets_released, (unsigned long long)m.tickets_stale);
    kc_bus_release(b);
    kc_arena_metrics_t am = arena_m(a);
    assert_int_equal(am.live_tickets, 0);
    assert_int_equal(am.allocs, (uint64_t)n);
    assert_int_equal(am.frees, (uint64_t)n);
    assert_int_equal(am.double_releases, 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bus_ticket_is_released_once_read_overwritten_or_left_at_close),
        cmocka_unit_test(test_bus_ticket_without_readers_is_released_by_the_bus),
        cmocka_unit_test(test_bus_ticket_calls_refuse_the_wrong_kind_of_bus),
        cmocka_unit_test(test_bus_ticket_gone_before_retain_counts_as_one_lagged),
        cmocka_unit_test(test_bus_ticket_readers_racing_overwrites_release_everything_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
