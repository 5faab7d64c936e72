/* kcoro/transport.h - the transport vtable: frames over any reliable link.
 *
 * A transport moves frames (a 16-byte header, core/docs/WIRE.md, plus a
 * payload) between two endpoints. kcoro's connections and RPC
 * (kcoro/ipc.h) sit on top and never look below this interface, so a new
 * transport plugs in by filling a kc_transport_ops_t and calling
 * kc_transport_register() with its URL scheme. Two backends are built in:
 *
 *   unix:/path/to/socket   UNIX stream socket with a file (mode 0600)
 *   unix:@name             UNIX stream socket with an abstract name (Linux)
 *   mem:name               in-process pair (tests, in-process services)
 *
 * TCP is the separate adapter library libkcoro-tcp (tcp://host:port),
 * compiled against these public headers only.
 *
 * Every call that waits takes a relative timeout (KC_NO_TIMEOUT: no limit;
 * 0 or any other negative value: try once; the rule of kcoro/base.h) and a
 * cancellation token, and parks the calling coroutine (or
 * blocks the calling thread); no worker thread ever blocks on I/O.
 * Per endpoint, at most one caller sends and one receives at a time (a
 * connection's tx and rx coroutines). A send that times out or is
 * cancelled after part of its frame went out leaves the endpoint broken:
 * later sends return -EPIPE. A receive that times out mid-frame keeps what
 * it read and resumes on the next call.
 *
 * The frame and HELLO codecs at the end are pure functions (no allocation,
 * no I/O): backends, connections and the fuzz target share them.
 */
#ifndef KCORO_TRANSPORT_H
#define KCORO_TRANSPORT_H

#include "kcoro/base.h"
#include "kcoro/cancel.h"

#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Frames                                                               */

/* KC_FRAME_HDR_SIZE is the size of an encoded frame header in bytes. */
#define KC_FRAME_HDR_SIZE 16
/* KC_WIRE_VERSION is the frame-format version this library speaks; it is
 * the first byte of every frame header. */
#define KC_WIRE_VERSION 1

/* Frame types (the header's second byte). Unknown types are -EPROTO. */
typedef enum kc_frame_type {
    /* HELLO: first frame each side sends; payload = kc_hello_t encoding. */
    KC_FRAME_HELLO = 1,
    /* PING: keep-alive probe; the peer answers PONG with the same id. */
    KC_FRAME_PING = 2,
    /* PONG: answer to PING, same id. */
    KC_FRAME_PONG = 3,
    /* GOAWAY: the sender accepts no new requests; id = last request id it
     * accepted; payload = 4-byte wire status (why). */
    KC_FRAME_GOAWAY = 4,
    /* REQUEST: an RPC request; id = request id; payload = RPC prefix +
     * argument (kcoro/ipc.h). */
    KC_FRAME_REQUEST = 5,
    /* REPLY: the answer to REQUEST id; payload = RPC prefix + result. */
    KC_FRAME_REPLY = 6,
    /* CANCEL: the caller no longer wants request id; no payload. */
    KC_FRAME_CANCEL = 7,
    /* DATA: elements of logical channel chan_id; id = the per-channel
     * sequence number of the first element (the channel layer, WIRE.md). */
    KC_FRAME_DATA = 8,
    /* CHAN: a control message of the channel layer (open, credit, close,
     * verdict, cancel, reset) for logical channel chan_id (WIRE.md). */
    KC_FRAME_CHAN = 9,
    /* SEG: a segment of the reliability layer (kcoro/rel.h) on an
     * unreliable link; id = sequence number; payload = CRC32C, timestamp,
     * then a piece of the inner frames' bytes (WIRE.md). */
    KC_FRAME_SEG = 10,
    /* ACK: the reliability layer's acknowledgement; id = the next sequence
     * number expected; payload = CRC32C, echoed timestamp, window, SACK
     * blocks (WIRE.md). */
    KC_FRAME_ACK = 11
} kc_frame_type_t;

