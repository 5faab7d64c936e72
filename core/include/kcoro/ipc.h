/* kcoro/ipc.h - connections and RPC between processes, over any transport.
 *
 * A connection (kc_ipc_conn_t) is one full-duplex link to a peer, made by
 * kc_ipc_connect() or kc_ipc_accept() over a transport URL (kcoro/
 * transport.h: "unix:/path", "unix:@name", "mem:name", "tcp://..."). Each
 * connection runs two coroutines on a scheduler: `rx` reads frames and
 * dispatches them, `tx` is the only writer of the link, fed through a
 * bounded queue by every other coroutine or thread. Both park while the
 * link is not ready; no worker thread ever blocks on I/O.
 *
 * On top runs RPC: kc_rpc_send_async() sends a request and gives a future,
 * kc_rpc_await() waits for it (timeout, cancellation), kc_rpc_call() does
 * both. The peer runs the handler registered for the request's command in a
 * router (kc_rpc_router_t) as a task with its own cancellation token, which
 * fires when the caller's deadline (sent with the request) passes, when the
 * caller cancels (a CANCEL frame), or when the connection ends. Results
 * travel as a portable status (kc_rpc_wire_status_t) and come back as the
 * same negative errno. core/docs/IPC.md has the table of every result a
 * caller can see, what happened, and whether the request may have run.
 *
 * Every call that waits takes a relative timeout by the rule of
 * kcoro/base.h: KC_NO_TIMEOUT waits without limit, 0 and every other
 * negative value try once (their "would wait" result: -EAGAIN for
 * kc_rpc_await, -ETIME for the others), a huge value saturates into no
 * limit (ERROR_SEMANTICS.md, "Timeouts").
 *
 *   connection state  event                                  next      done by
 *   ----------------  -------------------------------------  --------  ---------------
 *   (none)            transport up, HELLOs exchanged         OPEN      kc_ipc_connect/accept
 *   OPEN              kc_ipc_shutdown: GOAWAY sent           DRAINING  kc_ipc_shutdown
 *   OPEN              GOAWAY received                        DRAINING  rx
 *   OPEN, DRAINING    link error, silence, kc_ipc_close      DEAD      rx, tx, kc_ipc_close
 *   DRAINING          nothing in flight (our side)           DEAD      kc_ipc_shutdown
 * In DRAINING no new request is accepted in either direction; requests
 * already accepted finish. In DEAD every future resolves (-ECONNRESET when
 * the link broke, -EPIPE after GOAWAY or a local close) and every handler
 * is cancelled.
 */
#ifndef KCORO_IPC_H
#define KCORO_IPC_H

#include "kcoro/base.h"
#include "kcoro/cancel.h"
#include "kcoro/sched.h"
#include "kcoro/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A connection, opaque. Valid from kc_ipc_connect()/kc_ipc_accept() until
 * kc_ipc_close(). */
typedef struct kc_ipc_conn kc_ipc_conn_t;
/* A listening server, opaque. Valid from kc_ipc_listen() until
 * kc_ipc_server_close(). */
typedef struct kc_ipc_server kc_ipc_server_t;
/* An outstanding request's future, opaque. Valid from kc_rpc_send_async()
 * until kc_rpc_await() or kc_rpc_cancel() consumes it. */
typedef struct kc_rpc_future kc_rpc_future_t;
/* A table from command number to handler, opaque, shared by connections. */
typedef struct kc_rpc_router kc_rpc_router_t;

/* Portable result codes on the wire (the status of a REPLY, the reason of
 * a GOAWAY). errno values differ between systems; these do not. */
typedef enum kc_rpc_wire_status {
    KC_RPC_WIRE_OK = 0,           /* success */
    KC_RPC_WIRE_EAGAIN = 1,       /* -EAGAIN: would block / no room */
    KC_RPC_WIRE_ETIME = 2,        /* -ETIME: the deadline passed */
    KC_RPC_WIRE_ECANCELED = 3,    /* -ECANCELED: cancelled */
    KC_RPC_WIRE_EPIPE = 4,        /* -EPIPE: closed */
    KC_RPC_WIRE_ECONNREFUSED = 5, /* -ECONNREFUSED: refused before running */
    KC_RPC_WIRE_ECONNRESET = 6,   /* -ECONNRESET: a link broke */
    KC_RPC_WIRE_EMSGSIZE = 7,     /* -EMSGSIZE: too large */
    KC_RPC_WIRE_EPROTO = 8,       /* -EPROTO: protocol violation */
    KC_RPC_WIRE_EBUSY = 9,        /* -EBUSY: overloaded */
    KC_RPC_WIRE_ENOTSUP = 10,     /* -ENOTSUP: no handler for the command */
    KC_RPC_WIRE_EINVAL = 11,      /* -EINVAL: the handler rejected its input */
    KC_RPC_WIRE_ENOMEM = 12,      /* -ENOMEM: out of memory */
    KC_RPC_WIRE_OTHER = 0xffff    /* any other error; read back as -EIO */
} kc_rpc_wire_status_t;

