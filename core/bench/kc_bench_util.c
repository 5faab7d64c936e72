/* kc_bench_util.c - timing, repetition and reporting for benchmark programs. */
#include "kc_bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

uint64_t kc_bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int kc_bench_reps(void)
{
    const char *s = getenv("KC_BENCH_REPS");
    int n = s ? atoi(s) : 5;
    return n < 1 ? 1 : n > 101 ? 101 : n;
}

long kc_bench_iters(long n)
{
    const char *s = getenv("KC_BENCH_SCALE");
    long pct = s ? atol(s) : 100;
    if (pct < 1)
        pct = 1;
    long v = n / 100 * pct;
    return v > 0 ? v : 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double kc_bench_median(double *v, int n, double *spread)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    if (spread != NULL)
        *spread = med > 0 ? (v[n - 1] - v[0]) / med : 0;
    return med;
}

void kc_bench_report(const char *name, double value, const char *unit)
{
    printf("BENCH %s %.4g %s\n", name, value, unit);
    fflush(stdout);
    const char *path = getenv("KC_BENCH_TSV");
    if (path == NULL || *path == '\0')
        return;
    FILE *f = fopen(path, "a");
    if (f == NULL)
        return;
    fprintf(f, "%s\t%.6g\t%s\n", name, value, unit);
    fclose(f);
}

double kc_bench_measure(const char *name, const char *unit, double (*fn)(void *), void *arg)
{
    double v[101];
    int n = kc_bench_reps();
    for (int i = 0; i < n; i++)
        v[i] = fn(arg);
    double spread;
    double med = kc_bench_median(v, n, &spread);
    fprintf(stderr, "  %s: median %.4g %s over %d reps, spread %.1f%%\n", name, med, unit, n,
            spread * 100);
    kc_bench_report(name, med, unit);
    return med;
}
