/* kc_idle.c - the sleeping half of the idle protocol: searching, spinning,
 * sleeping and waking up.
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
 * The submitting half is kc_wake.c; the worker loop (kc_worker.c) calls in
 * here when it finds no work.
 */
#include "sched/kc_sched_impl.h"

bool kc__worker_poll_now(struct kc_worker *w)
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

void kc__worker_stop_searching(struct kc_worker *w)
{
    w->searching = false;
    w->work_seen = 0;
    /* seq_cst: the last searcher leaving must be ordered with notify's read */
    if (atomic_fetch_sub_explicit(&w->sched->nsearching, 1, memory_order_seq_cst) == 1)
        kc__sched_notify(w->sched); /* there may be more work: keep one searching */
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
    if (!kc__worker_take_sleeper(s, w, &poll)) { /* someone woke us on purpose */
        KC_STAT_ADD(w, wakeups, 1);
        if (w->wake_searching)
            w->searching = true; /* wake_one counted us in nsearching */
    }
    w->wake_searching = false;
    kc__unlock(&s->idle_lock);
}

void kc__worker_park_idle(struct kc_worker *w)
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
bool kc__worker_spin_for_work(struct kc_worker *w)
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
        if (atomic_load_explicit(&s->io_waiting, memory_order_relaxed) > 0 &&
            kc__worker_poll_now(w))
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
