/* kc_bench_util.h - shared helpers for kcoro's benchmark programs.
 *
 * Every figure is printed as one line `BENCH <module>.<figure> <value> <unit>`
 * (ARCHITECTURE.md section 8) and appended to the TSV file named by
 * KC_BENCH_TSV when mk/run-bench.sh runs the program. A figure is the median
 * of KC_BENCH_REPS repetitions (default 5); the spread (max-min)/median goes
 * to stderr so the one-line format stays stable.
 */
#ifndef KCORO_KC_BENCH_UTIL_H
#define KCORO_KC_BENCH_UTIL_H

#include <stdint.h>

/* Monotonic nanoseconds. */
uint64_t kc_bench_now_ns(void);

/* Repetitions per figure: KC_BENCH_REPS or 5. */
int kc_bench_reps(void);

/* Scale a default iteration count by KC_BENCH_SCALE (a percentage, default
 * 100), so quick runs stay quick. */
long kc_bench_iters(long n);

/* The median of v[0..n) (v is reordered); *spread gets (max-min)/median. */
double kc_bench_median(double *v, int n, double *spread);

/* Print and record one figure. */
void kc_bench_report(const char *name, double value, const char *unit);

/* Run fn(arg) kc_bench_reps() times; each run returns its figure. Reports
 * the median under name/unit and returns it. */
double kc_bench_measure(const char *name, const char *unit, double (*fn)(void *), void *arg);

/* Two-process benchmarks (ipc, mux and their peers) share one placement:
 * the calling process, and every thread or child it creates afterwards, is
 * pinned to the CPUs listed in KC_BENCH_CPUS ("0,1" or "0-3"; default: the
 * first two CPUs the process may run on). Call it before fork so both
 * processes of every program run on the same CPUs. Returns the number of
 * CPUs in the placement (0 where pinning is not supported). */
int kc_bench_place(void);

/* The mux round-trip figures (mux.rtt_*, kcoro's and nghttp2's) run over
 * sockets whose SO_SNDBUF is this many bytes (Linux doubles it), on both
 * ends: a round trip waits behind what the socket queues, and a socket
 * that filled up is writable again only once a quarter of it is left. The
 * throughput figures keep the system's default. */
#define KC_BENCH_MUX_RTT_SNDBUF 32768

/* The resident set size of the calling process in bytes (0 if unknown). */
long kc_bench_rss_bytes(void);

/* The p-th percentile (0..100, nearest rank) of v[0..n) (v is reordered). */
double kc_bench_percentile(double *v, int n, double p);

/* Keep the compiler from discarding a computed value. */
#define KC_BENCH_KEEP(x) __asm__ volatile("" : : "r"(x) : "memory")

#endif /* KCORO_KC_BENCH_UTIL_H */
