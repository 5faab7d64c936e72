/* test_transport.c - the transport vtable, registry, and the unix and mem
 * backends: data path, limits, errors, security rules, parking. */
#include "ipc_test.h"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const int64_t SEC = 1000000000;

/* A connected pair over url: *srv accepted from *lst, *cli connected. */
static void pair_open(const char *url, const kc_transport_opts_t *o, kc_transport_t **lst,
                      kc_transport_t **srv, kc_transport_t **cli)
{
    assert_int_equal(kc_transport_listen(url, o, lst), 0);
    assert_int_equal(kc_transport_connect(url, o, cli, SEC, NULL), 0);
    kc_transport_peer_t peer = {.size = sizeof peer};
    assert_int_equal(kc_transport_accept(*lst, srv, &peer, SEC, NULL), 0);
    assert_true(peer.has_cred);
    assert_int_equal(peer.uid, (uint32_t)geteuid());
}

static int send_bytes(kc_transport_t *t, uint8_t type, uint32_t id, uint8_t *p, size_t n)
{
    kc_frame_hdr_t h = {KC_WIRE_VERSION, type, 0, 3, id, (uint32_t)n};
    struct iovec v[2] = {{p, n / 2}, {p ? p + n / 2 : NULL, n - n / 2}};
    return kc_transport_send_frame(t, &h, v, 2, SEC, NULL);
}

/* Frames of 0, 1, 4095, 4096, 4097 and 65536 bytes arrive whole and in
 * order, both ways; the receiver's limit is checked before allocation. */
static void data_path(const char *url)
{
    kc_transport_t *l, *s, *c;
    pair_open(url, NULL, &l, &s, &c);
    static const size_t sizes[] = {0, 1, 4095, 4096, 4097, 65536};
    uint8_t *buf = malloc(65536);
    for (size_t i = 0; i < 65536; i++)
        buf[i] = (uint8_t)(i * 7 + 1);
    for (int dir = 0; dir < 2; dir++) {
        kc_transport_t *a = dir ? s : c, *b = dir ? c : s;
        for (size_t i = 0; i < 6; i++)
            assert_int_equal(send_bytes(a, KC_FRAME_DATA, (uint32_t)i, buf, sizes[i]), 0);
        for (size_t i = 0; i < 6; i++) {
            kc_frame_hdr_t h;
            void *p = (void *)1;
            assert_int_equal(kc_transport_recv_frame(b, &h, &p, 65536, SEC, NULL), 0);
            assert_int_equal(h.type, KC_FRAME_DATA);
            assert_int_equal(h.id, i);
            assert_int_equal(h.chan_id, 3);
            assert_int_equal(h.len, sizes[i]);
            if (sizes[i] == 0)
                assert_null(p);
            else
                assert_memory_equal(p, buf, sizes[i]);
            free(p);
        }
    }
    /* nothing there: try once says EAGAIN, a short wait says ETIME */
    kc_frame_hdr_t h;
    void *p = NULL;
    assert_int_equal(kc_transport_recv_frame(s, &h, &p, 65536, 0, NULL), -EAGAIN);
    assert_int_equal(kc_transport_recv_frame(s, &h, &p, 65536, SEC / 100, NULL), -ETIME);
    /* a frame over the receiver's limit: -EMSGSIZE, and the endpoint stays broken */
    assert_int_equal(send_bytes(c, KC_FRAME_DATA, 9, buf, 100), 0);
    assert_int_equal(kc_transport_recv_frame(s, &h, &p, 99, SEC, NULL), -EMSGSIZE);
    assert_null(p);
    assert_int_equal(kc_transport_recv_frame(s, &h, &p, 65536, SEC, NULL), -EMSGSIZE);
    /* the peer closes after one more frame: the frame, then -EPIPE */
    assert_int_equal(send_bytes(s, KC_FRAME_PING, 5, NULL, 0), 0);
    kc_transport_close(s);
    assert_int_equal(kc_transport_recv_frame(c, &h, &p, 65536, SEC, NULL), 0);
    assert_int_equal(h.type, KC_FRAME_PING);
    assert_int_equal(kc_transport_recv_frame(c, &h, &p, 65536, SEC, NULL), -EPIPE);
    int rc = send_bytes(c, KC_FRAME_DATA, 1, buf, 10);
    if (rc == 0) /* a socket may take one send before it notices */
        rc = send_bytes(c, KC_FRAME_DATA, 1, buf, 10);
    assert_true(rc == -EPIPE || rc == -ECONNRESET);
    kc_transport_close(c);
    kc_transport_close(l);
    free(buf);
}

