/* kc_chan_locked.c - the locked channel: ring, reservation indices, waiter queues.
 *
 * The reference implementation of kcoro/chan.h, after Go's hchan: one lock
 * per channel guards a ring of slots addressed by two monotonic 64-bit
 * reservation indices (send_idx counts elements ever accepted, recv_idx
 * elements ever taken out; occupancy is their difference, and a slot is
 * `idx & (ring_slots - 1)`), plus a queue of waiting senders and one of
 * waiting receivers built from the graduated waiter tokens. This file does
 * everything that happens under the lock, and a channel's creation, close
 * and free; the public calls reach it through the front (kc_chan.c), and
 * kc_chan_ops.c and kc_select.c add the waiting. A seq-ring channel
 * (kc_chan_seq.h) moves its ring without the lock; here it only wakes its
 * waiters, who try again. The lock is never held across a park or a
 * wake-up of another context, except in close and when a cancelled waiter
 * is withdrawn (kc_unpark never blocks).
 *
 * A token in a queue is decided under the lock: the party that meets it
 * claims it (with a release store, kc__waiter_claim_locked: every decision
 * of a queued token is made under this lock, so no CAS is needed; a select
 * clause first wins its select's claim word by CAS, else the stale clause
 * is dropped),
 * moves the element and sets the result; the owner is woken after unlock.
 * An owner that gives up takes its token out under the lock (the
 * cancellation hook below); whichever comes first wins. A cancellation wins
 * from the moment it fires: a party that meets the token of a cancelled
 * owner (kc__chan_owner_cancelled) withdraws it for the owner with
 * -ECANCELED instead of claiming it, even if the owner has not run since.
 *
 *   element  event                                     next            by
 *   -------  ----------------------------------------  --------------  ----------------------
 *   sender   a waiting receiver exists                 received        kc__chan_send_locked
 *   sender   room in the ring                          buffered        kc__chan_send_locked
 *   sender   full, DROP_OLDEST / CONFLATED: evict head buffered        kc__chan_send_locked
 *   sender   full, DROP_LATEST                         undelivered     kc__chan_send_locked
 *   sender   full or rendezvous, SUSPEND: wait         in sendq        kc__chan_enqueue
 *   buffered a receiver takes the head                 received        kc__chan_recv_locked
 *   in sendq a receiver frees a slot / meets it        buffered/recvd  kc__chan_recv_locked
 *   in sendq close                                     sender keeps it kc_chan_close
 *   (room)   a receiver frees a slot: woken, no move   (room told)     fire_room (R1, R2)
 *   buffered destroy                                   undelivered     kc_chan_destroy
 *   undeliv. arena attached: callback, then released   (freed)         kc__chan_arena_undelivered
 *
 * Invariants (kc__chan_check() asserts them under the lock):
 *   I1  recv_idx <= send_idx; occupancy <= capacity and <= ring_slots;
 *       a rendezvous channel has no ring and occupancy 0.
 *   I2  a closed channel has no waiting token.
 *   I3  a live waiting receiver (its arbiter ENQUEUED) means occupancy 0;
 *       a live waiting sender means a full SUSPEND channel.
 *   I4  live waiting senders and live waiting receivers never coexist.
 *   I5  each queued token is live, ENQUEUED, of its queue's kind and names
 *       the queue as its site; the queue lengths equal the waiting counters.
 *   I6  sends == receives + undelivered + occupancy.
 *   I7  ring_slots is a power of two (or 0 for rendezvous).
 *   I8  with an arena attached, every buffered descriptor that carries a
 *       ticket names a live ticket of that arena; a boxed channel buffers
 *       only OWNED descriptors with a ticket and elem_size bytes.
 *   I9  (the lifetime rule) inside - left >= the queued tokens: a queued
 *       wait is inside, and so is a decided one until it has left
 *       (kc_chan_destroy frees only at inside == left with empty queues).
 * Room waiters (kc__chan_wait_room, kc_chan_svc.h) are senders with nothing
 * to send, queued in sendq of a full SUSPEND channel like any sender, so a
 * seq-ring channel's handshake (send_waiting) covers them too:
 *   R1  the party that frees a slot (a receive) claims a room waiter as it
 *       would a sender, moves nothing and wakes it at once, under the lock
 *       (as close does); the slot stays free;
 *   R2  a room waiter never takes a sender's turn: after waking room
 *       waiters the receive still moves in (locked ring) or wakes
 *       (seq ring) the first real sender queued, as it would without them.
 * A seq-ring channel's indices move without the lock, so for it the occupancy
 * bounds of I1, and I3 and I4, hold only at rest and are not checked; its
 * counts are its indices, which makes I6 hold by construction.
 */
