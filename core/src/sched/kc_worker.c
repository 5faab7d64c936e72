/* kc_worker.c - the worker loop: find work, run it, steal, sleep, wake.
 *
 * A worker runs coroutines from its root context with kc_coro_resume() and
 * acts on what each asked for when it switched out (yield, park, migrate,
 * finish). It finds work in this order: the "next" slot (the task it just
 * woke, for locality; at most KC_SCHED_NEXT_STREAK times in a row), its own
 * deque, its yield stack, the inject queue, the poller, then other workers'
 * deques (steal half, random start, bounded rounds, and only once the work
 * has been seen there for the steal delay, steal_ripe). Every KC_SCHED_FAIR_TICK
 * picks it looks at the inject queue, timers and poller first, so outside
 * submissions and I/O are not starved by local work. A yield with local work
 * waiting switches straight to the next task (kc__worker_yield_direct), one
 * context switch instead of two through the root, and so does a park when
 * the next slot holds a task (kc__worker_park; the task switched to commits
 * the park, S6); the task that finally switches back to the root is
 * whatever w->current names.
 *
 * Idle protocol (Go's spinning-M scheme): at most about half of the busy
 * workers search at once (nsearching); a submitter wakes one sleeper only when
 * nobody searches; a searcher that finds work while it was the last searcher
 * wakes another. A worker going to sleep announces itself (idle stack,
 * nidle), stops searching, issues a seq_cst fence and looks at every queue
 * once more; a submitter pushes, fences and then reads nsearching and nidle.
 * The fences pair, so either the sleeper sees the work or the submitter sees
 * the sleeper: no lost wake-up. The first worker to sleep while coroutines
 * wait for I/O sleeps inside the poller instead of on its futex.
 *
 *   worker     event                               next       done by
 *   ---------  ----------------------------------  ---------  -------------
 *   running    local, inject or I/O work found      running    find_work
 *   running    no local work, searchers < busy/2    searching  search
 *   searching  found work                          running    stop_searching
 *   searching  nothing after the steal rounds      idle       park_idle
 *   running    nothing, enough searchers           idle       park_idle
 *   idle       popped by wake_one                  searching  unidle
 *   idle       kicked, timer due, I/O, timeout     running    unidle
 *   any        scheduler stopping, nothing left    exited     kc__worker_main
 */
#include "sched/kc_sched_impl.h"

#include "base/kc_debug.h"

#include <stdlib.h>

static _Thread_local __attribute__((tls_model("initial-exec"))) struct kc_worker *tls_worker;

/* ARCHITECTURE.md section 6: never inlined, and the asm hides the address,
 * so no coroutine keeps &tls_worker across a switch to another thread. */
__attribute__((noinline)) struct kc_worker *kc__sched_worker_self(void)
{
    struct kc_worker **p = &tls_worker;
    __asm__ volatile("" : "+r"(p)::"memory");
    return *p;
}

__attribute__((noinline)) static void set_worker_self(struct kc_worker *w)
{
    struct kc_worker **p = &tls_worker;
    __asm__ volatile("" : "+r"(p)::"memory");
    *p = w;
}

static uint64_t rng_next(struct kc_worker *w)
{
    uint64_t x = w->rng; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w->rng = x;
    return x;
}

/* Count one pick; true on every KC_SCHED_FAIR_TICK-th (a countdown, so
 * the hot path has no division). */
static inline bool fair_tick(struct kc_worker *w)
{
    if (w->tick > 1) {
        w->tick--;
        return false;
    }
    w->tick = KC_SCHED_FAIR_TICK; /* also the first pick of a new worker (0) */
    return true;
}

