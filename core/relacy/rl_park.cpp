/* rl_park.cpp - the parker's permit, and its race with cancellation, under
 * Relacy.
 *
 * Drives the thread side of core/src/sched/kc_park.c (kc_unpark,
 * take_permit, park_thread, wake_noperm) and the cancellation token of
 * kc_cancel.c that wakes a parked thread (kc_cancel_register,
 * kc_cancel_trigger, kc_cancel_unregister), copied by extract.pl with their
 * memory orders. The futex is the model of kc_relacy.hpp (a sleep that
 * misses its wake is a deadlock Relacy reports). Invariants checked:
 *   - no lost wake-up: every park returns (K5: a cancel that fires while
 *     the owner parks is seen, either by the owner or by the callback);
 *   - the permit is never lost nor taken twice: a park that returned 0
 *     took it (the word is not PERMIT afterwards), a cancelled park left
 *     it (the word is PERMIT), with one unpark per scenario;
 *   - a park that returned 0 sees what the unparker wrote before
 *     kc_unpark (release half of the exchange, acquire of take_permit);
 *   - the callback never runs after kc_cancel_unregister returned (C4):
 *     the owner frees the registration's parker right after.
 * The task side (park_task, kc__task_wake and the worker's commit) runs
 * through the scheduler's context switch and is not driven here.
 */
//! extract: macro:KC_NO_TIMEOUT macro:KC__DEADLINE_NEVER kc__deadline_from kc__deadline_after kc__deadline_left_at kc__deadline_left
//! extract: enum:P_IDLE enum:REG_WAITER enum:KC_CANCEL_SPINS kc__cancel_fired_sc kc_cancel_is_triggered unlink_reg
//! extract: kc_cancel_trigger kc_cancel_register kc_cancel_unregister
//! extract: wake_noperm wake_noperm_cb kc_unpark take_permit park_thread
//! mutant: unpark_rel kc_unpark:exchange:relaxed
//! mutant: take_acq take_permit:compare_exchange:relaxed
//! slack: park_waiting park_thread:&e,P_WAITING:acq_rel
//! mutant: fired_sc kc__cancel_fired_sc:&c->fired:acquire
//! mutant: trigger_sc kc_cancel_trigger:exchange_explicit(&c->fired:release
//! slack: noperm_sc wake_noperm:compare_exchange:relaxed
#include "kc_relacy.hpp"

#define KC__PARKER_THREAD 1
#define KC__PARKER_TASK 2
enum {
    KIND_THREAD = KC__PARKER_THREAD,
    KIND_TASK = KC__PARKER_TASK
};

typedef struct kc_parker {
    uint32_t size, version;
    kc_atomic<uint32_t> state;
    uint32_t kind;
    void *owner;
} kc_parker_t;

/* The futex lock, as a Relacy mutex. */
typedef struct {
    rl::mutex m;
} kc_lock_t;
static void kc__lock(kc_lock_t *l)
{
    l->m.lock($);
}
static void kc__unlock(kc_lock_t *l)
{
    l->m.unlock($);
}

typedef void (*kc_cancel_fn_t)(void *arg);
typedef struct kc_cancel kc_cancel_t;
typedef struct kc_cancel_reg {
    uint32_t size;
    kc_atomic<uint32_t> state;
    kc_cancel_fn_t fn;
    void *arg;
    struct kc_cancel_reg *prev, *next;
    struct kc_cancel *token;
    const void *runner;
} kc_cancel_reg_t;
struct kc_cancel {
    kc_atomic<uint32_t> fired;
    kc_lock_t lock;
    kc_cancel_reg_t *head;
    unsigned nregs;
    kc_atomic<uint32_t> users; /* C5: the lifetime rule's count */
};

static char kc_rl_thread_tags[8];
static const void *kc__thread_tag(void)
{
    return &kc_rl_thread_tags[rl::ctx().current_thread()];
}
static void kc__port_relax(void)
{
    rl::yield(1, $);
}
static int64_t kc__sched_now(void)
{
    return 0;
}
/* The virtual clock's hook (kc_park.c): no clock takes turns in these
 * scenarios, and the real function returns at once when none does. */
static void turn_woken(const kc_parker_t *p, uint32_t kind, void *owner)
{
    (void)p;
    (void)kind;
    (void)owner;
}
static void kc__task_wake(void *t)
{
    (void)t;
    RL_ASSERT(!"a thread parker woke a task");
}
#define kc__futex_wait(w, v, timeout) kc_rl_futex_wait((w), (uint32_t)(v))
#define kc__futex_wake(w, n) kc_rl_futex_wake(w)
static kc_cancel_t *unconst(const kc_cancel_t *c)
{
    return const_cast<kc_cancel_t *>(c);
}
kc_rl_futex *kc_rl_futex_cur;

#include "kc_relacy_gen.h"

static void parker_init(kc_parker_t *p)
{
    p->size = sizeof(*p);
    p->version = 1;
    p->state($).store(P_IDLE, rl::mo_relaxed);
    p->kind = KIND_THREAD;
    p->owner = nullptr;
}

/* Owner parks (with a token or not), one thread unparks after writing a
 * message, another fires the token. */
template <bool CANCEL, bool UNPARK = true>
struct park_test : rl::test_suite<park_test<CANCEL, UNPARK>, 3> {
    kc_rl_futex fx;
    kc_parker_t *p; /* freed by the owner after its park (C4, K3) */
    kc_cancel_t tok;
    rl::var<int> msg;
    int rc;
    uint32_t end_state;

    void before()
    {
        kc_rl_futex_cur = &fx;
        p = new kc_parker_t;
        parker_init(p);
        tok.fired($).store(0, rl::mo_relaxed);
        tok.users($).store(0, rl::mo_relaxed);
        tok.head = nullptr;
        tok.nregs = 0;
        msg($) = 0;
    }

    void thread(unsigned idx)
    {
        if (idx == 0) {
            rc = park_thread(p, -1, CANCEL ? &tok : nullptr);
            if (rc == 0)
                RL_ASSERT(msg($) == 1);
            /* A park that took the permit may free the parker at once: the
             * unparker no longer touches it, and a callback is over
             * (kc_cancel_unregister returned). A cancelled park may not:
             * the unpark is still to come. */
            if (rc == 0) {
                end_state = p->state($).load(rl::mo_relaxed);
                delete p;
                p = nullptr;
            }
        } else if (idx == 1) {
            if (!UNPARK)
                return;
            msg($) = 1;
            kc_unpark(p);
        } else if (CANCEL) {
            kc_cancel_trigger(&tok);
        }
    }

    void after()
    {
        RL_ASSERT(rc == 0 || (CANCEL && rc == -ECANCELED));
        if (rc == 0) {
            RL_ASSERT(end_state != P_PERMIT); /* taken once */
        } else {
            /* left for the next park */
            RL_ASSERT(p->state($).load(rl::mo_relaxed) == (UNPARK ? P_PERMIT : P_IDLE));
            delete p;
        }
    }
};

int main(int argc, char **argv)
{
    if (!kc_rl_select(argc, argv, kc_rl_mutant_names))
        return 2;
    bool ok = kc_rl_run<park_test<false>>("park: park vs unpark", 100000);
    ok = ok && kc_rl_run<park_test<true>>("park: park vs unpark vs cancel", 200000);
    ok = ok && kc_rl_run<park_test<true, false>>("park: park vs cancel", 200000);
    return ok ? 0 : 1;
}
