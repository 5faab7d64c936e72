/* rl_select_fire.cpp - a remote clause's fire against its disarm against a
 * local claim, under Relacy.
 *
 * A select waits on one local channel and one remote channel (X1-X4 of
 * core/src/chan/kc_select_remote.c). Its local clause token sits in the
 * local channel's queue; its remote clause token is armed at the remote
 * backend, which keeps it under the backend's lock as lab/select's client
 * does (C1 of graduated/select/kc_rsel_client.c: whoever fires or disarms
 * clears `armed` under that lock). Three threads race:
 *   - a local peer claims the select through the local clause, as
 *     take_peer does (try_claim on the select, claim_locked on the clause,
 *     the element and the results under the channel's lock, the wake
 *     after);
 *   - the backend's receiver gets a NOTIFY: under the backend's lock, if
 *     the arming is still armed, it disarms it and fires the token with
 *     the real kc__chan_select_fire; a fire that lost sends the CANCEL
 *     at once (C2), one that won leaves the claim to the select;
 *   - the owner settles its select with a timeout that may expire at once
 *     (kc__waiter_settle), withdraws the local clause under the channel's
 *     lock, disarms the remote one under the backend's lock (a disarm of
 *     an arming still armed sends the CANCEL), reads the outcome as
 *     kc_select.c's wait does, claims when the fire won (the CLAIM), and
 *     frees every token and the parker.
 * kc__chan_select_fire, the token helpers (graduated/waiter_token) and the
 * parker (core/src/sched/kc_park.c) are the real code, copied by
 * extract.pl. Invariants checked:
 *   X1  one winner: exactly one of the local peer, the fire and the
 *       timeout decides the select; the fire returns true exactly when it
 *       was the one;
 *   X3  a fire that won is followed by exactly one claim, one that lost is
 *       told so and answered by a CANCEL: the subscription is ended by
 *       exactly one message (CLAIM or CANCEL), never none, never two;
 *   the owner's outcome names the winner (0 and the local element, the
 *   fire's retry and the remote clause CLAIMED, or -ETIME and nothing);
 *   every owed wake is consumed (the parker ends IDLE), and no one touches
 *   a token or the parker after the owner freed them (X2: the fire's
 *   first and last touches assert it; a fire moved out of the backend's
 *   lock fails there).
 */
//! extract: macro:KC_NO_TIMEOUT macro:KC__DEADLINE_NEVER kc__deadline_from kc__deadline_after kc__deadline_left_at kc__deadline_left
//! extract: enum:KC_WAITER_SELECT enum:KC_WAITER_CLAIMED enum:P_IDLE macro:KC__CHAN_RETRY
//! extract: kc__waiter_status_relaxed kc__waiter_status kc__waiter_cas_status
//! extract: kc__waiter_try_claim kc__waiter_try_cancel kc__waiter_claim_locked
//! extract: kc__waiter_woken_decided kc__waiter_select_cancel kc__waiter_settle_parked
//! extract: kc__waiter_settle wake_noperm wake_noperm_cb kc_unpark take_permit park_thread
//! extract: kc__chan_select_fire
//! mutant: fire_wake_rel kc_unpark:exchange:acquire
//! mutant: fire_take_acq take_permit:compare_exchange:relaxed
//! slack: fire_status_rel kc__chan_select_fire:&wk->status:relaxed
#include "kc_relacy.hpp"

#include "kc_relacy_select.hpp"

/* kc_chan_impl.h's inline helpers kc__chan_select_fire calls, for an owner
 * that is its parker: no task interrupt and no cancellation token here (the
 * owner's timeout is the third contender), and the wake is kc_unpark. */
void kc_unpark(kc_parker_t *p);
/* Set (seq_cst) by the owner just before it frees the tokens and the
 * parker: the fire's first and last touches assert it is not (X2; the
 * plain delete of these tests is not watched by Relacy itself). */
rl::atomic<int> *kc_rl_gone;
static void touch(void)
{
    RL_ASSERT(!(*kc_rl_gone)($).load(rl::mo_seq_cst)); /* no use after release */
}
static bool kc__chan_owner_cancelled(const kc_waiter_t *arb)
{
    (void)arb;
    touch(); /* the fire's first touch of the select */
    return false;
}
static void kc__chan_wake(kc_waiter_t *arb)
{
    if (arb == nullptr)
        return;
    touch(); /* the last touches: the owner pointer and the parker */
    kc_unpark((kc_parker_t *)arb->owner);
}

#include "kc_relacy_gen.h"

#include "kc_relacy_select_owner.hpp"

