/* bench_bus.c - the SoA bus against the AoS baseline, in the same run.
 *
 * Single-threaded and deterministic, the shape of tokio's broadcast bench
 * (tokio PR 8357): one publisher writes a burst of `cap` messages, then each
 * subscriber drains it, so the figures measure the ring and not the
 * scheduler. Both buses are the same code in two layouts (bus_ops.h), and
 * every figure runs for both, alternating, with the ratio printed after
 * each pair. Subscribers drain with kc_bus_try_recv_batch (runs of up to 64)
 * unless the figure ends in _one (kc_bus_try_recv, one message per call).
 *
 *   <p>.publish_0sub / _1sub / _lagged  ns per publish (16-byte messages)
 *   <p>.publish_batch64                 ns per message, batches of 64
 *   <p>.deliveries_f1 / _f4_cap64 / _f8 / _f16_cap128 / _f8_cap1024
 *                                       M deliveries/s, 16-byte messages
 *   <p>.deliveries_f4_cap64_one, _f16_cap128_one   one message per call
 *   <p>.deliveries_f16_clear   f16 cap 128 with an atomic RMW per delivery
 *                              on a per-slot word (what a reader-side
 *                              reclaim bit would cost; tokio PR 8357)
 *   <p>.masked_f16_64b         16 subscribers on 4 topics, 64-byte messages
 * with <p> = bus (SoA) or bus_aos (the baseline).
 *
 * KC_BENCH_REPS and KC_BENCH_SCALE shorten runs (core/bench/kc_bench_util.h).
 */
#include "bus_ops.h"
#include "kc_bench_util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

const struct kc_bus_ops kc_bus_soa_ops = {
    "bus",
    kc_bus_create,
    kc_bus_release,
    kc_bus_pub_release,
    kc_bus_subscribe_with_mask,
    kc_bus_unsubscribe,
    kc_bus_publish_with_mask,
    kc_bus_publish_batch,
    kc_bus_try_recv,
    kc_bus_try_recv_batch,
    kc_bus_recv_batch,
    kc_bus_sub_metrics,
};

struct fig {
    const char *name; /* figure name after the prefix */
    int subs;         /* subscribers */
    uint32_t cap;     /* slots; also the burst */
    size_t msg;       /* bytes per message */
    int topics;       /* 0 = full mask; else subscriber i takes topic i % topics */
    bool one;         /* drain with try_recv, one message per call */
    bool clear;       /* an atomic RMW per delivery on a per-slot word */
    long rounds;      /* bursts per repetition */
};

struct run {
    const struct kc_bus_ops *ops;
    const struct fig *f;
};

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_bus: %s failed: %d\n", what, rc);
    exit(1);
}

static _Atomic uint64_t clear_words[4096];

/* Drain one subscriber; returns the deliveries. */
static uint64_t drain(const struct run *r, kc_bus_sub_t *s, uint64_t *buf, uint64_t *sink)
{
    const struct fig *f = r->f;
    uint64_t got = 0;

    if (f->one) {
        while (r->ops->try_recv(s, buf, f->msg, NULL) == 0) {
            *sink += buf[0];
            got++;
            if (f->clear)
                /* acq_rel: what a reclaiming last reader would need. */
                atomic_fetch_and_explicit(&clear_words[buf[0] & 4095], ~(uint64_t)1,
                                          memory_order_acq_rel);
        }
        return got;
    }
    for (;;) {
        size_t n = 64;
        if (r->ops->try_recv_batch(s, buf, 64 * f->msg, &n, NULL) != 0)
            return got;
        *sink += buf[0];
        got += n;
    }
}

static double fanout(void *arg)
{
    const struct run *r = arg;
    const struct fig *f = r->f;
    kc_bus_opts_t o = {.size = sizeof(o), .msg_size = f->msg, .capacity = f->cap};
    kc_bus_t *b;
    kc_bus_pub_t *p;
    kc_bus_sub_t *s[64];
    static uint64_t buf[64 * 8];
    uint64_t msg[8] = {1, 2, 3, 4, 5, 6, 7, 8}, sink = 0, delivered = 0;
    int rc;

    if ((rc = r->ops->create(&o, &b, &p)) != 0)
        die("create", rc);
    for (int i = 0; i < f->subs; i++) {
        uint64_t mask = f->topics ? (uint64_t)1 << (i % f->topics) : KC_BUS_MASK_ALL;
        if ((rc = r->ops->subscribe_with_mask(b, mask, &s[i])) != 0)
            die("subscribe", rc);
    }
    r->ops->publish_with_mask(p, KC_BUS_MASK_ALL, msg, f->msg); /* joins everyone */
    for (int i = 0; i < f->subs; i++)
        drain(r, s[i], buf, &sink);
    long rounds = kc_bench_iters(f->rounds);
    uint64_t t0 = kc_bench_now_ns();
    for (long k = 0; k < rounds; k++) {
        for (uint32_t j = 0; j < f->cap; j++) {
            msg[0] = j;
            uint64_t topic = f->topics ? (uint64_t)1 << (j % (uint32_t)f->topics) : KC_BUS_MASK_ALL;
            r->ops->publish_with_mask(p, topic, msg, f->msg);
        }
        for (int i = 0; i < f->subs; i++)
            delivered += drain(r, s[i], buf, &sink);
    }
    double secs = (double)(kc_bench_now_ns() - t0) / 1e9;
    KC_BENCH_KEEP(sink);
    for (int i = 0; i < f->subs; i++)
        r->ops->unsubscribe(s[i]);
    r->ops->pub_release(p);
    r->ops->release(b);
    return (double)delivered / secs / 1e6;
}

