/* mux_h2.c - the HTTP/2 (nghttp2) peer of core/bench/bench_mux.c.
 *
 * Two processes (fork) joined by a UNIX socketpair, both pinned by
 * kc_bench_place() to the same CPUs as every other mux program, one thread
 * each running a poll loop around nghttp2's public API (Debian's
 * libnghttp2-dev): a client process and a server process. Windows: 64 KiB
 * per stream (the protocol's default), 16 MiB for the connection (the
 * default 64 KiB would let one stream's window hold the whole connection),
 * frames of at most 16 KiB, 1 KiB DATA frames (one element each); the
 * round trips run over sockets of KC_BENCH_MUX_RTT_SNDBUF, as kcoro's.
 *   peer.nghttp2.mux.streams100_1k       MB/s  100 streams each sending
 *                                              1 KiB elements to the client
 *   peer.nghttp2.mux.streams100_1k_jain  -     Jain's index of the bytes each
 *                                              stream delivered, the lowest
 *                                              over the 100 ms windows before
 *                                              the first stream finished
 *   peer.nghttp2.mux.rtt_unloaded_p50    us    64-byte echo round trip on one
 *   peer.nghttp2.mux.rtt_unloaded_p99    us    stream, alone on the connection
 *   peer.nghttp2.mux.rtt_loaded_p50      us    the same while 99 other streams
 *   peer.nghttp2.mux.rtt_loaded_p99      us    send 1 KiB elements without end
 *   peer.nghttp2.mux.rtt_loaded_ratio    x     loaded p99 / unloaded p99
 *   peer.nghttp2.mux.rtt_loaded_bulk     MB/s  what the 99 others delivered
 *                                              meanwhile
 * The server serves three paths: /bulk (N elements, then end of stream),
 * /inf (elements until the connection ends) and /echo (each DATA chunk of
 * the request body comes back on the response).
 * kc-peer-libs: -lnghttp2
 * kc-peer-need: libnghttp2-dev=/usr/include/nghttp2/nghttp2.h
 */
#include "kc_ipc_peer.h"

#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>

#define STREAMS 100
#define ELEM 1024
#define PING 64
#define OUTCAP (1 << 16) /* user-space output buffer; filled to OUTFILL */
#define OUTFILL (1 << 15)
#define CONN_WINDOW (16 << 20)
#define WINDOW_NS 100000000ull /* fairness windows of 100 ms */

/* ------------------------------------------------------------ plumbing */

struct conn {
    int fd;
    nghttp2_session *s;
    uint8_t out[OUTCAP];
    size_t outoff, outlen;
    int eof;
};

static void die(const char *what, int rc)
{
    fprintf(stderr, "mux_h2: %s: %s\n", what, rc ? nghttp2_strerror(rc) : strerror(errno));
    exit(1);
}

/* Move what nghttp2 has to send into the output buffer. */
static void fill_out(struct conn *c)
{
    if (c->outoff == c->outlen)
        c->outoff = c->outlen = 0;
    else if (c->outoff > OUTCAP / 2) {
        memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
        c->outlen -= c->outoff;
        c->outoff = 0;
    }
    /* Every chunk is at most one frame (16 KiB + 9), so filling to half the
     * buffer always leaves room for the next. Two frames' worth keeps the
     * queue in user space short, as nghttp2's own servers do. */
    while (c->outlen < OUTFILL) {
        const uint8_t *d;
        ssize_t n = nghttp2_session_mem_send(c->s, &d);
        if (n < 0)
            die("mem_send", (int)n);
        if (n == 0)
            break;
        memcpy(c->out + c->outlen, d, (size_t)n);
        c->outlen += (size_t)n;
    }
}

/* One round of I/O: write what is pending, read what has arrived. */
static void pump(struct conn *c)
{
    fill_out(c);
    struct pollfd p = {c->fd, POLLIN, 0};
    if (c->outlen > c->outoff)
        p.events |= POLLOUT;
    if (poll(&p, 1, 1000) < 0 && errno != EINTR)
        die("poll", 0);
    if (p.revents & POLLOUT) {
        ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            c->eof = 1;
            return;
        }
        if (w > 0)
            c->outoff += (size_t)w;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
        static uint8_t in[1 << 16];
        ssize_t r = read(c->fd, in, sizeof(in));
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            c->eof = 1;
            return;
        }
        if (r > 0) {
            ssize_t rc = nghttp2_session_mem_recv(c->s, in, (size_t)r);
            if (rc < 0)
                die("mem_recv", (int)rc);
        }
    }
}

