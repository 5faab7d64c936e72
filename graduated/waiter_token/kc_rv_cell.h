/* kc_rv_cell.h - the rendezvous cell: one sender meets one receiver.
 *
 * A cell is one machine word holding a state and the token waiting in it.
 * The first party to arrive publishes its waiter token and parks; the second
 * finds it, wins the cell by CAS, moves the payload and wakes the first. A
 * waiter that gives up withdraws itself by CAS; exactly one of "matched" and
 * "withdrawn" wins. Channels use one cell per rendezvous (a segment of cells
 * indexed by send/receive counters, or one recycled cell). The state table
 * and invariants are in kc_rv_cell.c; model/rv_cell.pml checks them. Internal
 * API; never installed.
 */
#ifndef KCORO_KC_RV_CELL_H
#define KCORO_KC_RV_CELL_H

#include "kc_waiter.h"

/* The states of a cell (table in kc_rv_cell.c). */
typedef enum kc_rv_state {
    KC_RV_EMPTY = 0,          /* nobody arrived yet */
    KC_RV_SENDER_READY = 1,   /* a sender's token waits */
    KC_RV_RECEIVER_READY = 2, /* a receiver's token waits */
    KC_RV_CLAIMING = 3,       /* a peer holds a select clause while it claims the select */
    KC_RV_MATCHED = 4,        /* the two met; terminal until reset */
    KC_RV_CANCELLED = 5       /* the waiter withdrew, or the cell was poisoned */
} kc_rv_state_t;

/* Non-negative results of kc__rv_cell_offer, _try_match and _register. */
enum {
    KC_RV_DONE = 0,      /* met a waiting peer and moved the payload */
    KC_RV_PUBLISHED = 1, /* our token waits in the cell: settle it with the scope guard */
    KC_RV_BROKEN = 2     /* the cell is spent (matched or cancelled): use another */
};

/* KC_RV_COUNTERS lists the counters of kc_rv_stats_t as an X-macro:
 * X(name, meaning). Counts are made by the party doing the transition. */
#define KC_RV_COUNTERS(X)                                                                          \
    X(published, "tokens made visible in a cell")                                                  \
    X(matched, "cells that reached MATCHED")                                                       \
    X(cancelled, "waiting tokens withdrawn (READY -> CANCELLED)")                                  \
    X(claim_lost, "reservations undone: the select was decided first")                             \
    X(poisoned, "EMPTY cells closed by an arrival that would not wait")                            \
    X(broken, "arrivals at a spent cell")                                                          \
    X(descs_moved, "descriptors whose ownership moved")                                            \
    X(bytes_moved, "payload bytes copied")                                                         \
    X(mismatched, "matches whose payloads did not fit (type or size)")

/* Counters shared by the cells of one structure (a channel). Relaxed
 * atomics; read them with kc__rv_stats_read(). */
typedef struct kc_rv_stats {
#define KC_RV_FIELD(name, text) _Atomic uint64_t name;
    KC_RV_COUNTERS(KC_RV_FIELD)
#undef KC_RV_FIELD
} kc_rv_stats_t;

/* A plain snapshot of kc_rv_stats_t. */
typedef struct kc_rv_counts {
#define KC_RV_FIELD(name, text) uint64_t name;
    KC_RV_COUNTERS(KC_RV_FIELD)
#undef KC_RV_FIELD
} kc_rv_counts_t;

/* A cell: the state in bits 0-2, the clause mark in bit 3, the token above. */
typedef struct kc_rv_cell {
    _Atomic uintptr_t word;
} kc_rv_cell_t;

/* KC_RV_CLAUSE_BIT marks a word whose token is a select clause, so a peer
 * knows which path to take without touching the token first. */
#define KC_RV_CLAUSE_BIT ((uintptr_t)8)

/* Set a cell EMPTY / zero a stats block. Not atomic with respect to users:
 * call before sharing. Never block. */
void kc__rv_cell_init(kc_rv_cell_t *c /* OUT */);
void kc__rv_stats_init(kc_rv_stats_t *st /* OUT */);

/* A wait-free snapshot (relaxed loads) and a sum for per-thread blocks. */
void kc__rv_stats_read(const kc_rv_stats_t *st, kc_rv_counts_t *out /* OUT */);
void kc__rv_counts_add(kc_rv_counts_t *acc /* INOUT */, const kc_rv_counts_t *c);

