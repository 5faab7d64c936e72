/* wire_session.c - two kcoro processes talking over tcp://, for the dissector's test.
 *
 * kcoro-wire-session makes a TCP session on loopback that carries every
 * frame type of core/docs/WIRE.md, so that a capture of it exercises the
 * Wireshark dissector (core/tools/wireshark/kcoro.lua) completely:
 *
 *   serve KEYFILE PORTFILE    listen on two loopback ports, write them to
 *                             PORTFILE ("IPC RAW\n"), serve one session on
 *                             each, exit 0 when both went as expected
 *   connect KEYFILE IPC RAW   the other process
 *
 * The IPC port is a kcoro/ipc.h connection through libkcoro-tcp with a
 * pre-shared key: the adapter's challenge and proofs (HELLO with
 * extensions), then the connection's HELLOs, PING and PONG (the client
 * pings after 10 ms of silence), REQUEST and REPLY (an echo with a
 * deadline, a 40,000-byte echo without one, fragmented at the negotiated
 * 16 KiB, a command nobody serves), CANCEL, a request from the server to
 * the client, and GOAWAY (the client's shutdown, naming the server's
 * request as the last it accepted). The RAW port is a bare transport
 * session, as the multiplexing layer will use it: HELLOs without
 * extensions and DATA frames on channel 7, one message of two fragments.
 * Both sides print what they sent ("key value" lines) for the test to
 * compare with what the dissector shows. Not installed.
 */
#include "kcoro.h"
#include "kcoro/tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MS 1000000LL
#define SEC (1000 * MS)

enum {
    CMD_ECHO = 1,
    CMD_HANG = 2,
    CMD_WHOAMI = 3,
    CMD_NOBODY = 99
};
enum {
    BIG = 40000,
    FRAME = 16384,
    DATA_CHAN = 7
};

static const char *key_file;

static void say(const char *what, unsigned long long v)
{
    printf("%s %llu\n", what, v);
    fflush(stdout);
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "kcoro-wire-session: %s: %s\n", what, kc_strerror(rc));
    return 1;
}

/* ---------------------------------------------------------------- handlers */

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

/* Runs until the caller's CANCEL (or the connection's end) fires. */
static int h_hang(const kc_rpc_req_t *r, void *arg, void **out, size_t *len)
{
    (void)arg;
    (void)out;
    (void)len;
    return kc_sched_sleep(60 * SEC, r->cancel);
}

static int h_whoami(const kc_rpc_req_t *r, void *arg, void **out, size_t *len)
{
    (void)r;
    (void)arg;
    if ((*out = strdup("client")) == NULL)
        return -ENOMEM;
    *len = 6;
    return 0;
}

static kc_ipc_opts_t ipc_opts(kc_rpc_router_t *router, kc_transport_opts_t *to, int64_t ping)
{
    *to = (kc_transport_opts_t)KC_TRANSPORT_OPTS_INIT;
    to->key_file = key_file;
    kc_ipc_opts_t o = KC_IPC_OPTS_INIT;
    o.max_frame = FRAME;
    o.router = router;
    o.transport = to;
    o.ping_interval_ns = ping;
    o.dead_after_ns = 30 * SEC;
    return o;
}

/* ---------------------------------------------------------------- raw DATA */

static int send_hello(kc_transport_t *t)
{
    kc_hello_t h;
    kc_hello_init(&h);
    h.features = KC_HELLO_FEAT_DATA;
    h.max_frame = FRAME;
    uint8_t buf[KC_HELLO_MAX_SIZE];
    int n = kc_hello_encode(&h, buf, sizeof buf);
    if (n < 0)
        return n;
    kc_frame_hdr_t fh = {KC_WIRE_VERSION, KC_FRAME_HELLO, 0, 0, 0, (uint32_t)n};
    struct iovec v = {buf, (size_t)n};
    return kc_transport_send_frame(t, &fh, &v, 1, 5 * SEC, NULL);
}

static int recv_hello(kc_transport_t *t)
{
    kc_frame_hdr_t fh;
    void *p = NULL;
    int rc = kc_transport_recv_frame(t, &fh, &p, KC_HELLO_MAX_SIZE, 5 * SEC, NULL);
    kc_hello_t h;
    if (rc == 0)
        rc = fh.type == KC_FRAME_HELLO ? kc_hello_decode(p, fh.len, &h) : -EPROTO;
    free(p);
    return rc;
}

