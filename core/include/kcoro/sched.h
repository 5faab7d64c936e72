/* kcoro/sched.h - the M:N scheduler: workers, spawn, join, yield, sleep.
 *
 * A scheduler runs coroutines on N worker threads (default: one per online
 * CPU; N=1 runs everything on one thread in a deterministic order). Each
 * worker keeps a Chase-Lev deque of runnable coroutines plus a "next" slot
 * for the coroutine it just woke; idle workers steal half of a random
 * victim's deque, and park on a futex (or in the I/O poller) when there is
 * nothing to steal. Coroutines migrate between workers freely, so code that
 * runs in them must not keep a thread-local's address across a call that can
 * yield (ARCHITECTURE.md section 6).
 *
 * A spawned coroutine is a task. Its handle (kc_task_t) is joined once or
 * detached once; a detached or joined task's resources go back when it
 * finishes. Handles stay valid after kc_sched_destroy() until joined.
 *
 * Scheduler lifecycle:
 *
 *   state     event                               next      done by
 *   --------  ----------------------------------  --------  ------------------
 *   RUNNING   shutdown(GRACEFUL): wait for all     STOPPED   kc_sched_shutdown
 *   RUNNING   shutdown(CANCEL): cancel, wait       STOPPED   kc_sched_shutdown
 *   RUNNING   destroy: graceful shutdown, free     (freed)   kc_sched_destroy
 *   STOPPED   destroy: free                        (freed)   kc_sched_destroy
 *   STOPPED   spawn                                STOPPED   -EPIPE
 */
#ifndef KCORO_SCHED_H
#define KCORO_SCHED_H

#include "kcoro/base.h"
#include "kcoro/cancel.h"
#include "kcoro/coro.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque scheduler handle. */
typedef struct kc_sched kc_sched_t;

/* An opaque handle to a spawned coroutine, for join, detach and cancel. */
typedef struct kc_task kc_task_t;

/* KC_SCHED_MAX_WORKERS caps the worker count (larger requests get -EINVAL). */
#define KC_SCHED_MAX_WORKERS 256

/* Options for kc_sched_create(). Initialise with KC_SCHED_OPTS_INIT. */
typedef struct kc_sched_opts {
    uint32_t size;     /* sizeof(kc_sched_opts_t); set by KC_SCHED_OPTS_INIT */
    uint32_t flags;    /* KC_SCHED_F_* bits and KC_SCHED_REGISTER */
    int nworkers;      /* 0: KCORO_WORKERS from the environment, else online CPUs */
    size_t stack_size; /* default stack of spawned coroutines; 0: the engine's */
    /* Called on each worker thread as it starts and just before it exits
     * (pinning, naming, per-thread state). May be NULL. */
    void (*on_worker_start)(kc_sched_t *s, int index, void *arg);
    void (*on_worker_stop)(kc_sched_t *s, int index, void *arg);
    void *hook_arg; /* passed to both hooks */
    /* How long an idle worker watches work queued on a busy worker before
     * it steals it (SCHEDULER.md, "Stealing and sleeping"): a coroutine
     * woken or spawned by one that keeps running gets that long to run
     * after it, on the same core; the idle worker spins through it.
     * 0: KC_SCHED_STEAL_DELAY_DEFAULT; KC_SCHED_STEAL_AT_ONCE: no delay; at
     * most KC_SCHED_STEAL_DELAY_MAX. */
    int64_t steal_delay_ns;
    /* A name for dumps, metrics and the registry (BORROWS: copied, first
     * 31 bytes); NULL = "sched-<id>". */
    const char *name;
} kc_sched_opts_t;

/* KC_SCHED_F_DEADLOCK_CHECK: kc_sched_run_until_idle() and kc_sched_join(),
 * called from a thread (or a coroutine of another scheduler), fail with
 * -EDEADLK when the scheduler's tasks are alive but none can run or ever be
 * woken: every worker asleep, no runnable task, no pending timer, no I/O
 * wait, no blocking call in flight (kc_run_blocking), and none of that
 * changed for two looks 5 ms apart. Under KCORO_DEBUG the report lists
 * every task and what it waits on, on stderr. The check trusts that no
 * other thread will wake a task later (send to its channel, cancel its
 * token): a program whose threads do that must leave it off, or hold the
 * scheduler (kc_sched_hold) while they may. The environment variable
 * KCORO_DEADLOCK=1 turns it on for every scheduler (core/docs/DIAGNOSTICS.md). */
