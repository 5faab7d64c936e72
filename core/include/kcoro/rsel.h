/* kcoro/rsel.h - remote select: channels of another process as clauses of kc_chan_select.
 *
 * A process that owns a channel serves it to its peers (an *owner*); a peer
 * imports it (a *client* holds the protocol state of one connection) and
 * gets a kc_chan_t whose select clauses, send and receive, mix with local
 * clauses in kc_chan_select, biased or unbiased, with timeouts and
 * cancellation, from coroutines and threads, with local select's result
 * codes. Plain kc_chan_send / kc_chan_recv on it work too. Exactly one
 * clause completes, and an element leaves the owner's channel only for the
 * select that returns it:
 *
 *   selector                          owner
 *      | REGISTER #n (lease) -------->|   subscription n waits in line
 *      |<-------- NOTIFY #n ----------|   an element is reserved for n
 *    claim word: WAIT -> WON(n)       |   (or lost: CANCEL #n, passed on)
 *      | CLAIM #n ------------------->|
 *      |<-------- COMMIT #n (element)-|   taken from the channel only now
 *      |      or REJECT #n (gone) ----|   lease ran out: re-arm
 *
 * A reservation is held for its lease at most: a client that disappears
 * (killed, cut off, mute) loses it and the element goes to the next
 * subscriber, in the order it left the channel. core/docs/CHANNELS.md
 * ("Remote select") has the semantics, the costs and the messages;
 * core/model/select_remote.pml is the SPIN model of the exchange.
 *
 * Transports: the protocol needs one ordered, reliable stream per peer.
 * kc_rsel_attach carries it over a connection of kcoro/ipc.h (any URL:
 * unix:, mem:, tcp:, rel:...), through two remote channels of
 * kcoro/mux.h. kc_rsel_pipe_t is an in-process pair
 * with delay and jitter, for tests and demonstrations. Any other stream
 * works through kc_rsel_link_t (what a side sends) and kc_rsel_endpoint_t
 * (what it is given).
 *
 * Threads: an owner runs one thread; each attachment runs three (rx, tx and
 * a watch of the connection); a pipe runs two. Callbacks (deliver, lost)
 * run on those threads, never under the caller's locks.
 */
#ifndef KCORO_RSEL_H
#define KCORO_RSEL_H

#include "kcoro/base.h"
#include "kcoro/chan.h"
#include "kcoro/ipc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* KC_RSEL_MAX_PEERS is how many peers (connections) one owner serves, each
 * under a number 0..KC_RSEL_MAX_PEERS-1 chosen by the caller. */
#define KC_RSEL_MAX_PEERS 8

/* KC_RSEL_LEASE_MAX is the longest reservation an owner holds (1 s), and
 * the lease used when neither side names one. */
#define KC_RSEL_LEASE_MAX ((int64_t)1000000000)

/* ---- transports */

/* What one side sends through: send(ctx, msg, len) copies the message and
 * queues it for the peer, in order, and returns 0, or a negative errno when
 * the peer is gone (-EPIPE, -ECONNRESET) or memory ran out. It must not
 * block for long: owners and clients send with their locks held. */
typedef struct kc_rsel_link {
    int (*send)(void *ctx, const uint8_t *msg, size_t len);
    void *ctx;
} kc_rsel_link_t;

/* What one side is given: deliver(self, msg, len) for each message of the
 * peer, in order, msg BORROWED for the call; lost(self) once when the
 * stream ends. Filled by kc_rsel_owner_peer or kc_rsel_client_endpoint. */
typedef struct kc_rsel_endpoint {
    void (*deliver)(void *self, const uint8_t *msg, size_t len);
    void (*lost)(void *self);
    void *self;
} kc_rsel_endpoint_t;

/* ---- the owner of a channel */

typedef struct kc_rsel_owner kc_rsel_owner_t;

/* Serve the local channel ch (copied elements; BORROWED: ch outlives the
 * owner) to peers under the number chan_id, holding a reservation for
 * lease_ns at most (0: KC_RSEL_LEASE_MAX; a peer may ask for less; more is
 * capped). Starts one thread. OUT *out: GIVES an owner that
 * kc_rsel_owner_destroy frees. Errors: -EINVAL (NULL, negative lease, a
 * channel of descriptors), -ENOMEM, -EAGAIN (no thread). Never blocks. */
