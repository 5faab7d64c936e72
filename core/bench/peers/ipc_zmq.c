/* ipc_zmq.c - the ZeroMQ peer of core/bench/bench_ipc.c.
 *
 * Two processes (fork), both pinned by kc_bench_place() to the same CPUs as
 * every other ipc program; one ZeroMQ I/O thread each (the default, like the
 * one worker kcoro's side runs). Through libzmq's public API (Debian's
 * libzmq3-dev):
 *   peer.zmq.ipc.rtt_64           ns     REQ/REP over ipc://, one 64-byte
 *                                        request outstanding
 *   peer.zmq.ipc.rtt_64_tcp       ns     the same over tcp://127.0.0.1
 *   peer.zmq.ipc.inflight64       req/s  DEALER/ROUTER over ipc://, a window
 *                                        of 64 requests in flight
 *   peer.zmq.ipc.inflight64_tcp   req/s  the same over tcp://
 *   peer.zmq.ipc.conn_idle_bytes  B      1,000 idle DEALER connections to one
 *                                        ROUTER: resident memory growth per
 *                                        connection of the process that grew
 *                                        most (client or server)
 * kc-peer-libs: -lzmq
 * kc-peer-need: libzmq3-dev=/usr/include/zmq.h
 */
#include "kc_ipc_peer.h"

#include <zmq.h>

#define WINDOW 64
#define IDLE_CONNS 1000

static void *ctx_new(void)
{
    void *ctx = zmq_ctx_new();
    if (ctx == NULL || zmq_ctx_set(ctx, ZMQ_IO_THREADS, 1) != 0 ||
        zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, IDLE_CONNS + 64) != 0)
        exit(1);
    return ctx;
}

static void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "zmq %s: %s\n", what, zmq_strerror(zmq_errno()));
        exit(1);
    }
}

struct server {
    const char *endpoint;
    int type;  /* ZMQ_REP or ZMQ_ROUTER */
    int ready; /* pipe: one byte once bound */
};

/* Answer every request with its own bytes until told to stop (an empty
 * message from the client). */
static int serve(void *arg)
{
    struct server *sv = arg;
    void *ctx = ctx_new();
    void *s = zmq_socket(ctx, sv->type);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    check(zmq_bind(s, sv->endpoint), "bind");
    char b = 1;
    if (kc_ip_write_all(sv->ready, &b, 1) != 0)
        return 1;
    char id[256], buf[256];
    for (;;) {
        int idn = 0;
        if (sv->type == ZMQ_ROUTER)
            check(idn = zmq_recv(s, id, sizeof(id), 0), "recv id");
        int n = zmq_recv(s, buf, sizeof(buf), 0);
        check(n, "recv");
        if (n == 0)
            break;
        if (sv->type == ZMQ_ROUTER)
            check(zmq_send(s, id, (size_t)idn, ZMQ_SNDMORE), "send id");
        check(zmq_send(s, buf, (size_t)n, 0), "send");
    }
    if (sv->type == ZMQ_REP)
        zmq_send(s, "", 0, 0);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}

struct client {
    void *s;
    long iters;
};

static double rtt(void *arg)
{
    struct client *c = arg;
    char buf[64];
    memset(buf, 0x5a, sizeof(buf));
    uint64_t t0 = kc_bench_now_ns();
    for (long i = 0; i < c->iters; i++) {
        check(zmq_send(c->s, buf, 64, 0), "send");
        check(zmq_recv(c->s, buf, 64, 0), "recv");
    }
    return (double)(kc_bench_now_ns() - t0) / (double)c->iters;
}

/* A sliding window: WINDOW requests out, one more sent per reply. */
static double inflight(void *arg)
{
    struct client *c = arg;
    char buf[64];
    memset(buf, 0x5a, sizeof(buf));
    uint64_t t0 = kc_bench_now_ns();
    long sent = 0, got = 0;
    for (; sent < WINDOW && sent < c->iters; sent++)
        check(zmq_send(c->s, buf, 64, 0), "send");
    while (got < c->iters) {
        check(zmq_recv(c->s, buf, 64, 0), "recv");
        got++;
        if (sent < c->iters) {
            check(zmq_send(c->s, buf, 64, 0), "send");
            sent++;
        }
    }
    return (double)c->iters * 1e9 / (double)(kc_bench_now_ns() - t0);
}

static pid_t start_server(struct server *sv, const char *endpoint, int type)
{
    int p[2];
    if (pipe(p) != 0)
        exit(1);
    sv->endpoint = endpoint;
    sv->type = type;
    sv->ready = p[1];
    pid_t pid = kc_ip_spawn(serve, sv);
    close(p[1]);
    char b;
    if (kc_ip_read_all(p[0], &b, 1) != 0)
        exit(1);
    close(p[0]);
    return pid;
}

static void figure(const char *name, const char *unit, const char *endpoint, int stype, int ctype,
                   double (*fn)(void *), long iters)
{
    struct server sv;
    pid_t pid = start_server(&sv, endpoint, stype);
    void *ctx = ctx_new();
    void *s = zmq_socket(ctx, ctype);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    check(zmq_connect(s, endpoint), "connect");
    struct client c = {s, iters};
    kc_bench_measure(name, unit, fn, &c);
    check(zmq_send(s, "", 0, 0), "send stop");
    if (ctype == ZMQ_REQ)
        zmq_recv(s, NULL, 0, 0);
    zmq_close(s);
    zmq_ctx_term(ctx);
    kc_ip_reap(pid, name);
}

