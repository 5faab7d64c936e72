/* kc_arena_ticket.c - the ticket operations: alloc, hydrate, retain, release.
 *
 * A ticket names one entry of the ticket table by index and generation and
 * carries a keyed check word, so that a ticket from another arena, a
 * corrupted one or an invented one is refused before its index is trusted.
 * The entry's state word packs {gen:32 | refs:32}; "is this ticket still
 * live?" and "take a reference" are one CAS on that word, so no window exists
 * between validating and retaining in which the payload could be freed and
 * reused. The hot path (alloc + release of a cached class) touches only the
 * calling thread's cache and the entry, and takes no lock: alloc pops a
 * {block, ticket head} item and issues with plain stores and one
 * release-store; release checks the ticket against the entry with one
 * acquire load of the state and one compare of the seal (the {len, check}
 * half issued with it, so the check word is not recomputed), frees it with
 * one CAS, and pushes the block back with the next generation's head.
 *
 * Ticket entry states (I5 in kc_arena_impl.h):
 *
 *   state              event                   next                 done by
 *   -----------------  ----------------------  -------------------  ------------------
 *   FREE (even, 0)     issued                  LIVE (gen+1, 1)      kc__arena_issue
 *   LIVE (odd, n)      hydrate / retain        LIVE (odd, n+1)      take_ref
 *   LIVE (odd, n)      validate                unchanged: n         kc_arena_validate
 *   LIVE (odd, n>1)    release                 LIVE (odd, n-1)      release_slow
 *   LIVE (odd, 1)      last release            FREE (gen+1, 0)      kc_arena_release,
 *                                                                   release_slow
 *   LIVE (2^32-1, 1)   last release            RETIRED (2^32-1, 0)  release_slow
 *   FREE, RETIRED or   hydrate / retain        unchanged: -ESTALE   take_ref
 *   other generation   validate                unchanged: -ESTALE   kc_arena_validate
 *                      release                 unchanged: -ESTALE   release_slow
 *
 * Issue is a plain release-store: a FREE entry has refs == 0 and every other
 * writer's CAS requires refs > 0, so nobody can race it. A retired entry is
 * never issued again, so no old ticket can ever match it (generations never
 * wrap back to a value a ticket already carried). kc_arena_release() takes
 * only the common last release; anything it does not recognise it hands,
 * unchanged, to release_slow().
 */
#include "kc_arena_impl.h"

static int fail_nomem(struct kc_arena *a)
{
    atomic_fetch_add_explicit(&a->failed_allocs, 1, memory_order_relaxed);
    return -ENOMEM;
}

/* Count an allocation or a free: in the thread's cache, or centrally. */
static void count_op(struct kc_arena *a, struct kc_arena_tcache *tc, bool alloc)
{
    if (tc != NULL) {
        kc__arena_bump(alloc ? &tc->allocs : &tc->frees, 1);
        return;
    }
    pthread_mutex_lock(&a->lock);
    if (alloc)
        a->gone_allocs++;
    else
        a->gone_frees++;
    pthread_mutex_unlock(&a->lock);
}

/* Allocate outside the thread cache: a long run, an uncached class, or any
 * class when this thread has no cache. On exhaustion the thread's cache (if
 * any) is given back and the allocation retried once. */
static int alloc_central(struct kc_arena *a, struct kc_arena_tcache *tc, uint32_t cls, size_t len,
                         kc_arena_ticket_t *t, void **ptr)
{
    uint32_t idx;
    void *block = NULL;
    if (!kc__arena_index_get(a, tc, &idx))
        return fail_nomem(a);
    pthread_mutex_lock(&a->lock);
    for (int attempt = 0; attempt < 2 && block == NULL; attempt++) {
        if (attempt == 1 && tc != NULL)
            kc__arena_tcache_drain(a, tc);
        if (cls == a->nclass)
            block = kc__arena_take_run(a, (uint32_t)(((len - 1) >> a->page_shift) + 1));
        else if (kc__arena_take_blocks(a, cls, &block, 1) == 0)
            block = NULL;
    }
    pthread_mutex_unlock(&a->lock);
    if (block == NULL) {
        kc__arena_index_put(a, tc, idx);
        return fail_nomem(a);
    }
    count_op(a, tc, true);
    kc__arena_issue(a, kc__arena_next_head(a, idx), (uintptr_t)block, (uint32_t)len,
                    kc__arena_meta_of(a, cls), t);
    if (ptr != NULL)
        *ptr = block;
    return 0;
}

