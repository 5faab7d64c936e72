/* main.c - the ipc_posix_co explorer: connections and RPC, shown.
 *
 *   ipc_posix_co SCENARIO [--url URL] [--procs 1|2] [--n N] [--size BYTES]
 *                         [--conc C] [--workers W] [--json]
 *
 * Scenarios: serve, call, echo, storm, kill-peer, slow-reader, frames (see
 * usage()). With --procs 2 the server runs in a forked process; with 1 both
 * ends share one scheduler. Each scenario prints a timeline (milliseconds
 * since start) and both ends' counters; --json prints the same as NDJSON
 * (one object per event, then one summary object).
 */
#include "kcoro/ipc.h"
#include "kcoro/sched.h"
#include "kcoro/transport.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MS ((int64_t)1000000)

enum {
    CMD_ECHO = 1,
    CMD_HANG = 3,
    CMD_SLOW = 4
};

struct cfg {
    const char *scenario;
    char url[108];
    int procs;
    long n;
    size_t size;
    int conc;
    int workers;
    bool json;
};

static struct cfg cfg;
static int64_t t_start;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One timeline line: "[  12.345 ms] text" or an NDJSON event. */
static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void event(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    double ms = (double)(now_ns() - t_start) / 1e6;
    if (cfg.json)
        printf("{\"t_ms\":%.3f,\"event\":\"%s\"}\n", ms, msg);
    else
        printf("[%9.3f ms] %s\n", ms, msg);
    fflush(stdout);
}

static void print_stats(const char *who, kc_ipc_conn_t *c)
{
    kc_ipc_stats_t s = {.size = sizeof s};
    if (c == NULL || kc_ipc_stats(c, &s) != 0)
        return;
    if (cfg.json) {
        printf("{\"counters\":\"%s\",\"req_sent\":%llu,\"req_received\":%llu,"
               "\"replies_sent\":%llu,\"replies_taken\":%llu,\"late_replies\":%llu,"
               "\"cancels_sent\":%llu,\"cancels_in\":%llu,\"refused\":%llu,\"frames_in\":%llu,"
               "\"frames_out\":%llu,\"outstanding\":%llu,\"tx_queued\":%llu,\"dead\":\"%s\"}\n",
               who, (unsigned long long)s.req_sent, (unsigned long long)s.req_received,
               (unsigned long long)s.replies_sent, (unsigned long long)s.replies_taken,
               (unsigned long long)s.late_replies, (unsigned long long)s.cancels_sent,
               (unsigned long long)s.cancels_in, (unsigned long long)s.refused,
               (unsigned long long)s.frames_in, (unsigned long long)s.frames_out,
               (unsigned long long)s.outstanding, (unsigned long long)s.tx_queued,
               s.dead_rc ? kc_errname(s.dead_rc) : "no");
        return;
    }
    printf("  %-7s requests sent %llu received %llu | replies sent %llu taken %llu late %llu |"
           " cancels sent %llu in %llu | refused %llu | frames in %llu out %llu |"
           " outstanding %llu | queued %llu B | dead %s\n",
           who, (unsigned long long)s.req_sent, (unsigned long long)s.req_received,
           (unsigned long long)s.replies_sent, (unsigned long long)s.replies_taken,
           (unsigned long long)s.late_replies, (unsigned long long)s.cancels_sent,
           (unsigned long long)s.cancels_in, (unsigned long long)s.refused,
           (unsigned long long)s.frames_in, (unsigned long long)s.frames_out,
           (unsigned long long)s.outstanding, (unsigned long long)s.tx_queued,
           s.dead_rc ? kc_errname(s.dead_rc) : "no");
}

/* ---- handlers */

static int h_echo(const kc_rpc_req_t *r, void *arg, void **out, size_t *len)
{
    (void)arg;
    if (r->len == 0)
        return 0;
    if ((*out = malloc(r->len)) == NULL)
        return -ENOMEM;
    memcpy(*out, r->payload, r->len);
    *len = r->len;
    return 0;
}

static int h_hang(const kc_rpc_req_t *r, void *arg, void **out, size_t *len)
{
    (void)arg;
    (void)out;
    (void)len;
    return kc_sched_sleep(3600 * 1000 * MS, r->cancel);
}

