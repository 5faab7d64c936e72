/* test_waiter.c - tests of the waiter token (src/kc_waiter.c).
 *
 * One test per transition of the token's status table, the payload kinds
 * and their hand-off, the scope guard (exactly one release, the owed wake,
 * timeouts), the cancellation hooks, the intrusive queue and the invariant
 * checker. Owners of both kinds (thread, coroutine): test_owners.c.
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

/* A hook for tokens published nowhere in particular: the status decides. */
static int status_hook(kc_waiter_t *w)
{
    return kc__waiter_try_cancel(w) ? 1 : 0;
}

static void plain(struct side *s, kc_waiter_kind_t kind)
{
    side_init(s, kind);
    s->w.cancel = status_hook;
    if (kind == KC_WAITER_SENDER)
        assert_int_equal(kc__waiter_put_ptr(&s->w, &s->value), 0);
    else
        assert_int_equal(kc__waiter_want(&s->w, KC_PAYLOAD_PTR), 0);
}

/* ------------------------------------------------------------ status table */

static void test_waiter_init_makes_a_live_init_token_of_each_kind(void **state)
{
    (void)state;
    struct kc_lab_parker pk;
    kc_waiter_t w;
    assert_int_equal(kc_lab_parker_init(&pk), 0);
    for (int k = KC_WAITER_SENDER; k <= KC_WAITER_SELECT; k++) {
        assert_int_equal(kc__waiter_init(&w, (kc_waiter_kind_t)k, &pk, kc_lab_parker_ops()), 0);
        assert_int_equal(kc__waiter_status(&w), KC_WAITER_INIT);
        assert_int_equal(w.kind, k);
        assert_int_equal(w.result, -EAGAIN);
        assert_ptr_equal(kc__waiter_arbiter(&w), &w);
        assert_int_equal(kc__waiter_check(&w, NULL), 0);
    }
    assert_ptr_equal(w.cancel, kc__waiter_select_cancel);
    kc_lab_parker_destroy(&pk);
}

static void test_waiter_init_rejects_bad_arguments(void **state)
{
    (void)state;
    kc_waiter_t w, sel;
    kc_waiter_owner_ops_t half = {kc_lab_parker_wake, NULL};
    assert_int_equal(kc__waiter_init(NULL, KC_WAITER_SENDER, NULL, kc_lab_parker_ops()), -EINVAL);
    assert_int_equal(kc__waiter_init(&w, KC_WAITER_SENDER, NULL, NULL), -EINVAL);
    assert_int_equal(kc__waiter_init(&w, KC_WAITER_SENDER, NULL, &half), -EINVAL);
    assert_int_equal(kc__waiter_init(&w, (kc_waiter_kind_t)9, NULL, kc_lab_parker_ops()), -EINVAL);
    assert_int_equal(kc__waiter_init(&w, KC_WAITER_SENDER, NULL, kc_lab_parker_ops()), 0);
    assert_int_equal(kc__waiter_init_clause(&sel, KC_WAITER_RECEIVER, &w), -EINVAL);
    assert_int_equal(kc__waiter_init_clause(&sel, KC_WAITER_SELECT, &w), -EINVAL);
    assert_int_equal(kc__waiter_init_clause(&sel, KC_WAITER_RECEIVER, NULL), -EINVAL);
    assert_int_equal(kc__waiter_init(&sel, KC_WAITER_SELECT, NULL, kc_lab_parker_ops()), 0);
    assert_int_equal(kc__waiter_init_clause(&w, KC_WAITER_SENDER, &sel), 0);
    assert_ptr_equal(kc__waiter_arbiter(&w), &sel);
    kc_waiter_scope_t sc;
    assert_int_equal(kc__waiter_scope_begin(&sc, &w), -EINVAL); /* clauses: no scope */
    assert_int_equal(kc__waiter_scope_begin(&sc, &sel), 0);
    kc__waiter_scope_end(&sc, 0);
    kc_waiter_t late;
    assert_int_equal(kc__waiter_init_clause(&late, KC_WAITER_SENDER, &sel), -ESTALE);
}

