/* kc_select_off.c - select clauses that are off or discard their element.
 *
 * Go turns a select case off by setting its channel to nil and throws a
 * received value away with `case <-ch:`. Here a clause is off when its op
 * carries KC_CHAN_CLAUSE_OFF or its chan is NULL, and a receive clause
 * with a NULL buf discards. kc_select.c's clause check sends such a select
 * here through the front (kc_chan.c; the common select never pays for
 * it): the clauses that are on are copied, in order, into an array of
 * their own (so a biased select keeps its priorities), each discarding one
 * pointed at one scratch buffer (only one clause ever fires, so they share
 * it), the front runs the select on that array, and the index and result
 * go back to the caller's clause.
 *
 *   clause                         what happens
 *   -----------------------------  ------------------------------------------
 *   op has KC_CHAN_CLAUSE_OFF      skipped (chan and buf not looked at)
 *   chan NULL                      skipped
 *   RECV, buf NULL                 received into scratch, dropped; an owned
 *                                  descriptor goes back to the arena
 *   SEND, buf NULL                 -EINVAL, nothing happened
 *   every clause off               wait for the timeout or cancellation only
 */
#include "chan/kc_chan_impl.h"

#include "kcoro/park.h"

#include <stdlib.h>

/* The bytes a discarding receive of ch writes, or 0 when ch cannot discard
 * (a descriptor channel without an arena: nobody could release what it
 * would take). */
static size_t discard_size(const kc_chan_t *ch)
{
    if (ch->desc)
        return ch->arena != NULL ? sizeof(kc_zdesc_t) : 0;
    return ch->elem_size;
}

int kc__chan_select_none(int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (kc_cancel_is_triggered(cancel))
        return -ECANCELED;
    if (timeout_ns == 0)
        return -EAGAIN;
    kc_parker_t p;
    kc_parker_init(&p);
    kc__chan_note_select(&p, NULL, 0);
    int rc;
    do
        rc = kc_park(&p, timeout_ns, cancel);
    while (rc == 0); /* no permit can come; a spare one is just consumed */
    return rc;
}

int kc__chan_select_on(struct kc__select_on *on, const kc_chan_clause_t *cl, size_t n)
{
    size_t m = 0, scratch_size = 0;
    for (size_t i = 0; i < n; i++) { /* the caller checked n, flags and the timeout */
        const kc_chan_clause_t *c = &cl[i];
        if (c->size != sizeof(*c))
            return -EINVAL;
        if ((c->op & KC_CHAN_CLAUSE_OFF) != 0 || c->chan == NULL)
            continue;
        if (c->op != KC_CHAN_CLAUSE_SEND && c->op != KC_CHAN_CLAUSE_RECV)
            return -EINVAL;
        if (c->buf == NULL) {
            size_t sz = c->op == KC_CHAN_CLAUSE_RECV ? discard_size(c->chan) : 0;
            if (sz == 0)
                return kc__chan_fail(c->chan, -EINVAL);
            scratch_size = sz > scratch_size ? sz : scratch_size;
        }
        on->cl[m] = *c;
        on->back[m++] = (uint8_t)i;
    }
    on->n = m;
    if (m == 0)
        return KC__SELECT_NONE_ON;
    on->scratch = on->stack_scratch; /* discards up to its size stay on the stack */
    if (scratch_size > sizeof(on->stack_scratch)) {
        on->scratch = malloc(scratch_size);
        if (on->scratch == NULL)
            return -ENOMEM;
    }
    for (size_t k = 0; k < m; k++)
        if (on->cl[k].buf == NULL)
            on->cl[k].buf = on->scratch;
    return 0;
}

int kc__chan_select_on_done(struct kc__select_on *on, kc_chan_clause_t *cl, int rc)
{
    if (rc >= 0) {
        kc_chan_clause_t *c = &cl[on->back[rc]];
        c->result = on->cl[rc].result;
        if (c->buf == NULL && on->cl[rc].result == 0 && c->chan->desc) {
            kc_zdesc_t *d = on->scratch;
            if (kc_zdesc_is_owned(d) && kc_zdesc_has_ticket(d))
                (void)kc_zdesc_release(d, c->chan->arena); /* a stale one is counted there */
        }
        rc = on->back[rc];
    }
    if (on->scratch != on->stack_scratch)
        free(on->scratch);
    return rc;
}
