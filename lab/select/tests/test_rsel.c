/* test_rsel.c - remote select's claim protocol between owners and selectors (lab/select).
 *
 * Owners serve local channels over in-process pipes (delay and jitter
 * optional); selectors import them and select over them beside local
 * channels. Checked: the wire codec and its refusals; a remote clause from
 * the poll and from a wait; plain calls; timeouts and cancellation with
 * local select's codes; a send clause waiting for room; close (-EPIPE) and
 * connection loss (-ECONNRESET) as clause results; a peer that stops
 * answering (its lease runs out, the element reaches a select elsewhere)
 * and one whose connection is cut (released at once); and competing
 * selects from two connections, threads and coroutines, over two remote
 * channels and a local one, with delay and jitter, every element received
 * exactly once and each owner's ledger closed (taken == committed + held + returned).
 */
#include "kc_rsel_impl.h"
#include "kcoro/sched.h"

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

#define MS 1000000LL

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Poll cond for up to 30 s (a loaded 2-core host). */
#define WAIT_FOR(cond)                                                                             \
    do {                                                                                           \
        int waited_ = 0;                                                                           \
        while (!(cond)) {                                                                          \
            assert_true(waited_++ < 30000);                                                        \
            sleep_ms(1);                                                                           \
        }                                                                                          \
    } while (0)

static int owner_on_pipe(kc_rsel_owner_t *o, int peer, kc_rsel_pipe_t *p, int end)
{
    kc_rsel_link_t l;
    int rc = kc_rsel_pipe_link(p, end, &l);
    return rc != 0 ? rc : kc_rsel_owner_link(o, peer, &l);
}

static int client_on_pipe(kc_rsel_client_t *c, kc_rsel_pipe_t *p, int end)
{
    kc_rsel_link_t l;
    int rc = kc_rsel_pipe_link(p, end, &l);
    return rc != 0 ? rc : kc_rsel_client_link(c, &l);
}

/* One owner of one channel, one selector process, one pipe between them. */
struct rig {
    kc_chan_t *local;  /* the owner's channel */
    kc_chan_t *remote; /* the selector's import of it */
    kc_rsel_owner_t *o;
    kc_rsel_client_t *c;
    kc_rsel_pipe_t *p;
};

static kc_chan_opts_t opts_of(size_t cap)
{
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = cap;
    o.elem_size = sizeof(long);
    return o;
}

static void rig_up(struct rig *r, size_t cap, int64_t lease, int64_t delay, int64_t jitter)
{
    memset(r, 0, sizeof(*r));
    kc_chan_opts_t o = opts_of(cap);
    assert_int_equal(kc_chan_create(&r->local, &o), 0);
    assert_int_equal(kc_rsel_owner_create(&r->o, r->local, 7, lease), 0);
    assert_int_equal(kc_rsel_client_create(&r->c, lease), 0);
    kc_rsel_endpoint_t e0, e1;
    assert_int_equal(kc_rsel_owner_peer(r->o, 0, &e0), 0);
    assert_int_equal(kc_rsel_client_endpoint(r->c, &e1), 0);
    kc_rsel_pipe_opts_t po = {sizeof(kc_rsel_pipe_opts_t), delay, jitter, 42, NULL, NULL};
    assert_int_equal(kc_rsel_pipe_create(&r->p, &po, &e0, &e1), 0);
    assert_int_equal(owner_on_pipe(r->o, 0, r->p, 0), 0);
    assert_int_equal(client_on_pipe(r->c, r->p, 1), 0);
    assert_int_equal(kc_rsel_import(&r->remote, r->c, 7, &o), 0);
}

/* O1: everything the owner took was committed or is still held. */
static void ledger(kc_rsel_owner_t *o, uint64_t *committed, uint64_t *held)
{
    kc_rsel_owner_stats_t st = KC_RSEL_OWNER_STATS_INIT;
    assert_int_equal(kc_rsel_owner_stats(o, &st), 0);
    assert_int_equal(st.taken, st.committed + st.held + st.returned);
    if (committed != NULL)
        *committed = st.committed;
    if (held != NULL)
        *held = st.held;
}

