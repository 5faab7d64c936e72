/* test_zdesc_outcomes.c - every channel outcome of an arena descriptor ends with zero live tickets.
 *
 * A payload's one reference is taken at allocation and must be released
 * exactly once whatever happens to it in a channel (kc_chan_arena.c, the
 * table at its top). Each test drives descriptor channels and boxed byte
 * channels with an arena attached through one family of outcomes and
 * checks, element by element, what was received, what the undelivered
 * callback saw, and that the arena ends with no live ticket, no double
 * release and allocs == frees:
 *   - delivered, dropped by DROP_OLDEST and DROP_LATEST, conflated, and
 *     refused by SUSPEND, for every kind and policy;
 *   - undelivered at close + destroy;
 *   - timed out, cancelled (a token fired before and during the wait) and
 *     closed while a sender waits, on a thread;
 *   - select: the clause that wins and the clauses that lose, ready at
 *     once, after a wait, and timing out;
 *   - a channel without an arena whose undelivered callback releases.
 */
#include "kcoro.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_zdesc_test.h"

enum {
    ELEM = 4096, /* a boxed element: one page */
    SENDS = 10
};

static const struct chan_cfg buf1 = {"buf1", KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 1};

/* Send the element stamped v: a fresh arena descriptor, or (boxed) bytes
 * copied in by the channel. A failed descriptor send leaves the reference
 * with us, so we release it, as a sender must. */
static int send_v(kc_chan_t *ch, kc_arena_t *a, bool boxed, uint64_t v, int64_t t,
                  const kc_cancel_t *c)
{
    if (boxed) {
        static char bytes[ELEM];
        zt_stamp(bytes, ELEM, v);
        return kc_chan_send(ch, bytes, t, c);
    }
    kc_zdesc_t d;
    if (kc_zdesc_alloc(&d, a, 200 + v, 0) != 0)
        return -ENOMEM;
    zt_stamp(d.ptr, d.len, v);
    int rc = kc_chan_send_desc(ch, &d, t, c);
    if (rc != 0)
        kc_zdesc_release(&d, a);
    return rc;
}

/* Boxed channels alternate copy and descriptor receives; even turns copy. */
static unsigned recv_turn;

/* Receive one element and return its stamp, or a negative errno (-EPROTO
 * when the descriptor does not hydrate or release as it must). Asserts
 * nothing, so threads may call it. */
static int64_t recv_v(kc_chan_t *ch, kc_arena_t *a, bool boxed, int64_t t)
{
    kc_zdesc_t d;
    if (boxed && recv_turn++ % 2 == 0) {
        static char out[ELEM];
        int rc = kc_chan_recv(ch, out, t, NULL);
        return rc != 0 ? rc : (int64_t)zt_read_stamp(out, ELEM);
    }
    int rc = kc_chan_recv_desc(ch, &d, t, NULL);
    if (rc != 0)
        return rc;
    void *p;
    if (kc_zdesc_hydrate(&d, a, &p, NULL) != 0)
        return -EPROTO;
    int64_t v = (int64_t)zt_read_stamp(p, d.len);
    return kc_zdesc_release(&d, a) == 1 ? v : -EPROTO;
}

/* What the matrix expects to receive after SENDS try-sends of 0..9. */
static void expected(const struct chan_cfg *c, uint64_t *first, uint64_t *n)
{
    *first = 0;
    *n = 0;
    if (c->kind == KC_CHAN_UNLIMITED) {
        *n = SENDS;
    } else if (c->kind == KC_CHAN_CONFLATED) {
        *first = SENDS - 1;
        *n = 1;
    } else if (c->kind == KC_CHAN_BUFFERED) {
        *n = c->capacity;
        *first = c->policy == KC_CHAN_DROP_OLDEST ? SENDS - c->capacity : 0;
    }
}

