/* test_registry.c - the registry of named objects (kcoro/registry.h).
 *
 * Opt-in registration by flag and by the process-wide switch, ids and names
 * in snapshots (and the older snapshot layouts), walks that filter, stop,
 * and survive visitors that create and destroy objects, extension kinds
 * with a metrics callback, and walks racing creations on other threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "kcoro.h"
#include "kc_test_util.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

/* Collects the entries a walk shows. */
struct seen {
    int n;
    uint32_t kind[64];
    uint64_t id[64];
    char name[64][KC_REGISTRY_NAME_MAX];
    void *obj[64];
};

static int collect(const kc_registry_entry_t *e, void *arg)
{
    struct seen *s = arg;
    if (s->n < 64) {
        s->kind[s->n] = e->kind;
        s->id[s->n] = e->id;
        s->obj[s->n] = e->object;
        snprintf(s->name[s->n], KC_REGISTRY_NAME_MAX, "%s", e->name);
    }
    s->n++;
    return 0;
}

static kc_chan_t *named_chan(const char *name, uint32_t flags)
{
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = 4;
    o.elem_size = sizeof(int);
    o.name = name;
    o.flags = flags;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_create(&ch, &o), 0);
    return ch;
}

static void test_registry_lists_only_flagged_channels(void **state)
{
    (void)state;
    assert_int_equal(kc_registry_configure("none"), 0);
    size_t before = kc_registry_count(0);
    kc_chan_t *a = named_chan("orders", KC_CHAN_REGISTER);
    kc_chan_t *b = named_chan("quiet", 0);
    assert_int_equal(kc_registry_count(0), before + 1);
    struct seen s = {0};
    assert_int_equal(kc_registry_foreach(KC_REGISTRY_MASK(KC_REGISTRY_CHAN), collect, &s), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.name[0], "orders");
    assert_int_equal(s.kind[0], KC_REGISTRY_CHAN);
    assert_ptr_equal(s.obj[0], a);
    assert_int_equal(s.id[0], kc_chan_id(a));
    assert_true(kc_chan_id(b) > kc_chan_id(a));
    assert_string_equal(kc_chan_name(b), "quiet");
    assert_int_equal(kc_chan_destroy(a), 0);
    assert_int_equal(kc_registry_count(0), before);
    assert_int_equal(kc_chan_destroy(b), 0);
}

static void test_registry_switch_registers_every_channel_and_rejects_unknown_words(void **state)
{
    (void)state;
    assert_int_equal(kc_registry_configure("sched,chan"), 0);
    kc_chan_t *a = named_chan(NULL, 0);
    assert_int_equal(kc_registry_count(KC_REGISTRY_MASK(KC_REGISTRY_CHAN)), 1);
    struct seen s = {0};
    kc_registry_foreach(KC_REGISTRY_MASK(KC_REGISTRY_CHAN), collect, &s);
    char want[KC_REGISTRY_NAME_MAX];
    snprintf(want, sizeof(want), "chan-%llu", (unsigned long long)kc_chan_id(a));
    assert_string_equal(s.name[0], want);
    assert_int_equal(kc_registry_configure("chan,bogus"), -EINVAL);
    assert_int_equal(kc_registry_configure(NULL), -EINVAL);
    /* still "sched,chan" */
    assert_true(kc_registry_wants(KC_REGISTRY_CHAN, 0));
    assert_false(kc_registry_wants(KC_REGISTRY_BUS, 0));
    assert_true(kc_registry_wants(KC_REGISTRY_BUS, KC_REGISTRY_FLAG));
    assert_false(kc_registry_wants(0, KC_REGISTRY_FLAG));
    assert_int_equal(kc_registry_configure("none"), 0);
    kc_chan_t *b = named_chan(NULL, 0);
    assert_int_equal(kc_registry_count(0), 1);
    assert_int_equal(kc_chan_destroy(a), 0);
    assert_int_equal(kc_chan_destroy(b), 0);
    assert_int_equal(kc_registry_count(0), 0);
    assert_int_equal(kc_registry_configure("all"), 0);
    assert_true(kc_registry_wants(KC_REGISTRY_REMOTE_CHAN, 0));
    assert_int_equal(kc_registry_configure("none"), 0);
}

