/* kc_ipc_impl.h - private to the connection and RPC module.
 *
 * One mutex per connection (`lock`) guards its state word, the tx queue,
 * the awaiter map (futures by request id), the handler map (running
 * requests by id), the reassembly slot's owner and the counters that are
 * not atomics. It is never held across a park or a transport call.
 * Invariants (checked by kc__ipc_check()):
 *   C1 a future is in the awaiter map iff its state is PENDING;
 *   C2 tx_bytes is the sum of the lengths of the queued data items and
 *      never exceeds tx_cap by more than one item (an item is admitted
 *      whenever the queue is below its cap);
 *   C3 refs = 1 (the user's handle, until kc_ipc_close) + rx + tx
 *      + runners (running a handler or idle) + running inline handlers
 *      and reply tasks + live futures + the keep-alive timer while armed;
 *   C4 once state is DEAD the awaiter map is empty.
 */
#ifndef KCORO_KC_IPC_IMPL_H
#define KCORO_KC_IPC_IMPL_H

#include "kcoro/ipc.h"
#include "kcoro/park.h"
#include "kcoro/registry.h"
#include "kcoro/timer.h"

#include "kc_ipc_svc.h"
#include "kc_transport_impl.h"

#include <pthread.h>

/* An id -> node map (chained hash, power-of-two buckets, grows). */
struct kc_idmap_node {
    uint32_t id;
    struct kc_idmap_node *next;
};
struct kc_idmap {
    struct kc_idmap_node **b;
    uint32_t mask;
    uint32_t count;
};
int kc__idmap_init(struct kc_idmap *m);
void kc__idmap_free(struct kc_idmap *m);
struct kc_idmap_node *kc__idmap_find(const struct kc_idmap *m, uint32_t id);
void kc__idmap_put(struct kc_idmap *m, struct kc_idmap_node *n); /* may fail to grow: still adds */
bool kc__idmap_del(struct kc_idmap *m, struct kc_idmap_node *n);
/* Remove and return any node (NULL when empty). */
struct kc_idmap_node *kc__idmap_pop(struct kc_idmap *m);

enum {
    IPC_OPEN = 0,
    IPC_DRAINING = 1,
    IPC_DEAD = 2
};
enum {
    FUT_PENDING = 0,
    FUT_DONE = 1
};

/* One queued outgoing message: header fields, then prefix + data inline.
 * Messages of at most KC_IPC_ITEM_SMALL bytes (prefix included) get an item
 * of that room, which tx gives back to the connection's spare list after
 * sending (at most KC_IPC_SPARE_MAX kept) for the next message to reuse. */
enum {
    KC_IPC_ITEM_SMALL = 256,
    KC_IPC_SPARE_MAX = 64
};
struct kc_ipc_txitem {
    struct kc_ipc_txitem *next;
    uint8_t type;
    uint32_t chan_id, id;
    size_t len;     /* bytes at data */
    bool counted;   /* len counts against tx_cap */
    bool small;     /* room for KC_IPC_ITEM_SMALL bytes: reused (c->spare) */
    uint8_t data[]; /* len bytes */
};

struct kc_rpc_future {
    struct kc_idmap_node node; /* id = request id; in conn->awaiters while PENDING */
    kc_ipc_conn_t *conn;
    int state;
    int rc;
    uint8_t *buf; /* the reply message (prefix first) */
    size_t len;   /* bytes of buf */
    kc_parker_t *waiter;
    int64_t deadline; /* of the request (-1: none), for ETIME over ECANCELED */
};

/* A request running on this side. A task handler's record is its
 * runner's: a task of the connection that runs requests one after another
 * and, between them, waits in the connection's idle list (c->idle) for the
 * next, keeping its record, its cancellation token (replaced only after it
 * fired) and its stack; an inline handler's record is its own. */
struct kc_ipc_handler {
    struct kc_idmap_node node; /* id = the peer's request id */
    kc_ipc_conn_t *conn;
    kc_rpc_req_t req;
    kc_rpc_handler_t fn;
    void *arg;
    kc_cancel_t *cancel;
    kc_timer_t timer;
    _Atomic bool deadline_fired;
    bool timed; /* timer armed for this request's deadline */
    bool cancelled_by_peer;
    bool inline_run; /* KC_RPC_INLINE: run on rx (no token, no timer) */
    /* a runner's (set under conn->lock): its next request was handed to it
     * (has_job) or the connection ended (stop); idle_next links c->idle */
    _Atomic bool has_job, stop;
    struct kc_ipc_handler *idle_next;
    kc_parker_t park; /* the runner waits here while idle */
    uint8_t *msg;     /* the request message (prefix first); freed at the end */
    /* an inline handler's result, when its reply had to wait for room in
     * the queue (a task then queues it) */
    int rc;
    void *out;
    size_t out_len;
};

