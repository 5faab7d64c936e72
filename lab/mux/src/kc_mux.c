/* kc_mux.c - the channel layer of a connection: stream table, control lane, credit, DRR transmit.
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
 */
#include "kc_mux_impl.h"

#include "kcoro/sched.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

void kc__mux_ctl_encode(const kc_mux_ctl_t *m, uint8_t *out)
{
    out[0] = m->op;
    out[1] = m->a;
    out[2] = (uint8_t)(m->b >> 8);
    out[3] = (uint8_t)m->b;
    put32(out + 4, m->c);
    put32(out + 8, (uint32_t)(m->d >> 32));
    put32(out + 12, (uint32_t)m->d);
}

int kc__mux_ctl_decode(const uint8_t *p, size_t len, kc_mux_ctl_t *m)
{
    if (p == NULL || len < KC_MUX_CTL_SIZE)
        return -EPROTO;
    m->op = p[0];
    m->a = p[1];
    m->b = (uint16_t)((p[2] << 8) | p[3]);
    m->c = get32(p + 4);
    m->d = ((uint64_t)get32(p + 8) << 32) | get32(p + 12);
    if (m->op < KC_MUX_OPEN || m->op > KC_MUX_RESET || m->b != 0)
        return -EPROTO;
    if (m->op != KC_MUX_OPEN && len != KC_MUX_CTL_SIZE)
        return -EPROTO; /* only OPEN carries a name */
    return 0;
}

/* ------------------------------------------------------------ waiting */

int kc__mux_wait(struct kc_mux *m, struct kc_mux_wait **list, int64_t timeout_ns,
                 const kc_cancel_t *cancel)
{
    kc_parker_t pk;
    kc_parker_init(&pk);
    struct kc_mux_wait w = {*list, &pk};
    /* cppcheck-suppress autoVariables ; unlinked below before w goes away */
    *list = &w;
    pthread_mutex_unlock(&m->lock);
    int rc = kc_park(&pk, timeout_ns, cancel);
    pthread_mutex_lock(&m->lock);
    /* Still listed (timeout, cancel): unlink. A waker empties the list and
     * unparks under the lock, so no unpark of pk is pending once we hold it. */
    for (struct kc_mux_wait **pp = list; *pp; pp = &(*pp)->next) {
        if (*pp == &w) {
            *pp = w.next;
            break;
        }
    }
    return rc;
}

void kc__mux_wake(struct kc_mux_wait **list)
{
    for (struct kc_mux_wait *w = *list; w; w = w->next)
        kc_unpark(w->p);
    *list = NULL;
}

/* ------------------------------------------------------------ streams */

static uint32_t slot_of(const struct kc_mux *m, uint32_t id, bool exporter)
{
    uint32_t h = (id * 2654435761u) ^ (exporter ? 0x9e3779b9u : 0);
    return h & m->map_mask;
}

static void map_grow(struct kc_mux *m)
{
    uint32_t n = (m->map_mask + 1) * 2;
    struct kc_mux_stream **nb = calloc(n, sizeof *nb);
    if (nb == NULL)
        return; /* chains grow longer; still correct */
    struct kc_mux_stream **old = m->map;
    uint32_t old_n = m->map_mask + 1;
    m->map = nb;
    m->map_mask = n - 1;
    for (uint32_t i = 0; i < old_n; i++) {
        for (struct kc_mux_stream *s = old[i], *nx; s; s = nx) {
            nx = s->map_next;
            uint32_t k = slot_of(m, s->id, s->exporter);
            s->map_next = nb[k];
            nb[k] = s;
        }
    }
    free(old);
}

struct kc_mux_stream *kc__mux_stream_new(struct kc_mux *m, uint32_t id, bool exporter)
{
    struct kc_mux_stream *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->mux = m;
    s->id = id;
    s->exporter = exporter;
    s->refs = 1;
    m->refs++;
    if (m->nstreams >= m->map_mask + 1)
        map_grow(m);
    uint32_t k = slot_of(m, id, exporter);
    s->map_next = m->map[k];
    m->map[k] = s;
    m->nstreams++;
    m->st.streams = m->nstreams;
    return s;
}

