/* test_rel_session.c - rel: sessions survive the loss of their inner link.
 *
 * - Frames stream both ways over `rel:unix:` with a grace time while the
 *   link under the layer is cut (shutdown(2) of the socket) at random
 *   points of the stream, on either side: the connector dials again, the
 *   listener hands the new link to the session, unacknowledged segments go
 *   out again, and every frame arrives exactly once and in order.
 * - Past the grace time every waiting call gets -ECONNRESET: a receive
 *   waiting on each end, and a send after; a listener that no longer knows
 *   the session answers at once.
 * - The handshake codec and the sender's resume rule, alone.
 * - A session starts over a link whose delay has a jitter (which reorders
 *   its first frames, as netem's does): a segment that overtook NEW, and
 *   which the acceptor's handshake dropped, goes out again on the answer,
 *   not after the first RTO (5 s here; the frames must cross within 2 s);
 *   16 seeds, threads and coroutines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kc_rel_impl.h"
#include "kcoro/sched.h"
#include "kcoro/sim.h"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t load(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static int setup(void **state)
{
    (void)state;
    int rc = kc_sim_register();
    return rc < 0 ? rc : kc_rel_register();
}

/* ---- the pieces alone --------------------------------------------------- */

static void test_rel_session_codec_and_resume_rule(void **state)
{
    (void)state;
    kc_rel_sess_t m = {KC_REL_SESS_RESUME, 0x0123456789abcdefull, 77}, out;
    kc_frame_hdr_t h;
    uint8_t b[KC_REL_SESS_LEN];
    assert_int_equal(kc__rel_sess_encode(&m, &h, b), 0);
    assert_int_equal(h.type, KC_FRAME_ACK);
    assert_int_equal(h.chan_id, KC_REL_CHAN_SESS);
    assert_int_equal(kc__rel_sess_decode(&h, b, &out), 0);
    assert_int_equal(out.kind, m.kind);
    assert_true(out.id == m.id && out.rcv_nxt == 77);
    b[12] ^= 4; /* a flipped bit of the id */
    assert_int_equal(kc__rel_sess_decode(&h, b, &out), -EBADMSG);
    b[12] ^= 4;
    kc_frame_hdr_t bad = h;
    bad.chan_id = 0; /* an ordinary ACK is no handshake */
    assert_int_equal(kc__rel_sess_decode(&bad, b, &out), -EPROTO);
    bad = h;
    bad.len = KC_REL_SESS_LEN - 1;
    assert_int_equal(kc__rel_sess_decode(&bad, b, &out), -EPROTO);
    m.kind = 0;
    assert_int_equal(kc__rel_sess_encode(&m, &h, b), -EINVAL);
    m.kind = 16;
    assert_int_equal(kc__rel_sess_encode(&m, &h, b), -EINVAL);
    /* An ordinary ACK decoder refuses the handshake (a peer without
     * sessions ends with -EPROTO). */
    m.kind = KC_REL_SESS_NEW;
    assert_int_equal(kc__rel_sess_encode(&m, &h, b), 0);
    kc_rel_ack_t a;
    assert_int_equal(kc__rel_ack_decode(&h, b, 0, &a), -EPROTO);

    /* Resume: below the peer's next expected segment is freed, the rest of
     * what was sent is lost (SACK marks dropped), cwnd restarts. */
    kc_rel_snd_t s;
    assert_int_equal(kc__rel_snd_init(&s, 16, 64), 0);
    for (int i = 0; i < 10; i++) {
        kc_rel_seg_t *g = &s.seg[s.end % s.cap];
        g->buf = malloc(8);
        g->len = 8;
        g->st = i < 8 ? KC_REL_S_SENT : 0;
        s.end++;
    }
    s.nxt = 8;
    s.seg[6].st |= KC_REL_S_SACKED;
    s.cwnd = 40;
    assert_int_equal(kc__rel_snd_on_resume(&s, 9, 64), -EPROTO); /* beyond what was sent */
    assert_int_equal(kc__rel_snd_on_resume(&s, 3, 64), 0);
    assert_true(s.una == 3 && s.nxt == 8 && s.end == 10);
    for (uint64_t q = 3; q < 8; q++)
        assert_int_equal(s.seg[q % s.cap].st, KC_REL_S_SENT | KC_REL_S_LOST);
    assert_int_equal(s.seg[8].st, 0);
    assert_true(s.cwnd == 4);
    assert_int_equal(kc__rel_snd_pipe(&s), 0);
    assert_int_equal(kc__rel_snd_on_resume(&s, 2, 64), -EPROTO); /* below una */
    kc__rel_snd_free(&s);
}

