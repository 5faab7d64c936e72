/* kcoro/coro.h - stackful coroutines: create, resume, yield, destroy.
 *
 * A coroutine is a function running on its own mmap'd stack with a guard page
 * below it. Control moves by explicit switches: kc_coro_resume() runs a
 * coroutine until it yields or returns; kc_coro_yield() hands control back to
 * whoever resumed it; kc_coro_yield_to() passes control sideways. These are the
 * bare engine; the scheduler (kcoro/sched.h) drives them for you.
 *
 * Lifecycle (states are kc_coro_state_t):
 *
 *   CREATED --resume--> RUNNING --yield/yield_to--> SUSPENDED --resume--> RUNNING
 *                          |                                                |
 *                          +-------------- fn returns ---------------> FINISHED
 *   destroy is allowed in CREATED, SUSPENDED and FINISHED; never in RUNNING.
 */
#ifndef KCORO_CORO_H
#define KCORO_CORO_H

#include "kcoro/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque coroutine handle. Valid from kc_coro_create() until
 * kc_coro_destroy(). */
typedef struct kc_coro kc_coro_t;

/* The body of a coroutine. Its return value becomes the coroutine's status,
 * read with kc_coro_status() once the coroutine has finished. */
typedef int (*kc_coro_fn_t)(void *arg);

/* Where a coroutine is in its lifecycle (see the table above). */
typedef enum kc_coro_state {
    /* Created and never resumed: fn has not started. */
    KC_CORO_CREATED = 0,
    /* Executing right now on some thread. */
    KC_CORO_RUNNING = 1,
    /* Yielded; resume continues it after its yield call. */
    KC_CORO_SUSPENDED = 2,
    /* fn returned; the status is final and only destroy remains. */
    KC_CORO_FINISHED = 3
} kc_coro_state_t;

/* KC_CORO_STACK_DEFAULT is the usable stack size when neither the attribute
 * nor the KCORO_STACK_SIZE environment variable sets one (64 KiB). Only the
 * pages a coroutine touches cost memory. */
#define KC_CORO_STACK_DEFAULT ((size_t)64 * 1024)

/* KC_CORO_STACK_MIN is the smallest stack accepted (16 KiB): room for a few
 * frames plus a signal frame. Smaller sizes fail with -EINVAL. */
#define KC_CORO_STACK_MIN ((size_t)16 * 1024)

/* KC_CORO_STACK_MAX is the largest stack accepted (1 GiB). Larger sizes fail
 * with -EINVAL rather than reserving absurd address space. */
#define KC_CORO_STACK_MAX ((size_t)1024 * 1024 * 1024)

/* KC_CORO_NAME_MAX bounds a coroutine name, terminator included; longer
 * names are truncated. */
#define KC_CORO_NAME_MAX 32

/* KC_CORO_F_NO_POOL gives the coroutine a stack of its own, mapped at create
 * and unmapped at destroy, instead of one from the per-thread pool. Use it
 * for rare, long-lived coroutines or to measure the unpooled cost. */
#define KC_CORO_F_NO_POOL 0x1u

/* Options for kc_coro_create(). Initialise with KC_CORO_ATTR_INIT, then set
 * what you need; `size` lets the struct grow without breaking callers. */
typedef struct kc_coro_attr {
    uint32_t size;     /* sizeof(kc_coro_attr_t); set by KC_CORO_ATTR_INIT */
    uint32_t flags;    /* KC_CORO_F_* bits */
    size_t stack_size; /* usable bytes; 0 = KCORO_STACK_SIZE or the default */
    const char *name;  /* BORROWS: copied at create; NULL = "coro-<id>" */
} kc_coro_attr_t;

/* KC_CORO_ATTR_INIT is the initialiser for kc_coro_attr_t: default stack,
 * pooled, unnamed. */
#define KC_CORO_ATTR_INIT                                                                          \
    {                                                                                              \
        sizeof(kc_coro_attr_t), 0, 0, NULL                                                         \
    }

/* Create a coroutine that will run fn(arg) on a fresh stack. It does not run
 * until resumed. attr may be NULL for defaults.
 * OUT *out: GIVES a handle; free it with kc_coro_destroy().
 * Errors: -EINVAL (NULL out or fn, attr->size too small, stack size outside
 * [KC_CORO_STACK_MIN, KC_CORO_STACK_MAX]); -ENOMEM (no memory for the stack).
 * Nothing is allocated on failure. Never blocks. */
KC_API int kc_coro_create(kc_coro_t **out, kc_coro_fn_t fn, void *arg, const kc_coro_attr_t *attr);

/* Run co on the calling thread until it yields or finishes.
 * Returns 0 when control came back through a yield, 1 when it came back
 * because a coroutine finished (with kc_coro_yield_to() in play, the
 * coroutine that hands control back may be another one than co).
 * Errors: -EINVAL (NULL); -EBUSY (co is running); -ESRCH (co finished).
 * Can block or yield: runs co, which may take any time. */
KC_API int kc_coro_resume(kc_coro_t *co);

