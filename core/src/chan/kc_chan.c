/* kc_chan.c - the channel's front: the public calls of kcoro/chan.h and their dispatch.
 *
 * Every call of kcoro/chan.h on a channel starts here (the timer, produce,
 * actor, registry and statistics calls have their own files), checks what
 * it can check without the channel's state, and goes down to the one file
 * that does the work. Nothing below calls back up here:
 *
 *   call                        channel            goes to
 *   --------------------------  -----------------  ---------------------------------------
 *   create, make                -                  kc__chan_new (kc_chan_locked.c)
 *   destroy                     remote             kc__chan_remote_destroy (kc_chan_remote.c)
 *                               timer              kc__chan_tick_free (kc_chan_timer.c), then
 *                               local              kc__chan_free (kc_chan_locked.c)
 *   close                       remote / local     kc__chan_remote_close / kc__chan_close_local
 *   send, recv (copy)           remote             kc__chan_remote_send / _recv
 *                               boxed              kc__chan_box_send / _recv (kc_chan_arena.c)
 *                               any other          kc__chan_transfer (kc_chan_ops.c)
 *   send, recv (descriptor)     remote             kc__chan_remote_send / _recv
 *                               any other          kc__chan_transfer
 *   select                      off clauses        kc__chan_select_on (kc_select_off.c), then
 *                                                  the select of the clauses that are on
 *                               a boxed clause     kc__chan_box_select (kc_chan_arena.c)
 *                               any other          kc__chan_select_run (kc_select.c)
 *
 * Below the front each file only calls down: kc_chan_arena.c (boxing)
 * over kc_select.c (select) over kc_chan_ops.c (the one send and receive
 * path and its wait) over kc_chan_park.c (how a wait parks) and
 * kc_chan_locked.c (the locked ring and the queues) over kc_chan_seq.c
 * (the seq ring); kc_chan_remote.c, kc_chan_stats.c, kc_chan_registry.c
 * and kc_zdesc.c at the bottom. A send that must wait flows channel
 * (kc_chan_ops.c) -> waiter token (graduated waiter_token) -> park
 * (kc_chan_park.c) -> the scheduler, never returning to a file it left.
 */
#include "chan/kc_chan_impl.h"

#include "sched/kc_sched_svc.h"

/* ------------------------------------------------------------ lifetime */

int kc_chan_create(kc_chan_t **out, const kc_chan_opts_t *opts)
{
    if (out == NULL)
        return -EINVAL;
    return kc__chan_new(out, opts);
}

int kc_chan_make(kc_chan_t **out, kc_chan_kind_t kind, size_t capacity, size_t elem_size)
{
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = kind;
    o.capacity = capacity;
    o.elem_size = elem_size;
    return kc_chan_create(out, &o);
}

int kc_chan_destroy(kc_chan_t *ch)
{
    if (ch == NULL)
        return 0;
    if (ch->rops != NULL)
        return kc__chan_remote_destroy(ch);
    if (ch->tick != NULL)
        kc__chan_tick_free(ch); /* a timer channel stops first */
    return kc__chan_free(ch);
}

int kc_chan_close(kc_chan_t *ch)
{
    return kc__chan_close(ch, 0);
}

int kc__chan_close(kc_chan_t *ch, int reason)
{
    if (ch == NULL)
        return -EINVAL;
    if (ch->rops != NULL)
        return kc__chan_remote_close(ch, reason);
    return kc__chan_close_local(ch, reason);
}

bool kc_chan_is_closed(const kc_chan_t *ch)
{
    return ch != NULL && kc__chan_closed(ch);
}

size_t kc_chan_len(const kc_chan_t *ch)
{
    if (ch == NULL)
        return 0;
    if (ch->rops != NULL)
        return kc__chan_remote_len(ch);
    uint64_t r, s;
    return (size_t)kc__chan_read_indices(ch, &r, &s);
}

size_t kc_chan_capacity(const kc_chan_t *ch)
{
    return ch != NULL ? ch->capacity : 0;
}

size_t kc_chan_elem_size(const kc_chan_t *ch)
{
    return ch != NULL ? ch->elem_size : 0;
}

/* ------------------------------------------------------------ send and receive */