/* Queue t on w's deque, or on the inject queue if the deque cannot grow. */
static void push_local(struct kc_worker *w, struct kc_task *t)
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
static bool take_sleeper(struct kc_sched *s, struct kc_worker *v, bool *poll)
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
        if (v != NULL && take_sleeper(s, v, &poll)) {
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
    /* seq_cst fence: pairs with the fence in park_idle; our queue push is
     * before it, the sleeper's nidle/nsearching update before theirs */
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
    bool slept = take_sleeper(s, v, &poll);
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
static void enqueue_next(struct kc_worker *w, struct kc_task *t)
{
    struct kc_task *old = w->next;
    w->next = t;
    if (old == NULL)
        return; /* runs when the current coroutine yields or parks */
    push_local(w, old);
    kc__sched_notify(w->sched);
}

void kc__sched_enqueue(struct kc_task *t)
{
    struct kc_sched *s = t->sched;
    struct kc_worker *w = kc__sched_worker_self();
    if (w != NULL && w->sched == s) {
        enqueue_next(w, t);
        return;
    }
    kc__inject_push(&s->inject, t, t, 1);
    kc__sched_notify(s);
}

void kc__sched_submit(struct kc_task *t)
{
    struct kc_sched *s = t->sched;
    struct kc_worker *w = kc__sched_worker_self();
    if (w != NULL && w->sched == s) {
        push_local(w, t);
    } else {
        kc__inject_push(&s->inject, t, t, 1);
    }
    kc__sched_notify(s);
}

/* Move up to a batch of inject tasks here; returns the first. */
static struct kc_task *inject_take(struct kc_worker *w)
{
    struct kc_sched *s = w->sched;
    int64_t len = kc__inject_len(&s->inject);
    if (len == 0)
        return NULL;
    int64_t want = len / s->nworkers + 1, got;
    if (want > KC_SCHED_INJECT_BATCH)
        want = KC_SCHED_INJECT_BATCH;
    struct kc_task *first = kc__inject_pop(&s->inject, want, &got);
    if (first == NULL)
        return NULL;
    struct kc_task *rest[KC_SCHED_INJECT_BATCH];
    int n = 0;
    for (struct kc_task *x = first->link; x != NULL; x = x->link)
        rest[n++] = x;
    while (n > 0) /* newest first, so the deque pops them in queue order */
        push_local(w, rest[--n]);
    KC_STAT_ADD(w, inject_pops, (uint64_t)got);
    return first;
}

/* Take one task migrated to w. The others stay in the inbox rather than go
 * to the deque, where a thief could take them to the wrong worker. */
static struct kc_task *inbox_take(struct kc_worker *w)
{
    if (atomic_load_explicit(&w->inbox_n, memory_order_relaxed) == 0)
        return NULL;
    kc__lock(&w->inbox_lock);
    struct kc_task *t = w->inbox_head;
    if (t != NULL) {
        w->inbox_head = t->link;
        if (w->inbox_head == NULL)
            w->inbox_tail = NULL;
        atomic_fetch_sub_explicit(&w->inbox_n, 1, memory_order_relaxed); /* under lock */
    }
    kc__unlock(&w->inbox_lock);
    return t;
}

static bool poll_now(struct kc_worker *w)
{
    struct kc_sched *s = w->sched;
    int z = 0;
    /* acquire (the CAS): pairs with the previous owner's release store */
    if (s->poller == NULL || atomic_load_explicit(&s->io_waiting, memory_order_relaxed) == 0 ||
        !atomic_compare_exchange_strong_explicit(&s->poll_owner, &z, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        return false;
    int n = kc__io_poll(s, w, 0);
    /* release: pairs with the next owner's acquire CAS */
    atomic_store_explicit(&s->poll_owner, 0, memory_order_release);
    /* A sleeper may have missed the poller while we held it: kick one so it
     * re-decides and sleeps in the poller (I/O waits keep being watched). */
    if (atomic_load_explicit(&s->nidle, memory_order_relaxed) > 0) {
        struct kc_worker *v = NULL;
        kc__lock(&s->idle_lock);
        if (s->poll_sleeper == NULL && s->idle_n > 0)
            v = &s->w[s->idle_stack[s->idle_n - 1]];
        kc__unlock(&s->idle_lock);
        if (v != NULL)
            kc__worker_kick(v);
    }
    return n > 0;
}

/* The next local task: next slot, deque, oldest yielder. Owner only. */
static struct kc_task *local_pick(struct kc_worker *w)
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
        push_local(w, t);
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
            push_local(w, x);
            x = nx;
        }
        return x;
    }
    return NULL;
}

