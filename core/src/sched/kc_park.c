/* kc_park.c - parkers, and how a coroutine parks through the scheduler.
 *
 * A parker's state word (IDLE, PERMIT, WAITING; see the table in
 * kcoro/park.h) decides who wakes its owner: whoever moves it out of WAITING,
 * and nobody else. kc_unpark() moves it to PERMIT; the park's own timer, its
 * token's callback and a task interrupt (scope or scheduler cancellation)
 * move it to IDLE. A thread owner sleeps on the word with a futex. A
 * coroutine owner cannot be made runnable while it is still on its worker's
 * stack, so its task has a second state word, `run`:
 *
 *   run      event                                    next     done by
 *   -------  ---------------------------------------  -------  ----------------------
 *   RUNNING  park announced (before WAITING is set)   PARKING  park_task
 *   PARKING  whoever runs next, after the switch-out  PARKED   commit_park (kc_worker.c)
 *   PARKING  the one waker, before the commit         WOKEN    kc__task_wake
 *   WOKEN    seen at commit: runnable again           RUNNING  commit_park (kc_worker.c)
 *   PARKED   the one waker: enqueue                   RUNNING  kc__task_wake
 *   PARKING  park undone (permit/cancel seen first)   RUNNING  park_task
 *
 * Invariants:
 *   K1  a parker is WAITING only while its owner is parked or about to be;
 *       only the owner moves it IDLE -> WAITING and PERMIT -> IDLE.
 *   K2  exactly one waker moves a parker out of WAITING, and only that waker
 *       touches the task afterwards (it cannot run until enqueued).
 *   K3  the park's timer and token callback are stopped (synchronously)
 *       before kc_park returns, so they never touch a dead parker.
 *   K4  while t->interrupting > 0 the parker in t->cur_parker stays alive:
 *       park's exit waits for interrupters to leave.
 *   K5  Dekker pairs, all seq_cst: (a) parker CAS to WAITING then read of
 *       the token/timer/cancelled flag, against (b) the flag's write then
 *       the waker's CAS on the parker. One side always sees the other.
 *   K6  a task's own parker (t->parker, the one channel waits use) lives as
 *       long as the task and is IDLE between waits: every wake a wait is
 *       owed is consumed before the wait ends (rule R2 of kc_waiter.c).
 *       An interrupter CASes it directly, so a park on it is not published
 *       in cur_parker: no seq_cst store and exchange, no exit wait for
 *       interrupters (K4 is about parkers that die with their frame). At
 *       most one unpark comes per wait (R2), so its permit is taken with a
 *       load and a store (take_permit_own); any other parker may see two
 *       unparks race the take, and takes its permit by CAS.
 */
#include "sched/kc_sched_impl.h"

#include "base/kc_debug.h"

#include <errno.h>

enum {
    P_IDLE = 0,
    P_PERMIT = 1,
    P_WAITING = 2
};
enum {
    KIND_THREAD = KC__PARKER_THREAD,
    KIND_TASK = KC__PARKER_TASK
};

/* Spins before an exiting park yields its thread to a slow interrupter. */
enum {
    KC_PARK_EXIT_SPINS = 64
};

/* The identity of a non-task context: a bare coroutine or the thread. */
static void *thread_owner(void)
{
    kc_coro_t *co = kc_coro_self();
    return co != NULL ? (void *)co : (void *)(uintptr_t)kc__thread_tag();
}

static void parker_init_for(kc_parker_t *p, struct kc_task *t)
{
    p->size = sizeof(*p);
    p->version = KC_PARKER_VERSION;
    atomic_store_explicit(&p->state, P_IDLE, memory_order_relaxed);
    p->kind = t != NULL ? KIND_TASK : KIND_THREAD;
    p->owner = t != NULL ? (void *)t : thread_owner();
    p->reserved[0] = p->reserved[1] = NULL;
}

void kc_parker_init(kc_parker_t *p)
{
    if (p == NULL)
        return;
    parker_init_for(p, kc__task_self());
}

void kc__parker_init_task(kc_parker_t *p, struct kc_task *t)
{
    parker_init_for(p, t);
}

