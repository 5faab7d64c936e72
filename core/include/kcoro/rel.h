/* kcoro/rel.h - reliable frames over an unreliable frame transport.
 *
 * "rel:<url>" opens <url> through its own backend (a datagram transport
 * such as udp://, or a simulated link such as sim:mem:name) and turns the
 * endpoint into a reliable, ordered frame transport, so connections and RPC
 * (kcoro/ipc.h) run over links that lose, duplicate, reorder and corrupt:
 *
 *   rel:sim:mem:x            in-process pair behind the impairment simulator
 *   rel:udp://127.0.0.1:9000 UDP datagrams (the libkcoro-udp adapter)
 *
 * The frames an endpoint sends are cut into segments of at most `mss` bytes,
 * numbered in one sequence space per endpoint and direction (like QUIC's
 * packet numbers: per link, not per channel; channels keep their order
 * because the link does). Each segment carries a CRC32C, so a corrupted one
 * is dropped and sent again. The receiver acknowledges cumulatively with up
 * to KC_REL_MAX_SACK selective blocks; the sender retransmits on a timer
 * (RFC 6298, RTT measured by echoed timestamps) and at once when three
 * segments above a hole are acknowledged (fast retransmit), and keeps what
 * it has in flight within a congestion window (slow start, additive
 * increase, multiplicative decrease, one segment after a timeout) and the
 * receiver's window. core/docs/RELIABILITY.md has the rules and the numbers,
 * core/docs/WIRE.md the byte layouts (KC_FRAME_SEG, KC_FRAME_ACK).
 *
 * Who drives the timers: each endpoint runs two pumps, a receiving one that
 * is always in the inner transport's recv_frame and a sending one that is
 * the inner transport's only writer and sleeps until there is something to
 * send or the retransmission deadline comes. They are coroutines of the
 * scheduler the endpoint was opened on, or threads when it was opened from
 * a plain thread; so an endpoint makes progress (acknowledges, retransmits)
 * whether or not its user is inside a call.
 *
 * Time: the pumps take their clock from the inner endpoint
 * (kc_transport_clock()). Over a "sim:" link on a virtual clock
 * (kcoro/sim.h) every timer runs in virtual time and the pumps are actors
 * of the clock, so a run whose users are actors too replays byte for byte
 * from the simulator's seed.
 */
#ifndef KCORO_REL_H
#define KCORO_REL_H

#include "kcoro/base.h"
#include "kcoro/transport.h"

#include <stdatomic.h>

