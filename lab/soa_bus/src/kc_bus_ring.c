/* kc_bus_ring.c - the SoA ring protocol: publish, receive, lag, wake-ups.
 *
 * Each slot is a seqlock. A publisher writing sequence s into slot
 * i = s & mask stores BUSY(s) in seq[i], a release fence, the ready mask and
 * the payload words (relaxed atomic stores), a release fence, then READY(s).
 * A reader expecting s loads seq[i] with acquire; READY(s) means it may copy
 * the words with relaxed loads, then an acquire fence and a second load of
 * seq[i] tell it whether the copy is whole (unchanged) or torn (a publisher
 * started overwriting: it lagged). Every access to shared data is atomic, so
 * the protocol is data-race-free under the C11 model and under TSan, and the
 * fences make it correct on weakly ordered CPUs (AArch64).
 *
 * A slot word below READY(s) means "not yet published"; above it means "s
 * was overwritten": the reader reports KC_BUS_LAGGED with n = the sequence
 * gap and resumes at the oldest live sequence (tail - cap). n counts every
 * overwritten message, whatever its topics: the ready masks of overwritten
 * slots are gone, so a per-topic count would be a guess. Per subscriber,
 * messages published since its start = delivered + lagged + filtered + unread.
 *
 * Wake-ups are edge-triggered and coalesced. After a batch the publisher
 * issues one seq_cst fence and, for each addressed subscriber, loads its
 * pending flag: 1 means a wake-up is already on its way (suppressed);
 * 0 -> 1 by exchange sends one (kc__bus_waiter_unpark). A blocking receiver
 * drains, stores pending = 0, issues a seq_cst fence and re-checks its next
 * slot before parking. The two fences form a Dekker pair: either the
 * publisher sees pending == 0 and unparks, or the receiver's re-check sees
 * the new READY word. model/bus_wake.pml checks this protocol in SPIN.
 *
 * Receiver states (one subscriber, in kc_bus_recv):
 *
 *   from       event                              to         function
 *   ---------  ---------------------------------  ---------  ----------------
 *   DRAINING   slot READY(next), copy whole       DRAINING   kc_bus_try_recv
 *   DRAINING   slot overwritten or copy torn      DRAINING   lagged(): n, resume
 *   DRAINING   slot not yet written               CLEARING   kc_bus_recv
 *   CLEARING   pending = 0, seq_cst fence         CHECKING   kc_bus_recv
 *   CHECKING   re-check finds a message/close     DRAINING   kc_bus_recv
 *   CHECKING   re-check finds nothing             PARKED     kc__bus_waiter_park
 *   PARKED     publisher edge 0 -> 1 or close     DRAINING   kc__bus_waiter_unpark
 *   PARKED     deadline passes                    (-ETIME)   kc__bus_waiter_park
 */
#include "kc_bus_impl.h"

#include "port/kc_port.h"

#include <limits.h>
#include <string.h>

#define RELAXED memory_order_relaxed

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

/* Bits set in x, without a libgcc call where the target has no popcnt. */
static int count_bits(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (int)((x * 0x0101010101010101ull) >> 56);
}

static void bump(_Atomic uint64_t *c, uint64_t n)
{
    /* Single writer (the publisher, or the holder of pub_mu): no RMW. */
    atomic_store_explicit(c, atomic_load_explicit(c, RELAXED) + n, RELAXED);
}

/* Write msgs[0..n) (n <= cap) as sequences tail..tail+n-1. */
static void write_chunk(struct kc_bus *b, uint64_t tail, uint64_t ready, const unsigned char *msgs,
                        size_t stride, size_t len, size_t n)
{
    for (size_t k = 0; k < n; k++)
        atomic_store_explicit(&b->seq[(tail + k) & b->mask], KC_BUS_BUSY(tail + k), RELAXED);
    /* Release fence: a reader whose copy sees any word below also sees BUSY
     * (pairs with the reader's acquire fence before its re-check). */
    atomic_thread_fence(memory_order_release);
    for (size_t k = 0; k < n; k++) {
        uint64_t i = (tail + k) & b->mask;
        atomic_store_explicit(&b->ready[i], ready, RELAXED);
        kc__bus_store_msg(&b->msg[i * b->words], b->words, msgs + k * stride, len);
    }
    /* Release fence: the words above happen before a READY word a reader
     * loads with acquire. */
    atomic_thread_fence(memory_order_release);
    for (size_t k = 0; k < n; k++)
        atomic_store_explicit(&b->seq[(tail + k) & b->mask], KC_BUS_READY(tail + k), RELAXED);
    /* Release pairs with the acquire load in lagged(). */
    atomic_store_explicit(&b->pub.tail, tail + n, memory_order_release);
}

