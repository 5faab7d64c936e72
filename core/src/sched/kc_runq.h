/* kc_runq.h - run queues: the per-worker Chase-Lev deque, the inject queue.
 *
 * Deque: the per-worker work-stealing queue.
 * The owner pushes and pops at the bottom (newest first); thieves take from
 * the top (oldest first) with a CAS. The buffer grows by doubling; a grown-out
 * buffer is kept on a retired list until the deque is destroyed, because a
 * thief may still be reading it. Memory orders follow Le, Pop, Cohen and
 * Zappa Nardelli, "Correct and Efficient Work-Stealing for Weak Memory
 * Models" (PPoPP 2013), with release/acquire on `bottom` where that paper uses
 * a release fence, so ThreadSanitizer sees the publication too.
 *
 * Stealing several items is done one CAS per item (kc__deque_steal in a
 * loop): taking a batch with one CAS on `top` is not safe against an owner
 * popping without a CAS in the meantime.
 *
 * Inject queue: the scheduler-wide FIFO for tasks made runnable by threads
 * that are not workers of the scheduler (spawns and wake-ups from outside).
 * A futex lock guards an intrusive list (tasks' `link`); the length is an
 * atomic so workers can look without taking the lock.
 */
#ifndef KCORO_KC_RUNQ_H
#define KCORO_KC_RUNQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "port/kc_futex.h"

struct kc_task;

/* A circular buffer of 2^k slots. */
struct kc_deque_buf {
    int64_t mask;                  /* capacity - 1 */
    struct kc_deque_buf *retired;  /* older buffers, freed with the deque */
    _Atomic(struct kc_task *) slot[];
};

/* top and bottom are written by different threads: each gets its own pair of
 * cache lines (128 bytes, see ARCHITECTURE.md section 6). */
struct kc_deque {
    _Alignas(128) _Atomic int64_t top;      /* next to steal; thieves CAS it */
    _Alignas(128) _Atomic int64_t bottom;   /* next free slot; owner only writes */
    _Atomic(struct kc_deque_buf *) buf;
};

/* What kc__deque_steal() can return besides a task. */
#define KC_DEQUE_EMPTY ((struct kc_task *)0)
#define KC_DEQUE_ABORT ((struct kc_task *)1) /* lost a race: retry if you like */

/* Set up an empty deque with room for 2^log2cap tasks. 0 or -ENOMEM. */
int kc__deque_init(struct kc_deque *d, unsigned log2cap);

/* Free the buffers (nobody may use the deque any more). */
void kc__deque_fini(struct kc_deque *d);

/* Owner only: push t at the bottom. 0, or -ENOMEM when growing failed (t
 * was not pushed). */
int kc__deque_push(struct kc_deque *d, struct kc_task *t);

/* Owner only: pop the newest task, or NULL when empty. */
struct kc_task *kc__deque_pop(struct kc_deque *d);

/* Any thread (the owner too): take the oldest task; KC_DEQUE_EMPTY or
 * KC_DEQUE_ABORT when there is none to take or the race was lost. */
struct kc_task *kc__deque_steal(struct kc_deque *d);

/* An estimate of the number of tasks (exact when nobody else is acting). */
static inline int64_t kc__deque_size(struct kc_deque *d)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    return b > t ? b - t : 0;
}

/* The inject queue. Its lock line is apart from the workers' lines. */
struct kc_inject {
    _Alignas(128) kc_lock_t lock;
    struct kc_task *head;  /* guarded by lock */
    struct kc_task *tail;  /* guarded by lock */
    _Atomic int64_t n;     /* tasks queued; written under lock, read anywhere */
};

/* Append the chain head..tail (count tasks, linked through `link`). */
void kc__inject_push(struct kc_inject *q, struct kc_task *head, struct kc_task *tail,
                     int64_t count);

/* Take up to max tasks from the front. Returns the first (NULL when empty)
 * with the others chained behind it through `link`; *count gets how many. */
struct kc_task *kc__inject_pop(struct kc_inject *q, int64_t max, int64_t *count /* OUT */);

/* Tasks queued (a relaxed read). */
static inline int64_t kc__inject_len(struct kc_inject *q)
{
    return atomic_load_explicit(&q->n, memory_order_relaxed);
}

#endif /* KCORO_KC_RUNQ_H */
