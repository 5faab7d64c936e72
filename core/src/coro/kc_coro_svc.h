/* kc_coro_svc.h - what the coroutine engine offers the scheduler.
 *
 * The service header of core/src/coro (module.mk): a task is a coroutine
 * with an owner, and the scheduler needs no more of a coroutine than that
 * owner, a way to create one with its argument copied onto its stack, and a
 * fatal report. The coroutine's layout stays in kc_coro_impl.h.
 */
#ifndef KCORO_KC_CORO_SVC_H
#define KCORO_KC_CORO_SVC_H

#include "kcoro/coro.h"

#include <stddef.h>

struct kc_coro;

/* KC_CORO_ARG_MAX bounds an argument copied onto a new coroutine's stack. */
#define KC_CORO_ARG_MAX ((size_t)4096)

/* kc_coro_create, but with arg_size > 0 the arg_size bytes at arg are
 * copied onto the new stack, right under the control block, and fn gets
 * the copy (aligned for any type). Errors as kc_coro_create, plus -EINVAL
 * for arg_size above KC_CORO_ARG_MAX or a NULL arg with a size. */
int kc__coro_create_copy(kc_coro_t **out, kc_coro_fn_t fn, const void *arg, size_t arg_size,
                         const kc_coro_attr_t *attr);

/* Record owner (the scheduler's task) in co. Never blocks. */
void kc__coro_set_owner(struct kc_coro *co, void *owner);

/* The owner recorded in the running coroutine, or NULL on a thread's own
 * stack. Never inlined (like kc__coro_tls): no caller keeps a thread-local
 * address across a switch. */
void *kc__coro_owner_current(void);

/* From the running coroutine (not a thread's root), pass control to
 * target, a CREATED or SUSPENDED coroutine other than the caller, which
 * inherits the caller's resumer: kc_coro_yield_to without its checks, for
 * callers that hold these conditions by construction. Returns when the
 * caller is switched to again, possibly on another thread. Never blocks. */
void kc__coro_pass_to(struct kc_coro *target);

/* Abort with a message naming co. */
void kc__coro_fatal(const struct kc_coro *co, const char *what) __attribute__((noreturn));

/* co's usable stack [*lo, *hi) and its saved stack pointer (a relaxed
 * read: meaningful while co is suspended), for the task dump. Never
 * blocks. */
void kc__coro_stack_view(const struct kc_coro *co, const uint8_t **lo /* OUT */,
                         const uint8_t **hi /* OUT */, const uint8_t **sp /* OUT */);

#endif /* KCORO_KC_CORO_SVC_H */
