/* test_rv_cell.c - tests of the rendezvous cell (src/kc_rv_cell.c).
 *
 * One test per transition of the cell's state table for plain tokens
 * (publish, poison, match, withdraw, reset), the payload kinds, the misuse
 * errors and the invariant checker. A thread parker keeps a wake as a
 * permit, so these run on one thread: a wake given before the owner parks
 * is consumed when it does. Select clauses and races: test_rv_select.c.
 */
#include "kc_rv_cell.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_lab_test.h"

/* ------------------------------------------------------------ publishing */

static void test_rv_cell_sender_publishes_into_empty_cell(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc_rv_stats_t st;
    kc__rv_cell_init(&c);
    kc__rv_stats_init(&st);
    struct side s;
    sender_ptr(&s, 7);
    assert_int_equal(kc__rv_cell_offer(&c, &s.w, &st), KC_RV_PUBLISHED);
    assert_int_equal(kc__rv_cell_state(&c), KC_RV_SENDER_READY);
    assert_ptr_equal(kc__rv_cell_holder(&c), &s.w);
    assert_int_equal(kc__waiter_status(&s.w), KC_WAITER_ENQUEUED);
    assert_ptr_equal(s.w.cancel, kc__rv_cell_cancel_hook);
    assert_int_equal(counts(&st).published, 1);
    assert_cell_ok(&c);
    assert_int_equal(kc__waiter_check(&s.w, NULL), 0);
    assert_int_equal(kc__waiter_scope_end(&s.sc, 0), -EAGAIN);
    side_done(&s);
}

static void test_rv_cell_receiver_publishes_into_empty_cell(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc__rv_cell_init(&c);
    struct side r;
    receiver_ptr(&r);
    assert_int_equal(kc__rv_cell_offer(&c, &r.w, NULL), KC_RV_PUBLISHED);
    assert_int_equal(kc__rv_cell_state(&c), KC_RV_RECEIVER_READY);
    assert_cell_ok(&c);
    assert_int_equal(kc__waiter_scope_end(&r.sc, 0), -EAGAIN);
    assert_int_equal(kc__rv_cell_state(&c), KC_RV_CANCELLED);
    side_done(&r);
}

static void test_rv_cell_poison_closes_empty_cell_for_later_arrivals(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc_rv_stats_t st;
    kc__rv_cell_init(&c);
    kc__rv_stats_init(&st);
    assert_int_equal(kc__rv_cell_poison(&c, &st), 0);
    assert_int_equal(kc__rv_cell_state(&c), KC_RV_CANCELLED);
    assert_int_equal(kc__rv_cell_poison(&c, &st), KC_RV_BROKEN);
    struct side s;
    sender_ptr(&s, 1);
    assert_int_equal(kc__rv_cell_offer(&c, &s.w, &st), KC_RV_BROKEN);
    assert_int_equal(kc__waiter_status(&s.w), KC_WAITER_INIT); /* free to retry */
    kc_rv_counts_t n = counts(&st);
    assert_int_equal(n.poisoned, 1);
    assert_int_equal(n.broken, 1);
    assert_int_equal(kc__waiter_scope_end(&s.sc, KC_NO_TIMEOUT), -EAGAIN);
    assert_int_equal(s.pk.parks, 0); /* never published: never parked */
    side_done(&s);
}

/* ------------------------------------------------------------ matching */

