/* kc_chan_remote.c - the channel hook of remote channels.
 *
 * A remote channel (kc_chan_svc.h) is a kc_chan_t without a ring or
 * queues: its `rops` move the elements, this file counts them as a local
 * channel would (sends, receives, bytes, failures by code, undelivered) and
 * keeps its closed flag and reason, so every public call and every
 * observer reads it as a channel. The front (kc_chan.c) sends a remote
 * channel's calls here through the detour byte, which the fast paths of
 * local channels already test (a boxed copy channel's bit of the same
 * byte sends it to kc_chan_arena.c instead).
 *
 * Rules:
 *   R1  a remote channel's counters are written with relaxed atomic adds
 *       (calls run concurrently without a lock);
 *   R2  `closed` goes 0 -> 1 once, by CAS, with the reason written before
 *       (the release of the CAS publishes it); rops->close runs only for a
 *       local close that won the CAS;
 *   R3  rops->destroy decides the lifetime: the channel is freed only after
 *       it returned 0;
 *   R4  a remote descriptor channel has an arena (its receiving side's
 *       reservation, kcoro/mux.h): a send is checked as on a local
 *       descriptor channel with an arena and must carry an owned arena
 *       payload; an undelivered descriptor is shown to the callback as a
 *       view and released by the channel, as a local one does.
 */
#include "chan/kc_chan_impl.h"
#include "chan/kc_chan_svc.h"

#include <stdlib.h>
#include <string.h>

/* R1: a counter add without the lock. */
static inline void add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

int kc__chan_remote_send(kc_chan_t *ch, const void *elem, int64_t timeout_ns,
                         const kc_cancel_t *cancel)
{
    if (cancel != NULL && kc_cancel_is_triggered(cancel))
        return kc__chan_fail(ch, -ECANCELED);
    /* acquire: pairs with R2's CAS, so the reason is visible */
    if (atomic_load_explicit(&ch->closed, memory_order_acquire))
        return kc__chan_fail(ch, ch->close_reason == -ECONNRESET ? -ECONNRESET : -EPIPE);
    if (ch->desc) {
        /* R4: the checks of a local descriptor channel with an arena
         * (-EINVAL, -EMSGSIZE, -ESTALE), and an owned arena payload */
        const kc_zdesc_t *d = elem;
        int rc = kc__chan_check_elem(ch, d);
        if (rc == 0 && (!kc_zdesc_is_owned(d) || !kc_zdesc_has_ticket(d)))
            rc = -EINVAL;
        if (rc != 0)
            return kc__chan_fail(ch, rc);
    }
    size_t bytes = ch->desc ? ((const kc_zdesc_t *)elem)->len : ch->elem_size;
    int rc = ch->rops->send(ch->rimpl, elem, timeout_ns, cancel);
    if (rc != 0)
        return kc__chan_fail(ch, rc);
    add(&ch->ctr.sends, 1);
    add(&ch->ctr.bytes_sent, bytes);
    if (ch->desc)
        add(&ch->ctr.desc_sends, 1);
    return 0;
}

int kc__chan_remote_recv(kc_chan_t *ch, void *out, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (cancel != NULL && kc_cancel_is_triggered(cancel))
        return kc__chan_fail(ch, -ECANCELED);
    int rc = ch->rops->recv(ch->rimpl, out, timeout_ns, cancel);
    if (rc != 0)
        return kc__chan_fail(ch, rc);
    add(&ch->ctr.receives, 1);
    add(&ch->ctr.bytes_received, ch->desc ? ((const kc_zdesc_t *)out)->len : ch->elem_size);
    if (ch->desc)
        add(&ch->ctr.desc_receives, 1);
    return 0;
}

