/* kc_mux_stream.c - elements of a stream: the imported channel's operations, the exporter's pumps.
 *
 * Importer: the remote kc_chan_t's send waits for element credit
 * (out_queued < peer_limit), then queues the element for the DRR; a
 * rendezvous send then waits for the exporter's verdict, and on its own
 * timeout or cancel sends CANCEL and still waits for the verdict, which
 * decides (delivered: 0, so an element is never both delivered and
 * failed). Its receive takes from the inbox and grants credit as it takes.
 *
 * Exporter: per stream an inbound pump (inbox -> kc_chan_send into the
 * exported channel; credit granted once the channel took the element) and,
 * once the importer first asks for elements, an outbound pump (waits for
 * the importer's credit, then kc_chan_recv from the exported channel and
 * queues the element). Both run on the connection's scheduler and end when
 * the stream's `life` token fires (reset, unexport, connection end).
 *
 * Rules:
 *   E1 every element a peer sent is taken from the inbox exactly once: by a
 *      receive, by the inbound pump (delivered, or counted undelivered), or
 *      by the stream's end (undelivered);
 *   E2 credit is granted only for elements taken (consumption, not
 *      arrival), so the inbox never holds more than the window.
 */
#include "kc_mux_impl.h"

#include "kcoro/sched.h"

#include "sched/kc_sched_svc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ buffers */

int kc__mux_enqueue(struct kc_mux_stream *s, const void *elem)
{
    struct kc_mux_chunk *t = s->out_tail;
    if (t == NULL || t->cap - t->fill < s->elem) {
        uint32_t per = s->elem >= s->mux->max_frame ? 1 : s->mux->max_frame / s->elem;
        uint32_t cap = per * s->elem;
        struct kc_mux_chunk *c = malloc(sizeof *c + cap);
        if (c == NULL)
            return -ENOMEM;
        c->next = NULL;
        c->cap = cap;
        c->fill = c->sent = 0;
        if (t)
            t->next = c;
        else
            s->out_head = c;
        s->out_tail = c;
        t = c;
    }
    memcpy(t->data + t->fill, elem, s->elem);
    t->fill += s->elem;
    s->out_queued++;
    /* a descriptor goes as its HEAD and its payload (D1) */
    s->out_unsent += s->desc ? KC_MUX_HEAD_SIZE + ((const kc_zdesc_t *)elem)->len : s->elem;
    kc__mux_activate(s->mux, s);
    return 0;
}

/* Account one element taken from the inbox (E2): its credit. A
 * descriptor's connection bytes came back when its payload was complete
 * in the arena (D3); its credit waits for a reserved buffer (D2). */
static void consumed(struct kc_mux_stream *s, bool now)
{
    struct kc_mux *m = s->mux;
    s->in_taken++;
    if (s->desc)
        kc__mux_pool_fill(s); /* short when the arena is full: credit waits */
    else
        kc__mux_conn_taken(m, s->elem);
    kc__mux_grant(m, s, now);
}

/* Exporter: an element a peer sent will never enter ch: count it, show it
 * to the export's callback (BORROWED for the call; a descriptor as a view
 * without KC_ZDESC_OWNED) and release a descriptor's payload. */
static void export_lost(struct kc_mux_stream *s, void *elem)
{
    const kc_mux_export_opts_t *o = s->exp != NULL ? &s->exp->opts : NULL;
    s->mux->st.undelivered++;
    if (!s->desc) {
        if (o != NULL && o->on_undelivered)
            o->on_undelivered(elem, s->elem, o->undelivered_arg);
        return;
    }
    kc_zdesc_t d;
    memcpy(&d, elem, sizeof d);
    if (o != NULL && o->on_undelivered) {
        kc_zdesc_t view = d;
        view.flags &= (uint16_t)~KC_ZDESC_OWNED;
        o->on_undelivered(&view, sizeof view, o->undelivered_arg);
    }
    kc_zdesc_release(&d, s->arena);
}

bool kc__mux_take(struct kc_mux_stream *s, void *out)
{
    struct kc_mux_inbuf *b = s->in_head;
    if (b == NULL)
        return false;
    memcpy(out, b->buf + b->off, s->elem);
    b->off += s->elem;
    s->mux->rx_held -= s->elem;
    if (b->off == b->len) {
        if ((s->in_head = b->next) == NULL)
            s->in_tail = NULL;
        free(b->buf);
        free(b);
    }
    return true;
}

