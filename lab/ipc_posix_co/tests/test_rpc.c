/* test_rpc.c - connections and RPC: echo of every size, errors end to end,
 * timeouts and cancellation reaching the handler, GOAWAY, keep-alive,
 * limits, refusals. */
#include "ipc_test.h"

#include <pthread.h>
#include <signal.h>

static void echo_sizes(const char *url)
{
    struct ipc_env e;
    assert_int_equal(env_up(&e, url, 2, NULL), 0);
    kc_ipc_stats_t st = env_stats(e.cli);
    assert_int_equal(st.max_frame, KC_FRAME_MAX_DEFAULT);
    assert_int_equal(st.max_msg, KC_MSG_MAX_DEFAULT);
    static const size_t sizes[] = {0, 1, 64, 65528, 65529, 200000, 1 << 20};
    uint8_t *b = malloc(1 << 20);
    for (size_t i = 0; i < (1 << 20); i++)
        b[i] = (uint8_t)(i * 13 + 5);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *out = (void *)1;
        size_t len = 99;
        assert_int_equal(kc_rpc_call(e.cli, CMD_ECHO, 7, b, sizes[i], 5000 * MS, NULL, &out, &len),
                         0);
        assert_int_equal(len, sizes[i]);
        if (sizes[i] == 0)
            assert_null(out);
        else
            assert_memory_equal(out, b, sizes[i]);
        free(out);
    }
    /* messages are prefix + data, cut at 64 KiB: 1+1+1+1+2+4+17 frames
     * each way (the 1 MiB one is 17) */
    st = env_stats(e.cli);
    assert_int_equal(st.req_sent, 7);
    assert_int_equal(st.replies_taken, 7);
    assert_int_equal(st.outstanding, 0);
    assert_int_equal(st.frames_out, 27);
    assert_int_equal(st.frames_in, 27);
    kc_ipc_stats_t ss = env_settled(e.svc, 7);
    assert_int_equal(ss.req_received, 7);
    assert_int_equal(ss.replies_sent, 7);
    assert_int_equal(ipc_seen.calls, 7);
    /* over the negotiated max message: refused before anything is queued */
    kc_rpc_future_t *f;
    assert_int_equal(kc_rpc_send_async(e.cli, CMD_ECHO, 0, b, KC_MSG_MAX_DEFAULT, NULL, &f),
                     -EMSGSIZE);
    free(b);
    env_down(&e);
}

static void test_echo_every_size_over_mem(void **state)
{
    (void)state;
    char url[64];
    ipc_mem_url(url, sizeof url, "echo");
    echo_sizes(url);
}

static void test_echo_every_size_over_unix(void **state)
{
    (void)state;
    char url[108];
    ipc_unix_url(url, sizeof url, "echo");
    echo_sizes(url);
}

/* KC_RPC_INLINE: the handler runs on the server's rx coroutine (the same
 * task for every request of the connection), with the connection's token;
 * replies go out directly, through the queue, or (the queue full) through
 * a task that waits for room: every call gets its own payload back. */
enum {
    CMD_INLINE = 5
};
static kc_task_t *_Atomic inline_task;
static atomic_long inline_elsewhere, inline_fired;

static int h_inline(const kc_rpc_req_t *r, void *arg, void **out, size_t *len)
{
    kc_task_t *me = kc_sched_self(), *was = NULL;
    if (!atomic_compare_exchange_strong(&inline_task, &was, me) && was != me)
        atomic_fetch_add(&inline_elsewhere, 1);
    if (kc_cancel_is_triggered(r->cancel))
        atomic_fetch_add(&inline_fired, 1);
    return h_echo(r, arg, out, len);
}

