/* kcoro/arena.h - a bounded RAM arena whose payloads are named by tickets.
 *
 * The arena is where zero-copy payloads live. It carves one fixed block of
 * RAM into pages of a size chosen at creation (a power of two); small
 * payloads get slots from size-classed pages, large ones get runs of whole
 * pages. Callers never hold raw pointers across owners: they hold a ticket,
 * a 16-byte value that names a table slot, the slot's generation and a keyed
 * check word. kc_arena_hydrate() turns a ticket into a pointer and takes a
 * reference in one atomic step, so a released, reused, foreign or forged
 * ticket is refused with -ESTALE and is never undefined behaviour.
 *
 * Payloads may also live in memory the caller owns: register it as a region
 * and wrap pieces of it in tickets (kc_arena_wrap()); nothing is copied, and
 * a region cannot be unregistered while tickets into it are live.
 *
 * All calls are thread-safe. Each thread keeps a small cache per arena, so
 * the common alloc/release path takes no lock. No call blocks on another
 * thread for long or yields: the slow paths take a short internal mutex.
 *
 * Ticket lifecycle (one table slot; gen is even when free, odd when live):
 *
 *   FREE (gen even, refs 0) --alloc/wrap--> LIVE (gen+1, refs 1)
 *   LIVE (refs n) --hydrate/retain--> LIVE (refs n+1)
 *   LIVE (refs n>1) --release--> LIVE (refs n-1)
 *   LIVE (refs 1) --release--> FREE (gen+1, refs 0): the payload is freed
 *   anything else on a FREE slot or a wrong generation --> -ESTALE
 */
#ifndef KCORO_ARENA_H
#define KCORO_ARENA_H

#include "kcoro/base.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque arena handle, valid from kc_arena_create() to
 * kc_arena_destroy(). */
typedef struct kc_arena kc_arena_t;

/* A ticket names one payload. It is a plain value: copy it, send it through
 * a channel or a pipe, compare it. Its fields are readable but only the arena
 * may make one; a ticket whose check does not match is refused. */
typedef struct kc_arena_ticket {
    uint32_t index; /* slot in the ticket table */
    uint32_t gen;   /* the slot's generation when issued (odd) */
    uint32_t len;   /* payload length in bytes */
    uint32_t check; /* keyed mix of index, gen, len and the arena; 0 = null */
} kc_arena_ticket_t;

/* KC_ARENA_TICKET_NULL is the null ticket (all zero): "no payload". Every
 * call that takes a ticket refuses it with -EINVAL. */
#define KC_ARENA_TICKET_NULL                                                                       \
    {                                                                                              \
        0, 0, 0, 0                                                                                 \
    }

/* KC_ARENA_PAGE_DEFAULT is the page size used when the options give none:
 * 4 KiB. Pages must be a power of two and at least the OS page size, so that
 * kc_arena_purge() can hand whole pages back. */
#define KC_ARENA_PAGE_DEFAULT ((size_t)4096)

/* KC_ARENA_PAGE_MAX is the largest page size accepted (16 MiB). */
#define KC_ARENA_PAGE_MAX ((size_t)16 * 1024 * 1024)

/* KC_ARENA_BYTES_DEFAULT is the arena size used when the options give none:
 * 64 MiB of address space, committed lazily as pages are first touched. */
#define KC_ARENA_BYTES_DEFAULT ((size_t)64 * 1024 * 1024)

/* KC_ARENA_REGIONS_MAX bounds the external regions registered at once (255);
 * registering one more fails with -ENOMEM. */
#define KC_ARENA_REGIONS_MAX 255

/* KC_ARENA_NAME_MAX bounds the arena name shown by kc_arena_dump(),
 * terminator included; longer names are truncated. */
#define KC_ARENA_NAME_MAX 32

/* Options for kc_arena_create(). Initialise with KC_ARENA_OPTS_INIT and set
 * what you need; `size` lets the struct grow without breaking callers. */