/* Suspend the calling coroutine and return control to whoever resumed it.
 * Returns 0 once resumed again.
 * Errors: -EPERM when called outside a coroutine.
 * Yields. */
KC_API int kc_coro_yield(void);

/* Suspend the calling coroutine and switch straight to target, which takes
 * over the caller's resumer: when target yields or finishes, control goes to
 * whoever resumed the caller. Returns 0 once the caller is resumed again.
 * Errors: -EPERM (outside a coroutine); -EINVAL (NULL or target is the
 * caller); -EBUSY (target is running); -ESRCH (target finished).
 * Yields. */
KC_API int kc_coro_yield_to(kc_coro_t *target);

/* Free a coroutine that is not running: its stack returns to the pool (or
 * is unmapped) and the handle becomes invalid. A suspended coroutine is
 * dropped where it stands: nothing on its stack is unwound. NULL is a no-op.
 * Errors: -EBUSY when co is running (on any thread); nothing changes.
 * Never blocks. */
KC_API int kc_coro_destroy(kc_coro_t *co);

/* The coroutine running on the calling thread, or NULL on a plain thread
 * stack. Never blocks. */
KC_API kc_coro_t *kc_coro_self(void);

/* Predicate: is the caller running inside a coroutine? Never blocks. */
KC_API bool kc_coro_is_inside(void);

/* The coroutine's name (BORROWS: valid until destroy); "(null)" for NULL.
 * Never blocks. */
KC_API const char *kc_coro_name(const kc_coro_t *co);

/* The coroutine's process-unique id (never 0, never reused; 0 for NULL).
 * Never blocks. */
KC_API uint64_t kc_coro_id(const kc_coro_t *co);

/* The coroutine's lifecycle state (KC_CORO_FINISHED for NULL). Never
 * blocks. */
KC_API kc_coro_state_t kc_coro_state(const kc_coro_t *co);

/* The value fn returned. Errors: -EINVAL (NULL out or co); -EBUSY when co has
 * not finished yet. */
KC_API int kc_coro_status(const kc_coro_t *co, int *out /* OUT */);

/* The usable stack size of co in bytes (guard page excluded; 0 for NULL).
 * Never blocks. */
KC_API size_t kc_coro_stack_size(const kc_coro_t *co);

/* KC_CORO_GUARD_MADVISE: guard pages are madvise(MADV_GUARD_INSTALL) guards
 * (Linux 6.13+), which cost no extra memory map entries: a million guarded
 * stacks fit under the default vm.max_map_count. */
#define KC_CORO_GUARD_MADVISE 1u
/* KC_CORO_GUARD_MPROTECT: guard pages are PROT_NONE pages; each guarded stack
 * costs two map entries, so vm.max_map_count caps live coroutines near 32k. */
#define KC_CORO_GUARD_MPROTECT 2u

/* Stack allocator counters, filled by kc_coro_stack_stats(). `size` is set to
 * sizeof(kc_coro_stack_stats_t) so the struct can grow. */
typedef struct kc_coro_stack_stats {
    uint32_t size;
    uint32_t guard_mode;       /* KC_CORO_GUARD_MADVISE or _MPROTECT */
    size_t default_stack_size; /* usable bytes of a pooled stack */
    size_t guard_size;         /* bytes of guard below every stack */
    uint64_t live;             /* stacks in use now */
    uint64_t cache_hits;       /* stacks served by a thread's cache */
    uint64_t shared_hits;      /* stacks served by the process-wide list */
    uint64_t slab_maps;        /* mmap calls made for slabs of stacks */
    uint64_t own_maps;         /* mmap calls made for unpooled stacks */
    uint64_t own_unmaps;       /* munmap calls for unpooled stacks */
} kc_coro_stack_stats_t;

/* Fill *out with the stack allocator's counters (relaxed reads; exact when
 * nothing runs concurrently). NULL is ignored. Never blocks. */
KC_API void kc_coro_stack_stats(kc_coro_stack_stats_t *out /* OUT */);

/* Give the memory of idle pooled stacks back to the OS. Freed stacks stay
 * warm (their touched pages resident) in a process-wide list of up to 16384,
 * so bursts of spawns reuse them without page faults; after a burst that is
 * over for good, this releases those pages (the stacks stay mapped and are
 * reused as usual). Returns how many stacks were trimmed. Stacks in other
 * threads' small caches are not touched. Never blocks for long. */
KC_API size_t kc_coro_stack_trim(void);

/* Make sure kcoro's stack-overflow reporter handles SIGSEGV and SIGBUS.
 * kcoro installs it on first use; call this again if your program (or a
 * test framework) installed its own handler afterwards. Ours reports guard
 * hits and passes every other fault to the handler it displaced. Also gives
 * the calling thread an alternate signal stack. Never blocks. */
KC_API void kc_coro_install_overflow_handler(void);

/* How many times the calling thread switched between coroutines (both
 * directions) since it started: a cheap counter for demos and tests. */
KC_API uint64_t kc_coro_thread_switches(void);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_CORO_H */
