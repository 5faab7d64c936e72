/* test_select_remote.c - select over clauses whose readiness comes from elsewhere.
 *
 * A fake remote backend (kc_chan_svc.h) with the four select operations:
 * its elements live in a local channel `inner` (the owner's channel, as
 * the other process would hold it), a claim takes from or puts into it
 * only in sel_complete, and the backend fires armed wakers when an element
 * or room appears, passing a lost fire on to the next armed waker, as a
 * remote owner does. Checked: a remote clause fires from the poll and
 * from a wait; local and remote clauses mixed; a remote fire racing a
 * local peer, a timeout and a cancellation decides once; a rejected claim
 * re-arms; send clauses; close and connection loss as results; the
 * counters; unbiased fairness by chi-square; and a storm of selects from
 * threads and coroutines against competing plain receivers in which every
 * element is received exactly once and no waker is left armed.
 */
#include "chan/kc_chan_impl.h"
#include "chan/kc_chan_svc.h"
#include "kcoro.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kc_test_util.h"

enum {
    MAX_SUBS = 64
};

struct rfake {
    kc_chan_t *inner; /* the owner's channel */
    kc_chan_t *outer; /* the remote channel */
    pthread_mutex_t mu;
    struct kc_waiter *subs[MAX_SUBS];
    bool sub_send[MAX_SUBS];
    int nsubs;
    _Atomic int arms, disarms, won, lost, claims, commits, rejects, notified_claims;
    _Atomic int steal; /* the next notified claim finds its element gone */
};

static void sub_add(struct rfake *f, struct kc_waiter *wk, bool send)
{
    assert_true(f->nsubs < MAX_SUBS);
    f->subs[f->nsubs] = wk;
    f->sub_send[f->nsubs++] = send;
}

/* Under mu: fire armed wakers of one side until one wins (a lost fire is
 * passed on to the next). */
static void poke_locked(struct rfake *f, bool send, bool all)
{
    int i = 0;
    while (i < f->nsubs) {
        if (f->sub_send[i] != send) {
            i++;
            continue;
        }
        struct kc_waiter *wk = f->subs[i];
        f->subs[i] = f->subs[f->nsubs - 1];
        f->sub_send[i] = f->sub_send[f->nsubs - 1];
        f->nsubs--;
        if (kc__chan_select_fire(wk)) {
            atomic_fetch_add(&f->won, 1);
            if (!all)
                return;
        } else {
            atomic_fetch_add(&f->lost, 1);
        }
    }
}

static void poke(struct rfake *f, bool send, bool all)
{
    pthread_mutex_lock(&f->mu);
    poke_locked(f, send, all);
    pthread_mutex_unlock(&f->mu);
}

static bool ready(struct rfake *f, bool send)
{
    if (kc_chan_is_closed(f->inner))
        return true;
    size_t len = kc_chan_len(f->inner);
    return send ? len < kc_chan_capacity(f->inner) : len > 0;
}

static int f_send(void *impl, const void *elem, int64_t t, const kc_cancel_t *c)
{
    struct rfake *f = impl;
    int rc = kc_chan_send(f->inner, elem, t, c);
    if (rc == 0)
        poke(f, false, false);
    return rc;
}

static int f_recv(void *impl, void *out, int64_t t, const kc_cancel_t *c)
{
    struct rfake *f = impl;
    int rc = kc_chan_recv(f->inner, out, t, c);
    if (rc == 0)
        poke(f, true, false);
    return rc;
}

static void f_close(void *impl, int reason)
{
    struct rfake *f = impl;
    (void)reason;
    kc_chan_close(f->inner);
    poke(f, true, true);
    poke(f, false, true);
}

static size_t f_len(void *impl)
{
    return kc_chan_len(((struct rfake *)impl)->inner);
}

static int f_destroy(void *impl)
{
    struct rfake *f = impl;
    if (f->nsubs != 0)
        return -EBUSY;
    return 0;
}

static bool f_sel_ready(void *impl, bool send)
{
    return ready(impl, send);
}

