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
 *   sim.replay_speed_chan  the same for 1,000 remote channels (kcoro/mux.h)
 *                        over one connection on rel:sim:mem: with 10 ms
 *                        +- 2 ms and 1% loss, on a clock that adopts: the
 *                        connection, rel's pumps, the mux's streams and a
 *                        sender and a receiver per channel all run in the
 *                        clock's turns (so the run replays)
 */
#include "kc_bench_util.h"
#include "kcoro/ipc.h"
#include "kcoro/mux.h"
#include "kcoro/rel.h"
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

enum {
    CHANS = 1000
};

typedef struct chan_run {
    kc_sim_clock_t *clk;
    kc_sched_t *s;
    kc_transport_opts_t ta, tb;
    kc_ipc_server_t *srv;
    kc_ipc_conn_t *exp, *imp;
    kc_chan_t *local[CHANS], *remote[CHANS];
    long n;
    int accept_rc;
    _Atomic long failed, received;
} chan_run_t;

typedef struct chan_side {
    chan_run_t *r;
    int k;
} chan_side_t;

static int chan_accept(void *arg)
{
    chan_run_t *r = arg;
    r->accept_rc = kc_ipc_accept(r->srv, &r->exp, KC_NO_TIMEOUT, NULL);
    return 0;
}

static int chan_sender(void *arg)
{
    chan_side_t *d = arg;
    for (long i = 0; i < d->r->n; i++)
        if (kc_chan_send(d->r->remote[d->k], &i, KC_NO_TIMEOUT, NULL) != 0) {
            d->r->failed++;
            return 0;
        }
    kc_chan_close(d->r->remote[d->k]);
    return 0;
}

static int chan_receiver(void *arg)
{
    chan_side_t *d = arg;
    long v, got = 0;
    while (kc_chan_recv(d->r->local[d->k], &v, KC_NO_TIMEOUT, NULL) == 0)
        got++;
    d->r->received += got;
    return 0;
}

/* The whole run, from the clock's first actor (everything it starts is an
 * actor too). Any failure is counted, and the figure is not printed. */
static int chan_root(void *arg)
{
    chan_run_t *r = arg;
    chan_side_t *sides = calloc(CHANS, sizeof(*sides));
    kc_task_t **t = calloc(2 * CHANS, sizeof(*t));
    kc_task_t *ta = NULL;
    static int seq;
    char url[64];
    snprintf(url, sizeof url, "rel:sim:mem:replaychan-%d-%d", (int)getpid(), seq++);
    if (!sides || !t || kc_sim_clock_join(r->clk, NULL) < 0)
        abort();
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.sched = r->s;
    o.dead_after_ns = (int64_t)3600 * 1000000000; /* the verdict reads real time */
    o.transport = &r->tb;
    if (kc_ipc_listen(&r->srv, url, &o) < 0 || kc_sched_spawn(r->s, &ta, chan_accept, r, NULL) < 0)
        abort();
    o.transport = &r->ta;
    if (kc_ipc_connect(&r->imp, url, &o, KC_NO_TIMEOUT, NULL) < 0 ||
        kc_sched_join(ta, NULL, KC_NO_TIMEOUT, NULL) < 0 || r->accept_rc < 0)
        abort();
    kc_mux_import_opts_t io = KC_MUX_IMPORT_OPTS_INIT;
    io.timeout_ns = KC_NO_TIMEOUT;
    for (int k = 0; k < CHANS; k++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", k);
        if (kc_chan_make(&r->local[k], KC_CHAN_BUFFERED, 16, sizeof(long)) < 0 ||
            kc_ipc_export(r->exp, name, r->local[k], NULL) < 0 ||
            kc_ipc_import(&r->remote[k], r->imp, name, &io, NULL) < 0)
            abort();
    }
    for (int k = 0; k < CHANS; k++) {
        sides[k] = (chan_side_t){r, k};
        if (kc_sched_spawn(r->s, &t[2 * k], chan_receiver, &sides[k], NULL) < 0 ||
            kc_sched_spawn(r->s, &t[2 * k + 1], chan_sender, &sides[k], NULL) < 0)
            abort();
    }
    for (int i = 0; i < 2 * CHANS; i++)
        kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL);
    for (int k = 0; k < CHANS; k++)
        kc_chan_destroy(r->remote[k]);
    kc_ipc_close(r->imp);
    kc_ipc_close(r->exp);
    kc_ipc_server_close(r->srv);
    kc_sim_clock_leave(r->clk);
    free(sides);
    free(t);
    return 0;
}

static double replay_chan_once(void *arg)
{
    (void)arg;
    chan_run_t *r = calloc(1, sizeof(*r));
    if (!r || kc_sim_clock_create(&r->clk) < 0 || kc_sim_clock_adopt(r->clk) < 0 ||
        kc_sched_create(&r->s, NULL) < 0)
        abort();
    r->n = kc_bench_iters(20);
    kc_sim_opts_t so = KC_SIM_OPTS_INIT;
    so.netem = "delay 10ms 2ms loss 1%";
    so.clock = r->clk;
    kc_rel_opts_t ra = KC_REL_OPTS_INIT;
    ra.inner = &so;
    kc_rel_opts_t rb = ra;
    r->ta = (kc_transport_opts_t)KC_TRANSPORT_OPTS_INIT;
    r->tb = r->ta;
    r->ta.adapter = &ra;
    r->tb.adapter = &rb;
    uint64_t t0 = kc_bench_now_ns();
    kc_task_t *root;
    if (kc_sched_spawn(r->s, &root, chan_root, r, NULL) < 0 ||
        kc_sched_join(root, NULL, KC_NO_TIMEOUT, NULL) < 0)
        abort();
    double wall = (double)(kc_bench_now_ns() - t0);
    double speed = (double)kc_sim_clock_now(r->clk) / wall;
    if (r->failed != 0 || r->received != (long)CHANS * r->n) {
        fprintf(stderr, "sim.replay_speed_chan: %ld sends failed, %ld of %ld received\n",
                (long)r->failed, (long)r->received, (long)CHANS * r->n);
        exit(1);
    }
    kc_sched_destroy(r->s);
    for (int k = 0; k < CHANS; k++)
        kc_chan_destroy(r->local[k]);
    kc_sim_clock_destroy(r->clk);
    free(r);
    return speed;
}

/* With an argument, only that part runs: "overhead", "replay" (both replay
 * figures) or "replay_chan". */
int main(int argc, char **argv)
{
    if (kc_sim_register() < 0 || kc_rel_register() < 0)
        return 1;
    const char *only = argc > 1 ? argv[1] : "";
    if (!*only || strcmp(only, "overhead") == 0)
        bench_overhead();
    if (!*only || strcmp(only, "replay") == 0)
        kc_bench_measure("sim.replay_speed", "x", replay_once, NULL);
    if (!*only || strcmp(only, "replay") == 0 || strcmp(only, "replay_chan") == 0)
        kc_bench_measure("sim.replay_speed_chan", "x", replay_chan_once, NULL);
    return 0;
}
