/* kc_sched.c - scheduler lifecycle: create, run until idle, shut down, metrics.
 *
 * Creates the workers (their deques, timer heaps and threads) and the I/O
 * poller, and tears them down. Shutdown first waits until no task is alive
 * (after cancelling every registered task, in CANCEL mode), then tells the
 * workers to stop and joins their threads. The lifecycle table is in
 * kcoro/sched.h; the invariants S1-S5 are in kc_sched_impl.h and
 * kc__sched_check() asserts the ones visible from outside.
 */
#include "sched/kc_sched_impl.h"

#include "base/kc_debug.h"
#include "port/kc_port.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int default_workers(void)
{
    const char *e = getenv("KCORO_WORKERS");
    int n = e != NULL ? atoi(e) : 0;
    if (n <= 0)
        n = kc__port_ncpus();
    return n > KC_SCHED_MAX_WORKERS ? KC_SCHED_MAX_WORKERS : n;
}

static void free_sched(struct kc_sched *s)
{
    for (int i = 0; i < s->nworkers; i++) {
        kc__deque_fini(&s->w[i].dq);
        kc__theap_fini(&s->w[i].timers);
        kc__task_cache_fini(&s->w[i]);
    }
    kc__io_fini(s);
    kc__sched_run_hooks(s, KC__SCHED_HOOK_FREE);
    kc__sched_unregister(s);
    free(s->idle_stack);
    free(s->w);
    free(s);
}

static void stop_workers(struct kc_sched *s, int started)
{
    /* seq_cst: pairs with spawn's load of state (Dekker on live/state) */
    atomic_store_explicit(&s->state, KC_SCHED_STOPPING, memory_order_seq_cst);
    kc__sched_wake_all(s);
    for (int i = 0; i < started; i++)
        pthread_join(s->w[i].thread, NULL);
    /* release: pairs with the acquire loads of state in shutdown */
    atomic_store_explicit(&s->state, KC_SCHED_STOPPED, memory_order_release);
}

/* kc_sched_opts_t before steal_delay_ns: the same fields, a prefix of it. */
struct kc_sched_opts_v1 {
    uint32_t size, flags;
    int nworkers;
    size_t stack_size;
    void (*on_worker_start)(kc_sched_t *s, int index, void *arg);
    void (*on_worker_stop)(kc_sched_t *s, int index, void *arg);
    void *hook_arg;
};
_Static_assert(offsetof(struct kc_sched_opts_v1, hook_arg) == offsetof(kc_sched_opts_t, hook_arg),
               "the old options layout is a prefix of the new one");
/* kc_sched_opts_t before name. */
struct kc_sched_opts_v2 {
    struct kc_sched_opts_v1 v1;
    int64_t steal_delay_ns;
};
_Static_assert(offsetof(struct kc_sched_opts_v2, steal_delay_ns) ==
                   offsetof(kc_sched_opts_t, steal_delay_ns),
               "the version 2 options layout is a prefix of the new one");

int kc_sched_create(kc_sched_t **out, const kc_sched_opts_t *opts)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    if (opts != NULL) {
        /* A caller built against the layout before steal_delay_ns passes
         * that smaller size: its fields are taken, the new one defaults.
         * Any other size is a layout this library does not know. */
        size_t old = sizeof(struct kc_sched_opts_v1), v2 = sizeof(struct kc_sched_opts_v2);
        if ((opts->size != sizeof(*opts) && opts->size != old && opts->size != v2) ||
            (opts->flags & ~(KC_SCHED_F_ALL | KC_SCHED_REGISTER)) != 0 || opts->nworkers < 0 ||
            opts->nworkers > KC_SCHED_MAX_WORKERS)
            return -EINVAL;
        memcpy(&o, opts, opts->size);
        o.size = sizeof(o);
        if (o.steal_delay_ns < KC_SCHED_STEAL_AT_ONCE ||
            o.steal_delay_ns > KC_SCHED_STEAL_DELAY_MAX)
            return -EINVAL;
    }
    if ((o.flags & KC_SCHED_F_SINGLE_THREAD) != 0 && o.nworkers > 1)
        return -EINVAL;
    int n = (o.flags & KC_SCHED_F_SINGLE_THREAD) != 0 ? 1
            : o.nworkers > 0                          ? o.nworkers
                                                      : default_workers();
    struct kc_sched *s = aligned_alloc(128, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    memset(s, 0, sizeof(*s));
    s->opts = o;
    s->stack_size = o.stack_size;
    s->deadlock_check = (o.flags & KC_SCHED_F_DEADLOCK_CHECK) != 0 || kc__deadlock_env();
    s->steal_delay_ns = o.steal_delay_ns == 0                        ? KC_SCHED_STEAL_DELAY_DEFAULT
                        : o.steal_delay_ns == KC_SCHED_STEAL_AT_ONCE ? 0
                                                                     : o.steal_delay_ns;
    s->w = aligned_alloc(128, (size_t)n * sizeof(*s->w));
    s->idle_stack = calloc((size_t)n, sizeof(int));
    if (s->w == NULL || s->idle_stack == NULL) {
        free(s->w);
        free(s->idle_stack);
        free(s);
        return -ENOMEM;
    }
    memset(s->w, 0, (size_t)n * sizeof(*s->w));
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        struct kc_worker *w = &s->w[i];
        w->sched = s;
        w->index = i;
        w->idle_pos = -1;
        rc = kc__deque_init(&w->dq, KC_SCHED_DEQUE_LOG2);
        if (rc == 0)
            rc = kc__theap_init(&w->timers);
        s->nworkers = i + 1; /* what free_sched must undo */
    }
    if (rc == 0)
        rc = kc__io_init(s);
    if (rc == 0)
        rc = kc__sched_register(s, &o);
    if (rc < 0) {
        free_sched(s);
        return rc;
    }
    for (int i = 0; i < n; i++) {
        int e = pthread_create(&s->w[i].thread, NULL, kc__worker_main, &s->w[i]);
        if (e != 0) {
            stop_workers(s, i);
            free_sched(s);
            return -e;
        }
    }
    if (s->deadlock_check) /* waits note what they wait on from now on */
        atomic_fetch_add_explicit(&kc__deadlock_watched, 1, memory_order_relaxed);
    kc__debug_log("sched %p: created with %d workers (%s poller)", (void *)s, n,
                  kc__poller_name(s->poller));
    kc__sched_created(s);
    *out = s;
    return 0;
}

