/* kc_ipc.c - the entry points that open connections: listen, accept and
 * connect. Each builds its connection (kc_ipc_conn.c) with the message
 * layer that carries requests, replies and cancels (kc_rpc.c's table), so
 * the connection machinery never names RPC and RPC only calls down into
 * the connection: the two files do not call each other in a circle.
 */
#include "kc_ipc_impl.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const kc_ipc_opts_t default_opts = KC_IPC_OPTS_INIT;

/* Copy the caller's options (NULL: defaults) into *o. Options written
 * before flags and name existed (a smaller size) keep their defaults.
 * false: a size too small for the first version, or unknown flags. */
static bool opts_take(const kc_ipc_opts_t *in, kc_ipc_opts_t *o)
{
    *o = default_opts;
    if (in == NULL)
        return true;
    if (in->size < offsetof(kc_ipc_opts_t, flags))
        return false;
    memcpy(o, in, in->size < sizeof(*o) ? in->size : sizeof(*o));
    o->size = sizeof(*o);
    return (o->flags & ~KC_IPC_REGISTER) == 0;
}

struct kc_ipc_server {
    kc_transport_t *lst;
    kc_ipc_opts_t opts;
    char name[KC_REGISTRY_NAME_MAX]; /* opts.name points here when one was given */
};

KC_API int kc_ipc_listen(kc_ipc_server_t **out, const char *url, const kc_ipc_opts_t *opts)
{
    kc_ipc_opts_t o;
    if (out == NULL || !opts_take(opts, &o))
        return -EINVAL;
    kc_ipc_server_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->opts = o;
    int rc = kc_transport_listen(url, o.transport, &s->lst);
    if (rc < 0) {
        free(s);
        return rc;
    }
    s->opts.transport = NULL; /* listen-time only: not kept */
    if (o.name != NULL) {     /* borrowed for this call only: kept as a copy */
        snprintf(s->name, sizeof s->name, "%s", o.name);
        s->opts.name = s->name;
    }
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
    kc_ipc_opts_t o;
    if (out == NULL || !opts_take(opts, &o))
        return -EINVAL;
    timeout_ns = kc__timeout_norm(timeout_ns); /* -5 has run out: as 0 */
    int64_t deadline = kc__tp_deadline(timeout_ns);
    kc_transport_t *tp;
    int rc = kc_transport_connect(url, o.transport, &tp, timeout_ns, cancel);
    if (rc < 0)
        return rc;
    int64_t left = timeout_ns < 0 ? KC_NO_TIMEOUT : kc__tp_left(deadline);
    if (left == 0)
        left = 1;
    return kc__ipc_start(tp, &kc__rpc_msg_ops, &o, left, cancel, "to", url, out);
}
