/* kc_deadline.h - relative timeouts to absolute deadlines, without overflow.
 *
 * Every blocking call of kcoro takes a relative timeout in nanoseconds and
 * every wait loop inside it needs an absolute deadline on the monotonic
 * clock (kc__port_now_ns) and, after each wake-up, the time left. These
 * helpers are the only place where that conversion happens, so one rule
 * holds for every call (ERROR_SEMANTICS.md, "Timeouts"):
 *
 *   timeout                      deadline                 time left
 *   KC_NO_TIMEOUT (-1)           KC__DEADLINE_NEVER       KC_NO_TIMEOUT
 *   any other value <= 0         0 (already passed)       0
 *   t > 0                        now + t, saturating at   deadline - now,
 *                                KC__DEADLINE_NEVER       never below 0
 *
 * Invariants:
 *   D1. No helper overflows for any int64_t input (UBSan-clean): a sum that
 *       would pass INT64_MAX saturates at KC__DEADLINE_NEVER (292 years of
 *       monotonic time), which then means "no limit".
 *   D2. A negative timeout other than KC_NO_TIMEOUT never means "forever":
 *       it is a time that has already run out and behaves as 0 (try once).
 *   D3. The time left is KC_NO_TIMEOUT or >= 0, so it can be passed to any
 *       internal wait that takes a relative timeout.
 *   D4. The clock is read only for a finite positive timeout, so untimed and
 *       try-once calls pay nothing.
 */
#ifndef KCORO_KC_DEADLINE_H
#define KCORO_KC_DEADLINE_H

#include "kcoro/base.h"
#include "port/kc_port.h"

#include <limits.h>
#include <stdint.h>

/* The deadline of a wait without limit; later than any reachable time. */
#define KC__DEADLINE_NEVER INT64_MAX

/* The one rule for a public timeout argument (D2): KC_NO_TIMEOUT stays,
 * every other negative value becomes 0, the rest is unchanged. */
static inline int64_t kc__timeout_norm(int64_t timeout_ns)
{
    return timeout_ns < 0 && timeout_ns != KC_NO_TIMEOUT ? 0 : timeout_ns;
}

/* now + timeout_ns as a deadline (table above), saturating (D1). Pure, so
 * tests can feed any now. */
static inline int64_t kc__deadline_from(int64_t now, int64_t timeout_ns)
{
    if (timeout_ns == KC_NO_TIMEOUT)
        return KC__DEADLINE_NEVER;
    if (timeout_ns <= 0)
        return 0;
    if (now < 0)
        now = 0; /* the monotonic clock never is; keeps the sum defined */
    return timeout_ns >= KC__DEADLINE_NEVER - now ? KC__DEADLINE_NEVER : now + timeout_ns;
}

/* The deadline timeout_ns from now (D4: reads the clock only when needed). */
static inline int64_t kc__deadline_after(int64_t timeout_ns)
{
    if (timeout_ns <= 0)
        return kc__deadline_from(0, timeout_ns);
    return kc__deadline_from((int64_t)kc__port_now_ns(), timeout_ns);
}

/* The relative time from now to deadline: KC_NO_TIMEOUT for a deadline
 * that never comes, 0 once it has passed (D3). Pure. */
static inline int64_t kc__deadline_left_at(int64_t deadline, int64_t now)
{
    if (deadline == KC__DEADLINE_NEVER)
        return KC_NO_TIMEOUT;
    if (now < 0)
        now = 0; /* as in kc__deadline_from */
    return deadline > now ? deadline - now : 0;
}

/* The time left until deadline, read from the clock (not for NEVER or 0). */
static inline int64_t kc__deadline_left(int64_t deadline)
{
    if (deadline == KC__DEADLINE_NEVER)
        return KC_NO_TIMEOUT;
    if (deadline == 0)
        return 0;
    return kc__deadline_left_at(deadline, (int64_t)kc__port_now_ns());
}

/* True once deadline has passed (never for KC__DEADLINE_NEVER). */
static inline bool kc__deadline_passed(int64_t deadline)
{
    return kc__deadline_left(deadline) == 0;
}

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
