/* kcoro/produce.h - producer coroutines bound to the channel they fill.
 *
 * kc_produce is Kotlin's produce {}: it creates a channel, starts a
 * coroutine that sends into it, and closes the channel when that coroutine
 * returns, with its status as the close reason. Receivers take what was
 * sent, then get -EPIPE, and read how the producer ended with
 * kc_chan_close_reason(): 0 when it finished, a negative errno when it
 * failed or was cancelled.
 *
 *   producer                   channel                      receivers
 *   -------------------------  ---------------------------  ------------------------
 *   fn(ch, arg) sends           OPEN: elements flow          recv: 0
 *   fn returns status           CLOSED, reason = status      recv: 0 until drained,
 *                                                            then -EPIPE
 *   task cancelled (its send    CLOSED, reason = what fn     as above
 *   fails -ECANCELED)           returned (-ECANCELED)
 *
 * The channel belongs to the caller: destroy it once the producer has
 * closed it (a receive saw -EPIPE), or, to stop early, close it (the
 * producer's next send fails with -EPIPE) or cancel the task, and join
 * the task (ask for it with `task`) before destroying the channel.
 */
#ifndef KCORO_PRODUCE_H
#define KCORO_PRODUCE_H

#include "kcoro/base.h"
#include "kcoro/chan.h"
#include "kcoro/sched.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The body of a producer: send into out (do not close it; returning does)
 * and return 0, or a negative errno to fail. arg is the producer's own copy
 * of the argument (or NULL). */
typedef int (*kc_produce_fn_t)(kc_chan_t *out, void *arg);

/* Create a channel as opts describes and start fn(channel, copy of arg) as
 * a coroutine of s (NULL: the caller's scheduler). arg_size bytes at arg are
 * copied onto the coroutine's own stack (0: fn gets NULL). When fn returns,
 * the channel is closed with its status as the reason.
 * OUT *out: GIVES the channel (destroy it as the top of this file says).
 * OUT *task: with task non-NULL, GIVES a handle to join or detach;
 * otherwise the producer is detached.
 * Errors: -EINVAL (NULL out, opts or fn, arg_size above KC_SPAWN_ARG_MAX,
 * NULL arg with a size, bad opts), -EPERM (s NULL outside a scheduler),
 * -EPIPE (s stopped), -ENOMEM; nothing is created then. Never blocks. */
KC_API int kc_produce(kc_chan_t **out, kc_sched_t *s, const kc_chan_opts_t *opts,
                      kc_produce_fn_t fn, const void *arg, size_t arg_size, kc_task_t **task);

/* KC_PRODUCE(out, s, opts, fn, ...) is kc_produce with the argument given
 * as a value (a compound literal such as (struct gen){.from = 1}), copied
 * onto the producer's stack; the producer is detached. */
#define KC_PRODUCE(out, s, opts, fn, ...)                                                          \
    kc_produce((out), (s), (opts), (fn), &(__VA_ARGS__), sizeof(__VA_ARGS__), NULL)

#ifdef __cplusplus
}
#endif
#endif /* KCORO_PRODUCE_H */