static void rig_down(struct rig *r)
{
    ledger(r->o, NULL, NULL);
    kc_rsel_pipe_destroy(r->p);
    uint64_t left = 99;
    kc_rsel_owner_destroy(r->o, &left);
    assert_int_equal(left, 0);
    assert_int_equal(kc_chan_destroy(r->remote), 0);
    assert_int_equal(kc_rsel_client_destroy(r->c), 0);
    kc_chan_close(r->local);
    long v;
    while (kc_chan_try_recv(r->local, &v) == 0)
        ;
    assert_int_equal(kc_chan_destroy(r->local), 0);
}

static void test_wire_round_trip_and_refusals(void **state)
{
    (void)state;
    uint8_t buf[64];
    long e = 0x1122334455667788;
    kc_rsel_msg_t m = {KC_RSEL_COMMIT, KC_RSEL_RECV, 0, 9, 0xabcdef0123ull, 5 * MS};
    int n = kc__rsel_encode(&m, &e, sizeof e, buf, sizeof buf);
    assert_int_equal(n, KC_RSEL_HDR + (int)sizeof e);
    kc_rsel_msg_t d;
    const uint8_t *elem;
    size_t len;
    assert_int_equal(kc__rsel_decode(buf, (size_t)n, &d, &elem, &len), 0);
    assert_int_equal(d.cmd, KC_RSEL_COMMIT);
    assert_int_equal(d.chan, 9);
    assert_int_equal(d.id, 0xabcdef0123ull);
    assert_int_equal(d.lease_ns, 5 * MS);
    assert_int_equal(len, sizeof e);
    assert_memory_equal(elem, &e, sizeof e);
    assert_int_equal(buf[0], 36); /* SELECT_COMMIT; the seed's 32-35 before it */
    assert_int_equal(kc__rsel_encode(&m, &e, sizeof e, buf, KC_RSEL_HDR + 3), -EMSGSIZE);
    assert_int_equal(kc__rsel_decode(buf, KC_RSEL_HDR - 1, &d, &elem, &len), -EPROTO);
    assert_int_equal(kc__rsel_decode(NULL, 40, &d, &elem, &len), -EPROTO);
    buf[0] = 31;
    assert_int_equal(kc__rsel_decode(buf, (size_t)n, &d, &elem, &len), -EPROTO);
    buf[0] = 38;
    assert_int_equal(kc__rsel_decode(buf, (size_t)n, &d, &elem, &len), -EPROTO);
    buf[0] = KC_RSEL_CLAIM;
    buf[1] = 3;
    assert_int_equal(kc__rsel_decode(buf, (size_t)n, &d, &elem, &len), -EPROTO);
    buf[1] = KC_RSEL_RECV | KC_RSEL_PLAIN;
    assert_int_equal(kc__rsel_decode(buf, (size_t)n, &d, &elem, &len), 0);
    buf[0] = KC_RSEL_REGISTER; /* PLAIN only on claims and their answers */
    assert_int_equal(kc__rsel_decode(buf, (size_t)n, &d, &elem, &len), -EPROTO);
    /* bad arguments */
    kc_rsel_owner_t *o;
    assert_int_equal(kc_rsel_owner_create(&o, NULL, 1, 0), -EINVAL);
    kc_rsel_client_t *c;
    assert_int_equal(kc_rsel_client_create(&c, -1), -EINVAL);
    assert_int_equal(kc_rsel_pipe_create(NULL, NULL, NULL, NULL), -EINVAL);
}

struct job {
    kc_chan_clause_t cl[4];
    size_t n;
    uint32_t flags;
    int64_t timeout;
    kc_cancel_t *cancel;
    int rc;
    _Atomic int done;
};

static void *job_thread(void *arg)
{
    struct job *j = arg;
    j->rc = kc_chan_select(j->cl, j->n, j->flags, j->timeout, j->cancel);
    atomic_store(&j->done, 1);
    return NULL;
}

