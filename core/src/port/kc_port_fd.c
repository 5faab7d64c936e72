/* kc_port_fd.c - wake fds and small fd helpers.
 *
 * A wake fd is the way one thread makes another thread's poll return: an
 * eventfd on Linux (one fd, a counter), a non-blocking pipe elsewhere or when
 * KCORO_PORT=portable. Signals coalesce: any number of signals before a drain
 * make the fd readable once. This file also holds the helpers that need
 * platform headers: accept4 with
 * SOCK_NONBLOCK|SOCK_CLOEXEC (accept + fcntl elsewhere), switching an fd to
 * non-blocking mode, a thread-side wait on one fd plus a wake fd, and the
 * credentials of a UNIX socket's peer.
 */
#define _GNU_SOURCE
#include "port/kc_poller.h"

#include "port/kc_deadline.h"
#include "port/kc_futex.h"
#include "port/kc_port.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/sockios.h> /* SIOCOUTQ */
#include <sys/ioctl.h>
#endif

#ifdef __linux__
#include <sys/eventfd.h>
#define KC_HAVE_EVENTFD 1
#else
#define KC_HAVE_EVENTFD 0
#endif

int kc__port_peer_cred(int fd, uint32_t *uid, uint32_t *gid, int32_t *pid)
{
#if defined(SO_PEERCRED) && defined(__linux__)
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
        return -errno;
    *uid = (uint32_t)cr.uid;
    *gid = (uint32_t)cr.gid;
    *pid = (int32_t)cr.pid;
    return 0;
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
    uid_t u;
    gid_t g;
    if (getpeereid(fd, &u, &g) < 0)
        return -errno;
    *uid = (uint32_t)u;
    *gid = (uint32_t)g;
    *pid = -1;
    return 0;
#else
    (void)fd;
    (void)uid;
    (void)gid;
    (void)pid;
    return -ENOTSUP;
#endif
}

int kc__port_sock_queued(int fd, uint32_t *queued, uint32_t *cap)
{
#if defined(__linux__) && defined(SIOCOUTQ)
    int q = 0, sz = 0;
    socklen_t len = sizeof sz;
    if (ioctl(fd, SIOCOUTQ, &q) != 0)
        return -errno;
    if (cap != NULL && getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, &len) != 0)
        return -errno;
    if (q < 0 || (cap != NULL && sz <= 0))
        return -ENOTSUP;
    *queued = (uint32_t)q;
    if (cap != NULL)
        *cap = (uint32_t)sz;
    return 0;
#else
    (void)fd;
    (void)queued;
    (void)cap;
    return -ENOTSUP;
#endif
}

int kc__port_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if ((fl & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

static int set_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

int kc__wakefd_open(struct kc_wakefd *w, bool portable)
{
#if KC_HAVE_EVENTFD
    if (!portable) {
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0)
            return -errno;
        w->rfd = w->wfd = fd;
        return 0;
    }
#else
    (void)portable;
#endif
    int p[2];
    if (pipe(p) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        int rc = kc__port_set_nonblock(p[i]);
        if (rc == 0)
            rc = set_cloexec(p[i]);
        if (rc < 0) {
            close(p[0]);
            close(p[1]);
            return rc;
        }
    }
    w->rfd = p[0];
    w->wfd = p[1];
    return 0;
}

void kc__wakefd_signal(struct kc_wakefd *w)
{
    ssize_t r;
    if (w->rfd == w->wfd) {
        uint64_t one = 1;
        r = write(w->wfd, &one, sizeof(one));
    } else {
        char c = 1;
        r = write(w->wfd, &c, 1); /* a full pipe is already readable */
    }
    (void)r;
}

void kc__wakefd_drain(struct kc_wakefd *w)
{
    char buf[64];
    while (read(w->rfd, buf, sizeof(buf)) > 0 && w->rfd != w->wfd) {
    }
}

void kc__wakefd_close(struct kc_wakefd *w)
{
    if (w->wfd != w->rfd)
        close(w->wfd);
    close(w->rfd);
    w->rfd = w->wfd = -1;
}

int kc__port_wait_fd(int fd, uint32_t events, int64_t timeout_ns, struct kc_wakefd *wake)
{
    struct pollfd p[2] = {
        {.fd = fd,
         .events = (short)(((events & KC__POLL_IN) ? POLLIN : 0) |
                           ((events & KC__POLL_OUT) ? POLLOUT : 0))},
        {.fd = wake ? wake->rfd : -1, .events = POLLIN},
    };
    int ms = kc__timeout_ms(timeout_ns);
    int r;
    do
        r = poll(p, wake ? 2 : 1, ms);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    if (r == 0)
        return -ETIME;
    if (p[0].revents & POLLNVAL)
        return -EBADF; /* not an open descriptor (closed, or beyond the limit) */
    uint32_t ev = 0;
    if (p[0].revents & POLLIN)
        ev |= KC__POLL_IN;
    if (p[0].revents & POLLOUT)
        ev |= KC__POLL_OUT;
    if (p[0].revents & (POLLERR | POLLNVAL))
        ev |= KC__POLL_ERR;
    if (p[0].revents & POLLHUP)
        ev |= KC__POLL_HUP;
    if (ev != 0)
        return (int)ev;
    if (wake != NULL)
        kc__wakefd_drain(wake);
    return 0;
}

bool kc__port_fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

int kc__port_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
#ifdef __linux__
    int c = accept4(fd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    return c;
#else
    int c = accept(fd, addr, addrlen);
    if (c < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    int rc = kc__port_set_nonblock(c);
    if (rc == 0)
        rc = set_cloexec(c);
    if (rc < 0) {
        close(c);
        return rc;
    }
    return c;
#endif
}