/* ---- links cut under a stream --------------------------------------------- */

/* The current inner links of both ends, kept by on_link. cut() shuts one
 * end's socket down under the lock (so rel cannot close it meanwhile), and
 * only once both ends carry a link nobody has cut: each cut is then one
 * lost link, which each end must replace exactly once. */
typedef struct cutter {
    pthread_mutex_t lk;
    kc_transport_t *inner[2];
    bool fresh[2];
    long links[2];
    long cuts;
} cutter_t;

typedef struct holder {
    cutter_t *c;
    int end;
} holder_t;

static void on_link(void *arg, kc_transport_t *inner)
{
    holder_t *h = arg;
    cutter_t *c = h->c;
    pthread_mutex_lock(&c->lk);
    c->inner[h->end] = inner;
    c->fresh[h->end] = inner != NULL;
    c->links[h->end] += inner != NULL;
    pthread_mutex_unlock(&c->lk);
}

static bool cut(cutter_t *c, int end)
{
    bool done = false;
    pthread_mutex_lock(&c->lk);
    if (c->fresh[0] && c->fresh[1]) {
        int fd = kc_transport_poll_handle(c->inner[end]);
        assert_true(fd >= 0);
        assert_int_equal(shutdown(fd, SHUT_RDWR), 0);
        c->fresh[0] = c->fresh[1] = false;
        c->cuts++;
        done = true;
    }
    pthread_mutex_unlock(&c->lk);
    return done;
}

static size_t frame_len(long i)
{
    return i % 500 == 499 ? 3000 : 8 + (size_t)(i % 100);
}

static void fill(uint8_t *b, long i, size_t n)
{
    for (size_t k = 0; k < n; k++)
        b[k] = (uint8_t)(i * 31 + (long)k * 7);
}

typedef struct srun srun_t;

typedef struct suser {
    srun_t *r;
    int end;
    bool sender;
} suser_t;

struct srun {
    kc_transport_t *t[2];
    cutter_t cutter;
    holder_t hold[2];
    long n;
    long got[2], bad[2];
    int rc[4];
    uint64_t seed;
};

static int co_suser(void *arg)
{
    suser_t *u = arg;
    srun_t *r = u->r;
    uint8_t *buf = malloc(3008);
    int *rc = &r->rc[u->end * 2 + u->sender];
    uint64_t rng = r->seed * 2654435761u + (uint64_t)u->end;
    long next_cut = 100;
    for (long i = 0; u->sender && i < r->n; i++) {
        size_t n = frame_len(i);
        fill(buf, i, n);
        kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, (uint32_t)i, (uint32_t)n};
        struct iovec iov = {buf, n};
        if ((*rc = kc_transport_send_frame(r->t[u->end], &h, &iov, 1, KC_NO_TIMEOUT, NULL)) < 0)
            break;
    }
    while (!u->sender && r->got[u->end] < r->n) {
        kc_frame_hdr_t h;
        void *pl;
        if ((*rc = kc_transport_recv_frame(r->t[u->end], &h, &pl, 1 << 16, KC_NO_TIMEOUT, NULL)) <
            0)
            break;
        long i = r->got[u->end]++;
        size_t n = frame_len(i);
        fill(buf, i, n);
        if (h.id != (uint32_t)i || h.len != n || memcmp(pl, buf, n) != 0)
            r->bad[u->end]++;
        free(pl);
        /* Cut the link at a random point of the stream, under this end or
         * the other, 100-600 frames after the last, while more frames than the
         * windows hold are still to come (so each cut must be repaired
         * before the stream can end). */
        if (i >= next_cut && i < r->n - 30000) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            /* A link being replaced is cut once it is back. */
            if (cut(&r->cutter, (int)((rng >> 33) & 1)))
                next_cut = i + 100 + (long)((rng >> 40) % 500);
        }
    }
    free(buf);
    return 0;
}

