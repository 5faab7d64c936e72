/* bench_arena.c - alloc+free pairs: the arena against glibc malloc.
 *
 * Prints arena.alloc_free_{64,4k,64k}[_2t] for kc_arena_alloc() +
 * kc_arena_release() and peer.glibc.arena.alloc_free_* for malloc() +
 * free(), measured in the same process (the arena's six figures, then
 * glibc's). The
 * arena is 256 MiB of 4 KiB pages; the last release of each pair returns the
 * block to the thread's cache, which is the path this figure is about. The
 * jemalloc and mimalloc peers live in peers/arena_jemalloc.c and
 * peers/arena_mimalloc.c (they replace malloc, so they need processes of
 * their own; `make bench-peers ONLY=arena` runs all three and prints the
 * ratios of core/bench/peers/pairs.tsv).
 *
 * It also prints the cost of validate-and-retain, which no peer has:
 * arena.hydrate_release (kc_arena_hydrate + kc_arena_release on a live
 * ticket, one thread) and arena.hydrate_release_2t_shared (two threads on
 * the same ticket, so both CAS the same word).
 */
#include "kcoro/arena.h"

#include "kc_arena_bench.h"

#include <stdlib.h>

static void arena_pair(void *ctx, size_t size, long iters)
{
    kc_arena_t *a = ctx;
    for (long i = 0; i < iters; i++) {
        kc_arena_ticket_t t;
        void *p;
        if (kc_arena_alloc(a, size, &t, &p) != 0) {
            fprintf(stderr, "kc_arena_alloc failed\n");
            exit(1);
        }
        KC_AB_TOUCH(p, size);
        kc_arena_release(a, t);
    }
}

static void glibc_pair(void *ctx, size_t size, long iters)
{
    (void)ctx;
    for (long i = 0; i < iters; i++) {
        void *p = malloc(size);
        if (p == NULL)
            exit(1);
        KC_AB_TOUCH(p, size);
        KC_BENCH_KEEP(p);
        free(p);
    }
}

struct hyd {
    kc_arena_t *a;
    kc_arena_ticket_t t;
};

/* The "size" argument is unused: each iteration hydrates the shared ticket
 * (one CAS to take a reference) and releases it (one CAS to drop it). */
static void hydrate_pair(void *ctx, size_t size, long iters)
{
    struct hyd *h = ctx;
    (void)size;
    for (long i = 0; i < iters; i++) {
        void *p;
        size_t len;
        if (kc_arena_hydrate(h->a, h->t, &p, &len) != 0) {
            fprintf(stderr, "kc_arena_hydrate failed\n");
            exit(1);
        }
        KC_BENCH_KEEP(p);
        kc_arena_release(h->a, h->t);
    }
}

static void hydrate_figures(kc_arena_t *a)
{
    struct hyd h = {a, KC_ARENA_TICKET_NULL};
    if (kc_arena_alloc(a, 4096, &h.t, NULL) != 0)
        exit(1);
    struct kc_ab_alloc al = {"arena.hydrate_release", hydrate_pair, &h};
    for (int threads = 1; threads <= 2; threads++) {
        struct kc_ab_job job = {&al, 4096, kc_bench_iters(4000000), threads, .ns = {0, 0}};
        kc_ab_once(&job);
        kc_bench_measure(threads == 1 ? "arena.hydrate_release" : "arena.hydrate_release_2t_shared",
                         "ns", kc_ab_once, &job);
    }
    kc_arena_release(a, h.t);
}

int main(void)
{
    kc_arena_t *a;
    kc_arena_opts_t o = KC_ARENA_OPTS_INIT;
    o.bytes = (size_t)256 * 1024 * 1024;
    o.name = "bench";
    if (kc_arena_create(&a, &o) != 0) {
        fprintf(stderr, "kc_arena_create failed\n");
        return 1;
    }
    struct kc_ab_alloc arena = {"arena", arena_pair, a};
    struct kc_ab_alloc glibc = {"peer.glibc.arena", glibc_pair, NULL};
    kc_ab_run_all(&arena);
    kc_ab_run_all(&glibc);
    hydrate_figures(a);
    kc_arena_metrics_t m = {.size = sizeof(m)};
    kc_arena_metrics(a, &m);
    fprintf(stderr, "  arena after the run: %llu allocs, %llu live, %llu failed\n",
            (unsigned long long)m.allocs, (unsigned long long)m.live_tickets,
            (unsigned long long)m.failed_allocs);
    return kc_arena_destroy(a) == 0 ? 0 : 1;
}
