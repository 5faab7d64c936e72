/* test_udp.c - libkcoro-udp over loopback, built against the installed
 * headers only: frames both ways, a listener that demultiplexes peers by
 * address, the errors of kcoro/udp.h, noise dropped and counted, RPC
 * through rel:udp:// between two schedulers, and rel: sessions over a
 * lossy datagram path whose socket is cut (the listener hands each resumed
 * session its new peer address; lost handshake frames are asked again). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kcoro.h"
#include "kcoro/udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000LL

static int setup(void **state)
{
    (void)state;
    int rc = kc_udp_register();
    if (rc == 0)
        rc = kc_sim_register();
    return rc < 0 ? rc : kc_rel_register();
}

static int port_of(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    return ntohs(a.sin_port);
}

/* A loopback port nobody uses right now. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    int p = port_of(fd);
    close(fd);
    return p;
}

static int send_msg(kc_transport_t *t, uint32_t id, const char *s)
{
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, id, (uint32_t)strlen(s)};
    struct iovec iov = {(void *)(uintptr_t)s, strlen(s)};
    return kc_transport_send_frame(t, &h, &iov, 1, KC_NO_TIMEOUT, NULL);
}

static void expect_msg(kc_transport_t *t, uint32_t id, const char *s)
{
    kc_frame_hdr_t h;
    void *p = NULL;
    assert_int_equal(kc_transport_recv_frame(t, &h, &p, 1024, 2000 * MS, NULL), 0);
    assert_int_equal(h.type, KC_FRAME_DATA);
    assert_int_equal(h.id, id);
    assert_int_equal(h.len, strlen(s));
    assert_memory_equal(p, s, h.len);
    free(p);
}

/* Two peers, one listener: each peer's datagrams reach the endpoint
 * accepted for its address, and replies go back to the right one. */