static struct kc_task *local_work(struct kc_worker *w)
{
    struct kc_task *t;
    if (fair_tick(w)) {
        if (kc__timer_next(w) != INT64_MAX)
            kc__timer_run_due(w, kc__sched_now());
        if ((t = inject_take(w)) != NULL)
            return t;
        poll_now(w);
    }
    if ((t = inbox_take(w)) != NULL)
        return t;
    return local_pick(w);
}

/* From the running task on w, switch straight to local task n, which
 * inherits our resumer (the worker's root). Returns when the caller runs
 * again, possibly on another worker. */
static void switch_to_local(struct kc_worker *w, struct kc_task *n)
{
    /* relaxed atomic stores (plain moves): kc_sched_dump samples them */
    __atomic_store_n(&w->current, n, __ATOMIC_RELAXED);
    __atomic_store_n(&n->worker, (int16_t)w->index, __ATOMIC_RELAXED);
    n->action = KC_ACT_NONE;
    KC_STAT_ADD(w, executed, 1);
    kc_coro_yield_to(n->co);
}

/* Commit the park of t, which is off its stack now (S4): PARKING ->
 * PARKED, after which its one waker owns it; or, woken meanwhile, make it
 * runnable again. Returns true when t is runnable (WOKEN was seen). */
static bool commit_park(struct kc_task *t)
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

void kc__worker_park(struct kc_task *self)
{
    struct kc_worker *w = kc__sched_worker_self();
    struct kc_task *n = w->next;
    /* The task just woken runs next, as local_pick would choose, without
     * the round trip through the worker loop: one switch instead of two.
     * The fairness rules of local_work and local_pick still hold: every
     * KC_SCHED_FAIR_TICK picks, a full streak or a migration go the long
     * way. */
    if (n != NULL && w->next_streak < KC_SCHED_NEXT_STREAK && !fair_tick(w) &&
        atomic_load_explicit(&w->inbox_n, memory_order_relaxed) == 0) {
        w->next = NULL;
        w->next_streak++;
        KC_STAT_ADD(w, next_hits, 1);
        KC_STAT_ADD(w, park_switches, 1);
        w->pending = self; /* S6: n commits it when it lands below */
        switch_to_local(w, n);
    } else {
        self->action = KC_ACT_PARK;
        kc_coro_yield(); /* the worker loop commits the park */
    }
    /* Landed: maybe on another worker, maybe switched to by a parking task
     * whose park is ours to commit (S6). */
    w = kc__sched_worker_self();
    struct kc_task *p = w->pending;
    if (p != NULL) {
        w->pending = NULL;
        if (commit_park(p))
            enqueue_next(w, p); /* woken meanwhile: runnable here */
    }
}

bool kc__worker_yield_direct(struct kc_worker *w, struct kc_task *self)
{
    /* Every KC_SCHED_FAIR_TICK picks, and for migrations, the worker loop
     * must look around: go the long way. */
    if (fair_tick(w) || atomic_load_explicit(&w->inbox_n, memory_order_relaxed) != 0)
        return false;
    struct kc_task *n = local_pick(w);
    if (n == NULL)
        return false;
    /* self is still running, so it goes to the private yield stack, never
     * to the deque where a thief could resume it on another stack. */
    self->link = w->yield_top;
    w->yield_top = self;
    switch_to_local(w, n);
    return true;
}

static struct kc_task *steal_from(struct kc_worker *w, struct kc_worker *v)
{
    KC_STAT_ADD(w, steal_attempts, 1);
    int64_t n = kc__deque_size(&v->dq);
    if (n <= 0)
        return NULL;
    int64_t k = (n + 1) / 2, got = 0;
    if (k > KC_SCHED_STEAL_MAX)
        k = KC_SCHED_STEAL_MAX;
    struct kc_task *first = NULL;
    for (int aborts = 0; got < k;) {
        struct kc_task *x = kc__deque_steal(&v->dq);
        if (x == KC_DEQUE_EMPTY)
            break;
        if (x == KC_DEQUE_ABORT) {
            if (++aborts > 4)
                break;
            continue;
        }
        if (first == NULL)
            first = x;
        else
            push_local(w, x);
        got++;
    }
    if (got > 0) {
        KC_STAT_ADD(w, steals, 1);
        KC_STAT_ADD(w, stolen, (uint64_t)got);
    }
    return first;
}

