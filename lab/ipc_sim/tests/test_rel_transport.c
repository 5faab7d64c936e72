/* test_rel_transport.c - the "rel:" scheme over the simulator: frames and
 * RPC cross a link that loses, duplicates, reorders, delays and corrupts,
 * and arrive all, once and in order, with one worker and with two; the
 * simulator's decisions replay from the seed; plain threads work too; a
 * peer that breaks the protocol gets -EPROTO.
 *
 * Counts: `make test` runs 20,000 elements per direction (KCORO_TEST_SCALE
 * divides them), `make test-full` (KCORO_TEST_FULL=1) the 10^6.
 * The reliability layer's timers run in real time (core/docs/
 * RELIABILITY.md says why), so these are the counts that keep the suite to
 * seconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kc_rel_impl.h"
#include "kcoro/ipc.h"
#include "kcoro/sched.h"
#include "kcoro/sim.h"

#define LOSSY "loss 5% duplicate 1% reorder 10% gap 3 delay 5ms 2ms corrupt 0.1%"

static long scaled(long n)
{
    const char *s = getenv("KCORO_TEST_SCALE");
    long div = s ? atol(s) : 1;
    return div > 1 && n / div > 0 ? n / div : n;
}

/* The element count under make test-full, else n scaled. */
static long elements(long n)
{
    return getenv("KCORO_TEST_FULL") ? 1000000 : scaled(n);
}

/* The simulator's decisions of one direction: counts and a hash of the
 * first `cap` fates (frame ordinal, fate bits, flipped bit). */
typedef struct fates {
    long frames, dropped, dups, corrupt, reorder;
    long cap;
    unsigned long hash;
} fates_t;

typedef struct log2 {
    fates_t ab, ba;
    pthread_mutex_t lk;
} log2_t;

static void on_decision(void *arg, const char *dir, const kc_sim_decision_t *d)
{
    log2_t *L = arg;
    pthread_mutex_lock(&L->lk);
    fates_t *f = strcmp(dir, "a>b") == 0 ? &L->ab : &L->ba;
    if (f->frames < f->cap) {
        unsigned long v[3] = {d->frame, d->fate, d->fate & KC_SIM_F_CORRUPT ? d->corrupt_bit : 0};
        for (int i = 0; i < 3; i++)
            f->hash = f->hash * 1000003ul + v[i];
    }
    f->frames++;
    f->dropped += !!(d->fate & (KC_SIM_F_DROP | KC_SIM_F_LIMIT));
    f->dups += !!(d->fate & KC_SIM_F_DUP);
    f->corrupt += !!(d->fate & KC_SIM_F_CORRUPT);
    f->reorder += !!(d->fate & KC_SIM_F_REORDER);
    pthread_mutex_unlock(&L->lk);
}

typedef struct link {
    kc_sim_opts_t so;
    kc_rel_opts_t ro_a, ro_b; /* connector's and listener's */
    kc_rel_counters_t ca, cb;
    kc_transport_opts_t oa, ob;
    log2_t log;
    char url[96];
} link_t;

