/* kcoro/mux.h - remote channels: many channels of one process used from another, over one connection.
 *
 * A process *exports* a local channel under a name on a connection
 * (kc_ipc_export); its peer *imports* it (kc_ipc_import) and gets a
 * kc_chan_t on which the public channel calls work as on a local one:
 * kc_chan_send / kc_chan_recv and their try and timed variants,
 * cancellation, kc_chan_close, kc_chan_snapshot, kc_chan_dump,
 * kc_chan_destroy. A descriptor channel (elem_size 0 with an arena and a
 * max_desc_len) is exported too: its importer gives its own arena
 * (kc_mux_import_opts_t.arena) and uses kc_chan_send_desc /
 * kc_chan_recv_desc; payloads go from the sender's arena to the
 * receiver's, gathered from the arena when sent, into buffers reserved
 * before credit is granted when received (kc_arena_shrink), with the
 * checks and codes of a local descriptor channel. core/docs/IPC.md has
 * the table of what every result means remotely; core/docs/WIRE.md the
 * frames.
 *
 * Every imported channel is a *stream* of the connection's channel layer:
 * elements travel in DATA frames numbered per stream, a deficit round
 * robin shares the link among the streams that have data (one quantum of
 * max_frame bytes per turn, so a large element is cut into frames that
 * interleave with other streams' frames), and control frames (credit,
 * open, close, verdicts) go first. Credit, QUIC style: each side tells the
 * other the absolute number of elements (per stream) and bytes (per
 * connection) it may have sent so far; a stale or repeated grant changes
 * nothing. Credit is granted when the consumer takes an element, and sent
 * once a quarter of the window has been consumed, so a slow consumer holds
 * at most its window and the connection window bounds the receiver's
 * memory.
 *
 * Semantics in one paragraph (IPC.md has the table): a buffered send
 * returns 0 once the element is inside the window that the remote
 * channel's capacity grants; a rendezvous send returns 0 only after a
 * receiver in the other process took the element (its timeout or cancel
 * asks the exporter to withdraw it, and the answer decides: delivered
 * means 0). A close on either side reaches the other: receivers drain,
 * then -EPIPE. A lost connection closes every imported channel with
 * -ECONNRESET (waiting calls get it; receivers drain what arrived first).
 */
#ifndef KCORO_MUX_H
#define KCORO_MUX_H

#include "kcoro/chan.h"
#include "kcoro/ipc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* KC_MUX_NAME_MAX bounds an export's name in bytes (without the NUL). */
#define KC_MUX_NAME_MAX 64

/* KC_MUX_REGISTER, in kc_mux_export_opts_t.flags or
 * kc_mux_import_opts_t.flags, lists the exported or imported channel in
 * the registry (kcoro/registry.h, kind KC_REGISTRY_REMOTE_CHAN) with its
 * connection, peer and remote name; KCORO_REGISTRY=remote_chan (or all)
 * lists every one without the flag. The bit is KC_REGISTRY_FLAG. */
#define KC_MUX_REGISTER (1u << 31)

/* Options of kc_ipc_export. Initialise with KC_MUX_EXPORT_OPTS_INIT. */
typedef struct kc_mux_export_opts {
    uint32_t size;   /* sizeof(kc_mux_export_opts_t) */
    uint32_t window; /* elements a peer may have in flight towards ch
                        (0: the channel's capacity, at least 1; rendezvous: 1) */
    /* Elements a peer sent that never entered ch (ch closed first, the
     * stream reset, the connection lost): called once per element from
     * the connection's tasks, elem BORROWED for the call. May be NULL
     * (they are only counted: kc_mux_stats_t.undelivered). */
    kc_chan_undelivered_fn on_undelivered;
    void *undelivered_arg;
    uint32_t flags;   /* KC_MUX_REGISTER, or 0 */
    const char *name; /* the registry's name (NULL: the exported name) */
} kc_mux_export_opts_t;

/* KC_MUX_EXPORT_OPTS_INIT: every default. */
#define KC_MUX_EXPORT_OPTS_INIT                                                                    \
    {                                                                                              \
        sizeof(kc_mux_export_opts_t), 0, NULL, NULL, 0, NULL                                       \
    }