static void stop_searching(struct kc_worker *w)
{
    w->searching = false;
    w->work_seen = 0;
    /* seq_cst: the last searcher leaving must be ordered with notify's read */
    if (atomic_fetch_sub_explicit(&w->sched->nsearching, 1, memory_order_seq_cst) == 1)
        kc__sched_notify(w->sched); /* there may be more work: keep one searching */
}

/* The steal delay (SCHEDULER.md, "Stealing and sleeping"): a searcher
 * takes from another worker's deque only once it has seen stealable work
 * there for s->steal_delay_ns without a pass finding every deque empty.
 * A task woken by a coroutine that keeps running gets that long to be run
 * where its data is hot (after the waker parks), instead of being carried
 * to another core for a few nanoseconds of work; work that stays queued
 * is still spread out. True when this searcher may steal now. */
static bool steal_ripe(struct kc_worker *w)
{
    int64_t delay = w->sched->steal_delay_ns;
    if (delay == 0)
        return true;
    int64_t now = kc__sched_now();
    if (w->work_seen == 0) {
        w->work_seen = now;
        return false;
    }
    return now - w->work_seen >= delay;
}

static struct kc_task *search(struct kc_worker *w)
{
    struct kc_sched *s = w->sched;
    if (!w->searching) {
        int busy = s->nworkers - atomic_load_explicit(&s->nidle, memory_order_relaxed);
        if (2 * atomic_load_explicit(&s->nsearching, memory_order_relaxed) >= busy)
            return NULL;
        w->searching = true;
        /* seq_cst: ordered with notify's fence and read of nsearching */
        atomic_fetch_add_explicit(&s->nsearching, 1, memory_order_seq_cst);
    }
    for (int round = 0; round < KC_SCHED_STEAL_ROUNDS; round++) {
        int start = (int)(rng_next(w) % (uint64_t)s->nworkers);
        bool seen = false;
        for (int i = 0; i < s->nworkers; i++) {
            struct kc_worker *v = &s->w[(start + i) % s->nworkers];
            struct kc_task *t;
            if (v == w || kc__deque_size(&v->dq) <= 0)
                continue;
            seen = true;
            if (!steal_ripe(w))
                break; /* too early: inject and inbox are not delayed */
            if ((t = steal_from(w, v)) != NULL) {
                w->work_seen = 0;
                return t;
            }
        }
        if (!seen)
            w->work_seen = 0; /* the delay counts from work seen without a gap */
        struct kc_task *t = inject_take(w);
        if (t == NULL)
            t = inbox_take(w);
        if (t != NULL)
            return t;
    }
    return NULL;
}

/* What a worker about to sleep sees after the seq_cst fence of park_idle. */
enum kc_visible {
    KC_VIS_NONE,   /* nothing: sleep until woken or the next timer */
    KC_VIS_NOW,    /* work it may take now: do not sleep */
    KC_VIS_DELAYED /* only other workers' deques, which searchers are
                      watching through the steal delay: sleep that long */
};

static enum kc_visible work_visible(struct kc_sched *s, struct kc_worker *w, bool searcher)
{
    if (atomic_load_explicit(&s->state, memory_order_relaxed) >= KC_SCHED_STOPPING ||
        kc__inject_len(&s->inject) > 0 ||
        atomic_load_explicit(&w->inbox_n, memory_order_relaxed) > 0 ||
        kc__timer_next(w) <= kc__sched_now())
        return KC_VIS_NOW;
    for (int i = 0; i < s->nworkers; i++)
        if (kc__deque_size(&s->w[i].dq) > 0)
            return searcher || s->steal_delay_ns == 0 ? KC_VIS_NOW : KC_VIS_DELAYED;
    return KC_VIS_NONE;
}