/* One notify sweep over the addressed subscribers (see the file comment). */
static void notify_sweep(struct kc_bus *b, uint64_t ready)
{
    uint64_t sends = 0, suppressed = 0;

    /* Dekker fence, pairs with the receiver's fence in kc_bus_recv. */
    atomic_thread_fence(memory_order_seq_cst);
    while (ready != 0) {
        struct kc_bus_sub *s = &b->subs[__builtin_ctzll(ready)];
        ready &= ready - 1;
        /* acq_rel: release pairs with the receiver's acquire of the permit;
         * acquire orders the unpark after the exchange. */
        if (atomic_load_explicit(&s->pending, RELAXED) == 0 &&
            atomic_exchange_explicit(&s->pending, 1, memory_order_acq_rel) == 0) {
            bump(&s->notified, 1);
            kc__bus_waiter_unpark(&s->waiter);
            sends++;
        } else {
            suppressed++;
        }
    }
    if (sends)
        bump(&b->pub.notify_sends, sends);
    if (suppressed)
        bump(&b->pub.notify_suppressed, suppressed);
}

static int publish(struct kc_bus_pub *p, uint64_t topics, const void *msgs, size_t stride,
                   size_t len, size_t n, bool batch)
{
    struct kc_bus *b;
    uint64_t ready, tail;
    bool locked;
    size_t done;

    if (p == NULL || msgs == NULL || topics == 0 || p->bus == NULL)
        return -EINVAL;
    b = p->bus;
    if (len > b->msg_size)
        return -EMSGSIZE;
    /* Acquire pairs with clone/release's acq_rel: see the section comment of
     * bus.h; one handle means no other publisher can run concurrently. */
    locked = atomic_load_explicit(&b->npub, memory_order_acquire) > 1;
    if (locked)
        pthread_mutex_lock(&b->pub_mu);
    /* Acquire pairs with subscribe/unsubscribe's release store. */
    if (atomic_load_explicit(&b->changes, RELAXED) &&
        atomic_exchange_explicit(&b->changes, 0, memory_order_acquire))
        kc__bus_apply_changes(b);
    ready = addressees(&b->pub, topics);
    tail = atomic_load_explicit(&b->pub.tail, RELAXED);
    for (done = 0; done < n;) {
        size_t chunk = n - done < b->cap ? n - done : b->cap;
        write_chunk(b, tail + done, ready, (const unsigned char *)msgs + done * stride, stride, len,
                    chunk);
        done += chunk;
    }
    bump(&b->pub.published, n);
    if (ready == 0)
        bump(&b->pub.no_receivers, n);
    if (batch) {
        int k = 63 - __builtin_clzll((unsigned long long)n);
        bump(&b->pub.batch_publish, 1);
        bump(&b->pub.hist[k < KC_BUS_HIST_BUCKETS ? k : KC_BUS_HIST_BUCKETS - 1], 1);
    }
    if (ready != 0)
        notify_sweep(b, ready);
    if (locked)
        pthread_mutex_unlock(&b->pub_mu);
    return count_bits(ready);
}

int kc_bus_publish(kc_bus_pub_t *pub, const void *msg, size_t len)
{
    return publish(pub, KC_BUS_MASK_ALL, msg, 0, len, 1, false);
}

int kc_bus_publish_with_mask(kc_bus_pub_t *pub, uint64_t topics, const void *msg, size_t len)
{
    return publish(pub, topics, msg, 0, len, 1, false);
}

int kc_bus_publish_batch(kc_bus_pub_t *pub, uint64_t topics, const void *msgs, size_t n)
{
    if (pub == NULL || pub->bus == NULL || n == 0 || n > INT_MAX)
        return -EINVAL;
    return publish(pub, topics, msgs, pub->bus->msg_size, pub->bus->msg_size, n, true);
}

/* Account a lag found at sequence s (its slot word w is past READY(s)). */
static int lagged(struct kc_bus_sub *s, struct kc_bus *b, uint64_t next, uint64_t w,
                  uint64_t *missed)
{
    /* Acquire pairs with the tail release in write_chunk. */
    uint64_t tail = atomic_load_explicit(&b->pub.tail, memory_order_acquire);
    uint64_t oldest = tail > b->cap ? tail - b->cap : 0;
    uint64_t by_word = KC_BUS_SEQ_OF(w) + 1 > b->cap ? KC_BUS_SEQ_OF(w) + 1 - b->cap : 0;

    /* The overwriter's sequence bounds the live window even when the tail
     * we loaded is older than the word; the gap is at least one. */
    if (oldest < by_word)
        oldest = by_word;
    if (oldest <= next)
        oldest = next + 1;
    uint64_t n = oldest - next;
    atomic_store_explicit(&s->next, oldest, RELAXED);
    bump(&s->lagged, n);
    atomic_fetch_add_explicit(&b->receiver_lag, n, RELAXED);
    if (missed != NULL)
        *missed = n;
    return KC_BUS_LAGGED;
}

