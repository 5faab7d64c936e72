/* kc_arena_check.c - kc_arena_check(): assert the arena's invariants.
 *
 * Walks the page table, the free bitmap, the partial lists, every thread
 * cache, the region table and the ticket table, and checks I1-I9 of
 * kc_arena_impl.h. It reads everything under arena->lock but expects a
 * quiescent arena: counters and ticket states that other threads are
 * changing at the same moment would make I6 fail spuriously. Tests call it
 * after their threads have joined, and cite invariants by number.
 */
#include "kc_arena_impl.h"

#include <stdlib.h>
#include <string.h>

/* Report the first broken invariant; always returns -EPROTO. */
static int broken(const struct kc_arena *a, const char *what, unsigned long at)
{
    fprintf(stderr, "kc_arena_check(%s): %s (at %lu)\n", a->name, what, at);
    return -EPROTO;
}

/* Is block b one of the slots of slab page p that its free list or its
 * never-used range holds? Counts the free list, bounded so a cycle stops. */
static uint32_t free_list_length(const struct kc_arena *a, const struct kc_arena_page *pg)
{
    uint32_t n = 0, max = a->class_slots[pg->cls];
    for (void *b = pg->free_head; b != NULL && n <= max; b = *(void **)b)
        n++;
    return n;
}

static int check_pages(struct kc_arena *a)
{
    if (((uintptr_t)a->base & (a->page_size - 1)) != 0)
        return broken(a, "I9: arena base not aligned to its page size",
                      (unsigned long)((uintptr_t)a->base & (a->page_size - 1)));
    uint32_t nfree = 0;
    uint32_t *in_partial = calloc(a->pages_total, sizeof(uint32_t));
    if (in_partial == NULL)
        return 0; /* cannot check without memory; not an invariant breach */
    int rc = 0;
    for (uint32_t c = 0; c < a->nslot && rc == 0; c++)
        for (uint32_t p = a->partial[c], hops = 0; p != UINT32_MAX && rc == 0;
             p = a->pages[p].next) {
            if (p >= a->pages_total || ++hops > a->pages_total)
                rc = broken(a, "I4: partial list leaves the page table or loops", c);
            else if (a->pages[p].kind != KC_ARENA_PG_SLAB || a->pages[p].cls != c)
                rc = broken(a, "I4: partial list holds a page of another kind or class", p);
            else
                in_partial[p] = 1;
        }
    for (uint32_t p = 0; p < a->pages_total && rc == 0; p++) {
        const struct kc_arena_page *pg = &a->pages[p];
        bool bit = (a->free_map[p / 64] >> (p % 64)) & 1;
        if (bit != (pg->kind == KC_ARENA_PG_FREE)) {
            rc = broken(a, "I1: free bitmap disagrees with the page table", p);
        } else if (pg->kind == KC_ARENA_PG_FREE) {
            nfree++;
        } else if (pg->kind == KC_ARENA_PG_RUN_HEAD) {
            if (pg->count == 0 || p + pg->count > a->pages_total)
                rc = broken(a, "I2: run length out of range", p);
            for (uint32_t q = p + 1; rc == 0 && q < p + pg->count; q++)
                if (a->pages[q].kind != KC_ARENA_PG_RUN_TAIL)
                    rc = broken(a, "I2: run head not followed by its tail pages", q);
            if (rc == 0)
                p += pg->count - 1;
        } else if (pg->kind == KC_ARENA_PG_SLAB) {
            uint32_t slots = a->class_slots[pg->cls];
            if (pg->cls >= a->nslot || pg->count > slots || pg->bump > slots)
                rc = broken(a, "I3: slab counts out of range", p);
            else if (free_list_length(a, pg) + (slots - pg->bump) != pg->count)
                rc = broken(a, "I3: free list + unused slots != free count", p);
            else if ((pg->count > 0 && pg->count < slots) != (in_partial[p] != 0))
                rc = broken(a, "I4: partly used slab page and partial list disagree", p);
            else if (pg->count == slots)
                rc = broken(a, "I4: a fully free slab page was kept", p);
        } else {
            rc = broken(a, "I1/I2: tail page without a run head", p);
        }
    }
    free(in_partial);
    if (rc == 0 && nfree != a->free_pages)
        rc = broken(a, "I1: free page count disagrees with the bitmap", nfree);
    if (rc == 0 && (a->pages_total - a->free_pages > a->high_water))
        rc = broken(a, "I7: pages used above the high water mark", a->high_water);
    return rc;
}