/* Map a result (0 or a negative errno) to its wire status: 0 and every
 * positive value (a handler's status) to KC_RPC_WIRE_OK, a negative errno
 * outside the table above (INT_MIN included) to KC_RPC_WIRE_OTHER. Defined
 * for every int. Never blocks. */
KC_API uint16_t kc_rpc_status_to_wire(int rc);

/* Map a wire status back to 0 or a negative errno (unknown: -EIO). */
KC_API int kc_rpc_status_from_wire(uint16_t st);

/* KC_RPC_PREFIX_SIZE is the size of the RPC prefix that starts the payload
 * of every REQUEST and REPLY (WIRE.md): u16 cmd, u16 status, u32 the
 * caller's relative deadline in microseconds (KC_RPC_NO_DEADLINE: none). */
#define KC_RPC_PREFIX_SIZE 8
/* KC_RPC_NO_DEADLINE is the deadline field of a request without one; a
 * timeout of 2^32-1 microseconds (71 minutes) or more travels as this. */
#define KC_RPC_NO_DEADLINE 0xffffffffu

/* What a handler gets. Everything BORROWED until the handler returns. */
typedef struct kc_rpc_req {
    kc_ipc_conn_t *conn;       /* the connection the request came on */
    uint16_t cmd;              /* the command */
    uint32_t chan_id;          /* the caller's channel id */
    uint32_t req_id;           /* the caller's request id */
    const void *payload;       /* the argument */
    size_t len;                /* its length */
    const kc_cancel_t *cancel; /* fires: deadline, caller's CANCEL, conn end */
} kc_rpc_req_t;

/* A request handler, run on a task of its own while it runs (the
 * connection keeps tasks that finished a request for the next ones, so two
 * requests may run one after the other on the same task, never at once).
 * Returns the result the caller
 * sees (0 or a negative errno). On 0 it may set *out (GIVES: a malloc'd
 * buffer the runtime frees after sending it) and *out_len; on an error
 * anything it set is freed and not sent. */
typedef int (*kc_rpc_handler_t)(const kc_rpc_req_t *req, void *arg, void **out /* OUT */,
                                size_t *out_len /* OUT */);

/* Create an empty router. OUT *out: GIVES a router; free it with
 * kc_rpc_router_destroy() after every connection using it is closed.
 * Errors: -EINVAL; -ENOMEM. Never blocks. */
KC_API int kc_rpc_router_create(kc_rpc_router_t **out);

/* Route command cmd to fn(req, arg), replacing any earlier handler (a
 * request already running keeps the old one). Safe while connections use
 * the router. Errors: -EINVAL (NULL r or fn); -ENOMEM. Never blocks. */
KC_API int kc_rpc_router_add(kc_rpc_router_t *r, uint16_t cmd, kc_rpc_handler_t fn, void *arg);

/* kc_rpc_router_add_flags() flags. KC_RPC_INLINE: run the handler on the
 * connection's rx coroutine, before rx reads the next frame, instead of as
 * a task of its own: no task, token or timer per request (about a third
 * of a short call's cost on the server). For short handlers that never
 * wait: while one runs, its connection reads nothing (a handler that
 * parks stalls it). req->cancel is the connection's own token (it fires
 * when the connection ends); the caller's deadline and CANCEL cannot stop
 * an inline handler: a request whose deadline has passed is refused unrun
 * (-ETIME) as for any handler. Its reply is sent or queued at once (when
 * the queue is full, a task waits for room with it). */
#define KC_RPC_INLINE 1u

/* kc_rpc_router_add() with flags (0 or KC_RPC_INLINE). Errors: -EINVAL
 * (NULL r or fn, unknown flags); -ENOMEM. Never blocks. */
KC_API int kc_rpc_router_add_flags(kc_rpc_router_t *r, uint16_t cmd, kc_rpc_handler_t fn, void *arg,
                                   uint32_t flags);

/* Free a router. NULL is a no-op. Returns 0. Never blocks. */
KC_API int kc_rpc_router_destroy(kc_rpc_router_t *r);

/* Options of a connection (and of a server's connections). Initialise with
 * KC_IPC_OPTS_INIT; zero fields take the defaults named. */
