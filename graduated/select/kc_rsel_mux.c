/* kc_rsel_mux.c - the remote-select protocol over a connection's channels (kcoro/mux.h): attachments.
 *
 * The protocol needs an ordered, reliable way to each peer. A connection
 * of kcoro/ipc.h with the channels of kcoro/mux.h is one, and needs no
 * hook in mux: each side exports a channel of records as its inbox
 * ("rsel.owner" on the owners' side, "rsel.selector" on the client's) and
 * imports the other side's. A record is the message's length (u16,
 * network byte order) and the message, padded to KC_RSEL_MUX_REC bytes. On the
 * owners' side one attachment serves several owners (messages go to the
 * owner of their chan field); on the client's side it serves one client.
 * Three threads per attachment:
 *   rx     takes records from the inbox and hands each to its endpoint
 *          (a message for a channel nobody attached is dropped);
 *   tx     moves the records queued by send (an unlimited local channel,
 *          so a send under the owner's or the client's lock never waits
 *          for credit) into the peer's inbox;
 *   watch  waits for the connection's end.
 *
 *   T1  records reach the peer in the order they were sent: one tx thread
 *       sends into one stream, one rx thread delivers from one channel;
 *   T2  each attached endpoint's lost() runs once, whichever of tx (a
 *       failed send), watch (the connection died) and kc_rsel_detach sees
 *       the end first; rx delivers nothing it takes after that, and after
 *       lost() its owner or client never sends through the attachment
 *       again (they test their lost flag under their lock), so detach may
 *       free it.
 */
#include "kc_rsel_impl.h"

#include "sched/kc_sched_svc.h"

#include "base/kc_bytes.h"

#include "kcoro/ipc.h"
#include "kcoro/mux.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One endpoint an attachment delivers to: an owner (by its channel id) or
 * the client. */
struct route {
    uint32_t chan; /* the owner's chan_id (owners' side) */
    kc_rsel_endpoint_t ep;
};

struct kc_rsel_attach {
    kc_ipc_conn_t *c;
    int side;
    kc_chan_t *inbox; /* local, exported: the peer's records arrive here */
    kc_chan_t *peer;  /* imported: the peer's inbox */
    kc_chan_t *out;   /* local, unlimited: our records on their way */
    kc_cancel_t *stop;
    pthread_t rx, tx, watch;
    pthread_mutex_t mu; /* routes, lost (T2) */
    struct route routes[KC_RSEL_ATTACH_OWNERS];
    int nroutes;
    bool lost;
    char inbox_name[16];
};

/* T2: every route told once; later routes are told as they attach. */
static void tell_lost(kc_rsel_attach_t *m)
{
    pthread_mutex_lock(&m->mu);
    bool first = !m->lost;
    m->lost = true;
    int n = m->nroutes;
    struct route r[KC_RSEL_ATTACH_OWNERS];
    memcpy(r, m->routes, sizeof(r[0]) * (size_t)n);
    pthread_mutex_unlock(&m->mu);
    for (int i = 0; first && i < n; i++)
        if (r[i].ep.lost != NULL)
            r[i].ep.lost(r[i].ep.self);
}

static void *rx_main(void *arg)
{
    kc_rsel_attach_t *m = arg;
    uint8_t rec[KC_RSEL_MUX_REC];
    while (kc_chan_recv(m->inbox, rec, KC_NO_TIMEOUT, m->stop) == 0) {
        size_t len = kc__get_be16(rec);
        kc_rsel_msg_t msg;
        const uint8_t *elem;
        size_t elen;
        if (len > sizeof rec - 2 || kc__rsel_decode(rec + 2, len, &msg, &elem, &elen) != 0)
            continue; /* not a record any side makes */
        kc_rsel_endpoint_t ep = {NULL, NULL, NULL};
        pthread_mutex_lock(&m->mu);
        bool lost = m->lost;
        for (int i = 0; i < m->nroutes; i++)
            if (m->side == KC_RSEL_CLIENT_SIDE || m->routes[i].chan == msg.chan)
                ep = m->routes[i].ep;
        pthread_mutex_unlock(&m->mu);
        if (lost)
            break;
        if (ep.deliver != NULL)
            ep.deliver(ep.self, rec + 2, len);
    }
    return NULL;
}