/* KC_FRAME_TYPE_MAX is the largest frame type this version knows. */
#define KC_FRAME_TYPE_MAX 11

/* KC_FRAME_F_MORE: more frames of the same message follow (fragmentation:
 * a message larger than the negotiated max frame spans several frames). */
#define KC_FRAME_F_MORE 0x0001u
/* KC_FRAME_F_CREDIT: DATA frames only: the payload starts with one 16-byte
 * credit message of the channel layer, the elements follow (WIRE.md). On
 * any other type the flag is -EPROTO. */
#define KC_FRAME_F_CREDIT 0x0002u
/* KC_FRAME_F_KNOWN is every flag this version defines; others are -EPROTO. */
#define KC_FRAME_F_KNOWN 0x0003u

/* A decoded frame header. On the wire (network byte order):
 *   byte 0 version, 1 type, 2-3 flags, 4-7 chan_id, 8-11 id, 12-15 len. */
typedef struct kc_frame_hdr {
    uint8_t version;  /* KC_WIRE_VERSION */
    uint8_t type;     /* kc_frame_type_t */
    uint16_t flags;   /* KC_FRAME_F_* */
    uint32_t chan_id; /* logical channel (0: the connection itself) */
    uint32_t id;      /* request id, ping id or per-channel sequence */
    uint32_t len;     /* payload bytes following the header */
} kc_frame_hdr_t;

/* Encode h into out[0..15]. Returns KC_FRAME_HDR_SIZE.
 * Errors: -EINVAL (NULL); -EPROTO (h->version, type or flags unknown).
 * Never blocks. */
KC_API int kc_frame_encode(const kc_frame_hdr_t *h, uint8_t *out /* OUT: 16 bytes */);

/* Decode the header at buf[0..len). Returns KC_FRAME_HDR_SIZE.
 * Errors: -EINVAL (NULL); -EAGAIN (len < 16: need more bytes); -EPROTO
 * (version, type or flags unknown). The payload length is not checked here:
 * callers compare it with their negotiated limit before allocating.
 * Never blocks. */
KC_API int kc_frame_decode(const uint8_t *buf, size_t len, kc_frame_hdr_t *out /* OUT */);

/* ------------------------------------------------------------------ */
/* HELLO                                                                */

/* KC_HELLO_MAGIC is the first four bytes of a HELLO payload ("KCRO"). */
#define KC_HELLO_MAGIC 0x4b43524fu
/* KC_HELLO_MIN_SIZE is the size of a HELLO payload without extensions. */
#define KC_HELLO_MIN_SIZE 24
/* KC_HELLO_MAX_SIZE caps a HELLO payload: a peer that has not finished its
 * HELLO never makes the receiver allocate more than this. */
#define KC_HELLO_MAX_SIZE 512
/* KC_HELLO_MAX_EXT caps the extensions one HELLO may carry. */
#define KC_HELLO_MAX_EXT 4
/* KC_HELLO_EXT_MAX_LEN caps one extension's value in bytes. */
#define KC_HELLO_EXT_MAX_LEN 128

/* KC_FRAME_MIN_MAX and KC_FRAME_MAX_MAX bound the negotiable max frame
 * payload (16 KiB .. 64 KiB); KC_FRAME_MAX_DEFAULT is what kcoro offers. */
#define KC_FRAME_MIN_MAX (16u * 1024u)
/* Largest negotiable max frame payload (64 KiB). */
#define KC_FRAME_MAX_MAX (64u * 1024u)
/* Default max frame payload offered in HELLO (64 KiB). */
#define KC_FRAME_MAX_DEFAULT KC_FRAME_MAX_MAX
/* KC_MSG_MIN_MAX and KC_MSG_MAX_MAX bound the negotiable max message
 * (4 MiB .. 16 MiB); KC_MSG_MAX_DEFAULT is what kcoro offers. */