static void conn_init(struct conn *c, int fd)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
        die("fcntl", 0);
}

static void settings(struct conn *c)
{
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 2 * STREAMS},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 65535}};
    int rc = nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, 2);
    if (rc == 0)
        rc = nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    if (rc != 0)
        die("settings", rc);
}

/* ------------------------------------------------------------ server */

enum {
    S_BULK,
    S_INF,
    S_ECHO
};

struct sstream {
    int kind;
    long left;             /* S_BULK: elements still to send */
    uint8_t echo[1 << 14]; /* S_ECHO: bytes received, not yet sent back */
    size_t echolen;
};

static ssize_t server_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                           uint32_t *flags, nghttp2_data_source *src, void *user)
{
    (void)s, (void)id, (void)user;
    struct sstream *st = src->ptr;
    if (st->kind == S_ECHO) {
        if (st->echolen == 0)
            return NGHTTP2_ERR_DEFERRED;
        size_t n = st->echolen < len ? st->echolen : len;
        memcpy(buf, st->echo, n);
        memmove(st->echo, st->echo + n, st->echolen - n);
        st->echolen -= n;
        return (ssize_t)n;
    }
    if (len < ELEM)
        return NGHTTP2_ERR_DEFERRED; /* not reached: frames hold 16 KiB */
    memset(buf, 0x5a, ELEM);
    if (st->kind == S_BULK && --st->left == 0)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return ELEM;
}

static int server_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                         size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                         void *user)
{
    (void)flags, (void)user;
    if (f->hd.type != NGHTTP2_HEADERS || namelen != 5 || memcmp(name, ":path", 5) != 0)
        return 0;
    struct sstream *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    char path[64];
    snprintf(path, sizeof(path), "%.*s", (int)valuelen, (const char *)value);
    if (strncmp(path, "/bulk/", 6) == 0) {
        st->kind = S_BULK;
        st->left = atol(path + 6);
    } else
        st->kind = strcmp(path, "/inf") == 0 ? S_INF : S_ECHO;
    nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st);
    return 0;
}

static int server_frame(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    (void)user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct sstream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (st == NULL)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    nghttp2_nv hdr = {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE};
    nghttp2_data_provider prd = {{.ptr = st}, server_read};
    return nghttp2_submit_response(s, f->hd.stream_id, &hdr, 1, &prd) == 0
               ? 0
               : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int server_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                       size_t len, void *user)
{
    (void)flags, (void)user;
    struct sstream *st = nghttp2_session_get_stream_user_data(s, id);
    if (st == NULL || st->kind != S_ECHO || st->echolen + len > sizeof(st->echo))
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    memcpy(st->echo + st->echolen, data, len);
    st->echolen += len;
    nghttp2_session_resume_data(s, id);
    return 0;
}

static int server_close(nghttp2_session *s, int32_t id, uint32_t code, void *user)
{
    (void)code, (void)user;
    free(nghttp2_session_get_stream_user_data(s, id));
    nghttp2_session_set_stream_user_data(s, id, NULL);
    return 0;
}

struct serve_arg {
    int fd, other;
};

static int serve(void *arg)
{
    struct serve_arg *a = arg;
    close(a->other);
    static struct conn c;
    conn_init(&c, a->fd);
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, server_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, server_frame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, server_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, server_close);
    if (nghttp2_session_server_new(&c.s, cb, NULL) != 0)
        return 1;
    nghttp2_session_callbacks_del(cb);
    settings(&c);
    while (!c.eof)
        pump(&c);
    nghttp2_session_del(c.s); /* frees nothing of ours: on_stream_close ran */
    close(c.fd);
    return 0;
}

/* ------------------------------------------------------------ client */

struct client {
    struct conn c;
    int32_t echo_id;
    long bytes[STREAMS + 1]; /* by stream index; STREAMS is the echo stream */
    long total, closed;
    int ping_due;    /* the echo stream's body has a ping to send */
    size_t echo_got; /* bytes of the current echo received */
    uint64_t ping_t0;
    double *rtt; /* round trips measured, in us */
    long nrtt, want_rtt;
};

