/* kc_waiter.c - waiter tokens: status CAS helpers, payload hand-off, the
 * scope guard that releases each token once, and an intrusive queue.
 *
 * A token belongs to its owner; while it is published, peers and cancellers
 * touch it only after winning a CAS that says they may (see kc_rv_cell.c for
 * how a cell grants that). This file never blocks except in the scope guard,
 * which parks the owner through its ops. It holds no locks.
 *
 * Invariants (kc__waiter_check() asserts W1-W8 on a token nobody else uses):
 *   W1  magic is KC_WAITER_MAGIC_LIVE from init until release, then
 *       KC_WAITER_MAGIC_DEAD; a dead token is refused with -ESTALE.
 *   W2  kind is SENDER, RECEIVER or SELECT; status is one of the four.
 *   W3  a SELECT token has no parent, no payload and a cancellation hook.
 *   W4  a clause (a token with a parent) has a live SELECT parent and no
 *       owner ops of its own; every other token has ops with wake and park.
 *   W5  the payload fits the kind: a sender's bytes have a source when their
 *       length is not 0; a receiver's have a destination when their room is
 *       not 0 and never more received than room.
 *   W6  a token that is not INIT and not a clause has a cancellation hook
 *       (whoever published it installed one); queue links imply a site.
 *   W7  a CLAIMED clause has a CLAIMED parent.
 *   W8  a CLAIMED sender whose descriptor moved (result 0) no longer owns it.
 *
 * Rules the status table (kc_waiter.h) relies on:
 *   R1  only the winner of the deciding CAS writes `result` and calls wake;
 *       the owner reads them after consuming that wake.
 *   R2  a published token gets exactly one wake, unless its owner cancelled
 *       it itself; the scope guard consumes that wake before release.
 */
#include "kc_waiter.h"

#include <string.h>

int kc__waiter_init_clause(kc_waiter_t *w, kc_waiter_kind_t kind, kc_waiter_t *sel)
{
    if (w == NULL || (kind != KC_WAITER_SENDER && kind != KC_WAITER_RECEIVER))
        return -EINVAL;
    int rc = kc__waiter_usable(sel);
    if (rc != 0)
        return rc;
    if (sel->kind != KC_WAITER_SELECT)
        return -EINVAL;
    kc__waiter_reset(w, kind);
    w->parent = sel;
    return 0;
}

/* A payload may be set only on a live INIT token of the given kind. */
int kc__waiter_put_ptr(kc_waiter_t *w, void *p)
{
    int rc = kc__waiter_settable(w, KC_WAITER_SENDER);
    if (rc != 0)
        return rc;
    w->payload.type = KC_PAYLOAD_PTR;
    w->payload.u.ptr = p;
    return 0;
}

int kc__waiter_put_desc(kc_waiter_t *w, const kc_waiter_desc_t *d)
{
    int rc = kc__waiter_settable(w, KC_WAITER_SENDER);
    if (rc != 0)
        return rc;
    if (d == NULL)
        return -EINVAL;
    w->payload.type = KC_PAYLOAD_DESC;
    w->payload.u.desc = *d;
    return 0;
}

int kc__waiter_want(kc_waiter_t *w, kc_payload_type_t type)
{
    int rc = kc__waiter_settable(w, KC_WAITER_RECEIVER);
    if (rc != 0)
        return rc;
    if (type != KC_PAYLOAD_PTR && type != KC_PAYLOAD_DESC)
        return -EINVAL;
    memset(&w->payload, 0, sizeof(w->payload));
    w->payload.type = type;
    return 0;
}

/* What a receiver may take: of this type, and a transfer into it succeeded
 * (as the claimed waiter, or as the arriving party, which stays INIT). */
static int takeable(const kc_waiter_t *w, kc_payload_type_t type)
{
    if (w == NULL || w->kind != KC_WAITER_RECEIVER || w->payload.type != type)
        return -EINVAL;
    kc_waiter_status_t st = kc__waiter_status(w);
    if ((st != KC_WAITER_CLAIMED && st != KC_WAITER_INIT) || w->result != 0)
        return -EAGAIN;
    return 0;
}

