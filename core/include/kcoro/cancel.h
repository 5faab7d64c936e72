/* kcoro/cancel.h - cancellation tokens: hierarchical, with callbacks.
 *
 * A token is a one-way switch: untriggered until kc_cancel_trigger(), then
 * triggered forever. Every blocking kcoro call takes a `const kc_cancel_t *`
 * (NULL = not cancellable) and returns -ECANCELED promptly once its token
 * fires, even when it is parked; cancellation wins over a timeout that
 * expires at the same moment.
 *
 * Tokens form a tree: a token created with a parent fires when the parent
 * fires (or on its own). Code that needs to react to a firing registers a
 * callback with a caller-allocated kc_cancel_reg_t; the callback runs once,
 * on the thread that fires the token, outside every lock. Callbacks must be
 * short and must not block or park; kc_unpark(), kc_timer_stop() of another
 * timer and kc_cancel_trigger() of other tokens are fine.
 *
 *   state        event                         next       done by
 *   -----------  ----------------------------  ---------  ------------------
 *   untriggered  kc_cancel_trigger / parent    triggered  kc_cancel_trigger
 *   triggered    kc_cancel_trigger             triggered  (returns 0)
 */
#ifndef KCORO_CANCEL_H
#define KCORO_CANCEL_H

#include "kcoro/base.h"

#include <stdatomic.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque cancellation token. Valid from kc_cancel_create() until
 * kc_cancel_destroy(). */
typedef struct kc_cancel kc_cancel_t;

/* A cancellation callback; arg is what was given to kc_cancel_register(). */
typedef void (*kc_cancel_fn_t)(void *arg);

/* A callback registration, allocated by the caller (often on its stack) and
 * owned by the token between kc_cancel_register() and kc_cancel_unregister().
 * Only `size` is public; everything else is private to kcoro. */
typedef struct kc_cancel_reg {
    uint32_t size;              /* sizeof(kc_cancel_reg_t); set by register */
    _Atomic uint32_t state;     /* private: idle, listed, running, done */
    kc_cancel_fn_t fn;          /* private */
    void *arg;                  /* private */
    struct kc_cancel_reg *prev; /* private: the token's list */
    struct kc_cancel_reg *next; /* private */
    struct kc_cancel *token;    /* private: where it is registered */
    const void *runner;         /* private: the thread running fn */
} kc_cancel_reg_t;

/* Create an untriggered token. With a parent, the new token also fires when
 * the parent fires (at once if the parent already has).
 * OUT *out: GIVES a token; free it with kc_cancel_destroy().
 * Errors: -EINVAL (NULL out); -ENOMEM. Never blocks. */
KC_API int kc_cancel_create(kc_cancel_t **out, const kc_cancel_t *parent);

/* Free a token. Its link to its parent is undone first (waiting for the
 * parent's firing to finish with it, if that is running on another thread).
 * NULL is a no-op. The lifetime rule (core/docs/ERROR_SEMANTICS.md): the
 * token is freed only when nothing uses it any more: no registration that
 * was not unregistered (fired or not; child tokens not yet destroyed hold
 * one each), no blocking call waiting with it or woken by it and not yet
 * past its last read of it, no kc_cancel_trigger of it still running. So
 * `kc_cancel_trigger(c); while (kc_cancel_destroy(c) == -EBUSY) yield;` is
 * safe while calls wait with c.
 * Errors: -EBUSY while anything uses it (above); nothing changes.
 * Can block briefly (see above), never yields. */
KC_API int kc_cancel_destroy(kc_cancel_t *c);

/* Fire the token: mark it triggered, then run its callbacks (which fire its
 * children) on the calling thread. Returns 1 when this call fired it, 0 when
 * it had fired already. Errors: -EINVAL (NULL).
 * Never blocks or yields itself; runs the callbacks, which must not either. */
KC_API int kc_cancel_trigger(kc_cancel_t *c);

/* Predicate: has the token fired? NULL reads as never. Never blocks. */
KC_API bool kc_cancel_is_triggered(const kc_cancel_t *c);

/* Run fn(arg) when c fires. The token is const to its waiters; registering
 * does not change whether it fired.
 * BORROWS reg until kc_cancel_unregister() returns.
 * Errors: -EINVAL (NULL c, reg or fn); -ECANCELED when c has already fired:
 * then fn is not called and reg is not registered. Never blocks. */
KC_API int kc_cancel_register(const kc_cancel_t *c, kc_cancel_reg_t *reg, kc_cancel_fn_t fn,
                              void *arg);

/* Withdraw a registration. Returns 0 when fn will never run, 1 when it ran
 * (or is running on the calling thread: a callback may unregister itself).
 * When fn is running on another thread, waits for it to return, so reg's
 * memory may be reused as soon as this returns. A reg that was never
 * registered (or is already withdrawn) returns 0.
 * Errors: -EINVAL (NULL). Can block briefly (see above), never yields. */
KC_API int kc_cancel_unregister(kc_cancel_reg_t *reg);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_CANCEL_H */