static void test_zdesc_policy_outcomes_leave_no_live_ticket(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CHAN_CFGS; i++)
        for (int boxed = 0; boxed < 2; boxed++) {
            const struct chan_cfg *c = &chan_cfgs[i];
            kc_arena_t *a = zt_arena(0);
            struct undelivered_log log = {0};
            kc_chan_t *ch = zt_chan(c, a, boxed ? ELEM : 0, &log);
            uint64_t ok = 0, first, n;
            for (uint64_t v = 0; v < SENDS; v++)
                ok += send_v(ch, a, boxed, v, 0, NULL) == 0;
            expected(c, &first, &n);
            uint64_t dropped = ok - n;
            assert_int_equal(log.calls, dropped);
            if (!boxed)
                assert_int_equal(log.owned, 0); /* the callback sees a view; the channel releases */
            assert_int_equal(zt_live(a), n);
            for (uint64_t k = 0; k < n; k++)
                if (recv_v(ch, a, boxed, 0) != (int64_t)(first + k))
                    fail_msg("%s %s: receive %llu is not %llu", c->name, boxed ? "boxed" : "desc",
                             (unsigned long long)k, (unsigned long long)(first + k));
            assert_int_equal(recv_v(ch, a, boxed, 0), -EAGAIN);
            kc_chan_snapshot_t s = snap(ch);
            assert_int_equal(s.undelivered, dropped);
            assert_int_equal(s.arena_release_errors, 0);
            assert_int_equal(zt_live(a), 0);
            assert_chan_ok(ch);
            /* undelivered at close + destroy */
            for (uint64_t v = 0; v < SENDS; v++)
                send_v(ch, a, boxed, v, 0, NULL);
            assert_int_equal(kc_chan_close(ch), 0);
            assert_int_equal(send_v(ch, a, boxed, 99, 0, NULL), -EPIPE);
            assert_chan_ok(ch);
            assert_accounting(ch);
            assert_int_equal(kc_chan_destroy(ch), 0);
            zt_assert_clean(a);
        }
}

/* A sender or receiver on its own thread. */
struct party {
    kc_chan_t *ch;
    kc_arena_t *a;
    bool boxed, send;
    int64_t timeout;
    const kc_cancel_t *cancel;
    int64_t rc; /* send: 0 or errno; receive: the stamp or errno */
};

static void *party_main(void *arg)
{
    struct party *p = arg;
    if (p->send)
        p->rc = send_v(p->ch, p->a, p->boxed, 42, p->timeout, p->cancel);
    else
        p->rc = recv_v(p->ch, p->a, p->boxed, p->timeout);
    return NULL;
}

static void start(pthread_t *th, struct party *p)
{
    assert_int_equal(pthread_create(th, NULL, party_main, p), 0);
}

static void test_zdesc_timed_out_cancelled_and_closed_waits_leave_no_live_ticket(void **state)
{
    (void)state;
    for (int boxed = 0; boxed < 2; boxed++) {
        kc_arena_t *a = zt_arena(0);
        kc_chan_t *ch = zt_chan(&buf1, a, boxed ? ELEM : 0, NULL);
        assert_int_equal(send_v(ch, a, boxed, 1, 0, NULL), 0); /* full now */
        assert_int_equal(send_v(ch, a, boxed, 2, SHORT_NS, NULL), -ETIME);
        kc_cancel_t *fired = fired_token();
        assert_int_equal(send_v(ch, a, boxed, 3, KC_NO_TIMEOUT, fired), -ECANCELED);
        assert_int_equal(zt_live(a), 1);

        kc_cancel_t *tok = NULL;
        assert_int_equal(kc_cancel_create(&tok, NULL), 0);
        struct party p = {ch, a, (bool)boxed, true, KC_NO_TIMEOUT, tok, 1};
        pthread_t th;
        start(&th, &p);
        wait_waiters(ch, 1, 0);
        assert_int_equal(kc_cancel_trigger(tok), 1); /* cancelled while waiting */
        pthread_join(th, NULL);
        assert_int_equal(p.rc, -ECANCELED);
        assert_int_equal(zt_live(a), 1);

        p = (struct party){ch, a, (bool)boxed, true, KC_NO_TIMEOUT, NULL, 1};
        start(&th, &p);
        wait_waiters(ch, 1, 0);
        assert_int_equal(kc_chan_close(ch), 0); /* closed while waiting */
        pthread_join(th, NULL);
        assert_int_equal(p.rc, -EPIPE);
        assert_int_equal(zt_live(a), 1);
        recv_turn = 0;                                /* boxed: a copy receive */
        assert_int_equal(recv_v(ch, a, boxed, 0), 1); /* the buffered one drains after close */
        assert_int_equal(recv_v(ch, a, boxed, SHORT_NS), -EPIPE);
        kc_chan_snapshot_t s = snap(ch);
        assert_int_equal(s.failures.etime, 1);
        assert_int_equal(s.failures.ecanceled, 2);
        assert_int_equal(s.cancelled_waiters, 2);
        if (boxed) /* staged copies of the 3 failed sends, and the copy receive */
            assert_int_equal(s.arena_releases, 4);
        assert_int_equal(kc_chan_destroy(ch), 0);
        kc_cancel_destroy(tok);
        kc_cancel_destroy(fired);
        zt_assert_clean(a);
    }
}