static void test_waiter_publish_moves_init_to_enqueued_once(void **state)
{
    (void)state;
    struct side s;
    plain(&s, KC_WAITER_SENDER);
    assert_int_equal(kc__waiter_publish(&s.w), 0);
    assert_int_equal(kc__waiter_status(&s.w), KC_WAITER_ENQUEUED);
    assert_int_equal(kc__waiter_publish(&s.w), -EINVAL);
    assert_int_equal(kc__waiter_scope_end(&s.sc, 0), -EAGAIN);
    side_done(&s);
}

static void test_waiter_publish_refuses_a_token_nobody_could_withdraw(void **state)
{
    (void)state;
    struct side s;
    sender_ptr(&s, 1); /* no hook installed */
    assert_int_equal(kc__waiter_publish(&s.w), -EINVAL);
    assert_int_equal(kc__waiter_status(&s.w), KC_WAITER_INIT);
    kc__waiter_scope_end(&s.sc, 0);
    side_done(&s);
}

static void test_waiter_retract_returns_an_unseen_token_to_init(void **state)
{
    (void)state;
    struct side s;
    plain(&s, KC_WAITER_SENDER);
    assert_int_equal(kc__waiter_retract(&s.w), -EINVAL); /* not ENQUEUED */
    assert_int_equal(kc__waiter_publish(&s.w), 0);
    assert_int_equal(kc__waiter_retract(&s.w), 0);
    assert_int_equal(kc__waiter_status(&s.w), KC_WAITER_INIT);
    assert_int_equal(kc__waiter_scope_end(&s.sc, KC_NO_TIMEOUT), -EAGAIN);
    assert_int_equal(s.pk.parks, 0);
    side_done(&s);
}

static void test_waiter_claim_wins_once_and_shuts_out_cancel(void **state)
{
    (void)state;
    struct side s;
    plain(&s, KC_WAITER_SENDER);
    assert_false(kc__waiter_try_claim(&s.w)); /* INIT cannot be claimed */
    kc__waiter_publish(&s.w);
    assert_true(kc__waiter_try_claim(&s.w));
    assert_false(kc__waiter_try_claim(&s.w));
    assert_false(kc__waiter_try_cancel(&s.w));
    assert_int_equal(kc__waiter_status(&s.w), KC_WAITER_CLAIMED);
    s.w.result = 0;
    kc_lab_parker_wake(&s.pk); /* the claimer's wake */
    assert_int_equal(kc__waiter_scope_end(&s.sc, 0), 0);
    side_done(&s);
}

static void test_waiter_claim_locked_claims_only_an_enqueued_token(void **state)
{
    (void)state;
    struct side s;
    plain(&s, KC_WAITER_RECEIVER);
    assert_false(kc__waiter_claim_locked(&s.w)); /* INIT cannot be claimed */
    assert_int_equal(kc__waiter_status(&s.w), KC_WAITER_INIT);
    kc__waiter_publish(&s.w);
    assert_true(kc__waiter_claim_locked(&s.w));
    assert_int_equal(kc__waiter_status(&s.w), KC_WAITER_CLAIMED);
    assert_false(kc__waiter_claim_locked(&s.w));
    assert_false(kc__waiter_try_cancel(&s.w));
    assert_int_equal(kc__waiter_status(&s.w), KC_WAITER_CLAIMED);
    s.w.result = 0;
    kc_lab_parker_wake(&s.pk); /* the claimer's wake */
    assert_int_equal(kc__waiter_scope_end(&s.sc, 0), 0);
    side_done(&s);
}

static void test_waiter_claim_locked_leaves_a_cancelled_token_cancelled(void **state)
{
    (void)state;
    struct side s;
    plain(&s, KC_WAITER_SENDER);
    kc__waiter_publish(&s.w);
    assert_true(kc__waiter_try_cancel(&s.w));
    assert_false(kc__waiter_claim_locked(&s.w));
    assert_int_equal(kc__waiter_status(&s.w), KC_WAITER_CANCELLED);
    side_done(&s); /* cancelled by hand: no wake owed, scope left open */
}

static void test_waiter_cancel_wins_once_and_shuts_out_claim(void **state)
{
    (void)state;
    struct side s;
    plain(&s, KC_WAITER_RECEIVER);
    kc__waiter_publish(&s.w);
    assert_true(kc__waiter_try_cancel(&s.w));
    assert_false(kc__waiter_try_cancel(&s.w));
    assert_false(kc__waiter_try_claim(&s.w));
    assert_int_equal(kc__waiter_status(&s.w), KC_WAITER_CANCELLED);
    side_done(&s); /* cancelled by hand: no wake owed, scope left open */
}

