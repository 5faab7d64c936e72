/* test_bus_ring.c - single-threaded behaviour of the SoA bus.
 *
 * Options and autotune, ordered delivery, start at the current sequence,
 * lag counts and resume points, exact per-subscriber accounting (invariant
 * 5 of kc_bus.c), close and drain, topic masks, batch publish, coalesced
 * notifies, subscriber slots, metrics snapshots. Each test owns its bus.
 */
#include "bus_test_util.h"
#include "kc_bus_impl.h"

/* White-box: set the want bit as kc_bus_recv does just before it parks, so
 * single-threaded tests can watch the wake-up edges. */
static void arm_as_if_waiting(kc_bus_sub_t *s)
{
    kc_parker_init(&s->parker);
    atomic_fetch_or(&s->bus->want, s->bit);
}

/* Take the one wake-up a publisher sent s (the bit is gone, a permit waits),
 * as kc_bus_recv's disarm would. */
static void absorb_wakeup(kc_bus_sub_t *s)
{
    assert_int_equal(atomic_load(&s->bus->want) & s->bit, 0);
    assert_int_equal(kc_park(&s->parker, 0, NULL), 0);
    assert_int_equal(kc_park(&s->parker, 0, NULL), -ETIME); /* exactly one */
}

static void test_bus_create_rejects_bad_options(void **state)
{
    (void)state;
    kc_bus_t *b = NULL;
    kc_bus_pub_t *p = NULL;
    kc_bus_opts_t o = {.size = sizeof(o), .msg_size = 8};

    assert_int_equal(kc_bus_create(NULL, &b, &p), -EINVAL);
    assert_int_equal(kc_bus_create(&o, NULL, &p), -EINVAL);
    o.msg_size = 0;
    assert_int_equal(kc_bus_create(&o, &b, &p), -EINVAL);
    o.msg_size = KC_BUS_MSG_MAX + 1;
    assert_int_equal(kc_bus_create(&o, &b, &p), -EINVAL);
    o.msg_size = 8;
    o.capacity = 96;
    assert_int_equal(kc_bus_create(&o, &b, &p), -EINVAL);
    o.capacity = 1;
    assert_int_equal(kc_bus_create(&o, &b, &p), -EINVAL);
    o.capacity = KC_BUS_CAP_MAX * 2;
    assert_int_equal(kc_bus_create(&o, &b, &p), -EINVAL);
    o.capacity = 0;
    o.size = 4;
    assert_int_equal(kc_bus_create(&o, &b, &p), -EINVAL);
    assert_null(b);
    assert_null(p);
}

