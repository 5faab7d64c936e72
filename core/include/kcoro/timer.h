/* kcoro/timer.h - one-shot timers run by the scheduler's workers.
 *
 * Every sleep and every deadline of a parked coroutine is one of these. Each
 * worker keeps its timers in a 4-ary min-heap ordered by deadline, so start
 * and stop cost O(log n) and a million pending timers are fine. A timer is
 * caller-allocated (no allocation per start) and reusable: init once, start
 * and stop any number of times.
 *
 * The callback runs on a worker thread, outside every coroutine and lock. It
 * must be short and must not block or park; kc_unpark() and starting timers
 * (this one included) are fine. Timers fire in deadline order on a worker,
 * never early; they fire late when every worker is busy running coroutines
 * that do not yield. A start from a coroutine on its own worker with a delay
 * of 1 ms or more does not read the clock: its delay counts from the
 * worker's next look at its timers (when the coroutine yields or parks, or
 * a few starts later), so a timer stopped before then costs no clock read.
 *
 *   state    event                                 next     done by
 *   -------  ------------------------------------  -------  ----------------
 *   IDLE     start                                 PENDING  kc_timer_start
 *   PENDING  stop                                  IDLE     kc_timer_stop (1)
 *   PENDING  deadline passes: worker takes it      FIRING   the worker
 *   FIRING   callback returns                      IDLE     the worker
 *   FIRING   stop: wait for the callback to end    IDLE     kc_timer_stop (0)
 */
#ifndef KCORO_TIMER_H
#define KCORO_TIMER_H

#include "kcoro/base.h"
#include "kcoro/sched.h"

#include <stdatomic.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A timer callback; arg is what was given to kc_timer_init(). */
typedef void (*kc_timer_fn_t)(void *arg);

/* A timer, allocated by the caller. Only `size` is public. */
typedef struct kc_timer {
    uint32_t size;          /* sizeof(kc_timer_t); set by kc_timer_init */
    _Atomic uint32_t state; /* private: IDLE, PENDING, FIRING (+ waiter bit) */
    uint32_t index;         /* private: its place in its heap or wheel */
    int32_t worker;         /* private: the worker whose timers hold it */
    int64_t when;           /* private: absolute monotonic deadline, ns */
    kc_timer_fn_t fn;       /* private */
    void *arg;              /* private */
    void *sched;            /* private: the scheduler it runs on */
} kc_timer_t;

/* Prepare t to call fn(arg). NULL t is ignored. Never blocks. */
KC_API void kc_timer_init(kc_timer_t *t /* OUT */, kc_timer_fn_t fn, void *arg);

/* Arm t to fire delay_ns from now (<= 0: as soon as a worker looks; a huge
 * value saturates at the far future; from a coroutine on its own worker, a
 * delay of 1 ms or more counts from that worker's next look, above) on
 * scheduler s (NULL: the caller's). From a worker, the timer joins that
 * worker's heap; from another thread, a worker chosen round-robin.
 * BORROWS t until it fires or is stopped.
 * Errors: -EINVAL (NULL or uninitialised t); -EPERM (s NULL outside a
 * scheduler); -EBUSY (t is pending); -EPIPE (s stopped); -ENOMEM (the heap
 * could not grow). Never blocks or yields. */
KC_API int kc_timer_start(kc_timer_t *t, kc_sched_t *s, int64_t delay_ns);

/* Disarm t. Returns 1 when t was pending and now never fires, 0 when it was
 * not pending (never started, already fired). If the callback is running on
 * another thread, waits for it to return first, so t may be reused or freed
 * once this returns. Errors: -EINVAL (NULL).
 * Can block briefly (see above), never yields. */
KC_API int kc_timer_stop(kc_timer_t *t);

/* Predicate: is t armed and not yet fired? Never blocks. */
KC_API bool kc_timer_is_pending(const kc_timer_t *t);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_TIMER_H */
