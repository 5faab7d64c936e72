/* kc_transport_tcp.c - libkcoro-tcp: the tcp:// backend of kcoro/transport.h.
 *
 * Built only against kcoro's installed public headers (kcoro/transport.h,
 * kcoro/io.h) and libsodium: the proof that the vtable suffices for a
 * transport that lives outside kcoro. Every wait goes through kcoro/io.h,
 * so a coroutine parks and a plain thread blocks, with the caller's
 * timeout and cancel token; sends use MSG_NOSIGNAL.
 * Invariants:
 *   T1 an endpoint has one receive in progress at most; a receive that
 *      times out keeps what it read (header bytes, payload buffer) and
 *      resumes on the next call.
 *   T2 a send that fails after part of its frame went out marks the
 *      endpoint broken: later sends are -EPIPE.
 *   T3 before a peer has authenticated, no frame longer than
 *      KC_HELLO_MAX_SIZE is read, and the peer is cut when the HELLO
 *      timeout passes.
 *   T4 live <= max_conns for every listener: the count is shared (and
 *      reference-counted) by the listener and the endpoints it accepted.
 */
#include "kcoro/tcp.h"

#include "kcoro/io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NONCE 32
#define MAC crypto_auth_hmacsha256_BYTES

/* ------------------------------------------------------------ time */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* An absolute deadline (-1: none) and what is left of it (0: passed). */
static int64_t deadline_of(int64_t timeout_ns)
{
    if (timeout_ns < 0)
        return -1;
    int64_t now = now_ns();
    return timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
}

static int64_t left_of(int64_t deadline)
{
    if (deadline < 0)
        return KC_NO_TIMEOUT;
    int64_t left = deadline - now_ns();
    return left > 0 ? left : 0;
}

/* ------------------------------------------------------------ endpoints */

/* What a listener shares with the endpoints it accepted. */
struct tcp_shared {
    atomic_uint refs;
    atomic_ullong live;
};

struct tcp_ep {
    int fd;
    bool broken;               /* T2 */
    struct tcp_shared *shared; /* accepted endpoints and listeners */
    /* receive state (T1) */
    uint8_t hdr_buf[KC_FRAME_HDR_SIZE];
    size_t hdr_have;
    bool in_payload;
    kc_frame_hdr_t cur;
    uint8_t *payload;
    size_t pay_have;
    bool rx_dead; /* a bad header or length: no more frames */
    /* listener only */
    bool listener;
    uint32_t max_conns;
    int64_t hello_timeout_ns;
    size_t keylen; /* 0: no authentication */
    uint8_t key[KC_TCP_KEY_MAX];
    atomic_ullong accepted, refused_limit, refused_auth, refused_timeout;
    atomic_uint logged; /* refusal causes already logged */
};

static void shared_put(struct tcp_shared *s)
{
    if (s != NULL && atomic_fetch_sub(&s->refs, 1) == 1)
        free(s);
}

static struct tcp_ep *ep_new(int fd)
{
    struct tcp_ep *e = calloc(1, sizeof *e);
    if (e != NULL)
        e->fd = fd;
    return e;
}

static void tcp_close(void *self)
{
    struct tcp_ep *e = self;
    if (e == NULL)
        return;
    if (e->fd >= 0)
        close(e->fd);
    if (e->shared != NULL && !e->listener)
        atomic_fetch_sub(&e->shared->live, 1);
    shared_put(e->shared);
    free(e->payload);
    sodium_memzero(e->key, sizeof e->key);
    free(e);
}

