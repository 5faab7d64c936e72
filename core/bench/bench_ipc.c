/* bench_ipc.c - kcoro's side of the two-process ipc benchmarks.
 *
 * Two processes (fork), both pinned by kc_bench_place() to the same CPUs as
 * the peers in core/bench/peers/ipc_*.c, one scheduler worker each. Until
 * connections and RPC (kcoro/ipc.h) exist, the figures measure the layer
 * they will run on, the transport (kcoro/transport.h), from coroutines:
 *   ipc.transport_rtt_64         ns     one 64-byte REQUEST frame and its
 *                                       echo over unix:, one outstanding
 *   ipc.transport_inflight64     req/s  64 frames sent, then their 64
 *                                       echoes received
 *   ipc.transport_rtt_64_tcp     ns     transport_rtt_64 over tcp://127.0.0.1
 *                                       (libkcoro-tcp)
 * Frames carry the 16-byte header the RPC frames will carry; the peers'
 * raw sockets carry none. The servers are forked before the measuring
 * process starts any thread.
 */
#include "kcoro.h"
#include "kcoro/tcp.h"

#include "kc_bench_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL

static kc_sched_t *one_worker(void)
{
    kc_sched_t *s;
    kc_sched_opts_t o = KC_SCHED_OPTS_INIT;
    o.nworkers = 1;
    if (kc_sched_create(&s, &o) != 0)
        abort();
    return s;
}

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
        kc_sched_t *s = one_worker();
        kc_task_t *t;
        int st = 1;
        if (kc_sched_spawn(s, &t, echo, &sv, NULL) != 0 ||
            kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL) != 0)
            _exit(1);
        kc_sched_destroy(s);
        _exit(st);
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

int main(void)
{
    kc_bench_place();
    char path[96], unix_url[128], tcp_url[128];
    snprintf(path, sizeof path, "unix:/tmp/kcoro-bench-ipc-%ld.sock", (long)getpid());
    pid_t unix_srv = spawn_server(path, unix_url);
    pid_t tcp_srv = spawn_server("tcp://127.0.0.1:0", tcp_url);
    if (kc_tcp_register() != 0)
        return 1;

    kc_sched_t *s = one_worker();
    struct client u = {s, unix_url, NULL, kc_bench_iters(100000), 1, 0};
    run(&u, connect_to);
    kc_bench_measure("ipc.transport_rtt_64", "ns", rtt, &u);
    u.iters = kc_bench_iters(20000);
    kc_bench_measure("ipc.transport_inflight64", "req/s", inflight, &u);
    kc_transport_close(u.t);

    struct client t = {s, tcp_url, NULL, kc_bench_iters(50000), 1, 0};
    run(&t, connect_to);
    kc_bench_measure("ipc.transport_rtt_64_tcp", "ns", rtt, &t);
    kc_transport_close(t.t);
    kc_sched_destroy(s);
    reap(unix_srv);
    reap(tcp_srv);
    return 0;
}
