/* kc_chan_svc.h - the channel layer's service to the layers above: remote channels.
 *
 * A *remote* channel is a kc_chan_t whose elements live elsewhere (in
 * another process, behind a connection of the distribution layer). It is
 * created here with an operations table; every public call on it (send,
 * receive, their try and timed variants, close, destroy, snapshot, dump)
 * works, and the channel layer keeps its counters, its closed flag and its
 * undelivered callback exactly as for a local channel, so a snapshot or a
 * dump of a remote channel reads like any other. The operations move
 * elements only; they never count.
 *
 * The hook costs the local channels nothing on their fast paths: a copy
 * send or receive already tests one byte of the channel (`detour`, which
 * also sends boxed channels to the arena); a remote channel sets another
 * bit of that byte. Arenas are offered on remote descriptor channels only.
 *
 * Select (kc_select_remote.c): a remote channel given the four select
 * operations (kc__chan_remote_set_select) can be a clause of kc_chan_select, mixed with local
 * clauses. Its readiness comes from the other side: the select arms the
 * clause with a waker (its clause token) and parks; the remote side fires
 * the waker (kc__chan_select_fire) when the clause may be ready, racing on
 * the select's one claim word with local peers, close, the timeout and the
 * cancellation, exactly as a local peer does; the winner of that word
 * decides the select. A fire that won makes the select complete that clause
 * first (sel_complete with the arming's cookie: the claim), and a claim the other
 * side rejects makes the select run again and re-arm.
 */
#ifndef KCORO_KC_CHAN_SVC_H
#define KCORO_KC_CHAN_SVC_H

#include "kcoro/chan.h"

struct kc_waiter; /* a select clause's token (the waker of sel_arm), opaque here */

/* What a remote channel does. Every operation is called without any lock
 * of the channel layer held, from the caller's task or thread, and may
 * park. `impl` is the pointer given to kc__chan_remote_create. */
typedef struct kc__chan_remote_ops {
    /* Send the elem_size bytes at elem (BORROWED for the call). Returns 0
     * or -EAGAIN, -ETIME, -ECANCELED, -EPIPE, -ECONNRESET, -ENOMEM.
     * timeout_ns is KC_NO_TIMEOUT, 0 (try) or > 0. Can block or yield. */
    int (*send)(void *impl, const void *elem, int64_t timeout_ns, const kc_cancel_t *cancel);
    /* Receive one element into out (elem_size bytes). Returns as send. */
    int (*recv)(void *impl, void *out, int64_t timeout_ns, const kc_cancel_t *cancel);
    /* The user closed the channel (called once, after the channel layer
     * marked it closed). Never blocks. */
    void (*close)(void *impl, int reason);
    /* Elements waiting in the channel's local buffers (for kc_chan_len
     * and snapshots). Never blocks. */
    size_t (*len)(void *impl);
    /* Free impl if no call is inside; returns 0 (then the channel layer
     * frees the channel) or -EBUSY (nothing changed). Elements never to be
     * received go to kc__chan_remote_undelivered first. Never blocks. */
    int (*destroy)(void *impl);
} kc__chan_remote_ops_t;

/* What a remote channel does in a select (all four operations; a remote
 * channel without them makes a select over it fail with -ENOTSUP). impl
 * is the channel's. */
typedef struct kc__chan_remote_sel_ops {
    /* send says which kind of clause; buf is a send clause's
     * element (BORROWED for the call) or where a receive clause's element
     * goes. Called from the selecting task or thread, without any lock of
     * the channel layer held; a select calls them only between its start
     * and its return, so the channel is not destroyed meanwhile. */
    /* A guess, like the local peek: could sel_complete succeed now? May be
     * wrong either way (a wrong true costs one sel_complete). Never blocks. */
    bool (*sel_ready)(void *impl, bool send);
    /* Complete the clause now if that needs no wait for a peer: 0 (the
     * element moved: taken from, or put into, the channel), -EAGAIN (not
     * now: nothing there, or the other side rejected the claim), -EPIPE or
     * -ECONNRESET (closed; a receive only once nothing is left for it),
     * -ENOMEM. claim: 0 for a plain attempt, else the cookie of the arming
     * whose waker fired and won the select's claim word (nothing else can
     * complete the select first; the call must end that claim one way or
     * the other). May wait for one bounded exchange with the other side (a
     * claim and its answer), never for a peer of the channel. */
    int (*sel_complete)(void *impl, bool send, void *buf, uint64_t claim);
    /* From now until sel_disarm returns, fire wk (kc__chan_select_fire)
     * when the clause may have become ready: an element or room appeared,
     * the channel closed, the connection was lost; at once (from inside
     * this call) when it looks ready already. A fire that lost (false)
     * means the select was decided otherwise: pass the readiness on to
     * another waiter if one could use it. OUT *cookie: a nonzero name of
     * this arming, given back to sel_disarm and, when its fire won, to
     * sel_complete. Returns 0, or a negative errno that fails the select
     * (-ENOMEM, -ECONNRESET). Never blocks. */
    int (*sel_arm)(void *impl, bool send, struct kc_waiter *wk, uint64_t *cookie /* OUT */);
    /* Undo the arming named cookie: when it returns, its token is not
     * touched again (a fire that runs meanwhile has returned; serialise the
     * two with a lock). Never blocks for long. */
    void (*sel_disarm)(void *impl, bool send, uint64_t cookie);
} kc__chan_remote_sel_ops_t;

