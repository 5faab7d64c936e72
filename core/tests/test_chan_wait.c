/* test_chan_wait.c - channel operations that wait: threads, coroutines, races.
 *
 * A waiting party is seen through the channel's own counters (send_waiting,
 * recv_waiting) before the test acts, so nothing sleeps to synchronise.
 * Covers: a rendezvous send waiting for its receiver and the reverse, a
 * full ring's waiting sender moving into the freed slot in FIFO order,
 * close waking every waiting sender and receiver with -EPIPE (senders keep
 * their elements), timeouts, cancellation by token and by task, destroy
 * refusing a channel somebody waits on, ping-pong between coroutines on one
 * and on two workers, threads talking to coroutines, the cancel-versus-
 * match races, whose every outcome must be one of the two legal ones, and
 * a cancellation (token or task) that comes before a close or a match
 * reaches its waiter, which must win although the waiter has not run in
 * between.
 * Coroutines record results; assertions run on the main stack.
 */
#include "kcoro.h"

#include <pthread.h>
#include <sched.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_chan_test.h"
#include "port/kc_port.h"
#include "sched/kc_sched_impl.h"
#include "kc_test_util.h"

/* One blocking operation run on a thread or as a coroutine. */
struct op {
    kc_chan_t *ch;
    bool send;
    uint64_t value;
    int64_t timeout;
    const kc_cancel_t *cancel;
    int rc;
};

static int op_run(void *arg)
{
    struct op *o = arg;
    o->rc = o->send ? kc_chan_send(o->ch, &o->value, o->timeout, o->cancel)
                    : kc_chan_recv(o->ch, &o->value, o->timeout, o->cancel);
    return 0;
}

static void *op_thread(void *arg)
{
    op_run(arg);
    return NULL;
}

static void op_init(struct op *o, kc_chan_t *ch, bool send, uint64_t v)
{
    *o = (struct op){ch, send, v, KC_NO_TIMEOUT, NULL, 99};
}

static void test_chan_rendezvous_send_waits_for_its_receiver(void **state)
{
    (void)state;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
    for (int side = 0; side < 2; side++) { /* a waiting sender, then a waiting receiver */
        struct op o;
        op_init(&o, ch, side == 0, 42);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, op_thread, &o), 0);
        wait_waiters(ch, side == 0, side == 1);
        assert_chan_ok(ch);
        uint64_t v = side == 0 ? 0 : 77;
        assert_int_equal(side == 0 ? kc_chan_recv(ch, &v, KC_NO_TIMEOUT, NULL)
                                   : kc_chan_send(ch, &v, KC_NO_TIMEOUT, NULL),
                         0);
        pthread_join(th, NULL);
        assert_int_equal(o.rc, 0);
        assert_int_equal(side == 0 ? v : o.value, side == 0 ? 42 : 77);
    }
    kc_chan_snapshot_t s = snap(ch);
    assert_int_equal(s.sends, 2);
    assert_int_equal(s.receives, 2);
    assert_int_equal(s.occupancy, 0);
    assert_int_equal(s.send_idx, 2);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