typedef struct kc_ipc_opts {
    uint32_t size;                        /* sizeof(kc_ipc_opts_t) */
    uint32_t max_frame;                   /* offered max frame (KC_FRAME_MAX_DEFAULT) */
    uint32_t max_msg;                     /* offered max message (KC_MSG_MAX_DEFAULT) */
    uint32_t max_handlers;                /* concurrent handlers; more: -EBUSY (1024) */
    size_t tx_queue_bytes;                /* bound of the tx queue in bytes (1 MiB) */
    int64_t ping_interval_ns;             /* PING after an interval of silence (5 s); <0: never */
    int64_t dead_after_ns;                /* silence that kills the link (3 pings) */
    int64_t hello_timeout_ns;             /* HELLO must arrive within (5 s) */
    kc_sched_t *sched;                    /* runs rx, tx, handlers (NULL: caller's) */
    kc_rpc_router_t *router;              /* handlers (NULL: serve nothing); BORROWS */
    const kc_transport_opts_t *transport; /* listen/connect options (NULL: defaults) */
    uint32_t flags;                       /* 0 or KC_IPC_REGISTER */
    const char *name;                     /* BORROWS: copied; the registry name (NULL:
                                             "to <url>" / "from <peer>"); a server's
                                             connections: "<name> from <peer>" */
} kc_ipc_opts_t;

/* KC_IPC_REGISTER (in kc_ipc_opts_t.flags) lists the connection in the
 * registry (kcoro/registry.h, kind KC_REGISTRY_CONN) from its HELLO to
 * kc_ipc_close, whatever the process-wide switch says; on a server's
 * options, every connection it accepts. The registry's KC_REGISTRY_FLAG. */
#define KC_IPC_REGISTER (1u << 31)

/* KC_IPC_OPTS_INIT: every default. */
#define KC_IPC_OPTS_INIT                                                                           \
    {                                                                                              \
        sizeof(kc_ipc_opts_t), 0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL                      \
    }

/* Connection counters, read with kc_ipc_stats(). */
typedef struct kc_ipc_stats {
    uint32_t size;          /* sizeof(kc_ipc_stats_t); set by the caller */
    uint32_t max_frame;     /* negotiated */
    uint32_t max_msg;       /* negotiated */
    uint64_t frames_in;     /* frames received */
    uint64_t frames_out;    /* frames sent */
    uint64_t req_sent;      /* requests queued by kc_rpc_send_async / _timed */
    uint64_t req_received;  /* requests received from the peer */
    uint64_t replies_sent;  /* replies sent to the peer */
    uint64_t replies_taken; /* replies that resolved a future */
    uint64_t late_replies;  /* replies for no future (timed out, cancelled): dropped */
    uint64_t cancels_sent;  /* CANCEL frames sent */
    uint64_t cancels_in;    /* CANCEL frames received */
    uint64_t refused;       /* requests refused (draining, busy, no handler) */
    uint64_t pings_sent;    /* PING frames sent */
    uint64_t pongs_in;      /* PONG frames received */
    uint64_t outstanding;   /* futures not yet resolved */
    uint64_t handlers;      /* handlers running */
    uint64_t tx_queued;     /* bytes in the tx queue now */
    int dead_rc;            /* why the connection ended (0: alive) */
} kc_ipc_stats_t;

/* Listen on url. opts may be NULL; its router serves every accepted
 * connection. OUT *out: GIVES a server; free it with kc_ipc_server_close().
 * Errors: -EINVAL; and those of kc_transport_listen(). Never blocks. */
KC_API int kc_ipc_listen(kc_ipc_server_t **out, const char *url, const kc_ipc_opts_t *opts);

/* Accept the next peer and exchange HELLOs with it (at most
 * hello_timeout_ns), then start its rx and tx coroutines.
 * OUT *out: GIVES a connection; free it with kc_ipc_close().
 * Errors: -EINVAL; -EPERM (no scheduler: opts->sched NULL outside one);
 * -EPROTO (bad HELLO); -ETIME; -ECANCELED; -ENOMEM; and those of
 * kc_transport_accept(). Yields or blocks. */
KC_API int kc_ipc_accept(kc_ipc_server_t *srv, kc_ipc_conn_t **out, int64_t timeout_ns,
                         const kc_cancel_t *cancel);

/* The server's listener counters (kc_transport_stats()). */
KC_API int kc_ipc_server_stats(kc_ipc_server_t *srv, kc_transport_stats_t *out /* INOUT */);

/* Stop listening and free the server; accepted connections live on.
 * No kc_ipc_accept() may be running. NULL is a no-op. Returns 0. */
KC_API int kc_ipc_server_close(kc_ipc_server_t *srv);

/* Connect to url and exchange HELLOs, then start rx and tx.
 * OUT *out: GIVES a connection; free it with kc_ipc_close().
 * Errors: -EINVAL; -EPERM (no scheduler); -ECONNREFUSED (nobody listens);
 * -EPROTO; -ETIME; -ECANCELED; -ENOMEM; those of kc_transport_connect().
 * Yields or blocks. */
