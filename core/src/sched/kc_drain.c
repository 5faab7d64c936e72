/* kc_drain.c - waiting for a count of live tasks to drain to zero.
 *
 * kc_sched_run_until_idle and shutdown wait for a scheduler's live tasks,
 * kc_scope_wait and destroy for a scope's children: one loop, here. A
 * waiter links itself on the counted object's list under its lock and
 * parks until the count reads 0; whoever takes the count to 0 unparks the
 * list under the same lock (kc__drain_wake), so a waiter that saw a stale
 * non-zero finds the permit and looks again.
 */
#include "sched/kc_sched_impl.h"

#include <errno.h>

int kc__drain_wait(kc_lock_t *lock, struct kc_idle_waiter **head, const _Atomic int64_t *live,
                   int64_t timeout_ns, const kc_cancel_t *cancel, bool intr,
                   struct kc_sched *deadlock)
{
    struct kc_deadlock_watch dw;
    kc__deadlock_watch_init(&dw, deadlock);
    struct kc_idle_waiter me;
    kc_parker_init(&me.p);
    kc__lock(lock);
    me.next = *head;
    /* The waiter lives on this stack; it is unlinked before we return. */
    /* cppcheck-suppress autoVariables */
    *head = &me;
    kc__unlock(lock);
    int64_t deadline = kc__deadline_after(timeout_ns); /* saturating, the one rule */
    int rc = 0;
    if (cancel != NULL)
        kc__cancel_hold(cancel); /* read by every park of the loop (the lifetime rule) */
    /* seq_cst, for every counter: it pairs with the seq_cst write that takes
   * the count to 0 (kc__sched_live_dec, kc__scope_child_done), so what the
   * finished tasks wrote is visible to a waiter that reads 0. (The scope's
   * relaxed read of before was enough for waking, since the last unpark
   * leaves a permit, but not for that visibility.) */
    while (atomic_load_explicit(live, memory_order_seq_cst) != 0) {
        bool sliced = false;
        int64_t left = kc__deadlock_slice(&dw, kc__deadline_left(deadline), &sliced);
        rc = kc__park(&me.p, left, cancel, intr);
        if (rc == -ETIME && sliced) {
            rc = kc__deadlock_look(&dw) ? -EDEADLK : 0;
            if (rc == 0)
                continue;
        }
        if (rc < 0)
            break;
    }
    if (cancel != NULL)
        kc__cancel_release(cancel);
    kc__lock(lock);
    struct kc_idle_waiter **pp = head;
    while (*pp != &me)
        pp = &(*pp)->next;
    *pp = me.next;
    /* seq_cst: as above */
    bool idle = atomic_load_explicit(live, memory_order_seq_cst) == 0;
    kc__unlock(lock); /* the last touch of the owner (its destroy waits for it) */
    return idle ? 0 : rc;
}

void kc__drain_wake(struct kc_idle_waiter *head)
{
    for (struct kc_idle_waiter *w = head; w != NULL; w = w->next)
        kc_unpark(&w->p); /* under the caller's lock: waiters unlink under it */
}
