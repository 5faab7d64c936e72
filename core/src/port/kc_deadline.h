/* kc_deadline.h - a relative timeout for poll(2) and epoll_wait(2).
 *
 * The port layer's half of the one timeout rule (ERROR_SEMANTICS.md,
 * "Timeouts"); the other half, relative timeouts to absolute deadlines on
 * kcoro's clock, is in sched/kc_sched_svc.h. Callers pass a timeout
 * already normalised there: KC_NO_TIMEOUT or >= 0.
 *
 * Invariant D1: no helper overflows for any int64_t input (UBSan-clean).
 */
#ifndef KCORO_KC_DEADLINE_H
#define KCORO_KC_DEADLINE_H

#include <limits.h>
#include <stdint.h>

/* A relative timeout in whole milliseconds for poll(2) and epoll_wait(2):
 * -1 for no limit, rounded up so a wait never ends early, saturating at
 * INT_MAX (D1). */
static inline int kc__timeout_ms(int64_t timeout_ns)
{
    if (timeout_ns < 0)
        return -1;
    int64_t ms = timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

#endif /* KCORO_KC_DEADLINE_H */
