/* bench_sim.c - what the simulator costs, and how fast virtual time runs.
 *
 *   sim.frame_bare       ns per frame (send + receive) over a bare unix: pair
 *   sim.frame_overhead   ns per frame over sim:unix: with no impairment
 *   sim.frame_ratio      the two, measured in alternating rounds (gate 1.2x)
 *   sim.frame_bare_mem, sim.frame_overhead_mem, sim.frame_ratio_mem
 *                        the same over the in-memory transport, where a frame
 *                        costs no system call and the wrapper shows most
 *   sim.replay_speed     simulated seconds per wall second: 1,000 sim:mem:
 *                        pairs on one virtual clock, each a coroutine
 *                        client making round trips over 10 ms +- 2 ms links
 */
#include "kc_bench_util.h"
#include "kcoro/sched.h"
#include "kcoro/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH 256

typedef struct pair {
    kc_transport_t *lis, *a, *b;
} pair_t;

static int open_pair(pair_t *p, const char *scheme, const char *name, kc_sim_opts_t *so)
{
    char url[96];
    snprintf(url, sizeof url, "%s%s-%d", scheme, name, (int)getpid());
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.adapter = so;
    int rc = kc_transport_listen(url, &o, &p->lis);
    if (rc == 0)
        rc = kc_transport_connect(url, &o, &p->a, KC_NO_TIMEOUT, NULL);
    if (rc == 0)
        rc = kc_transport_accept(p->lis, &p->b, NULL, KC_NO_TIMEOUT, NULL);
    return rc;
}

static void close_pair(pair_t *p)
{
    kc_transport_close(p->a);
    kc_transport_close(p->b);
    kc_transport_close(p->lis);
}

/* ns per frame: batches of sends then receives on one thread. */
static double frames(pair_t *p, long n)
{
    uint8_t buf[64] = {0};
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, 0, sizeof buf};
    struct iovec iov = {buf, sizeof buf};
    uint64_t t0 = kc_bench_now_ns();
    for (long i = 0; i < n; i += BATCH) {
        for (int k = 0; k < BATCH; k++)
            if (kc_transport_send_frame(p->a, &h, &iov, 1, KC_NO_TIMEOUT, NULL) < 0)
                abort();
        for (int k = 0; k < BATCH; k++) {
            kc_frame_hdr_t r;
            void *pl;
            if (kc_transport_recv_frame(p->b, &r, &pl, 1024, KC_NO_TIMEOUT, NULL) < 0)
                abort();
            free(pl);
        }
    }
    return (double)(kc_bench_now_ns() - t0) / (double)n;
}

/* Two names for one loop, so an instruction profile (callgrind) can tell
 * the bare and the simulated frames apart. */
__attribute__((noinline)) static double frames_bare(pair_t *p, long n)
{
    return frames(p, n);
}

__attribute__((noinline)) static double frames_sim(pair_t *p, long n)
{
    return frames(p, n);
}

static void overhead_of(const char *scheme, const char *suffix)
{
    kc_sim_opts_t so = KC_SIM_OPTS_INIT;
    so.netem = "";
    char bare_scheme[32], sim_scheme[40], bname[32], sname[32];
    snprintf(bare_scheme, sizeof bare_scheme, "%s", scheme);
    snprintf(sim_scheme, sizeof sim_scheme, "sim:%s", scheme);
    snprintf(bname, sizeof bname, "%sbare", strcmp(scheme, "mem:") ? "/tmp/kc-simb" : "");
    snprintf(sname, sizeof sname, "%ssim", strcmp(scheme, "mem:") ? "/tmp/kc-sims" : "");
    pair_t bare, sim;
    if (open_pair(&bare, bare_scheme, bname, NULL) < 0 ||
        open_pair(&sim, sim_scheme, sname, &so) < 0)
        abort();
    long n = kc_bench_iters(strcmp(scheme, "mem:") ? 50000 : 200000) / BATCH * BATCH;
    if (n < BATCH)
        n = BATCH;
    frames_bare(&bare, n); /* warm both */
    frames_sim(&sim, n);
    int reps = kc_bench_reps();
    double vb[64], vs[64], vr[64], spread;
    int m = reps < 64 ? reps : 64;
    for (int r = 0; r < m; r++) {
        vb[r] = frames_bare(&bare, n);
        vs[r] = frames_sim(&sim, n);
        vr[r] = vs[r] / vb[r];
    }
    char name[64];
    snprintf(name, sizeof name, "sim.frame_bare%s", suffix);
    kc_bench_report(name, kc_bench_median(vb, m, &spread), "ns");
    snprintf(name, sizeof name, "sim.frame_overhead%s", suffix);
    kc_bench_report(name, kc_bench_median(vs, m, &spread), "ns");
    snprintf(name, sizeof name, "sim.frame_ratio%s", suffix);
    kc_bench_report(name, kc_bench_median(vr, m, &spread), "x");
    close_pair(&bare);
    close_pair(&sim);
}