/* Write v[0..n) completely (v is consumed); T2 on a cut frame. */
static int send_iov(struct tcp_ep *e, struct iovec *at, int n, int64_t timeout_ns,
                    const kc_cancel_t *cancel)
{
    size_t sent = 0;
    int64_t deadline = deadline_of(timeout_ns);
    while (n > 0) {
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = at;
        msg.msg_iovlen = (size_t)n;
        ssize_t w = kc_sendmsg(e->fd, &msg, MSG_NOSIGNAL, left_of(deadline), cancel);
        if (w < 0) {
            if (sent > 0 || (w != -ETIME && w != -ECANCELED))
                e->broken = true;
            return (int)w;
        }
        sent += (size_t)w;
        while (n > 0 && (size_t)w >= at->iov_len) {
            w -= (ssize_t)at->iov_len;
            at++;
            n--;
        }
        if (n > 0) {
            at->iov_base = (uint8_t *)at->iov_base + w;
            at->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int tcp_send_frame(void *self, const kc_frame_hdr_t *hdr, const struct iovec *iov,
                          int iovcnt, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    struct tcp_ep *e = self;
    if (e->broken)
        return -EPIPE;
    uint8_t h[KC_FRAME_HDR_SIZE];
    if (kc_frame_encode(hdr, h) < 0 || iovcnt < 0 || iovcnt > 64)
        return -EINVAL;
    struct iovec v[65];
    v[0].iov_base = h;
    v[0].iov_len = sizeof h;
    for (int i = 0; i < iovcnt; i++)
        v[i + 1] = iov[i];
    return send_iov(e, v, iovcnt + 1, timeout_ns, cancel);
}

/* A batch of frames in as few sendmsg calls as fit BATCH_IOV pieces
 * (one for a queue of small messages). */
#define BATCH_IOV (2 * KC_TRANSPORT_BATCH_MAX + 1)
static int tcp_send_frames(void *self, const kc_frame_out_t *f, int nf, int64_t timeout_ns,
                           const kc_cancel_t *cancel)
{
    struct tcp_ep *e = self;
    uint8_t h[KC_TRANSPORT_BATCH_MAX][KC_FRAME_HDR_SIZE];
    struct iovec v[BATCH_IOV];
    if (nf < 1 || nf > KC_TRANSPORT_BATCH_MAX)
        return -EINVAL;
    for (int i = 0; i < nf; i++) /* all or nothing: check before anything goes out */
        if (kc_frame_encode(&f[i].hdr, h[i]) < 0 || f[i].iovcnt < 0 || f[i].iovcnt > 64)
            return -EINVAL;
    int64_t deadline = deadline_of(timeout_ns);
    int i = 0;
    while (i < nf) {
        if (e->broken)
            return -EPIPE;
        int n = 0;
        while (i < nf && n + 1 + f[i].iovcnt <= BATCH_IOV) {
            v[n].iov_base = h[i];
            v[n++].iov_len = KC_FRAME_HDR_SIZE;
            for (int k = 0; k < f[i].iovcnt; k++)
                v[n++] = f[i].iov[k];
            i++;
        }
        int rc = send_iov(e, v, n, left_of(deadline), cancel);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int tcp_recv_frame(void *self, kc_frame_hdr_t *hdr, void **payload, size_t max_payload,
                          int64_t timeout_ns, const kc_cancel_t *cancel)
{
    struct tcp_ep *e = self;
    if (e->rx_dead)
        return -EPIPE;
    int64_t deadline = deadline_of(timeout_ns);
    while (!e->in_payload) {
        if (e->hdr_have < KC_FRAME_HDR_SIZE) {
            ssize_t r = kc_read(e->fd, e->hdr_buf + e->hdr_have, KC_FRAME_HDR_SIZE - e->hdr_have,
                                left_of(deadline), cancel);
            if (r < 0)
                return (int)r;
            if (r == 0)
                return e->hdr_have == 0 ? -EPIPE : -ECONNRESET;
            e->hdr_have += (size_t)r;
            continue;
        }
        int rc = kc_frame_decode(e->hdr_buf, KC_FRAME_HDR_SIZE, &e->cur);
        if (rc < 0) {
            e->rx_dead = true;
            return -EPROTO;
        }
        if (e->cur.len > max_payload) {
            e->rx_dead = true;
            return -EMSGSIZE;
        }
        if (e->cur.len > 0 && (e->payload = malloc(e->cur.len)) == NULL)
            return -ENOMEM; /* the header stays; the next call retries */
        e->pay_have = 0;
        e->in_payload = true;
    }
    while (e->pay_have < e->cur.len) {
        ssize_t r = kc_read(e->fd, e->payload + e->pay_have, e->cur.len - e->pay_have,
                            left_of(deadline), cancel);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return -ECONNRESET;
        e->pay_have += (size_t)r;
    }
    *hdr = e->cur;
    *payload = e->payload;
    e->payload = NULL;
    e->hdr_have = 0;
    e->in_payload = false;
    return 0;
}

static int tcp_poll_handle(void *self)
{
    return ((struct tcp_ep *)self)->fd;
}

/* ------------------------------------------------------------ addresses */

/* Parse "//HOST:PORT" (the part of the URL after "tcp:") and resolve it.
 * An empty HOST is the IPv4 loopback address. */
static int resolve(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
    if (strncmp(addr, "//", 2) != 0)
        return -EINVAL;
    addr += 2;
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon[1] == '\0' || strlen(addr) >= 300)
        return -EINVAL;
    char host[300];
    size_t hl = (size_t)(colon - addr);
    memcpy(host, addr, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    } else if (strchr(host, ':') != NULL || strchr(host, '[') != NULL)
        return -EINVAL; /* IPv6 needs brackets */
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535)
        return -EINVAL;
    if (host[0] == '\0')
        snprintf(host, sizeof host, "127.0.0.1");
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL)
        return -EINVAL;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        return IN6_IS_ADDR_LOOPBACK(a) ||
               (memcmp(a->s6_addr, mapped, 12) == 0 && a->s6_addr[12] == 127);
    }
    return false;
}

static void name_of(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char h[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, h, sizeof h);
        port = ntohs(a->sin_port);
        snprintf(out, cap, "%s:%u", h, port);
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof h);
        port = ntohs(a->sin6_port);
        snprintf(out, cap, "[%s]:%u", h, port);
    }
}

