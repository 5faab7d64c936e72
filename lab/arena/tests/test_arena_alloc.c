/* test_arena_alloc.c - pages, slots, runs, exhaustion, caches and purge.
 *
 * Checks the central allocator's page states (I1-I4, I7 through
 * kc_arena_check()), the bounds: -ENOMEM on a full arena or ticket table,
 * counted and recovered from; -EMSGSIZE and -EINVAL on bad requests; the
 * thread caches (flush, thread exit, a release on another thread), and
 * kc_arena_purge(): free pages go back to the OS and read as zeroes.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS for the spacer mappings */
#include "kc_arena_impl.h"
#include "kc_arena_test.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

static void test_arena_create_rejects_bad_options(void **state)
{
    (void)state;
    kc_arena_t *a = NULL;
    kc_arena_opts_t o = KC_ARENA_OPTS_INIT;
    assert_int_equal(kc_arena_create(NULL, &o), -EINVAL);
    o.page_size = 3 * 4096; /* not a power of two */
    assert_int_equal(kc_arena_create(&a, &o), -EINVAL);
    o.page_size = 512; /* below the OS page */
    assert_int_equal(kc_arena_create(&a, &o), -EINVAL);
    o.page_size = KC_ARENA_PAGE_MAX * 2;
    assert_int_equal(kc_arena_create(&a, &o), -EINVAL);
    o = (kc_arena_opts_t)KC_ARENA_OPTS_INIT;
    o.size = 8; /* a struct from nowhere */
    assert_int_equal(kc_arena_create(&a, &o), -EINVAL);
    o = (kc_arena_opts_t)KC_ARENA_OPTS_INIT;
    o.max_tickets = KC_ARENA_TICKETS_MAX + 1;
    assert_int_equal(kc_arena_create(&a, &o), -EINVAL);
    assert_null(a);
    /* Defaults, and a size rounded up to whole pages. */
    assert_int_equal(kc_arena_create(&a, NULL), 0);
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.pages_total * m.page_size, KC_ARENA_BYTES_DEFAULT);
    assert_int_equal(kc_arena_destroy(a), 0);
    o = (kc_arena_opts_t)KC_ARENA_OPTS_INIT;
    o.bytes = 10000;
    o.page_size = 4096;
    assert_int_equal(kc_arena_create(&a, &o), 0);
    assert_int_equal(kc_at_metrics(a).pages_total, 3);
    assert_int_equal(kc_arena_destroy(a), 0);
    assert_int_equal(kc_arena_destroy(NULL), 0);
}

