/* kc_mux_registry.c - imported and exported channels in the registry (kcoro/registry.h).
 *
 * An imported channel or an export is listed, as kind
 * KC_REGISTRY_REMOTE_CHAN, when its options carry KC_MUX_REGISTER or the
 * process-wide switch covers remote channels (KCORO_REGISTRY=remote_chan
 * or all, KCORO_MONITOR, kc_registry_configure): an import from its
 * kc_ipc_import to its kc_chan_destroy, an export from kc_ipc_export to
 * kc_ipc_unexport or the end of its connection's memory. Its labels say
 * what it is attached to: role (imported, exported), remote (the name on
 * the wire), conn (the connection's name, kc__ipc_desc: "to
 * tcp:10.0.0.1:7000", "from 10.0.0.2:51234"), conn_id (the connection's
 * registry id when it is listed too) and chan_id (the local channel: the
 * imported proxy, or the exported channel), so a monitor joins it with
 * the connection's and the channel's own entries. Its metrics are read
 * under the mux lock; an export's counters add those of the streams that
 * ended (kc__mux_reg_retire), so they never go down.
 *
 * Lock order: registry, then mux. Listing and unlisting therefore happen
 * with the mux lock free (the registry waits for a walk in progress,
 * which may be waiting for the mux lock). The bottom of lab/mux: it calls
 * nothing of the other files.
 */
#include "kc_mux_impl.h"

#include "kcoro/registry.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A stream's state as a number (kcoro_remote_chan_state). */
static double state_of(const struct kc_mux *m, int st)
{
    if (m->dead || st == ST_DEAD)
        return 2;
    return st == ST_OPEN ? 1 : 0;
}

/* Runs inside kc_registry_foreach: the registration keeps r, its stream
 * or export and the mux alive; the mux lock is never held here across
 * anything but reads. */
static int remote_metrics(void *object, kc_registry_emit_fn emit, void *ctx)
{
    const struct kc_mux_reg *r = object;
    struct kc_mux *m = r->m;
    const kc_registry_metric_type_t C = KC_REGISTRY_COUNTER, G = KC_REGISTRY_GAUGE;
    pthread_mutex_lock(&m->lock);
    if (r->s != NULL) { /* imported */
        const struct kc_mux_stream *s = r->s;
        double sent = (double)s->out_wire, recv = (double)s->in_seq;
        double queued = (double)(s->out_queued - s->out_wire);
        double inbox = (double)(s->in_seq - s->in_taken);
        double credit = s->peer_limit > s->out_queued ? (double)(s->peer_limit - s->out_queued) : 0;
        double window = s->window, state = state_of(m, s->state), closed = s->peer_closed;
        pthread_mutex_unlock(&m->lock);
        emit(ctx, "sent_elements", C, sent, "Elements sent to the peer, whole on the wire.");
        emit(ctx, "received_elements", C, recv, "Elements received from the peer.");
        emit(ctx, "queued_elements", G, queued, "Elements accepted, not yet on the wire.");
        emit(ctx, "inbox_elements", G, inbox, "Elements received, not yet taken.");
        emit(ctx, "send_credit", G, credit, "Elements the peer's credit still allows.");
        emit(ctx, "window", G, window, "Elements the peer may send ahead of our receives.");
        emit(ctx, "state", G, state, "0 opening, 1 open, 2 dead (reset or connection lost).");
        emit(ctx, "peer_closed", G, closed, "1 once the peer closed its side.");
        return 0;
    }
    const struct kc_mux_export *e = r->e; /* exported */
    uint64_t sent = e->ret_out, recv = e->ret_in, inbox = 0;
    uint32_t live = 0;
    for (uint32_t i = 0; i <= m->map_mask && m->map != NULL; i++) {
        for (const struct kc_mux_stream *s = m->map[i]; s; s = s->map_next) {
            if (s->exp != e)
                continue;
            sent += s->out_wire;
            recv += s->in_seq;
            inbox += s->in_seq - s->in_taken;
            live += s->state != ST_DEAD;
        }
    }
    double opens = e->streams, state = m->dead ? 2 : 1;
    pthread_mutex_unlock(&m->lock);
    emit(ctx, "sent_elements", C, (double)sent, "Elements sent to the peer, whole on the wire.");
    emit(ctx, "received_elements", C, (double)recv, "Elements received from the peer.");
    emit(ctx, "inbox_elements", G, (double)inbox, "Elements received, not yet in the channel.");
    emit(ctx, "opens", C, opens, "Imports the peer opened on the export.");
    emit(ctx, "streams", G, (double)live, "Imports open now.");
    emit(ctx, "state", G, state, "0 opening, 1 open, 2 dead (reset or connection lost).");
    return 0;
}

static int remote_labels(void *object, kc_registry_label_fn emit, void *ctx)
{
    const struct kc_mux_reg *r = object;
    char num[24];
    emit(ctx, "role", r->s != NULL ? "imported" : "exported");
    emit(ctx, "remote", r->remote);
    emit(ctx, "conn", r->conn);
    if (r->conn_id != 0) {
        snprintf(num, sizeof num, "%" PRIu64, r->conn_id);
        emit(ctx, "conn_id", num);
    }
    snprintf(num, sizeof num, "%" PRIu64, r->chan_id);
    emit(ctx, "chan_id", num);
    return 0;
}

static const kc_registry_ops_t remote_ops = {sizeof(kc_registry_ops_t), remote_metrics,
                                             remote_labels};

int kc__mux_reg_add(struct kc_mux_reg **out, struct kc_mux *m, kc_ipc_conn_t *c,
                    struct kc_mux_stream *s, struct kc_mux_export *e, const char *remote,
                    const char *name, uint32_t flags)
{
    *out = NULL;
    if (!kc_registry_wants(KC_REGISTRY_REMOTE_CHAN, flags))
        return 0;
    struct kc_mux_reg *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -ENOMEM;
    r->m = m;
    r->s = s;
    r->e = e;
    r->chan_id = kc_chan_id(s != NULL ? s->ch : e->ch);
    snprintf(r->remote, sizeof r->remote, "%s", remote);
    snprintf(r->conn, sizeof r->conn, "%s", kc__ipc_desc(c, &r->conn_id));
    int rc = kc_registry_add(KC_REGISTRY_REMOTE_CHAN, r, 0, name != NULL ? name : remote,
                             &remote_ops, &r->node);
    if (rc < 0) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void kc__mux_reg_end(struct kc_mux_reg *r)
{
    if (r == NULL)
        return;
    kc_registry_remove(r->node);
    free(r);
}

void kc__mux_reg_retire(struct kc_mux_stream *s)
{
    if (s->exporter && s->exp != NULL) {
        s->exp->ret_out += s->out_wire;
        s->exp->ret_in += s->in_seq;
    }
}
