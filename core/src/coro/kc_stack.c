/* kc_stack.c - coroutine stacks: guarded, pooled, carved from slabs.
 *
 * Every stack is [guard][usable] with the guard below (stacks grow down).
 * Default-size stacks come from slabs of KC_SLAB_STACKS stacks mapped at once
 * (one VMA per slab when guard pages are madvise guards) and are recycled
 * through a per-thread cache of up to KC_STACK_CACHE stacks, then through a
 * process-wide free list, so spawning does not call mmap in steady state.
 * The shared list keeps its first KC_STACK_WARM stacks as they are (their
 * touched pages stay resident, so a burst of spawns reuses them without page
 * faults); stacks beyond that give their pages back to the OS first. Other sizes, and KC_CORO_F_NO_POOL, map and unmap a
 * stack of their own.
 *
 * The counters of the hot path (stacks live, cache hits) are per thread,
 * written by their thread alone with a load and a store (no locked
 * instruction), and summed by kc_coro_stack_stats over the threads on the
 * `caches` list plus what exited threads left in `gone`.
 *
 * Invariants:
 *   S1  a pooled stack is in exactly one place: in use, in one thread's
 *       cache, or on the shared free list.
 *   S2  gone.live + the sum of the listed caches' live == stacks handed out
 *       and not yet freed (a thread's own count may go below zero when it
 *       frees stacks other threads allocated).
 *   S3  a thread's cache is on the `caches` list from its first stack
 *       allocation or free until its exit (flush_cache folds its counters
 *       into `gone` and takes it off), so the list never names a dead
 *       thread's storage.
 */
#include "coro/kc_coro_impl.h"

#include "port/kc_port.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

enum {
    KC_SLAB_STACKS = 64,   /* stacks per slab mapping */
    KC_STACK_CACHE = 256,  /* stacks kept per thread */
    KC_STACK_WARM = 16384, /* shared stacks kept resident (a few MiB at most) */
    KC_GUARD_BYTES = 16384 /* guard below each stack: catches frames < 16 KiB */
};

struct stack_cache {
    uint8_t *base[KC_STACK_CACHE];
    int n;
    bool keyed; /* on the caches list, key set (S3) */
    /* written by this thread only (load + store), read by stats */
    _Atomic int64_t live;
    _Atomic uint64_t cache_hits;
    struct stack_cache *prev, *next; /* the caches list; guarded by shared_lock */
};

static KC_THREAD_LOCAL struct stack_cache cache;

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t **shared_free;       /* guarded by shared_lock */
static size_t shared_n, shared_cap; /* guarded by shared_lock */
static uint8_t *slab_next;          /* guarded by shared_lock */
static size_t slab_left;            /* guarded by shared_lock */
static struct stack_cache *caches;  /* guarded by shared_lock (S3) */
/* Exited threads' counters (folded in under shared_lock), and the counts
 * of a thread whose cache could not be listed (atomics, S3). */
static struct {
    _Atomic int64_t live;
    _Atomic uint64_t cache_hits;
} gone;

static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static pthread_key_t cache_key;
static size_t default_size; /* usable bytes, page-rounded */
/* default_size once setup has run, 0 before: the look every spawn makes
 * without pthread_once's call (release in setup, acquire here) */
static atomic_size_t ready_size;
static size_t guard_len;

static struct {
    atomic_uint_fast64_t shared_hits, slab_maps, own_maps, own_unmaps;
} stats;

static size_t round_up(size_t v, size_t to)
{
    return (v + to - 1) / to * to;
}

/* KCORO_STACK_SIZE: bytes, or a number with a K or M suffix. */
static size_t parse_size(const char *s)
{
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s)
        return 0;
    if (*end == 'k' || *end == 'K')
        v *= 1024, end++;
    else if (*end == 'm' || *end == 'M')
        v *= 1024 * 1024, end++;
    return *end == '\0' ? (size_t)v : 0;
}

static void flush_cache(void *unused);

static void setup(void)
{
    size_t ps = kc__port_page_size();
    size_t size = KC_CORO_STACK_DEFAULT;
    const char *env = getenv("KCORO_STACK_SIZE");
    if (env != NULL && *env != '\0') {
        size_t v = parse_size(env);
        if (v >= KC_CORO_STACK_MIN && v <= KC_CORO_STACK_MAX)
            size = v;
        else
            fprintf(stderr,
                    "kcoro: KCORO_STACK_SIZE='%s' is not a size in [%zu, %zu]; "
                    "using %zu\n",
                    env, (size_t)KC_CORO_STACK_MIN, (size_t)KC_CORO_STACK_MAX, size);
    }
    default_size = round_up(size, ps);
    guard_len = round_up(KC_GUARD_BYTES, ps);
    pthread_key_create(&cache_key, flush_cache);
    atomic_store_explicit(&ready_size, default_size, memory_order_release);
}

