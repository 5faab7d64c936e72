/* test_zdesc.c - arena descriptors: making, hydrating, retaining, releasing, refusing.
 *
 * The helpers of kcoro/zdesc.h one by one (alloc, wrap, from_ticket,
 * hydrate, retain, release; rules D1-D4 of kc_zdesc.c), then what a channel
 * with an arena attached does with tickets it must not accept: released,
 * reused and forged tickets and tampered descriptors are refused on send
 * with -ESTALE and counted, through plain sends and select clauses alike,
 * and a stale ticket that crosses a channel without an arena is refused by
 * the receiver's hydrate. Double releases are refused and counted, by the
 * arena (kc_zdesc_release) and by the channel (arena_release_errors).
 * Every test ends with the arena holding zero live tickets.
 */
#include "kcoro.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_zdesc_test.h"

static const struct chan_cfg buf4 = {"buf4", KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 4};

static void test_zdesc_alloc_hydrate_release_roundtrip(void **state)
{
    (void)state;
    kc_arena_t *a = zt_arena(0);
    kc_zdesc_t d;
    assert_int_equal(kc_zdesc_alloc(&d, a, 1000, KC_ZDESC_READONLY), 0);
    assert_true(kc_zdesc_is_owned(&d));
    assert_true(kc_zdesc_has_ticket(&d));
    assert_int_equal(d.flags, KC_ZDESC_OWNED | KC_ZDESC_READONLY);
    assert_int_equal(d.len, 1000);
    assert_int_equal(d.region, 0);
    assert_int_equal(kc_zdesc_check(&d), 0);
    kc_arena_ticket_t t;
    assert_int_equal(kc_zdesc_ticket(&d, &t), 0);
    assert_int_equal(t.len, 1000);
    void *p = NULL;
    size_t len = 0;
    assert_int_equal(kc_zdesc_hydrate(&d, a, &p, &len), 0);
    assert_ptr_equal(p, d.ptr);
    assert_int_equal(len, 1000);
    assert_int_equal(kc_arena_validate(a, t, NULL, NULL), 1); /* hydrate took no reference */
    assert_int_equal(zt_live(a), 1);
    assert_int_equal(kc_zdesc_release(&d, a), 1);
    assert_false(kc_zdesc_is_owned(&d)); /* emptied */
    assert_false(kc_zdesc_has_ticket(&d));
    assert_int_equal(kc_zdesc_release(&d, a), -EINVAL); /* the same variable: nothing left */
    zt_assert_clean(a);
}

static void test_zdesc_bad_arguments_are_einval_and_change_nothing(void **state)
{
    (void)state;
    kc_arena_t *a = zt_arena(0);
    kc_zdesc_t d = KC_ZDESC_INIT, e;
    char buf[8];
    assert_int_equal(kc_zdesc_alloc(NULL, a, 8, 0), -EINVAL);
    assert_int_equal(kc_zdesc_alloc(&d, NULL, 8, 0), -EINVAL);
    assert_int_equal(kc_zdesc_alloc(&d, a, 0, 0), -EINVAL);
    assert_int_equal(kc_zdesc_alloc(&d, a, 8, 0x80), -EINVAL);
    assert_int_equal(kc_zdesc_alloc(&d, a, (size_t)1 << 40, 0), -EMSGSIZE);
    assert_int_equal(kc_zdesc_hydrate(&d, a, NULL, NULL), -EINVAL); /* no ticket */
    assert_int_equal(kc_zdesc_hydrate(NULL, a, NULL, NULL), -EINVAL);
    assert_int_equal(kc_zdesc_retain(&d, a, &e), -EINVAL);
    assert_int_equal(kc_zdesc_release(&d, a), -EINVAL);
    assert_int_equal(kc_zdesc_ticket(&d, NULL), -EINVAL);
    assert_false(kc_zdesc_has_ticket(NULL));
    kc_arena_ticket_t null_ticket = KC_ARENA_TICKET_NULL;
    assert_int_equal(kc_zdesc_from_ticket(&d, a, null_ticket, 0), -EINVAL);
    assert_int_equal(kc_zdesc_wrap(&d, a, 1, buf, sizeof(buf), 0), -ESTALE); /* no region 1 */
    /* an owned descriptor without a ticket cannot be released through an arena */
    assert_int_equal(kc_zdesc_init(&d, buf, sizeof(buf), KC_ZDESC_OWNED), 0);
    assert_int_equal(kc_zdesc_release(&d, a), -EINVAL);
    assert_int_equal(zt_metrics(a).allocs, 0);
    zt_assert_clean(a);
}

