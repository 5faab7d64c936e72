/* bench_coro.c - coroutine engine benchmarks.
 *
 * Figures (ARCHITECTURE.md section 8):
 *   coro.switch_roundtrip       ns   resume + yield, one round trip
 *   coro.create_destroy_pooled  ns   create, run to completion, destroy
 *   coro.create_destroy_unpooled ns  the same with KC_CORO_F_NO_POOL
 *   coro.parked_rss             bytes resident memory per parked coroutine
 *                                    (100,000 parked, each used its stack)
 *   coro.live_guarded           count coroutines alive at once, each with a
 *                                    guard page (asked: 1,000,000)
 * Peers (core/bench/peers): Boost.Context fcontext round trip, Go Gosched
 * ping-pong, goroutine spawn+exit and RSS per parked goroutine.
 */
#include "kcoro.h"

#include "kc_bench_util.h"
#include "port/kc_port.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int yield_forever(void *arg)
{
    (void)arg;
    for (;;)
        kc_coro_yield();
    return 0;
}

static double switch_roundtrip(void *arg)
{
    kc_coro_t *co = arg;
    long n = kc_bench_iters(10000000);
    uint64_t t0 = kc_bench_now_ns();
    for (long i = 0; i < n; i++)
        kc_coro_resume(co);
    return (double)(kc_bench_now_ns() - t0) / (double)n;
}

static int finish_at_once(void *arg)
{
    return (int)(intptr_t)arg;
}

static double create_destroy(void *arg)
{
    const kc_coro_attr_t *attr = arg;
    long n = kc_bench_iters(attr->flags & KC_CORO_F_NO_POOL ? 100000 : 2000000);
    uint64_t t0 = kc_bench_now_ns();
    for (long i = 0; i < n; i++) {
        kc_coro_t *co;
        if (kc_coro_create(&co, finish_at_once, NULL, attr) != 0)
            abort();
        kc_coro_resume(co);
        kc_coro_destroy(co);
    }
    return (double)(kc_bench_now_ns() - t0) / (double)n;
}

/* A parked coroutine that did some work first: about a hundred bytes of
 * frames, as a coroutine blocked in a channel receive would have. */
static int park_after_work(void *arg)
{
    char frame[128];
    memset(frame, 1, sizeof(frame));
    KC_BENCH_KEEP(frame);
    (void)arg;
    kc_coro_yield();
    return frame[7];
}

static double parked_rss(void *arg)
{
    long n = *(long *)arg;
    kc_coro_t **all = malloc((size_t)n * sizeof(*all));
    if (all == NULL)
        abort();
    memset(all, 0, (size_t)n * sizeof(*all)); /* touch the array before measuring */
    size_t before = kc__port_rss_bytes();
    for (long i = 0; i < n; i++) {
        if (kc_coro_create(&all[i], park_after_work, NULL, NULL) != 0) {
            fprintf(stderr, "create failed at %ld\n", i);
            abort();
        }
        kc_coro_resume(all[i]);
    }
    size_t after = kc__port_rss_bytes();
    for (long i = 0; i < n; i++) {
        kc_coro_resume(all[i]);
        kc_coro_destroy(all[i]);
    }
    free(all);
    return (double)(after - before) / (double)n;
}

/* How many guarded coroutines can be alive at once (asked: n). */
static long live_guarded(long n)
{
    kc_coro_t **all = malloc((size_t)n * sizeof(*all));
    long made = 0;
    if (all == NULL)
        return 0;
    for (; made < n; made++) {
        if (kc_coro_create(&all[made], park_after_work, NULL, NULL) != 0)
            break;
        kc_coro_resume(all[made]);
    }
    size_t rss = kc__port_rss_bytes();
    for (long i = 0; i < made; i++) {
        kc_coro_resume(all[i]);
        kc_coro_destroy(all[i]);
    }
    free(all);
    fprintf(stderr, "  %ld live guarded coroutines, RSS %.1f MiB\n", made,
            (double)rss / (1024.0 * 1024.0));
    return made;
}

int main(void)
{
    kc_coro_t *pinger;
    if (kc_coro_create(&pinger, yield_forever, NULL, NULL) != 0)
        return 1;
    kc_bench_measure("coro.switch_roundtrip", "ns", switch_roundtrip, pinger);
    kc_coro_destroy(pinger);

    kc_coro_attr_t pooled = KC_CORO_ATTR_INIT;
    kc_coro_attr_t unpooled = KC_CORO_ATTR_INIT;
    unpooled.flags = KC_CORO_F_NO_POOL;
    kc_bench_measure("coro.create_destroy_pooled", "ns", create_destroy, &pooled);
    kc_bench_measure("coro.create_destroy_unpooled", "ns", create_destroy, &unpooled);

    long parked = kc_bench_iters(100000);
    kc_bench_measure("coro.parked_rss", "bytes", parked_rss, &parked);

    kc_coro_stack_stats_t st;
    kc_coro_stack_stats(&st);
    long want = getenv("KC_BENCH_LIVE") ? atol(getenv("KC_BENCH_LIVE")) : 1000000;
    fprintf(stderr, "  guard pages by %s\n",
            st.guard_mode == KC_CORO_GUARD_MADVISE ? "MADV_GUARD_INSTALL" : "mprotect");
    kc_bench_report("coro.live_guarded", (double)live_guarded(want), "coroutines");
    return 0;
}
