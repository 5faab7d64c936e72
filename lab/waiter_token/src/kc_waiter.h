/* kc_waiter.h - waiter tokens: who waits, for what, and how the wait ends.
 *
 * A waiter token is the record a blocked operation leaves behind: its kind
 * (sender, receiver, or the shared state word of a select), its owner (a
 * coroutine or a thread, reached only through a wake/park pair), a typed
 * payload (bytes, a pointer, or a descriptor), a status that changes only by
 * compare-and-swap, a cancellation hook, and an intrusive queue link. The
 * caller owns the memory (usually its stack); a scope guard ends every
 * token's life exactly once. Internal API: channels and select build on it;
 * nothing here is installed.
 *
 * Status (kc_waiter_status_t), changed only by the helpers named here:
 *
 *   from       to         by                       when
 *   ---------  ---------  -----------------------  ---------------------------
 *   INIT       ENQUEUED   kc__waiter_publish       about to become visible
 *   ENQUEUED   INIT       kc__waiter_retract       the publishing CAS failed:
 *                                                  it never became visible
 *   ENQUEUED   CLAIMED    kc__waiter_try_claim     a peer won the match
 *   ENQUEUED   CLAIMED    kc__waiter_claim_locked  a peer won the match under
 *                                                  the lock that serialises
 *                                                  every decision of the token
 *   ENQUEUED   CANCELLED  kc__waiter_try_cancel    timeout, cancel, withdrawal
 *   any        (released) kc__waiter_scope_end     once, after the outcome
 *
 * A plain token's fate is decided by the structure it is published in (the
 * rendezvous cell's CAS, or a channel's lock); its status follows. A select
 * clause (a SENDER or RECEIVER token with a parent) is decided by its
 * parent's status: that one word is the select's exactly-once claim.
 */
#ifndef KCORO_KC_WAITER_H
#define KCORO_KC_WAITER_H

#include "kcoro/base.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

typedef struct kc_waiter kc_waiter_t;

/* What a token waits to do. SELECT tokens carry no payload: they are the
 * shared arbiter of the clause tokens that point at them. */
typedef enum kc_waiter_kind {
    KC_WAITER_SENDER = 1,   /* offers its payload */
    KC_WAITER_RECEIVER = 2, /* wants a payload of a declared type */
    KC_WAITER_SELECT = 3    /* the claim word of one select */
} kc_waiter_kind_t;

/* Where a token is in its life (table above). */
typedef enum kc_waiter_status {
    KC_WAITER_INIT = 0,     /* built, not visible to anyone else */
    KC_WAITER_ENQUEUED = 1, /* published: a peer may claim it */
    KC_WAITER_CLAIMED = 2,  /* a peer won it; the payload moved (or failed) */
    KC_WAITER_CANCELLED = 3 /* withdrawn before any peer won it */
} kc_waiter_status_t;

/* The type tag of a payload; a receiver declares the type it accepts. */
typedef enum kc_payload_type {
    KC_PAYLOAD_NONE = 0,  /* nothing (select tokens) */
    KC_PAYLOAD_BYTES = 1, /* copied: sender's bytes into receiver's buffer */
    KC_PAYLOAD_PTR = 2,   /* a pointer handed over as a value */
    KC_PAYLOAD_DESC = 3   /* a descriptor whose ownership moves */
} kc_payload_type_t;

/* KC_WAITER_DESC_OWNED marks the holder of a descriptor as responsible for
 * releasing its region. A successful hand-off moves the flag from sender to
 * receiver; a failed one leaves it with the sender. */
#define KC_WAITER_DESC_OWNED 0x1u

/* A zero-copy descriptor as the lab sees one: a region, an arena ticket
 * (opaque here) and flags. Core's kc_zdesc takes its place at graduation. */
typedef struct kc_waiter_desc {
    void *ptr;       /* start of the region */
    size_t len;      /* bytes in the region */
    uint64_t ticket; /* allocator ticket naming the region, 0 if none */
    uint32_t flags;  /* KC_WAITER_DESC_* */
} kc_waiter_desc_t;

/* A typed payload. Senders fill the value; receivers declare the type and,
 * for bytes, where to copy them and how much room there is. */
