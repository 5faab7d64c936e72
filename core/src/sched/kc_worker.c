/* kc_worker.c - the worker loop: find work, run it, steal, sleep, wake.
 *
 * A worker runs coroutines from its root context with kc_coro_resume() and
 * acts on what each asked for when it switched out (yield, park, migrate,
 * finish). It finds work in this order: the "next" slot (the task it just
 * woke, for locality; at most KC_SCHED_NEXT_STREAK times in a row), its own
 * deque, its yield stack, the inject queue, the poller, then other workers'
 * deques (steal half, random start, bounded rounds, and only once the work
 * has been seen there for the steal delay, steal_ripe). Every
 * KC_SCHED_FAIR_TICK picks it looks at the inject queue, timers and poller
 * first, so outside submissions and I/O are not starved by local work. Yields
 * and parks may switch straight to the next local task (kc_handoff.c); the task
 * that finally switches back to the root is whatever w->current names. Sleeping
 * and waking are the idle protocol (kc_idle.c, kc_wake.c).
 *
 *   worker     event                               next       done by
 *   ---------  ----------------------------------  ---------  -------------
 *   running    local, inject or I/O work found      running    find_work
 *   running    no local work, searchers < busy/2    searching  search
 *   searching  found work                          running    kc_idle.c
 *   searching  nothing after the steal rounds      idle       kc_idle.c
 *   running    nothing, enough searchers           idle       kc_idle.c
 *   idle       popped by wake_one                  searching  kc_idle.c
 *   idle       kicked, timer due, I/O, timeout     running    kc_idle.c
 *   any        scheduler stopping, nothing left    exited     kc__worker_main
 */
#include "sched/kc_sched_impl.h"

#include "base/kc_debug.h"

static uint64_t rng_next(struct kc_worker *w)
{
    uint64_t x = w->rng; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w->rng = x;
    return x;
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
        kc__worker_push_local(w, rest[--n]);
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

static struct kc_task *local_work(struct kc_worker *w)
{
    struct kc_task *t;
    if (kc__worker_fair_tick(w)) {
        if (kc__timer_next(w) != INT64_MAX)
            kc__timer_run_due(w, kc__sched_now());
        if ((t = inject_take(w)) != NULL)
            return t;
        kc__worker_poll_now(w);
    }
    if ((t = inbox_take(w)) != NULL)
        return t;
    return kc__worker_local_pick(w);
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
            kc__worker_push_local(w, x);
        got++;
    }
    if (got > 0) {
        KC_STAT_ADD(w, steals, 1);
        KC_STAT_ADD(w, stolen, (uint64_t)got);
    }
    return first;
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
        /* A lone worker sleeps in the poller next (kc__worker_park_idle):
         * a look without blocking first would be one more system call per
         * sleep, and it sees nothing the sleep would not. */
        if (s->nworkers > 1 && kc__worker_poll_now(w))
            continue;
        if (s->nworkers > 1) {
            if ((t = search(w)) != NULL)
                return t;
            if (kc__timer_steal_due(w, kc__sched_now()))
                continue;
            if (w->searching && kc__worker_spin_for_work(w))
                continue;
        }
        /* acquire: pairs with stop_workers' seq_cst store of STOPPING */
        if (atomic_load_explicit(&s->state, memory_order_acquire) >= KC_SCHED_STOPPING)
            return NULL;
        kc__worker_park_idle(w);
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
        kc__worker_commit_pending(w); /* S6: a direct park switch left one */
        t = w->current;               /* direct yields may have handed the worker on */
        __atomic_store_n(&w->current, NULL, __ATOMIC_RELAXED);
        if (kc_coro_state(t->co) == KC_CORO_FINISHED) {
            kc__task_finish(w, t);
            return;
        }
        if (t->action == KC_ACT_PARK) {
            if (!kc__task_commit_park(t))
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
    kc__sched_set_worker_self(w);
    w->rng = 0x9e3779b97f4a7c15ull * (uint64_t)(w->index + 1) | 1;
    kc__debug_log("sched %p: worker %d starts", (void *)s, w->index);
    if (s->opts.on_worker_start != NULL)
        s->opts.on_worker_start(s, w->index, s->opts.hook_arg);
    struct kc_task *t;
    while ((t = find_work(w)) != NULL) {
        if (w->searching)
            kc__worker_stop_searching(w);
        run_task(w, t);
    }
    if (w->searching)
        kc__worker_stop_searching(w);
    if (s->opts.on_worker_stop != NULL)
        s->opts.on_worker_stop(s, w->index, s->opts.hook_arg);
    kc__debug_log("sched %p: worker %d stops", (void *)s, w->index);
    kc__sched_set_worker_self(NULL);
    return NULL;
}