size_t kc__stack_default_size(void)
{
    size_t v = atomic_load_explicit(&ready_size, memory_order_acquire);
    if (__builtin_expect(v != 0, 1))
        return v;
    pthread_once(&setup_once, setup);
    return default_size;
}

/* This thread's cache, through a barrier (stacks are freed by coroutines
 * that may migrate between threads; see ARCHITECTURE.md section 6). */
__attribute__((noinline)) static struct stack_cache *my_cache(void)
{
    struct stack_cache *c = &cache;
    __asm__ volatile("" : "+r"(c)::"memory");
    return c;
}

static void fill(struct kc_stack *st, uint8_t *base, size_t usable, uint8_t origin)
{
    st->guard_lo = base;
    st->guard_len = guard_len;
    st->lo = base + guard_len;
    st->hi = st->lo + usable;
    st->origin = origin;
}

/* Take a stack from the shared list or carve one from a slab. */
static uint8_t *shared_take(void)
{
    uint8_t *base = NULL;
    size_t slot = guard_len + default_size;
    pthread_mutex_lock(&shared_lock);
    if (shared_n > 0) {
        base = shared_free[--shared_n];
        atomic_fetch_add_explicit(&stats.shared_hits, 1, memory_order_relaxed);
    } else {
        if (slab_left == 0) {
            uint8_t *slab = kc__port_map(slot * KC_SLAB_STACKS);
            if (slab != NULL) {
                slab_next = slab;
                slab_left = KC_SLAB_STACKS;
                atomic_fetch_add_explicit(&stats.slab_maps, 1, memory_order_relaxed);
            }
        }
        if (slab_left > 0) {
            base = slab_next;
            if (kc__port_guard(base, guard_len) < 0) {
                base = NULL; /* out of VMAs: leave the slot unused */
            } else {
                slab_next += slot;
                slab_left--;
            }
        }
    }
    pthread_mutex_unlock(&shared_lock);
    return base;
}

static void shared_put(uint8_t *base)
{
    pthread_mutex_lock(&shared_lock);
    if (shared_n >= KC_STACK_WARM) {
        /* Cold surplus: give its pages back (outside the lock). */
        pthread_mutex_unlock(&shared_lock);
        kc__port_discard(base + guard_len, default_size);
        pthread_mutex_lock(&shared_lock);
    }
    if (shared_n == shared_cap) {
        size_t cap = shared_cap ? shared_cap * 2 : 256;
        uint8_t **v = realloc(shared_free, cap * sizeof(*v));
        if (v == NULL) {
            /* Cannot record it: the stack stays mapped but unused. */
            pthread_mutex_unlock(&shared_lock);
            return;
        }
        shared_free = v;
        shared_cap = cap;
    }
    shared_free[shared_n++] = base;
    pthread_mutex_unlock(&shared_lock);
}

size_t kc_coro_stack_trim(void)
{
    pthread_once(&setup_once, setup);
    pthread_mutex_lock(&shared_lock);
    for (size_t i = 0; i < shared_n; i++)
        kc__port_discard(shared_free[i] + guard_len, default_size);
    size_t n = shared_n;
    pthread_mutex_unlock(&shared_lock);
    return n;
}

/* Thread exit (the key's destructor): the cached stacks go to the shared
 * list, the counters to `gone`, the cache off the list (S3). */
static void flush_cache(void *unused)
{
    (void)unused;
    struct stack_cache *c = my_cache();
    while (c->n > 0)
        shared_put(c->base[--c->n]);
    if (!c->keyed)
        return;
    pthread_mutex_lock(&shared_lock);
    atomic_fetch_add_explicit(&gone.live, atomic_load_explicit(&c->live, memory_order_relaxed),
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&gone.cache_hits,
                              atomic_load_explicit(&c->cache_hits, memory_order_relaxed),
                              memory_order_relaxed);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        caches = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    atomic_store_explicit(&c->live, 0, memory_order_relaxed);
    atomic_store_explicit(&c->cache_hits, 0, memory_order_relaxed);
    c->keyed = false; /* a later stack on this thread lists it again */
    pthread_mutex_unlock(&shared_lock);
}

