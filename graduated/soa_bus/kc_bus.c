/* kc_bus.c - the broadcast bus: lifetime, handles, membership, metrics.
 *
 * This file owns everything around the ring protocol (kc_bus_ring.c): the
 * allocation of the arrays, the reference counts of the bus, publisher and
 * subscriber handles, the close on the last publisher release, the subscriber
 * table and its hand-over to the publishers, and the counter snapshots.
 *
 * Membership is publisher-owned: a subscriber never edits the tables a
 * publisher reads. subscribe marks its slot JOINING and raises `changes`; the
 * next publish applies it (apply_changes in kc_bus_ring.c), assigns the start
 * sequence (the tail at that moment) and adds the bit to the tables, so the
 * publish path reads plain memory and a new subscriber can never see a
 * message computed from stale tables. unsubscribe works the same way back.
 *
 * Invariants (kc_bus_check asserts them, with 9 and 10 of kc_bus_ring.c,
 * while the bus is quiet):
 *   1. cap is a power of two in 2..KC_BUS_CAP_MAX and mask == cap - 1.
 *   2. Every slot word is 0 or READY(s) with s & mask == slot index; no slot
 *      is BUSY between publishes.
 *   3. For every s in [max(0, tail - cap), tail), slot s & mask holds READY(s);
 *      the slots not yet written are exactly those of sequences >= tail.
 *   4. live is the set of ACTIVE subscriber bits; topic_subs[t] holds bit b iff
 *      b is ACTIVE and its topic mask has t; topics_used is the set of t with
 *      topic_subs[t] != 0; live_count == popcount(live) (after changes apply).
 *   5. For every joined subscriber: start <= next <= tail and
 *      lagged + filtered <= next - start (delivered is the difference).
 *   6. closed == 1 iff npub == 0; refs >= npub (publishers hold references).
 *   7. want == 0 while no receiver is inside kc_bus_recv: a receiver leaves
 *      its bit clear and absorbs any wake-up sent for it before returning.
 *
 * Subscriber slot states (state field):
 *
 *   from      event                         to        function
 *   --------  ----------------------------  --------  ---------------------------
 *   FREE      subscribe claims the slot     CLAIMED   kc_bus_subscribe_with_mask
 *   CLAIMED   fields initialised            JOINING   kc_bus_subscribe_with_mask
 *   CLAIMED   bus found closed              FREE      kc_bus_subscribe_with_mask
 *   JOINING   a publisher assigns start     ACTIVE    apply_changes (ring)
 *   JOINING   unsubscribe                   LEAVING   kc_bus_unsubscribe
 *   ACTIVE    unsubscribe                   LEAVING   kc_bus_unsubscribe
 *   LEAVING   a publisher drops the bit     FREE      apply_changes (ring)
 */
#include "kc_bus_impl.h"

#include "kcoro/registry.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t kc_bus_autotune(uint32_t expected_subs, uint32_t explicit_cap)
{
    if (explicit_cap != 0)
        return explicit_cap;
    if (expected_subs <= 4)
        return 64;
    if (expected_subs <= 16)
        return 128;
    return 256;
}

static void *alloc_lines(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, KC_BUS_LINE, bytes) != 0)
        return NULL;
    memset(p, 0, bytes);
    return p;
}

/* Ticket bus: drop the bus's reference to every ticket still in the ring
 * (the messages left at close, read or not). */
static void release_tickets(struct kc_bus *b)
{
    uint64_t tail = atomic_load_explicit(&b->pub.tail, memory_order_relaxed);

    for (uint64_t s = tail > b->cap ? tail - b->cap : 0; s < tail; s++)
        if (kc_arena_release(b->arena, kc__bus_slot_ticket(b, s & b->mask)) >= 0)
            kc__bus_bump(&b->pub.tickets_released, 1);
}

static void bus_free(struct kc_bus *b)
{
    /* The last reference is gone: the bus is quiet, so the check is exact. */
    assert(kc_bus_check(b) == 0);
    kc_registry_remove(b->obs_reg); /* no monitor looks at it from here on */
    if (b->arena != NULL)
        release_tickets(b);
    pthread_mutex_destroy(&b->pub_mu);
    free(b->arrays);
    free(b);
}

