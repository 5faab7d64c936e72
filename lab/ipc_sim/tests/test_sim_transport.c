/* test_sim_transport.c - the "sim:" scheme over in-memory pairs: every
 * frame's fate matches the decision log, delays hold, virtual time runs an
 * hour of round trips at once, and the log replays byte for byte with one
 * worker and with two. */
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

#include "kc_sim_impl.h"
#include "kcoro/sched.h"

static long scaled(long n)
{
    const char *s = getenv("KCORO_TEST_SCALE");
    long div = s ? atol(s) : 1;
    return div > 1 && n / div > 0 ? n / div : n;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A decision log kept in memory: per direction, counts and a hash of the
 * NDJSON lines (one receiver per direction writes each). */
typedef struct log {
    long frames, delivered, dropped, dups, corrupt, reorder;
    unsigned long hash;
} log_t;

typedef struct logs {
    log_t ab, ba;
} logs_t;

static void on_decision(void *arg, const char *dir, const kc_sim_decision_t *d)
{
    logs_t *L = arg;
    log_t *l = strcmp(dir, "a>b") == 0 ? &L->ab : &L->ba;
    char line[256];
    int n = kc_sim_decision_json(d, dir, line, sizeof line);
    for (int i = 0; i < n; i++)
        l->hash = l->hash * 33 + (unsigned char)line[i];
    l->frames++;
    if (d->fate & (KC_SIM_F_DROP | KC_SIM_F_LIMIT)) {
        l->dropped++;
        return;
    }
    l->delivered += d->fate & KC_SIM_F_DUP ? 2 : 1;
    l->dups += !!(d->fate & KC_SIM_F_DUP);
    l->corrupt += !!(d->fate & KC_SIM_F_CORRUPT);
    l->reorder += !!(d->fate & KC_SIM_F_REORDER);
}

typedef struct pair {
    kc_transport_t *lis, *a, *b; /* a: connector, b: acceptor */
} pair_t;

static int open_pair(pair_t *p, const char *name, kc_sim_opts_t *so)
{
    char url[96];
    snprintf(url, sizeof url, "sim:mem:%s-%d", name, (int)getpid());
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.adapter = so;
    o.sndbuf = 8u << 20; /* room for a whole test's frames: senders never wait */
    int rc = kc_transport_listen(url, &o, &p->lis);
    if (rc < 0)
        return rc;
    if ((rc = kc_transport_connect(url, &o, &p->a, KC_NO_TIMEOUT, NULL)) < 0)
        return rc;
    return kc_transport_accept(p->lis, &p->b, NULL, KC_NO_TIMEOUT, NULL);
}

static void close_pair(pair_t *p)
{
    kc_transport_close(p->a);
    kc_transport_close(p->b);
    kc_transport_close(p->lis);
}

static int send_u32(kc_transport_t *t, uint32_t v, size_t pad)
{
    uint8_t buf[256] = {0};
    memcpy(buf, &v, sizeof v);
    for (size_t i = sizeof v; i < pad; i++)
        buf[i] = (uint8_t)(v * 7 + i);
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, v, (uint32_t)pad};
    struct iovec iov = {buf, pad};
    return kc_transport_send_frame(t, &h, &iov, 1, KC_NO_TIMEOUT, NULL);
}

static int setup(void **state)
{
    (void)state;
    return kc_sim_register();
}

/* Every frame's fate is the log's: drops vanish, duplicates come twice,
 * corrupted payloads differ from what was sent in exactly one bit. */
