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
    struct kc_task *self = kc__task_self();
    if (self != NULL)
        kc__task_note_wait(self, KC_WAIT_SCOPE, sc, NULL, 0);
    atomic_fetch_add_explicit(&sc->inside, 1, memory_order_relaxed);
    int rc = kc__drain_wait(&sc->lock, &sc->waiters, &sc->live, timeout_ns, cancel, intr, NULL);
    if (rc == 0) {
        kc__lock(&sc->lock);
        rc = sc->first_error;
        kc__unlock(&sc->lock);
    }
    /* release: this caller's last touch of sc happens-before the acquire
     * load in kc_scope_destroy that sees no caller inside */
    atomic_fetch_sub_explicit(&sc->inside, 1, memory_order_release);
    return rc;
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
    return sc != NULL ? (int)atomic_load_explicit(&sc->live, memory_order_relaxed) : 0;
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

int kc__scope_waiters(struct kc_scope *sc)
{
    int n = 0;
    kc__lock(&sc->lock);
    for (const struct kc_idle_waiter *w = sc->waiters; w != NULL; w = w->next)
        n++;
    kc__unlock(&sc->lock);
    return n;
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
    /* The lifetime rule: other callers of kc_scope_wait, woken with us when
     * the last child finished, unlink themselves under the lock as their
     * last touch; wait for them before freeing. */
    /* acquire: pairs with the release decrement at the end of scope_wait */
    for (int i = 0;
         kc__scope_waiters(sc) != 0 || atomic_load_explicit(&sc->inside, memory_order_acquire) != 0;
         i++) {
        if (i < 64)
            kc__port_relax();
        else
            kc_sched_yield();
    }
    kc_cancel_unregister(&sc->reg);
    if (kc_cancel_destroy(sc->token) < 0)
        return rc; /* a nested scope still hangs on our token: keep it alive */
    free(sc);
    return rc;
}
