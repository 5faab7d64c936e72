/* kc_chan_impl.h - the channel's private layout, shared by core/src/chan only.
 *
 * The reference design is Go's hchan: one lock per channel guards a ring of
 * slots, the two reservation indices and two queues of waiter tokens (the
 * graduated waiter_token module). The lock is never held across a park: a
 * party that must wait publishes a token in a queue, drops the lock and
 * parks; the party that meets it later does the whole transfer under the
 * lock, decides the token by CAS and wakes its owner after unlocking.
 * Select clauses sit in the same queues; a peer must first win the select's
 * claim word (the token's parent) to take one. Buffered SUSPEND channels
 * of copied elements and a power-of-two capacity are seq-ring channels
 * (kc_chan_seq.h): their ring moves without the lock.
 *
 * Counters are atomics written with relaxed stores under the lock (one
 * writer at a time) or relaxed adds outside it, so kc_chan_snapshot() reads
 * them without the lock. Never installed.
 */
#ifndef KCORO_KC_CHAN_IMPL_H
#define KCORO_KC_CHAN_IMPL_H

#include "base/kc_debug.h"
#include "kcoro/chan.h"
#include "kcoro/park.h"
#include "kcoro/registry.h"
#include "port/kc_futex.h"
#include "waiter_token/kc_waiter.h"

#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

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
    kc_lock_t lock;          /* guards everything below but `ctr` and `closed` reads,
                                and the ring and indices of a seq-ring channel */
    uint8_t kind;            /* kc_chan_kind_t */
    uint8_t policy;          /* kc_chan_policy_t */
    bool desc;               /* elements are kc_zdesc_t */
    bool boxed;              /* a byte channel whose elements live in `arena`
                                (its slots hold kc_zdesc_t) */
    bool seqring;            /* a seq-ring channel: lock-free ring (kc_chan_seq.h) */
    uint8_t detour;          /* KC__CHAN_DETOUR_* bits: calls that leave the
                                plain path (one test on the copy fast path) */
    _Atomic uint32_t closed; /* 0/1; written under the lock, read anywhere */
    size_t capacity;         /* logical: 0, n, 1, or SIZE_MAX (unlimited) */
    size_t elem_size;        /* the user's element size (0: descriptors) */
    size_t slot_size;        /* bytes per element in a ring slot */
    size_t stride;           /* bytes per ring slot: slot_size, or a slot's
                                sequence word and the element */
    size_t max_desc_len;     /* 0: any */
    unsigned char *ring;     /* ring_slots slots; NULL for rendezvous */
    size_t ring_slots;       /* a power of two >= capacity (unlimited: grows) */
    size_t min_slots;        /* an unlimited ring never shrinks below this */
    /* Elements ever accepted; slot = idx & (ring_slots-1). A seq-ring channel
     * keeps KC__CHAN_SEND_CLOSED in it once closed, so no sender can
     * reserve a slot after the close (read it through kc__chan_send_idx). */
    _Alignas(64) _Atomic uint64_t send_idx;
    _Alignas(64) _Atomic uint64_t recv_idx; /* elements ever taken out */
    kc_waiter_queue_t sendq;                /* waiting senders and send clauses */
    kc_waiter_queue_t recvq;                /* waiting receivers and receive clauses */
    /* The lifetime rule (kc_chan_destroy): waits that have not left the
     * channel yet are inside - left. Every published token adds one to
     * `inside` (under the lock); a wait leaves either by an `inside - 1`
     * under the lock (its decider's, or its own) or by a release add to
     * `left` without it (kc__chan_leave), as its last touch. */
    uint64_t inside;
    kc_chan_undelivered_fn on_undelivered;
    void *undelivered_arg;
    kc_arena_t *arena;     /* attached arena, or NULL (kc_chan_arena.c) */
    _Atomic uint64_t left; /* waits that left without the lock (see `inside`) */
    char name[32];
    int close_reason;             /* kc_chan_close_with's reason; written before `closed` */
    struct kc_chan_tick *tick;    /* a timer channel's timer (kc_chan_timer.c), or NULL */
    uint64_t id;                  /* kc_registry_new_id() at create */
    struct kc_registry_node *reg; /* the registration, or NULL (kc_chan_registry.c) */
    const struct kc__chan_remote_ops *rops;     /* a remote channel's operations, or NULL */
    void *rimpl;                                /* and their object (kc_chan_remote.c) */
    const struct kc__chan_remote_sel_ops *rsel; /* its select operations, or NULL */
    /* Readers of the counters (snapshots) stay off the lock's line. */
    struct kc_chan_counters ctr;
};

