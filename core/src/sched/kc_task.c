/* kc_task.c - tasks: spawn, join, detach, cancel, yield, sleep, migrate.
 *
 * A task is a coroutine plus the scheduler's bookkeeping about it. Its
 * coroutine records it as its owner, which is how code running in
 * a coroutine finds its task (kc__task_self) after any switch, on whatever
 * worker it runs. A task is freed when it has finished and nobody holds its
 * handle: by the worker for a detached task, by kc_sched_join otherwise.
 *
 *   task       event                                 next       done by
 *   ---------  ------------------------------------  ---------
 * ------------------- (none)     spawned                               runnable
 * kc_sched_spawn runnable   resumed by a worker                   running
 * kc__worker (run_task) running    yields / migrates runnable   kc_sched_yield,
 * _migrate running    parks                                 parked     kc_park
 * (kc_park.c) parked     woken                                 runnable
 * kc__task_wake running    fn returns                            finished
 * kc__task_finish finished   handle joined or already detached     (freed)
 * kc_sched_join, finish
 *
 * Join and detach meet the finishing task on one word, t->join
 * (KC_JOIN_* in kc_sched_impl.h, or the waiting joiner's parker), changed
 * by CAS only:
 *
 *   join word  event                                 next       done by
 *   ---------  ------------------------------------  ---------  ---------------
 *   RUNNING    the task finishes                     FINISHED   kc__task_finish
 *   RUNNING    the handle is detached                DETACHED   kc_sched_detach
 *   RUNNING    a joiner starts waiting               parker p   kc_sched_join
 *   p          the task finishes (then unparks p)    FINISHED   kc__task_finish
 *   p          the joiner gives up (timeout, cancel) RUNNING    kc_sched_join
 *   p          a watching joiner looks (deadlock)    LOOKING    kc_sched_join
 *   LOOKING    the look is over                      p          kc_sched_join
 *   DETACHED   the task finishes and frees itself    (freed)    kc__task_finish
 *   FINISHED   joined, or detached                   (freed)    join, detach
 *
 * Invariants:
 *   A1  t is the owner recorded in t->co (kc__coro_set_owner) for the
 *       task's whole life.
 *   A2  t is freed exactly once: by the finisher when the word was
 *       DETACHED, else by the handle's holder (join or detach) once it saw
 *       FINISHED. The finisher's CAS to FINISHED is its last touch of t, so
 *       the holder's acquire load of FINISHED hands t over whole.
 *   A3  at most one joiner waits on t (its parker is the word); the
 *       finisher unparks it exactly once after its CAS, and a joiner that
 *       finds the word FINISHED after giving up takes that unpark before it
 *       returns (its parker must not go while an unpark is on its way).
 *   A4  the word is LOOKING only while t has not finished, so t's
 *       scheduler is alive during a deadlock look (the live count drops
 *       after FINISHED).
 */
#include "sched/kc_sched_impl.h"

#include "base/kc_debug.h"
#include "kcoro/scope.h"
#include "port/kc_port.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void kc__sched_live_dec(struct kc_sched *s)
{
    /* seq_cst: Dekker with spawn's increment and shutdown's state change */
    if (atomic_fetch_sub_explicit(&s->live, 1, memory_order_seq_cst) != 1)
        return;
    kc__lock(&s->wait_lock);
    kc__drain_wake(s->waiters);
    kc__unlock(&s->wait_lock);
}

/* Scope membership: a scope's children are on its list under its lock
 * (SC1-SC3 in kc_scope.c). Kept beside spawn and finish, its only callers,
 * so that kc_scope.c calls down into this file and never the reverse. */
