/* chan_seq_select.pml - SPIN model of a select over two seq-ring channels.
 *
 * What it models (kc_select.c, kc_chan_locked.c, kc_chan_seq.h): channels A and
 * B, each a ring of C = 2 slots with its indices, lock, receive queue and
 * waiting counter, as in chan_seq.pml. Parties:
 *   - a sender putting one element into A, and one putting one into B;
 *   - a select over receive clauses on B and A (order chosen by SPIN, as an
 *     unbiased select may take either), once;
 *   - a plain receiver taking one element from A.
 * The select polls both clauses without locks; then it takes both locks
 * (in order), announces on both channels, polls again, and if nothing is
 * ready queues one clause on each channel and parks. A sender that
 * completes reads the receive counter and, when it is not zero, claims one
 * queued waiter of that channel with "try again": a select clause is
 * claimed by claiming the select (its one claim word), and a clause whose
 * select was claimed elsewhere is dropped. The woken select takes its
 * clauses out, runs again, and when it ends by firing anything but the
 * clause it was woken through, passes that wake-up on (claims one more
 * waiter of that channel), as kc__chan_select_run does.
 * The receiver on A may legitimately wait for ever (when the select took
 * A's element), so its park is a valid end state; a monitor checks, once
 * nothing can move any more (`timeout`), that it is not parked while A
 * holds an element: that would be a lost wake-up.
 *
 * Properties: no invalid end state; every element is received at most
 * once; at the end either the select took A's element and the receiver
 * waits, or the select took B's and the receiver A's (assertions). MUTANT=1 drops the pass-on,
 * which must be refuted (the receiver on A sleeps with A's element
 * buffered); `make verify` checks both.
 */
#ifndef MUTANT
#define MUTANT 0
#endif
#define C 2

/* per channel (0 = A, 1 = B) */
byte S[2];
byte R[2];
byte seq[4];          /* slot i of channel x is seq[x * C + i] */
byte val[4];
bit lk[2];
byte rw[2];           /* recv_waiting: queued receivers + announcements */
byte rq[2];           /* queued receiver tokens */
bit selq[2];          /* the select's clause is queued on channel x */
bit r2q = 0;          /* the plain receiver is queued on A */
byte selst = 0;       /* the select's claim word: 0 waiting, 1 + x claimed through x */
byte r2st = 0;        /* the plain receiver: 0 running, 1 parked, 2 told to try again */
byte seen = 0;        /* bit per element received (A: 1, 2; B: 4) */
byte done = 0;

inline acquire(x) { atomic { lk[x] == 0 -> lk[x] = 1 } }
inline release(x) { lk[x] = 0 }

/* Under lk[x]: claim one queued receiver of channel x with "try again"
 * (any one: order is not what is checked); stale select clauses go. */
inline claim_one(x) {
    do
    :: selq[x] ->
        /* the select's claim word is shared by both channels: a CAS */
        atomic {
            if
            :: selst == 0 -> selst = 1 + x; c = 1
            :: else -> c = 0               /* claimed elsewhere: a stale clause */
            fi
        };
        selq[x] = 0; rq[x]--;
        if
        :: c -> break
        :: else
        fi
    :: x == 0 && r2q -> r2q = 0; rq[0]--; r2st = 2; break
    :: !(selq[x] || (x == 0 && r2q)) -> break
    od;
    rw[x] = rq[x]
}

inline cell_send(x, v) {
    do
    :: true ->
        pos = S[x];
        if
        :: seq[x * C + pos % C] == pos ->
            atomic {
                if
                :: S[x] == pos -> S[x] = pos + 1; ok = 1
                :: else -> ok = 0
                fi
            };
            if
            :: ok -> val[x * C + pos % C] = v; seq[x * C + pos % C] = pos + 1; break
            :: else
            fi
        :: seq[x * C + pos % C] != pos      /* never full here: look again */
        fi
    od
}