typedef struct acceptor {
    kc_transport_t *lis;
    kc_cancel_t *stop;
    long extra; /* new sessions after the first: none expected */
    int rc;
} acceptor_t;

/* A server keeps accepting, as any does: resumed links are handed over
 * inside accept. */
static int co_accept_loop(void *arg)
{
    acceptor_t *a = arg;
    for (;;) {
        kc_transport_t *t;
        int rc = kc_transport_accept(a->lis, &t, NULL, KC_NO_TIMEOUT, a->stop);
        if (rc == -ECANCELED)
            return 0;
        if (rc < 0) {
            a->rc = rc;
            return 0;
        }
        a->extra++;
        kc_transport_close(t);
    }
}

static void *accept_thread(void *arg)
{
    co_accept_loop(arg);
    return NULL;
}

typedef struct sess_link {
    kc_rel_opts_t ra, rb;
    kc_rel_counters_t ca, cb;
    kc_transport_opts_t oa, ob;
    char url[108];
} sess_link_t;

static void sess_link_init(sess_link_t *k, srun_t *r, const char *name, int64_t grace)
{
    memset(k, 0, sizeof *k);
    k->ra = (kc_rel_opts_t)KC_REL_OPTS_INIT;
    k->ra.mss = 2048;
    k->ra.window = 16; /* little in flight: a cut soon stalls the stream until it is repaired */
    k->ra.grace_ns = grace;
    k->ra.on_link = on_link;
    k->rb = k->ra;
    k->ra.counters = &k->ca;
    k->rb.counters = &k->cb;
    k->ra.link_arg = &r->hold[0];
    k->rb.link_arg = &r->hold[1];
    k->oa = (kc_transport_opts_t)KC_TRANSPORT_OPTS_INIT;
    k->ob = k->oa;
    k->oa.adapter = &k->ra;
    k->ob.adapter = &k->rb;
    snprintf(k->url, sizeof k->url, "rel:unix:@kc-relsess-%s-%d", name, (int)getpid());
    pthread_mutex_init(&r->cutter.lk, NULL);
    for (int i = 0; i < 2; i++)
        r->hold[i] = (holder_t){&r->cutter, i};
}

