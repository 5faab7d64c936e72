/* kc_timer.c - per-worker timer heaps: start, stop and fire timers.
 *
 * Each worker owns a 4-ary min-heap of (deadline, timer) entries under a
 * futex lock. The key sits in the heap array, so sifting compares without
 * touching timers; each timer remembers its index, so stop removes it in
 * O(log n) without searching. A 4-ary heap is shallower than a binary one
 * (a million timers: 10 levels), which is what makes a million pending timers
 * cheap. The earliest deadline is mirrored in an atomic (next_when) so a
 * worker can decide without the lock whether anything is due.
 *
 * Timers are started from the worker a coroutine runs on (its own heap, no
 * contention) or, from other threads, on a worker chosen round-robin, which
 * is then kicked if the new timer is its earliest. The timer state machine is
 * drawn in kcoro/timer.h.
 *
 * Invariants:
 *   T1  heap order: e[(i-1)/4].when <= e[i].when for 0 < i < n.
 *   T2  e[i].t->index == i and e[i].t->state == PENDING for i < n.
 *   T3  next_when == e[0].when when n > 0, else INT64_MAX.
 *   T4  a timer is FIRING only while one runner is inside its callback; the
 *       runner's last touch of the timer is the store that leaves FIRING,
 *       or, when the callback started the timer again (PENDING from then
 *       on, and another runner may fire it before this one returns), the
 *       callback's own start: the runner then leaves the state alone.
 *   T5  the timers of one heap fire in deadline order: a timer joins a heap
 *       with a deadline no earlier than any deadline that heap has fired.
 */
#include "sched/kc_sched_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

enum {
    T_IDLE = 0,
    T_PENDING = 1,
    T_FIRING = 2,
    T_WAITER = 4
};

/* Most callbacks one pass runs before the worker looks at its queues again. */
enum {
    KC_TIMER_BATCH = 64,
    KC_TIMER_STOP_SPINS = 128
};

int kc__theap_init(struct kc_theap *h)
{
    h->n = 0;
    h->cap = 64;
    h->e = malloc(h->cap * sizeof(*h->e));
    atomic_store_explicit(&h->next_when, INT64_MAX, memory_order_relaxed);
    return h->e != NULL ? 0 : -ENOMEM;
}

void kc__theap_fini(struct kc_theap *h)
{
    for (uint32_t i = 0; i < h->n; i++) /* dropped: a later stop returns 0 */
        atomic_store_explicit(&h->e[i].t->state, T_IDLE, memory_order_release);
    free(h->e);
    h->e = NULL;
    h->n = h->cap = 0;
}

static void place(struct kc_theap *h, uint32_t i, struct kc_theap_entry e)
{
    h->e[i] = e;
    e.t->index = i; /* T2 */
}

static void sift_up(struct kc_theap *h, uint32_t i, struct kc_theap_entry e)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 4;
        if (h->e[p].when <= e.when)
            break;
        place(h, i, h->e[p]);
        i = p;
    }
    place(h, i, e);
}

static void sift_down(struct kc_theap *h, uint32_t i, struct kc_theap_entry e)
{
    for (;;) {
        uint32_t c = 4 * i + 1;
        if (c >= h->n)
            break;
        uint32_t end = c + 4 < h->n ? c + 4 : h->n, m = c;
        for (uint32_t k = c + 1; k < end; k++)
            if (h->e[k].when < h->e[m].when)
                m = k;
        if (h->e[m].when >= e.when)
            break;
        place(h, i, h->e[m]);
        i = m;
    }
    place(h, i, e);
}

static void publish_next(struct kc_theap *h)
{
    /* T3; relaxed: a hint, the lock orders the heap itself */
    atomic_store_explicit(&h->next_when, h->n > 0 ? h->e[0].when : INT64_MAX, memory_order_relaxed);
}

/* Remove entry i (under the lock); T1 is restored by sifting the last entry
 * into the hole either way. */
static void remove_at(struct kc_theap *h, uint32_t i)
{
    struct kc_theap_entry last = h->e[--h->n];
    if (i == h->n)
        return;
    if (i > 0 && last.when < h->e[(i - 1) / 4].when)
        sift_up(h, i, last);
    else
        sift_down(h, i, last);
}

