/* kc_transport.c - the scheme registry and the endpoint wrapper.
 *
 * Owns the table that maps a URL scheme to a backend (the built-ins "unix"
 * and "mem" first, then what kc_transport_register() adds) and the
 * kc_transport_t handle that pairs a backend with its object. The wrapper
 * checks arguments once so backends see only valid calls. The table is
 * guarded by one mutex, taken only to register, unregister and look up
 * (listen and connect), never on the frame path.
 */
#include "kc_transport_impl.h"

#include "base/kc_debug.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
/* The backend every listen and connect is routed through
 * (kc_transport_interpose()), or NULL; written under reg_lock. */
static const kc_transport_ops_t *_Atomic interposer;
static const kc_transport_ops_t *reg_table[KC_TRANSPORT_MAX_SCHEMES] = {&kc__transport_unix_ops,
                                                                        &kc__transport_mem_ops};
enum {
    N_BUILTIN = 2
};

static bool scheme_valid(const char *s)
{
    return s != NULL && s[0] != '\0' && strchr(s, ':') == NULL && strchr(s, '/') == NULL &&
           strlen(s) < 32;
}

KC_API int kc_transport_register(const kc_transport_ops_t *ops)
{
    if (ops == NULL || ops->size < offsetof(kc_transport_ops_t, send_frames) ||
        !scheme_valid(ops->scheme) || ops->listen == NULL || ops->accept == NULL ||
        ops->connect == NULL || ops->send_frame == NULL || ops->recv_frame == NULL ||
        ops->close == NULL)
        return -EINVAL;
    int rc = -ENOMEM;
    pthread_mutex_lock(&reg_lock);
    int free_slot = -1;
    for (int i = 0; i < KC_TRANSPORT_MAX_SCHEMES; i++) {
        if (reg_table[i] == NULL) {
            if (free_slot < 0)
                free_slot = i;
        } else if (strcmp(reg_table[i]->scheme, ops->scheme) == 0) {
            rc = -EBUSY;
            goto out_unlock;
        }
    }
    if (free_slot >= 0) {
        reg_table[free_slot] = ops;
        rc = 0;
    }
out_unlock:
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

KC_API int kc_transport_unregister(const char *scheme)
{
    if (scheme == NULL)
        return -EINVAL;
    int rc = -EINVAL;
    pthread_mutex_lock(&reg_lock);
    for (int i = N_BUILTIN; i < KC_TRANSPORT_MAX_SCHEMES; i++) {
        if (reg_table[i] != NULL && strcmp(reg_table[i]->scheme, scheme) == 0) {
            if (atomic_load_explicit(&interposer, memory_order_relaxed) == reg_table[i])
                atomic_store_explicit(&interposer, NULL, memory_order_relaxed);
            reg_table[i] = NULL;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

/* Split url at its first ':' and find the backend; *rest gets the address
 * after the ':'. NULL when the url is malformed or the scheme unknown. */
static const kc_transport_ops_t *lookup(const char *url, const char **rest, bool *malformed)
{
    *malformed = false;
    const char *colon = url ? strchr(url, ':') : NULL;
    if (colon == NULL || colon == url || (size_t)(colon - url) >= 32) {
        *malformed = true;
        return NULL;
    }
    size_t n = (size_t)(colon - url);
    const kc_transport_ops_t *found = NULL;
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < KC_TRANSPORT_MAX_SCHEMES && !found; i++) {
        const kc_transport_ops_t *o = reg_table[i];
        if (o != NULL && strlen(o->scheme) == n && memcmp(o->scheme, url, n) == 0)
            found = o;
    }
    pthread_mutex_unlock(&reg_lock);
    *rest = colon + 1;
    return found;
}

KC_API const kc_transport_ops_t *kc_transport_lookup(const char *url)
{
    const char *rest;
    bool bad;
    return lookup(url, &rest, &bad);
}

KC_API int kc_transport_interpose(const char *scheme)
{
    if (scheme == NULL) {
        atomic_store_explicit(&interposer, NULL, memory_order_release);
        return 0;
    }
    int rc = -ENOTSUP;
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < KC_TRANSPORT_MAX_SCHEMES; i++) {
        if (reg_table[i] != NULL && strcmp(reg_table[i]->scheme, scheme) == 0) {
            atomic_store_explicit(&interposer, reg_table[i], memory_order_release);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

/* The interposer a listen or connect of ops with opts goes through, or
 * NULL: none is set, the URL already names it, or the caller asked for
 * the URL exactly. */
static const kc_transport_ops_t *routed(const kc_transport_ops_t *ops,
                                        const kc_transport_opts_t *opts)
{
    const kc_transport_ops_t *ip = atomic_load_explicit(&interposer, memory_order_acquire);
    if (ip == NULL || ip == ops || (opts->flags & KC_TRANSPORT_F_DIRECT))
        return NULL;
    /* A wrapper opens its inner URL through the routing itself. */
    if (ops->size >= offsetof(kc_transport_ops_t, flags) + sizeof ops->flags &&
        (ops->flags & KC_TRANSPORT_OPS_WRAPS))
        return NULL;
    return ip;
}

static int wrap(const kc_transport_ops_t *ops, void *self, bool listener, kc_transport_t **out)
{
    kc_transport_t *t = malloc(sizeof *t);
    if (t == NULL) {
        ops->close(self);
        return -ENOMEM;
    }
    t->ops = ops;
    t->self = self;
    t->listener = listener;
    *out = t;
    return 0;
}

static const kc_transport_opts_t default_opts = KC_TRANSPORT_OPTS_INIT;

/* The caller's options, or the defaults for NULL; NULL when they are too
 * small to be a kc_transport_opts_t. */
static const kc_transport_opts_t *opts_or_default(const kc_transport_opts_t *o)
{
    if (o == NULL)
        return &default_opts;
    return o->size >= sizeof(kc_transport_opts_t) ? o : NULL;
}

KC_API int kc_transport_listen(const char *url, const kc_transport_opts_t *opts,
                               kc_transport_t **out)
{
    opts = opts_or_default(opts);
    if (out == NULL || opts == NULL)
        return -EINVAL;
    const char *rest;
    bool bad;
    const kc_transport_ops_t *ops = lookup(url, &rest, &bad);
    if (ops == NULL)
        return bad ? -EINVAL : -ENOTSUP;
    void *self = NULL;
    const kc_transport_ops_t *ip = routed(ops, opts);
    if (ip != NULL) {
        kc_transport_opts_t o = *opts;
        o.flags |= KC_TRANSPORT_F_INTERPOSED;
        int rc = ip->listen(url, &o, &self);
        return rc < 0 ? rc : wrap(ip, self, true, out);
    }
    int rc = ops->listen(rest, opts, &self);
    if (rc < 0)
        return rc;
    return wrap(ops, self, true, out);
}

KC_API int kc_transport_accept(kc_transport_t *listener, kc_transport_t **out,
                               kc_transport_peer_t *peer, int64_t timeout_ns,
                               const kc_cancel_t *cancel)
{
    if (listener == NULL || !listener->listener || out == NULL ||
        (peer != NULL && peer->size < sizeof *peer))
        return -EINVAL;
    kc_transport_peer_t local = {.size = sizeof local};
    kc_transport_peer_t *p = peer ? peer : &local;
    p->has_cred = false;
    p->uid = p->gid = 0;
    p->pid = -1;
    p->name[0] = '\0';
    void *self = NULL;
    timeout_ns = kc__timeout_norm(timeout_ns);
    int rc = listener->ops->accept(listener->self, &self, p, timeout_ns, cancel);
    if (rc < 0)
        return rc;
    return wrap(listener->ops, self, false, out);
}

KC_API int kc_transport_connect(const char *url, const kc_transport_opts_t *opts,
                                kc_transport_t **out, int64_t timeout_ns, const kc_cancel_t *cancel)
{
    opts = opts_or_default(opts);
    if (out == NULL || opts == NULL)
        return -EINVAL;
    const char *rest;
    bool bad;
    const kc_transport_ops_t *ops = lookup(url, &rest, &bad);
    if (ops == NULL)
        return bad ? -EINVAL : -ENOTSUP;
    void *self = NULL;
    timeout_ns = kc__timeout_norm(timeout_ns);
    const kc_transport_ops_t *ip = routed(ops, opts);
    if (ip != NULL) {
        kc_transport_opts_t o = *opts;
        o.flags |= KC_TRANSPORT_F_INTERPOSED;
        int rc = ip->connect(url, &o, &self, timeout_ns, cancel);
        return rc < 0 ? rc : wrap(ip, self, false, out);
    }
    int rc = ops->connect(rest, opts, &self, timeout_ns, cancel);
    if (rc < 0)
        return rc;
    return wrap(ops, self, false, out);
}

/* A frame the backends may be handed: encodable, hdr->len = the iov's total. */
static bool frame_ok(const kc_frame_hdr_t *hdr, const struct iovec *iov, int iovcnt)
{
    if (hdr == NULL || iovcnt < 0 || iovcnt > 64 || (iovcnt > 0 && iov == NULL))
        return false;
    uint64_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > 0 && iov[i].iov_base == NULL)
            return false;
        total += iov[i].iov_len;
    }
    uint8_t probe[KC_FRAME_HDR_SIZE];
    return total == hdr->len && kc_frame_encode(hdr, probe) >= 0;
}

KC_API int kc_transport_send_frame(kc_transport_t *t, const kc_frame_hdr_t *hdr,
                                   const struct iovec *iov, int iovcnt, int64_t timeout_ns,
                                   const kc_cancel_t *cancel)
{
    if (t == NULL || t->listener || !frame_ok(hdr, iov, iovcnt))
        return -EINVAL;
    return t->ops->send_frame(t->self, hdr, iov, iovcnt, kc__timeout_norm(timeout_ns), cancel);
}

KC_API int kc_transport_send_frames(kc_transport_t *t, const kc_frame_out_t *frames, int n,
                                    int64_t timeout_ns, const kc_cancel_t *cancel)
{
    if (t == NULL || t->listener || frames == NULL || n < 1 || n > KC_TRANSPORT_BATCH_MAX)
        return -EINVAL;
    for (int i = 0; i < n; i++)
        if (!frame_ok(&frames[i].hdr, frames[i].iov, frames[i].iovcnt))
            return -EINVAL;
    timeout_ns = kc__timeout_norm(timeout_ns); /* -5 has run out: as 0 */
    if (n > 1 && t->ops->size > offsetof(kc_transport_ops_t, send_frames) &&
        t->ops->send_frames != NULL)
        return t->ops->send_frames(t->self, frames, n, timeout_ns, cancel);
    int64_t deadline = kc__tp_deadline(timeout_ns);
    for (int i = 0; i < n; i++) {
        int64_t left = i == 0 || timeout_ns < 0 ? timeout_ns : kc__tp_left(deadline);
        int rc = t->ops->send_frame(t->self, &frames[i].hdr, frames[i].iov, frames[i].iovcnt, left,
                                    cancel);
        if (rc < 0)
            return rc;
    }
    return 0;
}

KC_API int kc_transport_recv_frame(kc_transport_t *t, kc_frame_hdr_t *hdr, void **payload,
                                   size_t max_payload, int64_t timeout_ns,
                                   const kc_cancel_t *cancel)
{
    if (t == NULL || t->listener || hdr == NULL || payload == NULL)
        return -EINVAL;
    *payload = NULL;
    return t->ops->recv_frame(t->self, hdr, payload, max_payload, kc__timeout_norm(timeout_ns),
                              cancel);
}

KC_API struct kc_sim_clock *kc_transport_clock(kc_transport_t *t)
{
    if (t == NULL || t->ops->size < offsetof(kc_transport_ops_t, clock) + sizeof t->ops->clock ||
        t->ops->clock == NULL)
        return NULL;
    return t->ops->clock(t->self);
}

bool kc__transport_whole(const kc_transport_t *t)
{
    return t->ops->size >= offsetof(kc_transport_ops_t, flags) + sizeof t->ops->flags &&
           (t->ops->flags & KC_TRANSPORT_OPS_WHOLE);
}

KC_API size_t kc_transport_pending(kc_transport_t *t)
{
    if (t == NULL || t->listener ||
        t->ops->size < offsetof(kc_transport_ops_t, pending) + sizeof t->ops->pending ||
        t->ops->pending == NULL)
        return 0;
    return t->ops->pending(t->self);
}

KC_API int kc_transport_poll_handle(kc_transport_t *t)
{
    if (t == NULL)
        return -EINVAL;
    return t->ops->poll_handle ? t->ops->poll_handle(t->self) : -ENOTSUP;
}

KC_API int kc_transport_stats(kc_transport_t *listener, kc_transport_stats_t *out)
{
    if (listener == NULL || out == NULL || out->size < sizeof *out)
        return -EINVAL;
    if (!listener->listener || listener->ops->stats == NULL)
        return -ENOTSUP;
    return listener->ops->stats(listener->self, out);
}

KC_API const char *kc_transport_scheme(const kc_transport_t *t)
{
    return t ? t->ops->scheme : NULL;
}

KC_API int kc_transport_close(kc_transport_t *t)
{
    if (t == NULL)
        return 0;
    t->ops->close(t->self);
    free(t);
    return 0;
}

void kc__tp_log_refusal(_Atomic unsigned *logged, unsigned cause, const char *where,
                        const char *why)
{
    /* relaxed: the bit only dedups log lines; nothing is published by it. */
    unsigned had = atomic_fetch_or_explicit(logged, cause, memory_order_relaxed);
    if ((had & cause) == 0)
        kc__debug_log("transport %s: refused a peer: %s (later refusals for this cause are "
                      "counted, not logged)",
                      where, why);
}
