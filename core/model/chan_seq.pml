/* chan_seq.pml - SPIN model of a seq-ring channel (core/src/chan/kc_chan_seq.h).
 *
 * What it models:
 *   - The ring: C slots, each a sequence word and an element; send_idx S
 *     with the close mark, recv_idx R. A sender reserves index pos by CAS on
 *     S (which fails once the mark is set) when slot pos's word is pos,
 *     then writes the element and publishes word = pos + 1 in a later step;
 *     a receiver reserves by CAS on R when the word is pos + 1, copies the
 *     element and frees the slot (word = pos + C) in a later step. A word
 *     behind the index means full (send, when S - R >= C) or empty
 *     (receive, when S == pos); otherwise a reservation is in flight and the
 *     party looks again.
 *   - Waiting (kc_chan_ops.c seq_transfer, kc_chan_locked.c): under the lock a
 *     party announces (its side's waiting counter + 1), makes its last
 *     attempt, and either settles the counter back to its queue's length or
 *     queues itself and parks until a peer claims it with "try again", or
 *     a close claims it (receivers: try again; senders: -EPIPE).
 *   - A party that completed an operation reads the other side's counter
 *     and, when it is not zero, takes the lock and claims one queued waiter
 *     of the other side (any one: the queue's order is not what is checked).
 *   - With CLOSE=1, a closer that closes at any point after the first send:
 *     sets the mark in S and the flag, and claims every queued waiter; the
 *     receivers run until -EPIPE. With CLOSE=0 nothing rescues a parked
 *     party, and each receiver takes NS * K / NR elements and stops.
 * SPIN explores every interleaving under sequential consistency; the C code
 * makes every access of the handshake seq_cst (the CASes on the indices,
 * the announcement, the reads of the counters, and the reads of the other
 * index that decide "full" and "empty"), so these are its interleavings.
 *
 * Properties: no invalid end state (a waiter parked forever while every
 * other party has finished is a lost wake-up), and once all have finished
 * the receivers got exactly the elements whose send returned 0, each once.
 * Not modelled here: select (chan_seq_select.pml models a select over
 * two seq-ring channels and its passing on of an unused wake-up), timeouts,
 * cancellation and try operations, and a close of a channel nobody has
 * sent on.
 * MUTANT=1 makes the last attempt before announcing; MUTANT=2 skips the
 * read of the other side's counter after a lock-free operation. Each must
 * be refuted (with CLOSE=0, where a lost wake-up is not rescued by the
 * close): `make verify` checks that too.
 */
#ifndef C
#define C 2
#endif
#ifndef NS
#define NS 2
#endif
#ifndef K
#define K 2
#endif
#ifndef NR
#define NR 2
#endif
#ifndef CLOSE
#define CLOSE 1
#endif
#ifndef MUTANT
#define MUTANT 0
#endif
#define NP (NS + NR)
#define QUOTA (NS * K / NR) /* CLOSE=0: what each receiver takes, then stops */

byte S = 0;          /* send_idx, without its close mark */
bit mark = 0;        /* the close mark (send_idx's top bit) */
byte R = 0;          /* recv_idx */
byte seq[C];         /* the slots' sequence words */
byte val[C];         /* the slots' elements */
bit lock = 0;
bit closed = 0;      /* the flag, written under the lock */
byte sw = 0;         /* send_waiting: queued senders + announcements */
byte rw = 0;         /* recv_waiting */
byte sq = 0;         /* senders queued */
byte rq = 0;         /* receivers queued */
byte wst[NP];        /* 0 running, 1 queued, 2 told to try again, 3 -EPIPE */
byte sent = 0;       /* bit v-1: the send of v returned 0 */
byte seen = 0;       /* bit v-1: v was received */
byte nsent = 0;
byte done = 0;

inline acquire() { atomic { lock == 0 -> lock = 1 } }
inline release() { lock = 0 }

/* Under the lock: claim one queued waiter of the kind [lo, hi) with "try
 * again"; fix the queue length and its counter. */
inline claim_one(lo, hi, q, w) {
    j = lo;
    do
    :: j < hi && wst[j] == 1 -> wst[j] = 2; q--; w = q; break
    :: j < hi && wst[j] != 1 -> j++
    :: j >= hi -> w = q; break
    od
}

/* The sender's slot operation. r: 0 done, 1 full, 2 closed. */
inline cell_send(v, r) {
    do
    :: true ->
        pos = S;
        if
        :: mark -> r = 2; break
        :: else
        fi;
        if
        :: seq[pos % C] == pos ->
            atomic {
                if
                :: S == pos && !mark -> S = pos + 1; ok = 1
                :: else -> ok = 0
                fi
            };
            if
            :: ok -> val[pos % C] = v; seq[pos % C] = pos + 1; r = 0; break
            :: else
            fi
        :: seq[pos % C] < pos ->
            if
            :: pos - R >= C -> r = 1; break
            :: else             /* a receiver is freeing it: look again */
            fi
        :: seq[pos % C] > pos  /* stale: look again */
        fi
    od
}

