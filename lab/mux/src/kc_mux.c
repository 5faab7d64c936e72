/* kc_mux.c - the channel layer of a connection: its frames in and out (DRR transmit), export and import.
 *
 * The connection's tx task asks pull() for a frame whenever it may send
 * one: the control lane first (queued OPEN/CLOSE/VERDICT/CANCEL/RESET
 * items, then the credit of every stream marked dirty and of the
 * connection, each written from the *current* absolute limit, so a grant
 * coalesces any number of consumptions and a repeated one is harmless),
 * then one DATA frame chosen by deficit round robin over the active ring.
 * The rx task hands every DATA and CHAN frame to on_frame(), which never
 * waits: elements land in the stream's inbox (bounded by the credit we
 * gave), control messages change state and wake waiters.
 *
 * DRR (Shreedhar and Varghese): each active stream has a deficit; the
 * head of the ring sends one frame of at most max_frame bytes (whole
 * elements, or a fragment of a larger one); when its deficit is smaller
 * than that frame it first gains one quantum (max_frame), which always
 * suffices, so every pull is O(1). A stream whose deficit no longer covers
 * a full frame moves to the tail; one that empties leaves the ring with
 * its deficit reset. Streams that just became active are served first,
 * for one quantum (a ring of new streams, as FQ-CoDel's new flows).
 *
 *   stream state  event                                   next    done by
 *   ------------  --------------------------------------  ------  ---------------------
 *   (none)        kc_ipc_import: OPEN queued              OPENING kc_ipc_import
 *   OPENING       OPEN_OK                                 OPEN    on_frame
 *   OPENING       OPEN_ERR, timeout, connection death     DEAD    on_frame, import, on_dead
 *   (none)        OPEN for an exported name (exporter)    OPEN    kc__mux_on_open
 *   OPEN          RESET received / sent, connection death DEAD    on_frame, destroy, on_dead
 * CLOSE does not end a stream: it closes one direction; elements keep
 * flowing until the final count, then receivers read -EPIPE.
 *
 * The top of the layer's three files (kc_mux_impl.h): it calls down into
 * kc_mux_stream.c and kc_mux_state.c, neither calls it.
 */
#include "kc_mux_impl.h"

#include "kcoro/sched.h"

#include "sched/kc_sched_svc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ transmit */

/* Bytes the next DATA frame of s may carry with at most lim bytes of
 * elements (0: none now). */
static uint32_t frame_bytes(const struct kc_mux *m, const struct kc_mux_stream *s, uint32_t lim)
{
    const struct kc_mux_chunk *c = s->out_head;
    if (c == NULL || c->fill == c->sent)
        return 0;
    uint32_t avail = c->fill - c->sent;
    uint64_t room = m->conn_peer_limit > m->conn_tx ? m->conn_peer_limit - m->conn_tx : 0;
    if (s->desc) { /* D1: the HEAD, then BODY frames of the payload */
        const kc_zdesc_t *d = (const kc_zdesc_t *)(const void *)(c->data + c->sent);
        uint32_t n = KC_MUX_HEAD_SIZE;
        if (s->out_frag > 0) {
            uint32_t left = (uint32_t)d->len - (s->out_frag - KC_MUX_HEAD_SIZE);
            n = left < lim ? left : lim;
        }
        return room >= n ? n : 0;
    }
    if (s->elem > m->max_frame) { /* fragments of one element */
        uint32_t left = s->elem - s->out_frag;
        uint32_t n = left < lim ? left : lim;
        return room >= n ? n : 0;
    }
    uint32_t n = avail < lim ? avail : lim;
    n -= n % s->elem;
    if (room < n)
        n = (uint32_t)(room - room % s->elem);
    return n;
}

/* Under lock: the next credit due, the connection's first, then each dirty
 * stream's, taken off its list (granted now). Its value is the *current*
 * absolute limit. Returns false when none is due. */
static bool next_credit(struct kc_mux *m, kc_mux_ctl_t *msg /* OUT */, uint32_t *chan_id /* OUT */)
{
    *msg = (kc_mux_ctl_t){KC_MUX_CREDIT, 0, 0, 0, 0};
    if (m->conn_dirty) {
        m->conn_dirty = false;
        m->conn_granted = m->conn_taken + m->conn_window;
        msg->d = m->conn_granted;
        *chan_id = 0;
        return true;
    }
    while (m->dirty != NULL) {
        struct kc_mux_stream *s = m->dirty;
        m->dirty = s->dirty_next;
        s->ctl_dirty = false;
        uint64_t want = s->want;
        bool live = s->state == ST_OPEN && want > s->granted;
        if (live) {
            s->granted = want;
            msg->d = want;
            *chan_id = s->id | (s->exporter ? KC_MUX_ID_EXPORTER : 0);
        }
        kc__mux_stream_unref(s); /* the dirty list's (never frees m: the connection holds it) */
        if (live)
            return true;
    }
    return false;
}

