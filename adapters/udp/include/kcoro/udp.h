/* kcoro/udp.h - libkcoro-udp: the udp://host:port datagram transport.
 *
 * A separate library (pkg-config kcoro-udp) built only against kcoro's
 * installed public headers. One frame travels as one datagram (its 16-byte
 * header, then the payload), so frames may be lost, duplicated or
 * reordered, as datagrams are: use it under the reliability layer,
 * "rel:udp://127.0.0.1:9000" (kcoro/rel.h), to carry connections.
 *
 *   kc_udp_register();
 *   kc_rel_register();
 *   kc_ipc_listen(&srv, "rel:udp://127.0.0.1:9000", &opts);
 *   kc_ipc_connect(&c, "rel:udp://127.0.0.1:9000", &opts, timeout, NULL);
 *
 * Addresses: udp://HOST:PORT with HOST an IPv4 address, [IPv6], a name
 * (resolved with getaddrinfo, which may block the calling thread) or empty
 * (udp://:PORT, the IPv4 loopback address). Port 0 listens on a free port
 * (read it with getsockname on kc_transport_poll_handle() of the listener).
 * Only loopback addresses are accepted unless kc_udp_opts_t.allow_remote is
 * set (-EACCES otherwise): datagrams carry no authentication.
 *
 * A connecting endpoint owns a connected socket. A listener owns one socket
 * for all its peers: a demultiplexing pump (a coroutine of the listener's
 * scheduler, or a thread when it was opened outside one) reads every
 * datagram, hands it to the endpoint accepted for its source address, and
 * makes a new endpoint, for accept, of the first datagram from an address
 * it does not know. Each endpoint queues at most KC_UDP_QUEUE datagrams;
 * more are dropped, as a full socket buffer drops them. A datagram that is
 * not a well-formed frame (a bad header, or a length that disagrees with the
 * datagram's) is dropped and counted, never an error: a datagram link may
 * carry noise. Sockets are non-blocking and every wait goes through
 * kcoro/io.h, so no worker thread blocks. A connecting endpoint whose
 * socket was shut down (shutdown(2) on kc_transport_poll_handle(), a cut)
 * fails its receives and sends with -EPIPE; an ICMP port-unreachable for
 * an earlier datagram fails them with -ECONNREFUSED.
 */
#ifndef KCORO_UDP_H
#define KCORO_UDP_H

#include "kcoro/transport.h"

#include <stdatomic.h>

#ifdef __cplusplus
extern "C" {
#endif

/* KC_UDP_MAX_FRAME is the largest frame payload one datagram carries: the
 * IPv4 UDP limit (65,507 bytes) minus the frame header. Larger is
 * -EMSGSIZE. */
#define KC_UDP_MAX_FRAME (65507u - KC_FRAME_HDR_SIZE)
/* KC_UDP_QUEUE is how many received datagrams an endpoint holds for its
 * reader (and a listener for accept) before dropping more. */
#define KC_UDP_QUEUE 1024u

/* Counters of the endpoints made with one kc_udp_opts_t (the listener's
 * accepted ones included). Read with atomic loads at any time. */
typedef struct kc_udp_counters {
    _Atomic uint64_t datagrams_in;  /* datagrams received */
    _Atomic uint64_t datagrams_out; /* datagrams sent */
    _Atomic uint64_t malformed;     /* dropped: not a well-formed frame */
    _Atomic uint64_t overflow;      /* dropped: the endpoint's queue was full */
    _Atomic uint64_t refused;       /* dropped: a new peer beyond max_conns */
} kc_udp_counters_t;

/* Options of the udp adapter, passed as kc_transport_opts_t.adapter.
 * Initialise with KC_UDP_OPTS_INIT. */
typedef struct kc_udp_opts {
    uint32_t size;               /* sizeof(kc_udp_opts_t) */
    bool allow_remote;           /* accept non-loopback addresses */
    uint32_t sockbuf;            /* SO_RCVBUF/SO_SNDBUF bytes (0: 4 MiB, capped by the kernel) */
    kc_udp_counters_t *counters; /* optional; BORROWS until every endpoint is closed */
} kc_udp_opts_t;

/* KC_UDP_OPTS_INIT: loopback only, default buffers, no counters. */
#define KC_UDP_OPTS_INIT                                                                           \
    {                                                                                              \
        sizeof(kc_udp_opts_t), false, 0, NULL                                                      \
    }

/* Register the "udp" scheme with kcoro's transport registry. Idempotent.
 * Errors: -ENOMEM (the registry is full). Never blocks. */
KC_API int kc_udp_register(void);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_UDP_H */
