/* bench_ipc.c - kcoro's side of the two-process ipc benchmarks.
 *
 * Two processes (fork), both pinned by kc_bench_place() to the same CPUs as
 * the peers in core/bench/peers/ipc_*.c, one scheduler worker each. RPC
 * (kcoro/ipc.h) against a server whose handler for command 1 echoes its
 * payload (a malloc'd copy, as a handler's reply is), run as a task per
 * request (the default); command 2 is the same handler registered
 * KC_RPC_INLINE (it runs on the connection's rx coroutine, as the peers'
 * servers echo in their loop), measured beside:
 *   ipc.rpc_rtt_64          ns     kc_rpc_call() of 64 bytes over unix:, one
 *                                  outstanding, no deadline
 *   ipc.rpc_inflight64      req/s  a window of 64 requests in flight on one
 *                                  connection (kc_rpc_send_async(), then one
 *                                  more sent per kc_rpc_await() that returns)
 *   ipc.conn_idle_bytes     B      1,000 idle connections over unix: (HELLO
 *                                  done, rx and tx parked): growth of the
 *                                  resident set (/proc/self/statm) per
 *                                  connection, of the process that grew
 *                                  most (client or server), each side a
 *                                  fresh process per repetition
 *   ipc.conn_idle_bytes_used B     the same after one call on each
 *                                  connection (tx's send path and a reply
 *                                  have touched their memory), ungated
 *   ipc.rpc_rtt_64_tcp      ns     rpc_rtt_64 over tcp://127.0.0.1
 *                                  (libkcoro-tcp)
 *   ipc.rpc_rtt_64_inline     ns     rpc_rtt_64 with the inline handler
 *   ipc.rpc_inflight64_inline req/s  rpc_inflight64 with the inline handler
 * A process's resident set holds its heap, its coroutine stacks and its
 * poller, and none of the kernel's socket buffers or descriptor tables:
 * that is the "kernel buffers excluded" of conn_idle_bytes, and the method
 * the ZeroMQ and nng peers use for theirs.
 * Underneath, the layer RPC runs on, the transport (kcoro/transport.h),
 * from coroutines, ungated:
 *   ipc.transport_rtt_64         ns     one 64-byte REQUEST frame and its
 *                                       echo over unix:, one outstanding
 *   ipc.transport_inflight64     req/s  64 frames sent, then their 64
 *                                       echoes received
 *   ipc.transport_rtt_64_tcp     ns     transport_rtt_64 over tcp://127.0.0.1
 *                                       (libkcoro-tcp)
 * Frames carry the 16-byte header (RPC adds its 8-byte prefix); the peers'
 * raw sockets carry none. Every server is forked before the measuring
 * process starts any thread.
 */
#include "kcoro.h"
#include "kcoro/io.h"
#include "kcoro/tcp.h"

#include "kc_bench_sched.h"
#include "kc_bench_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL
#define WINDOW 64
#define IDLE_CONNS 1000
#define CMD_ECHO 1
#define CMD_ECHO_INLINE 2

/* ------------------------------------------------------------ server */

struct server {
    const char *url; /* what to listen on */
    int ready;       /* pipe: the URL to connect to, once listening */
};

/* Echo every frame until the client goes away. */
static int echo(void *arg)
{
    struct server *sv = arg;
    kc_transport_t *l = NULL, *c = NULL;
    if (kc_transport_listen(sv->url, NULL, &l) != 0)
        return 1;
    char url[128];
    snprintf(url, sizeof url, "%s", sv->url);
    if (strncmp(url, "tcp:", 4) == 0) { /* port 0: tell the client the port */
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname(kc_transport_poll_handle(l), (struct sockaddr *)&ss, &len) != 0)
            return 1;
        snprintf(url, sizeof url, "tcp://127.0.0.1:%u",
                 (unsigned)ntohs(((struct sockaddr_in *)&ss)->sin_port));
    }
    if (write(sv->ready, url, sizeof url) != (ssize_t)sizeof url)
        return 1;
    if (kc_transport_accept(l, &c, NULL, KC_NO_TIMEOUT, NULL) != 0)
        return 1;
    for (;;) {
        kc_frame_hdr_t h;
        void *p = NULL;
        int rc = kc_transport_recv_frame(c, &h, &p, KC_FRAME_MAX_MAX, KC_NO_TIMEOUT, NULL);
        if (rc != 0)
            break;
        struct iovec v = {p, h.len};
        rc = kc_transport_send_frame(c, &h, &v, h.len ? 1 : 0, KC_NO_TIMEOUT, NULL);
        free(p);
        if (rc != 0)
            break;
    }
    kc_transport_close(c);
    kc_transport_close(l);
    return 0;
}

