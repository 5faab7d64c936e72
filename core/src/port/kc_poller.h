/* kc_poller.h - I/O readiness polling: epoll on Linux, poll() elsewhere.
 *
 * Layer 0 of kcoro's I/O. A poller watches file descriptors for one-shot
 * readiness: kc__poller_arm() states the full set of events wanted on an fd;
 * once the fd reports any of them, the poller returns it from one
 * kc__poller_wait() and stops watching the fd until it is armed again. That
 * is EPOLLONESHOT on Linux and the same semantics emulated on a pollfd array
 * by the POSIX backend. kc__poller_wake() makes a blocked (or the next) wait
 * return early; it is how the scheduler pulls a worker out of the poller.
 *
 * One thread at a time may be inside kc__poller_wait(); arm, disarm and wake
 * may come from any thread at any time. The scheduler (core/src/sched/kc_io.c)
 * owns the per-fd waiters; this layer knows only fds and event bits.
 *
 * Also here: the wake fd (eventfd or a pipe) and the small fd helpers that
 * need platform headers (non-blocking accept, waiting on one fd).
 */
#ifndef KCORO_KC_POLLER_H
#define KCORO_KC_POLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Event bits, the same values as the public KC_IO_* (kcoro/io.h). */
enum {
    KC__POLL_IN = 1u,  /* readable, or a listening socket has a connection */
    KC__POLL_OUT = 2u, /* writable, or a connect finished */
    KC__POLL_ERR = 4u, /* an error is pending on the fd (reported, never armed) */
    KC__POLL_HUP = 8u  /* the peer hung up (reported, never armed) */
};

/* Most events one kc__poller_wait() returns. */
enum {
    KC_POLL_BATCH = 128
};

/* One ready fd. */
struct kc_poll_event {
    int fd;
    uint32_t events; /* KC__POLL_* bits */
};

struct kc_poller;

/* A backend: the functions behind the kc__poller_* wrappers below. */
struct kc_poller_ops {
    const char *name;
    int (*attach)(struct kc_poller *p, int fd, uint32_t events, bool known);
    int (*arm)(struct kc_poller *p, int fd, uint32_t events, bool known);
    int (*disarm)(struct kc_poller *p, int fd);
    int (*wait)(struct kc_poller *p, struct kc_poll_event *ev, int max, int64_t timeout_ns);
    void (*wake)(struct kc_poller *p);
    void (*close)(struct kc_poller *p);
};

/* Every backend's state starts with this header. */
struct kc_poller {
    const struct kc_poller_ops *ops;
};

/* Open the platform's poller: epoll on Linux unless KCORO_PORT=portable,
 * poll() otherwise. OUT *out: GIVES a poller; free with kc__poller_close().
 * Errors: -ENOMEM, or the negative errno of the failing system call. */
int kc__poller_open(struct kc_poller **out);

/* Open a specific backend (tests use both on Linux). Same errors. */
int kc__poller_open_epoll(struct kc_poller **out);
int kc__poller_open_poll(struct kc_poller **out);

/* Watch fd once for `events` (KC__POLL_IN and/or KC__POLL_OUT), replacing
 * what was armed before. `known` says whether the caller armed this fd
 * before (a hint that saves a failing system call). Errors: -EBADF (fd not
 * open), -EPERM (the fd cannot be polled, e.g. a regular file), -ENOMEM. */
static inline int kc__poller_arm(struct kc_poller *p, int fd, uint32_t events, bool known)
{
    return p->ops->arm(p, fd, events, known);
}

/* Watch fd for good, edge-triggered, for `events` (KC__POLL_IN and/or
 * KC__POLL_OUT): each new readiness is reported once, with no re-arming.
 * Called again on an attached fd (`known` true) it changes the events
 * watched, and what is ready at that moment is reported once more: a
 * writer that found the fd full asks for output only while it waits, so
 * the peer's every read does not report output nobody waits for.
 * Errors: -ENOTSUP (the backend has no edge-triggered mode: use
 * kc__poller_arm), -EBADF, -EPERM, -ENOMEM. kc__poller_disarm() ends it. */
static inline int kc__poller_attach(struct kc_poller *p, int fd, uint32_t events, bool known)
{
    return p->ops->attach(p, fd, events, known);
}

/* Stop watching fd. Returns 0 (also when fd was not watched). */
static inline int kc__poller_disarm(struct kc_poller *p, int fd)
{
    return p->ops->disarm(p, fd);
}

/* Wait up to timeout_ns (negative: forever; 0: just look) for armed fds to
 * become ready. Fills at most `max` events and returns their number (0 on
 * timeout or wake). Errors: negative errno of the system call.
 * Blocks the calling thread. */
static inline int kc__poller_wait(struct kc_poller *p, struct kc_poll_event *ev, int max,
                                  int64_t timeout_ns)
{
    return p->ops->wait(p, ev, max, timeout_ns);
}

/* Make the current or next kc__poller_wait() return. Never blocks. */
static inline void kc__poller_wake(struct kc_poller *p)
{
    p->ops->wake(p);
}

/* Free a poller (NULL is a no-op). Nobody may be waiting in it. */
static inline void kc__poller_close(struct kc_poller *p)
{
    if (p != NULL)
        p->ops->close(p);
}

/* The backend's name ("epoll" or "poll"). */
static inline const char *kc__poller_name(const struct kc_poller *p)
{
    return p->ops->name;
}

/* A wake fd: readable after kc__wakefd_signal() until kc__wakefd_drain(). */
struct kc_wakefd {
    int rfd; /* poll this one */
    int wfd; /* signal through this one (== rfd for an eventfd) */
};

/* Open a non-blocking wake fd (eventfd on Linux unless portable, else a
 * pipe). Returns 0 or a negative errno. */
int kc__wakefd_open(struct kc_wakefd *w /* OUT */, bool portable);
void kc__wakefd_signal(struct kc_wakefd *w);
void kc__wakefd_drain(struct kc_wakefd *w);
void kc__wakefd_close(struct kc_wakefd *w);

/* Block the calling thread until fd reports one of `events`, `wake` becomes
 * readable (then it is drained), or timeout_ns passes. Returns the ready
 * KC__POLL_* bits (> 0), 0 when woken through `wake`, -ETIME on timeout, or
 * a negative errno. wake may be NULL. Blocks the thread. */
int kc__port_wait_fd(int fd, uint32_t events, int64_t timeout_ns, struct kc_wakefd *wake);

/* accept() that returns a non-blocking, close-on-exec socket (accept4 on
 * Linux). Returns the fd or a negative errno (-EAGAIN when nothing waits). */
int kc__port_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);

/* Put fd in non-blocking mode. Returns 0 or a negative errno. */
int kc__port_set_nonblock(int fd);

/* Is fd an open descriptor of this process (fcntl F_GETFD)? Never blocks. */
bool kc__port_fd_is_open(int fd);

#endif /* KCORO_KC_POLLER_H */