/* Wait until a send on local channel ch would not have to wait, without
 * sending: the *room waiter*, for a party that must learn when room
 * appears but has nothing to send yet (an owner of remote select answering
 * a remote send clause). It queues a sender with nothing to send, which
 * the receive that frees a slot wakes at once, leaving the slot for a real
 * sender (R1, R2 of kc_chan_locked.c); no polling. Returns 0 (there is
 * room now, or was when the waiter was woken: a sender may have taken it
 * since; a channel whose policy never waits, or an unlimited one, always
 * has room), -EPIPE (closed), -EAGAIN (timeout 0 and full), -ETIME,
 * -ECANCELED, -EINVAL (NULL, a rendezvous or a remote channel). The one
 * timeout rule. A withdrawn wait counts in the channel's cancelled
 * waiters, nothing else. Can block or yield. */
int kc__chan_wait_room(kc_chan_t *ch, int64_t timeout_ns, const kc_cancel_t *cancel);

/* Give remote channel ch its select operations (BORROWED for the
 * channel's life), before any select can see it. Returns 0, or -EINVAL
 * (not a remote channel, NULL, an operation missing). Never blocks. */
int kc__chan_remote_set_select(kc_chan_t *ch, const kc__chan_remote_sel_ops_t *sel);

/* Create a remote channel of opts' kind, capacity, element size, name and
 * undelivered callback: copied elements without an arena, or descriptors
 * (elem_size 0) with opts->arena, the arena their payloads arrive in, and
 * opts->max_desc_len (anything else: -ENOTSUP). A descriptor send is
 * checked as on a local descriptor channel with an arena (-EINVAL,
 * -EMSGSIZE, -ESTALE) and must be an owned arena payload (-EINVAL); the
 * operations then get the kc_zdesc_t, whose reference a send that returns
 * 0 moves to them. ops
 * (BORROWED for the channel's life) and impl are its behaviour.
 * OUT *out: GIVES a channel that kc_chan_destroy frees (after ops->destroy
 * said 0). Errors: -EINVAL; -ENOTSUP; -ENOMEM. Never blocks. */
int kc__chan_remote_create(kc_chan_t **out, const kc_chan_opts_t *opts,
                           const kc__chan_remote_ops_t *ops, void *impl);

/* A send on a closed remote channel fails before reaching the operations:
 * -ECONNRESET when it was closed with that reason (the connection was
 * lost), -EPIPE otherwise. Receives always reach them (they drain first).
 *
 * The other side closed the channel with reason (a negative errno or 0):
 * the channel reads closed from now on (kc_chan_is_closed); the first
 * close, local or remote, sets the reason. Returns true if this call
 * closed it. Never blocks. */
bool kc__chan_remote_closed(kc_chan_t *ch, int reason);

/* An element of ch that will never be received: count it and hand it to
 * the channel's undelivered callback, if any. Works for every channel of
 * copied elements (a remote channel's leftovers, or elements a peer sent
 * for a local channel that closed before they arrived). Never blocks
 * unless the callback does. */
void kc__chan_remote_undelivered(kc_chan_t *ch, const void *elem);

/* The waker of an armed select clause (sel_arm): the clause may be
 * ready. One CAS on the select's claim word, racing its local clauses'
 * peers, closes, its timeout and its cancellation: true when it won (the
 * select wakes and first calls sel_complete with this arming's cookie,
 * exactly once), false when the select was decided otherwise or
 * its owner was cancelled (then it is withdrawn with -ECANCELED here).
 * Call only between sel_arm and the end of sel_disarm. Never blocks. */
bool kc__chan_select_fire(struct kc_waiter *wk);

/* The arena attached to ch (NULL: none, or NULL ch) and, in *max_desc_len
 * (may be NULL), its longest descriptor (0: any). Never blocks. */
kc_arena_t *kc__chan_arena_of(const kc_chan_t *ch, size_t *max_desc_len /* OUT */);

/* The impl pointer of a remote channel (NULL for any other). */
void *kc__chan_remote_impl(const kc_chan_t *ch);

#endif /* KCORO_KC_CHAN_SVC_H */