/* The arena of a ticket bus, or NULL (older, shorter options have none). */
static kc_arena_t *opts_arena(const kc_bus_opts_t *o)
{
    return o->size >= offsetof(kc_bus_opts_t, arena) + sizeof(o->arena) ? o->arena : NULL;
}

/* The flags and name of the options, or 0 and NULL for older, shorter ones. */
static uint32_t opts_flags(const kc_bus_opts_t *o)
{
    return o->size >= offsetof(kc_bus_opts_t, flags) + sizeof(o->flags) ? o->flags : 0;
}

static const char *opts_name(const kc_bus_opts_t *o)
{
    return o->size >= offsetof(kc_bus_opts_t, name) + sizeof(o->name) ? o->name : NULL;
}

static int valid_opts(const kc_bus_opts_t *o)
{
    if (o->size < offsetof(kc_bus_opts_t, expected_subs) + sizeof(uint32_t))
        return -EINVAL;
    if ((opts_flags(o) & ~KC_BUS_REGISTER) != 0)
        return -EINVAL;
    if (opts_arena(o) != NULL) {
        if (o->msg_size != 0 && o->msg_size != sizeof(kc_arena_ticket_t))
            return -EINVAL;
    } else if (o->msg_size == 0 || o->msg_size > KC_BUS_MSG_MAX) {
        return -EINVAL;
    }
    if (o->capacity != 0 &&
        (o->capacity < 2 || o->capacity > KC_BUS_CAP_MAX || (o->capacity & (o->capacity - 1)) != 0))
        return -EINVAL;
    return 0;
}

