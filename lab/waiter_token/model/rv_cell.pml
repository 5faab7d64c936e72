/* rv_cell.pml - a SPIN model of the rendezvous cell and the waiter token.
 *
 * Models src/kc_rv_cell.c and the status helpers of src/kc_waiter.c step by
 * step: every atomic block below is one CAS or one load of the C code. Two
 * configurations, chosen with -D at `spin -a` time:
 *
 *   PAIR    one plain sender and one plain receiver meet in one cell, in
 *           either order; each may time out, and a third party may cancel
 *           either token through its cancellation hook (under the registry
 *           lock the storm test uses).
 *   SELECT  a select owner with two receive clauses (cells 0 and 1) meets
 *           two plain senders; everyone may time out, a third party may
 *           cancel the select. Exercises CLAIMING, the transient reservation
 *           that lets a peer dereference a select clause safely.
 *   NO_CLAIMING (with SELECT) drops the reservation: the peer claims the
 *           select's arbiter straight after loading the cell. `make verify`
 *           expects SPIN to find the use-after-free this allows.
 *
 * Safety checked (assert): exactly-once delivery (a value lands at most once
 * and a sender succeeds exactly when its value landed); no double claim (a
 * token's status leaves ENQUEUED once); match and cancel exclusive; no token
 * touched after its owner returned (freed[]); at most one wake pending per
 * owner, and every wake consumed by the end. Liveness of wakes: an owner
 * that must wait for a wake blocks without a timeout, so a lost wake is an
 * invalid end state.
 */

/* cell states (kc_rv_state_t) */
#define EMPTY     0
#define SREADY    1
#define RREADY    2
#define CLAIMING  3
#define MATCHED   4
#define CANCELLED 5

/* token status (kc_waiter_status_t) */
#define T_INIT    0
#define T_ENQ     1
#define T_CLAIMED 2
#define T_CANC    3

#define NONE      255
#define SEND      1
#define RECV      2

#ifdef SELECT
#define NCELL 2
#define NTOK  5      /* 0,1: senders P0,P1; 2: select S; 3,4: clauses C0,C1 */
#define NOWN  3      /* owners: P0, P1, S */
#else
#define NCELL 1
#define NTOK  2      /* 0: sender, 1: receiver */
#define NOWN  2
#endif

byte cst[NCELL];               /* cell state */
byte cw[NCELL];                /* token published in the cell */
byte tst[NTOK];                /* token status */
byte parent[NTOK];             /* select arbiter of a clause, or NONE */
byte owner[NTOK];              /* owner of a token (clauses: the select's) */
bool freed[NTOK];              /* the owner returned: memory may be reused */
byte permit[NOWN];             /* pending wakes per owner */
byte delivered[NTOK];          /* times the value of sender token i landed */
byte got[NTOK];                /* values a receiving token's owner took in */
bool ok_[NTOK];                /* the owner's operation succeeded */
bool reg[NTOK];                /* registered for third-party cancellation */
bit  lock;                     /* the registry lock */

inline deref(t) { assert(!freed[t]) }

inline wake(t) {
    atomic { deref(t); permit[owner[t]]++; assert(permit[owner[t]] <= 1) }
}

inline take_wake(o) { atomic { permit[o] > 0 -> permit[o]-- } }

/* kc__waiter_claim: arbiter status ENQUEUED -> CLAIMED (CAS). */
inline claim(t, won) {
    atomic { deref(t); if :: tst[t] == T_ENQ -> tst[t] = T_CLAIMED; won = true
                          :: else -> won = false fi }
}

/* kc__waiter_try_cancel: status ENQUEUED -> CANCELLED (CAS). */
inline tcancel(t, won) {
    atomic { deref(t); if :: tst[t] == T_ENQ -> tst[t] = T_CANC; won = true
                          :: else -> won = false fi }
}

/* Move the value of sender token s into receiver token r (after winning). */
inline transfer(s, r) {
    atomic { deref(s); deref(r); delivered[s]++; assert(delivered[s] <= 1);
             got[r]++ }
}

/* kc__rv_cell_withdraw: READY(t) -> CANCELLED; blocks while a peer holds the
 * reservation CLAIMING(t) (the C code spins, then yields). won: the owner's
 * side removed t; otherwise a peer decided the cell. */
inline withdraw(c, t, won) {
    do
    :: atomic {
        if
        :: (cst[c] == SREADY || cst[c] == RREADY) && cw[c] == t ->
               cst[c] = CANCELLED; won = true; break
        :: cst[c] == CLAIMING && cw[c] == t -> skip
        :: else -> won = false; break
        fi }
       atomic { !(cst[c] == CLAIMING && cw[c] == t) }
    od
}

/* The cancellation hook of a plain token in cell c: the cell decides. */
inline plain_hook(c, t, won) {
    withdraw(c, t, won);
    if
    :: won -> atomic { assert(tst[t] == T_ENQ); tst[t] = T_CANC }
    :: else
    fi
}

