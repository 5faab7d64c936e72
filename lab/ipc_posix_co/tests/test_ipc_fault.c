/* test_ipc_fault.c - faults, each a test: a peer killed mid-RPC, a peer
 * that stops reading, a frame cut by close, protocol violations, a storm of
 * RPCs with random timeouts and cancels, and a CPU-bound coroutine beside
 * 1,000 RPCs on one worker. */
#include "ipc_test.h"

#include <signal.h>
#include <sys/wait.h>

/* A raw peer over the transport API: accepts, answers HELLO, then does
 * what the test says. */
struct raw {
    kc_transport_t *l, *t;
    kc_sched_t *s;
    kc_ipc_opts_t o;
    kc_ipc_conn_t *c;
    char url[108];
    int rc;
};

static int raw_connect(void *arg)
{
    struct raw *r = arg;
    r->rc = kc_ipc_connect(&r->c, r->url, &r->o, 5000 * MS, NULL);
    return 0;
}

/* Bring up an ipc connection r->c whose peer is the raw endpoint r->t.
 * hello_type is the frame type the raw peer answers with. */
static int raw_up(struct raw *r, const char *url, size_t txq, uint8_t hello_type)
{
    memset(r, 0, sizeof *r);
    snprintf(r->url, sizeof r->url, "%s", url);
    kc_sched_create(&r->s, NULL);
    r->o = (kc_ipc_opts_t)KC_IPC_OPTS_INIT;
    r->o.sched = r->s;
    r->o.tx_queue_bytes = txq;
    if (kc_transport_listen(url, NULL, &r->l) != 0)
        return -1;
    kc_task_t *t;
    kc_sched_spawn(r->s, &t, raw_connect, r, NULL);
    int rc = kc_transport_accept(r->l, &r->t, NULL, 5000 * MS, NULL);
    kc_frame_hdr_t h;
    void *p = NULL;
    if (rc == 0) /* the connection's HELLO */
        rc = kc_transport_recv_frame(r->t, &h, &p, KC_HELLO_MAX_SIZE, 5000 * MS, NULL);
    free(p);
    kc_hello_t hello;
    kc_hello_init(&hello);
    uint8_t hb[64];
    int n = kc_hello_encode(&hello, hb, sizeof hb);
    h = (kc_frame_hdr_t){KC_WIRE_VERSION, hello_type, 0, 0, 0, (uint32_t)n};
    struct iovec v = {hb, (size_t)n};
    if (rc == 0)
        rc = kc_transport_send_frame(r->t, &h, &v, 1, 5000 * MS, NULL);
    kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
    return rc < 0 ? rc : r->rc;
}

static void raw_down(struct raw *r)
{
    kc_ipc_close(r->c);
    kc_transport_close(r->t);
    kc_transport_close(r->l);
    kc_sched_destroy(r->s);
}

/* Peer killed with SIGKILL mid-RPC: every outstanding future resolves with
 * -ECONNRESET promptly and the awaiter map is empty. */
