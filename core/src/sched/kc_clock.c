/* kc_clock.c - the clock of the execution layer (kc_sched_svc.h).
 *
 * Every deadline in kcoro (timers, timed parks, I/O waits, channel and bus
 * timeouts) is read on this one monotonic clock, in signed nanoseconds so
 * that a deadline minus now is a plain subtraction.
 */
#include "sched/kc_sched_svc.h"

#include "port/kc_port.h"

int64_t kc__sched_now(void)
{
    return (int64_t)kc__port_now_ns();
}