#define KC_SCHED_F_DEADLOCK_CHECK 0x1u

/* KC_SCHED_F_SINGLE_THREAD: one worker thread, whatever KCORO_WORKERS says
 * (nworkers must be 0 or 1): every coroutine of the scheduler runs on that
 * one OS thread, for code that must stay on a thread (thread-bound
 * libraries, thread-locals kept across yields); Kotlin's
 * newSingleThreadContext. Blocking work goes to kc_run_blocking. */
#define KC_SCHED_F_SINGLE_THREAD 0x2u

/* KC_SCHED_REGISTER (in kc_sched_opts_t.flags) lists the scheduler in the
 * registry (kcoro/registry.h) and keeps every task on its task list from
 * spawn on, so kc_sched_dump shows tasks that never waited too (one short
 * lock per spawn and finish). KCORO_REGISTRY can do it for every
 * scheduler. */
#define KC_SCHED_REGISTER (1u << 31)

#define KC_SCHED_STEAL_DELAY_DEFAULT 20000   /* ns */
#define KC_SCHED_STEAL_DELAY_MAX 1000000     /* ns: 1 ms (a searcher spins through it) */
#define KC_SCHED_STEAL_AT_ONCE ((int64_t)-1) /* steal_delay_ns: no delay */

/* KC_SCHED_OPTS_INIT is the initialiser for kc_sched_opts_t: default worker
 * count, stacks and steal delay, no hooks. */
#define KC_SCHED_OPTS_INIT                                                                         \
    {                                                                                              \
        sizeof(kc_sched_opts_t), 0, 0, 0, NULL, NULL, NULL, 0, NULL                                \
    }

/* How kc_sched_shutdown() ends the coroutines still alive. */
typedef enum kc_sched_shutdown_mode {
    /* Wait until every coroutine has finished on its own. */
    KC_SCHED_SHUTDOWN_GRACEFUL = 0,
    /* Cancel every coroutine (their blocking calls return -ECANCELED from
     * now on), then wait until they have finished. */
    KC_SCHED_SHUTDOWN_CANCEL = 1
} kc_sched_shutdown_mode_t;

/* Options for kc_sched_spawn() and kc_scope_spawn(). */
typedef struct kc_spawn_attr {
    uint32_t size;     /* sizeof(kc_spawn_attr_t); set by KC_SPAWN_ATTR_INIT */
    uint32_t flags;    /* reserved: 0 */
    size_t stack_size; /* 0: the scheduler's default */
    const char *name;  /* BORROWS: copied; NULL = "coro-<id>" */
} kc_spawn_attr_t;

/* KC_SPAWN_ATTR_INIT is the initialiser for kc_spawn_attr_t: defaults. */
#define KC_SPAWN_ATTR_INIT                                                                         \
    {                                                                                              \
        sizeof(kc_spawn_attr_t), 0, 0, NULL                                                        \
    }

/* Start a scheduler and its worker threads. opts may be NULL.
 * OUT *out: GIVES a scheduler; free it with kc_sched_destroy().
 * Errors: -EINVAL (NULL out; opts->size neither sizeof(kc_sched_opts_t)
 * nor the size of the layout before steal_delay_ns or before name; nworkers
 * outside [0, KC_SCHED_MAX_WORKERS]; steal_delay_ns outside
 * [KC_SCHED_STEAL_AT_ONCE, KC_SCHED_STEAL_DELAY_MAX]; nworkers above 1 with
 * KC_SCHED_F_SINGLE_THREAD; unknown flags); -ENOMEM; a negative
 * errno when a thread or the poller cannot be created. Nothing is left running on failure.
 * Never blocks for long. */
KC_API int kc_sched_create(kc_sched_t **out, const kc_sched_opts_t *opts);

/* Stop the scheduler: wait for (or first cancel, then wait for) every
 * coroutine, then stop the workers. Spawns made while it waits still run;
 * spawns after the workers stop fail with -EPIPE. Once stopped, further
 * calls return 0 at once.
 * Errors: -EINVAL (NULL or bad mode); -EPERM when called from one of s's
 * own coroutines or worker threads; -EBUSY while another shutdown of s is
 * in progress. Blocks (a thread) or yields (a coroutine of another
 * scheduler) until done. */
