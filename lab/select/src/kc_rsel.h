/* kc_rsel.h - remote select: the claim protocol between a channel's owner and its selectors (lab).
 *
 * A process that owns a channel serves it to peers (kc_rsel_owner); a
 * peer imports it as a remote kc_chan_t (kc_rsel_import) whose select
 * operations (core/src/chan/kc_chan_svc.h) speak this protocol, so
 * kc_chan_select takes its clauses beside local ones. Messages (seed 001
 * N5's command numbers kept):
 *
 *   cmd  name             from      meaning
 *   ---  ---------------  --------  ---------------------------------------------
 *   32   SELECT_REGISTER  selector  subscribe `id` to op's readiness on `chan`
 *                                   (lease_ns: how long a reservation is held)
 *   33   SELECT_CANCEL    selector  end subscription `id` (its reservation, if
 *                                   any, goes to the next waiter)
 *   34   SELECT_NOTIFY    owner     `id` may proceed; for a receive, an element
 *                                   is reserved for it until its lease ends
 *   35   SELECT_CLAIM     selector  take the reservation of `id` (or, with
 *                                   KC_RSEL_PLAIN, whatever is there now); a
 *                                   send carries its element
 *   36   SELECT_COMMIT    owner     done: the element moved (a receive's rides
 *                                   along)
 *   37   SELECT_REJECT    owner     not done (`why`): re-arm and try again
 *
 * A message is a 24-byte header (cmd u8, op u8, why u16, chan u32, id u64,
 * lease_ns u64, network byte order) and, for a receive's COMMIT and a send's
 * CLAIM, the element. The selector's claim word decides before it claims
 * (kc_select_remote.c); core/model/select_remote.pml checks the whole
 * exchange in SPIN. The transport here is an in-process pipe with delay
 * and jitter (kc_rsel_pipe.c); the protocol needs only an ordered,
 * reliable stream, so lab/mux's connections can carry it.
 */
#ifndef KCORO_KC_RSEL_H
#define KCORO_KC_RSEL_H

#include "kcoro/chan.h"
#include "kcoro/ipc.h"

#include <stdbool.h>

#include <stddef.h>
#include <stdint.h>

/* The protocol's commands (table above). */
enum {
    KC_RSEL_REGISTER = 32,
    KC_RSEL_CANCEL = 33,
    KC_RSEL_NOTIFY = 34,
    KC_RSEL_CLAIM = 35,
    KC_RSEL_COMMIT = 36,
    KC_RSEL_REJECT = 37
};

/* op: which clause; KC_RSEL_PLAIN marks a claim without a reservation. */
enum {
    KC_RSEL_RECV = 1,
    KC_RSEL_SEND = 2,
    KC_RSEL_PLAIN = 0x80
};

/* Why a claim was rejected. */
enum {
    KC_RSEL_WHY_GONE = 1,  /* no reservation under that id (lease expired, stale) */
    KC_RSEL_WHY_EMPTY = 2, /* nothing to take, or no room */
    KC_RSEL_WHY_CLOSED = 3 /* the channel is closed (and drained, for a receive) */
};

#define KC_RSEL_HDR 24 /* bytes of a message's header */

/* A message's header. */
typedef struct kc_rsel_msg {
    uint8_t cmd, op;
    uint16_t why;
    uint32_t chan;
    uint64_t id;
    uint64_t lease_ns;
} kc_rsel_msg_t;

/* Encode m and elem_len bytes of elem into out (cap bytes). Returns the
 * length, or -EMSGSIZE when it does not fit. Never blocks. */
int kc__rsel_encode(const kc_rsel_msg_t *m, const void *elem, size_t elem_len, uint8_t *out,
                    size_t cap);
/* Decode p[0..len): 0, or -EPROTO (short, unknown command or op). OUT *m;
 * *elem and *elem_len name the bytes after the header. Never blocks. */
int kc__rsel_decode(const uint8_t *p, size_t len, kc_rsel_msg_t *m /* OUT */,
                    const uint8_t **elem /* OUT */, size_t *elem_len /* OUT */);