/* Fork a server process; returns its pid, *url gets where to connect. */
static pid_t spawn_server(const char *listen_url, char *url)
{
    int p[2];
    if (pipe(p) != 0)
        abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        close(p[0]);
        if (kc_tcp_register() != 0)
            _exit(1);
        struct server sv = {listen_url, p[1]};
        _exit(kc_bench_run_task(echo, &sv));
    }
    close(p[1]);
    if (read(p[0], url, 128) != 128) {
        fprintf(stderr, "bench_ipc: the server for %s did not start\n", listen_url);
        exit(1);
    }
    close(p[0]);
    return pid;
}

static void reap(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_ipc: a server failed\n");
        exit(1);
    }
}

/* ------------------------------------------------------------ client */

struct client {
    kc_sched_t *s;
    const char *url;
    kc_transport_t *t;
    long iters;
    int batch; /* frames per exchange */
    double result;
};

static int connect_to(void *arg)
{
    struct client *c = arg;
    return kc_transport_connect(c->url, NULL, &c->t, 5 * SEC, NULL) != 0;
}

/* iters exchanges of `batch` frames of 64 bytes; result = ns per exchange. */
static int exchange(void *arg)
{
    struct client *c = arg;
    uint8_t buf[64];
    memset(buf, 0x5a, sizeof buf);
    struct iovec v = {buf, sizeof buf};
    uint64_t t0 = kc_bench_now_ns();
    for (long i = 0; i < c->iters; i++) {
        for (int k = 0; k < c->batch; k++) {
            kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_REQUEST, 0, 0, (uint32_t)k, 64};
            if (kc_transport_send_frame(c->t, &h, &v, 1, KC_NO_TIMEOUT, NULL) != 0)
                return 1;
        }
        for (int k = 0; k < c->batch; k++) {
            kc_frame_hdr_t h;
            void *p = NULL;
            if (kc_transport_recv_frame(c->t, &h, &p, 1024, KC_NO_TIMEOUT, NULL) != 0 ||
                h.len != 64 || h.id != (uint32_t)k)
                return 1;
            free(p);
        }
    }
    c->result = (double)(kc_bench_now_ns() - t0) / (double)c->iters;
    return 0;
}

static void run(struct client *c, kc_coro_fn_t fn)
{
    kc_task_t *t;
    int st = 1;
    if (kc_sched_spawn(c->s, &t, fn, c, NULL) != 0 ||
        kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL) != 0 || st != 0) {
        fprintf(stderr, "bench_ipc: %s failed\n", c->url);
        exit(1);
    }
}

static double rtt(void *arg)
{
    struct client *c = arg;
    c->batch = 1;
    run(c, exchange);
    return c->result;
}

static double inflight(void *arg)
{
    struct client *c = arg;
    c->batch = 64;
    run(c, exchange);
    return 64.0 * 1e9 / c->result;
}

/* ------------------------------------------------------------ RPC */

/* Command CMD_ECHO: the reply is a copy of the request. */
static int echo_handler(const kc_rpc_req_t *req, void *arg, void **out, size_t *out_len)
{
    (void)arg;
    if (req->len == 0)
        return 0;
    void *p = malloc(req->len);
    if (p == NULL)
        return -ENOMEM;
    memcpy(p, req->payload, req->len);
    *out = p;
    *out_len = req->len;
    return 0;
}

/* A free port on 127.0.0.1 for a tcp:// listener ("tcp://127.0.0.1:N"). */
static void free_tcp_url(char *url, size_t n)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        abort();
    close(fd); /* never connected: the port is free again at once */
    snprintf(url, n, "tcp://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
}

/* Room for n more descriptors (1,000 idle connections need it). */
static void fd_room(long n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)n + 64 ? rl.rlim_max : (rlim_t)n + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

struct rpc_server {
    const char *url; /* what to listen on */
    int ready;       /* pipe: one byte once listening */
    int conns;       /* connections to accept */
    int report;      /* pipe (or -1): the resident set's growth, once all are open */
    int measure;     /* pipe: one byte says when to measure (with report) */
};

/* Accept sv->conns connections, serve them until their clients close
 * them, then close them all. */
