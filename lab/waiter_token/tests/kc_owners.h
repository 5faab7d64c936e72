/* kc_owners.h - token owners for the lab: a thread parker and a coroutine loop.
 *
 * The waiter token reaches its owner only through kc_waiter_owner_ops_t.
 * These are the two owners the lab drives tokens with; the tests and the
 * explorer (main.c) include this header, so the functions are static inline.
 *
 * The thread parker keeps one permit, like a binary semaphore: wake() sets
 * it (from any thread), park() consumes it, spinning briefly before it
 * sleeps on a condition variable (CLOCK_MONOTONIC deadlines). A wake that
 * finds the permit already set is counted in double_wakes: the token
 * protocol promises that never happens. A parker must outlive every thread
 * that may wake it.
 *
 * The coroutine loop runs kcoro coroutines on one thread. park() yields
 * until a wake arrives; when every live coroutine is parked, the loop times
 * out the first one parked with a finite timeout (there is no clock: this is
 * a deterministic stand-in for a scheduler's timers).
 */
#ifndef KCORO_KC_OWNERS_H
#define KCORO_KC_OWNERS_H

#include "kc_waiter.h"
#include "kcoro.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* KCORO_TEST_SCALE=N divides big counts (valgrind runs set it); the same
 * assertions run on fewer operations. */
static inline long kc_lab_scaled(long n)
{
    const char *s = getenv("KCORO_TEST_SCALE");
    long div = s ? atol(s) : 1;
    if (div < 1)
        div = 1;
    return n / div > 0 ? n / div : 1;
}

/* ------------------------------------------------------------ thread parker */

enum {
    KC_LAB_PARKER_EMPTY = 0,
    KC_LAB_PARKER_NOTIFIED = 1,
    KC_LAB_PARKER_PARKED = 2
};

/* How many times park() polls the permit before it sleeps. */
#define KC_LAB_PARKER_SPIN 200

struct kc_lab_parker {
    _Atomic int state; /* KC_LAB_PARKER_* */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic uint64_t wakes;        /* wake() calls */
    _Atomic uint64_t double_wakes; /* wakes that found the permit set */
    uint64_t parks;                /* park() calls (owner only) */
    uint64_t sleeps;               /* parks that slept on the cv */
    uint64_t timeouts;             /* parks that returned -ETIME */
};

static inline void kc_lab_parker_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* 0 or a negative errno. */
static inline int kc_lab_parker_init(struct kc_lab_parker *p)
{
    memset(p, 0, sizeof(*p));
    atomic_init(&p->state, KC_LAB_PARKER_EMPTY);
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc == 0)
        rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc == 0 && (rc = pthread_mutex_init(&p->mu, NULL)) != 0)
        pthread_cond_destroy(&p->cv);
    return -rc;
}

static inline void kc_lab_parker_destroy(struct kc_lab_parker *p)
{
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}

/* Is a permit pending (a wake nobody consumed)? */
static inline bool kc_lab_parker_pending(struct kc_lab_parker *p)
{
    return atomic_load_explicit(&p->state, memory_order_acquire) == KC_LAB_PARKER_NOTIFIED;
}