#define KC_MSG_MIN_MAX (4u * 1024u * 1024u)
/* Largest negotiable max message (16 MiB). */
#define KC_MSG_MAX_MAX (16u * 1024u * 1024u)
/* Default max message offered in HELLO (4 MiB). */
#define KC_MSG_MAX_DEFAULT KC_MSG_MIN_MAX

/* KC_HELLO_FEAT_RPC: the sender serves and sends RPC frames. */
#define KC_HELLO_FEAT_RPC 0x0001u
/* KC_HELLO_FEAT_PING: the sender answers PING with PONG. */
#define KC_HELLO_FEAT_PING 0x0002u
/* KC_HELLO_FEAT_DATA: the sender understands DATA frames (mux layer). */
#define KC_HELLO_FEAT_DATA 0x0004u

/* One HELLO extension (type-length-value), e.g. an authentication proof.
 * After kc_hello_decode() `val` points into the decoded buffer. */
typedef struct kc_hello_ext {
    uint16_t type;      /* chosen by the extension's owner; 0 is invalid */
    uint16_t len;       /* <= KC_HELLO_EXT_MAX_LEN */
    const uint8_t *val; /* BORROWS: len bytes */
} kc_hello_ext_t;

/* A HELLO: what each side offers. Wire layout (network byte order):
 *   0-3 magic, 4 ver_min, 5 ver_max, 6-7 n_ext, 8-11 features,
 *   12-15 max_frame, 16-19 max_msg, 20-23 reserved (0),
 *   then n_ext x { u16 type, u16 len, len bytes }. */
typedef struct kc_hello {
    uint8_t ver_min;    /* lowest wire version spoken */
    uint8_t ver_max;    /* highest wire version spoken */
    uint16_t n_ext;     /* extensions used in ext[] */
    uint32_t features;  /* KC_HELLO_FEAT_* offered */
    uint32_t max_frame; /* largest frame payload the sender accepts */
    uint32_t max_msg;   /* largest message the sender accepts */
    kc_hello_ext_t ext[KC_HELLO_MAX_EXT];
} kc_hello_t;

/* Fill h with this library's offer: versions 1..KC_WIRE_VERSION, every
 * feature, KC_FRAME_MAX_DEFAULT and KC_MSG_MAX_DEFAULT, no extensions.
 * NULL is ignored. Never blocks. */
KC_API void kc_hello_init(kc_hello_t *h /* OUT */);

/* Encode h into buf[0..cap). Returns the bytes written.
 * Errors: -EINVAL (NULL, or h out of range: ver_min > ver_max, limits
 * outside the negotiable ranges, too many or oversized extensions, an
 * extension of type 0); -EMSGSIZE (cap too small). Never blocks. */
KC_API int kc_hello_encode(const kc_hello_t *h, uint8_t *buf /* OUT */, size_t cap);

/* Decode a HELLO payload. out's extensions BORROW buf. Returns 0.
 * Errors: -EINVAL (NULL); -EPROTO (bad magic, truncated, trailing bytes,
 * out-of-range versions or limits, too many or oversized extensions);
 * -EMSGSIZE (len > KC_HELLO_MAX_SIZE). Never blocks. */
KC_API int kc_hello_decode(const uint8_t *buf, size_t len, kc_hello_t *out /* OUT */);

/* What two HELLOs agree on: the highest common version, the common
 * features, the smaller max frame and max message. Extensions are not
 * merged (n_ext = 0). Returns 0.
 * Errors: -EINVAL (NULL); -EPROTO (no common version). Never blocks. */
KC_API int kc_hello_negotiate(const kc_hello_t *mine, const kc_hello_t *peer,
                              kc_hello_t *out /* OUT */);

/* ------------------------------------------------------------------ */
/* Endpoints                                                            */

/* An endpoint handle (a listener or a connected stream), opaque. Valid from
 * kc_transport_listen(), _accept() or _connect() to kc_transport_close(). */
