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

/* ---- deadlines: the one timeout rule (ERROR_SEMANTICS.md, "Timeouts")
 * Every blocking call of kcoro takes a relative timeout and every wait loop
 * inside it needs an absolute deadline on kc__sched_now() and, after each
 * wake-up, the time left. These helpers are the only place where that
 * conversion happens:
 *
 *   timeout                      deadline                 time left
 *   KC_NO_TIMEOUT (-1)           KC__DEADLINE_NEVER       KC_NO_TIMEOUT
 *   any other value <= 0         0 (already passed)       0
 *   t > 0                        now + t, saturating at   deadline - now,
 *                                KC__DEADLINE_NEVER       never below 0
 *
 *   D1. No helper overflows for any int64_t input (UBSan-clean): a sum that
 *       would pass INT64_MAX saturates at KC__DEADLINE_NEVER (292 years),
 *       which then means "no limit".
 *   D2. A negative timeout other than KC_NO_TIMEOUT never means "forever":
 *       it is a time that has already run out and behaves as 0 (try once).
 *   D3. The time left is KC_NO_TIMEOUT or >= 0.
 *   D4. The clock is read only for a finite positive timeout.
 * (port/kc_deadline.h turns what is left into poll(2) milliseconds.) */

/* The deadline of a wait without limit; later than any reachable time. */
#define KC__DEADLINE_NEVER INT64_MAX

/* The one rule for a public timeout argument (D2): KC_NO_TIMEOUT stays,
 * every other negative value becomes 0, the rest is unchanged. */
static inline int64_t kc__timeout_norm(int64_t timeout_ns)
{
    return timeout_ns < 0 && timeout_ns != KC_NO_TIMEOUT ? 0 : timeout_ns;
}

/* now + timeout_ns as a deadline (table above), saturating (D1). Pure, so
 * tests can feed any now. */
static inline int64_t kc__deadline_from(int64_t now, int64_t timeout_ns)
{
    if (timeout_ns == KC_NO_TIMEOUT)
        return KC__DEADLINE_NEVER;
    if (timeout_ns <= 0)
        return 0;
    if (now < 0)
        now = 0; /* the monotonic clock never is; keeps the sum defined */
    return timeout_ns >= KC__DEADLINE_NEVER - now ? KC__DEADLINE_NEVER : now + timeout_ns;
}

/* The deadline timeout_ns from now (D4: reads the clock only when needed). */
static inline int64_t kc__deadline_after(int64_t timeout_ns)
{
    if (timeout_ns <= 0)
        return kc__deadline_from(0, timeout_ns);
    return kc__deadline_from(kc__sched_now(), timeout_ns);
}

/* The relative time from now to deadline: KC_NO_TIMEOUT for a deadline
 * that never comes, 0 once it has passed (D3). Pure. */
static inline int64_t kc__deadline_left_at(int64_t deadline, int64_t now)
{
    if (deadline == KC__DEADLINE_NEVER)
        return KC_NO_TIMEOUT;
    if (now < 0)
        now = 0; /* as in kc__deadline_from */
    return deadline > now ? deadline - now : 0;
}

/* The time left until deadline, read from the clock (not for NEVER or 0). */
static inline int64_t kc__deadline_left(int64_t deadline)
{
    if (deadline == KC__DEADLINE_NEVER)
        return KC_NO_TIMEOUT;
    if (deadline == 0)
        return 0;
    return kc__deadline_left_at(deadline, kc__sched_now());
}

