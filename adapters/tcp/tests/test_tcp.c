/* test_tcp.c - libkcoro-tcp: data path, errors, keys, authentication,
 * slow and oversized peers, connection limits.
 *
 * Built against kcoro's staged public headers only, like the adapter. The
 * transport calls block plain threads (kcoro/io.h), so the two ends of a
 * connection run on two threads.
 */
#include "kcoro.h"
#include "kcoro/tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define SEC 1000000000LL
#define MS 1000000LL

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* A listener on 127.0.0.1 (or `host`) with a free port; *url gets its URL. */
static kc_transport_t *listen_on(const char *host, const kc_transport_opts_t *o, char *url,
                                 size_t cap)
{
    char want[64];
    snprintf(want, sizeof want, "tcp://%s:0", host);
    kc_transport_t *l = NULL;
    assert_int_equal(kc_transport_listen(want, o, &l), 0);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(kc_transport_poll_handle(l), (struct sockaddr *)&a, &len), 0);
    snprintf(url, cap, "tcp://127.0.0.1:%u", ntohs(a.sin_port));
    return l;
}

static void write_key(const char *path, unsigned char fill, size_t n, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    unsigned char k[128];
    memset(k, fill, sizeof k);
    assert_int_equal(write(fd, k, n), (ssize_t)n);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static int send_bytes(kc_transport_t *t, uint8_t type, uint32_t id, void *p, size_t n)
{
    kc_frame_hdr_t h = {KC_WIRE_VERSION, type, 0, 0, id, (uint32_t)n};
    struct iovec v = {p, n};
    return kc_transport_send_frame(t, &h, &v, n ? 1 : 0, 5 * SEC, NULL);
}

/* ------------------------------------------------------------ an echo server */

struct server {
    kc_transport_t *l;
    int64_t accept_timeout;
    int accept_rc;
    int frames; /* frames echoed */
    kc_transport_peer_t peer;
};

static void *echo_thread(void *arg)
{
    struct server *s = arg;
    kc_transport_t *c = NULL;
    s->peer.size = sizeof s->peer;
    s->accept_rc = kc_transport_accept(s->l, &c, &s->peer, s->accept_timeout, NULL);
    if (s->accept_rc != 0)
        return NULL;
    for (;;) {
        kc_frame_hdr_t h;
        void *p = NULL;
        if (kc_transport_recv_frame(c, &h, &p, KC_FRAME_MAX_MAX, 5 * SEC, NULL) != 0)
            break;
        struct iovec v = {p, h.len};
        int rc = kc_transport_send_frame(c, &h, &v, h.len ? 1 : 0, 5 * SEC, NULL);
        free(p);
        if (rc != 0)
            break;
        s->frames++;
    }
    kc_transport_close(c);
    return NULL;
}

static void start(pthread_t *th, struct server *s, kc_transport_t *l, int64_t timeout)
{
    memset(s, 0, sizeof *s);
    s->l = l;
    s->accept_timeout = timeout;
    assert_int_equal(pthread_create(th, NULL, echo_thread, s), 0);
}

/* Send frames of several sizes and check each comes back intact. */
static void echo_sizes(kc_transport_t *c)
{
    static const size_t sizes[] = {0, 1, 64, 4095, 4096, 65536};
    static uint8_t buf[65536];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (size_t j = 0; j < sizes[i]; j++)
            buf[j] = (uint8_t)(j * 7 + i);
        assert_int_equal(send_bytes(c, KC_FRAME_REQUEST, (uint32_t)i + 100, buf, sizes[i]), 0);
        kc_frame_hdr_t h;
        void *p = NULL;
        assert_int_equal(kc_transport_recv_frame(c, &h, &p, KC_FRAME_MAX_MAX, 5 * SEC, NULL), 0);
        assert_int_equal(h.type, KC_FRAME_REQUEST);
        assert_int_equal(h.id, (uint32_t)i + 100);
        assert_int_equal(h.len, sizes[i]);
        if (sizes[i] > 0)
            assert_memory_equal(p, buf, sizes[i]);
        else
            assert_null(p);
        free(p);
    }
}

/* ------------------------------------------------------------ tests */