/* Shallow link. A frame written into a link waits behind every byte the
 * link already holds: a UNIX socket holds up to its send buffer, and a
 * writer that fills it is woken again only once it drained to a quarter,
 * so a sparse stream's element (a ping, a request) or a credit would wait
 * behind all of that, and behind the rest of a large frame being written.
 * While a sparse stream sent within the last KC_MUX_CALM bytes of DATA,
 * and the link can tell its queue (kc__ipc_link_queued):
 *   L1 a bulky stream's DATA frame is pulled only while the link holds at
 *      most a quarter of its buffer, and every DATA frame carries at most a
 *      quarter of it, so the link never holds much more than half its
 *      buffer and no frame is left half written (it fits the room there
 *      is; a new stream's first frame too);
 *   L2 otherwise pull says -EAGAIN: tx waits for the link to be writable
 *      again (the kernel's quarter) or for a kick;
 *   L3 control frames, credits and sparse streams' DATA frames (a new
 *      stream's first KC_MUX_SPARSE bytes; past them it moves to the ring
 *      of old streams) are pulled whatever the link holds, and kick tx out
 *      of that wait, so each goes behind at most about half the link's
 *      buffer, with nothing half written.
 * Without sparse traffic the link fills as before (bulk throughput).
 * The queue is looked at (one system call) only when the bytes handed to
 * tx since the last look could have taken it past the quarter. Under lock.
 * Returns the most the next DATA frame may carry (0: hold a bulky one back). */
static bool shallow(const struct kc_mux *m)
{
    return m->link_cap != 0 && m->sparse_seen && m->conn_tx - m->sparse_at < KC_MUX_CALM;
}

static uint32_t link_allows(struct kc_mux *m, uint32_t lim, bool bulky)
{
    if (!shallow(m))
        return lim;
    uint32_t quarter = m->link_cap / 4 > KC_MUX_CTL_SIZE ? m->link_cap / 4 : KC_MUX_CTL_SIZE + 1;
    if (bulky && m->link_q + m->link_w > quarter) {
        uint32_t q;
        if (kc__ipc_link_queued(m->conn, &q, NULL) < 0)
            return lim;
        m->link_q = q;
        m->link_w = 0;
        if (q > quarter)
            return 0; /* L2 */
    }
    return lim < quarter ? lim : quarter; /* L1 */
}

/* Under lock: a frame of len payload bytes goes to tx. */
static void handed(struct kc_mux *m, uint32_t len)
{
    m->link_w += KC_FRAME_HDR_SIZE + (uint64_t)len;
}

static int pull(void *arg, kc_frame_hdr_t *h, struct iovec v[2])
{
    struct kc_mux *m = arg;
    pthread_mutex_lock(&m->lock);
    struct kc_mux_inflight *f = &m->inflight;
    *f = (struct kc_mux_inflight){0};
    memset(h, 0, sizeof *h);
    /* 1. queued control messages */
    if (m->ctl_head != NULL) {
        struct kc_mux_ctlitem *it = m->ctl_head;
        if ((m->ctl_head = it->next) == NULL)
            m->ctl_tail = NULL;
        f->ctl = it;
        h->type = KC_FRAME_CHAN;
        h->chan_id = it->chan_id;
        h->id = it->id;
        h->len = it->len;
        v[0].iov_base = it->data;
        v[0].iov_len = it->len;
        m->st.ctl_frames_out++;
        handed(m, h->len);
        pthread_mutex_unlock(&m->lock);
        return 1;
    }
    /* 2. a credit due rides in front of the next DATA frame's elements
     * (KC_FRAME_F_CREDIT) or, when no DATA can go now, in a CHAN frame of
     * its own; either way it goes in this frame (the control lane first) */
    kc_mux_ctl_t msg;
    uint32_t credit_id = 0;
    bool credit = next_credit(m, &msg, &credit_id);
    struct kc_mux_stream *s = m->act_new ? m->act_new : m->act;
    uint32_t lim = credit ? m->max_frame - KC_MUX_CTL_SIZE : m->max_frame;
    bool held = false;
    /* sparse: a new stream within its first KC_MUX_SPARSE bytes */
    bool sparse = s != NULL && s->is_new && s->spell < KC_MUX_SPARSE;
    if (s != NULL) { /* L1; L2 for a bulky stream */
        uint32_t cap = link_allows(m, lim, !sparse);
        held = cap == 0;
        if (held)
            s = NULL;
        else if (cap >= s->elem || s->desc || s->elem > m->max_frame)
            lim = cap;
        else if (s->elem < lim) /* whole elements: at least one a frame */
            lim = s->elem;
    }
    /* a BODY frame is the payload alone (D1): a credit due goes on its own */
    uint32_t n = s && !(credit && s->desc && s->out_frag > 0) ? frame_bytes(m, s, lim) : 0;
    if (credit) {
        msg.c = n > 0 ? credit_id : 0;
        kc__mux_ctl_encode(&msg, f->credit);
    }
    if (credit && n == 0) {
        h->type = KC_FRAME_CHAN;
        h->chan_id = credit_id;
        h->len = KC_MUX_CTL_SIZE;
        v[0].iov_base = f->credit;
        v[0].iov_len = KC_MUX_CTL_SIZE;
        m->st.ctl_frames_out++;
        m->st.credit_frames_out++;
        handed(m, h->len);
        pthread_mutex_unlock(&m->lock);
        return 1;
    }
    /* 3. one DATA frame, deficit round robin (new streams first) */
    if (n == 0 && held) { /* L2: tx waits for the link, a kick brings it back (L3) */
        m->tx_drain = true;
        m->st.link_waits++;
        pthread_mutex_unlock(&m->lock);
        return -EAGAIN;
    }
    if (n == 0) {
        /* nothing, or no connection credit: the next grant or send kicks */
        m->tx_idle = true;
        pthread_mutex_unlock(&m->lock);
        return 0;
    }
    if (sparse) { /* sparse traffic: the link stays shallow for a while (L1) */
        m->sparse_at = m->conn_tx;
        m->sparse_seen = true;
    }
    if (s->deficit < n)
        s->deficit += m->max_frame; /* quantum = max frame >= n: one add */
    s->deficit -= n;
    struct kc_mux_chunk *c = s->out_head;
    h->type = KC_FRAME_DATA;
    h->chan_id = s->id | (s->exporter ? KC_MUX_ID_EXPORTER : 0);
    h->id = (uint32_t)s->out_wire; /* the sequence of the frame's first element */
    h->len = n;
    int nv = 0;
    if (credit) {
        h->flags |= KC_FRAME_F_CREDIT;
        h->len += KC_MUX_CTL_SIZE;
        v[nv].iov_base = f->credit;
        v[nv++].iov_len = KC_MUX_CTL_SIZE;
        m->st.credit_piggy_out++;
    }
    f->s = s;
    f->bytes = n;
    if (s->desc) {
        kc_zdesc_t *d = (kc_zdesc_t *)(void *)(c->data + c->sent);
        h->flags |= KC_FRAME_F_MORE;
        if (s->out_frag == 0) { /* the HEAD: the payload's length */
            for (int i = 0; i < KC_MUX_HEAD_SIZE; i++)
                f->head[i] = (uint8_t)(d->len >> (56 - 8 * i));
            v[nv].iov_base = f->head;
            v[nv++].iov_len = n;
            s->out_frag = n;
        } else { /* a BODY frame: gathered straight from the arena */
            uint32_t off = s->out_frag - KC_MUX_HEAD_SIZE;
            f->has_dref = kc_zdesc_retain(d, s->arena, &f->dref) == 0;
            v[nv].iov_base = (uint8_t *)d->ptr + off;
            v[nv++].iov_len = n;
            s->out_frag += n;
            if (off + n == d->len) { /* the last: the queue's reference goes */
                h->flags &= (uint16_t)~KC_FRAME_F_MORE;
                f->elems = 1;
                s->out_frag = 0;
                if (f->has_dref)
                    kc_zdesc_release(d, s->arena);
                else /* no second reference: this frame keeps the queue's */
                    f->dref = *d, f->has_dref = true;
                c->sent += s->elem;
            }
        }
    } else {
        v[nv].iov_base = c->data + c->sent;
        v[nv++].iov_len = n;
    }
    if (s->desc) {
        /* counted above */
    } else if (s->elem > m->max_frame) {
        f->frag_more = s->out_frag + n < s->elem;
        f->elems = f->frag_more ? 0 : 1;
        if (f->frag_more)
            h->flags |= KC_FRAME_F_MORE;
    } else {
        f->elems = n / s->elem;
    }
    s->refs++; /* the in-flight frame's */
    /* Account now (the bytes stay put until sent() frees the chunk). */
    if (!s->desc) {
        c->sent += n;
        s->out_frag = f->frag_more ? s->out_frag + n : 0;
    }
    s->out_unsent -= n;
    s->spell += n;
    s->out_wire += f->elems;
    m->conn_tx += n;
    handed(m, h->len);
    m->st.data_frames_out++;
    m->st.elems_out += f->elems;
    uint32_t next = frame_bytes(m, s, m->max_frame);
    if (next == 0 && s->out_unsent == 0) {
        kc__mux_deactivate(m, s);
    } else if (next == 0 || s->deficit < next ||
               (s->is_new && s->spell >= KC_MUX_SPARSE && shallow(m))) {
        /* its turn is over (L3: a new stream past its sparse bytes leaves
         * the ring of new streams at once, so it never delays a sparse one) */
        kc__mux_turn_over(m, s);
    }
    /* Credits for senders: room in the window opened when the element
     * was accepted, nothing changes here. */
    pthread_mutex_unlock(&m->lock);
    return nv;
}

