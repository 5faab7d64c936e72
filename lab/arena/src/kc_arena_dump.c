/* kc_arena_dump.c - metrics snapshots and the allocation-table dump (text, JSON).
 *
 * Everything here reads; nothing changes the arena. Page-table facts are
 * copied under arena->lock into a private array and printed after the lock
 * is dropped, so a slow FILE never stalls allocators. Ticket rows are read
 * without any lock, seqlock style: load the entry's state (acquire), read
 * its fields, load the state again; a row whose state changed in between is
 * skipped, so every printed row is one the arena really held. Counters are
 * summed from the live thread caches plus those of caches already gone.
 * The JSON form is one object on one line (NDJSON-friendly).
 */
#include "kc_arena_impl.h"

#include <stdlib.h>
#include <string.h>

/* One row of the page map: a free range, a run or a slab page. */
struct page_row {
    uint32_t first, count;
    uint8_t kind, cls, purged;
    uint32_t free_slots;
};

/* Everything the summary needs, gathered under the lock. */
struct totals {
    kc_arena_metrics_t m;
    uint64_t free_pages;
};

/* Bytes behind live arena tickets (region tickets excluded): a lock-free
 * scan of the table, so the hot path keeps no byte counters. */
static uint64_t live_arena_bytes(struct kc_arena *a)
{
    uint64_t bytes = 0;
    uint32_t fresh = atomic_load_explicit(&a->next_fresh, memory_order_relaxed);
    for (uint32_t i = 0; i < fresh; i++) {
        struct kc_arena_entry *e = &a->table[i];
        /* Acquire: pairs with the release-store in kc__arena_issue(). */
        uint64_t s = atomic_load_explicit(&e->state, memory_order_acquire);
        if (KC_ARENA_REFS(s) == 0 || KC_ARENA_META_KIND(atomic_load_explicit(
                                         &e->meta, memory_order_relaxed)) == KC_ARENA_E_REGION)
            continue;
        bytes += kc__arena_seal_lo(atomic_load_explicit(&e->seal, memory_order_relaxed));
    }
    return bytes;
}

static void gather(struct kc_arena *a, struct totals *tt)
{
    kc_arena_metrics_t *m = &tt->m;
    memset(tt, 0, sizeof(*tt));
    m->size = sizeof(*m);
    m->page_size = (uint32_t)a->page_size;
    m->pages_total = a->pages_total;
    m->id = a->id;
    memcpy(m->name, a->name, sizeof(m->name));
    pthread_mutex_lock(&a->lock);
    tt->free_pages = a->free_pages;
    m->pages_used = a->pages_total - a->free_pages;
    m->pages_high_water = a->high_water;
    m->pages_purged = a->purged_now;
    m->purged_total = a->purged_total;
    m->largest_free_run = kc__arena_largest_free_run(a);
    m->allocs = a->gone_allocs;
    m->frees = a->gone_frees;
    for (struct kc_arena_tcache *tc = a->caches; tc != NULL; tc = tc->next) {
        uint64_t allocs, frees;
        kc__arena_tcache_counts(a, tc, &allocs, &frees);
        m->allocs += allocs;
        m->frees += frees;
        for (uint32_t c = 0; c < a->nclass; c++)
            m->cached_bytes +=
                (uint64_t)a->class_size[c] *
                KC_ARENA_BIN_COUNT(atomic_load_explicit(&tc->bins[c].word, memory_order_relaxed));
    }
    pthread_mutex_unlock(&a->lock);
    for (uint32_t r = 1; r <= KC_ARENA_REGIONS_MAX; r++) {
        uint64_t w = atomic_load_explicit(&a->regions[r].word, memory_order_relaxed);
        if (w & KC_ARENA_RG_REGISTERED)
            m->regions++;
        m->region_tickets += KC_ARENA_RG_USES(w);
    }
    m->live_bytes = live_arena_bytes(a);
    m->live_tickets = m->allocs - m->frees + m->region_tickets;
    m->failed_allocs = atomic_load_explicit(&a->failed_allocs, memory_order_relaxed);
    m->stale_rejections = atomic_load_explicit(&a->stale_rejections, memory_order_relaxed);
    m->double_releases = atomic_load_explicit(&a->double_releases, memory_order_relaxed);
    m->retired_slots = atomic_load_explicit(&a->retired_slots, memory_order_relaxed);
    double used = (double)m->pages_used * (double)a->page_size;
    m->fragmentation = used > 0 ? 1.0 - (double)m->live_bytes / used : 0.0;
    if (m->fragmentation < 0)
        m->fragmentation = 0; /* counters read a moment apart */
    m->free_fragmentation =
        tt->free_pages > 0 ? 1.0 - (double)m->largest_free_run / (double)tt->free_pages : 0.0;
}

int kc_arena_metrics(kc_arena_t *a, kc_arena_metrics_t *out)
{
    if (a == NULL || out == NULL || out->size < 2 * sizeof(uint32_t))
        return -EINVAL;
    struct totals tt;
    gather(a, &tt);
    uint32_t size = out->size < sizeof(tt.m) ? out->size : (uint32_t)sizeof(tt.m);
    memcpy(out, &tt.m, size);
    out->size = size;
    return 0;
}