static int f_sel_complete(void *impl, bool send, void *buf, uint64_t claim)
{
    struct rfake *f = impl;
    bool notified = claim != 0;
    atomic_fetch_add(&f->claims, 1);
    if (notified)
        atomic_fetch_add(&f->notified_claims, 1);
    if (notified && atomic_exchange(&f->steal, 0)) { /* someone else got there first */
        long v;                                      /* the inner channel carries longs */
        assert_int_equal(kc_chan_try_recv(f->inner, &v), 0);
        assert_int_equal(kc_chan_try_send(f->inner, &v), 0); /* the thief puts it back */
        atomic_fetch_add(&f->rejects, 1);
        return -EAGAIN;
    }
    int rc = send ? kc_chan_try_send(f->inner, buf) : kc_chan_try_recv(f->inner, buf);
    if (rc == 0) {
        atomic_fetch_add(&f->commits, 1);
        poke(f, !send, false); /* room or an element for the other side */
    } else if (rc == -EAGAIN) {
        atomic_fetch_add(&f->rejects, 1);
    }
    return rc;
}

static int f_sel_arm(void *impl, bool send, struct kc_waiter *wk, uint64_t *cookie)
{
    struct rfake *f = impl;
    *cookie = (uint64_t)(uintptr_t)wk;
    atomic_fetch_add(&f->arms, 1);
    pthread_mutex_lock(&f->mu);
    sub_add(f, wk, send);
    if (ready(f, send))
        poke_locked(f, send, false);
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static void f_sel_disarm(void *impl, bool send, uint64_t cookie)
{
    struct rfake *f = impl;
    struct kc_waiter *wk = (struct kc_waiter *)(uintptr_t)cookie;
    (void)send;
    atomic_fetch_add(&f->disarms, 1);
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->nsubs; i++) {
        if (f->subs[i] == wk) {
            f->subs[i] = f->subs[f->nsubs - 1];
            f->sub_send[i] = f->sub_send[f->nsubs - 1];
            f->nsubs--;
            break;
        }
    }
    pthread_mutex_unlock(&f->mu);
}

static const kc__chan_remote_ops_t rops = {f_send, f_recv, f_close, f_len, f_destroy};
static const kc__chan_remote_sel_ops_t rsel = {f_sel_ready, f_sel_complete, f_sel_arm,
                                               f_sel_disarm};

static kc_chan_t *rmake(struct rfake *f, size_t cap)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    assert_int_equal(kc_chan_make(&f->inner, KC_CHAN_BUFFERED, cap, sizeof(long)), 0);
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = cap;
    o.elem_size = sizeof(long);
    o.name = "rfake";
    assert_int_equal(kc__chan_remote_create(&f->outer, &o, &rops, f), 0);
    assert_int_equal(kc__chan_remote_set_select(f->outer, NULL), -EINVAL);
    assert_int_equal(kc__chan_remote_set_select(f->inner, &rsel), -EINVAL); /* not remote */
    assert_int_equal(kc__chan_remote_set_select(f->outer, &rsel), 0);
    return f->outer;
}

static void rfree(struct rfake *f)
{
    assert_int_equal(f->nsubs, 0); /* X2: nothing left armed */
    assert_int_equal(atomic_load(&f->arms), atomic_load(&f->disarms));
    assert_int_equal(kc_chan_destroy(f->outer), 0);
    long v;
    while (kc_chan_try_recv(f->inner, &v) == 0)
        ;
    kc_chan_close(f->inner);
    assert_int_equal(kc_chan_destroy(f->inner), 0);
    pthread_mutex_destroy(&f->mu);
}

/* An element appears at the owner (another process sent it). */
static void owner_put(struct rfake *f, long v)
{
    assert_int_equal(kc_chan_send(f->inner, &v, KC_NO_TIMEOUT, NULL), 0);
    poke(f, false, false);
}

struct sel_job {
    kc_chan_clause_t cl[4];
    size_t n;
    uint32_t flags;
    int64_t timeout;
    kc_cancel_t *cancel;
    int rc;
};

static void *sel_thread(void *arg)
{
    struct sel_job *j = arg;
    j->rc = kc_chan_select(j->cl, j->n, j->flags, j->timeout, j->cancel);
    return NULL;
}

