/* test_sched_stress.c - stress tests of the scheduler and its run queues.
 *
 * Four threads submit 100,000 coroutines that migrate, yield and spawn
 * children: every coroutine runs exactly once (kc_test_storm.h; spawns that
 * meet the stack ceiling of mprotect guard pages wait and retry). A burst
 * spawned on one worker spreads by stealing, and every coroutine that first
 * ran elsewhere is accounted for by the steal counters. A spawn tree joins
 * recursively. Coroutines that migrate at every step of a computation find
 * its integer and floating-point values (callee-saved registers) intact. The
 * Chase-Lev deque is hammered directly by an owner and three thieves: every
 * item leaves exactly once. Seeds are fixed and printed on failure.
 */
#define _GNU_SOURCE
#include "kcoro.h"

#include "port/kc_port.h"
#include "sched/kc_sched_impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_storm.h"
#include "kc_test_util.h"

/* ------------------------------------------------------------ submitters */

/* The storm of kc_test_storm.h on the stacks this machine gives: with
 * madvise guards nothing runs out; with mprotect guards (qemu-user, older
 * kernels) the submitters outrun the workers past the stack ceiling and wait
 * out -ENOMEM. test_sched_ceiling runs the same storm at a low ceiling. */
static void test_stress_four_submitters_every_coroutine_runs_once(void **state)
{
    (void)state;
    kc_test_storm(kc_test_scaled(25000));
}

/* ------------------------------------------------------------ stealing */

struct burst {
    long n;
    _Atomic int origin;
    _Atomic int *first_worker; /* -1 until the child first runs */
    _Atomic long runs;
    _Atomic long elsewhere; /* children that first ran off the origin worker */
};

static struct burst burst;

static int burst_child(void *arg)
{
    long id = (long)(intptr_t)arg;
    int expect = -1;
    int w = kc_sched_worker_index();
    if (atomic_compare_exchange_strong(&burst.first_worker[id], &expect, w) &&
        w != atomic_load(&burst.origin))
        atomic_fetch_add(&burst.elsewhere, 1);
    atomic_fetch_add(&burst.runs, 1);
    for (int i = 0; i < 3; i++)
        kc_sched_yield();
    return 0;
}

/* Spawns the burst without yielding (it all lands in this worker's deque),
 * then keeps the worker busy until another worker has taken some of it:
 * idle workers steal only work they have seen queued for the steal delay,
 * and on a loaded machine (three workers on two CPUs) the spawning alone
 * may end before an idle worker is even scheduled. At most 10 s. */
static int burst_spawner(void *arg)
{
    (void)arg;
    atomic_store(&burst.origin, kc_sched_worker_index());
    for (long i = 0; i < burst.n; i++)
        if (kc_sched_spawn(NULL, NULL, burst_child, (void *)(intptr_t)i, NULL) != 0)
            return -1;
    int64_t t0 = (int64_t)kc__port_now_ns();
    while (atomic_load(&burst.elsewhere) == 0 &&
           (int64_t)kc__port_now_ns() - t0 < 10LL * 1000 * 1000 * 1000)
        kc__port_relax();
    return 0;
}

static void test_stress_burst_on_one_worker_spreads_by_stealing(void **state)
{
    (void)state;
    enum {
        W = 3
    };
    kc_sched_t *s = kc_test_sched(W);
    burst.n = kc_test_scaled(20000);
    burst.first_worker = malloc((size_t)burst.n * sizeof(*burst.first_worker));
    for (long i = 0; i < burst.n; i++)
        atomic_init(&burst.first_worker[i], -1);
    atomic_store(&burst.runs, 0);
    atomic_store(&burst.elsewhere, 0);
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(s, &t, burst_spawner, NULL, NULL), 0);
    int st = -1;
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, 0);
    assert_int_equal(kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(atomic_load(&burst.runs), burst.n);
    long elsewhere = 0;
    for (long i = 0; i < burst.n; i++) {
        int w = atomic_load(&burst.first_worker[i]);
        assert_true(w >= 0 && w < W);
        elsewhere += w != burst.origin;
    }
    kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
    kc_sched_worker_metrics_t wm[W];
    kc_sched_metrics(s, &m, wm, W);
    uint64_t stolen = 0, steals = 0;
    for (int i = 0; i < W; i++) {
        stolen += wm[i].stolen;
        steals += wm[i].steals;
    }
    printf("burst: %ld children, %ld first ran off the origin worker; %llu steals took %llu\n",
           burst.n, elsewhere, (unsigned long long)steals, (unsigned long long)stolen);
    assert_true(elsewhere > 0);
    assert_true(stolen >= (uint64_t)elsewhere);
    assert_true(stolen <= steals * KC_SCHED_STEAL_MAX);
    assert_int_equal(kc_sched_destroy(s), 0);
    free(burst.first_worker);
}

