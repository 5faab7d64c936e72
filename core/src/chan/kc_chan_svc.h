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
 * bit of that byte. Select and arenas are not offered on remote channels
 * (-ENOTSUP) until remote select exists.
 */
#ifndef KCORO_KC_CHAN_SVC_H
#define KCORO_KC_CHAN_SVC_H

#include "kcoro/chan.h"

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

/* Create a remote channel of opts' kind, capacity, element size, name and
 * undelivered callback (descriptor channels and arenas: -ENOTSUP). ops
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

/* The impl pointer of a remote channel (NULL for any other). */
void *kc__chan_remote_impl(const kc_chan_t *ch);

#endif /* KCORO_KC_CHAN_SVC_H */