struct claim_race {
    pthread_barrier_t start, stop;
    kc_waiter_t *w;
    long rounds;
    bool claimed;
};

static void *claimer(void *arg)
{
    struct claim_race *r = arg;
    for (long i = 0; i < r->rounds; i++) {
        pthread_barrier_wait(&r->start);
        r->claimed = kc__waiter_try_claim(r->w);
        pthread_barrier_wait(&r->stop);
    }
    return NULL;
}

static void test_waiter_claim_and_cancel_racing_on_threads_have_one_winner(void **state)
{
    (void)state;
    struct side s;
    struct claim_race r = {.w = &s.w, .rounds = kc_lab_scaled(50000)};
    pthread_barrier_init(&r.start, NULL, 2);
    pthread_barrier_init(&r.stop, NULL, 2);
    assert_int_equal(kc_lab_parker_init(&s.pk), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, claimer, &r), 0);
    long claims = 0, cancels = 0;
    for (long i = 0; i < r.rounds; i++) {
        kc__waiter_init(&s.w, KC_WAITER_SENDER, &s.pk, kc_lab_parker_ops());
        s.w.cancel = status_hook;
        kc__waiter_publish(&s.w);
        pthread_barrier_wait(&r.start);
        bool cancelled = kc__waiter_try_cancel(&s.w);
        pthread_barrier_wait(&r.stop);
        if (cancelled == r.claimed)
            fail_msg("round %ld: claim %d, cancel %d", i, r.claimed, cancelled);
        kc_waiter_status_t st = kc__waiter_status(&s.w);
        if (st != (cancelled ? KC_WAITER_CANCELLED : KC_WAITER_CLAIMED))
            fail_msg("round %ld: status %s", i, kc__waiter_status_name(st));
        claims += r.claimed;
        cancels += cancelled;
    }
    pthread_join(t, NULL);
    assert_int_equal(claims + cancels, r.rounds);
    printf("  claim/cancel race: %ld claimed, %ld cancelled\n", claims, cancels);
    kc_lab_parker_destroy(&s.pk);
    pthread_barrier_destroy(&r.start);
    pthread_barrier_destroy(&r.stop);
}

/* ------------------------------------------------------------ payloads */

static void test_waiter_payload_setters_check_kind_and_status(void **state)
{
    (void)state;
    struct side s, r;
    char buf[8];
    kc_waiter_desc_t d = {buf, sizeof(buf), 1, 0};
    side_init(&s, KC_WAITER_SENDER);
    side_init(&r, KC_WAITER_RECEIVER);
    assert_int_equal(kc__waiter_want_bytes(&s.w, buf, sizeof(buf)), -EINVAL);
    assert_int_equal(kc__waiter_want(&s.w, KC_PAYLOAD_PTR), -EINVAL);
    assert_int_equal(kc__waiter_put_ptr(&r.w, buf), -EINVAL);
    assert_int_equal(kc__waiter_put_bytes(&s.w, NULL, 3), -EINVAL);
    assert_int_equal(kc__waiter_put_desc(&s.w, NULL), -EINVAL);
    assert_int_equal(kc__waiter_want_bytes(&r.w, NULL, 3), -EINVAL);
    assert_int_equal(kc__waiter_want(&r.w, KC_PAYLOAD_BYTES), -EINVAL);
    assert_int_equal(kc__waiter_put_bytes(&s.w, NULL, 0), 0); /* an empty message */
    assert_int_equal(kc__waiter_put_desc(&s.w, &d), 0);       /* last one wins */
    assert_int_equal(s.w.payload.type, KC_PAYLOAD_DESC);
    s.w.cancel = status_hook;
    kc__waiter_publish(&s.w);
    assert_int_equal(kc__waiter_put_ptr(&s.w, buf), -EINVAL); /* not INIT */
    assert_int_equal(kc__waiter_scope_end(&s.sc, 0), -EAGAIN);
    assert_int_equal(kc__waiter_put_ptr(&s.w, buf), -ESTALE);
    kc__waiter_scope_end(&r.sc, 0);
    side_done(&s);
    side_done(&r);
}

