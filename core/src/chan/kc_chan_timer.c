/* kc_chan_timer.c - timer channels: Go's time.Tick and time.After.
 *
 * A timer channel is a BUFFERED channel of one int64_t (the monotonic time
 * of the tick, CLOCK_MONOTONIC nanoseconds) with the DROP_LATEST policy:
 * as with Go's tickers, a tick that finds the last one still unread is
 * dropped, so a slow receiver never makes the ticker wait or queue up.
 * A kc_timer of the scheduler sends the ticks from a worker (a try-send
 * under the channel's lock, which never blocks) and, for a ticker, arms
 * itself again for the next multiple of the period after the start (ticks
 * that would already be due are skipped, not sent in a burst).
 *
 *   state    event                                   next     done by
 *   -------  --------------------------------------  -------  -------------------
 *   ARMED    the period passes: send (or drop)       ARMED    the timer callback
 *   ARMED    (after) the delay passes: send once     DONE     the timer callback
 *   ARMED    stop: no more ticks                     STOPPED  kc_chan_timer_stop
 *   any      destroy: stop, then free                (freed)  kc_chan_destroy
 *
 * Stopping: `stopping` is set first, then the timer is stopped until it is
 * neither pending nor firing; a callback that read `stopping` before it was
 * set may have armed the timer again, which the next stop removes, and one
 * that reads it after arms nothing. So once kc_chan_timer_stop returns no
 * callback runs or will run, and the tick record can go.
 */
#include "chan/kc_chan_impl.h"

#include "kcoro/chan_timer.h"
#include "kcoro/timer.h"
#include "sched/kc_sched_svc.h"

#include <stdlib.h>

struct kc_chan_tick {
    kc_timer_t tm;
    kc_sched_t *sched;
    kc_chan_t *ch;
    int64_t period; /* 0: one shot (kc_chan_after) */
    int64_t start;  /* when it was started, monotonic ns */
    uint64_t n;     /* ticks due so far */
    _Atomic uint32_t stopping;
};

static void tick(void *arg)
{
    struct kc_chan_tick *tk = arg;
    int64_t now = kc__sched_now();
    /* a try-send (DROP_LATEST: 0 even when dropped), straight to the path
     * kc_chan_try_send takes for a plain copy channel */
    int rc = kc__chan_transfer(tk->ch, true, &now, 0, NULL);
    (void)rc;
    if (tk->period == 0)
        return;
    /* seq_cst: against the store in kc_chan_timer_stop (see the top) */
    if (atomic_load_explicit(&tk->stopping, memory_order_seq_cst))
        return;
    /* the next multiple of the period after now; late ticks are skipped */
    uint64_t due = (uint64_t)((now - tk->start) / tk->period) + 1;
    tk->n = due > tk->n + 1 ? due : tk->n + 1;
    int64_t next = tk->start + (int64_t)tk->n * tk->period;
    (void)kc_timer_start(&tk->tm, tk->sched, next - now);
}

/* Create the channel and its timer, armed delay_ns from now. */
static int timer_chan(kc_chan_t **out, kc_sched_t *s, int64_t delay_ns, int64_t period_ns,
                      const char *name)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (delay_ns < 0)
        return -EINVAL;
    if (s == NULL && (s = kc_sched_current()) == NULL)
        return -EPERM;
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = 1;
    o.policy = KC_CHAN_DROP_LATEST;
    o.elem_size = sizeof(int64_t);
    o.name = name;
    kc_chan_t *ch = NULL;
    int rc = kc__chan_new(&ch, &o);
    if (rc < 0)
        return rc;
    struct kc_chan_tick *tk = calloc(1, sizeof(*tk));
    if (tk == NULL) {
        kc__chan_free(ch); /* nothing waits on it yet */
        return -ENOMEM;
    }
    tk->sched = s;
    tk->ch = ch;
    tk->period = period_ns;
    tk->start = kc__sched_now();
    kc_timer_init(&tk->tm, tick, tk);
    ch->tick = tk;
    rc = kc_timer_start(&tk->tm, s, delay_ns);
    if (rc < 0) {
        ch->tick = NULL;
        free(tk);
        kc__chan_free(ch); /* nothing waits on it yet */
        return rc;
    }
    *out = ch;
    return 0;
}

int kc_chan_ticker(kc_chan_t **out, kc_sched_t *s, int64_t period_ns)
{
    if (period_ns <= 0) {
        if (out != NULL)
            *out = NULL;
        return -EINVAL;
    }
    return timer_chan(out, s, period_ns, period_ns, "ticker");
}

int kc_chan_after(kc_chan_t **out, kc_sched_t *s, int64_t delay_ns)
{
    return timer_chan(out, s, delay_ns, 0, "after");
}

int kc_chan_timer_stop(kc_chan_t *ch)
{
    if (ch == NULL || ch->tick == NULL)
        return -EINVAL;
    struct kc_chan_tick *tk = ch->tick;
    /* seq_cst: against the load in tick() (see the top) */
    atomic_store_explicit(&tk->stopping, 1, memory_order_seq_cst);
    while (kc_timer_stop(&tk->tm) != 0 || kc_timer_is_pending(&tk->tm))
        ; /* each round removes an arm that raced with the flag */
    return 0;
}

void kc__chan_tick_free(kc_chan_t *ch)
{
    kc_chan_timer_stop(ch);
    free(ch->tick);
    ch->tick = NULL;
}