struct kc_mux_stream *kc__mux_find(struct kc_mux *m, uint32_t id, bool exporter)
{
    for (struct kc_mux_stream *s = m->map[slot_of(m, id, exporter)]; s; s = s->map_next)
        if (s->id == id && s->exporter == exporter)
            return s;
    return NULL;
}

void kc__mux_unmap(struct kc_mux *m, struct kc_mux_stream *s)
{
    for (struct kc_mux_stream **pp = &m->map[slot_of(m, s->id, s->exporter)]; *pp;
         pp = &(*pp)->map_next) {
        if (*pp == s) {
            *pp = s->map_next;
            m->nstreams--;
            m->st.streams = m->nstreams;
            return;
        }
    }
}

/* The two rings of active streams (FQ-CoDel's new and old flows): a
 * stream that becomes active after being idle joins the tail of the *new*
 * ring, served before the old one, for one quantum; then it moves to the
 * tail of the old ring, where the plain deficit round robin runs. A sparse
 * stream (a ping among bulk transfers) thus waits for at most one frame of
 * each stream that went new before it, not for a round of every stream. */
static void ring_add(struct kc_mux_stream **head, struct kc_mux_stream *s)
{
    if (*head == NULL) {
        s->act_next = s->act_prev = s;
        *head = s;
    } else { /* at the tail: just before the head */
        s->act_next = *head;
        s->act_prev = (*head)->act_prev;
        s->act_prev->act_next = s;
        (*head)->act_prev = s;
    }
}

static void ring_del(struct kc_mux_stream **head, struct kc_mux_stream *s)
{
    if (s->act_next == s) {
        *head = NULL;
    } else {
        s->act_prev->act_next = s->act_next;
        s->act_next->act_prev = s->act_prev;
        if (*head == s)
            *head = s->act_next;
    }
}

static void deactivate(struct kc_mux *m, struct kc_mux_stream *s)
{
    if (!s->active)
        return;
    ring_del(s->is_new ? &m->act_new : &m->act, s);
    s->active = false;
    s->is_new = false;
    s->deficit = 0;
}

void kc__mux_activate(struct kc_mux *m, struct kc_mux_stream *s)
{
    if (s->active || s->out_unsent == 0 || s->state == ST_DEAD)
        return;
    ring_add(&m->act_new, s);
    s->active = true;
    s->is_new = true;
    kc__mux_kick(m);
}

