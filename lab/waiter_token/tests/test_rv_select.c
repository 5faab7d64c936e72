/* test_rv_select.c - the cell with select clauses, and the cell under races.
 *
 * The CLAIMING transitions (a peer reserves a clause, then wins or loses
 * its select), a select's poll pass and registration rules, withdrawal
 * while a peer holds CLAIMING, and two races run many rounds on threads:
 * a match against a third-party cancel on a plain token, and two senders
 * (plus, every fourth round, a canceller) racing for one select.
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

/* ------------------------------------------------------------ select clauses */

static void test_rv_cell_peer_reserves_clause_then_matches_select(void **state)
{
    (void)state;
    kc_rv_cell_t cells[2];
    kc_rv_stats_t st;
    kc__rv_cell_init(&cells[0]);
    kc__rv_cell_init(&cells[1]);
    kc__rv_stats_init(&st);
    struct sel x;
    sel_init(&x);
    sel_register(&x, cells, &st);
    assert_int_equal(kc__rv_cell_state(&cells[1]), KC_RV_RECEIVER_READY);
    assert_true(atomic_load(&cells[1].word) & KC_RV_CLAUSE_BIT);
    assert_cell_ok(&cells[1]);
    struct side s;
    sender_ptr(&s, 5);
    assert_int_equal(kc__rv_cell_offer(&cells[1], &s.w, &st), KC_RV_DONE);
    assert_int_equal(kc__rv_cell_state(&cells[1]), KC_RV_MATCHED);
    assert_int_equal(kc__waiter_scope_wait(&x.sc, KC_NO_TIMEOUT), 0);
    assert_int_equal(kc__waiter_status(&x.cl[1]), KC_WAITER_CLAIMED);
    void *p = NULL;
    assert_int_equal(kc__waiter_take_ptr(&x.cl[1], &p), 0);
    assert_ptr_equal(p, &s.value);
    assert_int_equal(kc__waiter_check(&x.cl[1], NULL), 0); /* W7 holds */
    sel_finish(&x, cells, &st);
    assert_int_equal(kc__waiter_status(&x.cl[0]), KC_WAITER_CANCELLED);
    assert_int_equal(kc__rv_cell_state(&cells[0]), KC_RV_CANCELLED);
    kc_rv_counts_t n = counts(&st);
    assert_int_equal(n.matched, 1);
    assert_int_equal(n.cancelled, 1);
    assert_int_equal(n.claim_lost, 0);
    kc__waiter_scope_end(&s.sc, 0);
    side_done(&s);
}

static void test_rv_cell_peer_lets_go_when_select_was_decided_elsewhere(void **state)
{
    (void)state;
    kc_rv_cell_t cells[2];
    kc_rv_stats_t st;
    kc__rv_cell_init(&cells[0]);
    kc__rv_cell_init(&cells[1]);
    kc__rv_stats_init(&st);
    struct sel x;
    sel_init(&x);
    sel_register(&x, cells, &st);
    assert_int_equal(kc__waiter_cancel(&x.s, -ECANCELED), 1); /* a third party */
    struct side s;
    sender_ptr(&s, 6);
    assert_int_equal(kc__rv_cell_offer(&cells[0], &s.w, &st), KC_RV_BROKEN);
    assert_int_equal(kc__rv_cell_state(&cells[0]), KC_RV_CANCELLED);
    assert_int_equal(kc__waiter_status(&s.w), KC_WAITER_INIT); /* may retry */
    assert_int_equal(counts(&st).claim_lost, 1);
    assert_int_equal(kc__waiter_scope_wait(&x.sc, KC_NO_TIMEOUT), -ECANCELED);
    sel_finish(&x, cells, &st);
    assert_int_equal(kc__waiter_status(&x.cl[0]), KC_WAITER_CANCELLED);
    assert_int_equal(kc__waiter_status(&x.cl[1]), KC_WAITER_CANCELLED);
    kc__waiter_scope_end(&s.sc, 0);
    side_done(&s);
}