static void test_registry_snapshot_v3_carries_id_and_name_and_v2_layout_still_works(void **state)
{
    (void)state;
    kc_chan_t *ch = named_chan("ticks", 0);
    int v = 7;
    assert_int_equal(kc_chan_send(ch, &v, 0, NULL), 0);
    kc_chan_snapshot_t s = KC_CHAN_SNAPSHOT_INIT;
    assert_int_equal(kc_chan_snapshot(ch, &s), 0);
    assert_int_equal(s.metrics_version, 3);
    assert_int_equal(s.id, kc_chan_id(ch));
    assert_string_equal(s.name, "ticks");
    assert_int_equal(s.sends, 1);
    /* A version 2 caller: its size, nothing written past it. */
    union {
        kc_chan_snapshot_t s;
        unsigned char raw[sizeof(kc_chan_snapshot_t)];
    } old;
    memset(&old, 0xA5, sizeof(old));
    old.s.size = KC_CHAN_SNAPSHOT_V2_SIZE;
    assert_int_equal(kc_chan_snapshot(ch, &old.s), 0);
    assert_int_equal(old.s.size, KC_CHAN_SNAPSHOT_V2_SIZE);
    assert_int_equal(old.s.metrics_version, 2);
    assert_int_equal(old.s.sends, 1);
    assert_int_equal(old.s.occupancy, 1);
    for (size_t i = KC_CHAN_SNAPSHOT_V2_SIZE; i < sizeof(old); i++)
        assert_int_equal(old.raw[i], 0xA5);
    kc_chan_snapshot_t small = {.size = KC_CHAN_SNAPSHOT_V2_SIZE - 8};
    assert_int_equal(kc_chan_snapshot(ch, &small), -EINVAL);
    /* rates between two snapshots of different versions are refused */
    kc_chan_rate_t r;
    assert_int_equal(kc_chan_compute_rate(&old.s, &s, &r), -EINVAL);
    assert_int_equal(kc_chan_id(NULL), 0);
    assert_string_equal(kc_chan_name(NULL), "");
    kc_chan_opts_t bad = KC_CHAN_OPTS_INIT;
    bad.flags = 1;
    kc_chan_t *x = NULL;
    assert_int_equal(kc_chan_create(&x, &bad), -EINVAL);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

/* A visitor that destroys every channel it is shown and creates one. */
static int destroy_and_create(const kc_registry_entry_t *e, void *arg)
{
    int *created = arg;
    if (e->kind == KC_REGISTRY_CHAN) {
        assert_int_equal(kc_chan_destroy(e->object), 0);
        if (*created == 0) {
            kc_chan_t *n = named_chan("born-in-walk", KC_CHAN_REGISTER);
            (void)n;
            (*created)++;
        }
    }
    return 0;
}

static int nested(const kc_registry_entry_t *e, void *arg)
{
    (void)e;
    struct seen *s = arg;
    kc_registry_foreach(0, collect, s);
    return 42;
}

static int nest_deep(const kc_registry_entry_t *e, void *arg)
{
    int *level = arg;
    if (++*level == 4) /* inside the fourth walk, a fifth is one too deep */
        return kc_registry_foreach(0, nest_deep, arg) == -EDEADLK ? 7 : -1;
    (void)e;
    return kc_registry_foreach(0, nest_deep, arg);
}

static void test_registry_walk_filters_stops_and_survives_visitors_that_destroy(void **state)
{
    (void)state;
    kc_chan_t *c[5];
    for (int i = 0; i < 5; i++) {
        char nm[16];
        snprintf(nm, sizeof(nm), "c%d", i);
        c[i] = named_chan(nm, KC_CHAN_REGISTER);
    }
    kc_sched_t *s = NULL;
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 1;
    so.flags = KC_SCHED_REGISTER;
    so.name = "io-sched";
    assert_int_equal(kc_sched_create(&s, &so), 0);
    struct seen all = {0};
    assert_int_equal(kc_registry_foreach(0, collect, &all), 0);
    assert_int_equal(all.n, 6);
    for (int i = 0; i < 5; i++) /* oldest first */
        assert_ptr_equal(all.obj[i], c[i]);
    assert_string_equal(all.name[5], "io-sched");
    assert_int_equal(all.kind[5], KC_REGISTRY_SCHED);
    struct seen inner = {0};
    assert_int_equal(kc_registry_foreach(0, nested, &inner), 42);
    assert_int_equal(inner.n, 6); /* a nested walk sees everything */
    int level = 0;
    assert_int_equal(kc_registry_foreach(0, nest_deep, &level), 7);
    assert_int_equal(kc_registry_foreach(0, NULL, NULL), -EINVAL);
    int created = 0;
    assert_int_equal(
        kc_registry_foreach(KC_REGISTRY_MASK(KC_REGISTRY_CHAN), destroy_and_create, &created), 0);
    /* The five are gone; the one born in the walk was appended and, being
     * a channel, destroyed when the walk reached it. */
    assert_int_equal(created, 1);
    assert_int_equal(kc_registry_count(KC_REGISTRY_MASK(KC_REGISTRY_CHAN)), 0);
    assert_int_equal(kc_registry_count(0), 1);
    kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
    assert_int_equal(kc_sched_metrics(s, &m, NULL, 0), 1);
    assert_int_equal(m.id, kc_sched_id(s));
    assert_string_equal(m.name, "io-sched");
    kc_sched_metrics_t old = KC_SCHED_METRICS_INIT;
    old.size = offsetof(kc_sched_metrics_t, id);
    old.id = 99;
    assert_int_equal(kc_sched_metrics(s, &old, NULL, 0), 1);
    assert_int_equal(old.id, 99); /* beyond the caller's size: untouched */
    assert_int_equal(kc_sched_destroy(s), 0);
    assert_int_equal(kc_registry_count(0), 0);
}

static void test_registry_lists_buses_and_arenas_with_ids_in_their_metrics(void **state)
{
    (void)state;
    kc_arena_opts_t ao = KC_ARENA_OPTS_INIT;
    ao.bytes = 1 << 20;
    ao.name = "payloads";
    ao.flags = KC_ARENA_REGISTER;
    kc_arena_t *a = NULL;
    assert_int_equal(kc_arena_create(&a, &ao), 0);
    kc_bus_opts_t bo = {.size = sizeof(bo), .msg_size = 8, .capacity = 16};
    bo.flags = KC_BUS_REGISTER;
    bo.name = "prices";
    kc_bus_t *bus = NULL;
    kc_bus_pub_t *pub = NULL;
    assert_int_equal(kc_bus_create(&bo, &bus, &pub), 0);
    struct seen s = {0};
    kc_registry_foreach(KC_REGISTRY_MASK(KC_REGISTRY_BUS) | KC_REGISTRY_MASK(KC_REGISTRY_ARENA),
                        collect, &s);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.name[0], "payloads");
    assert_string_equal(s.name[1], "prices");
    kc_arena_metrics_t am = {.size = sizeof(am)};
    assert_int_equal(kc_arena_metrics(a, &am), 0);
    assert_int_equal(am.id, s.id[0]);
    assert_string_equal(am.name, "payloads");
    kc_bus_metrics_t bm = {.size = sizeof(bm)};
    assert_int_equal(kc_bus_metrics(bus, &bm), 0);
    assert_int_equal(bm.id, s.id[1]);
    assert_string_equal(bm.name, "prices");
    /* The bus stays listed until its last handle goes. */
    kc_bus_sub_t *sub = NULL;
    assert_int_equal(kc_bus_subscribe(bus, &sub), 0);
    kc_bus_pub_release(pub);
    kc_bus_release(bus);
    assert_int_equal(kc_registry_count(KC_REGISTRY_MASK(KC_REGISTRY_BUS)), 1);
    kc_bus_unsubscribe(sub);
    assert_int_equal(kc_registry_count(KC_REGISTRY_MASK(KC_REGISTRY_BUS)), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
    assert_int_equal(kc_registry_count(0), 0);
    /* Older, shorter options: accepted, not registered. */
    kc_arena_opts_t old = KC_ARENA_OPTS_INIT;
    old.size = offsetof(kc_arena_opts_t, flags);
    old.bytes = 1 << 20;
    assert_int_equal(kc_arena_create(&a, &old), 0);
    assert_int_equal(kc_registry_count(0), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
    ao.flags = 3;
    assert_int_equal(kc_arena_create(&a, &ao), -EINVAL);
    bo.flags = 1;
    assert_int_equal(kc_bus_create(&bo, &bus, &pub), -EINVAL);
}

static int conn_metrics(void *object, kc_registry_emit_fn emit, void *ctx)
{
    const uint64_t *frames = object;
    emit(ctx, "frames_sent", KC_REGISTRY_COUNTER, (double)*frames, "Frames written.");
    emit(ctx, "window", KC_REGISTRY_GAUGE, 64, "Credit window.");
    return 0;
}

struct emitted {
    int n;
    double sum;
};

static void count_emit(void *ctx, const char *name, kc_registry_metric_type_t type, double value,
                       const char *help)
{
    struct emitted *e = ctx;
    assert_non_null(name);
    assert_non_null(help);
    assert_true(type == KC_REGISTRY_COUNTER || type == KC_REGISTRY_GAUGE);
    e->n++;
    e->sum += value;
}

static int call_ops(const kc_registry_entry_t *e, void *arg)
{
    assert_non_null(e->ops);
    return e->ops->metrics(e->object, count_emit, arg);
}

static void test_registry_extension_kinds_report_metrics_through_ops(void **state)
{
    (void)state;
    static const kc_registry_ops_t ops = {sizeof(ops), conn_metrics, NULL};
    uint64_t frames = 10;
    kc_registry_node_t *n = NULL;
    assert_int_equal(kc_registry_add(KC_REGISTRY_CONN, &frames, 0, "peer-a", &ops, &n), 0);
    assert_true(kc_registry_node_id(n) > 0);
    assert_string_equal(kc_registry_node_name(n), "peer-a");
    struct emitted e = {0};
    assert_int_equal(kc_registry_foreach(KC_REGISTRY_MASK(KC_REGISTRY_CONN), call_ops, &e), 0);
    assert_int_equal(e.n, 2);
    assert_true(e.sum == 74.0);
    kc_registry_remove(n);
    kc_registry_remove(NULL);
    assert_int_equal(kc_registry_add(0, &frames, 0, NULL, NULL, &n), -EINVAL);
    assert_int_equal(kc_registry_add(KC_REGISTRY_CONN, NULL, 0, NULL, NULL, &n), -EINVAL);
    assert_int_equal(kc_registry_add(32, &frames, 0, NULL, NULL, &n), -EINVAL);
    assert_int_equal(kc_registry_node_id(NULL), 0);
    assert_string_equal(kc_registry_kind_name(KC_REGISTRY_REMOTE_CHAN), "remote_chan");
    assert_string_equal(kc_registry_kind_name(17), "object");
    assert_int_equal(kc_registry_count(0), 0);
}

/* Threads create and destroy registered channels while the main thread
 * walks: every walk sees a consistent list and nothing leaks. */
static _Atomic int churn_stop;
static _Atomic long churn_made, churn_bad;

static void *churn(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&churn_stop, memory_order_relaxed)) {
        kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
        o.kind = KC_CHAN_BUFFERED;
        o.capacity = 4;
        o.elem_size = sizeof(int);
        o.name = "churn";
        o.flags = KC_CHAN_REGISTER;
        kc_chan_t *ch = NULL;
        int v = 1;
        if (kc_chan_create(&ch, &o) != 0 || kc_chan_send(ch, &v, 0, NULL) != 0 ||
            kc_chan_destroy(ch) != 0)
            atomic_fetch_add(&churn_bad, 1);
        atomic_fetch_add(&churn_made, 1);
    }
    return NULL;
}

