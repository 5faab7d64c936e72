/* kcoro/chan_timer.h - timer channels: a tick every period, or one after a delay.
 *
 * Go's time.NewTicker / time.Tick and time.After as channels, so a select
 * waits for a tick and for other channels at once. Each is a BUFFERED
 * channel of one int64_t, the monotonic time of the tick (CLOCK_MONOTONIC,
 * nanoseconds), with Go's drop-when-full behaviour: a tick that finds the
 * last one still unread is dropped (DROP_LATEST, counted in the channel's
 * drops_latest), so a slow receiver never makes the timer wait or queue
 * ticks up. A ticker aims at whole periods after its start and skips the
 * ticks it is too late for. The ticks are sent by a timer of the
 * scheduler, from a worker; a pending tick keeps the deadlock check quiet.
 *
 *   state    event                                  next     done by
 *   -------  -------------------------------------  -------  -------------------
 *   ARMED    the period passes: send, or drop       ARMED    the scheduler
 *   ARMED    (after) the delay passes: send once    DONE     the scheduler
 *   ARMED    stop: no more ticks                    STOPPED  kc_chan_timer_stop
 *   any      destroy: stop, then free               (freed)  kc_chan_destroy
 *
 * The channel is an ordinary channel otherwise: receive, select, close,
 * snapshot. kc_chan_destroy stops the timer and releases it; destroy a
 * timer channel before its scheduler.
 */
#ifndef KCORO_CHAN_TIMER_H
#define KCORO_CHAN_TIMER_H

#include "kcoro/base.h"
#include "kcoro/chan.h"
#include "kcoro/sched.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A channel that receives a tick every period_ns, the first one period_ns
 * from now, on scheduler s (NULL: the caller's).
 * OUT *out: GIVES the channel; kc_chan_destroy() stops and frees it.
 * Errors: -EINVAL (NULL out, period_ns <= 0); -EPERM (s NULL outside a
 * scheduler); -EPIPE (s stopped); -ENOMEM. Never blocks. */
KC_API int kc_chan_ticker(kc_chan_t **out, kc_sched_t *s, int64_t period_ns);

/* A channel that receives one tick delay_ns from now (0: as soon as a
 * worker looks), on scheduler s (NULL: the caller's). It is not closed
 * afterwards, as Go's is not.
 * OUT *out: GIVES the channel. Errors: -EINVAL (NULL out, delay_ns < 0);
 * -EPERM; -EPIPE; -ENOMEM. Never blocks. */
KC_API int kc_chan_after(kc_chan_t **out, kc_sched_t *s, int64_t delay_ns);

/* Stop a timer channel: no tick is sent once this returns (one that is
 * being sent right now is waited for). Ticks already buffered stay.
 * Stopping twice is fine. Errors: -EINVAL (NULL, or not a timer channel).
 * Can block briefly (a tick being sent), never yields. */
KC_API int kc_chan_timer_stop(kc_chan_t *ch);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_CHAN_TIMER_H */