static inline void kc_lab_parker_wake(void *owner)
{
    struct kc_lab_parker *p = owner;
    atomic_fetch_add_explicit(&p->wakes, 1, memory_order_relaxed);
    /* release: the waker's writes (payload, result) before the permit;
     * pairs with the acquire in kc_lab_parker_park */
    int old = atomic_exchange_explicit(&p->state, KC_LAB_PARKER_NOTIFIED, memory_order_release);
    if (old == KC_LAB_PARKER_NOTIFIED)
        atomic_fetch_add_explicit(&p->double_wakes, 1, memory_order_relaxed);
    if (old == KC_LAB_PARKER_PARKED) {
        pthread_mutex_lock(&p->mu); /* the sleeper is in wait, or about to */
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

/* acquire: pairs with the release exchange in kc_lab_parker_wake */
static inline bool kc_lab_parker_take(struct kc_lab_parker *p)
{
    int expected = KC_LAB_PARKER_NOTIFIED;
    return atomic_compare_exchange_strong_explicit(&p->state, &expected, KC_LAB_PARKER_EMPTY,
                                                   memory_order_acquire, memory_order_relaxed);
}

static inline int kc_lab_parker_park(void *owner, int64_t timeout_ns)
{
    struct kc_lab_parker *p = owner;
    p->parks++;
    for (int i = 0; i < KC_LAB_PARKER_SPIN; i++) {
        if (kc_lab_parker_take(p))
            return 0;
        if (timeout_ns == 0)
            break;
        kc_lab_parker_relax();
    }
    if (timeout_ns == 0) {
        p->timeouts++;
        return -ETIME;
    }
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    if (timeout_ns > 0) {
        int64_t ns = dl.tv_nsec + timeout_ns % 1000000000;
        dl.tv_sec += (time_t)(timeout_ns / 1000000000 + ns / 1000000000);
        dl.tv_nsec = (long)(ns % 1000000000);
    }
    pthread_mutex_lock(&p->mu);
    int expected = KC_LAB_PARKER_EMPTY;
    /* acquire (on failure it matters): the state is NOTIFIED and we take
     * the permit; pairs with the release exchange in kc_lab_parker_wake */
    if (!atomic_compare_exchange_strong_explicit(&p->state, &expected, KC_LAB_PARKER_PARKED,
                                                 memory_order_acquire, memory_order_acquire)) {
        atomic_store_explicit(&p->state, KC_LAB_PARKER_EMPTY, memory_order_relaxed);
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    p->sleeps++;
    for (;;) {
        int rc = timeout_ns < 0 ? pthread_cond_wait(&p->cv, &p->mu)
                                : pthread_cond_timedwait(&p->cv, &p->mu, &dl);
        if (kc_lab_parker_take(p)) {
            pthread_mutex_unlock(&p->mu);
            return 0;
        }
        if (rc == ETIMEDOUT) {
            /* acquire: a wake may have raced the timeout; then it counts */
            int old =
                atomic_exchange_explicit(&p->state, KC_LAB_PARKER_EMPTY, memory_order_acquire);
            pthread_mutex_unlock(&p->mu);
            if (old == KC_LAB_PARKER_NOTIFIED)
                return 0;
            p->timeouts++;
            return -ETIME;
        }
    }
}

/* The ops of a thread owner; the owner context is the struct kc_lab_parker. */
static inline const kc_waiter_owner_ops_t *kc_lab_parker_ops(void)
{
    static const kc_waiter_owner_ops_t ops = {kc_lab_parker_wake, kc_lab_parker_park};
    return &ops;
}

/* ------------------------------------------------------------ coroutine loop */

#define KC_CORO_LOOP_MAX 16

struct kc_coro_owner {
    kc_coro_t *co;
    unsigned permits;   /* pending wakes */
    bool runnable;      /* the loop should resume it */
    bool parked;        /* inside park() */
    bool timed_out;     /* the loop fired its timeout */
    int64_t timeout_ns; /* of the current park */
    uint64_t wakes, parks, double_wakes;
};

struct kc_coro_loop {
    struct kc_coro_owner owners[KC_CORO_LOOP_MAX];
    int n;
};

static inline void kc_coro_owner_wake(void *owner)
{
    struct kc_coro_owner *o = owner;
    o->wakes++;
    if (o->permits > 0)
        o->double_wakes++;
    o->permits = 1;
    o->runnable = true;
}

static inline int kc_coro_owner_park(void *owner, int64_t timeout_ns)
{
    struct kc_coro_owner *o = owner;
    o->parks++;
    if (o->permits == 0 && timeout_ns != 0) {
        o->parked = true;
        o->timed_out = false;
        o->timeout_ns = timeout_ns;
        while (o->permits == 0 && !o->timed_out)
            kc_coro_yield();
        o->parked = false;
    }
    if (o->permits > 0) {
        o->permits--;
        return 0;
    }
    return -ETIME;
}

static inline const kc_waiter_owner_ops_t *kc_coro_owner_ops(void)
{
    static const kc_waiter_owner_ops_t ops = {kc_coro_owner_wake, kc_coro_owner_park};
    return &ops;
}

/* Add a coroutine running fn(arg); returns its owner or NULL. */
static inline struct kc_coro_owner *kc_coro_loop_add(struct kc_coro_loop *l, kc_coro_fn_t fn,
                                                     void *arg)
{
    if (l->n >= KC_CORO_LOOP_MAX)
        return NULL;
    struct kc_coro_owner *o = &l->owners[l->n];
    memset(o, 0, sizeof(*o));
    if (kc_coro_create(&o->co, fn, arg, NULL) != 0)
        return NULL;
    o->runnable = true;
    l->n++;
    return o;
}

/* Run until every coroutine finished (0) or all are parked forever
 * (-EDEADLK). Destroys the coroutines either way. */
static inline int kc_coro_loop_run(struct kc_coro_loop *l)
{
    int rc = 0;
    for (;;) {
        bool alive = false, ran = false;
        for (int i = 0; i < l->n; i++) {
            struct kc_coro_owner *o = &l->owners[i];
            if (kc_coro_state(o->co) == KC_CORO_FINISHED)
                continue;
            alive = true;
            if (o->runnable) {
                o->runnable = false;
                kc_coro_resume(o->co);
                ran = true;
            }
        }
        if (!alive)
            break;
        if (ran)
            continue;
        struct kc_coro_owner *first = NULL;
        for (int i = 0; i < l->n && first == NULL; i++)
            if (l->owners[i].parked && l->owners[i].timeout_ns > 0)
                first = &l->owners[i];
        if (first == NULL) {
            rc = -EDEADLK;
            break;
        }
        first->timed_out = true;
        first->runnable = true;
    }
    for (int i = 0; i < l->n; i++)
        kc_coro_destroy(l->owners[i].co);
    l->n = 0;
    return rc;
}

#endif /* KCORO_KC_OWNERS_H */
