/* kc_timer.c - per-worker timers: start, stop and fire them.
 *
 * Each worker owns a 4-ary min-heap of (deadline, timer) entries and, in
 * front of it, a hierarchical timer wheel, both under one futex lock. The
 * key sits in the arrays, so sifting compares without touching timers; each
 * timer remembers its position (index), so stop removes it without
 * searching. A 4-ary heap is shallower than a binary one (a million timers:
 * 10 levels). The earliest deadline is mirrored in an atomic (next_when) so
 * a worker can decide without the lock whether anything is due.
 *
 * The heap takes, without sifting, a deadline no earlier than the parent
 * of its next free place. The wheel takes the other far deadlines, the
 * usual case being a timed operation cancelled long before it is due while
 * longer timers are pending: start appends to a slot's array and stop
 * swaps the last entry into the hole, O(1), where the heap would sift the
 * deadline up through a million entries and back down on stop (1,143
 * against 179 instructions a set+cancel, core/bench/count_ops.c). Time is
 * counted in ticks of 1,024 ns. A deadline whose tick differs from the
 * latest tick the wheel has seen (elapsed) first in bits 6L..6L+5 goes to
 * level L's slot (tick >> 6L) & 63, for L = 2..7: slots of 4.2 ms on level
 * 2 up to 52 days on level 7. Deadlines within 4,096 ticks of elapsed
 * (levels 0 and 1) and beyond level 7 join the heap, and so does a timer
 * whose slot array cannot grow. Each slot keeps a
 * lower bound of its deadlines (min); when a slot's min is due, the whole
 * slot pours into the heap before anything fires, so the heap alone decides
 * the firing order and every timer fires exactly as the heap would fire
 * it. The heap's array always has room for every timer the wheel holds, so
 * pouring never allocates and cannot fail.
 *
 * Timers are started from the worker a coroutine runs on (its own heap, no
 * contention) or, from other threads, on a worker chosen round-robin, which
 * is then kicked if the new timer is its earliest. The timer state machine is
 * drawn in kcoro/timer.h.
 *
 * The stage. A clock read is the largest single cost of a start (a vDSO
 * call over the TSC, about 45 ns in these virtual machines), and most
 * timers of a timed operation are stopped again long before they are due.
 * A timer started on its own worker with a delay of KC_TIMER_STAGE_MIN_NS
 * or more therefore does not read the clock: it waits in the worker's
 * stage (a small array, its `when` holding the delay) and next_when says
 * 0, "look now". The next look at the timers (run_due: the worker's fair
 * tick or its search for work, a thief, or a start finding the stage full)
 * reads the clock under the lock and places every staged timer at that
 * reading plus its delay. A staged timer stopped first never costs a clock
 * read nor a heap or wheel step. Its deadline counts from a moment no
 * earlier than its start (never early) and no later than the worker's next
 * look at its timers, which is when a due timer would fire anyway: it is
 * late by at most that wait, the time the starting coroutine runs on
 * before it yields or parks. Starts from other threads and restarts from
 * a timer's own callback read the clock at once.
 *
 * Invariants:
 *   T1  heap order: e[(i-1)/4].when <= e[i].when for 0 < i < n.
 *   T2  e[i].t->index == i and e[i].t->state == PENDING for i < n; a wheel
 *       entry j of slot s has t->index == WHEEL | s << 22 | j, PENDING too.
 *   T3  next_when == min(e[0].when or INT64_MAX, wnext), or 0 while the
 *       stage holds timers, whenever the lock is free, also while a runner
 *       is inside a callback (what the callback wakes may read it at once).
 *   T4  a timer is FIRING only while one runner is inside its callback; the
 *       runner's last touch of the timer is the store that leaves FIRING,
 *       or, when the callback started the timer again (PENDING from then
 *       on, and another runner may fire it before this one returns), the
 *       callback's own start: the runner then leaves the state alone.
 *   T5  the timers of one heap fire in deadline order: a timer joins a heap
 *       with a deadline no earlier than any deadline that heap has fired.
 *   W1  a slot's min <= the deadline of each of its entries; INT64_MAX and
 *       its bit in occ clear when it is empty, the bit set otherwise.
 *   W2  wnext == the least min of the occupied slots (INT64_MAX if none),
 *       and wn == the number of entries in the wheel.
 *   W3  cap >= n + wn + ns: the heap can take the whole wheel and stage.
 *   W4  every wheel entry's deadline lies after the last pour (T5 again):
 *       run_due pours every slot whose min is due before it fires.
 *   G1  stage[j]->index == STAGE | j, PENDING, for j < ns <= KC_TIMER_STAGE;
 *       its `when` is its delay (>= KC_TIMER_STAGE_MIN_NS) until a flush
 *       turns it into a deadline read under the lock (T5 as for a start).
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

/* The wheel's geometry and the wheel's form of a timer's index. */
enum {
    KC_WHEEL_TICK_SHIFT = 10, /* a tick is 1,024 ns */
    KC_WHEEL_FIRST = 2,       /* levels 0 and 1 stay in the heap */
    KC_WSLOT_POS_BITS = 22,   /* index: WHEEL | slot << 22 | position */
    KC_WSLOT_MAX = 1u << KC_WSLOT_POS_BITS,
    KC_WSLOT_KEEP = 1024 /* a slot emptied by a pour keeps an array this small */
};
#define KC_TIMER_IN_WHEEL 0x80000000u
#define KC_TIMER_IN_STAGE 0x40000000u /* heap indexes stay below KC_THEAP_MAX */
/* The shortest delay a start on its own worker stages (1 ms). */
#define KC_TIMER_STAGE_MIN_NS ((int64_t)1000000)
#define KC_THEAP_MAX (1u << 30)