/* Options of kc_ipc_import. Initialise with KC_MUX_IMPORT_OPTS_INIT. */
typedef struct kc_mux_import_opts {
    uint32_t size;      /* sizeof(kc_mux_import_opts_t) */
    uint32_t window;    /* elements the exporter may send ahead of our receives
                           (0: the remote capacity, at least 1; rendezvous:
                           one per waiting receiver) */
    int64_t timeout_ns; /* for the open handshake (KC_NO_TIMEOUT: wait) */
    const char *name;   /* the imported channel's local name (NULL: the export's) */
    /* Elements that will never be received (the channel destroyed with
     * elements that arrived, sends that never left when the connection
     * died), as on a local channel (kcoro/chan.h). May be NULL. */
    kc_chan_undelivered_fn on_undelivered;
    void *undelivered_arg;
    /* KC_MUX_REGISTER, or 0: the channel is listed twice, as a channel
     * (KC_REGISTRY_CHAN, its local face: the name above) and as a remote
     * channel (its connection and remote name) */
    uint32_t flags;
    /* A descriptor channel's arena (BORROWED: it must outlive the
     * channel, and its connection if the channel may end while a payload
     * is arriving): payloads received arrive in it, reserved before credit is
     * granted (window x the export's max_desc_len), and payloads sent must
     * come from it. Required when the export is a descriptor channel
     * (-EINVAL otherwise); ignored for copied elements. */
    kc_arena_t *arena;
} kc_mux_import_opts_t;

/* KC_MUX_IMPORT_OPTS_INIT: every default (a 5 s handshake). */
#define KC_MUX_IMPORT_OPTS_INIT                                                                    \
    {                                                                                              \
        sizeof(kc_mux_import_opts_t), 0, 5000000000, NULL, NULL, NULL, 0, NULL                     \
    }

/* Serve the local channel ch (copied elements, or descriptors with an
 * arena attached and max_desc_len set; BORROWED: it must outlive
 * the export, i.e. until kc_ipc_unexport or the connection's end) under
 * name on connection c; opts may be NULL. A peer's kc_ipc_import of the
 * name opens a stream whose elements the connection's tasks move into and
 * out of ch with kc_chan_send and kc_chan_recv.
 * Errors: -EINVAL (NULL, name empty or longer than KC_MUX_NAME_MAX, a
 * descriptor channel without an arena or with max_desc_len 0 or above
 * UINT32_MAX); -EEXIST (name exported on c already); -EPIPE (c is
 * dead); -ENOMEM. Never blocks. */
KC_API int kc_ipc_export(kc_ipc_conn_t *c, const char *name, kc_chan_t *ch,
                         const kc_mux_export_opts_t *opts);

/* Stop serving name on c: new imports fail with -ENOENT; streams opened
 * already are reset (their importers see -ECONNRESET) and their tasks end
 * before this returns, so ch may be destroyed afterwards.
 * Errors: -EINVAL; -ENOENT (not exported). Yields or blocks (briefly). */
KC_API int kc_ipc_unexport(kc_ipc_conn_t *c, const char *name);

/* Open the channel the peer exports under name on c. OUT *out: GIVES a
 * channel of the export's kind, capacity and element size; free it with
 * kc_chan_destroy() (which resets the stream), before or after c closes.
 * opts may be NULL. Errors: -EINVAL (also: a descriptor export and no
 * opts->arena); -ENOENT (nothing exported under the
 * name); -ENOMEM (also: the exporter's arena cannot reserve the window of
 * a descriptor channel); -ENOTSUP (the peer's channel cannot be imported); -ETIME (no
 * answer within opts->timeout_ns); -ECANCELED; -ECONNRESET / -EPIPE (the
 * connection died); -ENOMEM. Yields or blocks. */
KC_API int kc_ipc_import(kc_chan_t **out, kc_ipc_conn_t *c, const char *name,
                         const kc_mux_import_opts_t *opts, const kc_cancel_t *cancel);

