/* bench_bus.c - SoA bus against the AoS baseline, in the same run.
 *
 * Single-threaded and deterministic, the shape of tokio's broadcast bench
 * (tokio PR 8357): one publisher writes a burst of `cap` messages, then each
 * subscriber drains it with try_recv, so the figures measure the ring and
 * not the scheduler. Both buses run the same seqlock protocol and the same
 * notify sweep; they differ by layout (bench/kc_bus_aos.h). Figures:
 *
 *   bus.publish_0sub / _1sub / _lagged  ns per publish (16-byte messages)
 *   bus.publish_batch64                 ns per message, batches of 64
 *   bus.fanout_Nsub, bus.aos_fanout_Nsub     M msgs/s per subscriber
 *   bus.deliveries_f4_cap64, _f8, _f16_cap128 M deliveries/s (+ bus_aos.*)
 *   bus.fanout_16sub_clear, bus.aos_fanout_16sub_clear   with the per-slot
 *       atomic clear of the reader's ready bit after every read
 *   bus.masked_f16_64b, bus.aos_masked_f16_64b   16 subscribers on 4 topics,
 *       64-byte messages, M deliveries/s
 *
 * KC_BENCH_REPS and KC_BENCH_SCALE shorten runs (core/bench/kc_bench_util.h).
 */
#include "kc_bench_util.h"
#include "kc_bus_aos.h"
#include "kc_bus_impl.h"

#include <stdio.h>
#include <stdlib.h>

struct fig {
    int subs;     /* subscribers */
    uint32_t cap; /* slots; also the burst */
    size_t msg;   /* bytes per message */
    int topics;   /* 0 = full mask; else subscriber i takes topic i % topics */
    bool clear;   /* clear the ready bit with an RMW after each read */
    long rounds;  /* bursts per repetition */
    bool per_sub; /* report M msgs/s per subscriber, else all deliveries */
};

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_bus: %s failed: %d\n", what, rc);
    exit(1);
}

/* ------------------------------------------------ SoA bus */

static double soa_fanout(void *arg)
{
    const struct fig *f = arg;
    kc_bus_opts_t o = {.size = sizeof(o), .msg_size = f->msg, .capacity = f->cap};
    kc_bus_t *b;
    kc_bus_pub_t *p;
    kc_bus_sub_t *s[KC_BUS_MAX_SUBS];
    uint64_t msg[8] = {1, 2, 3, 4, 5, 6, 7, 8}, buf[8], sink = 0, delivered = 0;
    int rc;

    if ((rc = kc_bus_create(&o, &b, &p)) != 0)
        die("kc_bus_create", rc);
    for (int i = 0; i < f->subs; i++) {
        uint64_t mask = f->topics ? (uint64_t)1 << (i % f->topics) : KC_BUS_MASK_ALL;
        if ((rc = kc_bus_subscribe_with_mask(b, mask, &s[i])) != 0)
            die("kc_bus_subscribe", rc);
    }
    kc_bus_publish(p, msg, f->msg); /* joins everyone */
    for (int i = 0; i < f->subs; i++)
        while (kc_bus_try_recv(s[i], buf, sizeof(buf), NULL) == 0)
            ;
    long rounds = kc_bench_iters(f->rounds);
    uint64_t t0 = kc_bench_now_ns();
    for (long r = 0; r < rounds; r++) {
        for (uint32_t k = 0; k < f->cap; k++) {
            msg[0] = k;
            uint64_t topic = f->topics ? (uint64_t)1 << (k % (uint32_t)f->topics) : KC_BUS_MASK_ALL;
            kc_bus_publish_with_mask(p, topic, msg, f->msg);
        }
        for (int i = 0; i < f->subs; i++) {
            while (kc_bus_try_recv(s[i], buf, sizeof(buf), NULL) == 0) {
                sink += buf[0];
                delivered++;
                if (f->clear) {
                    uint64_t at =
                        (atomic_load_explicit(&s[i]->next, memory_order_relaxed) - 1) & b->mask;
                    /* acq_rel: what a reclaiming last reader would need. */
                    atomic_fetch_and_explicit(&b->ready[at], ~s[i]->bit, memory_order_acq_rel);
                }
            }
        }
    }
    double secs = (double)(kc_bench_now_ns() - t0) / 1e9;
    KC_BENCH_KEEP(sink);
    for (int i = 0; i < f->subs; i++)
        kc_bus_unsubscribe(s[i]);
    kc_bus_pub_release(p);
    kc_bus_release(b);
    return (double)delivered / secs / 1e6 / (f->per_sub ? f->subs : 1);
}

/* ------------------------------------------------ AoS baseline */

