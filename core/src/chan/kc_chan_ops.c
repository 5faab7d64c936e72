/* kc_chan_ops.c - channel send and receive (copy, descriptor, pointer): fast path and wait.
 *
 * Every send and receive first tries to complete under the channel lock
 * (kc__chan_send_locked / kc__chan_recv_locked in kc_chan_locked.c). When it would
 * have to wait and may, it builds a waiter token on its own stack, owned
 * through a kc_parker_t (so the same code parks a scheduler coroutine or a
 * plain thread; a coroutine uses its task's own parker, K6 of kc_park.c,
 * a thread one on this stack; the owner ops are in kc_chan_park.c),
 * publishes it in the channel's queue, drops the lock and lets the token's
 * scope guard settle the outcome:
 *
 *   token     event                                  next       by
 *   --------  -------------------------------------  ---------  ----------------------------
 *   INIT      would wait: published in sendq/recvq   ENQUEUED   kc__chan_enqueue
 *   ENQUEUED  a peer moves the element (result 0)    CLAIMED    kc__chan_*_locked (peer)
 *   ENQUEUED  close (result -EPIPE)                  CLAIMED    kc_chan_close
 *   ENQUEUED  timeout / cancel: hook dequeues it     CANCELLED  settle -> cancel_hook
 *   ENQUEUED  a peer or close finds the owner         CANCELLED  take_peer (kc_chan_locked.c)
 *             cancelled (result -ECANCELED)
 *   any       the scope guard releases it            (dead)     kc__waiter_scope_end
 *
 * The first decision wins: a peer that claimed the token before the owner's
 * hook ran makes the call succeed even though its timeout has passed, and a
 * token that fired before a peer or a close came makes the call fail with
 * -ECANCELED even though its owner had not yet run its hook. The
 * owner then waits for the wake it is owed (the peer may still be about to
 * unpark it), without giving up even if its task is being cancelled, since
 * a thread's parker lives on this stack and a task's must be IDLE again
 * before its next wait (K6 of kc_park.c).
 */
#include "chan/kc_chan_impl.h"
#include "chan/kc_chan_seq.h"
#include "chan/kc_chan_svc.h"

#include "kcoro/sched.h"
#include "sched/kc_sched_svc.h"

#include <string.h>

int kc__chan_check_elem(const kc_chan_t *ch, const void *elem)
{
    if (!ch->desc && !ch->boxed)
        return 0;
    const kc_zdesc_t *d = elem;
    if (kc_zdesc_check(d) != 0)
        return -EINVAL;
    if (ch->boxed) { /* it takes a boxed element's place: same shape */
        if (!kc_zdesc_is_owned(d) || !kc_zdesc_has_ticket(d) || d->len < ch->elem_size)
            return -EINVAL;
        if (d->len > ch->elem_size)
            return -EMSGSIZE;
    } else if (ch->max_desc_len != 0 && d->len > ch->max_desc_len) {
        return -EMSGSIZE;
    }
    if (ch->arena != NULL && kc_zdesc_has_ticket(d))
        return kc__zdesc_vet(d, ch->arena); /* 0 or -ESTALE */
    return 0;
}

/* Publish a token for elem in ch (locked by the caller), drop the lock and
 * settle. Returns the outcome: 0, -EPIPE, -ETIME or -ECANCELED (or a slot
 * channel's KC__CHAN_RETRY). Unless self_leave, whoever decided the wait
 * has counted its failure and the wait has left the channel: the caller
 * must not touch ch again (see struct kc__chan_owner). */
static int wait_locked(kc_chan_t *ch, bool send, void *elem, int64_t timeout_ns,
                       const kc_cancel_t *cancel, bool self_leave)
{
    kc_waiter_t w;
    struct kc__chan_owner o;
    kc_waiter_scope_t sc;
    kc__chan_owner_init(&o, &w, cancel);
    o.self_leave = self_leave;
    kc__waiter_init(&w, send ? KC_WAITER_SENDER : KC_WAITER_RECEIVER, &o, &kc__chan_owner_ops);
    if (send)
        kc__waiter_put_bytes(&w, elem, elem != NULL ? ch->slot_size : 0); /* NULL: room */
    else
        kc__waiter_want_bytes(&w, elem, ch->slot_size);
    kc__waiter_scope_begin(&sc, &w);
    kc__chan_enqueue(ch, &w, send);
    kc__unlock(&ch->lock);
    struct kc_task *t = kc__parker_task(o.parker);
    /* relaxed: a note missed while a check is being switched on only makes
     * that report less precise */
    if (t != NULL && atomic_load_explicit(&kc__deadlock_watched, memory_order_relaxed) != 0)
        kc__task_note_chan(t, send ? KC_WAIT_SEND : KC_WAIT_RECV, ch, ch->name);
    if (t != NULL && timeout_ns == KC_NO_TIMEOUT && cancel == NULL)
        return kc__waiter_scope_end_parked(&sc, kc__chan_park_untimed(&o, t), KC_NO_TIMEOUT);
    return kc__waiter_scope_end(&sc, timeout_ns);
}

