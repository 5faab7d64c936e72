/* test_sched_ceiling.c - the scheduler at the stack ceiling of mprotect guards.
 *
 * With PROT_NONE guard pages (kernels before 6.13, and qemu-user, which
 * accepts MADV_GUARD_INSTALL and ignores it) every guarded stack costs two
 * memory map entries, so vm.max_map_count caps the coroutines a process can
 * hold at once; README.md puts it near 32k. Tests that assumed otherwise
 * passed on this project's kernel and failed under qemu. main() sets
 * KCORO_GUARD=mprotect before the first stack exists, so this binary sees
 * that ceiling on any Linux kernel, and each test first maps a ballast of
 * small areas that leaves only KC_CEILING_ENTRIES map entries free, so the
 * ceiling is a few thousand stacks and is reached in milliseconds.
 *
 * At the ceiling a spawn fails with -ENOMEM and changes nothing; the
 * coroutines already spawned run exactly once; spawning works again after
 * they finish; and the four-submitter storm of kc_test_storm.h, backing off
 * on -ENOMEM, runs every coroutine exactly once. Skipped under valgrind
 * (its address-space manager has its own, lower, segment limit), under
 * ASan and TSan (their runtimes map memory for themselves all the time and
 * abort when the process has no map entry left), and where
 * vm.max_map_count is too large to fill cheaply.
 */
#define _GNU_SOURCE
#include "kcoro.h"

#include "sched/kc_sched_impl.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_storm.h"
#include "kc_test_util.h"

/* A sanitizer runtime cannot live at the map-entry ceiling. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KC_CEILING_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define KC_CEILING_SANITIZED 1
#endif
#endif
#ifndef KC_CEILING_SANITIZED
#define KC_CEILING_SANITIZED 0
#endif

enum {
    KC_CEILING_ENTRIES = 4000,      /* map entries the ballast leaves free */
    KC_CEILING_MAX_MAP = 1 << 20,   /* a larger vm.max_map_count is not filled */
    KC_CEILING_SPAWN_LIMIT = 100000 /* no -ENOMEM by then: the ceiling is gone */
};

/* ------------------------------------------------------------ ballast */

static struct {
    void *base;
    size_t len;
    bool ready; /* free map entries are down to about KC_CEILING_ENTRIES */
} ballast;

static long read_long(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f != NULL) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static long count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    long n = 0;
    int c;
    if (f == NULL)
        return -1;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* Map one area and split it, by protecting every other page, until about
 * `leave` map entries remain. 0, or -1 when this process cannot be
 * brought near its ceiling (then the test is skipped). */
static int ballast_fill(long leave)
{
    long max = read_long("/proc/sys/vm/max_map_count");
    long now = count_maps();
    if (max <= 0 || now < 0 || max > KC_CEILING_MAX_MAP)
        return -1;
    long use = max - now - leave;
    if (use <= 0)
        return 0; /* already that close */
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    ballast.len = (size_t)(use + 2) * ps;
    ballast.base =
        mmap(NULL, ballast.len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ballast.base == MAP_FAILED) {
        ballast.base = NULL;
        return -1;
    }
    /* Each protected page in the middle of an area splits it: two entries. */
    for (long i = 1; i + 1 < use + 2; i += 2)
        if (mprotect((char *)ballast.base + (size_t)i * ps, ps, PROT_NONE) != 0)
            break;
    return 0;
}

static int ballast_setup(void **state)
{
    (void)state;
    ballast.ready = !KC_CEILING_SANITIZED && getenv("KCORO_UNDER_VALGRIND") == NULL &&
                    getenv("KCORO_UNDER_QEMU") == NULL && ballast_fill(KC_CEILING_ENTRIES) == 0;
    return 0;
}

static int ballast_teardown(void **state)
{
    (void)state;
    if (ballast.base != NULL)
        munmap(ballast.base, ballast.len);
    ballast.base = NULL;
    ballast.len = 0;
    ballast.ready = false;
    return 0;
}

static bool ceiling_unreachable(const char *what)
{
    if (kc_test_skip_under_valgrind(what))
        return true;
    if (KC_CEILING_SANITIZED) {
        printf("[ SKIPPED  ] %s: sanitizer runtimes abort without free map entries\n", what);
        return true;
    }
    if (getenv("KCORO_UNDER_QEMU") != NULL) {
        printf("[ SKIPPED  ] %s: qemu-user needs free map entries of its own\n", what);
        return true;
    }
    if (ballast.ready)
        return false;
    printf("[ SKIPPED  ] %s: vm.max_map_count is unreadable or above %d\n", what,
           KC_CEILING_MAX_MAP);
    return true;
}

/* ------------------------------------------------------------ held spawns */

struct held {
    kc_cancel_t *gate; /* fires to let every held coroutine finish */
    _Atomic uint8_t *runs;
    _Atomic long released; /* parks that ended with -ECANCELED, the gate */
    _Atomic long odd;      /* parks that ended any other way */
};

static struct held held;