typedef struct kc_arena_opts {
    uint32_t size;        /* sizeof(kc_arena_opts_t); set by KC_ARENA_OPTS_INIT */
    uint32_t max_tickets; /* ticket table slots; 0 = bytes / 64, at most 1 Mi */
    size_t bytes;         /* arena RAM, rounded up to whole pages; 0 = default */
    size_t page_size;     /* power of two >= OS page; 0 = KC_ARENA_PAGE_DEFAULT */
    const char *name;     /* BORROWS: copied at create; NULL = "arena" */
    uint32_t flags;       /* 0 or KC_ARENA_REGISTER (an older, shorter struct: 0) */
} kc_arena_opts_t;

/* KC_ARENA_REGISTER (in kc_arena_opts_t.flags) lists the arena in the
 * registry (kcoro/registry.h) under its name, for monitors; KCORO_REGISTRY
 * can do it for every arena. Allocations never touch the registry. */
#define KC_ARENA_REGISTER (1u << 31)

/* KC_ARENA_OPTS_INIT initialises kc_arena_opts_t to the defaults. */
#define KC_ARENA_OPTS_INIT                                                                         \
    {                                                                                              \
        sizeof(kc_arena_opts_t), 0, 0, 0, NULL, 0                                                  \
    }

/* KC_ARENA_REGION_RDONLY marks a registered region as read-only for its
 * users: the arena only records it (kc_arena_dump() shows it); the memory's
 * protection is the owner's business. */
#define KC_ARENA_REGION_RDONLY 0x1u

/* Output formats of kc_arena_dump(). */
typedef enum kc_arena_dump_format {
    /* Aligned text for people: summary, regions, page runs, live tickets. */
    KC_ARENA_DUMP_TEXT = 0,
    /* One JSON object with the same content, for tools. */
    KC_ARENA_DUMP_JSON = 1
} kc_arena_dump_format_t;

/* A metrics snapshot. The caller sets `size` to sizeof(kc_arena_metrics_t)
 * (older, shorter structs are filled as far as they go). Counts of tickets
 * include both arena payloads and wrapped region memory. */
typedef struct kc_arena_metrics {
    uint32_t size;                /* set by the caller: sizeof(kc_arena_metrics_t) */
    uint32_t page_size;           /* bytes per page */
    uint64_t pages_total;         /* pages in the arena */
    uint64_t pages_used;          /* pages holding slots or runs (cached ones too) */
    uint64_t pages_high_water;    /* the most pages ever used at once */
    uint64_t pages_purged;        /* free pages currently handed back to the OS */
    uint64_t purged_total;        /* pages handed back by every kc_arena_purge() */
    uint64_t largest_free_run;    /* longest run of free pages */
    uint64_t live_tickets;        /* tickets allocated or wrapped and not freed */
    uint64_t live_bytes;          /* payload bytes behind live arena tickets */
    uint64_t cached_bytes;        /* free blocks held in per-thread caches */
    uint64_t allocs;              /* successful kc_arena_alloc() calls */
    uint64_t frees;               /* arena payloads freed by their last release */
    uint64_t failed_allocs;       /* kc_arena_alloc() calls that got -ENOMEM */
    uint64_t stale_rejections;    /* hydrate/retain/release refused with -ESTALE */
    uint64_t double_releases;     /* releases of a ticket already fully released */
    uint64_t retired_slots;       /* table slots retired at generation wrap */
    uint64_t regions;             /* external regions registered */
    uint64_t region_tickets;      /* live tickets into external regions */
    double fragmentation;         /* 1 - live_bytes / (pages_used * page_size) */
    double free_fragmentation;    /* 1 - largest_free_run / free pages */
    uint64_t id;                  /* process-wide arena id (the registry's) */
    char name[KC_ARENA_NAME_MAX]; /* the arena's name */
} kc_arena_metrics_t;

/* Create an arena of opts->bytes of RAM in pages of opts->page_size (NULL
 * opts = defaults). The RAM is reserved, not touched: pages cost memory once
 * used. On success *out gets the arena. GIVES: free with kc_arena_destroy().
 * Errors: -EINVAL (out NULL, opts->size too small, page size not a power of
 * two or outside [OS page, KC_ARENA_PAGE_MAX], bytes too large to index,
 * max_tickets above the table's limit; bytes below one page are rounded up
 * to one page), -ENOMEM (no memory for the arena or its tables).
 * Never blocks. */
