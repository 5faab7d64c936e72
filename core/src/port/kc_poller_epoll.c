/* kc_poller_epoll.c - the Linux poller: one epoll set with one-shot interest.
 *
 * Every armed fd is registered with EPOLLONESHOT and its own fd number as
 * the event data, so a ready fd is reported once and then sits disabled in
 * the set until kc__poller_arm() modifies it again: one epoll_ctl per wait,
 * never a stale level-triggered storm. Closing an fd removes it from the set
 * (the kernel does that), so "armed before" is only a hint: MOD falls back to
 * ADD on ENOENT, and ADD to MOD on EEXIST. The wake fd (an eventfd) sits in
 * the set level-triggered with data -1 and is drained when it fires.
 *
 * An attached fd (kc__poller_attach) is instead registered once,
 * edge-triggered, for callers that own the fd's lifetime and detach it
 * before closing it: no system call per wait. Its events are changed in
 * place (output is asked for only while a writer waits: a unix socket
 * reports output each time its peer reads).
 *
 * Timeouts use epoll_pwait2 (nanosecond resolution) where the C library has
 * it, else epoll_wait rounded up to whole milliseconds.
 *
 * Invariants:
 *   E1  the wake fd is in the set for the poller's whole life, data.fd == -1.
 *   E2  an fd reported by wait is disabled in the set until armed again.
 */
#define _GNU_SOURCE
#include "port/kc_poller.h"

#include "port/kc_deadline.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 35)
#define KC_HAVE_EPOLL_PWAIT2 1
#endif
#endif
#ifndef KC_HAVE_EPOLL_PWAIT2
#define KC_HAVE_EPOLL_PWAIT2 0
#endif

struct epoller {
    struct kc_poller base;
    int epfd;
    struct kc_wakefd wake;
    struct epoll_event buf[KC_POLL_BATCH];
};

static uint32_t to_epoll(uint32_t events)
{
    uint32_t e = EPOLLONESHOT;
    if (events & KC__POLL_IN)
        e |= EPOLLIN | EPOLLRDHUP;
    if (events & KC__POLL_OUT)
        e |= EPOLLOUT;
    return e;
}

static uint32_t from_epoll(uint32_t e)
{
    uint32_t r = 0;
    if (e & EPOLLIN)
        r |= KC__POLL_IN;
    if (e & EPOLLOUT)
        r |= KC__POLL_OUT;
    if (e & EPOLLERR)
        r |= KC__POLL_ERR;
    if (e & (EPOLLHUP | EPOLLRDHUP))
        r |= KC__POLL_HUP;
    return r;
}

static int ep_arm(struct kc_poller *base, int fd, uint32_t events, bool known)
{
    struct epoller *p = (struct epoller *)base;
    struct epoll_event ev = {.events = to_epoll(events), .data.fd = fd};
    int op = known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int r = epoll_ctl(p->epfd, op, fd, &ev);
    if (r < 0 && op == EPOLL_CTL_MOD && errno == ENOENT)
        r = epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev);
    else if (r < 0 && op == EPOLL_CTL_ADD && errno == EEXIST)
        r = epoll_ctl(p->epfd, EPOLL_CTL_MOD, fd, &ev);
    return r < 0 ? -errno : 0;
}

static int ep_attach(struct kc_poller *base, int fd, uint32_t events, bool known)
{
    struct epoller *p = (struct epoller *)base;
    struct epoll_event ev = {.events = (to_epoll(events) & ~(uint32_t)EPOLLONESHOT) | EPOLLET,
                             .data.fd = fd};
    int op = known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int r = epoll_ctl(p->epfd, op, fd, &ev);
    if (r < 0 && op == EPOLL_CTL_ADD && errno == EEXIST)
        r = epoll_ctl(p->epfd, EPOLL_CTL_MOD, fd, &ev);
    else if (r < 0 && op == EPOLL_CTL_MOD && errno == ENOENT)
        r = epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev);
    return r < 0 ? -errno : 0;
}

static int ep_disarm(struct kc_poller *base, int fd)
{
    struct epoller *p = (struct epoller *)base;
    struct epoll_event ev = {0};
    (void)epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, &ev); /* ENOENT/EBADF: gone already */
    return 0;
}

static int ep_wait(struct kc_poller *base, struct kc_poll_event *out, int max, int64_t timeout_ns)
{
    struct epoller *p = (struct epoller *)base;
    if (max > KC_POLL_BATCH)
        max = KC_POLL_BATCH;
    int n;
#if KC_HAVE_EPOLL_PWAIT2
    struct timespec ts = {(time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000)};
    n = epoll_pwait2(p->epfd, p->buf, max, timeout_ns < 0 ? NULL : &ts, NULL);
    if (n < 0 && errno == ENOSYS)
#endif
    {
        n = epoll_wait(p->epfd, p->buf, max, kc__timeout_ms(timeout_ns));
    }
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (p->buf[i].data.fd == -1) { /* E1 */
            kc__wakefd_drain(&p->wake);
            continue;
        }
        out[k].fd = p->buf[i].data.fd;
        out[k].events = from_epoll(p->buf[i].events);
        k++;
    }
    return k;
}

static void ep_wake(struct kc_poller *base)
{
    struct epoller *p = (struct epoller *)base;
    kc__wakefd_signal(&p->wake);
}

static void ep_close(struct kc_poller *base)
{
    struct epoller *p = (struct epoller *)base;
    kc__wakefd_close(&p->wake);
    close(p->epfd);
    free(p);
}

static const struct kc_poller_ops epoll_ops = {
    "epoll", ep_attach, ep_arm, ep_disarm, ep_wait, ep_wake, ep_close,
};

int kc__poller_open_epoll(struct kc_poller **out)
{
    struct epoller *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->base.ops = &epoll_ops;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        int e = -errno;
        free(p);
        return e;
    }
    int rc = kc__wakefd_open(&p->wake, false);
    if (rc < 0)
        goto out_close_epfd;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = -1};
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wake.rfd, &ev) < 0) {
        rc = -errno;
        goto out_close_wake;
    }
    *out = &p->base;
    return 0;

out_close_wake:
    kc__wakefd_close(&p->wake);
out_close_epfd:
    close(p->epfd);
    free(p);
    return rc;
}
