/* kc_bus_impl.h - internal layout of the SoA broadcast bus and its waiter.
 *
 * The ring is three parallel arrays: seq[cap] (a seqlock word per slot),
 * ready[cap] (the subscriber bits a message is addressed to) and
 * msg[cap * words] (the payloads as 64-bit words). Publisher-owned state
 * (the tail, the membership tables, publisher counters) sits on its own
 * 128-byte lines; each subscriber owns a 128-byte line for its cursor and
 * counters and shares a second line with the publishers (pending flag,
 * waiter). 128 bytes, not 64: the x86 adjacent-line prefetcher and large
 * Arm cores pair lines, so 64-byte padding still shares.
 *
 * The blocking side goes through kc_bus_waiter, a permit parker with the
 * semantics of kc_park/kc_unpark: the protocol in kc_bus_ring.c only calls
 * kc__bus_waiter_park/_unpark, so the implementation can move to the
 * runtime's parker without touching the ring.
 */
#ifndef KCORO_KC_BUS_IMPL_H
#define KCORO_KC_BUS_IMPL_H

#include "kcoro/bus.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* KC_BUS_LINE is the padding unit for hot fields (see above). */
#define KC_BUS_LINE 128

/* Slot words: 0 = never written; READY(s) even, BUSY(s) odd, both > 0. */
#define KC_BUS_READY(s) (((uint64_t)(s) + 1u) << 1)
#define KC_BUS_BUSY(s) (KC_BUS_READY(s) | 1u)
/* The sequence a nonzero slot word belongs to. */
#define KC_BUS_SEQ_OF(w) (((w) >> 1) - 1u)

/* ---------------------------------------------------------------- waiter */

/* Waiter states (kc_bus_waiter.c draws the transitions). */
enum {
    KC_BUS_W_EMPTY = 0,   /* no permit, nobody parked */
    KC_BUS_W_PARKED = 1,  /* the owner sleeps on cv */
    KC_BUS_W_NOTIFIED = 2 /* a permit is waiting to be consumed */
};

/* A permit parker: one owner parks, anyone unparks. */
typedef struct kc_bus_waiter {
    _Atomic int state;  /* KC_BUS_W_* */
    pthread_mutex_t mu; /* guards the sleep on cv */
    pthread_cond_t cv;  /* signalled by unpark when PARKED */
} kc_bus_waiter_t;

/* Initialise w (EMPTY). 0 or -ENOMEM/-EAGAIN from pthread. Never blocks. */
int kc__bus_waiter_init(kc_bus_waiter_t *w);

/* Destroy w; nobody may be parked on it. Never blocks. */
void kc__bus_waiter_destroy(kc_bus_waiter_t *w);

/* Drop a stale permit (a new owner takes the waiter over). Never blocks. */
void kc__bus_waiter_reset(kc_bus_waiter_t *w);

/* Consume the permit if there is one, else sleep until kc__bus_waiter_unpark
 * or until deadline_ns (monotonic; UINT64_MAX = none) passes.
 * Returns 0 (a permit was consumed) or -ETIME. Can block. */
int kc__bus_waiter_park(kc_bus_waiter_t *w, uint64_t deadline_ns);

/* Make a permit available and wake the owner if it sleeps. Returns true if
 * it had to signal a sleeping owner. Never blocks beyond the short mutex. */
bool kc__bus_waiter_unpark(kc_bus_waiter_t *w);

/* ---------------------------------------------------------------- bus */

/* Subscriber slot states (kc_bus.c draws the transitions). */
enum {
    KC_BUS_S_FREE = 0,    /* unused; subscribe may claim it */
    KC_BUS_S_CLAIMED = 1, /* subscribe is initialising it */
    KC_BUS_S_JOINING = 2, /* waiting for a publisher to assign start */
    KC_BUS_S_ACTIVE = 3,  /* in the publisher's tables */
    KC_BUS_S_LEAVING = 4  /* unsubscribed; a publisher will free it */
};

/* One subscriber. Line 1 is written by its owner only; line 2 by the
 * publishers (pending, notified, start, state) and the owner (pending). */
struct kc_bus_sub {
    /* line 1: the owner's cursor and counters (single writer) */
    _Alignas(KC_BUS_LINE) struct kc_bus *bus;
    _Atomic uint64_t next; /* next sequence to read (owner-written) */
    _Atomic uint64_t delivered;
    _Atomic uint64_t lagged;
    _Atomic uint64_t filtered;
    _Atomic uint64_t parks;
    uint64_t bit; /* 1 << index */
    bool joined;  /* owner-private: next is valid */
    /* line 2: shared with the publishers */
    _Alignas(KC_BUS_LINE) _Atomic uint32_t pending; /* 1 = a wake is on its way */
    _Atomic uint32_t state;                         /* KC_BUS_S_* */
    _Atomic uint64_t topics;                        /* topic mask, set before JOINING */
    _Atomic uint64_t start;                         /* assigned by a publisher before ACTIVE */
    _Atomic uint64_t notified;                      /* edges sent to it (publisher-written) */
    kc_bus_waiter_t waiter;
};

/* Publisher-owned state: touched only by the publisher in lock-free mode
 * (one handle) or under pub_mu (several handles). */
struct kc_bus_pubside {
    _Alignas(KC_BUS_LINE) _Atomic uint64_t tail; /* next sequence to publish */
    _Atomic uint64_t published;
    _Atomic uint64_t no_receivers;
    _Atomic uint64_t notify_sends;
    _Atomic uint64_t notify_suppressed;
    _Atomic uint64_t batch_publish;
    _Atomic uint64_t live_count; /* popcount(live), for metrics */
    uint64_t live;               /* bits of ACTIVE subscribers */
    uint64_t topics_used;        /* topics with at least one subscriber */
    _Alignas(KC_BUS_LINE) _Atomic uint64_t hist[KC_BUS_HIST_BUCKETS];
    uint64_t topic_subs[64]; /* topic bit -> subscriber bits */
};

struct kc_bus {
    /* read-mostly line: geometry, arrays, lifetime */
    _Alignas(KC_BUS_LINE) _Atomic uint64_t *seq;
    _Atomic uint64_t *ready;
    _Atomic uint64_t *msg;
    void *arrays;  /* the one allocation behind the three */
    uint64_t mask; /* cap - 1 */
    uint32_t cap;
    uint32_t words; /* 64-bit words per message */
    size_t msg_size;
    uint64_t autotune_warn;
    _Atomic int refs;       /* bus handle + publishers + subscribers */
    _Atomic int npub;       /* live publisher handles */
    _Atomic int closed;     /* 1 once npub reached 0 */
    _Atomic int changes;    /* 1 = a subscriber joined or left */
    pthread_mutex_t pub_mu; /* serialises publishers when npub > 1 */
    /* subscriber-written shared counter, off the read-mostly line */
    _Alignas(KC_BUS_LINE) _Atomic uint64_t receiver_lag;
    struct kc_bus_pubside pub;
    struct kc_bus_sub subs[KC_BUS_MAX_SUBS];
};

struct kc_bus_pub {
    struct kc_bus *bus;
};

/* Drop one reference; the last frees the bus. Never blocks. */
void kc__bus_unref(struct kc_bus *b);

/* Apply pending joins and leaves to the publisher tables; the caller is the
 * publisher (lock-free mode) or holds pub_mu. Never blocks. */
void kc__bus_apply_changes(struct kc_bus *b);

/* Wake every joining or active subscriber unconditionally (close). */
void kc__bus_wake_all(struct kc_bus *b);

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

#endif /* KCORO_KC_BUS_IMPL_H */