typedef struct kc_payload {
    kc_payload_type_t type;
    union {
        struct {
            const void *src; /* sender: the bytes (BORROWS until outcome) */
            void *dst;       /* receiver: where they land */
            size_t len;      /* sender: length; receiver: length received */
            size_t cap;      /* receiver: room at dst */
        } bytes;
        void *ptr;
        kc_waiter_desc_t desc;
    } u;
} kc_payload_t;
_Static_assert(sizeof(((kc_payload_t *)0)->u) == sizeof(((kc_payload_t *)0)->u.bytes),
               "kc__waiter_reset clears the payload union through its bytes member");

/* How a token reaches its owner. wake() makes the owner runnable and may be
 * called from any thread; park() blocks the owner until a wake or until
 * timeout_ns passes (KC_NO_TIMEOUT: forever; 0: do not block) and returns
 * 0 after consuming a wake, -ETIME when the time ran out, or another
 * negative errno when the owner's own cancellation fired first (-ECANCELED);
 * that code becomes the token's result when the withdrawal wins. A wake
 * that comes before the park must not be lost (a permit). Once the token
 * is decided (no longer ENQUEUED), park(KC_NO_TIMEOUT) waits for the owed
 * wake and must not give up on it, since the waker may still touch the
 * owner. A coroutine owner parks through its scheduler, a thread owner
 * through a condition variable or futex. */
typedef struct kc_waiter_owner_ops {
    void (*wake)(void *owner);
    int (*park)(void *owner, int64_t timeout_ns);
} kc_waiter_owner_ops_t;

/* A cancellation hook: withdraw w from wherever it is published. Returns 1
 * when the withdrawal won (w is CANCELLED and no peer will touch it), 0 when
 * a peer or another canceller decided first, or a negative errno. Set by the
 * structure that publishes w (kc__rv_cell_offer sets its own). */
typedef int (*kc_waiter_cancel_fn)(kc_waiter_t *w);

/* KC_WAITER_MAGIC_LIVE marks a token between init and release; a released
 * token carries KC_WAITER_MAGIC_DEAD, and any use of it returns -ESTALE. */
#define KC_WAITER_MAGIC_LIVE 0x6b77746eu
/* The mark of a released token (see KC_WAITER_MAGIC_LIVE). */
#define KC_WAITER_MAGIC_DEAD 0x6b776464u

/* The token. Caller-allocated; initialise with kc__waiter_init() or
 * kc__waiter_init_clause(), never by hand. Aligned to 16 so a pointer to it
 * leaves four low bits free for a cell's state and clause mark. */
struct kc_waiter {
    _Alignas(16) _Atomic int status;  /* kc_waiter_status_t, CAS helpers only */
    uint8_t kind;                     /* kc_waiter_kind_t */
    _Atomic uint32_t magic;           /* KC_WAITER_MAGIC_LIVE or _DEAD */
    int result;                       /* outcome (-EAGAIN until something
                                          happens), written by the decider */
    void *owner;                      /* BORROWS: the owner's context */
    const kc_waiter_owner_ops_t *ops; /* BORROWS: how to wake and park it */
    kc_waiter_t *parent;              /* a clause's select token, else NULL */
    kc_waiter_cancel_fn cancel;       /* withdraws it from `site` */
    void *site;                       /* where it is published (cell, queue) */
    void *site_stats;                 /* that structure's counters, or NULL */
    kc_waiter_t *next;                /* intrusive queue link */
    kc_waiter_t *prev;
    kc_payload_t payload;
    void *user; /* the caller's own tag (clause index) */
};

/* The select token's cancellation hook (defined with the cancellation
 * calls below); kc__waiter_init installs it. */
int kc__waiter_select_cancel(kc_waiter_t *w);

/* The hot operations of a wait (init, payload, publish, queue, scope) are
 * inline: every channel operation that waits runs all of them, and calls
 * across files cost more than their bodies. These three checks serve them:
 * usable (0, -EINVAL or -ESTALE), the status without ordering, settable
 * (a live INIT token of the given kind). */

static inline int kc__waiter_usable(const kc_waiter_t *w)
{
    if (w == NULL)
        return -EINVAL;
    uint32_t m = atomic_load_explicit(&w->magic, memory_order_relaxed);
    if (m == KC_WAITER_MAGIC_DEAD)
        return -ESTALE;
    return m == KC_WAITER_MAGIC_LIVE ? 0 : -EINVAL;
}

static inline kc_waiter_status_t kc__waiter_status_relaxed(const kc_waiter_t *w)
{
    return (kc_waiter_status_t)atomic_load_explicit(&w->status, memory_order_relaxed);
}

