/* select_remote.pml - SPIN model of remote select: the claim word against
 * remote fires, and the register/notify/claim protocol with leases.
 *
 * What it models (core/src/chan/kc_select_remote.c, kc_chan_svc.h, and
 * the protocol of lab/select, commands 32-35 and their replies): one
 * owner process (the server) holds two remote channels X0 and X1 with E0
 * and E1 elements; two clients each run one select that receives from
 * both (client 0 also has a local clause, a timeout, or both).
 *
 * A client is two processes: the owner of the select and its connection's
 * reader (rx). The select publishes its claim word (WAIT), arms each
 * remote clause (under the backend's lock: armed, a new subscription
 * generation, SELECT_REGISTER sent), parks until the word is decided,
 * disarms (under the lock: SELECT_CANCEL for a clause still armed), and
 * when a remote fire won the word sends SELECT_CLAIM and waits for the
 * answer: COMMIT (the element, taken from the channel only now) returns
 * it; REJECT runs the select again (it re-arms). The rx, on SELECT_NOTIFY
 * of the armed generation, fires the waker under the same lock: the CAS
 * WAIT -> WON(x) either wins, or loses to the local clause, the timeout or
 * the other clause, and then the rx sends SELECT_CANCEL so the owner
 * passes the element on. The local clause's peer and the timeout decide
 * the word by the same CAS.
 *
 * The server: REGISTER reserves an unreserved element for the subscriber
 * (a lease) and sends NOTIFY, or records the subscription; CANCEL ends a
 * subscription and releases its reservation, which goes to the next
 * subscriber; CLAIM of a reservation still held commits it (COMMIT),
 * otherwise REJECT. A lease may expire at any moment (its time is not
 * modelled): the reservation is released and passed on. Client 1 may
 * crash at any moment (CRASH); the server learns of it through the
 * connection's loss when DETECT, otherwise (a half-open connection) only
 * its leases release what it held.
 *
 * Properties: no invalid end state (no lost wake-up, no deadlock between
 * the message queues); X4: a COMMIT reaches only a select whose claim word
 * that clause won, so an element leaves a channel only for the select that
 * returns it; every select returns once; and once nothing can move, every
 * element is either received exactly once by a live client, still in its
 * channel, or was committed to client 1 before it crashed; no reservation
 * is left, and a live client still waiting has nothing it could take.
 * Mutants that SPIN must refute (core/model/verify.sh):
 *   MUTANT=1  no lease: a reservation of a crashed client is never
 *             released (with DETECT=0 the element is lost for good);
 *   MUTANT=2  claim before the claim word is won: the rx sends CLAIM on
 *             NOTIFY and only then tries the CAS, so a select that timed
 *             out or took its local clause has an element committed to it;
 *   MUTANT=3  a fire that lost is not passed on (no SELECT_CANCEL): without
 *             leases the element stays reserved for a select that ended.
 * `make verify` runs the configurations listed in core/model/verify.sh;
 * the largest one (timeout, a live client's lease and a crash together:
 * 14.5 million states, 2.6 GB) passes too but is left out of it.
 */
#ifndef MUTANT
#define MUTANT 0
#endif
#ifndef E0
#define E0 1
#endif
#ifndef E1
#define E1 1
#endif
#ifndef LOCAL
#define LOCAL 1 /* client 0 has a local clause with a peer offering one element */
#endif
#ifndef TIMEOUT
#define TIMEOUT 1 /* client 0's select has a timeout */
#endif
#ifndef CRASH
#define CRASH 1 /* client 1 may crash */
#endif
#ifndef DETECT
#define DETECT 0 /* the server sees client 1's connection lost */
#endif

#ifndef LEASES
#define LEASES 1 /* leases of live clients that may expire (a crashed one's always may) */
#endif

#define NC 2
#define NX 2
#define Q 4

/* the claim word of a client's select */
#define IDLE 0
#define WAIT 1
#define WON0 2 /* WON0 + x: remote clause x's fire won */
#define LOCW 4 /* the local clause's peer won */
#define TOUT 5 /* the timeout won */

mtype = { REGISTER, CANCEL, CLAIM, NOTIFY, COMMIT, REJECT };

chan up[NC] = [Q] of { mtype, byte, byte };   /* client -> server: op, x, generation */
chan down[NC] = [Q] of { mtype, byte, byte }; /* server -> client */
chan reply[NC] = [1] of { mtype, byte };      /* rx -> the select's owner */