static void test_rv_cell_withdraw_waits_out_a_peer_in_claiming(void **state)
{
    (void)state;
    kc_rv_cell_t cells[2];
    kc__rv_cell_init(&cells[0]);
    kc__rv_cell_init(&cells[1]);
    struct sel x;
    sel_init(&x);
    sel_register(&x, cells, NULL);
    assert_int_equal(kc__waiter_scope_wait(&x.sc, 0), -EAGAIN); /* timed out */
    /* pose as a peer mid-claim, as kc__rv_cell_offer does for two CASes */
    uintptr_t mine = (uintptr_t)&x.cl[0] | KC_RV_CLAUSE_BIT;
    atomic_store(&cells[0].word, mine | KC_RV_CLAIMING);
    assert_cell_ok(&cells[0]);
    assert_int_equal(kc__rv_cell_withdraw(&cells[0], &x.cl[0], NULL), -EBUSY);
    assert_int_equal(kc__waiter_status(&x.cl[0]), KC_WAITER_ENQUEUED);
    atomic_store(&cells[0].word, mine | KC_RV_CANCELLED); /* the peer lets go */
    assert_int_equal(kc__rv_cell_withdraw(&cells[0], &x.cl[0], NULL), 0);
    assert_int_equal(kc__waiter_status(&x.cl[0]), KC_WAITER_CANCELLED);
    assert_int_equal(kc__rv_cell_withdraw(&cells[1], &x.cl[1], NULL), 1);
    assert_int_equal(kc__waiter_scope_end(&x.sc, 0), -EAGAIN);
    kc_lab_parker_destroy(&x.pk);
}

static void test_rv_cell_select_poll_pass_takes_waiting_sender_directly(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc__rv_cell_init(&c);
    struct sel x;
    sel_init(&x);
    struct side s;
    sender_ptr(&s, 8);
    assert_int_equal(kc__rv_cell_offer(&c, &s.w, NULL), KC_RV_PUBLISHED);
    assert_int_equal(kc__rv_cell_try_match(&c, &x.cl[0], NULL), KC_RV_DONE);
    void *p = NULL;
    assert_int_equal(kc__waiter_take_ptr(&x.cl[0], &p), 0);
    assert_ptr_equal(p, &s.value);
    assert_int_equal(kc__waiter_status(&x.s), KC_WAITER_INIT); /* never published */
    assert_int_equal(kc__waiter_scope_end(&s.sc, KC_NO_TIMEOUT), 0);
    assert_int_equal(kc__waiter_scope_end(&x.sc, KC_NO_TIMEOUT), -EAGAIN);
    assert_int_equal(x.pk.parks, 0);
    side_done(&s);
    kc_lab_parker_destroy(&x.pk);
}

static void test_rv_cell_registered_select_refuses_a_waiting_peer(void **state)
{
    (void)state;
    kc_rv_cell_t c;
    kc__rv_cell_init(&c);
    struct sel x;
    sel_init(&x);
    struct side s;
    sender_ptr(&s, 9);
    assert_int_equal(kc__rv_cell_register(&c, &x.cl[0], NULL), -EINVAL); /* not published */
    assert_int_equal(kc__rv_cell_offer(&c, &s.w, NULL), KC_RV_PUBLISHED);
    assert_int_equal(kc__waiter_publish(&x.s), 0);
    assert_int_equal(kc__rv_cell_register(&c, &x.cl[0], NULL), -EBUSY);
    assert_int_equal(kc__rv_cell_try_match(&c, &x.cl[0], NULL), -EINVAL);
    assert_int_equal(kc__waiter_status(&x.cl[0]), KC_WAITER_INIT);
    assert_int_equal(kc__rv_cell_offer(&c, &x.cl[0], NULL), -EINVAL); /* clauses register */
    assert_int_equal(kc__waiter_scope_end(&x.sc, 0), -EAGAIN);        /* self-cancel */
    assert_int_equal(kc__waiter_scope_end(&s.sc, 0), -EAGAIN);
    side_done(&s);
    kc_lab_parker_destroy(&x.pk);
}

