/* kc_select.c - select over channel clauses: poll, register, wait, claim once.
 *
 * A select first polls its clauses (array order when biased, a fresh random
 * order when unbiased): a clause whose channel looks ready from a lock-free
 * peek is tried under its own channel's lock; the first clause that can
 * complete at once does, and that is the whole select. Otherwise
 * it locks every channel involved (in address order, each once, as Go's
 * sellock does), polls again with all locks held, and if still nothing is
 * ready publishes one SELECT token, the claim word, plus one clause token
 * per clause in the clauses' queues, and drops the locks. While the locks
 * are held nobody can see the clauses, so a select never has to claim its
 * own word while its clauses are visible, and it never meets itself.
 *
 * Claim word (the SELECT token's status; graduated waiter_token module):
 *
 *   state     event                                   next       by
 *   --------  --------------------------------------  ---------  -----------------------------
 *   INIT      nothing ready: clauses published        ENQUEUED   select_wait (kc__waiter_publish)
 *   ENQUEUED  a peer takes a clause (moves element)   CLAIMED    take_peer in kc_chan_locked.c
 *   ENQUEUED  a close reaches a clause (-EPIPE)       CLAIMED    kc_chan_close
 *   ENQUEUED  timeout or cancellation                 CANCELLED  kc__waiter_select_cancel
 *   ENQUEUED  a peer or close finds the owner         CANCELLED  take_peer in kc_chan_locked.c
 *             cancelled (result -ECANCELED)
 *   any       released after every clause withdrawn   (dead)     kc__waiter_scope_end
 *
 * Invariants:
 *   L1  exactly one transition leaves ENQUEUED, so at most one clause
 *       fires and the owner is woken once (no double resume);
 *   L2  a clause token is CLAIMED only after its select was (a peer claims
 *       the select first, under the clause's channel lock);
 *   L3  every peer touches a clause or its select only under the lock of
 *       the clause's channel, so once the owner has withdrawn each clause
 *       under that lock, nothing refers to its tokens any more;
 *   L4  a peer that loses the claim drops the stale clause and moves on.
 */
#include "chan/kc_chan_impl.h"
#include "chan/kc_chan_seq.h"
#include "chan/kc_chan_svc.h"

#include "sched/kc_sched_svc.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Selects of up to this many clauses keep their tokens on the stack. */
enum {
    KC_SELECT_STACK_TOKENS = 8
};

/* The per-thread generator of unbiased orders (xorshift64*). It is reached
 * only through rng_next(), which does not yield, so a coroutine that moves
 * between workers never holds a stale thread-local address. */
static _Thread_local uint64_t rng_state;

__attribute__((noinline)) static uint64_t rng_next(void)
{
    __asm__ volatile("" ::: "memory");
    uint64_t x = rng_state;
    if (x == 0)
        x = (uint64_t)kc__sched_now() ^ ((uint64_t)(uintptr_t)&rng_state << 17) ^
            0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x != 0 ? x : 1;
    return x * 0x2545f4914f6cdd1dull;
}

__attribute__((noinline)) void kc__chan_select_seed(uint64_t seed)
{
    __asm__ volatile("" ::: "memory");
    rng_state = seed != 0 ? seed : 1;
}

/* Random bits for a shuffle, drawn KC_SELECT_DRAW_BITS at a time, so one
 * call of the generator serves three draws (a select of up to 4 clauses
 * needs 3). Multiply-shift maps a draw onto [0, n) with a bias below
 * n / 2^21 (3e-5 for the largest select), far under what the chi-square
 * test of test_select.c can see. */
enum {
    KC_SELECT_DRAW_BITS = 21
};

struct kc_draws {
    uint64_t bits;
    unsigned left; /* draws still in bits */
};

/* A uniform integer in [0, n), n <= KC_CHAN_SELECT_MAX. */
static size_t uniform(struct kc_draws *d, size_t n)
{
    if (d->left == 0) {
        d->bits = rng_next();
        d->left = 64 / KC_SELECT_DRAW_BITS;
    }
    uint64_t r = d->bits & ((1u << KC_SELECT_DRAW_BITS) - 1);
    d->bits >>= KC_SELECT_DRAW_BITS;
    d->left--;
    return (size_t)((r * (uint64_t)n) >> KC_SELECT_DRAW_BITS);
}