static inline int kc__waiter_settable(const kc_waiter_t *w, kc_waiter_kind_t kind)
{
    int rc = kc__waiter_usable(w);
    if (rc != 0)
        return rc;
    return w->kind == kind && kc__waiter_status_relaxed(w) == KC_WAITER_INIT ? 0 : -EINVAL;
}

/* Every field of w to its initial value: a live INIT token of kind with no
 * owner, payload or links (the body of the init calls). Field by field,
 * not memset: a wait builds a token on every call, and the string
 * instruction a memset of this size becomes starts slowly. */
static inline void kc__waiter_reset(kc_waiter_t *w, kc_waiter_kind_t kind)
{
    atomic_init(&w->status, KC_WAITER_INIT);
    w->kind = (uint8_t)kind;
    atomic_init(&w->magic, KC_WAITER_MAGIC_LIVE);
    w->result = -EAGAIN; /* nothing happened yet */
    w->owner = NULL;
    w->ops = NULL;
    w->parent = NULL;
    w->cancel = NULL;
    w->site = NULL;
    w->site_stats = NULL;
    w->next = NULL;
    w->prev = NULL;
    w->payload.type = KC_PAYLOAD_NONE;
    w->payload.u.bytes.src = NULL; /* the bytes member spans the union */
    w->payload.u.bytes.dst = NULL;
    w->payload.u.bytes.len = 0;
    w->payload.u.bytes.cap = 0;
    w->user = NULL;
}

/* Initialise w as a plain SENDER or RECEIVER token, or a SELECT token, with
 * no payload. owner is the owner's context handed to ops.
 * Errors: -EINVAL (NULL w or ops, ops without wake or park, bad kind).
 * Never blocks. */
static inline int kc__waiter_init(kc_waiter_t *w, kc_waiter_kind_t kind, void *owner,
                                  const kc_waiter_owner_ops_t *ops)
{
    if (w == NULL || ops == NULL || ops->wake == NULL || ops->park == NULL)
        return -EINVAL;
    if (kind != KC_WAITER_SENDER && kind != KC_WAITER_RECEIVER && kind != KC_WAITER_SELECT)
        return -EINVAL;
    kc__waiter_reset(w, kind);
    w->owner = owner;
    w->ops = ops;
    if (kind == KC_WAITER_SELECT)
        w->cancel = kc__waiter_select_cancel;
    return 0;
}

/* Initialise w as a clause of the select token sel: a SENDER or RECEIVER
 * token decided by sel's status, woken through sel's owner.
 * Errors: -EINVAL (NULL, bad kind, sel not a SELECT token); -ESTALE (sel
 * was released). Never blocks. */
int kc__waiter_init_clause(kc_waiter_t *w /* OUT */, kc_waiter_kind_t kind,
                           kc_waiter_t *sel /* BORROWS */);

/* Sender payloads. put_bytes BORROWS src until the outcome is known;
 * put_desc TAKES the descriptor (its OWNED flag moves on success).
 * Errors: -EINVAL (not an INIT sender, NULL src with len > 0, NULL desc);
 * -ESTALE (released token). Never block. */
static inline int kc__waiter_put_bytes(kc_waiter_t *w, const void *src, size_t len)
{
    int rc = kc__waiter_settable(w, KC_WAITER_SENDER);
    if (rc != 0)
        return rc;
    if (src == NULL && len > 0)
        return -EINVAL;
    w->payload.type = KC_PAYLOAD_BYTES;
    w->payload.u.bytes.src = src;
    w->payload.u.bytes.dst = NULL;
    w->payload.u.bytes.len = len;
    w->payload.u.bytes.cap = 0;
    return 0;
}
int kc__waiter_put_ptr(kc_waiter_t *w, void *p);
int kc__waiter_put_desc(kc_waiter_t *w, const kc_waiter_desc_t *d);

/* Receiver payloads: want_bytes declares a buffer of cap bytes; want
 * declares KC_PAYLOAD_PTR or KC_PAYLOAD_DESC.
 * Errors: -EINVAL (not an INIT receiver, NULL dst with cap > 0, bad type);
 * -ESTALE. Never block. */