static int h_slow(const kc_rpc_req_t *r, void *arg, void **out, size_t *len)
{
    int ms = 0;
    if (r->len >= sizeof ms)
        memcpy(&ms, r->payload, sizeof ms);
    int rc = kc_sched_sleep(ms * MS, r->cancel);
    return rc < 0 ? rc : h_echo(r, arg, out, len);
}

struct server {
    kc_sched_t *s;
    kc_rpc_router_t *router;
    kc_ipc_server_t *srv;
    kc_ipc_conn_t *last; /* the last connection accepted (for counters) */
    kc_cancel_t *stop;
};

/* Accept connections until stop fires; each serves on its own. */
static int accept_loop(void *arg)
{
    struct server *sv = arg;
    for (;;) {
        kc_ipc_conn_t *c;
        int rc = kc_ipc_accept(sv->srv, &c, KC_NO_TIMEOUT, sv->stop);
        if (rc == -ECANCELED)
            return 0;
        if (rc < 0) {
            event("server: accept: %s", kc_errname(rc));
            continue;
        }
        event("server: connection accepted");
        if (sv->last) {
            print_stats("server", sv->last);
            kc_ipc_close(sv->last);
        }
        sv->last = c;
    }
}

static int server_start(struct server *sv, kc_sched_t *s)
{
    memset(sv, 0, sizeof *sv);
    sv->s = s;
    kc_rpc_router_create(&sv->router);
    kc_rpc_router_add(sv->router, CMD_ECHO, h_echo, NULL);
    kc_rpc_router_add(sv->router, CMD_HANG, h_hang, NULL);
    kc_rpc_router_add(sv->router, CMD_SLOW, h_slow, NULL);
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.sched = s;
    o.router = sv->router;
    o.max_handlers = 16384;
    int rc = kc_ipc_listen(&sv->srv, cfg.url, &o);
    if (rc < 0) {
        event("server: listen %s: %s", cfg.url, kc_strerror(rc));
        return rc;
    }
    event("server: listening on %s", cfg.url);
    kc_cancel_create(&sv->stop, NULL);
    kc_task_t *t;
    kc_sched_spawn(s, &t, accept_loop, sv, NULL);
    kc_sched_detach(t);
    return 0;
}

static void server_stop(struct server *sv)
{
    kc_cancel_trigger(sv->stop);
    if (sv->last) {
        print_stats("server", sv->last);
        kc_ipc_close(sv->last);
    }
}

static void server_free(struct server *sv)
{
    kc_ipc_server_close(sv->srv);
    kc_cancel_destroy(sv->stop);
    kc_rpc_router_destroy(sv->router);
}

/* A forked server process serving cfg.url until it is signalled. */
static pid_t fork_server(void)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    kc_sched_t *s;
    kc_sched_create(&s, NULL);
    struct server sv;
    if (server_start(&sv, s) < 0)
        _exit(1);
    for (;;)
        pause();
}