/* server */
byte avail[NX];      /* elements in channel x, not reserved */
bit subd[NC * NX];   /* c subscribed to x, nothing reserved yet */
bit resv[NC * NX];   /* an element of x reserved (leased) for c */
byte sgen[NC * NX];  /* the generation of c's subscription to x */
byte committed[NC];  /* elements committed to c */
bit detected = 0;
byte leases = LEASES;

/* clients */
byte cw[NC];          /* the claim word */
bit armed[NC * NX];   /* the backend's view: clause x armed (sel_arm .. sel_disarm) */
byte gen[NC * NX];    /* the backend's current generation of clause x */
bit pre[NC];          /* MUTANT 2: the rx already claimed */
byte got[NC];         /* elements returned by c's select */
byte returns[NC];     /* times c's select returned */
bit dead[NC];
bit finished[NC];
byte localtaken = 0;

inline to_client(c, op, x, g) {
    if
    :: dead[c] -> skip  /* a crashed process reads nothing */
    :: else -> down[c]!op, x, g
    fi
}

/* the server gives a free element of x to the next subscriber, if any */
inline pass_on(x) {
    if
    :: avail[x] > 0 && subd[0 * NX + x] ->
        subd[0 * NX + x] = 0; resv[0 * NX + x] = 1; avail[x]--;
        to_client(0, NOTIFY, x, sgen[0 * NX + x])
    :: avail[x] > 0 && subd[1 * NX + x] ->  /* cleared when its loss was seen */
        subd[1 * NX + x] = 0; resv[1 * NX + x] = 1; avail[x]--;
        to_client(1, NOTIFY, x, sgen[1 * NX + x])
    :: else
    fi
}

inline serve(c, op, x, g) {
    if
    :: op == REGISTER ->
        sgen[c * NX + x] = g;
        if
        :: avail[x] > 0 -> avail[x]--; resv[c * NX + x] = 1; to_client(c, NOTIFY, x, g)
        :: else -> subd[c * NX + x] = 1
        fi
    :: op == CANCEL ->
        if
        :: sgen[c * NX + x] == g && subd[c * NX + x] -> subd[c * NX + x] = 0
        :: sgen[c * NX + x] == g && resv[c * NX + x] ->
            resv[c * NX + x] = 0; avail[x]++; pass_on(x)
        :: else /* stale: that subscription ended already */
        fi
    :: op == CLAIM ->
        if
        :: sgen[c * NX + x] == g && resv[c * NX + x] ->
            resv[c * NX + x] = 0; committed[c]++; to_client(c, COMMIT, x, g)
        :: else -> to_client(c, REJECT, x, g)  /* the lease expired, or stale */
        fi
    fi
}

active proctype Server()
{
    mtype op;
    byte x, g;
end_serve:
    do
    :: up[0]?op, x, g -> atomic { serve(0, op, x, g) }
    :: up[1]?op, x, g -> atomic { if :: !detected -> serve(1, op, x, g) :: else fi }
#if MUTANT != 1
    :: atomic {  /* a lease expires (a live client's within the budget) */
        if
        :: resv[0] && leases > 0 -> leases--; resv[0] = 0; avail[0]++; pass_on(0)
        :: resv[1] && leases > 0 -> leases--; resv[1] = 0; avail[1]++; pass_on(1)
        :: resv[2] && (dead[1] || leases > 0) ->
            if :: !dead[1] -> leases-- :: else fi;
            resv[2] = 0; avail[0]++; pass_on(0)
        :: resv[3] && (dead[1] || leases > 0) ->
            if :: !dead[1] -> leases-- :: else fi;
            resv[3] = 0; avail[1]++; pass_on(1)
        fi
       }
#endif
#if DETECT
    :: atomic {  /* client 1's connection is lost: its subscriptions and leases go */
        dead[1] && !detected -> detected = 1;
        subd[2] = 0; subd[3] = 0;
        if :: resv[2] -> resv[2] = 0; avail[0]++; pass_on(0) :: else fi;
        if :: resv[3] -> resv[3] = 0; avail[1]++; pass_on(1) :: else fi
       }
#endif
    od
}