KC_API int kc_arena_create(kc_arena_t **out /* OUT */, const kc_arena_opts_t *opts);

/* Destroy an arena: unmap its RAM and free every table and thread cache.
 * Returns how many tickets were still live (0 for a clean shutdown); they
 * die with the arena. Call it only when no other thread will touch the arena
 * again (threads that used it may keep running). Accepts NULL (returns 0).
 * Never blocks. */
KC_API int kc_arena_destroy(kc_arena_t *arena);

/* Allocate len bytes (1 <= len <= UINT32_MAX) and issue a ticket holding the
 * one reference. *ticket gets the ticket; *ptr, when ptr is not NULL, gets
 * the payload address (16-byte aligned; page-aligned for page runs), valid
 * until the last release. GIVES: release with kc_arena_release().
 * Errors: -EINVAL (arena/ticket NULL, len 0), -EMSGSIZE (len larger than the
 * arena could ever hold), -ENOMEM (the arena or its ticket table is full; the
 * failure is counted and nothing changes). Never blocks; may take the arena's
 * internal mutex briefly when the thread's cache is empty. */
KC_API int kc_arena_alloc(kc_arena_t *arena, size_t len, kc_arena_ticket_t *ticket /* OUT */,
                          void **ptr /* OUT, optional */);

/* Validate a ticket and take a reference in one atomic step, then give the
 * payload's address and length. BORROWS: *ptr stays valid until the caller
 * drops this reference with kc_arena_release(). ptr and len may be NULL.
 * Errors: -EINVAL (arena NULL or null ticket), -ESTALE (released, reused,
 * foreign or forged ticket; counted; nothing changes), -ENOMEM (the ticket
 * already holds 2^32-1 references). Never blocks. */
KC_API int kc_arena_hydrate(kc_arena_t *arena, kc_arena_ticket_t ticket, void **ptr /* OUT */,
                            size_t *len /* OUT */);

/* Check that a ticket is live and give its payload's address and length,
 * without taking a reference: one load, no write. Use it where a reference
 * is already held (an owned descriptor, a ticket one hydrated before) and
 * the question is only "is this ticket genuine and still the one I hold?".
 * Without a reference held the answer may be out of date at once; use
 * kc_arena_hydrate() then. Returns the reference count seen (>= 1; capped
 * at INT32_MAX). ptr and len may be NULL; BORROWS *ptr as long as the
 * caller's reference lasts. Errors: -EINVAL (arena NULL or null ticket),
 * -ESTALE (released, reused, foreign or forged; counted; nothing written).
 * Never blocks. */
KC_API int kc_arena_validate(kc_arena_t *arena, kc_arena_ticket_t ticket, void **ptr /* OUT */,
                             size_t *len /* OUT */);

/* Take one more reference on a live ticket (hydrate without the pointer),
 * for example before handing a copy of the ticket to another owner.
 * Errors: -EINVAL (arena NULL or null ticket), -ESTALE (not live; counted),
 * -ENOMEM (2^32-1 references already). Never blocks. */
KC_API int kc_arena_retain(kc_arena_t *arena, kc_arena_ticket_t ticket);

/* Shorten the payload of *ticket to its first len bytes, in place: the
 * block stays where it is (and is freed whole at the last release), and
 * *ticket becomes the ticket for len bytes; the old ticket is stale from
 * now on. For reservations: allocate a buffer of the largest size a
 * payload may have before its length is known, then shrink it to the
 * length that arrived, so a receiver never needs memory it has not
 * reserved (remote descriptor channels do this, kcoro/mux.h). Only the
 * sole holder may shrink (one reference, not region memory).
 * Errors: -EINVAL (NULL arena or ticket, null ticket, len 0 or above the
 * ticket's length, a ticket of region memory), -ESTALE (not live, or not
 * the current ticket of its entry; counted), -EBUSY (other references are
 * held). On any error *ticket is unchanged. Never blocks. */