static void inline_calls(const char *url, size_t txq, size_t size, int window, int rounds)
{
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.tx_queue_bytes = txq;
    struct ipc_env e;
    assert_int_equal(env_up(&e, url, 2, &o), 0);
    assert_int_equal(kc_rpc_router_add_flags(e.router, CMD_INLINE, h_inline, NULL, KC_RPC_INLINE),
                     0);
    atomic_store(&inline_task, NULL);
    atomic_store(&inline_elsewhere, 0);
    atomic_store(&inline_fired, 0);
    uint8_t *b = malloc(size * (size_t)window);
    kc_rpc_future_t **f = calloc((size_t)window, sizeof *f);
    long calls = 0;
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < window; i++) {
            memset(b + (size_t)i * size, (int)(round * window + i), size);
            assert_int_equal(kc_rpc_send_timed(e.cli, CMD_INLINE, 0, b + (size_t)i * size, size,
                                               KC_NO_TIMEOUT, NULL, NULL, &f[i]),
                             0);
        }
        for (int i = 0; i < window; i++) {
            int rc = -1;
            void *out = NULL;
            size_t len = 0;
            assert_int_equal(kc_rpc_await(f[i], 10000 * MS, NULL, &rc, &out, &len), 0);
            assert_int_equal(len, size);
            assert_memory_equal(out, b + (size_t)i * size, size);
            free(out);
            calls++;
        }
    }
    assert_int_equal(atomic_load(&ipc_seen.calls), calls);
    assert_int_equal(atomic_load(&inline_elsewhere), 0);
    assert_int_equal(atomic_load(&inline_fired), 0);
    kc_ipc_stats_t ss = env_settled(e.svc, (uint64_t)calls);
    assert_int_equal(ss.req_received, calls);
    assert_int_equal(ss.replies_sent, calls);
    assert_int_equal(ss.refused, 0);
    assert_int_equal(ss.handlers, 0);
    assert_int_equal(env_stats(e.cli).replies_taken, calls);
    free(f);
    free(b);
    env_down(&e);
}

static void test_inline_handler_runs_on_rx(void **state)
{
    (void)state;
    char url[108];
    ipc_unix_url(url, sizeof url, "inline");
    inline_calls(url, 0, 64, 1, 200);    /* one at a time: direct replies */
    inline_calls(url, 0, 64, 64, 20);    /* a window: batched replies */
    inline_calls(url, 1, 100000, 16, 4); /* a full queue: replies wait in tasks */
    ipc_mem_url(url, sizeof url, "inline");
    inline_calls(url, 0, 64, 64, 20);
    inline_calls(url, 1, 100000, 16, 4);
}

/* Task handlers run on runners the connection keeps: one that finished a
 * request waits for the next instead of ending, so a connection makes a
 * task only when every runner it has is busy. With one worker, calls one at
 * a time all run on one task, and windows of 16 on at most 16. A runner
 * whose token fired (a CANCEL, a deadline) gets a fresh one: the requests
 * it runs next never see a fired token. */
enum {
    CMD_WHO = 6,
    WHO_MAX = 256
};
static pthread_mutex_t who_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t who_ids[WHO_MAX];
static int who_n;
static atomic_long who_fired;

static int h_who(const kc_rpc_req_t *r, void *arg, void **out, size_t *len)
{
    uint64_t me = kc_sched_self_id();
    pthread_mutex_lock(&who_lock);
    int i = 0;
    while (i < who_n && who_ids[i] != me)
        i++;
    if (i == who_n && who_n < WHO_MAX)
        who_ids[who_n++] = me;
    pthread_mutex_unlock(&who_lock);
    if (kc_cancel_is_triggered(r->cancel))
        atomic_fetch_add(&who_fired, 1);
    return h_echo(r, arg, out, len);
}

/* The tasks seen since the last look. */
static int who_tasks(void)
{
    pthread_mutex_lock(&who_lock);
    int n = who_n;
    who_n = 0;
    pthread_mutex_unlock(&who_lock);
    return n;
}