static int send_data(kc_transport_t *t, uint32_t seq, uint16_t flags, const char *text)
{
    kc_frame_hdr_t fh = {KC_WIRE_VERSION, KC_FRAME_DATA, flags,
                         DATA_CHAN,       seq,           (uint32_t)strlen(text)};
    struct iovec v = {(void *)(uintptr_t)text, strlen(text)};
    return kc_transport_send_frame(t, &fh, &v, 1, 5 * SEC, NULL);
}

/* The DATA frames the client sends on the raw port (the server echoes
 * each one back unchanged). */
static const struct {
    uint32_t seq;
    uint16_t flags;
    const char *text;
} data_frames[] = {
    {1, 0, "first message"},
    {2, KC_FRAME_F_MORE, "second message, part one; "},
    {2, 0, "part two"},
};
#define N_DATA (sizeof data_frames / sizeof data_frames[0])

/* Serve one raw session: HELLOs, then echo every DATA frame until the
 * client ends the stream. */
static int serve_raw(kc_transport_t *l)
{
    kc_transport_t *t = NULL;
    int rc = kc_transport_accept(l, &t, NULL, 30 * SEC, NULL);
    if (rc < 0)
        return fail("raw accept", rc);
    if ((rc = send_hello(t)) < 0 || (rc = recv_hello(t)) < 0) {
        kc_transport_close(t);
        return fail("raw hello", rc);
    }
    size_t n = 0;
    for (;;) {
        kc_frame_hdr_t fh;
        void *p = NULL;
        rc = kc_transport_recv_frame(t, &fh, &p, FRAME, 10 * SEC, NULL);
        if (rc == -EPIPE)
            break;
        if (rc == 0 && (fh.type != KC_FRAME_DATA || n >= N_DATA))
            rc = -EPROTO;
        if (rc == 0) {
            struct iovec v = {p, fh.len};
            rc = kc_transport_send_frame(t, &fh, &v, 1, 5 * SEC, NULL);
        }
        free(p);
        if (rc < 0) {
            kc_transport_close(t);
            return fail("raw echo", rc);
        }
        n++;
    }
    kc_transport_close(t);
    return n == N_DATA ? 0 : fail("raw: DATA frames missing", -EPROTO);
}

static int client_raw(int port)
{
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    kc_transport_t *t = NULL;
    int rc = kc_transport_connect(url, NULL, &t, 5 * SEC, NULL);
    if (rc < 0)
        return fail("raw connect", rc);
    if ((rc = send_hello(t)) < 0 || (rc = recv_hello(t)) < 0)
        goto out_close;
    for (size_t i = 0; i < N_DATA && rc == 0; i++) {
        rc = send_data(t, data_frames[i].seq, data_frames[i].flags, data_frames[i].text);
        kc_frame_hdr_t fh;
        void *p = NULL;
        if (rc == 0)
            rc = kc_transport_recv_frame(t, &fh, &p, FRAME, 5 * SEC, NULL);
        if (rc == 0 && (fh.len != strlen(data_frames[i].text) || fh.id != data_frames[i].seq ||
                        memcmp(p, data_frames[i].text, fh.len) != 0))
            rc = -EPROTO;
        free(p);
    }
out_close:
    kc_transport_close(t);
    return rc < 0 ? fail("raw session", rc) : 0;
}

/* ---------------------------------------------------------------- server */

struct server {
    const char *port_file;
    int status;
};

static int listen_ipc(kc_ipc_server_t **srv, const kc_ipc_opts_t *o, int *port)
{
    /* kc_ipc_listen does not say which port 0 chose: try a few. */
    int base = 20000 + (int)(getpid() % 20000);
    for (int i = 0; i < 200; i++) {
        char url[64];
        *port = base + i;
        snprintf(url, sizeof url, "tcp://127.0.0.1:%d", *port);
        int rc = kc_ipc_listen(srv, url, o);
        if (rc != -EADDRINUSE)
            return rc;
    }
    return -EADDRINUSE;
}