static void free_mux(struct kc_mux *m)
{
    while (m->ctl_head) {
        struct kc_mux_ctlitem *n = m->ctl_head->next;
        free(m->ctl_head);
        m->ctl_head = n;
    }
    while (m->exports) {
        struct kc_mux_export *n = m->exports->next;
        free(m->exports);
        m->exports = n;
    }
    free(m->map);
    pthread_mutex_unlock(&m->lock);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Drop one reference of m (lock held). True when m is gone (unlocked). */
static bool mux_unref(struct kc_mux *m)
{
    if (--m->refs != 0)
        return false;
    free_mux(m);
    return true;
}

bool kc__mux_stream_unref(struct kc_mux_stream *s)
{
    if (--s->refs != 0)
        return false;
    struct kc_mux *m = s->mux;
    deactivate(m, s);
    for (struct kc_mux_chunk *c = s->out_head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    for (struct kc_mux_inbuf *b = s->in_head, *n; b; b = n) {
        n = b->next;
        m->rx_held -= b->len - b->off;
        free(b->buf);
        free(b);
    }
    free(s->reasm);
    if (s->life != NULL)
        kc_cancel_destroy(s->life);
    free(s);
    return mux_unref(m);
}

/* ------------------------------------------------------------ control lane */

void kc__mux_kick(struct kc_mux *m)
{
    if (m->tx_idle && m->conn != NULL) {
        m->tx_idle = false;
        kc__ipc_layer_kick(m->conn); /* takes the connection's lock: mux -> conn order */
    }
}

int kc__mux_ctl(struct kc_mux *m, struct kc_mux_stream *s, const kc_mux_ctl_t *msg, uint32_t id,
                const char *name)
{
    size_t nlen = name ? strlen(name) : 0;
    struct kc_mux_ctlitem *it = malloc(sizeof *it + KC_MUX_CTL_SIZE + nlen);
    if (it == NULL)
        return -ENOMEM;
    it->next = NULL;
    it->chan_id = s ? (s->id | (s->exporter ? KC_MUX_ID_EXPORTER : 0)) : 0;
    it->id = id;
    it->len = (uint32_t)(KC_MUX_CTL_SIZE + nlen);
    kc__mux_ctl_encode(msg, it->data);
    if (nlen)
        memcpy(it->data + KC_MUX_CTL_SIZE, name, nlen);
    if (msg->op == KC_MUX_OPEN || msg->op == KC_MUX_OPEN_OK)
        m->conn_dirty = true; /* the peer hears our window before any data */
    if (m->ctl_tail)
        m->ctl_tail->next = it;
    else
        m->ctl_head = it;
    m->ctl_tail = it;
    kc__mux_kick(m);
    return 0;
}

/* The limit s should advertise now: what was taken plus the window, or
 * for an importer's rendezvous receive, one per waiting receiver. */
static uint64_t stream_want(const struct kc_mux_stream *s)
{
    if (!s->exporter && !s->recv_started)
        return 0; /* the importer asks for elements only once it receives */
    if (!s->exporter && s->rendezvous)
        return s->in_taken + s->waiting_recv;
    return s->in_taken + s->window;
}

void kc__mux_grant(struct kc_mux *m, struct kc_mux_stream *s, bool now)
{
    if (s->state == ST_DEAD)
        return;
    uint64_t want = stream_want(s);
    if (want <= s->granted)
        return;
    /* Announce once a quarter of the window was consumed (or at once:
     * rendezvous, the first grant, a caller that must not wait). */
    uint64_t quarter = s->window / 4 ? s->window / 4 : 1;
    if (!now && !s->rendezvous && s->granted != 0 && want - s->granted < quarter)
        return;
    s->want = want;
    if (!s->ctl_dirty) {
        s->ctl_dirty = true;
        s->refs++; /* the dirty list's */
        s->dirty_next = m->dirty;
        m->dirty = s;
        kc__mux_kick(m);
    }
}

void kc__mux_conn_taken(struct kc_mux *m, uint64_t bytes)
{
    m->conn_taken += bytes;
    uint64_t want = m->conn_taken + m->conn_window;
    if (!m->conn_dirty && want - m->conn_granted >= m->conn_window / 4) {
        m->conn_dirty = true;
        kc__mux_kick(m);
    }
}

/* ------------------------------------------------------------ transmit */

/* Bytes the next DATA frame of s may carry (0: none now). */
static uint32_t frame_bytes(const struct kc_mux *m, const struct kc_mux_stream *s)
{
    const struct kc_mux_chunk *c = s->out_head;
    if (c == NULL || c->fill == c->sent)
        return 0;
    uint32_t avail = c->fill - c->sent;
    uint64_t room = m->conn_peer_limit > m->conn_tx ? m->conn_peer_limit - m->conn_tx : 0;
    if (s->elem > m->max_frame) { /* fragments of one element */
        uint32_t left = s->elem - s->out_frag;
        uint32_t n = left < m->max_frame ? left : m->max_frame;
        return room >= n ? n : 0;
    }
    uint32_t n = avail < m->max_frame ? avail : m->max_frame;
    n -= n % s->elem;
    if (room < n)
        n = (uint32_t)(room - room % s->elem);
    return n;
}

static int pull(void *arg, kc_frame_hdr_t *h, struct iovec *v)
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
        v->iov_base = it->data;
        v->iov_len = it->len;
        m->st.ctl_frames_out++;
        pthread_mutex_unlock(&m->lock);
        return 1;
    }
    /* 2. credit: the connection's, then each dirty stream's */
    kc_mux_ctl_t msg = {KC_MUX_CREDIT, 0, 0, 0, 0};
    if (m->conn_dirty) {
        m->conn_dirty = false;
        m->conn_granted = m->conn_taken + m->conn_window;
        msg.d = m->conn_granted;
        h->chan_id = 0;
    } else {
        struct kc_mux_stream *s = NULL;
        while (m->dirty != NULL) {
            s = m->dirty;
            m->dirty = s->dirty_next;
            s->ctl_dirty = false;
            uint64_t want = s->want;
            bool live = s->state == ST_OPEN && want > s->granted;
            if (live) {
                s->granted = want;
                msg.d = want;
                h->chan_id = s->id | (s->exporter ? KC_MUX_ID_EXPORTER : 0);
            }
            if (kc__mux_stream_unref(s)) /* the dirty list's reference */
                return 0;                /* the mux is gone (cannot be: conn holds it) */
            if (live)
                break;
            s = NULL;
        }
        if (s == NULL)
            msg.op = 0;
    }
    if (msg.op == KC_MUX_CREDIT) {
        kc__mux_ctl_encode(&msg, f->credit);
        h->type = KC_FRAME_CHAN;
        h->len = KC_MUX_CTL_SIZE;
        v->iov_base = f->credit;
        v->iov_len = KC_MUX_CTL_SIZE;
        m->st.ctl_frames_out++;
        m->st.credit_frames_out++;
        pthread_mutex_unlock(&m->lock);
        return 1;
    }
    /* 3. one DATA frame, deficit round robin (new streams first) */
    struct kc_mux_stream *s = m->act_new ? m->act_new : m->act;
    uint32_t n = s ? frame_bytes(m, s) : 0;
    if (n == 0) {
        /* nothing, or no connection credit: the next grant or send kicks */
        m->tx_idle = true;
        pthread_mutex_unlock(&m->lock);
        return 0;
    }
    if (s->deficit < n)
        s->deficit += m->max_frame; /* quantum = max frame >= n: one add */
    s->deficit -= n;
    struct kc_mux_chunk *c = s->out_head;
    h->type = KC_FRAME_DATA;
    h->chan_id = s->id | (s->exporter ? KC_MUX_ID_EXPORTER : 0);
    h->id = (uint32_t)s->out_wire; /* the sequence of the frame's first element */
    h->len = n;
    v->iov_base = c->data + c->sent;
    v->iov_len = n;
    f->s = s;
    f->bytes = n;
    if (s->elem > m->max_frame) {
        f->frag_more = s->out_frag + n < s->elem;
        f->elems = f->frag_more ? 0 : 1;
        if (f->frag_more)
            h->flags = KC_FRAME_F_MORE;
    } else {
        f->elems = n / s->elem;
    }
    s->refs++; /* the in-flight frame's */
    /* Account now (the bytes stay put until sent() frees the chunk). */
    c->sent += n;
    s->out_unsent -= n;
    s->out_frag = f->frag_more ? s->out_frag + n : 0;
    s->out_wire += f->elems;
    m->conn_tx += n;
    m->st.data_frames_out++;
    m->st.elems_out += f->elems;
    uint32_t next = frame_bytes(m, s);
    if (next == 0 && s->out_unsent == 0) {
        deactivate(m, s);
    } else if (next == 0 || s->deficit < next) { /* its turn is over */
        if (s->is_new) { /* its one quantum as a new stream: to the old ring */
            ring_del(&m->act_new, s);
            s->is_new = false;
            ring_add(&m->act, s);
        } else {
            m->act = s->act_next;
        }
    }
    /* Credits for senders: room in the window opened when the element
     * was accepted, nothing changes here. */
    pthread_mutex_unlock(&m->lock);
    return 1;
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
    if (msg.op == KC_MUX_CREDIT && h->chan_id == 0) {
        if (msg.d > m->conn_peer_limit) { /* M4: a stale grant changes nothing */
            m->conn_peer_limit = msg.d;
            kc__mux_kick(m);
        }
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
            if (msg.a > KC_CHAN_UNLIMITED || msg.c == 0)
                return -EPROTO;
            s->kind = msg.a;
            s->rendezvous = msg.a == KC_CHAN_RENDEZVOUS;
            s->elem = msg.c;
            s->capacity = msg.d;
            s->state = ST_OPEN;
            s->open_rc = 0;
        }
        kc__mux_wake(&m->open_waiters);
        return 0;
    case KC_MUX_CREDIT:
        if (msg.d > s->peer_limit) { /* M4 */
            s->peer_limit = msg.d;
            kc__mux_wake(&s->send_waiters);
            if (s->exporter && !s->outbound_started)
                kc__mux_start_outbound(s);
        }
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

static int on_frame(void *arg, const kc_frame_hdr_t *h, void *p)
{
    struct kc_mux *m = arg;
    pthread_mutex_lock(&m->lock);
    int rc = 0;
    if (h->type == KC_FRAME_CHAN) {
        rc = on_ctl(m, h, p);
        free(p);
    } else { /* DATA */
        bool from_exporter = (h->chan_id & KC_MUX_ID_EXPORTER) != 0;
        struct kc_mux_stream *s = kc__mux_find(m, h->chan_id & ~KC_MUX_ID_EXPORTER, !from_exporter);
        m->st.data_frames_in++;
        if (h->len > m->conn_granted - m->conn_rx) {
            rc = -EPROTO; /* M3: beyond the connection credit we gave */
            free(p);
        } else if (s == NULL || s->state != ST_OPEN) {
            /* a stream gone (reset, destroyed): the bytes are discarded and
             * their connection credit given back at once */
            m->conn_rx += h->len;
            m->st.dropped_in++;
            kc__mux_conn_taken(m, h->len);
            free(p);
        } else {
            m->conn_rx += h->len;
            rc = kc__mux_on_data(s, h, p);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* ------------------------------------------------------------ life */

void kc__mux_stream_kill(struct kc_mux_stream *s, int rc)
{
    if (s->state == ST_DEAD)
        return;
    struct kc_mux *m = s->mux;
    s->state = ST_DEAD;
    s->dead_rc = rc;
    if (s->exporter)
        kc__mux_drain(s); /* an importer's proxy drains at destroy (receivers read first) */
    deactivate(m, s);
    if (s->life != NULL)
        kc_cancel_trigger(s->life); /* the exporter's pumps end */
    if (!s->exporter && s->ch != NULL)
        kc__chan_remote_closed(s->ch, rc);
    kc__mux_wake(&s->send_waiters);
    kc__mux_wake(&s->recv_waiters);
    kc__mux_wake(&s->verdict_waiters);
    kc__mux_wake(&m->open_waiters);
}

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
        kc__mux_stream_unref(m->inflight.s);
        m->inflight.s = NULL;
    }
    free(m->inflight.ctl);
    m->inflight.ctl = NULL;
    if (!mux_unref(m))
        pthread_mutex_unlock(&m->lock);
}

static const kc__ipc_layer_ops_t layer_ops = {on_frame, pull, sent, on_dead, on_free};

int kc__mux_get(kc_ipc_conn_t *c, uint64_t conn_window, struct kc_mux **out)
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
        if (conn_window != 0)
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
    kc__mux_kick(m); /* the first announcement of our window */
    pthread_mutex_unlock(&m->lock);
    *out = m;
    return 0;
}

KC_API int kc_mux_set_conn_window(kc_ipc_conn_t *c, uint32_t bytes)
{
    if (c == NULL || bytes < KC_MUX_CONN_MIN)
        return -EINVAL;
    struct kc_mux *m;
    return kc__mux_get(c, bytes, &m);
}

KC_API int kc_mux_stats(kc_ipc_conn_t *c, kc_mux_stats_t *out)
{
    if (c == NULL || out == NULL || out->size < sizeof *out)
        return -EINVAL;
    struct kc_mux *m;
    int rc = kc__mux_get(c, 0, &m);
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
    int broken = kc__mux_check(m);
    pthread_mutex_unlock(&m->lock);
    if (broken) {
        fprintf(stderr, "kcoro: mux %p: invariant M%d broken\n", (void *)m, broken);
        abort();
    }
    return 0;
}

int kc__mux_check(struct kc_mux *m)
{
    uint64_t held = 0;
    for (uint32_t i = 0; i <= m->map_mask; i++) {
        for (struct kc_mux_stream *s = m->map[i]; s; s = s->map_next) {
            if (s->active != (s->out_unsent > 0 && s->state != ST_DEAD) && s->state != ST_DEAD)
                return 1;
            if (s->state == ST_OPEN && s->out_queued > s->peer_limit)
                return 2;
            if (s->in_seq > s->granted && s->granted != 0)
                return 3;
            for (const struct kc_mux_inbuf *b = s->in_head; b; b = b->next)
                held += b->len - b->off;
        }
    }
    if (m->conn_rx > m->conn_granted)
        return 3;
    if (held > m->rx_held || m->rx_held > m->conn_window + KC_MUX_CONN_WINDOW)
        return 5;
    return 0;
}