static long who_calls(struct ipc_env *e, int window, int rounds)
{
    kc_rpc_future_t *f[16];
    uint32_t v[16];
    long n = 0;
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < window; i++) {
            v[i] = (uint32_t)(round * window + i);
            assert_int_equal(kc_rpc_send_async(e->cli, CMD_WHO, 0, &v[i], sizeof v[i], NULL, &f[i]),
                             0);
        }
        for (int i = 0; i < window; i++) {
            void *out = NULL;
            size_t len = 0;
            assert_int_equal(kc_rpc_await(f[i], 10000 * MS, NULL, NULL, &out, &len), 0);
            assert_int_equal(len, sizeof v[i]);
            assert_memory_equal(out, &v[i], sizeof v[i]);
            free(out);
            n++;
        }
    }
    return n;
}

static void runners(const char *url)
{
    struct ipc_env e;
    assert_int_equal(env_up(&e, url, 1, NULL), 0);
    assert_int_equal(kc_rpc_router_add(e.router, CMD_WHO, h_who, NULL), 0);
    who_tasks();
    atomic_store(&who_fired, 0);
    long calls = 0;
    for (uint32_t i = 0; i < 300; i++, calls++) {
        void *out = NULL;
        size_t len = 0;
        assert_int_equal(kc_rpc_call(e.cli, CMD_WHO, 0, &i, sizeof i, 5000 * MS, NULL, &out, &len),
                         0);
        assert_int_equal(len, sizeof i);
        assert_memory_equal(out, &i, sizeof i);
        free(out);
    }
    assert_int_equal(who_tasks(), 1);
    calls += who_calls(&e, 16, 30);
    int n = who_tasks();
    assert_true(n >= 1 && n <= 16);
    /* a token fired by CANCEL, then one by the deadline */
    kc_rpc_future_t *f;
    assert_int_equal(kc_rpc_send_async(e.cli, CMD_HANG, 0, NULL, 0, NULL, &f), 0);
    for (int i = 0; i < 5000 && ipc_seen.hang_running < 1; i++)
        ipc_usleep(1000);
    assert_int_equal(kc_rpc_cancel(f), 0);
    assert_int_equal(kc_rpc_call(e.cli, CMD_HANG, 0, NULL, 0, 30 * MS, NULL, NULL, NULL), -ETIME);
    for (int i = 0; i < 5000 && (ipc_seen.cancelled < 2 || env_stats(e.svc).handlers > 0); i++)
        ipc_usleep(1000);
    assert_int_equal(ipc_seen.cancelled, 2);
    assert_int_equal(env_stats(e.svc).handlers, 0);
    for (uint32_t i = 0; i < 100; i++, calls++) {
        void *out = NULL;
        size_t len = 0;
        assert_int_equal(kc_rpc_call(e.cli, CMD_WHO, 0, &i, sizeof i, 5000 * MS, NULL, &out, &len),
                         0);
        free(out);
    }
    calls += who_calls(&e, 16, 10);
    assert_int_equal(atomic_load(&who_fired), 0);
    kc_ipc_stats_t ss = env_settled(e.svc, (uint64_t)calls);
    assert_int_equal(ss.req_received, calls + 2);
    assert_int_equal(ss.refused, 0);
    assert_int_equal(ss.handlers, 0);
    assert_int_equal(ipc_seen.calls, calls);
    env_down(&e);
}

static void test_handler_tasks_are_reused(void **state)
{
    (void)state;
    char url[108];
    ipc_unix_url(url, sizeof url, "runners");
    runners(url);
    ipc_mem_url(url, sizeof url, "runners");
    runners(url);
}

/* kc_rpc_call on a quiet connection writes its own request, trying once
 * (timeout 0), only over a backend that never cuts such a frame
 * (KC_TRANSPORT_OPS_WHOLE); asynchronous sends, and every request over
 * other backends, go through tx, which waits for the link without a
 * limit. "tap:" forwards to mem and counts the request frames sent and
 * which of them were tried once. */
static kc_transport_ops_t tap_ops;
static const kc_transport_ops_t *tap_mem;
static atomic_long tap_reqs, tap_tries;