/* kc__rv_cell_offer (mode 0), kc__rv_cell_try_match (mode 1: never
 * publishes) and a select clause's registration (mode 2: publishes into an
 * EMPTY cell only) by the active party me, of kind k. The active party is
 * plain, or a clause whose select is not published. out: 0 matched,
 * 1 published, 2 broken (terminal cell), 3 busy (the cell holds a waiter
 * this party must not or cannot take), 4 would block (try, cell EMPTY).
 * The caller declares the scratch variables s, w and won. */
inline offer(c, me, k, out, mode) {
    do
    :: atomic { s = cst[c]; w = cw[c] }
       if
       :: s == EMPTY && mode == 1 -> out = 4; break
       :: s == EMPTY && mode != 1 ->
            /* publish: status INIT -> ENQUEUED, then make it visible */
            atomic { assert(tst[me] == T_INIT); tst[me] = T_ENQ }
            atomic {
                if
                :: cst[c] == EMPTY -> cst[c] = (k == SEND -> SREADY : RREADY);
                                      cw[c] = me; won = true
                :: else -> won = false
                fi }
            if
            :: won -> out = 1; break
            :: else -> atomic { tst[me] = T_INIT }    /* retract: never visible */
            fi
       :: ((s == SREADY && k == RECV) || (s == RREADY && k == SEND)) && mode == 2 ->
            out = 3; break
       :: ((s == SREADY && k == RECV) || (s == RREADY && k == SEND)) && mode != 2 ->
            if
            :: parent[w] == NONE ->
                 /* plain waiter: the cell CAS decides */
                 atomic { if :: cst[c] == s && cw[c] == w -> cst[c] = MATCHED; won = true
                             :: else -> won = false fi }
                 if
                 :: won ->
                      if :: k == SEND -> transfer(me, w) :: else -> transfer(w, me) fi;
                      claim(w, won); assert(won);
                      wake(w); out = 0; break
                 :: else
                 fi
            :: parent[w] != NONE ->
#ifndef NO_CLAIMING
                 /* select clause: reserve, then claim the select's arbiter */
                 atomic { if :: cst[c] == s && cw[c] == w -> cst[c] = CLAIMING; won = true
                             :: else -> won = false fi }
                 if
                 :: won ->
                      claim(parent[w], won);
                      if
                      :: won ->
                           claim(w, won); assert(won);
                           atomic { assert(cst[c] == CLAIMING && cw[c] == w); cst[c] = MATCHED }
                           if :: k == SEND -> transfer(me, w) :: else -> transfer(w, me) fi;
                           wake(w); out = 0; break
                      :: else ->
                           atomic { assert(cst[c] == CLAIMING && cw[c] == w); cst[c] = CANCELLED }
                           out = 2; break
                      fi
                 :: else
                 fi
#else
                 /* the unsafe five-state variant: claim first, then the cell */
                 claim(parent[w], won);
                 if
                 :: won ->
                      atomic { if :: cst[c] == s && cw[c] == w -> cst[c] = MATCHED
                                  :: else -> skip fi }
                      if :: k == SEND -> transfer(me, w) :: else -> transfer(w, me) fi;
                      claim(w, won);
                      wake(w); out = 0; break
                 :: else ->
                      atomic { if :: cst[c] == s && cw[c] == w -> cst[c] = CANCELLED
                                  :: else -> skip fi }
                      out = 2; break
                 fi
#endif
            fi
       :: s == MATCHED || s == CANCELLED -> out = 2; break
       :: (s == SREADY && k == SEND) || (s == RREADY && k == RECV) || s == CLAIMING ->
            out = 3; break
       fi
    od
}

/* ------------------------------------------------------------------ PAIR */
#ifndef SELECT

/* A plain sender or receiver (token me, owner me) using cell 0. */
proctype Plain(byte me; byte k; bool patient) {
    byte out, s, w; bool won;
    offer(0, me, k, out, 0);
    /* the scope guard: a token still INIT was never published */
    if
    :: tst[me] == T_INIT -> assert(out == 0 || out == 2); ok_[me] = (out == 0)
    :: else ->
        assert(out == 1);
        atomic { lock == 0 -> lock = 1 }; reg[me] = true; lock = 0;
        if
        :: take_wake(me)
        :: !patient ->                       /* the park timed out */
             plain_hook(0, me, won);
             if
             :: won -> skip                  /* cancelled ourselves: no wake owed */
             :: else -> take_wake(me)        /* lost to a match or a canceller */
             fi
        fi;
        ok_[me] = (tst[me] == T_CLAIMED);
        atomic { lock == 0 -> lock = 1 }; reg[me] = false; lock = 0
    fi;
    freed[me] = true
}

/* A third party cancelling token t through its hook, under the registry
 * lock (the owner unregisters under the same lock before it returns). */
proctype Canceller(byte t) {
    bool won;
    atomic { lock == 0 -> lock = 1 };
    if
    :: reg[t] -> plain_hook(0, t, won);
                 if :: won -> wake(t) :: else fi
    :: else
    fi;
    lock = 0
}

