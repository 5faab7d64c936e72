/* bus_wake.pml - SPIN model of the bus's edge-triggered, coalesced wake-up.
 *
 * What it models (lab/soa_bus/src/kc_bus_ring.c and kc_bus_waiter.c):
 *   - NPUB publishers, serialised by pub_mu, each publishing N messages.
 *     A publish makes the message visible (the READY word), then runs the
 *     notify sweep: after its seq_cst fence it loads the receiver's pending
 *     flag; only a 0 lets it exchange pending to 1 and unpark (the edge);
 *     a 1 is a suppressed notify.
 *   - One receiver running kc_bus_recv in a loop: try_recv; on "nothing"
 *     it clears pending, fences, re-checks (try_recv again) and only then
 *     parks. Closed and drained means -EPIPE.
 *   - The waiter: a permit parker, EMPTY / PARKED / NOTIFIED. unpark stores
 *     NOTIFIED; park consumes a permit or sleeps until one arrives.
 *   - With CLOSE=1 the last publisher release sets closed, sets pending and
 *     unparks unconditionally.
 * SPIN explores every interleaving under sequential consistency. The C code
 * has a seq_cst fence at both ends of each Dekker pair (publisher: READY
 * store, fence, pending load; receiver: pending store, fence, slot load), so
 * the interleavings of those accesses are exactly the SC ones modelled here.
 *
 * Properties:
 *   - Monitor: when nothing in the system can move any more, the receiver
 *     has seen everything published (a lost wake-up leaves it parked with a
 *     message waiting) and, with CLOSE=1, has returned -EPIPE.
 *   - Receiver: -EPIPE only after all NPUB * N messages.
 *   - ltl no_lost_wakeup: eventually, forever, seen == published (run with
 *     weak fairness).
 * MUTANT=1 drops the race check before parking; MUTANT=2 re-checks before
 * clearing pending. Both must fail: `make verify` checks that too.
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
#ifndef MUTANT
#define MUTANT 0
#endif
#define TOTAL (NPUB * N)

#define EMPTY    0
#define PARKED   1
#define NOTIFIED 2

byte published = 0;   /* messages whose READY word is stored */
byte seen = 0;        /* messages the receiver consumed */
bit pending = 0;      /* the receiver's pending flag */
byte wstate = EMPTY;  /* the receiver's waiter */
bit closed = 0;
byte npub = NPUB;     /* live publisher handles */
bit mu = 0;           /* pub_mu */
bit got_epipe = 0;       /* the receiver returned -EPIPE */

ltl no_lost_wakeup { <> [] (seen == published) }

/* kc__bus_waiter_unpark: the permit; the condvar signal under the waiter
 * mutex (W3) is what makes the sleeper's wait below end. */
inline unpark() {
    wstate = NOTIFIED
}

active [NPUB] proctype Publisher()
{
    byte i = 0;
    bit p;
    bit last;

    do
    :: i < N ->
        atomic { mu == 0 -> mu = 1 };
        published++;                       /* write_chunk: READY(s), tail */
        p = pending;                       /* notify_sweep, after the fence */
        if
        :: p == 0 ->
            atomic { p = pending; pending = 1 };   /* exchange */
            if
            :: p == 0 -> unpark()          /* the edge: notify_sends */
            :: else -> skip                /* lost the race: suppressed */
            fi
        :: else -> skip                    /* notify_suppressed */
        fi;
        mu = 0;
        i++
    :: else -> break
    od;
#if CLOSE
    atomic { npub--; last = (npub == 0) };
    if
    :: last ->                             /* kc_bus_pub_release */
        closed = 1;
        pending = 1;                       /* kc__bus_wake_all */
        unpark()
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

active proctype Receiver()
{
    byte r;

    do
    :: true ->
        try_recv(r);
        if
        :: r == 0 -> goto next
        :: r == 2 -> goto epipe
        :: else -> skip
        fi;
#if MUTANT == 2
        try_recv(r);                       /* wrong order: check, then clear */
        pending = 0;
        if
        :: r == 0 -> goto next
        :: r == 2 -> goto epipe
        :: else -> skip
        fi;
#else
        pending = 0;                       /* then the seq_cst fence */
#if MUTANT != 1
        try_recv(r);                       /* the race check */
        if
        :: r == 0 -> goto next
        :: r == 2 -> goto epipe
        :: else -> skip
        fi;
#endif
#endif
        /* kc__bus_waiter_park: consume a permit, or sleep until one. */
        if
        :: atomic { wstate == NOTIFIED -> wstate = EMPTY }
        :: atomic { wstate == EMPTY -> wstate = PARKED };
end_park:
           atomic { wstate == NOTIFIED -> wstate = EMPTY }
        fi;
next:
        skip
    od;
epipe:
    assert(seen == TOTAL);
    got_epipe = 1
}

active proctype Monitor()
{
    timeout ->
    assert(seen == published);
#if CLOSE
    assert(got_epipe == 1)
#endif
}