/* Everything the fast path of kc_arena_alloc() leaves: bad arguments, no
 * thread cache, an empty bin (refill) or an uncached class. */
__attribute__((noinline)) static int alloc_slow(struct kc_arena *a, size_t len,
                                                kc_arena_ticket_t *t, void **ptr)
{
    if (a == NULL || t == NULL || len == 0)
        return -EINVAL;
    if (len > a->max_len)
        return -EMSGSIZE;
    uint32_t cls = kc__arena_class_of(a, len);
    struct kc_arena_tcache *tc = kc__arena_tcache(a);
    if (tc == NULL || tc->bins[cls].cap == 0)
        return alloc_central(a, tc, cls, len, t, ptr);
    struct kc_arena_bin *b = &tc->bins[cls];
    if (KC_ARENA_BIN_COUNT(atomic_load_explicit(&b->word, memory_order_relaxed)) == 0 &&
        kc__arena_refill(a, tc, cls) == 0)
        return fail_nomem(a);
    uint64_t w = atomic_load_explicit(&b->word, memory_order_relaxed);
    struct kc_arena_item it = tc->items[cls][KC_ARENA_BIN_COUNT(w) - 1];
    atomic_store_explicit(&b->word, w + KC_ARENA_BIN_POP, memory_order_relaxed); /* counts it */
    kc__arena_issue(a, it.head, (uintptr_t)it.block, (uint32_t)len, b->meta, t);
    if (ptr != NULL)
        *ptr = it.block;
    return 0;
}

KC_ARENA_NOINLINE int kc_arena_alloc(kc_arena_t *a, size_t len, kc_arena_ticket_t *t, void **ptr)
{
    /* One compare covers len == 0 and len > max_len (unsigned wrap). */
    if (__builtin_expect(a == NULL || t == NULL || len - 1 >= a->max_len, 0))
        return alloc_slow(a, len, t, ptr);
    if (kc__arena_fault_hit(a))
        return fail_nomem(a);
    struct kc_arena_hint *h = kc__arena_hint_get();
    if (__builtin_expect(h->uid != a->uid, 0)) /* no cache yet, or another arena's */
        return alloc_slow(a, len, t, ptr);
    struct kc_arena_tcache *tc = h->tc;
    uint32_t cls = kc__arena_class_of(a, len);
    struct kc_arena_bin *b = &tc->bins[cls];
    uint64_t w = atomic_load_explicit(&b->word, memory_order_relaxed);
    if (__builtin_expect(KC_ARENA_BIN_COUNT(w) == 0, 0)) /* empty, or uncached (cap 0) */
        return alloc_slow(a, len, t, ptr);
    struct kc_arena_item it = tc->items[cls][KC_ARENA_BIN_COUNT(w) - 1];
    /* One store pops the item and counts the allocation. */
    atomic_store_explicit(&b->word, w + KC_ARENA_BIN_POP, memory_order_relaxed);
    kc__arena_issue(a, it.head, (uintptr_t)it.block, (uint32_t)len, b->meta, t);
    if (ptr != NULL)
        *ptr = it.block;
    return 0;
}

/* Is t a ticket this arena issued? 0, -EINVAL (null) or -ESTALE (foreign,
 * corrupted or forged; counted). An even generation is never issued, so it
 * is refused here too even in the 2^-32 case that its check matches. */
static int vet(struct kc_arena *a, const kc_arena_ticket_t *t)
{
    if (t->check == 0 && t->index == 0 && t->gen == 0 && t->len == 0)
        return -EINVAL;
    if (t->index >= a->max_tickets || (t->gen & 1) == 0 ||
        t->check != kc__arena_check_word(a, kc__arena_seal(t->index, t->gen), t->len)) {
        atomic_fetch_add_explicit(&a->stale_rejections, 1, memory_order_relaxed);
        return -ESTALE;
    }
    return 0;
}

/* Validate and retain in one CAS: succeeds only while the entry still has
 * the ticket's generation and at least one reference. */