static void test_rel_session_survives_cut_links(void **state)
{
    (void)state;
    srun_t *r = calloc(1, sizeof *r);
    sess_link_t *k = calloc(1, sizeof *k);
    sess_link_init(k, r, "cuts", 10000000000LL);
    r->n = 100000; /* not scaled: the cuts need the stream's length */
    r->seed = 3;
    kc_sched_t *s;
    kc_sched_opts_t opts = KC_SCHED_OPTS_INIT;
    opts.nworkers = 2;
    assert_int_equal(kc_sched_create(&s, &opts), 0);
    acceptor_t acc = {NULL, NULL, 0, 0};
    assert_int_equal(kc_transport_listen(k->url, &k->ob, &acc.lis), 0);
    assert_int_equal(kc_cancel_create(&acc.stop, NULL), 0);
    /* Opened from this thread: the endpoints' pumps are threads. */
    kc_task_t *at;
    assert_int_equal(kc_transport_connect(k->url, &k->oa, &r->t[0], KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_transport_accept(acc.lis, &r->t[1], NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_sched_spawn(s, &at, co_accept_loop, &acc, NULL), 0);
    double t0 = mono_s();
    suser_t u[4];
    kc_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        u[i] = (suser_t){r, i / 2, i % 2 == 1};
        assert_int_equal(kc_sched_spawn(s, &t[i], co_suser, &u[i], NULL), 0);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL), 0);
    double took = mono_s() - t0;
    kc_transport_close(r->t[0]);
    kc_transport_close(r->t[1]);
    kc_cancel_trigger(acc.stop);
    assert_int_equal(kc_sched_join(at, NULL, KC_NO_TIMEOUT, NULL), 0);
    kc_transport_close(acc.lis);
    assert_int_equal(kc_sched_destroy(s), 0);
    kc_cancel_destroy(acc.stop);
    long cuts = r->cutter.cuts;
    print_message("sessions: %ld frames each way in %.2f s, %ld links cut, resumed %lu+%lu, "
                  "resent %lu+%lu, dups in %lu\n",
                  r->n, took, cuts, (unsigned long)load(&k->ca.resumed),
                  (unsigned long)load(&k->cb.resumed), (unsigned long)load(&k->ca.retrans),
                  (unsigned long)load(&k->cb.retrans),
                  (unsigned long)(load(&k->ca.dups_in) + load(&k->cb.dups_in)));
    for (int i = 0; i < 4; i++)
        assert_int_equal(r->rc[i], 0);
    for (int e = 0; e < 2; e++) {
        assert_int_equal(r->got[e], r->n);
        assert_int_equal(r->bad[e], 0);
    }
    assert_int_equal(acc.rc, 0);
    assert_int_equal(acc.extra, 0); /* every new link resumed the session */
    assert_true(cuts >= 100);
    /* Each cut made each end take exactly one new link. */
    assert_int_equal(load(&k->ca.resumed), cuts);
    assert_int_equal(load(&k->cb.resumed), cuts);
    assert_int_equal(r->cutter.links[0], 1 + cuts);
    assert_int_equal(r->cutter.links[1], 1 + cuts);
    pthread_mutex_destroy(&r->cutter.lk);
    free(k);
    free(r);
}

/* ---- past the grace time ------------------------------------------------- */

typedef struct waiter {
    kc_transport_t *t;
    int rc;
    double at;
} waiter_t;

static void *wait_recv(void *arg)
{
    waiter_t *w = arg;
    kc_frame_hdr_t h;
    void *pl = NULL;
    w->rc = kc_transport_recv_frame(w->t, &h, &pl, 1 << 16, KC_NO_TIMEOUT, NULL);
    w->at = mono_s();
    free(pl);
    return NULL;
}

