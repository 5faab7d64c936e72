/* kc_ipc_registry.c - connections in the registry (kcoro/registry.h).
 *
 * A connection is listed, as kind KC_REGISTRY_CONN, when its options
 * carry KC_IPC_REGISTER or the process-wide switch covers connections
 * (KCORO_REGISTRY=conn or all, KCORO_MONITOR, or kc_registry_configure):
 * from the end of its HELLO to kc_ipc_close (or to its last reference, for
 * a start that failed later). Its name is the options' name, or else the
 * direction and the peer: "to unix:/run/app.sock" for a connect, "from
 * pid 4242" or "from 127.0.0.1:51234" for an accept; a named server's
 * connections are "<name> from <peer>" (cut to the registry's 31 bytes). Exporters read its metrics through conn_metrics below: frames
 * and bytes each way, the RPCs in flight each way, the tx queue and the
 * state. Registration costs one registry lock at start and close; the
 * frame paths only add two byte counters under the lock they already hold.
 */
#include "kc_ipc_impl.h"

#include <stdio.h>
#include <string.h>

/* The connection's state as a number (kcoro_conn_state). */
enum {
    STATE_OPEN = 0,
    STATE_DRAINING = 1,
    STATE_DEAD = 2
};

/* Runs inside kc_registry_foreach, so never with c->lock held by this
 * thread (kc_ipc_impl.h says who may not call into the registry). */
static int conn_metrics(void *object, kc_registry_emit_fn emit, void *ctx)
{
    kc_ipc_conn_t *c = object;
    pthread_mutex_lock(&c->lock);
    uint64_t fin = c->frames_in, fout = c->frames_out, bin = c->bytes_in, bout = c->bytes_out;
    uint64_t rsent = c->req_sent, rrecv = c->req_received, repl = c->replies_sent;
    uint64_t late = c->late_replies, refused = c->refused, csent = c->cancels_sent;
    uint64_t cin = c->cancels_in, pings = c->pings_sent, pongs = c->pongs_in;
    uint64_t outstanding = c->awaiters.count, handlers = c->handlers.count, txq = c->tx_bytes;
    int state = c->state == IPC_OPEN       ? STATE_OPEN
                : c->state == IPC_DRAINING ? STATE_DRAINING
                                           : STATE_DEAD;
    uint32_t max_frame = c->neg.max_frame;
    pthread_mutex_unlock(&c->lock);
    const kc_registry_metric_type_t C = KC_REGISTRY_COUNTER, G = KC_REGISTRY_GAUGE;
    emit(ctx, "received_frames", C, (double)fin, "Frames received after HELLO.");
    emit(ctx, "sent_frames", C, (double)fout, "Frames sent after HELLO.");
    emit(ctx, "received_bytes", C, (double)bin, "Bytes of those frames, headers included.");
    emit(ctx, "sent_bytes", C, (double)bout, "Bytes of those frames, headers included.");
    emit(ctx, "requests_sent", C, (double)rsent, "Requests queued to the peer.");
    emit(ctx, "requests_received", C, (double)rrecv, "Requests received from the peer.");
    emit(ctx, "replies_sent", C, (double)repl, "Replies sent to the peer.");
    emit(ctx, "late_replies", C, (double)late, "Replies for no waiting future, dropped.");
    emit(ctx, "refused_requests", C, (double)refused, "Requests refused unrun.");
    emit(ctx, "cancels_sent", C, (double)csent, "CANCEL frames sent.");
    emit(ctx, "cancels_received", C, (double)cin, "CANCEL frames received.");
    emit(ctx, "pings_sent", C, (double)pings, "PING frames sent.");
    emit(ctx, "pongs_received", C, (double)pongs, "PONG frames received.");
    emit(ctx, "rpcs_outstanding", G, (double)outstanding, "Our requests awaiting a reply.");
    emit(ctx, "rpcs_serving", G, (double)handlers, "The peer's requests being handled here.");
    emit(ctx, "tx_queued_bytes", G, (double)txq, "Bytes waiting in the tx queue.");
    emit(ctx, "max_frame_bytes", G, (double)max_frame, "Negotiated largest frame payload.");
    emit(ctx, "state", G, (double)state, "0 open, 1 draining (GOAWAY), 2 dead.");
    return 0;
}

static const kc_registry_ops_t conn_ops = {sizeof(kc_registry_ops_t), conn_metrics, NULL};

int kc__ipc_register(kc_ipc_conn_t *c, uint32_t flags, const char *given, const char *dir,
                     const char *peer)
{
    char *name = c->desc; /* kept for kc__ipc_desc, listed or not */
    if (given == NULL)
        snprintf(name, sizeof c->desc, "%s %s", dir, peer);
    else if (strcmp(dir, "from") == 0)
        snprintf(name, sizeof c->desc, "%s from %s", given, peer);
    else
        snprintf(name, sizeof c->desc, "%s", given);
    if (!kc_registry_wants(KC_REGISTRY_CONN, flags))
        return 0;
    int rc = kc_registry_add(KC_REGISTRY_CONN, c, 0, name, &conn_ops, &c->reg);
    c->reg_id = kc_registry_node_id(c->reg);
    return rc;
}

const char *kc__ipc_desc(const kc_ipc_conn_t *c, uint64_t *reg_id)
{
    if (reg_id != NULL)
        *reg_id = c->reg_id;
    return c->desc;
}

void kc__ipc_unregister(kc_ipc_conn_t *c)
{
    kc_registry_remove(c->reg);
    c->reg = NULL;
}
