/* kc_mux_impl.h - private to the channel layer (lab/mux): streams, credit, the transmit scheduler.
 *
 * One `struct kc_mux` per connection, attached to it as its channel layer
 * (graduated/ipc_posix_co/kc_ipc_svc.h). One lock (`lock`) guards everything of the
 * mux and its streams; it is never held across a park, a transport call
 * or a channel call, and the connection is only called under it through
 * kc__ipc_layer_kick (the connection never calls in with its own lock
 * held). Every stream is one channel seen from both sides: the importer's
 * stream backs a remote kc_chan_t, the exporter's moves elements between
 * the wire and the exported local channel with two pump tasks.
 *
 * Stream ids: the importer picks an id (1, 2, ...); a frame about a stream
 * carries the id with bit 31 set when its sender is the exporter of that
 * stream, so the two sides' ids never collide.
 *
 * Invariants (kc__mux_check):
 *   M1 a stream is in the active ring iff it has bytes queued not yet on
 *      the wire (out_unsent > 0) and is not dead;
 *   M2 out_queued - out_wire_elems = elements queued not yet fully on the
 *      wire <= peer_limit - out_wire_elems (credit covers every queued one);
 *   M3 for every stream, in_recv_seq <= granted (the peer never exceeds the
 *      credit we gave: checked on arrival, -EPROTO otherwise), and
 *      conn_rx_bytes <= conn_granted likewise;
 *   M4 granted, peer_limit, conn_granted and conn_peer_limit never
 *      decrease (absolute limits: a stale grant is ignored);
 *   M5 rx_held (bytes in inboxes) <= conn window.
 */
#ifndef KCORO_KC_MUX_IMPL_H
#define KCORO_KC_MUX_IMPL_H

#include "kcoro/mux.h"
#include "kcoro/park.h"
#include "kcoro/registry.h"

#include "chan/kc_chan_svc.h"
#include "ipc_posix_co/kc_ipc_svc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Control operations of a CHAN frame (its payload's first byte). */
enum {
    KC_MUX_OPEN = 1,      /* importer -> exporter: payload = name */
    KC_MUX_OPEN_OK = 2,   /* exporter: kind, capacity, elem_size, window */
    KC_MUX_OPEN_ERR = 3,  /* exporter: why (KC_MUX_ERR_*) */
    KC_MUX_CREDIT = 4,    /* either: absolute element limit (stream) or byte limit (chan_id 0) */
    KC_MUX_CLOSE = 5,     /* either: the sender's side closed; final element count */
    KC_MUX_VERDICT = 6,   /* exporter: rendezvous element `id` delivered (0) or not (why) */
    KC_MUX_CANCEL = 7,    /* importer: withdraw rendezvous element `id` if not delivered */
    KC_MUX_RESET = 8,     /* either: the stream is gone */
    KC_MUX_PROBE = 9,     /* either, chan_id 0: answer d at once (PROBE_ACK) */
    KC_MUX_PROBE_ACK = 10 /* either, chan_id 0: the answer to PROBE d */
};

/* Why an OPEN failed, on the wire. */
enum {
    KC_MUX_ERR_NOENT = 1,  /* nothing exported under the name: -ENOENT */
    KC_MUX_ERR_NOTSUP = 2, /* cannot be imported: -ENOTSUP */
    KC_MUX_ERR_NOMEM = 3   /* the exporter ran out of memory: -ENOMEM */
};

/* Verdict codes of a rendezvous element. */
enum {
    KC_MUX_V_DELIVERED = 0,
    KC_MUX_V_WITHDRAWN = 1, /* the importer's CANCEL won: not delivered */
    KC_MUX_V_CLOSED = 2     /* the exported channel was closed: not delivered */
};

#define KC_MUX_ID_EXPORTER 0x80000000u /* bit 31 of chan_id: sent by the exporter */
#define KC_MUX_CTL_SIZE 16             /* fixed part of a CHAN payload */
#define KC_MUX_HEAD_SIZE 8             /* a descriptor's HEAD frame: its length */
#define KC_MUX_DESC_WINDOW 64          /* the most descriptors a stream reserves for */

/* A CHAN message: op, u8 a, u16 b, u32 c, u64 d (then a name for OPEN). */
typedef struct kc_mux_ctl {
    uint8_t op;
    uint8_t a;  /* OPEN_OK: kind; VERDICT: code; OPEN_ERR: why */
    uint16_t b; /* reserved (0) */
    uint32_t c; /* OPEN_OK: elem_size */
    uint64_t d; /* OPEN_OK: capacity; CREDIT: limit; CLOSE: final count */
} kc_mux_ctl_t;