int kc_sched_nworkers(const kc_sched_t *s)
{
    return s != NULL ? s->nworkers : 0;
}

static bool own_context(const struct kc_sched *s)
{
    struct kc_worker *w = kc__sched_worker_self();
    return w != NULL && w->sched == s;
}

int kc_sched_run_until_idle(kc_sched_t *s, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (s == NULL)
        return -EINVAL;
    if (own_context(s))
        return -EPERM;
    return kc__sched_wait_idle(s, timeout_ns, cancel, true, true);
}

int kc__sched_wait_idle(struct kc_sched *s, int64_t timeout_ns, const kc_cancel_t *cancel,
                        bool intr, bool deadlock)
{
    struct kc_task *self = kc__task_self();
    if (self != NULL)
        kc__task_note_wait(self, KC_WAIT_IDLE, s, NULL, 0); /* for dumps and deadlock reports */
    return kc__drain_wait(&s->wait_lock, &s->waiters, &s->live, timeout_ns, cancel, intr,
                          deadlock ? s : NULL);
}

/* Cancel every task that has parked at least once; the others see
 * cancel_all when they first park (kc_park.c registry_add). */
static void cancel_all(struct kc_sched *s)
{
    /* seq_cst: ordered before the registry walk; registry_add reads it
     * under reg_lock */
    atomic_store_explicit(&s->cancel_all, 1, memory_order_seq_cst);
    kc__lock(&s->reg_lock);
    for (struct kc_task *t = s->reg_head; t != NULL; t = t->reg_next)
        kc__task_interrupt(t);
    kc__unlock(&s->reg_lock);
}

int kc_sched_shutdown(kc_sched_t *s, kc_sched_shutdown_mode_t mode)
{
    if (s == NULL || (mode != KC_SCHED_SHUTDOWN_GRACEFUL && mode != KC_SCHED_SHUTDOWN_CANCEL))
        return -EINVAL;
    if (own_context(s) || (kc__task_self() != NULL && kc__task_self()->sched == s))
        return -EPERM;
    uint32_t st = KC_SCHED_RUNNING;
    /* acquire: pairs with the release store of STOPPED */
    if (!atomic_compare_exchange_strong_explicit(&s->state, &st, KC_SCHED_DRAINING,
                                                 memory_order_acquire, memory_order_acquire))
        return st == KC_SCHED_STOPPED ? 0 : -EBUSY;
    kc__debug_log("sched %p: shutdown (%s)", (void *)s,
                  mode == KC_SCHED_SHUTDOWN_CANCEL ? "cancel" : "graceful");
    kc__sched_run_hooks(s, KC__SCHED_HOOK_SHUTDOWN);
    if (mode == KC_SCHED_SHUTDOWN_CANCEL)
        cancel_all(s);
    for (;;) {
        kc__sched_wait_idle(s, KC_NO_TIMEOUT, NULL, false, false);
        /* seq_cst: Dekker with spawn (it raises live, then reads state) */
        atomic_store_explicit(&s->state, KC_SCHED_STOPPING, memory_order_seq_cst);
        if (atomic_load_explicit(&s->live, memory_order_seq_cst) == 0)
            break;
        /* seq_cst: as above; a spawn slipped in, so wait for it too */
        atomic_store_explicit(&s->state, KC_SCHED_DRAINING, memory_order_seq_cst);
    }
    stop_workers(s, s->nworkers);
    kc__debug_log("sched %p: stopped", (void *)s);
    /* Debug runs (KCORO_DEBUG set) check the invariants at rest. */
    if ((kc__debug() & ~KC_DEBUG_LOADED) != 0 && kc__sched_check(s) != 0)
        abort();
    return 0;
}