static int port_of(kc_transport_t *l)
{
    struct sockaddr_in sa;
    socklen_t n = sizeof sa;
    int fd = kc_transport_poll_handle(l);
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&sa, &n) != 0)
        return -1;
    return ntohs(sa.sin_port);
}

static int serve_ipc(kc_ipc_server_t *srv)
{
    kc_ipc_conn_t *c = NULL;
    int rc = kc_ipc_accept(srv, &c, 30 * SEC, NULL);
    if (rc < 0)
        return fail("ipc accept", rc);
    /* A request of our own, so that the client's GOAWAY names it. */
    kc_rpc_future_t *f = NULL;
    uint32_t id = 0;
    void *reply = NULL;
    size_t len = 0;
    rc = kc_rpc_send_timed(c, CMD_WHOAMI, 0, NULL, 0, 5 * SEC, NULL, &id, &f);
    if (rc == 0)
        rc = kc_rpc_await(f, 5 * SEC, NULL, NULL, &reply, &len);
    if (rc == 0 && (len != 6 || memcmp(reply, "client", 6) != 0))
        rc = -EPROTO;
    free(reply);
    if (rc < 0) {
        kc_ipc_close(c);
        return fail("whoami", rc);
    }
    say("server.whoami", id);
    rc = kc_ipc_wait_dead(c, 30 * SEC, NULL); /* the client's GOAWAY ends it */
    kc_ipc_close(c);
    return rc == -ETIME ? fail("ipc session did not end", rc) : 0;
}