struct fire_test : rl::test_suite<fire_test, 3> {
    kc_rl_futex fx;
    rl::mutex chan_lock; /* the local channel's lock */
    rl::mutex back_lock; /* the remote backend's lock (C1) */
    bool queued;         /* under chan_lock: the local clause is in the queue */
    bool armed;          /* under back_lock: the arming may still fire */
    kc_waiter_t *sel, *local, *remote;
    kc_parker_t *parker;
    int won_local, won_fire, lost_fire; /* what the contenders saw */
    int claims, cancels;                /* messages that end the subscription */
    int rc;
    rl::atomic<int> gone;

    void before()
    {
        kc_rl_futex_cur = &fx;
        kc_rl_gone = &gone;
        gone($).store(0, rl::mo_relaxed);
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
        local = new kc_waiter_t;
        local->kind = KC_WAITER_RECEIVER;
        remote = new kc_waiter_t;
        remote->kind = KC_WAITER_RECEIVER;
        for (kc_waiter_t *c : {local, remote}) {
            c->parent = sel;
            c->cancel = nullptr;
        }
        for (kc_waiter_t *w : {sel, local, remote}) {
            w->status($).store(KC_WAITER_ENQUEUED, rl::mo_relaxed); /* published, armed */
            w->result = -EAGAIN;
            w->owner = parker;
            w->ops = &owner_ops;
            w->got($) = 0;
        }
        queued = true;
        armed = true;
        won_local = won_fire = lost_fire = claims = cancels = 0;
        rc = 0;
    }

    /* The local peer: take_peer, settle_peer, kc__chan_wake. */
    void local_peer()
    {
        chan_lock.lock($);
        kc_waiter_t *arb = nullptr;
        if (queued) {
            queued = false;
            if (kc__waiter_try_claim(local->parent)) {
                RL_ASSERT(kc__waiter_claim_locked(local));
                local->got($) = 42; /* the element moves */
                local->result = 0;
                arb = local->parent;
                arb->result = 0;
                won_local = 1;
            }
        }
        chan_lock.unlock($);
        kc__chan_wake(arb);
    }

    /* The backend's receiver of a NOTIFY (kc_rsel_client.c's rx). */
    void notify()
    {
        back_lock.lock($);
        if (armed) {
            armed = false; /* C1 */
            if (kc__chan_select_fire(remote))
                won_fire = 1; /* the select will claim */
            else {
                lost_fire = 1;
                cancels++; /* C2: the lost fire's CANCEL, at once */
            }
        }
        back_lock.unlock($);
    }

    /* The select's owner: settle, withdraw, read, claim, free. */
    void owner()
    {
        rc = kc__waiter_settle(sel, 1000);
        chan_lock.lock($); /* withdraw the local clause */
        queued = false;
        chan_lock.unlock($);
        back_lock.lock($); /* sel_disarm: after it the backend never touches remote (X2) */
        if (armed) {
            armed = false;
            cancels++; /* the disarm's CANCEL of an arming nobody fired */
        }
        back_lock.unlock($);
        bool cancelled = kc__waiter_status(sel) == KC_WAITER_CANCELLED;
        bool by_local = kc__waiter_status(local) == KC_WAITER_CLAIMED;
        bool by_fire = kc__waiter_status(remote) == KC_WAITER_CLAIMED;
        RL_ASSERT(!(by_local && by_fire));
        if (cancelled) {
            RL_ASSERT(rc == -ETIME && !by_local && !by_fire);
        } else if (by_local) {
            RL_ASSERT(rc == 0 && local->got($) == 42);
        } else {
            RL_ASSERT(by_fire && rc == KC__CHAN_RETRY && remote->result == KC__CHAN_RETRY);
            claims++; /* X3: sel_complete with the arming's cookie */
        }
        /* every owed wake was consumed: no permit is left behind */
        RL_ASSERT(parker->state($).load(rl::mo_relaxed) == P_IDLE);
        gone($).store(1, rl::mo_seq_cst);
        delete sel;
        delete local;
        delete remote;
        delete parker;
    }

    void thread(unsigned idx)
    {
        if (idx == 0)
            owner();
        else if (idx == 1)
            local_peer();
        else
            notify();
    }

    void after()
    {
        RL_ASSERT(won_local + won_fire + (rc == -ETIME) == 1); /* X1 */
        RL_ASSERT(claims == won_fire);                         /* X3 */
        RL_ASSERT(claims + cancels == 1); /* the subscription ends exactly once */
        RL_ASSERT(lost_fire == 0 || won_fire == 0);
    }
};

int main(int argc, char **argv)
{
    if (!kc_rl_select(argc, argv, kc_rl_mutant_names))
        return 2;
    bool ok = kc_rl_run<fire_test>("select: a remote fire vs its disarm vs a local claim", 200000);
    return ok ? 0 : 1;
}