typedef struct kc_transport kc_transport_t;

/* Options of listen and connect. Initialise with KC_TRANSPORT_OPTS_INIT.
 * Backends ignore what does not apply to them. */
typedef struct kc_transport_opts {
    uint32_t size;        /* sizeof(kc_transport_opts_t) */
    uint32_t mode;        /* unix: socket file mode (default 0600) */
    uint32_t max_conns;   /* listener: live accepted connections (0: 1024) */
    uint32_t backlog;     /* listener: listen(2) backlog (0: 128) */
    bool any_peer;        /* unix listener: accept every uid (no cred check) */
    const uint32_t *uids; /* unix listener: uids allowed besides our own */
    size_t n_uids;
    const uint32_t *gids; /* unix listener: gids allowed */
    size_t n_gids;
    uint32_t sndbuf;      /* mem: bytes buffered per direction (0: 256 KiB); unix:
                           * SO_SNDBUF of each connected and accepted socket
                           * (0: the system's) */
    const char *key_file; /* adapters: pre-shared key file (tcp) */
    const void *adapter;  /* adapters: their own options; BORROWS */
    uint32_t flags;       /* KC_TRANSPORT_F_* */
} kc_transport_opts_t;

/* KC_TRANSPORT_F_DIRECT: listen or connect exactly the URL given, never
 * through the interposer (kc_transport_interpose()). An interposer sets it
 * on the options of the endpoint it wraps. */
#define KC_TRANSPORT_F_DIRECT 0x1u
/* KC_TRANSPORT_F_INTERPOSED: set by the library, never by callers, on the
 * options an interposer's listen or connect receives: the address is the
 * caller's whole URL ("unix:/x") and `adapter` belongs to that URL's
 * backend, not to the interposer. */
#define KC_TRANSPORT_F_INTERPOSED 0x2u

/* KC_TRANSPORT_OPTS_INIT: defaults (mode 0600, same-uid peers only). */
#define KC_TRANSPORT_OPTS_INIT                                                                     \
    {                                                                                              \
        sizeof(kc_transport_opts_t), 0600, 0, 0, false, NULL, 0, NULL, 0, 0, NULL, NULL, 0         \
    }

/* Who is on the other end of an accepted endpoint. */
typedef struct kc_transport_peer {
    uint32_t size;  /* sizeof(kc_transport_peer_t); set by the caller */
    bool has_cred;  /* uid/gid/pid are known (unix, mem) */
    uint32_t uid;   /* peer's effective uid */
    uint32_t gid;   /* peer's effective gid */
    int32_t pid;    /* peer's pid, or -1 where unknown */
    char name[128]; /* printable peer address ("" if none) */
} kc_transport_peer_t;

/* Listener counters, read with kc_transport_stats(). */
typedef struct kc_transport_stats {
    uint32_t size;            /* sizeof(kc_transport_stats_t); set by the caller */
    uint64_t accepted;        /* connections handed out by accept */
    uint64_t live;            /* accepted connections not yet closed */
    uint64_t refused_cred;    /* peers refused: credentials not allowed */
    uint64_t refused_limit;   /* peers refused: max_conns reached */
    uint64_t refused_auth;    /* peers refused: failed authentication */
    uint64_t refused_timeout; /* peers refused: too slow to authenticate */
} kc_transport_stats_t;

/* The backend interface. `self` is the backend's own object for one
 * endpoint. Every function pointer except poll_handle and stats is
 * required; their contracts are those of the kc_transport_* wrappers below.
 * recv_frame allocates the payload itself (after checking hdr->len against
 * max_payload) and GIVES it to the caller, who free()s it. */
/* One frame of a batch (kc_transport_send_frames()): its header and its
 * payload's pieces (hdr.len = their total). */
