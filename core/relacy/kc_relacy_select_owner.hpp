/* kc_relacy_select_owner.hpp - the owner operations of a select waiting
 * on a thread's parker, over the extracted kc_unpark, take_permit and
 * park_thread: include it after kc_relacy_gen.h (rl_select.cpp,
 * rl_select_fire.cpp).
 */
#ifndef KCORO_KC_RELACY_SELECT_OWNER_HPP
#define KCORO_KC_RELACY_SELECT_OWNER_HPP

/* The owner ops of a thread: kc_unpark, and park_thread when waiting for
 * good; a finite wait takes a permit that is already there or times out
 * at once (the earliest a timeout may expire). */
static void owner_wake(void *owner)
{
    kc_unpark((kc_parker_t *)owner);
}
static int owner_park(void *owner, int64_t timeout_ns)
{
    kc_parker_t *p = (kc_parker_t *)owner;
    if (timeout_ns == KC_NO_TIMEOUT)
        return park_thread(p, -1, nullptr);
    return take_permit(p) ? 0 : -ETIME;
}
static const kc_waiter_owner_ops_t owner_ops = {owner_wake, owner_park};

#endif
