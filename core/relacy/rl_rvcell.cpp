/* rl_rvcell.cpp - the rendezvous cell (graduated/waiter_token) under
 * Relacy: a sender and a receiver arrive at one cell, and whichever waits
 * may withdraw at once (a timeout of zero), racing the other's match.
 *
 * Drives kc__rv_cell_offer (arrive, publish, meet, move) and
 * kc__rv_cell_withdraw with the waiter token helpers and
 * kc__waiter_transfer, copied by extract.pl with their memory orders. The
 * owner's wake and park are a futex word (release store and wake; wait
 * for it with acquire). Each owner frees its token once its wait is over.
 * Invariants checked:
 *   - one outcome per cell: either the element moved once (the receiver
 *     has the sender's value, both tokens CLAIMED) or the waiting side
 *     withdrew and nothing moved;
 *   - the payload moves with its publication (the sender's value is plain
 *     data: a copy not ordered after its write is a data race);
 *   - a peer's wake is its last touch of the waiting token, and every wake
 *     owed is consumed (no use after release: the token is freed after).
 */
//! extract: enum:RETRY enum:OFFER enum:KC_RV_CLAIMING enum:KC_RV_PUBLISHED
//! extract: enum:KC_WAITER_SELECT enum:KC_WAITER_CLAIMED enum:KC_PAYLOAD_BYTES
//! extract: macro:STATE_MASK macro:TOKEN_MASK macro:COUNT macro:KC_RV_CLAUSE_BIT
//! extract: macro:KC_WAITER_MAGIC_LIVE macro:KC_WAITER_MAGIC_DEAD macro:KC_WAITER_DESC_OWNED
//! extract: kc__waiter_usable kc__waiter_status_relaxed kc__waiter_status kc__waiter_cas_status
//! extract: kc__waiter_try_claim kc__waiter_try_cancel kc__waiter_mark_enqueued
//! extract: kc__waiter_publish kc__waiter_retract kc__waiter_transfer
//! extract: pack@kc__rv_cell_offer state_of@kc__rv_cell_offer token_of@kc__rv_cell_offer
//! extract: cas_word@kc__rv_cell_offer arrival_ok@kc__rv_cell_offer publish@kc__rv_cell_offer
//! extract: move@kc__rv_cell_offer meet@kc__rv_cell_offer arrive@kc__rv_cell_offer
//! extract: kc__rv_cell_offer kc__rv_cell_register kc__rv_cell_withdraw
//! extract: kc__rv_cell_withdraw_wait
//! mutant: publish_rel publish:compare_exchange:relaxed
//! mutant: cas_word_acq_rel cas_word:compare_exchange:relaxed
//! mutant: withdraw_acq kc__rv_cell_withdraw:&c->word:relaxed
//! slack: status_cas kc__waiter_cas_status:&w->status:relaxed
#include "kc_relacy.hpp"

typedef struct kc_waiter kc_waiter_t;
typedef struct kc_waiter_owner_ops {
    void (*wake)(void *owner);
    int (*park)(void *owner, int64_t timeout_ns);
} kc_waiter_owner_ops_t;
typedef int (*kc_waiter_cancel_fn)(kc_waiter_t *w);
typedef struct kc_waiter_desc {
    void *ptr;
    size_t len;
    uint64_t ticket;
    uint32_t flags;
} kc_waiter_desc_t;

typedef struct kc_payload {
    int type;
    union {
        struct {
            const void *src;
            void *dst;
            size_t len;
            size_t cap;
        } bytes;
        void *ptr;
        kc_waiter_desc_t desc;
    } u;
} kc_payload_t;

struct alignas(16) kc_waiter {
    kc_atomic<int> status;
    uint8_t kind;
    kc_atomic<uint32_t> magic;
    kc_rl_plain<int> result;
    void *owner;
    const kc_waiter_owner_ops_t *ops;
    kc_rl_plain<kc_waiter_t *> parent; /* race-checked: a peer reads it */
    kc_waiter_cancel_fn cancel;
    void *site;
    void *site_stats;
    kc_payload_t payload;
};

typedef struct kc_rv_stats {
    kc_atomic<uint64_t> published, matched, mismatched, descs_moved, bytes_moved, claim_lost,
        broken, cancelled, poisoned;
} kc_rv_stats_t;
typedef struct kc_rv_cell {
    kc_atomic<uintptr_t> word;
} kc_rv_cell_t;

