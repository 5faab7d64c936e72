/* kc_mux_state.c - the mux's bookkeeping: control messages, waiting, the stream table, the active rings, references, credit.
 *
 * The lowest of the channel layer's three files: kc_mux_stream.c (the
 * elements of a stream) and kc_mux.c (the connection's frames and the
 * public calls) call down into it, it calls neither. Everything here runs
 * with the mux's lock held, except the control message codec.
 */
#include "kc_mux_impl.h"

#include "base/kc_bytes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kc__mux_ctl_encode(const kc_mux_ctl_t *m, uint8_t *out)
{
    out[0] = m->op;
    out[1] = m->a;
    kc__put_be16(out + 2, m->b);
    kc__put_be32(out + 4, m->c);
    kc__put_be32(out + 8, (uint32_t)(m->d >> 32));
    kc__put_be32(out + 12, (uint32_t)m->d);
}

int kc__mux_ctl_decode(const uint8_t *p, size_t len, kc_mux_ctl_t *m)
{
    if (p == NULL || len < KC_MUX_CTL_SIZE)
        return -EPROTO;
    m->op = p[0];
    m->a = p[1];
    m->b = kc__get_be16(p + 2);
    m->c = kc__get_be32(p + 4);
    m->d = ((uint64_t)kc__get_be32(p + 8) << 32) | kc__get_be32(p + 12);
    if (m->op < KC_MUX_OPEN || m->op > KC_MUX_PROBE_ACK || m->b != 0)
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
            kc__mux_reg_retire(s);
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

void kc__mux_deactivate(struct kc_mux *m, struct kc_mux_stream *s)
{
    if (!s->active)
        return;
    ring_del(s->is_new ? &m->act_new : &m->act, s);
    s->active = false;
    s->is_new = false;
    s->deficit = 0;
    s->bulky = s->spell > KC_MUX_SPARSE;
    s->spell = 0;
}

void kc__mux_turn_over(struct kc_mux *m, struct kc_mux_stream *s)
{
    if (s->is_new) { /* its one quantum as a new stream: to the old ring */
        ring_del(&m->act_new, s);
        s->is_new = false;
        ring_add(&m->act, s);
    } else {
        m->act = s->act_next;
    }
}

void kc__mux_activate(struct kc_mux *m, struct kc_mux_stream *s)
{
    if (s->active || s->out_unsent == 0 || s->state == ST_DEAD)
        return;
    /* Only a sparse stream goes first (FQ-CoDel's new flows): a bulk
     * stream that drains at every turn (its window is at most a frame)
     * would otherwise come back as new each time, and a sparse stream's
     * element would wait behind every bulk stream's frame in the ring of
     * new streams, megabytes on a busy connection. */
    s->is_new = !s->bulky;
    ring_add(s->is_new ? &m->act_new : &m->act, s);
    s->active = true;
    if (s->is_new)
        kc__mux_kick(m);
    else
        kc__mux_kick_bulk(m);
}

static void free_mux(struct kc_mux *m)
{
    while (m->ctl_head) {
        struct kc_mux_ctlitem *n = m->ctl_head->next;
        free(m->ctl_head);
        m->ctl_head = n;
    }
    struct kc_mux_export *e = m->exports;
    pthread_mutex_unlock(&m->lock);
    while (e) { /* unlisted first: a walk may be reading it (and the map) */
        struct kc_mux_export *n = e->next;
        kc__mux_reg_end(e->reg);
        free(e);
        e = n;
    }
    free(m->map);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

bool kc__mux_unref(struct kc_mux *m)
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
    kc__mux_deactivate(m, s);
    for (struct kc_mux_chunk *c = s->out_head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    for (struct kc_mux_inbuf *b = s->in_head, *n; b; b = n) {
        n = b->next;
        m->rx_held -= b->len - b->off;
        if (s->desc) { /* payloads in the arena: their window bytes came back on arrival */
            for (uint32_t off = b->off; off + sizeof(kc_zdesc_t) <= b->len;
                 off += sizeof(kc_zdesc_t)) {
                kc_zdesc_t d;
                memcpy(&d, b->buf + off, sizeof d);
                kc_zdesc_release(&d, s->arena);
            }
        } else {
            kc__mux_conn_taken(m, b->len - b->off); /* never received: the window's again */
        }
        free(b->buf);
        free(b);
    }
    free(s->reasm);
    if (s->desc)
        kc__mux_pool_free(s);
    free(s->pool);
    if (s->life != NULL)
        kc_cancel_destroy(s->life);
    free(s);
    return kc__mux_unref(m);
}

/* ------------------------------------------------------------ control lane */

void kc__mux_kick(struct kc_mux *m)
{
    if ((m->tx_idle || m->tx_drain) && m->conn != NULL) {
        m->tx_idle = m->tx_drain = false;
        kc__ipc_layer_kick(m->conn); /* takes the connection's lock: mux -> conn order */
    }
}

void kc__mux_kick_bulk(struct kc_mux *m)
{
    if (m->tx_idle && m->conn != NULL) {
        m->tx_idle = false;
        kc__ipc_layer_kick(m->conn);
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
    uint64_t want =
        !s->exporter && s->rendezvous ? s->in_taken + s->waiting_recv : s->in_taken + s->window;
    if (s->desc) { /* D2: only as many as there are reserved buffers */
        uint64_t backed = s->in_seq + (s->din_total > 0) + s->pool_n;
        if (want > backed)
            want = backed;
    }
    return want;
}

int kc__mux_pool_fill(struct kc_mux_stream *s)
{
    if (s->pool == NULL && s->pool_cap > 0 &&
        (s->pool = calloc(s->pool_cap, sizeof *s->pool)) == NULL)
        return -ENOMEM;
    while (s->pool_n < s->pool_cap) {
        if (kc_arena_alloc(s->arena, s->max_desc, &s->pool[s->pool_n], NULL) < 0)
            return -ENOMEM;
        s->pool_n++;
    }
    return 0;
}

void kc__mux_pool_free(struct kc_mux_stream *s)
{
    while (s->pool_n > 0)
        kc_arena_release(s->arena, s->pool[--s->pool_n]);
    if (s->din_total > 0) {
        struct kc_mux *m = s->mux;
        if (m->lent_s == s) { /* D5: rx may be reading into it: released after */
            m->lent_s = NULL;
            m->lent_orphan = true;
            m->lent_t = s->din_t;
            m->lent_arena = s->arena;
        } else {
            kc_arena_release(s->arena, s->din_t);
        }
        s->din_total = s->din_got = 0;
        s->din_ptr = NULL;
    }
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

/* ------------------------------------------------------------ checks */

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