static int server_main(void *arg)
{
    struct server *sv = arg;
    sv->status = 1;
    kc_rpc_router_t *router = NULL;
    kc_ipc_server_t *srv = NULL;
    kc_transport_t *raw = NULL;
    kc_transport_opts_t to;
    int port = 0, rc = kc_rpc_router_create(&router);
    if (rc == 0)
        rc = kc_rpc_router_add(router, CMD_ECHO, h_echo, NULL);
    if (rc == 0)
        rc = kc_rpc_router_add(router, CMD_HANG, h_hang, NULL);
    kc_ipc_opts_t o = ipc_opts(router, &to, 30 * SEC);
    if (rc == 0)
        rc = listen_ipc(&srv, &o, &port);
    if (rc == 0)
        rc = kc_transport_listen("tcp://127.0.0.1:0", NULL, &raw);
    if (rc < 0) {
        fail("listen", rc);
        goto out_free;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", sv->port_file);
    FILE *pf = fopen(tmp, "w");
    if (pf == NULL || fprintf(pf, "%d %d\n", port, port_of(raw)) < 0 || fclose(pf) != 0 ||
        rename(tmp, sv->port_file) != 0) {
        fprintf(stderr, "kcoro-wire-session: cannot write %s\n", sv->port_file);
        goto out_free;
    }
    if (serve_ipc(srv) == 0 && serve_raw(raw) == 0)
        sv->status = 0;
out_free:
    kc_transport_close(raw);
    kc_ipc_server_close(srv);
    kc_rpc_router_destroy(router);
    return 0;
}

/* ---------------------------------------------------------------- client */

struct client {
    int ipc_port, raw_port;
    int status;
};

/* Wait (bounded) until c's counters satisfy want. */
static int wait_for(kc_ipc_conn_t *c, int (*want)(const kc_ipc_stats_t *))
{
    for (int i = 0; i < 2000; i++) {
        kc_ipc_stats_t st = {.size = sizeof st};
        int rc = kc_ipc_stats(c, &st);
        if (rc < 0)
            return rc;
        if (want(&st))
            return 0;
        kc_sched_sleep(5 * MS, NULL);
    }
    return -ETIME;
}

static int ponged(const kc_ipc_stats_t *st)
{
    return st->pongs_in >= 1;
}

static int answered(const kc_ipc_stats_t *st)
{
    return st->replies_sent >= 1;
}

static int call(kc_ipc_conn_t *c, const char *what, uint16_t cmd, uint32_t chan, const void *arg,
                size_t len, int64_t timeout, int want)
{
    kc_rpc_future_t *f = NULL;
    uint32_t id = 0;
    int rc = timeout > 0 ? kc_rpc_send_timed(c, cmd, chan, arg, len, timeout, NULL, &id, &f)
                         : kc_rpc_send_async(c, cmd, chan, arg, len, &id, &f);
    if (rc < 0)
        return fail(what, rc);
    void *reply = NULL;
    size_t rlen = 0;
    int got = 0;
    kc_rpc_await(f, 5 * SEC, NULL, &got, &reply, &rlen);
    int bad = got != want || (want == 0 && (rlen != len || memcmp(reply, arg, len) != 0));
    free(reply);
    if (bad)
        return fail(what, got);
    say(what, id);
    return 0;
}

static int client_ipc(int port)
{
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    kc_rpc_router_t *router = NULL;
    int rc = kc_rpc_router_create(&router);
    if (rc == 0)
        rc = kc_rpc_router_add(router, CMD_WHOAMI, h_whoami, NULL);
    if (rc < 0)
        return fail("router", rc);
    kc_transport_opts_t to;
    kc_ipc_opts_t o = ipc_opts(router, &to, 10 * MS);
    kc_ipc_conn_t *c = NULL;
    rc = kc_ipc_connect(&c, url, &o, 5 * SEC, NULL);
    if (rc < 0) {
        kc_rpc_router_destroy(router);
        return fail("ipc connect", rc);
    }
    int bad = 0;
    if ((rc = wait_for(c, ponged)) < 0 || (rc = wait_for(c, answered)) < 0)
        bad = fail("ping and whoami", rc);
    static char big[BIG];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    const char hello[] = "kcoro says hello";
    bad = bad || call(c, "client.echo", CMD_ECHO, 5, hello, strlen(hello), 5 * SEC, 0);
    bad = bad || call(c, "client.big", CMD_ECHO, 6, big, sizeof big, 0, 0);
    bad = bad || call(c, "client.nobody", CMD_NOBODY, 0, NULL, 0, 5 * SEC, -ENOTSUP);
    if (!bad) { /* a request given up on: CANCEL */
        kc_rpc_future_t *f = NULL;
        uint32_t id = 0;
        rc = kc_rpc_send_async(c, CMD_HANG, 0, NULL, 0, &id, &f);
        if (rc == 0) {
            kc_sched_sleep(20 * MS, NULL);
            kc_rpc_cancel(f);
            say("client.cancel", id);
        } else {
            bad = fail("hang", rc);
        }
    }
    rc = kc_ipc_shutdown(c, 5 * SEC, NULL);
    if (rc < 0 && !bad)
        bad = fail("shutdown", rc);
    kc_ipc_close(c);
    kc_rpc_router_destroy(router);
    return bad;
}

static int client_main(void *arg)
{
    struct client *cl = arg;
    cl->status = client_ipc(cl->ipc_port) || client_raw(cl->raw_port);
    return 0;
}

/* ---------------------------------------------------------------- main */

static int usage(void)
{
    fprintf(stderr, "usage: kcoro-wire-session serve KEYFILE PORTFILE\n"
                    "       kcoro-wire-session connect KEYFILE IPC_PORT RAW_PORT\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return usage();
    key_file = argv[2];
    struct server sv = {argv[3], 1};
    struct client cl = {0, 0, 1};
    kc_coro_fn_t fn = server_main;
    void *arg = &sv;
    int *status = &sv.status;
    if (strcmp(argv[1], "connect") == 0 && argc == 5) {
        cl.ipc_port = atoi(argv[3]);
        cl.raw_port = atoi(argv[4]);
        fn = client_main;
        arg = &cl;
        status = &cl.status;
    } else if (strcmp(argv[1], "serve") != 0 || argc != 4) {
        return usage();
    }
    int rc = kc_tcp_register();
    if (rc < 0)
        return fail("kc_tcp_register", rc);
    kc_sched_t *s = NULL;
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 1;
    kc_task_t *t = NULL;
    if ((rc = kc_sched_create(&s, &so)) < 0 || (rc = kc_sched_spawn(s, &t, fn, arg, NULL)) < 0 ||
        (rc = kc_sched_join(t, NULL, KC_NO_TIMEOUT, NULL)) < 0)
        return fail("scheduler", rc);
    kc_sched_destroy(s);
    return *status;
}
