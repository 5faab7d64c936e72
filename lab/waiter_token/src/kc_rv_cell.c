/* kc_rv_cell.c - the rendezvous cell state machine, driven only by CAS.
 *
 * One word per cell: the state (bits 0-2), a clause mark (bit 3) and the
 * waiting token (16-byte aligned) above. The party that arrives second does
 * all the work: it wins the cell, moves the payload, sets the token's status
 * and wakes its owner. Nothing here blocks or locks; the only wait is
 * kc__rv_cell_withdraw_wait(), which spins then yields while a peer holds a
 * select clause for two CASes.
 *
 *   state           event                                next            by
 *   --------------  -----------------------------------  --------------  ----------------------
 *   EMPTY           a sender publishes its token         SENDER_READY    kc__rv_cell_offer,
 *                                                                        kc__rv_cell_register
 *   EMPTY           a receiver publishes its token       RECEIVER_READY  kc__rv_cell_offer,
 *                                                                        kc__rv_cell_register
 *   EMPTY           an arrival that will not wait        CANCELLED       kc__rv_cell_poison
 *   SENDER_READY    a receiver meets a plain sender      MATCHED         kc__rv_cell_offer,
 *                                                                        kc__rv_cell_try_match
 *   RECEIVER_READY  a sender meets a plain receiver      MATCHED         (same)
 *   *_READY         a peer meets a select clause         CLAIMING        (same)
 *   CLAIMING        the peer won the select's claim      MATCHED         (same call)
 *   CLAIMING        the select was decided elsewhere     CANCELLED       (same call)
 *   *_READY         the owner (timeout) or a canceller   CANCELLED       kc__rv_cell_withdraw,
 *                   withdraws the token                                  kc__rv_cell_cancel_hook
 *   MATCHED,        the cell is recycled                 EMPTY           kc__rv_cell_reset
 *   CANCELLED
 *
 * Invariants (kc__rv_cell_check() asserts C1-C5 on a quiescent cell):
 *   C1  the state bits hold one of the six states.
 *   C2  EMPTY names no token and has no clause mark; SENDER_READY,
 *       RECEIVER_READY, CLAIMING and MATCHED name one.
 *   C3  a *_READY cell names a live ENQUEUED token of the matching kind whose
 *       clause mark equals "has a parent"; a plain one has this cell as site.
 *   C4  CLAIMING names a select clause (the mark is set).
 *   C5  MATCHED and CANCELLED are terminal until kc__rv_cell_reset; the
 *       token they name is kept for printing and never dereferenced.
 *
 * Protocol rules (checked by model/rv_cell.pml):
 *   R1  nobody dereferences a token found in a cell before winning a CAS on
 *       the word that still names it; the owner cannot free it meanwhile.
 *   R2  a plain token's fate is decided by the cell: READY -> MATCHED
 *       (a peer) or READY -> CANCELLED (owner or canceller), one CAS each.
 *   R3  a clause's fate is decided by its select's status. A peer first
 *       reserves the clause (READY -> CLAIMING), then CASes the select;
 *       losing, it lets go (CLAIMING -> CANCELLED) and touches nothing more.
 *   R4  the owner of a clause withdraws it only after its select is decided
 *       (and, if claimed, after its wake), and waits out CLAIMING.
 *   R5  the winner writes `result`, sets the status, then wakes the owner;
 *       a published token gets exactly one wake unless its owner cancelled.
 */
#include "kc_rv_cell.h"

#include <sched.h>
#include <string.h>

#define STATE_MASK ((uintptr_t)7)
#define TOKEN_MASK (~(uintptr_t)15)

_Static_assert(_Alignof(kc_waiter_t) >= 16, "cell words need 4 free low bits");

#define COUNT(st, field, n)                                                                        \
    do {                                                                                           \
        if (st)                                                                                    \
            atomic_fetch_add_explicit(&(st)->field, (n), memory_order_relaxed);                    \
    } while (0)

enum {
    RETRY = -1000
}; /* internal: the word changed under us; look again */
enum mode {
    OFFER,
    TRY,
    REGISTER
};

static inline uintptr_t pack(const kc_waiter_t *w, kc_rv_state_t s, uintptr_t mark)
{
    return (uintptr_t)w | mark | (uintptr_t)s;
}

static inline kc_rv_state_t state_of(uintptr_t word)
{
    return (kc_rv_state_t)(word & STATE_MASK);
}

static inline kc_waiter_t *token_of(uintptr_t word)
{
    return (kc_waiter_t *)(word & TOKEN_MASK);
}

/* One transition of the cell: word `from` becomes `to` or nothing changes.
 * acq_rel: acquire pairs with the release of the CAS that published the
 * token (so its payload is visible); release hands our earlier reads and
 * writes to the next party that loads the word with acquire. */
