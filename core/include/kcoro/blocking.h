/* kcoro/blocking.h - blocking calls on a bounded pool of helper threads.
 *
 * A coroutine must not block its worker: a getaddrinfo, an fsync, a
 * library without non-blocking I/O would stall every coroutine queued
 * behind it. kc_run_blocking runs such a call on one of a bounded set of
 * helper threads while the calling coroutine parks (Kotlin's
 * Dispatchers.IO, tokio's spawn_blocking); from a plain thread it simply
 * waits. The pool is process-wide, started on first use with up to
 * `threads` helpers (created as work arrives, kept afterwards) and a queue
 * of at most `queue` calls waiting for a helper.
 *
 *   call      event                                   next       result
 *   --------  --------------------------------------  ---------  -----------------
 *   (new)     the queue is full                       (none)     -EAGAIN, fn never runs
 *   (new)     queued                                  QUEUED
 *   QUEUED    timeout or cancellation                 (gone)     -ETIME / -ECANCELED,
 *                                                                fn never runs
 *   QUEUED    a helper takes it                       RUNNING
 *   RUNNING   fn returns                              DONE       0, *result = fn's value
 *
 * Once fn has started it runs to the end (a blocking call cannot be taken
 * back, and fn uses the caller's argument), so a timeout or cancellation
 * that comes later is ignored and the call returns 0 when fn returns.
 * While a coroutine waits here, its scheduler's deadlock check counts the
 * call as a way it may still be woken.
 */
#ifndef KCORO_BLOCKING_H
#define KCORO_BLOCKING_H

#include "kcoro/base.h"
#include "kcoro/cancel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A blocking call: runs on a helper thread, outside every coroutine; it may
 * block as long as it likes. Its return value goes to the caller. */
typedef int (*kc_blocking_fn_t)(void *arg);

/* KC_BLOCKING_THREADS_DEFAULT helpers unless KCORO_BLOCKING_THREADS or
 * kc_blocking_configure says otherwise. */
#define KC_BLOCKING_THREADS_DEFAULT 16
/* KC_BLOCKING_QUEUE_DEFAULT calls may wait for a helper at once, unless
 * KCORO_BLOCKING_QUEUE or kc_blocking_configure says otherwise. */
#define KC_BLOCKING_QUEUE_DEFAULT 1024
/* KC_BLOCKING_THREADS_MAX bounds the helper count. */
#define KC_BLOCKING_THREADS_MAX 1024

/* Set the pool's helper count (1..KC_BLOCKING_THREADS_MAX) and queue bound
 * (1..2^20) before its first use. Errors: -EINVAL (out of range); -EBUSY
 * (the pool has started: nothing changes). Never blocks. */
KC_API int kc_blocking_configure(unsigned threads, unsigned queue);

/* Run fn(arg) on a helper thread and wait for it, parking the calling
 * coroutine (or blocking the calling thread). *result (may be NULL) gets
 * fn's return value. The timeout and token apply only while the call waits
 * for a helper (see the table above).
 * Timeouts follow kcoro/base.h (0 or any other negative value but
 * KC_NO_TIMEOUT: only a helper free right now).
 * Returns 0 when fn ran. Errors: -EINVAL (NULL fn); -EAGAIN
 * (the queue is full); -ETIME, -ECANCELED (before fn started; it never
 * will); -ENOMEM or another negative errno when a helper thread could not
 * be started and none is running. Can block (a thread) or yield. */
KC_API int kc_run_blocking(kc_blocking_fn_t fn, void *arg, int64_t timeout_ns,
                           const kc_cancel_t *cancel, int *result /* OUT */);

/* The pool's counters (each exact; the set is not one instant). */
typedef struct kc_blocking_metrics {
    uint32_t size;        /* sizeof(kc_blocking_metrics_t); set by the caller */
    uint32_t threads;     /* helpers started so far */
    uint32_t max_threads; /* the helper bound */
    uint32_t busy;        /* helpers running a call now */
    uint32_t queued;      /* calls waiting for a helper now */
    uint32_t max_queue;   /* the queue bound */
    uint64_t submitted;   /* calls queued */
    uint64_t completed;   /* calls whose fn returned */
    uint64_t rejected;    /* calls refused with -EAGAIN (queue full) */
    uint64_t withdrawn;   /* calls that timed out or were cancelled while queued */
    uint64_t peak_queued; /* the most calls ever waiting at once */
    uint64_t wait_ns;     /* total time calls waited in the queue */
} kc_blocking_metrics_t;

/* Fill *out (out->size must be set). Errors: -EINVAL (NULL, size too
 * small). Never blocks for long. */
KC_API int kc_blocking_metrics(kc_blocking_metrics_t *out /* INOUT */);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_BLOCKING_H */