static inline int kc__waiter_want_bytes(kc_waiter_t *w, void *dst, size_t cap)
{
    int rc = kc__waiter_settable(w, KC_WAITER_RECEIVER);
    if (rc != 0)
        return rc;
    if (dst == NULL && cap > 0)
        return -EINVAL;
    w->payload.type = KC_PAYLOAD_BYTES;
    w->payload.u.bytes.src = NULL;
    w->payload.u.bytes.dst = dst;
    w->payload.u.bytes.len = 0;
    w->payload.u.bytes.cap = cap;
    return 0;
}
int kc__waiter_want(kc_waiter_t *w, kc_payload_type_t type);

/* Take what a receiver got, as a claimed waiter or as the arriving party
 * that met a waiting sender. take_desc GIVES the descriptor (the token's
 * copy loses its OWNED flag); bytes_len returns the length copied.
 * Errors: -EINVAL (NULL, not a receiver, wrong type); -EAGAIN (nothing
 * received: no match yet, cancelled, or the transfer failed). Never block. */
int kc__waiter_take_ptr(kc_waiter_t *w, void **out /* OUT */);
int kc__waiter_take_desc(kc_waiter_t *w, kc_waiter_desc_t *out /* OUT */);
int kc__waiter_bytes_len(const kc_waiter_t *w, size_t *out /* OUT */);

/* The status word, read with acquire (pairs with the release of the CAS
 * that set it). Inline: every wait and every match reads it. Never blocks. */
static inline kc_waiter_status_t kc__waiter_status(const kc_waiter_t *w)
{
    /* acquire: pairs with the release of the CAS that set the status, so a
     * CLAIMED owner sees the payload and result its peer wrote */
    return (kc_waiter_status_t)atomic_load_explicit(&w->status, memory_order_acquire);
}

/* The token whose status decides w: its select for a clause, else w. */
static inline kc_waiter_t *kc__waiter_arbiter(kc_waiter_t *w)
{
    return w->parent ? w->parent : w;
}

/* One status CAS (inline: the match path of every channel runs it).
 * acq_rel: acquire pairs with the release of whoever moved the status last
 * (the owner's publish); release hands our writes (payload, result) to the
 * owner's acquire in kc__waiter_status(). */
static inline bool kc__waiter_cas_status(kc_waiter_t *w, kc_waiter_status_t from,
                                         kc_waiter_status_t to)
{
    int expected = (int)from;
    return atomic_compare_exchange_strong_explicit(&w->status, &expected, (int)to,
                                                   memory_order_acq_rel, memory_order_relaxed);
}

/* INIT -> ENQUEUED without the checks: the step kc__waiter_publish takes
 * once it has checked w, for a caller that built w itself just now (so it
 * knows w is a live INIT token with a way to withdraw it). relaxed load and
 * store, no CAS: an INIT token is still private to its owner, so nobody
 * else writes its status; the structure's own publishing step (a lock's
 * release, a cell's release CAS) makes this and the payload visible
 * together. Never blocks. */
static inline void kc__waiter_mark_enqueued(kc_waiter_t *w)
{
    atomic_store_explicit(&w->status, KC_WAITER_ENQUEUED, memory_order_relaxed);
}

/* Status helpers (table above). publish and retract return 0 or -EINVAL
 * (wrong status, released token); try_claim and try_cancel return true when
 * their CAS won. For a token published in a structure, only that
 * structure's code calls them. Never block. */
static inline int kc__waiter_publish(kc_waiter_t *w)
{
    int rc = kc__waiter_usable(w);
    if (rc != 0)
        return rc;
    if (w->parent == NULL && w->cancel == NULL)
        return -EINVAL; /* W6: nobody could withdraw it */
    if (kc__waiter_status_relaxed(w) != KC_WAITER_INIT)
        return -EINVAL;
    kc__waiter_mark_enqueued(w);
    return 0;
}
int kc__waiter_retract(kc_waiter_t *w);
static inline bool kc__waiter_try_claim(kc_waiter_t *w)
{
    return kc__waiter_cas_status(w, KC_WAITER_ENQUEUED, KC_WAITER_CLAIMED);
}
static inline bool kc__waiter_try_cancel(kc_waiter_t *w)
{
    return kc__waiter_cas_status(w, KC_WAITER_ENQUEUED, KC_WAITER_CANCELLED);
}

/* Claim a token whose every decision is made under one lock the caller
 * holds (a token in a locked channel's queue: peers, close, withdrawals and
 * its cancellation hook all take that lock). Nobody can move the status
 * meanwhile, so a release store does what try_claim's CAS does, without a
 * locked instruction. Returns false, changing nothing, unless w is
 * ENQUEUED. Never blocks. */