KC_API int kc_rsel_owner_create(kc_rsel_owner_t **out, kc_chan_t *ch, uint32_t chan_id,
                                int64_t lease_ns);

/* The endpoint through which peer number `peer`'s messages reach o (fill a
 * transport with it). Errors: -EINVAL (NULL, peer out of range). Never blocks. */
KC_API int kc_rsel_owner_peer(kc_rsel_owner_t *o, int peer, kc_rsel_endpoint_t *ep /* OUT */);

/* Send o's replies to peer number `peer` through l (copied); a peer lost
 * before may be linked again. Errors: -EINVAL (NULL, no send function, peer
 * out of range). Never blocks. */
KC_API int kc_rsel_owner_link(kc_rsel_owner_t *o, int peer, const kc_rsel_link_t *l);

/* An owner's accounting: taken == committed + held + returned at every
 * read (the owner's invariant O1). */
typedef struct kc_rsel_owner_stats {
    uint32_t size;         /* sizeof(kc_rsel_owner_stats_t); set by the caller */
    uint64_t taken;        /* elements taken from the channel */
    uint64_t committed;    /* receive claims committed (elements given away) */
    uint64_t sends;        /* send claims committed (elements put in) */
    uint64_t rejects;      /* claims rejected */
    uint64_t notifies;     /* NOTIFY messages sent */
    uint64_t released;     /* reservations released (cancel, lease, peer lost) */
    uint64_t expired;      /* of them, by their lease */
    uint64_t returned;     /* released elements no subscriber took within the
                           lease, put back into the channel (at its tail) */
    uint64_t held;         /* elements taken and not given away now */
    uint64_t waiting;      /* receive subscriptions waiting for an element now */
    uint64_t send_waiting; /* send subscriptions waiting for room now */
    uint64_t wakes;        /* times the owner's thread woke from a wait (it waits
                           for an element, room, a message that changes what
                           it waits for, or a lease: never on a clock tick) */
} kc_rsel_owner_stats_t;

/* KC_RSEL_OWNER_STATS_INIT: an empty kc_rsel_owner_stats_t with its size set. */
#define KC_RSEL_OWNER_STATS_INIT                                                                   \
    {                                                                                              \
        .size = sizeof(kc_rsel_owner_stats_t)                                                      \
    }

/* Read o's counters (set out->size first). Errors: -EINVAL (NULL, size too
 * small). Never blocks for long. */
KC_API int kc_rsel_owner_stats(kc_rsel_owner_t *o, kc_rsel_owner_stats_t *out /* INOUT */);

/* Stop o's thread; every element it still holds goes back into the channel
 * (in the order it left it) or, when the channel has no room or is closed,
 * is counted in *leftover (may be NULL) and dropped. Frees o; NULL is
 * ignored. Detach o's transports first (their callbacks must not run
 * after this). */
KC_API void kc_rsel_owner_destroy(kc_rsel_owner_t *o, uint64_t *leftover /* OUT */);

/* ---- the selector's side: one client per connection to an owner process */

typedef struct kc_rsel_client kc_rsel_client_t;

/* A client asking owners for lease_ns reservations (0: the owner's). OUT
 * *out: GIVES a client kc_rsel_client_destroy frees. Errors: -EINVAL (NULL,
 * negative), -ENOMEM. Never blocks. */
KC_API int kc_rsel_client_create(kc_rsel_client_t **out, int64_t lease_ns);

/* The endpoint through which the owner's messages reach c. Errors: -EINVAL.
 * Never blocks. */
KC_API int kc_rsel_client_endpoint(kc_rsel_client_t *c, kc_rsel_endpoint_t *ep /* OUT */);

/* Send c's messages to the owner through l (copied). Errors: -EINVAL (NULL,
 * no send function). Never blocks. */
KC_API int kc_rsel_client_link(kc_rsel_client_t *c, const kc_rsel_link_t *l);