/* Put this thread's cache on the caches list, once (S3). Any non-NULL
 * value makes the key's destructor run at exit; without it (ENOMEM) the
 * cache stays off the list and its thread counts into `gone` directly. */
static __attribute__((noinline)) void list_cache(struct stack_cache *c)
{
    if (pthread_setspecific(cache_key, c) != 0)
        return;
    pthread_mutex_lock(&shared_lock);
    c->prev = NULL;
    c->next = caches;
    if (caches != NULL)
        caches->prev = c;
    caches = c;
    c->keyed = true;
    pthread_mutex_unlock(&shared_lock);
}

/* A listed thread's counters: a load and a store, since only it writes;
 * an unlisted one's go to `gone` (S3). */
static inline void count_live(struct stack_cache *c, int64_t d)
{
    if (__builtin_expect(!c->keyed, 0)) {
        atomic_fetch_add_explicit(&gone.live, d, memory_order_relaxed);
        return;
    }
    atomic_store_explicit(&c->live, atomic_load_explicit(&c->live, memory_order_relaxed) + d,
                          memory_order_relaxed);
}

static inline void count_hit(struct stack_cache *c)
{
    if (__builtin_expect(!c->keyed, 0)) {
        atomic_fetch_add_explicit(&gone.cache_hits, 1, memory_order_relaxed);
        return;
    }
    atomic_store_explicit(&c->cache_hits,
                          atomic_load_explicit(&c->cache_hits, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

int kc__stack_alloc(struct kc_stack *st, size_t size, bool pooled)
{
    kc__stack_default_size(); /* set up once (its fast path makes no call) */
    struct stack_cache *c = my_cache();
    if (__builtin_expect(!c->keyed, 0))
        list_cache(c);
    if (pooled) {
        uint8_t *base;
        if (c->n > 0) {
            base = c->base[--c->n];
            count_hit(c);
        } else {
            base = shared_take();
            if (base == NULL)
                return -ENOMEM;
        }
        fill(st, base, default_size, KC_STACK_POOL);
    } else {
        size_t usable = round_up(size, kc__port_page_size());
        uint8_t *base = kc__port_map(guard_len + usable);
        if (base == NULL)
            return -ENOMEM;
        if (kc__port_guard(base, guard_len) < 0) {
            kc__port_unmap(base, guard_len + usable);
            return -ENOMEM;
        }
        atomic_fetch_add_explicit(&stats.own_maps, 1, memory_order_relaxed);
        fill(st, base, usable, KC_STACK_OWN);
    }
    count_live(c, 1);
    return 0;
}

void kc__stack_free(struct kc_stack *st)
{
    struct stack_cache *c = my_cache();
    if (__builtin_expect(!c->keyed, 0))
        list_cache(c);
    count_live(c, -1);
    if (st->origin == KC_STACK_OWN) {
        kc__port_unmap(st->guard_lo, st->guard_len + (size_t)(st->hi - st->lo));
        atomic_fetch_add_explicit(&stats.own_unmaps, 1, memory_order_relaxed);
        return;
    }
    if (c->n < KC_STACK_CACHE) {
        c->base[c->n++] = st->guard_lo;
        return;
    }
    shared_put(st->guard_lo);
}

void kc_coro_stack_stats(kc_coro_stack_stats_t *out)
{
    if (out == NULL)
        return;
    pthread_once(&setup_once, setup);
    out->size = sizeof(*out);
    out->guard_mode = (uint32_t)kc__port_guard_mode();
    out->default_stack_size = default_size;
    out->guard_size = guard_len;
    pthread_mutex_lock(&shared_lock);
    int64_t live = atomic_load_explicit(&gone.live, memory_order_relaxed);
    uint64_t hits = atomic_load_explicit(&gone.cache_hits, memory_order_relaxed);
    for (const struct stack_cache *c = caches; c != NULL; c = c->next) {
        live += atomic_load_explicit(&c->live, memory_order_relaxed);
        hits += atomic_load_explicit(&c->cache_hits, memory_order_relaxed);
    }
    pthread_mutex_unlock(&shared_lock);
    out->live = live > 0 ? (uint64_t)live : 0;
    out->cache_hits = hits;
    out->shared_hits = atomic_load_explicit(&stats.shared_hits, memory_order_relaxed);
    out->slab_maps = atomic_load_explicit(&stats.slab_maps, memory_order_relaxed);
    out->own_maps = atomic_load_explicit(&stats.own_maps, memory_order_relaxed);
    out->own_unmaps = atomic_load_explicit(&stats.own_unmaps, memory_order_relaxed);
}