/* kc_transport_send_frames(): a batch of KC_TRANSPORT_BATCH_MAX frames of
 * 0..4788 bytes (two of them in two pieces, one past the 4 KiB staging
 * buffer) arrives whole and in order, as single sends would; bad batches
 * are -EINVAL and send nothing. */
/* pending_known: the backend has the pending hook (else it reads 0). */
static void batch_path(const char *url, bool pending_known)
{
    kc_transport_t *l, *s, *c;
    pair_open(url, NULL, &l, &s, &c);
    enum {
        N = KC_TRANSPORT_BATCH_MAX
    };
    uint8_t *buf = malloc(8192);
    for (size_t i = 0; i < 8192; i++)
        buf[i] = (uint8_t)(i * 13 + 5);
    kc_frame_out_t f[N + 1];
    struct iovec v[N][2];
    for (int i = 0; i < N; i++) {
        size_t len = i == 40 ? 4788 : (size_t)i * 37;
        v[i][0] = (struct iovec){buf, len / 2};
        v[i][1] = (struct iovec){buf + len / 2, len - len / 2};
        f[i].hdr =
            (kc_frame_hdr_t){KC_WIRE_VERSION, KC_FRAME_DATA, 0, 7, (uint32_t)i, (uint32_t)len};
        f[i].iov = i % 31 == 1 ? v[i] : (len ? v[i] : NULL);
        f[i].iovcnt = i % 31 == 1 ? 2 : 0;
        if (i % 31 != 1 && len) {
            v[i][0].iov_len = len;
            f[i].iovcnt = 1;
        }
    }
    f[N] = f[0];
    assert_int_equal(kc_transport_send_frames(c, f, 0, SEC, NULL), -EINVAL);
    assert_int_equal(kc_transport_send_frames(c, f, N + 1, SEC, NULL), -EINVAL);
    assert_int_equal(kc_transport_send_frames(c, NULL, 1, SEC, NULL), -EINVAL);
    assert_int_equal(kc_transport_send_frames(NULL, f, 1, SEC, NULL), -EINVAL);
    assert_int_equal(kc_transport_send_frames(l, f, 1, SEC, NULL), -EINVAL);
    f[3].hdr.len++; /* a length that does not match its pieces */
    assert_int_equal(kc_transport_send_frames(c, f, N, SEC, NULL), -EINVAL);
    f[3].hdr.len--;
    kc_frame_hdr_t h;
    void *p = NULL;
    assert_int_equal(kc_transport_recv_frame(s, &h, &p, 65536, 0, NULL), -EAGAIN);
    assert_int_equal(kc_transport_send_frames(c, f, N, SEC, NULL), 0);
    assert_int_equal(kc_transport_send_frames(c, f, 1, SEC, NULL), 0); /* a batch of one */
    for (int i = 0; i <= N; i++) {
        int k = i == N ? 0 : i;
        assert_int_equal(kc_transport_recv_frame(s, &h, &p, 65536, SEC, NULL), 0);
        assert_int_equal(h.type, KC_FRAME_DATA);
        assert_int_equal(h.chan_id, 7);
        assert_int_equal(h.id, (uint32_t)k);
        assert_int_equal(h.len, f[k].hdr.len);
        if (h.len == 0)
            assert_null(p);
        else
            assert_memory_equal(p, buf, h.len);
        free(p);
        p = NULL;
        if (i == 0) /* the rest came with it (one read) or is queued (mem) */
            assert_true(pending_known ? kc_transport_pending(s) > 0 : kc_transport_pending(s) == 0);
    }
    assert_int_equal(kc_transport_pending(s), 0); /* everything handed out */
    assert_int_equal(kc_transport_pending(c), 0); /* nothing came the other way */
    assert_int_equal(kc_transport_recv_frame(s, &h, &p, 65536, 0, NULL), -EAGAIN);
    kc_transport_close(s);
    kc_transport_close(c);
    kc_transport_close(l);
    free(buf);
}

static void test_unix_batch_path(void **state)
{
    (void)state;
    char url[108];
    ipc_unix_url(url, sizeof url, "batch");
    batch_path(url, true);
}

static void test_mem_batch_path(void **state)
{
    (void)state;
    char url[64];
    ipc_mem_url(url, sizeof url, "batch");
    batch_path(url, true); /* mem has no send_frames: one send_frame per frame */
}

static void test_mem_data_path(void **state)
{
    (void)state;
    char url[64];
    ipc_mem_url(url, sizeof url, "data");
    data_path(url);
}

static void test_unix_data_path(void **state)
{
    (void)state;
    char url[108];
    ipc_unix_url(url, sizeof url, "data");
    data_path(url);
    assert_int_equal(access(url + 5, F_OK), -1); /* close removed the file */
}

