/* mux_zmq.c - the ZeroMQ peer of core/bench/bench_mux.c's mux.stream_64.
 *
 * Two processes (fork), both pinned by kc_bench_place() to the same CPUs as
 * every other mux program, one ZeroMQ I/O thread each. Through libzmq's
 * public API (Debian's libzmq3-dev):
 *   peer.zmq.mux.stream_64   msg/s  64-byte messages PUSH -> PULL over ipc://;
 *                                   the puller answers one byte on a pipe
 *                                   once it has them all
 * kc-peer-libs: -lzmq
 * kc-peer-need: libzmq3-dev=/usr/include/zmq.h
 */
#include "kc_ipc_peer.h"

#include <zmq.h>

static void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "zmq %s: %s\n", what, zmq_strerror(zmq_errno()));
        exit(1);
    }
}

struct puller {
    const char *endpoint;
    long msgs;    /* per repetition */
    int ready[2]; /* child -> parent: bound, then one byte per repetition */
};

static int pull(void *arg)
{
    struct puller *p = arg;
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_PULL);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    check(zmq_bind(s, p->endpoint), "bind");
    if (kc_ip_write_all(p->ready[1], "b", 1) != 0)
        return 1;
    char buf[64];
    for (;;) {
        for (long i = 0; i < p->msgs; i++) {
            int n = zmq_recv(s, buf, sizeof(buf), 0);
            check(n, "recv");
            if (n == 0)
                goto out; /* the last, empty message */
        }
        if (kc_ip_write_all(p->ready[1], "k", 1) != 0)
            return 1;
    }
out:
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}

struct pusher {
    void *s;
    int done;
    long msgs;
};

static double stream_64(void *arg)
{
    struct pusher *p = arg;
    char buf[64], k;
    memset(buf, 0x5a, sizeof(buf));
    uint64_t t0 = kc_bench_now_ns();
    for (long i = 0; i < p->msgs; i++)
        check(zmq_send(p->s, buf, sizeof(buf), 0), "send");
    if (kc_ip_read_all(p->done, &k, 1) != 0)
        exit(1);
    return (double)p->msgs * 1e9 / (double)(kc_bench_now_ns() - t0);
}

int main(void)
{
    kc_bench_place();
    char path[128], ep[160];
    kc_ip_path(path, sizeof(path), "zmqpush");
    snprintf(ep, sizeof(ep), "ipc://%s", path);
    struct puller p = {ep, kc_bench_iters(1000000), {-1, -1}};
    if (pipe(p.ready) != 0)
        return 1;
    pid_t pid = kc_ip_spawn(pull, &p);
    char b;
    if (kc_ip_read_all(p.ready[0], &b, 1) != 0)
        return 1;
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_PUSH);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    check(zmq_connect(s, ep), "connect");
    struct pusher u = {s, p.ready[0], p.msgs};
    kc_bench_measure("peer.zmq.mux.stream_64", "msg/s", stream_64, &u);
    check(zmq_send(s, "", 0, 0), "send stop");
    kc_ip_reap(pid, "peer.zmq.mux.stream_64");
    zmq_close(s);
    zmq_ctx_term(ctx);
    unlink(path);
    return 0;
}
