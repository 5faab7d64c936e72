/* kc_sched_impl.h - internal layout of the scheduler, its workers and tasks.
 *
 * Shared by the files of core/src/sched: kc_runq.c (queues), kc_worker.c
 * (the worker loop, stealing, idle parking), kc_task.c (spawn, join, finish),
 * kc_park.c (parkers and the task park protocol), kc_timer.c (timer heaps),
 * kc_io.c (readiness waits), kc_cancel.c, kc_scope.c and kc_sched.c (create,
 * shutdown, metrics). Never installed.
 *
 * Invariants (kc__sched_check() asserts the ones it can see at rest):
 *   S1  a runnable task is in exactly one place: a worker's next slot, a
 *       deque, a worker's yield stack or inbox, or the inject queue.
 *   S2  live == tasks spawned and not finished.
 *   S3  nidle == entries in the idle stack + (poll_sleeper != NULL), and a
 *       worker's idle_pos is its index in the stack or -1.
 *   S4  a task's run state is PARKED only while its coroutine is suspended
 *       and no queue holds it; exactly one waker moves it out of PARKED.
 *   S5  no kc_lock_t is held across a context switch.
 *   S6  a worker's `pending` names a task that switched straight to another
 *       one while PARKING. Whatever runs on that worker next may commit it
 *       (kc__worker_commit_pending), and three places must: a task landing
 *       in kc__worker_park, a task about to leave its own park there, and
 *       the worker's root each time a resume returns to it, so `pending`
 *       is NULL whenever the root picks work. Until then the parked task is
 *       in no queue and resumed by nobody (a waker only marks it WOKEN).
 */
#ifndef KCORO_KC_SCHED_IMPL_H
#define KCORO_KC_SCHED_IMPL_H

#include "kcoro/cancel.h"
#include "kcoro/park.h"
#include "kcoro/sched.h"
#include "kcoro/timer.h"

#include "coro/kc_coro_svc.h"
#include "port/kc_futex.h"
#include "port/kc_poller.h"
#include "sched/kc_runq.h"
#include "sched/kc_sched_hooks.h"
#include "sched/kc_sched_svc.h"

#include <pthread.h>

/* Tuning constants (documented in core/docs/SCHEDULER.md). */
enum {
    KC_SCHED_FAIR_TICK = 61,    /* every Nth pick looks at the inject queue first */
    KC_SCHED_NEXT_STREAK = 16,  /* consecutive next-slot runs before the oldest task */
    KC_SCHED_STEAL_MAX = 32,    /* most tasks one steal takes (half, capped) */
    KC_SCHED_STEAL_ROUNDS = 2,  /* passes over the victims before parking */
    KC_SCHED_INJECT_BATCH = 32, /* most tasks taken from the inject queue at once */
    KC_SCHED_DEQUE_LOG2 = 8,    /* initial deque capacity: 256 tasks */
    KC_SCHED_SPIN_ROUNDS = 16,  /* a searcher's idle looks before it sleeps */
    KC_SCHED_SPIN_RELAX = 64,   /* pause hints between two looks */
    KC_SCHED_TASK_CACHE = 256   /* freed task records a worker keeps */
};

/* A task's scheduling state (S4), for the park protocol in kc_park.c. */
enum kc_task_run {
    KC_RUN_RUNNING = 0, /* running, runnable, or being resumed */
    KC_RUN_PARKING = 1, /* announced a park, still on its worker's stack */
    KC_RUN_PARKED = 2,  /* suspended; the one waker must enqueue it */
    KC_RUN_WOKEN = 3    /* woken while PARKING: the worker resumes it at once */
};

/* What a task asked its worker for when it switched out. */
enum kc_task_action {
    KC_ACT_NONE = 0,
    KC_ACT_YIELD = 1,  /* run the others first */
    KC_ACT_PARK = 2,   /* commit the park (PARKING -> PARKED) */
    KC_ACT_MIGRATE = 3 /* hand the task to worker migrate_to */
};

struct kc_scope;

/* A task's join word (kc_task.c); any other value is the parker of the
 * joiner that waits for the task. */