/* A receiver waits first; the sender's element goes straight to it (the
 * waiting-receiver path), on a rendezvous channel. */
static void test_zdesc_rendezvous_handoff_to_waiting_receiver_delivers_once(void **state)
{
    (void)state;
    for (int boxed = 0; boxed < 2; boxed++)
        for (int round = 0; round < 4; round++) {
            kc_arena_t *a = zt_arena(0);
            kc_chan_t *ch = zt_chan(&chan_cfgs[0], a, boxed ? ELEM : 0, NULL);
            struct party r = {ch, a, (bool)boxed, false, KC_NO_TIMEOUT, NULL, 0};
            pthread_t th;
            start(&th, &r);
            wait_waiters(ch, 0, 1);
            assert_int_equal(send_v(ch, a, boxed, 42, KC_NO_TIMEOUT, NULL), 0);
            pthread_join(th, NULL);
            assert_int_equal(r.rc, 42);
            assert_int_equal(kc_chan_destroy(ch), 0);
            zt_assert_clean(a);
        }
}

/* The element staged for each clause of a select: boxed bytes or a fresh
 * descriptor (which the caller keeps, and releases, when its clause loses). */
struct staged {
    char bytes[ELEM];
    kc_zdesc_t d;
};

static void *clause_buf(struct staged *st, kc_arena_t *a, bool boxed, uint64_t v)
{
    if (boxed) {
        zt_stamp(st->bytes, ELEM, v);
        return st->bytes;
    }
    st->d = zt_desc(a, 200 + v, v);
    return &st->d;
}

static void test_zdesc_select_win_and_loss_leave_no_live_ticket(void **state)
{
    (void)state;
    for (int boxed = 0; boxed < 2; boxed++) {
        kc_arena_t *a = zt_arena(0);
        size_t elem = boxed ? ELEM : 0;
        kc_chan_t *full = zt_chan(&buf1, a, elem, NULL), *empty = zt_chan(&buf1, a, elem, NULL);
        assert_int_equal(send_v(full, a, boxed, 1, 0, NULL), 0);
        static struct staged s1, s2;
        /* ready at once: the send on `empty` wins, the one on `full` loses */
        kc_chan_clause_t cl[2] = {
            KC_CHAN_CLAUSE_SEND_INIT(full, clause_buf(&s1, a, boxed, 10)),
            KC_CHAN_CLAUSE_SEND_INIT(empty, clause_buf(&s2, a, boxed, 20)),
        };
        assert_int_equal(kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, KC_NO_TIMEOUT, NULL), 1);
        assert_int_equal(cl[1].result, 0);
        assert_ptr_equal(cl[0].buf, boxed ? (void *)s1.bytes : (void *)&s1.d); /* restored */
        if (!boxed)
            assert_int_equal(kc_zdesc_release(&s1.d, a), 1); /* the loser stayed ours */
        assert_int_equal(zt_live(a), 2);
        /* both full now: nothing ready, the timeout ends it, both lose */
        cl[0].buf = clause_buf(&s1, a, boxed, 11);
        cl[1].buf = clause_buf(&s2, a, boxed, 21);
        assert_int_equal(kc_chan_select(cl, 2, KC_CHAN_SELECT_UNBIASED, SHORT_NS, NULL), -ETIME);
        if (!boxed) {
            assert_int_equal(kc_zdesc_release(&s1.d, a), 1);
            assert_int_equal(kc_zdesc_release(&s2.d, a), 1);
        }
        assert_int_equal(zt_live(a), 2);
        /* receives: biased, the first clause wins; then a wait won by a peer */
        static struct staged r1, r2;
        kc_chan_clause_t rc[2] = {
            KC_CHAN_CLAUSE_RECV_INIT(full, boxed ? (void *)r1.bytes : (void *)&r1.d),
            KC_CHAN_CLAUSE_RECV_INIT(empty, boxed ? (void *)r2.bytes : (void *)&r2.d),
        };
        assert_int_equal(kc_chan_select(rc, 2, KC_CHAN_SELECT_BIASED, 0, NULL), 0);
        assert_int_equal(boxed ? zt_read_stamp(r1.bytes, ELEM) : zt_desc_stamp(a, &r1.d), 1);
        if (!boxed)
            assert_int_equal(kc_zdesc_release(&r1.d, a), 1);
        assert_int_equal(recv_v(empty, a, boxed, 0), 20);
        struct party p = {full, a, (bool)boxed, true, KC_NO_TIMEOUT, NULL, 1};
        pthread_t th;
        start(&th, &p);
        assert_int_equal(kc_chan_select(rc, 2, KC_CHAN_SELECT_UNBIASED, KC_NO_TIMEOUT, NULL), 0);
        pthread_join(th, NULL);
        assert_int_equal(p.rc, 0);
        assert_int_equal(boxed ? zt_read_stamp(r1.bytes, ELEM) : zt_desc_stamp(a, &r1.d), 42);
        if (!boxed)
            assert_int_equal(kc_zdesc_release(&r1.d, a), 1);
        assert_int_equal(snap(full).arena_release_errors, 0);
        assert_int_equal(kc_chan_destroy(full), 0);
        assert_int_equal(kc_chan_destroy(empty), 0);
        zt_assert_clean(a);
    }
}