static void test_unix_abstract_data_path(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "unix:@kc-ipc-test-%d", (int)getpid());
    data_path(url);
}

static void test_bad_arguments_and_unknown_schemes(void **state)
{
    (void)state;
    kc_transport_t *t = NULL;
    assert_int_equal(kc_transport_listen("nocolon", NULL, &t), -EINVAL);
    assert_int_equal(kc_transport_listen(":x", NULL, &t), -EINVAL);
    assert_int_equal(kc_transport_listen("quic://x", NULL, &t), -ENOTSUP);
    assert_int_equal(kc_transport_connect("quic://x", NULL, &t, 0, NULL), -ENOTSUP);
    assert_int_equal(kc_transport_listen("unix:", NULL, &t), -EINVAL);
    assert_int_equal(kc_transport_listen("unix:@", NULL, &t), -EINVAL);
    assert_int_equal(kc_transport_listen("mem:", NULL, &t), -EINVAL);
    assert_int_equal(kc_transport_listen(NULL, NULL, &t), -EINVAL);
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.size = 4;
    assert_int_equal(kc_transport_listen("mem:x", &o, &t), -EINVAL);
    o = (kc_transport_opts_t)KC_TRANSPORT_OPTS_INIT;
    o.mode = 01777;
    assert_int_equal(kc_transport_listen("unix:/tmp/kc-ipc-never", &o, &t), -EINVAL);
    assert_null(t);
    assert_int_equal(kc_transport_send_frame(NULL, NULL, NULL, 0, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_close(NULL), 0);

    /* a listener is not a stream, a stream is not a listener */
    char url[64];
    ipc_mem_url(url, sizeof url, "args");
    kc_transport_t *l, *s, *c;
    pair_open(url, NULL, &l, &s, &c);
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_PING, 0, 0, 0, 0};
    void *p;
    assert_int_equal(kc_transport_send_frame(l, &h, NULL, 0, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_recv_frame(l, &h, &p, 10, 0, NULL), -EINVAL);
    assert_int_equal(kc_transport_accept(c, &t, NULL, 0, NULL), -EINVAL);
    /* header length must match the iov; header must be encodable */
    h.len = 3;
    assert_int_equal(kc_transport_send_frame(c, &h, NULL, 0, 0, NULL), -EINVAL);
    h.len = 0;
    h.type = 99;
    assert_int_equal(kc_transport_send_frame(c, &h, NULL, 0, 0, NULL), -EINVAL);
    kc_transport_stats_t st = {.size = sizeof st};
    assert_int_equal(kc_transport_stats(c, &st), -ENOTSUP);
    assert_int_equal(kc_transport_poll_handle(c), -ENOTSUP);
    assert_string_equal(kc_transport_scheme(c), "mem");
    /* a second listener on the same name */
    assert_int_equal(kc_transport_listen(url, NULL, &t), -EBUSY);
    kc_transport_close(s);
    kc_transport_close(c);
    kc_transport_close(l);
}

static void test_connect_to_nothing_is_refused(void **state)
{
    (void)state;
    kc_transport_t *t = NULL;
    assert_int_equal(kc_transport_connect("mem:nobody-here", NULL, &t, SEC, NULL), -ECONNREFUSED);
    assert_int_equal(kc_transport_connect("unix:/tmp/kc-ipc-nobody-here", NULL, &t, SEC, NULL),
                     -ECONNREFUSED);
    assert_int_equal(kc_transport_connect("unix:@kc-ipc-nobody-here", NULL, &t, SEC, NULL),
                     -ECONNREFUSED);
    assert_null(t);
    /* a listener that closed refuses too */
    kc_transport_t *l;
    assert_int_equal(kc_transport_listen("mem:closing", NULL, &l), 0);
    kc_transport_close(l);
    assert_int_equal(kc_transport_connect("mem:closing", NULL, &t, SEC, NULL), -ECONNREFUSED);
}

static void test_unix_socket_file_mode(void **state)
{
    (void)state;
    char url[108];
    kc_transport_t *l;
    struct stat st;
    ipc_unix_url(url, sizeof url, "mode");
    assert_int_equal(kc_transport_listen(url, NULL, &l), 0);
    assert_int_equal(stat(url + 5, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    kc_transport_close(l);
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.mode = 0660;
    assert_int_equal(kc_transport_listen(url, &o, &l), 0);
    assert_int_equal(stat(url + 5, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);
    assert_true(kc_transport_poll_handle(l) >= 0);
    kc_transport_close(l);
}

static void test_unix_stale_path_is_reused_live_path_is_not(void **state)
{
    (void)state;
    char url[108];
    ipc_unix_url(url, sizeof url, "stale");
    kc_transport_t *l1, *l2 = NULL;
    assert_int_equal(kc_transport_listen(url, NULL, &l1), 0);
    /* live: refused, and the file is still the first listener's */
    assert_int_equal(kc_transport_listen(url, NULL, &l2), -EBUSY);
    kc_transport_t *c, *s;
    assert_int_equal(kc_transport_connect(url, NULL, &c, SEC, NULL), 0);
    assert_int_equal(kc_transport_accept(l1, &s, NULL, SEC, NULL), 0);
    kc_transport_close(s);
    kc_transport_close(c);
    /* stale: a socket file nobody listens on (left by a crashed server) */
    pid_t pid = fork();
    if (pid == 0) {
        kc_transport_t *x;
        char u2[128];
        snprintf(u2, sizeof u2, "%s-crashed", url);
        _exit(kc_transport_listen(u2, NULL, &x) == 0 ? 0 : 1); /* exits without close */
    }
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_int_equal(WEXITSTATUS(wst), 0);
    char u2[128];
    snprintf(u2, sizeof u2, "%s-crashed", url);
    assert_int_equal(access(u2 + 5, F_OK), 0);
    assert_int_equal(kc_transport_listen(u2, NULL, &l2), 0);
    kc_transport_close(l2);
    /* not a socket: never removed */
    FILE *f = fopen(u2 + 5, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(kc_transport_listen(u2, NULL, &l2), -EBUSY);
    assert_int_equal(access(u2 + 5, F_OK), 0);
    unlink(u2 + 5);
    /* closing the first listener after its file was replaced leaves the new file */
    unlink(url + 5);
    assert_int_equal(kc_transport_listen(url, NULL, &l2), 0);
    kc_transport_close(l1);
    assert_int_equal(access(url + 5, F_OK), 0);
    kc_transport_close(l2);
    assert_int_equal(access(url + 5, F_OK), -1);
}

/* A peer with another uid is refused (counted, closed) unless allowed. */
static void test_unix_peer_credentials_checked(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip(); /* needs root to connect as another uid */
        return;
    }
    char url[108];
    ipc_unix_url(url, sizeof url, "cred");
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.mode = 0666;
    for (int round = 0; round < 2; round++) {
        uint32_t nobody = 65534;
        o.uids = round ? &nobody : NULL;
        o.n_uids = round ? 1 : 0;
        kc_transport_t *l;
        assert_int_equal(kc_transport_listen(url, &o, &l), 0);
        pid_t pid = fork();
        if (pid == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(2);
            kc_transport_t *c;
            if (kc_transport_connect(url, NULL, &c, SEC, NULL) != 0)
                _exit(3);
            kc_frame_hdr_t h;
            void *p;
            int rc = kc_transport_recv_frame(c, &h, &p, 16, 5 * SEC, NULL);
            _exit(rc == -EPIPE || rc == -ECONNRESET ? 10 : rc == 0 ? 11 : 12);
        }
        kc_transport_t *s = NULL;
        kc_transport_peer_t peer = {.size = sizeof peer};
        int rc;
        if (round == 1) {
            rc = kc_transport_accept(l, &s, &peer, 10 * SEC, NULL);
            assert_int_equal(rc, 0);
            assert_int_equal(peer.uid, 65534);
            assert_int_equal(peer.pid, pid);
            assert_int_equal(send_bytes(s, KC_FRAME_PING, 1, NULL, 0), 0);
        } else {
            /* the refused peer never comes out of accept; keep accepting
             * (bounded) until the child, slow to start at load, was seen */
            kc_transport_stats_t st = {.size = sizeof st};
            for (int i = 0; i < 20 && st.refused_cred == 0; i++) {
                rc = kc_transport_accept(l, &s, &peer, SEC / 2, NULL);
                assert_int_equal(rc, -ETIME);
                assert_int_equal(kc_transport_stats(l, &st), 0);
            }
        }
        int wst;
        assert_int_equal(waitpid(pid, &wst, 0), pid);
        assert_int_equal(WEXITSTATUS(wst), round ? 11 : 10);
        kc_transport_stats_t st = {.size = sizeof st};
        assert_int_equal(kc_transport_stats(l, &st), 0);
        assert_int_equal(st.refused_cred, round ? 0 : 1);
        assert_int_equal(st.accepted, round ? 1 : 0);
        kc_transport_close(s);
        kc_transport_close(l);
    }
}

static void connection_limit(const char *url)
{
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.max_conns = 1;
    kc_transport_t *l, *s1, *c1, *c2, *s2 = NULL;
    pair_open(url, &o, &l, &s1, &c1);
    assert_int_equal(kc_transport_connect(url, NULL, &c2, SEC, NULL), 0);
    assert_int_equal(kc_transport_accept(l, &s2, NULL, SEC / 20, NULL), -ETIME);
    kc_frame_hdr_t h;
    void *p;
    int rc = kc_transport_recv_frame(c2, &h, &p, 16, SEC, NULL);
    assert_true(rc == -EPIPE || rc == -ECONNRESET);
    kc_transport_stats_t st = {.size = sizeof st};
    assert_int_equal(kc_transport_stats(l, &st), 0);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.live, 1);
    assert_int_equal(st.refused_limit, 1);
    /* one closes: the next peer gets in */
    kc_transport_close(s1);
    kc_transport_t *c3;
    assert_int_equal(kc_transport_connect(url, NULL, &c3, SEC, NULL), 0);
    assert_int_equal(kc_transport_accept(l, &s2, NULL, SEC, NULL), 0);
    assert_int_equal(kc_transport_stats(l, &st), 0);
    assert_int_equal(st.accepted, 2);
    assert_int_equal(st.live, 1);
    /* accepted endpoints may outlive their listener */
    kc_transport_close(l);
    assert_int_equal(send_bytes(s2, KC_FRAME_PING, 4, NULL, 0), 0);
    assert_int_equal(kc_transport_recv_frame(c3, &h, &p, 16, SEC, NULL), 0);
    assert_int_equal(h.id, 4);
    kc_transport_close(s2);
    kc_transport_close(c1);
    kc_transport_close(c2);
    kc_transport_close(c3);
}

static void test_mem_connection_limit(void **state)
{
    (void)state;
    char url[64];
    ipc_mem_url(url, sizeof url, "limit");
    connection_limit(url);
}

static void test_unix_connection_limit(void **state)
{
    (void)state;
    char url[108];
    ipc_unix_url(url, sizeof url, "limit");
    connection_limit(url);
}

/* A sender to a reader that does not read: the bounded queue fills, then
 * try-once says -EAGAIN and a timed send -ETIME; nothing grows. */
static void test_mem_backpressure_bounds_the_queue(void **state)
{
    (void)state;
    char url[64];
    ipc_mem_url(url, sizeof url, "bp");
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    o.sndbuf = 4096;
    kc_transport_t *l, *s, *c;
    pair_open(url, &o, &l, &s, &c);
    uint8_t b[1024] = {0};
    int sent = 0, rc;
    while ((rc = send_bytes(c, KC_FRAME_DATA, 0, b, sizeof b)) == 0 && sent < 100)
        sent++;
    assert_int_equal(sent, 4);
    assert_int_equal(rc, -ETIME);
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 0, 0, sizeof b};
    struct iovec v = {b, sizeof b};
    assert_int_equal(kc_transport_send_frame(c, &h, &v, 1, 0, NULL), -EAGAIN);
    void *p;
    assert_int_equal(kc_transport_recv_frame(s, &h, &p, 4096, SEC, NULL), 0);
    free(p);
    assert_int_equal(kc_transport_send_frame(c, &h, &v, 1, 0, NULL), 0);
    kc_transport_close(s);
    kc_transport_close(c);
    kc_transport_close(l);
}

/* Raw bytes written into a unix endpoint's socket: a frame that arrives in
 * pieces resumes after a timeout; a frame cut by close is -ECONNRESET; a
 * garbage header is -EPROTO. */
static void test_unix_partial_frames(void **state)
{
    (void)state;
    char url[108];
    ipc_unix_url(url, sizeof url, "partial");
    kc_transport_t *l, *s, *c;
    pair_open(url, NULL, &l, &s, &c);
    int fd = kc_transport_poll_handle(c);
    assert_true(fd >= 0);
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, 2, 10};
    uint8_t raw[26];
    kc_frame_encode(&h, raw);
    memcpy(raw + 16, "0123456789", 10);
    void *p = NULL;
    assert_int_equal(write(fd, raw, 7), 7);
    assert_int_equal(kc_transport_recv_frame(s, &h, &p, 64, SEC / 50, NULL), -ETIME);
    assert_int_equal(write(fd, raw + 7, 12), 12);
    assert_int_equal(kc_transport_recv_frame(s, &h, &p, 64, SEC / 50, NULL), -ETIME);
    assert_int_equal(write(fd, raw + 19, 7), 7);
    assert_int_equal(kc_transport_recv_frame(s, &h, &p, 64, SEC, NULL), 0);
    assert_int_equal(h.len, 10);
    assert_memory_equal(p, "0123456789", 10);
    free(p);
    /* half a frame, then the writer closes */
    assert_int_equal(write(fd, raw, 20), 20);
    kc_transport_close(c);
    assert_int_equal(kc_transport_recv_frame(s, &h, &p, 64, SEC, NULL), -ECONNRESET);
    assert_null(p);
    assert_int_equal(kc_transport_recv_frame(s, &h, &p, 64, SEC, NULL), -ECONNRESET);
    kc_transport_close(s);
    /* garbage */
    assert_int_equal(kc_transport_connect(url, NULL, &c, SEC, NULL), 0);
    assert_int_equal(kc_transport_accept(l, &s, NULL, SEC, NULL), 0);
    fd = kc_transport_poll_handle(c);
    memset(raw, 0xee, sizeof raw);
    assert_int_equal(write(fd, raw, 16), 16);
    assert_int_equal(kc_transport_recv_frame(s, &h, &p, 64, SEC, NULL), -EPROTO);
    kc_transport_close(s);
    kc_transport_close(c);
    kc_transport_close(l);
}

/* A try-once send (timeout 0) over unix never cuts a frame
 * (KC_TRANSPORT_OPS_WHOLE), even through a socket whose send buffer
 * (SO_SNDBUF at its minimum) holds less than two frames: each send returns
 * 0 (all of it went out) or -EAGAIN (none of it), and a slow reader gets
 * every frame that went out, whole and in order. Frames of
 * KC_TRANSPORT_WHOLE_MAX bytes go in whole or not at all; 32 KiB ones are
 * taken in pieces by the kernel, and the send that began one waits for
 * room for the rest. */
enum {
    WHOLE_FRAMES = 300
};
struct whole_reader {
    kc_transport_t *t;
    size_t payload;
    int got, bad;
};
static void *whole_read(void *arg)
{
    struct whole_reader *r = arg;
    for (int i = 0; i < WHOLE_FRAMES; i++) {
        kc_frame_hdr_t h;
        void *p = NULL;
        if (kc_transport_recv_frame(r->t, &h, &p, 65536, 10 * SEC, NULL) != 0)
            return NULL;
        const uint8_t *b = p;
        if (h.id != (uint32_t)i || h.len != r->payload)
            r->bad++;
        for (size_t k = 0; k < h.len; k++)
            if (b[k] != (uint8_t)(i * 31 + k))
                r->bad++;
        free(p);
        r->got++;
        if (i % 8 == 0)
            ipc_usleep(200);
    }
    return NULL;
}

static void whole_frames(size_t payload)
{
    char url[108];
    ipc_unix_url(url, sizeof url, "whole");
    kc_transport_t *l, *s, *c;
    pair_open(url, NULL, &l, &s, &c);
    int fd = kc_transport_poll_handle(c), one = 1;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &one, sizeof one), 0);
    uint8_t *buf = malloc(payload);
    struct whole_reader r = {s, payload, 0, 0};
    pthread_t th;
    /* A 32 KiB frame is more than the socket holds: read from the start
     * (the first send takes part of it and waits for the rest). */
    bool reading = payload > KC_TRANSPORT_WHOLE_MAX;
    if (reading)
        assert_int_equal(pthread_create(&th, NULL, whole_read, &r), 0);
    long full = 0;
    for (int i = 0; i < WHOLE_FRAMES; i++) {
        for (size_t k = 0; k < payload; k++)
            buf[k] = (uint8_t)(i * 31 + k);
        kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 1, (uint32_t)i, (uint32_t)payload};
        struct iovec v = {buf, payload};
        int rc;
        while ((rc = kc_transport_send_frame(c, &h, &v, 1, 0, NULL)) == -EAGAIN) {
            full++;
            /* The socket is full before anyone reads: start the reader
             * at the first refusal (nothing of the frame went out). */
            if (!reading)
                assert_int_equal(pthread_create(&th, NULL, whole_read, &r), 0);
            reading = true;
            ipc_usleep(50);
        }
        assert_int_equal(rc, 0);
        /* Unread, a buffer of a few KiB must refuse long before this. */
        assert_true(reading || i < 64);
    }
    assert_true(reading);
    assert_true(full > 0 || payload > KC_TRANSPORT_WHOLE_MAX);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(r.got, WHOLE_FRAMES);
    assert_int_equal(r.bad, 0);
    free(buf);
    kc_transport_close(s);
    kc_transport_close(c);
    kc_transport_close(l);
}