enum kc_task_join {
    KC_JOIN_RUNNING = 0,  /* not finished; the handle is out, nobody waits */
    KC_JOIN_DETACHED = 1, /* not finished; no handle (the finisher frees it) */
    KC_JOIN_FINISHED = 2, /* finished; the handle's holder frees it */
    KC_JOIN_LOOKING = 3   /* a watching joiner looks at the scheduler (the
                           * finisher waits until it stops looking) */
};

struct kc_task {
    struct kc_coro *co;
    struct kc_sched *sched;
    struct kc_task *link; /* inject / yield / inbox chains (S1) */
    _Atomic uint32_t run; /* enum kc_task_run */
    uint8_t action;       /* enum kc_task_action, set by the task */
    int16_t worker;       /* worker running it, or that ran it last */
    int16_t migrate_to;
    /* join and detach (kc_task.c): KC_JOIN_* or the waiting joiner's
     * parker, one word that the finishing task, the joiner and detach
     * change by CAS */
    _Atomic uintptr_t join;
    bool registered; /* on the scheduler's parked-task registry */
    int status;      /* written before `join` becomes KC_JOIN_FINISHED */
    /* cancellation (kc_park.c) */
    _Atomic uint32_t cancelled;
    _Atomic uint32_t interrupting;
    _Atomic(kc_parker_t *) cur_parker;
    kc_parker_t parker; /* its own, for channel waits (K6 in kc_park.c) */
    /* scope membership; guarded by the scope's lock */
    struct kc_scope *scope;
    struct kc_task *sc_prev, *sc_next;
    /* registry; guarded by sched->reg_lock */
    struct kc_task *reg_prev, *reg_next;
    /* what it waits on (kc__task_note_wait); written by the task itself,
     * read by the deadlock report once every worker is asleep and, as a
     * sample at any time, by kc_sched_dump (hence the relaxed atomic
     * accesses) */
    struct kc_ctx *ctx; /* task-local context (kc_context.c), or NULL */
    uint8_t wait_op;    /* enum kc_wait_op */
    const void *wait_obj;
    const char *wait_name;      /* the object's name, or NULL */
    _Atomic int64_t wait_since; /* when a dump first saw this wait; 0: not yet */
    /* read only for the wait kinds that set them (kc__task_note_arg) */
    const void *wait_aux; /* select: the clause array */
    int64_t wait_arg;     /* sleep deadline, fd << 8 | events, joined task's id, select's
                           * clause count */
    _Atomic(void *) turn; /* its turn (kc__task_turn_bind), or NULL; relaxed: the
                           * turn's own lock orders what it guards */
};

/* The installed turn operations (kc_sched_svc.h), or NULL. */
extern _Atomic(const struct kc__turn_ops *) kc__turns;

/* Counters written by their worker only (relaxed load + store, so no
 * read-modify-write), read by kc_sched_metrics(). */
struct kc_worker_stats {
    _Atomic uint64_t executed, steal_attempts, steals, stolen, parks, wakeups;
    _Atomic uint64_t inject_pops, next_hits, timer_fires, io_waits, polls;
    _Atomic uint64_t spawned, finished, park_switches;
};

#define KC_STAT_ADD(w, field, v)                                                                   \
    atomic_store_explicit(&(w)->st.field,                                                          \
                          atomic_load_explicit(&(w)->st.field, memory_order_relaxed) + (v),        \
                          memory_order_relaxed)

/* One entry of a timer heap: the key inline, so sifting reads no timers. */
struct kc_theap_entry {
    int64_t when;
    kc_timer_t *t;
};

/* The timer wheel in front of each heap (kc_timer.c): 6 levels of 64 slots. */
enum {
    KC_WHEEL_LEVELS = 6,
    KC_WHEEL_SLOTS = 64 * KC_WHEEL_LEVELS
};

/* One slot of the wheel: an unordered array and a bound on its deadlines. */
struct kc_wslot {
    struct kc_theap_entry *e;
    uint32_t n, cap;
    int64_t min; /* <= every e[i].when; INT64_MAX when n == 0 */
};

/* Timers started on their own worker whose deadline is not read yet
 * (kc_timer.c, "The stage"): at most this many per worker. */
enum {
    KC_TIMER_STAGE = 16
};