static int rpc_serve(void *arg)
{
    struct rpc_server *sv = arg;
    kc_rpc_router_t *r;
    kc_ipc_server_t *srv;
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    if (kc_rpc_router_create(&r) != 0 || kc_rpc_router_add(r, CMD_ECHO, echo_handler, NULL) != 0 ||
        kc_rpc_router_add_flags(r, CMD_ECHO_INLINE, echo_handler, NULL, KC_RPC_INLINE) != 0)
        return 1;
    o.router = r;
    if (kc_ipc_listen(&srv, sv->url, &o) != 0)
        return 1;
    kc_ipc_conn_t **c = calloc((size_t)sv->conns, sizeof *c);
    long before = kc_bench_rss_bytes();
    char b = 1;
    if (c == NULL || write(sv->ready, &b, 1) != 1)
        return 1;
    for (int i = 0; i < sv->conns; i++)
        if (kc_ipc_accept(srv, &c[i], KC_NO_TIMEOUT, NULL) != 0)
            return 1;
    if (sv->report >= 0) {
        char m;
        /* Parks this coroutine (not the worker): the handlers of the
         * client's calls run meanwhile. */
        if (kc_io_set_nonblock(sv->measure) != 0 ||
            kc_read(sv->measure, &m, 1, KC_NO_TIMEOUT, NULL) != 1)
            return 1;
        long grown = kc_bench_rss_bytes() - before;
        if (write(sv->report, &grown, sizeof grown) != (ssize_t)sizeof grown)
            return 1;
    }
    for (int i = 0; i < sv->conns; i++) {
        kc_ipc_wait_dead(c[i], KC_NO_TIMEOUT, NULL);
        kc_ipc_close(c[i]);
    }
    free(c);
    kc_ipc_server_close(srv);
    kc_rpc_router_destroy(r);
    return 0;
}

/* Fork a process that runs fn(arg) as a coroutine on a one-worker
 * scheduler and exits with its result. */
static pid_t spawn_coro(kc_coro_fn_t fn, void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        if (kc_tcp_register() != 0)
            _exit(1);
        _exit(kc_bench_run_task(fn, arg));
    }
    return pid;
}

/* Fork an RPC server for url; returns once it listens. */
static pid_t spawn_rpc_server(const char *url, int conns, int report, int measure)
{
    int p[2];
    if (pipe(p) != 0)
        abort();
    struct rpc_server sv = {url, p[1], conns, report, measure};
    pid_t pid = spawn_coro(rpc_serve, &sv);
    close(p[1]);
    char b;
    if (read(p[0], &b, 1) != 1) {
        fprintf(stderr, "bench_ipc: the RPC server for %s did not start\n", url);
        exit(1);
    }
    close(p[0]);
    return pid;
}

struct rpc_client {
    kc_sched_t *s;
    const char *url;
    kc_ipc_conn_t *c;
    long iters;
    double result;
    uint16_t cmd; /* CMD_ECHO (a task) or CMD_ECHO_INLINE */
};

static int rpc_connect(void *arg)
{
    struct rpc_client *c = arg;
    return kc_ipc_connect(&c->c, c->url, NULL, 5 * SEC, NULL) != 0;
}

static int rpc_close(void *arg)
{
    struct rpc_client *c = arg;
    kc_ipc_close(c->c);
    return 0;
}

/* iters calls of 64 bytes, one at a time; result = ns per call. */
static int rpc_calls(void *arg)
{
    struct rpc_client *c = arg;
    uint8_t buf[64];
    memset(buf, 0x5a, sizeof buf);
    uint64_t t0 = kc_bench_now_ns();
    for (long i = 0; i < c->iters; i++) {
        void *p = NULL;
        size_t n = 0;
        if (kc_rpc_call(c->c, c->cmd, 0, buf, sizeof buf, KC_NO_TIMEOUT, NULL, &p, &n) != 0 ||
            n != sizeof buf || memcmp(p, buf, n) != 0)
            return 1;
        free(p);
    }
    c->result = (double)(kc_bench_now_ns() - t0) / (double)c->iters;
    return 0;
}

