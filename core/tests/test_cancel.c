/* test_cancel.c - tests of kcoro/cancel.h: tokens, callbacks, hierarchies.
 *
 * One test per transition of the registration table in kc_cancel.c, the
 * parent/child rules, misuse that must fail cleanly, and a race of firing
 * against withdrawing run many times: every callback runs at most once, and
 * exactly when the withdrawal says it did, with the registration's memory
 * reused right after the withdrawal (ASan/TSan would see a late callback).
 */
#define _GNU_SOURCE
#include "kcoro.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

static void bump(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void test_cancel_trigger_is_one_way_and_reports_first(void **state)
{
    (void)state;
    kc_cancel_t *c;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    assert_false(kc_cancel_is_triggered(c));
    assert_int_equal(kc_cancel_trigger(c), 1);
    assert_true(kc_cancel_is_triggered(c));
    assert_int_equal(kc_cancel_trigger(c), 0);
    assert_false(kc_cancel_is_triggered(NULL));
    assert_int_equal(kc_cancel_trigger(NULL), -EINVAL);
    assert_int_equal(kc_cancel_create(NULL, NULL), -EINVAL);
    assert_int_equal(kc_cancel_destroy(c), 0);
    assert_int_equal(kc_cancel_destroy(NULL), 0);
}

static void test_cancel_callbacks_run_once_on_trigger(void **state)
{
    (void)state;
    kc_cancel_t *c;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    atomic_int hits = 0;
    kc_cancel_reg_t r[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(kc_cancel_register(c, &r[i], bump, &hits), 0);
    assert_int_equal(kc_cancel_trigger(c), 1);
    assert_int_equal(atomic_load(&hits), 3);
    assert_int_equal(kc_cancel_trigger(c), 0);
    assert_int_equal(atomic_load(&hits), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(kc_cancel_unregister(&r[i]), 1); /* it ran */
    assert_int_equal(kc_cancel_destroy(c), 0);
}

static void test_cancel_register_after_trigger_is_refused_and_not_called(void **state)
{
    (void)state;
    kc_cancel_t *c;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    kc_cancel_trigger(c);
    atomic_int hits = 0;
    kc_cancel_reg_t r;
    assert_int_equal(kc_cancel_register(c, &r, bump, &hits), -ECANCELED);
    assert_int_equal(atomic_load(&hits), 0);
    assert_int_equal(kc_cancel_unregister(&r), 0);
    assert_int_equal(kc_cancel_register(NULL, &r, bump, &hits), -EINVAL);
    assert_int_equal(kc_cancel_register(c, NULL, bump, &hits), -EINVAL);
    assert_int_equal(kc_cancel_register(c, &r, NULL, &hits), -EINVAL);
    assert_int_equal(kc_cancel_unregister(NULL), -EINVAL);
    assert_int_equal(kc_cancel_destroy(c), 0);
}

static void test_cancel_unregister_before_trigger_means_never(void **state)
{
    (void)state;
    kc_cancel_t *c;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    atomic_int hits = 0;
    kc_cancel_reg_t r1, r2;
    assert_int_equal(kc_cancel_register(c, &r1, bump, &hits), 0);
    assert_int_equal(kc_cancel_register(c, &r2, bump, &hits), 0);
    assert_int_equal(kc_cancel_destroy(c), -EBUSY); /* still has registrations */
    assert_int_equal(kc_cancel_unregister(&r1), 0);
    assert_int_equal(kc_cancel_unregister(&r1), 0); /* twice is harmless */
    kc_cancel_trigger(c);
    assert_int_equal(atomic_load(&hits), 1);
    assert_int_equal(kc_cancel_unregister(&r2), 1);
    assert_int_equal(kc_cancel_destroy(c), 0);
}

struct self_unreg {
    kc_cancel_reg_t reg;
    int rc;
};

static void unregister_self(void *arg)
{
    struct self_unreg *su = arg;
    su->rc = kc_cancel_unregister(&su->reg);
}

static void test_cancel_callback_may_unregister_itself(void **state)
{
    (void)state;
    kc_cancel_t *c;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    struct self_unreg su = {.rc = 99};
    assert_int_equal(kc_cancel_register(c, &su.reg, unregister_self, &su), 0);
    kc_cancel_trigger(c);
    assert_int_equal(su.rc, 1);
    assert_int_equal(kc_cancel_destroy(c), 0);
}

static void test_cancel_children_fire_with_parent_not_the_other_way(void **state)
{
    (void)state;
    kc_cancel_t *root, *mid, *leaf, *other;
    assert_int_equal(kc_cancel_create(&root, NULL), 0);
    assert_int_equal(kc_cancel_create(&mid, root), 0);
    assert_int_equal(kc_cancel_create(&leaf, mid), 0);
    assert_int_equal(kc_cancel_create(&other, root), 0);
    atomic_int hits = 0;
    kc_cancel_reg_t r;
    assert_int_equal(kc_cancel_register(leaf, &r, bump, &hits), 0);
    assert_int_equal(kc_cancel_destroy(root), -EBUSY); /* children hang on it */
    kc_cancel_trigger(other);
    assert_false(kc_cancel_is_triggered(root));
    assert_false(kc_cancel_is_triggered(leaf));
    kc_cancel_trigger(root);
    assert_true(kc_cancel_is_triggered(mid));
    assert_true(kc_cancel_is_triggered(leaf));
    assert_int_equal(atomic_load(&hits), 1);
    /* A child of a fired parent is born fired. */
    kc_cancel_t *late;
    assert_int_equal(kc_cancel_create(&late, root), 0);
    assert_true(kc_cancel_is_triggered(late));
    assert_int_equal(kc_cancel_unregister(&r), 1);
    assert_int_equal(kc_cancel_destroy(late), 0);
    assert_int_equal(kc_cancel_destroy(leaf), 0);
    assert_int_equal(kc_cancel_destroy(mid), 0);
    assert_int_equal(kc_cancel_destroy(other), 0);
    assert_int_equal(kc_cancel_destroy(root), 0);
}

/* ------------------------------------------------------------ race */

struct fire_race {
    kc_cancel_t *_Atomic c;
    _Atomic long round, done;
    long rounds;
};

/* The helper fires round i's token as soon as the main thread publishes it. */
static void *firer(void *arg)
{
    struct fire_race *f = arg;
    for (long i = 1; i <= f->rounds; i++) {
        /* acquire: pairs with the main thread's release of round */
        for (int spin = 0; atomic_load_explicit(&f->round, memory_order_acquire) != i; spin++)
            if (spin > 20000)
                kc_sched_yield();
        kc_cancel_trigger(atomic_load_explicit(&f->c, memory_order_relaxed));
        /* release: the main thread destroys the token only after this */
        atomic_store_explicit(&f->done, i, memory_order_release);
    }
    return NULL;
}

struct payload {
    kc_cancel_reg_t reg;
    atomic_int ran;
};

static void mark(void *arg)
{
    struct payload *p = arg;
    atomic_fetch_add(&p->ran, 1);
}

static void test_cancel_trigger_versus_unregister_race(void **state)
{
    (void)state;
    unsigned seed = 0xca9ce1u;
    srand(seed);
    struct fire_race f = {.rounds = kc_test_scaled(20000)};
    long said_ran = 0, said_never = 0, mismatch = 0;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, firer, &f), 0);
    for (long i = 1; i <= f.rounds; i++) {
        kc_cancel_t *c;
        assert_int_equal(kc_cancel_create(&c, NULL), 0);
        struct payload *p = calloc(1, sizeof(*p));
        assert_non_null(p);
        assert_int_equal(kc_cancel_register(c, &p->reg, mark, p), 0);
        atomic_store_explicit(&f.c, c, memory_order_relaxed);
        /* release: publishes c to the firer's acquire */
        atomic_store_explicit(&f.round, i, memory_order_release);
        for (int k = rand() % 3000; k > 0; k--) /* vary who gets there first */
            __asm__ volatile("" ::: "memory");
        int rc = kc_cancel_unregister(&p->reg);
        int ran = atomic_load(&p->ran); /* final: it cannot run later */
        if (rc == 1)
            said_ran++;
        else
            said_never++;
        if (ran != rc && mismatch++ == 0)
            fprintf(stderr, "round %ld (seed %#x): unregister %d, ran %d\n", i, seed, rc, ran);
        memset(p, 0xa5, sizeof(*p)); /* reused at once */
        free(p);
        while (atomic_load_explicit(&f.done, memory_order_acquire) != i)
            kc_sched_yield();
        assert_int_equal(kc_cancel_destroy(c), 0);
    }
    pthread_join(th, NULL);
    printf("cancel race: %ld rounds: callback ran %ld, withdrawn first %ld\n", f.rounds,
           said_ran, said_never);
    assert_int_equal(mismatch, 0);
    assert_int_equal(said_ran + said_never, f.rounds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel_trigger_is_one_way_and_reports_first),
        cmocka_unit_test(test_cancel_callbacks_run_once_on_trigger),
        cmocka_unit_test(test_cancel_register_after_trigger_is_refused_and_not_called),
        cmocka_unit_test(test_cancel_unregister_before_trigger_means_never),
        cmocka_unit_test(test_cancel_callback_may_unregister_itself),
        cmocka_unit_test(test_cancel_children_fire_with_parent_not_the_other_way),
        cmocka_unit_test(test_cancel_trigger_versus_unregister_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