/* A worker's timers: a 4-ary min-heap for near deadlines and a wheel for
 * far ones, under one lock, and the stage in front of both. */
struct kc_theap {
    kc_lock_t lock;
    uint32_t n, cap;                   /* heap; guarded by lock */
    struct kc_theap_entry *e;          /* heap; guarded by lock */
    struct kc_wslot *slot;             /* KC_WHEEL_SLOTS; guarded by lock */
    uint64_t occ[KC_WHEEL_LEVELS];     /* bit s: slot 64 * level + s holds entries */
    uint32_t wn;                       /* entries in the wheel */
    int64_t elapsed;                   /* wheel tick of the latest clock reading seen */
    int64_t wnext;                     /* least min of an occupied slot, or INT64_MAX */
    uint32_t ns;                       /* staged timers; guarded by lock */
    kc_timer_t *stage[KC_TIMER_STAGE]; /* their `when` holds the delay */
    _Atomic int64_t next_when; /* min(e[0].when, wnext), 0 with staged timers; read without lock */
};

/* Worker park word values. */
enum {
    KC_PARK_AWAKE = 0,
    KC_PARK_SLEEPING = 1
};

struct kc_worker {
    struct kc_deque dq; /* own cache lines inside */
    /* owner-only fields */
    struct kc_sched *sched;
    int index;
    unsigned next_streak;
    struct kc_task *yield_top;  /* yield stack, newest first */
    struct kc_task *free_tasks; /* task cache (kc_task.c) */
    unsigned nfree_tasks;
    struct kc_task *current;
    uint64_t tick; /* picks left until the next fair look (fair_tick) */
    uint64_t rng;
    bool searching;     /* counted in sched->nsearching */
    int64_t work_seen;  /* when this searcher first saw stealable work, or 0 */
    kc_timer_t *firing; /* the timer whose callback runs */
    bool rearmed;       /* that callback started its own timer again (T4) */
    pthread_t thread;
    struct kc_task *next;    /* LIFO slot: the task just woken */
    struct kc_task *pending; /* a park to commit (S6) */
    /* written by other threads */
    _Alignas(128) _Atomic uint32_t park_word;
    int idle_pos;        /* guarded by sched->idle_lock */
    bool poll_mode;      /* guarded by sched->idle_lock */
    bool wake_searching; /* guarded by sched->idle_lock */
    kc_lock_t inbox_lock;
    struct kc_task *inbox_head, *inbox_tail; /* guarded by inbox_lock */
    _Atomic uint32_t inbox_n;
    _Alignas(128) struct kc_theap timers;
    _Alignas(128) struct kc_worker_stats st;
};

/* Scheduler states. */
enum kc_sched_state {
    KC_SCHED_RUNNING = 0,
    KC_SCHED_DRAINING = 1, /* shutdown waits for live == 0 */
    KC_SCHED_STOPPING = 2, /* workers are told to exit */
    KC_SCHED_STOPPED = 3
};

/* A thread or coroutine waiting for a count of live tasks to drain to 0
 * (run_until_idle, shutdown, scope waits): kc_drain.c. */
struct kc_idle_waiter {
    kc_parker_t p;
    struct kc_idle_waiter *next;
};

/* A scope (kc_scope.c); its membership is kept by kc_task.c. */
struct kc_scope {
    struct kc_sched *sched;
    uint32_t flags;
    kc_cancel_t *token;
    kc_cancel_reg_t reg; /* on token: interrupts the children */
    kc_lock_t lock;
    struct kc_task *children;       /* guarded by lock (SC1) */
    _Atomic int64_t live;           /* written under lock, read anywhere */
    int first_error;                /* guarded by lock (SC2) */
    struct kc_idle_waiter *waiters; /* guarded by lock */
    _Atomic int inside;             /* callers inside scope_wait (the lifetime rule) */
};

struct kc_io_slot;

