/* bench_bus.c - the broadcast bus: publish cost, ring throughput, paced bursts.
 *
 * Every figure runs for the SoA bus (`bus.*`) and for the AoS baseline
 * (`bus_aos.*`), which is the same sources compiled in the other layout
 * (lab/soa_bus/bench/aos/kc_bus_aos.c), alternating rep by rep so both see the same
 * machine state; the SoA/AoS ratio goes to stderr. The tokio peer
 * (peers/bus_tokio) prints the same figures as `peer.tokio.bus.*`.
 *
 *   publish_0sub / _1sub / _lagged   ns per publish, 16-byte messages, cap 64
 *   deliveries_f1_cap64, _f4_cap64, _f8 (cap 128), _f16_cap128
 *       M deliveries/s. One thread: publish a burst of `cap` messages, then
 *       every subscriber drains it with kc_bus_try_recv_batch (the shape of
 *       tokio's broadcast bench). Nothing is lost by construction; the loss
 *       line (`.loss`, %) says so.
 *   paced_f<N>_cap<C>_b<B>
 *       M deliveries/s with the loss in % on the next line (`.loss`): a
 *       publisher coroutine and N subscriber coroutines on a scheduler with
 *       2 workers. The publisher publishes a burst of B messages one by one,
 *       then waits until every subscriber has caught up (read or lost
 *       everything), and repeats: the publisher pacing the tokio peer uses
 *       too. Subscribers block in kc_bus_recv_batch. A burst larger than the
 *       ring, or subscribers slower than the publisher, lose messages.
 *
 * The deliveries against fanout go to bus_fanout.dat and bus_fanout.png
 * (gnuplot, when installed) next to the KC_BENCH_TSV file. KC_BENCH_REPS
 * and KC_BENCH_SCALE shorten runs.
 */
#include "bus_ops.h"
#include "kc_bench_util.h"
#include "kcoro.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#define MAXSUB 16

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_bus: %s failed: %s\n", what, kc_strerror(rc));
    exit(1);
}

static kc_bus_t *make_bus(const struct kc_bus_ops *ops, uint32_t cap, int subs, kc_bus_pub_t **p,
                          kc_bus_sub_t **s)
{
    kc_bus_opts_t o = {.size = sizeof(o), .msg_size = 16, .capacity = cap};
    kc_bus_t *b;
    int rc;

    if ((rc = ops->create(&o, &b, p)) != 0)
        die("create", rc);
    for (int i = 0; i < subs; i++)
        if ((rc = ops->subscribe_with_mask(b, KC_BUS_MASK_ALL, &s[i])) != 0)
            die("subscribe", rc);
    return b;
}

static void drop_bus(const struct kc_bus_ops *ops, kc_bus_t *b, kc_bus_pub_t *p, kc_bus_sub_t **s,
                     int subs)
{
    for (int i = 0; i < subs; i++)
        ops->unsubscribe(s[i]);
    if (p != NULL)
        ops->pub_release(p);
    ops->release(b);
}

/* ------------------------------------------------ publish cost */

struct pubcost {
    const struct kc_bus_ops *ops;
    int subs;   /* 0 or 1 */
    bool drain; /* the subscriber reads every burst */
};

static double publish_cost(void *arg)
{
    const struct pubcost *c = arg;
    kc_bus_pub_t *p;
    kc_bus_sub_t *s[1];
    kc_bus_t *b = make_bus(c->ops, 64, c->subs, &p, s);
    uint64_t msg[2] = {0, 0}, buf[2 * 64], timed = 0, n = 0;
    long bursts = kc_bench_iters(40000);

    for (long r = 0; r < bursts; r++) {
        uint64_t t0 = kc_bench_now_ns();
        for (int k = 0; k < 64; k++) {
            msg[0] = (uint64_t)k;
            c->ops->publish_with_mask(p, KC_BUS_MASK_ALL, msg, 16);
        }
        timed += kc_bench_now_ns() - t0;
        n += 64;
        size_t got = 64;
        while (c->subs && c->drain &&
               c->ops->try_recv_batch(s[0], buf, sizeof(buf), &got, NULL) >= 0)
            got = 64;
    }
    drop_bus(c->ops, b, p, s, c->subs);
    return (double)timed / (double)n;
}

