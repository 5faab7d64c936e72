/* kc_chan_arena.c - channels with an arena attached: boxed elements and owned releases.
 *
 * A channel created with kc_chan_opts_t.arena knows where its descriptors'
 * payloads live, so it can do two things a plain channel cannot:
 *
 * - Release what is never delivered. An element that is dropped by an
 *   overflow policy, replaced in a conflated channel or left at destroy
 *   goes to kc__chan_arena_undelivered() in kc_chan_locked.c (it happens under the
 *   channel lock), which shows it to the callback (if any) and then
 *   releases its reference itself.
 * - Box byte elements. A byte channel with an arena ("boxed") keeps each
 *   element in the arena and its ring holds only the descriptor. A copy
 *   send allocates and fills the element here, outside the channel lock,
 *   and hands the descriptor to the ordinary path (kc__chan_transfer); a
 *   copy receive takes a descriptor and copies it out. The descriptor
 *   calls work on a boxed channel without any copy at all.
 *
 * Every boxed element holds exactly one reference from its allocation to
 * its single release (the ownership rules of core/docs/ZERO_COPY.md):
 *
 *   reference of a boxed element  event                    released by
 *   ----------------------------  -----------------------  -------------------------
 *   copy send staged              send fails (-EAGAIN,     kc__chan_box_send
 *                                 -ETIME, -ECANCELED,
 *                                 -EPIPE, -ENOMEM)
 *   copy send staged              send returns 0           (moves to the channel)
 *   select send clause staged     the clause does not fire kc__chan_box_select
 *                                 (or fires with -EPIPE)
 *   in the channel                copy receive             kc__chan_box_recv
 *   in the channel                descriptor receive       the receiver
 *                                                          (kc_zdesc_release)
 *   in the channel                dropped, conflated,      kc__chan_arena_undelivered
 *                                 left at destroy
 *
 * Rules:
 *   A1  no reference is ever taken here except by allocation, so none can
 *       be released twice by the channel: each path above ends the one it
 *       holds, and a release the arena refuses (someone else released the
 *       same reference) is counted in arena_release_errors, logged under
 *       KCORO_DEBUG=log, and never retried;
 *   A2  allocation and the payload copy happen outside the channel lock;
 *       only the release of undelivered elements runs under it (the arena
 *       never blocks; it may take its own mutex briefly).
 */
#include "chan/kc_chan_impl.h"

#include <stdlib.h>
#include <string.h>

/* Selects with up to this many clauses stage boxed elements on the stack. */
enum {
    KC_BOX_STACK_CLAUSES = 4
};

static inline void count(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Release the reference d holds (A1; counted and logged in kc_chan_locked.c). */
static inline void release(kc_chan_t *ch, kc_zdesc_t *d)
{
    kc__chan_arena_release(ch, d);
}

/* Allocate a boxed element of ch holding a copy of msg. */
static int box(kc_chan_t *ch, const void *msg, kc_zdesc_t *d)
{
    int rc = kc_zdesc_alloc(d, ch->arena, ch->elem_size, 0);
    if (rc != 0)
        return rc; /* -ENOMEM or -EMSGSIZE; nothing was allocated */
    memcpy(d->ptr, msg, ch->elem_size);
    count(&ch->ctr.arena_boxed);
    return 0;
}

/* Copy a received boxed element out into out and release it. */
static int unbox(kc_chan_t *ch, kc_zdesc_t *d, void *out)
{
    void *p;
    int rc = kc_zdesc_hydrate(d, ch->arena, &p, NULL);
    if (rc != 0) { /* released behind the channel's back: nothing to copy */
        count(&ch->ctr.arena_release_errors);
        return rc;
    }
    memcpy(out, p, ch->elem_size);
    release(ch, d);
    return 0;
}

int kc__chan_box_send(kc_chan_t *ch, const void *msg, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (cancel != NULL && kc_cancel_is_triggered(cancel))
        return kc__chan_fail(ch, -ECANCELED);
    if (kc__chan_closed(ch)) /* spare the copy; the locked path decides otherwise */
        return kc__chan_fail(ch, -EPIPE);
    kc_zdesc_t d;
    int rc = box(ch, msg, &d);
    if (rc != 0)
        return kc__chan_fail(ch, rc);
    bool waited;
    rc = kc__chan_transfer_stay(ch, true, &d, timeout_ns, cancel, &waited);
    if (rc != 0)
        release(ch, &d);        /* the send failed: the staged copy dies here */
    kc__chan_leave(ch, waited); /* the last touch of ch */
    return rc;
}

int kc__chan_box_recv(kc_chan_t *ch, void *out, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    kc_zdesc_t d;
    bool waited;
    int rc = kc__chan_transfer_stay(ch, false, &d, timeout_ns, cancel, &waited);
    if (rc == 0) {
        rc = unbox(ch, &d, out);
        if (rc != 0)
            kc__chan_fail(ch, rc);
    }
    kc__chan_leave(ch, waited); /* the last touch of ch */
    return rc;
}

/* ------------------------------------------------------------ select */

int kc__chan_box_select(kc_chan_clause_t *cl, size_t n, uint32_t flags, int64_t timeout_ns,
                        const kc_cancel_t *cancel)
{
    kc_zdesc_t stack_box[KC_BOX_STACK_CLAUSES];
    void *stack_user[KC_BOX_STACK_CLAUSES];
    kc_zdesc_t *boxes = stack_box;
    void **user = stack_user;
    void *heap = NULL;
    if (n > KC_BOX_STACK_CLAUSES) {
        heap = malloc(n * (sizeof(kc_zdesc_t) + sizeof(void *)));
        if (heap == NULL)
            return -ENOMEM;
        boxes = heap;
        user = (void **)(void *)(boxes + n);
    }
    /* Stage: each boxed clause's buffer is swapped for a descriptor (the
     * element copied into the arena for a send, an empty one to receive
     * into), and swapped back below; the caller's array is ours until we
     * return. */
    int rc = 0;
    size_t staged = 0;
    for (; staged < n; staged++) {
        kc_chan_clause_t *c = &cl[staged];
        user[staged] = c->buf;
        if (!c->chan->boxed)
            continue;
        if (c->op == KC_CHAN_CLAUSE_SEND)
            rc = box(c->chan, c->buf, &boxes[staged]);
        else
            kc_zdesc_init(&boxes[staged], NULL, 0, 0);
        if (rc != 0) {
            rc = kc__chan_fail(c->chan, rc);
            break;
        }
        c->buf = &boxes[staged];
    }
    struct kc__select_life life;
    life.any_owed = false;
    int idx = rc == 0 ? kc__chan_select_run(cl, n, flags, timeout_ns, cancel, &life) : rc;
    /* Settle: the winner's reference moved (send) or arrived (receive);
     * every other staged send dies here. */
    for (size_t i = 0; i < staged; i++) {
        kc_chan_clause_t *c = &cl[i];
        if (!c->chan->boxed)
            continue;
        c->buf = user[i];
        bool won = idx == (int)i && c->result == 0;
        if (c->op == KC_CHAN_CLAUSE_SEND && !won)
            release(c->chan, &boxes[i]);
        else if (c->op == KC_CHAN_CLAUSE_RECV && won)
            c->result = kc__chan_fail(c->chan, unbox(c->chan, &boxes[i], c->buf));
    }
    kc__chan_select_leave(cl, n, &life); /* the last touches of the channels */
    free(heap);
    return idx;
}
