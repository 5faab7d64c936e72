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
 * A send goes straight into the peer's inbox (a try: never waits for
 * credit, so a send under the owner's or the client's lock never blocks)
 * when nothing of ours is queued before it; otherwise, or when the try
 * fails, it is queued (an unlimited local channel) for tx. Two coroutines
 * on the connection's scheduler and a thread per attachment:
 *   rx     takes records from the inbox and hands each to its endpoint
 *          (a message for a channel not attached yet is held: T3); it runs
 *          beside the connection's own tasks, so a record that arrives
 *          reaches its owner or client, and an owner's answer reaches the
 *          connection, without a thread switch;
 *   tx     moves the queued records into the peer's inbox;
 *   watch  (thread) waits for the connection's end.
 *
 *   T1  records reach the peer in the order they were sent: a send goes
 *       straight only while `backlog` (records queued or held by tx, under
 *       txmu) is 0, tx sends the queue in order, one rx delivers from one
 *       channel;
 *   T2  each attached endpoint's lost() runs once, whichever of tx (a
 *       failed send), watch (the connection died) and kc_rsel_detach sees
 *       the end first; rx delivers nothing it takes after that, and after
 *       lost() its owner or client never sends through the attachment
 *       again (they test their lost flag under their lock), so detach may
 *       free it;
 *   T3  a message for a channel whose owner is not attached yet (the peer
 *       may select as soon as its own side is attached) is held, up to
 *       KC_RSEL_EARLY_MAX, and handed to the owner when it attaches, before
 *       any message rx takes after it: each owner sees its channel's
 *       messages in the order they were sent (dmu orders the replay against
 *       rx's deliveries).
 */
#include "kc_rsel_impl.h"

#include "ipc_posix_co/kc_ipc_svc.h"
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
    kc_task_t *rx, *tx;
    pthread_t watch;
    pthread_mutex_t txmu; /* backlog, and a straight send's order (T1) */
    uint64_t backlog;     /* records in out or in tx's hands */
    pthread_mutex_t mu;   /* routes, early, lost (T2) */
    pthread_mutex_t dmu;  /* held while a message is delivered or held back (T3) */
    struct route routes[KC_RSEL_ATTACH_OWNERS];
    int nroutes;
    struct early *early, **early_tail; /* for channels not attached yet (T3) */
    int nearly;
    bool lost;
    char inbox_name[16];
};

/* A message that arrived for a channel whose owner is not attached yet. */
struct early {
    struct early *next;
    uint32_t chan;
    size_t len;
    uint8_t msg[];
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

static int rx_main(void *arg)
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
        pthread_mutex_lock(&m->dmu); /* T3: no replay overtakes this one */
        pthread_mutex_lock(&m->mu);
        bool lost = m->lost;
        for (int i = 0; i < m->nroutes; i++)
            if (m->side == KC_RSEL_CLIENT_SIDE || m->routes[i].chan == msg.chan)
                ep = m->routes[i].ep;
        if (!lost && ep.deliver == NULL && m->side == KC_RSEL_OWNER_SIDE &&
            m->nearly < KC_RSEL_EARLY_MAX) { /* T3: held for its owner */
            struct early *e = malloc(sizeof(*e) + len);
            if (e != NULL) {
                e->next = NULL;
                e->chan = msg.chan;
                e->len = len;
                memcpy(e->msg, rec + 2, len);
                *m->early_tail = e;
                m->early_tail = &e->next;
                m->nearly++;
            }
        }
        pthread_mutex_unlock(&m->mu);
        if (!lost && ep.deliver != NULL)
            ep.deliver(ep.self, rec + 2, len);
        pthread_mutex_unlock(&m->dmu);
        if (lost)
            break;
    }
    return 0;
}

static int tx_main(void *arg)
{
    kc_rsel_attach_t *m = arg;
    uint8_t rec[KC_RSEL_MUX_REC];
    while (kc_chan_recv(m->out, rec, KC_NO_TIMEOUT, m->stop) == 0) {
        if (kc_chan_send(m->peer, rec, KC_NO_TIMEOUT, m->stop) != 0) {
            if (!kc_cancel_is_triggered(m->stop))
                tell_lost(m);
            break;
        }
        pthread_mutex_lock(&m->txmu);
        m->backlog--;
        pthread_mutex_unlock(&m->txmu);
    }
    return 0;
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
    pthread_mutex_lock(&m->txmu);
    int rc = 0;
    /* T1: straight only behind nothing; a refused try (no credit, or the
     * connection ending: tx finds out and tells lost()) is queued */
    if (m->backlog > 0 || kc_chan_send(m->peer, rec, 0, NULL) != 0) {
        rc = kc_chan_send(m->out, rec, 0, NULL); /* unlimited: never waits */
        m->backlog += rc == 0;
    }
    pthread_mutex_unlock(&m->txmu);
    return rc;
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
    pthread_mutex_init(&m->dmu, NULL);
    pthread_mutex_init(&m->txmu, NULL);
    m->early_tail = &m->early;
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
    kc_sched_t *s = kc__ipc_sched(c);
    if (rc == 0 && kc_sched_spawn(s, &m->tx, tx_main, m, NULL) == 0)
        started++;
    if (started == 1 && pthread_create(&m->watch, NULL, watch_main, m) == 0)
        started++;
    if (started == 2 && kc_sched_spawn(s, &m->rx, rx_main, m, NULL) == 0)
        started++;
    if (rc == 0 && started < 3) {
        kc_cancel_trigger(m->stop);
        if (started > 0)
            (void)kc_sched_join(m->tx, NULL, KC_NO_TIMEOUT, NULL);
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
        pthread_mutex_destroy(&m->dmu);
        pthread_mutex_destroy(&m->txmu);
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* Add a route and hand it the messages held for its channel, in order
 * (T3); an attachment whose stream ended already tells it at once (T2). */
static int add_route(kc_rsel_attach_t *m, uint32_t chan, const kc_rsel_endpoint_t *ep)
{
    pthread_mutex_lock(&m->dmu);
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
    struct early *mine = NULL, **tail = &mine;
    if (rc == 0 && m->side == KC_RSEL_OWNER_SIDE) {
        struct early **pp = &m->early;
        m->early_tail = &m->early;
        while (*pp != NULL) {
            struct early *e = *pp;
            if (e->chan == chan) {
                *pp = e->next;
                e->next = NULL;
                *tail = e;
                tail = &e->next;
                m->nearly--;
            } else {
                pp = &e->next;
                m->early_tail = &e->next;
            }
        }
    }
    bool lost = m->lost;
    pthread_mutex_unlock(&m->mu);
    while (mine != NULL) { /* under dmu: before anything rx takes next */
        struct early *e = mine;
        mine = e->next;
        if (!lost)
            ep->deliver(ep->self, e->msg, e->len);
        free(e);
    }
    pthread_mutex_unlock(&m->dmu);
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
    (void)kc_sched_join(m->rx, NULL, KC_NO_TIMEOUT, NULL);
    (void)kc_sched_join(m->tx, NULL, KC_NO_TIMEOUT, NULL);
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
    while (m->early != NULL) { /* for channels that never attached */
        struct early *e = m->early;
        m->early = e->next;
        free(e);
    }
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->dmu);
    pthread_mutex_destroy(&m->txmu);
    free(m);
}
