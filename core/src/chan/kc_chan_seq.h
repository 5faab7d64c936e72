/* kc_chan_seq.h - the seq ring: the lock-free ring of seq-ring channels.
 *
 * Private to core/src/chan. Its operations are inline: every buffered
 * send and receive of a seq-ring channel runs them (kc_chan_ops.c), so
 * they must compile into the caller. The parts off the fast path are in
 * kc_chan_seq.c (the backoff, and the waiter's half of the handshake) and
 * kc_chan_locked.c (the wake of one waiter, under the lock, and the slot
 * words' first lap at creation).
 *
 * "Seq ring" names this ring and nothing else: the rendezvous cell of the
 * graduated waiter_token module (kc_rv_cell.h) is an unrelated idea.
 */
#ifndef KCORO_KC_CHAN_SEQ_H
#define KCORO_KC_CHAN_SEQ_H

#include "chan/kc_chan_impl.h"

/* ---- seq-ring channels
 *
 * A buffered channel with the SUSPEND policy, plain copied elements, no
 * arena and a power-of-two capacity is a *seq-ring channel*: its ring is a
 * sequence of slots, one per reservation index, each a sequence word and
 * the element (the counters-and-cells idea of Koval, Alistarh and
 * Elizarov's channel, on a bounded ring as in Vyukov's MPMC queue). A
 * sender reserves index i by CAS on send_idx when slot i's word says it is
 * free for that lap (word == i), writes the element and publishes it
 * (word = i + 1, release); a receiver reserves i by CAS on recv_idx when
 * the word says it is full (i + 1), copies the element out and frees the
 * slot for the next lap (word = i + ring_slots). Neither takes the lock.
 *
 * Waiting still goes through the lock and the queues, but a waiter of a
 * seq-ring channel is never handed an element: the party that makes room or
 * fills a slot claims one waiter of the other side with KC__CHAN_RETRY,
 * and the woken owner tries again. The handshake that keeps a wake from
 * being lost: a party about to wait first raises its side's waiting
 * counter (seq_cst) and only then makes its last attempt, under the lock;
 * a party that completed an operation reserved by a seq_cst CAS and then
 * reads the other side's counter (seq_cst). One of the two sees the other.
 * The operations: kc__chan_seq_send/_recv and kc__chan_seq_notify here
 * (lock-free), kc__chan_seq_announce/_settle in kc_chan_seq.c and
 * kc__chan_seq_notify_slow in kc_chan_locked.c. */

/* The result a seq-ring channel gives a waiter it wakes without moving an
 * element: try again. Internal, never returned to a caller. */
#define KC__CHAN_RETRY 1

/* Outcomes of the lock-free seq ring operations. */
enum {
    KC__SEQ_OK = 0,
    KC__SEQ_FULL = 1,  /* send: every slot holds an element */
    KC__SEQ_EMPTY = 2, /* receive: no slot holds one */
    KC__SEQ_CLOSED = 3 /* send: the channel is closed */
};

/* Slot i's sequence word and element. */
static inline _Atomic uint64_t *kc__chan_seq_word(const kc_chan_t *ch, uint64_t i)
{
    return (_Atomic uint64_t *)(void *)(ch->ring + (size_t)(i & (ch->ring_slots - 1)) * ch->stride);
}

static inline unsigned char *kc__chan_seq_elem(const kc_chan_t *ch, uint64_t i)
{
    return ch->ring + (size_t)(i & (ch->ring_slots - 1)) * ch->stride + sizeof(uint64_t);
}

/* A reserved slot whose owner has not finished with it yet (a thread the
 * OS took the core from between its CAS and its store): wait a little. */
void kc__chan_seq_backoff(unsigned *spins /* INOUT */);

/* Put the slot_size bytes at src in the next slot. KC__SEQ_OK,
 * KC__SEQ_FULL or KC__SEQ_CLOSED. Lock-free; never blocks. */