static void sent(void *arg, int rc)
{
    (void)rc; /* a failed send ends the connection: on_dead settles everything */
    struct kc_mux *m = arg;
    pthread_mutex_lock(&m->lock);
    struct kc_mux_inflight *f = &m->inflight;
    free(f->ctl);
    f->ctl = NULL;
    struct kc_mux_stream *s = f->s;
    f->s = NULL;
    if (f->has_dref) { /* D1: the frame was written: its reference goes */
        f->has_dref = false;
        kc_zdesc_release(&f->dref, s->arena);
    }
    if (s != NULL) {
        /* free the chunks fully on the wire (never the tail: senders append) */
        while (s->out_head && s->out_head != s->out_tail && s->out_head->sent == s->out_head->cap) {
            struct kc_mux_chunk *c = s->out_head;
            s->out_head = c->next;
            free(c);
        }
        if (s->out_head && s->out_head == s->out_tail && s->out_head->sent == s->out_head->fill) {
            s->out_head->sent = s->out_head->fill = 0; /* reuse the tail from its start */
        }
        kc__mux_stream_unref(s); /* cannot free the mux: the connection holds it */
    }
    pthread_mutex_unlock(&m->lock);
}

/* ------------------------------------------------------------ receive */

/* Window growth. While DATA arrives and the window is below the limit, a
 * PROBE goes out on the control lane, which the peer answers at once on
 * its own (PROBE_ACK, the same d): the smallest of these round trips is
 * the round-trip time (rtt_min). The bytes received between two answers
 * over the time between them are the delivery rate, and rate x rtt_min
 * the bandwidth-delay product. When the window is smaller than twice it
 * (the window, not the link or our consumer, limits the peer), the window
 * grows to twice the product, never beyond conn_limit, and never shrinks.
 * A slow consumer keeps the rate, and so the product, low: its window
 * does not grow. One PROBE at a time, the next once a quarter of the
 * window more was received (and never while the window is at its limit).
 * Under lock. */