/* Encode m into out[0..KC_MUX_CTL_SIZE). */
void kc__mux_ctl_encode(const kc_mux_ctl_t *m, uint8_t *out);
/* Decode p[0..len): 0 or -EPROTO (short, unknown op, nonzero reserved). */
int kc__mux_ctl_decode(const uint8_t *p, size_t len, kc_mux_ctl_t *m /* OUT */);

/* One queued control frame. */
struct kc_mux_ctlitem {
    struct kc_mux_ctlitem *next;
    uint32_t chan_id, id;
    uint32_t len;
    uint8_t data[]; /* KC_MUX_CTL_SIZE + name */
};

/* Outgoing bytes of a stream: whole elements, appended at fill. */
struct kc_mux_chunk {
    struct kc_mux_chunk *next;
    uint32_t cap, fill, sent; /* bytes */
    uint32_t pad;             /* data 8-aligned: a descriptor stream's kc_zdesc_t */
    uint8_t data[];
};

/* Received bytes of a stream: a frame's payload, read from off. */
struct kc_mux_inbuf {
    struct kc_mux_inbuf *next;
    uint8_t *buf; /* the transport's allocation, freed when read */
    uint32_t off, len;
};

/* One waiter parked on a stream or the mux. */
struct kc_mux_wait {
    struct kc_mux_wait *next;
    kc_parker_t *p;
};

enum {
    ST_OPENING = 0, /* importer: OPEN sent, no answer yet */
    ST_OPEN = 1,
    ST_DEAD = 2 /* reset, refused, or the connection died (dead_rc) */
};

struct kc_mux;

struct kc_mux_stream {
    struct kc_mux *mux;
    uint32_t id;   /* the importer's id (without the direction bit) */
    bool exporter; /* our role */
    int state;
    int dead_rc;   /* ST_DEAD: what waiting calls get */
    int open_rc;   /* importer: the OPEN's answer */
    uint32_t refs; /* the map, the proxy, pumps, an in-flight frame (under lock) */
    uint8_t kind;  /* kc_chan_kind_t */
    bool rendezvous;
    uint32_t elem; /* element size */
    uint64_t capacity;
    kc_chan_t *ch;             /* exporter: the local channel; importer: the proxy */
    struct kc_mux_export *exp; /* exporter: its export */
    uint32_t inside;           /* importer: calls inside the proxy's operations */
    /* ---- sending half */
    uint64_t out_queued; /* elements ever accepted for sending */
    uint64_t out_wire;   /* elements ever fully on the wire */
    uint64_t peer_limit; /* absolute: elements we may accept (M2, M4) */
    uint32_t out_frag;   /* bytes of the element at out_wire already sent (fragments) */
    struct kc_mux_chunk *out_head, *out_tail;
    uint64_t out_unsent; /* bytes queued, not yet on the wire */
    bool local_closed;   /* we closed our side (no more sends) */
    bool close_sent;
    uint64_t verdict_seq; /* importer rendezvous: verdicts received (count) */
    int verdict_code;     /* the last one's code */
    bool cancel_sent;     /* for the element awaiting its verdict */
    /* ---- receiving half */
    uint64_t in_seq;       /* elements ever received (next expected sequence) */
    uint64_t in_taken;     /* elements ever taken by the consumer */
    uint64_t granted;      /* absolute limit we advertised (M3, M4) */
    uint64_t want;         /* the limit we mean to advertise next */
    uint32_t window;       /* elements */
    uint32_t waiting_recv; /* importer rendezvous: receivers waiting */
    bool recv_started;     /* importer: a receive has asked for elements */
    bool peer_closed;      /* the peer's CLOSE arrived */
    uint64_t peer_final;   /* ... with its final count */
    struct kc_mux_inbuf *in_head, *in_tail;
    uint8_t *reasm; /* an element arriving in fragments */
    uint32_t reasm_len;
    /* exporter rendezvous: the element the inbound pump is delivering */
    uint64_t pump_seq;
    kc_cancel_t *pump_cancel; /* fires on the importer's CANCEL for pump_seq */
    uint64_t cancel_upto;     /* CANCEL received for every seq < this */
    bool pump_busy;           /* the inbound pump holds an element outside the lock */
    kc_cancel_t *life;        /* exporter: fires at reset or the connection's end */
    bool outbound_started;
    /* ---- scheduling */
    struct kc_mux_stream *act_next, *act_prev; /* an active ring (M1) */
    bool active;
    bool is_new;      /* in the ring of new streams (kc_mux.c) */
    bool bulky;       /* its last active spell sent more than KC_MUX_SPARSE bytes */
    uint64_t spell;   /* bytes sent since it became active */
    uint32_t deficit; /* DRR, bytes */
    bool ctl_dirty;   /* a credit to announce */
    struct kc_mux_stream *dirty_next;
    struct kc_mux_stream *map_next; /* hash chain */
    struct kc_mux_wait *send_waiters, *recv_waiters, *verdict_waiters;
    struct kc_mux_reg *reg; /* importer: its listing (kc_mux_registry.c), or NULL */
    /* ---- descriptor streams (kc_mux_stream.c, "Descriptors"): elem is
     * sizeof(kc_zdesc_t) in our queues and inboxes, payloads travel as a
     * HEAD frame (their length) and BODY frames gathered from the arena */
    bool desc;
    kc_arena_t *arena;         /* payloads sent come from it, received ones go to it */
    uint32_t max_desc;         /* the longest payload (both directions) */
    kc_arena_ticket_t *pool;   /* D2: buffers of max_desc bytes reserved for credit */
    uint32_t pool_n, pool_cap; /* reserved now, wanted (the window) */
    kc_arena_ticket_t din_t;   /* the payload arriving (din_total > 0) */
    uint8_t *din_ptr;
    uint32_t din_total, din_got;
};

