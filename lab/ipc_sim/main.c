/* main.c - the ipc_sim explorer: what netem's words do to a stream of
 * frames, decision by decision, replayable from a seed.
 *
 *   ipc_sim [--seed N] [--frames N] [--size BYTES] [--interval TIME]
 *           [--show N] [--json] [--plot DIR] 'netem words'
 *
 * Two directions (a>b and b>a) each get their own generator, seeded from
 * --seed as the sim: transport seeds a connection's two ends. Frames arrive
 * every --interval; the explorer prints each direction's first --show
 * decisions as a timeline, the counts against the configured rates, a
 * latency histogram against the configured delay distribution (and, with
 * --plot, a gnuplot picture of it), and the command that replays the run.
 * --json prints the decision log as NDJSON instead: the same words and seed
 * always print the same bytes. A bad word exits with status 2, naming it.
 */
#include "kc_sim_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BINS 24

typedef struct opts {
    uint64_t seed;
    long frames;
    uint32_t size;
    int64_t interval;
    long show;
    bool json;
    const char *plot;
    const char *words;
} opts_t;

typedef struct tally {
    long frames, dropped, limited, dups, corrupt, reorder;
    double *lat; /* delivery - arrival of delivered originals, ns */
    long nlat;
} tally_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: ipc_sim [--seed N] [--frames N] [--size BYTES] [--interval TIME]\n"
               "               [--show N] [--json] [--plot DIR] 'netem words'\n"
               "  e.g. ipc_sim --seed 7 'delay 20ms 5ms distribution normal loss 1%%'\n"
               "  The words are those of tc-netem(8): limit, delay, distribution, loss\n"
               "  (random, state, gemodel), duplicate, corrupt, reorder, gap, rate, slot,\n"
               "  seed. See core/docs/SIMULATOR.md.\n");
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    *o = (opts_t){1, 100000, 256, 1000000, 12, false, NULL, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (v && strcmp(a, "--seed") == 0) {
            o->seed = strtoull(v, NULL, 10);
            i++;
        } else if (v && strcmp(a, "--frames") == 0) {
            o->frames = atol(v);
            i++;
        } else if (v && strcmp(a, "--size") == 0) {
            o->size = (uint32_t)atol(v);
            i++;
        } else if (v && strcmp(a, "--show") == 0) {
            o->show = atol(v);
            i++;
        } else if (v && strcmp(a, "--plot") == 0) {
            o->plot = v;
            i++;
        } else if (v && strcmp(a, "--interval") == 0) {
            /* Reuse the words' time grammar: "delay T" parses T. */
            char w[64];
            snprintf(w, sizeof w, "delay %s", v);
            kc_sim_spec_t *s;
            char err[KC_SIM_ERR_MAX];
            if (kc_sim_spec_parse(w, &s, err, sizeof err) < 0) {
                fprintf(stderr, "ipc_sim: --interval '%s' is not a time (like 1ms)\n", v);
                return -EINVAL;
            }
            o->interval = s->delay;
            kc_sim_spec_free(s);
            i++;
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "ipc_sim: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return -EINVAL;
        } else if (!o->words) {
            o->words = a;
        } else {
            fprintf(stderr, "ipc_sim: give the netem words as one argument (quote them)\n");
            return -EINVAL;
        }
    }
    if (!o->words || o->frames < 1 || o->interval < 0) {
        usage(stderr);
        return -EINVAL;
    }
    return 0;
}

static const char *fate_words(const kc_sim_decision_t *d, char *buf, size_t cap)
{
    if (d->fate & KC_SIM_F_DROP)
        return "dropped";
    if (d->fate & KC_SIM_F_LIMIT)
        return "dropped (limit)";
    int k = snprintf(buf, cap, "delivered +%.3fms", (d->t_deliver - d->t_arrive) / 1e6);
    if (d->fate & KC_SIM_F_REORDER)
        k += snprintf(buf + k, cap - (size_t)k, ", reordered");
    if (d->fate & KC_SIM_F_DUP)
        k += snprintf(buf + k, cap - (size_t)k, ", duplicate +%.3fms",
                      (d->t_dup - d->t_arrive) / 1e6);
    if (d->fate & KC_SIM_F_CORRUPT)
        snprintf(buf + k, cap - (size_t)k, ", corrupt bit %" PRIu32, d->corrupt_bit);
    return buf;
}

