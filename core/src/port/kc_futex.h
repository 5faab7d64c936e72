/* kc_futex.h - futex-style wait/wake on a 32-bit word, and a lock built on it.
 *
 * Layer 0 parking. kc__futex_wait() blocks the calling thread while a word
 * still holds an expected value; kc__futex_wake() releases threads blocked on
 * the word. On Linux these are the futex system call; elsewhere (or when
 * KCORO_PORT=portable is set, so tests can exercise it on Linux) they are a
 * table of mutex + condition-variable buckets hashed by address. Both give the
 * same contract: a wait may return spuriously, so callers re-check their word
 * in a loop; a wake that happens after the waiter's value check is never lost.
 *
 * kc_lock_t is a three-state futex mutex (free, locked, locked with
 * waiters): one CAS to take it, one exchange to drop it, a short bounded spin
 * and then a futex wait when contended. Never hold one across a context
 * switch (ARCHITECTURE.md section 6).
 */
#ifndef KCORO_KC_FUTEX_H
#define KCORO_KC_FUTEX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Block while *word == expected, for at most timeout_ns nanoseconds
 * (negative: no limit). Returns 0 when woken, spuriously woken, or when the
 * word already differed; -ETIME when the time ran out. Blocks the thread. */
int kc__futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns);

/* Wake up to n threads blocked on word (n <= 0 or INT32_MAX: all of them).
 * Harmless when nobody waits; never blocks for long. */
void kc__futex_wake(_Atomic uint32_t *word, int n);

/* The portable (condition variable) implementation, always compiled so tests
 * can run it on Linux too. Same contracts as above. */
int kc__futex_wait_portable(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns);
void kc__futex_wake_portable(_Atomic uint32_t *word, int n);

/* True when KCORO_PORT=portable asked for the POSIX fallbacks (condition
 * variables instead of futexes, poll() instead of epoll). Read once. */
bool kc__port_portable(void);

/* Give the processor a hint inside a spin loop (pause / yield). */
static inline void kc__port_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#else
    __asm__ volatile("" ::: "memory");
#endif
}

/* Let another thread run (sched_yield). */
void kc__port_yield_thread(void);

/* A contended kc_lock_t looks at its word at most KC_LOCK_SPINS times
 * before it sleeps, waiting twice as long after each look (1, 2, 4 ... up
 * to KC_LOCK_BACKOFF_MAX pause hints; about 5,000 in all before the
 * futex). The long ceiling lets the other core keep the lock's line for a
 * run of critical sections instead of trading it on each one: a buffered
 * channel with 4 producers and 4 consumers on 2 workers went from 45-52 to
 * 64-82 M msgs/s when the ceiling rose from 64 to 1,024. */
enum {
    KC_LOCK_SPINS = 14,
    KC_LOCK_BACKOFF_MAX = 1024
};

/* A futex mutex: 0 free, 1 held, 2 held and someone may sleep on it. */
typedef struct kc_lock {
    _Atomic uint32_t v;
} kc_lock_t;

/* Static initialiser for kc_lock_t. */
#define KC_LOCK_INIT                                                                               \
    {                                                                                              \
        0                                                                                          \
    }

/* The contended paths of kc__lock()/kc__unlock(). */
void kc__lock_slow(kc_lock_t *l);
void kc__lock_wake(kc_lock_t *l);

/* Take l; spins briefly, then sleeps. Blocks the thread (never yields). */
static inline void kc__lock(kc_lock_t *l)
{
    uint32_t free_v = 0;
    /* acquire: pairs with the release exchange in kc__unlock */
    if (__builtin_expect(atomic_compare_exchange_strong_explicit(
                             &l->v, &free_v, 1, memory_order_acquire, memory_order_relaxed),
                         1))
        return;
    kc__lock_slow(l);
}

/* Take l if it is free. Returns true when taken. Never blocks. */
static inline bool kc__lock_try(kc_lock_t *l)
{
    uint32_t free_v = 0;
    /* acquire: pairs with the release exchange in kc__unlock */
    return atomic_compare_exchange_strong_explicit(&l->v, &free_v, 1, memory_order_acquire,
                                                   memory_order_relaxed);
}

/* Drop l, waking one sleeper if there may be one. Never blocks. */
static inline void kc__unlock(kc_lock_t *l)
{
    /* release: publishes the critical section to the next acquirer */
    if (__builtin_expect(atomic_exchange_explicit(&l->v, 0, memory_order_release) == 2, 0))
        kc__lock_wake(l);
}

#endif /* KCORO_KC_FUTEX_H */