static void test_peer_killed_mid_rpc(void **state)
{
    (void)state;
    char url[108];
    ipc_unix_url(url, sizeof url, "kill");
    pid_t pid = fork();
    if (pid == 0) {
        struct ipc_env e;
        memset(&e, 0, sizeof e);
        kc_sched_create(&e.s, NULL);
        kc_rpc_router_create(&e.router);
        kc_rpc_router_add(e.router, CMD_ECHO, h_echo, NULL);
        kc_rpc_router_add(e.router, CMD_HANG, h_hang, NULL);
        e.opts = (kc_ipc_opts_t)KC_IPC_OPTS_INIT;
        e.opts.sched = e.s;
        e.opts.router = e.router;
        if (kc_ipc_listen(&e.srv, url, &e.opts) != 0)
            _exit(1);
        for (;;) /* serve until killed */
            if (kc_ipc_accept(e.srv, &e.svc, KC_NO_TIMEOUT, NULL) != 0)
                _exit(2);
    }
    kc_sched_t *s;
    kc_sched_create(&s, NULL);
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.sched = s;
    kc_ipc_conn_t *c = NULL;
    int rc = -1;
    for (int i = 0; i < 5000 && (rc = kc_ipc_connect(&c, url, &o, 1000 * MS, NULL)) != 0; i++)
        ipc_usleep(1000);
    assert_int_equal(rc, 0);
    assert_int_equal(kc_rpc_call(c, CMD_ECHO, 0, "x", 1, 5000 * MS, NULL, NULL, NULL), 0);
    enum {
        N = 100
    };
    kc_rpc_future_t *f[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(kc_rpc_send_async(c, CMD_HANG, 0, NULL, 0, NULL, &f[i]), 0);
    assert_int_equal(kc_rpc_await(f[0], 20 * MS, NULL, NULL, NULL, NULL), -ETIME);
    assert_int_equal(env_stats(c).outstanding, N - 1);
    int64_t t0 = ipc_now();
    kill(pid, SIGKILL);
    int resets = 0;
    for (int i = 1; i < N; i++)
        resets += kc_rpc_await(f[i], 5000 * MS, NULL, NULL, NULL, NULL) == -ECONNRESET;
    int64_t took = ipc_now() - t0;
    int wst;
    waitpid(pid, &wst, 0);
    assert_int_equal(resets, N - 1);
    assert_int_equal(env_stats(c).outstanding, 0);
    assert_int_equal(kc_ipc_wait_dead(c, 0, NULL), -ECONNRESET);
    print_message("    %d futures resolved -ECONNRESET %.2f ms after SIGKILL\n", N - 1,
                  (double)took / 1e6);
    assert_true(took < 1000 * MS); /* the gate is 100 ms; generous under sanitizers */
    assert_int_equal(kc_rpc_send_async(c, CMD_ECHO, 0, NULL, 0, NULL, &f[0]), -EPIPE);
    kc_ipc_close(c);
    kc_sched_destroy(s);
    unlink(url + 5);
}

/* A peer that stops reading: the sender's queue stays under its bound and
 * its callers get -EAGAIN or their timeout. */
static void test_slow_reader_bounds_the_sender(void **state)
{
    (void)state;
    char url[108];
    ipc_unix_url(url, sizeof url, "slow");
    struct raw r;
    enum {
        CAP = 64 * 1024,
        MSG = 4096
    };
    assert_int_equal(raw_up(&r, url, CAP, KC_FRAME_HELLO), 0);
    static uint8_t b[MSG];
    long sent = 0;
    int rc;
    kc_rpc_future_t *f;
    /* fill until the queue stays full and unchanged across three pauses of
     * 50 ms: tx has filled the socket's buffers by then (on a loaded host
     * tx may still be moving the queue into them after the first refusals) */
    uint64_t last = UINT64_MAX;
    for (int full = 0; full < 3 && sent < 100000;) {
        rc = kc_rpc_send_async(r.c, CMD_ECHO, 0, b, sizeof b, NULL, &f);
        if (rc == 0) {
            kc_rpc_cancel(f);
            sent++;
            full = 0;
        } else {
            assert_int_equal(rc, -EAGAIN);
            ipc_usleep(50000);
            uint64_t q = env_stats(r.c).tx_queued;
            full = q == last ? full + 1 : 0;
            last = q;
        }
    }
    kc_ipc_stats_t st = env_stats(r.c);
    assert_true(st.tx_queued >= CAP - (MSG + KC_RPC_PREFIX_SIZE));
    assert_true(st.tx_queued < CAP + MSG + KC_RPC_PREFIX_SIZE);
    /* what went out is what the kernel buffers hold: bounded, not growing */
    assert_true(sent < 2000);
    assert_int_equal(kc_rpc_send_timed(r.c, CMD_ECHO, 0, b, sizeof b, 20 * MS, NULL, NULL, &f),
                     -ETIME);
    assert_int_equal(kc_rpc_call(r.c, CMD_ECHO, 0, b, sizeof b, 20 * MS, NULL, NULL, NULL), -ETIME);
    assert_int_equal(env_stats(r.c).tx_queued, st.tx_queued);
    /* a local close resolves what is pending with -EPIPE */
    raw_down(&r);
}

/* A half-written frame followed by close: -ECONNRESET for the futures. */
static void test_half_frame_then_close(void **state)
{
    (void)state;
    char url[108];
    ipc_unix_url(url, sizeof url, "half");
    struct raw r;
    assert_int_equal(raw_up(&r, url, 0, KC_FRAME_HELLO), 0);
    kc_rpc_future_t *f;
    uint32_t id;
    assert_int_equal(kc_rpc_send_async(r.c, CMD_ECHO, 0, "abc", 3, &id, &f), 0);
    kc_frame_hdr_t h;
    void *p = NULL;
    assert_int_equal(kc_transport_recv_frame(r.t, &h, &p, 1 << 16, 5000 * MS, NULL), 0);
    assert_int_equal(h.type, KC_FRAME_REQUEST);
    assert_int_equal(h.id, id);
    assert_int_equal(h.len, KC_RPC_PREFIX_SIZE + 3);
    free(p);
    uint8_t raw[16 + 50];
    h = (kc_frame_hdr_t){KC_WIRE_VERSION, KC_FRAME_REPLY, 0, 0, id, 100};
    kc_frame_encode(&h, raw);
    memset(raw + 16, 0, 50);
    int fd = kc_transport_poll_handle(r.t);
    assert_int_equal(write(fd, raw, sizeof raw), (ssize_t)sizeof raw);
    kc_transport_close(r.t);
    r.t = NULL;
    assert_int_equal(kc_rpc_await(f, 5000 * MS, NULL, NULL, NULL, NULL), -ECONNRESET);
    assert_int_equal(kc_ipc_wait_dead(r.c, 0, NULL), -ECONNRESET);
    raw_down(&r);
}

/* Protocol violations: a first frame that is not HELLO; a frame longer than
 * the negotiated max frame (no allocation: the length is checked first);
 * a frame type the connection does not speak. */
static void test_protocol_violations_end_the_connection(void **state)
{
    (void)state;
    char url[64];
    struct raw r;
    ipc_mem_url(url, sizeof url, "viol");
    assert_int_equal(raw_up(&r, url, 0, KC_FRAME_PING), -EPROTO);
    assert_null(r.c);
    raw_down(&r);

    static const struct {
        uint8_t type;
        uint32_t len;
        int want;
    } cases[] = {{KC_FRAME_REPLY, KC_FRAME_MAX_DEFAULT + 1, -EMSGSIZE},
                 {KC_FRAME_TYPE_MAX + 1, 4, -EPROTO},
                 {KC_FRAME_SEG, 4, -EPROTO}, /* the reliability layer's frames */
                 {KC_FRAME_ACK, 4, -EPROTO}, /* never reach a connection */
                 {KC_FRAME_HELLO, 4, -EPROTO},
                 {KC_FRAME_REQUEST, 3, -EPROTO}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ipc_unix_url(url, sizeof url, "viol");
        assert_int_equal(raw_up(&r, url, 0, KC_FRAME_HELLO), 0);
        kc_rpc_future_t *f;
        assert_int_equal(kc_rpc_send_async(r.c, CMD_ECHO, 0, NULL, 0, NULL, &f), 0);
        uint8_t raw[16 + 4] = {0};
        kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_PING, 0, 0, 1, cases[i].len};
        kc_frame_encode(&h, raw);
        raw[1] = cases[i].type; /* encode refuses an unknown type; the peer may not */
        int fd = kc_transport_poll_handle(r.t);
        assert_int_equal(write(fd, raw, sizeof raw), (ssize_t)sizeof raw);
        assert_int_equal(kc_rpc_await(f, 5000 * MS, NULL, NULL, NULL, NULL), cases[i].want);
        assert_int_equal(kc_ipc_wait_dead(r.c, 0, NULL), cases[i].want);
        raw_down(&r);
    }
}

