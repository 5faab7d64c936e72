/* kc_coro.c - the coroutine engine: create, resume, yield, yield_to, destroy.
 *
 * Owns the coroutine lifecycle and every context switch. A coroutine's control
 * block lives at the top of its own stack, so a parked coroutine costs one
 * touched page. Switches are annotated for ASan, TSan and Valgrind so those
 * tools follow execution across stacks. This file never blocks and never
 * takes a lock; the scheduler decides who runs where.
 *
 * Lifecycle (kc_coro_state_t):
 *
 *   state      event                          next        done by
 *   ---------  -----------------------------  ----------  -----------------
 *   CREATED    resumed                        RUNNING     kc_coro_resume
 *   CREATED    target of yield_to             RUNNING     kc_coro_yield_to
 *   RUNNING    yields                         SUSPENDED   kc_coro_yield
 *   RUNNING    passes control sideways        SUSPENDED   kc_coro_yield_to
 *   RUNNING    fn returns                     FINISHED    kc__coro_main
 *   SUSPENDED  resumed / target of yield_to   RUNNING     kc_coro_resume
 *   CREATED,
 *   SUSPENDED,
 *   FINISHED   destroyed                      (freed)     kc_coro_destroy
 *
 * A coroutine that resumed another one stays RUNNING while it waits inside
 * kc_coro_resume(): it is on the thread's chain of active contexts, so it can
 * be neither resumed nor destroyed until control comes back to it.
 */
#include "coro/kc_coro_impl.h"

#include "arch/kc_arch.h"
#include "base/kc_debug.h"
#include "port/kc_port_san.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static KC_THREAD_LOCAL struct kc_coro_tls tls;
static atomic_uint_fast64_t next_id;

/* Ids are handed to each thread in blocks of KC_CORO_ID_BLOCK, so a create
 * takes one without a locked instruction: unique, never 0, never reused,
 * consecutive within a thread's block. */
enum {
    KC_CORO_ID_BLOCK = 1024
};
struct id_block {
    uint64_t next, end; /* the last id given, the block's last */
};
static KC_THREAD_LOCAL struct id_block ids;

/* Through a barrier, as every thread-local here (ARCHITECTURE.md section 6). */
__attribute__((noinline)) static uint64_t take_id(void)
{
    struct id_block *b = &ids;
    __asm__ volatile("" : "+r"(b)::"memory");
    if (__builtin_expect(b->next == b->end, 0)) {
        b->next = atomic_fetch_add_explicit(&next_id, KC_CORO_ID_BLOCK, memory_order_relaxed);
        b->end = b->next + KC_CORO_ID_BLOCK;
    }
    return ++b->next;
}

static void thread_init(struct kc_coro_tls *t)
{
    t->root.state = KC_CORO_RUNNING;
    t->root.id = 0;
    snprintf(t->root.name, sizeof(t->root.name), "%s", "thread");
    t->root.tsan_fiber = kc__san_fiber_current();
    t->current = &t->root;
    t->initialised = true;
    kc__guard_thread_init(kc__coro_tls_peek);
}

/* ARCHITECTURE.md section 6: never inlined, and the empty asm hides the
 * address from the optimiser, so no caller keeps &tls across a switch that
 * might move it to another thread. */
__attribute__((noinline)) struct kc_coro_tls *kc__coro_tls(void)
{
    struct kc_coro_tls *t = &tls;
    __asm__ volatile("" : "+r"(t)::"memory");
    if (__builtin_expect(!t->initialised, 0))
        thread_init(t);
    return t;
}

/* The inline form, for resume, yield and yield_to only: each of them reads
 * thread state before its switch and nothing after it (the switch is their
 * tail call), so no thread-local address can be carried across a switch.
 * It does not initialise: callers check t->initialised. */
static inline struct kc_coro_tls *tls_before_switch(void)
{
    return &tls;
}

__attribute__((noinline, cold)) static void thread_init_cold(struct kc_coro_tls *t)
{
    thread_init(t);
}

/* kc_coro_svc.h: the scheduler's kc__task_self, in one call. The first
 * call of a thread initialises it out of line (and finds it on its own
 * stack, so without an owner): the common path saves no registers. */