/* More clauses than the select stages on its stack (the heap path), a
 * send clause on a closed boxed channel that fires with -EPIPE, and a
 * select that fails before it runs: every staged copy is released. */
static void test_zdesc_select_many_and_closed_clauses_release_staged(void **state)
{
    (void)state;
    enum {
        N = 6
    };
    kc_arena_t *a = zt_arena(0);
    kc_chan_t *ch[N];
    static char bytes[N][ELEM];
    kc_chan_clause_t cl[N];
    for (int i = 0; i < N; i++) {
        ch[i] = zt_chan(&buf1, a, ELEM, NULL);
        assert_int_equal(send_v(ch[i], a, true, (uint64_t)i, 0, NULL), 0); /* all full */
        zt_stamp(bytes[i], ELEM, 100 + (uint64_t)i);
        cl[i] = (kc_chan_clause_t)KC_CHAN_CLAUSE_SEND_INIT(ch[i], bytes[i]);
    }
    assert_int_equal(kc_chan_select(cl, N, KC_CHAN_SELECT_UNBIASED, SHORT_NS, NULL), -ETIME);
    assert_int_equal(zt_live(a), N); /* the six staged copies are gone */
    assert_int_equal(kc_chan_close(ch[4]), 0);
    assert_int_equal(kc_chan_select(cl, N, KC_CHAN_SELECT_BIASED, KC_NO_TIMEOUT, NULL), 4);
    assert_int_equal(cl[4].result, -EPIPE);
    assert_int_equal(zt_live(a), N);
    kc_cancel_t *fired = fired_token();
    assert_int_equal(kc_chan_select(cl, N, KC_CHAN_SELECT_BIASED, KC_NO_TIMEOUT, fired),
                     -ECANCELED); /* fails before staging anything */
    assert_int_equal(zt_metrics(a).allocs, N + 2 * N);
    for (int i = 0; i < N; i++) {
        recv_turn = 0;
        assert_int_equal(recv_v(ch[i], a, true, 0), i);
        assert_ptr_equal(cl[i].buf, bytes[i]);
        assert_int_equal(snap(ch[i]).arena_release_errors, 0);
        assert_int_equal(kc_chan_destroy(ch[i]), 0);
    }
    kc_cancel_destroy(fired);
    zt_assert_clean(a);
}

/* Without an arena attached, the undelivered callback owns what it gets. */
static void release_cb(void *elem, size_t size, void *arg)
{
    kc_zdesc_t d;
    if (size == sizeof(d)) {
        memcpy(&d, elem, sizeof(d));
        kc_zdesc_release(&d, arg);
    }
}

static void test_zdesc_undelivered_callback_releases_without_arena(void **state)
{
    (void)state;
    kc_arena_t *a = zt_arena(0);
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.policy = KC_CHAN_DROP_OLDEST;
    o.capacity = 2;
    o.on_undelivered = release_cb;
    o.undelivered_arg = a;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_create(&ch, &o), 0);
    for (uint64_t v = 0; v < SENDS; v++)
        assert_int_equal(send_v(ch, a, false, v, 0, NULL), 0);
    assert_int_equal(zt_live(a), 2);
    assert_int_equal(recv_v(ch, a, false, 0), SENDS - 2);
    assert_int_equal(kc_chan_destroy(ch), 0); /* the last one goes to the callback */
    zt_assert_clean(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zdesc_policy_outcomes_leave_no_live_ticket),
        cmocka_unit_test(test_zdesc_timed_out_cancelled_and_closed_waits_leave_no_live_ticket),
        cmocka_unit_test(test_zdesc_rendezvous_handoff_to_waiting_receiver_delivers_once),
        cmocka_unit_test(test_zdesc_select_win_and_loss_leave_no_live_ticket),
        cmocka_unit_test(test_zdesc_select_many_and_closed_clauses_release_staged),
        cmocka_unit_test(test_zdesc_undelivered_callback_releases_without_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