int kc__chan_remote_create(kc_chan_t **out, const kc_chan_opts_t *opts,
                           const kc__chan_remote_ops_t *ops, void *impl)
{
    if (out == NULL || opts == NULL || ops == NULL || opts->size < sizeof(kc_chan_opts_t) ||
        ops->send == NULL || ops->recv == NULL || ops->close == NULL || ops->destroy == NULL ||
        ops->len == NULL || opts->kind > KC_CHAN_UNLIMITED)
        return -EINVAL;
    /* copied elements without an arena, or descriptors with one (R4) */
    if ((opts->elem_size == 0) != (opts->arena != NULL))
        return -ENOTSUP;
    kc_chan_t *ch = aligned_alloc(128, (sizeof(*ch) + 127) & ~(size_t)127);
    if (ch == NULL)
        return -ENOMEM;
    memset(ch, 0, sizeof(*ch));
    ch->kind = (uint8_t)opts->kind;
    ch->policy = (uint8_t)opts->policy;
    ch->elem_size = opts->elem_size;
    ch->desc = opts->elem_size == 0;
    ch->arena = opts->arena;
    ch->max_desc_len = opts->max_desc_len;
    ch->slot_size = ch->desc ? sizeof(kc_zdesc_t) : opts->elem_size;
    ch->stride = ch->slot_size;
    ch->capacity = opts->kind == KC_CHAN_BUFFERED    ? opts->capacity
                   : opts->kind == KC_CHAN_CONFLATED ? 1
                   : opts->kind == KC_CHAN_UNLIMITED ? SIZE_MAX
                                                     : 0;
    ch->on_undelivered = opts->on_undelivered;
    ch->undelivered_arg = opts->undelivered_arg;
    ch->detour = KC__CHAN_DETOUR_REMOTE;
    ch->rops = ops;
    ch->rimpl = impl;
    if (opts->name != NULL) {
        strncpy(ch->name, opts->name, sizeof(ch->name) - 1);
        ch->name[sizeof(ch->name) - 1] = '\0';
    }
    kc__waiter_queue_init(&ch->sendq);
    kc__waiter_queue_init(&ch->recvq);
    if (kc__chan_register(ch, opts) < 0) { /* an id, and the registry if asked */
        free(ch);
        return -ENOMEM;
    }
    *out = ch;
    return 0;
}

int kc__chan_remote_set_select(kc_chan_t *ch, const kc__chan_remote_sel_ops_t *sel)
{
    if (ch == NULL || ch->rops == NULL || sel == NULL || sel->sel_ready == NULL ||
        sel->sel_complete == NULL || sel->sel_arm == NULL || sel->sel_disarm == NULL)
        return -EINVAL;
    ch->rsel = sel;
    return 0;
}

/* R2: the first close sets the reason and the flag. */
static bool mark_closed(kc_chan_t *ch, int reason)
{
    uint32_t zero = 0;
    kc__lock(&ch->lock);
    bool won = atomic_load_explicit(&ch->closed, memory_order_relaxed) == 0;
    if (won) {
        ch->close_reason = reason;
        /* release: pairs with the acquire loads of kc__chan_closed and
         * kc__chan_remote_send, so the reason is read after the flag */
        atomic_compare_exchange_strong_explicit(&ch->closed, &zero, 1, memory_order_release,
                                                memory_order_relaxed);
    }
    kc__unlock(&ch->lock);
    return won;
}

bool kc__chan_remote_closed(kc_chan_t *ch, int reason)
{
    return ch != NULL && mark_closed(ch, reason);
}

int kc__chan_remote_close(kc_chan_t *ch, int reason)
{
    if (!mark_closed(ch, reason))
        return -EPIPE;
    ch->rops->close(ch->rimpl, reason);
    return 0;
}

void kc__chan_remote_undelivered(kc_chan_t *ch, const void *elem)
{
    add(&ch->ctr.undelivered, 1);
    if (ch->desc) { /* R4: as a local channel with an arena: a view, then released */
        kc__chan_arena_undelivered(ch, elem);
        return;
    }
    if (ch->on_undelivered != NULL)
        ch->on_undelivered((void *)(uintptr_t)elem, ch->elem_size, ch->undelivered_arg);
}

kc_arena_t *kc__chan_arena_of(const kc_chan_t *ch, size_t *max_desc_len)
{
    if (max_desc_len != NULL)
        *max_desc_len = ch != NULL ? ch->max_desc_len : 0;
    return ch != NULL ? ch->arena : NULL;
}

void *kc__chan_remote_impl(const kc_chan_t *ch)
{
    return ch != NULL ? ch->rimpl : NULL;
}

size_t kc__chan_remote_len(const kc_chan_t *ch)
{
    return ch->rops->len(ch->rimpl);
}

int kc__chan_remote_destroy(kc_chan_t *ch)
{
    /* unlisted first: a walk's snapshot reads the length through rimpl,
     * which destroy may free */
    bool listed = ch->reg != NULL;
    kc__chan_unregister(ch);
    int rc = ch->rops->destroy(ch->rimpl); /* R3 */
    if (rc != 0) {
        if (listed) /* still alive: listed again (without memory: not) */
            kc_registry_add(KC_REGISTRY_CHAN, ch, ch->id, ch->name, NULL, &ch->reg);
        return rc;
    }
    free(ch);
    return 0;
}