static void test_waiter_transfer_moves_each_type_and_refuses_misfits(void **state)
{
    (void)state;
    kc_waiter_t s, r;
    char out[4];
    int x = 5;
    kc_waiter_desc_t d = {&x, sizeof(x), 7, KC_WAITER_DESC_OWNED};
    kc__waiter_init(&s, KC_WAITER_SENDER, NULL, kc_lab_parker_ops());
    kc__waiter_init(&r, KC_WAITER_RECEIVER, NULL, kc_lab_parker_ops());
    kc__waiter_put_bytes(&s, "abcd", 4);
    kc__waiter_want_bytes(&r, out, sizeof(out));
    assert_int_equal(kc__waiter_transfer(&s, &r), 0);
    assert_memory_equal(out, "abcd", 4);
    assert_int_equal(r.payload.u.bytes.len, 4);
    kc__waiter_put_bytes(&s, "abcde", 5);
    assert_int_equal(kc__waiter_transfer(&s, &r), -EMSGSIZE);
    kc__waiter_put_ptr(&s, &x);
    assert_int_equal(kc__waiter_transfer(&s, &r), -EPROTO);
    kc__waiter_want(&r, KC_PAYLOAD_PTR);
    assert_int_equal(kc__waiter_transfer(&s, &r), 0);
    assert_ptr_equal(r.payload.u.ptr, &x);
    kc__waiter_put_desc(&s, &d);
    assert_int_equal(kc__waiter_transfer(&s, &r), -EPROTO);
    assert_true(s.payload.u.desc.flags & KC_WAITER_DESC_OWNED); /* kept */
    kc__waiter_want(&r, KC_PAYLOAD_DESC);
    assert_int_equal(kc__waiter_transfer(&s, &r), 0);
    assert_false(s.payload.u.desc.flags & KC_WAITER_DESC_OWNED);
    assert_true(r.payload.u.desc.flags & KC_WAITER_DESC_OWNED);
    assert_int_equal(r.payload.u.desc.ticket, 7);
}

static void test_waiter_take_refuses_until_something_arrived(void **state)
{
    (void)state;
    kc_waiter_t r;
    void *p = NULL;
    kc_waiter_desc_t d;
    size_t n = 0;
    kc__waiter_init(&r, KC_WAITER_RECEIVER, NULL, kc_lab_parker_ops());
    kc__waiter_want(&r, KC_PAYLOAD_PTR);
    assert_int_equal(kc__waiter_take_ptr(&r, &p), -EAGAIN);
    assert_int_equal(kc__waiter_take_ptr(&r, NULL), -EINVAL);
    assert_int_equal(kc__waiter_take_desc(&r, &d), -EINVAL); /* wrong type */
    assert_int_equal(kc__waiter_bytes_len(&r, &n), -EINVAL);
    r.result = 0; /* as a successful transfer leaves it */
    assert_int_equal(kc__waiter_take_ptr(&r, &p), 0);
}

/* ------------------------------------------------------------ scope guard */

static void test_waiter_scope_releases_exactly_once_then_refuses_use(void **state)
{
    (void)state;
    struct side s;
    plain(&s, KC_WAITER_SENDER);
    kc_waiter_scope_t again;
    assert_int_equal(kc__waiter_scope_begin(NULL, &s.w), -EINVAL);
    assert_int_equal(kc__waiter_scope_end(&s.sc, 0), -EAGAIN);
    assert_int_equal(kc__waiter_scope_end(&s.sc, 0), -EINVAL);
    assert_int_equal(kc__waiter_scope_wait(&s.sc, 0), -EINVAL);
    assert_int_equal(kc__waiter_scope_end(NULL, 0), -EINVAL);
    assert_int_equal(atomic_load(&s.w.magic), KC_WAITER_MAGIC_DEAD);
    assert_int_equal(kc__waiter_scope_begin(&again, &s.w), -ESTALE);
    assert_int_equal(kc__waiter_publish(&s.w), -ESTALE);
    const char *why = NULL;
    assert_int_equal(kc__waiter_check(&s.w, &why), -ESTALE);
    assert_memory_equal(why, "W1", 2);
    assert_int_equal(s.pk.parks, 0);
    side_done(&s);
}