static int kc__rv_cell_cancel_hook(kc_waiter_t *w);

/* The payload is one plain int on each side (race-checked). */
static void *kc_rl_var_copy(void *dst, const void *src, size_t n)
{
    RL_ASSERT(n == sizeof(int));
    (*(rl::var<int> *)dst)($) = (*(rl::var<int> *)const_cast<void *>(src))($);
    return dst;
}
#define memcpy kc_rl_var_copy
#define sched_yield() rl::yield(1, $)

kc_rl_futex *kc_rl_futex_cur;

#include "kc_relacy_gen.h"

#undef memcpy

int kc__rv_cell_cancel_hook(kc_waiter_t *w)
{
    return kc__rv_cell_withdraw((kc_rv_cell_t *)w->site, w, nullptr);
}

/* An owner: a futex word its waker sets. */
struct owner {
    kc_atomic<uint32_t> woken;
};
static void owner_wake(void *o)
{
    struct owner *ow = (struct owner *)o;
    ow->woken($).store(1, rl::mo_release);
    kc_rl_futex_wake(&ow->woken);
}
static int owner_park(void *o, int64_t timeout_ns)
{
    (void)timeout_ns;
    struct owner *ow = (struct owner *)o;
    while (ow->woken($).load(rl::mo_acquire) == 0)
        kc_rl_futex_wait(&ow->woken, 0u);
    return 0;
}
static const kc_waiter_owner_ops_t ops = {owner_wake, owner_park};

struct rv_test : rl::test_suite<rv_test, 2> {
    kc_rl_futex fx;
    kc_rv_cell_t cell;
    struct owner own[2];
    kc_waiter_t *tok[2];
    rl::var<int> sval, rval;
    int rc[2], withdrew[2];
    int status_end[2];

    void before()
    {
        kc_rl_futex_cur = &fx;
        cell.word($).store(0, rl::mo_relaxed);
        sval($) = 0;
        rval($) = 0;
        for (int i = 0; i < 2; i++) {
            own[i].woken($).store(0, rl::mo_relaxed);
            kc_waiter_t *w = tok[i] = new kc_waiter_t;
            w->status($).store(KC_WAITER_INIT, rl::mo_relaxed);
            w->kind = i == 0 ? KC_WAITER_SENDER : KC_WAITER_RECEIVER;
            w->magic($).store(KC_WAITER_MAGIC_LIVE, rl::mo_relaxed);
            w->result = -EAGAIN;
            w->owner = &own[i];
            w->ops = &ops;
            w->parent = nullptr;
            w->cancel = nullptr;
            w->site = nullptr;
            w->site_stats = nullptr;
            w->payload.type = KC_PAYLOAD_BYTES;
            w->payload.u.bytes.src = i == 0 ? (const void *)&sval : nullptr;
            w->payload.u.bytes.dst = i == 1 ? (void *)&rval : nullptr;
            w->payload.u.bytes.len = i == 0 ? sizeof(int) : 0;
            w->payload.u.bytes.cap = i == 1 ? sizeof(int) : 0;
            withdrew[i] = 0;
        }
    }

    void thread(unsigned idx)
    {
        kc_waiter_t *w = tok[idx];
        if (idx == 0)
            sval($) = 5; /* the element, written before the offer */
        rc[idx] = kc__rv_cell_offer(&cell, w, nullptr);
        if (rc[idx] == KC_RV_PUBLISHED) {
            /* a zero timeout: withdraw at once, or take the owed wake */
            int wr = kc__rv_cell_withdraw(&cell, w, nullptr);
            RL_ASSERT(wr == 0 || wr == 1);
            if (wr == 1)
                withdrew[idx] = 1;
            else
                owner_park(w->owner, -1);
        } else {
            RL_ASSERT(rc[idx] == KC_RV_DONE || rc[idx] == KC_RV_BROKEN || rc[idx] == -EBUSY);
        }
        status_end[idx] = kc__waiter_status(w);
        if (idx == 1 && status_end[idx] == KC_WAITER_CLAIMED)
            RL_ASSERT(rval($) == 5);
        if (idx == 1 && rc[idx] == KC_RV_DONE)
            RL_ASSERT(rval($) == 5);
        delete w; /* the wait is over: no peer touches it any more */
    }

