/* rl_chan.cpp - the seq-ring channel's ring and its announce/complete
 * handshake under Relacy.
 *
 * Drives the lock-free half of a seq-ring channel (kc_chan_seq.h:
 * kc__chan_seq_send, kc__chan_seq_recv, kc__chan_seq_try,
 * kc__chan_seq_notify; kc_chan_seq.c: kc__chan_seq_announce,
 * kc__chan_seq_settle; kc_chan_impl.h: kc__chan_sync_waiting), copied by extract.pl with their
 * memory orders. The locked half is modelled here, as seq_transfer and
 * kc__chan_seq_notify_slow do it: under the channel lock a party that
 * may wait announces, makes its last attempt, and either completes (and
 * takes one waiter of the other side off its queue to wake) or queues
 * itself and sleeps on a futex word until a completing party takes it off
 * and wakes it; then it tries again. Invariants checked:
 *   - no element lost or duplicated, and each sender's elements arrive in
 *     order (one receiver);
 *   - an element's bytes are published by its slot's sequence word (the
 *     element is an rl::var: a read without the release/acquire is a race);
 *   - no lost wake-up: every blocking send and receive returns (a waiter
 *     that sleeps while the other side completes past it is a deadlock).
 */
//! extract: enum:KC__SEQ_OK kc__chan_seq_send kc__chan_seq_recv kc__chan_seq_notify
//! extract: kc__chan_seq_try kc__chan_sync_waiting kc__chan_seq_announce kc__chan_seq_settle
//! mutant: send_seq_acq kc__chan_seq_send:load_explicit(seq:relaxed
//! mutant: send_seq_rel kc__chan_seq_send:store_explicit(seq:relaxed
//! mutant: recv_seq_acq kc__chan_seq_recv:load_explicit(seq:relaxed
//! mutant: recv_seq_rel kc__chan_seq_recv:store_explicit(seq:relaxed
//! mutant: send_cas kc__chan_seq_send:&ch->send_idx,&pos:acq_rel
//! mutant: recv_cas kc__chan_seq_recv:&ch->recv_idx,&pos:acq_rel
//! mutant: send_full kc__chan_seq_send:&ch->recv_idx:acquire
//! mutant: recv_empty kc__chan_seq_recv:&ch->send_idx,memory_order_seq_cst:acquire
//! mutant: notify_sc kc__chan_seq_notify:other:acquire
//! mutant: announce_sc kc__chan_seq_announce:memory_order_seq_cst:release
#include "kc_relacy.hpp"

typedef struct {
    rl::mutex m;
} kc_lock_t;
static void kc__lock(kc_lock_t *l)
{
    l->m.lock($);
}
static void kc__unlock(kc_lock_t *l)
{
    l->m.unlock($);
}

/* A queued waiter: its futex word says it was taken off and woken. */
struct sleeper {
    kc_atomic<uint32_t> woken;
    struct sleeper *next;
};
typedef struct {
    struct sleeper *head;
    size_t len;
} kc_waiter_queue_t;

struct kc_rl_slot {
    kc_atomic<uint64_t> seq;
    rl::var<int> elem;
};

struct kc_chan_counters {
    kc_atomic<uint64_t> send_waiting, recv_waiting;
};

typedef struct kc_chan {
    kc_lock_t lock;
    size_t capacity, slot_size, ring_slots;
    struct kc_rl_slot *slots;
    kc_atomic<uint64_t> send_idx;
    kc_atomic<uint64_t> recv_idx;
    kc_waiter_queue_t sendq, recvq;
    struct kc_chan_counters ctr;
} kc_chan_t;

#define KC__CHAN_SEND_CLOSED ((uint64_t)1 << 63)

/* The ring's layout is not the algorithm: slots as structs here. */
static kc_atomic<uint64_t> *kc__chan_seq_word(const kc_chan_t *ch, uint64_t i)
{
    return &ch->slots[i & (ch->ring_slots - 1)].seq;
}
static unsigned char *kc__chan_seq_elem(const kc_chan_t *ch, uint64_t i)
{
    return (unsigned char *)&ch->slots[i & (ch->ring_slots - 1)].elem;
}

/* The element copy: one side is a slot's rl::var, the other the caller's
 * int. */
static kc_chan_t *cur_chan;
static bool is_cell(const void *p)
{
    const kc_rl_slot *c = cur_chan->slots;
    for (size_t i = 0; i < cur_chan->ring_slots; i++)
        if (p == &c[i].elem)
            return true;
    return false;
}
static void kc__chan_copy_elem(void *dst, const void *src, size_t n)
{
    RL_ASSERT(n == sizeof(int));
    if (is_cell(dst))
        (*(rl::var<int> *)dst)($) = *(const int *)src;
    else
        *(int *)dst = (*(rl::var<int> *)const_cast<void *>(src))($);
}
static void kc__chan_seq_backoff(unsigned *spins)
{
    (void)spins;
    rl::yield(1, $);
}

kc_rl_futex *kc_rl_futex_cur;

/* Take the oldest waiter off q, with q's counter following (the model of
 * take_peer in kc_chan_locked.c). Under the lock. */
static void kc__chan_sync_waiting(kc_chan_t *ch, const kc_waiter_queue_t *q);
static struct sleeper *take(kc_chan_t *ch, kc_waiter_queue_t *q)
{
    struct sleeper *w = q->head;
    if (w == nullptr)
        return nullptr;
    q->head = w->next;
    q->len--;
    kc__chan_sync_waiting(ch, q);
    return w;
}

