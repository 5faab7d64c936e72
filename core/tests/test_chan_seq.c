/* test_chan_seq.c - seq-ring channels: the lock-free ring of kc_chan_seq.h.
 *
 * Which channels get a seq ring, FIFO order and exact accounting with threads
 * and coroutines racing through the lock-free path and the waits (a lost
 * wake-up hangs the test, a duplicated or lost element breaks the sums),
 * close while senders are reserving and receivers wait, a select woken by
 * a lock-free send, and the counters a snapshot derives from the indices.
 * The matrices of test_chan.c and test_chan_wait.c, the linearizability
 * checker and the MPMC stress run on seq-ring channels too (capacity 2 and 16).
 */
#include "kcoro.h"

#include "chan/kc_chan_impl.h"
#include "port/kc_port.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kc_chan_test.h"
#include "kc_test_util.h"

static kc_chan_t *make(kc_chan_kind_t kind, kc_chan_policy_t policy, size_t cap, size_t elem)
{
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = kind;
    o.policy = policy;
    o.capacity = cap;
    o.elem_size = elem;
    kc_chan_t *ch = NULL;
    assert_int_equal(kc_chan_create(&ch, &o), 0);
    return ch;
}

/* Buffered, SUSPEND, copied elements, a power-of-two capacity of at least
 * two: a seq ring. Everything else keeps the locked ring. */