static void test_sim_transport_fates_match_log(void **state)
{
    (void)state;
    logs_t L;
    memset(&L, 0, sizeof L);
    kc_sim_opts_t so = KC_SIM_OPTS_INIT;
    so.netem = "loss 20% duplicate 10% corrupt 10%";
    so.seed = 5;
    so.log = on_decision;
    so.log_arg = &L;
    pair_t p;
    assert_int_equal(open_pair(&p, "fates", &so), 0);
    const long n = scaled(5000);
    for (long i = 0; i < n; i++)
        assert_int_equal(send_u32(p.a, (uint32_t)i, 64), 0);
    kc_transport_close(p.a);
    p.a = NULL;
    long got = 0, flipped = 0, dups = 0;
    uint32_t last = UINT32_MAX;
    for (;;) {
        kc_frame_hdr_t h;
        void *pl = NULL;
        int rc = kc_transport_recv_frame(p.b, &h, &pl, 1024, KC_NO_TIMEOUT, NULL);
        if (rc == -EPIPE)
            break;
        assert_int_equal(rc, 0);
        assert_int_equal(h.len, 64);
        uint8_t want[64];
        uint32_t v = h.id;
        memcpy(want, &v, sizeof v);
        for (size_t i = sizeof v; i < 64; i++)
            want[i] = (uint8_t)(v * 7 + i);
        int bits = 0;
        for (int i = 0; i < 64; i++)
            bits += __builtin_popcount((unsigned)(want[i] ^ ((uint8_t *)pl)[i]));
        assert_true(bits <= 1);
        flipped += bits;
        dups += v == last;
        last = v;
        got++;
        free(pl);
    }
    assert_int_equal(L.ab.frames, n);
    assert_int_equal(got, L.ab.delivered);
    assert_int_equal(got + L.ab.dropped - L.ab.dups, n);
    assert_true(L.ab.dropped > 0 && L.ab.dups > 0 && L.ab.corrupt > 0);
    /* A corrupted frame that is also duplicated shows its bit twice, once
     * per copy, unless the flip landed in the first four bytes (the id). */
    assert_true(flipped >= L.ab.corrupt - L.ab.dups && flipped <= 2 * L.ab.corrupt);
    assert_true(dups <= L.ab.dups);
    kc_transport_close(p.b);
    kc_transport_close(p.lis);
}

/* Real time: a frame is never handed out before its delay has passed, and
 * frames still in flight when the sender closes are delivered before the
 * end of the stream. */
static void test_sim_transport_delay_holds_frames(void **state)
{
    (void)state;
    kc_sim_opts_t so = KC_SIM_OPTS_INIT;
    so.netem = "delay 30ms";
    pair_t p;
    assert_int_equal(open_pair(&p, "delay", &so), 0);
    int64_t t0 = mono_ns();
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(send_u32(p.a, i, 8), 0);
    kc_transport_close(p.a);
    p.a = NULL;
    kc_frame_hdr_t h;
    void *pl;
    assert_int_equal(kc_transport_recv_frame(p.b, &h, &pl, 64, 0, NULL), -EAGAIN);
    for (uint32_t i = 0; i < 5; i++) {
        assert_int_equal(kc_transport_recv_frame(p.b, &h, &pl, 64, KC_NO_TIMEOUT, NULL), 0);
        assert_true(mono_ns() - t0 >= 30000000);
        assert_int_equal(h.id, i);
        free(pl);
    }
    assert_int_equal(kc_transport_recv_frame(p.b, &h, &pl, 64, KC_NO_TIMEOUT, NULL), -EPIPE);
    kc_transport_close(p.b);
    kc_transport_close(p.lis);
}

/* Virtual time: frames sent at the same instant come out ordered by their
 * delivery times; the reordered ones (delay skipped) first. */
static void test_sim_transport_virtual_reorder(void **state)
{
    (void)state;
    logs_t L;
    memset(&L, 0, sizeof L);
    kc_sim_clock_t *clk;
    assert_int_equal(kc_sim_clock_create(&clk), 0);
    kc_sim_opts_t so = KC_SIM_OPTS_INIT;
    so.netem = "delay 20ms reorder 30% gap 2";
    so.seed = 9;
    so.clock = clk;
    so.log = on_decision;
    so.log_arg = &L;
    pair_t p;
    assert_int_equal(open_pair(&p, "vreorder", &so), 0);
    for (uint32_t i = 0; i < 200; i++)
        assert_int_equal(send_u32(p.a, i, 4), 0);
    int seen_delayed = 0, early = 0;
    for (int i = 0; i < 200; i++) {
        kc_frame_hdr_t h;
        void *pl;
        assert_int_equal(kc_transport_recv_frame(p.b, &h, &pl, 64, KC_NO_TIMEOUT, NULL), 0);
        int64_t now = kc_sim_clock_now(clk);
        assert_true(now == 0 || now == 20000000);
        if (now == 0) {
            assert_false(seen_delayed); /* every skipped frame comes first */
            early++;
        } else {
            seen_delayed = 1;
        }
        free(pl);
    }
    assert_int_equal(early, L.ab.reorder);
    assert_true(early > 0 && early < 200);
    assert_int_equal(kc_sim_clock_destroy(clk), -EBUSY); /* endpoints still use it */
    close_pair(&p);
    assert_int_equal(kc_sim_clock_destroy(clk), 0);
}