/* ------------------------------------------------ ring throughput */

struct ring {
    const struct kc_bus_ops *ops;
    int subs;
    uint32_t cap;
    long rounds;
};

static double ring_deliveries(void *arg)
{
    const struct ring *r = arg;
    kc_bus_pub_t *p;
    kc_bus_sub_t *s[MAXSUB];
    kc_bus_t *b = make_bus(r->ops, r->cap, r->subs, &p, s);
    static uint64_t buf[2 * 64];
    uint64_t msg[2] = {0, 0}, sink = 0, delivered = 0;
    long rounds = kc_bench_iters(r->rounds);

    uint64_t t0 = kc_bench_now_ns();
    for (long k = 0; k < rounds; k++) {
        for (uint32_t j = 0; j < r->cap; j++) {
            msg[0] = j;
            r->ops->publish_with_mask(p, KC_BUS_MASK_ALL, msg, 16);
        }
        for (int i = 0; i < r->subs; i++) {
            size_t n = 64;
            while (r->ops->try_recv_batch(s[i], buf, sizeof(buf), &n, NULL) == 0) {
                sink += buf[0];
                delivered += n;
                n = 64;
            }
        }
    }
    double secs = (double)(kc_bench_now_ns() - t0) / 1e9;
    KC_BENCH_KEEP(sink);
    drop_bus(r->ops, b, p, s, r->subs);
    return (double)delivered / secs / 1e6;
}

/* ------------------------------------------------ paced bursts */

struct paced {
    const struct kc_bus_ops *ops;
    int subs;
    uint32_t cap, burst;
    long rounds;
    /* per run */
    kc_bus_pub_t *pub;
    kc_bus_sub_t *sub[MAXSUB];
    _Atomic int pending;     /* subscribers yet to catch up this round */
    _Atomic uint64_t target; /* sequences published by the end of this round */
    kc_parker_t waiter;      /* the publisher's */
    uint64_t delivered[MAXSUB], lagged[MAXSUB];
    double loss; /* of the last run, % */
};

struct paced_sub {
    struct paced *pc;
    int i;
};

static int paced_subscriber(void *arg)
{
    struct paced_sub *me = arg;
    struct paced *pc = me->pc;
    uint64_t buf[2 * 64], seen = 0, acked = 0, missed;
    int rc;

    for (;;) {
        size_t n = 64;
        rc =
            pc->ops->recv_batch(pc->sub[me->i], buf, sizeof(buf), &n, &missed, KC_NO_TIMEOUT, NULL);
        if (rc == 0) {
            seen += n;
            pc->delivered[me->i] += n;
        } else if (rc == KC_BUS_LAGGED) {
            seen += missed;
            pc->lagged[me->i] += missed;
        } else {
            break;
        }
        uint64_t t = atomic_load_explicit(&pc->target, memory_order_acquire);
        if (seen >= t && acked < t) {
            acked = t;
            if (atomic_fetch_sub(&pc->pending, 1) == 1)
                kc_unpark(&pc->waiter);
        }
    }
    return rc == -EPIPE ? 0 : rc;
}

static int paced_publisher(void *arg)
{
    struct paced *pc = arg;
    uint64_t msg[2] = {0, 0}, seq = 0;

    kc_parker_init(&pc->waiter);
    for (long r = 0; r < pc->rounds; r++) {
        atomic_store(&pc->pending, pc->subs);
        /* Release: pending is reset before a subscriber can see the target. */
        atomic_store_explicit(&pc->target, seq + pc->burst, memory_order_release);
        for (uint32_t k = 0; k < pc->burst; k++, seq++) {
            msg[0] = seq;
            pc->ops->publish_with_mask(pc->pub, KC_BUS_MASK_ALL, msg, 16);
        }
        while (atomic_load(&pc->pending) > 0)
            kc_park(&pc->waiter, KC_NO_TIMEOUT, NULL);
    }
    pc->ops->pub_release(pc->pub); /* close: the subscribers return */
    pc->pub = NULL;
    return 0;
}