/* r: 0 got v, 1 empty */
inline cell_recv(x, v, r) {
    do
    :: true ->
        pos = R[x];
        if
        :: seq[x * C + pos % C] == pos + 1 ->
            atomic {
                if
                :: R[x] == pos -> R[x] = pos + 1; ok = 1
                :: else -> ok = 0
                fi
            };
            if
            :: ok -> v = val[x * C + pos % C]; seq[x * C + pos % C] = pos + C; r = 0; break
            :: else
            fi
        :: seq[x * C + pos % C] < pos + 1 ->
            if
            :: S[x] == pos -> r = 1; break
            :: else
            fi
        :: seq[x * C + pos % C] > pos + 1
        fi
    od
}

inline got(v) {
    atomic { assert((seen & v) == 0); seen = seen | v }
}

/* A sender that puts n elements (values first, first*2, ...) into x. */
proctype Sender(byte x; byte n; byte first)
{
    byte i = 0, v = first, pos;
    bit ok, c;
    do
    :: i < n ->
        cell_send(x, v);
        if
        :: rw[x] != 0 -> acquire(x); claim_one(x); release(x)
        :: else
        fi;
        v = v * 2;
        i++
    :: else -> break
    od;
    done++
}

proctype Receiver2()
{
    byte v, pos, r;
    bit ok;
    do
    :: true ->
        cell_recv(0, v, r);
        if
        :: r == 0 -> got(v); break
        :: else
        fi;
        acquire(0);
        rw[0]++;                            /* announce, then the last attempt */
        cell_recv(0, v, r);
        if
        :: r == 0 -> rw[0] = rq[0]; release(0); got(v); break
        :: else ->
            r2q = 1; rq[0]++; rw[0] = rq[0]; r2st = 1; release(0);
end_parked:
            r2st != 1;                      /* parked until claimed */
            r2st = 0
        fi
    od;
    done++
}

proctype Select()
{
    byte v, pos, r, first, second, fired = 2, notified = 2;
    bit ok, c;
    if                                      /* the clause order of this select */
    :: first = 0; second = 1
    :: first = 1; second = 0
    fi;
    do
    :: true ->
        cell_recv(first, v, r);             /* pass 1, lock-free */
        if
        :: r == 0 -> fired = first; break
        :: else
        fi;
        cell_recv(second, v, r);
        if
        :: r == 0 -> fired = second; break
        :: else
        fi;
        acquire(0); acquire(1);             /* address order */
        rw[0]++; rw[1]++;                   /* announce on both */
        cell_recv(first, v, r);
        if
        :: r == 0 -> rw[0] = rq[0]; rw[1] = rq[1]; release(1); release(0); fired = first; break
        :: else
        fi;
        cell_recv(second, v, r);
        if
        :: r == 0 -> rw[0] = rq[0]; rw[1] = rq[1]; release(1); release(0); fired = second; break
        :: else
        fi;
        selst = 0;
        selq[0] = 1; rq[0]++; rw[0] = rq[0];
        selq[1] = 1; rq[1]++; rw[1] = rq[1];
        release(1); release(0);
        selst != 0;                         /* parked until claimed */
        notified = selst - 1;
        acquire(0);                         /* withdraw the clauses */
        if
        :: selq[0] -> selq[0] = 0; rq[0]--; rw[0] = rq[0]
        :: else
        fi;
        release(0);
        acquire(1);
        if
        :: selq[1] -> selq[1] = 0; rq[1]--; rw[1] = rq[1]
        :: else
        fi;
        release(1)
        /* and run again */
    od;
    got(v);
#if MUTANT != 1
    if
    :: notified != 2 && fired != notified ->
        acquire(notified); claim_one(notified); release(notified)
    :: else
    fi;
#endif
    done++
}

/* Once nothing can move: the receiver on A is parked only if A is empty
 * and the select took A's element; otherwise everyone finished and the
 * select took B's element, the receiver A's. */
active proctype Monitor()
{
    timeout ->
    assert((r2st == 1 && S[0] == R[0] && seen == 1 && done == 3) ||
           (r2st == 0 && seen == 1 + 4 && done == 4))
}

init {
    atomic {
        seq[0] = 0; seq[1] = 1; seq[2] = 0; seq[3] = 1;
        run Sender(0, 1, 1);
        run Sender(1, 1, 4)
    };
    atomic {
        run Select();
        run Receiver2()
    }
}
