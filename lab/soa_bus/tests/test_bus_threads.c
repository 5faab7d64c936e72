/* test_bus_threads.c - the SoA bus under real concurrency.
 *
 * Torn and duplicated reads under heavy overwrite (checksummed payloads,
 * one and two publishers, batches larger than the ring), exact accounting
 * after close, blocking receivers, a ping-pong that parks on every round to
 * hunt lost wake-ups in the edge protocol, close waking parked receivers,
 * masked publishes that never wake a non-member, and the waiter's permit
 * semantics. Threads record what they saw; assertions run on the main thread
 * after the join. Waits are bounded (FAIL_NS) so a lost wake-up fails the
 * test instead of hanging it.
 */
#include "bus_test_util.h"
#include "kc_bus_impl.h"
#include "port/kc_port.h"

#include <limits.h>
#include <pthread.h>

#define FAIL_NS ((int64_t)30 * 1000000000)

/* ------------------------------------------------ overwrite torture */

/* Publishers send per_pub messages each, in bursts of four rings' worth.
 * After each burst a publisher waits until every reader has made progress
 * (a delivery or a lag) since the burst began, so readers really race the
 * overwrites on any scheduler (qemu included) and the run stays bounded. */
struct torture {
    kc_bus_t *bus;
    kc_bus_pub_t *pub[2];
    int npub, nsub;
    bool batch; /* readers use kc_bus_recv_batch (runs of up to 8) */
    long per_pub, burst, sent[2];
    _Atomic long progress[3]; /* reader events; LONG_MAX/2 once it quit */
    _Atomic int waiting;      /* publishers inside wait_progress */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct reader *readers;
    uint64_t seed;
};

static bool advanced(struct torture *t, const long *since)
{
    for (int i = 0; i < t->nsub; i++)
        if (atomic_load(&t->progress[i]) <= since[i])
            return false;
    return true;
}

static void wait_progress(struct torture *t, const long *since)
{
    pthread_mutex_lock(&t->mu);
    atomic_fetch_add(&t->waiting, 1); /* seq_cst: Dekker with note_progress */
    while (!advanced(t, since))
        pthread_cond_wait(&t->cv, &t->mu);
    atomic_fetch_sub(&t->waiting, 1);
    pthread_mutex_unlock(&t->mu);
}

static void note_progress(struct torture *t, int i, long n)
{
    atomic_fetch_add(&t->progress[i], n);
    if (atomic_load(&t->waiting) != 0) {
        pthread_mutex_lock(&t->mu);
        pthread_cond_broadcast(&t->cv);
        pthread_mutex_unlock(&t->mu);
    }
}

struct reader {
    struct torture *t;
    kc_bus_sub_t *sub;
    uint64_t topics;
    long got, torn, dup, wrong_topic, lag_events, etime;
    uint64_t last[2]; /* last seq seen + 1, per publisher */
};

/* Publisher 1 sends even sequences to topic 0x1 and odd ones to 0x2. */
static uint64_t topic_of(uint64_t pub, uint64_t seq)
{
    return pub == 0 ? KC_BUS_MASK_ALL : (seq % 2 == 0 ? 0x1 : 0x2);
}

static void *torture_pub(void *arg)
{
    struct torture *t = ((void **)arg)[0];
    uint64_t id = (uint64_t)(uintptr_t)((void **)arg)[1];
    uint64_t rng = t->seed + id;
    bus_payload_t batch[12];
    long k = 0;

    long since[3];

    while (k < t->per_pub) {
        for (int i = 0; i < t->nsub; i++)
            since[i] = atomic_load(&t->progress[i]);
        for (long end = k + t->burst; k < end && k < t->per_pub;) {
            uint64_t r = bus_rand(&rng);
            if (id == 0 && r % 4 == 0) {
                long n = 1 + (long)((r >> 8) % 12);
                for (long j = 0; j < n; j++)
                    bus_payload_make(&batch[j], id, (uint64_t)(k + j));
                kc_bus_publish_batch(t->pub[id], KC_BUS_MASK_ALL, batch, (size_t)n);
                k += n;
            } else {
                bus_payload_make(&batch[0], id, (uint64_t)k);
                kc_bus_publish_with_mask(t->pub[id], topic_of(id, (uint64_t)k), &batch[0],
                                         sizeof(batch[0]));
                k++;
            }
        }
        wait_progress(t, since);
    }
    t->sent[id] = k;
    kc_bus_pub_release(t->pub[id]);
    return NULL;
}

