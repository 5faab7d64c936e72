/* test_arena_ticket.c - tickets: hydrate, retain, release, staleness, races.
 *
 * Covers every transition of the ticket state table in kc_arena_ticket.c:
 * issue, hydrate/retain, non-last and last release, the retiring release at
 * generation 2^32-1, and the -ESTALE refusals for freed, reused, foreign and
 * forged tickets (I5). The threaded tests check that refcounts stay exact
 * under 4 threads (KCORO_TEST_FULL=1 runs 1,000,000 operations per thread)
 * and that a hydrate racing a release either fails with -ESTALE or sees the
 * payload of exactly the ticket it asked for, never a reused one.
 */
#include "kc_arena_impl.h"
#include "kc_arena_test.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

static void test_arena_alloc_then_hydrate_gives_same_payload(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 0, 0);
    assert_non_null(a);
    kc_arena_ticket_t t;
    void *p = NULL, *q = NULL;
    size_t len = 0;
    assert_int_equal(kc_arena_alloc(a, 100, &t, &p), 0);
    assert_non_null(p);
    assert_int_equal(t.len, 100);
    assert_int_equal(t.gen & 1, 1);
    memset(p, 0xab, 100);
    assert_int_equal(kc_arena_hydrate(a, t, &q, &len), 0);
    assert_ptr_equal(p, q);
    assert_int_equal(len, 100);
    assert_int_equal(((unsigned char *)q)[99], 0xab);
    assert_int_equal(kc_arena_release(a, t), 0); /* the hydrate's reference */
    assert_int_equal(kc_arena_release(a, t), 1); /* the owner's: frees */
    assert_int_equal(kc_at_metrics(a).live_tickets, 0);
    assert_int_equal(kc_arena_check(a), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

static void test_arena_released_ticket_is_stale(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 0, 0);
    kc_arena_ticket_t t;
    void *p = &p;
    size_t len = 7;
    assert_int_equal(kc_arena_alloc(a, 64, &t, NULL), 0);
    assert_int_equal(kc_arena_release(a, t), 1);
    assert_int_equal(kc_arena_hydrate(a, t, &p, &len), -ESTALE);
    assert_ptr_equal(p, &p); /* nothing written on failure */
    assert_int_equal(len, 7);
    assert_int_equal(kc_arena_retain(a, t), -ESTALE);
    assert_int_equal(kc_at_metrics(a).stale_rejections, 2);
    assert_int_equal(kc_arena_destroy(a), 0);
}

static void test_arena_reused_slot_rejects_old_ticket(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 0, 0);
    kc_arena_ticket_t old, now;
    void *p1, *p2, *q;
    assert_int_equal(kc_arena_alloc(a, 64, &old, &p1), 0);
    assert_int_equal(kc_arena_release(a, old), 1);
    assert_int_equal(kc_arena_alloc(a, 64, &now, &p2), 0);
    /* The thread cache hands the same block and table slot straight back. */
    assert_int_equal(now.index, old.index);
    assert_ptr_equal(p1, p2);
    assert_int_equal(now.gen, old.gen + 2);
    assert_int_equal(kc_arena_hydrate(a, old, &q, NULL), -ESTALE);
    assert_int_equal(kc_arena_release(a, old), -ESTALE);
    assert_int_equal(kc_arena_hydrate(a, now, &q, NULL), 0);
    assert_ptr_equal(q, p2);
    assert_int_equal(kc_arena_release(a, now), 0);
    assert_int_equal(kc_arena_release(a, now), 1);
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.stale_rejections, 1);
    assert_int_equal(m.double_releases, 1);
    assert_int_equal(kc_arena_destroy(a), 0);
}