static void test_remote_clause_from_the_poll_and_from_a_wait(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r, 8, 0, 0, 0);
    kc_chan_t *l;
    assert_int_equal(kc_chan_make(&l, KC_CHAN_RENDEZVOUS, 0, sizeof(long)), 0);
    long v = 11, a = -1, b = -1;
    assert_int_equal(kc_chan_send(r.local, &v, KC_NO_TIMEOUT, NULL), 0);
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(l, &a),
                              KC_CHAN_CLAUSE_RECV_INIT(r.remote, &b)};
    assert_int_equal(kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, KC_NO_TIMEOUT, NULL), 1);
    assert_int_equal(b, 11);
    /* nothing there: the select arms, the owner notifies when it comes */
    for (int round = 0; round < 20; round++) {
        struct job j = {.cl = {cl[0], cl[1]}, .n = 2, .timeout = KC_NO_TIMEOUT};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, job_thread, &j), 0);
        sleep_ms(round % 3);
        v = 100 + round;
        assert_int_equal(kc_chan_send(r.local, &v, KC_NO_TIMEOUT, NULL), 0);
        pthread_join(th, NULL);
        assert_int_equal(j.rc, 1);
        assert_int_equal(b, 100 + round);
        assert_int_equal(a, -1);
    }
    /* plain calls speak the same protocol */
    v = 5;
    assert_int_equal(kc_chan_send(r.remote, &v, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_chan_recv(r.remote, &b, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(b, 5);
    assert_int_equal(kc_chan_recv(r.remote, &b, 2 * MS, NULL), -ETIME);
    assert_int_equal(kc_chan_try_recv(r.remote, &b), -EAGAIN);
    kc_chan_snapshot_t s = KC_CHAN_SNAPSHOT_INIT;
    assert_int_equal(kc_chan_snapshot(r.remote, &s), 0);
    assert_int_equal(s.receives, 22);
    assert_int_equal(s.sends, 1);
    uint64_t committed;
    ledger(r.o, &committed, NULL);
    assert_int_equal(committed, 22);
    rig_down(&r);
    assert_int_equal(kc_chan_destroy(l), 0);
}

static void test_timeout_cancel_and_local_win_leave_nothing_reserved(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r, 8, 0, 1 * MS, 0);
    kc_chan_t *l;
    assert_int_equal(kc_chan_make(&l, KC_CHAN_BUFFERED, 3, sizeof(long)), 0);
    long a = -1, b = -1;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(r.remote, &b),
                              KC_CHAN_CLAUSE_RECV_INIT(l, &a)};
    assert_int_equal(kc_chan_select(cl, 2, 0, 3 * MS, NULL), -ETIME);
    assert_int_equal(kc_chan_select(cl, 2, 0, 0, NULL), -EAGAIN);
    kc_cancel_t *c;
    assert_int_equal(kc_cancel_create(&c, NULL), 0);
    struct job j = {.cl = {cl[0], cl[1]}, .n = 2, .timeout = 60000 * MS, .cancel = c};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, job_thread, &j), 0);
    sleep_ms(5);
    kc_cancel_trigger(c);
    pthread_join(th, NULL);
    assert_int_equal(j.rc, -ECANCELED);
    kc_cancel_destroy(c);
    /* a local clause wins; an element arriving later stays with the owner */
    long v = 3;
    struct job k = {.cl = {cl[0], cl[1]}, .n = 2, .timeout = KC_NO_TIMEOUT};
    assert_int_equal(pthread_create(&th, NULL, job_thread, &k), 0);
    sleep_ms(5);
    assert_int_equal(kc_chan_send(l, &v, KC_NO_TIMEOUT, NULL), 0);
    pthread_join(th, NULL);
    assert_int_equal(k.rc, 1);
    assert_int_equal(a, 3);
    v = 4;
    assert_int_equal(kc_chan_send(r.local, &v, KC_NO_TIMEOUT, NULL), 0);
    sleep_ms(20); /* every CANCEL has arrived: nothing is reserved */
    uint64_t held = 9;
    ledger(r.o, NULL, &held);
    kc_rsel_owner_stats_t st = KC_RSEL_OWNER_STATS_INIT;
    assert_int_equal(kc_rsel_owner_stats(r.o, &st), 0);
    assert_int_equal(st.committed, 0);
    /* the element is in the channel, or first in the owner's line (it was
     * taken for the subscription the CANCEL ended) */
    assert_int_equal(held + kc_chan_len(r.local), 1);
    assert_int_equal(kc_chan_select(cl, 2, 0, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(b, 4);
    rig_down(&r);
    assert_int_equal(kc_chan_destroy(l), 0);
}

#define ALWAYS 262144 /* local elements: many times what one KC_RSEL_REPROBE_NS takes */

/* C4: a select whose local clause is always ready never waits, so it never
 * arms its remote clause; the owner's "nothing there" must not keep the
 * poll from the remote clause until the local clause runs dry. */
static void test_a_remote_clause_beside_an_always_ready_one_is_taken(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r, 8, 0, 0, 0);
    kc_chan_t *l;
    assert_int_equal(kc_chan_make(&l, KC_CHAN_BUFFERED, ALWAYS, sizeof(long)), 0);
    for (long i = 0; i < ALWAYS; i++)
        assert_int_equal(kc_chan_try_send(l, &i), 0);
    long a = -1, b = -1;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(r.remote, &b),
                              KC_CHAN_CLAUSE_RECV_INIT(l, &a)};
    /* the remote channel is empty: the owner says so, the local clause fires */
    assert_int_equal(kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, KC_NO_TIMEOUT, NULL), 1);
    assert_int_equal(a, 0);
    long v = 77;
    assert_int_equal(kc_chan_send(r.local, &v, KC_NO_TIMEOUT, NULL), 0);
    long locals = 0;
    int rc;
    while ((rc = kc_chan_select(cl, 2, KC_CHAN_SELECT_BIASED, KC_NO_TIMEOUT, NULL)) == 1)
        locals++;
    print_message("always-ready local clause: %ld selects before the remote one\n", locals);
    assert_int_equal(rc, 0); /* the remote clause, biased first, was tried again */
    assert_int_equal(b, 77);
    /* ... while the local clause was still ready (in order, none lost) */
    assert_true(kc_chan_len(l) > 0);
    assert_int_equal(a, locals);
    assert_int_equal(kc_chan_len(l), ALWAYS - 1 - locals);
    uint64_t committed;
    ledger(r.o, &committed, NULL);
    assert_int_equal(committed, 1);
    rig_down(&r);
    kc_chan_close(l);
    while (kc_chan_try_recv(l, &a) == 0)
        ;
    assert_int_equal(kc_chan_destroy(l), 0);
}