static void probe(struct kc_mux *m)
{
    kc_mux_ctl_t msg = {KC_MUX_PROBE, 0, 0, 0, m->probe_token + 1};
    if (kc__mux_ctl(m, NULL, &msg, 0, NULL) < 0)
        return; /* no memory: the next DATA tries again */
    m->probe_token++;
    m->probe_t0 = kc__sched_now();
    m->st.probes_out++;
}

static void probe_answered(struct kc_mux *m, uint64_t token)
{
    if (m->probe_t0 == 0 || token != m->probe_token)
        return; /* not ours, or late */
    int64_t now = kc__sched_now();
    uint64_t rtt = now > m->probe_t0 ? (uint64_t)(now - m->probe_t0) : 1;
    m->probe_t0 = 0;
    m->probe_next = m->conn_rx + m->conn_window / 4;
    if (m->rtt_min == 0 || rtt < m->rtt_min)
        m->rtt_min = rtt;
    if (m->probe_prev_t != 0 && now > m->probe_prev_t) {
        double rate = (double)(m->conn_rx - m->probe_prev_rx) / (double)(now - m->probe_prev_t);
        double bdp = rate * (double)m->rtt_min;
        m->st.bdp_bytes = (uint64_t)bdp;
        if (2 * bdp > (double)m->conn_window && m->conn_window < m->conn_limit) {
            m->conn_window = 2 * bdp >= (double)m->conn_limit ? m->conn_limit : (uint64_t)(2 * bdp);
            m->st.window_grows++;
            m->conn_dirty = true; /* the larger window goes out at once */
            kc__mux_kick(m);
        }
    }
    m->probe_prev_t = now;
    m->probe_prev_rx = m->conn_rx;
}

/* A credit (absolute limit) for chan_id (0: the connection), from a CHAN
 * frame or in front of a DATA frame's elements. M4: a stale, duplicated or
 * reordered grant changes nothing; one for a stream gone is ignored. */
static void on_credit(struct kc_mux *m, uint32_t chan_id, uint64_t limit)
{
    if (chan_id == 0) {
        if (limit > m->conn_peer_limit) {
            m->conn_peer_limit = limit;
            kc__mux_kick_bulk(m); /* a sparse stream waiting for it found tx idle */
        }
        return;
    }
    /* the stream is ours as the other role (see on_ctl) */
    struct kc_mux_stream *s =
        kc__mux_find(m, chan_id & ~KC_MUX_ID_EXPORTER, (chan_id & KC_MUX_ID_EXPORTER) == 0);
    if (s == NULL || s->state == ST_DEAD || limit <= s->peer_limit)
        return;
    s->peer_limit = limit;
    kc__mux_wake(&s->send_waiters);
    if (s->exporter && !s->outbound_started)
        kc__mux_start_outbound(s);
}

static int on_ctl(struct kc_mux *m, const kc_frame_hdr_t *h, const uint8_t *p)
{
    m->st.ctl_frames_in++;
    if (h->len == 0) { /* "no channel layer here": our OPEN found nothing */
        struct kc_mux_stream *s = kc__mux_find(m, h->chan_id & ~KC_MUX_ID_EXPORTER,
                                               (h->chan_id & KC_MUX_ID_EXPORTER) != 0);
        if (s != NULL && s->state == ST_OPENING) {
            s->open_rc = -ENOENT;
            s->state = ST_DEAD;
            s->dead_rc = -ENOENT;
            kc__mux_wake(&m->open_waiters);
        }
        return 0;
    }
    kc_mux_ctl_t msg;
    if (kc__mux_ctl_decode(p, h->len, &msg) < 0)
        return -EPROTO;
    bool from_exporter = (h->chan_id & KC_MUX_ID_EXPORTER) != 0;
    uint32_t id = h->chan_id & ~KC_MUX_ID_EXPORTER;
    if (msg.op == KC_MUX_PROBE || msg.op == KC_MUX_PROBE_ACK) {
        if (h->chan_id != 0)
            return -EPROTO; /* the connection's */
        if (msg.op == KC_MUX_PROBE_ACK) {
            probe_answered(m, msg.d);
            return 0;
        }
        kc_mux_ctl_t ack = {KC_MUX_PROBE_ACK, 0, 0, 0, msg.d};
        return kc__mux_ctl(m, NULL, &ack, 0, NULL) == 0 ? 0 : -ENOMEM;
    }
    if (msg.op == KC_MUX_CREDIT) {
        if (msg.c != 0)
            return -EPROTO; /* c names the stream only inside a DATA frame */
        on_credit(m, h->chan_id, msg.d);
        return 0;
    }
    if (msg.op == KC_MUX_OPEN) {
        if (from_exporter || id == 0)
            return -EPROTO;
        if (kc__mux_find(m, id, true) != NULL)
            return -EPROTO; /* the importer reused a live id */
        kc__mux_on_open(m, id, p + KC_MUX_CTL_SIZE, h->len - KC_MUX_CTL_SIZE);
        return 0;
    }
    /* the stream is ours as the other role: an importer's frame names a
     * stream we export, an exporter's one we imported */
    struct kc_mux_stream *s = kc__mux_find(m, id, !from_exporter);
    if (s == NULL || s->state == ST_DEAD)
        return 0; /* gone already (a reset crossed it): nothing to do */
    switch (msg.op) {
    case KC_MUX_OPEN_OK:
    case KC_MUX_OPEN_ERR:
        if (!from_exporter || s->state != ST_OPENING)
            return -EPROTO;
        if (msg.op == KC_MUX_OPEN_ERR) {
            s->open_rc = msg.a == KC_MUX_ERR_NOENT    ? -ENOENT
                         : msg.a == KC_MUX_ERR_NOTSUP ? -ENOTSUP
                                                      : -ENOMEM;
            s->state = ST_DEAD;
            s->dead_rc = s->open_rc;
        } else {
            if (msg.a > KC_CHAN_UNLIMITED || (msg.c == 0 && msg.d >> 32 == 0))
                return -EPROTO;
            s->kind = msg.a;
            s->rendezvous = msg.a == KC_CHAN_RENDEZVOUS;
            s->elem = msg.c;
            s->capacity = msg.d;
            if (msg.c == 0) { /* descriptors: d = max_desc_len << 32 | capacity */
                s->desc = true;
                s->elem = sizeof(kc_zdesc_t);
                s->max_desc = (uint32_t)(msg.d >> 32);
                s->capacity = msg.d & UINT32_MAX;
            }
            s->state = ST_OPEN;
            s->open_rc = 0;
        }
        kc__mux_wake(&m->open_waiters);
        return 0;
    case KC_MUX_CLOSE:
        if (!s->peer_closed) {
            s->peer_closed = true;
            s->peer_final = msg.d;
            if (msg.d < s->in_seq)
                return -EPROTO; /* it sent more than it says it did */
            if (!s->exporter && s->ch != NULL)
                kc__chan_remote_closed(s->ch, 0);
            s->local_closed = true; /* a closed channel takes no more sends */
            if (s->exporter && !s->outbound_started && !s->close_sent) {
                /* nothing ever went the other way: say so at once */
                kc_mux_ctl_t cl = {KC_MUX_CLOSE, 0, 0, 0, s->out_queued};
                s->close_sent = kc__mux_ctl(m, s, &cl, 0, NULL) == 0;
            }
            kc__mux_wake(&s->recv_waiters);
            kc__mux_wake(&s->send_waiters);
        }
        return 0;
    case KC_MUX_VERDICT:
        if (!from_exporter || !s->rendezvous || h->id != (uint32_t)s->verdict_seq)
            return -EPROTO;
        s->verdict_seq++;
        s->verdict_code = msg.a;
        kc__mux_wake(&s->verdict_waiters);
        return 0;
    case KC_MUX_CANCEL:
        if (from_exporter || !s->rendezvous)
            return -EPROTO;
        m->st.cancels_in++;
        kc__mux_on_cancel(s, kc__mux_seq64(s->in_taken, h->id));
        return 0;
    case KC_MUX_RESET:
        kc__mux_stream_kill(s, -ECONNRESET);
        if (s->exporter) { /* the importer's id may come back: forget it */
            kc__mux_unmap(m, s);
            kc__mux_stream_unref(s); /* the map's; pumps may still hold it */
        }
        return 0;
    default:
        return -EPROTO;
    }
}