static void test_arena_forged_and_foreign_tickets_rejected(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 0, 0), *b = kc_at_arena(1 << 20, 0, 0);
    kc_arena_ticket_t t, tb;
    assert_int_equal(kc_arena_alloc(a, 200, &t, NULL), 0);
    assert_int_equal(kc_arena_alloc(b, 200, &tb, NULL), 0);
    uint64_t rejected = 0;
    /* Every single-bit change of every field is refused. */
    for (int field = 0; field < 4; field++)
        for (int bit = 0; bit < 32; bit++) {
            kc_arena_ticket_t f = t;
            uint32_t *w = field == 0   ? &f.index
                          : field == 1 ? &f.gen
                          : field == 2 ? &f.len
                                       : &f.check;
            *w ^= 1u << bit;
            assert_int_equal(kc_arena_hydrate(a, f, NULL, NULL), -ESTALE);
            assert_int_equal(kc_arena_release(a, f), -ESTALE);
            rejected += 2;
        }
    /* A live ticket of another arena, and random tickets. */
    assert_int_equal(kc_arena_hydrate(a, tb, NULL, NULL), -ESTALE);
    rejected++;
    uint64_t seed = 0x5eed0001;
    for (int i = 0; i < 10000; i++) {
        uint64_t r1 = kc_at_rand(&seed), r2 = kc_at_rand(&seed);
        kc_arena_ticket_t f = {(uint32_t)r1 % 64, (uint32_t)(r1 >> 32) | 1, (uint32_t)r2 % 4096,
                               (uint32_t)(r2 >> 32) | 1};
        if (memcmp(&f, &t, sizeof(f)) == 0)
            continue;
        if (kc_arena_retain(a, f) != -ESTALE)
            fail_msg("random ticket %d accepted (seed 0x5eed0001)", i);
        rejected++;
    }
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.stale_rejections, rejected);
    assert_int_equal(m.double_releases, 0);
    assert_int_equal(m.live_tickets, 1); /* the genuine ticket is untouched */
    assert_int_equal(kc_arena_release(a, t), 1);
    assert_int_equal(kc_arena_release(b, tb), 1);
    assert_int_equal(kc_arena_destroy(a), 0);
    assert_int_equal(kc_arena_destroy(b), 0);
}

static void test_arena_null_ticket_and_arena_are_einval(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 0, 0);
    kc_arena_ticket_t null = KC_ARENA_TICKET_NULL, t;
    assert_int_equal(kc_arena_hydrate(a, null, NULL, NULL), -EINVAL);
    assert_int_equal(kc_arena_retain(a, null), -EINVAL);
    assert_int_equal(kc_arena_release(a, null), -EINVAL);
    assert_int_equal(kc_arena_alloc(a, 8, &t, NULL), 0);
    assert_int_equal(kc_arena_hydrate(NULL, t, NULL, NULL), -EINVAL);
    assert_int_equal(kc_arena_retain(NULL, t), -EINVAL);
    assert_int_equal(kc_arena_release(NULL, t), -EINVAL);
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.stale_rejections, 0);
    assert_int_equal(m.live_tickets, 1);
    assert_int_equal(kc_arena_release(a, t), 1);
    assert_int_equal(kc_arena_destroy(a), 0);
}