void kc__chan_select_order(uint8_t *order, size_t n, uint32_t flags)
{
    for (size_t i = 0; i < n; i++)
        order[i] = (uint8_t)i;
    if (flags == KC_CHAN_SELECT_UNBIASED) {
        struct kc_draws d = {0, 0};
        for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
            size_t j = uniform(&d, i + 1);
            uint8_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }
}

int kc__chan_select_check(const kc_chan_clause_t *cl, size_t n, uint32_t flags, uint8_t *detour)
{
    if (cl == NULL || n == 0 || n > KC_CHAN_SELECT_MAX || flags > KC_CHAN_SELECT_UNBIASED)
        return -EINVAL;
    uint8_t any = 0;
    for (size_t i = 0; i < n; i++) {
        const kc_chan_clause_t *c = &cl[i];
        if (c->size != sizeof(*c))
            return -EINVAL;
        if (c->chan == NULL || c->buf == NULL || (c->op & KC_CHAN_CLAUSE_OFF) != 0)
            return KC__SELECT_SPARSE; /* off or discarding clauses: kc_select_off.c */
        if (c->op != KC_CHAN_CLAUSE_SEND && c->op != KC_CHAN_CLAUSE_RECV)
            return -EINVAL;
        if (c->chan->rops != NULL) {
            if (c->chan->rsel == NULL) /* a remote channel without select */
                return kc__chan_fail(c->chan, -ENOTSUP);
            any |= KC__SELECT_REMOTE;
            continue; /* copied elements only: nothing to check */
        }
        any |= (uint8_t)c->chan->boxed;                        /* KC__SELECT_BOXED */
        if (c->op == KC_CHAN_CLAUSE_SEND && !c->chan->boxed) { /* boxed: bytes, staged later */
            int rc = kc__chan_check_elem(c->chan, c->buf);
            if (rc != 0)
                return kc__chan_fail(c->chan, rc);
        }
    }
    *detour = any;
    return 0;
}

static int clause_locked(kc_chan_clause_t *c, kc_waiter_t **wake)
{
    return c->op == KC_CHAN_CLAUSE_SEND ? kc__chan_send_locked(c->chan, c->buf, wake)
                                        : kc__chan_recv_locked(c->chan, c->buf, wake);
}

/* The clause at index i fired with rc (0, -EPIPE, -ECONNRESET) or failed
 * the select (-ENOMEM). */
int kc__chan_select_fired(kc_chan_clause_t *cl, size_t i, int rc)
{
    if (rc == -ENOMEM)
        return kc__chan_fail(cl[i].chan, rc);
    cl[i].result = kc__chan_fail(cl[i].chan, rc);
    return (int)i;
}

/* A clause on a remote channel, in a select that has any (far). A local
 * select passes far NULL, so after inlining none of the tests below
 * remain in it. */
static inline bool is_far(const struct kc__select_far *far, const kc_chan_clause_t *c)
{
    return far != NULL && c->chan->rops != NULL;
}

/* The distinct channels of the local clauses, sorted by address. */
static size_t lock_set(const kc_chan_clause_t *cl, size_t n, kc_chan_t **set,
                       const struct kc__select_far *far)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        kc_chan_t *ch = cl[i].chan;
        if (is_far(far, &cl[i]))
            continue;
        size_t j = m;
        while (j > 0 && (uintptr_t)set[j - 1] > (uintptr_t)ch)
            j--;
        if (j > 0 && set[j - 1] == ch)
            continue;
        for (size_t k = m; k > j; k--)
            set[k] = set[k - 1];
        set[j] = ch;
        m++;
    }
    return m;
}

static void init_clauses(kc_chan_clause_t *cl, size_t n, kc_waiter_t *tok, kc_waiter_t *sel)
{
    for (size_t i = 0; i < n; i++) {
        bool send = cl[i].op == KC_CHAN_CLAUSE_SEND;
        kc__waiter_init_clause(&tok[i], send ? KC_WAITER_SENDER : KC_WAITER_RECEIVER, sel);
        if (send)
            kc__waiter_put_bytes(&tok[i], cl[i].buf, cl[i].chan->slot_size);
        else
            kc__waiter_want_bytes(&tok[i], cl[i].buf, cl[i].chan->slot_size);
        tok[i].user = (void *)(uintptr_t)i;
    }
}

