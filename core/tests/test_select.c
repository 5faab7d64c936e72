/* test_select.c - kc_chan_select: bias, fairness, waiting, claims, errors.
 *
 * Biased selects take the first ready clause in array order; unbiased ones
 * pass a chi-square test of uniformity over 100,000 rounds (the generator
 * is seeded, so a run is repeatable; the seed is printed on failure). A
 * waiting select is completed by exactly one peer, through one clause, and
 * leaves no clause registered; close, timeout and cancellation end a wait
 * with the right code; several peers racing for one select produce exactly
 * one hand-off per select, and the losers keep their elements.
 */
#include "kcoro.h"

#include <pthread.h>
#include <sched.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_chan_test.h"
#include "kc_test_util.h"

static void make_chans(kc_chan_t **ch, int n, kc_chan_kind_t kind, size_t cap)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(kc_chan_make(&ch[i], kind, cap, sizeof(uint64_t)), 0);
}

static void free_chans(kc_chan_t **ch, int n)
{
    for (int i = 0; i < n; i++) {
        assert_chan_ok(ch[i]);
        assert_int_equal(kc_chan_destroy(ch[i]), 0);
    }
}

static void test_select_biased_takes_the_first_ready_clause(void **state)
{
    (void)state;
    kc_chan_t *ch[4];
    make_chans(ch, 4, KC_CHAN_UNLIMITED, 0);
    uint64_t got[4];
    kc_chan_clause_t cl[4];
    for (int i = 0; i < 4; i++)
        cl[i] = (kc_chan_clause_t)KC_CHAN_CLAUSE_RECV_INIT(ch[i], &got[i]);
    for (uint64_t v = 0; v < 100; v++) {
        assert_int_equal(kc_chan_try_send(ch[2], &v), 0);
        assert_int_equal(kc_chan_try_send(ch[3], &v), 0);
    }
    for (uint64_t v = 0; v < 100; v++) {
        assert_int_equal(kc_chan_select(cl, 4, KC_CHAN_SELECT_BIASED, 0, NULL), 2);
        assert_int_equal(got[2], v);
        assert_int_equal(cl[2].result, 0);
    }
    assert_int_equal(kc_chan_select(cl, 4, KC_CHAN_SELECT_BIASED, 0, NULL), 3); /* 2 drained */
    assert_int_equal(kc_chan_len(ch[3]), 99);
    assert_int_equal(kc_chan_len(ch[0]) + kc_chan_len(ch[1]), 0);
    free_chans(ch, 4);
}

/* Unbiased selects over four always-ready channels: the counts per clause
 * must look uniform. Chi-square with 3 degrees of freedom; 16.27 is the
 * 0.1% critical value. */
static void test_select_unbiased_passes_chi_square_over_100000_rounds(void **state)
{
    (void)state;
    const uint64_t seed = 0x5eedf00d12345ull;
    kc__chan_select_seed(seed);
    kc_chan_t *ch[4];
    make_chans(ch, 4, KC_CHAN_BUFFERED, 2);
    uint64_t got[4], v = 1;
    kc_chan_clause_t cl[4];
    for (int i = 0; i < 4; i++) {
        cl[i] = (kc_chan_clause_t)KC_CHAN_CLAUSE_RECV_INIT(ch[i], &got[i]);
        assert_int_equal(kc_chan_try_send(ch[i], &v), 0);
    }
    const long rounds = 100000;
    long count[4] = {0};
    for (long r = 0; r < rounds; r++) {
        int k = kc_chan_select(cl, 4, KC_CHAN_SELECT_UNBIASED, 0, NULL);
        assert_true(k >= 0 && k < 4);
        count[k]++;
        assert_int_equal(kc_chan_try_send(ch[k], &v), 0); /* ready again */
    }
    double expect = rounds / 4.0, chi2 = 0;
    for (int i = 0; i < 4; i++)
        chi2 += (count[i] - expect) * (count[i] - expect) / expect;
    print_message("unbiased counts %ld %ld %ld %ld, chi2 %.2f\n", count[0], count[1], count[2],
                  count[3], chi2);
    if (chi2 >= 16.27)
        fail_msg("chi-square %.2f >= 16.27 (seed %llx)", chi2, (unsigned long long)seed);
    /* and the biased mode is maximally unfair on the same setup */
    for (int r = 0; r < 1000; r++) {
        assert_int_equal(kc_chan_select(cl, 4, KC_CHAN_SELECT_BIASED, 0, NULL), 0);
        assert_int_equal(kc_chan_try_send(ch[0], &v), 0);
    }
    free_chans(ch, 4);
}

struct waiter {
    kc_chan_clause_t cl[4];
    uint64_t got[4];
    int n;
    uint32_t flags;
    int64_t timeout;
    const kc_cancel_t *cancel;
    int rc;
};

