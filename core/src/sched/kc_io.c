/* kc_io.c - readiness waits: the per-fd waiter table and the poller glue.
 *
 * Each scheduler has one poller (kc_poller.h) and a two-level table of fd
 * slots, allocated a chunk of KC_IO_CHUNK fds at a time and never moved, so a
 * slot's address is stable. A slot holds at most one waiting reader and one
 * waiting writer (the same waiter when it waits for both) under the slot's
 * lock. kc_io_wait() registers its waiter, arms the fd one-shot for the union
 * of what the slot's waiters want, and parks. Workers poll (kc__io_poll): a
 * sleeping worker blocks in the poller, busy ones look without blocking every
 * KC_SCHED_FAIR_TICK picks; each ready fd's waiters get their events and are
 * unparked under the slot lock, and whoever still waits is armed again.
 *
 * An attached fd (kc_io_attach) is registered once, edge-triggered: an event
 * with no waiter is remembered in the slot's `ready` bits, which the next
 * wait consumes without parking; a wait with nothing ready parks with no
 * system call at all. ERR and HUP stay set until the fd is detached. It is
 * watched for input only, and for output only while a writer waits
 * (`out_watched`: one system call when the first writer parks, one when
 * the last leaves): a socket reports output every time its peer reads,
 * and each such report would wake a sleeping worker for nothing.
 *
 *   waiter      event                              next        done by
 *   ----------  ---------------------------------  ----------  -------------
 *   (none)      registered, fd armed               waiting     kc_io_wait
 *   waiting     fd ready: revents set, unparked    done        kc__io_poll
 *   waiting     timeout / cancel: leaves the slot  done        kc_io_wait
 *   waiting     the fd is closed: -EBADF, unparked done        kc_io_close
 *
 * Invariants:
 *   O1  slot->rd / slot->wr point only at waiters parked in kc_io_wait on
 *       that fd, and are cleared under the slot lock before they return.
 *   O2  a waiter's revents is written only under the slot lock, before it
 *       is unparked; the waiter reads it under the same lock.
 *   O3  io_waiting counts coroutines between arming and leaving the slot.
 */
#include "sched/kc_sched_impl.h"

#include "kcoro/io.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

_Static_assert(KC_IO_IN == KC__POLL_IN && KC_IO_OUT == KC__POLL_OUT && KC_IO_ERR == KC__POLL_ERR &&
                   KC_IO_HUP == KC__POLL_HUP,
               "public and port event bits must agree");

/* A waiter's revents bit for "the fd was closed under it" (kc_io_close):
 * never a KC_IO_* bit, never returned. */
#define KC__IO_CLOSED (1u << 30)

enum {
    KC_IO_CHUNK_LOG2 = 10,
    KC_IO_CHUNK = 1 << KC_IO_CHUNK_LOG2,
    KC_IO_CHUNKS = 4096
};

struct kc_io_waiter {
    kc_parker_t p;
    uint32_t revents; /* O2 */
};

struct kc_io_slot {
    kc_lock_t lock;
    bool armed;              /* registered with the poller before */
    bool attached;           /* edge-triggered for good (kc_io_attach) */
    bool out_watched;        /* attached: output watched too (a writer waits) */
    uint32_t ready;          /* attached: events seen with no waiter */
    struct kc_io_waiter *rd; /* O1 */
    struct kc_io_waiter *wr;
};

int kc__io_init(struct kc_sched *s)
{
    s->io_chunks = calloc(KC_IO_CHUNKS, sizeof(*s->io_chunks));
    if (s->io_chunks == NULL)
        return -ENOMEM;
    int rc = kc__poller_open(&s->poller);
    if (rc < 0) {
        free(s->io_chunks);
        s->io_chunks = NULL;
    }
    return rc;
}