static void test_rv_cell_receiver_meets_waiting_sender(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc_rv_stats_t st;
    kc__rv_cell_init(&c);
    kc__rv_stats_init(&st);
    struct side s, r;
    sender_ptr(&s, 41);
    receiver_ptr(&r);
    assert_int_equal(kc__rv_cell_offer(&c, &s.w, &st), KC_RV_PUBLISHED);
    assert_int_equal(kc__rv_cell_offer(&c, &r.w, &st), KC_RV_DONE);
    assert_int_equal(kc__rv_cell_state(&c), KC_RV_MATCHED);
    assert_int_equal(kc__waiter_status(&s.w), KC_WAITER_CLAIMED);
    assert_true(kc_lab_parker_pending(&s.pk)); /* the sender's wake */
    void *p = NULL;
    assert_int_equal(kc__waiter_take_ptr(&r.w, &p), 0); /* the arriving receiver */
    assert_ptr_equal(p, &s.value);
    assert_int_equal(kc__waiter_status(&r.w), KC_WAITER_INIT);
    assert_int_equal(kc__waiter_scope_end(&s.sc, KC_NO_TIMEOUT), 0);
    assert_int_equal(kc__waiter_scope_end(&r.sc, KC_NO_TIMEOUT), 0);
    assert_int_equal(counts(&st).matched, 1);
    assert_int_equal(s.pk.sleeps, 0);
    side_done(&s);
    side_done(&r);
}

static void test_rv_cell_sender_meets_waiting_receiver(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc__rv_cell_init(&c);
    struct side s, r;
    sender_ptr(&s, 42);
    receiver_ptr(&r);
    assert_int_equal(kc__rv_cell_offer(&c, &r.w, NULL), KC_RV_PUBLISHED);
    assert_int_equal(kc__rv_cell_offer(&c, &s.w, NULL), KC_RV_DONE);
    assert_int_equal(kc__rv_cell_state(&c), KC_RV_MATCHED);
    assert_int_equal(kc__waiter_scope_wait(&r.sc, KC_NO_TIMEOUT), 0);
    void *p = NULL;
    assert_int_equal(kc__waiter_take_ptr(&r.w, &p), 0);
    assert_ptr_equal(p, &s.value);
    assert_int_equal(kc__waiter_scope_end(&r.sc, 0), 0);
    assert_int_equal(kc__waiter_scope_end(&s.sc, 0), 0);
    side_done(&s);
    side_done(&r);
}

static void test_rv_cell_bytes_are_copied_into_the_receivers_buffer(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc_rv_stats_t st;
    kc__rv_cell_init(&c);
    kc__rv_stats_init(&st);
    struct side s, r;
    char out[16] = {0};
    side_init(&s, KC_WAITER_SENDER);
    side_init(&r, KC_WAITER_RECEIVER);
    assert_int_equal(kc__waiter_put_bytes(&s.w, "rendezvous", 10), 0);
    assert_int_equal(kc__waiter_want_bytes(&r.w, out, sizeof(out)), 0);
    assert_int_equal(kc__rv_cell_offer(&c, &r.w, &st), KC_RV_PUBLISHED);
    assert_int_equal(kc__rv_cell_offer(&c, &s.w, &st), KC_RV_DONE);
    assert_int_equal(kc__waiter_scope_wait(&r.sc, KC_NO_TIMEOUT), 0);
    size_t len = 0;
    assert_int_equal(kc__waiter_bytes_len(&r.w, &len), 0);
    assert_int_equal(len, 10);
    assert_memory_equal(out, "rendezvous", 10);
    assert_int_equal(counts(&st).bytes_moved, 10);
    kc__waiter_scope_end(&r.sc, 0);
    kc__waiter_scope_end(&s.sc, 0);
    side_done(&s);
    side_done(&r);
}

static void test_rv_cell_descriptor_ownership_moves_to_receiver(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc_rv_stats_t st;
    kc__rv_cell_init(&c);
    kc__rv_stats_init(&st);
    struct side s, r;
    char region[64];
    kc_waiter_desc_t d = {region, sizeof(region), 99, KC_WAITER_DESC_OWNED}, got;
    side_init(&s, KC_WAITER_SENDER);
    side_init(&r, KC_WAITER_RECEIVER);
    assert_int_equal(kc__waiter_put_desc(&s.w, &d), 0);
    assert_int_equal(kc__waiter_want(&r.w, KC_PAYLOAD_DESC), 0);
    assert_int_equal(kc__rv_cell_offer(&c, &s.w, &st), KC_RV_PUBLISHED);
    assert_int_equal(kc__rv_cell_offer(&c, &r.w, &st), KC_RV_DONE);
    assert_int_equal(kc__waiter_scope_wait(&s.sc, KC_NO_TIMEOUT), 0);
    assert_false(s.w.payload.u.desc.flags & KC_WAITER_DESC_OWNED); /* W8 */
    assert_int_equal(kc__waiter_check(&s.w, NULL), 0);
    memset(&got, 0, sizeof(got));
    assert_int_equal(kc__waiter_take_desc(&r.w, &got), 0);
    assert_false(r.w.payload.u.desc.flags & KC_WAITER_DESC_OWNED); /* given away */
    assert_ptr_equal(got.ptr, region);
    assert_int_equal(got.ticket, 99);
    assert_true(got.flags & KC_WAITER_DESC_OWNED);
    assert_int_equal(counts(&st).descs_moved, 1);
    kc__waiter_scope_end(&s.sc, 0);
    kc__waiter_scope_end(&r.sc, 0);
    side_done(&s);
    side_done(&r);
}

