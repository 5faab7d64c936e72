/* bench_mux.c - kcoro's side of the two-process mux benchmarks (issue 21).
 *
 * Two processes (fork), both pinned by kc_bench_place() to the same CPUs as
 * the peers in core/bench/peers/mux_*.c, one scheduler worker each, one
 * connection over a UNIX socket. The server exports the channels, the
 * client imports them (kcoro/mux.h):
 *   mux.stream_64            msg/s  one remote buffered channel (capacity
 *                                   4096), 64-byte elements sent by the
 *                                   client; the server takes them all and
 *                                   answers on a second channel
 *   mux.streams100_1k        MB/s   100 remote channels (capacity 64), one
 *                                   sender task each, 1 KiB elements
 *   mux.streams100_1k_jain   -      Jain's index of the elements each
 *                                   channel delivered, the lowest over the
 *                                   100 ms windows before the first channel
 *                                   finished (the server measures it)
 *   mux.rtt_unloaded_p50/p99 us     64-byte echo round trip on one channel
 *                                   pair, alone on the connection
 *   mux.rtt_loaded_p50/p99   us     the same while 99 other channels stream
 *                                   1 KiB elements without end
 *   mux.rtt_loaded_ratio     x      loaded p99 / unloaded p99
 *   mux.rtt_loaded_bulk      MB/s   what the 99 others delivered meanwhile
 *                                   (the load the round trips ran beside)
 *                                   (the rtt connection's sockets have an
 *                                   SO_SNDBUF of KC_BENCH_MUX_RTT_SNDBUF,
 *                                   as the nghttp2 peer's)
 *   mux.desc_64k             GB/s   64 KiB descriptors (kc_zdesc_t) on one
 *                                   remote descriptor channel, from the
 *                                   client's arena into the server's (no
 *                                   copy in the channel layer when sending)
 *   mux.desc_64k_bytes       GB/s   the same payloads as 64 KiB elements of
 *                                   a byte channel (copied in and out)
 *   mux.desc_64k_ratio       x      desc_64k / desc_64k_bytes
 * The servers are forked before the measuring process starts any thread.
 * KC_BENCH_MUX=stream,streams,rtt,desc (any of them) runs only the figures
 * named (all by default); KC_BENCH_HOPS=1 prints where a round trip went.
 */
#include "kcoro.h"

#include "kc_bench_sched.h"
#include "kc_bench_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000LL
#define SEC 1000000000LL
#define NSTREAMS 100
#define ELEM1K 1024

enum {
    FIG_STREAM64 = 1,
    FIG_STREAMS100 = 2,
    FIG_RTT = 3
};

static kc_chan_t *chan(kc_chan_kind_t kind, size_t cap, size_t elem)
{
    kc_chan_t *ch;
    if (kc_chan_make(&ch, kind, cap, elem) != 0)
        abort();
    return ch;
}

/* ------------------------------------------------------------ server */

struct srv {
    int fig;
    long per_rep; /* elements per repetition (all channels) */
    int ready;    /* pipe to the parent */
    char url[108];
    kc_ipc_conn_t *c;
    kc_chan_t *data[NSTREAMS], *ack, *ping, *pong;
    long count[NSTREAMS], prev[NSTREAMS];
    long left;           /* elements before the repetition's end (all channels) */
    long rep_first_done; /* per-channel target reached by someone */
    double jain_min;
    bool finished;
};

struct sink_arg {
    struct srv *sv;
    int idx;
};

/* Take elements of one channel; every per_rep in total, answer on ack.
 * Countdowns, not a division per element: the sink's own cost per element
 * stays a few instructions, as the raw peer's reader has none. */
static int sink(void *arg)
{
    struct sink_arg *a = arg;
    struct srv *sv = a->sv;
    static char buf[ELEM1K];
    long per_chan = sv->fig == FIG_STREAMS100 ? sv->per_rep / NSTREAMS : sv->per_rep;
    long chan_left = per_chan;
    for (;;) {
        if (kc_chan_recv(sv->data[a->idx], buf, KC_NO_TIMEOUT, NULL) != 0)
            break;
        sv->count[a->idx]++;
        if (sv->fig == FIG_RTT)
            continue;
        if (--chan_left == 0) {
            chan_left = per_chan;
            if (!sv->rep_first_done)
                sv->rep_first_done = 1; /* the fairness windows end here */
        }
        if (--sv->left == 0) {
            sv->left = sv->per_rep;
            double j = sv->jain_min;
            sv->jain_min = 1.0;
            sv->rep_first_done = 0;
            if (kc_chan_send(sv->ack, &j, KC_NO_TIMEOUT, NULL) != 0)
                break;
        }
    }
    return 0;
}

