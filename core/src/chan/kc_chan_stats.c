/* kc_chan_stats.c - channel observability: failure counts, snapshots, rates, dump.
 *
 * Everything here reads the channel's counters with relaxed loads and never
 * takes its lock, so a monitor (chanmon, a metrics exporter, the demo's
 * live line) can sample a busy channel at any rate without slowing it or
 * being blocked by it. Each counter is exact; a snapshot is not one instant
 * (two counters may straddle an operation), which is why the accounting
 * identity sends == receives + undelivered + occupancy holds exactly only
 * when the channel is quiet. The receive index is read before the send
 * index so occupancy never goes negative.
 *
 * Rules:
 *   S1  no function here writes channel state except kc__chan_fail, which
 *       adds to one failure counter (relaxed; it may run without the lock);
 *   S2  metrics_version grows with any counter added or redefined.
 */
#include "chan/kc_chan_impl.h"
#include "chan/kc_chan_svc.h"

#include "sched/kc_sched_svc.h"

#include <stdio.h>
#include <string.h>

static inline uint64_t rd(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

int kc__chan_fail(kc_chan_t *ch, int rc)
{
    int slot;
    switch (rc) {
    case -EAGAIN:
        slot = KC__CHAN_F_EAGAIN;
        break;
    case -ETIME:
        slot = KC__CHAN_F_ETIME;
        break;
    case -ECANCELED:
        slot = KC__CHAN_F_ECANCELED;
        break;
    case -EPIPE:
        slot = KC__CHAN_F_EPIPE;
        break;
    case -EINVAL:
        slot = KC__CHAN_F_EINVAL;
        break;
    case -ENOMEM:
        slot = KC__CHAN_F_ENOMEM;
        break;
    case -EMSGSIZE:
        slot = KC__CHAN_F_EMSGSIZE;
        break;
    case -ESTALE:
        slot = KC__CHAN_F_ESTALE;
        break;
    default:
        return rc; /* success, or a code channels do not count */
    }
    atomic_fetch_add_explicit(&ch->ctr.fail[slot], 1, memory_order_relaxed);
    return rc;
}

int kc_chan_snapshot(const kc_chan_t *ch, kc_chan_snapshot_t *dst)
{
    if (ch == NULL || dst == NULL || dst->size < KC_CHAN_SNAPSHOT_V2_SIZE)
        return -EINVAL;
    /* The full layout is filled on the stack and copied out as far as the
     * caller's size goes: version 2 callers get exactly their layout. */
    size_t want = dst->size >= sizeof(*dst) ? sizeof(*dst) : KC_CHAN_SNAPSHOT_V2_SIZE;
    kc_chan_snapshot_t full;
    kc_chan_snapshot_t *out = &full;
    const struct kc_chan_counters *c = &ch->ctr;
    memset(out, 0, sizeof(*out));
    out->size = (uint32_t)want;
    out->metrics_version = want == sizeof(*out) ? KC_CHAN_METRICS_VERSION : 2u;
    out->taken_ns = (uint64_t)kc__sched_now();
    out->kind = ch->kind;
    out->policy = ch->policy;
    out->capacity = ch->capacity;
    out->elem_size = ch->elem_size;
    out->occupancy = kc__chan_read_indices(ch, &out->recv_idx, &out->send_idx);
    if (ch->rops != NULL)
        out->occupancy = ch->rops->len(ch->rimpl); /* its local buffers (kc_chan_svc.h) */
    if (ch->seqring) { /* every send and receive is a reservation index */
        out->sends = out->send_idx;
        out->receives = out->recv_idx;
        out->bytes_sent = out->sends * ch->elem_size;
        out->bytes_received = out->receives * ch->elem_size;
    } else {
        out->sends = rd(&c->sends);
        out->receives = rd(&c->receives);
        out->bytes_sent = rd(&c->bytes_sent);
        out->bytes_received = rd(&c->bytes_received);
    }
    out->desc_sends = rd(&c->desc_sends);
    out->desc_receives = rd(&c->desc_receives);
    out->drops_oldest = rd(&c->drops_oldest);
    out->drops_latest = rd(&c->drops_latest);
    out->undelivered = rd(&c->undelivered);
    out->cancelled_waiters = rd(&c->cancelled_waiters);
    out->send_waiting = rd(&c->send_waiting);
    out->recv_waiting = rd(&c->recv_waiting);
    kc_chan_failures_t *f = &out->failures;
    f->eagain = rd(&c->fail[KC__CHAN_F_EAGAIN]);
    f->etime = rd(&c->fail[KC__CHAN_F_ETIME]);
    f->ecanceled = rd(&c->fail[KC__CHAN_F_ECANCELED]);
    f->epipe = rd(&c->fail[KC__CHAN_F_EPIPE]);
    f->einval = rd(&c->fail[KC__CHAN_F_EINVAL]);
    f->enomem = rd(&c->fail[KC__CHAN_F_ENOMEM]);
    f->emsgsize = rd(&c->fail[KC__CHAN_F_EMSGSIZE]);
    f->estale = rd(&c->fail[KC__CHAN_F_ESTALE]);
    out->failures_total = f->eagain + f->etime + f->ecanceled + f->epipe + f->einval + f->enomem +
                          f->emsgsize + f->estale;
    out->closed = atomic_load_explicit(&ch->closed, memory_order_relaxed);
    out->arena_boxed = rd(&c->arena_boxed);
    out->arena_releases = rd(&c->arena_releases);
    out->arena_release_errors = rd(&c->arena_release_errors);
    out->id = ch->id;
    memcpy(out->name, ch->name, sizeof(out->name));
    memcpy(dst, out, want);
    return 0;
}

int kc_chan_compute_rate(const kc_chan_snapshot_t *a, const kc_chan_snapshot_t *b,
                         kc_chan_rate_t *out)
{
    if (a == NULL || b == NULL || out == NULL || a->metrics_version != b->metrics_version ||
        a->metrics_version == 0 || b->taken_ns <= a->taken_ns)
        return -EINVAL;
    double s = (double)(b->taken_ns - a->taken_ns) / 1e9;
    out->seconds = s;
    out->sends_per_s = (double)(b->sends - a->sends) / s;
    out->receives_per_s = (double)(b->receives - a->receives) / s;
    out->bytes_per_s = (double)(b->bytes_received - a->bytes_received) / s;
    out->failures_per_s = (double)(b->failures_total - a->failures_total) / s;
    out->drops_per_s =
        (double)((b->drops_oldest - a->drops_oldest) + (b->drops_latest - a->drops_latest)) / s;
    return 0;
}

const char *kc_chan_kind_name(kc_chan_kind_t k)
{
    static const char *const names[] = {"RENDEZVOUS", "BUFFERED", "UNLIMITED", "CONFLATED"};
    return (unsigned)k < 4 ? names[k] : "?";
}

const char *kc_chan_policy_name(kc_chan_policy_t p)
{
    static const char *const names[] = {"SUSPEND", "DROP_OLDEST", "DROP_LATEST"};
    return (unsigned)p < 3 ? names[p] : "?";
}

int kc_chan_dump(const kc_chan_t *ch, char *buf, size_t cap)
{
    if (ch == NULL || (buf == NULL && cap > 0))
        return -EINVAL;
    kc_chan_snapshot_t s = KC_CHAN_SNAPSHOT_INIT;
    kc_chan_snapshot(ch, &s);
    char capstr[24];
    if (ch->kind == KC_CHAN_UNLIMITED)
        snprintf(capstr, sizeof(capstr), "inf");
    else
        snprintf(capstr, sizeof(capstr), "%llu", (unsigned long long)s.capacity);
    int n = snprintf(buf, cap,
                     "chan=%s kind=%s cap=%s policy=%s elem=%s occ=%llu send_idx=%llu "
                     "recv_idx=%llu sends=%llu recvs=%llu bytes=%llu drops_oldest=%llu "
                     "drops_latest=%llu undelivered=%llu canc_wait=%llu fails=%llu "
                     "waiting=s%llu/r%llu state=%s",
                     ch->name[0] ? ch->name : "-", kc_chan_kind_name((kc_chan_kind_t)s.kind),
                     capstr, kc_chan_policy_name((kc_chan_policy_t)s.policy),
                     ch->desc    ? "desc"
                     : ch->boxed ? "boxed"
                                 : "copy",
                     (unsigned long long)s.occupancy, (unsigned long long)s.send_idx,
                     (unsigned long long)s.recv_idx, (unsigned long long)s.sends,
                     (unsigned long long)s.receives, (unsigned long long)s.bytes_received,
                     (unsigned long long)s.drops_oldest, (unsigned long long)s.drops_latest,
                     (unsigned long long)s.undelivered, (unsigned long long)s.cancelled_waiters,
                     (unsigned long long)s.failures_total, (unsigned long long)s.send_waiting,
                     (unsigned long long)s.recv_waiting, s.closed ? "CLOSED" : "OPEN");
    return n;
}
