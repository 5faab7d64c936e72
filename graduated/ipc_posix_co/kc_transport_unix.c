/* kc_transport_unix.c - the UNIX stream socket backend ("unix:/path",
 * "unix:@abstract").
 *
 * Frames go over a non-blocking SOCK_STREAM socket through kcoro/io.h, so a
 * coroutine parks (and a thread blocks in poll) while the socket is not
 * ready; sends use MSG_NOSIGNAL, so a vanished peer is -EPIPE, never
 * SIGPIPE. Receives go through a small staging buffer: a small frame
 * costs one read. Security (core/docs/IPC.md "Security"):
 *   - the socket file gets the configured mode (0600) between bind() and
 *     listen(), so nobody can connect before the mode is set;
 *   - accept checks the peer's credentials (port layer) against the
 *     allow-list: our own uid, opts->uids, opts->gids, or any_peer;
 *   - a path in use by a live listener is never unlinked (-EBUSY); only a
 *     socket file nobody listens on (connect says ECONNREFUSED) is;
 *   - at most max_conns accepted endpoints live at once; refused peers are
 *     closed at once, counted, and logged once per cause.
 * Abstract names (Linux) have no file and no mode: the credential check is
 * their only protection, so it applies to them as well.
 *
 * Receive state of an endpoint (resumes after -ETIME / -ECANCELED):
 *   state     event                          next      done by
 *   --------  -----------------------------  --------  ---------------
 *   HEADER    16 bytes staged: valid, fits   PAYLOAD   unix_recv_frame
 *   HEADER    invalid or too long            BROKEN    unix_recv_frame
 *   PAYLOAD   all len bytes read             HEADER    unix_recv_frame
 *   any       end of stream / reset          BROKEN    unix_recv_frame
 */
#include "kc_transport_impl.h"

#include "kcoro/io.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

enum {
    STAGE_SIZE = 4096,
    MAX_IOV = 65,
    BATCH_IOV = 2 * KC_TRANSPORT_BATCH_MAX + 1
};

/* Shared by a listener and the endpoints it accepted: the live count must
 * outlive whichever goes first. */
struct unix_limit {
    _Atomic uint32_t refs;
    _Atomic uint32_t live;
};

enum {
    KIND_EP = 0x55455031,
    KIND_LISTENER = 0x554c5331
};

struct unix_ep {
    uint32_t kind; /* KIND_EP */
    int fd;
    int send_err; /* sticky: once a frame is cut, every send fails */
    int recv_err; /* sticky: once the stream is desynchronised */
    struct unix_limit *limit;
    /* receive state */
    bool have_hdr;
    kc_frame_hdr_t hdr;
    uint8_t *payload;
    bool lent; /* payload is a buffer the caller gave (kc__tp_rx_buf_fn): never freed here */
    uint32_t got;
    uint32_t spos, slen;
    uint8_t *stage; /* STAGE_SIZE bytes, allocated on first receive */
    bool drained;   /* the last read was short: the socket was empty then */
};

struct unix_listener {
    uint32_t kind; /* KIND_LISTENER */
    int fd;
    bool abstract;
    bool any_peer;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    dev_t dev;
    ino_t ino;
    uint32_t max_conns;
    uint32_t sndbuf; /* SO_SNDBUF of each accepted socket (0: the system's) */
    uint32_t *uids;
    size_t n_uids;
    uint32_t *gids;
    size_t n_gids;
    struct unix_limit *limit;
    _Atomic uint64_t accepted, refused_cred, refused_limit;
    _Atomic unsigned logged;
};

static void limit_put(struct unix_limit *l)
{
    /* acq_rel: the last owner's release of refs pairs with this acquire
     * before the free. */
    if (l && atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) == 1)
        free(l);
}