/* The receiver's slot operation. r: 0 done (v set), 1 empty. */
inline cell_recv(v, r) {
    do
    :: true ->
        pos = R;
        if
        :: seq[pos % C] == pos + 1 ->
            atomic {
                if
                :: R == pos -> R = pos + 1; ok = 1
                :: else -> ok = 0
                fi
            };
            if
            :: ok -> v = val[pos % C]; seq[pos % C] = pos + C; r = 0; break
            :: else
            fi
        :: seq[pos % C] < pos + 1 ->
            if
            :: S == pos -> r = 1; break
            :: else             /* a sender is filling it: look again */
            fi
        :: seq[pos % C] > pos + 1
        fi
    od
}

proctype Sender(byte me)
{
    byte i = 0, v, pos, r, j;
    bit ok;
    do
    :: i < K ->
        v = me * K + i + 1;
again:
        cell_send(v, r);
        if
        :: r == 0 ->
#if MUTANT != 2
            if
            :: rw != 0 -> acquire(); claim_one(NS, NP, rq, rw); release()
            :: else
            fi;
#endif
            atomic { sent = sent | (1 << (v - 1)); nsent++ };
            i++;
            goto next
        :: else
        fi;
        acquire();
#if MUTANT == 1
        if
        :: closed -> r = 2
        :: else -> cell_send(v, r)
        fi;
        sw++;
#else
        sw++;                              /* announce, then the last attempt */
        if
        :: closed -> r = 2
        :: else -> cell_send(v, r)
        fi;
#endif
        if
        :: r == 0 ->
            sw = sq; claim_one(NS, NP, rq, rw); release();
            atomic { sent = sent | (1 << (v - 1)); nsent++ };
            i++
        :: r == 2 -> sw = sq; release(); break
        :: r == 1 ->
            wst[me] = 1; sq++; sw = sq; release();
            wst[me] != 1;                  /* parked until claimed */
            if
            :: wst[me] == 2 -> wst[me] = 0; goto again
            :: wst[me] == 3 -> break
            fi
        fi;
next:
        skip
    :: i == K -> break
    od;
    done++
}

proctype Receiver(byte me)
{
    byte v, pos, r, j, got = 0;
    bit ok;
    do
    :: !CLOSE && got == QUOTA -> break
    :: CLOSE || got < QUOTA ->
        cell_recv(v, r);
        if
        :: r == 0 ->
#if MUTANT != 2
            if
            :: sw != 0 -> acquire(); claim_one(0, NS, sq, sw); release()
            :: else
            fi;
#endif
            atomic { assert((seen & (1 << (v - 1))) == 0); seen = seen | (1 << (v - 1)) };
            got++
        :: else ->
            acquire();
#if MUTANT == 1
            cell_recv(v, r);
            rw++;
#else
            rw++;
            cell_recv(v, r);
#endif
            if
            :: r == 0 ->
                rw = rq; claim_one(0, NS, sq, sw); release();
                atomic { assert((seen & (1 << (v - 1))) == 0); seen = seen | (1 << (v - 1)) };
                got++
            :: r == 1 && closed -> rw = rq; release(); break    /* drained: -EPIPE */
            :: r == 1 && !closed ->
                wst[me] = 1; rq++; rw = rq; release();
                wst[me] != 1;              /* parked until claimed */
                wst[me] = 0
            fi
        fi
    od;
    done++
}

proctype Closer()
{
    byte j;
    nsent > 0;                             /* any time after the first send */
    acquire();
    mark = 1;
    closed = 1;
    j = 0;
    do
    :: j < NP ->
        if
        :: wst[j] == 1 && j < NS -> wst[j] = 3
        :: wst[j] == 1 && j >= NS -> wst[j] = 2
        :: else
        fi;
        j++
    :: else -> break
    od;
    sq = 0; rq = 0; sw = 0; rw = 0;
    release();
    done++
}

init {
    byte i;
    atomic {
        i = 0;
        do
        :: i < C -> seq[i] = i; i++
        :: else -> break
        od;
        i = 0;
        do
        :: i < NS -> run Sender(i); i++
        :: else -> break
        od;
        do
        :: i < NP -> run Receiver(i); i++
        :: else -> break
        od;
        if
        :: CLOSE -> run Closer()
        :: else -> done++
        fi
    };
    done == NP + 1;
    assert(seen == sent)
}