static void *tx_main(void *arg)
{
    kc_rsel_attach_t *m = arg;
    uint8_t rec[KC_RSEL_MUX_REC];
    while (kc_chan_recv(m->out, rec, KC_NO_TIMEOUT, m->stop) == 0) {
        if (kc_chan_send(m->peer, rec, KC_NO_TIMEOUT, m->stop) != 0) {
            if (!kc_cancel_is_triggered(m->stop))
                tell_lost(m);
            break;
        }
    }
    return NULL;
}

static void *watch_main(void *arg)
{
    kc_rsel_attach_t *m = arg;
    int rc = kc_ipc_wait_dead(m->c, KC_NO_TIMEOUT, m->stop);
    if (rc != -ECANCELED && rc != -ETIME) /* the reason it died */
        tell_lost(m);
    return NULL;
}

static int mux_send(void *ctx, const uint8_t *msg, size_t len)
{
    kc_rsel_attach_t *m = ctx;
    if (len > KC_RSEL_MUX_REC - 2)
        return -EMSGSIZE;
    uint8_t rec[KC_RSEL_MUX_REC];
    kc__put_be16(rec, (uint16_t)len);
    memcpy(rec + 2, msg, len);
    memset(rec + 2 + len, 0, sizeof rec - 2 - len);
    pthread_mutex_lock(&m->mu);
    bool lost = m->lost;
    pthread_mutex_unlock(&m->mu);
    if (lost)
        return -ECONNRESET;
    return kc_chan_send(m->out, rec, 0, NULL); /* unlimited: never waits */
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int kc_rsel_attach(kc_rsel_attach_t **out, kc_ipc_conn_t *c, int side, int64_t timeout_ns)
{
    if (out == NULL || c == NULL || (side != KC_RSEL_OWNER_SIDE && side != KC_RSEL_CLIENT_SIDE))
        return -EINVAL;
    bool owner = side == KC_RSEL_OWNER_SIDE;
    int64_t deadline = kc__deadline_after(timeout_ns);
    kc_rsel_attach_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return -ENOMEM;
    m->c = c;
    m->side = side;
    pthread_mutex_init(&m->mu, NULL);
    strcpy(m->inbox_name, owner ? "rsel.owner" : "rsel.selector");
    const char *peer_name = owner ? "rsel.selector" : "rsel.owner";
    kc_chan_opts_t o = KC_CHAN_OPTS_INIT;
    o.kind = KC_CHAN_BUFFERED;
    o.capacity = 256;
    o.elem_size = KC_RSEL_MUX_REC;
    int rc = kc_chan_create(&m->inbox, &o);
    if (rc == 0) {
        o.kind = KC_CHAN_UNLIMITED;
        o.capacity = 0;
        rc = kc_chan_create(&m->out, &o);
    }
    if (rc == 0)
        rc = kc_cancel_create(&m->stop, NULL);
    bool exported = false;
    if (rc == 0)
        exported = (rc = kc_ipc_export(c, m->inbox_name, m->inbox, NULL)) == 0;
    /* the peer exports its inbox when it attaches: look for it every ms */
    while (rc == 0 || rc == -ENOENT) {
        rc = kc_ipc_import(&m->peer, c, peer_name, NULL, NULL);
        if (rc != -ENOENT || timeout_ns == 0 || kc__deadline_left(deadline) == 0)
            break;
        sleep_ms(1);
    }
    if (rc == -ENOENT)
        rc = -ETIME;
    int started = 0;
    if (rc == 0 && pthread_create(&m->tx, NULL, tx_main, m) == 0)
        started++;
    if (started == 1 && pthread_create(&m->watch, NULL, watch_main, m) == 0)
        started++;
    if (started == 2 && pthread_create(&m->rx, NULL, rx_main, m) == 0)
        started++;
    if (rc == 0 && started < 3) {
        kc_cancel_trigger(m->stop);
        if (started > 0)
            pthread_join(m->tx, NULL);
        if (started > 1)
            pthread_join(m->watch, NULL);
        rc = -EAGAIN;
    }
    if (rc != 0) {
        if (m->peer != NULL)
            kc_chan_destroy(m->peer);
        if (exported) /* never another attachment's name (-EEXIST) */
            (void)kc_ipc_unexport(c, m->inbox_name);
        if (m->stop != NULL)
            kc_cancel_destroy(m->stop);
        if (m->out != NULL)
            kc_chan_destroy(m->out);
        if (m->inbox != NULL)
            kc_chan_destroy(m->inbox);
        pthread_mutex_destroy(&m->mu);
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* Add a route; an attachment whose stream ended already tells it at once (T2). */
static int add_route(kc_rsel_attach_t *m, uint32_t chan, const kc_rsel_endpoint_t *ep)
{
    pthread_mutex_lock(&m->mu);
    int rc = 0;
    if (m->nroutes == (m->side == KC_RSEL_CLIENT_SIDE ? 1 : KC_RSEL_ATTACH_OWNERS))
        rc = -EBUSY;
    for (int i = 0; rc == 0 && i < m->nroutes; i++)
        if (m->routes[i].chan == chan)
            rc = -EBUSY;
    if (rc == 0) {
        m->routes[m->nroutes].chan = chan;
        m->routes[m->nroutes].ep = *ep;
        m->nroutes++;
    }
    bool lost = m->lost;
    pthread_mutex_unlock(&m->mu);
    if (rc == 0 && lost && ep->lost != NULL)
        ep->lost(ep->self);
    return rc;
}

int kc_rsel_attach_owner(kc_rsel_attach_t *m, kc_rsel_owner_t *o, int peer)
{
    kc_rsel_endpoint_t ep;
    if (m == NULL || o == NULL || m->side != KC_RSEL_OWNER_SIDE)
        return -EINVAL;
    int rc = kc_rsel_owner_peer(o, peer, &ep);
    if (rc != 0)
        return rc;
    if (kc__rsel_owner_elem(o) > KC_RSEL_ATTACH_ELEM_MAX)
        return -EMSGSIZE; /* a COMMIT would not fit a record */
    kc_rsel_link_t l = {mux_send, m};
    if ((rc = kc_rsel_owner_link(o, peer, &l)) != 0)
        return rc;
    return add_route(m, kc__rsel_owner_chan(o), &ep);
}

int kc_rsel_attach_client(kc_rsel_attach_t *m, kc_rsel_client_t *cl)
{
    kc_rsel_endpoint_t ep;
    if (m == NULL || cl == NULL || m->side != KC_RSEL_CLIENT_SIDE)
        return -EINVAL;
    int rc = kc_rsel_client_endpoint(cl, &ep);
    kc_rsel_link_t l = {mux_send, m};
    if (rc == 0)
        rc = kc_rsel_client_link(cl, &l);
    return rc != 0 ? rc : add_route(m, 0, &ep);
}

void kc_rsel_detach(kc_rsel_attach_t *m)
{
    if (m == NULL)
        return;
    kc_cancel_trigger(m->stop);
    pthread_join(m->rx, NULL);
    pthread_join(m->tx, NULL);
    pthread_join(m->watch, NULL);
    tell_lost(m); /* T2: nobody sends through m any more */
    kc_chan_close(m->peer);
    while (kc_chan_destroy(m->peer) == -EBUSY)
        sleep_ms(1);
    (void)kc_ipc_unexport(m->c, m->inbox_name);
    kc_chan_close(m->inbox);
    kc_chan_close(m->out);
    uint8_t rec[KC_RSEL_MUX_REC];
    while (kc_chan_try_recv(m->inbox, rec) == 0)
        ;
    while (kc_chan_try_recv(m->out, rec) == 0)
        ;
    kc_chan_destroy(m->inbox);
    kc_chan_destroy(m->out);
    kc_cancel_destroy(m->stop);
    pthread_mutex_destroy(&m->mu);
    free(m);
}
