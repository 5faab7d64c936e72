/* bench_rsel.c - kcoro's side of the two-process remote-select benchmarks (issue 16).
 *
 * Two processes (fork), both pinned by kc_bench_place() to the same CPUs as
 * the peer in core/bench/peers/rsel_zmq.c, one scheduler worker each, one
 * connection over a UNIX socket carrying the remote-select protocol
 * (kcoro/rsel.h attachments). The server owns two buffered channels of
 * longs (capacity 64) that producer threads keep full; the client imports
 * them and, from its main thread:
 *   rsel.remote1_recv   ns  a plain receive on one remote channel
 *   rsel.remote2_recv   ns  an unbiased select over the two remote
 *                           channels, one element per select
 *   rsel.mixed          ns  an unbiased select over one local channel and
 *                           one remote channel (both kept full)
 *   rsel.local2_recv    ns  an unbiased select over two local channels kept
 *                           full by producer threads (the purely local
 *                           select rsel.mixed is compared with)
 * Each figure is the time per element (per select). core/bench/peers/
 * pairs.tsv compares remote2_recv with remote1_recv (the price of choice)
 * and with ZeroMQ's zmq_poll over two sockets followed by the receive, and
 * mixed with local2_recv.
 */
#include "kcoro.h"

#include "kc_bench_sched.h"
#include "kc_bench_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000LL
#define SEC 1000000000LL
#define CAP 64

static kc_chan_t *longs(void)
{
    kc_chan_t *ch;
    if (kc_chan_make(&ch, KC_CHAN_BUFFERED, CAP, sizeof(long)) != 0)
        abort();
    return ch;
}

/* A producer thread: keeps ch full until it is closed. */
static void *fill(void *arg)
{
    kc_chan_t *ch = arg;
    long v = 1;
    while (kc_chan_send(ch, &v, KC_NO_TIMEOUT, NULL) == 0)
        v++;
    return NULL;
}

/* ------------------------------------------------------------ server */

static int serve(const char *url, int ready)
{
    kc_sched_t *s = kc_bench_one_worker();
    kc_ipc_opts_t io = KC_IPC_OPTS_INIT;
    io.sched = s;
    io.ping_interval_ns = -1;
    kc_ipc_server_t *l;
    kc_ipc_conn_t *c;
    if (kc_ipc_listen(&l, url, &io) != 0 || write(ready, "r", 1) != 1 ||
        kc_ipc_accept(l, &c, 30 * SEC, NULL) != 0)
        return 1;
    kc_chan_t *x[2] = {longs(), longs()};
    kc_rsel_owner_t *o[2];
    kc_rsel_attach_t *a;
    for (int k = 0; k < 2; k++)
        if (kc_rsel_owner_create(&o[k], x[k], (uint32_t)k + 1, 0) != 0)
            return 1;
    if (kc_rsel_attach(&a, c, KC_RSEL_OWNER_SIDE, 30 * SEC) != 0 ||
        kc_rsel_attach_owner(a, o[0], 0) != 0 || kc_rsel_attach_owner(a, o[1], 0) != 0)
        return 1;
    pthread_t th[2];
    for (int k = 0; k < 2; k++)
        if (pthread_create(&th[k], NULL, fill, x[k]) != 0)
            return 1;
    kc_ipc_wait_dead(c, KC_NO_TIMEOUT, NULL); /* the client went away */
    kc_rsel_detach(a);
    for (int k = 0; k < 2; k++)
        kc_chan_close(x[k]);
    long v;
    for (int k = 0; k < 2; k++) {
        while (kc_chan_try_recv(x[k], &v) == 0)
            ;
        pthread_join(th[k], NULL);
        kc_rsel_owner_destroy(o[k], NULL);
        while (kc_chan_try_recv(x[k], &v) == 0)
            ;
        kc_chan_destroy(x[k]);
    }
    kc_ipc_close(c);
    kc_ipc_server_close(l);
    kc_sched_destroy(s);
    return 0;
}

/* ------------------------------------------------------------ client */

struct cli {
    kc_chan_t *imp[2], *loc[2];
    long n; /* selects (receives) per repetition */
};

static double per_elem(uint64_t t0, long n)
{
    return (double)(kc_bench_now_ns() - t0) / (double)n;
}

static void need(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "bench_rsel: %s: %s\n", what, kc_strerror(rc));
        exit(1);
    }
}

static double remote1_recv(void *arg)
{
    struct cli *c = arg;
    long v;
    uint64_t t0 = kc_bench_now_ns();
    for (long i = 0; i < c->n; i++)
        need(kc_chan_recv(c->imp[0], &v, 30 * SEC, NULL), "remote receive");
    return per_elem(t0, c->n);
}

