/* kc_bus_ring.c - the publishing half of the ring: slots, batches, wake-ups.
 *
 * Each slot is a seqlock. A publisher writing sequence s into slot
 * i = s & mask stores BUSY(s) in its slot word, a release fence, the ready
 * mask (masked messages only) and the payload words (relaxed atomic
 * stores), then READY(s) with a release store, and finally the tail
 * (release). A batch does the same with one fence per ring's worth of
 * messages. The READY store is a release store rather than a fence and a
 * relaxed store so that memory written before the publish (an arena
 * payload behind a ticket) is ordered by an edge ThreadSanitizer sees too;
 * on x86 both compile to a plain store. Readers (kc_bus_recv.c) validate
 * their copies against the slot words; every shared access is atomic, so the protocol is data-race-free
 * under the C11 model and under TSan, and the fences make it correct on
 * weakly ordered CPUs (AArch64).
 *
 * The per-message work is straight-line: membership changes, several
 * publisher handles and topic masks are each one predictable branch; the
 * published count is the tail, delivered counts are derived from cursors,
 * and a full-mask message writes no ready word.
 *
 * Wake-ups are edge-triggered and coalesced through one word, `want`: a
 * receiver about to sleep sets its bit and issues a seq_cst fence, re-checks the ring
 * and parks. After its stores a publisher issues one seq_cst fence and loads
 * `want` once; only addressed bits that are set cost anything more: it
 * clears them with one RMW, and each bit it cleared (the edge) earns exactly
 * one unpark. A receiver that never sleeps costs the publisher nothing, and
 * any number of messages before it drains produce one wake-up. The two
 * seq_cst operations form a Dekker pair: either the publisher sees the bit,
 * or the receiver's re-check sees the message. model/bus_wake.pml checks
 * this protocol in SPIN.
 *
 * Invariants (numbering continues kc_bus.c's list):
 *   8. A publisher clears a want bit only with the RMW in kc__bus_wake, and
 *      unparks the subscriber exactly once for each bit that RMW cleared.
 *   9. published == tail; notify_sends <= addressed.
 *  10. Ticket bus: the bus holds exactly one reference to the ticket of
 *      every live slot (sequences [tail - cap, tail)) and to no other; it
 *      drops a slot's reference when the slot is overwritten or the bus is
 *      freed.
 */
#include "kc_bus_impl.h"

#include <limits.h>
#include <string.h>

#define RELAXED memory_order_relaxed

static void rebuild_topics(struct kc_bus_pubside *ps)
{
    ps->topics_used = 0;
    for (int t = 0; t < 64; t++)
        if (ps->topic_subs[t] != 0)
            ps->topics_used |= (uint64_t)1 << t;
}

/* Apply pending joins and leaves to the publisher tables (the publisher's
 * side of kc_bus.c's slot states); the caller is the publisher (lock-free
 * mode) or holds pub_mu. Never blocks. */
static void apply_changes(struct kc_bus *b)
{
    struct kc_bus_pubside *ps = &b->pub;
    uint64_t tail = atomic_load_explicit(&ps->tail, memory_order_relaxed);

    for (int i = 0; i < KC_BUS_MAX_SUBS; i++) {
        struct kc_bus_sub *s = &b->subs[i];
        /* Acquire pairs with the subscriber's release of JOINING/LEAVING. */
        uint32_t st = atomic_load_explicit(&s->state, memory_order_acquire);
        uint64_t topics = atomic_load_explicit(&s->topics, memory_order_relaxed);
        bool in_live = (ps->live & s->bit) != 0;

        if (st == KC_BUS_S_JOINING && !in_live) {
            for (int t = 0; t < 64; t++)
                if (topics & ((uint64_t)1 << t))
                    ps->topic_subs[t] |= s->bit;
            ps->live |= s->bit;
            /* The owner reads neither before it sees ACTIVE (below). */
            atomic_store_explicit(&s->start, tail, memory_order_relaxed);
            atomic_store_explicit(&s->next, tail, memory_order_relaxed);
            uint32_t want = KC_BUS_S_JOINING;
            /* Release pairs with the subscriber's acquire load of ACTIVE:
             * start is visible first. A concurrent unsubscribe wins the CAS
             * race and the slot is freed below on the next pass. */
            if (!atomic_compare_exchange_strong_explicit(
                    &s->state, &want, KC_BUS_S_ACTIVE, memory_order_release, memory_order_relaxed))
                atomic_store_explicit(&b->changes, 1, memory_order_relaxed);
        } else if (st == KC_BUS_S_LEAVING) {
            for (int t = 0; t < 64; t++)
                ps->topic_subs[t] &= ~s->bit;
            ps->live &= ~s->bit;
            /* Release pairs with subscribe's acquire CAS on FREE. */
            atomic_store_explicit(&s->state, KC_BUS_S_FREE, memory_order_release);
        }
    }
    rebuild_topics(ps);
    ps->nlive = kc__bus_bits(ps->live);
    atomic_store_explicit(&ps->live_count, (uint64_t)ps->nlive, memory_order_relaxed);
}