static void test_send_clause_waits_for_room(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r, 1, 0, 0, 0);
    long v = 1, mine = 2, out = 0;
    assert_int_equal(kc_chan_send(r.local, &v, KC_NO_TIMEOUT, NULL), 0); /* full */
    struct job j = {
        .cl = {KC_CHAN_CLAUSE_SEND_INIT(r.remote, &mine)}, .n = 1, .timeout = KC_NO_TIMEOUT};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, job_thread, &j), 0);
    /* the owner has the send subscription in line, waiting for room */
    kc_rsel_owner_stats_t st = KC_RSEL_OWNER_STATS_INIT;
    do {
        sleep_ms(1);
        assert_int_equal(kc_rsel_owner_stats(r.o, &st), 0);
    } while (st.send_waiting != 1);
    /* O6: it sleeps on the channel's room waiter, it does not poll: over
     * 100 ms its thread wakes at most once (the kick that made it switch
     * from its idle wait to the room wait may land here), where a 1 ms
     * poll woke it about 100 times */
    uint64_t w0 = st.wakes;
    sleep_ms(100);
    assert_int_equal(kc_rsel_owner_stats(r.o, &st), 0);
    assert_in_range(st.wakes - w0, 0, 1);
    assert_int_equal(st.send_waiting, 1);
    assert_int_equal(atomic_load(&j.done), 0);
    w0 = st.wakes;
    assert_int_equal(kc_chan_recv(r.local, &out, KC_NO_TIMEOUT, NULL), 0); /* room */
    assert_int_equal(out, 1);
    pthread_join(th, NULL);
    assert_int_equal(j.rc, 0);
    assert_int_equal(j.cl[0].result, 0);
    assert_int_equal(kc_chan_recv(r.local, &out, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(out, 2);
    assert_int_equal(kc_rsel_owner_stats(r.o, &st), 0);
    assert_true(st.wakes > w0); /* the room waiter woke it */
    assert_int_equal(st.sends, 1);
    assert_int_equal(st.send_waiting, 0);
    /* the same again many times: each send clause completes once a local
     * receive makes room, with no clock in between */
    for (long round = 0; round < 200; round++) {
        long full = 1000 + round;
        assert_int_equal(kc_chan_send(r.local, &full, KC_NO_TIMEOUT, NULL), 0);
        mine = 5000 + round;
        struct job k = {
            .cl = {KC_CHAN_CLAUSE_SEND_INIT(r.remote, &mine)}, .n = 1, .timeout = KC_NO_TIMEOUT};
        assert_int_equal(pthread_create(&th, NULL, job_thread, &k), 0);
        if (round % 2 == 0)
            WAIT_FOR(kc_rsel_owner_stats(r.o, &st) == 0 && st.send_waiting == 1);
        assert_int_equal(kc_chan_recv(r.local, &out, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(out, full);
        pthread_join(th, NULL);
        assert_int_equal(k.rc, 0);
        assert_int_equal(kc_chan_recv(r.local, &out, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(out, 5000 + round);
    }
    assert_int_equal(kc_rsel_owner_stats(r.o, &st), 0);
    assert_int_equal(st.sends, 201);
    rig_down(&r);
}

static void test_close_and_loss_are_clause_results(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r, 4, 0, 0, 0);
    long v = 8, b = -1;
    assert_int_equal(kc_chan_send(r.local, &v, KC_NO_TIMEOUT, NULL), 0);
    kc_chan_close(r.local);
    kc_chan_clause_t cl[1] = {KC_CHAN_CLAUSE_RECV_INIT(r.remote, &b)};
    assert_int_equal(kc_chan_select(cl, 1, 0, KC_NO_TIMEOUT, NULL), 0); /* drains first */
    assert_int_equal(cl[0].result, 0);
    assert_int_equal(b, 8);
    assert_int_equal(kc_chan_select(cl, 1, 0, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(cl[0].result, -EPIPE);
    assert_true(kc_chan_is_closed(r.remote));
    rig_down(&r);

    rig_up(&r, 4, 0, 0, 0);
    struct job j = {
        .cl = {KC_CHAN_CLAUSE_RECV_INIT(r.remote, &b)}, .n = 1, .timeout = KC_NO_TIMEOUT};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, job_thread, &j), 0);
    sleep_ms(5);
    kc_rsel_pipe_cut(r.p);
    pthread_join(th, NULL);
    assert_int_equal(j.rc, 0);
    assert_int_equal(j.cl[0].result, -ECONNRESET);
    assert_int_equal(kc_chan_recv(r.remote, &b, KC_NO_TIMEOUT, NULL), -ECONNRESET);
    rig_down(&r);
}

/* A peer that subscribes and then stops answering: its reservation's lease
 * runs out and the element reaches a select on another connection. */
static void mute_deliver(void *self, const uint8_t *msg, size_t len)
{
    (void)msg;
    (void)len;
    atomic_fetch_add((_Atomic int *)self, 1);
}

static void test_a_mute_peer_loses_its_reservation_to_the_lease(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r, 4, 20 * MS, 0, 0);
    _Atomic int heard = 0;
    kc_rsel_endpoint_t mute = {mute_deliver, NULL, &heard}, oe;
    assert_int_equal(kc_rsel_owner_peer(r.o, 1, &oe), 0);
    kc_rsel_pipe_t *mp;
    assert_int_equal(kc_rsel_pipe_create(&mp, NULL, &oe, &mute), 0);
    assert_int_equal(owner_on_pipe(r.o, 1, mp, 0), 0);
    uint8_t msg[KC_RSEL_HDR];
    kc_rsel_msg_t m = {KC_RSEL_REGISTER, KC_RSEL_RECV, 0, 7, 1, 20 * MS};
    assert_int_equal(kc__rsel_encode(&m, NULL, 0, msg, sizeof msg), KC_RSEL_HDR);
    assert_int_equal(kc_rsel_pipe_send(mp, 1, msg, sizeof msg), 0);
    sleep_ms(5); /* the mute peer's subscription is first in line */
    long v = 21, b = -1;
    assert_int_equal(kc_chan_send(r.local, &v, KC_NO_TIMEOUT, NULL), 0);
    WAIT_FOR(atomic_load(&heard) == 1); /* NOTIFY: reserved for the mute peer */
    kc_chan_clause_t cl[1] = {KC_CHAN_CLAUSE_RECV_INIT(r.remote, &b)};
    assert_int_equal(kc_chan_select(cl, 1, 0, 10000 * MS, NULL), 0);
    assert_int_equal(b, 21);
    kc_rsel_owner_stats_t st = KC_RSEL_OWNER_STATS_INIT;
    assert_int_equal(kc_rsel_owner_stats(r.o, &st), 0);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.committed, 1);
    /* the same with a cut: released at once, no lease needed */
    m.id = 2;
    assert_int_equal(kc__rsel_encode(&m, NULL, 0, msg, sizeof msg), KC_RSEL_HDR);
    assert_int_equal(kc_rsel_pipe_send(mp, 1, msg, sizeof msg), 0);
    sleep_ms(5);
    v = 22;
    assert_int_equal(kc_chan_send(r.local, &v, KC_NO_TIMEOUT, NULL), 0);
    WAIT_FOR(atomic_load(&heard) == 2);
    kc_rsel_pipe_cut(mp);
    assert_int_equal(kc_chan_select(cl, 1, 0, 10000 * MS, NULL), 0);
    assert_int_equal(b, 22);
    assert_int_equal(kc_rsel_owner_stats(r.o, &st), 0);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.released, 2);
    kc_rsel_pipe_destroy(mp);
    rig_down(&r);
}

/* O5: the mute peer's reservation runs out and no remote subscriber waits:
 * after one more lease the element is back in the owner's channel, where
 * a local receiver takes it. */
static void test_an_unwanted_released_element_returns_to_the_channel(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r, 4, 20 * MS, 0, 0);
    _Atomic int heard = 0;
    kc_rsel_endpoint_t mute = {mute_deliver, NULL, &heard}, oe;
    assert_int_equal(kc_rsel_owner_peer(r.o, 1, &oe), 0);
    kc_rsel_pipe_t *mp;
    assert_int_equal(kc_rsel_pipe_create(&mp, NULL, &oe, &mute), 0);
    assert_int_equal(owner_on_pipe(r.o, 1, mp, 0), 0);
    uint8_t msg[KC_RSEL_HDR];
    kc_rsel_msg_t m = {KC_RSEL_REGISTER, KC_RSEL_RECV, 0, 7, 1, 20 * MS};
    assert_int_equal(kc__rsel_encode(&m, NULL, 0, msg, sizeof msg), KC_RSEL_HDR);
    assert_int_equal(kc_rsel_pipe_send(mp, 1, msg, sizeof msg), 0);
    long v = 31, b = -1;
    assert_int_equal(kc_chan_send(r.local, &v, KC_NO_TIMEOUT, NULL), 0);
    WAIT_FOR(atomic_load(&heard) == 1); /* reserved for the mute peer */
    assert_int_equal(kc_chan_len(r.local), 0);
    /* a local receiver of the owner's channel gets it within 30 s (the two
     * leases are 40 ms; a loaded host may be slow) */
    assert_int_equal(kc_chan_recv(r.local, &b, 30000 * MS, NULL), 0);
    assert_int_equal(b, 31);
    kc_rsel_owner_stats_t st = KC_RSEL_OWNER_STATS_INIT;
    assert_int_equal(kc_rsel_owner_stats(r.o, &st), 0);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.returned, 1);
    assert_int_equal(st.taken, 1);
    assert_int_equal(st.committed, 0);
    assert_int_equal(st.held, 0);
    kc_rsel_pipe_destroy(mp);
    rig_down(&r);
}