static void test_rv_cell_polling_select_takes_a_registered_selects_clause(void **state)
{
    (void)state;
    kc_rv_cell_t cells[2];
    kc_rv_stats_t st;
    kc__rv_cell_init(&cells[0]);
    kc__rv_cell_init(&cells[1]);
    kc__rv_stats_init(&st);
    struct sel x; /* registered: receives on both cells */
    sel_init(&x);
    sel_register(&x, cells, &st);
    struct kc_lab_parker pk; /* a second select, sending, still in its poll pass */
    kc_waiter_t other, d;
    uint64_t value = 31;
    assert_int_equal(kc_lab_parker_init(&pk), 0);
    assert_int_equal(kc__waiter_init(&other, KC_WAITER_SELECT, &pk, kc_lab_parker_ops()), 0);
    assert_int_equal(kc__waiter_init_clause(&d, KC_WAITER_SENDER, &other), 0);
    assert_int_equal(kc__waiter_put_ptr(&d, &value), 0);
    assert_int_equal(kc__rv_cell_try_match(&cells[0], &d, &st), KC_RV_DONE);
    assert_int_equal(kc__waiter_status(&other), KC_WAITER_INIT); /* never published */
    assert_int_equal(kc__waiter_scope_wait(&x.sc, KC_NO_TIMEOUT), 0);
    void *p = NULL;
    assert_int_equal(kc__waiter_take_ptr(&x.cl[0], &p), 0);
    assert_ptr_equal(p, &value);
    sel_finish(&x, cells, &st);
    assert_int_equal(kc__waiter_status(&x.cl[1]), KC_WAITER_CANCELLED);
    assert_false(kc_lab_parker_pending(&pk));
    kc_lab_parker_destroy(&pk);
}

/* ------------------------------------------------------------ races */

struct race {
    pthread_barrier_t start, stop;
    kc_rv_cell_t cells[2];
    kc_rv_stats_t st;
    long rounds;
    int outcome[2]; /* per racing thread, this round */
};

struct racer {
    struct race *r;
    int idx;
    struct kc_lab_parker pk;
};

/* The values the racers send: static, so a pointer to one stays valid
 * after its sender thread has exited. */
static uint64_t race_values[2] = {0, 1};

/* Each round: offer a value into cells[idx] as an arriving sender. */
static void *race_sender(void *arg)
{
    struct racer *me = arg;
    struct race *r = me->r;
    for (long i = 0; i < r->rounds; i++) {
        kc_waiter_t w;
        kc__waiter_init(&w, KC_WAITER_SENDER, &me->pk, kc_lab_parker_ops());
        kc__waiter_put_ptr(&w, &race_values[me->idx]);
        pthread_barrier_wait(&r->start);
        r->outcome[me->idx] = kc__rv_cell_offer(&r->cells[me->idx], &w, &r->st);
        pthread_barrier_wait(&r->stop);
    }
    return NULL;
}

static void test_rv_cell_match_and_third_party_cancel_have_one_winner(void **state)
{
    (void)state;
    struct race r;
    memset(&r, 0, sizeof(r));
    r.rounds = kc_lab_scaled(20000);
    kc__rv_stats_init(&r.st);
    pthread_barrier_init(&r.start, NULL, 2);
    pthread_barrier_init(&r.stop, NULL, 2);
    struct racer a = {&r, 0, {0}};
    assert_int_equal(kc_lab_parker_init(&a.pk), 0);
    struct side rcv;
    receiver_ptr(&rcv);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, race_sender, &a), 0);
    long matched = 0, cancelled = 0;
    for (long i = 0; i < r.rounds; i++) {
        kc__rv_cell_init(&r.cells[0]);
        kc__waiter_init(&rcv.w, KC_WAITER_RECEIVER, &rcv.pk, kc_lab_parker_ops());
        kc__waiter_want(&rcv.w, KC_PAYLOAD_PTR);
        kc__waiter_scope_begin(&rcv.sc, &rcv.w);
        assert_int_equal(kc__rv_cell_offer(&r.cells[0], &rcv.w, &r.st), KC_RV_PUBLISHED);
        pthread_barrier_wait(&r.start);
        int won = kc__waiter_cancel(&rcv.w, -ECANCELED);
        pthread_barrier_wait(&r.stop);
        int rc = kc__waiter_scope_end(&rcv.sc, KC_NO_TIMEOUT);
        int peer = r.outcome[0];
        if (won == 1) {
            cancelled++;
            if (peer != KC_RV_BROKEN || rc != -ECANCELED)
                fail_msg("round %ld: cancel won but peer %d, owner %d", i, peer, rc);
        } else {
            matched++;
            if (won != 0 || peer != KC_RV_DONE || rc != 0)
                fail_msg("round %ld: cancel %d, peer %d, owner %d", i, won, peer, rc);
        }
    }
    pthread_join(t, NULL);
    kc_rv_counts_t n = counts(&r.st);
    assert_int_equal(matched + cancelled, r.rounds);
    assert_int_equal(n.matched, matched);
    assert_int_equal(n.cancelled, cancelled);
    assert_int_equal(n.broken, cancelled);
    printf("  match/cancel race: %ld matched, %ld cancelled\n", matched, cancelled);
    side_done(&rcv);
    kc_lab_parker_destroy(&a.pk);
    pthread_barrier_destroy(&r.start);
    pthread_barrier_destroy(&r.stop);
}