static void test_seq_only_where_the_ring_supports_them(void **state)
{
    (void)state;
    struct {
        kc_chan_kind_t kind;
        kc_chan_policy_t policy;
        size_t cap, elem;
        bool seqring;
    } cases[] = {
        {KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 2, 8, true},
        {KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 1024, 8, true},
        {KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 64, 24, true},
        {KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 1, 8, false}, /* one slot cannot tell full */
        {KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 3, 8, false}, /* the ring would be larger */
        {KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 4, 0, false}, /* descriptors */
        {KC_CHAN_BUFFERED, KC_CHAN_DROP_OLDEST, 4, 8, false},
        {KC_CHAN_BUFFERED, KC_CHAN_DROP_LATEST, 4, 8, false},
        {KC_CHAN_RENDEZVOUS, KC_CHAN_SUSPEND, 0, 8, false},
        {KC_CHAN_UNLIMITED, KC_CHAN_SUSPEND, 0, 8, false},
        {KC_CHAN_CONFLATED, KC_CHAN_SUSPEND, 0, 8, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kc_chan_t *ch = make(cases[i].kind, cases[i].policy, cases[i].cap, cases[i].elem);
        if (ch->seqring != cases[i].seqring)
            fail_msg("case %zu: seqring %d, expected %d", i, ch->seqring, cases[i].seqring);
        assert_int_equal(kc_chan_destroy(ch), 0);
    }
}

/* An element of the order tests: who sent it and its sequence number. */
static uint64_t tag(unsigned producer, uint64_t seq)
{
    return (uint64_t)producer << 40 | seq;
}

enum {
    PRODUCERS = 3,
    CONSUMERS = 3
};

struct flow {
    kc_chan_t *ch;
    long per;              /* elements per producer */
    _Atomic long received; /* over all consumers */
    _Atomic uint64_t sum;
    _Atomic int order_broken; /* a consumer saw a producer go backwards */
};

static void produce(struct flow *f, unsigned p)
{
    for (long i = 0; i < f->per; i++) {
        uint64_t v = tag(p, (uint64_t)i + 1);
        if (kc_chan_send(f->ch, &v, KC_NO_TIMEOUT, NULL) != 0)
            atomic_store(&f->order_broken, 1);
    }
}

/* Each consumer keeps the last sequence number it saw from each producer:
 * a channel is FIFO, so they only grow. */
static void consume(struct flow *f)
{
    uint64_t last[PRODUCERS] = {0}, v, sum = 0;
    long n = 0;
    while (kc_chan_recv(f->ch, &v, KC_NO_TIMEOUT, NULL) == 0) {
        unsigned p = (unsigned)(v >> 40);
        uint64_t seq = v & ((1ull << 40) - 1);
        if (p >= PRODUCERS || seq <= last[p])
            atomic_store(&f->order_broken, 1);
        else
            last[p] = seq;
        sum += v;
        n++;
    }
    atomic_fetch_add(&f->received, n);
    atomic_fetch_add(&f->sum, sum);
}

struct role {
    struct flow *f;
    unsigned index;
};

static void *producer_thread(void *arg)
{
    struct role *r = arg;
    produce(r->f, r->index);
    return NULL;
}

static void *consumer_thread(void *arg)
{
    consume(((struct role *)arg)->f);
    return NULL;
}

static int producer_coro(void *arg)
{
    struct role *r = arg;
    produce(r->f, r->index);
    return 0;
}

static int consumer_coro(void *arg)
{
    consume(((struct role *)arg)->f);
    return 0;
}

static void check_flow(struct flow *f)
{
    uint64_t want = 0;
    for (unsigned p = 0; p < PRODUCERS; p++)
        for (long i = 1; i <= f->per; i++)
            want += tag(p, (uint64_t)i);
    assert_int_equal(atomic_load(&f->order_broken), 0);
    assert_int_equal(atomic_load(&f->received), f->per * PRODUCERS);
    assert_int_equal(atomic_load(&f->sum), want);
    kc_chan_snapshot_t s = snap(f->ch);
    assert_int_equal(s.sends, (uint64_t)(f->per * PRODUCERS));
    assert_int_equal(s.receives, (uint64_t)(f->per * PRODUCERS));
    assert_int_equal(s.bytes_sent, s.sends * sizeof(uint64_t));
    assert_int_equal(s.occupancy, 0);
    assert_int_equal(s.send_waiting + s.recv_waiting, 0);
    assert_int_equal(s.send_idx, s.sends); /* no close mark shows */
    assert_chan_ok(f->ch);
}

/* Threads: every element arrives once, in each producer's order, through
 * capacities that keep the ring full (2) and that rarely fill (1024). */
static void test_seq_threads_fifo_and_exact(void **state)
{
    (void)state;
    size_t caps[] = {2, 1024};
    for (int c = 0; c < 2; c++) {
        struct flow f = {make(KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, caps[c], 8),
                         kc_test_scaled(100000), 0, 0, 0};
        pthread_t pt[PRODUCERS], ct[CONSUMERS];
        struct role pr[PRODUCERS], cr[CONSUMERS];
        for (unsigned i = 0; i < CONSUMERS; i++) {
            cr[i] = (struct role){&f, i};
            assert_int_equal(pthread_create(&ct[i], NULL, consumer_thread, &cr[i]), 0);
        }
        for (unsigned i = 0; i < PRODUCERS; i++) {
            pr[i] = (struct role){&f, i};
            assert_int_equal(pthread_create(&pt[i], NULL, producer_thread, &pr[i]), 0);
        }
        for (unsigned i = 0; i < PRODUCERS; i++)
            pthread_join(pt[i], NULL);
        assert_int_equal(kc_chan_close(f.ch), 0); /* the consumers drain it, then -EPIPE */
        for (unsigned i = 0; i < CONSUMERS; i++)
            pthread_join(ct[i], NULL);
        check_flow(&f);
        assert_int_equal(kc_chan_destroy(f.ch), 0);
    }
}

/* Coroutines on two workers, and threads mixed in as a fourth party. */
static void test_seq_coroutines_fifo_and_exact(void **state)
{
    (void)state;
    kc_sched_t *s = kc_test_sched(2);
    struct flow f = {make(KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 4, 8), kc_test_scaled(100000), 0, 0,
                     0};
    kc_task_t *pt[PRODUCERS], *ct[CONSUMERS - 1];
    struct role pr[PRODUCERS], cr[CONSUMERS];
    for (unsigned i = 0; i < CONSUMERS - 1; i++) {
        cr[i] = (struct role){&f, i};
        assert_int_equal(kc_sched_spawn(s, &ct[i], consumer_coro, &cr[i], NULL), 0);
    }
    pthread_t extra; /* one consumer is a plain thread */
    cr[CONSUMERS - 1] = (struct role){&f, CONSUMERS - 1};
    assert_int_equal(pthread_create(&extra, NULL, consumer_thread, &cr[CONSUMERS - 1]), 0);
    for (unsigned i = 0; i < PRODUCERS; i++) {
        pr[i] = (struct role){&f, i};
        assert_int_equal(kc_sched_spawn(s, &pt[i], producer_coro, &pr[i], NULL), 0);
    }
    for (unsigned i = 0; i < PRODUCERS; i++)
        assert_int_equal(kc_sched_join(pt[i], NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_chan_close(f.ch), 0);
    for (unsigned i = 0; i < CONSUMERS - 1; i++)
        assert_int_equal(kc_sched_join(ct[i], NULL, KC_NO_TIMEOUT, NULL), 0);
    pthread_join(extra, NULL);
    check_flow(&f);
    assert_int_equal(kc_chan_destroy(f.ch), 0);
    assert_int_equal(kc_sched_destroy(s), 0);
}

struct closer {
    kc_chan_t *ch;
    int rc;
    uint64_t v;
};

static void *send_blocked(void *arg)
{
    struct closer *c = arg;
    c->rc = kc_chan_send(c->ch, &c->v, KC_NO_TIMEOUT, NULL);
    return NULL;
}

static void *recv_blocked(void *arg)
{
    struct closer *c = arg;
    c->rc = kc_chan_recv(c->ch, &c->v, KC_NO_TIMEOUT, NULL);
    return NULL;
}

/* Close with a sender waiting on a full ring: it gets -EPIPE and keeps its
 * element; the buffered ones are still received in order, then -EPIPE; a
 * receiver waiting on the drained, closed ring is woken with -EPIPE. */
static void test_seq_close_full_then_drained(void **state)
{
    (void)state;
    kc_chan_t *ch = make(KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 2, 8);
    for (uint64_t v = 1; v <= 2; v++)
        assert_int_equal(kc_chan_try_send(ch, &v), 0);
    uint64_t v = 3;
    assert_int_equal(kc_chan_try_send(ch, &v), -EAGAIN);
    struct closer s = {ch, 99, 3};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_blocked, &s), 0);
    wait_waiters(ch, 1, 0);
    assert_int_equal(kc_chan_close(ch), 0);
    pthread_join(t, NULL);
    assert_int_equal(s.rc, -EPIPE);
    assert_int_equal(kc_chan_send(ch, &v, KC_NO_TIMEOUT, NULL), -EPIPE);
    for (uint64_t want = 1; want <= 2; want++) {
        assert_int_equal(kc_chan_recv(ch, &v, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(v, want);
    }
    assert_int_equal(kc_chan_recv(ch, &v, KC_NO_TIMEOUT, NULL), -EPIPE);
    kc_chan_snapshot_t sn = snap(ch);
    assert_int_equal(sn.sends, 2);
    assert_int_equal(sn.receives, 2);
    assert_int_equal(sn.send_idx, 2);
    assert_int_equal(sn.failures.epipe, 3);
    assert_chan_ok(ch);
    assert_int_equal(kc_chan_destroy(ch), 0);

    ch = make(KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 4, 8);
    struct closer r = {ch, 99, 0};
    assert_int_equal(pthread_create(&t, NULL, recv_blocked, &r), 0);
    wait_waiters(ch, 0, 1);
    assert_int_equal(kc_chan_close(ch), 0);
    pthread_join(t, NULL);
    assert_int_equal(r.rc, -EPIPE);
    assert_int_equal(snap(ch).recv_waiting, 0);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

struct racer {
    kc_chan_t *ch;
    _Atomic long sent, got;
    _Atomic int stop;
};

static void *close_race_sender(void *arg)
{
    struct racer *r = arg;
    for (uint64_t v = 1;; v++) {
        int rc = kc_chan_send(r->ch, &v, KC_NO_TIMEOUT, NULL);
        if (rc == -EPIPE)
            return NULL;
        assert_int_equal(rc, 0);
        atomic_fetch_add(&r->sent, 1);
    }
}

static void *close_race_receiver(void *arg)
{
    struct racer *r = arg;
    uint64_t v;
    while (kc_chan_recv(r->ch, &v, KC_NO_TIMEOUT, NULL) == 0)
        atomic_fetch_add(&r->got, 1);
    return NULL;
}

/* Close lands while senders reserve slots without the lock: every send that
 * returned 0 is received, and every receiver ends with -EPIPE. */
static void test_seq_close_races_lock_free_senders(void **state)
{
    (void)state;
    for (long round = 0; round < kc_test_scaled(50); round++) {
        struct racer r = {make(KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 8, 8), 0, 0, 0};
        pthread_t s[2], c[2];
        for (int i = 0; i < 2; i++) {
            assert_int_equal(pthread_create(&s[i], NULL, close_race_sender, &r), 0);
            assert_int_equal(pthread_create(&c[i], NULL, close_race_receiver, &r), 0);
        }
        while (atomic_load(&r.got) < 200)
            sched_yield();
        assert_int_equal(kc_chan_close(r.ch), 0);
        for (int i = 0; i < 2; i++) {
            pthread_join(s[i], NULL);
            pthread_join(c[i], NULL);
        }
        assert_int_equal(atomic_load(&r.got), atomic_load(&r.sent));
        kc_chan_snapshot_t sn = snap(r.ch);
        assert_int_equal(sn.sends, (uint64_t)atomic_load(&r.sent));
        assert_int_equal(sn.occupancy, 0);
        assert_chan_ok(r.ch);
        assert_int_equal(kc_chan_destroy(r.ch), 0);
    }
}

struct selector {
    kc_chan_t *ch[2];
    int k;
    uint64_t got[2];
};

static void *select_blocked(void *arg)
{
    struct selector *x = arg;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(x->ch[0], &x->got[0]),
                              KC_CHAN_CLAUSE_RECV_INIT(x->ch[1], &x->got[1])};
    x->k = kc_chan_select(cl, 2, KC_CHAN_SELECT_UNBIASED, KC_NO_TIMEOUT, NULL);
    return NULL;
}

/* A select waiting on two seq-ring channels is woken by a lock-free send on
 * the second, takes that element, and leaves no clause behind. */
static void test_seq_select_woken_by_lock_free_send(void **state)
{
    (void)state;
    for (int round = 0; round < 100; round++) {
        struct selector x = {{make(KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 2, 8),
                              make(KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 2, 8)},
                             -1,
                             {0, 0}};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, select_blocked, &x), 0);
        if (round % 2 == 0)
            wait_waiters(x.ch[1], 0, 1); /* else the send may come first */
        uint64_t v = 42 + (uint64_t)round;
        assert_int_equal(kc_chan_send(x.ch[1], &v, KC_NO_TIMEOUT, NULL), 0);
        pthread_join(t, NULL);
        assert_int_equal(x.k, 1);
        assert_int_equal(x.got[1], v);
        for (int i = 0; i < 2; i++) {
            kc_chan_snapshot_t sn = snap(x.ch[i]);
            assert_int_equal(sn.recv_waiting, 0);
            assert_int_equal(sn.occupancy, 0);
            assert_int_equal(sn.receives, (uint64_t)i);
            assert_chan_ok(x.ch[i]);
            assert_int_equal(kc_chan_destroy(x.ch[i]), 0);
        }
    }
}