struct kc_mux_export {
    struct kc_mux_export *next;
    char name[KC_MUX_NAME_MAX + 1];
    kc_chan_t *ch;
    kc_mux_export_opts_t opts;
    uint32_t streams;         /* open streams of this export */
    struct kc_mux_reg *reg;   /* its listing (kc_mux_registry.c), or NULL */
    uint64_t ret_in, ret_out; /* elements of its streams that left the map */
};

/* A listing in the registry: an imported stream (s) or an export (e). */
struct kc_mux_reg {
    kc_registry_node_t *node;
    struct kc_mux *m;
    struct kc_mux_stream *s;
    struct kc_mux_export *e;
    uint64_t conn_id, chan_id;
    char remote[KC_MUX_NAME_MAX + 1];
    char conn[KC_REGISTRY_NAME_MAX];
};

/* What the last pull handed to tx, until sent() settles it. */
struct kc_mux_inflight {
    struct kc_mux_stream *s; /* DATA: its stream (holds a ref), else NULL */
    struct kc_mux_ctlitem *ctl;
    uint8_t credit[KC_MUX_CTL_SIZE];
    uint32_t bytes;
    uint32_t elems; /* whole elements completed by the frame */
    bool frag_more;
    uint8_t head[8]; /* a descriptor's HEAD: its length, big-endian */
    kc_zdesc_t dref; /* D1: a BODY frame's own reference on its payload */
    bool has_dref;
};

