/* kc_arena_cache.c - the per-thread caches and the ticket index.
 *
 * The caches keep the common alloc/release path free of locks (the paths
 * themselves live in kc_arena_ticket.c). A cache holds, per size class, a
 * stack of free blocks each paired with a free ticket index; it refills from
 * and flushes to the central allocator (kc_arena_page.c) in batches of half
 * its capacity, under arena->lock. Capacities are sized so that a cache can
 * never hold more than its byte budget (1/16 of the arena): memory stranded
 * in caches stays bounded without any byte accounting on the hot path. Nor
 * does the hot path keep counters of its own: a bin's pop counts an
 * allocation in the same store, and its frees follow from its pops, its
 * count and the batch moves (struct kc_arena_bin, kc__arena_tcache_counts()).
 * Caches are found through a one-entry thread-local hint (the last arena
 * this thread used) and otherwise through a pthread key whose destructor
 * (kc__arena_tcache_exit) returns the cache's blocks when the thread exits.
 */
#include "kc_arena_impl.h"

#include <stdlib.h>
#include <string.h>

/* The last arena this thread used and its cache; read through
 * kc__arena_tcache() (kc_arena_impl.h explains the rules). */
_Thread_local struct kc_arena_hint kc__arena_hint KC_ARENA_TLS_MODEL;

/* ------------------------------------------------------------ thread caches */

static uint32_t batch_of(const struct kc_arena_bin *b)
{
    return b->cap / 2 > 0 ? b->cap / 2 : 1;
}

static inline uint32_t bin_count(const struct kc_arena_bin *b)
{
    return KC_ARENA_BIN_COUNT(atomic_load_explicit(&b->word, memory_order_relaxed));
}

/* A batch move of n items into (in) or out of a bin: count and net change
 * together, pops stays (lock held, so metrics never see one without the
 * other). */
static void bin_move(struct kc_arena_bin *b, uint32_t n, bool in)
{
    uint64_t w = atomic_load_explicit(&b->word, memory_order_relaxed);
    atomic_store_explicit(&b->word, in ? w + n : w - n, memory_order_relaxed);
    b->net = in ? b->net + n : b->net - n;
}

void kc__arena_tcache_counts(const struct kc_arena *a, const struct kc_arena_tcache *tc,
                             uint64_t *allocs, uint64_t *frees)
{
    uint64_t al = atomic_load_explicit(&tc->allocs, memory_order_relaxed);
    uint64_t fr = atomic_load_explicit(&tc->frees, memory_order_relaxed);
    for (uint32_t c = 0; c < a->nclass; c++) {
        const struct kc_arena_bin *b = &tc->bins[c];
        uint64_t w = atomic_load_explicit(&b->word, memory_order_relaxed);
        al += KC_ARENA_BIN_POPS(w);
        fr += KC_ARENA_BIN_POPS(w) + KC_ARENA_BIN_COUNT(w) - b->net;
    }
    *allocs = al;
    *frees = fr;
}

void kc__arena_tcache_drain(struct kc_arena *a, struct kc_arena_tcache *tc)
{
    for (uint32_t c = 0; c < a->nclass; c++) {
        struct kc_arena_bin *b = &tc->bins[c];
        uint32_t n = bin_count(b);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t idx = kc__arena_seal_lo(tc->items[c][i].head);
            kc__arena_give_block(a, c, tc->items[c][i].block);
            kc__arena_give_idx(a, &idx, 1);
        }
        bin_move(b, n, false);
    }
    kc__arena_give_idx(a, tc->idx, tc->nidx);
    tc->nidx = 0;
}

/* Fold a dying cache's counters into the arena's (lock held). */
static void tcache_retire(struct kc_arena *a, struct kc_arena_tcache *tc)
{
    uint64_t allocs, frees;
    kc__arena_tcache_counts(a, tc, &allocs, &frees);
    a->gone_allocs += allocs;
    a->gone_frees += frees;
    for (struct kc_arena_tcache **pp = &a->caches; *pp != NULL; pp = &(*pp)->next)
        if (*pp == tc) {
            *pp = tc->next;
            break;
        }
}

/* pthread key destructor: the thread is exiting; give everything back. The
 * hint is cleared too: another key's destructor that runs later in this
 * thread's exit and releases a ticket must not find the freed cache (it gets
 * a fresh one, which the next destructor round returns). */
void kc__arena_tcache_exit(void *p)
{
    struct kc_arena_tcache *tc = p;
    struct kc_arena *a = tc->arena;
    struct kc_arena_hint *h = &kc__arena_hint;
    __asm__ volatile("" : "+r"(h)); /* see kc__arena_tcache() */
    if (h->tc == tc)
        *h = (struct kc_arena_hint){NULL, 0, NULL};
    pthread_mutex_lock(&a->lock);
    kc__arena_tcache_drain(a, tc);
    tcache_retire(a, tc);
    pthread_mutex_unlock(&a->lock);
    free(tc);
}

/* Capacities: 64 slots per slot class, 32/k runs of k pages (at least 2),
 * then all scaled down together until the cache could hold at most its
 * budget (1/16 of the arena). A class scaled to 0 is not cached. */