/* The subscribers a message with these topics goes to (publisher tables). */
static uint64_t addressees(const struct kc_bus_pubside *ps, uint64_t topics)
{
    if (topics == KC_BUS_MASK_ALL)
        return ps->live;
    uint64_t ready = 0, m = topics & ps->topics_used;
    while (m != 0) {
        ready |= ps->topic_subs[__builtin_ctzll(m)];
        m &= m - 1;
    }
    return ready;
}

int kc__bus_wake(struct kc_bus *b, uint64_t who)
{
    /* Relaxed: the caller's seq_cst fence orders this load after its
     * stores (the Dekker pair with the fence of the receiver's arm). */
    uint64_t hit = atomic_load_explicit(&b->want, RELAXED) & who;
    int n = 0;

    if (hit == 0)
        return 0;
    /* acq_rel: release pairs with the receiver's disarm RMW (what we wrote
     * before is visible once it sees its bit gone); acquire orders the
     * unparks after the clear (invariant 8). */
    hit &= atomic_fetch_and_explicit(&b->want, ~hit, memory_order_acq_rel);
    while (hit != 0) {
        struct kc_bus_sub *s = &b->subs[__builtin_ctzll(hit)];
        hit &= hit - 1;
        atomic_fetch_add_explicit(&s->notified, 1, RELAXED);
        kc_unpark(&s->parker);
        n++;
    }
    return n;
}

/* Start a publish: serialise with other publisher handles if there are any,
 * and apply membership changes. Returns whether pub_mu is held. */
static inline bool enter(struct kc_bus *b)
{
    bool locked = false;

    /* Acquire pairs with clone/release's acq_rel: one handle means no other
     * publisher can run concurrently (see bus.h). */
    if (__builtin_expect(atomic_load_explicit(&b->npub, memory_order_acquire) > 1, 0)) {
        pthread_mutex_lock(&b->pub_mu);
        locked = true;
    }
    /* Acquire pairs with subscribe/unsubscribe's release store. */
    if (__builtin_expect(atomic_load_explicit(&b->changes, RELAXED), 0) &&
        atomic_exchange_explicit(&b->changes, 0, memory_order_acquire))
        apply_changes(b);
    return locked;
}

/* Finish a publish of n messages to `ready`: counters, then the wake-ups.
 * Returns the number of subscribers addressed. */
static inline int finish(struct kc_bus *b, uint64_t ready, uint64_t n, bool locked)
{
    struct kc_bus_pubside *ps = &b->pub;
    int cnt = 0;

    if (__builtin_expect(ready == 0, 0)) {
        kc__bus_bump(&ps->no_receivers, n);
    } else {
        cnt = ready == ps->live ? ps->nlive : kc__bus_bits(ready);
        kc__bus_bump(&ps->addressed, (uint64_t)cnt);
        /* Dekker fence: pairs with the receiver's seq_cst arm in
         * kc_bus_recv; orders the READY/tail stores before the want load. */
        atomic_thread_fence(memory_order_seq_cst);
        int sent = kc__bus_wake(b, ready);
        if (sent)
            kc__bus_bump(&ps->notify_sends, (uint64_t)sent);
    }
    if (locked)
        pthread_mutex_unlock(&b->pub_mu);
    return cnt;
}

/* Store count words from src with relaxed atomic stores. */
static void put_words(_Atomic uint64_t *dst, const unsigned char *src, size_t count)
{
    for (size_t w = 0; w < count; w++) {
        uint64_t v;
        memcpy(&v, src + w * 8u, 8);
        atomic_store_explicit(&dst[w], v, RELAXED);
    }
}

/* Store n whole-word messages, back to back in msgs, into the slots of
 * sequences tail..tail+n-1 (n <= cap). SoA: the payloads of consecutive
 * slots are contiguous words, one loop per piece (two when the run wraps);
 * AoS: slot by slot, walking the slots by their stride. */