struct kc_sched {
    int nworkers;
    struct kc_worker *w;    /* nworkers entries, 128-aligned */
    int64_t steal_delay_ns; /* resolved: 0 means steal at once */
    size_t stack_size;
    kc_sched_opts_t opts;
    struct kc_inject inject; /* own cache lines */
    _Alignas(128) _Atomic int nsearching;
    _Alignas(128) _Atomic int nidle;
    kc_lock_t idle_lock;
    int *idle_stack; /* guarded by idle_lock (S3) */
    int idle_n;
    struct kc_worker *poll_sleeper; /* guarded by idle_lock */
    /* I/O (kc_io.c) */
    struct kc_poller *poller;
    _Atomic int poll_owner; /* 1 while a worker is inside the poller */
    _Alignas(128) _Atomic int64_t io_waiting;
    struct kc_io_slot *_Atomic *io_chunks;
    /* lifecycle */
    _Alignas(128) _Atomic int64_t live;
    _Atomic uint64_t ext_spawned; /* spawns from outside the workers */
    _Atomic uint32_t state;       /* enum kc_sched_state */
    _Atomic int outside_wakers;   /* threads outside the scheduler inside an enqueue */
    _Atomic uint32_t cancel_all;
    _Atomic uint32_t timer_rr;
    kc_lock_t wait_lock;
    struct kc_idle_waiter *waiters; /* guarded by wait_lock */
    kc_lock_t reg_lock;
    struct kc_task *reg_head; /* guarded by reg_lock */
    /* deadlock check (kc_deadlock.c) */
    bool deadlock_check;     /* KC_SCHED_F_DEADLOCK_CHECK or KCORO_DEADLOCK=1 */
    _Atomic int64_t holds;   /* kc_sched_hold minus kc_sched_unhold */
    _Atomic int64_t outside; /* blocking calls in flight (kc_run_blocking) */
    /* observability (kc_sched_registry.c) */
    uint64_t id;
    char name[32];
    struct kc_registry_node *obs_reg; /* the registry entry, or NULL */
    bool list_all;                    /* tasks join reg_head at spawn */
    /* dumped or stamped once: its waits are noted from then on, until it
     * is freed (kc_sched_dump.c, D4) */
    _Atomic bool dump_armed;
    kc_lock_t hook_lock;
    struct kc__sched_hook *hooks; /* guarded by hook_lock (kc_sched_hooks.h) */
};

/* ---- kc_current.c */
struct kc_worker *kc__sched_worker_self(void); /* TLS accessor, never inlined */
void kc__sched_set_worker_self(struct kc_worker *w);

/* ---- kc_wake.c (the submitting half of the idle protocol) */
void kc__sched_enqueue(struct kc_task *t);   /* make a woken t runnable (S1) */
void kc__sched_submit(struct kc_task *t);    /* queue a new task (S1) */
void kc__sched_notify(struct kc_sched *s);   /* wake a searcher if needed */
void kc__worker_kick(struct kc_worker *w);   /* make w look at its inbox/timers */
void kc__sched_wake_all(struct kc_sched *s); /* shutdown: wake every worker */
/* Queue t on w's deque, or on the inject queue if the deque cannot grow. */
void kc__worker_push_local(struct kc_worker *w, struct kc_task *t);
/* kc__sched_submit from w, the calling worker, of t's scheduler. */
void kc__worker_submit(struct kc_worker *w, struct kc_task *t);
/* Put runnable t in w's next slot; a task it displaces goes to the deque,
 * and a searcher is woken for it. w is the calling worker. */
void kc__worker_enqueue_next(struct kc_worker *w, struct kc_task *t);
/* Take sleeper v off the idle structures (under idle_lock); false when v
 * was not asleep. *poll says it slept in the poller. */
bool kc__worker_take_sleeper(struct kc_sched *s, struct kc_worker *v, bool *poll);

/* ---- kc_handoff.c */
/* Count one pick; true on every KC_SCHED_FAIR_TICK-th (a countdown, so
 * the hot path has no division). */
static inline bool kc__worker_fair_tick(struct kc_worker *w)
{
    if (w->tick > 1) {
        w->tick--;
        return false;
    }
    w->tick = KC_SCHED_FAIR_TICK; /* also the first pick of a new worker (0) */
    return true;
}
/* The next local task: next slot, deque, oldest yielder. Owner only. */
struct kc_task *kc__worker_local_pick(struct kc_worker *w);
/* Commit the park of t (PARKING -> PARKED); true when t was woken meanwhile
 * and is runnable. */