int kc__waiter_take_ptr(kc_waiter_t *w, void **out)
{
    int rc = out ? takeable(w, KC_PAYLOAD_PTR) : -EINVAL;
    if (rc == 0)
        *out = w->payload.u.ptr;
    return rc;
}

int kc__waiter_take_desc(kc_waiter_t *w, kc_waiter_desc_t *out)
{
    int rc = out ? takeable(w, KC_PAYLOAD_DESC) : -EINVAL;
    if (rc == 0) {
        *out = w->payload.u.desc;
        w->payload.u.desc.flags &= ~KC_WAITER_DESC_OWNED;
    }
    return rc;
}

int kc__waiter_bytes_len(const kc_waiter_t *w, size_t *out)
{
    int rc = out ? takeable(w, KC_PAYLOAD_BYTES) : -EINVAL;
    if (rc == 0)
        *out = w->payload.u.bytes.len;
    return rc;
}

int kc__waiter_retract(kc_waiter_t *w)
{
    int rc = kc__waiter_usable(w);
    if (rc != 0)
        return rc;
    /* relaxed: the publishing CAS failed, so no other thread ever saw w */
    int expected = KC_WAITER_ENQUEUED;
    return atomic_compare_exchange_strong_explicit(&w->status, &expected, KC_WAITER_INIT,
                                                   memory_order_relaxed, memory_order_relaxed)
               ? 0
               : -EINVAL;
}

int kc__waiter_transfer(kc_waiter_t *snd, kc_waiter_t *rcv)
{
    kc_payload_t *s = &snd->payload;
    kc_payload_t *r = &rcv->payload;
    if (s->type != r->type || s->type == KC_PAYLOAD_NONE)
        return -EPROTO;
    switch (s->type) {
    case KC_PAYLOAD_BYTES:
        if (s->u.bytes.len > r->u.bytes.cap)
            return -EMSGSIZE;
        if (s->u.bytes.len > 0)
            memcpy(r->u.bytes.dst, s->u.bytes.src, s->u.bytes.len);
        r->u.bytes.len = s->u.bytes.len;
        return 0;
    case KC_PAYLOAD_PTR:
        r->u.ptr = s->u.ptr;
        return 0;
    case KC_PAYLOAD_DESC:
        r->u.desc = s->u.desc;
        s->u.desc.flags &= ~KC_WAITER_DESC_OWNED; /* ownership moved */
        return 0;
    default:
        return -EPROTO;
    }
}

int kc__waiter_select_cancel(kc_waiter_t *w)
{
    if (w == NULL || w->kind != KC_WAITER_SELECT)
        return -EINVAL;
    return kc__waiter_try_cancel(w) ? 1 : 0;
}

int kc__waiter_cancel(kc_waiter_t *w, int reason)
{
    int rc = kc__waiter_usable(w);
    if (rc != 0)
        return rc;
    if (w->parent != NULL || w->cancel == NULL)
        return -EINVAL;
    rc = w->cancel(w);
    if (rc == 1) {
        w->result = reason; /* R1: we decided, so we write and wake */
        w->ops->wake(w->owner);
    }
    return rc;
}

/* Settle a published token: park for its outcome, cancel on timeout, and
 * consume the one wake owed when someone else decided (R2). */
int kc__waiter_settle(kc_waiter_t *w, int64_t timeout_ns)
{
    int prc = timeout_ns == 0 ? -ETIME : w->ops->park(w->owner, timeout_ns);
    return kc__waiter_settle_parked(w, prc, timeout_ns);
}

int kc__waiter_settle_parked(kc_waiter_t *w, int prc, int64_t timeout_ns)
{
    if (kc__waiter_woken_decided(w, prc))
        return w->result;   /* decided, wake consumed */
    int won = w->cancel(w); /* W6: published => hook */
    if (won == 1) {
        if (prc == 0)
            w->result = -EPROTO; /* woken while still published */
        else
            w->result = timeout_ns == 0 ? -EAGAIN : prc; /* -ETIME, -ECANCELED */
        return w->result;
    }
    /* a peer or canceller decided first: its wake is owed, wait for it
     * (the owner's park must not give up on an owed wake, see kc_waiter.h) */
    w->ops->park(w->owner, KC_NO_TIMEOUT);
    return w->result;
}