int kc__scope_add(struct kc_scope *sc, struct kc_task *t)
{
    kc__lock(&sc->lock);
    if (kc_cancel_is_triggered(sc->token)) { /* SC3 */
        kc__unlock(&sc->lock);
        return -ECANCELED;
    }
    t->scope = sc;
    t->sc_prev = NULL;
    t->sc_next = sc->children;
    if (sc->children != NULL)
        sc->children->sc_prev = t;
    sc->children = t;
    atomic_store_explicit(&sc->live, atomic_load_explicit(&sc->live, memory_order_relaxed) + 1,
                          memory_order_relaxed); /* SC1, under lock */
    kc__unlock(&sc->lock);
    return 0;
}

void kc__scope_child_done(struct kc_task *t, int status)
{
    struct kc_scope *sc = t->scope;
    bool cancel_now = false;
    kc__lock(&sc->lock);
    if (status < 0 && sc->first_error == 0) { /* SC2 */
        sc->first_error = status;
        cancel_now = (sc->flags & KC_SCOPE_F_CANCEL_ON_FAIL) != 0;
    }
    kc__unlock(&sc->lock);
    if (cancel_now) /* sc is alive: we are still counted in live */
        kc_cancel_trigger(sc->token);
    kc__lock(&sc->lock);
    if (t->sc_prev != NULL)
        t->sc_prev->sc_next = t->sc_next;
    else
        sc->children = t->sc_next;
    if (t->sc_next != NULL)
        t->sc_next->sc_prev = t->sc_prev;
    int64_t live = atomic_load_explicit(&sc->live, memory_order_relaxed) - 1;
    /* seq_cst: pairs with the load in kc__drain_wait (kc_drain.c) */
    atomic_store_explicit(&sc->live, live, memory_order_seq_cst);
    if (live == 0)
        kc__drain_wake(sc->waiters);
    kc__unlock(&sc->lock);
}

/* Task records are recycled through a small per-worker cache (owner only,
 * so no lock): a spawn on a worker takes one, a free on a worker of the same
 * scheduler gives one back, everything else uses malloc. */
static struct kc_task *task_alloc(struct kc_worker *w)
{
    struct kc_task *t;
    if (w != NULL && (t = w->free_tasks) != NULL) {
        w->free_tasks = t->link;
        w->nfree_tasks--;
        memset(t, 0, sizeof(*t));
        return t;
    }
    return calloc(1, sizeof(struct kc_task));
}

static void task_release(const struct kc_sched *s, struct kc_task *t)
{
    struct kc_worker *w = kc__sched_worker_self();
    if (w != NULL && w->sched == s && w->nfree_tasks < KC_SCHED_TASK_CACHE) {
        t->link = w->free_tasks;
        w->free_tasks = t;
        w->nfree_tasks++;
        return;
    }
    free(t);
}

void kc__task_cache_fini(struct kc_worker *w)
{
    while (w->free_tasks != NULL) {
        struct kc_task *t = w->free_tasks;
        w->free_tasks = t->link;
        free(t);
    }
    w->nfree_tasks = 0;
}

void kc__task_free(struct kc_task *t)
{
    kc_coro_destroy(t->co);
    task_release(t->sched, t);
}

static int attr_check(const kc_spawn_attr_t *attr)
{
    if (attr == NULL)
        return 0;
    if (attr->size < sizeof(*attr) || attr->flags != 0)
        return -EINVAL;
    if (attr->stack_size != 0 &&
        (attr->stack_size < KC_CORO_STACK_MIN || attr->stack_size > KC_CORO_STACK_MAX))
        return -EINVAL;
    return 0;
}

/* A child that starts on a turn: its function, argument and turn. */
struct turn_start {
    kc_coro_fn_t fn;
    void *arg;
    void *turn;
    size_t size;
    _Alignas(max_align_t) unsigned char bytes[]; /* the argument copied (size > 0) */
};

static int turn_entry(void *arg)
{
    struct turn_start *ts = arg;
    const struct kc__turn_ops *ops = atomic_load_explicit(&kc__turns, memory_order_acquire);
    ops->started(ts->turn);
    int rc = ts->fn(ts->size ? ts->bytes : ts->arg);
    free(ts);
    return rc;
}