static void bench_overhead(void)
{
    overhead_of("unix:", "");
    overhead_of("mem:", "_mem");
}

typedef struct client {
    kc_transport_t *t;
    long rounds;
} client_t;

static int co_client(void *arg)
{
    client_t *c = arg;
    uint8_t buf[32] = {0};
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, 0, sizeof buf};
    struct iovec iov = {buf, sizeof buf};
    for (long i = 0; i < c->rounds; i++) {
        kc_frame_hdr_t r;
        void *pl;
        if (kc_transport_send_frame(c->t, &h, &iov, 1, KC_NO_TIMEOUT, NULL) < 0 ||
            kc_transport_recv_frame(c->t, &r, &pl, 1024, KC_NO_TIMEOUT, NULL) < 0)
            return 1;
        free(pl);
    }
    return 0;
}

static int co_server(void *arg)
{
    client_t *c = arg;
    for (long i = 0; i < c->rounds; i++) {
        kc_frame_hdr_t r;
        void *pl;
        if (kc_transport_recv_frame(c->t, &r, &pl, 1024, KC_NO_TIMEOUT, NULL) < 0)
            return 1;
        struct iovec iov = {pl, r.len};
        int rc = kc_transport_send_frame(c->t, &r, &iov, 1, KC_NO_TIMEOUT, NULL);
        free(pl);
        if (rc < 0)
            return 1;
    }
    return 0;
}

static double replay_once(void *arg)
{
    (void)arg;
    enum {
        PAIRS = 1000
    };
    kc_sim_clock_t *clk;
    kc_sched_t *s;
    if (kc_sim_clock_create(&clk) < 0 || kc_sched_create(&s, NULL) < 0)
        abort();
    kc_sim_opts_t so = KC_SIM_OPTS_INIT;
    so.netem = "delay 10ms 2ms";
    so.clock = clk;
    pair_t *p = calloc(PAIRS, sizeof(*p));
    client_t *c = calloc(2 * PAIRS, sizeof(*c));
    kc_task_t **t = calloc(2 * PAIRS, sizeof(*t));
    if (!p || !c || !t)
        abort();
    long rounds = kc_bench_iters(50);
    for (int i = 0; i < PAIRS; i++) {
        char name[32];
        snprintf(name, sizeof name, "replay%d", i);
        if (open_pair(&p[i], "sim:mem:", name, &so) < 0)
            abort();
        c[2 * i] = (client_t){p[i].a, rounds};
        c[2 * i + 1] = (client_t){p[i].b, rounds};
    }
    uint64_t t0 = kc_bench_now_ns();
    for (int i = 0; i < PAIRS; i++) {
        kc_sched_spawn(s, &t[2 * i + 1], co_server, &c[2 * i + 1], NULL);
        kc_sched_spawn(s, &t[2 * i], co_client, &c[2 * i], NULL);
    }
    for (int i = 0; i < 2 * PAIRS; i++)
        kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL);
    double wall = (double)(kc_bench_now_ns() - t0);
    double speed = (double)kc_sim_clock_now(clk) / wall;
    for (int i = 0; i < PAIRS; i++)
        close_pair(&p[i]);
    kc_sched_shutdown(s, KC_SCHED_SHUTDOWN_GRACEFUL);
    kc_sched_destroy(s);
    kc_sim_clock_destroy(clk);
    free(p);
    free(c);
    free(t);
    return speed;
}

/* With an argument, only that part runs: "overhead" or "replay". */
int main(int argc, char **argv)
{
    if (kc_sim_register() < 0)
        return 1;
    const char *only = argc > 1 ? argv[1] : "";
    if (!*only || strcmp(only, "overhead") == 0)
        bench_overhead();
    if (!*only || strcmp(only, "replay") == 0)
        kc_bench_measure("sim.replay_speed", "x", replay_once, NULL);
    return 0;
}
