/* ipc_nng.c - the nng peer of core/bench/bench_ipc.c.
 *
 * Two processes (fork), both pinned by kc_bench_place() to the same CPUs as
 * every other ipc program (nng 1.5 sizes its own thread pools; they run on
 * those CPUs too). Through nng's public API (Debian's libnng-dev):
 *   peer.nng.ipc.rtt_64           ns  req/rep over ipc://, one 64-byte request
 *                                     outstanding
 *   peer.nng.ipc.rtt_64_tcp       ns  the same over tcp://127.0.0.1
 *   peer.nng.ipc.conn_idle_bytes  B   1,000 idle req sockets dialled to one rep
 *                                     socket: resident memory growth per
 *                                     connection of the process that grew most
 * nng may not be used in a child forked after the parent used it, so the
 * serving child executes this program again (`--serve`), and so does the
 * client of each conn_idle repetition (`--idle`: a fresh process, whose
 * heap holds nothing freed by an earlier repetition).
 * kc-peer-libs: -lnng
 * kc-peer-need: libnng-dev=/usr/include/nng/nng.h
 */
#include "kc_ipc_peer.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#define IDLE_CONNS 1000

static void check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "nng %s: %s\n", what, nng_strerror(rc));
        exit(1);
    }
}

struct server {
    const char *url;
    int ready[2]; /* one byte once listening; then (idle) the growth */
    int go[2];    /* (idle) parent -> child: stop */
    long expect;  /* idle: requests to answer before reporting the growth */
};

/* Echo every request; an empty one is the last. */
static int serve(void *arg)
{
    struct server *sv = arg;
    nng_socket s;
    check(nng_rep0_open(&s), "rep0_open");
    check(nng_listen(s, sv->url, NULL, 0), "listen");
    long before = kc_bench_rss_bytes();
    char b = 1;
    if (kc_ip_write_all(sv->ready[1], &b, 1) != 0)
        return 1;
    char buf[256];
    for (long n = 0;; n++) {
        if (sv->expect > 0 && n == sv->expect) {
            long grown = kc_bench_rss_bytes() - before;
            if (kc_ip_write_all(sv->ready[1], &grown, sizeof(grown)) != 0 ||
                kc_ip_read_all(sv->go[0], &b, 1) != 0)
                return 1;
            break;
        }
        size_t sz = sizeof(buf);
        check(nng_recv(s, buf, &sz, 0), "recv");
        check(nng_send(s, buf, sz, 0), "send");
        if (sz == 0)
            break;
    }
    nng_close(s);
    return 0;
}

static const char *self;

/* The child: this program again, serving (main reads the arguments back). */
static int exec_server(void *arg)
{
    struct server *sv = arg;
    char expect[32], ready[16], go[16];
    snprintf(expect, sizeof(expect), "%ld", sv->expect);
    snprintf(ready, sizeof(ready), "%d", sv->ready[1]);
    snprintf(go, sizeof(go), "%d", sv->go[0]);
    execl(self, self, "--serve", sv->url, expect, ready, go, (char *)NULL);
    perror("execl");
    return 1;
}

static pid_t start_server(struct server *sv)
{
    if (pipe(sv->ready) != 0 || pipe(sv->go) != 0)
        exit(1);
    pid_t pid = kc_ip_spawn(exec_server, sv);
    char b;
    if (kc_ip_read_all(sv->ready[0], &b, 1) != 0)
        exit(1);
    return pid;
}

static void stop_server(struct server *sv, pid_t pid, const char *name)
{
    kc_ip_reap(pid, name);
    for (int i = 0; i < 2; i++) {
        close(sv->ready[i]);
        close(sv->go[i]);
    }
}

struct client {
    nng_socket s;
    long iters;
};

static double rtt(void *arg)
{
    struct client *c = arg;
    char buf[64];
    memset(buf, 0x5a, sizeof(buf));
    uint64_t t0 = kc_bench_now_ns();
    for (long i = 0; i < c->iters; i++) {
        size_t sz = sizeof(buf);
        check(nng_send(c->s, buf, 64, 0), "send");
        check(nng_recv(c->s, buf, &sz, 0), "recv");
    }
    return (double)(kc_bench_now_ns() - t0) / (double)c->iters;
}