#include "chan/kc_chan_impl.h"
#include "chan/kc_chan_seq.h"

#include "base/kc_debug.h"
#include "kcoro/sched.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* An unlimited ring starts (and shrinks back to) this many slots. A
 * destroy that finds only waits on their way out (decided, not yet gone)
 * looks again up to KC_CHAN_DESTROY_SPINS times with a pause, then up to
 * KC_CHAN_DESTROY_YIELDS times with a yield, before it answers -EBUSY. */
enum {
    KC_CHAN_UNLIMITED_MIN_SLOTS = 32,
    KC_CHAN_DESTROY_SPINS = 64,
    KC_CHAN_DESTROY_YIELDS = 1024,
    KC_CHAN_GUARDS = 64
};

/* The largest ring a seq-ring channel may have, in bytes. A seq ring is
 * written in full at creation (each slot's sequence word), so a larger one
 * would commit all its memory up front (2^26 slots of 8 bytes: 1 GiB and
 * 640 ms); a larger ring is a locked ring instead, allocated untouched,
 * whose pages are committed only as elements are buffered. */
#define KC_CHAN_SEQ_MAX_BYTES ((size_t)16 << 20)

/* The guards of the lifetime rule: a waiter's own cancellation hook holds
 * its channel's guard from the moment it sees its token still queued
 * until it is done with the channel, and kc_chan_destroy takes the same
 * guard first. So a hook that saw the token undecided can still lock the
 * channel even when a peer or a close decides the token meanwhile (and
 * takes it out of `inside`), and a hook that sees it decided never
 * touches the channel. Hashed by address: the guards outlive every
 * channel. Lock order: guard, then the channel. Padded to a line each. */
static struct {
    _Alignas(64) kc_lock_t lock;
} guards[KC_CHAN_GUARDS];

static kc_lock_t *guard_of(const kc_chan_t *ch)
{
    uint64_t a = (uint64_t)(uintptr_t)ch >> 7; /* channels are 128-byte aligned */
    return &guards[(a * 0x9e3779b97f4a7c15ull) >> 58].lock;
}

static inline uint64_t load_idx(const _Atomic uint64_t *i)
{
    return atomic_load_explicit(i, memory_order_relaxed);
}

static inline uint64_t occupancy(const kc_chan_t *ch)
{
    return kc__chan_send_idx(ch) - load_idx(&ch->recv_idx);
}

static inline unsigned char *slot_at(const kc_chan_t *ch, uint64_t idx)
{
    return ch->seqring ? kc__chan_seq_elem(ch, idx)
                       : ch->ring + (size_t)(idx & (ch->ring_slots - 1)) * ch->slot_size;
}