static inline bool cas_word(kc_rv_cell_t *c, uintptr_t from, uintptr_t to)
{
    return atomic_compare_exchange_strong_explicit(&c->word, &from, to, memory_order_acq_rel,
                                                   memory_order_relaxed);
}

void kc__rv_cell_init(kc_rv_cell_t *c)
{
    atomic_init(&c->word, (uintptr_t)0);
}

void kc__rv_stats_init(kc_rv_stats_t *st)
{
#define KC_RV_ZERO(name, text) atomic_init(&st->name, 0);
    KC_RV_COUNTERS(KC_RV_ZERO)
#undef KC_RV_ZERO
}

void kc__rv_stats_read(const kc_rv_stats_t *st, kc_rv_counts_t *out)
{
    memset(out, 0, sizeof(*out));
    if (st == NULL)
        return;
#define KC_RV_READ(name, text) out->name = atomic_load_explicit(&st->name, memory_order_relaxed);
    KC_RV_COUNTERS(KC_RV_READ)
#undef KC_RV_READ
}

void kc__rv_counts_add(kc_rv_counts_t *acc, const kc_rv_counts_t *c)
{
#define KC_RV_ADD(name, text) acc->name += c->name;
    KC_RV_COUNTERS(KC_RV_ADD)
#undef KC_RV_ADD
}

kc_rv_state_t kc__rv_cell_state(const kc_rv_cell_t *c)
{
    /* acquire: pairs with the release of the last transition */
    return state_of(atomic_load_explicit(&c->word, memory_order_acquire));
}

const kc_waiter_t *kc__rv_cell_holder(const kc_rv_cell_t *c)
{
    return token_of(atomic_load_explicit(&c->word, memory_order_relaxed));
}

/* Who may arrive: a live INIT sender or receiver with a payload. */
static int arrival_ok(const kc_rv_cell_t *c, kc_waiter_t *w)
{
    if (c == NULL || w == NULL)
        return -EINVAL;
    uint32_t m = atomic_load_explicit(&w->magic, memory_order_relaxed);
    if (m == KC_WAITER_MAGIC_DEAD)
        return -ESTALE;
    if (m != KC_WAITER_MAGIC_LIVE)
        return -EINVAL;
    if (w->kind != KC_WAITER_SENDER && w->kind != KC_WAITER_RECEIVER)
        return -EINVAL;
    if (w->payload.type == KC_PAYLOAD_NONE ||
        atomic_load_explicit(&w->status, memory_order_relaxed) != KC_WAITER_INIT)
        return -EINVAL;
    return 0;
}

/* Make w visible in the EMPTY cell c. Returns KC_RV_PUBLISHED or RETRY. */
static int publish(kc_rv_cell_t *c, kc_waiter_t *w, kc_rv_stats_t *st)
{
    kc_rv_state_t mine = w->kind == KC_WAITER_SENDER ? KC_RV_SENDER_READY : KC_RV_RECEIVER_READY;
    uintptr_t mark = w->parent ? KC_RV_CLAUSE_BIT : 0;
    if (w->parent == NULL)
        w->cancel = kc__rv_cell_cancel_hook;
    w->site = c;
    w->site_stats = st;
    if (kc__waiter_publish(w) != 0)
        return -EINVAL;
    /* release: the token's fields and ENQUEUED status become visible with
     * the word; pairs with the acquire of the peer's cas_word */
    uintptr_t expected = 0;
    if (atomic_compare_exchange_strong_explicit(&c->word, &expected, pack(w, mine, mark),
                                                memory_order_release, memory_order_relaxed)) {
        COUNT(st, published, 1);
        return KC_RV_PUBLISHED;
    }
    kc__waiter_retract(w); /* never visible: back to INIT */
    return RETRY;
}

/* Move the payload between the arriving token w and the waiting peer, and
 * count it. Both are pinned by the caller's winning CAS. */
static int move(kc_waiter_t *w, kc_waiter_t *peer, kc_rv_stats_t *st)
{
    kc_waiter_t *snd = w->kind == KC_WAITER_SENDER ? w : peer;
    kc_waiter_t *rcv = w->kind == KC_WAITER_SENDER ? peer : w;
    int rc = kc__waiter_transfer(snd, rcv);
    COUNT(st, matched, 1);
    if (rc != 0)
        COUNT(st, mismatched, 1);
    else if (snd->payload.type == KC_PAYLOAD_DESC)
        COUNT(st, descs_moved, 1);
    else if (snd->payload.type == KC_PAYLOAD_BYTES)
        COUNT(st, bytes_moved, snd->payload.u.bytes.len);
    w->result = rc;
    peer->result = rc;
    return rc;
}