static void test_chan_waiting_sender_moves_into_the_freed_slot_in_order(void **state)
{
    (void)state;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_BUFFERED, 3, sizeof(uint64_t)), 0);
    for (uint64_t v = 1; v <= 3; v++)
        assert_int_equal(kc_chan_try_send(ch, &v), 0);
    struct op o;
    op_init(&o, ch, true, 4);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, op_thread, &o), 0);
    wait_waiters(ch, 1, 0);
    assert_chan_ok(ch); /* I3: a live waiting sender on a full SUSPEND ring */
    for (uint64_t want = 1; want <= 4; want++) {
        uint64_t v = 0;
        assert_int_equal(kc_chan_recv(ch, &v, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(v, want);
    }
    pthread_join(th, NULL);
    assert_int_equal(o.rc, 0);
    assert_accounting(ch);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

static void test_chan_close_wakes_every_waiter_with_epipe(void **state)
{
    (void)state;
    enum {
        N = 4
    };
    for (int senders = 0; senders < 2; senders++) {
        struct undelivered_log log = {0};
        const struct chan_cfg cfg = {"c", KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 1};
        kc_chan_t *ch = chan_new(&cfg, sizeof(uint64_t), &log);
        if (senders) {
            uint64_t v = 1000;
            assert_int_equal(kc_chan_try_send(ch, &v), 0); /* full: senders will wait */
        }
        struct op o[N];
        pthread_t th[N];
        for (int i = 0; i < N; i++) {
            op_init(&o[i], ch, senders, (uint64_t)i);
            assert_int_equal(pthread_create(&th[i], NULL, op_thread, &o[i]), 0);
        }
        wait_waiters(ch, senders ? N : 0, senders ? 0 : N);
        assert_int_equal(kc_chan_close(ch), 0);
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(o[i].rc, -EPIPE);
        }
        kc_chan_snapshot_t s = snap(ch);
        assert_int_equal(s.failures.epipe, N);
        assert_int_equal(s.sends, senders); /* only the buffered one went in */
        assert_int_equal(s.send_waiting + s.recv_waiting, 0);
        assert_chan_ok(ch);
        assert_int_equal(kc_chan_destroy(ch), 0);
        assert_int_equal(log.calls, senders); /* the buffered one, never a waiter's */
    }
}

static void test_chan_timed_out_waiter_withdraws_and_is_counted(void **state)
{
    (void)state;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
    uint64_t v = 5;
    uint64_t t0 = kc__port_now_ns();
    assert_int_equal(kc_chan_send(ch, &v, 3 * SHORT_NS, NULL), -ETIME);
    assert_true(kc__port_now_ns() - t0 >= 3 * SHORT_NS); /* never early */
    assert_int_equal(kc_chan_recv(ch, &v, SHORT_NS, NULL), -ETIME);
    kc_chan_snapshot_t s = snap(ch);
    assert_int_equal(s.cancelled_waiters, 2);
    assert_int_equal(s.failures.etime, 2);
    assert_int_equal(s.send_waiting + s.recv_waiting, 0);
    assert_chan_ok(ch);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

static void test_chan_token_fired_while_waiting_returns_ecanceled(void **state)
{
    (void)state;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
    kc_cancel_t *c = NULL;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    struct op o;
    op_init(&o, ch, false, 0);
    o.cancel = c;
    o.timeout = 60LL * 1000000000; /* the token wins long before */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, op_thread, &o), 0);
    wait_waiters(ch, 0, 1);
    assert_int_equal(kc_cancel_trigger(c), 1);
    pthread_join(th, NULL);
    assert_int_equal(o.rc, -ECANCELED);
    assert_int_equal(snap(ch).cancelled_waiters, 1);
    assert_chan_ok(ch);
    assert_int_equal(kc_cancel_destroy(c), 0);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

static void test_chan_destroy_refuses_a_channel_with_waiters(void **state)
{
    (void)state;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
    struct op o;
    op_init(&o, ch, false, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, op_thread, &o), 0);
    wait_waiters(ch, 0, 1);
    assert_int_equal(kc_chan_destroy(ch), -EBUSY); /* nothing changed */
    assert_int_equal(snap(ch).recv_waiting, 1);
    assert_int_equal(kc_chan_close(ch), 0);
    pthread_join(th, NULL);
    assert_int_equal(o.rc, -EPIPE);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

/* ------------------------------------------------------------ coroutines */

static void test_chan_coroutine_parked_in_recv_is_cancelled_with_its_task(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_BUFFERED, 2, sizeof(uint64_t)), 0);
    struct op o;
    op_init(&o, ch, false, 0);
    kc_task_t *t = NULL;
    assert_int_equal(kc_sched_spawn(s, &t, op_run, &o, NULL), 0);
    wait_waiters(ch, 0, 1);
    assert_int_equal(kc_sched_cancel(t), 0);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(o.rc, -ECANCELED);
    assert_chan_ok(ch);
    assert_int_equal(kc_chan_destroy(ch), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* A coroutine's channel waits share its task's own parker (K6 of
 * kc_park.c): after waits that ended normally, a cancellation still finds
 * and wakes the next one, and the task's later waits fail at once. */
struct reuse {
    kc_chan_t *ch;
    int rc[3];
    uint64_t got[2];
    int after; /* a receive made once cancelled */
};

static int reuse_run(void *arg)
{
    struct reuse *r = arg;
    for (int i = 0; i < 3; i++)
        r->rc[i] = kc_chan_recv(r->ch, &r->got[i < 2 ? i : 1], KC_NO_TIMEOUT, NULL);
    uint64_t v;
    r->after = kc_chan_recv(r->ch, &v, KC_NO_TIMEOUT, NULL);
    return 0;
}

static void test_chan_coroutine_cancelled_after_completed_waits_is_woken(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_make(&ch, KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
    struct reuse r = {.ch = ch, .rc = {1, 1, 1}, .after = 1};
    kc_task_t *t = NULL;
    assert_int_equal(kc_sched_spawn(s, &t, reuse_run, &r, NULL), 0);
    for (uint64_t v = 7; v < 9; v++) {
        wait_waiters(ch, 0, 1); /* the coroutine is waiting: hand it one */
        assert_int_equal(kc_chan_send(ch, &v, KC_NO_TIMEOUT, NULL), 0);
    }
    wait_waiters(ch, 0, 1); /* its third wait */
    assert_int_equal(kc_sched_cancel(t), 0);
    assert_int_equal(kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(r.rc[0], 0);
    assert_int_equal(r.rc[1], 0);
    assert_int_equal(r.got[0], 7);
    assert_int_equal(r.got[1], 8);
    assert_int_equal(r.rc[2], -ECANCELED);
    assert_int_equal(r.after, -ECANCELED);
    assert_int_equal(snap(ch).recv_waiting, 0);
    assert_chan_ok(ch);
    assert_int_equal(kc_chan_destroy(ch), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

struct pingpong {
    kc_chan_t *ping, *pong;
    long rounds;
    long errors;
    uint64_t last;
};

static int ponger(void *arg)
{
    struct pingpong *p = arg;
    for (long i = 0; i < p->rounds; i++) {
        uint64_t v;
        if (kc_chan_recv(p->ping, &v, KC_NO_TIMEOUT, NULL) != 0 || v != (uint64_t)i)
            p->errors++;
        v++;
        if (kc_chan_send(p->pong, &v, KC_NO_TIMEOUT, NULL) != 0)
            p->errors++;
    }
    return 0;
}

static int pinger(void *arg)
{
    struct pingpong *p = arg;
    for (long i = 0; i < p->rounds; i++) {
        uint64_t v = (uint64_t)i;
        if (kc_chan_send(p->ping, &v, KC_NO_TIMEOUT, NULL) != 0)
            p->errors++;
        if (kc_chan_recv(p->pong, &v, KC_NO_TIMEOUT, NULL) != 0 || v != (uint64_t)i + 1)
            p->errors++;
        p->last = v;
    }
    return 0;
}

static void test_chan_coroutines_ping_pong_on_one_and_two_workers(void **state)
{
    (void)state;
    for (int workers = 1; workers <= 2; workers++) {
        kc_sched_t *s = kc_test_sched(workers);
        struct pingpong p = {NULL, NULL, kc_test_scaled(20000), 0, 0};
        assert_int_equal(kc_chan_make(&p.ping, KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
        assert_int_equal(kc_chan_make(&p.pong, KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
        kc_task_t *a, *b;
        assert_int_equal(kc_sched_spawn(s, &a, ponger, &p, NULL), 0);
        assert_int_equal(kc_sched_spawn(s, &b, pinger, &p, NULL), 0);
        assert_int_equal(kc_sched_join(a, NULL, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(kc_sched_join(b, NULL, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(p.errors, 0);
        assert_int_equal(p.last, (uint64_t)p.rounds);
        assert_int_equal(snap(p.ping).receives, p.rounds);
        /* Every round parks twice; on one worker the woken task always sits
         * in the next slot, so all but the fairness detours (a streak of
         * KC_SCHED_NEXT_STREAK, every KC_SCHED_FAIR_TICK-th pick) switch
         * straight to it, and each such park is committed by the task it
         * switched to: none is left pending when the workers stop (S6). */
        kc_sched_metrics_t m = KC_SCHED_METRICS_INIT;
        kc_sched_worker_metrics_t wm[2];
        assert_int_equal(kc_sched_metrics(s, &m, wm, 2), workers);
        uint64_t direct = wm[0].park_switches + (workers == 2 ? wm[1].park_switches : 0);
        assert_true(direct <= 2 * (uint64_t)p.rounds);
        if (workers == 1)
            assert_true(direct >= (uint64_t)p.rounds);
        assert_int_equal(kc_sched_shutdown(s, KC_SCHED_SHUTDOWN_GRACEFUL), 0);
        assert_int_equal(kc__sched_check(s), 0);
        assert_int_equal(kc_chan_destroy(p.ping), 0);
        assert_int_equal(kc_chan_destroy(p.pong), 0);
        assert_int_equal(kc_sched_destroy(s), 0);
    }
}

/* A thread feeds coroutines through a small ring and they answer through
 * an unlimited channel: both kinds of owner on both sides. */
struct mixed {
    kc_chan_t *in, *out;
    long n;
    long errors;
};

static int mixed_worker(void *arg)
{
    struct mixed *m = arg;
    uint64_t v;
    int rc;
    while ((rc = kc_chan_recv(m->in, &v, KC_NO_TIMEOUT, NULL)) == 0) {
        v *= 2;
        if (kc_chan_send(m->out, &v, KC_NO_TIMEOUT, NULL) != 0)
            m->errors++;
    }
    if (rc != -EPIPE)
        m->errors++;
    return 0;
}

static void test_chan_threads_and_coroutines_talk_both_ways(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    struct mixed m = {NULL, NULL, kc_test_scaled(20000), 0};
    assert_int_equal(kc_chan_make(&m.in, KC_CHAN_BUFFERED, 4, sizeof(uint64_t)), 0);
    assert_int_equal(kc_chan_make(&m.out, KC_CHAN_UNLIMITED, 0, sizeof(uint64_t)), 0);
    kc_task_t *t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(kc_sched_spawn(s, &t[i], mixed_worker, &m, NULL), 0);
    uint64_t sum = 0;
    for (long i = 1; i <= m.n; i++) {
        uint64_t v = (uint64_t)i;
        assert_int_equal(kc_chan_send(m.in, &v, KC_NO_TIMEOUT, NULL), 0);
    }
    assert_int_equal(kc_chan_close(m.in), 0);
    for (long i = 0; i < m.n; i++) {
        uint64_t v;
        assert_int_equal(kc_chan_recv(m.out, &v, KC_NO_TIMEOUT, NULL), 0);
        sum += v;
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(m.errors, 0);
    assert_int_equal(sum, (uint64_t)m.n * (uint64_t)(m.n + 1)); /* 2 * n(n+1)/2 */
    assert_int_equal(kc_chan_destroy(m.in), 0);
    assert_int_equal(kc_chan_destroy(m.out), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* A cancellation that comes while its owner waits decides the wait, even
 * when the owner cannot run before a close or a peer reaches it. On one
 * worker, a coroutine waits (a send, a receive or a select); a second
 * coroutine then cancels it (fires its token, or cancels its task) and,
 * without yielding, closes the channel or offers the waiter a match with a
 * try call. The waiter has been made runnable but has not run, so only the
 * channel can honour the order: the waiter must get -ECANCELED, the close
 * or the peer must pass it by (the peer keeps its element), and the
 * withdrawal is counted once. */
enum {
    ACT_TOKEN_CLOSE, /* fire the waiter's token, then close */
    ACT_TOKEN_PEER,  /* fire the waiter's token, then a try call */
    ACT_TASK_CLOSE,  /* cancel the waiter's task (no token), then close */
    N_ACTS
};

struct fire_then {
    kc_chan_t *ch;
    kc_cancel_t *cancel; /* the waiter's token, or NULL */
    kc_task_t *waiter;
    int mode; /* the waiter: 0 send, 1 receive, 2 select of one receive */
    int act;
    int waiter_rc, act_rc;
    uint64_t got;
};

static int fire_then_waiter(void *arg)
{
    struct fire_then *f = arg;
    uint64_t v = 7;
    if (f->mode == 0) {
        f->waiter_rc = kc_chan_send(f->ch, &v, KC_NO_TIMEOUT, f->cancel);
    } else if (f->mode == 1) {
        f->waiter_rc = kc_chan_recv(f->ch, &f->got, KC_NO_TIMEOUT, f->cancel);
    } else {
        kc_chan_clause_t cl[1] = {KC_CHAN_CLAUSE_RECV_INIT(f->ch, &f->got)};
        int k = kc_chan_select(cl, 1, KC_CHAN_SELECT_BIASED, KC_NO_TIMEOUT, f->cancel);
        f->waiter_rc = k == 0 ? cl[0].result : k;
    }
    return 0;
}

static int fire_then_act(void *arg)
{
    struct fire_then *f = arg;
    if (f->act == ACT_TASK_CLOSE)
        kc_sched_cancel(f->waiter); /* the waiter becomes runnable, and waits for us */
    else
        kc_cancel_trigger(f->cancel);
    uint64_t v = 9;
    if (f->act != ACT_TOKEN_PEER)
        f->act_rc = kc_chan_close(f->ch);
    else
        f->act_rc = f->mode == 0 ? kc_chan_try_recv(f->ch, &v) : kc_chan_try_send(f->ch, &v);
    return 0;
}

static void test_chan_cancel_while_waiting_wins_over_a_later_close_or_peer(void **state)
{
    (void)state;
    static const char *const acts[N_ACTS] = {"token, then close", "token, then a peer",
                                             "task cancelled, then close"};
    static const char *const modes[3] = {"send", "receive", "select"};
    kc_sched_t *s = kc_test_sched(1);
    for (int act = 0; act < N_ACTS; act++) {
        for (int mode = 0; mode < 3; mode++) {
            struct fire_then f = {NULL, NULL, NULL, mode, act, 99, 99, 0};
            assert_int_equal(kc_chan_make(&f.ch, KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
            if (act != ACT_TASK_CLOSE)
                assert_int_equal(kc_cancel_create(&f.cancel, NULL), 0);
            kc_task_t *a;
            assert_int_equal(kc_sched_spawn(s, &f.waiter, fire_then_waiter, &f, NULL), 0);
            wait_waiters(f.ch, mode == 0, mode != 0);
            assert_int_equal(kc_sched_spawn(s, &a, fire_then_act, &f, NULL), 0);
            assert_int_equal(kc_sched_join(f.waiter, NULL, KC_NO_TIMEOUT, NULL), 0);
            assert_int_equal(kc_sched_join(a, NULL, KC_NO_TIMEOUT, NULL), 0);
            int want = act == ACT_TOKEN_PEER ? -EAGAIN : 0;
            if (f.waiter_rc != -ECANCELED || f.act_rc != want || f.got != 0)
                fail_msg("%s waits, %s: waiter %s, then %s (got %llu)", modes[mode], acts[act],
                         kc_errname(f.waiter_rc), kc_errname(f.act_rc), (unsigned long long)f.got);
            kc_chan_snapshot_t sn = snap(f.ch);
            assert_int_equal(sn.cancelled_waiters, 1);
            assert_int_equal(sn.sends + sn.receives, 0);
            assert_int_equal(sn.failures.epipe, 0);
            assert_int_equal(sn.failures.ecanceled, mode == 2 ? 0 : 1); /* select: not counted */
            assert_chan_ok(f.ch);
            assert_int_equal(kc_cancel_destroy(f.cancel), 0);
            assert_int_equal(kc_chan_destroy(f.ch), 0);
        }
    }
    assert_int_equal(kc_sched_destroy(s), 0);
}

/* ------------------------------------------------------------ races */

struct race {
    kc_chan_t *ch[2];
    int mode; /* the waiter: 0 send, 1 receive, 2 select of two receives */
    kc_cancel_t *cancel;
    _Atomic int go;
    int waiter_rc, peer_rc;
    uint64_t got, peer_got;
};

static void *race_waiter(void *arg)
{
    struct race *r = arg;
    uint64_t v = 7;
    if (r->mode == 0) {
        r->waiter_rc = kc_chan_send(r->ch[0], &v, KC_NO_TIMEOUT, r->cancel);
    } else if (r->mode == 1) {
        r->waiter_rc = kc_chan_recv(r->ch[0], &r->got, KC_NO_TIMEOUT, r->cancel);
    } else {
        uint64_t other = 0;
        kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(r->ch[1], &other),
                                  KC_CHAN_CLAUSE_RECV_INIT(r->ch[0], &r->got)};
        int k = kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, KC_NO_TIMEOUT, r->cancel);
        r->waiter_rc = k == 1 ? cl[1].result : k < 0 ? k : -EPROTO;
    }
    return NULL;
}

static void *race_peer(void *arg)
{
    struct race *r = arg;
    while (!atomic_load_explicit(&r->go, memory_order_acquire))
        sched_yield();
    uint64_t v = 7;
    r->peer_rc =
        r->mode == 0 ? kc_chan_try_recv(r->ch[0], &r->peer_got) : kc_chan_try_send(r->ch[0], &v);
    return NULL;
}

static void *race_canceller(void *arg)
{
    struct race *r = arg;
    while (!atomic_load_explicit(&r->go, memory_order_acquire))
        sched_yield();
    kc_cancel_trigger(r->cancel);
    return NULL;
}

/* A send, a receive or a select waits on a rendezvous channel with a token;
 * a peer (a try on the other side) and a canceller race for it, both let go
 * at once (odd rounds fire the token first). Exactly one wins: either both
 * see 0 and the value moved once, or the waiter is cancelled and the peer
 * found nobody (and kept its element). */
static void test_chan_cancel_versus_match_race_has_one_winner(void **state)
{
    (void)state;
    for (int mode = 0; mode < 3; mode++) {
        long rounds = kc_test_scaled(2000), matched = 0, cancelled = 0;
        kc_chan_t *ch[2];
        for (int k = 0; k < 2; k++)
            assert_int_equal(kc_chan_make(&ch[k], KC_CHAN_RENDEZVOUS, 0, sizeof(uint64_t)), 0);
        for (long i = 0; i < rounds; i++) {
            struct race r = {{ch[0], ch[1]}, mode, NULL, 0, 99, 99, 0, 0};
            assert_int_equal(kc_cancel_create(&r.cancel, NULL), 0);
            pthread_t w, p, c;
            assert_int_equal(pthread_create(&w, NULL, race_waiter, &r), 0);
            wait_waiters(ch[0], mode == 0, mode != 0);
            assert_int_equal(pthread_create(&p, NULL, race_peer, &r), 0);
            assert_int_equal(pthread_create(&c, NULL, race_canceller, &r), 0);
            if (i & 1) /* odd rounds give the canceller a head start */
                kc_cancel_trigger(r.cancel);
            /* release: pairs with the acquires of race_peer and race_canceller */
            atomic_store_explicit(&r.go, 1, memory_order_release);
            pthread_join(w, NULL);
            pthread_join(p, NULL);
            pthread_join(c, NULL);
            uint64_t moved = mode == 0 ? r.peer_got : r.got;
            if (r.waiter_rc == 0 && r.peer_rc == 0 && moved == 7) {
                matched++;
            } else if (r.waiter_rc == -ECANCELED && r.peer_rc == -EAGAIN && moved == 0) {
                cancelled++;
            } else {
                fail_msg("mode %d round %ld: waiter %s, peer %s (moved %llu)", mode, i,
                         kc_errname(r.waiter_rc), kc_errname(r.peer_rc), (unsigned long long)moved);
            }
            assert_int_equal(kc_cancel_destroy(r.cancel), 0);
        }
        kc_chan_snapshot_t s = snap(ch[0]);
        assert_int_equal(s.sends, matched);
        assert_int_equal(s.receives, matched);
        assert_int_equal(s.cancelled_waiters, cancelled);
        assert_int_equal(s.send_waiting + s.recv_waiting + snap(ch[1]).recv_waiting, 0);
        print_message("cancel-versus-match (%s waits): %ld matched, %ld cancelled\n",
                      mode == 0   ? "send"
                      : mode == 1 ? "receive"
                                  : "select",
                      matched, cancelled);
        for (int k = 0; k < 2; k++) {
            assert_chan_ok(ch[k]);
            assert_int_equal(kc_chan_destroy(ch[k]), 0);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chan_rendezvous_send_waits_for_its_receiver),
        cmocka_unit_test(test_chan_waiting_sender_moves_into_the_freed_slot_in_order),
        cmocka_unit_test(test_chan_close_wakes_every_waiter_with_epipe),
        cmocka_unit_test(test_chan_timed_out_waiter_withdraws_and_is_counted),
        cmocka_unit_test(test_chan_token_fired_while_waiting_returns_ecanceled),
        cmocka_unit_test(test_chan_destroy_refuses_a_channel_with_waiters),
        cmocka_unit_test(test_chan_coroutine_parked_in_recv_is_cancelled_with_its_task),
        cmocka_unit_test(test_chan_coroutines_ping_pong_on_one_and_two_workers),
        cmocka_unit_test(test_chan_threads_and_coroutines_talk_both_ways),
        cmocka_unit_test(test_chan_cancel_versus_match_race_has_one_winner),
        cmocka_unit_test(test_chan_cancel_while_waiting_wins_over_a_later_close_or_peer),
        cmocka_unit_test(test_chan_coroutine_cancelled_after_completed_waits_is_woken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
