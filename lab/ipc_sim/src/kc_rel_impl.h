/* kc_rel_impl.h - private to the reliability layer: segment and ACK codecs,
 * the RTO estimator, the receive window and the sender's scoreboard.
 *
 * Everything here except the endpoint (kc_rel_transport.c) is pure: no
 * allocation beyond the structure's own buffers, no I/O, no clock reads
 * (times are arguments), so the tests drive each piece alone.
 */
#ifndef KCORO_KC_REL_IMPL_H
#define KCORO_KC_REL_IMPL_H

#include "kcoro/rel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- wire (core/docs/WIRE.md, "Reliability layer") ---------------- */

/* A SEG payload starts with u32 CRC32C, u32 timestamp (microseconds,
 * sender's clock, never 0); the data follows. */
#define KC_REL_SEG_HDR 8
/* An ACK payload: u32 CRC32C, u32 echoed timestamp (0: none), u32 window
 * (segments the receiver accepts from `id` on), u32 block count, then
 * count x {u32 start, u32 end} (end exclusive, above `id`). */
#define KC_REL_ACK_HDR 16

/* One selective-acknowledgement block: segments [start, end) arrived. */
typedef struct kc_rel_block {
    uint64_t start, end;
} kc_rel_block_t;

/* A decoded ACK. Sequence numbers are widened to 64 bits by the caller's
 * reference (see kc__rel_widen). */
typedef struct kc_rel_ack {
    uint64_t cum;     /* every segment below it arrived */
    uint32_t ts_echo; /* the timestamp echoed (0: none) */
    uint32_t window;  /* segments accepted from cum on */
    uint32_t n;       /* blocks used */
    kc_rel_block_t blk[KC_REL_MAX_SACK];
} kc_rel_ack_t;

/* The 64-bit sequence number nearest to ref whose low 32 bits are s32. */
uint64_t kc__rel_widen(uint64_t ref, uint32_t s32);

/* Encode a SEG frame: header into hdr, payload prefix (CRC, ts) into
 * pre[0..8); the CRC covers the encoded header, the timestamp and data.
 * Returns 0. Errors: -EINVAL (NULL, len too large, ts 0). */
int kc__rel_seg_encode(uint64_t seq, uint32_t ts, const void *data, size_t len,
                       kc_frame_hdr_t *hdr /* OUT */, uint8_t pre[KC_REL_SEG_HDR]);

/* Check a received SEG frame (hdr, payload[0..hdr->len)): *ts and the data
 * span are filled. Returns 0. Errors: -EPROTO (not a SEG, flags or chan_id
 * set, shorter than its prefix, ts 0); -EBADMSG (CRC mismatch). */
int kc__rel_seg_decode(const kc_frame_hdr_t *hdr, const uint8_t *payload, uint32_t *ts /* OUT */,
                       size_t *data_off /* OUT */);

/* Encode an ACK into hdr and buf[0..cap); returns the payload length.
 * Blocks must lie above cum, ascending, disjoint and within 2^31 of cum.
 * Errors: -EINVAL (NULL, n > KC_REL_MAX_SACK, blocks out of order);
 * -EMSGSIZE (cap too small). */
int kc__rel_ack_encode(const kc_rel_ack_t *a, kc_frame_hdr_t *hdr /* OUT */, uint8_t *buf /* OUT */,
                       size_t cap);

/* Decode an ACK frame; sequence numbers are widened around ref (the
 * sender's oldest unacknowledged segment). Returns 0. Errors: -EPROTO (not
 * an ACK, flags or chan_id set, wrong length, too many blocks, blocks empty,
 * below cum, descending or overlapping); -EBADMSG (CRC mismatch). */
int kc__rel_ack_decode(const kc_frame_hdr_t *hdr, const uint8_t *payload, uint64_t ref,
                       kc_rel_ack_t *out /* OUT */);

/* The session handshake (kc_rel_opts_t.grace_ns > 0): an ACK frame whose
 * chan_id is KC_REL_CHAN_SESS (an ACK's chan_id is otherwise 0), id 0,
 * payload u32 CRC32C, u32 kind, u64 session id, u64 the sender's next
 * expected segment. The first frame each side sends on every inner link;
 * the connector repeats NEW and RESUME until answered, and the acceptor
 * answers each repeat, since on a datagram path any of them may be lost. */