int kc__task_spawn(struct kc_sched *s, struct kc_task **out, kc_coro_fn_t fn, void *arg,
                   size_t arg_size, const kc_spawn_attr_t *attr, struct kc_scope *scope)
{
    /* seq_cst: Dekker with kc_sched_shutdown (live first, then state) */
    atomic_fetch_add_explicit(&s->live, 1, memory_order_seq_cst);
    int rc = -EPIPE;
    if (atomic_load_explicit(&s->state, memory_order_seq_cst) >= KC_SCHED_STOPPING)
        goto out_live;
    /* the calling worker when it is one of s's (a spawn never switches, so
     * it stays ours throughout), else NULL */
    struct kc_worker *self = kc__sched_worker_self();
    if (self != NULL && self->sched != s)
        self = NULL;
    struct kc_task *t = task_alloc(self);
    rc = -ENOMEM;
    if (t == NULL)
        goto out_live;
    kc_coro_attr_t ca = KC_CORO_ATTR_INIT;
    ca.stack_size = attr != NULL && attr->stack_size != 0 ? attr->stack_size : s->stack_size;
    ca.name = attr != NULL ? attr->name : NULL;
    /* A child of a task bound to a turn may take a turn of its own, in the
     * parent's (so in the parent's order), and start with it. */
    struct kc_task *me =
        atomic_load_explicit(&kc__turns, memory_order_relaxed) != NULL ? kc__task_self() : NULL;
    void *mine = me != NULL ? atomic_load_explicit(&me->turn, memory_order_relaxed) : NULL;
    void *turn =
        mine != NULL ? atomic_load_explicit(&kc__turns, memory_order_acquire)->spawned(mine) : NULL;
    struct turn_start *ts = NULL;
    if (turn != NULL) {
        rc = -ENOMEM;
        if ((ts = malloc(sizeof(*ts) + arg_size)) == NULL)
            goto out_turn;
        *ts = (struct turn_start){fn, arg, turn, arg_size};
        if (arg_size)
            memcpy(ts->bytes, arg, arg_size);
        rc = kc__coro_create_copy(&t->co, turn_entry, ts, 0, &ca);
    } else {
        rc = kc__coro_create_copy(&t->co, fn, arg, arg_size, &ca);
    }
    if (rc < 0)
        goto out_turn;
    kc__coro_set_owner(t->co, t); /* A1 */
    t->sched = s;
    kc__parker_init_task(&t->parker, t);
    t->worker = -1;
    atomic_store_explicit(&t->join, out != NULL ? KC_JOIN_RUNNING : KC_JOIN_DETACHED,
                          memory_order_relaxed); /* published by the submit */
    struct kc_task *parent = scope != NULL ? kc__task_self() : NULL;
    if (parent != NULL && (rc = kc__ctx_inherit(t, parent)) < 0)
        goto out_coro;
    if (scope != NULL && (rc = kc__scope_add(scope, t)) < 0)
        goto out_coro;
    if (self != NULL)
        KC_STAT_ADD(self, spawned, 1);
    else
        atomic_fetch_add_explicit(&s->ext_spawned, 1, memory_order_relaxed);
    if (out != NULL)
        *out = t;
    if (s->list_all)
        kc__task_list(t); /* a registered scheduler lists every task (dumps) */
    if (self != NULL)
        kc__worker_submit(self, t);
    else
        kc__sched_submit(t);
    return 0;

out_coro:
    kc__ctx_release(t);
    kc_coro_destroy(t->co);
out_turn:
    free(ts);
    if (turn != NULL) /* never started: its turn goes as if it had finished */
        atomic_load_explicit(&kc__turns, memory_order_acquire)->finished(turn);
    task_release(s, t);
out_live:
    kc__sched_live_dec(s);
    return rc;
}