static void test_remote_clause_fires_from_the_poll_and_is_counted(void **state)
{
    (void)state;
    struct rfake f;
    kc_chan_t *r = rmake(&f, 4), *l;
    assert_int_equal(kc_chan_make(&l, KC_CHAN_BUFFERED, 3, sizeof(long)), 0);
    long a = -1, b = -1;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(l, &a), KC_CHAN_CLAUSE_RECV_INIT(r, &b)};
    assert_int_equal(kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, 0, NULL), -EAGAIN);
    assert_int_equal(atomic_load(&f.arms), 0); /* a try-select arms nothing */
    owner_put(&f, 41);
    assert_int_equal(kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, 0, NULL), 1);
    assert_int_equal(b, 41);
    assert_int_equal(cl[1].result, 0);
    /* biased: the local clause first when both are ready */
    long v = 7;
    assert_int_equal(kc_chan_try_send(l, &v), 0);
    owner_put(&f, 42);
    assert_int_equal(kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(a, 7);
    assert_int_equal(kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, KC_NO_TIMEOUT, NULL), 1);
    assert_int_equal(b, 42);
    /* a send clause on the remote channel */
    long out = 99;
    kc_chan_clause_t sc[1] = {KC_CHAN_CLAUSE_SEND_INIT(r, &out)};
    assert_int_equal(kc_chan_select(sc, 1, 0, 0, NULL), 0);
    assert_int_equal(kc_chan_len(r), 1);
    kc_chan_snapshot_t s = KC_CHAN_SNAPSHOT_INIT;
    assert_int_equal(kc_chan_snapshot(r, &s), 0);
    assert_int_equal(s.receives, 2);
    assert_int_equal(s.sends, 1);
    assert_int_equal(s.bytes_received, 2 * sizeof(long));
    assert_int_equal(atomic_load(&f.commits), 3);
    rfree(&f);
    kc_chan_close(l);
    assert_int_equal(kc_chan_destroy(l), 0);
}

static void test_remote_fire_wakes_a_waiting_select_once(void **state)
{
    (void)state;
    struct rfake f;
    kc_chan_t *r = rmake(&f, 4), *l;
    assert_int_equal(kc_chan_make(&l, KC_CHAN_RENDEZVOUS, 0, sizeof(long)), 0);
    for (int round = 0; round < 50; round++) {
        long a = -1, b = -1;
        struct sel_job j = {
            .cl = {KC_CHAN_CLAUSE_RECV_INIT(l, &a), KC_CHAN_CLAUSE_RECV_INIT(r, &b)},
            .n = 2,
            .flags = (uint32_t)(round & 1),
            .timeout = KC_NO_TIMEOUT};
        int arms0 = atomic_load(&f.arms);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, sel_thread, &j), 0);
        KC_TEST_WAIT_FOR(atomic_load(&f.arms) == arms0 + 1);
        owner_put(&f, 100 + round);
        pthread_join(th, NULL);
        assert_int_equal(j.rc, 1);
        assert_int_equal(b, 100 + round);
        assert_int_equal(a, -1);
        kc_chan_snapshot_t s = KC_CHAN_SNAPSHOT_INIT;
        assert_int_equal(kc_chan_snapshot(l, &s), 0);
        assert_int_equal(s.recv_waiting, 0); /* the local clause withdrawn */
    }
    assert_int_equal(atomic_load(&f.won), 50);
    assert_int_equal(atomic_load(&f.notified_claims), 50);
    assert_int_equal(atomic_load(&f.commits), 50);
    rfree(&f);
    assert_int_equal(kc_chan_destroy(l), 0);
}

static void test_local_peer_wins_and_the_remote_clause_is_disarmed(void **state)
{
    (void)state;
    struct rfake f;
    kc_chan_t *r = rmake(&f, 4), *l;
    assert_int_equal(kc_chan_make(&l, KC_CHAN_RENDEZVOUS, 0, sizeof(long)), 0);
    long a = -1, b = -1;
    struct sel_job j = {.cl = {KC_CHAN_CLAUSE_RECV_INIT(r, &b), KC_CHAN_CLAUSE_RECV_INIT(l, &a)},
                        .n = 2,
                        .timeout = KC_NO_TIMEOUT};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sel_thread, &j), 0);
    KC_TEST_WAIT_FOR(atomic_load(&f.arms) == 1);
    long v = 5;
    assert_int_equal(kc_chan_send(l, &v, KC_NO_TIMEOUT, NULL), 0);
    pthread_join(th, NULL);
    assert_int_equal(j.rc, 1);
    assert_int_equal(a, 5);
    assert_int_equal(atomic_load(&f.disarms), 1);
    /* an element arriving now finds nobody armed: it stays at the owner */
    owner_put(&f, 6);
    assert_int_equal(atomic_load(&f.won) + atomic_load(&f.lost), 0);
    assert_int_equal(kc_chan_len(r), 1);
    rfree(&f);
    assert_int_equal(kc_chan_destroy(l), 0);
}