typedef struct kc_frame_out {
    kc_frame_hdr_t hdr;      /* the header */
    const struct iovec *iov; /* the payload's pieces; BORROWED */
    int iovcnt;              /* how many (0-64) */
} kc_frame_out_t;

/* A virtual clock (kcoro/sim.h), named here for the clock hook below. */
struct kc_sim_clock;

typedef struct kc_transport_ops {
    uint32_t size;      /* sizeof(kc_transport_ops_t) */
    const char *scheme; /* URL scheme without ':' ("unix", "tcp"); BORROWS */
    int (*listen)(const char *addr, const kc_transport_opts_t *o, void **self);
    int (*accept)(void *listener, void **self, kc_transport_peer_t *peer, int64_t timeout_ns,
                  const kc_cancel_t *cancel);
    int (*connect)(const char *addr, const kc_transport_opts_t *o, void **self, int64_t timeout_ns,
                   const kc_cancel_t *cancel);
    int (*send_frame)(void *self, const kc_frame_hdr_t *hdr, const struct iovec *iov, int iovcnt,
                      int64_t timeout_ns, const kc_cancel_t *cancel);
    int (*recv_frame)(void *self, kc_frame_hdr_t *hdr, void **payload, size_t max_payload,
                      int64_t timeout_ns, const kc_cancel_t *cancel);
    void (*close)(void *self);
    int (*poll_handle)(void *self);                          /* optional (NULL) */
    int (*stats)(void *listener, kc_transport_stats_t *out); /* optional (NULL) */
    /* optional (NULL: one send_frame per frame); a backend compiled before
     * this member existed registers with a smaller size and is read as
     * NULL here. */
    int (*send_frames)(void *self, const kc_frame_out_t *frames, int n, int64_t timeout_ns,
                       const kc_cancel_t *cancel);
    /* optional (NULL: real time): the virtual clock the endpoint's time
     * runs on (kcoro/sim.h), so a layer above that keeps timers (rel:)
     * runs them on the same clock; a wrapping backend returns its inner
     * endpoint's (kc_transport_clock()). Read only when `size` covers it. */
    struct kc_sim_clock *(*clock)(void *self);
    /* KC_TRANSPORT_OPS_* (0 when `size` does not cover it). */
    uint32_t flags;
    /* optional (NULL: 0, nothing known): bytes received and held by the
     * endpoint, which recv_frame hands out without waiting for the link
     * (kc_transport_pending()). Never blocks. Read only when `size`
     * covers it. */
    size_t (*pending)(void *self);
} kc_transport_ops_t;

/* KC_TRANSPORT_OPS_WRAPS: the backend's address is another URL, which it
 * opens itself with kc_transport_listen() or kc_transport_connect() ("rel:"
 * over "udp://..."). The interposer (kc_transport_interpose()) then applies
 * to that inner URL, not to the wrapper: the innermost link is the one
 * routed. */
#define KC_TRANSPORT_OPS_WRAPS 0x1u

/* KC_TRANSPORT_OPS_WHOLE: a send that tries once (timeout 0) of a frame of
 * at most KC_TRANSPORT_WHOLE_MAX bytes, header included, never cuts it:
 * it hands the whole frame to the link, or returns -EAGAIN with nothing
 * sent. A connection then lets a coroutine write its own small frame when
 * the link is idle, instead of handing it to its tx coroutine (unix: a
 * small write goes into the socket whole or not at all; should the socket
 * take part of one, as one made with a tiny SO_SNDBUF may, the call waits
 * for room for the rest; mem: frames are queued whole). */
#define KC_TRANSPORT_OPS_WHOLE 0x2u
#define KC_TRANSPORT_WHOLE_MAX 4096 /* bytes, header included */

/* KC_TRANSPORT_MAX_SCHEMES caps the registered schemes (built-ins included). */
#define KC_TRANSPORT_MAX_SCHEMES 16

