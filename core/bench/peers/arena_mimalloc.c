/* arena_mimalloc.c - the mimalloc peer of core/bench/bench_arena.c.
 *
 * Same loop, same sizes and thread counts, through mimalloc's public API
 * (mi_malloc + mi_free from <mimalloc.h>, Debian's libmimalloc-dev). Prints
 * peer.mimalloc.arena.alloc_free_*. A program of its own because linking
 * mimalloc replaces malloc for the whole process.
 * run-peers.sh builds it with core/bench/kc_bench_util.c and
 * kc-peer-libs: -lmimalloc
 */
#include "kc_arena_bench.h"

#include <mimalloc.h>

static void mimalloc_pair(void *ctx, size_t size, long iters)
{
    (void)ctx;
    for (long i = 0; i < iters; i++) {
        void *p = mi_malloc(size);
        if (p == NULL)
            exit(1);
        KC_AB_TOUCH(p, size);
        KC_BENCH_KEEP(p);
        mi_free(p);
    }
}

int main(void)
{
    struct kc_ab_alloc mi = {"peer.mimalloc.arena", mimalloc_pair, NULL};
    kc_ab_run_all(&mi);
    return 0;
}