static void test_rv_cell_oversized_bytes_fail_both_sides_and_copy_nothing(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc_rv_stats_t st;
    kc__rv_cell_init(&c);
    kc__rv_stats_init(&st);
    struct side s, r;
    char out[4] = {'x', 'x', 'x', 'x'};
    side_init(&s, KC_WAITER_SENDER);
    side_init(&r, KC_WAITER_RECEIVER);
    assert_int_equal(kc__waiter_put_bytes(&s.w, "too long", 8), 0);
    assert_int_equal(kc__waiter_want_bytes(&r.w, out, sizeof(out)), 0);
    assert_int_equal(kc__rv_cell_offer(&c, &s.w, &st), KC_RV_PUBLISHED);
    assert_int_equal(kc__rv_cell_offer(&c, &r.w, &st), -EMSGSIZE);
    assert_int_equal(kc__waiter_scope_end(&s.sc, KC_NO_TIMEOUT), -EMSGSIZE);
    assert_memory_equal(out, "xxxx", 4);
    kc_rv_counts_t n = counts(&st);
    assert_int_equal(n.matched, 1);
    assert_int_equal(n.mismatched, 1);
    assert_int_equal(n.bytes_moved, 0);
    kc__waiter_scope_end(&r.sc, 0);
    side_done(&s);
    side_done(&r);
}

static void test_rv_cell_type_mismatch_leaves_descriptor_with_sender(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc__rv_cell_init(&c);
    struct side s, r;
    kc_waiter_desc_t d = {&c, 1, 5, KC_WAITER_DESC_OWNED};
    side_init(&s, KC_WAITER_SENDER);
    receiver_ptr(&r);
    assert_int_equal(kc__waiter_put_desc(&s.w, &d), 0);
    assert_int_equal(kc__rv_cell_offer(&c, &r.w, NULL), KC_RV_PUBLISHED);
    assert_int_equal(kc__rv_cell_offer(&c, &s.w, NULL), -EPROTO);
    assert_true(s.w.payload.u.desc.flags & KC_WAITER_DESC_OWNED);
    assert_int_equal(kc__waiter_scope_end(&r.sc, KC_NO_TIMEOUT), -EPROTO);
    kc__waiter_scope_end(&s.sc, 0);
    side_done(&s);
    side_done(&r);
}

/* ------------------------------------------------------------ withdrawal */

static void test_rv_cell_owner_withdraws_waiting_token(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc_rv_stats_t st;
    kc__rv_cell_init(&c);
    kc__rv_stats_init(&st);
    struct side r, s;
    receiver_ptr(&r);
    sender_ptr(&s, 3);
    assert_int_equal(kc__rv_cell_offer(&c, &r.w, &st), KC_RV_PUBLISHED);
    assert_int_equal(kc__rv_cell_withdraw(&c, &r.w, &st), 1);
    assert_int_equal(kc__rv_cell_state(&c), KC_RV_CANCELLED);
    assert_int_equal(kc__waiter_status(&r.w), KC_WAITER_CANCELLED);
    assert_int_equal(kc__rv_cell_withdraw(&c, &r.w, &st), 0); /* already decided */
    assert_int_equal(kc__rv_cell_offer(&c, &s.w, &st), KC_RV_BROKEN);
    assert_int_equal(counts(&st).cancelled, 1);
    /* the owner withdrew by hand, as its hook would: no wake is owed, so
     * r's scope is not ended (that would wait for one) */
    kc__waiter_scope_end(&s.sc, 0);
    side_done(&r);
    side_done(&s);
}

