/* kc_rel_window.c - the reliability layer's two windows: the receiver's
 * reordering buffer and the sender's scoreboard with its congestion window.
 *
 * Pure data structures, driven by kc_rel_transport.c under its lock.
 * Invariants (kc__rel_rcv_check and kc__rel_snd_check assert them):
 *   R1 base <= nxt <= base + cap; slots [base, nxt) are present, slot nxt is
 *      not; no slot at or above base + cap is ever stored (the reordering
 *      buffer is bounded by the window).
 *   R2 avail = the bytes of slots [base, nxt) minus off.
 *   S1 una <= nxt <= end <= una + cap; SACKED, LOST and RETX only on sent
 *      segments [una, nxt).
 *   S2 1 <= cwnd <= cwnd_max; ssthresh >= 2.
 *
 * A segment of the sender moves through these states (bits of st):
 *
 *   state           event                                   next         by
 *   --------------  --------------------------------------  -----------  ---------------------
 *   queued          sent the first time                     SENT         the sending pump
 *   SENT            a SACK block covers it                  +SACKED      kc__rel_snd_on_ack
 *   SENT            3 SACKed segments above it              +LOST        kc__rel_snd_on_ack
 *   SENT            the retransmission timer expires        +LOST -RETX  kc__rel_snd_on_timeout
 *   SENT|LOST       sent again                              +RETX        the sending pump
 *   any             the cumulative ACK passes it            freed        kc__rel_snd_on_ack
 */
#include "kc_rel_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- receiver ------------------------------------------------------- */

int kc__rel_rcv_init(kc_rel_rcv_t *r, uint32_t cap)
{
    memset(r, 0, sizeof *r);
    r->slot = calloc(cap, sizeof *r->slot);
    if (!r->slot)
        return -ENOMEM;
    r->cap = cap;
    return 0;
}

void kc__rel_rcv_free(kc_rel_rcv_t *r)
{
    if (!r->slot)
        return;
    for (uint32_t i = 0; i < r->cap; i++)
        free(r->slot[i].buf);
    free(r->slot);
    r->slot = NULL;
}

static kc_rel_slot_t *rslot(const kc_rel_rcv_t *r, uint64_t seq)
{
    return &r->slot[seq % r->cap];
}

int kc__rel_rcv_put(kc_rel_rcv_t *r, uint64_t seq, uint8_t *buf, uint32_t len)
{
    if (seq < r->nxt)
        return 0;
    if (seq >= r->base + r->cap)
        return -ERANGE;
    kc_rel_slot_t *s = rslot(r, seq);
    if (s->buf)
        return 0;
    s->buf = buf;
    s->len = len;
    while (r->nxt < r->base + r->cap && rslot(r, r->nxt)->buf) {
        r->avail += rslot(r, r->nxt)->len;
        r->nxt++;
    }
    return 1;
}

static void copy_out(const kc_rel_rcv_t *r, uint8_t *out, size_t n, bool consume, kc_rel_rcv_t *w)
{
    uint64_t seq = r->base;
    uint32_t off = r->off;
    while (n > 0) {
        kc_rel_slot_t *s = rslot(r, seq);
        size_t take = s->len - off;
        if (take > n)
            take = n;
        if (out) {
            memcpy(out, s->buf + off, take);
            out += take;
        }
        n -= take;
        off += (uint32_t)take;
        if (off == s->len) {
            if (consume) {
                free(s->buf);
                s->buf = NULL;
                s->len = 0;
            }
            seq++;
            off = 0;
        }
    }
    if (consume) {
        w->base = seq;
        w->off = off;
    }
}

void kc__rel_rcv_read(kc_rel_rcv_t *r, void *out, size_t n)
{
    copy_out(r, out, n, true, r);
    r->avail -= n;
    /* Empty segments at the front hold no bytes: let them go too. */
    while (r->base < r->nxt && r->off == 0 && rslot(r, r->base)->len == 0) {
        kc_rel_slot_t *s = rslot(r, r->base);
        free(s->buf);
        s->buf = NULL;
        r->base++;
    }
}

void kc__rel_rcv_peek(const kc_rel_rcv_t *r, void *out, size_t n)
{
    copy_out(r, out, n, false, NULL);
}

uint32_t kc__rel_rcv_window(const kc_rel_rcv_t *r)
{
    return (uint32_t)(r->base + r->cap - r->nxt);
}

void kc__rel_rcv_ack(const kc_rel_rcv_t *r, kc_rel_ack_t *a)
{
    a->cum = r->nxt;
    a->window = kc__rel_rcv_window(r);
    a->n = 0;
    uint64_t lim = r->base + r->cap;
    for (uint64_t s = r->nxt + 1; s < lim && a->n < KC_REL_MAX_SACK; s++) {
        if (!rslot(r, s)->buf)
            continue;
        uint64_t e = s;
        while (e < lim && rslot(r, e)->buf)
            e++;
        a->blk[a->n++] = (kc_rel_block_t){s, e};
        s = e;
    }
}

/* ---- sender --------------------------------------------------------- */

int kc__rel_snd_init(kc_rel_snd_t *s, uint32_t cap, uint32_t cwnd_max)
{
    memset(s, 0, sizeof *s);
    s->seg = calloc(cap, sizeof *s->seg);
    if (!s->seg)
        return -ENOMEM;
    s->cap = cap;
    /* RFC 5681's initial window for segments this large is 2; RFC 6928
     * allows 10 for small ones. 4 is a middle ground for local links. */
    s->cwnd = cwnd_max < 4 ? cwnd_max : 4;
    s->ssthresh = cwnd_max;
    s->peer_end = 1; /* until the first ACK: one segment */
    return 0;
}

