/* kc_chan_seq.c - the seq ring's parts off the fast path.
 *
 * The lock-free operations are inline in kc_chan_seq.h. Here: the backoff
 * of a party that meets a slot its owner is still filling or emptying, and
 * the waiter's half of the handshake (announce, then settle the counter
 * back to the queue's length); the completing party's half, the wake of
 * one waiter, takes the channel's queues and is kc__chan_seq_notify_slow
 * in kc_chan_locked.c.
 */
#include "chan/kc_chan_seq.h"

#include "port/kc_futex.h"

void kc__chan_seq_backoff(unsigned *spins)
{
    if (++*spins < 16) {
        for (unsigned i = 0; i < 32u << (*spins / 4); i++)
            kc__port_relax();
    } else {
        kc__port_yield_thread(); /* the other party lost its core */
    }
}

void kc__chan_seq_announce(kc_chan_t *ch, bool send)
{
    _Atomic uint64_t *c = send ? &ch->ctr.send_waiting : &ch->ctr.recv_waiting;
    /* seq_cst: the waiter's half of the handshake (kc_chan_seq.h) */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_seq_cst);
}

void kc__chan_seq_settle(kc_chan_t *ch, bool send)
{
    kc__chan_sync_waiting(ch, send ? &ch->sendq : &ch->recvq);
}