__attribute__((noinline)) void *kc__coro_owner_current(void)
{
    struct kc_coro_tls *t = &tls;
    __asm__ volatile("" : "+r"(t)::"memory");
    if (__builtin_expect(!t->initialised, 0)) {
        thread_init_cold(t);
        return NULL;
    }
    struct kc_coro *co = t->current;
    return co != &t->root ? co->sched : NULL;
}

void kc__coro_set_owner(struct kc_coro *co, void *owner)
{
    co->sched = owner;
}

__attribute__((noinline)) const struct kc_coro *kc__coro_tls_peek(void)
{
    struct kc_coro_tls *t = &tls;
    __asm__ volatile("" : "+r"(t)::"memory");
    return t->initialised ? t->current : NULL;
}

static inline kc_coro_state_t state_of(const struct kc_coro *co)
{
    return (kc_coro_state_t)atomic_load_explicit(&co->state, memory_order_relaxed);
}

static inline void set_state(struct kc_coro *co, kc_coro_state_t s)
{
    atomic_store_explicit(&co->state, (uint8_t)s, memory_order_relaxed);
}

void kc__coro_fatal(const struct kc_coro *co, const char *what)
{
    fprintf(stderr, "kcoro: fatal: %s in coroutine '%s' (id %llu), stack [%p, %p)\n", what,
            co->name, (unsigned long long)co->id, (void *)co->stack.lo, (void *)co->stack.hi);
    abort();
}

void kc__coro_check(const struct kc_coro *co)
{
    if (co->stack.origin == KC_STACK_NONE)
        return;
    const uint8_t *sp = co->sp;
    kc_coro_state_t s = state_of(co);
    if (s != KC_CORO_RUNNING && (sp <= co->stack.lo || sp > (const uint8_t *)co))
        kc__coro_fatal(co, "I1: saved stack pointer outside the stack");
    if ((const uint8_t *)co < co->stack.lo || (const uint8_t *)(co + 1) > co->stack.hi)
        kc__coro_fatal(co, "I2: control block outside its stack");
    if (co->stack.guard_lo + co->stack.guard_len != co->stack.lo)
        kc__coro_fatal(co, "I5: guard region not below the stack");
}

/* The KCORO_DEBUG checks, run on both sides of every switch when enabled. */
static void debug_checks(const struct kc_coro *from, const struct kc_coro *to, unsigned bits)
{
    if (bits & KC_DEBUG_CANARY) {
        if (from->stack.origin != KC_STACK_NONE &&
            *(const uint64_t *)(const void *)from->stack.lo != KC_CORO_CANARY)
            kc__coro_fatal(from, "stack canary overwritten (stack overflow)");
        if (to->stack.origin != KC_STACK_NONE &&
            *(const uint64_t *)(const void *)to->stack.lo != KC_CORO_CANARY)
            kc__coro_fatal(to, "stack canary overwritten (stack overflow)");
    }
    if (bits & KC_DEBUG_SP) {
        const uint8_t *here = __builtin_frame_address(0);
        if (from->stack.origin != KC_STACK_NONE &&
            (here < from->stack.lo || here >= from->stack.hi))
            kc__coro_fatal(from, "stack pointer outside the coroutine's stack");
        kc__coro_check(to);
    }
}

/* Switch from `from` (running) to `to`, handing `value` to it: the call
 * that suspended `to` returns it. Returns, in `from` and possibly on another
 * thread, the value handed over by whoever switches back. `dying` marks the
 * last switch of a finished coroutine, whose ASan fake stack can go.
 * Outside ASan builds the switch is the tail call of every caller, so no
 * return instruction separates two contexts (see kc_arch.h). */
/* After a switch lands (ASan builds): finish ASan's switch and keep the
 * bounds it reports for the context we came from when that is a thread's
 * root, whose bounds we cannot know otherwise. */
static void landed(void *fake)
{
    struct kc_coro *prev = kc__coro_tls()->prev;
    const void *bottom = NULL;
    size_t size = 0;
    kc__san_finish_switch(fake, &bottom, &size);
    if (prev != NULL && prev->stack.origin == KC_STACK_NONE) {
        prev->asan_bottom = bottom;
        prev->asan_size = size;
    }
}