/* sel_arm of clause x (under the backend's lock) */
inline arm(c, x) {
    atomic {
        if
        :: cw[c] == WAIT ->  /* kc_select_remote.c arms only while undecided */
            armed[c * NX + x] = 1;
            gen[c * NX + x] = (gen[c * NX + x] + 1) % 4;
            up[c]!REGISTER, x, gen[c * NX + x]
        :: else
        fi
    }
}

/* sel_disarm of clause x: after it, the rx never fires it */
inline disarm(c, x) {
    atomic {
        if
        :: armed[c * NX + x] -> armed[c * NX + x] = 0; up[c]!CANCEL, x, gen[c * NX + x]
        :: else
        fi
    }
}

proctype Rx(byte c)
{
    mtype op;
    byte x, g;
    {
end_rx:
    do
    :: down[c]?op, x, g ->
        if
        :: op == NOTIFY ->
            atomic {  /* kc__chan_select_fire under the backend's lock */
                if
                :: armed[c * NX + x] && gen[c * NX + x] == g ->
                    armed[c * NX + x] = 0;
#if MUTANT == 2
                    up[c]!CLAIM, x, g;  /* claims first */
                    if
                    :: cw[c] == WAIT -> cw[c] = WON0 + x; pre[c] = 1
                    :: else
                    fi
#else
                    if
                    :: cw[c] == WAIT -> cw[c] = WON0 + x  /* won: the owner claims */
#if MUTANT == 3
                    :: else  /* lost, and nothing said: the reservation stays */
#else
                    :: else -> up[c]!CANCEL, x, g         /* lost: pass it on */
#endif
                    fi
#endif
                :: else  /* stale: the select's disarm or claim ends it */
                fi
            }
        :: op == COMMIT ->
            assert(cw[c] == WON0 + x);  /* X4 */
            reply[c]!op, x
        :: op == REJECT ->
            reply[c]!op, x
        fi
    od
    } unless { dead[c] }
}

proctype Client(byte c)
{
    mtype op;
    byte x;
    {
    do
    :: true ->
        cw[c] = WAIT;  /* published */
        arm(c, 0);
        arm(c, 1);
end_park:
        cw[c] != WAIT;  /* parked until the word is decided */
        disarm(c, 0);
        disarm(c, 1);
        if
        :: cw[c] == WON0 || cw[c] == WON0 + 1 ->
            x = cw[c] - WON0;
#if MUTANT == 2
            if
            :: !pre[c] -> up[c]!CLAIM, x, gen[c * NX + x]
            :: else
            fi;
            pre[c] = 0;
#else
            up[c]!CLAIM, x, gen[c * NX + x];
#endif
            reply[c]?op, x;
            if
            :: op == COMMIT -> got[c]++; break
            :: op == REJECT -> cw[c] = IDLE  /* run again: re-arm */
            fi
        :: else -> break  /* the local clause or the timeout */
        fi
    od;
    returns[c]++;
    assert(returns[c] == 1);
    finished[c] = 1
    } unless { dead[c] }
}

/* client 0's local peer offers one element until the select ends */
active proctype LocalPeer()
{
#if LOCAL
    if
    :: atomic { cw[0] == WAIT -> cw[0] = LOCW; localtaken = 1 }
    :: finished[0] -> skip
    fi
#else
    skip
#endif
}

active proctype Timer()
{
#if TIMEOUT
    if
    :: atomic { cw[0] == WAIT -> cw[0] = TOUT }
    :: finished[0] -> skip
    fi
#else
    skip
#endif
}

active proctype Crash()
{
#if CRASH
    if
    :: dead[1] = 1
    :: finished[1] -> skip
    fi
#else
    skip
#endif
}

/* Once nothing can move: every element accounted for exactly once. */
active proctype Monitor()
{
    timeout ->
    assert(resv[0] + resv[1] + resv[2] + resv[3] == 0);  /* no reservation left behind */
    assert(committed[0] == got[0]);                      /* X4 for the live client */
    assert(dead[1] || committed[1] == got[1]);
    assert(avail[0] + avail[1] + committed[0] + committed[1] == E0 + E1);
    /* a live select still waiting has nothing it could take */
    assert(finished[0] || (avail[0] == 0 && avail[1] == 0));
    assert(dead[1] || finished[1] || (avail[0] == 0 && avail[1] == 0))
}

init {
    atomic {
        avail[0] = E0;
        avail[1] = E1;
        run Rx(0);
        run Rx(1);
        run Client(0);
        run Client(1)
    }
}