KC_API int kc_sched_shutdown(kc_sched_t *s, kc_sched_shutdown_mode_t mode);

/* Shut down gracefully if still running, wait for every other thread
 * inside kc_sched_run_until_idle(s) to leave (the lifetime rule of
 * core/docs/ERROR_SEMANTICS.md), then free s. NULL is a no-op.
 * Errors: -EPERM as for kc_sched_shutdown(). Blocks like it. */
KC_API int kc_sched_destroy(kc_sched_t *s);

/* Wait until no coroutine of s is alive (every spawned one has finished;
 * their handles may still be unjoined), for at most timeout_ns
 * (KC_NO_TIMEOUT: no limit; 0 or any other negative value: only look; the
 * rule of kcoro/base.h). Returns 0, -ETIME or -ECANCELED, or -EDEADLK with
 * KC_SCHED_F_DEADLOCK_CHECK when the live tasks can never finish.
 * Errors: -EINVAL (NULL); -EPERM from one of s's own coroutines (it would
 * wait for itself). Blocks (a thread) or yields (a coroutine). */
KC_API int kc_sched_run_until_idle(kc_sched_t *s, int64_t timeout_ns, const kc_cancel_t *cancel);

/* Declare that a thread outside s may still wake one of its tasks (send to
 * a channel it waits on, fire its token...): while holds are taken, the
 * deadlock check (KC_SCHED_F_DEADLOCK_CHECK) reports nothing. Every
 * kc_sched_hold() needs one kc_sched_unhold(). Errors: -EINVAL (NULL, or
 * unhold without a hold). Never blocks. */
KC_API int kc_sched_hold(kc_sched_t *s);
/* See kc_sched_hold. */
KC_API int kc_sched_unhold(kc_sched_t *s);

/* The number of worker threads of s (0 for NULL). */
KC_API int kc_sched_nworkers(const kc_sched_t *s);

/* Start fn(arg) as a coroutine of s (NULL: the scheduler the caller runs
 * on). With out, GIVES a handle to join or detach; with NULL out the task
 * is detached at once.
 * Errors: -EINVAL (NULL fn, bad attr); -EPERM (s NULL outside a scheduler);
 * -EPIPE (s is shutting down or stopped); -ENOMEM. Nothing is started on
 * failure. Never blocks or yields. */
KC_API int kc_sched_spawn(kc_sched_t *s, kc_task_t **out, kc_coro_fn_t fn, void *arg,
                          const kc_spawn_attr_t *attr);

/* KC_SPAWN_ARG_MAX bounds the argument kc_sched_spawn_copy copies (4 KiB). */
#define KC_SPAWN_ARG_MAX ((size_t)4096)

/* kc_sched_spawn, but the arg_size bytes at arg are copied onto the new
 * coroutine's own stack, just under its control block and aligned for any
 * type, and fn gets the address of that copy: the caller's struct may die
 * as soon as this returns, and nothing is allocated for it. arg_size 0
 * passes arg itself (NULL or not), as kc_sched_spawn does.
 * Errors: as kc_sched_spawn, plus -EINVAL for arg_size above
 * KC_SPAWN_ARG_MAX or a NULL arg with a size. Never blocks or yields. */
KC_API int kc_sched_spawn_copy(kc_sched_t *s, kc_task_t **out, kc_coro_fn_t fn, const void *arg,
                               size_t arg_size, const kc_spawn_attr_t *attr);

/* KC_GO(s, fn, value) starts fn on a copy of value (any struct, or a
 * compound literal such as (struct job){.id = 3, .out = ch}) as a detached
 * coroutine of s, like Go's `go fn(args)`; it evaluates to
 * kc_sched_spawn_copy's result. */
#define KC_GO(s, fn, ...)                                                                          \
    kc_sched_spawn_copy((s), NULL, (fn), &(__VA_ARGS__), sizeof(__VA_ARGS__), NULL)

/* KC_GO_TASK(s, out, fn, value) is KC_GO that GIVES a handle in *out to
 * join or detach. */
#define KC_GO_TASK(s, out, fn, ...)                                                                \
    kc_sched_spawn_copy((s), (out), (fn), &(__VA_ARGS__), sizeof(__VA_ARGS__), NULL)