static kc_ipc_conn_t *client_connect(kc_sched_t *s, size_t txq)
{
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.sched = s;
    o.tx_queue_bytes = txq;
    kc_ipc_conn_t *c = NULL;
    int rc = -ECONNREFUSED;
    for (int i = 0; i < 5000 && rc == -ECONNREFUSED; i++) {
        rc = kc_ipc_connect(&c, cfg.url, &o, 5000 * MS, NULL);
        if (rc == -ECONNREFUSED) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    if (rc < 0) {
        event("client: connect %s: %s", cfg.url, kc_strerror(rc));
        return NULL;
    }
    kc_ipc_stats_t st = {.size = sizeof st};
    kc_ipc_stats(c, &st);
    event("client: connected; negotiated max frame %u, max message %u", st.max_frame, st.max_msg);
    return c;
}

/* ---- scenarios */

struct calls {
    kc_ipc_conn_t *c;
    long n;
    long ok, failed;
    int first_err;
};

static int call_loop(void *arg)
{
    struct calls *k = arg;
    uint8_t *b = calloc(1, cfg.size ? cfg.size : 1);
    for (long i = 0; i < k->n; i++) {
        void *out = NULL;
        size_t len = 0;
        int rc = kc_rpc_call(k->c, CMD_ECHO, 0, b, cfg.size, 5000 * MS, NULL, &out, &len);
        if (rc == 0 && len == cfg.size) {
            k->ok++;
        } else {
            k->failed++;
            if (!k->first_err)
                k->first_err = rc ? rc : -EPROTO;
        }
        free(out);
    }
    free(b);
    return 0;
}

/* call / echo: cfg.conc coroutines share cfg.n calls. */
static int run_calls(kc_sched_t *s, kc_ipc_conn_t *c)
{
    int conc = cfg.conc > 0 ? cfg.conc : 1;
    struct calls *k = calloc((size_t)conc, sizeof *k);
    kc_task_t **t = calloc((size_t)conc, sizeof *t);
    int64_t t0 = now_ns();
    for (int i = 0; i < conc; i++) {
        k[i].c = c;
        k[i].n = cfg.n / conc + (i < cfg.n % conc);
        kc_sched_spawn(s, &t[i], call_loop, &k[i], NULL);
    }
    long ok = 0, failed = 0;
    int err = 0;
    for (int i = 0; i < conc; i++) {
        kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL);
        ok += k[i].ok;
        failed += k[i].failed;
        if (!err)
            err = k[i].first_err;
    }
    double us = (double)(now_ns() - t0) / 1e3;
    event("client: %ld calls of %zu bytes from %d coroutines: %ld ok, %ld failed%s%s; "
          "%.2f us per call, %.0f calls/s",
          cfg.n, cfg.size, conc, ok, failed, err ? ", first error " : "",
          err ? kc_errname(err) : "", us / (double)(cfg.n ? cfg.n : 1), (double)cfg.n / (us / 1e6));
    free(k);
    free(t);
    return failed == 0 ? 0 : 1;
}

struct storm {
    kc_ipc_conn_t *c;
    int id;
    long n, ok, etime, ecanceled, other;
};

static int storm_one(void *arg)
{
    struct storm *s = arg;
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(s->id + 1);
    for (long i = 0; i < s->n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int ms = (int)(x % 8);
        int64_t to = (int64_t)(2 + (x >> 8) % 40) * MS;
        kc_rpc_future_t *f;
        int rc =
            kc_rpc_send_timed(s->c, CMD_SLOW, (uint32_t)s->id, &ms, sizeof ms, to, NULL, NULL, &f);
        if (rc == 0 && (x >> 16) % 8 == 1) {
            kc_sched_yield();
            kc_rpc_cancel(f);
            rc = -ECANCELED;
        } else if (rc == 0) {
            rc = kc_rpc_await(f, to, NULL, NULL, NULL, NULL);
        }
        if (rc == 0)
            s->ok++;
        else if (rc == -ETIME)
            s->etime++;
        else if (rc == -ECANCELED)
            s->ecanceled++;
        else
            s->other++;
    }
    return 0;
}

static int run_storm(kc_sched_t *s, kc_ipc_conn_t *c)
{
    int conc = cfg.conc > 0 ? cfg.conc : 1000;
    struct storm *v = calloc((size_t)conc, sizeof *v);
    kc_task_t **t = calloc((size_t)conc, sizeof *t);
    event("client: storm: %d coroutines x %ld RPCs, timeouts 2-41 ms, handlers 0-7 ms, "
          "1 in 8 cancelled",
          conc, cfg.n);
    for (int i = 0; i < conc; i++) {
        v[i] = (struct storm){c, i, cfg.n, 0, 0, 0, 0};
        kc_sched_spawn(s, &t[i], storm_one, &v[i], NULL);
    }
    long ok = 0, etime = 0, ecanceled = 0, other = 0;
    for (int i = 0; i < conc; i++) {
        kc_sched_join(t[i], NULL, KC_NO_TIMEOUT, NULL);
        ok += v[i].ok;
        etime += v[i].etime;
        ecanceled += v[i].ecanceled;
        other += v[i].other;
    }
    event("client: storm done: %ld ok, %ld -ETIME, %ld -ECANCELED, %ld other; "
          "resolved %ld of %ld",
          ok, etime, ecanceled, other, ok + etime + ecanceled + other, (long)conc * cfg.n);
    free(v);
    free(t);
    return ok + etime + ecanceled + other == (long)conc * cfg.n ? 0 : 1;
}