/* Wake a waiter taken off a queue: the claim and unpark of the real code,
 * a release store the sleeper acquires, and a futex wake. */
static void wake(struct sleeper *w)
{
    if (w == nullptr)
        return;
    w->woken($).store(1, rl::mo_release);
    kc_rl_futex_wake(&w->woken);
}

static void kc__chan_seq_notify_slow(kc_chan_t *ch, bool send);

#include "kc_relacy_gen.h"

void kc__chan_seq_notify_slow(kc_chan_t *ch, bool send)
{
    kc__lock(&ch->lock);
    struct sleeper *w = take(ch, send ? &ch->recvq : &ch->sendq);
    kc__unlock(&ch->lock);
    wake(w);
}

/* A blocking send or receive of *v: seq_transfer's shape. */
static void transfer(kc_chan_t *ch, bool send, int *v)
{
    if (kc__chan_seq_try(ch, send, v))
        return;
    for (;;) {
        kc__lock(&ch->lock);
        kc__chan_seq_announce(ch, send);
        int c = send ? kc__chan_seq_send(ch, v) : kc__chan_seq_recv(ch, v);
        if (c == KC__SEQ_OK) {
            struct sleeper *w = take(ch, send ? &ch->recvq : &ch->sendq);
            kc__chan_seq_settle(ch, send);
            kc__unlock(&ch->lock);
            wake(w);
            return;
        }
        RL_ASSERT(c == (send ? KC__SEQ_FULL : KC__SEQ_EMPTY));
        struct sleeper me;
        me.woken($).store(0, rl::mo_relaxed);
        me.next = nullptr;
        kc_waiter_queue_t *q = send ? &ch->sendq : &ch->recvq;
        struct sleeper **pp = &q->head;
        while (*pp != nullptr)
            pp = &(*pp)->next;
        *pp = &me;
        q->len++;
        kc__chan_sync_waiting(ch, q);
        kc__unlock(&ch->lock);
        while (me.woken($).load(rl::mo_acquire) == 0)
            kc_rl_futex_wait(&me.woken, 0u);
        if (kc__chan_seq_try(ch, send, v))
            return;
    }
}

/* NS senders send K elements each (value s * 10 + k) into a channel of
 * CAP slots (at least 2, as kc_chan_create requires: with one slot, "full"
 * and "freed for the next lap" are the same sequence word, and this test
 * fails with a data race on the element); one receiver takes them all. BLOCK: the blocking operations
 * (the handshake); else spinning on the lock-free attempt (the ring). */
template <int NS, int K, int CAP, bool BLOCK>
struct chan_test : rl::test_suite<chan_test<NS, K, CAP, BLOCK>, NS + 1> {
    kc_rl_futex fx;
    kc_chan_t ch;
    struct kc_rl_slot slots[CAP];
    int got[NS * K];

    void before()
    {
        kc_rl_futex_cur = &fx;
        cur_chan = &ch;
        ch.capacity = CAP;
        ch.slot_size = sizeof(int);
        ch.ring_slots = CAP;
        ch.slots = slots;
        for (int i = 0; i < CAP; i++)
            slots[i].seq($).store((uint64_t)i, rl::mo_relaxed); /* free for lap 0 */
        ch.send_idx($).store(0, rl::mo_relaxed);
        ch.recv_idx($).store(0, rl::mo_relaxed);
        ch.sendq.head = ch.recvq.head = nullptr;
        ch.sendq.len = ch.recvq.len = 0;
        ch.ctr.send_waiting($).store(0, rl::mo_relaxed);
        ch.ctr.recv_waiting($).store(0, rl::mo_relaxed);
    }

    void op(bool send, int *v)
    {
        if (BLOCK) {
            transfer(&ch, send, v);
            return;
        }
        while (!kc__chan_seq_try(&ch, send, v))
            rl::yield(1, $);
    }

    void thread(unsigned idx)
    {
        if (idx < (unsigned)NS) {
            for (int k = 0; k < K; k++) {
                int v = (int)idx * 10 + k;
                op(true, &v);
            }
        } else {
            for (int n = 0; n < NS * K; n++)
                op(false, &got[n]);
        }
    }

    void after()
    {
        int next[NS] = {0};
        for (int n = 0; n < NS * K; n++) {
            int s = got[n] / 10, k = got[n] % 10;
            RL_ASSERT(s >= 0 && s < NS);
            RL_ASSERT(k == next[s]); /* in order, none lost or twice */
            next[s]++;
        }
        RL_ASSERT(ch.sendq.len == 0 && ch.recvq.len == 0);
    }
};

int main(int argc, char **argv)
{
    if (!kc_rl_select(argc, argv, kc_rl_mutant_names))
        return 2;
    bool ok = kc_rl_run<chan_test<2, 2, 2, false>>("chan: ring, 2 senders x 2, 2 slots", 100000);
    ok =
        ok && kc_rl_run<chan_test<1, 4, 2, true>>("chan: handshake, 1 sender x 4, 2 slots", 100000);
    ok = ok &&
         kc_rl_run<chan_test<2, 2, 2, true>>("chan: handshake, 2 senders x 2, 2 slots", 100000);
    return ok ? 0 : 1;
}