void kc__waiter_queue_init(kc_waiter_queue_t *q)
{
    q->head = q->tail = NULL;
    q->len = 0;
}

static void unlink_waiter(kc_waiter_queue_t *q, kc_waiter_t *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->next = w->prev = NULL;
    w->site = NULL;
    q->len--;
}

int kc__waiter_queue_remove(kc_waiter_queue_t *q, kc_waiter_t *w)
{
    if (q == NULL || w == NULL || w->site != q)
        return -EINVAL;
    unlink_waiter(q, w);
    return 0;
}

const char *kc__waiter_status_name(kc_waiter_status_t s)
{
    static const char *const names[] = {"INIT", "ENQUEUED", "CLAIMED", "CANCELLED"};
    return (unsigned)s < 4 ? names[s] : "?";
}

const char *kc__waiter_kind_name(kc_waiter_kind_t k)
{
    static const char *const names[] = {"?", "sender", "receiver", "select"};
    return (unsigned)k < 4 ? names[k] : "?";
}

const char *kc__payload_type_name(kc_payload_type_t t)
{
    static const char *const names[] = {"none", "bytes", "ptr", "desc"};
    return (unsigned)t < 4 ? names[t] : "?";
}

#define FAIL(text)                                                                                 \
    do {                                                                                           \
        if (why)                                                                                   \
            *why = (text);                                                                         \
        return -EPROTO;                                                                            \
    } while (0)

int kc__waiter_check(const kc_waiter_t *w, const char **why)
{
    int rc = kc__waiter_usable(w);
    if (rc != 0) {
        if (why)
            *why = rc == -ESTALE ? "W1: token already released" : "W1: not a token";
        return rc;
    }
    kc_waiter_status_t st = kc__waiter_status_relaxed(w);
    if (w->kind < KC_WAITER_SENDER || w->kind > KC_WAITER_SELECT || (unsigned)st > 3)
        FAIL("W2: kind or status out of range");
    const kc_payload_t *p = &w->payload;
    if (w->kind == KC_WAITER_SELECT &&
        (w->parent != NULL || p->type != KC_PAYLOAD_NONE || w->cancel == NULL))
        FAIL("W3: select token with a parent, a payload or no hook");
    if (w->parent != NULL) {
        if (kc__waiter_usable(w->parent) != 0 || w->parent->kind != KC_WAITER_SELECT ||
            w->ops != NULL)
            FAIL("W4: clause without a live select parent, or with ops");
    } else if (w->ops == NULL || w->ops->wake == NULL || w->ops->park == NULL) {
        FAIL("W4: token without owner ops");
    }
    if (p->type == KC_PAYLOAD_BYTES) {
        if (w->kind == KC_WAITER_SENDER && p->u.bytes.src == NULL && p->u.bytes.len > 0)
            FAIL("W5: sender bytes without a source");
        if (w->kind == KC_WAITER_RECEIVER &&
            ((p->u.bytes.dst == NULL && p->u.bytes.cap > 0) || p->u.bytes.len > p->u.bytes.cap))
            FAIL("W5: receiver bytes without room");
    }
    if (st != KC_WAITER_INIT && w->parent == NULL && w->cancel == NULL)
        FAIL("W6: published token without a cancellation hook");
    if ((w->next != NULL || w->prev != NULL) && w->site == NULL)
        FAIL("W6: queue links without a site");
    if (st == KC_WAITER_CLAIMED && w->parent != NULL &&
        kc__waiter_status_relaxed(w->parent) != KC_WAITER_CLAIMED)
        FAIL("W7: claimed clause of an unclaimed select");
    if (st == KC_WAITER_CLAIMED && w->kind == KC_WAITER_SENDER && w->result == 0 &&
        p->type == KC_PAYLOAD_DESC && (p->u.desc.flags & KC_WAITER_DESC_OWNED))
        FAIL("W8: claimed sender still owns its descriptor");
    return 0;
}