static void store_words(struct kc_bus *b, uint64_t tail, const unsigned char *msgs, size_t n)
{
    uint64_t i0 = tail & b->mask;
    size_t first = n < b->cap - i0 ? n : (size_t)(b->cap - i0);
#ifndef KC_BUS_LAYOUT_AOS
    put_words(KC_BUS_MSG(b, i0), msgs, first * b->words);
    if (first < n)
        put_words(KC_BUS_MSG(b, 0), msgs + first * b->words * 8u, (n - first) * b->words);
#else
    _Atomic uint64_t *dst = KC_BUS_MSG(b, i0);
    for (size_t k = 0; k < n; k++, dst += b->stride) {
        if (k == first)
            dst = KC_BUS_MSG(b, 0);
        put_words(dst, msgs + k * b->words * 8u, b->words);
    }
#endif
}

/* Write msgs[0..n) (n <= cap; stride bytes apart, len bytes each) as
 * sequences tail..tail+n-1, then advance the tail. */
static void write_run(struct kc_bus *b, uint64_t tail, uint64_t ready, bool masked,
                      const unsigned char *msgs, size_t stride, size_t len, size_t n)
{
    uint64_t flag = masked ? KC_BUS_W_MASKED : 0;

    for (size_t k = 0; k < n; k++)
        atomic_store_explicit(KC_BUS_SEQ(b, (tail + k) & b->mask), KC_BUS_BUSY(tail + k), RELAXED);
    /* Release fence: a reader whose copy sees any word below also sees BUSY
     * (pairs with the reader's acquire fence before its re-check). */
    atomic_thread_fence(memory_order_release);
    if (masked)
        for (size_t k = 0; k < n; k++)
            atomic_store_explicit(KC_BUS_MASKW(b, (tail + k) & b->mask), ready, RELAXED);
    if (len == (size_t)b->words * 8u && stride == len) {
        store_words(b, tail, msgs, n);
    } else {
        for (size_t k = 0; k < n; k++)
            kc__bus_store_msg(KC_BUS_MSG(b, (tail + k) & b->mask), b->words, msgs + k * stride,
                              len);
    }
    /* Release: the words above happen before a READY word a reader loads
     * with acquire (or relaxed, then an acquire fence). */
    for (size_t k = 0; k < n; k++)
        atomic_store_explicit(KC_BUS_SEQ(b, (tail + k) & b->mask), KC_BUS_READY(tail + k) | flag,
                              memory_order_release);
    if (masked)
        atomic_store_explicit(&b->pub.masked_hi, tail + n, RELAXED);
    /* Release pairs with the readers' acquire loads of the tail (runs, lag). */
    atomic_store_explicit(&b->pub.tail, tail + n, memory_order_release);
}

int kc_bus_publish(kc_bus_pub_t *pub, const void *msg, size_t len)
{
    return kc_bus_publish_with_mask(pub, KC_BUS_MASK_ALL, msg, len);
}

/* The general single publish: several publishers, membership changes,
 * topic masks (kc_bus_publish_with_mask takes the common case itself). */
static int publish_one(struct kc_bus *b, uint64_t topics, const void *msg, size_t len)
{
    if (b->arena != NULL)
        return -ENOTSUP;
    bool locked = enter(b);
    uint64_t ready = addressees(&b->pub, topics);
    uint64_t s = atomic_load_explicit(&b->pub.tail, RELAXED);

    write_run(b, s, ready, ready != b->pub.live, msg, 0, len, 1);
    return finish(b, ready, 1, locked);
}