static void inbox_put(struct kc_mux_stream *s, uint8_t *buf, uint32_t off0, uint32_t len)
{
    struct kc_mux *m = s->mux;
    struct kc_mux_inbuf *b = malloc(sizeof *b);
    if (b == NULL) { /* keep the promise of the credit: no element lost silently */
        for (uint32_t off = off0; off < len; off += s->elem) {
            if (s->exporter)
                export_lost(s, buf + off);
            else if (s->ch != NULL)
                kc__chan_remote_undelivered(s->ch, buf + off);
            else if (s->desc)
                kc_zdesc_release((kc_zdesc_t *)(void *)(buf + off), s->arena);
            s->in_taken++;
        }
        if (!s->desc)
            kc__mux_conn_taken(m, len - off0);
        free(buf);
        return;
    }
    b->next = NULL;
    b->buf = buf;
    b->off = off0;
    b->len = len;
    if (s->in_tail)
        s->in_tail->next = b;
    else
        s->in_head = b;
    s->in_tail = b;
    m->rx_held += len - off0;
    if (m->rx_held > m->rx_peak)
        m->rx_peak = m->rx_held;
    kc__mux_wake(&s->recv_waiters);
}

/* ------------------------------------------------------------ descriptors
 *
 * A descriptor stream moves payloads that live in arenas, with no copy in
 * the channel layer on the sending side:
 *   D1 a descriptor goes as one HEAD frame (8 bytes: the payload's
 *      length, KC_FRAME_F_MORE) and BODY frames of at most max_frame bytes
 *      gathered by tx straight from the sender's arena (the iovec points at
 *      the payload); each BODY frame holds its own reference on the payload
 *      until tx says it was written (sent()), the queue's reference goes
 *      when the last BODY frame is handed to tx, so a stream that dies
 *      with a frame in flight never frees what tx is writing;
 *   D2 every element of credit the receiver grants is backed by a buffer of
 *      max_desc bytes reserved in its arena beforehand (the pool): a HEAD
 *      takes one and shrinks it to the announced length (kc_arena_shrink),
 *      BODY bytes land in it, so an arriving payload never needs memory
 *      that was not reserved; when the arena cannot refill the pool the
 *      credit waits (nothing is lost, the sender waits for credit);
 *   D3 a payload's connection bytes (HEAD and BODY) come back once it is
 *      complete in the arena: the connection window bounds what the layer
 *      holds, the pool what the arena holds;
 *   D4 a complete payload is an OWNED descriptor of the receiver's arena,
 *      delivered as an element; one never received goes to the undelivered
 *      account (callback as a view, then released), so no ticket outlives
 *      the stream on either side.
 * The transport reads a BODY frame into its own buffer and the bytes are
 * copied once into the reserved payload (D2); the copy into the arena is
 * the only one on the receiving side. */

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* rx: a HEAD or BODY frame of descriptor stream s (p GIVEN, its bytes at
 * p + base). Under lock. */