static void figure(const char *name, const char *url, long iters)
{
    struct server sv = {url, {-1, -1}, {-1, -1}, 0};
    pid_t pid = start_server(&sv);
    struct client c;
    check(nng_req0_open(&c.s), "req0_open");
    check(nng_dial(c.s, url, NULL, 0), "dial");
    c.iters = iters;
    kc_bench_measure(name, "ns", rtt, &c);
    size_t sz = 0;
    char b;
    check(nng_send(c.s, &b, 0, 0), "send stop");
    check(nng_recv(c.s, &b, &sz, 0), "recv stop");
    nng_close(c.s);
    stop_server(&sv, pid, name);
}

static double conn_idle_here(const char *url)
{
    struct server sv = {url, {-1, -1}, {-1, -1}, IDLE_CONNS};
    pid_t pid = start_server(&sv);
    static nng_socket socks[IDLE_CONNS];
    long before = kc_bench_rss_bytes();
    for (int i = 0; i < IDLE_CONNS; i++) {
        char b = 'x';
        size_t sz = 1;
        check(nng_req0_open(&socks[i]), "req0_open");
        check(nng_dial(socks[i], url, NULL, 0), "dial");
        check(nng_send(socks[i], &b, 1, 0), "send");
        check(nng_recv(socks[i], &b, &sz, 0), "recv");
    }
    long server_grown;
    if (kc_ip_read_all(sv.ready[0], &server_grown, sizeof(server_grown)) != 0)
        exit(1);
    long grown = kc_bench_rss_bytes() - before;
    for (int i = 0; i < IDLE_CONNS; i++)
        nng_close(socks[i]);
    char b = 0;
    if (kc_ip_write_all(sv.go[1], &b, 1) != 0)
        exit(1);
    stop_server(&sv, pid, "peer.nng.ipc.conn_idle_bytes");
    return (double)(grown > server_grown ? grown : server_grown) / IDLE_CONNS;
}

struct idle_arg {
    int p[2]; /* the child writes its figure to p[1] */
    char url[160];
};

static int exec_idle(void *arg)
{
    struct idle_arg *a = arg;
    char fd[16];
    close(a->p[0]);
    snprintf(fd, sizeof(fd), "%d", a->p[1]);
    execl(self, self, "--idle", a->url, fd, (char *)NULL);
    perror("execl");
    return 1;
}

/* One repetition in a fresh client process. */
static double conn_idle(void *arg)
{
    struct idle_arg a;
    snprintf(a.url, sizeof(a.url), "%s", (const char *)arg);
    if (pipe(a.p) != 0)
        exit(1);
    pid_t pid = kc_ip_spawn(exec_idle, &a);
    close(a.p[1]);
    double v;
    if (kc_ip_read_all(a.p[0], &v, sizeof(v)) != 0)
        exit(1);
    close(a.p[0]);
    kc_ip_reap(pid, "peer.nng.ipc.conn_idle_bytes");
    return v;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "--serve") == 0) {
        struct server sv = {argv[2], {-1, atoi(argv[4])}, {atoi(argv[5]), -1}, atol(argv[3])};
        return serve(&sv);
    }
    self = "/proc/self/exe";
    if (argc == 4 && strcmp(argv[1], "--idle") == 0) {
        double v = conn_idle_here(argv[2]);
        return kc_ip_write_all(atoi(argv[3]), &v, sizeof(v)) != 0;
    }
    (void)argv;
    kc_bench_place();
    kc_ip_fd_room(4 * IDLE_CONNS);
    char path[128], url[160];
    kc_ip_path(path, sizeof(path), "nng");
    snprintf(url, sizeof(url), "ipc://%s", path);
    figure("peer.nng.ipc.rtt_64", url, kc_bench_iters(50000));
    figure("peer.nng.ipc.rtt_64_tcp", "tcp://127.0.0.1:47313", kc_bench_iters(50000));
    kc_bench_measure("peer.nng.ipc.conn_idle_bytes", "B", conn_idle, url);
    unlink(path);
    return 0;
}