static inline __attribute__((always_inline)) int kc__chan_seq_send(kc_chan_t *ch, const void *src)
{
    uint64_t pos = atomic_load_explicit(&ch->send_idx, memory_order_relaxed);
    unsigned spins = 0;
    for (;;) {
        if (pos & KC__CHAN_SEND_CLOSED)
            return KC__SEQ_CLOSED;
        _Atomic uint64_t *seq = kc__chan_seq_word(ch, pos);
        /* acquire: pairs with the receiver's release that freed the slot */
        int64_t dif = (int64_t)(atomic_load_explicit(seq, memory_order_acquire) - pos);
        if (dif == 0) {
            /* seq_cst: the handshake with a waiting receiver (see above) */
            if (atomic_compare_exchange_weak_explicit(&ch->send_idx, &pos, pos + 1,
                                                      memory_order_seq_cst, memory_order_relaxed)) {
                kc__chan_copy_elem(kc__chan_seq_elem(ch, pos), src, ch->slot_size);
                /* release: publishes the element to the receiver's acquire */
                atomic_store_explicit(seq, pos + 1, memory_order_release);
                return KC__SEQ_OK;
            }
        } else if (dif < 0) {
            /* the slot still holds last lap's element: full, or its
             * receiver reserved it and is still copying it out */
            /* seq_cst: a sender that announced it may wait sees every
             * receive reserved before its announcement (the handshake) */
            if (pos - atomic_load_explicit(&ch->recv_idx, memory_order_seq_cst) >= ch->ring_slots)
                return KC__SEQ_FULL;
            kc__chan_seq_backoff(&spins);
            pos = atomic_load_explicit(&ch->send_idx, memory_order_relaxed);
        } else {
            pos = atomic_load_explicit(&ch->send_idx, memory_order_relaxed);
        }
    }
}

/* Take the oldest element into dst. KC__SEQ_OK or KC__SEQ_EMPTY.
 * Lock-free; never blocks. */
static inline __attribute__((always_inline)) int kc__chan_seq_recv(kc_chan_t *ch, void *dst)
{
    uint64_t pos = atomic_load_explicit(&ch->recv_idx, memory_order_relaxed);
    unsigned spins = 0;
    for (;;) {
        _Atomic uint64_t *seq = kc__chan_seq_word(ch, pos);
        /* acquire: pairs with the sender's release that published it */
        int64_t dif = (int64_t)(atomic_load_explicit(seq, memory_order_acquire) - (pos + 1));
        if (dif == 0) {
            /* seq_cst: the handshake with a waiting sender (see above) */
            if (atomic_compare_exchange_weak_explicit(&ch->recv_idx, &pos, pos + 1,
                                                      memory_order_seq_cst, memory_order_relaxed)) {
                kc__chan_copy_elem(dst, kc__chan_seq_elem(ch, pos), ch->slot_size);
                /* release: hands the free slot to the next lap's sender */
                atomic_store_explicit(seq, pos + ch->ring_slots, memory_order_release);
                return KC__SEQ_OK;
            }
        } else if (dif < 0) {
            /* not filled for this lap: empty, or its sender reserved it
             * and is still copying the element in */
            /* seq_cst: as in kc__chan_seq_send, for a receiver */
            if ((atomic_load_explicit(&ch->send_idx, memory_order_seq_cst) &
                 ~KC__CHAN_SEND_CLOSED) == pos)
                return KC__SEQ_EMPTY;
            kc__chan_seq_backoff(&spins);
            pos = atomic_load_explicit(&ch->recv_idx, memory_order_relaxed);
        } else {
            pos = atomic_load_explicit(&ch->recv_idx, memory_order_relaxed);
        }
    }
}

/* After a slot operation that completed: wake one waiter of the other
 * side, if its counter says there may be one (the seq_cst read of the
 * handshake). send says which side we were. Never blocks for long. */
void kc__chan_seq_notify_slow(kc_chan_t *ch, bool send);
static inline __attribute__((always_inline)) void kc__chan_seq_notify(kc_chan_t *ch, bool send)
{
    _Atomic uint64_t *other = send ? &ch->ctr.recv_waiting : &ch->ctr.send_waiting;
    if (atomic_load_explicit(other, memory_order_seq_cst) != 0)
        kc__chan_seq_notify_slow(ch, send);
}

/* The lock-free send (send) or receive of elem on seq-ring channel ch and, when
 * it completed, the wake-up it may owe the other side. True when it
 * completed. Never blocks for long. */
static inline __attribute__((always_inline)) bool kc__chan_seq_try(kc_chan_t *ch, bool send,
                                                                   void *elem)
{
    int c = send ? kc__chan_seq_send(ch, elem) : kc__chan_seq_recv(ch, elem);
    if (c != KC__SEQ_OK)
        return false;
    kc__chan_seq_notify(ch, send);
    return true;
}

/* Under ch->lock, before the last attempt of a party that may wait (a
 * send if send, else a receive): raise that side's waiting counter by one
 * (seq_cst), the first half of the handshake. kc__chan_seq_settle puts
 * it back to the queue's length after the attempt. Never blocks. */
void kc__chan_seq_announce(kc_chan_t *ch, bool send);
void kc__chan_seq_settle(kc_chan_t *ch, bool send);

#endif /* KCORO_KC_CHAN_SEQ_H */