/* Copy the page map into rows (free ranges and runs merged); lock held. */
static uint32_t page_rows(struct kc_arena *a, struct page_row *rows)
{
    uint32_t n = 0, p = 0;
    while (p < a->pages_total) {
        const struct kc_arena_page *pg = &a->pages[p];
        struct page_row *r = &rows[n++];
        memset(r, 0, sizeof(*r));
        r->first = p;
        r->kind = pg->kind;
        if (pg->kind == KC_ARENA_PG_SLAB) {
            r->count = 1;
            r->cls = pg->cls;
            r->free_slots = pg->count;
        } else if (pg->kind == KC_ARENA_PG_RUN_HEAD) {
            r->count = pg->count;
        } else { /* FREE (a stray RUN_TAIL would be an I2 breach: shown as is) */
            r->purged = pg->purged;
            uint32_t q = p + 1;
            while (q < a->pages_total && a->pages[q].kind == pg->kind &&
                   a->pages[q].purged == pg->purged)
                q++;
            r->count = q - p;
        }
        p += r->count;
    }
    return n;
}

static const char *kind_name(uint32_t kind)
{
    switch (kind) {
    case KC_ARENA_E_SLOT:
        return "slot";
    case KC_ARENA_E_RUN:
        return "run";
    case KC_ARENA_E_BIGRUN:
        return "bigrun";
    case KC_ARENA_E_REGION:
        return "region";
    default:
        return "?";
    }
}

static const char *page_kind_name(const struct page_row *r)
{
    switch (r->kind) {
    case KC_ARENA_PG_FREE:
        return r->purged ? "purged" : "free";
    case KC_ARENA_PG_SLAB:
        return "slab";
    case KC_ARENA_PG_RUN_HEAD:
        return "run";
    default:
        return "tail?";
    }
}