static void test_waiter_scope_wait_settles_once_and_end_only_releases(void **state)
{
    (void)state;
    struct side s;
    plain(&s, KC_WAITER_RECEIVER);
    kc__waiter_publish(&s.w);
    assert_int_equal(kc__waiter_scope_wait(&s.sc, 0), -EAGAIN);
    assert_int_equal(kc__waiter_status(&s.w), KC_WAITER_CANCELLED);
    assert_int_equal(kc__waiter_scope_wait(&s.sc, KC_NO_TIMEOUT), -EAGAIN); /* stored */
    assert_int_equal(kc__waiter_scope_end(&s.sc, KC_NO_TIMEOUT), -EAGAIN);
    assert_int_equal(s.pk.parks, 0);
    side_done(&s);
}

static void test_waiter_scope_consumes_the_owed_wake_when_its_cancel_loses(void **state)
{
    (void)state;
    struct side s;
    plain(&s, KC_WAITER_RECEIVER);
    kc__waiter_publish(&s.w);
    assert_true(kc__waiter_try_claim(&s.w)); /* a peer decided first ... */
    s.w.result = 0;
    kc_lab_parker_wake(&s.pk); /* ... and woke the owner */
    assert_int_equal(kc__waiter_scope_end(&s.sc, 0), 0);
    assert_int_equal(s.pk.parks, 1); /* the owed wake, consumed */
    side_done(&s);
}

static void test_waiter_scope_reports_a_stray_wake_as_eproto(void **state)
{
    (void)state;
    struct side s;
    plain(&s, KC_WAITER_SENDER);
    kc__waiter_publish(&s.w);
    kc_lab_parker_wake(&s.pk); /* nobody decided anything */
    assert_int_equal(kc__waiter_scope_end(&s.sc, KC_NO_TIMEOUT), -EPROTO);
    assert_int_equal(kc__waiter_status(&s.w), KC_WAITER_CANCELLED);
    side_done(&s);
}

static void test_waiter_scope_end_parked_takes_the_decided_result_without_parking(void **state)
{
    (void)state;
    struct side s;
    plain(&s, KC_WAITER_RECEIVER);
    kc__waiter_publish(&s.w);
    assert_true(kc__waiter_try_claim(&s.w)); /* a peer decided and its wake */
    s.w.result = 0;                          /* was consumed by the owner's */
    assert_int_equal(kc__waiter_scope_end_parked(&s.sc, 0, KC_NO_TIMEOUT), 0); /* own park */
    assert_int_equal(s.pk.parks, 0);
    assert_int_equal(kc__waiter_usable(&s.w), -ESTALE); /* released */
    assert_int_equal(kc__waiter_scope_end_parked(&s.sc, 0, KC_NO_TIMEOUT), -EINVAL);
    side_done(&s);
}

static void test_waiter_scope_end_parked_withdraws_after_a_park_that_gave_up(void **state)
{
    (void)state;
    struct side s;
    plain(&s, KC_WAITER_SENDER);
    kc__waiter_publish(&s.w);
    /* the owner's own park gave up (interrupted) while nobody had decided */
    assert_int_equal(kc__waiter_scope_end_parked(&s.sc, -ECANCELED, KC_NO_TIMEOUT), -ECANCELED);
    assert_int_equal(kc__waiter_status(&s.w), KC_WAITER_CANCELLED);
    assert_int_equal(s.pk.parks, 0);
    side_done(&s);
}

static void test_waiter_scope_end_parked_takes_the_owed_wake_when_the_peer_won(void **state)
{
    (void)state;
    struct side s;
    plain(&s, KC_WAITER_RECEIVER);
    kc__waiter_publish(&s.w);
    assert_true(kc__waiter_try_claim(&s.w)); /* the peer won the race ... */
    s.w.result = 0;
    kc_lab_parker_wake(&s.pk); /* ... its wake is owed to the owner */
    /* the owner's park gave up first (it timed out): the peer's outcome
     * stands and the owed wake is consumed through ops->park */
    assert_int_equal(kc__waiter_scope_end_parked(&s.sc, -ETIME, 1000), 0);
    assert_int_equal(s.pk.parks, 1);
    side_done(&s);
}