static void test_rv_cell_two_senders_racing_for_one_select_deliver_once(void **state)
{
    (void)state;
    struct race r;
    memset(&r, 0, sizeof(r));
    r.rounds = kc_lab_scaled(20000);
    kc__rv_stats_init(&r.st);
    pthread_barrier_init(&r.start, NULL, 3);
    pthread_barrier_init(&r.stop, NULL, 3);
    struct racer a = {&r, 0, {0}}, b = {&r, 1, {0}};
    assert_int_equal(kc_lab_parker_init(&a.pk), 0);
    assert_int_equal(kc_lab_parker_init(&b.pk), 0);
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, race_sender, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, race_sender, &b), 0);
    struct sel x;
    long won_by[2] = {0, 0}, cancels = 0;
    for (long i = 0; i < r.rounds; i++) {
        kc__rv_cell_init(&r.cells[0]);
        kc__rv_cell_init(&r.cells[1]);
        sel_init(&x);
        sel_register(&x, r.cells, &r.st);
        pthread_barrier_wait(&r.start);
        int cw = i % 4 == 0 ? kc__waiter_cancel(&x.s, -ECANCELED) : 0;
        pthread_barrier_wait(&r.stop);
        int rc = kc__waiter_scope_wait(&x.sc, KC_NO_TIMEOUT);
        int done = (r.outcome[0] == KC_RV_DONE) + (r.outcome[1] == KC_RV_DONE);
        if (done != (rc == 0 ? 1 : 0) || (cw == 1) != (rc == -ECANCELED))
            fail_msg("round %ld: outcomes %d/%d, cancel %d, select %d", i, r.outcome[0],
                     r.outcome[1], cw, rc);
        for (int k = 0; k < 2; k++) {
            if (r.outcome[k] == KC_RV_DONE) {
                void *p = NULL;
                won_by[k]++;
                if (kc__waiter_take_ptr(&x.cl[k], &p) != 0 || *(uint64_t *)p != (uint64_t)k)
                    fail_msg("round %ld: clause %d lost its value", i, k);
            } else if (r.outcome[k] != KC_RV_BROKEN) {
                fail_msg("round %ld: sender %d got %d", i, k, r.outcome[k]);
            }
        }
        cancels += cw == 1;
        sel_finish(&x, r.cells, &r.st);
    }
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    kc_rv_counts_t n = counts(&r.st);
    assert_int_equal(won_by[0] + won_by[1] + cancels, r.rounds);
    assert_int_equal(n.matched, won_by[0] + won_by[1]);
    assert_int_equal(n.claim_lost + n.matched, 2 * r.rounds);
    printf("  select race: clause 0 won %ld, clause 1 won %ld, cancelled %ld\n", won_by[0],
           won_by[1], cancels);
    kc_lab_parker_destroy(&a.pk);
    kc_lab_parker_destroy(&b.pk);
    pthread_barrier_destroy(&r.start);
    pthread_barrier_destroy(&r.stop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rv_cell_peer_reserves_clause_then_matches_select),
        cmocka_unit_test(test_rv_cell_peer_lets_go_when_select_was_decided_elsewhere),
        cmocka_unit_test(test_rv_cell_withdraw_waits_out_a_peer_in_claiming),
        cmocka_unit_test(test_rv_cell_select_poll_pass_takes_waiting_sender_directly),
        cmocka_unit_test(test_rv_cell_registered_select_refuses_a_waiting_peer),
        cmocka_unit_test(test_rv_cell_polling_select_takes_a_registered_selects_clause),
        cmocka_unit_test(test_rv_cell_match_and_third_party_cancel_have_one_winner),
        cmocka_unit_test(test_rv_cell_two_senders_racing_for_one_select_deliver_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