static int on_desc(struct kc_mux_stream *s, const kc_frame_hdr_t *h, uint8_t *p, uint32_t base)
{
    struct kc_mux *m = s->mux;
    bool more = (h->flags & KC_FRAME_F_MORE) != 0;
    if (h->id != (uint32_t)s->in_seq || h->len == 0 ||
        (s->peer_closed && s->in_seq + 1 > s->peer_final) || s->in_seq + 1 > s->granted) {
        free(p);
        return -EPROTO; /* a gap, a duplicate, beyond CLOSE or beyond the credit */
    }
    if (s->din_total == 0) { /* a HEAD */
        uint64_t len = h->len == KC_MUX_HEAD_SIZE ? get_be64(p + base) : 0;
        free(p);
        if (!more || len == 0 || len > s->max_desc || s->pool_n == 0)
            return -EPROTO; /* the pool backs every credit (D2): empty means beyond it */
        kc_arena_ticket_t t = s->pool[--s->pool_n];
        void *ptr = NULL;
        if (kc_arena_shrink(s->arena, &t, (size_t)len) < 0 ||
            kc_arena_validate(s->arena, t, &ptr, NULL) < 0) {
            kc_arena_release(s->arena, t);
            return -ENOMEM; /* cannot happen to a buffer we hold alone */
        }
        s->din_t = t;
        s->din_ptr = ptr;
        s->din_total = (uint32_t)len;
        s->din_got = 0;
        return 0;
    }
    uint32_t n = h->len;
    if (n > s->din_total - s->din_got || more != (s->din_got + n < s->din_total)) {
        free(p);
        return -EPROTO;
    }
    memcpy(s->din_ptr + s->din_got, p + base, n);
    free(p);
    s->din_got += n;
    if (more)
        return 0;
    kc_zdesc_t d;
    int rc = kc_zdesc_from_ticket(&d, s->arena, s->din_t, 0);
    uint32_t wire = KC_MUX_HEAD_SIZE + s->din_total;
    if (rc < 0) { /* D4: never a ticket lost */
        kc_arena_release(s->arena, s->din_t);
        s->din_total = 0;
        return rc;
    }
    s->din_total = s->din_got = 0;
    s->din_ptr = NULL;
    s->in_seq++;
    m->st.elems_in++;
    kc__mux_conn_taken(m, wire); /* D3 */
    if (s->exporter && !s->rendezvous && s->in_head == NULL && !s->pump_busy &&
        kc_chan_try_send_desc(s->ch, &d) == 0) {
        consumed(s, false); /* straight into the exported channel, in order */
        m->st.direct++;
        if (s->peer_closed)
            kc__mux_wake(&s->recv_waiters);
        return 0;
    }
    uint8_t *box = malloc(sizeof d);
    if (box != NULL)
        memcpy(box, &d, sizeof d);
    else { /* D4: counted and released, never silent */
        s->in_taken++;
        if (s->exporter)
            export_lost(s, &d);
        else if (s->ch != NULL)
            kc__chan_remote_undelivered(s->ch, &d);
        else
            kc_zdesc_release(&d, s->arena);
        return 0;
    }
    inbox_put(s, box, 0, sizeof d);
    return 0;
}

int kc__mux_on_data(struct kc_mux_stream *s, const kc_frame_hdr_t *h, uint8_t *p, uint32_t base)
{
    struct kc_mux *m = s->mux;
    if (s->desc)
        return on_desc(s, h, p, base);
    uint32_t n = s->elem > m->max_frame ? 1 : h->len / s->elem;
    if (h->id != (uint32_t)s->in_seq || h->len == 0 ||
        (s->peer_closed && s->in_seq + n > s->peer_final)) {
        free(p);
        return -EPROTO; /* a gap, a duplicate, or more than CLOSE counted (CLOSE
                           goes on the control lane and may overtake data) */
    }
    if (s->elem > m->max_frame) { /* fragments of one element */
        bool more = (h->flags & KC_FRAME_F_MORE) != 0;
        if (h->len > s->elem - s->reasm_len || (!more && s->reasm_len + h->len != s->elem) ||
            s->in_seq + 1 > s->granted) {
            free(p);
            return -EPROTO;
        }
        if (s->reasm == NULL && (s->reasm = malloc(s->elem)) == NULL) {
            free(p);
            return -ENOMEM;
        }
        memcpy(s->reasm + s->reasm_len, p + base, h->len);
        s->reasm_len += h->len;
        free(p);
        if (more)
            return 0;
        uint8_t *whole = s->reasm;
        s->reasm = NULL;
        s->reasm_len = 0;
        s->in_seq++;
        m->st.elems_in++;
        inbox_put(s, whole, 0, s->elem);
        return 0;
    }
    if ((h->flags & KC_FRAME_F_MORE) || h->len % s->elem != 0 || s->in_seq + n > s->granted) {
        free(p);
        return -EPROTO; /* M3: beyond the credit we gave */
    }
    s->in_seq += n;
    m->st.elems_in += n;
    uint32_t off = base, end = base + h->len;
    if (s->exporter && !s->rendezvous && s->in_head == NULL && !s->pump_busy) {
        /* Straight into the exported channel while it has room, in
         * arrival order (nothing older waits in the inbox or the pump):
         * no task switch per element, and a frame is handled when it is
         * read, as a single-threaded event loop would. The rest waits in
         * the inbox for the pump. */
        while (off < end && kc_chan_try_send(s->ch, p + off) == 0) {
            off += s->elem;
            consumed(s, false);
        }
        m->st.direct += (off - base) / s->elem;
        if (s->peer_closed)
            kc__mux_wake(&s->recv_waiters); /* the pump closes ch after the last */
        if (off == end) {
            free(p);
            return 0;
        }
    }
    inbox_put(s, p, off, end);
    return 0;
}