/* Bits of kc_chan.detour. A copy send or receive tests the whole byte
 * (the one branch a boxed channel already cost); a descriptor call tests
 * only REMOTE (descriptors of a boxed channel take the plain path). */
enum {
    KC__CHAN_DETOUR_BOX = 1,   /* boxed: copies go through the arena */
    KC__CHAN_DETOUR_REMOTE = 2 /* remote: everything goes through rops */
};

/* The copy calls of a channel with detour bits (kc_chan.c): a boxed
 * channel's (kc_chan_arena.c) or a remote one's. desc is unused. Return
 * what kc_chan_send / kc_chan_recv document. Can block or yield. */
int kc__chan_detour_send(kc_chan_t *ch, bool desc, const void *elem, int64_t timeout_ns,
                         const kc_cancel_t *cancel);
int kc__chan_detour_recv(kc_chan_t *ch, bool desc, void *out, int64_t timeout_ns,
                         const kc_cancel_t *cancel);

/* A remote channel's send and receive (kc_chan_remote.c): its operations,
 * counted as local ones are. elem and out hold elem_size bytes. Return
 * what kc_chan_send / kc_chan_recv document. Can block or yield. */
int kc__chan_remote_send(kc_chan_t *ch, const void *elem, int64_t timeout_ns,
                         const kc_cancel_t *cancel);
int kc__chan_remote_recv(kc_chan_t *ch, void *out, int64_t timeout_ns, const kc_cancel_t *cancel);
/* kc_chan_close / kc_chan_destroy / kc_chan_len of a remote channel. */
int kc__chan_remote_close(kc_chan_t *ch, int reason);
int kc__chan_remote_destroy(kc_chan_t *ch);
size_t kc__chan_remote_len(const kc_chan_t *ch);

/* The close mark of a seq-ring channel's send_idx (its top bit). */
#define KC__CHAN_SEND_CLOSED ((uint64_t)1 << 63)

/* send_idx without the close mark (a relaxed read). */
static inline uint64_t kc__chan_send_idx(const kc_chan_t *ch)
{
    return atomic_load_explicit(&ch->send_idx, memory_order_relaxed) & ~KC__CHAN_SEND_CLOSED;
}

/* Read both indices without the lock: *r (recv_idx) with acquire and
 * first, so every receive it shows was preceded by its send (a slot's word,
 * or the lock, orders them) and *s >= *r; then *s (send_idx, unmarked).
 * Returns the occupancy, capped at the capacity, since the sends read
 * later may have run ahead of more receives. Never blocks. */
static inline uint64_t kc__chan_read_indices(const kc_chan_t *ch, uint64_t *r /* OUT */,
                                             uint64_t *s /* OUT */)
{
    *r = atomic_load_explicit(&ch->recv_idx, memory_order_acquire);
    *s = kc__chan_send_idx(ch);
    uint64_t occ = *s - *r;
    return occ < ch->capacity ? occ : ch->capacity;
}

/* Copy one element. Fixed sizes become plain moves; the common ones are a
 * word (pointers, counters) and a descriptor. */
static inline void kc__chan_copy_elem(void *dst, const void *src, size_t n)
{
    switch (n) {
    case 4:
        memcpy(dst, src, 4);
        break;
    case 8:
        memcpy(dst, src, 8);
        break;
    case 16:
        memcpy(dst, src, 16);
        break;
    case sizeof(kc_zdesc_t):
        memcpy(dst, src, sizeof(kc_zdesc_t));
        break;
    default:
        memcpy(dst, src, n);
    }
}

/* Is ch closed? An acquire load: pairs with the release store of the
 * close (kc__chan_close_local, or a remote channel's), so whoever sees
 * it closed also sees what was sent before and the close's reason. */
static inline bool kc__chan_closed(const kc_chan_t *ch)
{
    return atomic_load_explicit(&ch->closed, memory_order_acquire) != 0;
}

/* Publish q's length in its waiting counter (q is ch's sendq or recvq).
 * Under ch->lock. */
static inline void kc__chan_sync_waiting(kc_chan_t *ch, const kc_waiter_queue_t *q)
{
    atomic_store_explicit(q == &ch->sendq ? &ch->ctr.send_waiting : &ch->ctr.recv_waiting, q->len,
                          memory_order_relaxed);
}

