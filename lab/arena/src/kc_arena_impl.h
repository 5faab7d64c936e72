/* kc_arena_impl.h - internal layout of the arena: tables, pages, caches.
 *
 * Shared by the ticket paths (kc_arena.c), the page and slab allocator
 * (kc_arena_page.c), external regions (kc_arena_region.c) and the dump,
 * metrics and checks (kc_arena_dump.c). Never installed.
 *
 * Memory: one reservation of pages_total * page_size bytes. Each page is
 * FREE, a SLAB of equal slots of one size class, or part of a RUN (a head
 * page followed by tail pages). Free pages are the set bits of free_map.
 * Size classes 0..nslot-1 are slot sizes; classes nslot..nclass-1 are runs of
 * 1..KC_ARENA_RUN_CLASSES pages; longer runs share the pseudo-class nclass,
 * whose cache bin has capacity 0, so they always take the central path.
 *
 * Tickets: table[i].state packs {gen:32 | refs:32} in one 64-bit atomic, so
 * validate-and-retain is a single CAS (kc_arena_ticket.c draws the state
 * table), and table[i].seal keeps the issued ticket's {len, check} so that
 * a release checks a ticket with one compare.
 *
 * Invariants (checked by kc_arena_check(), on a quiescent arena):
 *   I1  every page is FREE, SLAB, RUN_HEAD or RUN_TAIL; free_map bit p is
 *       set exactly when page p is FREE, and free_pages counts those bits.
 *   I2  a RUN_HEAD of n pages is followed by exactly n-1 RUN_TAIL pages.
 *   I3  a SLAB page has 0 <= nfree <= nslots(class), and its free list plus
 *       its never-used slots (bump..nslots) hold exactly nfree slots.
 *   I4  class c's partial list holds exactly the SLAB pages of class c with
 *       0 < nfree < nslots (a fully free slab page goes back to FREE).
 *   I5  a table entry with refs > 0 has an odd generation; an entry with an
 *       even generation has refs == 0.
 *   I6  the live entries equal allocs - frees plus the live region tickets,
 *       and each region's use count equals the live entries naming it.
 *   I7  pages_used == pages_total - free_pages <= pages_high_water.
 *   I8  every bin holds at most its cap items, the caps of a cache add up
 *       to at most its byte budget, and each cached index is a FREE entry
 *       (even generation, refs 0) whose item head carries that generation
 *       + 1, the one it is issued with next.
 *   I9  base is aligned to page_size, so every page (and every run) starts
 *       on a page boundary whatever alignment mmap happened to give.
 */
#ifndef KCORO_KC_ARENA_IMPL_H
#define KCORO_KC_ARENA_IMPL_H

#include "kcoro/arena.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Runs of 1..KC_ARENA_RUN_CLASSES pages get size classes (and caching). */
#define KC_ARENA_RUN_CLASSES 16
/* At most this many slot classes (16 B .. page/2, four per doubling). */
#define KC_ARENA_SLOT_CLASSES_MAX 96
#define KC_ARENA_CLASSES_MAX (KC_ARENA_SLOT_CLASSES_MAX + KC_ARENA_RUN_CLASSES + 1)
/* Smallest slot and the granule of slot sizes. */
#define KC_ARENA_GRANULE 16
/* Cached items per class at most, and free indexes kept for wraps. */
#define KC_ARENA_BIN_CAP 64
#define KC_ARENA_IDX_CAP 64
/* Lengths up to this take their size class from a table (4 KiB). */
#define KC_ARENA_LUT_MAX 65536
_Static_assert(KC_ARENA_CLASSES_MAX <= 256, "class_lut holds classes in bytes");
/* The largest ticket table accepted (index fits the 32-bit ticket field). */
#define KC_ARENA_TICKETS_MAX (1u << 26)

/* Page kinds in the page table. */
enum kc_arena_page_kind {
    KC_ARENA_PG_FREE = 0,
    KC_ARENA_PG_SLAB = 1,
    KC_ARENA_PG_RUN_HEAD = 2,
    KC_ARENA_PG_RUN_TAIL = 3
};

/* Entry kinds, stored in the entry's meta word. */
enum kc_arena_entry_kind {
    KC_ARENA_E_SLOT = 1,   /* a slot of a slab page; class < nslot */
    KC_ARENA_E_RUN = 2,    /* a cached-class page run */
    KC_ARENA_E_BIGRUN = 3, /* a longer run; class nclass */
    KC_ARENA_E_REGION = 4  /* wrapped memory of an external region */
};