/* Every 100 ms: Jain's index of the window's per-channel deliveries. */
static int sampler(void *arg)
{
    struct srv *sv = arg;
    while (!sv->finished) {
        kc_sched_sleep(100 * MS, NULL);
        double s = 0, s2 = 0;
        for (int i = 0; i < NSTREAMS; i++) {
            double x = (double)(sv->count[i] - sv->prev[i]);
            sv->prev[i] = sv->count[i];
            s += x;
            s2 += x * x;
        }
        if (s2 > 0 && !sv->rep_first_done) {
            double j = s * s / (NSTREAMS * s2);
            if (j < sv->jain_min)
                sv->jain_min = j;
        }
    }
    return 0;
}

/* The echo writes when its receive returned and when it sent into the
 * ping's payload (after the client's send time): the hops of a round trip
 * on one CLOCK_MONOTONIC. */
static int echo(void *arg)
{
    struct srv *sv = arg;
    uint64_t b[8];
    while (kc_chan_recv(sv->ping, b, KC_NO_TIMEOUT, NULL) == 0) {
        b[1] = kc_bench_now_ns();
        b[2] = kc_bench_now_ns();
        if (kc_chan_send(sv->pong, b, KC_NO_TIMEOUT, NULL) != 0)
            break;
    }
    return 0;
}

static int serve(void *arg)
{
    struct srv *sv = arg;
    kc_ipc_server_t *l;
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.ping_interval_ns = -1;
    kc_transport_opts_t to = KC_TRANSPORT_OPTS_INIT;
    to.sndbuf = sv->fig == FIG_RTT ? KC_BENCH_MUX_RTT_SNDBUF : 0;
    o.transport = &to;
    if (kc_ipc_listen(&l, sv->url, &o) != 0)
        return 1;
    if (write(sv->ready, "r", 1) != 1)
        return 1;
    if (kc_ipc_accept(l, &sv->c, KC_NO_TIMEOUT, NULL) != 0)
        return 1;
    int n = sv->fig == FIG_STREAM64 ? 1 : NSTREAMS - (sv->fig == FIG_RTT);
    char name[16];
    for (int i = 0; i < n; i++) {
        sv->data[i] = chan(KC_CHAN_BUFFERED, sv->fig == FIG_STREAM64 ? 4096 : 64,
                           sv->fig == FIG_STREAM64 ? 64 : ELEM1K);
        snprintf(name, sizeof name, "d%d", i);
        kc_ipc_export(sv->c, name, sv->data[i], NULL);
    }
    sv->ack = chan(KC_CHAN_BUFFERED, 4, sizeof(double));
    kc_ipc_export(sv->c, "ack", sv->ack, NULL);
    sv->ping = chan(KC_CHAN_BUFFERED, 1, 64);
    sv->pong = chan(KC_CHAN_BUFFERED, 1, 64);
    kc_ipc_export(sv->c, "ping", sv->ping, NULL);
    kc_ipc_export(sv->c, "pong", sv->pong, NULL);
    if (write(sv->ready, "e", 1) != 1)
        return 1;
    sv->jain_min = 1.0;
    sv->left = sv->per_rep;
    kc_task_t *t[NSTREAMS + 2];
    struct sink_arg a[NSTREAMS];
    for (int i = 0; i < n; i++) {
        a[i] = (struct sink_arg){sv, i};
        kc_sched_spawn(kc_sched_current(), &t[i], sink, &a[i], NULL);
    }
    kc_sched_spawn(kc_sched_current(), &t[n], echo, sv, NULL);
    kc_sched_spawn(kc_sched_current(), &t[n + 1], sampler, sv, NULL);
    kc_ipc_wait_dead(sv->c, KC_NO_TIMEOUT, NULL); /* the client went away */
    sv->finished = true;
    for (int i = 0; i < n; i++)
        kc_chan_close(sv->data[i]);
    kc_chan_close(sv->ping);
    kc_chan_close(sv->ack);
    kc_chan_close(sv->pong);
    for (int i = 0; i < n + 2; i++)
        kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL);
    kc_ipc_close(sv->c);
    kc_ipc_server_close(l);
    return 0;
}