static inline int switch_now(struct kc_coro_tls *t, struct kc_coro *from, struct kc_coro *to,
                             int value, bool dying)
{
    t->current = to;
    if (KC_ASAN)
        t->prev = from; /* only ASan's finish hook reads it */
    t->switches++;
    kc__san_start_switch(dying ? NULL : &from->asan_fake_stack, to->asan_bottom, to->asan_size,
                         to->tsan_fiber);
#if KC_ASAN
    int got = kc__ctx_switch(&from->sp, to->sp, value);
    landed(from->asan_fake_stack);
    return got;
#else
    return kc__ctx_switch(&from->sp, to->sp, value);
#endif
}

/* The switch with KCORO_DEBUG checks first (and KCORO_DEBUG read if it was
 * not yet). Out of line, so the fast path below makes no call but its final
 * tail call and needs no saved registers. */
__attribute__((noinline)) static int switch_checked(struct kc_coro_tls *t, struct kc_coro *from,
                                                    struct kc_coro *to, int value, bool dying)
{
    unsigned bits = kc__debug();
    if (bits & (KC_DEBUG_CANARY | KC_DEBUG_SP))
        debug_checks(from, to, bits);
    return switch_now(t, from, to, value, dying);
}

static inline int switch_to(struct kc_coro_tls *t, struct kc_coro *from, struct kc_coro *to,
                            int value, bool dying)
{
    /* one byte, one test: KCORO_DEBUG not read yet or asking for checks */
    if (__builtin_expect(!atomic_load_explicit(&kc__debug_switch_fast, memory_order_relaxed), 0))
        return switch_checked(t, from, to, value, dying);
    return switch_now(t, from, to, value, dying);
}

/* Values handed over by a switch: resume returns them. */
enum {
    HANDOFF_YIELDED = 0,
    HANDOFF_FINISHED = 1
};

void kc__coro_main(void *arg)
{
    struct kc_coro *co = arg;
    if (KC_ASAN)
        landed(NULL);
    co->status = co->fn(co->arg);

    struct kc_coro_tls *t = kc__coro_tls();
    struct kc_coro *to = co->caller;
    co->caller = NULL;
    set_state(co, KC_CORO_FINISHED);
    switch_to(t, co, to, HANDOFF_FINISHED, true);
    kc__coro_fatal(co, "a finished coroutine was resumed");
}

static int attr_read(const kc_coro_attr_t *attr, size_t *size, uint32_t *flags, const char **name)
{
    *size = kc__stack_default_size();
    *flags = 0;
    *name = NULL;
    if (attr == NULL)
        return 0;
    if (attr->size < sizeof(kc_coro_attr_t))
        return -EINVAL;
    if (attr->flags & ~KC_CORO_F_NO_POOL)
        return -EINVAL;
    if (attr->stack_size != 0) {
        if (attr->stack_size < KC_CORO_STACK_MIN || attr->stack_size > KC_CORO_STACK_MAX)
            return -EINVAL;
        *size = attr->stack_size;
    }
    *flags = attr->flags;
    *name = attr->name;
    return 0;
}

/* "coro-<id>" without snprintf, which cost a fifth of a spawn: two digits
 * per division, written backwards to the middle of a buffer whose zeroed
 * second half lets one fixed-size copy take the name and its terminator. */
static void default_name(char *dst, uint64_t id)
{
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
                                   "25262728293031323334353637383940414243444546474849"
                                   "50515253545556575859606162636465666768697071727374"
                                   "75767778798081828384858687888990919293949596979899";
    char buf[2 * KC_CORO_NAME_MAX];
    char *p = buf + KC_CORO_NAME_MAX;
    memset(p, 0, KC_CORO_NAME_MAX);
    while (id >= 100) {
        unsigned r = (unsigned)(id % 100);
        id /= 100;
        p -= 2;
        memcpy(p, pairs + 2 * r, 2);
    }
    if (id >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * id, 2);
    } else
        *--p = (char)('0' + id);
    p -= 5; /* at most 25 bytes below the middle: the copy stays inside buf */
    memcpy(p, "coro-", 5);
    memcpy(dst, p, KC_CORO_NAME_MAX);
}