static double paced_run(void *arg)
{
    struct paced *pc = arg;
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    struct paced_sub ps[MAXSUB];
    kc_task_t *t[MAXSUB + 1];
    kc_sched_t *s;
    int rc;

    so.nworkers = 2;
    if ((rc = kc_sched_create(&s, &so)) != 0)
        die("kc_sched_create", rc);
    kc_bus_t *b = make_bus(pc->ops, pc->cap, pc->subs, &pc->pub, pc->sub);
    memset(pc->delivered, 0, sizeof(pc->delivered));
    memset(pc->lagged, 0, sizeof(pc->lagged));
    atomic_store(&pc->target, 0);
    uint64_t t0 = kc_bench_now_ns();
    for (int i = 0; i < pc->subs; i++) {
        ps[i] = (struct paced_sub){pc, i};
        if ((rc = kc_sched_spawn(s, &t[i], paced_subscriber, &ps[i], NULL)) != 0)
            die("spawn", rc);
    }
    if ((rc = kc_sched_spawn(s, &t[pc->subs], paced_publisher, pc, NULL)) != 0)
        die("spawn", rc);
    for (int i = 0; i <= pc->subs; i++)
        if ((rc = kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL)) != 0)
            die("join", rc);
    double secs = (double)(kc_bench_now_ns() - t0) / 1e9;
    uint64_t got = 0, lost = 0;
    for (int i = 0; i < pc->subs; i++) {
        got += pc->delivered[i];
        lost += pc->lagged[i];
    }
    pc->loss = 100.0 * (double)lost / (double)(got + lost);
    drop_bus(pc->ops, b, NULL, pc->sub, pc->subs);
    kc_sched_destroy(s);
    return (double)got / secs / 1e6;
}

/* ------------------------------------------------ reporting */

/* Run both layouts alternately, rep by rep; report each median, the loss
 * line when asked, and the median of the per-rep SoA/AoS ratios. */
static void pair(const char *name, const char *unit, double (*fn)(void *), void *soa, void *aos,
                 bool higher, double *loss_soa, double *loss_aos, double *out)
{
    double s[101], o[101], r[101], ls[101], lo[101], spread;
    int n = kc_bench_reps();
    char a[96], b[96];

    for (int i = 0; i < n; i++) {
        s[i] = fn(soa);
        ls[i] = loss_soa ? *loss_soa : 0;
        o[i] = fn(aos);
        lo[i] = loss_aos ? *loss_aos : 0;
        r[i] = higher ? s[i] / o[i] : o[i] / s[i];
    }
    snprintf(a, sizeof(a), "bus.%s", name);
    snprintf(b, sizeof(b), "bus_aos.%s", name);
    out[0] = kc_bench_median(s, n, NULL);
    out[1] = kc_bench_median(o, n, NULL);
    kc_bench_report(a, out[0], unit);
    if (loss_soa != NULL || strncmp(name, "deliveries", 10) == 0) {
        snprintf(a, sizeof(a), "bus.%s.loss", name);
        kc_bench_report(a, kc_bench_median(ls, n, NULL), "%");
    }
    kc_bench_report(b, out[1], unit);
    if (loss_aos != NULL || strncmp(name, "deliveries", 10) == 0) {
        snprintf(b, sizeof(b), "bus_aos.%s.loss", name);
        kc_bench_report(b, kc_bench_median(lo, n, NULL), "%");
    }
    double med = kc_bench_median(r, n, &spread);
    fprintf(stderr, "  SoA/AoS %s: %.2fx (%d reps, ratio spread %.0f%%)\n", name, med, n,
            spread * 100);
}