static void unidle(struct kc_worker *w)
{
    struct kc_sched *s = w->sched;
    bool poll;
    kc__lock(&s->idle_lock);
    if (!take_sleeper(s, w, &poll)) { /* someone woke us on purpose */
        KC_STAT_ADD(w, wakeups, 1);
        if (w->wake_searching)
            w->searching = true; /* wake_one counted us in nsearching */
    }
    w->wake_searching = false;
    kc__unlock(&s->idle_lock);
}

static void park_idle(struct kc_worker *w)
{
    struct kc_sched *s = w->sched;
    bool poll = false;
    kc__lock(&s->idle_lock);
    if (atomic_load_explicit(&s->state, memory_order_relaxed) >= KC_SCHED_STOPPING) {
        kc__unlock(&s->idle_lock);
        return;
    }
    atomic_store_explicit(&w->park_word, KC_PARK_SLEEPING, memory_order_relaxed);
    w->wake_searching = false;
    int z = 0;
    /* acquire (the CAS): pairs with the previous owner's release store */
    if (s->poller != NULL && s->poll_sleeper == NULL &&
        atomic_load_explicit(&s->io_waiting, memory_order_relaxed) > 0 &&
        atomic_compare_exchange_strong_explicit(&s->poll_owner, &z, 1, memory_order_acquire,
                                                memory_order_relaxed)) {
        s->poll_sleeper = w;
        poll = true;
    } else {
        w->idle_pos = s->idle_n;
        s->idle_stack[s->idle_n++] = w->index;
    }
    w->poll_mode = poll;
    atomic_fetch_add_explicit(&s->nidle, 1, memory_order_relaxed); /* S3, under lock */
    kc__unlock(&s->idle_lock);
    bool searcher = w->searching;
    if (searcher) {
        w->searching = false;
        w->work_seen = 0;
        /* seq_cst: the Dekker write of the sleeper side, before the fence */
        atomic_fetch_sub_explicit(&s->nsearching, 1, memory_order_seq_cst);
    }
    /* seq_cst fence: pairs with the fence in kc__sched_notify */
    atomic_thread_fence(memory_order_seq_cst);
    enum kc_visible vis = work_visible(s, w, searcher);
    if (vis != KC_VIS_NOW) {
        KC_STAT_ADD(w, parks, 1);
        int64_t next = kc__timer_next(w), timeout = -1;
        if (next != INT64_MAX) {
            timeout = next - kc__sched_now();
            timeout = timeout < 0 ? 0 : timeout;
        }
        /* Not a searcher, and the only work is queued where the searchers
         * wait out the steal delay: look again after it rather than spin
         * on idle_lock. */
        if (vis == KC_VIS_DELAYED && (timeout < 0 || timeout > s->steal_delay_ns))
            timeout = s->steal_delay_ns;
        if (poll)
            kc__io_poll(s, w, timeout);
        else if (timeout != 0)
            kc__futex_wait(&w->park_word, KC_PARK_SLEEPING, timeout);
    }
    if (poll) /* release: pairs with the next owner's acquire CAS */
        atomic_store_explicit(&s->poll_owner, 0, memory_order_release);
    unidle(w);
}

/* A searcher that found nothing looks again a few times, pausing between
 * looks and giving the core away now and then, before it pays for a futex
 * sleep and its submitter for a futex wake. Bounded: about
 * KC_SCHED_SPIN_ROUNDS * KC_SCHED_SPIN_RELAX pauses plus a few yields. */
