/* kcoro/park.h - park and unpark: the wait primitive under every blocking call.
 *
 * A parker belongs to one context, the one that called kc_parker_init(): a
 * coroutine run by a kcoro scheduler, or a plain thread. kc_park() suspends
 * that context until another one calls kc_unpark(), the timeout passes or the
 * cancellation token fires. A coroutine parks through the scheduler (its
 * worker thread goes on running other coroutines); a thread parks on a futex.
 * Channels, the broadcast bus, joins, scopes, sleeps and I/O waits are all
 * built on it, which is why every blocking kcoro call works from both.
 *
 * Permit semantics (as in Java's LockSupport): kc_unpark() leaves a permit
 * when the owner is not parked, and the next kc_park() consumes it and
 * returns 0 at once. Permits do not add up: two unparks before a park leave
 * one permit. So a wake-up that races with going to sleep is never lost.
 *
 * Outcome precedence when several things happen at once: an unpark (permit)
 * wins over cancellation, and cancellation wins over the timeout. A parked
 * coroutine whose scope or scheduler is cancelled returns -ECANCELED too.
 * kc_park() returns 0 only by consuming a permit, but a permit may be left
 * over from an earlier unpark, so callers re-check their condition in a
 * loop, as with any condition variable.
 *
 * Lifetime rule for protocols built on it: kc_unpark(p) needs p to be valid
 * until it returns. A waiter that gives up (timeout, cancellation) while a
 * waker may already have committed to unparking it must wait for that
 * unpark, which is simply kc_park(p, KC_NO_TIMEOUT, NULL) (it returns at once
 * if the permit is already there) before p's memory goes away.
 *
 *   state    event                          next     done by
 *   -------  -----------------------------  -------  ----------------------
 *   IDLE     unpark                         PERMIT   kc_unpark
 *   IDLE     park (no permit)               WAITING  kc_park
 *   PERMIT   park consumes the permit       IDLE     kc_park (returns 0)
 *   PERMIT   unpark                         PERMIT   kc_unpark (no-op)
 *   WAITING  unpark: wake the owner         PERMIT   kc_unpark
 *   WAITING  timeout / cancel: wake owner   IDLE     kc_park's timer / token
 */
#ifndef KCORO_PARK_H
#define KCORO_PARK_H

#include "kcoro/base.h"
#include "kcoro/cancel.h"

#include <stdatomic.h>

#ifdef __cplusplus
extern "C" {
#endif

/* KC_PARKER_VERSION is the layout version kc_parker_init() writes into
 * kc_parker_t.version; it grows when the private part changes meaning. */
#define KC_PARKER_VERSION 1u

/* A parker, allocated by the caller (on a stack, inside a waiter record...)
 * and bound to its owner by kc_parker_init(). `size` and `version` are
 * public; the rest is private to kcoro. No destroy is needed: when nobody
 * can unpark it any more, the memory may simply be reused. */
typedef struct kc_parker {
    uint32_t size;          /* sizeof(kc_parker_t); set by kc_parker_init */
    uint32_t version;       /* KC_PARKER_VERSION; set by kc_parker_init */
    _Atomic uint32_t state; /* private: IDLE, PERMIT or WAITING */
    uint32_t kind;          /* private: what kind of owner */
    void *owner;            /* private: the bound context */
    void *reserved[2];      /* private: room to grow */
} kc_parker_t;

/* Bind p to the calling context (the running scheduler coroutine, or the
 * calling thread) with no permit. Re-initialising a parker nobody can unpark
 * any more is fine. NULL is ignored. Never blocks. */
KC_API void kc_parker_init(kc_parker_t *p /* OUT */);

/* Wait until kc_unpark(p), for at most timeout_ns (KC_NO_TIMEOUT: no limit;
 * 0 or any other negative value: only consume a permit that is already
 * there; the rule of kcoro/base.h), or until cancel fires
 * (NULL: not cancellable). Must be called by p's owner.
 * Returns 0 when unparked (a permit was consumed; it may be an old one, see
 * above), -ETIME when the time ran out, -ECANCELED when cancel (or the
 * owner coroutine's scope or scheduler) was cancelled.
 * Errors: -EINVAL (NULL or uninitialised p); -EPERM (not p's owner).
 * Can block (a thread) or yield (a coroutine). */
KC_API int kc_park(kc_parker_t *p, int64_t timeout_ns, const kc_cancel_t *cancel);

/* Give p's owner a permit and wake it if it is parked. Callable from any
 * thread or coroutine, and from timer and cancellation callbacks.
 * BORROWS p until it returns (see the lifetime rule above). NULL is ignored.
 * Never blocks or yields. */
KC_API void kc_unpark(kc_parker_t *p);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_PARK_H */