/* Read the key file: a regular file only its owner may read or write. */
static int load_key(const char *path, uint8_t *key, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = -errno;
    else if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        rc = -EACCES;
    else if (st.st_size < KC_TCP_KEY_MIN || st.st_size > KC_TCP_KEY_MAX)
        rc = -EINVAL;
    else {
        ssize_t n = read(fd, key, (size_t)st.st_size);
        if (n != st.st_size)
            rc = n < 0 ? -errno : -EIO;
        else
            *len = (size_t)n;
    }
    close(fd);
    return rc;
}

static int nodelay_nonblock(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        return -errno;
    return kc_io_set_nonblock(fd);
}

/* ------------------------------------------------------------ authentication */

static void hmac(const uint8_t *key, size_t keylen, const char *label, const uint8_t *a,
                 const uint8_t *b, uint8_t out[MAC])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)label, strlen(label));
    crypto_auth_hmacsha256_update(&st, a, NONCE);
    crypto_auth_hmacsha256_update(&st, b, NONCE);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

/* Send a HELLO frame carrying one extension. */
static int send_hello(struct tcp_ep *e, uint16_t ext, const uint8_t *val, uint16_t len,
                      int64_t deadline, const kc_cancel_t *cancel)
{
    kc_hello_t h;
    kc_hello_init(&h);
    h.n_ext = 1;
    h.ext[0].type = ext;
    h.ext[0].len = len;
    h.ext[0].val = val;
    uint8_t buf[KC_HELLO_MAX_SIZE];
    int n = kc_hello_encode(&h, buf, sizeof buf);
    if (n < 0)
        return n;
    kc_frame_hdr_t fh = {KC_WIRE_VERSION, KC_FRAME_HELLO, 0, 0, 0, (uint32_t)n};
    struct iovec v = {buf, (size_t)n};
    return tcp_send_frame(e, &fh, &v, 1, left_of(deadline), cancel);
}

/* Receive a HELLO frame (at most KC_HELLO_MAX_SIZE bytes, T3) and copy the
 * value of its extension `ext`, which must be exactly `len` bytes. */
static int recv_hello(struct tcp_ep *e, uint16_t ext, uint8_t *val, uint16_t len, int64_t deadline,
                      const kc_cancel_t *cancel)
{
    kc_frame_hdr_t fh;
    void *p = NULL;
    int rc = tcp_recv_frame(e, &fh, &p, KC_HELLO_MAX_SIZE, left_of(deadline), cancel);
    if (rc < 0)
        return rc;
    kc_hello_t h;
    rc = fh.type == KC_FRAME_HELLO ? kc_hello_decode(p, fh.len, &h) : -EPROTO;
    if (rc == 0) {
        rc = -EPROTO;
        for (unsigned i = 0; i < h.n_ext; i++)
            if (h.ext[i].type == ext && h.ext[i].len == len) {
                memcpy(val, h.ext[i].val, len);
                rc = 0;
            }
    }
    free(p);
    return rc;
}