/* D5 (kc_mux_stream.c): the buffer a BODY frame of a descriptor stream
 * is read into, straight at its place in the payload arriving; NULL for
 * every other frame (the transport allocates). */
static void *rx_buf(void *arg, const kc_frame_hdr_t *h)
{
    struct kc_mux *m = arg;
    void *buf = NULL;
    pthread_mutex_lock(&m->lock);
    struct kc_mux_stream *s =
        kc__mux_find(m, h->chan_id & ~KC_MUX_ID_EXPORTER, (h->chan_id & KC_MUX_ID_EXPORTER) == 0);
    if (m->lent == NULL && !m->lent_orphan && s != NULL && s->desc && s->state == ST_OPEN &&
        s->din_total > 0 && h->id == (uint32_t)s->in_seq && !(h->flags & KC_FRAME_F_CREDIT) &&
        h->len > 0 && h->len <= s->din_total - s->din_got) {
        buf = s->din_ptr + s->din_got;
        m->lent = buf;
        m->lent_s = s;
    }
    pthread_mutex_unlock(&m->lock);
    return buf;
}

static int on_frame(void *arg, const kc_frame_hdr_t *h, void *p)
{
    struct kc_mux *m = arg;
    pthread_mutex_lock(&m->lock);
    int rc = 0;
    if (p != NULL && p == m->lent) { /* D5: read in place */
        m->lent = NULL;
        m->lent_s = NULL;
        if (m->lent_orphan) { /* its stream ended meanwhile: the bytes go */
            m->lent_orphan = false;
            kc_arena_release(m->lent_arena, m->lent_t);
            m->st.data_frames_in++;
            if (h->len > m->conn_granted - m->conn_rx)
                rc = -EPROTO;
            m->conn_rx += h->len;
            m->st.dropped_in++;
            kc__mux_conn_taken(m, h->len);
            pthread_mutex_unlock(&m->lock);
            return rc;
        }
    }
    if (h->type == KC_FRAME_CHAN) {
        rc = on_ctl(m, h, p);
        free(p);
    } else { /* DATA */
        bool from_exporter = (h->chan_id & KC_MUX_ID_EXPORTER) != 0;
        kc_frame_hdr_t d = *h; /* the elements' part */
        uint32_t base = 0;
        m->st.data_frames_in++;
        if (h->flags & KC_FRAME_F_CREDIT) { /* a credit in front of the elements */
            kc_mux_ctl_t msg;
            if (h->len <= KC_MUX_CTL_SIZE || kc__mux_ctl_decode(p, KC_MUX_CTL_SIZE, &msg) < 0 ||
                msg.op != KC_MUX_CREDIT || msg.a != 0) {
                free(p);
                pthread_mutex_unlock(&m->lock);
                return -EPROTO;
            }
            m->st.credit_piggy_in++;
            on_credit(m, msg.c, msg.d);
            base = KC_MUX_CTL_SIZE;
            d.len -= KC_MUX_CTL_SIZE;
            d.flags &= (uint16_t)~KC_FRAME_F_CREDIT;
        }
        struct kc_mux_stream *s = kc__mux_find(m, h->chan_id & ~KC_MUX_ID_EXPORTER, !from_exporter);
        if (d.len > m->conn_granted - m->conn_rx) {
            rc = -EPROTO; /* M3: beyond the connection credit we gave */
            free(p);
        } else if (s == NULL || s->state != ST_OPEN) {
            /* a stream gone (reset, destroyed): the bytes are discarded and
             * their connection credit given back at once */
            m->conn_rx += d.len;
            m->st.dropped_in++;
            kc__mux_conn_taken(m, d.len);
            free(p);
        } else {
            m->conn_rx += d.len;
            rc = kc__mux_on_data(s, &d, p, base);
        }
        if (m->probe_t0 == 0 && m->conn_window < m->conn_limit && m->conn_rx >= m->probe_next)
            probe(m);
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* ------------------------------------------------------------ life */

static void on_dead(void *arg, int rc)
{
    struct kc_mux *m = arg;
    pthread_mutex_lock(&m->lock);
    m->dead = true;
    m->dead_rc = rc == -EPIPE || rc == -ECONNRESET ? rc : -ECONNRESET;
    for (uint32_t i = 0; i <= m->map_mask; i++)
        for (struct kc_mux_stream *s = m->map[i]; s; s = s->map_next)
            kc__mux_stream_kill(s, -ECONNRESET);
    kc__mux_wake(&m->open_waiters);
    pthread_mutex_unlock(&m->lock);
}

static void on_free(void *arg)
{
    struct kc_mux *m = arg;
    pthread_mutex_lock(&m->lock);
    m->conn = NULL; /* never called again */
    m->dead = true;
    /* the map's references: exported streams end with their pumps,
     * imported ones live on in their proxies */
    for (uint32_t i = 0; i <= m->map_mask; i++) {
        struct kc_mux_stream *s = m->map[i];
        m->map[i] = NULL;
        while (s != NULL) {
            struct kc_mux_stream *n = s->map_next;
            kc__mux_stream_kill(s, -ECONNRESET);
            kc__mux_reg_retire(s);
            m->nstreams--;
            kc__mux_stream_unref(s); /* cannot free m: we hold its conn ref */
            s = n;
        }
    }
    while (m->dirty) {
        struct kc_mux_stream *s = m->dirty;
        m->dirty = s->dirty_next;
        s->ctl_dirty = false;
        kc__mux_stream_unref(s);
    }
    if (m->inflight.s != NULL) {
        if (m->inflight.has_dref) { /* D1: a BODY frame never settled */
            m->inflight.has_dref = false;
            kc_zdesc_release(&m->inflight.dref, m->inflight.s->arena);
        }
        kc__mux_stream_unref(m->inflight.s);
        m->inflight.s = NULL;
    }
    m->lent = NULL; /* D5: rx ended; a payload whose stream ended goes now */
    m->lent_s = NULL;
    if (m->lent_orphan) {
        m->lent_orphan = false;
        kc_arena_release(m->lent_arena, m->lent_t);
    }
    free(m->inflight.ctl);
    m->inflight.ctl = NULL;
    if (!kc__mux_unref(m))
        pthread_mutex_unlock(&m->lock);
}

static const kc__ipc_layer_ops_t layer_ops = {.on_frame = on_frame,
                                              .pull = pull,
                                              .sent = sent,
                                              .on_dead = on_dead,
                                              .on_free = on_free,
                                              .rx_buf = rx_buf};

int kc__mux_get(kc_ipc_conn_t *c, uint64_t conn_window, uint64_t conn_limit, struct kc_mux **out)
{
    struct kc_mux *m = calloc(1, sizeof *m);
    if (m == NULL)
        return -ENOMEM;
    m->map = calloc(16, sizeof *m->map);
    if (m->map == NULL) {
        free(m);
        return -ENOMEM;
    }
    m->map_mask = 15;
    pthread_mutex_init(&m->lock, NULL);
    m->conn = c;
    m->sched = kc__ipc_sched(c);
    m->refs = 1; /* the connection's, until on_free */
    m->max_frame = kc__ipc_max_frame(c);
    m->next_id = 1;
    m->conn_window = conn_window ? conn_window : KC_MUX_CONN_WINDOW;
    m->conn_limit = conn_limit ? conn_limit : KC_MUX_CONN_LIMIT;
    if (m->conn_limit < m->conn_window)
        m->conn_limit = m->conn_window;
    /* Until the peer's grant arrives we may send KC_MUX_CONN_MIN bytes
     * (every side's window is at least that); we accept our whole window
     * from the start and announce it at once, and again with every OPEN
     * and OPEN_OK, so a peer that attached its layer after our first
     * announcement still hears it before any stream carries data. */
    m->conn_peer_limit = KC_MUX_CONN_MIN;
    m->conn_granted = m->conn_window;
    m->conn_dirty = true;
    m->tx_idle = true;
    m->st.size = sizeof m->st;
    m->st.conn_window = m->conn_window;
    void *cur = NULL;
    int rc = kc__ipc_layer_attach(c, &layer_ops, m, &cur);
    if (rc == -EEXIST) {
        free(m->map);
        pthread_mutex_destroy(&m->lock);
        free(m);
        if (conn_window != 0 || conn_limit != 0)
            return -EBUSY;
        *out = cur;
        return 0;
    }
    if (rc < 0) {
        free(m->map);
        pthread_mutex_destroy(&m->lock);
        free(m);
        return rc;
    }
    pthread_mutex_lock(&m->lock);
    if (kc__ipc_link_queued(c, &m->link_q, &m->link_cap) < 0)
        m->link_cap = 0; /* the link cannot tell: no shallow rule (L1) */
    kc__mux_kick(m);     /* the first announcement of our window */
    pthread_mutex_unlock(&m->lock);
    *out = m;
    return 0;
}

KC_API int kc_mux_set_conn_window(kc_ipc_conn_t *c, uint32_t bytes)
{
    if (c == NULL || bytes < KC_MUX_CONN_MIN)
        return -EINVAL;
    struct kc_mux *m;
    return kc__mux_get(c, bytes, bytes, &m);
}

KC_API int kc_mux_set_conn_memory(kc_ipc_conn_t *c, uint32_t window, uint32_t limit)
{
    if (c == NULL || window < KC_MUX_CONN_MIN || limit < window)
        return -EINVAL;
    struct kc_mux *m;
    return kc__mux_get(c, window, limit, &m);
}

KC_API int kc_mux_stats(kc_ipc_conn_t *c, kc_mux_stats_t *out)
{
    if (c == NULL || out == NULL || out->size < sizeof *out)
        return -EINVAL;
    struct kc_mux *m;
    int rc = kc__mux_get(c, 0, 0, &m);
    if (rc == -EPIPE) {
        memset(out, 0, sizeof *out);
        out->size = sizeof *out;
        return 0;
    }
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&m->lock);
    *out = m->st;
    out->rx_bytes_held = m->rx_held;
    out->rx_bytes_peak = m->rx_peak;
    out->conn_window = m->conn_window;
    out->conn_limit = m->conn_limit;
    out->rtt_min_ns = m->rtt_min;
    int broken = kc__mux_check(m);
    pthread_mutex_unlock(&m->lock);
    if (broken) {
        fprintf(stderr, "kcoro: mux %p: invariant M%d broken\n", (void *)m, broken);
        abort();
    }
    return 0;
}

/* ------------------------------------------------------------ public */

KC_API int kc_ipc_export(kc_ipc_conn_t *c, const char *name, kc_chan_t *ch,
                         const kc_mux_export_opts_t *opts)
{
    kc_mux_export_opts_t def = KC_MUX_EXPORT_OPTS_INIT;
    if (opts == NULL)
        opts = &def;
    if (c == NULL || name == NULL || ch == NULL || name[0] == '\0' ||
        strlen(name) > KC_MUX_NAME_MAX || opts->size < sizeof(kc_mux_export_opts_t))
        return -EINVAL;
    size_t max_desc = 0;
    if (kc_chan_elem_size(ch) == 0 && (kc__chan_arena_of(ch, &max_desc) == NULL || max_desc == 0 ||
                                       max_desc > UINT32_MAX || kc__chan_remote_impl(ch) != NULL))
        return -EINVAL; /* descriptors: an arena to reserve in, a bound to reserve */
    struct kc_mux *m;
    int rc = kc__mux_get(c, 0, 0, &m);
    if (rc < 0)
        return rc;
    struct kc_mux_export *e = calloc(1, sizeof *e);
    if (e == NULL)
        return -ENOMEM;
    strcpy(e->name, name);
    e->ch = ch;
    e->opts = *opts;
    rc = kc__mux_reg_add(&e->reg, m, c, NULL, e, name, opts->name, opts->flags);
    if (rc < 0) {
        free(e);
        return rc;
    }
    pthread_mutex_lock(&m->lock);
    for (struct kc_mux_export *x = m->exports; x; x = x->next)
        rc = strcmp(x->name, name) == 0 ? -EEXIST : rc;
    if (rc == 0 && m->dead)
        rc = -EPIPE;
    if (rc < 0) {
        pthread_mutex_unlock(&m->lock);
        kc__mux_reg_end(e->reg);
        free(e);
        return rc;
    }
    e->next = m->exports;
    m->exports = e;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

KC_API int kc_ipc_unexport(kc_ipc_conn_t *c, const char *name)
{
    if (c == NULL || name == NULL)
        return -EINVAL;
    struct kc_mux *m;
    int rc = kc__mux_get(c, 0, 0, &m);
    if (rc < 0)
        return rc == -EPIPE ? -ENOENT : rc;
    pthread_mutex_lock(&m->lock);
    struct kc_mux_export **pp = &m->exports;
    while (*pp && strcmp((*pp)->name, name) != 0)
        pp = &(*pp)->next;
    struct kc_mux_export *e = *pp;
    if (e == NULL) {
        pthread_mutex_unlock(&m->lock);
        return -ENOENT;
    }
    *pp = e->next;
    /* reset its streams and wait until their pumps let go of the channel */
    for (uint32_t i = 0; i <= m->map_mask; i++) {
        for (struct kc_mux_stream *s = m->map[i]; s; s = s->map_next) {
            if (s->exp != e || s->state == ST_DEAD)
                continue;
            kc_mux_ctl_t msg = {KC_MUX_RESET, 0, 0, 0, 0};
            kc__mux_ctl(m, s, &msg, 0, NULL);
            kc__mux_stream_kill(s, -ECONNRESET); /* drains (E1) */
        }
    }
    for (;;) {
        bool busy = false;
        for (uint32_t i = 0; i <= m->map_mask && !busy; i++)
            for (struct kc_mux_stream *s = m->map[i]; s && !busy; s = s->map_next)
                busy = s->exp == e && s->refs > 1;
        if (!busy)
            break;
        pthread_mutex_unlock(&m->lock);
        kc_sched_sleep(100000, NULL); /* pumps end at once once their token fired */
        pthread_mutex_lock(&m->lock);
    }
    for (uint32_t i = 0; i <= m->map_mask; i++) {
        for (struct kc_mux_stream *s = m->map[i], *n; s; s = n) {
            n = s->map_next;
            if (s->exp == e) {
                kc__mux_unmap(m, s);
                s->exp = NULL;
                kc__mux_stream_unref(s);
            }
        }
    }
    pthread_mutex_unlock(&m->lock);
    kc__mux_reg_end(e->reg);
    free(e);
    return 0;
}

KC_API int kc_ipc_import(kc_chan_t **out, kc_ipc_conn_t *c, const char *name,
                         const kc_mux_import_opts_t *opts, const kc_cancel_t *cancel)
{
    kc_mux_import_opts_t def = KC_MUX_IMPORT_OPTS_INIT;
    if (opts == NULL)
        opts = &def;
    if (out == NULL || c == NULL || name == NULL || name[0] == '\0' ||
        strlen(name) > KC_MUX_NAME_MAX || opts->size < sizeof(kc_mux_import_opts_t))
        return -EINVAL;
    kc_arena_t *arena = opts->arena;
    struct kc_mux *m;
    int rc = kc__mux_get(c, 0, 0, &m);
    if (rc < 0)
        return rc == -EPIPE ? -EPIPE : rc;
    int64_t deadline = kc__deadline_after(kc__timeout_norm(opts->timeout_ns));
    pthread_mutex_lock(&m->lock);
    if (m->dead) {
        rc = m->dead_rc;
        pthread_mutex_unlock(&m->lock);
        return rc;
    }
    uint32_t id = m->next_id;
    while (kc__mux_find(m, id, false) != NULL || id == 0)
        id = (id + 1) & ~KC_MUX_ID_EXPORTER;
    m->next_id = (id + 1) & ~KC_MUX_ID_EXPORTER;
    struct kc_mux_stream *s = kc__mux_stream_new(m, id, false);
    if (s == NULL) {
        pthread_mutex_unlock(&m->lock);
        return -ENOMEM;
    }
    s->refs++; /* ours, then the proxy's */
    kc_mux_ctl_t msg = {KC_MUX_OPEN, 0, 0, 0, 0};
    rc = kc__mux_ctl(m, s, &msg, 0, name);
    while (rc == 0 && s->state == ST_OPENING) {
        int64_t left = kc__deadline_left(deadline);
        if (left == 0) {
            rc = -ETIME;
            break;
        }
        int prc = kc__mux_wait(m, &m->open_waiters, left, cancel);
        if (prc == -ECANCELED && s->state == ST_OPENING)
            rc = -ECANCELED;
    }
    if (rc == 0 && s->state != ST_OPEN)
        rc = s->open_rc < 0 ? s->open_rc : s->dead_rc;
    if (rc == 0 && s->desc && arena == NULL)
        rc = -EINVAL; /* a descriptor channel needs opts->arena */
    kc_chan_t *ch = NULL;
    const char *local = opts->name ? opts->name : name;
    if (rc == 0) {
        kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
        o.kind = (kc_chan_kind_t)s->kind;
        o.capacity = s->kind == KC_CHAN_BUFFERED ? (size_t)s->capacity : 0;
        o.elem_size = s->elem;
        o.name = local;
        o.flags = opts->flags & KC_MUX_REGISTER;
        o.on_undelivered = opts->on_undelivered;
        o.undelivered_arg = opts->undelivered_arg;
        uint64_t w = opts->window ? opts->window : s->capacity;
        if (w == 0 || s->rendezvous)
            w = 1;
        s->window = w > (1u << 20) ? 1u << 20 : (uint32_t)w;
        if (s->desc) { /* D2: reserved in arena once a receive asks */
            if (s->window > KC_MUX_DESC_WINDOW)
                s->window = KC_MUX_DESC_WINDOW;
            s->arena = arena;
            s->pool_cap = s->window;
            o.elem_size = 0;
            o.arena = arena;
            o.max_desc_len = s->max_desc;
        }
        /* without the lock: creating may list the channel, and a walk of
         * the registry takes this lock (registry, then mux); our reference
         * keeps s, whose end while unlocked is passed on below */
        pthread_mutex_unlock(&m->lock);
        rc = kc__chan_remote_create(&ch, &o, &kc__mux_proxy_ops, s);
        pthread_mutex_lock(&m->lock);
    }
    if (rc == 0) {
        s->ch = ch;
        if (s->state == ST_DEAD)
            kc__chan_remote_closed(ch, s->dead_rc);
        else if (s->peer_closed)
            kc__chan_remote_closed(ch, 0);
        pthread_mutex_unlock(&m->lock);
        rc = kc__mux_reg_add(&s->reg, m, c, s, NULL, name, local, opts->flags);
        if (rc < 0) {
            kc_chan_destroy(ch);
            return rc;
        }
        *out = ch;
        return 0;
    }
    /* failed: the stream goes (a late OPEN_OK finds nothing; the exporter
     * hears a RESET if it opened one) */
    if (s->state == ST_OPENING || s->state == ST_OPEN) {
        kc_mux_ctl_t r = {KC_MUX_RESET, 0, 0, 0, 0};
        kc__mux_ctl(m, s, &r, 0, NULL);
    }
    kc__mux_stream_kill(s, rc);
    if (m->conn != NULL) { /* else on_free unmapped it and dropped the map's reference */
        kc__mux_unmap(m, s);
        kc__mux_stream_unref(s);
    }
    if (!kc__mux_stream_unref(s)) /* ours */
        pthread_mutex_unlock(&m->lock);
    return rc;
}