/* Import the owner's channel chan_id through c as a channel of o's kind,
 * capacity and element size (they describe the owner's channel; the
 * elements stay there). Select clauses and plain sends and receives on it
 * speak the protocol; kc_chan_close on it only ends this side's use.
 * Results as on a local channel, plus -ECONNRESET once the connection is
 * lost. OUT *out: GIVES a channel that kc_chan_destroy frees (-EBUSY while
 * a call on it waits for an answer). Errors: -EINVAL (NULL, no element
 * size, descriptors), -ENOMEM. Never blocks. */
KC_API int kc_rsel_import(kc_chan_t **out, kc_rsel_client_t *c, uint32_t chan_id,
                          const kc_chan_opts_t *o);

/* A client's counters. */
typedef struct kc_rsel_client_stats {
    uint32_t size;       /* sizeof(kc_rsel_client_stats_t); set by the caller */
    uint64_t arms;       /* subscriptions sent (REGISTER) */
    uint64_t fires_won;  /* notifies that won their select's claim word */
    uint64_t fires_lost; /* notifies that came after their select was decided */
    uint64_t claims;     /* CLAIM messages sent */
    uint64_t commits;    /* claims committed */
    uint64_t rejects;    /* claims rejected */
    uint64_t stale;      /* notifies for subscriptions already ended */
} kc_rsel_client_stats_t;

/* KC_RSEL_CLIENT_STATS_INIT: an empty kc_rsel_client_stats_t with its size set. */
#define KC_RSEL_CLIENT_STATS_INIT                                                                  \
    {                                                                                              \
        .size = sizeof(kc_rsel_client_stats_t)                                                     \
    }

/* Read c's counters (set out->size first). Errors: -EINVAL. Never blocks
 * for long. */
KC_API int kc_rsel_client_stats(kc_rsel_client_t *c, kc_rsel_client_stats_t *out /* INOUT */);

/* Free c. Errors: -EBUSY while a channel it imported is not destroyed
 * (nothing freed); NULL is ignored (0). Detach c's transport first. */
KC_API int kc_rsel_client_destroy(kc_rsel_client_t *c);

/* ---- over a connection (kcoro/ipc.h with kcoro/mux.h's channels) */

/* KC_RSEL_ATTACH_ELEM_MAX is the largest element (bytes) of a channel
 * served or imported over an attachment: a message rides one record of a
 * remote channel. */
#define KC_RSEL_ATTACH_ELEM_MAX 230

typedef struct kc_rsel_attach kc_rsel_attach_t;

/* KC_RSEL_OWNER_SIDE and KC_RSEL_CLIENT_SIDE say which end of a connection
 * an attachment is: the process whose owners serve channels, or the one
 * whose client imports them. */
#define KC_RSEL_OWNER_SIDE 1
/* The importing end (see KC_RSEL_OWNER_SIDE). */
#define KC_RSEL_CLIENT_SIDE 2

/* KC_RSEL_ATTACH_OWNERS is how many owners (channels) one attachment of
 * the owners' side serves. */
#define KC_RSEL_ATTACH_OWNERS 16

/* Open the protocol on connection c as `side`: exports this side's inbox
 * ("rsel.owner" or "rsel.selector"), imports the other's, waiting up to
 * timeout_ns for the other end to attach (kcoro/base.h's timeout rule;
 * both ends attach, in either order), and starts three threads. One
 * attachment per side and connection. Then give it its owners
 * (kc_rsel_attach_owner) or its client (kc_rsel_attach_client); messages
 * for a channel whose owner is not attached yet are held for it (up to
 * 4096; a select on a channel nobody serves waits for its timeout). OUT *out: GIVES an attachment kc_rsel_detach ends. Errors:
 * -EINVAL (NULL, bad side), -ENOMEM, -EAGAIN (no thread), -ETIME (the
 * other end did not attach in time), and kc_ipc_export's and
 * kc_ipc_import's (-EEXIST: attached already). Blocks up to timeout_ns. */
KC_API int kc_rsel_attach(kc_rsel_attach_t **out, kc_ipc_conn_t *c, int side, int64_t timeout_ns);

