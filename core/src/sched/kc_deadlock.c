/* kc_deadlock.c - "all tasks are asleep": the deadlock check of join and
 * run_until_idle.
 *
 * Go's runtime knows every thread that could wake a goroutine; a C library
 * does not, so the check is opt-in (KC_SCHED_F_DEADLOCK_CHECK, or
 * KCORO_DEADLOCK=1 for every scheduler) and sees only what the scheduler
 * itself can see. A waiter in kc_sched_join or kc_sched_run_until_idle
 * that watches parks in slices of KC_DEADLOCK_SLICE_NS instead of for its
 * whole timeout, and after each slice looks at the scheduler. A look is
 * *quiet* when tasks are alive but:
 *
 *   Q1  every worker is asleep (nidle == nworkers), so no task runs;
 *   Q2  no task is queued: the inject queue, every deque and every inbox
 *       are empty (a worker sleeps only with nothing to run, so this holds
 *       with Q1 unless a wake-up is on its way);
 *   Q3  no timer is pending on any worker (a timed wait, a sleep or a
 *       ticker could still wake someone);
 *   Q4  no coroutine waits for I/O, no blocking call is in flight on a
 *       helper thread, and no thread holds the scheduler (kc_sched_hold).
 *
 * Two quiet looks in a row with the same activity counters (resumes,
 * wake-ups, spawns, timer firings: nothing happened in between) confirm
 * it: no task can run and nothing the scheduler knows of can wake one. The
 * waiter then returns -EDEADLK. Under KCORO_DEBUG it also prints the tasks
 * that ever parked (the parked-task registry of kc_park.c) and what each
 * waits on, as its last kc__task_note_wait recorded it.
 *
 * A waiting task of the same scheduler is never a watcher: its own wait
 * keeps a worker busy or a timer pending, so it could never see Q1-Q3.
 */
#include "sched/kc_sched_impl.h"

#include "base/kc_debug.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long a watching waiter parks between two looks. */
#define KC_DEADLOCK_SLICE_NS ((int64_t)5 * 1000 * 1000)

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

_Atomic int kc__deadlock_watched;

bool kc__deadlock_env(void)
{
    const char *v = getenv("KCORO_DEADLOCK");
    return v != NULL && strcmp(v, "1") == 0;
}

void kc__deadlock_watch_init(struct kc_deadlock_watch *dw, struct kc_sched *s)
{
    dw->s = NULL;
    dw->quiet = false;
    dw->activity = 0;
    if (s == NULL || !s->deadlock_check)
        return;
    struct kc_task *self = kc__task_self();
    if (self != NULL && self->sched == s)
        return; /* see the top of the file */
    dw->s = s;
}

int64_t kc__deadlock_slice(const struct kc_deadlock_watch *dw, int64_t left, bool *sliced)
{
    *sliced = false;
    if (dw->s == NULL || (left >= 0 && left <= KC_DEADLOCK_SLICE_NS))
        return left;
    *sliced = true;
    return KC_DEADLOCK_SLICE_NS;
}

/* Q1-Q4 at one look; *activity gets the sum of the activity counters. */
static bool quiet(struct kc_sched *s, uint64_t *activity)
{
    /* seq_cst: the counters below are read after the sleepers are counted */
    if (atomic_load_explicit(&s->live, memory_order_seq_cst) <= 0 ||
        atomic_load_explicit(&s->nidle, memory_order_seq_cst) != s->nworkers)
        return false; /* Q1 */
    if (kc__inject_len(&s->inject) != 0 || LOAD(s->io_waiting) != 0 || LOAD(s->holds) != 0 ||
        LOAD(s->outside) != 0)
        return false; /* Q2, Q4 */
    uint64_t sum = LOAD(s->ext_spawned);
    for (int i = 0; i < s->nworkers; i++) {
        struct kc_worker *w = &s->w[i];
        if (kc__deque_size(&w->dq) != 0 || LOAD(w->inbox_n) != 0)
            return false; /* Q2 */
        if (kc__timer_next(w) != INT64_MAX)
            return false; /* Q3 */
        sum += LOAD(w->st.executed) + LOAD(w->st.wakeups) + LOAD(w->st.spawned) +
               LOAD(w->st.finished) + LOAD(w->st.timer_fires);
    }
    *activity = sum;
    return true;
}

static const char *op_name(unsigned op)
{
    switch (op) {
    case KC_WAIT_PARK:
        return "kc_park on parker";
    case KC_WAIT_SEND:
        return "send on channel";
    case KC_WAIT_RECV:
        return "receive on channel";
    case KC_WAIT_SELECT:
        return "select, first clause on channel";
    case KC_WAIT_JOIN:
        return "join of task";
    case KC_WAIT_SCOPE:
        return "wait for the children of scope";
    case KC_WAIT_BLOCKING:
        return "blocking call on pool";
    case KC_WAIT_SLEEP:
        return "sleep";
    case KC_WAIT_FD:
        return "fd readiness";
    case KC_WAIT_IDLE:
        return "run_until_idle of scheduler";
    default:
        return "a wait of its own at";
    }
}

/* The report: one line for the scheduler, one per task that ever parked. */
static void report(struct kc_sched *s)
{
    long long live = (long long)LOAD(s->live);
    fprintf(stderr,
            "kcoro: deadlock: scheduler %p: %lld task(s) alive, all asleep, and nothing can "
            "wake them (no runnable task, timer, I/O wait or blocking call)\n",
            (void *)s, live);
    kc__lock(&s->reg_lock);
    for (struct kc_task *t = s->reg_head; t != NULL; t = t->reg_next) {
        const char *name = t->wait_name != NULL && t->wait_name[0] != '\0' ? t->wait_name : "";
        fprintf(stderr, "kcoro:   task %llu '%s': %s %p%s%s%s",
                (unsigned long long)kc_coro_id(t->co), kc_coro_name(t->co), op_name(t->wait_op),
                t->wait_obj, name[0] ? " '" : "", name, name[0] ? "'" : "");
        if (t->wait_op == KC_WAIT_SELECT)
            fprintf(stderr, " (%lld clauses)", (long long)t->wait_arg);
        fputc('\n', stderr);
    }
    kc__unlock(&s->reg_lock);
}

bool kc__deadlock_look(struct kc_deadlock_watch *dw)
{
    if (dw->s == NULL)
        return false;
    uint64_t act = 0;
    if (!quiet(dw->s, &act)) {
        dw->quiet = false;
        return false;
    }
    if (!dw->quiet || act != dw->activity) {
        dw->quiet = true; /* the first quiet look, or something happened since */
        dw->activity = act;
        return false;
    }
    kc__debug_log("sched %p: deadlock confirmed", (void *)dw->s);
    if ((kc__debug() & ~KC_DEBUG_LOADED) != 0)
        report(dw->s);
    return true;
}

int kc_sched_hold(kc_sched_t *s)
{
    if (s == NULL)
        return -EINVAL;
    atomic_fetch_add_explicit(&s->holds, 1, memory_order_seq_cst);
    return 0;
}

int kc_sched_unhold(kc_sched_t *s)
{
    if (s == NULL)
        return -EINVAL;
    int64_t h = atomic_load_explicit(&s->holds, memory_order_relaxed);
    do {
        if (h <= 0)
            return -EINVAL;
    } while (!atomic_compare_exchange_weak_explicit(&s->holds, &h, h - 1, memory_order_seq_cst,
                                                    memory_order_relaxed));
    return 0;
}