/* meta = kind:8 | class:8 | region:8 (bits 0-23). */
#define KC_ARENA_META(kind, cls, region)                                                           \
    ((uint32_t)(kind) | ((uint32_t)(cls) << 8) | ((uint32_t)(region) << 16))
#define KC_ARENA_META_KIND(m) ((m)&0xffu)
#define KC_ARENA_META_CLASS(m) (((m) >> 8) & 0xffu)
#define KC_ARENA_META_REGION(m) (((m) >> 16) & 0xffu)

/* state = gen:32 (high) | refs:32 (low). */
#define KC_ARENA_STATE(gen, refs) (((uint64_t)(gen) << 32) | (uint32_t)(refs))
#define KC_ARENA_GEN(s) ((uint32_t)((s) >> 32))
#define KC_ARENA_REFS(s) ((uint32_t)(s))

/* One ticket-table entry: one cache line (64 bytes; the table is mapped
 * page-aligned). Entries are handed to threads one by one, so two threads'
 * hottest entries may have neighbouring indexes; sharing a line, their CAS
 * and stores bounced it between cores (measured: the two-thread pair went
 * from 7.4 ns to 9-35 ns in a third of the runs with 32-byte entries, and
 * with the earlier 24-byte ones too). Fields other than state are written
 * by the allocating thread before its release-store of state; they are
 * atomics only so that a lock-free dump may read them while they change.
 * seal is the second half of the ticket as issued, {len, check} in the
 * ticket's own byte order (kc__arena_seal), so the release fast path checks
 * a ticket with one load and one compare instead of recomputing its check
 * word. */
struct kc_arena_entry {
    _Atomic uint64_t state;
    _Atomic uintptr_t addr;
    _Atomic uint64_t seal;
    _Atomic uint32_t meta;
    uint32_t pad[9];
};
_Static_assert(sizeof(struct kc_arena_entry) == 64, "a ticket entry fills one cache line");

/* One page-table row (central; guarded by arena->lock). */
struct kc_arena_page {
    uint8_t kind;   /* enum kc_arena_page_kind */
    uint8_t cls;    /* SLAB: its class */
    uint8_t purged; /* FREE and handed back to the OS */
    uint8_t pad;
    uint32_t count; /* SLAB: free slots; RUN_HEAD: pages in the run */
    uint32_t bump;  /* SLAB: slots [bump, nslots) were never handed out */
    uint32_t prev;  /* SLAB: partial-list links (UINT32_MAX = none) */
    uint32_t next;
    uint32_t pad2;
    void *free_head; /* SLAB: freed slots, linked through their first word */
};

/* A cached free block and the free ticket index travelling with it, kept
 * as the first half of the ticket it will be issued as: head =
 * kc__arena_seal(index, gen), gen being the entry's FREE generation + 1
 * (nobody else can change a FREE entry's state, so the copy stays true).
 * One 8-byte word, written and read whole (two 4-byte stores read back as
 * one 8-byte load would miss store forwarding). */
struct kc_arena_item {
    void *block;
    uint64_t head;
};

/* One class's cache bin header (32 bytes); its items live in
 * tcache->items[class]. word packs {pops:56 | count:8}: the items held, and
 * how many were ever popped (allocations served by this bin), so the hot
 * path counts an allocation with the same store that pops the item. Pushes
 * (frees into the bin) need no counter of their own: every change of count
 * is a pop, a push, or a batch move that the owner records in net, so
 * pushes = pops + count - net at every moment the owner is not inside a
 * batch move (kc__arena_tcache_counts). net is modular: a bin that only
 * takes frees (blocks allocated by other threads) flushes more than it
 * refills. pops wraps after 2^56 allocations of one class by one thread
 * (about 9 years at 4 ns each). */
struct kc_arena_bin {
    _Atomic uint64_t word; /* owner: load + store; metrics read it */
    uint32_t cap;          /* 0 = this class is not cached */
    uint32_t meta;         /* the entry meta word of this class's blocks */
    uint64_t net;          /* refilled - flushed - drained (mod 2^64); under lock */
    uint64_t pad;
};
#define KC_ARENA_BIN_COUNT(w) ((uint32_t)(w)&0xffu)
#define KC_ARENA_BIN_POPS(w) ((w) >> 8)
/* Added to a bin word by a pop: one more pop, one item fewer. */
#define KC_ARENA_BIN_POP (((uint64_t)1 << 8) - 1)