struct passer {
    kc_chan_t *a, *b;
    int k;        /* the select's answer */
    int r2;       /* the plain receiver's */
    uint64_t got; /* what it received */
};

static void *pass_selector(void *arg)
{
    struct passer *x = arg;
    uint64_t va = 0, vb = 0;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(x->b, &vb),
                              KC_CHAN_CLAUSE_RECV_INIT(x->a, &va)};
    x->k = kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, KC_NO_TIMEOUT, NULL);
    return NULL;
}

static void *pass_receiver(void *arg)
{
    struct passer *x = arg;
    x->r2 = kc_chan_recv(x->a, &x->got, 5LL * 1000 * 1000 * 1000, NULL);
    return NULL;
}

/* A select waiting on B then A, and a receiver queued behind it on A. A
 * send on A tells the select to try again; a send on B right after lets the
 * rerun fire B. The element on A must then reach the other receiver: the
 * select passes its wake-up on (without that, the receiver slept until its
 * 5 s timeout with the element buffered). */
static void test_seq_select_passes_on_a_wakeup_it_did_not_use(void **state)
{
    (void)state;
    int passed = 0;
    for (int round = 0; round < 20; round++) {
        struct passer x = {make(KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 2, 8),
                           make(KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 2, 8), -1, 99, 0};
        pthread_t ts, tr;
        assert_int_equal(pthread_create(&ts, NULL, pass_selector, &x), 0);
        wait_waiters(x.a, 0, 1);
        assert_int_equal(pthread_create(&tr, NULL, pass_receiver, &x), 0);
        wait_waiters(x.a, 0, 2);
        uint64_t v = 7, w = 8;
        assert_int_equal(kc_chan_send(x.a, &v, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(kc_chan_send(x.b, &w, KC_NO_TIMEOUT, NULL), 0);
        pthread_join(ts, NULL);
        assert_true(x.k == 0 || x.k == 1);
        if (x.k == 0) {
            passed++; /* the rerun fired B: A's element is the receiver's */
        } else {
            assert_int_equal(kc_chan_send(x.a, &v, KC_NO_TIMEOUT, NULL), 0);
            assert_int_equal(kc_chan_try_recv(x.b, &w), 0); /* B's stays unread */
        }
        pthread_join(tr, NULL);
        assert_int_equal(x.r2, 0);
        assert_int_equal(x.got, 7);
        assert_int_equal(snap(x.a).occupancy, 0);
        assert_int_equal(kc_chan_destroy(x.a), 0);
        assert_int_equal(kc_chan_destroy(x.b), 0);
    }
    print_message("the select fired B after A's wake-up in %d of 20 rounds\n", passed);
}

struct late {
    kc_chan_t *ch;
    int rc;
    int64_t took_ns;
};

static void *late_selector(void *arg)
{
    struct late *x = arg;
    uint64_t v;
    kc_chan_clause_t cl[1] = {KC_CHAN_CLAUSE_RECV_INIT(x->ch, &v)};
    int64_t t0 = (int64_t)kc__port_now_ns();
    x->rc = kc_chan_select(cl, 1, KC_CHAN_SELECT_BIASED, 300LL * 1000 * 1000, NULL);
    x->took_ns = (int64_t)kc__port_now_ns() - t0;
    return NULL;
}

/* A timed select woken to try again late in its time, whose element was
 * taken by a try_recv first, waits only for what is left of its timeout
 * (300 ms), not a fresh one. */
static void test_seq_timed_select_keeps_its_deadline_across_retries(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        struct late x = {make(KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 2, 8), 99, 0};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, late_selector, &x), 0);
        wait_waiters(x.ch, 0, 1);
        struct timespec nap = {0, 250 * 1000 * 1000};
        nanosleep(&nap, NULL);
        uint64_t v = 1;
        assert_int_equal(kc_chan_send(x.ch, &v, KC_NO_TIMEOUT, NULL), 0);
        int taken = kc_chan_try_recv(x.ch, &v); /* usually first */
        pthread_join(t, NULL);
        if (taken == 0) {
            assert_int_equal(x.rc, -ETIME);
            if (x.took_ns >= 500LL * 1000 * 1000)
                fail_msg("timed out after %lld ms, timeout 300 ms",
                         (long long)(x.took_ns / 1000000));
        } else {
            assert_int_equal(x.rc, 0); /* the select was first */
        }
        assert_int_equal(kc_chan_destroy(x.ch), 0);
    }
}