void kc__io_fini(struct kc_sched *s)
{
    if (s->io_chunks != NULL)
        for (int i = 0; i < KC_IO_CHUNKS; i++)
            free(atomic_load_explicit(&s->io_chunks[i], memory_order_relaxed));
    free(s->io_chunks);
    s->io_chunks = NULL;
    kc__poller_close(s->poller);
    s->poller = NULL;
}

/* The slot of fd, creating its chunk when asked. NULL when fd is out of the
 * table's range or memory ran out (create), or the chunk does not exist. */
static struct kc_io_slot *slot_get(struct kc_sched *s, int fd, bool create)
{
    if (fd < 0 || (fd >> KC_IO_CHUNK_LOG2) >= KC_IO_CHUNKS)
        return NULL;
    struct kc_io_slot *_Atomic *cp = &s->io_chunks[fd >> KC_IO_CHUNK_LOG2];
    /* acquire: pairs with the release CAS below, so the zeroed chunk shows */
    struct kc_io_slot *c = atomic_load_explicit(cp, memory_order_acquire);
    if (c == NULL && create) {
        struct kc_io_slot *fresh = calloc(KC_IO_CHUNK, sizeof(*fresh));
        if (fresh == NULL)
            return NULL;
        /* acq_rel: publish the chunk, or read the one that won */
        if (atomic_compare_exchange_strong_explicit(cp, &c, fresh, memory_order_acq_rel,
                                                    memory_order_acquire))
            c = fresh;
        else
            free(fresh);
    }
    return c != NULL ? &c[fd & (KC_IO_CHUNK - 1)] : NULL;
}

static uint32_t wanted(const struct kc_io_slot *sl)
{
    return (sl->rd != NULL ? KC_IO_IN : 0) | (sl->wr != NULL ? KC_IO_OUT : 0);
}

/* Wake the waiter w with events r and take it out of the slot (O1, O2). */
static void deliver(struct kc_io_slot *sl, struct kc_io_waiter *w, uint32_t r)
{
    w->revents |= r;
    if (sl->rd == w)
        sl->rd = NULL;
    if (sl->wr == w)
        sl->wr = NULL;
    kc_unpark(&w->p);
}

int kc__io_poll(struct kc_sched *s, struct kc_worker *w, int64_t timeout_ns)
{
    struct kc_poll_event ev[64];
    KC_STAT_ADD(w, polls, 1);
    int n = kc__poller_wait(s->poller, ev, 64, timeout_ns);
    int woke = 0;
    for (int i = 0; i < n; i++) {
        struct kc_io_slot *sl = slot_get(s, ev[i].fd, false);
        if (sl == NULL)
            continue;
        uint32_t r = ev[i].events;
        kc__lock(&sl->lock);
        if (sl->attached) /* remember what nobody waits for yet */
            sl->ready |= r;
        if (sl->rd != NULL && (r & (KC_IO_IN | KC_IO_ERR | KC_IO_HUP))) {
            sl->ready &= ~KC_IO_IN;
            deliver(sl, sl->rd, r);
            woke++;
        }
        if (sl->wr != NULL && (r & (KC_IO_OUT | KC_IO_ERR | KC_IO_HUP))) {
            sl->ready &= ~KC_IO_OUT;
            deliver(sl, sl->wr, r);
            woke++;
        }
        uint32_t want = sl->attached ? 0 : wanted(sl);
        if (want != 0 && kc__poller_arm(s->poller, ev[i].fd, want, true) < 0) {
            if (sl->rd != NULL) /* cannot watch it any more: let them see why */
                deliver(sl, sl->rd, KC_IO_ERR);
            if (sl->wr != NULL)
                deliver(sl, sl->wr, KC_IO_ERR);
        }
        kc__unlock(&sl->lock);
    }
    return woke;
}

