/* rsel_zmq.c - the ZeroMQ peer of core/bench/bench_rsel.c's rsel.remote2_recv.
 *
 * Two processes (fork), both pinned by kc_bench_place() to the same CPUs as
 * bench_rsel, one ZeroMQ I/O thread each. The child binds two PUSH sockets
 * on ipc:// and keeps both full (a zmq_poll for room on either, then
 * non-blocking sends of 8-byte elements until one would block), as
 * bench_rsel's server keeps its two channels full. The parent connects two PULL sockets and, per
 * element, does what C programs do to wait on several remote endpoints:
 *   peer.zmq.rsel.poll2_recv  ns  zmq_poll over the two sockets, then a
 *                                 zmq_recv of one element from a ready one
 *                                 (alternating when both are)
 *   peer.zmq.rsel.recv1       ns  a zmq_recv on one socket
 * ZeroMQ pushes ahead into its pipes (no claim per element, and no
 * exactly-once between competing consumers: each PULL gets its own share).
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

struct pusher {
    const char *ep[2];
    int ready[2]; /* child -> parent: bound */
    int stop[2];  /* parent -> child: closed at the end */
};

static int push(void *arg)
{
    struct pusher *p = arg;
    close(p->stop[1]);
    void *ctx = zmq_ctx_new();
    void *s[2];
    int zero = 0;
    for (int k = 0; k < 2; k++) {
        s[k] = zmq_socket(ctx, ZMQ_PUSH);
        zmq_setsockopt(s[k], ZMQ_LINGER, &zero, sizeof(zero));
        check(zmq_bind(s[k], p->ep[k]), "bind");
    }
    if (kc_ip_write_all(p->ready[1], "b", 1) != 0)
        return 1;
    long v = 1;
    for (;;) {
        zmq_pollitem_t it[3] = {{s[0], 0, ZMQ_POLLOUT, 0},
                                {s[1], 0, ZMQ_POLLOUT, 0},
                                {NULL, p->stop[0], ZMQ_POLLIN, 0}};
        check(zmq_poll(it, 3, -1), "poll");
        if (it[2].revents != 0)
            break;                  /* the parent is done */
        for (int k = 0; k < 2; k++) /* fill each socket with room up to its limit */
            for (int j = 0; j < 64 && (it[k].revents & ZMQ_POLLOUT); j++) {
                if (zmq_send(s[k], &v, sizeof(v), ZMQ_DONTWAIT) == sizeof(v))
                    v++;
                else if (zmq_errno() == EAGAIN)
                    break;
                else
                    check(-1, "send");
            }
    }
    for (int k = 0; k < 2; k++)
        zmq_close(s[k]);
    zmq_ctx_term(ctx);
    return 0;
}

struct puller {
    void *s[2];
    long n;
};

static double poll2_recv(void *arg)
{
    struct puller *p = arg;
    long v;
    int next = 0;
    uint64_t t0 = kc_bench_now_ns();
    for (long i = 0; i < p->n; i++) {
        zmq_pollitem_t it[2] = {{p->s[0], 0, ZMQ_POLLIN, 0}, {p->s[1], 0, ZMQ_POLLIN, 0}};
        check(zmq_poll(it, 2, -1), "poll");
        int k = (it[next].revents & ZMQ_POLLIN) ? next : 1 - next;
        next = 1 - next;
        check(zmq_recv(p->s[k], &v, sizeof(v), 0), "recv");
    }
    return (double)(kc_bench_now_ns() - t0) / (double)p->n;
}

static double recv1(void *arg)
{
    struct puller *p = arg;
    long v;
    uint64_t t0 = kc_bench_now_ns();
    for (long i = 0; i < p->n; i++)
        check(zmq_recv(p->s[0], &v, sizeof(v), 0), "recv");
    return (double)(kc_bench_now_ns() - t0) / (double)p->n;
}

int main(void)
{
    kc_bench_place();
    char path[2][128], ep[2][160];
    for (int k = 0; k < 2; k++) {
        kc_ip_path(path[k], sizeof(path[k]), k == 0 ? "zmqsel0" : "zmqsel1");
        snprintf(ep[k], sizeof(ep[k]), "ipc://%s", path[k]);
    }
    struct pusher u = {{ep[0], ep[1]}, {-1, -1}, {-1, -1}};
    if (pipe(u.ready) != 0 || pipe(u.stop) != 0)
        return 1;
    pid_t pid = kc_ip_spawn(push, &u);
    close(u.stop[0]);
    char b;
    if (kc_ip_read_all(u.ready[0], &b, 1) != 0)
        return 1;
    void *ctx = zmq_ctx_new();
    struct puller p = {{NULL, NULL}, kc_bench_iters(50000)};
    int zero = 0;
    for (int k = 0; k < 2; k++) {
        p.s[k] = zmq_socket(ctx, ZMQ_PULL);
        zmq_setsockopt(p.s[k], ZMQ_LINGER, &zero, sizeof(zero));
        check(zmq_connect(p.s[k], ep[k]), "connect");
    }
    long warm = p.n;
    p.n = warm / 10 + 1;
    poll2_recv(&p);
    p.n = warm;
    kc_bench_measure("peer.zmq.rsel.poll2_recv", "ns", poll2_recv, &p);
    kc_bench_measure("peer.zmq.rsel.recv1", "ns", recv1, &p);
    close(u.stop[1]); /* the pusher stops */
    for (int k = 0; k < 2; k++)
        zmq_close(p.s[k]);
    zmq_ctx_term(ctx);
    kc_ip_reap(pid, "peer.zmq.rsel");
    for (int k = 0; k < 2; k++)
        unlink(path[k]);
    return 0;
}