#define KC_REL_CHAN_SESS 1u
#define KC_REL_SESS_LEN 24
enum {
    KC_REL_SESS_NEW = 1,    /* connector: a new session named id (0: the acceptor names it) */
    KC_REL_SESS_RESUME = 2, /* connector: resume session id */
    KC_REL_SESS_OK = 4,     /* acceptor: the session (new or resumed) is id */
    KC_REL_SESS_GONE = 8,   /* acceptor: no such session (its grace ended) */
    KC_REL_SESS_KNOWN = 15
};

typedef struct kc_rel_sess {
    uint32_t kind;    /* one KC_REL_SESS_* */
    uint64_t id;      /* the session (0 with NEW) */
    uint64_t rcv_nxt; /* the sender's next expected segment */
} kc_rel_sess_t;

/* Encode m (kind known and not 0). Returns 0. Errors: -EINVAL. */
int kc__rel_sess_encode(const kc_rel_sess_t *m, kc_frame_hdr_t *hdr /* OUT */,
                        uint8_t buf[KC_REL_SESS_LEN]);
/* Decode a SESS frame. Returns 0. Errors: -EPROTO (not a SESS, wrong
 * length, unknown kind); -EBADMSG (CRC mismatch). */
int kc__rel_sess_decode(const kc_frame_hdr_t *hdr, const uint8_t *payload,
                        kc_rel_sess_t *out /* OUT */);

/* ---- RTO estimator (RFC 6298) ---------------------------------------- */

typedef struct kc_rel_rto {
    int64_t srtt, rttvar, rto; /* ns; srtt 0 until the first sample */
    int64_t min, max;          /* bounds of rto */
    int backoff;               /* doublings since the last new sample */
} kc_rel_rto_t;

/* Start with rto = init, no sample. */
void kc__rel_rto_init(kc_rel_rto_t *r, int64_t min, int64_t init, int64_t max);
/* Take one RTT sample (ns > 0): SRTT and RTTVAR per RFC 6298 2.2/2.3 (alpha
 * 1/8, beta 1/4, G 1 ms), rto clamped to [min, max]; clears the backoff. */
void kc__rel_rto_sample(kc_rel_rto_t *r, int64_t rtt);
/* The timer expired: double rto (RFC 6298 5.5), at most max. */
void kc__rel_rto_backoff(kc_rel_rto_t *r);

/* ---- receive window ------------------------------------------------- */

/* The receiver's segments: a ring of `cap` slots covering sequence numbers
 * [base, base + cap). Slots below nxt hold in-order data the reader has not
 * consumed; slots from nxt up are the reordering buffer (present or not).
 * A segment outside [nxt, base + cap) is refused, so the buffer never holds
 * more than the window the receiver advertises. */
typedef struct kc_rel_slot {
    uint8_t *buf; /* GIVES: malloc'd data (NULL: not present) */
    uint32_t len;
} kc_rel_slot_t;

typedef struct kc_rel_rcv {
    kc_rel_slot_t *slot;
    uint32_t cap;
    uint64_t base; /* oldest segment not yet consumed by the reader */
    uint64_t nxt;  /* next in-order segment expected */
    uint32_t off;  /* bytes of slot[base] already consumed */
    size_t avail;  /* in-order bytes not consumed */
} kc_rel_rcv_t;

int kc__rel_rcv_init(kc_rel_rcv_t *r, uint32_t cap);
void kc__rel_rcv_free(kc_rel_rcv_t *r);
/* Offer segment seq, len > 0 bytes (TAKES buf on 1). Returns 1 (stored; nxt may advance),
 * 0 (a duplicate: already held or consumed; buf not taken), -ERANGE
 * (beyond the window; buf not taken). */
int kc__rel_rcv_put(kc_rel_rcv_t *r, uint64_t seq, uint8_t *buf, uint32_t len);
/* Copy n in-order bytes (n <= avail) into out (NULL: skip them), freeing
 * consumed slots. */
