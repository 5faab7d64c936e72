/* kc_io_ops.c - read, write, accept, connect, recvmsg, sendmsg that park.
 *
 * Each call tries the system call first; when it says EAGAIN (the fd is in
 * non-blocking mode and not ready) it parks in kc_io_wait() until the fd is
 * ready, the deadline passes or the token fires, and tries again. So the
 * common case (data already there) costs one system call and no poller at
 * all. A zero timeout means "try once": EAGAIN comes back as -EAGAIN. The
 * deadline is absolute across retries. errno is read right after each system
 * call, before anything can switch the coroutine to another thread.
 *
 * Every function here can yield (on a scheduler coroutine) or block (on a
 * plain thread), and returns a negative errno on failure.
 */
#include "sched/kc_sched_impl.h"

#include "kcoro/io.h"

#include <errno.h>
#include <unistd.h>

/* Deadline bookkeeping shared by the retry loops. */
struct io_clock {
    int64_t timeout;  /* normalised: KC_NO_TIMEOUT or >= 0 */
    int64_t deadline; /* kc__deadline_after(timeout) */
};

static struct io_clock clock_start(int64_t timeout_ns)
{
    timeout_ns = kc__timeout_norm(timeout_ns);
    struct io_clock c = {timeout_ns, kc__deadline_after(timeout_ns)};
    return c;
}

/* After EAGAIN: wait for `events`. Returns 0 to retry, or a negative errno. */
static int io_park(int fd, uint32_t events, const struct io_clock *c, const kc_cancel_t *cancel)
{
    if (c->timeout == 0)
        return -EAGAIN;
    int64_t left = kc__deadline_left(c->deadline);
    if (left == 0)
        return -ETIME;
    int r = kc_io_wait(fd, events, left, cancel);
    return r < 0 ? r : 0;
}

/* Classify a failed system call: 1 = retry at once, 0 = park, <0 = error. */
static int classify(int e)
{
    if (e == EINTR)
        return 1;
    if (e == EAGAIN || e == EWOULDBLOCK)
        return 0;
    return -e;
}

static bool cancelled(const kc_cancel_t *cancel)
{
    return kc_cancel_is_triggered(cancel) || kc_sched_is_cancelled();
}

/* One non-blocking attempt of a call on fd: its result (>= 0), or a
 * negative errno read right after the system call. */
typedef ssize_t (*io_try_fn)(int fd, void *arg);

/* The retry loop of every call here but connect: try, and on EAGAIN wait
 * for `events` (io_park) and try again, until done, an error, the deadline
 * or the token. */
static ssize_t io_retry(int fd, uint32_t events, int64_t timeout_ns, const kc_cancel_t *cancel,
                        io_try_fn attempt, void *arg)
{
    struct io_clock c = clock_start(timeout_ns);
    bool held = false; /* the token, from the first wait on (the lifetime rule) */
    ssize_t r;
    for (;;) {
        if (cancelled(cancel)) {
            r = -ECANCELED;
            break;
        }
        r = attempt(fd, arg);
        if (r >= 0)
            break;
        int k = classify((int)-r);
        if (k < 0) {
            r = k;
            break;
        }
        if (k == 0 && cancel != NULL && !held) {
            kc__cancel_hold(cancel);
            held = true;
        }
        if (k == 0 && (k = io_park(fd, events, &c, cancel)) < 0) {
            r = k;
            break;
        }
    }
    if (held)
        kc__cancel_release(cancel);
    return r;
}

struct io_buf {
    void *buf;
    size_t n;
};

static ssize_t try_read(int fd, void *arg)
{
    struct io_buf *b = arg;
    ssize_t r = read(fd, b->buf, b->n);
    return r >= 0 ? r : -errno;
}

static ssize_t try_write(int fd, void *arg)
{
    struct io_buf *b = arg;
    ssize_t r = write(fd, b->buf, b->n);
    return r >= 0 ? r : -errno;
}

struct io_msg {
    struct msghdr *msg;
    int flags;
};

static ssize_t try_recvmsg(int fd, void *arg)
{
    struct io_msg *m = arg;
    ssize_t r = recvmsg(fd, m->msg, m->flags);
    return r >= 0 ? r : -errno;
}

