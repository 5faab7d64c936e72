/* ipc_raw.c - raw sockets, the floor under core/bench/bench_ipc.c.
 *
 * Two processes (fork), both pinned by kc_bench_place() to the same CPUs as
 * every other ipc program, one thread each, blocking sockets, no framing:
 *   peer.raw.ipc.rtt_64      ns     one 64-byte request and its 64-byte reply
 *                                   over a UNIX socketpair, one outstanding
 *   peer.raw.ipc.inflight64  req/s  64 requests of 64 bytes written with one
 *                                   write, the 64 replies with one write
 *   peer.raw.ipc.rtt_64_tcp  ns     rtt_64 over loopback TCP (TCP_NODELAY)
 * The server echoes whatever size the figure uses until the client closes.
 */
#include "kc_ipc_peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

struct echo {
    int fd;        /* the server's end, or the listening socket (tcp) */
    size_t size;   /* bytes per exchange */
    int accept_it; /* 1: fd listens; accept one connection first */
    int other;     /* the client's end, closed in the server (or -1) */
};

static int serve(void *arg)
{
    struct echo *e = arg;
    int fd = e->fd;
    if (e->other >= 0)
        close(e->other);
    if (e->accept_it) {
        fd = accept(e->fd, NULL, NULL);
        if (fd < 0)
            return 1;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    char *buf = malloc(e->size);
    if (buf == NULL)
        return 1;
    while (kc_ip_read_all(fd, buf, e->size) == 0)
        if (kc_ip_write_all(fd, buf, e->size) != 0)
            return 1;
    free(buf);
    close(fd);
    return 0;
}

struct client {
    int fd;
    size_t size;
    long iters;
};

/* ns per exchange */
static double exchange(void *arg)
{
    struct client *c = arg;
    char buf[64 * 64];
    memset(buf, 0x5a, sizeof(buf));
    uint64_t t0 = kc_bench_now_ns();
    for (long i = 0; i < c->iters; i++)
        if (kc_ip_write_all(c->fd, buf, c->size) != 0 || kc_ip_read_all(c->fd, buf, c->size) != 0)
            exit(1);
    return (double)(kc_bench_now_ns() - t0) / (double)c->iters;
}

static double inflight(void *arg)
{
    return 64.0 * 1e9 / exchange(arg);
}

/* Run one figure over a socketpair. */
static void over_socketpair(const char *name, const char *unit, double (*fn)(void *), size_t size,
                            long iters)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        exit(1);
    struct echo e = {sv[1], size, 0, sv[0]};
    pid_t pid = kc_ip_spawn(serve, &e);
    close(sv[1]);
    struct client c = {sv[0], size, iters};
    kc_bench_measure(name, unit, fn, &c);
    close(sv[0]);
    kc_ip_reap(pid, name);
}

static void over_tcp(const char *name, long iters)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &alen) != 0)
        exit(1);
    struct echo e = {ls, 64, 1, -1};
    pid_t pid = kc_ip_spawn(serve, &e);
    close(ls);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        exit(1);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct client c = {fd, 64, iters};
    kc_bench_measure(name, "ns", exchange, &c);
    close(fd);
    kc_ip_reap(pid, name);
}

int main(void)
{
    kc_bench_place();
    over_socketpair("peer.raw.ipc.rtt_64", "ns", exchange, 64, kc_bench_iters(100000));
    over_socketpair("peer.raw.ipc.inflight64", "req/s", inflight, 64 * 64, kc_bench_iters(20000));
    over_tcp("peer.raw.ipc.rtt_64_tcp", kc_bench_iters(50000));
    return 0;
}