/* A thread's cache for one arena. Only its owner touches bins, items and
 * idx; the counters (allocs and frees that bypassed the bins, and the bin
 * words) are atomics written by the owner (load + store, no RMW) so that
 * kc_arena_metrics() may read them from any thread. Bin headers sit
 * together (32 bytes each) and each class's items take 1 KiB, so the hot
 * path finds both with shifts. */
struct kc_arena_tcache {
    struct kc_arena *arena;
    struct kc_arena_tcache *next; /* arena->caches list (under lock) */
    uint64_t budget;              /* sum of cap * class size stays below */
    _Atomic uint64_t allocs;
    _Atomic uint64_t frees;
    uint32_t nidx;
    uint32_t idx[KC_ARENA_IDX_CAP];
    struct kc_arena_bin bins[KC_ARENA_CLASSES_MAX]; /* nclass + 1 used */
    struct kc_arena_item items[][KC_ARENA_BIN_CAP]; /* nclass + 1 rows */
};

/* An external region slot. word = gen:24 (bits 40-63) | registered:1
 * (bit 32) | uses:32 (bits 0-31); one atomic, so a wrap's "still
 * registered?" check and its use count move together. */
struct kc_arena_region {
    _Atomic uint64_t word;
    _Atomic uintptr_t base;
    _Atomic size_t len;
    _Atomic uint32_t flags;
};
#define KC_ARENA_RG_REGISTERED ((uint64_t)1 << 32)
#define KC_ARENA_RG_USES(w) ((uint32_t)(w))
#define KC_ARENA_RG_GEN(w) ((uint32_t)((w) >> 40))

struct kc_registry_node;

struct kc_arena {
    /* Read-mostly geometry, set at create; what the fast paths read comes
     * first, in the struct's first cache line. */
    uint64_t uid;                 /* unique per arena instance in the process */
    uint64_t key;                 /* keys the ticket check word */
    struct kc_arena_entry *table; /* max_tickets entries */
    size_t max_len;               /* min(bytes, UINT32_MAX): longest payload */
    uint32_t max_tickets;
    uint32_t nslot;    /* slot classes */
    uint32_t nclass;   /* slot + run classes; nclass = long runs */
    uint32_t slot_max; /* largest slot size */
    unsigned page_shift;
    uint32_t pages_total;
    uint8_t *base; /* pages_total * page_size bytes */
    size_t bytes;
    size_t page_size;
    uint32_t class_size[KC_ARENA_CLASSES_MAX];
    uint32_t class_slots[KC_ARENA_CLASSES_MAX]; /* slots per slab page */
    /* The class of every length up to KC_ARENA_LUT_MAX, by 16-byte granule:
     * class_lut[(len - 1) / KC_ARENA_GRANULE] (kc__arena_class_of). */
    uint8_t class_lut[KC_ARENA_LUT_MAX / KC_ARENA_GRANULE];
    struct kc_arena_region regions[KC_ARENA_REGIONS_MAX + 1]; /* [0] unused */
    pthread_key_t tkey;
    char name[KC_ARENA_NAME_MAX];
    uint64_t id;                      /* kc_registry_new_id() at create */
    struct kc_registry_node *obs_reg; /* registry entry, or NULL */
    uint32_t fault_every;             /* KC_FAULT_EVERY (fault builds only) */

    /* Rarely written counters, each bumped on a slow path only. */
    _Atomic uint64_t failed_allocs;
    _Atomic uint64_t stale_rejections;
    _Atomic uint64_t double_releases;
    _Atomic uint64_t retired_slots;
    _Atomic uint64_t fault_seq;
    _Atomic uint32_t next_fresh; /* entries [0, next_fresh) were ever issued */

    /* Central state, guarded by lock (128-byte aligned: ARCHITECTURE.md 6;
     * the x86 adjacent-line prefetcher pairs lines). */
    _Alignas(128) pthread_mutex_t lock;
    pthread_mutex_t region_lock; /* register/unregister only */
    struct kc_arena_page *pages;
    uint64_t *free_map;
    uint32_t free_pages;
    uint32_t high_water;
    uint32_t purged_now;
    uint64_t purged_total;
    uint32_t partial[KC_ARENA_SLOT_CLASSES_MAX]; /* partial-list heads */
    uint32_t *free_idx;                          /* free ticket indexes */
    uint32_t nfree_idx;
    struct kc_arena_tcache *caches; /* live thread caches */
    /* Counters of caches that are gone (thread exit) and of cacheless paths. */
    uint64_t gone_allocs, gone_frees;
};