/* ---- transports
 *
 * Where one side's messages go: send(ctx, msg, len) copies msg and queues
 * it for the peer, in order; returns 0, or a negative errno when the peer
 * is gone (-EPIPE, -ECONNRESET) or memory ran out. Never blocks for long:
 * the owner and the client send with their locks held. The peer's
 * messages come back through a kc_rsel_endpoint_t (below). */
typedef struct kc_rsel_link {
    int (*send)(void *ctx, const uint8_t *msg, size_t len);
    void *ctx;
} kc_rsel_link_t;

/* ---- an in-process pipe between two ends (kc_rsel_pipe.c) */

/* Who receives at one end: deliver gets each message (BORROWED for the
 * call), in order, from the pipe's thread; lost once when the pipe is cut. */
typedef struct kc_rsel_endpoint {
    void (*deliver)(void *self, const uint8_t *msg, size_t len);
    void (*lost)(void *self);
    void *self;
} kc_rsel_endpoint_t;

typedef struct kc_rsel_pipe kc_rsel_pipe_t;

/* A message crossing the pipe, for a trace (dir 0: end 0 to end 1). */
typedef void (*kc_rsel_trace_fn)(void *arg, int dir, const uint8_t *msg, size_t len);

typedef struct kc_rsel_pipe_opts {
    int64_t delay_ns;  /* one-way delay of every message */
    int64_t jitter_ns; /* plus a uniform [0, jitter) (order is kept: a stream) */
    uint64_t seed;     /* of the jitter */
    kc_rsel_trace_fn trace;
    void *trace_arg;
} kc_rsel_pipe_opts_t;

/* A pipe whose ends deliver to e0 and e1 (copied). Errors: -EINVAL, -ENOMEM.
 * Starts two threads. */
int kc_rsel_pipe_create(kc_rsel_pipe_t **out, const kc_rsel_pipe_opts_t *o,
                        const kc_rsel_endpoint_t *e0, const kc_rsel_endpoint_t *e1);
/* Send len bytes from end `end` (0 or 1): copied and queued; 0, -EPIPE (cut)
 * or -ENOMEM. Never blocks for long (callers hold their own locks). */
int kc_rsel_pipe_send(kc_rsel_pipe_t *p, int end, const uint8_t *msg, size_t len);
/* The link that sends from end `end` of p (the pipe outlives its use).
 * Returns 0 or -EINVAL. */
int kc_rsel_pipe_link(kc_rsel_pipe_t *p, int end, kc_rsel_link_t *out /* OUT */);
/* Cut the connection: messages in flight are dropped and each end's lost()
 * runs once. Idempotent. Never blocks for long. */
void kc_rsel_pipe_cut(kc_rsel_pipe_t *p);
/* Cut, join the threads and free. */
void kc_rsel_pipe_destroy(kc_rsel_pipe_t *p);
/* Messages delivered so far (both directions). */
uint64_t kc_rsel_pipe_messages(kc_rsel_pipe_t *p);

/* ---- over a connection (kc_rsel_mux.c): each side exports a channel of
 * records as its inbox and imports the other's (graduated mux) */

#define KC_RSEL_MUX_REC 256 /* bytes of a record: u16 length, the message */

typedef struct kc_rsel_mux kc_rsel_mux_t;

/* Open the protocol's channels on connection c (the owner's side when
 * owner, else the selector's); the peer's messages go to ep (copied).
 * Waits up to timeout_ns for the peer to open its side (KC_NO_TIMEOUT:
 * for ever). Errors: -EINVAL, -ENOMEM, -ETIME, and kc_ipc_export's or
 * kc_ipc_import's. Starts two threads (kc_rsel_mux_start the third). */
int kc_rsel_mux_open(kc_rsel_mux_t **out, kc_ipc_conn_t *c, bool owner,
                     const kc_rsel_endpoint_t *ep, int64_t timeout_ns);
/* The link that sends to the peer over m. Returns 0 or -EINVAL. */
int kc_rsel_mux_link(kc_rsel_mux_t *m, kc_rsel_link_t *out /* OUT */);
/* Start delivering the peer's messages to the endpoint: after the owner
 * or client was given m's link (a message its receiver could not answer
 * would be lost). Returns 0, -EINVAL (started already) or -ENOMEM. */