void kc_timer_init(kc_timer_t *t, kc_timer_fn_t fn, void *arg)
{
    if (t == NULL)
        return;
    t->size = sizeof(*t);
    atomic_store_explicit(&t->state, T_IDLE, memory_order_relaxed);
    t->index = 0;
    t->worker = -1;
    t->when = 0;
    t->fn = fn;
    t->arg = arg;
    t->sched = NULL;
}

/* The deadline is read from the clock under the heap's lock, not before:
 * a pass of run_due() fires everything due at the `now` it read, and a
 * deadline read earlier by a starter that then waited for the lock could lie
 * before timers that pass has already fired, breaking deadline order (T5). */
int kc__timer_start_after(kc_timer_t *t, struct kc_sched *s, struct kc_worker *w, int64_t delay_ns)
{
    bool remote = w == NULL || w->sched != s;
    if (remote) {
        unsigned rr = atomic_fetch_add_explicit(&s->timer_rr, 1, memory_order_relaxed);
        w = &s->w[rr % (unsigned)s->nworkers];
    }
    struct kc_theap *h = &w->timers;
    kc__lock(&h->lock);
    uint32_t st = atomic_load_explicit(&t->state, memory_order_relaxed);
    struct kc_worker *self = remote ? kc__sched_worker_self() : w;
    bool rearm = st == T_FIRING && self != NULL && self->firing == t; /* from its callback */
    if (st != T_IDLE && !rearm) {
        kc__unlock(&h->lock);
        return -EBUSY;
    }
    if (h->n == h->cap) {
        struct kc_theap_entry *ne = realloc(h->e, (size_t)h->cap * 2 * sizeof(*ne));
        if (ne == NULL) {
            kc__unlock(&h->lock);
            return -ENOMEM;
        }
        h->e = ne;
        h->cap *= 2;
    }
    if (rearm)
        self->rearmed = true; /* its runner must not touch t again (run_due) */
    int64_t now = kc__sched_now();
    int64_t when = delay_ns > 0 ? kc__deadline_from(now, delay_ns) : now; /* <= 0: due now */
    t->when = when;
    t->worker = (int32_t)w->index;
    t->sched = s;
    /* seq_cst: K5(b) partner (kc_park.c) reads this with kc_timer_is_pending;
     * release: a stopper that sees PENDING sees worker and index */
    atomic_store_explicit(&t->state, T_PENDING, memory_order_seq_cst);
    sift_up(h, h->n++, (struct kc_theap_entry){when, t});
    bool earliest = h->e[0].t == t;
    if (earliest)
        publish_next(h);
    kc__unlock(&h->lock);
    if (remote && earliest)
        kc__worker_kick(w);
    return 0;
}

int kc_timer_start(kc_timer_t *t, kc_sched_t *s, int64_t delay_ns)
{
    if (t == NULL || t->size != sizeof(*t) || t->fn == NULL)
        return -EINVAL;
    struct kc_worker *self = kc__sched_worker_self();
    if (s == NULL) {
        if (self == NULL)
            return -EPERM;
        s = self->sched;
    }
    /* acquire: pairs with the release store of STOPPED in kc_sched.c */
    if (atomic_load_explicit(&s->state, memory_order_acquire) >= KC_SCHED_STOPPING)
        return -EPIPE;
    return kc__timer_start_after(t, s, self, delay_ns);
}

int kc_timer_stop(kc_timer_t *t)
{
    if (t == NULL)
        return -EINVAL;
    for (int spins = 0;;) {
        /* acquire: pairs with the release/seq_cst stores of start and the
         * runner, so worker and index are current */
        uint32_t st = atomic_load_explicit(&t->state, memory_order_acquire);
        if (st == T_IDLE)
            return 0;
        if (st == T_PENDING) {
            struct kc_sched *s = t->sched;
            struct kc_theap *h = &s->w[t->worker].timers;
            kc__lock(&h->lock);
            bool here = atomic_load_explicit(&t->state, memory_order_relaxed) == T_PENDING &&
                        t->index < h->n && h->e[t->index].t == t;
            if (here) {
                uint32_t i = t->index;
                remove_at(h, i);
                if (i == 0)
                    publish_next(h);
                atomic_store_explicit(&t->state, T_IDLE, memory_order_relaxed);
            }
            kc__unlock(&h->lock);
            if (here)
                return 1;
            continue;
        }
        /* FIRING: wait for the callback, unless we are inside it (T4). */
        struct kc_worker *self = kc__sched_worker_self();
        if (self != NULL && self->firing == t)
            return 0;
        if (spins++ < KC_TIMER_STOP_SPINS) {
            kc__port_relax();
            continue;
        }
        uint32_t e = T_FIRING;
        atomic_compare_exchange_strong_explicit(&t->state, &e, T_FIRING | T_WAITER,
                                                memory_order_relaxed, memory_order_relaxed);
        kc__futex_wait(&t->state, T_FIRING | T_WAITER, -1);
    }
}