/* An hour of 100 ms round trips (50 ms each way) in virtual time. */
typedef struct echo {
    kc_transport_t *t;
    long rounds;
    int rc;
} echo_t;

static void *echo_server(void *arg)
{
    echo_t *e = arg;
    for (long i = 0; i < e->rounds; i++) {
        kc_frame_hdr_t h;
        void *pl;
        int rc = kc_transport_recv_frame(e->t, &h, &pl, 64, KC_NO_TIMEOUT, NULL);
        if (rc < 0) {
            e->rc = rc;
            return NULL;
        }
        struct iovec iov = {pl, h.len};
        rc = kc_transport_send_frame(e->t, &h, &iov, 1, KC_NO_TIMEOUT, NULL);
        free(pl);
        if (rc < 0) {
            e->rc = rc;
            return NULL;
        }
    }
    return NULL;
}

static void test_sim_transport_virtual_hour(void **state)
{
    (void)state;
    kc_sim_clock_t *clk;
    assert_int_equal(kc_sim_clock_create(&clk), 0);
    kc_sim_opts_t so = KC_SIM_OPTS_INIT;
    so.netem = "delay 50ms";
    so.clock = clk;
    pair_t p;
    assert_int_equal(open_pair(&p, "vhour", &so), 0);
    const long rounds = scaled(36000); /* 3600 s / 100 ms */
    echo_t e = {p.b, rounds, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, echo_server, &e), 0);
    int64_t wall = mono_ns();
    for (long i = 0; i < rounds; i++) {
        assert_int_equal(send_u32(p.a, (uint32_t)i, 16), 0);
        kc_frame_hdr_t h;
        void *pl;
        assert_int_equal(kc_transport_recv_frame(p.a, &h, &pl, 64, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(h.id, (uint32_t)i);
        free(pl);
    }
    pthread_join(th, NULL);
    wall = mono_ns() - wall;
    assert_int_equal(e.rc, 0);
    assert_int_equal(kc_sim_clock_now(clk), rounds * 100000000LL);
    print_message("      %ld virtual round trips (%.0f s simulated) in %.2f s of wall time\n",
                  rounds, rounds * 0.1, wall / 1e9);
    /* Virtual time also bounds waits: a receive with nothing due within its
     * timeout moves the clock by the timeout and says so. */
    assert_int_equal(send_u32(p.a, 1, 4), 0);
    kc_frame_hdr_t h;
    void *pl;
    int64_t before = kc_sim_clock_now(clk);
    assert_int_equal(kc_transport_recv_frame(p.b, &h, &pl, 64, 10000000, NULL), -ETIME);
    assert_int_equal(kc_sim_clock_now(clk), before + 10000000);
    assert_int_equal(kc_transport_recv_frame(p.b, &h, &pl, 64, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_sim_clock_now(clk), before + 50000000);
    free(pl);
    close_pair(&p);
    assert_int_equal(kc_sim_clock_destroy(clk), 0);
}

/* The decision log replays byte for byte from its seed, with one worker and
 * with two: two impaired streams run at once, each a sending and a
 * receiving coroutine. */
typedef struct stream {
    kc_transport_t *t;
    long n;
    long got;
    int rc;
} stream_t;

static int co_send_then_close(void *arg)
{
    stream_t *s = arg;
    for (long i = 0; i < s->n; i++)
        if ((s->rc = send_u32(s->t, (uint32_t)i, (size_t)(4 + i % 200))) < 0)
            break;
    kc_transport_close(s->t); /* the receiver drains, then sees -EPIPE */
    return 0;
}

static int co_recv_all(void *arg)
{
    stream_t *s = arg;
    for (;;) {
        kc_frame_hdr_t h;
        void *pl;
        int rc = kc_transport_recv_frame(s->t, &h, &pl, 1024, KC_NO_TIMEOUT, NULL);
        if (rc == -EPIPE)
            return 0;
        if (rc < 0) {
            s->rc = rc;
            return 1;
        }
        s->got++;
        free(pl);
    }
}

static void run_streams(int workers, uint64_t seed, logs_t L[2])
{
    kc_sched_t *s;
    kc_sched_opts_t opts = KC_SCHED_OPTS_INIT;
    opts.nworkers = workers;
    assert_int_equal(kc_sched_create(&s, &opts), 0);
    kc_sim_clock_t *clk;
    assert_int_equal(kc_sim_clock_create(&clk), 0);
    const long n = scaled(20000);
    pair_t p[2];
    stream_t tx[2], rx[2];
    kc_task_t *t[4];
    for (int k = 0; k < 2; k++) {
        memset(&L[k], 0, sizeof L[k]);
        kc_sim_opts_t so = KC_SIM_OPTS_INIT;
        so.netem = "loss 5% duplicate 1% reorder 10% gap 3 delay 5ms 2ms corrupt 0.1%";
        so.seed = seed + (uint64_t)k;
        so.clock = clk;
        so.log = on_decision;
        so.log_arg = &L[k];
        char name[32];
        snprintf(name, sizeof name, "replay%d-%d", workers, k);
        assert_int_equal(open_pair(&p[k], name, &so), 0);
        tx[k] = (stream_t){p[k].a, n, 0, 0};
        rx[k] = (stream_t){p[k].b, 0, 0, 0};
        assert_int_equal(kc_sched_spawn(s, &t[2 * k], co_recv_all, &rx[k], NULL), 0);
        assert_int_equal(kc_sched_spawn(s, &t[2 * k + 1], co_send_then_close, &tx[k], NULL), 0);
    }
    for (int i = 0; i < 4; i++) {
        int st = -1;
        assert_int_equal(kc_sched_join(t[i], &st, KC_NO_TIMEOUT, NULL), 0);
        assert_int_equal(st, 0);
    }
    for (int k = 0; k < 2; k++) {
        assert_int_equal(tx[k].rc, 0);
        assert_int_equal(rx[k].rc, 0);
        assert_int_equal(L[k].ab.frames, n);
        assert_int_equal(rx[k].got, L[k].ab.delivered);
        kc_transport_close(p[k].b);
        kc_transport_close(p[k].lis);
    }
    kc_sched_shutdown(s, KC_SCHED_SHUTDOWN_GRACEFUL);
    kc_sched_destroy(s);
    assert_int_equal(kc_sim_clock_destroy(clk), 0);
}

static void test_sim_transport_replay_one_and_two_workers(void **state)
{
    (void)state;
    logs_t one[2], two[2], again[2], other[2];
    run_streams(1, 77, one);
    run_streams(2, 77, two);
    run_streams(1, 77, again);
    run_streams(2, 78, other);
    for (int k = 0; k < 2; k++) {
        assert_true(one[k].ab.hash == two[k].ab.hash);
        assert_true(one[k].ab.hash == again[k].ab.hash);
        assert_int_equal(one[k].ab.delivered, two[k].ab.delivered);
        assert_true(one[k].ab.dropped > 0 && one[k].ab.reorder > 0);
    }
    assert_true(one[0].ab.hash != one[1].ab.hash); /* seeds 77 and 78 */
    assert_true(one[1].ab.hash == other[0].ab.hash);
}

/* Bad words, unknown inner schemes and absent peers come back as errors;
 * KCORO_SIM supplies the words when the options name none. */
static void test_sim_transport_errors_and_env(void **state)
{
    (void)state;
    kc_sim_opts_t so = KC_SIM_OPTS_INIT;
    so.netem = "delay soon";
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.adapter = &so;
    kc_transport_t *t = NULL;
    assert_int_equal(kc_transport_listen("sim:mem:bad", &o, &t), -EINVAL);
    assert_int_equal(kc_transport_connect("sim:mem:bad", &o, &t, 0, NULL), -EINVAL);
    so.netem = NULL;
    assert_int_equal(kc_transport_connect("sim:nowhere:x", &o, &t, 0, NULL), -ENOTSUP);
    assert_int_equal(kc_transport_connect("sim:mem:nobody-listens", &o, &t, 0, NULL),
                     -ECONNREFUSED);
    kc_sim_opts_t small = so;
    small.size = 8;
    o.adapter = &small;
    assert_int_equal(kc_transport_connect("sim:mem:x", &o, &t, 0, NULL), -EINVAL);
    assert_null(t);
    assert_int_equal(kc_sim_register(), 0); /* again: idempotent */

    logs_t L;
    memset(&L, 0, sizeof L);
    assert_int_equal(setenv("KCORO_SIM", "loss 100%", 1), 0);
    kc_sim_opts_t env = KC_SIM_OPTS_INIT;
    env.log = on_decision;
    env.log_arg = &L;
    pair_t p;
    assert_int_equal(open_pair(&p, "env", &env), 0);
    unsetenv("KCORO_SIM");
    for (uint32_t i = 0; i < 10; i++)
        assert_int_equal(send_u32(p.a, i, 8), 0);
    kc_frame_hdr_t h;
    void *pl;
    assert_int_equal(kc_transport_recv_frame(p.b, &h, &pl, 64, 0, NULL), -EAGAIN);
    assert_int_equal(L.ab.frames, 10);
    assert_int_equal(L.ab.dropped, 10);
    close_pair(&p);
}

/* With KCORO_SIM set, kc_sim_register() routes every listen and connect
 * through the simulator, whatever the URL: endpoints opened as "mem:..."
 * are sim endpoints and drop what "loss 100%" drops. KC_TRANSPORT_F_DIRECT
 * opts out; kc_transport_interpose(NULL) ends the routing; bad words in the
 * environment are -EINVAL at listen and connect. */
static void test_sim_transport_env_routes_every_url(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "mem:routed-%d", (int)getpid());
    assert_int_equal(setenv("KCORO_SIM", "loss 100%", 1), 0);
    assert_int_equal(kc_sim_register(), 0);
    kc_transport_t *lis = NULL, *a = NULL, *b = NULL, *direct = NULL;
    assert_int_equal(kc_transport_listen(url, NULL, &lis), 0);
    assert_string_equal(kc_transport_scheme(lis), "sim");
    assert_int_equal(kc_transport_connect(url, NULL, &a, KC_NO_TIMEOUT, NULL), 0);
    assert_string_equal(kc_transport_scheme(a), "sim");
    assert_int_equal(kc_transport_accept(lis, &b, NULL, KC_NO_TIMEOUT, NULL), 0);
    assert_string_equal(kc_transport_scheme(b), "sim");
    for (uint32_t i = 0; i < 10; i++)
        assert_int_equal(send_u32(a, i, 8), 0);
    kc_frame_hdr_t h;
    void *pl = NULL;
    assert_int_equal(kc_transport_recv_frame(b, &h, &pl, 64, 0, NULL), -EAGAIN);

    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.flags = KC_TRANSPORT_F_DIRECT;
    char url2[64];
    snprintf(url2, sizeof url2, "mem:direct-%d", (int)getpid());
    assert_int_equal(kc_transport_listen(url2, &o, &direct), 0);
    assert_string_equal(kc_transport_scheme(direct), "mem");
    kc_transport_close(direct);
    direct = NULL;

    assert_int_equal(setenv("KCORO_SIM", "loss lots", 1), 0);
    assert_int_equal(kc_transport_listen(url2, NULL, &direct), -EINVAL);
    assert_int_equal(kc_transport_connect(url, NULL, &direct, 0, NULL), -EINVAL);
    assert_null(direct);

    assert_int_equal(kc_transport_interpose(NULL), 0);
    unsetenv("KCORO_SIM");
    assert_int_equal(kc_transport_listen(url2, NULL, &direct), 0);
    assert_string_equal(kc_transport_scheme(direct), "mem");
    kc_transport_close(direct);
    assert_int_equal(kc_transport_interpose("nosuch"), -ENOTSUP);
    kc_transport_close(a);
    kc_transport_close(b);
    kc_transport_close(lis);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_transport_fates_match_log),
        cmocka_unit_test(test_sim_transport_delay_holds_frames),
        cmocka_unit_test(test_sim_transport_virtual_reorder),
        cmocka_unit_test(test_sim_transport_virtual_hour),
        cmocka_unit_test(test_sim_transport_replay_one_and_two_workers),
        cmocka_unit_test(test_sim_transport_errors_and_env),
        cmocka_unit_test(test_sim_transport_env_routes_every_url),
    };
    return cmocka_run_group_tests_name("sim_transport", tests, setup, NULL);
}