_Static_assert(KC_WHEEL_SLOTS <= (1 << (31 - KC_WSLOT_POS_BITS)), "slot number fits the index");

int kc__theap_init(struct kc_theap *h)
{
    h->n = 0;
    h->cap = 64;
    h->e = malloc(h->cap * sizeof(*h->e));
    h->slot = calloc(KC_WHEEL_SLOTS, sizeof(*h->slot));
    for (int i = 0; h->slot != NULL && i < KC_WHEEL_SLOTS; i++)
        h->slot[i].min = INT64_MAX;
    for (int l = 0; l < KC_WHEEL_LEVELS; l++)
        h->occ[l] = 0;
    h->wn = 0;
    h->elapsed = 0;
    h->wnext = INT64_MAX;
    h->ns = 0;
    atomic_store_explicit(&h->next_when, INT64_MAX, memory_order_relaxed);
    if (h->e == NULL || h->slot == NULL) {
        free(h->e);
        free(h->slot);
        h->e = NULL;
        h->slot = NULL;
        h->n = h->cap = 0;
        return -ENOMEM;
    }
    return 0;
}

void kc__theap_fini(struct kc_theap *h)
{
    for (uint32_t i = 0; i < h->n; i++) /* dropped: a later stop returns 0 */
        atomic_store_explicit(&h->e[i].t->state, T_IDLE, memory_order_release);
    for (uint32_t j = 0; j < h->ns; j++)
        atomic_store_explicit(&h->stage[j]->state, T_IDLE, memory_order_release);
    h->ns = 0;
    for (int s = 0; h->slot != NULL && s < KC_WHEEL_SLOTS; s++) {
        for (uint32_t j = 0; j < h->slot[s].n; j++)
            atomic_store_explicit(&h->slot[s].e[j].t->state, T_IDLE, memory_order_release);
        free(h->slot[s].e);
    }
    free(h->slot);
    free(h->e);
    h->slot = NULL;
    h->e = NULL;
    h->n = h->cap = h->wn = 0;
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

static int64_t next_of(const struct kc_theap *h)
{
    if (h->ns > 0)
        return 0; /* T3: staged timers have no deadline yet: look now */
    int64_t heap = h->n > 0 ? h->e[0].when : INT64_MAX;
    return heap < h->wnext ? heap : h->wnext;
}

static void publish_next(struct kc_theap *h)
{
    /* T3; relaxed: a hint, the lock orders the heap itself */
    atomic_store_explicit(&h->next_when, next_of(h), memory_order_relaxed);
}

/* ------------------------------------------------------------ the wheel */

/* The slot a deadline belongs to, or -1 for the heap. */
static int wheel_slot_of(const struct kc_theap *h, int64_t when)
{
    int64_t tk = when >> KC_WHEEL_TICK_SHIFT; /* monotonic times are positive */
    if (tk <= h->elapsed)
        return -1;
    int level = (63 - __builtin_clzll((uint64_t)(tk ^ h->elapsed))) / 6;
    if (level < KC_WHEEL_FIRST || level >= KC_WHEEL_FIRST + KC_WHEEL_LEVELS)
        return -1;
    return (level - KC_WHEEL_FIRST) * 64 + (int)((tk >> (6 * level)) & 63);
}

/* W3: room in the heap for every timer held, plus one. */
static int reserve(struct kc_theap *h)
{
    if ((uint64_t)h->n + h->wn + h->ns < h->cap)
        return 0;
    if (h->cap >= KC_THEAP_MAX)
        return -ENOMEM;
    struct kc_theap_entry *ne = realloc(h->e, (size_t)h->cap * 2 * sizeof(*ne));
    if (ne == NULL)
        return -ENOMEM;
    h->e = ne;
    h->cap *= 2;
    return 0;
}

/* Append e to its slot; false: it belongs to the heap (near, beyond the
 * wheel, or the slot's array cannot grow). */
static bool wheel_add(struct kc_theap *h, struct kc_theap_entry e)
{
    int s = wheel_slot_of(h, e.when);
    if (s < 0)
        return false;
    struct kc_wslot *w = &h->slot[s];
    if (w->n == w->cap) {
        uint32_t nc = w->cap != 0 ? w->cap * 2 : 8;
        struct kc_theap_entry *ne = nc <= KC_WSLOT_MAX ? realloc(w->e, nc * sizeof(*ne)) : NULL;
        if (ne == NULL)
            return false;
        w->e = ne;
        w->cap = nc;
    }
    w->e[w->n] = e;
    e.t->index = KC_TIMER_IN_WHEEL | (uint32_t)s << KC_WSLOT_POS_BITS | w->n; /* T2 */
    if (w->n++ == 0)
        h->occ[s >> 6] |= 1ull << (s & 63);
    if (e.when < w->min) /* W1 */
        w->min = e.when;
    if (e.when < h->wnext) /* W2 */
        h->wnext = e.when;
    h->wn++;
    return true;
}

static void wheel_recompute(struct kc_theap *h)
{
    int64_t m = INT64_MAX;
    for (int l = 0; l < KC_WHEEL_LEVELS; l++)
        for (uint64_t b = h->occ[l]; b != 0; b &= b - 1) {
            int64_t sm = h->slot[l * 64 + __builtin_ctzll(b)].min;
            m = sm < m ? sm : m;
        }
    h->wnext = m; /* W2 */
}

/* Remove the wheel entry at index idx; true when wnext moved. */
static bool wheel_del(struct kc_theap *h, uint32_t idx)
{
    uint32_t s = (idx & ~KC_TIMER_IN_WHEEL) >> KC_WSLOT_POS_BITS;
    uint32_t i = idx & (KC_WSLOT_MAX - 1);
    struct kc_wslot *w = &h->slot[s];
    struct kc_theap_entry last = w->e[--w->n];
    h->wn--;
    if (i != w->n) {
        w->e[i] = last;
        last.t->index = KC_TIMER_IN_WHEEL | s << KC_WSLOT_POS_BITS | i; /* T2 */
    }
    if (w->n > 0)
        return false; /* the min may now be low: a bound, not the least (W1) */
    int64_t old = w->min;
    w->min = INT64_MAX;
    h->occ[s >> 6] &= ~(1ull << (s & 63));
    if (old != h->wnext)
        return false;
    wheel_recompute(h);
    return true;
}

/* Is index idx the current place of t? (under the lock) */
static bool holds(const struct kc_theap *h, const kc_timer_t *t, uint32_t idx)
{
    if ((idx & KC_TIMER_IN_WHEEL) == 0 && (idx & KC_TIMER_IN_STAGE) != 0)
        return (idx & ~KC_TIMER_IN_STAGE) < h->ns && h->stage[idx & ~KC_TIMER_IN_STAGE] == t;
    if ((idx & KC_TIMER_IN_WHEEL) == 0)
        return idx < h->n && h->e[idx].t == t;
    uint32_t s = (idx & ~KC_TIMER_IN_WHEEL) >> KC_WSLOT_POS_BITS;
    uint32_t i = idx & (KC_WSLOT_MAX - 1);
    return s < KC_WHEEL_SLOTS && i < h->slot[s].n && h->slot[s].e[i].t == t;
}

/* W4: pour every slot whose min is due at now into the heap (W3: no
 * allocation), then recompute wnext. */
static void wheel_pour(struct kc_theap *h, int64_t now)
{
    int64_t tk = now >> KC_WHEEL_TICK_SHIFT;
    if (tk > h->elapsed)
        h->elapsed = tk;
    for (int l = 0; l < KC_WHEEL_LEVELS; l++)
        for (uint64_t b = h->occ[l]; b != 0; b &= b - 1) {
            struct kc_wslot *w = &h->slot[l * 64 + __builtin_ctzll(b)];
            if (w->min > now)
                continue;
            for (uint32_t j = 0; j < w->n; j++)
                sift_up(h, h->n++, w->e[j]);
            h->wn -= w->n;
            w->n = 0;
            w->min = INT64_MAX;
            h->occ[l] &= ~(1ull << __builtin_ctzll(b));
            if (w->cap > KC_WSLOT_KEEP) {
                free(w->e);
                w->e = NULL;
                w->cap = 0;
            }
        }
    wheel_recompute(h);
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

/* The deadline delay_ns after now (<= 0: due now). */
static int64_t deadline_of(int64_t now, int64_t delay_ns)
{
    return delay_ns > 0 ? kc__deadline_from(now, delay_ns) : now;
}

/* Place a pending timer whose deadline e.when was read at now (W3: the
 * heap has room). The heap takes, without sifting, a deadline no earlier
 * than the parent of its next place; the wheel takes the other far ones. */
static void insert(struct kc_theap *h, int64_t now, struct kc_theap_entry e)
{
    int64_t tk = now >> KC_WHEEL_TICK_SHIFT;
    if (tk > h->elapsed)
        h->elapsed = tk;
    if ((h->n > 0 && e.when < h->e[(h->n - 1) / 4].when && wheel_add(h, e)) == false)
        sift_up(h, h->n++, e);
}

/* G1: give every staged timer its deadline, now (read under the lock, so
 * T5 holds as for a start) plus its delay, and place it. */
static void stage_flush(struct kc_theap *h, int64_t now)
{
    uint32_t ns = h->ns;
    h->ns = 0; /* W3: the n + wn + ns places move, their sum stays */
    for (uint32_t j = 0; j < ns; j++) {
        kc_timer_t *t = h->stage[j];
        t->when = deadline_of(now, t->when);
        insert(h, now, (struct kc_theap_entry){t->when, t});
    }
}

/* Remove the staged timer at index idx; true when the stage emptied (so
 * next_when moves off 0). */
static bool stage_del(struct kc_theap *h, uint32_t idx)
{
    uint32_t j = idx & ~KC_TIMER_IN_STAGE;
    kc_timer_t *last = h->stage[--h->ns];
    if (j != h->ns) {
        h->stage[j] = last;
        last->index = KC_TIMER_IN_STAGE | j; /* G1 */
    }
    return h->ns == 0;
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
    if (reserve(h) != 0) {
        kc__unlock(&h->lock);
        return -ENOMEM;
    }
    if (rearm)
        self->rearmed = true; /* its runner must not touch t again (run_due) */
    t->worker = (int32_t)w->index;
    t->sched = s;
    if (!remote && !rearm && delay_ns >= KC_TIMER_STAGE_MIN_NS && h->ns < KC_TIMER_STAGE) {
        /* the stage (G1): no clock read until the worker next looks */
        t->when = delay_ns;
        t->index = KC_TIMER_IN_STAGE | h->ns;
        h->stage[h->ns++] = t;
        /* seq_cst, release: as below */
        atomic_store_explicit(&t->state, T_PENDING, memory_order_seq_cst);
        if (h->ns == 1) /* T3; relaxed: a hint, as in publish_next */
            atomic_store_explicit(&h->next_when, 0, memory_order_relaxed);
        kc__unlock(&h->lock);
        return 0;
    }
    int64_t now = kc__sched_now();
    bool flushed = h->ns == KC_TIMER_STAGE;
    if (flushed)
        stage_flush(h, now); /* full: one clock read for all of them */
    int64_t when = deadline_of(now, delay_ns);
    t->when = when;
    /* seq_cst: K5(b) partner (kc_park.c) reads this with kc_timer_is_pending;
     * release: a stopper that sees PENDING sees worker and index */
    atomic_store_explicit(&t->state, T_PENDING, memory_order_seq_cst);
    insert(h, now, (struct kc_theap_entry){when, t});
    /* only this lock's holder writes next_when */
    bool earliest = when < atomic_load_explicit(&h->next_when, memory_order_relaxed);
    if (earliest || flushed)
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
            uint32_t i = t->index;
            bool here = atomic_load_explicit(&t->state, memory_order_relaxed) == T_PENDING &&
                        holds(h, t, i);
            if (here) {
                bool moved;
                if (i & KC_TIMER_IN_WHEEL) {
                    moved = wheel_del(h, i);
                } else if (i & KC_TIMER_IN_STAGE) {
                    moved = stage_del(h, i);
                } else {
                    remove_at(h, i);
                    moved = i == 0;
                }
                if (moved)
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
    if (h->ns > 0) /* G1: a fresh reading, no earlier than any start staged */
        stage_flush(h, kc__sched_now());
    if (h->wnext <= now)
        wheel_pour(h, now); /* W4: before anything fires */
    while (h->n > 0 && h->e[0].when <= now && fired < KC_TIMER_BATCH) {
        kc_timer_t *t = h->e[0].t;
        remove_at(h, 0);
        publish_next(h); /* T3 holds whenever the lock is free, callbacks included */
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
    uint64_t wn = 0;
    int64_t wnext = INT64_MAX;
    for (uint32_t s = 0; s < KC_WHEEL_SLOTS && rc == 0; s++) {
        const struct kc_wslot *sl = &h->slot[s];
        bool occ = (h->occ[s >> 6] >> (s & 63)) & 1;
        if (occ != (sl->n > 0) || (sl->n == 0 && sl->min != INT64_MAX))
            rc = -EPROTO; /* W1 */
        for (uint32_t j = 0; j < sl->n && rc == 0; j++) {
            const kc_timer_t *t = sl->e[j].t;
            if (t->index != (KC_TIMER_IN_WHEEL | s << KC_WSLOT_POS_BITS | j) ||
                t->when != sl->e[j].when ||
                atomic_load_explicit(&((kc_timer_t *)(uintptr_t)t)->state, memory_order_relaxed) !=
                    T_PENDING)
                rc = -EPROTO; /* T2 */
            if (sl->e[j].when < sl->min)
                rc = -EPROTO; /* W1 */
        }
        wn += sl->n;
        if (sl->n > 0 && sl->min < wnext)
            wnext = sl->min;
    }
    if (rc == 0 && (wn != h->wn || wnext != h->wnext))
        rc = -EPROTO; /* W2 */
    if (h->ns > KC_TIMER_STAGE)
        rc = -EPROTO; /* G1 */
    for (uint32_t j = 0; j < h->ns && rc == 0; j++) {
        const kc_timer_t *t = h->stage[j];
        if (t->index != (KC_TIMER_IN_STAGE | j) || t->when < KC_TIMER_STAGE_MIN_NS ||
            atomic_load_explicit(&((kc_timer_t *)(uintptr_t)t)->state, memory_order_relaxed) !=
                T_PENDING)
            rc = -EPROTO; /* G1 */
    }
    if ((uint64_t)h->n + h->wn + h->ns > h->cap)
        rc = -EPROTO; /* W3 */
    if (atomic_load_explicit(&h->next_when, memory_order_relaxed) != next_of(h))
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