/* A registered region travels without a copy; while a descriptor into it
 * is out (even inside a channel) the region cannot be unregistered. */
static void test_zdesc_wrap_region_pins_it_until_released(void **state)
{
    (void)state;
    kc_arena_t *a = zt_arena(0);
    static char region[8192];
    int id = kc_arena_register_region(a, region, sizeof(region), KC_ARENA_REGION_RDONLY);
    assert_true(id > 0);
    kc_chan_t *ch = zt_chan(&buf4, a, 0, NULL);
    kc_zdesc_t d, r;
    assert_int_equal(kc_zdesc_wrap(&d, a, id, region + 100, 500, KC_ZDESC_READONLY), 0);
    assert_int_equal(d.region, (uint64_t)id);
    assert_int_equal(kc_chan_try_send_desc(ch, &d), 0);
    assert_int_equal(kc_arena_unregister_region(a, id), -EBUSY);
    assert_int_equal(kc_chan_try_recv_desc(ch, &r), 0);
    void *p;
    assert_int_equal(kc_zdesc_hydrate(&r, a, &p, NULL), 0);
    assert_ptr_equal(p, region + 100); /* the caller's own memory: zero copy */
    assert_int_equal(kc_zdesc_release(&r, a), 1);
    assert_int_equal(kc_arena_unregister_region(a, id), 0);
    assert_int_equal(kc_zdesc_wrap(&d, a, id, region, 10, 0), -ESTALE);
    assert_int_equal(kc_chan_destroy(ch), 0);
    zt_assert_clean(a);
}

/* from_ticket adopts the caller's reference; retain makes a second owner. */
static void test_zdesc_from_ticket_and_retain_count_references_exactly(void **state)
{
    (void)state;
    kc_arena_t *a = zt_arena(0);
    kc_arena_ticket_t t;
    void *p;
    assert_int_equal(kc_arena_alloc(a, 64, &t, &p), 0);
    kc_zdesc_t d, c1, c2;
    assert_int_equal(kc_zdesc_from_ticket(&d, a, t, 0), 0);
    assert_ptr_equal(d.ptr, p);
    assert_int_equal(d.len, 64);
    assert_int_equal(kc_arena_validate(a, t, NULL, NULL), 1); /* adopted, not added */
    assert_int_equal(kc_zdesc_retain(&d, a, &c1), 0);
    assert_int_equal(kc_zdesc_retain(&c1, a, &c2), 0);
    assert_int_equal(kc_arena_validate(a, t, NULL, NULL), 3);
    assert_memory_equal(&c2, &d, sizeof(d));
    assert_int_equal(kc_zdesc_release(&c1, a), 0);
    assert_int_equal(kc_zdesc_release(&d, a), 0);
    assert_int_equal(kc_arena_validate(a, t, NULL, NULL), 1);
    assert_int_equal(kc_zdesc_release(&c2, a), 1);
    assert_int_equal(kc_zdesc_from_ticket(&d, a, t, 0), -ESTALE); /* released */
    zt_assert_clean(a);
}

/* Double releases: a stale copy of a released descriptor is refused and
 * counted by the arena; a descriptor the sender released after handing it
 * to a channel is caught when the channel drops it. */
static void test_zdesc_double_release_detected_and_reported(void **state)
{
    (void)state;
    kc_arena_t *a = zt_arena(0);
    kc_zdesc_t d = zt_desc(a, 256, 1), copy = d;
    assert_int_equal(kc_zdesc_release(&d, a), 1);
    assert_int_equal(kc_zdesc_release(&copy, a), -ESTALE);
    assert_true(kc_zdesc_is_owned(&copy)); /* a failed release changes nothing */
    assert_int_equal(zt_metrics(a).double_releases, 1);

    static const struct chan_cfg conf = {"conflated", KC_CHAN_CONFLATED, KC_CHAN_SUSPEND, 0};
    kc_chan_t *ch = zt_chan(&conf, a, 0, NULL);
    d = zt_desc(a, 256, 2);
    copy = d;
    assert_int_equal(kc_chan_try_send_desc(ch, &d), 0);
    assert_int_equal(kc_zdesc_release(&copy, a), 1); /* wrong: the channel owns it now */
    kc_zdesc_t e = zt_desc(a, 256, 3);
    assert_int_equal(kc_chan_try_send_desc(ch, &e), 0); /* replaces d: its release fails */
    kc_chan_snapshot_t s = snap(ch);
    assert_int_equal(s.arena_releases, 1);
    assert_int_equal(s.arena_release_errors, 1);
    assert_int_equal(zt_metrics(a).double_releases, 2);
    assert_int_equal(kc_chan_destroy(ch), 0); /* releases e */
    kc_arena_metrics_t m = zt_metrics(a);
    assert_int_equal(m.live_tickets, 0);
    assert_int_equal(m.allocs, m.frees);
    assert_int_equal(kc_arena_destroy(a), 0);
}