static void test_rv_cell_timed_out_wait_withdraws_through_the_hook(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc__rv_cell_init(&c);
    struct side r;
    receiver_ptr(&r);
    assert_int_equal(kc__rv_cell_offer(&c, &r.w, NULL), KC_RV_PUBLISHED);
    assert_int_equal(kc__waiter_scope_end(&r.sc, 1000000), -ETIME); /* 1 ms */
    assert_int_equal(kc__rv_cell_state(&c), KC_RV_CANCELLED);
    assert_int_equal(kc__waiter_status(&r.w), KC_WAITER_CANCELLED);
    assert_int_equal(r.pk.timeouts, 1);
    side_done(&r);
}

/* An owner whose own cancellation fires while it waits: its park returns
 * -ECANCELED, and once it has waited (a decided token's owed wake) it
 * parks for real. */
static int cancelled_park(void *owner, int64_t timeout_ns)
{
    return timeout_ns == KC_NO_TIMEOUT ? kc_lab_parker_park(owner, timeout_ns) : -ECANCELED;
}

static void test_rv_cell_owner_cancellation_becomes_the_result(void **state)
{
    (void)state;
    static const kc_waiter_owner_ops_t ops = {kc_lab_parker_wake, cancelled_park};
    kc_rv_cell_t c;
    kc__rv_cell_init(&c);
    struct side r;
    assert_int_equal(kc_lab_parker_init(&r.pk), 0);
    assert_int_equal(kc__waiter_init(&r.w, KC_WAITER_RECEIVER, &r.pk, &ops), 0);
    assert_int_equal(kc__waiter_scope_begin(&r.sc, &r.w), 0);
    assert_int_equal(kc__waiter_want(&r.w, KC_PAYLOAD_PTR), 0);
    assert_int_equal(kc__rv_cell_offer(&c, &r.w, NULL), KC_RV_PUBLISHED);
    assert_int_equal(kc__waiter_scope_end(&r.sc, 1000000), -ECANCELED);
    assert_int_equal(kc__rv_cell_state(&c), KC_RV_CANCELLED);
    assert_int_equal(kc__waiter_status(&r.w), KC_WAITER_CANCELLED);
    side_done(&r);
}

static void test_rv_cell_third_party_cancel_wakes_owner_with_reason(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc__rv_cell_init(&c);
    struct side r;
    receiver_ptr(&r);
    assert_int_equal(kc__rv_cell_offer(&c, &r.w, NULL), KC_RV_PUBLISHED);
    assert_int_equal(kc__waiter_cancel(&r.w, -ECANCELED), 1);
    assert_true(kc_lab_parker_pending(&r.pk));
    assert_int_equal(kc__waiter_cancel(&r.w, -ECANCELED), 0); /* once */
    assert_int_equal(kc__waiter_scope_end(&r.sc, KC_NO_TIMEOUT), -ECANCELED);
    assert_int_equal(kc__waiter_cancel(&r.w, -ECANCELED), -ESTALE);
    side_done(&r);
}

static void test_rv_cell_cancel_after_match_loses_and_payload_stands(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc__rv_cell_init(&c);
    struct side r, s;
    receiver_ptr(&r);
    sender_ptr(&s, 11);
    assert_int_equal(kc__rv_cell_offer(&c, &r.w, NULL), KC_RV_PUBLISHED);
    assert_int_equal(kc__rv_cell_offer(&c, &s.w, NULL), KC_RV_DONE);
    assert_int_equal(kc__waiter_cancel(&r.w, -ECANCELED), 0);
    assert_int_equal(kc__waiter_scope_end(&r.sc, 0), 0); /* the owed wake */
    void *p = NULL;
    assert_int_equal(kc__waiter_take_ptr(&r.w, &p), 0);
    assert_ptr_equal(p, &s.value);
    kc__waiter_scope_end(&s.sc, 0);
    side_done(&r);
    side_done(&s);
}

