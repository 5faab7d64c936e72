/* kc_arena_region.c - external regions: caller-owned memory behind tickets.
 *
 * A region is memory the caller owns (a shared-memory segment, a DMA buffer,
 * a mapped file) registered with the arena so that tickets may point into it
 * without copying. The arena never frees region memory; it counts the live
 * tickets into each region and refuses to unregister a region while any
 * exist. Each region slot keeps {generation, registered bit, use count} in
 * one atomic word, so a wrap's "is the region still registered?" and its
 * use-count increment are one CAS, and an unregister that sees zero uses
 * cannot race a wrap that is about to add one. Region ids carry the slot's
 * generation, so an id kept after unregistering is refused with -ESTALE even
 * if the slot is registered again.
 *
 * Region slot states (word = gen:24 | registered:1 | uses:32):
 *
 *   state                  event                 next                 done by
 *   ---------------------  --------------------  -------------------  ---------------------------
 *   EMPTY (gen g)          registered            IDLE (g, 0 uses)     kc_arena_register_region
 *   IDLE / IN USE (n)      ticket wrapped        IN USE (n+1)         kc_arena_wrap
 *   IN USE (n)             a ticket's last       IN USE (n-1) or      kc__arena_region_put
 *                          release               IDLE
 *   IDLE                   unregistered          EMPTY (gen g+1)      kc_arena_unregister_region
 *   IN USE                 unregister            unchanged: -EBUSY    kc_arena_unregister_region
 *   EMPTY or other gen     wrap / unregister     unchanged: -ESTALE   kc_arena_wrap, ..._unregister
 *
 * Register and unregister serialise on region_lock (they are rare); wraps
 * and releases never take it.
 */
#include "kc_arena_impl.h"

#define ID_GEN_BITS 22
#define ID_GEN_MASK ((1u << ID_GEN_BITS) - 1)
#define GEN_SHIFT 40

/* Region ids are positive ints: slot (bits 0-7) | generation (bits 8-29). */
static int make_id(uint32_t slot, uint32_t gen)
{
    return (int)(slot | ((gen & ID_GEN_MASK) << 8));
}

/* The slot an id names, or 0 when the id cannot be one of ours. */
static uint32_t id_slot(int id)
{
    if (id <= 0)
        return 0;
    uint32_t slot = (uint32_t)id & 0xffu;
    return slot <= KC_ARENA_REGIONS_MAX ? slot : 0;
}

static bool id_matches(int id, uint64_t w)
{
    return (w & KC_ARENA_RG_REGISTERED) != 0 &&
           (KC_ARENA_RG_GEN(w) & ID_GEN_MASK) == (((uint32_t)id >> 8) & ID_GEN_MASK);
}

void kc__arena_regions_init(struct kc_arena *a)
{
    for (uint32_t r = 0; r <= KC_ARENA_REGIONS_MAX; r++)
        atomic_store_explicit(&a->regions[r].word, 0, memory_order_relaxed);
}

static bool overlaps(uintptr_t b1, size_t l1, uintptr_t b2, size_t l2)
{
    return b1 < b2 + l2 && b2 < b1 + l1;
}

int kc_arena_register_region(kc_arena_t *a, void *ptr, size_t len, uint32_t flags)
{
    if (a == NULL || ptr == NULL || len == 0 || (flags & ~KC_ARENA_REGION_RDONLY) != 0)
        return -EINVAL;
    uintptr_t base = (uintptr_t)ptr;
    if (base + len < base || overlaps(base, len, (uintptr_t)a->base, a->bytes))
        return -EINVAL;
    int rc = -ENOMEM;
    uint32_t free_slot = 0;
    pthread_mutex_lock(&a->region_lock);
    for (uint32_t r = 1; r <= KC_ARENA_REGIONS_MAX; r++) {
        struct kc_arena_region *rg = &a->regions[r];
        uint64_t w = atomic_load_explicit(&rg->word, memory_order_relaxed);
        if ((w & KC_ARENA_RG_REGISTERED) == 0) {
            if (free_slot == 0)
                free_slot = r;
            continue;
        }
        if (overlaps(base, len, atomic_load_explicit(&rg->base, memory_order_relaxed),
                     atomic_load_explicit(&rg->len, memory_order_relaxed))) {
            rc = -EINVAL;
            free_slot = 0;
            break;
        }
    }
    if (free_slot != 0) {
        struct kc_arena_region *rg = &a->regions[free_slot];
        uint64_t w = atomic_load_explicit(&rg->word, memory_order_relaxed);
        atomic_store_explicit(&rg->base, base, memory_order_relaxed);
        atomic_store_explicit(&rg->len, len, memory_order_relaxed);
        atomic_store_explicit(&rg->flags, flags, memory_order_relaxed);
        /* Release: pairs with the acquire load in kc_arena_wrap(), which then
         * sees base and len. Uses are 0 while a slot is not registered. */
        atomic_store_explicit(&rg->word, w | KC_ARENA_RG_REGISTERED, memory_order_release);
        rc = make_id(free_slot, KC_ARENA_RG_GEN(w));
    }
    pthread_mutex_unlock(&a->region_lock);
    return rc;
}

