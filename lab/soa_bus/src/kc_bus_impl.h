/* kc_bus_impl.h - internal layout of the SoA broadcast bus.
 *
 * The ring is three parallel arrays: seq[cap] (a seqlock word per slot),
 * ready[cap] (the subscriber bits a masked message is addressed to) and
 * msg[cap * words] (the payloads as 64-bit words). Publisher-owned state
 * (the tail, the membership tables, publisher counters) sits on its own
 * 128-byte lines; each subscriber owns a 128-byte line for its cursor and
 * counters and shares a second line with the publishers (state, start,
 * parker). The `want` mask, one bit per subscriber that announced it is
 * about to sleep, has a line of its own. 128 bytes, not 64: the x86
 * adjacent-line prefetcher and large Arm cores pair lines, so 64-byte
 * padding still shares.
 *
 * Slot words. READY(s) = (s + 1) << 2; bit 0 marks a slot being written
 * (BUSY), bit 1 marks a masked message whose addressees are in ready[i]. A
 * word without bit 1 means "every subscriber that had joined when it was
 * published", so full-mask messages never touch ready[] at all.
 *
 * Layout. Every access to a slot goes through KC_BUS_SEQ, KC_BUS_MASKW and
 * KC_BUS_MSG. Compiled with KC_BUS_LAYOUT_AOS defined, the same sources build
 * an array-of-structures ring instead (one {seq, ready, payload} struct per
 * slot); lab/soa_bus/bench does that to measure what the layout is worth
 * with everything else identical. The library itself is always SoA.
 */
#ifndef KCORO_KC_BUS_IMPL_H
#define KCORO_KC_BUS_IMPL_H

#include "kcoro/bus.h"
#include "kcoro/park.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* KC_BUS_LINE is the padding unit for hot fields (see above). */
#define KC_BUS_LINE 128

/* Slot word flags and values (see above). */
#define KC_BUS_W_BUSY 1u
#define KC_BUS_W_MASKED 2u
#define KC_BUS_READY(s) (((uint64_t)(s) + 1u) << 2)
#define KC_BUS_BUSY(s) (KC_BUS_READY(s) | KC_BUS_W_BUSY)
/* s + 1 for the sequence a slot word belongs to; 0 = never written. */
#define KC_BUS_GEN(w) ((w) >> 2)
/* The sequence a nonzero slot word belongs to. */
#define KC_BUS_SEQ_OF(w) (KC_BUS_GEN(w) - 1u)

/* Slot accessors: the only code that knows the layout. */
#ifdef KC_BUS_LAYOUT_AOS
#define KC_BUS_SEQ(b, i) (&(b)->msg[(size_t)(i) * (b)->stride])
#define KC_BUS_MASKW(b, i) (KC_BUS_SEQ(b, i) + 1)
#define KC_BUS_MSG(b, i) (KC_BUS_SEQ(b, i) + 2)
#else
#define KC_BUS_SEQ(b, i) (&(b)->seq[(i)])
#define KC_BUS_MASKW(b, i) (&(b)->ready[(i)])
#define KC_BUS_MSG(b, i) (&(b)->msg[(size_t)(i) * (b)->words])
#endif

/* ---------------------------------------------------------------- bus */

/* Subscriber slot states (kc_bus.c draws the transitions). */
enum {
    KC_BUS_S_FREE = 0,    /* unused; subscribe may claim it */
    KC_BUS_S_CLAIMED = 1, /* subscribe is initialising it */
    KC_BUS_S_JOINING = 2, /* waiting for a publisher to assign start */
    KC_BUS_S_ACTIVE = 3,  /* in the publisher's tables */
    KC_BUS_S_LEAVING = 4  /* unsubscribed; a publisher will free it */
};

/* One subscriber. Line 1 is written by its owner only (and once by the
 * publisher that joins it, before the owner may read it); line 2 by the
 * publishers (notified, start, state) and the owner (state, on leaving).
 * delivered is not stored: it is next - start - lagged - filtered. */
struct kc_bus_sub {
    /* line 1: the owner's cursor and counters (single writer) */
    _Alignas(KC_BUS_LINE) struct kc_bus *bus;
    _Atomic uint64_t next; /* next sequence to read */
    _Atomic uint64_t lagged;
    _Atomic uint64_t filtered;
    _Atomic uint64_t parks;
    uint64_t bit; /* 1 << index */
    bool joined;  /* owner-private: next is valid */
    /* line 2: shared with the publishers */
    _Alignas(KC_BUS_LINE) _Atomic uint32_t state; /* KC_BUS_S_* */
    _Atomic uint64_t topics;                      /* topic mask, set before JOINING */
    _Atomic uint64_t start;                       /* assigned by a publisher before ACTIVE */
    _Atomic uint64_t notified;                    /* wake-ups sent to it */
    kc_parker_t parker;                           /* bound by kc_bus_recv to whoever waits */
};

/* Publisher-owned state: touched only by the publisher in lock-free mode
 * (one handle) or under pub_mu (several handles). published == tail. */