/* Meet the peer named by `word` (a *_READY of the other kind). Returns
 * KC_RV_DONE or a transfer error, KC_RV_BROKEN, or RETRY. */
static int meet(kc_rv_cell_t *c, kc_waiter_t *w, uintptr_t word, kc_rv_stats_t *st)
{
    kc_waiter_t *peer = token_of(word);
    if (!(word & KC_RV_CLAUSE_BIT)) {
        /* R2: a plain peer is decided by this one CAS */
        if (!cas_word(c, word, pack(peer, KC_RV_MATCHED, 0)))
            return RETRY;
        int rc = move(w, peer, st);
        if (!kc__waiter_try_claim(peer)) /* cannot fail: the cell decided */
            return -EPROTO;
        peer->ops->wake(peer->owner); /* R5: the last touch of peer */
        return rc;
    }
    /* R3: reserve the clause, then claim its select */
    if (!cas_word(c, word, pack(peer, KC_RV_CLAIMING, KC_RV_CLAUSE_BIT)))
        return RETRY;
    kc_waiter_t *sel = peer->parent;
    if (!kc__waiter_try_claim(sel)) {
        /* let go; cas_word's release orders our reads of peer and sel before
         * the owner's acquire load in withdraw sees CANCELLED. Only the
         * holder of CLAIMING moves it, so this CAS cannot fail. */
        if (!cas_word(c, pack(peer, KC_RV_CLAIMING, KC_RV_CLAUSE_BIT),
                      pack(peer, KC_RV_CANCELLED, KC_RV_CLAUSE_BIT)))
            return -EPROTO;
        COUNT(st, claim_lost, 1);
        return KC_RV_BROKEN;
    }
    if (!kc__waiter_try_claim(peer))
        return -EPROTO;
    if (!cas_word(c, pack(peer, KC_RV_CLAIMING, KC_RV_CLAUSE_BIT),
                  pack(peer, KC_RV_MATCHED, KC_RV_CLAUSE_BIT)))
        return -EPROTO;
    int rc = move(w, peer, st);
    sel->result = rc;
    sel->ops->wake(sel->owner); /* R5: the last touch of peer and sel */
    return rc;
}

static int arrive(kc_rv_cell_t *c, kc_waiter_t *w, kc_rv_stats_t *st, enum mode mode)
{
    kc_rv_state_t theirs = w->kind == KC_WAITER_SENDER ? KC_RV_RECEIVER_READY : KC_RV_SENDER_READY;
    for (;;) {
        uintptr_t word = atomic_load_explicit(&c->word, memory_order_relaxed);
        kc_rv_state_t s = state_of(word);
        int rc;
        if (s == KC_RV_EMPTY) {
            if (mode == TRY)
                return -EAGAIN;
            rc = publish(c, w, st);
        } else if (s == theirs) {
            if (mode == REGISTER)
                return -EBUSY;
            rc = meet(c, w, word, st);
        } else if (s == KC_RV_MATCHED || s == KC_RV_CANCELLED) {
            COUNT(st, broken, 1);
            return KC_RV_BROKEN;
        } else {
            return -EBUSY; /* same-kind waiter, or a peer mid-claim */
        }
        if (rc != RETRY)
            return rc;
    }
}

int kc__rv_cell_offer(kc_rv_cell_t *c, kc_waiter_t *w, kc_rv_stats_t *st)
{
    int rc = arrival_ok(c, w);
    if (rc != 0)
        return rc;
    return w->parent ? -EINVAL : arrive(c, w, st, OFFER);
}

int kc__rv_cell_try_match(kc_rv_cell_t *c, kc_waiter_t *w, kc_rv_stats_t *st)
{
    int rc = arrival_ok(c, w);
    if (rc != 0)
        return rc;
    if (w->parent && kc__waiter_status(w->parent) != KC_WAITER_INIT)
        return -EINVAL; /* a published select must not take a peer */
    return arrive(c, w, st, TRY);
}

int kc__rv_cell_register(kc_rv_cell_t *c, kc_waiter_t *w, kc_rv_stats_t *st)
{
    int rc = arrival_ok(c, w);
    if (rc != 0)
        return rc;
    if (w->parent == NULL || kc__waiter_status(w->parent) != KC_WAITER_ENQUEUED)
        return -EINVAL;
    return arrive(c, w, st, REGISTER);
}