static int run_kill_peer(kc_sched_t *s, pid_t server)
{
    kc_ipc_conn_t *c = client_connect(s, 0);
    if (c == NULL)
        return 1;
    enum {
        N = 100
    };
    kc_rpc_future_t *f[N];
    for (int i = 0; i < N; i++)
        kc_rpc_send_async(c, CMD_HANG, 0, NULL, 0, NULL, &f[i]);
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
    event("client: %d requests outstanding; killing the server (pid %d) with SIGKILL", N,
          (int)server);
    int64_t t0 = now_ns();
    kill(server, SIGKILL);
    int resets = 0;
    for (int i = 0; i < N; i++)
        resets += kc_rpc_await(f[i], 5000 * MS, NULL, NULL, NULL, NULL) == -ECONNRESET;
    event("client: %d of %d futures resolved -ECONNRESET %.3f ms after the kill", resets, N,
          (double)(now_ns() - t0) / 1e6);
    waitpid(server, NULL, 0);
    print_stats("client", c);
    kc_ipc_close(c);
    return resets == N ? 0 : 1;
}

/* A forked raw peer on cfg.url that completes HELLO and never reads again. */
static pid_t fork_raw_peer(void)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    kc_transport_t *l, *raw;
    if (kc_transport_listen(cfg.url, NULL, &l) != 0 ||
        kc_transport_accept(l, &raw, NULL, 5000 * MS, NULL) != 0)
        _exit(1);
    kc_hello_t h;
    kc_hello_init(&h);
    uint8_t hb[64];
    int n = kc_hello_encode(&h, hb, sizeof hb);
    kc_frame_hdr_t fh = {KC_WIRE_VERSION, KC_FRAME_HELLO, 0, 0, 0, (uint32_t)n};
    struct iovec v = {hb, (size_t)n};
    kc_transport_send_frame(raw, &fh, &v, 1, 5000 * MS, NULL);
    for (;;)
        pause(); /* never reads */
}

