/* bus_wake.pml - SPIN model of the bus's edge-triggered, coalesced wake-up.
 *
 * What it models (lab/soa_bus/src/kc_bus_ring.c, kc_bus_recv.c, kc_bus.c):
 *   - NPUB publishers, serialised by pub_mu, each publishing N messages.
 *     A publish makes the message visible (the READY word and the tail),
 *     then, after its seq_cst fence, loads the want mask; only a set bit
 *     lets it clear the bit with an RMW (the commit) and then unpark the
 *     receiver, in a separate step (the window a receiver must tolerate).
 *     A clear bit is a suppressed notify.
 *   - One receiver making CALLS calls of kc_bus_recv: try_recv; on
 *     "nothing" it arms (sets its want bit, a seq_cst RMW), re-checks, and
 *     only then parks. A park ends by consuming a permit or, with TIMEOUT,
 *     by its deadline. On the way out (a message found after arming, or a
 *     timeout) it disarms: clears its bit, and if a waker had cleared it
 *     first, waits for that waker's unpark and consumes it.
 *   - The parker (kc_park/kc_unpark): a permit, EMPTY / PARKED / NOTIFIED;
 *     a timeout and a cancellation end a park the same way here.
 *   - With CLOSE=1 the last publisher release sets closed and wakes the
 *     receiver through the same commit-then-unpark path.
 * SPIN explores every interleaving under sequential consistency. The C code
 * has a seq_cst operation at both ends of each Dekker pair (publisher: READY
 * and tail stores, fence, want load; receiver: seq_cst RMW on want, then the
 * slot load), so the interleavings of those accesses are the SC ones here.
 *
 * Properties:
 *   - Monitor: when nothing can move any more, the receiver has seen
 *     everything published (a lost wake-up leaves it parked with a message
 *     waiting) and, with CLOSE=1, has returned -EPIPE.
 *   - Every call returns with no permit left and no unpark in flight, so
 *     the next call (or the next owner) starts clean.
 *   - Receiver: -EPIPE only after all NPUB * N messages.
 *   - ltl no_lost_wakeup: eventually, forever, seen == published (run with
 *     weak fairness).
 * MUTANT=1 drops the race check after arming; MUTANT=2 re-checks before
 * arming; MUTANT=3 disarms without absorbing a committed wake-up. Each must
 * fail: `make verify` checks that too.
 */
#ifndef NPUB
#define NPUB 2
#endif
#ifndef N
#define N 2
#endif
#ifndef CLOSE
#define CLOSE 0
#endif
#ifndef TIMEOUT
#define TIMEOUT 0
#endif
#ifndef CALLS
#define CALLS (NPUB * N + 1)
#endif
#ifndef MUTANT
#define MUTANT 0
#endif
#define TOTAL (NPUB * N)

#define EMPTY    0
#define PARKED   1
#define NOTIFIED 2

byte published = 0;   /* messages whose READY word and tail are stored */
byte seen = 0;        /* messages the receiver consumed */
bit want = 0;         /* the receiver's bit in the want mask */
byte inflight = 0;    /* commits whose unpark has not happened yet */
byte wstate = EMPTY;  /* the receiver's waiter */
bit closed = 0;
byte npub = NPUB;     /* live publisher handles */
bit mu = 0;           /* pub_mu */
bit got_epipe = 0;    /* the receiver returned -EPIPE */

ltl no_lost_wakeup { <> [] (seen == published) }

/* kc__bus_wake for one receiver: load want (after the caller's fence); if
 * set, clear it with the RMW (commit) and then unpark. */
inline wake() {
    if
    :: want == 1 ->
        atomic {
            if
            :: want == 1 -> want = 0; inflight++; c = 1
            :: else -> c = 0              /* someone else cleared it */
            fi
        };
        if
        :: c == 1 -> atomic { wstate = NOTIFIED; inflight-- }   /* unpark */
        :: else -> skip
        fi
    :: else -> skip                       /* notify_suppressed */
    fi
}

active [NPUB] proctype Publisher()
{
    byte i = 0;
    bit c;
    bit last;

    do
    :: i < N ->
        atomic { mu == 0 -> mu = 1 };
        published++;                       /* slot, READY, tail */
        wake();
        mu = 0;
        i++
    :: else -> break
    od;
#if CLOSE
    atomic { npub--; last = (npub == 0) };
    if
    :: last ->                             /* kc_bus_pub_release */
        closed = 1;
        wake()
    :: else -> skip
    fi
#endif
}

/* kc_bus_try_recv: r = 0 a message, 1 nothing (-EAGAIN), 2 -EPIPE. */
inline try_recv(r) {
    if
    :: seen < published -> seen++; r = 0
    :: else ->
        if
        :: closed ->
            if
            :: seen < published -> seen++; r = 0
            :: else -> r = 2
            fi
        :: else -> r = 1
        fi
    fi
}

/* disarm(): clear our bit; if a waker had cleared it, take its unpark. */
inline disarm() {
    atomic { old = want; want = 0 };
#if MUTANT != 3
    if
    :: old == 0 -> atomic { wstate == NOTIFIED -> wstate = EMPTY }
    :: else -> skip
    fi
#endif
}

active proctype Receiver()
{
    byte r;
    byte calls = 0;
    bit old;

    do
    :: calls < CALLS ->
        calls++;
        try_recv(r);
        if
        :: r == 0 -> goto done
        :: r == 2 -> goto epipe
        :: else -> skip
        fi;
again:
#if MUTANT == 2
        try_recv(r);                       /* wrong order: check, then arm */
        want = 1;
        if
        :: r == 0 -> disarm(); goto done
        :: r == 2 -> disarm(); goto epipe
        :: else -> skip
        fi;
#else
        want = 1;                          /* arm: seq_cst fetch_or */
#if MUTANT != 1
        try_recv(r);                       /* the race check */
        if
        :: r == 0 -> disarm(); goto done
        :: r == 2 -> disarm(); goto epipe
        :: else -> skip
        fi;
#endif
#endif
        /* kc_park: consume a permit, or sleep until one (or, with
         * TIMEOUT, until the deadline or the cancellation). */
        if
        :: atomic { wstate == NOTIFIED -> wstate = EMPTY }
        :: atomic { wstate == EMPTY -> wstate = PARKED };
end_park:
           if
           :: atomic { wstate == NOTIFIED -> wstate = EMPTY }
#if TIMEOUT
           :: atomic { wstate == PARKED -> wstate = EMPTY };
              disarm();                    /* -ETIME */
              goto done
#endif
           fi
        fi;
        /* Woken: the waker cleared our bit. */
        try_recv(r);
        if
        :: r == 0 -> goto done
        :: r == 2 -> goto epipe
        :: else -> goto again
        fi;
done:
        assert(inflight == 0 && wstate == EMPTY)   /* nothing outlives a call */
    :: else -> break
    od;
end_idle:
    skip;
    goto fin;
epipe:
    assert(seen == TOTAL);
    assert(inflight == 0 && wstate == EMPTY);
    got_epipe = 1;
fin:
    skip
}

active proctype Monitor()
{
    timeout ->
    assert(seen == published || TIMEOUT);
#if CLOSE
    assert(got_epipe == 1 || TIMEOUT)
#endif
}
