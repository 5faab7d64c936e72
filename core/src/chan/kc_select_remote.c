/* kc_select_remote.c - select with clauses on remote channels (readiness from elsewhere).
 *
 * A remote channel (kc_chan_svc.h) has no queues a peer could find a
 * clause in: whether its clause can complete is known on the other side of
 * a connection. Its table's sel_ operations let a select treat it as a
 * clause all the same, and kc_select.c sends every select with such a
 * clause here, so the local select does not pay for it. The steps follow
 * kc_select.c's, with the remote clauses beside the local ones:
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

#include <limits.h>
#include <stdlib.h>

/* A run's answer when a wake-up asked for another run (as in kc_select.c). */
#define KC_SELECT_RETRY INT_MIN

/* What one select keeps across its runs: kc_select.c's life, and the
 * cookie of each remote clause's last arming (the claim of a fire that
 * won names it). */
struct remote_life {
    struct kc__select_life life;
    uint64_t cookie[KC_CHAN_SELECT_MAX];
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

/* The clause at index i fired with rc (0, -EPIPE, -ECONNRESET) or failed
 * the select (-ENOMEM). */
static int fired(kc_chan_clause_t *cl, size_t i, int rc)
{
    if (rc == -ENOMEM)
        return kc__chan_fail(cl[i].chan, rc);
    cl[i].result = rc == 0 ? 0 : kc__chan_fail(cl[i].chan, rc);
    return (int)i;
}

static int local_locked(kc_chan_clause_t *c, kc_waiter_t **wake)
{
    return c->op == KC_CHAN_CLAUSE_SEND ? kc__chan_send_locked(c->chan, c->buf, wake)
                                        : kc__chan_recv_locked(c->chan, c->buf, wake);
}

/* A local clause tried as kc_select.c's poll does: lock-free on a seq-ring
 * channel, else under its lock when it looks ready. */
static int local_poll(kc_chan_clause_t *c, const kc_cancel_t *cancel)
{
    bool send = c->op == KC_CHAN_CLAUSE_SEND;
    if (c->chan->seqring) {
        if (kc__chan_seq_try(c->chan, send, c->buf))
            return 0;
        if (!kc__chan_closed(c->chan))
            return -EAGAIN;
    } else if (!(send ? kc__chan_may_send(c->chan) : kc__chan_may_recv(c->chan))) {
        return -EAGAIN;
    }
    kc_waiter_t *wake = NULL;
    kc__lock(&c->chan->lock);
    int rc = local_locked(c, &wake);
    if (rc == -EPIPE && kc_cancel_is_triggered(cancel))
        rc = -ECANCELED;
    kc__unlock(&c->chan->lock);
    kc__chan_wake(wake);
    return rc;
}

/* The distinct channels of the local clauses, sorted by address. */
static size_t lock_set(const kc_chan_clause_t *cl, size_t n, kc_chan_t **set)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        kc_chan_t *ch = cl[i].chan;
        if (is_remote(&cl[i]))
            continue;
        size_t j = m;
        while (j > 0 && (uintptr_t)set[j - 1] > (uintptr_t)ch)
            j--;
        if (j > 0 && set[j - 1] == ch)
            continue;
        for (size_t k = m; k > j; k--)
            set[k] = set[k - 1];
        set[j] = ch;
        m++;
    }
    return m;
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

/* The owner ends its own wait with rc (an arm failed). */
static void self_decide(kc_waiter_t *sel, int rc)
{
    if (kc__waiter_try_cancel(sel)) {
        sel->result = rc;
        kc__chan_wake(sel);
    }
}

/* Nothing completed in the poll: lock the local clauses' channels, poll
 * them again, publish, arm the remote clauses, wait, withdraw everything
 * (kc_select.c's select_wait, with the remote clauses beside). */