/* Write the deliveries-against-fanout table and plot it with gnuplot. */
static void plot(const double (*ring)[2], const double (*paced)[2], const int *fan, int nfan)
{
    const char *tsv = getenv("KC_BENCH_TSV");
    char dir[512], path[600];
    const char *slash = tsv ? strrchr(tsv, '/') : NULL;

    if (slash == NULL || (size_t)(slash - tsv) >= sizeof(dir))
        return;
    memcpy(dir, tsv, (size_t)(slash - tsv));
    dir[slash - tsv] = '\0';
    snprintf(path, sizeof(path), "%s/bus_fanout.dat", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return;
    fprintf(f, "# fanout ring_soa ring_aos paced_soa paced_aos (M deliveries/s)\n");
    for (int i = 0; i < nfan; i++)
        fprintf(f, "%d %.2f %.2f %.2f %.2f\n", fan[i], ring[i][0], ring[i][1], paced[i][0],
                paced[i][1]);
    fclose(f);
    FILE *g = popen("gnuplot 2>/dev/null", "w");
    if (g == NULL)
        return;
    fprintf(g,
            "set terminal png size 900,500\nset output '%s/bus_fanout.png'\n"
            "set xlabel 'subscribers (fanout)'\nset ylabel 'M deliveries/s'\n"
            "set logscale x 2\nset key top left\nset grid\n"
            "plot '%s' u 1:2 w lp t 'SoA bus, burst=cap, drained in one thread',"
            " '' u 1:3 w lp t 'AoS baseline, same',"
            " '' u 1:4 w lp t 'SoA bus, paced bursts of 256, cap 256, 2 workers',"
            " '' u 1:5 w lp t 'AoS baseline, same'\n",
            dir, path);
    if (pclose(g) == 0)
        fprintf(stderr, "  picture: %s/bus_fanout.png\n", dir);
}

int main(void)
{
    static const char *pc_names[] = {"publish_0sub", "publish_1sub", "publish_lagged"};
    static const int pc_subs[] = {0, 1, 1};
    static const bool pc_drain[] = {false, true, false};
    double out[2];

    for (int i = 0; i < 3; i++) {
        struct pubcost s = {&kc_bus_soa_ops, pc_subs[i], pc_drain[i]};
        struct pubcost a = {&kc_bus_aos_ops, pc_subs[i], pc_drain[i]};
        pair(pc_names[i], "ns", publish_cost, &s, &a, false, NULL, NULL, out);
    }

    static const int fan[] = {1, 4, 8, 16};
    static const uint32_t fan_cap[] = {64, 64, 128, 128};
    static const char *fan_name[] = {"deliveries_f1_cap64", "deliveries_f4_cap64", "deliveries_f8",
                                     "deliveries_f16_cap128"};
    double ring[4][2], pacedv[4][2];
    for (int i = 0; i < 4; i++) {
        long rounds = 160000 / (fan[i] * (long)fan_cap[i]) * 64;
        struct ring s = {&kc_bus_soa_ops, fan[i], fan_cap[i], rounds};
        struct ring a = {&kc_bus_aos_ops, fan[i], fan_cap[i], rounds};
        pair(fan_name[i], "M/s", ring_deliveries, &s, &a, true, NULL, NULL, ring[i]);
    }

    /* The burst matrix: (capacity, burst) per fanout. */
    static const uint32_t mcap[] = {64, 256, 1024, 4096};
    static const uint32_t mburst[] = {256, 256, 1024, 1024};
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) {
            char name[64];
            long rounds = kc_bench_iters(20000000 / ((long)mburst[j] * fan[i]) + 8);
            struct paced s = {.ops = &kc_bus_soa_ops,
                              .subs = fan[i],
                              .cap = mcap[j],
                              .burst = mburst[j],
                              .rounds = rounds};
            struct paced a = s;
            a.ops = &kc_bus_aos_ops;
            snprintf(name, sizeof(name), "paced_f%d_cap%u_b%u", fan[i], mcap[j], mburst[j]);
            pair(name, "M/s", paced_run, &s, &a, true, &s.loss, &a.loss, j == 1 ? pacedv[i] : out);
        }
    }
    plot((const double(*)[2])ring, (const double(*)[2])pacedv, fan, 4);
    return 0;
}