/* The listener's side. 0, or a negative errno (-ETIME: too slow). */
static int server_auth(struct tcp_ep *l, struct tcp_ep *e, const kc_cancel_t *cancel)
{
    int64_t deadline = deadline_of(l->hello_timeout_ns);
    uint8_t ns[NONCE], answer[NONCE + MAC], want[MAC];
    randombytes_buf(ns, sizeof ns);
    int rc = send_hello(e, KC_TCP_EXT_CHALLENGE, ns, NONCE, deadline, cancel);
    if (rc == 0)
        rc = recv_hello(e, KC_TCP_EXT_PROOF, answer, sizeof answer, deadline, cancel);
    if (rc < 0)
        return rc;
    hmac(l->key, l->keylen, "kcoro-tcp client", ns, answer, want);
    if (sodium_memcmp(want, answer + NONCE, MAC) != 0)
        return -EACCES;
    hmac(l->key, l->keylen, "kcoro-tcp server", answer, ns, want);
    return send_hello(e, KC_TCP_EXT_PROOF, want, MAC, deadline, cancel);
}

/* The connecting side: answer the challenge, check the listener's proof. */
static int client_auth(struct tcp_ep *e, const uint8_t *key, size_t keylen, int64_t deadline,
                       const kc_cancel_t *cancel)
{
    uint8_t ns[NONCE], mine[NONCE + MAC], proof[MAC], want[MAC];
    int rc = recv_hello(e, KC_TCP_EXT_CHALLENGE, ns, NONCE, deadline, cancel);
    if (rc < 0)
        return rc == -EPIPE || rc == -ECONNRESET ? -EACCES : rc;
    randombytes_buf(mine, NONCE);
    hmac(key, keylen, "kcoro-tcp client", ns, mine, mine + NONCE);
    rc = send_hello(e, KC_TCP_EXT_PROOF, mine, sizeof mine, deadline, cancel);
    if (rc == 0)
        rc = recv_hello(e, KC_TCP_EXT_PROOF, proof, MAC, deadline, cancel);
    if (rc == -EPIPE || rc == -ECONNRESET)
        return -EACCES; /* the listener refused our proof */
    if (rc < 0)
        return rc;
    hmac(key, keylen, "kcoro-tcp server", mine, ns, want);
    return sodium_memcmp(want, proof, MAC) == 0 ? 0 : -EACCES;
}

/* ------------------------------------------------------------ listen, accept, connect */

static const kc_tcp_opts_t *adapter_opts(const kc_transport_opts_t *o)
{
    const kc_tcp_opts_t *t = o->adapter;
    return t != NULL && t->size >= sizeof *t ? t : NULL;
}

static int tcp_listen(const char *addr, const kc_transport_opts_t *o, void **self)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int rc = resolve(addr, &ss, &len);
    if (rc < 0)
        return rc;
    if (o->adapter != NULL && adapter_opts(o) == NULL)
        return -EINVAL;
    struct tcp_ep *l = ep_new(-1);
    struct tcp_shared *sh = calloc(1, sizeof *sh);
    if (l == NULL || sh == NULL) {
        free(l);
        free(sh);
        return -ENOMEM;
    }
    atomic_init(&sh->refs, 1);
    l->shared = sh;
    l->listener = true;
    l->max_conns = o->max_conns ? o->max_conns : 1024;
    const kc_tcp_opts_t *to = adapter_opts(o);
    l->hello_timeout_ns =
        to && to->hello_timeout_ns > 0 ? to->hello_timeout_ns : KC_TCP_HELLO_TIMEOUT_DEFAULT;
    if (o->key_file != NULL)
        rc = load_key(o->key_file, l->key, &l->keylen);
    else if (!is_loopback(&ss))
        rc = -EACCES; /* off the host only with a key */
    if (rc == 0) {
        l->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        if (l->fd < 0 || setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
            bind(l->fd, (struct sockaddr *)&ss, len) != 0 ||
            listen(l->fd, o->backlog ? (int)o->backlog : 128) != 0)
            rc = -errno;
        else
            rc = kc_io_set_nonblock(l->fd);
    }
    if (rc < 0) {
        tcp_close(l);
        return rc;
    }
    *self = l;
    return 0;
}

static void refuse(struct tcp_ep *l, atomic_ullong *counter, unsigned cause, const char *why,
                   const char *who)
{
    atomic_fetch_add(counter, 1);
    if ((atomic_fetch_or(&l->logged, cause) & cause) == 0 && getenv("KCORO_DEBUG") != NULL)
        fprintf(stderr, "kcoro-tcp: refused %s: %s (logged once per cause)\n", who, why);
}