/* ------------------------------------------------------------ client */

struct cli {
    kc_sched_t *s;
    const char *url;
    int ready; /* the server's "exported" byte */
    int fig;
    long per_rep;
    kc_ipc_conn_t *c;
    kc_chan_t *data[NSTREAMS], *ack, *ping, *pong;
    double jain;
    volatile int load; /* rtt: the 99 others stream while set */
    volatile int quit;
    long bulk_sent; /* rtt: elements the 99 others sent (one worker) */
    long pings;
    double *rtt;
    double *hop[3]; /* client -> echo, echo's turn, echo -> client (us) */
};

static int setup(void *arg)
{
    struct cli *c = arg;
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.ping_interval_ns = -1;
    kc_transport_opts_t to = KC_TRANSPORT_OPTS_INIT;
    to.sndbuf = c->fig == FIG_RTT ? KC_BENCH_MUX_RTT_SNDBUF : 0;
    o.transport = &to;
    if (kc_ipc_connect(&c->c, c->url, &o, 5 * SEC, NULL) != 0)
        return 1;
    char r;
    if (read(c->ready, &r, 1) != 1)
        return 1;
    int n = c->fig == FIG_STREAM64 ? 1 : NSTREAMS - (c->fig == FIG_RTT);
    char name[16];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "d%d", i);
        if (kc_ipc_import(&c->data[i], c->c, name, NULL, NULL) != 0)
            return 1;
    }
    return kc_ipc_import(&c->ack, c->c, "ack", NULL, NULL) != 0 ||
           kc_ipc_import(&c->ping, c->c, "ping", NULL, NULL) != 0 ||
           kc_ipc_import(&c->pong, c->c, "pong", NULL, NULL) != 0;
}

struct pour_arg {
    struct cli *c;
    int idx;
    long n;
};

static int pour(void *arg)
{
    struct pour_arg *a = arg;
    static char buf[ELEM1K];
    for (long i = 0; i < a->n; i++)
        if (kc_chan_send(a->c->data[a->idx], buf, KC_NO_TIMEOUT, NULL) != 0)
            return 1;
    return 0;
}

static int run_rep(void *arg)
{
    struct cli *c = arg;
    int n = c->fig == FIG_STREAM64 ? 1 : NSTREAMS;
    kc_task_t *t[NSTREAMS];
    struct pour_arg a[NSTREAMS];
    for (int i = 0; i < n; i++) {
        a[i] = (struct pour_arg){c, i, c->per_rep / n};
        kc_sched_spawn(c->s, &t[i], pour, &a[i], NULL);
    }
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int st = 1;
        kc_sched_join(t[i], &st, KC_NO_TIMEOUT, NULL);
        bad |= st;
    }
    return bad || kc_chan_recv(c->ack, &c->jain, KC_NO_TIMEOUT, NULL) != 0;
}

static void run(struct cli *c, kc_coro_fn_t fn)
{
    kc_task_t *t;
    int st = 1;
    if (kc_sched_spawn(c->s, &t, fn, c, NULL) != 0 ||
        kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL) != 0 || st != 0) {
        fprintf(stderr, "bench_mux: figure %d failed\n", c->fig);
        exit(1);
    }
}

static void nap(int64_t ns)
{
    struct timespec ts = {ns / SEC, ns % SEC};
    nanosleep(&ts, NULL);
}

static double jains[64];
static int njain;

static double stream_64(void *arg)
{
    struct cli *c = arg;
    uint64_t t0 = kc_bench_now_ns();
    run(c, run_rep);
    return (double)c->per_rep * 1e9 / (double)(kc_bench_now_ns() - t0);
}

static double streams100(void *arg)
{
    struct cli *c = arg;
    uint64_t t0 = kc_bench_now_ns();
    run(c, run_rep);
    double s = (double)(kc_bench_now_ns() - t0) / 1e9;
    if (njain < 64)
        jains[njain++] = c->jain;
    return (double)c->per_rep * ELEM1K / 1e6 / s;
}

static int bulk(void *arg)
{
    struct pour_arg *a = arg;
    static char buf[ELEM1K];
    while (!a->c->quit) {
        if (!a->c->load) {
            kc_sched_sleep(1 * MS, NULL);
            continue;
        }
        int rc = kc_chan_send(a->c->data[a->idx], buf, 10 * MS, NULL);
        if (rc == -EPIPE)
            break;
        a->c->bulk_sent += rc == 0;
    }
    return 0;
}

