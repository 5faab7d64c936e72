/* kc_lab_test.h - fixtures shared by the lab's cmocka tests.
 *
 * A "side" is one party of a rendezvous run by the test's own thread: a
 * thread parker, a token and its scope guard. A "sel" is a select receiving
 * on two cells: its token, two receive clauses and a parker. Include after
 * <cmocka.h>; the helpers assert with cmocka, so call them on the test's
 * main stack only.
 */
#ifndef KCORO_KC_LAB_TEST_H
#define KCORO_KC_LAB_TEST_H

#include "kc_owners.h"
#include "kc_rv_cell.h"

/* One party: its parker, token and scope. */
struct side {
    struct kc_lab_parker pk;
    kc_waiter_t w;
    kc_waiter_scope_t sc;
    uint64_t value;
};

static inline void side_init(struct side *s, kc_waiter_kind_t kind)
{
    assert_int_equal(kc_lab_parker_init(&s->pk), 0);
    assert_int_equal(kc__waiter_init(&s->w, kind, &s->pk, kc_lab_parker_ops()), 0);
    assert_int_equal(kc__waiter_scope_begin(&s->sc, &s->w), 0);
}

static inline void sender_ptr(struct side *s, uint64_t value)
{
    side_init(s, KC_WAITER_SENDER);
    s->value = value;
    assert_int_equal(kc__waiter_put_ptr(&s->w, &s->value), 0);
}

static inline void receiver_ptr(struct side *s)
{
    side_init(s, KC_WAITER_RECEIVER);
    assert_int_equal(kc__waiter_want(&s->w, KC_PAYLOAD_PTR), 0);
}

static inline void side_done(struct side *s)
{
    assert_false(kc_lab_parker_pending(&s->pk)); /* every wake consumed */
    assert_int_equal(atomic_load(&s->pk.double_wakes), 0);
    kc_lab_parker_destroy(&s->pk);
}

static inline void assert_cell_ok(const kc_rv_cell_t *c)
{
    const char *why = NULL;
    int rc = kc__rv_cell_check(c, &why);
    if (rc != 0)
        fail_msg("cell check: %s", why);
}

static inline kc_rv_counts_t counts(const kc_rv_stats_t *st)
{
    kc_rv_counts_t n;
    kc__rv_stats_read(st, &n);
    return n;
}

/* A select receiving on two cells: its token, two clauses, one parker. */
struct sel {
    struct kc_lab_parker pk;
    kc_waiter_t s;
    kc_waiter_t cl[2];
    kc_waiter_scope_t sc;
};

static inline void sel_init(struct sel *x)
{
    assert_int_equal(kc_lab_parker_init(&x->pk), 0);
    assert_int_equal(kc__waiter_init(&x->s, KC_WAITER_SELECT, &x->pk, kc_lab_parker_ops()), 0);
    assert_int_equal(kc__waiter_scope_begin(&x->sc, &x->s), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(kc__waiter_init_clause(&x->cl[i], KC_WAITER_RECEIVER, &x->s), 0);
        assert_int_equal(kc__waiter_want(&x->cl[i], KC_PAYLOAD_PTR), 0);
    }
}

static inline void sel_register(struct sel *x, kc_rv_cell_t cells[2], kc_rv_stats_t *st)
{
    assert_int_equal(kc__waiter_publish(&x->s), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(kc__rv_cell_register(&cells[i], &x->cl[i], st), KC_RV_PUBLISHED);
}

static inline void sel_finish(struct sel *x, kc_rv_cell_t cells[2], kc_rv_stats_t *st)
{
    for (int i = 0; i < 2; i++)
        assert_in_range(kc__rv_cell_withdraw_wait(&cells[i], &x->cl[i], st), 0, 1);
    kc__waiter_scope_end(&x->sc, 0);
    assert_false(kc_lab_parker_pending(&x->pk));
    assert_int_equal(atomic_load(&x->pk.double_wakes), 0);
    kc_lab_parker_destroy(&x->pk);
}

#endif /* KCORO_KC_LAB_TEST_H */