/* ------------------------------------------------ publish cost */

struct pubcost {
    const char *name;
    int subs;     /* 0 or 1 */
    bool drain;   /* the subscriber reads every burst */
    size_t batch; /* 0 = single publishes */
};

struct pubrun {
    const struct kc_bus_ops *ops;
    const struct pubcost *c;
};

static double publish_cost(void *arg)
{
    const struct pubrun *pr = arg;
    const struct pubcost *c = pr->c;
    kc_bus_opts_t o = {.size = sizeof(o), .msg_size = 16, .capacity = 64};
    kc_bus_t *b;
    kc_bus_pub_t *p;
    kc_bus_sub_t *s = NULL;
    uint64_t msgs[2 * 64] = {0}, buf[2 * 64];
    uint64_t timed = 0, n = 0;
    int rc;

    if ((rc = pr->ops->create(&o, &b, &p)) != 0)
        die("create", rc);
    if (c->subs && (rc = pr->ops->subscribe_with_mask(b, KC_BUS_MASK_ALL, &s)) != 0)
        die("subscribe", rc);
    long bursts = kc_bench_iters(40000);
    for (long r = 0; r < bursts; r++) {
        uint64_t t0 = kc_bench_now_ns();
        if (c->batch) {
            pr->ops->publish_batch(p, KC_BUS_MASK_ALL, msgs, c->batch);
        } else {
            for (int k = 0; k < 64; k++) {
                msgs[0] = (uint64_t)k;
                pr->ops->publish_with_mask(p, KC_BUS_MASK_ALL, msgs, 16);
            }
        }
        timed += kc_bench_now_ns() - t0;
        n += c->batch ? c->batch : 64;
        size_t got = 64;
        if (s != NULL && c->drain)
            while (pr->ops->try_recv_batch(s, buf, sizeof(buf), &got, NULL) >= 0)
                got = 64;
    }
    if (s != NULL)
        pr->ops->unsubscribe(s);
    pr->ops->pub_release(p);
    pr->ops->release(b);
    return (double)timed / (double)n;
}

/* Run both layouts alternately, rep by rep, so both see the same machine
 * state; report each median and the median of the per-rep ratios. */
static void pair(const char *name, const char *unit, double (*fn)(void *), void *soa, void *aos,
                 bool higher)
{
    double s[101], o[101], r[101], spread;
    int n = kc_bench_reps();
    char a[96], b[96];

    for (int i = 0; i < n; i++) {
        s[i] = fn(soa);
        o[i] = fn(aos);
        r[i] = higher ? s[i] / o[i] : o[i] / s[i];
    }
    snprintf(a, sizeof(a), "bus.%s", name);
    snprintf(b, sizeof(b), "bus_aos.%s", name);
    kc_bench_report(a, kc_bench_median(s, n, &spread), unit);
    kc_bench_report(b, kc_bench_median(o, n, NULL), unit);
    double med = kc_bench_median(r, n, &spread);
    fprintf(stderr, "  SoA/AoS %s: %.2fx (%s; %d reps, ratio spread %.0f%%)\n", name, med,
            higher ? "throughput" : "speed", n, spread * 100);
}

int main(void)
{
    static const struct pubcost pc[] = {
        {"publish_0sub", 0, false, 0},
        {"publish_1sub", 1, true, 0},
        {"publish_lagged", 1, false, 0},
        {"publish_batch64", 1, true, 64},
    };
    for (size_t i = 0; i < sizeof(pc) / sizeof(pc[0]); i++) {
        struct pubrun s = {&kc_bus_soa_ops, &pc[i]}, a = {&kc_bus_aos_ops, &pc[i]};
        pair(pc[i].name, "ns", publish_cost, &s, &a, false);
    }
    static const struct fig figs[] = {
        {"deliveries_f1", 1, 64, 16, 0, false, false, 40000},
        {"deliveries_f4_cap64", 4, 64, 16, 0, false, false, 20000},
        {"deliveries_f8", 8, 128, 16, 0, false, false, 6000},
        {"deliveries_f16_cap128", 16, 128, 16, 0, false, false, 4000},
        {"deliveries_f8_cap1024", 8, 1024, 16, 0, false, false, 800},
        {"deliveries_f4_cap64_one", 4, 64, 16, 0, true, false, 20000},
        {"deliveries_f16_cap128_one", 16, 128, 16, 0, true, false, 4000},
        {"deliveries_f16_clear", 16, 128, 16, 0, true, true, 4000},
        {"masked_f16_64b", 16, 128, 64, 4, false, false, 6000},
    };
    for (size_t i = 0; i < sizeof(figs) / sizeof(figs[0]); i++) {
        struct run s = {&kc_bus_soa_ops, &figs[i]}, a = {&kc_bus_aos_ops, &figs[i]};
        pair(figs[i].name, "M/s", fanout, &s, &a, true);
    }
    return 0;
}