int kc_coro_create(kc_coro_t **out, kc_coro_fn_t fn, void *arg, const kc_coro_attr_t *attr)
{
    return kc__coro_create_copy(out, fn, arg, 0, attr);
}

int kc__coro_create_copy(kc_coro_t **out, kc_coro_fn_t fn, const void *arg, size_t arg_size,
                         const kc_coro_attr_t *attr)
{
    size_t size;
    uint32_t flags;
    const char *name;
    struct kc_stack st;

    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (fn == NULL)
        return -EINVAL;
    int rc = attr_read(attr, &size, &flags, &name);
    if (rc < 0)
        return rc;
    if (arg_size > KC_CORO_ARG_MAX || (arg_size > 0 && arg == NULL))
        return -EINVAL;
    bool pooled = !(flags & KC_CORO_F_NO_POOL) && size == kc__stack_default_size();
    rc = kc__stack_alloc(&st, size, pooled);
    if (rc < 0)
        return rc;

    /* The control block sits at the top of the stack, cache-line aligned. */
    uintptr_t top = ((uintptr_t)st.hi - sizeof(struct kc_coro)) & ~(uintptr_t)63;
    struct kc_coro *co = (struct kc_coro *)top;
    memset(co, 0, sizeof(*co));
    co->stack = st;
    co->fn = fn;
    co->arg = (void *)(uintptr_t)arg;
    uintptr_t below = top; /* where the first frame goes */
    if (arg_size > 0) {    /* the argument's copy: right under the control block */
        below = (top - arg_size) & ~(uintptr_t)(_Alignof(max_align_t) - 1);
        memcpy((void *)below, arg, arg_size);
        co->arg = (void *)below;
    }
    co->id = take_id();
    if (name != NULL) { /* truncated as snprintf would, at a fraction of its cost */
        size_t n = strnlen(name, sizeof(co->name) - 1);
        memcpy(co->name, name, n);
        co->name[n] = '\0';
    } else
        default_name(co->name, co->id);
    co->sp = kc__ctx_make((void *)below, co);
    if (kc__debug() & KC_DEBUG_CANARY)
        *(uint64_t *)(void *)st.lo = KC_CORO_CANARY;
    co->asan_bottom = st.lo;
    co->asan_size = (size_t)(st.hi - st.lo);
    co->tsan_fiber = kc__san_fiber_create();
    co->vg_stack_id = kc__san_stack_register(st.lo, st.hi);
    set_state(co, KC_CORO_CREATED);
    *out = co;
    return 0;
}

/* The thread's first resume: set the thread up, then resume. */
__attribute__((noinline)) static int resume_first(kc_coro_t *co)
{
    kc__coro_tls();
    return kc_coro_resume(co);
}

/* resume, yield and yield_to are never inlined, not even by the library's
 * link-time optimisation: each reads the thread's state before its switch
 * (tls_before_switch), and inlined into a caller that switches twice, that
 * address could be reused after the first switch moved it to another
 * thread (ARCHITECTURE.md section 6). */
/* RUNNING and FINISHED are the two odd states: one test refuses both
 * targets, and the refusal (which error) is worked out off the fast path. */
_Static_assert((KC_CORO_RUNNING & 1) && (KC_CORO_FINISHED & 1) && !(KC_CORO_CREATED & 1) &&
                   !(KC_CORO_SUSPENDED & 1),
               "kc_coro_state_t: the states a switch refuses are the odd ones");

__attribute__((noinline, cold)) static int refused(kc_coro_state_t s)
{
    return s == KC_CORO_RUNNING ? -EBUSY : -ESRCH;
}

__attribute__((noinline)) int kc_coro_resume(kc_coro_t *co)
{
    if (co == NULL)
        return -EINVAL;
    kc_coro_state_t s = state_of(co);
    if (__builtin_expect(s & 1, 0))
        return refused(s);

    struct kc_coro_tls *t = tls_before_switch();
    if (__builtin_expect(!t->initialised, 0))
        return resume_first(co);
    struct kc_coro *from = t->current;
    co->caller = from;
    set_state(co, KC_CORO_RUNNING);
    return switch_to(t, from, co, HANDOFF_YIELDED, false);
}