static void test_timeout_and_cancellation_end_a_remote_wait(void **state)
{
    (void)state;
    struct rfake f;
    kc_chan_t *r = rmake(&f, 4), *l;
    assert_int_equal(kc_chan_make(&l, KC_CHAN_BUFFERED, 3, sizeof(long)), 0);
    long a = -1, b = -1;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(r, &b), KC_CHAN_CLAUSE_RECV_INIT(l, &a)};
    assert_int_equal(kc_chan_select(cl, 2, 0, 2000000, NULL), -ETIME);
    assert_int_equal(kc_chan_select(cl, 2, 0, -5, NULL), -EAGAIN); /* negative: try once */
    assert_int_equal(atomic_load(&f.arms), 1);
    assert_int_equal(atomic_load(&f.disarms), 1);
    kc_chan_snapshot_t s = KC_CHAN_SNAPSHOT_INIT;
    assert_int_equal(kc_chan_snapshot(l, &s), 0);
    assert_int_equal(s.cancelled_waiters, 1);
    kc_cancel_t *c = NULL;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    struct sel_job j = {.cl = {cl[0], cl[1]}, .n = 2, .timeout = 60000000000LL, .cancel = c};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sel_thread, &j), 0);
    KC_TEST_WAIT_FOR(atomic_load(&f.arms) == 2);
    kc_cancel_trigger(c);
    pthread_join(th, NULL);
    assert_int_equal(j.rc, -ECANCELED);
    assert_int_equal(atomic_load(&f.disarms), 2);
    /* triggered before the call: nothing is armed */
    assert_int_equal(kc_chan_select(cl, 2, 0, KC_NO_TIMEOUT, c), -ECANCELED);
    assert_int_equal(atomic_load(&f.arms), 2);
    /* a fire finding the owner cancelled withdraws it: lost, and passed on */
    kc_cancel_destroy(c);
    rfree(&f);
    kc_chan_close(l);
    assert_int_equal(kc_chan_destroy(l), 0);
}

static void test_rejected_claim_rearms_and_takes_the_next(void **state)
{
    (void)state;
    struct rfake f;
    kc_chan_t *r = rmake(&f, 4);
    long b = -1;
    struct sel_job j = {.cl = {KC_CHAN_CLAUSE_RECV_INIT(r, &b)}, .n = 1, .timeout = KC_NO_TIMEOUT};
    atomic_store(&f.steal, 1);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sel_thread, &j), 0);
    KC_TEST_WAIT_FOR(atomic_load(&f.arms) == 1);
    owner_put(&f, 77); /* fire -> claim -> rejected (stolen and put back) -> poll takes it */
    pthread_join(th, NULL);
    assert_int_equal(j.rc, 0);
    assert_int_equal(b, 77);
    assert_int_equal(atomic_load(&f.rejects), 1);
    assert_int_equal(atomic_load(&f.commits), 1);
    assert_int_equal(atomic_load(&f.notified_claims), 1);
    rfree(&f);
}

static void test_send_clause_waits_for_room_at_the_owner(void **state)
{
    (void)state;
    struct rfake f;
    kc_chan_t *r = rmake(&f, 1), *l;
    assert_int_equal(kc_chan_make(&l, KC_CHAN_RENDEZVOUS, 0, sizeof(long)), 0);
    long first = 1, mine = 2, a = -1;
    assert_int_equal(kc_chan_try_send(r, &first), 0); /* the owner's channel is full */
    struct sel_job j = {.cl = {KC_CHAN_CLAUSE_RECV_INIT(l, &a), KC_CHAN_CLAUSE_SEND_INIT(r, &mine)},
                        .n = 2,
                        .timeout = KC_NO_TIMEOUT};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sel_thread, &j), 0);
    KC_TEST_WAIT_FOR(atomic_load(&f.arms) == 1);
    long out = 0;
    assert_int_equal(kc_chan_recv(r, &out, KC_NO_TIMEOUT, NULL), 0); /* room: fires the send */
    assert_int_equal(out, 1);
    pthread_join(th, NULL);
    assert_int_equal(j.rc, 1);
    assert_int_equal(kc_chan_try_recv(r, &out), 0);
    assert_int_equal(out, 2);
    rfree(&f);
    assert_int_equal(kc_chan_destroy(l), 0);
}