static int run_slow_reader(kc_sched_t *s, pid_t pid)
{
    int rc;
    size_t cap = 256 * 1024;
    kc_ipc_conn_t *c = client_connect(s, cap);
    if (c == NULL)
        return 1;
    event("client: peer reads nothing; tx queue bound %zu bytes; sending %zu-byte requests", cap,
          cfg.size);
    uint8_t *b = calloc(1, cfg.size ? cfg.size : 1);
    long sent = 0, eagain = 0;
    for (int quiet = 0; quiet < 3;) {
        kc_rpc_future_t *f;
        rc = kc_rpc_send_async(c, CMD_ECHO, 0, b, cfg.size, NULL, &f);
        if (rc == 0) {
            kc_rpc_cancel(f);
            sent++;
            quiet = 0;
        } else {
            eagain++;
            quiet++;
            struct timespec ts = {0, 10 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    kc_ipc_stats_t st = {.size = sizeof st};
    kc_ipc_stats(c, &st);
    event("client: %ld requests accepted, then -EAGAIN (%ld times); queue holds %llu bytes "
          "(bound %zu + one message)",
          sent, eagain, (unsigned long long)st.tx_queued, cap);
    rc = kc_rpc_call(c, CMD_ECHO, 0, b, cfg.size, 50 * MS, NULL, NULL, NULL);
    event("client: a call with a 50 ms timeout: %s", kc_errname(rc));
    print_stats("client", c);
    kc_ipc_close(c);
    free(b);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return rc == -ETIME ? 0 : 1;
}

static void usage(void)
{
    puts("usage: ipc_posix_co SCENARIO [options]\n"
         "scenarios:\n"
         "  serve        serve URL (echo, slow, hang commands) until interrupted\n"
         "  call         connect to URL (a running serve) and make N echo calls\n"
         "  echo         serve + call: --procs 1 (one process) or 2 (forked server)\n"
         "  storm        C coroutines x N RPCs with random timeouts and cancels\n"
         "  kill-peer    100 RPCs outstanding to a forked server, then SIGKILL it\n"
         "  slow-reader  a peer that stops reading: the sender's bound and outcomes\n"
         "  frames       raw frames over the transport vtable (no RPC)\n"
         "options:\n"
         "  --url URL     unix:/path, unix:@name, mem:name (default unix:/tmp/kc-ipc-<pid>)\n"
         "  --procs 1|2   one process or a forked server (default 2; mem: 1)\n"
         "  --n N         calls (per coroutine for storm)\n"
         "  --size BYTES  payload size (default 64)\n"
         "  --conc C      concurrent calling coroutines\n"
         "  --workers W   scheduler workers (default: KCORO_WORKERS or CPUs)\n"
         "  --json        NDJSON output");
}

static int run_frames(const char *url, long n, size_t size, bool json); /* below */

static int parse(int argc, char **argv)
{
    cfg.scenario = argv[1];
    cfg.procs = 2;
    cfg.n = 0;
    cfg.size = 64;
    snprintf(cfg.url, sizeof cfg.url, "unix:/tmp/kc-ipc-%d", (int)getpid());
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (strcmp(a, "--json") == 0)
            cfg.json = true;
        else if (strcmp(a, "--url") == 0 && more)
            snprintf(cfg.url, sizeof cfg.url, "%s", argv[++i]);
        else if (strcmp(a, "--procs") == 0 && more)
            cfg.procs = atoi(argv[++i]);
        else if (strcmp(a, "--n") == 0 && more)
            cfg.n = atol(argv[++i]);
        else if (strcmp(a, "--size") == 0 && more)
            cfg.size = (size_t)atol(argv[++i]);
        else if (strcmp(a, "--conc") == 0 && more)
            cfg.conc = atoi(argv[++i]);
        else if (strcmp(a, "--workers") == 0 && more)
            cfg.workers = atoi(argv[++i]);
        else
            return -1;
    }
    if (strncmp(cfg.url, "mem:", 4) == 0)
        cfg.procs = 1;
    if (cfg.procs != 1 && cfg.procs != 2)
        return -1;
    if (cfg.size > KC_MSG_MAX_DEFAULT - KC_RPC_PREFIX_SIZE)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (parse(argc, argv) < 0) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_DFL); /* sockets use MSG_NOSIGNAL: nothing to ignore */
    t_start = now_ns();
    const char *sc = cfg.scenario;
    if (strcmp(sc, "frames") == 0)
        return run_frames(cfg.url, cfg.n ? cfg.n : 10000, cfg.size, cfg.json);
    bool known = strcmp(sc, "serve") == 0 || strcmp(sc, "call") == 0 || strcmp(sc, "echo") == 0 ||
                 strcmp(sc, "storm") == 0 || strcmp(sc, "kill-peer") == 0 ||
                 strcmp(sc, "slow-reader") == 0;
    if (!known) {
        usage();
        return 2;
    }
    bool wants_server = strcmp(sc, "echo") == 0 || strcmp(sc, "storm") == 0;
    pid_t child = -1;
    if ((wants_server && cfg.procs == 2) || strcmp(sc, "kill-peer") == 0) {
        if (strncmp(cfg.url, "mem:", 4) == 0) {
            fprintf(stderr, "ipc_posix_co: %s needs a unix url\n", sc);
            return 2;
        }
        child = fork_server(); /* before any thread exists here */
        event("forked server pid %d", (int)child);
    }
    if (strcmp(sc, "slow-reader") == 0) {
        if (strncmp(cfg.url, "unix:", 5) != 0) {
            fprintf(stderr, "ipc_posix_co: slow-reader needs a unix url\n");
            return 2;
        }
        child = fork_raw_peer();
        event("forked a peer that never reads, pid %d", (int)child);
    }
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = cfg.workers;
    kc_sched_t *s;
    if (kc_sched_create(&s, &so) != 0)
        return 1;
    int rc = 0;
    struct server sv;
    bool local_server = strcmp(sc, "serve") == 0 || (wants_server && cfg.procs == 1);
    if (local_server && server_start(&sv, s) < 0)
        return 1;
    if (strcmp(sc, "serve") == 0) {
        event("serving; interrupt to stop");
        for (;;)
            pause();
    }
    if (strcmp(sc, "kill-peer") == 0) {
        rc = run_kill_peer(s, child);
    } else if (strcmp(sc, "slow-reader") == 0) {
        if (cfg.size == 64)
            cfg.size = 4096;
        rc = run_slow_reader(s, child);
    } else {
        if (cfg.n == 0)
            cfg.n = strcmp(sc, "storm") == 0 ? 20 : 10000;
        kc_ipc_conn_t *c = client_connect(s, 0);
        if (c == NULL)
            rc = 1;
        else {
            rc = strcmp(sc, "storm") == 0 ? run_storm(s, c) : run_calls(s, c);
            if (strcmp(sc, "storm") == 0) {
                /* one last call: its reply follows every earlier one */
                kc_rpc_call(c, CMD_ECHO, 0, NULL, 0, 5000 * MS, NULL, NULL, NULL);
            }
            print_stats("client", c);
            int sr = kc_ipc_shutdown(c, 5000 * MS, NULL);
            event("client: shutdown (GOAWAY, drain, close): %s", kc_errname(sr));
            kc_ipc_close(c);
        }
    }
    if (local_server) {
        server_stop(&sv);
        server_free(&sv);
    }
    if (child > 0 && strcmp(sc, "kill-peer") != 0 && strcmp(sc, "slow-reader") != 0) {
        kill(child, SIGTERM);
        waitpid(child, NULL, 0);
        event("server process ended");
    }
    kc_sched_destroy(s);
    if (strncmp(cfg.url, "unix:/", 6) == 0)
        unlink(cfg.url + 5);
    return rc;
}

/* ---- frames: the transport vtable alone */

struct fr {
    const char *url;
    long n;
    size_t size;
    int rc_srv, rc_cli;
    long done;
};

static int fr_server(void *arg)
{
    struct fr *r = arg;
    kc_transport_t *l = NULL, *t = NULL;
    int rc = kc_transport_listen(r->url, NULL, &l);
    if (rc == 0)
        rc = kc_transport_accept(l, &t, NULL, 10000 * MS, NULL);
    for (long i = 0; rc == 0 && i < r->n; i++) {
        kc_frame_hdr_t h;
        void *p = NULL;
        rc = kc_transport_recv_frame(t, &h, &p, KC_FRAME_MAX_MAX, 10000 * MS, NULL);
        if (rc == 0) {
            struct iovec v = {p, h.len};
            rc = kc_transport_send_frame(t, &h, &v, 1, 10000 * MS, NULL);
        }
        free(p);
    }
    kc_transport_close(t);
    kc_transport_close(l);
    r->rc_srv = rc;
    return 0;
}

static int fr_client(void *arg)
{
    struct fr *r = arg;
    kc_transport_t *c = NULL;
    int rc;
    for (int i = 0;
         (rc = kc_transport_connect(r->url, NULL, &c, 1000 * MS, NULL)) == -ECONNREFUSED &&
         i < 10000;
         i++)
        kc_sched_yield();
    uint8_t *b = calloc(1, r->size ? r->size : 1);
    for (long i = 0; rc == 0 && i < r->n; i++) {
        kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, (uint32_t)i, (uint32_t)r->size};
        struct iovec v = {b, r->size};
        void *p = NULL;
        rc = kc_transport_send_frame(c, &h, &v, 1, 10000 * MS, NULL);
        if (rc == 0)
            rc = kc_transport_recv_frame(c, &h, &p, KC_FRAME_MAX_MAX, 10000 * MS, NULL);
        free(p);
        r->done += rc == 0;
    }
    free(b);
    kc_transport_close(c);
    r->rc_cli = rc;
    return 0;
}

static int run_frames(const char *url, long n, size_t size, bool json)
{
    (void)json;
    if (size > KC_FRAME_MAX_MAX)
        return 2;
    struct fr r = {url, n, size, 0, 0, 0};
    kc_sched_t *s;
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = cfg.workers;
    if (kc_sched_create(&s, &so) != 0)
        return 1;
    kc_task_t *a, *b;
    int64_t t0 = now_ns();
    kc_sched_spawn(s, &a, fr_server, &r, NULL);
    kc_sched_spawn(s, &b, fr_client, &r, NULL);
    kc_sched_join(a, NULL, KC_NO_TIMEOUT, NULL);
    kc_sched_join(b, NULL, KC_NO_TIMEOUT, NULL);
    kc_sched_destroy(s);
    event("frames over %s: %ld/%ld round trips of %zu bytes, %.2f us each; server %s, client %s",
          url, r.done, n, size, (double)(now_ns() - t0) / 1e3 / (double)(r.done ? r.done : 1),
          kc_errname(r.rc_srv), kc_errname(r.rc_cli));
    return r.rc_srv == 0 && r.rc_cli == 0 ? 0 : 1;
}