/* Register a backend for ops->scheme. BORROWS ops (and its scheme string)
 * until kc_transport_unregister() or for good: use static storage.
 * Errors: -EINVAL (NULL, a required function missing, an empty scheme or
 * one with ':' or '/'); -EBUSY (the scheme is taken); -ENOMEM (the table is
 * full). Never blocks. */
KC_API int kc_transport_register(const kc_transport_ops_t *ops);

/* Remove a registration. Endpoints already open keep their backend.
 * Errors: -EINVAL (NULL, a built-in scheme, or a scheme not registered).
 * Never blocks. */
KC_API int kc_transport_unregister(const char *scheme);

/* The backend registered for url's scheme ("unix:/x" -> "unix"), or NULL.
 * Never blocks. */
KC_API const kc_transport_ops_t *kc_transport_lookup(const char *url);

/* Route every later kc_transport_listen() and kc_transport_connect() whose
 * URL has another scheme, and whose options lack KC_TRANSPORT_F_DIRECT,
 * (a wrapping backend's URL, KC_TRANSPORT_OPS_WRAPS, is not routed itself:
 * the URL it opens inside is),
 * through the backend registered for `scheme`: its listen or connect gets
 * the caller's whole URL with KC_TRANSPORT_F_INTERPOSED set in a copy of
 * the options, opens the inner endpoint itself (with KC_TRANSPORT_F_DIRECT)
 * and wraps it. Accepted endpoints come from the listener that was opened,
 * so they are wrapped when their listener is. NULL stops the routing;
 * unregistering the scheme stops it too. The simulator uses this for
 * KCORO_SIM (kcoro/sim.h). Errors: -ENOTSUP (scheme not registered).
 * Never blocks. */
KC_API int kc_transport_interpose(const char *scheme);

/* The virtual clock t's time runs on (kcoro/sim.h: a "sim:" endpoint made
 * with a kc_sim_clock_t, or any endpoint wrapping one), or NULL when t runs
 * in real time (the monotonic clock), when t is NULL, or when its backend
 * has no clock hook. Never blocks. */
KC_API struct kc_sim_clock *kc_transport_clock(kc_transport_t *t);

/* Bytes endpoint t has received and holds (a frame or part of one) that
 * kc_transport_recv_frame() returns without waiting for the link: 0 when
 * it holds none, when its backend cannot tell (no `pending` hook), for a
 * listener, or for NULL t. A reader that answers what it reads uses it to send an answer at
 * once when nothing else waits to be read, and to let answers pile up into
 * one batch when more does. Never blocks. */
KC_API size_t kc_transport_pending(kc_transport_t *t);

/* Listen on url. opts may be NULL (KC_TRANSPORT_OPTS_INIT).
 * OUT *out: GIVES a listener; free it with kc_transport_close().
 * Errors: -EINVAL (NULL, malformed url); -ENOTSUP (no backend for the
 * scheme); -EBUSY (the address is served by a live listener, or a
 * non-socket file is in the way); the backend's negative errno.
 * Never blocks. */
KC_API int kc_transport_listen(const char *url, const kc_transport_opts_t *opts,
                               kc_transport_t **out);

/* Wait for the next peer the listener accepts (peers refused by its
 * credential or connection-limit rules are closed and counted, see
 * kc_transport_stats()). peer may be NULL.
 * OUT *out: GIVES a connected endpoint; free it with kc_transport_close().
 * Errors: -EINVAL; -ETIME; -ECANCELED; -EPIPE (listener closed); the
 * backend's negative errno. Yields (a coroutine) or blocks (a thread). */
KC_API int kc_transport_accept(kc_transport_t *listener, kc_transport_t **out,
                               kc_transport_peer_t *peer /* OUT */, int64_t timeout_ns,
                               const kc_cancel_t *cancel);

/* Connect to url. opts may be NULL.
 * OUT *out: GIVES a connected endpoint; free it with kc_transport_close().
 * Errors: -EINVAL; -ENOTSUP; -ECONNREFUSED (nobody listens); -ETIME;
 * -ECANCELED; the backend's negative errno. Yields or blocks. */