static void link_init(link_t *k, const char *name, const char *words, uint64_t seed, long hash_cap)
{
    memset(k, 0, sizeof *k);
    pthread_mutex_init(&k->log.lk, NULL);
    k->log.ab.cap = k->log.ba.cap = hash_cap;
    k->so = (kc_sim_opts_t)KC_SIM_OPTS_INIT;
    k->so.netem = words;
    k->so.seed = seed;
    k->so.log = on_decision;
    k->so.log_arg = &k->log;
    k->ro_a = (kc_rel_opts_t)KC_REL_OPTS_INIT;
    k->ro_a.inner = &k->so;
    k->ro_a.counters = &k->ca;
    k->ro_a.mss = 2048; /* small segments: many of them, so every path runs */
    k->ro_b = k->ro_a;
    k->ro_b.counters = &k->cb;
    k->oa = (kc_transport_opts_t)KC_TRANSPORT_OPTS_INIT;
    k->oa.sndbuf = 4u << 20;
    k->ob = k->oa;
    k->oa.adapter = &k->ro_a;
    k->ob.adapter = &k->ro_b;
    snprintf(k->url, sizeof k->url, "rel:sim:mem:%s-%d", name, (int)getpid());
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

/* ---- raw frames both ways ------------------------------------------- */

/* Frame i carries i in its id and a payload of 8 + i % 3000 bytes derived
 * from i: the receiver checks order, length and every byte. */
static size_t frame_len(long i)
{
    return i % 1000 == 999 ? 3000 : 8 + (size_t)(i % 100);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fill(uint8_t *b, long i, size_t n)
{
    for (size_t k = 0; k < n; k++)
        b[k] = (uint8_t)(i * 31 + (long)k * 7);
}

typedef struct stream {
    kc_transport_t *t;
    long n;
    long got;
    int rc;
    long bad; /* frames out of order or with wrong contents */
} stream_t;

static int co_send(void *arg)
{
    stream_t *s = arg;
    uint8_t *buf = malloc(8 + 3000);
    for (long i = 0; i < s->n; i++) {
        size_t n = frame_len(i);
        fill(buf, i, n);
        kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, (uint32_t)i, (uint32_t)n};
        struct iovec iov = {buf, n};
        if ((s->rc = kc_transport_send_frame(s->t, &h, &iov, 1, KC_NO_TIMEOUT, NULL)) < 0)
            break;
    }
    free(buf);
    return 0;
}

static int co_recv(void *arg)
{
    stream_t *s = arg;
    uint8_t *want = malloc(8 + 3000);
    while (s->got < s->n) {
        kc_frame_hdr_t h;
        void *pl;
        int rc = kc_transport_recv_frame(s->t, &h, &pl, 1 << 16, KC_NO_TIMEOUT, NULL);
        if (rc < 0) {
            s->rc = rc;
            break;
        }
        size_t n = frame_len(s->got);
        fill(want, s->got, n);
        if (h.id != (uint32_t)s->got || h.len != n || memcmp(pl, want, n) != 0)
            s->bad++;
        free(pl);
        s->got++;
    }
    free(want);
    return 0;
}

typedef struct run {
    link_t k;
    stream_t tx[2], rx[2];
} run_t;

/* The body of one run, as a coroutine: both ends are opened from a
 * coroutine, so their pumps run on the scheduler. */
static int co_run(void *arg)
{
    run_t *r = arg;
    kc_transport_t *lis, *a, *b;
    int rc = kc_transport_listen(r->k.url, &r->k.ob, &lis);
    if (rc < 0)
        return rc;
    if ((rc = kc_transport_connect(r->k.url, &r->k.oa, &a, KC_NO_TIMEOUT, NULL)) < 0)
        return rc;
    if ((rc = kc_transport_accept(lis, &b, NULL, KC_NO_TIMEOUT, NULL)) < 0)
        return rc;
    r->tx[0].t = a, r->rx[0].t = b; /* a -> b */
    r->tx[1].t = b, r->rx[1].t = a; /* b -> a */
    kc_task_t *t[4];
    for (int d = 0; d < 2; d++) {
        if ((rc = kc_sched_spawn(NULL, &t[2 * d], co_recv, &r->rx[d], NULL)) < 0)
            return rc;
        if ((rc = kc_sched_spawn(NULL, &t[2 * d + 1], co_send, &r->tx[d], NULL)) < 0)
            return rc;
    }
    for (int i = 0; i < 4; i++)
        kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL);
    kc_transport_close(a);
    kc_transport_close(b);
    kc_transport_close(lis);
    return 0;
}

/* n frames each way over one rel:sim: link at once; returns after both
 * receivers have everything and both ends are closed. */