int kc__sched_waiters(struct kc_sched *s)
{
    int n = 0;
    kc__lock(&s->wait_lock);
    for (const struct kc_idle_waiter *w = s->waiters; w != NULL; w = w->next)
        n++;
    kc__unlock(&s->wait_lock);
    return n;
}

/* The lifetime rule: wait until no thread is left inside a wait of s
 * (kc_sched_run_until_idle from other threads, woken when the last task
 * finished, unlink themselves under wait_lock as their last touch). */
static void wait_waiters_gone(struct kc_sched *s)
{
    for (int i = 0;; i++) {
        /* acquire: pairs with the release decrement in outside_enqueue */
        if (kc__sched_waiters(s) == 0 &&
            atomic_load_explicit(&s->outside_wakers, memory_order_acquire) == 0)
            return;
        if (i < 64)
            kc__port_relax();
        else
            kc_sched_yield();
    }
}

int kc_sched_destroy(kc_sched_t *s)
{
    if (s == NULL)
        return 0;
    /* acquire: pairs with the release store of STOPPED */
    if (atomic_load_explicit(&s->state, memory_order_acquire) != KC_SCHED_STOPPED) {
        int rc = kc_sched_shutdown(s, KC_SCHED_SHUTDOWN_GRACEFUL);
        if (rc < 0)
            return rc;
    }
    if (s->deadlock_check)
        atomic_fetch_sub_explicit(&kc__deadlock_watched, 1, memory_order_relaxed);
    wait_waiters_gone(s);
    free_sched(s);
    return 0;
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

int kc_sched_metrics(kc_sched_t *s, kc_sched_metrics_t *out, kc_sched_worker_metrics_t *workers,
                     int max_workers)
{
    if (s == NULL || out == NULL || out->size < offsetof(kc_sched_metrics_t, id) ||
        (workers != NULL && out->worker_size < sizeof(*workers)))
        return -EINVAL;
    uint64_t spawned = LOAD(s->ext_spawned), finished = 0;
    for (int i = 0; i < s->nworkers; i++) {
        struct kc_worker_stats *st = &s->w[i].st;
        spawned += LOAD(st->spawned);
        finished += LOAD(st->finished);
        if (workers == NULL || i >= max_workers)
            continue;
        kc_sched_worker_metrics_t *m = &workers[i];
        m->executed = LOAD(st->executed);
        m->steal_attempts = LOAD(st->steal_attempts);
        m->steals = LOAD(st->steals);
        m->stolen = LOAD(st->stolen);
        m->parks = LOAD(st->parks);
        m->wakeups = LOAD(st->wakeups);
        m->inject_pops = LOAD(st->inject_pops);
        m->next_hits = LOAD(st->next_hits);
        m->park_switches = LOAD(st->park_switches);
        m->timer_fires = LOAD(st->timer_fires);
        m->io_waits = LOAD(st->io_waits);
        m->polls = LOAD(st->polls);
    }
    int64_t live = LOAD(s->live);
    out->nworkers = (uint32_t)s->nworkers;
    out->idle_workers = (uint32_t)LOAD(s->nidle);
    out->spawned = spawned;
    out->finished = finished;
    out->live = live > 0 ? (uint64_t)live : 0;
    out->inject_depth = (uint64_t)kc__inject_len(&s->inject);
    int64_t io = LOAD(s->io_waiting);
    out->io_waiting = io > 0 ? (uint64_t)io : 0;
    if (out->size >= sizeof(*out)) {
        out->id = s->id;
        memcpy(out->name, s->name, sizeof(out->name));
    }
    return s->nworkers;
}

static int violated(const struct kc_sched *s, const char *what)
{
    fprintf(stderr, "kcoro: sched %p: invariant %s violated\n", (const void *)s, what);
    return -EPROTO;
}

int kc__sched_check(const struct kc_sched *cs)
{
    struct kc_sched *s = (struct kc_sched *)(uintptr_t)cs;
    int rc = 0;
    if (LOAD(s->live) < 0)
        rc = violated(s, "S2 (live < 0)");
    kc__lock(&s->idle_lock);
    int nidle = LOAD(s->nidle);
    if (nidle != s->idle_n + (s->poll_sleeper != NULL))
        rc = violated(s, "S3 (nidle does not match the idle structures)");
    for (int i = 0; i < s->idle_n; i++)
        if (s->w[s->idle_stack[i]].idle_pos != i)
            rc = violated(s, "S3 (idle_pos does not match the idle stack)");
    kc__unlock(&s->idle_lock);
    if (LOAD(s->nsearching) < 0)
        rc = violated(s, "nsearching < 0");
    /* acquire: pairs with the release store of STOPPED after the workers
     * were joined, so their owner-only fields are settled */
    if (atomic_load_explicit(&s->state, memory_order_acquire) == KC_SCHED_STOPPED)
        for (int i = 0; i < s->nworkers; i++)
            if (s->w[i].pending != NULL)
                rc = violated(s, "S6 (a worker stopped with a park left to commit)");
    return rc;
}