/* Holds its stack until the gate fires. */
static int held_body(void *arg)
{
    long id = (long)(intptr_t)arg;
    atomic_fetch_add(&held.runs[id], 1);
    kc_parker_t p;
    kc_parker_init(&p);
    if (kc_park(&p, KC_NO_TIMEOUT, held.gate) == -ECANCELED)
        atomic_fetch_add(&held.released, 1);
    else
        atomic_fetch_add(&held.odd, 1);
    return 0;
}

/* Spawn held coroutines until -ENOMEM (or `limit` of them); returns how many
 * were spawned, and the last answer in *last. */
static long spawn_held(kc_sched_t *s, long first, long limit, int *last /* OUT */)
{
    long made = 0;
    *last = 0;
    while (made < limit) {
        *last = kc_sched_spawn(s, NULL, held_body, (void *)(intptr_t)(first + made), NULL);
        if (*last != 0)
            break;
        made++;
    }
    return made;
}

/* Let every held coroutine finish and check each ran once. */
static void release_held(kc_sched_t *s, long n)
{
    assert_int_equal(kc_cancel_trigger(held.gate), 1);
    assert_int_equal(kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL), 0);
    long once = 0;
    for (long i = 0; i < n; i++)
        once += held.runs[i] == 1;
    assert_int_equal(once, n);
    assert_int_equal(atomic_load(&held.released), n);
    assert_int_equal(atomic_load(&held.odd), 0);
}

static void test_ceiling_spawn_fails_with_enomem_and_the_scheduler_recovers(void **state)
{
    (void)state;
    if (ceiling_unreachable(__func__))
        return;
    kc_coro_stack_stats_t st;
    kc_coro_stack_stats(&st);
    assert_int_equal(st.guard_mode, KC_CORO_GUARD_MPROTECT); /* main() asked for it */
    uint64_t live0 = st.live;
    kc_sched_t *s = NULL;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.nworkers = 2;
    assert_int_equal(kc_sched_create(&s, &o), 0);
    held.runs = calloc(KC_CEILING_SPAWN_LIMIT, 1);
    assert_non_null(held.runs);
    atomic_store(&held.released, 0);
    atomic_store(&held.odd, 0);
    assert_int_equal(kc_cancel_create(&held.gate, NULL), 0);

    /* Up to the ceiling: the first failure is -ENOMEM, and it sticks. */
    int last;
    long made = spawn_held(s, 0, KC_CEILING_SPAWN_LIMIT, &last);
    printf("ceiling: %ld coroutines held before -ENOMEM\n", made);
    assert_int_equal(last, -ENOMEM);
    assert_true(made > 0);
    assert_int_equal(kc_sched_spawn(s, NULL, held_body, NULL, NULL), -ENOMEM);
    kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
    kc_sched_metrics(s, &m, NULL, 0);
    assert_int_equal(m.spawned, (uint64_t)made); /* the failures left no trace */
    assert_int_equal(m.live, (uint64_t)made);
    kc_coro_stack_stats(&st);
    assert_int_equal(st.live, live0 + (uint64_t)made);

    /* Everything spawned runs once and gives its stack back. */
    release_held(s, made);
    kc_sched_metrics(s, &m, NULL, 0);
    assert_int_equal(m.finished, (uint64_t)made);
    assert_int_equal(m.live, 0);
    kc_coro_stack_stats(&st);
    assert_int_equal(st.live, live0);

    /* Recovery: a quarter as many again, held and released the same way.
     * Not all of them: workers' stack caches keep up to 256 freed stacks
     * each to themselves, and the C library may have taken a few map
     * entries for its own heaps meanwhile (one CI run could not get half
     * back), so a quarter is what "spawning works again" can promise. */
    assert_int_equal(kc_cancel_destroy(held.gate), 0);
    assert_int_equal(kc_cancel_create(&held.gate, NULL), 0);
    for (long i = 0; i < made; i++)
        atomic_store(&held.runs[i], 0);
    atomic_store(&held.released, 0);
    long again = spawn_held(s, 0, made / 4, &last);
    if (last != 0)
        printf("ceiling: recovery stopped at %ld of %ld (%d), %ld map entries of %ld\n", again,
               made / 4, last, count_maps(), read_long("/proc/sys/vm/max_map_count"));
    assert_int_equal(last, 0);
    assert_int_equal(again, made / 4);
    release_held(s, again);

    assert_int_equal(kc__sched_check(s), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
    assert_int_equal(kc_cancel_destroy(held.gate), 0);
    free(held.runs);
}

/* ------------------------------------------------------------ storm */

static void test_ceiling_storm_backs_off_and_runs_every_coroutine_once(void **state)
{
    (void)state;
    if (ceiling_unreachable(__func__))
        return;
    kc_test_storm(kc_test_scaled(25000));
}

int main(void)
{
    /* Before any stack exists: the guard mode is chosen once per process. */
    setenv("KCORO_GUARD", "mprotect", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_ceiling_spawn_fails_with_enomem_and_the_scheduler_recovers, ballast_setup,
            ballast_teardown),
        cmocka_unit_test_setup_teardown(test_ceiling_storm_backs_off_and_runs_every_coroutine_once,
                                        ballast_setup, ballast_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