static int pinger(void *arg)
{
    struct cli *c = arg;
    uint64_t b[8] = {0};
    for (long i = 0; i < c->pings; i++) {
        uint64_t t0 = kc_bench_now_ns();
        b[0] = t0;
        if (kc_chan_send(c->ping, b, KC_NO_TIMEOUT, NULL) != 0 ||
            kc_chan_recv(c->pong, b, KC_NO_TIMEOUT, NULL) != 0)
            return 1;
        uint64_t t3 = kc_bench_now_ns();
        c->rtt[i] = (double)(t3 - t0) / 1e3;
        c->hop[0][i] = (double)(b[1] - b[0]) / 1e3;
        c->hop[1][i] = (double)(b[2] - b[1]) / 1e3;
        c->hop[2][i] = (double)(t3 - b[2]) / 1e3;
    }
    return 0;
}

/* KC_BENCH_HOPS: where a round trip's time went (p50/p99 of each hop). */
static void print_hops(struct cli *c, const char *what)
{
    static const char *name[3] = {"client send -> echo recv", "echo", "echo send -> client recv"};
    for (int h = 0; h < 3; h++)
        printf("  hops %s: %s p50 %.1f us p99 %.1f us\n", what, name[h],
               kc_bench_percentile(c->hop[h], (int)c->pings, 50),
               kc_bench_percentile(c->hop[h], (int)c->pings, 99));
}

static pid_t server_for(int fig, long per_rep, char *url, int *ready)
{
    int p[2];
    if (pipe(p) != 0)
        abort();
    snprintf(url, 108, "unix:/tmp/kcoro-bench-mux-%ld-%d.sock", (long)getpid(), fig);
    unlink(url + 5);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        close(p[0]);
        struct srv *sv = calloc(1, sizeof *sv);
        sv->fig = fig;
        sv->per_rep = per_rep;
        sv->ready = p[1];
        snprintf(sv->url, sizeof sv->url, "%s", url);
        _exit(kc_bench_run_task(serve, sv));
    }
    close(p[1]);
    char r;
    if (read(p[0], &r, 1) != 1) {
        fprintf(stderr, "bench_mux: the server did not start\n");
        exit(1);
    }
    *ready = p[0];
    return pid;
}

static void finish(struct cli *c, pid_t pid)
{
    kc_mux_stats_t ms = {.size = sizeof ms};
    if (getenv("KC_BENCH_HOPS") != NULL && kc_mux_stats(c->c, &ms) == 0)
        printf("  mux client: %llu DATA frames, %llu elements (%.1f a frame), %llu CHAN in, "
               "%llu waits for the link\n",
               (unsigned long long)ms.data_frames_out, (unsigned long long)ms.elems_out,
               ms.data_frames_out ? (double)ms.elems_out / (double)ms.data_frames_out : 0.0,
               (unsigned long long)ms.ctl_frames_in, (unsigned long long)ms.link_waits);
    kc_ipc_close(c->c);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_mux: a server failed\n");
        exit(1);
    }
    close(c->ready);
}

/* ------------------------------------------------------------ descriptors
 *
 * mux.desc_64k: the server exports a descriptor channel of its arena and a
 * byte channel of 64 KiB elements, both buffered (capacity 64); the client
 * sends per_rep 64 KiB payloads on one, then the same count on the other,
 * and the server acknowledges each repetition on a third channel. The
 * descriptor sender allocates each payload in its arena (the receiver
 * releases it); the byte sender sends one buffer over and over (the
 * receiver copies it out). */

#define DESC64K ((size_t)65536)

struct dsrv {
    int ready;
    char url[108];
    long per_rep;
    kc_arena_t *arena;
    kc_chan_t *z, *zb, *zack;
};

static int desc_sink(void *arg)
{
    struct dsrv *sv = arg;
    kc_zdesc_t d;
    long n = 0;
    while (kc_chan_recv_desc(sv->z, &d, KC_NO_TIMEOUT, NULL) == 0) {
        kc_zdesc_release(&d, sv->arena);
        if (++n % sv->per_rep == 0 && kc_chan_send(sv->zack, &n, KC_NO_TIMEOUT, NULL) != 0)
            break;
    }
    return 0;
}