static int stream_index(nghttp2_session *s, int32_t id)
{
    return (int)(intptr_t)nghttp2_session_get_stream_user_data(s, id) - 1;
}

static ssize_t client_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                           uint32_t *flags, nghttp2_data_source *src, void *user)
{
    (void)s, (void)id, (void)flags, (void)src;
    struct client *cl = user;
    if (!cl->ping_due || len < PING)
        return NGHTTP2_ERR_DEFERRED;
    cl->ping_due = 0;
    memset(buf, 0xa5, PING);
    return PING;
}

static void ping(struct client *cl)
{
    cl->ping_due = 1;
    cl->echo_got = 0;
    cl->ping_t0 = kc_bench_now_ns();
    nghttp2_session_resume_data(cl->c.s, cl->echo_id);
}

static int client_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                       size_t len, void *user)
{
    (void)flags, (void)data;
    struct client *cl = user;
    int i = stream_index(s, id);
    if (i < 0 || i > STREAMS)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    cl->bytes[i] += (long)len;
    if (i < STREAMS) {
        cl->total += (long)len;
        return 0;
    }
    cl->echo_got += len;
    if (cl->echo_got >= PING && cl->nrtt < cl->want_rtt) {
        cl->rtt[cl->nrtt++] = (double)(kc_bench_now_ns() - cl->ping_t0) / 1e3;
        if (cl->nrtt < cl->want_rtt)
            ping(cl);
    }
    return 0;
}

static int client_close(nghttp2_session *s, int32_t id, uint32_t code, void *user)
{
    (void)s, (void)id, (void)code;
    ((struct client *)user)->closed++;
    return 0;
}

static int32_t request(struct client *cl, const char *path, int index, int body)
{
    nghttp2_nv h[] = {
        {(uint8_t *)":method", (uint8_t *)(body ? "POST" : "GET"), 7, body ? 4 : 3, 0},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
        {(uint8_t *)":authority", (uint8_t *)"peer", 10, 4, 0},
        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
    };
    nghttp2_data_provider prd = {{.ptr = NULL}, client_read};
    int32_t id = nghttp2_submit_request(cl->c.s, NULL, h, 4, body ? &prd : NULL,
                                        (void *)(intptr_t)(index + 1));
    if (id < 0)
        die("submit_request", id);
    return id;
}

/* SO_SNDBUF of both ends of the next connections (0: the system's). */
static int sndbuf;

/* A fresh server process and an HTTP/2 client connected to it. */
static struct client *client_new(pid_t *pid)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        die("socketpair", 0);
    for (int i = 0; i < 2 && sndbuf > 0; i++)
        if (setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) != 0)
            die("setsockopt", 0);
    struct serve_arg a = {sv[1], sv[0]};
    *pid = kc_ip_spawn(serve, &a);
    close(sv[1]);
    struct client *cl = calloc(1, sizeof(*cl));
    if (cl == NULL)
        die("calloc", 0);
    conn_init(&cl->c, sv[0]);
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, client_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, client_close);
    if (nghttp2_session_client_new(&cl->c.s, cb, cl) != 0)
        die("client_new", 0);
    nghttp2_session_callbacks_del(cb);
    settings(&cl->c);
    return cl;
}

static void client_end(struct client *cl, pid_t pid)
{
    nghttp2_session_del(cl->c.s);
    close(cl->c.fd);
    kc_ip_reap(pid, "mux_h2");
    free(cl->rtt);
    free(cl);
}

static double jain(const long *x, int n)
{
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) {
        s += (double)x[i];
        s2 += (double)x[i] * (double)x[i];
    }
    return s2 > 0 ? s * s / (n * s2) : 1;
}