static bool entry_is_free(const struct kc_arena *a, uint32_t idx)
{
    if (idx >= a->max_tickets)
        return false;
    uint64_t s = atomic_load_explicit(&a->table[idx].state, memory_order_relaxed);
    return (KC_ARENA_GEN(s) & 1) == 0 && KC_ARENA_REFS(s) == 0;
}

/* A cached item's head names a FREE entry and the generation that entry
 * issues next (I8). */
static bool item_is_ready(const struct kc_arena *a, uint64_t head)
{
    uint32_t idx = kc__arena_seal_lo(head);
    return entry_is_free(a, idx) && kc__arena_next_head(a, idx) == head;
}

static int check_caches(struct kc_arena *a)
{
    for (struct kc_arena_tcache *tc = a->caches; tc != NULL; tc = tc->next) {
        uint64_t cap_bytes = 0;
        for (uint32_t c = 0; c < a->nclass; c++) {
            const struct kc_arena_bin *b = &tc->bins[c];
            uint32_t n = KC_ARENA_BIN_COUNT(atomic_load_explicit(&b->word, memory_order_relaxed));
            if (n > b->cap)
                return broken(a, "I8: cache bin above its capacity", c);
            for (uint32_t i = 0; i < n; i++)
                if (!item_is_ready(a, tc->items[c][i].head))
                    return broken(a, "I8: cached item is not a FREE entry of its generation",
                                  kc__arena_seal_lo(tc->items[c][i].head));
            cap_bytes += (uint64_t)b->cap * a->class_size[c];
        }
        for (uint32_t i = 0; i < tc->nidx; i++)
            if (!entry_is_free(a, tc->idx[i]))
                return broken(a, "I8: cached ticket index is not a FREE entry", tc->idx[i]);
        if (cap_bytes > tc->budget)
            return broken(a, "I8: cache capacities exceed the byte budget",
                          (unsigned long)cap_bytes);
    }
    return 0;
}

static int check_tickets(struct kc_arena *a)
{
    uint64_t live = 0, region_live[KC_ARENA_REGIONS_MAX + 1];
    memset(region_live, 0, sizeof(region_live));
    uint32_t fresh = atomic_load_explicit(&a->next_fresh, memory_order_relaxed);
    for (uint32_t i = 0; i < fresh; i++) {
        uint64_t s = atomic_load_explicit(&a->table[i].state, memory_order_relaxed);
        if (KC_ARENA_REFS(s) > 0 && (KC_ARENA_GEN(s) & 1) == 0)
            return broken(a, "I5: referenced entry with an even generation", i);
        if (KC_ARENA_REFS(s) == 0)
            continue;
        live++;
        uint32_t meta = atomic_load_explicit(&a->table[i].meta, memory_order_relaxed);
        if (KC_ARENA_META_KIND(meta) == KC_ARENA_E_REGION)
            region_live[KC_ARENA_META_REGION(meta)]++;
    }
    uint64_t allocs = a->gone_allocs, frees = a->gone_frees, region_total = 0;
    for (struct kc_arena_tcache *tc = a->caches; tc != NULL; tc = tc->next) {
        uint64_t al, fr;
        kc__arena_tcache_counts(a, tc, &al, &fr);
        allocs += al;
        frees += fr;
    }
    for (uint32_t r = 1; r <= KC_ARENA_REGIONS_MAX; r++) {
        uint64_t w = atomic_load_explicit(&a->regions[r].word, memory_order_relaxed);
        if (KC_ARENA_RG_USES(w) != region_live[r])
            return broken(a, "I6: region use count != live tickets into it", r);
        region_total += region_live[r];
    }
    if (live != allocs - frees + region_total)
        return broken(a, "I6: live entries != allocs - frees + region tickets",
                      (unsigned long)live);
    return 0;
}

int kc_arena_check(kc_arena_t *a)
{
    if (a == NULL)
        return -EINVAL;
    pthread_mutex_lock(&a->lock);
    int rc = check_pages(a);
    if (rc == 0)
        rc = check_caches(a);
    if (rc == 0)
        rc = check_tickets(a);
    pthread_mutex_unlock(&a->lock);
    return rc;
}