/* Leftovers of a stream that ends: every element queued or arrived and
 * not taken goes to its undelivered account (E1). Under lock. */
void kc__mux_drain(struct kc_mux_stream *s)
{
    struct kc_mux *m = s->mux;
    uint8_t *tmp = malloc(s->elem ? s->elem : 1);
    if (tmp == NULL)
        return; /* freed with the stream, counted as dropped */
    while (kc__mux_take(s, tmp)) {
        s->in_taken++;
        if (!s->desc)
            kc__mux_conn_taken(m, s->elem);
        if (s->exporter)
            export_lost(s, tmp);
        else if (s->ch != NULL)
            kc__chan_remote_undelivered(s->ch, tmp);
        else if (s->desc)
            kc_zdesc_release((kc_zdesc_t *)(void *)tmp, s->arena);
    }
    /* our sends that never left: not delivered (importer: its callback) */
    for (struct kc_mux_chunk *c = s->out_head; c; c = c->next) {
        uint32_t from = c->sent;
        if (s->out_frag) { /* a fragmented element half sent: it is lost as a whole */
            from = c->sent - s->out_frag;
            s->out_frag = 0;
        }
        if (s->desc)
            from = c->sent; /* D1: a half-sent payload's queue reference is still here */
        for (uint32_t off = from; off + s->elem <= c->fill; off += s->elem) {
            if (!s->exporter && s->ch != NULL && !(s->desc && s->rendezvous))
                kc__chan_remote_undelivered(s->ch, c->data + off);
            else if (s->exporter)
                m->st.undelivered++; /* taken from the channel, never sent */
            if (s->desc && (s->exporter || s->ch == NULL || s->rendezvous))
                kc_zdesc_release((kc_zdesc_t *)(void *)(c->data + off), s->arena);
        }
        c->sent = c->fill;
    }
    s->out_unsent = 0;
    free(tmp);
}

void kc__mux_stream_kill(struct kc_mux_stream *s, int rc)
{
    if (s->state == ST_DEAD)
        return;
    struct kc_mux *m = s->mux;
    s->state = ST_DEAD;
    s->dead_rc = rc;
    if (s->exporter)
        kc__mux_drain(s); /* an importer's proxy drains at destroy (receivers read first) */
    if (s->desc) {        /* reserved buffers and a payload half arrived (D2, D3) */
        if (s->din_total > 0)
            kc__mux_conn_taken(m, KC_MUX_HEAD_SIZE + s->din_got);
        kc__mux_pool_free(s);
    }
    if (s->reasm != NULL) { /* part of an element: its bytes go back to the connection */
        kc__mux_conn_taken(m, s->reasm_len);
        free(s->reasm);
        s->reasm = NULL;
        s->reasm_len = 0;
    }
    kc__mux_deactivate(m, s);
    if (s->life != NULL)
        kc_cancel_trigger(s->life); /* the exporter's pumps end */
    if (!s->exporter && s->ch != NULL)
        kc__chan_remote_closed(s->ch, rc);
    kc__mux_wake(&s->send_waiters);
    kc__mux_wake(&s->recv_waiters);
    kc__mux_wake(&s->verdict_waiters);
    kc__mux_wake(&m->open_waiters);
}

/* ------------------------------------------------------------ exporter pumps */

