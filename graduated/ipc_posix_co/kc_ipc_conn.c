/* kc_ipc_conn.c - connections: HELLO, the rx and tx coroutines, the tx
 * queue, keep-alive, GOAWAY and the end of a connection.
 *
 * A connection owns one transport endpoint. `rx` is its only reader: it
 * reassembles fragmented messages (the total checked against the
 * negotiated max message before each growth), answers PING, and hands
 * requests, replies and cancels to the connection's message layer (the
 * table kc__ipc_start was given: kc_rpc.c's); it never waits for anything
 * but the link, so a slow consumer cannot stall it. `tx` is its only
 * writer: it takes control items first (PING, PONG, CANCEL, GOAWAY,
 * refusals), then data items (requests, replies), and cuts each message
 * into frames of at most max_frame bytes, sent back to back. The state
 * machine is drawn in kcoro/ipc.h; invariants in kc_ipc_impl.h.
 */
#include "kc_ipc_impl.h"

#include "kcoro/io.h"

#include "base/kc_debug.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    CTL_MAX = 256
};
static const int64_t DEF_PING_NS = 5000000000;
static const int64_t DEF_HELLO_NS = 5000000000;
static const size_t DEF_TXQ = 1u << 20;

void kc__ipc_ref(kc_ipc_conn_t *c)
{
    /* relaxed: a new reference is taken from an existing one. */
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

static void free_items(struct kc_ipc_txitem *i)
{
    while (i) {
        struct kc_ipc_txitem *n = i->next;
        free(i);
        i = n;
    }
}

void kc__ipc_unref(kc_ipc_conn_t *c)
{
    /* acq_rel: every owner's writes happen before the last one frees. */
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    kc__ipc_unregister(c); /* a start that failed after registering */
    if (c->layer != NULL)
        c->layer->on_free(c->layer_arg);
    if (c->attached_fd >= 0)
        kc_io_detach(c->sched, c->attached_fd);
    free_items(c->ctl_head);
    free_items(c->data_head);
    free_items(c->spare);
    kc__idmap_free(&c->awaiters);
    kc__idmap_free(&c->handlers);
    kc_transport_close(c->tp);
    kc_cancel_destroy(c->life);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void kc__ipc_wake_state(kc_ipc_conn_t *c)
{
    for (struct kc_ipc_spacewait *w = c->state_waiters; w; w = w->next)
        kc_unpark(w->p);
    c->state_waiters = NULL;
}

static void wake_space(kc_ipc_conn_t *c)
{
    for (struct kc_ipc_spacewait *w = c->space_waiters; w; w = w->next)
        kc_unpark(w->p);
    c->space_waiters = NULL;
}

/* Park on a waiter list (lock held on entry and return). */
static int list_wait(kc_ipc_conn_t *c, struct kc_ipc_spacewait **list, int64_t left,
                     const kc_cancel_t *cancel)
{
    kc_parker_t pk;
    kc_parker_init(&pk);
    struct kc_ipc_spacewait w = {*list, &pk};
    /* cppcheck-suppress autoVariables ; unlinked below before w goes away */
    *list = &w;
    pthread_mutex_unlock(&c->lock);
    int rc = kc_park(&pk, left, cancel);
    pthread_mutex_lock(&c->lock);
    /* Still listed (timeout, cancel): unlink. A waker empties the whole
     * list and unparks under the lock, so once we hold it no unpark of pk
     * is pending. */
    for (struct kc_ipc_spacewait **pp = list; *pp; pp = &(*pp)->next) {
        if (*pp == &w) {
            *pp = w.next;
            break;
        }
    }
    return rc;
}

void kc__ipc_die(kc_ipc_conn_t *c, int rc)
{
    pthread_mutex_lock(&c->lock);
    if (c->state == IPC_DEAD) {
        pthread_mutex_unlock(&c->lock);
        return;
    }
    c->state = IPC_DEAD;
    c->dead_rc = rc;
    c->msg->resolve_all(c, rc);
    if (c->tx_waiter) {
        kc_unpark(c->tx_waiter);
        c->tx_waiter = NULL;
    }
    wake_space(c);
    kc__ipc_wake_state(c);
    const kc__ipc_layer_ops_t *layer = c->layer;
    pthread_mutex_unlock(&c->lock);
    kc_cancel_trigger(c->life); /* rx, tx and every handler's token */
    if (layer != NULL)
        layer->on_dead(c->layer_arg, rc);
}

int kc__ipc_layer_attach(kc_ipc_conn_t *c, const kc__ipc_layer_ops_t *ops, void *arg, void **cur)
{
    if (c == NULL || ops == NULL)
        return -EINVAL;
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    if (c->layer != NULL) {
        if (cur != NULL)
            *cur = c->layer_arg;
        rc = -EEXIST;
    } else if (c->state == IPC_DEAD) {
        rc = -EPIPE;
    } else {
        c->layer = ops;
        c->layer_arg = arg;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void kc__ipc_layer_kick(kc_ipc_conn_t *c)
{
    pthread_mutex_lock(&c->lock);
    c->layer_pending = true;
    if (c->tx_waiter) {
        kc_unpark(c->tx_waiter);
        c->tx_waiter = NULL;
    }
    if (c->drain != NULL) /* tx waits for the link to drain: the layer wants it now */
        kc_cancel_trigger(c->drain);
    pthread_mutex_unlock(&c->lock);
}

int kc__ipc_link_queued(kc_ipc_conn_t *c, uint32_t *queued, uint32_t *cap)
{
    int fd = kc_transport_poll_handle(c->tp);
    if (fd < 0 || strcmp(kc_transport_scheme(c->tp), "unix") != 0)
        return -ENOTSUP;
    return kc__port_sock_queued(fd, queued, cap) < 0 ? -ENOTSUP : 0;
}

kc_sched_t *kc__ipc_sched(const kc_ipc_conn_t *c)
{
    return c->sched;
}

uint32_t kc__ipc_max_frame(const kc_ipc_conn_t *c)
{
    return c->neg.max_frame;
}

int kc__ipc_enqueue(kc_ipc_conn_t *c, uint8_t type, uint32_t chan_id, uint32_t id,
                    const uint8_t *prefix, const void *payload, size_t len, bool ctl,
                    int64_t timeout_ns, const kc_cancel_t *cancel)
{
    size_t pre = prefix ? KC_RPC_PREFIX_SIZE : 0;
    bool small = pre + len <= KC_IPC_ITEM_SMALL;
    struct kc_ipc_txitem *it = NULL;
    if (!small && (it = malloc(sizeof *it + pre + len)) == NULL)
        return -ENOMEM;
    int64_t deadline = kc__tp_deadline(timeout_ns);
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    if (small) { /* a spare item, or (none left) a new one; filled under the lock */
        if ((it = c->spare) != NULL) {
            c->spare = it->next;
            c->spare_count--;
        } else if ((it = malloc(sizeof *it + KC_IPC_ITEM_SMALL)) == NULL) {
            pthread_mutex_unlock(&c->lock);
            return -ENOMEM;
        }
    }
    it->next = NULL;
    it->type = type;
    it->chan_id = chan_id;
    it->id = id;
    it->len = pre + len;
    it->counted = !ctl;
    it->small = small;
    if (pre)
        memcpy(it->data, prefix, pre);
    if (len)
        memcpy(it->data + pre, payload, len);
    for (;;) {
        if (c->state == IPC_DEAD) {
            rc = -EPIPE;
            break;
        }
        if (ctl) {
            if (c->ctl_count >= CTL_MAX) {
                rc = -EBUSY;
                break;
            }
            if (c->ctl_tail)
                c->ctl_tail->next = it;
            else
                c->ctl_head = it;
            c->ctl_tail = it;
            c->ctl_count++;
            it = NULL;
            break;
        }
        if (c->tx_bytes < c->tx_cap) { /* C2: admitted while below the cap */
            if (c->data_tail)
                c->data_tail->next = it;
            else
                c->data_head = it;
            c->data_tail = it;
            c->tx_bytes += it->len;
            it = NULL;
            break;
        }
        int64_t left = kc__tp_left(deadline);
        if (timeout_ns == 0 || (left == 0 && timeout_ns > 0)) {
            rc = timeout_ns == 0 ? -EAGAIN : -ETIME;
            break;
        }
        rc = list_wait(c, &c->space_waiters, left, cancel);
        if (rc < 0 && !(c->tx_bytes < c->tx_cap && c->state != IPC_DEAD))
            break;
        rc = 0;
    }
    if (it == NULL && c->tx_waiter) {
        kc_unpark(c->tx_waiter);
        c->tx_waiter = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    free(it);
    return rc;
}

/* The error a broken link gives the futures: -EPIPE after the peer said
 * GOAWAY (or we closed), -ECONNRESET otherwise; protocol errors as such. */
static int link_error(kc_ipc_conn_t *c, int rc)
{
    if (rc == -EPROTO || rc == -EMSGSIZE)
        return rc;
    pthread_mutex_lock(&c->lock);
    bool graceful = c->peer_goaway || c->closed_by_user;
    pthread_mutex_unlock(&c->lock);
    return graceful ? -EPIPE : -ECONNRESET;
}

/* Send the chain of items as frames of at most max_frame bytes (a message
 * larger than that as back-to-back fragments), up to
 * KC_TRANSPORT_BATCH_MAX frames per kc_transport_send_frames(): one
 * sendmsg for a queue of small messages. *frames counts the frames handed
 * to the link and *bytes their bytes, headers included. Its arrays live
 * only while tx sends (tx's own frame, which an idle connection keeps on
 * its stack, stays small). */
static int send_items(kc_ipc_conn_t *c, const struct kc_ipc_txitem *it, uint64_t *frames,
                      uint64_t *bytes)
{
    kc_frame_out_t f[KC_TRANSPORT_BATCH_MAX];
    struct iovec v[KC_TRANSPORT_BATCH_MAX];
    int nf = 0;
    uint64_t nb = 0; /* bytes of the frames not yet sent */
    for (; it != NULL; it = it->next) {
        size_t off = 0;
        do {
            size_t chunk = it->len - off;
            if (chunk > c->neg.max_frame)
                chunk = c->neg.max_frame;
            v[nf].iov_base = (void *)(uintptr_t)(it->data + off);
            v[nf].iov_len = chunk;
            f[nf].hdr = (kc_frame_hdr_t){
                KC_WIRE_VERSION, it->type, (uint16_t)(off + chunk < it->len ? KC_FRAME_F_MORE : 0),
                it->chan_id,     it->id,   (uint32_t)chunk};
            f[nf].iov = &v[nf];
            f[nf].iovcnt = chunk > 0 ? 1 : 0;
            off += chunk;
            nb += KC_FRAME_HDR_SIZE + chunk;
            if (++nf == KC_TRANSPORT_BATCH_MAX || (it->next == NULL && off >= it->len)) {
                int rc = kc_transport_send_frames(c->tp, f, nf, KC_NO_TIMEOUT, c->life);
                if (rc < 0)
                    return rc;
                *frames += (uint64_t)nf;
                *bytes += nb;
                nf = 0;
                nb = 0;
            }
        } while (off < it->len);
    }
    return 0;
}

/* Items tx takes off the queue at once (one batch of frames). */
enum {
    TX_BATCH = KC_TRANSPORT_BATCH_MAX
};

/* Unlink up to TX_BATCH items, control items first, as one chain
 * (lock held). */
static struct kc_ipc_txitem *take_items(kc_ipc_conn_t *c)
{
    struct kc_ipc_txitem *head = NULL, **tail = &head, *it;
    int n = 0;
    while (n < TX_BATCH && (it = c->ctl_head) != NULL) {
        if ((c->ctl_head = it->next) == NULL)
            c->ctl_tail = NULL;
        c->ctl_count--;
        *tail = it;
        tail = &it->next;
        n++;
    }
    bool data = false;
    while (n < TX_BATCH && (it = c->data_head) != NULL) {
        if ((c->data_head = it->next) == NULL)
            c->data_tail = NULL;
        c->tx_bytes -= it->len;
        *tail = it;
        tail = &it->next;
        n++;
        data = true;
    }
    *tail = NULL;
    if (data)
        wake_space(c);
    return head;
}

int kc__ipc_send_direct(kc_ipc_conn_t *c, uint8_t type, uint32_t chan_id, uint32_t id,
                        const uint8_t *prefix, const void *payload, size_t len, int64_t timeout_ns)
{
    size_t total = KC_RPC_PREFIX_SIZE + len;
    if (timeout_ns == 0 && !(c->whole && KC_FRAME_HDR_SIZE + total <= KC_TRANSPORT_WHOLE_MAX))
        return 1; /* a try once could cut the frame: queue it */
    pthread_mutex_lock(&c->lock);
    bool alone = type == KC_FRAME_REQUEST ? c->awaiters.count <= 1 : c->handlers.count <= 1;
    bool mine = c->state != IPC_DEAD && c->ctl_head == NULL && c->data_head == NULL &&
                !c->tx_busy && alone && total <= c->neg.max_frame;
    if (mine)
        c->tx_busy = true; /* the link's one writer until we are done */
    pthread_mutex_unlock(&c->lock);
    if (!mine)
        return 1;
    struct iovec v[2] = {{(void *)(uintptr_t)prefix, KC_RPC_PREFIX_SIZE},
                         {(void *)(uintptr_t)payload, len}};
    kc_frame_out_t f = {
        {KC_WIRE_VERSION, type, 0, chan_id, id, (uint32_t)total}, v, len > 0 ? 2 : 1};
    int rc = kc_transport_send_frames(c->tp, &f, 1, timeout_ns, c->life);
    if (rc == -EAGAIN && timeout_ns == 0)
        rc = 1; /* the link is full and nothing went out: queue it */
    pthread_mutex_lock(&c->lock);
    c->tx_busy = false;
    if (rc == 0) {
        c->frames_out++;
        c->bytes_out += KC_FRAME_HDR_SIZE + total;
        if (type == KC_FRAME_REPLY)
            c->replies_sent++;
    }
    if (c->tx_waiter != NULL && (c->ctl_head != NULL || c->data_head != NULL || c->layer_pending)) {
        kc_unpark(c->tx_waiter); /* queued meanwhile: tx's turn */
        c->tx_waiter = NULL;
    }
    kc__ipc_wake_state(c);
    pthread_mutex_unlock(&c->lock);
    if (rc < 0 && rc != -ECANCELED)
        kc__ipc_die(c, link_error(c, rc));
    return rc;
}

/* The layer holds its frames back until the link drained (pull said
 * -EAGAIN): wait until the link is writable again (a UNIX socket: at most
 * a quarter of its buffer queued) or the layer kicks (a frame that must
 * not wait), then ask it again. tx keeps the link meanwhile (tx_busy:
 * RPC messages queue instead of writing, and nobody else waits for the
 * socket's output). Holds the link on entry; gives it back. Returns 0 or
 * -ECANCELED (the connection ends). */
static int drain_wait(kc_ipc_conn_t *c)
{
    int fd = kc_transport_poll_handle(c->tp);
    kc_cancel_t *tok = NULL;
    int rc = fd >= 0 ? kc_cancel_create(&tok, c->life) : -ENOTSUP;
    pthread_mutex_lock(&c->lock);
    bool wait = rc == 0 && !c->layer_pending && c->state != IPC_DEAD; /* no kick since */
    c->drain = wait ? tok : NULL;
    pthread_mutex_unlock(&c->lock);
    if (wait)
        kc_io_wait(fd, KC_IO_OUT, KC_NO_TIMEOUT, tok); /* writable, kicked or the end */
    else if (rc < 0)
        kc_sched_yield(); /* no token (no memory): let the reader move meanwhile */
    pthread_mutex_lock(&c->lock);
    c->drain = NULL;
    c->tx_busy = false;
    c->layer_pending = true;
    pthread_mutex_unlock(&c->lock);
    if (tok != NULL)
        kc_cancel_destroy(tok);
    return kc_cancel_is_triggered(c->life) ? -ECANCELED : 0;
}

/* Send the channel layer's next frame, if it has one; ask it again next
 * round while it does (layer_pending). tx holds the link (tx_busy) on
 * entry; gives it back. Returns 0 or the link's error. */
static int layer_send(kc_ipc_conn_t *c)
{
    kc_frame_hdr_t h;
    struct iovec v[2] = {{NULL, 0}, {NULL, 0}};
    int n = c->layer->pull(c->layer_arg, &h, v);
    if (n == -EAGAIN)
        return drain_wait(c);
    if (n == 0) {
        pthread_mutex_lock(&c->lock);
        c->tx_busy = false;
        pthread_mutex_unlock(&c->lock);
        return 0;
    }
    h.version = KC_WIRE_VERSION;
    int rc = kc_transport_send_frame(c->tp, &h, v, n, KC_NO_TIMEOUT, c->life);
    c->layer->sent(c->layer_arg, rc);
    pthread_mutex_lock(&c->lock);
    c->tx_busy = false;
    if (rc == 0) {
        c->frames_out++;
        c->layer_pending = true;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static int tx_main(void *arg)
{
    kc_ipc_conn_t *c = arg;
    kc_parker_t pk;
    kc_parker_init(&pk);
    for (;;) {
        struct kc_ipc_txitem *batch = NULL;
        bool layer = false;
        pthread_mutex_lock(&c->lock);
        for (;;) {
            if (c->state == IPC_DEAD)
                break;
            /* A handler writing its reply itself may hold the link (it
             * wakes tx when items or layer frames wait); otherwise the
             * channel layer's frames and RPC batches take turns. */
            if (!c->tx_busy && c->layer_pending &&
                (c->layer_turn || (c->ctl_head == NULL && c->data_head == NULL))) {
                c->layer_pending = false;
                c->layer_turn = false;
                c->tx_busy = true;
                layer = true;
                break;
            }
            if (!c->tx_busy && (batch = take_items(c)) != NULL) {
                c->layer_turn = true;
                break;
            }
            kc__ipc_wake_state(c); /* idle: a draining shutdown may finish */
            c->tx_waiter = &pk;
            pthread_mutex_unlock(&c->lock);
            kc_park(&pk, KC_NO_TIMEOUT, c->life);
            /* Woken by the first item queued: let the coroutines that are
             * ready to run (the handlers a burst of requests spawned, a
             * caller sending more) queue theirs too, then send them all in
             * one batch. A woken coroutine runs next on its worker, so
             * without this yield every item would be its own sendmsg. */
            kc_sched_yield();
            pthread_mutex_lock(&c->lock);
            if (c->tx_waiter == &pk)
                c->tx_waiter = NULL;
        }
        if (layer) {
            pthread_mutex_unlock(&c->lock);
            int rc = layer_send(c);
            if (rc < 0) {
                if (rc != -ECANCELED)
                    kc__ipc_die(c, link_error(c, rc));
                break;
            }
            continue;
        }
        if (batch == NULL) {
            pthread_mutex_unlock(&c->lock);
            break;
        }
        c->tx_busy = true;
        pthread_mutex_unlock(&c->lock);
        uint64_t frames = 0, bytes = 0;
        int rc = send_items(c, batch, &frames, &bytes);
        pthread_mutex_lock(&c->lock);
        c->tx_busy = false;
        c->frames_out += frames;
        c->bytes_out += bytes;
        for (const struct kc_ipc_txitem *it = batch; it != NULL && rc == 0; it = it->next) {
            if (it->type == KC_FRAME_REPLY)
                c->replies_sent++;
            if (it->type == KC_FRAME_CANCEL)
                c->cancels_sent++;
            if (it->type == KC_FRAME_PING)
                c->pings_sent++;
        }
        /* small items back to the spare list, the others freed */
        struct kc_ipc_txitem *big = NULL;
        while (batch != NULL) {
            struct kc_ipc_txitem *it = batch;
            batch = it->next;
            bool keep = it->small && c->spare_count < KC_IPC_SPARE_MAX;
            it->next = keep ? c->spare : big;
            *(keep ? &c->spare : &big) = it;
            c->spare_count += keep;
        }
        pthread_mutex_unlock(&c->lock);
        free_items(big);
        if (rc < 0) {
            if (rc != -ECANCELED)
                kc__ipc_die(c, link_error(c, rc));
            break;
        }
    }
    kc__ipc_unref(c);
    return 0;
}

/* Reassembly of one fragmented message at a time (fragments of a message
 * are sent back to back). */
struct reasm {
    uint8_t *buf;
    size_t len;
    uint8_t type;
    uint32_t id, chan_id;
    bool active;
};

/* Handle one frame; returns 0 or the error that ends the connection. */
static int rx_frame(kc_ipc_conn_t *c, const kc_frame_hdr_t *h, uint8_t *p, struct reasm *r)
{
    if (r->active && (h->type != r->type || h->id != r->id)) {
        free(p);
        return -EPROTO;
    }
    switch (h->type) {
    case KC_FRAME_REQUEST:
    case KC_FRAME_REPLY: {
        uint8_t *msg = p;
        size_t len = h->len;
        if (r->active || (h->flags & KC_FRAME_F_MORE)) {
            if (!r->active) {
                *r = (struct reasm){NULL, 0, h->type, h->id, h->chan_id, true};
            }
            if (h->len > (size_t)c->neg.max_msg - r->len) { /* checked before growing */
                free(p);
                return -EMSGSIZE;
            }
            uint8_t *nb = realloc(r->buf, r->len + h->len + 1);
            if (nb == NULL) {
                free(p);
                return -ENOMEM;
            }
            r->buf = nb;
            if (h->len)
                memcpy(r->buf + r->len, p, h->len);
            r->len += h->len;
            free(p);
            if (h->flags & KC_FRAME_F_MORE)
                return 0;
            msg = r->buf;
            len = r->len;
            r->buf = NULL;
            r->active = false;
        }
        if (len < KC_RPC_PREFIX_SIZE) {
            free(msg);
            return -EPROTO;
        }
        if (h->type == KC_FRAME_REQUEST)
            c->msg->on_request(c, h->chan_id, h->id, msg, len);
        else
            c->msg->on_reply(c, h->id, msg, len);
        return 0;
    }
    case KC_FRAME_PING:
        free(p);
        if (h->len != 0 || h->flags)
            return -EPROTO;
        kc__ipc_enqueue(c, KC_FRAME_PONG, 0, h->id, NULL, NULL, 0, true, 0, NULL);
        return 0;
    case KC_FRAME_PONG:
        free(p);
        pthread_mutex_lock(&c->lock);
        c->pongs_in++;
        pthread_mutex_unlock(&c->lock);
        return h->len == 0 && !h->flags ? 0 : -EPROTO;
    case KC_FRAME_CANCEL:
        free(p);
        if (h->len != 0 || h->flags)
            return -EPROTO;
        c->msg->on_cancel(c, h->id);
        return 0;
    case KC_FRAME_GOAWAY: {
        bool ok = h->len == 8 && !h->flags;
        bool any = ok && (p[4] | p[5] | p[6] | p[7]) != 0;
        free(p);
        if (!ok)
            return -EPROTO;
        pthread_mutex_lock(&c->lock);
        c->peer_goaway = true;
        if (c->state == IPC_OPEN)
            c->state = IPC_DRAINING;
        c->msg->refuse_after(c, any, h->id);
        kc__ipc_wake_state(c);
        pthread_mutex_unlock(&c->lock);
        return 0;
    }
    case KC_FRAME_DATA:
    case KC_FRAME_CHAN: {
        pthread_mutex_lock(&c->lock);
        const kc__ipc_layer_ops_t *layer = c->layer;
        if (layer == NULL)
            c->refused++; /* no channel layer: dropped */
        pthread_mutex_unlock(&c->lock);
        if (layer == NULL) {
            free(p);
            /* A CHAN message gets an empty CHAN back, same chan_id and id:
             * "no channel layer here" (an empty one is never answered). */
            if (h->type == KC_FRAME_CHAN && h->len > 0)
                kc__ipc_enqueue(c, KC_FRAME_CHAN, h->chan_id, h->id, NULL, NULL, 0, true, 0, NULL);
            return 0;
        }
        return layer->on_frame(c->layer_arg, h, p);
    }
    default: /* HELLO twice */
        free(p);
        return -EPROTO;
    }
}

/* rx: where a DATA frame's payload goes (kc_ipc_svc.h, rx_buf): the
 * channel layer's buffer, unless none is offered or a message is being
 * reassembled (a DATA frame then is a violation, and its payload freed). */
struct rx_ctx {
    kc_ipc_conn_t *c;
    const struct reasm *r;
};

static void *rx_buf(void *arg, const kc_frame_hdr_t *h)
{
    const struct rx_ctx *x = arg;
    if (h->type != KC_FRAME_DATA || x->r->active)
        return NULL;
    pthread_mutex_lock(&x->c->lock);
    const kc__ipc_layer_ops_t *layer = x->c->layer;
    void *larg = x->c->layer_arg;
    pthread_mutex_unlock(&x->c->lock);
    return layer != NULL && layer->rx_buf != NULL ? layer->rx_buf(larg, h) : NULL;
}

static int rx_main(void *arg)
{
    kc_ipc_conn_t *c = arg;
    struct reasm r = {0};
    struct rx_ctx x = {c, &r};
    for (;;) {
        kc_frame_hdr_t h;
        void *p = NULL;
        /* No timeout: the keep-alive timer watches the silence, so a frame
         * costs rx no timer and no clock read. */
        int rc = kc__transport_recv_frame_into(c->tp, &h, &p, c->neg.max_frame, rx_buf, &x,
                                               KC_NO_TIMEOUT, c->life);
        if (rc < 0) {
            if (rc != -ECANCELED)
                kc__ipc_die(c, link_error(c, rc));
            break;
        }
        pthread_mutex_lock(&c->lock);
        c->frames_in++;
        c->bytes_in += KC_FRAME_HDR_SIZE + (uint64_t)h.len;
        pthread_mutex_unlock(&c->lock);
        rc = rx_frame(c, &h, p, &r);
        if (rc < 0) {
            kc__ipc_die(c, rc);
            break;
        }
    }
    free(r.buf);
    kc__ipc_unref(c);
    return 0;
}

/* The keep-alive timer, every ping_ns while the connection lives:
 *   K1 a look that finds frames_in moved since the last one resets the
 *      silence; one that finds it unmoved adds ping_ns to it and sends a
 *      PING, so a PING goes out once a whole interval passed without a
 *      frame, and the link ends (-ECONNRESET) once the silence reaches
 *      dead_ns (between dead_ns and dead_ns + ping_ns after the last
 *      frame, as when rx timed out its reads);
 *   K2 the timer holds a reference while armed; it re-arms itself under
 *      the lock, and only while the state is not DEAD, so once kc__ipc_die
 *      has run, the timer is either pending (stop_io stops it and drops
 *      its reference) or ends by dropping it at its next look. */
static void on_keepalive(void *arg)
{
    kc_ipc_conn_t *c = arg;
    bool dead = false, ping = false;
    uint32_t id = 0;
    pthread_mutex_lock(&c->lock);
    bool live = c->state != IPC_DEAD;
    if (live) {
        if (c->frames_in != c->ka_seen) {
            c->ka_seen = c->frames_in;
            c->ka_quiet = 0;
        } else {
            c->ka_quiet += c->ping_ns;
            dead = c->ka_quiet >= c->dead_ns;
            ping = !dead;
            id = ++c->ping_id;
        }
        if (!dead && kc_timer_start(&c->ka, c->sched, c->ping_ns) < 0)
            live = false; /* the scheduler stops: no more looks */
    }
    pthread_mutex_unlock(&c->lock);
    if (ping)
        kc__ipc_enqueue(c, KC_FRAME_PING, 0, id, NULL, NULL, 0, true, 0, NULL);
    if (dead)
        kc__ipc_die(c, -ECONNRESET); /* silent peer: dead */
    if (!live || dead)
        kc__ipc_unref(c);
}

/* ------------------------------------------------------------------ */

static uint32_t random_start(const void *salt)
{
    uint64_t x = kc__port_now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)salt;
    x += 0x9e3779b97f4a7c15ull; /* splitmix64 */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)(x ^ (x >> 31));
}

/* Clamp an offered limit into its negotiable range (0: the default). */
static uint32_t clamp(uint32_t v, uint32_t def, uint32_t lo, uint32_t hi)
{
    if (v == 0)
        return def;
    return v < lo ? lo : v > hi ? hi : v;
}

/* Exchange HELLOs on tp within timeout_ns; fills c->neg. */
static int hello(kc_ipc_conn_t *c, const kc_ipc_opts_t *o, int64_t timeout_ns,
                 const kc_cancel_t *cancel)
{
    kc_hello_t mine, peer;
    kc_hello_init(&mine);
    mine.features = KC_HELLO_FEAT_RPC | KC_HELLO_FEAT_PING;
    mine.max_frame = clamp(o->max_frame, KC_FRAME_MAX_DEFAULT, KC_FRAME_MIN_MAX, KC_FRAME_MAX_MAX);
    mine.max_msg = clamp(o->max_msg, KC_MSG_MAX_DEFAULT, KC_MSG_MIN_MAX, KC_MSG_MAX_MAX);
    uint8_t buf[KC_HELLO_MAX_SIZE];
    int n = kc_hello_encode(&mine, buf, sizeof buf);
    if (n < 0)
        return n;
    int64_t ht = o->hello_timeout_ns > 0 ? o->hello_timeout_ns : DEF_HELLO_NS;
    if (timeout_ns < 0 || timeout_ns > ht)
        timeout_ns = ht;
    int64_t deadline = kc__tp_deadline(timeout_ns);
    kc_frame_hdr_t h = {KC_WIRE_VERSION, KC_FRAME_HELLO, 0, 0, 0, (uint32_t)n};
    struct iovec v = {buf, (size_t)n};
    int rc = kc_transport_send_frame(c->tp, &h, &v, 1, timeout_ns, cancel);
    if (rc < 0)
        return rc;
    void *p = NULL;
    int64_t left = kc__tp_left(deadline);
    if (left == 0)
        return -ETIME;
    rc = kc_transport_recv_frame(c->tp, &h, &p, KC_HELLO_MAX_SIZE, left, cancel);
    if (rc == -EMSGSIZE)
        rc = -EPROTO;
    if (rc == 0 && (h.type != KC_FRAME_HELLO || h.flags != 0))
        rc = -EPROTO;
    if (rc == 0)
        rc = kc_hello_decode(p, h.len, &peer);
    free(p);
    if (rc == 0)
        rc = kc_hello_negotiate(&mine, &peer, &c->neg);
    if (rc == 0 && !(c->neg.features & KC_HELLO_FEAT_RPC))
        rc = -EPROTO;
    return rc == -EPIPE ? -ECONNRESET : rc;
}

int kc__ipc_start(kc_transport_t *tp, const kc__ipc_msg_ops_t *msg, const kc_ipc_opts_t *o,
                  int64_t timeout_ns, const kc_cancel_t *cancel, const char *dir, const char *peer,
                  kc_ipc_conn_t **out)
{
    kc_sched_t *s = o->sched ? o->sched : kc_sched_current();
    if (s == NULL) {
        kc_transport_close(tp);
        return -EPERM;
    }
    kc_ipc_conn_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        kc_transport_close(tp);
        return -ENOMEM;
    }
    c->tp = tp;
    c->whole = kc__transport_whole(tp);
    c->msg = msg;
    c->sched = s;
    c->attached_fd = -1;
    c->router = o->router;
    pthread_mutex_init(&c->lock, NULL);
    atomic_init(&c->refs, 1);
    c->max_handlers = o->max_handlers ? o->max_handlers : 1024;
    c->tx_cap = o->tx_queue_bytes ? o->tx_queue_bytes : DEF_TXQ;
    c->ping_ns = o->ping_interval_ns == 0 ? DEF_PING_NS : o->ping_interval_ns;
    c->dead_ns = o->dead_after_ns > 0 ? o->dead_after_ns : 3 * c->ping_ns;
    c->next_id = random_start(c);
    int rc = kc_cancel_create(&c->life, NULL);
    if (rc == 0 && kc__idmap_init(&c->awaiters) < 0)
        rc = -ENOMEM;
    if (rc == 0 && kc__idmap_init(&c->handlers) < 0)
        rc = -ENOMEM;
    if (rc == 0)
        rc = hello(c, o, timeout_ns, cancel);
    if (rc == 0)
        rc = kc__ipc_register(c, o->flags, o->name, dir, peer);
    if (rc < 0) {
        c->state = IPC_DEAD;
        kc__ipc_unref(c);
        return rc;
    }
    /* An fd-backed link joins the poller for good: rx's and tx's waits then
     * cost no system call (kcoro/io.h); stop_io detaches it before close. */
    int fd = kc_transport_poll_handle(tp);
    if (fd >= 0 && kc_io_attach(s, fd) == 0)
        c->attached_fd = fd;
    kc_spawn_attr_t a = KC_SPAWN_ATTR_INIT;
    a.name = "ipc-rx";
    kc__ipc_ref(c);
    if ((rc = kc_sched_spawn(s, &c->rx, rx_main, c, &a)) < 0) {
        kc__ipc_unref(c);
        c->state = IPC_DEAD;
        kc__ipc_unref(c);
        return rc;
    }
    a.name = "ipc-tx";
    kc__ipc_ref(c);
    if ((rc = kc_sched_spawn(s, &c->tx, tx_main, c, &a)) < 0) {
        kc__ipc_unref(c);
        kc__ipc_die(c, -EPIPE);
        kc_sched_join(c->rx, NULL, KC_NO_TIMEOUT, NULL);
        kc__ipc_unref(c);
        return rc;
    }
    if (c->ping_ns >= 0) { /* K2: the timer's reference */
        kc_timer_init(&c->ka, on_keepalive, c);
        kc__ipc_ref(c);
        pthread_mutex_lock(&c->lock);
        if ((rc = kc_timer_start(&c->ka, s, c->ping_ns)) < 0) {
            pthread_mutex_unlock(&c->lock);
            kc__ipc_unref(c);
            kc_ipc_close(c);
            return rc;
        }
        pthread_mutex_unlock(&c->lock);
    }
    *out = c;
    return 0;
}

/* Join rx and tx once (after the connection is DEAD), then close the
 * link: nothing else touches it, so the peer sees the end at once. */
static void stop_io(kc_ipc_conn_t *c)
{
    pthread_mutex_lock(&c->lock);
    kc_task_t *rx = c->rx, *tx = c->tx;
    c->rx = c->tx = NULL;
    pthread_mutex_unlock(&c->lock);
    /* K2: stopped pending (never fires now), it gives back its reference;
     * a look running meanwhile sees DEAD and drops the reference itself. */
    if (c->ping_ns >= 0 && kc_timer_stop(&c->ka) == 1)
        kc__ipc_unref(c);
    if (rx)
        kc_sched_join(rx, NULL, KC_NO_TIMEOUT, NULL);
    if (tx)
        kc_sched_join(tx, NULL, KC_NO_TIMEOUT, NULL);
    if (rx || tx) {
        if (c->attached_fd >= 0)
            kc_io_detach(c->sched, c->attached_fd);
        c->attached_fd = -1;
        kc_transport_close(c->tp);
        c->tp = NULL;
    }
}

KC_API int kc_ipc_shutdown(kc_ipc_conn_t *c, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (c == NULL)
        return -EINVAL;
    timeout_ns = kc__timeout_norm(timeout_ns); /* -5 has run out: as 0 */
    uint8_t why[8] = {0};
    pthread_mutex_lock(&c->lock);
    bool send = c->state == IPC_OPEN || (c->state == IPC_DRAINING && !c->local_goaway);
    if (c->state == IPC_OPEN)
        c->state = IPC_DRAINING;
    c->local_goaway = true;
    uint32_t last = c->last_accepted;
    why[7] = c->accepted_any ? 1 : 0;
    pthread_mutex_unlock(&c->lock);
    if (send)
        kc__ipc_enqueue(c, KC_FRAME_GOAWAY, 0, last, NULL, why, sizeof why, true, 0, NULL);
    int64_t deadline = kc__tp_deadline(timeout_ns);
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    while (c->state != IPC_DEAD &&
           (c->awaiters.count || c->handlers.count || c->ctl_head || c->data_head || c->tx_busy)) {
        int64_t left = kc__tp_left(deadline);
        if (timeout_ns >= 0 && left == 0) {
            rc = -ETIME;
            break;
        }
        rc = list_wait(c, &c->state_waiters, left, cancel);
        if (rc == -ECANCELED)
            break;
        rc = 0;
    }
    c->closed_by_user = true;
    pthread_mutex_unlock(&c->lock);
    kc__ipc_die(c, -EPIPE);
    stop_io(c);
    return rc;
}

KC_API int kc_ipc_close(kc_ipc_conn_t *c)
{
    if (c == NULL)
        return 0;
    kc__ipc_unregister(c); /* the handle is gone: so is the entry */
    pthread_mutex_lock(&c->lock);
    c->closed_by_user = true;
    pthread_mutex_unlock(&c->lock);
    kc__ipc_die(c, -EPIPE);
    stop_io(c);
    kc__ipc_unref(c);
    return 0;
}

KC_API int kc_ipc_wait_dead(kc_ipc_conn_t *c, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (c == NULL)
        return -EINVAL;
    timeout_ns = kc__timeout_norm(timeout_ns); /* -5 has run out: as 0 */
    int64_t deadline = kc__tp_deadline(timeout_ns);
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    while (c->state != IPC_DEAD) {
        int64_t left = kc__tp_left(deadline);
        if (timeout_ns == 0 || (timeout_ns > 0 && left == 0)) {
            rc = -ETIME;
            break;
        }
        rc = list_wait(c, &c->state_waiters, left, cancel);
        if (rc == -ECANCELED && c->state != IPC_DEAD)
            break;
        rc = 0;
    }
    if (c->state == IPC_DEAD)
        rc = c->dead_rc;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

KC_API int kc_ipc_stats(kc_ipc_conn_t *c, kc_ipc_stats_t *out)
{
    if (c == NULL || out == NULL || out->size < sizeof *out)
        return -EINVAL;
    pthread_mutex_lock(&c->lock);
    out->max_frame = c->neg.max_frame;
    out->max_msg = c->neg.max_msg;
    out->frames_in = c->frames_in;
    out->frames_out = c->frames_out;
    out->req_sent = c->req_sent;
    out->req_received = c->req_received;
    out->replies_sent = c->replies_sent;
    out->replies_taken = c->replies_taken;
    out->late_replies = c->late_replies;
    out->cancels_sent = c->cancels_sent;
    out->cancels_in = c->cancels_in;
    out->refused = c->refused;
    out->pings_sent = c->pings_sent;
    out->pongs_in = c->pongs_in;
    out->outstanding = c->awaiters.count;
    out->handlers = c->handlers.count;
    out->tx_queued = c->tx_bytes;
    out->dead_rc = c->state == IPC_DEAD ? c->dead_rc : 0;
    /* Debug runs (KCORO_DEBUG set) check the invariants here. */
    int broken = (kc__debug() & ~KC_DEBUG_LOADED) != 0 ? kc__ipc_check(c) : 0;
    pthread_mutex_unlock(&c->lock);
    if (broken) {
        fprintf(stderr, "kcoro: ipc connection %p: invariant C%d broken\n", (void *)c, broken);
        abort();
    }
    return 0;
}

int kc__ipc_check(kc_ipc_conn_t *c)
{
    /* C1: every future in the map is pending (done ones leave it). */
    for (uint32_t i = 0; i <= c->awaiters.mask; i++)
        for (struct kc_idmap_node *n = c->awaiters.b[i]; n; n = n->next)
            if (((struct kc_rpc_future *)(void *)n)->state != FUT_PENDING)
                return 1;
    size_t sum = 0;
    for (struct kc_ipc_txitem *i = c->data_head; i; i = i->next)
        sum += i->len;
    if (sum != c->tx_bytes)
        return 2;
    /* C3 before the end: the user's handle, rx, tx, each handler (a task
     * handler through its runner) and each
     * pending future hold a reference (futures already resolved hold one
     * too, so this is a lower bound). rx and tx leave only after DEAD. */
    uint32_t refs = atomic_load_explicit(&c->refs, memory_order_relaxed);
    if (c->state != IPC_DEAD && refs < 3u + c->handlers.count + c->awaiters.count)
        return 3;
    if (c->state == IPC_DEAD && c->awaiters.count != 0)
        return 4;
    return 0;
}
