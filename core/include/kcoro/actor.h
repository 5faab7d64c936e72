/* kcoro/actor.h - actors: a coroutine, its mailbox and a typed handler.
 *
 * An actor owns some state and changes it only in its own coroutine, one
 * message at a time, so the state needs no lock. Messages are fixed-size
 * values copied into a bounded mailbox (a channel): kc_actor_tell sends one
 * and returns, kc_actor_ask sends one and waits for the handler's reply
 * (request-reply through a one-shot future). The actor runs as a child of
 * a scope, which supervises it: a handler that returns a negative status
 * has crashed; with KC_ACTOR_RESTART the actor re-initialises its state
 * and goes on (up to max_restarts times), with KC_ACTOR_STOP (or once the
 * restarts are used up) it stops and returns that status, which fails its
 * scope (and, with KC_SCOPE_F_CANCEL_ON_FAIL, cancels the siblings).
 *
 *   actor     event                                    next      asks waiting
 *   --------  ---------------------------------------  --------  ------------------
 *   RUNNING   message: handler returns >= 0            RUNNING   that one: its status
 *   RUNNING   handler < 0, policy RESTART, restarts    RUNNING   that one: the status
 *             left: init(state) again
 *   RUNNING   handler < 0, STOP or no restarts left    STOPPED   that one: the status;
 *                                                                 queued ones: -EPIPE
 *   RUNNING   kc_actor_stop: mailbox closed, queued    STOPPED   answered in order
 *             messages still handled
 *   RUNNING   its scope is cancelled                   STOPPED   queued ones: -EPIPE
 *   STOPPED   tell / ask                               STOPPED   -EPIPE
 *   STOPPED   kc_actor_destroy                         (freed)
 */
#ifndef KCORO_ACTOR_H
#define KCORO_ACTOR_H

#include "kcoro/base.h"
#include "kcoro/cancel.h"
#include "kcoro/scope.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque actor handle, from kc_actor_start() to kc_actor_destroy(). */
typedef struct kc_actor kc_actor_t;

/* The handler: runs in the actor's coroutine for each message. msg points
 * to the message (msg_size bytes, BORROWED for the call); reply points to
 * reply_size zeroed bytes to fill for an ask, and is NULL for a tell.
 * Returns a status >= 0 (passed to the asker), or a negative errno: a
 * crash, handled by the actor's policy. It may block and yield. */
typedef int (*kc_actor_fn_t)(void *state, const void *msg, void *reply /* OUT */);

/* (Re)initialise the state: before the first message and at every restart.
 * Returns 0, or a negative errno: the actor stops with it. */
typedef int (*kc_actor_init_fn_t)(void *state);

/* What a crash (a negative handler status) does. */
typedef enum kc_actor_policy {
    /* Stop the actor with that status: its scope sees a failing child. */
    KC_ACTOR_STOP = 0,
    /* Call init again and go on with the next message, up to max_restarts
     * times; then as KC_ACTOR_STOP. */
    KC_ACTOR_RESTART = 1
} kc_actor_policy_t;

/* KC_ACTOR_MSG_MAX bounds msg_size and reply_size (1 KiB each). */
#define KC_ACTOR_MSG_MAX ((size_t)1024)

/* Options for kc_actor_start(). Initialise with KC_ACTOR_OPTS_INIT. */
typedef struct kc_actor_opts {
    uint32_t size;            /* sizeof(kc_actor_opts_t); set by KC_ACTOR_OPTS_INIT */
    uint32_t flags;           /* reserved: 0 */
    size_t msg_size;          /* bytes per message: 1..KC_ACTOR_MSG_MAX */
    size_t reply_size;        /* bytes per reply: 0..KC_ACTOR_MSG_MAX */
    size_t mailbox;           /* messages the mailbox holds; 0: 64 */
    kc_actor_policy_t policy; /* on a crash */
    int max_restarts;         /* KC_ACTOR_RESTART: how many, >= 0 */
    kc_actor_init_fn_t init;  /* may be NULL */
    const char *name;         /* BORROWS: copied; the coroutine's name */
} kc_actor_opts_t;

/* KC_ACTOR_OPTS_INIT is the initialiser for kc_actor_opts_t: no sizes
 * (set msg_size), a mailbox of 64, KC_ACTOR_STOP. */
#define KC_ACTOR_OPTS_INIT                                                                         \
    {                                                                                              \
        sizeof(kc_actor_opts_t), 0, 0, 0, 0, KC_ACTOR_STOP, 0, NULL, NULL                          \
    }

/* Start an actor as a child of sc, handling messages with fn on state
 * (BORROWS: must outlive the actor; only the actor touches it while it
 * runs). init, when set, runs first in the actor's coroutine.
 * OUT *out: GIVES the handle; free it with kc_actor_destroy().
 * Errors: -EINVAL (NULL out, sc, opts or fn, bad sizes, policy or flags,
 * max_restarts < 0); -ECANCELED (sc was cancelled); -EPIPE; -ENOMEM.
 * Never blocks. */
KC_API int kc_actor_start(kc_actor_t **out, kc_scope_t *sc, const kc_actor_opts_t *opts,
                          kc_actor_fn_t fn, void *state);

/* Send msg (msg_size bytes, copied) and return once it is in the mailbox.
 * Errors: -EINVAL (NULL); -EPIPE (the actor stopped); -EAGAIN, -ETIME,
 * -ECANCELED (the mailbox stayed full). Can block or yield. */
KC_API int kc_actor_tell(kc_actor_t *a, const void *msg, int64_t timeout_ns,
                         const kc_cancel_t *cancel);

/* Send msg and wait for the handler's answer: its status (>= 0) is
 * returned and its reply copied to reply (reply_size bytes; may be NULL).
 * The timeout (the rule of kcoro/base.h: KC_NO_TIMEOUT no limit, 0 or any
 * other negative value no wait) and token cover both the wait for room and
 * for the answer;
 * an ask that gives up is still handled later, its answer dropped.
 * Errors: -EINVAL (NULL a or msg); -EPIPE (the actor stopped before
 * answering); the handler's negative status (it crashed on this message);
 * -EAGAIN, -ETIME, -ECANCELED; -ENOMEM. Can block or yield. */
KC_API int kc_actor_ask(kc_actor_t *a, const void *msg, void *reply /* OUT */, int64_t timeout_ns,
                        const kc_cancel_t *cancel);

/* Stop taking messages: the ones already queued are still handled, then
 * the actor ends (its coroutine returns 0). Returns 0, or -EPIPE when it
 * had stopped already. Errors: -EINVAL (NULL). Never blocks. */
KC_API int kc_actor_stop(kc_actor_t *a);

/* Times the actor restarted after a crash (0 for NULL). Never blocks. */
KC_API int kc_actor_restarts(const kc_actor_t *a);

/* Stop the actor, wait until its coroutine has ended, and free it. Returns
 * the coroutine's status: 0, or the crash status it stopped with. NULL is
 * a no-op (0). Errors: -EPERM when called from the actor itself.
 * Blocks or yields. */
KC_API int kc_actor_destroy(kc_actor_t *a);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_ACTOR_H */
