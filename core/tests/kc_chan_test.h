/* kc_chan_test.h - fixtures shared by the channel and select tests.
 *
 * Header-only (each test binary is one translation unit): the channel
 * configurations the matrices walk, an undelivered-callback recorder, a
 * snapshot shorthand, the invariant check as a cmocka assertion, and a
 * scheduler maker. Include after <cmocka.h>; the helpers assert, so call
 * them on the test's main stack only.
 */
#ifndef KCORO_KC_CHAN_TEST_H
#define KCORO_KC_CHAN_TEST_H

#include "chan/kc_chan_impl.h"
#include "kcoro.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One channel configuration of the matrices. */
struct chan_cfg {
    const char *name;
    kc_chan_kind_t kind;
    kc_chan_policy_t policy;
    size_t capacity; /* for BUFFERED */
};

/* Every kind, and every policy of BUFFERED. */
static const struct chan_cfg chan_cfgs[] = {
    {"rendezvous", KC_CHAN_RENDEZVOUS, KC_CHAN_SUSPEND, 0},
    {"buffered2/suspend", KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 2}, /* a seq-ring channel */
    {"buffered3/suspend", KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 3}, /* the locked ring */
    {"buffered2/drop_oldest", KC_CHAN_BUFFERED, KC_CHAN_DROP_OLDEST, 2},
    {"buffered2/drop_latest", KC_CHAN_BUFFERED, KC_CHAN_DROP_LATEST, 2},
    {"unlimited", KC_CHAN_UNLIMITED, KC_CHAN_SUSPEND, 0},
    {"conflated", KC_CHAN_CONFLATED, KC_CHAN_SUSPEND, 0},
};
#define N_CHAN_CFGS (sizeof(chan_cfgs) / sizeof(chan_cfgs[0]))

/* Records what the undelivered callback saw. */
struct undelivered_log {
    uint64_t calls;
    uint64_t sum;     /* sum of the u64 values (copy channels) or lens */
    uint64_t owned;   /* descriptors with KC_ZDESC_OWNED */
    uint64_t last;    /* the last value seen */
    size_t elem_size; /* the size the callback was given */
};

static inline void undelivered_record(void *elem, size_t elem_size, void *arg)
{
    struct undelivered_log *l = arg;
    l->calls++;
    l->elem_size = elem_size;
    if (elem_size == sizeof(kc_zdesc_t)) {
        const kc_zdesc_t *d = elem;
        l->sum += d->len;
        l->last = d->len;
        l->owned += (d->flags & KC_ZDESC_OWNED) != 0;
    } else {
        uint64_t v;
        memcpy(&v, elem, sizeof(v));
        l->sum += v;
        l->last = v;
    }
}

/* Make a channel of cfg carrying u64 copies (elem 8) or descriptors (0). */
static inline kc_chan_t *chan_new(const struct chan_cfg *cfg, size_t elem_size,
                                  struct undelivered_log *log)
{
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = cfg->kind;
    o.policy = cfg->policy;
    o.capacity = cfg->kind == KC_CHAN_BUFFERED ? cfg->capacity : 0;
    o.elem_size = elem_size;
    o.on_undelivered = log != NULL ? undelivered_record : NULL;
    o.undelivered_arg = log;
    o.name = cfg->name;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_create(&ch, &o), 0);
    return ch;
}

static inline kc_chan_snapshot_t snap(const kc_chan_t *ch)
{
    kc_chan_snapshot_t s = KC_CHAN_SNAPSHOT_INIT;
    assert_int_equal(kc_chan_snapshot(ch, &s), 0);
    return s;
}

/* Assert invariants I1-I9 of kc_chan_locked.c. */
static inline void assert_chan_ok(kc_chan_t *ch)
{
    const char *why = NULL;
    if (kc__chan_check(ch, &why) != 0)
        fail_msg("channel check: %s", why);
}

/* Assert the accounting identity on a quiet channel. */
static inline void assert_accounting(const kc_chan_t *ch)
{
    kc_chan_snapshot_t s = snap(ch);
    if (s.sends != s.receives + s.undelivered + s.occupancy)
        fail_msg("sends %llu != receives %llu + undelivered %llu + occupancy %llu",
                 (unsigned long long)s.sends, (unsigned long long)s.receives,
                 (unsigned long long)s.undelivered, (unsigned long long)s.occupancy);
}

/* A cancellation token that has already fired. */
static inline kc_cancel_t *fired_token(void)
{
    kc_cancel_t *c = NULL;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    assert_int_equal(kc_cancel_trigger(c), 1);
    return c;
}

/* Spin (yielding) until ch has exactly s waiting senders and r waiting
 * receivers; fails after ~10 s rather than hang. */
static inline void wait_waiters(const kc_chan_t *ch, uint64_t s, uint64_t r)
{
    for (long i = 0; i < 20000000; i++) {
        kc_chan_snapshot_t x = snap(ch);
        if (x.send_waiting == s && x.recv_waiting == r)
            return;
        sched_yield();
    }
    fail_msg("waiters never reached s%llu/r%llu", (unsigned long long)s, (unsigned long long)r);
}

/* 1 ms: long enough to be a real wait, short enough for many cases. */
#define SHORT_NS 1000000

#endif /* KCORO_KC_CHAN_TEST_H */
