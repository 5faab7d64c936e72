/* kc_relacy_select.hpp - the world of the select scenarios' tokens: a
 * thread's parker, the waiter token, and stand-ins for what park_thread
 * calls besides its parker (no cancellation token, no clock, no task, the
 * futex as kc_relacy.hpp's).
 *
 * Shared by rl_select.cpp and rl_select_fire.cpp; include it after
 * kc_relacy.hpp and before the extracted functions (kc_relacy_gen.h).
 */
#ifndef KCORO_KC_RELACY_SELECT_HPP
#define KCORO_KC_RELACY_SELECT_HPP

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

typedef struct kc_waiter kc_waiter_t;
typedef int (*kc_waiter_cancel_fn)(kc_waiter_t *w);
typedef struct kc_waiter_owner_ops {
    void (*wake)(void *owner);
    int (*park)(void *owner, int64_t timeout_ns);
} kc_waiter_owner_ops_t;
struct kc_waiter {
    kc_atomic<int> status;
    uint8_t kind;
    kc_rl_plain<int> result; /* race-checked: the decider writes it, the owner reads it */
    void *owner;             /* the owner's parker */
    const kc_waiter_owner_ops_t *ops;
    kc_waiter_t *parent;
    kc_waiter_cancel_fn cancel;
    rl::var<int> got; /* a receive clause's landing place */
};

/* park_thread's cancellation and clock, unused here (no token). */
typedef void (*kc_cancel_fn_t)(void *arg);
typedef struct kc_cancel kc_cancel_t;
typedef struct {
    int unused;
} kc_cancel_reg_t;
static bool kc__cancel_fired_sc(const kc_cancel_t *c)
{
    return c != nullptr;
}
static int kc_cancel_register(const kc_cancel_t *, kc_cancel_reg_t *, kc_cancel_fn_t, void *)
{
    RL_ASSERT(!"no cancellation token in this test");
    return 0;
}
static int kc_cancel_unregister(kc_cancel_reg_t *)
{
    return 0;
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
kc_rl_futex *kc_rl_futex_cur;

#endif