/* One waiter for room in the tx queue. */
struct kc_ipc_spacewait {
    struct kc_ipc_spacewait *next;
    kc_parker_t *p;
};

struct kc_ipc_conn {
    pthread_mutex_t lock;
    _Atomic uint32_t refs;
    kc_transport_t *tp;
    int attached_fd; /* tp's fd while attached to sched's poller, else -1 */
    kc_sched_t *sched;
    kc_rpc_router_t *router;
    kc_hello_t neg; /* negotiated */
    kc_cancel_t *life;
    kc_task_t *rx, *tx;
    int state;
    int dead_rc;
    bool peer_goaway;
    bool local_goaway;
    bool closed_by_user;
    uint32_t max_handlers;
    int64_t ping_ns, dead_ns;
    /* keep-alive (ping_ns >= 0): a timer every ping_ns, holding a
     * reference while armed; it counts the silence (no frame in since its
     * last look: frames_in still ka_seen) and sends PING or ends the link
     * (kc_ipc_conn.c, K1-K2); fields under lock */
    kc_timer_t ka;
    uint64_t ka_seen;
    int64_t ka_quiet;
    uint32_t ping_id;
    /* tx queue: control items first */
    struct kc_ipc_txitem *ctl_head, *ctl_tail, *data_head, *data_tail;
    size_t tx_bytes, tx_cap;
    uint32_t ctl_count;
    struct kc_ipc_txitem *spare; /* small items sent, for reuse */
    uint32_t spare_count;
    kc_parker_t *tx_waiter;
    bool tx_busy; /* the link's one writer is busy: tx with a batch or a
                   * layer frame, or a coroutine sending its own request
                   * or reply (kc__ipc_send_direct) */
    bool whole;   /* tp never cuts a small try-once frame (OPS_WHOLE) */
    struct kc_ipc_spacewait *space_waiters;
    /* waiters for DEAD (kc_ipc_wait_dead) and for drain (kc_ipc_shutdown) */
    struct kc_ipc_spacewait *state_waiters;
    /* requests: the message layer, ids, futures and handlers */
    const struct kc__ipc_msg_ops *msg;
    uint32_t next_id;
    uint32_t inline_queued; /* inline replies rx queued (rx only) */
    struct kc_idmap awaiters;
    struct kc_idmap handlers;
    struct kc_ipc_handler *idle; /* runners waiting for a request */
    uint32_t idle_count;
    bool accepted_any;
    uint32_t last_accepted;
    /* the channel layer (kc_ipc_svc.h), attached once */
    const kc__ipc_layer_ops_t *layer;
    void *layer_arg;
    bool layer_pending; /* the layer may have frames: tx asks it next */
    bool layer_turn;    /* tx alternates RPC data and the layer's frames */
    kc_cancel_t *drain; /* tx waits for the link to drain (the layer's -EAGAIN):
                           a kick fires it */
    /* counters (under lock unless atomic) */
    uint64_t frames_in, frames_out, req_sent, req_received, replies_sent, replies_taken,
        late_replies, cancels_sent, cancels_in, refused, pings_sent, pongs_in;
    uint64_t bytes_in, bytes_out; /* of those frames, headers included */
    /* the registry entry (kc_ipc_registry.c), or NULL */
    kc_registry_node_t *reg;
    /* its name, listed or not, and its id (0: not listed); set before
     * the connection is handed out, never changed (kc__ipc_desc) */
    char desc[KC_REGISTRY_NAME_MAX];
    uint64_t reg_id;
};

/* Take and drop a reference (C3). The last drop frees everything. */
void kc__ipc_ref(kc_ipc_conn_t *c);
void kc__ipc_unref(kc_ipc_conn_t *c);

/* End the connection with rc (first call wins): resolve every future,
 * cancel handlers, stop rx and tx. Takes and releases c->lock. */
void kc__ipc_die(kc_ipc_conn_t *c, int rc);

/* Queue a message. Control items (ctl: PING, PONG, CANCEL, GOAWAY) skip the
 * bound (at most 256 queued; more are dropped and -EBUSY); data items wait
 * for room as kc_rpc_send_timed says. `prefix` (KC_RPC_PREFIX_SIZE bytes
 * or NULL) and payload are copied. Returns 0 or a negative errno. */