/* ---- competing selects from two connections over two remote channels
 * and a local one; every element exactly once. */

enum {
    PER_SRC = 3000,
    NSRC = 3, /* two owners' channels and the local one */
    TOTAL = PER_SRC * NSRC,
    THREADS_PER_CLIENT = 2,
    COROS = 2
};

struct world {
    kc_chan_t *owned[2]; /* the owners' channels */
    kc_rsel_owner_t *o[2];
    kc_rsel_pipe_t *p[2][2]; /* [client][owner] */
    kc_chan_t *imp[2][2];    /* [client][owner] */
    kc_chan_t *local;        /* shared by the selectors of both */
    _Atomic uint8_t seen[TOTAL];
    _Atomic long received, timeouts;
    _Atomic int stop;
};

struct who {
    struct world *w;
    int client;
    unsigned seed;
};

static void select_loop(struct who *me)
{
    struct world *w = me->w;
    long got[3];
    kc_chan_clause_t cl[3] = {KC_CHAN_CLAUSE_RECV_INIT(w->imp[me->client][0], &got[0]),
                              KC_CHAN_CLAUSE_RECV_INIT(w->local, &got[1]),
                              KC_CHAN_CLAUSE_RECV_INIT(w->imp[me->client][1], &got[2])};
    unsigned seed = me->seed;
    while (!atomic_load(&w->stop)) {
        seed = seed * 1103515245u + 12345u;
        int64_t t = (seed >> 16) % 8 == 0 ? 1 * MS : 50 * MS;
        int rc = kc_chan_select(cl, 3, (seed >> 20) & 1, t, NULL);
        if (rc >= 0) {
            assert_int_equal(cl[rc].result, 0);
            long v = got[rc];
            assert_true(v >= 0 && v < TOTAL);
            assert_int_equal(atomic_fetch_add(&w->seen[v], 1), 0);
            atomic_fetch_add(&w->received, 1);
        } else {
            assert_int_equal(rc, -ETIME);
            atomic_fetch_add(&w->timeouts, 1);
        }
    }
}