static ssize_t try_sendmsg(int fd, void *arg)
{
    struct io_msg *m = arg;
    ssize_t r = sendmsg(fd, m->msg, m->flags);
    return r >= 0 ? r : -errno;
}

struct io_peer {
    struct sockaddr *addr;
    socklen_t *len;
};

static ssize_t try_accept(int fd, void *arg)
{
    struct io_peer *p = arg;
    return kc__port_accept(fd, p->addr, p->len); /* a socket or -errno */
}

ssize_t kc_read(int fd, void *buf, size_t n, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (buf == NULL && n > 0)
        return -EINVAL;
    struct io_buf b = {buf, n};
    return io_retry(fd, KC_IO_IN, timeout_ns, cancel, try_read, &b);
}

ssize_t kc_write(int fd, const void *buf, size_t n, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (buf == NULL && n > 0)
        return -EINVAL;
    struct io_buf b = {(void *)(uintptr_t)buf, n}; /* write only reads it */
    return io_retry(fd, KC_IO_OUT, timeout_ns, cancel, try_write, &b);
}

ssize_t kc_recvmsg(int fd, struct msghdr *msg, int flags, int64_t timeout_ns,
                   const kc_cancel_t *cancel)
{
    if (msg == NULL)
        return -EINVAL;
    struct io_msg m = {msg, flags};
    return io_retry(fd, KC_IO_IN, timeout_ns, cancel, try_recvmsg, &m);
}

ssize_t kc_sendmsg(int fd, const struct msghdr *msg, int flags, int64_t timeout_ns,
                   const kc_cancel_t *cancel)
{
    if (msg == NULL)
        return -EINVAL;
    struct io_msg m = {(struct msghdr *)(uintptr_t)msg, flags}; /* sendmsg only reads it */
    return io_retry(fd, KC_IO_OUT, timeout_ns, cancel, try_sendmsg, &m);
}

int kc_accept(int fd, struct sockaddr *addr, socklen_t *len, int64_t timeout_ns,
              const kc_cancel_t *cancel)
{
    if (addr != NULL && len == NULL)
        return -EINVAL;
    struct io_peer p = {addr, len};
    return (int)io_retry(fd, KC_IO_IN, timeout_ns, cancel, try_accept, &p);
}

static int connect_wait(int fd, const struct sockaddr *addr, socklen_t len, int64_t timeout_ns,
                        const kc_cancel_t *cancel);

int kc_connect(int fd, const struct sockaddr *addr, socklen_t len, int64_t timeout_ns,
               const kc_cancel_t *cancel)
{
    if (addr == NULL)
        return -EINVAL;
    if (cancel == NULL)
        return connect_wait(fd, addr, len, timeout_ns, NULL);
    kc__cancel_hold(cancel); /* read between the retries (the lifetime rule) */
    int rc = connect_wait(fd, addr, len, timeout_ns, cancel);
    kc__cancel_release(cancel);
    return rc;
}

static int connect_wait(int fd, const struct sockaddr *addr, socklen_t len, int64_t timeout_ns,
                        const kc_cancel_t *cancel)
{
    struct io_clock c = clock_start(timeout_ns);
    int e;
    for (;;) {
        if (cancelled(cancel))
            return -ECANCELED;
        if (connect(fd, addr, len) == 0)
            return 0;
        e = errno;
        if (e != EAGAIN)
            break;
        /* A full listen backlog (AF_UNIX): nothing started; retry later. */
        if (c.timeout == 0 || kc__deadline_passed(c.deadline))
            return c.timeout == 0 ? -EAGAIN : -ETIME;
        kc_sched_yield();
    }
    if (e != EINPROGRESS && e != EINTR)
        return -e;
    /* In progress: writable means finished, one way or the other. */
    if (c.timeout == 0)
        return -EAGAIN;
    int k = io_park(fd, KC_IO_OUT, &c, cancel);
    if (k < 0)
        return k;
    int err = 0;
    socklen_t l = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
        return -errno;
    return err != 0 ? -err : 0;
}