static void test_close_and_connection_loss_are_clause_results(void **state)
{
    (void)state;
    struct rfake f;
    kc_chan_t *r = rmake(&f, 4);
    long b = -1;
    owner_put(&f, 3);
    struct sel_job j = {.cl = {KC_CHAN_CLAUSE_RECV_INIT(r, &b)}, .n = 1, .timeout = KC_NO_TIMEOUT};
    /* the other side closes: receivers drain, then -EPIPE */
    kc_chan_close(f.inner);
    assert_true(kc__chan_remote_closed(r, 0));
    assert_int_equal(kc_chan_select(j.cl, 1, 0, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(b, 3);
    assert_int_equal(kc_chan_select(j.cl, 1, 0, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(j.cl[0].result, -EPIPE);
    rfree(&f);

    /* the connection is lost while a select waits: its clause fires with
     * the channel's reason */
    r = rmake(&f, 1);
    kc_chan_t *l;
    assert_int_equal(kc_chan_make(&l, KC_CHAN_RENDEZVOUS, 0, sizeof(long)), 0);
    long out = 1;
    assert_int_equal(kc_chan_try_send(r, &out), 0); /* the owner's channel is full */
    struct sel_job k = {.cl = {KC_CHAN_CLAUSE_RECV_INIT(l, &b), KC_CHAN_CLAUSE_SEND_INIT(r, &out)},
                        .n = 2,
                        .timeout = KC_NO_TIMEOUT};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sel_thread, &k), 0);
    KC_TEST_WAIT_FOR(atomic_load(&f.arms) == 1);
    assert_true(kc__chan_remote_closed(r, -ECONNRESET));
    poke(&f, true, true); /* the backend fires every waker at the loss */
    pthread_join(th, NULL);
    assert_int_equal(k.rc, 1);
    assert_int_equal(k.cl[1].result, -ECONNRESET);
    assert_int_equal(kc_chan_try_send(r, &out), -ECONNRESET);
    rfree(&f);
    assert_int_equal(kc_chan_destroy(l), 0);
}

static void test_unbiased_remote_clauses_pass_chi_square(void **state)
{
    (void)state;
    enum {
        ROUNDS = 20000
    };
    /* A fixed seed, as test_select.c's: the check is repeatable, and does
     * not fail one run in a thousand by chance (the 0.1% critical value). */
    kc__chan_select_seed(0x5eedf00d6789aull);
    struct rfake f[2];
    kc_chan_t *r[2] = {rmake(&f[0], 4), rmake(&f[1], 4)}, *l;
    assert_int_equal(kc_chan_make(&l, KC_CHAN_BUFFERED, 3, sizeof(long)), 0);
    long got[3], v = 1;
    kc_chan_clause_t cl[3] = {KC_CHAN_CLAUSE_RECV_INIT(r[0], &got[0]),
                              KC_CHAN_CLAUSE_RECV_INIT(l, &got[1]),
                              KC_CHAN_CLAUSE_RECV_INIT(r[1], &got[2])};
    long count[3] = {0, 0, 0};
    assert_int_equal(kc_chan_try_send(l, &v), 0);
    owner_put(&f[0], 1);
    owner_put(&f[1], 1);
    for (int i = 0; i < ROUNDS; i++) {
        int rc = kc_chan_select(cl, 3, KC_CHAN_SELECT_UNBIASED, 0, NULL);
        assert_true(rc >= 0 && rc < 3);
        count[rc]++;
        if (rc == 1)
            assert_int_equal(kc_chan_try_send(l, &v), 0);
        else
            owner_put(&f[rc / 2], 1);
    }
    double expect = ROUNDS / 3.0, chi2 = 0;
    for (int i = 0; i < 3; i++)
        chi2 += (count[i] - expect) * (count[i] - expect) / expect;
    print_message("unbiased counts %ld %ld %ld, chi2 %.2f\n", count[0], count[1], count[2], chi2);
    if (chi2 >= 13.82) /* p = 0.001, two degrees of freedom */
        fail_msg("chi-square %.2f >= 13.82", chi2);
    rfree(&f[0]);
    rfree(&f[1]);
    kc_chan_close(l);
    long x;
    while (kc_chan_try_recv(l, &x) == 0)
        ;
    assert_int_equal(kc_chan_destroy(l), 0);
}

/* ---- the storm: selects over one local and two remote channels, from
 * threads and coroutines, against plain receivers competing at the owner;
 * every element received exactly once, nothing left armed. */

enum {
    STORM_PER_CHAN = 20000,
    STORM_CHANS = 3,
    STORM_TOTAL = STORM_PER_CHAN * STORM_CHANS,
    STORM_SEL_THREADS = 2,
    STORM_SEL_COROS = 4
};

struct storm {
    struct rfake f[2];
    kc_chan_t *r[2], *l;
    _Atomic uint8_t *seen; /* per value: times received */
    _Atomic long received, timeouts, cancels;
    _Atomic int stop;
};

static void storm_take(struct storm *s, long v)
{
    assert_true(v >= 0 && v < STORM_TOTAL);
    assert_int_equal(atomic_fetch_add(&s->seen[v], 1), 0); /* X4: at most once */
    atomic_fetch_add(&s->received, 1);
}

static void storm_select_loop(struct storm *s, unsigned seed)
{
    long got[3] = {-1, -1, -1};
    kc_chan_clause_t cl[3] = {KC_CHAN_CLAUSE_RECV_INIT(s->r[0], &got[0]),
                              KC_CHAN_CLAUSE_RECV_INIT(s->l, &got[1]),
                              KC_CHAN_CLAUSE_RECV_INIT(s->r[1], &got[2])};
    kc_cancel_t *c = NULL;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    while (!atomic_load(&s->stop)) {
        seed = seed * 1103515245u + 12345u;
        int64_t t = (seed >> 16) % 8 == 0 ? 20000 : 50000000; /* some short timeouts */
        const kc_cancel_t *cc = (seed >> 16) % 16 == 1 ? c : NULL;
        if (cc != NULL)
            kc_cancel_trigger(c); /* already cancelled: -ECANCELED, nothing taken */
        int rc = kc_chan_select(
            cl, 3, (seed >> 20) & 1 ? KC_CHAN_SELECT_UNBIASED : KC_CHAN_SELECT_BIASED, t, cc);
        if (rc >= 0) {
            if (cl[rc].result == 0)
                storm_take(s, got[rc]);
        } else if (rc == -ETIME) {
            atomic_fetch_add(&s->timeouts, 1);
        } else {
            assert_int_equal(rc, -ECANCELED);
            atomic_fetch_add(&s->cancels, 1);
        }
        if (cc != NULL) {
            kc_cancel_destroy(c);
            assert_int_equal(kc_cancel_create(&c, NULL), 0);
        }
    }
    kc_cancel_destroy(c);
}

static void *storm_sel_thread(void *arg)
{
    storm_select_loop(arg, (unsigned)(uintptr_t)&arg);
    return NULL;
}

static int storm_sel_coro(void *arg)
{
    storm_select_loop(arg, (unsigned)(uintptr_t)&arg ^ 0x5bd1e995u);
    return 0;
}

struct storm_prod {
    struct storm *s;
    int which; /* 0, 1: remote owner; 2: the local channel */
};

static void *storm_producer(void *arg)
{
    struct storm_prod *p = arg;
    for (long i = 0; i < STORM_PER_CHAN; i++) {
        long v = p->which * STORM_PER_CHAN + i;
        if (p->which == 2)
            assert_int_equal(kc_chan_send(p->s->l, &v, KC_NO_TIMEOUT, NULL), 0);
        else
            owner_put(&p->s->f[p->which], v);
    }
    return NULL;
}

/* Another process's plain receiver at the owner of remote channel 0. */
static void *storm_rival(void *arg)
{
    struct storm *s = arg;
    while (!atomic_load(&s->stop)) {
        long v;
        if (kc_chan_recv(s->f[0].inner, &v, 1000000, NULL) == 0)
            storm_take(s, v);
    }
    return NULL;
}

static void test_storm_every_element_exactly_once(void **state)
{
    (void)state;
    struct storm *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->seen = calloc(STORM_TOTAL, sizeof(*s->seen));
    assert_non_null(s->seen);
    s->r[0] = rmake(&s->f[0], 8);
    s->r[1] = rmake(&s->f[1], 1);
    assert_int_equal(kc_chan_make(&s->l, KC_CHAN_RENDEZVOUS, 0, sizeof(long)), 0);
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.nworkers = 2;
    kc_sched_t *sch;
    assert_int_equal(kc_sched_create(&sch, &o), 0);
    kc_task_t *co[STORM_SEL_COROS];
    for (int i = 0; i < STORM_SEL_COROS; i++)
        assert_int_equal(kc_sched_spawn(sch, &co[i], storm_sel_coro, s, NULL), 0);
    pthread_t st[STORM_SEL_THREADS], pr[3], rival;
    for (int i = 0; i < STORM_SEL_THREADS; i++)
        assert_int_equal(pthread_create(&st[i], NULL, storm_sel_thread, s), 0);
    assert_int_equal(pthread_create(&rival, NULL, storm_rival, s), 0);
    struct storm_prod pp[3] = {{s, 0}, {s, 1}, {s, 2}};
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&pr[i], NULL, storm_producer, &pp[i]), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(pr[i], NULL);
    int waited = 0;
    while (atomic_load(&s->received) < STORM_TOTAL) {
        assert_true(waited++ < 120000); /* two minutes on a loaded host */
        kc_test_sleep_ms(1);
    }
    atomic_store(&s->stop, 1);
    for (int i = 0; i < STORM_SEL_THREADS; i++)
        pthread_join(st[i], NULL);
    pthread_join(rival, NULL);
    for (int i = 0; i < STORM_SEL_COROS; i++) {
        int rc = -1;
        assert_int_equal(kc_sched_join(co[i], &rc, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(rc, 0);
    }
    kc_sched_destroy(sch);
    assert_int_equal(atomic_load(&s->received), STORM_TOTAL);
    for (long v = 0; v < STORM_TOTAL; v++)
        assert_int_equal(atomic_load(&s->seen[v]), 1);
    kc_chan_snapshot_t sn = KC_CHAN_SNAPSHOT_INIT;
    assert_int_equal(kc_chan_snapshot(s->r[1], &sn), 0);
    assert_int_equal(sn.receives, STORM_PER_CHAN); /* only selects take from remote 1 */
    print_message("storm: %d elements, %ld timeouts, %ld cancels, fires won %d lost %d, "
                  "claims %d rejected %d\n",
                  STORM_TOTAL, atomic_load(&s->timeouts), atomic_load(&s->cancels),
                  atomic_load(&s->f[0].won) + atomic_load(&s->f[1].won),
                  atomic_load(&s->f[0].lost) + atomic_load(&s->f[1].lost),
                  atomic_load(&s->f[0].claims) + atomic_load(&s->f[1].claims),
                  atomic_load(&s->f[0].rejects) + atomic_load(&s->f[1].rejects));
    rfree(&s->f[0]);
    rfree(&s->f[1]);
    assert_int_equal(kc_chan_destroy(s->l), 0);
    free(s->seen);
    free(s);
}

static void test_boxed_and_remote_together_are_refused(void **state)
{
    (void)state;
    struct rfake f;
    kc_chan_t *r = rmake(&f, 4), *bx;
    kc_arena_t *a;
    assert_int_equal(kc_arena_create(&a, NULL), 0);
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = 4;
    o.elem_size = sizeof(long);
    o.arena = a;
    assert_int_equal(kc_chan_create(&bx, &o), 0);
    long x = 0, y = 0;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(r, &x), KC_CHAN_CLAUSE_RECV_INIT(bx, &y)};
    assert_int_equal(kc_chan_select(cl, 2, 0, 0, NULL), -ENOTSUP);
    /* a discarding receive on a remote channel works (kc_select_off.c) */
    owner_put(&f, 9);
    kc_chan_clause_t d[1] = {KC_CHAN_CLAUSE_DISCARD_INIT(r)};
    assert_int_equal(kc_chan_select(d, 1, 0, 0, NULL), 0);
    assert_int_equal(kc_chan_len(r), 0);
    rfree(&f);
    assert_int_equal(kc_chan_destroy(bx), 0);
    assert_int_equal(kc_arena_destroy(a), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remote_clause_fires_from_the_poll_and_is_counted),
        cmocka_unit_test(test_remote_fire_wakes_a_waiting_select_once),
        cmocka_unit_test(test_local_peer_wins_and_the_remote_clause_is_disarmed),
        cmocka_unit_test(test_timeout_and_cancellation_end_a_remote_wait),
        cmocka_unit_test(test_rejected_claim_rearms_and_takes_the_next),
        cmocka_unit_test(test_send_clause_waits_for_room_at_the_owner),
        cmocka_unit_test(test_close_and_connection_loss_are_clause_results),
        cmocka_unit_test(test_unbiased_remote_clauses_pass_chi_square),
        cmocka_unit_test(test_storm_every_element_exactly_once),
        cmocka_unit_test(test_boxed_and_remote_together_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
