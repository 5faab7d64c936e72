/* kc_poller_poll.c - the portable poller: poll() over an array of armed fds.
 *
 * The POSIX fallback behind kc_poller.h. Armed fds live in a dense pollfd
 * array with an fd-indexed position table, so arm and disarm cost O(1). A
 * wait copies the array (plus the wake fd) under the lock, polls without it,
 * then reports each ready fd once and removes it from the array: the same
 * one-shot contract as EPOLLONESHOT. An fd armed while a wait is blocked
 * signals the wake fd, so the waiter starts over with the new set. Timeouts
 * are whole milliseconds, rounded up.
 *
 * Invariants:
 *   P1  pos[fd] == i + 1 exactly when fds[i].fd == fd; 0 means not armed.
 *   P2  every entry of fds[0, n) has a non-zero events mask.
 */
#include "port/kc_poller.h"

#include "port/kc_deadline.h"
#include "port/kc_futex.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct poller_poll {
    struct kc_poller base;
    kc_lock_t lock;
    struct pollfd *fds; /* armed entries; guarded by lock */
    size_t n, cap;
    unsigned *pos; /* P1; guarded by lock */
    size_t pos_cap;
    struct pollfd *scratch; /* the waiter's copy; only the waiter uses it */
    size_t scratch_cap;
    bool waiting; /* a wait is inside poll(); guarded by lock */
    struct kc_wakefd wake;
};

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (q == NULL)
        return false;
    memset((char *)q + *cap * elem, 0, (c - *cap) * elem);
    *p = q;
    *cap = c;
    return true;
}

static void remove_at(struct poller_poll *p, size_t i)
{
    p->pos[p->fds[i].fd] = 0;
    p->n--;
    if (i != p->n) {
        p->fds[i] = p->fds[p->n];
        p->pos[p->fds[i].fd] = (unsigned)i + 1;
    }
}

static int pl_arm(struct kc_poller *base, int fd, uint32_t events, bool known)
{
    struct poller_poll *p = (struct poller_poll *)base;
    (void)known;
    if (fd < 0 || fcntl(fd, F_GETFD) < 0)
        return -EBADF;
    short pev =
        (short)(((events & KC__POLL_IN) ? POLLIN : 0) | ((events & KC__POLL_OUT) ? POLLOUT : 0));
    int rc = 0;
    kc__lock(&p->lock);
    if (!grow((void **)&p->pos, &p->pos_cap, (size_t)fd + 1, sizeof(*p->pos)) ||
        !grow((void **)&p->fds, &p->cap, p->n + 1, sizeof(*p->fds))) {
        rc = -ENOMEM;
    } else if (p->pos[fd] != 0) {
        p->fds[p->pos[fd] - 1].events = pev;
    } else if (pev != 0) { /* P2 */
        p->fds[p->n] = (struct pollfd){.fd = fd, .events = pev};
        p->pos[fd] = (unsigned)++p->n;
    }
    bool kick = p->waiting;
    kc__unlock(&p->lock);
    if (kick)
        kc__wakefd_signal(&p->wake);
    return rc;
}

static int pl_attach(struct kc_poller *base, int fd, uint32_t events, bool known)
{
    (void)base;
    (void)fd;
    (void)events;
    (void)known;
    return -ENOTSUP; /* poll() has no edge-triggered mode */
}

static int pl_disarm(struct kc_poller *base, int fd)
{
    struct poller_poll *p = (struct poller_poll *)base;
    kc__lock(&p->lock);
    if (fd >= 0 && (size_t)fd < p->pos_cap && p->pos[fd] != 0)
        remove_at(p, p->pos[fd] - 1);
    kc__unlock(&p->lock);
    return 0;
}

static uint32_t from_poll(short r)
{
    uint32_t e = 0;
    if (r & POLLIN)
        e |= KC__POLL_IN;
    if (r & POLLOUT)
        e |= KC__POLL_OUT;
    if (r & (POLLERR | POLLNVAL))
        e |= KC__POLL_ERR;
    if (r & POLLHUP)
        e |= KC__POLL_HUP;
    return e;
}

static int pl_wait(struct kc_poller *base, struct kc_poll_event *out, int max, int64_t timeout_ns)
{
    struct poller_poll *p = (struct poller_poll *)base;
    kc__lock(&p->lock);
    if (!grow((void **)&p->scratch, &p->scratch_cap, p->n + 1, sizeof(*p->scratch))) {
        kc__unlock(&p->lock);
        return -ENOMEM;
    }
    size_t n = p->n;
    if (n > 0) /* fds may still be NULL */
        memcpy(p->scratch, p->fds, n * sizeof(*p->fds));
    p->scratch[n] = (struct pollfd){.fd = p->wake.rfd, .events = POLLIN};
    p->waiting = true;
    kc__unlock(&p->lock);

    int ms = kc__timeout_ms(timeout_ns);
    int r = poll(p->scratch, (nfds_t)n + 1, ms);
    int err = r < 0 ? errno : 0;

    int k = 0;
    kc__lock(&p->lock);
    p->waiting = false;
    for (size_t i = 0; r > 0 && i < n && k < max; i++) {
        struct pollfd *s = &p->scratch[i];
        if (s->revents == 0 || (size_t)s->fd >= p->pos_cap || p->pos[s->fd] == 0)
            continue; /* not ready, or disarmed while we polled */
        struct pollfd *cur = &p->fds[p->pos[s->fd] - 1];
        uint32_t ev = from_poll(s->revents & (short)(cur->events | POLLERR | POLLHUP | POLLNVAL));
        if (ev == 0)
            continue;
        out[k++] = (struct kc_poll_event){s->fd, ev};
        remove_at(p, p->pos[s->fd] - 1); /* one-shot */
    }
    kc__unlock(&p->lock);
    if (r > 0 && p->scratch[n].revents != 0)
        kc__wakefd_drain(&p->wake);
    if (r < 0)
        return err == EINTR ? 0 : -err;
    return k;
}

static void pl_wake(struct kc_poller *base)
{
    struct poller_poll *p = (struct poller_poll *)base;
    kc__wakefd_signal(&p->wake);
}

static void pl_close(struct kc_poller *base)
{
    struct poller_poll *p = (struct poller_poll *)base;
    kc__wakefd_close(&p->wake);
    free(p->fds);
    free(p->pos);
    free(p->scratch);
    free(p);
}

static const struct kc_poller_ops poll_ops = {
    "poll", pl_attach, pl_arm, pl_disarm, pl_wait, pl_wake, pl_close,
};

int kc__poller_open_poll(struct kc_poller **out)
{
    struct poller_poll *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->base.ops = &poll_ops;
    int rc = kc__wakefd_open(&p->wake, true);
    if (rc < 0) {
        free(p);
        return rc;
    }
    *out = &p->base;
    return 0;
}