static int wait_task(struct kc_task *t, int fd, uint32_t events, int64_t timeout_ns,
                     const kc_cancel_t *cancel)
{
    struct kc_sched *s = t->sched;
    struct kc_io_slot *sl = slot_get(s, fd, true);
    if (sl == NULL)
        return fd >> KC_IO_CHUNK_LOG2 >= KC_IO_CHUNKS ? -EINVAL : -ENOMEM;
    struct kc_io_waiter me = {.revents = 0};
    kc_parker_init(&me.p);
    kc__lock(&sl->lock);
    if (((events & KC_IO_IN) && sl->rd != NULL) || ((events & KC_IO_OUT) && sl->wr != NULL)) {
        kc__unlock(&sl->lock);
        return -EBUSY;
    }
    if (sl->attached && (sl->ready & (events | KC_IO_ERR | KC_IO_HUP)) != 0) {
        uint32_t r = sl->ready & (events | KC_IO_ERR | KC_IO_HUP);
        sl->ready &= ~events; /* ERR and HUP stay */
        kc__unlock(&sl->lock);
        return (int)r;
    }
    if (events & KC_IO_IN)
        sl->rd = &me;
    if (events & KC_IO_OUT)
        sl->wr = &me;
    int rc = 0;
    if (!sl->attached) {
        rc = kc__poller_arm(s->poller, fd, wanted(sl), sl->armed);
    } else if (sl->wr != NULL && !sl->out_watched) {
        /* Reports output at once if the fd is writable by now. */
        rc = kc__poller_attach(s->poller, fd, KC_IO_IN | KC_IO_OUT, true);
        sl->out_watched = rc == 0;
    }
    if (rc < 0) {
        if (sl->rd == &me)
            sl->rd = NULL;
        if (sl->wr == &me)
            sl->wr = NULL;
        kc__unlock(&sl->lock);
        return rc == -EPERM ? (int)events : rc; /* not pollable: always ready */
    }
    sl->armed = true;
    kc__unlock(&sl->lock);
    atomic_fetch_add_explicit(&s->io_waiting, 1, memory_order_relaxed); /* O3 */
    KC_STAT_ADD(kc__sched_worker_self(), io_waits, 1);

    struct kc_task *waiter = kc__parker_task(&me.p);
    if (waiter != NULL) {
        kc__task_note_wait(waiter, KC_WAIT_FD, NULL, NULL, 0);
        kc__task_note_arg(waiter, NULL, (int64_t)fd << 8 | (int64_t)events);
    }
    rc = kc__park(&me.p, timeout_ns, cancel, true);

    atomic_fetch_sub_explicit(&s->io_waiting, 1, memory_order_relaxed);
    kc__lock(&sl->lock);
    bool left = sl->rd == &me || sl->wr == &me;
    if (sl->rd == &me)
        sl->rd = NULL;
    if (sl->wr == &me)
        sl->wr = NULL;
    if (left && !sl->attached && wanted(sl) != 0) /* the other direction waits */
        kc__poller_arm(s->poller, fd, wanted(sl), true);
    if (sl->attached && sl->out_watched && sl->wr == NULL) { /* the last writer left */
        kc__poller_attach(s->poller, fd, KC_IO_IN, true);
        sl->out_watched = false;
        sl->ready &= ~KC_IO_OUT;
    }
    uint32_t rev = me.revents; /* O2 */
    kc__unlock(&sl->lock);
    if ((rev & KC__IO_CLOSED) || ((rev & KC_IO_ERR) && !kc__port_fd_is_open(fd)))
        return -EBADF; /* closed under us, or (poll backend) not open at all */
    if (rev != 0)
        return (int)(rev & (events | KC_IO_ERR | KC_IO_HUP));
    return rc < 0 ? rc : (int)events;
}

static void wake_fd_cb(void *arg)
{
    kc__wakefd_signal(arg);
}