int kc__rv_cell_withdraw(kc_rv_cell_t *c, kc_waiter_t *w, kc_rv_stats_t *st)
{
    if (c == NULL || w == NULL)
        return -EINVAL;
    for (;;) {
        /* acquire: pairs with the release of a peer letting go of CLAIMING
         * (or matching), so its use of w is over before we go on */
        uintptr_t word = atomic_load_explicit(&c->word, memory_order_acquire);
        if (token_of(word) != w)
            return 0; /* not here (any more): someone else decided */
        kc_rv_state_t s = state_of(word);
        if (s == KC_RV_SENDER_READY || s == KC_RV_RECEIVER_READY) {
            if (!cas_word(c, word, pack(w, KC_RV_CANCELLED, word & KC_RV_CLAUSE_BIT)))
                continue;
            COUNT(st, cancelled, 1);
            if (!kc__waiter_try_cancel(w))
                return -EPROTO; /* cannot fail: the token was ENQUEUED here */
            return 1;
        }
        if (s == KC_RV_CLAIMING)
            return -EBUSY;
        /* MATCHED or CANCELLED naming w: a clause left by a losing peer is
         * not the winner; a plain token's fate was set by whoever decided */
        if (w->parent != NULL)
            kc__waiter_try_cancel(w);
        return 0;
    }
}

int kc__rv_cell_withdraw_wait(kc_rv_cell_t *c, kc_waiter_t *w, kc_rv_stats_t *st)
{
    for (unsigned spins = 0;; spins++) {
        int rc = kc__rv_cell_withdraw(c, w, st);
        if (rc != -EBUSY)
            return rc;
        if (spins >= 64)
            sched_yield(); /* the peer may be preempted mid-claim */
    }
}

int kc__rv_cell_cancel_hook(kc_waiter_t *w)
{
    if (w == NULL || w->site == NULL)
        return -EINVAL;
    return kc__rv_cell_withdraw(w->site, w, w->site_stats);
}

int kc__rv_cell_poison(kc_rv_cell_t *c, kc_rv_stats_t *st)
{
    if (c == NULL)
        return -EINVAL;
    if (cas_word(c, 0, (uintptr_t)KC_RV_CANCELLED)) {
        COUNT(st, poisoned, 1);
        return 0;
    }
    kc_rv_state_t s = kc__rv_cell_state(c);
    return s == KC_RV_MATCHED || s == KC_RV_CANCELLED ? KC_RV_BROKEN : -EBUSY;
}

int kc__rv_cell_reset(kc_rv_cell_t *c)
{
    if (c == NULL)
        return -EINVAL;
    for (;;) {
        uintptr_t word = atomic_load_explicit(&c->word, memory_order_relaxed);
        kc_rv_state_t s = state_of(word);
        if (s == KC_RV_EMPTY)
            return 0;
        if (s != KC_RV_MATCHED && s != KC_RV_CANCELLED)
            return -EBUSY;
        if (cas_word(c, word, 0))
            return 0;
    }
}

const char *kc__rv_state_name(kc_rv_state_t s)
{
    static const char *const names[] = {"EMPTY",    "SENDER_READY", "RECEIVER_READY",
                                        "CLAIMING", "MATCHED",      "CANCELLED"};
    return (unsigned)s < 6 ? names[s] : "?";
}

#define FAIL(text)                                                                                 \
    do {                                                                                           \
        if (why)                                                                                   \
            *why = (text);                                                                         \
        return -EPROTO;                                                                            \
    } while (0)

int kc__rv_cell_check(const kc_rv_cell_t *c, const char **why)
{
    if (c == NULL)
        return -EINVAL;
    /* acquire: pairs with the release of the last transition, so the
     * fields of the token it names are visible to the checks below */
    uintptr_t word = atomic_load_explicit(&c->word, memory_order_acquire);
    kc_rv_state_t s = state_of(word);
    const kc_waiter_t *w = token_of(word);
    bool clause = word & KC_RV_CLAUSE_BIT;
    if ((unsigned)s > KC_RV_CANCELLED)
        FAIL("C1: state bits out of range");
    if (s == KC_RV_EMPTY && word != 0)
        FAIL("C2: EMPTY cell names a token");
    if (s != KC_RV_EMPTY && s != KC_RV_CANCELLED && w == NULL)
        FAIL("C2: occupied cell names no token");
    if (s == KC_RV_SENDER_READY || s == KC_RV_RECEIVER_READY) {
        kc_waiter_kind_t want = s == KC_RV_SENDER_READY ? KC_WAITER_SENDER : KC_WAITER_RECEIVER;
        if (atomic_load_explicit(&w->magic, memory_order_relaxed) != KC_WAITER_MAGIC_LIVE ||
            w->kind != want || kc__waiter_status(w) != KC_WAITER_ENQUEUED)
            FAIL("C3: waiting token dead, of the wrong kind, or not ENQUEUED");
        if (clause != (w->parent != NULL))
            FAIL("C3: clause mark disagrees with the token");
        if (w->parent == NULL && w->site != (const void *)c)
            FAIL("C3: plain waiting token names another site");
    }
    if (s == KC_RV_CLAIMING && !clause)
        FAIL("C4: CLAIMING holds a plain token");
    return 0;
}