/* ------------------------------------------------ idle connection memory */

struct idle {
    const char *endpoint;
    int ready[2]; /* child -> parent: growth in bytes once all are connected */
    int go[2];    /* parent -> child: "all connected", then "stop" */
};

static int idle_server(void *arg)
{
    struct idle *d = arg;
    void *ctx = ctx_new();
    void *s = zmq_socket(ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    check(zmq_bind(s, d->endpoint), "bind");
    long before = kc_bench_rss_bytes();
    char b = 1;
    if (kc_ip_write_all(d->ready[1], &b, 1) != 0)
        return 1;
    /* Every client sends one message, so every pipe is fully set up. */
    char id[256], buf[64];
    for (int i = 0; i < IDLE_CONNS; i++) {
        check(zmq_recv(s, id, sizeof(id), 0), "recv id");
        check(zmq_recv(s, buf, sizeof(buf), 0), "recv");
    }
    long grown = kc_bench_rss_bytes() - before;
    if (kc_ip_write_all(d->ready[1], &grown, sizeof(grown)) != 0 ||
        kc_ip_read_all(d->go[0], &b, 1) != 0)
        return 1;
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}

static double conn_idle_here(struct idle *d)
{
    if (pipe(d->ready) != 0 || pipe(d->go) != 0)
        exit(1);
    pid_t pid = kc_ip_spawn(idle_server, d);
    char b;
    if (kc_ip_read_all(d->ready[0], &b, 1) != 0)
        exit(1);
    void *ctx = ctx_new();
    static void *socks[IDLE_CONNS];
    long before = kc_bench_rss_bytes();
    int zero = 0;
    for (int i = 0; i < IDLE_CONNS; i++) {
        socks[i] = zmq_socket(ctx, ZMQ_DEALER);
        if (socks[i] == NULL)
            check(-1, "socket");
        zmq_setsockopt(socks[i], ZMQ_LINGER, &zero, sizeof(zero));
        check(zmq_connect(socks[i], d->endpoint), "connect");
        check(zmq_send(socks[i], "x", 1, 0), "send");
    }
    long server_grown;
    if (kc_ip_read_all(d->ready[0], &server_grown, sizeof(server_grown)) != 0)
        exit(1);
    long grown = kc_bench_rss_bytes() - before;
    if (kc_ip_write_all(d->go[1], &b, 1) != 0)
        exit(1);
    for (int i = 0; i < IDLE_CONNS; i++)
        zmq_close(socks[i]);
    zmq_ctx_term(ctx);
    kc_ip_reap(pid, "peer.zmq.ipc.conn_idle_bytes");
    close(d->ready[0]);
    close(d->ready[1]);
    close(d->go[0]);
    close(d->go[1]);
    return (double)(grown > server_grown ? grown : server_grown) / IDLE_CONNS;
}

/* One repetition in a fresh client process (forked before it touches
 * ZeroMQ), whose heap holds nothing freed by an earlier repetition. */
static struct idle *idle_arg;
static int idle_client(void *arg)
{
    int *p = arg;
    close(p[0]);
    double v = conn_idle_here(idle_arg);
    return kc_ip_write_all(p[1], &v, sizeof(v)) != 0;
}

static double conn_idle(void *arg)
{
    int p[2];
    idle_arg = arg;
    if (pipe(p) != 0)
        exit(1);
    pid_t pid = kc_ip_spawn(idle_client, p);
    close(p[1]);
    double v;
    if (kc_ip_read_all(p[0], &v, sizeof(v)) != 0)
        exit(1);
    close(p[0]);
    kc_ip_reap(pid, "peer.zmq.ipc.conn_idle_bytes");
    return v;
}

int main(void)
{
    kc_bench_place();
    kc_ip_fd_room(4 * IDLE_CONNS);
    char path[128], ep[160];
    kc_ip_path(path, sizeof(path), "zmq");
    snprintf(ep, sizeof(ep), "ipc://%s", path);
    /* A fixed loopback port per figure; the kernel frees it at close. */
    figure("peer.zmq.ipc.rtt_64", "ns", ep, ZMQ_REP, ZMQ_REQ, rtt, kc_bench_iters(50000));
    figure("peer.zmq.ipc.rtt_64_tcp", "ns", "tcp://127.0.0.1:47311", ZMQ_REP, ZMQ_REQ, rtt,
           kc_bench_iters(50000));
    figure("peer.zmq.ipc.inflight64", "req/s", ep, ZMQ_ROUTER, ZMQ_DEALER, inflight,
           kc_bench_iters(500000));
    figure("peer.zmq.ipc.inflight64_tcp", "req/s", "tcp://127.0.0.1:47312", ZMQ_ROUTER, ZMQ_DEALER,
           inflight, kc_bench_iters(500000));
    struct idle d = {ep, {-1, -1}, {-1, -1}};
    kc_bench_measure("peer.zmq.ipc.conn_idle_bytes", "B", conn_idle, &d);
    unlink(path);
    return 0;
}