struct kc_mux {
    pthread_mutex_t lock;
    kc_ipc_conn_t *conn; /* NULL once the connection's memory went */
    kc_sched_t *sched;
    uint32_t refs; /* the connection + every stream */
    bool dead;
    int dead_rc;
    uint32_t max_frame;
    uint32_t next_id;
    /* streams by (id, exporter), chained */
    struct kc_mux_stream **map;
    uint32_t map_mask, nstreams;
    struct kc_mux_export *exports;
    /* transmit */
    struct kc_mux_ctlitem *ctl_head, *ctl_tail;
    struct kc_mux_stream *dirty;   /* streams with a credit to announce */
    bool conn_dirty;               /* a connection credit to announce */
    struct kc_mux_stream *act;     /* the active ring's head (DRR) */
    struct kc_mux_stream *act_new; /* streams just activated, served first */
    bool tx_idle;                  /* the last pull found nothing: kick on new work */
    bool tx_drain;                 /* the last pull held bulk back (-EAGAIN): kick only
                                      for a frame that must not wait */
    /* the shallow link (kc_mux.c, "Shallow link") */
    uint32_t link_cap;  /* the link's send buffer (0: it cannot tell its queue) */
    uint32_t link_q;    /* its queue at the last look, bytes */
    uint64_t link_w;    /* bytes handed to tx since that look */
    uint64_t sparse_at; /* conn_tx when a sparse stream last sent */
    bool sparse_seen;   /* ... ever */
    struct kc_mux_inflight inflight;
    /* connection credit (bytes) */
    uint64_t conn_window;
    uint64_t conn_tx;         /* bytes of DATA ever sent */
    uint64_t conn_peer_limit; /* absolute: bytes we may send */
    uint64_t conn_rx;         /* bytes of DATA ever received */
    uint64_t conn_taken;      /* bytes ever consumed (or discarded) */
    uint64_t conn_granted;    /* absolute limit we advertised */
    uint64_t rx_held, rx_peak;
    /* the window's growth with the measured bandwidth-delay product
     * (kc_mux.c, "Window growth") */
    uint64_t conn_limit;    /* conn_window never grows beyond it */
    int64_t probe_t0;       /* a PROBE under way: when it was queued (0: none) */
    uint64_t probe_token;   /* its d */
    int64_t probe_prev_t;   /* the last answer (0: none yet) */
    uint64_t probe_prev_rx; /* ... and conn_rx then */
    uint64_t probe_next;    /* conn_rx from which the next PROBE may go */
    uint64_t rtt_min;       /* ns, the smallest PROBE round trip (0: none yet) */
    /* D5: the BODY frame rx reads straight into an arena buffer now (the
     * connection's rx_buf), at most one per connection */
    uint8_t *lent;                /* where it is being read (NULL: none) */
    struct kc_mux_stream *lent_s; /* whose payload (NULL once orphaned) */
    bool lent_orphan;             /* its stream ended: release lent_t once rx is done */
    kc_arena_ticket_t lent_t;
    kc_arena_t *lent_arena;
    struct kc_mux_wait *open_waiters; /* importers waiting for OPEN answers */
    kc_mux_stats_t st;
};

/* Four files, each calling only the ones below it:
 *   kc_mux.c          the connection's frames (rx, tx), the public calls
 *   kc_mux_stream.c   the elements of a stream: buffers, pumps, the proxy
 *   kc_mux_state.c    control messages, waiting, the stream table, the
 *                     active rings, references, credit bookkeeping
 *   kc_mux_registry.c the listings of imports and exports (registry) */

/* ---- kc_mux_registry.c */
/* Without m->lock: list an imported stream s (ch set) or an export e of
 * m, on connection c, when flags carry KC_MUX_REGISTER or the switch
 * covers remote channels; remote is the name on the wire, name the
 * registry's (NULL: remote). OUT *out: the listing, or NULL when none is
 * wanted. Returns 0 or -ENOMEM. */
int kc__mux_reg_add(struct kc_mux_reg **out /* OUT */, struct kc_mux *m, kc_ipc_conn_t *c,
                    struct kc_mux_stream *s, struct kc_mux_export *e, const char *remote,
                    const char *name, uint32_t flags);
/* Without m->lock: end a listing (NULL is fine). */
void kc__mux_reg_end(struct kc_mux_reg *r);
/* Under lock: stream s leaves the map; its export keeps its counts. */
void kc__mux_reg_retire(struct kc_mux_stream *s);

/* ---- kc_mux_state.c */
/* Under lock: a new stream of mux m (refs 1: the map's), or NULL. */
struct kc_mux_stream *kc__mux_stream_new(struct kc_mux *m, uint32_t id, bool exporter);
/* Under lock: look up / unlink a stream. */
struct kc_mux_stream *kc__mux_find(struct kc_mux *m, uint32_t id, bool exporter);
void kc__mux_unmap(struct kc_mux *m, struct kc_mux_stream *s);
/* Under lock: drop a reference; the last frees the stream (and may free
 * the mux: then returns true and the caller must not unlock m). */
bool kc__mux_stream_unref(struct kc_mux_stream *s);
/* Under lock: drop one reference of m; the last frees it (unlocked): true. */
bool kc__mux_unref(struct kc_mux *m);
/* Under lock: queue a control frame for stream s's peer. Returns 0 or -ENOMEM. */
int kc__mux_ctl(struct kc_mux *m, struct kc_mux_stream *s, const kc_mux_ctl_t *msg, uint32_t id,
                const char *name);
/* Under lock: tx has new work that must not wait (control, credit, a
 * sparse stream's element): wake it, even from a wait for the link to
 * drain. */
void kc__mux_kick(struct kc_mux *m);
/* Under lock: tx has new bulk work: wake it only if it found nothing. */
void kc__mux_kick_bulk(struct kc_mux *m);
/* A stream whose last active spell (from activation to its queue's end)
 * sent at most this many bytes is sparse: it joins the ring of new streams
 * when it becomes active again; a bulky one joins the old ring's tail. */
