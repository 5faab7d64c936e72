/* kc_coro_impl.h - internal layout of coroutines, stacks and per-thread state.
 *
 * Shared by the coroutine engine (kc_coro.c), the stack allocator
 * (kc_stack.c), the overflow reporter (kc_guard.c) and the scheduler. Never
 * installed.
 *
 * Invariants (checked by kc__coro_check()):
 *   I1  stack_lo < saved sp <= stack_hi for every suspended coroutine.
 *   I2  the control block lies inside [stack_lo, stack_hi) at its top, or
 *       the coroutine is a thread's root (stack_lo == NULL).
 *   I3  the RUNNING coroutines of a thread are its current one and the
 *       chain of resumers waiting in kc_coro_resume() below it.
 *   I4  a RUNNING coroutine has a caller to return to (its resumer); a
 *       thread's root never has one. A suspended coroutine's caller is
 *       stale and read by nobody.
 *   I5  guard_lo + guard_len == stack_lo for every coroutine with a stack.
 */
#ifndef KCORO_KC_CORO_IMPL_H
#define KCORO_KC_CORO_IMPL_H

#include "coro/kc_coro_svc.h"
#include "kcoro/coro.h"

#include <stdatomic.h>
#include <stdint.h>

/* KC_THREAD_LOCAL declares the runtime's thread-locals with the initial-exec
 * TLS model: one instruction per access instead of a __tls_get_addr call
 * under -fPIC. libkcoro.so therefore uses static TLS space; that is fine
 * when it is linked at start-up (the normal case) and may fail to dlopen
 * late in a process whose static TLS reserve is used up. */
#define KC_THREAD_LOCAL _Thread_local __attribute__((tls_model("initial-exec")))

/* The canary written at the lowest usable stack word when KCORO_DEBUG has
 * "canary" on. */
#define KC_CORO_CANARY 0x6b63c0dec0ffee5aull

/* Where a stack came from, so destroy gives it back the right way. */
enum kc_stack_origin {
    KC_STACK_NONE = 0, /* a thread's root context: no stack of ours */
    KC_STACK_POOL = 1, /* a default-size stack carved from a slab */
    KC_STACK_OWN = 2   /* mapped for this coroutine alone */
};

/* One stack: [guard_lo, guard_lo + guard_len) faults, then the usable
 * [lo, hi) with the control block at its top. */
struct kc_stack {
    uint8_t *guard_lo;
    size_t guard_len;
    uint8_t *lo;
    uint8_t *hi;
    uint8_t origin; /* enum kc_stack_origin */
};

struct kc_coro {
    void *sp;               /* saved stack pointer while not running */
    struct kc_coro *caller; /* where yield returns: the resumer (I4) */
    _Atomic uint8_t state;  /* kc_coro_state_t; atomic: destroy checks it */
    int status;             /* fn's return value once FINISHED */
    kc_coro_fn_t fn;
    void *arg;
    uint64_t id;
    struct kc_stack stack;
    void *sched;             /* owned by the scheduler, if any */
    void *asan_fake_stack;   /* ASan's fake-stack handle while suspended */
    const void *asan_bottom; /* ASan's view of this context's stack */
    size_t asan_size;
    void *tsan_fiber;     /* TSan's fiber for this context */
    unsigned vg_stack_id; /* Valgrind's id for the registered stack */
    char name[KC_CORO_NAME_MAX];
};

/* Per-thread engine state. Reached only through kc__coro_tls() (see
 * ARCHITECTURE.md section 6): a coroutine may migrate between threads, so no
 * code keeps its address across a switch. */
struct kc_coro_tls {
    struct kc_coro *current; /* running coroutine or &root */
    struct kc_coro *prev;    /* the context the last switch came from */
    struct kc_coro root;     /* the thread's own stack, as a context */
    uint64_t switches;
    bool initialised;
};

/* This thread's engine state (never inlined; includes a compiler barrier). */
struct kc_coro_tls *kc__coro_tls(void);

/* The thread's current context, or NULL before the thread used coroutines.
 * Initialises nothing, so a signal handler may call it. */
const struct kc_coro *kc__coro_tls_peek(void);

/* Stack allocation (kc_stack.c). kc__stack_alloc returns 0 or -ENOMEM. */
int kc__stack_alloc(struct kc_stack *st /* OUT */, size_t size, bool pooled);
void kc__stack_free(struct kc_stack *st);
/* The default usable size: KCORO_STACK_SIZE or KC_CORO_STACK_DEFAULT. */
size_t kc__stack_default_size(void);

/* Overflow reporting (kc_guard.c): install the SIGSEGV handler once per
 * process and an alternate signal stack once per thread. */
void kc__guard_thread_init(const struct kc_coro *(*peek)(void));
/* kc_coro_install_overflow_handler's part: take the signals over again. */
void kc__guard_take_over(void);

/* Assert invariants I1-I5 for co (debug checks call it). */
void kc__coro_check(const struct kc_coro *co);

#endif /* KCORO_KC_CORO_IMPL_H */