int kc_rsel_mux_start(kc_rsel_mux_t *m);
/* Stop the threads, close the channels and free (before c is closed or
 * after). */
void kc_rsel_mux_close(kc_rsel_mux_t *m);

/* ---- the owner (kc_rsel_owner.c) */

typedef struct kc_rsel_owner kc_rsel_owner_t;

/* Serve the local channel ch (copied elements, BORROWED: it outlives the
 * owner) as `chan_id` to peers, holding a reservation lease_ns at most
 * (0: the peer's requested lease, capped at one second). Starts a thread.
 * Errors: -EINVAL (NULL, a descriptor channel), -ENOMEM. */
int kc_rsel_owner_create(kc_rsel_owner_t **out, kc_chan_t *ch, uint32_t chan_id, int64_t lease_ns);
/* The endpoint for peer number `peer` (0..KC_RSEL_MAX_PEERS-1) and the pipe end
 * replies go to. Returns 0 or -EINVAL. */
#define KC_RSEL_MAX_PEERS 8
int kc_rsel_owner_peer(kc_rsel_owner_t *o, int peer, kc_rsel_endpoint_t *ep /* OUT */);
int kc_rsel_owner_connect(kc_rsel_owner_t *o, int peer, kc_rsel_pipe_t *p, int end);
/* The same for any transport: replies to peer go through l (copied). */
int kc_rsel_owner_link(kc_rsel_owner_t *o, int peer, const kc_rsel_link_t *l);

/* The owner's accounting. */
typedef struct kc_rsel_owner_stats {
    uint64_t taken;     /* elements taken from the channel */
    uint64_t committed; /* receive claims committed (elements given away) */
    uint64_t sends;     /* send claims committed */
    uint64_t rejects;   /* claims rejected */
    uint64_t notifies;  /* NOTIFY sent */
    uint64_t released;  /* reservations released (cancel, lease, peer lost) */
    uint64_t expired;   /* of them by their lease */
    uint64_t held;      /* elements taken, not given away: reserved or returned */
} kc_rsel_owner_stats_t;
void kc_rsel_owner_stats(kc_rsel_owner_t *o, kc_rsel_owner_stats_t *out /* OUT */);

/* Stop: every element still held goes back into the channel (try-send, in
 * order) or, when it has no room, to *leftover (may be NULL). Frees. */
void kc_rsel_owner_destroy(kc_rsel_owner_t *o, uint64_t *leftover /* OUT */);

/* ---- the selector's side (kc_rsel_client.c) */

typedef struct kc_rsel_client kc_rsel_client_t;

/* A peer's protocol state over pipe end `end` of p. lease_ns: the lease it
 * asks the owner for. Errors: -EINVAL, -ENOMEM. */
int kc_rsel_client_create(kc_rsel_client_t **out, int64_t lease_ns);
int kc_rsel_client_endpoint(kc_rsel_client_t *c, kc_rsel_endpoint_t *ep /* OUT */);
int kc_rsel_client_connect(kc_rsel_client_t *c, kc_rsel_pipe_t *p, int end);
/* The same for any transport: messages to the owner go through l (copied). */
int kc_rsel_client_link(kc_rsel_client_t *c, const kc_rsel_link_t *l);

/* Import the owner's channel chan_id as a remote channel of o's kind,
 * capacity and element size: every select clause and plain call on it
 * speaks the protocol. OUT *out: GIVES a channel kc_chan_destroy frees.
 * Errors: -EINVAL, -ENOMEM. */
int kc_rsel_import(kc_chan_t **out, kc_rsel_client_t *c, uint32_t chan_id, const kc_chan_opts_t *o);

/* The client's counters. */
typedef struct kc_rsel_client_stats {
    uint64_t arms, fires_won, fires_lost, claims, commits, rejects, stale;
} kc_rsel_client_stats_t;
void kc_rsel_client_stats(kc_rsel_client_t *c, kc_rsel_client_stats_t *out /* OUT */);

/* Free (after every imported channel was destroyed and the pipe is gone). */
void kc_rsel_client_destroy(kc_rsel_client_t *c);

#endif /* KCORO_KC_RSEL_H */
