/* kc_bus_waiter.c - the bus's permit parker, on a pthread mutex and condvar.
 *
 * One owner (a subscriber) parks; any thread (a publisher, the closer)
 * unparks. Permit semantics as kc_park/kc_unpark: an unpark that comes
 * before the park is not lost, it makes the next park return at once, and
 * several unparks before a park leave one permit. The fast paths are one
 * atomic exchange each; the mutex is taken only when the owner really
 * sleeps. This is the one place the bus blocks, so moving it onto the
 * runtime's parker (coroutines park on the scheduler) changes this file only.
 *
 * Invariants:
 *   W1. state is EMPTY, PARKED or NOTIFIED.
 *   W2. state is PARKED only while the owner holds or waits on mu inside
 *       kc__bus_waiter_park.
 *   W3. unpark signals cv only after observing PARKED, and does so while
 *       holding mu, so the signal cannot fall between the owner's check and
 *       its wait.
 *
 * States and transitions:
 *
 *   from      event                          to        function
 *   --------  -----------------------------  --------  -----------------------
 *   EMPTY     unpark                         NOTIFIED  kc__bus_waiter_unpark
 *   NOTIFIED  unpark                         NOTIFIED  kc__bus_waiter_unpark
 *   NOTIFIED  park (consume the permit)      EMPTY     kc__bus_waiter_park
 *   EMPTY     park (nothing to consume)      PARKED    kc__bus_waiter_park
 *   PARKED    unpark (signal under mu)       NOTIFIED  kc__bus_waiter_unpark
 *   PARKED    deadline passes                EMPTY     kc__bus_waiter_park
 *   any       new owner takes over           EMPTY     kc__bus_waiter_reset
 */
#include "kc_bus_impl.h"

#include "port/kc_port.h"

#include <errno.h>
#include <time.h>

int kc__bus_waiter_init(kc_bus_waiter_t *w)
{
    pthread_condattr_t ca;
    int rc;

    atomic_init(&w->state, KC_BUS_W_EMPTY);
    rc = pthread_mutex_init(&w->mu, NULL);
    if (rc != 0)
        return -rc;
    rc = pthread_condattr_init(&ca);
    if (rc != 0)
        goto out_mutex;
    /* Deadlines are monotonic: wall-clock jumps must not stretch a wait. */
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        goto out_mutex;
    return 0;

out_mutex:
    pthread_mutex_destroy(&w->mu);
    return -rc;
}

void kc__bus_waiter_destroy(kc_bus_waiter_t *w)
{
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

void kc__bus_waiter_reset(kc_bus_waiter_t *w)
{
    /* The slot is not shared yet (its state is CLAIMED), so relaxed is
     * enough; the JOINING release store publishes this reset. */
    atomic_store_explicit(&w->state, KC_BUS_W_EMPTY, memory_order_relaxed);
}

/* Absolute CLOCK_MONOTONIC time for a deadline in ns. */
static struct timespec to_timespec(uint64_t deadline_ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(deadline_ns / 1000000000u);
    ts.tv_nsec = (long)(deadline_ns % 1000000000u);
    return ts;
}

int kc__bus_waiter_park(kc_bus_waiter_t *w, uint64_t deadline_ns)
{
    int expected = KC_BUS_W_NOTIFIED;
    int rc = 0;

    /* Fast path: a permit is there. Acquire pairs with the release in
     * unpark, so what the unparker did before is visible. */
    if (atomic_compare_exchange_strong_explicit(&w->state, &expected, KC_BUS_W_EMPTY,
                                                memory_order_acquire, memory_order_relaxed))
        return 0;
    if (deadline_ns != UINT64_MAX && kc__port_now_ns() >= deadline_ns)
        return -ETIME;

    pthread_mutex_lock(&w->mu);
    expected = KC_BUS_W_EMPTY;
    /* EMPTY -> PARKED under mu (W2); acq_rel: acquire pairs with an unpark's
     * release should this fail on NOTIFIED, release is for symmetry with it. */
    if (!atomic_compare_exchange_strong_explicit(&w->state, &expected, KC_BUS_W_PARKED,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        /* A permit arrived between the fast path and the lock. */
        atomic_store_explicit(&w->state, KC_BUS_W_EMPTY, memory_order_relaxed);
        pthread_mutex_unlock(&w->mu);
        return 0;
    }
    for (;;) {
        /* Acquire pairs with unpark's release exchange. */
        if (atomic_load_explicit(&w->state, memory_order_acquire) == KC_BUS_W_NOTIFIED) {
            atomic_store_explicit(&w->state, KC_BUS_W_EMPTY, memory_order_relaxed);
            break;
        }
        if (deadline_ns == UINT64_MAX) {
            pthread_cond_wait(&w->cv, &w->mu);
        } else {
            struct timespec ts = to_timespec(deadline_ns);
            if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT) {
                expected = KC_BUS_W_PARKED;
                /* PARKED -> EMPTY unless a permit landed meanwhile; acquire
                 * pairs with unpark's release in that case. */
                if (atomic_compare_exchange_strong_explicit(&w->state, &expected, KC_BUS_W_EMPTY,
                                                            memory_order_acquire,
                                                            memory_order_acquire)) {
                    rc = -ETIME;
                    break;
                }
            }
        }
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

bool kc__bus_waiter_unpark(kc_bus_waiter_t *w)
{
    /* Release pairs with park's acquire loads: the permit carries what the
     * unparker wrote before (the published slots). */
    int prev = atomic_exchange_explicit(&w->state, KC_BUS_W_NOTIFIED, memory_order_acq_rel);
    if (prev != KC_BUS_W_PARKED)
        return false;
    /* W3: taking mu orders this signal after the owner's wait began. */
    pthread_mutex_lock(&w->mu);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return true;
}
