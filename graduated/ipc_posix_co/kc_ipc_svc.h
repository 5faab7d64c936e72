/* kc_ipc_svc.h - the connection layer's service to the channel layer above it.
 *
 * A connection carries RPC itself; logical channels (lab/mux) ride on it
 * through one *channel layer* attached per connection: rx hands it every
 * DATA and CHAN frame as it arrives (in order, never reassembled: the
 * layer's frames of different channels interleave), and tx asks it for its
 * next frame whenever the link is free of control items, alternating with
 * RPC messages so neither starves the other. The layer keeps its own
 * control lane first in what it hands tx. A connection with no layer
 * attached drops DATA and CHAN frames (counted in `refused`) and answers
 * each non-empty CHAN frame with an empty one of the same chan_id and id
 * ("no channel layer here"), so a peer's open fails at once.
 *
 * Lifetime: the layer's arg stays valid until on_free, called once when
 * the connection's memory goes (after rx and tx ended and the user's
 * handle was closed); on_dead comes first, once, when the connection dies.
 * The connection never calls the layer with its own lock held, so the
 * layer may call kc__ipc_layer_kick under its lock (and must, when on_free
 * may run concurrently: on_free takes that lock first).
 */
#ifndef KCORO_KC_IPC_SVC_H
#define KCORO_KC_IPC_SVC_H

#include "kcoro/ipc.h"

#include <sys/uio.h>

/* What a channel layer does. Called without the connection's lock. */
typedef struct kc__ipc_layer_ops {
    /* rx: a DATA or CHAN frame h arrived; p (GIVEN, malloc'd, NULL when
     * h->len is 0) is its payload. Returns 0, or a negative errno that
     * ends the connection (-EPROTO for a violation). Must never wait. */
    int (*on_frame)(void *arg, const kc_frame_hdr_t *h, void *p);
    /* tx: fill *h and v[0..n) with the next frame to send, its payload in
     * n = 1 or 2 pieces (a DATA frame's credit prefix, then its elements;
     * the bytes stay the layer's until sent), and return n; or return 0
     * when there is none; or -EAGAIN when frames wait that should go only
     * once the link drained (kc__ipc_link_queued): tx then waits, holding
     * the link, until the link is writable again or the layer kicks, and
     * asks again. Never blocks. */
    int (*pull)(void *arg, kc_frame_hdr_t *h /* OUT */, struct iovec v[2] /* OUT */);
    /* tx: the frame of the last pull went out (rc 0) or not (rc < 0, the
     * connection is ending). Never blocks. */
    void (*sent)(void *arg, int rc);
    /* The connection died with rc (-ECONNRESET, -EPIPE, -EPROTO, ...).
     * Once. Never blocks. */
    void (*on_dead)(void *arg, int rc);
    /* The connection's memory goes: the layer lets go of it. Once. */
    void (*on_free)(void *arg);
    /* rx, may be NULL: before a DATA frame's payload is read, the buffer
     * to read it into (h->len bytes), or NULL for one the transport
     * allocates. A buffer given stays the layer's: on_frame gets it back
     * as p (not malloc'd), or, when the connection ends while reading it,
     * it is never touched again (the layer lets go of it at on_free at the
     * latest). Only transports that can read into a given buffer ask
     * (unix:). Called from rx, without the connection's lock. Never blocks. */
    void *(*rx_buf)(void *arg, const kc_frame_hdr_t *h);
} kc__ipc_layer_ops_t;

/* Attach the channel layer (ops, arg) to c, once per connection. Returns
 * 0; -EEXIST when one is attached already (*cur, if not NULL, gets its
 * arg; nothing changed); -EPIPE when c is dead; -EINVAL. Never blocks. */
int kc__ipc_layer_attach(kc_ipc_conn_t *c, const kc__ipc_layer_ops_t *ops, void *arg,
                         void **cur /* OUT */);

/* The layer has frames to send: make sure tx asks. Never blocks. */
void kc__ipc_layer_kick(kc_ipc_conn_t *c);

/* The bytes c's link holds written and not yet read by the peer (the
 * socket's send queue, SIOCOUTQ: the kernel's own accounting, a little
 * above the payload) in *queued and, when cap is not NULL, the size that
 * queue may reach (SO_SNDBUF as the kernel keeps it; a UNIX socket is
 * writable again once at most a quarter of it is queued). Returns 0, or
 * -ENOTSUP when the transport cannot tell (every one but unix:). One or
 * two system calls. Never blocks. */
int kc__ipc_link_queued(kc_ipc_conn_t *c, uint32_t *queued /* OUT */, uint32_t *cap /* OUT */);

/* The scheduler that runs c's coroutines, and its negotiated max frame. */
kc_sched_t *kc__ipc_sched(const kc_ipc_conn_t *c);
uint32_t kc__ipc_max_frame(const kc_ipc_conn_t *c);

/* c's name for monitors, whether the registry lists c or not ("to
 * tcp:10.0.0.1:7000", "from 10.0.0.2:51234", "from pid 4242", or the
 * name its options gave), BORROWED for c's life; *reg_id (may be NULL)
 * gets c's registry id, 0 when not listed. Never blocks. */
const char *kc__ipc_desc(const kc_ipc_conn_t *c, uint64_t *reg_id /* OUT */);

#endif /* KCORO_KC_IPC_SVC_H */