/* Wait for t to finish, for at most timeout_ns (KC_NO_TIMEOUT: no limit;
 * 0 or any other negative value: only look, -ETIME if it has not; the rule
 * of kcoro/base.h), store fn's return value in *status (may be NULL)
 * and free t (the handle is invalid afterwards).
 * On -ETIME, -ECANCELED or -EDEADLK (KC_SCHED_F_DEADLOCK_CHECK: no task of
 * t's scheduler can ever run again; see there) t is still valid: join
 * again, cancel or detach it.
 * Errors: -EINVAL (NULL t); -EBUSY (another join is waiting on t); -EPERM
 * (t is the caller itself). Blocks (a thread) or yields (a coroutine). */
KC_API int kc_sched_join(kc_task_t *t, int *status /* OUT */, int64_t timeout_ns,
                         const kc_cancel_t *cancel);

/* Give up the handle: t's resources go back when it finishes (at once if it
 * has). The handle is invalid afterwards.
 * Errors: -EINVAL (NULL); -EBUSY (a join is waiting on t). Never blocks. */
KC_API int kc_sched_detach(kc_task_t *t);

/* Cancel one task: from now on its blocking calls return -ECANCELED, and
 * the one it is parked in (if any) returns at once. Errors: -EINVAL (NULL).
 * Never blocks or yields. */
KC_API int kc_sched_cancel(kc_task_t *t);

/* The process-wide id of a scheduler (0 for NULL). Never blocks. */
KC_API uint64_t kc_sched_id(const kc_sched_t *s);

/* The coroutine id of a task (kc_coro_id of its coroutine; 0 for NULL).
 * Never blocks. */
KC_API uint64_t kc_task_id(const kc_task_t *t);

/* Let the other runnable coroutines of this worker run first. Outside a
 * scheduler coroutine, yields the thread to the OS. Returns 0. Yields. */
KC_API int kc_sched_yield(void);

/* Sleep for ns nanoseconds (<= 0, KC_NO_TIMEOUT included: just yield; ns
 * is a duration, not a timeout; a huge value saturates, so only cancel ends
 * it). Works from coroutines (a timer parks the coroutine) and threads.
 * Returns 0, or -ECANCELED when cancel or the caller's scope fired first.
 * Blocks (a thread) or yields (a coroutine). */
KC_API int kc_sched_sleep(int64_t ns, const kc_cancel_t *cancel);

/* The running task, or NULL outside a scheduler coroutine. Never blocks. */
KC_API kc_task_t *kc_sched_self(void);

/* The running coroutine's id (0 outside a coroutine). Never blocks. */
KC_API uint64_t kc_sched_self_id(void);

/* The running coroutine's name, or "thread" outside one (BORROWS: valid
 * while the coroutine lives). Never blocks. */
KC_API const char *kc_sched_self_name(void);

/* The scheduler the caller runs on (a coroutine or worker of it), or NULL. */
KC_API kc_sched_t *kc_sched_current(void);

/* The index of the worker the caller runs on right now, or -1 outside a
 * worker. A coroutine may run on another worker after any yield. */
KC_API int kc_sched_worker_index(void);

/* Predicate: has the running task been cancelled (kc_sched_cancel, its
 * scope, or a cancelling shutdown)? False outside a task. Never blocks. */
KC_API bool kc_sched_is_cancelled(void);

/* Move the running coroutine to worker `worker` of its scheduler; returns
 * once it runs there. Errors: -EPERM outside a scheduler coroutine;
 * -EINVAL (no such worker). Yields. */
KC_API int kc_sched_migrate(int worker);

/* Per-worker counters, as of the snapshot. */
typedef struct kc_sched_worker_metrics {
    uint64_t executed;       /* times a coroutine was resumed */
    uint64_t steal_attempts; /* victim deques probed */
    uint64_t steals;         /* probes that took work */
    uint64_t stolen;         /* coroutines taken by those steals */
    uint64_t parks;          /* times the worker went to sleep */
    uint64_t wakeups;        /* times it was woken to look for work */
    uint64_t inject_pops;    /* coroutines taken from the global queue */
    uint64_t next_hits;      /* coroutines run from the "next" slot */
    uint64_t timer_fires;    /* timers whose callback it ran (counted as it starts) */
    uint64_t io_waits;       /* kc_io_wait calls that parked on it */
    uint64_t polls;          /* poller waits it made (blocking or not) */
    uint64_t park_switches;  /* parks that switched straight to the next local task */
} kc_sched_worker_metrics_t;