static inline bool kc__waiter_claim_locked(kc_waiter_t *w)
{
    if (kc__waiter_status_relaxed(w) != KC_WAITER_ENQUEUED)
        return false;
    /* release: as try_claim's, pairs with the owner's acquire in
     * kc__waiter_status() */
    atomic_store_explicit(&w->status, KC_WAITER_CLAIMED, memory_order_release);
    return true;
}

/* Move the sender's payload into the receiver's, after the caller won the
 * right to (both tokens pinned). Returns 0; -EPROTO when the types differ;
 * -EMSGSIZE when the bytes do not fit. On failure nothing moves and the
 * descriptor stays with the sender. Never blocks. */
int kc__waiter_transfer(kc_waiter_t *snd, kc_waiter_t *rcv);

/* Third-party cancellation: run w's hook; if it wins, record reason (e.g.
 * -ECANCELED) as w's result and wake the owner. The caller must know w's
 * memory stays valid meanwhile (for instance, it holds the lock under which
 * the owner unregisters w before releasing it). Returns 1 (won), 0 (too
 * late: a peer or another canceller decided) or -EINVAL (NULL, no hook,
 * a clause: cancel its select instead) / -ESTALE. Never blocks. */
int kc__waiter_cancel(kc_waiter_t *w, int reason);

/* The cancellation hook of a SELECT token: its status is the claim word, so
 * cancelling is one CAS. Installed by kc__waiter_init for SELECT tokens. */

/* The scope guard: the one place that turns a token's status into the
 * right release, so callers keep no flags of their own. begin takes
 * responsibility for w (a plain or SELECT token, still INIT). wait settles
 * the outcome: if w was published it parks up to timeout_ns, cancels w
 * through its hook when the time runs out, and consumes the wake a peer or
 * canceller owes. end settles (when wait was not called) and then releases w
 * exactly once (marks it dead). Both return w's result: 0 (the payload
 * moved, as a claimed waiter or as the arriving party), the transfer error,
 * -EAGAIN (nothing happened: never matched, or timeout 0 and nobody came),
 * -ETIME (timed out), -ECANCELED or a canceller's reason,
 * -EPROTO (woken while still published); -EINVAL when sc is not open.
 * A select owner calls wait, withdraws its clauses, then end.
 * Can block (parks the owner). */
typedef struct kc_waiter_scope {
    kc_waiter_t *w; /* the token still to release; NULL once released */
    int outcome;    /* w's result once settled */
    bool settled;   /* the outcome is known and the owed wake consumed */
} kc_waiter_scope_t;

static inline int kc__waiter_scope_begin(kc_waiter_scope_t *sc, kc_waiter_t *w)
{
    if (sc == NULL)
        return -EINVAL;
    memset(sc, 0, sizeof(*sc));
    int rc = kc__waiter_usable(w);
    if (rc != 0)
        return rc;
    if (w->parent != NULL || kc__waiter_status_relaxed(w) != KC_WAITER_INIT)
        return -EINVAL;
    sc->w = w;
    return 0;
}

/* Settle a published token (the out-of-line half of scope_wait): park for
 * its outcome, cancel on timeout, consume the one wake owed when someone
 * else decided (R2). Returns the token's result. Can block or yield. */
int kc__waiter_settle(kc_waiter_t *w, int64_t timeout_ns);

/* Did a park that returned prc end the wait: woken (0) with w decided?
 * Then the outcome is w's result and the owed wake is consumed. The first
 * question of every settle; inline, so the wait that parked on its own
 * asks it without a call. Never blocks. */
static inline bool kc__waiter_woken_decided(const kc_waiter_t *w, int prc)
{
    return prc == 0 && kc__waiter_status(w) != KC_WAITER_ENQUEUED;
}

/* The rest of kc__waiter_settle for an owner that parked once on its own
 * (a scheduler's specialised park, not ops->park), up to timeout_ns, and
 * got prc back (0: woken; -ETIME, -ECANCELED: gave up). Returns the
 * token's result. Can block (the owed wake, through ops->park). */
int kc__waiter_settle_parked(kc_waiter_t *w, int prc, int64_t timeout_ns);