static int snap_chan(const kc_registry_entry_t *e, void *arg)
{
    kc_chan_snapshot_t s = KC_CHAN_SNAPSHOT_INIT;
    if (kc_chan_snapshot(e->object, &s) != 0 || s.id != e->id || strcmp(s.name, "churn") != 0)
        return -EPROTO;
    (*(long *)arg)++;
    return 0;
}

static void test_registry_walks_race_creation_and_destruction_safely(void **state)
{
    (void)state;
    atomic_store(&churn_stop, 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, churn, NULL), 0);
    long visited = 0, walks = 0, target = kc_test_scaled(20000);
    int rc = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do { /* bounded: 30 s */
        rc = kc_registry_foreach(0, snap_chan, &visited);
        walks++;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (rc == 0 && atomic_load(&churn_made) < target && t.tv_sec - t0.tv_sec < 30);
    atomic_store(&churn_stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(rc, 0);
    assert_int_equal(atomic_load(&churn_bad), 0);
    assert_true(atomic_load(&churn_made) >= target);
    assert_true(visited <= 2 * walks);
    assert_int_equal(kc_registry_count(0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_lists_only_flagged_channels),
        cmocka_unit_test(test_registry_switch_registers_every_channel_and_rejects_unknown_words),
        cmocka_unit_test(test_registry_snapshot_v3_carries_id_and_name_and_v2_layout_still_works),
        cmocka_unit_test(test_registry_walk_filters_stops_and_survives_visitors_that_destroy),
        cmocka_unit_test(test_registry_lists_buses_and_arenas_with_ids_in_their_metrics),
        cmocka_unit_test(test_registry_extension_kinds_report_metrics_through_ops),
        cmocka_unit_test(test_registry_walks_race_creation_and_destruction_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