static void test_rv_cell_reset_recycles_spent_cells_only(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc__rv_cell_init(&c);
    assert_int_equal(kc__rv_cell_reset(&c), 0); /* EMPTY stays EMPTY */
    assert_int_equal(kc__rv_cell_poison(&c, NULL), 0);
    assert_int_equal(kc__rv_cell_reset(&c), 0); /* CANCELLED -> EMPTY */
    assert_int_equal(kc__rv_cell_state(&c), KC_RV_EMPTY);
    struct side r, s;
    receiver_ptr(&r);
    sender_ptr(&s, 12);
    assert_int_equal(kc__rv_cell_offer(&c, &r.w, NULL), KC_RV_PUBLISHED);
    assert_int_equal(kc__rv_cell_reset(&c), -EBUSY);
    assert_int_equal(kc__rv_cell_poison(&c, NULL), -EBUSY);
    assert_int_equal(kc__rv_cell_offer(&c, &s.w, NULL), KC_RV_DONE);
    assert_int_equal(kc__rv_cell_reset(&c), 0); /* MATCHED -> EMPTY */
    assert_int_equal(kc__rv_cell_state(&c), KC_RV_EMPTY);
    assert_cell_ok(&c);
    kc__waiter_scope_end(&r.sc, KC_NO_TIMEOUT);
    kc__waiter_scope_end(&s.sc, 0);
    side_done(&r);
    side_done(&s);
}

static void test_rv_cell_try_match_never_publishes(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc__rv_cell_init(&c);
    struct side r;
    receiver_ptr(&r);
    assert_int_equal(kc__rv_cell_try_match(&c, &r.w, NULL), -EAGAIN);
    assert_int_equal(kc__rv_cell_state(&c), KC_RV_EMPTY);
    assert_int_equal(kc__waiter_status(&r.w), KC_WAITER_INIT);
    assert_int_equal(kc__waiter_scope_end(&r.sc, KC_NO_TIMEOUT), -EAGAIN);
    side_done(&r);
}

/* ------------------------------------------------------------ misuse */

static void test_rv_cell_misuse_returns_negative_errno_and_changes_nothing(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc__rv_cell_init(&c);
    struct side s1, s2, r;
    sender_ptr(&s1, 1);
    sender_ptr(&s2, 2);
    side_init(&r, KC_WAITER_RECEIVER); /* no payload type declared */
    assert_int_equal(kc__rv_cell_offer(NULL, &s1.w, NULL), -EINVAL);
    assert_int_equal(kc__rv_cell_offer(&c, NULL, NULL), -EINVAL);
    assert_int_equal(kc__rv_cell_offer(&c, &r.w, NULL), -EINVAL);
    assert_int_equal(kc__rv_cell_try_match(NULL, &s1.w, NULL), -EINVAL);
    assert_int_equal(kc__rv_cell_register(&c, &s1.w, NULL), -EINVAL); /* not a clause */
    assert_int_equal(kc__rv_cell_withdraw(NULL, &s1.w, NULL), -EINVAL);
    assert_int_equal(kc__rv_cell_poison(NULL, NULL), -EINVAL);
    assert_int_equal(kc__rv_cell_reset(NULL), -EINVAL);
    assert_int_equal(kc__rv_cell_cancel_hook(NULL), -EINVAL);
    assert_int_equal(kc__rv_cell_state(&c), KC_RV_EMPTY);
    assert_int_equal(kc__rv_cell_offer(&c, &s1.w, NULL), KC_RV_PUBLISHED);
    assert_int_equal(kc__rv_cell_offer(&c, &s1.w, NULL), -EINVAL); /* not INIT */
    assert_int_equal(kc__rv_cell_offer(&c, &s2.w, NULL), -EBUSY);  /* same kind */
    assert_int_equal(kc__waiter_status(&s2.w), KC_WAITER_INIT);
    assert_ptr_equal(kc__rv_cell_holder(&c), &s1.w);
    assert_int_equal(kc__waiter_scope_end(&s1.sc, 0), -EAGAIN);
    assert_int_equal(kc__waiter_scope_end(&s1.sc, 0), -EINVAL); /* released once */
    assert_int_equal(kc__waiter_scope_end(&s2.sc, 0), -EAGAIN);
    kc__rv_cell_init(&c);
    assert_int_equal(kc__rv_cell_offer(&c, &s2.w, NULL), -ESTALE); /* released */
    assert_int_equal(kc__rv_cell_state(&c), KC_RV_EMPTY);
    side_done(&s1);
    side_done(&s2);
    kc_lab_parker_destroy(&r.pk);
}

