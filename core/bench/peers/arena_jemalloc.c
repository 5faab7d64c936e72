/* arena_jemalloc.c - the jemalloc peer of core/bench/bench_arena.c.
 *
 * Same loop, same sizes and thread counts, through jemalloc's public
 * non-standard API (mallocx + dallocx from <jemalloc/jemalloc.h>, Debian's
 * libjemalloc-dev). Prints peer.jemalloc.arena.alloc_free_*. A program of
 * its own because linking jemalloc replaces malloc for the whole process.
 * run-peers.sh builds it with core/bench/kc_bench_util.c and
 * kc-peer-libs: -ljemalloc
 */
#include "kc_arena_bench.h"

#include <jemalloc/jemalloc.h>

static void jemalloc_pair(void *ctx, size_t size, long iters)
{
    (void)ctx;
    for (long i = 0; i < iters; i++) {
        void *p = mallocx(size, 0);
        if (p == NULL)
            exit(1);
        KC_AB_TOUCH(p, size);
        KC_BENCH_KEEP(p);
        dallocx(p, 0);
    }
}

int main(void)
{
    struct kc_ab_alloc je = {"peer.jemalloc.arena", jemalloc_pair, NULL};
    kc_ab_run_all(&je);
    return 0;
}