static void test_bus_autotune_picks_capacity_from_expected_subscribers(void **state)
{
    (void)state;
    static const struct {
        uint32_t subs, cap, want;
        uint64_t warn;
    } cases[] = {
        {0, 0, 64, 0},   {4, 0, 64, 0}, {5, 0, 128, 0},   {16, 0, 128, 0},  {17, 0, 256, 0},
        {64, 0, 256, 0}, {64, 8, 8, 0}, {1, 512, 512, 1}, {1, 256, 256, 0}, {2, 4096, 4096, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kc_bus_pub_t *p;
        kc_bus_t *b = bus_new(8, cases[i].cap, cases[i].subs, &p);
        kc_bus_metrics_t m = bus_m(b);
        assert_int_equal(kc_bus_autotune(cases[i].subs, cases[i].cap), cases[i].want);
        assert_int_equal(m.cap_selected, cases[i].want);
        assert_int_equal(m.autotune_warn, cases[i].warn);
        kc_bus_pub_release(p);
        kc_bus_release(b);
    }
}

static void test_bus_delivers_in_order_to_every_subscriber(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 16, 3, &p);
    kc_bus_sub_t *s[3];
    uint64_t v;

    for (int i = 0; i < 3; i++)
        assert_int_equal(kc_bus_subscribe(b, &s[i]), 0);
    for (uint64_t k = 0; k < 10; k++)
        assert_int_equal(kc_bus_publish(p, &k, sizeof(k)), 3);
    for (int i = 0; i < 3; i++) {
        for (uint64_t k = 0; k < 10; k++) {
            assert_int_equal(kc_bus_try_recv(s[i], &v, sizeof(v), NULL), 0);
            assert_int_equal(v, k);
        }
        assert_int_equal(kc_bus_try_recv(s[i], &v, sizeof(v), NULL), -EAGAIN);
        assert_int_equal(bus_sm(s[i]).delivered, 10);
    }
    assert_int_equal(kc_bus_check(b), 0);
    for (int i = 0; i < 3; i++)
        kc_bus_unsubscribe(s[i]);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

static void test_bus_new_subscriber_starts_at_current_sequence(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 16, 1, &p);
    kc_bus_sub_t *early, *late;
    uint64_t v;

    assert_int_equal(kc_bus_subscribe(b, &early), 0);
    for (uint64_t k = 0; k < 5; k++)
        bus_pub_u64(p, k);
    assert_int_equal(kc_bus_subscribe(b, &late), 0);
    /* Not joined until a publisher picks it up: nothing to read yet. */
    assert_int_equal(kc_bus_try_recv(late, &v, sizeof(v), NULL), -EAGAIN);
    assert_false(bus_sm(late).joined);
    bus_pub_u64(p, 5);
    assert_int_equal(kc_bus_try_recv(late, &v, sizeof(v), NULL), 0);
    assert_int_equal(v, 5);
    assert_int_equal(bus_sm(late).start_seq, 5);
    assert_int_equal(kc_bus_try_recv(late, &v, sizeof(v), NULL), -EAGAIN);
    assert_int_equal(kc_bus_try_recv(early, &v, sizeof(v), NULL), 0);
    assert_int_equal(v, 0);
    kc_bus_unsubscribe(early);
    kc_bus_unsubscribe(late);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

static void test_bus_publish_without_subscribers_counts_no_receivers(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 8, 0, &p);
    uint64_t v = 7;

    assert_int_equal(kc_bus_publish(p, &v, sizeof(v)), 0);
    assert_int_equal(kc_bus_publish(p, &v, sizeof(v)), 0);
    kc_bus_metrics_t m = bus_m(b);
    assert_int_equal(m.published, 2);
    assert_int_equal(m.no_receivers, 2);
    assert_int_equal(m.notify_sends, 0);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

static void test_bus_lagged_reader_gets_count_and_resumes_at_oldest(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 8, 1, &p);
    kc_bus_sub_t *s;
    uint64_t v, missed = 0;

    assert_int_equal(kc_bus_subscribe(b, &s), 0);
    bus_pub_u64(p, 100); /* joins at sequence 0 */
    for (uint64_t k = 1; k < 20; k++)
        bus_pub_u64(p, 100 + k);
    /* 20 published into 8 slots: 0..11 are gone, 12..19 live. */
    assert_int_equal(kc_bus_try_recv(s, &v, sizeof(v), &missed), KC_BUS_LAGGED);
    assert_int_equal(missed, 12);
    for (uint64_t k = 12; k < 20; k++) {
        assert_int_equal(kc_bus_try_recv(s, &v, sizeof(v), NULL), 0);
        assert_int_equal(v, 100 + k);
    }
    assert_int_equal(kc_bus_try_recv(s, &v, sizeof(v), NULL), -EAGAIN);
    kc_bus_sub_metrics_t sm = bus_sm(s);
    assert_int_equal(sm.lagged, 12);
    assert_int_equal(sm.delivered, 8);
    assert_int_equal(bus_m(b).receiver_lag, 12);
    assert_int_equal(kc_bus_check(b), 0);
    kc_bus_unsubscribe(s);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

static void test_bus_lag_counts_all_overwritten_messages_not_only_its_topics(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 4, 1, &p);
    kc_bus_sub_t *s;
    uint64_t v = 0, missed = 0;

    assert_int_equal(kc_bus_subscribe_with_mask(b, 0x1, &s), 0);
    /* 10 messages, 3 of them for topic 0; the first 6 are overwritten. */
    for (uint64_t k = 0; k < 10; k++) {
        uint64_t topic = (k % 3 == 0) ? 0x1 : 0x2;
        assert_true(kc_bus_publish_with_mask(p, topic, &k, sizeof(k)) >= 0);
    }
    assert_int_equal(kc_bus_try_recv(s, &v, sizeof(v), &missed), KC_BUS_LAGGED);
    assert_int_equal(missed, 6); /* every overwritten message */
    assert_int_equal(kc_bus_try_recv(s, &v, sizeof(v), NULL), 0);
    assert_int_equal(v, 6);
    assert_int_equal(kc_bus_try_recv(s, &v, sizeof(v), NULL), 0);
    assert_int_equal(v, 9); /* 7 and 8 filtered */
    kc_bus_sub_metrics_t sm = bus_sm(s);
    assert_int_equal(sm.delivered, 2);
    assert_int_equal(sm.filtered, 2);
    assert_int_equal(sm.lagged, 6);
    assert_int_equal(bus_m(b).published, sm.delivered + sm.filtered + sm.lagged);
    kc_bus_unsubscribe(s);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

/* Random publishes (single, masked, batches) and random drains: after a full
 * drain, published == delivered + lagged + filtered for every subscriber. */
static void test_bus_accounting_is_exact_per_subscriber(void **state)
{
    (void)state;
    const uint64_t seed = 0x5eed0b05u;
    uint64_t rng = seed;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(24, 16, 6, &p);
    kc_bus_sub_t *s[6];
    uint64_t msgs[64 * 3];
    uint64_t buf[3];

    for (int i = 0; i < 6; i++)
        assert_int_equal(
            kc_bus_subscribe_with_mask(b, i == 0 ? KC_BUS_MASK_ALL : (uint64_t)1 << (i % 4), &s[i]),
            0);
    bus_pub_u64(p, 0); /* joins everyone at sequence 0 */
    memset(msgs, 0, sizeof(msgs));
    for (long round = 0; round < bus_scaled(4000); round++) {
        uint64_t r = bus_rand(&rng);
        uint64_t topics = (r & 3) == 0 ? KC_BUS_MASK_ALL : (r >> 8) & 0xf;
        if (topics == 0)
            topics = 0x8;
        if ((r >> 16) % 5 == 0)
            assert_true(kc_bus_publish_batch(p, topics, msgs, 1 + (r >> 20) % 40) >= 0);
        else
            assert_true(kc_bus_publish_with_mask(p, topics, msgs, 24) >= 0);
        int who = (int)((r >> 32) % 6);
        for (uint64_t k = (r >> 40) % 24; k > 0; k--) {
            int rc = kc_bus_try_recv(s[who], buf, sizeof(buf), NULL);
            if (rc == -EAGAIN)
                break;
            assert_true(rc == 0 || rc == KC_BUS_LAGGED);
        }
    }
    kc_bus_metrics_t m = bus_m(b);
    uint64_t lag_sum = 0;
    for (int i = 0; i < 6; i++) {
        int rc;
        while ((rc = kc_bus_try_recv(s[i], buf, sizeof(buf), NULL)) != -EAGAIN)
            assert_true(rc == 0 || rc == KC_BUS_LAGGED);
        kc_bus_sub_metrics_t sm = bus_sm(s[i]);
        if (m.published != sm.delivered + sm.lagged + sm.filtered)
            fail_msg("seed %#llx sub %d: published %llu != %llu + %llu + %llu",
                     (unsigned long long)seed, i, (unsigned long long)m.published,
                     (unsigned long long)sm.delivered, (unsigned long long)sm.lagged,
                     (unsigned long long)sm.filtered);
        if (i == 0)
            assert_int_equal(sm.filtered, 0);
        lag_sum += sm.lagged;
    }
    assert_int_equal(bus_m(b).receiver_lag, lag_sum);
    assert_int_equal(kc_bus_check(b), 0);
    for (int i = 0; i < 6; i++)
        kc_bus_unsubscribe(s[i]);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

static void test_bus_close_drains_then_epipe(void **state)
{
    (void)state;
    kc_bus_pub_t *p, *p2;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 8, 1, &p);
    kc_bus_sub_t *s;
    uint64_t v;

    assert_int_equal(kc_bus_subscribe(b, &s), 0);
    assert_int_equal(kc_bus_pub_clone(p, &p2), 0);
    for (uint64_t k = 0; k < 3; k++)
        bus_pub_u64(p, k);
    kc_bus_pub_release(p); /* p2 still open: not closed */
    assert_int_equal(kc_bus_try_recv(s, &v, sizeof(v), NULL), 0);
    bus_pub_u64(p2, 3);
    kc_bus_pub_release(p2); /* last publisher: closed */
    for (uint64_t k = 1; k < 4; k++) {
        assert_int_equal(kc_bus_recv(s, &v, sizeof(v), NULL, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(v, k);
    }
    assert_int_equal(kc_bus_try_recv(s, &v, sizeof(v), NULL), -EPIPE);
    assert_int_equal(kc_bus_recv(s, &v, sizeof(v), NULL, KC_NO_TIMEOUT, NULL), -EPIPE);
    kc_bus_sub_t *s2;
    assert_int_equal(kc_bus_subscribe(b, &s2), -EPIPE);
    assert_int_equal(kc_bus_check(b), 0);
    kc_bus_unsubscribe(s);
    kc_bus_release(b);
}

static void test_bus_subscriber_never_joined_gets_epipe_on_close(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 8, 1, &p);
    kc_bus_sub_t *s;
    uint64_t v;

    assert_int_equal(kc_bus_subscribe(b, &s), 0);
    kc_bus_pub_release(p);
    assert_int_equal(kc_bus_try_recv(s, &v, sizeof(v), NULL), -EPIPE);
    kc_bus_release(b); /* the subscriber still holds the bus */
    assert_int_equal(kc_bus_recv(s, &v, sizeof(v), NULL, 1000000, NULL), -EPIPE);
    kc_bus_unsubscribe(s);
}

static void test_bus_masks_deliver_only_to_members_and_never_wake_others(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 64, 3, &p);
    kc_bus_sub_t *a, *c, *all;
    uint64_t v;

    assert_int_equal(kc_bus_subscribe_with_mask(b, 0x1, &a), 0);
    assert_int_equal(kc_bus_subscribe_with_mask(b, 0x6, &c), 0);
    assert_int_equal(kc_bus_subscribe(b, &all), 0);
    /* a and c announce they are about to sleep (what kc_bus_recv does
     * before parking); all only polls. */
    arm_as_if_waiting(a);
    arm_as_if_waiting(c);
    for (uint64_t k = 0; k < 10; k++)
        assert_int_equal(kc_bus_publish_with_mask(p, 0x4, &k, sizeof(k)), 2);
    kc_bus_sub_metrics_t am = bus_sm(a);
    assert_int_equal(am.notified, 0);        /* not a member: never woken */
    assert_int_equal(bus_sm(c).notified, 1); /* one edge, nine coalesced */
    assert_int_equal(bus_sm(all).notified, 0);
    absorb_wakeup(c);
    assert_int_equal(atomic_load(&b->want), a->bit); /* a is still armed */
    atomic_fetch_and(&b->want, ~a->bit);
    assert_int_equal(kc_bus_try_recv(a, &v, sizeof(v), NULL), -EAGAIN);
    assert_int_equal(bus_sm(a).filtered, 10);
    for (uint64_t k = 0; k < 10; k++) {
        assert_int_equal(kc_bus_try_recv(c, &v, sizeof(v), NULL), 0);
        assert_int_equal(v, k);
        assert_int_equal(kc_bus_try_recv(all, &v, sizeof(v), NULL), 0);
    }
    /* The full mask reaches everybody, including a. */
    v = 99;
    assert_int_equal(kc_bus_publish(p, &v, sizeof(v)), 3);
    assert_int_equal(kc_bus_try_recv(a, &v, sizeof(v), NULL), 0);
    assert_int_equal(v, 99);
    assert_int_equal(bus_sm(a).notified, 0); /* pollers are never woken */
    /* A full-mask subscriber has every topic: topic 8 reaches it alone. */
    assert_int_equal(kc_bus_publish_with_mask(p, 0x100, &v, sizeof(v)), 1);
    kc_bus_metrics_t m = bus_m(b);
    assert_int_equal(m.no_receivers, 0);
    /* One wake-up (c, once); the other 2 * 10 + 3 + 1 - 1 addressed
     * deliveries found nobody waiting. */
    assert_int_equal(m.notify_sends, 1);
    assert_int_equal(m.notify_suppressed, 20 + 3 + 1 - 1);
    assert_int_equal(kc_bus_publish_with_mask(p, 0, &v, sizeof(v)), -EINVAL);
    assert_int_equal(kc_bus_subscribe_with_mask(b, 0, &a), -EINVAL);
    kc_bus_unsubscribe(a);
    kc_bus_unsubscribe(c);
    kc_bus_unsubscribe(all);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

static void test_bus_batch_publish_sweeps_once_and_records_length(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 64, 2, &p);
    kc_bus_sub_t *s[2];
    uint64_t msgs[40], v;

    for (uint64_t k = 0; k < 40; k++)
        msgs[k] = 1000 + k;
    for (int i = 0; i < 2; i++)
        assert_int_equal(kc_bus_subscribe(b, &s[i]), 0);
    bus_pub_u64(p, 0); /* joins both */
    assert_int_equal(kc_bus_try_recv(s[0], &v, sizeof(v), NULL), 0);
    assert_int_equal(kc_bus_try_recv(s[1], &v, sizeof(v), NULL), 0);
    arm_as_if_waiting(s[0]);
    arm_as_if_waiting(s[1]);
    assert_int_equal(kc_bus_publish_batch(p, KC_BUS_MASK_ALL, msgs, 40), 2);
    assert_int_equal(kc_bus_publish_batch(p, KC_BUS_MASK_ALL, msgs, 1), 2);
    assert_int_equal(kc_bus_publish_batch(p, KC_BUS_MASK_ALL, msgs, 0), -EINVAL);
    kc_bus_metrics_t m = bus_m(b);
    assert_int_equal(m.published, 42);
    assert_int_equal(m.batch_publish, 2);
    assert_int_equal(m.batch_len_hist[0], 1);     /* length 1 */
    assert_int_equal(m.batch_len_hist[5], 1);     /* 32..63 */
    assert_int_equal(m.notify_sends, 2);          /* one per subscriber, one sweep */
    assert_int_equal(m.notify_suppressed, 2 + 2); /* the single and the second batch */
    absorb_wakeup(s[0]);
    absorb_wakeup(s[1]);
    for (uint64_t k = 0; k < 40; k++) {
        assert_int_equal(kc_bus_try_recv(s[1], &v, sizeof(v), NULL), 0);
        assert_int_equal(v, 1000 + k);
    }
    for (int i = 0; i < 2; i++)
        kc_bus_unsubscribe(s[i]);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

static void test_bus_batch_larger_than_capacity_keeps_newest(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 8, 1, &p);
    kc_bus_sub_t *s;
    uint64_t msgs[21], v, missed;

    for (uint64_t k = 0; k < 21; k++)
        msgs[k] = k;
    assert_int_equal(kc_bus_subscribe(b, &s), 0);
    bus_pub_u64(p, 500);
    assert_int_equal(kc_bus_try_recv(s, &v, sizeof(v), NULL), 0);
    assert_int_equal(kc_bus_publish_batch(p, KC_BUS_MASK_ALL, msgs, 21), 1);
    assert_int_equal(kc_bus_check(b), 0);
    assert_int_equal(kc_bus_try_recv(s, &v, sizeof(v), &missed), KC_BUS_LAGGED);
    assert_int_equal(missed, 13);
    for (uint64_t k = 13; k < 21; k++) {
        assert_int_equal(kc_bus_try_recv(s, &v, sizeof(v), NULL), 0);
        assert_int_equal(v, k);
    }
    assert_int_equal(bus_m(b).batch_len_hist[4], 1); /* 16..31 */
    kc_bus_unsubscribe(s);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

static void test_bus_short_message_is_zero_padded_and_long_one_refused(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(13, 8, 1, &p);
    kc_bus_sub_t *s;
    unsigned char in[16], out[16];

    memset(in, 0xab, sizeof(in));
    assert_int_equal(kc_bus_msg_size(b), 13);
    assert_int_equal(kc_bus_subscribe(b, &s), 0);
    assert_int_equal(kc_bus_publish(p, in, 14), -EMSGSIZE);
    assert_int_equal(kc_bus_publish(p, in, 5), 1);
    assert_int_equal(kc_bus_try_recv(s, out, 12, NULL), -EMSGSIZE);
    memset(out, 0x55, sizeof(out));
    assert_int_equal(kc_bus_try_recv(s, out, 13, NULL), 0);
    for (int i = 0; i < 13; i++)
        assert_int_equal(out[i], i < 5 ? 0xab : 0);
    assert_int_equal(out[13], 0x55); /* nothing past msg_size */
    kc_bus_unsubscribe(s);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

static void test_bus_subscriber_slots_are_bounded_and_reused(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 8, 64, &p);
    kc_bus_sub_t *s[KC_BUS_MAX_SUBS], *extra;
    uint64_t v;

    for (int i = 0; i < KC_BUS_MAX_SUBS; i++)
        assert_int_equal(kc_bus_subscribe(b, &s[i]), 0);
    assert_int_equal(kc_bus_subscribe(b, &extra), -EBUSY);
    bus_pub_u64(p, 1);
    assert_int_equal(bus_m(b).subscribers, 64);
    kc_bus_unsubscribe(s[10]);
    /* The slot frees when a publisher applies the leave. */
    assert_int_equal(kc_bus_subscribe(b, &extra), -EBUSY);
    assert_int_equal(kc_bus_publish(p, &v, sizeof(v)), 63);
    assert_int_equal(kc_bus_subscribe_with_mask(b, 0x2, &extra), 0);
    assert_int_equal(kc_bus_publish(p, &v, sizeof(v)), 64);
    assert_int_equal(kc_bus_publish_with_mask(p, 0x2, &v, sizeof(v)), 64);
    assert_int_equal(kc_bus_try_recv(extra, &v, sizeof(v), NULL), 0);
    assert_int_equal(bus_sm(extra).start_seq, 2);
    assert_int_equal(kc_bus_check(b), 0);
    kc_bus_unsubscribe(extra);
    for (int i = 0; i < KC_BUS_MAX_SUBS; i++)
        if (i != 10)
            kc_bus_unsubscribe(s[i]);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

static void test_bus_recv_times_out_and_zero_timeout_tries_once(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 8, 1, &p);
    kc_bus_sub_t *s;
    uint64_t v;

    assert_int_equal(kc_bus_subscribe(b, &s), 0);
    bus_pub_u64(p, 1);
    assert_int_equal(kc_bus_recv(s, &v, sizeof(v), NULL, 0, NULL), 0);
    assert_int_equal(kc_bus_recv(s, &v, sizeof(v), NULL, 0, NULL), -EAGAIN);
    assert_int_equal(kc_bus_recv(s, &v, sizeof(v), NULL, 2000000, NULL), -ETIME);
    /* One park: no wake-up was left over from the publish. */
    assert_int_equal(bus_sm(s).parks, 1);
    assert_int_equal(bus_sm(s).notified, 0);
    assert_int_equal(kc_bus_recv(NULL, &v, sizeof(v), NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_bus_try_recv(s, NULL, sizeof(v), NULL), -EINVAL);
    kc_bus_unsubscribe(s);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

static void test_bus_metrics_snapshot_respects_size_field(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 8, 1, &p);
    struct {
        kc_bus_metrics_t m;
        uint64_t guard;
    } big;
    kc_bus_metrics_t small;

    bus_pub_u64(p, 1);
    memset(&big, 0xee, sizeof(big));
    big.m.size = offsetof(kc_bus_metrics_t, no_receivers); /* published only */
    assert_int_equal(kc_bus_metrics(b, &big.m), 0);
    assert_int_equal(big.m.published, 1);
    assert_int_equal(big.m.no_receivers, 0xeeeeeeeeeeeeeeeeull);
    small.size = 4;
    assert_int_equal(kc_bus_metrics(b, &small), -EINVAL);
    assert_int_equal(kc_bus_metrics(NULL, &small), -EINVAL);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

/* kc_bus_check notices broken invariants (white-box: pokes a slot word and
 * a subscriber counter, then restores them). */
static void test_bus_check_reports_broken_invariants(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 8, 1, &p);
    kc_bus_sub_t *s;
    uint64_t v;

    assert_int_equal(kc_bus_subscribe(b, &s), 0);
    for (uint64_t k = 0; k < 3; k++)
        bus_pub_u64(p, k);
    assert_int_equal(kc_bus_try_recv(s, &v, sizeof(v), NULL), 0);
    assert_int_equal(kc_bus_check(b), 0);
    uint64_t w = atomic_load(KC_BUS_SEQ(b, 1));
    atomic_store(KC_BUS_SEQ(b, 1), w | KC_BUS_W_BUSY); /* a slot left BUSY: invariant 2 */
    assert_int_equal(kc_bus_check(b), -EPROTO);
    atomic_store(KC_BUS_SEQ(b, 1), w);
    atomic_fetch_add(&s->lagged, 2); /* more lost than read past: invariant 5 */
    assert_int_equal(kc_bus_check(b), -EPROTO);
    atomic_fetch_sub(&s->lagged, 2);
    atomic_fetch_or(&b->want, s->bit); /* a want bit with nobody waiting: 7 */
    assert_int_equal(kc_bus_check(b), -EPROTO);
    atomic_fetch_and(&b->want, ~s->bit);
    assert_int_equal(kc_bus_check(b), 0);
    kc_bus_unsubscribe(s);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bus_create_rejects_bad_options),
        cmocka_unit_test(test_bus_autotune_picks_capacity_from_expected_subscribers),
        cmocka_unit_test(test_bus_delivers_in_order_to_every_subscriber),
        cmocka_unit_test(test_bus_new_subscriber_starts_at_current_sequence),
        cmocka_unit_test(test_bus_publish_without_subscribers_counts_no_receivers),
        cmocka_unit_test(test_bus_lagged_reader_gets_count_and_resumes_at_oldest),
        cmocka_unit_test(test_bus_lag_counts_all_overwritten_messages_not_only_its_topics),
        cmocka_unit_test(test_bus_accounting_is_exact_per_subscriber),
        cmocka_unit_test(test_bus_close_drains_then_epipe),
        cmocka_unit_test(test_bus_subscriber_never_joined_gets_epipe_on_close),
        cmocka_unit_test(test_bus_masks_deliver_only_to_members_and_never_wake_others),
        cmocka_unit_test(test_bus_batch_publish_sweeps_once_and_records_length),
        cmocka_unit_test(test_bus_batch_larger_than_capacity_keeps_newest),
        cmocka_unit_test(test_bus_short_message_is_zero_padded_and_long_one_refused),
        cmocka_unit_test(test_bus_subscriber_slots_are_bounded_and_reused),
        cmocka_unit_test(test_bus_recv_times_out_and_zero_timeout_tries_once),
        cmocka_unit_test(test_bus_metrics_snapshot_respects_size_field),
        cmocka_unit_test(test_bus_check_reports_broken_invariants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