/* The calls of a channel with detour bits: a remote channel's operations,
 * or a boxed channel's copy (its descriptor calls take the plain path).
 * Off the fast path, which pays one test of the detour byte for both.
 * desc is not used (a remote channel holds copied elements; the caller
 * checked desc): it keeps the arguments in the registers the entry points
 * received them in, so their fast path needs no stack frame (10
 * instructions per send and receive on bench-count's buf_send_recv);
 * external linkage keeps the compiler from dropping it. */
__attribute__((noinline)) int kc__chan_detour_send(kc_chan_t *ch, bool desc, const void *elem,
                                                   int64_t timeout_ns, const kc_cancel_t *cancel)
{
    (void)desc;
    if (ch->rops == NULL)
        return kc__chan_box_send(ch, elem, timeout_ns, cancel);
    return kc__chan_remote_send(ch, elem, timeout_ns, cancel);
}

__attribute__((noinline)) int kc__chan_detour_recv(kc_chan_t *ch, bool desc, void *out,
                                                   int64_t timeout_ns, const kc_cancel_t *cancel)
{
    (void)desc;
    if (ch->rops == NULL)
        return kc__chan_box_recv(ch, out, timeout_ns, cancel);
    return kc__chan_remote_recv(ch, out, timeout_ns, cancel);
}

/* The bodies of kc__chan_send_elem and kc__chan_recv_elem, inlined into
 * the public calls so that each is compiled for its own `desc`. */
static inline __attribute__((always_inline)) int
send_elem(kc_chan_t *ch, bool desc, const void *elem, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (ch == NULL)
        return -EINVAL;
    if (elem == NULL || (ch->desc != desc && !ch->boxed))
        return kc__chan_fail(ch, -EINVAL);
    timeout_ns = kc__timeout_norm(timeout_ns);
    if (__builtin_expect(ch->detour & (desc ? KC__CHAN_DETOUR_REMOTE : 0xff), 0))
        return kc__chan_detour_send(ch, desc, elem, timeout_ns, cancel); /* boxed, remote */
    int rc = desc ? kc__chan_check_elem(ch, elem) : 0;
    if (rc != 0)
        return kc__chan_fail(ch, rc);
    return kc__chan_transfer(ch, true, (void *)(uintptr_t)elem, timeout_ns, cancel);
}

static inline __attribute__((always_inline)) int
recv_elem(kc_chan_t *ch, bool desc, void *out, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (ch == NULL)
        return -EINVAL;
    if (out == NULL || (ch->desc != desc && !ch->boxed))
        return kc__chan_fail(ch, -EINVAL);
    timeout_ns = kc__timeout_norm(timeout_ns);
    if (__builtin_expect(ch->detour & (desc ? KC__CHAN_DETOUR_REMOTE : 0xff), 0))
        return kc__chan_detour_recv(ch, desc, out, timeout_ns, cancel); /* boxed, remote */
    return kc__chan_transfer(ch, false, out, timeout_ns, cancel);
}

int kc__chan_send_elem(kc_chan_t *ch, bool desc, const void *elem, int64_t timeout_ns,
                       const kc_cancel_t *cancel)
{
    return send_elem(ch, desc, elem, timeout_ns, cancel);
}

int kc__chan_recv_elem(kc_chan_t *ch, bool desc, void *out, int64_t timeout_ns,
                       const kc_cancel_t *cancel)
{
    return recv_elem(ch, desc, out, timeout_ns, cancel);
}

int kc_chan_send(kc_chan_t *ch, const void *msg, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    return send_elem(ch, false, msg, timeout_ns, cancel);
}

int kc_chan_recv(kc_chan_t *ch, void *out, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    return recv_elem(ch, false, out, timeout_ns, cancel);
}

int kc_chan_try_send(kc_chan_t *ch, const void *msg)
{
    return kc__chan_send_elem(ch, false, msg, 0, NULL);
}

int kc_chan_try_recv(kc_chan_t *ch, void *out)
{
    return kc__chan_recv_elem(ch, false, out, 0, NULL);
}

