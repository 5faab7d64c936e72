/* kc_ipc.c - the entry points that open connections: listen, accept and
 * connect. Each builds its connection (kc_ipc_conn.c) with the message
 * layer that carries requests, replies and cancels (kc_rpc.c's table), so
 * the connection machinery never names RPC and RPC only calls down into
 * the connection: the two files do not call each other in a circle.
 */
#include "kc_ipc_impl.h"

#include <stdio.h>
#include <stdlib.h>

static const kc_ipc_opts_t default_opts = KC_IPC_OPTS_INIT;

static bool opts_ok(const kc_ipc_opts_t **o)
{
    if (*o == NULL)
        *o = &default_opts;
    return (*o)->size >= sizeof(kc_ipc_opts_t);
}

struct kc_ipc_server {
    kc_transport_t *lst;
    kc_ipc_opts_t opts;
};

KC_API int kc_ipc_listen(kc_ipc_server_t **out, const char *url, const kc_ipc_opts_t *opts)
{
    if (out == NULL || !opts_ok(&opts))
        return -EINVAL;
    kc_ipc_server_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->opts = *opts;
    int rc = kc_transport_listen(url, opts->transport, &s->lst);
    if (rc < 0) {
        free(s);
        return rc;
    }
    s->opts.transport = NULL; /* listen-time only: not kept */
    *out = s;
    return 0;
}

KC_API int kc_ipc_accept(kc_ipc_server_t *srv, kc_ipc_conn_t **out, int64_t timeout_ns,
                         const kc_cancel_t *cancel)
{
    if (srv == NULL || out == NULL)
        return -EINVAL;
    timeout_ns = kc__timeout_norm(timeout_ns); /* -5 has run out: as 0 */
    int64_t deadline = kc__tp_deadline(timeout_ns);
    kc_transport_t *tp;
    kc_transport_peer_t peer = {.size = sizeof peer};
    int rc = kc_transport_accept(srv->lst, &tp, &peer, timeout_ns, cancel);
    if (rc < 0)
        return rc;
    int64_t left = timeout_ns < 0 ? KC_NO_TIMEOUT : kc__tp_left(deadline);
    if (left == 0)
        left = 1;
    char who[sizeof peer.name];
    if (peer.has_cred && peer.pid > 0)
        snprintf(who, sizeof who, "pid %d", (int)peer.pid);
    else
        snprintf(who, sizeof who, "%s", peer.name[0] ? peer.name : kc_transport_scheme(tp));
    return kc__ipc_start(tp, &kc__rpc_msg_ops, &srv->opts, left, cancel, "from", who, out);
}

KC_API int kc_ipc_server_stats(kc_ipc_server_t *srv, kc_transport_stats_t *out)
{
    if (srv == NULL)
        return -EINVAL;
    return kc_transport_stats(srv->lst, out);
}

KC_API int kc_ipc_server_close(kc_ipc_server_t *srv)
{
    if (srv == NULL)
        return 0;
    kc_transport_close(srv->lst);
    free(srv);
    return 0;
}

KC_API int kc_ipc_connect(kc_ipc_conn_t **out, const char *url, const kc_ipc_opts_t *opts,
                          int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (out == NULL || !opts_ok(&opts))
        return -EINVAL;
    timeout_ns = kc__timeout_norm(timeout_ns); /* -5 has run out: as 0 */
    int64_t deadline = kc__tp_deadline(timeout_ns);
    kc_transport_t *tp;
    int rc = kc_transport_connect(url, opts->transport, &tp, timeout_ns, cancel);
    if (rc < 0)
        return rc;
    int64_t left = timeout_ns < 0 ? KC_NO_TIMEOUT : kc__tp_left(deadline);
    if (left == 0)
        left = 1;
    return kc__ipc_start(tp, &kc__rpc_msg_ops, opts, left, cancel, "to", url, out);
}