static inline int kc__waiter_scope_wait(kc_waiter_scope_t *sc, int64_t timeout_ns)
{
    if (sc == NULL || sc->w == NULL)
        return -EINVAL;
    if (!sc->settled) {
        kc_waiter_t *w = sc->w;
        sc->outcome = kc__waiter_status_relaxed(w) == KC_WAITER_INIT
                          ? w->result
                          : kc__waiter_settle(w, timeout_ns);
        sc->settled = true;
    }
    return sc->outcome;
}

static inline int kc__waiter_scope_end(kc_waiter_scope_t *sc, int64_t timeout_ns)
{
    int rc = kc__waiter_scope_wait(sc, timeout_ns);
    if (sc == NULL || sc->w == NULL)
        return rc;
    /* relaxed: a canceller that still reads magic does so under its own
     * registry lock; the value only turns later API calls into -ESTALE */
    atomic_store_explicit(&sc->w->magic, KC_WAITER_MAGIC_DEAD, memory_order_relaxed);
    sc->w = NULL;
    return rc;
}

/* kc__waiter_scope_end for an owner that parked once on its own after
 * publishing sc's token, up to timeout_ns, and got prc back: settles
 * through kc__waiter_settle_parked, then releases. Returns what
 * kc__waiter_scope_end does. Can block (an owed wake). */
static inline int kc__waiter_scope_end_parked(kc_waiter_scope_t *sc, int prc, int64_t timeout_ns)
{
    if (sc == NULL || sc->w == NULL)
        return -EINVAL;
    if (!sc->settled) {
        kc_waiter_t *w = sc->w;
        sc->outcome = kc__waiter_woken_decided(w, prc)
                          ? w->result
                          : kc__waiter_settle_parked(w, prc, timeout_ns);
        sc->settled = true;
    }
    return kc__waiter_scope_end(sc, timeout_ns);
}

/* An intrusive FIFO of tokens for structures that keep waiters in a list
 * (a locked channel). Not thread-safe: the caller holds its lock. push
 * records q as the token's site. */
typedef struct kc_waiter_queue {
    kc_waiter_t *head;
    kc_waiter_t *tail;
    size_t len;
} kc_waiter_queue_t;

/* Queue operations. push: 0 or -EINVAL (NULL, already queued); pop: the
 * head or NULL; remove: 0 or -EINVAL (w not in q). Never block. */
void kc__waiter_queue_init(kc_waiter_queue_t *q /* OUT */);
/* Append w to q, unchecked (push's body). */
static inline void kc__waiter_queue_link(kc_waiter_queue_t *q, kc_waiter_t *w)
{
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    w->site = q;
    q->len++;
}
static inline int kc__waiter_queue_push(kc_waiter_queue_t *q, kc_waiter_t *w)
{
    if (q == NULL || kc__waiter_usable(w) != 0 || w->site != NULL)
        return -EINVAL; /* already published somewhere */
    kc__waiter_queue_link(q, w);
    return 0;
}

/* Publish the token w, which the caller initialised itself and nobody else
 * has seen, at the tail of q: kc__waiter_publish and kc__waiter_queue_push
 * without the checks the caller's own construction makes redundant (a
 * live INIT token, with a cancellation hook or a parent, in no queue).
 * Under q's lock. Never blocks. */
static inline void kc__waiter_queue_publish_new(kc_waiter_queue_t *q, kc_waiter_t *w)
{
    kc__waiter_mark_enqueued(w);
    kc__waiter_queue_link(q, w);
}

int kc__waiter_queue_remove(kc_waiter_queue_t *q, kc_waiter_t *w);
static inline kc_waiter_t *kc__waiter_queue_pop(kc_waiter_queue_t *q)
{
    kc_waiter_t *w = q ? q->head : NULL;
    if (w == NULL)
        return NULL;
    q->head = w->next;
    if (w->next)
        w->next->prev = NULL;
    else
        q->tail = NULL;
    w->next = w->prev = NULL;
    w->site = NULL;
    q->len--;
    return w;
}

/* Names for printing. */
const char *kc__waiter_status_name(kc_waiter_status_t s);
const char *kc__waiter_kind_name(kc_waiter_kind_t k);
const char *kc__payload_type_name(kc_payload_type_t t);

/* Check invariants W1-W8 (kc_waiter.c) of a token nobody else is using.
 * Returns 0, or -EPROTO with *why naming the broken invariant (why may be
 * NULL); -EINVAL for NULL; -ESTALE for a released token. Never blocks. */
int kc__waiter_check(const kc_waiter_t *w, const char **why /* OUT */);

#endif /* KCORO_KC_WAITER_H */