static void run_lossy_streams(run_t *r, int workers, const char *name, const char *words,
                              uint64_t seed, long n, long hash_cap)
{
    kc_sched_t *s;
    kc_sched_opts_t opts = KC_SCHED_OPTS_INIT;
    opts.nworkers = workers;
    assert_int_equal(kc_sched_create(&s, &opts), 0);
    memset(r, 0, sizeof *r);
    link_init(&r->k, name, words, seed, hash_cap);
    for (int d = 0; d < 2; d++)
        r->tx[d].n = r->rx[d].n = n;
    kc_task_t *t;
    assert_int_equal(kc_sched_spawn(s, &t, co_run, r, NULL), 0);
    int st = -1;
    assert_int_equal(kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, 0);
    assert_int_equal(kc_sched_destroy(s), 0);
    for (int d = 0; d < 2; d++) {
        assert_int_equal(r->tx[d].rc, 0);
        assert_int_equal(r->rx[d].rc, 0);
        assert_int_equal(r->rx[d].got, n);
        assert_int_equal(r->rx[d].bad, 0);
    }
}

/* Every frame arrives once, in order and intact, each way, with one
 * worker and with two; the counters add up: every segment first sent was
 * received new exactly once, every corruption the simulator made that was
 * delivered was caught by the CRC, and losses were repaired by
 * retransmission. */
static void check_lossy(int workers)
{
    run_t *r = calloc(1, sizeof *r);
    long n = elements(20000);
    double t0 = mono_s();
    run_lossy_streams(r, workers, workers == 1 ? "lossy1" : "lossy2", LOSSY, 11, n, 0);
    double took = mono_s() - t0;
    kc_rel_counters_t *ca = &r->k.ca, *cb = &r->k.cb;
    assert_int_equal(load(&ca->segs_out), load(&cb->segs_in));
    assert_int_equal(load(&cb->segs_out), load(&ca->segs_in));
    fates_t *ab = &r->k.log.ab, *ba = &r->k.log.ba;
    print_message(
        "rel %d worker(s): %.2f s, %ld frames each way; a>b %ld decided, %ld lost, %ld dup, "
        "%ld corrupt, %ld reordered; b>a %ld decided, %ld lost; retrans %lu+%lu "
        "(fast %lu+%lu, timeouts %lu+%lu), bad crc %lu, dups in %lu, srtt %.1f ms\n",
        workers, took, n, ab->frames, ab->dropped, ab->dups, ab->corrupt, ab->reorder, ba->frames,
        ba->dropped, (unsigned long)load(&ca->retrans), (unsigned long)load(&cb->retrans),
        (unsigned long)load(&ca->fast_retrans), (unsigned long)load(&cb->fast_retrans),
        (unsigned long)load(&ca->timeouts), (unsigned long)load(&cb->timeouts),
        (unsigned long)(load(&ca->bad_crc) + load(&cb->bad_crc)),
        (unsigned long)(load(&ca->dups_in) + load(&cb->dups_in)), atomic_load(&ca->srtt_ns) / 1e6);
    /* The link did impair, and the layer repaired (sums: a scaled run,
     * under TSan or Valgrind, has few frames per direction). */
    assert_true(ab->dropped + ba->dropped > 0 && ab->reorder + ba->reorder > 0);
    assert_true(load(&ca->retrans) + load(&cb->retrans) > 0);
    assert_true(load(&ca->fast_retrans) + load(&cb->fast_retrans) > 0);
    assert_true(load(&ca->dups_in) + load(&cb->dups_in) > 0);
    assert_true(load(&ca->bad_crc) + load(&cb->bad_crc) <= (uint64_t)(ab->corrupt + ba->corrupt));
    assert_true(load(&ca->rtt_samples) > 0 && atomic_load(&ca->srtt_ns) >= 3000000);
    free(r);
}

static void test_rel_lossy_frames_in_order_one_worker(void **state)
{
    (void)state;
    check_lossy(1);
}

static void test_rel_lossy_frames_in_order_two_workers(void **state)
{
    (void)state;
    check_lossy(2);
}