/* 100 streams of N elements: MB/s, and the worst window's Jain index. */
static void bulk(long elems, double *mbps, double *fair)
{
    pid_t pid;
    struct client *cl = client_new(&pid);
    char path[32];
    snprintf(path, sizeof(path), "/bulk/%ld", elems);
    for (int i = 0; i < STREAMS; i++)
        request(cl, path, i, 0);
    uint64_t t0 = kc_bench_now_ns(), w0 = t0;
    long last[STREAMS] = {0}, delta[STREAMS];
    double worst = -1;
    while (cl->closed < STREAMS && !cl->c.eof) {
        pump(&cl->c);
        uint64_t now = kc_bench_now_ns();
        if (cl->closed == 0 && now - w0 >= WINDOW_NS) {
            for (int i = 0; i < STREAMS; i++) {
                delta[i] = cl->bytes[i] - last[i];
                last[i] = cl->bytes[i];
            }
            double j = jain(delta, STREAMS);
            worst = worst < 0 || j < worst ? j : worst;
            w0 = now;
        }
        if (cl->closed > 0 && worst < 0) /* shorter than one window */
            worst = jain(cl->bytes, STREAMS);
    }
    uint64_t t1 = kc_bench_now_ns();
    if (cl->total != (long)STREAMS * elems * ELEM) {
        fprintf(stderr, "mux_h2: %ld bytes delivered, %ld expected\n", cl->total,
                (long)STREAMS * elems * ELEM);
        exit(1);
    }
    *mbps = (double)cl->total / 1e6 / ((double)(t1 - t0) / 1e9);
    *fair = worst;
    client_end(cl, pid);
}

/* Echo round trips on one stream beside `others` endless streams. */
static void rtt(int others, long pings, double *p50, double *p99, double *mbps)
{
    pid_t pid;
    struct client *cl = client_new(&pid);
    for (int i = 0; i < others; i++)
        request(cl, "/inf", i, 0);
    cl->echo_id = request(cl, "/echo", STREAMS, 1);
    cl->rtt = calloc((size_t)pings, sizeof(double));
    cl->want_rtt = pings;
    /* Measure once every other stream is flowing. */
    for (int flowing = 0; flowing < others && !cl->c.eof;) {
        pump(&cl->c);
        flowing = 0;
        for (int i = 0; i < others; i++)
            flowing += cl->bytes[i] > 0;
    }
    long b0 = cl->total;
    uint64_t t0 = kc_bench_now_ns();
    ping(cl);
    while (cl->nrtt < pings && !cl->c.eof)
        pump(&cl->c);
    *mbps = (double)(cl->total - b0) * 1e3 / (double)(kc_bench_now_ns() - t0);
    if (cl->nrtt < pings)
        die("the server went away", 0);
    *p50 = kc_bench_percentile(cl->rtt, (int)pings, 50);
    *p99 = kc_bench_percentile(cl->rtt, (int)pings, 99);
    client_end(cl, pid);
}

static void report(const char *name, const char *unit, double *v, int n)
{
    double spread, m = kc_bench_median(v, n, &spread);
    fprintf(stderr, "  %s: median %.4g %s over %d reps, spread %.1f%%\n", name, m, unit, n,
            spread * 100);
    kc_bench_report(name, m, unit);
}

int main(void)
{
    kc_bench_place();
    int reps = kc_bench_reps();
    long elems = kc_bench_iters(1000), pings = kc_bench_iters(5000);
    double a[101], b[101], c[101], d[101], e[101], f[101], g[101], x;
    for (int r = 0; r < reps; r++)
        bulk(elems, &a[r], &b[r]);
    report("peer.nghttp2.mux.streams100_1k", "MB/s", a, reps);
    report("peer.nghttp2.mux.streams100_1k_jain", "index", b, reps);
    /* Unloaded and loaded alternate, so both see the same machine. */
    sndbuf = KC_BENCH_MUX_RTT_SNDBUF;
    for (int r = 0; r < reps; r++) {
        rtt(0, pings, &c[r], &d[r], &x);
        rtt(STREAMS - 1, pings, &e[r], &f[r], &g[r]);
    }
    report("peer.nghttp2.mux.rtt_unloaded_p50", "us", c, reps);
    double u99 = kc_bench_median(d, reps, NULL);
    report("peer.nghttp2.mux.rtt_unloaded_p99", "us", d, reps);
    report("peer.nghttp2.mux.rtt_loaded_p50", "us", e, reps);
    double l99 = kc_bench_median(f, reps, NULL);
    report("peer.nghttp2.mux.rtt_loaded_p99", "us", f, reps);
    kc_bench_report("peer.nghttp2.mux.rtt_loaded_ratio", l99 / u99, "x");
    report("peer.nghttp2.mux.rtt_loaded_bulk", "MB/s", g, reps);
    return 0;
}