int kc_arena_unregister_region(kc_arena_t *a, int id)
{
    uint32_t slot = id_slot(id);
    if (a == NULL)
        return -EINVAL;
    if (slot == 0)
        return -ESTALE;
    struct kc_arena_region *rg = &a->regions[slot];
    int rc;
    pthread_mutex_lock(&a->region_lock);
    uint64_t w = atomic_load_explicit(&rg->word, memory_order_relaxed);
    for (;;) {
        if (!id_matches(id, w)) {
            rc = -ESTALE;
            break;
        }
        if (KC_ARENA_RG_USES(w) != 0) {
            rc = -EBUSY;
            break;
        }
        uint64_t next = (uint64_t)((KC_ARENA_RG_GEN(w) + 1) & 0xffffffu) << GEN_SHIFT;
        /* Acquire pairs with the release decrement in kc__arena_region_put():
         * every use of the memory through a ticket happens before we return
         * the region to its owner. */
        if (atomic_compare_exchange_weak_explicit(&rg->word, &w, next, memory_order_acquire,
                                                  memory_order_relaxed)) {
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&a->region_lock);
    return rc;
}

KC_ARENA_NOINLINE int kc_arena_wrap(kc_arena_t *a, int id, const void *ptr, size_t len,
                                    kc_arena_ticket_t *t)
{
    if (a == NULL || ptr == NULL || t == NULL || len == 0 || len > UINT32_MAX)
        return -EINVAL;
    uint32_t slot = id_slot(id);
    if (slot == 0)
        return -ESTALE;
    struct kc_arena_region *rg = &a->regions[slot];
    /* Acquire pairs with the release-store in kc_arena_register_region(). */
    uint64_t w = atomic_load_explicit(&rg->word, memory_order_acquire);
    uintptr_t p = (uintptr_t)ptr;
    for (;;) {
        if (!id_matches(id, w))
            return -ESTALE;
        uintptr_t base = atomic_load_explicit(&rg->base, memory_order_relaxed);
        size_t rlen = atomic_load_explicit(&rg->len, memory_order_relaxed);
        if (p < base || p - base > rlen || len > rlen - (p - base))
            return -EINVAL;
        if (KC_ARENA_RG_USES(w) == UINT32_MAX)
            return -ENOMEM;
        /* Acquire: as above, when the CAS succeeds after a reload. */
        if (atomic_compare_exchange_weak_explicit(&rg->word, &w, w + 1, memory_order_acquire,
                                                  memory_order_acquire))
            break;
    }
    uint32_t idx;
    if (!kc__arena_index_get(a, kc__arena_tcache(a), &idx)) {
        kc__arena_region_put(a, slot);
        atomic_fetch_add_explicit(&a->failed_allocs, 1, memory_order_relaxed);
        return -ENOMEM;
    }
    kc__arena_issue(a, kc__arena_next_head(a, idx), p, (uint32_t)len,
                    KC_ARENA_META(KC_ARENA_E_REGION, a->nclass, slot), t);
    return 0;
}

void kc__arena_region_put(struct kc_arena *a, uint32_t slot)
{
    /* Release: pairs with the acquire CAS in kc_arena_unregister_region(). */
    atomic_fetch_sub_explicit(&a->regions[slot].word, 1, memory_order_release);
}