static int wait_thread(int fd, uint32_t events, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (cancel == NULL)
        return kc__port_wait_fd(fd, events, timeout_ns, NULL);
    struct kc_wakefd wf;
    int rc = kc__wakefd_open(&wf, kc__port_portable());
    if (rc < 0)
        return rc;
    kc_cancel_reg_t reg;
    if (kc_cancel_register(cancel, &reg, wake_fd_cb, &wf) == -ECANCELED) {
        kc__wakefd_close(&wf);
        return -ECANCELED;
    }
    int64_t deadline = kc__deadline_after(timeout_ns);
    for (;;) {
        rc = kc__port_wait_fd(fd, events, kc__deadline_left(deadline), &wf);
        if (kc_cancel_is_triggered(cancel)) {
            rc = -ECANCELED;
            break;
        }
        if (rc != 0)
            break;
    }
    kc_cancel_unregister(&reg);
    kc__wakefd_close(&wf);
    return rc;
}

int kc_io_wait(int fd, uint32_t events, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (fd < 0 || events == 0 || (events & ~(KC_IO_IN | KC_IO_OUT)) != 0)
        return -EINVAL;
    if (kc_cancel_is_triggered(cancel) || kc_sched_is_cancelled())
        return -ECANCELED;
    timeout_ns = kc__timeout_norm(timeout_ns);
    if (timeout_ns == 0) {
        int r = kc__port_wait_fd(fd, events, 0, NULL);
        return r == -ETIME ? -EAGAIN : r;
    }
    struct kc_task *t = kc__task_self();
    if (t == NULL)
        return wait_thread(fd, events, timeout_ns, cancel);
    return wait_task(t, fd, events, timeout_ns, cancel);
}

static struct kc_sched *sched_of(kc_sched_t *s)
{
    return s != NULL ? s : kc_sched_current();
}

int kc_io_attach(kc_sched_t *s, int fd)
{
    if ((s = sched_of(s)) == NULL)
        return -EPERM;
    if (fd < 0)
        return -EINVAL;
    struct kc_io_slot *sl = slot_get(s, fd, true);
    if (sl == NULL)
        return fd >> KC_IO_CHUNK_LOG2 >= KC_IO_CHUNKS ? -EINVAL : -ENOMEM;
    int rc = 0;
    kc__lock(&sl->lock);
    if (!sl->attached) {
        rc = kc__poller_attach(s->poller, fd, KC_IO_IN, false);
        if (rc == 0) {
            sl->attached = sl->armed = true;
            sl->out_watched = false;
            sl->ready = 0;
        } else if (rc == -ENOTSUP) {
            rc = 0; /* no edge-triggered mode: waits keep re-arming */
        }
    }
    kc__unlock(&sl->lock);
    return rc;
}

int kc_io_detach(kc_sched_t *s, int fd)
{
    if ((s = sched_of(s)) == NULL)
        return -EPERM;
    struct kc_io_slot *sl = slot_get(s, fd, false);
    if (sl == NULL)
        return fd < 0 ? -EINVAL : 0;
    int rc = 0;
    kc__lock(&sl->lock);
    if (sl->rd != NULL || sl->wr != NULL) {
        rc = -EBUSY;
    } else if (sl->attached) {
        kc__poller_disarm(s->poller, fd);
        sl->attached = sl->armed = sl->out_watched = false;
        sl->ready = 0;
    }
    kc__unlock(&sl->lock);
    return rc;
}

int kc_io_close(kc_sched_t *s, int fd)
{
    if (fd < 0)
        return -EINVAL;
    if ((s = sched_of(s)) == NULL)
        return -EPERM;
    struct kc_io_slot *sl = slot_get(s, fd, false);
    if (sl != NULL) {
        kc__lock(&sl->lock);
        if (sl->rd != NULL)
            deliver(sl, sl->rd, KC__IO_CLOSED);
        if (sl->wr != NULL)
            deliver(sl, sl->wr, KC__IO_CLOSED);
        if (sl->armed || sl->attached)
            kc__poller_disarm(s->poller, fd);
        sl->attached = sl->armed = sl->out_watched = false;
        sl->ready = 0;
        kc__unlock(&sl->lock);
    }
    return close(fd) == 0 ? 0 : -errno;
}

int kc_io_set_nonblock(int fd)
{
    return kc__port_set_nonblock(fd);
}