static int inbound_pump(void *arg)
{
    struct kc_mux_stream *s = arg;
    struct kc_mux *m = s->mux;
    uint8_t *buf = malloc(s->elem);
    pthread_mutex_lock(&m->lock);
    while (buf != NULL && s->state == ST_OPEN) {
        if (!kc__mux_take(s, buf)) {
            if (s->peer_closed && s->in_taken == s->peer_final) {
                /* the importer closed: after its last element, close ch */
                pthread_mutex_unlock(&m->lock);
                kc_chan_close(s->ch);
                pthread_mutex_lock(&m->lock);
                break;
            }
            int64_t tmo = KC_NO_TIMEOUT;
            if (s->desc && s->pool_n < s->pool_cap) {
                /* D2: the arena could not back the window; try again while
                 * it stays short (1 ms), the credit follows the buffers */
                kc__mux_pool_fill(s);
                kc__mux_grant(m, s, true);
                tmo = s->pool_n < s->pool_cap ? 1000000 : KC_NO_TIMEOUT;
            }
            kc__mux_wait(m, &s->recv_waiters, tmo, s->life);
            continue;
        }
        uint64_t seq = s->in_taken;
        kc_cancel_t *tok = NULL;
        if (s->rendezvous && s->cancel_upto <= seq && kc_cancel_create(&tok, s->life) == 0) {
            s->pump_seq = seq;
            s->pump_cancel = tok;
        }
        bool withdrawn = s->rendezvous && s->cancel_upto > seq;
        s->pump_busy = true; /* rx must not deliver past the element we hold */
        pthread_mutex_unlock(&m->lock);
        int rc = withdrawn ? -ECANCELED
                 : s->desc ? kc_chan_send_desc(s->ch, (const kc_zdesc_t *)(void *)buf,
                                               KC_NO_TIMEOUT, tok ? tok : s->life)
                           : kc_chan_send(s->ch, buf, KC_NO_TIMEOUT, tok ? tok : s->life);
        pthread_mutex_lock(&m->lock);
        s->pump_busy = false;
        if (tok != NULL) {
            s->pump_cancel = NULL;
            kc_cancel_destroy(tok);
        }
        /* Not delivered. A rendezvous element's verdict tells its sender,
         * whose send then fails, so it was never sent; the stream's end
         * (no verdict goes out) leaves it undelivered like a buffered one. */
        if (rc != 0 && (!s->rendezvous || s->state != ST_OPEN))
            export_lost(s, buf);
        else if (rc != 0 && s->desc) /* its sender keeps its own (the verdict) */
            kc_zdesc_release((kc_zdesc_t *)(void *)buf, s->arena);
        if (rc == -EPIPE && !s->close_sent) { /* ch closed: tell the importer */
            kc_mux_ctl_t msg = {KC_MUX_CLOSE, 0, 0, 0, s->out_queued};
            s->close_sent = kc__mux_ctl(m, s, &msg, 0, NULL) == 0;
            s->local_closed = true;
        }
        if (s->rendezvous && s->state == ST_OPEN) {
            kc_mux_ctl_t v = {KC_MUX_VERDICT,
                              (uint8_t)(rc == 0            ? KC_MUX_V_DELIVERED
                                        : rc == -ECANCELED ? KC_MUX_V_WITHDRAWN
                                                           : KC_MUX_V_CLOSED),
                              0, 0, 0};
            kc__mux_ctl(m, s, &v, (uint32_t)seq, NULL);
        }
        /* E2: its credit, whatever became of it; when the stream ends here
         * the stream's grant goes nowhere, but the connection's bytes must
         * come back (a reset stream must not leak the connection window) */
        consumed(s, false);
        if (rc == -ECANCELED && (s->life == NULL || kc_cancel_is_triggered(s->life)))
            break; /* the stream ends */
    }
    free(buf);
    /* the pump's reference; when it is the last of the last stream after
     * the connection let go, the mux goes with it (already unlocked) */
    if (!kc__mux_stream_unref(s))
        pthread_mutex_unlock(&m->lock);
    return 0;
}

static int outbound_pump(void *arg)
{
    struct kc_mux_stream *s = arg;
    struct kc_mux *m = s->mux;
    uint8_t *buf = malloc(s->elem);
    pthread_mutex_lock(&m->lock);
    while (buf != NULL && s->state == ST_OPEN && !s->local_closed) {
        if (s->out_queued >= s->peer_limit) {
            kc__mux_wait(m, &s->send_waiters, KC_NO_TIMEOUT, s->life);
            continue;
        }
        pthread_mutex_unlock(&m->lock);
        int rc = s->desc
                     ? kc_chan_recv_desc(s->ch, (kc_zdesc_t *)(void *)buf, KC_NO_TIMEOUT, s->life)
                     : kc_chan_recv(s->ch, buf, KC_NO_TIMEOUT, s->life);
        pthread_mutex_lock(&m->lock);
        if (rc == 0 && s->state == ST_OPEN) {
            if (kc__mux_enqueue(s, buf) < 0) {
                m->st.undelivered++; /* out of memory: counted, never silent */
                if (s->desc)
                    kc_zdesc_release((kc_zdesc_t *)(void *)buf, s->arena);
            }
            continue;
        }
        if (rc == 0)
            export_lost(s, buf); /* taken while the stream ended */
        break;
    }
    /* No more elements from us (ch closed and drained, or the importer
     * closed its side): say how many there were, so its receivers drain
     * and then read -EPIPE. */
    if (!s->close_sent && s->state == ST_OPEN) {
        kc_mux_ctl_t msg = {KC_MUX_CLOSE, 0, 0, 0, s->out_queued};
        s->close_sent = kc__mux_ctl(m, s, &msg, 0, NULL) == 0;
        s->local_closed = true;
    }
    free(buf);
    if (!kc__mux_stream_unref(s)) /* true: the mux went too (unlocked) */
        pthread_mutex_unlock(&m->lock);
    return 0;
}