kc_parker_t *kc__parker_for_wait(kc_parker_t *spare, const _Atomic uint32_t **interrupted)
{
    struct kc_task *t = kc__task_self();
    if (t != NULL) {
        *interrupted = &t->cancelled;
        return &t->parker; /* K6: IDLE, nobody else's to wait on */
    }
    parker_init_for(spare, NULL);
    *interrupted = NULL;
    return spare;
}

_Atomic(const struct kc__turn_ops *) kc__turns;

int kc__sched_turns_install(const struct kc__turn_ops *ops)
{
    const struct kc__turn_ops *none = NULL;
    /* release: the table is complete before anyone sees it */
    if (atomic_compare_exchange_strong_explicit(&kc__turns, &none, ops, memory_order_release,
                                                memory_order_acquire))
        return 0;
    return none == ops ? 0 : -EBUSY;
}

/* A wake of a parked task bound to a turn queues it for its turn, in the
 * waker, before the task can run (so in the waker's order). Only for a
 * parker that was WAITING: its owner is parked, so alive (a permit may be
 * left for an owner that has finished). */
static inline void turn_woken(const kc_parker_t *p, uint32_t kind, void *owner)
{
    if (kind != KIND_TASK || atomic_load_explicit(&kc__turns, memory_order_relaxed) == NULL)
        return;
    void *turn = atomic_load_explicit(&((struct kc_task *)owner)->turn, memory_order_relaxed);
    if (turn != NULL) {
        /* acquire: pairs with the install's release */
        const struct kc__turn_ops *ops = atomic_load_explicit(&kc__turns, memory_order_acquire);
        ops->woken(turn, p);
    }
}

/* Wake the owner without a permit (timeout, cancellation). The caller keeps p
 * alive (K3, K4). */
static void wake_noperm(kc_parker_t *p)
{
    uint32_t kind = p->kind;
    void *owner = p->owner;
    uint32_t e = P_WAITING;
    /* seq_cst: K5(b); acquire side pairs with the owner's CAS to WAITING */
    if (atomic_compare_exchange_strong_explicit(&p->state, &e, P_IDLE, memory_order_seq_cst,
                                                memory_order_relaxed)) {
        turn_woken(p, kind, owner);
        if (kind == KIND_TASK)
            kc__task_wake(owner);
        else
            kc__futex_wake(&p->state, 1);
    }
}

static void wake_noperm_cb(void *arg)
{
    wake_noperm(arg);
}

void kc_unpark(kc_parker_t *p)
{
    if (p == NULL)
        return;
    uint32_t kind = p->kind;
    void *owner = p->owner; /* read first: p may go once the permit is seen */
    /* acq_rel: release publishes the waker's writes to the owner's acquire
     * when it consumes the permit; acquire pairs with the owner's CAS to
     * WAITING so the task's PARKING state is visible to kc__task_wake */
    uint32_t old = atomic_exchange_explicit(&p->state, P_PERMIT, memory_order_acq_rel);
    if (old != P_WAITING)
        return;
    turn_woken(p, kind, owner); /* the owner is parked until woken below (K2) */
    if (kind == KIND_TASK)
        kc__task_wake(owner); /* K2 */
    else
        kc__futex_wake(&p->state, 1);
}

/* Take the permit if there is one. A relaxed look first: a failed CAS
 * costs a locked instruction, and most looks before a park find no permit.
 * The CAS, not a store: a second unpark may exchange PERMIT -> PERMIT
 * between a load and a store, and a store of IDLE would then lose it
 * without the owner having synchronised with that unparker. */
static bool take_permit(kc_parker_t *p)
{
    if (atomic_load_explicit(&p->state, memory_order_relaxed) != P_PERMIT)
        return false;
    uint32_t e = P_PERMIT;
    /* acquire: pairs with the release half of kc_unpark's exchange */
    return atomic_compare_exchange_strong_explicit(&p->state, &e, P_IDLE, memory_order_acquire,
                                                   memory_order_relaxed);
}

/* take_permit for a task's own parker (K6): one unpark at most per wait,
 * so nothing can write the word between our load and our store. */