int kc_sched_spawn(kc_sched_t *s, kc_task_t **out, kc_coro_fn_t fn, void *arg,
                   const kc_spawn_attr_t *attr)
{
    if (out != NULL)
        *out = NULL;
    if (fn == NULL || attr_check(attr) < 0)
        return -EINVAL;
    if (s == NULL) {
        struct kc_worker *self = kc__sched_worker_self();
        if (self == NULL)
            return -EPERM;
        s = self->sched;
    }
    return kc__task_spawn(s, out, fn, arg, 0, attr, NULL);
}

int kc_sched_spawn_copy(kc_sched_t *s, kc_task_t **out, kc_coro_fn_t fn, const void *arg,
                        size_t arg_size, const kc_spawn_attr_t *attr)
{
    if (out != NULL)
        *out = NULL;
    if (fn == NULL || attr_check(attr) < 0 || arg_size > KC_SPAWN_ARG_MAX ||
        (arg_size > 0 && arg == NULL))
        return -EINVAL;
    if (s == NULL) {
        struct kc_worker *self = kc__sched_worker_self();
        if (self == NULL)
            return -EPERM;
        s = self->sched;
    }
    return kc__task_spawn(s, out, fn, (void *)(uintptr_t)arg, arg_size, attr, NULL);
}

void kc__task_turn_bind(void *turn)
{
    struct kc_task *t = kc__task_self();
    if (t != NULL)
        atomic_store_explicit(&t->turn, turn, memory_order_relaxed);
}

void *kc__task_turn(void)
{
    struct kc_task *t = kc__task_self();
    return t != NULL ? atomic_load_explicit(&t->turn, memory_order_relaxed) : NULL;
}

void kc__task_finish(struct kc_worker *w, struct kc_task *t)
{
    struct kc_sched *s = t->sched;
    void *turn = atomic_load_explicit(&t->turn, memory_order_relaxed);
    int status = 0;
    kc_coro_status(t->co, &status);
    KC_STAT_ADD(w, finished, 1);
    kc__task_unregister(t);
    kc__ctx_release(t); /* before joiners wake: they see the destructors done */
    if (t->scope != NULL)
        kc__scope_child_done(t, status);
    t->status = status;
    atomic_store_explicit(&t->turn, NULL, memory_order_relaxed);
    uintptr_t j = atomic_load_explicit(&t->join, memory_order_relaxed);
    for (;;) {
        if (j == KC_JOIN_LOOKING) { /* A4: a short look; wait it out */
            kc__port_yield_thread();
            j = atomic_load_explicit(&t->join, memory_order_relaxed);
            continue;
        }
        /* release: the status and all the task did go to the holder's
         * acquire of FINISHED; this is the last touch of t (A2) */
        if (atomic_compare_exchange_weak_explicit(&t->join, &j, KC_JOIN_FINISHED,
                                                  memory_order_acq_rel, memory_order_relaxed))
            break;
    }
    if (j > KC_JOIN_LOOKING)
        kc_unpark((kc_parker_t *)j); /* A3 */
    if (turn != NULL)                /* after the joiner queued for its turn: in order */
        atomic_load_explicit(&kc__turns, memory_order_acquire)->finished(turn);
    if (j == KC_JOIN_DETACHED)
        kc__task_free(t); /* A2 */
    kc__sched_live_dec(s);
}

/* Join a task seen FINISHED (acquire): its status, and it goes (A2). */
static int join_done(struct kc_task *t, int *status)
{
    if (status != NULL)
        *status = t->status;
    kc__task_free(t);
    return 0;
}

/* Take the one unpark a finisher owes parker p (A3): the word went from p
 * to FINISHED while the joiner was giving up. */
static void join_take_unpark(kc_parker_t *p)
{
    while (kc__park(p, KC_NO_TIMEOUT, NULL, false) != 0) {
    }
}

/* The joiner's wait, with its parker p in the word: 0 once t finished, or
 * the park's error with the word back at RUNNING. */