int kc_bus_create(const kc_bus_opts_t *opts, kc_bus_t **bus_out, kc_bus_pub_t **pub_out)
{
    struct kc_bus *b;
    struct kc_bus_pub *p;
    int i, rc;

    if (opts == NULL || bus_out == NULL || pub_out == NULL)
        return -EINVAL;
    rc = valid_opts(opts);
    if (rc != 0)
        return rc;
    b = alloc_lines(sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    b->cap = kc_bus_autotune(opts->expected_subs, opts->capacity);
    b->mask = b->cap - 1u;
    b->arena = opts_arena(opts);
    b->msg_size = b->arena != NULL ? sizeof(kc_arena_ticket_t) : opts->msg_size;
    b->words = (uint32_t)((b->msg_size + 7u) / 8u);
    b->fast_len = b->arena != NULL || b->msg_size % 8u ? SIZE_MAX : b->msg_size;
    b->autotune_warn = b->cap > KC_BUS_CAP_WARN ? 1 : 0;
#ifdef KC_BUS_LAYOUT_AOS
    /* One struct {seq, ready, payload words} per slot (bench baseline). */
    b->stride = b->words + 2u;
    b->arrays = alloc_lines((size_t)b->cap * b->stride * 8u);
    b->msg = b->arrays;
#else
    /* One block, three arrays: seq[cap], ready[cap], msg[cap * words]; each
     * starts on a line since cap * 8 >= 16 is rounded up to the line. */
    size_t col = ((size_t)b->cap * 8u + KC_BUS_LINE - 1) & ~(size_t)(KC_BUS_LINE - 1);
    b->arrays = alloc_lines(2 * col + (size_t)b->cap * b->words * 8u);
    b->seq = (_Atomic uint64_t *)b->arrays;
    b->ready = (_Atomic uint64_t *)((char *)b->arrays + col);
    b->msg = (_Atomic uint64_t *)((char *)b->arrays + 2 * col);
#endif
    p = malloc(sizeof(*p));
    if (b->arrays == NULL || p == NULL)
        goto out_arrays;
    if (pthread_mutex_init(&b->pub_mu, NULL) != 0)
        goto out_arrays;
    for (i = 0; i < KC_BUS_MAX_SUBS; i++) {
        b->subs[i].bus = b;
        b->subs[i].bit = (uint64_t)1 << i;
    }
    /* The zeroed memory is a valid all-zero state for every atomic here. */
    atomic_init(&b->refs, 2);
    atomic_init(&b->npub, 1);
    b->id = kc_registry_new_id();
    if (opts_name(opts) != NULL && opts_name(opts)[0] != '\0')
        snprintf(b->name, sizeof(b->name), "%s", opts_name(opts));
    else
        snprintf(b->name, sizeof(b->name), "bus-%llu", (unsigned long long)b->id);
    if (kc_registry_wants(KC_REGISTRY_BUS, opts_flags(opts)) &&
        kc_registry_add(KC_REGISTRY_BUS, b, b->id, b->name, NULL, &b->obs_reg) != 0) {
        pthread_mutex_destroy(&b->pub_mu);
        goto out_arrays;
    }
    p->bus = b;
    *bus_out = b;
    *pub_out = p;
    return 0;

out_arrays:
    free(p);
    free(b->arrays);
    free(b);
    return -ENOMEM;
}

void kc__bus_unref(struct kc_bus *b)
{
    /* acq_rel: the last releaser must see every other handle's writes
     * before freeing (pairs with the other releasers' release). */
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        bus_free(b);
}

void kc_bus_release(kc_bus_t *bus)
{
    if (bus != NULL)
        kc__bus_unref(bus);
}

size_t kc_bus_msg_size(const kc_bus_t *bus)
{
    return bus != NULL ? bus->msg_size : 0;
}

int kc_bus_pub_clone(kc_bus_pub_t *pub, kc_bus_pub_t **out)
{
    struct kc_bus_pub *p;

    if (pub == NULL || out == NULL)
        return -EINVAL;
    if (pub->bus == NULL)
        return -EPIPE;
    p = malloc(sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->bus = pub->bus;
    atomic_fetch_add_explicit(&p->bus->refs, 1, memory_order_relaxed);
    /* acq_rel: a publisher that later reads npub > 1 and takes pub_mu must
     * see this thread's lock-free publishes (pairs with its acquire load). */
    atomic_fetch_add_explicit(&p->bus->npub, 1, memory_order_acq_rel);
    *out = p;
    return 0;
}

void kc_bus_pub_release(kc_bus_pub_t *pub)
{
    struct kc_bus *b;

    if (pub == NULL)
        return;
    b = pub->bus;
    /* acq_rel: the last releaser sees every other publisher's slots, and a
     * remaining publisher that reads npub == 1 sees ours (its acquire). */
    if (atomic_fetch_sub_explicit(&b->npub, 1, memory_order_acq_rel) == 1) {
        /* Release pairs with the receivers' acquire load of closed: after
         * seeing it they see every slot ever published. */
        atomic_store_explicit(&b->closed, 1, memory_order_release);
        /* Dekker fence: pairs with the fence in the arm of a receiver about to
         * sleep (kc_bus_recv); either it sees closed or we see its bit. */
        atomic_thread_fence(memory_order_seq_cst);
        kc__bus_wake(b, UINT64_MAX);
    }
    pub->bus = NULL;
    free(pub);
    kc__bus_unref(b);
}

int kc_bus_subscribe(kc_bus_t *bus, kc_bus_sub_t **out)
{
    return kc_bus_subscribe_with_mask(bus, KC_BUS_MASK_ALL, out);
}

int kc_bus_subscribe_with_mask(kc_bus_t *bus, uint64_t topics, kc_bus_sub_t **out)
{
    if (bus == NULL || out == NULL || topics == 0)
        return -EINVAL;
    /* Acquire pairs with the closer's release store. */
    if (atomic_load_explicit(&bus->closed, memory_order_acquire))
        return -EPIPE;
    for (int i = 0; i < KC_BUS_MAX_SUBS; i++) {
        struct kc_bus_sub *s = &bus->subs[i];
        uint32_t st = KC_BUS_S_FREE;
        /* acq_rel: acquire pairs with apply_changes' release of FREE (the
         * publisher no longer touches the slot); release is unused. */
        if (!atomic_compare_exchange_strong_explicit(&s->state, &st, KC_BUS_S_CLAIMED,
                                                     memory_order_acq_rel, memory_order_relaxed))
            continue;
        atomic_store_explicit(&s->next, 0, memory_order_relaxed);
        atomic_store_explicit(&s->lagged, 0, memory_order_relaxed);
        atomic_store_explicit(&s->filtered, 0, memory_order_relaxed);
        atomic_store_explicit(&s->parks, 0, memory_order_relaxed);
        atomic_store_explicit(&s->notified, 0, memory_order_relaxed);
        atomic_store_explicit(&s->start, 0, memory_order_relaxed);
        atomic_store_explicit(&s->topics, topics, memory_order_relaxed);
        s->joined = false;
        atomic_fetch_add_explicit(&bus->refs, 1, memory_order_relaxed);
        /* Release pairs with the publisher's acquire load of the state in
         * apply_changes: it sees the topics and the reset fields. */
        atomic_store_explicit(&s->state, KC_BUS_S_JOINING, memory_order_release);
        /* Release pairs with apply_changes' acquire exchange. */
        atomic_store_explicit(&bus->changes, 1, memory_order_release);
        *out = s;
        return 0;
    }
    return -EBUSY;
}

void kc_bus_unsubscribe(kc_bus_sub_t *sub)
{
    struct kc_bus *b;

    if (sub == NULL)
        return;
    b = sub->bus;
    /* Release: the publisher that frees the slot sees our last counters. */
    atomic_store_explicit(&sub->state, KC_BUS_S_LEAVING, memory_order_release);
    atomic_store_explicit(&b->changes, 1, memory_order_release);
    kc__bus_unref(b);
}

/* Copy min(size, sizeof full) bytes of a filled snapshot, keeping out->size. */
static void copy_out(void *out, size_t out_size, const void *full, size_t full_size)
{
    size_t n = out_size < full_size ? out_size : full_size;
    memcpy((char *)out + sizeof(size_t), (const char *)full + sizeof(size_t), n - sizeof(size_t));
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

int kc_bus_metrics(const kc_bus_t *bus, kc_bus_metrics_t *out)
{
    kc_bus_metrics_t m;
    struct kc_bus *b = (struct kc_bus *)(uintptr_t)bus;

    if (bus == NULL || out == NULL || out->size < offsetof(kc_bus_metrics_t, published) + 8)
        return -EINVAL;
    memset(&m, 0, sizeof(m));
    m.published = LOAD(b->pub.tail);
    m.no_receivers = LOAD(b->pub.no_receivers);
    m.receiver_lag = LOAD(b->receiver_lag);
    m.notify_sends = LOAD(b->pub.notify_sends);
    uint64_t addressed = LOAD(b->pub.addressed);
    m.notify_suppressed = addressed > m.notify_sends ? addressed - m.notify_sends : 0;
    m.batch_publish = LOAD(b->pub.batch_publish);
    for (int i = 0; i < KC_BUS_HIST_BUCKETS; i++)
        m.batch_len_hist[i] = LOAD(b->pub.hist[i]);
    m.autotune_warn = b->autotune_warn;
    m.cap_selected = b->cap;
    m.subscribers = (uint32_t)LOAD(b->pub.live_count);
    m.msg_size = b->msg_size;
    m.tickets_released = LOAD(b->pub.tickets_released);
    m.tickets_stale = LOAD(b->tickets_stale);
    m.id = b->id;
    memcpy(m.name, b->name, sizeof(m.name));
    copy_out(out, out->size, &m, sizeof(m));
    return 0;
}

int kc_bus_sub_metrics(const kc_bus_sub_t *sub, kc_bus_sub_metrics_t *out)
{
    kc_bus_sub_metrics_t m;
    struct kc_bus_sub *s = (struct kc_bus_sub *)(uintptr_t)sub;

    if (sub == NULL || out == NULL || out->size < offsetof(kc_bus_sub_metrics_t, delivered) + 8)
        return -EINVAL;
    memset(&m, 0, sizeof(m));
    m.lagged = LOAD(s->lagged);
    m.filtered = LOAD(s->filtered);
    uint64_t start = LOAD(s->start), next = LOAD(s->next);
    /* delivered = next - start - lagged - filtered, clamped: a snapshot
     * taken while the owner reads may pair a new cursor with old counts. */
    if (next >= start && next - start >= m.lagged + m.filtered)
        m.delivered = next - start - m.lagged - m.filtered;
    m.notified = LOAD(s->notified);
    m.parks = LOAD(s->parks);
    m.start_seq = start;
    m.next_seq = next;
    m.topics = LOAD(s->topics);
    m.joined = LOAD(s->state) == KC_BUS_S_ACTIVE;
    copy_out(out, out->size, &m, sizeof(m));
    return 0;
}

static int broken(int n, const char *what)
{
    fprintf(stderr, "kc_bus_check: invariant %d broken: %s\n", n, what);
    return -EPROTO;
}

int kc_bus_check(const kc_bus_t *bus)
{
    struct kc_bus *b = (struct kc_bus *)(uintptr_t)bus;
    uint64_t tail, live = 0, topics_used = 0;

    if (bus == NULL)
        return -EINVAL;
    if (b->cap < 2 || b->cap > KC_BUS_CAP_MAX || (b->cap & (b->cap - 1)) || b->mask != b->cap - 1)
        return broken(1, "capacity not a power of two or mask wrong");
    tail = LOAD(b->pub.tail);
    for (uint64_t i = 0; i < b->cap; i++) {
        uint64_t w = LOAD(*KC_BUS_SEQ(b, i));
        if (w == 0)
            continue;
        if ((w & KC_BUS_W_BUSY) || (KC_BUS_SEQ_OF(w) & b->mask) != i)
            return broken(2, "slot word busy or in the wrong slot");
        uint64_t s = KC_BUS_SEQ_OF(w);
        if (s >= tail || (tail > b->cap && s < tail - b->cap))
            return broken(3, "slot holds a sequence outside the live window");
    }
    for (uint64_t s = tail > b->cap ? tail - b->cap : 0; s < tail; s++)
        if ((LOAD(*KC_BUS_SEQ(b, s & b->mask)) & ~(uint64_t)KC_BUS_W_MASKED) != KC_BUS_READY(s))
            return broken(3, "a live sequence is missing from its slot");
    for (int i = 0; i < KC_BUS_MAX_SUBS; i++) {
        const struct kc_bus_sub *s = &b->subs[i];
        uint32_t st = LOAD(s->state);
        uint64_t topics = LOAD(s->topics);
        if (st == KC_BUS_S_ACTIVE) {
            live |= s->bit;
            for (int t = 0; t < 64; t++)
                if (((topics >> t) & 1) != ((b->pub.topic_subs[t] & s->bit) != 0))
                    return broken(4, "topic table disagrees with a subscriber");
            uint64_t start = LOAD(s->start), next = LOAD(s->next);
            if (s->joined && (start > next || next > tail))
                return broken(5, "subscriber cursor outside [start, tail]");
            if (s->joined && LOAD(s->lagged) + LOAD(s->filtered) > next - start)
                return broken(5, "subscriber counters do not add up");
        }
    }
    if (LOAD(b->want) != 0)
        return broken(7, "a want bit is set while no receiver waits");
    if (LOAD(b->pub.notify_sends) > LOAD(b->pub.addressed))
        return broken(9, "more wake-ups sent than subscribers addressed");
    /* 10: every live slot's ticket is live (retain succeeds, then undone). */
    for (uint64_t s = tail > b->cap ? tail - b->cap : 0; b->arena != NULL && s < tail; s++) {
        kc_arena_ticket_t t = kc__bus_slot_ticket(b, s & b->mask);
        if (kc_arena_retain(b->arena, t) != 0)
            return broken(10, "a live slot holds a ticket the bus no longer owns");
        kc_arena_release(b->arena, t);
    }
    for (int t = 0; t < 64; t++)
        if (b->pub.topic_subs[t] != 0)
            topics_used |= (uint64_t)1 << t;
    if (LOAD(b->changes) == 0 && (live != b->pub.live || topics_used != b->pub.topics_used ||
                                  LOAD(b->pub.live_count) != (uint64_t)__builtin_popcountll(live)))
        return broken(4, "publisher tables out of date");
    if ((LOAD(b->npub) == 0) != (LOAD(b->closed) == 1) || LOAD(b->refs) < LOAD(b->npub))
        return broken(6, "closed flag disagrees with publisher count");
    return 0;
}
