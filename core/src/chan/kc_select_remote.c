/* kc_select_remote.c - select with clauses on remote channels (readiness from elsewhere).
 *
 * A remote channel (kc_chan_svc.h) has no queues a peer could find a
 * clause in: whether its clause can complete is known on the other side of
 * a connection. Its table's sel_ operations let a select treat it as a
 * clause all the same, and kc_chan.c sends every select with such a
 * clause here, so the local select does not pay for it. The steps follow
 * kc_select.c's, with the remote clauses beside the local ones; lock, arm,
 * wait and withdraw are kc_select.c's own wait (kc__chan_select_wait, given
 * this select's far record), so this file holds the poll of the remote
 * clauses, the claim after a fire, and the runs:
 *
 *   poll     in the select's order (array order when biased, a fresh
 *            random one when unbiased): a local clause as kc_select.c
 *            does; a remote one when sel_ready guesses it could, by
 *            sel_complete (0 fired, -EAGAIN not now, -EPIPE/-ECONNRESET
 *            closed). The first that completes is the select.
 *   lock     the local clauses' channels only, in address order; poll the
 *            local clauses again; publish the claim word and queue the
 *            local clause tokens; unlock.
 *   arm      each remote clause with its token as the waker (sel_arm),
 *            without any channel lock held; an arm that finds the clause
 *            ready fires at once.
 *   wait     park until the claim word is decided: by a local peer or a
 *            close (that clause fired), by the timeout or the cancellation
 *            (the select fails), or by a remote fire (KC__CHAN_RETRY
 *            through that clause: the select runs again).
 *   withdraw every clause: local ones under their locks, remote ones by
 *            sel_disarm (after which their side never touches the token).
 *   claim    a run woken by a remote fire completes that clause first
 *            (sel_complete with the arming's cookie: the claim, which the other side
 *            commits or rejects). Rejected, the select polls and arms
 *            again with what is left of its timeout.
 *
 * Invariants (beside L1-L4 of kc_select.c, which hold unchanged for the
 * local clauses):
 *   X1  the claim word is decided once: a remote fire wins it by the same
 *       CAS as a local peer, the timeout and the cancellation, so of a
 *       fire, a local claim, a timeout and a cancellation racing, exactly
 *       one decides the wait, and the owner is resumed once;
 *   X2  a remote clause's token is touched by its side only between
 *       sel_arm and the return of sel_disarm, and the select disarms every
 *       clause it armed before it returns or runs again;
 *   X3  a fire that won is followed by exactly one sel_complete of its
 *       clause with that arming's cookie, before any other clause is tried, so a claim the
 *       other side reserved for this select is always ended (committed or
 *       rejected), never left behind; a fire that lost is told so (false)
 *       and the other side passes the readiness on;
 *   X4  a remote element moves only inside sel_complete, whose 0 makes the
 *       select return that clause: no element is taken from a remote
 *       channel unless the select that took it returns it.
 * A try-select (timeout 0) tries the remote clauses once in the poll; the
 * atomic locked pass covers its local clauses only.
 */
#include "chan/kc_chan_impl.h"
#include "chan/kc_chan_seq.h"
#include "chan/kc_chan_svc.h"

#include "sched/kc_sched_svc.h"

#include <stdlib.h>

/* What one select keeps across its runs: kc_select.c's life, and the
 * arming of each remote clause. */
struct remote_life {
    struct kc__select_life life;
    struct kc__select_far far;
};

static inline bool is_remote(const kc_chan_clause_t *c)
{
    return c->chan->rops != NULL;
}

/* R1 of kc_chan_remote.c: a remote channel's counters are relaxed adds. */
static inline void add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* A remote clause completes now, or not (X4: the element moves only here).
 * claim: 0, or the cookie of the arming whose fire won. */
static int remote_complete(kc_chan_clause_t *c, uint64_t claim)
{
    bool send = c->op == KC_CHAN_CLAUSE_SEND;
    kc_chan_t *ch = c->chan;
    if (send && atomic_load_explicit(&ch->closed, memory_order_acquire))
        return ch->close_reason == -ECONNRESET ? -ECONNRESET : -EPIPE;
    int rc = ch->rsel->sel_complete(ch->rimpl, send, c->buf, claim);
    if (rc == 0) {
        add(send ? &ch->ctr.sends : &ch->ctr.receives, 1);
        add(send ? &ch->ctr.bytes_sent : &ch->ctr.bytes_received, ch->elem_size);
    }
    return rc;
}