static bool take_permit_own(kc_parker_t *p)
{
    /* acquire: pairs with the release half of kc_unpark's exchange */
    if (atomic_load_explicit(&p->state, memory_order_acquire) != P_PERMIT)
        return false;
    atomic_store_explicit(&p->state, P_IDLE, memory_order_relaxed);
    return true;
}

static int park_thread(kc_parker_t *p, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    int64_t deadline = kc__deadline_after(timeout_ns);
    kc_cancel_reg_t reg;
    bool reg_on = false;
    if (cancel != NULL) {
        if (kc_cancel_register(cancel, &reg, wake_noperm_cb, p) == -ECANCELED)
            return take_permit(p) ? 0 : -ECANCELED;
        reg_on = true;
    }
    int rc;
    for (;;) {
        if (take_permit(p)) {
            rc = 0;
            break;
        }
        int64_t left = kc__deadline_left(deadline);
        if (kc__cancel_fired_sc(cancel) || left == 0) {
            uint32_t e = P_WAITING;
            /* relaxed failure is fine: a PERMIT is taken at the loop top */
            if (!atomic_compare_exchange_strong_explicit(
                    &p->state, &e, P_IDLE, memory_order_acquire, memory_order_relaxed) &&
                e == P_PERMIT)
                continue;
            rc = kc__cancel_fired_sc(cancel) ? -ECANCELED : -ETIME;
            break;
        }
        uint32_t e = P_IDLE;
        /* seq_cst: K5(a) against the token callback */
        if (!atomic_compare_exchange_strong_explicit(&p->state, &e, P_WAITING, memory_order_seq_cst,
                                                     memory_order_relaxed) &&
            e != P_WAITING)
            continue; /* a permit arrived */
        if (kc__cancel_fired_sc(cancel))
            continue; /* handled at the loop top */
        kc__futex_wait(&p->state, P_WAITING, left);
    }
    if (reg_on)
        kc_cancel_unregister(&reg); /* K3 */
    return rc;
}

static bool task_cancelled(struct kc_task *t)
{
    /* seq_cst: K5(a) against kc__task_interrupt */
    return atomic_load_explicit(&t->cancelled, memory_order_seq_cst) != 0;
}

void kc__task_list(struct kc_task *t)
{
    struct kc_sched *s = t->sched;
    kc__lock(&s->reg_lock);
    t->reg_prev = NULL;
    t->reg_next = s->reg_head;
    if (s->reg_head != NULL)
        s->reg_head->reg_prev = t;
    s->reg_head = t;
    t->registered = true;
    /* relaxed: reg_lock orders this after a cancelling shutdown's store */
    if (atomic_load_explicit(&s->cancel_all, memory_order_relaxed))
        atomic_store_explicit(&t->cancelled, 1, memory_order_seq_cst);
    kc__unlock(&s->reg_lock);
}

void kc__task_unregister(struct kc_task *t)
{
    if (!t->registered)
        return;
    struct kc_sched *s = t->sched;
    kc__lock(&s->reg_lock);
    if (t->reg_prev != NULL)
        t->reg_prev->reg_next = t->reg_next;
    else
        s->reg_head = t->reg_next;
    if (t->reg_next != NULL)
        t->reg_next->reg_prev = t->reg_prev;
    t->registered = false;
    kc__unlock(&s->reg_lock);
}

/* Inlined into each caller, so a constant timeout or token (the own-parker
 * wait) compiles the timer and registration code out. */