static void test_register(void **state)
{
    (void)state;
    assert_int_equal(kc_tcp_register(), -EBUSY); /* the group setup registered it */
    assert_non_null(kc_transport_lookup("tcp://127.0.0.1:1"));
    kc_transport_t *t = NULL;
    assert_int_equal(kc_transport_listen("tcp://127.0.0.1", NULL, &t), -EINVAL);
    assert_int_equal(kc_transport_listen("tcp:127.0.0.1:1", NULL, &t), -EINVAL);
    assert_int_equal(kc_transport_listen("tcp://127.0.0.1:99999", NULL, &t), -EINVAL);
    assert_int_equal(kc_transport_listen("tcp://::1:5", NULL, &t), -EINVAL);
    assert_null(t);
}

static void test_roundtrip(void **state)
{
    (void)state;
    char url[64];
    kc_transport_t *l = listen_on("127.0.0.1", NULL, url, sizeof url);
    assert_string_equal(kc_transport_scheme(l), "tcp");
    pthread_t th;
    struct server s;
    start(&th, &s, l, 5 * SEC);
    kc_transport_t *c = NULL;
    assert_int_equal(kc_transport_connect(url, NULL, &c, 5 * SEC, NULL), 0);
    echo_sizes(c);
    kc_transport_close(c);
    pthread_join(th, NULL);
    assert_int_equal(s.accept_rc, 0);
    assert_int_equal(s.frames, 6);
    assert_false(s.peer.has_cred);
    assert_int_equal(strncmp(s.peer.name, "127.0.0.1:", 10), 0);
    kc_transport_stats_t st = {.size = sizeof st};
    assert_int_equal(kc_transport_stats(l, &st), 0);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.live, 0);
    kc_transport_close(l);
}

/* A batch (kc_transport_send_frames, one sendmsg where it fits) comes back
 * from the echo server whole and in order, frame by frame. */
static void test_batch(void **state)
{
    (void)state;
    char url[64];
    kc_transport_t *l = listen_on("127.0.0.1", NULL, url, sizeof url);
    pthread_t th;
    struct server s;
    start(&th, &s, l, 5 * SEC);
    kc_transport_t *c = NULL;
    assert_int_equal(kc_transport_connect(url, NULL, &c, 5 * SEC, NULL), 0);
    enum {
        N = KC_TRANSPORT_BATCH_MAX
    };
    static uint8_t buf[N * 100];
    for (size_t j = 0; j < sizeof buf; j++)
        buf[j] = (uint8_t)(j * 11 + 3);
    kc_frame_out_t f[N];
    struct iovec v[N][2];
    for (int i = 0; i < N; i++) {
        size_t len = (size_t)i * 97;
        v[i][0] = (struct iovec){buf, len / 3};
        v[i][1] = (struct iovec){buf + len / 3, len - len / 3};
        f[i].hdr =
            (kc_frame_hdr_t){KC_WIRE_VERSION, KC_FRAME_REQUEST, 0, 0, (uint32_t)i, (uint32_t)len};
        f[i].iov = v[i];
        f[i].iovcnt = len ? 2 : 0;
    }
    assert_int_equal(kc_transport_send_frames(c, f, N, 5 * SEC, NULL), 0);
    for (int i = 0; i < N; i++) {
        kc_frame_hdr_t h;
        void *p = NULL;
        assert_int_equal(kc_transport_recv_frame(c, &h, &p, KC_FRAME_MAX_MAX, 5 * SEC, NULL), 0);
        assert_int_equal(h.id, (uint32_t)i);
        assert_int_equal(h.len, f[i].hdr.len);
        if (h.len)
            assert_memory_equal(p, buf, h.len);
        free(p);
    }
    kc_transport_close(c);
    pthread_join(th, NULL);
    assert_int_equal(s.frames, N);
    kc_transport_close(l);
}

static void test_refused_and_timeouts(void **state)
{
    (void)state;
    char url[64];
    kc_transport_t *l = listen_on("127.0.0.1", NULL, url, sizeof url);
    kc_transport_t *c = NULL;
    /* accept with nobody there */
    assert_int_equal(kc_transport_accept(l, &c, NULL, 20 * MS, NULL), -ETIME);
    kc_transport_close(l); /* the port is free again: nobody listens */
    assert_int_equal(kc_transport_connect(url, NULL, &c, 5 * SEC, NULL), -ECONNREFUSED);
    assert_null(c);

    l = listen_on("127.0.0.1", NULL, url, sizeof url);
    pthread_t th;
    struct server s;
    start(&th, &s, l, 5 * SEC);
    assert_int_equal(kc_transport_connect(url, NULL, &c, 5 * SEC, NULL), 0);
    kc_frame_hdr_t h;
    void *p = NULL;
    int64_t t0 = now_ns();
    assert_int_equal(kc_transport_recv_frame(c, &h, &p, 1024, 30 * MS, NULL), -ETIME);
    assert_true(now_ns() - t0 >= 30 * MS);
    kc_cancel_t *cancel = NULL;
    assert_int_equal(kc_cancel_create(&cancel, NULL), 0);
    kc_cancel_trigger(cancel);
    assert_int_equal(kc_transport_recv_frame(c, &h, &p, 1024, 5 * SEC, cancel), -ECANCELED);
    kc_cancel_destroy(cancel);
    echo_sizes(c); /* still usable after a timeout and a cancel */
    kc_transport_close(c);
    pthread_join(th, NULL);
    kc_transport_close(l);
}

