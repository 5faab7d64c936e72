/* kc_debug.h - run-time diagnostics switched by the KCORO_DEBUG variable.
 *
 * KCORO_DEBUG is a comma-separated list: "canary" (check a canary at each
 * stack limit on every switch), "sp" (validate stack-pointer bounds on every
 * switch), "log" (debug log lines on stderr), or "1"/"all" for everything.
 * Read once, on first use; there are no compile-time debug forks.
 */
#ifndef KCORO_KC_DEBUG_H
#define KCORO_KC_DEBUG_H

#include <stdatomic.h>

enum {
    KC_DEBUG_CANARY = 1u << 0,
    KC_DEBUG_SP = 1u << 1,
    KC_DEBUG_LOG = 1u << 2,
    KC_DEBUG_LOADED = 1u << 31
};

extern atomic_uint kc__debug_bits;

/* 1 once KCORO_DEBUG was read and asks for no check on switches (neither
 * "canary" nor "sp"), 0 otherwise: the one byte a switch tests before
 * taking its fast path. Written with kc__debug_bits. */
extern _Atomic unsigned char kc__debug_switch_fast;

/* Parse KCORO_DEBUG (once) and return the active KC_DEBUG_* bits. */
unsigned kc__debug_load(void);

/* The active KC_DEBUG_* bits; cheap enough for every switch. */
static inline unsigned kc__debug(void)
{
    unsigned b = atomic_load_explicit(&kc__debug_bits, memory_order_relaxed);
    return b & KC_DEBUG_LOADED ? b : kc__debug_load();
}

/* Print one debug line to stderr when "log" is on. */
void kc__debug_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Who may read what tasks note about their waits: schedulers alive with
 * the deadlock check on (kc_deadlock.c), the installed dump signal, running
 * monitors and schedulers dumped at least once (D4 of kc_sched_dump.c).
 * While it is 0 nobody reads the notes, so the waits skip writing them. */
extern _Atomic int kc__deadlock_watched;

/* Re-read KCORO_DEBUG (tests flip it between cases). */
void kc__debug_reload(void);

#endif /* KCORO_KC_DEBUG_H */