/* ------------------------------------------------------------ hooks */

static void test_waiter_select_cancel_hook_is_one_cas_on_the_select(void **state)
{
    (void)state;
    kc_waiter_t sel, cl;
    kc__waiter_init(&sel, KC_WAITER_SELECT, NULL, kc_lab_parker_ops());
    kc__waiter_init_clause(&cl, KC_WAITER_RECEIVER, &sel);
    assert_int_equal(kc__waiter_select_cancel(&sel), 0); /* INIT: nothing to cancel */
    assert_int_equal(kc__waiter_select_cancel(&cl), -EINVAL);
    assert_int_equal(kc__waiter_select_cancel(NULL), -EINVAL);
    kc__waiter_publish(&sel);
    assert_int_equal(kc__waiter_select_cancel(&sel), 1);
    assert_int_equal(kc__waiter_select_cancel(&sel), 0);
    assert_int_equal(kc__waiter_status(&sel), KC_WAITER_CANCELLED);
}

static void test_waiter_cancel_refuses_clauses_and_unhooked_tokens(void **state)
{
    (void)state;
    struct side s;
    kc_waiter_t cl;
    side_init(&s, KC_WAITER_SENDER);
    assert_int_equal(kc__waiter_cancel(NULL, -ECANCELED), -EINVAL);
    assert_int_equal(kc__waiter_cancel(&s.w, -ECANCELED), -EINVAL); /* no hook */
    kc_waiter_t sel;
    kc__waiter_init(&sel, KC_WAITER_SELECT, &s.pk, kc_lab_parker_ops());
    kc__waiter_init_clause(&cl, KC_WAITER_SENDER, &sel);
    assert_int_equal(kc__waiter_cancel(&cl, -ECANCELED), -EINVAL); /* cancel the select */
    assert_int_equal(kc__waiter_cancel(&sel, -ECANCELED), 0);      /* not published */
    assert_false(kc_lab_parker_pending(&s.pk));
    kc__waiter_scope_end(&s.sc, 0);
    side_done(&s);
}

/* ------------------------------------------------------------ queue */

static void test_waiter_queue_is_fifo_and_remove_unlinks_from_the_middle(void **state)
{
    (void)state;
    kc_waiter_t w[3];
    kc_waiter_queue_t q;
    kc__waiter_queue_init(&q);
    for (int i = 0; i < 3; i++) {
        kc__waiter_init(&w[i], KC_WAITER_RECEIVER, NULL, kc_lab_parker_ops());
        assert_int_equal(kc__waiter_queue_push(&q, &w[i]), 0);
        assert_int_equal(kc__waiter_check(&w[i], NULL), 0);
    }
    assert_int_equal(q.len, 3);
    assert_int_equal(kc__waiter_queue_remove(&q, &w[1]), 0);
    assert_null(w[1].next);
    assert_null(w[1].site);
    assert_ptr_equal(kc__waiter_queue_pop(&q), &w[0]);
    assert_ptr_equal(kc__waiter_queue_pop(&q), &w[2]);
    assert_null(kc__waiter_queue_pop(&q));
    assert_int_equal(q.len, 0);
    assert_null(q.tail);
    assert_int_equal(kc__waiter_queue_push(&q, &w[1]), 0); /* reusable */
    assert_ptr_equal(q.head, &w[1]);
    assert_ptr_equal(q.tail, &w[1]);
}

static void test_waiter_queue_publish_new_enqueues_at_the_tail(void **state)
{
    (void)state;
    kc_waiter_t w[2];
    kc_waiter_queue_t q;
    kc__waiter_queue_init(&q);
    for (int i = 0; i < 2; i++) {
        kc__waiter_init(&w[i], KC_WAITER_SENDER, NULL, kc_lab_parker_ops());
        w[i].cancel = status_hook;
        kc__waiter_queue_publish_new(&q, &w[i]);
        assert_int_equal(kc__waiter_status(&w[i]), KC_WAITER_ENQUEUED);
        assert_ptr_equal(w[i].site, &q);
        assert_int_equal(kc__waiter_check(&w[i], NULL), 0);
    }
    assert_int_equal(q.len, 2);
    assert_ptr_equal(kc__waiter_queue_pop(&q), &w[0]);
    assert_ptr_equal(kc__waiter_queue_pop(&q), &w[1]);
    assert_int_equal(q.len, 0);
}