/* The simulator's decisions replay from the seed under the reliability
 * layer: the fates of the first frames each way (which ordinal is lost,
 * duplicated, reordered, which bit flips) are the same with one worker and
 * with two, and differ for another seed. Which segment is the n-th frame
 * depends on real-time timers, so the comparison is of the fate sequence. */
static void test_rel_lossy_replays_by_seed(void **state)
{
    (void)state;
    long n = 2000;     /* not scaled: the fates of 40 frames must differ by seed */
    long cap = n / 50; /* frames coalesce: 2000 frames make ~75 segments each way */
    run_t *one = calloc(1, sizeof *one), *two = calloc(1, sizeof *two),
          *other = calloc(1, sizeof *other);
    run_lossy_streams(one, 1, "replay1", LOSSY, 21, n, cap);
    run_lossy_streams(two, 2, "replay2", LOSSY, 21, n, cap);
    run_lossy_streams(other, 1, "replay3", LOSSY, 22, n, cap);
    assert_true(one->k.log.ab.frames >= cap && two->k.log.ab.frames >= cap);
    /* a>b is the acceptor's ingress, seeded by the seed and the accept's
     * ordinal on its (fresh) listener; b>a's seed also counts the
     * process's connects, so it differs between runs by design. */
    assert_true(one->k.log.ab.hash == two->k.log.ab.hash);
    assert_true(one->k.log.ab.hash != other->k.log.ab.hash);
    free(one);
    free(two);
    free(other);
}

/* ---- RPC ------------------------------------------------------------ */

typedef struct rpc_run {
    link_t k;
    long n;
    _Atomic uint32_t *seen; /* how often the server ran request i */
    long wrong;             /* replies that do not match their request */
    int rc;
    kc_ipc_server_t *srv;
    kc_rpc_router_t *router;
} rpc_run_t;

static int h_echo(const kc_rpc_req_t *req, void *arg, void **out, size_t *out_len)
{
    rpc_run_t *r = arg;
    uint64_t v;
    if (req->len != 64)
        return -EINVAL;
    memcpy(&v, req->payload, sizeof v);
    if (v >= (uint64_t)r->n)
        return -EINVAL;
    atomic_fetch_add_explicit(&r->seen[v], 1, memory_order_relaxed);
    uint64_t *rep = malloc(sizeof *rep);
    if (!rep)
        return -ENOMEM;
    *rep = v * 3 + 1;
    *out = rep;
    *out_len = sizeof *rep;
    return 0;
}

static int co_serve(void *arg)
{
    rpc_run_t *r = arg;
    kc_ipc_conn_t *c;
    int rc = kc_ipc_accept(r->srv, &c, KC_NO_TIMEOUT, NULL);
    if (rc < 0)
        return rc;
    kc_ipc_wait_dead(c, KC_NO_TIMEOUT, NULL);
    kc_ipc_close(c);
    return 0;
}

/* The client keeps 256 requests in flight; request i carries i, and its
 * reply must be 3i + 1. */
static int co_client(void *arg)
{
    rpc_run_t *r = arg;
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.transport = &r->k.oa;
    kc_ipc_conn_t *c;
    int rc = kc_ipc_connect(&c, r->k.url, &o, KC_NO_TIMEOUT, NULL);
    if (rc < 0)
        return r->rc = rc;
    enum {
        W = 256
    };
    kc_rpc_future_t *f[W];
    long head = 0;
    for (long i = 0; i < r->n + W; i++) {
        if (i >= W) { /* the oldest request's reply */
            long j = i - W;
            void *rep = NULL;
            size_t len = 0;
            int res;
            rc = kc_rpc_await(f[j % W], KC_NO_TIMEOUT, NULL, &res, &rep, &len);
            uint64_t v = 0;
            if (rc == 0 && len == sizeof v)
                memcpy(&v, rep, sizeof v);
            if (rc != 0 || len != sizeof v || v != (uint64_t)j * 3 + 1)
                r->wrong++;
            free(rep);
            head = j + 1;
        }
        if (i < r->n) {
            uint8_t req[64] = {0};
            uint64_t v = (uint64_t)i;
            memcpy(req, &v, sizeof v);
            while ((rc = kc_rpc_send_async(c, 1, 7, req, sizeof req, NULL, &f[i % W])) == -EAGAIN)
                kc_sched_yield();
            if (rc < 0) {
                r->rc = rc;
                break;
            }
        }
    }
    (void)head;
    kc_ipc_shutdown(c, 10 * 1000000000LL, NULL);
    kc_ipc_close(c);
    return 0;
}