/* Build the socket address for "/path" or "@name". */
static int make_addr(const char *addr, struct sockaddr_un *sa, socklen_t *len, bool *abstract)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    size_t n = strlen(addr);
    *abstract = addr[0] == '@';
    if (n == 0 || (*abstract && n == 1) || n >= sizeof sa->sun_path)
        return -EINVAL;
    if (*abstract) {
        memcpy(sa->sun_path + 1, addr + 1, n - 1);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        memcpy(sa->sun_path, addr, n);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

/* SO_SNDBUF of a connected socket (bytes 0: leave the system's). A smaller
 * buffer keeps fewer bytes queued ahead of the next frame written; Linux
 * reports a socket writable again only once a quarter of it is left. */
static int set_sndbuf(int fd, uint32_t bytes)
{
    if (bytes == 0)
        return 0;
    int v = bytes > (uint32_t)INT_MAX ? INT_MAX : (int)bytes;
    return setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v) == 0 ? 0 : -errno;
}

static int new_socket(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    int fl = fcntl(fd, F_GETFD);
    int rc = kc_io_set_nonblock(fd);
    if (rc == 0 && (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0))
        rc = -errno;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static int new_ep(int fd, struct unix_limit *limit, void **self)
{
    struct unix_ep *e = calloc(1, sizeof *e);
    if (e == NULL)
        return -ENOMEM;
    e->kind = KIND_EP;
    e->fd = fd;
    e->limit = limit;
    *self = e;
    return 0;
}

/* Is a live listener behind this path? Probe with a non-blocking connect:
 * ECONNREFUSED means a stale socket file; success or a full backlog
 * (EAGAIN) means someone serves it. */
static int path_is_live(const struct sockaddr_un *sa, socklen_t len)
{
    int fd = new_socket();
    if (fd < 0)
        return fd;
    int live = 1;
    if (connect(fd, (const struct sockaddr *)sa, len) < 0 && errno == ECONNREFUSED)
        live = 0;
    close(fd);
    return live;
}

static uint32_t *copy_ids(const uint32_t *ids, size_t n, int *rc)
{
    if (n == 0)
        return NULL;
    if (ids == NULL || n > 1024) {
        *rc = -EINVAL;
        return NULL;
    }
    uint32_t *c = malloc(n * sizeof *c);
    if (c == NULL)
        *rc = -ENOMEM;
    else
        memcpy(c, ids, n * sizeof *c);
    return c;
}

static void listener_free(struct unix_listener *l)
{
    free(l->uids);
    free(l->gids);
    limit_put(l->limit);
    free(l);
}

static int unix_listen(const char *addr, const kc_transport_opts_t *o, void **self)
{
    struct sockaddr_un sa;
    socklen_t salen;
    bool abstract;
    int rc = make_addr(addr, &sa, &salen, &abstract);
    if (rc < 0 || (o->mode & ~0777u) != 0)
        return -EINVAL;
    struct unix_listener *l = calloc(1, sizeof *l);
    if (l == NULL)
        return -ENOMEM;
    l->kind = KIND_LISTENER;
    l->fd = -1;
    l->abstract = abstract;
    l->any_peer = o->any_peer;
    l->max_conns = o->max_conns ? o->max_conns : 1024;
    l->sndbuf = o->sndbuf;
    l->uids = copy_ids(o->uids, o->n_uids, &rc);
    l->n_uids = l->uids ? o->n_uids : 0;
    l->gids = copy_ids(o->gids, o->n_gids, &rc);
    l->n_gids = l->gids ? o->n_gids : 0;
    l->limit = calloc(1, sizeof *l->limit);
    if (l->limit == NULL && rc == 0)
        rc = -ENOMEM;
    if (rc < 0)
        goto out_free;
    atomic_init(&l->limit->refs, 1);
    memcpy(l->path, addr, strlen(addr) + 1);

    if (!abstract) {
        struct stat st;
        if (lstat(addr, &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) {
                rc = -EBUSY; /* a regular file, directory...: never ours to remove */
                goto out_free;
            }
            int live = path_is_live(&sa, salen);
            if (live != 0) {
                rc = live > 0 ? -EBUSY : live;
                goto out_free;
            }
            if (unlink(addr) < 0 && errno != ENOENT) {
                rc = -errno;
                goto out_free;
            }
        }
    }
    l->fd = new_socket();
    if (l->fd < 0) {
        rc = l->fd;
        goto out_free;
    }
    if (bind(l->fd, (struct sockaddr *)&sa, salen) < 0) {
        rc = errno == EADDRINUSE ? -EBUSY : -errno;
        goto out_close;
    }
    if (!abstract) {
        struct stat st;
        /* The mode is set before listen(): nobody can connect until then. */
        if (chmod(addr, (mode_t)o->mode) < 0 || stat(addr, &st) < 0) {
            rc = -errno;
            goto out_unlink;
        }
        l->dev = st.st_dev;
        l->ino = st.st_ino;
    }
    if (listen(l->fd, o->backlog ? (int)o->backlog : 128) < 0) {
        rc = -errno;
        goto out_unlink;
    }
    *self = l;
    return 0;

out_unlink:
    if (!abstract)
        unlink(addr);
out_close:
    close(l->fd);
out_free:
    listener_free(l);
    return rc;
}

static bool peer_allowed(const struct unix_listener *l, uint32_t uid, uint32_t gid)
{
    if (l->any_peer || uid == (uint32_t)geteuid())
        return true;
    for (size_t i = 0; i < l->n_uids; i++)
        if (l->uids[i] == uid)
            return true;
    for (size_t i = 0; i < l->n_gids; i++)
        if (l->gids[i] == gid)
            return true;
    return false;
}

static int unix_accept(void *self, void **out, kc_transport_peer_t *peer, int64_t timeout_ns,
                       const kc_cancel_t *cancel)
{
    struct unix_listener *l = self;
    int64_t deadline = kc__tp_deadline(timeout_ns);
    for (;;) {
        int64_t left = kc__tp_left(deadline);
        if (left == 0 && timeout_ns != 0)
            return -ETIME;
        int fd = kc_accept(l->fd, NULL, NULL, left, cancel);
        if (fd < 0)
            return fd == -EINVAL || fd == -EBADF ? -EPIPE : fd;
        uint32_t uid = 0, gid = 0;
        int32_t pid = -1;
        bool known = kc__port_peer_cred(fd, &uid, &gid, &pid) == 0;
        const char *where = l->abstract ? "unix:@" : "unix:";
        if (!l->any_peer && (!known || !peer_allowed(l, uid, gid))) {
            /* relaxed: statistics counters, read without ordering. */
            atomic_fetch_add_explicit(&l->refused_cred, 1, memory_order_relaxed);
            kc__tp_log_refusal(&l->logged, KC_TP_REFUSED_CRED, where,
                               known ? "peer uid/gid not allowed" : "peer credentials unknown");
            close(fd);
            continue;
        }
        /* relaxed: the count is the only shared state; no data hangs on it. */
        uint32_t live = atomic_fetch_add_explicit(&l->limit->live, 1, memory_order_relaxed);
        if (live >= l->max_conns) {
            atomic_fetch_sub_explicit(&l->limit->live, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&l->refused_limit, 1, memory_order_relaxed);
            kc__tp_log_refusal(&l->logged, KC_TP_REFUSED_LIMIT, where, "connection limit");
            close(fd);
            continue;
        }
        atomic_fetch_add_explicit(&l->limit->refs, 1, memory_order_relaxed);
        int rc = set_sndbuf(fd, l->sndbuf);
        if (rc == 0)
            rc = new_ep(fd, l->limit, out);
        if (rc < 0) {
            atomic_fetch_sub_explicit(&l->limit->live, 1, memory_order_relaxed);
            limit_put(l->limit);
            close(fd);
            return rc;
        }
        atomic_fetch_add_explicit(&l->accepted, 1, memory_order_relaxed);
        peer->has_cred = known;
        peer->uid = uid;
        peer->gid = gid;
        peer->pid = pid;
        snprintf(peer->name, sizeof peer->name, "%s%s", l->abstract ? "" : "unix:", l->path);
        return 0;
    }
}

static int unix_connect(const char *addr, const kc_transport_opts_t *o, void **self,
                        int64_t timeout_ns, const kc_cancel_t *cancel)
{
    struct sockaddr_un sa;
    socklen_t salen;
    bool abstract;
    int rc = make_addr(addr, &sa, &salen, &abstract);
    if (rc < 0)
        return rc;
    int fd = new_socket();
    if (fd < 0)
        return fd;
    if ((rc = set_sndbuf(fd, o->sndbuf)) < 0) {
        close(fd);
        return rc;
    }
    rc = kc_connect(fd, (struct sockaddr *)&sa, salen, timeout_ns, cancel);
    if (rc == -ENOENT)
        rc = -ECONNREFUSED; /* no socket file: nobody listens */
    if (rc == 0)
        rc = new_ep(fd, NULL, self);
    if (rc < 0)
        close(fd);
    return rc;
}

/* Write v[0..n) completely (v is consumed). The first attempt gets the
 * whole timeout; a frame cut in the middle breaks the endpoint. A try
 * once (timeout 0) that the socket took in part waits for room for the
 * rest instead (KC_TRANSPORT_OPS_WHOLE: such a send never cuts a frame;
 * a small one is taken whole or not at all unless SO_SNDBUF is tiny). */
static int send_iov(struct unix_ep *e, struct iovec *cur, int n, int64_t timeout_ns,
                    const kc_cancel_t *cancel)
{
    size_t sent = 0;
    int64_t deadline = kc__tp_deadline(timeout_ns);
    for (;;) {
        if (sent > 0 && timeout_ns == 0) {
            timeout_ns = KC_NO_TIMEOUT; /* taken in part: finish the frame */
            deadline = kc__tp_deadline(timeout_ns);
        }
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = cur;
        msg.msg_iovlen = (size_t)n;
        int64_t left = sent == 0 ? timeout_ns : kc__tp_left(deadline);
        ssize_t r = (sent > 0 && left == 0 && timeout_ns != 0)
                        ? -ETIME
                        : kc_sendmsg(e->fd, &msg, MSG_NOSIGNAL, left, cancel);
        if (r < 0) {
            if (r == -EAGAIN && sent > 0)
                r = -ETIME;
            if (sent > 0 || r == -EPIPE || r == -ECONNRESET)
                e->send_err = r == -ECONNRESET ? -ECONNRESET : -EPIPE;
            return (int)r;
        }
        sent += (size_t)r;
        while (n > 0 && (size_t)r >= cur->iov_len) {
            r -= (ssize_t)cur->iov_len;
            cur++;
            n--;
        }
        if (n == 0)
            return 0;
        cur->iov_base = (uint8_t *)cur->iov_base + r;
        cur->iov_len -= (size_t)r;
    }
}

static int unix_send_frame(void *self, const kc_frame_hdr_t *hdr, const struct iovec *iov,
                           int iovcnt, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    struct unix_ep *e = self;
    if (e->send_err)
        return e->send_err;
    uint8_t hb[KC_FRAME_HDR_SIZE];
    kc_frame_encode(hdr, hb);
    struct iovec v[MAX_IOV];
    v[0].iov_base = hb;
    v[0].iov_len = sizeof hb;
    int n = 1;
    for (int i = 0; i < iovcnt; i++)
        if (iov[i].iov_len > 0)
            v[n++] = iov[i];
    return send_iov(e, v, n, timeout_ns, cancel);
}

/* Several frames per sendmsg: up to BATCH_IOV pieces (headers included)
 * at a time, so a batch of small frames is one system call. */
static int unix_send_frames(void *self, const kc_frame_out_t *f, int nf, int64_t timeout_ns,
                            const kc_cancel_t *cancel)
{
    struct unix_ep *e = self;
    uint8_t hb[KC_TRANSPORT_BATCH_MAX][KC_FRAME_HDR_SIZE];
    struct iovec v[BATCH_IOV];
    int64_t deadline = kc__tp_deadline(timeout_ns);
    int i = 0;
    while (i < nf) {
        if (e->send_err)
            return e->send_err;
        int n = 0;
        int first = i;
        /* Every frame fits alone: 1 + 64 pieces <= BATCH_IOV. */
        while (i < nf && n + 1 + f[i].iovcnt <= BATCH_IOV) {
            kc_frame_encode(&f[i].hdr, hb[i]);
            v[n].iov_base = hb[i];
            v[n++].iov_len = KC_FRAME_HDR_SIZE;
            for (int k = 0; k < f[i].iovcnt; k++)
                if (f[i].iov[k].iov_len > 0)
                    v[n++] = f[i].iov[k];
            i++;
        }
        int64_t left = first == 0 || timeout_ns < 0 ? timeout_ns : kc__tp_left(deadline);
        int rc = send_iov(e, v, n, left, cancel);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Read more bytes into the staging buffer (compacting it first), or
 * straight into dst when dst is not NULL. Returns bytes read (> 0) or a
 * negative errno; end of stream is -EPIPE between frames, -ECONNRESET
 * inside one. */
static ssize_t fill(struct unix_ep *e, uint8_t *dst, size_t n, int64_t left,
                    const kc_cancel_t *cancel)
{
    if (dst == NULL) {
        if (e->spos > 0) {
            memmove(e->stage, e->stage + e->spos, e->slen - e->spos);
            e->slen -= e->spos;
            e->spos = 0;
        }
        dst = e->stage + e->slen;
        n = STAGE_SIZE - e->slen;
    }
    /* A stream socket whose last read came back short was empty at that
     * moment: wait for readiness before reading again instead of paying a
     * read that says EAGAIN. On an fd attached to the poller (a
     * connection's) the wait costs no system call, and data that came in
     * since is remembered as ready there; otherwise it is the poll that
     * kc_read would make after its EAGAIN. */
    if (e->drained) {
        int w = kc_io_wait(e->fd, KC_IO_IN, left, cancel);
        if (w < 0)
            return w;
        e->drained = false;
    }
    ssize_t r = kc_read(e->fd, dst, n, left, cancel);
    if (r > 0 && (size_t)r < n)
        e->drained = true;
    if (r == 0)
        r = (!e->have_hdr && e->slen == e->spos) ? -EPIPE : -ECONNRESET;
    return r;
}

static int unix_recv_into(void *self, kc_frame_hdr_t *hdr, void **payload, size_t max_payload,
                          kc__tp_rx_buf_fn buf, void *arg, int64_t timeout_ns,
                          const kc_cancel_t *cancel)
{
    struct unix_ep *e = self;
    if (e->recv_err)
        return e->recv_err;
    if (e->stage == NULL && (e->stage = malloc(STAGE_SIZE)) == NULL)
        return -ENOMEM;
    int64_t deadline = kc__tp_deadline(timeout_ns);
    bool first = true;
    for (;;) {
        if (!e->have_hdr && e->slen - e->spos >= KC_FRAME_HDR_SIZE) {
            int rc = kc_frame_decode(e->stage + e->spos, e->slen - e->spos, &e->hdr);
            if (rc < 0)
                return e->recv_err = rc;
            if (e->hdr.len > max_payload)
                return e->recv_err = -EMSGSIZE;
            e->spos += KC_FRAME_HDR_SIZE;
            e->payload = NULL;
            e->lent = false;
            if (e->hdr.len > 0 && buf != NULL && (e->payload = buf(arg, &e->hdr)) != NULL)
                e->lent = true; /* read where the caller wants it */
            else if (e->hdr.len > 0 && (e->payload = malloc(e->hdr.len)) == NULL)
                return e->recv_err = -ENOMEM;
            e->got = 0;
            e->have_hdr = true;
        }
        if (e->have_hdr) {
            uint32_t take = e->hdr.len - e->got;
            if (take > e->slen - e->spos)
                take = e->slen - e->spos;
            if (take > 0) {
                memcpy(e->payload + e->got, e->stage + e->spos, take);
                e->got += take;
                e->spos += take;
            }
            if (e->got == e->hdr.len) {
                *hdr = e->hdr;
                *payload = e->payload;
                e->payload = NULL;
                e->lent = false;
                e->have_hdr = false;
                return 0;
            }
        }
        int64_t left = first ? timeout_ns : kc__tp_left(deadline);
        if (!first && left == 0 && timeout_ns != 0)
            return -ETIME;
        first = false;
        uint32_t want = e->have_hdr ? e->hdr.len - e->got : 0;
        ssize_t r = want >= STAGE_SIZE ? fill(e, e->payload + e->got, want, left, cancel)
                                       : fill(e, NULL, 0, left, cancel);
        if (r < 0) {
            if (r != -ETIME && r != -ECANCELED && r != -EAGAIN) {
                e->recv_err = (int)r; /* the stream is gone or desynchronised */
                if (e->lent) {        /* never touched again: the caller's */
                    e->payload = NULL;
                    e->lent = false;
                }
            }
            return (int)r;
        }
        if (want >= STAGE_SIZE)
            e->got += (uint32_t)r;
        else
            e->slen += (uint32_t)r;
    }
}

static int unix_recv_frame(void *self, kc_frame_hdr_t *hdr, void **payload, size_t max_payload,
                           int64_t timeout_ns, const kc_cancel_t *cancel)
{
    return unix_recv_into(self, hdr, payload, max_payload, NULL, NULL, timeout_ns, cancel);
}

int kc__transport_recv_frame_into(kc_transport_t *t, kc_frame_hdr_t *hdr, void **payload,
                                  size_t max_payload, kc__tp_rx_buf_fn buf, void *arg,
                                  int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (t == NULL || t->listener || hdr == NULL || payload == NULL)
        return -EINVAL;
    *payload = NULL;
    timeout_ns = kc__timeout_norm(timeout_ns);
    if (t->ops == &kc__transport_unix_ops) /* reads a payload where it is told */
        return unix_recv_into(t->self, hdr, payload, max_payload, buf, arg, timeout_ns, cancel);
    return t->ops->recv_frame(t->self, hdr, payload, max_payload, timeout_ns, cancel);
}

static void unix_close(void *self)
{
    if (self == NULL)
        return;
    if (*(uint32_t *)self == KIND_LISTENER) {
        struct unix_listener *l = self;
        struct stat st;
        if (!l->abstract && stat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
            unlink(l->path);
        close(l->fd);
        listener_free(l);
        return;
    }
    struct unix_ep *e = self;
    if (e->limit) {
        /* relaxed: see unix_accept. */
        atomic_fetch_sub_explicit(&e->limit->live, 1, memory_order_relaxed);
        limit_put(e->limit);
    }
    close(e->fd);
    if (!e->lent)
        free(e->payload);
    free(e->stage);
    free(e);
}

static int unix_poll_handle(void *self)
{
    if (*(uint32_t *)self == KIND_LISTENER)
        return ((struct unix_listener *)self)->fd;
    return ((struct unix_ep *)self)->fd;
}

/* The bytes already read into the staging buffer and not handed out. */
static size_t unix_pending(void *self)
{
    const struct unix_ep *e = self;
    return e->slen - e->spos;
}

static int unix_stats(void *self, kc_transport_stats_t *out)
{
    struct unix_listener *l = self;
    /* relaxed: counters. */
    out->accepted = atomic_load_explicit(&l->accepted, memory_order_relaxed);
    out->live = atomic_load_explicit(&l->limit->live, memory_order_relaxed);
    out->refused_cred = atomic_load_explicit(&l->refused_cred, memory_order_relaxed);
    out->refused_limit = atomic_load_explicit(&l->refused_limit, memory_order_relaxed);
    out->refused_auth = 0;
    out->refused_timeout = 0;
    return 0;
}

const kc_transport_ops_t kc__transport_unix_ops = {
    .size = sizeof(kc_transport_ops_t),
    .scheme = "unix",
    .listen = unix_listen,
    .accept = unix_accept,
    .connect = unix_connect,
    .send_frame = unix_send_frame,
    .recv_frame = unix_recv_frame,
    .close = unix_close,
    .poll_handle = unix_poll_handle,
    .send_frames = unix_send_frames,
    .stats = unix_stats,
    .pending = unix_pending,
    .flags = KC_TRANSPORT_OPS_WHOLE,
};