#ifdef __cplusplus
extern "C" {
#endif

/* KC_REL_MSS_DEFAULT is the default largest segment payload in bytes
 * (32 KiB). A loss-based congestion window carries about mss/RTT/sqrt(p),
 * so on a lossy link large segments are what reach the link's rate; set
 * `mss` to the path's datagram size where IP would fragment them. */
#define KC_REL_MSS_DEFAULT 32768u
/* KC_REL_MSS_MIN and KC_REL_MSS_MAX bound `mss` (256 B .. 60 KiB). */
#define KC_REL_MSS_MIN 256u
/* Largest `mss` (60 KiB: a segment still fits one UDP datagram). */
#define KC_REL_MSS_MAX 61440u
/* KC_REL_WINDOW_DEFAULT is the default receive window in segments; it also
 * caps the congestion window. */
#define KC_REL_WINDOW_DEFAULT 256u
/* KC_REL_WINDOW_MAX caps `window` (segments). */
#define KC_REL_WINDOW_MAX 4096u
/* KC_REL_MAX_SACK is the most selective-acknowledgement blocks one ACK
 * carries. */
#define KC_REL_MAX_SACK 8

/* Counters of the endpoints that share one kc_rel_counters_t (set in
 * kc_rel_opts_t.counters). Read them with atomic loads at any time. */
typedef struct kc_rel_counters {
    _Atomic uint64_t segs_out;     /* data segments sent, first copies */
    _Atomic uint64_t retrans;      /* data segments sent again */
    _Atomic uint64_t fast_retrans; /* losses found by SACK (3 above a hole) */
    _Atomic uint64_t timeouts;     /* retransmission timer expiries */
    _Atomic uint64_t segs_in;      /* data segments received intact and new */
    _Atomic uint64_t dups_in;      /* data segments received again: dropped */
    _Atomic uint64_t beyond_wnd;   /* segments beyond the receive window */
    _Atomic uint64_t bad_crc;      /* segments and ACKs with a bad CRC32C */
    _Atomic uint64_t acks_out;     /* ACK frames sent */
    _Atomic uint64_t acks_in;      /* ACK frames received intact */
    _Atomic uint64_t rtt_samples;  /* RTT samples taken */
    _Atomic int64_t srtt_ns;       /* the last smoothed RTT */
    _Atomic int64_t rto_ns;        /* the last retransmission timeout */
    _Atomic uint64_t resumed;      /* sessions carried onto a new inner link */
} kc_rel_counters_t;

/* Kinds of kc_rel_event_t. */
typedef enum kc_rel_event_kind {
    KC_REL_EV_SEG_OUT = 1, /* a data segment sent for the first time */
    KC_REL_EV_SEG_RETX,    /* a data segment sent again (judged lost) */
    KC_REL_EV_ACK_OUT,     /* an ACK sent; seq = cumulative id, aux = SACK blocks */
    KC_REL_EV_SEG_IN,      /* a data segment received intact and new */
    KC_REL_EV_SEG_DUP,     /* a data segment received again: dropped */
    KC_REL_EV_SEG_BEYOND,  /* a data segment beyond the receive window: dropped */
    KC_REL_EV_ACK_IN,      /* an ACK received intact; seq = cumulative id */
    KC_REL_EV_BAD_CRC,     /* a SEG or ACK with a bad CRC32C: dropped */
    KC_REL_EV_TIMEOUT      /* the retransmission timer expired; aux = segments in flight */
} kc_rel_event_kind_t;

/* One event of a rel: endpoint (kc_rel_opts_t.trace). */
typedef struct kc_rel_event {
    int64_t t_ns;  /* the endpoint's time: its virtual clock's (kcoro/sim.h),
                    * else monotonic nanoseconds since it opened */
    uint32_t kind; /* kc_rel_event_kind_t */
    uint32_t role; /* 0: the connecting end, 1: an accepted end */
    uint64_t seq;  /* the segment's sequence number (ACK: the cumulative id) */
    uint32_t len;  /* the frame's payload bytes */
    uint32_t aux;  /* see the kinds */
} kc_rel_event_t;

/* Called for every event of an endpoint made with the options, from its
 * pumps, under the endpoint's lock: it must not call into the endpoint. */
typedef void (*kc_rel_trace_fn_t)(void *arg, const kc_rel_event_t *ev);

/* Called with an endpoint's inner link each time one starts carrying it
 * (the first, and every one a session resumes on), and with NULL just
 * before that link is closed; under the endpoint's lock, so the link stays
 * open until the NULL call returns. Tests use it to cut the link under the
 * layer (shutdown(2) of kc_transport_poll_handle(inner)). */
typedef void (*kc_rel_link_fn_t)(void *arg, kc_transport_t *inner);

/* Options of a rel: endpoint, passed as kc_transport_opts_t.adapter.
 * Initialise with KC_REL_OPTS_INIT; zero fields take the defaults named. */
typedef struct kc_rel_opts {
    uint32_t size;               /* sizeof(kc_rel_opts_t) */
    uint32_t mss;                /* segment payload bytes (KC_REL_MSS_DEFAULT) */
    uint32_t window;             /* receive window, segments (KC_REL_WINDOW_DEFAULT) */
    int64_t rto_min_ns;          /* smallest RTO (10 ms) */
    int64_t rto_init_ns;         /* RTO before the first sample (200 ms) */
    int64_t rto_max_ns;          /* largest RTO after backoff (10 s) */
    kc_rel_counters_t *counters; /* optional; BORROWS until every endpoint is closed */
    const void *inner;           /* the inner transport's adapter options */
    kc_rel_trace_fn_t trace;     /* optional event trace */
    void *trace_arg;             /* passed to trace */
    /* Sessions: > 0 makes every endpoint a session that survives the loss
     * of its inner link for this long (core/docs/RELIABILITY.md,
     * "Sessions"): the connector dials the URL again, the listener hands
     * the new link to the session, unacknowledged segments go out again,
     * nothing is lost or duplicated; past it every waiting call gets
     * -ECONNRESET. Both ends must set it. The options (and `inner`) are
     * BORROWED until the endpoint is closed, to dial again. 0: none. */
    int64_t grace_ns;
    kc_rel_link_fn_t on_link; /* optional */
    void *link_arg;           /* passed to on_link */
} kc_rel_opts_t;

/* KC_REL_OPTS_INIT: every default, no counters, no inner options, no trace,
 * no sessions. */
#define KC_REL_OPTS_INIT                                                                           \
    {                                                                                              \
        sizeof(kc_rel_opts_t), 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, 0, NULL, NULL                \
    }

/* Register the "rel" scheme with kc_transport_register(). Idempotent.
 * Errors: those of kc_transport_register() other than -EBUSY. Never
 * blocks. */
KC_API int kc_rel_register(void);

/* The CRC32C (Castagnoli, reflected polynomial 0x82f63b78) of buf[0..len),
 * continuing from crc (0 to start): kc_rel_crc32c(kc_rel_crc32c(0, a),
 * b) is the CRC of a followed by b. A NULL buf adds nothing (returns crc).
 * Never blocks. */
KC_API uint32_t kc_rel_crc32c(uint32_t crc, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_REL_H */
