/* test_produce.c - spawning with a copied argument (KC_GO), and kc_produce.
 *
 * KC_GO copies its argument struct onto the new coroutine's own stack: the
 * caller's struct may be overwritten or die at once, each coroutine sees
 * its own copy at an address inside its stack, and no allocation is made
 * for it. kc_produce closes its channel when the producer returns, with
 * the status as the close reason, also when the producer fails, is
 * cancelled, or the consumer closes the channel first.
 */
#include "kcoro.h"
#include "kcoro/produce.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

struct job {
    int id;
    double scale;
    char tag[24];
    kc_chan_t *out;
};

struct report {
    int id;
    double scaled;
    char tag[24];
    uintptr_t where;  /* the argument's address */
    uintptr_t lo, hi; /* the coroutine's stack */
};

static int run_job(void *arg)
{
    struct job *j = arg;
    struct report r = {j->id, j->id * j->scale, {0}, (uintptr_t)arg, 0, 0};
    memcpy(r.tag, j->tag, sizeof(r.tag));
    const struct kc_coro *co = kc_coro_self();
    r.lo = (uintptr_t)co->stack.lo;
    r.hi = (uintptr_t)co->stack.hi;
    kc_sched_yield(); /* the copy outlives a switch, on any worker */
    return kc_chan_send(j->out, &r, KC_NO_TIMEOUT, NULL);
}

static void test_go_copies_the_argument_onto_the_coroutine_stack(void **state)
{
    (void)state;
    enum {
        N = 64
    };
    kc_sched_t *s = kc_test_sched(2);
    kc_chan_t *out = NULL;
    assert_int_equal(kc_chan_make(&out, KC_CHAN_UNLIMITED, 0, sizeof(struct report)), 0);
    for (int i = 0; i < N; i++) {
        /* the compound literal dies with this iteration */
        assert_int_equal(
            KC_GO(s, run_job, (struct job){.id = i, .scale = 0.5, .tag = "job", .out = out}), 0);
    }
    struct job reused = {.id = 1000, .scale = 2.0, .tag = "reused", .out = out};
    kc_task_t *t = NULL;
    assert_int_equal(KC_GO_TASK(s, &t, run_job, reused), 0);
    reused.id = -1; /* too late to matter: the coroutine has its own copy */
    memset(reused.tag, 'x', sizeof(reused.tag) - 1);
    int st = 1;
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, 0);
    assert_int_equal(kc_sched_run_until_idle(s, KC_NO_TIMEOUT, NULL), 0);
    bool seen[N] = {false};
    bool seen_reused = false;
    struct report r;
    while (kc_chan_try_recv(out, &r) == 0) {
        assert_true(r.where >= r.lo && r.where < r.hi); /* on its own stack */
        assert_int_equal(r.where % _Alignof(max_align_t), 0);
        if (r.id == 1000) {
            assert_true(r.scaled == 2000.0);
            assert_string_equal(r.tag, "reused");
            seen_reused = true;
            continue;
        }
        assert_true(r.id >= 0 && r.id < N && !seen[r.id]);
        assert_true(r.scaled == r.id * 0.5);
        assert_string_equal(r.tag, "job");
        seen[r.id] = true;
    }
    for (int i = 0; i < N; i++)
        assert_true(seen[i]);
    assert_true(seen_reused);
    assert_int_equal(kc_sched_destroy(s), 0);
    assert_int_equal(kc_chan_destroy(out), 0);
}

static int noop(void *arg)
{
    return arg == NULL ? 7 : -1;
}

static int sum_block(void *arg)
{
    const unsigned char *b = arg;
    int sum = 0;
    for (size_t i = 0; i < KC_SPAWN_ARG_MAX; i++)
        sum += b[i];
    return sum;
}

static void test_spawn_copy_bounds_and_errors(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(1);
    static unsigned char big[KC_SPAWN_ARG_MAX + 1];
    memset(big, 1, sizeof(big));
    kc_task_t *t = (kc_task_t *)&big;
    assert_int_equal(kc_sched_spawn_copy(s, &t, noop, big, sizeof(big), NULL), -EINVAL);
    assert_null(t);
    assert_int_equal(kc_sched_spawn_copy(s, &t, noop, NULL, 8, NULL), -EINVAL);
    assert_int_equal(kc_sched_spawn_copy(s, &t, NULL, big, 8, NULL), -EINVAL);
    assert_int_equal(kc_sched_spawn_copy(NULL, &t, noop, big, 8, NULL), -EPERM);
    int st = 0;
    assert_int_equal(kc_sched_spawn_copy(s, &t, noop, NULL, 0, NULL), 0); /* no copy: NULL */
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, 7);
    assert_int_equal(kc_sched_spawn_copy(s, &t, sum_block, big, KC_SPAWN_ARG_MAX, NULL), 0);
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, KC_SPAWN_ARG_MAX);
    /* a scope child gets its own copy too */
    kc_scope_t *sc = NULL;
    assert_int_equal(kc_scope_create(&sc, s, 0), 0);
    assert_int_equal(kc_scope_spawn_copy(sc, sum_block, big, KC_SPAWN_ARG_MAX, NULL), 0);
    assert_int_equal(KC_GO_SCOPE(sc, noop, (struct job){.id = 1}), 0); /* -1: a failure */
    assert_int_equal(kc_scope_spawn_copy(sc, sum_block, big, KC_SPAWN_ARG_MAX + 1, NULL), -EINVAL);
    assert_int_equal(kc_scope_spawn_copy(NULL, sum_block, big, 8, NULL), -EINVAL);
    assert_int_equal(kc_scope_wait(sc, KC_NO_TIMEOUT, NULL), -1);
    assert_int_equal(kc_scope_destroy(sc), -1);
    assert_int_equal(kc_sched_destroy(s), 0);
}