static int join_wait(struct kc_task *t, kc_parker_t *p, struct kc_deadlock_watch *dw,
                     int64_t deadline, const kc_cancel_t *cancel, struct kc_task *self)
{
    for (;;) {
        if (self != NULL)
            kc__task_note_arg(self, NULL, (int64_t)kc_task_id(t)); /* the dump shows the id */
        bool sliced = false;
        int64_t left = kc__deadlock_slice(dw, kc__deadline_left(deadline), &sliced);
        int rc = kc__park(p, left, cancel, true);
        uintptr_t e = (uintptr_t)p;
        if (rc == 0) {
            /* acquire: pairs with the finisher's release CAS */
            if (atomic_load_explicit(&t->join, memory_order_acquire) == KC_JOIN_FINISHED)
                return 0; /* its unpark was the one we took (A3) */
            continue;
        }
        if (rc == -ETIME && sliced) {
            /* A4: LOOKING keeps t unfinished, so its scheduler alive */
            if (atomic_compare_exchange_strong_explicit(
                    &t->join, &e, KC_JOIN_LOOKING, memory_order_acquire, memory_order_acquire)) {
                bool dead = kc__deadlock_look(dw);
                atomic_store_explicit(&t->join, (uintptr_t)p, memory_order_release);
                if (!dead)
                    continue;
                rc = -EDEADLK;
            } else { /* finished meanwhile (e is FINISHED) */
                join_take_unpark(p);
                return 0;
            }
        }
        /* Give up, unless it finished meanwhile. acquire: on failure the
         * word is FINISHED and the status visible. */
        e = (uintptr_t)p;
        if (atomic_compare_exchange_strong_explicit(&t->join, &e, KC_JOIN_RUNNING,
                                                    memory_order_acq_rel, memory_order_acquire))
            return rc;
        join_take_unpark(p);
        return 0;
    }
}

int kc_sched_join(kc_task_t *t, int *status, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (t == NULL)
        return -EINVAL;
    /* acquire: pairs with the finisher's release CAS (A2) */
    uintptr_t j = atomic_load_explicit(&t->join, memory_order_acquire);
    if (j == KC_JOIN_FINISHED)
        return join_done(t, status); /* finished already: no wait, no lock */
    struct kc_task *self = kc__task_self();
    if (t == self)
        return -EPERM;
    if (j == KC_JOIN_DETACHED)
        return -EINVAL; /* no handle to join */
    if (j != KC_JOIN_RUNNING)
        return -EBUSY;
    /* A task waits on its own parker (K6 of kc_park.c: the one unpark a
     * finisher owes is always taken before we return), a thread on one of
     * its own. */
    kc_parker_t mine;
    kc_parker_t *p = &mine;
    if (self != NULL)
        p = &self->parker;
    else
        kc_parker_init(&mine);
    /* A watched scheduler: the word is LOOKING (A4) while the watch reads
     * t's scheduler. */
    bool watched = atomic_load_explicit(&kc__deadlock_watched, memory_order_relaxed) != 0;
    uintptr_t e = KC_JOIN_RUNNING;
    /* release: the joiner's parker is ready; acquire: a FINISHED seen */
    if (!atomic_compare_exchange_strong_explicit(&t->join, &e,
                                                 watched ? KC_JOIN_LOOKING : (uintptr_t)p,
                                                 memory_order_acq_rel, memory_order_acquire))
        return e == KC_JOIN_FINISHED ? join_done(t, status) : -EBUSY;
    struct kc_deadlock_watch dw;
    kc__deadlock_watch_init(&dw, watched ? t->sched : NULL);
    if (watched)
        atomic_store_explicit(&t->join, (uintptr_t)p, memory_order_release);
    int64_t deadline = kc__deadline_after(timeout_ns);
    if (self != NULL)
        kc__task_note_wait(self, KC_WAIT_JOIN, t, NULL, 0);
    if (cancel != NULL)
        kc__cancel_hold(cancel); /* read by every park of the loop (the lifetime rule) */
    int rc = join_wait(t, p, &dw, deadline, cancel, self);
    if (cancel != NULL)
        kc__cancel_release(cancel);
    return rc < 0 ? rc : join_done(t, status);
}