static void test_rv_cell_check_names_the_broken_invariant(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    const char *why = NULL;
    struct side s;
    sender_ptr(&s, 1);
    assert_int_equal(kc__rv_cell_check(NULL, NULL), -EINVAL);
    atomic_init(&c.word, (uintptr_t)7);
    assert_int_equal(kc__rv_cell_check(&c, &why), -EPROTO);
    assert_memory_equal(why, "C1", 2);
    atomic_store(&c.word, (uintptr_t)&s.w); /* EMPTY naming a token */
    assert_int_equal(kc__rv_cell_check(&c, &why), -EPROTO);
    assert_memory_equal(why, "C2", 2);
    atomic_store(&c.word, (uintptr_t)KC_RV_MATCHED);
    assert_int_equal(kc__rv_cell_check(&c, &why), -EPROTO);
    assert_memory_equal(why, "C2", 2);
    atomic_store(&c.word, (uintptr_t)&s.w | KC_RV_RECEIVER_READY); /* wrong kind */
    assert_int_equal(kc__rv_cell_check(&c, &why), -EPROTO);
    assert_memory_equal(why, "C3", 2);
    atomic_store(&c.word, (uintptr_t)&s.w | KC_RV_CLAIMING); /* no clause mark */
    assert_int_equal(kc__rv_cell_check(&c, &why), -EPROTO);
    assert_memory_equal(why, "C4", 2);
    atomic_store(&c.word, (uintptr_t)KC_RV_CANCELLED); /* poisoned */
    assert_int_equal(kc__rv_cell_check(&c, &why), 0);
    kc__waiter_scope_end(&s.sc, 0);
    side_done(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rv_cell_sender_publishes_into_empty_cell),
        cmocka_unit_test(test_rv_cell_receiver_publishes_into_empty_cell),
        cmocka_unit_test(test_rv_cell_poison_closes_empty_cell_for_later_arrivals),
        cmocka_unit_test(test_rv_cell_receiver_meets_waiting_sender),
        cmocka_unit_test(test_rv_cell_sender_meets_waiting_receiver),
        cmocka_unit_test(test_rv_cell_bytes_are_copied_into_the_receivers_buffer),
        cmocka_unit_test(test_rv_cell_descriptor_ownership_moves_to_receiver),
        cmocka_unit_test(test_rv_cell_oversized_bytes_fail_both_sides_and_copy_nothing),
        cmocka_unit_test(test_rv_cell_type_mismatch_leaves_descriptor_with_sender),
        cmocka_unit_test(test_rv_cell_owner_withdraws_waiting_token),
        cmocka_unit_test(test_rv_cell_timed_out_wait_withdraws_through_the_hook),
        cmocka_unit_test(test_rv_cell_owner_cancellation_becomes_the_result),
        cmocka_unit_test(test_rv_cell_third_party_cancel_wakes_owner_with_reason),
        cmocka_unit_test(test_rv_cell_cancel_after_match_loses_and_payload_stands),
        cmocka_unit_test(test_rv_cell_reset_recycles_spent_cells_only),
        cmocka_unit_test(test_rv_cell_try_match_never_publishes),
        cmocka_unit_test(test_rv_cell_misuse_returns_negative_errno_and_changes_nothing),
        cmocka_unit_test(test_rv_cell_check_names_the_broken_invariant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