static void *select_thread(void *arg)
{
    select_loop(arg);
    return NULL;
}

static int select_coro(void *arg)
{
    select_loop(arg);
    return 0;
}

struct src {
    struct world *w;
    int which;
};

static void *producer(void *arg)
{
    struct src *s = arg;
    kc_chan_t *ch = s->which < 2 ? s->w->owned[s->which] : s->w->local;
    for (long i = 0; i < PER_SRC; i++) {
        long v = s->which * PER_SRC + i;
        assert_int_equal(kc_chan_send(ch, &v, KC_NO_TIMEOUT, NULL), 0);
        if (i % 64 == 63)
            sleep_ms(1); /* let the selects run dry and wait */
    }
    return NULL;
}

static void test_competing_selects_take_every_element_once(void **state)
{
    (void)state;
    struct world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    kc_chan_opts_t o = opts_of(16);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(kc_chan_create(&w->owned[k], &o), 0);
        assert_int_equal(kc_rsel_owner_create(&w->o[k], w->owned[k], 10 + k, 50 * MS), 0);
    }
    /* a client object per connection: each selector process has two */
    kc_rsel_client_t *cc[2][2];
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < 2; k++) {
            assert_int_equal(kc_rsel_client_create(&cc[i][k], 50 * MS), 0);
            kc_rsel_endpoint_t eo, ec;
            assert_int_equal(kc_rsel_owner_peer(w->o[k], i, &eo), 0);
            assert_int_equal(kc_rsel_client_endpoint(cc[i][k], &ec), 0);
            kc_rsel_pipe_opts_t po = {sizeof(kc_rsel_pipe_opts_t), 50000, 100000,
                                      (uint64_t)(i * 2 + k + 1),   NULL,  NULL};
            assert_int_equal(kc_rsel_pipe_create(&w->p[i][k], &po, &eo, &ec), 0);
            assert_int_equal(owner_on_pipe(w->o[k], i, w->p[i][k], 0), 0);
            assert_int_equal(client_on_pipe(cc[i][k], w->p[i][k], 1), 0);
            assert_int_equal(kc_rsel_import(&w->imp[i][k], cc[i][k], 10 + (uint32_t)k, &o), 0);
        }
    }
    assert_int_equal(kc_chan_make(&w->local, KC_CHAN_RENDEZVOUS, 0, sizeof(long)), 0);
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 2;
    kc_sched_t *sch;
    assert_int_equal(kc_sched_create(&sch, &so), 0);
    struct who who[2 * THREADS_PER_CLIENT + COROS];
    pthread_t th[2 * THREADS_PER_CLIENT];
    int nw = 0;
    for (int i = 0; i < 2; i++)
        for (int t = 0; t < THREADS_PER_CLIENT; t++) {
            who[nw] = (struct who){w, i, 77u * (unsigned)nw + 1};
            assert_int_equal(pthread_create(&th[nw], NULL, select_thread, &who[nw]), 0);
            nw++;
        }
    kc_task_t *co[COROS];
    for (int k = 0; k < COROS; k++) {
        who[nw + k] = (struct who){w, k % 2, 991u * (unsigned)k + 7};
        assert_int_equal(kc_sched_spawn(sch, &co[k], select_coro, &who[nw + k], NULL), 0);
    }
    pthread_t pr[NSRC];
    struct src srcs[NSRC];
    for (int s = 0; s < NSRC; s++) {
        srcs[s] = (struct src){w, s};
        assert_int_equal(pthread_create(&pr[s], NULL, producer, &srcs[s]), 0);
    }
    for (int s = 0; s < NSRC; s++)
        pthread_join(pr[s], NULL);
    int waited = 0;
    while (atomic_load(&w->received) < TOTAL) {
        assert_true(waited++ < 120000);
        sleep_ms(1);
    }
    atomic_store(&w->stop, 1);
    for (int t = 0; t < nw; t++)
        pthread_join(th[t], NULL);
    for (int k = 0; k < COROS; k++) {
        int st = -1;
        assert_int_equal(kc_sched_join(co[k], &st, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(st, 0);
    }
    kc_sched_destroy(sch);
    for (long v = 0; v < TOTAL; v++)
        assert_int_equal(atomic_load(&w->seen[v]), 1);
    uint64_t committed[2], held[2];
    for (int k = 0; k < 2; k++) {
        ledger(w->o[k], &committed[k], &held[k]);
        assert_int_equal(committed[k], PER_SRC);
        assert_int_equal(held[k], 0);
    }
    kc_rsel_client_stats_t cs = KC_RSEL_CLIENT_STATS_INIT, sum = KC_RSEL_CLIENT_STATS_INIT;
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 2; k++) {
            assert_int_equal(kc_rsel_client_stats(cc[i][k], &cs), 0);
            sum.fires_won += cs.fires_won;
            sum.fires_lost += cs.fires_lost;
            sum.claims += cs.claims;
            sum.rejects += cs.rejects;
        }
    print_message("competing: %d elements, %ld timeouts, fires won %llu lost %llu, claims %llu "
                  "rejected %llu\n",
                  TOTAL, atomic_load(&w->timeouts), (unsigned long long)sum.fires_won,
                  (unsigned long long)sum.fires_lost, (unsigned long long)sum.claims,
                  (unsigned long long)sum.rejects);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 2; k++) {
            kc_rsel_pipe_destroy(w->p[i][k]);
            assert_int_equal(kc_chan_destroy(w->imp[i][k]), 0);
            assert_int_equal(kc_rsel_client_destroy(cc[i][k]), 0);
        }
    for (int k = 0; k < 2; k++) {
        uint64_t left = 9;
        kc_rsel_owner_destroy(w->o[k], &left);
        assert_int_equal(left, 0);
        kc_chan_close(w->owned[k]);
        assert_int_equal(kc_chan_destroy(w->owned[k]), 0);
    }
    assert_int_equal(kc_chan_destroy(w->local), 0);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_round_trip_and_refusals),
        cmocka_unit_test(test_remote_clause_from_the_poll_and_from_a_wait),
        cmocka_unit_test(test_timeout_cancel_and_local_win_leave_nothing_reserved),
        cmocka_unit_test(test_a_remote_clause_beside_an_always_ready_one_is_taken),
        cmocka_unit_test(test_send_clause_waits_for_room),
        cmocka_unit_test(test_close_and_loss_are_clause_results),
        cmocka_unit_test(test_a_mute_peer_loses_its_reservation_to_the_lease),
        cmocka_unit_test(test_an_unwanted_released_element_returns_to_the_channel),
        cmocka_unit_test(test_competing_selects_take_every_element_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
