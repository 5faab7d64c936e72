/* bench_ctx.c - task-local context (kcoro/context.h): what a read costs.
 *
 * ctx.get: kc_ctx_get of a set key inside a coroutine, per read;
 * ctx.get_unset: of a key the task never set; ctx.self_id: kc_sched_self_id,
 * the cheapest call that also finds the running task, for scale;
 * ctx.set: replacing a value (an allocation, a free and the destructor).
 */
#include "kcoro.h"
#include "kcoro/context.h"

#include "kc_bench_util.h"

#include <stdio.h>
#include <stdlib.h>

static kc_ctx_key_t key = KC_CTX_KEY_INIT("bench", NULL);
static kc_ctx_key_t other = KC_CTX_KEY_INIT("bench-unset", NULL);

struct run {
    int what; /* 0 get, 1 get unset, 2 self id, 3 set */
    long n;
    double ns;
};

static int body(void *arg)
{
    struct run *r = arg;
    static int value = 42;
    if (kc_ctx_set(&key, &value) != 0)
        return -1;
    if (kc_ctx_set(&other, &value) != 0 || kc_ctx_set(&other, NULL) != 0) /* an id, no value */
        return -1;
    uintptr_t acc = 0;
    uint64_t t0 = kc_bench_now_ns();
    for (long i = 0; i < r->n; i++) {
        switch (r->what) {
        case 0:
            acc += (uintptr_t)kc_ctx_get(&key);
            break;
        case 1:
            acc += (uintptr_t)kc_ctx_get(&other);
            break;
        case 2:
            acc += (uintptr_t)kc_sched_self_id();
            break;
        default:
            kc_ctx_set(&key, &value);
        }
        KC_BENCH_KEEP(acc);
    }
    r->ns = (double)(kc_bench_now_ns() - t0) / (double)r->n;
    return 0;
}

static kc_sched_t *sched;

static double measure(void *arg)
{
    struct run *r = arg;
    kc_task_t *t = NULL;
    int st = -1;
    if (kc_sched_spawn(sched, &t, body, r, NULL) != 0 ||
        kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL) != 0 || st != 0) {
        fprintf(stderr, "bench_ctx: run failed\n");
        exit(1);
    }
    return r->ns;
}

int main(void)
{
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.nworkers = 1;
    if (kc_sched_create(&sched, &o) != 0)
        return 1;
    struct run get = {0, kc_bench_iters(20000000), 0}, unset = {1, get.n, 0};
    struct run self = {2, get.n, 0}, set = {3, kc_bench_iters(2000000), 0};
    kc_bench_measure("ctx.get", "ns", measure, &get);
    kc_bench_measure("ctx.get_unset", "ns", measure, &unset);
    kc_bench_measure("ctx.self_id", "ns", measure, &self);
    kc_bench_measure("ctx.set", "ns", measure, &set);
    return kc_sched_destroy(sched) != 0;
}