static int tcp_accept(void *listener, void **self, kc_transport_peer_t *peer, int64_t timeout_ns,
                      const kc_cancel_t *cancel)
{
    struct tcp_ep *l = listener;
    int64_t deadline = deadline_of(timeout_ns);
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = kc_accept(l->fd, (struct sockaddr *)&ss, &len, left_of(deadline), cancel);
        if (fd < 0)
            return fd == -EBADF ? -EPIPE : fd;
        char who[128];
        name_of(&ss, who, sizeof who);
        if (atomic_fetch_add(&l->shared->live, 1) >= l->max_conns) {
            atomic_fetch_sub(&l->shared->live, 1);
            close(fd);
            refuse(l, &l->refused_limit, 1, "connection limit reached", who);
            continue;
        }
        if (nodelay_nonblock(fd) != 0) { /* the peer is already gone */
            atomic_fetch_sub(&l->shared->live, 1);
            close(fd);
            continue;
        }
        struct tcp_ep *e = ep_new(fd);
        if (e == NULL) {
            atomic_fetch_sub(&l->shared->live, 1);
            close(fd);
            return -ENOMEM;
        }
        atomic_fetch_add(&l->shared->refs, 1);
        e->shared = l->shared;
        if (l->keylen > 0) {
            int rc = server_auth(l, e, cancel);
            if (rc < 0) {
                tcp_close(e);
                if (rc == -ECANCELED)
                    return rc;
                if (rc == -ETIME)
                    refuse(l, &l->refused_timeout, 4, "no HELLO within the timeout", who);
                else
                    refuse(l, &l->refused_auth, 2, "authentication failed", who);
                continue;
            }
        }
        atomic_fetch_add(&l->accepted, 1);
        snprintf(peer->name, sizeof peer->name, "%s", who);
        *self = e;
        return 0;
    }
}

static int tcp_connect(const char *addr, const kc_transport_opts_t *o, void **self,
                       int64_t timeout_ns, const kc_cancel_t *cancel)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int rc = resolve(addr, &ss, &len);
    if (rc < 0)
        return rc;
    uint8_t key[KC_TCP_KEY_MAX];
    size_t keylen = 0;
    if (o->key_file != NULL) {
        rc = load_key(o->key_file, key, &keylen);
        if (rc < 0)
            return rc;
    } else if (!is_loopback(&ss))
        return -EACCES;
    int64_t deadline = deadline_of(timeout_ns);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct tcp_ep *e = ep_new(fd);
    if (e == NULL) {
        close(fd);
        return -ENOMEM;
    }
    rc = kc_io_set_nonblock(fd);
    if (rc == 0)
        rc = kc_connect(fd, (struct sockaddr *)&ss, len, left_of(deadline), cancel);
    if (rc == 0)
        rc = nodelay_nonblock(fd);
    if (rc == 0 && keylen > 0)
        rc = client_auth(e, key, keylen, deadline, cancel);
    sodium_memzero(key, sizeof key);
    if (rc < 0) {
        tcp_close(e);
        return rc;
    }
    *self = e;
    return 0;
}

static int tcp_stats(void *listener, kc_transport_stats_t *out)
{
    struct tcp_ep *l = listener;
    out->accepted = atomic_load(&l->accepted);
    out->live = atomic_load(&l->shared->live);
    out->refused_cred = 0;
    out->refused_limit = atomic_load(&l->refused_limit);
    out->refused_auth = atomic_load(&l->refused_auth);
    out->refused_timeout = atomic_load(&l->refused_timeout);
    return 0;
}

static const kc_transport_ops_t tcp_ops = {
    sizeof(kc_transport_ops_t),
    "tcp",
    tcp_listen,
    tcp_accept,
    tcp_connect,
    tcp_send_frame,
    tcp_recv_frame,
    tcp_close,
    tcp_poll_handle,
    tcp_stats,
    tcp_send_frames,
    NULL, /* clock: real time */
    0,    /* flags: not a wrapper */
    NULL, /* pending: frames are read straight from the socket, none held */
};

KC_API int kc_tcp_register(void)
{
    if (sodium_init() < 0)
        return -EIO;
    return kc_transport_register(&tcp_ops);
}
