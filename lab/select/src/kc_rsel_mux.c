/* kc_rsel_mux.c - the remote-select protocol over a connection's channels (graduated mux).
 *
 * The protocol needs an ordered, reliable way to each peer. A connection
 * of kcoro/ipc.h with the channels of kcoro/mux.h is one, and needs no
 * hook in mux: each side exports a channel of records as its inbox
 * ("rsel.owner" or "rsel.selector") and imports the other side's. A record
 * is the message's length (u16, network byte order) and the message, padded to
 * KC_RSEL_MUX_REC bytes. Three threads per side:
 *   rx     takes records from the inbox and hands them to the endpoint
 *          (started by kc_rsel_mux_start, once the endpoint can answer:
 *          an owner must have its link to the peer before the first
 *          claim arrives);
 *   tx     moves the records queued by send (an unlimited local channel,
 *          so a send under the owner's or the client's lock never waits
 *          for credit) into the peer's inbox;
 *   watch  waits for the connection's end.
 *
 *   T1  records reach the peer in the order they were sent: one tx thread
 *       sends into one stream, one rx thread delivers from one channel;
 *   T2  the endpoint's lost() runs once, whichever of tx (a failed send)
 *       and watch (the connection died) sees the end first; rx delivers
 *       nothing it takes after that.
 */
#include "kc_rsel.h"

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

struct kc_rsel_mux {
    kc_ipc_conn_t *c;
    kc_chan_t *inbox; /* local, exported: the peer's records arrive here */
    kc_chan_t *peer;  /* imported: the peer's inbox */
    kc_chan_t *out;   /* local, unlimited: our records on their way */
    kc_rsel_endpoint_t ep;
    kc_cancel_t *stop;
    pthread_t rx, tx, watch;
    pthread_mutex_t mu; /* orders rx's deliveries against lost() (T2) */
    bool lost;
    bool started; /* rx runs (kc_rsel_mux_start) */
    char inbox_name[16];
};

static void tell_lost(kc_rsel_mux_t *m)
{
    pthread_mutex_lock(&m->mu);
    bool first = !m->lost;
    m->lost = true;
    pthread_mutex_unlock(&m->mu);
    if (first && m->ep.lost != NULL)
        m->ep.lost(m->ep.self); /* T2 */
}

static void *rx_main(void *arg)
{
    kc_rsel_mux_t *m = arg;
    uint8_t rec[KC_RSEL_MUX_REC];
    while (kc_chan_recv(m->inbox, rec, KC_NO_TIMEOUT, m->stop) == 0) {
        size_t len = kc__get_be16(rec);
        if (len > sizeof rec - 2)
            continue; /* not a record any side makes */
        pthread_mutex_lock(&m->mu);
        bool lost = m->lost;
        pthread_mutex_unlock(&m->mu);
        if (lost)
            break;
        m->ep.deliver(m->ep.self, rec + 2, len);
    }
    return NULL;
}

static void *tx_main(void *arg)
{
    kc_rsel_mux_t *m = arg;
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
    kc_rsel_mux_t *m = arg;
    int rc = kc_ipc_wait_dead(m->c, KC_NO_TIMEOUT, m->stop);
    if (rc != -ECANCELED && rc != -ETIME) /* the reason it died */
        tell_lost(m);
    return NULL;
}

static int mux_send(void *ctx, const uint8_t *msg, size_t len)
{
    kc_rsel_mux_t *m = ctx;
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

int kc_rsel_mux_open(kc_rsel_mux_t **out, kc_ipc_conn_t *c, bool owner,
                     const kc_rsel_endpoint_t *ep, int64_t timeout_ns)
{
    if (out == NULL || c == NULL || ep == NULL || ep->deliver == NULL)
        return -EINVAL;
    kc_rsel_mux_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return -ENOMEM;
    m->c = c;
    m->ep = *ep;
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
    if (rc == 0)
        rc = kc_ipc_export(c, m->inbox_name, m->inbox, NULL);
    /* the peer exports its inbox when it opens its side: wait for it */
    long waited = 0, limit = timeout_ns < 0 ? -1 : (long)(timeout_ns / 1000000);
    while (rc == 0 || rc == -ENOENT) {
        rc = kc_ipc_import(&m->peer, c, peer_name, NULL, NULL);
        if (rc != -ENOENT || (limit >= 0 && waited >= limit))
            break;
        sleep_ms(1);
        waited++;
    }
    if (rc == -ENOENT)
        rc = -ETIME;
    if (rc == 0 && pthread_create(&m->tx, NULL, tx_main, m) != 0)
        rc = -ENOMEM;
    if (rc == 0 && pthread_create(&m->watch, NULL, watch_main, m) != 0) {
        kc_cancel_trigger(m->stop);
        pthread_join(m->tx, NULL);
        rc = -ENOMEM;
    }
    if (rc != 0) {
        if (m->peer != NULL)
            kc_chan_destroy(m->peer);
        if (m->inbox != NULL)
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

int kc_rsel_mux_start(kc_rsel_mux_t *m)
{
    if (m == NULL || m->started)
        return -EINVAL;
    if (pthread_create(&m->rx, NULL, rx_main, m) != 0)
        return -ENOMEM;
    m->started = true;
    return 0;
}

int kc_rsel_mux_link(kc_rsel_mux_t *m, kc_rsel_link_t *out)
{
    if (m == NULL || out == NULL)
        return -EINVAL;
    out->send = mux_send;
    out->ctx = m;
    return 0;
}

void kc_rsel_mux_close(kc_rsel_mux_t *m)
{
    if (m == NULL)
        return;
    kc_cancel_trigger(m->stop);
    if (m->started)
        pthread_join(m->rx, NULL);
    pthread_join(m->tx, NULL);
    pthread_join(m->watch, NULL);
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