static inline __attribute__((always_inline)) int park_task(kc_parker_t *p, struct kc_task *t,
                                                           int64_t timeout_ns,
                                                           const kc_cancel_t *cancel, bool intr)
{
    if (!t->registered)
        kc__task_list(t);
    if ((intr && task_cancelled(t)) || kc__cancel_fired_sc(cancel))
        return -ECANCELED;
    kc_cancel_reg_t reg;
    kc_timer_t tm;
    bool reg_on = false, tm_on = timeout_ns > 0;
    if (cancel != NULL) {
        if (kc_cancel_register(cancel, &reg, wake_noperm_cb, p) == -ECANCELED)
            return take_permit(p) ? 0 : -ECANCELED;
        reg_on = true;
    }
    if (tm_on) {
        kc_timer_init(&tm, wake_noperm_cb, p);
        int rc = kc__timer_start_after(&tm, t->sched, kc__sched_worker_self(), timeout_ns);
        if (rc < 0) {
            if (reg_on)
                kc_cancel_unregister(&reg);
            return rc;
        }
    }
    bool own = p == &t->parker; /* K6: interrupters find it without cur_parker */
    if (!own) {
        /* seq_cst: K5(a), publishing the parker to interrupters */
        atomic_store_explicit(&t->cur_parker, p, memory_order_seq_cst);
    }
    int rc;
    for (;;) {
        if (own ? take_permit_own(p) : take_permit(p)) {
            rc = 0;
            break;
        }
        if ((intr && task_cancelled(t)) || kc__cancel_fired_sc(cancel)) {
            rc = -ECANCELED;
            break;
        }
        if (tm_on && !kc_timer_is_pending(&tm)) {
            rc = -ETIME;
            break;
        }
        atomic_store_explicit(&t->run, KC_RUN_PARKING, memory_order_relaxed);
        uint32_t e = P_IDLE;
        /* seq_cst: K5(a); its release half pairs with the waker's acquire so
         * the waker sees run == PARKING */
        if (!atomic_compare_exchange_strong_explicit(&p->state, &e, P_WAITING, memory_order_seq_cst,
                                                     memory_order_relaxed)) {
            atomic_store_explicit(&t->run, KC_RUN_RUNNING, memory_order_relaxed);
            continue; /* a permit arrived */
        }
        if ((intr && task_cancelled(t)) || kc__cancel_fired_sc(cancel) ||
            (tm_on && !kc_timer_is_pending(&tm))) {
            e = P_WAITING;
            /* acquire: nothing to pair with but our own CAS; a failure means
             * a waker won and will call kc__task_wake, so we park for it */
            if (atomic_compare_exchange_strong_explicit(&p->state, &e, P_IDLE, memory_order_acquire,
                                                        memory_order_relaxed)) {
                atomic_store_explicit(&t->run, KC_RUN_RUNNING, memory_order_relaxed);
                continue;
            }
        }
        kc__worker_park(t); /* whoever runs next commits PARKING -> PARKED */
    }
    if (!own) {
        /* seq_cst: K4 Dekker with kc__task_interrupt's increment and load */
        atomic_exchange_explicit(&t->cur_parker, NULL, memory_order_seq_cst);
        for (int i = 0; atomic_load_explicit(&t->interrupting, memory_order_seq_cst) != 0; i++) {
            if (i < KC_PARK_EXIT_SPINS)
                kc__port_relax();
            else
                kc__port_yield_thread();
        }
    }
    if (tm_on)
        kc_timer_stop(&tm); /* K3 */
    if (reg_on)
        kc_cancel_unregister(&reg);
    return rc;
}

int kc_park(kc_parker_t *p, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (atomic_load_explicit(&kc__deadlock_watched, memory_order_relaxed) != 0 && p != NULL &&
        p->kind == KIND_TASK && p->owner == kc__task_self())
        kc__task_note_wait(p->owner, KC_WAIT_PARK, p, NULL, 0);
    return kc__park(p, timeout_ns, cancel, true);
}

/* park_task for a task bound to a turn: it gives the turn away while it
 * is parked and waits for it again after. */
static __attribute__((noinline)) int park_turn(kc_parker_t *p, struct kc_task *t,
                                               int64_t timeout_ns, const kc_cancel_t *cancel,
                                               bool intr)
{
    const struct kc__turn_ops *ops = atomic_load_explicit(&kc__turns, memory_order_acquire);
    void *turn = atomic_load_explicit(&t->turn, memory_order_relaxed);
    bool gave = ops->blocking(turn, p);
    int rc = park_task(p, t, timeout_ns, cancel, intr);
    if (gave)
        ops->resumed(turn);
    return rc;
}