static void check_rpc(int workers)
{
    rpc_run_t *r = calloc(1, sizeof *r);
    r->n = elements(10000);
    double t0 = mono_s();
    r->seen = calloc((size_t)r->n, sizeof *r->seen);
    link_init(&r->k, workers == 1 ? "rpc1" : "rpc2", LOSSY, 31, 0);
    kc_sched_t *s;
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = workers;
    assert_int_equal(kc_sched_create(&s, &so), 0);
    assert_int_equal(kc_rpc_router_create(&r->router), 0);
    assert_int_equal(kc_rpc_router_add(r->router, 1, h_echo, r), 0);
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.sched = s;
    o.router = r->router;
    o.transport = &r->k.ob;
    assert_int_equal(kc_ipc_listen(&r->srv, r->k.url, &o), 0);
    kc_task_t *ts, *tc;
    assert_int_equal(kc_sched_spawn(s, &ts, co_serve, r, NULL), 0);
    assert_int_equal(kc_sched_spawn(s, &tc, co_client, r, NULL), 0);
    int st = -1;
    assert_int_equal(kc_sched_join(tc, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_sched_join(ts, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, 0);
    kc_ipc_server_close(r->srv);
    assert_int_equal(kc_sched_destroy(s), 0);
    kc_rpc_router_destroy(r->router);
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->wrong, 0);
    long once = 0;
    for (long i = 0; i < r->n; i++)
        once += atomic_load(&r->seen[i]) == 1;
    assert_int_equal(once, r->n);
    print_message("rpc over rel:sim: %d worker(s): %.2f s, %ld calls, a>b %ld lost of %ld, "
                  "retrans %lu+%lu\n",
                  workers, mono_s() - t0, r->n, r->k.log.ab.dropped, r->k.log.ab.frames,
                  (unsigned long)load(&r->k.ca.retrans), (unsigned long)load(&r->k.cb.retrans));
    assert_true(load(&r->k.ca.retrans) + load(&r->k.cb.retrans) > 0);
    free(r->seen);
    free(r);
}

static void test_rel_rpc_over_lossy_link_one_worker(void **state)
{
    (void)state;
    check_rpc(1);
}

static void test_rel_rpc_over_lossy_link_two_workers(void **state)
{
    (void)state;
    check_rpc(2);
}

/* ---- plain threads --------------------------------------------------- */

static void *th_send(void *arg)
{
    co_send(arg);
    return NULL;
}

/* Endpoints opened outside a scheduler run their pumps as threads, and
 * plain threads send and receive through them. */
static void test_rel_plain_threads(void **state)
{
    (void)state;
    link_t k;
    link_init(&k, "threads", "loss 5% reorder 5% delay 1ms", 41, 0);
    k.ro_a.mss = k.ro_b.mss = 256;
    kc_transport_t *lis, *a, *b;
    assert_int_equal(kc_transport_listen(k.url, &k.ob, &lis), 0);
    assert_int_equal(kc_transport_connect(k.url, &k.oa, &a, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_transport_accept(lis, &b, NULL, KC_NO_TIMEOUT, NULL), 0);
    stream_t tx = {a, 3000, 0, 0, 0}, rx = {b, 3000, 0, 0, 0}; /* under a second */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, th_send, &tx), 0);
    co_recv(&rx);
    pthread_join(th, NULL);
    assert_int_equal(tx.rc, 0);
    assert_int_equal(rx.rc, 0);
    assert_int_equal(rx.got, tx.n);
    assert_int_equal(rx.bad, 0);
    assert_true(k.log.ab.dropped > 0 && load(&k.ca.retrans) > 0);
    /* A receive with nothing to take: -EAGAIN at once, -ETIME after its
     * timeout. */
    kc_frame_hdr_t h;
    void *pl;
    assert_int_equal(kc_transport_recv_frame(b, &h, &pl, 64, 0, NULL), -EAGAIN);
    assert_int_equal(kc_transport_recv_frame(b, &h, &pl, 64, 2000000, NULL), -ETIME);
    /* The longest timeout saturates instead of overflowing. */
    uint8_t one = 7;
    struct iovec iov = {&one, 1};
    kc_frame_hdr_t sh = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, 99, 1};
    assert_int_equal(kc_transport_send_frame(a, &sh, &iov, 1, INT64_MAX, NULL), 0);
    assert_int_equal(kc_transport_recv_frame(b, &h, &pl, 64, INT64_MAX, NULL), 0);
    assert_int_equal(h.id, 99);
    assert_int_equal(*(uint8_t *)pl, 7);
    free(pl);
    kc_transport_close(a);
    kc_transport_close(b);
    kc_transport_close(lis);
}