/* The storm: many coroutines, random timeouts and cancels. Every future
 * resolves exactly once; both ends' counters agree; nothing leaks. */
struct storm {
    struct ipc_env *e;
    int id;
    long n;
    long ok, etime, ecanceled, ebusy, other;
    int last_other;
};

static int storm_one(void *arg)
{
    struct storm *s = arg;
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(s->id + 1);
    for (long i = 0; i < s->n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int ms = (int)(x % 8);                          /* handler sleeps 0..7 ms */
        int64_t to = (int64_t)(2 + (x >> 8) % 40) * MS; /* caller waits 2..41 ms */
        int mode = (int)((x >> 16) % 8);                /* 0: cancel token, 1: kc_rpc_cancel */
        if (mode == 7) { /* a patient call: the storm has successes however slow the host */
            ms = 0;
            to = 10000 * MS;
        }
        kc_rpc_future_t *f;
        int rc = kc_rpc_send_timed(s->e->cli, CMD_SLOW, (uint32_t)s->id, &ms, sizeof ms, to, NULL,
                                   NULL, &f);
        if (rc == 0 && mode == 1) {
            kc_sched_yield();
            kc_rpc_cancel(f);
            rc = -ECANCELED;
        } else if (rc == 0 && mode == 0) {
            kc_cancel_t *tok;
            kc_cancel_create(&tok, NULL);
            kc_cancel_trigger(tok);
            rc = kc_rpc_await(f, to, tok, NULL, NULL, NULL);
            kc_cancel_destroy(tok);
        } else if (rc == 0) {
            void *out = NULL;
            size_t len = 0;
            rc = kc_rpc_await(f, to, NULL, NULL, &out, &len);
            if (rc == 0 && (len != sizeof ms || memcmp(out, &ms, sizeof ms) != 0))
                rc = -EPROTO;
            free(out);
        }
        if (rc == 0)
            s->ok++;
        else if (rc == -ETIME)
            s->etime++;
        else if (rc == -ECANCELED)
            s->ecanceled++;
        else if (rc == -EBUSY)
            s->ebusy++; /* refused: max_handlers abandoned handlers still running */
        else {
            s->other++;
            s->last_other = rc;
        }
    }
    return 0;
}

