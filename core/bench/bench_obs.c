/* bench_obs.c - what observability costs (issue 17).
 *
 * Every figure is CPU time of the process (see cpu_ns). Figures:
 *   obs.pingpong_unregistered ns  one round trip over two rendezvous
 *                                 channels between 2 coroutines on 1 worker,
 *                                 nothing registered
 *   obs.pingpong_registered   ns  the same with the scheduler and both
 *                                 channels registered (KC_*_REGISTER)
 *   obs.registry_overhead     %   registered / unregistered - 1, from the
 *                                 medians of rounds alternated in one run
 *                                 (the gate: within 2%)
 *   obs.snapshot_10k_ndjson   ms  one kc_monitor_render of 10,000 registered
 *                                 channels as NDJSON (what a "snapshot"
 *                                 request costs the program)
 *   obs.snapshot_10k_prom     ms  the same as Prometheus text (a scrape)
 *   obs.snapshot_per_chan     ns  the NDJSON snapshot per channel
 */
#include "kcoro.h"

#include "kc_bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* CPU time of the process (ns). The figures here are CPU time, not wall
 * time: on a shared machine a round trip's wall time is mostly the time
 * the worker waits for a core, which would drown a 2% difference. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct pp {
    kc_chan_t *ping, *pong;
    long n;
};

static int pp_echo(void *arg)
{
    struct pp *p = arg;
    uint64_t v;
    for (long i = 0; i < p->n; i++) {
        kc_chan_recv(p->ping, &v, KC_NO_TIMEOUT, NULL);
        kc_chan_send(p->pong, &v, KC_NO_TIMEOUT, NULL);
    }
    return 0;
}

static int pp_drive(void *arg)
{
    struct pp *p = arg;
    for (long i = 0; i < p->n; i++) {
        uint64_t v = (uint64_t)i;
        kc_chan_send(p->ping, &v, KC_NO_TIMEOUT, NULL);
        kc_chan_recv(p->pong, &v, KC_NO_TIMEOUT, NULL);
    }
    return 0;
}

static kc_chan_t *chan(uint32_t flags, const char *name)
{
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.elem_size = sizeof(uint64_t);
    o.flags = flags;
    o.name = name;
    kc_chan_t *ch = NULL;
    if (kc_chan_create(&ch, &o) != 0)
        abort();
    return ch;
}

/* ns per round trip; registered or not. */
static double pingpong(bool reg)
{
    uint32_t f = reg ? KC_REGISTRY_FLAG : 0;
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 1;
    so.flags = reg ? KC_SCHED_REGISTER : 0;
    kc_sched_t *s = NULL;
    if (kc_sched_create(&s, &so) != 0)
        abort();
    struct pp p = {chan(f, "ping"), chan(f, "pong"), kc_bench_iters(300000)};
    kc_task_t *a, *b;
    uint64_t t0 = cpu_ns();
    kc_sched_spawn(s, &a, pp_echo, &p, NULL);
    kc_sched_spawn(s, &b, pp_drive, &p, NULL);
    kc_sched_join(a, NULL, KC_NO_TIMEOUT, NULL);
    kc_sched_join(b, NULL, KC_NO_TIMEOUT, NULL);
    double ns = (double)(cpu_ns() - t0) / (double)p.n;
    kc_chan_destroy(p.ping);
    kc_chan_destroy(p.pong);
    kc_sched_destroy(s);
    return ns;
}

static void registry_overhead(void)
{
    int reps = kc_bench_reps() * 2 + 1; /* more rounds: the gate is tight */
    double *u = calloc((size_t)reps, sizeof(double)), *r = calloc((size_t)reps, sizeof(double));
    pingpong(false); /* warm the stack pool and the caches */
    pingpong(true);
    for (int i = 0; i < reps; i++) { /* alternated, so drift hits both alike */
        if (i % 2 == 0) {
            u[i] = pingpong(false);
            r[i] = pingpong(true);
        } else {
            r[i] = pingpong(true);
            u[i] = pingpong(false);
        }
    }
    double su, sr;
    double mu = kc_bench_median(u, reps, &su), mr = kc_bench_median(r, reps, &sr);
    fprintf(stderr, "obs.pingpong: unregistered spread %.1f%%, registered spread %.1f%%\n",
            su * 100, sr * 100);
    kc_bench_report("obs.pingpong_unregistered", mu, "ns");
    kc_bench_report("obs.pingpong_registered", mr, "ns");
    kc_bench_report("obs.registry_overhead", (mr / mu - 1.0) * 100.0, "%");
    free(u);
    free(r);
}

static double render_ms(kc_monitor_format_t fmt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    uint64_t t0 = cpu_ns();
    int n = kc_monitor_render(f, fmt);
    double ms = (double)(cpu_ns() - t0) / 1e6;
    fclose(f);
    free(buf);
    if (n < 10000)
        abort();
    return ms;
}

static double snap_ndjson(void *arg)
{
    (void)arg;
    return render_ms(KC_MONITOR_NDJSON);
}

static double snap_prom(void *arg)
{
    (void)arg;
    return render_ms(KC_MONITOR_PROMETHEUS);
}

static void snapshot_cost(void)
{
    enum {
        N = 10000
    };
    kc_chan_t **chs = malloc(N * sizeof(*chs));
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "chan-%05d", i);
        chs[i] = chan(KC_CHAN_REGISTER, name);
    }
    double nd = kc_bench_measure("obs.snapshot_10k_ndjson", "ms", snap_ndjson, NULL);
    kc_bench_measure("obs.snapshot_10k_prom", "ms", snap_prom, NULL);
    kc_bench_report("obs.snapshot_per_chan", nd * 1e6 / N, "ns");
    for (int i = 0; i < N; i++)
        kc_chan_destroy(chs[i]);
    free(chs);
}

int main(void)
{
    kc_registry_configure("none"); /* only what the flags ask for */
    registry_overhead();
    snapshot_cost();
    return 0;
}