int kc__ipc_enqueue(kc_ipc_conn_t *c, uint8_t type, uint32_t chan_id, uint32_t id,
                    const uint8_t *prefix, const void *payload, size_t len, bool ctl,
                    int64_t timeout_ns, const kc_cancel_t *cancel);

/* Send one message of KC_RPC_PREFIX_SIZE prefix bytes + payload from the
 * calling coroutine, bypassing the tx queue, when that keeps the order and
 * the one-writer rule and nothing would batch with it: the queue is empty,
 * no one is writing, the message fits one frame, and the caller is alone:
 * for a REPLY at most one handler runs (the caller), for a REQUEST at most
 * one future waits (the caller's). The caller then holds the link
 * (tx_busy) until the frame is out, waiting as tx would (timeout_ns
 * KC_NO_TIMEOUT, the connection's token), or not at all (timeout_ns 0: rx,
 * which must not wait for the link to drain, and a caller whose own
 * timeout and token bound only its wait for the queue, try once; only
 * over a transport that never cuts such a frame, KC_TRANSPORT_OPS_WHOLE,
 * and for frames of at most KC_TRANSPORT_WHOLE_MAX bytes). Returns 1 (not
 * taken, or the link full with nothing sent: queue it), 0 (sent) or a
 * negative errno (the link failed, or a frame went out in part: the
 * connection is ended as tx would end it). */
int kc__ipc_send_direct(kc_ipc_conn_t *c, uint8_t type, uint32_t chan_id, uint32_t id,
                        const uint8_t *prefix, const void *payload, size_t len, int64_t timeout_ns);

/* The message layer a connection hands complete messages to: requests,
 * replies and cancels arrive here, and the connection's end and a peer's
 * GOAWAY resolve its pending calls. kc_rpc.c provides the one table,
 * kc__rpc_msg_ops; kc_ipc.c gives it to every connection it opens. */
typedef struct kc__ipc_msg_ops {
    /* A complete REQUEST / REPLY message arrived (buf = prefix + data, GIVEN). */
    void (*on_request)(kc_ipc_conn_t *c, uint32_t chan_id, uint32_t id, uint8_t *buf, size_t len);
    void (*on_reply)(kc_ipc_conn_t *c, uint32_t id, uint8_t *buf, size_t len);
    void (*on_cancel)(kc_ipc_conn_t *c, uint32_t id);
    /* Resolve every pending future with rc (called with c->lock held). */
    void (*resolve_all)(kc_ipc_conn_t *c, int rc);
    /* GOAWAY arrived: resolve futures the peer never accepted (lock held). */
    void (*refuse_after)(kc_ipc_conn_t *c, bool any, uint32_t last);
} kc__ipc_msg_ops_t;

extern const kc__ipc_msg_ops_t kc__rpc_msg_ops;

/* Build a connection on tp (TAKES tp) whose messages go to msg, exchange
 * HELLOs, start rx and tx; "<dir> <peer>" names it in the registry.
 * Returns 0 with *out set, or a negative errno (tp closed). */
int kc__ipc_start(kc_transport_t *tp, const kc__ipc_msg_ops_t *msg, const kc_ipc_opts_t *o,
                  int64_t timeout_ns, const kc_cancel_t *cancel, const char *dir, const char *peer,
                  kc_ipc_conn_t **out);

/* Encode / decode the RPC prefix. */
void kc__rpc_prefix_put(uint8_t *p, uint16_t cmd, uint16_t status, uint32_t deadline_us);
void kc__rpc_prefix_get(const uint8_t *p, uint16_t *cmd, uint16_t *status, uint32_t *deadline_us);

/* Wake everyone parked on c's state changes (lock held). */
void kc__ipc_wake_state(kc_ipc_conn_t *c);

/* List c in the registry when flags carry KC_IPC_REGISTER or the
 * process-wide switch covers connections (kc_registry_wants), named given
 * (a server's: "<given> from <peer>") or "<dir> <peer>": 0 or -ENOMEM.
 * Unregister: NULL is fine, twice is fine. Neither may be called with
 * c->lock held (the registry's walk takes c->lock inside the registry
 * lock). */
int kc__ipc_register(kc_ipc_conn_t *c, uint32_t flags, const char *given, const char *dir,
                     const char *peer);
void kc__ipc_unregister(kc_ipc_conn_t *c);

/* Check C1-C4 (lock held); returns the number of the first broken one, or 0. */
int kc__ipc_check(kc_ipc_conn_t *c);

#endif /* KCORO_KC_IPC_IMPL_H */