/* True once deadline has passed (never for KC__DEADLINE_NEVER). */
static inline bool kc__deadline_passed(int64_t deadline)
{
    return kc__deadline_left(deadline) == 0;
}

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
                           that is on, or NULL when all are off; wait_arg: clauses) */
    KC_WAIT_JOIN = 5,     /* kc_sched_join (wait_obj: the task joined) */
    KC_WAIT_SCOPE = 6,    /* kc_scope_wait / destroy (wait_obj: the scope) */
    KC_WAIT_BLOCKING = 7, /* kc_run_blocking (wait_obj: the pool) */
    KC_WAIT_SLEEP = 8,    /* kc_sched_sleep (wait_arg: the deadline) */
    KC_WAIT_FD = 9,       /* kc_io_wait (wait_arg: fd << 8 | events) */
    KC_WAIT_IDLE = 10     /* kc_sched_run_until_idle, a shutdown (wait_obj: the scheduler) */
};
/* Record what t is about to wait on, for the deadlock report and the task
 * dump; n goes to the wait's argument (a select's clause count). Never
 * blocks. */
void kc__task_note_wait(struct kc_task *t, enum kc_wait_op op, const void *obj, const char *name,
                        uint32_t n);
/* kc__task_note_wait of a channel send or receive (op KC_WAIT_SEND or
 * KC_WAIT_RECV), which has no argument: four stores, made only while
 * kc__deadlock_watched says a report or a dump may read them (issue 17's
 * overhead gate: a registered scheduler alone does not switch them on).
 * Never blocks. */
void kc__task_note_chan(struct kc_task *t, enum kc_wait_op op, const void *ch, const char *name);
/* What a task dump saw in a channel's queue: t's token waits there, so t
 * waits on ch (op KC_WAIT_SEND, KC_WAIT_RECV, or KC_WAIT_SELECT for a
 * select's clause). Notes it for t unless t's note already says so (a wait
 * made while nothing noted: D4 of kc_sched_dump.c). Called with ch's lock
 * held while the token is queued, so t cannot have moved on to another
 * wait. Never blocks. */
void kc__task_note_seen(struct kc_task *t, enum kc_wait_op op, const void *ch, const char *name);

/* The channel layer's part of a task dump (kc_sched_dump.c, D4): for the
 * listed channel ch, call kc__task_note_seen for every task whose token
 * waits in its queues, under its lock. Installed by the channel layer
 * when it lists its first channel (NULL before: no listed channel to walk).
 * Called from inside kc_registry_foreach. Never blocks for long. */
typedef void (*kc__chan_waiters_fn)(void *ch);
extern _Atomic(kc__chan_waiters_fn) kc__chan_waiters;
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

/* ---- turns (kc_park.c, kc_task.c)
 * A layer that runs tasks one at a time in an order of its own (the
 * simulator's virtual clock, kc_sim_clock.c) installs these operations and
 * binds each of its tasks to a `turn` of its own making. The scheduler then
 * tells it, for a task bound to a turn: that the task is about to park
 * (`blocking`: give the turn away if the task holds it; true when it did),
 * that the park ended (`resumed`, only after a true `blocking`: wait until
 * the task may run again), that somebody wakes the task through parker p
 * (`woken`, from the waker, before the task can run: queue it), that a task spawned a child
 * (`spawned`, in the parent: NULL or the child's turn, which the child
 * `started` with before its function runs), and that the task finished
 * (`finished`, after its joiner was woken). None of them is called for a
 * task that is bound to no turn; with none installed the cost is a load. */
struct kc__turn_ops {
    bool (*blocking)(void *turn, const kc_parker_t *p);
    void (*resumed)(void *turn);
    void (*woken)(void *turn, const kc_parker_t *p);
    void *(*spawned)(void *parent_turn);
    void (*started)(void *turn);
    void (*finished)(void *turn);
};
/* Install ops (a static table), once; later calls with the same table are
 * no-ops, with another are -EBUSY. Never blocks. */
int kc__sched_turns_install(const struct kc__turn_ops *ops);
/* Bind the running task to turn (NULL: unbind). Outside a task: no-op. */
void kc__task_turn_bind(void *turn);
/* The running task's turn, or NULL. */
void *kc__task_turn(void);

#endif /* KCORO_KC_SCHED_SVC_H */