static void *select_thread(void *arg)
{
    struct waiter *w = arg;
    w->rc = kc_chan_select(w->cl, (size_t)w->n, w->flags, w->timeout, w->cancel);
    return NULL;
}

static void waiter_recv(struct waiter *w, kc_chan_t **ch, int n)
{
    memset(w, 0, sizeof(*w));
    w->n = n;
    w->timeout = KC_NO_TIMEOUT;
    w->rc = 99;
    for (int i = 0; i < n; i++)
        w->cl[i] = (kc_chan_clause_t)KC_CHAN_CLAUSE_RECV_INIT(ch[i], &w->got[i]);
}

static void test_select_waiting_is_completed_by_one_peer_and_unregisters(void **state)
{
    (void)state;
    kc_chan_t *ch[3];
    make_chans(ch, 3, KC_CHAN_RENDEZVOUS, 0);
    for (int target = 0; target < 3; target++) {
        struct waiter w;
        waiter_recv(&w, ch, 3);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, select_thread, &w), 0);
        for (int i = 0; i < 3; i++)
            wait_waiters(ch[i], 0, 1);
        uint64_t v = 500 + (uint64_t)target;
        assert_int_equal(kc_chan_send(ch[target], &v, KC_NO_TIMEOUT, NULL), 0);
        pthread_join(th, NULL);
        assert_int_equal(w.rc, target);
        assert_int_equal(w.cl[target].result, 0);
        assert_int_equal(w.got[target], v);
        for (int i = 0; i < 3; i++) {
            kc_chan_snapshot_t s = snap(ch[i]);
            assert_int_equal(s.recv_waiting, 0); /* every clause withdrawn */
            assert_int_equal(s.cancelled_waiters, 0);
        }
    }
    free_chans(ch, 3);
}

static void test_select_send_clause_waits_for_room(void **state)
{
    (void)state;
    kc_chan_t *ch[2];
    make_chans(ch, 2, KC_CHAN_BUFFERED, 1);
    uint64_t v = 1, out = 0, mine = 2, theirs = 0;
    assert_int_equal(kc_chan_try_send(ch[1], &v), 0); /* full */
    struct waiter w;
    memset(&w, 0, sizeof(w));
    w.n = 2;
    w.timeout = KC_NO_TIMEOUT;
    w.cl[0] = (kc_chan_clause_t)KC_CHAN_CLAUSE_RECV_INIT(ch[0], &theirs); /* empty */
    w.cl[1] = (kc_chan_clause_t)KC_CHAN_CLAUSE_SEND_INIT(ch[1], &mine);   /* full */
    assert_int_equal(kc_chan_select(w.cl, 2, 0, 0, NULL), -EAGAIN);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, select_thread, &w), 0);
    wait_waiters(ch[0], 0, 1);
    wait_waiters(ch[1], 1, 0);
    assert_int_equal(kc_chan_recv(ch[1], &out, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(out, 1);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, 1);
    assert_int_equal(kc_chan_try_recv(ch[1], &out), 0);
    assert_int_equal(out, 2); /* the select's element moved into the freed slot */
    free_chans(ch, 2);
}

static void test_select_timeout_cancel_and_close_end_the_wait(void **state)
{
    (void)state;
    kc_chan_t *ch[2];
    make_chans(ch, 2, KC_CHAN_BUFFERED, 4);
    struct waiter w;
    waiter_recv(&w, ch, 2);
    assert_int_equal(kc_chan_select(w.cl, 2, 0, 0, NULL), -EAGAIN);
    assert_int_equal(kc_chan_select(w.cl, 2, 0, SHORT_NS, NULL), -ETIME);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(snap(ch[i]).cancelled_waiters, 1);
        assert_int_equal(snap(ch[i]).recv_waiting, 0);
    }
    kc_cancel_t *c = NULL;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    w.cancel = c;
    w.timeout = 60LL * 1000000000;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, select_thread, &w), 0);
    wait_waiters(ch[1], 0, 1);
    kc_cancel_trigger(c);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, -ECANCELED);
    assert_int_equal(kc_chan_select(w.cl, 2, 0, KC_NO_TIMEOUT, c), -ECANCELED); /* at once */
    assert_int_equal(kc_cancel_destroy(c), 0);
    waiter_recv(&w, ch, 2);
    assert_int_equal(pthread_create(&th, NULL, select_thread, &w), 0);
    wait_waiters(ch[1], 0, 1);
    assert_int_equal(kc_chan_close(ch[1]), 0);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, 1);
    assert_int_equal(w.cl[1].result, -EPIPE);
    assert_int_equal(snap(ch[0]).recv_waiting, 0);
    /* a closed, drained channel is ready at once; so is a send to it */
    assert_int_equal(kc_chan_select(w.cl, 2, 0, KC_NO_TIMEOUT, NULL), 1);
    assert_int_equal(w.cl[1].result, -EPIPE);
    uint64_t v = 3;
    kc_chan_clause_t s = KC_CHAN_CLAUSE_SEND_INIT(ch[1], &v);
    assert_int_equal(kc_chan_select(&s, 1, 0, 0, NULL), 0);
    assert_int_equal(s.result, -EPIPE);
    free_chans(ch, 2);
}