/* The channel layer's counters of a connection, read with kc_mux_stats(). */
typedef struct kc_mux_stats {
    uint32_t size;              /* sizeof(kc_mux_stats_t); set by the caller */
    uint32_t streams;           /* streams open now (imported and exported) */
    uint64_t data_frames_out;   /* DATA frames sent */
    uint64_t data_frames_in;    /* DATA frames received */
    uint64_t ctl_frames_out;    /* CHAN frames sent */
    uint64_t ctl_frames_in;     /* CHAN frames received */
    uint64_t credit_frames_out; /* CHAN frames that carried credit */
    uint64_t elems_out;         /* elements sent on the wire */
    uint64_t elems_in;          /* elements received from the wire */
    uint64_t undelivered;       /* exported side: elements that never entered their channel */
    uint64_t dropped_in;        /* DATA for streams already gone (credit given back) */
    uint64_t direct;            /* exported side: elements rx put straight into their channel */
    uint64_t rx_bytes_held;     /* bytes received and not yet taken (bounded by the window) */
    uint64_t rx_bytes_peak;     /* the most rx_bytes_held has been */
    uint64_t conn_window;       /* our connection window in bytes */
    uint64_t cancels_out;       /* CANCELs sent: rendezvous sends that gave up waiting */
    uint64_t cancels_in;        /* CANCELs received (exported rendezvous channels) */
    uint64_t credit_piggy_out;  /* credits sent inside DATA frames (KC_FRAME_F_CREDIT) */
    uint64_t credit_piggy_in;   /* credits received inside DATA frames */
    uint64_t conn_limit;        /* the most conn_window may grow to (bytes) */
    uint64_t window_grows;      /* times conn_window grew with the measured BDP */
    uint64_t rtt_min_ns;        /* smallest PROBE round trip measured (0: none yet) */
    uint64_t bdp_bytes;         /* the last bandwidth-delay product measured */
    uint64_t probes_out;        /* PROBEs sent to measure it */
    uint64_t desc_bytes_direct; /* descriptor payload bytes read straight into our arena */
    uint64_t desc_bytes_copied; /* ... copied into it from a transport's buffer */
    uint64_t link_waits;        /* times bulk data waited for the link to drain, so that
                                   a sparse stream's data went behind at most half of
                                   the link's buffer (core/docs/IPC.md) */
} kc_mux_stats_t;

/* Read c's channel-layer counters into *out (set out->size first); all
 * zero when no channel was exported or imported on c.
 * Errors: -EINVAL. Never blocks. */
KC_API int kc_mux_stats(kc_ipc_conn_t *c, kc_mux_stats_t *out /* INOUT */);

/* KC_MUX_CONN_WINDOW is the connection window each side grants at first
 * by default (bytes the peer may have sent and we have not consumed):
 * 4 MiB. It grows with the measured bandwidth-delay product up to the
 * connection's memory limit (KC_MUX_CONN_LIMIT; IPC.md). Change both per
 * connection with kc_mux_set_conn_memory (or fix the window with
 * kc_mux_set_conn_window) before the first export or import. */
#define KC_MUX_CONN_WINDOW (4u << 20)

/* KC_MUX_CONN_LIMIT is the default memory limit of a connection's receive
 * side: the most its window grows to (16 MiB). */
#define KC_MUX_CONN_LIMIT (16u << 20)

/* KC_MUX_CONN_MIN is the smallest connection window (64 KiB): what a side
 * may send before the peer's first grant arrives. */
#define KC_MUX_CONN_MIN (64u << 10)

/* Set the connection window (bytes, at least KC_MUX_CONN_MIN) this side grants on
 * c; call before c's first kc_ipc_export / kc_ipc_import.
 * Errors: -EINVAL (NULL, too small); -EBUSY (the layer runs already).
 * Never blocks. */
KC_API int kc_mux_set_conn_window(kc_ipc_conn_t *c, uint32_t bytes);

/* Set the connection window this side grants at first (window bytes) and
 * the memory limit it may grow to with the measured bandwidth-delay
 * product (limit bytes: the most received and not yet consumed data c ever
 * holds); KC_MUX_CONN_MIN <= window <= limit. kc_mux_set_conn_window(c, b)
 * is kc_mux_set_conn_memory(c, b, b): a window that never grows. Call
 * before c's first kc_ipc_export / kc_ipc_import.
 * Errors: -EINVAL (NULL, too small, window > limit); -EBUSY (the layer
 * runs already). Never blocks. */
KC_API int kc_mux_set_conn_memory(kc_ipc_conn_t *c, uint32_t window, uint32_t limit);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_MUX_H */