/* iters requests through a window of WINDOW in flight; result = req/s. */
static int rpc_window(void *arg)
{
    struct rpc_client *c = arg;
    uint8_t buf[64];
    memset(buf, 0x5a, sizeof buf);
    kc_rpc_future_t *f[WINDOW];
    uint64_t t0 = kc_bench_now_ns();
    long sent = 0;
    for (; sent < WINDOW && sent < c->iters; sent++)
        if (kc_rpc_send_async(c->c, c->cmd, 0, buf, sizeof buf, NULL, &f[sent]) != 0)
            return 1;
    for (long got = 0; got < c->iters; got++) {
        void *p = NULL;
        size_t n = 0;
        int k = (int)(got % WINDOW);
        if (kc_rpc_await(f[k], KC_NO_TIMEOUT, NULL, NULL, &p, &n) != 0 || n != sizeof buf)
            return 1;
        free(p);
        if (sent < c->iters) {
            if (kc_rpc_send_async(c->c, c->cmd, 0, buf, sizeof buf, NULL, &f[k]) != 0)
                return 1;
            sent++;
        }
    }
    c->result = (double)c->iters * 1e9 / (double)(kc_bench_now_ns() - t0);
    return 0;
}

static void rpc_run(struct rpc_client *c, kc_coro_fn_t fn)
{
    kc_task_t *t;
    int st = 1;
    if (kc_sched_spawn(c->s, &t, fn, c, NULL) != 0 ||
        kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL) != 0 || st != 0) {
        fprintf(stderr, "bench_ipc: RPC over %s failed\n", c->url);
        exit(1);
    }
}

static double rpc_rtt(void *arg)
{
    struct rpc_client *c = arg;
    rpc_run(c, rpc_calls);
    return c->result;
}

static double rpc_inflight(void *arg)
{
    struct rpc_client *c = arg;
    rpc_run(c, rpc_window);
    return c->result;
}

/* ------------------------------------------------ idle connection memory */

struct idle {
    char url[128];
    int out; /* pipe: this process's growth per connection (double) */
    int server_report;
    int server_measure; /* one byte: measure now */
    bool used;          /* one call on each connection before measuring */
};

/* The measuring client: IDLE_CONNS connections, then the growth. */
static int idle_client(void *arg)
{
    struct idle *d = arg;
    static kc_ipc_conn_t *c[IDLE_CONNS];
    long before = kc_bench_rss_bytes();
    for (int i = 0; i < IDLE_CONNS; i++)
        if (kc_ipc_connect(&c[i], d->url, NULL, 5 * SEC, NULL) != 0)
            return 1;
    uint8_t buf[64] = {0};
    for (int i = 0; d->used && i < IDLE_CONNS; i++) {
        void *p = NULL;
        size_t n = 0;
        if (kc_rpc_call(c[i], CMD_ECHO, 0, buf, sizeof buf, 5 * SEC, NULL, &p, &n) != 0)
            return 1;
        free(p);
    }
    long server_grown;
    char m = 1;
    if (write(d->server_measure, &m, 1) != 1)
        return 1;
    if (read(d->server_report, &server_grown, sizeof server_grown) != (ssize_t)sizeof server_grown)
        return 1;
    long grown = kc_bench_rss_bytes() - before;
    double v = (double)(grown > server_grown ? grown : server_grown) / IDLE_CONNS;
    for (int i = 0; i < IDLE_CONNS; i++)
        kc_ipc_close(c[i]);
    return write(d->out, &v, sizeof v) != (ssize_t)sizeof v;
}

/* One repetition: a fresh server and a fresh client process (forked from
 * this one, which has started no thread yet). */
static double conn_idle(void *arg)
{
    struct idle d;
    d.used = arg != NULL;
    int rep[2], out[2], mea[2];
    if (pipe(rep) != 0 || pipe(out) != 0 || pipe(mea) != 0)
        abort();
    snprintf(d.url, sizeof d.url, "unix:/tmp/kcoro-bench-idle-%ld.sock", (long)getpid());
    /* The server measures when the client says so: once every
     * connection is open (and, with `used`, every call answered). */
    pid_t srv = spawn_rpc_server(d.url, IDLE_CONNS, rep[1], mea[0]);
    d.out = out[1];
    d.server_report = rep[0];
    d.server_measure = mea[1];
    pid_t cli = spawn_coro(idle_client, &d);
    double v = 0;
    if (read(out[0], &v, sizeof v) != (ssize_t)sizeof v) {
        fprintf(stderr, "bench_ipc: the idle-connection client failed\n");
        exit(1);
    }
    reap(cli);
    reap(srv);
    for (int i = 0; i < 2; i++) {
        close(rep[i]);
        close(out[i]);
        close(mea[i]);
    }
    return v;
}

/* With arguments, only the figures named run, with or without the "ipc."
 * (`bench_ipc rpc_rtt_64` under strace or callgrind). */
static int nwant;
static char **wanted;
static bool want(const char *figure)
{
    for (int i = 0; i < nwant; i++)
        if (strcmp(figure, wanted[i]) == 0 || strcmp(figure + 4, wanted[i]) == 0)
            return true;
    return nwant == 0;
}