#define KC_MUX_SPARSE 4096u
/* While a sparse stream sent within the last this many bytes of DATA,
 * bulky streams keep the link shallow (kc_mux.c, "Shallow link"). */
#define KC_MUX_CALM (1u << 20)
/* Under lock: put s in the active ring if it has unsent bytes (M1). */
void kc__mux_activate(struct kc_mux *m, struct kc_mux_stream *s);
/* Under lock: take s out of its active ring (its deficit starts again at 0). */
void kc__mux_deactivate(struct kc_mux *m, struct kc_mux_stream *s);
/* Under lock: s, the head of its ring, ends its turn: a new stream moves to
 * the old ring's tail, an old one lets the next stream go first. */
void kc__mux_turn_over(struct kc_mux *m, struct kc_mux_stream *s);
/* Under lock: re-evaluate s's credit to announce; queue it when due. */
void kc__mux_grant(struct kc_mux *m, struct kc_mux_stream *s, bool now);
/* Under lock, descriptor streams: reserve buffers of max_desc bytes in
 * s->arena until pool_n = pool_cap (D2). Returns 0 or -ENOMEM (the arena
 * is full: fewer are reserved and the credit waits for them). */
int kc__mux_pool_fill(struct kc_mux_stream *s);
/* Under lock: release every reserved buffer and the payload arriving. */
void kc__mux_pool_free(struct kc_mux_stream *s);
/* Under lock: consumed bytes given back to the connection window. */
void kc__mux_conn_taken(struct kc_mux *m, uint64_t bytes);
/* Park on *list with m->lock held on entry and return. */
int kc__mux_wait(struct kc_mux *m, struct kc_mux_wait **list, int64_t timeout_ns,
                 const kc_cancel_t *cancel);
void kc__mux_wake(struct kc_mux_wait **list);
/* Check M1-M5 (lock held); 0 or the number of the first broken one. */
int kc__mux_check(struct kc_mux *m);

/* ---- kc_mux_stream.c */
/* Under lock: end stream s with rc (wakes everyone; an exporter's buffers
 * go to the undelivered account). */
void kc__mux_stream_kill(struct kc_mux_stream *s, int rc);
/* Under lock: accept one element for sending (credit checked by the
 * caller) and activate the stream. Returns 0 or -ENOMEM. */
int kc__mux_enqueue(struct kc_mux_stream *s, const void *elem);
/* Under lock: take one received element into out; true if there was one. */
bool kc__mux_take(struct kc_mux_stream *s, void *out);
/* rx: a DATA frame for s (p GIVEN; its h->len bytes of elements start at
 * p + base). Under lock. Returns 0 or -EPROTO. */
int kc__mux_on_data(struct kc_mux_stream *s, const kc_frame_hdr_t *h, uint8_t *p, uint32_t base);
/* The exporter's side of an OPEN (under lock): look up, create, answer,
 * start the inbound pump. */
void kc__mux_on_open(struct kc_mux *m, uint32_t id, const uint8_t *name, size_t len);
/* Exporter: start the outbound pump (under lock) once the importer asks. */
void kc__mux_start_outbound(struct kc_mux_stream *s);
/* Exporter: an importer's CANCEL for element seq (under lock). */
void kc__mux_on_cancel(struct kc_mux_stream *s, uint64_t seq);
/* Under lock: every element of s queued or arrived and not taken goes to
 * its undelivered account (E1 of kc_mux_stream.c). */
void kc__mux_drain(struct kc_mux_stream *s);
/* The proxy's operations (kc_chan_svc.h). */
extern const kc__chan_remote_ops_t kc__mux_proxy_ops;

/* ---- kc_mux.c */
/* The mux of c, attached on first use (with a window of conn_window bytes
 * growing up to conn_limit, or the defaults for 0). OUT *out. Errors:
 * -EPIPE (dead); -EBUSY (sizes given, the layer runs); -ENOMEM. */
int kc__mux_get(kc_ipc_conn_t *c, uint64_t conn_window, uint64_t conn_limit,
                struct kc_mux **out /* OUT */);

/* Extend a 32-bit wire sequence to the 64-bit count nearest to ref. */
static inline uint64_t kc__mux_seq64(uint64_t ref, uint32_t wire)
{
    return ref + (uint64_t)(int64_t)(int32_t)(wire - (uint32_t)ref);
}

#endif /* KCORO_KC_MUX_IMPL_H */
