/* kc_zdesc_test.h - fixtures shared by the zero-copy descriptor tests.
 *
 * Header-only (each test binary is one translation unit): arenas and
 * arena-backed channels, payload stamps that let a receiver tell exactly
 * which payload it got, the arena's metrics as a value, and the "nothing
 * leaked" assertion every test ends with. Include after <cmocka.h> and
 * kc_chan_test.h; the helpers that assert run on the test's main stack.
 */
#ifndef KCORO_KC_ZDESC_TEST_H
#define KCORO_KC_ZDESC_TEST_H

#include "kc_chan_test.h"
#include "kc_test_util.h"

/* An arena of `bytes` (0 = default) in 4 KiB pages. */
static inline kc_arena_t *zt_arena(size_t bytes)
{
    kc_arena_opts_t o = KC_ARENA_OPTS_INIT;
    o.bytes = bytes;
    o.name = "zdesc-test";
    kc_arena_t *a = NULL;
    assert_int_equal(kc_arena_create(&a, &o), 0);
    return a;
}

static inline kc_arena_metrics_t zt_metrics(kc_arena_t *a)
{
    kc_arena_metrics_t m = {.size = sizeof(m)};
    assert_int_equal(kc_arena_metrics(a, &m), 0);
    return m;
}

/* A channel of cfg with arena a attached: descriptors (elem 0) or boxed
 * elements of elem bytes; log records the undelivered callback (or NULL). */
static inline kc_chan_t *zt_chan(const struct chan_cfg *cfg, kc_arena_t *a, size_t elem,
                                 struct undelivered_log *log)
{
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = cfg->kind;
    o.policy = cfg->policy;
    o.capacity = cfg->kind == KC_CHAN_BUFFERED ? cfg->capacity : 0;
    o.elem_size = elem;
    o.on_undelivered = log != NULL ? undelivered_record : NULL;
    o.undelivered_arg = log;
    o.name = cfg->name;
    o.arena = a;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_create(&ch, &o), 0);
    return ch;
}

/* Write the stamp v over the payload: the first word is v, and the last
 * word (when the payload holds two) is ~v, so a receiver can check both
 * ends of the payload it got. */
static inline void zt_stamp(void *p, size_t len, uint64_t v)
{
    if (len >= sizeof(v))
        memcpy(p, &v, sizeof(v));
    if (len >= 2 * sizeof(v)) {
        uint64_t w = ~v;
        memcpy((char *)p + len - sizeof(w), &w, sizeof(w));
    }
}

/* The stamp of a payload, or UINT64_MAX when its two ends disagree. */
static inline uint64_t zt_read_stamp(const void *p, size_t len)
{
    uint64_t v = 0, w;
    if (len >= sizeof(v))
        memcpy(&v, p, sizeof(v));
    if (len >= 2 * sizeof(v)) {
        memcpy(&w, (const char *)p + len - sizeof(w), sizeof(w));
        if (w != ~v)
            return UINT64_MAX;
    }
    return v;
}

/* An OWNED arena descriptor of len bytes stamped with v. */
static inline kc_zdesc_t zt_desc(kc_arena_t *a, size_t len, uint64_t v)
{
    kc_zdesc_t d;
    assert_int_equal(kc_zdesc_alloc(&d, a, len, 0), 0);
    zt_stamp(d.ptr, len, v);
    return d;
}

/* The stamp of a received arena descriptor, checked against its arena. */
static inline uint64_t zt_desc_stamp(kc_arena_t *a, const kc_zdesc_t *d)
{
    void *p = NULL;
    size_t len = 0;
    assert_int_equal(kc_zdesc_hydrate(d, a, &p, &len), 0);
    return zt_read_stamp(p, len);
}

/* The end of every test: no live ticket, no double release, every
 * allocation freed, invariants intact; then the arena is destroyed. */
static inline void zt_assert_clean(kc_arena_t *a)
{
    kc_arena_flush(a);
    kc_arena_metrics_t m = zt_metrics(a);
    if (m.live_tickets != 0 || m.allocs != m.frees || m.double_releases != 0)
        fail_msg("arena not clean: live %llu, allocs %llu, frees %llu, double releases %llu",
                 (unsigned long long)m.live_tickets, (unsigned long long)m.allocs,
                 (unsigned long long)m.frees, (unsigned long long)m.double_releases);
    assert_int_equal(kc_arena_check(a), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

/* Live tickets right now. */
static inline uint64_t zt_live(kc_arena_t *a)
{
    return zt_metrics(a).live_tickets;
}

#endif /* KCORO_KC_ZDESC_TEST_H */