/* ------------------------------------------------------------ tree */

static int tree(void *arg)
{
    long depth = (long)(intptr_t)arg;
    if (depth == 0)
        return 1;
    kc_task_t *a, *b;
    if (kc_sched_spawn(NULL, &a, tree, (void *)(intptr_t)(depth - 1), NULL) != 0)
        return -1000000;
    if (kc_sched_spawn(NULL, &b, tree, (void *)(intptr_t)(depth - 1), NULL) != 0)
        return -1000000;
    int x = 0, y = 0;
    kc_sched_join(a, &x, KC_NO_TIMEOUT, NULL);
    kc_sched_join(b, &y, KC_NO_TIMEOUT, NULL);
    return x + y + 1;
}

static void test_stress_spawn_tree_joins_every_node(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    int depth = 12;
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(s, &t, tree, (void *)(intptr_t)depth, NULL), 0);
    int nodes = 0;
    assert_int_equal(kc_sched_join(t, &nodes, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(nodes, (1 << (depth + 1)) - 1);
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* ------------------------------------------------------------ registers */

/* Values live across every step() call: the compiler keeps them in
 * callee-saved registers (x19-x28 and d8-d15 on AArch64; rbx, rbp and
 * r12-r15 on x86-64) or spills them to the stack, and a coroutine that
 * migrates in step() must find them all intact on the next worker. Each
 * seed gives other values at every round, so a register that arrives from
 * another coroutine (or from a worker's loop) shows. */
static uint64_t mix(uint64_t seed, int rounds, int (*step)(int), double *fsum /* OUT */)
{
    uint64_t a = seed * 0x9e3779b97f4a7c15ull + 1, b = a ^ 2, c = a + 3, d = a * 5, e = a >> 3;
    uint64_t f = ~a, g = a ^ 0x5555, h = a + seed, i = seed + 9, j = seed * 3 + 10;
    double p = (double)seed, q = 2.25, r = 3.125, u = 4.0625, v = 0.5, w = 0.25, x = 0.125;
    double y = 1.0;
    for (int k = 0; k < rounds; k++) {
        a = a * 6364136223846793005ull + b;
        b ^= a >> 17;
        c += b * 3;
        d = (d << 7 | d >> 57) ^ c;
        e += d;
        f ^= e * 5;
        g += f >> 3;
        h = h * 31 + g;
        i ^= h;
        j += i | 1;
        p = p * 0.5 + (double)(a >> 44);
        q = q * 0.5 + (double)(b >> 44);
        r = r * 0.5 + (double)(c >> 44);
        u = u * 0.5 + (double)(d >> 44);
        v = v * 0.5 + (double)(e >> 44);
        w = w * 0.5 + (double)(f >> 44);
        x = x * 0.5 + (double)(g >> 44);
        y = y * 0.5 + (double)(h >> 44);
        j ^= (uint64_t)step(k);
    }
    *fsum = p + 3 * q + 5 * r + 7 * u + 11 * v + 13 * w + 17 * x + 19 * y;
    return a ^ b ^ c ^ d ^ e ^ f ^ g ^ h ^ i ^ j;
}

/* Called only through this pointer, so no specialised copy of mix skips
 * the calls. */
static uint64_t (*volatile mix_fn)(uint64_t, int, int (*)(int), double *) = mix;

enum {
    REG_WORKERS = 3,
    REG_TASKS = 8
};

static int stay(int k)
{
    (void)k;
    return 0;
}

/* Move to another worker, and now and then let the others run there. */
static int hop(int k)
{
    int rc = kc_sched_migrate(k % REG_WORKERS);
    if (k % 3 == 0)
        kc_sched_yield();
    return rc;
}

struct reg_run {
    uint64_t seed;
    int rounds;
    uint64_t ints;
    double floats;
};

static int reg_body(void *arg)
{
    struct reg_run *run = arg;
    run->ints = mix_fn(run->seed, run->rounds, hop, &run->floats);
    return 0;
}

static void test_stress_migration_keeps_callee_saved_registers(void **state)
{
    (void)state;
    int rounds = (int)kc_test_scaled(3000);
    kc_sched_t *s = kc_test_sched(REG_WORKERS);
    struct reg_run runs[REG_TASKS];
    kc_task_t *t[REG_TASKS];
    for (int i = 0; i < REG_TASKS; i++) {
        runs[i] = (struct reg_run){.seed = (uint64_t)i + 1, .rounds = rounds};
        assert_int_equal(kc_sched_spawn(s, &t[i], reg_body, &runs[i], NULL), 0);
    }
    for (int i = 0; i < REG_TASKS; i++) {
        assert_int_equal(kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL), 0);
        double want_floats = 0;
        uint64_t want_ints = mix_fn(runs[i].seed, rounds, stay, &want_floats);
        if (runs[i].ints != want_ints || runs[i].floats != want_floats)
            fail_msg("seed %d: %llx %.17g, want %llx %.17g", i + 1,
                     (unsigned long long)runs[i].ints, runs[i].floats,
                     (unsigned long long)want_ints, want_floats);
    }
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* ------------------------------------------------------------ the deque */

struct deque_race {
    struct kc_deque dq;
    long items;
    _Atomic uint8_t *taken;
    _Atomic int owner_done;
    _Atomic long stolen;
};

static struct kc_task *item(long i)
{
    return (struct kc_task *)(uintptr_t)((i + 1) * 8); /* never dereferenced */
}

static long item_id(struct kc_task *t)
{
    return (long)((uintptr_t)t / 8) - 1;
}

static void *thief(void *arg)
{
    struct deque_race *r = arg;
    long mine = 0;
    for (;;) {
        struct kc_task *t = kc__deque_steal(&r->dq);
        if (t == KC_DEQUE_ABORT)
            continue;
        if (t == KC_DEQUE_EMPTY) {
            if (atomic_load(&r->owner_done))
                break;
            kc_sched_yield(); /* a plain thread: lets the owner run */
            continue;
        }
        atomic_fetch_add(&r->taken[item_id(t)], 1);
        mine++;
    }
    atomic_fetch_add(&r->stolen, mine);
    return NULL;
}

static void test_stress_deque_owner_and_thieves_take_each_item_once(void **state)
{
    (void)state;
    unsigned seed = 31337;
    srand(seed);
    struct deque_race r = {.items = kc_test_scaled(1000000)};
    assert_int_equal(kc__deque_init(&r.dq, 4), 0); /* small: it must grow */
    r.taken = calloc((size_t)r.items, 1);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, thief, &r), 0);
    long pushed = 0, popped = 0;
    while (pushed < r.items) {
        int burst_n = 1 + rand() % 64;
        for (int k = 0; k < burst_n && pushed < r.items; k++)
            assert_int_equal(kc__deque_push(&r.dq, item(pushed++)), 0);
        int pops = rand() % 48;
        for (int k = 0; k < pops; k++) {
            struct kc_task *t = kc__deque_pop(&r.dq);
            if (t == NULL)
                break;
            atomic_fetch_add(&r.taken[item_id(t)], 1);
            popped++;
        }
    }
    struct kc_task *t;
    while ((t = kc__deque_pop(&r.dq)) != NULL) {
        atomic_fetch_add(&r.taken[item_id(t)], 1);
        popped++;
    }
    atomic_store(&r.owner_done, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    long bad = 0;
    for (long i = 0; i < r.items; i++)
        if (r.taken[i] != 1 && bad++ == 0)
            fprintf(stderr, "item %ld taken %d times (seed %u)\n", i, r.taken[i], seed);
    assert_int_equal(bad, 0);
    assert_int_equal(popped + atomic_load(&r.stolen), r.items);
    kc__deque_fini(&r.dq);
    free(r.taken);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress_four_submitters_every_coroutine_runs_once),
        cmocka_unit_test(test_stress_burst_on_one_worker_spreads_by_stealing),
        cmocka_unit_test(test_stress_spawn_tree_joins_every_node),
        cmocka_unit_test(test_stress_migration_keeps_callee_saved_registers),
        cmocka_unit_test(test_stress_deque_owner_and_thieves_take_each_item_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