static int tap_send_frame(void *self, const kc_frame_hdr_t *h, const struct iovec *iov, int iovcnt,
                          int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (h->type == KC_FRAME_REQUEST) {
        atomic_fetch_add(&tap_reqs, 1);
        if (timeout_ns == 0)
            atomic_fetch_add(&tap_tries, 1);
    }
    return tap_mem->send_frame(self, h, iov, iovcnt, timeout_ns, cancel);
}

static void tap_calls(uint32_t flags, long calls, long window, long want_tries)
{
    tap_mem = kc_transport_lookup("mem:x");
    assert_non_null(tap_mem);
    tap_ops = *tap_mem;
    tap_ops.scheme = "tap";
    tap_ops.send_frame = tap_send_frame;
    tap_ops.send_frames = NULL; /* batches: one send_frame each */
    tap_ops.flags = flags;
    assert_int_equal(kc_transport_register(&tap_ops), 0);
    char url[64];
    snprintf(url, sizeof url, "tap:calls-%d-%u", (int)getpid(), (unsigned)flags);
    struct ipc_env e;
    assert_int_equal(env_up(&e, url, 2, NULL), 0);
    atomic_store(&tap_reqs, 0);
    atomic_store(&tap_tries, 0);
    for (long i = 0; i < calls; i++) {
        void *out = NULL;
        size_t len = 0;
        assert_int_equal(kc_rpc_call(e.cli, CMD_ECHO, 0, &i, sizeof i, 5000 * MS, NULL, &out, &len),
                         0);
        assert_int_equal(len, sizeof i);
        assert_memory_equal(out, &i, sizeof i);
        free(out);
    }
    kc_rpc_future_t *f[16];
    for (long i = 0; i < window; i++)
        assert_int_equal(kc_rpc_send_async(e.cli, CMD_ECHO, 0, &i, sizeof i, NULL, &f[i]), 0);
    for (long i = 0; i < window; i++) {
        void *out = NULL;
        size_t len = 0;
        assert_int_equal(kc_rpc_await(f[i], 5000 * MS, NULL, NULL, &out, &len), 0);
        assert_int_equal(len, sizeof i);
        assert_memory_equal(out, &i, sizeof i);
        free(out);
    }
    assert_int_equal(atomic_load(&tap_reqs), calls + window);
    assert_int_equal(atomic_load(&tap_tries), want_tries);
    /* tx counts a frame once its send returned, which may follow the
     * reply's arrival here: settle (bounded, 5 s) before reading it. */
    kc_ipc_stats_t st = env_stats(e.cli);
    for (int64_t t0 = ipc_now();
         st.frames_out < (uint64_t)(calls + window) && ipc_now() - t0 < 5000 * MS;
         st = env_stats(e.cli))
        ipc_usleep(1000);
    assert_int_equal(st.req_sent, calls + window);
    assert_int_equal(st.replies_taken, calls + window);
    assert_int_equal(st.frames_out, calls + window);
    assert_int_equal(st.outstanding, 0);
    assert_int_equal(env_settled(e.svc, (uint64_t)(calls + window)).replies_sent, calls + window);
    env_down(&e);
    assert_int_equal(kc_transport_unregister("tap"), 0);
}

static void test_a_call_writes_its_own_request(void **state)
{
    (void)state;
    tap_calls(KC_TRANSPORT_OPS_WHOLE, 200, 16, 200); /* every call itself */
    tap_calls(0, 200, 16, 0);                        /* through tx */
}