static double select2(kc_chan_t *a, kc_chan_t *b, long n)
{
    long va, vb;
    kc_chan_clause_t cl[2] = {KC_CHAN_CLAUSE_RECV_INIT(a, &va), KC_CHAN_CLAUSE_RECV_INIT(b, &vb)};
    uint64_t t0 = kc_bench_now_ns();
    for (long i = 0; i < n; i++) {
        int rc = kc_chan_select(cl, 2, KC_CHAN_SELECT_UNBIASED, 30 * SEC, NULL);
        if (rc < 0 || cl[rc].result != 0)
            need(rc < 0 ? rc : cl[rc].result, "select");
    }
    return per_elem(t0, n);
}

static double remote2_recv(void *arg)
{
    struct cli *c = arg;
    return select2(c->imp[0], c->imp[1], c->n);
}

static double mixed(void *arg)
{
    struct cli *c = arg;
    return select2(c->loc[0], c->imp[0], c->n);
}

static double local2_recv(void *arg)
{
    struct cli *c = arg;
    return select2(c->loc[0], c->loc[1], c->n * 100);
}

int main(void)
{
    kc_bench_place();
    char url[108];
    snprintf(url, sizeof url, "unix:/tmp/kcoro-bench-rsel-%ld.sock", (long)getpid());
    unlink(url + 5);
    int p[2];
    if (pipe(p) != 0)
        return 1;
    fflush(NULL);
    pid_t pid = fork(); /* before any thread of this process */
    if (pid < 0)
        return 1;
    if (pid == 0) {
        close(p[0]);
        _exit(serve(url, p[1]));
    }
    close(p[1]);
    char r;
    if (read(p[0], &r, 1) != 1) {
        fprintf(stderr, "bench_rsel: the server did not start\n");
        return 1;
    }
    kc_sched_t *s = kc_bench_one_worker();
    kc_ipc_opts_t io = KC_IPC_OPTS_INIT;
    io.sched = s;
    io.ping_interval_ns = -1;
    kc_ipc_conn_t *conn;
    need(kc_ipc_connect(&conn, url, &io, 30 * SEC, NULL), "connect");
    kc_rsel_attach_t *a;
    need(kc_rsel_attach(&a, conn, KC_RSEL_CLIENT_SIDE, 30 * SEC), "attach");
    kc_rsel_client_t *cl;
    need(kc_rsel_client_create(&cl, 0), "client");
    need(kc_rsel_attach_client(a, cl), "attach client");
    kc_chan_opts_t co = KC_CHAN_OPTS_INIT;
    co.kind = KC_CHAN_BUFFERED;
    co.capacity = CAP;
    co.elem_size = sizeof(long);
    struct cli c = {.n = kc_bench_iters(2000)};
    for (int k = 0; k < 2; k++) {
        need(kc_rsel_import(&c.imp[k], cl, (uint32_t)k + 1, &co), "import");
        c.loc[k] = longs();
    }
    pthread_t th[2];
    for (int k = 0; k < 2; k++)
        if (pthread_create(&th[k], NULL, fill, c.loc[k]) != 0)
            return 1;
    /* warm up: every path once */
    long n = c.n;
    c.n = n / 10 + 1;
    remote1_recv(&c);
    remote2_recv(&c);
    mixed(&c);
    c.n = n;
    double f1 = kc_bench_measure("rsel.remote1_recv", "ns", remote1_recv, &c);
    double f2 = kc_bench_measure("rsel.remote2_recv", "ns", remote2_recv, &c);
    double fm = kc_bench_measure("rsel.mixed", "ns", mixed, &c);
    double fl = kc_bench_measure("rsel.local2_recv", "ns", local2_recv, &c);
    fprintf(stderr,
            "rsel: price of choice (remote2_recv / remote1_recv) %.2fx; "
            "mixed / local2_recv %.1fx\n",
            f2 / f1, fm / fl);
    kc_rsel_detach(a);
    for (int k = 0; k < 2; k++) {
        kc_chan_close(c.loc[k]);
        long v;
        while (kc_chan_try_recv(c.loc[k], &v) == 0)
            ;
        pthread_join(th[k], NULL);
        kc_chan_destroy(c.imp[k]);
        kc_chan_destroy(c.loc[k]);
    }
    kc_rsel_client_destroy(cl);
    kc_ipc_close(conn);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_rsel: the server failed\n");
        return 1;
    }
    unlink(url + 5);
    kc_sched_destroy(s);
    return 0;
}