static int storm_all(void *arg)
{
    struct storm *v = arg;
    int n = v[0].id; /* count in the first slot's id, see below */
    kc_task_t **t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++)
        kc_sched_spawn(kc_sched_current(), &t[i], storm_one, &v[i + 1], NULL);
    for (int i = 0; i < n; i++)
        kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL);
    free(t);
    return 0;
}

/* DATA and CHAN frames on a connection with no channel layer attached
 * are dropped and counted (refused), a CHAN one is answered by an empty
 * CHAN; the connection lives on. */
static void test_chan_frames_without_a_layer_are_dropped(void **state)
{
    (void)state;
    char url[108];
    ipc_unix_url(url, sizeof url, "nolayer");
    struct raw r;
    assert_int_equal(raw_up(&r, url, 0, KC_FRAME_HELLO), 0);
    uint8_t raw[2 * (16 + 4)] = {0};
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 7, 1, 4};
    kc_frame_encode(&h, raw);
    h.type = KC_FRAME_CHAN;
    kc_frame_encode(&h, raw + 20);
    int fd = kc_transport_poll_handle(r.t);
    assert_int_equal(write(fd, raw, sizeof raw), (ssize_t)sizeof raw);
    /* a PING after them is answered: the frames before it were read */
    h = (kc_frame_hdr_t){KC_WIRE_VERSION, KC_FRAME_PING, 0, 0, 42, 0};
    assert_int_equal(kc_transport_send_frame(r.t, &h, NULL, 0, 5000 * MS, NULL), 0);
    void *p = NULL;
    /* the CHAN frame is answered by an empty CHAN (no layer here), then PONG */
    assert_int_equal(kc_transport_recv_frame(r.t, &h, &p, 1 << 16, 5000 * MS, NULL), 0);
    assert_int_equal(h.type, KC_FRAME_CHAN);
    assert_int_equal(h.chan_id, 7);
    assert_int_equal(h.id, 1);
    assert_int_equal(h.len, 0);
    free(p);
    p = NULL;
    assert_int_equal(kc_transport_recv_frame(r.t, &h, &p, 1 << 16, 5000 * MS, NULL), 0);
    free(p);
    assert_int_equal(h.type, KC_FRAME_PONG);
    assert_int_equal(h.id, 42);
    kc_ipc_stats_t st = env_stats(r.c);
    assert_int_equal(st.refused, 2);
    assert_int_equal(st.dead_rc, 0);
    raw_down(&r);
}

