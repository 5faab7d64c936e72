/* main.c - the mux explorer: many remote channels on one connection, watched over time.
 *
 *   mux [--channels N] [--seconds S] [--elem BYTES] [--interval MS]
 *       [--json] [--plot DIR] SCENARIO
 *
 * Scenarios (one process, two ends of a UNIX-socket connection, the
 * exporter's channels buffered with capacity 64):
 *   fanout         the importer sends on N channels; the exporter's
 *                  consumers take everything
 *   fanin          the exporter's producers fill N channels; the importer
 *                  receives from all of them
 *   slow-consumer  fanout, but channel 0's consumer takes one element per
 *                  millisecond: the others keep their pace, channel 0 holds
 *                  only its window
 *   fairness       fanout with equal demand: Jain's index of the interval's
 *                  per-channel deliveries
 * Every interval prints each channel's delivered elements per second, the
 * exporter's held bytes (bounded by the connection window) and the credit
 * frames sent; --json prints the same as NDJSON, one object per channel
 * and interval; --plot writes DIR/mux.dat and DIR/mux.gp (gnuplot: per
 * channel throughput over time).
 */
#include "kcoro/chan.h"
#include "kcoro/ipc.h"
#include "kcoro/mux.h"
#include "kcoro/sched.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000LL

struct opts {
    int channels;
    double seconds;
    size_t elem;
    int interval_ms;
    bool json;
    const char *plot;
    const char *scenario;
};

struct lane {
    kc_chan_t *local, *remote;
    _Atomic long delivered;
    long last;
    int delay_us; /* consumer pause per element */
    bool fanin;
    size_t elem;
};

static volatile int stop;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int producer(void *arg)
{
    struct lane *l = arg;
    char *b = calloc(1, l->elem);
    kc_chan_t *ch = l->fanin ? l->local : l->remote;
    while (!stop && b != NULL && kc_chan_send(ch, b, 100 * MS, NULL) != -EPIPE)
        ;
    free(b);
    return 0;
}

static int consumer(void *arg)
{
    struct lane *l = arg;
    char *b = calloc(1, l->elem);
    kc_chan_t *ch = l->fanin ? l->remote : l->local;
    for (;;) {
        int rc = kc_chan_recv(ch, b, 100 * MS, NULL);
        if (rc == 0) {
            atomic_fetch_add_explicit(&l->delivered, 1, memory_order_relaxed);
            if (l->delay_us)
                kc_sched_sleep((int64_t)l->delay_us * 1000, NULL);
        } else if (rc != -ETIME || stop) {
            break;
        }
    }
    free(b);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mux [--channels N] [--seconds S] [--elem BYTES] [--interval MS]\n"
               "           [--json] [--plot DIR] fanout|fanin|slow-consumer|fairness\n"
               "  Many remote channels on one connection (kcoro/mux.h); prints each\n"
               "  channel's throughput per interval, the receiver's held bytes and\n"
               "  the credit frames. See lab/mux/README.md.\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){8, 2.0, 64, 200, false, NULL, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (v && !strcmp(a, "--channels")) {
            o->channels = atoi(v), i++;
        } else if (v && !strcmp(a, "--seconds")) {
            o->seconds = atof(v), i++;
        } else if (v && !strcmp(a, "--elem")) {
            o->elem = (size_t)atol(v), i++;
        } else if (v && !strcmp(a, "--interval")) {
            o->interval_ms = atoi(v), i++;
        } else if (v && !strcmp(a, "--plot")) {
            o->plot = v, i++;
        } else if (a[0] != '-' && o->scenario == NULL) {
            o->scenario = a;
        } else {
            fprintf(stderr, "mux: unknown argument '%s'\n", a);
            return -1;
        }
    }
    if (o->scenario == NULL || o->channels < 1 || o->channels > 10000 || o->elem < 1 ||
        o->elem > 65536 || o->seconds <= 0 || o->interval_ms < 10)
        return -1;
    if (strcmp(o->scenario, "fanout") && strcmp(o->scenario, "fanin") &&
        strcmp(o->scenario, "slow-consumer") && strcmp(o->scenario, "fairness")) {
        fprintf(stderr, "mux: unknown scenario '%s'\n", o->scenario);
        return -1;
    }
    return 0;
}

struct accept_arg {
    kc_ipc_server_t *srv;
    kc_ipc_conn_t *c;
    int rc;
};