static void test_errors_travel_as_the_same_errno(void **state)
{
    (void)state;
    static const int errs[] = {EAGAIN,   ETIME,  ECANCELED, EPIPE,   ECONNREFUSED, ECONNRESET,
                               EMSGSIZE, EPROTO, EBUSY,     ENOTSUP, EINVAL,       ENOMEM};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        assert_int_equal(kc_rpc_status_from_wire(kc_rpc_status_to_wire(-errs[i])), -errs[i]);
        assert_int_equal(kc_rpc_status_to_wire(-errs[i]), i + 1);
    }
    assert_int_equal(kc_rpc_status_to_wire(-ENOENT), KC_RPC_WIRE_OTHER);
    assert_int_equal(kc_rpc_status_from_wire(KC_RPC_WIRE_OTHER), -EIO);
    assert_int_equal(kc_rpc_status_from_wire(500), -EIO);
    char url[64];
    ipc_mem_url(url, sizeof url, "errs");
    struct ipc_env e;
    assert_int_equal(env_up(&e, url, 2, NULL), 0);
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        int x = errs[i];
        assert_int_equal(kc_rpc_call(e.cli, CMD_FAIL, 0, &x, sizeof x, 5000 * MS, NULL, NULL, NULL),
                         -errs[i]);
    }
    int x = ENOENT;
    assert_int_equal(kc_rpc_call(e.cli, CMD_FAIL, 0, &x, sizeof x, 5000 * MS, NULL, NULL, NULL),
                     -EIO);
    /* no handler for the command: refused unrun */
    assert_int_equal(kc_rpc_call(e.cli, 999, 0, NULL, 0, 5000 * MS, NULL, NULL, NULL), -ENOTSUP);
    assert_int_equal(env_stats(e.svc).refused, 1);
    env_down(&e);
}

/* A handler that never returns: the caller gets -ETIME, the handler sees
 * its cancellation (the deadline travelled with the request), and its late
 * reply is dropped and counted. */
static void test_hanging_handler_times_out_and_is_cancelled(void **state)
{
    (void)state;
    char url[108];
    ipc_unix_url(url, sizeof url, "hang");
    struct ipc_env e;
    assert_int_equal(env_up(&e, url, 2, NULL), 0);
    int64_t t0 = ipc_now();
    assert_int_equal(kc_rpc_call(e.cli, CMD_HANG, 0, NULL, 0, 50 * MS, NULL, NULL, NULL), -ETIME);
    assert_true(ipc_now() - t0 >= 50 * MS);
    kc_ipc_stats_t c = env_stats(e.cli), s;
    /* (the CANCEL is counted once tx has sent it, which may follow the late
     * reply's arrival) */
    for (int i = 0; i < 5000 && (ipc_seen.cancelled < 1 || c.late_replies + c.replies_taken < 1 ||
                                 c.cancels_sent != c.late_replies);
         i++) {
        ipc_usleep(1000);
        c = env_stats(e.cli);
    }
    assert_int_equal(ipc_seen.cancelled, 1);
    assert_int_equal(ipc_seen.hang_running, 0);
    c = env_stats(e.cli);
    s = env_settled(e.svc, 1);
    /* Both ends time out at 50 ms: either our timer won (CANCEL sent, the
     * handler's -ETIME reply dropped as late) or the reply did. */
    assert_int_equal(c.late_replies + c.replies_taken, 1);
    assert_int_equal(c.cancels_sent, c.late_replies);
    assert_int_equal(c.outstanding, 0);
    assert_int_equal(s.handlers, 0);
    assert_int_equal(s.replies_sent, 1);
    env_down(&e);
}