static void test_udp_frames_both_ways_and_demux(void **state)
{
    (void)state;
    kc_udp_counters_t cnt;
    memset(&cnt, 0, sizeof cnt);
    kc_udp_opts_t uo = KC_UDP_OPTS_INIT;
    uo.counters = &cnt;
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.adapter = &uo;
    kc_transport_t *lis, *c1, *c2, *a1, *a2;
    assert_int_equal(kc_transport_listen("udp://127.0.0.1:0", &o, &lis), 0);
    int port = port_of(kc_transport_poll_handle(lis));
    assert_true(port > 0);
    char url[64];
    snprintf(url, sizeof url, "udp://127.0.0.1:%d", port);
    assert_int_equal(kc_transport_connect(url, NULL, &c1, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_transport_connect(url, NULL, &c2, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(send_msg(c1, 1, "one"), 0);
    kc_transport_peer_t peer = {.size = sizeof peer};
    assert_int_equal(kc_transport_accept(lis, &a1, &peer, 2000 * MS, NULL), 0);
    char want[64];
    snprintf(want, sizeof want, "udp://127.0.0.1:%d", port_of(kc_transport_poll_handle(c1)));
    assert_string_equal(peer.name, want);
    assert_false(peer.has_cred);
    assert_int_equal(send_msg(c2, 2, "two"), 0);
    assert_int_equal(send_msg(c1, 3, "three"), 0);
    assert_int_equal(kc_transport_accept(lis, &a2, NULL, 2000 * MS, NULL), 0);
    expect_msg(a1, 1, "one");
    expect_msg(a1, 3, "three");
    expect_msg(a2, 2, "two");
    assert_int_equal(send_msg(a2, 4, "to two"), 0);
    assert_int_equal(send_msg(a1, 5, "to one"), 0);
    expect_msg(c2, 4, "to two");
    expect_msg(c1, 5, "to one");
    kc_transport_stats_t st = {.size = sizeof st};
    assert_int_equal(kc_transport_stats(lis, &st), 0);
    assert_int_equal(st.accepted, 2);
    assert_int_equal(st.live, 2);
    assert_int_equal(atomic_load(&cnt.datagrams_in), 3);
    assert_int_equal(atomic_load(&cnt.datagrams_out), 2);
    assert_int_equal(kc_transport_poll_handle(a1), -ENOTSUP);
    kc_transport_close(a1);
    assert_int_equal(kc_transport_stats(lis, &st), 0);
    assert_int_equal(st.live, 1);
    /* The listener closes first; its accepted endpoint keeps working. */
    kc_transport_close(lis);
    assert_int_equal(send_msg(c2, 6, "still"), 0);
    expect_msg(a2, 6, "still");
    kc_transport_close(a2);
    kc_transport_close(c1);
    kc_transport_close(c2);
}

/* Bad addresses, remote addresses without allow_remote, a port in use,
 * frames too large, empty waits, and noise on the socket. */
static void test_udp_errors_and_noise(void **state)
{
    (void)state;
    kc_transport_t *t;
    assert_int_equal(kc_udp_register(), 0); /* again (setup registered it): idempotent */
    assert_non_null(kc_transport_lookup("udp://127.0.0.1:1"));
    assert_int_equal(kc_transport_listen("udp:127.0.0.1:1", NULL, &t), -EINVAL);
    assert_int_equal(kc_transport_listen("udp://127.0.0.1", NULL, &t), -EINVAL);
    assert_int_equal(kc_transport_listen("udp://::1:5", NULL, &t), -EINVAL);
    assert_int_equal(kc_transport_listen("udp://127.0.0.1:99999", NULL, &t), -EINVAL);
    assert_int_equal(kc_transport_connect("udp://10.1.2.3:9", NULL, &t, 0, NULL), -EACCES);
    assert_int_equal(kc_transport_listen("udp://0.0.0.0:0", NULL, &t), -EACCES);
    kc_udp_opts_t bad = KC_UDP_OPTS_INIT;
    bad.size = 4;
    kc_transport_opts_t bo = KC_TRANSPORT_OPTS_INIT;
    bo.adapter = &bad;
    assert_int_equal(kc_transport_listen("udp://127.0.0.1:0", &bo, &t), -EINVAL);

    kc_udp_counters_t cnt;
    memset(&cnt, 0, sizeof cnt);
    kc_udp_opts_t uo = KC_UDP_OPTS_INIT;
    uo.counters = &cnt;
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.adapter = &uo;
    kc_transport_t *lis, *c, *a;
    assert_int_equal(kc_transport_listen("udp://:0", &o, &lis), 0);
    int port = port_of(kc_transport_poll_handle(lis));
    char url[64];
    snprintf(url, sizeof url, "udp://127.0.0.1:%d", port);
    assert_int_equal(kc_transport_listen(url, NULL, &t), -EBUSY);
    assert_int_equal(kc_transport_accept(lis, &a, NULL, 0, NULL), -EAGAIN);
    assert_int_equal(kc_transport_accept(lis, &a, NULL, 20 * MS, NULL), -ETIME);
    assert_int_equal(kc_transport_connect(url, &o, &c, KC_NO_TIMEOUT, NULL), 0);
    /* Noise from c's own socket: too short, a bad version, a length that
     * disagrees with the datagram. None makes an endpoint. */
    int fd = kc_transport_poll_handle(c);
    uint8_t junk[KC_FRAME_HDR_SIZE + 4] = {0};
    assert_int_equal(send(fd, junk, 5, 0), 5);
    assert_int_equal(send(fd, junk, sizeof junk, 0), (ssize_t)sizeof junk);
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, 7, 9};
    kc_frame_encode(&h, junk);
    assert_int_equal(send(fd, junk, sizeof junk, 0), (ssize_t)sizeof junk);
    assert_int_equal(send_msg(c, 8, "real"), 0);
    assert_int_equal(kc_transport_accept(lis, &a, NULL, 2000 * MS, NULL), 0);
    expect_msg(a, 8, "real");
    assert_int_equal(atomic_load(&cnt.malformed), 3);
    kc_frame_hdr_t rh;
    void *p;
    assert_int_equal(kc_transport_recv_frame(a, &rh, &p, 64, 0, NULL), -EAGAIN);
    assert_int_equal(kc_transport_recv_frame(a, &rh, &p, 64, 20 * MS, NULL), -ETIME);
    assert_int_equal(kc_transport_recv_frame(c, &rh, &p, 64, 0, NULL), -EAGAIN);
    assert_int_equal(kc_transport_recv_frame(c, &rh, &p, 64, 20 * MS, NULL), -ETIME);
    /* The longest timeout saturates (no overflow), both kinds of endpoint. */
    assert_int_equal(send_msg(c, 11, "far"), 0);
    assert_int_equal(kc_transport_recv_frame(a, &rh, &p, 64, INT64_MAX, NULL), 0);
    free(p);
    assert_int_equal(send_msg(a, 12, "far"), 0);
    assert_int_equal(kc_transport_recv_frame(c, &rh, &p, 64, INT64_MAX, NULL), 0);
    free(p);
    /* A frame longer than the reader allows, each way. */
    assert_int_equal(send_msg(c, 9, "0123456789"), 0);
    assert_int_equal(kc_transport_recv_frame(a, &rh, &p, 4, 2000 * MS, NULL), -EMSGSIZE);
    assert_int_equal(send_msg(a, 10, "0123456789"), 0);
    assert_int_equal(kc_transport_recv_frame(c, &rh, &p, 4, 2000 * MS, NULL), -EMSGSIZE);
    /* A frame larger than a datagram. */
    size_t big = KC_UDP_MAX_FRAME + 1;
    uint8_t *b = calloc(1, big);
    kc_frame_hdr_t bh = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, 1, (uint32_t)big};
    struct iovec iov = {b, big};
    assert_int_equal(kc_transport_send_frame(c, &bh, &iov, 1, 0, NULL), -EMSGSIZE);
    iov.iov_len = bh.len = KC_UDP_MAX_FRAME;
    assert_int_equal(kc_transport_send_frame(c, &bh, &iov, 1, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_transport_recv_frame(a, &rh, &p, KC_UDP_MAX_FRAME, 2000 * MS, NULL), 0);
    assert_int_equal(rh.len, KC_UDP_MAX_FRAME);
    free(p);
    free(b);
    assert_int_equal(kc_transport_send_frame(lis, &bh, &iov, 1, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_recv_frame(lis, &rh, &p, 64, 0, NULL), -EINVAL);
    /* A connected socket shut down under the endpoint (a cut): reads end in
     * -EPIPE instead of returning its endless empty reads, and so do sends. */
    assert_int_equal(shutdown(fd, SHUT_RDWR), 0);
    assert_int_equal(kc_transport_recv_frame(c, &rh, &p, 64, 2000 * MS, NULL), -EPIPE);
    assert_int_equal(send_msg(c, 13, "cut"), -EPIPE);
    kc_transport_close(a);
    kc_transport_close(c);
    kc_transport_close(lis);
}

/* ---- RPC through rel:udp:// between two schedulers ------------------ */

typedef struct rpc {
    char url[64];
    long n;
    long good;
    int rc;
    kc_ipc_server_t *srv;
    kc_transport_opts_t to;
    kc_rel_opts_t ro;
    kc_rel_counters_t cnt;
} rpc_t;

static int h_twice(const kc_rpc_req_t *req, void *arg, void **out, size_t *out_len)
{
    (void)arg;
    uint32_t v;
    if (req->len != sizeof v)
        return -EINVAL;
    memcpy(&v, req->payload, sizeof v);
    uint32_t *r = malloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    *r = v * 2 + 1;
    *out = r;
    *out_len = sizeof *r;
    return 0;
}

typedef struct listen_args {
    rpc_t *r;
    const kc_ipc_opts_t *o;
} listen_args_t;

/* Listen from a coroutine, so the listener's pump is a coroutine too. */
static int co_listen(void *arg)
{
    listen_args_t *a = arg;
    return kc_ipc_listen(&a->r->srv, a->r->url, a->o);
}

static int co_serve(void *arg)
{
    rpc_t *r = arg;
    kc_ipc_conn_t *c;
    int rc = kc_ipc_accept(r->srv, &c, 10000 * MS, NULL);
    if (rc < 0)
        return rc;
    kc_ipc_wait_dead(c, KC_NO_TIMEOUT, NULL);
    kc_ipc_close(c);
    return 0;
}

static int co_client(void *arg)
{
    rpc_t *r = arg;
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.transport = &r->to;
    kc_ipc_conn_t *c;
    int rc = kc_ipc_connect(&c, r->url, &o, 10000 * MS, NULL);
    if (rc < 0)
        return r->rc = rc;
    enum {
        W = 64
    };
    kc_rpc_future_t *f[W];
    for (long i = 0; i < r->n + W; i++) {
        if (i >= W) {
            void *rep = NULL;
            size_t len = 0;
            uint32_t v = 0;
            if (kc_rpc_await(f[(i - W) % W], KC_NO_TIMEOUT, NULL, NULL, &rep, &len) == 0 &&
                len == sizeof v) {
                memcpy(&v, rep, sizeof v);
                r->good += v == (uint32_t)(i - W) * 2 + 1;
            }
            free(rep);
        }
        if (i < r->n) {
            uint32_t v = (uint32_t)i;
            while ((rc = kc_rpc_send_async(c, 1, 3, &v, sizeof v, NULL, &f[i % W])) == -EAGAIN)
                kc_sched_yield();
            if (rc < 0) {
                r->rc = rc;
                return rc;
            }
        }
    }
    kc_ipc_shutdown(c, 5000 * MS, NULL);
    kc_ipc_close(c);
    return 0;
}

static void test_udp_rpc_through_rel_two_schedulers(void **state)
{
    (void)state;
    rpc_t r;
    memset(&r, 0, sizeof r);
    const char *sc = getenv("KCORO_TEST_SCALE");
    r.n = 5000 / (sc && atol(sc) > 1 ? atol(sc) : 1);
    snprintf(r.url, sizeof r.url, "rel:udp://127.0.0.1:%d", free_port());
    r.ro = (kc_rel_opts_t)KC_REL_OPTS_INIT;
    r.ro.mss = 8192;
    r.ro.counters = &r.cnt;
    r.to = (kc_transport_opts_t)KC_TRANSPORT_OPTS_INIT;
    r.to.adapter = &r.ro;
    kc_sched_t *ss, *cs;
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 1;
    assert_int_equal(kc_sched_create(&ss, &so), 0);
    assert_int_equal(kc_sched_create(&cs, &so), 0);
    kc_rpc_router_t *router;
    assert_int_equal(kc_rpc_router_create(&router), 0);
    assert_int_equal(kc_rpc_router_add(router, 1, h_twice, NULL), 0);
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.sched = ss;
    o.router = router;
    o.transport = &r.to;
    listen_args_t la = {&r, &o};
    kc_task_t *ts, *tc;
    int st = -1;
    assert_int_equal(kc_sched_spawn(ss, &ts, co_listen, &la, NULL), 0);
    assert_int_equal(kc_sched_join(ts, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, 0);
    assert_int_equal(kc_sched_spawn(ss, &ts, co_serve, &r, NULL), 0);
    assert_int_equal(kc_sched_spawn(cs, &tc, co_client, &r, NULL), 0);
    assert_int_equal(kc_sched_join(tc, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_sched_join(ts, &st, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(st, 0);
    kc_ipc_server_close(r.srv);
    assert_int_equal(kc_sched_destroy(cs), 0);
    assert_int_equal(kc_sched_destroy(ss), 0);
    kc_rpc_router_destroy(router);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.good, r.n);
    assert_true(atomic_load(&r.cnt.segs_in) > 0 && atomic_load(&r.cnt.acks_in) > 0);
    print_message("rpc over rel:udp: %ld calls; segments %lu, resent %lu, srtt %.3f ms\n", r.n,
                  (unsigned long)atomic_load(&r.cnt.segs_out),
                  (unsigned long)atomic_load(&r.cnt.retrans), atomic_load(&r.cnt.srtt_ns) / 1e6);
}

/* ---- rel: sessions over a datagram path that is cut -------------------- */

static long scaled(long n)
{
    const char *sc = getenv("KCORO_TEST_SCALE");
    long div = sc ? atol(sc) : 1;
    return div > 1 && n / div > 0 ? n / div : n;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The links of both ends, counted by on_link; a cut shuts the connector's
 * current socket down, once both ends carry a link nobody has cut, so each
 * cut is one lost link that each end must replace exactly once. */
typedef struct ucut {
    pthread_mutex_t lk;
    int port; /* the listener's */
    bool fresh[2];
    long links[2];
    long cuts;
} ucut_t;

typedef struct uhold {
    ucut_t *c;
    int end;
} uhold_t;

static void on_ulink(void *arg, kc_transport_t *inner)
{
    uhold_t *h = arg;
    pthread_mutex_lock(&h->c->lk);
    h->c->fresh[h->end] = inner != NULL;
    h->c->links[h->end] += inner != NULL;
    pthread_mutex_unlock(&h->c->lk);
}

/* The connector's socket under the simulator: the only datagram socket
 * connected to the listener's port (-1: none, -2: more than one). */
static int connector_fd(int port)
{
    int found = -1;
    for (int fd = 3; fd < 4096; fd++) {
        int type = 0;
        socklen_t tl = sizeof type;
        struct sockaddr_in a;
        socklen_t al = sizeof a;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_DGRAM &&
            getpeername(fd, (struct sockaddr *)&a, &al) == 0 && a.sin_family == AF_INET &&
            ntohs(a.sin_port) == port) {
            if (found >= 0)
                return -2;
            found = fd;
        }
    }
    return found;
}

static bool ucut(ucut_t *c)
{
    bool done = false;
    pthread_mutex_lock(&c->lk);
    if (c->fresh[0] && c->fresh[1]) {
        int fd = connector_fd(c->port);
        assert_true(fd >= 0);
        assert_int_equal(shutdown(fd, SHUT_RDWR), 0);
        c->fresh[0] = c->fresh[1] = false;
        c->cuts++;
        done = true;
    }
    pthread_mutex_unlock(&c->lk);
    return done;
}

/* The server side: keeps accepting (a resumed session's new link is
 * handed over inside accept) and keeps every new session it returns. */
typedef struct uacc {
    kc_transport_t *lis;
    kc_cancel_t *stop;
    pthread_mutex_t lk;
    kc_transport_t *got[64];
    long n;
    int rc;
} uacc_t;

static void *uaccept_loop(void *arg)
{
    uacc_t *a = arg;
    for (;;) {
        kc_transport_t *t;
        int rc = kc_transport_accept(a->lis, &t, NULL, KC_NO_TIMEOUT, a->stop);
        if (rc == -ECANCELED)
            return NULL;
        pthread_mutex_lock(&a->lk);
        if (rc < 0 || a->n == 64) {
            a->rc = rc < 0 ? rc : -ENOSPC;
            pthread_mutex_unlock(&a->lk);
            if (rc == 0)
                kc_transport_close(t);
            return NULL;
        }
        a->got[a->n++] = t;
        pthread_mutex_unlock(&a->lk);
    }
}

/* The next session accepted, waited for in real time (at most 20 s). */
static kc_transport_t *uaccepted(uacc_t *a, long i)
{
    for (int k = 0; k < 20000; k++) {
        pthread_mutex_lock(&a->lk);
        kc_transport_t *t = a->n > i ? a->got[i] : NULL;
        pthread_mutex_unlock(&a->lk);
        if (t)
            return t;
        usleep(1000);
    }
    return NULL;
}

typedef struct upath {
    ucut_t cut;
    uhold_t hold[2];
    kc_sim_opts_t so;
    kc_rel_opts_t ra, rb;
    kc_rel_counters_t ca, cb;
    kc_transport_opts_t oa, ob;
    uacc_t acc;
    pthread_t th;
    char url[96];
} upath_t;

/* rel:sim:udp:// with sessions, the simulator's words on every link, and
 * an accept loop running. */
static void upath_open(upath_t *u, const char *netem, uint64_t seed)
{
    memset(u, 0, sizeof *u);
    pthread_mutex_init(&u->cut.lk, NULL);
    pthread_mutex_init(&u->acc.lk, NULL);
    u->cut.port = free_port();
    for (int i = 0; i < 2; i++)
        u->hold[i] = (uhold_t){&u->cut, i};
    u->so = (kc_sim_opts_t)KC_SIM_OPTS_INIT;
    u->so.netem = netem;
    u->so.seed = seed;
    u->ra = (kc_rel_opts_t)KC_REL_OPTS_INIT;
    u->ra.mss = 2048;
    u->ra.window = 16;
    u->ra.grace_ns = 10000 * MS;
    u->ra.rto_init_ns = 50 * MS; /* loopback: the first RTO need not be 200 ms */
    u->ra.rto_max_ns = 1000 * MS;
    u->ra.inner = &u->so;
    u->ra.on_link = on_ulink;
    u->rb = u->ra;
    u->ra.counters = &u->ca;
    u->rb.counters = &u->cb;
    u->ra.link_arg = &u->hold[0];
    u->rb.link_arg = &u->hold[1];
    u->oa = (kc_transport_opts_t)KC_TRANSPORT_OPTS_INIT;
    u->ob = u->oa;
    u->oa.adapter = &u->ra;
    u->ob.adapter = &u->rb;
    snprintf(u->url, sizeof u->url, "rel:sim:udp://127.0.0.1:%d", u->cut.port);
    assert_int_equal(kc_transport_listen(u->url, &u->ob, &u->acc.lis), 0);
    assert_int_equal(kc_cancel_create(&u->acc.stop, NULL), 0);
    assert_int_equal(pthread_create(&u->th, NULL, uaccept_loop, &u->acc), 0);
}

static void upath_close(upath_t *u)
{
    kc_cancel_trigger(u->acc.stop);
    pthread_join(u->th, NULL);
    for (long i = 0; i < u->acc.n; i++)
        if (u->acc.got[i])
            kc_transport_close(u->acc.got[i]);
    kc_transport_close(u->acc.lis);
    kc_cancel_destroy(u->acc.stop);
    assert_int_equal(u->acc.rc, 0);
    pthread_mutex_destroy(&u->cut.lk);
    pthread_mutex_destroy(&u->acc.lk);
}

static size_t ulen(long i)
{
    return i % 400 == 399 ? 3000 : 8 + (size_t)(i % 90);
}

static void ufill(uint8_t *b, long i, size_t n)
{
    for (size_t k = 0; k < n; k++)
        b[k] = (uint8_t)(i * 29 + (long)k * 5);
}

typedef struct ustream {
    kc_transport_t *t[2];
    ucut_t *cut;
    long from, n;   /* frames from..n-1 each way */
    long cut_every; /* 0: no cuts */
    long got[2], bad[2];
    int rc[4];
} ustream_t;

typedef struct uuser {
    ustream_t *r;
    int end;
    bool sender;
} uuser_t;

static int co_uuser(void *arg)
{
    uuser_t *u = arg;
    ustream_t *r = u->r;
    uint8_t *buf = malloc(3008);
    int *rc = &r->rc[u->end * 2 + u->sender];
    long next_cut = r->from + r->cut_every;
    for (long i = r->from; u->sender && i < r->n; i++) {
        size_t n = ulen(i);
        ufill(buf, i, n);
        kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, (uint32_t)i, (uint32_t)n};
        struct iovec iov = {buf, n};
        if ((*rc = kc_transport_send_frame(r->t[u->end], &h, &iov, 1, KC_NO_TIMEOUT, NULL)) < 0)
            break;
    }
    while (!u->sender && r->from + r->got[u->end] < r->n) {
        kc_frame_hdr_t h;
        void *pl;
        if ((*rc = kc_transport_recv_frame(r->t[u->end], &h, &pl, 1 << 16, KC_NO_TIMEOUT, NULL)) <
            0)
            break;
        long i = r->from + r->got[u->end]++;
        size_t n = ulen(i);
        ufill(buf, i, n);
        if (h.id != (uint32_t)i || h.len != n || memcmp(pl, buf, n) != 0)
            r->bad[u->end]++;
        free(pl);
        /* The connector's receiver cuts at every cut point while frames
         * are still to come, first waiting (up to 20 s) for the last cut to
         * be repaired, so the number of cuts does not depend on how fast
         * the host runs the stream. */
        if (r->cut_every && u->end == 0 && i == next_cut && i < r->n - 200) {
            for (int w = 0; w < 20000 && !ucut(r->cut); w++)
                kc_sched_sleep(1000000, NULL);
            next_cut = i + r->cut_every;
        }
    }
    free(buf);
    return 0;
}

/* Frames from..n-1 each way between t[0] and t[1], four coroutines. */
static void ustream_run(kc_sched_t *s, ustream_t *r)
{
    uuser_t u[4];
    kc_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        u[i] = (uuser_t){r, i / 2, i % 2 == 1};
        assert_int_equal(kc_sched_spawn(s, &t[i], co_uuser, &u[i], NULL), 0);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(r->rc[i], 0);
    for (int e = 0; e < 2; e++) {
        assert_int_equal(r->from + r->got[e], r->n);
        assert_int_equal(r->bad[e], 0);
    }
}

/* A long stream each way over a lossy datagram path whose connecting
 * socket is shut down every few hundred frames: every cut is repaired by a
 * new socket (a new source address) that the listener hands to the
 * session, every frame arrives once and in order. */
static void test_udp_rel_session_survives_cuts(void **state)
{
    (void)state;
    upath_t *u = calloc(1, sizeof *u);
    upath_open(u, "loss 3% duplicate 1%", 21);
    kc_sched_t *s;
    kc_sched_opts_t opts = KC_SCHED_OPTS_INIT;
    opts.nworkers = 2;
    assert_int_equal(kc_sched_create(&s, &opts), 0);
    ustream_t r;
    memset(&r, 0, sizeof r);
    r.n = scaled(20000);
    r.cut = &u->cut;
    r.cut_every = r.n / 40 > 100 ? r.n / 40 : 100;
    /* Opened from this thread: the pumps are threads. */
    assert_int_equal(kc_transport_connect(u->url, &u->oa, &r.t[0], KC_NO_TIMEOUT, NULL), 0);
    assert_non_null(r.t[1] = uaccepted(&u->acc, 0));
    double t0 = mono_s();
    ustream_run(s, &r);
    double took = mono_s() - t0;
    kc_transport_close(r.t[0]);
    assert_int_equal(kc_sched_destroy(s), 0);
    long cuts = u->cut.cuts;
    print_message("sessions over rel:sim:udp: %ld frames each way in %.2f s, %ld cuts, resumed "
                  "%lu+%lu, resent %lu+%lu\n",
                  r.n, took, cuts, (unsigned long)atomic_load(&u->ca.resumed),
                  (unsigned long)atomic_load(&u->cb.resumed),
                  (unsigned long)atomic_load(&u->ca.retrans),
                  (unsigned long)atomic_load(&u->cb.retrans));
    assert_int_equal(u->acc.n, 1); /* every new socket resumed the one session */
    long want = 0; /* the cut points: every cut_every frames, not in the last 200 */
    for (long i = r.from + r.cut_every; i < r.n - 200; i += r.cut_every)
        want++;
    assert_true(want >= 1);
    assert_int_equal(cuts, want);
    assert_int_equal(atomic_load(&u->ca.resumed), cuts);
    assert_int_equal(atomic_load(&u->cb.resumed), cuts);
    assert_int_equal(u->cut.links[0], 1 + cuts);
    assert_int_equal(u->cut.links[1], 1 + cuts);
    assert_true(atomic_load(&u->ca.retrans) + atomic_load(&u->cb.retrans) > 0);
    upath_close(u);
    free(u);
}

/* Sessions opened and resumed through a path that loses a quarter of its
 * datagrams: NEW, RESUME and their answers are lost often, and asked
 * again until answered. Each session is cut once and must resume (which
 * needs the session id the connector learned from an answer). */
static void test_udp_rel_session_handshake_under_loss(void **state)
{
    (void)state;
    upath_t *u = calloc(1, sizeof *u);
    upath_open(u, "loss 25%", 22);
    kc_sched_t *s;
    kc_sched_opts_t opts = KC_SCHED_OPTS_INIT;
    opts.nworkers = 2;
    assert_int_equal(kc_sched_create(&s, &opts), 0);
    enum {
        SESSIONS = 12
    };
    for (long k = 0; k < SESSIONS; k++) {
        ustream_t r;
        memset(&r, 0, sizeof r);
        assert_int_equal(kc_transport_connect(u->url, &u->oa, &r.t[0], KC_NO_TIMEOUT, NULL), 0);
        assert_non_null(r.t[1] = uaccepted(&u->acc, k));
        r.n = 40;
        ustream_run(s, &r);
        long cuts = u->cut.cuts;
        for (int i = 0; i < 20000 && !ucut(&u->cut); i++)
            usleep(1000);
        assert_int_equal(u->cut.cuts, cuts + 1);
        r.from = 40;
        r.n = 80;
        memset(r.got, 0, sizeof r.got);
        ustream_run(s, &r);
        kc_transport_close(r.t[0]);
        /* Closed with its peer: a later connector given the same source
         * port must reach accept, not this session's endpoint. */
        pthread_mutex_lock(&u->acc.lk);
        u->acc.got[k] = NULL;
        pthread_mutex_unlock(&u->acc.lk);
        kc_transport_close(r.t[1]);
    }
    assert_int_equal(kc_sched_destroy(s), 0);
    print_message("handshakes under loss 25%%: %d sessions, each cut once; resumed %lu+%lu, "
                  "resent %lu+%lu\n",
                  SESSIONS, (unsigned long)atomic_load(&u->ca.resumed),
                  (unsigned long)atomic_load(&u->cb.resumed),
                  (unsigned long)atomic_load(&u->ca.retrans),
                  (unsigned long)atomic_load(&u->cb.retrans));
    assert_int_equal(u->acc.n, SESSIONS);
    assert_int_equal(atomic_load(&u->ca.resumed), SESSIONS);
    assert_int_equal(atomic_load(&u->cb.resumed), SESSIONS);
    assert_int_equal(u->cut.links[0], 2 * SESSIONS);
    assert_int_equal(u->cut.links[1], 2 * SESSIONS);
    upath_close(u);
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp_frames_both_ways_and_demux),
        cmocka_unit_test(test_udp_errors_and_noise),
        cmocka_unit_test(test_udp_rpc_through_rel_two_schedulers),
        cmocka_unit_test(test_udp_rel_session_survives_cuts),
        cmocka_unit_test(test_udp_rel_session_handshake_under_loss),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