KC_API int kc_ipc_connect(kc_ipc_conn_t **out, const char *url, const kc_ipc_opts_t *opts,
                          int64_t timeout_ns, const kc_cancel_t *cancel);

/* Close gracefully: send GOAWAY (no new requests either way from now on),
 * wait until our handlers have replied and our futures have resolved, at
 * most timeout_ns, then end the connection. The handle stays valid; free it
 * with kc_ipc_close(). Returns 0, or -ETIME / -ECANCELED when the wait was
 * cut short (the connection is ended anyway); -EINVAL. Yields or blocks. */
KC_API int kc_ipc_shutdown(kc_ipc_conn_t *c, int64_t timeout_ns, const kc_cancel_t *cancel);

/* End the connection now (outstanding futures resolve with -EPIPE,
 * handlers are cancelled), wait for rx and tx to finish, and release the
 * handle. Futures and handlers still holding the connection keep its
 * memory until they finish. NULL is a no-op. Returns 0. Yields or blocks
 * (briefly: rx and tx end at once). */
KC_API int kc_ipc_close(kc_ipc_conn_t *c);

/* Wait until the connection is dead (peer gone, GOAWAY completed, silence).
 * Returns the reason (a negative errno, e.g. -ECONNRESET or -EPIPE), or
 * -ETIME / -ECANCELED when the wait ended first. Yields or blocks. */
KC_API int kc_ipc_wait_dead(kc_ipc_conn_t *c, int64_t timeout_ns, const kc_cancel_t *cancel);

/* Read c's counters into *out (set out->size first). Errors: -EINVAL.
 * Never blocks. */
KC_API int kc_ipc_stats(kc_ipc_conn_t *c, kc_ipc_stats_t *out /* INOUT */);

/* Send a request for command cmd on channel chan_id without a deadline.
 * payload is copied (BORROWS it until return). Never waits: a full tx queue
 * is -EAGAIN. OUT *out_req_id (may be NULL) and *out_future: GIVES a future
 * that kc_rpc_await() or kc_rpc_cancel() consumes.
 * Errors: -EINVAL; -EMSGSIZE (len + prefix > the negotiated max message);
 * -EAGAIN (tx queue full); -EPIPE (draining or dead); -ENOMEM.
 * Never blocks. */
KC_API int kc_rpc_send_async(kc_ipc_conn_t *c, uint16_t cmd, uint32_t chan_id, const void *payload,
                             size_t len, uint32_t *out_req_id /* OUT */,
                             kc_rpc_future_t **out_future /* OUT */);

/* As kc_rpc_send_async(), but the request carries timeout_ns as its
 * deadline (the handler is cancelled when it passes), and a full tx queue
 * is waited on for at most timeout_ns (-ETIME; 0: -EAGAIN at once).
 * Yields or blocks. */
KC_API int kc_rpc_send_timed(kc_ipc_conn_t *c, uint16_t cmd, uint32_t chan_id, const void *payload,
                             size_t len, int64_t timeout_ns, const kc_cancel_t *cancel,
                             uint32_t *out_req_id /* OUT */,
                             kc_rpc_future_t **out_future /* OUT */);

/* Wait for f's result and consume f. Returns the result, also stored in
 * *out_rc (may be NULL): 0 or the handler's negative errno, or -ETIME /
 * -ECANCELED (our wait ended first: CANCEL goes to the peer, a reply that
 * comes later is dropped and counted), -ECONNRESET (the link broke),
 * -EPIPE (the connection was closed or drained), -ECONNREFUSED (the peer
 * refused it unrun). A cancellation after the deadline reads -ETIME.
 * On 0, *out_payload GIVES the reply (malloc'd; NULL when empty; free()
 * it) and *out_len its length; both may be NULL (the reply is freed).
 * Errors: -EINVAL (NULL f: nothing consumed). Yields or blocks. */
KC_API int kc_rpc_await(kc_rpc_future_t *f, int64_t timeout_ns, const kc_cancel_t *cancel,
                        int *out_rc /* OUT */, void **out_payload /* OUT */,
                        size_t *out_len /* OUT */);

/* Give up on f: send CANCEL (the handler is cancelled) and consume f.
 * NULL is a no-op. Returns 0. Never blocks. */
KC_API int kc_rpc_cancel(kc_rpc_future_t *f);

/* kc_rpc_send_timed() then kc_rpc_await() with the same deadline.
 * Returns as kc_rpc_await() (the send's errors included). Yields or blocks. */
KC_API int kc_rpc_call(kc_ipc_conn_t *c, uint16_t cmd, uint32_t chan_id, const void *payload,
                       size_t len, int64_t timeout_ns, const kc_cancel_t *cancel,
                       void **out_payload /* OUT */, size_t *out_len /* OUT */);

#ifdef __cplusplus
}
#endif
#endif /* KCORO_IPC_H */