/* kc__chan_transfer on a seq-ring channel (kc_chan_seq.h) once its lock-free
 * attempt could not complete: the locked attempt after announcing the
 * wait, then the wait itself. A wait that ends with KC__CHAN_RETRY (room
 * was made, an element arrived, or the channel closed) tries lock-free
 * again and goes round with what is left of the timeout; the token check
 * is not repeated first, so the chance it was woken for is used (the
 * locked attempt still answers -ECANCELED when it cannot complete). */
__attribute__((noinline)) static int seq_transfer(kc_chan_t *ch, bool send, void *elem,
                                                  int64_t timeout_ns, const kc_cancel_t *cancel)
{
    int64_t deadline = kc__deadline_after(timeout_ns);
    bool timed = timeout_ns != 0;
    uint64_t waits = 0; /* tokens published: they leave at the end (self_leave) */
    int rc;
    for (;;) {
        kc_waiter_t *wake = NULL;
        bool wait = timeout_ns != 0;
        kc__lock(&ch->lock);
        if (wait)
            kc__chan_seq_announce(ch, send);
        rc = send ? kc__chan_send_locked(ch, elem, &wake) : kc__chan_recv_locked(ch, elem, &wake);
        if (cancel != NULL && (rc == -EAGAIN || rc == -EPIPE) && kc_cancel_is_triggered(cancel))
            rc = -ECANCELED;
        if (rc == -EAGAIN && wait) {
            if (cancel != NULL && waits == 0)
                kc__cancel_hold(cancel); /* the token stays ours until we return */
            waits++;
            rc = wait_locked(ch, send, elem, timeout_ns, cancel, true); /* unlocks */
            if (rc == KC__CHAN_RETRY) {
                timeout_ns = kc__deadline_left(deadline);
                if (kc__chan_seq_try(ch, send, elem)) {
                    rc = 0;
                    break;
                }
                continue;
            }
        } else {
            if (wait)
                kc__chan_seq_settle(ch, send);
            kc__unlock(&ch->lock);
            kc__chan_wake(wake);
            if (rc == -EAGAIN && timed)
                rc = -ETIME; /* woken to try again after its time ran out */
        }
        break;
    }
    if (rc != 0)
        kc__chan_fail(ch, rc);
    kc__chan_leave(ch, waits); /* the last touch of ch */
    if (waits != 0 && cancel != NULL)
        kc__cancel_release(cancel);
    return rc;
}

/* The one path of every send and receive, copy or descriptor. elem is
 * validated by the caller (kc__chan_check_elem for sends).
 *
 * flatten: everything it calls is inlined into it (the locked step, the
 * token, the wake, the park up to the switch), so one send or receive is
 * one function and a few calls. Measured on the ping-pong: 1,317 -> 1,132
 * instructions and 121 -> 85 ns per round trip, more than the count
 * explains (fewer calls and returns around the switch). Safe because
 * every thread-local of the runtime is reached through a noinline
 * accessor, which flatten leaves alone (ARCHITECTURE.md section 6), and
 * kc_coro_yield_to, the switch, is noinline too. */