static void test_select_rejects_bad_clauses_and_changes_nothing(void **state)
{
    (void)state;
    kc_chan_t *ch = NULL, *dch = NULL;
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = 2;
    o.max_desc_len = 4;
    assert_int_equal(kc_chan_create(&dch, &o), 0);
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_BUFFERED, 2, sizeof(uint64_t)), 0);
    uint64_t v = 1;
    kc_chan_clause_t cl[KC_CHAN_SELECT_MAX + 1];
    for (int i = 0; i <= KC_CHAN_SELECT_MAX; i++)
        cl[i] = (kc_chan_clause_t)KC_CHAN_CLAUSE_SEND_INIT(ch, &v);
    assert_int_equal(kc_chan_select(NULL, 1, 0, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_select(cl, 0, 0, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_select(cl, KC_CHAN_SELECT_MAX + 1, 0, 0, NULL), -EINVAL);
    assert_int_equal(kc_chan_select(cl, 1, 7, 0, NULL), -EINVAL);
    kc_chan_clause_t bad = cl[0];
    bad.op = 9;
    assert_int_equal(kc_chan_select(&bad, 1, 0, 0, NULL), -EINVAL);
    bad = cl[0];
    bad.chan = NULL; /* off (as a nil channel in Go): nothing can fire */
    assert_int_equal(kc_chan_select(&bad, 1, 0, 0, NULL), -EAGAIN);
    bad = cl[0];
    bad.buf = NULL;
    assert_int_equal(kc_chan_select(&bad, 1, 0, 0, NULL), -EINVAL);
    bad = cl[0];
    bad.size = 4;
    assert_int_equal(kc_chan_select(&bad, 1, 0, 0, NULL), -EINVAL);
    kc_zdesc_t d;
    char buf[8];
    assert_int_equal(kc_zdesc_init(&d, buf, 8, 0), 0);
    kc_chan_clause_t dc[2] = {KC_CHAN_CLAUSE_SEND_INIT(ch, &v), KC_CHAN_CLAUSE_SEND_INIT(dch, &d)};
    assert_int_equal(kc_chan_select(dc, 2, 0, 0, NULL), -EMSGSIZE);
    assert_int_equal(kc_chan_len(ch) + kc_chan_len(dch), 0); /* nothing happened */
    d.len = 4;
    assert_int_equal(kc_chan_select(&dc[1], 1, 0, 0, NULL), 0);
    kc_zdesc_t r;
    kc_chan_clause_t rc = KC_CHAN_CLAUSE_RECV_INIT(dch, &r);
    assert_int_equal(kc_chan_select(&rc, 1, 0, 0, NULL), 0);
    assert_ptr_equal(r.ptr, buf);
    assert_int_equal(kc_chan_destroy(ch), 0);
    assert_int_equal(kc_chan_destroy(dch), 0);
}

static void test_select_same_channel_in_send_and_receive_clauses(void **state)
{
    (void)state;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_BUFFERED, 1, sizeof(uint64_t)), 0);
    uint64_t in = 0, out = 11;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(ch, &in),
                              KC_CHAN_CLAUSE_SEND_INIT(ch, &out)};
    assert_int_equal(kc_chan_select(cl, 2, 0, KC_NO_TIMEOUT, NULL), 1); /* empty: send */
    assert_int_equal(kc_chan_select(cl, 2, 0, KC_NO_TIMEOUT, NULL), 0); /* full: receive */
    assert_int_equal(in, 11);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

/* ------------------------------------------------------------ races */

struct claim_race {
    kc_chan_t *ch[4];
    _Atomic int done;
    _Atomic int handed; /* successful sends this round */
    int idx;
};

static void *racing_sender(void *arg)
{
    struct claim_race *r = ((void **)arg)[0];
    uint64_t v = (uint64_t)(uintptr_t)((void **)arg)[1];
    kc_chan_t *ch = r->ch[v];
    while (!atomic_load_explicit(&r->done, memory_order_acquire)) {
        if (kc_chan_try_send(ch, &v) == 0) {
            atomic_fetch_add_explicit(&r->handed, 1, memory_order_relaxed);
            break;
        }
        sched_yield();
    }
    return NULL;
}

/* Four senders race to complete one waiting select over four rendezvous
 * channels: exactly one send succeeds per round, through the clause the
 * select reports, and the losers keep their elements. */
