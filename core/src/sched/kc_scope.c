/* kc_scope.c - scopes: structured concurrency over the scheduler.
 *
 * A scope keeps its running children on a list under its lock, a count of
 * them, the first failure, and the parkers of whoever waits for the count to
 * reach zero. Cancellation goes through the scope's token: one registration
 * on it (made at create) interrupts every child on the list, so a parked
 * child returns -ECANCELED at once and a running one on its next blocking
 * call. The token is a child of the enclosing scope's token when the scope is
 * created inside another scope's child, which is how nested scopes are
 * cancelled together. The state table is in kcoro/scope.h.
 *
 * Invariants:
 *   SC1 live == the number of children on the list; a child is on it from
 *       spawn until kc__scope_child_done, and a scope is freed only at
 *       live == 0 (kc_scope_destroy waits).
 *   SC2 first_error is the status of the first child that returned < 0,
 *       or 0; it is set once.
 *   SC3 a child spawned into a cancelled scope is refused (-ECANCELED), and
 *       one spawned before the cancellation is on the list when the token's
 *       callback walks it, or sees the fired token itself.
 */
#include "sched/kc_sched_impl.h"

#include "kcoro/scope.h"

#include <errno.h>
#include <stdlib.h>

struct kc_scope {
    struct kc_sched *sched;
    uint32_t flags;
    kc_cancel_t *token;
    kc_cancel_reg_t reg; /* on token: interrupts the children */
    kc_lock_t lock;
    struct kc_task *children;       /* guarded by lock (SC1) */
    _Atomic int live;               /* written under lock, read anywhere */
    int first_error;                /* guarded by lock (SC2) */
    struct kc_idle_waiter *waiters; /* guarded by lock */
};

static void on_cancel(void *arg)
{
    struct kc_scope *sc = arg;
    kc__lock(&sc->lock);
    for (struct kc_task *t = sc->children; t != NULL; t = t->sc_next)
        kc__task_interrupt(t);
    kc__unlock(&sc->lock);
}

int kc_scope_create(kc_scope_t **out, kc_sched_t *s, uint32_t flags)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if ((flags & ~KC_SCOPE_F_CANCEL_ON_FAIL) != 0)
        return -EINVAL;
    if (s == NULL && (s = kc_sched_current()) == NULL)
        return -EPERM;
    struct kc_scope *sc = calloc(1, sizeof(*sc));
    if (sc == NULL)
        return -ENOMEM;
    struct kc_task *self = kc__task_self();
    const kc_cancel_t *parent = self != NULL && self->scope != NULL ? self->scope->token : NULL;
    int rc = kc_cancel_create(&sc->token, parent);
    if (rc < 0) {
        free(sc);
        return rc;
    }
    sc->sched = s;
    sc->flags = flags;
    kc_cancel_register(sc->token, &sc->reg, on_cancel, sc); /* -ECANCELED: born cancelled */
    *out = sc;
    return 0;
}

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
    int live = atomic_load_explicit(&sc->live, memory_order_relaxed) - 1;
    atomic_store_explicit(&sc->live, live, memory_order_relaxed);
    if (live == 0)
        for (struct kc_idle_waiter *w = sc->waiters; w != NULL; w = w->next)
            kc_unpark(&w->p); /* under the lock: waiters unlink under it */
    kc__unlock(&sc->lock);
}

int kc_scope_spawn(kc_scope_t *sc, kc_coro_fn_t fn, void *arg, const kc_spawn_attr_t *attr)
{
    if (sc == NULL || fn == NULL)
        return -EINVAL;
    if (attr != NULL && (attr->size < sizeof(*attr) || attr->flags != 0))
        return -EINVAL;
    return kc__task_spawn(sc->sched, NULL, fn, arg, 0, attr, sc);
}

int kc_scope_spawn_copy(kc_scope_t *sc, kc_coro_fn_t fn, const void *arg, size_t arg_size,
                        const kc_spawn_attr_t *attr)
{
    if (sc == NULL || fn == NULL || arg_size > KC_SPAWN_ARG_MAX || (arg_size > 0 && arg == NULL))
        return -EINVAL;
    if (attr != NULL && (attr->size < sizeof(*attr) || attr->flags != 0))
        return -EINVAL;
    return kc__task_spawn(sc->sched, NULL, fn, (void *)(uintptr_t)arg, arg_size, attr, sc);
}

static bool own_child(const kc_scope_t *sc)
{
    struct kc_task *t = kc__task_self();
    return t != NULL && t->scope == sc;
}

static int scope_wait(kc_scope_t *sc, int64_t timeout_ns, const kc_cancel_t *cancel, bool intr)
{
    struct kc_idle_waiter me;
    kc_parker_init(&me.p);
    kc__lock(&sc->lock);
    me.next = sc->waiters;
    /* The waiter lives on this stack; it is unlinked before we return. */
    /* cppcheck-suppress autoVariables */
    sc->waiters = &me;
    kc__unlock(&sc->lock);
    int64_t deadline = kc__deadline_after(timeout_ns);
    int rc = 0;
    struct kc_task *self = kc__task_self();
    if (self != NULL)
        kc__task_note_wait(self, KC_WAIT_SCOPE, sc, NULL, 0);
    /* relaxed: a stale non-zero only costs one more park, and the permit
     * from the last child's unpark makes that park return */
    while (atomic_load_explicit(&sc->live, memory_order_relaxed) != 0) {
        rc = kc__park(&me.p, kc__deadline_left(deadline), cancel, intr);
        if (rc < 0)
            break;
    }
    kc__lock(&sc->lock);
    struct kc_idle_waiter **pp = &sc->waiters;
    while (*pp != &me)
        pp = &(*pp)->next;
    *pp = me.next;
    int live = atomic_load_explicit(&sc->live, memory_order_relaxed);
    int failure = sc->first_error;
    kc__unlock(&sc->lock);
    return live == 0 ? failure : rc;
}

int kc_scope_wait(kc_scope_t *sc, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (sc == NULL)
        return -EINVAL;
    if (own_child(sc))
        return -EPERM;
    return scope_wait(sc, timeout_ns, cancel, true);
}

int kc_scope_cancel(kc_scope_t *sc)
{
    if (sc == NULL)
        return -EINVAL;
    return kc_cancel_trigger(sc->token);
}

const kc_cancel_t *kc_scope_token(const kc_scope_t *sc)
{
    return sc != NULL ? sc->token : NULL;
}

int kc_scope_live(const kc_scope_t *sc)
{
    return sc != NULL ? atomic_load_explicit(&sc->live, memory_order_relaxed) : 0;
}

int kc_scope_failure(const kc_scope_t *sc)
{
    if (sc == NULL)
        return 0;
    struct kc_scope *m = (struct kc_scope *)(uintptr_t)sc;
    kc__lock(&m->lock);
    int f = m->first_error;
    kc__unlock(&m->lock);
    return f;
}

int kc_scope_destroy(kc_scope_t *sc)
{
    if (sc == NULL)
        return 0;
    if (own_child(sc))
        return -EPERM;
    if (atomic_load_explicit(&sc->live, memory_order_relaxed) != 0)
        kc_cancel_trigger(sc->token);
    int rc = scope_wait(sc, KC_NO_TIMEOUT, NULL, false); /* even if we are cancelled */
    kc_cancel_unregister(&sc->reg);
    if (kc_cancel_destroy(sc->token) < 0)
        return rc; /* a nested scope still hangs on our token: keep it alive */
    free(sc);
    return rc;
}
