/* kc_chan_impl.h - the channel's private layout, shared by core/src/chan only.
 *
 * The reference design is Go's hchan: one lock per channel guards a ring of
 * slots, the two reservation indices and two queues of waiter tokens (the
 * graduated waiter_token module). The lock is never held across a park: a
 * party that must wait publishes a token in a queue, drops the lock and
 * parks; the party that meets it later does the whole transfer under the
 * lock, decides the token by CAS and wakes its owner after unlocking.
 * Select clauses sit in the same queues; a peer must first win the select's
 * claim word (the token's parent) to take one.
 *
 * Counters are atomics written with relaxed stores under the lock (one
 * writer at a time) or relaxed adds outside it, so kc_chan_snapshot() reads
 * them without the lock. Never installed.
 */
#ifndef KCORO_KC_CHAN_IMPL_H
#define KCORO_KC_CHAN_IMPL_H

#include "kcoro/chan.h"
#include "kcoro/park.h"
#include "port/kc_futex.h"
#include "waiter_token/kc_waiter.h"

#include <stdatomic.h>

/* Failure slots of kc_chan_counters.fail, in kc_chan_failures_t order. */
enum {
    KC__CHAN_F_EAGAIN,
    KC__CHAN_F_ETIME,
    KC__CHAN_F_ECANCELED,
    KC__CHAN_F_EPIPE,
    KC__CHAN_F_EINVAL,
    KC__CHAN_F_ENOMEM,
    KC__CHAN_F_EMSGSIZE,
    KC__CHAN_F_ESTALE,
    KC__CHAN_NFAIL
};

/* The counters. Written under the channel lock unless said otherwise, and
 * grouped by who writes them, each group on its own 128-byte block (the
 * adjacent-line prefetcher pairs 64-byte lines), so a producer and a
 * consumer on different cores do not pass a counter line back and forth on
 * every element: senders write the first block, receivers the second,
 * waits and failures (the slow paths) the third. */
struct kc_chan_counters {
    _Alignas(128) _Atomic uint64_t sends;
    _Atomic uint64_t bytes_sent, desc_sends;
    _Atomic uint64_t drops_oldest, drops_latest, undelivered;
    _Alignas(128) _Atomic uint64_t receives;
    _Atomic uint64_t bytes_received, desc_receives;
    _Alignas(128) _Atomic uint64_t cancelled_waiters;
    _Atomic uint64_t send_waiting, recv_waiting;
    _Atomic uint64_t fail[KC__CHAN_NFAIL]; /* relaxed adds, any time */
    /* Arena channels only; relaxed adds, any time (kc_chan_arena.c). */
    _Atomic uint64_t arena_boxed, arena_releases, arena_release_errors;
};

struct kc_chan {
    kc_lock_t lock;            /* guards everything below but `ctr` and `closed` reads */
    uint8_t kind;              /* kc_chan_kind_t */
    uint8_t policy;            /* kc_chan_policy_t */
    bool desc;                 /* elements are kc_zdesc_t */
    bool boxed;                /* a byte channel whose elements live in `arena`
                                  (its slots hold kc_zdesc_t) */
    _Atomic uint32_t closed;   /* 0/1; written under the lock, read anywhere */
    size_t capacity;           /* logical: 0, n, 1, or SIZE_MAX (unlimited) */
    size_t elem_size;          /* the user's element size (0: descriptors) */
    size_t slot_size;          /* bytes per ring slot */
    size_t max_desc_len;       /* 0: any */
    unsigned char *ring;       /* ring_slots slots; NULL for rendezvous */
    size_t ring_slots;         /* a power of two >= capacity (unlimited: grows) */
    size_t min_slots;          /* an unlimited ring never shrinks below this */
    _Atomic uint64_t send_idx; /* elements ever accepted; slot = idx & (ring_slots-1) */
    _Atomic uint64_t recv_idx; /* elements ever taken out */
    kc_waiter_queue_t sendq;   /* waiting senders and send clauses */
    kc_waiter_queue_t recvq;   /* waiting receivers and receive clauses */
    kc_chan_undelivered_fn on_undelivered;
    void *undelivered_arg;
    kc_arena_t *arena; /* attached arena, or NULL (kc_chan_arena.c) */
    char name[32];
    /* Readers of the counters (snapshots) stay off the lock's line. */
    struct kc_chan_counters ctr;
};

