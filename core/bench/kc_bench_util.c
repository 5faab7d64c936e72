/* kc_bench_util.c - timing, repetition and reporting for benchmark programs. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#endif
#include "kc_bench_util.h"

#include <sched.h>
#include <unistd.h>

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

#if defined(__linux__)
/* Add the CPUs of a list like "0,2-3" to *set; -1 on a malformed list. */
static int parse_cpus(const char *s, cpu_set_t *set)
{
    while (*s != '\0') {
        char *end;
        long a = strtol(s, &end, 10), b = a;
        if (end == s || a < 0 || a >= CPU_SETSIZE)
            return -1;
        if (*end == '-') {
            s = end + 1;
            b = strtol(s, &end, 10);
            if (end == s || b < a || b >= CPU_SETSIZE)
                return -1;
        }
        for (long c = a; c <= b; c++)
            CPU_SET((int)c, set);
        s = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0')
            return -1;
    }
    return 0;
}

int kc_bench_place(void)
{
    cpu_set_t want;
    CPU_ZERO(&want);
    const char *env = getenv("KC_BENCH_CPUS");
    if (env != NULL && *env != '\0') {
        if (parse_cpus(env, &want) != 0) {
            fprintf(stderr, "KC_BENCH_CPUS=%s: not a CPU list (like 0,1 or 0-3)\n", env);
            exit(2);
        }
    } else {
        cpu_set_t have;
        if (sched_getaffinity(0, sizeof(have), &have) != 0)
            return 0;
        for (int c = 0, n = 0; c < CPU_SETSIZE && n < 2; c++)
            if (CPU_ISSET(c, &have)) {
                CPU_SET(c, &want);
                n++;
            }
    }
    if (sched_setaffinity(0, sizeof(want), &want) != 0) {
        perror("kc_bench_place: sched_setaffinity");
        exit(2);
    }
    return CPU_COUNT(&want);
}

long kc_bench_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, rss = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld %ld", &size, &rss) != 2)
        rss = 0;
    fclose(f);
    return rss * sysconf(_SC_PAGESIZE);
}
#else
int kc_bench_place(void)
{
    return 0;
}

long kc_bench_rss_bytes(void)
{
    return 0;
}
#endif

double kc_bench_percentile(double *v, int n, double p)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    int k = (int)(p / 100.0 * n + 0.999999) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}