static void test_unix_try_once_never_cuts_a_frame(void **state)
{
    (void)state;
    assert_true(kc_transport_lookup("unix:x")->flags & KC_TRANSPORT_OPS_WHOLE);
    assert_true(kc_transport_lookup("mem:x")->flags & KC_TRANSPORT_OPS_WHOLE);
    whole_frames(KC_TRANSPORT_WHOLE_MAX - KC_FRAME_HDR_SIZE);
    whole_frames(32768);
}

/* Bytes the socket takes from try-once 4 KiB frames while nobody reads,
 * from each end of a unix pair opened with o. */
static void unix_queued(const kc_transport_opts_t *o, long *cli_bytes, long *srv_bytes)
{
    char url[108];
    ipc_unix_url(url, sizeof url, "sndbuf");
    kc_transport_t *l, *s, *c;
    pair_open(url, o, &l, &s, &c);
    static uint8_t b[4096];
    for (int dir = 0; dir < 2; dir++) {
        kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_DATA, 0, 0, 0, sizeof b};
        struct iovec v = {b, sizeof b};
        long n = 0;
        int rc;
        while ((rc = kc_transport_send_frame(dir ? s : c, &h, &v, 1, 0, NULL)) == 0 && n < 4096)
            n++;
        assert_int_equal(rc, -EAGAIN);
        *(dir ? srv_bytes : cli_bytes) = n * (long)sizeof b;
    }
    kc_transport_close(s);
    kc_transport_close(c);
    kc_transport_close(l);
}