/* The state of c now (acquire load), and the token its word names. The
 * token is for printing only: never dereference it unless you own it.
 * Never block. */
kc_rv_state_t kc__rv_cell_state(const kc_rv_cell_t *c);
const kc_waiter_t *kc__rv_cell_holder(const kc_rv_cell_t *c);

/* Arrive at c with the plain token w (INIT, payload set). If a peer of the
 * other kind waits, win it, move the payload (the arriving party copies) and
 * wake it: returns KC_RV_DONE, or the transfer error (-EPROTO types differ,
 * -EMSGSIZE bytes do not fit), which the peer gets too; nothing moves. If the
 * cell is EMPTY, publish w (installs the cell's cancellation hook) and
 * return KC_RV_PUBLISHED: settle w with kc__waiter_scope_wait/_end. A spent
 * cell gives KC_RV_BROKEN. st (may be NULL) gets the counts.
 * Errors: -EINVAL (NULL, w not a live INIT plain sender/receiver with a
 * payload); -ESTALE (released w); -EBUSY (a token of the same kind waits,
 * or a peer is mid-claim: try again shortly). Never blocks. */
int kc__rv_cell_offer(kc_rv_cell_t *c, kc_waiter_t *w, kc_rv_stats_t *st);

/* As kc__rv_cell_offer, but never publishes: -EAGAIN when c is EMPTY. w may
 * also be a clause of a select that is not published yet (its poll pass).
 * Never blocks. */
int kc__rv_cell_try_match(kc_rv_cell_t *c, kc_waiter_t *w, kc_rv_stats_t *st);

/* Register the select clause w in c (its select already published with
 * kc__waiter_publish): publishes into an EMPTY cell only. Returns
 * KC_RV_PUBLISHED or KC_RV_BROKEN. Errors: -EBUSY (a peer already waits:
 * the select must not take it while published; withdraw and poll again);
 * -EINVAL, -ESTALE as for offer. Never blocks. */
int kc__rv_cell_register(kc_rv_cell_t *c, kc_waiter_t *w, kc_rv_stats_t *st);

/* Withdraw the token w the caller owns from c. For a plain token this is
 * the decision: returns 1 when w is now CANCELLED (no wake will come), 0
 * when a peer or canceller decided first (its wake is owed). For a clause,
 * call it after the select is decided: 1 or 0 as above, -EBUSY while a peer
 * holds the clause in CLAIMING (it is about to let go: retry).
 * Errors: -EINVAL (NULL). Never blocks. */
int kc__rv_cell_withdraw(kc_rv_cell_t *c, kc_waiter_t *w, kc_rv_stats_t *st);

/* kc__rv_cell_withdraw, retrying -EBUSY with a short bounded spin and then
 * sched_yield() until the peer lets go (it holds CLAIMING for two CASes).
 * Returns 1 or 0 as withdraw. Can yield the thread; never parks. */
int kc__rv_cell_withdraw_wait(kc_rv_cell_t *c, kc_waiter_t *w, kc_rv_stats_t *st);

/* Close an EMPTY cell for an arrival that will not wait (EMPTY ->
 * CANCELLED), so the peer coming later moves on. Returns 0, or
 * KC_RV_BROKEN when c is already spent. Errors: -EINVAL (NULL); -EBUSY (a
 * token waits: meet it instead). Never blocks. */
int kc__rv_cell_poison(kc_rv_cell_t *c, kc_rv_stats_t *st);

/* Recycle a spent cell (MATCHED or CANCELLED -> EMPTY); 0 also when it is
 * EMPTY already. Errors: -EINVAL (NULL); -EBUSY (a token waits or is being
 * claimed). Never blocks. */
int kc__rv_cell_reset(kc_rv_cell_t *c);

/* The cancellation hook kc__rv_cell_offer installs on a plain token:
 * kc__rv_cell_withdraw on the token's site. */
int kc__rv_cell_cancel_hook(kc_waiter_t *w);

/* "EMPTY", "SENDER_READY", ... */
const char *kc__rv_state_name(kc_rv_state_t s);

/* Check invariants C1-C5 (kc_rv_cell.c) of a cell nobody else is using
 * (it reads the waiting token). Returns 0, or -EPROTO with *why naming the
 * broken invariant (why may be NULL); -EINVAL for NULL. Never blocks. */
int kc__rv_cell_check(const kc_rv_cell_t *c, const char **why /* OUT */);

#endif /* KCORO_KC_RV_CELL_H */