static double aos_fanout(void *arg)
{
    const struct fig *f = arg;
    struct aos_bus *b = aos_create(f->cap, f->msg, f->subs, f->clear);
    uint64_t msg[8] = {1, 2, 3, 4, 5, 6, 7, 8}, buf[8], sink = 0, delivered = 0;
    uint64_t topic_subs[64] = {0};

    if (b == NULL)
        die("aos_create", -ENOMEM);
    for (int i = 0; i < f->subs; i++)
        topic_subs[f->topics ? i % f->topics : 0] |= (uint64_t)1 << i;
    long rounds = kc_bench_iters(f->rounds);
    uint64_t t0 = kc_bench_now_ns();
    for (long r = 0; r < rounds; r++) {
        for (uint32_t k = 0; k < f->cap; k++) {
            msg[0] = k;
            uint64_t ready = f->topics ? topic_subs[k % (uint32_t)f->topics] : aos_all(b);
            aos_publish(b, ready, msg, f->msg);
        }
        for (int i = 0; i < f->subs; i++) {
            while (aos_try_recv(b, i, buf) == 0) {
                sink += buf[0];
                delivered++;
            }
        }
    }
    double secs = (double)(kc_bench_now_ns() - t0) / 1e9;
    KC_BENCH_KEEP(sink);
    aos_destroy(b);
    return (double)delivered / secs / 1e6 / (f->per_sub ? f->subs : 1);
}

/* ------------------------------------------------ publish cost */

struct pubcost {
    int subs;     /* 0 or 1 */
    bool drain;   /* the subscriber reads every burst */
    size_t batch; /* 0 = single publishes */
};

static double publish_cost(void *arg)
{
    const struct pubcost *c = arg;
    kc_bus_opts_t o = {.size = sizeof(o), .msg_size = 16, .capacity = 64};
    kc_bus_t *b;
    kc_bus_pub_t *p;
    kc_bus_sub_t *s = NULL;
    uint64_t msgs[2 * 64] = {0}, buf[2];
    uint64_t timed = 0, n = 0;
    int rc;

    if ((rc = kc_bus_create(&o, &b, &p)) != 0)
        die("kc_bus_create", rc);
    if (c->subs && (rc = kc_bus_subscribe(b, &s)) != 0)
        die("kc_bus_subscribe", rc);
    long bursts = kc_bench_iters(40000);
    for (long r = 0; r < bursts; r++) {
        uint64_t t0 = kc_bench_now_ns();
        if (c->batch) {
            kc_bus_publish_batch(p, KC_BUS_MASK_ALL, msgs, c->batch);
        } else {
            for (int k = 0; k < 64; k++) {
                msgs[0] = (uint64_t)k;
                kc_bus_publish(p, msgs, 16);
            }
        }
        timed += kc_bench_now_ns() - t0;
        n += c->batch ? c->batch : 64;
        if (s != NULL && c->drain)
            while (kc_bus_try_recv(s, buf, sizeof(buf), NULL) >= 0)
                ;
    }
    kc_bus_unsubscribe(s);
    kc_bus_pub_release(p);
    kc_bus_release(b);
    return (double)timed / (double)n;
}

int main(void)
{
    static const struct pubcost p0 = {0, false, 0}, p1 = {1, true, 0}, pl = {1, false, 0},
                                pb = {1, true, 64};
    kc_bench_measure("bus.publish_0sub", "ns", publish_cost, (void *)(uintptr_t)&p0);
    kc_bench_measure("bus.publish_1sub", "ns", publish_cost, (void *)(uintptr_t)&p1);
    kc_bench_measure("bus.publish_lagged", "ns", publish_cost, (void *)(uintptr_t)&pl);
    kc_bench_measure("bus.publish_batch64", "ns", publish_cost, (void *)(uintptr_t)&pb);

    static const struct {
        const char *soa, *aos;
        struct fig f;
    } figs[] = {
        {"bus.fanout_1sub", "bus.aos_fanout_1sub", {1, 64, 16, 0, false, 40000, true}},
        {"bus.fanout_4sub", "bus.aos_fanout_4sub", {4, 64, 16, 0, false, 20000, true}},
        {"bus.fanout_16sub", "bus.aos_fanout_16sub", {16, 128, 16, 0, false, 4000, true}},
        {"bus.deliveries_f4_cap64",
         "bus_aos.deliveries_f4_cap64",
         {4, 64, 16, 0, false, 20000, false}},
        {"bus.deliveries_f8", "bus_aos.deliveries_f8", {8, 128, 16, 0, false, 6000, false}},
        {"bus.deliveries_f16_cap128",
         "bus_aos.deliveries_f16_cap128",
         {16, 128, 16, 0, false, 4000, false}},
        {"bus.deliveries_f8_cap1024",
         "bus_aos.deliveries_f8_cap1024",
         {8, 1024, 16, 0, false, 800, false}},
        {"bus.fanout_16sub_clear",
         "bus.aos_fanout_16sub_clear",
         {16, 128, 16, 0, true, 4000, true}},
        {"bus.masked_f16_64b", "bus.aos_masked_f16_64b", {16, 128, 64, 4, false, 6000, false}},
    };
    for (size_t i = 0; i < sizeof(figs) / sizeof(figs[0]); i++) {
        const char *unit = figs[i].f.per_sub ? "Mmsg/s/sub" : "M/s";
        double s = kc_bench_measure(figs[i].soa, unit, soa_fanout, (void *)(uintptr_t)&figs[i].f);
        double a = kc_bench_measure(figs[i].aos, unit, aos_fanout, (void *)(uintptr_t)&figs[i].f);
        fprintf(stderr, "  ratio %s / %s = %.2f\n", figs[i].soa, figs[i].aos, s / a);
    }
    return 0;
}