/* ---- a peer that breaks the protocol ------------------------------- */

static int send_raw(kc_transport_t *t, const kc_frame_hdr_t *h, void *p)
{
    struct iovec iov = {p, h->len};
    return kc_transport_send_frame(t, h, &iov, h->len ? 1 : 0, KC_NO_TIMEOUT, NULL);
}

/* A raw peer speaks the wire by hand: a corrupted segment is dropped and
 * counted, a good one delivers its frame and is acknowledged, and a frame
 * of another type, an empty segment, or an ACK of what was never sent end
 * the endpoint with -EPROTO, without a crash or a leak. */
static void test_rel_bad_input_is_eproto(void **state)
{
    (void)state;
    char url[64], raw_url[64];
    snprintf(url, sizeof url, "rel:mem:relbad-%d", (int)getpid());
    snprintf(raw_url, sizeof raw_url, "mem:relbad-%d", (int)getpid());
    kc_rel_counters_t cnt;
    memset(&cnt, 0, sizeof cnt);
    kc_rel_opts_t ro = KC_REL_OPTS_INIT;
    ro.counters = &cnt;
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.adapter = &ro;
    kc_transport_t *lis;
    assert_int_equal(kc_transport_listen(url, &o, &lis), 0);
    for (int c = 0; c < 3; c++) {
        kc_transport_t *raw, *b;
        assert_int_equal(kc_transport_connect(raw_url, NULL, &raw, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(kc_transport_accept(lis, &b, NULL, KC_NO_TIMEOUT, NULL), 0);
        /* One inner frame (PING, id 9, 4 bytes) as segment 0. */
        uint8_t seg[KC_REL_SEG_HDR + KC_FRAME_HDR_SIZE + 4];
        kc_frame_hdr_t inner = {KC_WIRE_VERSION, KC_FRAME_PING, 0, 0, 9, 4};
        kc_frame_encode(&inner, seg + KC_REL_SEG_HDR);
        memcpy(seg + KC_REL_SEG_HDR + KC_FRAME_HDR_SIZE, "abcd", 4);
        kc_frame_hdr_t sh;
        assert_int_equal(
            kc__rel_seg_encode(0, 5, seg + KC_REL_SEG_HDR, KC_FRAME_HDR_SIZE + 4, &sh, seg), 0);
        kc_frame_hdr_t h;
        void *pl = NULL;
        if (c == 0) {
            seg[KC_REL_SEG_HDR + 3] ^= 0x10; /* corrupted: dropped */
            assert_int_equal(send_raw(raw, &sh, seg), 0);
            seg[KC_REL_SEG_HDR + 3] ^= 0x10;
            assert_int_equal(send_raw(raw, &sh, seg), 0);
            assert_int_equal(kc_transport_recv_frame(b, &h, &pl, 64, KC_NO_TIMEOUT, NULL), 0);
            assert_int_equal(h.type, KC_FRAME_PING);
            assert_int_equal(h.id, 9);
            assert_int_equal(h.len, 4);
            assert_memory_equal(pl, "abcd", 4);
            free(pl);
            assert_int_equal(load(&cnt.bad_crc), 1);
            /* The raw peer gets ACKs; the last says segment 0 arrived. */
            kc_frame_hdr_t ah;
            void *ap = NULL;
            kc_rel_ack_t a = {0, 0, 0, 0, {{0, 0}}};
            do {
                free(ap);
                ap = NULL;
                assert_int_equal(kc_transport_recv_frame(raw, &ah, &ap, 256, KC_NO_TIMEOUT, NULL),
                                 0);
                assert_int_equal(ah.type, KC_FRAME_ACK);
                assert_int_equal(kc__rel_ack_decode(&ah, ap, 0, &a), 0);
            } while (a.cum == 0);
            free(ap);
            assert_true(a.cum == 1 && a.ts_echo == 5 && a.window >= KC_REL_WINDOW_DEFAULT - 1);
            /* Now a frame of another type. */
            kc_frame_hdr_t ping = {KC_WIRE_VERSION, KC_FRAME_PING, 0, 0, 1, 0};
            assert_int_equal(send_raw(raw, &ping, NULL), 0);
        } else if (c == 1) {
            /* A segment with a valid CRC and no data. */
            assert_int_equal(kc__rel_seg_encode(0, 5, NULL, 0, &sh, seg), 0);
            assert_int_equal(send_raw(raw, &sh, seg), 0);
        } else {
            /* An ACK of five segments never sent. */
            kc_rel_ack_t a = {5, 0, 8, 0, {{0, 0}}};
            uint8_t ab[KC_REL_ACK_HDR];
            kc_frame_hdr_t ah;
            assert_int_equal(kc__rel_ack_encode(&a, &ah, ab, sizeof ab), KC_REL_ACK_HDR);
            assert_int_equal(send_raw(raw, &ah, ab), 0);
        }
        assert_int_equal(kc_transport_recv_frame(b, &h, &pl, 64, KC_NO_TIMEOUT, NULL), -EPROTO);
        assert_int_equal(kc_transport_recv_frame(b, &h, &pl, 64, 0, NULL), -EPROTO);
        uint8_t x = 1;
        struct iovec iov = {&x, 1};
        kc_frame_hdr_t dh = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, 1, 1};
        assert_int_equal(kc_transport_send_frame(b, &dh, &iov, 1, 0, NULL), -EPIPE);
        kc_transport_close(b);
        kc_transport_close(raw);
    }
    kc_transport_close(lis);
    /* Bad options. */
    ro.mss = 10;
    kc_transport_t *t;
    assert_int_equal(kc_transport_listen(url, &o, &t), -EINVAL);
    ro.mss = 0;
    ro.window = 1;
    assert_int_equal(kc_transport_connect(url, &o, &t, 0, NULL), -EINVAL);
    ro.window = 0;
    ro.size = 4;
    assert_int_equal(kc_transport_connect(url, &o, &t, 0, NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rel_lossy_frames_in_order_one_worker),
        cmocka_unit_test(test_rel_lossy_frames_in_order_two_workers),
        cmocka_unit_test(test_rel_lossy_replays_by_seed),
        cmocka_unit_test(test_rel_rpc_over_lossy_link_one_worker),
        cmocka_unit_test(test_rel_rpc_over_lossy_link_two_workers),
        cmocka_unit_test(test_rel_plain_threads),
        cmocka_unit_test(test_rel_bad_input_is_eproto),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