/* Cancelling a future (no deadline on the request) cancels the handler. */
static void test_cancel_reaches_the_handler(void **state)
{
    (void)state;
    char url[64];
    ipc_mem_url(url, sizeof url, "cancel");
    struct ipc_env e;
    assert_int_equal(env_up(&e, url, 2, NULL), 0);
    kc_rpc_future_t *f1, *f2;
    uint32_t id1, id2;
    assert_int_equal(kc_rpc_send_async(e.cli, CMD_HANG, 0, NULL, 0, &id1, &f1), 0);
    assert_int_equal(kc_rpc_send_async(e.cli, CMD_HANG, 0, NULL, 0, &id2, &f2), 0);
    assert_int_equal(id2, id1 + 1);
    for (int i = 0; i < 5000 && ipc_seen.hang_running < 2; i++)
        ipc_usleep(1000);
    assert_int_equal(ipc_seen.hang_running, 2);
    /* a poll does not consume */
    assert_int_equal(kc_rpc_await(f1, 0, NULL, NULL, NULL, NULL), -EAGAIN);
    assert_int_equal(kc_rpc_cancel(f1), 0);
    /* an await cancelled by its token: -ECANCELED */
    kc_cancel_t *tok;
    kc_cancel_create(&tok, NULL);
    kc_cancel_trigger(tok);
    int rc = 1;
    assert_int_equal(kc_rpc_await(f2, KC_NO_TIMEOUT, tok, &rc, NULL, NULL), -ECANCELED);
    assert_int_equal(rc, -ECANCELED);
    kc_cancel_destroy(tok);
    for (int i = 0; i < 5000 && (ipc_seen.cancelled < 2 || env_stats(e.cli).late_replies < 2); i++)
        ipc_usleep(1000);
    assert_int_equal(ipc_seen.cancelled, 2);
    assert_int_equal(env_stats(e.svc).cancels_in, 2);
    assert_int_equal(env_stats(e.cli).late_replies, 2);
    assert_int_equal(env_stats(e.cli).outstanding, 0);
    env_down(&e);
}

/* GOAWAY: a request already accepted finishes; new ones are refused on
 * both sides; the connection then ends with -EPIPE, not a reset. */
struct goaway {
    struct ipc_env *e;
    int rc;
};
static int do_shutdown(void *arg)
{
    struct goaway *g = arg;
    g->rc = kc_ipc_shutdown(g->e->svc, 5000 * MS, NULL);
    return 0;
}

static void test_goaway_lets_accepted_requests_finish(void **state)
{
    (void)state;
    char url[108];
    ipc_unix_url(url, sizeof url, "goaway");
    struct ipc_env e;
    assert_int_equal(env_up(&e, url, 2, NULL), 0);
    int ms = 100;
    kc_rpc_future_t *slow;
    assert_int_equal(kc_rpc_send_async(e.cli, CMD_SLOW, 0, &ms, sizeof ms, NULL, &slow), 0);
    while (env_stats(e.svc).handlers < 1)
        ipc_usleep(1000);
    struct goaway g = {&e, 1};
    kc_task_t *t;
    kc_sched_spawn(e.s, &t, do_shutdown, &g, NULL);
    /* the client learns of the GOAWAY: new requests fail at once */
    int rc = 0;
    for (int i = 0; i < 5000; i++) {
        kc_rpc_future_t *f;
        rc = kc_rpc_send_async(e.cli, CMD_ECHO, 0, NULL, 0, NULL, &f);
        if (rc < 0)
            break;
        int r2 = kc_rpc_await(f, 5000 * MS, NULL, NULL, NULL, NULL);
        assert_true(r2 == 0 || r2 == -ECONNREFUSED);
        ipc_usleep(500);
    }
    assert_int_equal(rc, -EPIPE);
    void *out = NULL;
    size_t len = 0;
    assert_int_equal(kc_rpc_await(slow, 5000 * MS, NULL, NULL, &out, &len), 0);
    assert_int_equal(len, sizeof ms);
    free(out);
    kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
    assert_int_equal(g.rc, 0);
    assert_int_equal(kc_ipc_wait_dead(e.cli, 5000 * MS, NULL), -EPIPE);
    assert_int_equal(kc_ipc_wait_dead(e.svc, 0, NULL), -EPIPE);
    env_down(&e);
}

struct silent {
    char url[64];
    kc_sched_t *s;
    kc_ipc_opts_t o;
    kc_ipc_conn_t *c;
    int rc;
};
static int silent_connect(void *arg)
{
    struct silent *sp = arg;
    sp->rc = kc_ipc_connect(&sp->c, sp->url, &sp->o, 5000 * MS, NULL);
    return 0;
}

/* Listen on url, let sp's connection connect from its scheduler, and
 * answer its HELLO from the raw end *raw, which then says nothing. */