/* opts.sndbuf on unix: SO_SNDBUF of the connecting and the accepted socket,
 * so each queues less than the system's default lets it. */
static void test_unix_sndbuf_bounds_the_socket_queue(void **state)
{
    (void)state;
    kc_transport_opts_t o = KC_TRANSPORT_OPTS_INIT;
    long dc, ds, sc, ss;
    unix_queued(&o, &dc, &ds);
    o.sndbuf = 16384;
    unix_queued(&o, &sc, &ss);
    assert_true(sc > 0 && ss > 0);
    assert_true(sc < 65536 && ss < 65536); /* Linux doubles it: 32 KiB with overheads */
    assert_true(sc < dc && ss < ds);
}

/* Stands where an old backend's ops end: must never be called. */
static int never_called(void *self, const kc_frame_out_t *f, int n, int64_t timeout_ns,
                        const kc_cancel_t *cancel)
{
    (void)self, (void)f, (void)n, (void)timeout_ns, (void)cancel;
    return -EIO;
}

/* Registration: a scheme forwarding to the mem backend plugs in with one call. */
static kc_transport_ops_t fwd_ops;
static void test_register_a_scheme(void **state)
{
    (void)state;
    const kc_transport_ops_t *mem = kc_transport_lookup("mem:x");
    assert_non_null(mem);
    assert_null(kc_transport_lookup("fwd:x"));
    fwd_ops = *mem;
    fwd_ops.scheme = "fwd";
    assert_int_equal(kc_transport_register(&fwd_ops), 0);
    assert_int_equal(kc_transport_register(&fwd_ops), -EBUSY);
    assert_ptr_equal(kc_transport_lookup("fwd:x"), &fwd_ops);
    kc_transport_t *l, *s, *c;
    pair_open("fwd:reg", NULL, &l, &s, &c);
    assert_string_equal(kc_transport_scheme(s), "fwd");
    kc_transport_close(s);
    kc_transport_close(c);
    kc_transport_close(l);
    kc_transport_ops_t bad = fwd_ops;
    bad.scheme = "a:b";
    assert_int_equal(kc_transport_register(&bad), -EINVAL);
    bad.scheme = "other";
    bad.recv_frame = NULL;
    assert_int_equal(kc_transport_register(&bad), -EINVAL);
    assert_int_equal(kc_transport_unregister("unix"), -EINVAL);
    assert_int_equal(kc_transport_unregister("fwd"), 0);
    assert_int_equal(kc_transport_unregister("fwd"), -EINVAL);
    assert_null(kc_transport_lookup("fwd:x"));
    /* A backend built before send_frames existed registers with the older,
     * smaller size; the member past its end is never read, batches go out
     * one send_frame at a time. */
    fwd_ops.size = offsetof(kc_transport_ops_t, send_frames);
    fwd_ops.send_frames = never_called;
    assert_int_equal(kc_transport_register(&fwd_ops), 0);
    char url[64];
    snprintf(url, sizeof url, "fwd:old-%d", (int)getpid());
    batch_path(url, false); /* nor pending: read as absent (0) */
    assert_int_equal(kc_transport_unregister("fwd"), 0);
    fwd_ops.size = offsetof(kc_transport_ops_t, send_frames) - 1;
    assert_int_equal(kc_transport_register(&fwd_ops), -EINVAL);
}