bool kc__task_commit_park(struct kc_task *t);
/* Commit the park w->pending names, if any (S6). Owner only. */
void kc__worker_commit_pending(struct kc_worker *w);
/* From running task self on w: switch straight to the next local task.
 * Returns true once self runs again; false (nothing switched) when the
 * worker loop should run instead. */
bool kc__worker_yield_direct(struct kc_worker *w, struct kc_task *self);
/* Switch running task self (run == PARKING, parker WAITING) out for a
 * park: straight to the task in the next slot when there is one and the
 * fairness rules allow (the park is committed by that task, S6), else to
 * the worker loop, which commits it. Returns once self runs again. */
void kc__worker_park(struct kc_task *self);

/* ---- kc_idle.c (the sleeping half of the idle protocol) */
bool kc__worker_poll_now(struct kc_worker *w); /* poll without blocking; true: I/O woke tasks */
void kc__worker_stop_searching(struct kc_worker *w);
void kc__worker_park_idle(struct kc_worker *w);
bool kc__worker_spin_for_work(struct kc_worker *w); /* true: work appeared */

/* ---- kc_worker.c */
void *kc__worker_main(void *arg);

/* ---- kc_task.c */
/* arg_size > 0: the arg_size bytes at arg are copied onto the new stack
 * (kc__coro_create_copy) and fn gets the copy. */
int kc__task_spawn(struct kc_sched *s, struct kc_task **out, kc_coro_fn_t fn, void *arg,
                   size_t arg_size, const kc_spawn_attr_t *attr, struct kc_scope *scope);
void kc__task_finish(struct kc_worker *w, struct kc_task *t);
void kc__task_free(struct kc_task *t);
void kc__task_cache_fini(struct kc_worker *w); /* scheduler teardown */
void kc__sched_live_dec(struct kc_sched *s);
/* Scope membership (SC1-SC3 in kc_scope.c): add t to sc (0, or -ECANCELED
 * for a cancelled scope), and take a finished child off it. */
int kc__scope_add(struct kc_scope *sc, struct kc_task *t);
void kc__scope_child_done(struct kc_task *t, int status);

/* ---- kc_park.c */
/* Initialise t's own parker (kc__task_spawn). Never blocks. */
void kc__parker_init_task(kc_parker_t *p /* OUT */, struct kc_task *t);
void kc__task_wake(struct kc_task *t);       /* the one waker of a park */
void kc__task_interrupt(struct kc_task *t);  /* cancel t's parks */
void kc__task_unregister(struct kc_task *t); /* leave the registry */
void kc__task_list(struct kc_task *t);       /* join the registry (list_all spawns) */

/* ---- kc_timer.c */
int kc__theap_init(struct kc_theap *h);
void kc__theap_fini(struct kc_theap *h);
/* Arm t delay_ns from now; the deadline is read under the heap's lock. */
int kc__timer_start_after(kc_timer_t *t, struct kc_sched *s, struct kc_worker *w, int64_t delay_ns);
int kc__timer_run_due(struct kc_worker *w, int64_t now); /* returns fired count */
bool kc__timer_steal_due(struct kc_worker *thief, int64_t now);
int kc__timer_check(struct kc_worker *w); /* T1-T3, W1-W4: 0 or -EPROTO */
static inline int64_t kc__timer_next(struct kc_worker *w)
{
    return atomic_load_explicit(&w->timers.next_when, memory_order_relaxed);
}

/* ---- kc_io.c */
int kc__io_init(struct kc_sched *s);
void kc__io_fini(struct kc_sched *s);
int kc__io_poll(struct kc_sched *s, struct kc_worker *w, int64_t timeout_ns);

/* ---- kc_cancel.c */
const void *kc__thread_tag(void);               /* identifies the calling thread */
bool kc__cancel_fired_sc(const kc_cancel_t *c); /* seq_cst read of the flag */

/* ---- kc_drain.c */
/* Park until *live reads 0, registered on *head under lock meanwhile; the
 * timeout, the token or (with intr) the task's cancellation end the wait
 * early. With deadlock not NULL, the wait also ends with -EDEADLK when
 * that scheduler's deadlock check finds it stuck. Returns 0 once *live
 * read 0, else the park's error. kc__drain_wake unparks every waiter on
 * head (the caller holds the lock). The one copy of this loop, for
 * kc_sched.c and kc_scope.c. */