void kc__rel_snd_free(kc_rel_snd_t *s)
{
    if (!s->seg)
        return;
    for (uint32_t i = 0; i < s->cap; i++)
        free(s->seg[i].buf);
    free(s->seg);
    s->seg = NULL;
}

static kc_rel_seg_t *sseg(const kc_rel_snd_t *s, uint64_t seq)
{
    return &s->seg[seq % s->cap];
}

static bool in_pipe(uint32_t st)
{
    return (st & KC_REL_S_SENT) && !(st & KC_REL_S_SACKED) &&
           (!(st & KC_REL_S_LOST) || (st & KC_REL_S_RETX));
}

uint32_t kc__rel_snd_pipe(const kc_rel_snd_t *s)
{
    uint32_t n = 0;
    for (uint64_t q = s->una; q < s->nxt; q++)
        n += in_pipe(sseg(s, q)->st);
    return n;
}

int kc__rel_snd_on_ack(kc_rel_snd_t *s, const kc_rel_ack_t *a, uint32_t cwnd_max)
{
    if (a->cum > s->nxt || (a->n > 0 && a->blk[a->n - 1].end > s->nxt))
        return -EPROTO;
    uint64_t acked = 0;
    while (s->una < a->cum) {
        kc_rel_seg_t *g = sseg(s, s->una);
        acked += !(g->st & KC_REL_S_SACKED);
        free(g->buf);
        *g = (kc_rel_seg_t){0};
        s->una++;
    }
    uint64_t edge = a->cum + a->window;
    if (edge > s->peer_end || a->cum >= s->peer_end)
        s->peer_end = edge;
    uint32_t newly_sacked = 0;
    for (uint32_t i = 0; i < a->n; i++)
        for (uint64_t q = a->blk[i].start < s->una ? s->una : a->blk[i].start; q < a->blk[i].end;
             q++) {
            kc_rel_seg_t *g = sseg(s, q);
            if (!(g->st & KC_REL_S_SACKED)) {
                g->st |= KC_REL_S_SACKED;
                newly_sacked++;
            }
        }
    if (s->in_recovery && s->una >= s->recover)
        s->in_recovery = false;
    /* Growth counts segments that left the network (cumulative or SACK). */
    uint64_t grown = acked + newly_sacked;
    if (!s->in_recovery && grown > 0) {
        if (s->cwnd < s->ssthresh)
            s->cwnd += (double)grown; /* slow start */
        else
            s->cwnd += (double)grown / s->cwnd; /* congestion avoidance */
        if (s->cwnd > cwnd_max)
            s->cwnd = cwnd_max;
    }
    /* Loss: an unSACKed segment with DupThresh (3) SACKed ones above it. */
    int lost = 0;
    uint32_t above = 0;
    for (uint64_t q = s->nxt; q-- > s->una;) {
        kc_rel_seg_t *g = sseg(s, q);
        if (g->st & KC_REL_S_SACKED)
            above++;
        else if (above >= 3 && !(g->st & KC_REL_S_LOST)) {
            g->st |= KC_REL_S_LOST;
            lost++;
        }
    }
    /* One decrease per window: not while recovering, nor for losses of the
     * window a timeout already answered (una below recover). */
    if (lost > 0 && !s->in_recovery && s->una >= s->recover) {
        s->in_recovery = true;
        s->recover = s->nxt;
        s->ssthresh = s->cwnd * KC_REL_BETA;
        if (s->ssthresh < 2)
            s->ssthresh = 2;
        s->cwnd = s->ssthresh;
    }
    return lost;
}

void kc__rel_snd_on_timeout(kc_rel_snd_t *s)
{
    uint32_t pipe = kc__rel_snd_pipe(s);
    for (uint64_t q = s->una; q < s->nxt; q++) {
        kc_rel_seg_t *g = sseg(s, q);
        if (!(g->st & KC_REL_S_SACKED))
            g->st = (g->st | KC_REL_S_LOST) & ~(uint32_t)KC_REL_S_RETX;
    }
    s->ssthresh = pipe / 2.0 > 2 ? pipe / 2.0 : 2;
    s->cwnd = 1;
    s->in_recovery = false; /* slow start again at once */
    s->recover = s->nxt;    /* no decrease for this window's other losses */
}

uint64_t kc__rel_snd_on_hello(kc_rel_snd_t *s)
{
    uint64_t n = 0;
    for (uint64_t q = s->una; q < s->nxt; q++) {
        kc_rel_seg_t *g = sseg(s, q);
        if (!(g->st & (KC_REL_S_SACKED | KC_REL_S_LOST))) {
            g->st |= KC_REL_S_LOST;
            n++;
        }
    }
    return n;
}

int kc__rel_snd_on_resume(kc_rel_snd_t *s, uint64_t peer_nxt, uint32_t cwnd_max)
{
    if (peer_nxt < s->una || peer_nxt > s->nxt)
        return -EPROTO;
    while (s->una < peer_nxt) {
        kc_rel_seg_t *g = sseg(s, s->una);
        free(g->buf);
        *g = (kc_rel_seg_t){0};
        s->una++;
    }
    for (uint64_t q = s->una; q < s->nxt; q++)
        sseg(s, q)->st = KC_REL_S_SENT | KC_REL_S_LOST;
    s->in_recovery = false;
    s->recover = s->nxt;
    s->cwnd = cwnd_max < 4 ? cwnd_max : 4;
    if (s->peer_end < s->una + 1)
        s->peer_end = s->una + 1;
    return 0;
}
