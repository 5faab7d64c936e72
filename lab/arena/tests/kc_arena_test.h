/* kc_arena_test.h - helpers shared by the arena lab's cmocka tests.
 *
 * Header-only: scaled operation counts (KCORO_TEST_FULL=1 runs the full
 * sizes, KCORO_TEST_SCALE=N divides them for slow checkers), a seeded
 * xorshift generator whose seed each test prints on failure, small arena
 * constructors and a metrics shortcut.
 */
#ifndef KCORO_KC_ARENA_TEST_H
#define KCORO_KC_ARENA_TEST_H

#include "kcoro/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* n operations in the full run (KCORO_TEST_FULL=1), n / 10 by default, and
 * divided again by KCORO_TEST_SCALE (valgrind runs set it). */
static inline long kc_at_scaled(long n)
{
    const char *full = getenv("KCORO_TEST_FULL");
    const char *s = getenv("KCORO_TEST_SCALE");
    long div = (full != NULL && *full == '1') ? 1 : 10;
    long extra = s != NULL ? atol(s) : 1;
    div *= extra > 1 ? extra : 1;
    return n / div > 0 ? n / div : 1;
}

/* xorshift64*: fast, seeded, reproducible. */
static inline uint64_t kc_at_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* An arena of `bytes` in pages of `page` (0 = defaults). */
static inline kc_arena_t *kc_at_arena(size_t bytes, size_t page, uint32_t tickets)
{
    kc_arena_opts_t o = KC_ARENA_OPTS_INIT;
    o.bytes = bytes;
    o.page_size = page;
    o.max_tickets = tickets;
    o.name = "test";
    kc_arena_t *a = NULL;
    if (kc_arena_create(&a, &o) != 0)
        return NULL;
    return a;
}

static inline kc_arena_metrics_t kc_at_metrics(kc_arena_t *a)
{
    kc_arena_metrics_t m = {.size = sizeof(m)};
    kc_arena_metrics(a, &m);
    return m;
}

#endif /* KCORO_KC_ARENA_TEST_H */