bool kc__chan_select_fire(kc_waiter_t *wk)
{
    kc_waiter_t *sel = wk->parent;
    if (kc__chan_owner_cancelled(sel)) { /* the cancellation came first (as take_peer) */
        if (kc__waiter_try_cancel(sel)) {
            sel->result = -ECANCELED;
            kc__chan_wake(sel);
        }
        return false;
    }
    if (!kc__waiter_try_claim(sel)) /* X1 */
        return false;
    wk->result = KC__CHAN_RETRY;
    sel->result = KC__CHAN_RETRY;
    /* release: the owner reads it after its wake, or after sel_disarm */
    atomic_store_explicit(&wk->status, KC_WAITER_CLAIMED, memory_order_release);
    kc__chan_wake(sel);
    return true;
}

/* One run: the claim a remote fire won (X3), the poll, else the wait. */
static int remote_once(kc_chan_clause_t *cl, size_t n, uint32_t flags, int64_t timeout_ns,
                       const kc_cancel_t *cancel, struct remote_life *rl)
{
    struct kc__select_life *life = &rl->life;
    int k0 = life->notified;
    if (k0 >= 0 && (size_t)k0 < n && is_remote(&cl[k0])) {
        life->notified = -1; /* consumed here: no pass-on owed */
        int rc = remote_complete(&cl[k0], rl->far.cookie[k0]);
        if (rc != -EAGAIN)
            return kc__chan_select_fired(cl, (size_t)k0, rc);
        /* rejected: someone else took it, or the state changed */
    }
    uint8_t order[KC_CHAN_SELECT_MAX];
    kc__chan_select_order(order, n, flags);
    for (size_t k = 0; k < n; k++) {
        kc_chan_clause_t *c = &cl[order[k]];
        int rc;
        if (is_remote(c)) {
            bool send = c->op == KC_CHAN_CLAUSE_SEND;
            if (!kc__chan_closed(c->chan) && !c->chan->rsel->sel_ready(c->chan->rimpl, send))
                continue;
            rc = remote_complete(c, 0);
        } else {
            rc = kc__chan_select_poll(c, cancel);
        }
        if (rc == -ECANCELED)
            return rc;
        if (rc != -EAGAIN)
            return kc__chan_select_fired(cl, order[k], rc);
    }
    return kc__chan_select_wait(cl, n, order, timeout_ns, cancel, &rl->life, &rl->far);
}

/* kc__chan_select_run's loop (kc_select.c) for a select with remote
 * clauses: runs again after every wake-up that asked for it, with what is
 * left of the timeout, and passes a seq-ring channel's wake-up on when the
 * select ended otherwise. */
int kc__chan_select_remote(kc_chan_clause_t *cl, size_t n, uint32_t flags, int64_t timeout_ns,
                           const kc_cancel_t *cancel)
{
    int64_t deadline = kc__deadline_after(timeout_ns);
    struct remote_life rl;
    rl.life.notified = -1;
    rl.life.held = false;
    rl.life.stay = false;
    rl.life.any_owed = false;
    bool timed = timeout_ns != 0;
    int rc = remote_once(cl, n, flags, timeout_ns, cancel, &rl);
    while (rc == KC__SELECT_RETRY) {
        timeout_ns = kc__deadline_left(deadline);
        rc = remote_once(cl, n, flags, timeout_ns, cancel, &rl);
    }
    int notified = rl.life.notified;
    if (notified >= 0 && (size_t)notified < n && rc != notified && !is_remote(&cl[notified]))
        kc__chan_seq_notify_slow(cl[notified].chan, cl[notified].op == KC_CHAN_CLAUSE_RECV);
    if (rl.life.held)
        kc__cancel_release(cancel);
    kc__chan_select_leave(cl, n, &rl.life);
    return rc == -EAGAIN && timed ? -ETIME : rc;
}