/* Check one received payload against what the publishers sent. */
static void torture_check(struct reader *r, const bus_payload_t *p)
{
    r->got++;
    if (!bus_payload_ok(p) || p->pub > 1) {
        r->torn++;
        return;
    }
    if (p->seq + 1 <= r->last[p->pub])
        r->dup++;
    r->last[p->pub] = p->seq + 1;
    if ((topic_of(p->pub, p->seq) & r->topics) == 0)
        r->wrong_topic++;
}

static void *torture_sub(void *arg)
{
    struct reader *r = arg;
    bus_payload_t p[8];
    int me = (int)(r - r->t->readers);

    for (;;) {
        uint64_t missed = 0;
        size_t n = 1 + (size_t)(r->got % 8); /* vary the run length */
        int rc = r->t->batch ? kc_bus_recv_batch(r->sub, p, sizeof(p), &n, &missed, FAIL_NS, NULL)
                             : kc_bus_recv(r->sub, p, sizeof(p[0]), &missed, FAIL_NS, NULL);
        if (!r->t->batch && rc == 0)
            n = 1;
        if (rc == -ETIME)
            r->etime++;
        if (rc == -EPIPE || rc == -ETIME) {
            note_progress(r->t, me, LONG_MAX / 2);
            break;
        }
        if (rc == KC_BUS_LAGGED) {
            r->lag_events++;
            note_progress(r->t, me, 1);
            continue;
        }
        for (size_t k = 0; k < n; k++)
            torture_check(r, &p[k]);
        note_progress(r->t, me, 1);
    }
    return NULL;
}

static void torture_run(int npub, int nsub, uint32_t cap, bool batch)
{
    struct reader rd[3];
    struct torture t = {.npub = npub,
                        .nsub = nsub,
                        .per_pub = bus_scaled(40000),
                        .burst = 4 * (long)cap,
                        .batch = batch,
                        .readers = rd,
                        .seed = 0x70c7u + (uint64_t)npub};
    pthread_t pt[2], st[3];
    void *args[2][2];
    static const uint64_t masks[3] = {KC_BUS_MASK_ALL, 0x1, 0x2};

    pthread_mutex_init(&t.mu, NULL);
    pthread_cond_init(&t.cv, NULL);
    t.bus = bus_new(sizeof(bus_payload_t), cap, (uint32_t)nsub, &t.pub[0]);
    if (npub == 2)
        assert_int_equal(kc_bus_pub_clone(t.pub[0], &t.pub[1]), 0);
    memset(rd, 0, sizeof(rd));
    for (int i = 0; i < nsub; i++) {
        rd[i].t = &t;
        rd[i].topics = masks[i];
        assert_int_equal(kc_bus_subscribe_with_mask(t.bus, masks[i], &rd[i].sub), 0);
        assert_int_equal(pthread_create(&st[i], NULL, torture_sub, &rd[i]), 0);
    }
    for (int i = 0; i < npub; i++) {
        args[i][0] = &t;
        args[i][1] = (void *)(uintptr_t)i;
        assert_int_equal(pthread_create(&pt[i], NULL, torture_pub, args[i]), 0);
    }
    for (int i = 0; i < npub; i++)
        pthread_join(pt[i], NULL);
    for (int i = 0; i < nsub; i++)
        pthread_join(st[i], NULL);

    kc_bus_metrics_t m = bus_m(t.bus);
    assert_int_equal(m.published, (uint64_t)(t.sent[0] + t.sent[1]));

    for (int i = 0; i < nsub; i++) {
        kc_bus_sub_metrics_t sm = bus_sm(rd[i].sub);
        if (rd[i].torn || rd[i].dup || rd[i].wrong_topic || rd[i].etime ||
            m.published != sm.delivered + sm.lagged + sm.filtered ||
            (uint64_t)rd[i].got != sm.delivered)
            fail_msg("seed %#llx sub %d: torn %ld dup %ld wrong-topic %ld etime %ld, "
                     "published %llu delivered %llu lagged %llu filtered %llu got %ld",
                     (unsigned long long)t.seed, i, rd[i].torn, rd[i].dup, rd[i].wrong_topic,
                     rd[i].etime, (unsigned long long)m.published, (unsigned long long)sm.delivered,
                     (unsigned long long)sm.lagged, (unsigned long long)sm.filtered, rd[i].got);
        if (i == 0)
            assert_int_equal(sm.filtered, 0);
        print_message("%d pub sub %d: delivered %llu lagged %llu (%ld events) filtered %llu\n",
                      npub, i, (unsigned long long)sm.delivered, (unsigned long long)sm.lagged,
                      rd[i].lag_events, (unsigned long long)sm.filtered);
        kc_bus_unsubscribe(rd[i].sub);
    }
    assert_int_equal(kc_bus_check(t.bus), 0);
    kc_bus_release(t.bus);
    pthread_cond_destroy(&t.cv);
    pthread_mutex_destroy(&t.mu);
}