/* A raw TCP peer: connect to url (a listener of ours). */
static int raw_connect(const char *url)
{
    unsigned port = (unsigned)atoi(strrchr(url, ':') + 1);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* A raw TCP listener on 127.0.0.1; *url gets its URL. */
static int raw_listen(char *url, size_t cap)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    snprintf(url, cap, "tcp://127.0.0.1:%u", ntohs(a.sin_port));
    return fd;
}

static void put_hdr(uint8_t *b, uint8_t type, uint32_t len)
{
    kc_frame_hdr_t h = {KC_WIRE_VERSION, type, 0, 0, 1, len};
    assert_int_equal(kc_frame_encode(&h, b), KC_FRAME_HDR_SIZE);
}

static void test_receive_errors(void **state)
{
    (void)state;
    char url[64];
    int lfd = raw_listen(url, sizeof url);
    kc_transport_t *c = NULL;
    kc_frame_hdr_t h;
    void *p = NULL;
    uint8_t b[64];

    /* end of stream between frames: -EPIPE */
    assert_int_equal(kc_transport_connect(url, NULL, &c, 5 * SEC, NULL), 0);
    int fd = accept(lfd, NULL, NULL);
    put_hdr(b, KC_FRAME_PING, 0);
    assert_int_equal(write(fd, b, KC_FRAME_HDR_SIZE), KC_FRAME_HDR_SIZE);
    close(fd);
    assert_int_equal(kc_transport_recv_frame(c, &h, &p, 1024, 5 * SEC, NULL), 0);
    assert_int_equal(h.type, KC_FRAME_PING);
    assert_int_equal(kc_transport_recv_frame(c, &h, &p, 1024, 5 * SEC, NULL), -EPIPE);
    kc_transport_close(c);

    /* end of stream inside a frame: -ECONNRESET */
    assert_int_equal(kc_transport_connect(url, NULL, &c, 5 * SEC, NULL), 0);
    fd = accept(lfd, NULL, NULL);
    put_hdr(b, KC_FRAME_DATA, 100);
    memset(b + KC_FRAME_HDR_SIZE, 1, 10);
    assert_int_equal(write(fd, b, KC_FRAME_HDR_SIZE + 10), KC_FRAME_HDR_SIZE + 10);
    close(fd);
    assert_int_equal(kc_transport_recv_frame(c, &h, &p, 1024, 5 * SEC, NULL), -ECONNRESET);
    assert_null(p);
    kc_transport_close(c);

    /* a length above the limit: -EMSGSIZE before any allocation, then the
     * endpoint is done; a bad header: -EPROTO */
    assert_int_equal(kc_transport_connect(url, NULL, &c, 5 * SEC, NULL), 0);
    fd = accept(lfd, NULL, NULL);
    put_hdr(b, KC_FRAME_DATA, 0xffffffffu);
    assert_int_equal(write(fd, b, KC_FRAME_HDR_SIZE), KC_FRAME_HDR_SIZE);
    assert_int_equal(kc_transport_recv_frame(c, &h, &p, 1024, 5 * SEC, NULL), -EMSGSIZE);
    assert_int_equal(kc_transport_recv_frame(c, &h, &p, 1024, 5 * SEC, NULL), -EPIPE);
    kc_transport_close(c);
    close(fd);
    assert_int_equal(kc_transport_connect(url, NULL, &c, 5 * SEC, NULL), 0);
    fd = accept(lfd, NULL, NULL);
    memset(b, 0xee, KC_FRAME_HDR_SIZE);
    assert_int_equal(write(fd, b, KC_FRAME_HDR_SIZE), KC_FRAME_HDR_SIZE);
    assert_int_equal(kc_transport_recv_frame(c, &h, &p, 1024, 5 * SEC, NULL), -EPROTO);
    kc_transport_close(c);
    close(fd);

    /* a peer that went away: sends fail with -EPIPE or -ECONNRESET, never
     * SIGPIPE (the test would die) */
    assert_int_equal(kc_transport_connect(url, NULL, &c, 5 * SEC, NULL), 0);
    fd = accept(lfd, NULL, NULL);
    close(fd);
    static uint8_t big[65536];
    int rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++)
        rc = send_bytes(c, KC_FRAME_DATA, 1, big, sizeof big);
    assert_true(rc == -EPIPE || rc == -ECONNRESET);
    assert_int_equal(send_bytes(c, KC_FRAME_DATA, 1, big, 1), -EPIPE); /* broken for good */
    kc_transport_close(c);
    close(lfd);
}