/* One worker, a server and a client coroutine exchanging frames: with a
 * single worker this only finishes if every wait parks the coroutine. */
struct pp {
    char url[108];
    int n;
    int rc_srv, rc_cli;
    long got;
};

static int pp_server(void *arg)
{
    struct pp *x = arg;
    kc_transport_t *l, *s;
    int rc = kc_transport_listen(x->url, NULL, &l);
    if (rc == 0)
        rc = kc_transport_accept(l, &s, NULL, 5 * SEC, NULL);
    for (int i = 0; rc == 0 && i < x->n; i++) {
        kc_frame_hdr_t h;
        void *p;
        rc = kc_transport_recv_frame(s, &h, &p, 65536, 5 * SEC, NULL);
        if (rc == 0) {
            struct iovec v = {p, h.len};
            h.type = KC_FRAME_REPLY;
            rc = kc_transport_send_frame(s, &h, &v, 1, 5 * SEC, NULL);
            free(p);
        }
    }
    if (rc == 0)
        kc_transport_close(s);
    kc_transport_close(l);
    x->rc_srv = rc;
    return 0;
}

static int pp_client(void *arg)
{
    struct pp *x = arg;
    kc_transport_t *c = NULL;
    int rc;
    for (int tries = 0;
         (rc = kc_transport_connect(x->url, NULL, &c, SEC, NULL)) == -ECONNREFUSED && tries < 1000;
         tries++)
        kc_sched_yield();
    uint8_t b[300];
    for (int i = 0; rc == 0 && i < x->n; i++) {
        size_t len = (size_t)(i * 37 % 300);
        memset(b, i & 0xff, len);
        kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_REQUEST, 0, 0, (uint32_t)i, (uint32_t)len};
        struct iovec v = {b, len};
        rc = kc_transport_send_frame(c, &h, &v, 1, 5 * SEC, NULL);
        void *p = NULL;
        if (rc == 0)
            rc = kc_transport_recv_frame(c, &h, &p, 65536, 5 * SEC, NULL);
        if (rc == 0 && (h.id != (uint32_t)i || h.len != len || h.type != KC_FRAME_REPLY ||
                        (len && memcmp(p, b, len) != 0)))
            rc = -EPROTO;
        free(p);
        x->got += rc == 0;
    }
    kc_transport_close(c);
    x->rc_cli = rc;
    return 0;
}