static int do_accept(void *arg)
{
    struct accept_arg *a = arg;
    a->rc = kc_ipc_accept(a->srv, &a->c, 5000 * MS, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o) < 0) {
        usage(stderr);
        return 2;
    }
    kc_sched_t *s;
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 2;
    if (kc_sched_create(&s, &so) != 0)
        return 1;
    char url[64];
    snprintf(url, sizeof url, "unix:/tmp/kc-mux-explorer-%d", (int)getpid());
    unlink(url + 5);
    kc_ipc_opts_t io = KC_IPC_OPTS_INIT;
    io.sched = s;
    kc_ipc_server_t *srv;
    int rc = kc_ipc_listen(&srv, url, &io);
    struct accept_arg acc = {srv, NULL, -1};
    kc_task_t *t;
    kc_ipc_conn_t *imp = NULL;
    if (rc == 0 && kc_sched_spawn(s, &t, do_accept, &acc, NULL) == 0) {
        rc = kc_ipc_connect(&imp, url, &io, 5000 * MS, NULL);
        kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
    }
    unlink(url + 5);
    if (rc < 0 || acc.rc < 0) {
        fprintf(stderr, "mux: connection: %s\n", strerror(-(rc < 0 ? rc : acc.rc)));
        return 1;
    }
    kc_ipc_conn_t *exp = acc.c;
    int n = o.channels;
    struct lane *l = calloc((size_t)n, sizeof *l);
    kc_task_t **tasks = calloc((size_t)n * 2, sizeof *tasks);
    for (int i = 0; i < n; i++) {
        char name[24];
        snprintf(name, sizeof name, "ch%d", i);
        l[i].elem = o.elem;
        l[i].fanin = !strcmp(o.scenario, "fanin");
        l[i].delay_us = !strcmp(o.scenario, "slow-consumer") && i == 0 ? 1000 : 0;
        if (kc_chan_make(&l[i].local, KC_CHAN_BUFFERED, 64, o.elem) != 0 ||
            kc_ipc_export(exp, name, l[i].local, NULL) != 0 ||
            kc_ipc_import(&l[i].remote, imp, name, NULL, NULL) != 0) {
            fprintf(stderr, "mux: channel %d could not be set up\n", i);
            return 1;
        }
    }
    for (int i = 0; i < n; i++) {
        kc_sched_spawn(s, &tasks[2 * i], producer, &l[i], NULL);
        kc_sched_spawn(s, &tasks[2 * i + 1], consumer, &l[i], NULL);
    }
    FILE *dat = NULL;
    if (o.plot) {
        char path[512];
        snprintf(path, sizeof path, "%s/mux.dat", o.plot);
        dat = fopen(path, "w");
        if (dat == NULL)
            fprintf(stderr, "mux: cannot write %s\n", path);
    }
    int64_t t0 = now_ns(), prev = t0;
    if (!o.json)
        printf("scenario %s: %d channels of %zu-byte elements, interval %d ms\n", o.scenario, n,
               o.elem, o.interval_ms);
    while (now_ns() - t0 < (int64_t)(o.seconds * 1e9)) {
        struct timespec ts = {o.interval_ms / 1000, (long)(o.interval_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        int64_t tn = now_ns();
        double dt = (double)(tn - prev) / 1e9, at = (double)(tn - t0) / 1e9;
        prev = tn;
        kc_mux_stats_t st = {.size = sizeof st};
        kc_mux_stats(l[0].fanin ? imp : exp, &st); /* the receiving end */
        double sum = 0, sum2 = 0, total = 0;
        if (!o.json)
            printf("t=%6.2fs", at);
        for (int i = 0; i < n; i++) {
            long d = atomic_load_explicit(&l[i].delivered, memory_order_relaxed);
            double rate = (double)(d - l[i].last) / dt;
            l[i].last = d;
            sum += rate;
            sum2 += rate * rate;
            total += rate;
            if (o.json)
                printf("{\"t\":%.3f,\"scenario\":\"%s\",\"chan\":%d,\"elems_per_s\":%.0f,"
                       "\"bytes_per_s\":%.0f}\n",
                       at, o.scenario, i, rate, rate * (double)o.elem);
            else if (i < 8)
                printf(" ch%d=%.0f/s", i, rate);
            if (dat)
                fprintf(dat, "%.3f %d %.0f\n", at, i, rate);
        }
        double jain = sum2 > 0 ? sum * sum / ((double)n * sum2) : 0;
        if (o.json)
            printf("{\"t\":%.3f,\"scenario\":\"%s\",\"total_elems_per_s\":%.0f,\"jain\":%.4f,"
                   "\"rx_bytes_held\":%llu,\"rx_bytes_peak\":%llu,\"credit_frames\":%llu}\n",
                   at, o.scenario, total, jain, (unsigned long long)st.rx_bytes_held,
                   (unsigned long long)st.rx_bytes_peak, (unsigned long long)st.credit_frames_out);
        else
            printf("%s total=%.0f/s jain=%.4f held=%lluB peak=%lluB credits=%llu\n",
                   n > 8 ? " ..." : "", total, jain, (unsigned long long)st.rx_bytes_held,
                   (unsigned long long)st.rx_bytes_peak, (unsigned long long)st.credit_frames_out);
        fflush(stdout);
    }
    stop = 1;
    for (int i = 0; i < n; i++) {
        kc_chan_close(l[i].remote);
        kc_chan_close(l[i].local);
    }
    for (int i = 0; i < 2 * n; i++)
        kc_sched_join(tasks[i], NULL, KC_NO_TIMEOUT, NULL);
    for (int i = 0; i < n; i++)
        kc_chan_destroy(l[i].remote);
    kc_ipc_close(imp);
    kc_ipc_close(exp);
    kc_ipc_server_close(srv);
    kc_sched_destroy(s);
    for (int i = 0; i < n; i++)
        kc_chan_destroy(l[i].local);
    if (dat) {
        fclose(dat);
        char path[512];
        snprintf(path, sizeof path, "%s/mux.gp", o.plot);
        FILE *gp = fopen(path, "w");
        if (gp) {
            fprintf(
                gp,
                "set terminal pngcairo size 1000,500\nset output '%s/mux.png'\n"
                "set title 'mux %s: per-channel throughput'\nset xlabel 's'\n"
                "set ylabel 'elements/s'\nplot for [c=0:%d] '%s/mux.dat' using 1:($2==c?$3:1/0) "
                "with lines title sprintf('ch%%d', c)\n",
                o.plot, o.scenario, n > 16 ? 15 : n - 1, o.plot);
            fclose(gp);
            if (!o.json)
                printf("gnuplot %s  ->  %s/mux.png\n", path, o.plot);
        }
    }
    free(l);
    free(tasks);
    return 0;
}
