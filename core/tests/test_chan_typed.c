/* test_chan_typed.c - typed channel handles (kcoro/chan_typed.h) at run time.
 *
 * The macros pass the right element size to the untyped calls: values of a
 * struct type go through send, receive, try-variants and select clauses
 * intact, and KC_CHAN_CREATE refuses options whose elem_size is not the
 * handle's type. (That mismatched types do not compile is checked by
 * mk/compile-fail.sh, run by `make lint`.)
 */
#include "kcoro.h"
#include "kcoro/chan_typed.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_test_util.h"

struct point {
    double x, y;
    int id;
};

typedef KC_CHAN_OF(struct point) chan_point_t;
typedef KC_CHAN_OF(uint8_t) chan_u8_t;

static void test_typed_send_receive_and_select(void **state)
{
    (void)state;
    chan_point_t pc;
    chan_u8_t bc;
    assert_int_equal(KC_CHAN_MAKE(&pc, KC_CHAN_BUFFERED, 8), 0);
    assert_int_equal(KC_CHAN_MAKE(&bc, KC_CHAN_UNLIMITED, 0), 0);
    assert_int_equal(kc_chan_elem_size(pc.ch), sizeof(struct point));
    assert_int_equal(kc_chan_elem_size(bc.ch), 1);
    for (int i = 0; i < 5; i++) {
        struct point p = {i * 1.5, -i * 2.0, i};
        assert_int_equal(KC_SEND(pc, &p, KC_NO_TIMEOUT, NULL), 0);
        uint8_t b = (uint8_t)(200 + i);
        assert_int_equal(KC_TRY_SEND(bc, &b), 0);
    }
    struct point got;
    assert_int_equal(KC_RECV(pc, &got, 0, NULL), 0);
    assert_int_equal(got.id, 0);
    assert_int_equal(KC_TRY_RECV(pc, &got), 0);
    assert_true(got.x == 1.5 && got.y == -2.0 && got.id == 1);
    uint8_t b = 0;
    kc_chan_clause_t cl[2] = {KC_CLAUSE_RECV(pc, &got), KC_CLAUSE_RECV(bc, &b)};
    assert_int_equal(kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, 0, NULL), 0);
    assert_int_equal(got.id, 2);
    kc_chan_clause_enable(&cl[0], false);
    assert_int_equal(kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, 0, NULL), 1);
    assert_int_equal(b, 200);
    struct point out = {9, 9, 9};
    kc_chan_clause_t sc[1] = {KC_CLAUSE_SEND(pc, &out)};
    assert_int_equal(kc_chan_select(sc, 1, 0, 0, NULL), 0);
    assert_int_equal(kc_chan_len(pc.ch), 3);
    assert_int_equal(kc_chan_destroy(pc.ch), 0);
    assert_int_equal(kc_chan_destroy(bc.ch), 0);
}

static void test_typed_create_checks_the_element_size(void **state)
{
    (void)state;
    chan_point_t pc;
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_CONFLATED;
    o.elem_size = sizeof(struct point) - 1;
    assert_int_equal(KC_CHAN_CREATE(&pc, &o), -EINVAL);
    assert_null(pc.ch);
    o.elem_size = sizeof(struct point);
    assert_int_equal(KC_CHAN_CREATE(&pc, &o), 0);
    struct point p = {1, 2, 3}, q = {4, 5, 6}, r;
    assert_int_equal(KC_TRY_SEND(pc, &p), 0);
    assert_int_equal(KC_TRY_SEND(pc, &q), 0); /* conflated: replaces p */
    assert_int_equal(KC_TRY_RECV(pc, &r), 0);
    assert_int_equal(r.id, 6);
    assert_int_equal(kc_chan_destroy(pc.ch), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_send_receive_and_select),
        cmocka_unit_test(test_typed_create_checks_the_element_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