static int take_ref(struct kc_arena *a, kc_arena_ticket_t t, struct kc_arena_entry **out)
{
    int rc = vet(a, &t);
    if (rc != 0)
        return rc;
    struct kc_arena_entry *e = &a->table[t.index];
    uint64_t s = atomic_load_explicit(&e->state, memory_order_relaxed);
    for (;;) {
        if (KC_ARENA_GEN(s) != t.gen || KC_ARENA_REFS(s) == 0) {
            atomic_fetch_add_explicit(&a->stale_rejections, 1, memory_order_relaxed);
            return -ESTALE;
        }
        if (KC_ARENA_REFS(s) == UINT32_MAX)
            return -ENOMEM; /* 4 G references: no room for one more */
        /* Acquire: pairs with the release-store in kc__arena_issue(), so
         * the entry's fields and the payload written before it are seen. */
        if (atomic_compare_exchange_weak_explicit(&e->state, &s, s + 1, memory_order_acquire,
                                                  memory_order_relaxed))
            break;
    }
    *out = e;
    return 0;
}

int kc_arena_hydrate(kc_arena_t *a, kc_arena_ticket_t t, void **ptr, size_t *len)
{
    if (a == NULL)
        return -EINVAL;
    struct kc_arena_entry *e;
    int rc = take_ref(a, t, &e);
    if (rc != 0)
        return rc;
    if (ptr != NULL)
        *ptr = (void *)atomic_load_explicit(&e->addr, memory_order_relaxed);
    if (len != NULL)
        *len = kc__arena_seal_lo(atomic_load_explicit(&e->seal, memory_order_relaxed));
    return 0;
}

/* Validate without taking a reference: one acquire load of the state word.
 * Meaningful only while the caller holds a reference (otherwise the answer
 * may be out of date at once), which is how descriptors use it: their
 * holder owns one, so the entry cannot go FREE under them. */
int kc_arena_validate(kc_arena_t *a, kc_arena_ticket_t t, void **ptr, size_t *len)
{
    if (a == NULL)
        return -EINVAL;
    int rc = vet(a, &t);
    if (rc != 0)
        return rc;
    struct kc_arena_entry *e = &a->table[t.index];
    /* Acquire: pairs with the release-store in kc__arena_issue(), so addr
     * and len (and the payload written before the issue) are seen. */
    uint64_t s = atomic_load_explicit(&e->state, memory_order_acquire);
    if (KC_ARENA_GEN(s) != t.gen || KC_ARENA_REFS(s) == 0) {
        atomic_fetch_add_explicit(&a->stale_rejections, 1, memory_order_relaxed);
        return -ESTALE;
    }
    if (ptr != NULL)
        *ptr = (void *)atomic_load_explicit(&e->addr, memory_order_relaxed);
    if (len != NULL)
        *len = kc__arena_seal_lo(atomic_load_explicit(&e->seal, memory_order_relaxed));
    return KC_ARENA_REFS(s) > INT32_MAX ? INT32_MAX : (int)KC_ARENA_REFS(s);
}

/* The sole holder of an arena payload (not region memory) shortens it:
 * the entry is issued again with the same slot, address and
 * size class and a new {len, check} seal, so the block is freed as it was
 * allocated while every check sees the new length. The entry moves to
 * the next live generation, so a copy of the old ticket is stale. The holder publishes the new ticket to other
 * threads the way it would publish any ticket (a channel, a lock). */