static void test_select_racing_peers_complete_it_exactly_once(void **state)
{
    (void)state;
    long rounds = kc_test_scaled(2000);
    struct claim_race r;
    make_chans(r.ch, 4, KC_CHAN_RENDEZVOUS, 0);
    for (long i = 0; i < rounds; i++) {
        atomic_store(&r.done, 0);
        atomic_store(&r.handed, 0);
        struct waiter w;
        waiter_recv(&w, r.ch, 4);
        w.flags = (uint32_t)(i & 1);
        pthread_t sel, snd[4];
        void *args[4][2];
        assert_int_equal(pthread_create(&sel, NULL, select_thread, &w), 0);
        for (int k = 0; k < 4; k++) {
            args[k][0] = &r;
            args[k][1] = (void *)(uintptr_t)k;
            assert_int_equal(pthread_create(&snd[k], NULL, racing_sender, args[k]), 0);
        }
        pthread_join(sel, NULL);
        /* release: pairs with racing_sender's acquire */
        atomic_store_explicit(&r.done, 1, memory_order_release);
        for (int k = 0; k < 4; k++)
            pthread_join(snd[k], NULL);
        if (w.rc < 0 || w.rc > 3 || atomic_load(&r.handed) != 1 || w.got[w.rc] != (uint64_t)w.rc)
            fail_msg("round %ld: select %d, %d sends handed over", i, w.rc, atomic_load(&r.handed));
    }
    uint64_t sends = 0;
    for (int k = 0; k < 4; k++)
        sends += snap(r.ch[k]).sends;
    assert_int_equal(sends, rounds);
    free_chans(r.ch, 4);
}

/* Coroutines: a consumer selects over many producers' channels (more
 * clauses than fit on the stack), until all are closed. */
struct fan {
    kc_chan_t *ch[12];
    long per;
    long received, closed, errors;
    uint64_t sum;
};

struct producer {
    struct fan *f;
    int k;
};

static int fan_producer(void *arg)
{
    struct producer *p = arg;
    for (long i = 1; i <= p->f->per; i++) {
        uint64_t v = (uint64_t)i;
        if (kc_chan_send(p->f->ch[p->k], &v, KC_NO_TIMEOUT, NULL) != 0)
            p->f->errors++;
    }
    kc_chan_close(p->f->ch[p->k]);
    return 0;
}

static int fan_consumer(void *arg)
{
    struct fan *f = arg;
    uint64_t got[12];
    kc_chan_clause_t cl[12];
    int live = 12;
    for (int k = 0; k < 12; k++)
        cl[k] = (kc_chan_clause_t)KC_CHAN_CLAUSE_RECV_INIT(f->ch[k], &got[k]);
    while (live > 0) {
        int k = kc_chan_select(cl, (size_t)live, KC_CHAN_SELECT_UNBIASED, KC_NO_TIMEOUT, NULL);
        if (k < 0) {
            f->errors++;
            return 0;
        }
        if (cl[k].result == -EPIPE) { /* drop the closed clause */
            f->closed++;
            cl[k] = cl[--live];
            cl[k].buf = &got[k];
            continue;
        }
        f->received++;
        f->sum += got[k];
    }
    return 0;
}

static void test_select_coroutine_fan_in_over_twelve_channels(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    struct fan f = {.per = kc_test_scaled(3000)};
    make_chans(f.ch, 12, KC_CHAN_BUFFERED, 2);
    struct producer p[12];
    kc_task_t *t[13];
    assert_int_equal(kc_sched_spawn(s, &t[12], fan_consumer, &f, NULL), 0);
    for (int k = 0; k < 12; k++) {
        p[k] = (struct producer){&f, k};
        assert_int_equal(kc_sched_spawn(s, &t[k], fan_producer, &p[k], NULL), 0);
    }
    for (int k = 0; k < 13; k++)
        assert_int_equal(kc_sched_join(t[k], NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(f.errors, 0);
    assert_int_equal(f.closed, 12);
    assert_int_equal(f.received, 12 * f.per);
    assert_int_equal(f.sum, 12 * (uint64_t)f.per * (uint64_t)(f.per + 1) / 2);
    free_chans(f.ch, 12);
    assert_int_equal(kc_sched_destroy(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_biased_takes_the_first_ready_clause),
        cmocka_unit_test(test_select_unbiased_passes_chi_square_over_100000_rounds),
        cmocka_unit_test(test_select_waiting_is_completed_by_one_peer_and_unregisters),
        cmocka_unit_test(test_select_send_clause_waits_for_room),
        cmocka_unit_test(test_select_timeout_cancel_and_close_end_the_wait),
        cmocka_unit_test(test_select_rejects_bad_clauses_and_changes_nothing),
        cmocka_unit_test(test_select_same_channel_in_send_and_receive_clauses),
        cmocka_unit_test(test_select_racing_peers_complete_it_exactly_once),
        cmocka_unit_test(test_select_coroutine_fan_in_over_twelve_channels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
