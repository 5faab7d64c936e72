/* kc_arena_bench.h - the alloc+free pair loop shared by the arena benchmarks.
 *
 * Header-only, included by bench_arena.c (the arena and glibc malloc) and by
 * the peer programs for jemalloc and mimalloc, which must be separate
 * processes because those libraries replace malloc for the whole program.
 * Every program measures the same thing the same way: T threads (1 or 2),
 * each allocating a block of the given size, writing its first and last
 * byte, and freeing it, ITERS times in a row; the figure is the slowest
 * thread's nanoseconds per pair. Threads start together on a barrier and
 * never share blocks.
 *
 * Time is each thread's CPU time (CLOCK_THREAD_CPUTIME_ID), not wall time:
 * the benchmark machines are small and shared, and a thread that is
 * descheduled for a while would otherwise charge the wait to whichever
 * allocator happened to be running. None of the measured paths blocks (the
 * arena's and the peers' per-thread caches take no lock in a pair loop), so
 * CPU time is the cost. Wall time per pair goes to stderr beside it.
 */
#ifndef KCORO_KC_ARENA_BENCH_H
#define KCORO_KC_ARENA_BENCH_H

#include "kc_bench_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* One allocator under test: pair(ctx, size, iters) runs the loop. */
struct kc_ab_alloc {
    const char *prefix; /* "arena" or "peer.glibc.arena", ... */
    void (*pair)(void *ctx, size_t size, long iters);
    void *ctx;
};

struct kc_ab_job {
    const struct kc_ab_alloc *al;
    size_t size;
    long iters;
    int threads;
    pthread_barrier_t start;
    uint64_t ns[2];      /* CPU time per thread */
    uint64_t wall_ns[2]; /* wall time per thread */
};

static inline uint64_t kc_ab_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct kc_ab_thread {
    struct kc_ab_job *job;
    int slot;
};

static void *kc_ab_thread_main(void *arg)
{
    struct kc_ab_thread *t = arg;
    struct kc_ab_job *j = t->job;
    pthread_barrier_wait(&j->start);
    uint64_t w0 = kc_bench_now_ns(), c0 = kc_ab_cpu_ns();
    j->al->pair(j->al->ctx, j->size, j->iters);
    j->ns[t->slot] = kc_ab_cpu_ns() - c0;
    j->wall_ns[t->slot] = kc_bench_now_ns() - w0;
    return NULL;
}

/* One repetition: ns per pair of the slowest thread. */
static double kc_ab_once(void *arg)
{
    struct kc_ab_job *j = arg;
    pthread_t th[2];
    struct kc_ab_thread ta[2];
    pthread_barrier_init(&j->start, NULL, (unsigned)j->threads);
    for (int i = 1; i < j->threads; i++) {
        ta[i] = (struct kc_ab_thread){j, i};
        if (pthread_create(&th[i], NULL, kc_ab_thread_main, &ta[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            exit(1);
        }
    }
    ta[0] = (struct kc_ab_thread){j, 0};
    kc_ab_thread_main(&ta[0]);
    uint64_t worst = j->ns[0], wall = j->wall_ns[0];
    for (int i = 1; i < j->threads; i++) {
        pthread_join(th[i], NULL);
        worst = j->ns[i] > worst ? j->ns[i] : worst;
        wall = j->wall_ns[i] > wall ? j->wall_ns[i] : wall;
    }
    pthread_barrier_destroy(&j->start);
    fprintf(stderr, "    %s %zu B x%d: cpu %.2f ns, wall %.2f ns per pair\n", j->al->prefix,
            j->size, j->threads, (double)worst / (double)j->iters, (double)wall / (double)j->iters);
    return (double)worst / (double)j->iters;
}

/* Measure and report the six figures of one allocator:
 * <prefix>.alloc_free_{64,4k,64k} and the _2t variants. */
static void kc_ab_run_all(const struct kc_ab_alloc *al)
{
    static const struct {
        size_t size;
        const char *tag;
        long iters;
    } sizes[] = {{64, "64", 4000000}, {4096, "4k", 2000000}, {65536, "64k", 1000000}};
    for (int threads = 1; threads <= 2; threads++)
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            struct kc_ab_job job = {al, sizes[i].size, kc_bench_iters(sizes[i].iters), threads,
                                    .ns = {0, 0}};
            char name[96];
            snprintf(name, sizeof(name), "%s.alloc_free_%s%s", al->prefix, sizes[i].tag,
                     threads == 2 ? "_2t" : "");
            kc_ab_once(&job); /* warm-up: caches, page faults */
            kc_bench_measure(name, "ns", kc_ab_once, &job);
        }
}

/* Touch the block's first and last byte so the allocation is really used. */
#define KC_AB_TOUCH(p, size)                                                                       \
    do {                                                                                           \
        ((volatile char *)(p))[0] = 1;                                                             \
        ((volatile char *)(p))[(size)-1] = 2;                                                      \
    } while (0)

#endif /* KCORO_KC_ARENA_BENCH_H */