/* ---- kc_arena_page.c: the central allocator (callers hold arena->lock) */

/* Set up the page table, free map and classes; 0 or -ENOMEM. */
int kc__arena_pages_init(struct kc_arena *a);
/* Free what kc__arena_pages_init() allocated (not the RAM). */
void kc__arena_pages_fini(struct kc_arena *a);
/* Take up to n blocks of class cls into out[]; returns how many. */
uint32_t kc__arena_take_blocks(struct kc_arena *a, uint32_t cls, void **out, uint32_t n);
/* Give one block of class cls back. */
void kc__arena_give_block(struct kc_arena *a, uint32_t cls, void *block);
/* Take a run of npages pages; NULL when none is free. */
void *kc__arena_take_run(struct kc_arena *a, uint32_t npages);
/* Give back a run that kc__arena_take_run() returned. */
void kc__arena_give_run(struct kc_arena *a, void *run);
/* Take up to n free ticket indexes into out[]; returns how many. */
uint32_t kc__arena_take_idx(struct kc_arena *a, uint32_t *out, uint32_t n);
/* Give free ticket indexes back. */
void kc__arena_give_idx(struct kc_arena *a, const uint32_t *idx, uint32_t n);
/* Return free, not yet purged pages to the OS; the count or -ENOMEM. */
int kc__arena_purge_locked(struct kc_arena *a);
/* The longest run of free pages. */
uint32_t kc__arena_largest_free_run(const struct kc_arena *a);
/* Reserve and release memory (OS-page aligned). */
void *kc__arena_map(size_t len);
void kc__arena_unmap(void *p, size_t len);
/* Reserve the arena's RAM: len bytes aligned to align (a power of two), so
 * every arena page starts on an arena page boundary (I9). Free it with
 * kc__arena_unmap(p, len). NULL when the mapping fails. */
void *kc__arena_map_aligned(size_t len, size_t align);

/* ---- kc_arena.c: thread caches */

/* The last arena this thread used and its cache. Uids are never reused in
 * a process, so comparing the uid alone identifies the arena instance: a
 * hint left by a destroyed arena never matches a new arena at its address.
 * initial-exec TLS: one instruction to reach it, as allocators do. */
struct kc_arena_hint {
    const struct kc_arena *arena;
    uint64_t uid;
    struct kc_arena_tcache *tc;
};
/* Marks the public functions that read the hint (see kc__arena_tcache). */
#define KC_ARENA_NOINLINE __attribute__((noinline))
#define KC_ARENA_TLS_MODEL __attribute__((tls_model("initial-exec")))
extern _Thread_local struct kc_arena_hint kc__arena_hint KC_ARENA_TLS_MODEL;

/* Find or create the calling thread's cache for a and update the hint;
 * NULL when it cannot be created (callers then take the locked path). */
struct kc_arena_tcache *kc__arena_tcache_slow(struct kc_arena *a);

/* The calling thread's hint. ARCHITECTURE.md 6 says coroutine code must not
 * keep a thread-local's address across a switch. This is inlined only into
 * the arena's public functions, which never park or yield and are marked
 * noinline so that even link-time optimisation cannot fold them into a
 * caller that does; the empty asm hides the address so the compiler
 * computes it afresh here. A hint whose uid matches an arena always holds a
 * cache (kc__arena_tcache_slow() sets it only with one), so the fast paths
 * compare the uid and then use tc without a NULL test. */
static inline struct kc_arena_hint *kc__arena_hint_get(void)
{
    struct kc_arena_hint *h = &kc__arena_hint;
    __asm__ volatile("" : "+r"(h));
    return h;
}

/* The calling thread's cache for a, or NULL (see kc__arena_tcache_slow). */
static inline struct kc_arena_tcache *kc__arena_tcache(struct kc_arena *a)
{
    struct kc_arena_hint *h = kc__arena_hint_get();
    if (__builtin_expect(h->uid == a->uid, 1))
        return h->tc;
    return kc__arena_tcache_slow(a);
}
/* The allocations and frees tc's thread made, exactly: the ones that
 * bypassed the bins plus each bin's pops and pushes (struct kc_arena_bin).
 * The owner may call it any time; other threads with arena->lock held,
 * which keeps every bin's net still while they read. */
void kc__arena_tcache_counts(const struct kc_arena *a, const struct kc_arena_tcache *tc,
                             uint64_t *allocs /* OUT */, uint64_t *frees /* OUT */);
/* Return every cached item of tc to the central pool (lock held). */
void kc__arena_tcache_drain(struct kc_arena *a, struct kc_arena_tcache *tc);