int kc_bus_publish_with_mask(kc_bus_pub_t *pub, uint64_t topics, const void *msg, size_t len)
{
    struct kc_bus *b;

    if (pub == NULL || pub->bus == NULL || msg == NULL || topics == 0)
        return -EINVAL;
    b = pub->bus;
    if (len > b->msg_size)
        return -EMSGSIZE;
    /* The fast path: one publisher handle, no membership change pending,
     * the full mask, a whole-word message on a byte bus (fast_len). Acquire
     * on npub as in enter(). */
    if (__builtin_expect(topics != KC_BUS_MASK_ALL || len != b->fast_len ||
                             atomic_load_explicit(&b->npub, memory_order_acquire) > 1 ||
                             atomic_load_explicit(&b->changes, RELAXED) != 0,
                         0))
        return publish_one(b, topics, msg, len);

    struct kc_bus_pubside *ps = &b->pub;
    uint64_t s = atomic_load_explicit(&ps->tail, RELAXED);
    uint64_t i = s & b->mask;
    _Atomic uint64_t *dst = KC_BUS_MSG(b, i);

    atomic_store_explicit(KC_BUS_SEQ(b, i), KC_BUS_BUSY(s), RELAXED);
    /* Release fence: see write_run. */
    atomic_thread_fence(memory_order_release);
    for (uint32_t w = 0; w < b->words; w++) {
        uint64_t v;
        memcpy(&v, (const unsigned char *)msg + (size_t)w * 8u, 8);
        atomic_store_explicit(&dst[w], v, RELAXED);
    }
    /* Release: see write_run. */
    atomic_store_explicit(KC_BUS_SEQ(b, i), KC_BUS_READY(s), memory_order_release);
    /* Release pairs with the readers' acquire loads of the tail (runs, lag). */
    atomic_store_explicit(&ps->tail, s + 1, memory_order_release);
    if (__builtin_expect(ps->live == 0, 0)) {
        kc__bus_bump(&ps->no_receivers, 1);
        return 0;
    }
    kc__bus_bump(&ps->addressed, (uint64_t)ps->nlive);
    /* Dekker fence: see finish(). */
    atomic_thread_fence(memory_order_seq_cst);
    if (__builtin_expect((atomic_load_explicit(&b->want, RELAXED) & ps->live) != 0, 0)) {
        int sent = kc__bus_wake(b, ps->live);
        kc__bus_bump(&ps->notify_sends, (uint64_t)sent);
    }
    return ps->nlive;
}

int kc_bus_publish_batch(kc_bus_pub_t *pub, uint64_t topics, const void *msgs, size_t n)
{
    struct kc_bus *b;

    if (pub == NULL || pub->bus == NULL || msgs == NULL || n == 0 || n > INT_MAX || topics == 0)
        return -EINVAL;
    b = pub->bus;
    if (b->arena != NULL)
        return -ENOTSUP;
    bool locked = enter(b);
    uint64_t ready = addressees(&b->pub, topics);
    uint64_t tail = atomic_load_explicit(&b->pub.tail, RELAXED);
    size_t done = 0;

    while (done < n) {
        size_t chunk = n - done < b->cap ? n - done : b->cap;
        write_run(b, tail + done, ready, ready != b->pub.live,
                  (const unsigned char *)msgs + done * b->msg_size, b->msg_size, b->msg_size,
                  chunk);
        done += chunk;
    }
    int k = 63 - __builtin_clzll((unsigned long long)n);
    kc__bus_bump(&b->pub.batch_publish, 1);
    kc__bus_bump(&b->pub.hist[k < KC_BUS_HIST_BUCKETS ? k : KC_BUS_HIST_BUCKETS - 1], 1);
    return finish(b, ready, n, locked);
}

int kc_bus_publish_ticket(kc_bus_pub_t *pub, uint64_t topics, kc_arena_ticket_t ticket)
{
    static const kc_arena_ticket_t null_ticket = KC_ARENA_TICKET_NULL;
    struct kc_bus *b;

    if (pub == NULL || pub->bus == NULL || topics == 0 ||
        memcmp(&ticket, &null_ticket, sizeof(ticket)) == 0)
        return -EINVAL;
    b = pub->bus;
    if (b->arena == NULL)
        return -ENOTSUP;
    bool locked = enter(b);
    uint64_t ready = addressees(&b->pub, topics);
    uint64_t s = atomic_load_explicit(&b->pub.tail, RELAXED);
    uint64_t i = s & b->mask;
    /* The slot holds sequence s - cap once the ring has wrapped: its ticket
     * is the bus's to drop (invariant 10). Publisher-owned memory: only
     * publishers write it, and they are serialised. */
    bool had = s >= b->cap;
    kc_arena_ticket_t old = had ? kc__bus_slot_ticket(b, i) : ticket;

    write_run(b, s, ready, ready != b->pub.live, (const unsigned char *)&ticket, 0, sizeof(ticket),
              1);
    /* After READY: a reader that copied the old ticket either retained it
     * already (its own reference) or will fail to (tickets_stale). */
    if (had && kc_arena_release(b->arena, old) >= 0)
        kc__bus_bump(&b->pub.tickets_released, 1);
    return finish(b, ready, 1, locked);
}