/* Send d on ch (an arena channel) and expect -ESTALE with nothing buffered. */
static void expect_stale_send(kc_chan_t *ch, const kc_zdesc_t *d)
{
    uint64_t before = snap(ch).failures.estale;
    assert_int_equal(kc_chan_try_send_desc(ch, d), -ESTALE);
    assert_int_equal(kc_chan_send_desc(ch, d, SHORT_NS, NULL), -ESTALE);
    kc_zdesc_t copy = *d;
    kc_chan_clause_t cl[1] = {KC_CHAN_CLAUSE_SEND_INIT(ch, &copy)};
    assert_int_equal(kc_chan_select(cl, 1, KC_CHAN_SELECT_BIASED, 0, NULL), -ESTALE);
    kc_chan_snapshot_t s = snap(ch);
    assert_int_equal(s.failures.estale, before + 3);
    assert_int_equal(s.occupancy, 0);
    assert_int_equal(s.sends, 0);
}

static void test_zdesc_stale_and_reused_tickets_rejected_by_arena_channel(void **state)
{
    (void)state;
    kc_arena_t *a = zt_arena(0);
    kc_chan_t *ch = zt_chan(&buf4, a, 0, NULL);
    kc_zdesc_t d = zt_desc(a, 128, 7), stale = d;
    assert_int_equal(kc_zdesc_release(&d, a), 1);
    expect_stale_send(ch, &stale);         /* released */
    kc_zdesc_t fresh = zt_desc(a, 128, 8); /* the slot comes back with a new generation */
    expect_stale_send(ch, &stale);         /* reused */
    assert_int_equal(kc_chan_try_send_desc(ch, &fresh), 0);
    kc_zdesc_t r;
    assert_int_equal(kc_chan_try_recv_desc(ch, &r), 0);
    assert_int_equal(zt_desc_stamp(a, &r), 8);
    assert_int_equal(kc_zdesc_release(&r, a), 1);
    assert_int_equal(kc_chan_destroy(ch), 0);
    zt_assert_clean(a);
}

static void test_zdesc_forged_tickets_and_tampered_descriptors_rejected(void **state)
{
    (void)state;
    kc_arena_t *a = zt_arena(0);
    kc_arena_t *other = zt_arena(0);
    kc_chan_t *ch = zt_chan(&buf4, a, 0, NULL);
    kc_zdesc_t d = zt_desc(a, 300, 9);
    for (size_t byte = 0; byte < KC_ZDESC_TICKET_BYTES; byte++)
        for (int bit = 0; bit < 8; bit++) { /* every single-bit change of the ticket */
            kc_zdesc_t f = d;
            f.ticket[byte] ^= (uint8_t)(1u << bit);
            expect_stale_send(ch, &f);
        }
    kc_zdesc_t f = d;
    f.ptr = (char *)d.ptr + 16; /* D4: the pointer changed in flight */
    expect_stale_send(ch, &f);
    f = d;
    f.len = 299; /* D4: the length changed */
    expect_stale_send(ch, &f);
    kc_zdesc_t foreign = zt_desc(other, 300, 10); /* a live ticket of another arena */
    expect_stale_send(ch, &foreign);
    assert_int_equal(kc_zdesc_release(&foreign, other), 1);
    assert_int_equal(kc_chan_try_send_desc(ch, &d), 0); /* the genuine one passes */
    assert_int_equal(kc_chan_destroy(ch), 0);           /* and is released with it */
    zt_assert_clean(a);
    zt_assert_clean(other);
}

