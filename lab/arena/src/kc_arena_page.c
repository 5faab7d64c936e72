/* kc_arena_page.c - the arena's central allocator: pages, slabs, runs, purge.
 *
 * Owns the page table, the free-page bitmap, the per-class lists of partly
 * used slab pages and the stack of free ticket indexes. Every function here
 * except the mapping helpers runs with arena->lock held; thread caches call
 * in here in batches, so the lock is taken once per refill or flush, never
 * per allocation. Runs are found first-fit over the bitmap, which keeps live
 * pages low in the arena and long free runs high. A slab page hands out its
 * never-used slots by bumping a cursor, so creating one touches no memory;
 * freed slots are linked through their first word. Purging replaces free
 * pages with fresh zero pages (mmap MAP_FIXED), which gives the old physical
 * pages back to the OS without unmapping the reservation.
 *
 * Page states (page table rows, see I1-I4 in kc_arena_impl.h):
 *
 *   state     event                          next       done by
 *   --------  -----------------------------  ---------  ----------------------
 *   FREE      taken as a run                 RUN_HEAD   kc__arena_take_run
 *   FREE      taken as a slab for a class    SLAB       kc__arena_take_blocks
 *   RUN_HEAD  run given back                 FREE       kc__arena_give_run
 *   SLAB      last slot given back           FREE       kc__arena_give_block
 *   FREE      handed back to the OS          FREE+purged kc__arena_purge_locked
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS (POSIX.1-2024; glibc shows it here) */
#include "kc_arena_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NONE UINT32_MAX

