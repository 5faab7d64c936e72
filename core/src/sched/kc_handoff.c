/* kc_handoff.c - switching from a running task straight to the next one.
 *
 * A yield with local work waiting switches straight to the next task
 * (kc__worker_yield_direct), one context switch instead of two through the
 * worker's root, and so does a park when any local task is waiting
 * (kc__worker_park; whatever runs next on the worker commits the park,
 * S6). The worker loop (kc_worker.c) picks local work with the same rules
 * (kc__worker_local_pick) and commits the parks that come back to it
 * (kc__task_commit_park, kc__worker_commit_pending).
 */
#include "sched/kc_sched_impl.h"

/* The next local task: next slot, deque, oldest yielder. Owner only. */
struct kc_task *kc__worker_local_pick(struct kc_worker *w)
{
    struct kc_task *t;
    if (w->next != NULL) {
        t = w->next;
        w->next = NULL;
        if (w->next_streak++ < KC_SCHED_NEXT_STREAK) {
            KC_STAT_ADD(w, next_hits, 1);
            return t;
        }
        /* The streak is used up: the oldest local task goes first. */
        kc__worker_push_local(w, t);
        w->next_streak = 0;
        while ((t = kc__deque_steal(&w->dq)) == KC_DEQUE_ABORT) {
        }
        if (t != KC_DEQUE_EMPTY)
            return t;
    }
    w->next_streak = 0;
    /* The owner's relaxed look is exact enough: top only grows, so "empty"
   * is never wrong, and a stale "not empty" costs one real pop. */
    if (kc__deque_size(&w->dq) > 0 && (t = kc__deque_pop(&w->dq)) != NULL)
        return t;
    if (w->yield_top != NULL) {
        /* The oldest yielder (the chain's tail) runs now; the others go to
     * the deque, newest first, so they pop in yield order and idle
     * workers can steal them. */
        struct kc_task *x = w->yield_top;
        w->yield_top = NULL;
        while (x->link != NULL) {
            struct kc_task *nx = x->link;
            kc__worker_push_local(w, x);
            x = nx;
        }
        return x;
    }
    return NULL;
}

/* From the running task on w, switch straight to local task n, which
 * inherits our resumer (the worker's root). Returns when the caller runs
 * again, possibly on another worker. */
static inline __attribute__((always_inline)) void switch_to_local(struct kc_worker *w,
                                                                  struct kc_task *n)
{
    /* relaxed atomic stores (plain moves): kc_sched_dump samples them */
    __atomic_store_n(&w->current, n, __ATOMIC_RELAXED);
    __atomic_store_n(&n->worker, (int16_t)w->index, __ATOMIC_RELAXED);
    n->action = KC_ACT_NONE;
    KC_STAT_ADD(w, executed, 1);
    kc__coro_pass_to(n->co); /* n is runnable: CREATED or SUSPENDED, not us */
}

/* Commit the park of t, which is off its stack now (S4): PARKING ->
 * PARKED, after which its one waker owns it; or, woken meanwhile, make it
 * runnable again. Returns true when t is runnable (WOKEN was seen). */
bool kc__task_commit_park(struct kc_task *t)
{
    uint32_t e = KC_RUN_PARKING;
    /* acq_rel: release hands the suspended context to the waker's acquire
   * in kc__task_wake; acquire pairs with a waker's WOKEN */
    if (atomic_compare_exchange_strong_explicit(&t->run, &e, KC_RUN_PARKED, memory_order_acq_rel,
                                                memory_order_acquire))
        return false; /* S4: t is the waker's now; do not touch it */
    atomic_store_explicit(&t->run, KC_RUN_RUNNING, memory_order_relaxed);
    return true;
}

/* Commit the park w->pending names, if any (S6): its task is off its
 * stack, since whoever runs on w now is another one. A park woken
 * meanwhile becomes runnable here. Owner only. */
void kc__worker_commit_pending(struct kc_worker *w)
{
    struct kc_task *p = w->pending;
    if (p != NULL) {
        w->pending = NULL;
        if (kc__task_commit_park(p))
            kc__worker_enqueue_next(w, p); /* woken meanwhile: runnable here */
    }
}

void kc__worker_park(struct kc_task *self)
{
    struct kc_worker *w = kc__sched_worker_self();
    /* The next local task runs now, as the worker loop would choose it
     * (kc__worker_local_pick: the task just woken, then the deque, then
     * the oldest yielder), without the round trip through the worker
     * loop: one switch instead of two. Every KC_SCHED_FAIR_TICK picks, and
     * for migrations, the worker loop must look around: the long way. A
     * park left to commit by a task that switched here goes first, so a
     * task it woke can be the one chosen. */
    struct kc_task *n = NULL;
    if (!kc__worker_fair_tick(w) && atomic_load_explicit(&w->inbox_n, memory_order_relaxed) == 0) {
        kc__worker_commit_pending(w);
        n = kc__worker_local_pick(w);
    }
    if (n != NULL) {
        KC_STAT_ADD(w, park_switches, 1);
        w->pending = self; /* S6: committed by whoever runs on w next */
        switch_to_local(w, n);
    } else {
        self->action = KC_ACT_PARK;
        kc_coro_yield(); /* the worker loop commits the park */
    }
    /* Landed: maybe on another worker, maybe switched to by a parking task
   * whose park is ours to commit (S6). */
    kc__worker_commit_pending(kc__sched_worker_self());
}

bool kc__worker_yield_direct(struct kc_worker *w, struct kc_task *self)
{
    /* Every KC_SCHED_FAIR_TICK picks, and for migrations, the worker loop
   * must look around: go the long way. */
    if (kc__worker_fair_tick(w) || atomic_load_explicit(&w->inbox_n, memory_order_relaxed) != 0)
        return false;
    struct kc_task *n = w->yield_top;
    if (w->next == NULL && n != NULL && n->link == NULL && kc__deque_size(&w->dq) == 0) {
        /* Tasks yielding in turn: kc__worker_local_pick's choice (its last
         * rule, the one yielder) without its call, and self takes the
         * yielder's place. */
        w->next_streak = 0;
        self->link = NULL;
    } else {
        n = kc__worker_local_pick(w);
        if (n == NULL)
            return false;
        /* self is still running, so it goes to the private yield stack,
         * never to the deque where a thief could resume it on another
         * stack. */
        self->link = w->yield_top;
    }
    w->yield_top = self;
    switch_to_local(w, n);
    return true;
}