static void test_keys_required(void **state)
{
    (void)state;
    kc_transport_t *t = NULL;
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    const char *key = "/tmp/kcoro-test-tcp.key";
    /* off the host only with a key */
    assert_int_equal(kc_transport_listen("tcp://0.0.0.0:0", NULL, &t), -EACCES);
    assert_int_equal(kc_transport_connect("tcp://192.0.2.1:9", NULL, &t, SEC, NULL), -EACCES);
    /* the key file: private, regular, 16..64 bytes */
    o.key_file = key;
    write_key(key, 0x11, 32, 0644);
    assert_int_equal(kc_transport_listen("tcp://0.0.0.0:0", &o, &t), -EACCES);
    write_key(key, 0x11, 32, 0640);
    assert_int_equal(kc_transport_listen("tcp://0.0.0.0:0", &o, &t), -EACCES);
    write_key(key, 0x11, 8, 0600);
    assert_int_equal(kc_transport_listen("tcp://0.0.0.0:0", &o, &t), -EINVAL);
    write_key(key, 0x11, 65, 0600);
    assert_int_equal(kc_transport_listen("tcp://0.0.0.0:0", &o, &t), -EINVAL);
    o.key_file = "/tmp/kcoro-test-tcp.missing";
    assert_int_equal(kc_transport_listen("tcp://0.0.0.0:0", &o, &t), -ENOENT);
    o.key_file = "/tmp";
    assert_true(kc_transport_listen("tcp://0.0.0.0:0", &o, &t) < 0);
    assert_null(t);
    o.key_file = key;
    write_key(key, 0x11, 32, 0600);
    assert_int_equal(kc_transport_listen("tcp://0.0.0.0:0", &o, &t), 0);
    kc_transport_close(t);
    unlink(key);
}

static void test_auth(void **state)
{
    (void)state;
    const char *key = "/tmp/kcoro-test-tcp.key", *other = "/tmp/kcoro-test-tcp.other";
    write_key(key, 0x22, 32, 0600);
    write_key(other, 0x23, 32, 0600);
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.key_file = key;
    char url[64];
    /* 0.0.0.0 with a key; we reach it through the loopback address */
    kc_transport_t *l = listen_on("0.0.0.0", &o, url, sizeof url);
    pthread_t th;
    struct server s;
    start(&th, &s, l, 5 * SEC);
    kc_transport_t *c = NULL;
    /* no key: the listener's challenge goes unanswered and it cuts us */
    /* (done below with the raw peers); the right key: */
    assert_int_equal(kc_transport_connect(url, &o, &c, 5 * SEC, NULL), 0);
    echo_sizes(c);
    kc_transport_close(c);
    pthread_join(th, NULL);
    assert_int_equal(s.accept_rc, 0);

    /* the wrong key: the client is refused, the listener counts it */
    start(&th, &s, l, 500 * MS);
    kc_transport_opts_t bad = o;
    bad.key_file = other;
    c = NULL;
    assert_int_equal(kc_transport_connect(url, &bad, &c, 5 * SEC, NULL), -EACCES);
    assert_null(c);
    pthread_join(th, NULL);
    assert_int_equal(s.accept_rc, -ETIME);
    kc_transport_stats_t st = {.size = sizeof st};
    assert_int_equal(kc_transport_stats(l, &st), 0);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.refused_auth, 1);
    assert_int_equal(st.refused_timeout, 0);
    assert_int_equal(st.live, 0);

    /* a client with a key against a listener without one: no challenge
     * comes, the client's own deadline ends it */
    kc_transport_close(l);
    l = listen_on("127.0.0.1", NULL, url, sizeof url);
    start(&th, &s, l, 5 * SEC);
    assert_int_equal(kc_transport_connect(url, &o, &c, 100 * MS, NULL), -ETIME);
    pthread_join(th, NULL); /* accepted, then saw the end of the stream */
    kc_transport_close(l);
    unlink(key);
    unlink(other);
}

