/* kcoro/io.h - readiness waits and coroutine-friendly socket calls.
 *
 * On a scheduler coroutine, kc_io_wait() parks the coroutine until the fd is
 * ready; the scheduler's poller (epoll on Linux, poll() elsewhere) notices
 * readiness while workers are idle, so no worker ever blocks in I/O. The
 * calls below try the system call first and park in kc_io_wait() when it
 * says EAGAIN, so they need fds in non-blocking mode (kc_io_set_nonblock();
 * kc_accept() returns non-blocking fds). From a plain thread they block the
 * thread in poll() instead, still honouring timeout and cancellation.
 * Every timeout_ns follows the rule of kcoro/base.h: KC_NO_TIMEOUT waits
 * without limit; 0 and any other negative value try once (-EAGAIN when the
 * call would wait); a huge value saturates and waits without limit.
 *
 * At most one coroutine waits for input and one for output on an fd at a
 * time (-EBUSY otherwise). Readiness is a hint: after kc_io_wait() returns,
 * the operation may still say EAGAIN (another reader won), so loop.
 * Errors are negative errno values: the system call's own (-ECONNRESET,
 * -EBADF, ...) plus -ETIME and -ECANCELED. errno is never used.
 */
#ifndef KCORO_IO_H
#define KCORO_IO_H

#include "kcoro/base.h"
#include "kcoro/cancel.h"
#include "kcoro/sched.h"

#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* KC_IO_IN: wait until the fd is readable (or a listener has a connection). */
#define KC_IO_IN 1u
/* KC_IO_OUT: wait until the fd is writable (or a connect has completed). */
#define KC_IO_OUT 2u
/* KC_IO_ERR: reported when an error is pending on the fd; never needed in
 * the mask passed to kc_io_wait(). */
#define KC_IO_ERR 4u
/* KC_IO_HUP: reported when the peer hung up; never needed in the mask. */
#define KC_IO_HUP 8u

/* Wait until fd is ready for any of `events` (KC_IO_IN, KC_IO_OUT), for at
 * most timeout_ns, or until cancel fires. Returns the ready KC_IO_* bits
 * (> 0). Files that cannot be polled (regular files) are always ready.
 * Errors: -EINVAL (negative fd, bad events, or an fd beyond the
 * scheduler's table of 4M descriptors); -EBUSY (another coroutine waits
 * on fd for the same direction); -ETIME; -ECANCELED; -EBADF (fd is not an
 * open descriptor: closed, or beyond the process's limit; the same from a
 * coroutine and a plain thread), or fd was closed with kc_io_close() while
 * the call waited.
 * Yields (a coroutine) or blocks (a thread). */
KC_API int kc_io_wait(int fd, uint32_t events, int64_t timeout_ns, const kc_cancel_t *cancel);

/* read(2) that parks on EAGAIN. Returns bytes read (0 at end of file) or a
 * negative errno: the system call's (-EBADF for a bad or closed fd), or
 * -EINVAL for a NULL buf with n > 0. Yields or blocks. */
KC_API ssize_t kc_read(int fd, void *buf, size_t n, int64_t timeout_ns, const kc_cancel_t *cancel);

/* write(2) that parks on EAGAIN. Returns bytes written (possibly fewer than
 * n, like write(2)) or a negative errno: the system call's, or -EINVAL for
 * a NULL buf with n > 0. Yields or blocks. */
KC_API ssize_t kc_write(int fd, const void *buf, size_t n, int64_t timeout_ns,
                        const kc_cancel_t *cancel);

/* recvmsg(2) that parks on EAGAIN. Returns bytes or a negative errno: the
 * system call's, or -EINVAL for a NULL msg. Yields or blocks. */
KC_API ssize_t kc_recvmsg(int fd, struct msghdr *msg, int flags, int64_t timeout_ns,
                          const kc_cancel_t *cancel);

/* sendmsg(2) that parks on EAGAIN. Returns bytes or a negative errno: the
 * system call's, or -EINVAL for a NULL msg. Yields or blocks. */
KC_API ssize_t kc_sendmsg(int fd, const struct msghdr *msg, int flags, int64_t timeout_ns,
                          const kc_cancel_t *cancel);

/* accept(2) that parks until a connection arrives. Returns a new fd in
 * non-blocking, close-on-exec mode (GIVES: the caller closes it) or a
 * negative errno (the system call's; -EINVAL for addr without len). addr
 * and len may be NULL together. Yields or blocks. */
KC_API int kc_accept(int fd, struct sockaddr *addr /* OUT */, socklen_t *len /* INOUT */,
                     int64_t timeout_ns, const kc_cancel_t *cancel);

/* connect(2) on a non-blocking socket, parking until it completes. Returns
 * 0 or the connection's negative errno (-ECONNREFUSED, ...; -EINVAL for a
 * NULL addr). On -ETIME or
 * -ECANCELED the attempt may still be in progress: close the socket.
 * Yields or blocks. */
KC_API int kc_connect(int fd, const struct sockaddr *addr, socklen_t len, int64_t timeout_ns,
                      const kc_cancel_t *cancel);

/* Register fd with scheduler s's poller (NULL: the caller's) for good,
 * edge-triggered: later waits on it cost no system call, where a plain wait
 * re-arms the fd each time. For fds whose lifetime you manage: call
 * kc_io_detach() before closing fd (a closed and reused fd number would
 * otherwise never be watched again). Attaching twice is harmless; on a
 * poller without an edge-triggered mode (poll()) it does nothing.
 * Errors: -EPERM (s NULL outside a scheduler); -EINVAL (bad fd); -EBADF;
 * -ENOMEM. Never blocks. */
KC_API int kc_io_attach(kc_sched_t *s, int fd);

/* Undo kc_io_attach(). Returns 0 (also for an fd never attached).
 * Errors: -EPERM (s NULL outside a scheduler); -EBUSY (a coroutine still
 * waits on fd). Never blocks. */
KC_API int kc_io_detach(kc_sched_t *s, int fd);

/* Close fd, waking every coroutine of scheduler s (NULL: the caller's)
 * that waits on it first: their kc_io_wait(), and the calls built on it
 * (kc_read, kc_write, kc_accept, ...), return -EBADF at once, as Go's
 * netpoller does when a descriptor is closed. The fd is detached
 * (kc_io_attach) and then closed with close(2), whatever the result: do
 * not close it again. Close descriptors that coroutines may be waiting on
 * with this call, never with close(2) alone: a wait on a descriptor closed
 * behind the scheduler's back sleeps until its timeout or token.
 * A plain thread blocked in kc_io_wait() on fd is not woken (poll(2) holds
 * the file while it sleeps): give such waits a timeout or a token.
 * Errors: -EINVAL (negative fd); -EPERM (s NULL outside a scheduler:
 * nothing is closed); close(2)'s own errno (-EBADF: fd was not open;
 * -EIO ...). Never blocks (close(2) of some files may). */
KC_API int kc_io_close(kc_sched_t *s, int fd);

/* Put fd in non-blocking mode. Returns 0 or a negative errno (-EBADF for a
 * bad or closed fd). Never blocks. */
KC_API int kc_io_set_nonblock(int fd);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_IO_H */
