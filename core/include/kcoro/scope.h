/* kcoro/scope.h - structured concurrency: children that never outlive a scope.
 *
 * A scope owns the coroutines spawned into it. kc_scope_wait() joins them all;
 * kc_scope_cancel() cancels them all (their blocking calls return -ECANCELED
 * from then on, the parked ones at once); kc_scope_destroy() cancels what is
 * still running and waits for it, so no child outlives its scope. With
 * KC_SCOPE_F_CANCEL_ON_FAIL, the first child that returns a negative status
 * cancels its siblings (Go's errgroup, Kotlin's coroutineScope); without it,
 * failures are only recorded (Kotlin's supervisorScope).
 *
 * Scopes nest: a scope created inside a scope's child is cancelled with its
 * parent, because its token is a child of the parent scope's token.
 *
 *   state     event                                next       done by
 *   --------  -----------------------------------  ---------  ----------------
 *   OPEN      spawn                                OPEN       kc_scope_spawn
 *   OPEN      cancel, or a child fails (policy)    CANCELLED  kc_scope_cancel
 *   CANCELLED spawn                                CANCELLED  -ECANCELED
 *   any       destroy: cancel, wait, free          (freed)    kc_scope_destroy
 */
#ifndef KCORO_SCOPE_H
#define KCORO_SCOPE_H

#include "kcoro/base.h"
#include "kcoro/cancel.h"
#include "kcoro/sched.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque scope handle. */
typedef struct kc_scope kc_scope_t;

/* KC_SCOPE_F_CANCEL_ON_FAIL: the first child returning a negative status
 * cancels the scope (and so its other children). */
#define KC_SCOPE_F_CANCEL_ON_FAIL 0x1u

/* Open a scope whose children run on s (NULL: the caller's scheduler). When
 * the caller is itself a scope's child, the new scope is cancelled with
 * that parent scope.
 * OUT *out: GIVES a scope; free it with kc_scope_destroy().
 * Errors: -EINVAL (NULL out, unknown flags); -EPERM (s NULL outside a
 * scheduler); -ENOMEM. Never blocks. */
KC_API int kc_scope_create(kc_scope_t **out, kc_sched_t *s, uint32_t flags);

/* Start fn(arg) as a child of sc. Its return value counts as a failure when
 * negative. Errors: -EINVAL; -ECANCELED (sc was cancelled); -EPIPE (the
 * scheduler stopped); -ENOMEM. Never blocks or yields. */
KC_API int kc_scope_spawn(kc_scope_t *sc, kc_coro_fn_t fn, void *arg, const kc_spawn_attr_t *attr);

/* kc_scope_spawn with the argument copied onto the child's own stack, as
 * kc_sched_spawn_copy does. Errors: as kc_scope_spawn, plus -EINVAL for
 * arg_size above KC_SPAWN_ARG_MAX or a NULL arg with a size. Never blocks. */
KC_API int kc_scope_spawn_copy(kc_scope_t *sc, kc_coro_fn_t fn, const void *arg, size_t arg_size,
                               const kc_spawn_attr_t *attr);

/* KC_GO_SCOPE(sc, fn, value) starts fn on a copy of value as a child of sc. */
#define KC_GO_SCOPE(sc, fn, ...)                                                                   \
    kc_scope_spawn_copy((sc), (fn), &(__VA_ARGS__), sizeof(__VA_ARGS__), NULL)

/* Wait until every child has finished, for at most timeout_ns
 * (KC_NO_TIMEOUT: no limit; 0 or any other negative value: only look; the
 * rule of kcoro/base.h), or until cancel fires. Returns 0 when all finished
 * and none failed, the first
 * failing child's (negative) status when one failed, or -ETIME /
 * -ECANCELED when the wait itself ended first (children still run; see
 * kc_scope_live()). Errors: -EINVAL (NULL). Blocks or yields. */
KC_API int kc_scope_wait(kc_scope_t *sc, int64_t timeout_ns, const kc_cancel_t *cancel);

/* Cancel every child, now and future. Returns 1 when this call cancelled the
 * scope, 0 when it was cancelled already. Errors: -EINVAL (NULL).
 * Never blocks or yields. */
KC_API int kc_scope_cancel(kc_scope_t *sc);

/* The scope's token (BORROWS: valid until destroy): it fires when the scope
 * is cancelled; children may hand it to anything that takes a token.
 * NULL for a NULL scope (a token that never fires). Never blocks. */
KC_API const kc_cancel_t *kc_scope_token(const kc_scope_t *sc);

/* The number of children still running (0 for NULL). Never blocks. */
KC_API int kc_scope_live(const kc_scope_t *sc);

/* The first failing child's status, or 0 when none failed so far (and for
 * NULL). Never blocks. */
KC_API int kc_scope_failure(const kc_scope_t *sc);

/* Cancel the children still running, wait for all of them and for every
 * other caller of kc_scope_wait(sc) to leave (the lifetime rule of
 * core/docs/ERROR_SEMANTICS.md), free sc. Returns
 * what kc_scope_wait() would have: 0 or the first failure. NULL is a no-op.
 * Errors: -EPERM when called from one of sc's own children.
 * Blocks or yields. */
KC_API int kc_scope_destroy(kc_scope_t *sc);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_SCOPE_H */
