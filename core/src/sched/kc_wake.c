/* kc_wake.c - making tasks runnable and waking workers for them.
 *
 * The submitting half of the idle protocol (kc_idle.c has the sleeping
 * half and the argument that no wake-up is lost): a task that becomes
 * runnable goes to the waker's next slot or deque, or to the inject queue
 * from outside the scheduler, then kc__sched_notify wakes one sleeper when
 * nobody searches. kc__worker_kick wakes one given worker (timers, migration,
 * shutdown).
 */
#include "sched/kc_sched_impl.h"

/* Queue t on w's deque, or on the inject queue if the deque cannot grow. */
void kc__worker_push_local(struct kc_worker *w, struct kc_task *t)
{
    if (kc__deque_push(&w->dq, t) < 0)
        kc__inject_push(&w->sched->inject, t, t, 1);
}

static void wake_worker(struct kc_sched *s, struct kc_worker *v, bool poll)
{
    /* release: pairs with the sleeper's futex re-check of park_word */
    atomic_store_explicit(&v->park_word, KC_PARK_AWAKE, memory_order_release);
    if (poll)
        kc__poller_wake(s->poller);
    else
        kc__futex_wake(&v->park_word, 1);
}

/* Take a sleeper off the idle structures (under idle_lock). */
bool kc__worker_take_sleeper(struct kc_sched *s, struct kc_worker *v, bool *poll)
{
    *poll = false;
    if (v->idle_pos >= 0) {
        int last = s->idle_stack[--s->idle_n];
        s->idle_stack[v->idle_pos] = last;
        s->w[last].idle_pos = v->idle_pos;
        v->idle_pos = -1;
    } else if (s->poll_sleeper == v) {
        s->poll_sleeper = NULL;
        *poll = true;
    } else {
        return false;
    }
    atomic_fetch_sub_explicit(&s->nidle, 1, memory_order_relaxed); /* S3, under lock */
    return true;
}

static void wake_one(struct kc_sched *s)
{
    kc__lock(&s->idle_lock);
    struct kc_worker *v = NULL;
    bool poll = false;
    if (atomic_load_explicit(&s->nsearching, memory_order_relaxed) == 0) {
        if (s->idle_n > 0)
            v = &s->w[s->idle_stack[s->idle_n - 1]];
        else
            v = s->poll_sleeper;
        if (v != NULL && kc__worker_take_sleeper(s, v, &poll)) {
            v->wake_searching = true;
            atomic_fetch_add_explicit(&s->nsearching, 1, memory_order_relaxed);
        }
    }
    kc__unlock(&s->idle_lock);
    if (v != NULL)
        wake_worker(s, v, poll);
}

void kc__sched_notify(struct kc_sched *s)
{
    /* seq_cst fence: pairs with the fence in kc__worker_park_idle; our queue push
   * is before it, the sleeper's nidle/nsearching update before theirs */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&s->nsearching, memory_order_relaxed) != 0)
        return;
    if (atomic_load_explicit(&s->nidle, memory_order_relaxed) == 0)
        return;
    wake_one(s);
}

void kc__worker_kick(struct kc_worker *v)
{
    struct kc_sched *s = v->sched;
    bool poll;
    kc__lock(&s->idle_lock);
    bool slept = kc__worker_take_sleeper(s, v, &poll);
    if (slept)
        v->wake_searching = false;
    kc__unlock(&s->idle_lock);
    if (slept)
        wake_worker(s, v, poll);
}

void kc__sched_wake_all(struct kc_sched *s)
{
    for (int i = 0; i < s->nworkers; i++)
        kc__worker_kick(&s->w[i]);
}

/* Put runnable t in w's next slot; a task it displaces goes to the deque,
 * and a searcher is woken for it. w is the calling worker. */
void kc__worker_enqueue_next(struct kc_worker *w, struct kc_task *t)
{
    struct kc_task *old = w->next;
    w->next = t;
    if (old == NULL)
        return; /* runs when the current coroutine yields or parks */
    kc__worker_push_local(w, old);
    kc__sched_notify(w->sched);
}

/* Queue t from a thread outside s and wake a worker for it. The task may
 * run, finish and be joined, and s be destroyed, before the wake-up is
 * done: the count keeps kc_sched_destroy from freeing s under us. */
static void outside_enqueue(struct kc_sched *s, struct kc_task *t)
{
    atomic_fetch_add_explicit(&s->outside_wakers, 1, memory_order_relaxed);
    kc__inject_push(&s->inject, t, t, 1);
    kc__sched_notify(s);
    /* release: our last touch of s happens-before the acquire load in
     * kc_sched_destroy that sees no outside waker */
    atomic_fetch_sub_explicit(&s->outside_wakers, 1, memory_order_release);
}

void kc__sched_enqueue(struct kc_task *t)
{
    struct kc_sched *s = t->sched;
    struct kc_worker *w = kc__sched_worker_self();
    if (w != NULL && w->sched == s) {
        kc__worker_enqueue_next(w, t);
        return;
    }
    outside_enqueue(s, t);
}

void kc__worker_submit(struct kc_worker *w, struct kc_task *t)
{
    kc__worker_push_local(w, t);
    kc__sched_notify(w->sched);
}

void kc__sched_submit(struct kc_task *t)
{
    struct kc_sched *s = t->sched;
    struct kc_worker *w = kc__sched_worker_self();
    if (w != NULL && w->sched == s)
        kc__worker_submit(w, t);
    else
        outside_enqueue(s, t);
}