static int remote_wait(kc_chan_clause_t *cl, size_t n, const uint8_t *order, int64_t timeout_ns,
                       const kc_cancel_t *cancel, struct remote_life *rl)
{
    struct kc__select_life *life = &rl->life;
    kc_waiter_t tok[KC_CHAN_SELECT_MAX];
    bool armed[KC_CHAN_SELECT_MAX] = {false};
    kc_waiter_t sel;
    struct kc__chan_owner o;
    kc_waiter_scope_t sc;
    kc__chan_owner_init(&o, &sel, cancel);
    kc__waiter_init(&sel, KC_WAITER_SELECT, &o, &kc__chan_owner_ops);
    kc__waiter_scope_begin(&sc, &sel);
    for (size_t i = 0; i < n; i++) {
        bool send = cl[i].op == KC_CHAN_CLAUSE_SEND;
        kc__waiter_init_clause(&tok[i], send ? KC_WAITER_SENDER : KC_WAITER_RECEIVER, &sel);
        if (send)
            kc__waiter_put_bytes(&tok[i], cl[i].buf, cl[i].chan->slot_size);
        else
            kc__waiter_want_bytes(&tok[i], cl[i].buf, cl[i].chan->slot_size);
        tok[i].user = (void *)(uintptr_t)i;
    }
    kc_chan_t *set[KC_CHAN_SELECT_MAX];
    size_t m = lock_set(cl, n, set);
    for (size_t k = 0; k < m; k++)
        kc__lock(&set[k]->lock);
    for (size_t i = 0; i < n && timeout_ns != 0; i++)
        if (!is_remote(&cl[i]) && cl[i].chan->seqring)
            kc__chan_seq_announce(cl[i].chan, cl[i].op == KC_CHAN_CLAUSE_SEND);
    int rc = -EAGAIN;
    size_t idx = 0;
    kc_waiter_t *wake = NULL;
    for (size_t k = 0; k < n && rc == -EAGAIN; k++) {
        idx = order[k];
        if (!is_remote(&cl[idx]))
            rc = local_locked(&cl[idx], &wake);
    }
    if ((rc == -EAGAIN || rc == -EPIPE) && kc_cancel_is_triggered(cancel)) {
        rc = -ECANCELED;
        idx = n;
    }
    if (rc == -EAGAIN && timeout_ns != 0) {
        if (cancel != NULL && !life->held) {
            kc__cancel_hold(cancel);
            life->held = true;
        }
        kc__waiter_publish(&sel);
        for (size_t k = 0; k < n; k++)
            if (!is_remote(&cl[order[k]]))
                kc__chan_enqueue(cl[order[k]].chan, &tok[order[k]],
                                 cl[order[k]].op == KC_CHAN_CLAUSE_SEND);
    } else {
        for (size_t i = 0; i < n && timeout_ns != 0; i++)
            if (!is_remote(&cl[i]) && cl[i].chan->seqring)
                kc__chan_seq_settle(cl[i].chan, cl[i].op == KC_CHAN_CLAUSE_SEND);
    }
    for (size_t k = m; k > 0; k--)
        kc__unlock(&set[k - 1]->lock);
    if (rc == -EAGAIN && timeout_ns == 0) {
        idx = n; /* a try-select: nothing was ready */
    } else if (rc == -EAGAIN) {
        /* arm the remote clauses (X2), in order, while nothing decided */
        for (size_t k = 0; k < n; k++) {
            size_t i = order[k];
            if (!is_remote(&cl[i]))
                continue;
            if (kc__waiter_status(&sel) != KC_WAITER_ENQUEUED)
                break; /* decided already: arming more would be wasted */
            kc__waiter_mark_enqueued(&tok[i]);
            int arc = cl[i].chan->rsel->sel_arm(cl[i].chan->rimpl, cl[i].op == KC_CHAN_CLAUSE_SEND,
                                                &tok[i], &rl->cookie[i]);
            if (arc < 0) {
                self_decide(&sel, arc);
                break;
            }
            armed[i] = true;
        }
        if (kc__chan_noting())
            kc__chan_note_select(o.parker, cl[0].chan, n);
        kc__chan_note_clauses(o.parker, cl, n);
        rc = kc__waiter_scope_wait(&sc, timeout_ns);
        bool cancelled = kc__waiter_status(&sel) == KC_WAITER_CANCELLED;
        bool stay = life->stay || rc == KC__CHAN_RETRY;
        if (stay && !life->any_owed) {
            memset(life->owed, 0, n * sizeof(life->owed[0]));
            life->any_owed = true;
        }
        idx = n;
        for (size_t i = 0; i < n; i++) {
            kc_chan_t *ch = cl[i].chan;
            if (is_remote(&cl[i])) {
                if (!armed[i])
                    continue;
                ch->rsel->sel_disarm(ch->rimpl, cl[i].op == KC_CHAN_CLAUSE_SEND, rl->cookie[i]);
                /* acquire: pairs with the fire's release (X2: it has returned) */
                if (kc__waiter_status(&tok[i]) == KC_WAITER_CLAIMED)
                    idx = i;
                continue;
            }
            kc__lock(&ch->lock);
            if (kc__chan_dequeue(ch, &tok[i]) && cancelled)
                kc__chan_bump(&ch->ctr.cancelled_waiters, 1);
            if (kc__waiter_status(&tok[i]) == KC_WAITER_CLAIMED) {
                idx = i; /* L1, L2, X1: at most one */
                if (rc < 0 && rc != KC__CHAN_RETRY)
                    kc__chan_fail(ch, rc); /* -EPIPE */
            }
            if (stay)
                life->owed[i]++;
            else
                ch->inside--; /* the last touch of ch */
            kc__unlock(&ch->lock);
        }
        if (rc == KC__CHAN_RETRY) { /* a seq-ring channel or a remote fire: run again */
            life->notified = (int)idx;
            idx = n;
            rc = KC_SELECT_RETRY;
        } else if (idx < n) {
            cl[idx].result = rc;
            rc = (int)idx;
            idx = n;
        }
    } else {
        kc__chan_wake(wake);
    }
    kc__waiter_scope_end(&sc, 0);
    return idx < n ? fired(cl, idx, rc) : rc;
}

/* One run: the claim a remote fire won (X3), the poll, else the wait. */
static int remote_once(kc_chan_clause_t *cl, size_t n, uint32_t flags, int64_t timeout_ns,
                       const kc_cancel_t *cancel, struct remote_life *rl)
{
    struct kc__select_life *life = &rl->life;
    int k0 = life->notified;
    if (k0 >= 0 && (size_t)k0 < n && is_remote(&cl[k0])) {
        life->notified = -1; /* consumed here: no pass-on owed */
        int rc = remote_complete(&cl[k0], rl->cookie[k0]);
        if (rc != -EAGAIN)
            return fired(cl, (size_t)k0, rc);
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
            rc = local_poll(c, cancel);
        }
        if (rc == -ECANCELED)
            return rc;
        if (rc != -EAGAIN)
            return fired(cl, order[k], rc);
    }
    return remote_wait(cl, n, order, timeout_ns, cancel, rl);
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
    while (rc == KC_SELECT_RETRY) {
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