static void test_rel_session_grace_ends_in_econnreset(void **state)
{
    (void)state;
    srun_t *r = calloc(1, sizeof *r);
    sess_link_t *k = calloc(1, sizeof *k);
    const int64_t grace = 300000000; /* 300 ms */
    sess_link_init(k, r, "grace", grace);
    kc_transport_t *lis;
    assert_int_equal(kc_transport_listen(k->url, &k->ob, &lis), 0);
    assert_int_equal(kc_transport_connect(k->url, &k->oa, &r->t[0], KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_transport_accept(lis, &r->t[1], NULL, KC_NO_TIMEOUT, NULL), 0);
    /* One frame each way first: the session works. */
    uint8_t b[16] = {1};
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, 1, sizeof b};
    struct iovec iov = {b, sizeof b};
    void *pl;
    for (int e = 0; e < 2; e++) {
        assert_int_equal(kc_transport_send_frame(r->t[e], &h, &iov, 1, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(kc_transport_recv_frame(r->t[1 - e], &h, &pl, 64, 5000000000LL, NULL), 0);
        free(pl);
    }
    /* Nobody listens any more, and the link is cut: the connector dials in
     * vain and the acceptor waits for a handover that never comes. */
    kc_transport_close(lis);
    waiter_t w[2] = {{r->t[0], 1, 0}, {r->t[1], 1, 0}};
    pthread_t th[2];
    for (int e = 0; e < 2; e++)
        assert_int_equal(pthread_create(&th[e], NULL, wait_recv, &w[e]), 0);
    double t0 = mono_s();
    cut(&r->cutter, 0);
    for (int e = 0; e < 2; e++)
        pthread_join(th[e], NULL);
    print_message("grace 300 ms: waiting receives ended after %.0f and %.0f ms\n",
                  (w[0].at - t0) * 1e3, (w[1].at - t0) * 1e3);
    for (int e = 0; e < 2; e++) {
        assert_int_equal(w[e].rc, -ECONNRESET);
        assert_true(w[e].at - t0 >= 0.25); /* not before the grace time */
        assert_int_equal(kc_transport_send_frame(r->t[e], &h, &iov, 1, KC_NO_TIMEOUT, NULL),
                         -ECONNRESET);
    }
    kc_transport_close(r->t[0]);
    kc_transport_close(r->t[1]);

    /* A listener that does not know the session (a restarted server on the
     * same address) answers at once: -ECONNRESET well before the grace. */
    k->ra.grace_ns = k->rb.grace_ns = 60000000000LL; /* a minute */
    assert_int_equal(kc_transport_listen(k->url, &k->ob, &lis), 0);
    assert_int_equal(kc_transport_connect(k->url, &k->oa, &r->t[0], KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_transport_accept(lis, &r->t[1], NULL, KC_NO_TIMEOUT, NULL), 0);
    kc_transport_close(r->t[1]); /* the server forgets the session */
    kc_transport_close(lis);
    kc_transport_t *lis2;
    assert_int_equal(kc_transport_listen(k->url, &k->ob, &lis2), 0);
    acceptor_t acc = {lis2, NULL, 0, 0};
    assert_int_equal(kc_cancel_create(&acc.stop, NULL), 0);
    pthread_t ath;
    assert_int_equal(pthread_create(&ath, NULL, accept_thread, &acc), 0);
    waiter_t w2 = {r->t[0], 1, 0};
    t0 = mono_s();
    assert_int_equal(pthread_create(&th[0], NULL, wait_recv, &w2), 0);
    cut(&r->cutter, 0);
    pthread_join(th[0], NULL);
    assert_int_equal(w2.rc, -ECONNRESET);
    assert_true(w2.at - t0 < 30.0);
    kc_cancel_trigger(acc.stop);
    pthread_join(ath, NULL);
    assert_int_equal(acc.extra, 0);
    kc_cancel_destroy(acc.stop);
    kc_transport_close(r->t[0]);
    kc_transport_close(lis2);
    pthread_mutex_destroy(&r->cutter.lk);
    free(k);
    free(r);
}

/* ---- a jittered start -------------------------------------------------- */

enum {
    JIT_FRAMES = 20
};

/* Frames 0..JIT_FRAMES-1 (id and a 4-byte payload i) on t. */
static void jit_send(kc_transport_t *t)
{
    for (uint32_t i = 0; i < JIT_FRAMES; i++) {
        kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, i, sizeof i};
        struct iovec iov = {&i, sizeof i};
        assert_int_equal(kc_transport_send_frame(t, &h, &iov, 1, 5000000000LL, NULL), 0);
    }
}

/* How many of jit_send's frames arrive on t, in order, within 2 s each. */
static int jit_recv(kc_transport_t *t, uint64_t seed)
{
    for (uint32_t i = 0; i < JIT_FRAMES; i++) {
        kc_frame_hdr_t h;
        void *pl = NULL;
        int rc = kc_transport_recv_frame(t, &h, &pl, 64, 2000000000LL, NULL);
        if (rc != 0) {
            print_message("seed %llu: frame %u: %s\n", (unsigned long long)seed, i,
                          kc_strerror(rc));
            return (int)i;
        }
        uint32_t v = UINT32_MAX;
        if (h.len == sizeof v)
            memcpy(&v, pl, sizeof v);
        free(pl);
        if (h.id != i || v != i)
            return (int)i;
    }
    return JIT_FRAMES;
}

/* One session over rel:sim:unix: with a delay and a jitter under both ends
 * and a first RTO of 5 s: the connector sends at once, so its first
 * segments race its NEW to the acceptor. Returns how many frames crossed,
 * both ways; *resent gains both endpoints' retransmissions. */
static int jittered_session(uint64_t seed, uint64_t *resent)
{
    kc_sim_opts_t so = KC_SIM_OPTS_INIT;
    so.netem = "delay 1ms 500us";
    so.seed = seed;
    kc_rel_opts_t ro = KC_REL_OPTS_INIT;
    ro.grace_ns = 4000000000LL;
    ro.rto_init_ns = 5000000000LL;
    ro.rto_max_ns = 10000000000LL;
    kc_rel_counters_t cnt;
    memset(&cnt, 0, sizeof cnt);
    ro.counters = &cnt;
    ro.inner = &so;
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.adapter = &ro;
    char url[96];
    snprintf(url, sizeof url, "rel:sim:unix:@kc-reljit-%d-%llu", (int)getpid(),
             (unsigned long long)seed);
    kc_transport_t *lis = NULL, *c = NULL, *a = NULL;
    assert_int_equal(kc_transport_listen(url, &o, &lis), 0);
    assert_int_equal(kc_transport_connect(url, &o, &c, 5000000000LL, NULL), 0);
    jit_send(c);
    assert_int_equal(kc_transport_accept(lis, &a, NULL, 5000000000LL, NULL), 0);
    int crossed = jit_recv(a, seed);
    jit_send(a);
    crossed += jit_recv(c, seed);
    kc_transport_close(c);
    kc_transport_close(a);
    kc_transport_close(lis);
    *resent += load(&cnt.retrans);
    return crossed;
}

typedef struct jit_arg {
    uint64_t seed, resent;
} jit_arg_t;

static int co_jittered(void *arg)
{
    jit_arg_t *j = arg;
    return jittered_session(j->seed, &j->resent);
}

static void test_rel_session_starts_over_a_jittered_link(void **state)
{
    (void)state;
    /* Opened from this thread: the pumps are threads. */
    uint64_t resent = 0;
    for (uint64_t seed = 1; seed <= 16; seed++)
        assert_int_equal(jittered_session(seed, &resent), 2 * JIT_FRAMES);
    /* Opened from a task: the pumps are coroutines of its scheduler. */
    kc_sched_t *s;
    kc_sched_opts_t opts = KC_SCHED_OPTS_INIT;
    opts.nworkers = 1;
    assert_int_equal(kc_sched_create(&s, &opts), 0);
    for (uint64_t seed = 1; seed <= 16; seed++) {
        kc_task_t *t;
        int st = -1;
        jit_arg_t j = {seed, 0};
        assert_int_equal(kc_sched_spawn(s, &t, co_jittered, &j, NULL), 0);
        assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(st, 2 * JIT_FRAMES);
        resent += j.resent;
    }
    assert_int_equal(kc_sched_destroy(s), 0);
    /* Some segment overtook NEW and went out again (else the case was not
     * met): every seed's link reorders about half of its first frames. */
    print_message("jittered starts: %llu segments sent again\n", (unsigned long long)resent);
    assert_true(resent > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rel_session_codec_and_resume_rule),
        cmocka_unit_test(test_rel_session_survives_cut_links),
        cmocka_unit_test(test_rel_session_grace_ends_in_econnreset),
        cmocka_unit_test(test_rel_session_starts_over_a_jittered_link),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