static void set_caps(struct kc_arena *a, struct kc_arena_tcache *tc)
{
    uint64_t total = 0;
    tc->budget = a->bytes / 16;
    tc->bins[a->nclass].meta = kc__arena_meta_of(a, a->nclass); /* cap 0: never cached */
    for (uint32_t c = 0; c < a->nclass; c++) {
        uint32_t k = c < a->nslot ? 0 : c - a->nslot + 1;
        tc->bins[c].cap = k == 0 ? KC_ARENA_BIN_CAP : (32 / k > 2 ? 32 / k : 2);
        tc->bins[c].meta = kc__arena_meta_of(a, c);
        total += (uint64_t)tc->bins[c].cap * a->class_size[c];
    }
    if (total <= tc->budget)
        return;
    for (uint32_t c = 0; c < a->nclass; c++)
        tc->bins[c].cap = (uint32_t)((uint64_t)tc->bins[c].cap * tc->budget / total);
}

static struct kc_arena_tcache *tcache_new(struct kc_arena *a)
{
    struct kc_arena_tcache *tc = NULL;
    if (kc__arena_fault_hit(a))
        return NULL;
    /* 128-byte aligned: the owner's counters never share a line (or an
     * adjacent-line prefetch pair) with another thread's data. */
    size_t size = sizeof(struct kc_arena_tcache) + ((size_t)a->nclass + 1) * sizeof(tc->items[0]);
    if (posix_memalign((void **)&tc, 128, (size + 127) & ~(size_t)127) != 0)
        return NULL;
    memset(tc, 0, size);
    tc->arena = a;
    set_caps(a, tc);
    if (pthread_setspecific(a->tkey, tc) != 0) {
        free(tc);
        return NULL;
    }
    pthread_mutex_lock(&a->lock);
    tc->next = a->caches;
    a->caches = tc;
    pthread_mutex_unlock(&a->lock);
    return tc;
}

struct kc_arena_tcache *kc__arena_tcache_slow(struct kc_arena *a)
{
    struct kc_arena_hint *h = &kc__arena_hint;
    __asm__ volatile("" : "+r"(h)); /* see kc__arena_tcache() */
    struct kc_arena_tcache *tc = pthread_getspecific(a->tkey);
    if (tc == NULL && (tc = tcache_new(a)) == NULL)
        return NULL;
    h->arena = a;
    h->uid = a->uid;
    h->tc = tc;
    return tc;
}

uint32_t kc__arena_refill(struct kc_arena *a, struct kc_arena_tcache *tc, uint32_t cls)
{
    struct kc_arena_bin *b = &tc->bins[cls];
    void *blocks[KC_ARENA_BIN_CAP];
    uint32_t idx[KC_ARENA_BIN_CAP];
    uint32_t want = batch_of(b), m = 0;
    pthread_mutex_lock(&a->lock);
    for (int attempt = 0; attempt < 2 && m == 0; attempt++) {
        if (attempt == 1)
            kc__arena_tcache_drain(a, tc);
        uint32_t n = kc__arena_take_blocks(a, cls, blocks, want);
        m = kc__arena_take_idx(a, idx, n);
        for (uint32_t i = m; i < n; i++)
            kc__arena_give_block(a, cls, blocks[i]);
    }
    /* Pushed in reverse, so the lowest address is handed out first; under
     * the lock, so that metrics see count and net move together. */
    uint32_t count = bin_count(b);
    for (uint32_t i = m; i-- > 0;)
        tc->items[cls][count++] = (struct kc_arena_item){blocks[i], kc__arena_next_head(a, idx[i])};
    bin_move(b, m, true);
    pthread_mutex_unlock(&a->lock);
    return m;
}

void kc__arena_flush_bin(struct kc_arena *a, struct kc_arena_tcache *tc, uint32_t cls)
{
    struct kc_arena_bin *b = &tc->bins[cls];
    uint32_t count = bin_count(b), n = batch_of(b) < count ? batch_of(b) : count;
    pthread_mutex_lock(&a->lock);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t idx = kc__arena_seal_lo(tc->items[cls][i].head);
        kc__arena_give_block(a, cls, tc->items[cls][i].block);
        kc__arena_give_idx(a, &idx, 1);
    }
    memmove(tc->items[cls], tc->items[cls] + n, (count - n) * sizeof(tc->items[cls][0]));
    bin_move(b, n, false);
    pthread_mutex_unlock(&a->lock);
}

/* A free ticket index for a cacheless or uncached-class allocation. */
bool kc__arena_index_get(struct kc_arena *a, struct kc_arena_tcache *tc, uint32_t *out)
{
    if (tc == NULL) {
        pthread_mutex_lock(&a->lock);
        uint32_t n = kc__arena_take_idx(a, out, 1);
        pthread_mutex_unlock(&a->lock);
        return n == 1;
    }
    if (tc->nidx == 0) {
        pthread_mutex_lock(&a->lock);
        tc->nidx = kc__arena_take_idx(a, tc->idx, KC_ARENA_IDX_CAP / 2);
        pthread_mutex_unlock(&a->lock);
        if (tc->nidx == 0)
            return false;
    }
    *out = tc->idx[--tc->nidx];
    return true;
}

void kc__arena_index_put(struct kc_arena *a, struct kc_arena_tcache *tc, uint32_t idx)
{
    if (tc == NULL || tc->nidx == KC_ARENA_IDX_CAP) {
        pthread_mutex_lock(&a->lock);
        kc__arena_give_idx(a, &idx, 1);
        if (tc != NULL) {
            tc->nidx -= KC_ARENA_IDX_CAP / 2;
            kc__arena_give_idx(a, tc->idx + tc->nidx, KC_ARENA_IDX_CAP / 2);
        }
        pthread_mutex_unlock(&a->lock);
        return;
    }
    tc->idx[tc->nidx++] = idx;
}