static void count(tally_t *t, const kc_sim_decision_t *d)
{
    t->frames++;
    t->dropped += !!(d->fate & KC_SIM_F_DROP);
    t->limited += !!(d->fate & KC_SIM_F_LIMIT);
    t->dups += !!(d->fate & KC_SIM_F_DUP);
    t->corrupt += !!(d->fate & KC_SIM_F_CORRUPT);
    t->reorder += !!(d->fate & KC_SIM_F_REORDER);
    if (d->t_deliver >= 0 && !(d->fate & KC_SIM_F_REORDER))
        t->lat[t->nlat++] = (double)(d->t_deliver - d->t_arrive);
}

static double pct(long k, long n)
{
    return n ? 100.0 * (double)k / (double)n : 0.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Observed latency bins beside what the configured delay predicts. */
static void histogram(const char *dir, const struct kc_sim_spec *s, tally_t *t, const opts_t *o)
{
    if (t->nlat == 0)
        return;
    qsort(t->lat, (size_t)t->nlat, sizeof(double), cmp_double);
    double lo = t->lat[(long)(t->nlat * 0.001)], hi = t->lat[(long)(t->nlat * 0.999)];
    if (hi <= lo)
        hi = lo + 1e6;
    double w = (hi - lo) / BINS;
    long obs[BINS] = {0};
    for (long i = 0; i < t->nlat; i++) {
        long b = (long)((t->lat[i] - lo) / w);
        if (b >= 0 && b < BINS)
            obs[b]++;
    }
    bool model = s->jitter > 0 && !s->rate_bps && !s->slot;
    printf("  %s latency (delivered, not reordered; %ld frames)%s\n", dir, t->nlat,
           model ? ", observed | expected from the delay distribution" : "");
    long maxc = 1;
    for (int b = 0; b < BINS; b++)
        maxc = obs[b] > maxc ? obs[b] : maxc;
    FILE *dat = NULL;
    char path[512];
    if (o->plot) {
        snprintf(path, sizeof path, "%s/ipc_sim_%s.dat", o->plot, dir[0] == 'a' ? "ab" : "ba");
        dat = fopen(path, "w");
    }
    for (int b = 0; b < BINS; b++) {
        double a = lo + b * w, z = a + w, e = 0;
        if (model) {
            double fa = kc__sim_dist_cdf(s->dist, (a - (double)s->delay) / (double)s->jitter);
            double fz = kc__sim_dist_cdf(s->dist, (z - (double)s->delay) / (double)s->jitter);
            e = (fz - fa) * (double)t->nlat;
        }
        int bar = (int)(40.0 * (double)obs[b] / (double)maxc);
        printf("  %9.3fms %7ld", (a + w / 2) / 1e6, obs[b]);
        if (model)
            printf(" | %9.1f", e);
        printf("  %.*s\n", bar, "########################################");
        if (dat)
            fprintf(dat, "%.6f %ld %.3f\n", (a + w / 2) / 1e6, obs[b], e);
    }
    if (dat) {
        fclose(dat);
        printf("  wrote %s\n", path);
    }
}

static void plot(const opts_t *o)
{
    char gp[512], png[512];
    snprintf(gp, sizeof gp, "%s/ipc_sim.gp", o->plot);
    snprintf(png, sizeof png, "%s/ipc_sim.png", o->plot);
    FILE *f = fopen(gp, "w");
    if (!f) {
        fprintf(stderr, "ipc_sim: cannot write %s\n", gp);
        return;
    }
    fprintf(f,
            "set terminal png size 900,500\nset output '%s'\n"
            "set title \"ipc_sim --seed %" PRIu64 " '%s'\" noenhanced\n"
            "set xlabel 'latency (ms)'\nset ylabel 'frames'\nset style fill solid 0.4\n"
            "plot '%s/ipc_sim_ab.dat' using 1:2 with boxes title 'a>b observed', "
            "'' using 1:3 with linespoints title 'a>b expected', "
            "'%s/ipc_sim_ba.dat' using 1:2 with lines title 'b>a observed'\n",
            png, o->seed, o->words, o->plot, o->plot);
    fclose(f);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>/dev/null", gp);
    if (system(cmd) == 0)
        printf("  picture: %s\n", png);
    else
        printf("  gnuplot script: %s (gnuplot is not installed: apt-get install gnuplot-nox)\n",
               gp);
}

int main(int argc, char **argv)
{
    opts_t o;
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    kc_sim_spec_t *spec;
    char err[KC_SIM_ERR_MAX];
    if (kc_sim_spec_parse(o.words, &spec, err, sizeof err) < 0) {
        fprintf(stderr, "ipc_sim: %s\n", err);
        return 2;
    }
    if (kc_sim_spec_seed(spec))
        o.seed = kc_sim_spec_seed(spec);
    const char *names[2] = {"a>b", "b>a"};
    kc_sim_dir_t *dir[2];
    tally_t tally[2];
    for (int k = 0; k < 2; k++) {
        if (kc_sim_dir_create(spec, o.seed * 2 + (uint64_t)k, &dir[k]) < 0)
            return 1;
        memset(&tally[k], 0, sizeof tally[k]);
        tally[k].lat = malloc(sizeof(double) * (size_t)o.frames);
        if (!tally[k].lat)
            return 1;
    }
    char canon[512];
    kc_sim_spec_format(spec, canon, sizeof canon);
    if (!o.json)
        printf("ipc_sim: '%s', seed %" PRIu64 ", %ld frames of %" PRIu32
               " bytes each way, one every %.3fms\n\n  timeline (first %ld per direction)\n",
               canon, o.seed, o.frames, o.size, o.interval / 1e6, o.show);
    char line[256], fw[128];
    for (long i = 0; i < o.frames; i++) {
        for (int k = 0; k < 2; k++) {
            kc_sim_decision_t d;
            /* The explorer holds nothing, so `limit` never bites here. */
            kc_sim_dir_decide(dir[k], i * o.interval, o.size, 0, &d);
            count(&tally[k], &d);
            if (o.json) {
                if (kc_sim_decision_json(&d, names[k], line, sizeof line) > 0)
                    puts(line);
            } else if (i < o.show) {
                printf("  t=%10.3fms %s frame %-6" PRIu64 " %s\n", d.t_arrive / 1e6, names[k],
                       d.frame, fate_words(&d, fw, sizeof fw));
            }
        }
    }
    if (!o.json) {
        printf("\n  %-4s %9s %9s %9s %9s %9s %9s\n", "", "frames", "dropped", "limit", "dup",
               "corrupt", "reorder");
        for (int k = 0; k < 2; k++) {
            tally_t *t = &tally[k];
            printf("  %-4s %9ld %8.3f%% %8.3f%% %8.3f%% %8.3f%% %8.3f%%\n", names[k], t->frames,
                   pct(t->dropped, t->frames), pct(t->limited, t->frames), pct(t->dups, t->frames),
                   pct(t->corrupt, t->frames), pct(t->reorder, t->frames));
        }
        printf("\n");
        for (int k = 0; k < 2; k++)
            histogram(names[k], spec, &tally[k], &o);
        if (o.plot)
            plot(&o);
        printf("\n  replay: ipc_sim --seed %" PRIu64 " --frames %ld --size %" PRIu32
               " --interval %" PRId64 "ns '%s'\n",
               o.seed, o.frames, o.size, o.interval, o.words);
    }
    for (int k = 0; k < 2; k++) {
        kc_sim_dir_destroy(dir[k]);
        free(tally[k].lat);
    }
    kc_sim_spec_free(spec);
    return 0;
}