/* ------------------------------------------------------------ descriptors
 *
 * A descriptor channel's slot is a whole kc_zdesc_t, copied by value; the
 * region it names is never touched (kc_zdesc.c checks descriptors). The
 * pointer calls compose a borrowed descriptor (flags 0) and take it apart
 * again on receive. The OWNED flag travels with the descriptor: a send
 * that returns 0 gave it away, any other result left it with the sender.
 */

int kc_chan_send_desc(kc_chan_t *ch, const kc_zdesc_t *d, int64_t timeout_ns,
                      const kc_cancel_t *cancel)
{
    return kc__chan_send_elem(ch, true, d, timeout_ns, cancel);
}

int kc_chan_recv_desc(kc_chan_t *ch, kc_zdesc_t *out, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    return kc__chan_recv_elem(ch, true, out, timeout_ns, cancel);
}

int kc_chan_try_send_desc(kc_chan_t *ch, const kc_zdesc_t *d)
{
    return kc__chan_send_elem(ch, true, d, 0, NULL);
}

int kc_chan_try_recv_desc(kc_chan_t *ch, kc_zdesc_t *out)
{
    return kc__chan_recv_elem(ch, true, out, 0, NULL);
}

int kc_chan_send_ptr(kc_chan_t *ch, void *ptr, size_t len, int64_t timeout_ns,
                     const kc_cancel_t *cancel)
{
    kc_zdesc_t d;
    if (kc_zdesc_init(&d, ptr, len, 0) != 0)
        return ch != NULL ? kc__chan_fail(ch, -EINVAL) : -EINVAL;
    return kc__chan_send_elem(ch, true, &d, timeout_ns, cancel);
}

int kc_chan_recv_ptr(kc_chan_t *ch, void **ptr, size_t *len, int64_t timeout_ns,
                     const kc_cancel_t *cancel)
{
    if (ptr == NULL || (ch != NULL && ch->boxed)) /* a boxed element's reference would leak */
        return ch != NULL ? kc__chan_fail(ch, -EINVAL) : -EINVAL;
    kc_zdesc_t d;
    int rc = kc__chan_recv_elem(ch, true, &d, timeout_ns, cancel);
    if (rc == 0) {
        *ptr = d.ptr;
        if (len != NULL)
            *len = d.len;
    }
    return rc;
}

/* ------------------------------------------------------------ select */

/* A select with off or discarding clauses (kc_select_off.c): the clauses
 * that are on run as a select of their own (back through kc_chan_select,
 * which finds none of them off), and the outcome is mapped back. */
__attribute__((noinline)) static int select_sparse(kc_chan_clause_t *cl, size_t n, uint32_t flags,
                                                   int64_t timeout_ns, const kc_cancel_t *cancel)
{
    struct kc__select_on on;
    int rc = kc__chan_select_on(&on, cl, n);
    if (rc == KC__SELECT_NONE_ON)
        return kc__chan_select_none(timeout_ns, cancel);
    if (rc != 0)
        return rc;
    rc = kc_chan_select(on.cl, on.n, flags, timeout_ns, cancel);
    return kc__chan_select_on_done(&on, cl, rc);
}

int kc_chan_select(kc_chan_clause_t *cl, size_t n, uint32_t flags, int64_t timeout_ns,
                   const kc_cancel_t *cancel)
{
    uint8_t detour = 0;
    int rc = kc__chan_select_check(cl, n, flags, &detour);
    if (__builtin_expect(rc == KC__SELECT_SPARSE, 0))
        return select_sparse(cl, n, flags, kc__timeout_norm(timeout_ns), cancel);
    if (rc != 0)
        return rc;
    if (cancel != NULL && kc_cancel_is_triggered(cancel))
        return -ECANCELED;
    timeout_ns = kc__timeout_norm(timeout_ns);
    if (detour != 0) {
        if (detour == KC__SELECT_BOXED) /* elements staged in an arena */
            return kc__chan_box_select(cl, n, flags, timeout_ns, cancel);
        if (detour == KC__SELECT_REMOTE) /* readiness from elsewhere: kc_select_remote.c */
            return kc__chan_select_remote(cl, n, flags, timeout_ns, cancel);
        return -ENOTSUP; /* boxed and remote clauses together */
    }
    return kc__chan_select_run(cl, n, flags, timeout_ns, cancel, NULL);
}