int main(int argc, char **argv)
{
    nwant = argc - 1;
    wanted = argv + 1;
    kc_bench_place();
    fd_room(IDLE_CONNS + 64);
    if (want("ipc.conn_idle_bytes"))
        kc_bench_measure("ipc.conn_idle_bytes", "B", conn_idle, NULL);
    static int used = 1;
    if (want("ipc.conn_idle_bytes_used"))
        kc_bench_measure("ipc.conn_idle_bytes_used", "B", conn_idle, &used);

    char path[96], unix_url[128], tcp_url[128], rpc_unix[96], rpc_tcp[128];
    snprintf(path, sizeof path, "unix:/tmp/kcoro-bench-ipc-%ld.sock", (long)getpid());
    snprintf(rpc_unix, sizeof rpc_unix, "unix:/tmp/kcoro-bench-rpc-%ld.sock", (long)getpid());
    free_tcp_url(rpc_tcp, sizeof rpc_tcp);
    bool ru = want("ipc.rpc_rtt_64") || want("ipc.rpc_inflight64") ||
              want("ipc.rpc_rtt_64_inline") || want("ipc.rpc_inflight64_inline");
    bool rt = want("ipc.rpc_rtt_64_tcp");
    bool tu = want("ipc.transport_rtt_64") || want("ipc.transport_inflight64");
    bool tt = want("ipc.transport_rtt_64_tcp");
    pid_t rpc_unix_srv = ru ? spawn_rpc_server(rpc_unix, 1, -1, -1) : 0;
    pid_t rpc_tcp_srv = rt ? spawn_rpc_server(rpc_tcp, 1, -1, -1) : 0;
    pid_t unix_srv = tu ? spawn_server(path, unix_url) : 0;
    pid_t tcp_srv = tt ? spawn_server("tcp://127.0.0.1:0", tcp_url) : 0;
    if (kc_tcp_register() != 0)
        return 1;

    kc_sched_t *s = kc_bench_one_worker();
    if (ru) {
        struct rpc_client r = {s, rpc_unix, NULL, kc_bench_iters(50000), 0, CMD_ECHO};
        rpc_run(&r, rpc_connect);
        if (want("ipc.rpc_rtt_64"))
            kc_bench_measure("ipc.rpc_rtt_64", "ns", rpc_rtt, &r);
        r.cmd = CMD_ECHO_INLINE;
        if (want("ipc.rpc_rtt_64_inline"))
            kc_bench_measure("ipc.rpc_rtt_64_inline", "ns", rpc_rtt, &r);
        r.iters = kc_bench_iters(200000);
        r.cmd = CMD_ECHO;
        if (want("ipc.rpc_inflight64"))
            kc_bench_measure("ipc.rpc_inflight64", "req/s", rpc_inflight, &r);
        r.cmd = CMD_ECHO_INLINE;
        if (want("ipc.rpc_inflight64_inline"))
            kc_bench_measure("ipc.rpc_inflight64_inline", "req/s", rpc_inflight, &r);
        rpc_run(&r, rpc_close);
        reap(rpc_unix_srv);
    }
    if (rt) {
        struct rpc_client r = {s, rpc_tcp, NULL, kc_bench_iters(50000), 0, CMD_ECHO};
        rpc_run(&r, rpc_connect);
        kc_bench_measure("ipc.rpc_rtt_64_tcp", "ns", rpc_rtt, &r);
        rpc_run(&r, rpc_close);
        reap(rpc_tcp_srv);
    }
    if (tu) {
        struct client u = {s, unix_url, NULL, kc_bench_iters(100000), 1, 0};
        run(&u, connect_to);
        if (want("ipc.transport_rtt_64"))
            kc_bench_measure("ipc.transport_rtt_64", "ns", rtt, &u);
        u.iters = kc_bench_iters(20000);
        if (want("ipc.transport_inflight64"))
            kc_bench_measure("ipc.transport_inflight64", "req/s", inflight, &u);
        kc_transport_close(u.t);
        reap(unix_srv);
    }
    if (tt) {
        struct client t = {s, tcp_url, NULL, kc_bench_iters(50000), 1, 0};
        run(&t, connect_to);
        kc_bench_measure("ipc.transport_rtt_64_tcp", "ns", rtt, &t);
        kc_transport_close(t.t);
        reap(tcp_srv);
    }
    kc_sched_destroy(s);
    return 0;
}