static int bytes_sink(void *arg)
{
    struct dsrv *sv = arg;
    char *buf = malloc(DESC64K);
    long n = 0;
    while (buf != NULL && kc_chan_recv(sv->zb, buf, KC_NO_TIMEOUT, NULL) == 0)
        if (++n % sv->per_rep == 0 && kc_chan_send(sv->zack, &n, KC_NO_TIMEOUT, NULL) != 0)
            break;
    free(buf);
    return 0;
}

static int desc_serve(void *arg)
{
    struct dsrv *sv = arg;
    kc_ipc_server_t *l;
    kc_ipc_conn_t *c;
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.ping_interval_ns = -1;
    kc_arena_opts_t ao = KC_ARENA_OPTS_INIT;
    ao.bytes = 64u << 20;
    kc_chan_opts_t co = KC_CHAN_OPTS_INIT;
    co.kind = KC_CHAN_BUFFERED;
    co.capacity = 64;
    co.elem_size = 0;
    co.max_desc_len = DESC64K;
    if (kc_arena_create(&sv->arena, &ao) != 0 || kc_ipc_listen(&l, sv->url, &o) != 0)
        return 1;
    co.arena = sv->arena;
    if (write(sv->ready, "r", 1) != 1 || kc_ipc_accept(l, &c, KC_NO_TIMEOUT, NULL) != 0 ||
        kc_chan_create(&sv->z, &co) != 0)
        return 1;
    sv->zb = chan(KC_CHAN_BUFFERED, 64, DESC64K);
    sv->zack = chan(KC_CHAN_BUFFERED, 4, sizeof(long));
    if (kc_ipc_export(c, "z", sv->z, NULL) != 0 || kc_ipc_export(c, "zb", sv->zb, NULL) != 0 ||
        kc_ipc_export(c, "zack", sv->zack, NULL) != 0 || write(sv->ready, "e", 1) != 1)
        return 1;
    kc_task_t *t[2];
    kc_sched_spawn(kc_sched_current(), &t[0], desc_sink, sv, NULL);
    kc_sched_spawn(kc_sched_current(), &t[1], bytes_sink, sv, NULL);
    kc_ipc_wait_dead(c, KC_NO_TIMEOUT, NULL);
    kc_chan_close(sv->z);
    kc_chan_close(sv->zb);
    kc_chan_close(sv->zack);
    for (int i = 0; i < 2; i++)
        kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL);
    kc_ipc_unexport(c, "z");
    kc_ipc_unexport(c, "zb");
    kc_ipc_unexport(c, "zack");
    kc_ipc_close(c);
    kc_ipc_server_close(l);
    kc_chan_destroy(sv->z);
    int live = kc_arena_destroy(sv->arena);
    if (live != 0)
        fprintf(stderr, "bench_mux: %d descriptors left in the server's arena\n", live);
    return live != 0; /* every payload came back */
}

struct dcli {
    kc_sched_t *s;
    int ready;
    char url[108];
    long per_rep;
    kc_arena_t *arena;
    kc_ipc_conn_t *c;
    kc_chan_t *z, *zb, *zack;
    bool bytes; /* this repetition: the byte channel */
    char *buf;
};

static int desc_setup(void *arg)
{
    struct dcli *c = arg;
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.ping_interval_ns = -1;
    kc_arena_opts_t ao = KC_ARENA_OPTS_INIT;
    ao.bytes = 64u << 20;
    if (kc_arena_create(&c->arena, &ao) != 0 ||
        kc_ipc_connect(&c->c, c->url, &o, 5 * SEC, NULL) != 0)
        return 1;
    char r;
    if (read(c->ready, &r, 1) != 1)
        return 1;
    kc_mux_import_opts_t io = KC_MUX_IMPORT_OPTS_INIT;
    io.arena = c->arena;
    return kc_ipc_import(&c->z, c->c, "z", &io, NULL) != 0 ||
           kc_ipc_import(&c->zb, c->c, "zb", NULL, NULL) != 0 ||
           kc_ipc_import(&c->zack, c->c, "zack", NULL, NULL) != 0;
}

static int desc_rep(void *arg)
{
    struct dcli *c = arg;
    for (long i = 0; i < c->per_rep; i++) {
        if (c->bytes) {
            if (kc_chan_send(c->zb, c->buf, KC_NO_TIMEOUT, NULL) != 0)
                return 1;
            continue;
        }
        kc_zdesc_t d;
        if (kc_zdesc_alloc(&d, c->arena, DESC64K, 0) != 0)
            return 1;
        if (kc_chan_send_desc(c->z, &d, KC_NO_TIMEOUT, NULL) != 0) {
            kc_zdesc_release(&d, c->arena);
            return 1;
        }
    }
    long n;
    return kc_chan_recv(c->zack, &n, KC_NO_TIMEOUT, NULL) != 0;
}