static void test_arena_double_release_detected_and_counted(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 0, 0);
    kc_arena_ticket_t t;
    assert_int_equal(kc_arena_alloc(a, 5000, &t, NULL), 0); /* a page run */
    assert_int_equal(kc_arena_release(a, t), 1);
    assert_int_equal(kc_arena_release(a, t), -ESTALE);
    assert_int_equal(kc_arena_release(a, t), -ESTALE);
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.double_releases, 2);
    assert_int_equal(m.frees, 1);
    assert_int_equal(m.live_tickets, 0);
    assert_int_equal(kc_arena_check(a), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

static void test_arena_retain_release_counts_are_exact(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 0, 0);
    kc_arena_ticket_t t;
    assert_int_equal(kc_arena_alloc(a, 32, &t, NULL), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(kc_arena_retain(a, t), 0);
    struct kc_arena *ai = a;
    uint64_t s = atomic_load(&ai->table[t.index].state);
    assert_int_equal(KC_ARENA_REFS(s), 6);
    for (int i = 0; i < 5; i++)
        assert_int_equal(kc_arena_release(a, t), 0);
    assert_int_equal(kc_arena_release(a, t), 1);
    assert_int_equal(kc_arena_release(a, t), -ESTALE);
    assert_int_equal(kc_arena_destroy(a), 0);
}

/* The validate row: a live ticket is confirmed with its refcount and
 * payload and nothing changes; released and forged ones are -ESTALE. */
static void test_arena_validate_checks_without_taking_a_reference(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 0, 0);
    kc_arena_ticket_t t;
    void *p = NULL, *q = NULL;
    size_t len = 0;
    assert_int_equal(kc_arena_alloc(a, 300, &t, &p), 0);
    assert_int_equal(kc_arena_validate(a, t, &q, &len), 1);
    assert_ptr_equal(p, q);
    assert_int_equal(len, 300);
    assert_int_equal(kc_arena_retain(a, t), 0);
    assert_int_equal(kc_arena_validate(a, t, NULL, NULL), 2);
    assert_int_equal(kc_arena_release(a, t), 0);
    assert_int_equal(kc_arena_validate(a, t, NULL, NULL), 1);
    kc_arena_ticket_t forged = t;
    forged.len ^= 1;
    assert_int_equal(kc_arena_validate(a, forged, &q, &len), -ESTALE);
    assert_int_equal(kc_arena_release(a, t), 1);
    q = &q;
    assert_int_equal(kc_arena_validate(a, t, &q, &len), -ESTALE);
    assert_ptr_equal(q, &q); /* nothing written on failure */
    kc_arena_ticket_t null_ticket = KC_ARENA_TICKET_NULL;
    assert_int_equal(kc_arena_validate(a, null_ticket, NULL, NULL), -EINVAL);
    assert_int_equal(kc_arena_validate(NULL, t, NULL, NULL), -EINVAL);
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.stale_rejections, 2);
    assert_int_equal(m.live_tickets, 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

/* I5 and the RETIRED row: a slot whose generation would wrap is retired,
 * never issued again, so no old ticket can come back to life. */
static void test_arena_generation_wrap_retires_slot(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 0, 0);
    struct kc_arena *ai = a;
    kc_arena_ticket_t t, u;
    assert_int_equal(kc_arena_alloc(a, 64, &t, NULL), 0);
    assert_int_equal(kc_arena_release(a, t), 1);
    /* White-box: age the (free, cached) slot to the last even generation:
     * its entry, and the cache item on top of its bin that carries the head
     * of its next ticket (kc_arena_impl.h, struct kc_arena_item). */
    atomic_store(&ai->table[t.index].state, KC_ARENA_STATE(UINT32_MAX - 1, 0));
    struct kc_arena_tcache *tc = ai->caches;
    uint32_t cls = kc__arena_class_of(ai, 64);
    uint32_t top = KC_ARENA_BIN_COUNT(atomic_load(&tc->bins[cls].word)) - 1;
    assert_int_equal(kc__arena_seal_lo(tc->items[cls][top].head), t.index);
    tc->items[cls][top].head = kc__arena_seal(t.index, UINT32_MAX);
    assert_int_equal(kc_arena_alloc(a, 64, &t, NULL), 0);
    assert_int_equal(t.gen, UINT32_MAX);
    assert_int_equal(kc_arena_retain(a, t), 0);
    assert_int_equal(kc_arena_release(a, t), 0);
    assert_int_equal(kc_arena_release(a, t), 1);
    assert_int_equal(KC_ARENA_REFS(atomic_load(&ai->table[t.index].state)), 0);
    assert_int_equal(kc_arena_hydrate(a, t, NULL, NULL), -ESTALE);
    assert_int_equal(kc_arena_release(a, t), -ESTALE);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(kc_arena_alloc(a, 64, &u, NULL), 0);
        assert_int_not_equal(u.index, t.index);
        assert_int_equal(kc_arena_release(a, u), 1);
    }
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.retired_slots, 1);
    assert_int_equal(m.live_tickets, 0);
    assert_int_equal(kc_arena_check(a), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

/* ------------------------------------------------------------ threads */

#define SHARED 16

struct share {
    kc_arena_t *a;
    kc_arena_ticket_t t[SHARED];
    long ops;
    uint64_t seed;
    /* Results, checked after the join. */
    long hydrated, released, own_allocs, own_frees, bad;
};

/* Each thread takes and drops references to the shared tickets (checking
 * the payload each time) and allocates and frees tickets of its own. */
static void *share_main(void *arg)
{
    struct share *s = arg;
    for (long i = 0; i < s->ops; i++) {
        uint64_t r = kc_at_rand(&s->seed);
        kc_arena_ticket_t t = s->t[r % SHARED];
        if (r & 0x100) {
            void *p;
            size_t len;
            if (kc_arena_hydrate(s->a, t, &p, &len) != 0 || len != t.len ||
                *(uint32_t *)p != t.index) {
                s->bad++;
                continue;
            }
            s->hydrated++;
            s->released += kc_arena_release(s->a, t) == 0;
        } else {
            kc_arena_ticket_t own;
            size_t size = 16 + (r >> 20) % 9000;
            if (kc_arena_alloc(s->a, size, &own, NULL) != 0) {
                s->bad++;
                continue;
            }
            s->own_allocs++;
            s->own_frees += kc_arena_release(s->a, own) == 1;
        }
    }
    return NULL;
}

static void test_arena_refcounts_exact_under_4_threads(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(64 << 20, 0, 0);
    struct share s[4];
    kc_arena_ticket_t t[SHARED];
    for (int i = 0; i < SHARED; i++) {
        void *p;
        assert_int_equal(kc_arena_alloc(a, 24 + i * 700, &t[i], &p), 0);
        *(uint32_t *)p = t[i].index;
    }
    pthread_t th[4];
    long ops = kc_at_scaled(1000000);
    for (int i = 0; i < 4; i++) {
        s[i] = (struct share){.a = a, .ops = ops, .seed = 0xabc0 + (uint64_t)i};
        memcpy(s[i].t, t, sizeof(t));
        assert_int_equal(pthread_create(&th[i], NULL, share_main, &s[i]), 0);
    }
    long hydrated = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        if (s[i].bad != 0)
            fail_msg("thread %d: %ld bad operations (seed 0x%llx)", i, s[i].bad,
                     (unsigned long long)(0xabc0 + i));
        assert_int_equal(s[i].hydrated, s[i].released);
        assert_int_equal(s[i].own_allocs, s[i].own_frees);
        assert_int_equal(s[i].hydrated + s[i].own_allocs, ops);
        hydrated += s[i].hydrated;
    }
    assert_true(hydrated > 0);
    struct kc_arena *ai = a;
    for (int i = 0; i < SHARED; i++)
        assert_int_equal(KC_ARENA_REFS(atomic_load(&ai->table[t[i].index].state)), 1);
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.live_tickets, SHARED);
    assert_int_equal(m.stale_rejections, 0);
    assert_int_equal(kc_arena_check(a), 0);
    for (int i = 0; i < SHARED; i++)
        assert_int_equal(kc_arena_release(a, t[i]), 1);
    assert_int_equal(kc_at_metrics(a).live_tickets, 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

/* A hydrate racing the owner's release and the slot's reuse: it must get
 * -ESTALE or the payload stamped for exactly its ticket. */
struct race {
    kc_arena_t *a;
    _Atomic uint64_t lo, hi; /* the current ticket, published by the owner */
    _Atomic int stop;
    _Atomic long attempts;
    long ok, stale, wrong;
};

static void *race_reader(void *arg)
{
    struct race *r = arg;
    while (!atomic_load_explicit(&r->stop, memory_order_acquire)) {
        uint64_t lo = atomic_load_explicit(&r->lo, memory_order_acquire);
        uint64_t hi = atomic_load_explicit(&r->hi, memory_order_acquire);
        kc_arena_ticket_t t = {(uint32_t)lo, (uint32_t)(lo >> 32), (uint32_t)hi,
                               (uint32_t)(hi >> 32)};
        void *p;
        int rc = kc_arena_hydrate(r->a, t, &p, NULL);
        atomic_fetch_add_explicit(&r->attempts, 1, memory_order_relaxed);
        if (rc == -ESTALE) {
            r->stale++;
        } else if (rc == 0) {
            if (((uint32_t *)p)[0] != t.index || ((uint32_t *)p)[1] != t.gen)
                r->wrong++;
            else
                r->ok++;
            kc_arena_release(r->a, t);
        } else {
            r->wrong++;
        }
    }
    return NULL;
}

static void test_arena_hydrate_racing_release_never_sees_reuse(void **state)
{
    (void)state;
    struct race r = {.a = kc_at_arena(1 << 20, 0, 0)};
    kc_arena_ticket_t t;
    uint32_t *p;
    assert_int_equal(kc_arena_alloc(r.a, 64, &t, (void **)&p), 0);
    p[0] = t.index;
    p[1] = t.gen;
    atomic_store(&r.lo, t.index | (uint64_t)t.gen << 32);
    atomic_store(&r.hi, t.len | (uint64_t)t.check << 32);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, race_reader, &r), 0);
    long rounds = kc_at_scaled(2000000), min_reads = rounds / 100 + 1;
    /* Keep cycling until the reader has really raced us a while. */
    for (long i = 0; i < rounds || atomic_load(&r.attempts) < min_reads; i++) {
        kc_arena_ticket_t n;
        uint32_t *q;
        assert_int_equal(kc_arena_alloc(r.a, 64, &n, (void **)&q), 0);
        q[0] = n.index;
        q[1] = n.gen;
        atomic_store_explicit(&r.lo, n.index | (uint64_t)n.gen << 32, memory_order_release);
        atomic_store_explicit(&r.hi, n.len | (uint64_t)n.check << 32, memory_order_release);
        assert_true(kc_arena_release(r.a, t) >= 0);
        t = n;
    }
    atomic_store_explicit(&r.stop, 1, memory_order_release);
    pthread_join(th, NULL);
    assert_int_equal(r.wrong, 0);
    assert_int_equal(r.ok + r.stale, atomic_load(&r.attempts));
    assert_true(r.ok + r.stale >= min_reads);
    assert_int_equal(kc_arena_release(r.a, t), 1);
    kc_arena_metrics_t m = kc_at_metrics(r.a);
    assert_int_equal(m.live_tickets, 0);
    assert_int_equal(m.double_releases, 0);
    assert_int_equal(m.stale_rejections, (uint64_t)r.stale);
    assert_int_equal(kc_arena_check(r.a), 0);
    assert_int_equal(kc_arena_destroy(r.a), 0);
}