/* The owner ends its own wait with rc (a remote clause's arming failed). */
static void self_decide(kc_waiter_t *sel, int rc)
{
    if (kc__waiter_try_cancel(sel)) {
        sel->result = rc;
        kc__chan_wake(sel);
    }
}

/* Arm the remote clauses in the select's order, with their tokens as the
 * wakers, while nothing has decided the wait (X2 of kc_select_remote.c);
 * an arming that fails decides it with its error. */
static void arm_far(kc_chan_clause_t *cl, size_t n, const uint8_t *order, kc_waiter_t *tok,
                    kc_waiter_t *sel, struct kc__select_far *far)
{
    memset(far->armed, 0, sizeof far->armed);
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        if (!is_far(far, &cl[i]))
            continue;
        if (kc__waiter_status(sel) != KC_WAITER_ENQUEUED)
            return; /* decided already: arming more would be wasted */
        kc__waiter_mark_enqueued(&tok[i]);
        kc_chan_t *ch = cl[i].chan;
        int rc =
            ch->rsel->sel_arm(ch->rimpl, cl[i].op == KC_CHAN_CLAUSE_SEND, &tok[i], &far->cookie[i]);
        if (rc < 0) {
            self_decide(sel, rc);
            return;
        }
        far->armed[i] = true;
    }
}

/* Nothing looked ready in the optimistic poll: lock all, poll again (this
 * pass is atomic, so a try-select that fails saw every clause not ready at
 * one instant), else register and wait, then withdraw every clause.
 *
 * The lifetime rule: each published clause is inside its channel until
 * the withdrawal below takes it out, under that channel's lock, together
 * with the count of the clause that fired; after that the select does not
 * touch the channel again. When it will (a rerun after a seq-ring channel's
 * KC__CHAN_RETRY, or a boxed select's settling, life->stay), the clauses
 * stay inside and are left at the end (kc__chan_select_leave). The
 * caller's token is held from the publication to the end of the select
 * (life->held; its peers read it through the select's owner).
 *
 * With far (kc_select_remote.c), the remote clauses take no lock and no
 * queue: they are armed once the local ones are published and the locks
 * dropped, and withdrawn by sel_disarm; a fire that won their token
 * decides the wait with KC__CHAN_RETRY, as a seq-ring channel's retry. */