/* Park on p, which the calling context owns (checked by the caller). */
static int park_owned(kc_parker_t *p, int64_t timeout_ns, const kc_cancel_t *cancel, bool intr)
{
    timeout_ns = kc__timeout_norm(timeout_ns);
    if (p->kind == KIND_TASK) {
        struct kc_task *t = p->owner;
        if (p == &t->parker ? take_permit_own(p) : take_permit(p)) /* K6 */
            return 0;
        if (timeout_ns == 0)
            return (intr && task_cancelled(t)) || kc__cancel_fired_sc(cancel) ? -ECANCELED : -ETIME;
        if (atomic_load_explicit(&t->turn, memory_order_relaxed) != NULL)
            return park_turn(p, t, timeout_ns, cancel, intr);
        return park_task(p, t, timeout_ns, cancel, intr);
    }
    if (take_permit(p))
        return 0;
    if (kc__cancel_fired_sc(cancel))
        return -ECANCELED;
    if (timeout_ns == 0)
        return -ETIME;
    return park_thread(p, timeout_ns, cancel);
}

int kc__park_task_own(struct kc_task *t)
{
    if (take_permit_own(&t->parker)) /* K6 */
        return 0;
    if (atomic_load_explicit(&t->turn, memory_order_relaxed) != NULL)
        return park_turn(&t->parker, t, KC_NO_TIMEOUT, NULL, true);
    return park_task(&t->parker, t, KC_NO_TIMEOUT, NULL, true);
}

int kc__park_own(kc_parker_t *p, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    return park_owned(p, timeout_ns, cancel, true);
}

int kc__park(kc_parker_t *p, int64_t timeout_ns, const kc_cancel_t *cancel, bool intr)
{
    if (p == NULL || p->size != sizeof(*p) || p->version != KC_PARKER_VERSION)
        return -EINVAL;
    if (p->kind == KIND_TASK) {
        if (kc__task_self() != p->owner)
            return -EPERM;
    } else if (p->kind != KIND_THREAD) {
        return -EINVAL;
    } else if (p->owner != thread_owner()) {
        return -EPERM;
    }
    return park_owned(p, timeout_ns, cancel, intr);
}

void kc__task_wake(struct kc_task *t)
{
    /* acquire: pairs with the release CAS of the worker's commit */
    uint32_t r = atomic_load_explicit(&t->run, memory_order_acquire);
    for (;;) {
        if (r == KC_RUN_PARKING) {
            /* acq_rel: the worker's commit CAS reads WOKEN and resumes t */
            if (atomic_compare_exchange_weak_explicit(&t->run, &r, KC_RUN_WOKEN,
                                                      memory_order_acq_rel, memory_order_acquire))
                return;
        } else if (r == KC_RUN_PARKED) {
            atomic_store_explicit(&t->run, KC_RUN_RUNNING, memory_order_relaxed);
            kc__sched_enqueue(t); /* K2: our last touch of t */
            return;
        } else {
            kc__coro_fatal(t->co, "K2: a parked task was woken twice");
        }
    }
}

void kc__task_interrupt(struct kc_task *t)
{
    /* seq_cst: K5(b) then K4; pairs with park_task's checks and exit */
    atomic_store_explicit(&t->cancelled, 1, memory_order_seq_cst);
    uint32_t e = P_WAITING;
    /* seq_cst: K5(b) against park_task's CAS to WAITING on the task's own
     * parker, which is not published in cur_parker (K6) */
    bool won = atomic_compare_exchange_strong_explicit(&t->parker.state, &e, P_IDLE,
                                                       memory_order_seq_cst, memory_order_relaxed);
    if (!won) { /* a park on another parker, if any: published in cur_parker */
        atomic_fetch_add_explicit(&t->interrupting, 1, memory_order_seq_cst);
        kc_parker_t *p = atomic_load_explicit(&t->cur_parker, memory_order_seq_cst);
        if (p != NULL) {
            e = P_WAITING;
            /* seq_cst: K5(b) */
            won = atomic_compare_exchange_strong_explicit(
                &p->state, &e, P_IDLE, memory_order_seq_cst, memory_order_relaxed);
        }
        /* release: our use of p ends here (K4); pairs with park's exit loop */
        atomic_fetch_sub_explicit(&t->interrupting, 1, memory_order_release);
    }
    if (won)
        kc__task_wake(t);
}