static void silent_up(struct silent *sp, const char *url, kc_transport_t **l, kc_transport_t **raw)
{
    assert_int_equal(kc_transport_listen(url, NULL, l), 0);
    kc_task_t *t;
    kc_sched_spawn(sp->s, &t, silent_connect, sp, NULL);
    assert_int_equal(kc_transport_accept(*l, raw, NULL, 5000 * MS, NULL), 0);
    kc_hello_t h;
    kc_hello_init(&h);
    uint8_t hb[64];
    int n = kc_hello_encode(&h, hb, sizeof hb);
    kc_frame_hdr_t fh = {KC_WIRE_VERSION, KC_FRAME_HELLO, 0, 0, 0, (uint32_t)n};
    struct iovec v = {hb, (size_t)n};
    assert_int_equal(kc_transport_send_frame(*raw, &fh, &v, 1, 5000 * MS, NULL), 0);
    kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL);
    assert_int_equal(sp->rc, 0);
}

/* Keep-alive: a live peer answers PINGs; one that falls silent is dead
 * after dead_after, and its outstanding futures resolve -ECONNRESET. */
static void test_keepalive_pings_and_declares_a_silent_peer_dead(void **state)
{
    (void)state;
    char url[64];
    ipc_mem_url(url, sizeof url, "ka");
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.ping_interval_ns = 10 * MS;
    o.dead_after_ns = 2000 * MS; /* generous: qemu and sanitizers stall */
    struct ipc_env e;
    assert_int_equal(env_up(&e, url, 2, &o), 0);
    /* whichever side fell silent first pinged; the other answered (within
     * 5 s: a loaded host may hold the pinging task back for a while) */
    kc_ipc_stats_t a = env_stats(e.cli), b = env_stats(e.svc);
    for (int64_t t0 = ipc_now(); (a.pings_sent + b.pings_sent < 1 || a.pongs_in + b.pongs_in < 1) &&
                                 ipc_now() - t0 < 5000 * MS;
         a = env_stats(e.cli), b = env_stats(e.svc))
        ipc_usleep(1000);
    assert_int_equal(kc_ipc_wait_dead(e.cli, 0, NULL), -ETIME);
    assert_true(a.pings_sent + b.pings_sent >= 1);
    assert_true(a.pongs_in + b.pongs_in >= 1);
    assert_int_equal(a.dead_rc, 0);
    assert_int_equal(b.dead_rc, 0);
    env_down(&e);

    /* a raw peer that answers the HELLO and then says nothing */
    ipc_mem_url(url, sizeof url, "silent");
    struct silent sp;
    memset(&sp, 0, sizeof sp);
    snprintf(sp.url, sizeof sp.url, "%s", url);
    kc_sched_create(&sp.s, NULL);
    sp.o = o;
    sp.o.sched = sp.s;
    sp.o.router = NULL;
    sp.o.dead_after_ns = 500 * MS; /* 50 ping intervals: a ping goes out even at load */
    kc_transport_t *l, *raw;
    silent_up(&sp, url, &l, &raw);
    kc_rpc_future_t *f;
    int64_t t0 = ipc_now();
    assert_int_equal(kc_rpc_send_async(sp.c, CMD_ECHO, 0, NULL, 0, NULL, &f), 0);
    assert_int_equal(kc_ipc_wait_dead(sp.c, 5000 * MS, NULL), -ECONNRESET);
    assert_true(ipc_now() - t0 >= 250 * MS);
    assert_int_equal(kc_rpc_await(f, 5000 * MS, NULL, NULL, NULL, NULL), -ECONNRESET);
    assert_true(env_stats(sp.c).pings_sent >= 1);
    assert_int_equal(env_stats(sp.c).outstanding, 0);
    kc_ipc_close(sp.c);
    kc_transport_close(raw);
    kc_transport_close(l);
    kc_sched_destroy(sp.s);
}

/* The keep-alive timer (K1-K2 in kc_ipc_conn.c): against a peer that
 * answers the HELLO and then says nothing, a PING goes out each interval
 * that passed without a frame, ids 1, 2, 3... in order, and the link ends
 * -ECONNRESET once the silence reaches dead_after (4 intervals: 3 PINGs
 * at most, never before dead_after, since timers never fire early); the
 * peer reads exactly the PINGs the connection counts as sent. */