/* A peer that never authenticates is cut after the HELLO timeout; one that
 * announces a huge HELLO is cut at once, and nothing is allocated for it. */
static void test_slow_and_oversized_peers(void **state)
{
    (void)state;
    const char *key = "/tmp/kcoro-test-tcp.key";
    write_key(key, 0x33, 32, 0600);
    kc_tcp_opts_t to = KC_TCP_OPTS_INIT;
    to.hello_timeout_ns = 200 * MS;
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.key_file = key;
    o.adapter = &to;
    char url[64];
    kc_transport_t *l = listen_on("127.0.0.1", &o, url, sizeof url);

    /* the listener accepts on a thread; this one plays the silent peer */
    pthread_t th;
    struct server s;
    start(&th, &s, l, 700 * MS);
    int fd = raw_connect(url);
    int64_t t0 = now_ns();
    /* the peer gets the challenge, then the end of the stream */
    uint8_t b[1024];
    ssize_t n, got = 0;
    while ((n = read(fd, b + got, sizeof b - (size_t)got)) > 0)
        got += n;
    int64_t cut = now_ns() - t0;
    assert_int_equal(n, 0);
    pthread_join(th, NULL);
    assert_int_equal(s.accept_rc, -ETIME);
    kc_frame_hdr_t h;
    assert_int_equal(kc_frame_decode(b, (size_t)got, &h), KC_FRAME_HDR_SIZE);
    assert_int_equal(h.type, KC_FRAME_HELLO);
    assert_int_equal((ssize_t)h.len + KC_FRAME_HDR_SIZE, got);
    assert_true(cut >= 200 * MS && cut < 700 * MS);
    close(fd);
    kc_transport_stats_t st = {.size = sizeof st};
    assert_int_equal(kc_transport_stats(l, &st), 0);
    assert_int_equal(st.refused_timeout, 1);
    assert_int_equal(st.refused_auth, 0);

    /* a HELLO frame that claims 1 GiB */
    start(&th, &s, l, 700 * MS);
    fd = raw_connect(url);
    put_hdr(b, KC_FRAME_HELLO, 1u << 30);
    assert_int_equal(write(fd, b, KC_FRAME_HDR_SIZE), KC_FRAME_HDR_SIZE);
    t0 = now_ns();
    got = 0;
    while ((n = read(fd, b + got, sizeof b - (size_t)got)) > 0)
        got += n;
    assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
    assert_true(now_ns() - t0 < 200 * MS); /* at once, not after the timeout */
    close(fd);
    pthread_join(th, NULL);
    assert_int_equal(s.accept_rc, -ETIME);
    assert_int_equal(kc_transport_stats(l, &st), 0);
    assert_int_equal(st.refused_auth, 1);
    assert_int_equal(st.refused_timeout, 1);
    assert_int_equal(st.accepted, 0);
    assert_int_equal(st.live, 0);
    kc_transport_close(l);
    unlink(key);
}