init {
    bool p0, p1; byte canc = NONE;
    if :: p0 = true :: p0 = false fi;
    if :: p1 = true :: p1 = false fi;
    if :: canc = 0 :: canc = 1 :: skip fi;
    atomic {
        cst[0] = EMPTY; cw[0] = NONE;
        parent[0] = NONE; parent[1] = NONE; owner[0] = 0; owner[1] = 1;
        run Plain(0, SEND, p0); run Plain(1, RECV, p1);
        if :: canc != NONE -> run Canceller(canc) :: else fi
    }
    (_nr_pr == 1);
    assert(ok_[0] == ok_[1]);                      /* both or neither */
    assert(ok_[0] == (delivered[0] == 1));         /* exactly once */
    assert(got[1] == delivered[0]);
    assert(permit[0] == 0 && permit[1] == 0);      /* every wake consumed */
    assert(!(tst[0] == T_CLAIMED && tst[1] == T_CANC));
    assert(!(tst[1] == T_CLAIMED && tst[0] == T_CANC));
    if :: p0 && p1 && canc == NONE -> assert(ok_[0]) :: else fi
}
#endif

/* ---------------------------------------------------------------- SELECT */
#ifdef SELECT
#define S  2
#define C0 3
#define C1 4

/* A plain sender (token me, owner me) into cell c; may time out. */
proctype Sender(byte me; byte c) {
    byte out, s, w; bool won;
    offer(c, me, SEND, out, 0);
    if
    :: tst[me] == T_INIT -> assert(out == 0 || out == 2); ok_[me] = (out == 0)
    :: else ->
        assert(out == 1);
        if
        :: take_wake(me)
        :: plain_hook(c, me, won);
           if :: won -> skip :: else -> take_wake(me) fi
        fi;
        ok_[me] = (tst[me] == T_CLAIMED)
    fi;
    freed[me] = true
}

/* The owner's clean-up of clause t in cell c once the select is decided. */
inline unregister(c, t, won) {
    withdraw(c, t, won);
    atomic { if :: tst[t] == T_ENQ -> tst[t] = T_CANC :: else fi }
}

/* A select receiving from cell 0 (clause C0) or cell 1 (clause C1): a poll
 * pass with the arbiter unpublished, then registration, a park that may
 * time out, and withdrawal of every registered clause. */
proctype Select() {
    byte out, s, w; bool won, r0, r1;
    offer(0, C0, RECV, out, 1);
    if :: out == 0 -> ok_[S] = true; goto fin :: else fi;
    offer(1, C1, RECV, out, 1);
    if :: out == 0 -> ok_[S] = true; goto fin :: else fi;

    atomic { assert(tst[S] == T_INIT); tst[S] = T_ENQ }
    offer(0, C0, RECV, out, 2); r0 = (tst[C0] != T_INIT); assert(r0 == (out == 1));
    offer(1, C1, RECV, out, 2); r1 = (tst[C1] != T_INIT); assert(r1 == (out == 1));
    if
    :: !r0 && !r1 -> tcancel(S, won); assert(won); goto fin
    :: else
    fi;
    atomic { lock == 0 -> lock = 1 }; reg[S] = true; lock = 0;
    if
    :: take_wake(S - 0)
    :: tcancel(S, won);                       /* the park timed out */
       if :: won -> skip :: else -> take_wake(S - 0) fi
    fi;
    if :: r0 -> unregister(0, C0, won) :: else fi;
    if :: r1 -> unregister(1, C1, won) :: else fi;
    ok_[S] = (tst[S] == T_CLAIMED);
    assert(ok_[S] == (tst[C0] == T_CLAIMED || tst[C1] == T_CLAIMED));
    atomic { lock == 0 -> lock = 1 }; reg[S] = false; lock = 0;
fin:
    freed[S] = true; freed[C0] = true; freed[C1] = true
}

/* A third party cancelling the select through its hook (arbiter CAS). */
proctype SelCanceller() {
    bool won;
    atomic { lock == 0 -> lock = 1 };
    if
    :: reg[S] -> tcancel(S, won); if :: won -> wake(S) :: else fi
    :: else
    fi;
    lock = 0
}

init {
    bool canc;
    if :: canc = true :: canc = false fi;
    atomic {
        cst[0] = EMPTY; cw[0] = NONE; cst[1] = EMPTY; cw[1] = NONE;
        parent[0] = NONE; parent[1] = NONE; parent[S] = NONE;
        parent[C0] = S; parent[C1] = S;
        owner[0] = 0; owner[1] = 1; owner[S] = 2; owner[C0] = 2; owner[C1] = 2;
        run Sender(0, 0); run Sender(1, 1); run Select();
        if :: canc -> run SelCanceller() :: else fi
    }
    (_nr_pr == 1);
    assert(got[C0] + got[C1] <= 1);                 /* a select takes one value */
    assert(ok_[S] == (got[C0] + got[C1] == 1));
    assert(ok_[0] == (delivered[0] == 1));          /* exactly once */
    assert(ok_[1] == (delivered[1] == 1));
    assert(delivered[0] + delivered[1] == got[C0] + got[C1]);
    assert(permit[0] == 0 && permit[1] == 0 && permit[2] == 0)
}
#endif