static inline __attribute__((always_inline)) int
select_wait(kc_chan_clause_t *cl, size_t n, const uint8_t *order, int64_t timeout_ns,
            const kc_cancel_t *cancel, struct kc__select_life *life, struct kc__select_far *far)
{
    kc_waiter_t stack_tok[KC_SELECT_STACK_TOKENS];
    kc_waiter_t *tok = stack_tok;
    if (n > KC_SELECT_STACK_TOKENS) {
        tok = aligned_alloc(_Alignof(kc_waiter_t), n * sizeof(kc_waiter_t));
        if (tok == NULL)
            return -ENOMEM;
    }
    kc_waiter_t sel;
    struct kc__chan_owner o;
    kc_waiter_scope_t sc;
    kc__chan_owner_init(&o, &sel, cancel);
    kc__waiter_init(&sel, KC_WAITER_SELECT, &o, &kc__chan_owner_ops);
    kc__waiter_scope_begin(&sc, &sel);
    init_clauses(cl, n, tok, &sel);
    kc_chan_t *set[KC_CHAN_SELECT_MAX];
    size_t m = lock_set(cl, n, set, far);
    for (size_t k = 0; k < m; k++)
        kc__lock(&set[k]->lock);
    /* Seq-ring channels: announce the wait before the last poll (the
     * handshake of kc_chan_seq.h); a try-select does not wait. */
    for (size_t i = 0; i < n && timeout_ns != 0; i++)
        if (cl[i].chan->seqring)
            kc__chan_seq_announce(cl[i].chan, cl[i].op == KC_CHAN_CLAUSE_SEND);
    int rc = -EAGAIN;
    size_t idx = 0;
    kc_waiter_t *wake = NULL;
    for (size_t k = 0; k < n && rc == -EAGAIN; k++) {
        idx = order[k];
        if (!is_far(far, &cl[idx]))
            rc = clause_locked(&cl[idx], &wake);
    }
    if ((rc == -EAGAIN || rc == -EPIPE) && kc_cancel_is_triggered(cancel)) {
        rc = -ECANCELED; /* it fired since kc_chan_select checked it */
        idx = n;
    }
    if (rc == -EAGAIN && timeout_ns != 0) {
        if (cancel != NULL && !life->held) {
            kc__cancel_hold(cancel);
            life->held = true;
        }
        kc__waiter_publish(&sel);
        for (size_t k = 0; k < n; k++) /* the queues' lengths now carry the announcements */
            if (!is_far(far, &cl[order[k]]))
                kc__chan_enqueue(cl[order[k]].chan, &tok[order[k]],
                                 cl[order[k]].op == KC_CHAN_CLAUSE_SEND);
    } else {
        for (size_t i = 0; i < n && timeout_ns != 0; i++)
            if (cl[i].chan->seqring)
                kc__chan_seq_settle(cl[i].chan, cl[i].op == KC_CHAN_CLAUSE_SEND);
    }
    for (size_t k = m; k > 0; k--)
        kc__unlock(&set[k - 1]->lock);
    if (rc == -EAGAIN && timeout_ns == 0) {
        idx = n; /* a try-select: nothing was ready while everything was locked */
    } else if (rc == -EAGAIN) {
        if (far != NULL)
            arm_far(cl, n, order, tok, &sel, far);
        if (kc__chan_noting())
            kc__chan_note_select(o.parker, cl[0].chan, n);
        kc__chan_note_clauses(o.parker, cl, n);
        rc = kc__waiter_scope_wait(&sc, timeout_ns);
        bool cancelled = kc__waiter_status(&sel) == KC_WAITER_CANCELLED;
        bool stay = life->stay || rc == KC__CHAN_RETRY;
        if (stay && !life->any_owed) {
            memset(life->owed, 0, n * sizeof(life->owed[0]));
            life->any_owed = true;
        }
        idx = n;
        for (size_t i = 0; i < n; i++) {
            kc_chan_t *ch = cl[i].chan;
            if (is_far(far, &cl[i])) {
                if (!far->armed[i])
                    continue;
                ch->rsel->sel_disarm(ch->rimpl, cl[i].op == KC_CHAN_CLAUSE_SEND, far->cookie[i]);
                /* acquire: pairs with the fire's release (X2: it has returned) */
                if (kc__waiter_status(&tok[i]) == KC_WAITER_CLAIMED)
                    idx = i;
                continue;
            }
            kc__lock(&ch->lock);
            if (kc__chan_dequeue(ch, &tok[i]) && cancelled)
                kc__chan_bump(&ch->ctr.cancelled_waiters, 1);
            if (kc__waiter_status(&tok[i]) == KC_WAITER_CLAIMED) {
                idx = i; /* L1, L2 (X1 with remote clauses): at most one */
                if (rc < 0 && rc != KC__CHAN_RETRY)
                    kc__chan_fail(ch, rc); /* -EPIPE */
            }
            if (stay)
                life->owed[i]++;
            else
                ch->inside--; /* the last touch of ch (see above) */
            kc__unlock(&ch->lock);
        }
        if (rc == KC__CHAN_RETRY) { /* a seq-ring channel or a remote fire: run again */
            life->notified = (int)idx;
            idx = n; /* none fired */
            rc = KC__SELECT_RETRY;
        } else if (idx < n) {
            cl[idx].result = rc; /* counted above */
            rc = (int)idx;
            idx = n;
        }
    } else {
        kc__chan_wake(wake);
    }
    kc__waiter_scope_end(&sc, 0);
    if (tok != stack_tok)
        free(tok);
    return idx < n ? kc__chan_select_fired(cl, idx, rc) : rc;
}

/* The remote select's copy of the wait; a local select inlines its own
 * with far NULL, in which no remote test remains. */
int kc__chan_select_wait(kc_chan_clause_t *cl, size_t n, const uint8_t *order, int64_t timeout_ns,
                         const kc_cancel_t *cancel, struct kc__select_life *life,
                         struct kc__select_far *far)
{
    return select_wait(cl, n, order, timeout_ns, cancel, life, far);
}

/* A local clause tried as a select's poll does: lock-free on a seq-ring
 * channel, else under its channel's lock when it looks ready. Returns 0
 * (it fired), -EAGAIN (not ready), -ECANCELED or the clause's error. */