/* A timed wait on a seq-ring channel times out with -ETIME and leaves the
 * waiting counter at zero; a later send is not lost. */
static void test_seq_timed_wait_times_out_cleanly(void **state)
{
    (void)state;
    kc_chan_t *ch = make(KC_CHAN_BUFFERED, KC_CHAN_SUSPEND, 2, 8);
    uint64_t v = 0;
    assert_int_equal(kc_chan_recv(ch, &v, SHORT_NS, NULL), -ETIME);
    v = 5;
    assert_int_equal(kc_chan_send(ch, &v, SHORT_NS, NULL), 0);
    assert_int_equal(kc_chan_send(ch, &v, SHORT_NS, NULL), 0);
    assert_int_equal(kc_chan_send(ch, &v, SHORT_NS, NULL), -ETIME);
    kc_chan_snapshot_t sn = snap(ch);
    assert_int_equal(sn.send_waiting + sn.recv_waiting, 0);
    assert_int_equal(sn.failures.etime, 2);
    assert_int_equal(sn.sends, 2);
    assert_int_equal(kc_chan_recv(ch, &v, SHORT_NS, NULL), 0);
    assert_int_equal(v, 5);
    assert_chan_ok(ch);
    assert_int_equal(kc_chan_destroy(ch), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_only_where_the_ring_supports_them),
        cmocka_unit_test(test_seq_threads_fifo_and_exact),
        cmocka_unit_test(test_seq_coroutines_fifo_and_exact),
        cmocka_unit_test(test_seq_close_full_then_drained),
        cmocka_unit_test(test_seq_close_races_lock_free_senders),
        cmocka_unit_test(test_seq_select_woken_by_lock_free_send),
        cmocka_unit_test(test_seq_timed_wait_times_out_cleanly),
        cmocka_unit_test(test_seq_select_passes_on_a_wakeup_it_did_not_use),
        cmocka_unit_test(test_seq_timed_select_keeps_its_deadline_across_retries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