static inline uint64_t elem_bytes(const kc_chan_t *ch, const void *elem)
{
    return ch->desc ? ((const kc_zdesc_t *)elem)->len : ch->elem_size;
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

/* The arena of opts, or NULL for an options struct from before the field
 * (version 1: exactly that size). */
static kc_arena_t *opts_arena(const kc_chan_opts_t *o)
{
    return o->size >= sizeof(*o) ? o->arena : NULL;
}

static int opts_check(const kc_chan_opts_t *o)
{
    if (o == NULL || (o->size < sizeof(*o) && o->size != offsetof(kc_chan_opts_t, arena)) ||
        (o->flags & ~KC_CHAN_REGISTER) != 0)
        return -EINVAL;
    if (o->elem_size > (opts_arena(o) != NULL ? KC_CHAN_MAX_ARENA_ELEM : KC_CHAN_MAX_ELEM))
        return -EINVAL;
    if ((unsigned)o->policy > KC_CHAN_DROP_LATEST)
        return -EINVAL;
    switch (o->kind) {
    case KC_CHAN_RENDEZVOUS:
    case KC_CHAN_UNLIMITED:
        return o->capacity == 0 && o->policy == KC_CHAN_SUSPEND ? 0 : -EINVAL;
    case KC_CHAN_BUFFERED:
        return o->capacity >= 1 && o->capacity <= KC_CHAN_MAX_CAPACITY ? 0 : -EINVAL;
    case KC_CHAN_CONFLATED:
        return o->capacity == 0 && o->policy != KC_CHAN_DROP_LATEST ? 0 : -EINVAL;
    default:
        return -EINVAL;
    }
}

int kc__chan_new(kc_chan_t **out, const kc_chan_opts_t *opts)
{
    if (opts_check(opts) != 0)
        return -EINVAL;
    kc_chan_t *ch = aligned_alloc(128, (sizeof(*ch) + 127) & ~(size_t)127);
    if (ch == NULL)
        return -ENOMEM;
    memset(ch, 0, sizeof(*ch));
    ch->kind = (uint8_t)opts->kind;
    ch->policy = (uint8_t)(opts->kind == KC_CHAN_CONFLATED ? KC_CHAN_DROP_OLDEST : opts->policy);
    ch->desc = opts->elem_size == 0;
    ch->arena = opts_arena(opts);
    ch->boxed = !ch->desc && ch->arena != NULL;
    ch->detour = ch->boxed ? KC__CHAN_DETOUR_BOX : 0;
    ch->elem_size = opts->elem_size;
    ch->slot_size = ch->desc || ch->boxed ? sizeof(kc_zdesc_t) : opts->elem_size;
    ch->max_desc_len = opts->max_desc_len;
    ch->on_undelivered = opts->on_undelivered;
    ch->undelivered_arg = opts->undelivered_arg;
    switch (opts->kind) {
    case KC_CHAN_BUFFERED:
        ch->capacity = opts->capacity;
        break;
    case KC_CHAN_CONFLATED:
        ch->capacity = 1;
        break;
    case KC_CHAN_UNLIMITED:
        ch->capacity = SIZE_MAX;
        break;
    default:
        ch->capacity = 0;
    }
    ch->stride = ch->slot_size;
    if (ch->capacity > 0) {
        ch->ring_slots = opts->kind == KC_CHAN_UNLIMITED ? KC_CHAN_UNLIMITED_MIN_SLOTS
                                                         : pow2_at_least(ch->capacity);
        ch->min_slots = ch->ring_slots;
        /* A seq-ring channel (kc_chan_seq.h): the kind, policy and element
         * the lock-free ring supports, no slot beyond the capacity, and at
         * least two slots (with one, "freed for the next lap" and "full"
         * would be the same sequence word). */
        size_t seq_stride = sizeof(uint64_t) + ((ch->slot_size + 7) & ~(size_t)7);
        ch->seqring = opts->kind == KC_CHAN_BUFFERED && ch->policy == KC_CHAN_SUSPEND &&
                      !ch->desc && ch->arena == NULL && ch->ring_slots == ch->capacity &&
                      ch->capacity >= 2 && ch->ring_slots <= KC_CHAN_SEQ_MAX_BYTES / seq_stride;
        if (ch->seqring)
            ch->stride = seq_stride;
        /* At most 2^30 slots of at most 64 KiB + 8 bytes: the product fits,
         * and what cannot be had is -ENOMEM (never touched here unless it
         * is a seq ring, at most KC_CHAN_SEQ_MAX_BYTES). */
        ch->ring =
            ch->ring_slots <= SIZE_MAX / ch->stride ? malloc(ch->ring_slots * ch->stride) : NULL;
        if (ch->ring == NULL) {
            free(ch);
            return -ENOMEM;
        }
        for (uint64_t i = 0; ch->seqring && i < ch->ring_slots; i++)
            atomic_init(kc__chan_seq_word(ch, i), i); /* free for lap 0 */
    }
    if (opts->name != NULL) {
        strncpy(ch->name, opts->name, sizeof(ch->name) - 1);
        ch->name[sizeof(ch->name) - 1] = '\0';
    }
    kc__waiter_queue_init(&ch->sendq);
    kc__waiter_queue_init(&ch->recvq);
    if (kc__chan_register(ch, opts) < 0) {
        free(ch->ring);
        free(ch);
        return -ENOMEM;
    }
    *out = ch;
    return 0;
}

static inline void count_one(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void kc__chan_arena_release(kc_chan_t *ch, kc_zdesc_t *d)
{
    count_one(&ch->ctr.arena_releases);
    int rc = kc_zdesc_release(d, ch->arena);
    if (rc < 0) {
        count_one(&ch->ctr.arena_release_errors);
        kc__debug_log("chan %s: the arena refused a release (%d): the reference was released "
                      "twice",
                      ch->name[0] ? ch->name : "-", rc);
    }
}

/* The element at elem (a slot or a sender's descriptor) will never be
 * received: the table of kc_chan_arena.c says who releases it. */
void kc__chan_arena_undelivered(kc_chan_t *ch, const void *elem)
{
    kc_zdesc_t d;
    memcpy(&d, elem, sizeof(d));
    bool ours = kc_zdesc_is_owned(&d) && kc_zdesc_has_ticket(&d);
    if (ch->on_undelivered != NULL) {
        if (ch->boxed) { /* the callback sees the element's bytes, as on a copy channel */
            void *p;
            if (kc_zdesc_hydrate(&d, ch->arena, &p, NULL) == 0)
                ch->on_undelivered(p, ch->elem_size, ch->undelivered_arg);
        } else { /* a view: the channel keeps the duty to release */
            kc_zdesc_t view = d;
            if (ours)
                view.flags &= (uint16_t)~KC_ZDESC_OWNED;
            ch->on_undelivered(&view, sizeof(view), ch->undelivered_arg);
        }
    }
    if (ours)
        kc__chan_arena_release(ch, &d);
}

/* An element that was sent will never be received: count it and hand it
 * to the callback (under the lock, as chan.h says), or with an arena
 * attached to kc__chan_arena_undelivered, which also releases it. */
static void undelivered(kc_chan_t *ch, void *elem)
{
    kc__chan_bump(&ch->ctr.undelivered, 1);
    if (ch->arena != NULL)
        kc__chan_arena_undelivered(ch, elem);
    else if (ch->on_undelivered != NULL)
        ch->on_undelivered(elem, ch->slot_size, ch->undelivered_arg);
}

/* The lifetime rule: a channel is freed only when no wait is queued and
 * every wait that was has left (inside == left). Waits on their way out
 * leave without anyone's help, so destroy gives them a short, bounded
 * while (pauses, then yields, which lets a coroutine on this worker run);
 * a queued wait needs a close, a peer or its own timeout first, so it
 * makes destroy answer -EBUSY at once. */
int kc__chan_free(kc_chan_t *ch)
{
    kc_lock_t *g = guard_of(ch);
    for (int round = 0;; round++) {
        kc__lock(g);
        kc__lock(&ch->lock);
        bool queued = ch->sendq.len != 0 || ch->recvq.len != 0;
        /* acquire: pairs with kc__chan_leave's release add, so the leaver's
         * last touches happen before the free below */
        if (!queued && ch->inside == atomic_load_explicit(&ch->left, memory_order_acquire))
            break;
        kc__unlock(&ch->lock);
        kc__unlock(g);
        if (queued || round >= KC_CHAN_DESTROY_SPINS + KC_CHAN_DESTROY_YIELDS)
            return -EBUSY;
        if (round < KC_CHAN_DESTROY_SPINS)
            kc__port_relax();
        else
            kc_sched_yield();
    }
    for (uint64_t i = load_idx(&ch->recv_idx); i != kc__chan_send_idx(ch); i++)
        undelivered(ch, slot_at(ch, i));
    atomic_store_explicit(&ch->recv_idx, kc__chan_send_idx(ch), memory_order_relaxed);
    kc__unlock(&ch->lock);
    kc__unlock(g);
    kc__chan_unregister(ch);
    free(ch->ring);
    free(ch);
    return 0;
}

/* Under ch->lock: the plain token arb, queued here, was decided with rc by
 * someone other than its owner, who will not touch the channel after its
 * wake (unless self_leave): count the failure and take it out of
 * `inside` here, on its behalf. Select tokens are left to their owner,
 * who withdraws every clause under the lock. */
static inline void depart_for(kc_chan_t *ch, const kc_waiter_t *arb, int rc)
{
    const struct kc__chan_owner *o = arb->owner;
    if (arb->kind == KC_WAITER_SELECT || o->self_leave)
        return;
    ch->inside--;
    if (rc < 0)
        kc__chan_fail(ch, rc);
}

/* A popped token whose owner was cancelled (kc__chan_owner_cancelled):
 * decide its arbiter CANCELLED with -ECANCELED and wake the owner, here and
 * under the lock, since its own hook will find the token gone. A clause
 * whose select was decided elsewhere meanwhile is only dropped; if that was
 * a withdrawal it is counted, as take_peer counts stale clauses. */
static void withdraw_cancelled(kc_chan_t *ch, kc_waiter_t *arb)
{
    if (kc__waiter_try_cancel(arb)) { /* a plain token: cannot fail under the lock */
        arb->result = -ECANCELED;
        depart_for(ch, arb, -ECANCELED);
        kc__chan_wake(arb);
    } else if (kc__waiter_status(arb) != KC_WAITER_CANCELLED) {
        return; /* claimed elsewhere: a stale clause */
    }
    kc__chan_bump(&ch->ctr.cancelled_waiters, 1);
}

/* Take the first waiting token of q that can still be decided here, and
 * decide it (CLAIMED). Tokens whose owner was cancelled are withdrawn on
 * the way (the cancellation came first, even if its owner has not run
 * since), and clauses whose select was decided elsewhere are dropped
 * (their owner finds them gone). */
static kc_waiter_t *take_peer(kc_chan_t *ch, kc_waiter_queue_t *q)
{
    kc_waiter_t *w;
    while ((w = kc__waiter_queue_pop(q)) != NULL) {
        if (kc__chan_owner_cancelled(kc__waiter_arbiter(w))) {
            withdraw_cancelled(ch, kc__waiter_arbiter(w));
            continue;
        }
        if (w->parent != NULL && !kc__waiter_try_claim(w->parent)) {
            /* a stale clause: its select was decided elsewhere; when that
             * was its timeout or cancellation, the withdrawal is counted
             * here, since its owner will not find it any more */
            if (kc__waiter_status(w->parent) == KC_WAITER_CANCELLED)
                kc__chan_bump(&ch->ctr.cancelled_waiters, 1);
            continue;
        }
        kc__waiter_claim_locked(w); /* cannot fail: only the lock holder decides */
        break;
    }
    kc__chan_sync_waiting(ch, q);
    return w;
}

/* Record the outcome of a claimed token of ch and return the one to wake. */
static kc_waiter_t *settle_peer(kc_chan_t *ch, kc_waiter_t *w, int rc)
{
    w->result = rc;
    kc_waiter_t *arb = kc__waiter_arbiter(w);
    arb->result = rc;
    depart_for(ch, arb, rc);
    return arb;
}

/* A seq-ring channel's paths never count: every send and receive of one is a
 * reservation index, and kc_chan_snapshot derives the counts from them. */
static inline void count_send(kc_chan_t *ch, const void *elem)
{
    kc__chan_bump(&ch->ctr.sends, 1);
    kc__chan_bump(&ch->ctr.bytes_sent, elem_bytes(ch, elem));
    if (ch->desc)
        kc__chan_bump(&ch->ctr.desc_sends, 1);
}

static inline void count_recv(kc_chan_t *ch, const void *elem)
{
    kc__chan_bump(&ch->ctr.receives, 1);
    kc__chan_bump(&ch->ctr.bytes_received, elem_bytes(ch, elem));
    if (ch->desc)
        kc__chan_bump(&ch->ctr.desc_receives, 1);
}

static inline void advance(_Atomic uint64_t *idx)
{
    /* release: a reader that loads recv_idx with acquire (kc_chan_len,
     * kc_chan_snapshot) then sees every send_idx store made before it */
    atomic_store_explicit(idx, load_idx(idx) + 1, memory_order_release);
}

/* Move the buffered elements of an unlimited ring into one of new_slots. */
static int resize_ring(kc_chan_t *ch, size_t new_slots)
{
    if (new_slots > SIZE_MAX / ch->slot_size)
        return -ENOMEM;
    unsigned char *ring = malloc(new_slots * ch->slot_size);
    if (ring == NULL)
        return -ENOMEM;
    for (uint64_t i = load_idx(&ch->recv_idx); i != load_idx(&ch->send_idx); i++)
        memcpy(ring + (size_t)(i & (new_slots - 1)) * ch->slot_size, slot_at(ch, i), ch->slot_size);
    free(ch->ring);
    ch->ring = ring;
    ch->ring_slots = new_slots;
    return 0;
}

/* Under ch->lock: w, a room waiter (kc__chan_wait_room) that take_peer
 * just claimed, is told there is room (rc: 0, or a seq-ring channel's
 * KC__CHAN_RETRY) and woken now, under the lock, as close wakes (R1:
 * kc_unpark never blocks); the slot stays free for a sender. */
static void fire_room(kc_chan_t *ch, kc_waiter_t *w, int rc)
{
    kc__chan_wake(settle_peer(ch, w, rc));
}

/* Claim one waiting token of q with KC__CHAN_RETRY (a seq-ring channel's
 * waiters are told to try again, never handed an element). Returns the
 * arbiter to wake, or NULL. */
static kc_waiter_t *seq_retry_one(kc_chan_t *ch, kc_waiter_queue_t *q)
{
    kc_waiter_t *w;
    while (q->len != 0 && (w = take_peer(ch, q)) != NULL) {
        if (!kc__chan_is_room_token(w))
            return settle_peer(ch, w, KC__CHAN_RETRY);
        fire_room(ch, w, KC__CHAN_RETRY); /* R2: and one sender more */
    }
    return NULL;
}

void kc__chan_seq_notify_slow(kc_chan_t *ch, bool send)
{
    kc__lock(&ch->lock);
    kc_waiter_t *arb = seq_retry_one(ch, send ? &ch->recvq : &ch->sendq);
    kc__unlock(&ch->lock);
    kc__chan_wake(arb);
}

int kc__chan_send_locked(kc_chan_t *ch, const void *src, kc_waiter_t **wake)
{
    if (atomic_load_explicit(&ch->closed, memory_order_relaxed))
        return -EPIPE;
    if (ch->seqring) {
        if (kc__chan_seq_send(ch, src) != KC__SEQ_OK)
            return -EAGAIN; /* full (closed was seen above, under the lock) */
        *wake = seq_retry_one(ch, &ch->recvq);
        return 0;
    }
    if (ch->recvq.len != 0) {
        kc_waiter_t *r = take_peer(ch, &ch->recvq);
        if (r != NULL) { /* I3: the ring is empty, hand it over directly */
            kc__chan_copy_elem(r->payload.u.bytes.dst, src, ch->slot_size);
            r->payload.u.bytes.len = ch->slot_size;
            advance(&ch->send_idx);
            advance(&ch->recv_idx);
            count_send(ch, src);
            count_recv(ch, src);
            *wake = settle_peer(ch, r, 0);
            return 0;
        }
    }
    uint64_t occ = occupancy(ch);
    if (occ < ch->capacity) {
        if (occ == ch->ring_slots) { /* unlimited and full: grow */
            if (ch->ring_slots > SIZE_MAX / 2 || resize_ring(ch, ch->ring_slots * 2) != 0)
                return -ENOMEM;
        }
    } else if (ch->kind == KC_CHAN_RENDEZVOUS || ch->policy == KC_CHAN_SUSPEND) {
        return -EAGAIN;
    } else if (ch->policy == KC_CHAN_DROP_LATEST) {
        count_send(ch, src);
        kc__chan_bump(&ch->ctr.drops_latest, 1);
        undelivered(ch, (void *)(uintptr_t)src); /* the callback owns it now */
        return 0;
    } else { /* DROP_OLDEST, CONFLATED: evict the head to make room */
        kc__chan_bump(&ch->ctr.drops_oldest, 1);
        undelivered(ch, slot_at(ch, load_idx(&ch->recv_idx)));
        advance(&ch->recv_idx);
    }
    kc__chan_copy_elem(slot_at(ch, load_idx(&ch->send_idx)), src, ch->slot_size);
    advance(&ch->send_idx);
    count_send(ch, src);
    return 0;
}

int kc__chan_recv_locked(kc_chan_t *ch, void *dst, kc_waiter_t **wake)
{
    if (ch->seqring) {
        if (kc__chan_seq_recv(ch, dst) == KC__SEQ_OK) {
            *wake = seq_retry_one(ch, &ch->sendq);
            return 0;
        }
        /* Empty with every reserved slot filled: closed now (under the
         * lock, so no close is half done) means drained. */
        return atomic_load_explicit(&ch->closed, memory_order_relaxed) ? -EPIPE : -EAGAIN;
    }
    if (occupancy(ch) > 0) {
        kc__chan_copy_elem(dst, slot_at(ch, load_idx(&ch->recv_idx)), ch->slot_size);
        advance(&ch->recv_idx);
        count_recv(ch, dst);
        if (ch->sendq.len != 0) { /* I3: it was full; a waiting sender moves in */
            kc_waiter_t *s;
            while ((s = take_peer(ch, &ch->sendq)) != NULL && kc__chan_is_room_token(s))
                fire_room(ch, s, 0); /* R2: room waiters first, then a sender */
            if (s != NULL) {
                const void *src = s->payload.u.bytes.src;
                kc__chan_copy_elem(slot_at(ch, load_idx(&ch->send_idx)), src, ch->slot_size);
                advance(&ch->send_idx);
                count_send(ch, src);
                *wake = settle_peer(ch, s, 0);
            }
        } else if (ch->ring_slots > ch->min_slots && occupancy(ch) <= ch->ring_slots / 4) {
            resize_ring(ch, ch->ring_slots / 2); /* give burst memory back; may fail */
        }
        return 0;
    }
    if (ch->sendq.len != 0) {
        kc_waiter_t *s = take_peer(ch, &ch->sendq);
        if (s != NULL) { /* rendezvous: take it straight from the sender */
            kc__chan_copy_elem(dst, s->payload.u.bytes.src, ch->slot_size);
            advance(&ch->send_idx);
            advance(&ch->recv_idx);
            count_send(ch, dst);
            count_recv(ch, dst);
            *wake = settle_peer(ch, s, 0);
            return 0;
        }
    }
    return atomic_load_explicit(&ch->closed, memory_order_relaxed) ? -EPIPE : -EAGAIN;
}

bool kc__chan_may_send(const kc_chan_t *ch)
{
    if (atomic_load_explicit(&ch->closed, memory_order_relaxed) ||
        atomic_load_explicit(&ch->ctr.recv_waiting, memory_order_relaxed) != 0)
        return true;
    if (ch->kind == KC_CHAN_RENDEZVOUS)
        return false;
    uint64_t r, s;
    return ch->policy != KC_CHAN_SUSPEND || kc__chan_read_indices(ch, &r, &s) < ch->capacity;
}

bool kc__chan_may_recv(const kc_chan_t *ch)
{
    uint64_t r, s;
    return kc__chan_read_indices(ch, &r, &s) != 0 ||
           atomic_load_explicit(&ch->ctr.send_waiting, memory_order_relaxed) != 0 ||
           atomic_load_explicit(&ch->closed, memory_order_relaxed);
}

/* The cancellation hook of a plain token waiting in a channel: the owner
 * timed out or was cancelled. Wins (1) when the token was still queued;
 * then it counts the failure and leaves the channel here, under the lock.
 * A token already decided is not the owner's to withdraw: the hook then
 * does not touch the channel at all, which may be gone (the guard, see
 * guard_of, makes the look and the lock one step). */
static int cancel_hook(kc_waiter_t *w)
{
    kc_chan_t *ch = w->site_stats;
    struct kc__chan_owner *o = w->owner;
    kc_lock_t *g = o->self_leave ? NULL : guard_of(ch);
    if (g != NULL) {
        kc__lock(g);
        if (kc__waiter_status(w) != KC_WAITER_ENQUEUED) {
            kc__unlock(g);
            return 0;
        }
    }
    int won = 0;
    kc__lock(&ch->lock);
    if (kc__chan_dequeue(ch, w)) {
        kc__waiter_try_cancel(w); /* cannot fail: it was queued, so undecided */
        kc__chan_bump(&ch->ctr.cancelled_waiters, 1);
        if (!o->self_leave) {
            ch->inside--;
            if (o->prc < 0)
                kc__chan_fail(ch, o->prc); /* the result settle gives it: -ETIME, -ECANCELED */
        }
        won = 1;
    }
    kc__unlock(&ch->lock);
    if (g != NULL)
        kc__unlock(g);
    return won;
}

void kc__chan_enqueue(kc_chan_t *ch, kc_waiter_t *w, bool send)
{
    if (w->parent == NULL)
        w->cancel = cancel_hook;
    w->site_stats = ch;
    ch->inside++;
    kc_waiter_queue_t *q = send ? &ch->sendq : &ch->recvq;
    kc__waiter_queue_publish_new(q, w);
    kc__chan_sync_waiting(ch, q);
}

bool kc__chan_dequeue(kc_chan_t *ch, kc_waiter_t *w)
{
    kc_waiter_queue_t *q = w->site == &ch->sendq   ? &ch->sendq
                           : w->site == &ch->recvq ? &ch->recvq
                                                   : NULL;
    if (q == NULL)
        return false;
    kc__waiter_queue_remove(q, w);
    kc__chan_sync_waiting(ch, q);
    return true;
}

int kc__chan_close_local(kc_chan_t *ch, int reason)
{
    kc__lock(&ch->lock);
    if (atomic_load_explicit(&ch->closed, memory_order_relaxed)) {
        kc__unlock(&ch->lock);
        return -EPIPE;
    }
    ch->close_reason = reason; /* published by the release store below */
    /* A seq-ring channel's senders reserve without the lock: the mark in
     * send_idx makes every reservation after this point fail. */
    if (ch->seqring)
        atomic_fetch_or_explicit(&ch->send_idx, KC__CHAN_SEND_CLOSED, memory_order_seq_cst);
    /* release: pairs with the acquire in kc__chan_closed, so a thread that
     * sees the channel closed also sees what was sent before */
    atomic_store_explicit(&ch->closed, 1, memory_order_release);
    kc__debug_log("chan %s: closed with %zu waiting receivers, %zu waiting senders, %llu "
                  "buffered",
                  ch->name[0] ? ch->name : "-", ch->recvq.len, ch->sendq.len,
                  (unsigned long long)occupancy(ch));
    kc_waiter_t *w;
    /* Wakes happen under the lock here: close is rare, kc_unpark never
     * blocks, and the tokens' links are not ours once the lock is gone. */
    /* A seq-ring channel's receivers try again: they take what is still
     * buffered (a send may have reserved a slot just before the close and
     * still be filling it), then find it drained and closed. */
    while ((w = take_peer(ch, &ch->recvq)) != NULL)
        kc__chan_wake(settle_peer(ch, w, ch->seqring ? KC__CHAN_RETRY : -EPIPE));
    while ((w = take_peer(ch, &ch->sendq)) != NULL)
        kc__chan_wake(settle_peer(ch, w, -EPIPE));
    kc__unlock(&ch->lock);
    return 0;
}

#define FAIL(text)                                                                                 \
    do {                                                                                           \
        why_s = (text);                                                                            \
        goto out_unlock;                                                                           \
    } while (0)

/* I5 for one queue; returns the number of live (undecided) tokens or -1. */
static long check_queue(const kc_waiter_queue_t *q, kc_waiter_kind_t kind)
{
    long live = 0;
    size_t n = 0;
    for (const kc_waiter_t *w = q->head; w != NULL; w = w->next, n++) {
        if (atomic_load_explicit(&w->magic, memory_order_relaxed) != KC_WAITER_MAGIC_LIVE ||
            w->kind != kind || w->site != q || kc__waiter_status(w) != KC_WAITER_ENQUEUED)
            return -1;
        const kc_waiter_t *arb = w->parent != NULL ? w->parent : w;
        live += kc__waiter_status(arb) == KC_WAITER_ENQUEUED;
    }
    return n == q->len ? live : -1;
}

int kc__chan_check(kc_chan_t *ch, const char **why)
{
    if (ch == NULL)
        return -EINVAL;
    const char *why_s = NULL;
    kc__lock(&ch->lock);
    uint64_t r, s;
    (void)kc__chan_read_indices(ch, &r, &s);
    uint64_t occ = s - r; /* not capped: I1 checks the bound */
    /* A seq-ring channel's indices move without the lock: its occupancy bound
     * (I1), I3 and I4 hold only at rest, which this check cannot tell. */
    if (r > s ||
        (!ch->seqring && (occ > ch->capacity || (ch->ring_slots > 0 && occ > ch->ring_slots))) ||
        (ch->kind == KC_CHAN_RENDEZVOUS && (occ != 0 || ch->ring != NULL)))
        FAIL("I1: indices out of order or occupancy beyond capacity");
    if (atomic_load_explicit(&ch->closed, memory_order_relaxed) &&
        (ch->sendq.len != 0 || ch->recvq.len != 0))
        FAIL("I2: a closed channel has waiters");
    long ls = check_queue(&ch->sendq, KC_WAITER_SENDER);
    long lr = check_queue(&ch->recvq, KC_WAITER_RECEIVER);
    if (ls < 0 || lr < 0 ||
        atomic_load_explicit(&ch->ctr.send_waiting, memory_order_relaxed) != ch->sendq.len ||
        atomic_load_explicit(&ch->ctr.recv_waiting, memory_order_relaxed) != ch->recvq.len)
        FAIL("I5: a queued token is dead, decided, misfiled or miscounted");
    if (!ch->seqring && ((lr > 0 && occ != 0) ||
                         (ls > 0 && (occ != ch->capacity || ch->policy != KC_CHAN_SUSPEND) &&
                          ch->kind != KC_CHAN_RENDEZVOUS)))
        FAIL("I3: a live waiter where the ring would have served it");
    if (ls > 0 && lr > 0 && !ch->seqring)
        FAIL("I4: live senders and receivers wait together");
    uint64_t sends = ch->seqring ? s : atomic_load_explicit(&ch->ctr.sends, memory_order_relaxed);
    uint64_t recvs =
        ch->seqring ? r : atomic_load_explicit(&ch->ctr.receives, memory_order_relaxed);
    uint64_t und = atomic_load_explicit(&ch->ctr.undelivered, memory_order_relaxed);
    if (sends != recvs + und + occ)
        FAIL("I6: sends != receives + undelivered + occupancy");
    if ((ch->ring_slots & (ch->ring_slots - 1)) != 0)
        FAIL("I7: ring size is not a power of two");
    if (ch->inside - atomic_load_explicit(&ch->left, memory_order_acquire) <
        (uint64_t)(ch->sendq.len + ch->recvq.len))
        FAIL("I9: fewer waits inside the channel than queued");
    for (uint64_t i = r; ch->arena != NULL && i != s; i++) {
        const kc_zdesc_t *d = (const kc_zdesc_t *)(const void *)slot_at(ch, i);
        bool ticket = kc_zdesc_has_ticket(d);
        if ((ticket && kc_zdesc_hydrate(d, ch->arena, NULL, NULL) != 0) ||
            (ch->boxed && (!ticket || !kc_zdesc_is_owned(d) || d->len != ch->elem_size)))
            FAIL("I8: a buffered descriptor's ticket is not live, or a boxed slot is not boxed");
    }
out_unlock:
    kc__unlock(&ch->lock);
    if (why != NULL)
        *why = why_s;
    return why_s == NULL ? 0 : -EPROTO;
}
