/* kcoro/tcp.h - libkcoro-tcp: the tcp://host:port transport for kcoro.
 *
 * A separate library (pkg-config kcoro-tcp) built only against kcoro's
 * installed public headers: it plugs into kcoro/transport.h with one
 * registration call and is used through the kc_transport_* calls like the
 * built-in backends:
 *
 *   kc_tcp_register();
 *   kc_transport_listen("tcp://127.0.0.1:7000", NULL, &l);
 *   kc_transport_connect("tcp://127.0.0.1:7000", NULL, &c, timeout, NULL);
 *
 * Addresses: tcp://HOST:PORT with HOST an IPv4 address, [IPv6], a name
 * (resolved with getaddrinfo, which may block the calling thread) or empty
 * (tcp://:PORT, the loopback address). Port 0 listens on a free port
 * (read it with getsockname on kc_transport_poll_handle()).
 *
 * Security. A listener binds a loopback address unless it is given a
 * pre-shared key: any other address (0.0.0.0 included) without
 * kc_transport_opts_t.key_file is -EACCES, and so is connecting to a
 * non-loopback address without one. With a key (on any address) every
 * connection opens with a challenge-response in HELLO frames
 * (core/docs/WIRE.md): the listener sends a HELLO whose extension
 * KC_TCP_EXT_CHALLENGE holds 32 random bytes; the client answers with a
 * HELLO whose KC_TCP_EXT_PROOF holds its own 32 random bytes and
 * HMAC-SHA-256(key, "kcoro-tcp client" | server nonce | client nonce); the
 * listener checks it (in constant time) and proves itself back with
 * HMAC-SHA-256(key, "kcoro-tcp server" | client nonce | server nonce).
 * HMACs come from libsodium. Until a peer has proved itself the listener
 * reads frames of at most KC_HELLO_MAX_SIZE bytes (it never allocates more
 * for it) and cuts it after the HELLO timeout. The key file must be a
 * regular file of KC_TCP_KEY_MIN..KC_TCP_KEY_MAX bytes that neither group
 * nor others may read or write (-EACCES otherwise). A listener accepts at
 * most kc_transport_opts_t.max_conns live connections (default 1024).
 * Refusals are counted (kc_transport_stats: refused_limit, refused_auth,
 * refused_timeout) and logged once per cause to stderr under KCORO_DEBUG.
 */
#ifndef KCORO_TCP_H
#define KCORO_TCP_H

#include "kcoro/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* KC_TCP_EXT_CHALLENGE is the HELLO extension type of the listener's
 * 32-byte challenge. */
#define KC_TCP_EXT_CHALLENGE 0x7401
/* KC_TCP_EXT_PROOF is the HELLO extension type of a proof: the client's
 * nonce and HMAC (64 bytes), or the listener's HMAC (32 bytes). */
#define KC_TCP_EXT_PROOF 0x7402
/* KC_TCP_KEY_MIN is the shortest pre-shared key accepted, in bytes. */
#define KC_TCP_KEY_MIN 16
/* KC_TCP_KEY_MAX is the longest pre-shared key accepted, in bytes. */
#define KC_TCP_KEY_MAX 64
/* KC_TCP_HELLO_TIMEOUT_DEFAULT is how long a peer may take to
 * authenticate, in nanoseconds (2 s). */
#define KC_TCP_HELLO_TIMEOUT_DEFAULT 2000000000LL

/* Options of the tcp adapter, passed as kc_transport_opts_t.adapter.
 * Initialise with KC_TCP_OPTS_INIT. */
typedef struct kc_tcp_opts {
    uint32_t size;            /* sizeof(kc_tcp_opts_t) */
    int64_t hello_timeout_ns; /* authentication deadline (<= 0: default) */
} kc_tcp_opts_t;

/* KC_TCP_OPTS_INIT: the defaults. */
#define KC_TCP_OPTS_INIT                                                                           \
    {                                                                                              \
        sizeof(kc_tcp_opts_t), 0                                                                   \
    }

/* Register the "tcp" scheme with kcoro's transport registry.
 * Errors: -EBUSY (already registered); -ENOMEM (the registry is full);
 * -EIO (libsodium failed to initialise). Never blocks. */
KC_API int kc_tcp_register(void);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_TCP_H */