static int pp_spawn(void *arg)
{
    kc_task_t *a, *b;
    kc_sched_spawn(kc_sched_current(), &a, pp_server, arg, NULL);
    kc_sched_spawn(kc_sched_current(), &b, pp_client, arg, NULL);
    kc_sched_join(a, NULL, KC_NO_TIMEOUT, NULL);
    kc_sched_join(b, NULL, KC_NO_TIMEOUT, NULL);
    return 0;
}

static void test_coroutines_park_on_one_worker(void **state)
{
    (void)state;
    struct pp x[2];
    memset(x, 0, sizeof x);
    ipc_unix_url(x[0].url, sizeof x[0].url, "pp");
    ipc_mem_url(x[1].url, sizeof x[1].url, "pp");
    for (int i = 0; i < 2; i++) {
        x[i].n = (int)ipc_scaled(2000);
        assert_int_equal(ipc_run(1, 1, pp_spawn, (char *)&x[i], 0), 0);
        assert_int_equal(x[i].rc_srv, 0);
        assert_int_equal(x[i].rc_cli, 0);
        assert_int_equal(x[i].got, x[i].n);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL); /* MSG_NOSIGNAL must keep us alive */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mem_data_path),
        cmocka_unit_test(test_unix_data_path),
        cmocka_unit_test(test_unix_abstract_data_path),
        cmocka_unit_test(test_unix_batch_path),
        cmocka_unit_test(test_mem_batch_path),
        cmocka_unit_test(test_bad_arguments_and_unknown_schemes),
        cmocka_unit_test(test_connect_to_nothing_is_refused),
        cmocka_unit_test(test_unix_socket_file_mode),
        cmocka_unit_test(test_unix_stale_path_is_reused_live_path_is_not),
        cmocka_unit_test(test_unix_peer_credentials_checked),
        cmocka_unit_test(test_mem_connection_limit),
        cmocka_unit_test(test_unix_connection_limit),
        cmocka_unit_test(test_mem_backpressure_bounds_the_queue),
        cmocka_unit_test(test_unix_partial_frames),
        cmocka_unit_test(test_unix_try_once_never_cuts_a_frame),
        cmocka_unit_test(test_unix_sndbuf_bounds_the_socket_queue),
        cmocka_unit_test(test_register_a_scheme),
        cmocka_unit_test(test_coroutines_park_on_one_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