void kc__rel_rcv_read(kc_rel_rcv_t *r, void *out, size_t n);
/* Peek n <= avail in-order bytes into out without consuming. */
void kc__rel_rcv_peek(const kc_rel_rcv_t *r, void *out, size_t n);
/* Segments the sender may still send from nxt on. */
uint32_t kc__rel_rcv_window(const kc_rel_rcv_t *r);
/* Fill a's cum, window and up to KC_REL_MAX_SACK blocks (lowest first). */
void kc__rel_rcv_ack(const kc_rel_rcv_t *r, kc_rel_ack_t *a /* OUT */);

/* ---- the sender's scoreboard ----------------------------------------- */

/* Segment states in the sender (bits of kc_rel_seg_t.st). */
enum {
    KC_REL_S_SENT = 1,   /* sent at least once */
    KC_REL_S_SACKED = 2, /* the receiver holds it (a SACK block named it) */
    KC_REL_S_LOST = 4,   /* judged lost: to be sent again */
    KC_REL_S_RETX = 8    /* sent again since it was judged lost */
};

typedef struct kc_rel_seg {
    uint8_t *buf; /* mss bytes */
    uint32_t len;
    uint32_t st;
} kc_rel_seg_t;

/* Segments [una, end): [una, nxt) sent, [nxt, end) queued. */
typedef struct kc_rel_snd {
    kc_rel_seg_t *seg;
    uint32_t cap; /* ring size: the most segments queued and in flight */
    uint64_t una, nxt, end;
    uint64_t recover; /* fast recovery lasts until una passes it */
    bool in_recovery;
    double cwnd;       /* congestion window, segments */
    double ssthresh;   /* slow-start threshold, segments */
    uint64_t peer_end; /* the receiver accepts segments below it */
} kc_rel_snd_t;

int kc__rel_snd_init(kc_rel_snd_t *s, uint32_t cap, uint32_t cwnd_max);
void kc__rel_snd_free(kc_rel_snd_t *s);
/* Segments in the network as RFC 6675 counts them: sent, neither SACKed
 * nor judged lost (unless sent again). */
uint32_t kc__rel_snd_pipe(const kc_rel_snd_t *s);
/* Apply an ACK: advance una (freeing segments), mark SACKed ones, grow
 * cwnd, judge as lost every unSACKed segment with at least 3 SACKed ones
 * above it, and enter fast recovery on a new loss (cwnd and ssthresh to
 * cwnd * KC_REL_BETA). Returns the number of segments newly judged lost,
 * or -EPROTO when the ACK acknowledges what was never sent. cwnd_max caps
 * the window. */
int kc__rel_snd_on_ack(kc_rel_snd_t *s, const kc_rel_ack_t *a, uint32_t cwnd_max);
/* The timer expired: every unSACKed segment in flight is lost, ssthresh =
 * max(pipe / 2, 2), cwnd = 1. */
void kc__rel_snd_on_timeout(kc_rel_snd_t *s);
/* A new inner link carries the session on: the peer holds every segment
 * below peer_nxt (they are freed, una = peer_nxt); every other segment sent
 * is lost (SACK marks are dropped: the peer's holdings are unknown) and goes
 * out again; cwnd restarts at its initial window (a new path). Returns 0.
 * Errors: -EPROTO (peer_nxt below una or beyond what was sent). */
int kc__rel_snd_on_resume(kc_rel_snd_t *s, uint64_t peer_nxt, uint32_t cwnd_max);
/* The acceptor's first answer to NEW: a segment sent before it may have
 * reached the acceptor ahead of NEW (a link that reorders), where the
 * handshake drops it. Every segment sent and neither acknowledged nor
 * SACKed is judged lost, so it goes out again at once rather than after
 * the first RTO; the congestion state stays (the path lost nothing).
 * Returns how many were marked. */
uint64_t kc__rel_snd_on_hello(kc_rel_snd_t *s);

/* Multiplicative decrease on a loss found by SACK (CUBIC's 0.7: random loss
 * on a long link costs less than Reno's halving). */
#define KC_REL_BETA 0.7

#endif /* KCORO_KC_REL_IMPL_H */