static void test_waiter_init_clears_every_field_of_a_reused_token(void **state)
{
    (void)state;
    kc_waiter_t w, sel;
    memset(&w, 0xa5, sizeof(w)); /* whatever a stack slot held before */
    assert_int_equal(kc__waiter_init(&sel, KC_WAITER_SELECT, NULL, kc_lab_parker_ops()), 0);
    assert_int_equal(kc__waiter_init_clause(&w, KC_WAITER_RECEIVER, &sel), 0);
    assert_ptr_equal(w.parent, &sel);
    assert_null(w.owner);
    assert_null(w.ops);
    assert_null(w.cancel);
    assert_null(w.site);
    assert_null(w.site_stats);
    assert_null(w.next);
    assert_null(w.prev);
    assert_null(w.user);
    assert_int_equal(w.payload.type, KC_PAYLOAD_NONE);
    assert_null(w.payload.u.bytes.src);
    assert_null(w.payload.u.bytes.dst);
    assert_int_equal(w.payload.u.bytes.len, 0);
    assert_int_equal(w.payload.u.bytes.cap, 0);
    assert_int_equal(w.result, -EAGAIN);
    assert_int_equal(kc__waiter_check(&w, NULL), 0);
}

static void test_waiter_queue_refuses_double_push_and_foreign_remove(void **state)
{
    (void)state;
    kc_waiter_t w;
    kc_waiter_queue_t q1, q2;
    kc__waiter_queue_init(&q1);
    kc__waiter_queue_init(&q2);
    kc__waiter_init(&w, KC_WAITER_SENDER, NULL, kc_lab_parker_ops());
    assert_int_equal(kc__waiter_queue_push(&q1, &w), 0);
    assert_int_equal(kc__waiter_queue_push(&q1, &w), -EINVAL);
    assert_int_equal(kc__waiter_queue_push(&q2, &w), -EINVAL);
    assert_int_equal(kc__waiter_queue_remove(&q2, &w), -EINVAL);
    assert_int_equal(kc__waiter_queue_push(NULL, &w), -EINVAL);
    assert_null(kc__waiter_queue_pop(NULL));
    assert_int_equal(q1.len, 1);
    assert_int_equal(q2.len, 0);
}

/* ------------------------------------------------------------ checker */

static void expect_broken(const kc_waiter_t *w, const char *inv)
{
    const char *why = NULL;
    assert_int_equal(kc__waiter_check(w, &why), -EPROTO);
    if (strncmp(why, inv, 2) != 0)
        fail_msg("expected %s, got '%s'", inv, why);
}

static void test_waiter_check_names_each_broken_invariant(void **state)
{
    (void)state;
    kc_waiter_t w, sel, cl;
    const char *why = NULL;
    assert_int_equal(kc__waiter_check(NULL, &why), -EINVAL);
    kc__waiter_init(&w, KC_WAITER_SENDER, NULL, kc_lab_parker_ops());
    w.kind = 7;
    expect_broken(&w, "W2");
    kc__waiter_init(&sel, KC_WAITER_SELECT, NULL, kc_lab_parker_ops());
    sel.cancel = NULL;
    expect_broken(&sel, "W3");
    kc__waiter_init(&w, KC_WAITER_SENDER, NULL, kc_lab_parker_ops());
    w.ops = NULL;
    expect_broken(&w, "W4");
    kc__waiter_init(&w, KC_WAITER_SENDER, NULL, kc_lab_parker_ops());
    w.payload.type = KC_PAYLOAD_BYTES;
    w.payload.u.bytes.len = 3;
    expect_broken(&w, "W5");
    kc__waiter_init(&w, KC_WAITER_RECEIVER, NULL, kc_lab_parker_ops());
    atomic_store(&w.status, KC_WAITER_ENQUEUED);
    expect_broken(&w, "W6");
    kc__waiter_init(&w, KC_WAITER_RECEIVER, NULL, kc_lab_parker_ops());
    w.next = &sel;
    expect_broken(&w, "W6");
    kc__waiter_init(&sel, KC_WAITER_SELECT, NULL, kc_lab_parker_ops());
    kc__waiter_init_clause(&cl, KC_WAITER_RECEIVER, &sel);
    atomic_store(&cl.status, KC_WAITER_CLAIMED);
    expect_broken(&cl, "W7");
    kc_waiter_desc_t d = {&w, 1, 1, KC_WAITER_DESC_OWNED};
    kc__waiter_init(&w, KC_WAITER_SENDER, NULL, kc_lab_parker_ops());
    kc__waiter_put_desc(&w, &d);
    w.cancel = status_hook;
    atomic_store(&w.status, KC_WAITER_CLAIMED);
    w.result = 0;
    expect_broken(&w, "W8");
    w.result = -EPROTO; /* a failed hand-off keeps the descriptor: fine */
    assert_int_equal(kc__waiter_check(&w, NULL), 0);
}