void *kc__arena_map(size_t len)
{
    void *p =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void kc__arena_unmap(void *p, size_t len)
{
    if (p != NULL)
        munmap(p, len);
}

void *kc__arena_map_aligned(size_t len, size_t align)
{
    long os = sysconf(_SC_PAGESIZE);
    size_t os_page = os > 0 ? (size_t)os : 4096;
    if (align <= os_page)
        return kc__arena_map(len);
    /* mmap promises OS-page alignment only (kernels that align large maps
     * to huge pages hide this for big arenas): map the slack it may need,
     * then give back the unaligned head and the tail. */
    size_t slack = align - os_page;
    if (len > SIZE_MAX - slack)
        return NULL;
    uint8_t *raw = kc__arena_map(len + slack);
    if (raw == NULL)
        return NULL;
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    size_t head = (size_t)(p - raw), tail = slack - head;
    if (head != 0)
        munmap(raw, head);
    if (tail != 0)
        munmap(p + len, tail);
    return p;
}

/* Slot classes: 16, 32, 48, 64, then four steps per doubling (80, 96, 112,
 * 128, 160, ...) up to half a page, so a slot wastes under 20% and a slab
 * page holds at least two slots. Then one class per run of 1..16 pages.
 * kc__arena_class_calc() computes the same series: keep them in step (the
 * test test_arena_size_classes_are_tight checks it). Half a page is a power
 * of two, so every doubling group is complete. */
static void make_classes(struct kc_arena *a)
{
    uint32_t n = 0, half = (uint32_t)(a->page_size / 2);
    for (uint32_t s = KC_ARENA_GRANULE; s <= 64 && s <= half; s += KC_ARENA_GRANULE)
        a->class_size[n++] = s;
    for (uint32_t p = 64; p < half && n + 4 <= KC_ARENA_SLOT_CLASSES_MAX; p *= 2)
        for (uint32_t k = 1; k <= 4 && p + k * (p / 4) <= half; k++)
            a->class_size[n++] = p + k * (p / 4);
    a->nslot = n;
    a->slot_max = a->class_size[n - 1];
    for (uint32_t c = 0; c < n; c++)
        a->class_slots[c] = (uint32_t)(a->page_size / a->class_size[c]);
    for (uint32_t k = 1; k <= KC_ARENA_RUN_CLASSES; k++) {
        a->class_size[n + k - 1] = (uint32_t)(k * a->page_size);
        a->class_slots[n + k - 1] = 0;
    }
    a->nclass = n + KC_ARENA_RUN_CLASSES;
    /* Every length in a granule has the same class: slot sizes and pages
     * are multiples of KC_ARENA_GRANULE. */
    for (uint32_t g = 0; g < KC_ARENA_LUT_MAX / KC_ARENA_GRANULE; g++)
        a->class_lut[g] = (uint8_t)kc__arena_class_calc(a, (size_t)g * KC_ARENA_GRANULE + 1);
}

int kc__arena_pages_init(struct kc_arena *a)
{
    make_classes(a);
    a->pages = calloc(a->pages_total, sizeof(*a->pages));
    size_t words = (a->pages_total + 63) / 64;
    a->free_map = calloc(words, sizeof(uint64_t));
    a->free_idx = kc__arena_map((size_t)a->max_tickets * sizeof(uint32_t));
    if (a->pages == NULL || a->free_map == NULL || a->free_idx == NULL) {
        kc__arena_pages_fini(a);
        return -ENOMEM;
    }
    for (uint32_t p = 0; p < a->pages_total; p++)
        a->free_map[p / 64] |= (uint64_t)1 << (p % 64);
    for (uint32_t c = 0; c < KC_ARENA_SLOT_CLASSES_MAX; c++)
        a->partial[c] = NONE;
    a->free_pages = a->pages_total;
    return 0;
}

void kc__arena_pages_fini(struct kc_arena *a)
{
    free(a->pages);
    free(a->free_map);
    if (a->free_idx != NULL)
        kc__arena_unmap(a->free_idx, (size_t)a->max_tickets * sizeof(uint32_t));
    a->pages = NULL;
    a->free_map = NULL;
    a->free_idx = NULL;
}

/* ------------------------------------------------------------ bitmap */

static inline bool is_free(const struct kc_arena *a, uint32_t p)
{
    return (a->free_map[p / 64] >> (p % 64)) & 1;
}

/* First fit: the lowest p with pages [p, p+n) all free, or NONE. */
static uint32_t find_run(const struct kc_arena *a, uint32_t n)
{
    uint32_t total = a->pages_total, p = 0;
    uint32_t words = (total + 63) / 64;
    while (p + n <= total) {
        uint32_t w = p / 64;
        uint64_t bits = a->free_map[w] & (~(uint64_t)0 << (p % 64));
        while (bits == 0) {
            if (++w >= words)
                return NONE;
            bits = a->free_map[w];
        }
        p = w * 64 + (uint32_t)__builtin_ctzll(bits);
        if (p + n > total)
            return NONE;
        uint32_t q = p;
        while (q < p + n && is_free(a, q)) {
            if (q % 64 == 0 && q + 64 <= p + n && a->free_map[q / 64] == ~(uint64_t)0)
                q += 64;
            else
                q++;
        }
        if (q >= p + n)
            return p;
        p = q + 1; /* page q is in use: no run can cover it */
    }
    return NONE;
}

uint32_t kc__arena_largest_free_run(const struct kc_arena *a)
{
    uint32_t best = 0, cur = 0;
    for (uint32_t p = 0; p < a->pages_total; p++) {
        if (p % 64 == 0 && p + 64 <= a->pages_total && a->free_map[p / 64] == 0) {
            cur = 0;
            p += 63;
            continue;
        }
        cur = is_free(a, p) ? cur + 1 : 0;
        if (cur > best)
            best = cur;
    }
    return best;
}

/* Mark [p, p+n) used, forget their purged marks, track the high water. */
static void take_pages(struct kc_arena *a, uint32_t p, uint32_t n)
{
    for (uint32_t q = p; q < p + n; q++) {
        a->free_map[q / 64] &= ~((uint64_t)1 << (q % 64));
        if (a->pages[q].purged) {
            a->pages[q].purged = 0;
            a->purged_now--;
        }
    }
    a->free_pages -= n;
    uint32_t used = a->pages_total - a->free_pages;
    if (used > a->high_water)
        a->high_water = used;
}

/* Mark [p, p+n) FREE again. */
static void give_pages(struct kc_arena *a, uint32_t p, uint32_t n)
{
    for (uint32_t q = p; q < p + n; q++) {
        a->pages[q].kind = KC_ARENA_PG_FREE;
        a->pages[q].count = 0;
        a->free_map[q / 64] |= (uint64_t)1 << (q % 64);
    }
    a->free_pages += n;
}

/* ------------------------------------------------------------ runs */

void *kc__arena_take_run(struct kc_arena *a, uint32_t npages)
{
    uint32_t p = find_run(a, npages);
    if (p == NONE)
        return NULL;
    take_pages(a, p, npages);
    a->pages[p].kind = KC_ARENA_PG_RUN_HEAD;
    a->pages[p].count = npages;
    for (uint32_t q = p + 1; q < p + npages; q++)
        a->pages[q].kind = KC_ARENA_PG_RUN_TAIL;
    return a->base + ((size_t)p << a->page_shift);
}

void kc__arena_give_run(struct kc_arena *a, void *run)
{
    uint32_t p = (uint32_t)(((uint8_t *)run - a->base) >> a->page_shift);
    give_pages(a, p, a->pages[p].count);
}

/* ------------------------------------------------------------ slabs */

static void partial_push(struct kc_arena *a, uint32_t cls, uint32_t p)
{
    struct kc_arena_page *pg = &a->pages[p];
    pg->prev = NONE;
    pg->next = a->partial[cls];
    if (pg->next != NONE)
        a->pages[pg->next].prev = p;
    a->partial[cls] = p;
}

static void partial_remove(struct kc_arena *a, uint32_t cls, uint32_t p)
{
    struct kc_arena_page *pg = &a->pages[p];
    if (pg->prev != NONE)
        a->pages[pg->prev].next = pg->next;
    else
        a->partial[cls] = pg->next;
    if (pg->next != NONE)
        a->pages[pg->next].prev = pg->prev;
    pg->prev = pg->next = NONE;
}

/* Turn one free page into a slab of class cls; NONE when no page is free. */
static uint32_t new_slab(struct kc_arena *a, uint32_t cls)
{
    uint32_t p = find_run(a, 1);
    if (p == NONE)
        return NONE;
    take_pages(a, p, 1);
    struct kc_arena_page *pg = &a->pages[p];
    pg->kind = KC_ARENA_PG_SLAB;
    pg->cls = (uint8_t)cls;
    pg->count = a->class_slots[cls];
    pg->bump = 0;
    pg->free_head = NULL;
    partial_push(a, cls, p);
    return p;
}

uint32_t kc__arena_take_blocks(struct kc_arena *a, uint32_t cls, void **out, uint32_t n)
{
    uint32_t got = 0;
    if (cls >= a->nslot) {
        uint32_t npages = cls - a->nslot + 1;
        while (got < n && (out[got] = kc__arena_take_run(a, npages)) != NULL)
            got++;
        return got;
    }
    uint32_t size = a->class_size[cls];
    while (got < n) {
        uint32_t p = a->partial[cls];
        if (p == NONE && (p = new_slab(a, cls)) == NONE)
            break;
        struct kc_arena_page *pg = &a->pages[p];
        uint8_t *page = a->base + ((size_t)p << a->page_shift);
        while (got < n && pg->count > 0) {
            void *b = pg->free_head;
            if (b != NULL)
                pg->free_head = *(void **)b;
            else
                b = page + (size_t)pg->bump++ * size;
            pg->count--;
            out[got++] = b;
        }
        if (pg->count == 0)
            partial_remove(a, cls, p);
    }
    return got;
}

void kc__arena_give_block(struct kc_arena *a, uint32_t cls, void *block)
{
    if (cls >= a->nslot) {
        kc__arena_give_run(a, block);
        return;
    }
    uint32_t p = (uint32_t)(((uint8_t *)block - a->base) >> a->page_shift);
    struct kc_arena_page *pg = &a->pages[p];
    *(void **)block = pg->free_head;
    pg->free_head = block;
    if (pg->count++ == 0)
        partial_push(a, cls, p);
    if (pg->count == a->class_slots[cls]) {
        partial_remove(a, cls, p);
        pg->free_head = NULL;
        give_pages(a, p, 1);
    }
}

/* ------------------------------------------------------------ ticket indexes */

uint32_t kc__arena_take_idx(struct kc_arena *a, uint32_t *out, uint32_t n)
{
    uint32_t got = 0;
    while (got < n && a->nfree_idx > 0)
        out[got++] = a->free_idx[--a->nfree_idx];
    uint32_t fresh = atomic_load_explicit(&a->next_fresh, memory_order_relaxed);
    while (got < n && fresh < a->max_tickets)
        out[got++] = fresh++;
    /* Relaxed: the dump reads it only as an upper bound of entries to scan. */
    atomic_store_explicit(&a->next_fresh, fresh, memory_order_relaxed);
    return got;
}

void kc__arena_give_idx(struct kc_arena *a, const uint32_t *idx, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        a->free_idx[a->nfree_idx++] = idx[i];
}

/* ------------------------------------------------------------ purge */

/* posix_madvise(POSIX_MADV_DONTNEED) is a no-op in glibc on Linux, so a
 * free range is replaced by a fresh private mapping instead: the kernel
 * drops the old pages, and the range reads as zeroes when used again. */
int kc__arena_purge_locked(struct kc_arena *a)
{
    int done = 0;
    uint32_t p = 0;
    while (p < a->pages_total) {
        if (!is_free(a, p) || a->pages[p].purged) {
            p++;
            continue;
        }
        uint32_t q = p;
        while (q < a->pages_total && is_free(a, q) && !a->pages[q].purged)
            q++;
        void *at = a->base + ((size_t)p << a->page_shift);
        size_t len = (size_t)(q - p) << a->page_shift;
        void *r = mmap(at, len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
        if (r == MAP_FAILED)
            return done > 0 ? done : -ENOMEM;
        for (uint32_t i = p; i < q; i++)
            a->pages[i].purged = 1;
        a->purged_now += q - p;
        a->purged_total += q - p;
        done += (int)(q - p);
        p = q;
    }
    return done;
}
