/* kc_bus_aos.h - the array-of-structures baseline the SoA bus is measured against.
 *
 * Same protocol as src/kc_bus_ring.c, different layout: one struct per slot
 * holding {seq, ready mask, payload words} side by side, the way a ring is
 * usually written (tokio's broadcast keeps {pos, rem, value} per slot). The
 * slot is a seqlock with the same fences; the publisher runs the same
 * notify sweep (one seq_cst fence, a pending load per addressed subscriber),
 * so the figures differ by layout alone. With clear_rmw set, a reader also
 * clears its bit in the slot's ready mask with an atomic RMW after each
 * read, the per-slot read-modify-write tokio removed (tokio PR 8357): the
 * bench measures what it costs in both layouts.
 *
 * Single publisher, subscribers polled with try_recv; no close, no blocking.
 * publish and try_recv stay out of line, as the library calls they are
 * compared with. Bench-only: not part of src/, never graduates.
 */
#ifndef KCORO_KC_BUS_AOS_H
#define KCORO_KC_BUS_AOS_H

#include "kc_bus_impl.h"

#include <stdlib.h>
#include <string.h>

/* A subscriber cursor on its own 128-byte line, as in the SoA bus. */
struct aos_sub {
    _Alignas(KC_BUS_LINE) _Atomic uint64_t next;
    _Atomic uint64_t delivered;
    _Atomic uint64_t lagged;
    uint64_t bit;
    _Alignas(KC_BUS_LINE) _Atomic uint32_t pending;
};

struct aos_bus {
    _Atomic uint64_t *slots; /* cap * stride words: seq, ready, payload */
    void *mem;
    uint64_t mask;
    uint32_t cap, words, stride;
    size_t msg_size;
    int nsubs;
    bool clear_rmw; /* readers clear their ready bit (RMW) */
    _Alignas(KC_BUS_LINE) _Atomic uint64_t tail;
    _Atomic uint64_t published, sends, suppressed;
    struct aos_sub subs[KC_BUS_MAX_SUBS];
};

static inline struct aos_bus *aos_create(uint32_t cap, size_t msg_size, int nsubs, bool clear_rmw)
{
    struct aos_bus *b = NULL;
    if (posix_memalign((void **)&b, KC_BUS_LINE, sizeof(*b)) != 0)
        return NULL;
    memset(b, 0, sizeof(*b));
    b->cap = cap;
    b->mask = cap - 1u;
    b->msg_size = msg_size;
    b->words = (uint32_t)((msg_size + 7u) / 8u);
    b->stride = 2u + b->words;
    b->nsubs = nsubs;
    b->clear_rmw = clear_rmw;
    if (posix_memalign(&b->mem, KC_BUS_LINE, (size_t)cap * b->stride * 8u) != 0) {
        free(b);
        return NULL;
    }
    memset(b->mem, 0, (size_t)cap * b->stride * 8u);
    b->slots = (_Atomic uint64_t *)b->mem;
    for (int i = 0; i < nsubs; i++)
        b->subs[i].bit = (uint64_t)1 << i;
    return b;
}

static inline void aos_destroy(struct aos_bus *b)
{
    if (b != NULL)
        free(b->mem);
    free(b);
}

static inline _Atomic uint64_t *aos_slot(struct aos_bus *b, uint64_t s)
{
    return &b->slots[(s & b->mask) * b->stride];
}

static inline void aos_bump(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Every subscriber's bit: the full-mask addressees. */
static inline uint64_t aos_all(const struct aos_bus *b)
{
    return b->nsubs == 64 ? UINT64_MAX : (((uint64_t)1 << b->nsubs) - 1u);
}

/* Publish one message to the subscribers in ready (the caller resolved
 * topics to subscriber bits, as the SoA publisher's tables do). */
__attribute__((noinline)) static int aos_publish(struct aos_bus *b, uint64_t ready, const void *msg,
                                                 size_t len)
{
    uint64_t s = atomic_load_explicit(&b->tail, memory_order_relaxed);
    _Atomic uint64_t *slot = aos_slot(b, s);

    atomic_store_explicit(&slot[0], KC_BUS_BUSY(s), memory_order_relaxed);
    /* Release fence: pairs with the reader's acquire fence (torn check). */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&slot[1], ready, memory_order_relaxed);
    kc__bus_store_msg(&slot[2], b->words, msg, len);
    /* Release fence: pairs with the reader's acquire load of READY. */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&slot[0], KC_BUS_READY(s), memory_order_relaxed);
    /* Release pairs with the acquire load of the tail on lag. */
    atomic_store_explicit(&b->tail, s + 1, memory_order_release);
    aos_bump(&b->published, 1);
    /* The same notify sweep as the SoA bus: Dekker fence, pending loads. */
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t sends = 0, suppressed = 0;
    for (uint64_t m = ready; m != 0; m &= m - 1) {
        struct aos_sub *sub = &b->subs[__builtin_ctzll(m)];
        /* acq_rel as in notify_sweep. */
        if (atomic_load_explicit(&sub->pending, memory_order_relaxed) == 0 &&
            atomic_exchange_explicit(&sub->pending, 1, memory_order_acq_rel) == 0)
            sends++;
        else
            suppressed++;
    }
    if (sends)
        aos_bump(&b->sends, sends);
    if (suppressed)
        aos_bump(&b->suppressed, suppressed);
    return __builtin_popcountll(ready);
}

/* Take subscriber i's next message: 0, KC_BUS_LAGGED or -EAGAIN. */
__attribute__((noinline)) static int aos_try_recv(struct aos_bus *b, int i, void *buf)
{
    struct aos_sub *sub = &b->subs[i];
    uint64_t next = atomic_load_explicit(&sub->next, memory_order_relaxed);
    _Atomic uint64_t *slot = aos_slot(b, next);
    /* Acquire pairs with the publisher's second release fence. */
    uint64_t w1 = atomic_load_explicit(&slot[0], memory_order_acquire);

    if (w1 == KC_BUS_READY(next)) {
        uint64_t ready = atomic_load_explicit(&slot[1], memory_order_relaxed);
        if (ready & sub->bit)
            kc__bus_load_msg(buf, b->msg_size, &slot[2], b->words);
        /* Acquire fence: pairs with the publisher's first release fence. */
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&slot[0], memory_order_relaxed) == w1) {
            if (b->clear_rmw && (ready & sub->bit))
                /* acq_rel: the last reader to clear may reclaim the slot. */
                atomic_fetch_and_explicit(&slot[1], ~sub->bit, memory_order_acq_rel);
            atomic_store_explicit(&sub->next, next + 1, memory_order_relaxed);
            if ((ready & sub->bit) == 0)
                return aos_try_recv(b, i, buf); /* filtered: skip it */
            aos_bump(&sub->delivered, 1);
            return 0;
        }
    } else if (w1 <= KC_BUS_BUSY(next)) {
        return -EAGAIN;
    }
    /* Overwritten: resume at the oldest live sequence. Acquire pairs with
     * the tail release in aos_publish. */
    uint64_t tail = atomic_load_explicit(&b->tail, memory_order_acquire);
    uint64_t oldest = tail > b->cap ? tail - b->cap : 0;
    if (oldest <= next)
        oldest = next + 1;
    aos_bump(&sub->lagged, oldest - next);
    atomic_store_explicit(&sub->next, oldest, memory_order_relaxed);
    return KC_BUS_LAGGED;
}

#endif /* KCORO_KC_BUS_AOS_H */