/* kc_arena_shrink: a reservation of the largest size shortened to what
 * arrived; the block is freed whole, the old ticket goes stale, a shared
 * payload or region memory is refused and nothing changes. */
static void test_arena_shrink_keeps_block_and_stales_old_ticket(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 0, 0);
    for (int round = 0; round < 3; round++) { /* a run of pages, then slots */
        size_t big = round == 0 ? 65536 : round == 1 ? 9000 : 200;
        size_t small = round == 0 ? 40000 : round == 1 ? 1 : 17;
        kc_arena_ticket_t t, old;
        void *p = NULL, *q = NULL;
        size_t len = 0;
        assert_int_equal(kc_arena_alloc(a, big, &t, &p), 0);
        memset(p, 0x5c, big);
        old = t;
        assert_int_equal(kc_arena_shrink(a, &t, big + 1), -EINVAL);
        assert_int_equal(kc_arena_shrink(a, &t, 0), -EINVAL);
        assert_int_equal(kc_arena_retain(a, t), 0);
        assert_int_equal(kc_arena_shrink(a, &t, small), -EBUSY); /* shared */
        assert_int_equal(kc_arena_release(a, t), 0);
        assert_memory_equal(&t, &old, sizeof(t)); /* unchanged on errors */
        assert_int_equal(kc_arena_shrink(a, &t, small), 0);
        assert_int_equal(t.len, small);
        assert_int_equal(t.index, old.index);
        assert_int_equal(kc_arena_validate(a, t, &q, &len), 1);
        assert_ptr_equal(p, q);
        assert_int_equal(len, small);
        assert_int_equal(((unsigned char *)q)[small - 1], 0x5c);
        assert_int_equal(kc_at_metrics(a).live_bytes, small);
        assert_int_equal(kc_arena_validate(a, old, NULL, NULL), -ESTALE);
        assert_int_equal(kc_arena_shrink(a, &old, 1), -ESTALE);
        assert_int_equal(kc_arena_release(a, old), -ESTALE);
        assert_int_equal(kc_arena_release(a, t), 1);
        assert_int_equal(kc_arena_shrink(a, &t, 1), -ESTALE); /* released */
        assert_int_equal(kc_at_metrics(a).live_tickets, 0);
        assert_int_equal(kc_arena_check(a), 0);
    }
    /* the block came back whole: the same sizes allocate again and again */
    for (int i = 0; i < 200; i++) {
        kc_arena_ticket_t t;
        assert_int_equal(kc_arena_alloc(a, 65536, &t, NULL), 0);
        assert_int_equal(kc_arena_shrink(a, &t, 100 + (size_t)i), 0);
        assert_int_equal(kc_arena_release(a, t), 1);
    }
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.live_tickets, 0);
    assert_int_equal(m.double_releases, 3); /* each round's release of the old ticket */
    /* region memory keeps its wrapped range */
    static char mem[4096];
    int r = kc_arena_register_region(a, mem, sizeof(mem), 0);
    assert_true(r > 0);
    kc_arena_ticket_t w;
    assert_int_equal(kc_arena_wrap(a, r, mem, 100, &w), 0);
    assert_int_equal(kc_arena_shrink(a, &w, 10), -EINVAL);
    assert_int_equal(kc_arena_release(a, w), 1);
    assert_int_equal(kc_arena_unregister_region(a, r), 0);
    assert_int_equal(kc_arena_check(a), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_alloc_then_hydrate_gives_same_payload),
        cmocka_unit_test(test_arena_released_ticket_is_stale),
        cmocka_unit_test(test_arena_reused_slot_rejects_old_ticket),
        cmocka_unit_test(test_arena_forged_and_foreign_tickets_rejected),
        cmocka_unit_test(test_arena_null_ticket_and_arena_are_einval),
        cmocka_unit_test(test_arena_double_release_detected_and_counted),
        cmocka_unit_test(test_arena_retain_release_counts_are_exact),
        cmocka_unit_test(test_arena_validate_checks_without_taking_a_reference),
        cmocka_unit_test(test_arena_generation_wrap_retires_slot),
        cmocka_unit_test(test_arena_refcounts_exact_under_4_threads),
        cmocka_unit_test(test_arena_hydrate_racing_release_never_sees_reuse),
        cmocka_unit_test(test_arena_shrink_keeps_block_and_stales_old_ticket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