static double desc_64k(void *arg)
{
    struct dcli *c = arg;
    uint64_t t0 = kc_bench_now_ns();
    kc_task_t *t;
    int st = 1;
    if (kc_sched_spawn(c->s, &t, desc_rep, c, NULL) != 0 ||
        kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL) != 0 || st != 0) {
        fprintf(stderr, "bench_mux: mux.desc_64k failed\n");
        exit(1);
    }
    return (double)c->per_rep * (double)DESC64K / (double)(kc_bench_now_ns() - t0);
}

static double desc_64k_bytes(void *arg)
{
    struct dcli *c = arg;
    c->bytes = true;
    double v = desc_64k(c);
    c->bytes = false;
    return v;
}

/* Fork the descriptor server (before the measuring process starts any
 * thread). */
static pid_t desc_server(struct dcli *c)
{
    c->per_rep = kc_bench_iters(20000);
    int p[2];
    if (pipe(p) != 0)
        abort();
    snprintf(c->url, sizeof c->url, "unix:/tmp/kcoro-bench-mux-%ld-desc.sock", (long)getpid());
    unlink(c->url + 5);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        close(p[0]);
        struct dsrv sv = {.ready = p[1], .per_rep = c->per_rep};
        snprintf(sv.url, sizeof sv.url, "%s", c->url);
        _exit(kc_bench_run_task(desc_serve, &sv));
    }
    close(p[1]);
    char r;
    if (read(p[0], &r, 1) != 1) {
        fprintf(stderr, "bench_mux: the descriptor server did not start\n");
        exit(1);
    }
    c->ready = p[0];
    return pid;
}

/* mux.desc_64k and mux.desc_64k_bytes against the server of desc_server. */
static void desc_figures(kc_sched_t *s, struct dcli *cp, pid_t pid)
{
    struct dcli c = *cp;
    c.s = s;
    c.buf = calloc(1, DESC64K);
    kc_task_t *t;
    int st = 1;
    if (c.buf == NULL || kc_sched_spawn(s, &t, desc_setup, &c, NULL) != 0 ||
        kc_sched_join(t, &st, KC_NO_TIMEOUT, NULL) != 0 || st != 0) {
        fprintf(stderr, "bench_mux: descriptor setup failed\n");
        exit(1);
    }
    double zd = kc_bench_measure("mux.desc_64k", "GB/s", desc_64k, &c);
    double zb = kc_bench_measure("mux.desc_64k_bytes", "GB/s", desc_64k_bytes, &c);
    kc_bench_report("mux.desc_64k_ratio", zb > 0 ? zd / zb : 0, "x");
    kc_chan_destroy(c.z);
    kc_chan_destroy(c.zb);
    kc_chan_destroy(c.zack);
    kc_ipc_close(c.c);
    int ws;
    if (waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        fprintf(stderr, "bench_mux: the descriptor server failed\n");
        exit(1);
    }
    close(c.ready);
    if (kc_arena_destroy(c.arena) != 0) { /* every payload came back */
        fprintf(stderr, "bench_mux: descriptors left in the client's arena\n");
        exit(1);
    }
    free(c.buf);
}