static void test_arena_alloc_rejects_bad_arguments(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 4096, 0);
    kc_arena_ticket_t t;
    assert_int_equal(kc_arena_alloc(NULL, 8, &t, NULL), -EINVAL);
    assert_int_equal(kc_arena_alloc(a, 8, NULL, NULL), -EINVAL);
    assert_int_equal(kc_arena_alloc(a, 0, &t, NULL), -EINVAL);
    assert_int_equal(kc_arena_alloc(a, (1 << 20) + 1, &t, NULL), -EMSGSIZE);
    assert_int_equal(kc_arena_alloc(a, SIZE_MAX, &t, NULL), -EMSGSIZE);
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.allocs, 0);
    assert_int_equal(m.failed_allocs, 0);
    assert_int_equal(m.pages_used, 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

struct span {
    uintptr_t lo, hi;
};

static int by_lo(const void *x, const void *y)
{
    const struct span *a = x, *b = y;
    return (a->lo > b->lo) - (a->lo < b->lo);
}

/* Every size from 1 byte to 3 pages: aligned, disjoint, fully writable. */
static void test_arena_every_size_is_aligned_and_disjoint(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(64 << 20, 4096, 0);
    enum {
        N = 3 * 4096 / 7 + 1
    };
    static kc_arena_ticket_t t[N];
    static struct span sp[N];
    for (int i = 0; i < N; i++) {
        size_t size = 1 + (size_t)i * 7;
        void *p;
        assert_int_equal(kc_arena_alloc(a, size, &t[i], &p), 0);
        assert_int_equal((uintptr_t)p % 16, 0);
        if (size > 2048)
            assert_int_equal((uintptr_t)p % 4096, 0); /* page runs */
        memset(p, i & 0xff, size);
        sp[i] = (struct span){(uintptr_t)p, (uintptr_t)p + size};
    }
    for (int i = 0; i < N; i++) {
        unsigned char *p;
        size_t len;
        assert_int_equal(kc_arena_hydrate(a, t[i], (void **)&p, &len), 0);
        assert_int_equal(len, 1 + (size_t)i * 7);
        assert_int_equal(p[0], i & 0xff);
        assert_int_equal(p[len - 1], i & 0xff);
        assert_int_equal(kc_arena_release(a, t[i]), 0);
    }
    qsort(sp, N, sizeof(sp[0]), by_lo);
    for (int i = 1; i < N; i++)
        assert_true(sp[i - 1].hi <= sp[i].lo);
    assert_int_equal(kc_arena_check(a), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(kc_arena_release(a, t[i]), 1);
    kc_arena_flush(a);
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.live_tickets, 0);
    assert_int_equal(m.pages_used, 0);
    assert_int_equal(kc_arena_check(a), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

/* Fill a 64-page arena with one-page runs until -ENOMEM, free everything,
 * and fill it again: the same number fits, and one failure was counted. */
static void test_arena_exhaustion_returns_enomem_and_recovers(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(64 * 4096, 4096, 0);
    kc_arena_ticket_t t[80];
    for (int round = 0; round < 2; round++) {
        int n = 0, rc;
        while ((rc = kc_arena_alloc(a, 4096, &t[n], NULL)) == 0)
            n++;
        assert_int_equal(rc, -ENOMEM);
        assert_int_equal(n, 64);
        kc_arena_metrics_t m = kc_at_metrics(a);
        assert_int_equal(m.failed_allocs, 2 * (uint64_t)round + 1);
        assert_int_equal(m.pages_used, 64);
        assert_int_equal(m.pages_high_water, 64);
        assert_int_equal(m.live_tickets, 64);
        /* Small payloads fail too while every page is a run. */
        assert_int_equal(kc_arena_alloc(a, 16, &t[n], NULL), -ENOMEM);
        for (int i = 0; i < n; i++)
            assert_int_equal(kc_arena_release(a, t[i]), 1);
        assert_int_equal(kc_arena_check(a), 0);
    }
    assert_int_equal(kc_at_metrics(a).failed_allocs, 4);
    assert_int_equal(kc_arena_destroy(a), 0);
}

static void test_arena_ticket_table_exhaustion_is_enomem(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 4096, 100);
    kc_arena_ticket_t t[101];
    int n = 0;
    while (n < 101 && kc_arena_alloc(a, 16, &t[n], NULL) == 0)
        n++;
    assert_int_equal(n, 100);
    assert_int_equal(kc_at_metrics(a).failed_allocs, 1);
    assert_int_equal(kc_arena_release(a, t[0]), 1);
    assert_int_equal(kc_arena_alloc(a, 16, &t[0], NULL), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(kc_arena_release(a, t[i]), 1);
    assert_int_equal(kc_arena_check(a), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

/* Runs longer than the cached classes go straight to the central pool and
 * come back whole; a slab page goes back to FREE with its last slot. */
static void test_arena_long_runs_and_slabs_return_pages(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 4096, 0);
    kc_arena_ticket_t big, small;
    void *p;
    assert_int_equal(kc_arena_alloc(a, 40 * 4096 + 1, &big, &p), 0);
    assert_int_equal(kc_at_metrics(a).pages_used, 41);
    memset(p, 1, 40 * 4096 + 1);
    assert_int_equal(kc_arena_release(a, big), 1);
    assert_int_equal(kc_at_metrics(a).pages_used, 0);
    assert_int_equal(kc_arena_alloc(a, 48, &small, NULL), 0);
    assert_int_equal(kc_at_metrics(a).pages_used, 1);
    assert_int_equal(kc_arena_release(a, small), 1);
    assert_int_equal(kc_at_metrics(a).pages_used, 1); /* cached in this thread */
    assert_true(kc_at_metrics(a).cached_bytes > 0);
    kc_arena_flush(a);
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.pages_used, 0);
    assert_int_equal(m.cached_bytes, 0);
    assert_int_equal(m.largest_free_run, m.pages_total);
    assert_int_equal(kc_arena_check(a), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

/* Purge hands free pages back: counted, zero-filled when reused, and a
 * second purge finds nothing new. */
static void test_arena_purge_returns_free_pages(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(256 * 4096, 4096, 0);
    kc_arena_ticket_t t[8];
    unsigned char *p[8];
    for (int i = 0; i < 8; i++) {
        assert_int_equal(kc_arena_alloc(a, 40 * 1024 + 1, &t[i], (void **)&p[i]), 0);
        memset(p[i], 0x5a, 40 * 1024 + 1);
    }
    for (int i = 0; i < 8; i += 2)
        assert_int_equal(kc_arena_release(a, t[i]), 1);
    int n = kc_arena_purge(a);
    assert_int_equal(n, 256 - 4 * 11); /* everything but four live 11-page runs */
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.pages_purged, (uint64_t)n);
    assert_int_equal(m.purged_total, (uint64_t)n);
    assert_int_equal(p[0][0], 0);    /* the page behind a freed run is a new zero page */
    assert_int_equal(p[1][0], 0x5a); /* live runs are untouched */
    assert_int_equal(kc_arena_purge(a), 0);
    /* Reusing purged pages takes them off the purged count. */
    assert_int_equal(kc_arena_alloc(a, 40 * 1024 + 1, &t[0], (void **)&p[0]), 0);
    assert_int_equal(p[0][40 * 1024], 0);
    m = kc_at_metrics(a);
    assert_int_equal(m.pages_purged, (uint64_t)n - 11);
    assert_int_equal(m.purged_total, (uint64_t)n);
    for (int i = 0; i < 8; i += 2)
        assert_int_equal(kc_arena_release(a, t[i + 1]), 1);
    assert_int_equal(kc_arena_release(a, t[0]), 1);
    assert_int_equal(kc_arena_purge(a), 4 * 11 + 11);
    assert_int_equal(kc_at_metrics(a).pages_purged, 256);
    assert_int_equal(kc_arena_purge(NULL), -EINVAL);
    assert_int_equal(kc_arena_check(a), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

struct remote {
    kc_arena_t *a;
    kc_arena_ticket_t t[64];
    int freed, allocated;
};

static void *remote_releaser(void *arg)
{
    struct remote *r = arg;
    for (int i = 0; i < 64; i++)
        r->freed += kc_arena_release(r->a, r->t[i]) == 1;
    /* This thread also allocates, so it owns a cache when it exits. */
    kc_arena_ticket_t own;
    r->allocated = kc_arena_alloc(r->a, 100, &own, NULL) == 0;
    if (r->allocated)
        r->freed += kc_arena_release(r->a, own) == 1;
    return NULL;
}

/* A payload allocated on one thread and released on another is freed into
 * the releaser's cache, which its thread exit gives back. */
static void test_arena_release_on_other_thread_and_thread_exit(void **state)
{
    (void)state;
    struct remote r = {.a = kc_at_arena(1 << 20, 4096, 0)};
    for (int i = 0; i < 64; i++)
        assert_int_equal(kc_arena_alloc(r.a, 16 + i * 50, &r.t[i], NULL), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, remote_releaser, &r), 0);
    pthread_join(th, NULL);
    assert_int_equal(r.allocated, 1);
    assert_int_equal(r.freed, 65);
    kc_arena_flush(r.a);
    kc_arena_metrics_t m = kc_at_metrics(r.a);
    assert_int_equal(m.allocs, 65);
    assert_int_equal(m.frees, 65);
    assert_int_equal(m.live_tickets, 0);
    assert_int_equal(m.cached_bytes, 0);
    assert_int_equal(m.pages_used, 0); /* the exiting thread's cache came back */
    assert_int_equal(kc_arena_check(r.a), 0);
    assert_int_equal(kc_arena_destroy(r.a), 0);
}

#define SPLIT_N 1000

struct split {
    kc_arena_t *a;
    kc_arena_ticket_t t[SPLIT_N];
    pthread_barrier_t counted, done;
    int freed;
};

static void *split_releaser(void *arg)
{
    struct split *s = arg;
    for (int i = 0; i < SPLIT_N; i++)
        s->freed += kc_arena_release(s->a, s->t[i]) == 1;
    pthread_barrier_wait(&s->counted); /* the main thread counts; this cache lives */
    pthread_barrier_wait(&s->done);
    return NULL;
}

/* I6 with every batch path in play: one thread allocates 1000 blocks of two
 * classes (its bins refill 60 times), another frees them all (its bins only
 * take frees, so they flush more than they ever refill). allocs, frees and
 * live tickets are exact while the freeing thread's cache is alive, after
 * its exit, and after the allocating thread's flush. */
static void test_arena_counts_exact_when_one_thread_allocates_another_frees(void **state)
{
    (void)state;
    struct split *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->a = kc_at_arena(4 << 20, 4096, 0);
    assert_non_null(s->a);
    for (int i = 0; i < SPLIT_N; i++)
        assert_int_equal(kc_arena_alloc(s->a, i % 2 ? 64 : 4096, &s->t[i], NULL), 0);
    kc_arena_ticket_t own;
    assert_int_equal(kc_arena_alloc(s->a, 64, &own, NULL), 0);
    kc_arena_metrics_t m = kc_at_metrics(s->a);
    assert_int_equal(m.allocs, SPLIT_N + 1);
    assert_int_equal(m.frees, 0);
    assert_int_equal(m.live_tickets, SPLIT_N + 1);
    pthread_barrier_init(&s->counted, NULL, 2);
    pthread_barrier_init(&s->done, NULL, 2);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, split_releaser, s), 0);
    pthread_barrier_wait(&s->counted);
    m = kc_at_metrics(s->a);
    assert_int_equal(s->freed, SPLIT_N);
    assert_int_equal(m.allocs, SPLIT_N + 1);
    assert_int_equal(m.frees, SPLIT_N);
    assert_int_equal(m.live_tickets, 1);
    assert_int_equal(kc_arena_check(s->a), 0);
    pthread_barrier_wait(&s->done);
    pthread_join(th, NULL);
    assert_int_equal(kc_arena_release(s->a, own), 1);
    m = kc_at_metrics(s->a);
    assert_int_equal(m.allocs, SPLIT_N + 1);
    assert_int_equal(m.frees, SPLIT_N + 1);
    assert_int_equal(m.live_tickets, 0);
    kc_arena_flush(s->a);
    m = kc_at_metrics(s->a);
    assert_int_equal(m.frees, SPLIT_N + 1);
    assert_int_equal(m.cached_bytes, 0);
    assert_int_equal(m.pages_used, 0);
    assert_int_equal(kc_arena_check(s->a), 0);
    pthread_barrier_destroy(&s->counted);
    pthread_barrier_destroy(&s->done);
    assert_int_equal(kc_arena_destroy(s->a), 0);
    free(s);
}

struct late {
    kc_arena_t *a;
    kc_arena_ticket_t t;
    pthread_key_t key;
    int rc;
};

/* A destructor of a key created after the arena's runs after the arena's own
 * destructor has freed this thread's cache. */
static void late_release(void *p)
{
    struct late *l = p;
    l->rc = kc_arena_release(l->a, l->t);
}

static void *late_main(void *arg)
{
    struct late *l = arg;
    l->rc = kc_arena_alloc(l->a, 100, &l->t, NULL);
    if (l->rc == 0)
        pthread_setspecific(l->key, l);
    return NULL;
}

/* Releasing a ticket from a later thread-exit destructor is safe: the
 * thread's freed cache is not reused, and the cache made on the way is
 * returned too. */
static void test_arena_release_in_late_thread_destructor(void **state)
{
    (void)state;
    struct late l = {.a = kc_at_arena(1 << 20, 4096, 0), .rc = -1};
    assert_int_equal(pthread_key_create(&l.key, late_release), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, late_main, &l), 0);
    pthread_join(th, NULL);
    assert_int_equal(l.rc, 1);
    kc_arena_metrics_t m = kc_at_metrics(l.a);
    assert_int_equal(m.live_tickets, 0);
    assert_int_equal(m.cached_bytes, 0);
    assert_int_equal(m.pages_used, 0);
    assert_int_equal(kc_arena_check(l.a), 0);
    pthread_key_delete(l.key);
    assert_int_equal(kc_arena_destroy(l.a), 0);
}

static void test_arena_destroy_reports_live_tickets(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(1 << 20, 4096, 0);
    kc_arena_ticket_t t;
    for (int i = 0; i < 3; i++)
        assert_int_equal(kc_arena_alloc(a, 100, &t, NULL), 0);
    assert_int_equal(kc_arena_destroy(a), 3);
}

/* Larger pages: classes scale with the page, runs are whole pages. */
static void test_arena_large_pages(void **state)
{
    (void)state;
    kc_arena_t *a = kc_at_arena(16 << 20, 64 * 1024, 0);
    kc_arena_ticket_t t[3];
    void *p;
    assert_int_equal(kc_arena_alloc(a, 20000, &t[0], &p), 0); /* a slot */
    assert_int_equal(kc_arena_alloc(a, 40000, &t[1], &p), 0); /* a one-page run */
    assert_int_equal((uintptr_t)p % (64 * 1024), 0);
    assert_int_equal(kc_arena_alloc(a, 200000, &t[2], &p), 0); /* four pages */
    kc_arena_metrics_t m = kc_at_metrics(a);
    assert_int_equal(m.page_size, 64 * 1024);
    assert_int_equal(m.pages_used, 1 + 1 + 4);
    for (int i = 0; i < 3; i++)
        assert_int_equal(kc_arena_release(a, t[i]), 1);
    assert_int_equal(kc_arena_check(a), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

/* mmap promises only OS-page alignment, yet page runs are aligned to the
 * arena's page (kcoro/arena.h). Kernels that align large anonymous maps to
 * huge pages hide a missing alignment for big arenas, so small arenas of
 * large pages are made after one-OS-page spacers that shift the next
 * mapping's address: every run must still start on an arena page. */
static void test_arena_runs_align_to_large_pages_wherever_mmap_lands(void **state)
{
    (void)state;
    size_t os_page = (size_t)sysconf(_SC_PAGESIZE);
    void *spacer[8];
    for (int i = 0; i < 8; i++) {
        spacer[i] = mmap(NULL, os_page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(spacer[i] != MAP_FAILED);
        size_t page = (size_t)64 * 1024 << (i % 3); /* 64, 128, 256 KiB */
        kc_arena_t *a = kc_at_arena(3 * page, page, 0);
        assert_non_null(a);
        kc_arena_ticket_t t[3];
        void *p[3];
        for (int k = 0; k < 3; k++) {
            assert_int_equal(kc_arena_alloc(a, page - 1, &t[k], &p[k]), 0); /* one-page runs */
            if ((uintptr_t)p[k] % page != 0)
                fail_msg("arena %d (page %zu): run %d at %p", i, page, k, p[k]);
        }
        for (int k = 0; k < 3; k++)
            assert_int_equal(kc_arena_release(a, t[k]), 1);
        assert_int_equal(kc_arena_check(a), 0);
        assert_int_equal(kc_arena_destroy(a), 0);
    }
    for (int i = 0; i < 8; i++)
        munmap(spacer[i], os_page);
}

/* kc__arena_class_of() and the class table agree: for every length the
 * computed class fits it and the class below does not (4 KiB to 1 MiB pages,
 * slot lengths exhaustively, runs at their edges). */
static void test_arena_size_classes_are_tight(void **state)
{
    (void)state;
    for (size_t page = 4096; page <= 1024 * 1024; page *= 4) {
        kc_arena_t *a = kc_at_arena(64 * page, page, 0);
        struct kc_arena *ai = a;
        assert_int_equal(ai->slot_max, page / 2);
        for (size_t len = 1; len <= ai->slot_max; len++) {
            uint32_t c = kc__arena_class_of(ai, len);
            if (c >= ai->nslot || ai->class_size[c] < len ||
                (c > 0 && ai->class_size[c - 1] >= len))
                fail_msg("page %zu, len %zu: class %u", page, len, c);
        }
        for (size_t k = 1; k <= KC_ARENA_RUN_CLASSES + 1; k++) {
            uint32_t want = k <= KC_ARENA_RUN_CLASSES ? ai->nslot + (uint32_t)k - 1 : ai->nclass;
            size_t lo = k == 1 ? ai->slot_max + 1 : (k - 1) * page + 1;
            assert_int_equal(kc__arena_class_of(ai, lo), want);
            assert_int_equal(kc__arena_class_of(ai, k * page), want);
        }
        /* The table and the computation agree on every length it covers. */
        for (size_t len = 1; len <= KC_ARENA_LUT_MAX; len++)
            if (kc__arena_class_of(ai, len) != kc__arena_class_calc(ai, len))
                fail_msg("page %zu, len %zu: table says %u, computed %u", page, len,
                         kc__arena_class_of(ai, len), kc__arena_class_calc(ai, len));
        assert_int_equal(kc_arena_destroy(a), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_create_rejects_bad_options),
        cmocka_unit_test(test_arena_alloc_rejects_bad_arguments),
        cmocka_unit_test(test_arena_every_size_is_aligned_and_disjoint),
        cmocka_unit_test(test_arena_exhaustion_returns_enomem_and_recovers),
        cmocka_unit_test(test_arena_ticket_table_exhaustion_is_enomem),
        cmocka_unit_test(test_arena_long_runs_and_slabs_return_pages),
        cmocka_unit_test(test_arena_purge_returns_free_pages),
        cmocka_unit_test(test_arena_release_on_other_thread_and_thread_exit),
        cmocka_unit_test(test_arena_counts_exact_when_one_thread_allocates_another_frees),
        cmocka_unit_test(test_arena_release_in_late_thread_destructor),
        cmocka_unit_test(test_arena_destroy_reports_live_tickets),
        cmocka_unit_test(test_arena_large_pages),
        cmocka_unit_test(test_arena_runs_align_to_large_pages_wherever_mmap_lands),
        cmocka_unit_test(test_arena_size_classes_are_tight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