/* A channel without an arena cannot check tickets: it carries a stale one
 * by value, and the receiver's hydrate refuses it. */
static void test_zdesc_stale_ticket_refused_by_receiver_hydrate(void **state)
{
    (void)state;
    kc_arena_t *a = zt_arena(0);
    kc_chan_t *ch = chan_new(&buf4, 0, NULL);
    kc_zdesc_t d = zt_desc(a, 64, 11), stale = d, r;
    assert_int_equal(kc_zdesc_release(&d, a), 1);
    assert_int_equal(kc_chan_try_send_desc(ch, &stale), 0);
    assert_int_equal(kc_chan_try_recv_desc(ch, &r), 0);
    void *p = &p;
    assert_int_equal(kc_zdesc_hydrate(&r, a, &p, NULL), -ESTALE);
    assert_ptr_equal(p, &p);
    assert_int_equal(kc_zdesc_release(&r, a), -ESTALE); /* and it cannot be released again */
    kc_arena_metrics_t m = zt_metrics(a);
    assert_int_equal(m.stale_rejections, 1);
    assert_int_equal(m.double_releases, 1);
    assert_int_equal(kc_chan_destroy(ch), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

/* The shape rules of a boxed channel's descriptor calls. */
static void test_zdesc_boxed_channel_takes_only_its_own_shape(void **state)
{
    (void)state;
    kc_arena_t *a = zt_arena(0);
    kc_chan_t *ch = zt_chan(&buf4, a, 512, NULL);
    assert_int_equal(kc_chan_elem_size(ch), 512);
    kc_zdesc_t small = zt_desc(a, 256, 1), big = zt_desc(a, 1024, 2), ok = zt_desc(a, 512, 3);
    kc_zdesc_t borrowed;
    static char mem[512];
    assert_int_equal(kc_zdesc_init(&borrowed, mem, sizeof(mem), 0), 0);
    assert_int_equal(kc_chan_try_send_desc(ch, &small), -EINVAL);
    assert_int_equal(kc_chan_try_send_desc(ch, &big), -EMSGSIZE);
    assert_int_equal(kc_chan_try_send_desc(ch, &borrowed), -EINVAL);
    assert_int_equal(kc_chan_send_ptr(ch, mem, sizeof(mem), 0, NULL), -EINVAL);
    void *p;
    assert_int_equal(kc_chan_recv_ptr(ch, &p, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_try_send_desc(ch, &ok), 0); /* moves in without a copy */
    char out[512];
    assert_int_equal(kc_chan_try_recv(ch, out), 0); /* and is copied out here */
    assert_int_equal(zt_read_stamp(out, sizeof(out)), 3);
    assert_int_equal(kc_zdesc_release(&small, a), 1);
    assert_int_equal(kc_zdesc_release(&big, a), 1);
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = 1;
    o.elem_size = KC_CHAN_MAX_ELEM + 1; /* too big to copy, fine to box */
    kc_chan_t *c2 = NULL;
    assert_int_equal(kc_chan_create(&c2, &o), -EINVAL);
    o.arena = a;
    assert_int_equal(kc_chan_create(&c2, &o), 0);
    o.size = (uint32_t)offsetof(kc_chan_opts_t, arena); /* an options struct from before */
    kc_chan_t *c3 = NULL;
    assert_int_equal(kc_chan_create(&c3, &o), -EINVAL); /* no arena then: too big */
    assert_int_equal(kc_chan_destroy(c2), 0);
    assert_int_equal(kc_chan_destroy(ch), 0);
    zt_assert_clean(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zdesc_alloc_hydrate_release_roundtrip),
        cmocka_unit_test(test_zdesc_bad_arguments_are_einval_and_change_nothing),
        cmocka_unit_test(test_zdesc_wrap_region_pins_it_until_released),
        cmocka_unit_test(test_zdesc_from_ticket_and_retain_count_references_exactly),
        cmocka_unit_test(test_zdesc_double_release_detected_and_reported),
        cmocka_unit_test(test_zdesc_stale_and_reused_tickets_rejected_by_arena_channel),
        cmocka_unit_test(test_zdesc_forged_tickets_and_tampered_descriptors_rejected),
        cmocka_unit_test(test_zdesc_stale_ticket_refused_by_receiver_hydrate),
        cmocka_unit_test(test_zdesc_boxed_channel_takes_only_its_own_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