/* KC_BENCH_MUX names the figures to run (all when unset). */
static bool want(const char *fig)
{
    const char *e = getenv("KC_BENCH_MUX");
    if (e == NULL || *e == '\0')
        return true;
    size_t n = strlen(fig);
    for (const char *p = e; (p = strstr(p, fig)) != NULL; p += n)
        if ((p == e || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

/* mux.rtt_*: unloaded and loaded round trips, alternating. */
static void rtt_figures(kc_sched_t *s, const char *url, int ready, pid_t pid)
{
    struct cli c = {.s = s, .url = url, .ready = ready, .fig = FIG_RTT, .per_rep = 0};
    run(&c, setup);
    c.pings = kc_bench_iters(5000);
    c.rtt = calloc((size_t)c.pings, sizeof(double));
    for (int h = 0; h < 3; h++)
        c.hop[h] = calloc((size_t)c.pings, sizeof(double));
    bool hops = getenv("KC_BENCH_HOPS") != NULL;
    kc_task_t *bt[NSTREAMS];
    struct pour_arg ba[NSTREAMS];
    for (int i = 0; i < NSTREAMS - 1; i++) {
        ba[i] = (struct pour_arg){&c, i, 0};
        kc_sched_spawn(s, &bt[i], bulk, &ba[i], NULL);
    }
    int reps = kc_bench_reps();
    double u50[64], u99[64], l50[64], l99[64], lmb[64], spread;
    for (int r = 0; r < reps && r < 64; r++) { /* unloaded and loaded alternate */
        c.load = 0;
        nap(20 * MS);
        run(&c, pinger);
        u50[r] = kc_bench_percentile(c.rtt, (int)c.pings, 50);
        u99[r] = kc_bench_percentile(c.rtt, (int)c.pings, 99);
        if (hops)
            print_hops(&c, "unloaded");
        c.load = 1;
        nap(50 * MS);
        long b0 = c.bulk_sent;
        uint64_t t0 = kc_bench_now_ns();
        run(&c, pinger);
        lmb[r] = (double)(c.bulk_sent - b0) * ELEM1K * 1e3 / (double)(kc_bench_now_ns() - t0);
        l50[r] = kc_bench_percentile(c.rtt, (int)c.pings, 50);
        l99[r] = kc_bench_percentile(c.rtt, (int)c.pings, 99);
        if (hops)
            print_hops(&c, "loaded");
    }
    c.quit = 1;
    for (int i = 0; i < NSTREAMS - 1; i++)
        kc_sched_join(bt[i], NULL, KC_NO_TIMEOUT, NULL);
    int m = reps < 64 ? reps : 64;
    double mu50 = kc_bench_median(u50, m, &spread), mu99 = kc_bench_median(u99, m, &spread);
    double ml50 = kc_bench_median(l50, m, &spread), ml99 = kc_bench_median(l99, m, &spread);
    double mlmb = kc_bench_median(lmb, m, &spread);
    kc_bench_report("mux.rtt_unloaded_p50", mu50, "us");
    kc_bench_report("mux.rtt_unloaded_p99", mu99, "us");
    kc_bench_report("mux.rtt_loaded_p50", ml50, "us");
    kc_bench_report("mux.rtt_loaded_p99", ml99, "us");
    kc_bench_report("mux.rtt_loaded_ratio", ml99 / mu99, "x");
    kc_bench_report("mux.rtt_loaded_bulk", mlmb, "MB/s");
    finish(&c, pid);
    free(c.rtt);
    for (int h = 0; h < 3; h++)
        free(c.hop[h]);
}

int main(void)
{
    kc_bench_place();
    char u1[108], u2[108], u3[108];
    struct dcli dc = {0};
    long n64 = kc_bench_iters(1000000), n1k = kc_bench_iters(100000) / NSTREAMS * NSTREAMS;
    if (n1k == 0)
        n1k = NSTREAMS;
    int r1 = -1, r2 = -1, r3 = -1;
    pid_t p1 = 0, p2 = 0, p3 = 0, p4 = 0;
    if (want("stream"))
        p1 = server_for(FIG_STREAM64, n64, u1, &r1);
    if (want("streams"))
        p2 = server_for(FIG_STREAMS100, n1k, u2, &r2);
    if (want("rtt"))
        p3 = server_for(FIG_RTT, 1, u3, &r3);
    if (want("desc"))
        p4 = desc_server(&dc);
    kc_sched_t *s = kc_bench_one_worker();

    if (p1 > 0) {
        struct cli a = {.s = s, .url = u1, .ready = r1, .fig = FIG_STREAM64, .per_rep = n64};
        run(&a, setup);
        kc_bench_measure("mux.stream_64", "msg/s", stream_64, &a);
        finish(&a, p1);
    }
    if (p2 > 0) {
        struct cli b = {.s = s, .url = u2, .ready = r2, .fig = FIG_STREAMS100, .per_rep = n1k};
        run(&b, setup);
        kc_bench_measure("mux.streams100_1k", "MB/s", streams100, &b);
        double spread;
        kc_bench_report("mux.streams100_1k_jain", kc_bench_median(jains, njain, &spread), "-");
        finish(&b, p2);
    }
    if (p3 > 0)
        rtt_figures(s, u3, r3, p3);
    if (p4 > 0)
        desc_figures(s, &dc, p4);
    kc_sched_destroy(s);
    return 0;
}
