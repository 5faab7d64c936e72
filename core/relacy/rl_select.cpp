/* rl_select.cpp - the select's claim word and the waiter token's status
 * CASes under Relacy.
 *
 * A select waits on two channels: its SELECT token (the claim word) and a
 * clause token per channel, queued under each channel's lock. Two peers,
 * one per channel, race to claim the select as take_peer does in
 * core/src/chan/kc_chan_locked.c (try_claim on the parent, claim_locked on the
 * clause, the payload and result, then kc__chan_wake after the unlock),
 * while the owner settles its token with a timeout that may expire at once
 * (kc__waiter_settle: park, cancel on timeout, wait for the owed wake when
 * the cancel lost), withdraws its clauses under the channel locks, reads
 * the outcome as kc_select.c does and frees everything. The token helpers
 * (graduated/waiter_token) and the parker (core/src/sched/kc_park.c) are
 * the real code, copied by extract.pl. Invariants checked:
 *   - one winner per claim: exactly one of the two peers and the owner's
 *     cancellation decides the select;
 *   - the owner's outcome names the winner: 0 and the winning clause
 *     CLAIMED with the winner's payload visible, or -ETIME and no clause
 *     claimed;
 *   - every owed wake is consumed (the parker ends without a permit), and
 *     no peer touches the tokens or the parker after the owner freed them
 *     (no use after release).
 */
//! extract: macro:KC_NO_TIMEOUT macro:KC__DEADLINE_NEVER kc__deadline_from kc__deadline_after kc__deadline_left_at kc__deadline_left
//! extract: enum:KC_WAITER_SELECT enum:KC_WAITER_CLAIMED enum:P_IDLE
//! extract: kc__waiter_status_relaxed kc__waiter_status kc__waiter_cas_status
//! extract: kc__waiter_try_claim kc__waiter_try_cancel kc__waiter_claim_locked
//! extract: kc__waiter_woken_decided kc__waiter_select_cancel kc__waiter_settle_parked
//! extract: kc__waiter_settle wake_noperm wake_noperm_cb kc_unpark take_permit park_thread
//! slack: status_acq kc__waiter_status:&w->status:relaxed
//! slack: cas_acq_rel kc__waiter_cas_status:&w->status:relaxed
//! slack: claim_locked_rel kc__waiter_claim_locked:&w->status:relaxed
//! mutant: unpark_rel kc_unpark:exchange:acquire
//! mutant: take_acq take_permit:compare_exchange:relaxed
#include "kc_relacy.hpp"

#define KC_NO_TIMEOUT ((int64_t)-1)
#include "kc_relacy_select.hpp"

typedef struct {
    rl::mutex m;
} kc_lock_t;

#include "kc_relacy_gen.h"

#include "kc_relacy_select_owner.hpp"

enum {
    NCH = 2
};

struct select_test : rl::test_suite<select_test, 1 + NCH> {
    kc_rl_futex fx;
    kc_lock_t lock[NCH];
    bool queued[NCH]; /* guarded by lock[k]: clause k is in channel k's queue */
    kc_waiter_t *sel, *clause[NCH];
    kc_parker_t *parker;
    int won[NCH];
    int rc, winner;

    void before()
    {
        kc_rl_futex_cur = &fx;
        parker = new kc_parker_t;
        parker->size = sizeof(*parker);
        parker->version = 1;
        parker->state($).store(P_IDLE, rl::mo_relaxed);
        parker->kind = KIND_THREAD;
        parker->owner = nullptr;
        sel = new kc_waiter_t;
        sel->kind = KC_WAITER_SELECT;
        sel->parent = nullptr;
        sel->cancel = kc__waiter_select_cancel;
        for (int k = 0; k < NCH; k++) {
            clause[k] = new kc_waiter_t;
            clause[k]->kind = KC_WAITER_RECEIVER;
            clause[k]->parent = sel;
            clause[k]->cancel = nullptr;
            queued[k] = true;
            won[k] = 0;
        }
        for (kc_waiter_t *w : {sel, clause[0], clause[1]}) {
            w->status($).store(KC_WAITER_ENQUEUED, rl::mo_relaxed); /* published */
            w->result = -EAGAIN;
            w->owner = parker;
            w->ops = &owner_ops;
            w->got($) = 0;
        }
    }

    /* A peer on channel k: take_peer, settle_peer, kc__chan_wake. */
    void peer(int k)
    {
        lock[k].m.lock($);
        kc_waiter_t *arb = nullptr;
        if (queued[k]) {
            queued[k] = false;
            kc_waiter_t *w = clause[k];
            if (kc__waiter_try_claim(w->parent)) {
                RL_ASSERT(kc__waiter_claim_locked(w));
                w->got($) = 100 + k; /* the element moves */
                w->result = 0;
                arb = w->parent;
                arb->result = 0;
                won[k] = 1;
            }
        }
        lock[k].m.unlock($);
        if (arb != nullptr)
            kc_unpark((kc_parker_t *)arb->owner);
    }

    void thread(unsigned idx)
    {
        if (idx > 0) {
            peer((int)idx - 1);
            return;
        }
        rc = kc__waiter_settle(sel, 1000);
        for (int k = 0; k < NCH; k++) { /* withdraw the clauses */
            lock[k].m.lock($);
            queued[k] = false;
            lock[k].m.unlock($);
        }
        bool cancelled = kc__waiter_status(sel) == KC_WAITER_CANCELLED;
        winner = -1;
        for (int k = 0; k < NCH; k++)
            if (kc__waiter_status(clause[k]) == KC_WAITER_CLAIMED) {
                RL_ASSERT(winner < 0);
                winner = k;
                RL_ASSERT(clause[k]->got($) == 100 + k);
            }
        RL_ASSERT(cancelled ? rc == -ETIME && winner < 0 : rc == 0 && winner >= 0);
        /* every owed wake was consumed: no permit is left behind */
        RL_ASSERT(parker->state($).load(rl::mo_relaxed) == P_IDLE);
        delete sel;
        for (kc_waiter_t *c : clause)
            delete c;
        delete parker;
    }

    void after()
    {
        RL_ASSERT(won[0] + won[1] + (rc == -ETIME) == 1); /* one winner */
        if (winner >= 0)
            RL_ASSERT(won[winner] == 1);
    }
};

int main(int argc, char **argv)
{
    if (!kc_rl_select(argc, argv, kc_rl_mutant_names))
        return 2;
    bool ok = kc_rl_run<select_test>("select: two peers vs the owner's timeout", 200000);
    return ok ? 0 : 1;
}