static int spawn_pump(struct kc_mux_stream *s, kc_coro_fn_t fn, const char *name)
{
    kc_spawn_attr_t a = KC_SPAWN_ATTR_INIT;
    a.name = name;
    s->refs++;
    int rc = kc_sched_spawn(s->mux->sched, NULL, fn, s, &a); /* detached */
    if (rc < 0)
        s->refs--;
    return rc;
}

void kc__mux_start_outbound(struct kc_mux_stream *s)
{
    s->outbound_started = true;
    if (spawn_pump(s, outbound_pump, "mux-out") < 0)
        kc__mux_stream_kill(s, -ENOMEM);
}

void kc__mux_on_cancel(struct kc_mux_stream *s, uint64_t seq)
{
    if (seq + 1 > s->cancel_upto)
        s->cancel_upto = seq + 1; /* withdraws it if the pump has not started it */
    if (s->pump_cancel != NULL && s->pump_seq == seq)
        kc_cancel_trigger(s->pump_cancel);
}

void kc__mux_on_open(struct kc_mux *m, uint32_t id, const uint8_t *name, size_t len)
{
    struct kc_mux_export *e = m->exports;
    while (e && !(strlen(e->name) == len && memcmp(e->name, name, len) == 0))
        e = e->next;
    kc_mux_ctl_t msg = {KC_MUX_OPEN_ERR, KC_MUX_ERR_NOENT, 0, 0, 0};
    struct kc_mux_stream *s = NULL;
    if (e != NULL) {
        s = kc__mux_stream_new(m, id, true);
        msg.a = KC_MUX_ERR_NOMEM;
    }
    if (s != NULL && kc_cancel_create(&s->life, NULL) < 0) {
        kc__mux_unmap(m, s);
        kc__mux_stream_unref(s);
        s = NULL;
    }
    if (s == NULL) {
        /* answer on a throwaway stream id: the importer's, from us */
        struct kc_mux_stream tmp = {.id = id, .exporter = true};
        kc__mux_ctl(m, &tmp, &msg, 0, NULL);
        return;
    }
    kc_chan_snapshot_t snap = KC_CHAN_SNAPSHOT_INIT;
    kc_chan_snapshot(e->ch, &snap);
    s->exp = e;
    s->ch = e->ch;
    s->kind = (uint8_t)snap.kind;
    s->rendezvous = snap.kind == KC_CHAN_RENDEZVOUS;
    s->elem = (uint32_t)kc_chan_elem_size(e->ch);
    s->capacity = kc_chan_capacity(e->ch);
    uint64_t w = e->opts.window ? e->opts.window : s->capacity;
    if (s->rendezvous || w == 0)
        w = 1;
    if (w > (1u << 20))
        w = 1u << 20; /* unlimited channels: the connection window bounds it */
    uint64_t cap = s->capacity > UINT32_MAX ? UINT32_MAX : s->capacity;
    if (s->elem == 0) { /* descriptors: a pool of the window's buffers (D2) */
        size_t max = 0;
        s->arena = kc__chan_arena_of(e->ch, &max);
        s->desc = true;
        s->elem = sizeof(kc_zdesc_t);
        s->max_desc = (uint32_t)max; /* export checked 0 < max <= UINT32_MAX */
        if (w > KC_MUX_DESC_WINDOW)
            w = KC_MUX_DESC_WINDOW;
        s->pool_cap = (uint32_t)w;
        if (kc__mux_pool_fill(s) < 0) { /* the exporter's arena cannot back the window */
            kc__mux_pool_free(s);
            kc__mux_unmap(m, s);
            kc__mux_stream_unref(s);
            struct kc_mux_stream tmp = {.id = id, .exporter = true};
            kc_mux_ctl_t err = {KC_MUX_OPEN_ERR, KC_MUX_ERR_NOMEM, 0, 0, 0};
            kc__mux_ctl(m, &tmp, &err, 0, NULL);
            return;
        }
        cap = (uint64_t)s->max_desc << 32 | (cap > UINT32_MAX ? UINT32_MAX : cap);
    }
    s->window = (uint32_t)w;
    s->state = ST_OPEN;
    e->streams++;
    msg = (kc_mux_ctl_t){KC_MUX_OPEN_OK, s->kind, 0, s->desc ? 0 : s->elem, cap};
    kc__mux_ctl(m, s, &msg, 0, NULL);
    kc__mux_grant(m, s, true);
    if (spawn_pump(s, inbound_pump, "mux-in") < 0)
        kc__mux_stream_kill(s, -ENOMEM);
}

