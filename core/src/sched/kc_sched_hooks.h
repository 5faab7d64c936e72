/* kc_sched_hooks.h - the scheduler's service to the modules above it: lifecycle hooks.
 *
 * A module that keeps coroutines running on a scheduler for its own
 * purpose (the monitor's listener) must end them when the scheduler shuts
 * down, or a graceful shutdown would wait for them for ever, and must let
 * go of its objects before the scheduler's memory goes. It registers a
 * hook; kc_sched_shutdown calls it with KC__SCHED_HOOK_SHUTDOWN before it
 * waits for the tasks, and the scheduler's free calls it with
 * KC__SCHED_HOOK_FREE once every task has finished. Hooks run under the
 * hook lock: they must be short, and must not add or remove hooks.
 */
#ifndef KCORO_KC_SCHED_HOOKS_H
#define KCORO_KC_SCHED_HOOKS_H

#include "kcoro/sched.h"

/* The phases a hook is called in. */
enum {
    KC__SCHED_HOOK_SHUTDOWN = 1, /* the shutdown starts: end your tasks */
    KC__SCHED_HOOK_FREE = 2      /* every task finished; the scheduler is freed next */
};

/* A hook, allocated by its owner and linked in until removed. */
struct kc__sched_hook {
    void (*fn)(kc_sched_t *s, int phase, void *arg);
    void *arg;
    struct kc__sched_hook *next; /* guarded by the scheduler's hook lock */
};

/* Link h in. Errors: -EINVAL (NULL); -EPIPE (s is shutting down).
 * Never blocks. */
int kc__sched_hook_add(kc_sched_t *s, struct kc__sched_hook *h);
/* Unlink h (no-op when it is not linked). Never blocks. */
void kc__sched_hook_remove(kc_sched_t *s, struct kc__sched_hook *h);

/* A task dump may be asked from now on (delta 1: a monitor started) or no
 * longer (-1: it stopped): tasks note what they wait on while any holder
 * says so (D4 of kc_sched_dump.c). Never blocks. */
void kc__sched_notes_hold(int delta);

#endif /* KCORO_KC_SCHED_HOOKS_H */