int kc_arena_shrink(kc_arena_t *a, kc_arena_ticket_t *t, size_t len)
{
    if (a == NULL || t == NULL || len == 0)
        return -EINVAL;
    int rc = vet(a, t);
    if (rc != 0)
        return rc;
    if (len > t->len)
        return -EINVAL;
    struct kc_arena_entry *e = &a->table[t->index];
    /* Acquire: pairs with the release-store of kc__arena_issue(), so the
     * seal and meta read next are this generation's. */
    uint64_t s = atomic_load_explicit(&e->state, memory_order_acquire);
    if (KC_ARENA_GEN(s) != t->gen || KC_ARENA_REFS(s) == 0 ||
        atomic_load_explicit(&e->seal, memory_order_relaxed) != kc__arena_seal(t->len, t->check)) {
        atomic_fetch_add_explicit(&a->stale_rejections, 1, memory_order_relaxed);
        return -ESTALE;
    }
    uint32_t meta = atomic_load_explicit(&e->meta, memory_order_relaxed);
    if (KC_ARENA_META_REGION(meta) != 0)
        return -EINVAL; /* region memory: its range is the wrap's */
    if (KC_ARENA_REFS(s) != 1)
        return -EBUSY; /* others hold the payload at its old length */
    /* A new live generation (odd, two on): the old ticket's generation no
     * longer matches, so every call refuses it. The retiring generation
     * has no successor; a payload issued at it keeps its generation (the
     * old ticket then still names the entry, 1 in 2^31 issues). */
    uint32_t gen = t->gen == UINT32_MAX ? t->gen : t->gen + 2;
    /* Acq_rel: the CAS fails if a reference was taken meanwhile (then
     * nothing changed); it orders the seal store below after it. */
    if (!atomic_compare_exchange_strong_explicit(&e->state, &s, KC_ARENA_STATE(gen, 1),
                                                 memory_order_acq_rel, memory_order_relaxed))
        return -EBUSY;
    uint64_t head = kc__arena_seal(t->index, gen);
    uint32_t check = kc__arena_check_word(a, head, (uint32_t)len);
    /* Relaxed: only the holder uses the ticket until it publishes it. */
    atomic_store_explicit(&e->seal, kc__arena_seal((uint32_t)len, check), memory_order_relaxed);
    t->gen = gen;
    t->len = (uint32_t)len;
    t->check = check;
    return 0;
}

int kc_arena_retain(kc_arena_t *a, kc_arena_ticket_t t)
{
    if (a == NULL)
        return -EINVAL;
    struct kc_arena_entry *e;
    return take_ref(a, t, &e);
}

/* The entry idx just went FREE (or RETIRED) and its cache bin, if any, was
 * full or absent: give its memory back the long way. Returns 1, the last
 * release's result, so that callers may end with it. */
__attribute__((noinline)) static int free_slow(struct kc_arena *a, uint32_t idx,
                                               struct kc_arena_entry *e, bool retired)
{
    uint32_t meta = atomic_load_explicit(&e->meta, memory_order_relaxed);
    void *block = (void *)atomic_load_explicit(&e->addr, memory_order_relaxed);
    uint32_t kind = KC_ARENA_META_KIND(meta), cls = KC_ARENA_META_CLASS(meta);
    struct kc_arena_tcache *tc = kc__arena_tcache(a);
    if (kind == KC_ARENA_E_REGION) {
        kc__arena_region_put(a, KC_ARENA_META_REGION(meta));
        if (!retired)
            kc__arena_index_put(a, tc, idx);
        return 1;
    }
    if (tc != NULL && !retired && tc->bins[cls].cap > 0) {
        struct kc_arena_bin *b = &tc->bins[cls];
        if (KC_ARENA_BIN_COUNT(atomic_load_explicit(&b->word, memory_order_relaxed)) == b->cap)
            kc__arena_flush_bin(a, tc, cls);
        uint64_t w = atomic_load_explicit(&b->word, memory_order_relaxed);
        tc->items[cls][KC_ARENA_BIN_COUNT(w)] =
            (struct kc_arena_item){block, kc__arena_next_head(a, idx)};
        atomic_store_explicit(&b->word, w + 1, memory_order_relaxed); /* a push: counted */
        return 1;
    }
    count_op(a, tc, false);
    pthread_mutex_lock(&a->lock);
    if (kind == KC_ARENA_E_BIGRUN)
        kc__arena_give_run(a, block);
    else
        kc__arena_give_block(a, cls, block);
    if (!retired)
        kc__arena_give_idx(a, &idx, 1);
    pthread_mutex_unlock(&a->lock);
    return 1;
}

/* Everything but the common last release: bad tickets, shared tickets,
 * lost CAS races and the retiring release at generation 2^32-1. */