/* The destructor of a->tkey: the exiting thread's cache p gives everything
 * back to its arena and is freed. */
void kc__arena_tcache_exit(void *p);
/* Refill tc's bin cls from the central pool (takes the lock); on exhaustion
 * drain tc and retry once. Returns the items added (0 = exhausted). */
uint32_t kc__arena_refill(struct kc_arena *a, struct kc_arena_tcache *tc, uint32_t cls);
/* Give the older half of tc's full bin cls back to the central pool. */
void kc__arena_flush_bin(struct kc_arena *a, struct kc_arena_tcache *tc, uint32_t cls);
/* A free ticket index from tc's index stack (tc may be NULL); false when the
 * table is full. */
bool kc__arena_index_get(struct kc_arena *a, struct kc_arena_tcache *tc, uint32_t *out);
/* Give a free ticket index back through tc (tc may be NULL). */
void kc__arena_index_put(struct kc_arena *a, struct kc_arena_tcache *tc, uint32_t idx);
/* ---- tickets (inline: both are on the hot path) */

/* Two 32-bit fields as one 64-bit word with the bytes in the order the
 * fields have in memory: lo first. kc__arena_seal(len, check) is the second
 * half of a ticket as it sits in memory (and in the register that passes it
 * by value), which is what an entry's seal holds; kc__arena_seal(index,
 * gen) is the first half. A shift and an or on little-endian machines. */
static inline uint64_t kc__arena_seal(uint32_t lo, uint32_t hi)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (uint64_t)lo << 32 | hi;
#else
    return (uint64_t)hi << 32 | lo;
#endif
}

/* The first (lo) and second (hi) fields of a kc__arena_seal() word: the
 * len of an entry's seal, the index and generation of an item's head. */
static inline uint32_t kc__arena_seal_lo(uint64_t w)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (uint32_t)(w >> 32);
#else
    return (uint32_t)w;
#endif
}

static inline uint32_t kc__arena_seal_hi(uint64_t w)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (uint32_t)w;
#else
    return (uint32_t)(w >> 32);
#endif
}

/* The check word of a ticket {index, gen, len} in arena a, given its first
 * half head = kc__arena_seal(index, gen): the high half of one 64-bit
 * multiply of the fields mixed with the arena's secret key. Every input bit
 * reaches the high half, so a ticket with any field changed, or one from
 * another arena, matches with probability about 2^-32. It catches stale
 * copies, corruption and accidents; it is not a MAC against someone who can
 * try billions of forgeries. 0 is reserved for the null ticket. */
static inline uint32_t kc__arena_check_word(const struct kc_arena *a, uint64_t head, uint32_t len)
{
    uint64_t x = ((head ^ a->key) + (uint64_t)len * 0x9e3779b97f4a7c15ull) * 0xd6e8feb86659fd93ull;
    uint32_t c = (uint32_t)(x >> 32);
    return c + (c == 0);
}

_Static_assert(offsetof(kc_arena_ticket_t, gen) == 4 && offsetof(kc_arena_ticket_t, len) == 8 &&
                   offsetof(kc_arena_ticket_t, check) == 12 && sizeof(kc_arena_ticket_t) == 16,
               "a ticket is two words: {index, gen} and the seal {len, check}");

/* The head of the next ticket of entry idx (FREE, owned by the caller):
 * kc__arena_seal(idx, its generation + 1), as kc__arena_issue() takes it. */
static inline uint64_t kc__arena_next_head(const struct kc_arena *a, uint32_t idx)
{
    uint32_t gen = KC_ARENA_GEN(atomic_load_explicit(&a->table[idx].state, memory_order_relaxed));
    return kc__arena_seal(idx, gen + 1);
}

/* Issue a ticket for a FREE entry owned by the caller, given as head =
 * kc__arena_seal(index, next generation) (a cache item's head, or one made
 * with kc__arena_next_head()), naming [addr, addr+len) described by meta;
 * the entry becomes LIVE with refs 1 (the FREE -> LIVE transition of
 * kc_arena_ticket.c's table). */