KC_API int kc_transport_connect(const char *url, const kc_transport_opts_t *opts,
                                kc_transport_t **out, int64_t timeout_ns,
                                const kc_cancel_t *cancel);

/* Send one frame: hdr (hdr->len must equal the iov's total, which must fit
 * in 32 bits) then the iov's bytes, without copying them. BORROWS hdr and
 * iov until it returns. Returns 0 when the whole frame was handed to the
 * link.
 * Errors: -EINVAL (NULL, bad iovcnt, len mismatch, hdr not encodable);
 * -EPIPE (peer gone or endpoint broken); -ECONNRESET; -ETIME; -ECANCELED
 * (see the header comment for what a partial frame means). Yields or
 * blocks. */
KC_API int kc_transport_send_frame(kc_transport_t *t, const kc_frame_hdr_t *hdr,
                                   const struct iovec *iov, int iovcnt, int64_t timeout_ns,
                                   const kc_cancel_t *cancel);

/* KC_TRANSPORT_BATCH_MAX caps the frames of one kc_transport_send_frames(). */
#define KC_TRANSPORT_BATCH_MAX 64

/* Send n frames (1..KC_TRANSPORT_BATCH_MAX) back to back, in order, as n
 * kc_transport_send_frame() calls would, but in as few system calls as the
 * backend can (unix: one sendmsg for the lot; backends without
 * send_frames: one send_frame per frame). BORROWS frames and their iovs
 * until it returns. Returns 0 when every frame was handed to the link; on
 * an error some of the frames may have gone out, and a frame cut in the
 * middle leaves the endpoint broken as for kc_transport_send_frame().
 * Errors: as kc_transport_send_frame(); -EINVAL also for a bad n.
 * Yields or blocks. */
KC_API int kc_transport_send_frames(kc_transport_t *t, const kc_frame_out_t *frames, int n,
                                    int64_t timeout_ns, const kc_cancel_t *cancel);

/* Receive one frame. The header's length is checked against max_payload
 * before anything is allocated. OUT *payload: GIVES a malloc'd buffer of
 * hdr->len bytes (NULL when len is 0); the caller free()s it.
 * Errors: -EINVAL; -EPIPE (orderly end of stream between frames);
 * -ECONNRESET (reset, or end of stream inside a frame); -EPROTO (bad
 * header); -EMSGSIZE (len > max_payload; the endpoint is then broken);
 * -ENOMEM; -ETIME; -ECANCELED. Yields or blocks. */
KC_API int kc_transport_recv_frame(kc_transport_t *t, kc_frame_hdr_t *hdr /* OUT */,
                                   void **payload /* OUT */, size_t max_payload, int64_t timeout_ns,
                                   const kc_cancel_t *cancel);

/* The file descriptor behind t, for callers that want to poll it
 * themselves. Errors: -EINVAL; -ENOTSUP (no fd: mem, or the backend has no
 * poll_handle). Never blocks. */
KC_API int kc_transport_poll_handle(kc_transport_t *t);

/* Read a listener's counters into *out (set out->size first).
 * Errors: -EINVAL; -ENOTSUP (not a listener, or the backend keeps none).
 * Never blocks. */
KC_API int kc_transport_stats(kc_transport_t *listener, kc_transport_stats_t *out /* INOUT */);

/* The scheme of t's backend ("unix", "mem", ...), or NULL for NULL. Never
 * blocks. */
KC_API const char *kc_transport_scheme(const kc_transport_t *t);

/* Close t and free it. A unix listener removes its socket file (only if it
 * is still the one it created). No call on t may be in progress (cancel
 * them first). NULL is a no-op. Returns 0. Never blocks. */
KC_API int kc_transport_close(kc_transport_t *t);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_TRANSPORT_H */