int kc_sched_detach(kc_task_t *t)
{
    if (t == NULL)
        return -EINVAL;
    uintptr_t e = KC_JOIN_RUNNING;
    /* acquire on failure: a FINISHED task is ours to free (A2) */
    if (atomic_compare_exchange_strong_explicit(&t->join, &e, KC_JOIN_DETACHED,
                                                memory_order_acquire, memory_order_acquire) ||
        e == KC_JOIN_DETACHED)
        return 0;
    if (e != KC_JOIN_FINISHED)
        return -EBUSY; /* a joiner waits */
    kc__task_free(t);  /* A2 */
    return 0;
}

int kc_sched_cancel(kc_task_t *t)
{
    if (t == NULL)
        return -EINVAL;
    kc__task_interrupt(t);
    return 0;
}

uint64_t kc_task_id(const kc_task_t *t)
{
    return t != NULL ? kc_coro_id(t->co) : 0;
}

int kc_sched_yield(void)
{
    struct kc_task *t = kc__task_self();
    if (t == NULL) {
        kc__port_yield_thread();
        return 0;
    }
    struct kc_worker *w = kc__sched_worker_self();
    if (w != NULL && w->sched == t->sched && kc__worker_yield_direct(w, t))
        return 0;
    t->action = KC_ACT_YIELD;
    kc_coro_yield();
    return 0;
}

int kc_sched_sleep(int64_t ns, const kc_cancel_t *cancel)
{
    if (ns <= 0) {
        kc_sched_yield();
        return kc_cancel_is_triggered(cancel) || kc_sched_is_cancelled() ? -ECANCELED : 0;
    }
    kc_parker_t p;
    kc_parker_init(&p);
    struct kc_task *self = kc__task_self();
    if (self != NULL) {
        int64_t now = kc__sched_now();
        kc__task_note_wait(self, KC_WAIT_SLEEP, NULL, NULL, 0);
        kc__task_note_arg(self, NULL, ns > INT64_MAX - now ? INT64_MAX : now + ns);
    }
    int rc = kc__park(&p, ns, cancel, true);
    return rc == -ETIME ? 0 : rc;
}

int kc_sched_migrate(int worker)
{
    struct kc_task *t = kc__task_self();
    if (t == NULL)
        return -EPERM;
    if (worker < 0 || worker >= t->sched->nworkers)
        return -EINVAL;
    t->migrate_to = (int16_t)worker;
    t->action = KC_ACT_MIGRATE;
    kc_coro_yield();
    return 0;
}

kc_task_t *kc_sched_self(void)
{
    return kc__task_self();
}

uint64_t kc_sched_self_id(void)
{
    return kc_coro_id(kc_coro_self());
}

const char *kc_sched_self_name(void)
{
    kc_coro_t *co = kc_coro_self();
    return co != NULL ? kc_coro_name(co) : "thread";
}

kc_sched_t *kc_sched_current(void)
{
    struct kc_worker *w = kc__sched_worker_self();
    return w != NULL ? w->sched : NULL;
}

int kc_sched_worker_index(void)
{
    struct kc_worker *w = kc__sched_worker_self();
    return w != NULL ? w->index : -1;
}

bool kc_sched_is_cancelled(void)
{
    struct kc_task *t = kc__task_self();
    /* acquire: pairs with the seq_cst stores in kc__task_interrupt and
   * cancel_all, so what the canceller wrote before is visible */
    return t != NULL && (atomic_load_explicit(&t->cancelled, memory_order_acquire) ||
                         atomic_load_explicit(&t->sched->cancel_all, memory_order_acquire));
}