static inline __attribute__((always_inline)) int clause_poll(kc_chan_clause_t *c,
                                                             const kc_cancel_t *cancel)
{
    bool send = c->op == KC_CHAN_CLAUSE_SEND;
    if (c->chan->seqring) {
        if (kc__chan_seq_try(c->chan, send, c->buf))
            return 0;
        if (!kc__chan_closed(c->chan))
            return -EAGAIN; /* not ready; closed: the locked attempt answers */
    } else if (!(send ? kc__chan_may_send(c->chan) : kc__chan_may_recv(c->chan))) {
        return -EAGAIN;
    }
    kc_waiter_t *wake = NULL;
    kc__lock(&c->chan->lock);
    int rc = clause_locked(c, &wake);
    if (rc == -EPIPE && kc_cancel_is_triggered(cancel))
        rc = -ECANCELED; /* it fired since the check above: cancel still comes first */
    kc__unlock(&c->chan->lock);
    kc__chan_wake(wake);
    return rc;
}

int kc__chan_select_poll(kc_chan_clause_t *c, const kc_cancel_t *cancel)
{
    return clause_poll(c, cancel);
}

static int select_once(kc_chan_clause_t *cl, size_t n, uint32_t flags, int64_t timeout_ns,
                       const kc_cancel_t *cancel, struct kc__select_life *life);

void kc__chan_select_leave(kc_chan_clause_t *cl, size_t n, struct kc__select_life *life)
{
    for (size_t i = 0; life->any_owed && i < n; i++)
        kc__chan_leave(cl[i].chan, life->owed[i]); /* each the last touch of its clause's */
}

/* flatten, as kc__chan_transfer (kc_chan_ops.c) and for the same reasons:
 * 46 -> 42 ns per message for select4 on one worker.
 *
 * A wait that a seq-ring channel ended with KC__CHAN_RETRY runs the select
 * again with what is left of the timeout (as seq_transfer does). The
 * wake-up was meant for the element or the room on that clause's channel:
 * when the select ends any other way (another clause fires, or an error),
 * that chance would be lost for the next waiter of the same side, so it is
 * passed on to one (kc__chan_seq_notify_slow). A rerun that waits again
 * has tried every clause first, so only the last wake-up can be owed. */
__attribute__((flatten)) int kc__chan_select_run(kc_chan_clause_t *cl, size_t n, uint32_t flags,
                                                 int64_t timeout_ns, const kc_cancel_t *cancel,
                                                 struct kc__select_life *outer)
{
    /* a timed select's deadline, for the reruns: taken before any wait */
    int64_t deadline = kc__deadline_after(timeout_ns);
    struct kc__select_life own; /* owed[] is cleared when first used (any_owed) */
    /* cppcheck-suppress uninitvar ; owed[] is read only once any_owed is set */
    struct kc__select_life *life = outer != NULL ? outer : &own;
    life->notified = -1;
    life->held = false;
    life->stay = outer != NULL;
    life->any_owed = false;
    int rc = select_once(cl, n, flags, timeout_ns, cancel, life);
    if (__builtin_expect(rc != KC__SELECT_RETRY, 1)) {
        if (life->held)
            kc__cancel_release(cancel);
        return rc;
    }
    bool timed = timeout_ns != 0;
    do {
        timeout_ns = kc__deadline_left(deadline);
        rc = select_once(cl, n, flags, timeout_ns, cancel, life);
    } while (rc == KC__SELECT_RETRY);
    int notified = life->notified;
    if (notified >= 0 && (size_t)notified < n && rc != notified) /* pass the chance on */
        kc__chan_seq_notify_slow(cl[notified].chan, cl[notified].op == KC_CHAN_CLAUSE_RECV);
    if (life->held)
        kc__cancel_release(cancel);
    if (outer == NULL)
        kc__chan_select_leave(cl, n, life); /* the last touches of the clauses' channels */
    return rc == -EAGAIN && timed ? -ETIME : rc;
}

static int select_once(kc_chan_clause_t *cl, size_t n, uint32_t flags, int64_t timeout_ns,
                       const kc_cancel_t *cancel, struct kc__select_life *life)
{
    uint8_t order[KC_CHAN_SELECT_MAX];
    kc__chan_select_order(order, n, flags);
    for (size_t k = 0; k < n; k++) { /* pass 1: only channels that look ready */
        int rc = clause_poll(&cl[order[k]], cancel);
        if (rc == -ECANCELED)
            return rc;
        if (rc != -EAGAIN)
            return kc__chan_select_fired(cl, order[k], rc);
    }
    return select_wait(cl, n, order, timeout_ns, cancel, life, NULL);
}