/* How a blocked channel operation (or select) is reached: the parker its
 * token's owner ops use, the caller's cancellation token, and the token
 * whose status decides the wait (the plain token, or the select's). */
struct kc__chan_owner {
    kc_parker_t *parker; /* the task's own (K6 of kc_park.c) or `spare` */
    kc_parker_t spare;   /* a thread's or a bare coroutine's parker */
    const kc_cancel_t *cancel;
    kc_waiter_t *arbiter;
    const _Atomic uint32_t *interrupted; /* the owner task's flag, NULL for a thread */
    /* false: whoever decides the wait (a peer, close, a withdrawal, the
     * owner's own hook) also counts its failure and takes it out of the
     * channel's `inside` under the lock, so the owner does not touch the
     * channel after its wake. true: the owner touches the channel after
     * the wait (a seq-ring channel's retry, a boxed element's release, every
     * select), counts for itself and leaves with kc__chan_leave. */
    bool self_leave;
    int prc; /* the owner's last park result, for its cancellation hook */
};

/* The owner ops of every channel token: wake = kc_unpark, park = kc_park
 * with the owner's cancel token; once the arbiter is decided, park waits
 * for the owed wake without giving up (kc_waiter.h). */
extern const kc_waiter_owner_ops_t kc__chan_owner_ops;

/* Bind o to the calling context. Never blocks. */
void kc__chan_owner_init(struct kc__chan_owner *o /* OUT */, kc_waiter_t *arbiter,
                         const kc_cancel_t *cancel);

/* Tell a task dump (kc_sched_dump.c) the clauses of the select p's task
 * waits in (after kc__chan_note_select). Never blocks. */
void kc__chan_note_clauses(const kc_parker_t *p, const kc_chan_clause_t *cl, size_t n);

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

/* Is w, a token of a sendq, a room waiter (kc__chan_wait_room in
 * kc_chan_ops.c): a sender with nothing to send? Its decider tells it
 * there is room and moves nothing (kc_chan_locked.c, R1-R2). */
static inline bool kc__chan_is_room_token(const kc_waiter_t *w)
{
    return w->kind == KC_WAITER_SENDER && w->payload.u.bytes.src == NULL;
}

