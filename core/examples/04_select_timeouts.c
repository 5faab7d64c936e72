/* 04_select_timeouts.c - tutorial step 4: select, timeouts, cancellation.
 *
 * A worker reports progress on a channel; main selects over the reports, a
 * ticker and a deadline (kc_chan_after). When the deadline fires, main
 * cancels the worker's scope: the worker's blocking call returns
 * -ECANCELED and it stops. The deadline's clause is turned off once it
 * fired, as Go code sets a channel to nil.
 */
#include <kcoro.h>
#include <stdio.h>

#define MS ((int64_t)1000000)

static int worker(void *arg)
{
    kc_chan_t *reports = arg;
    for (int step = 1;; step++) {
        int rc = kc_sched_sleep(3 * MS, NULL); /* work; -ECANCELED once cancelled */
        if (rc != 0 || kc_chan_send(reports, &step, KC_NO_TIMEOUT, NULL) != 0)
            return rc;
    }
}

int main(void)
{
    kc_sched_t *s = NULL;
    if (kc_sched_create(&s, NULL) != 0)
        return 1;
    kc_chan_t *reports = NULL, *tick = NULL, *deadline = NULL;
    kc_chan_make(&reports, KC_CHAN_BUFFERED, 4, sizeof(int));
    kc_chan_ticker(&tick, s, 10 * MS);
    kc_chan_after(&deadline, s, 50 * MS);
    kc_scope_t *sc = NULL;
    kc_scope_create(&sc, s, 0);
    kc_scope_spawn(sc, worker, reports, NULL);
    int step = 0, last = 0, ticks = 0;
    int64_t at;
    kc_chan_clause_t cl[3] = {KC_CHAN_CLAUSE_RECV_INIT(deadline, &at),
                              KC_CHAN_CLAUSE_RECV_INIT(reports, &step),
                              KC_CHAN_CLAUSE_DISCARD_INIT(tick)};
    for (;;) {
        int i = kc_chan_select(cl, 3, KC_CHAN_SELECT_BIASED, 1000 * MS, NULL);
        if (i == 0) { /* the deadline: stop the worker */
            kc_scope_cancel(sc);
            kc_chan_clause_enable(&cl[0], false);
            continue;
        }
        if (i == 1) {
            last = step;
            continue;
        }
        if (i == 2) {
            ticks++;
            if (kc_scope_live(sc) == 0 && kc_chan_len(reports) == 0)
                break; /* the worker is gone and everything was read */
            continue;
        }
        break; /* -ETIME: nothing for a whole second */
    }
    int failure = kc_scope_destroy(sc); /* waits for the worker */
    printf("%d reports before the deadline, %d ticks, worker ended with %s\n", last, ticks,
           kc_errname(failure));
    kc_chan_destroy(tick); /* stops the ticker */
    kc_chan_destroy(deadline);
    kc_chan_destroy(reports);
    kc_sched_destroy(s);
    return last >= 1 && ticks >= 1 ? 0 : 1;
}
