/* kc_futex.c - futex wait/wake for Linux, with a condition-variable fallback.
 *
 * The Linux path is the private futex system call: no memory in the kernel
 * while nobody waits, one system call per sleep and per wake of a sleeper.
 * The portable path hashes the word's address into one of KC_FUTEX_BUCKETS
 * buckets, each a mutex, a condition variable on the monotonic clock and a
 * waiter count. A waiter checks the word under its bucket's mutex; a waker
 * changes the word first and then takes the same mutex, so the check and the
 * broadcast cannot interleave badly: either the waiter sees the new value or
 * it is already asleep when the broadcast comes. Several words share a bucket,
 * so a wake may wake waiters of other words: spurious wake-ups are part of
 * the contract.
 *
 * Invariants:
 *   F1  a portable waiter sleeps only after reading *word == expected while
 *       holding its bucket's mutex.
 *   F2  a bucket's `waiters` counts the threads inside its wait, under the
 *       bucket's mutex.
 */
#define _GNU_SOURCE
#include "port/kc_futex.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#define KC_HAVE_FUTEX 1
#else
#define KC_HAVE_FUTEX 0
#endif

enum {
    KC_FUTEX_BUCKETS = 64
};

struct bucket {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned waiters; /* F2 */
    /* cppcheck-suppress unusedStructMember ; keeps buckets on separate lines */
    char pad[64];
};

static struct bucket buckets[KC_FUTEX_BUCKETS];
static pthread_once_t buckets_once = PTHREAD_ONCE_INIT;
static atomic_int portable_mode; /* 0 unknown, 1 futex, 2 portable */

bool kc__port_portable(void)
{
    int m = atomic_load_explicit(&portable_mode, memory_order_relaxed);
    if (m == 0) {
        const char *e = getenv("KCORO_PORT");
        m = (e != NULL && strcmp(e, "portable") == 0) || !KC_HAVE_FUTEX ? 2 : 1;
        atomic_store_explicit(&portable_mode, m, memory_order_relaxed);
    }
    return m == 2;
}

void kc__port_yield_thread(void)
{
    sched_yield();
}

static void buckets_init(void)
{
    for (int i = 0; i < KC_FUTEX_BUCKETS; i++) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_mutex_init(&buckets[i].mu, NULL);
        pthread_cond_init(&buckets[i].cv, &ca);
        pthread_condattr_destroy(&ca);
    }
}

static struct bucket *bucket_of(const void *addr)
{
    uintptr_t a = (uintptr_t)addr;
    a ^= a >> 17;
    a *= (uintptr_t)0x9e3779b97f4a7c15ull;
    return &buckets[(a >> 20) % KC_FUTEX_BUCKETS];
}

static struct timespec rel_ts(int64_t ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

int kc__futex_wait_portable(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns)
{
    pthread_once(&buckets_once, buckets_init);
    struct bucket *b = bucket_of(word);
    struct timespec abs;
    if (timeout_ns >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &abs);
        int64_t ns = (int64_t)abs.tv_nsec + timeout_ns % 1000000000;
        abs.tv_sec += (time_t)(timeout_ns / 1000000000 + ns / 1000000000);
        abs.tv_nsec = (long)(ns % 1000000000);
    }
    int rc = 0;
    pthread_mutex_lock(&b->mu);
    /* F1. relaxed: the bucket mutex orders this read after the waker's store */
    if (atomic_load_explicit(word, memory_order_relaxed) == expected) {
        b->waiters++;
        if (timeout_ns < 0)
            pthread_cond_wait(&b->cv, &b->mu);
        else if (pthread_cond_timedwait(&b->cv, &b->mu, &abs) == ETIMEDOUT)
            rc = -ETIME;
        b->waiters--;
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

void kc__futex_wake_portable(_Atomic uint32_t *word, int n)
{
    (void)n; /* a broadcast: waiters of other words in the bucket re-check */
    pthread_once(&buckets_once, buckets_init);
    struct bucket *b = bucket_of(word);
    pthread_mutex_lock(&b->mu);
    if (b->waiters > 0)
        pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

#if KC_HAVE_FUTEX
static long sys_futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, (void *)(uintptr_t)word, op, val, ts, NULL, 0);
}
#endif

int kc__futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns)
{
#if KC_HAVE_FUTEX
    if (!kc__port_portable()) {
        struct timespec ts = rel_ts(timeout_ns >= 0 ? timeout_ns : 0);
        long r = sys_futex(word, FUTEX_WAIT_PRIVATE, expected, timeout_ns >= 0 ? &ts : NULL);
        if (r == -1 && errno == ETIMEDOUT)
            return -ETIME;
        return 0; /* woken, EAGAIN (value differed) or EINTR: caller re-checks */
    }
#else
    (void)rel_ts;
#endif
    return kc__futex_wait_portable(word, expected, timeout_ns);
}

void kc__futex_wake(_Atomic uint32_t *word, int n)
{
    if (n <= 0)
        n = INT_MAX;
#if KC_HAVE_FUTEX
    if (!kc__port_portable()) {
        sys_futex(word, FUTEX_WAKE_PRIVATE, (uint32_t)n, NULL);
        return;
    }
#endif
    kc__futex_wake_portable(word, n);
}

/* Spin with exponential backoff before sleeping. Looking at the word after
 * every pause makes two cores that contend for a lock pull its line back
 * and forth on every release; backing off leaves the line with the core
 * that holds it, which often takes the lock again (a producer sending in a
 * loop), and cost a channel shared by four producers and four consumers on
 * two workers 80% of its throughput on a machine where lines move slowly
 * between cores (9 against 45 M msgs/s). Bounded: at most KC_LOCK_SPINS
 * looks, about KC_LOCK_SPINS * KC_LOCK_BACKOFF_MAX pause hints. */
void kc__lock_slow(kc_lock_t *l)
{
    unsigned pause = 1;
    for (int i = 0; i < KC_LOCK_SPINS; i++) {
        uint32_t v = atomic_load_explicit(&l->v, memory_order_relaxed);
        /* acquire: pairs with the release exchange in kc__unlock */
        if (v == 0 && atomic_compare_exchange_weak_explicit(&l->v, &v, 1, memory_order_acquire,
                                                            memory_order_relaxed))
            return;
        for (unsigned k = 0; k < pause; k++)
            kc__port_relax();
        if (pause < KC_LOCK_BACKOFF_MAX)
            pause *= 2;
    }
    /* Mark the lock contended (2) so the holder's unlock wakes us. acquire:
     * pairs with the release exchange in kc__unlock. */
    while (atomic_exchange_explicit(&l->v, 2, memory_order_acquire) != 0)
        kc__futex_wait(&l->v, 2, -1);
}

void kc__lock_wake(kc_lock_t *l)
{
    kc__futex_wake(&l->v, 1);
}