/* Relaxed add for a counter the caller owns under the lock (no RMW). */
static inline void kc__chan_bump(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Count a failed operation by its code (any time, no lock). Returns rc. */
int kc__chan_fail(kc_chan_t *ch, int rc);

/* The last touch of a self_leave owner that published n tokens in ch:
 * they have left (a release add: pairs with kc_chan_destroy's acquire
 * load). n == 0 does nothing. Never blocks. */
static inline void kc__chan_leave(kc_chan_t *ch, uint64_t n)
{
    if (n != 0)
        atomic_fetch_add_explicit(&ch->left, n, memory_order_release);
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

/* kc__chan_transfer for a caller that touches ch again after it returns
 * (a boxed element's release or copy): a wait then stays inside the
 * channel and *waited says so; the caller leaves with kc__chan_leave(ch,
 * 1) after its last touch. Failures are counted. Can block or yield. */
int kc__chan_transfer_stay(kc_chan_t *ch, bool send, void *elem, int64_t timeout_ns,
                           const kc_cancel_t *cancel, bool *waited /* OUT */);

/* What one select owes the lifetime rule (kc_select.c): clause tokens
 * still inside their channels (owed[i] for clause i, valid once any_owed),
 * whether its token is held, and the clause a seq-ring channel last woke it
 * for. stay: the caller touches the channels after the select, so every
 * wait stays inside until kc__chan_select_leave. */
struct kc__select_life {
    uint32_t owed[KC_CHAN_SELECT_MAX];
    int notified;
    bool held, stay, any_owed;
};

/* owner_park for task t waiting on its own parker with no timeout and no
 * token, the common wait (kc_chan_park.c): returns 0 or -ECANCELED. */
struct kc_task;
int kc__chan_park_untimed(struct kc__chan_owner *o, struct kc_task *t);

/* kc_chan_select once its clauses are validated: order, poll, wait
 * (kc_select.c). Returns what kc_chan_select does. With life NULL the
 * select leaves every channel before it returns; with life, the caller
 * touches the clauses' channels afterwards and then calls
 * kc__chan_select_leave. Can block or yield. */
int kc__chan_select_run(kc_chan_clause_t *cl, size_t n, uint32_t flags, int64_t timeout_ns,
                        const kc_cancel_t *cancel, struct kc__select_life *life);

/* The last touches of a select run with a life: every clause token still
 * inside its channel leaves. Never blocks. */
void kc__chan_select_leave(kc_chan_clause_t *cl, size_t n, struct kc__select_life *life);

/* kc_chan_close with a reason (kc_chan_close_with); kc_chan_close passes
 * 0. Returns 0, -EINVAL (NULL) or -EPIPE (closed already: its reason stays).
 * Never blocks. */
int kc__chan_close(kc_chan_t *ch, int reason);

/* The close of a local channel (kc_chan_locked.c): marks it closed with
 * reason and decides every waiting token. Returns 0 or -EPIPE (closed
 * already: its reason stays). Never blocks. */
int kc__chan_close_local(kc_chan_t *ch, int reason);

/* Create a local channel of opts (kc_chan_locked.c): checks opts, then
 * allocates the channel and its ring and registers it. OUT *out: GIVES the
 * channel. Returns 0, -EINVAL or -ENOMEM. Never blocks. */
int kc__chan_new(kc_chan_t **out /* OUT */, const kc_chan_opts_t *opts);

/* Free a local channel under the lifetime rule (kc_chan_locked.c): its
 * buffered elements become undelivered. Returns 0, or -EBUSY (a wait is
 * still queued, or one on its way out took too long; nothing changed).
 * Can yield briefly. */
int kc__chan_free(kc_chan_t *ch);

/* Stop a timer channel's timer for good and free it (kc_chan_timer.c);
 * kc_chan_destroy calls it first. Can block briefly (a running tick). */
void kc__chan_tick_free(kc_chan_t *ch);

/* What the clause check of kc_select.c answers for a clause that is off
 * (KC_CHAN_CLAUSE_OFF, NULL chan) or discards (NULL buf). */
#define KC__SELECT_SPARSE 1

/* The bits of kc__chan_select_check's *detour: clauses that leave the
 * plain select (one byte, so the plain select tests it once). */
enum {
    KC__SELECT_BOXED = 1, /* a clause on a boxed channel: kc_chan_arena.c */
    KC__SELECT_REMOTE = 2 /* a clause on a remote channel: kc_select_remote.c */
};

/* Check a select's clauses (kc_select.c): their count, flags, sizes and
 * ops, and what each send clause would send. Returns 0 (*detour gets the
 * KC__SELECT_BOXED and _REMOTE bits of the clauses' channels),
 * KC__SELECT_SPARSE, or a negative errno (counted on the clause's channel;
 * -ENOTSUP for a remote channel without select operations). Never
 * blocks. */
int kc__chan_select_check(const kc_chan_clause_t *cl, size_t n, uint32_t flags,
                          uint8_t *detour /* OUT */);

/* A select with off or discarding clauses (kc_select_off.c) runs the
 * clauses that are on as a select of their own: `on` holds them, in order,
 * each discard pointed at one scratch buffer, and `back` their indices in
 * the caller's array. */
struct kc__select_on {
    kc_chan_clause_t cl[KC_CHAN_SELECT_MAX];
    uint8_t back[KC_CHAN_SELECT_MAX];
    size_t n;
    void *scratch; /* stack_scratch, or malloc'd */
    _Alignas(max_align_t) unsigned char stack_scratch[256];
};

/* Fill *on from the n clauses of cl (n, flags and the timeout checked by
 * the caller). Returns 0, KC__SELECT_NONE_ON (every clause is off), or
 * -EINVAL, -ENOTSUP, -ENOMEM (nothing to undo). Never blocks. */
int kc__chan_select_on(struct kc__select_on *on /* OUT */, const kc_chan_clause_t *cl, size_t n);
#define KC__SELECT_NONE_ON 1

/* After the select over on->cl returned rc: map a fired clause's index
 * and result back to cl, drop a discarded element (an owned descriptor
 * goes back to its arena) and free the scratch buffer. Returns the index
 * in cl, or rc when it is negative. Never blocks. */
int kc__chan_select_on_done(struct kc__select_on *on, kc_chan_clause_t *cl, int rc);

/* A select with every clause off: wait for the timeout or cancellation
 * only (kc_select_off.c). Returns -EAGAIN, -ETIME or -ECANCELED. Can block
 * or yield. */
int kc__chan_select_none(int64_t timeout_ns, const kc_cancel_t *cancel);

/* A select's run ends with this instead of a clause index or a negative
 * errno when a wake-up asked it to run again (a seq-ring channel's retry
 * or a remote clause's fire). */
#define KC__SELECT_RETRY INT_MIN

/* What a select with remote clauses keeps about them across its runs
 * (kc_select_remote.c): the cookie of each one's last arming (the claim of
 * a fire that won names it) and whether the current wait armed it. */
struct kc__select_far {
    uint64_t cookie[KC_CHAN_SELECT_MAX];
    bool armed[KC_CHAN_SELECT_MAX];
};

/* The clause at index i fired with rc (0, -EPIPE, -ECONNRESET): records
 * its result and returns i; -ENOMEM fails the select. Never blocks. */
int kc__chan_select_fired(kc_chan_clause_t *cl, size_t i, int rc);

/* A local clause tried as a select's poll does (kc_select.c): 0 fired,
 * -EAGAIN not ready, -ECANCELED, or the clause's error. Never blocks. */
int kc__chan_select_poll(kc_chan_clause_t *c, const kc_cancel_t *cancel);

/* A select's wait after a poll found nothing (kc_select.c): lock the
 * local clauses' channels, poll them again, publish, arm the remote
 * clauses (far; NULL when there are none), park, withdraw every clause.
 * Returns a clause index, a negative errno or KC__SELECT_RETRY. Can block
 * or yield. */
int kc__chan_select_wait(kc_chan_clause_t *cl, size_t n, const uint8_t *order, int64_t timeout_ns,
                         const kc_cancel_t *cancel, struct kc__select_life *life,
                         struct kc__select_far *far);

/* kc_chan_select with a clause on a remote channel (kc_select_remote.c),
 * after the checks, the cancellation check and the timeout's
 * normalisation. Returns what kc_chan_select does. Can block or yield. */
int kc__chan_select_remote(kc_chan_clause_t *cl, size_t n, uint32_t flags, int64_t timeout_ns,
                           const kc_cancel_t *cancel);

/* The order in which a select tries its clauses: 0..n-1 when biased, a
 * fresh uniform permutation when unbiased (kc_select.c). Never blocks. */
void kc__chan_select_order(uint8_t *order /* OUT */, size_t n, uint32_t flags);

/* Record, for the deadlock report, that the owner of p (a task, else
 * nothing is recorded) waits in a select of n clauses, the first of them on
 * first (NULL: all off). Never blocks. */
void kc__chan_note_select(const kc_parker_t *p, const kc_chan_t *first, size_t n);

/* May anyone read what waits note (a deadlock check, the dump signal, a
 * monitor, a scheduler dumped once: D4 of kc_sched_dump.c)? One relaxed
 * load (kc__deadlock_watched: base/kc_debug.h). */
static inline bool kc__chan_noting(void)
{
    return atomic_load_explicit(&kc__deadlock_watched, memory_order_relaxed) != 0;
}

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

/* Release the reference the descriptor d of ch's arena holds (rule A1 of
 * kc_chan_arena.c), counted; a release the arena refuses is counted as an
 * error and logged, never retried (kc_chan_locked.c). Never blocks. */
void kc__chan_arena_release(kc_chan_t *ch, kc_zdesc_t *d);

/* Under ch's lock (or, on a remote channel, where its backend settles an
 * element), with an arena attached: the descriptor at elem will never be
 * received. Shows it to the undelivered callback (the element's bytes on a
 * boxed channel, else a view) and releases the reference it holds, if the
 * channel may (kc_chan_locked.c). */
void kc__chan_arena_undelivered(kc_chan_t *ch, const void *elem);

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

/* Check invariants I1-I9 (kc_chan_locked.c) under ch's lock. Returns 0, or
 * -EPROTO with *why naming the broken one (why may be NULL); -EINVAL for
 * NULL. Takes the lock; never blocks for long. */
int kc__chan_check(kc_chan_t *ch, const char **why /* OUT */);

/* ---- kc_chan_registry.c */
/* Give ch its id and, when opts or KCORO_REGISTRY ask, register it:
 * 0 or -ENOMEM (then nothing is registered). Never blocks. */
int kc__chan_register(kc_chan_t *ch, const kc_chan_opts_t *opts);
/* End ch's registration, if any (before it is freed). */
void kc__chan_unregister(kc_chan_t *ch);

#endif /* KCORO_KC_CHAN_IMPL_H */