/* First read of a subscriber: pick up the start sequence once joined. */
static int join(struct kc_bus_sub *s, struct kc_bus *b)
{
    /* Acquire pairs with apply_changes' release CAS to ACTIVE. */
    if (atomic_load_explicit(&s->state, memory_order_acquire) != KC_BUS_S_ACTIVE) {
        /* Acquire pairs with the closer's release store of closed. */
        if (!atomic_load_explicit(&b->closed, memory_order_acquire))
            return -EAGAIN;
        /* A last publish may have made us ACTIVE just before the close. */
        if (atomic_load_explicit(&s->state, memory_order_acquire) != KC_BUS_S_ACTIVE)
            return -EPIPE;
    }
    atomic_store_explicit(&s->next, atomic_load_explicit(&s->start, RELAXED), RELAXED);
    s->joined = true;
    return 0;
}

int kc_bus_try_recv(kc_bus_sub_t *sub, void *buf, size_t len, uint64_t *missed)
{
    struct kc_bus *b;
    int rc;

    if (sub == NULL || buf == NULL)
        return -EINVAL;
    b = sub->bus;
    if (len < b->msg_size)
        return -EMSGSIZE;
    if (!sub->joined && (rc = join(sub, b)) != 0)
        return rc;
    for (;;) {
        uint64_t next = atomic_load_explicit(&sub->next, RELAXED);
        uint64_t i = next & b->mask;
        /* Acquire pairs with the release fence before READY in write_chunk. */
        uint64_t w1 = atomic_load_explicit(&b->seq[i], memory_order_acquire);

        if (w1 > KC_BUS_BUSY(next))
            return lagged(sub, b, next, w1, missed);
        if (w1 != KC_BUS_READY(next)) {
            /* An older word, or BUSY(next): not published yet. Acquire pairs
             * with the closer's release: after it every slot is visible. */
            if (!atomic_load_explicit(&b->closed, memory_order_acquire))
                return -EAGAIN;
            w1 = atomic_load_explicit(&b->seq[i], memory_order_acquire);
            if (w1 > KC_BUS_BUSY(next))
                return lagged(sub, b, next, w1, missed);
            if (w1 != KC_BUS_READY(next))
                return -EPIPE;
        }
        uint64_t ready = atomic_load_explicit(&b->ready[i], RELAXED);
        if (ready & sub->bit)
            kc__bus_load_msg(buf, b->msg_size, &b->msg[i * b->words], b->words);
        /* Acquire fence: if the copy saw an overwriter's word, the re-check
         * sees its BUSY store (pairs with write_chunk's first fence). */
        atomic_thread_fence(memory_order_acquire);
        uint64_t w2 = atomic_load_explicit(&b->seq[i], RELAXED);
        if (w2 != w1)
            return lagged(sub, b, next, w2, missed);
        atomic_store_explicit(&sub->next, next + 1, RELAXED);
        if (ready & sub->bit) {
            bump(&sub->delivered, 1);
            return 0;
        }
        bump(&sub->filtered, 1);
    }
}

int kc_bus_recv(kc_bus_sub_t *sub, void *buf, size_t len, uint64_t *missed, int64_t timeout_ns)
{
    uint64_t deadline = UINT64_MAX;
    int rc;

    rc = kc_bus_try_recv(sub, buf, len, missed);
    if (rc != -EAGAIN || timeout_ns == 0)
        return rc;
    if (timeout_ns > 0)
        deadline = kc__port_now_ns() + (uint64_t)timeout_ns;
    for (;;) {
        atomic_store_explicit(&sub->pending, 0, RELAXED);
        /* Dekker fence, pairs with the publisher's fence in notify_sweep and
         * the closer's in kc_bus_pub_release. */
        atomic_thread_fence(memory_order_seq_cst);
        rc = kc_bus_try_recv(sub, buf, len, missed);
        if (rc != -EAGAIN)
            return rc;
        bump(&sub->parks, 1);
        if (kc__bus_waiter_park(&sub->waiter, deadline) == -ETIME)
            return -ETIME;
        rc = kc_bus_try_recv(sub, buf, len, missed);
        if (rc != -EAGAIN)
            return rc;
    }
}