/* How a blocked channel operation (or select) is reached: the parker its
 * token's owner ops use, the caller's cancellation token, and the token
 * whose status decides the wait (the plain token, or the select's). */
struct kc__chan_owner {
    kc_parker_t *parker; /* the task's own (K6 of kc_park.c) or `spare` */
    kc_parker_t spare;   /* a thread's or a bare coroutine's parker */
    const kc_cancel_t *cancel;
    kc_waiter_t *arbiter;
    const _Atomic uint32_t *interrupted; /* the owner task's flag, NULL for a thread */
};

/* The owner ops of every channel token: wake = kc_unpark, park = kc_park
 * with the owner's cancel token; once the arbiter is decided, park waits
 * for the owed wake without giving up (kc_waiter.h). */
extern const kc_waiter_owner_ops_t kc__chan_owner_ops;

/* Bind o to the calling context. Never blocks. */
void kc__chan_owner_init(struct kc__chan_owner *o /* OUT */, kc_waiter_t *arbiter,
                         const kc_cancel_t *cancel);

/* Has the owner of arb (a channel token or select, not yet decided) been
 * cancelled: its token fired, or its task, scope or scheduler was? Whoever
 * decides a waiting token asks first (take_peer), so a cancellation that
 * came before a close or a peer wins even when its owner has not run yet.
 * Inline: every peer that meets a waiter asks. Never blocks. */
static inline bool kc__chan_owner_cancelled(const kc_waiter_t *arb)
{
    const struct kc__chan_owner *o = arb->owner;
    /* acquire: pairs with the seq_cst store of kc__task_interrupt */
    return (o->interrupted != NULL &&
            atomic_load_explicit(o->interrupted, memory_order_acquire) != 0) ||
           (o->cancel != NULL && kc_cancel_is_triggered(o->cancel));
}