struct gen {
    int from, to, fail_at;
};

static int generate(kc_chan_t *out, void *arg)
{
    const struct gen *g = arg;
    for (int i = g->from; i < g->to; i++) {
        if (i == g->fail_at)
            return -EPROTO;
        int rc = kc_chan_send(out, &i, KC_NO_TIMEOUT, NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void test_produce_closes_with_the_status_as_reason(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = 4;
    o.elem_size = sizeof(int);
    o.name = "gen";
    kc_chan_t *ch = NULL;
    assert_int_equal(KC_PRODUCE(&ch, s, &o, generate, (struct gen){10, 110, -1}), 0);
    int v, want = 10;
    while (kc_chan_recv(ch, &v, KC_NO_TIMEOUT, NULL) == 0)
        assert_int_equal(v, want++);
    assert_int_equal(want, 110);
    assert_int_equal(kc_chan_close_reason(ch), 0);
    assert_true(kc_chan_is_closed(ch));
    assert_int_equal(kc_chan_destroy(ch), 0);
    /* a failing producer: the receivers learn why */
    assert_int_equal(KC_PRODUCE(&ch, s, &o, generate, (struct gen){0, 100, 50}), 0);
    want = 0;
    while (kc_chan_recv(ch, &v, KC_NO_TIMEOUT, NULL) == 0)
        assert_int_equal(v, want++);
    assert_int_equal(want, 50);
    assert_int_equal(kc_chan_close_reason(ch), -EPROTO);
    assert_int_equal(kc_chan_destroy(ch), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

static void test_produce_stopped_early_by_cancel_or_close(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.elem_size = sizeof(int); /* rendezvous */
    kc_chan_t *ch = NULL;
    kc_task_t *t = NULL;
    struct gen g = {0, 1000000, -1};
    assert_int_equal(kc_produce(&ch, s, &o, generate, &g, sizeof(g), &t), 0);
    int v = -1;
    assert_int_equal(kc_chan_recv(ch, &v, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(v, 0);
    assert_int_equal(kc_sched_cancel(t), 0);
    int st = 0;
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, -ECANCELED);
    assert_int_equal(kc_chan_recv(ch, &v, 0, NULL), -EPIPE);
    assert_int_equal(kc_chan_close_reason(ch), -ECANCELED);
    assert_int_equal(kc_chan_destroy(ch), 0);
    /* the consumer closes first: the producer's send fails, the reason stays 0 */
    assert_int_equal(kc_produce(&ch, s, &o, generate, &g, sizeof(g), &t), 0);
    assert_int_equal(kc_chan_recv(ch, &v, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_chan_close(ch), 0);
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, -EPIPE);
    assert_int_equal(kc_chan_close_reason(ch), 0);
    assert_int_equal(kc_chan_destroy(ch), 0);
    /* errors create nothing */
    assert_int_equal(kc_produce(NULL, s, &o, generate, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_produce(&ch, s, NULL, generate, NULL, 0, NULL), -EINVAL);
    assert_null(ch);
    assert_int_equal(kc_produce(&ch, s, &o, NULL, NULL, 0, NULL), -EINVAL);
    assert_int_equal(kc_produce(&ch, s, &o, generate, NULL, 4, NULL), -EINVAL);
    assert_int_equal(kc_produce(&ch, s, &o, generate, &g, KC_SPAWN_ARG_MAX, NULL), -EINVAL);
    kc_chan_opts_t bad = o;
    bad.kind = (kc_chan_kind_t)9;
    assert_int_equal(kc_produce(&ch, s, &bad, generate, NULL, 0, NULL), -EINVAL);
    assert_null(ch);
    assert_int_equal(kc_sched_destroy(s), 0);
    assert_int_equal(kc_produce(&ch, s = NULL, &o, generate, NULL, 0, NULL), -EPERM);
    assert_null(ch);
    /* close reasons on plain channels */
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_BUFFERED, 1, 4), 0);
    assert_int_equal(kc_chan_close_reason(ch), 0); /* open */
    assert_int_equal(kc_chan_close_with(ch, -ETIME), 0);
    assert_int_equal(kc_chan_close_with(ch, -EIO), -EPIPE); /* the first close's reason stays */
    assert_int_equal(kc_chan_close_reason(ch), -ETIME);
    assert_int_equal(kc_chan_close_with(NULL, 1), -EINVAL);
    assert_int_equal(kc_chan_close_reason(NULL), 0);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_copies_the_argument_onto_the_coroutine_stack),
        cmocka_unit_test(test_spawn_copy_bounds_and_errors),
        cmocka_unit_test(test_produce_closes_with_the_status_as_reason),
        cmocka_unit_test(test_produce_stopped_early_by_cancel_or_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