static void test_bus_no_torn_or_duplicated_reads_one_publisher(void **state)
{
    (void)state;
    torture_run(1, 3, 8, false);
}

static void test_bus_no_torn_or_duplicated_reads_two_publishers(void **state)
{
    (void)state;
    torture_run(2, 3, 4, false);
}

static void test_bus_no_torn_or_duplicated_runs_in_batch_receive(void **state)
{
    (void)state;
    torture_run(1, 3, 8, true);
    torture_run(2, 3, 4, true);
}

/* ------------------------------------------------ lossless when it fits */

static void *drain_all(void *arg)
{
    struct reader *r = arg;
    uint64_t v;
    int rc;

    while ((rc = kc_bus_recv(r->sub, &v, sizeof(v), NULL, FAIL_NS, NULL)) != -EPIPE) {
        if (rc == -ETIME) {
            r->etime++;
            break;
        }
        if (rc != 0 || v != (uint64_t)r->got)
            r->torn++;
        r->got++;
    }
    return NULL;
}

static void test_bus_blocking_receivers_get_everything_the_ring_holds(void **state)
{
    (void)state;
    const long n = 3000;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 4096, 3, &p);
    struct reader rd[3];
    pthread_t th[3];

    memset(rd, 0, sizeof(rd));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(kc_bus_subscribe(b, &rd[i].sub), 0);
        assert_int_equal(pthread_create(&th[i], NULL, drain_all, &rd[i]), 0);
    }
    for (uint64_t k = 0; k < (uint64_t)n; k++)
        bus_pub_u64(p, k);
    kc_bus_pub_release(p);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(rd[i].etime, 0);
        assert_int_equal(rd[i].torn, 0);
        assert_int_equal(rd[i].got, n);
        assert_int_equal(bus_sm(rd[i].sub).lagged, 0);
        kc_bus_unsubscribe(rd[i].sub);
    }
    kc_bus_metrics_t m = bus_m(b);
    assert_int_equal(m.notify_sends + m.notify_suppressed, 3 * (uint64_t)n);
    kc_bus_release(b);
}

/* ------------------------------------------------ lost wake-up hunt */

struct pingpong {
    kc_bus_t *bus[2];
    kc_bus_pub_t *pub[2];
    kc_bus_sub_t *sub[2];
    long rounds, done[2], bad[2], etime[2];
};

static void *pong(void *arg)
{
    struct pingpong *pp = arg;
    uint64_t v;

    for (long k = 0; k < pp->rounds; k++) {
        int rc = kc_bus_recv(pp->sub[0], &v, sizeof(v), NULL, FAIL_NS, NULL);
        if (rc == -ETIME) {
            pp->etime[1]++;
            break;
        }
        if (rc != 0 || v != (uint64_t)k)
            pp->bad[1]++;
        kc_bus_publish(pp->pub[1], &v, sizeof(v));
        pp->done[1]++;
    }
    return NULL;
}

static void test_bus_no_lost_wakeup_in_ping_pong(void **state)
{
    (void)state;
    struct pingpong pp = {.rounds = bus_scaled(20000)};
    pthread_t th;
    uint64_t v;

    for (int i = 0; i < 2; i++) {
        pp.bus[i] = bus_new(sizeof(uint64_t), 64, 1, &pp.pub[i]);
        assert_int_equal(kc_bus_subscribe(pp.bus[i], &pp.sub[i]), 0);
    }
    /* Join both subscribers before any round (start sequence 0). */
    assert_int_equal(pthread_create(&th, NULL, pong, &pp), 0);
    for (long k = 0; k < pp.rounds; k++) {
        v = (uint64_t)k;
        kc_bus_publish(pp.pub[0], &v, sizeof(v));
        int rc = kc_bus_recv(pp.sub[1], &v, sizeof(v), NULL, FAIL_NS, NULL);
        if (rc == -ETIME) {
            pp.etime[0]++;
            break;
        }
        if (rc != 0 || v != (uint64_t)k)
            pp.bad[0]++;
        pp.done[0]++;
    }
    pthread_join(th, NULL);
    assert_int_equal(pp.etime[0] + pp.etime[1], 0);
    assert_int_equal(pp.bad[0] + pp.bad[1], 0);
    assert_int_equal(pp.done[0], pp.rounds);
    assert_int_equal(pp.done[1], pp.rounds);
    for (int i = 0; i < 2; i++) {
        kc_bus_sub_metrics_t sm = bus_sm(pp.sub[i]);
        assert_int_equal(sm.delivered, (uint64_t)pp.rounds);
        print_message("ping-pong side %d: %llu parks, %llu notifies over %ld rounds\n", i,
                      (unsigned long long)sm.parks, (unsigned long long)sm.notified, pp.rounds);
        kc_bus_unsubscribe(pp.sub[i]);
        kc_bus_pub_release(pp.pub[i]);
        kc_bus_release(pp.bus[i]);
    }
}