struct kc_bus_pubside {
    _Alignas(KC_BUS_LINE) _Atomic uint64_t tail; /* next sequence to publish */
    _Atomic uint64_t masked_hi;                  /* 1 + the last masked sequence (0: none) */
    _Atomic uint64_t no_receivers;
    _Atomic uint64_t addressed; /* sum over publish calls (sweeps) of addressees */
    _Atomic uint64_t notify_sends;
    _Atomic uint64_t batch_publish;
    _Atomic uint64_t tickets_released;
    _Atomic uint64_t live_count; /* popcount(live), for metrics */
    uint64_t live;               /* bits of ACTIVE subscribers */
    uint64_t topics_used;        /* topics with at least one subscriber */
    int nlive;                   /* popcount(live), for the publish result */
    _Alignas(KC_BUS_LINE) _Atomic uint64_t hist[KC_BUS_HIST_BUCKETS];
    uint64_t topic_subs[64]; /* topic bit -> subscriber bits */
};

struct kc_registry_node;

struct kc_bus {
    /* read-mostly line: geometry, arrays, lifetime */
    _Alignas(KC_BUS_LINE) _Atomic uint64_t *seq;
    _Atomic uint64_t *ready;
    _Atomic uint64_t *msg; /* SoA: payloads; AoS: the slot structs */
    void *arrays;          /* the one allocation behind the three */
    uint64_t mask;         /* cap - 1 */
    uint32_t cap;
    uint32_t words;  /* 64-bit words per message */
    uint32_t stride; /* AoS only: words per slot struct */
    size_t msg_size;
    size_t fast_len;   /* the length the publish fast path takes (SIZE_MAX: none) */
    kc_arena_t *arena; /* ticket bus: the arena the tickets belong to */
    uint64_t autotune_warn;
    _Atomic int refs;                 /* bus handle + publishers + subscribers */
    _Atomic int npub;                 /* live publisher handles */
    _Atomic int closed;               /* 1 once npub reached 0 */
    _Atomic int changes;              /* 1 = a subscriber joined or left */
    pthread_mutex_t pub_mu;           /* serialises publishers when npub > 1 */
    uint64_t id;                      /* kc_registry_new_id() at create */
    char name[32];                    /* opts.name or "bus-<id>" */
    struct kc_registry_node *obs_reg; /* registry entry, or NULL */
    /* subscriber-written shared counters, off the read-mostly line */
    _Alignas(KC_BUS_LINE) _Atomic uint64_t receiver_lag;
    _Atomic uint64_t tickets_stale;
    /* subscribers about to sleep: set by them, cleared by a waker */
    _Alignas(KC_BUS_LINE) _Atomic uint64_t want;
    struct kc_bus_pubside pub;
    struct kc_bus_sub subs[KC_BUS_MAX_SUBS];
};

struct kc_bus_pub {
    struct kc_bus *bus;
};

/* Drop one reference; the last frees the bus. Never blocks. */
void kc__bus_unref(struct kc_bus *b);

/* Wake every subscriber in `who` that armed its want bit: clear the bits,
 * then unpark each subscriber whose bit this call cleared. Returns how many
 * it woke. The caller issued a seq_cst fence after its last store the
 * subscribers must see. Never blocks. */
int kc__bus_wake(struct kc_bus *b, uint64_t who);

/* Bits set in x, without a libgcc call where the target has no popcnt. */
static inline int kc__bus_bits(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (int)((x * 0x0101010101010101ull) >> 56);
}

/* Add n to a counter that has a single writer: no RMW needed. */
static inline void kc__bus_bump(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Store len bytes of src as payload words (relaxed atomic stores), zero
 * past len up to words * 8. Whole words go as single 8-byte loads; only the
 * tail word takes a variable-length copy, so no store-forwarding stall. */
static inline void kc__bus_store_msg(_Atomic uint64_t *dst, uint32_t words, const void *src,
                                     size_t len)
{
    const unsigned char *p = src;
    uint32_t w = 0, full = (uint32_t)(len / 8u);

    for (; w < full; w++) {
        uint64_t v;
        memcpy(&v, p + (size_t)w * 8u, 8);
        atomic_store_explicit(&dst[w], v, memory_order_relaxed);
    }
    if (w < words) {
        uint64_t v = 0;
        memcpy(&v, p + (size_t)w * 8u, len % 8u);
        atomic_store_explicit(&dst[w++], v, memory_order_relaxed);
    }
    for (; w < words; w++)
        atomic_store_explicit(&dst[w], 0, memory_order_relaxed);
}

/* Load a payload of len bytes (the message size) from its words with
 * relaxed atomic loads; the caller validates the copy afterwards. */
static inline void kc__bus_load_msg(void *dst, size_t len, const _Atomic uint64_t *src,
                                    uint32_t words)
{
    unsigned char *p = dst;
    uint32_t w = 0, full = (uint32_t)(len / 8u);

    for (; w < full; w++) {
        uint64_t v = atomic_load_explicit(&src[w], memory_order_relaxed);
        memcpy(p + (size_t)w * 8u, &v, 8);
    }
    if (w < words) {
        uint64_t v = atomic_load_explicit(&src[w], memory_order_relaxed);
        memcpy(p + (size_t)w * 8u, &v, len % 8u);
    }
}

/* Ticket bus: the ticket in slot i (the caller knows it holds one). */
static inline kc_arena_ticket_t kc__bus_slot_ticket(struct kc_bus *b, uint64_t i)
{
    kc_arena_ticket_t t;
    kc__bus_load_msg(&t, sizeof(t), KC_BUS_MSG(b, i), b->words);
    return t;
}

#endif /* KCORO_KC_BUS_IMPL_H */