/* ------------------------------------------------------------ the proxy */

static int proxy_send(void *impl, const void *elem, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    struct kc_mux_stream *s = impl;
    struct kc_mux *m = s->mux;
    timeout_ns = kc__timeout_norm(timeout_ns);
    int64_t deadline = kc__deadline_after(timeout_ns);
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    s->inside++;
    for (;;) {
        if (s->state == ST_DEAD) {
            rc = s->dead_rc;
            goto out;
        }
        if (s->local_closed) {
            rc = -EPIPE;
            goto out;
        }
        if (s->out_queued < s->peer_limit)
            break;
        if (timeout_ns == 0) {
            rc = -EAGAIN;
            goto out;
        }
        int64_t left = kc__deadline_left(deadline);
        if (left == 0) {
            rc = -ETIME;
            goto out;
        }
        rc = kc__mux_wait(m, &s->send_waiters, left, cancel);
        if (rc == -ECANCELED || rc == -ETIME)
            if (!(s->out_queued < s->peer_limit && s->state == ST_OPEN && !s->local_closed))
                goto out;
        rc = 0;
    }
    uint64_t seq = s->out_queued;
    kc_zdesc_t wire;
    const void *q = elem;
    if (s->desc && s->rendezvous) {
        /* the wire holds its own reference; the caller's moves only when
         * the verdict says delivered (a failed send leaves it with them) */
        if ((rc = kc_zdesc_retain(elem, s->arena, &wire)) < 0)
            goto out;
        q = &wire;
    }
    if ((rc = kc__mux_enqueue(s, q)) < 0) {
        if (q == &wire)
            kc_zdesc_release(&wire, s->arena);
        goto out;
    }
    if (s->rendezvous) {
        /* wait for the verdict; our timeout or cancel asks to withdraw */
        int why = 0;
        while (s->verdict_seq <= seq && s->state != ST_DEAD) {
            int64_t left = kc__deadline_left(deadline);
            if (why == 0 && timeout_ns != 0 && left == 0)
                why = -ETIME;
            if (why == 0 && timeout_ns == 0)
                why = -EAGAIN; /* a try: a receiver must be waiting now */
            if (why == 0) {
                int prc = kc__mux_wait(m, &s->verdict_waiters, left, cancel);
                if (prc == -ECANCELED || prc == -ETIME)
                    why = prc;
                continue;
            }
            if (!s->cancel_sent) {
                kc_mux_ctl_t msg = {KC_MUX_CANCEL, 0, 0, 0, 0};
                s->cancel_sent = kc__mux_ctl(m, s, &msg, (uint32_t)seq, NULL) == 0;
                m->st.cancels_out += s->cancel_sent;
            }
            kc__mux_wait(m, &s->verdict_waiters, KC_NO_TIMEOUT, NULL);
        }
        s->cancel_sent = false;
        if (s->verdict_seq <= seq)
            rc = s->dead_rc; /* the connection ended first: not known */
        else if (s->verdict_code == KC_MUX_V_DELIVERED)
            rc = 0;
        else if (s->verdict_code == KC_MUX_V_CLOSED)
            rc = -EPIPE;
        else
            rc = why ? why : -ECANCELED;
        if (rc == 0 && s->desc) { /* delivered: the caller's reference is moved */
            kc_zdesc_t own = *(const kc_zdesc_t *)elem;
            kc_zdesc_release(&own, s->arena);
        }
    }
out:
    s->inside--;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int proxy_recv(void *impl, void *out, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    struct kc_mux_stream *s = impl;
    struct kc_mux *m = s->mux;
    timeout_ns = kc__timeout_norm(timeout_ns);
    int64_t deadline = kc__deadline_after(timeout_ns);
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    s->inside++;
    if (!s->recv_started) {
        s->recv_started = true; /* from now on the exporter sends ahead */
        if (s->desc)
            kc__mux_pool_fill(s); /* D2: the credit's buffers */
        kc__mux_grant(m, s, true);
    }
    for (;;) {
        if (kc__mux_take(s, out)) {
            consumed(s, false);
            break;
        }
        if (s->desc && s->pool_n < s->pool_cap && s->state == ST_OPEN) {
            kc__mux_pool_fill(s); /* the arena may have room again */
            kc__mux_grant(m, s, true);
        }
        if (s->desc && s->state == ST_OPEN && !s->peer_closed && s->pool_n == 0 &&
            s->din_total == 0 && s->granted <= s->in_seq) {
            rc = -ENOMEM; /* nothing reserved, so nothing can come: the arena is full */
            break;
        }
        if (s->state == ST_DEAD) {
            rc = s->dead_rc;
            break;
        }
        if (s->peer_closed && s->in_seq >= s->peer_final) {
            rc = -EPIPE;
            break;
        }
        if (timeout_ns == 0) {
            rc = -EAGAIN;
            break;
        }
        int64_t left = kc__deadline_left(deadline);
        if (left == 0) {
            rc = -ETIME;
            break;
        }
        if (s->rendezvous) {
            s->waiting_recv++; /* one element of credit per waiting receiver */
            kc__mux_grant(m, s, true);
        }
        int prc = kc__mux_wait(m, &s->recv_waiters, left, cancel);
        if (s->rendezvous)
            s->waiting_recv--;
        if ((prc == -ECANCELED || prc == -ETIME) && s->in_head == NULL) {
            rc = prc;
            break;
        }
    }
    s->inside--;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static void proxy_close(void *impl, int reason)
{
    (void)reason;
    struct kc_mux_stream *s = impl;
    struct kc_mux *m = s->mux;
    pthread_mutex_lock(&m->lock);
    s->local_closed = true;
    if (s->state == ST_OPEN && !s->close_sent) {
        kc_mux_ctl_t msg = {KC_MUX_CLOSE, 0, 0, 0, s->out_queued};
        s->close_sent = kc__mux_ctl(m, s, &msg, 0, NULL) == 0;
    }
    kc__mux_wake(&s->send_waiters);
    kc__mux_wake(&s->recv_waiters);
    pthread_mutex_unlock(&m->lock);
}

static size_t proxy_len(void *impl)
{
    struct kc_mux_stream *s = impl;
    pthread_mutex_lock(&s->mux->lock);
    size_t n = (size_t)(s->in_seq - s->in_taken);
    pthread_mutex_unlock(&s->mux->lock);
    return n;
}

static int proxy_destroy(void *impl)
{
    struct kc_mux_stream *s = impl;
    struct kc_mux *m = s->mux;
    pthread_mutex_lock(&m->lock);
    if (s->inside != 0) {
        pthread_mutex_unlock(&m->lock);
        return -EBUSY;
    }
    if (s->reg != NULL) { /* unlisted without the lock (registry, then mux) */
        struct kc_mux_reg *r = s->reg;
        s->reg = NULL;
        pthread_mutex_unlock(&m->lock);
        kc__mux_reg_end(r);
        pthread_mutex_lock(&m->lock);
    }
    if (s->state == ST_OPEN) {
        kc_mux_ctl_t msg = {KC_MUX_RESET, 0, 0, 0, 0};
        kc__mux_ctl(m, s, &msg, 0, NULL);
    }
    kc__mux_drain(s);
    kc__mux_stream_kill(s, -ECONNRESET);
    s->ch = NULL;
    if (m->conn != NULL)
        kc__mux_unmap(m, s);
    bool mapped = m->conn != NULL;
    /* the proxy's reference, and the map's (on_free dropped it already
     * when the connection's memory went) */
    bool gone = kc__mux_stream_unref(s);
    if (!gone && mapped)
        gone = kc__mux_stream_unref(s);
    if (!gone)
        pthread_mutex_unlock(&m->lock);
    return 0;
}

const kc__chan_remote_ops_t kc__mux_proxy_ops = {proxy_send, proxy_recv, proxy_close, proxy_len,
                                                 proxy_destroy};