/* Relaxed add for a counter the caller owns under the lock (no RMW). */
static inline void kc__chan_bump(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Count a failed operation by its code (any time, no lock). Returns rc. */
int kc__chan_fail(kc_chan_t *ch, int rc);

/* Validate a timeout: KC_NO_TIMEOUT or >= 0. */
static inline bool kc__chan_timeout_ok(int64_t t)
{
    return t >= 0 || t == KC_NO_TIMEOUT;
}

/* Check what a send of elem would need before it touches the channel:
 * descriptor validity and length, and with an arena attached the ticket
 * (kc_chan_arena.c). elem is a kc_zdesc_t unless ch is a plain copy
 * channel. Returns 0, -EINVAL, -EMSGSIZE or -ESTALE. */
int kc__chan_check_elem(const kc_chan_t *ch, const void *elem);

/* Rule D4 of kc_zdesc.c for a descriptor already known to be well formed
 * and to carry a ticket: the ticket is live in arena and names exactly
 * d->ptr and d->len. Returns 0 or -ESTALE. Never blocks. */
int kc__zdesc_vet(const kc_zdesc_t *d, kc_arena_t *arena);

/* The one path of every send and receive once its element is checked:
 * try under the lock, else wait (kc_chan_ops.c). elem is slot_size bytes.
 * Returns 0, -EAGAIN, -ETIME, -ECANCELED, -EPIPE or -ENOMEM, counted.
 * Can block or yield. */
int kc__chan_transfer(kc_chan_t *ch, bool send, void *elem, int64_t timeout_ns,
                      const kc_cancel_t *cancel);

/* kc_chan_select once its clauses are validated: order, poll, wait
 * (kc_select.c). Returns what kc_chan_select does. Can block or yield. */
int kc__chan_select_run(kc_chan_clause_t *cl, size_t n, uint32_t flags, int64_t timeout_ns,
                        const kc_cancel_t *cancel);

/* ---- channels with an arena attached (kc_chan_arena.c) */

/* A copy send or receive on a boxed channel: the bytes go through the
 * arena; the element's reference is released exactly once by whoever
 * ends up with it. Return what kc_chan_send / kc_chan_recv document.
 * Can block or yield. */
int kc__chan_box_send(kc_chan_t *ch, const void *msg, int64_t timeout_ns,
                      const kc_cancel_t *cancel);
int kc__chan_box_recv(kc_chan_t *ch, void *out, int64_t timeout_ns, const kc_cancel_t *cancel);

/* A select with at least one clause on a boxed channel: stage those
 * clauses' elements in the arena, run the select, then settle the staged
 * references (the winner's moved; the others released). Can block or
 * yield. */
int kc__chan_box_select(kc_chan_clause_t *cl, size_t n, uint32_t flags, int64_t timeout_ns,
                        const kc_cancel_t *cancel);

/* Under ch->lock: the element at elem (a slot or a sender's descriptor)
 * will never be received. Calls the undelivered callback as chan.h says
 * and releases the reference it holds, if the channel may. Never blocks. */
void kc__chan_arena_undelivered(kc_chan_t *ch, void *elem);

/* The checked entry points behind the copy and descriptor calls: validate
 * (desc says which element kind the caller passes), then send or receive
 * with the wait. Return what kc_chan_send / kc_chan_recv document. */
int kc__chan_send_elem(kc_chan_t *ch, bool desc, const void *elem, int64_t timeout_ns,
                       const kc_cancel_t *cancel);
int kc__chan_recv_elem(kc_chan_t *ch, bool desc, void *out, int64_t timeout_ns,
                       const kc_cancel_t *cancel);

/* Under ch->lock: send the slot_size bytes at src now, if that needs no
 * wait. Returns 0 (handed to a waiting receiver, buffered, or dropped by
 * policy), -EPIPE (closed), -ENOMEM (unlimited growth failed) or -EAGAIN
 * (it would have to wait). *wake gets the arbiter of a peer to wake once
 * the lock is dropped (or stays NULL). Never blocks. */
int kc__chan_send_locked(kc_chan_t *ch, const void *src, kc_waiter_t **wake /* OUT */);

/* Under ch->lock: receive into dst now. Returns 0, -EPIPE (closed and
 * drained) or -EAGAIN; *wake as above. Never blocks. */
int kc__chan_recv_locked(kc_chan_t *ch, void *dst, kc_waiter_t **wake /* OUT */);

/* Lock-free guesses (relaxed reads) whether a send or a receive on ch
 * could complete now. They may be wrong either way; a caller only uses them
 * to skip locking channels that look idle and confirms under the lock.
 * Never block. */
bool kc__chan_may_send(const kc_chan_t *ch);
bool kc__chan_may_recv(const kc_chan_t *ch);

/* Under ch->lock: publish the INIT token w (a plain token or a clause,
 * initialised by the caller and not published before) in the send or
 * receive queue. Plain tokens get the channel's cancellation hook. Never
 * blocks. */
void kc__chan_enqueue(kc_chan_t *ch, kc_waiter_t *w, bool send);

/* Under ch->lock: take w out of whichever of ch's queues holds it. Returns
 * true when it was there. Never blocks. */
bool kc__chan_dequeue(kc_chan_t *ch, kc_waiter_t *w);

/* Wake the owner of a decided arbiter (after dropping the lock). NULL is a
 * no-op. Every channel token's owner ops are kc__chan_owner_ops, whose wake
 * unparks the owner's parker: done here directly, without the indirect
 * call. Never blocks. */
static inline void kc__chan_wake(kc_waiter_t *arb)
{
    if (arb != NULL)
        kc_unpark(((const struct kc__chan_owner *)arb->owner)->parker);
}

/* Seed the calling thread's generator of unbiased select orders (tests use
 * it to make a run repeatable; 0 is taken as 1). Never blocks. */
void kc__chan_select_seed(uint64_t seed);

/* Check invariants I1-I7 (kc_chan.c) under ch's lock. Returns 0, or
 * -EPROTO with *why naming the broken one (why may be NULL); -EINVAL for
 * NULL. Takes the lock; never blocks for long. */
int kc__chan_check(kc_chan_t *ch, const char **why /* OUT */);

#endif /* KCORO_KC_CHAN_IMPL_H */
