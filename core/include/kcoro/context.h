/* kcoro/context.h - task-local context: keys and values a task carries.
 *
 * Kotlin's CoroutineContext elements, for C: a task sets a value under a
 * key (a request id, a logger, a deadline, the state a cancelled call must
 * unwind), and any code it calls reads it back without passing it down,
 * without a side table keyed by task id. Children spawned into a scope
 * (kc_scope_spawn, kc_scope_spawn_copy, KC_GO_SCOPE) from a task inherit
 * the task's values at spawn time; a child that sets a key changes only its
 * own view. kc_sched_spawn starts a task with an empty context (Kotlin's
 * GlobalScope), and plain threads have none.
 *
 * Values are shared, not copied: each entry is reference-counted, and the
 * key's destructor runs exactly once per value set, when the last task
 * holding it has ended or replaced it (on the thread that dropped it).
 * Reads are a few loads: the running task, its entry table, the entry.
 *
 *   entry      event                                     next       done by
 *   ---------  ----------------------------------------  ---------  -----------------
 *   (none)     set(key, v)                               HELD(1)    kc_ctx_set
 *   HELD(n)    a scope child is spawned                  HELD(n+1)  kc_scope_spawn...
 *   HELD(n)    a holder sets the key again or clears it  HELD(n-1)  kc_ctx_set
 *   HELD(n)    a holder ends                             HELD(n-1)  task finish
 *   HELD(1)    the last holder lets go: dtor(v)          (freed)    whoever let go
 */
#ifndef KCORO_CONTEXT_H
#define KCORO_CONTEXT_H

#include "kcoro/base.h"

#include <stdatomic.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A value's destructor: called once with the value when nobody holds it. */
typedef void (*kc_ctx_dtor_t)(void *value);

/* KC_CTX_MAX_KEYS bounds the keys a process may use (each gets a slot the
 * first time a value is set under it). */
#define KC_CTX_MAX_KEYS 256

/* A key, allocated by the caller, usually a static variable. Initialise it
 * with KC_CTX_KEY_INIT; only `name` and `dtor` are the caller's. */
typedef struct kc_ctx_key {
    uint32_t size;       /* sizeof(kc_ctx_key_t); set by KC_CTX_KEY_INIT */
    _Atomic uint32_t id; /* private: its slot, 0 until first set */
    kc_ctx_dtor_t dtor;  /* may be NULL (nothing to free) */
    const char *name;    /* BORROWS: for diagnostics; may be NULL */
} kc_ctx_key_t;

/* KC_CTX_KEY_INIT(name, dtor) is the initialiser for a kc_ctx_key_t. */
#define KC_CTX_KEY_INIT(name, dtor)                                                                \
    {                                                                                              \
        sizeof(kc_ctx_key_t), 0, (dtor), (name)                                                    \
    }

/* Set the running task's value under key (NULL clears it). The value it
 * replaces loses this task's reference (its destructor runs now if that
 * was the last). TAKES value: key->dtor will free it once nobody holds it.
 * Errors: -EINVAL (NULL or uninitialised key); -EPERM (not in a task);
 * -ENOMEM (no memory, or more than KC_CTX_MAX_KEYS keys in the process;
 * value is not taken then). Never blocks or yields. */
KC_API int kc_ctx_set(kc_ctx_key_t *key, void *value);

/* The running task's value under key, or NULL (not set, not in a task, NULL
 * key). BORROWS: valid while the task holds it (until it sets the key again
 * or ends). Never blocks; a few loads. */
KC_API void *kc_ctx_get(const kc_ctx_key_t *key);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_CONTEXT_H */
