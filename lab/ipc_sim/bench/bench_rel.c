/* bench_rel.c - the reliability layer's goodput on a long, lossy link.
 *
 *   sim.rel_goodput        payload bits per second delivered in order over
 *                          rel:sim:mem: with `rate 100mbit delay 10ms loss 1%`
 *                          on both ends (data and ACKs), as a fraction of
 *                          the link rate (issue 15's gate: at least 0.8)
 *   sim.rel_goodput_mbit   the same in Mbit/s
 *   sim.rel_retrans_pct    segments sent again per 100 first sent
 *
 * One coroutine sends 16 KiB frames back to back, another receives them;
 * the figure is the median over KCORO_BENCH_REPS runs of BYTES each, slow
 * start included. The link's rate counts frame payload bytes, so the
 * layer's own headers (8 bytes per segment, 16 per frame) count against it.
 */
#include "kc_bench_util.h"
#include "kcoro/rel.h"
#include "kcoro/sched.h"
#include "kcoro/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINK "rate 100mbit delay 10ms loss 1%"
#define LINK_BPS 100e6
#define FRAME (16 * 1024)

typedef struct run {
    const char *url;
    kc_transport_opts_t *oa, *ob;
    long frames;
    uint64_t t_start, t_end;
    int rc;
} run_t;

typedef struct side {
    kc_transport_t *t;
    run_t *r;
} side_t;

static int co_send(void *arg)
{
    side_t *s = arg;
    uint8_t *buf = calloc(1, FRAME);
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, 0, FRAME};
    struct iovec iov = {buf, FRAME};
    for (long i = 0; i < s->r->frames; i++) {
        h.id = (uint32_t)i;
        if (kc_transport_send_frame(s->t, &h, &iov, 1, KC_NO_TIMEOUT, NULL) < 0) {
            s->r->rc = -1;
            break;
        }
    }
    free(buf);
    return 0;
}

static int co_recv(void *arg)
{
    side_t *s = arg;
    for (long i = 0; i < s->r->frames; i++) {
        kc_frame_hdr_t h;
        void *pl;
        if (kc_transport_recv_frame(s->t, &h, &pl, FRAME, KC_NO_TIMEOUT, NULL) < 0 ||
            h.id != (uint32_t)i) {
            s->r->rc = -1;
            break;
        }
        free(pl);
    }
    s->r->t_end = kc_bench_now_ns();
    return 0;
}

static int co_run(void *arg)
{
    run_t *r = arg;
    kc_transport_t *lis, *a, *b;
    if (kc_transport_listen(r->url, r->ob, &lis) < 0 ||
        kc_transport_connect(r->url, r->oa, &a, KC_NO_TIMEOUT, NULL) < 0 ||
        kc_transport_accept(lis, &b, NULL, KC_NO_TIMEOUT, NULL) < 0)
        return r->rc = -1;
    side_t tx = {a, r}, rx = {b, r};
    kc_task_t *t[2];
    r->t_start = kc_bench_now_ns();
    kc_sched_spawn(NULL, &t[0], co_recv, &rx, NULL);
    kc_sched_spawn(NULL, &t[1], co_send, &tx, NULL);
    kc_sched_join(t[0], NULL, KC_NO_TIMEOUT, NULL);
    kc_sched_join(t[1], NULL, KC_NO_TIMEOUT, NULL);
    kc_transport_close(a);
    kc_transport_close(b);
    kc_transport_close(lis);
    return 0;
}

int main(void)
{
    if (kc_sim_register() < 0 || kc_rel_register() < 0)
        return 1;
    kc_sched_t *s;
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 1;
    if (kc_sched_create(&s, &so) < 0)
        return 1;
    long frames = kc_bench_iters(2500); /* 40 MiB: about 3.4 s at 100 Mbit/s */
    int reps = kc_bench_reps();
    if (reps > 16)
        reps = 16;
    double g[16], spread;
    uint64_t first = 0, again = 0;
    for (int k = 0; k < reps; k++) {
        kc_rel_counters_t ca, cb;
        memset(&ca, 0, sizeof ca);
        memset(&cb, 0, sizeof cb);
        kc_sim_opts_t sim = KC_SIM_OPTS_INIT;
        sim.netem = getenv("KCORO_REL_BENCH_LINK") ? getenv("KCORO_REL_BENCH_LINK") : LINK;
        sim.seed = 100 + (uint64_t)k;
        kc_rel_opts_t ra = KC_REL_OPTS_INIT, rb = KC_REL_OPTS_INIT;
        ra.inner = rb.inner = &sim;
        ra.counters = &ca;
        if (getenv("KCORO_REL_MSS"))
            ra.mss = rb.mss = (uint32_t)atoi(getenv("KCORO_REL_MSS"));
        rb.counters = &cb;
        kc_transport_opts_t oa = KC_TRANSPORT_OPTS_INIT, ob = KC_TRANSPORT_OPTS_INIT;
        oa.sndbuf = ob.sndbuf = 8u << 20;
        oa.adapter = &ra;
        ob.adapter = &rb;
        char url[64];
        snprintf(url, sizeof url, "rel:sim:mem:goodput%d-%d", k, (int)getpid());
        run_t r = {url, &oa, &ob, frames, 0, 0, 0};
        kc_task_t *t;
        if (kc_sched_spawn(s, &t, co_run, &r, NULL) < 0)
            return 1;
        kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
        if (r.rc < 0) {
            fprintf(stderr, "bench_rel: run %d failed\n", k);
            return 1;
        }
        double secs = (double)(r.t_end - r.t_start) / 1e9;
        g[k] = (double)frames * FRAME * 8 / secs / LINK_BPS;
        if (getenv("KCORO_REL_DEBUG"))
            fprintf(stderr,
                    "run %d: %.2f s, segs %lu, retrans %lu, fast %lu, timeouts %lu, acks in %lu, "
                    "srtt %.1f ms, rto %.1f ms\n",
                    k, secs, (unsigned long)atomic_load(&ca.segs_out),
                    (unsigned long)atomic_load(&ca.retrans),
                    (unsigned long)atomic_load(&ca.fast_retrans),
                    (unsigned long)atomic_load(&ca.timeouts),
                    (unsigned long)atomic_load(&ca.acks_in), atomic_load(&ca.srtt_ns) / 1e6,
                    atomic_load(&ca.rto_ns) / 1e6);
        first += atomic_load(&ca.segs_out);
        again += atomic_load(&ca.retrans);
    }
    double med = kc_bench_median(g, reps, &spread);
    kc_bench_report("sim.rel_goodput", med, "x");
    kc_bench_report("sim.rel_goodput_mbit", med * LINK_BPS / 1e6, "Mbit/s");
    kc_bench_report("sim.rel_retrans_pct", first ? 100.0 * (double)again / (double)first : 0, "%");
    kc_sched_destroy(s);
    return 0;
}