/* ------------------------------------------------ close wakes sleepers */

static void test_bus_close_wakes_parked_receivers_after_drain(void **state)
{
    (void)state;
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 64, 4, &p);
    struct reader rd[4];
    pthread_t th[4];

    memset(rd, 0, sizeof(rd));
    for (int i = 0; i < 4; i++)
        assert_int_equal(kc_bus_subscribe(b, &rd[i].sub), 0);
    bus_pub_u64(p, 0); /* joins all four at sequence 0 */
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, drain_all, &rd[i]), 0);
    for (uint64_t k = 1; k < 10; k++)
        bus_pub_u64(p, k);
    kc_bus_pub_release(p);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(rd[i].etime, 0);
        assert_int_equal(rd[i].torn, 0);
        assert_int_equal(rd[i].got, 10);
        kc_bus_unsubscribe(rd[i].sub);
    }
    kc_bus_release(b);
}

/* ------------------------------------------------ masks and wake-ups */

static void *wait_one(void *arg)
{
    struct reader *r = arg;
    uint64_t v = 0;
    int rc;
    while ((rc = kc_bus_recv(r->sub, &v, sizeof(v), NULL, FAIL_NS, NULL)) == KC_BUS_LAGGED)
        r->lag_events++;
    if (rc == -ETIME)
        r->etime++;
    else if (rc != 0 || v != 0xabc)
        r->torn++;
    return NULL;
}

static void test_bus_masked_publishes_never_wake_a_non_member_thread(void **state)
{
    (void)state;
    const long n = bus_scaled(10000);
    kc_bus_pub_t *p;
    kc_bus_t *b = bus_new(sizeof(uint64_t), 64, 2, &p);
    struct reader a = {0};
    kc_bus_sub_t *other;
    pthread_t th;
    uint64_t v = 0;

    assert_int_equal(kc_bus_subscribe_with_mask(b, 0x1, &a.sub), 0);
    assert_int_equal(kc_bus_subscribe_with_mask(b, 0x2, &other), 0);
    assert_int_equal(pthread_create(&th, NULL, wait_one, &a), 0);
    for (long k = 0; k < n; k++)
        assert_int_equal(kc_bus_publish_with_mask(p, 0x2, &v, sizeof(v)), 1);
    v = 0xabc;
    assert_int_equal(kc_bus_publish_with_mask(p, 0x1, &v, sizeof(v)), 1);
    pthread_join(th, NULL);
    kc_bus_sub_metrics_t sm = bus_sm(a.sub);
    assert_int_equal(a.etime, 0);
    assert_int_equal(a.torn, 0);
    /* At most the member message woke it (it may have found the message
     * in its re-check first), and a park always ends with that wake-up. */
    assert_in_range(sm.notified, 0, 1);
    assert_in_range(sm.parks, 0, sm.notified);
    assert_int_equal(sm.delivered, 1);
    /* The ring is smaller than the run: what was not filtered was lost. */
    assert_int_equal(sm.filtered + sm.lagged, (uint64_t)n);
    assert_int_equal(bus_sm(other).notified, 0); /* never waited: never woken */
    kc_bus_unsubscribe(a.sub);
    kc_bus_unsubscribe(other);
    kc_bus_pub_release(p);
    kc_bus_release(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bus_no_torn_or_duplicated_reads_one_publisher),
        cmocka_unit_test(test_bus_no_torn_or_duplicated_reads_two_publishers),
        cmocka_unit_test(test_bus_no_torn_or_duplicated_runs_in_batch_receive),
        cmocka_unit_test(test_bus_blocking_receivers_get_everything_the_ring_holds),
        cmocka_unit_test(test_bus_no_lost_wakeup_in_ping_pong),
        cmocka_unit_test(test_bus_close_wakes_parked_receivers_after_drain),
        cmocka_unit_test(test_bus_masked_publishes_never_wake_a_non_member_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