bool kc_timer_is_pending(const kc_timer_t *t)
{
    /* seq_cst: K5(a) in kc_park.c pairs with the runner's FIRING store */
    return t != NULL && atomic_load_explicit(&((kc_timer_t *)(uintptr_t)t)->state,
                                             memory_order_seq_cst) == T_PENDING;
}

/* Fire the due timers of owner's heap on runner's thread. */
static int run_due(struct kc_worker *owner, struct kc_worker *runner, int64_t now)
{
    struct kc_theap *h = &owner->timers;
    int fired = 0;
    kc__lock(&h->lock);
    while (h->n > 0 && h->e[0].when <= now && fired < KC_TIMER_BATCH) {
        kc_timer_t *t = h->e[0].t;
        remove_at(h, 0);
        /* seq_cst: K5(b) in kc_park.c (the park reads it after its CAS) */
        atomic_store_explicit(&t->state, T_FIRING, memory_order_seq_cst);
        runner->firing = t;
        runner->rearmed = false;
        kc__unlock(&h->lock);
        /* Counted before the callback runs, so whoever the callback wakes
         * finds it in the metrics. */
        KC_STAT_ADD(runner, timer_fires, 1);
        t->fn(t->arg);
        runner->firing = NULL;
        if (runner->rearmed) {
            /* The callback started t again: it is PENDING, or already
             * FIRING on another runner, and no longer ours. Resetting it
             * to IDLE here would end that other firing's state (ABA) and
             * let a stopper free t under its callback. */
            runner->rearmed = false;
            fired++;
            kc__lock(&h->lock);
            continue;
        }
        uint32_t e = T_FIRING;
        /* release (T4): pairs with kc_timer_stop's acquire; after this t
         * may be freed by its owner, so it is our last touch */
        if (!atomic_compare_exchange_strong_explicit(&t->state, &e, T_IDLE, memory_order_release,
                                                     memory_order_relaxed) &&
            e == (T_FIRING | T_WAITER)) {
            /* release: as above, for the stopper asleep on the word */
            atomic_store_explicit(&t->state, T_IDLE, memory_order_release);
            kc__futex_wake(&t->state, INT_MAX);
        }
        fired++;
        kc__lock(&h->lock);
    }
    publish_next(h);
    kc__unlock(&h->lock);
    return fired;
}

int kc__timer_run_due(struct kc_worker *w, int64_t now)
{
    if (kc__timer_next(w) > now)
        return 0;
    return run_due(w, w, now);
}

int kc__timer_check(struct kc_worker *w)
{
    struct kc_theap *h = &w->timers;
    int rc = 0;
    kc__lock(&h->lock);
    for (uint32_t i = 0; i < h->n && rc == 0; i++) {
        if (i > 0 && h->e[(i - 1) / 4].when > h->e[i].when)
            rc = -EPROTO; /* T1 */
        if (h->e[i].t->index != i || h->e[i].t->when != h->e[i].when ||
            atomic_load_explicit(&h->e[i].t->state, memory_order_relaxed) != T_PENDING)
            rc = -EPROTO; /* T2 */
    }
    if (atomic_load_explicit(&h->next_when, memory_order_relaxed) !=
        (h->n > 0 ? h->e[0].when : INT64_MAX))
        rc = -EPROTO; /* T3 */
    kc__unlock(&h->lock);
    return rc;
}

bool kc__timer_steal_due(struct kc_worker *thief, int64_t now)
{
    struct kc_sched *s = thief->sched;
    bool any = false;
    for (int i = 0; i < s->nworkers; i++) {
        struct kc_worker *v = &s->w[i];
        if (v != thief && kc__timer_next(v) <= now)
            any |= run_due(v, thief, now) > 0;
    }
    return any;
}
