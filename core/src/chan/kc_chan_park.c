/* kc_chan_park.c - how a channel wait parks: the owner ops of every channel token.
 *
 * A send, receive or select that must wait publishes a waiter token
 * (kc_chan_ops.c, kc_select.c) whose owner ops are the ones here: wake is
 * kc_unpark of the owner's parker; park gives a peer a short, bounded
 * chance to decide the token first (spin_for_decision), then parks with
 * the owner's timeout and cancellation token, and once the token is
 * decided waits for the wake it is owed without giving up. So a blocked
 * channel call flows channel -> waiter token -> park, each file calling
 * only down: the token (graduated waiter_token) reaches this file through
 * the ops table, and this file reaches only the scheduler's services.
 */
#include "chan/kc_chan_impl.h"

#include "kcoro/sched.h"
#include "sched/kc_sched_svc.h"

/* Bounded spin before an owed wake is waited for with yields; yields (a
 * coroutine) or pause spins (a thread) before a wait parks. */
enum {
    KC_CHAN_OWED_SPINS = 64,
    KC_CHAN_SPIN_YIELDS = 8,
    KC_CHAN_SPIN_RELAX = 128
};

static void owner_wake(void *owner)
{
    struct kc__chan_owner *o = owner;
    kc_unpark(o->parker);
}

/* Before parking, give a peer a short, bounded chance to decide the token:
 * a decision seen here saves the park and the wake-up (the peer's
 * kc_unpark only leaves a permit), and with them, often, a worker going to
 * sleep on its futex and being woken again. A thread (t NULL) spins; a
 * coroutine yields, but only when its scheduler has other workers a peer
 * may be running on: on a single worker a yield costs about what a park
 * and a wake-up do (bench_chan's ping-pong), so there it parks at once.
 * True when decided. */
static bool spin_for_decision(const struct kc__chan_owner *o, const struct kc_task *t)
{
    int n = t == NULL ? KC_CHAN_SPIN_RELAX : kc__task_nworkers(t) > 1 ? KC_CHAN_SPIN_YIELDS : 0;
    for (int i = 0; i < n; i++) {
        if (t != NULL)
            kc_sched_yield();
        else
            kc__port_relax();
        if (kc__waiter_status(o->arbiter) != KC_WAITER_ENQUEUED)
            return true;
    }
    return false;
}

/* Once the arbiter is decided the wake is owed: take it without a timeout
 * or token. kc_park gives up at once in a cancelled task, so this spins
 * briefly and then yields until the waker, which is between its unlock
 * and its kc_unpark, gets there. Returns 0. */
static int take_owed_wake(const struct kc__chan_owner *o)
{
    for (int i = 0;; i++) {
        if (kc__park_own(o->parker, KC_NO_TIMEOUT, NULL) == 0)
            return 0;
        if (i < KC_CHAN_OWED_SPINS)
            kc__port_relax();
        else
            kc_sched_yield();
    }
}

/* Park for the outcome (the owner ops' park). The result is kept for the
 * cancellation hook, which counts the failure it becomes. */
static int owner_park(void *owner, int64_t timeout_ns)
{
    struct kc__chan_owner *o = owner;
    if (kc__waiter_status(o->arbiter) == KC_WAITER_ENQUEUED &&
        !spin_for_decision(o, kc__parker_task(o->parker)))
        return o->prc = kc__park_own(o->parker, timeout_ns, o->cancel);
    return o->prc = take_owed_wake(o);
}

/* owner_park for task t waiting on its own parker with no timeout and no
 * token, the common wait: the same steps with the scheduler's specialised
 * park (kc__park_task_own). Returns 0 or -ECANCELED. */
int kc__chan_park_untimed(struct kc__chan_owner *o, struct kc_task *t)
{
    if (spin_for_decision(o, t)) /* no spin on a single worker */
        return take_owed_wake(o);
    return o->prc = kc__park_task_own(t);
}

void kc__chan_note_select(const kc_parker_t *p, const kc_chan_t *first, size_t n)
{
    struct kc_task *t = kc__parker_task(p);
    if (t != NULL)
        kc__task_note_wait(t, KC_WAIT_SELECT, first,
                           first != NULL ? first->name : "all clauses off", (uint32_t)n);
}

const kc_waiter_owner_ops_t kc__chan_owner_ops = {owner_wake, owner_park};

void kc__chan_note_clauses(const kc_parker_t *p, const kc_chan_clause_t *cl, size_t n)
{
    struct kc_task *t = kc__parker_task(p);
    if (t != NULL)
        kc__task_note_arg(t, cl, (int64_t)n);
}

void kc__chan_owner_init(struct kc__chan_owner *o, kc_waiter_t *arbiter, const kc_cancel_t *cancel)
{
    o->parker = kc__parker_for_wait(&o->spare, &o->interrupted);
    o->cancel = cancel;
    o->arbiter = arbiter;
    o->self_leave = false;
    o->prc = 0;
}