static void test_waiter_names_cover_every_value(void **state)
{
    (void)state;
    assert_string_equal(kc__waiter_status_name(KC_WAITER_CANCELLED), "CANCELLED");
    assert_string_equal(kc__waiter_status_name((kc_waiter_status_t)9), "?");
    assert_string_equal(kc__waiter_kind_name(KC_WAITER_SELECT), "select");
    assert_string_equal(kc__payload_type_name(KC_PAYLOAD_DESC), "desc");
    assert_string_equal(kc__rv_state_name(KC_RV_CLAIMING), "CLAIMING");
    assert_string_equal(kc__rv_state_name((kc_rv_state_t)6), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waiter_init_makes_a_live_init_token_of_each_kind),
        cmocka_unit_test(test_waiter_init_rejects_bad_arguments),
        cmocka_unit_test(test_waiter_publish_moves_init_to_enqueued_once),
        cmocka_unit_test(test_waiter_publish_refuses_a_token_nobody_could_withdraw),
        cmocka_unit_test(test_waiter_retract_returns_an_unseen_token_to_init),
        cmocka_unit_test(test_waiter_claim_wins_once_and_shuts_out_cancel),
        cmocka_unit_test(test_waiter_cancel_wins_once_and_shuts_out_claim),
        cmocka_unit_test(test_waiter_claim_locked_claims_only_an_enqueued_token),
        cmocka_unit_test(test_waiter_claim_locked_leaves_a_cancelled_token_cancelled),
        cmocka_unit_test(test_waiter_claim_and_cancel_racing_on_threads_have_one_winner),
        cmocka_unit_test(test_waiter_payload_setters_check_kind_and_status),
        cmocka_unit_test(test_waiter_transfer_moves_each_type_and_refuses_misfits),
        cmocka_unit_test(test_waiter_take_refuses_until_something_arrived),
        cmocka_unit_test(test_waiter_scope_releases_exactly_once_then_refuses_use),
        cmocka_unit_test(test_waiter_scope_wait_settles_once_and_end_only_releases),
        cmocka_unit_test(test_waiter_scope_consumes_the_owed_wake_when_its_cancel_loses),
        cmocka_unit_test(test_waiter_scope_reports_a_stray_wake_as_eproto),
        cmocka_unit_test(test_waiter_select_cancel_hook_is_one_cas_on_the_select),
        cmocka_unit_test(test_waiter_cancel_refuses_clauses_and_unhooked_tokens),
        cmocka_unit_test(test_waiter_queue_is_fifo_and_remove_unlinks_from_the_middle),
        cmocka_unit_test(test_waiter_queue_refuses_double_push_and_foreign_remove),
        cmocka_unit_test(test_waiter_queue_publish_new_enqueues_at_the_tail),
        cmocka_unit_test(test_waiter_init_clears_every_field_of_a_reused_token),
        cmocka_unit_test(test_waiter_scope_end_parked_takes_the_decided_result_without_parking),
        cmocka_unit_test(test_waiter_scope_end_parked_withdraws_after_a_park_that_gave_up),
        cmocka_unit_test(test_waiter_scope_end_parked_takes_the_owed_wake_when_the_peer_won),
        cmocka_unit_test(test_waiter_check_names_each_broken_invariant),
        cmocka_unit_test(test_waiter_names_cover_every_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