static void test_storm_every_future_resolves_once(void **state)
{
    (void)state;
    char url[108];
    ipc_unix_url(url, sizeof url, "storm");
    struct ipc_env e;
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.max_handlers = 8192; /* abandoned handlers linger until they see their cancel */
    assert_int_equal(env_up(&e, url, 2, &o), 0);
    int ncoro = 1000;
    long per = ipc_scaled(10); /* KCORO_TEST_FULL=1: 100 each, 100,000 RPCs */
    struct storm *v = calloc((size_t)ncoro + 1, sizeof *v);
    v[0].id = ncoro;
    for (int i = 1; i <= ncoro; i++)
        v[i] = (struct storm){&e, i, per, 0, 0, 0, 0, 0, 0};
    kc_task_t *t;
    kc_sched_spawn(e.s, &t, storm_all, v, NULL);
    kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
    long ok = 0, etime = 0, ecanceled = 0, ebusy = 0, other = 0;
    int last_other = 0;
    for (int i = 1; i <= ncoro; i++) {
        if (v[i].other)
            last_other = v[i].last_other;
        ok += v[i].ok;
        etime += v[i].etime;
        ecanceled += v[i].ecanceled;
        ebusy += v[i].ebusy;
        other += v[i].other;
    }
    print_message("    %ld RPCs: %ld ok, %ld -ETIME, %ld -ECANCELED, %ld -EBUSY, %ld other (%s)\n",
                  ncoro * per, ok, etime, ecanceled, ebusy, other, kc_errname(last_other));
    assert_int_equal(ok + etime + ecanceled + ebusy + other, ncoro * per);
    assert_int_equal(other, 0);
    assert_true(ok > 0 && etime > 0 && ecanceled > 0);
    /* quiesce: every handler done, one more call, then wait (bounded) until
     * the server has counted a reply to every request and the client has
     * taken or dropped each of them (a reply is counted once it is out,
     * and nothing promises that the last call's reply is the last reply
     * on the stream) */
    for (int i = 0; i < 10000 && env_stats(e.svc).handlers > 0; i++)
        ipc_usleep(1000);
    assert_int_equal(env_stats(e.svc).handlers, 0);
    assert_int_equal(kc_rpc_call(e.cli, CMD_ECHO, 0, NULL, 0, 5000 * MS, NULL, NULL, NULL), 0);
    kc_ipc_stats_t c = env_stats(e.cli), s = env_settled(e.svc, c.req_sent);
    /* (a CANCEL, too, is counted once it is out: it may arrive first) */
    for (int64_t t0 = ipc_now();
         (c.replies_taken + c.late_replies != s.replies_sent || s.cancels_in != c.cancels_sent) &&
         ipc_now() - t0 < 5000 * MS;
         c = env_stats(e.cli), s = env_stats(e.svc))
        ipc_usleep(1000);
    assert_int_equal(c.outstanding, 0);
    assert_int_equal(c.req_sent, ncoro * per + 1);
    assert_int_equal(s.req_received, c.req_sent);
    assert_int_equal(s.replies_sent, c.replies_taken + c.late_replies);
    assert_int_equal(s.replies_sent, s.req_received);
    assert_int_equal(c.replies_taken, (uint64_t)ok + 1 + (c.replies_taken - (uint64_t)ok - 1));
    assert_true(c.replies_taken >= (uint64_t)ok + 1);
    assert_int_equal(s.cancels_in, c.cancels_sent);
    /* every -EBUSY a caller saw is one of the server's refusals */
    assert_true((uint64_t)ebusy <= s.refused);
    free(v);
    env_down(&e);
}

