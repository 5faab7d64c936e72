/* kc_sched_svc.h - the execution layer's services to the layers above.
 *
 * The one internal header of layer 1 that channels, graduated modules and
 * labs may include (core/src/sched/module.mk declares it as the module's
 * service): parking a waiter, the clock, the running task, the worker
 * count of its scheduler and what the task waits on (the deadlock report). The scheduler's layout (kc_sched_impl.h) and the
 * port below it (kc_port.h) stay out of reach of those layers.
 */
#ifndef KCORO_KC_SCHED_SVC_H
#define KCORO_KC_SCHED_SVC_H

#include "kcoro/cancel.h"
#include "kcoro/park.h"

#include <stdbool.h>
#include <stdint.h>

struct kc_task;

/* ---- the clock (kc_clock.c) */
/* Monotonic nanoseconds, the clock every deadline of kcoro is read on. */
int64_t kc__sched_now(void);

/* ---- the running task (kc_task.c) */
/* The running task, or NULL in a thread or a bare coroutine. */
struct kc_task *kc__task_self(void);
/* How many workers t's scheduler runs (t not NULL). Never blocks. */
int kc__task_nworkers(const struct kc_task *t);

/* What a task waits on, for the deadlock report (kc_deadlock.c). */
enum kc_wait_op {
    KC_WAIT_NONE = 0,
    KC_WAIT_PARK = 1,     /* a bare kc_park (wait_obj: the parker) */
    KC_WAIT_SEND = 2,     /* kc_chan_send... (wait_obj: the channel) */
    KC_WAIT_RECV = 3,     /* kc_chan_recv... (wait_obj: the channel) */
    KC_WAIT_SELECT = 4,   /* kc_chan_select (wait_obj: the first clause's channel
                           that is on, or NULL when all are off; wait_n: clauses) */
    KC_WAIT_JOIN = 5,     /* kc_sched_join (wait_obj: the task joined) */
    KC_WAIT_SCOPE = 6,    /* kc_scope_wait / destroy (wait_obj: the scope) */
    KC_WAIT_BLOCKING = 7, /* kc_run_blocking (wait_obj: the pool) */
    KC_WAIT_SLEEP = 8,    /* kc_sched_sleep (wait_arg: the deadline) */
    KC_WAIT_FD = 9,       /* kc_io_wait (wait_arg: fd << 8 | events) */
    KC_WAIT_IDLE = 10     /* kc_sched_run_until_idle, a shutdown (wait_obj: the scheduler) */
};
/* Record what t is about to wait on, for the deadlock report. Never
 * blocks. */
void kc__task_note_wait(struct kc_task *t, enum kc_wait_op op, const void *obj, const char *name,
                        uint32_t n);
/* Add the details a task dump shows (kc_sched_dump.c: select clauses,
 * sleep deadline, fd and events, joined task id) to the wait just noted.
 * Never blocks. */
void kc__task_note_arg(struct kc_task *t, const void *aux, int64_t arg);

/* ---- cancellation tokens (kc_cancel.c) */
/* The lifetime rule for tokens: a blocking call whose token others may
 * read while it waits (a channel token's owner, read by peers) holds the
 * token from before it becomes visible until its last read; while held,
 * kc_cancel_destroy answers -EBUSY. hold is a seq_cst add, release a
 * release subtract (pairs with destroy's acquire load): the caller's last
 * touch of c. Never block. */
void kc__cancel_hold(const kc_cancel_t *c);
void kc__cancel_release(const kc_cancel_t *c);

/* ---- parking (kc_park.c) */
/* Parker owner kinds (kc_parker_t.kind). */
enum {
    KC__PARKER_THREAD = 1, /* a thread or a bare coroutine: futex */
    KC__PARKER_TASK = 2    /* a scheduler task: park_task */
};
/* The task that owns p, or NULL for a thread owner. Never blocks. */
static inline struct kc_task *kc__parker_task(const kc_parker_t *p)
{
    return p->kind == KC__PARKER_TASK ? (struct kc_task *)p->owner : NULL;
}
/* The parker the calling context waits on for one wait: its task's own
 * (K6: IDLE between waits, no publication in cur_parker needed), or, in a
 * thread or a bare coroutine, spare, initialised here. *interrupted gets
 * the word that says the task was interrupted (kc__task_interrupt: its
 * own, its scope's or its scheduler's cancellation; nonzero once set, and
 * then every kc_park of that task fails with -ECANCELED), or NULL for a
 * thread owner; a channel keeps it for the length of one wait so that
 * whoever decides its waiter can ask. Never blocks. */
kc_parker_t *kc__parker_for_wait(kc_parker_t *spare /* OUT */,
                                 const _Atomic uint32_t **interrupted /* OUT */);
/* kc__park with intr true for a parker the caller initialised itself in
 * the context that parks now (so the owner check is skipped). */
int kc__park_own(kc_parker_t *p, int64_t timeout_ns, const kc_cancel_t *cancel);
/* kc__park_own for the calling task t on its own parker (t->parker) with
 * no timeout and no token: a channel wait's common case, with the timer
 * and token code compiled out. Returns 0 (woken) or -ECANCELED (t was
 * interrupted). Yields the worker. */
int kc__park_task_own(struct kc_task *t);
/* kc_park; with intr false the owner task's own cancellation is ignored
 * (waits that must not end early: scope destroy, shutdown). */
int kc__park(kc_parker_t *p, int64_t timeout_ns, const kc_cancel_t *cancel, bool intr);

#endif /* KCORO_KC_SCHED_SVC_H */