    void after()
    {
        bool moved = rc[0] == KC_RV_DONE || rc[1] == KC_RV_DONE;
        if (moved) {
            RL_ASSERT(!withdrew[0] && !withdrew[1]);
            RL_ASSERT(rval($) == 5);
            /* the waiting side was claimed */
            RL_ASSERT(status_end[rc[0] == KC_RV_DONE ? 1 : 0] == KC_WAITER_CLAIMED);
        } else {
            RL_ASSERT(rval($) == 0); /* nothing moved */
        }
    }
};

/* A select with one receive clause registered in the cell; its owner
 * times out at once (cancels the select, withdraws the clause, waiting
 * out a peer's CLAIMING) while a plain sender arrives and claims. The
 * owner then reuses the tokens' memory (a race-checked write of the
 * clause's parent), so a peer still reading them is a race. */
struct rv_clause_test : rl::test_suite<rv_clause_test, 2> {
    kc_rl_futex fx;
    kc_rv_cell_t cell;
    struct owner own[2];
    kc_waiter_t *sel, *clause, *snd;
    rl::var<int> sval, rval;
    int src, owner_rc, cancelled;

    kc_waiter_t *token(int kind, int i)
    {
        kc_waiter_t *w = new kc_waiter_t;
        w->status($).store(KC_WAITER_INIT, rl::mo_relaxed);
        w->kind = (uint8_t)kind;
        w->magic($).store(KC_WAITER_MAGIC_LIVE, rl::mo_relaxed);
        w->result = -EAGAIN;
        w->owner = &own[i];
        w->ops = &ops;
        w->parent = nullptr;
        w->cancel = nullptr;
        w->site = nullptr;
        w->site_stats = nullptr;
        w->payload.type = KC_PAYLOAD_NONE;
        return w;
    }

    void before()
    {
        kc_rl_futex_cur = &fx;
        cell.word($).store(0, rl::mo_relaxed);
        sval($) = 0;
        rval($) = 0;
        for (auto &o : own)
            o.woken($).store(0, rl::mo_relaxed);
        sel = token(KC_WAITER_SELECT, 0);
        sel->status($).store(KC_WAITER_ENQUEUED, rl::mo_relaxed); /* published */
        clause = token(KC_WAITER_RECEIVER, 0);
        clause->parent = sel;
        clause->payload.type = KC_PAYLOAD_BYTES;
        clause->payload.u.bytes.dst = &rval;
        clause->payload.u.bytes.cap = sizeof(int);
        snd = token(KC_WAITER_SENDER, 1);
        snd->payload.type = KC_PAYLOAD_BYTES;
        snd->payload.u.bytes.src = &sval;
        snd->payload.u.bytes.len = sizeof(int);
        RL_ASSERT(kc__rv_cell_register(&cell, clause, nullptr) == KC_RV_PUBLISHED);
    }

    void thread(unsigned idx)
    {
        if (idx == 1) {
            sval($) = 5;
            src = kc__rv_cell_offer(&cell, snd, nullptr);
            delete snd; /* offer returned: never published, or it met the clause */
            return;
        }
        cancelled = kc__waiter_try_cancel(sel);
        if (!cancelled)
            owner_park(sel->owner, -1); /* a peer claimed: its wake is owed */
        RL_ASSERT(kc__rv_cell_withdraw_wait(&cell, clause, nullptr) >= 0);
        owner_rc = cancelled ? -ETIME : (int)sel->result;
        if (!cancelled)
            RL_ASSERT(rval($) == 5);
        clause->parent = nullptr; /* the memory is reused: peers are done */
        delete clause;
        delete sel;
    }

    void after()
    {
        /* one winner: the owner's cancel, or the sender's claim */
        RL_ASSERT(cancelled ? src == KC_RV_BROKEN || src == -EBUSY : src == KC_RV_DONE);
        RL_ASSERT(cancelled ? rval($) == 0 : rval($) == 5);
    }
};

int main(int argc, char **argv)
{
    if (!kc_rl_select(argc, argv, kc_rl_mutant_names))
        return 2;
    bool ok =
        kc_rl_run<rv_test>("rv cell: sender vs receiver, the waiter withdraws at once", 100000);
    ok = ok && kc_rl_run<rv_clause_test>(
                   "rv cell: a select clause vs a sender, the select times out", 100000);
    return ok ? 0 : 1;
}