static void dump_summary(struct kc_arena *a, FILE *f, bool json, const kc_arena_metrics_t *m)
{
    fprintf(f,
            json ? "{\"arena\":{\"name\":\"%s\",\"page_size\":%u,\"pages\":%llu,"
                   "\"bytes\":%zu,\"max_tickets\":%u},\"metrics\":{"
                 : "arena \"%s\": %u-byte pages x %llu (%zu bytes), %u ticket slots\n",
            a->name, m->page_size, (unsigned long long)m->pages_total, a->bytes, a->max_tickets);
    const struct {
        const char *name;
        uint64_t v;
    } c[] = {
        {"pages_used", m->pages_used},
        {"pages_high_water", m->pages_high_water},
        {"pages_purged", m->pages_purged},
        {"purged_total", m->purged_total},
        {"largest_free_run", m->largest_free_run},
        {"live_tickets", m->live_tickets},
        {"live_bytes", m->live_bytes},
        {"cached_bytes", m->cached_bytes},
        {"allocs", m->allocs},
        {"frees", m->frees},
        {"failed_allocs", m->failed_allocs},
        {"stale_rejections", m->stale_rejections},
        {"double_releases", m->double_releases},
        {"retired_slots", m->retired_slots},
        {"regions", m->regions},
        {"region_tickets", m->region_tickets},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
        fprintf(f, json ? "\"%s\":%llu," : "  %-18s %llu\n", c[i].name, (unsigned long long)c[i].v);
    if (json)
        fprintf(f, "\"fragmentation\":%.4f,\"free_fragmentation\":%.4f},", m->fragmentation,
                m->free_fragmentation);
    else
        fprintf(f, "  %-18s %.4f\n  %-18s %.4f\n", "fragmentation", m->fragmentation,
                "free_fragmentation", m->free_fragmentation);
}

static void dump_regions(struct kc_arena *a, FILE *f, bool json)
{
    fputs(json ? "\"regions\":["
               : "regions:\n  id        base                len         uses  flags\n",
          f);
    const char *sep = "";
    for (uint32_t r = 1; r <= KC_ARENA_REGIONS_MAX; r++) {
        struct kc_arena_region *rg = &a->regions[r];
        /* Acquire: pairs with the release-store in kc_arena_register_region(),
         * so base, len and flags below belong to this registration. */
        uint64_t w = atomic_load_explicit(&rg->word, memory_order_acquire);
        if ((w & KC_ARENA_RG_REGISTERED) == 0)
            continue;
        int id = (int)(r | ((KC_ARENA_RG_GEN(w) & ((1u << 22) - 1)) << 8));
        uintptr_t base = atomic_load_explicit(&rg->base, memory_order_relaxed);
        size_t len = atomic_load_explicit(&rg->len, memory_order_relaxed);
        uint32_t fl = atomic_load_explicit(&rg->flags, memory_order_relaxed);
        fprintf(f,
                json ? "%s{\"id\":%d,\"base\":\"%#lx\",\"len\":%zu,\"uses\":%u,\"rdonly\":%s}"
                     : "%s  %-8d  %#-18lx  %-10zu  %-4u  %s\n",
                sep, id, (unsigned long)base, len, KC_ARENA_RG_USES(w),
                fl & KC_ARENA_REGION_RDONLY ? (json ? "true" : "rdonly") : (json ? "false" : "-"));
        sep = json ? "," : "";
    }
    fputs(json ? "]," : "", f);
}

static void dump_pages(struct kc_arena *a, FILE *f, bool json, const struct page_row *rows,
                       uint32_t n)
{
    fputs(json ? "\"pages\":[" : "page runs:\n  first     count     kind    detail\n", f);
    for (uint32_t i = 0; i < n; i++) {
        const struct page_row *r = &rows[i];
        const char *sep = json && i > 0 ? "," : "";
        if (r->kind == KC_ARENA_PG_SLAB) {
            uint32_t slots = a->class_slots[r->cls], size = a->class_size[r->cls];
            fprintf(f,
                    json ? "%s{\"first\":%u,\"count\":1,\"kind\":\"slab\",\"slot_size\":%u,"
                           "\"slots\":%u,\"used\":%u}"
                         : "%s  %-8u  1         slab    %u-byte slots, %u of %u used\n",
                    sep, r->first, size, json ? slots : slots - r->free_slots,
                    json ? slots - r->free_slots : slots);
        } else {
            fprintf(f,
                    json ? "%s{\"first\":%u,\"count\":%u,\"kind\":\"%s\"}" : "%s  %-8u  %-8u  %s\n",
                    sep, r->first, r->count, page_kind_name(r));
        }
    }
    fputs(json ? "]," : "", f);
}

static void dump_tickets(struct kc_arena *a, FILE *f, bool json)
{
    fputs(json ? "\"tickets\":["
               : "live tickets:\n  index     gen         refs  len         kind    where\n",
          f);
    uint32_t fresh = atomic_load_explicit(&a->next_fresh, memory_order_relaxed);
    const char *sep = "";
    for (uint32_t i = 0; i < fresh; i++) {
        struct kc_arena_entry *e = &a->table[i];
        /* Acquire: pairs with the release-store in kc__arena_issue(). */
        uint64_t s = atomic_load_explicit(&e->state, memory_order_acquire);
        if (KC_ARENA_REFS(s) == 0)
            continue;
        uintptr_t addr = atomic_load_explicit(&e->addr, memory_order_relaxed);
        uint32_t len = kc__arena_seal_lo(atomic_load_explicit(&e->seal, memory_order_relaxed));
        uint32_t meta = atomic_load_explicit(&e->meta, memory_order_relaxed);
        /* Acquire fence: the field loads above complete before the re-check. */
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&e->state, memory_order_relaxed) != s)
            continue;
        uint32_t kind = KC_ARENA_META_KIND(meta);
        unsigned long where;
        const char *wname;
        if (kind == KC_ARENA_E_REGION) {
            wname = "region";
            where = KC_ARENA_META_REGION(meta);
        } else {
            wname = "page";
            where = (unsigned long)((addr - (uintptr_t)a->base) >> a->page_shift);
        }
        unsigned long off = (unsigned long)((addr - (uintptr_t)a->base) & (a->page_size - 1));
        if (json)
            fprintf(f,
                    "%s{\"index\":%u,\"gen\":%u,\"refs\":%u,\"len\":%u,\"kind\":\"%s\","
                    "\"%s\":%lu,\"offset\":%lu}",
                    sep, i, KC_ARENA_GEN(s), KC_ARENA_REFS(s), len, kind_name(kind), wname, where,
                    kind == KC_ARENA_E_REGION ? 0ul : off);
        else
            fprintf(f, "  %-8u  %-10u  %-4u  %-10u  %-6s  %s %lu +%#lx\n", i, KC_ARENA_GEN(s),
                    KC_ARENA_REFS(s), len, kind_name(kind), wname, where,
                    kind == KC_ARENA_E_REGION ? 0ul : off);
        sep = ",";
    }
    fputs(json ? "]}\n" : "", f);
}

int kc_arena_dump(kc_arena_t *a, FILE *f, kc_arena_dump_format_t format)
{
    if (a == NULL || f == NULL || (format != KC_ARENA_DUMP_TEXT && format != KC_ARENA_DUMP_JSON))
        return -EINVAL;
    bool json = format == KC_ARENA_DUMP_JSON;
    struct page_row *rows = malloc((size_t)a->pages_total * sizeof(*rows));
    if (rows == NULL)
        return -ENOMEM;
    struct totals tt;
    gather(a, &tt);
    pthread_mutex_lock(&a->lock);
    uint32_t n = page_rows(a, rows);
    pthread_mutex_unlock(&a->lock);
    dump_summary(a, f, json, &tt.m);
    dump_regions(a, f, json);
    dump_pages(a, f, json, rows, n);
    dump_tickets(a, f, json);
    free(rows);
    return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}