static inline void kc__arena_issue(struct kc_arena *a, uint64_t head, uintptr_t addr, uint32_t len,
                                   uint32_t meta, kc_arena_ticket_t *t)
{
    uint32_t idx = kc__arena_seal_lo(head), gen = kc__arena_seal_hi(head);
    struct kc_arena_entry *e = &a->table[idx];
    uint64_t seal = kc__arena_seal(len, kc__arena_check_word(a, head, len));
    atomic_store_explicit(&e->addr, addr, memory_order_relaxed);
    atomic_store_explicit(&e->seal, seal, memory_order_relaxed);
    atomic_store_explicit(&e->meta, meta, memory_order_relaxed);
    /* Release: pairs with the acquire CAS in take_ref(), the acquire load
     * in kc_arena_release() and the dump's acquire load, which then see
     * addr, seal and meta. */
    atomic_store_explicit(&e->state, KC_ARENA_STATE(gen, 1), memory_order_release);
    /* Two 8-byte stores: callers pass the ticket on by value in two
     * registers, so they read it back as two 8-byte loads, which four
     * 4-byte stores would leave without store forwarding. The empty asm
     * keeps the compiler from merging the two into one 16-byte vector
     * store assembled in vector registers, which it did, and which ran the
     * alloc+release pair twice as slow (JOURNAL.md, 2026-11-21). */
    memcpy(t, &head, sizeof(head));
    __asm__("" : : : "memory");
    memcpy((unsigned char *)t + sizeof(head), &seal, sizeof(seal));
}

/* The size class of a payload of len bytes (1 <= len <= max_len),
 * computed: the smallest slot class that fits, a run class of 1..16 pages,
 * or nclass for longer runs. Slot classes are 16, 32, 48, 64 and then four
 * per doubling (kc_arena_page.c), so the class follows from the top bit of
 * len - 1. It fills class_lut and serves lengths beyond it. */
static inline uint32_t kc__arena_class_calc(const struct kc_arena *a, size_t len)
{
    if (len <= a->slot_max) {
        size_t x = len - 1;
        if (x < 64)
            return (uint32_t)(x >> 4);
        unsigned top = 63u - (unsigned)__builtin_clzll((unsigned long long)x);
        return 4 * (top - 5) + (uint32_t)((x >> (top - 2)) & 3);
    }
    size_t npages = ((len - 1) >> a->page_shift) + 1;
    return npages <= KC_ARENA_RUN_CLASSES ? a->nslot + (uint32_t)npages - 1 : a->nclass;
}

/* The size class of a payload of len bytes (1 <= len <= max_len). Up to
 * KC_ARENA_LUT_MAX it is one load from class_lut: the class heads the
 * chain of dependent loads of an allocation (class, bin, item, entry), and
 * the computation above, with its loads of the geometry, its shifts and
 * its branches, made that chain about 0.8 ns longer (measured; a computed
 * class was faster only while the path was bound by instruction count). */
static inline uint32_t kc__arena_class_of(const struct kc_arena *a, size_t len)
{
    if (len <= KC_ARENA_LUT_MAX)
        return a->class_lut[(len - 1) / KC_ARENA_GRANULE];
    return kc__arena_class_calc(a, len);
}

/* The entry meta word of an arena payload of class cls. Computed once per
 * class into each cache bin, so the hot path loads it from the bin's line. */
static inline uint32_t kc__arena_meta_of(const struct kc_arena *a, uint32_t cls)
{
    uint32_t kind = cls < a->nslot    ? KC_ARENA_E_SLOT
                    : cls < a->nclass ? KC_ARENA_E_RUN
                                      : KC_ARENA_E_BIGRUN;
    return KC_ARENA_META(kind, cls, 0);
}

/* Owner-only counter update: a load and a store, no read-modify-write, so
 * readers on other threads see a whole value without a data race. */
static inline void kc__arena_bump(_Atomic uint64_t *c, uint64_t d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d,
                          memory_order_relaxed);
}

/* Fault builds (-DKC_FAULT_INJECT=1, FLAVOR=fault): every KC_FAULT_EVERY-th
 * allocation or cache creation fails. Other builds: never. */
static inline bool kc__arena_fault_hit(struct kc_arena *a)
{
#if defined(KC_FAULT_INJECT) && KC_FAULT_INJECT
    if (a->fault_every == 0)
        return false;
    uint64_t n = atomic_fetch_add_explicit(&a->fault_seq, 1, memory_order_relaxed) + 1;
    return n % a->fault_every == 0;
#else
    (void)a;
    return false;
#endif
}

/* ---- kc_arena_region.c */

/* Drop one use of region r (the last release of a wrapped ticket). */
void kc__arena_region_put(struct kc_arena *a, uint32_t r);
/* Reset the region table at create. */
void kc__arena_regions_init(struct kc_arena *a);

#endif /* KCORO_KC_ARENA_IMPL_H */