/* A thread's root never has a caller, and every other running context has
 * one (I4): one test of the caller refuses a yield from the root. The
 * caller is left as it is, stale while the coroutine is suspended (only a
 * running context's caller means anything; resume writes it again). */
__attribute__((noinline)) int kc_coro_yield(void)
{
    struct kc_coro_tls *t = tls_before_switch();
    struct kc_coro *self = t->current;
    if (__builtin_expect(self == NULL, 0)) /* thread never set up */
        return -EPERM;
    struct kc_coro *to = self->caller;
    if (__builtin_expect(to == NULL, 0)) /* the thread's root */
        return -EPERM;
    set_state(self, KC_CORO_SUSPENDED);
    return switch_to(t, self, to, HANDOFF_YIELDED, false);
}

__attribute__((noinline)) int kc_coro_yield_to(kc_coro_t *target)
{
    struct kc_coro_tls *t = tls_before_switch();
    struct kc_coro *self = t->current;
    if (self == NULL || self == &t->root)
        return -EPERM;
    if (target == NULL || target == self)
        return -EINVAL;
    kc_coro_state_t s = state_of(target);
    if (__builtin_expect(s & 1, 0))
        return refused(s);
    target->caller = self->caller;
    self->caller = NULL;
    set_state(self, KC_CORO_SUSPENDED);
    set_state(target, KC_CORO_RUNNING);
    return switch_to(t, self, target, HANDOFF_YIELDED, false);
}

/* kc_coro_svc.h: kc_coro_yield_to without the API's checks, which the
 * scheduler's callers satisfy by construction; KCORO_DEBUG=sp checks the
 * target's invariants on the way (switch_checked). */
__attribute__((noinline)) void kc__coro_pass_to(struct kc_coro *target)
{
    struct kc_coro_tls *t = tls_before_switch();
    struct kc_coro *self = t->current;
    target->caller = self->caller;
    self->caller = NULL;
    set_state(self, KC_CORO_SUSPENDED);
    set_state(target, KC_CORO_RUNNING);
    switch_to(t, self, target, HANDOFF_YIELDED, false);
}

int kc_coro_destroy(kc_coro_t *co)
{
    if (co == NULL)
        return 0;
    if (state_of(co) == KC_CORO_RUNNING)
        return -EBUSY;
    struct kc_stack st = co->stack; /* co lives on the stack we free */
    kc__san_fiber_destroy(co->tsan_fiber);
    kc__san_stack_deregister(co->vg_stack_id);
    kc__san_unpoison(st.lo, (size_t)(st.hi - st.lo));
    kc__stack_free(&st);
    return 0;
}

kc_coro_t *kc_coro_self(void)
{
    struct kc_coro_tls *t = kc__coro_tls();
    return t->current == &t->root ? NULL : t->current;
}

bool kc_coro_is_inside(void)
{
    return kc_coro_self() != NULL;
}

const char *kc_coro_name(const kc_coro_t *co)
{
    return co ? co->name : "(null)";
}

uint64_t kc_coro_id(const kc_coro_t *co)
{
    return co ? co->id : 0;
}

kc_coro_state_t kc_coro_state(const kc_coro_t *co)
{
    return co ? state_of(co) : KC_CORO_FINISHED;
}

int kc_coro_status(const kc_coro_t *co, int *out)
{
    if (co == NULL || out == NULL)
        return -EINVAL;
    if (state_of(co) != KC_CORO_FINISHED)
        return -EBUSY;
    *out = co->status;
    return 0;
}

size_t kc_coro_stack_size(const kc_coro_t *co)
{
    return co ? (size_t)(co->stack.hi - co->stack.lo) : 0;
}

uint64_t kc_coro_thread_switches(void)
{
    return kc__coro_tls()->switches;
}

void kc_coro_install_overflow_handler(void)
{
    kc__guard_take_over();
    kc__guard_thread_init(kc__coro_tls_peek);
}

void kc__coro_stack_view(const struct kc_coro *co, const uint8_t **lo, const uint8_t **hi,
                         const uint8_t **sp)
{
    *lo = co->stack.lo;
    *hi = co->stack.hi;
    *sp = __atomic_load_n(&co->sp, __ATOMIC_RELAXED);
}