/* Serve o to the other end of a's connection as o's peer number `peer`.
 * Errors: -EINVAL (NULL, not the owners' side, peer out of range),
 * -EMSGSIZE (o's elements are larger than KC_RSEL_ATTACH_ELEM_MAX), -EBUSY
 * (an owner of the same channel number attached already, or
 * KC_RSEL_ATTACH_OWNERS of them). Never blocks. */
KC_API int kc_rsel_attach_owner(kc_rsel_attach_t *a, kc_rsel_owner_t *o, int peer);

/* Carry cl's messages over a's connection to the owners at its other end.
 * Errors: -EINVAL (NULL, not the client's side), -EBUSY (a client attached
 * already). Never blocks. */
KC_API int kc_rsel_attach_client(kc_rsel_attach_t *a, kc_rsel_client_t *cl);

/* Stop a's threads, tell its owners and client that the stream ended
 * (their reservations are released, waiting selects on the client's
 * channels get -ECONNRESET), close its channels and free it; before or
 * after its connection is closed. Destroy the owners and the client after
 * this. NULL is ignored. */
KC_API void kc_rsel_detach(kc_rsel_attach_t *a);

/* ---- an in-process pair, for tests and demonstrations */

typedef struct kc_rsel_pipe kc_rsel_pipe_t;

/* A message crossing a pipe, for a trace (dir 0: from end 0 to end 1). */
typedef void (*kc_rsel_trace_fn)(void *arg, int dir, const uint8_t *msg, size_t len);

/* Options of kc_rsel_pipe_create. Initialise with KC_RSEL_PIPE_OPTS_INIT. */
typedef struct kc_rsel_pipe_opts {
    uint32_t size;          /* sizeof(kc_rsel_pipe_opts_t) */
    int64_t delay_ns;       /* one-way delay of every message */
    int64_t jitter_ns;      /* plus a uniform [0, jitter) (order is kept: a stream) */
    uint64_t seed;          /* of the jitter */
    kc_rsel_trace_fn trace; /* called for each message delivered (may be NULL) */
    void *trace_arg;
} kc_rsel_pipe_opts_t;

/* KC_RSEL_PIPE_OPTS_INIT: no delay, no jitter, no trace. */
#define KC_RSEL_PIPE_OPTS_INIT                                                                     \
    {                                                                                              \
        sizeof(kc_rsel_pipe_opts_t), 0, 0, 0, NULL, NULL                                           \
    }

/* A pipe whose end 0 delivers to e0 and end 1 to e1 (both copied); o may be
 * NULL (no delay). Starts two threads. OUT *out: GIVES a pipe
 * kc_rsel_pipe_destroy frees. Errors: -EINVAL (NULL, no deliver, bad size,
 * negative delay or jitter), -ENOMEM, -EAGAIN (no thread). Never blocks. */
KC_API int kc_rsel_pipe_create(kc_rsel_pipe_t **out, const kc_rsel_pipe_opts_t *o,
                               const kc_rsel_endpoint_t *e0, const kc_rsel_endpoint_t *e1);

/* Send len bytes (copied) from end `end` (0 or 1) to the other end.
 * Errors: -EINVAL, -EPIPE (cut), -ENOMEM. Never blocks for long. */
KC_API int kc_rsel_pipe_send(kc_rsel_pipe_t *p, int end, const uint8_t *msg, size_t len);

/* The link that sends from end `end` of p (valid while p lives).
 * Errors: -EINVAL. Never blocks. */
KC_API int kc_rsel_pipe_link(kc_rsel_pipe_t *p, int end, kc_rsel_link_t *out /* OUT */);

/* Cut p: messages in flight are dropped, each end's lost() runs once, and
 * later sends fail with -EPIPE. Idempotent; NULL is ignored. Never blocks
 * for long. */
KC_API void kc_rsel_pipe_cut(kc_rsel_pipe_t *p);

/* Cut p, join its threads and free it; NULL is ignored. */
KC_API void kc_rsel_pipe_destroy(kc_rsel_pipe_t *p);

/* Messages delivered so far in both directions (0 for NULL). */
KC_API uint64_t kc_rsel_pipe_messages(const kc_rsel_pipe_t *p);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_RSEL_H */