/* One worker, 1,000 RPCs in flight and a CPU-bound coroutine beside them:
 * the CPU-bound coroutine keeps running while the RPCs are in flight (no
 * worker blocks on I/O), and every RPC completes. */
struct cpu {
    atomic_bool done;
    atomic_long chunks, chunks_in_flight;
    struct ipc_env *e;
    long ok;
};

static int cpu_hog(void *arg)
{
    struct cpu *c = arg;
    volatile uint64_t x = 1;
    while (!atomic_load(&c->done)) {
        for (int i = 0; i < 20000; i++)
            x = x * 6364136223846793005ull + 1442695040888963407ull;
        atomic_fetch_add(&c->chunks, 1);
        kc_sched_yield();
    }
    return (int)(x & 0);
}

static int cpu_rpcs(void *arg)
{
    struct cpu *c = arg;
    enum {
        N = 1000
    };
    kc_rpc_future_t **f = calloc(N, sizeof *f);
    int ms = 20;
    for (int i = 0; i < N; i++)
        if (kc_rpc_send_timed(c->e->cli, CMD_SLOW, 0, &ms, sizeof ms, 10000 * MS, NULL, NULL,
                              &f[i]) != 0)
            f[i] = NULL;
    long before = atomic_load(&c->chunks);
    for (int i = 0; i < N; i++)
        if (f[i] && kc_rpc_await(f[i], 10000 * MS, NULL, NULL, NULL, NULL) == 0)
            c->ok++;
    atomic_store(&c->chunks_in_flight, atomic_load(&c->chunks) - before);
    atomic_store(&c->done, true);
    free(f);
    return 0;
}

static void test_cpu_bound_coroutine_keeps_running_on_one_worker(void **state)
{
    (void)state;
    char url[108];
    ipc_unix_url(url, sizeof url, "cpu");
    struct ipc_env e;
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.max_handlers = 2000;
    assert_int_equal(env_up(&e, url, 1, &o), 0);
    struct cpu c;
    memset(&c, 0, sizeof c);
    c.e = &e;
    kc_task_t *a, *b;
    kc_sched_spawn(e.s, &a, cpu_hog, &c, NULL);
    kc_sched_spawn(e.s, &b, cpu_rpcs, &c, NULL);
    kc_sched_join(b, NULL, KC_NO_TIMEOUT, NULL);
    kc_sched_join(a, NULL, KC_NO_TIMEOUT, NULL);
    print_message("    1000 RPCs ok: %ld; CPU-bound chunks while they were in flight: %ld\n", c.ok,
                  (long)c.chunks_in_flight);
    assert_int_equal(c.ok, 1000);
    /* the replies took at least 20 ms; the hog ran through them */
    assert_true(c.chunks_in_flight >= 10);
    env_down(&e);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL); /* MSG_NOSIGNAL must keep us alive */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer_killed_mid_rpc),
        cmocka_unit_test(test_slow_reader_bounds_the_sender),
        cmocka_unit_test(test_half_frame_then_close),
        cmocka_unit_test(test_protocol_violations_end_the_connection),
        cmocka_unit_test(test_chan_frames_without_a_layer_are_dropped),
        cmocka_unit_test(test_storm_every_future_resolves_once),
        cmocka_unit_test(test_cpu_bound_coroutine_keeps_running_on_one_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