static void test_connection_limit(void **state)
{
    (void)state;
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.max_conns = 2;
    char url[64];
    kc_transport_t *l = listen_on("127.0.0.1", &o, url, sizeof url);
    kc_transport_t *c[4] = {NULL}, *a[4] = {NULL};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(kc_transport_connect(url, NULL, &c[i], 5 * SEC, NULL), 0);
        assert_int_equal(kc_transport_accept(l, &a[i], NULL, 5 * SEC, NULL), 0);
    }
    /* the third is accepted by the kernel, then refused and closed */
    assert_int_equal(kc_transport_connect(url, NULL, &c[2], 5 * SEC, NULL), 0);
    assert_int_equal(kc_transport_accept(l, &a[2], NULL, 200 * MS, NULL), -ETIME);
    kc_frame_hdr_t h;
    void *p = NULL;
    int rc = kc_transport_recv_frame(c[2], &h, &p, 1024, 5 * SEC, NULL);
    assert_true(rc == -EPIPE || rc == -ECONNRESET);
    kc_transport_stats_t st = {.size = sizeof st};
    assert_int_equal(kc_transport_stats(l, &st), 0);
    assert_int_equal(st.refused_limit, 1);
    assert_int_equal(st.live, 2);
    /* one closes: room for the next */
    kc_transport_close(a[0]);
    assert_int_equal(kc_transport_connect(url, NULL, &c[3], 5 * SEC, NULL), 0);
    assert_int_equal(kc_transport_accept(l, &a[3], NULL, 5 * SEC, NULL), 0);
    assert_int_equal(kc_transport_stats(l, &st), 0);
    assert_int_equal(st.live, 2);
    assert_int_equal(st.accepted, 3);
    /* accepted endpoints outlive their listener */
    kc_transport_close(l);
    assert_int_equal(send_bytes(c[3], KC_FRAME_PING, 9, NULL, 0), 0);
    assert_int_equal(kc_transport_recv_frame(a[3], &h, &p, 1024, 5 * SEC, NULL), 0);
    assert_int_equal(h.id, 9);
    for (int i = 0; i < 4; i++) {
        kc_transport_close(c[i]);
        if (i != 0)
            kc_transport_close(a[i]);
    }
}

/* The adapter from coroutines: 200 round trips between two coroutines on
 * one worker; neither blocks the worker. */
struct coro_end {
    kc_transport_t *t;
    int ok;
};

static int coro_server(void *arg)
{
    struct coro_end *e = arg;
    kc_transport_t *c = NULL;
    if (kc_transport_accept(e->t, &c, NULL, 5 * SEC, NULL) != 0)
        return 1;
    for (int i = 0; i < 200; i++) {
        kc_frame_hdr_t h;
        void *p = NULL;
        if (kc_transport_recv_frame(c, &h, &p, 1024, 5 * SEC, NULL) != 0)
            break;
        struct iovec v = {p, h.len};
        if (kc_transport_send_frame(c, &h, &v, 1, 5 * SEC, NULL) == 0)
            e->ok++;
        free(p);
    }
    kc_transport_close(c);
    return 0;
}

static int coro_client(void *arg)
{
    struct coro_end *e = arg;
    char *url = (char *)e->t;
    kc_transport_t *c = NULL;
    if (kc_transport_connect(url, NULL, &c, 5 * SEC, NULL) != 0)
        return 1;
    for (int i = 0; i < 200; i++) {
        uint8_t b[64];
        memset(b, i, sizeof b);
        kc_frame_hdr_t h;
        void *p = NULL;
        if (send_bytes(c, KC_FRAME_REQUEST, (uint32_t)i, b, sizeof b) != 0 ||
            kc_transport_recv_frame(c, &h, &p, 1024, 5 * SEC, NULL) != 0)
            break;
        if (h.id == (uint32_t)i && h.len == sizeof b && memcmp(p, b, sizeof b) == 0)
            e->ok++;
        free(p);
    }
    kc_transport_close(c);
    return 0;
}

static void test_coroutines(void **state)
{
    (void)state;
    char url[64];
    kc_transport_t *l = listen_on("127.0.0.1", NULL, url, sizeof url);
    kc_sched_t *s = NULL;
    kc_sched_opts_t so = KC_SCHED_OPTS_INIT;
    so.nworkers = 1;
    assert_int_equal(kc_sched_create(&s, &so), 0);
    struct coro_end srv = {l, 0}, cli = {(kc_transport_t *)url, 0};
    kc_task_t *a, *b;
    assert_int_equal(kc_sched_spawn(s, &a, coro_server, &srv, NULL), 0);
    assert_int_equal(kc_sched_spawn(s, &b, coro_client, &cli, NULL), 0);
    int ra = -1, rb = -1;
    assert_int_equal(kc_sched_join(b, &rb, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(kc_sched_join(a, &ra, KC_NO_TIMEOUT, NULL), 0);
    assert_int_equal(ra, 0);
    assert_int_equal(rb, 0);
    assert_int_equal(srv.ok, 200);
    assert_int_equal(cli.ok, 200);
    kc_sched_destroy(s);
    kc_transport_close(l);
}

static int setup(void **state)
{
    (void)state;
    return kc_tcp_register() == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_refused_and_timeouts),
        cmocka_unit_test(test_receive_errors),
        cmocka_unit_test(test_keys_required),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_slow_and_oversized_peers),
        cmocka_unit_test(test_connection_limit),
        cmocka_unit_test(test_coroutines),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