__attribute__((noinline)) static int release_slow(struct kc_arena *a, kc_arena_ticket_t t)
{
    if (a == NULL)
        return -EINVAL;
    int rc = vet(a, &t);
    if (rc != 0)
        return rc;
    struct kc_arena_entry *e = &a->table[t.index];
    uint64_t s = atomic_load_explicit(&e->state, memory_order_relaxed);
    uint64_t last;
    for (;;) {
        if (KC_ARENA_GEN(s) != t.gen || KC_ARENA_REFS(s) == 0) {
            /* The ticket is genuine (vet passed) but no longer live: it was
             * fully released before, so this is one release too many. */
            atomic_fetch_add_explicit(&a->double_releases, 1, memory_order_relaxed);
            return -ESTALE;
        }
        if (KC_ARENA_REFS(s) > 1) {
            /* Release: this holder's use of the payload happens before the
             * last holder's acquire CAS, and so before the free. */
            if (atomic_compare_exchange_weak_explicit(&e->state, &s, s - 1, memory_order_release,
                                                      memory_order_relaxed))
                return 0;
            continue;
        }
        last = t.gen == UINT32_MAX ? KC_ARENA_STATE(t.gen, 0) : KC_ARENA_STATE(t.gen + 1, 0);
        /* Acquire pairs with the other holders' release decrements above;
         * release orders our own use before the next issue of this entry. */
        if (atomic_compare_exchange_weak_explicit(&e->state, &s, last, memory_order_acq_rel,
                                                  memory_order_relaxed))
            break;
    }
    bool retired = t.gen == UINT32_MAX;
    if (retired)
        atomic_fetch_add_explicit(&a->retired_slots, 1, memory_order_relaxed);
    return free_slow(a, t.index, e, retired);
}

KC_ARENA_NOINLINE int kc_arena_release(kc_arena_t *a, kc_arena_ticket_t t)
{
    /* Fast path: a genuine ticket holding the only reference, freed into a
     * bin with room. Anything else (a null, forged, stale or shared ticket,
     * the retiring generation, a lost race) leaves the entry as it was and
     * goes to release_slow(), which sorts it out. */
    if (__builtin_expect(a == NULL || t.index >= a->max_tickets || t.gen == UINT32_MAX, 0))
        return release_slow(a, t);
    struct kc_arena_entry *e = &a->table[t.index];
    uint64_t s = KC_ARENA_STATE(t.gen, 1);
    /* Acquire: pairs with the release-store in kc__arena_issue() (or an
     * RMW of its release sequence), so the seal read next is the one
     * issued with generation t.gen: the entry is issued again only after a
     * last release has moved the state off {t.gen, 1}, and then the CAS
     * below fails. A ticket whose {len, check} equal the seal of its own
     * live generation is the ticket that was issued (the check word was
     * computed when the seal was made), so this accepts exactly what
     * vet() would; anything else is vetted, and counted, by release_slow(). */
    if (__builtin_expect(atomic_load_explicit(&e->state, memory_order_acquire) != s ||
                             atomic_load_explicit(&e->seal, memory_order_relaxed) !=
                                 kc__arena_seal(t.len, t.check),
                         0))
        return release_slow(a, t);
    /* Acq_rel, as the last-release CAS in release_slow(). A failed CAS
     * (a reference taken or dropped meanwhile) changes nothing. */
    if (__builtin_expect(
            !atomic_compare_exchange_strong_explicit(&e->state, &s, KC_ARENA_STATE(t.gen + 1, 0),
                                                     memory_order_acq_rel, memory_order_relaxed),
            0))
        return release_slow(a, t);
    struct kc_arena_hint *h = kc__arena_hint_get();
    if (__builtin_expect(h->uid != a->uid, 0))
        return free_slow(a, t.index, e, false);
    struct kc_arena_tcache *tc = h->tc;
    /* Region entries carry class nclass, whose bin has capacity 0, so they
     * fall to free_slow() with the uncached classes. */
    uint32_t cls = KC_ARENA_META_CLASS(atomic_load_explicit(&e->meta, memory_order_relaxed));
    struct kc_arena_bin *b = &tc->bins[cls];
    uint64_t w = atomic_load_explicit(&b->word, memory_order_relaxed);
    if (__builtin_expect(KC_ARENA_BIN_COUNT(w) >= b->cap, 0))
        return free_slow(a, t.index, e, false);
    tc->items[cls][KC_ARENA_BIN_COUNT(w)] =
        (struct kc_arena_item){(void *)atomic_load_explicit(&e->addr, memory_order_relaxed),
                               kc__arena_seal(t.index, t.gen + 2)};
    /* One store pushes the item; the push is counted by the bin's
     * arithmetic (struct kc_arena_bin), not by a counter of its own. */
    atomic_store_explicit(&b->word, w + 1, memory_order_relaxed);
    return 1;
}