static bool spin_for_work(struct kc_worker *w)
{
    struct kc_sched *s = w->sched;
    for (int r = 0; r < KC_SCHED_SPIN_ROUNDS; r++) {
        for (int i = 0; i < KC_SCHED_SPIN_RELAX; i++)
            kc__port_relax();
        if (r % 4 == 3)
            kc__port_yield_thread();
        /* Coroutines wait for I/O: look at the poller without blocking
         * too, so readiness that comes within the spin is picked up
         * without a sleep in the poller and the wake-up it costs. */
        if (atomic_load_explicit(&s->io_waiting, memory_order_relaxed) > 0 && poll_now(w))
            return true;
        if (kc__inject_len(&s->inject) > 0 ||
            atomic_load_explicit(&w->inbox_n, memory_order_relaxed) > 0)
            return true;
        for (int i = 0; i < s->nworkers; i++)
            if (kc__deque_size(&s->w[i].dq) > 0)
                return true;
    }
    return false;
}

static struct kc_task *find_work(struct kc_worker *w)
{
    struct kc_sched *s = w->sched;
    for (;;) {
        struct kc_task *t = local_work(w);
        if (t != NULL)
            return t;
        int64_t now = kc__timer_next(w) != INT64_MAX ? kc__sched_now() : INT64_MIN;
        if (now != INT64_MIN && kc__timer_run_due(w, now) > 0)
            continue;
        if ((t = inject_take(w)) != NULL)
            return t;
        if (poll_now(w))
            continue;
        if (s->nworkers > 1) {
            if ((t = search(w)) != NULL)
                return t;
            if (kc__timer_steal_due(w, kc__sched_now()))
                continue;
            if (w->searching && spin_for_work(w))
                continue;
        }
        /* acquire: pairs with stop_workers' seq_cst store of STOPPING */
        if (atomic_load_explicit(&s->state, memory_order_acquire) >= KC_SCHED_STOPPING)
            return NULL;
        park_idle(w);
    }
}

/* Resume t and act on what it asked for when it switched out. */
static void run_task(struct kc_worker *w, struct kc_task *t)
{
    for (;;) {
        __atomic_store_n(&w->current, t, __ATOMIC_RELAXED); /* read by dumps */
        __atomic_store_n(&t->worker, (int16_t)w->index, __ATOMIC_RELAXED);
        t->action = KC_ACT_NONE;
        KC_STAT_ADD(w, executed, 1);
        kc_coro_resume(t->co);
        t = w->current; /* direct yields may have handed the worker on */
        __atomic_store_n(&w->current, NULL, __ATOMIC_RELAXED);
        if (kc_coro_state(t->co) == KC_CORO_FINISHED) {
            kc__task_finish(w, t);
            return;
        }
        if (t->action == KC_ACT_PARK) {
            if (!commit_park(t))
                return;
            continue; /* woken before the commit: resume at once */
        }
        if (t->action == KC_ACT_MIGRATE) {
            struct kc_worker *dst = &w->sched->w[t->migrate_to];
            t->link = NULL;
            kc__lock(&dst->inbox_lock);
            if (dst->inbox_tail != NULL)
                dst->inbox_tail->link = t;
            else
                dst->inbox_head = t;
            dst->inbox_tail = t;
            atomic_fetch_add_explicit(&dst->inbox_n, 1, memory_order_relaxed);
            kc__unlock(&dst->inbox_lock);
            kc__worker_kick(dst);
            return;
        }
        t->link = w->yield_top; /* a yield (or a bare kc_coro_yield) */
        w->yield_top = t;
        return;
    }
}

void *kc__worker_main(void *arg)
{
    struct kc_worker *w = arg;
    struct kc_sched *s = w->sched;
    set_worker_self(w);
    w->rng = 0x9e3779b97f4a7c15ull * (uint64_t)(w->index + 1) | 1;
    kc__debug_log("sched %p: worker %d starts", (void *)s, w->index);
    if (s->opts.on_worker_start != NULL)
        s->opts.on_worker_start(s, w->index, s->opts.hook_arg);
    struct kc_task *t;
    while ((t = find_work(w)) != NULL) {
        if (w->searching)
            stop_searching(w);
        run_task(w, t);
    }
    if (w->searching)
        stop_searching(w);
    if (s->opts.on_worker_stop != NULL)
        s->opts.on_worker_stop(s, w->index, s->opts.hook_arg);
    kc__debug_log("sched %p: worker %d stops", (void *)s, w->index);
    set_worker_self(NULL);
    return NULL;
}