/* A scheduler snapshot. Set `size` and `worker_size` with
 * KC_SCHED_METRICS_INIT so both structs can grow. */
typedef struct kc_sched_metrics {
    uint32_t size;         /* sizeof(kc_sched_metrics_t) */
    uint32_t worker_size;  /* sizeof(kc_sched_worker_metrics_t) */
    uint32_t nworkers;     /* workers of the scheduler */
    uint32_t idle_workers; /* workers asleep right now */
    uint64_t spawned;      /* tasks ever spawned */
    uint64_t finished;     /* tasks finished */
    uint64_t live;         /* spawned and not finished */
    uint64_t inject_depth; /* tasks waiting in the global queue */
    uint64_t io_waiting;   /* coroutines parked in kc_io_wait */
    /* Added with the registry; a caller whose size ends before them gets
     * the older layout. */
    uint64_t id;   /* process-wide scheduler id */
    char name[32]; /* opts.name, or "sched-<id>" */
} kc_sched_metrics_t;

/* KC_SCHED_METRICS_INIT is the initialiser for kc_sched_metrics_t. */
#define KC_SCHED_METRICS_INIT                                                                      \
    {                                                                                              \
        sizeof(kc_sched_metrics_t), sizeof(kc_sched_worker_metrics_t), 0, 0, 0, 0, 0, 0, 0, 0,     \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

/* Take a wait-free snapshot (relaxed loads; each counter is exact, the set
 * is not one instant). Fills *out and up to max_workers entries of workers
 * (may be NULL). Returns the number of workers of s. out->size may be
 * that of the layout before id (fields beyond it are left alone).
 * Errors: -EINVAL (NULL s or out, sizes too small). Never blocks. */
KC_API int kc_sched_metrics(kc_sched_t *s, kc_sched_metrics_t *out /* INOUT */,
                            kc_sched_worker_metrics_t *workers /* OUT */, int max_workers);

/* ------------------------------------------------------------ task dump */

/* Formats of kc_sched_dump. */
typedef enum kc_sched_dump_format {
    /* One header line per scheduler, one line per task, for people. */
    KC_SCHED_DUMP_TEXT = 0,
    /* One JSON object per scheduler on one line (NDJSON), for tools. */
    KC_SCHED_DUMP_JSON = 1
} kc_sched_dump_format_t;

/* Write s's tasks to f, like Go's goroutine dump: each task's id, name,
 * state (waiting, running, runnable), what it waits on (a channel by its
 * registered name, a select and its clauses, sleep, an fd, a join, a
 * parker) and for how long, and its stack use (bytes below the saved stack
 * pointer, pages resident, size). A scheduler created with
 * KC_SCHED_REGISTER (or KCORO_REGISTRY) lists every task; another lists
 * the tasks that have waited at least once and counts the rest. Waiting
 * time runs from the first dump or kc_sched_stamp_waits that saw the wait
 * (parking reads no clock). The format is in core/docs/OBSERVABILITY.md.
 * Errors: -EINVAL (NULL, bad format); -ENOMEM; -EIO (writing to f failed).
 * Takes the task list lock only to copy the rows. Never blocks otherwise
 * (but writes to f). */
KC_API int kc_sched_dump(kc_sched_t *s, FILE *f, kc_sched_dump_format_t format);

/* kc_sched_dump for every registered scheduler. Returns how many were
 * dumped, or the first error. With KCORO_DUMP_SIGNAL=USR1 (or USR2, QUIT,
 * a number) in the environment when the first scheduler is created, that
 * signal writes this dump (text) to stderr, or appended to the file
 * KCORO_DUMP_FILE names, from a helper thread. */
KC_API int kc_sched_dump_all(FILE *f, kc_sched_dump_format_t format);

/* Mark the start of every wait of s's listed tasks that no dump has seen
 * yet, so later dumps show how long they waited; a monitor calls it
 * periodically. Returns how many waits were marked, or -EINVAL (NULL).
 * Never blocks. */
KC_API int kc_sched_stamp_waits(kc_sched_t *s);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_SCHED_H */