int kc__drain_wait(kc_lock_t *lock, struct kc_idle_waiter **head, const _Atomic int64_t *live,
                   int64_t timeout_ns, const kc_cancel_t *cancel, bool intr,
                   struct kc_sched *deadlock);
void kc__drain_wake(struct kc_idle_waiter *head);

/* ---- kc_sched_registry.c */
/* Give s its id and name and register it when opts or KCORO_REGISTRY ask:
 * 0 or -ENOMEM. Never blocks. */
int kc__sched_register(struct kc_sched *s, const kc_sched_opts_t *o);
void kc__sched_unregister(struct kc_sched *s);
/* Call every lifecycle hook with phase (kc_sched_hooks.h). */
void kc__sched_run_hooks(struct kc_sched *s, int phase);
/* The scheduler is running: start what the environment asks for
 * (KCORO_MONITOR). Never blocks. */
void kc__sched_created(struct kc_sched *s);
/* The signal KCORO_DUMP_SIGNAL names, with its handler installed (once),
 * or 0 (kc_sched_dump.c). */
int kc__sched_dump_signal(void);
/* Take back what s's first dump or stamp switched on (D4 of
 * kc_sched_dump.c); s is being freed. Never blocks. */
void kc__sched_dump_disarm(struct kc_sched *s);

/* ---- kc_sched.c */
int kc__sched_wait_idle(struct kc_sched *s, int64_t timeout_ns, const kc_cancel_t *cancel,
                        bool intr, bool deadlock);
int kc__sched_check(const struct kc_sched *s); /* 0, or abort naming the rule */

/* ---- kc_context.c */
struct kc_ctx;
/* Give child a reference to each of parent's context entries (a scope
 * child being spawned by parent). 0 or -ENOMEM (child gets nothing). */
int kc__ctx_inherit(struct kc_task *child, const struct kc_task *parent);
/* Drop t's references (its finish, or a failed spawn); destructors of
 * entries nobody else holds run here. Never blocks. */
void kc__ctx_release(struct kc_task *t);

/* ---- kc_deadlock.c */
/* A waiter's view of the deadlock check: the last quiet look at the
 * scheduler, if any. */
struct kc_deadlock_watch {
    struct kc_sched *s; /* NULL: no check for this waiter */
    bool quiet;         /* the last look found nothing that could run */
    uint64_t activity;  /* the counters' sum at that look */
};
/* Start watching s for a waiter in the calling context: off unless s has
 * the check on and the caller is not one of s's own tasks. */
void kc__deadlock_watch_init(struct kc_deadlock_watch *dw /* OUT */, struct kc_sched *s);
/* The slice a watching waiter parks for at most, given `left` (the time
 * left of its own timeout, KC_NO_TIMEOUT for none). *sliced gets whether
 * the slice is shorter than left (a -ETIME then means: look again). */
int64_t kc__deadlock_slice(const struct kc_deadlock_watch *dw, int64_t left, bool *sliced);
/* Look at the scheduler after a slice: true when it was quiet at this look
 * and the last one, with nothing done in between (then, under KCORO_DEBUG,
 * the report is printed). Never blocks. */
bool kc__deadlock_look(struct kc_deadlock_watch *dw);
/* KCORO_DEADLOCK=1 in the environment. */
bool kc__deadlock_env(void);
/* The KC_SCHED_F_* bits kc_sched_create knows. */
#define KC_SCHED_F_ALL (KC_SCHED_F_DEADLOCK_CHECK | KC_SCHED_F_SINGLE_THREAD)

/* The lifetime rule's probes (tests): the calls and registrations using a
 * token, the callers inside kc_scope_wait and kc_sched_run_until_idle. */
unsigned kc__cancel_users(const kc_cancel_t *c);
int kc__scope_waiters(struct kc_scope *sc);
int kc__sched_waiters(struct kc_sched *s);

#endif /* KCORO_KC_SCHED_IMPL_H */