static void test_keepalive_timer_pings_in_order_then_ends(void **state)
{
    (void)state;
    char url[64];
    ipc_mem_url(url, sizeof url, "katimer");
    struct silent sp;
    memset(&sp, 0, sizeof sp);
    snprintf(sp.url, sizeof sp.url, "%s", url);
    kc_sched_create(&sp.s, NULL);
    sp.o = (kc_ipc_opts_t)KC_IPC_OPTS_INIT;
    sp.o.sched = sp.s;
    sp.o.ping_interval_ns = 40 * MS;
    sp.o.dead_after_ns = 160 * MS;
    kc_transport_t *l, *raw;
    int64_t t0 = ipc_now();
    silent_up(&sp, url, &l, &raw);
    kc_frame_hdr_t fh;
    assert_int_equal(kc_ipc_wait_dead(sp.c, 10000 * MS, NULL), -ECONNRESET);
    assert_true(ipc_now() - t0 >= 160 * MS);
    uint64_t sent = env_stats(sp.c).pings_sent;
    assert_true(sent >= 1 && sent <= 3);
    kc_ipc_close(sp.c); /* the peer now reads the end of the stream */
    void *p = NULL;
    assert_int_equal(kc_transport_recv_frame(raw, &fh, &p, 1024, 5000 * MS, NULL), 0);
    assert_int_equal(fh.type, KC_FRAME_HELLO);
    free(p);
    uint32_t pings = 0;
    int rc;
    while ((rc = kc_transport_recv_frame(raw, &fh, &p, 1024, 5000 * MS, NULL)) == 0) {
        assert_int_equal(fh.type, KC_FRAME_PING);
        assert_int_equal(fh.len, 0);
        assert_int_equal(fh.id, ++pings);
        free(p);
        p = NULL;
    }
    assert_int_equal(rc, -EPIPE);
    assert_int_equal(pings, sent);
    kc_transport_close(raw);
    kc_transport_close(l);
    kc_sched_destroy(sp.s);
}

static void test_connect_to_nothing_is_refused(void **state)
{
    (void)state;
    kc_sched_t *s;
    kc_sched_create(&s, NULL);
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.sched = s;
    kc_ipc_conn_t *c = NULL;
    assert_int_equal(kc_ipc_connect(&c, "unix:/tmp/kc-ipc-nobody", &o, 1000 * MS, NULL),
                     -ECONNREFUSED);
    assert_int_equal(kc_ipc_connect(&c, "mem:nobody", &o, 1000 * MS, NULL), -ECONNREFUSED);
    assert_null(c);
    /* outside a scheduler without opts.sched: -EPERM */
    kc_transport_t *l;
    assert_int_equal(kc_transport_listen("mem:noperm", NULL, &l), 0);
    assert_int_equal(kc_ipc_connect(&c, "mem:noperm", NULL, 1000 * MS, NULL), -EPERM);
    kc_transport_close(l);
    kc_sched_destroy(s);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_every_size_over_mem),
        cmocka_unit_test(test_echo_every_size_over_unix),
        cmocka_unit_test(test_errors_travel_as_the_same_errno),
        cmocka_unit_test(test_inline_handler_runs_on_rx),
        cmocka_unit_test(test_handler_tasks_are_reused),
        cmocka_unit_test(test_a_call_writes_its_own_request),
        cmocka_unit_test(test_hanging_handler_times_out_and_is_cancelled),
        cmocka_unit_test(test_cancel_reaches_the_handler),
        cmocka_unit_test(test_goaway_lets_accepted_requests_finish),
        cmocka_unit_test(test_keepalive_pings_and_declares_a_silent_peer_dead),
        cmocka_unit_test(test_keepalive_timer_pings_in_order_then_ends),
        cmocka_unit_test(test_connect_to_nothing_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