KC_API int kc_arena_shrink(kc_arena_t *arena, kc_arena_ticket_t *ticket /* INOUT */, size_t len);

/* Drop one reference. The last release frees the payload (or, for wrapped
 * region memory, drops the region's use count) and the ticket goes stale.
 * Returns 1 when this call freed the payload, 0 when references remain.
 * Errors: -EINVAL (arena NULL or null ticket), -ESTALE (the ticket was
 * already fully released, i.e. a double release, counted as such; or a
 * foreign/forged ticket, counted as a stale rejection). Never blocks; may
 * take the internal mutex briefly when the thread's cache overflows. */
KC_API int kc_arena_release(kc_arena_t *arena, kc_arena_ticket_t ticket);

/* Register [ptr, ptr+len) as an external region that tickets may point
 * into. flags: 0 or KC_ARENA_REGION_RDONLY. Returns the region id (> 0).
 * BORROWS ptr: the memory stays the caller's and must outlive the
 * registration. Errors: -EINVAL (NULL ptr, len 0, unknown flags, overlap
 * with the arena's RAM or with another region), -ENOMEM (KC_ARENA_REGIONS_MAX
 * regions already registered). Never blocks. */
KC_API int kc_arena_register_region(kc_arena_t *arena, void *ptr, size_t len, uint32_t flags);

/* Unregister a region. Errors: -EBUSY (tickets into it are still live;
 * nothing changes), -ESTALE (no such region, or the id is from a region
 * already unregistered), -EINVAL (arena NULL). Never blocks. */
KC_API int kc_arena_unregister_region(kc_arena_t *arena, int region);

/* Issue a ticket for [ptr, ptr+len) inside a registered region, without
 * copying; it holds one reference and counts as a use of the region until
 * its last release. GIVES: release with kc_arena_release().
 * Errors: -EINVAL (NULL arguments, len 0 or above UINT32_MAX, range not
 * inside the region), -ESTALE (region not registered), -ENOMEM (ticket table
 * full; counted). Never blocks. */
KC_API int kc_arena_wrap(kc_arena_t *arena, int region, const void *ptr, size_t len,
                         kc_arena_ticket_t *ticket /* OUT */);

/* Return the calling thread's cached free blocks to the arena, so other
 * threads (and kc_arena_purge()) can use them. Call it when a worker goes
 * idle; thread exit does it automatically. Accepts NULL. Never blocks. */
KC_API void kc_arena_flush(kc_arena_t *arena);

/* Hand free pages back to the OS (the calling thread's cache is flushed
 * first). Their address range stays reserved and reads as zeroes when used
 * again. Returns the number of pages handed back by this call (also added to
 * the metrics), or -EINVAL (arena NULL) or -ENOMEM (the OS refused; the
 * pages stay usable). Never blocks on other threads; makes system calls. */
KC_API int kc_arena_purge(kc_arena_t *arena);

/* Fill *out with a metrics snapshot. The caller sets out->size first.
 * Errors: -EINVAL (NULL arguments, out->size smaller than the first two
 * fields). Never blocks. */
KC_API int kc_arena_metrics(kc_arena_t *arena, kc_arena_metrics_t *out /* INOUT */);

/* Write the allocation table to f as text or JSON: summary and metrics,
 * regions, page runs (free, slab or run), and every live ticket with its
 * generation, refcount, length and location. Ticket rows are read without a
 * lock, so a dump taken while other threads run is a consistent view of
 * each row, not of the whole table. Errors: -EINVAL (NULL arguments, unknown
 * format), -ENOMEM (no memory for the page-map copy), -EIO (writing to f
 * failed). Never blocks on other threads. */
KC_API int kc_arena_dump(kc_arena_t *arena, FILE *f, kc_arena_dump_format_t format);

/* Check the arena's invariants (I1-I8 in kc_arena_impl.h). Call it when no
 * other thread is using the arena. Returns 0 when they hold, or -EPROTO and
 * prints the first violated invariant to stderr; -EINVAL for NULL.
 * Never blocks. */
KC_API int kc_arena_check(kc_arena_t *arena);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_ARENA_H */