static inline __attribute__((always_inline)) int transfer(kc_chan_t *ch, bool send, void *elem,
                                                          int64_t timeout_ns,
                                                          const kc_cancel_t *cancel,
                                                          bool *waited /* OUT, or NULL */)
{
    if (cancel != NULL && kc_cancel_is_triggered(cancel))
        return kc__chan_fail(ch, -ECANCELED);
    if (ch->seqring)
        return __builtin_expect(kc__chan_seq_try(ch, send, elem), 1)
                   ? 0
                   : seq_transfer(ch, send, elem, timeout_ns, cancel);
    kc_waiter_t *wake = NULL;
    kc__lock(&ch->lock);
    int rc = send ? kc__chan_send_locked(ch, elem, &wake) : kc__chan_recv_locked(ch, elem, &wake);
    if (__builtin_expect(rc == 0, 1)) {
        kc__unlock(&ch->lock);
        kc__chan_wake(wake);
        return 0;
    }
    if (cancel != NULL && (rc == -EAGAIN || rc == -EPIPE) && kc_cancel_is_triggered(cancel))
        rc = -ECANCELED; /* it fired since the check above: cancel still comes first */
    if (rc == -EAGAIN && timeout_ns != 0) {
        /* The wait: its decider counts and takes it out of the channel
         * (the lifetime rule), unless the caller touches ch afterwards. */
        if (cancel != NULL)
            kc__cancel_hold(cancel); /* peers read it while the token is queued */
        rc = wait_locked(ch, send, elem, timeout_ns, cancel, waited != NULL);
        if (cancel != NULL)
            kc__cancel_release(cancel);
        if (waited == NULL)
            return rc; /* counted; ch may be gone */
        *waited = true;
    } else {
        kc__unlock(&ch->lock);
    }
    return rc == 0 ? 0 : kc__chan_fail(ch, rc);
}

__attribute__((flatten)) int kc__chan_transfer(kc_chan_t *ch, bool send, void *elem,
                                               int64_t timeout_ns, const kc_cancel_t *cancel)
{
    return transfer(ch, send, elem, timeout_ns, cancel, NULL);
}

int kc__chan_transfer_stay(kc_chan_t *ch, bool send, void *elem, int64_t timeout_ns,
                           const kc_cancel_t *cancel, bool *waited)
{
    *waited = false;
    return transfer(ch, send, elem, timeout_ns, cancel, waited);
}

/* Under ch->lock: could a send complete now without waiting? 0 (room, or
 * a policy that never waits), -EPIPE (closed) or -EAGAIN (full). */
static int room_locked(const kc_chan_t *ch)
{
    if (atomic_load_explicit(&ch->closed, memory_order_relaxed))
        return -EPIPE;
    if (ch->policy != KC_CHAN_SUSPEND || ch->capacity == SIZE_MAX)
        return 0;
    /* seq_cst: on a seq-ring channel this is the announced waiter's last
     * look (the handshake of kc_chan_seq.h), as a sender's full check */
    uint64_t r = atomic_load_explicit(&ch->recv_idx, memory_order_seq_cst);
    return kc__chan_send_idx(ch) - r < ch->capacity ? 0 : -EAGAIN;
}

/* The room waiter (kc_chan_svc.h): the send path's wait with a token that
 * carries nothing (kc__chan_is_room_token), so whoever frees a slot wakes
 * it and moves nothing (R1, R2 of kc_chan_locked.c). The token leaves the
 * channel itself (self_leave), and its failures are not the channel's:
 * nothing is sent. */
int kc__chan_wait_room(kc_chan_t *ch, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (ch == NULL || ch->rops != NULL || ch->kind == KC_CHAN_RENDEZVOUS)
        return -EINVAL;
    timeout_ns = kc__timeout_norm(timeout_ns);
    if (cancel != NULL && kc_cancel_is_triggered(cancel))
        return -ECANCELED;
    kc__lock(&ch->lock);
    bool wait = timeout_ns != 0;
    if (wait && ch->seqring)
        kc__chan_seq_announce(ch, true); /* the handshake: a receive after this sees us */
    int rc = room_locked(ch);
    if (rc == -EAGAIN && cancel != NULL && kc_cancel_is_triggered(cancel))
        rc = -ECANCELED;
    if (rc != -EAGAIN || !wait) {
        if (wait && ch->seqring)
            kc__chan_seq_settle(ch, true);
        kc__unlock(&ch->lock);
        return rc;
    }
    if (cancel != NULL)
        kc__cancel_hold(cancel);
    rc = wait_locked(ch, true, NULL, timeout_ns, cancel, true); /* unlocks */
    if (cancel != NULL)
        kc__cancel_release(cancel);
    kc__chan_leave(ch, 1); /* the last touch of ch */
    return rc == KC__CHAN_RETRY ? 0 : rc;
}
