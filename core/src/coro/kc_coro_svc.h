/* kc_coro_svc.h - what the coroutine engine offers the scheduler.
 *
 * The service header of core/src/coro (module.mk): a task is a coroutine
 * with an owner, and the scheduler needs no more of a coroutine than that
 * owner and a fatal report. The coroutine's layout stays in kc_coro_impl.h.
 */
#ifndef KCORO_KC_CORO_SVC_H
#define KCORO_KC_CORO_SVC_H

struct kc_coro;

/* Record owner (the scheduler's task) in co. Never blocks. */
void kc__coro_set_owner(struct kc_coro *co, void *owner);

/* The owner recorded in the running coroutine, or NULL on a thread's own
 * stack. Never inlined (like kc__coro_tls): no caller keeps a thread-local
 * address across a switch. */
void *kc__coro_owner_current(void);

/* Abort with a message naming co. */
void kc__coro_fatal(const struct kc_coro *co, const char *what) __attribute__((noreturn));

#endif /* KCORO_KC_CORO_SVC_H */
